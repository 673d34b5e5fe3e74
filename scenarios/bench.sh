#!/usr/bin/env bash
# Load benchmarks of issue 15 on loopback, every figure beside sipp's measured in the same
# run on the same machine. Prints figures; it is not a test. Sections, in order (pick some
# with BENCH="rate sweep memory answer rtp"):
#   rate    sipp uac -> sipp uas calls/s, icephone load mode on the same plain call flow (no
#           ICE, no media wait), the ratio; icephone with ICE on; setup p99 of each.
#   sweep   icephone's rate, failures and setup p99 at --concurrency 50, 500 and 2000, plain
#           and with ICE (a higher limit must not lower the rate or time calls out).
#   memory  peak memory per concurrent call: 1,000 held ICE calls with media in load mode
#           (both ends of each call in the one process), beside sipp uac + uas holding 1,000.
#   answer  `icephone answer --max-calls 1000` holding 1,000 calls from sipp with RTP both ways.
#   rtp     RTP send-time gaps under a CPU hog beside sipp's (scenarios/bench-rtp.sh; needs
#           root for tcpdump, skipped with a note otherwise).
# Bounded: every process runs under `timeout`, every load has a fixed number of calls.
# Usage: scenarios/bench.sh [CALLS] [RATE] [CONCURRENCY]   (defaults 2000 10000 50)
# The rate asked for is far above what either side reaches, so both run as fast as the
# concurrency limit and the CPUs allow (a rate that both reach would compare nothing).
set -euo pipefail

CALLS=${1:-2000}
RATE=${2:-10000}
LIMIT=${3:-50}
SECTIONS=${BENCH:-rate sweep memory answer rtp}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIPP=${SIPP:-/usr/bin/sipp}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "${ICEPHONE:-}" ]; then
    cargo build --release -q -p icephone --manifest-path "$ROOT/Cargo.toml"
fi
ICEPHONE=${ICEPHONE:-$ROOT/target/release/icephone}

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
free_port() { echo $((20000 + RANDOM % 20000)); }
wants() { [[ " $SECTIONS " == *" $1 "* ]]; }
# Peak resident memory of a finished process, in KiB, from GNU time's -f "%M" file.
peak_kib() { tail -n 1 "$1" | tr -dc '0-9'; }

# --- the call flows ---------------------------------------------------------------------------
cat >"$TMP/plain.toml" <<'TOML'
name = "bench plain"
timeout_ms = 20000
[agents.uac]
ice = false
steps = [
  { call = "${uas.uri}" },
  { expect = "call.established", timeout_ms = 15000 },
  { hangup = true },
  { expect = "call.ended", timeout_ms = 5000 },
]
[agents.uas]
ice = false
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 15000 }]
TOML
sed -e 's/^ice = false$/ice = true/' -e 's/bench plain/bench ice/' \
    -e 's/{ hangup = true },/{ expect = "ice.selected", timeout_ms = 15000 },\n  { hangup = true },/' \
    "$TMP/plain.toml" >"$TMP/ice.toml"
# Held calls with ICE and media: each holds its call HOLD_MS, so all of them are up at once.
HOLD_MS=8000
cat >"$TMP/held.toml" <<TOML
name = "bench held"
timeout_ms = 40000
[agents.uac]
steps = [
  { call = "\${uas.uri}" },
  { expect = "call.established", timeout_ms = 15000 },
  { wait_ms = $HOLD_MS },
  { hangup = true },
  { assert = "rtp_received", min = 10 },
]
[agents.uas]
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 35000 }]
TOML

# icephone load mode: "$1" scenario, "$2" calls, "$3" concurrency, "$4" label; the summary
# lines land in $TMP/$4.err, the load_stats JSON in $TMP/$4.json.
load() {
    timeout 180 "$ICEPHONE" run "$1" --calls "$2" --rate "$RATE" --concurrency "$3" \
        --json 2>"$TMP/$4.err" | grep '"load_stats"' >"$TMP/$4.json" || true
}
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$TMP/$1.json"; }
one_decimal() { awk -v x="$1" 'BEGIN { if (x == "") print "?"; else printf "%.1f", x }'; }
setup_p99() { sed -n 's/^setup time ms: .* p99 \([0-9-]*\) .*/\1/p' "$TMP/$1.err"; }
failed() { sed -n 's/.*failed \([0-9]*\) in .*/\1/p' "$TMP/$1.err"; }

# --- rate: sipp uac -> sipp uas, then icephone on the same flow -------------------------------
# Peak resident memory of a running process (and its children), in KiB.
peak_of_tree() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        local kib
        kib=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}
