#!/usr/bin/env bash
# Crash test (issue 7) on the Kubernetes executor, against the API double
# (tests/kube/kube_double.py): a stream of signed pushes with unique
# delivery ids (and some redeliveries) while ferry is killed with SIGKILL
# at random moments, each while a step's pod runs, and restarted. The
# same checks as test_crash.sh (tests/tools/crash_lib.py: every delivery
# that got a 2xx has exactly one run, none is missing, redeliveries name
# the same run, every run ends), and on the cluster's side: once every
# run has ended no namespace of a run is left, every step had at most one
# Job (exactly one, and ran exactly once, when it succeeded or failed),
# one pod per Job, and a step ended as "interrupted by server restart"
# never had a Job. crash_lib.py's kube_problems() says why that is what
# ferry promises (it never creates a step's Job after a restart).
#
# The double runs the pods' commands on this host and substitutes the
# volumes' mount paths (/workspace, /tmp) in them: the test's directory
# must not be under /tmp (see test_kube.sh).
if [ -z "${TMPDIR:-}" ] || [ "${TMPDIR#/tmp}" != "$TMPDIR" ]; then
	export TMPDIR=/var/tmp
fi
. "$(dirname "$0")/lib.sh"

if ! $PY -c 'import kubernetes' 2>/dev/null; then
	echo "python3-kubernetes is missing (the double needs it); skipping"
	exit 77
fi
# Pods run as uid 65532 and record in $T/ran that their commands ran.
chmod 0755 "$T"
: >"$T/ran"
chmod 0666 "$T/ran"

KILLS=${CRASH_KILLS:-5}
CRASH_LIB="$SRCDIR/tests/tools/crash_lib.py"
K="$T/kube"
DOUBLE_PID=
WATCH_PID=
SENDER=
stop_bg() {
	local p
	rm -f "$T/go"
	for p in $SENDER $WATCH_PID; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$DOUBLE_PID" ] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
		kill -TERM "$DOUBLE_PID" 2>/dev/null
		wait "$DOUBLE_PID" 2>/dev/null
	fi
}
trap 'stop_bg; cleanup' EXIT

# A watch history well above what this test makes, so that the test's
# own watch (below) never has to relist.
$PY "$SRCDIR/tests/kube/kube_double.py" --dir "$K" --history 5000 \
    >"$T/double.log" 2>&1 &
DOUBLE_PID=$!
if ! wait_until 30 test -f "$K/ready"; then
	echo "the double did not start:"
	cat "$T/double.log"
	exit 1
fi
KURL=$(cat "$K/url")

# dbl PATH [curl args]: the double's control and API endpoints.
dbl() {
	local p=$1
	shift
	curl -sS --max-time 20 --cacert "$K/ca.crt" \
	    -H "Authorization: Bearer $(cat "$K/token")" "$@" "$KURL$p"
}

# Every Job, Pod and Namespace the cluster ever had, as they come.
$PY "$CRASH_LIB" watch "$KURL" "$K/ca.crt" "$K/token" "$T/watched" &
WATCH_PID=$!

# pods_running: the number of step pods whose container runs.
pods_running() {
	dbl "/_double/objects?kind=pods" | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(len([p for p in d["items"]
           if p["metadata"]["namespace"].startswith("ferry-") and
           (p.get("status") or {}).get("phase") == "Running"]))'
}
step_running() { [ "$(pods_running)" -gt 0 ]; }

# ferry_ns_left: the namespaces labelled managed-by=ferry, any phase.
ferry_ns_left() {
	dbl "/_double/objects?kind=namespaces" | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(n["metadata"]["name"] for n in d["items"]
               if (n["metadata"].get("labels") or {}).get(
                   "app.kubernetes.io/managed-by") == "ferry"))'
}
no_ns_left() {
	local left
	left=$(ferry_ns_left) || return 1
	[ -z "$left" ]
}

PORT=$(free_port)
export SHOP_SECRET="crash-hook-secret"
SRC="$T/src/shop"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 4
public_url: http://127.0.0.1:$PORT
executor: kubernetes
kubernetes:
  kubeconfig: $K/kubeconfig
  namespace_prefix: ferry-
  quota: {cpu: "4", memory: 8Gi, pods: 10}
  defaults: {cpu: 100m, memory: 128Mi}
  schedule_timeout: 20s
  image_pull_timeout: 20s
repos:
  - name: acme/shop
    provider: github
    clone_url: $SRC
    secret: env:SHOP_SECRET
    concurrency: 4
YML
repo_init "$SRC"
# Two steps; the first sleeps so that kills land while it runs. Each
# records that its commands ran ($T/ran: "RUN_ID STEP").
cat >"$SRC/.ferry.yml" <<YML
steps:
  - name: first
    commands: ["echo \$FERRY_RUN_ID first >>$T/ran", "sleep 0.4"]
  - name: second
    commands: ["echo \$FERRY_RUN_ID second >>$T/ran"]
YML
SHA=$(repo_commit "$SRC" "Two steps")

