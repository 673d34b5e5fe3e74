//! ICE without SIP: two agents meet over a tiny JSON-over-TCP rendezvous, prove a UDP path
//! with connectivity checks, and send application datagrams over the pair ICE selected.
//!
//! ```text
//! cargo run -p ice --example rendezvous                  # both sides, two threads, one process
//! cargo run -p ice --example rendezvous -- --role controlled  --addr 127.0.0.1:7878
//! cargo run -p ice --example rendezvous -- --role controlling --addr 127.0.0.1:7878
//! ```
//!
//! Other options: `--datagrams N` (default 5) and `--timeout SECONDS` (default 10: the whole
//! run, rendezvous included, ends with an error after that).
//!
//! RFC 8445 leaves to each protocol that uses ICE what RFC 8839 (SDP offer/answer) does for
//! SIP: how candidates, credentials, lite/full and extensions travel (§5.3) and which side is
//! controlling (§6.1.1). This file is such a usage, complete:
//!
//! - **Transport.** One TCP connection; each message is one JSON object on one line (UTF-8,
//!   ended by `\n`). One side listens, the other connects.
//! - **Roles.** The side that connects is controlling, the side that listens is controlled.
//!   Both are full agents, so nothing else (lite, tie-breakers) decides.
//! - **`ice-params`**, sent by both sides as soon as the connection is up, in no order:
//!
//!   ```json
//!   {"type":"ice-params","ufrag":"Xk3f9Qa1","pwd":"r2D9…(22+ ice-chars)","lite":false,
//!    "options":["ice2"],
//!    "candidates":[{"foundation":"1","component":1,"transport":"UDP","priority":2130706431,
//!                   "address":"127.0.0.1:40000","type":"host"}],
//!    "end_of_candidates":true}
//!   ```
//!
//!   Candidates are structured: the fields of RFC 8839's `candidate-attribute`, named, since
//!   JSON already separates them (`related`, raddr/rport, is optional). `options` are ICE
//!   options: `ice2` (RFC 8445 §10) says the agent follows RFC 8445 rather than RFC 5245.
//!   `end_of_candidates: true` is RFC 8838's end-of-candidates without trickling: the list is
//!   complete. This usage does not trickle, so `false` is refused.
//! - **`done`**, sent once a side has sent its datagrams: how many, and the pair it sent them
//!   on, so the peer knows how many to wait for and can check that both selected the same pair:
//!   `{"type":"done","sent":5,"local":"127.0.0.1:40000","remote":"127.0.0.1:40002"}`.
//!   A side ends when it has sent its `done`, received the peer's, and received as many
//!   datagrams as the peer said it sent.
//! - Unknown fields are ignored (room for later versions). A malformed message, or one that
//!   breaks these rules, ends the session with an error that says what was wrong.
//!
//! Application datagrams share the UDP socket with STUN. The agent demultiplexes by RFC 7983
//! and hands back as data only datagrams whose first byte is in a data range, so each of ours
//! starts with 0x80 (the RTP/RTCP range) followed by text.
//!
//! Host candidates on 127.0.0.1 only, so that the example needs no network (loopback
//! candidates must be allowed in the agent's configuration). A real application adds a host
//! candidate per interface and STUN/TURN servers to `IceConfig`; nothing else here changes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ice::agent::{Handled, IceAgent, IceConfig, IceEvent, IceState};
use ice::candidate::{is_ice_string, Candidate, CandidateKind, Credentials, Transport};
use serde::{Deserialize, Serialize};

const DEFAULT_ADDR: &str = "127.0.0.1:7878";
const DEFAULT_DATAGRAMS: usize = 5;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A line longer than this is not a rendezvous message; refusing it bounds our memory.
const MAX_LINE: usize = 64 * 1024;
/// First byte of our application datagrams: inside RFC 7983's RTP/RTCP range, so the agent
/// returns them as data instead of dropping them.
const DATA_MARKER: u8 = 0x80;
/// How long one wait on the UDP socket may last, so TCP messages are read promptly too.
const POLL_SLICE: Duration = Duration::from_millis(10);

