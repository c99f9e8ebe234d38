#!/usr/bin/env bash
# Commit statuses and notifications through the real binary and a fake
# forge (tests/tools/fake_forge.py, which records every request): GitHub
# pending then success with the right URL, body and headers; a failure
# notified once with its log tail, not again while it keeps failing,
# then "recovered"; GitLab statuses with PRIVATE-TOKEN and the encoded
# project path; 502s retried until delivered; and a report left pending
# by kill -9 while the forge was down delivered after the restart.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "the local sandbox needs root (namespaces); skipping"
	exit 77
fi

FAKE="$SRCDIR/tests/tools/fake_forge.py"
FAKE_PID=
FPORT=

# fake_start [PORT]: starts the fake forge (a new port unless given).
fake_start() {
	rm -f "$T/fake.port"
	$PY "$FAKE" --port "${1:-0}" --port-file "$T/fake.port" \
	    --log "$T/fake.log" >>"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	wait_until 10 test -s "$T/fake.port" || return 1
	FPORT=$(cat "$T/fake.port")
}

fake_stop() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
		FAKE_PID=
	fi
}

trap 'fake_stop; cleanup' EXIT

# fake_ctl JSON: reconfigures the fake (fail counts, down).
fake_ctl() {
	curl -sS --max-time 5 -o /dev/null -X POST -d "$1" \
	    "http://127.0.0.1:$FPORT/__ctl"
}

# fq EXPR: a Python expression over L, the requests the fake recorded
# (each {"method", "path", "headers", "body", "json", "status"}).
fq() {
	$PY - "$T/fake.log" "$1" <<'PYEOF'
import json, sys
try:
    L = [json.loads(l) for l in open(sys.argv[1])]
except FileNotFoundError:
    L = []
v = eval(sys.argv[2], {"L": L})
print(v if isinstance(v, str) else json.dumps(v))
PYEOF
}

# last PATH EXPR: EXPR on r, the last request to PATH.
last() {
	fq "[($2) for r in L if r['path'] == '$1'][-1]"
}

# hdr PATH NAME: a header of the last request to PATH ("null" if none).
hdr() {
	last "$1" "r['headers'].get('$2')"
}

# field PATH KEY: a key of the last JSON body sent to PATH.
field() {
	last "$1" "r['json']['$2']"
}

# delivered PATH: the states accepted (201) for PATH, comma-separated.
delivered() {
	fq "','.join(r['json']['state'] for r in L
	    if r['path'] == '$1' and r['status'] == 201)"
}

# n_delivered PATH [STATE]: how many were accepted (in that state).
n_delivered() {
	fq "len([r for r in L if r['path'] == '$1' and r['status'] == 201
	    and '${2:-}' in ('', r['json'].get('state'))])"
}

# has_delivered N PATH [STATE]: true once N were accepted.
has_delivered() {
	[ "$(n_delivered "$2" "${3:-}")" -ge "$1" ]
}

# notes: the events of the notifications delivered, comma-separated.
notes() {
	fq "','.join(r['json']['event'] for r in L
	    if r['path'] == '$NPATH' and r['status'] == 201)"
}

# outbox SQL-CONDITION: rows waiting in ferry's outbox that match.
outbox() {
	$PY - "$T/var/ferry.db" "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
q = "SELECT count(*) FROM outbox WHERE " + sys.argv[2]
print(db.execute(q).fetchone()[0])
PYEOF
}

# outbox_empty: true once ferry has sent (or dropped) everything.
outbox_empty() {
	[ "$(outbox 1)" = 0 ]
}

# outbox_retrying: true once some row has failed at least once.
outbox_retrying() {
	[ "$(outbox "attempts > 0")" -gt 0 ]
}

fake_start || { not_ok "fake forge starts"; finish; }

PORT=$(free_port)
export SHOP_SECRET="shop-hook-secret"
export BLOG_SECRET="blog-hook-token"
export GH_TOKEN="ghp_statusTOKEN_4711"
export GL_TOKEN="glpat-statusTOKEN-0815"
SRC="$T/src/shop"
SRC2="$T/src/blog"
NPATH="/hooks/notify/T000/B000/XXXXsecret"

