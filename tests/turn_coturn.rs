//! ice::turn::TurnClient against a real coturn (`/usr/bin/turnserver`) on 127.0.0.1.
//!
//! Each test starts its own coturn on a free port with a temporary config (long-term
//! credentials, realm, `user=alice:secret`, loopback relay and peers, UDP only) and stops it by
//! PID when the test ends. The client is driven with a std UdpSocket and the real clock; every
//! socket has a read timeout and every wait a deadline, so nothing can hang. A missing coturn
//! is a failure, never a skip.

#[path = "support/coturn.rs"]
mod coturn;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use coturn::{Coturn, CoturnOptions};
use ice::turn::{TurnClient, TurnCredentials, TurnEvent, TurnReceived};

const EXCHANGE_DEADLINE: Duration = Duration::from_secs(10);

/// A TurnClient on a real UDP socket, driven by the real clock.
struct Driver {
    socket: UdpSocket,
    client: TurnClient,
    events: Vec<TurnEvent>,
    received: Vec<TurnReceived>,
}

impl Driver {
    fn new(server: SocketAddr, password: &str) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
        let local = socket.local_addr().expect("local addr");
        let credentials = TurnCredentials {
            username: "alice".into(),
            password: password.into(),
        };
        let client = TurnClient::new(local, server, credentials, Instant::now(), 7);
        Self {
            socket,
            client,
            events: Vec::new(),
            received: Vec::new(),
        }
    }

    /// Send everything the client has queued.
    fn flush(&mut self) {
        while let Some((to, bytes)) = self.client.poll_transmit() {
            self.socket.send_to(&bytes, to).expect("send to coturn");
        }
    }

    /// Run until `done` holds, or panic after EXCHANGE_DEADLINE.
    fn run_until(&mut self, what: &str, done: impl Fn(&Driver) -> bool) {
        let deadline = Instant::now() + EXCHANGE_DEADLINE;
        loop {
            self.flush();
            while let Some(event) = self.client.poll_event() {
                self.events.push(event);
            }
            if done(self) {
                return;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out waiting for {what}; events: {:?}",
                self.events
            );
            let wake = self
                .client
                .poll_timeout()
                .map_or(Duration::from_millis(50), |t| {
                    t.saturating_duration_since(now)
                })
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            self.socket
                .set_read_timeout(Some(wake))
                .expect("read timeout");
            let mut buf = [0u8; 2048];
            if let Ok((len, from)) = self.socket.recv_from(&mut buf) {
                let data = buf.get(..len).unwrap_or(&[]);
                if let Some(got) = self.client.handle_packet(Instant::now(), from, data) {
                    self.received.push(got);
                }
            }
            let now = Instant::now();
            if self.client.poll_timeout().is_some_and(|t| t <= now) {
                self.client.handle_timeout(now);
            }
        }
    }

    fn allocate(&mut self) -> SocketAddr {
        self.run_until("allocation", |d| {
            d.events.iter().any(|e| {
                matches!(
                    e,
                    TurnEvent::Allocated { .. } | TurnEvent::AllocationFailed { .. }
                )
            })
        });
        match self
            .events
            .iter()
            .find(|e| matches!(e, TurnEvent::Allocated { .. }))
        {
            Some(TurnEvent::Allocated { relayed, .. }) => *relayed,
            _ => panic!("allocation failed: {:?}", self.events),
        }
    }
}

fn peer_socket() -> UdpSocket {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind peer socket");
    peer.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    peer
}

fn peer_recv(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (len, from) = peer
        .recv_from(&mut buf)
        .expect("the peer receives the relayed datagram within 5 s");
    (buf.get(..len).unwrap_or(&[]).to_vec(), from)
}

