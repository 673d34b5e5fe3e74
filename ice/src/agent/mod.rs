//! The sans-IO ICE agent (RFC 8445 full implementation; RFC 7675 consent freshness).
//!
//! One [`IceAgent`] runs ICE for **one media stream** with one or two components (1 = RTP,
//! 2 = RTCP; one component when rtcp-mux is used). A session with several media streams puts
//! one agent per stream in an [`IceStreams`], which routes datagrams by socket and applies the
//! check-list-set rules across streams (foundation-based unfreezing). icephone's calls have one
//! audio stream: the softphone drives one `IceAgent` directly.
//!
//! The agent owns no socket and reads no clock. The caller binds one UDP socket per host
//! address and component, tells the agent about it with [`IceAgent::add_local_host`], and then:
//!
//! - feeds every datagram received on those sockets to [`IceAgent::handle_packet`] (STUN
//!   checks, STUN/TURN server traffic, and media, which is handed back as [`Handled::Media`]);
//! - calls [`IceAgent::handle_timeout`] when [`IceAgent::poll_timeout`] says so;
//! - sends what [`IceAgent::poll_transmit`] returns, from the socket bound to `Transmit::from`
//!   (or, for a TURN server over TCP/TLS, on that base's connection to it: `Transmit::transport`
//!   says which, and [`IceAgent::handle_turn_stream`] / [`IceAgent::turn_stream_failed`] take
//!   what comes back);
//! - reacts to [`IceEvent`]s from [`IceAgent::poll_event`] (signal candidates, start media…);
//! - sends media with [`IceAgent::send_data`], which refuses until every component has a
//!   selected pair (RFC 8445 §12.1).
//!
//! ```
//! use std::time::Instant;
//! use ice::agent::{IceAgent, IceConfig, IceEvent};
//!
//! let now = Instant::now();
//! let mut agent = IceAgent::new(IceConfig { controlling: true, ..IceConfig::default() }, now);
//! agent.add_local_host("192.0.2.1:5000".parse().unwrap()).unwrap();
//! agent.handle_timeout(now);
//! // Signal these to the peer (offer): credentials and candidates.
//! let _ufrag = &agent.local_credentials().ufrag;
//! assert_eq!(agent.local_candidates().len(), 1);
//! assert!(std::iter::from_fn(|| agent.poll_event()).any(|e| e == IceEvent::GatheringComplete));
//! // Then: set_remote_credentials + add_remote_candidate from the answer, and loop on
//! // handle_packet / handle_timeout(poll_timeout()) / poll_transmit / poll_event.
//! ```
//!
//! Files: `config` (settings), `candidates` (local candidate set), `gathering` (srflx/relay),
//! `checklist` (pairs, states, priorities, pruning, unfreezing), `pairing` (forming pairs,
//! state events, pair failure), `pacer` (Ta), `scheduler` (which check goes next, the
//! triggered FIFO, retransmissions), `client` (our checks), `server` (answering checks),
//! `role` (role conflicts), `nomination` (selection), `keepalive` (RFC 8445 §11), `consent`
//! (RFC 7675), `restart` (RFC 8445 §9), `failure` (when ICE failed and why), `events`
//! (outputs), `demux` (RFC 7983).

mod candidates;
mod checklist;
mod client;
mod config;
mod consent;
pub mod demux;
mod events;
mod failure;
mod gathering;
mod keepalive;
mod mux;
mod nomination;
mod pacer;
mod pairing;
mod restart;
mod role;
mod scheduler;
mod server;
mod streams;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub use crate::turn::TurnTransport;
pub use candidates::HostError;
pub use config::{
    ConsentConfig, IceConfig, NominationMode, TurnServer, DEFAULT_CHECK_RETRANSMIT,
    DEFAULT_NOMINATION_GRACE, DEFAULT_TA, MIN_KEEPALIVE_INTERVAL, MIN_RTO,
};
pub use demux::{classify, PacketKind};
pub use events::{
    DropReason, FailureReason, Handled, IceEvent, IceState, PairFailure, PairState, SendError,
    ServerKind, Transmit,
};
pub use streams::IceStreams;

