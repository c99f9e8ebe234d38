#!/bin/bash
# selftest.sh - checks that the Kubernetes API double (kube_double.py)
# behaves as its README says: TLS, auth, discovery, Status errors,
# admission, the Job controller, simulated pods, logs, watches, namespace
# termination and fault injection.  Real HTTP with curl against a real
# double on a free loopback port; every wait is bounded.
# Exit status: 0 pass, 1 fail, 77 skip (python3-kubernetes missing).

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
DOUBLE="$HERE/kube_double.py"

if ! "$PY" -c 'import kubernetes.client' 2>/dev/null; then
	echo "SKIP: python3-kubernetes is not installed"
	exit 77
fi
for tool in curl openssl tar; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/kube-double-test.XXXXXX")
chmod 755 "$T"
PASS=0
FAIL=0
DPID=
SRVPID=

cleanup() {
	[ -n "$SRVPID" ] && kill "$SRVPID" 2>/dev/null && wait "$SRVPID" 2>/dev/null
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	if [ "$FAIL" -gt 0 ] && [ -f "$T/double.log" ]; then
		echo "--- last lines of the double's log ---"
		tail -n 30 "$T/double.log"
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }

# expect DESC ACTUAL EXPECTED
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi
}

# contains DESC HAYSTACK NEEDLE
contains() {
	case "$2" in
	*"$3"*) ok "$1" ;;
	*) not_ok "$1: '$3' not in '$(printf '%s' "$2" | head -c 600)'" ;;
	esac
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_until() {
	local limit=$1 i=0
	shift
	while [ "$i" -lt $((limit * 10)) ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# --- start the double ------------------------------------------------------
"$PY" "$DOUBLE" --dir "$T/d" --ns-delete-delay 0.5 --history 200 --bookmark-interval 1 \
	>"$T/double.log" 2>&1 &
DPID=$!
if ! wait_until 20 test -f "$T/d/ready"; then
	echo "the double did not start:"
	cat "$T/double.log"
	exit 1
fi
URL=$(cat "$T/d/url")
TOKEN=$(cat "$T/d/token")
CA="$T/d/ca.crt"

# api METHOD PATH [BODY [CONTENT-TYPE]]: response body in $T/body, headers
# in $T/hdr; prints the HTTP status code.
api() {
	local method=$1 path=$2 body=${3-} ctype=${4:-application/json}
	if [ -n "$body" ]; then
		printf '%s' "$body" | curl -sS -o "$T/body" -D "$T/hdr" \
			-w '%{http_code}' --cacert "$CA" --max-time 20 \
			-H "Authorization: Bearer $TOKEN" -H "Content-Type: $ctype" \
			-X "$method" --data-binary @- "$URL$path"
	else
		curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' \
			--cacert "$CA" --max-time 20 \
			-H "Authorization: Bearer $TOKEN" -X "$method" "$URL$path"
	fi
}

# j EXPR: evaluates a Python expression over the JSON in $T/body as d.
j() {
	"$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$T/body" "$1" 2>&1
}

# get PATH EXPR: GET PATH and evaluate EXPR (empty on errors)
get() {
	api GET "$1" >/dev/null && j "$2"
}

# true when GET PATH's EXPR equals VALUE
is() {
	[ "$(get "$1" "$2")" = "$3" ]
}

# A pod template that satisfies Pod Security "restricted".
# podspec COMMAND [EXTRA-JSON-FOR-SPEC]
podspec() {
	local cmd=$1 extra=${2:-}
	printf '{"restartPolicy":"Never",%s"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"main","image":"busybox:1.36","command":["sh","-c",%s],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}' \
		"$extra" "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$cmd")"
}

# job NAME PODSPEC [EXTRA-JSON-FOR-JOB-SPEC]
job() {
	printf '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"%s"},"spec":{"backoffLimit":0,%s"template":{"spec":%s}}}' \
		"$1" "${3:-}" "$2"
}

# --- TLS and authentication ------------------------------------------------
curl -sS -o /dev/null --max-time 5 "$URL/healthz" 2>/dev/null
expect "TLS: the server certificate is not trusted without the CA" "$?" 60
curl -sS -o /dev/null --max-time 5 --cacert "$T/d/client-ca.crt" \
	"$URL/healthz" 2>/dev/null
expect "TLS: a different CA is refused" "$?" 60
expect "TLS: /healthz with the CA" \
	"$(curl -sS --cacert "$CA" "$URL/healthz")" ok
code=$(curl -sS -o "$T/body" -w '%{http_code}' --cacert "$CA" \
	"$URL/api/v1/namespaces")
expect "no token: 401" "$code" 401
expect "no token: Status reason Unauthorized" "$(j 'd["reason"]')" Unauthorized
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" \
	-H "Authorization: Bearer wrong" "$URL/api/v1/namespaces")
expect "wrong token: 401" "$code" 401
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" \
	--cert "$T/d/client.crt" --key "$T/d/client.key" "$URL/api/v1/namespaces")
expect "client certificate: 200" "$code" 200
contains "kubeconfig has the server, the CA and the token" \
	"$(cat "$T/d/kubeconfig")" "certificate-authority-data: "
grep -q "token: $TOKEN" "$T/d/kubeconfig" && grep -q "server: $URL" "$T/d/kubeconfig"
expect "kubeconfig names the token and server" "$?" 0

# --- discovery -------------------------------------------------------------
expect "GET /version" "$(get /version 'd["major"]')" 1
expect "GET /api" "$(get /api 'd["versions"]')" '["v1"]'
contains "GET /apis lists batch" "$(get /apis '[g["name"] for g in d["groups"]]')" '"batch"'
contains "GET /api/v1 lists pods/log" \
	"$(get /api/v1 '[r["name"] for r in d["resources"]]')" '"pods/log"'
expect "GET /apis/batch/v1 jobs are namespaced" \
	"$(get /apis/batch/v1 '[r["namespaced"] for r in d["resources"] if r["name"] == "jobs"]')" '[true]'
expect "unknown path: 404" "$(api GET /apis/foo/v1/bars)" 404

# --- Status errors and validation ----------------------------------------
NS='{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"st","labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/warn":"restricted"}}}'
expect "create namespace: 201" "$(api POST /api/v1/namespaces "$NS")" 201
expect "namespace is Active" "$(j 'd["status"]["phase"]')" Active
expect "duplicate namespace: 409" "$(api POST /api/v1/namespaces "$NS")" 409
expect "duplicate: Status AlreadyExists" \
	"$(j '[d["kind"], d["status"], d["reason"], d["details"]["name"], d["code"]]')" \
	'["Status", "Failure", "AlreadyExists", "st", 409]'
expect "duplicate: message" "$(j 'd["message"]')" 'namespaces "st" already exists'
expect "invalid name: 422" "$(api POST /api/v1/namespaces \
	'{"metadata":{"name":"Not_Valid"}}')" 422
expect "invalid name: reason Invalid, cause on metadata.name" \
	"$(j '[d["reason"], d["details"]["causes"][0]["field"]]')" \
	'["Invalid", "metadata.name"]'
long=$(printf 'a%.0s' $(seq 64))
api POST /api/v1/namespaces "{\"metadata\":{\"name\":\"$long\"}}" >/dev/null
contains "64-character namespace name refused" "$(j 'd["message"]')" \
	"must be no more than 63 characters"
expect "unknown field: 400" "$(api POST /api/v1/namespaces/st/secrets \
	'{"metadata":{"name":"s"},"dataa":{}}')" 400
expect "unknown field: strict decoding error" "$(j '[d["reason"], d["message"]]')" \
	'["BadRequest", "Secret in version \"v1\" cannot be handled as a Secret: strict decoding error: unknown field \"dataa\""]'
expect "wrong type: 400" "$(api POST /apis/batch/v1/namespaces/st/jobs \
	'{"metadata":{"name":"j"},"spec":{"backoffLimit":"zero"}}')" 400
expect "missing namespace: 404" "$(api POST /api/v1/namespaces/nope/secrets \
	'{"metadata":{"name":"s"}}')" 404
expect "job without restartPolicy: 422" "$(api POST /apis/batch/v1/namespaces/st/jobs \
	'{"metadata":{"name":"j"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}}')" 422
contains "job without restartPolicy: field" "$(j 'd["message"]')" \
	'spec.template.spec.restartPolicy: Required value'
expect "get missing: 404 NotFound" "$(api GET /apis/batch/v1/namespaces/st/jobs/zz; j 'd["message"]')" \
	'404jobs.batch "zz" not found'

# --- ResourceQuota and LimitRange ----------------------------------------
expect "create quota" "$(api POST /api/v1/namespaces/st/resourcequotas \
	'{"metadata":{"name":"q"},"spec":{"hard":{"limits.cpu":"2","limits.memory":"1Gi","pods":"10"}}}')" 201
POD='{"metadata":{"name":"bare"},"spec":'"$(podspec 'sleep 3')"'}'
expect "pod without limits under a quota: 403" \
	"$(api POST /api/v1/namespaces/st/pods "$POD")" 403
expect "quota: message" "$(j 'd["message"]')" \
	'pods "bare" is forbidden: failed quota: q: must specify limits.cpu for: main; limits.memory for: main'
BIG='{"metadata":{"name":"big"},"spec":'"$(podspec 'true' | sed 's/"image"/"resources":{"limits":{"cpu":"3","memory":"64Mi"}},"image"/')"'}'
expect "pod above the quota: 403" "$(api POST /api/v1/namespaces/st/pods "$BIG")" 403
expect "quota exceeded: message" "$(j 'd["message"]')" \
	'pods "big" is forbidden: exceeded quota: q, requested: limits.cpu=3, used: limits.cpu=0, limited: limits.cpu=2'
expect "create limitrange" "$(api POST /api/v1/namespaces/st/limitranges \
	'{"metadata":{"name":"lr"},"spec":{"limits":[{"type":"Container","default":{"cpu":"200m","memory":"64Mi"},"defaultRequest":{"cpu":"100m","memory":"32Mi"}}]}}')" 201
expect "pod without limits with a LimitRange: 201" \
	"$(api POST /api/v1/namespaces/st/pods "$POD")" 201
expect "LimitRange defaults applied" \
	"$(j 'd["spec"]["containers"][0]["resources"]')" \
	'{"limits": {"cpu": "200m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "32Mi"}}'
contains "LimitRanger annotation" "$(j 'd["metadata"]["annotations"]')" \
	'LimitRanger plugin set: cpu, memory request for container main'
wait_until 5 is /api/v1/namespaces/st/resourcequotas/q \
	'd["status"]["used"].get("limits.cpu")' 200m
expect "quota status counts the pod" \
	"$(get /api/v1/namespaces/st/resourcequotas/q 'd["status"]["used"]["limits.cpu"]')" 200m

# --- Pod Security: a Job is accepted, its pods are not --------------------
PRIV='{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox:1.36","command":["true"],"securityContext":{"privileged":true}}]}'
expect "privileged job: 201" "$(api POST /apis/batch/v1/namespaces/st/jobs "$(job priv "$PRIV")")" 201
contains "privileged job: PodSecurity warning header" "$(cat "$T/hdr")" \
	'Warning: 299 - "would violate PodSecurity \"restricted:latest\": privileged'
wait_until 10 is "/api/v1/namespaces/st/events?fieldSelector=involvedObject.name=priv,reason=FailedCreate" \
	'len(d["items"])' 1
msg=$(get "/api/v1/namespaces/st/events?fieldSelector=involvedObject.name=priv" \
	'[e["message"] for e in d["items"] if e["reason"] == "FailedCreate"][0]')
contains "FailedCreate event with the PSA message" "$msg" \
	'Error creating: pods "priv-'
contains "PSA message lists the violations" "$msg" \
	'is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
expect "FailedCreate: involvedObject is the Job" \
	"$(j '[e["involvedObject"]["kind"] for e in d["items"] if e["reason"] == "FailedCreate"][0]')" Job
expect "privileged job: no pod" \
	"$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dpriv' 'len(d["items"])')" 0
expect "privileged job: no Failed condition" \
	"$(get /apis/batch/v1/namespaces/st/jobs/priv 'd["status"].get("conditions")')" None
api DELETE /apis/batch/v1/namespaces/st/jobs/priv >/dev/null

# --- Jobs: exit code, logs, init container + emptyDir + secrets -----------
expect "job exits 3: 201" "$(api POST /apis/batch/v1/namespaces/st/jobs \
	"$(job fail3 "$(podspec 'echo hello from the pod; echo to stderr >&2; exit 3')")")" 201
wait_until 15 is /apis/batch/v1/namespaces/st/jobs/fail3 \
	'[c["type"] for c in d["status"].get("conditions", [])][-1:]' '["Failed"]'
expect "job exits 3: Failed BackoffLimitExceeded" \
	"$(get /apis/batch/v1/namespaces/st/jobs/fail3 '[(c["reason"], d["status"]["failed"]) for c in d["status"]["conditions"] if c["type"] == "Failed"]')" \
	'[["BackoffLimitExceeded", 1]]'
P=$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dfail3' 'd["items"][0]["metadata"]["name"]')
expect "pod terminated with exitCode 3" \
	"$(get "/api/v1/namespaces/st/pods/$P" '[d["status"]["phase"], d["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], d["status"]["containerStatuses"][0]["state"]["terminated"]["reason"]]')" \
	'["Failed", 3, "Error"]'
