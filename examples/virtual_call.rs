//! A SIP call with ICE, driven by the sans-IO cores alone, in virtual time.
//!
//! ```text
//! cargo run --example virtual_call
//! ```
//!
//! Alice and Bob each have a SIP endpoint (`sip::endpoint::Endpoint`), an SDP session
//! (`sdp::offer_answer::SdpSession`) and, once the call starts, an ICE agent
//! (`ice::IceAgent`). None of them owns a socket or reads a clock: they are fed datagrams and
//! the time, and polled for datagrams to send, events and their next timer. So this file is
//! their whole world: a simulated network that delivers every datagram 20 ms after it was
//! sent, and a clock that jumps from one due thing (an arrival, a timer) to the next. Nothing
//! sleeps; the call takes about 0.3 s of virtual time and milliseconds of wall time.
//!
//! The call: INVITE with an SDP offer carrying ICE attributes (RFC 8839) → 180 → 200 with the
//! answer → ACK; both agents check the pair the offer and answer gave them (the offerer is
//! controlling, RFC 8445 §6.1.1) and select it; each side sends five 20 ms RTP packets over
//! the selected pair (RFC 8445 §12.1: not before); Alice hangs up, BYE → 200.
//!
//! Every datagram is printed as a ladder line at the virtual time it was sent, and what each
//! side's core reported (established, ICE selected, call over) as a line of its own.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ice::agent::{classify, Handled, IceAgent, IceConfig, IceEvent, PacketKind};
use ice::Candidate;
use sdp::offer_answer::{IceSettings, LocalIce, LocalStream, RemoteIce, SdpSession, StreamResult};
use sdp::SessionDescription;
use sip::endpoint::{Body, DialogId, Endpoint, EndpointConfig, SipEvent, TerminationReason};
use sip::message::{parse_datagram, Message, Method};

/// One-way delay of the simulated network.
const DELAY: Duration = Duration::from_millis(20);
/// RTP packets each side sends once ICE has selected a pair.
const RTP_PACKETS: u16 = 5;
/// 20 ms of audio per packet (the `a=ptime:20` the offer carries).
const PTIME: Duration = Duration::from_millis(20);
/// A call that is not over after this much virtual time is stuck: stop with an error.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(10);

// TEST-NET-1 addresses (RFC 5737): nothing is sent anywhere, so any addresses do, and these
// cannot be mistaken for real hosts.
const ALICE_SIP: &str = "192.0.2.1:5060";
const ALICE_MEDIA: &str = "192.0.2.1:40000";
const BOB_SIP: &str = "192.0.2.2:5060";
const BOB_MEDIA: &str = "192.0.2.2:50000";
const BOB_URI: &str = "sip:bob@192.0.2.2:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("the constants above are socket addresses")
}

// ----- the simulated network and the ladder --------------------------------------------------

/// A datagram in flight.
struct Datagram {
    arrives: Instant,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// Every datagram takes the same `DELAY` and the clock never goes back, so datagrams arrive in
/// the order they were sent: a FIFO is the whole network.
struct Net {
    in_flight: VecDeque<Datagram>,
    /// Status of the response to the BYE, as seen on the wire.
    bye_status: Option<u16>,
}

/// What happened, one line per datagram or event, stamped with virtual time since `t0`.
struct Ladder {
    t0: Instant,
    lines: Vec<String>,
}

impl Ladder {
    fn note(&mut self, now: Instant, text: impl AsRef<str>) {
        let t = now.saturating_duration_since(self.t0).as_secs_f64();
        self.lines.push(format!("t={t:.3} {}", text.as_ref()));
    }
}

fn who(a: SocketAddr) -> &'static str {
    if a.ip() == addr(ALICE_SIP).ip() {
        "alice"
    } else if a.ip() == addr(BOB_SIP).ip() {
        "bob"
    } else {
        "?"
    }
}

