//! The SIP driver over real loopback sockets, UDP and TCP: REGISTER with digest against an
//! in-test registrar, INVITE/ACK/BYE, re-INVITE, UPDATE, CANCEL, INVITE without SDP,
//! 401/407 on INVITE, OPTIONS, 501 and glare (491 with back-off).

mod sip_support;

use std::time::{Duration, Instant};

use icephone::sip_driver::SipDriver;

use sip::auth::Credentials;
use sip::endpoint::{
    Endpoint, FlowFailure, IncomingId, NextHop, SipEvent, TerminationReason, TransportKind,
};
use sip_support::server::{Outbound, TestServer, PASSWORD, USER};
use sip_support::{body, driver, uri_of, wait_for};
use tokio::net::UdpSocket;

const BOTH: [TransportKind; 2] = [TransportKind::Udp, TransportKind::Tcp];

/// Runs `f` on `d`'s endpoint and returns its value; the driver stopping or the endpoint
/// refusing the command fails the test.
async fn run<T, E, F>(d: &SipDriver, f: F) -> T
where
    T: Send + 'static,
    E: std::fmt::Debug + Send + 'static,
    F: FnOnce(&mut Endpoint, Instant) -> Result<T, E> + Send + 'static,
{
    d.command(f).await.unwrap().unwrap()
}

fn credentials() -> Option<Credentials> {
    Some(Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    })
}

#[tokio::test]
async fn register_and_unregister_with_digest() {
    for transport in BOTH {
        let server = TestServer::start().await;
        let proxy = server.addr(transport);
        let mut alice = driver("sip:alice@loopback.invalid", transport, |c| {
            c.credentials = credentials();
            c.outbound_proxy = Some(NextHop {
                transport,
                addr: proxy,
            });
            c.register_expires = 300;
        })
        .await;
        run(&alice, |ep, now| ep.register(now)).await;
        let (event, _) = wait_for(&mut alice, "Registered", |e| {
            matches!(e, SipEvent::Registered { .. })
        })
        .await;
        let SipEvent::Registered {
            expires,
            public_address,
            ..
        } = event
        else {
            unreachable!()
        };
        assert_eq!(expires, 300);
        // RFC 3581: the registrar saw our loopback socket.
        let local = match transport {
            TransportKind::Udp => alice.udp_local().unwrap(),
            TransportKind::Tcp => alice.tcp_local().unwrap(),
            TransportKind::Tls => unreachable!("these tests run over UDP and TCP"),
        };
        assert_eq!(public_address.map(|a| a.ip()), Some(local.ip()));
        if transport == TransportKind::Udp {
            assert_eq!(public_address, Some(local));
        }
        run(&alice, |ep, now| ep.unregister(now)).await;
        wait_for(&mut alice, "Unregistered", |e| {
            matches!(e, SipEvent::Unregistered)
        })
        .await;
        let seen = server.seen();
        assert_eq!(
            seen.iter().filter(|l| l.starts_with("REGISTER")).count(),
            3,
            "401, 200, un-REGISTER: {seen:?}"
        );
        alice.shutdown(Duration::from_millis(100)).await;
    }
}

/// Alice and Bob on loopback over `transport`, and the URI that reaches Bob.
async fn alice_and_bob(transport: TransportKind) -> (SipDriver, sip_support::Bob, String) {
    let alice = driver("sip:alice@127.0.0.1", transport, |_| {}).await;
    let bob = sip_support::Bob(driver("sip:bob@127.0.0.1", transport, |_| {}).await);
    let target = uri_of("bob", &bob.0, transport);
    (alice, bob, target)
}

async fn answer_call(bob: &mut sip_support::Bob) -> (IncomingId, sip::endpoint::DialogId) {
    let (event, _) = wait_for(&mut bob.0, "IncomingCall", |e| {
        matches!(e, SipEvent::IncomingCall { .. })
    })
    .await;
    let SipEvent::IncomingCall {
        incoming, dialog, ..
    } = event
    else {
        unreachable!()
    };
    (incoming, dialog)
}

