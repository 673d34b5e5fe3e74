//! A small SIP user agent over UDP (RFC 3261) for one dialog at a time: INVITE client and
//! server with 2xx retransmission until ACK, CANCEL, BYE, UPDATE (RFC 3311) and re-INVITE,
//! REGISTER with digest authentication, symmetric responses (RFC 3581). Messages, digest and
//! parsing come from the `sip` crate; this file only keeps the dialog and the retransmission
//! timers. It stands in for the `sip-stack` driver until that lands.

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
    fn new(
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

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<UaCommand>) {
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

    fn emit(&self, event: UaEvent) {
        let _ = self.events.send(event);
    }

    async fn send_bytes(&self, bytes: &[u8], to: SocketAddr) {
        if let Some(c) = &self.config.capture {
            c.record(self.local, to, bytes);
        }
        if let Err(e) = self.socket.send_to(bytes, to).await {
            tracing::warn!("SIP send to {to} failed: {e}");
        }
    }

    fn allow(&self) -> &'static str {
        if self.config.allow_update {
            ALLOW
        } else {
            ALLOW_NO_UPDATE
        }
    }

    fn contact(&self) -> NameAddr {
        let user = self.aor.uri.as_sip().and_then(|s| s.user.clone());
        let mut uri = SipUri::new(user.as_deref(), host_of(self.local));
        uri.port = Some(self.local.port());
        NameAddr::new(Uri::Sip(uri))
    }

    fn via(&self, branch: &str) -> Via {
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

    fn build_request(
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

    async fn start_txn(
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

    async fn on_tick(&mut self) {
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

    fn on_final_failure(&mut self, purpose: TxnPurpose, status: u16, reason: &str) {
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

    fn default_dest(&self, uri: &Uri) -> Option<SocketAddr> {
        self.config.proxy.or_else(|| uri_address(uri))
    }

    async fn on_command(&mut self, command: UaCommand) {
        match command {
            UaCommand::Invite { target, sdp } => {
                let Ok(uri) = target.parse::<Uri>() else {
                    self.emit(UaEvent::Failed {
                        status: 400,
                        reason: format!("`{target}` is not a SIP URI"),
                    });
                    return;
                };
                let Some(dest) = self.default_dest(&uri) else {
                    self.emit(UaEvent::Failed {
                        status: 404,
                        reason: format!("cannot resolve the host of {target}"),
                    });
                    return;
                };
                let mut local = self.aor.clone();
                local.params.set("tag", Some(&random_token(10)));
                let remote = NameAddr::new(uri.clone());
                let call_id = format!("{}@{}", random_token(20), self.local.ip());
                let (request, branch) = self.build_request(
                    Method::Invite,
                    uri.clone(),
                    Ids {
                        from: &local,
                        to: &remote,
                        call_id: &call_id,
                        cseq: 1,
                    },
                    Some(&sdp),
                );
                self.dialog = Some(Dialog {
                    call_id,
                    local,
                    remote,
                    remote_target: uri,
                    remote_addr: dest,
                    local_cseq: 1,
                    confirmed: false,
                    peer_allows_update: false,
                    invite: Some(request.clone()),
                    pending_invite: None,
                    pending_offer: None,
                    last_invite_response: None,
                    unacked_2xx: None,
                    last_ack: None,
                });
                self.start_txn(request, branch, dest, TxnPurpose::InitialInvite)
                    .await;
            }
            UaCommand::Respond {
                status,
                reason,
                sdp,
            } => {
                let Some(d) = &self.dialog else { return };
                let Some((invite, from)) = d.pending_invite.clone() else {
                    return;
                };
                let response = self.response_for(&invite, status, &reason, sdp.as_deref());
                let bytes = response.to_bytes();
                self.send_bytes(&bytes, from).await;
                let branch = invite
                    .headers
                    .top_via()
                    .ok()
                    .and_then(|v| v.branch().map(str::to_string))
                    .unwrap_or_default();
                let now = Instant::now();
                let t1 = self.config.t1;
                if let Some(d) = &mut self.dialog {
                    if status >= 200 {
                        d.pending_invite = None;
                        d.last_invite_response = Some((branch, bytes.clone(), from));
                    }
                    if (200..300).contains(&status) {
                        d.confirmed = true;
                        d.unacked_2xx = Some((bytes, from, now + t1, t1, now + t1 * 64));
                    }
                }
                if status >= 300 {
                    self.dialog = None;
                }
            }
            UaCommand::Offer { method, sdp } => {
                let Some(d) = &mut self.dialog else { return };
                d.local_cseq += 1;
                let (cseq, from, to, call_id, target, dest) = (
                    d.local_cseq,
                    d.local.clone(),
                    d.remote.clone(),
                    d.call_id.clone(),
                    d.remote_target.clone(),
                    self.config.proxy.unwrap_or(d.remote_addr),
                );
                let m = match method {
                    OfferMethod::Update => Method::Update,
                    OfferMethod::Invite => Method::Invite,
                };
                let (request, branch) = self.build_request(
                    m,
                    target,
                    Ids {
                        from: &from,
                        to: &to,
                        call_id: &call_id,
                        cseq,
                    },
                    Some(&sdp),
                );
                self.start_txn(request, branch, dest, TxnPurpose::InDialog(method))
                    .await;
            }
            UaCommand::AnswerOffer {
                status,
                reason,
                sdp,
            } => {
                let Some(d) = &mut self.dialog else { return };
                let Some((request, from)) = d.pending_offer.take() else {
                    return;
                };
                let response = self.response_for(&request, status, &reason, sdp.as_deref());
                let bytes = response.to_bytes();
                if request.method == Method::Invite {
                    let now = Instant::now();
                    let t1 = self.config.t1;
                    let branch = request
                        .headers
                        .top_via()
                        .ok()
                        .and_then(|v| v.branch().map(str::to_string))
                        .unwrap_or_default();
                    if let Some(d) = &mut self.dialog {
                        d.last_invite_response = Some((branch, bytes.clone(), from));
                        if (200..300).contains(&status) {
                            d.unacked_2xx =
                                Some((bytes.clone(), from, now + t1, t1, now + t1 * 64));
                        }
                    }
                }
                self.send_bytes(&bytes, from).await;
            }
            UaCommand::Cancel => {
                let Some(d) = &self.dialog else { return };
                if d.confirmed {
                    return;
                }
                let Some(invite) = d.invite.clone() else {
                    return;
                };
                let dest = d.remote_addr;
                // RFC 3261 §9.1: CANCEL only after a provisional response; we send it anyway
                // when asked and let the transaction rules sort it out.
                let cancel = invite.cancel();
                let branch = invite
                    .headers
                    .top_via()
                    .ok()
                    .and_then(|v| v.branch().map(str::to_string))
                    .unwrap_or_default();
                self.start_txn(cancel, format!("{branch}-cancel"), dest, TxnPurpose::Cancel)
                    .await;
            }
            UaCommand::Bye => {
                let Some(d) = &mut self.dialog else {
                    self.emit(UaEvent::HangupDone);
                    return;
                };
                d.local_cseq += 1;
                let (cseq, from, to, call_id, target, dest) = (
                    d.local_cseq,
                    d.local.clone(),
                    d.remote.clone(),
                    d.call_id.clone(),
                    d.remote_target.clone(),
                    self.config.proxy.unwrap_or(d.remote_addr),
                );
                let (request, branch) = self.build_request(
                    Method::Bye,
                    target,
                    Ids {
                        from: &from,
                        to: &to,
                        call_id: &call_id,
                        cseq,
                    },
                    None,
                );
                self.start_txn(request, branch, dest, TxnPurpose::Bye).await;
            }
            UaCommand::Register { expires } => self.send_register(expires).await,
        }
    }

    async fn send_register(&mut self, expires: u32) {
        let Some(aor_uri) = self.aor.uri.as_sip().cloned() else {
            self.emit(UaEvent::RegisterFailed {
                status: 400,
                reason: "the AOR is not a sip: URI".into(),
            });
            return;
        };
        // RFC 3261 §10.2: the Request-URI is the registrar's domain (no user part).
        let mut registrar = SipUri::new(None, aor_uri.host.clone());
        registrar.port = aor_uri.port;
        let uri = Uri::Sip(registrar);
        let Some(dest) = self.default_dest(&uri) else {
            self.emit(UaEvent::RegisterFailed {
                status: 404,
                reason: "cannot resolve the registrar".into(),
            });
            return;
        };
        self.register_cseq += 1;
        let mut from = self.aor.clone();
        from.params.set("tag", Some(&random_token(10)));
        let to = self.aor.clone();
        let call_id = self.register_call_id.clone();
        let (mut request, branch) = self.build_request(
            Method::Register,
            uri.clone(),
            Ids {
                from: &from,
                to: &to,
                call_id: &call_id,
                cseq: self.register_cseq,
            },
            None,
        );
        request.headers.push("Expires", expires.to_string());
        if let Some(mut digest) = self.digest.as_ref().and_then(|d| d.lock().ok()) {
            if let Ok(headers) = digest.authorization_headers("REGISTER", &uri.to_string(), b"") {
                for h in headers {
                    request.headers.push(h.name, h.value);
                }
            }
        }
        self.start_txn(request, branch, dest, TxnPurpose::Register { expires })
            .await;
    }

    fn response_for(
        &self,
        request: &Request,
        status: u16,
        reason: &str,
        sdp: Option<&str>,
    ) -> Response {
        let tag = self
            .dialog
            .as_ref()
            .and_then(|d| d.local.tag().map(str::to_string))
            .unwrap_or_else(|| random_token(10));
        let mut r = Response::for_request(request, status, reason);
        if status != 100 {
            r = r.with_to_tag(&tag);
        }
        if (101..300).contains(&status) && matches!(request.method, Method::Invite | Method::Update)
        {
            r = r
                .with_header("Contact", self.contact().to_string())
                .with_header("Allow", self.allow());
        }
        if let Some(sdp) = sdp {
            r = r.with_body("application/sdp", sdp.as_bytes().to_vec());
        }
        r
    }

    async fn on_datagram(&mut self, data: &[u8], from: SocketAddr) {
        if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return; // RFC 5626 keepalive
        }
        if let Some(c) = &self.config.capture {
            c.record(from, self.local, data);
        }
        match parse_datagram(data) {
            Ok(Message::Request(mut request)) => {
                // RFC 3581 §4: note where the request really came from.
                let _ = sip::message::fill_received_rport(&mut request, from);
                self.on_request(request, from).await;
            }
            Ok(Message::Response(response)) => self.on_response(response).await,
            Err(e) => tracing::debug!(%from, "unparseable SIP datagram dropped: {e}"),
        }
    }

    async fn reply(&self, request: &Request, status: u16, reason: &str, to: SocketAddr) {
        let r = self.response_for(request, status, reason, None);
        self.send_bytes(&r.to_bytes(), to).await;
    }

    async fn on_request(&mut self, request: Request, from: SocketAddr) {
        let call_id = request.headers.call_id().unwrap_or_default().to_string();
        let in_dialog = self.dialog.as_ref().is_some_and(|d| d.call_id == call_id);
        let branch = request
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        match request.method {
            Method::Invite if !in_dialog => {
                if self.dialog.is_some() || self.config.max_calls == 0 {
                    // RFC 3261 §21.4.24: busy beyond --max-calls.
                    self.reply(&request, 486, "Busy Here", from).await;
                    return;
                }
                let remote = request.headers.from_addr().ok();
                let Some(remote) = remote else {
                    self.reply(&request, 400, "Bad From", from).await;
                    return;
                };
                let mut local = request
                    .headers
                    .to_addr()
                    .unwrap_or_else(|_| self.aor.clone());
                local.params.set("tag", Some(&random_token(10)));
                let contact = request
                    .headers
                    .contacts()
                    .ok()
                    .and_then(|c| first_contact(&c));
                let (remote_target, remote_addr) = match contact {
                    Some(uri) => {
                        let addr = uri_address(&uri).unwrap_or(from);
                        (uri, addr)
                    }
                    None => (remote.uri.clone(), from),
                };
                let peer_allows_update = allows_update(&request.headers);
                let sdp = sdp_body(&request.body).unwrap_or_default();
                self.dialog = Some(Dialog {
                    call_id,
                    local,
                    remote: remote.clone(),
                    remote_target,
                    remote_addr,
                    local_cseq: 0,
                    confirmed: false,
                    peer_allows_update,
                    invite: None,
                    pending_invite: Some((request.clone(), from)),
                    pending_offer: None,
                    last_invite_response: None,
                    unacked_2xx: None,
                    last_ack: None,
                });
                // RFC 3261 §17.2.1: 100 Trying at once.
                self.reply(&request, 100, "Trying", from).await;
                self.emit(UaEvent::Incoming {
                    from: remote.to_string(),
                    sdp,
                    peer_allows_update,
                });
            }
            Method::Update if !self.config.allow_update => {
                self.reply(&request, 501, "Not Implemented", from).await;
            }
            Method::Invite | Method::Update => {
                let Some(d) = &mut self.dialog else { return };
                // A retransmission of an INVITE we answered: resend the answer.
                if let Some((b, bytes, to)) = &d.last_invite_response {
                    if *b == branch {
                        let (bytes, to) = (bytes.clone(), *to);
                        self.send_bytes(&bytes, to).await;
                        return;
                    }
                }
                if d.pending_invite.as_ref().is_some_and(|(r, _)| {
                    r.headers
                        .top_via()
                        .ok()
                        .and_then(|v| v.branch().map(str::to_string))
                        == Some(branch.clone())
                }) {
                    return; // initial INVITE retransmitted before our final response
                }
                if d.pending_offer.is_some() {
                    // RFC 3311 §5.2: an offer while one is pending gets 491.
                    self.reply(&request, 491, "Request Pending", from).await;
                    return;
                }
                if request.method == Method::Invite {
                    // RFC 3261 §12.2.2: a re-INVITE may refresh the remote target.
                    if let Some(uri) = request
                        .headers
                        .contacts()
                        .ok()
                        .and_then(|c| first_contact(&c))
                    {
                        if let Some(addr) = uri_address(&uri) {
                            d.remote_addr = addr;
                        }
                        d.remote_target = uri;
                    }
                    let r = Response::for_request(&request, 100, "Trying");
                    let bytes = r.to_bytes();
                    d.pending_offer = Some((request.clone(), from));
                    self.send_bytes(&bytes, from).await;
                } else {
                    d.pending_offer = Some((request.clone(), from));
                }
                let method = if request.method == Method::Invite {
                    OfferMethod::Invite
                } else {
                    OfferMethod::Update
                };
                self.emit(UaEvent::OfferReceived {
                    method,
                    sdp: sdp_body(&request.body).unwrap_or_default(),
                });
            }
            Method::Ack => {
                if let Some(d) = &mut self.dialog {
                    if d.call_id == call_id && d.unacked_2xx.take().is_some() {
                        self.emit(UaEvent::Acked);
                    }
                }
            }
            Method::Bye => {
                if in_dialog {
                    self.reply(&request, 200, "OK", from).await;
                    self.dialog = None;
                    self.emit(UaEvent::RemoteHangup { cancelled: false });
                } else {
                    // RFC 3261 §15.1.2: BYE for no dialog → 481.
                    self.reply(&request, 481, "Call/Transaction Does Not Exist", from)
                        .await;
                }
            }
            Method::Cancel => {
                let pending = self
                    .dialog
                    .as_ref()
                    .and_then(|d| d.pending_invite.clone())
                    .filter(|(r, _)| {
                        r.headers
                            .top_via()
                            .ok()
                            .and_then(|v| v.branch().map(str::to_string))
                            == Some(branch.clone())
                    });
                match pending {
                    Some((invite, invite_from)) => {
                        // RFC 3261 §9.2: 200 to the CANCEL, 487 to the INVITE.
                        self.reply(&request, 200, "OK", from).await;
                        let r = self.response_for(&invite, 487, "Request Terminated", None);
                        self.send_bytes(&r.to_bytes(), invite_from).await;
                        self.dialog = None;
                        self.emit(UaEvent::RemoteHangup { cancelled: true });
                    }
                    None => {
                        self.reply(&request, 481, "Call/Transaction Does Not Exist", from)
                            .await
                    }
                }
            }
            Method::Options => {
                let r = self
                    .response_for(&request, 200, "OK", None)
                    .with_header("Allow", self.allow());
                self.send_bytes(&r.to_bytes(), from).await;
            }
            _ => self.reply(&request, 501, "Not Implemented", from).await,
        }
    }

    async fn on_response(&mut self, response: Response) {
        let branch = response
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        let status = response.status;
        let Some(index) = self.txns.iter().position(|t| t.branch == branch) else {
            // A retransmitted 2xx to our INVITE: ACK again (RFC 3261 §13.2.2.4).
            if (200..300).contains(&status) {
                if let Some(ack) = self.dialog.as_ref().and_then(|d| d.last_ack.clone()) {
                    let dest = self
                        .dialog
                        .as_ref()
                        .map(|d| self.config.proxy.unwrap_or(d.remote_addr));
                    if let Some(dest) = dest {
                        self.send_bytes(&ack, dest).await;
                    }
                }
            }
            return;
        };
        if status < 200 {
            if let Some(t) = self.txns.get_mut(index) {
                // RFC 3261 §17.1.1.2: a provisional stops INVITE retransmissions; for
                // non-INVITE the interval becomes T2 (§17.1.2.2).
                if t.request.method == Method::Invite {
                    t.next = None;
                } else {
                    t.interval = T2;
                }
                if t.purpose == TxnPurpose::InitialInvite && status > 100 {
                    if let Some(d) = &mut self.dialog {
                        if let Ok(to) = response.headers.to_addr() {
                            d.remote = to;
                        }
                    }
                    self.emit(UaEvent::Provisional { status });
                }
            }
            return;
        }
        let txn = self.txns.remove(index);
        let is_invite = txn.request.method == Method::Invite;
        if is_invite && status >= 300 {
            // RFC 3261 §17.1.1.3: ACK a non-2xx final in the same transaction.
            let ack = txn.request.ack_for_non_2xx(&response);
            self.send_bytes(&ack.to_bytes(), txn.dest).await;
        }
        if (status == 401 || status == 407)
            && matches!(
                txn.purpose,
                TxnPurpose::InitialInvite | TxnPurpose::Register { .. }
            )
            && self.retry_with_auth(&txn, &response).await
        {
            return;
        }
        match txn.purpose {
            TxnPurpose::InitialInvite => {
                if (200..300).contains(&status) {
                    self.confirm_dialog(&response).await;
                    if let Some(mut digest) = self.digest.as_ref().and_then(|d| d.lock().ok()) {
                        digest.on_success();
                    }
                    let peer_allows_update = allows_update(&response.headers);
                    if let Some(d) = &mut self.dialog {
                        d.peer_allows_update = peer_allows_update;
                    }
                    self.emit(UaEvent::Answered {
                        sdp: sdp_body(&response.body).unwrap_or_default(),
                        peer_allows_update,
                    });
                } else {
                    let mut reason = response.reason.clone();
                    if (300..400).contains(&status) {
                        if let Some(c) = response.headers.get(HeaderName::Contact) {
                            reason = format!("{reason} (redirected to {c}; not followed)");
                        }
                    }
                    self.on_final_failure(txn.purpose, status, &reason);
                }
            }
            TxnPurpose::InDialog(method) => {
                if is_invite && (200..300).contains(&status) {
                    self.send_ack(&response).await;
                }
                self.emit(UaEvent::OfferAnswered {
                    method,
                    status,
                    sdp: sdp_body(&response.body),
                });
            }
            TxnPurpose::Bye => {
                self.dialog = None;
                self.emit(UaEvent::HangupDone);
            }
            TxnPurpose::Cancel => {}
            TxnPurpose::Register { expires } => {
                if (200..300).contains(&status) {
                    if let Some(mut digest) = self.digest.as_ref().and_then(|d| d.lock().ok()) {
                        digest.on_success();
                    }
                    let granted = response
                        .headers
                        .contacts()
                        .ok()
                        .and_then(|c| first_contact_expires(&c))
                        .or_else(|| response.headers.expires().ok().flatten())
                        .unwrap_or(expires);
                    self.emit(UaEvent::Registered {
                        expires: granted,
                        public_address: sip::message::learned_public_address(&response),
                    });
                } else {
                    self.on_final_failure(txn.purpose, status, &response.reason);
                }
            }
        }
    }

    /// RFC 3261 §22.2: answer the challenge and resend with CSeq + 1. False when the
    /// credentials are missing or were refused.
    async fn retry_with_auth(&mut self, txn: &ClientTxn, response: &Response) -> bool {
        let mut request = txn.request.clone();
        let Some(headers) = self.answer_challenge(response, &request) else {
            return false;
        };
        request.headers.remove("Authorization");
        request.headers.remove("Proxy-Authorization");
        for h in headers {
            request.headers.push(h.name, h.value);
        }
        // RFC 3261 §22.1 (checklist §10.9): the retry increments CSeq.
        let Ok(cseq) = request.headers.cseq() else {
            return false;
        };
        let next = cseq.seq + 1;
        request
            .headers
            .set("CSeq", format!("{next} {}", cseq.method));
        if let TxnPurpose::Register { .. } = txn.purpose {
            self.register_cseq = next;
        }
        if let Some(d) = &mut self.dialog {
            if txn.purpose == TxnPurpose::InitialInvite {
                d.local_cseq = next;
            }
        }
        let branch = new_branch();
        request.headers.remove("Via");
        request
            .headers
            .push_front("Via", self.via(&branch).to_string());
        if let Some(d) = &mut self.dialog {
            if txn.purpose == TxnPurpose::InitialInvite {
                d.invite = Some(request.clone());
            }
        }
        self.start_txn(request, branch, txn.dest, txn.purpose).await;
        true
    }

    /// The authorization headers answering the challenges in `response` for `request`.
    fn answer_challenge(
        &self,
        response: &Response,
        request: &Request,
    ) -> Option<Vec<sip::auth::AuthHeader>> {
        let mut digest = self.digest.as_ref()?.lock().ok()?;
        let values: Vec<&str> = if response.status == 401 {
            response.headers.www_authenticate().collect()
        } else {
            response.headers.proxy_authenticate().collect()
        };
        digest.on_challenge(response.status, &values).ok()?;
        digest
            .authorization_headers(
                request.method.as_str(),
                &request.uri.to_string(),
                &request.body,
            )
            .ok()
    }

    async fn confirm_dialog(&mut self, response: &Response) {
        if let Some(d) = &mut self.dialog {
            d.confirmed = true;
            if let Ok(to) = response.headers.to_addr() {
                d.remote = to;
            }
            if let Some(uri) = response
                .headers
                .contacts()
                .ok()
                .and_then(|c| first_contact(&c))
            {
                if let Some(addr) = uri_address(&uri) {
                    d.remote_addr = addr;
                }
                d.remote_target = uri;
            }
        }
        self.send_ack(response).await;
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx is a new transaction to the remote target, with
    /// the INVITE's CSeq number.
    async fn send_ack(&mut self, response: &Response) {
        let Some(d) = &self.dialog else { return };
        let seq = response
            .headers
            .cseq()
            .map(|c| c.seq)
            .unwrap_or(d.local_cseq);
        let (request, _) = self.build_request(
            Method::Ack,
            d.remote_target.clone(),
            Ids {
                from: &d.local,
                to: &d.remote,
                call_id: &d.call_id,
                cseq: seq,
            },
            None,
        );
        let dest = self.config.proxy.unwrap_or(d.remote_addr);
        let bytes = request.to_bytes();
        self.send_bytes(&bytes, dest).await;
        if let Some(d) = &mut self.dialog {
            d.last_ack = Some(bytes);
        }
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