use crate::candidate::{Candidate, CandidateKind, Credentials};
use crate::stun::{ClientTransaction, IntegrityKey, TransactionId};
use candidates::{LocalCandidates, LocalId, Origin};
use checklist::{CheckList, PairId};
use gathering::Gathering;
use pacer::Pacer;

/// Counters for diagnostics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Connectivity-check requests sent (first transmissions; not retransmissions).
    pub checks_sent: u64,
    /// Retransmissions of checks.
    pub check_retransmissions: u64,
    /// Binding requests received and authenticated.
    pub requests_received: u64,
    /// Responses to our checks processed.
    pub responses_received: u64,
    /// Binding requests rejected (400/401/420 or dropped).
    pub requests_rejected: u64,
}

/// What an outstanding client transaction is for.
#[derive(Debug, Clone)]
pub(crate) enum TxnKind {
    Check {
        pair: PairId,
        use_candidate: bool,
        /// The role announced in the request (for a 487, RFC 8445 §7.2.5.1).
        controlling: bool,
        /// The PRIORITY announced, i.e. a discovered prflx local's priority (§7.2.5.3.1).
        priority: u32,
    },
    Consent {
        component: u16,
    },
    Gather {
        server: SocketAddr,
        base: SocketAddr,
        rank: usize,
    },
}

pub(crate) struct Txn {
    pub kind: TxnKind,
    pub client: ClientTransaction,
    /// The base the request left from and the address it went to (RFC 8445 §7.2.5.2.1).
    pub from: SocketAddr,
    pub to: SocketAddr,
    /// Key to verify the response's MESSAGE-INTEGRITY (None for unauthenticated gathering).
    pub key: Option<IntegrityKey>,
    /// Superseded by a triggered check (RFC 8445 §7.3.1.4): no retransmissions, no failure
    /// on timeout, but a late success still counts.
    pub cancelled: bool,
}

