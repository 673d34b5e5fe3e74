#!/usr/bin/env bash
# Loopback benchmark, in one run: sipp uac -> sipp uas calls/s, icephone's load mode on a
# plain (non-ICE) call scenario, the ratio, and icephone's rate with ICE on.
# Bounded: N calls each (default 2000), every process under `timeout`. Prints figures; it is
# not a test. Usage: scenarios/bench.sh [CALLS] [RATE] [CONCURRENCY]
# The rate asked for is far above what either side reaches, so both run as fast as the
# concurrency limit and the CPUs allow (a rate that both reach would compare nothing).
set -euo pipefail

CALLS=${1:-2000}
RATE=${2:-10000}
LIMIT=${3:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIPP=${SIPP:-/usr/bin/sipp}
TMP=$(mktemp -d)
UAS_PID=""
cleanup() {
    if [ -n "$UAS_PID" ]; then kill "$UAS_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

cargo build --release -q -p icephone --manifest-path "$ROOT/Cargo.toml"
ICEPHONE="$ROOT/target/release/icephone"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }

# --- sipp uac -> sipp uas (built-in scenarios, no media, 0 ms call duration) ---------------
PORT_UAS=$((20000 + RANDOM % 20000))
timeout 120 "$SIPP" -sn uas -i 127.0.0.1 -p "$PORT_UAS" -nostdin -timeout 100s \
    >"$TMP/uas.log" 2>&1 &
UAS_PID=$!
sleep 0.5
T0=$(now)
SIPP_RC=0
timeout 100 "$SIPP" -sn uac "127.0.0.1:$PORT_UAS" -i 127.0.0.1 -p $((PORT_UAS + 1)) \
    -m "$CALLS" -r "$RATE" -l "$LIMIT" -d 0 -nostdin -timeout 90s \
    >"$TMP/uac.log" 2>&1 || SIPP_RC=$?
T1=$(now)
kill "$UAS_PID" 2>/dev/null || true
wait "$UAS_PID" 2>/dev/null || true
UAS_PID=""
SIPP_RATE=$(rate "$CALLS" "$T0" "$T1")

# --- icephone load mode: the same call flow, no ICE, no media wait -------------------------
cat >"$TMP/plain.toml" <<'TOML'
name = "bench plain"
timeout_ms = 10000
[agents.uac]
ice = false
steps = [
  { call = "${uas.uri}" },
  { expect = "call.established", timeout_ms = 5000 },
  { hangup = true },
  { expect = "call.ended", timeout_ms = 5000 },
]
[agents.uas]
ice = false
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 5000 }]
TOML
sed -e 's/^ice = false$/ice = true/' -e 's/bench plain/bench ice/' \
    -e 's/{ hangup = true },/{ expect = "ice.selected", timeout_ms = 5000 },\n  { hangup = true },/' \
    "$TMP/plain.toml" >"$TMP/ice.toml"

run_icephone() {
    timeout 120 "$ICEPHONE" run "$1" --calls "$CALLS" --rate "$RATE" --concurrency "$LIMIT" \
        --json 2>"$TMP/$2.err" | grep '"load_stats"' || true
}
PLAIN_JSON=$(run_icephone "$TMP/plain.toml" plain)
ICE_JSON=$(run_icephone "$TMP/ice.toml" ice)
field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"; }
one_decimal() { awk -v x="$1" 'BEGIN { if (x == "") print "?"; else printf "%.1f", x }'; }
PLAIN_RATE=$(one_decimal "$(field "$PLAIN_JSON" calls_per_second)")
ICE_RATE=$(one_decimal "$(field "$ICE_JSON" calls_per_second)")

echo "loopback, $CALLS calls, rate $RATE/s, at most $LIMIT at once, $(nproc) CPU(s)"
echo "sipp uac -> sipp uas:        $SIPP_RATE calls/s (uac exit $SIPP_RC)"
echo "icephone load, no ICE:       $PLAIN_RATE calls/s ($(field "$PLAIN_JSON" succeeded) ok)"
echo "icephone load, ICE on:       $ICE_RATE calls/s ($(field "$ICE_JSON" succeeded) ok)"
awk -v a="$PLAIN_RATE" -v b="$SIPP_RATE" 'BEGIN { printf "ratio icephone/sipp (no ICE): %.2f\n", a / b }'
echo "--- icephone (no ICE) stats"; grep -E "^(calls|setup|ICE|CPU|  failed)" "$TMP/plain.err" || true
echo "--- icephone (ICE) stats";    grep -E "^(calls|setup|ICE|CPU|  failed)" "$TMP/ice.err" || true
