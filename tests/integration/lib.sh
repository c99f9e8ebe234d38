# lib.sh - shared by tests/integration/*.sh. Sourced, not run.
#
# Starts the real ferry binary ($FERRY) on a free loopback port with a
# temporary data_dir, sends real signed requests with curl, and counts
# checks. Every wait is bounded; the temp dir and any ferry started here
# are cleaned up on exit. Exit status: 0 pass, 1 fail, 77 skip.

set -u

: "${FERRY:?FERRY must name the ferry binary}"
: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
PY=/usr/bin/python3
PAYLOAD="$SRCDIR/tests/tools/payload.py"

T=$(mktemp -d "${TMPDIR:-/tmp}/ferry-it.XXXXXX")
PASS=0
FAIL=0
FERRY_PID=
PORT=

cleanup() {
	if [ -n "$FERRY_PID" ] && kill -0 "$FERRY_PID" 2>/dev/null; then
		kill -KILL "$FERRY_PID" 2>/dev/null
		wait "$FERRY_PID" 2>/dev/null
	fi
	if [ "$FAIL" -gt 0 ] && [ -f "$T/ferry.log" ]; then
		echo "--- last lines of the ferry log ---"
		tail -n 40 "$T/ferry.log"
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

# check DESC CMD...: passes when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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

# ferry_start: starts ferry with $T/ferry.yml, waits for /healthz.
ferry_start() {
	"$FERRY" serve --config "$T/ferry.yml" >>"$T/ferry.log" 2>&1 &
	FERRY_PID=$!
	if ! wait_until 10 curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz"; then
		echo "ferry did not start; log:"
		cat "$T/ferry.log"
		return 1
	fi
}

# ferry_stop [SIGNAL]: stops ferry and waits (bounded) for it to exit.
ferry_stop() {
	local sig=${1:-TERM} i=0
	[ -n "$FERRY_PID" ] || return 0
	kill -"$sig" "$FERRY_PID" 2>/dev/null
	while kill -0 "$FERRY_PID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$FERRY_PID" 2>/dev/null; then
		kill -KILL "$FERRY_PID" 2>/dev/null
		wait "$FERRY_PID" 2>/dev/null
		FERRY_PID=
		return 1
	fi
	wait "$FERRY_PID" 2>/dev/null
	FERRY_EXIT=$?
	FERRY_PID=
}

# sign SECRET FILE: the hex HMAC-SHA256 of FILE's bytes.
sign() {
	openssl dgst -sha256 -hmac "$1" -r <"$2" | cut -d' ' -f1
}

# http METHOD PATH [curl args...]: prints the status code; the body is
# in $T/body. Bounded by curl's --max-time.
http() {
	local method=$1 path=$2
	shift 2
	curl -sS --max-time 20 -o "$T/body" -w '%{http_code}' -X "$method" \
	    "$@" "http://127.0.0.1:$PORT$path"
}

# github_post EVENT DELIVERY FILE SECRET [extra curl args]: status code.
github_post() {
	local event=$1 delivery=$2 file=$3 secret=$4
	shift 4
	http POST /hooks/github -H "Content-Type: application/json" \
	    -H "X-GitHub-Event: $event" -H "X-GitHub-Delivery: $delivery" \
	    -H "X-Hub-Signature-256: sha256=$(sign "$secret" "$file")" \
	    --data-binary @"$file" "$@"
}

# gitlab_post EVENT UUID FILE TOKEN [extra curl args]: status code.
gitlab_post() {
	local event=$1 uuid=$2 file=$3 token=$4
	shift 4
	http POST /hooks/gitlab -H "Content-Type: application/json" \
	    -H "X-Gitlab-Event: $event" -H "X-Gitlab-Event-UUID: $uuid" \
	    -H "X-Gitlab-Token: $token" --data-binary @"$file" "$@"
}

# jq_body EXPR: evaluates a Python expression on the JSON in $T/body,
# bound to d, and prints it (json-encoded unless a string).
jq_body() {
	$PY - "$1" "$T/body" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v))
PYEOF
}

payload() {
	$PY "$PAYLOAD" "$@"
}

# --- git repositories and runs ------------------------------------------------

GIT="git -c user.name=Jane\ Doe -c user.email=jane@example.com -c init.defaultBranch=master"

# repo_init DIR: an empty repository on master.
repo_init() {
	git -c init.defaultBranch=master init -q "$1"
}

# repo_commit DIR MESSAGE: commits everything in DIR, prints the sha.
repo_commit() {
	git -C "$1" add -A >/dev/null
	git -C "$1" -c user.name="Jane Doe" -c user.email=jane@example.com \
	    commit -q --allow-empty -m "$2" >/dev/null
	git -C "$1" rev-parse HEAD
}

# push_run REPO SHA [MESSAGE]: sends a signed GitHub push, prints run id.
push_run() {
	local repo=$1 sha=$2 msg=${3:-commit} f
	f="$T/push-$RANDOM$RANDOM.json"
	payload github-push --repo "$repo" --after "$sha" --message "$msg" >"$f"
	github_post push "dl-$(date +%s%N)-$RANDOM" "$f" "$SHOP_SECRET" >/dev/null
	jq_body 'd["run_id"]'
}

# run_status ID: prints the run's status.
run_status() {
	http GET "/api/v1/runs/$1" >/dev/null
	jq_body 'd["status"]'
}

# run_final ID: true once the run has ended.
run_final() {
	case "$(run_status "$1")" in
	succeeded|failed|cancelled|error) return 0;;
	*) return 1;;
	esac
}

# wait_run ID [SECONDS]: waits for the run to end, prints its status.
# Under valgrind (tests/valgrind.sh) ferry runs many times slower: four
# times the wait.
wait_run() {
	local t=${2:-60}

	[ -n "${FERRY_UNDER_VALGRIND:-}" ] && t=$((t * 4))
	wait_until "$t" run_final "$1"
	run_status "$1"
}

# step_field ID STEP KEY: a field of one step of the run.
step_field() {
	http GET "/api/v1/runs/$1" >/dev/null
	jq_body "[s for s in d['steps'] if s['name'] == '$2'][0]['$3']"
}

# step_log ID STEP: the step's log from the API.
step_log() {
	curl -sS --max-time 20 "http://127.0.0.1:$PORT/api/v1/runs/$1/steps/$2/log"
}
