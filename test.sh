#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# 1. Installs the Debian packages the tests need, if any is missing (apt-get update only then).
# 2. cargo fmt --check, cargo clippy -D warnings, cargo test --workspace.
# 3. fuzz/run.sh: each fuzz target for 20 s (cargo-fuzz, stable with RUSTC_BOOTSTRAP=1).
#
# Tests that need a package fail loudly when it is missing; they never skip.
set -euo pipefail
cd "$(dirname "$0")"

# package -> a file it installs, used to tell whether it is present.
REQUIRED=(
  "coturn:/usr/bin/turnserver"      # real STUN/TURN server for tests/stun_cli.rs, tests/turn_coturn.rs
  "openssl:/usr/bin/openssl"        # test CA and certificates (tests/support/test_pki.rs)
  "sip-tester:/usr/bin/sipp"        # sipp, an independent SIP peer for interop tests
  # The network lab (tests/lab/, tests/lab_*.rs): namespaces, NATs, servers, wire oracle.
  "kamailio:/usr/sbin/kamcmd"       # registrar + proxy (kamailio, kamcmd; nathelper/auth built in)
  "kamailio-tls-modules:/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so" # SIP over TLS (tests/lab_tls.rs)
  "openssl:/usr/bin/openssl"        # test CAs and certificates (tests/cli_tls.rs, lab --tls)
  "baresip:/usr/bin/baresip"        # reference ICE softphone
  "baresip-core:/usr/lib/baresip/modules/ice.so"
  "baresip-core:/usr/lib/baresip/modules/srtp.so"      # SDES-SRTP peer (tests/lab_baresip_srtp.rs)
  "baresip-core:/usr/lib/baresip/modules/dtls_srtp.so" # DTLS-SRTP peer (tests/lab_baresip_srtp.rs)
  "baresip-core:/usr/lib/baresip/modules/opus.so"      # Opus peer (tests/lab_baresip_codecs.rs)
  "baresip-core:/usr/lib/baresip/modules/g722.so"      # G.722 peer (tests/lab_baresip_codecs.rs)
  "tshark:/usr/bin/tshark"          # wire oracle for lab captures and tests/pcap_tcp.rs
  "tcpdump:/usr/bin/tcpdump"        # captures on the lab's public bridge
  "iproute2:/bin/ip"                # ip netns, veth, bridges; ss
  "iptables:/usr/sbin/iptables-restore" # the lab's NAT rules
  "conntrack:/usr/sbin/conntrack"   # NAT mapping table, flushing mappings
  "iputils-ping:/bin/ping"          # loss check on NAT uplinks
  "python3-minimal:/usr/bin/python3" # tests/lab/natprobe.py
  "dnsmasq-base:/usr/sbin/dnsmasq"  # real DNS server (NAPTR/SRV/A) for tests/cli_dns.rs and the lab
  "bsdutils:/usr/bin/script"        # a pseudo-terminal for the load mode's live view (tests/scenario_load.rs)
  "tmux:/usr/bin/tmux"              # a pseudo-terminal for the phone console (tests/phone_console.rs)
  # Build dependencies: the openssl crate (DTLS-SRTP, src/media/srtp/dtls.rs) links the system OpenSSL.
  "libssl-dev:/usr/include/openssl/ssl.h" # OpenSSL headers and libssl/libcrypto for openssl-sys
  # The opus crate (src/media/codec/opus.rs) links the system libopus.
  "libopus-dev:/usr/include/opus/opus.h" # libopus headers and library for audiopus_sys
  "pkgconf:/usr/bin/pkg-config"     # openssl-sys and audiopus_sys find their libraries through pkg-config
  # Sound devices (src/media/device/): cpal's ALSA backend links libasound (alsa-sys, pkg-config).
  "libasound2-dev:/usr/include/alsa/asoundlib.h" # ALSA headers and library for alsa-sys
  # tests/audio_device_pulse.rs: a PulseAudio daemon of the test's own, reached through ALSA.
  "pulseaudio:/usr/bin/pulseaudio"  # the sound server, with null sinks as sound cards
  "pulseaudio-utils:/usr/bin/parec" # pactl, paplay, parec: play the tones in, record what is heard
  "libasound2-plugins:/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so" # the `pulse` ALSA device
)

missing=()
for entry in "${REQUIRED[@]}"; do
  pkg=${entry%%:*}
  file=${entry#*:}
  [ -e "$file" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing missing packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  # The packages' maintainer scripts would start system daemons (coturn, kamailio) in the root
  # namespace; the tests start their own instances. Block service start while installing.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -n "$added_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "test.sh: cargo test"
cargo test --workspace --no-fail-fast
# Coverage-guided fuzzing (fuzz/, its own workspace): every target 20 s from the seed corpus,
# installing cargo-fuzz first if missing. Fails on any crash. See README "Fuzzing".
echo "test.sh: fuzz"
./fuzz/run.sh