expect "pods/log: 200" "$(api GET "/api/v1/namespaces/st/pods/$P/log")" 200
expect "pods/log: stdout and stderr" "$(cat "$T/body")" \
	"hello from the pod
to stderr"
expect "pods/log: unknown container 400" \
	"$(api GET "/api/v1/namespaces/st/pods/$P/log?container=nope")" 400

# a source server on 127.0.0.1, as ferry's /source endpoint would be
mkdir -p "$T/src/tree" "$T/www"
echo "source file" >"$T/src/tree/README"
tar -czf "$T/www/src.tar.gz" -C "$T/src/tree" README
SRVPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" -m http.server "$SRVPORT" --bind 127.0.0.1 --directory "$T/www" \
	>/dev/null 2>&1 &
SRVPID=$!
wait_until 10 curl -fsS -o /dev/null "http://127.0.0.1:$SRVPORT/src.tar.gz"
if command -v wget >/dev/null; then FETCH='wget -q -O- "$URL"'; else FETCH='curl -fsS "$URL"'; fi
expect "secret for the step" "$(api POST /api/v1/namespaces/st/secrets \
	'{"metadata":{"name":"step"},"stringData":{"TOKEN":"s3cret"}}')" 201
INIT=$("$PY" - "$FETCH | tar -xz -C /workspace" "cat /workspace/README; echo token=\$TOKEN; pwd" "http://127.0.0.1:$SRVPORT/src.tar.gz" <<'EOF'
import json, sys
sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
vm = [{"name": "ws", "mountPath": "/workspace"}]
print(json.dumps({"restartPolicy": "Never",
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"}},
    "volumes": [{"name": "ws", "emptyDir": {}}],
    "initContainers": [{"name": "source", "image": "busybox:1.36",
        "command": ["sh", "-c", sys.argv[1]],
        "env": [{"name": "URL", "value": sys.argv[3]}],
        "securityContext": sc, "volumeMounts": vm}],
    "containers": [{"name": "step", "image": "gcc:13",
        "command": ["sh", "-e", "-c", sys.argv[2]], "workingDir": "/workspace",
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef":
            {"name": "step", "key": "TOKEN"}}}],
        "securityContext": sc, "volumeMounts": vm}]}))
