//! A client and a server transaction talking over a simulated lossy UDP link in virtual
//! time: retransmissions recover from loss, duplicates are absorbed, the TU sees each
//! final response once.

mod common;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::transaction::{
    Action, InviteClient, InviteServer, InviteServerState, NonInviteClient, NonInviteServer,
    Reliability, TimerConfig,
};

const LATENCY: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    ToServer,
    ToClient,
}

/// A packet in flight: delivery time, sequence number (FIFO among equal times), direction,
/// payload.
type InFlight = Reverse<(Instant, u64, Dir, Vec<u8>)>;

/// One-way delay plus a set of packet numbers (per direction, counted from 0) to drop.
struct Link {
    queue: BinaryHeap<InFlight>,
    seq: u64,
    sent_to_server: usize,
    sent_to_client: usize,
    drop_to_server: HashSet<usize>,
    drop_to_client: HashSet<usize>,
    log: Vec<(Duration, Dir, String)>,
    t0: Instant,
}

impl Link {
    fn new(t0: Instant, drop_to_server: &[usize], drop_to_client: &[usize]) -> Self {
        Link {
            queue: BinaryHeap::new(),
            seq: 0,
            sent_to_server: 0,
            sent_to_client: 0,
            drop_to_server: drop_to_server.iter().copied().collect(),
            drop_to_client: drop_to_client.iter().copied().collect(),
            log: Vec::new(),
            t0,
        }
    }

    fn send(&mut self, now: Instant, dir: Dir, bytes: &Bytes) {
        let (counter, drops) = match dir {
            Dir::ToServer => (&mut self.sent_to_server, &self.drop_to_server),
            Dir::ToClient => (&mut self.sent_to_client, &self.drop_to_client),
        };
        let index = *counter;
        *counter += 1;
        self.log.push((
            now - self.t0,
            dir,
            String::from_utf8_lossy(bytes).into_owned(),
        ));
        if !drops.contains(&index) {
            self.seq += 1;
            self.queue
                .push(Reverse((now + LATENCY, self.seq, dir, bytes.to_vec())));
        }
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, ..))| *at)
    }

    fn pop(&mut self) -> Option<(Instant, Dir, String)> {
        self.queue
            .pop()
            .map(|Reverse((at, _, dir, b))| (at, dir, String::from_utf8_lossy(&b).into_owned()))
    }

    fn sent(&self, dir: Dir, what: &str) -> Vec<u128> {
        self.log
            .iter()
            .filter(|(_, d, w)| *d == dir && w == what)
            .map(|(at, ..)| at.as_millis())
            .collect()
    }
}

fn earliest(times: &[Option<Instant>]) -> Option<Instant> {
    times.iter().flatten().min().copied()
}

#[test]
fn non_invite_recovers_from_lost_requests_and_a_lost_response() {
    let t0 = Instant::now();
    let config = TimerConfig::default();
    // Requests #0 and #1 and the first 200 are lost.
    let mut link = Link::new(t0, &[0, 1], &[0]);
    let (mut client, first) = NonInviteClient::start(
        t0,
        Bytes::from_static(b"OPTIONS"),
        Reliability::Unreliable,
        config,
    );
    let mut client_tu: Vec<u128> = Vec::new();
    let mut client_done: Option<u128> = None;
    let mut server: Option<NonInviteServer> = None;
    let mut server_done: Option<u128> = None;
    let mut pending_client = first;
    let mut pending_server: Vec<Action> = Vec::new();
    let mut now = t0;
    for _ in 0..1000 {
        for action in pending_client.drain(..) {
            match action {
                Action::Transmit(b) => link.send(now, Dir::ToServer, &b),
                Action::PassToTu => client_tu.push((now - t0).as_millis()),
                Action::Terminated => client_done = Some((now - t0).as_millis()),
                other => panic!("unexpected client action {other:?}"),
            }
        }
        for action in pending_server.drain(..) {
            match action {
                Action::Transmit(b) => link.send(now, Dir::ToClient, &b),
                Action::Terminated => server_done = Some((now - t0).as_millis()),
                other => panic!("unexpected server action {other:?}"),
            }
        }
        let Some(next) = earliest(&[
            client.poll_timeout(),
            server.as_ref().and_then(|s| s.poll_timeout()),
            link.next_delivery(),
        ]) else {
            break;
        };
        now = next;
        if link.next_delivery() == Some(now) {
            let Some((_, dir, _)) = link.pop() else { break };
            match dir {
                Dir::ToServer => match server.as_mut() {
                    None => {
                        // New request: the TU answers at once.
                        let mut s = NonInviteServer::new(Reliability::Unreliable, config);
                        pending_server = s
                            .send_response(now, 200, Bytes::from_static(b"200"))
                            .unwrap();
                        server = Some(s);
                    }
                    Some(s) => pending_server = s.on_request_retransmission(now),
                },
                Dir::ToClient => pending_client = client.on_response(now, 200).unwrap(),
            }
        } else if client.poll_timeout() == Some(now) {
            pending_client = client.handle_timeout(now);
        } else if let Some(s) = server.as_mut() {
            pending_server = s.handle_timeout(now);
        }
    }
    // Client sends at 0, 0.5 (both lost), 1.5 (delivered), 3.5 (answered from Completed).
    assert_eq!(
        link.sent(Dir::ToServer, "OPTIONS"),
        vec![0, 500, 1500, 3500]
    );
    // Server: first 200 at 1.51 s (lost), resent for the retransmission at 3.51 s.
    assert_eq!(link.sent(Dir::ToClient, "200"), vec![1510, 3510]);
    // The TU sees the response exactly once.
    assert_eq!(client_tu, vec![3520]);
    // Timer K = T4 after the response; Timer J = 64·T1 after the server's final.
    assert_eq!(client_done, Some(8520));
    assert_eq!(server_done, Some(33_510));
}

