#!/usr/bin/env bash
# icephone network lab: network namespaces, NAT routers, Kamailio and coturn.
#
#   lab.sh up    [--id ID] [--nat-a KIND] [--nat-b KIND] [--loss-a P] [--loss-b P]
#                [--delay-a MS] [--delay-b MS] [--servers] [--no-natping] [--nat-timeout S]
#                [--tls]
#   lab.sh down  [--id ID]
#   lab.sh nat   [--id ID] a|b KIND [--loss P] [--delay MS]
#                                                change a running NAT (flushes its mappings)
#   lab.sh exec  [--id ID] ROLE CMD...           run CMD inside ROLE's namespace
#   lab.sh ns    [--id ID] ROLE                  print ROLE's namespace name
#   lab.sh clean-stale                           remove labs whose owning process is dead
#
# KIND: prc (port-restricted cone), sym (symmetric), arc (address-restricted cone),
#       fc (full cone). P: drop probability 0..1 on the NAT's wan link, both directions.
#       MS: delay in milliseconds on the NAT's wan link, each direction (NFQUEUE + delayq.py).
#       --no-natping: Kamailio does not ping registered NATed contacts.
#       --nat-timeout S: both NATs drop an idle UDP or TCP mapping after S seconds (Linux: 30 s
#       for UDP seen one way, 120 s both ways, 5 days for TCP).
#       --tls: Kamailio also listens for SIP over TLS on 203.0.113.10:5061, with a CA and a
#       server certificate (icephone.test, kamailio.lab, 203.0.113.10) made now in RUN/tls
#       (clients trust RUN/tls/ca.pem); coturn also listens for TURN over TLS on
#       203.0.113.20:5349 (certificate for turn.icephone.test and 203.0.113.20).
# ROLE: sw kam turn probe nata natb a1 a2 b1 b2 (see README.md for the addresses).
#
# ID is `icl<owner-pid>` optionally followed by [a-z0-9]; the lab belongs to process
# <owner-pid>. Default: $LAB_ID, else icl$PPID (the shell that runs this script). A lab
# whose owner is dead is stale; every `up` removes stale labs first.
#
# Safety: nothing is ever created in, or changed in, the root namespace. Every veth pair is
# created directly into the lab's own namespaces, and iptables/sysctl only run inside them.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
RUN_BASE=${LAB_RUN_BASE:-/tmp/icephone-lab}
PYTHON=${LAB_PYTHON:-/usr/bin/python3}
ID_RE='^icl([0-9]+)[a-z0-9]*$'

PUBLIC_HOSTS=(kam turn probe)
LAN_A_HOSTS=(a1 a2)
LAN_B_HOSTS=(b1 b2)
ALL_ROLES=(sw kam turn probe nata natb a1 a2 b1 b2)

# Role -> addresses (first one is the primary). Only RFC 5737 documentation ranges.
declare -A ADDRS=(
  [kam]="203.0.113.10"
  [turn]="203.0.113.20 203.0.113.21"
  [probe]="203.0.113.50 203.0.113.51"
  [a1]="192.0.2.10" [a2]="192.0.2.11"
  [b1]="198.51.100.10" [b2]="198.51.100.11"
)
CORE=203.0.113.1
declare -A NAT_WAN=([a]=203.0.113.101 [b]=203.0.113.102)
declare -A NAT_LAN=([a]=192.0.2.1 [b]=198.51.100.1)
declare -A NAT_NET=([a]=192.0.2.0/24 [b]=198.51.100.0/24)
# Full cone / address-restricted cone forward unsolicited inbound UDP to this one host.
declare -A NAT_EXPOSED=([a]=192.0.2.10 [b]=198.51.100.10)

die() { echo "lab.sh: $*" >&2; exit 1; }
# die, showing the end of a server's log first.
die_log() {
  local name=$1
  shift
  tail -n 15 "$RUN/$name.log" >&2 2>/dev/null || true
  die "$* (log: $RUN/$name.log)"
}
log() { [ -n "${LAB_QUIET:-}" ] || echo "lab.sh: $*" >&2; }

