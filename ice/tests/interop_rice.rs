//! Interop with an independent ICE implementation: `rice-proto` 0.4 (librice, sans-IO like
//! ours), both agents running over the simulated network in virtual time. Our agent takes each
//! role against it; both sides must select the same pair and carry media both ways.

mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{Handled, IceAgent, IceConfig, IceEvent, IceState};
use ice::{Candidate, CandidateKind, Credentials};
use rice_proto::agent::{Agent as RiceAgent, AgentPoll};
use rice_proto::candidate::{Candidate as RiceCandidate, CandidateType, TransportType};
use rice_proto::component::ComponentConnectionState;
use rice_proto::stream::Credentials as RiceCredentials;
use sim::{LinkConditions, NatKind, Network};

const MAX_STEPS: usize = 100_000;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// rice-proto's clock is a no_std `Instant` counted from an origin: ours is the test's t0.
fn rice_time(t0: Instant, now: Instant) -> stun_proto::Instant {
    stun_proto::Instant::from_nanos(now.saturating_duration_since(t0).as_nanos() as i64)
}

struct RicePeer {
    agent: RiceAgent,
    stream: usize,
    addr: SocketAddr,
    t0: Instant,
    next: Option<Instant>,
    gathered: bool,
    selected: Option<(SocketAddr, SocketAddr)>,
    state: ComponentConnectionState,
    media: Vec<Vec<u8>>,
}

impl RicePeer {
    fn new(controlling: bool, addr: SocketAddr, t0: Instant) -> Self {
        let mut agent = RiceAgent::builder()
            .trickle_ice(false)
            .controlling(controlling)
            .build();
        let stream = agent.add_stream();
        {
            let mut s = agent.mut_stream(stream).expect("stream");
            s.set_local_credentials(RiceCredentials::new(
                "riceufrag".into(),
                "ricepasswordricepassword".into(),
            ));
            let component = s.add_component().expect("component");
            assert_eq!(component, 1);
            s.mut_component(component)
                .expect("component")
                .gather_candidates(&[(TransportType::Udp, addr)], &[], &[])
                .expect("gathering starts");
        }
        RicePeer {
            agent,
            stream,
            addr,
            t0,
            next: None,
            gathered: false,
            selected: None,
            state: ComponentConnectionState::New,
            media: Vec::new(),
        }
    }

    fn drive(&mut self, now: Instant) {
        loop {
            match self.agent.poll(rice_time(self.t0, now)) {
                AgentPoll::WaitUntil(t) => {
                    self.next = Some(t.to_std(self.t0));
                    return;
                }
                AgentPoll::Closed => {
                    self.next = None;
                    return;
                }
                AgentPoll::GatheredCandidate(g) => {
                    let mut s = self.agent.mut_stream(self.stream).expect("stream");
                    s.add_local_gathered_candidate(g.gathered);
                }
                AgentPoll::GatheringComplete(_) => {
                    let mut s = self.agent.mut_stream(self.stream).expect("stream");
                    s.end_of_local_candidates();
                    self.gathered = true;
                }
                AgentPoll::SelectedPair(p) => {
                    let pair = p.selected.candidate_pair().clone();
                    self.selected = Some((pair.local.address, pair.remote.address));
                    // rice-proto leaves installing the selected pair for sending to the caller.
                    let mut s = self.agent.mut_stream(self.stream).expect("stream");
                    s.mut_component(p.component_id)
                        .expect("component")
                        .set_selected_pair(pair)
                        .expect("pair installed");
                }
                AgentPoll::ComponentStateChange(c) => self.state = c.state,
                AgentPoll::AllocateSocket(_) | AgentPoll::RemoveSocket(_) => {}
            }
        }
    }

