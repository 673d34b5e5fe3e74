//! A sans-IO SIP user agent core: transport rules, transactions, dialogs, registration
//! and RFC 5626 outbound, on top of [`crate::message`], [`crate::transaction`],
//! [`crate::auth`] and [`crate::timers`].
//!
//! The endpoint owns no socket and reads no clock. The driver feeds it bytes
//! ([`Endpoint::handle_datagram`], [`Endpoint::handle_stream`]), connection changes and
//! `now`, and drains [`Endpoint::poll_transmit`], [`Endpoint::poll_event`] and
//! [`Endpoint::poll_timeout`]. Commands ([`Endpoint::invite`], [`Endpoint::respond`],
//! [`Endpoint::bye`], ...) queue transmits and events the same way.
//!
//! Bodies are opaque bytes with a content type ([`Body`]); the endpoint never parses SDP.
//!
//! ```
//! use std::time::Instant;
//! use sip::endpoint::{Endpoint, EndpointConfig, SipEvent, Body};
//!
//! let now = Instant::now();
//! let mut config = EndpointConfig::new("sip:alice@example.com");
//! config.udp_local = Some("127.0.0.1:5070".parse().unwrap());
//! let mut alice = Endpoint::new(config);
//! let call = alice
//!     .invite(now, "sip:bob@127.0.0.1:5080", Some(Body::new("application/sdp", b"v=0\r\n".to_vec())))
//!     .unwrap();
//! let tx = alice.poll_transmit().unwrap();
//! assert_eq!(tx.dest, "127.0.0.1:5080".parse().unwrap());
//! assert!(tx.bytes.starts_with(b"INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\n"));
//! # let _ = call;
//! ```

mod call;
mod client;
mod config;
mod dialog;
mod edits;
mod failover;
mod hop;
mod in_dialog;
mod keepalive;
mod limits;
mod outbound;
mod outgoing;
mod redirect;
mod refer;
mod registration;
mod server;
mod timed_map;
mod types;
mod uas;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::DigestClient;
use crate::message::{Method, StreamDecoder};
use crate::transaction::{ClientTransactionKey, ServerTransactionKey};

pub use config::{EndpointConfig, NextHop, MTU_MARGIN};
pub use edits::{BadHeaderLine, HeaderEdits};
pub use limits::{
    ServerLimits, DEFAULT_MAX_SERVER_TRANSACTIONS, DEFAULT_MAX_SERVER_TRANSACTIONS_PER_SOURCE,
    DEFAULT_OVERLOAD_RETRY_AFTER,
};
pub use redirect::DEFAULT_MAX_REDIRECTS;
pub use types::{
    Body, ConnId, DialogId, EndpointError, FlowFailure, FlowId, IncomingId, ReferId,
    RegistrationFailure, RequestId, SipEvent, TerminationReason, Transmit, TransportFailure,
    TransportKind,
};

use client::ClientEntry;
use dialog::Dialog;
use registration::Registration;
use server::ServerEntry;
use timed_map::TimedMap;

/// Methods we handle and list in Allow (RFC 3261 §20.5, RFC 3311 §5: include UPDATE;
/// RFC 3515 §2.4.2: REFER, and NOTIFY for its implicit subscription, within a call).
pub const ALLOWED_METHODS: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Update,
    Method::Refer,
    Method::Notify,
];

/// Option tags we list in Supported (RFC 5626 §4.2.1: outbound and path).
pub const SUPPORTED_TAGS: &[&str] = &["outbound", "path"];

/// An open TCP or TLS connection as the endpoint sees it.
#[derive(Debug)]
struct Connection {
    transport: TransportKind,
    local: SocketAddr,
    remote: SocketAddr,
    decoder: StreamDecoder,
}

