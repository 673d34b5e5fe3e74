//! In-process calls over loopback sockets: two phones, real SIP over UDP, ICE, RTP. Only
//! what needs real sockets is here (captures, TCP, WAV files, latching on real addresses,
//! a lossy SIP relay, several calls through one user agent); the call's own behaviour is
//! tested in virtual time (`src/call/engine/virtual_loopback_tests.rs`).

#[path = "support/tshark.rs"]
mod tshark;

use std::net::IpAddr;
use std::time::Duration;

use icephone::call::{run_callee, run_caller, CallOptions, CallOutcome};
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::media::codec::CodecKind;
use icephone::media::goertzel::tone_ratio;
use icephone::media::source::Source;
use icephone::media::wav;
use icephone::pcap::Capture;
use icephone::signalling::{spawn as spawn_ua, UaConfig};

const LO: [u8; 4] = [127, 0, 0, 1];
const LO2: [u8; 4] = [127, 0, 0, 2];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

struct Pair {
    caller: CallOptions,
    callee: CallOptions,
    callee_allows_update: bool,
    capture: Option<Capture>,
}

fn pair(emitter: &Emitter) -> Pair {
    let mut caller = CallOptions::new("caller", vec![ip(LO)], emitter.clone());
    caller.allow_loopback = true;
    caller.duration = Some(Duration::from_millis(1200));
    let mut callee = CallOptions::new("callee", vec![ip(LO)], emitter.clone());
    callee.allow_loopback = true;
    Pair {
        caller,
        callee,
        callee_allows_update: true,
        capture: None,
    }
}

async fn run(p: Pair) -> (CallOutcome, CallOutcome) {
    let ua = |aor: &str, allow_update: bool| UaConfig {
        capture: p.capture.clone(),
        allow_update,
        ..UaConfig::new((ip(LO), 0).into(), aor)
    };
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1", p.callee_allows_update))
        .await
        .unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1", true)).await.unwrap();
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(10), callee)
        .await
        .expect("callee finished")
        .unwrap()
        .unwrap();
    (caller, callee)
}

