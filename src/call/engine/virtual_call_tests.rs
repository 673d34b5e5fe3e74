//! Two `CallCore`s against each other in virtual time: no socket, no user agent, no sleep.
//! The test is their whole world: it carries each side's SIP commands to the other as the
//! user agents would (INVITE → Incoming, 180/200 → Provisional/Answered + ACK, in-dialog
//! offers, BYE → RemoteHangup + HangupDone), delivers every datagram `DELAY` after it was
//! sent, and jumps the clock from one due thing (an arrival, a core's timeout) to the next.
//! A call with ICE and two seconds of media takes milliseconds of wall time.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{CallCore, Input, Output};
use crate::call::net::{Datagram, Inbound};
use crate::call::{CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
use crate::signalling::{OfferMethod, UaCommand, UaEvent};

/// One-way delay of the simulated network (media and signalling alike).
const DELAY: Duration = Duration::from_millis(10);
/// A call not over after this much virtual time is stuck.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(30);

// TEST-NET-1 addresses (RFC 5737): nothing leaves the process.
const CALLER_IP: [u8; 4] = [192, 0, 2, 1];
const CALLEE_IP: [u8; 4] = [192, 0, 2, 2];

fn options(label: &str, ip: [u8; 4]) -> CallOptions {
    CallOptions::new(label, vec![IpAddr::from(ip)], Emitter::new(false, true))
}

/// Bases as the driver would bind them: one port per component on the host address.
fn bases(ip: [u8; 4], first_port: u16, components: u16) -> Vec<(u16, SocketAddr)> {
    (1..=components)
        .map(|c| (c, SocketAddr::from((ip, first_port + c - 1))))
        .collect()
}

/// What one side's user agent would do with a SIP command: the event the other side's
/// user agent reports, and the one (if any) ours reports back.
enum Signal {
    ToPeer(UaEvent),
    ToBoth { peer: UaEvent, us: UaEvent },
    Nothing,
}

struct Side {
    core: Option<CallCore>,
    events: Vec<Event>,
    /// The method of our in-dialog offer waiting for its answer.
    offer_method: Option<OfferMethod>,
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

struct World {
    now: Instant,
    caller: Side,
    callee: Side,
    /// (due, what), in due order (`schedule`).
    in_flight: VecDeque<(Instant, Arrival)>,
    /// The callee's options, used when the INVITE arrives.
    callee_opts: Option<CallOptions>,
    datagrams: u64,
}

impl World {
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
                    let d = Datagram {
                        local: t.to,
                        from: t.from,
                        data: t.data,
                    };
                    self.schedule(now + DELAY, Arrival::Datagram { to: t.to, d });
                }
                Output::Event(e) => self.side(caller).events.push(e),
                Output::Sip(command) => self.signal(caller, command),
            }
        }
    }

    /// The user agents' part: a SIP command of one side becomes events on both.
    fn signal(&mut self, caller: bool, command: UaCommand) {
        let now = self.now;
        let signal = match command {
            UaCommand::Invite { sdp, .. } => {
                // The callee's driver makes its core when the INVITE arrives (`incoming`).
                self.schedule(now + DELAY, Arrival::Invite { sdp });
                Signal::Nothing
            }
            UaCommand::Respond { status, sdp, .. } => match (status, sdp) {
                (200, Some(sdp)) => Signal::ToBoth {
                    peer: UaEvent::Answered {
                        sdp,
                        peer_allows_update: true,
                    },
                    // The caller's user agent ACKs the 200 at once.
                    us: UaEvent::Acked,
                },
                (s, _) if s < 200 => Signal::ToPeer(UaEvent::Provisional { status: s }),
                (s, _) => Signal::ToPeer(UaEvent::Failed {
                    status: s,
                    reason: "rejected".into(),
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
        match signal {
            Signal::ToPeer(event) => self.schedule(now + DELAY, sip(!caller, event)),
            Signal::ToBoth { peer, us } => {
                self.schedule(now + DELAY, sip(!caller, peer));
                // Our side hears back after the round trip (the ACK, the 200 to the BYE).
                self.schedule(now + 2 * DELAY, sip(caller, us));
            }
            Signal::Nothing => {}
        }
    }

    /// What the callee's driver does with an INVITE: a core for its offer, started now.
    fn incoming(&mut self, sdp: &str) {
        let opts = self.callee_opts.take().expect("one INVITE");
        let offer = sdp::parse(sdp).expect("the caller's offer parses");
        let components = CallCore::callee_components(&opts, &offer);
        let core = CallCore::callee(
            opts,
            bases(CALLEE_IP, 50000, components),
            offer,
            true,
            self.now,
            self.now,
        )
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
                    let to_caller = to.ip() == IpAddr::from(CALLER_IP);
                    self.feed(to_caller, Input::Net(Inbound::Datagram(d)));
                }
                Arrival::Sip { to_caller, event } => self.feed(to_caller, Input::Sip(event)),
                Arrival::Invite { sdp } => self.incoming(&sdp),
            }
        }
    }

    fn done(&self) -> bool {
        [&self.caller, &self.callee]
            .into_iter()
            .all(|s| s.core.as_ref().is_some_and(|c| c.is_done()))
    }
}

fn sip(to_caller: bool, event: UaEvent) -> Arrival {
    Arrival::Sip { to_caller, event }
}

fn side() -> Side {
    Side {
        core: None,
        events: Vec::new(),
        offer_method: None,
    }
}

fn selected(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Ice { state, component: Some(1), .. } if state == "selected"))
}