/// The pair a component's media uses, kept independent of the check list so that it keeps
/// working across an ICE restart until a new pair is selected (RFC 8445 §9).
#[derive(Debug, Clone)]
pub(crate) struct SelectedPath {
    pub local: Candidate,
    pub remote: Candidate,
    /// Where media leaves from: a host base, or a relayed address (sent through TURN).
    pub base: SocketAddr,
    pub pair_priority: u64,
    /// Credentials the pair was proved with (consent checks use them, RFC 7675 §5.1).
    pub local_credentials: Credentials,
    pub remote_credentials: Credentials,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ComponentState {
    pub selected: Option<SelectedPath>,
    /// Selected in the current ICE session (false after a restart until reselected).
    pub selected_this_session: bool,
    pub last_data_sent: Option<Instant>,
    pub next_keepalive: Option<Instant>,
    pub next_consent: Option<Instant>,
    pub consent_expires: Option<Instant>,
    pub consent_lost: bool,
    /// When the first valid pair of this component appeared (regular nomination wait).
    pub first_valid_at: Option<Instant>,
    /// Controlling: the pair whose USE-CANDIDATE check is in flight.
    pub nominating: Option<PairId>,
}

/// A sans-IO ICE agent for one media stream. See the module documentation.
pub struct IceAgent {
    config: IceConfig,
    rng: ChaCha20Rng,
    controlling: bool,
    tie_breaker: u64,
    local_credentials: Credentials,
    remote_credentials: Option<Credentials>,
    /// The peer's ufrag learned from USERNAME before its answer arrived (RFC 8445 §7.3).
    learned_remote_ufrag: Option<String>,
    /// Credentials of the session before the last restart, still answered (RFC 8445 §9).
    previous_local_credentials: Option<Credentials>,
    remote_lite: bool,
    locals: LocalCandidates,
    remotes: Vec<Candidate>,
    checklist: CheckList,
    pacer: Pacer,
    transactions: HashMap<TransactionId, Txn>,
    gathering: Gathering,
    components: Vec<ComponentState>,
    state: IceState,
    initial_unfreeze_done: bool,
    /// A stream after the first of an `IceStreams` set: no initial unfreezing of its own; its
    /// pairs wait for foundations that succeed in other streams (RFC 8445 §6.1.2.6).
    defer_initial_unfreeze: bool,
    /// Inside an `IceStreams` set: foundations whose pair succeeded since the last sync.
    succeeded_foundations: Option<Vec<(String, String)>>,
    end_of_remote_candidates: bool,
    /// Controlling: pairs whose USE-CANDIDATE check waits for a pacing slot (§8.1.1).
    nomination_queue: VecDeque<PairId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<IceEvent>,
    stats: AgentStats,
    prflx_counter: u32,
    /// The latest `now` any input carried.
    last_now: Instant,
    /// Since when no pair is Frozen, Waiting or In-Progress (controlled nomination grace).
    checks_idle_since: Option<Instant>,
    /// The longest round trip measured by a check answered on its first send (Karn's rule).
    check_rtt: Option<std::time::Duration>,
    /// Some STUN transaction of ours was answered only after a retransmission.
    loss_seen: bool,
}

impl IceAgent {
    /// A new agent. Nothing is sent until host candidates are added.
    pub fn new(config: IceConfig, now: Instant) -> Self {
        let config = config.sanitized();
        let mut rng = match config.seed {
            Some(seed) => ChaCha20Rng::seed_from_u64(seed),
            // RFC 8445 §5.3: credentials come from a CSPRNG; ChaCha20 seeded by the OS is one.
            None => ChaCha20Rng::from_os_rng(),
        };
        let local_credentials = config
            .credentials
            .clone()
            .unwrap_or_else(|| Credentials::random(&mut rng));
        let tie_breaker = config.tie_breaker.unwrap_or_else(|| rng.random());
        let components = vec![ComponentState::default(); usize::from(config.components)];
        let pacer = Pacer::new(config.ta);
        let gathering = Gathering::new(&config, now);
        IceAgent {
            controlling: config.controlling,
            tie_breaker,
            local_credentials,
            remote_credentials: None,
            learned_remote_ufrag: None,
            previous_local_credentials: None,
            remote_lite: false,
            locals: LocalCandidates::default(),
            remotes: Vec::new(),
            checklist: CheckList::default(),
            pacer,
            transactions: HashMap::new(),
            gathering,
            components,
            state: IceState::New,
            initial_unfreeze_done: false,
            defer_initial_unfreeze: false,
            succeeded_foundations: None,
            end_of_remote_candidates: false,
            nomination_queue: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: AgentStats::default(),
            prflx_counter: 0,
            last_now: now,
            checks_idle_since: None,
            check_rtt: None,
            loss_seen: false,
            rng,
            config,
        }
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A host address for component 1 (the caller has bound a UDP socket to it). Gathering of
    /// server-reflexive and relayed candidates from this base starts, paced at Ta.
    pub fn add_local_host(&mut self, addr: SocketAddr) -> Result<Candidate, HostError> {
        self.add_local_host_for(1, addr)
    }

    /// A host address for `component` (1 = RTP, 2 = RTCP).
    pub fn add_local_host_for(
        &mut self,
        component: u16,
        addr: SocketAddr,
    ) -> Result<Candidate, HostError> {
        let id = self.locals.add_host(
            component,
            addr,
            self.config.components,
            self.config.allow_loopback,
        )?;
        let cand = self.local_candidate(id).ok_or(HostError::Unusable(addr))?;
        tracing::debug!(%addr, component, "host candidate");
        self.events
            .push_back(IceEvent::LocalCandidate(cand.clone()));
        self.gathering.queue_for_base(component, addr, &self.config);
        self.pair_new_local(id);
        Ok(cand)
    }

    /// The peer's ufrag and password (from its offer or answer). New values while a session
    /// runs mean the peer restarted ICE: this agent restarts too (RFC 8445 §9) and emits
    /// `Restarted` with the new local credentials to signal back.
    pub fn set_remote_credentials(&mut self, credentials: Credentials) {
        if let Some(old) = &self.remote_credentials {
            if *old != credentials {
                tracing::info!("remote credentials changed: ICE restart by the peer");
                self.do_restart();
            }
        }
        self.remote_credentials = Some(credentials);
        if matches!(self.state, IceState::New) {
            self.state = IceState::Checking;
        }
    }

    /// A remote candidate (from signalling). Candidates of unknown components or with other
    /// transports than UDP are ignored.
    pub fn add_remote_candidate(&mut self, candidate: Candidate) {
        if candidate.component == 0 || candidate.component > self.config.components {
            tracing::debug!(
                component = candidate.component,
                "remote candidate of a missing component ignored"
            );
            return;
        }
        if let Some(existing) = self
            .remotes
            .iter()
            .position(|r| r.address == candidate.address && r.component == candidate.component)
        {
            // A signalled candidate replaces a peer-reflexive one learned earlier (RFC 8445
            // §7.3.1.3 lets the signalled type win); keep the index so pairs stay valid.
            let was_prflx = self
                .remotes
                .get(existing)
                .is_some_and(|r| r.kind == CandidateKind::PeerReflexive);
            if was_prflx {
                if let Some(r) = self.remotes.get_mut(existing) {
                    *r = candidate;
                }
                // Now signalled, it pairs with every local candidate, not only the base the
                // check arrived on.
                self.pair_new_remote(existing);
            }
            return;
        }
        self.remotes.push(candidate);
        let rid = self.remotes.len() - 1;
        self.pair_new_remote(rid);
    }

    /// The peer signalled that it has no more candidates (RFC 8838 end-of-candidates). Needed
    /// only with `IceConfig::trickle`; it lets the agent declare failure.
    pub fn end_of_remote_candidates(&mut self) {
        self.end_of_remote_candidates = true;
    }

    /// Change role (e.g. the offer/answer outcome is known only now). RFC 8445 §6.1.1.
    pub fn set_role(&mut self, controlling: bool) {
        if self.controlling != controlling {
            self.switch_role(controlling, false);
        }
    }

    /// The peer is ICE lite (RFC 8445 §6.1.1): a full agent facing it is controlling.
    pub fn set_remote_lite(&mut self, lite: bool) {
        self.remote_lite = lite;
        if lite && !self.controlling {
            self.switch_role(true, false);
        }
    }

    /// A datagram that arrived on the local socket `local` from `from`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> Handled {
        if self.state == IceState::Closed && !self.gathering.has_turn_traffic() {
            return Handled::Dropped(DropReason::Closed);
        }
        let handled = match self.gathering.turn_for(local, from) {
            Some(turn) => self.handle_turn_packet(now, turn, from, data),
            None => self.handle_inbound(now, local, from, data),
        };
        self.after_input(now);
        handled
    }

