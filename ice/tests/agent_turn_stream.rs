//! The agent's TURN client over TCP/TLS (RFC 8656 §3.1) and how a broken TURN server is
//! reported, against the simulated TURN server in virtual time.
//!
//! The test plays the caller's part: it keeps the "connection" between agent A and the server,
//! cuts both directions of it with `StreamDeframer` after chopping the bytes into pieces that
//! split and join messages, and routes UDP between the relay and peer B. A's host socket is
//! firewalled (everything to it is dropped), so the only path is A's relay ↔ B's host.

mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{ServerKind, TurnServer, TurnTransport};
use ice::stun::{Class, Message, Method};
use ice::turn::StreamDeframer;
use ice::{CandidateKind, Handled, IceAgent, IceConfig, IceEvent, Transport};
use sim::{TurnServer as SimTurnServer, TurnServerConfig};

const REALM: &str = "sim.example";
const HOP: Duration = Duration::from_millis(10);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn server() -> SocketAddr {
    sa("198.51.100.1:3478")
}
fn a_host() -> SocketAddr {
    sa("192.0.2.10:5000")
}
/// The server's view of A's TCP connection (its source address).
fn a_conn() -> SocketAddr {
    sa("192.0.2.10:40000")
}
fn b_host() -> SocketAddr {
    sa("203.0.113.20:6000")
}

/// What travels, and where it goes.
#[derive(Debug)]
enum Hop {
    /// Bytes on A's connection toward the server.
    StreamToServer(Vec<u8>),
    /// Bytes on A's connection toward A.
    StreamToA(Vec<u8>),
    Udp {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
}

struct World {
    now: Instant,
    transport: TurnTransport,
    queue: Vec<(Instant, u64, Hop)>,
    seq: u64,
    server: SimTurnServer,
    /// The server's end of A's stream.
    server_side: StreamDeframer,
    /// A's end of its stream (the caller's deframer).
    a_side: StreamDeframer,
    /// When Some, the server answers nothing.
    silent: bool,
    a: IceAgent,
    b: IceAgent,
    a_events: Vec<(Instant, IceEvent)>,
    b_events: Vec<(Instant, IceEvent)>,
    /// Every message A put on its stream, or every datagram A sent to the server over UDP.
    a_to_server: Vec<Vec<u8>>,
    a_media: Vec<Vec<u8>>,
    b_media: Vec<Vec<u8>>,
    /// A chunking pattern: sizes the stream bytes are fed in (cycled).
    chunks: Vec<usize>,
    chunk_index: usize,
    a_stream_failure: Option<String>,
}

impl World {
    fn new(transport: TurnTransport, password: &str, config: TurnServerConfig) -> Self {
        let now = Instant::now();
        let mut sim_server = SimTurnServer::new(
            server(),
            sa("198.51.100.2:0").ip(),
            REALM,
            &[("alice", "secret")],
            config,
        );
        if transport.is_stream() {
            sim_server.serve_over_stream(a_conn());
        }
        let a_config = IceConfig {
            controlling: true,
            seed: Some(1),
            turn_servers: vec![TurnServer {
                addr: server(),
                username: "alice".into(),
                password: password.into(),
                transport,
            }],
            ..IceConfig::default()
        };
        let b_config = IceConfig {
            controlling: false,
            seed: Some(2),
            ..IceConfig::default()
        };
        let mut a = IceAgent::new(a_config, now);
        let mut b = IceAgent::new(b_config, now);
        a.add_local_host(a_host()).unwrap();
        b.add_local_host(b_host()).unwrap();
        World {
            now,
            transport,
            queue: Vec::new(),
            seq: 0,
            server: sim_server,
            server_side: StreamDeframer::new(),
            a_side: StreamDeframer::new(),
            silent: false,
            a,
            b,
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_to_server: Vec::new(),
            a_media: Vec::new(),
            b_media: Vec::new(),
            chunks: vec![1, 3, 7, 2, 64, 5, 1000, 13],
            chunk_index: 0,
            a_stream_failure: None,
        }
    }

    fn send(&mut self, hop: Hop) {
        self.seq += 1;
        self.queue.push((self.now + HOP, self.seq, hop));
    }