// ----- the rendezvous messages -------------------------------------------------------------

/// One line on the rendezvous connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Message {
    IceParams(IceParams),
    Done(Done),
}

/// What RFC 8445 §5.3 says the peers must exchange before checks can start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IceParams {
    ufrag: String,
    pwd: String,
    #[serde(default)]
    lite: bool,
    #[serde(default)]
    options: Vec<String>,
    candidates: Vec<CandidateJson>,
    end_of_candidates: bool,
}

/// A candidate, field by field (RFC 8839 §5.1 names them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CandidateJson {
    foundation: String,
    component: u16,
    transport: String,
    priority: u32,
    address: SocketAddr,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    related: Option<SocketAddr>,
}

/// A side has sent all its datagrams, on the pair `local` -> `remote` (its view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Done {
    sent: usize,
    local: SocketAddr,
    remote: SocketAddr,
}

impl CandidateJson {
    fn from_candidate(c: &Candidate) -> Self {
        CandidateJson {
            foundation: c.foundation.clone(),
            component: c.component,
            transport: c.transport.as_str().to_owned(),
            priority: c.priority,
            address: c.address,
            kind: c.kind.as_str().to_owned(),
            related: c.related,
        }
    }

    /// The candidate for the agent, or why the peer's message breaks the usage.
    fn to_candidate(&self) -> Result<Candidate> {
        let what = || format!("candidate {} ({})", self.address, self.foundation);
        // RFC 8445 §5.1.1.3: a foundation is 1 to 32 ice-chars.
        if self.foundation.is_empty()
            || self.foundation.len() > 32
            || !is_ice_string(&self.foundation)
        {
            bail!("{}: the foundation must be 1 to 32 ice-chars", what());
        }
        // RFC 8445 §5.1.2.1: components are numbered 1 to 256.
        if !(1..=256).contains(&self.component) {
            bail!("{}: component {} is not 1 to 256", what(), self.component);
        }
        // RFC 8445 §5.1.2: a priority is 1 to 2^31 - 1.
        if self.priority == 0 || self.priority > (1 << 31) - 1 {
            bail!("{}: priority {} is not 1 to 2^31-1", what(), self.priority);
        }
        if Transport::from_token(&self.transport) != Some(Transport::Udp) {
            bail!(
                "{}: transport {:?}: this usage carries UDP candidates only",
                what(),
                self.transport
            );
        }
        let kind = CandidateKind::from_token(&self.kind)
            .ok_or_else(|| anyhow!("{}: unknown type {:?}", what(), self.kind))?;
        if kind == CandidateKind::PeerReflexive {
            // RFC 8445 §5.1.1: peer-reflexive candidates are learned from checks, never sent.
            bail!("{}: a prflx candidate is never signalled", what());
        }
        if self.address.port() == 0 || self.address.ip().is_unspecified() {
            bail!("{}: not an address one can send to", what());
        }
        // Built from `Candidate::host` and then adjusted, so the example keeps compiling if
        // the struct gains fields.
        let mut c = Candidate::host(self.foundation.clone(), self.component, self.address, 0);
        c.priority = self.priority;
        c.kind = kind;
        c.related = self.related;
        Ok(c)
    }
}

impl IceParams {
    /// Ours, once gathering is complete.
    fn of(agent: &IceAgent) -> Self {
        let credentials = agent.local_credentials();
        IceParams {
            ufrag: credentials.ufrag.clone(),
            pwd: credentials.pwd.clone(),
            lite: false,
            options: vec!["ice2".to_owned()],
            candidates: agent
                .local_candidates()
                .iter()
                .map(CandidateJson::from_candidate)
                .collect(),
            // Gathering finished before we sent anything: this is every candidate we have.
            end_of_candidates: true,
        }
    }

