#!/usr/bin/env bash
# Benchmark on the lab (issue 7, "Benchmark"): a script, not a test.
#
#   tests/lab/bench.sh [N]        (root; N calls per pair, default 5)
#
# One lab: both NATs port-restricted, 20 ms one-way delay on each uplink, Kamailio and coturn
# (STUN only for the phones). N sequential calls B -> A for each pair of peers:
#   - icephone (bob, b1) -> icephone (alice, a1)
#   - baresip (baresip2, b1) -> baresip (baresip, a1)
# each pair in its own capture on the public bridge. From each capture, with tshark:
#   - setup time: the caller's first INVITE (NAT B -> Kamailio) to the 200 OK to it
#     (Kamailio -> NAT B), per Call-ID (includes the 407 digest round trip);
#   - 200 OK to media both ways: from that 200 OK to the later of the first RTP packet
#     NAT A -> NAT B and the first NAT B -> NAT A after it (before the next call's INVITE).
# Prints per-call figures, the medians and the ratios icephone / baresip.
#
# ICEPHONE overrides the binary (default: the workspace's target/debug/icephone).
# Tears the lab down on exit (trap); only processes this script started are ended.
set -euo pipefail

N=${1:-5}
[[ $N =~ ^[1-9][0-9]?$ ]] || { echo "bench.sh: N must be 1..99, got '$N'" >&2; exit 2; }
LAB_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$LAB_DIR/../.." && pwd)
ICEPHONE=${ICEPHONE:-$ROOT/target/debug/icephone}
[ -x "$ICEPHONE" ] || { echo "bench.sh: no $ICEPHONE (cargo build -p icephone)" >&2; exit 2; }
export LAB_ID=icl$$bench
RUN=${LAB_RUN_BASE:-/tmp/icephone-lab}/$LAB_ID
LAB="$LAB_DIR/lab.sh"
KAM=203.0.113.10 TURN=203.0.113.20 NAT_A=203.0.113.101 NAT_B=203.0.113.102
CALL_SECONDS=2
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  LAB_QUIET=1 bash "$LAB" down --id "$LAB_ID" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts CMD in ROLE's namespace in the background, bounded; `ip netns exec` and `timeout`
# exec, so $! is the process to end. Output to $RUN/NAME.log.
bg() {
  local role=$1 name=$2
  shift 2
  ip netns exec "$LAB_ID-$role" timeout -k 2 300 "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  LAST_PID=$!
}

in_ns() { local role=$1; shift; ip netns exec "$LAB_ID-$role" timeout -k 2 120 "$@"; }

stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

capture_start() {
  bg sw "tcpdump-$1" tcpdump -i br0 -U --immediate-mode -s0 -n -w "$RUN/$1.pcap"
  CAP_PID=$LAST_PID
  for _ in $(seq 100); do
    grep -q "listening on" "$RUN/tcpdump-$1.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench.sh: tcpdump did not start" >&2
  exit 1
}

capture_stop() { sleep 0.3; stop_pid "$CAP_PID"; }

registered() { # AoR user in Kamailio's location table
  timeout 5 kamcmd -s "unix:$RUN/kamailio-run/kamailio_ctl" ul.dump 2>/dev/null |
    grep -qx "[[:space:]]*AoR: $1"
}

wait_registered() {
  for _ in $(seq 100); do registered "$1" && return 0; sleep 0.1; done
  echo "bench.sh: $1 did not register" >&2
  exit 1
}

icephone_pair() {
  local account_a=(--aor sip:alice@icephone.test --password alicepw --proxy "$KAM:5060")
  local account_b=(--aor sip:bob@icephone.test --password bobpw --proxy "$KAM:5060")
  capture_start icephone
  bg a1 icephone-alice "$ICEPHONE" answer --register --calls "$N" "${account_a[@]}" \
    --stun "$TURN:3478" --json
  local alice=$LAST_PID i
  wait_registered alice
  for i in $(seq "$N"); do
    in_ns b1 "$ICEPHONE" call sip:alice@icephone.test --tone 440 --duration "$CALL_SECONDS" \
      "${account_b[@]}" --stun "$TURN:3478" --json >"$RUN/icephone-bob-$i.log" 2>&1 ||
      echo "bench.sh: icephone call $i exited $? (see $RUN/icephone-bob-$i.log)" >&2
  done
  stop_pid "$alice"
  capture_stop
}

baresip_config() { # user ip password
  local dir="$RUN/bench-baresip-$1"
  mkdir -p "$dir"
  sed "s/@IP@/$2/" "$LAB_DIR/baresip/config" >"$dir/config"
  echo "<sip:$1@$KAM;transport=udp>;auth_pass=$3;answermode=auto;audio_codecs=PCMU;regint=60;medianat=ice;stunserver=stun:$TURN:3478" \
    >"$dir/accounts"
  echo "$dir"
}