fn events_of<'a>(events: &'a [Event], agent: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.agent() == agent).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wav_round_trip_carries_the_tone() {
    let dir = std::env::temp_dir().join(format!("icephone-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.wav");
    let output = dir.join("out.wav");
    // 16 kHz input exercises the conversion to 8 kHz.
    let samples: Vec<i16> = (0..32000)
        .map(|i| (9000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 16000.0).sin()) as i16)
        .collect();
    wav::write(&input, &samples, 16000).unwrap();
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::samples(wav::read(&input).unwrap().samples);
    p.callee.record = Some(output.clone());
    let (caller, _callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let recorded = wav::read(&output).unwrap().samples;
    assert!(recorded.len() > 8000 / 2, "{} samples", recorded.len());
    assert!(tone_ratio(&recorded, 1000.0, 8000.0) > 0.5);
    assert!(tone_ratio(&recorded, 440.0, 8000.0) < 0.05);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Opus and G.722 over real sockets: the callee's WAV recording (8 kHz whatever the codec)
/// holds the caller's tone, and both name the codec in their media figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_and_g722_calls_record_the_tone() {
    let dir = std::env::temp_dir().join(format!("icephone-codecs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (kind, name) in [(CodecKind::Opus, "opus"), (CodecKind::G722, "G722")] {
        let output = dir.join(format!("{name}.wav"));
        let emitter = Emitter::new(false, true);
        let mut p = pair(&emitter);
        // The caller would rather have Opus or G.722; the callee takes only `kind`.
        p.caller.codecs = vec![CodecKind::Opus, CodecKind::G722, CodecKind::Pcmu];
        p.callee.codecs = vec![kind, CodecKind::Pcma];
        p.caller.source = Source::tone(1000.0);
        p.callee.record = Some(output.clone());
        let (caller, callee) = run(p).await;
        assert_eq!(caller.exit, exit::OK, "{name}: {}", caller.reason);
        assert_eq!(caller.media.codec, name);
        assert_eq!(callee.media.codec, name);
        let bytes = std::fs::read(&output).unwrap();
        // The canonical header's sample rate field (offset 24).
        let rate = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
        assert_eq!(rate, 8000, "{name}: recordings stay 8 kHz");
        let wav = wav::read(&output).unwrap();
        assert!(
            wav.samples.len() > 8000 / 2,
            "{name}: {} samples",
            wav.samples.len()
        );
        let ratio = tone_ratio(&wav.samples, 1000.0, 8000.0);
        assert!(ratio > 0.5, "{name}: 1 kHz ratio {ratio}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The capture shows the gate: every RTP datagram comes after a STUN Binding success
/// response, and tshark reads the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcap_shows_no_rtp_before_ice_and_opens_in_tshark() {
    let dir = std::env::temp_dir().join(format!("icephone-pcap-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("call.pcap");
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    let capture = Capture::create(&path).unwrap();
    p.caller.capture = Some(capture.clone());
    p.callee.capture = Some(capture.clone());
    p.capture = Some(capture);
    p.caller.duration = Some(Duration::from_millis(500));
    let (caller, _) = run(p).await;
    assert_eq!(caller.exit, exit::OK);
    let bytes = std::fs::read(&path).unwrap();
    let payloads = pcap_udp_payloads(&bytes);
    assert!(payloads.iter().any(|p| p.starts_with(b"INVITE ")));
    let first_success = payloads
        .iter()
        .position(|p| p.len() >= 20 && p[0] == 0x01 && p[1] == 0x01)
        .expect("a STUN Binding success response");
    let first_rtp = payloads
        .iter()
        .position(|p| matches!(p.first(), Some(128..=191)))
        .expect("RTP");
    assert!(first_success < first_rtp, "{first_success} < {first_rtp}");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(tshark::BY_CONTENT)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SIP"), "{text}");
    assert!(text.contains("STUN"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// UDP payloads of a LINKTYPE_RAW IPv4 capture, in order.
fn pcap_udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap()) as usize;
        let packet = &bytes[i + 16..i + 16 + len];
        let ihl = usize::from(packet[0] & 0x0F) * 4;
        out.push(packet[ihl + 8..].to_vec());
        i += 16 + len;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_stun_server_delays_the_call_by_at_most_its_timeout() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    // A port nobody listens on: the server is given up after its retransmissions.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    p.caller.stun = Some(silent.local_addr().unwrap());
    p.caller.duration = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let (caller, _) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(caller.selected.is_some());
    // ice's gathering gives a server 3.5 s (3 sends); the call's own cap is 5 s.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    // …and it did wait for the server (nothing answers, no ICMP on a bound port).
    assert!(waited > Duration::from_secs(2), "{waited:?}");
    drop(silent);
}

/// RFC 3261 §21.4.24: beyond `max_calls` (1) a second INVITE gets 486 Busy Here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_while_busy_gets_486() {
    let emitter = Emitter::new(false, true);
    let ua = |aor: &str| UaConfig::new((ip(LO), 0).into(), aor);
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let mut callee = CallOptions::new("callee", vec![ip(LO)], emitter.clone());
    callee.allow_loopback = true;
    let callee_task = tokio::spawn(run_callee(callee, callee_ua));
    let first = {
        let mut o = CallOptions::new("first", vec![ip(LO)], emitter.clone());
        o.allow_loopback = true;
        o.duration = Some(Duration::from_millis(1500));
        let ua1 = spawn_ua(ua("sip:first@127.0.0.1")).await.unwrap();
        let target = target.clone();
        tokio::spawn(async move { run_caller(o, ua1, &target).await })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut second = CallOptions::new("second", vec![ip(LO)], emitter.clone());
    second.allow_loopback = true;
    let ua2 = spawn_ua(ua("sip:second@127.0.0.1")).await.unwrap();
    let busy = run_caller(second, ua2, &target).await.unwrap();
    assert_eq!(busy.exit, exit::CALL, "{}", busy.reason);
    assert!(busy.reason.starts_with("486"), "{}", busy.reason);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.exit, exit::OK, "{}", first.reason);
    callee_task.await.unwrap().unwrap();
    assert!(emitter.events().iter().any(|e| matches!(e,
        Event::Call { agent, state, status: Some(486), .. } if agent == "second" && state == "failed")));
}

/// A multi-call user agent (`answer --max-calls 2`): two calls at once, each on its own
/// handle; the first caller's hold (an in-dialog offer) reaches only the first call's engine,
/// so the bridge routes by dialog, not to "the" call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_calls_keep_their_in_dialog_offers_apart() {
    let emitter = Emitter::new(false, true);
    let ua = |aor: &str| UaConfig::new((ip(LO), 0).into(), aor);
    let (callee_ua, mut incoming) = icephone::signalling::spawn_multi(UaConfig {
        max_calls: 2,
        ..ua("sip:callee@127.0.0.1")
    })
    .await
    .unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let callees = {
        let emitter = emitter.clone();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for n in 1..=2 {
                let handle = incoming.recv().await.expect("an incoming call");
                let mut o = CallOptions::new(&format!("callee-{n}"), vec![ip(LO)], emitter.clone());
                o.allow_loopback = true;
                tasks.push(tokio::spawn(run_callee(o, handle)));
            }
            let mut outcomes = Vec::new();
            for t in tasks {
                outcomes.push(t.await.unwrap().unwrap());
            }
            outcomes
        })
    };
    let caller = |name: &str, hold: bool| {
        let mut o = CallOptions::new(name, vec![ip(LO)], emitter.clone());
        o.allow_loopback = true;
        o.duration = Some(Duration::from_millis(2500));
        if hold {
            o.hold_after = Some(Duration::from_millis(600));
            o.hold_for = Duration::from_millis(800);
        }
        let target = target.clone();
        let aor = format!("sip:{name}@127.0.0.1");
        async move {
            let ua = spawn_ua(ua(&aor)).await.unwrap();
            run_caller(o, ua, &target).await.unwrap()
        }
    };
    let holder = tokio::spawn(caller("holder", true));
    // The holder's INVITE is the first call, so its engine is callee-1.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plain = tokio::spawn(caller("plain", false));
    let holder = holder.await.unwrap();
    let plain = plain.await.unwrap();
    let callees = tokio::time::timeout(Duration::from_secs(15), callees)
        .await
        .expect("both callees finished")
        .unwrap();
    drop(callee_ua);
    for outcome in [&holder, &plain, &callees[0], &callees[1]] {
        assert_eq!(outcome.exit, exit::OK, "{}", outcome.reason);
        assert!(outcome.selected.is_some(), "ICE selected a pair");
        assert!(outcome.media.rtp_received > 20, "{:?}", outcome.media);
    }
    assert_eq!(holder.hold_cycles, 1);
    assert_eq!(
        callees[0].hold_cycles, 1,
        "the held call's engine saw the hold"
    );
    assert_eq!(
        callees[1].hold_cycles, 0,
        "the other call was not put on hold"
    );
    assert_eq!(plain.hold_cycles, 0);
    // Two engines, two sets of media sockets.
    let local = |o: &CallOutcome| o.selected.as_ref().map(|(l, _)| l.address);
    assert_ne!(local(&callees[0]), local(&callees[1]));
    // They overlapped: both callees were established before either ended.
    let events = emitter.events();
    let at = |agent: &str, state: &str| {
        events
            .iter()
            .position(
                |e| matches!(e, Event::Call { agent: a, state: s, .. } if a == agent && s == state),
            )
            .unwrap_or_else(|| panic!("{agent} {state}"))
    };
    assert!(
        at("callee-1", "established").max(at("callee-2", "established"))
            < at("callee-1", "ended").min(at("callee-2", "ended"))
    );
}

/// SIP over TCP through the driver (`--transport tcp`): same call, same ICE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_sip_over_tcp() {
    let emitter = Emitter::new(false, true);
    let cfg = |aor: &str| UaConfig {
        transport: sip::endpoint::TransportKind::Tcp,
        ..UaConfig::new((ip(LO), 0).into(), aor)
    };
    let callee_ua = spawn_ua(cfg("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{};transport=tcp", callee_ua.local);
    let p = pair(&emitter);
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let caller_ua = spawn_ua(cfg("sip:caller@127.0.0.1")).await.unwrap();
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(10), callee)
        .await
        .expect("callee finished")
        .unwrap()
        .unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(caller.selected.is_some());
    assert!(callee.media.rtp_received > 20);
}

/// `--echo`: the callee sends back what it receives, so the caller hears its own tone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sends_back_what_arrives() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::tone(900.0);
    p.caller.keep_audio = true;
    p.callee.echo = true;
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(callee.media.rtp_sent > 30);
    assert!(caller.recorded.len() > 8000 / 2);
    assert!(tone_ratio(&caller.recorded, 900.0, 8000.0) > 0.5);
}

/// A caller (offering ICE or not) calling a bare SIP user agent that answers 200 with a
/// plain RFC 3264 SDP naming 127.0.0.1:`answer_port`, and runs no media of its own. Returns
/// the running caller, the caller's RTP address from its offer, and the answering user agent
/// (kept alive for the call).
async fn call_a_plain_answerer(
    emitter: &Emitter,
    caller_ice: bool,
    answer_port: u16,
) -> (
    tokio::task::JoinHandle<anyhow::Result<CallOutcome>>,
    std::net::SocketAddr,
    icephone::signalling::UaHandle,
) {
    use icephone::signalling::{UaCommand, UaEvent};
    let mut callee_ua = spawn_ua(UaConfig::new((ip(LO), 0).into(), "sip:plain@127.0.0.1"))
        .await
        .unwrap();
    let target = format!("sip:plain@{}", callee_ua.local);
    let mut p = pair(emitter);
    p.caller.ice = caller_ice;
    p.caller.duration = Some(Duration::from_millis(1200));
    let caller_ua = spawn_ua(UaConfig::new((ip(LO), 0).into(), "sip:caller@127.0.0.1"))
        .await
        .unwrap();
    let caller = tokio::spawn(async move { run_caller(p.caller, caller_ua, &target).await });
    let offer = loop {
        match callee_ua.next().await.expect("UA running") {
            UaEvent::Incoming { sdp, .. } => break sdp,
            _ => continue,
        }
    };
    let offer = sdp::parse(&offer).unwrap();
    let m = &offer.media[0];
    let c = m.connection.as_ref().or(offer.connection.as_ref()).unwrap();
    let caller_rtp = std::net::SocketAddr::new(c.address.ip().unwrap(), m.port);
    let answer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {answer_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    callee_ua
        .send(UaCommand::Respond {
            status: 200,
            reason: "OK".into(),
            sdp: Some(answer),
        })
        .await;
    (caller, caller_rtp, callee_ua)
}

/// Symmetric RTP (RFC 4961) toward a peer without ICE whose media comes from another port
/// than its m= line says (a NAT, say): the caller latches onto the source and sends there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_media_latches_onto_where_the_peer_sends_from() {
    use icephone::media::rtp::RtpPacket;
    let emitter = Emitter::new(false, true);
    let signalled = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let actual = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = signalled.local_addr().unwrap().port();
    let (caller, caller_rtp, _callee_ua) = call_a_plain_answerer(&emitter, true, port).await;
    // RTP from the port the SDP did not mention, 20 ms apart, while counting what arrives.
    let mut at_actual = 0;
    let mut buf = [0u8; 2048];
    for seq in 0..50u16 {
        let packet = RtpPacket {
            marker: seq == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 0x1234,
            payload: vec![0xFF; 160],
        };
        actual.send_to(&packet.encode(), caller_rtp).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        while actual.try_recv_from(&mut buf).is_ok() {
            at_actual += 1;
        }
    }
    let caller = caller.await.unwrap().unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used);
    assert!(caller.media.rtp_received >= 40, "{:?}", caller.media);
    assert!(
        at_actual >= 20,
        "only {at_actual} packets reached the latched port"
    );
}

