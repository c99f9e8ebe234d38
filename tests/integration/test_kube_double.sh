#!/bin/sh
# test_kube_double.sh - runs the Kubernetes API double's self-test
# (tests/kube/selftest.sh), so the suite notices when the double that the
# Kubernetes executor is tested against stops behaving as its README says.
# Exit status: 0 pass, 1 fail, 77 skip.
: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec bash "$SRCDIR/tests/kube/selftest.sh"
