#!/usr/bin/env bash
# Webhook ingestion and the read API through the real binary: signed
# GitHub and GitLab pushes, every rejection in SPEC.md's table, dedupe,
# paging, config errors, and kill -9 right after a 202.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export SHOP_SECRET="It's a Secret to Everybody"
export APP_TOKEN="gl-token-123"
export FERRY_API_TOKEN="api-token-xyz"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 2
max_body: 1MiB
api_tokens: [env:FERRY_API_TOKEN]
repos:
  - name: acme/shop
    provider: github
    clone_url: $T/src/shop
    secret: env:SHOP_SECRET
  - name: group/app
    provider: gitlab
    clone_url: $T/src/app
    secret: env:APP_TOKEN
    branch: main
YML

# --- command line ---------------------------------------------------------
out=$("$FERRY" version); expect "ferry version exits 0" "$?" 0
case "$out" in "ferry "*) ok "version prints ferry X";; *) not_ok "version: $out";; esac
"$FERRY" >/dev/null 2>&1; expect "no command is a usage error" "$?" 2
"$FERRY" frobnicate >/dev/null 2>&1; expect "unknown command exits 2" "$?" 2
"$FERRY" --help >/dev/null; expect "--help exits 0" "$?" 0
"$FERRY" serve --help >/dev/null; expect "serve --help exits 0" "$?" 0
"$FERRY" serve --bogus >/dev/null 2>&1; expect "serve with a bad flag exits 2" "$?" 2

# --- config errors: named file, line, key; exit 1 before listening ----------
cat >"$T/bad.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workrs: 2
YML
err=$("$FERRY" serve --config "$T/bad.yml" 2>&1); rc=$?
expect "unknown config key exits 1" "$rc" 1
case "$err" in *"bad.yml:3"*workrs*) ok "config error names file, line and key";;
	*) not_ok "config error message: $err";; esac
check "nothing listens after a config error" \
    bash -c "! curl -s --max-time 2 http://127.0.0.1:$PORT/healthz"
cat >"$T/plain.yml" <<YML
repos:
  - name: acme/shop
    provider: github
    clone_url: /tmp/x
    secret: hunter2
YML
err=$("$FERRY" serve --config "$T/plain.yml" 2>&1); rc=$?
expect "a secret written in the config exits 1" "$rc" 1
case "$err" in *hunter2*) not_ok "config error leaks the secret";;
	*"plain.yml:5"*) ok "plain secret refused with its line";;
	*) not_ok "plain secret message: $err";; esac
err=$(env -u SHOP_SECRET "$FERRY" serve --config "$T/ferry.yml" 2>&1); rc=$?
expect "unset env: secret exits 1" "$rc" 1
case "$err" in *SHOP_SECRET*) ok "unset env secret is named";;
	*) not_ok "unset env message: $err";; esac

"$FERRY" migrate --config "$T/ferry.yml" >"$T/migrate.out" 2>&1
expect "ferry migrate exits 0" "$?" 0
"$FERRY" migrate --config "$T/ferry.yml" >"$T/migrate2.out" 2>&1
expect "ferry migrate twice exits 0" "$?" 0
check "second migrate applied nothing" bash -c "! grep -q 'applied' '$T/migrate2.out'"

ferry_start || { not_ok "ferry starts"; finish; }
ok "ferry starts and answers /healthz"

expect "readyz" "$(http GET /readyz)" 200

runs_count() {
	http GET "/api/v1/runs?limit=200" >/dev/null
	jq_body 'len(d["runs"])'
}

# --- GitHub push to master: 202, recorded --------------------------------
SHA=9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3
payload github-push --repo acme/shop --after "$SHA" \
    --message $'Fix cart\n\nlong body' --author "Jane Doe" --pad 7000 >"$T/push.json"
code=$(github_post push d-1 "$T/push.json" "$SHOP_SECRET")
expect "signed push to master -> 202" "$code" 202
RUN=$(jq_body 'd["run_id"]')
check "202 carries a run id" test "$RUN" -gt 0
expect "run is in the API" "$(http GET "/api/v1/runs/$RUN")" 200
expect "run commit" "$(jq_body 'd["commit"]')" "$SHA"
expect "run repo" "$(jq_body 'd["repo"]')" "acme/shop"
expect "run branch" "$(jq_body 'd["branch"]')" "master"
check "run status is a run state" grep -qxE 'queued|running|error' <<<"$(jq_body 'd["status"]')"
expect "run author" "$(jq_body 'd["author"]')" "Jane Doe"
expect "run message" "$(jq_body 'd["message"]')" $'Fix cart\n\nlong body'
expect "run provider" "$(jq_body 'd["provider"]')" "github"
check "run created_at is RFC 3339 UTC" bash -c \
    "[[ '$(jq_body 'd["created_at"]')' =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]"

