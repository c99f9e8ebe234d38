#!/usr/bin/env bash
# Crash test (issue 7): a stream of signed pushes with unique delivery
# ids (and some redeliveries) while ferry is killed with SIGKILL at
# random moments and restarted, on the local executor. Afterwards every
# delivery that got a 2xx has exactly one run (its run_id), none is
# missing, a redelivery of an accepted delivery names the same run, and
# after the last restart every run reaches a terminal state within a
# bounded wait.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "the local sandbox needs root (namespaces); skipping"
	exit 77
fi

KILLS=${CRASH_KILLS:-6}
PORT=$(free_port)
export SHOP_SECRET="crash-hook-secret"
SRC="$T/src/shop"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 4
repos:
  - name: acme/shop
    provider: github
    clone_url: $SRC
    secret: env:SHOP_SECRET
    concurrency: 4
YML
repo_init "$SRC"
printf 'steps:\n  - name: ok\n    commands: ["true"]\n' >"$SRC/.ferry.yml"
SHA=$(repo_commit "$SRC" "Quick pipeline")

# ferry_start, with every probe bounded: a process left over from a
# killed ferry that still holds the listening socket must not hang the
# test in a connect that is never accepted.
start() {
	"$FERRY" serve --config "$T/ferry.yml" >>"$T/ferry.log" 2>&1 &
	FERRY_PID=$!
	wait_until 20 curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz"
}

start || { not_ok "ferry starts"; finish; }

# The sender: signed pushes, one at a time, for as long as $T/go exists.
# Every seventh request redelivers an earlier accepted delivery. Writes
# "send|redeliver ID STATUS RUN_ID DUPLICATE" per request, "-" for no
# answer (ferry was down or died mid-request).
cat >"$T/sender.py" <<'PYEOF'
import hashlib, hmac, http.client, json, os, random, sys, time
port, secret, sha, go, out = sys.argv[1:6]
random.seed(7)
log = open(out, "w", buffering=1)
accepted = {}
n = 0
while os.path.exists(go):
    redeliver = n % 7 == 6 and accepted
    if redeliver:
        did = random.choice(sorted(accepted))
    else:
        did = "crash-%05d" % n
    body = json.dumps({
        "ref": "refs/heads/master", "before": "a" * 40, "after": sha,
        "repository": {"full_name": "acme/shop"},
        "pusher": {"name": "jane"},
        "head_commit": {"id": sha, "message": "push " + did,
                        "author": {"name": "Jane Doe"}}}).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    status, run, dup = "-", "-", "-"
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        c.request("POST", "/hooks/github", body, {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push", "X-GitHub-Delivery": did,
            "X-Hub-Signature-256": "sha256=" + sig})
        r = c.getresponse()
        status = str(r.status)
        d = json.loads(r.read() or b"{}")
        run = str(d.get("run_id", "-"))
        dup = "true" if d.get("duplicate") else "false"
        c.close()
    except (OSError, http.client.HTTPException, ValueError):
        pass
    if not redeliver and status.startswith("2"):
        accepted[did] = run
    log.write("%s %s %s %s %s\n" % ("redeliver" if redeliver else "send",
                                    did, status, run, dup))
    n += 1
    time.sleep(0.02)
PYEOF

touch "$T/go"
$PY "$T/sender.py" "$PORT" "$SHOP_SECRET" "$SHA" "$T/go" "$T/sent" &
SENDER=$!
restarts=0
for i in $(seq 1 "$KILLS"); do
	# A random moment: 0.2 to 1.5 s into this instance's life.
	sleep "$(printf '0.%d' $((2 + RANDOM % 8)))"
	[ $((RANDOM % 2)) -eq 0 ] && sleep 0.5
	kill -KILL "$FERRY_PID" 2>/dev/null
	wait "$FERRY_PID" 2>/dev/null
	FERRY_PID=
	if start; then
		restarts=$((restarts + 1))
	else
		echo "# ferry did not answer after restart $i; listening:"
		ss -ltnp "sport = :$PORT" 2>/dev/null | sed 's/^/# /'
	fi
done
expect "ferry restarted after each of $KILLS kill -9" "$restarts" "$KILLS"
# Some more pushes to the last instance, then stop sending.
accepted_now() { grep -c ' 202 ' "$T/sent"; }
n0=$(accepted_now)
more_accepted() { [ "$(accepted_now)" -gt $((n0 + 10)) ]; }
wait_until 10 more_accepted
rm -f "$T/go"
wait "$SENDER"

