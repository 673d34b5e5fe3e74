//! `--pcap` with SIP over TCP: a real `call` → `answer` over TCP on loopback, both capturing,
//! and tshark (an independent decoder) reassembles the synthesized TCP streams, dissects the
//! whole SIP ladder on them and raises no warning (checksum validation switched on). A
//! doctored copy of a capture shows the same tshark check does catch a lost segment and a bad
//! checksum. Needs tshark: fails, never skips, without it.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/process.rs"]
mod process;
#[path = "support/tshark.rs"]
mod tshark;
use process::{assert_exit, spawn_captured};

/// tshark preferences that make it verify every checksum (off by default).
const CHECK_CHECKSUMS: [&str; 6] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
];

/// Every packet tshark raises a warning or error about (lost or unACKed segments, bad
/// checksums, malformed SIP).
const PROBLEMS: &str = "_ws.expert.severity >= warning || _ws.malformed";

fn require_tshark() {
    let found = Command::new("sh")
        .args(["-c", "command -v tshark"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "this test decodes the capture with `tshark`, which is not installed; \
         ./test.sh installs it (Debian package tshark)"
    );
}

/// A loopback port free for both UDP and TCP (the answerer listens on both).
fn port_free_for_both() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Decodes `pcap` with tshark (checksums verified): one row per packet matching `filter`,
/// one column per field.
fn tshark_fields(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let options = [tshark::BY_CONTENT, &CHECK_CHECKSUMS].concat();
    tshark::tshark_fields(pcap, &options, filter, fields)
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("icephone-pcap-tcp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The SIP ladder tshark finds in `pcap`, as "METHOD" for requests and "CODE METHOD" for
/// responses, asserting each rode TCP between `callee_port` and another port.
fn sip_ladder_over_tcp(pcap: &Path, callee_port: u16) -> Vec<String> {
    let rows = tshark_fields(
        pcap,
        "sip",
        &[
            "tcp.srcport",
            "tcp.dstport",
            "udp.port",
            "sip.Method",
            "sip.Status-Code",
            "sip.CSeq.method",
        ],
    );
    rows.iter()
        .flat_map(|row| {
            let [src, dst, udp, method, code, cseq] = row.as_slice() else {
                panic!("unexpected tshark row {row:?}");
            };
            assert!(
                udp.is_empty(),
                "SIP over UDP in {}: {row:?}",
                pcap.display()
            );
            let callee = callee_port.to_string();
            assert!(
                *src == callee || *dst == callee,
                "SIP not on the callee's TCP port in {}: {row:?}",
                pcap.display()
            );
            frame_messages(method, code, cseq)
        })
        .collect()
}

/// The SIP messages of one frame. TCP coalesces: one read can carry several messages (a 180
/// and a 200 arrived in one segment), and tshark then lists each field's occurrences joined by
/// commas: `sip.Method` one per request, `sip.Status-Code` one per response, `sip.CSeq.method`
/// one per message in order. A request's CSeq method is its own method, so taking one such
/// occurrence out per request leaves the responses' CSeq methods in order.
fn frame_messages(methods: &str, codes: &str, cseqs: &str) -> Vec<String> {
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let requests = list(methods);
    let mut response_cseqs = list(cseqs);
    for m in &requests {
        if let Some(i) = response_cseqs.iter().position(|c| c == m) {
            response_cseqs.remove(i);
        }
    }
    let codes = list(codes);
    assert_eq!(
        codes.len(),
        response_cseqs.len(),
        "one CSeq per response: methods {methods:?}, codes {codes:?}, cseqs {cseqs:?}"
    );
    let responses = codes
        .iter()
        .zip(&response_cseqs)
        .map(|(code, cseq)| format!("{code} {cseq}"));
    requests.iter().cloned().chain(responses).collect()
}

/// The pcap records of a file: global header and each record (header + packet) as bytes.
fn pcap_records(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut at = 24;
    let mut records = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(bytes[at..at + 16 + len].to_vec());
        at += 16 + len;
    }
    (bytes[..24].to_vec(), records)
}

/// The first record whose packet is a TCP segment carrying data (IPv4, no options).
fn first_tcp_data_record(records: &[Vec<u8>]) -> usize {
    records
        .iter()
        .position(|r| r.len() > 16 + 40 && r[16 + 9] == 6)
        .expect("a TCP segment with data")
}

#[test]
fn call_over_tcp_is_captured_as_a_clean_tcp_stream() {
    require_tshark();
    let dir = TempDir::new();
    let callee_pcap = dir.0.join("answer.pcap");
    let caller_pcap = dir.0.join("call.pcap");
    let port = port_free_for_both();
    let answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--calls", "1", "--json", "--transport", "tcp"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--aor", "sip:bob@127.0.0.1", "--pcap"])
            .arg(&callee_pcap),
    );
    process::wait_listening(port);
    let call = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
        .args(["--transport", "tcp", "--bind", "127.0.0.1:0"])
        .args(["--aor", "sip:alice@127.0.0.1", "--duration", "1", "--pcap"])
        .arg(&caller_pcap)
        .output()
        .unwrap();
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, 0);
    assert_exit(&answer, 0);

    for pcap in [&caller_pcap, &callee_pcap] {
        let ladder = sip_ladder_over_tcp(pcap, port);
        for step in ["INVITE", "200 INVITE", "ACK", "BYE", "200 BYE"] {
            assert!(
                ladder.iter().any(|s| s == step),
                "{step} missing from {}: {ladder:?}",
                pcap.display()
            );
        }
        // The INVITE's SDP was dissected from the reassembled stream.
        assert!(
            !tshark_fields(pcap, "sip.Method == \"INVITE\" && sdp", &["frame.number"]).is_empty()
        );
        // One connection, opened by the caller's SYN to the callee's port.
        let syns = tshark_fields(
            pcap,
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            &["tcp.dstport", "tcp.stream"],
        );
        assert_eq!(
            syns,
            vec![vec![port.to_string(), "0".to_string()]],
            "{}",
            pcap.display()
        );
        // Media and ICE are still in the same capture, over UDP.
        assert!(!tshark_fields(pcap, "stun", &["frame.number"]).is_empty());
        let problems = tshark_fields(pcap, PROBLEMS, &["frame.number", "_ws.expert.message"]);
        assert!(
            problems.is_empty(),
            "tshark warnings in {}: {problems:?}",
            pcap.display()
        );
    }

    // The oracle can fail: a copy missing the INVITE segment, and one with a flipped
    // payload byte, both draw warnings.
    let (header, records) = pcap_records(&std::fs::read(&caller_pcap).unwrap());
    let invite = first_tcp_data_record(&records);
    let mut lost = header.clone();
    let mut corrupt = header;
    for (i, record) in records.iter().enumerate() {
        if i != invite {
            lost.extend_from_slice(record);
        }
        let mut record = record.clone();
        if i == invite {
            let last = record.len() - 3;
            record[last] ^= 0xFF;
        }
        corrupt.extend_from_slice(&record);
    }
    let lost_path = dir.0.join("lost.pcap");
    let corrupt_path = dir.0.join("corrupt.pcap");
    std::fs::write(&lost_path, lost).unwrap();
    std::fs::write(&corrupt_path, corrupt).unwrap();
    let lost_problems = tshark_fields(&lost_path, PROBLEMS, &["_ws.expert.message"]);
    assert!(
        lost_problems
            .iter()
            .flatten()
            .any(|m| m.contains("not captured")),
        "{lost_problems:?}"
    );
    let corrupt_problems = tshark_fields(&corrupt_path, PROBLEMS, &["_ws.expert.message"]);
    assert!(
        corrupt_problems
            .iter()
            .flatten()
            .any(|m| m.contains("checksum")),
        "{corrupt_problems:?}"
    );
}

#[test]
fn a_frame_with_several_sip_messages_gives_each_of_them() {
    assert_eq!(
        frame_messages("", "180,200", "INVITE,INVITE"),
        ["180 INVITE", "200 INVITE"]
    );
    assert_eq!(
        frame_messages("ACK,BYE", "200", "ACK,INVITE,BYE"),
        ["ACK", "BYE", "200 INVITE"]
    );
    assert_eq!(frame_messages("BYE", "", "BYE"), ["BYE"]);
}