/// `--no-ice` on the caller: its offer has no ICE attributes, so the ICE callee answers
/// plain RFC 3264 (RFC 8839 §4.3.2: no ICE attributes in the answer) and both send media.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_ice_gets_a_plain_answer() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.ice = false;
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used && !callee.ice_used);
    assert!(callee
        .ice_not_used_reason
        .as_deref()
        .is_some_and(|r| r.contains("no ICE attributes")));
    assert!(callee.media.rtp_received > 30 && caller.media.rtp_received > 30);
}

/// After selection media goes only on the selected pair (RFC 8445 §12.1): with two caller
/// bases, every RTP datagram the caller sends leaves from the selected local candidate to
/// the selected remote one, as the capture shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_only_on_the_selected_pair_in_the_capture() {
    let dir = std::env::temp_dir().join(format!("icephone-pcap-pair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pair.pcap");
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    let capture = Capture::create(&path).unwrap();
    p.caller.capture = Some(capture.clone());
    p.caller.host_ips = vec![ip(LO2), ip(LO)];
    p.caller.blocked_ips = vec![ip(LO2)];
    p.caller.duration = Some(Duration::from_millis(600));
    p.capture = Some(capture);
    let (caller, _) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let (local, remote) = caller.selected.clone().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let rtp_from_caller_bases: Vec<(std::net::SocketAddr, std::net::SocketAddr)> =
        pcap_udp_datagrams(&bytes)
            .into_iter()
            .filter(|(src, _, payload)| {
                matches!(payload.first(), Some(128..=191))
                    && (src.ip() == ip(LO2) || *src == local.address)
            })
            .map(|(src, dst, _)| (src, dst))
            .collect();
    assert!(rtp_from_caller_bases.len() > 20);
    assert!(rtp_from_caller_bases
        .iter()
        .all(|(src, dst)| *src == local.address && *dst == remote.address));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// (source, destination, UDP payload) of a LINKTYPE_RAW IPv4 capture, in order.
fn pcap_udp_datagrams(bytes: &[u8]) -> Vec<(std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap()) as usize;
        let packet = &bytes[i + 16..i + 16 + len];
        let ihl = usize::from(packet[0] & 0x0F) * 4;
        let addr = |ip_at: usize, port_at: usize| {
            let ip: [u8; 4] = packet[ip_at..ip_at + 4].try_into().unwrap();
            let port = u16::from_be_bytes([packet[port_at], packet[port_at + 1]]);
            std::net::SocketAddr::from((ip, port))
        };
        out.push((addr(12, ihl), addr(16, ihl + 2), packet[ihl + 8..].to_vec()));
        i += 16 + len;
    }
    out
}