    fn transmits(&mut self, now: Instant) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(t) = self.agent.poll_transmit(rice_time(self.t0, now)) {
            out.push((t.transmit.from, t.transmit.to, t.transmit.data.to_vec()));
        }
        out
    }

    fn receive(&mut self, now: Instant, from: SocketAddr, data: Vec<u8>) {
        let mut s = self.agent.mut_stream(self.stream).expect("stream");
        let transmit = stun_proto::agent::Transmit::new(data, TransportType::Udp, from, self.addr);
        let reply = s.handle_incoming_data(1, transmit, rice_time(self.t0, now));
        if let Some(d) = reply.data {
            self.media.push(d.as_ref().to_vec());
        }
        if reply.have_more_data {
            while let Some(r) = s.poll_recv() {
                self.media.push(r.data);
            }
        }
    }

    fn credentials(&self) -> Credentials {
        let c = self
            .agent
            .stream(self.stream)
            .and_then(|s| s.local_credentials())
            .expect("credentials");
        Credentials {
            ufrag: c.ufrag,
            pwd: c.passwd,
        }
    }

    fn candidates(&self) -> Vec<Candidate> {
        let s = self.agent.stream(self.stream).expect("stream");
        s.local_candidates()
            .filter(|c| c.transport_type == TransportType::Udp)
            .map(|c| Candidate {
                foundation: c.foundation.clone(),
                component: c.component_id as u16,
                transport: ice::Transport::Udp,
                priority: c.priority,
                address: c.address,
                kind: match c.candidate_type {
                    CandidateType::Host => CandidateKind::Host,
                    CandidateType::ServerReflexive => CandidateKind::ServerReflexive,
                    CandidateType::PeerReflexive => CandidateKind::PeerReflexive,
                    CandidateType::Relayed => CandidateKind::Relayed,
                },
                related: c.related_address,
                tcp_type: None,
                extensions: Vec::new(),
            })
            .collect()
    }

    fn learn(&mut self, credentials: &Credentials, candidates: &[Candidate]) {
        let mut s = self.agent.mut_stream(self.stream).expect("stream");
        s.set_remote_credentials(RiceCredentials::new(
            credentials.ufrag.clone(),
            credentials.pwd.clone(),
        ));
        for c in candidates {
            let kind = match c.kind {
                CandidateKind::Host => CandidateType::Host,
                CandidateKind::ServerReflexive => CandidateType::ServerReflexive,
                CandidateKind::PeerReflexive => CandidateType::PeerReflexive,
                CandidateKind::Relayed => CandidateType::Relayed,
            };
            let mut b = RiceCandidate::builder(
                usize::from(c.component),
                kind,
                TransportType::Udp,
                &c.foundation,
                c.address,
            )
            .priority(c.priority);
            if let Some(r) = c.related {
                b = b.related_address(r);
            }
            s.add_remote_candidate(b.build());
        }
        s.end_of_remote_candidates();
    }
}

struct Interop {
    t0: Instant,
    now: Instant,
    net: Network,
    ours: IceAgent,
    our_addr: SocketAddr,
    our_events: Vec<IceEvent>,
    our_media: Vec<Vec<u8>>,
    rice: RicePeer,
    signalled: bool,
}

