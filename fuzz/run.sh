#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, seeded from the shared test vectors; fails on the
# first crash, printing the reproducing input. Called by ../test.sh after cargo test.
#
#   fuzz/run.sh                 every target, FUZZ_SECONDS (default 20) each
#   fuzz/run.sh ice_agent 300   one target, 300 s
#
# Stable toolchain: cargo-fuzz needs nightly flags (-Zsanitizer, -Cpasses=sancov-module), which
# RUSTC_BOOTSTRAP=1 unlocks on stable. No sanitizer (--sanitizer none): ASan needs a nightly
# std; the libraries are safe Rust, so a crash here is a panic (which libFuzzer reports).
# One libFuzzer process at a time, one core: the machine has two, shared with other builds.
set -euo pipefail
cd "$(dirname "$0")"
unset CARGO_TARGET_DIR # cargo-fuzz builds into fuzz/target
export RUSTC_BOOTSTRAP=1

TARGETS=(sip_message sip_endpoint sdp_offer_answer stun_decode turn_client ice_agent)
SECONDS_EACH=${FUZZ_SECONDS:-20}
if [ $# -ge 1 ]; then
  TARGETS=("$1")
  SECONDS_EACH=${2:-$SECONDS_EACH}
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz (crates.io, about 2 minutes)"
  timeout 900 cargo install cargo-fuzz --locked --version 0.13.2
fi

echo "fuzz/run.sh: cargo fmt --check (fuzz crate)"
cargo fmt -- --check
echo "fuzz/run.sh: building the fuzz targets"
cargo fuzz build --sanitizer none

python3 seeds/make_seeds.py .

failed=()
for target in "${TARGETS[@]}"; do
  echo "fuzz/run.sh: $target for ${SECONDS_EACH}s"
  log="target/fuzz-$target.log"
  mkdir -p target
  # -timeout: an input taking over 10 s is a hang, reported like a crash.
  if cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "fuzz/run.sh: $target ok: $runs executions, $cov, corpus $(ls "corpus/$target" | wc -l) inputs"
  else
    echo "fuzz/run.sh: $target FAILED; the end of its log ($log):" >&2
    tail -60 "$log" >&2
    ls -1 "artifacts/$target" 2>/dev/null | sed "s|^|fuzz/run.sh: reproduce with: cd fuzz \&\& RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target artifacts/$target/|" >&2 || true
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz/run.sh: ${#TARGETS[@]} passed, 0 failed"
