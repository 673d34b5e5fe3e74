//! Gathering of server-reflexive candidates (STUN Binding, RFC 8445 §5.1.1.2) and relayed
//! candidates (TURN Allocate through [`TurnClient`], RFC 8656), paced at Ta with the checks.
//! A server that does not answer is given up after its own timeout and holds back nothing:
//! each candidate is announced as soon as it is known.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::candidates::{LocalId, Origin};
use super::config::IceConfig;
use super::events::{DropReason, Handled, IceEvent, ServerKind, Transmit};
use super::{IceAgent, Txn, TxnKind};
use crate::stun::{
    Attribute, Class, ClientTransaction, Message, Method, Outcome, RetransmitConfig,
};
use crate::turn::{TurnClient, TurnClientOptions, TurnCredentials, TurnEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GatherJob {
    Stun {
        base: SocketAddr,
        server: SocketAddr,
        rank: usize,
    },
    Turn {
        base: SocketAddr,
        server: usize,
    },
}

pub(crate) struct TurnSlot {
    pub client: TurnClient,
    pub host_base: SocketAddr,
    pub server: SocketAddr,
    pub rank: usize,
    /// Allocated or given up: gathering no longer waits for it.
    pub settled: bool,
    pub relay_local: Option<LocalId>,
    pub permissions: HashSet<IpAddr>,
}

pub(crate) struct Gathering {
    jobs: VecDeque<GatherJob>,
    pub turns: Vec<TurnSlot>,
    pending_stun: usize,
    complete_announced: bool,
    stun_servers: Vec<SocketAddr>,
    turn_servers: Vec<super::config::TurnServer>,
    wanted_permissions: Vec<(usize, IpAddr)>,
}

impl Gathering {
    pub fn new(config: &IceConfig, _now: Instant) -> Self {
        Gathering {
            jobs: VecDeque::new(),
            turns: Vec::new(),
            pending_stun: 0,
            complete_announced: false,
            stun_servers: config.stun_servers.clone(),
            turn_servers: config.turn_servers.clone(),
            wanted_permissions: Vec::new(),
        }
    }

    /// Queue one Binding per STUN server and one allocation per TURN server of the base's
    /// address family.
    pub fn queue_for_base(&mut self, _component: u16, base: SocketAddr, _config: &IceConfig) {
        for (rank, server) in self.stun_servers.iter().enumerate() {
            if server.is_ipv4() == base.is_ipv4() {
                self.jobs.push_back(GatherJob::Stun {
                    base,
                    server: *server,
                    rank,
                });
            }
        }
        for (i, server) in self.turn_servers.iter().enumerate() {
            if server.addr.is_ipv4() == base.is_ipv4() {
                self.jobs.push_back(GatherJob::Turn { base, server: i });
            }
        }
        if !self.jobs.is_empty() {
            self.complete_announced = false;
        }
    }

    pub fn has_jobs(&self) -> bool {
        !self.jobs.is_empty()
    }

    pub fn pop_job(&mut self) -> Option<GatherJob> {
        self.jobs.pop_front()
    }

    pub fn jobs_outstanding(&self) -> usize {
        self.jobs.len() + self.pending_stun + self.turns.iter().filter(|t| !t.settled).count()
    }

    pub fn is_complete(&self) -> bool {
        self.jobs.is_empty() && self.pending_stun == 0 && self.turns.iter().all(|t| t.settled)
    }

    /// The TURN client over UDP whose 5-tuple is (`local`, `from`): a datagram from a server
    /// reached over TCP/TLS is not its traffic.
    pub fn turn_for(&self, local: SocketAddr, from: SocketAddr) -> Option<usize> {
        self.turns.iter().position(|t| {
            t.client.local() == local
                && t.client.server() == from
                && !t.client.transport().is_stream()
        })
    }

    /// The TURN client over TCP/TLS whose connection belongs to host base `local` and `server`.
    pub fn stream_turn_for(&self, local: SocketAddr, server: SocketAddr) -> Option<usize> {
        self.turns.iter().position(|t| {
            t.client.local() == local
                && t.client.server() == server
                && t.client.transport().is_stream()
        })
    }

    pub fn owns_socket(&self, local: SocketAddr) -> bool {
        self.turns.iter().any(|t| t.client.local() == local)
    }

    pub fn has_turn_traffic(&self) -> bool {
        self.turns.iter().any(|t| !t.client.is_closed())
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for t in &mut self.turns {
            t.client.handle_timeout(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.turns
            .iter()
            .filter_map(|t| t.client.poll_timeout())
            .min()
    }

    /// RFC 8445 §7.2.1: CreatePermission for each remote IP before checks through the relay.
    pub fn ensure_permission(&mut self, turn: usize, ip: IpAddr) {
        if let Some(slot) = self.turns.get_mut(turn) {
            if slot.permissions.insert(ip) {
                self.wanted_permissions.push((turn, ip));
            }
        }
    }

    pub fn has_permission(&self, turn: usize, ip: IpAddr) -> bool {
        self.turns
            .get(turn)
            .is_some_and(|t| t.client.has_permission(ip))
    }

    fn flush(slot: &mut TurnSlot, out: &mut VecDeque<Transmit>) {
        let from = slot.client.local();
        let transport = slot.client.transport();
        while let Some((to, data)) = slot.client.poll_transmit() {
            out.push_back(Transmit {
                from,
                to,
                data,
                transport,
            });
        }
    }

    /// Send to `peer` through relay `turn` (Send indication, or ChannelData once bound).
    /// Anything the client had queued goes to `out` first; the datagram carrying `data` is
    /// returned.
    pub fn send_through(
        &mut self,
        now: Instant,
        turn: usize,
        peer: SocketAddr,
        data: &[u8],
        out: &mut VecDeque<Transmit>,
    ) -> Option<Transmit> {
        let slot = self.turns.get_mut(turn)?;
        Self::flush(slot, out);
        if let Err(e) = slot.client.send_to(now, peer, data) {
            tracing::debug!(error = ?e, %peer, "relay refused data");
            return None;
        }
        let from = slot.client.local();
        let (to, bytes) = slot.client.poll_transmit()?;
        Some(Transmit {
            from,
            to,
            data: bytes,
            transport: slot.client.transport(),
        })
    }

    pub fn bind_channel(&mut self, now: Instant, turn: usize, peer: SocketAddr) {
        if let Some(slot) = self.turns.get_mut(turn) {
            slot.client.bind_channel(now, peer);
        }
    }

    pub fn close(&mut self, now: Instant) {
        self.jobs.clear();
        self.pending_stun = 0;
        for t in &mut self.turns {
            if !t.client.is_closed() {
                t.client.close(now);
            }
            t.settled = true;
        }
    }
}

impl IceAgent {
    /// Start one gathering transaction (called by the pacer).
    pub(super) fn start_gather_job(&mut self, now: Instant, job: GatherJob) {
        match job {
            GatherJob::Stun { base, server, rank } => {
                // RFC 8445 §5.1.1.2: an unauthenticated Binding request to the server.
                let tid = self.next_transaction_id();
                let request =
                    Message::new(Class::Request, Method::Binding, tid).with(Self::attr_software());
                let encoded = request.encode(None, true);
                // RFC 8445 §14.3: gathering RTO = MAX(500 ms, Ta × outstanding transactions).
                let outstanding = self.gathering.jobs_outstanding().max(1) as u32;
                let rto = (self.config.ta * outstanding).max(super::config::MIN_RTO);
                let cfg = RetransmitConfig {
                    rto,
                    ..self.config.gather_retransmit
                };
                let client = ClientTransaction::new(&request, encoded, now, cfg, false);
                self.gathering.pending_stun += 1;
                self.transactions.insert(
                    tid,
                    Txn {
                        kind: TxnKind::Gather { server, base, rank },
                        client,
                        from: base,
                        to: server,
                        key: None,
                        cancelled: false,
                    },
                );
                self.flush_transaction(now, tid);
                tracing::debug!(%base, %server, "srflx gathering started");
            }
            GatherJob::Turn { base, server } => {
                let Some(cfg) = self.config.turn_servers.get(server).cloned() else {
                    return;
                };
                let seed: u64 = rand::Rng::random(&mut self.rng);
                let credentials = TurnCredentials {
                    username: cfg.username.clone(),
                    password: cfg.password.clone(),
                };
                let options = TurnClientOptions {
                    transport: cfg.transport,
                    // Given up (and reported) as soon as an unanswered STUN server would be.
                    allocate_retransmit: self.config.gather_retransmit,
                    ..TurnClientOptions::default()
                };
                let client =
                    TurnClient::with_options(base, cfg.addr, credentials, now, seed, options);
                self.gathering.turns.push(TurnSlot {
                    client,
                    host_base: base,
                    server: cfg.addr,
                    rank: self.config.stun_servers.len() + server,
                    settled: false,
                    relay_local: None,
                    permissions: HashSet::new(),
                });
                tracing::debug!(%base, server = %cfg.addr, transport = %cfg.transport, "TURN allocation started");
            }
        }
    }

    /// A response (or the final timeout) of a gathering Binding request.
    pub(super) fn on_gather_outcome(
        &mut self,
        server: SocketAddr,
        base: SocketAddr,
        rank: usize,
        outcome: Outcome,
    ) {
        self.gathering.pending_stun = self.gathering.pending_stun.saturating_sub(1);
        match outcome {
            Outcome::Response(msg) if msg.class == Class::Success => match msg.mapped_address() {
                Some(mapped) => {
                    if let Some(id) = self.locals.add_server_reflexive(base, mapped, server, rank) {
                        if let Some(c) = self.local_candidate(id) {
                            tracing::debug!(%mapped, %server, "srflx candidate");
                            self.events.push_back(IceEvent::LocalCandidate(c));
                        }
                    }
                }
                None => self.events.push_back(IceEvent::ServerFailed {
                    server,
                    kind: ServerKind::Stun,
                    reason: "Binding response without XOR-MAPPED-ADDRESS".into(),
                }),
            },
            Outcome::Response(msg) => {
                let reason = match msg.error_code() {
                    Some((code, text)) => format!("error {code} {text}"),
                    None => "error response".into(),
                };
                self.events.push_back(IceEvent::ServerFailed {
                    server,
                    kind: ServerKind::Stun,
                    reason,
                });
            }
            Outcome::TimedOut => {
                tracing::info!(%server, "STUN server did not answer; skipped");
                self.events.push_back(IceEvent::ServerFailed {
                    server,
                    kind: ServerKind::Stun,
                    reason: "timeout".into(),
                });
            }
        }
    }

    /// A datagram from a TURN server on the client's local socket.
    pub(super) fn handle_turn_packet(
        &mut self,
        now: Instant,
        turn: usize,
        from: SocketAddr,
        data: &[u8],
    ) -> Handled {
        // A STUN server may share the TURN server's address: its Binding responses go to
        // the gathering transaction they answer.
        if crate::stun::is_stun(data) {
            if let Ok(msg) = Message::decode(data) {
                if self
                    .transactions
                    .get(&msg.transaction_id)
                    .is_some_and(|t| matches!(t.kind, TxnKind::Gather { .. }))
                {
                    let local = self.gathering.turns.get(turn).map(|t| t.client.local());
                    if let Some(local) = local {
                        return self.handle_inbound(now, local, from, data);
                    }
                }
            }
        }
        let Some(slot) = self.gathering.turns.get_mut(turn) else {
            return Handled::Dropped(DropReason::UnknownLocal(from));
        };
        let received = slot.client.handle_packet(now, from, data);
        let relayed = slot.client.relayed_address();
        match (received, relayed) {
            // RFC 8445 §7.3.1.2: through a relay, the source is the XOR-PEER-ADDRESS.
            (Some(rx), Some(relayed)) => self.handle_inbound(now, relayed, rx.peer, &rx.data),
            _ => Handled::Consumed,
        }
    }

    /// TURN events and datagrams; permissions asked for; GatheringComplete once.
    pub(super) fn pump_gathering(&mut self, now: Instant) {
        let wanted = std::mem::take(&mut self.gathering.wanted_permissions);
        for (turn, ip) in wanted {
            if let Some(slot) = self.gathering.turns.get_mut(turn) {
                if slot.client.relayed_address().is_some() {
                    slot.client.create_permission(now, ip);
                } else {
                    // Not allocated yet: ask again once it is.
                    slot.permissions.remove(&ip);
                }
            }
        }
        for turn in 0..self.gathering.turns.len() {
            while let Some(event) = self
                .gathering
                .turns
                .get_mut(turn)
                .and_then(|s| s.client.poll_event())
            {
                self.on_turn_event(now, turn, event);
            }
            if let Some(slot) = self.gathering.turns.get_mut(turn) {
                Gathering::flush(slot, &mut self.transmits);
            }
        }
        if self.gathering.is_complete()
            && !self.gathering.complete_announced
            && self.locals.len() > 0
        {
            self.gathering.complete_announced = true;
            self.events.push_back(IceEvent::GatheringComplete);
        }
    }

    fn on_turn_event(&mut self, now: Instant, turn: usize, event: TurnEvent) {
        let Some(slot) = self.gathering.turns.get(turn) else {
            return;
        };
        let (host_base, server, rank) = (slot.host_base, slot.server, slot.rank);
        let transport = slot.client.transport();
        match event {
            TurnEvent::Allocated {
                relayed, mapped, ..
            } => {
                if let Some(slot) = self.gathering.turns.get_mut(turn) {
                    slot.settled = true;
                }
                // Over UDP the mapped address of the allocation is a server-reflexive candidate
                // too. Over TCP/TLS it is the connection's address, which no UDP check can use.
                let srflx = if transport.is_stream() {
                    None
                } else {
                    self.locals
                        .add_server_reflexive(host_base, mapped, server, rank)
                };
                if let Some(id) = srflx {
                    if let Some(c) = self.local_candidate(id) {
                        self.events.push_back(IceEvent::LocalCandidate(c));
                    }
                }
                if let Some(id) = self
                    .locals
                    .add_relayed(host_base, relayed, mapped, server, rank, turn)
                {
                    if let Some(slot) = self.gathering.turns.get_mut(turn) {
                        slot.relay_local = Some(id);
                    }
                    if let Some(c) = self.local_candidate(id) {
                        tracing::debug!(%relayed, %server, "relayed candidate");
                        self.events.push_back(IceEvent::LocalCandidate(c));
                    }
                    self.pair_new_local(id);
                    // Permissions for remotes already known.
                    let wanted = std::mem::take(&mut self.gathering.wanted_permissions);
                    for (t, ip) in wanted {
                        if let Some(slot) = self.gathering.turns.get_mut(t) {
                            slot.client.create_permission(now, ip);
                        }
                    }
                }
            }
            TurnEvent::AllocationFailed { reason } => {
                if let Some(slot) = self.gathering.turns.get_mut(turn) {
                    slot.settled = true;
                }
                tracing::info!(%server, %transport, %reason, "TURN allocation failed; skipped");
                self.events.push_back(IceEvent::ServerFailed {
                    server,
                    kind: ServerKind::Turn(transport),
                    reason,
                });
            }
            TurnEvent::PermissionFailed { peer, reason } => {
                tracing::info!(%peer, %reason, "TURN permission refused");
                self.fail_relay_pairs_to(turn, peer);
            }
            TurnEvent::PermissionCreated(_)
            | TurnEvent::ChannelBound { .. }
            | TurnEvent::Deallocated => {}
        }
    }

    fn fail_relay_pairs_to(&mut self, turn: usize, peer: IpAddr) {
        let ids: Vec<usize> = self
            .checklist
            .live()
            .filter(|(_, p)| {
                self.locals
                    .get(p.local)
                    .is_some_and(|l| l.origin == Origin::Relay { turn })
                    && self
                        .remotes
                        .get(p.remote)
                        .is_some_and(|r| r.address.ip() == peer)
                    && p.state != super::PairState::Succeeded
            })
            .map(|(i, _)| i)
            .collect();
        for id in ids {
            self.fail_pair(id, super::FailureReason::Unreachable);
        }
    }

    /// Everything a transaction wants to send now.
    pub(super) fn flush_transaction(&mut self, now: Instant, tid: crate::stun::TransactionId) {
        let mut out = Vec::new();
        let Some(txn) = self.transactions.get_mut(&tid) else {
            return;
        };
        let first = txn.client.sends() == 0;
        while let Some(bytes) = txn.client.poll_transmit() {
            out.push(bytes);
        }
        let (from, to, is_check) = (txn.from, txn.to, matches!(txn.kind, TxnKind::Check { .. }));
        for (i, bytes) in out.into_iter().enumerate() {
            if is_check {
                if first && i == 0 {
                    self.stats.checks_sent += 1;
                } else {
                    self.stats.check_retransmissions += 1;
                }
            }
            if !self.send_queued(now, from, to, bytes) {
                if let Some(TxnKind::Check { pair, .. }) =
                    self.transactions.get(&tid).map(|t| t.kind.clone())
                {
                    self.fail_pair(pair, super::FailureReason::Unreachable);
                }
                return;
            }
        }
    }

    pub(super) fn attr_software() -> Attribute {
        Attribute::Software(concat!("icephone-ice ", env!("CARGO_PKG_VERSION")).into())
    }
}