#[test]
fn allocation_succeeds_with_a_relayed_address() {
    let coturn = Coturn::start(&CoturnOptions::turn_alice());
    let mut d = Driver::new(coturn.addr, "secret");
    let relayed = d.allocate();
    assert_eq!(relayed.ip().to_string(), "127.0.0.1", "relay-ip");
    assert_ne!(relayed.port(), 0);
    assert_eq!(d.client.relayed_address(), Some(relayed));
    let mapped = d.events.iter().find_map(|e| match e {
        TurnEvent::Allocated { mapped, .. } => Some(*mapped),
        _ => None,
    });
    assert_eq!(mapped, Some(d.client.local()), "no NAT on loopback");
}

#[test]
fn wrong_password_fails_with_401() {
    let coturn = Coturn::start(&CoturnOptions::turn_alice());
    let mut d = Driver::new(coturn.addr, "wrong-password");
    d.run_until("allocation failure", |d| {
        d.events
            .iter()
            .any(|e| matches!(e, TurnEvent::AllocationFailed { .. }))
    });
    let reason = d.events.iter().find_map(|e| match e {
        TurnEvent::AllocationFailed { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason.as_deref().is_some_and(|r| r.starts_with("401")),
        "{reason:?}"
    );
    assert_eq!(d.client.relayed_address(), None);
}

#[test]
fn send_indication_and_data_indication_through_a_permission() {
    let coturn = Coturn::start(&CoturnOptions::turn_alice());
    let mut d = Driver::new(coturn.addr, "secret");
    let relayed = d.allocate();
    let peer = peer_socket();
    let peer_addr = peer.local_addr().expect("peer addr");

    d.client.create_permission(Instant::now(), peer_addr.ip());
    d.run_until("permission", |d| {
        d.events.iter().any(|e| {
            matches!(
                e,
                TurnEvent::PermissionCreated(_) | TurnEvent::PermissionFailed { .. }
            )
        })
    });
    assert!(
        d.events
            .contains(&TurnEvent::PermissionCreated(peer_addr.ip())),
        "{:?}",
        d.events
    );

    d.client
        .send_to(Instant::now(), peer_addr, b"via send indication")
        .expect("permission installed");
    d.flush();
    let (data, from) = peer_recv(&peer);
    assert_eq!(data, b"via send indication");
    assert_eq!(from, relayed, "relayed from the allocation's address");

    peer.send_to(b"reply from peer", relayed)
        .expect("peer send");
    d.run_until("Data indication", |d| !d.received.is_empty());
    assert_eq!(
        d.received[0],
        TurnReceived {
            peer: peer_addr,
            data: b"reply from peer".to_vec()
        }
    );
}

#[test]
fn channel_bind_then_channel_data_both_ways_then_close() {
    let coturn = Coturn::start(&CoturnOptions::turn_alice());
    let mut d = Driver::new(coturn.addr, "secret");
    let relayed = d.allocate();
    let peer = peer_socket();
    let peer_addr = peer.local_addr().expect("peer addr");

    d.client.bind_channel(Instant::now(), peer_addr);
    d.run_until("channel bind", |d| {
        d.events
            .iter()
            .any(|e| matches!(e, TurnEvent::ChannelBound { .. }))
    });
    assert!(d.events.contains(&TurnEvent::ChannelBound {
        peer: peer_addr,
        channel: 0x4000
    }));

    d.client
        .send_to(Instant::now(), peer_addr, b"via channel")
        .expect("bound");
    d.flush();
    let (data, from) = peer_recv(&peer);
    assert_eq!((data.as_slice(), from), (&b"via channel"[..], relayed));

    peer.send_to(b"channel reply", relayed).expect("peer send");
    d.run_until("ChannelData", |d| !d.received.is_empty());
    assert_eq!(
        d.received[0],
        TurnReceived {
            peer: peer_addr,
            data: b"channel reply".to_vec()
        }
    );

    d.client.close(Instant::now());
    d.run_until("deallocation", |d| d.client.is_closed());
    assert!(d.events.contains(&TurnEvent::Deallocated), "{:?}", d.events);
}
