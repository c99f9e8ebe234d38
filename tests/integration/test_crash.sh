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

# The sender (tests/tools/crash_lib.py send): signed pushes, one at a
# time, for as long as $T/go exists; every seventh request redelivers an
# earlier accepted delivery. Writes "send|redeliver ID STATUS RUN_ID
# DUPLICATE" per request, "-" for no answer (ferry was down or died
# mid-request).
CRASH_LIB="$SRCDIR/tests/tools/crash_lib.py"

touch "$T/go"
$PY "$CRASH_LIB" send "$PORT" "$SHOP_SECRET" "$SHA" "$T/go" "$T/sent" &
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
# Under valgrind every step's sandbox is a clone of a valgrinded ferry:
# the backlog of runs takes four times as long.
END_WAIT=120
[ -n "${FERRY_UNDER_VALGRIND:-}" ] && END_WAIT=480
check "every run ends within $END_WAIT s of the last restart" \
    wait_until "$END_WAIT" nonfinal_none
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
$PY "$CRASH_LIB" verdict "$T/var/ferry.db" "$T/sent" >"$T/verdict"
cat "$T/verdict" | sed 's/^/# /'
expect "every accepted delivery has exactly one run, nothing extra" \
    "$(sed -n 's/^PROBLEMS //p' "$T/verdict")" 0

finish
