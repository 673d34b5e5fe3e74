//! The README's tshark command decodes a demo capture's RTP both ways without per-port hints
//! (issue 21 item 6).

use std::process::Command;

#[path = "support/tshark.rs"]
mod tshark;

/// The `tshark ... -r FILE` line of the README, split into words.
fn readme_command() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("tshark ") && l.contains("rtp_udp") && l.contains("-r call.pcap"))
        .expect("the README documents a tshark command that decodes RTP by content");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_readme_tshark_command_finds_rtp_both_ways_in_a_demo_capture() {
    let words = readme_command();
    let dir = std::env::temp_dir().join(format!("icephone-pcap-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("demo.pcap");
    let demo = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_icephone"))
        .args(["demo", "--seconds", "1", "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(
        demo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    // tshark's options from the README: everything between the program and `-r`.
    let options: Vec<&str> = words[1..]
        .iter()
        .take_while(|w| *w != "-r")
        .map(String::as_str)
        .collect();
    let rows = tshark::tshark_fields(&pcap, &options, "rtp", &["udp.srcport", "udp.dstport"]);
    let mut flows: Vec<(String, String)> =
        rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    flows.sort();
    flows.dedup();
    assert!(
        flows
            .iter()
            .any(|(s, d)| flows.contains(&(d.clone(), s.clone()))),
        "RTP in one direction only: {flows:?}"
    );
    let data = tshark::tshark_fields(&pcap, &options, "data", &["frame.number"]);
    assert!(data.is_empty(), "{} frames left as plain data", data.len());
}