baresip_pair() {
  local dir_a dir_b i
  dir_a=$(baresip_config baresip 192.0.2.10 baresippw)
  dir_b=$(baresip_config baresip2 198.51.100.10 baresip2pw)
  capture_start baresip
  bg a1 baresip-a baresip -f "$dir_a"
  local callee=$LAST_PID
  bg b1 baresip-b baresip -f "$dir_b"
  local caller=$LAST_PID
  wait_registered baresip
  wait_registered baresip2
  for i in $(seq "$N"); do
    in_ns b1 /usr/bin/python3 "$LAB_DIR/baresipctl.py" --timeout 60 --dial "sip:baresip@$KAM" \
      --hangup-after "$CALL_SECONDS" >"$RUN/baresipctl-$i.log" 2>&1 ||
      echo "bench.sh: baresip call $i did not close (see $RUN/baresipctl-$i.log)" >&2
  done
  stop_pid "$caller"
  stop_pid "$callee"
  capture_stop
}

# Per-call figures of one capture, as "setup media" lines (seconds).
measure() {
  local pcap=$1
  {
    tshark -n -r "$pcap" -Y sip -T fields -E separator='~' -e frame.time_relative -e ip.src \
      -e ip.dst -e sip.Method -e sip.Status-Code -e sip.CSeq.method -e sip.Call-ID 2>/dev/null |
      sed 's/^/S~/'
    tshark -n -r "$pcap" --enable-heuristic rtp_udp -Y "rtp && !stun.type" -T fields \
      -E separator='~' -e frame.time_relative -e ip.src -e ip.dst 2>/dev/null | sed 's/^/R~/'
  } | NAT_A=$NAT_A NAT_B=$NAT_B KAM=$KAM /usr/bin/python3 -c '
import os, sys
a, b, kam = os.environ["NAT_A"], os.environ["NAT_B"], os.environ["KAM"]
invites, oks, rtp = {}, {}, []
for line in sys.stdin:
    f = line.rstrip("\n").split("~")
    if f[0] == "S" and len(f) >= 8:
        t, src, dst, method, status, cseq, cid = float(f[1]), f[2], f[3], f[4], f[5], f[6], f[7]
        if method == "INVITE" and src == b and dst == kam:
            invites.setdefault(cid, t)
        if status == "200" and cseq == "INVITE" and src == kam and dst == b:
            oks.setdefault(cid, t)
    elif f[0] == "R" and len(f) >= 4:
        rtp.append((float(f[1]), f[2], f[3]))
calls = sorted((t, cid) for cid, t in invites.items())
for i, (t_inv, cid) in enumerate(calls):
    end = calls[i + 1][0] if i + 1 < len(calls) else float("inf")
    t_ok = oks.get(cid)
    if t_ok is None:
        print("nan nan")
        continue
    def first(src, dst):
        return min((t for t, s, d in rtp if s == src and d == dst and t_ok <= t < end),
                   default=None)
    ab, ba = first(a, b), first(b, a)
    media = "nan" if ab is None or ba is None else "%.4f" % (max(ab, ba) - t_ok)
    print("%.4f %s" % (t_ok - t_inv, media))
'
}

median() { # reads numbers (nan ignored), prints the median or nan
  /usr/bin/python3 -c '
import statistics, sys
v = [float(x) for x in sys.stdin.read().split() if x != "nan"]
print("%.3f" % statistics.median(v) if v else "nan")'
}

echo "bench.sh: lab $LAB_ID: prc/prc, 20 ms one-way delay on each uplink, $N calls per pair" >&2
LAB_QUIET=1 bash "$LAB" up --id "$LAB_ID" --nat-a prc --nat-b prc --delay-a 20 --delay-b 20 \
  --servers
started=$(date +%s)
icephone_pair
baresip_pair

declare -A SETUP MEDIA
for pair in icephone baresip; do
  figures=$(measure "$RUN/$pair.pcap")
  echo "$pair: per call (setup s, 200 OK -> media both ways s):" $(echo "$figures" | tr '\n' ';')
  SETUP[$pair]=$(echo "$figures" | awk '{print $1}' | median)
  MEDIA[$pair]=$(echo "$figures" | awk '{print $2}' | median)
  complete=$(echo "$figures" | grep -vc nan || true)
  echo "$pair: $complete of $N calls measured"
done
ratio() { /usr/bin/python3 -c "import sys; a,b=sys.argv[1:]; print('nan' if 'nan' in (a,b) or float(b)==0 else '%.2f' % (float(a)/float(b)))" "$1" "$2"; }
printf '%-34s %10s %10s %18s\n' "median over $N calls" icephone baresip "icephone/baresip"
printf '%-34s %10s %10s %18s\n' "call setup (INVITE -> 200 OK), s" "${SETUP[icephone]}" \
  "${SETUP[baresip]}" "$(ratio "${SETUP[icephone]}" "${SETUP[baresip]}")"
printf '%-34s %10s %10s %18s\n' "200 OK -> media both ways, s" "${MEDIA[icephone]}" \
  "${MEDIA[baresip]}" "$(ratio "${MEDIA[icephone]}" "${MEDIA[baresip]}")"
echo "bench.sh: calls took $(($(date +%s) - started)) s" >&2
