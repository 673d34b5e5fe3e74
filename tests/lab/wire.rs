//! What the wire and the servers say, independently of icephone: tshark decodes of a capture
//! on the public segment (SIP ladder, SDP candidates, STUN, RTP streams, malformed packets),
//! the NATs' conntrack tables and the registrar's location table.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{tshark_fields, Lab, TSHARK_DECODE};

/// The public (address, port) a NAT maps a LAN flow to, from the NAT's conntrack table:
/// the reply direction's destination of the entry whose original direction matches.
pub fn nat_mapping(
    lab: &Lab,
    nat: &str,
    proto: &str,
    lan: (&str, Option<u16>),
    remote: (&str, u16),
) -> Vec<(String, u16)> {
    let out = lab.run_ok(
        nat,
        &["conntrack", "-L", "-p", proto],
        Duration::from_secs(5),
    );
    let mut found = Vec::new();
    for line in out.lines() {
        let kv: Vec<(&str, &str)> = line
            .split_whitespace()
            .filter_map(|t| t.split_once('='))
            .collect();
        // First src/dst/sport/dport are the original direction, the second ones the reply.
        let all = |key: &str| -> Vec<&str> {
            kv.iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .collect()
        };
        let (src, dst, sport, dport) = (all("src"), all("dst"), all("sport"), all("dport"));
        if src.len() < 2 || dst.len() < 2 || sport.len() < 2 || dport.len() < 2 {
            continue;
        }
        let port_ok = lan.1.is_none_or(|p| sport[0] == p.to_string());
        if src[0] == lan.0 && port_ok && dst[0] == remote.0 && dport[0] == remote.1.to_string() {
            if let Ok(p) = dport[1].parse() {
                found.push((dst[1].to_owned(), p));
            }
        }
    }
    found
}

/// A value Kamailio stored for an AoR (`kamcmd ul.dump`), e.g. `Received` or `CSeq`.
pub fn contact_field(dump: &str, aor: &str, field: &str) -> Option<String> {
    let mut in_aor = false;
    let prefix = format!("{field}: ");
    for line in dump.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("AoR: ") {
            in_aor = name == aor;
        } else if in_aor {
            if let Some(r) = line.strip_prefix(prefix.as_str()) {
                return Some(r.to_owned());
            }
        }
    }
    None
}

/// The Received address Kamailio stored for an AoR.
pub fn received_of(dump: &str, aor: &str) -> Option<String> {
    contact_field(dump, aor, "Received")
}

/// One SIP message seen on the wire.
#[derive(Debug, Clone)]
pub struct SipRow {
    pub time: f64,
    pub src: String,
    pub dst: String,
    pub transport: &'static str,
    pub sport: String,
    pub dport: String,
    pub method: String,
    pub status: String,
    /// The CSeq method.
    pub cseq: String,
    pub cseq_number: String,
    pub call_id: String,
    pub allow: String,
}

impl SipRow {
    pub fn is_request(&self, method: &str) -> bool {
        self.method == method
    }

    pub fn is_response(&self, status: &str, cseq: &str) -> bool {
        self.status == status && self.cseq == cseq
    }
}

/// Every SIP message in the capture, in order.
pub fn sip_ladder(pcap: &Path) -> Vec<SipRow> {
    tshark_fields(
        pcap,
        "sip",
        &[
            "frame.time_relative",
            "ip.src",
            "ip.dst",
            "udp.srcport",
            "udp.dstport",
            "tcp.srcport",
            "tcp.dstport",
            "sip.Method",
            "sip.Status-Code",
            "sip.CSeq.method",
            "sip.CSeq.seq",
            "sip.Call-ID",
            "sip.Allow",
        ],
    )
    .into_iter()
    .map(|r| {
        let f = |i: usize| r.get(i).cloned().unwrap_or_default();
        let udp = !f(4).is_empty();
        SipRow {
            time: f(0).parse().unwrap_or(0.0),
            src: f(1),
            dst: f(2),
            transport: if udp { "udp" } else { "tcp" },
            sport: if udp { f(3) } else { f(5) },
            dport: if udp { f(4) } else { f(6) },
            method: f(7),
            status: f(8),
            cseq: f(9),
            cseq_number: f(10),
            call_id: f(11),
            allow: f(12),
        }
    })
    .collect()
}

