//! A virtual-time world for call tests: two `CallCore`s on a simulated network, no socket,
//! no user agent, no sleep. The world carries each side's SIP commands to the other as the
//! user agents would (INVITE → Incoming, 180/200 → Provisional/Answered + ACK, in-dialog
//! offers, BYE → RemoteHangup + HangupDone), delivers every datagram after its direction's
//! delay (unless lost or sent to a blocked address), and jumps the clock from one due thing
//! (an arrival, a core's timeout) to the next. Seconds of media take milliseconds.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{CallCore, Input, Output};
use crate::call::net::{Datagram, Inbound};
use crate::call::{CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
use crate::signalling::{OfferMethod, UaCommand, UaEvent};

/// Which side, for `World::events`, `World::input`, `Run::events`.
pub const CALLER: bool = true;
pub const CALLEE: bool = false;

/// A call not over after this much virtual time is stuck.
pub const VIRTUAL_LIMIT: Duration = Duration::from_secs(60);

// TEST-NET-1 addresses (RFC 5737): nothing leaves the process.
pub const CALLER_IP: [u8; 4] = [192, 0, 2, 1];
pub const CALLEE_IP: [u8; 4] = [192, 0, 2, 2];
/// A second host address (the caller's, in the updated-offer tests).
pub const CALLER_IP2: [u8; 4] = [192, 0, 2, 3];

pub fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

pub fn options(label: &str, ip: [u8; 4]) -> CallOptions {
    CallOptions::new(label, vec![IpAddr::from(ip)], Emitter::new(false, true))
}

/// The caller (hanging up after `media` of media) and the callee of a default call.
pub fn pair(media: Duration) -> (CallOptions, CallOptions) {
    let mut caller = options("caller", CALLER_IP);
    caller.duration = Some(media);
    (caller, options("callee", CALLEE_IP))
}

/// Bases as the driver binds them: one port per host address and component.
fn bases(ips: &[IpAddr], first_port: u16, components: u16) -> Vec<(u16, SocketAddr)> {
    let mut port = first_port;
    let mut out = Vec::new();
    for ip in ips {
        for c in 1..=components {
            out.push((c, SocketAddr::new(*ip, port)));
            port += 1;
        }
    }
    out
}

/// The simulated network and user agents.
pub struct Net {
    /// One-way delay of what the caller sends (media and signalling).
    pub caller_to_callee: Duration,
    /// One-way delay of what the callee sends.
    pub callee_to_caller: Duration,
    /// Probability that a datagram is lost (drawn from a seeded RNG).
    pub loss: f64,
    pub seed: u64,
    /// Whether the callee's user agent allows UPDATE (its Allow header).
    pub callee_allows_update: bool,
    /// SIP commands the network loses (a BYE through a lossy relay): the peer hears nothing
    /// and the sender no answer.
    pub lose_sip: fn(&UaCommand) -> bool,
    /// Changes a datagram on the wire (`true`: sent by the caller), e.g. to forge SRTP.
    pub tamper: fn(bool, &mut [u8]),
    /// Rewrites the SDP of the callee's 200 on its way (a peer whose answer we must refuse).
    pub edit_answer: fn(String) -> String,
    /// Rewrites the SDP of the caller's INVITE on its way.
    pub edit_offer: fn(String) -> String,
}

impl Default for Net {
    fn default() -> Net {
        Net {
            caller_to_callee: Duration::from_millis(10),
            callee_to_caller: Duration::from_millis(10),
            loss: 0.0,
            seed: 1,
            callee_allows_update: true,
            lose_sip: |_| false,
            tamper: |_, _| {},
            edit_answer: |sdp| sdp,
            edit_offer: |sdp| sdp,
        }
    }
}

/// What one side's user agent would do with a SIP command: the event the other side's
/// user agent reports, and the one (if any) ours reports back.
enum Signal {
    ToPeer(UaEvent),
    ToBoth { peer: UaEvent, us: UaEvent },
    Nothing,
}

#[derive(Default)]
struct Side {
    core: Option<CallCore>,
    events: Vec<Event>,
    /// The method of our in-dialog offer waiting for its answer.
    offer_method: Option<OfferMethod>,
    bases: Vec<SocketAddr>,
    /// Inbound datagrams to these addresses are dropped (`CallOptions::blocked_ips`).
    blocked: Vec<IpAddr>,
}

/// Something due at a virtual time: a datagram arriving, or a SIP event.
enum Arrival {
    /// The INVITE's offer reaches the callee.
    Invite {
        sdp: String,
    },
    Datagram {
        to: SocketAddr,
        d: Datagram,
    },
    Sip {
        to_caller: bool,
        event: UaEvent,
    },
}

/// Two cores, the network between them and the virtual clock.
pub struct World {
    pub now: Instant,
    pub t0: Instant,
    net: Net,
    rng: u64,
    caller: Side,
    callee: Side,
    /// (due, what), in due order (`schedule`).
    in_flight: VecDeque<(Instant, Arrival)>,
    /// The callee's options, used when the INVITE arrives.
    callee_opts: Option<CallOptions>,
    pub datagrams: u64,
    /// Every RTP, RTCP and DTLS datagram as it went on the wire (after `tamper`), with whether the
    /// caller sent it: what a capture would show.
    pub wire: Vec<(bool, Vec<u8>)>,
}

/// A finished call in virtual time: each side's outcome and events, when it ended, and the
/// datagrams that were sent.
pub struct Run {
    pub caller: CallOutcome,
    pub callee: CallOutcome,
    pub caller_events: Vec<Event>,
    pub callee_events: Vec<Event>,
    pub virtual_time: Duration,
    pub datagrams: u64,
    /// RTP, RTCP and DTLS datagrams as they went on the wire (`World::wire`).
    pub wire: Vec<(bool, Vec<u8>)>,
}

impl Run {
    pub fn events(&self, caller: bool) -> &[Event] {
        if caller {
            &self.caller_events
        } else {
            &self.callee_events
        }
    }
}

/// Runs a call over a default network until both cores are done.
pub fn run(caller: CallOptions, callee: CallOptions) -> Run {
    World::new(caller, callee, Net::default()).finish()
}

impl World {
    /// A caller with `caller_opts` starting a call to a callee with `callee_opts` over `net`.
    pub fn new(caller_opts: CallOptions, callee_opts: CallOptions, net: Net) -> World {
        let t0 = Instant::now();
        let components = CallCore::caller_components(&caller_opts);
        let caller_bases = bases(&caller_opts.host_ips, 40000, components);
        let caller = Side {
            bases: caller_bases.iter().map(|(_, a)| *a).collect(),
            blocked: caller_opts.blocked_ips.clone(),
            ..Side::default()
        };
        let callee = Side {
            blocked: callee_opts.blocked_ips.clone(),
            ..Side::default()
        };
        let core = CallCore::caller(caller_opts, caller_bases, "sip:callee@192.0.2.2", t0)
            .expect("the caller's core");
        let mut world = World {
            now: t0,
            t0,
            rng: net.seed.max(1),
            net,
            caller: Side {
                core: Some(core),
                ..caller
            },
            callee,
            in_flight: VecDeque::new(),
            callee_opts: Some(callee_opts),
            datagrams: 0,
            wire: Vec::new(),
        };
        world.drain(true);
        world
    }

    /// The events `caller` (or the callee) reported so far.
    pub fn events(&self, caller: bool) -> &[Event] {
        if caller {
            &self.caller.events
        } else {
            &self.callee.events
        }
    }

    /// Hands `input` to one side's core now (a command, a Ctrl-C).
    pub fn input(&mut self, caller: bool, input: Input) {
        self.feed(caller, input);
    }

    /// Runs until `until` holds (true) or nothing is due within `limit` (false).
    pub fn run_until(&mut self, mut until: impl FnMut(&World) -> bool, limit: Duration) -> bool {
        let end = self.now + limit;
        loop {
            if until(self) {
                return true;
            }
            match self.next_due() {
                Some(next) if next <= end => {
                    self.now = self.now.max(next);
                    self.step();
                }
                _ => return false,
            }
        }
    }

    /// Lets `d` of virtual time pass.
    pub fn advance(&mut self, d: Duration) {
        let at = self.now + d;
        self.run_until(|w| w.done(), d);
        self.now = self.now.max(at);
    }

    /// Both cores are done.
    pub fn done(&self) -> bool {
        [&self.caller, &self.callee]
            .into_iter()
            .all(|s| s.core.as_ref().is_some_and(|c| c.is_done()))
    }

    /// Runs the call to its end, closes both cores and takes their outcomes.
    pub fn finish(mut self) -> Run {
        assert!(
            self.run_until(|w| w.done(), VIRTUAL_LIMIT),
            "stuck: no end after {VIRTUAL_LIMIT:?} more"
        );
        let end = self.now;
        let mut outcomes = Vec::new();
        for caller in [true, false] {
            let side = self.side(caller);
            let mut core = side.core.take().expect("both sides had a core");
            core.close(end);
            while let Some(output) = core.poll_output() {
                if let Output::Event(e) = output {
                    side.events.push(e);
                }
            }
            outcomes.push(core.into_outcome());
        }
        let callee = outcomes.pop().expect("two outcomes");
        let caller = outcomes.pop().expect("two outcomes");
        Run {
            caller,
            callee,
            caller_events: std::mem::take(&mut self.caller.events),
            callee_events: std::mem::take(&mut self.callee.events),
            virtual_time: end - self.t0,
            datagrams: self.datagrams,
            wire: std::mem::take(&mut self.wire),
        }
    }

    /// Adds an arrival after those due at or before `at`: the same instant keeps send order.
    fn schedule(&mut self, at: Instant, arrival: Arrival) {
        let i = self.in_flight.partition_point(|(t, _)| *t <= at);
        self.in_flight.insert(i, (at, arrival));
    }

    fn side(&mut self, caller: bool) -> &mut Side {
        if caller {
            &mut self.caller
        } else {
            &mut self.callee
        }
    }

    fn delay(&self, from_caller: bool) -> Duration {
        if from_caller {
            self.net.caller_to_callee
        } else {
            self.net.callee_to_caller
        }
    }

    /// xorshift64: a seeded draw in [0, 1).
    fn draw(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Moves everything `caller`'s (or the callee's) core queued into the world.
    fn drain(&mut self, caller: bool) {
        let now = self.now;
        loop {
            let Some(output) = self
                .side(caller)
                .core
                .as_mut()
                .and_then(|c| c.poll_output())
            else {
                return;
            };
            match output {
                Output::Transmit(t) => {
                    self.datagrams += 1;
                    if self.net.loss > 0.0 && self.draw() < self.net.loss {
                        continue;
                    }
                    let mut data = t.data;
                    (self.net.tamper)(caller, &mut data);
                    if matches!(
                        ice::agent::classify(&data),
                        ice::agent::PacketKind::Rtp
                            | ice::agent::PacketKind::Rtcp
                            | ice::agent::PacketKind::Dtls
                    ) {
                        self.wire.push((caller, data.clone()));
                    }
                    let d = Datagram {
                        local: t.to,
                        from: t.from,
                        data,
                    };
                    let at = now + self.delay(caller);
                    self.schedule(at, Arrival::Datagram { to: t.to, d });
                }
                Output::Event(e) => self.side(caller).events.push(e),
                Output::Sip(command) => self.signal(caller, command),
            }
        }
    }

    /// The user agents' part: a SIP command of one side becomes events on both.
    fn signal(&mut self, caller: bool, command: UaCommand) {
        if (self.net.lose_sip)(&command) {
            return;
        }
        let now = self.now;
        let signal = match command {
            UaCommand::Invite { sdp, .. } => {
                // The callee's driver makes its core when the INVITE arrives (`incoming`).
                let at = now + self.delay(caller);
                let sdp = (self.net.edit_offer)(sdp);
                self.schedule(at, Arrival::Invite { sdp });
                Signal::Nothing
            }
            UaCommand::Respond {
                status,
                sdp,
                reason,
            } => match (status, sdp) {
                (200, Some(sdp)) => Signal::ToBoth {
                    peer: UaEvent::Answered {
                        sdp: (self.net.edit_answer)(sdp),
                        peer_allows_update: self.net.callee_allows_update,
                    },
                    // The caller's user agent ACKs the 200 at once.
                    us: UaEvent::Acked,
                },
                (s, _) if s < 200 => Signal::ToPeer(UaEvent::Provisional { status: s }),
                // The reason phrase travels as the user agent would report it.
                (s, _) => Signal::ToPeer(UaEvent::Failed {
                    status: s,
                    reason,
                    local: false,
                }),
            },
            UaCommand::Offer { method, sdp } => {
                self.side(caller).offer_method = Some(method);
                Signal::ToPeer(UaEvent::OfferReceived { method, sdp })
            }
            UaCommand::AnswerOffer { status, sdp, .. } => {
                let method = self
                    .side(!caller)
                    .offer_method
                    .take()
                    .unwrap_or(OfferMethod::Invite);
                Signal::ToPeer(UaEvent::OfferAnswered {
                    method,
                    status,
                    sdp,
                })
            }
            UaCommand::Bye => Signal::ToBoth {
                peer: UaEvent::RemoteHangup { cancelled: false },
                us: UaEvent::HangupDone,
            },
            UaCommand::Cancel => Signal::ToBoth {
                peer: UaEvent::RemoteHangup { cancelled: true },
                us: UaEvent::HangupDone,
            },
            UaCommand::Register { .. } => Signal::Nothing,
        };
        let there = now + self.delay(caller);
        match signal {
            Signal::ToPeer(event) => self.schedule(there, sip(!caller, event)),
            Signal::ToBoth { peer, us } => {
                self.schedule(there, sip(!caller, peer));
                // Our side hears back after the round trip (the ACK, the 200 to the BYE).
                let back = there + self.delay(!caller);
                self.schedule(back, sip(caller, us));
            }
            Signal::Nothing => {}
        }
    }

    /// What the callee's driver does with an INVITE: a core for its offer, started now.
    fn incoming(&mut self, sdp: &str) {
        let opts = self.callee_opts.take().expect("one INVITE");
        let offer = sdp::parse(sdp).expect("the caller's offer parses");
        let components = CallCore::callee_components(&opts, &offer);
        let callee_bases = bases(&opts.host_ips, 50000, components);
        self.callee.bases = callee_bases.iter().map(|(_, a)| *a).collect();
        let core = CallCore::callee(opts, callee_bases, offer, true, self.now, self.now)
            .expect("the callee's core");
        self.callee.core = Some(core);
        self.drain(false);
    }

    fn next_due(&self) -> Option<Instant> {
        let timeouts = [&self.caller, &self.callee]
            .into_iter()
            .filter_map(|s| s.core.as_ref().filter(|c| !c.is_done()))
            .filter_map(|c| c.poll_timeout());
        let arrival = self.in_flight.front().map(|(t, _)| *t);
        timeouts.chain(arrival).min()
    }

    fn feed(&mut self, caller: bool, input: Input) {
        let now = self.now;
        if let Some(core) = self.side(caller).core.as_mut().filter(|c| !c.is_done()) {
            core.handle_input(now, input);
        }
        self.drain(caller);
    }

    fn step(&mut self) {
        // A core's timeout and the arrivals of the same instant, in that order.
        for caller in [true, false] {
            let due = self.side(caller).core.as_ref().filter(|c| !c.is_done());
            if due
                .and_then(|c| c.poll_timeout())
                .is_some_and(|t| t <= self.now)
            {
                self.feed(caller, Input::Timeout);
            }
        }
        while self.in_flight.front().is_some_and(|(t, _)| *t <= self.now) {
            let Some((_, arrival)) = self.in_flight.pop_front() else {
                break;
            };
            match arrival {
                Arrival::Datagram { to, d } => {
                    // A socket (a base) of one side, and not firewalled; else it is lost.
                    let Some(to_caller) = [true, false]
                        .into_iter()
                        .find(|c| self.side(*c).bases.contains(&to))
                    else {
                        continue;
                    };
                    if self.side(to_caller).blocked.contains(&to.ip()) {
                        continue;
                    }
                    self.feed(to_caller, Input::Net(Inbound::Datagram(d)));
                }
                Arrival::Sip { to_caller, event } => self.feed(to_caller, Input::Sip(event)),
                Arrival::Invite { sdp } => self.incoming(&sdp),
            }
        }
    }
}

fn sip(to_caller: bool, event: UaEvent) -> Arrival {
    Arrival::Sip { to_caller, event }
}