impl Net {
    fn send(
        &mut self,
        ladder: &mut Ladder,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) {
        let label = self.label(to, &bytes);
        ladder.note(now, format!("{}→{} {label}", who(from), who(to)));
        self.in_flight.push_back(Datagram {
            arrives: now + DELAY,
            from,
            to,
            bytes,
        });
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|d| d.arrives)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        if self.next_arrival()? <= now {
            self.in_flight.pop_front()
        } else {
            None
        }
    }

    /// A short name for a datagram, read with the crates' own parsers.
    fn label(&mut self, to: SocketAddr, bytes: &[u8]) -> String {
        if to == addr(ALICE_SIP) || to == addr(BOB_SIP) {
            return match parse_datagram(bytes) {
                Ok(Message::Request(r)) => format!("{}", r.method),
                Ok(Message::Response(r)) => {
                    let method = r.headers.cseq().map(|c| c.method);
                    if matches!(method, Ok(Method::Bye)) {
                        self.bye_status = Some(r.status);
                    }
                    match method {
                        Ok(m) => format!("{} {} ({m})", r.status, r.reason),
                        Err(_) => format!("{} {}", r.status, r.reason),
                    }
                }
                Err(e) => format!("unparsable SIP ({e})"),
            };
        }
        match classify(bytes) {
            PacketKind::Stun => match ice::stun::Message::decode(bytes) {
                Ok(m) => {
                    let class = match m.class {
                        ice::stun::Class::Request if m.use_candidate() => "request, USE-CANDIDATE",
                        ice::stun::Class::Request => "request",
                        ice::stun::Class::Success => "success response",
                        ice::stun::Class::Error => "error response",
                        _ => "indication",
                    };
                    format!("STUN {:?} {class}", m.method)
                }
                Err(e) => format!("malformed STUN ({e})"),
            },
            PacketKind::Rtp => {
                let seq = bytes
                    .get(2..4)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                format!("RTP seq={seq} ({} bytes)", bytes.len())
            }
            other => format!("{other:?} ({} bytes)", bytes.len()),
        }
    }
}

// ----- one side: SIP endpoint, SDP session, ICE agent, and the script of its user ------------

struct Party {
    name: &'static str,
    sip: Endpoint,
    sip_addr: SocketAddr,
    media_addr: SocketAddr,
    sdp: SdpSession,
    seed: u64,
    ice: Option<IceAgent>,
    /// Our offer, which the answer is read against (RFC 3264 §7).
    offer: Option<SessionDescription>,
    dialog: Option<DialogId>,
    /// The payload type offer/answer agreed on, for our RTP.
    payload_type: u8,
    established: Option<Instant>,
    selected: Option<(Candidate, Candidate)>,
    rtp_sent: u16,
    next_rtp: Option<Instant>,
    rtp_received: usize,
    bye_sent: bool,
    ended: Option<TerminationReason>,
}

impl Party {
    fn new(name: &'static str, sip_addr: &str, media_addr: &str, seed: u64) -> Self {
        let sip_addr = addr(sip_addr);
        let mut config = EndpointConfig::new(format!("sip:{name}@{}", sip_addr.ip()));
        config.udp_local = Some(sip_addr);
        Party {
            name,
            // Seeded: tags, branches and ICE credentials repeat from run to run, so does the
            // ladder.
            sip: Endpoint::with_seed(config, seed),
            sip_addr,
            media_addr: addr(media_addr),
            sdp: SdpSession::new(sip_addr.ip(), seed, IceSettings::default()),
            seed,
            ice: None,
            offer: None,
            dialog: None,
            payload_type: 0,
            established: None,
            selected: None,
            rtp_sent: 0,
            next_rtp: None,
            rtp_received: 0,
            bye_sent: false,
            ended: None,
        }
    }

    /// An agent with a host candidate on our media address; its credentials and candidates
    /// go into our SDP. RFC 8445 §6.1.1: the offerer of a full-full session is controlling.
    fn start_ice(&mut self, now: Instant, controlling: bool) -> Result<LocalStream> {
        let config = IceConfig {
            controlling,
            seed: Some(self.seed),
            ..IceConfig::default()
        };
        let mut agent = IceAgent::new(config, now);
        agent
            .add_local_host(self.media_addr)
            .with_context(|| format!("{}: host candidate {}", self.name, self.media_addr))?;
        // No STUN or TURN server: gathering is complete after the first timeout.
        agent.handle_timeout(now);
        let ice = LocalIce {
            credentials: agent.local_credentials().clone(),
            candidates: agent.local_candidates(),
            selected: None,
        };
        self.ice = Some(agent);
        let mut stream = LocalStream::audio(self.media_addr, Some(ice));
        // RTP and RTCP on one port (RFC 5761): one ICE component.
        stream.rtcp_mux = true;
        Ok(stream)
    }

