#!/usr/bin/env bash
# The Kubernetes executor through the real binary against the API double
# (tests/kube/kube_double.py): a pipeline's namespace and what is in it
# before the first pod, restricted pods, exit codes, logs (the same text
# as on the local executor), pods that can never start (unpullable
# image, quota, unschedulable) ending as step errors within their grace
# periods, OOM kills, timeouts, cancel, kill -9 and SIGTERM of ferry in
# the middle of a step (the step runs on and is followed again), ten
# runs under injected API failures, dropped watches and 410 Gone, the
# start-up sweep of ended runs' namespaces, and the ways of
# authenticating (token, client certificate, CA file, a refused token).
#
# The double runs the pods' commands on this host and substitutes the
# volumes' mount paths (/workspace, /tmp) in them, also inside longer
# paths: the test's directory must not be under /tmp, or the pods' own
# work directories would be rewritten too.
if [ -z "${TMPDIR:-}" ] || [ "${TMPDIR#/tmp}" != "$TMPDIR" ]; then
	export TMPDIR=/var/tmp
fi
. "$(dirname "$0")/lib.sh"

if ! $PY -c 'import kubernetes' 2>/dev/null; then
	echo "python3-kubernetes is missing (the double needs it); skipping"
	exit 77
fi
# Pods run as uid 65532 in directories under $T.
chmod 0755 "$T"

K="$T/kube"
DOUBLE_PID=
stop_double() {
	if [ -n "$DOUBLE_PID" ] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
		kill -TERM "$DOUBLE_PID" 2>/dev/null
		wait "$DOUBLE_PID" 2>/dev/null
	fi
}
trap 'stop_double; cleanup' EXIT

$PY "$SRCDIR/tests/kube/kube_double.py" --dir "$K" >"$T/double.log" 2>&1 &
DOUBLE_PID=$!
if ! wait_until 30 test -f "$K/ready"; then
	echo "the double did not start:"
	cat "$T/double.log"
	exit 1
fi
KURL=$(cat "$K/url")

# dbl PATH [curl args]: the double's control and API endpoints (as the
# test, with the token).
dbl() {
	local p=$1
	shift
	curl -sS --max-time 20 --cacert "$K/ca.crt" \
	    -H "Authorization: Bearer $(cat "$K/token")" "$@" "$KURL$p"
}

# py EXPR FILE: evaluates EXPR on the JSON in FILE (bound to d).
py() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v))
PYEOF
}

# ns_gone NS: true when nothing of NS is left in the double.
ns_gone() {
	dbl "/_double/objects?namespace=$1" >"$T/objs.json" || return 1
	dbl "/_double/objects?kind=namespaces" >"$T/nss.json" || return 1
	[ "$(py "len(d['items'])" "$T/objs.json")" = 0 ] &&
	    [ "$(py "len([n for n in d['items'] if n['metadata']['name'] == '$1'])" "$T/nss.json")" = 0 ]
}

# ferry_ns_left: the number of namespaces labelled managed-by=ferry.
ferry_ns_left() {
	dbl "/_double/objects?kind=namespaces" >"$T/nss.json"
	py "len([n for n in d['items'] if (n['metadata'].get('labels') or {}).get('app.kubernetes.io/managed-by') == 'ferry'])" "$T/nss.json"
}

# The deploy namespace a deploy step's RoleBinding goes into.
printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop-prod"}}' |
    dbl /api/v1/namespaces -X POST -H "Content-Type: application/json" \
    --data-binary @- >/dev/null

PORT=$(free_port)
export SHOP_SECRET="shop-hook-secret"
export FERRY_API_TOKEN="api-token-xyz"
export SHOP_DEPLOY_TOKEN="supersecret-4711"
SRC="$T/src/shop"

