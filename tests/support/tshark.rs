//! Decoding a capture with tshark (an independent decoder) for integration tests.
//!
//! Included by each test crate that reads captures with `#[path = "support/tshark.rs"] mod
//! tshark;` (every file in tests/ is its own crate; tests/lab/mod.rs includes it with a path
//! relative to tests/lab/).

// Each test crate uses a subset of these items.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Options that make tshark recognise STUN, RTP and RTCP by their content (heuristics,
/// tried before port numbers), never by a port:
/// - ephemeral media ports collide with ports tshark assigns to other protocols (a CI run
///   had ICE on UDP 37008, TZSP's port, and 931 "malformed" TZSP frames);
/// - an SDP "conversation" matches the announced address:port with *any* peer, so a STUN
///   check inside TURN ChannelData on an announced socket was decoded as RTP version 0.
///
/// RTP is found over UDP and inside TURN ChannelData / Send and Data indications. On nine
/// lab captures of passing runs these options decode the same number of SIP, STUN, RTP and
/// RTCP frames as tshark's defaults with the RTP heuristics on.
pub const BY_CONTENT: &[&str] = &[
    "-o",
    "sdp.establish_conversation:FALSE",
    "-o",
    "udp.try_heuristic_first:TRUE",
    "--enable-heuristic",
    "rtcp_udp",
    "--enable-heuristic",
    "rtp_udp",
    "--enable-heuristic",
    "rtp_stun",
];

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