/// A SIP relay between caller and callee that loses the caller's requests whose method is
/// in `lose` (e.g. ACK and BYE). The
/// callee's Contact in its responses is rewritten to the relay so the caller's in-dialog
/// requests (ACK, BYE) pass through it too; the callee's own requests go straight to the
/// caller.
async fn lossy_sip_relay(
    callee_sip: std::net::SocketAddr,
    lose: &'static [&'static str],
) -> std::net::SocketAddr {
    let relay = tokio::net::UdpSocket::bind((ip(LO), 0)).await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    tokio::spawn(async move {
        let mut caller = None;
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = relay.recv_from(&mut buf).await {
            let data = &buf[..n];
            if from == callee_sip {
                let Some(to) = caller else { continue };
                let text = String::from_utf8_lossy(data).into_owned();
                let (head, body) = text.split_at(text.find("\r\n\r\n").unwrap_or(text.len()));
                let head = head.replace(&callee_sip.to_string(), &relay_addr.to_string());
                let _ = relay.send_to(format!("{head}{body}").as_bytes(), to).await;
            } else {
                caller = Some(from);
                if lose
                    .iter()
                    .any(|m| data.starts_with(format!("{m} ").as_bytes()))
                {
                    continue;
                }
                let _ = relay.send_to(data, callee_sip).await;
            }
        }
    });
    relay_addr
}