/// A finished call in virtual time: each side's outcome and events, when it ended, and the
/// datagrams that crossed the network.
struct Run {
    caller: CallOutcome,
    callee: CallOutcome,
    caller_events: Vec<Event>,
    callee_events: Vec<Event>,
    virtual_time: Duration,
    datagrams: u64,
}

/// Runs a call from a caller with `caller_opts` to a callee with `callee_opts` until both
/// cores are done, jumping the clock from one due thing to the next.
fn run(caller_opts: CallOptions, callee_opts: CallOptions) -> Run {
    let t0 = Instant::now();
    let components = CallCore::caller_components(&caller_opts);
    let caller = CallCore::caller(
        caller_opts,
        bases(CALLER_IP, 40000, components),
        "sip:callee@192.0.2.2",
        t0,
    )
    .expect("the caller's core");
    let mut world = World {
        now: t0,
        caller: Side {
            core: Some(caller),
            ..side()
        },
        callee: side(),
        in_flight: VecDeque::new(),
        callee_opts: Some(callee_opts),
        datagrams: 0,
    };
    world.drain(true);
    while !world.done() {
        let next = world
            .next_due()
            .expect("a call in progress always has something due");
        assert!(
            next - t0 < VIRTUAL_LIMIT,
            "stuck: no end after {VIRTUAL_LIMIT:?}"
        );
        world.now = world.now.max(next);
        world.step();
    }
    let end = world.now;
    let mut outcomes = Vec::new();
    for caller in [true, false] {
        let side = world.side(caller);
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
        caller_events: std::mem::take(&mut world.caller.events),
        callee_events: std::mem::take(&mut world.callee.events),
        virtual_time: end - t0,
        datagrams: world.datagrams,
    }
}

/// The caller hangs up after `media` of media.
fn caller_for(media: Duration) -> CallOptions {
    let mut opts = options("caller", CALLER_IP);
    opts.duration = Some(media);
    opts
}

fn assert_rtp_both_ways(name: &str, outcome: &CallOutcome, at_least: u64) {
    assert_eq!(outcome.exit, crate::exit::OK, "{name}: {}", outcome.reason);
    assert!(
        outcome.media.rtp_sent >= at_least && outcome.media.rtp_received >= at_least,
        "{name}: RTP both ways, sent {} received {}",
        outcome.media.rtp_sent,
        outcome.media.rtp_received
    );
}

#[test]
fn two_cores_set_up_a_call_select_a_pair_and_carry_rtp_both_ways_in_virtual_time() {
    let wall = Instant::now();
    let run = run(
        caller_for(Duration::from_secs(2)),
        options("callee", CALLEE_IP),
    );
    for (name, outcome, events) in [
        ("caller", &run.caller, &run.caller_events),
        ("callee", &run.callee, &run.callee_events),
    ] {
        assert_rtp_both_ways(name, outcome, 50);
        assert!(outcome.ice_used, "{name} used ICE");
        assert!(outcome.selected.is_some(), "{name} selected a pair");
        assert!(selected(events), "{name} reported its selected pair");
        // RFC 8445 §12.1: no media before the selection.
        assert_eq!(outcome.media_sent_before_selection, 0, "{name}");
    }
    assert_eq!(run.caller.reason, "duration reached");
    assert_eq!(run.callee.reason, "remote hung up");
    assert!(
        run.caller.setup_ms.is_some_and(|ms| ms < 200),
        "{:?}",
        run.caller.setup_ms
    );
    // Two seconds of media and the setup around it, in virtual time ...
    assert!(run.virtual_time >= Duration::from_secs(2));
    // ... and a small part of that in wall time (generous: debug build, shared machine).
    let took = wall.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?} of wall time");
    assert!(run.datagrams > 200, "{} datagrams", run.datagrams);
}

#[test]
fn without_ice_plain_rtp_flows_both_ways_in_virtual_time() {
    let mut caller = caller_for(Duration::from_secs(1));
    caller.ice = false;
    let mut callee = options("callee", CALLEE_IP);
    callee.ice = false;
    let run = run(caller, callee);
    for (name, outcome) in [("caller", &run.caller), ("callee", &run.callee)] {
        assert_rtp_both_ways(name, outcome, 25);
        assert!(!outcome.ice_used, "{name} did not use ICE");
        assert_eq!(outcome.media.rtp_dropped_unknown_source, 0, "{name}");
    }
}

#[test]
fn hold_and_resume_by_reinvite_in_virtual_time() {
    // RFC 3264 §8.4: the caller holds (a=sendonly) after 1 s, resumes 1 s later, and hangs
    // up after 4 s of media.
    let mut caller = caller_for(Duration::from_secs(4));
    caller.hold_after = Some(Duration::from_secs(1));
    caller.hold_for = Duration::from_secs(1);
    let run = run(caller, options("callee", CALLEE_IP));
    assert_rtp_both_ways("caller", &run.caller, 100);
    assert_rtp_both_ways("callee", &run.callee, 100);
    assert_eq!(run.caller.hold_cycles, 1, "the caller's hold was answered");
    assert_eq!(run.callee.hold_cycles, 1, "the callee was held once");
    // While held, the callee sent nothing: about a second less audio than the caller.
    assert!(
        run.callee.media.rtp_sent + 30 < run.caller.media.rtp_sent,
        "callee sent {}, caller sent {}",
        run.callee.media.rtp_sent,
        run.caller.media.rtp_sent
    );
}
