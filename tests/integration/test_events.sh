#!/usr/bin/env bash
# Live events and metrics through the real binary: the SSE stream of a
# two-step run (order, ids, the whole run in each event), resuming with
# Last-Event-ID and ?last_event_id= without gaps, a reset for an id the
# ring no longer has, the heartbeat, shutdown ending open streams;
# /metrics in the Prometheus text format, webhook and run counters that
# move.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "the local sandbox needs root (namespaces); skipping"
	exit 77
fi

PORT=$(free_port)
export SHOP_SECRET="shop-hook-secret"
SRC="$T/src/shop"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 2
repos:
  - name: acme/shop
    provider: github
    clone_url: $SRC
    secret: env:SHOP_SECRET
YML
repo_init "$SRC"
URL="http://127.0.0.1:$PORT"

# sse_events FILE: one JSON line per event of an SSE capture:
# {"id": N, "event": E, "data": D} (D parsed when it is JSON); comments
# and the retry field are left out.
sse_events() {
	$PY - "$1" <<'PYEOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
for block in text.split("\n\n"):
    ev = {}
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        k, _, v = line.partition(":")
        v = v[1:] if v.startswith(" ") else v
        if k == "data":
            ev["data"] = ev["data"] + "\n" + v if "data" in ev else v
        elif k in ("id", "event"):
            ev[k] = v
    if "event" not in ev:
        continue
    try:
        ev["data"] = json.loads(ev.get("data", ""))
    except ValueError:
        pass
    if "id" in ev:
        ev["id"] = int(ev["id"])
    print(json.dumps(ev))
PYEOF
}

# run_events FILE RUN: the run's events of a capture, one JSON line each.
run_events() {
	sse_events "$1" | $PY -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") == "run" and e["data"]["run"]["id"] == int(sys.argv[1]):
        print(line, end="")' "$2"
}

# has_final FILE RUN: true once the capture holds the run's final event.
has_final() {
	run_events "$1" "$2" | $PY -c '
import json, sys
sys.exit(0 if any(json.loads(l)["data"]["run"]["status"] == "succeeded"
    for l in sys.stdin) else 1)'
}

# metric FILE SERIES: the value of one sample in a scrape, or "absent".
metric() {
	$PY - "$1" "$2" <<'PYEOF'
import sys
for line in open(sys.argv[1]):
    name, _, value = line.rstrip("\n").rpartition(" ")
    if name == sys.argv[2]:
        print(int(float(value)))
        sys.exit(0)
print("absent")
PYEOF
}

# scrape FILE: GET /metrics into FILE; prints the status.
scrape() {
	curl -sS --max-time 10 -o "$1" -D "$1.headers" -w '%{http_code}' \
	    "$URL/metrics"
}

# valid_exposition FILE: every line is a HELP, TYPE or sample line, and
# every sample follows its family's TYPE.
valid_exposition() {
	$PY - "$1" <<'PYEOF'
import re, sys
help_re = re.compile(r'^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$')
type_re = re.compile(r'^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) '
                     r'(counter|gauge|histogram|summary|untyped)$')
sample_re = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})?'
    r' (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)$')
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
typed = {}
n = 0
for line in text.split("\n")[:-1]:
    m = help_re.match(line)
    if m:
        continue
    m = type_re.match(line)
    if m:
        assert m.group(1) not in typed, "two TYPE lines: " + line
        typed[m.group(1)] = m.group(2)
        continue
    m = sample_re.match(line)
    assert m, "bad line: %r" % line
    name = m.group(1)
    base = re.sub(r'_(bucket|sum|count)$', '', name)
    assert name in typed or typed.get(base) == "histogram", \
        "sample without TYPE: " + line
    n += 1
assert n > 10, "too few samples"
PYEOF
}

ferry_start || { not_ok "ferry starts"; finish; }

# --- the stream's headers and greeting ----------------------------------------
curl -sS -N --max-time 60 -D "$T/live.headers" "$URL/api/v1/events" \
    >"$T/live.out" 2>/dev/null &
LIVE=$!
check "the stream greets with retry: 2000" \
    wait_until 10 grep -q '^retry: 2000$' "$T/live.out"
