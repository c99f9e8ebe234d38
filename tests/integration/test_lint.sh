#!/usr/bin/env bash
# `ferry lint` and `ferry plan` on real files and real repositories.
. "$(dirname "$0")/lib.sh"

cat >"$T/good.yml" <<'YML'
steps:
  - name: build
    image: gcc:13
    commands: [make]
  - name: test
    needs: [build]
    commands: [make check]
  - name: lint
    needs: [build]
    commands: [make lint]
  - name: deploy
    needs: [test, lint]
    deploy: true
    commands: [./deploy.sh]
YML
out=$("$FERRY" lint "$T/good.yml"); rc=$?
expect "lint of a valid file exits 0" "$rc" 0
expect "lint prints the plan" "$out" "$T/good.yml: 4 steps, a DAG
1. build
2. test, lint (parallel)
3. deploy [deploy]"

cat >"$T/bad.yml" <<'YML'
steps:
  - name: build
    commands: [make]
  - name: build
    comands: [x]
    needs: [nope]
  - name: t
    timeout: 5x
    commands: [{a: b}]
YML
out=$("$FERRY" lint "$T/bad.yml"); rc=$?
expect "lint of an invalid file exits 1" "$rc" 1
check "duplicate name with line and column" grep -q "^$T/bad.yml:4:[0-9]*: duplicate step name" <<<"$out"
check "unknown key with line and column" grep -q "^$T/bad.yml:5:5: unknown key \"comands\"" <<<"$out"
check "unknown needs reported" grep -q "^$T/bad.yml:6:[0-9]*: .*nope" <<<"$out"
check "bad duration reported" grep -q "^$T/bad.yml:8:[0-9]*: invalid duration \"5x\"" <<<"$out"
check "non-string command reported" grep -q "^$T/bad.yml:9:[0-9]*: .*command" <<<"$out"
expect "every problem is listed" "$(wc -l <<<"$out")" 6

printf 'steps:\n  - name: a\n    needs: [b]\n    commands: [x]\n  - name: b\n    needs: [a]\n    commands: [y]\n' >"$T/cycle.yml"
out=$("$FERRY" lint "$T/cycle.yml"); rc=$?
expect "a cycle exits 1" "$rc" 1
check "the cycle is named" grep -q "cycle: a -> b -> a\|cycle: b -> a -> b" <<<"$out"

head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' '#' >"$T/huge.yml"
out=$("$FERRY" lint "$T/huge.yml"); rc=$?
expect "a 10 MB file exits 1" "$rc" 1
expect "a 10 MB file is refused" "$out" "$T/huge.yml:1:1: pipeline file is larger than 64 KiB"
: >"$T/empty.yml"
"$FERRY" lint "$T/empty.yml" >/dev/null; expect "an empty file exits 1" "$?" 1
"$FERRY" lint "$T/missing.yml" >/dev/null 2>&1; expect "a missing file exits 1" "$?" 1
"$FERRY" lint a b >/dev/null 2>&1; expect "lint with two files is a usage error" "$?" 2

# --- ferry plan on a real repository, two commits ---------------------------------
export HOOK_SECRET=x
SRC="$T/src/app"
repo_init "$SRC"
printf 'steps:\n  - name: one\n    commands: [true]\n' >"$SRC/.ferry.yml"
OLD=$(repo_commit "$SRC" "one step")
printf 'steps:\n  - name: one\n    commands: [true]\n  - name: two\n    commands: [true]\n' >"$SRC/.ferry.yml"
NEW=$(repo_commit "$SRC" "two steps")
cat >"$T/ferry.yml" <<YML
data_dir: $T/var
repos:
  - name: acme/app
    provider: github
    clone_url: $SRC
    secret: env:HOOK_SECRET
YML
out=$("$FERRY" plan --config "$T/ferry.yml" --repo acme/app --commit "$NEW"); rc=$?
expect "plan of the newer commit exits 0" "$rc" 0
expect "plan of the newer commit" "$(tail -n +2 <<<"$out")" "1. one
2. two"
out=$("$FERRY" plan --config "$T/ferry.yml" --repo acme/app --commit "$OLD")
expect "plan of the older commit is its own" "$(tail -n +2 <<<"$out")" "1. one"
out=$("$FERRY" plan --config "$T/ferry.yml" --repo acme/app --commit 0123456789abcdef0123456789abcdef01234567 2>&1); rc=$?
expect "plan of an unknown commit exits 1" "$rc" 1
check "unknown commit message" grep -q "commit 0123456 not found in acme/app after fetch" <<<"$out"
"$FERRY" plan --config "$T/ferry.yml" --repo acme/app >/dev/null 2>&1
expect "plan without --commit is a usage error" "$?" 2

finish
