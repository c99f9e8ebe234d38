#!/usr/bin/env bash
# The status page, its static files, the badges and the OpenAPI document,
# through the real binary: headers, caching and path traversal with curl;
# then the page itself in headless Chromium driven over the DevTools
# protocol (tests/browser/): the overview with the broken repository
# first under its banner, the runs list (filters, paging, provider
# links), a run's steps and failed log, live updates without reloads,
# rerun and cancel with the API token, hostile commit messages rendered
# as text, keyboard access, a phone-width screen. Runs are real signed
# pushes of local git repositories whose pipelines pass or fail.
#
# Screenshots of each view go to $FERRY_SCREENSHOTS (default
# <build dir>/meson-logs/screenshots). Skips (77) only when the local
# sandbox cannot run (not root) or no Chromium can be found.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "the local sandbox needs root (namespaces); skipping"
	exit 77
fi

CHROMIUM=${CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
	for c in chromium chromium-browser google-chrome; do
		if command -v "$c" >/dev/null 2>&1; then
			CHROMIUM=$(command -v "$c")
			break
		fi
	done
fi
if [ -z "$CHROMIUM" ] || ! $PY -c 'import websocket' 2>/dev/null; then
	echo "no chromium or python3-websocket (scripts/deps installs them); skipping"
	exit 77
fi
BUILD_ROOT=$(cd "$(dirname "$FERRY")/.." && pwd)
SHOTS=${FERRY_SCREENSHOTS:-$BUILD_ROOT/meson-logs/screenshots}
mkdir -p "$SHOTS"

PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
export SHOP_SECRET="shop-hook-secret"
export APP_TOKEN="app-gitlab-token"
export FERRY_API_TOKEN="page-token-4711"
cat >"$T/ferry.yml" <<YML
listen: 127.0.0.1:$PORT
data_dir: $T/var
workers: 4
public_url: $BASE
api_tokens: [env:FERRY_API_TOKEN]
repos:
  - name: acme/shop
    provider: github
    clone_url: $T/src/shop
    secret: env:SHOP_SECRET
    concurrency: 2
  - name: acme/broken
    provider: github
    clone_url: $T/src/broken
    secret: env:SHOP_SECRET
  - name: group/app
    provider: gitlab
    clone_url: $T/src/app
    secret: env:APP_TOKEN
  - name: acme/idle
    provider: github
    clone_url: $T/src/idle
    secret: env:SHOP_SECRET
YML
for r in shop broken app idle; do repo_init "$T/src/$r"; done

# commit REPO MESSAGE PIPELINE: commits a .ferry.yml, prints the sha.
commit() {
	printf '%s\n' "$3" >"$T/src/$1/.ferry.yml"
	repo_commit "$T/src/$1" "$2"
}

# gh_payload REPO SHA MESSAGE AUTHOR FILE: a signed-ready push body.
gh_payload() {
	payload github-push --repo "$1" --after "$2" --message "$3" \
	    --author "$4" >"$5"
}

# gh_push REPO SHA MESSAGE AUTHOR: pushes, prints the run id.
gh_push() {
	local f="$T/push-$RANDOM$RANDOM.json"
	gh_payload "$1" "$2" "$3" "$4" "$f"
	github_post push "dl-$RANDOM$RANDOM$RANDOM" "$f" "$SHOP_SECRET" >/dev/null
	jq_body 'd["run_id"]'
}

PASSING=$(cat <<'YML'
steps:
  - name: build
    commands: ["echo building", "echo built"]
  - name: test
    commands: ["echo testing", "echo all tests passed"]
YML
)
FAILING=$(cat <<'YML'
steps:
  - name: build
    commands: ["echo compiling"]
  - name: test
    commands:
      - echo "running 3 tests"
      - echo "<b>not bold</b> <script>document.title=1</script>"
      - 'echo "assertion failed: cart total" >&2'
      - exit 3
  - name: deploy
    commands: ["echo never"]
YML
)
SLOW=$(cat <<'YML'
steps:
  - name: wait
    commands: ["for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done"]
  - name: finish
    commands: ["echo done"]
YML
)
LONG=$(cat <<'YML'
steps:
  - name: long
    commands: ["echo started", "sleep 120"]
YML
)
XSS='<img src=x onerror="document.title='"'pwned'"'"> <script>document.title='"'pwned'"'</script> Break the cart'

ferry_start || { not_ok "ferry starts"; finish; }

# --- seed runs: passing, broken twice after a pass, GitLab -----------------
S0=$(commit shop "Add pipeline" "$PASSING")
RS0=$(gh_push acme/shop "$S0" "Add pipeline" "Jane Doe")
B0=$(commit broken "Initial import" "$PASSING")
RB0=$(gh_push acme/broken "$B0" "Initial import" "Jane Doe")
expect "a passing run" "$(wait_run "$RS0")" succeeded
expect "broken repo passes first" "$(wait_run "$RB0")" succeeded
B1=$(commit broken "$XSS" "$FAILING")
RB1=$(gh_push acme/broken "$B1" "$XSS" '<i>Eve</i> "the breaker"')
expect "the breaking run fails" "$(wait_run "$RB1")" failed
B2=$(commit broken "Still broken" "$FAILING")
RB2=$(gh_push acme/broken "$B2" "Still broken" "Jane Doe")
A0=$(commit app "GitLab pipeline" "$PASSING")
payload gitlab-push --repo group/app --after "$A0" --message "GitLab pipeline" >"$T/gl.json"
expect "gitlab push -> 202" "$(gitlab_post "Push Hook" gl-1 "$T/gl.json" "$APP_TOKEN")" 202
RA0=$(jq_body 'd["run_id"]')
expect "the latest broken run fails too" "$(wait_run "$RB2")" failed
expect "the gitlab run passes" "$(wait_run "$RA0")" succeeded
# For the browser: a slow run and a long one, pushed while it watches.
S1=$(commit shop "Slow pipeline" "$SLOW")
gh_payload acme/shop "$S1" "Slow pipeline" "Jane Doe" "$T/slow.json"
S2=$(commit shop "Long pipeline" "$LONG")
gh_payload acme/shop "$S2" "Long pipeline" "Jane Doe" "$T/long.json"

# --- the page's files: types, security headers, caching -----------------------
curl -sS -D "$T/h" -o "$T/index.html" "$BASE/" >/dev/null
hdr() { grep -i "^$1:" "$T/h" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
expect "GET / is HTML" "$(hdr Content-Type)" "text/html; charset=utf-8"
expect "CSP on the page" "$(hdr Content-Security-Policy)" \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
expect "nosniff" "$(hdr X-Content-Type-Options)" nosniff
expect "Referrer-Policy" "$(hdr Referrer-Policy)" no-referrer
check "the page has no inline script" $PY - "$T/index.html" <<'PYEOF'
import re, sys
html = open(sys.argv[1]).read()
scripts = re.findall(r'<script([^>]*)>(.*?)</script>', html, re.S)
assert scripts and all('src=' in a and not body.strip() for a, body in scripts)
assert not re.search(r'\son[a-z]+\s*=', html) and 'style=' not in html
PYEOF
ETAG=$(hdr ETag)
LM=$(hdr Last-Modified)
check "ETag and Last-Modified" test -n "$ETAG" -a -n "$LM"
rm -f "$T/body"
expect "If-None-Match -> 304" "$(http GET / -H "If-None-Match: $ETAG")" 304
check "a 304 has no body" test ! -s "$T/body"
expect "If-None-Match in a list, weak -> 304" \
    "$(http GET / -H "If-None-Match: \"x\", W/$ETAG")" 304
expect "another ETag -> 200" "$(http GET / -H 'If-None-Match: "nope"')" 200
expect "If-Modified-Since -> 304" "$(http GET / -H "If-Modified-Since: $LM")" 304
for f in app.js:text/javascript style.css:text/css favicon.svg:image/svg+xml; do
	curl -sS -D "$T/h" -o "$T/file" "$BASE/static/${f%%:*}" >/dev/null
	expect "/static/${f%%:*} content type" "$(hdr Content-Type | cut -d';' -f1)" "${f#*:}"
	check "/static/${f%%:*} has the CSP" test -n "$(hdr Content-Security-Policy)"
	check "/static/${f%%:*} equals static/${f%%:*}" cmp -s "$T/file" "$SRCDIR/static/${f%%:*}"
done
E2=$(curl -sS -D - -o /dev/null "$BASE/static/app.js" | grep -i '^etag:' | cut -d' ' -f2 | tr -d '\r')
expect "app.js revalidates -> 304" "$(http GET /static/app.js -H "If-None-Match: $E2")" 304
expect "HEAD / -> 200" "$(curl -sS -I -o /dev/null -w '%{http_code}' "$BASE/")" 200

# --- nothing outside static/ -------------------------------------------------
echo "secret-config-marker" >"$T/var/outside.txt"
for p in '/static/../ferry.yml' '/static/%2e%2e/x' '/static/%2e%2e/ferry.yml' \
    '/static/%2e%2e%2fferry.yml' '/static/..%2f..%2fetc%2fpasswd' \
    '/static/%2E%2E/%2E%2E/etc/passwd' '/static/./index.html' \
    '/static//etc/passwd' '/static/%2fetc%2fpasswd' '/static/' \
    '/static/..%5cferry.yml' '/static/index.html%00.js' '/static/nope.js' \
    '/static/../var/outside.txt' '/static/%252e%252e/ferry.yml'; do
	code=$(curl -sS --path-as-is -o "$T/body" -w '%{http_code}' "$BASE$p")
	expect "GET $p -> 404" "$code" 404
	check "GET $p leaks nothing" bash -c "! grep -qE 'listen:|root:|secret-config-marker' '$T/body'"
done

# --- badges -------------------------------------------------------------------------
badge() {
	curl -sS -D "$T/h" -o "$T/badge.svg" -w '%{http_code}' "$BASE/badge/$1"
}
badge_text() {
	$PY -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
t = [x.text for x in r.iter("{http://www.w3.org/2000/svg}text")]
print(r.get("aria-label") + "|" + t[-1])' "$T/badge.svg"
}
expect "badge of a passing repo -> 200" "$(badge acme/shop.svg)" 200
expect "badge type" "$(hdr Content-Type)" image/svg+xml
check "badge is not cached" bash -c "grep -i '^cache-control:' '$T/h' | grep -q no-cache && grep -i '^cache-control:' '$T/h' | grep -q no-store"
expect "passing badge" "$(badge_text)" "ferry: passing|passing"
expect "badge of a broken repo" "$(badge acme/broken.svg)" 200
expect "failing badge" "$(badge_text)" "ferry: failing|failing"
check "failing badge is red" grep -q '#c62828' "$T/badge.svg"
expect "badge of a repo without runs" "$(badge acme/idle.svg)" 200
expect "unknown badge" "$(badge_text)" "ferry: unknown|unknown"
expect "badge of an unconfigured repo -> 404" "$(badge acme/nope.svg)" 404
expect "... with the unknown badge" "$(badge_text)" "ferry: unknown|unknown"
expect "badge without .svg -> 404" "$(badge acme/shop)" 404

# --- OpenAPI -------------------------------------------------------------------------
expect "openapi.json -> 200" "$(http GET /api/v1/openapi.json)" 200
check "OpenAPI 3.1 with every endpoint of SPEC.md and the schemas" \
    $PY - "$T/body" "$BASE" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["openapi"].startswith("3.1"), d["openapi"]
assert d["servers"][0]["url"] == sys.argv[2]
want = {
    "/hooks/github": "post", "/hooks/gitlab": "post",
    "/api/v1/runs": "get", "/api/v1/runs/{id}": "get",
    "/api/v1/runs/{id}/steps/{name}/log": "get",
    "/api/v1/events": "get", "/api/v1/repos": "get",
    "/api/v1/runs/{id}/cancel": "post", "/api/v1/runs/{id}/rerun": "post",
    "/api/v1/repos/{owner}/{name}/runs": "post",
    "/badge/{owner}/{name}.svg": "get", "/": "get", "/healthz": "get",
    "/readyz": "get", "/metrics": "get", "/api/v1/openapi.json": "get",
}
for path, method in want.items():
    assert method in d["paths"].get(path, {}), path
    op = d["paths"][path][method]
    assert op.get("responses"), path
    for p in op.get("parameters", []):
        if p["in"] == "path":
            assert "{%s}" % p["name"] in path and p["required"], (path, p)
for path in ("/api/v1/runs/{id}/cancel", "/api/v1/runs/{id}/rerun",
             "/api/v1/repos/{owner}/{name}/runs"):
    assert d["paths"][path]["post"]["security"] == [{"bearerAuth": []}]
s = d["components"]["schemas"]
run = s["Run"]["properties"]
for k in ("id", "repo", "provider", "branch", "commit", "message", "author",
          "status", "reason", "created_at", "started_at", "finished_at",
          "duration_ms", "steps"):
    assert k in run, k
for k in ("name", "status", "exit_code", "started_at", "finished_at",
          "duration_ms"):
    assert k in s["Step"]["properties"], k
assert s["Error"]["properties"]["error"]["required"] == ["code", "message"]
assert set(s["RunStatus"]["enum"]) == {"queued", "running", "succeeded",
    "failed", "cancelled", "error"}
def refs(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from refs(v)
for r in refs(d):
    assert r.startswith("#/components/schemas/") and r.split("/")[-1] in s, r
PYEOF
http GET "/api/v1/runs/$RS0" >/dev/null
check "a real run validates against the Run schema's required fields" \
    $PY - "$T/body" <<'PYEOF'
import json, sys
run = json.load(open(sys.argv[1]))
for k in ("id", "repo", "provider", "branch", "commit", "status",
          "created_at", "steps"):
    assert k in run, k
assert all(k in st for st in run["steps"] for k in ("name", "status",
    "exit_code", "started_at", "finished_at", "duration_ms"))
PYEOF

# --- the page in a browser ------------------------------------------------------------
cat >"$T/plan.json" <<JSON
{"base": "$BASE", "shots": "$SHOTS", "chromium": "$CHROMIUM",
 "chromium_log": "$T/chromium.log", "token": "$FERRY_API_TOKEN",
 "secret": "$SHOP_SECRET",
 "runs": {"shop": $RS0, "broken_ok": $RB0, "broke": $RB1, "broken": $RB2,
          "gitlab": $RA0},
 "commits": {"shop": "$S0", "broke": "$B1", "broken": "$B2",
             "gitlab": "$A0"},
 "pushes": {"slow": "$T/slow.json", "long": "$T/long.json"}}
JSON
echo "# screenshots: $SHOTS"
if $PY "$SRCDIR/tests/browser/test_page.py" "$T/plan.json"; then
	ok "the status page in Chromium"
else
	not_ok "the status page in Chromium"
	echo "--- chromium log ---"
	tail -n 20 "$T/chromium.log" 2>/dev/null
fi

finish
