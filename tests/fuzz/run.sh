#!/bin/sh
# run.sh TARGET: one timed libFuzzer run, called by `make fuzz` (fuzz.mk).
#
# Environment (set by fuzz.mk): FUZZ_BUILD, FUZZ_SECONDS, FUZZ_MAXLEN,
# FUZZ_DICT, FUZZ_FLAGS (extra libFuzzer flags, may be empty).
#
# 1. Fuzzes for FUZZ_SECONDS.  New inputs go to $FUZZ_BUILD/corpus/TARGET
#    (the first directory), the committed tests/fuzz/corpus/TARGET is only
#    read.  Crashes, leaks, timeouts and OOMs go to $FUZZ_BUILD/artifacts/.
# 2. Replays both corpora once with leak detection on, for targets whose
#    timed run turns it off (fuzz_config: see README.md).
# Exit status 0 when both steps pass, 1 otherwise, with the report printed.
set -u

t=$1
here=$(cd "$(dirname "$0")" && pwd)
bin=$FUZZ_BUILD/bin/$t
scratch=$FUZZ_BUILD/corpus/$t
seeds=$here/corpus/$t
log=$FUZZ_BUILD/logs/$t.log
replay_log=$FUZZ_BUILD/logs/$t-replay.log
artifacts=$FUZZ_BUILD/artifacts/$t-

mkdir -p "$scratch" "$FUZZ_BUILD/artifacts" "$FUZZ_BUILD/logs"
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS LSAN_OPTIONS

# The sanitizer or harness report of a failed run, else the end of the log.
report() {
    echo "fuzz: $t FAILED (log: $1)"
    if grep -qE '^==[0-9]+==|runtime error|^fuzz_' "$1"; then
        sed -n '/^==[0-9]*==\|runtime error\|^fuzz_/,$p' "$1" | head -n 80
    else
        tail -n 30 "$1"
    fi
    echo "fuzz: reproduce with: $bin ${artifacts}<name>   (see tests/fuzz/README.md)"
}

echo "fuzz: $t for $FUZZ_SECONDS s (log: $log)"
# FUZZ_FLAGS is a list of flags: word splitting wanted.
# shellcheck disable=SC2086
if ! "$bin" -max_total_time="$FUZZ_SECONDS" -max_len="$FUZZ_MAXLEN" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -dict="$FUZZ_DICT" \
        -artifact_prefix="$artifacts" $FUZZ_FLAGS "$scratch" "$seeds" \
        </dev/null >"$log" 2>&1; then
    report "$log"
    exit 1
fi

if ! "$bin" -runs=0 -detect_leaks=1 -max_len="$FUZZ_MAXLEN" -timeout=10 \
        -artifact_prefix="$artifacts" "$scratch" "$seeds" \
        </dev/null >"$replay_log" 2>&1; then
    report "$replay_log"
    exit 1
fi

echo "fuzz: $t ok: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$log" | sed "s/^/fuzz: $t   /"