ns_of() { echo "$ID-$1"; }
nsx() { local role=$1; shift; ip netns exec "$(ns_of "$role")" "$@"; }

# ---------------------------------------------------------------------------------------
# teardown

ns_exists() { [ -e "/var/run/netns/$1" ]; }
# A process still running: exists and is not a zombie waiting for its (adoptive) parent.
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# Kill what runs inside the namespaces (started by this lab), then delete them.
teardown_id() {
  local id=$1 nss=() ns pids=() pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$ns" in "$id"-*) nss+=("$ns") ;; esac
  done
  for ns in "${nss[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local i alive
    for i in $(seq 1 30); do # at most 3 s
      alive=()
      for pid in "${pids[@]}"; do if alive "$pid"; then alive+=("$pid"); fi; done
      [ ${#alive[@]} -eq 0 ] && break
      sleep 0.1
    done
    if [ ${#alive[@]} -gt 0 ]; then kill -KILL "${alive[@]}" 2>/dev/null || true; fi
  fi
  for ns in "${nss[@]}"; do
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
    rm -rf "/etc/netns/$ns"
  done
  if [ -z "${LAB_KEEP_RUN:-}" ]; then rm -rf "${RUN_BASE:?}/$id"; fi
}

clean_stale() {
  local ns id owner seen=" "
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    id=${ns%%-*}
    [[ $id =~ $ID_RE ]] || continue
    owner=${BASH_REMATCH[1]}
    case "$seen" in *" $id "*) continue ;; esac
    seen="$seen$id "
    if ! alive "$owner"; then
      log "removing stale lab $id (owner pid $owner is gone)"
      teardown_id "$id"
    fi
  done
}

# ---------------------------------------------------------------------------------------
# NAT rules

# Prints an iptables-restore ruleset for NAT side $1 of kind $2 with loss $3, delay $4 ms.
nat_rules() {
  local side=$1 kind=$2 loss=$3 delay=$4 masq="-j MASQUERADE" exposed=${NAT_EXPOSED[$1]}
  [ "$kind" = sym ] && masq="-j MASQUERADE --random-fully"
  echo "*raw"
  echo ":PREROUTING ACCEPT [0:0]"
  echo ":OUTPUT ACCEPT [0:0]"
  if [ "$loss" != 0 ]; then
    # Inbound loss, before conntrack sees the packet.
    echo "-A PREROUTING -i wan -m statistic --mode random --probability $loss -j DROP"
  fi
  echo "COMMIT"
  echo "*mangle"
  echo ":PREROUTING ACCEPT [0:0]"
  echo ":INPUT ACCEPT [0:0]"
  echo ":FORWARD ACCEPT [0:0]"
  echo ":OUTPUT ACCEPT [0:0]"
  echo ":POSTROUTING ACCEPT [0:0]"
  if [ "$loss" != 0 ]; then
    echo "-A POSTROUTING -o wan -m statistic --mode random --probability $loss -j DROP"
  fi
  if [ "$delay" != 0 ]; then
    # Every wan packet waits in delayq.py; --queue-bypass lets packets pass if it is gone.
    echo "-A PREROUTING -i wan -j NFQUEUE --queue-num 0 --queue-bypass"
    echo "-A POSTROUTING -o wan -j NFQUEUE --queue-num 0 --queue-bypass"
  fi
  echo "COMMIT"
  echo "*nat"
  echo ":PREROUTING ACCEPT [0:0]"
  echo ":INPUT ACCEPT [0:0]"
  echo ":OUTPUT ACCEPT [0:0]"
  echo ":POSTROUTING ACCEPT [0:0]"
  case "$kind" in
    fc | arc) echo "-A PREROUTING -i wan -p udp -j DNAT --to-destination $exposed" ;;
  esac
  echo "-A POSTROUTING -o wan $masq"
  echo "COMMIT"
  echo "*filter"
  echo ":INPUT ACCEPT [0:0]"
  echo ":FORWARD DROP [0:0]"
  echo ":OUTPUT ACCEPT [0:0]"
  # The NAT itself accepts nothing unsolicited from outside: an accepted NEW inbound
  # packet would make a conntrack entry that can steal a port a LAN host wants later.
  echo "-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
  echo "-A INPUT -i wan -j DROP"
  echo "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
  case "$kind" in
    arc)
      # Remember every public address a LAN host sent to; inbound is filtered on it.
      echo "-A FORWARD -i br-lan -o wan -m recent --name lanpeers --rdest --set"
      echo "-A FORWARD -i wan -o br-lan -m conntrack --ctstate DNAT -m recent --name lanpeers --rsource --rcheck --seconds 120 -j ACCEPT"
      ;;
    fc)
      echo "-A FORWARD -i wan -o br-lan -m conntrack --ctstate DNAT -j ACCEPT"
      ;;
  esac
  echo "-A FORWARD -i br-lan -o wan -j ACCEPT"
  echo "COMMIT"
}