# write_config EXECUTOR KUBECONFIG DATA_DIR
write_config() {
	cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $3
workers: 4
public_url: http://127.0.0.1:$PORT
api_tokens: [env:FERRY_API_TOKEN]
executor: $1
kubernetes:
  kubeconfig: $2
  namespace_prefix: ferry-
  quota: {cpu: "4", memory: 8Gi, pods: 10}
  defaults: {cpu: 100m, memory: 128Mi}
  schedule_timeout: 5s
  image_pull_timeout: 5s
repos:
  - name: acme/shop
    provider: github
    clone_url: $SRC
    secret: env:SHOP_SECRET
    concurrency: 10
    deploy: {namespace: shop-prod, role: ferry-deployer}
    secrets:
      DEPLOY_TOKEN: env:SHOP_DEPLOY_TOKEN
YML
}
write_config kubernetes "$K/kubeconfig" "$T/var"
repo_init "$SRC"

# push_run REPO SHA: as lib.sh's, with a delivery id that cannot repeat
# ($RANDOM in a command substitution is reseeded from the clock and the
# pid, and two pushes of one test can draw the same ids).
push_run() {
	local f="$T/push.json"
	payload github-push --repo "$1" --after "$2" --message "${3:-commit}" >"$f"
	github_post push "kube-$(date +%s%N)-$BASHPID" "$f" "$SHOP_SECRET" >/dev/null
	jq_body 'd["run_id"]'
}

# pipeline CONTENT MESSAGE: commits a .ferry.yml, prints the sha.
pipeline() {
	printf '%s\n' "$1" >"$SRC/.ferry.yml"
	repo_commit "$SRC" "$2"
}

# elapsed_ok ID STEP MAX_MS: the step's duration is at most MAX_MS.
elapsed_ok() {
	local d
	d=$(step_field "$1" "$2" duration_ms)
	[ "$d" != null ] && [ "$d" -le "$3" ]
}

ferry_start || { not_ok "ferry starts with executor: kubernetes"; finish; }
ok "ferry starts with executor: kubernetes"

# --- a pipeline, its sandbox, and the cleanup -----------------------------------------
echo "hello from the repo" >"$SRC/README"
LOGSTEPS='steps:
  - name: build
    commands:
      - echo "building $FERRY_COMMIT on $FERRY_BRANCH for $FERRY_REPO"
      - echo "ci=$CI run=$FERRY_RUN_ID"
      - cat README
      - echo "sub=$(echo nested) dollar=$$ literal=\$(HOME)" | sed "s/dollar=[0-9]*/dollar=N/"
      - sleep 2
  - name: test
    env: {LEVEL: strict}
    secrets: [DEPLOY_TOKEN]
    commands:
      - echo "testing $LEVEL with $DEPLOY_TOKEN"
      - echo to-stderr >&2
      - printf "no newline at the end"
  - name: deploy
    deploy: true
    commands: ["echo deploying"]'
S1=$(pipeline "$LOGSTEPS" "Add pipeline")
dbl /_double/requests -X DELETE >/dev/null
R1=$(push_run acme/shop "$S1" "Add pipeline")
NS1="ferry-acme-shop-$R1"
# While build sleeps, the sandbox is complete: take a copy of it.
check "the step log grows while the step runs" wait_until 30 bash -c \
    "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R1/steps/build/log | grep -q sub=nested"
dbl "/_double/objects?namespace=$NS1" >"$T/sandbox.json"
dbl "/_double/objects?kind=namespaces" >"$T/namespaces.json"
dbl "/_double/objects?namespace=shop-prod" >"$T/deployns.json"
# The source archive, as the init container fetched it: its URL (with the
# run's token) is in the source Secret.
SURL=$(py "__import__('base64').b64decode([o for o in d['items'] if o['kind'] == 'Secret' and o['metadata']['name'] == 'ferry-source'][0]['data']['url']).decode()" "$T/sandbox.json")
curl -sS --max-time 10 -o "$T/source.tar.gz" "$SURL"
check "the source archive has no ./ entry (non-root extraction)" \
    bash -c "tar -tzf '$T/source.tar.gz' | grep -q README && ! tar -tzf '$T/source.tar.gz' | grep -qx '\\./\\?'"
expect "3-step run succeeds" "$(wait_run "$R1" 60)" succeeded
for s in build test deploy; do
	expect "$s succeeded with 0" "$(step_field "$R1" $s status)/$(step_field "$R1" $s exit_code)" succeeded/0
