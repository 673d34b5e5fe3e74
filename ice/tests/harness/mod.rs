//! Runs two ICE agents over the simulated network in virtual time (quinn-proto `Pair` style):
//! each step advances to the earliest of the agents' timeouts and the network's next delivery,
//! with a step limit against livelock. Candidates and credentials are exchanged out of band,
//! as signalling would, once both sides finished gathering.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{Handled, IceAgent, IceEvent, IceState};

use crate::sim::Network;

pub const MAX_STEPS: usize = 200_000;

/// One endpoint: its agent, the host sockets it "bound", and what it saw.
pub struct Side {
    pub agent: IceAgent,
    pub sockets: Vec<SocketAddr>,
    pub events: Vec<(Instant, IceEvent)>,
    pub media: Vec<(Instant, u16, SocketAddr, Vec<u8>)>,
    pub sent_datagrams: u64,
    /// Every datagram the agent asked to send: (time, transmit).
    pub sent: Vec<(Instant, ice::agent::Transmit)>,
    /// Every datagram handed to the agent: (time, from, to local socket, bytes). For timelines.
    pub received: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Side {
    pub fn new(agent: IceAgent) -> Self {
        Side {
            agent,
            sockets: Vec::new(),
            events: Vec::new(),
            media: Vec::new(),
            sent_datagrams: 0,
            sent: Vec::new(),
            received: Vec::new(),
        }
    }

    /// Bind (pretend) a socket and give it to the agent as a host candidate.
    pub fn add_host(&mut self, component: u16, addr: SocketAddr) {
        self.agent
            .add_local_host_for(component, addr)
            .expect("valid host address");
        self.sockets.push(addr);
    }

    pub fn completed_at(&self) -> Option<Instant> {
        self.events
            .iter()
            .find(|(_, e)| *e == IceEvent::Completed)
            .map(|(t, _)| *t)
    }

    pub fn failed(&self) -> Option<&IceEvent> {
        self.events
            .iter()
            .map(|(_, e)| e)
            .find(|e| matches!(e, IceEvent::Failed { .. }))
    }

    pub fn count(&self, pred: impl Fn(&IceEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| pred(e)).count()
    }
}

/// Two sides and a network.
pub struct Duo {
    pub t0: Instant,
    pub now: Instant,
    pub net: Network,
    pub a: Side,
    pub b: Side,
    pub steps: usize,
    /// When the candidates and credentials were exchanged.
    pub signalled_at: Option<Instant>,
    /// Exchange automatically when both sides finished gathering.
    pub auto_signal: bool,
}

fn earliest(xs: &[Option<Instant>]) -> Option<Instant> {
    xs.iter().flatten().copied().min()
}

impl Duo {
    pub fn new(net: Network, a: Side, b: Side) -> Self {
        let t0 = net.now();
        Duo {
            t0,
            now: t0,
            net,
            a,
            b,
            steps: 0,
            signalled_at: None,
            auto_signal: true,
        }
    }

    /// Give each side the other's credentials and candidates (offer/answer).
    pub fn signal(&mut self) {
        let (ca, cb) = (
            self.a.agent.local_credentials().clone(),
            self.b.agent.local_credentials().clone(),
        );
        let (la, lb) = (
            self.a.agent.local_candidates(),
            self.b.agent.local_candidates(),
        );
        self.a.agent.set_remote_credentials(cb);
        for c in lb {
            self.a.agent.add_remote_candidate(c);
        }
        self.b.agent.set_remote_credentials(ca);
        for c in la {
            self.b.agent.add_remote_candidate(c);
        }
        self.signalled_at = Some(self.now);
    }

    fn flush(&mut self) {
        for side in [&mut self.a, &mut self.b] {
            while let Some(t) = side.agent.poll_transmit() {
                side.sent_datagrams += 1;
                side.sent.push((self.now, t.clone()));
                self.net.send(t.from, t.to, t.data);
            }
            while let Some(e) = side.agent.poll_event() {
                side.events.push((self.now, e));
            }
        }
    }

    /// One step. Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.step_capped(None)
    }