    /// The peer's credentials and candidates, checked against the usage's rules.
    fn validate(&self) -> Result<(Credentials, Vec<Candidate>)> {
        // RFC 8445 §5.3 (entropy) and RFC 8839 §5.4 (syntax): a ufrag of 4 to 256 ice-chars,
        // a password of 22 to 256.
        if !(4..=256).contains(&self.ufrag.len()) || !is_ice_string(&self.ufrag) {
            bail!("ufrag {:?} is not 4 to 256 ice-chars", self.ufrag);
        }
        if !(22..=256).contains(&self.pwd.len()) || !is_ice_string(&self.pwd) {
            bail!("the password is not 22 to 256 ice-chars");
        }
        if !self.end_of_candidates {
            bail!(
                "end_of_candidates is false: the peer means to trickle more candidates, \
                 which this usage does not do (send them all in ice-params)"
            );
        }
        if self.candidates.is_empty() {
            bail!("no candidates: there is no address to check");
        }
        let candidates = self
            .candidates
            .iter()
            .map(CandidateJson::to_candidate)
            .collect::<Result<Vec<_>>>()?;
        let credentials = Credentials {
            ufrag: self.ufrag.clone(),
            pwd: self.pwd.clone(),
        };
        Ok((credentials, candidates))
    }
}

fn parse_message(line: &str) -> Result<Message> {
    serde_json::from_str(line).with_context(|| {
        format!("the peer sent something that is not a rendezvous message: {line:?}")
    })
}

/// Newline-delimited messages on a non-blocking TCP stream, read a piece at a time so that
/// one thread can also serve the UDP socket.
struct Lines {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

impl Lines {
    fn new(stream: TcpStream) -> Result<Self> {
        stream
            .set_nonblocking(true)
            .context("making the rendezvous connection non-blocking")?;
        // Small messages, sent once: no reason to let Nagle hold them back.
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        Ok(Lines {
            stream,
            buf: Vec::new(),
            closed: false,
        })
    }

    fn send(&mut self, message: &Message) -> Result<String> {
        let text = serde_json::to_string(message).context("encoding a message")?;
        let mut line = text.clone().into_bytes();
        line.push(b'\n');
        // Non-blocking: a short write is possible in principle, so loop until done.
        let mut rest = &line[..];
        let deadline = Instant::now() + Duration::from_secs(5);
        while !rest.is_empty() {
            match self.stream.write(rest) {
                Ok(0) => bail!("the rendezvous connection closed while sending"),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e).context("sending on the rendezvous connection"),
            }
        }
        Ok(text)
    }

    /// The next complete message, if one has arrived.
    fn poll(&mut self) -> Result<Option<Message>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = std::str::from_utf8(&line[..end])
                    .context("the peer sent a line that is not UTF-8")?;
                return parse_message(line.trim_end_matches('\r')).map(Some);
            }
            if self.buf.len() > MAX_LINE {
                bail!("the peer sent a line longer than {MAX_LINE} bytes");
            }
            if self.closed {
                return Ok(None);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    if !self.buf.is_empty() {
                        bail!("the rendezvous connection closed in the middle of a message");
                    }
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("reading the rendezvous connection"),
            }
        }
    }
}

// ----- one side ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Controlling,
    Controlled,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Controlling => "controlling",
            Role::Controlled => "controlled",
        }
    }
}

/// What one side saw, for the caller (and the tests) to check.
#[derive(Debug, Clone)]
struct Outcome {
    role: Role,
    /// The selected pair: (local, remote) candidate addresses.
    local: SocketAddr,
    remote: SocketAddr,
    received: usize,
    /// The peer's `done`: what it selected and sent.
    peer: Done,
    /// What this side printed (the tests read it; `main` has already printed it).
    #[cfg_attr(not(test), allow(dead_code))]
    transcript: Vec<String>,
}

/// Prints a side's progress and keeps it for the outcome.
struct Say {
    role: Role,
    lines: Vec<String>,
}

impl Say {
    fn line(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("[{}] {}", self.role.as_str(), text);
        self.lines.push(text);
    }
}

/// Where a side's run stands; only for the error message if the deadline passes.
#[derive(Debug, Clone, Copy)]
enum Phase {
    AwaitingParams,
    Checking,
    Exchanging,
    AwaitingPeer,
}

