#!/usr/bin/env bash
# `ferry render` on a real repository's commit: every manifest is read
# back into Debian's python3-kubernetes models (unknown fields fail), the
# Pod Security "restricted" requirements are checked on every pod, and
# the run's secrets and token never appear. The k8s/ manifests that
# deploy ferry itself are checked the same way. Exit 77 without
# python3-kubernetes.
. "$(dirname "$0")/lib.sh"

if ! $PY -c 'import kubernetes.client, yaml' 2>/dev/null; then
	echo "SKIP: python3-kubernetes (and python3-yaml) are not installed"
	exit 77
fi

# A repository with a pipeline that uses every feature render shows.
git init -q "$T/repo"
cat >"$T/repo/.ferry.yml" <<'YML'
steps:
  - name: build
    image: gcc:13
    commands: [make, "echo 'built: yes'"]
    env: {LOG_LEVEL: debug, PORT: "8080"}
  - name: test
    commands: [make check]
    needs: [build]
    secrets: [NPM_TOKEN]
    resources: {cpu: 250m, memory: 128Mi}
  - name: lint
    image: gcc:13
    commands: [make lint]
    needs: [build]
  - name: deploy
    image: bitnami/kubectl:1.30
    commands: ["kubectl -n shop-prod set image deploy/shop app=shop:$FERRY_COMMIT"]
    needs: [test, lint]
    deploy: true
    secrets: [REGISTRY_PASSWORD]
    timeout: 5m
YML
git -C "$T/repo" add .ferry.yml
git -C "$T/repo" -c user.name=t -c user.email=t@example.com commit -qm init
SHA=$(git -C "$T/repo" rev-parse HEAD)

cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:8080
data_dir: $T/var
public_url: http://10.1.2.3:8080
executor: kubernetes
kubernetes:
  egress: [10.9.0.0/16:443]
repos:
  - name: Acme/Shop.Web
    provider: github
    clone_url: $T/repo
    secret: env:RT_HOOK
    deploy: {namespace: shop-prod, role: ferry-deployer}
    secrets:
      REGISTRY_PASSWORD: env:RT_REGISTRY
      NPM_TOKEN: env:RT_NPM
  - name: tools/site
    provider: gitlab
    clone_url: $T/repo
    secret: env:RT_HOOK
    secrets:
      REGISTRY_PASSWORD: env:RT_REGISTRY
      NPM_TOKEN: env:RT_NPM
YML
export RT_HOOK=hook-value RT_REGISTRY=registry-value-77 RT_NPM=npm-value-88

render() {
	"$FERRY" render --config "$T/ferry.yml" "$@" 2>>"$T/render.log"
}

render --repo Acme/Shop.Web --commit "$SHA" --run 42 >"$T/out.yaml"; rc=$?
expect "render exits 0" "$rc" 0
render --repo Acme/Shop.Web --commit "$SHA" --run 42 -o json >"$T/out.json"
expect "render -o json exits 0" "$?" 0
render --repo tools/site --commit "$SHA" --run 7 >"$T/site.yaml"
expect "render of a repo without deploy credentials exits 0" "$?" 0

if grep -q -e registry-value-77 -e npm-value-88 -e hook-value \
    "$T/out.yaml" "$T/out.json"; then
	not_ok "render printed a secret value"
else
	ok "no secret value in the output"
fi

cat >"$T/check.py" <<'PY'
import json, re, sys
import yaml
import kubernetes.client as k
from kubernetes.client import ApiClient