    /// What offer/answer agreed on for our one stream, handed to the agent.
    fn apply(&mut self, now: Instant, streams: &[StreamResult]) -> Result<()> {
        let stream = streams
            .first()
            .and_then(StreamResult::active)
            .ok_or_else(|| anyhow!("{}: the audio stream was rejected", self.name))?;
        self.payload_type = stream
            .formats
            .first()
            .map(|f| f.payload_type)
            .ok_or_else(|| anyhow!("{}: no common codec", self.name))?;
        let RemoteIce::Ice(data) = &stream.ice else {
            bail!("{}: the peer's SDP has no usable ICE attributes", self.name);
        };
        let agent = self
            .ice
            .as_mut()
            .ok_or_else(|| anyhow!("{}: offer/answer before ICE started", self.name))?;
        agent.set_remote_lite(data.lite);
        agent.set_remote_credentials(data.credentials.clone());
        for c in &data.candidates {
            agent.add_remote_candidate(c.clone());
        }
        agent.handle_timeout(now);
        Ok(())
    }

    /// Alice dials: an offer with her ICE data, in an INVITE.
    fn call(&mut self, now: Instant, target: &str) -> Result<()> {
        let stream = self.start_ice(now, true)?;
        let offer = self
            .sdp
            .create_offer(&[stream])
            .context("creating the offer")?;
        let body = Body::new("application/sdp", offer.to_string());
        self.offer = Some(offer);
        self.dialog = Some(self.sip.invite(now, target, Some(body))?);
        Ok(())
    }

    fn on_sip_event(&mut self, now: Instant, ladder: &mut Ladder, event: SipEvent) -> Result<()> {
        match event {
            SipEvent::IncomingCall {
                incoming,
                dialog,
                body,
                ..
            } => {
                // Bob: ring, answer with his ICE data, start checking.
                self.dialog = Some(dialog);
                self.sip.respond(now, incoming, 180, None)?;
                let body = body.ok_or_else(|| anyhow!("bob: an INVITE without an offer"))?;
                let text =
                    std::str::from_utf8(&body.bytes).context("bob: the offer is not UTF-8")?;
                let offer = sdp::parse(text).context("bob: parsing the offer")?;
                let stream = self.start_ice(now, false)?;
                let answer = self
                    .sdp
                    .create_answer(&offer, &[stream])
                    .context("bob: answering the offer")?;
                self.apply(now, &answer.streams)?;
                let body = Body::new("application/sdp", answer.sdp.to_string());
                self.sip.respond(now, incoming, 200, Some(body))?;
            }
            SipEvent::CallAnswered { body, .. } => {
                // Alice: the endpoint has sent the ACK; the answer goes to her agent.
                let body = body.ok_or_else(|| anyhow!("alice: a 200 without an answer"))?;
                let text = std::str::from_utf8(&body.bytes).context("alice: answer not UTF-8")?;
                let answer = sdp::parse(text).context("alice: parsing the answer")?;
                let offer = self
                    .offer
                    .as_ref()
                    .ok_or_else(|| anyhow!("alice: an answer without an offer"))?;
                let (streams, _warnings) = self
                    .sdp
                    .process_answer(offer, &answer)
                    .context("alice: reading the answer")?;
                self.apply(now, &streams)?;
                self.established = Some(now);
                ladder.note(now, format!("{} call established", self.name));
            }
            SipEvent::AckReceived { .. } => {
                self.established = Some(now);
                ladder.note(now, format!("{} call established", self.name));
            }
            SipEvent::DialogTerminated { reason, .. } => {
                ladder.note(now, format!("{} call over: {reason:?}", self.name));
                if let Some(agent) = self.ice.as_mut() {
                    agent.close(now);
                }
                self.next_rtp = None;
                self.ended = Some(reason);
            }
            // 180 (CallProgress), ByeReceived: the ladder already shows them.
            _ => {}
        }
        Ok(())
    }