    /// Bytes of a stream in the pieces of the chunking pattern, each piece its own hop.
    fn send_chunked(&mut self, bytes: &[u8], make: fn(Vec<u8>) -> Hop) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let size = self.chunks[self.chunk_index % self.chunks.len()].min(rest.len());
            self.chunk_index += 1;
            let (piece, tail) = rest.split_at(size);
            self.send(make(piece.to_vec()));
            rest = tail;
        }
    }

    fn signal(&mut self) {
        let (a, b) = (&mut self.a, &mut self.b);
        a.set_remote_credentials(b.local_credentials().clone());
        b.set_remote_credentials(a.local_credentials().clone());
        for c in a.local_candidates() {
            b.add_remote_candidate(c);
        }
        for c in b.local_candidates() {
            a.add_remote_candidate(c);
        }
    }

    /// The agents' first tick: gathering starts (paced at Ta, RFC 8445 §14.2).
    fn start(&mut self) {
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.a.poll_transmit() {
            if t.to == server() {
                self.a_to_server.push(t.data.clone());
            }
            assert_eq!(t.from, a_host(), "every transmit of A leaves its host base");
            if t.transport.is_stream() {
                assert_eq!(t.to, server(), "only TURN traffic goes over the stream");
                assert_eq!(t.transport, self.transport);
                self.send_chunked(&t.data, Hop::StreamToServer);
            } else {
                assert!(
                    !(self.transport.is_stream() && t.to == server()),
                    "TURN traffic over a stream never leaves as a datagram"
                );
                self.send(Hop::Udp {
                    from: t.from,
                    to: t.to,
                    data: t.data,
                });
            }
        }
        while let Some(t) = self.b.poll_transmit() {
            assert_eq!(t.transport, TurnTransport::Udp);
            self.send(Hop::Udp {
                from: t.from,
                to: t.to,
                data: t.data,
            });
        }
        while let Some(e) = self.a.poll_event() {
            self.a_events.push((self.now, e));
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push((self.now, e));
        }
    }

    fn route_server_output(&mut self, out: Vec<(SocketAddr, SocketAddr, Vec<u8>)>) {
        for (from, to, data) in out {
            if self.transport.is_stream() && to == a_conn() {
                self.send_chunked(&data, Hop::StreamToA);
            } else {
                self.send(Hop::Udp { from, to, data });
            }
        }
    }

    fn deliver(&mut self, hop: Hop) {
        let now = self.now;
        match hop {
            Hop::StreamToServer(bytes) => {
                self.server_side.push(&bytes);
                while let Some(message) = self.server_side.next_message().expect("A frames") {
                    if !self.silent {
                        let out = self.server.handle(now, a_conn(), server(), &message);
                        self.route_server_output(out);
                    }
                }
            }
            Hop::StreamToA(bytes) => {
                self.a_side.push(&bytes);
                loop {
                    match self.a_side.next_message() {
                        Ok(Some(message)) => {
                            let handled =
                                self.a.handle_turn_stream(now, a_host(), server(), &message);
                            if let Handled::Media { data, .. } = handled {
                                self.a_media.push(data);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // What the program does: close the connection, tell the agent.
                            let reason = e.to_string();
                            self.a.turn_stream_failed(now, a_host(), server(), &reason);
                            self.a_stream_failure = Some(reason);
                            break;
                        }
                    }
                }
            }
            Hop::Udp { from, to, data } => {
                if to == server() || to.ip() == sa("198.51.100.2:0").ip() {
                    if !self.silent {
                        let out = self.server.handle(now, from, to, &data);
                        self.route_server_output(out);
                    }
                } else if to == b_host() {
                    if let Handled::Media { data, .. } = self.b.handle_packet(now, to, from, &data)
                    {
                        self.b_media.push(data);
                    }
                } else if to == a_host() && from == server() {
                    // The firewall lets the TURN server's answers in (TURN over UDP), nothing
                    // else.
                    if let Handled::Media { data, .. } = self.a.handle_packet(now, to, from, &data)
                    {
                        self.a_media.push(data);
                    }
                }
            }
        }
    }

    /// Advance to the next thing that happens, or to `limit`; false when nothing is left.
    fn step(&mut self, limit: Instant) -> bool {
        self.drain();
        let next_hop = self.queue.iter().map(|(t, _, _)| *t).min();
        let next = [next_hop, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|t| *t <= limit) else {
            self.now = limit;
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        self.queue.sort_by_key(|(t, seq, _)| (*t, *seq));
        let due: Vec<_> = {
            let split = self.queue.partition_point(|(t, _, _)| *t <= now);
            self.queue.drain(..split).collect()
        };
        for (_, _, hop) in due {
            self.deliver(hop);
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        self.drain();
        true
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&World) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            if !self.step(end) {
                return done(self);
            }
        }
        true
    }

    fn gathered(&self) -> bool {
        self.a_events
            .iter()
            .any(|(_, e)| *e == IceEvent::GatheringComplete)
    }

    fn a_server_failure(&self) -> Option<(Instant, ServerKind, String)> {
        self.a_events.iter().find_map(|(t, e)| match e {
            IceEvent::ServerFailed {
                server: s,
                kind,
                reason,
            } if *s == server() => Some((*t, *kind, reason.clone())),
            _ => None,
        })
    }

    /// Allocate requests A sent to the server (first sends and any retransmission).
    fn allocate_requests(&self) -> usize {
        self.a_to_server
            .iter()
            .filter_map(|m| Message::decode(m).ok())
            .filter(|m| m.class == Class::Request && m.method == Method::Allocate)
            .count()
    }
}

