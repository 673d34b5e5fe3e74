//! The TURN client state machine (RFC 8656 over UDP, TCP or TLS).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::request::Request;
use super::timing::{
    refresh_delay, CHANNEL_LIFETIME, MAX_STALE_NONCE_RETRIES, PERMISSION_LIFETIME,
    REQUESTED_LIFETIME,
};
use super::{TurnCredentials, TurnError, TurnEvent, TurnReceived, TurnTransport};
use crate::stun::{
    decode_channel_data, encode_channel_data, verify_integrity, Attribute, Class,
    ClientTransaction, IntegrityKey, Message, Method, Outcome, RetransmitConfig, TransactionId,
};

/// RFC 8656 §12: channel numbers 0x4000 through 0x4FFF.
const FIRST_CHANNEL: u16 = 0x4000;
const LAST_CHANNEL: u16 = 0x4FFF;

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Allocating,
    Allocated {
        relayed: SocketAddr,
        refresh_at: Instant,
    },
    /// Refresh with LIFETIME 0 in flight.
    Closing,
    Failed,
    Closed,
}

/// REALM and NONCE from the server, and the long-term key (RFC 8489 §9.2.2).
struct Auth {
    realm: String,
    nonce: String,
    key: IntegrityKey,
}

struct Pending {
    request: Request,
    transaction: ClientTransaction,
    /// Whether the request carried credentials (a 401 to it means wrong credentials).
    authenticated: bool,
    stale_retries: u8,
}

#[derive(Clone, Copy, Debug)]
struct Permission {
    installed: bool,
    refresh_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Channel {
    number: u16,
    bound: bool,
    refresh_at: Option<Instant>,
}

/// How a [`TurnClient`] talks to its server.
#[derive(Clone, Copy, Debug)]
pub struct TurnClientOptions {
    /// UDP (default), or TCP/TLS with the caller owning the connection (RFC 8656 §3.1).
    pub transport: TurnTransport,
    /// Refresh, CreatePermission and ChannelBind: RFC 8489 §6.2.1 retransmissions over UDP;
    /// over a stream only its total (Ti, 39.5 s by default, §6.2.2) counts.
    pub retransmit: RetransmitConfig,
    /// The Allocate exchange. A gatherer gives it the schedule of its other servers, so a
    /// TURN server that does not answer is given up as soon as a STUN server would be.
    pub allocate_retransmit: RetransmitConfig,
}

impl Default for TurnClientOptions {
    fn default() -> Self {
        TurnClientOptions {
            transport: TurnTransport::Udp,
            retransmit: RetransmitConfig::default(),
            allocate_retransmit: RetransmitConfig::default(),
        }
    }
}

/// One allocation on one TURN server, from one local socket (the 5-tuple is fixed, RFC 8656 §2).
/// Over TCP or TLS `local` names the host socket the allocation belongs to; the caller keeps
/// one connection per (local, server).
pub struct TurnClient {
    local: SocketAddr,
    server: SocketAddr,
    credentials: TurnCredentials,
    rng: ChaCha8Rng,
    options: TurnClientOptions,
    state: State,
    /// close() was called before the allocation completed: delete it as soon as it exists.
    close_requested: bool,
    auth: Option<Auth>,
    transactions: Vec<Pending>,
    indications: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
    // BTreeMaps: iteration order (and so the order of requests) is deterministic.
    permissions: BTreeMap<IpAddr, Permission>,
    channels: BTreeMap<SocketAddr, Channel>,
    next_channel: u16,
}

impl TurnClient {
    /// `local` is the base socket address the client sends from (the 5-tuple is fixed).
    /// The Allocate exchange starts at once: poll_transmit has the first request.
    pub fn new(
        local: SocketAddr,
        server: SocketAddr,
        credentials: TurnCredentials,
        now: Instant,
        rng_seed: u64,
    ) -> Self {
        Self::with_retransmit(
            local,
            server,
            credentials,
            now,
            rng_seed,
            RetransmitConfig::default(),
        )
    }