MODELS = {("v1", "Namespace"): "V1Namespace",
	("v1", "ServiceAccount"): "V1ServiceAccount",
	("v1", "ResourceQuota"): "V1ResourceQuota",
	("v1", "LimitRange"): "V1LimitRange",
	("v1", "Secret"): "V1Secret",
	("v1", "Service"): "V1Service",
	("v1", "ConfigMap"): "V1ConfigMap",
	("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
	("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
	("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
	("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
	("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
	("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"):
	    "V1ClusterRoleBinding",
	("apps/v1", "Deployment"): "V1Deployment",
	("batch/v1", "Job"): "V1Job"}
PRIMS = {"str": str, "int": int, "bool": bool, "float": (int, float),
	"object": object, "datetime": str, "date": str}
errors = []

def fail(msg):
	errors.append(msg)

def check(typ, v, path):
	"""Every key must be a field of the model (no unknown fields)."""
	if typ.startswith("list["):
		if not isinstance(v, list):
			return fail("%s: not a list" % path)
		for i, x in enumerate(v):
			check(typ[5:-1], x, "%s[%d]" % (path, i))
		return
	if typ.startswith("dict("):
		if not isinstance(v, dict):
			return fail("%s: not a map" % path)
		inner = typ[5:-1].split(", ", 1)[1]
		for kk, x in v.items():
			check(inner, x, "%s.%s" % (path, kk))
		return
	if typ in PRIMS:
		if typ == "int" and isinstance(v, bool):
			return fail("%s: bool for int" % path)
		if not isinstance(v, PRIMS[typ]):
			fail("%s: %r is not %s" % (path, v, typ))
		return
	cls = getattr(k, typ)
	if not isinstance(v, dict):
		return fail("%s: not an object (%s)" % (path, typ))
	back = {j: a for a, j in cls.attribute_map.items()}
	for kk, x in v.items():
		if kk not in back:
			fail("%s: unknown field %r in %s" % (path, kk, typ))
			continue
		check(cls.openapi_types[back[kk]], x, path + "." + kk)

class Fake:
	def __init__(self, data):
		self.data = data

def deserialize(obj, where):
	key = (obj.get("apiVersion"), obj.get("kind"))
	if key not in MODELS:
		return fail("%s: unexpected kind %s" % (where, key))
	name = "%s %s" % (obj["kind"], obj["metadata"]["name"])
	check(MODELS[key], obj, where + ": " + name)
	# The client's own deserializer, as a real answer would be read;
	# it raises on a missing required field or a wrong enum.
	try:
		ApiClient().deserialize(Fake(json.dumps(obj)), MODELS[key])
	except Exception as e:
		fail("%s: %s: %s" % (where, name, e))

DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

def restricted(pod, where):
	"""Pod Security Standards, restricted (v1.30)."""
	sc = pod.get("securityContext", {})
	for f in ("hostNetwork", "hostPID", "hostIPC"):
		if pod.get(f):
			fail("%s: %s" % (where, f))
	for v in pod.get("volumes", []):
		kinds = set(v) - {"name"}
		if not kinds <= {"emptyDir", "secret", "configMap", "projected",
		    "downwardAPI", "persistentVolumeClaim", "ephemeral", "csi"}:
			fail("%s: volume %s of kind %s" % (where, v["name"], kinds))
	cs = pod.get("initContainers", []) + pod.get("containers", [])
	for c in cs:
		w = "%s container %s" % (where, c["name"])
		csc = c.get("securityContext", {})
		if csc.get("allowPrivilegeEscalation") is not False:
			fail(w + ": allowPrivilegeEscalation must be false")
		if csc.get("privileged"):
			fail(w + ": privileged")
		if csc.get("capabilities", {}).get("drop") != ["ALL"]:
			fail(w + ": capabilities must drop ALL")
		if set(csc.get("capabilities", {}).get("add", [])) - \
		    {"NET_BIND_SERVICE"}:
			fail(w + ": adds capabilities")
		nonroot = csc.get("runAsNonRoot", sc.get("runAsNonRoot"))
		if nonroot is not True:
			fail(w + ": runAsNonRoot must be true")
		uid = csc.get("runAsUser", sc.get("runAsUser"))
		if uid == 0:
			fail(w + ": runAsUser 0")
		sp = csc.get("seccompProfile", sc.get("seccompProfile", {}))
		if sp.get("type") not in ("RuntimeDefault", "Localhost"):
			fail(w + ": seccompProfile must be RuntimeDefault")
		if c.get("ports") and any(p.get("hostPort") for p in c["ports"]):
			fail(w + ": hostPort")
		res = c.get("resources", {})
		for r in ("cpu", "memory"):
			if r not in res.get("limits", {}) or \
			    r not in res.get("requests", {}):
				fail(w + ": no %s request and limit" % r)

def main():
	mode = sys.argv[1]
	if mode == "render":
		docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
		lst = json.load(open(sys.argv[3]))
		if lst.get("kind") != "List" or lst["items"] != docs:
			fail("the JSON List and the YAML stream differ")
		for i, d in enumerate(docs):
			deserialize(d, "document %d" % (i + 1))
		kinds = [d["kind"] for d in docs]
		want = ["Namespace", "ServiceAccount", "ServiceAccount",
		    "ResourceQuota", "LimitRange", "NetworkPolicy",
		    "NetworkPolicy", "NetworkPolicy", "Secret", "Secret",
		    "RoleBinding", "Job",
		    "Job", "Job", "Job"]
		if kinds != want:
			fail("kinds in order: %s" % kinds)
		ns = docs[0]["metadata"]["name"]
		if ns != "ferry-acme-shop-web-42" or not DNS.match(ns):
			fail("namespace name %s" % ns)
		labels = docs[0]["metadata"]["labels"]
		for m in ("enforce", "warn", "audit"):
			if labels.get("pod-security.kubernetes.io/" + m) != \
			    "restricted":
				fail("namespace: PSA %s label" % m)
		for d in docs:
			l = d["metadata"].get("labels", {})
			if l.get("app.kubernetes.io/managed-by") != "ferry" or \
			    l.get("ferry.dev/run") != "42":
				fail("%s %s: run labels" % (d["kind"],
				    d["metadata"]["name"]))
			if d["kind"] not in ("Namespace", "RoleBinding") and \
			    d["metadata"].get("namespace") != ns:
				fail("%s: not in the run namespace" % d["kind"])
		for d in docs:
			if d["kind"] == "ServiceAccount" and \
			    d.get("automountServiceAccountToken") is not False:
				fail("ServiceAccount mounts its token")
			if d["kind"] == "RoleBinding":
				if d["metadata"]["namespace"] != "shop-prod" or \
				    d["roleRef"]["name"] != "ferry-deployer" or \
				    d["subjects"][0]["namespace"] != ns:
					fail("RoleBinding: %s" % d)
		jobs = {d["metadata"]["name"]: d for d in docs
		    if d["kind"] == "Job"}
		if list(jobs) != ["build", "test", "lint", "deploy"]:
			fail("jobs: %s" % list(jobs))
		for name, j in jobs.items():
			s = j["spec"]
			pod = s["template"]["spec"]
			restricted(pod, "job " + name)
			if s.get("backoffLimit") != 0 or \
			    pod.get("restartPolicy") != "Never" or \
			    "ttlSecondsAfterFinished" not in s:
				fail("job %s: retries or restart policy" % name)
			want_deadline = 300 if name == "deploy" else 3600
			if s.get("activeDeadlineSeconds") != want_deadline:
				fail("job %s: activeDeadlineSeconds %s" % (name,
				    s.get("activeDeadlineSeconds")))
			sa = pod.get("serviceAccountName")
			mount = pod.get("automountServiceAccountToken")
			lbl = j["spec"]["template"]["metadata"]["labels"]
			if (name == "deploy") != (sa == "ferry-deploy") or \
			    mount is not (name == "deploy") or \
			    (name == "deploy") != ("ferry.dev/deploy" in lbl):
				fail("job %s: account %s mount %s" % (name, sa,
				    mount))
			c = pod["containers"][0]
			env = {e["name"]: e for e in c["env"]}
			for n, v in (("CI", "true"), ("FERRY_RUN_ID", "42"),
			    ("FERRY_REPO", "Acme/Shop.Web"),
			    ("FERRY_BRANCH", "master"),
			    ("FERRY_COMMIT", sys.argv[4])):
				if env.get(n, {}).get("value") != v:
					fail("job %s: env %s" % (name, n))
			refs = sorted(n for n, e in env.items() if "valueFrom" in e)
			want_refs = {"test": ["NPM_TOKEN"],
			    "deploy": ["REGISTRY_PASSWORD"]}.get(name, [])
			if refs != want_refs:
				fail("job %s: secret refs %s" % (name, refs))
			if c["command"][:3] != ["sh", "-e", "-c"]:
				fail("job %s: command %s" % (name, c["command"]))
			init = pod["initContainers"][0]
			if init["env"][0]["valueFrom"]["secretKeyRef"] != \
			    {"name": "ferry-source", "key": "url"}:
				fail("job %s: source URL not from the Secret" % name)
		if jobs["build"]["spec"]["template"]["spec"]["containers"][0] \
		    ["command"][3] != "make\necho 'built: yes'\n":
			fail("build script: %r" % jobs["build"]["spec"]
			    ["template"]["spec"]["containers"][0]["command"][3])
		if [e for e in jobs["build"]["spec"]["template"]["spec"]
		    ["containers"][0]["env"] if e["name"] == "PORT"][0] \
		    ["value"] != "8080":
			fail("PORT is not the string 8080")
	elif mode == "site":
		docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
		for i, d in enumerate(docs):
			deserialize(d, "document %d" % (i + 1))
		kinds = [d["kind"] for d in docs]
		if "RoleBinding" in kinds or kinds.count("ServiceAccount") != 1 \
		    or kinds.count("NetworkPolicy") != 2 \
		    or kinds.count("Secret") != 2:
			fail("site kinds: %s" % kinds)
	elif mode == "k8s":
		seen = []
		for f in sys.argv[2:]:
			for d in yaml.safe_load_all(open(f)):
				if not d:
					continue
				seen.append(d["kind"])
				deserialize(d, f)
				if d["kind"] == "Deployment":
					s = d["spec"]
					pod = s["template"]["spec"]
					restricted(pod, "Deployment")
					c = pod["containers"][0]
					if s.get("replicas") != 1 or \
					    s["strategy"]["type"] != "Recreate":
						fail("Deployment: replicas/strategy")
					if c["securityContext"].get(
					    "readOnlyRootFilesystem") is not True:
						fail("Deployment: writable root")
					if c["livenessProbe"]["httpGet"]["path"] != \
					    "/healthz" or c["readinessProbe"] \
					    ["httpGet"]["path"] != "/readyz":
						fail("Deployment: probes")
				if d["kind"] == "ClusterRole":
					for r in d["rules"]:
						if "*" in r.get("verbs", []) or \
						    "*" in r.get("resources", []):
							fail("ClusterRole: wildcard")
		for want in ("Namespace", "ServiceAccount", "ClusterRole",
		    "ClusterRoleBinding", "ConfigMap", "PersistentVolumeClaim",
		    "Deployment", "Service", "NetworkPolicy"):
			if want not in seen:
				fail("k8s/: no %s" % want)
	for e in errors:
		print("  " + e)
	sys.exit(1 if errors else 0)

main()
PY

out=$($PY "$T/check.py" render "$T/out.yaml" "$T/out.json" "$SHA" 2>&1)
check "every manifest reads into its python3-kubernetes model and passes restricted${out:+:
$out}" test -z "$out"
# The checker itself rejects an unknown field and a privileged container.
sed -e 's/^  backoffLimit: 0$/  backoffLimit: 0\n  backofLimit: 1/' \
    -e 's/privileged: false/privileged: true/' "$T/out.yaml" >"$T/bad.yaml"
out=$($PY "$T/check.py" render "$T/bad.yaml" "$T/out.json" "$SHA" 2>&1)
check "the checker catches an unknown field" grep -q "unknown field 'backofLimit'" <<<"$out"
check "the checker catches a privileged container" grep -q ": privileged" <<<"$out"
out=$($PY "$T/check.py" site "$T/site.yaml" 2>&1)
check "a repo without deploy credentials gets no binding, one account${out:+:
$out}" test -z "$out"
out=$($PY "$T/check.py" k8s "$SRCDIR"/k8s/*.yaml "$SRCDIR"/k8s/examples/*.yaml 2>&1)
check "k8s/ manifests read into their models${out:+:
$out}" test -z "$out"

# Names in the YAML read back as strings, not numbers or booleans.
check "run label is a quoted string" grep -q 'ferry.dev/run: "42"' \
    "$T/out.yaml"

# Usage and failures.
"$FERRY" render --config "$T/ferry.yml" --repo Acme/Shop.Web \
    >/dev/null 2>&1
expect "render without --commit is a usage error" "$?" 2
"$FERRY" render --config "$T/ferry.yml" --repo Acme/Shop.Web \
    --commit "$SHA" -o xml >/dev/null 2>&1
expect "render -o xml is a usage error" "$?" 2
out=$("$FERRY" render --config "$T/ferry.yml" --repo nope/nope \
    --commit "$SHA" 2>&1 >/dev/null); rc=$?
expect "render of an unknown repo exits 1" "$rc" 1
check "and says so" test "$out" = "ferry: repository nope/nope is not in $T/ferry.yml"
out=$("$FERRY" render --help); rc=$?
expect "render --help exits 0" "$rc" 0
check "--help names the options" grep -q -- "--output" <<<"$out"

printf 'steps:\n  - name: Bad\n    commands: [x]\n' >"$T/repo/.ferry.yml"
git -C "$T/repo" -c user.name=t -c user.email=t@example.com commit -qam bad
BAD=$(git -C "$T/repo" rev-parse HEAD)
out=$("$FERRY" render --config "$T/ferry.yml" --repo Acme/Shop.Web \
    --commit "$BAD" 2>&1 >/dev/null); rc=$?
expect "render of an invalid pipeline exits 1" "$rc" 1
check "and prints where" grep -q '^.ferry.yml:2:' <<<"$out"

finish