sipp_pair() { # $1 calls, $2 concurrency, $3 call duration ms, $4 label: prints calls/s
    local port
    port=$(free_port)
    timeout 120 "$SIPP" -sn uas -i 127.0.0.1 -p "$port" -nostdin -timeout 100s \
        >"$TMP/$4-uas.log" 2>&1 &
    local uas=$!
    PIDS+=("$uas")
    sleep 0.5
    local t0 t1
    t0=$(now)
    /usr/bin/time -f "%M" -o "$TMP/$4-uac.time" timeout 100 "$SIPP" -sn uac \
        "127.0.0.1:$port" -i 127.0.0.1 -p $((port + 1)) -m "$1" -r "$RATE" -l "$2" -d "$3" \
        -nostdin -timeout 90s >"$TMP/$4-uac.log" 2>&1 || echo "  (sipp uac $4 exited non-zero)" >&2
    t1=$(now)
    # The uas runs until killed: its peak is read while it still runs.
    peak_of_tree "$uas" >"$TMP/$4-uas.peak"
    kill "$uas" 2>/dev/null || true
    wait "$uas" 2>/dev/null || true
    rate "$1" "$t0" "$t1"
}

if wants rate; then
    SIPP_RATE=$(sipp_pair "$CALLS" "$LIMIT" 0 sipp)
    load "$TMP/plain.toml" "$CALLS" "$LIMIT" plain
    load "$TMP/ice.toml" "$CALLS" "$LIMIT" ice
    PLAIN_RATE=$(one_decimal "$(field plain calls_per_second)")
    ICE_RATE=$(one_decimal "$(field ice calls_per_second)")
    echo "== rate: loopback, $CALLS calls, rate $RATE/s, at most $LIMIT at once, $(nproc) CPU(s)"
    echo "sipp uac -> sipp uas:        $SIPP_RATE calls/s"
    echo "icephone load, no ICE:       $PLAIN_RATE calls/s ($(field plain succeeded) ok, $(failed plain) failed, setup p99 $(setup_p99 plain) ms)"
    echo "icephone load, ICE on:       $ICE_RATE calls/s ($(field ice succeeded) ok, $(failed ice) failed, setup p99 $(setup_p99 ice) ms)"
    awk -v a="$PLAIN_RATE" -v b="$SIPP_RATE" 'BEGIN { printf "ratio icephone/sipp (no ICE): %.2f\n", a / b }'
    grep -E "^CPU" "$TMP/plain.err" | sed 's/^/  no ICE: /' || true
    grep -E "^CPU" "$TMP/ice.err" | sed 's/^/  ICE:    /' || true
fi

# --- sweep: the rate as the concurrency limit rises -------------------------------------------
if wants sweep; then
    echo "== sweep: icephone load mode by --concurrency ($CALLS calls, or 2 x the limit)"
    for limit in 50 500 2000; do
        n=$((CALLS > 2 * limit ? CALLS : 2 * limit))
        for kind in plain ice; do
            load "$TMP/$kind.toml" "$n" "$limit" "sweep-$kind-$limit"
            printf "  %-5s concurrency %4d: %7s calls/s, %s ok, %s failed, setup p99 %s ms\n" \
                "$kind" "$limit" "$(one_decimal "$(field "sweep-$kind-$limit" calls_per_second)")" \
                "$(field "sweep-$kind-$limit" succeeded)" "$(failed "sweep-$kind-$limit")" \
                "$(setup_p99 "sweep-$kind-$limit")"
        done
    done
fi

# --- memory: 1,000 calls held at once ---------------------------------------------------------
if wants memory; then
    HELD=1000
    load "$TMP/held.toml" 1 1 held-one
    load "$TMP/held.toml" "$HELD" "$HELD" held
    BASE=$(sed -n 's/.*VmHWM): \([0-9]*\) KiB.*/\1/p' "$TMP/held-one.err")
    PEAK=$(sed -n 's/.*VmHWM): \([0-9]*\) KiB.*/\1/p' "$TMP/held.err")
    sipp_pair "$HELD" "$HELD" "$HOLD_MS" held-sipp >/dev/null
    SIPP_PEAK=$(( $(peak_kib "$TMP/held-sipp-uac.time") + $(cat "$TMP/held-sipp-uas.peak") ))
    echo "== memory: $HELD calls held ${HOLD_MS} ms at once, on loopback"
    echo "icephone (both ends, ICE and RTP both ways): peak $PEAK KiB, one call alone $BASE KiB;" \
        "per concurrent call $(( (PEAK - BASE) / HELD )) KiB ($(field held succeeded) ok, $(failed held) failed)"
    echo "sipp uac + uas (no media):                   peak $SIPP_PEAK KiB; per concurrent call" \
        "$(( SIPP_PEAK / HELD )) KiB ($(sed -n 's/.*Successful call *| *[0-9]* *| *\([0-9]*\).*/\1/p' "$TMP/held-sipp-uac.log" | tail -n 1) ok)"