    /// One step that does not go past `cap`.
    pub fn step_capped(&mut self, cap: Option<Instant>) -> bool {
        self.steps += 1;
        assert!(self.steps < MAX_STEPS, "step limit reached: livelock?");
        self.flush();
        if self.auto_signal
            && self.signalled_at.is_none()
            && self.a.agent.is_gathering_complete()
            && self.b.agent.is_gathering_complete()
        {
            self.signal();
            self.flush();
        }
        let Some(next) = earliest(&[
            self.a.agent.poll_timeout(),
            self.b.agent.poll_timeout(),
            self.net.next_delivery(),
        ]) else {
            return false;
        };
        let next = match cap {
            Some(cap) if next > cap => cap,
            _ => next,
        };
        let now = next.max(self.now);
        self.now = now;
        for d in self.net.advance(now) {
            let at = d.at.max(self.t0);
            let side = if self.a.sockets.contains(&d.to) {
                &mut self.a
            } else if self.b.sockets.contains(&d.to) {
                &mut self.b
            } else {
                continue;
            };
            side.received.push((at, d.from, d.to, d.data.clone()));
            if let Handled::Media {
                component,
                from,
                data,
                ..
            } = side.agent.handle_packet(at, d.to, d.from, &d.data)
            {
                side.media.push((at, component, from, data));
            }
        }
        for side in [&mut self.a, &mut self.b] {
            if side.agent.poll_timeout().is_some_and(|t| t <= now) {
                side.agent.handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Step until `done` holds or `limit` of virtual time has passed. Returns whether `done`.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Duo) -> bool) -> bool {
        let deadline = self.t0 + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now >= deadline || !self.step_capped(Some(deadline)) {
                return done(self);
            }
        }
    }

    pub fn both_completed(&self) -> bool {
        self.a.agent.state() == IceState::Completed && self.b.agent.state() == IceState::Completed
    }

    pub fn any_failed(&self) -> bool {
        self.a.agent.state() == IceState::Failed || self.b.agent.state() == IceState::Failed
    }

    /// Send one datagram of media each way on component 1 and run until both arrived.
    pub fn exchange_media(&mut self, limit: Duration) -> bool {
        self.exchange_media_retrying(limit, 1)
    }

    /// Media each way on component 1, resending (up to `attempts` times, `limit` apart) in the
    /// direction that has not arrived yet: media is not retransmitted, and a lossy link may
    /// drop a datagram. True once both directions arrived.
    pub fn exchange_media_retrying(&mut self, limit: Duration, attempts: usize) -> bool {
        let (na, nb) = (self.a.media.len(), self.b.media.len());
        let arrived = |side: &Side, from: usize, payload: &[u8]| {
            side.media.iter().skip(from).any(|m| m.3 == payload)
        };
        for _ in 0..attempts {
            let now = self.now;
            let to_b = !arrived(&self.b, nb, b"\x80\x00media-from-a");
            let to_a = !arrived(&self.a, na, b"\x80\x00media-from-b");
            if !to_a && !to_b {
                return true;
            }
            for (side, payload, wanted) in [
                (&mut self.a, &b"\x80\x00media-from-a"[..], to_b),
                (&mut self.b, &b"\x80\x00media-from-b"[..], to_a),
            ] {
                if !wanted {
                    continue;
                }
                match side.agent.send_data(now, 1, payload) {
                    Ok(t) => self.net.send(t.from, t.to, t.data),
                    Err(e) => {
                        if std::env::var("ICE_DEBUG").is_ok() {
                            eprintln!("send_data refused: {e:?}");
                        }
                        return false;
                    }
                }
            }
            let until = self.now + limit - self.t0;
            self.run_until(until, |d| {
                arrived(&d.a, na, b"\x80\x00media-from-b")
                    && arrived(&d.b, nb, b"\x80\x00media-from-a")
            });
        }
        arrived(&self.a, na, b"\x80\x00media-from-b")
            && arrived(&self.b, nb, b"\x80\x00media-from-a")
    }
}

/// One case of the NAT matrix: who sits behind what, servers, link conditions.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub a_nat: Option<crate::sim::NatKind>,
    pub b_nat: Option<crate::sim::NatKind>,
    pub turn: bool,
    pub loss: f64,
    /// One-way delay of each hop (host uplink, NAT wan side).
    pub hop_delay: Duration,
    pub seed: u64,
    pub nomination: ice::agent::NominationMode,
    pub nomination_wait: Duration,
    /// How long a relayed best pair is held for a pending direct one (`IceConfig`).
    pub relay_nomination_wait: Duration,
    /// RFC 7675 consent freshness on both agents.
    pub consent: bool,
}