check_kind() {
  case "$1" in prc | sym | arc | fc) ;; *) die "unknown NAT kind '$1' (prc, sym, arc, fc)" ;; esac
}
check_delay() {
  [[ $1 =~ ^[0-9]{1,4}$ ]] || die "delay must be whole milliseconds 0..9999, got '$1'"
}
check_loss() {
  [[ $1 =~ ^(0|0?\.[0-9]+|1)$ ]] || die "loss must be a probability 0..1, got '$1'"
}

# (Re)starts the delay program of NAT side $1 with $2 ms, or stops it for 0.
set_delay() {
  local side=$1 delay=$2 name="delayq-nat$1" pid i
  if [ -e "$RUN/$name.pid" ]; then
    pid=$(cat "$RUN/$name.pid")
    # Only our own delayq, recorded by PID, and only if it is still in this lab's NAT.
    if ip netns pids "$(ns_of "nat$side")" | grep -qx "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 20); do alive "$pid" || break; sleep 0.05; done
    fi
    rm -f "$RUN/$name.pid"
  fi
  [ "$delay" = 0 ] && return 0
  start_bg "nat$side" "$name" "$PYTHON" "$LAB_DIR/delayq.py" 0 "$delay"
  wait_server 50 "$name" grep -q "delayq: queue" "$RUN/$name.log" ||
    die_log "$name" "delay program did not bind its queue"
}

apply_nat() {
  local side=$1 kind=$2 loss=$3 delay=$4 ns
  ns=$(ns_of "nat$side")
  set_delay "$side" "$delay"
  nat_rules "$side" "$kind" "$loss" "$delay" | ip netns exec "$ns" iptables-restore
  # Old mappings would keep the previous kind's behaviour alive.
  ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
  # The address-restricted filter's memory of peers belongs to the old ruleset too.
  ip netns exec "$ns" sh -c 'f=/proc/net/xt_recent/lanpeers; [ ! -e $f ] || echo / >$f'
  echo "$kind $loss $delay" >"$RUN/nat$side"
}

# ---------------------------------------------------------------------------------------
# topology

# sysctls for a namespace, applied in one process.
ns_sysctls() {
  local ns=$1 forward=$2
  ip netns exec "$ns" sh -c "
    echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
    echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
    echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter
    echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter
    echo $forward > /proc/sys/net/ipv4/ip_forward
    if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
      echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables
      echo 0 > /proc/sys/net/bridge/bridge-nf-call-ip6tables
      echo 0 > /proc/sys/net/bridge/bridge-nf-call-arptables
    fi
  "
}