EOF
)
expect "init + main job: 201" "$(api POST /apis/batch/v1/namespaces/st/jobs "$(job src "$INIT")")" 201
wait_until 15 is /apis/batch/v1/namespaces/st/jobs/src \
	'[c["type"] for c in d["status"].get("conditions", [])][-1:]' '["Complete"]'
expect "init + main job: Complete" \
	"$(get /apis/batch/v1/namespaces/st/jobs/src '[d["status"].get("succeeded"), d["status"].get("completionTime") is not None]')" \
	'[1, true]'
P=$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dsrc' 'd["items"][0]["metadata"]["name"]')
api GET "/api/v1/namespaces/st/pods/$P/log?container=step" >/dev/null
contains "init container fetched the source into the emptyDir" "$(cat "$T/body")" "source file"
contains "secretKeyRef reached the container" "$(cat "$T/body")" "token=s3cret"
api GET "/api/v1/namespaces/st/pods/$P/log" >/dev/null
expect "pods/log defaults to the only main container" "$(head -n1 "$T/body")" "source file"
expect "init container terminated Completed" \
	"$(get "/api/v1/namespaces/st/pods/$P" 'd["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"]')" Completed

# --- logs follow -----------------------------------------------------------
api POST /apis/batch/v1/namespaces/st/jobs \
	"$(job slow "$(podspec 'for i in 1 2 3 4 5; do echo line $i; sleep 0.4; done')")" >/dev/null
