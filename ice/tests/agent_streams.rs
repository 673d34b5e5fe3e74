//! Several streams in one session (`IceStreams`): foundations shared across streams, only the
//! first check list unfrozen initially, successes unfreezing the other streams (RFC 8445
//! §6.1.2.6, §7.2.5.3.3), over the simulated network.

mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{Handled, IceAgent, IceConfig, IceEvent, IceState, IceStreams};
use ice::stun::{Class, Message};
use sim::{LinkConditions, Network};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Peer {
    streams: IceStreams,
    events: Vec<(Instant, usize, IceEvent)>,
    sent: Vec<(Instant, SocketAddr, Vec<u8>)>,
}

fn peer(controlling: bool, seed: u64, ports: [SocketAddr; 2], t0: Instant) -> Peer {
    let mut streams = IceStreams::new();
    for (i, addr) in ports.into_iter().enumerate() {
        let mut agent = IceAgent::new(
            IceConfig {
                controlling,
                seed: Some(seed * 10 + i as u64),
                tie_breaker: Some(seed),
                ..IceConfig::default()
            },
            t0,
        );
        agent.add_local_host(addr).unwrap();
        streams.add_stream(agent);
    }
    Peer {
        streams,
        events: Vec::new(),
        sent: Vec::new(),
    }
}

fn flush(p: &mut Peer, net: &mut Network, now: Instant) {
    while let Some((_, t)) = p.streams.poll_transmit() {
        p.sent.push((now, t.from, t.data.clone()));
        net.send(t.from, t.to, t.data);
    }
    while let Some((i, e)) = p.streams.poll_event() {
        p.events.push((now, i, e));
    }
}

#[test]
fn the_second_stream_waits_for_the_first_streams_foundation_and_both_complete() {
    let t0 = Instant::now();
    let mut net = Network::new(5, t0);
    let link = LinkConditions::with_delay(Duration::from_millis(20));
    net.add_host(sa("192.0.2.1:0").ip(), None, link);
    net.add_host(sa("192.0.2.2:0").ip(), None, link);
    let mut a = peer(true, 1, [sa("192.0.2.1:5000"), sa("192.0.2.1:5002")], t0);
    let mut b = peer(false, 2, [sa("192.0.2.2:6000"), sa("192.0.2.2:6002")], t0);
    // Same type, base IP and (no) server: the same foundation in both streams.
    let f0 = a.streams.stream(0).unwrap().local_candidates()[0]
        .foundation
        .clone();
    let f1 = a.streams.stream(1).unwrap().local_candidates()[0]
        .foundation
        .clone();
    assert_eq!(f0, f1);
    // Signalling, stream by stream.
    for i in 0..2 {
        let (ca, la) = {
            let s = a.streams.stream(i).unwrap();
            (s.local_credentials().clone(), s.local_candidates())
        };
        let (cb, lb) = {
            let s = b.streams.stream(i).unwrap();
            (s.local_credentials().clone(), s.local_candidates())
        };
        let sa_ = a.streams.stream_mut(i).unwrap();
        sa_.set_remote_credentials(cb);
        lb.into_iter().for_each(|c| sa_.add_remote_candidate(c));
        let sb_ = b.streams.stream_mut(i).unwrap();
        sb_.set_remote_credentials(ca);
        la.into_iter().for_each(|c| sb_.add_remote_candidate(c));
    }
    let mut now = t0;
    a.streams.handle_timeout(now);
    b.streams.handle_timeout(now);
    for _ in 0..10_000 {
        flush(&mut a, &mut net, now);
        flush(&mut b, &mut net, now);
        let all_done = (0..2).all(|i| {
            a.streams.stream(i).unwrap().state() == IceState::Completed
                && b.streams.stream(i).unwrap().state() == IceState::Completed
        });
        if all_done {
            break;
        }
        let Some(next) = [
            a.streams.poll_timeout(),
            b.streams.poll_timeout(),
            net.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .min() else {
            break;
        };
        now = next.max(now);
        for d in net.advance(now) {
            for p in [&mut a, &mut b] {
                if let Some((_, Handled::Dropped(r))) =
                    p.streams.handle_packet(d.at, d.to, d.from, &d.data)
                {
                    panic!("dropped: {r}");
                }
            }
        }
        a.streams.handle_timeout(now);
        b.streams.handle_timeout(now);
    }
    for i in 0..2 {
        assert_eq!(
            a.streams.stream(i).unwrap().state(),
            IceState::Completed,
            "A stream {i}"
        );
        assert_eq!(
            b.streams.stream(i).unwrap().state(),
            IceState::Completed,
            "B stream {i}"
        );
    }
    // Stream 1's own first check left only after stream 0's pair of that foundation succeeded.
    let first_valid_0 = a
        .events
        .iter()
        .find(|(_, i, e)| *i == 0 && matches!(e, IceEvent::ValidPair { .. }))
        .map(|(t, _, _)| *t)
        .unwrap();
    let first_check_1 = a
        .sent
        .iter()
        .find(|(_, from, data)| {
            *from == sa("192.0.2.1:5002")
                && Message::decode(data).is_ok_and(|m| m.class == Class::Request)
        })
        .map(|(t, _, _)| *t)
        .unwrap();
    let first_check_0 = a
        .sent
        .iter()
        .find(|(_, from, data)| {
            *from == sa("192.0.2.1:5000")
                && Message::decode(data).is_ok_and(|m| m.class == Class::Request)
        })
        .map(|(t, _, _)| *t)
        .unwrap();
    assert_eq!(first_check_0, t0, "the first stream starts at once");
    assert!(
        first_check_1 >= first_valid_0,
        "{:?} < {:?}",
        first_check_1 - t0,
        first_valid_0 - t0
    );
}
