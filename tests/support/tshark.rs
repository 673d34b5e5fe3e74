//! Decoding a capture with tshark (an independent decoder) for integration tests.
//!
//! Included by each test crate that reads captures with `#[path = "support/tshark.rs"] mod
//! tshark;` (every file in tests/ is its own crate; tests/lab/mod.rs includes it with a path
//! relative to tests/lab/).

use std::path::Path;
use std::process::Command;

/// Decodes `pcap` with tshark, passing it `options` (preferences, heuristics) before the
/// filter: one row per packet matching the display `filter`, one column per field. Fails the
/// test, with tshark's stderr, when tshark cannot run or fails.
pub fn tshark_fields(
    pcap: &Path,
    options: &[&str],
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("timeout");
    cmd.args(["30", "tshark", "-n", "-r"])
        .arg(pcap)
        .args(options)
        .args(["-Y", filter, "-T", "fields", "-E", "separator=~"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("could not run tshark");
    assert!(
        out.status.success(),
        "tshark -Y {filter:?} failed on {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('~').map(str::to_owned).collect())
        .collect()
}