wait_until 10 is '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dslow' \
	'd["items"][0]["status"]["phase"]' Running
P=$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dslow' 'd["items"][0]["metadata"]["name"]')
start=$(date +%s%N)
out=$(curl -sS -N --max-time 10 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/api/v1/namespaces/st/pods/$P/log?container=main&follow=true")
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect "follow streams every line until the container ends" "$out" \
	"line 1
line 2
line 3
line 4
line 5"
if [ "$took" -ge 400 ] && [ "$took" -lt 8000 ]; then
	ok "follow waited for the container (${took} ms)"
else
	not_ok "follow returned after ${took} ms"
fi

# --- activeDeadlineSeconds -----------------------------------------------
api POST /apis/batch/v1/namespaces/st/jobs \
	"$(job late "$(podspec 'sleep 30')" '"activeDeadlineSeconds":1,')" >/dev/null
wait_until 10 is /apis/batch/v1/namespaces/st/jobs/late \
	'[c["type"] for c in d["status"].get("conditions", [])][-1:]' '["Failed"]'
expect "activeDeadlineSeconds: Failed DeadlineExceeded" \
	"$(get /apis/batch/v1/namespaces/st/jobs/late '[(c["reason"], c["message"]) for c in d["status"]["conditions"] if c["type"] == "Failed"]')" \
	'[["DeadlineExceeded", "Job was active longer than specified deadline"]]'
wait_until 10 is '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dlate' 'len(d["items"])' 0
expect "activeDeadlineSeconds: the pod is killed and deleted" \
	"$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dlate' 'len(d["items"])')" 0

# --- images that never pull, pods that never schedule, runAsNonRoot -------
api POST /apis/batch/v1/namespaces/st/jobs "$(job nopull "$(podspec true | sed 's/busybox:1.36/registry.invalid\/does-not-exist:1.0/')")" >/dev/null
wait_until 10 is '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dnopull' \
	'd["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] in ("ErrImagePull", "ImagePullBackOff")' True
expect "unpullable image: waiting ErrImagePull/ImagePullBackOff" \
	"$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dnopull' 'd["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] in ("ErrImagePull", "ImagePullBackOff")')" True