/// Runs one side on an open rendezvous connection: exchange parameters, check, select,
/// send `datagrams` datagrams, exchange `done`, receive the peer's datagrams, and verify that
/// the peer selected the same pair.
fn run_side(role: Role, stream: TcpStream, datagrams: usize, deadline: Instant) -> Result<Outcome> {
    let mut say = Say {
        role,
        lines: Vec::new(),
    };
    let started = Instant::now();
    let mut tcp = Lines::new(stream)?;
    let udp = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket on 127.0.0.1")?;
    let local = udp
        .local_addr()
        .context("reading the UDP socket's address")?;

    let config = IceConfig {
        controlling: role == Role::Controlling,
        // RFC 8445 §5.1.1.1 keeps loopback out of real sessions; this demo never leaves the host.
        allow_loopback: true,
        ..IceConfig::default()
    };
    let mut agent = IceAgent::new(config, Instant::now());
    agent
        .add_local_host(local)
        .with_context(|| format!("adding the host candidate {local}"))?;
    // No STUN or TURN server: gathering completes on the first timeout.
    agent.handle_timeout(Instant::now());

    let sent = tcp.send(&Message::IceParams(IceParams::of(&agent)))?;
    say.line(format!("sent {sent}"));

    let mut phase = Phase::AwaitingParams;
    let mut selected: Option<(Candidate, Candidate)> = None;
    let mut sent_datagrams = 0;
    let mut received = 0;
    let mut done_sent = false;
    let mut peer_done: Option<Done> = None;
    let mut buf = vec![0u8; 2048];

    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "timed out ({phase:?}): sent {sent_datagrams} of {datagrams} datagrams, received {received}, ICE {:?}",
                agent.state()
            );
        }

        // Signalling.
        while let Some(message) = tcp.poll()? {
            match message {
                Message::IceParams(params) => {
                    if !matches!(phase, Phase::AwaitingParams) {
                        bail!("the peer sent ice-params twice (an ICE restart is not part of this usage)");
                    }
                    let (credentials, candidates) =
                        params.validate().context("the peer's ice-params")?;
                    say.line(format!(
                        "received ice-params: {} candidate(s), options [{}], end-of-candidates",
                        candidates.len(),
                        params.options.join(", ")
                    ));
                    if !params.options.iter().any(|o| o == "ice2") {
                        say.line("the peer does not announce ice2: it follows RFC 5245, which this agent also serves");
                    }
                    agent.set_remote_lite(params.lite);
                    agent.set_remote_credentials(credentials);
                    for c in candidates {
                        agent.add_remote_candidate(c);
                    }
                    agent.end_of_remote_candidates();
                    agent.handle_timeout(now);
                    phase = Phase::Checking;
                }
                Message::Done(done) => {
                    if peer_done.replace(done).is_some() {
                        bail!("the peer sent done twice");
                    }
                }
            }
        }
        if tcp.closed && peer_done.is_none() {
            bail!("the peer closed the rendezvous connection before it was done ({phase:?})");
        }

        // Timers, then whatever the agent wants sent, then what it has to say.
        if agent.poll_timeout().is_some_and(|t| t <= now) {
            agent.handle_timeout(now);
        }
        while let Some(t) = agent.poll_transmit() {
            send_udp(&udp, &t.data, t.to)?;
        }
        while let Some(event) = agent.poll_event() {
            match event {
                IceEvent::Selected {
                    local: l,
                    remote: r,
                    ..
                } => {
                    say.line(format!(
                        "selected pair {} {} -> {} {} after {} ms",
                        l.kind,
                        l.address,
                        r.kind,
                        r.address,
                        started.elapsed().as_millis()
                    ));
                    selected = Some((l, r));
                    phase = Phase::Exchanging;
                }
                IceEvent::Failed { reasons } => {
                    let why: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
                    bail!("ICE failed: {}", why.join("; "));
                }
                IceEvent::ConsentLost { .. } => bail!("consent lost on the selected pair"),
                IceEvent::RoleChanged { controlling } => {
                    // Both sides follow the connect/listen rule, so this means a broken peer.
                    bail!("role conflict: the peer claims the same role (now controlling={controlling})");
                }
                _ => {}
            }
        }

        // The application: datagrams go only on the selected pair (RFC 8445 §12.1).
        if selected.is_some() && agent.state() == IceState::Completed {
            while sent_datagrams < datagrams {
                sent_datagrams += 1;
                let mut payload = vec![DATA_MARKER];
                payload.extend_from_slice(
                    format!(
                        "datagram {sent_datagrams} of {datagrams} from the {} side",
                        role.as_str()
                    )
                    .as_bytes(),
                );
                let t = agent
                    .send_data(now, 1, &payload)
                    .context("sending a datagram on the selected pair")?;
                send_udp(&udp, &t.data, t.to)?;
            }
        }
        if !done_sent && sent_datagrams == datagrams {
            let (l, r) = selected
                .as_ref()
                .expect("datagrams are only sent once a pair is selected");
            tcp.send(&Message::Done(Done {
                sent: datagrams,
                local: l.address,
                remote: r.address,
            }))?;
            done_sent = true;
            phase = Phase::AwaitingPeer;
        }
        if done_sent && peer_done.as_ref().is_some_and(|d| received >= d.sent) {
            say.line(format!("received {received} datagrams"));
            break;
        }

        // Wait for a datagram, no longer than the agent's next timer or the deadline allow.
        let now = Instant::now();
        let wake = agent
            .poll_timeout()
            .map_or(POLL_SLICE, |t| t.saturating_duration_since(now))
            .min(POLL_SLICE)
            .min(deadline.saturating_duration_since(now))
            // A zero read timeout is an error for std; a millisecond is no wait worth noting.
            .max(Duration::from_millis(1));
        udp.set_read_timeout(Some(wake))
            .context("setting the UDP read timeout")?;
        match udp.recv_from(&mut buf) {
            Ok((n, from)) => {
                let now = Instant::now();
                let data = buf.get(..n).unwrap_or_default();
                if let Handled::Media {
                    component,
                    local: at,
                    from,
                    data,
                } = agent.handle_packet(now, local, from, data)
                {
                    // Only from the peer ICE proved (anyone can send to an open port).
                    if agent.is_valid_source(component, at, from)
                        && data.first() == Some(&DATA_MARKER)
                    {
                        received += 1;
                        if received == 1 {
                            let text = String::from_utf8_lossy(&data[1..]);
                            say.line(format!("first datagram: {text:?}"));
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // Linux reports an ICMP port unreachable for an earlier send on the next call; a
            // check toward a closed port is ICE's business (it times out), not an error here.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => return Err(e).context("receiving on the UDP socket"),
        }
    }

    let peer = peer_done.expect("the loop ends only once the peer's done arrived");
    let (l, r) = selected.expect("done is only sent once a pair is selected");
    if (peer.local, peer.remote) != (r.address, l.address) {
        bail!(
            "the peer selected {} -> {}, but this side selected {} -> {}",
            peer.local,
            peer.remote,
            l.address,
            r.address
        );
    }
    say.line(format!(
        "the peer selected the same pair and sent {} datagrams",
        peer.sent
    ));
    agent.close(Instant::now());
    Ok(Outcome {
        role,
        local: l.address,
        remote: r.address,
        received,
        peer,
        transcript: say.lines,
    })
}

fn send_udp(udp: &UdpSocket, data: &[u8], to: SocketAddr) -> Result<()> {
    match udp.send_to(data, to) {
        Ok(_) => Ok(()),
        // An ICMP error left over from an earlier datagram: this one was not sent, and ICE
        // retransmits checks; not a reason to stop.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("sending a datagram to {to}")),
    }
}

// ----- the two ends of the rendezvous ------------------------------------------------------

/// The listening side (controlled): waits for one connection, then runs.
fn listen_and_run(listener: TcpListener, datagrams: usize, deadline: Instant) -> Result<Outcome> {
    // Non-blocking accept, so that the deadline also bounds a peer that never comes.
    listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!("timed out waiting for the controlling side to connect");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e).context("accepting the rendezvous connection"),
        }
    };
    run_side(Role::Controlled, stream, datagrams, deadline)
}