fn media_through_the_relay(transport: TurnTransport) {
    let mut w = World::new(transport, "secret", TurnServerConfig::default());
    let t0 = w.now;
    assert!(
        w.run_until(Duration::from_secs(5), World::gathered),
        "gathering completes"
    );
    let relay =
        w.a.local_candidates()
            .into_iter()
            .find(|c| c.kind == CandidateKind::Relayed)
            .expect("a relayed candidate");
    // RFC 8656 §7.1: the relay is UDP whatever the transport to the server.
    assert_eq!(relay.transport, Transport::Udp);
    assert_eq!(relay.address.ip(), sa("198.51.100.2:0").ip());
    // The unauthenticated Allocate and the authenticated one; nothing retransmitted.
    assert_eq!(w.allocate_requests(), 2);
    w.signal();
    assert!(
        w.run_until(Duration::from_secs(10), |w| {
            w.a_events.iter().any(|(_, e)| *e == IceEvent::Completed)
                && w.b_events.iter().any(|(_, e)| *e == IceEvent::Completed)
        }),
        "ICE completes through the relay; A: {:?}",
        w.a_events
    );
    let (local, remote) = w.a.selected_pair(1).expect("selected");
    assert_eq!(local.kind, CandidateKind::Relayed);
    assert_eq!(remote.address, b_host());
    // Let the channel binding of the selected pair (RFC 8656 §12) complete.
    let settle = w.now + Duration::from_millis(200);
    while w.step(settle) {}
    // Odd lengths: padding over the stream must not reach the application.
    for n in 1..=5u8 {
        let payload: Vec<u8> = std::iter::repeat_n(0x80 + n, usize::from(n) * 3 + 1).collect();
        let t = w.a.send_data(w.now, 1, &payload).expect("A sends");
        w.send(match t.transport {
            TurnTransport::Udp => Hop::Udp {
                from: t.from,
                to: t.to,
                data: t.data.clone(),
            },
            _ => Hop::StreamToServer(t.data.clone()),
        });
        w.a_to_server.push(t.data);
        let t = w.b.send_data(w.now, 1, &payload).expect("B sends");
        w.send(Hop::Udp {
            from: t.from,
            to: t.to,
            data: t.data,
        });
    }
    let settle = w.now + Duration::from_millis(200);
    while w.step(settle) {}
    let expected: Vec<Vec<u8>> = (1..=5u8)
        .map(|n| std::iter::repeat_n(0x80 + n, usize::from(n) * 3 + 1).collect())
        .collect();
    assert_eq!(w.b_media, expected, "A's media reached B through the relay");
    assert_eq!(w.a_media, expected, "B's media reached A through the relay");
    let channel_data: Vec<&Vec<u8>> = w
        .a_to_server
        .iter()
        .filter(|m| m.first().is_some_and(|b| b & 0xC0 == 0x40))
        .collect();
    assert!(!channel_data.is_empty(), "the selected pair uses a channel");
    for frame in channel_data {
        // RFC 8656 §12.5: padded over TCP/TLS.
        assert_eq!(frame.len() % 4, 0, "ChannelData over {transport} is padded");
    }
    assert!(w.a_server_failure().is_none());
    assert!(w.now - t0 < Duration::from_secs(20));
}

#[test]
fn media_flows_through_a_relay_reached_over_tcp() {
    media_through_the_relay(TurnTransport::Tcp);
}

#[test]
fn media_flows_through_a_relay_reached_over_tls() {
    // To the agent TLS is the same byte stream as TCP; the caller does the TLS.
    media_through_the_relay(TurnTransport::Tls);
}

#[test]
fn channel_data_over_udp_stays_unpadded() {
    let mut w = World::new(TurnTransport::Udp, "secret", TurnServerConfig::default());
    assert!(w.run_until(Duration::from_secs(5), World::gathered));
    w.signal();
    assert!(w.run_until(Duration::from_secs(10), |w| w
        .a_events
        .iter()
        .any(|(_, e)| *e == IceEvent::Completed)));
    let settle = w.now + Duration::from_millis(200);
    while w.step(settle) {}
    let t =
        w.a.send_data(w.now, 1, &[0x80, 1, 2, 3, 4])
            .expect("A sends");
    assert_eq!(t.transport, TurnTransport::Udp);
    assert_eq!(t.data.len(), 4 + 5, "ChannelData without padding over UDP");
}