    /// As [`TurnClient::new`], with an explicit RFC 8489 §6.2.1 retransmission schedule.
    pub fn with_retransmit(
        local: SocketAddr,
        server: SocketAddr,
        credentials: TurnCredentials,
        now: Instant,
        rng_seed: u64,
        retransmit: RetransmitConfig,
    ) -> Self {
        let options = TurnClientOptions {
            retransmit,
            allocate_retransmit: retransmit,
            ..TurnClientOptions::default()
        };
        Self::with_options(local, server, credentials, now, rng_seed, options)
    }

    /// As [`TurnClient::new`], over `options.transport` and with its schedules.
    pub fn with_options(
        local: SocketAddr,
        server: SocketAddr,
        credentials: TurnCredentials,
        now: Instant,
        rng_seed: u64,
        options: TurnClientOptions,
    ) -> Self {
        let mut client = Self {
            local,
            server,
            credentials,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            options,
            state: State::Allocating,
            close_requested: false,
            auth: None,
            transactions: Vec::new(),
            indications: VecDeque::new(),
            events: VecDeque::new(),
            permissions: BTreeMap::new(),
            channels: BTreeMap::new(),
            next_channel: FIRST_CHANNEL,
        };
        client.start(
            now,
            Request::Allocate {
                lifetime: secs(REQUESTED_LIFETIME),
            },
            0,
        );
        client
    }

    /// The TURN server's address: every transmit goes there, and only datagrams from it are
    /// accepted.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The local socket the allocation belongs to (the client's end of the 5-tuple).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// How the server is reached.
    pub fn transport(&self) -> TurnTransport {
        self.options.transport
    }