/// The SIP user agent core. See the module documentation.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: StdRng,
    next_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SipEvent>,
    /// Transactions and dialogs with their timers indexed ([`timed_map`]): the next
    /// deadline is found without a scan however many there are.
    clients: TimedMap<ClientTransactionKey, ClientEntry>,
    servers: TimedMap<ServerTransactionKey, ServerEntry>,
    /// Live server transactions per source IP, for [`EndpointConfig::server_limits`].
    server_sources: limits::SourceCounts,
    /// The source IP of the request being handled (its transactions are counted there).
    request_source: Option<std::net::IpAddr>,
    /// Requests answered 503 because a cap was reached (for rate-limited logging).
    overload_rejections: u64,
    /// Messages sent again by a timer (RFC 3261 §17 Timers A, E, G and the UAS 2xx
    /// retransmission of §13.3.1.4): see [`Endpoint::retransmissions`].
    retransmissions: u64,
    incoming: HashMap<IncomingId, ServerTransactionKey>,
    dialogs: TimedMap<DialogId, Dialog>,
    /// Dialogs by (Call-ID, our tag), so a request or response finds its dialog without a
    /// scan (several while a forked INVITE has early dialogs).
    dialog_index: HashMap<(String, String), Vec<DialogId>>,
    conns: HashMap<ConnId, Connection>,
    /// Connections the driver must close (framing errors).
    closes: VecDeque<ConnId>,
    registration: Option<Registration>,
    /// Digest state for INVITE challenges (realms and nonce counts across calls).
    digest: Option<DigestClient>,
    /// RFC 3581 §3: the public address learned from the registrar, used in Contact when
    /// `use_learned_contact` is set.
    learned_contact: Option<SocketAddr>,
    /// RFC 3263 targets the TU resolved for domain names (lowercase host → hops, best
    /// first): the endpoint does no DNS itself.
    resolved: HashMap<String, Vec<NextHop>>,
    /// One-shot header edits for the next request of a method ([`Endpoint::edit_next_request`]).
    next_request_edits: Option<(Method, HeaderEdits)>,
    /// One-shot header edits for the next [`Endpoint::respond`].
    next_response_edits: Option<HeaderEdits>,
}

impl Endpoint {
    /// A new endpoint with a random seed.
    pub fn new(config: EndpointConfig) -> Endpoint {
        Self::with_rng(config, StdRng::from_rng(&mut rand::rng()))
    }