total=$(wc -l <"$T/sent")
acc=$(grep -c '^send .* 2[0-9][0-9] ' "$T/sent")
lost=$(grep -c '^send .* - ' "$T/sent")
echo "# $total requests: $acc accepted, $lost without an answer"
check "most deliveries were accepted" test "$acc" -ge 20
check "every answer is 202, 200 (duplicate) or none" \
    bash -c "! awk '\$3 != \"202\" && \$3 != \"200\" && \$3 != \"-\"' '$T/sent' | grep -q ."
check "a first delivery is never answered as a duplicate" \
    bash -c "! awk '\$1 == \"send\" && \$5 == \"true\"' '$T/sent' | grep -q ."

# Every run reaches a terminal state after the last restart, as users
# see it through the API (the database is checked below).
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
ferry_stop TERM
expect "ferry stops cleanly" "${FERRY_EXIT:-x}" 0
# Nothing of a killed ferry may outlive it (a sandbox init would hold
# its listening socket and database); whatever is left is ended here.
left=$(pgrep -f -- "--config $T/ferry.yml" | tr '\n' ' ')
check "no process of a killed ferry is left behind (${left:-none})" \
    test -z "$left"
for p in $left; do
	ps -o pid=,user=,stat=,wchan:20=,args= -p "$p" | sed 's/^/# /'
	kill -KILL "$p" 2>/dev/null
done

# The checks, on the database itself.
$PY - "$T/var/ferry.db" "$T/sent" >"$T/verdict" <<'PYEOF'
import sqlite3, sys
db, sent = sys.argv[1:3]
c = sqlite3.connect(db)
runs = {}
for rid, did, status in c.execute(
        "select id, delivery_id, status from runs"):
    runs.setdefault(did, []).append((rid, status))
accepted, redeliveries, problems = {}, [], []
for line in open(sent):
    kind, did, status, run, dup = line.split()
    if kind == "send" and status.startswith("2"):
        accepted[did] = run
    elif kind == "redeliver":
        redeliveries.append((did, status, run, dup))
for did, run in accepted.items():
    got = runs.get(did, [])
    if len(got) != 1:
        problems.append("delivery %s (run %s) has %d runs" % (did, run, len(got)))
    elif str(got[0][0]) != run:
        problems.append("delivery %s: answered run %s, stored run %d"
                        % (did, run, got[0][0]))
for did, status, run, dup in redeliveries:
    if status == "202":
        problems.append("redelivery of %s made a new run %s" % (did, run))
    elif status == "200" and (dup != "true" or run != accepted.get(did)):
        problems.append("redelivery of %s: run %s dup %s, want run %s"
                        % (did, run, dup, accepted.get(did)))
for did, got in runs.items():
    if len(got) > 1:
        problems.append("delivery %s has %d runs" % (did, len(got)))
sent_ids = set(l.split()[1] for l in open(sent))
for did in runs:
    if did not in sent_ids:
        problems.append("run for a delivery never sent: %s" % did)
final = ("succeeded", "failed", "cancelled", "error")
nonfinal = [rid for v in runs.values() for rid, st in v if st not in final]
if nonfinal:
    problems.append("runs not in a terminal state: %s" % nonfinal[:10])
d = c.execute("select count(*) from deliveries d left join runs r on "
              "r.id = d.run_id where r.id is null").fetchone()[0]
if d:
    problems.append("%d deliveries point to no run" % d)
bad_steps = c.execute("select count(*) from steps s join runs r on "
                      "r.id = s.run_id where r.status = 'succeeded' and "
                      "s.status != 'succeeded'").fetchone()[0]
if bad_steps:
    problems.append("%d steps of succeeded runs did not succeed" % bad_steps)
counts = dict(c.execute("select status, count(*) from runs group by status"))
print("runs by status:", counts)
print("accepted deliveries:", len(accepted), "redeliveries:", len(redeliveries))
for p in problems[:20]:
    print("problem:", p)
print("PROBLEMS", len(problems))
PYEOF
cat "$T/verdict" | sed 's/^/# /'
expect "every accepted delivery has exactly one run, nothing extra" \
    "$(sed -n 's/^PROBLEMS //p' "$T/verdict")" 0

finish