write_config() {
	cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 2
public_url: http://ferry.example:8080/
repos:
  - name: acme/shop
    provider: github
    clone_url: $SRC
    secret: env:SHOP_SECRET
    status_token: env:GH_TOKEN
    api_url: http://127.0.0.1:$FPORT/api/v3
    notify: [http://127.0.0.1:$FPORT$NPATH]
  - name: group/blog
    provider: gitlab
    clone_url: $SRC2
    secret: env:BLOG_SECRET
    branch: main
    status_token: env:GL_TOKEN
    api_url: http://127.0.0.1:$FPORT/api/v4
YML
}
write_config
repo_init "$SRC"
git -c init.defaultBranch=main init -q "$SRC2"

# pipeline DIR CONTENT MESSAGE: commits a .ferry.yml, prints the sha.
pipeline() {
	printf '%s\n' "$2" >"$1/.ferry.yml"
	repo_commit "$1" "$3"
}

OK_PIPE='steps:
  - name: build
    commands: ["echo building"]'
BAD_PIPE='steps:
  - name: build
    commands: ["echo building"]
  - name: test
    commands:
      - echo compiling cart.c
      - "echo assertion failed: cart total >&2"
      - exit 3'

ferry_start || { not_ok "ferry starts"; finish; }

# --- GitHub: pending, then success -----------------------------------------
S1=$(pipeline "$SRC" "$OK_PIPE" "Add pipeline")
P1="/api/v3/repos/acme/shop/statuses/$S1"
R1=$(push_run acme/shop "$S1" "Add pipeline")
expect "run 1 succeeds" "$(wait_run "$R1")" succeeded
check "two statuses delivered" wait_until 20 has_delivered 2 "$P1"
expect "github states in order" "$(delivered "$P1")" "pending,success"
expect "method POST" "$(last "$P1" "r['method']")" POST
expect "authorization header" "$(hdr "$P1" authorization)" "Bearer $GH_TOKEN"
expect "accept header" "$(hdr "$P1" accept)" "application/vnd.github+json"
expect "api version header" "$(hdr "$P1" x-github-api-version)" 2022-11-28
expect "user agent" "$(hdr "$P1" user-agent)" ferry
expect "json content type" "$(hdr "$P1" content-type)" application/json
expect "target_url links the run page" "$(field "$P1" target_url)" \
    "http://ferry.example:8080/#/runs/$R1"
expect "context ferry" "$(field "$P1" context)" ferry
D=$(field "$P1" description)
check "description names the run" test "${D#"Run $R1 succeeded"}" != "$D"
expect "no notification for a passing branch" "$(notes)" ""

# --- a failure: failure status and one "failing" notification --------------
S2=$(pipeline "$SRC" "$BAD_PIPE" "Break the cart")
P2="/api/v3/repos/acme/shop/statuses/$S2"
R2=$(push_run acme/shop "$S2" "Break the cart")
expect "run 2 fails" "$(wait_run "$R2")" failed
check "failing notification delivered" wait_until 20 has_delivered 1 "$NPATH"
check "the outbox drains" wait_until 20 outbox_empty
expect "github failure" "$(delivered "$P2")" "pending,failure"
expect "one failing notification" "$(notes)" "failing"
expect "notification repo" "$(field "$NPATH" repo)" acme/shop
expect "notification branch" "$(field "$NPATH" branch)" master
expect "notification run id" "$(field "$NPATH" run_id)" "$R2"
expect "notification run url" "$(field "$NPATH" run_url)" \
    "http://ferry.example:8080/#/runs/$R2"
expect "notification commit" "$(field "$NPATH" commit)" "$S2"
expect "notification author" "$(field "$NPATH" author)" "Jane Doe"
expect "notification failed step" "$(field "$NPATH" failed_step)" test
expect "notification log tail" "$(field "$NPATH" log_tail)" \
    "compiling cart.c
assertion failed: cart total"
TXT=$(field "$NPATH" text)
check "text says failing" grep -q \
    "acme/shop master is failing: run $R2 failed at step test" <<<"$TXT"
check "text has the log tail" grep -q "assertion failed: cart total" \
    <<<"$TXT"
expect "notification content type" "$(hdr "$NPATH" content-type)" \
    application/json
expect "no token sent to the hook" "$(hdr "$NPATH" authorization)" null

# --- still failing: a status, no notification ------------------------------
S3=$(pipeline "$SRC" "$BAD_PIPE
# still broken" "Still broken")
P3="/api/v3/repos/acme/shop/statuses/$S3"
R3=$(push_run acme/shop "$S3" "Still broken")
expect "run 3 fails" "$(wait_run "$R3")" failed
check "its statuses delivered" wait_until 20 has_delivered 2 "$P3"
check "the outbox drains again" wait_until 20 outbox_empty
expect "github failure again" "$(delivered "$P3")" "pending,failure"
expect "no second failing notification" "$(notes)" "failing"

# --- the fix: recovered ----------------------------------------------------
S4=$(pipeline "$SRC" "$OK_PIPE" "Fix the cart")
R4=$(push_run acme/shop "$S4" "Fix the cart")
expect "run 4 succeeds" "$(wait_run "$R4")" succeeded
check "recovery notified" wait_until 20 has_delivered 2 "$NPATH"
expect "recovered notification" "$(notes)" "failing,recovered"
expect "recovered run id" "$(field "$NPATH" run_id)" "$R4"
check "recovered text" grep -q \
    "acme/shop master recovered: run $R4 succeeded" <<<"$(field "$NPATH" text)"

# --- GitLab: PRIVATE-TOKEN and the encoded project path ---------------------
G1=$(pipeline "$SRC2" "$OK_PIPE" "Blog pipeline")
GP="/api/v4/projects/group%2Fblog/statuses/$G1"
payload gitlab-push --repo group/blog --ref refs/heads/main --after "$G1" \
    >"$T/gl.json"
expect "gitlab push accepted" \
    "$(gitlab_post "Push Hook" gl-1 "$T/gl.json" "$BLOG_SECRET")" 202
GR=$(jq_body 'd["run_id"]')
expect "gitlab run succeeds" "$(wait_run "$GR")" succeeded
check "gitlab statuses delivered" wait_until 20 has_delivered 2 "$GP"
expect "gitlab states" "$(delivered "$GP")" "running,success"
expect "gitlab private token" "$(hdr "$GP" private-token)" "$GL_TOKEN"
expect "gitlab has no bearer header" "$(hdr "$GP" authorization)" null
expect "gitlab name ferry" "$(field "$GP" name)" ferry
expect "gitlab target_url" "$(field "$GP" target_url)" \
    "http://ferry.example:8080/#/runs/$GR"

# --- 502 three times: retried with backoff, then delivered ------------------
S5=$(pipeline "$SRC" "$OK_PIPE
# retry" "Flaky forge")
P5="/api/v3/repos/acme/shop/statuses/$S5"
fake_ctl "{\"fail\": {\"$P5\": 3}}"
R5=$(push_run acme/shop "$S5" "Flaky forge")
expect "run 5 succeeds" "$(wait_run "$R5")" succeeded
check "success delivered after three 502s" \
    wait_until 40 has_delivered 1 "$P5" success
expect "three answers were 502" \
    "$(fq "len([r for r in L if r['path'] == '$P5' and r['status'] == 502])")" 3
expect "the last state delivered is success" \
    "$(delivered "$P5" | tr ',' '\n' | tail -n 1)" success
check "the retries were logged" \
    grep -q "commit status failed (HTTP 502)" "$T/ferry.log"

# --- 429 with Retry-After: the next attempt waits as long as asked ----------
S7=$(pipeline "$SRC" "$OK_PIPE
# throttled" "Rate limited")
P7="/api/v3/repos/acme/shop/statuses/$S7"
fake_ctl "{\"throttle\": {\"$P7\": [1, 3]}}"
R7=$(push_run acme/shop "$S7" "Rate limited")
expect "run 7 succeeds" "$(wait_run "$R7")" succeeded
check "its statuses are delivered after the 429" \
    wait_until 40 has_delivered 1 "$P7" success
expect "one answer was 429" \
    "$(fq "len([r for r in L if r['path'] == '$P7' and r['status'] == 429])")" 1
# The log line of the retry names the wait: at least Retry-After's 3 s.
wait_ms=$(sed -n 's/.*commit status failed (HTTP 429); attempt 2 in \([0-9]*\) ms.*/\1/p' \
    "$T/ferry.log" | tail -n 1)
check "the retry waited Retry-After (${wait_ms:-none} ms), not the 1 s backoff" \
    test "${wait_ms:-0}" -ge 3000

# --- kill -9 while the forge is down; restart with it up --------------------
fake_stop
S6=$(pipeline "$SRC" "$OK_PIPE
# crash" "Forge down")
P6="/api/v3/repos/acme/shop/statuses/$S6"
R6=$(push_run acme/shop "$S6" "Forge down")
expect "run 6 succeeds with the forge down" "$(wait_run "$R6")" succeeded
check "its report failed and waits in the outbox" \
    wait_until 20 outbox_retrying
ferry_stop KILL
fake_start "$FPORT" || not_ok "fake forge restarts on its port"
ferry_start || { not_ok "ferry restarts"; finish; }
check "the pending report is delivered after the restart" \
    wait_until 30 has_delivered 1 "$P6" success
check "the outbox is empty at the end" wait_until 20 outbox_empty

# --- tokens never reach the database or the log ----------------------------
check "no token in the database" bash -c \
    "! grep -qa -e '$GH_TOKEN' -e '$GL_TOKEN' '$T/var/'ferry.db*"
check "no token in ferry's log" bash -c \
    "! grep -q -e '$GH_TOKEN' -e '$GL_TOKEN' '$T/ferry.log'"
check "no notify secret path in ferry's log" bash -c \
    "! grep -q 'XXXXsecret' '$T/ferry.log'"

ferry_stop
expect "ferry stops cleanly" "${FERRY_EXIT:-1}" 0
finish