/// RFC 3264 §6.1: the callee's media starts once its answer is sent (still gated on ICE),
/// not when the ACK arrives; and a 2xx never ACKed ends the call after 64·T1 with BYE
/// (RFC 3261 §13.3.1.4) and a reason naming it, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_media_does_not_wait_for_a_lost_ack_and_the_unacked_call_ends() {
    let emitter = Emitter::new(false, true);
    let p = pair(&emitter);
    let ua = |aor: &str| UaConfig {
        // 64·T1 = 3.2 s.
        t1: Duration::from_millis(50),
        ..UaConfig::new((ip(LO), 0).into(), aor)
    };
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let relay = lossy_sip_relay(callee_ua.local, &["ACK", "BYE"]).await;
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1")).await.unwrap();
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let target = format!("sip:callee@{relay}");
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(15), callee)
        .await
        .expect("the un-ACKed callee ends by itself")
        .unwrap()
        .unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(caller.media.rtp_received > 10, "{:?}", caller.media);
    assert!(callee.media.rtp_sent > 10, "{:?}", callee.media);
    assert_eq!(callee.media_sent_before_selection, 0);
    assert_eq!(callee.exit, exit::CALL, "{}", callee.reason);
    assert!(callee.reason.contains("no ACK"), "{}", callee.reason);
    // Established needs the ACK: the callee never claimed it.
    assert!(!events_of(&emitter.events(), "callee")
        .iter()
        .any(|e| matches!(e, Event::Call { state, .. } if state == "established")));
}