/// The ladder as text, for assertion messages.
pub fn ladder_text(rows: &[SipRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{:8.3} {}:{} -> {}:{} {} {}{} [{} {}]",
                r.time,
                r.src,
                r.sport,
                r.dst,
                r.dport,
                r.transport,
                r.method,
                r.status,
                r.cseq_number,
                r.cseq
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Packets tshark flags as malformed.
pub fn malformed_count(pcap: &Path) -> usize {
    tshark_fields(pcap, "_ws.malformed", &["frame.number"]).len()
}

/// One SDP candidate line seen on the wire: (address, port, type).
pub fn sdp_candidates(pcap: &Path, filter: &str) -> Vec<(String, String, String)> {
    let rows = tshark_fields(
        pcap,
        &format!("sdp && ({filter})"),
        &[
            "sdp.ice_candidate.address",
            "sdp.ice_candidate.port",
            "sdp.ice_candidate.type",
        ],
    );
    let mut out = Vec::new();
    for r in rows {
        let split = |i: usize| -> Vec<String> {
            r.get(i)
                .map(|s| s.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let (a, p, t) = (split(0), split(1), split(2));
        for ((a, p), t) in a.into_iter().zip(p).zip(t) {
            out.push((a, p, t));
        }
    }
    out
}

/// One RTP stream from `tshark -z rtp,streams`.
#[derive(Debug, Clone, PartialEq)]
pub struct RtpStream {
    pub src: String,
    pub sport: u16,
    pub dst: String,
    pub dport: u16,
    pub payload: String,
    pub packets: u64,
    pub lost: i64,
}

/// RTP streams tshark finds (heuristically, RTP over UDP and inside TURN ChannelData).
pub fn rtp_streams(pcap: &Path) -> Vec<RtpStream> {
    let out = Command::new("timeout")
        .args(["30", "tshark", "-n", "-r"])
        .arg(pcap)
        .args(TSHARK_DECODE)
        .args(["-q", "-z", "rtp,streams"])
        .output()
        .expect("could not run tshark");
    assert!(out.status.success(), "tshark rtp,streams failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let t: Vec<&str> = line.split_whitespace().collect();
            // start end src sport dst dport ssrc payload pkts lost (pct) ...
            if t.len() < 10 || !t.get(6)?.starts_with("0x") {
                return None;
            }
            Some(RtpStream {
                src: t[2].to_owned(),
                sport: t[3].parse().ok()?,
                dst: t[4].to_owned(),
                dport: t[5].parse().ok()?,
                payload: t[7].to_owned(),
                packets: t[8].parse().ok()?,
                lost: t[9].parse().ok()?,
            })
        })
        .collect()
}

/// RTP packets from `src` to `dst` (IP addresses), summed over streams.
pub fn rtp_packets(streams: &[RtpStream], src: &str, dst: &str) -> u64 {
    streams
        .iter()
        .filter(|s| s.src == src && s.dst == dst)
        .map(|s| s.packets)
        .sum()
}

/// One STUN message: (time, src ip:port, dst ip:port, type, attribute types).
#[derive(Debug, Clone)]
pub struct StunRow {
    pub time: f64,
    pub src: String,
    pub dst: String,
    pub msg_type: String,
    pub attributes: String,
    pub lifetime: String,
}

pub fn stun_messages(pcap: &Path, filter: &str) -> Vec<StunRow> {
    tshark_fields(
        pcap,
        &format!("stun && ({filter})"),
        &[
            "frame.time_relative",
            "ip.src",
            "udp.srcport",
            "ip.dst",
            "udp.dstport",
            "stun.type",
            "stun.att.type",
            "stun.att.lifetime",
        ],
    )
    .into_iter()
    .map(|r| {
        let f = |i: usize| r.get(i).cloned().unwrap_or_default();
        StunRow {
            time: f(0).parse().unwrap_or(0.0),
            src: format!("{}:{}", f(1), f(2)),
            dst: format!("{}:{}", f(3), f(4)),
            msg_type: f(5),
            attributes: f(6),
            lifetime: f(7),
        }
    })
    .collect()
}

/// Frames of a capture matching a display filter, decoded with the RTP heuristics on (RTP
/// over UDP and inside TURN ChannelData), so RTP is dissected like every other protocol.
pub fn count_frames(pcap: &Path, filter: &str) -> usize {
    tshark_fields(pcap, filter, &["frame.number"]).len()
}

/// Up to `max` frames matching `filter`, one line each (number, protocols, addresses, the
/// first bytes of the UDP payload), so a failing wire check shows what it found.
fn first_frames(pcap: &Path, filter: &str, max: usize) -> String {
    let out = Command::new("timeout")
        .args(["30", "tshark", "-n", "-r"])
        .arg(pcap)
        .args(TSHARK_DECODE)
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "separator= ",
            "-e",
            "frame.number",
            "-e",
            "frame.time_relative",
            "-e",
            "frame.protocols",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "udp.payload",
        ])
        .output();
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .take(max)
            .map(|l| format!("  {}", l.chars().take(300).collect::<String>()))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("  (tshark could not list them: {e})"),
    }
}