/// The connecting side (controlling).
fn connect_and_run(addr: SocketAddr, datagrams: usize, deadline: Instant) -> Result<Outcome> {
    let timeout = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to the rendezvous at {addr}"))?;
    run_side(Role::Controlling, stream, datagrams, deadline)
}

/// Both sides in this process, one thread each, meeting on an ephemeral loopback port.
fn run_local_pair(datagrams: usize, timeout: Duration) -> Result<(Outcome, Outcome)> {
    let deadline = Instant::now() + timeout;
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the rendezvous listener")?;
    let addr = listener
        .local_addr()
        .context("reading the listener's address")?;
    println!("rendezvous on {addr} (JSON over TCP): the side that connects is controlling");
    let controlled = std::thread::spawn(move || listen_and_run(listener, datagrams, deadline));
    let controlling = std::thread::spawn(move || connect_and_run(addr, datagrams, deadline));
    let controlling = controlling
        .join()
        .map_err(|_| anyhow!("the controlling thread panicked"))?;
    let controlled = controlled
        .join()
        .map_err(|_| anyhow!("the controlled thread panicked"))?;
    Ok((
        controlling.context("controlling side")?,
        controlled.context("controlled side")?,
    ))
}

// ----- command line ------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct Args {
    role: Option<Role>,
    addr: SocketAddr,
    datagrams: usize,
    timeout: Duration,
}