fi

# --- answer: icephone answer --max-calls 1000 holding calls from sipp -------------------------
if wants answer; then
    N=1000
    PORT=$(free_port)
    # sipp's RTP stream plays a PCMU tone (sipp-rtp-uac.xml), icephone answers each with a tone.
    cp "$ROOT/scenarios/sipp-rtp-uac.xml" "$TMP/"
    python3 - "$TMP/tone.wav" 12 <<'PY'
import math, struct, sys
def ulaw(x):
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 0x84
    exp = max(e for e in range(8) if x >= (0x84 << e)) if x >= 0x84 else 0
    return ~(sign | (exp << 4) | ((x >> (exp + 3)) & 0x0F)) & 0xFF
n = 8000 * int(sys.argv[2])
data = bytes(ulaw(int(8000 * math.sin(2 * math.pi * 1000 * i / 8000))) for i in range(n))
fmt = struct.pack('<HHIIHHH', 7, 1, 8000, 8000, 1, 8, 0)
body = b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', len(data)) + data
open(sys.argv[1], 'wb').write(b'RIFF' + struct.pack('<I', 4 + len(body)) + b'WAVE' + body)
PY
    /usr/bin/time -f "%M" -o "$TMP/answer.time" timeout 120 "$ICEPHONE" answer \
        --bind "127.0.0.1:$PORT" --max-calls "$N" --calls "$N" --tone 440 --json \
        >"$TMP/answer.out" 2>"$TMP/answer.err" &
    ANSWER=$!
    PIDS+=("$ANSWER")
    sleep 1
    # Its memory before any call (the process under /usr/bin/time and timeout).
    IDLE=0
    for p in $(pgrep -f -- "--bind 127.0.0.1:$PORT --max-calls" || true); do
        kib=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null || true)
        if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = icephone ]; then IDLE=${kib:-0}; fi
    done
    T0=$(now)
    (cd "$TMP" && timeout 100 "$SIPP" -sf sipp-rtp-uac.xml -s bench -m "$N" -l "$N" -r 250 \
        -d "$HOLD_MS" -i 127.0.0.1 -p $((PORT + 1)) -mp 30000 -nostdin -timeout 90s \
        -trace_stat -stf "$TMP/sipp-answer.csv" "127.0.0.1:$PORT" >"$TMP/sipp-answer.log" 2>&1) \
        || { echo "  (sipp uac exited non-zero; its last lines:)"; tail -n 5 "$TMP/sipp-answer.log"; }
    T1=$(now)
    ANSWER_RC=0
    wait "$ANSWER" || ANSWER_RC=$?
    MEDIA=$(grep -c '"event":"media"' "$TMP/answer.out" || true)
    WITH_RTP=$(grep '"event":"media"' "$TMP/answer.out" | grep -vc '"rtp_received":0,' || true)
    SIPP_OK=$(tail -n 1 "$TMP/sipp-answer.csv" 2>/dev/null | awk -F';' '{ print $16 }' || true)
    echo "== answer: icephone answer --max-calls $N <- sipp, $N calls of ${HOLD_MS} ms with RTP both ways"
    echo "sipp successful calls: ${SIPP_OK:-?} of $N in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s;" \
        "icephone exit $ANSWER_RC, $MEDIA calls reported media, $WITH_RTP of them received RTP;" \
        "peak memory $(peak_kib "$TMP/answer.time") KiB, $IDLE KiB before the first call:" \
        "per held call $(( ($(peak_kib "$TMP/answer.time") - IDLE) / N )) KiB"
fi

# --- rtp: send-time regularity under a CPU hog -------------------------------------------------
if wants rtp; then
    echo "== rtp:"
    if [ "$(id -u)" = 0 ] && command -v tcpdump >/dev/null; then
        ICEPHONE="$ICEPHONE" SIPP="$SIPP" "$ROOT/scenarios/bench-rtp.sh" 10
    else
        echo "skipped: scenarios/bench-rtp.sh needs root and tcpdump to capture lo"
    fi
fi