P=$(j 'd["items"][0]["metadata"]["name"]')
api GET "/api/v1/namespaces/st/pods/$P/log" >/dev/null
case "$(j 'd["message"]')" in
"container \"main\" in pod \"$P\" is waiting to start: image can't be pulled" | \
"container \"main\" in pod \"$P\" is waiting to start: trying and failing to pull image")
	ok "unpullable image: pods/log says so" ;;
*)	not_ok "unpullable image: pods/log says: $(j 'd["message"]')" ;;
esac
# the node has 4 cpus; make it smaller
curl -sS -o /dev/null --cacert "$CA" -X POST -d '{"node_cpu":"500m"}' "$URL/_double/config"
api POST /apis/batch/v1/namespaces/st/jobs "$(job huge2 "$(podspec true | sed 's/"image"/"resources":{"limits":{"cpu":"600m","memory":"64Mi"}},"image"/')")" >/dev/null
wait_until 10 is "/api/v1/namespaces/st/events?fieldSelector=reason=FailedScheduling" 'len(d["items"]) > 0' True
contains "unschedulable: FailedScheduling event" \
	"$(get "/api/v1/namespaces/st/events?fieldSelector=reason=FailedScheduling" 'd["items"][0]["message"]')" \
	"0/1 nodes are available: 1 Insufficient cpu."
expect "unschedulable: PodScheduled False Unschedulable" \
	"$(get '/api/v1/namespaces/st/pods?labelSelector=job-name%3Dhuge2' '[(c["status"], c["reason"]) for c in d["items"][0]["status"]["conditions"] if c["type"] == "PodScheduled"]')" \
	'[["False", "Unschedulable"]]'
curl -sS -o /dev/null --cacert "$CA" -X POST -d '{"node_cpu":"4"}' "$URL/_double/config"
api POST /apis/batch/v1/namespaces/st/jobs "$(job root "$(podspec true | sed 's/"runAsUser":1000,//')")" >/dev/null
wait_until 10 is '/api/v1/namespaces/st/pods?labelSelector=job-name%3Droot' \
	'd["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]' CreateContainerConfigError
contains "runAsNonRoot with a root image: CreateContainerConfigError" \
	"$(j 'd["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["message"]')" \
	"container has runAsNonRoot and image will run as root"

# --- TTL after finished ----------------------------------------------------
api POST /apis/batch/v1/namespaces/st/jobs \
	"$(job ttl "$(podspec 'true')" '"ttlSecondsAfterFinished":0,')" >/dev/null
wait_until 10 sh -c "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' --cacert '$CA' -H 'Authorization: Bearer $TOKEN' '$URL/apis/batch/v1/namespaces/st/jobs/ttl')\" = 404 ]"
expect "ttlSecondsAfterFinished: the job is deleted" \
	"$(api GET /apis/batch/v1/namespaces/st/jobs/ttl)" 404