    /// The relayed transport address while the allocation exists (from
    /// XOR-RELAYED-ADDRESS, RFC 8656 §7.3); `None` before, and after it failed or was closed.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// True once `close` has run its course: the allocation was deleted (or the server
    /// said it was already gone), the deletion failed, or there was no allocation left to
    /// delete. An allocation that failed without `close` being called is not closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Feed a datagram that arrived on `local`. Returns peer data carried by a Data indication
    /// or ChannelData. Datagrams from anyone but the server are ignored.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<TurnReceived> {
        if from != self.server {
            tracing::trace!(%from, "TURN client: datagram not from the server, ignored");
            return None;
        }
        // RFC 8656 §12.4 / RFC 7983: 0b01 in the two leading bits is ChannelData.
        if data.first().is_some_and(|b| b & 0xC0 == 0x40) {
            return self.channel_data(data);
        }
        let message = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "TURN client: undecodable datagram from the server");
                return None;
            }
        };
        match message.class {
            Class::Indication if message.method == Method::Data => self.data_indication(&message),
            Class::Success | Class::Error => {
                self.response(now, data, message);
                None
            }
            _ => None,
        }
    }

    /// Drive the timers: retransmissions and timeouts of requests in flight, and refreshes
    /// of the allocation, permissions and channels that are due (see [`refresh_delay`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut finished = Vec::new();
        let mut index = 0;
        while index < self.transactions.len() {
            let done = match self.transactions.get_mut(index) {
                Some(pending) => {
                    pending.transaction.handle_timeout(now);
                    pending.transaction.is_done()
                }
                None => false,
            };
            if done {
                finished.push(self.transactions.remove(index));
            } else {
                index += 1;
            }
        }
        for mut pending in finished {
            if let Some(outcome) = pending.transaction.poll_outcome() {
                self.outcome(now, pending, outcome);
            }
        }
        self.refresh_due(now);
    }

    /// The next message to send, as (destination, bytes); the destination is always the
    /// server. Over TCP/TLS the bytes are one whole message for the stream. Indications and
    /// ChannelData queued by `send_to` come first, then requests and retransmissions.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some(bytes) = self.indications.pop_front() {
            return Some((self.server, bytes));
        }
        self.transactions
            .iter_mut()
            .find_map(|p| p.transaction.poll_transmit())
            .map(|bytes| (self.server, bytes))
    }

    /// When `handle_timeout` must be called next: the earliest retransmission, request
    /// timeout or refresh; `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let transactions = self
            .transactions
            .iter()
            .filter_map(|p| p.transaction.poll_timeout());
        let allocation = match self.state {
            State::Allocated { refresh_at, .. } if !self.refresh_in_flight() => Some(refresh_at),
            _ => None,
        };
        let permissions = self
            .permissions
            .iter()
            .filter(|(ip, _)| !self.permission_in_flight(**ip))
            .filter_map(|(_, p)| p.refresh_at);
        let channels = self
            .channels
            .iter()
            .filter(|(peer, _)| !self.channel_in_flight(**peer))
            .filter_map(|(_, c)| c.refresh_at);
        transactions
            .chain(allocation)
            .chain(permissions)
            .chain(channels)
            .min()
    }

    /// The next event, oldest first; drain it after every input.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// RFC 8656 §9: a permission for a peer IP, refreshed automatically before its 300 s expire.
    /// Asked for before the allocation exists, it is sent once the allocation succeeds.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) {
        if matches!(self.state, State::Failed | State::Closing | State::Closed) {
            self.events.push_back(TurnEvent::PermissionFailed {
                peer,
                reason: "no allocation".into(),
            });
            return;
        }
        if self.permissions.contains_key(&peer) {
            return;
        }
        self.permissions.insert(
            peer,
            Permission {
                installed: false,
                refresh_at: None,
            },
        );
        if matches!(self.state, State::Allocated { .. }) {
            self.start(now, Request::CreatePermission(peer), 0);
        }
    }

    /// Whether the server confirmed a permission for `peer` (RFC 8656 §9) that has not been
    /// lost since; Send indications to that IP are allowed.
    pub fn has_permission(&self, peer: IpAddr) -> bool {
        self.permissions.get(&peer).is_some_and(|p| p.installed)
    }

    /// RFC 8656 §12: bind a channel to `peer` (which also installs a permission for its IP);
    /// refreshed automatically. Data to this peer then goes as ChannelData.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) {
        if matches!(self.state, State::Failed | State::Closing | State::Closed)
            || self.channels.contains_key(&peer)
        {
            return;
        }
        if self.next_channel > LAST_CHANNEL {
            tracing::warn!(%peer, "TURN client: all channel numbers in use, not binding");
            return;
        }
        let number = self.next_channel;
        self.next_channel += 1;
        self.channels.insert(
            peer,
            Channel {
                number,
                bound: false,
                refresh_at: None,
            },
        );
        // The permission must outlive the channel's first 300 s, so it is kept separately.
        self.create_permission(now, peer.ip());
        if matches!(self.state, State::Allocated { .. }) {
            self.start(
                now,
                Request::ChannelBind {
                    peer,
                    channel: number,
                },
                0,
            );
        }
    }

    /// Send to a peer through the relay: ChannelData if a channel is bound, else a Send
    /// indication (RFC 8656 §11.1), which needs a permission for the peer's IP.
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<(), TurnError> {
        let _ = now;
        if !matches!(self.state, State::Allocated { .. }) {
            return Err(TurnError::NotAllocated);
        }
        if let Some(channel) = self.channels.get(&peer).filter(|c| c.bound) {
            // RFC 8656 §12.5: over TCP/TLS ChannelData is padded to a multiple of 4 bytes so
            // the next message starts aligned; over UDP it need not be.
            let pad = self.options.transport.is_stream();
            self.indications
                .push_back(encode_channel_data(channel.number, data, pad));
            return Ok(());
        }
        if !self.has_permission(peer.ip()) {
            return Err(TurnError::NoPermission(peer.ip()));
        }
        // RFC 8656 §11.1: Send indication with XOR-PEER-ADDRESS and DATA; never retransmitted.
        let id = TransactionId::random(&mut self.rng);
        let send = Message::new(Class::Indication, Method::Send, id)
            .with(Attribute::XorPeerAddress(peer))
            .with(Attribute::Data(data.to_vec()));
        self.indications.push_back(send.encode(None, true));
        Ok(())
    }

    /// RFC 8656 §8: delete the allocation with a Refresh of LIFETIME 0. Other requests in
    /// flight are abandoned; permissions and channels are forgotten.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Allocated { .. } => {
                self.transactions.clear();
                self.permissions.clear();
                self.channels.clear();
                self.state = State::Closing;
                self.start(now, Request::Refresh { lifetime: 0 }, 0);
            }
            State::Allocating => self.close_requested = true,
            State::Failed => self.state = State::Closed,
            State::Closing | State::Closed => {}
        }
    }

    /// The path to the server failed: over TCP/TLS the connection could not be opened (refused,
    /// TLS certificate not verified…) or closed; over UDP an ICMP error said nothing listens.
    /// The allocation's 5-tuple (RFC 8656 §2) is gone with it: whatever was in flight fails,
    /// and `AllocationFailed` names `reason` (nothing more when already failed or closed).
    pub fn transport_failed(&mut self, reason: &str) {
        match self.state {
            State::Allocating => {
                self.failed(Request::Allocate { lifetime: 0 }, reason.to_owned());
            }
            State::Allocated { .. } => {
                self.state = State::Failed;
                self.transactions.clear();
                self.permissions.clear();
                self.channels.clear();
                self.events.push_back(TurnEvent::AllocationFailed {
                    reason: format!("allocation lost: {reason}"),
                });
            }
            State::Closing => {
                // The allocation we were deleting went away with its connection.
                self.transactions.clear();
                self.state = State::Closed;
                self.events.push_back(TurnEvent::Deallocated);
            }
            State::Failed | State::Closed => {}
        }
    }

    fn start(&mut self, now: Instant, request: Request, stale_retries: u8) {
        let id = TransactionId::random(&mut self.rng);
        let mut message = request.message(id);
        let (encoded, authenticated) = match &self.auth {
            // RFC 8489 §9.2.4 (client side §9.2.3): USERNAME, REALM, NONCE, then
            // MESSAGE-INTEGRITY with the long-term key; FINGERPRINT last (§14.7).
            Some(auth) => {
                message.push(Attribute::Username(self.credentials.username.clone()));
                message.push(Attribute::Realm(auth.realm.clone()));
                message.push(Attribute::Nonce(auth.nonce.clone()));
                (message.encode(Some(&auth.key), true), true)
            }
            // RFC 8656 §7.1: the first Allocate goes without credentials to learn REALM/NONCE.
            None => (message.encode(None, true), false),
        };
        tracing::debug!(
            request = request.name(),
            authenticated,
            "TURN client: sending"
        );
        // RFC 8489 §6.2.1: retransmission over UDP is the transaction's job; §6.2.2: over
        // TCP/TLS the request is sent once and times out after Ti.
        let schedule = match request {
            Request::Allocate { .. } => self.options.allocate_retransmit,
            _ => self.options.retransmit,
        };
        let reliable = self.options.transport.is_stream();
        let transaction = ClientTransaction::new(&message, encoded, now, schedule, reliable);
        self.transactions.push(Pending {
            request,
            transaction,
            authenticated,
            stale_retries,
        });
    }

    fn response(&mut self, now: Instant, raw: &[u8], message: Message) {
        let Some(index) = self
            .transactions
            .iter()
            .position(|p| p.transaction.id() == message.transaction_id)
        else {
            // RFC 8489 §6.3: a response that matches no transaction is dropped.
            tracing::trace!("TURN client: response to no pending transaction, dropped");
            return;
        };
        let authenticated = self
            .transactions
            .get(index)
            .is_some_and(|p| p.authenticated);
        if authenticated && !self.integrity_ok(raw, &message) {
            // RFC 8489 §9.2.5: a response whose MESSAGE-INTEGRITY fails is discarded as if it
            // never arrived; the transaction keeps retransmitting.
            tracing::debug!("TURN client: response failed MESSAGE-INTEGRITY, discarded");
            return;
        }
        let mut pending = self.transactions.remove(index);
        if pending.transaction.handle_response(message).is_err() {
            // Cannot happen (the ID matched), but never lose a transaction over it.
            self.transactions.push(pending);
            return;
        }
        if let Some(outcome) = pending.transaction.poll_outcome() {
            self.outcome(now, pending, outcome);
        }
    }

    /// RFC 8489 §9.2.5: success responses to authenticated requests must carry a valid
    /// MESSAGE-INTEGRITY; 401 and 438 carry none (they come with a new NONCE instead); other
    /// error responses are checked when they carry one.
    fn integrity_ok(&self, raw: &[u8], message: &Message) -> bool {
        let Some(auth) = &self.auth else {
            return true;
        };
        let challenge = matches!(message.error_code(), Some((401 | 438, _)));
        if challenge || (message.class == Class::Error && !message.has_integrity()) {
            return true;
        }
        verify_integrity(raw, &auth.key).is_ok()
    }

    fn outcome(&mut self, now: Instant, pending: Pending, outcome: Outcome) {
        let message = match outcome {
            Outcome::TimedOut => return self.failed(pending.request, "timeout".into()),
            Outcome::Response(message) => message,
        };
        if !message.unknown_comprehension_required.is_empty() {
            // RFC 8489 §6.3.3: unknown comprehension-required attributes fail the transaction.
            let reason = format!(
                "response with unknown comprehension-required attributes {:04x?}",
                message.unknown_comprehension_required
            );
            return self.failed(pending.request, reason);
        }
        if message.class == Class::Success {
            return self.succeeded(now, pending.request, &message);
        }
        let (code, phrase) = message
            .error_code()
            .map(|(c, p)| (c, p.to_owned()))
            .unwrap_or((0, "error response without ERROR-CODE".into()));
        match code {
            // RFC 8489 §9.2.3: the challenge to an unauthenticated request.
            401 if !pending.authenticated => {
                let (Some(realm), Some(nonce)) = (message.realm(), message.nonce()) else {
                    let reason = format!("401 {phrase} without REALM and NONCE");
                    return self.failed(pending.request, reason);
                };
                let key = IntegrityKey::long_term(
                    &self.credentials.username,
                    realm,
                    &self.credentials.password,
                );
                self.auth = Some(Auth {
                    realm: realm.to_owned(),
                    nonce: nonce.to_owned(),
                    key,
                });
                self.start(now, pending.request, pending.stale_retries);
            }
            401 => {
                let reason = format!("401 wrong credentials: {phrase}");
                self.failed(pending.request, reason);
            }
            // RFC 8489 §9.2.5: 438 Stale Nonce → repeat with the new NONCE (bounded).
            438 if pending.stale_retries < MAX_STALE_NONCE_RETRIES => {
                let new_nonce = message.nonce().map(str::to_owned);
                let new_realm = message.realm().map(str::to_owned);
                match (&mut self.auth, new_nonce) {
                    (Some(auth), Some(nonce)) => {
                        auth.nonce = nonce;
                        if let Some(realm) = new_realm.filter(|r| *r != auth.realm) {
                            auth.key = IntegrityKey::long_term(
                                &self.credentials.username,
                                &realm,
                                &self.credentials.password,
                            );
                            auth.realm = realm;
                        }
                        self.start(now, pending.request, pending.stale_retries + 1);
                    }
                    _ => self.failed(pending.request, format!("438 {phrase} without NONCE")),
                }
            }
            // RFC 8489 §10 / RFC 8656 §7.4: 300 names another server; the 5-tuple is fixed, so
            // the caller decides whether to start a client there.
            300 => {
                let alternate = message.attributes.iter().find_map(|a| match a {
                    Attribute::AlternateServer(addr) => Some(*addr),
                    _ => None,
                });
                let reason = match alternate {
                    Some(addr) => format!("300 {phrase} (ALTERNATE-SERVER {addr})"),
                    None => format!("300 {phrase}"),
                };
                self.failed(pending.request, reason);
            }
            // 437, 441, 442, 486, 508 ... and 438 once too often: no retry (RFC 8656 §7.4).
            _ => self.failed(pending.request, format!("{code} {phrase}")),
        }
    }

    fn succeeded(&mut self, now: Instant, request: Request, message: &Message) {
        match request {
            Request::Allocate { .. } => self.allocated(now, message),
            Request::Refresh { lifetime: 0 } => {
                self.state = State::Closed;
                self.events.push_back(TurnEvent::Deallocated);
            }
            Request::Refresh { .. } => {
                let granted = granted_lifetime(message);
                if let State::Allocated { refresh_at, .. } = &mut self.state {
                    *refresh_at = now + refresh_delay(granted);
                }
            }
            Request::CreatePermission(peer) => self.permission_installed(now, peer),
            Request::ChannelBind { peer, channel } => {
                let Some(entry) = self.channels.get_mut(&peer) else {
                    return;
                };
                let first = !entry.bound;
                entry.bound = true;
                entry.refresh_at = Some(now + refresh_delay(CHANNEL_LIFETIME));
                // RFC 8656 §12.2: a ChannelBind also installs/refreshes the peer's permission.
                self.permission_installed(now, peer.ip());
                if first {
                    self.events
                        .push_back(TurnEvent::ChannelBound { peer, channel });
                }
            }
        }
    }

    fn allocated(&mut self, now: Instant, message: &Message) {
        let Some(relayed) = message.xor_relayed_address() else {
            let reason = "Allocate success without XOR-RELAYED-ADDRESS".to_owned();
            return self.failed(Request::Allocate { lifetime: 0 }, reason);
        };
        let mapped = message.mapped_address().unwrap_or(self.local);
        let lifetime = granted_lifetime(message);
        self.state = State::Allocated {
            relayed,
            refresh_at: now + refresh_delay(lifetime),
        };
        tracing::debug!(%relayed, %mapped, ?lifetime, "TURN client: allocated");
        self.events.push_back(TurnEvent::Allocated {
            relayed,
            mapped,
            lifetime,
        });
        if self.close_requested {
            return self.close(now);
        }
        // Permissions and channels asked for while allocating go out now.
        let peers: Vec<IpAddr> = self.permissions.keys().copied().collect();
        for peer in peers {
            self.start(now, Request::CreatePermission(peer), 0);
        }
        let channels: Vec<(SocketAddr, u16)> =
            self.channels.iter().map(|(p, c)| (*p, c.number)).collect();
        for (peer, channel) in channels {
            self.start(now, Request::ChannelBind { peer, channel }, 0);
        }
    }

    fn permission_installed(&mut self, now: Instant, peer: IpAddr) {
        let entry = self.permissions.entry(peer).or_insert(Permission {
            installed: false,
            refresh_at: None,
        });
        let first = !entry.installed;
        entry.installed = true;
        entry.refresh_at = Some(now + refresh_delay(PERMISSION_LIFETIME));
        if first {
            self.events.push_back(TurnEvent::PermissionCreated(peer));
        }
    }

    fn failed(&mut self, request: Request, reason: String) {
        tracing::debug!(request = request.name(), %reason, "TURN client: request failed");
        match request {
            Request::Allocate { .. } => {
                self.state = if self.close_requested {
                    State::Closed
                } else {
                    State::Failed
                };
                self.transactions.clear();
                self.permissions.clear();
                self.channels.clear();
                self.events
                    .push_back(TurnEvent::AllocationFailed { reason });
            }
            Request::Refresh { lifetime: 0 } => {
                self.state = State::Closed;
                if reason.starts_with("437") {
                    // RFC 8656 §8: the allocation is already gone, which is what we wanted.
                    self.events.push_back(TurnEvent::Deallocated);
                } else {
                    self.events.push_back(TurnEvent::AllocationFailed {
                        reason: format!("deallocation failed: {reason}"),
                    });
                }
            }
            Request::Refresh { .. } => {
                self.state = State::Failed;
                self.transactions.clear();
                self.permissions.clear();
                self.channels.clear();
                self.events.push_back(TurnEvent::AllocationFailed {
                    reason: format!("refresh failed: {reason}"),
                });
            }
            Request::CreatePermission(peer) => {
                self.permissions.remove(&peer);
                self.events
                    .push_back(TurnEvent::PermissionFailed { peer, reason });
            }
            Request::ChannelBind { peer, channel } => {
                // No event for this in the contract: data to the peer keeps using Send
                // indications as long as its permission holds.
                self.channels.remove(&peer);
                tracing::warn!(%peer, channel, %reason, "TURN client: ChannelBind failed");
            }
        }
    }

    fn refresh_due(&mut self, now: Instant) {
        if let State::Allocated { refresh_at, .. } = self.state {
            if refresh_at <= now && !self.refresh_in_flight() {
                // RFC 8656 §8: refresh before the allocation expires.
                self.start(
                    now,
                    Request::Refresh {
                        lifetime: secs(REQUESTED_LIFETIME),
                    },
                    0,
                );
            }
        } else {
            return;
        }
        let permissions: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(_, p)| p.refresh_at.is_some_and(|t| t <= now))
            .map(|(ip, _)| *ip)
            .filter(|ip| !self.permission_in_flight(*ip))
            .collect();
        for peer in permissions {
            // RFC 8656 §9: refresh a permission by repeating CreatePermission.
            self.start(now, Request::CreatePermission(peer), 0);
        }
        let channels: Vec<(SocketAddr, u16)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.refresh_at.is_some_and(|t| t <= now))
            .map(|(peer, c)| (*peer, c.number))
            .filter(|(peer, _)| !self.channel_in_flight(*peer))
            .collect();
        for (peer, channel) in channels {
            // RFC 8656 §12.1: refresh a binding by repeating ChannelBind with the same values.
            self.start(now, Request::ChannelBind { peer, channel }, 0);
        }
    }

    fn refresh_in_flight(&self) -> bool {
        self.transactions
            .iter()
            .any(|p| matches!(p.request, Request::Refresh { .. }))
    }

    fn permission_in_flight(&self, peer: IpAddr) -> bool {
        self.transactions
            .iter()
            .any(|p| p.request == Request::CreatePermission(peer))
    }

    fn channel_in_flight(&self, peer: SocketAddr) -> bool {
        self.transactions
            .iter()
            .any(|p| matches!(p.request, Request::ChannelBind { peer: q, .. } if q == peer))
    }

    /// RFC 8656 §11.4: a Data indication without XOR-PEER-ADDRESS or DATA, or from a peer with
    /// no permission, is discarded.
    fn data_indication(&self, message: &Message) -> Option<TurnReceived> {
        let peer = message.xor_peer_address()?;
        let data = message.data()?;
        if !self.has_permission(peer.ip()) {
            tracing::debug!(%peer, "TURN client: Data indication from a peer without permission");
            return None;
        }
        Some(TurnReceived {
            peer,
            data: data.to_vec(),
        })
    }

    /// RFC 8656 §12.6: ChannelData on an unbound channel is discarded.
    fn channel_data(&self, data: &[u8]) -> Option<TurnReceived> {
        let (number, payload) = match decode_channel_data(data) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(error = %e, "TURN client: bad ChannelData");
                return None;
            }
        };
        let peer = self
            .channels
            .iter()
            .find(|(_, c)| c.bound && c.number == number)
            .map(|(peer, _)| *peer)?;
        Some(TurnReceived {
            peer,
            data: payload.to_vec(),
        })
    }
}

/// LIFETIME of a success response; the RFC 8656 §7.2 default when absent.
fn granted_lifetime(message: &Message) -> Duration {
    message
        .lifetime()
        .map(|s| Duration::from_secs(u64::from(s)))
        .unwrap_or(REQUESTED_LIFETIME)
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