/// What `assert_wire_clean` decoded in a capture.
#[derive(Debug)]
pub struct WireSummary {
    pub sip_messages: usize,
    pub sdp_bodies: usize,
    pub stun_messages: usize,
    /// STUN messages carrying FINGERPRINT (all with a good CRC-32).
    pub fingerprints: usize,
    pub rtp_packets: usize,
    pub rtp_streams: Vec<RtpStream>,
}

/// Issue 7, test 8: tshark decodes every SIP message, SDP body, STUN message and RTP packet
/// of the capture, and finds nothing malformed and no error-level expert info. Fails with the
/// filter that matched and how often. Every capture this is called on has SIP in it (a lab
/// call), so an empty decode fails too rather than passing vacuously.
pub fn assert_wire_clean(pcap: &Path) -> WireSummary {
    assert_wire_clean_except(pcap, None)
}

/// [`assert_wire_clean`], with the frames matching the display filter `except` left out of
/// every check: for traffic tshark cannot decode by content by design, e.g. SRTCP (RFC 3711
/// §3.4: the E flag, index and tag after the compound packet read as further, often
/// malformed, RTCP packets). The caller checks those frames itself.
pub fn assert_wire_clean_except(pcap: &Path, except: Option<&str>) -> WireSummary {
    // (what must never be seen, display filter)
    let never = [
        ("malformed packets", "_ws.malformed"),
        ("error-level expert info", "_ws.expert.severity == error"),
        (
            "SIP messages without a request method or status code",
            "sip && !(sip.Method || sip.Status-Code)",
        ),
        (
            // A CRLF keepalive (RFC 5626 §4.4.1) is 2–4 bytes: 12 bytes of UDP at most.
            "UDP datagrams to/from 5060 that do not decode as SIP",
            "udp.port == 5060 && udp.length > 12 && !sip",
        ),
        (
            "SIP bodies declared SDP without v=, o=, c= and m= decoded",
            "sip.Content-Type contains \"sdp\" && !(sdp.version && sdp.owner && sdp.connection_info && sdp.media)",
        ),
        (
            "datagrams to/from the STUN/TURN server that do not decode as STUN or ChannelData",
            "udp.port == 3478 && !stun",
        ),
        ("STUN messages without a message type", "stun && !stun.type && !stun.channel"),
        (
            // RFC 8489 §14.7: FINGERPRINT is a CRC-32 of the message XOR 0x5354554e.
            "STUN FINGERPRINTs tshark does not verify as good",
            "stun.att.crc32 && stun.att.crc32.status != 1",
        ),
        (
            // A STUN message (type field present) is never RTP, even when a heuristic
            // dissector also looked at it; ChannelData (no type) may carry RTP.
            "RTP packets that are not version 2",
            "rtp && !stun.type && !rtcp && rtp.version != 2",
        ),
    ];
    let bad: Vec<String> = never
        .iter()
        .filter_map(|(what, filter)| {
            let filter = match except {
                Some(e) => format!("({filter}) && !({e})"),
                None => (*filter).to_owned(),
            };
            let filter = filter.as_str();
            let n = count_frames(pcap, filter);
            (n > 0).then(|| {
                format!(
                    "{n} {what} ({filter}); the first of them:\n{}",
                    first_frames(pcap, filter, 5)
                )
            })
        })
        .collect();
    assert!(
        bad.is_empty(),
        "tshark's decode of {} is not clean:\n{}",
        pcap.display(),
        bad.join("\n")
    );
    let summary = WireSummary {
        sip_messages: count_frames(pcap, "sip"),
        sdp_bodies: count_frames(pcap, "sdp"),
        stun_messages: count_frames(pcap, "stun && stun.type"),
        fingerprints: count_frames(pcap, "stun.att.crc32"),
        rtp_packets: count_frames(pcap, "rtp && !stun.type && !rtcp"),
        rtp_streams: rtp_streams(pcap),
    };
    assert!(
        summary.sip_messages > 0,
        "no SIP decoded in {}: {summary:?}",
        pcap.display()
    );
    // tshark's RTP analysis finds the streams of the RTP it decoded.
    assert!(
        summary.rtp_packets == 0 || !summary.rtp_streams.is_empty(),
        "RTP decoded but no stream in rtp,streams: {summary:?}"
    );
    summary
}
