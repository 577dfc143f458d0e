#!/usr/bin/env bash
# The whole test suite: cmocka unit tests, then the integration tests that
# start real peers (redis-server, the dev broker, fake channel servers) on
# 127.0.0.1.  Ends with one line "N passed, N failed".
#
# Environment: BUILD (build dir, default build), CS_VALGRIND=1 (C programs
# under valgrind memcheck), CS_TEST_FILTER (integration test name substring).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

passed=0
failed=0
export CS_PIDFILE
CS_PIDFILE=$(mktemp /tmp/cs-test-pids.XXXXXX)
trap 'rm -f "$CS_PIDFILE"' EXIT

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    if [ "${CS_VALGRIND:-}" = 1 ]; then
        out=$(CMOCKA_MESSAGE_OUTPUT=TAP valgrind --quiet --error-exitcode=99 \
              --leak-check=full --errors-for-leak-kinds=definite "$t" 2>&1)
        rc=$?
    else
        out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1)
        rc=$?
    fi
    echo "$out" | sed "s|^|  $(basename "$t"): |"
    ok=$(echo "$out" | grep -c '^ok ')
    bad=$(echo "$out" | grep -c '^not ok ')
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        echo "  $(basename "$t"): exited $rc (crash or valgrind error)"
        bad=1
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
done

echo "== integration tests"
out_file=$(mktemp /tmp/cs-test-out.XXXXXX)
BUILD=$BUILD "$PY" tests/integration/runner.py 2>&1 | tee "$out_file"
line=$(grep '^PYRESULT ' "$out_file" | tail -1)
rm -f "$out_file"
if [ -z "$line" ]; then
    echo "integration runner did not report (crashed?)"
    failed=$((failed + 1))
else
    p=$(echo "$line" | sed 's/.*passed=\([0-9]*\).*/\1/')
    f=$(echo "$line" | sed 's/.*failed=\([0-9]*\).*/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
fi

# Every process the harness started must be gone.
left=""
while read -r pid; do
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
        left="$left $pid"
        kill -9 "$pid" 2>/dev/null
    fi
done < "$CS_PIDFILE"
if [ -n "$left" ]; then
    echo "processes left running by the tests:$left"
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
