//! The driver's event channel is bounded: when the user agent does not read, the driver
//! stops reading its socket (the kernel buffer holds the rest), and nothing is lost.

use std::net::SocketAddr;
use std::time::Duration;

use sip::endpoint::{EndpointConfig, SipEvent};

use super::{SipDriver, SipDriverConfig, EVENT_QUEUE};

fn invite(to: SocketAddr, from: SocketAddr, n: usize) -> Vec<u8> {
    format!(
        "INVITE sip:bob@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-bp-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{from}>;tag=bp{n}\r\n\
         To: <sip:bob@{to}>\r\n\
         Call-ID: backpressure-{n}@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{from}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_beyond_the_queue_wait_in_the_socket_and_none_is_lost() {
    let mut config = SipDriverConfig::new(EndpointConfig::new("sip:bob@127.0.0.1"));
    config.udp_bind = Some("127.0.0.1:0".parse().unwrap());
    // Every INVITE must be taken in (not refused with 503) for the count to mean anything.
    config.limits.server.max_transactions = 10 * EVENT_QUEUE;
    config.limits.server.max_per_source = 10 * EVENT_QUEUE;
    let mut driver = SipDriver::bind(config).await.unwrap();
    let to = driver.udp_local().unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let from = peer.local_addr().unwrap();
    let total = EVENT_QUEUE + 300;
    for n in 0..total {
        peer.send_to(&invite(to, from, n), to).await.unwrap();
        if n % 100 == 99 {
            // Paced, so the kernel's receive buffer never drops one.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        driver.events.len(),
        EVENT_QUEUE,
        "the queue fills to its bound and no further"
    );
    let mut calls = 0;
    while calls < total {
        match driver.next_event_timeout(Duration::from_secs(5)).await {
            Some(SipEvent::IncomingCall { .. }) => calls += 1,
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(
        calls, total,
        "every INVITE reached the user agent, in the end"
    );
}