done
expect "build log" "$(step_log "$R1" build)" "building $S1 on master for acme/shop
ci=true run=$R1
hello from the repo
sub=nested dollar=N literal=\$(HOME)"
expect "test log: stderr, masked secret, no final newline" \
    "$(step_log "$R1" test; echo '|')" "testing strict with ****
to-stderr
no newline at the end|"
for s in build test deploy; do
	step_log "$R1" $s >"$T/kube-$s.log"
done
check "the secret value is in no stored log" \
    bash -c "! grep -rq '$SHOP_DEPLOY_TOKEN' '$T/var/logs'"

check "namespace labels: managed-by, run, Pod Security restricted" $PY - "$T/namespaces.json" "$NS1" "$R1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ns = [n for n in d["items"] if n["metadata"]["name"] == sys.argv[2]]
assert ns, "no namespace %s" % sys.argv[2]
l = ns[0]["metadata"]["labels"]
assert l["app.kubernetes.io/managed-by"] == "ferry", l
assert l["ferry.dev/run"] == sys.argv[3], l
for m in ("enforce", "warn", "audit"):
    assert l["pod-security.kubernetes.io/" + m] == "restricted", l
PYEOF
check "quota, limit range, network policies, service accounts, secrets" $PY - "$T/sandbox.json" "$SHOP_DEPLOY_TOKEN" "$PORT" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
by = {}
for o in d["items"]:
    by.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
q = by["ResourceQuota"]["ferry-quota"]["spec"]["hard"]
assert q["requests.cpu"] == "4" and q["limits.cpu"] == "4", q
assert q["requests.memory"] == "8Gi" and q["limits.memory"] == "8Gi", q
assert q["pods"] == "10", q
lr = by["LimitRange"]["ferry-limits"]["spec"]["limits"][0]
assert lr["type"] == "Container", lr
assert lr["default"] == {"cpu": "100m", "memory": "128Mi"}, lr
assert lr["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}, lr
assert lr["max"] == {"cpu": "4", "memory": "8Gi"}, lr
np = by["NetworkPolicy"]
deny = np["ferry-default-deny"]["spec"]
assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == \
    ["Egress", "Ingress"], deny
assert "ingress" not in deny and "egress" not in deny, deny
eg = np["ferry-allow-egress"]["spec"]["egress"]
assert any(p.get("port") == 53 for r in eg for p in r.get("ports", [])), eg
assert any(t.get("ipBlock", {}).get("cidr") == "127.0.0.1/32" and
    any(p.get("port") == int(sys.argv[3]) for p in r["ports"])
    for r in eg for t in r.get("to", [])), eg
assert "ferry-allow-deploy" in np
for sa in ("ferry-step", "ferry-deploy"):
    assert by["ServiceAccount"][sa]["automountServiceAccountToken"] is \
        False, sa
s = by["Secret"]["ferry-secrets"]
import base64
assert base64.b64decode(s["data"]["DEPLOY_TOKEN"]).decode() == sys.argv[2]
# Jobs: backoffLimit 0, the deadline, restricted pods, secrets by ref.
for name, job in by["Job"].items():
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] > 0
    assert spec.get("ttlSecondsAfterFinished", 0) > 0
    pod = spec["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] \
        == "RuntimeDefault", psc
    for c in pod["initContainers"] + pod["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, sc
        assert sc["capabilities"]["drop"] == ["ALL"], sc
        assert c["resources"]["limits"] and c["resources"]["requests"], c
    assert sys.argv[2] not in json.dumps(job), "secret value in a Job"
# The double enforces "restricted": a refused pod leaves FailedCreate.
assert not [e for e in by.get("Event", {}).values()
    if e["reason"] == "FailedCreate"], "a pod was refused"
assert [e for e in by.get("Event", {}).values()
    if e["reason"] == "SuccessfulCreate"], "no pod was created"
build = by["Job"]["build"]["spec"]["template"]["spec"]
assert build["serviceAccountName"] == "ferry-step"
assert build["automountServiceAccountToken"] is False
PYEOF
check "the deploy RoleBinding binds ferry-deploy in the deploy namespace" $PY - "$T/deployns.json" "$NS1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
rb = [o for o in d["items"] if o["kind"] == "RoleBinding" and
    o["metadata"]["name"] == sys.argv[2]]
assert rb, d
rb = rb[0]
assert rb["roleRef"]["name"] == "ferry-deployer", rb
assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "ferry-deploy",
    "namespace": sys.argv[2]}], rb