check "event stream content type" \
    grep -qi '^content-type: text/event-stream' "$T/live.headers"
check "event stream is not cached" \
    grep -qi '^cache-control: no-store' "$T/live.headers"

# --- metrics before ----------------------------------------------------------
expect "GET /metrics -> 200" "$(scrape "$T/m0")" 200
check "metrics content type is the text format 0.0.4" \
    grep -qi '^content-type: text/plain; version=0.0.4' "$T/m0.headers"
check "every metrics line is valid" valid_exposition "$T/m0"
for fam in ferry_webhooks_total ferry_runs_total ferry_run_duration_seconds \
    ferry_step_duration_seconds ferry_queue_depth ferry_steps_running \
    ferry_kube_requests_total ferry_reports_total ferry_build_info \
    process_resident_memory_bytes process_open_fds; do
	check "metrics has $fam" grep -q "^# TYPE $fam " "$T/m0"
done
check "build info names the version" \
    grep -q '^ferry_build_info{version="[0-9][^"]*"} 1$' "$T/m0"

# --- a two-step run, live --------------------------------------------------------
printf '%s\n' 'steps:
  - name: one
    commands: ["echo one"]
  - name: two
    commands: ["sleep 1", "echo two"]' >"$SRC/.ferry.yml"
S1=$(repo_commit "$SRC" "Two steps")
R1=$(push_run acme/shop "$S1" "Two steps")
expect "the run succeeds" "$(wait_run "$R1")" succeeded
check "its final event arrives" wait_until 10 has_final "$T/live.out" "$R1"
run_events "$T/live.out" "$R1" >"$T/r1.events"
check "the run's events arrive in order with increasing ids" \
    $PY - "$T/r1.events" "$R1" "$S1" <<'PYEOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
ids = [e["id"] for e in evs]
assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
runs = [e["data"]["run"] for e in evs]
for r in runs:
    assert r["id"] == int(sys.argv[2]) and r["commit"] == sys.argv[3]
st = [r["status"] for r in runs]
rank = {"queued": 0, "running": 1, "succeeded": 2}
assert st[0] == "queued", st
assert st[-1] == "succeeded", st
assert [rank[s] for s in st] == sorted(rank[s] for s in st), st
assert "running" in st, st
def step(r, n):
    return [s["status"] for s in r["steps"] if s["name"] == n] or ["-"]
seq = [(step(r, "one")[0], step(r, "two")[0]) for r in runs]
want = [("pending", "pending"), ("running", "pending"),
        ("succeeded", "pending"), ("succeeded", "running"),
        ("succeeded", "succeeded")]
pos = 0
for w in want:
    assert w in seq[pos:], (w, seq)
    pos = seq.index(w, pos)
assert len(runs[-1]["steps"]) == 2 and runs[-1]["duration_ms"] >= 1000
PYEOF