    /// The caller could not send to `to` from `from` (ICMP unreachable, EHOSTUNREACH…): checks
    /// in flight on that path fail as Unreachable (RFC 8445 §7.2.5.2.2 allows ICMP use).
    pub fn handle_unreachable(&mut self, now: Instant, from: SocketAddr, to: SocketAddr) {
        let failing: Vec<PairId> = self
            .transactions
            .values()
            .filter(|t| t.from == from && t.to == to)
            .filter_map(|t| match t.kind {
                TxnKind::Check { pair, .. } => Some(pair),
                _ => None,
            })
            .collect();
        for pair in failing {
            self.fail_pair(pair, FailureReason::Unreachable);
        }
        // A TURN server over UDP that nothing listens for is reported now, not after the
        // Allocate's retransmissions. Once allocated, the server has answered: an ICMP error
        // then is more likely transient than the allocation gone, so refreshes decide.
        if let Some(turn) = self.gathering.turn_for(from, to) {
            if let Some(slot) = self.gathering.turns.get_mut(turn) {
                if slot.client.relayed_address().is_none() {
                    slot.client.transport_failed("unreachable (ICMP error)");
                }
            }
        }
        self.after_input(now);
    }

    /// One whole message read from the TCP/TLS connection to the TURN server `server` that
    /// belongs to the host base `local` (cut from the stream with
    /// [`StreamDeframer`](crate::turn::StreamDeframer)). Relayed media comes back as
    /// [`Handled::Media`], as from `handle_packet`.
    pub fn handle_turn_stream(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        message: &[u8],
    ) -> Handled {
        if self.state == IceState::Closed && !self.gathering.has_turn_traffic() {
            return Handled::Dropped(DropReason::Closed);
        }
        let handled = match self.gathering.stream_turn_for(local, server) {
            Some(turn) => self.handle_turn_packet(now, turn, server, message),
            None => Handled::Dropped(DropReason::UnknownLocal(local)),
        };
        self.after_input(now);
        handled
    }