PYEOF
dbl /_double/requests >"$T/requests.json"
check "every sandbox object is created before the first Job and pod" $PY - "$T/requests.json" "$NS1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ns = sys.argv[2]
posts = [r for r in d["items"] if r["method"] == "POST" and
    r["code"] in (200, 201)]
kinds = []
for r in posts:
    p = r["path"]
    if p == "/api/v1/namespaces":
        kinds.append("namespaces")
    elif ("/namespaces/%s/" % ns) in p or p.endswith("/rolebindings"):
        kinds.append(p.rsplit("/", 1)[1])
first_job = kinds.index("jobs")
need = {"namespaces", "serviceaccounts", "resourcequotas", "limitranges",
    "networkpolicies", "secrets", "rolebindings"}
assert need <= set(kinds[:first_job]), kinds
assert kinds[0] == "namespaces", kinds
PYEOF
check "every object of the run is gone afterwards" wait_until 20 ns_gone "$NS1"
check "the deploy RoleBinding is gone afterwards" wait_until 20 bash -c \
    "curl -s --cacert '$K/ca.crt' '$KURL/_double/objects?namespace=shop-prod' | grep -qv RoleBinding"

# --- a failing step -------------------------------------------------------------------
S2=$(pipeline 'steps:
  - name: ok
    commands: ["echo fine"]
  - name: bad
    commands: ["echo about to fail", "exit 3"]
  - name: never
    commands: ["echo never"]' "Failing")
R2=$(push_run acme/shop "$S2")
expect "a failing step fails the run" "$(wait_run "$R2" 60)" failed
expect "its exit code" "$(step_field "$R2" bad exit_code)" 3
expect "its reason" "$(step_field "$R2" bad reason)" "exited with 3"
expect "the run's reason" "$(run_status "$R2" >/dev/null; jq_body 'd["reason"]')" "step bad exited with 3"
expect "the next step is skipped" "$(step_field "$R2" never status)" skipped
expect "the failed step's log" "$(step_log "$R2" bad)" "about to fail"

# --- pods that can never start, and a timeout -------------------------------------------
S3=$(pipeline 'steps:
  - name: pull
    image: registry.invalid/nope:1
    commands: ["echo never"]
  - name: big-a
    resources: {memory: 5Gi}
    commands: ["sleep 9"]
  - name: big-b
    resources: {memory: 5Gi}
    commands: ["sleep 9"]
  - name: unsched
    resources: {cpu: "2"}
    commands: ["echo never"]
  - name: oom
    commands: ["echo kube-double:oom; sleep 5"]
  - name: slow
    timeout: 3s
    commands: ["echo slow", "sleep 30"]
    needs: []' "Stuck")
# A node with one CPU: the 2-CPU step can never be scheduled.
dbl /_double/config -X POST -H "Content-Type: application/json" \
    --data '{"node_cpu": "1"}' >/dev/null
R3=$(push_run acme/shop "$S3")
expect "stuck pods end the run as error, not a hang" "$(wait_run "$R3" 40)" error
expect "unpullable image: step error" "$(step_field "$R3" pull status)" error
check "unpullable image: the cluster's message" bash -c \
    "echo '$(step_field "$R3" pull reason)' | grep -q 'cannot pull image registry.invalid/nope:1 (failing for 5s): .*failed to pull'"
check "unpullable image: within its grace period" elapsed_ok "$R3" pull 15000
QA=$(step_field "$R3" big-a status)
QB=$(step_field "$R3" big-b status)
case "$QA/$QB" in
succeeded/error) QS=big-b;;
error/succeeded) QS=big-a;;
*) QS=;;
esac
check "quota: one of two big steps refused ($QA/$QB)" test -n "$QS"
if [ -n "$QS" ]; then
	check "quota: the cluster's message" bash -c \
	    "echo '$(step_field "$R3" $QS reason)' | grep -q 'refused the pod: .*exceeded quota: ferry-quota'"
	check "quota: within its grace period" elapsed_ok "$R3" $QS 15000