#[test]
fn invite_486_with_lost_ack_is_recovered_by_timer_g() {
    let t0 = Instant::now();
    let config = TimerConfig::default();
    // The first ACK is lost.
    let mut link = Link::new(t0, &[1], &[]);
    let (mut client, first) = InviteClient::start(
        t0,
        Bytes::from_static(b"INVITE"),
        Reliability::Unreliable,
        config,
    );
    let mut client_tu: Vec<u128> = Vec::new();
    let mut client_done = None;
    let mut server: Option<InviteServer> = None;
    let mut server_done = None;
    let mut pending_client = first;
    let mut pending_server: Vec<Action> = Vec::new();
    let mut now = t0;
    for _ in 0..1000 {
        let mut more = Vec::new();
        for action in pending_client.drain(..) {
            match action {
                Action::Transmit(b) => link.send(now, Dir::ToServer, &b),
                Action::PassToTu => client_tu.push((now - t0).as_millis()),
                Action::SendAckForNon2xx => {
                    more = client.send_ack(Bytes::from_static(b"ACK")).unwrap();
                }
                Action::Terminated => client_done = Some((now - t0).as_millis()),
                other => panic!("unexpected client action {other:?}"),
            }
        }
        pending_client = more;
        for action in pending_server.drain(..) {
            match action {
                Action::Transmit(b) => link.send(now, Dir::ToClient, &b),
                Action::Terminated => server_done = Some((now - t0).as_millis()),
                other => panic!("unexpected server action {other:?}"),
            }
        }
        if !pending_client.is_empty() {
            continue;
        }
        let Some(next) = earliest(&[
            client.poll_timeout(),
            server.as_ref().and_then(|s| s.poll_timeout()),
            link.next_delivery(),
        ]) else {
            break;
        };
        now = next;
        if link.next_delivery() == Some(now) {
            let Some((_, dir, what)) = link.pop() else {
                break;
            };
            match (dir, what.as_str()) {
                (Dir::ToServer, "INVITE") => match server.as_mut() {
                    None => {
                        let mut s = InviteServer::new(now, Reliability::Unreliable, config);
                        pending_server = s
                            .send_response(now, 486, Bytes::from_static(b"486"))
                            .unwrap();
                        server = Some(s);
                    }
                    Some(s) => pending_server = s.on_request_retransmission(now),
                },
                (Dir::ToServer, _) => {
                    if let Some(s) = server.as_mut() {
                        pending_server = s.on_ack(now);
                    }
                }
                (Dir::ToClient, _) => pending_client = client.on_response(now, 486).unwrap(),
            }
        } else if client.poll_timeout() == Some(now) {
            pending_client = client.handle_timeout(now);
        } else if let Some(s) = server.as_mut() {
            pending_server = s.handle_timeout(now);
        }
    }
    // One INVITE (the 486 arrives before Timer A fires).
    assert_eq!(link.sent(Dir::ToServer, "INVITE"), vec![0]);
    // 486 at 10 ms, resent by Timer G at 510 ms because the ACK was lost.
    assert_eq!(link.sent(Dir::ToClient, "486"), vec![10, 510]);
    // The client ACKs both copies; the second ACK reaches the server.
    assert_eq!(link.sent(Dir::ToServer, "ACK"), vec![20, 520]);
    assert_eq!(client_tu, vec![20]);
    assert_eq!(client_done, Some(32_020));
    // Confirmed at 530 ms, Timer I = T4 → 5.53 s.
    assert_eq!(server_done, Some(5530));
    assert_eq!(
        server.map(|s| s.state()),
        Some(InviteServerState::Terminated)
    );
}