    /// A new endpoint whose tags, branches and back-off delays come from `seed`
    /// (reproducible tests).
    pub fn with_seed(config: EndpointConfig, seed: u64) -> Endpoint {
        Self::with_rng(config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: EndpointConfig, rng: StdRng) -> Endpoint {
        let resolved = config
            .resolved_hosts
            .iter()
            .map(|(host, targets)| (host.to_ascii_lowercase(), targets.clone()))
            .collect();
        let digest = config.credentials.clone().map(DigestClient::new);
        Endpoint {
            config,
            rng,
            next_id: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            clients: TimedMap::new(),
            servers: TimedMap::new(),
            server_sources: limits::SourceCounts::default(),
            request_source: None,
            overload_rejections: 0,
            retransmissions: 0,
            incoming: HashMap::new(),
            dialogs: TimedMap::new(),
            dialog_index: HashMap::new(),
            conns: HashMap::new(),
            closes: VecDeque::new(),
            registration: None,
            digest,
            learned_contact: None,
            resolved,
            next_request_edits: None,
            next_response_edits: None,
        }
    }

    /// How many messages timers have sent again so far: requests of client transactions
    /// (Timers A and E), final responses of INVITE server transactions (Timer G) and a UAS's
    /// 2xx to an INVITE awaiting its ACK. Unreliable transports only (reliable ones run
    /// no retransmission timers); answers to a peer's retransmitted request are not counted.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// The configuration in use.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the TU.
    pub fn poll_event(&mut self) -> Option<SipEvent> {
        self.events.pop_front()
    }

    /// The public address learned from received/rport of the last REGISTER response.
    pub fn learned_public_address(&self) -> Option<SocketAddr> {
        self.registration.as_ref().and_then(|r| r.learned)
    }

    /// Server transactions alive now.
    pub fn server_transaction_count(&self) -> usize {
        self.servers.len()
    }

    /// The ids of the dialogs (calls) the endpoint still tracks.
    pub fn dialog_ids(&self) -> Vec<DialogId> {
        let mut ids: Vec<DialogId> = self.dialogs.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Whether the peer of this dialog listed UPDATE in its Allow.
    pub fn peer_allows_update(&self, dialog: DialogId) -> Option<bool> {
        self.dialogs.get(&dialog).map(|d| d.peer_allows_update)
    }

    /// When [`Endpoint::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let registration = self
            .registration
            .as_ref()
            .and_then(Registration::poll_timeout);
        [
            self.clients.next_deadline(),
            self.servers.next_deadline(),
            self.dialogs.next_deadline(),
            registration,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Adds a dialog, indexed by its Call-ID and our tag.
    fn add_dialog(&mut self, dialog: Dialog) {
        let id = dialog.id;
        self.dialog_index
            .entry((dialog.call_id.clone(), dialog.local_tag.clone()))
            .or_default()
            .push(id);
        self.dialogs.insert(id, dialog);
    }

    /// Removes a dialog and its index entry.
    fn take_dialog(&mut self, id: DialogId) -> Option<Dialog> {
        let dialog = self.dialogs.remove(&id)?;
        let key = (dialog.call_id.clone(), dialog.local_tag.clone());
        if let Some(ids) = self.dialog_index.get_mut(&key) {
            ids.retain(|d| *d != id);
            if ids.is_empty() {
                self.dialog_index.remove(&key);
            }
        }
        Some(dialog)
    }

    /// The dialogs with this Call-ID and our tag.
    fn dialogs_of(&self, call_id: &str, local_tag: &str) -> impl Iterator<Item = &Dialog> {
        self.dialog_index
            .get(&(call_id.to_owned(), local_tag.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|id| self.dialogs.get(id))
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each handler changes its entry through the map (recording the next deadline) or
        // removes it; `reschedule` covers one it left as it was.
        for key in self.clients.due(now) {
            self.client_timeout(now, key.clone());
            self.clients.reschedule(&key);
        }
        for key in self.servers.due(now) {
            self.server_timeout(now, key.clone());
            self.servers.reschedule(&key);
        }
        for id in self.dialogs.due(now) {
            self.dialog_timeout(now, id);
            self.dialogs.reschedule(&id);
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self
            .registration
            .as_ref()
            .and_then(Registration::poll_timeout))
        {
            self.registration_timeout(now);
        }
    }

    /// A TCP connection is up (accepted by our listener or opened for a transmit).
    pub fn connection_opened(&mut self, conn: ConnId, local: SocketAddr, remote: SocketAddr) {
        self.stream_opened(conn, TransportKind::Tcp, local, remote);
    }

    /// A stream connection of `transport` (TCP, or TLS once its handshake completed) is up.
    pub fn stream_opened(
        &mut self,
        conn: ConnId,
        transport: TransportKind,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        self.conns.insert(
            conn,
            Connection {
                transport,
                local,
                remote,
                decoder: StreamDecoder::default(),
            },
        );
    }

    /// Bytes of a partly received message held for connection `conn` (0 between
    /// messages), so the driver can time out a message that never completes.
    pub fn stream_buffered(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.decoder.buffered())
    }

    /// The connections a transaction or a dialog still sends over: closing one of them for
    /// idleness would cut them off.
    pub fn connections_in_use(&self) -> std::collections::HashSet<ConnId> {
        let servers = self.servers.values().map(|e| e.hop.conn);
        let clients = self.clients.values().map(|e| e.hop.conn);
        let dialogs = self.dialogs.values().map(|d| d.hop.conn);
        servers.chain(clients).chain(dialogs).flatten().collect()
    }

    /// A TCP or TLS connection closed (either side) or failed.
    pub fn connection_closed(&mut self, now: Instant, conn: ConnId) {
        if let Some(closed) = self.conns.remove(&conn) {
            self.flow_connection_closed(now, conn);
            if self.conn_to(closed.transport, closed.remote).is_none() {
                let detail = format!("the {} connection closed", closed.transport.as_str());
                self.transport_error(now, closed.transport, closed.remote, &detail);
            }
        }
    }

    /// A TCP connect to `dest` failed: transactions waiting on it fail (RFC 3261 §17.1.4).
    pub fn connect_failed(&mut self, now: Instant, dest: SocketAddr) {
        self.transport_error(now, TransportKind::Tcp, dest, "the TCP connection failed");
    }

    /// The transport toward `dest` failed; `detail` says how, in words (for UDP, an ICMP
    /// error such as `ICMP port unreachable` that the driver read from its socket).
    ///
    /// RFC 3261 §18.4 / §17.1.4: client transactions sent to `dest` over `transport` that
    /// still wait for a response fail now, as a locally generated 408 (§8.1.3.1), instead of
    /// at Timer B/F; the TU sees [`TerminationReason::TransportError`] or
    /// [`RegistrationFailure::Transport`]. Server transactions and dialogs are untouched.
    pub fn transport_error(
        &mut self,
        now: Instant,
        transport: TransportKind,
        dest: SocketAddr,
        detail: &str,
    ) {
        let failure = TransportFailure {
            transport,
            dest,
            detail: detail.to_owned(),
        };
        self.fail_transactions_to(now, &failure);
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Random token characters for tags and Call-IDs (RFC 3261 §19.3: at least 32 bits of
    /// randomness; we use ~95).
    fn random_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..len)
            .filter_map(|_| {
                ALPHABET
                    .get(self.rng.random_range(0..ALPHABET.len()))
                    .map(|&b| char::from(b))
            })
            .collect()
    }

    /// [`EndpointConfig::trace_messages`]: one message sent or received.
    fn trace(
        &mut self,
        outgoing: bool,
        transport: TransportKind,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        bytes: Vec<u8>,
    ) {
        self.events.push_back(SipEvent::Traced {
            outgoing,
            transport,
            local,
            remote,
            bytes,
        });
    }

    fn emit(&mut self, event: SipEvent) {
        tracing::debug!(?event, "sip event");
        self.events.push_back(event);
    }
}