    /// The TCP/TLS connection to the TURN server `server` for host base `local` could not be
    /// opened (refused, TLS certificate not verified, …), broke, or was closed, or what came
    /// on it could not be framed. Its allocation is gone with it: `IceEvent::ServerFailed`
    /// says so with `reason`, and gathering no longer waits for it.
    pub fn turn_stream_failed(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        reason: &str,
    ) {
        if let Some(turn) = self.gathering.stream_turn_for(local, server) {
            if let Some(slot) = self.gathering.turns.get_mut(turn) {
                slot.client.transport_failed(reason);
            }
        }
        self.after_input(now);
    }

    /// Drive timers: retransmissions, paced checks and gathering, nomination, keepalives,
    /// consent, TURN refreshes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.gathering.handle_timeout(now);
        self.drive_transactions(now);
        if self.state != IceState::Closed {
            self.drive_keepalives(now);
            self.drive_consent(now);
        }
        self.after_input(now);
    }

    /// ICE restart (RFC 8445 §9): new ufrag and password, the check list starts over, the role
    /// is kept, and media keeps flowing on the old selected pairs until new ones are selected.
    /// Signal the new credentials (`local_credentials()`) and candidates to the peer.
    pub fn restart(&mut self, now: Instant) {
        self.do_restart();
        self.after_input(now);
    }

    /// Media for `component` on its selected pair (RFC 8445 §12.1). Refused until every
    /// component has a selected pair, and after consent was lost (RFC 7675 §5.1).
    pub fn send_data(
        &mut self,
        now: Instant,
        component: u16,
        data: &[u8],
    ) -> Result<Transmit, SendError> {
        if self.state == IceState::Closed {
            return Err(SendError::Closed);
        }
        // RFC 8445 §12.1: data on a component goes over that component's selected pair, and
        // pairs are selected per component: RTP does not wait for the RTCP component (a peer
        // without rtcp-mux may select it seconds later).
        let state = self
            .component(component)
            .ok_or(SendError::NotSelected(component))?;
        if state.consent_lost {
            // RFC 7675 §5.1: without consent, stop sending.
            return Err(SendError::ConsentLost(component));
        }
        let path = state
            .selected
            .clone()
            .ok_or(SendError::NotSelected(component))?;
        if let Some(c) = self.component_mut(component) {
            c.last_data_sent = Some(now);
        }
        self.send_now(now, path.base, path.remote.address, data.to_vec())
            .ok_or(SendError::Relay)
    }