pub const STUN_SERVER: &str = "198.51.100.1:3478";
pub const TURN_SERVER: &str = "198.51.100.2:3478";
pub const TURN_RELAY_IP: &str = "198.51.100.3";
pub const TURN_REALM: &str = "sim.example";
pub const TURN_USER: (&str, &str) = ("alice", "turn-secret");

/// The network and two agents of `case` (A controlling, B controlled), hosts added.
pub fn build(case: &Case, t0: Instant) -> Duo {
    build_components(case, t0, 1)
}

/// As [`build`], with `components` components (2: RTP and RTCP without rtcp-mux, the RTCP
/// socket on the next port of the same host).
pub fn build_components(case: &Case, t0: Instant, components: u16) -> Duo {
    use crate::sim::LinkConditions;
    use ice::agent::{IceConfig, TurnServer};
    let mut net = Network::new(case.seed, t0);
    let stun: SocketAddr = STUN_SERVER.parse().expect("address");
    let turn: SocketAddr = TURN_SERVER.parse().expect("address");
    net.add_stun_server(stun);
    if case.turn {
        net.add_turn_server(
            turn,
            TURN_RELAY_IP.parse().expect("ip"),
            TURN_REALM,
            &[TURN_USER],
        );
    }
    let host_link = LinkConditions {
        delay: case.hop_delay,
        loss: case.loss,
        ..LinkConditions::default()
    };
    let wan_link = LinkConditions::with_delay(case.hop_delay);
    let mut place = |nat: Option<crate::sim::NatKind>,
                     public: &str,
                     private: &str,
                     nat_ip: &str|
     -> SocketAddr {
        match nat {
            None => {
                let addr: SocketAddr = public.parse().expect("address");
                net.add_host(addr.ip(), None, host_link);
                addr
            }
            Some(kind) => {
                let id = net.add_nat(kind, nat_ip.parse().expect("ip"));
                net.set_nat_wan_link(id, wan_link);
                let addr: SocketAddr = private.parse().expect("address");
                net.add_host(addr.ip(), Some(id), host_link);
                addr
            }
        }
    };
    let a_addr = place(
        case.a_nat,
        "203.0.113.10:5000",
        "192.0.2.10:5000",
        "203.0.113.1",
    );
    let b_addr = place(
        case.b_nat,
        "203.0.113.20:6000",
        "192.0.2.20:6000",
        "203.0.113.2",
    );
    let config = |controlling: bool, seed: u64| IceConfig {
        controlling,
        seed: Some(seed),
        nomination: case.nomination,
        nomination_wait: case.nomination_wait,
        relay_nomination_wait: case.relay_nomination_wait,
        consent: ice::agent::ConsentConfig {
            enabled: case.consent,
            ..Default::default()
        },
        // On a lossy path, gather with the full RFC 8489 schedule (Rc = 7): the simulated
        // servers always exist, and a lost srflx candidate would change the case under test.
        gather_retransmit: if case.loss > 0.0 {
            ice::stun::RetransmitConfig::default()
        } else {
            IceConfig::default().gather_retransmit
        },
        components,
        stun_servers: vec![stun],
        turn_servers: if case.turn {
            vec![TurnServer {
                addr: turn,
                username: TURN_USER.0.into(),
                password: TURN_USER.1.into(),
                transport: ice::agent::TurnTransport::Udp,
            }]
        } else {
            Vec::new()
        },
        ..IceConfig::default()
    };
    let mut a = Side::new(IceAgent::new(config(true, case.seed.wrapping_mul(2)), t0));
    let mut b = Side::new(IceAgent::new(
        config(false, case.seed.wrapping_mul(2) + 1),
        t0,
    ));
    for component in 1..=components {
        let next = |addr: SocketAddr| SocketAddr::new(addr.ip(), addr.port() + component - 1);
        a.add_host(component, next(a_addr));
        b.add_host(component, next(b_addr));
    }
    Duo::new(net, a, b)
}
