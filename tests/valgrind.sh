#!/usr/bin/env bash
# exe_wrapper of `meson test --setup=valgrind` (tests/meson.build).
#
# A unit runner runs under valgrind itself, forking as usual (some tests
# expect an abort, which needs CK_FORK): valgrind follows the forked
# children, and a child with an error or a definite leak exits 99, which
# check reports as that test's failure. An integration script runs as it is, but $FERRY becomes a shim
# that starts the real binary under valgrind, so every ferry process the
# script starts - the server included - is checked; each writes its own
# log. Afterwards any memory error or definite leak in those logs fails
# the test: the script's last line "N passed, N failed" is reprinted
# with one more failure. Processes killed with SIGKILL report only the
# errors seen until then (no leak check).
set -u

VG=(valgrind --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --num-callers=30 --max-threads=1500)

case "${1:-}" in
*.sh) ;;
*) exec "${VG[@]}" "$@";;
esac
# ferry's sandbox init is a clone() of it that never execs: silence that
# copy (it reports its status on a pipe, not by its exit code).
VG+=(--child-silent-after-fork=yes)

: "${FERRY:?FERRY must name the ferry binary}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-vg.XXXXXX")
trap 'rm -rf "$dir"' EXIT
{
	echo '#!/bin/sh'
	printf 'exec'
	printf ' %q' "${VG[@]}" "--log-file=$dir/vg.%p.log" "$FERRY"
	echo ' "$@"'
} >"$dir/ferry"
chmod +x "$dir/ferry"
export FERRY="$dir/ferry"
# Scripts may relax checks that only measure speed (tests/integration).
export FERRY_UNDER_VALGRIND=1

"$@" | tee "$dir/out"
rc=${PIPESTATUS[0]}

bad=0
for f in "$dir"/vg.*.log; do
	[ -e "$f" ] || continue
	if grep -qE 'ERROR SUMMARY: [1-9]|Invalid (read|write|free)|uninitialised|definitely lost in|Mismatched free|overlap' "$f"; then
		echo "valgrind: errors in $(basename "$f"):"
		grep -E -A 20 'ERROR SUMMARY: [1-9]|Invalid (read|write|free)|uninitialised|definitely lost in|Mismatched free|overlap' "$f" |
		    head -n 60
		bad=$((bad + 1))
	fi
done
if [ "$bad" -gt 0 ]; then
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$dir/out" | tail -n 1)
	p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	echo "${p:-0} passed, $((${f:-0} + 1)) failed"
	exit 1
fi
exit "$rc"
