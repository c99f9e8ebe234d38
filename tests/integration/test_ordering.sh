#!/usr/bin/env bash
# SPEC.md "Ordering" through the real binary on the local executor:
# deploy steps of one repository never overlap; an older run's deploy is
# skipped once a newer run's deploy succeeded; when runs wait for a
# worker, the repository whose master is failing goes first.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "the local sandbox needs root (namespaces); skipping"
	exit 77
fi

PORT=$(free_port)
export SHOP_SECRET="hook-secret"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 1
repos:
  - name: acme/shop
    provider: github
    clone_url: $T/src/shop
    secret: env:SHOP_SECRET
    concurrency: 2
  - name: acme/red
    provider: github
    clone_url: $T/src/red
    secret: env:SHOP_SECRET
  - name: acme/green
    provider: github
    clone_url: $T/src/green
    secret: env:SHOP_SECRET
  - name: acme/blocker
    provider: github
    clone_url: $T/src/blocker
    secret: env:SHOP_SECRET
  - name: acme/fast
    provider: github
    clone_url: $T/src/fast
    secret: env:SHOP_SECRET
    cancel_superseded: true
YML
for r in shop red green blocker fast; do repo_init "$T/src/$r"; done

# commit_pipeline REPO CONTENT: prints the sha.
commit_pipeline() {
	printf '%s\n' "$2" >"$T/src/$1/.ferry.yml"
	repo_commit "$T/src/$1" "pipeline $RANDOM"
}

# times ID STEP: "started finished" in epoch milliseconds.
times() {
	http GET "/api/v1/runs/$1" >/dev/null
	$PY - "$T/body" "$2" <<'PYEOF'
import json, sys
from datetime import datetime
d = json.load(open(sys.argv[1]))
s = [x for x in d["steps"] if x["name"] == sys.argv[2]][0]
ms = lambda v: int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000) if v else 0
print(ms(s["started_at"]), ms(s["finished_at"]))
PYEOF
}

# run_started ID: started_at of the run in epoch milliseconds.
run_started() {
	http GET "/api/v1/runs/$1" >/dev/null
	$PY -c 'import json,sys; from datetime import datetime; d=json.load(open(sys.argv[1])); print(int(datetime.fromisoformat(d["started_at"].replace("Z","+00:00")).timestamp()*1000))' "$T/body"
}

sed -i 's/^workers: 1$/workers: 2/' "$T/ferry.yml"
ferry_start || { not_ok "ferry starts"; finish; }

# --- deploys of one repository never overlap ----------------------------------
SA=$(commit_pipeline shop 'steps:
  - name: deploy
    deploy: true
    commands: ["echo deploying; sleep 2; echo deployed"]')
RA=$(push_run acme/shop "$SA")
RB=$(push_run acme/shop "$SA")
wait_run "$RA" 60 >/dev/null
wait_run "$RB" 60 >/dev/null
read -r a0 a1 <<<"$(times "$RA" deploy)"
read -r b0 b1 <<<"$(times "$RB" deploy)"
# Usually the older run deploys first and the newer one after it; if the
# newer one reaches its deploy first, the older one's is skipped as
# superseded (never started: 0). Either way no two ran at once.
check "two runs' deploy steps did not overlap ($a0-$a1, $b0-$b1)" \
    bash -c "[ $a0 -eq 0 ] || [ $b0 -eq 0 ] || [ $a1 -le $b0 ] ||
    [ $b1 -le $a0 ]"
check "at least one of them deployed" \
    bash -c "[ $a0 -gt 0 ] || [ $b0 -gt 0 ]"
check "both runs were executing at once (concurrency 2)" \
    bash -c "[ \$(( $(run_started "$RB") - $(run_started "$RA") )) -lt 1500 ]"

# --- an older run's deploy is superseded by a newer one that succeeded -----------
SOLD=$(commit_pipeline shop 'steps:
  - name: build
    commands: ["sleep 3"]
  - name: deploy
    deploy: true
    commands: ["echo old deploy"]')
SNEW=$(commit_pipeline shop 'steps:
  - name: deploy
    deploy: true
    commands: ["echo new deploy"]')
ROLD=$(push_run acme/shop "$SOLD")
wait_until 20 bash -c "[ \"\$(curl -s http://127.0.0.1:$PORT/api/v1/runs/$ROLD | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" = running ]"
RNEW=$(push_run acme/shop "$SNEW")
expect "newer run deploys" "$(wait_run "$RNEW" 60)" succeeded
wait_run "$ROLD" 60 >/dev/null
expect "older deploy skipped" "$(step_field "$ROLD" deploy status)" skipped
expect "older deploy reason" "$(step_field "$ROLD" deploy reason)" "superseded by run $RNEW"
check "the older deploy never ran" bash -c "[ -z \"\$(curl -s http://127.0.0.1:$PORT/api/v1/runs/$ROLD/steps/deploy/log)\" ]"
ferry_stop TERM

# --- a failing master is claimed first ------------------------------------------------
sed -i 's/^workers: 2$/workers: 1/' "$T/ferry.yml"
ferry_start || { not_ok "ferry restarts with one worker"; finish; }
SRED=$(commit_pipeline red 'steps:
  - name: t
    commands: ["exit 1"]')
expect "red master fails" "$(wait_run "$(push_run acme/red "$SRED")")" failed
SGREEN=$(commit_pipeline green 'steps:
  - name: t
    commands: ["true"]')
expect "green master passes" "$(wait_run "$(push_run acme/green "$SGREEN")")" succeeded
SBLOCK=$(commit_pipeline blocker 'steps:
  - name: t
    commands: ["sleep 3"]')
RBLOCK=$(push_run acme/blocker "$SBLOCK")
wait_until 20 bash -c "[ \"\$(curl -s http://127.0.0.1:$PORT/api/v1/runs/$RBLOCK | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" = running ]"
RG=$(push_run acme/green "$SGREEN")
SFIX=$(commit_pipeline red 'steps:
  - name: t
    commands: ["true"]')
RR=$(push_run acme/red "$SFIX")
SF=$(commit_pipeline fast 'steps:
  - name: t
    commands: ["true"]')
RF1=$(push_run acme/fast "$SF")
RF2=$(push_run acme/fast "$SF")
expect "cancel_superseded: the older queued run is cancelled" "$(run_status "$RF1")" cancelled
http GET "/api/v1/runs/$RF1" >/dev/null
expect "cancel_superseded reason" "$(jq_body 'd["reason"]')" "superseded by run $RF2"
expect "the newer run still runs" "$(wait_run "$RF2" 60)" succeeded
expect "the fix passes" "$(wait_run "$RR" 60)" succeeded
expect "routine run passes" "$(wait_run "$RG" 60)" succeeded
check "the failing repository's run started first though it arrived later" \
    bash -c "[ $(run_started "$RR") -lt $(run_started "$RG") ]"

finish