    /// Stop: TURN allocations are freed (RFC 8656 §8, Refresh with LIFETIME 0); no more checks,
    /// keepalives or consent. Keep polling transmits to send the deallocations.
    pub fn close(&mut self, now: Instant) {
        self.state = IceState::Closed;
        self.transactions.clear();
        self.checklist.triggered.clear();
        self.nomination_queue.clear();
        self.gathering.close(now);
        self.after_input(now);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram to send, oldest first; `None` when the queue is empty. Drain it after
    /// every input, `send_data` included: that returns its own datagram, but a relayed send
    /// may queue pending TURN messages here first.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event, oldest first; `None` when there is none. Drain it after every input.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next; `None` when nothing is scheduled (no
    /// transaction, pacing, nomination, keepalive or consent timer). It may lie in the past:
    /// call `handle_timeout` at once then. Ask again after every input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.gathering.poll_timeout();
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |cur: Instant| cur.min(x)));
            }
        };
        for txn in self.transactions.values() {
            consider(txn.client.poll_timeout());
        }
        if self.state == IceState::Closed {
            return t;
        }
        consider(self.pacer_wake());
        consider(self.nomination_deadline());
        if !self.controlling && self.state == IceState::Checking {
            for c in self.components.iter().filter(|c| !c.selected_this_session) {
                consider(self.nomination_deadline_controlled(c));
            }
        }
        for c in &self.components {
            consider(c.next_keepalive);
            if !c.consent_lost {
                consider(c.next_consent);
                consider(c.consent_expires);
            }
        }
        t
    }

    /// The agent's overall state.
    pub fn state(&self) -> IceState {
        self.state
    }

    /// The current role: true = controlling (RFC 8445 §6.1.1). It can change on a role
    /// conflict; `IceEvent::RoleChanged` says so.
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// The 64-bit tie-breaker sent in ICE-CONTROLLING/ICE-CONTROLLED (RFC 8445 §7.1.3).
    pub fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// This agent's ufrag and password, to signal to the peer (`a=ice-ufrag`/`a=ice-pwd`).
    /// They change on an ICE restart (RFC 8445 §9).
    pub fn local_credentials(&self) -> &Credentials {
        &self.local_credentials
    }

    /// The peer's credentials given with `set_remote_credentials`; `None` before that and
    /// after an ICE restart until the peer's new ones are set.
    pub fn remote_credentials(&self) -> Option<&Credentials> {
        self.remote_credentials.as_ref()
    }

    /// The peer's ufrag as learned from a check's USERNAME before signalling delivered it.
    pub fn learned_remote_ufrag(&self) -> Option<&str> {
        self.learned_remote_ufrag.as_deref()
    }

    /// Candidates to signal: host, server-reflexive and relayed (peer-reflexive ones are
    /// never signalled, RFC 8445 §5.1.1).
    pub fn local_candidates(&self) -> Vec<Candidate> {
        self.locals
            .iter()
            .filter(|(_, c)| c.origin != Origin::PeerReflexive)
            // A dropped RTCP component (rtcp-mux accepted) is not signalled again.
            .filter(|(_, c)| c.cand.component <= self.config.components)
            .map(|(_, c)| c.cand.clone())
            .collect()
    }

    /// The remote candidates of the current ICE session: those signalled, plus peer-reflexive
    /// ones learned from the peer's checks (RFC 8445 §7.3.1.3), in the order they appeared.
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remotes
    }

    /// Whether `local` is one of this agent's sockets (a host base or a TURN client's socket):
    /// where a datagram received on `local` must go when several agents share a process.
    pub fn owns_socket(&self, local: SocketAddr) -> bool {
        self.locals.component_of_base(local).is_some() || self.gathering.owns_socket(local)
    }

    /// Whether gathering has finished (every server answered or was given up).
    pub fn is_gathering_complete(&self) -> bool {
        self.gathering.is_complete()
    }

    /// The candidate for `c=`/`m=` in an offer (RFC 8839 §4.2.1.2): the one most likely to
    /// work with a peer without ICE: relayed, else server-reflexive, else host; the highest
    /// priority within a type.
    pub fn default_candidate(&self, component: u16) -> Option<Candidate> {
        let rank = |k: CandidateKind| match k {
            CandidateKind::Relayed => 3,
            CandidateKind::ServerReflexive => 2,
            CandidateKind::Host => 1,
            CandidateKind::PeerReflexive => 0,
        };
        self.locals
            .iter()
            .map(|(_, c)| &c.cand)
            .filter(|c| c.component == component && c.kind != CandidateKind::PeerReflexive)
            .max_by_key(|c| (rank(c.kind), c.priority))
            .cloned()
    }

    /// The selected pair of `component`: (local, remote).
    pub fn selected_pair(&self, component: u16) -> Option<(Candidate, Candidate)> {
        self.component(component)?
            .selected
            .as_ref()
            .map(|p| (p.local.clone(), p.remote.clone()))
    }

    /// The local base media for `component` leaves from (a relayed address when relayed).
    pub fn selected_base(&self, component: u16) -> Option<SocketAddr> {
        self.component(component)?.selected.as_ref().map(|p| p.base)
    }

    /// Whether media for `component` that arrived on `local` (a host base, or a relayed
    /// address when it came through TURN) from `from` comes from the peer: `from` is the remote
    /// of a valid pair of that component whose local base is `local`, of the selected pair
    /// (kept across a restart), or of a pair the peer proved with an authenticated check of
    /// its own (a peer that nominates aggressively may send on it before our triggered check
    /// succeeds). Hardening beyond RFC 8445 §12.2, which asks receivers to accept data on any
    /// candidate: the caller drops the rest (ASSUMPTIONS.md, "Receiving").
    pub fn is_valid_source(&self, component: u16, local: SocketAddr, from: SocketAddr) -> bool {
        let selected = self
            .component(component)
            .and_then(|c| c.selected.as_ref())
            .is_some_and(|s| s.base == local && s.remote.address == from);
        // Removed pairs count too: the controlling agent removes every other pair once it
        // selected (RFC 8445 §8.1.2), but a valid pair stays one, and the peer may have
        // settled on it.
        selected
            || self.checklist.pairs.iter().any(|p| {
                p.component == component
                    && (p.state == PairState::Succeeded || p.peer_checked)
                    && self.locals.get(p.local).is_some_and(|l| l.base == local)
                    && self
                        .remotes
                        .get(p.remote)
                        .is_some_and(|r| r.address == from)
            })
    }

    /// Every candidate pair: (local, remote, state, failure reason if failed).
    pub fn pairs(&self) -> Vec<(Candidate, Candidate, PairState, Option<FailureReason>)> {
        self.checklist
            .live()
            .filter_map(|(_, p)| {
                Some((
                    self.locals.get(p.local)?.cand.clone(),
                    self.remotes.get(p.remote)?.clone(),
                    p.state,
                    p.failure,
                ))
            })
            .collect()
    }

    /// Counters since the agent was created (not reset by a restart).
    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    /// The configuration in effect: the one given to `new`, with out-of-range values
    /// corrected (Tr ≥ 15 s, Ta ≥ 5 ms, 1 or 2 components, RTO ≥ 500 ms, max_pairs ≥ 1).
    pub fn config(&self) -> &IceConfig {
        &self.config
    }

    // ----- internals shared by the submodules ----------------------------------------------

    fn component(&self, component: u16) -> Option<&ComponentState> {
        self.components.get(usize::from(component).checked_sub(1)?)
    }

    fn component_mut(&mut self, component: u16) -> Option<&mut ComponentState> {
        self.components
            .get_mut(usize::from(component).checked_sub(1)?)
    }

    fn local_candidate(&self, id: LocalId) -> Option<Candidate> {
        self.locals.get(id).map(|c| c.cand.clone())
    }

    /// Send `data` from `base` to `to` now: directly, or through the TURN client when `base`
    /// is a relayed address. Returns the transmit for the caller (not queued) or None when the
    /// relay refused.
    fn send_now(
        &mut self,
        now: Instant,
        base: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) -> Option<Transmit> {
        match self.relay_of_base(base) {
            Some(turn) => self
                .gathering
                .send_through(now, turn, to, &data, &mut self.transmits),
            None => Some(Transmit {
                from: base,
                to,
                data,
                transport: TurnTransport::Udp,
            }),
        }
    }

    /// Queue `data` from `base` to `to`. Returns false when the relay refused it.
    fn send_queued(
        &mut self,
        now: Instant,
        base: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) -> bool {
        match self.send_now(now, base, to, data) {
            Some(t) => {
                self.transmits.push_back(t);
                true
            }
            None => false,
        }
    }

    fn relay_of_base(&self, base: SocketAddr) -> Option<usize> {
        self.locals.iter().find_map(|(_, c)| match c.origin {
            Origin::Relay { turn } if c.base == base => Some(turn),
            _ => None,
        })
    }

    /// Common tail of every input: TURN events and transmits, then failure detection.
    fn after_input(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state != IceState::Closed {
            self.evaluate_nomination(now);
            self.pace(now);
        }
        self.pump_gathering(now);
        self.check_failure();
    }

    fn next_transaction_id(&mut self) -> TransactionId {
        TransactionId::random(&mut self.rng)
    }
}

pub(crate) type RemoteIdx = checklist::RemoteId;

/// A short summary for logs: no passwords, no packet contents.
impl std::fmt::Debug for IceAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceAgent")
            .field("state", &self.state)
            .field("controlling", &self.controlling)
            .field("local_ufrag", &self.local_credentials.ufrag)
            .field(
                "remote_ufrag",
                &self.remote_credentials.as_ref().map(|c| &c.ufrag),
            )
            .field("local_candidates", &self.locals.len())
            .field("remote_candidates", &self.remotes.len())
            .field("pairs", &self.checklist.live().count())
            .field("transactions", &self.transactions.len())
            .finish()
    }
}
