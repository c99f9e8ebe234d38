#!/usr/bin/env bash
# Pushes become finished runs on the local executor, through the real
# binary: a DAG with a parallel pair, failures and skips, timeouts, the
# sandbox's limits (network, processes, files), secret masking, live
# logs, cancel/rerun/manual runs, pipeline and fetch errors, the source
# archive, and kill -9 in the middle of a step.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "the local sandbox needs root (namespaces); skipping"
	exit 77
fi

PORT=$(free_port)
export SHOP_SECRET="shop-hook-secret"
export FERRY_API_TOKEN="api-token-xyz"
export SHOP_DEPLOY_TOKEN="supersecret-4711"
SRC="$T/src/shop"
mkdir -p "$T/hostdir" && chmod 0777 "$T/hostdir"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 4
api_tokens: [env:FERRY_API_TOKEN]
log_max: 64KiB
repos:
  - name: acme/shop
    provider: github
    clone_url: $SRC
    secret: env:SHOP_SECRET
    concurrency: 4
    secrets:
      DEPLOY_TOKEN: env:SHOP_DEPLOY_TOKEN
YML
repo_init "$SRC"

# pipeline FILE-CONTENT MESSAGE: commits a .ferry.yml, prints the sha.
pipeline() {
	printf '%s\n' "$1" >"$SRC/.ferry.yml"
	repo_commit "$SRC" "$2"
}

ferry_start || { not_ok "ferry starts"; finish; }

# --- a DAG with a parallel pair -------------------------------------------------
echo "hello from the repo" >"$SRC/README"
S1=$(pipeline 'steps:
  - name: build
    commands:
      - echo "building $FERRY_COMMIT on $FERRY_BRANCH for $FERRY_REPO"
      - echo "ci=$CI run=$FERRY_RUN_ID"
      - cat README
  - name: test
    needs: [build]
    commands: ["echo testing; sleep 1; echo tested >&2"]
  - name: lint
    needs: [build]
    env: {LEVEL: strict}
    commands: ["echo linting $LEVEL; sleep 1; echo linted"]' "Add pipeline")
R1=$(push_run acme/shop "$S1" "Add pipeline")
expect "DAG run succeeds" "$(wait_run "$R1")" succeeded
expect "build succeeded" "$(step_field "$R1" build status)" succeeded
expect "build exit code" "$(step_field "$R1" build exit_code)" 0
expect "test succeeded" "$(step_field "$R1" test status)" succeeded
expect "lint succeeded" "$(step_field "$R1" lint status)" succeeded
expect "build log" "$(step_log "$R1" build)" "building $S1 on master for acme/shop
ci=true run=$R1
hello from the repo"
expect "stdout and stderr in the log" "$(step_log "$R1" test)" "testing
tested"
expect "step env" "$(step_log "$R1" lint)" "linting strict
linted"
http GET "/api/v1/runs/$R1" >/dev/null
check "test and lint ran in parallel" $PY - "$T/body" <<'PYEOF'
import json, sys
from datetime import datetime
d = json.load(open(sys.argv[1]))
s = {x["name"]: x for x in d["steps"]}
t = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))
a, b = s["test"], s["lint"]
assert t(a["started_at"]) < t(b["finished_at"]) and t(b["started_at"]) < t(a["finished_at"])
assert t(s["build"]["finished_at"]) <= t(a["started_at"])
PYEOF
check "the log file is under data_dir/logs" test -f "$T/var/logs/$R1/build.log"
check "the workspace is removed" test ! -e "$T/var/work/run-$R1"