# --- redelivery -------------------------------------------------------------
code=$(github_post push d-1 "$T/push.json" "$SHOP_SECRET")
expect "same delivery again -> 200" "$code" 200
expect "duplicate names the first run" "$(jq_body 'd["run_id"]')" "$RUN"
expect "duplicate flag" "$(jq_body 'd["duplicate"]')" "true"
expect "one run after a redelivery" "$(runs_count)" 1

# --- ignored pushes -----------------------------------------------------------
payload github-push --repo acme/shop --ref refs/heads/feature --after "$SHA" >"$T/f.json"
expect "other branch -> 200" "$(github_post push d-2 "$T/f.json" "$SHOP_SECRET")" 200
expect "other branch reason" "$(jq_body 'd["ignored"]')" \
    "branch feature is not the production branch master"
payload github-push --repo acme/shop --ref refs/tags/v1.0 --after "$SHA" >"$T/t.json"
expect "tag push -> 200" "$(github_post push d-3 "$T/t.json" "$SHOP_SECRET")" 200
expect "tag push reason" "$(jq_body 'd["ignored"]')" "tag push"
payload github-push --repo acme/shop --after 0000000000000000000000000000000000000000 >"$T/d.json"
expect "branch deletion -> 200" "$(github_post push d-4 "$T/d.json" "$SHOP_SECRET")" 200
expect "deletion reason" "$(jq_body 'd["ignored"]')" "branch deletion"
payload github-push --repo acme/shop --after "$SHA" --message "Bump version [skip ci]" >"$T/s.json"
expect "[skip ci] -> 200" "$(github_post push d-5 "$T/s.json" "$SHOP_SECRET")" 200
expect "[skip ci] reason" "$(jq_body 'd["ignored"]')" "skip requested"
payload github-push --repo acme/shop --after "$SHA" --message "bot: [CI SKIP] sync" >"$T/s2.json"
github_post push d-5b "$T/s2.json" "$SHOP_SECRET" >/dev/null
expect "[ci skip] any case" "$(jq_body 'd["ignored"]')" "skip requested"
payload github-ping --repo acme/shop >"$T/ping.json"
expect "ping -> 200" "$(github_post ping d-6 "$T/ping.json" "$SHOP_SECRET")" 200
expect "ping ok" "$(jq_body 'd["ok"]')" "true"
expect "signed issues event -> 200" "$(github_post issues d-7 "$T/ping.json" "$SHOP_SECRET")" 200
expect "issues event reason" "$(jq_body 'd["ignored"]')" "event issues is not handled"
expect "ignored events stored nothing" "$(runs_count)" 1

# --- rejections: nothing stored ---------------------------------------------
expect "wrong signature -> 401" \
    "$(github_post push d-8 "$T/push.json" "not the secret")" 401
expect "401 error code" "$(jq_body 'd["error"]["code"]')" "unauthorized"
code=$(http POST /hooks/github -H "X-GitHub-Event: push" \
    -H "X-GitHub-Delivery: d-9" --data-binary @"$T/push.json")
expect "missing signature -> 401" "$code" 401
expect "missing signature message" "$(jq_body 'd["error"]["message"]')" "missing signature"
code=$(http POST /hooks/github -H "X-GitHub-Event: push" \
    -H "X-GitHub-Delivery: d-9b" \
    -H "X-Hub-Signature-256: sha1=$(openssl dgst -sha1 -hmac "$SHOP_SECRET" -r <"$T/push.json" | cut -d' ' -f1)" \
    --data-binary @"$T/push.json")
expect "sha1 signature -> 401" "$code" 401
printf '{"ref": "refs/heads/master", "repository": {"full_name": "acme/shop"' >"$T/bad.json"
expect "malformed JSON -> 400" "$(github_post push d-10 "$T/bad.json" "$SHOP_SECRET")" 400
expect "400 error code" "$(jq_body 'd["error"]["code"]')" "invalid_argument"
printf '{"repository": {"full_name": "acme/shop"}}' >"$T/nofields.json"
expect "missing fields -> 400" "$(github_post push d-11 "$T/nofields.json" "$SHOP_SECRET")" 400
code=$(http POST /hooks/github -H "X-GitHub-Delivery: d-12" \
    -H "X-Hub-Signature-256: sha256=$(sign "$SHOP_SECRET" "$T/push.json")" \
    --data-binary @"$T/push.json")