impl Interop {
    fn new(we_control: bool, our_nat: Option<NatKind>) -> Self {
        let t0 = Instant::now();
        let mut net = Network::new(11, t0);
        let link = LinkConditions::with_delay(Duration::from_millis(20));
        net.add_stun_server(sa("198.51.100.1:3478"));
        let our_addr = match our_nat {
            Some(kind) => {
                let nat = net.add_nat(kind, sa("203.0.113.1:0").ip());
                net.set_nat_wan_link(nat, link);
                net.add_host(sa("192.0.2.10:0").ip(), Some(nat), link);
                sa("192.0.2.10:5000")
            }
            None => {
                net.add_host(sa("203.0.113.10:0").ip(), None, link);
                sa("203.0.113.10:5000")
            }
        };
        let rice_addr = sa("203.0.113.20:6000");
        net.add_host(rice_addr.ip(), None, link);
        let mut ours = IceAgent::new(
            IceConfig {
                controlling: we_control,
                seed: Some(4),
                stun_servers: vec![sa("198.51.100.1:3478")],
                ..IceConfig::default()
            },
            t0,
        );
        ours.add_local_host(our_addr).unwrap();
        let rice = RicePeer::new(!we_control, rice_addr, t0);
        Interop {
            t0,
            now: t0,
            net,
            ours,
            our_addr,
            our_events: Vec::new(),
            our_media: Vec::new(),
            rice,
            signalled: false,
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.ours.poll_transmit() {
            self.net.send(t.from, t.to, t.data);
        }
        while let Some(e) = self.ours.poll_event() {
            self.our_events.push(e);
        }
        self.rice.drive(self.now);
        for (from, to, data) in self.rice.transmits(self.now) {
            self.net.send(from, to, data);
        }
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&Interop) -> bool) -> bool {
        for _ in 0..MAX_STEPS {
            self.flush();
            if !self.signalled && self.ours.is_gathering_complete() && self.rice.gathered {
                let (c, cands) = (
                    self.ours.local_credentials().clone(),
                    self.ours.local_candidates(),
                );
                self.rice.learn(&c, &cands);
                self.ours.set_remote_credentials(self.rice.credentials());
                for c in self.rice.candidates() {
                    self.ours.add_remote_candidate(c);
                }
                self.signalled = true;
                self.flush();
            }
            if done(self) {
                return true;
            }
            let next = [
                self.ours.poll_timeout(),
                self.rice.next,
                self.net.next_delivery(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return done(self) };
            if next > self.t0 + limit {
                return done(self);
            }
            self.now = next.max(self.now);
            for d in self.net.advance(self.now) {
                if d.to == self.our_addr {
                    if let Handled::Media { data, .. } =
                        self.ours.handle_packet(d.at, d.to, d.from, &d.data)
                    {
                        self.our_media.push(data);
                    }
                } else if d.to == self.rice.addr {
                    self.rice.receive(d.at, d.from, d.data);
                }
            }
            if self.ours.poll_timeout().is_some_and(|t| t <= self.now) {
                self.ours.handle_timeout(self.now);
            }
        }
        panic!("step limit reached");
    }
}

fn interop(we_control: bool, our_nat: Option<NatKind>) {
    let mut run = Interop::new(we_control, our_nat);
    let ok = run.run_until(Duration::from_secs(30), |r| {
        r.ours.state() == IceState::Completed
            && r.rice.state == ComponentConnectionState::Connected
            && r.rice.selected.is_some()
    });
    assert!(
        ok,
        "ours {:?} ({:?}), rice {:?} {:?}",
        run.ours.state(),
        run.our_events
            .iter()
            .find(|e| matches!(e, IceEvent::Failed { .. })),
        run.rice.state,
        run.rice.selected
    );
    let (local, remote) = run.ours.selected_pair(1).unwrap();
    let (rice_local, rice_remote) = run.rice.selected.unwrap();
    assert_eq!(
        remote.address, rice_local,
        "both sides select the same pair"
    );
    assert_eq!(
        local.address, rice_remote,
        "both sides select the same pair"
    );
    let expected = match our_nat {
        None => CandidateKind::Host,
        Some(NatKind::Symmetric) => CandidateKind::PeerReflexive,
        Some(_) => CandidateKind::ServerReflexive,
    };
    assert_eq!(local.kind, expected, "our side of the selected pair");
    assert_eq!(remote.kind, CandidateKind::Host);
    // Media both ways.
    let t = run
        .ours
        .send_data(run.now, 1, b"\x80\x00from-icephone")
        .unwrap();
    run.net.send(t.from, t.to, t.data);
    let now = run.now;
    let mut s = run.rice.agent.mut_stream(run.rice.stream).unwrap();
    let t = s
        .mut_component(1)
        .unwrap()
        .send(&b"\x80\x00from-rice"[..], rice_time(run.t0, now))
        .expect("rice sends on its selected pair");
    run.net.send(t.from, t.to, t.data.to_vec());
    let got = run.run_until(Duration::from_secs(40), |r| {
        r.our_media.iter().any(|m| m == b"\x80\x00from-rice")
            && r.rice.media.iter().any(|m| m == b"\x80\x00from-icephone")
    });
    assert!(
        got,
        "media: ours got {:?}, rice got {:?}",
        run.our_media, run.rice.media
    );
}

#[test]
fn we_control_rice_is_controlled_public_hosts() {
    interop(true, None);
}

#[test]
fn rice_controls_we_are_controlled_public_hosts() {
    interop(false, None);
}

#[test]
fn we_control_from_behind_a_port_restricted_nat() {
    interop(true, Some(NatKind::PortRestricted));
}

#[test]
fn rice_controls_and_we_sit_behind_a_symmetric_nat() {
    interop(false, Some(NatKind::Symmetric));
}