    fn on_ice_event(&mut self, now: Instant, ladder: &mut Ladder, event: IceEvent) -> Result<()> {
        match event {
            IceEvent::Selected { local, remote, .. } => {
                ladder.note(
                    now,
                    format!(
                        "{} ICE selected {} {} → {} {}",
                        self.name, local.kind, local.address, remote.kind, remote.address
                    ),
                );
                self.selected = Some((local, remote));
            }
            IceEvent::Failed { reasons } => {
                let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                bail!("{}: ICE failed: {}", self.name, why.join("; "));
            }
            _ => {}
        }
        Ok(())
    }

    /// Drains everything the cores have to say, until they have nothing more.
    fn pump(&mut self, now: Instant, net: &mut Net, ladder: &mut Ladder) -> Result<()> {
        loop {
            let mut progressed = false;
            // Events first: reacting to them queues datagrams (a 180 and a 200 for an INVITE),
            // which then leave in the order the cores queued them.
            while let Some(event) = self.sip.poll_event() {
                self.on_sip_event(now, ladder, event)?;
                progressed = true;
            }
            let events: Vec<IceEvent> = match self.ice.as_mut() {
                Some(agent) => std::iter::from_fn(|| agent.poll_event()).collect(),
                None => Vec::new(),
            };
            for event in events {
                self.on_ice_event(now, ladder, event)?;
                progressed = true;
            }
            while let Some(t) = self.sip.poll_transmit() {
                if t.transport != sip::endpoint::TransportKind::Udp {
                    bail!("{}: the simulated network carries UDP only", self.name);
                }
                net.send(
                    ladder,
                    now,
                    t.local.unwrap_or(self.sip_addr),
                    t.dest,
                    t.bytes,
                );
                progressed = true;
            }
            if let Some(agent) = self.ice.as_mut() {
                while let Some(t) = agent.poll_transmit() {
                    net.send(ladder, now, t.from, t.to, t.data);
                    progressed = true;
                }
            }
            // Media starts once the call is up and ICE has a pair for it (RFC 8445 §12.1).
            if self.established.is_some()
                && self.selected.is_some()
                && self.ended.is_none()
                && self.rtp_sent == 0
                && self.next_rtp.is_none()
            {
                self.next_rtp = Some(now);
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// When something of ours is due next.
    fn poll_timeout(&self) -> Option<Instant> {
        let ice = self.ice.as_ref().and_then(IceAgent::poll_timeout);
        [self.sip.poll_timeout(), ice, self.next_rtp]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant, net: &mut Net, ladder: &mut Ladder) -> Result<()> {
        if self.sip.poll_timeout().is_some_and(|t| t <= now) {
            self.sip.handle_timeout(now);
        }
        if let Some(agent) = self.ice.as_mut() {
            if agent.poll_timeout().is_some_and(|t| t <= now) {
                agent.handle_timeout(now);
            }
        }
        if self.next_rtp.is_some_and(|t| t <= now) {
            self.send_rtp(now, net, ladder)?;
        }
        Ok(())
    }

    fn send_rtp(&mut self, now: Instant, net: &mut Net, ladder: &mut Ladder) -> Result<()> {
        let agent = self
            .ice
            .as_mut()
            .ok_or_else(|| anyhow!("{}: media without ICE", self.name))?;
        self.rtp_sent += 1;
        let packet = rtp_packet(self.payload_type, self.rtp_sent, self.seed as u32);
        let t = agent
            .send_data(now, 1, &packet)
            .with_context(|| format!("{}: sending RTP", self.name))?;
        net.send(ladder, now, t.from, t.to, t.data);
        self.next_rtp = (self.rtp_sent < RTP_PACKETS).then(|| now + PTIME);
        Ok(())
    }

    fn deliver(&mut self, now: Instant, ladder: &mut Ladder, d: Datagram) {
        if d.to == self.sip_addr {
            self.sip.handle_datagram(now, d.to, d.from, &d.bytes);
            return;
        }
        let Some(agent) = self.ice.as_mut() else {
            ladder.note(
                now,
                format!("{} dropped a datagram: no ICE agent yet", self.name),
            );
            return;
        };
        match agent.handle_packet(now, d.to, d.from, &d.bytes) {
            // Media counts only from the peer ICE proved (RFC 8445 §12.2 hardening).
            Handled::Media {
                component,
                local,
                from,
                ..
            } if agent.is_valid_source(component, local, from) => self.rtp_received += 1,
            Handled::Media { from, .. } => ladder.note(
                now,
                format!("{} dropped media from unproved {from}", self.name),
            ),
            Handled::Dropped(why) => ladder.note(now, format!("{} dropped: {why}", self.name)),
            _ => {}
        }
    }
}

/// A minimal RTP packet (RFC 3550 §5.1): 20 ms of PCMU silence.
fn rtp_packet(payload_type: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    // 8 kHz: 160 samples per 20 ms packet.
    let timestamp = u32::from(seq) * 160;
    let mut p = vec![0x80, payload_type & 0x7f]; // version 2; no padding, extension or CSRC
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xFF, 160)); // PCMU silence
    p
}

// ----- the call ------------------------------------------------------------------------------

/// What the call came to, for `main` to print and the tests to check.
struct Report {
    ladder: Vec<String>,
    /// Virtual time from the INVITE to the end of the call.
    virtual_elapsed: Duration,
    alice_established: bool,
    bob_established: bool,
    alice_selected: Option<(Candidate, Candidate)>,
    bob_selected: Option<(Candidate, Candidate)>,
    alice_received: usize,
    bob_received: usize,
    bye_status: Option<u16>,
    alice_ended: Option<TerminationReason>,
    bob_ended: Option<TerminationReason>,
}

impl Report {
    /// Whether the call did everything it should have: `main` and the tests both ask.
    fn verify(&self) -> Result<()> {
        if !(self.alice_established && self.bob_established) {
            bail!("the call was not established on both sides");
        }
        let (Some((al, ar)), Some((bl, br))) = (&self.alice_selected, &self.bob_selected) else {
            bail!("ICE did not select a pair on both sides");
        };
        if (al.address, ar.address) != (br.address, bl.address) {
            bail!(
                "the sides selected different pairs: {} → {} and {} → {}",
                al.address,
                ar.address,
                bl.address,
                br.address
            );
        }
        let all = usize::from(RTP_PACKETS);
        if (self.alice_received, self.bob_received) != (all, all) {
            bail!(
                "RTP received: alice {}, bob {}; {all} each expected",
                self.alice_received,
                self.bob_received
            );
        }
        if self.bye_status != Some(200) {
            bail!("the BYE got {:?}, not 200", self.bye_status);
        }
        if self.alice_ended != Some(TerminationReason::LocalBye)
            || self.bob_ended != Some(TerminationReason::RemoteBye)
        {
            bail!(
                "the call ended as {:?} (alice) and {:?} (bob)",
                self.alice_ended,
                self.bob_ended
            );
        }
        Ok(())
    }
}

fn run_call() -> Result<Report> {
    // The virtual clock's origin. The cores never read a clock; this is the one reading, only
    // because std offers no other way to make an Instant. Everything after is t0 + offsets.
    let t0 = Instant::now();
    let mut now = t0;
    let mut ladder = Ladder {
        t0,
        lines: Vec::new(),
    };
    let mut net = Net {
        in_flight: VecDeque::new(),
        bye_status: None,
    };
    let mut alice = Party::new("alice", ALICE_SIP, ALICE_MEDIA, 1);
    let mut bob = Party::new("bob", BOB_SIP, BOB_MEDIA, 2);

    alice.call(now, BOB_URI)?;
    loop {
        // Let both sides react to what just happened. They touch each other only through the
        // network, so one pump each (which runs until that side has nothing more) is enough.
        alice.pump(now, &mut net, &mut ladder)?;
        bob.pump(now, &mut net, &mut ladder)?;

        // Alice's user hangs up once both directions carried all their packets.
        if !alice.bye_sent
            && alice.rtp_sent == RTP_PACKETS
            && alice.rtp_received == usize::from(RTP_PACKETS)
        {
            let dialog = alice.dialog.ok_or_else(|| anyhow!("alice: no dialog"))?;
            ladder.note(now, "alice hangs up");
            alice.sip.bye(now, dialog)?;
            alice.bye_sent = true;
            continue;
        }
        if alice.ended.is_some() && bob.ended.is_some() {
            break;
        }

        // Jump to the next thing due: an arrival or a timer.
        let next = [net.next_arrival(), alice.poll_timeout(), bob.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .ok_or_else(|| anyhow!("nothing left to happen, but the call is not over"))?;
        now = now.max(next);
        if now.duration_since(t0) > VIRTUAL_LIMIT {
            bail!("the call is not over after {VIRTUAL_LIMIT:?} of virtual time");
        }
        while let Some(d) = net.pop_due(now) {
            if d.to.ip() == alice.sip_addr.ip() {
                alice.deliver(now, &mut ladder, d);
            } else if d.to.ip() == bob.sip_addr.ip() {
                bob.deliver(now, &mut ladder, d);
            } else {
                ladder.note(now, format!("no host at {}: datagram lost", d.to));
            }
        }
        alice.handle_timeout(now, &mut net, &mut ladder)?;
        bob.handle_timeout(now, &mut net, &mut ladder)?;
    }

    Ok(Report {
        ladder: ladder.lines,
        virtual_elapsed: now.duration_since(t0),
        alice_established: alice.established.is_some(),
        bob_established: bob.established.is_some(),
        alice_selected: alice.selected,
        bob_selected: bob.selected,
        alice_received: alice.rtp_received,
        bob_received: bob.rtp_received,
        bye_status: net.bye_status,
        alice_ended: alice.ended,
        bob_ended: bob.ended,
    })
}

fn main() {
    let wall = Instant::now();
    match run_call().and_then(|r| r.verify().map(|()| r)) {
        Ok(report) => {
            for line in &report.ladder {
                println!("{line}");
            }
            println!(
                "call over: {:.3} s of virtual time in {:.1} ms of wall time; RTP received: alice {}, bob {}",
                report.virtual_elapsed.as_secs_f64(),
                wall.elapsed().as_secs_f64() * 1000.0,
                report.alice_received,
                report.bob_received
            );
        }
        Err(e) => {
            eprintln!("virtual_call: error: {e:#}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_with_ice_runs_start_to_finish_in_virtual_time() {
        let wall = Instant::now();
        let r = run_call().expect("the call completes");
        let ladder = r.ladder.join("\n");
        // Established on both sides, the same pair selected from both ends, every RTP packet
        // received, BYE answered 200.
        if let Err(e) = r.verify() {
            panic!("{e:#}\n{ladder}");
        }
        let (al, ar) = r.alice_selected.clone().expect("verified above");
        assert_eq!(
            (al.address, ar.address),
            (addr(ALICE_MEDIA), addr(BOB_MEDIA))
        );
        assert_eq!(al.kind, ice::CandidateKind::Host);

        // The ladder, in order: INVITE, 180, 200, ACK, checks, selection, RTP, BYE, 200.
        let position = |needle: &str| {
            r.ladder
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} missing from the ladder:\n{ladder}"))
        };
        let order = [
            "t=0.000 alice→bob INVITE",
            "bob→alice 180 Ringing (INVITE)",
            "bob→alice 200 OK (INVITE)",
            "alice→bob ACK",
            "STUN Binding request, USE-CANDIDATE",
            "alice ICE selected host 192.0.2.1:40000 → host 192.0.2.2:50000",
            "alice→bob RTP seq=1",
            "alice→bob BYE",
            "bob→alice 200 OK (BYE)",
            "alice call over: LocalBye",
        ];
        let positions: Vec<usize> = order.iter().map(|n| position(n)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{ladder}");

        // Virtual time: 20 ms hops, so well under a second; wall time: no sleeping.
        assert!(
            r.virtual_elapsed < Duration::from_secs(2),
            "{:?}",
            r.virtual_elapsed
        );
        assert!(
            r.virtual_elapsed > Duration::from_millis(100),
            "{:?}",
            r.virtual_elapsed
        );
        assert!(
            wall.elapsed() < Duration::from_secs(5),
            "{:?}",
            wall.elapsed()
        );
    }

    #[test]
    fn the_run_is_reproducible() {
        // Seeded cores and a virtual clock: the same ladder every time.
        let a = run_call().expect("first run").ladder;
        let b = run_call().expect("second run").ladder;
        assert_eq!(a, b);
    }
}