# /etc/netns/<ns>/ is bind-mounted over /etc by `ip netns exec`: no tool in the lab falls
# back to the host's resolver or host names.
ns_etc() {
  local ns=$1
  mkdir -p "/etc/netns/$ns"
  echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
  cat >"/etc/netns/$ns/hosts" <<EOF
127.0.0.1 localhost
203.0.113.10 kamailio.lab icephone.test
203.0.113.20 turn.lab
203.0.113.21 turn2.lab
203.0.113.50 probe.lab
203.0.113.51 probe2.lab
EOF
}

# Bounded wait for a server: fails at once when its process has died.
wait_server() { # tenths name cond...
  local tenths=$1 name=$2 i pid
  shift 2
  pid=$(cat "$RUN/$name.pid")
  for i in $(seq 1 "$tenths"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    alive "$pid" || return 1
    sleep 0.1
  done
  return 1
}

udp_listening() { nsx "$1" ss -Hlun "src $2:$3" | grep -q .; }
tcp_listening() { nsx "$1" ss -Hltn "src $2:$3" | grep -q .; }

start_bg() { # role logname cmd... ; records the PID (ip netns exec execs, so $! is it)
  local role=$1 name=$2
  shift 2
  ip netns exec "$(ns_of "$role")" "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

start_probe_server() {
  start_bg probe natprobe-server "$PYTHON" "$LAB_DIR/natprobe.py" server
  wait_server 50 natprobe-server udp_listening probe 203.0.113.51 4001 ||
    die_log natprobe-server "NAT probe server did not start"
}

# In the current directory: NAME.pem/NAME.key for CN $2 and subjectAltName $3, signed by
# ca.pem/ca.key. EC P-256 keys: quick to make.
server_cert() { # name cn san
  printf '%s\n' "subjectAltName=$3" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$1.ext" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>&1 &&
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.pem" 2>&1
}

# A CA, Kamailio's and coturn's server certificates (subjectAltName: the names and the
# address clients may verify, RFC 5922), and Kamailio's tls.cfg, in RUN/tls.
make_tls() {
  local dir="$RUN/tls" out
  mkdir -p "$dir"
  out=$(
    cd "$dir" &&
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=icephone lab CA" -keyout ca.key -out ca.pem \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>&1 &&
      server_cert kamailio icephone.test "DNS:icephone.test,DNS:kamailio.lab,IP:203.0.113.10" &&
      server_cert turn turn.icephone.test "DNS:turn.icephone.test,IP:203.0.113.20" &&
      chmod 644 turn.key
  ) || die "could not make the lab's TLS certificates with openssl: $out"
  cat >"$RUN/tls.cfg" <<EOF
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $dir/kamailio.key
certificate = $dir/kamailio.pem

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
EOF
}

start_servers() {
  local natping=$1 tls=$2 defines=()
  [ -n "$natping" ] || defines=(-A NO_NATPING)
  if [ -n "$tls" ]; then
    make_tls
    defines+=(-A WITH_TLS -A "TLS_CFG=\"$RUN/tls.cfg\"")
  fi
  sed "s#@RUNDIR@#$RUN#g" "$LAB_DIR/turnserver.conf" >"$RUN/turnserver.conf"
  if [ -n "$tls" ]; then
    # TURN over TLS too (RFC 8656 §3.1): coturn's TLS listener on 5349, same CA.
    sed -i '/^no-tls$/d' "$RUN/turnserver.conf"
    printf '%s\n' "tls-listening-port=5349" "cert=$RUN/tls/turn.pem" \
      "pkey=$RUN/tls/turn.key" >>"$RUN/turnserver.conf"
  fi
  cp "$LAB_DIR/kamailio.cfg" "$RUN/kamailio.cfg"
  start_bg turn turnserver turnserver -c "$RUN/turnserver.conf"
  start_bg kam kamailio kamailio -f "$RUN/kamailio.cfg" "${defines[@]}" -DD -E -Y "$RUN/kamailio-run"
  wait_server 100 kamailio udp_listening kam 203.0.113.10 5060 ||
    die_log kamailio "kamailio did not start"
  wait_server 100 kamailio tcp_listening kam 203.0.113.10 5060 ||
    die_log kamailio "kamailio did not listen on TCP"
  if [ -n "$tls" ]; then
    wait_server 100 kamailio tcp_listening kam 203.0.113.10 5061 ||
      die_log kamailio "kamailio did not listen on TLS"
  fi
  wait_server 100 turnserver udp_listening turn 203.0.113.21 3479 ||
    die_log turnserver "turnserver did not start"
  if [ -n "$tls" ]; then
    wait_server 100 turnserver tcp_listening turn 203.0.113.20 5349 ||
      die_log turnserver "turnserver did not listen on TLS"
  fi
}

link_host() { # parent-ns parent-ifname host-ns host-ifname bridge
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" master "$5" up
  ip -n "$3" link set "$4" up
}

preflight() {
  [ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces, iptables)"
  local t="icl$$probe-check"
  ip netns add "$t" 2>/dev/null || die "'ip netns add' failed: this machine cannot make network namespaces"
  ip netns del "$t"
  local tool
  for tool in ip iptables-restore conntrack ss "$PYTHON"; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (see test.sh REQUIRED)"
  done
}

cmd_up() {
  local nat_a=prc nat_b=prc loss_a=0 loss_b=0 delay_a=0 delay_b=0 servers="" natping=1
  local nat_timeout=0 tls=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --nat-a) nat_a=$2; shift 2 ;;
      --nat-b) nat_b=$2; shift 2 ;;
      --loss-a) loss_a=$2; shift 2 ;;
      --loss-b) loss_b=$2; shift 2 ;;
      --delay-a) delay_a=$2; shift 2 ;;
      --delay-b) delay_b=$2; shift 2 ;;
      --servers) servers=1; shift ;;
      --no-natping) natping=""; shift ;;
      --nat-timeout) nat_timeout=$2; shift 2 ;;
      --tls) tls=1; shift ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  check_kind "$nat_a"; check_kind "$nat_b"; check_loss "$loss_a"; check_loss "$loss_b"
  check_delay "$delay_a"; check_delay "$delay_b"
  preflight
  clean_stale
  local role
  for role in "${ALL_ROLES[@]}"; do
    ns_exists "$(ns_of "$role")" && die "lab $ID already exists; run 'lab.sh down --id $ID' first"
  done
  # From here on a failure tears down what was built.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed, tearing down $ID"; teardown_id "$ID"; fi' EXIT
  RUN="$RUN_BASE/$ID"
  rm -rf "$RUN"
  mkdir -p "$RUN"

  for role in "${ALL_ROLES[@]}"; do
    ip netns add "$(ns_of "$role")"
    ns_etc "$(ns_of "$role")"
    ip -n "$(ns_of "$role")" link set lo up
  done

  local sw
  sw=$(ns_of sw)
  # The public segment: a bridge whose own address is the "core". Forwarding stays off
  # there, so the core silently drops anything not addressed inside 203.0.113.0/24, as the
  # internet drops private destinations.
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  ip -n "$sw" addr add "$CORE/24" dev br0
  ns_sysctls "$sw" 0

  local a
  for role in "${PUBLIC_HOSTS[@]}"; do
    link_host "$sw" "p-$role" "$(ns_of "$role")" eth0 br0
    for a in ${ADDRS[$role]}; do ip -n "$(ns_of "$role")" addr add "$a/24" dev eth0; done
    ip -n "$(ns_of "$role")" route add default via "$CORE"
    ns_sysctls "$(ns_of "$role")" 0
  done

  local side nat hosts
  for side in a b; do
    nat=$(ns_of "nat$side")
    link_host "$sw" "p-nat$side" "$nat" wan br0
    ip -n "$nat" addr add "${NAT_WAN[$side]}/24" dev wan
    ip -n "$nat" route add default via "$CORE"
    ip -n "$nat" link add br-lan type bridge
    ip -n "$nat" link set br-lan up
    ip -n "$nat" addr add "${NAT_LAN[$side]}/24" dev br-lan
    ns_sysctls "$nat" 1
    if [ "$side" = a ]; then hosts=("${LAN_A_HOSTS[@]}"); else hosts=("${LAN_B_HOSTS[@]}"); fi
    for role in "${hosts[@]}"; do
      link_host "$nat" "l-$role" "$(ns_of "$role")" eth0 br-lan
      ip -n "$(ns_of "$role")" addr add "${ADDRS[$role]}/24" dev eth0
      ip -n "$(ns_of "$role")" route add default via "${NAT_LAN[$side]}"
      ns_sysctls "$(ns_of "$role")" 0
    done
  done
  apply_nat a "$nat_a" "$loss_a" "$delay_a"
  apply_nat b "$nat_b" "$loss_b" "$delay_b"
  [[ "$nat_timeout" =~ ^[0-9]+$ ]] || die "bad --nat-timeout $nat_timeout"
  if [ "$nat_timeout" -gt 0 ]; then
    for side in a b; do
      ip netns exec "$(ns_of "nat$side")" sh -c "
        echo $nat_timeout > /proc/sys/net/netfilter/nf_conntrack_udp_timeout
        echo $nat_timeout > /proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream
        echo $nat_timeout > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established
      " || die "cannot set the NAT mapping timeout in nat$side"
    done
  fi

  start_probe_server
  [ -n "$tls" ] && [ -z "$servers" ] && die "--tls needs --servers (it is Kamailio's)"
  [ -n "$servers" ] && start_servers "$natping" "$tls"
  echo "$ID" >"$RUN/id"
  trap - EXIT
  log "lab $ID is up (NAT A $nat_a, NAT B $nat_b$([ -n "$servers" ] && echo ", servers")); run dir $RUN"
}