#[test]
fn a_silent_server_over_tcp_gets_one_allocate_and_is_reported_at_the_gathering_timeout() {
    let mut w = World::new(TurnTransport::Tcp, "secret", TurnServerConfig::default());
    w.silent = true;
    let t0 = w.now;
    assert!(w.run_until(Duration::from_secs(10), World::gathered));
    // RFC 8489 §6.2.2: a reliable transport does not retransmit.
    assert_eq!(w.allocate_requests(), 1);
    let (at, kind, reason) = w.a_server_failure().expect("reported");
    assert_eq!(kind, ServerKind::Turn(TurnTransport::Tcp));
    assert_eq!(reason, "timeout");
    // Ti is the gathering budget (4.5 s), not 39.5 s: reported within the 5 s cap.
    assert_eq!(
        at - t0,
        IceConfig::default().gather_retransmit.total_duration()
    );
    assert!(at - t0 < Duration::from_secs(5));
}

#[test]
fn a_refused_connection_is_reported_at_once_and_ends_gathering() {
    let mut w = World::new(TurnTransport::Tls, "secret", TurnServerConfig::default());
    w.silent = true;
    let t0 = w.now;
    w.start();
    assert_eq!(
        w.allocate_requests(),
        1,
        "the first Allocate asks for a connection"
    );
    let reason =
        "TLS handshake with 198.51.100.1:3478 failed: invalid peer certificate: UnknownIssuer";
    let at = t0 + Duration::from_millis(3);
    w.now = at;
    w.a.turn_stream_failed(at, a_host(), server(), reason);
    w.drain();
    let (when, kind, got) = w.a_server_failure().expect("reported");
    assert_eq!(
        (when, kind, got.as_str()),
        (at, ServerKind::Turn(TurnTransport::Tls), reason)
    );
    assert!(w.a.is_gathering_complete());
    assert!(
        w.gathered(),
        "GatheringComplete without waiting for a timeout"
    );
    // No relayed candidate, and nothing sent in clear instead.
    assert!(w
        .a
        .local_candidates()
        .iter()
        .all(|c| c.kind == CandidateKind::Host));
    assert_eq!(w.allocate_requests(), 1);
}

#[test]
fn garbage_from_the_server_fails_the_allocation_with_the_framing_error() {
    let mut w = World::new(TurnTransport::Tcp, "secret", TurnServerConfig::default());
    w.silent = true;
    w.start();
    // 0b11 in the two leading bits: neither STUN (0b00) nor ChannelData (0b01).
    w.send(Hop::StreamToA(b"\xC0 not TURN at all".to_vec()));
    assert!(
        w.run_until(Duration::from_secs(1), World::gathered),
        "{:?} {:?}",
        w.a_events,
        w.a_stream_failure
    );
    let (_, _, reason) = w.a_server_failure().expect("reported");
    assert_eq!(Some(reason.clone()), w.a_stream_failure);
    assert!(reason.contains("neither STUN nor ChannelData"), "{reason}");
}

fn refused(transport: TurnTransport, password: &str, config: TurnServerConfig) -> String {
    let mut w = World::new(transport, password, config);
    let t0 = w.now;
    assert!(w.run_until(Duration::from_secs(10), World::gathered));
    let (at, kind, reason) = w.a_server_failure().expect("reported");
    assert_eq!(kind, ServerKind::Turn(transport));
    // Two round trips (challenge, refusal), nothing waited for.
    assert!(
        at - t0 <= HOP * 4 + Duration::from_millis(1),
        "{:?}",
        at - t0
    );
    let complete = w
        .a_events
        .iter()
        .find(|(_, e)| *e == IceEvent::GatheringComplete)
        .map(|(t, _)| *t);
    assert_eq!(complete, Some(at), "gathering ends with the refusal");
    reason
}

#[test]
fn wrong_credentials_are_reported_as_soon_as_refused() {
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        let reason = refused(transport, "wrong", TurnServerConfig::default());
        assert!(
            reason.starts_with("401 wrong credentials"),
            "{transport}: {reason}"
        );
    }
}

#[test]
fn a_forbidden_allocation_is_reported_with_the_server_code() {
    let config = TurnServerConfig {
        refuse_allocate: Some(403),
        ..TurnServerConfig::default()
    };
    let reason = refused(TurnTransport::Udp, "secret", config);
    assert_eq!(reason, "403 Forbidden");
}

#[test]
fn an_icmp_error_from_a_udp_turn_server_is_reported_at_once() {
    let mut w = World::new(TurnTransport::Udp, "secret", TurnServerConfig::default());
    w.silent = true;
    let t0 = w.now;
    w.start();
    let at = t0 + Duration::from_millis(1);
    w.now = at;
    w.a.handle_unreachable(at, a_host(), server());
    w.drain();
    let (when, kind, reason) = w.a_server_failure().expect("reported");
    assert_eq!(when, at);
    assert_eq!(kind, ServerKind::Turn(TurnTransport::Udp));
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(w.a.is_gathering_complete());
}