# --- failure skips dependents only ------------------------------------------------
S2=$(pipeline 'steps:
  - name: a
    commands: ["true"]
  - name: b
    needs: [a]
    commands: ["echo failing", "exit 2", "echo never"]
  - name: c
    needs: [b]
    commands: ["echo should not run"]
  - name: d
    needs: [a]
    commands: ["sleep 1", "echo independent"]' "Break b")
R2=$(push_run acme/shop "$S2" "Break b")
expect "failing step fails the run" "$(wait_run "$R2")" failed
http GET "/api/v1/runs/$R2" >/dev/null
expect "run reason names the step and code" "$(jq_body 'd["reason"]')" "step b exited with 2"
expect "failed step exit code" "$(step_field "$R2" b exit_code)" 2
expect "sh -e stops at the failure" "$(step_log "$R2" b)" "failing"
expect "dependent skipped" "$(step_field "$R2" c status)" skipped
expect "independent step still ran" "$(step_field "$R2" d status)" succeeded

# --- sequential default: a failure skips the rest ----------------------------------
S3=$(pipeline 'steps:
  - name: one
    commands: ["false"]
  - name: two
    commands: ["true"]' "Sequential")
R3=$(push_run acme/shop "$S3")
expect "sequential run fails" "$(wait_run "$R3")" failed
expect "next step skipped" "$(step_field "$R3" two status)" skipped

# --- timeout kills the whole tree ------------------------------------------------------
S4=$(pipeline 'steps:
  - name: slow
    timeout: 2s
    commands: ["(sleep 123457 &)", "sleep 123456"]' "Slow")
R4=$(push_run acme/shop "$S4")
expect "timed-out run fails" "$(wait_run "$R4" 30)" failed
expect "timeout reason" "$(step_field "$R4" slow reason)" "timed out after 2s"
check "the step's background processes are gone" \
    wait_until 5 bash -c '! pgrep -f "sleep 12345[67]" >/dev/null'

# --- the sandbox: network, processes, files -------------------------------------------
S5=$(pipeline "steps:
  - name: net
    commands: ['curl -sS --max-time 3 http://127.0.0.1:$PORT/healthz']
  - name: forkbomb
    needs: []
    timeout: 60s
    commands: ['i=0; while [ \$i -lt 10000 ]; do sleep 30 & i=\$((i+1)); done; echo forked all']
  - name: escape
    needs: []
    commands: ['echo x > $T/hostdir/pwned']
  - name: etc
    needs: []
    commands: ['touch /etc/ferry-pwned']
  - name: whoami
    needs: []
    commands: ['test \"\$(id -u)\" != 0', 'hostname']" "Sandbox")
R5=$(push_run acme/shop "$S5")
wait_run "$R5" 90 >/dev/null
expect "no network: connecting to ferry's port fails" "$(step_field "$R5" net status)" failed
expect "fork bomb hits the process limit" "$(step_field "$R5" forkbomb status)" failed
check "fork bomb did not print success" bash -c "! curl -s http://127.0.0.1:$PORT/api/v1/runs/$R5/steps/forkbomb/log | grep -q 'forked all'"
expect "host still serves after the fork bomb" "$(http GET /healthz)" 200
check "host can still fork" /bin/true
expect "writing to a host directory fails" "$(step_field "$R5" escape status)" failed
check "no file appeared on the host" test ! -e "$T/hostdir/pwned"
expect "writing to /etc fails" "$(step_field "$R5" etc status)" failed
check "/etc untouched" test ! -e /etc/ferry-pwned
expect "steps run as a non-root user" "$(step_field "$R5" whoami status)" succeeded

# --- secrets are masked ---------------------------------------------------------------
S6=$(pipeline 'steps:
  - name: leak
    secrets: [DEPLOY_TOKEN]
    commands:
      - echo "token=$DEPLOY_TOKEN"
      - printf "split=supersec"; sleep 0.3; printf "ret-4711\n"' "Secrets")
R6=$(push_run acme/shop "$S6")
expect "secret run succeeds" "$(wait_run "$R6")" succeeded
expect "secret masked in the log API" "$(step_log "$R6" leak)" "token=****
split=****"
check "secret absent from the log file" bash -c "! grep -rq supersecret '$T/var/logs'"
check "secret absent from ferry's own log" bash -c "! grep -q supersecret '$T/ferry.log'"

# --- follow=1 streams while the step runs ------------------------------------------------
S7=$(pipeline 'steps:
  - name: ticker
    commands: ["for i in 1 2 3 4; do echo line$i; sleep 1; done"]' "Ticker")
R7=$(push_run acme/shop "$S7")
wait_until 20 bash -c "[ \"\$(curl -s http://127.0.0.1:$PORT/api/v1/runs/$R7 | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d[\"steps\"][0][\"status\"] if d[\"steps\"] else \"\")')\" = running ]"
curl -sN --max-time 30 "http://127.0.0.1:$PORT/api/v1/runs/$R7/steps/ticker/log?follow=1" >"$T/follow.out" &
FPID=$!
wait_until 10 grep -q line1 "$T/follow.out"
expect "a followed line arrives while the step runs" "$(run_status "$R7")" running
wait "$FPID"
expect "follow ends with the step, whole log" "$(cat "$T/follow.out")" "line1
line2
line3
line4"

# --- cancel, rerun, manual runs -----------------------------------------------------------
S8=$(pipeline 'steps:
  - name: long
    commands: ["echo started", "sleep 120"]
  - name: after
    commands: ["true"]' "Long")
R8=$(push_run acme/shop "$S8")
wait_until 20 bash -c "[ \"\$(curl -s http://127.0.0.1:$PORT/api/v1/runs/$R8/steps/long/log)\" = started ]"
expect "cancel without a token -> 401" "$(http POST "/api/v1/runs/$R8/cancel")" 401
expect "cancel with a wrong token -> 403" \
    "$(http POST "/api/v1/runs/$R8/cancel" -H "Authorization: Bearer nope")" 403
expect "cancel -> 202" "$(http POST "/api/v1/runs/$R8/cancel" -H "Authorization: Bearer $FERRY_API_TOKEN")" 202
expect "cancelled run" "$(wait_run "$R8" 30)" cancelled
expect "running step cancelled" "$(step_field "$R8" long status)" cancelled
expect "pending step cancelled" "$(step_field "$R8" after status)" cancelled
expect "cancelling an ended run -> 409" \
    "$(http POST "/api/v1/runs/$R8/cancel" -H "Authorization: Bearer $FERRY_API_TOKEN")" 409
expect "cancel of an unknown run -> 404" \
    "$(http POST "/api/v1/runs/999999/cancel" -H "Authorization: Bearer $FERRY_API_TOKEN")" 404

expect "rerun -> 201" "$(http POST "/api/v1/runs/$R1/rerun" -H "Authorization: Bearer $FERRY_API_TOKEN")" 201
RR=$(jq_body 'd["run_id"]')
expect "rerun succeeds" "$(wait_run "$RR")" succeeded
http GET "/api/v1/runs/$RR" >/dev/null
expect "rerun has the same commit" "$(jq_body 'd["commit"]')" "$S1"
expect "rerun trigger" "$(jq_body 'd["trigger"]')" rerun

expect "manual run without a token -> 401" \
    "$(http POST /api/v1/repos/acme/shop/runs -d "{\"commit\": \"$S1\"}")" 401
expect "manual run with a bad body -> 400" \
    "$(http POST /api/v1/repos/acme/shop/runs -H "Authorization: Bearer $FERRY_API_TOKEN" -d '{"commit": "xyz"}')" 400
expect "manual run of an unknown repo -> 404" \
    "$(http POST /api/v1/repos/acme/nope/runs -H "Authorization: Bearer $FERRY_API_TOKEN" -d "{\"commit\": \"$S1\"}")" 404
expect "manual run -> 201" \
    "$(http POST /api/v1/repos/acme/shop/runs -H "Authorization: Bearer $FERRY_API_TOKEN" -d "{\"commit\": \"$S1\"}")" 201
RM=$(jq_body 'd["run_id"]')
expect "manual run succeeds" "$(wait_run "$RM")" succeeded
http GET "/api/v1/runs/$RM" >/dev/null
expect "manual run message from the commit" "$(jq_body 'd["message"]')" "Add pipeline"
expect "manual run author from the commit" "$(jq_body 'd["author"]')" "Jane Doe"

# --- runs that cannot start: clear reasons ----------------------------------------------
rm "$SRC/.ferry.yml"
S9=$(repo_commit "$SRC" "Remove pipeline")
R9=$(push_run acme/shop "$S9")
expect "no pipeline file -> error" "$(wait_run "$R9")" error
http GET "/api/v1/runs/$R9" >/dev/null
expect "missing file reason" "$(jq_body 'd["reason"]')" "no .ferry.yml at ${S9:0:7}"
S10=$(pipeline 'steps:
  - name: ok
    commands: [true]
  - name: Bad_Name
    comands: [x]
    needs: [nothere]' "Invalid pipeline")
R10=$(push_run acme/shop "$S10")
expect "invalid pipeline -> error" "$(wait_run "$R10")" error
http GET "/api/v1/runs/$R10" >/dev/null
check "invalid pipeline reason has line and column" bash -c "jq_r=\$($PY -c 'import json;print(json.load(open(\"$T/body\"))[\"reason\"])'); [[ \"\$jq_r\" == *'.ferry.yml:4:'* && \"\$jq_r\" == *'.ferry.yml:5:'* ]]"
R11=$(push_run acme/shop 0123456789abcdef0123456789abcdef01234567)
expect "unknown commit -> error" "$(wait_run "$R11")" error
http GET "/api/v1/runs/$R11" >/dev/null
expect "unknown commit reason" "$(jq_body 'd["reason"]')" \
    "commit 0123456 not found in acme/shop after fetch"

# --- the source archive -------------------------------------------------------------------
S12=$(pipeline 'steps:
  - name: hold
    commands: ["sleep 60"]' "Hold")
mkdir -p "$SRC/bin" && printf '#!/bin/sh\necho hi\n' >"$SRC/bin/tool" && chmod +x "$SRC/bin/tool"
ln -sf README "$SRC/link"
S12=$(repo_commit "$SRC" "Archive contents")
R12=$(push_run acme/shop "$S12")
wait_until 20 bash -c "[ \"\$(curl -s http://127.0.0.1:$PORT/api/v1/runs/$R12 | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" = running ]"
TOKEN=$($PY -c "import sqlite3,sys; c=sqlite3.connect('$T/var/ferry.db'); print(c.execute('select source_token from runs where id=?', ($R12,)).fetchone()[0])")
expect "source with a wrong token -> 404" "$(http GET "/source/$R12.tar.gz?token=wrong")" 404
check "no bytes of the tree with a wrong token" bash -c "! grep -q 'hello from the repo' '$T/body'"
expect "source with the token -> 200" "$(http GET "/source/$R12.tar.gz?token=$TOKEN")" 200
mkdir -p "$T/a1" "$T/a2"
tar -xzf "$T/body" -C "$T/a1"
git -C "$SRC" archive "$S12" | tar -x -C "$T/a2"
check "archive equals git archive (paths, contents)" diff -r --no-dereference "$T/a1" "$T/a2"
# git archive applies tar.umask 002 (0775); ferry's archive has 0755.
expect "archive keeps the exec bit" "$(stat -c %a "$T/a1/bin/tool")" 755
expect "archive files are 0644" "$(stat -c %a "$T/a1/README")" 644
expect "archive keeps symlinks" "$(readlink "$T/a1/link")" README
http POST "/api/v1/runs/$R12/cancel" -H "Authorization: Bearer $FERRY_API_TOKEN" >/dev/null
wait_run "$R12" 30 >/dev/null
expect "source of an ended run -> 403" "$(http GET "/source/$R12.tar.gz?token=$TOKEN")" 403

# --- kill -9 in the middle of a step ---------------------------------------------------------
S13=$(pipeline 'steps:
  - name: first
    commands: ["echo first"]
  - name: slowish
    commands: ["sleep 3", "echo done"]' "Restart me")
R13=$(push_run acme/shop "$S13")
wait_until 20 bash -c "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R13 | grep -q '\"name\":\"slowish\",\"status\":\"running\"'"
kill -KILL "$FERRY_PID"
wait "$FERRY_PID" 2>/dev/null
FERRY_PID=
check "the step's processes died with ferry" \
    wait_until 5 bash -c '! pgrep -f "sleep 3$" >/dev/null'
ferry_start || not_ok "ferry restarts"
expect "interrupted run is re-queued and finishes" "$(wait_run "$R13" 60)" succeeded
expect "its step ran again" "$(step_log "$R13" slowish)" done
check "restart was logged" grep -q "run=$R13 .*re-queued" "$T/ferry.log"

# A second interruption of the same run ends it as an error.
S14=$(pipeline 'steps:
  - name: forever
    commands: ["sleep 100"]' "Interrupted twice")
R14=$(push_run acme/shop "$S14")
for i in 1 2; do
	wait_until 20 bash -c "curl -s http://127.0.0.1:$PORT/api/v1/runs/$R14 | grep -q '\"name\":\"forever\",\"status\":\"running\"'"
	kill -KILL "$FERRY_PID"
	wait "$FERRY_PID" 2>/dev/null
	FERRY_PID=
	ferry_start || not_ok "ferry restarts ($i)"
done
expect "a run interrupted twice ends as error" "$(wait_run "$R14" 20)" error
http GET "/api/v1/runs/$R14" >/dev/null
expect "its reason" "$(jq_body 'd["reason"]')" "interrupted by server restart twice"
expect "its step" "$(step_field "$R14" forever status)" error
http GET "/api/v1/runs?status=running" >/dev/null
expect "nothing is left running" "$(jq_body 'len(d["runs"])')" 0
http GET "/api/v1/runs?status=queued" >/dev/null
expect "nothing is left queued" "$(jq_body 'len(d["runs"])')" 0

finish
