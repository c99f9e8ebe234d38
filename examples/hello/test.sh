#!/bin/sh
# Each step starts from a fresh checkout, so the test builds what it runs.
set -e
mkdir -p out
cc -O2 -o out/hello hello.c 2>/dev/null || printf '#!/bin/sh\necho hello, ferry\n' > out/hello
chmod +x out/hello
out="$(./out/hello)"
[ "$out" = "hello, ferry" ] || { echo "unexpected output: $out"; exit 1; }
echo "test ok: $out"