# --- resuming: Last-Event-ID and ?last_event_id= ----------------------------------
sse_events "$T/live.out" >"$T/all.events"
MID=$($PY -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
print(evs[len(evs) // 2]["id"])' "$T/r1.events")
curl -sS -N --max-time 3 -H "Last-Event-ID: $MID" "$URL/api/v1/events" \
    >"$T/resume.out" 2>/dev/null
check "Last-Event-ID replays exactly the events after it" \
    $PY - "$T/all.events" "$MID" "$T/resume.out" <<'PYEOF'
import json, subprocess, sys
allev = [json.loads(l) for l in open(sys.argv[1])]
mid = int(sys.argv[2])
want = [e for e in allev if e["id"] > mid]
got = open(sys.argv[3]).read()
assert got.startswith("retry: 2000\n\n"), got[:40]
assert "event: reset" not in got
blocks = [b for b in got.split("\n\n")[1:] if b.startswith("id: ")]
ids = [int(b.split("\n")[0][4:]) for b in blocks]
assert ids == [e["id"] for e in want], (ids, [e["id"] for e in want])
assert ids == list(range(mid + 1, mid + 1 + len(ids))), ids
datas = [json.loads(b.split("\ndata: ", 1)[1]) for b in blocks]
assert datas == [e["data"] for e in want]
PYEOF
curl -sS -N --max-time 3 "$URL/api/v1/events?last_event_id=$MID" \
    >"$T/resume2.out" 2>/dev/null
check "?last_event_id= replays the same" \
    cmp -s <(grep '^id: ' "$T/resume.out") <(grep '^id: ' "$T/resume2.out")
curl -sS -N --max-time 3 -H "Last-Event-ID: 1" "$URL/api/v1/events" \
    >"$T/reset.out" 2>/dev/null
expect "an id older than the ring gets a reset first" \
    "$(sed -n '3,4p' "$T/reset.out")" 'event: reset
data: {}'
check "and nothing from before the reset" \
    bash -c "! grep -q '^id: ' '$T/reset.out'"
LAST=$(tail -n 1 "$T/all.events" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sS -N --max-time 2 -H "Last-Event-ID: $LAST" "$URL/api/v1/events" \
    >"$T/current.out" 2>/dev/null
expect "an up-to-date client gets only the greeting" \
    "$(cat "$T/current.out")" "retry: 2000"

# --- webhook and run counters ---------------------------------------------------------
scrape "$T/m1" >/dev/null
check "every metrics line is still valid" valid_exposition "$T/m1"
ACC='ferry_webhooks_total{provider="github",result="accepted"}'
UNAUTH='ferry_webhooks_total{provider="github",result="unauthorized"}'
SUCC='ferry_runs_total{status="succeeded"}'
expect "the run was counted" "$(metric "$T/m1" "$SUCC")" \
    $(( $(metric "$T/m0" "$SUCC") + 1 ))
check "two step durations were observed" \
    test "$(metric "$T/m1" ferry_step_duration_seconds_count)" -ge 2
expect "one run duration was observed" \
    "$(metric "$T/m1" ferry_run_duration_seconds_count)" 1
expect "no step is running" "$(metric "$T/m1" ferry_steps_running)" 0
expect "the queue is empty" "$(metric "$T/m1" ferry_queue_depth)" 0
payload github-push --repo acme/shop --after "$S1" --message again >"$T/p2.json"
expect "signed push -> 202" \
    "$(github_post push "dl-ev-2" "$T/p2.json" "$SHOP_SECRET")" 202
R2=$(jq_body 'd["run_id"]')
expect "push with a bad signature -> 401" \
    "$(github_post push "dl-ev-3" "$T/p2.json" "wrong-secret")" 401
scrape "$T/m2" >/dev/null
expect "accepted webhooks +1" "$(metric "$T/m2" "$ACC")" \
    $(( $(metric "$T/m1" "$ACC") + 1 ))
expect "unauthorized webhooks +1" "$(metric "$T/m2" "$UNAUTH")" \
    $(( $(metric "$T/m1" "$UNAUTH") + 1 ))
expect "second run succeeds" "$(wait_run "$R2")" succeeded
check "its final event arrives" wait_until 10 has_final "$T/live.out" "$R2"
scrape "$T/m3" >/dev/null
expect "runs counted again" "$(metric "$T/m3" "$SUCC")" \
    $(( $(metric "$T/m0" "$SUCC") + 2 ))

# --- heartbeat; shutdown ends open streams ---------------------------------------------
curl -sS -N --max-time 60 "$URL/api/v1/events" >"$T/late.out" 2>/dev/null &
LATE=$!
wait_until 10 grep -q '^retry: 2000$' "$T/late.out"
check "a quiet stream gets a ': ping' comment within 15 s" \
    wait_until 20 grep -q '^: ping$' "$T/late.out"
check "ferry stops within bounds with streams open" ferry_stop TERM
expect "ferry exits 0" "${FERRY_EXIT:-none}" 0
check "the streams ended with the server" \
    wait_until 5 bash -c "! kill -0 $LIVE 2>/dev/null && ! kill -0 $LATE 2>/dev/null"
kill "$LIVE" "$LATE" 2>/dev/null
wait "$LIVE" "$LATE" 2>/dev/null

finish
