#!/usr/bin/env bash
# RTP send-time regularity, icephone beside a peer (issue 15): one plain call on loopback,
# sipp (its RTP stream thread playing a PCMU WAV) -> `icephone answer --tone 440`, captured
# on lo; the gaps between consecutive RTP packets of each sender are printed (p50, p99,
# max, and how many exceed 30 ms and 60 ms), first on a quiet machine, then with HOGS_PER_CPU
# (default 4) busy `yes` per CPU at normal priority, as a parallel compile would load it.
# Bounded: two calls of SECONDS (default 10), every process under `timeout`; needs root for
# tcpdump. Prints figures; it is not a test. Usage: scenarios/bench-rtp.sh [SECONDS]
# ICEPHONE=path uses that binary instead of building target/release/icephone.
set -euo pipefail

SECS=${1:-10}
[[ $SECS =~ ^[1-9][0-9]?$ ]] || { echo "bench-rtp.sh: SECONDS must be 1..99" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIPP=${SIPP:-/usr/bin/sipp}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

if [ -z "${ICEPHONE:-}" ]; then
    cargo build --release -q -p icephone --manifest-path "$ROOT/Cargo.toml"
fi
ICEPHONE=${ICEPHONE:-$ROOT/target/release/icephone}
cp "$ROOT/scenarios/sipp-rtp-uac.xml" "$TMP/"

# A PCMU WAV (format 7) of a 1 kHz tone for sipp's RTP stream, SECS + 2 seconds long.
python3 - "$TMP/tone.wav" "$((SECS + 2))" <<'PY'
import math, struct, sys
def ulaw(x):
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 0x84
    exp = max(e for e in range(8) if x >= (0x84 << e)) if x >= 0x84 else 0
    mant = (x >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF
n = 8000 * int(sys.argv[2])
data = bytes(ulaw(int(8000 * math.sin(2 * math.pi * 1000 * i / 8000))) for i in range(n))
fmt = struct.pack('<HHIIHHH', 7, 1, 8000, 8000, 1, 8, 0)
body = b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', len(data)) + data
open(sys.argv[1], 'wb').write(b'RIFF' + struct.pack('<I', 4 + len(body)) + b'WAVE' + body)
PY

one_call() { # $1: label
    local port=$((20000 + RANDOM % 20000)) cap="$TMP/$1.pcap"
    timeout $((SECS + 30)) tcpdump -i lo -n -w "$cap" "udp and not port $port and not port $((port + 1))" \
        >"$TMP/tcpdump-$1.log" 2>&1 &
    local tcpdump=$!
    PIDS+=("$tcpdump")
    timeout $((SECS + 20)) "$ICEPHONE" answer --bind "127.0.0.1:$port" --no-ice --calls 1 \
        --tone 440 >"$TMP/answer-$1.out" 2>"$TMP/answer-$1.err" &
    local answer=$!
    PIDS+=("$answer")
    sleep 1
    (cd "$TMP" && timeout $((SECS + 20)) "$SIPP" -sf sipp-rtp-uac.xml -s bench -m 1 -l 1 \
        -d $((SECS * 1000)) -i 127.0.0.1 -p $((port + 1)) -mp 30000 -nostdin -timeout $((SECS + 15))s \
        "127.0.0.1:$port" >"$TMP/sipp-$1.log" 2>&1) || echo "sipp ($1) exited non-zero: see below"
    wait "$answer" || true
    sleep 0.5
    kill -INT "$tcpdump" 2>/dev/null || true
    wait "$tcpdump" 2>/dev/null || true
    # Source port of each RTP stream, then the gaps between its packets' capture times.
    tshark -r "$cap" -d "udp.port==1-65535,rtp" -Y "rtp.version==2 && !rtcp" \
        -T fields -e frame.time_epoch -e udp.srcport -e udp.dstport -e rtp.ssrc 2>/dev/null \
        >"$TMP/$1.rtp"
    python3 - "$TMP/$1.rtp" "$1" <<'PY'
import sys, collections
streams = collections.defaultdict(list)
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 4:
        # sipp's RTP stream sends from its -mp port (30000); icephone answers to it. Other
        # RTP on lo (another test's call) is ignored.
        src, dst = int(parts[1]), int(parts[2])
        who = "sipp" if src == 30000 else "icephone" if dst == 30000 else None
        if who is None:
            continue
        streams[who].append(float(parts[0]))
def pct(v, p):
    s = sorted(v)
    return s[max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))]
for who in ("icephone", "sipp"):
    times = streams.get(who, [])
    gaps = [(b - a) * 1000 for a, b in zip(times, times[1:])]
    if not gaps:
        print(f"  {sys.argv[2]:5} {who:8}: no RTP captured")
        continue
    print(f"  {sys.argv[2]:5} {who:8}: {len(times):4} packets, gap ms p50 {pct(gaps, 50):5.1f} "
          f"p99 {pct(gaps, 99):5.1f} max {max(gaps):6.1f}; gaps > 30 ms: {sum(g > 30 for g in gaps)}, "
          f"> 60 ms: {sum(g > 60 for g in gaps)}; packets per second {len(times) / (times[-1] - times[0]):.1f}")
PY
}

echo "RTP send-time gaps over a ${SECS} s call (icephone answer --tone 440 <- sipp rtp_stream; ideal 20.0 ms):"
one_call quiet
HOGS=()
HOG_COUNT=$(( $(nproc) * ${HOGS_PER_CPU:-4} ))
for _ in $(seq "$HOG_COUNT"); do
    timeout $((SECS + 40)) yes >/dev/null &
    HOGS+=("$!")
    PIDS+=("$!")
done
one_call hog
for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done
echo "(hog: $HOG_COUNT x yes at normal priority during the second call, on $(nproc) CPUs)"
