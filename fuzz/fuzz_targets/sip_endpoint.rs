//! The SIP endpoint fed datagrams or stream bytes from a peer, in virtual time: no panic.
//!
//! Input: one mode byte, then packets separated by `@@@@`. Mode bits 0-1 pick what the
//! endpoint is doing first (0 nothing: a UAS; 1 an INVITE out; 2 REGISTER with digest
//! credentials; 3 OPTIONS out), bit 2 picks TCP (stream bytes on one connection) over UDP,
//! bit 3 closes the connection at the end. In each packet `$BRANCH`, `$CALLID`, `$FROMTAG`
//! and `$CSEQ` are replaced by the values of the last request the endpoint sent, so responses
//! reach its client transactions and dialogs.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use icephone_fuzz::{packets, replace};
use libfuzzer_sys::fuzz_target;
use sip::auth::Credentials;
use sip::endpoint::{
    Body, ConnId, Endpoint, EndpointConfig, IncomingId, NextHop, SipEvent, TransportKind,
};
use sip::message::{parse_datagram, Message};

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn local() -> SocketAddr {
    "127.0.0.1:5080".parse().unwrap()
}

fn peer() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

fn sdp_body() -> Body {
    Body::new("application/sdp", b"v=0\r\n".to_vec())
}

#[derive(Default)]
struct LastRequest {
    branch: Vec<u8>,
    call_id: Vec<u8>,
    from_tag: Vec<u8>,
    cseq: Vec<u8>,
    /// Requests the endpoint reported and the program would answer.
    incoming: Vec<IncomingId>,
}

/// Sends, events and timers, for up to `horizon` of virtual time; bounded.
fn drain(ep: &mut Endpoint, now: Instant, horizon: Duration, last: &mut LastRequest) {
    for _ in 0..200 {
        while let Some(transmit) = ep.poll_transmit() {
            if let Ok(Message::Request(request)) = parse_datagram(&transmit.bytes) {
                let h = &request.headers;
                if let Some(b) = h.top_via().ok().and_then(|v| v.branch().map(str::to_owned)) {
                    last.branch = b.into_bytes();
                }
                if let Ok(c) = h.call_id() {
                    last.call_id = c.as_bytes().to_vec();
                }
                if let Some(tag) = h.from_addr().ok().and_then(|f| f.tag().map(str::to_owned)) {
                    last.from_tag = tag.into_bytes();
                }
                if let Ok(cseq) = h.cseq() {
                    last.cseq = cseq.seq.to_string().into_bytes();
                }
            }
        }
        while let Some(event) = ep.poll_event() {
            match event {
                SipEvent::IncomingCall { incoming, .. }
                | SipEvent::IncomingReinvite { incoming, .. }
                | SipEvent::IncomingUpdate { incoming, .. } => last.incoming.push(incoming),
                _ => {}
            }
        }
        while ep.poll_close().is_some() {}
        match ep.poll_timeout() {
            Some(t) if t <= now + horizon => ep.handle_timeout(t.max(now)),
            _ => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let tcp = mode & 4 != 0;
    let transport = if tcp {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    };
    let mut config = EndpointConfig::new("sip:bob@127.0.0.1");
    config.udp_local = Some(local());
    config.tcp_local = Some(local());
    config.default_transport = transport;
    if mode & 3 == 2 {
        config.credentials = Some(Credentials {
            username: "bob".into(),
            password: "secret".into(),
        });
        config.outbound_proxy = Some(NextHop {
            transport,
            addr: peer(),
        });
        config.register_expires = 600;
        if mode & 16 != 0 {
            config.instance_id = Some("urn:uuid:00000000-0000-4000-8000-000000000001".into());
        }
    }
    let mut ep = Endpoint::with_seed(config, 11);
    let mut now = t0();
    let conn = ConnId(1);
    if tcp {
        ep.connection_opened(conn, local(), peer());
    }
    let suffix = if tcp { ";transport=tcp" } else { "" };
    let target = format!("sip:alice@127.0.0.1:5070{suffix}");
    let _ = match mode & 3 {
        1 => ep.invite(now, &target, None).map(drop),
        2 => ep.register(now),
        3 => ep.options(now, &target).map(drop),
        _ => Ok(()),
    };
    let mut last = LastRequest::default();
    drain(&mut ep, now, Duration::ZERO, &mut last);

    for packet in packets(rest) {
        let packet = replace(packet, b"$BRANCH", &last.branch);
        let packet = replace(&packet, b"$CALLID", &last.call_id);
        let packet = replace(&packet, b"$FROMTAG", &last.from_tag);
        let packet = replace(&packet, b"$CSEQ", &last.cseq);
        if tcp {
            ep.handle_stream(now, conn, &packet);
        } else {
            ep.handle_datagram(now, local(), peer(), &packet);
        }
        drain(&mut ep, now, Duration::from_millis(100), &mut last);
        now += Duration::from_millis(100);
        // The program acts on what it got: answers requests (status from the mode byte), ACKs
        // a 2xx that carried an offer.
        let status = if mode & 32 != 0 { 486 } else { 200 };
        for incoming in std::mem::take(&mut last.incoming) {
            let _ = ep.respond(now, incoming, 180, None);
            let _ = ep.respond(now, incoming, status, Some(sdp_body()));
        }
        for dialog in ep.dialog_ids() {
            let _ = ep.ack_with_body(now, dialog, sdp_body());
            let _ = ep.peer_allows_update(dialog);
        }
        drain(&mut ep, now, Duration::ZERO, &mut last);
    }
    for dialog in ep.dialog_ids() {
        let _ = ep.bye(now, dialog);
    }
    if tcp && mode & 8 != 0 {
        ep.connection_closed(now, conn);
    }
    // A minute of timers: retransmissions, timeouts, refreshes.
    drain(&mut ep, now, Duration::from_secs(60), &mut last);
    let _ = ep.server_transaction_count();
});