const USAGE: &str = "usage: rendezvous [--role controlling|controlled] [--addr IP:PORT] [--datagrams N] [--timeout SECONDS]
  without --role: both sides in this process (two threads) on an ephemeral loopback port
  --role controlled:  listen on --addr (default 127.0.0.1:7878) and wait for the peer
  --role controlling: connect to --addr";

fn parse_args(args: &[String]) -> Result<Args> {
    let mut parsed = Args {
        role: None,
        addr: DEFAULT_ADDR.parse().expect("the default address parses"),
        datagrams: DEFAULT_DATAGRAMS,
        timeout: DEFAULT_TIMEOUT,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--role" => {
                parsed.role = Some(match value()?.as_str() {
                    "controlling" => Role::Controlling,
                    "controlled" => Role::Controlled,
                    other => bail!("--role {other:?}: say controlling or controlled"),
                })
            }
            "--addr" => {
                let v = value()?;
                parsed.addr = v
                    .parse()
                    .map_err(|_| anyhow!("--addr {v:?} is not IP:PORT"))?;
            }
            "--datagrams" => {
                let v = value()?;
                parsed.datagrams = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| anyhow!("--datagrams {v:?} is not a number from 1 to 1000"))?;
            }
            "--timeout" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| anyhow!("--timeout {v:?} is not 1 to 3600 seconds"))?;
                parsed.timeout = Duration::from_secs(secs);
            }
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(parsed)
}

