//! A small SIP user agent over UDP (RFC 3261) for one dialog at a time: INVITE client and
//! server with 2xx retransmission until ACK, CANCEL, BYE, UPDATE (RFC 3311) and re-INVITE,
//! REGISTER with digest authentication, symmetric responses (RFC 3581). Messages, digest and
//! parsing come from the `sip` crate; this module only keeps the dialog and the
//! retransmission timers. The calls use the `sip-stack` driver by default; this agent stays
//! for `--pcap` (it owns its socket, so SIP goes into the capture) and for tests of peers
//! that do not allow UPDATE.

mod commands;
mod uac;
mod uas;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use rand::Rng;
use sip::auth::{Credentials as DigestCredentials, DigestClient};
use sip::message::{
    parse_datagram, HeaderName, Host, Message, Method, NameAddr, Request, Response, SipUri,
    Transport, Uri, Via,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{OfferMethod, UaCommand, UaEvent, UaHandle};
use crate::pcap::Capture;

/// Methods we accept (RFC 3311 §6: list UPDATE in Allow).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, UPDATE, OPTIONS";
/// Allow without UPDATE, for peers that must be reached by re-INVITE (tests, demo option).
const ALLOW_NO_UPDATE: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";
/// RFC 3261 §17.1.2.2: T2 caps non-INVITE and 2xx retransmission intervals.
const T2: Duration = Duration::from_secs(4);

#[derive(Debug, Clone)]
pub struct UaConfig {
    pub bind: SocketAddr,
    /// Our address of record, e.g. `sip:alice@127.0.0.1`.
    pub aor: String,
    /// Every request goes here when set (outbound proxy / registrar).
    pub proxy: Option<SocketAddr>,
    pub credentials: Option<DigestCredentials>,
    pub t1: Duration,
    /// INVITEs beyond this many simultaneous calls get 486 (we handle one dialog).
    pub max_calls: usize,
    pub capture: Option<Capture>,
    /// List UPDATE in Allow and accept it (false answers UPDATE with 501, as baresip does).
    pub allow_update: bool,
    /// This UA registers: without a proxy, the AOR's host is the registrar.
    pub register: bool,
    /// REGISTER expiry asked for, in seconds.
    pub register_expires: u32,
    /// SIP over TCP (driver only): requests whose URI names no transport use TCP, and a TCP
    /// listener shares the UDP port.
    pub tcp: bool,
}

/// Binds the socket and starts the agent's task.
pub async fn spawn(config: UaConfig) -> std::io::Result<UaHandle> {
    if config.tcp {
        return Err(std::io::Error::other(
            "the interim SIP agent speaks UDP only; use the driver for TCP",
        ));
    }
    let socket = UdpSocket::bind(config.bind).await?;
    let local = socket.local_addr()?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let ua = Ua::new(config, socket, local, ev_tx);
    tokio::spawn(ua.run(cmd_rx));
    Ok(UaHandle {
        local,
        commands: cmd_tx,
        events: ev_rx,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnPurpose {
    InitialInvite,
    InDialog(OfferMethod),
    Bye,
    Cancel,
    Register { expires: u32 },
}

struct ClientTxn {
    branch: String,
    request: Request,
    dest: SocketAddr,
    purpose: TxnPurpose,
    next: Option<Instant>,
    interval: Duration,
    deadline: Instant,
}

struct Dialog {
    call_id: String,
    local: NameAddr,
    remote: NameAddr,
    remote_target: Uri,
    remote_addr: SocketAddr,
    local_cseq: u32,
    confirmed: bool,
    peer_allows_update: bool,
    /// Our initial INVITE (UAC side), for CANCEL.
    invite: Option<Request>,
    /// The incoming INVITE we have not answered finally yet (UAS side) and its source.
    pending_invite: Option<(Request, SocketAddr)>,
    /// The in-dialog offer we must answer.
    pending_offer: Option<(Request, SocketAddr)>,
    /// Our last final response to an INVITE, resent on retransmissions.
    last_invite_response: Option<(String, Vec<u8>, SocketAddr)>,
    /// 2xx retransmission until the ACK (RFC 3261 §13.3.1.4).
    unacked_2xx: Option<(Vec<u8>, SocketAddr, Instant, Duration, Instant)>,
    /// The ACK we sent for the 2xx, resent when the 2xx is retransmitted.
    last_ack: Option<Vec<u8>>,
}

/// What identifies a request within its dialog or registration (RFC 3261 §8.1.1).
struct Ids<'a> {
    from: &'a NameAddr,
    to: &'a NameAddr,
    call_id: &'a str,
    cseq: u32,
}

struct Ua {
    config: UaConfig,
    socket: UdpSocket,
    local: SocketAddr,
    events: mpsc::UnboundedSender<UaEvent>,
    txns: Vec<ClientTxn>,
    dialog: Option<Dialog>,
    /// In a Mutex only so that `Ua` is `Sync` (the client holds a `dyn FnMut + Send`).
    digest: Option<std::sync::Mutex<DigestClient>>,
    register_cseq: u32,
    register_call_id: String,
    aor: NameAddr,
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn new_branch() -> String {
    // RFC 3261 §8.1.1.7: the branch starts with the magic cookie z9hG4bK.
    format!("z9hG4bK{}", random_token(16))
}

/// Where a SIP URI points: its host and port (5060 by default), resolved.
fn uri_address(uri: &Uri) -> Option<SocketAddr> {
    let sip = uri.as_sip()?;
    let port = sip.port.unwrap_or(5060);
    match &sip.host {
        Host::Ipv4(ip) => Some(SocketAddr::new((*ip).into(), port)),
        Host::Ipv6(ip) => Some(SocketAddr::new((*ip).into(), port)),
        Host::Domain(name) => (name.as_str(), port).to_socket_addrs().ok()?.next(),
    }
}

fn sdp_body(message_body: &[u8]) -> Option<String> {
    (!message_body.is_empty()).then(|| String::from_utf8_lossy(message_body).into_owned())
}

fn allows_update(headers: &sip::message::Headers) -> bool {
    // RFC 3311 §5.1 / INTEROP-NOTES (pjsip #1047): UPDATE only when the peer's Allow lists it.
    headers
        .allow()
        .map(|methods| methods.contains(&Method::Update))
        .unwrap_or(false)
}

impl Ua {
    pub(super) fn new(
        config: UaConfig,
        socket: UdpSocket,
        local: SocketAddr,
        events: mpsc::UnboundedSender<UaEvent>,
    ) -> Ua {
        let aor = config
            .aor
            .parse::<NameAddr>()
            .unwrap_or_else(|_| NameAddr::new(Uri::Sip(SipUri::new(None, host_of(local)))));
        let digest = config
            .credentials
            .clone()
            .map(|c| std::sync::Mutex::new(DigestClient::new(c)));
        Ua {
            config,
            socket,
            local,
            events,
            txns: Vec::new(),
            dialog: None,
            digest,
            register_cseq: 0,
            register_call_id: format!("{}@{}", random_token(20), local.ip()),
            aor,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<UaCommand>) {
        let mut buf = vec![0u8; 65535];
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    match received {
                        Ok((n, from)) => {
                            let data = buf.get(..n).unwrap_or_default().to_vec();
                            self.on_datagram(&data, from).await;
                        }
                        Err(e) => tracing::debug!("SIP socket error: {e}"),
                    }
                }
                command = commands.recv() => {
                    match command {
                        Some(c) => self.on_command(c).await,
                        None => break,
                    }
                }
                _ = tick.tick() => self.on_tick().await,
            }
        }
    }

    pub(super) fn emit(&self, event: UaEvent) {
        let _ = self.events.send(event);
    }

    pub(super) async fn send_bytes(&self, bytes: &[u8], to: SocketAddr) {
        if let Some(c) = &self.config.capture {
            c.record(self.local, to, bytes);
        }
        if let Err(e) = self.socket.send_to(bytes, to).await {
            tracing::warn!("SIP send to {to} failed: {e}");
        }
    }

    pub(super) fn allow(&self) -> &'static str {
        if self.config.allow_update {
            ALLOW
        } else {
            ALLOW_NO_UPDATE
        }
    }

    pub(super) fn contact(&self) -> NameAddr {
        let user = self.aor.uri.as_sip().and_then(|s| s.user.clone());
        let mut uri = SipUri::new(user.as_deref(), host_of(self.local));
        uri.port = Some(self.local.port());
        NameAddr::new(Uri::Sip(uri))
    }

    pub(super) fn via(&self, branch: &str) -> Via {
        let mut via = Via::new(
            Transport::Udp,
            host_of(self.local),
            Some(self.local.port()),
            branch,
        );
        // RFC 3581 §3: an empty rport asks for the source port in the response.
        via.params.set("rport", None);
        via
    }

    pub(super) fn build_request(
        &self,
        method: Method,
        uri: Uri,
        ids: Ids<'_>,
        body: Option<&str>,
    ) -> (Request, String) {
        let Ids {
            from,
            to,
            call_id,
            cseq,
        } = ids;
        let branch = new_branch();
        let mut b = Request::builder(method.clone(), uri)
            .via(&self.via(&branch))
            .max_forwards(70)
            .from(from)
            .to(to)
            .call_id(call_id)
            .cseq(cseq)
            .header(
                "User-Agent",
                concat!("icephone/", env!("CARGO_PKG_VERSION")),
            );
        if matches!(method, Method::Invite | Method::Update | Method::Register) {
            b = b.contact(&self.contact());
        }
        if matches!(method, Method::Invite | Method::Update) {
            b = b.header("Allow", self.allow());
        }
        if let Some(sdp) = body {
            b = b.body("application/sdp", sdp.as_bytes().to_vec());
        }
        (b.build(), branch)
    }

    pub(super) async fn start_txn(
        &mut self,
        request: Request,
        branch: String,
        dest: SocketAddr,
        purpose: TxnPurpose,
    ) {
        let now = Instant::now();
        let bytes = request.to_bytes();
        self.send_bytes(&bytes, dest).await;
        // RFC 3261 §17.1.1.2 / §17.1.2.2: retransmit at T1, doubling; give up at 64·T1.
        self.txns.push(ClientTxn {
            branch,
            request,
            dest,
            purpose,
            next: Some(now + self.config.t1),
            interval: self.config.t1,
            deadline: now + self.config.t1 * 64,
        });
    }

    pub(super) async fn on_tick(&mut self) {
        let now = Instant::now();
        let mut resend = Vec::new();
        let mut expired = Vec::new();
        for (i, t) in self.txns.iter_mut().enumerate() {
            if now >= t.deadline {
                expired.push(i);
                continue;
            }
            if let Some(next) = t.next {
                if now >= next {
                    let invite = t.request.method == Method::Invite;
                    t.interval = if invite {
                        t.interval * 2
                    } else {
                        (t.interval * 2).min(T2)
                    };
                    t.next = Some(now + t.interval);
                    resend.push((t.request.to_bytes(), t.dest));
                }
            }
        }
        for (bytes, dest) in resend {
            self.send_bytes(&bytes, dest).await;
        }
        for i in expired.into_iter().rev() {
            let t = self.txns.remove(i);
            // RFC 3261 §17.1.1.2 Timer B / §17.1.2.2 Timer F: a timeout acts as 408.
            self.on_final_failure(t.purpose, 408, "Request Timeout (no response)");
        }
        let mut resend_2xx = None;
        if let Some(d) = &mut self.dialog {
            if let Some((bytes, dest, next, interval, give_up)) = &mut d.unacked_2xx {
                if now >= *give_up {
                    // RFC 3261 §13.3.1.4: no ACK → the dialog ends (we report a hangup).
                    d.unacked_2xx = None;
                    self.emit(UaEvent::RemoteHangup { cancelled: false });
                } else if now >= *next {
                    *interval = (*interval * 2).min(T2);
                    *next = now + *interval;
                    resend_2xx = Some((bytes.clone(), *dest));
                }
            }
        }
        if let Some((bytes, dest)) = resend_2xx {
            self.send_bytes(&bytes, dest).await;
        }
    }

    pub(super) fn on_final_failure(&mut self, purpose: TxnPurpose, status: u16, reason: &str) {
        match purpose {
            TxnPurpose::InitialInvite => {
                self.dialog = None;
                self.emit(UaEvent::Failed {
                    status,
                    reason: reason.into(),
                });
            }
            TxnPurpose::InDialog(method) => self.emit(UaEvent::OfferAnswered {
                method,
                status,
                sdp: None,
            }),
            TxnPurpose::Bye => {
                self.dialog = None;
                self.emit(UaEvent::HangupDone);
            }
            TxnPurpose::Cancel => {}
            TxnPurpose::Register { .. } => self.emit(UaEvent::RegisterFailed {
                status,
                reason: reason.into(),
            }),
        }
    }

    pub(super) fn default_dest(&self, uri: &Uri) -> Option<SocketAddr> {
        self.config.proxy.or_else(|| uri_address(uri))
    }
}

fn host_of(addr: SocketAddr) -> Host {
    match addr.ip() {
        std::net::IpAddr::V4(v4) => Host::Ipv4(v4),
        std::net::IpAddr::V6(v6) => Host::Ipv6(v6),
    }
}

fn first_contact(contacts: &sip::message::Contacts) -> Option<Uri> {
    match contacts {
        sip::message::Contacts::List(list) => list.first().map(|c| c.uri.clone()),
        _ => None,
    }
}

fn first_contact_expires(contacts: &sip::message::Contacts) -> Option<u32> {
    match contacts {
        sip::message::Contacts::List(list) => list.first().and_then(|c| c.expires()),
        _ => None,
    }
}