cmd_nat() {
  local side=${1:-} kind=${2:-} loss=0 delay=0
  shift 2 || die "usage: lab.sh nat a|b KIND [--loss P] [--delay MS]"
  while [ $# -gt 0 ]; do
    case "$1" in
      --loss) loss=${2:-}; shift 2 ;;
      --delay) delay=${2:-}; shift 2 ;;
      *) die "nat: unknown option $1" ;;
    esac
  done
  case "$side" in a | b) ;; *) die "nat: side must be a or b" ;; esac
  check_kind "$kind"; check_loss "$loss"; check_delay "$delay"
  ns_exists "$(ns_of "nat$side")" || die "lab $ID is not up"
  RUN="$RUN_BASE/$ID"
  apply_nat "$side" "$kind" "$loss" "$delay"
}

# ---------------------------------------------------------------------------------------

[ $# -ge 1 ] || die "usage: lab.sh up|down|nat|exec|ns|clean-stale [--id ID] ..."
CMD=$1
shift
ID="${LAB_ID:-icl$PPID}"
if [ "${1:-}" = --id ]; then ID=${2:-}; shift 2; fi
[[ $ID =~ $ID_RE ]] || die "lab id '$ID' must look like icl<owner-pid>[a-z0-9]*"
RUN="$RUN_BASE/$ID"

case "$CMD" in
  up) cmd_up "$@" ;;
  down) teardown_id "$ID" ;;
  nat) cmd_nat "$@" ;;
  exec)
    [ $# -ge 2 ] || die "usage: lab.sh exec [--id ID] ROLE CMD..."
    role=$1; shift
    ns_exists "$(ns_of "$role")" || die "no namespace $(ns_of "$role")"
    exec ip netns exec "$(ns_of "$role")" "$@"
    ;;
  ns) echo "$(ns_of "${1:?role}")" ;;
  clean-stale) clean_stale ;;
  *) die "unknown command $CMD" ;;
esac