# ferry_start, with every probe bounded (see test_crash.sh).
start() {
	"$FERRY" serve --config "$T/ferry.yml" >>"$T/ferry.log" 2>&1 &
	FERRY_PID=$!
	wait_until 20 curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz"
}

start || { not_ok "ferry starts with executor: kubernetes"; finish; }

# The sender, slower than the local test's: a run here takes a second or
# more (namespace, two Jobs, their pods), and the runs must end within
# the test's time.
touch "$T/go"
$PY "$CRASH_LIB" send "$PORT" "$SHOP_SECRET" "$SHA" "$T/go" "$T/sent" \
    --interval 0.15 &
SENDER=$!
restarts=0
midstep=0
for i in $(seq 1 "$KILLS"); do
	# A random moment while a step runs: 0.2 to 1 s into this
	# instance's life, then once a step's pod runs, 0 to 0.3 s more.
	sleep "$(printf '0.%d' $((2 + RANDOM % 8)))"
	wait_until 15 step_running
	sleep "$(printf '0.%d' $((RANDOM % 4)))"
	kill -KILL "$FERRY_PID" 2>/dev/null
	wait "$FERRY_PID" 2>/dev/null
	FERRY_PID=
	n=$(pods_running)
	echo "# kill $i: ${n:-?} step pod(s) running"
	[ "${n:-0}" -gt 0 ] && midstep=$((midstep + 1))
	if start; then
		restarts=$((restarts + 1))
	else
		echo "# ferry did not answer after restart $i; listening:"
		ss -ltnp "sport = :$PORT" 2>/dev/null | sed 's/^/# /'
	fi
done
expect "ferry restarted after each of $KILLS kill -9" "$restarts" "$KILLS"
check "kills landed while steps ran ($midstep of $KILLS)" test "$midstep" -ge 1
# Some more pushes to the last instance, then stop sending.
accepted_now() { grep -c ' 202 ' "$T/sent"; }
n0=$(accepted_now)
more_accepted() { [ "$(accepted_now)" -gt $((n0 + 5)) ]; }
wait_until 15 more_accepted
rm -f "$T/go"
wait "$SENDER"
SENDER=

total=$(wc -l <"$T/sent")
acc=$(grep -c '^send .* 2[0-9][0-9] ' "$T/sent")
lost=$(grep -c '^send .* - ' "$T/sent")
echo "# $total requests: $acc accepted, $lost without an answer"
check "most deliveries were accepted" test "$acc" -ge 15
check "every answer is 202, 200 (duplicate) or none" \
    bash -c "! awk '\$3 != \"202\" && \$3 != \"200\" && \$3 != \"-\"' '$T/sent' | grep -q ."
check "a first delivery is never answered as a duplicate" \
    bash -c "! awk '\$1 == \"send\" && \$5 == \"true\"' '$T/sent' | grep -q ."

nonfinal_none() {
	local st n
	for st in queued running; do
		n=$(curl -sS --max-time 10 \
		    "http://127.0.0.1:$PORT/api/v1/runs?status=$st&limit=200" |
		    $PY -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))') ||
		    return 1
		[ "$n" = 0 ] || return 1
	done
}
check "every run ends within 120 s of the last restart" \
    wait_until 120 nonfinal_none
# Ended runs' namespaces are deleted at the run's end, or by the sweep
# at start-up; a deleted namespace stays Terminating at least 0.5 s.
check "no namespace of a run is left once every run ended" \
    wait_until 30 no_ns_left
left=$(ferry_ns_left)
[ -z "$left" ] || echo "# namespaces left: $left"
echo "# $(grep -c 'reattached' "$T/ferry.log") step(s) reattached after a kill"
ferry_stop TERM
expect "ferry stops cleanly" "${FERRY_EXIT:-x}" 0
left=$(pgrep -f -- "--config $T/ferry.yml" | tr '\n' ' ')
check "no process of a killed ferry is left behind (${left:-none})" \
    test -z "$left"
for p in $left; do
	ps -o pid=,user=,stat=,wchan:20=,args= -p "$p" | sed 's/^/# /'
	kill -KILL "$p" 2>/dev/null
done

# The test's watch has seen everything up to now.
RV=$(dbl "/_double/objects?kind=nodes" | $PY -c \
    'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
check "the test's watch of the cluster caught up" \
    wait_until 20 $PY "$CRASH_LIB" caught-up "$T/watched" "${RV:-x}"

# The checks, on the database and on what the cluster saw.
$PY "$CRASH_LIB" verdict "$T/var/ferry.db" "$T/sent" --kube "$T/watched" \
    --ran "$T/ran" >"$T/verdict"
cat "$T/verdict" | sed 's/^/# /'
expect "every accepted delivery has exactly one run, each step one Job" \
    "$(sed -n 's/^PROBLEMS //p' "$T/verdict")" 0
# A kill must not make a run fail: its steps cannot, and a step is
# followed again after a restart.
expect "no run ends badly because ferry was killed" \
    "$(sed -n 's/^OUTCOME_PROBLEMS //p' "$T/verdict")" 0

finish