#[tokio::test]
async fn call_reinvite_update_bye() {
    for transport in BOTH {
        let (mut alice, mut bob, target) = alice_and_bob(transport).await;
        let a = run(&alice, move |ep, now| {
            ep.invite(now, &target, Some(body("alice")))
        })
        .await;
        let (incoming, b) = answer_call(&mut bob).await;
        run(&bob.0, move |ep, now| {
            ep.respond(now, incoming, 180, None)?;
            ep.respond(now, incoming, 200, Some(body("bob")))
        })
        .await;
        let (answered, before) = wait_for(&mut alice, "CallAnswered", |e| {
            matches!(e, SipEvent::CallAnswered { .. })
        })
        .await;
        assert!(before
            .iter()
            .any(|e| matches!(e, SipEvent::CallProgress { status: 180, .. })));
        assert!(
            matches!(answered, SipEvent::CallAnswered { body: Some(ref x), peer_allows_update: true, .. } if *x == body("bob"))
        );
        wait_for(&mut bob.0, "ACK", |e| {
            matches!(e, SipEvent::AckReceived { .. })
        })
        .await;

        // re-INVITE from Alice.
        run(&alice, move |ep, now| {
            ep.reinvite(now, a, Some(body("alice-2")))
        })
        .await;
        let (event, _) = wait_for(&mut bob.0, "re-INVITE", |e| {
            matches!(e, SipEvent::IncomingReinvite { .. })
        })
        .await;
        let SipEvent::IncomingReinvite {
            incoming,
            body: offer,
            ..
        } = event
        else {
            unreachable!()
        };
        assert_eq!(offer, Some(body("alice-2")));
        run(&bob.0, move |ep, now| {
            ep.respond(now, incoming, 200, Some(body("bob-2")))
        })
        .await;
        wait_for(&mut alice, "re-INVITE 200", |e| {
            matches!(e, SipEvent::ReinviteResponse { status: 200, .. })
        })
        .await;
        wait_for(&mut bob.0, "ACK of re-INVITE", |e| {
            matches!(e, SipEvent::AckReceived { .. })
        })
        .await;

        // UPDATE from Bob.
        run(&bob.0, move |ep, now| {
            ep.update(now, b, Some(body("bob-3")))
        })
        .await;
        let (event, _) = wait_for(&mut alice, "UPDATE", |e| {
            matches!(e, SipEvent::IncomingUpdate { .. })
        })
        .await;
        let SipEvent::IncomingUpdate { incoming, .. } = event else {
            unreachable!()
        };
        run(&alice, move |ep, now| {
            ep.respond(now, incoming, 200, Some(body("alice-3")))
        })
        .await;
        let (event, _) = wait_for(&mut bob.0, "UPDATE 200", |e| {
            matches!(e, SipEvent::UpdateResponse { .. })
        })
        .await;
        assert!(
            matches!(event, SipEvent::UpdateResponse { status: 200, body: Some(ref x), .. } if *x == body("alice-3"))
        );

        // BYE from Bob.
        run(&bob.0, move |ep, now| ep.bye(now, b)).await;
        wait_for(&mut alice, "remote BYE", |e| {
            matches!(
                e,
                SipEvent::DialogTerminated {
                    reason: TerminationReason::RemoteBye,
                    ..
                }
            )
        })
        .await;
        wait_for(&mut bob.0, "local BYE done", |e| {
            matches!(
                e,
                SipEvent::DialogTerminated {
                    reason: TerminationReason::LocalBye,
                    ..
                }
            )
        })
        .await;
        alice.shutdown(Duration::from_millis(50)).await;
        bob.0.shutdown(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cancel_ringing_call() {
    for transport in BOTH {
        let (mut alice, mut bob, target) = alice_and_bob(transport).await;
        let a = run(&alice, move |ep, now| {
            ep.invite(now, &target, Some(body("a")))
        })
        .await;
        let (incoming, _) = answer_call(&mut bob).await;
        run(&bob.0, move |ep, now| ep.respond(now, incoming, 180, None)).await;
        wait_for(&mut alice, "180", |e| {
            matches!(e, SipEvent::CallProgress { .. })
        })
        .await;
        run(&alice, move |ep, now| ep.cancel(now, a)).await;
        wait_for(&mut bob.0, "CANCEL", |e| {
            matches!(e, SipEvent::CancelReceived { .. })
        })
        .await;
        wait_for(&mut alice, "487", |e| {
            matches!(
                e,
                SipEvent::DialogTerminated {
                    reason: TerminationReason::Cancelled,
                    ..
                }
            )
        })
        .await;
    }
}

#[tokio::test]
async fn invite_without_sdp_answer_in_ack() {
    for transport in BOTH {
        let (mut alice, mut bob, target) = alice_and_bob(transport).await;
        let a = run(&alice, move |ep, now| ep.invite(now, &target, None)).await;
        let (event, _) = wait_for(&mut bob.0, "IncomingCall", |e| {
            matches!(e, SipEvent::IncomingCall { .. })
        })
        .await;
        let SipEvent::IncomingCall {
            incoming,
            body: none,
            ..
        } = event
        else {
            unreachable!()
        };
        assert_eq!(none, None);
        run(&bob.0, move |ep, now| {
            ep.respond(now, incoming, 200, Some(body("offer-in-200")))
        })
        .await;
        let (event, _) = wait_for(&mut alice, "CallAnswered", |e| {
            matches!(e, SipEvent::CallAnswered { .. })
        })
        .await;
        assert!(
            matches!(event, SipEvent::CallAnswered { body: Some(ref x), .. } if *x == body("offer-in-200"))
        );
        run(&alice, move |ep, now| {
            ep.ack_with_body(now, a, body("answer-in-ack"))
        })
        .await;
        let (event, _) = wait_for(&mut bob.0, "ACK", |e| {
            matches!(e, SipEvent::AckReceived { .. })
        })
        .await;
        assert!(
            matches!(event, SipEvent::AckReceived { body: Some(ref x), .. } if *x == body("answer-in-ack"))
        );
    }
}

#[tokio::test]
async fn invite_challenged_with_401_and_407() {
    for transport in BOTH {
        let server = TestServer::start().await;
        let mut alice = driver("sip:alice@loopback.invalid", transport, |c| {
            c.credentials = credentials()
        })
        .await;
        // Each user twice with the same endpoint: after a success, a fresh challenge for
        // the same realm is answered again (not mistaken for a wrong password).
        for user in ["auth401", "auth407", "auth401", "auth407"] {
            let target = match transport {
                TransportKind::Udp => format!("sip:{user}@{}", server.udp),
                TransportKind::Tcp => format!("sip:{user}@{};transport=tcp", server.tcp),
                TransportKind::Tls => unreachable!("these tests run over UDP and TCP"),
            };
            let a = run(&alice, move |ep, now| {
                ep.invite(now, &target, Some(body("a")))
            })
            .await;
            let (event, _) = wait_for(&mut alice, "CallAnswered after auth", |e| {
                matches!(
                    e,
                    SipEvent::CallAnswered { .. } | SipEvent::DialogTerminated { .. }
                )
            })
            .await;
            assert!(
                matches!(event, SipEvent::CallAnswered { dialog, .. } if dialog == a),
                "{user}: {event:?}"
            );
            run(&alice, move |ep, now| ep.bye(now, a)).await;
            wait_for(&mut alice, "BYE done", |e| {
                matches!(e, SipEvent::DialogTerminated { .. })
            })
            .await;
        }
        let seen = server.seen();
        // Each INVITE twice (challenge, then credentials), an ACK for each challenge and
        // one for each 200, one BYE each.
        assert_eq!(
            seen.iter().filter(|l| l.starts_with("INVITE")).count(),
            8,
            "{seen:?}"
        );
        assert_eq!(
            seen.iter().filter(|l| l.starts_with("ACK")).count(),
            8,
            "{seen:?}"
        );
        assert_eq!(
            seen.iter().filter(|l| l.starts_with("BYE")).count(),
            4,
            "{seen:?}"
        );
    }
}

#[tokio::test]
async fn options_and_unknown_method() {
    let mut alice = driver("sip:alice@127.0.0.1", TransportKind::Udp, |_| {}).await;
    let bob = driver("sip:bob@127.0.0.1", TransportKind::Udp, |_| {}).await;
    let target = uri_of("bob", &bob, TransportKind::Udp);
    let id = run(&alice, move |ep, now| ep.options(now, &target)).await;
    let (event, _) = wait_for(&mut alice, "OPTIONS 200", |e| {
        matches!(e, SipEvent::OptionsResponse { .. })
    })
    .await;
    let SipEvent::OptionsResponse {
        request,
        status,
        allow,
        supported,
    } = event
    else {
        unreachable!()
    };
    assert_eq!((request, status), (id, 200));
    assert!(allow.iter().any(|m| m == "UPDATE"), "{allow:?}");
    assert!(supported.iter().any(|t| t == "outbound"));
    // A raw socket sends an unknown method: 501 comes back to the source port (rport).
    let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = raw.local_addr().unwrap().port();
    let msg = "FOO sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKraw1;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: raw-1\r\nCSeq: 1 FOO\r\nContent-Length: 0\r\n\r\n";
    raw.send_to(msg.as_bytes(), bob.udp_local().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(sip_support::WAIT, raw.recv_from(&mut buf))
        .await
        .expect("501 in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
        "{text}"
    );
    assert!(text.contains(&format!("rport={port}")), "{text}");
    assert!(text.contains("Allow: "));
}

/// Endpoint seeds for the glare test (Alice, Bob).
const GLARE_SEEDS: (u64, u64) = (491, 14);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glare_491_and_retry() {
    // Seeded: the back-offs (Alice 2.1-4 s as Call-ID owner, Bob 0-2 s) are fixed, so Bob's
    // retry never lands within a few ms of Alice's (RFC 3261 §14.1).
    let mut alice =
        sip_support::seeded_driver("sip:alice@127.0.0.1", TransportKind::Udp, GLARE_SEEDS.0).await;
    let mut bob = sip_support::Bob(
        sip_support::seeded_driver("sip:bob@127.0.0.1", TransportKind::Udp, GLARE_SEEDS.1).await,
    );
    let target = uri_of("bob", &bob.0, TransportKind::Udp);
    let a = run(&alice, move |ep, now| {
        ep.invite(now, &target, Some(body("a")))
    })
    .await;
    let (incoming, b) = answer_call(&mut bob).await;
    run(&bob.0, move |ep, now| {
        ep.respond(now, incoming, 200, Some(body("b")))
    })
    .await;
    wait_for(&mut alice, "answered", |e| {
        matches!(e, SipEvent::CallAnswered { .. })
    })
    .await;
    wait_for(&mut bob.0, "ACK", |e| {
        matches!(e, SipEvent::AckReceived { .. })
    })
    .await;
    // The re-INVITEs cross by construction, not by sleeps: Bob's driver queues its
    // re-INVITE and then holds (it neither reads nor sends) until Alice's endpoint has
    // queued hers. Each side then has its own re-INVITE pending when the other's arrives,
    // and answers 491.
    let (bob_queued_tx, bob_queued_rx) = tokio::sync::oneshot::channel();
    let (alice_queued_tx, alice_queued_rx) = std::sync::mpsc::channel::<()>();
    let bob_job = bob.0.command(move |ep, now| {
        let r = ep.reinvite(now, b, Some(body("b-glare")));
        let _ = bob_queued_tx.send(());
        let released = alice_queued_rx.recv_timeout(Duration::from_secs(10));
        (r, released)
    });
    let alice_job = async {
        bob_queued_rx.await.expect("Bob's re-INVITE queued");
        let r = alice
            .command(move |ep, now| ep.reinvite(now, a, Some(body("a-glare"))))
            .await;
        alice_queued_tx.send(()).unwrap();
        r
    };
    let (rb, ra) = tokio::join!(bob_job, alice_job);
    let (rb, released) = rb.unwrap();
    rb.unwrap();
    released.expect("Bob released after Alice queued");
    ra.unwrap().unwrap();
    let (event, _) = wait_for(&mut alice, "Alice's 491", |e| {
        matches!(e, SipEvent::GlareRetry { .. })
    })
    .await;
    let SipEvent::GlareRetry { after, .. } = event else {
        unreachable!()
    };
    assert!(
        after >= Duration::from_millis(2100) && after <= Duration::from_secs(4),
        "{after:?}"
    );
    let (event, _) = wait_for(&mut bob.0, "Bob's 491", |e| {
        matches!(e, SipEvent::GlareRetry { .. })
    })
    .await;
    let SipEvent::GlareRetry { after, .. } = event else {
        unreachable!()
    };
    assert!(after <= Duration::from_secs(2), "{after:?}");
    // Bob retries first: Alice answers; then Alice's retry reaches Bob.
    let (event, _) = wait_for(&mut alice, "Bob's retried re-INVITE", |e| {
        matches!(e, SipEvent::IncomingReinvite { .. })
    })
    .await;
    let SipEvent::IncomingReinvite { incoming, .. } = event else {
        unreachable!()
    };
    run(&alice, move |ep, now| {
        ep.respond(now, incoming, 200, Some(body("a-ans")))
    })
    .await;
    wait_for(&mut bob.0, "Bob's 200", |e| {
        matches!(e, SipEvent::ReinviteResponse { status: 200, .. })
    })
    .await;
    let (event, _) = wait_for(&mut bob.0, "Alice's retried re-INVITE", |e| {
        matches!(e, SipEvent::IncomingReinvite { .. })
    })
    .await;
    let SipEvent::IncomingReinvite { incoming, .. } = event else {
        unreachable!()
    };
    run(&bob.0, move |ep, now| {
        ep.respond(now, incoming, 200, Some(body("b-ans")))
    })
    .await;
    wait_for(&mut alice, "Alice's 200", |e| {
        matches!(e, SipEvent::ReinviteResponse { status: 200, .. })
    })
    .await;
}

/// RFC 5626 §4.1: the +sip.instance of each outbound test's Alice.
const UDP_INSTANCE: &str = "urn:uuid:00000000-0000-4000-8000-0000000000aa";
const TCP_INSTANCE: &str = "urn:uuid:00000000-0000-4000-8000-0000000000bb";

/// A registrar asking for a 1 s Flow-Timer and Alice, with `instance_id`, sending it her
/// outbound (RFC 5626) REGISTER over `transport`.
async fn register_outbound(transport: TransportKind, instance_id: &str) -> (TestServer, SipDriver) {
    let server = TestServer::start_with(Outbound {
        flow_timer: Some(1),
    })
    .await;
    let proxy = server.addr(transport);
    let alice = driver("sip:alice@loopback.invalid", transport, |c| {
        c.credentials = credentials();
        c.outbound_proxy = Some(NextHop {
            transport,
            addr: proxy,
        });
        c.instance_id = Some(instance_id.into());
    })
    .await;
    run(&alice, |ep, now| ep.register(now)).await;
    (server, alice)
}

#[tokio::test]
async fn outbound_udp_stun_keepalive_detects_rebinding() {
    let (server, mut alice) = register_outbound(TransportKind::Udp, UDP_INSTANCE).await;
    let (event, _) = wait_for(&mut alice, "Registered", |e| {
        matches!(e, SipEvent::Registered { .. })
    })
    .await;
    assert!(
        matches!(event, SipEvent::Registered { outbound: true, .. }),
        "{event:?}"
    );
    // Flow-Timer 1 s: the driver sends a STUN Binding on the SIP socket within 0.8-1 s.
    wait_for(&mut alice, "first keepalive", |e| {
        matches!(e, SipEvent::StunKeepaliveDue { .. })
    })
    .await;
    let (_, between) = wait_for(&mut alice, "second keepalive", |e| {
        matches!(e, SipEvent::StunKeepaliveDue { .. })
    })
    .await;
    assert!(
        !between
            .iter()
            .any(|e| matches!(e, SipEvent::FlowFailed { .. })),
        "{between:?}"
    );
    assert!(
        server
            .seen()
            .iter()
            .filter(|l| *l == "STUN Binding")
            .count()
            >= 1
    );
    // The NAT rebinds: the next answer carries another mapped address.
    let rebound: std::net::SocketAddr = "203.0.113.9:4000".parse().unwrap();
    *server.stun_mapping.lock().unwrap() = Some(rebound);
    let (event, _) = wait_for(&mut alice, "FlowFailed", |e| {
        matches!(e, SipEvent::FlowFailed { .. })
    })
    .await;
    let SipEvent::FlowFailed {
        reason,
        retry_after,
        ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!(
        reason,
        FlowFailure::MappingChanged {
            was: alice.udp_local().unwrap(),
            now: rebound
        }
    );
    assert!(
        retry_after >= Duration::from_secs(30) && retry_after <= Duration::from_secs(60),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn outbound_tcp_crlf_keepalive_gets_pongs() {
    let (server, mut alice) = register_outbound(TransportKind::Tcp, TCP_INSTANCE).await;
    wait_for(&mut alice, "Registered", |e| {
        matches!(e, SipEvent::Registered { outbound: true, .. })
    })
    .await;
    // Three keepalive periods: pings go out and pongs keep the flow alive.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2600);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, alice.next_event()).await {
        events.push(e);
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SipEvent::FlowFailed { .. })),
        "{events:?}"
    );
    let pings = server.seen().iter().filter(|l| *l == "PING").count();
    assert!(pings >= 2, "pings: {pings}");
}

#[tokio::test]
async fn tcp_framing_split_and_coalesced_through_the_driver() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bob = driver("sip:bob@127.0.0.1", TransportKind::Tcp, |_| {}).await;
    let mut stream = tokio::net::TcpStream::connect(bob.tcp_local().unwrap())
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let options = |n: u32| {
        format!(
            "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp{n}\r\nMax-Forwards: 70\r\n\
             From: <sip:x@127.0.0.1>;tag={n}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: tcp-{n}\r\nCSeq: {n} OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    // One message in three segments, cut inside a header name and inside the final CRLF.
    let first = options(1);
    for part in [
        &first[..10],
        &first[10..first.len() - 1],
        &first[first.len() - 1..],
    ] {
        stream.write_all(part.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Two messages and a keepalive ping in one segment.
    stream
        .write_all(format!("{}{}\r\n\r\n", options(2), options(3)).as_bytes())
        .await
        .unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + sip_support::WAIT;
    while got.matches("SIP/2.0 200 OK").count() < 3 {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("answers in time")
            .unwrap();
        assert!(n > 0, "connection closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    for n in 1..=3 {
        assert!(got.contains(&format!("CSeq: {n} OPTIONS")), "{got}");
    }
}