fn run(args: &Args) -> Result<()> {
    let deadline = Instant::now() + args.timeout;
    let outcomes = match args.role {
        None => {
            let (controlling, controlled) = run_local_pair(args.datagrams, args.timeout)?;
            vec![controlling, controlled]
        }
        Some(Role::Controlled) => {
            let listener = TcpListener::bind(args.addr)
                .with_context(|| format!("listening on {}", args.addr))?;
            println!(
                "listening on {} (JSON over TCP); the side that connects is controlling",
                args.addr
            );
            vec![listen_and_run(listener, args.datagrams, deadline)?]
        }
        Some(Role::Controlling) => vec![connect_and_run(args.addr, args.datagrams, deadline)?],
    };
    for o in outcomes {
        println!(
            "{}: selected {} -> {}, received {} of the peer's {} datagrams",
            o.role.as_str(),
            o.local,
            o.remote,
            o.received,
            o.peer.sent
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("rendezvous: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("rendezvous: error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn two_agents_meet_select_the_same_pair_and_exchange_every_datagram() {
        let (controlling, controlled) =
            run_local_pair(5, Duration::from_secs(10)).expect("the rendezvous succeeds");
        assert_eq!(controlling.role, Role::Controlling);
        assert_eq!(controlled.role, Role::Controlled);
        // Each side's local is the other's remote: one pair, seen from both ends.
        assert_eq!(
            (controlling.local, controlling.remote),
            (controlled.remote, controlled.local)
        );
        assert!(controlling.local.ip().is_loopback());
        assert_eq!((controlling.received, controlled.received), (5, 5));
        assert_eq!((controlling.peer.sent, controlled.peer.sent), (5, 5));
        for side in [&controlling, &controlled] {
            let text = side.transcript.join("\n");
            assert!(text.contains("\"type\":\"ice-params\""), "{text}");
            assert!(text.contains("\"end_of_candidates\":true"), "{text}");
            assert!(text.contains("\"options\":[\"ice2\"]"), "{text}");
            assert!(text.contains("selected pair host 127.0.0.1:"), "{text}");
            assert!(text.contains("received 5 datagrams"), "{text}");
        }
    }

    #[test]
    fn a_peer_that_sends_garbage_gets_an_error_not_a_hang() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"{\"type\":\"ice-params\",\"ufrag\":\"abcd\"}\n")
                .unwrap();
            // Hold the connection open until the other side gives up on it.
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = listen_and_run(listener, 1, deadline).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("not a rendezvous message"), "{text}");
        assert!(text.contains("missing field"), "{text}");
        peer.join().unwrap();
    }

    #[test]
    fn messages_that_break_the_usage_are_refused_with_the_reason() {
        let good = r#"{"type":"ice-params","ufrag":"abcd","pwd":"abcdefghijklmnopqrstuv",
            "options":["ice2"],"end_of_candidates":true,"extra":"ignored",
            "candidates":[{"foundation":"1","component":1,"transport":"udp",
            "priority":2130706431,"address":"127.0.0.1:4000","type":"host"}]}"#;
        let Message::IceParams(params) = parse_message(&good.replace('\n', "")).unwrap() else {
            panic!("ice-params expected");
        };
        let (credentials, candidates) = params.validate().unwrap();
        assert_eq!(credentials.ufrag, "abcd");
        assert_eq!(candidates[0].kind, CandidateKind::Host);

        let refused = |edit: &dyn Fn(&mut IceParams), expect: &str| {
            let mut p = params.clone();
            edit(&mut p);
            let err = format!("{:#}", p.validate().unwrap_err());
            assert!(err.contains(expect), "{err} should say {expect}");
        };
        refused(&|p| p.end_of_candidates = false, "does not do");
        refused(&|p| p.pwd = "short".into(), "password");
        refused(
            &|p| p.candidates[0].kind = "prflx".into(),
            "never signalled",
        );
        refused(&|p| p.candidates[0].kind = "bogus".into(), "unknown type");
        refused(
            &|p| p.candidates[0].transport = "TCP".into(),
            "UDP candidates only",
        );
        refused(&|p| p.candidates[0].priority = 0, "priority");
        refused(&|p| p.candidates.clear(), "no candidates");
    }

    #[test]
    fn bad_arguments_are_errors() {
        let ok = parse_args(&strings(&[
            "--role",
            "controlling",
            "--addr",
            "127.0.0.1:9",
        ]))
        .unwrap();
        assert_eq!(ok.role, Some(Role::Controlling));
        assert_eq!(ok.addr, "127.0.0.1:9".parse().unwrap());
        assert!(parse_args(&strings(&["--role", "boss"])).is_err());
        assert!(parse_args(&strings(&["--addr", "nowhere"])).is_err());
        assert!(parse_args(&strings(&["--datagrams", "0"])).is_err());
        assert!(parse_args(&strings(&["--timeout"])).is_err());
        assert!(parse_args(&strings(&["--frobnicate"])).is_err());
    }
}