/// A stranger's RTP from a third socket at `target` (20 ms apart, at most `max` packets, until
/// `stop` is set): a 1500 Hz PCMU tone with its own SSRC, and every 5th packet an RFC 4733
/// "9" (payload type 101) ending a new event. Returns how many packets it sent.
async fn spray_stranger(
    target: std::net::SocketAddr,
    max: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    use icephone::media::dtmf::EventPayload;
    use icephone::media::g711::G711;
    use icephone::media::rtp::RtpPacket;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut tone = Source::tone(1500.0);
    let mut sent = 0;
    for seq in 0..max {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let timestamp = u32::from(seq) * 160;
        let (payload_type, payload) = if seq % 5 == 4 {
            let event = EventPayload {
                event: 9,
                end: true,
                volume: 10,
                duration: 800,
            };
            (101, event.encode().to_vec())
        } else {
            (0, G711::Ulaw.encode(&tone.next_frame()))
        };
        let packet = RtpPacket {
            marker: false,
            payload_type,
            sequence: 1000 + seq,
            timestamp,
            ssrc: 0x5742_A9E0,
            payload,
        };
        let _ = socket.send_to(&packet.encode(), target).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sent
}

/// 100 ms frames of `samples` where `theirs` carries more energy than `ours`.
fn frames_dominated_by(samples: &[i16], theirs: f64, ours: f64) -> usize {
    samples
        .chunks(800)
        .filter(|f| f.len() == 800)
        .filter(|f| tone_ratio(f, theirs, 8000.0) > tone_ratio(f, ours, 8000.0))
        .count()
}

/// Issue 14 item 3: during an ICE call, RTP from an address that is the remote of no valid
/// pair is neither played, nor reported as digits, nor counted in the RTP statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_drops_media_from_a_stranger() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::tone(600.0);
    p.caller.duration = Some(Duration::from_millis(1500));
    p.callee.keep_audio = true;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stranger = {
        let emitter = emitter.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            // The callee's RTP socket, from its candidates event.
            let target = loop {
                let found = emitter.events().iter().find_map(|e| match e {
                    Event::Candidates {
                        agent, candidates, ..
                    } if agent == "callee" => candidates
                        .iter()
                        .find(|c| c.component == 1)
                        .and_then(|c| c.address.parse::<std::net::SocketAddr>().ok()),
                    _ => None,
                });
                if let Some(t) = found {
                    break t;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            spray_stranger(target, 100, stop).await
        })
    };
    let (caller, callee) = run(p).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let sprayed = stranger.await.unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(sprayed > 20, "the stranger sent only {sprayed} packets");
    let dominated = frames_dominated_by(&callee.recorded, 1500.0, 600.0);
    assert_eq!(
        dominated,
        0,
        "{dominated} of {} 100-ms frames carry the stranger's tone",
        callee.recorded.len() / 800
    );
    assert!(tone_ratio(&callee.recorded, 600.0, 8000.0) > 0.5);
    assert_eq!(callee.media.dtmf_received, "", "{:?}", callee.media);
    // Only the caller's packets are counted; the stranger's are dropped and counted apart.
    assert!(
        callee.media.rtp_received <= caller.media.rtp_sent,
        "{:?}",
        callee.media
    );
    assert!(
        callee.media.rtp_dropped_unknown_source > 0,
        "{:?}",
        callee.media
    );
    assert_eq!(
        caller.media.rtp_dropped_unknown_source, 0,
        "{:?}",
        caller.media
    );
}

/// Issue 14 item 3 without ICE: the caller latches once onto the peer's first source and
/// SSRC; a stranger's RTP mid-call neither moves our media to it nor gets counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_media_does_not_relatch_to_a_stranger() {
    use icephone::media::rtp::RtpPacket;
    let emitter = Emitter::new(false, true);
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = peer.local_addr().unwrap().port();
    let (caller, caller_rtp, _callee_ua) = call_a_plain_answerer(&emitter, false, port).await;
    // The peer sends from its signalled port throughout; from the 15th packet on, a stranger
    // sprays RTP with another SSRC, twice as often.
    let (mut at_peer, mut at_stranger) = (0, 0);
    let mut buf = [0u8; 2048];
    for seq in 0..50u16 {
        let packet = |ssrc: u32, seq: u16| RtpPacket {
            marker: seq == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
            payload: vec![0xFF; 160],
        };
        peer.send_to(&packet(0x1234, seq).encode(), caller_rtp)
            .await
            .unwrap();
        if seq >= 15 {
            for k in 0..2 {
                let s = 5000 + 2 * seq + k;
                stranger
                    .send_to(&packet(0xBAD, s).encode(), caller_rtp)
                    .await
                    .unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        while peer.try_recv_from(&mut buf).is_ok() {
            at_peer += 1;
        }
        while stranger.try_recv_from(&mut buf).is_ok() {
            at_stranger += 1;
        }
    }
    let caller = caller.await.unwrap().unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used);
    assert_eq!(at_stranger, 0, "our media went to the stranger");
    assert!(at_peer >= 20, "only {at_peer} packets reached the peer");
    assert!(caller.media.rtp_received <= 50, "{:?}", caller.media);
    assert!(
        caller.media.rtp_dropped_unknown_source >= 60,
        "{:?}",
        caller.media
    );
}