# --- watches: resourceVersion, bookmarks, 410 after compaction -------------
RV=$(get /api/v1/namespaces/st/configmaps 'd["metadata"]["resourceVersion"]')
api POST /api/v1/namespaces/st/configmaps '{"metadata":{"name":"w1","labels":{"a":"b"}},"data":{"k":"v"}}' >/dev/null
api POST /api/v1/namespaces/st/configmaps '{"metadata":{"name":"w2"}}' >/dev/null
api DELETE /api/v1/namespaces/st/configmaps/w1 >/dev/null
out=$(curl -sS -N --max-time 10 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/api/v1/namespaces/st/configmaps?watch=true&resourceVersion=$RV&labelSelector=a%3Db&timeoutSeconds=1")
expect "watch from a resourceVersion: the events since, filtered" \
	"$(printf '%s\n' "$out" | "$PY" -c 'import json,sys; print([(e["type"], e["object"]["metadata"]["name"], e["object"]["kind"]) for e in map(json.loads, sys.stdin)])')" \
	"[('ADDED', 'w1', 'ConfigMap'), ('DELETED', 'w1', 'ConfigMap')]"
curl -sS -o /dev/null --cacert "$CA" -X POST "$URL/_double/compact"
out=$(curl -sS -N --max-time 10 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/api/v1/namespaces/st/configmaps?watch=true&resourceVersion=$RV")
expect "watch from a compacted resourceVersion: ERROR 410 Expired" \
	"$(printf '%s\n' "$out" | "$PY" -c 'import json,sys; e=json.loads(sys.stdin.readline()); print(e["type"], e["object"]["code"], e["object"]["reason"], e["object"]["message"].startswith("too old resource version"))')" \
	"ERROR 410 Expired True"
out=$(curl -sS -N --max-time 10 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/api/v1/namespaces/st/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=2")
contains "watch without resourceVersion: ADDED for what exists, then BOOKMARK" \
	"$(printf '%s\n' "$out" | "$PY" -c 'import json,sys; print([e["type"] for e in map(json.loads, sys.stdin)])')" \
	"'ADDED', 'BOOKMARK'"

# --- fault injection -------------------------------------------------------
curl -sS -o /dev/null --cacert "$CA" -X POST \
	-d '{"rules":[{"code":429,"count":1,"retry_after":2},{"code":503,"count":1}]}' \
	"$URL/_double/faults"
expect "injected 429" "$(api GET /api/v1/namespaces)" 429
expect "429: Status TooManyRequests with retryAfterSeconds" \
	"$(j '[d["reason"], d["details"]["retryAfterSeconds"]]')" '["TooManyRequests", 2]'
contains "429: Retry-After header" "$(cat "$T/hdr")" "Retry-After: 2"
expect "injected 503" "$(api GET /api/v1/namespaces)" 503
expect "after the injected faults: 200" "$(api GET /api/v1/namespaces)" 200
curl -sS -o /dev/null --cacert "$CA" -X POST -d '{"drop_watches_every_s":1}' \
	"$URL/_double/faults"
curl -sS -N --max-time 10 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/api/v1/namespaces?watch=true" >/dev/null 2>&1
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 28 ]; then ok "dropped watch: connection cut (curl $rc)"; else not_ok "dropped watch: curl $rc"; fi
curl -sS -o /dev/null --cacert "$CA" -X DELETE "$URL/_double/faults"

# --- namespace deletion ------------------------------------------------------
expect "delete namespace: 200" "$(api DELETE /api/v1/namespaces/st)" 200
expect "deleted namespace is Terminating" \
	"$(j '[d["kind"], d["status"]["phase"], "deletionTimestamp" in d["metadata"]]')" \
	'["Namespace", "Terminating", true]'
expect "create in a Terminating namespace: 403" \
	"$(api POST /api/v1/namespaces/st/secrets '{"metadata":{"name":"late"}}')" 403
expect "403 message and cause" "$(j '[d["reason"], d["message"], d["details"]["causes"][0]["reason"]]')" \
	'["Forbidden", "secrets \"late\" is forbidden: unable to create new content in namespace st because it is being terminated", "NamespaceTerminating"]'
expect "deleting a Terminating namespace again: 409" "$(api DELETE /api/v1/namespaces/st)" 409
wait_until 20 sh -c "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' --cacert '$CA' -H 'Authorization: Bearer $TOKEN' '$URL/api/v1/namespaces/st')\" = 404 ]"
expect "namespace gone after its content" "$(api GET /api/v1/namespaces/st)" 404
expect "no object of the namespace is left" \
	"$(curl -sS --cacert "$CA" "$URL/_double/objects?namespace=st" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" 0

finish