fi
dbl /_double/config -X POST -H "Content-Type: application/json" \
    --data '{"node_cpu": "4"}' >/dev/null
expect "unschedulable: step error" "$(step_field "$R3" unsched status)" error
check "unschedulable: the scheduler's message" bash -c \
    "echo '$(step_field "$R3" unsched reason)' | grep -q 'unschedulable for 5s: 0/1 nodes are available: 1 Insufficient cpu'"
check "unschedulable: within its grace period" elapsed_ok "$R3" unsched 15000
expect "out of memory: step failed" "$(step_field "$R3" oom status)" failed
expect "out of memory: reason" "$(step_field "$R3" oom reason)" \
    "killed: out of memory (limit 128Mi)"
expect "timeout: step failed" "$(step_field "$R3" slow status)" failed
expect "timeout: reason" "$(step_field "$R3" slow reason)" "timed out after 3s"
expect "timeout: the log up to the kill" "$(step_log "$R3" slow)" "slow"
check "the stuck run's namespace is gone" wait_until 20 ns_gone "ferry-acme-shop-$R3"

# --- cancel ---------------------------------------------------------------------------------
S4=$(pipeline 'steps:
  - name: long
    commands: ["echo started, and this line is long enough", "sleep 120"]
  - name: after
    commands: ["true"]' "Long")
R4=$(push_run acme/shop "$S4")
check "the long step runs" wait_until 30 bash -c \
    "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R4/steps/long/log | grep -q started"
expect "cancel -> 202" "$(http POST "/api/v1/runs/$R4/cancel" -H "Authorization: Bearer $FERRY_API_TOKEN")" 202
expect "cancelled run" "$(wait_run "$R4" 30)" cancelled
expect "running step cancelled" "$(step_field "$R4" long status)" cancelled
expect "pending step cancelled" "$(step_field "$R4" after status)" cancelled
expect "the cancelled step's log is kept" "$(step_log "$R4" long)" \
    "started, and this line is long enough"
check "cancel deletes the namespace" wait_until 20 ns_gone "ferry-acme-shop-$R4"

# --- kill -9 in the middle of a step, then restart ---------------------------------------
S5=$(pipeline 'steps:
  - name: first
    commands: ["echo one: the first line of this step", "sleep 5",
      "echo two: the second line"]
  - name: second
    commands: ["echo after"]' "Survive")
R5=$(push_run acme/shop "$S5")
NS5="ferry-acme-shop-$R5"
# The log file lags by what the secret masker holds back (a secret's
# length), so the first line is not all there yet.
check "the first step runs" wait_until 30 bash -c \
    "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R5/steps/first/log | grep -q 'one: the'"
kill -KILL "$FERRY_PID"
wait "$FERRY_PID" 2>/dev/null
FERRY_PID=
dbl "/apis/batch/v1/namespaces/$NS5/jobs/first" >"$T/job5.json"
expect "the step's Job runs on while ferry is down" \
    "$(py "d.get('status', {}).get('active', 0)" "$T/job5.json")" 1
ferry_start || not_ok "ferry restarts"
expect "the run is followed again and succeeds" "$(wait_run "$R5" 40)" succeeded
expect "the step's log is whole, without repeats" "$(step_log "$R5" first)" \
    "one: the first line of this step
two: the second line"
expect "the next step ran" "$(step_log "$R5" second)" after
check "reattached, not restarted" grep -q "run=$R5 step=first reattached" "$T/ferry.log"
check "its namespace is gone" wait_until 20 ns_gone "$NS5"

# --- ferry stopped (SIGTERM) in the middle of a step leaves it running ------------------
R5B=$(push_run acme/shop "$S5")
check "the first step runs again" wait_until 30 bash -c \
    "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R5B/steps/first/log | grep -q 'one: the'"
check "SIGTERM stops ferry promptly while a step runs" ferry_stop TERM
dbl "/apis/batch/v1/namespaces/ferry-acme-shop-$R5B/jobs/first" >"$T/job5.json"
expect "the step's Job was left running" \
    "$(py "d.get('status', {}).get('active', 0)" "$T/job5.json")" 1
ferry_start || not_ok "ferry restarts"
expect "after SIGTERM: the run is followed again and succeeds" \
    "$(wait_run "$R5B" 40)" succeeded
expect "after SIGTERM: the step's log is whole" "$(step_log "$R5B" first)" \
    "one: the first line of this step
two: the second line"
check "after SIGTERM: its namespace is gone" wait_until 20 ns_gone \
    "ferry-acme-shop-$R5B"

# --- ten runs with 20% of API calls failing and watches dropped -------------------------
S6=$(pipeline 'steps:
  - name: a
    commands: ["echo a"]
  - name: b
    commands: ["echo b; sleep 1"]' "Faults ok")
S7=$(pipeline 'steps:
  - name: a
    commands: ["echo a"]
  - name: b
    commands: ["exit 4"]' "Faults fail")
dbl /_double/faults -X POST -H "Content-Type: application/json" \
    --data '{"error_rate": 0.2, "codes": [429, 500, 502, 503, 504], "retry_after": 1, "drop_watches_every_s": 2}' >/dev/null
IDS=()
WANT=()
for i in 1 2 3 4 5; do
	IDS+=("$(push_run acme/shop "$S6")")
	WANT+=(succeeded)
	IDS+=("$(push_run acme/shop "$S7")")
	WANT+=(failed)
done
# Twice the watch history is forgotten: watches must list again (410).
sleep 1
dbl /_double/compact -X POST >/dev/null
sleep 1
dbl /_double/compact -X POST >/dev/null
GOT=()
for i in "${!IDS[@]}"; do
	GOT+=("$(wait_run "${IDS[$i]}" 120)")
done
dbl /_double/requests >"$T/requests.json"
dbl /_double/faults -X DELETE >/dev/null
check "under faults: the double did fail calls" test \
    "$(py "len([r for r in d['items'] if r['code'] in (429, 500, 502, 503, 504)])" "$T/requests.json")" -gt 10
expect "under faults: every run ends with the right status" "${GOT[*]}" "${WANT[*]}"
BAD=
for i in "${!IDS[@]}"; do
	if [ "${WANT[$i]}" = failed ] &&
	    [ "$(step_field "${IDS[$i]}" b exit_code)" != 4 ]; then
		BAD="$BAD ${IDS[$i]}:b:$(step_field "${IDS[$i]}" b reason)"
	fi
	if [ "$(step_log "${IDS[$i]}" a)" != a ]; then
		BAD="$BAD ${IDS[$i]}:a:$(step_log "${IDS[$i]}" a | head -c 300)"
	fi
done
expect "under faults: exit codes and logs intact" "$BAD" ""
check "under faults: no namespace is left behind" \
    wait_until 30 bash -c "[ \"\$(curl -s --cacert '$K/ca.crt' '$KURL/_double/objects?kind=namespaces' | grep -o '\"app.kubernetes.io/managed-by\": *\"ferry\"' | wc -l)\" = 0 ]"

# --- other kubeconfigs: client certificates, a CA file -------------------------------------
S8=$(pipeline 'steps:
  - name: hi
    commands: ["echo hi"]' "Hi")
# try_kubeconfig NAME FILE: one run succeeds with FILE as kubeconfig.
try_kubeconfig() {
	ferry_stop
	write_config kubernetes "$2" "$T/var"
	ferry_start || { not_ok "$1: ferry starts"; return; }
	local r
	r=$(push_run acme/shop "$S8")
	expect "$1: run succeeds" "$(wait_run "$r" 40)" succeeded
	expect "$1: log" "$(step_log "$r" hi)" hi
}
# Left over from runs that ended while ferry was down: the start-up
# sweep deletes ferry's namespaces of ended (or unknown) runs, not those
# of another prefix.
mkns() {
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":{"app.kubernetes.io/managed-by":"ferry","ferry.dev/run":"%s"},"annotations":{"ferry.dev/repo":"acme/shop"}}}' "$1" "$2" |
	    dbl /api/v1/namespaces -X POST -H "Content-Type: application/json" \
	    --data-binary @- >/dev/null
}
mkns "ferry-acme-shop-$R2" "$R2"
printf '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"ferry-acme-shop-%s","namespace":"shop-prod","labels":{"app.kubernetes.io/managed-by":"ferry","ferry.dev/run":"%s"}},"subjects":[{"kind":"ServiceAccount","name":"ferry-deploy","namespace":"ferry-acme-shop-%s"}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"ferry-deployer"}}' "$R2" "$R2" "$R2" |
    dbl /apis/rbac.authorization.k8s.io/v1/namespaces/shop-prod/rolebindings \
    -X POST -H "Content-Type: application/json" --data-binary @- >/dev/null
mkns "ferry-acme-shop-99999" 99999
mkns "other-acme-shop-$R2" "$R2"
try_kubeconfig "client certificate" "$K/kubeconfig-cert"
check "start-up sweep: the namespace of an ended run is deleted" \
    wait_until 20 ns_gone "ferry-acme-shop-$R2"
check "start-up sweep: and its deploy RoleBinding" wait_until 20 bash -c \
    "! curl -s --cacert '$K/ca.crt' '$KURL/_double/objects?namespace=shop-prod' | grep -q 'ferry-acme-shop-$R2'"
check "start-up sweep: the namespace of an unknown run is deleted" \
    wait_until 20 ns_gone "ferry-acme-shop-99999"
check "start-up sweep: another prefix's namespace is kept" \
    bash -c "curl -s --cacert '$K/ca.crt' '$KURL/_double/objects?kind=namespaces' | grep -q '\"other-acme-shop-$R2\"'"
$PY - "$K/kubeconfig" "$K/ca.crt" >"$T/kubeconfig-cafile" <<'PYEOF'
import sys
out = []
for line in open(sys.argv[1]):
    if "certificate-authority-data:" in line:
        ind = line[:len(line) - len(line.lstrip())]
        line = "%scertificate-authority: %s\n" % (ind, sys.argv[2])
    out.append(line)
sys.stdout.write("".join(out))
PYEOF
try_kubeconfig "token with a CA file" "$T/kubeconfig-cafile"
sed 's/^\(\s*token:\).*/\1 wrong-token/' "$K/kubeconfig" >"$T/kubeconfig-bad"
ferry_stop
write_config kubernetes "$T/kubeconfig-bad" "$T/var"
ferry_start || not_ok "bad token: ferry starts"
R9=$(push_run acme/shop "$S8")
expect "a rejected token: run error" "$(wait_run "$R9" 40)" error
check "a rejected token: the API's words" bash -c \
    "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R9 | grep -q 'Unauthorized'"

# --- the same logs as on the local executor --------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	ferry_stop
	write_config local "$K/kubeconfig" "$T/var-local"
	ferry_start || not_ok "local: ferry starts"
	RL=$(push_run acme/shop "$S1")
	expect "local: the same pipeline succeeds" "$(wait_run "$RL" 60)" succeeded
	for s in build test deploy; do
		expect "local and kubernetes logs agree: $s" \
		    "$(step_log "$RL" $s | sed "s/run=$RL /run=N /"; echo '|')" \
		    "$(sed "s/run=$R1 /run=N /" "$T/kube-$s.log"; echo '|')"
	done
	RL2=$(push_run acme/shop "$S2")
	expect "local: the failing pipeline fails alike" "$(wait_run "$RL2" 60)/$(step_field "$RL2" bad exit_code)/$(step_field "$RL2" bad reason)" "failed/3/exited with 3"
fi
ferry_stop
finish