expect "no event header -> 400" "$code" 400
payload github-push --repo acme/other --after "$SHA" >"$T/other.json"
expect "unknown repo -> 404" "$(github_post push d-13 "$T/other.json" "$SHOP_SECRET")" 404
expect "404 error code" "$(jq_body 'd["error"]["code"]')" "not_found"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big.json"
expect "2 MiB body -> 413" "$(github_post push d-14 "$T/big.json" "$SHOP_SECRET")" 413
expect "rejections stored nothing" "$(runs_count)" 1

# --- form-encoded body (payload=) ---------------------------------------------
SHA2=1111111111111111111111111111111111111112
payload github-push --repo acme/shop --after "$SHA2" --message "a+b & c=d" >"$T/p2.json"
$PY -c 'import sys, urllib.parse; sys.stdout.write("payload=" + urllib.parse.quote_plus(open(sys.argv[1]).read()))' \
    "$T/p2.json" >"$T/form.txt"
code=$(http POST /hooks/github -H "Content-Type: application/x-www-form-urlencoded" \
    -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: d-15" \
    -H "X-Hub-Signature-256: sha256=$(sign "$SHOP_SECRET" "$T/form.txt")" \
    --data-binary @"$T/form.txt")
expect "form-encoded push -> 202" "$code" 202
RUN2=$(jq_body 'd["run_id"]')
http GET "/api/v1/runs/$RUN2" >/dev/null
expect "form-encoded message decoded" "$(jq_body 'd["message"]')" "a+b & c=d"

# --- GitLab -----------------------------------------------------------------
GSHA=2222222222222222222222222222222222222223
payload gitlab-push --repo group/app --ref refs/heads/main --after "$GSHA" >"$T/gl.json"
expect "gitlab push -> 202" "$(gitlab_post "Push Hook" u-1 "$T/gl.json" "$APP_TOKEN")" 202
GRUN=$(jq_body 'd["run_id"]')
http GET "/api/v1/runs/$GRUN" >/dev/null
expect "gitlab run commit" "$(jq_body 'd["commit"]')" "$GSHA"
expect "gitlab run provider" "$(jq_body 'd["provider"]')" "gitlab"
expect "gitlab wrong token -> 401" "$(gitlab_post "Push Hook" u-2 "$T/gl.json" nope)" 401
code=$(http POST /hooks/gitlab -H "X-Gitlab-Event: Push Hook" \
    -H "X-Gitlab-Event-UUID: u-2b" --data-binary @"$T/gl.json")
expect "gitlab missing token -> 401" "$code" 401
expect "gitlab same uuid -> 200" "$(gitlab_post "Push Hook" u-1 "$T/gl.json" "$APP_TOKEN")" 200
expect "gitlab duplicate id" "$(jq_body 'd["run_id"]')" "$GRUN"
# Idempotency-Key is kept across GitLab's retries; each retry has a new UUID.
code=$(gitlab_post "Push Hook" u-3 "$T/gl.json" "$APP_TOKEN" -H "Idempotency-Key: k-1")
expect "gitlab with Idempotency-Key -> 202" "$code" 202
K1=$(jq_body 'd["run_id"]')
code=$(gitlab_post "Push Hook" u-4 "$T/gl.json" "$APP_TOKEN" -H "Idempotency-Key: k-1")
expect "gitlab retry (new UUID, same key) -> 200" "$code" 200
expect "gitlab retry names the first run" "$(jq_body 'd["run_id"]')" "$K1"
payload gitlab-push --repo group/app --ref refs/heads/dev --after "$GSHA" >"$T/gl2.json"
expect "gitlab other branch -> 200" "$(gitlab_post "Push Hook" u-5 "$T/gl2.json" "$APP_TOKEN")" 200
payload gitlab-push --repo group/app --ref refs/tags/v2 --after "$GSHA" >"$T/gl3.json"
expect "gitlab tag push hook -> 200" "$(gitlab_post "Tag Push Hook" u-6 "$T/gl3.json" "$APP_TOKEN")" 200
expect "gitlab tag reason" "$(jq_body 'd["ignored"]')" "tag push"

# --- read API ----------------------------------------------------------------
for i in $(seq 1 7); do
	s=$(printf '%040d' "$i")
	payload github-push --repo acme/shop --after "$s" >"$T/pg.json"
	github_post push "page-$i" "$T/pg.json" "$SHOP_SECRET" >/dev/null
done
total=$(runs_count)
expect "all runs listed" "$total" 11
seen=""
cursor=""
pages=0
while :; do
	http GET "/api/v1/runs?repo=acme/shop&limit=3${cursor:+&before=$cursor}" >/dev/null
	seen="$seen $(jq_body '" ".join(str(r["id"]) for r in d["runs"])')"
	cursor=$(jq_body 'd["next"] or ""')
	pages=$((pages + 1))
	[ -n "$cursor" ] && [ $pages -lt 10 ] || break
done
n=$(echo $seen | wc -w)
expect "paging by cursor visits every acme/shop run once" "$n" 9
expect "paging is newest first without duplicates" \
    "$(echo $seen | tr ' ' '\n' | sort -rn | uniq | tr '\n' ' ')" "$(echo $seen | tr ' ' '\n' | tr '\n' ' ')"
http GET "/api/v1/runs?repo=group/app" >/dev/null
expect "repo filter" "$(jq_body 'sorted(set(r["repo"] for r in d["runs"]))')" '["group/app"]'
# The runs fail to fetch (there is no repository at clone_url).
wait_until 20 bash -c "[ \"\$(curl -s 'http://127.0.0.1:$PORT/api/v1/runs?status=error&limit=200' | $PY -c 'import json,sys; print(len(json.load(sys.stdin)[\"runs\"]))')\" = 11 ]"
http GET "/api/v1/runs?status=error&limit=1" >/dev/null
expect "status filter and limit" "$(jq_body 'len(d["runs"])')" 1
expect "status filter" "$(jq_body 'd["runs"][0]["status"]')" error
http GET "/api/v1/runs?status=succeeded" >/dev/null
expect "status filter with no match" "$(jq_body 'len(d["runs"])')" 0
expect "bad status -> 400" "$(http GET '/api/v1/runs?status=bogus')" 400
expect "limit over 200 -> 400" "$(http GET '/api/v1/runs?limit=500')" 400
expect "bad cursor -> 400" "$(http GET '/api/v1/runs?before=abc')" 400
expect "unknown run -> 404" "$(http GET /api/v1/runs/999999)" 404
expect "404 body has error.code" "$(jq_body 'd["error"]["code"]')" "not_found"
expect "non-numeric run id -> 404" "$(http GET /api/v1/runs/abc)" 404
expect "repos list" "$(http GET /api/v1/repos)" 200
expect "repos names" "$(jq_body '[r["name"] for r in d["repos"]]')" '["acme/shop", "group/app"]'
expect "repo latest production-branch run" \
    "$(jq_body 'd["repos"][0]["last_run"]["commit"]')" "$(printf '%040d' 7)"
expect "unknown path -> 404" "$(http GET /nope)" 404
expect "wrong method -> 405" "$(http DELETE /api/v1/runs)" 405

# --- kill -9 right after a 202: the run survives -----------------------------
SHA3=3333333333333333333333333333333333333334
payload github-push --repo acme/shop --after "$SHA3" >"$T/k.json"
code=$(github_post push d-kill "$T/k.json" "$SHOP_SECRET")
kill -KILL "$FERRY_PID"
wait "$FERRY_PID" 2>/dev/null
FERRY_PID=
expect "push before kill -9 -> 202" "$code" 202
KRUN=$(jq_body 'd["run_id"]')
ferry_start || not_ok "ferry restarts after kill -9"
expect "run accepted before kill -9 is still there" \
    "$(http GET "/api/v1/runs/$KRUN")" 200
expect "its commit" "$(jq_body 'd["commit"]')" "$SHA3"
expect "redelivery after restart is still a duplicate" \
    "$(github_post push d-kill "$T/k.json" "$SHOP_SECRET")" 200

# --- graceful shutdown ----------------------------------------------------------
ferry_stop TERM
expect "SIGTERM: ferry exits 0" "${FERRY_EXIT:-x}" 0
check "shutdown was logged" grep -q "shutting down" "$T/ferry.log"

finish
