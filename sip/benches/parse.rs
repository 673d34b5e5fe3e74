//! Messages parsed per second: the valid RFC 4475 messages (§3.1.1) and a typical INVITE
//! with an ICE-laden SDP body. Bounded iterations; run with `cargo bench -p sip --bench parse`.

use std::hint::black_box;
use std::time::Instant;

use sip::message::{parse_datagram, StreamDecoder};

const VALID_RFC4475: &[(&str, &[u8])] = &[
    ("wsinv", include_bytes!("../tests/data/rfc4475/wsinv.dat")),
    (
        "intmeth",
        include_bytes!("../tests/data/rfc4475/intmeth.dat"),
    ),
    ("esc01", include_bytes!("../tests/data/rfc4475/esc01.dat")),
    (
        "escnull",
        include_bytes!("../tests/data/rfc4475/escnull.dat"),
    ),
    ("esc02", include_bytes!("../tests/data/rfc4475/esc02.dat")),
    (
        "lwsdisp",
        include_bytes!("../tests/data/rfc4475/lwsdisp.dat"),
    ),
    (
        "longreq",
        include_bytes!("../tests/data/rfc4475/longreq.dat"),
    ),
    ("dblreq", include_bytes!("../tests/data/rfc4475/dblreq.dat")),
    (
        "semiuri",
        include_bytes!("../tests/data/rfc4475/semiuri.dat"),
    ),
    (
        "transports",
        include_bytes!("../tests/data/rfc4475/transports.dat"),
    ),
    (
        "mpart01",
        include_bytes!("../tests/data/rfc4475/mpart01.dat"),
    ),
    (
        "unreason",
        include_bytes!("../tests/data/rfc4475/unreason.dat"),
    ),
    (
        "noreason",
        include_bytes!("../tests/data/rfc4475/noreason.dat"),
    ),
];

fn typical_invite() -> Vec<u8> {
    let mut sdp = String::from(
        "v=0\r\no=- 3920147561 3920147561 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
         a=ice-ufrag:8hhY\r\na=ice-pwd:asd88fgpdd777uzjYhagZg\r\na=ice-options:trickle\r\n\
         m=audio 40000 RTP/AVP 111 0 8 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n\
         a=rtcp-mux\r\n",
    );
    let candidates = [
        "1 1 UDP 2130706431 192.0.2.10 40000 typ host",
        "2 1 UDP 2130706175 [2001:db8::10] 40002 typ host",
        "3 1 UDP 1694498815 203.0.113.5 40000 typ srflx raddr 192.0.2.10 rport 40000",
        "4 1 UDP 16777215 198.51.100.20 50000 typ relay raddr 203.0.113.5 rport 40000",
        "5 1 TCP 1518280447 192.0.2.10 9 typ host tcptype active",
        "6 1 UDP 1694498559 203.0.113.5 40004 typ srflx raddr 192.0.2.10 rport 40004",
        "7 1 UDP 1677724415 [2001:db8:1::5] 40006 typ srflx raddr 2001:db8::10 rport 40002",
        "8 1 UDP 16777214 198.51.100.21 50002 typ relay raddr 203.0.113.5 rport 40004",
    ];
    for c in candidates {
        sdp.push_str("a=candidate:");
        sdp.push_str(c);
        sdp.push_str("\r\n");
    }
    let head = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK776asdhds\r\n\
         Max-Forwards: 70\r\n\
         To: \"Bob\" <sip:bob@example.com>\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@192.0.2.10\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060;ob>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, NOTIFY, MESSAGE\r\n\
         Supported: outbound, replaces, timer\r\n\
         User-Agent: icephone/0.1\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n",
        sdp.len()
    );
    let mut msg = head.into_bytes();
    msg.extend_from_slice(sdp.as_bytes());
    msg
}

fn report(label: &str, messages: u64, bytes: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<44} {:>10.0} msgs/s  {:>7.1} MB/s  ({messages} msgs in {secs:.3} s)",
        messages as f64 / secs,
        bytes as f64 / secs / 1e6,
    );
}

fn main() {
    // Sanity: every input parses, so the figures measure successful parses.
    for (name, bytes) in VALID_RFC4475 {
        assert!(parse_datagram(bytes).is_ok(), "{name} must parse");
    }
    let invite = typical_invite();
    assert!(parse_datagram(&invite).is_ok());

    const ROUNDS: u64 = 3_000;
    let set_bytes: u64 = VALID_RFC4475.iter().map(|(_, b)| b.len() as u64).sum();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        for (_, bytes) in VALID_RFC4475 {
            black_box(parse_datagram(black_box(bytes)).ok());
        }
    }
    report(
        "parse_datagram, valid RFC 4475 set (13)",
        ROUNDS * VALID_RFC4475.len() as u64,
        ROUNDS * set_bytes,
        start,
    );

    const INVITES: u64 = 40_000;
    let start = Instant::now();
    for _ in 0..INVITES {
        black_box(parse_datagram(black_box(&invite)).ok());
    }
    report(
        &format!("parse_datagram, INVITE with SDP ({} B)", invite.len()),
        INVITES,
        INVITES * invite.len() as u64,
        start,
    );

    let start = Instant::now();
    for _ in 0..INVITES {
        let msg = parse_datagram(black_box(&invite)).ok();
        if let Some(m) = msg {
            let h = m.headers();
            black_box((
                h.top_via().ok(),
                h.from_addr().ok(),
                h.to_addr().ok(),
                h.cseq().ok(),
                h.contacts().ok(),
            ));
        }
    }
    report(
        "parse + typed Via/From/To/CSeq/Contact",
        INVITES,
        INVITES * invite.len() as u64,
        start,
    );

    let stream: Vec<u8> = invite
        .iter()
        .copied()
        .cycle()
        .take(invite.len() * 100)
        .collect();
    const STREAM_ROUNDS: u64 = 400;
    let start = Instant::now();
    let mut count = 0u64;
    for _ in 0..STREAM_ROUNDS {
        let mut decoder = StreamDecoder::default();
        for chunk in stream.chunks(1400) {
            decoder.push(chunk);
            while let Ok(Some(event)) = decoder.next_event() {
                black_box(event);
                count += 1;
            }
        }
    }
    report(
        "StreamDecoder, INVITEs in 1400 B reads",
        count,
        STREAM_ROUNDS * stream.len() as u64,
        start,
    );

    let parsed = parse_datagram(&invite).ok();
    let start = Instant::now();
    let mut out = Vec::with_capacity(4096);
    for _ in 0..INVITES {
        out.clear();
        if let Some(m) = &parsed {
            m.encode_into(&mut out);
        }
        black_box(&out);
    }
    report(
        "encode_into, INVITE with SDP",
        INVITES,
        INVITES * out.len() as u64,
        start,
    );
}
