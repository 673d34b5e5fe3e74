//! Helpers shared by the SIP loopback and sipp tests: drivers on 127.0.0.1, bounded
//! waits for events, and a small in-test registrar / challenging UAS on real sockets.
#![allow(dead_code)]

pub mod server;

use std::time::Duration;

use icephone::sip_driver::{SipDriver, SipDriverConfig};
use sip::endpoint::{Body, EndpointConfig, SipEvent, TransportKind};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn body(tag: &str) -> Body {
    Body::new(
        "application/sdp",
        format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns={tag}\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n").into_bytes(),
    )
}

/// A driver for `aor` with UDP and TCP on free loopback ports.
pub async fn driver(
    aor: &str,
    transport: TransportKind,
    tweak: impl FnOnce(&mut EndpointConfig),
) -> SipDriver {
    let mut endpoint = EndpointConfig::new(aor);
    endpoint.default_transport = transport;
    tweak(&mut endpoint);
    let mut config = SipDriverConfig::new(endpoint);
    config.udp_bind = Some("127.0.0.1:0".parse().unwrap());
    config.tcp_bind = Some("127.0.0.1:0".parse().unwrap());
    SipDriver::bind(config)
        .await
        .expect("bind loopback sockets")
}

/// A driver like [`driver`] whose endpoint randomness (tags, branches, glare back-off) comes
/// from `seed`, so timing that depends on it is the same on every run.
pub async fn seeded_driver(aor: &str, transport: TransportKind, seed: u64) -> SipDriver {
    let mut endpoint = EndpointConfig::new(aor);
    endpoint.default_transport = transport;
    let mut config = SipDriverConfig::new(endpoint);
    config.udp_bind = Some("127.0.0.1:0".parse().unwrap());
    config.tcp_bind = Some("127.0.0.1:0".parse().unwrap());
    config.seed = Some(seed);
    SipDriver::bind(config)
        .await
        .expect("bind loopback sockets")
}

/// The URI of a driver's address for `transport`.
pub fn uri_of(user: &str, d: &SipDriver, transport: TransportKind) -> String {
    match transport {
        TransportKind::Udp => format!("sip:{user}@{}", d.udp_local().unwrap()),
        TransportKind::Tcp => format!("sip:{user}@{};transport=tcp", d.tcp_local().unwrap()),
        TransportKind::Tls => panic!("the driver has no TLS listener"),
    }
}

/// Waits (bounded) for the first event matching `pred`; earlier events are returned too.
pub async fn wait_for(
    d: &mut SipDriver,
    what: &str,
    mut pred: impl FnMut(&SipEvent) -> bool,
) -> (SipEvent, Vec<SipEvent>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match d.next_event_timeout(left).await {
            Some(e) if pred(&e) => return (e, seen),
            Some(e) => seen.push(e),
            None => panic!("timed out waiting for {what}; saw {seen:?}"),
        }
    }
}

/// The called party's driver (a newtype so helpers read clearly).
pub struct Bob(pub SipDriver);
