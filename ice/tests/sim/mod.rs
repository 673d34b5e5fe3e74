//! A deterministic simulated datagram network for tests and benches: virtual time, a seeded RNG,
//! hosts, RFC 4787 NAT boxes, lossy links, and STUN/TURN servers that run inside the network.
//!
//! Addresses: the internet is every public host, NAT public IP, server address and TURN relay
//! IP. Hosts behind a NAT use private IPs chosen by the test; two hosts behind the same NAT reach
//! each other directly (one LAN per NAT); a private IP is not routable from anywhere else.
//!
//! Path of a datagram sent by a host: the host's uplink conditions (delay, jitter, loss,
//! duplication, reordering), then — if the host is behind a NAT — the NAT's mapping, then the
//! NAT's wan conditions, then internet routing (instantaneous) to a public host, a NAT's inbound
//! filter, or a server. Servers answer at the instant a request arrives; their answers take the
//! same internet route back. Only datagrams for hosts come out of [`Network::advance`].
//!
//! Used by `ice/tests/*.rs` via `mod sim;` and by benches via
//! `#[path = "../tests/sim/mod.rs"] mod sim;`. Not every user needs every item.
#![allow(dead_code)]

pub mod link;
pub mod nat;
pub mod stun_server;
pub mod turn_server;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use link::LinkConditions;
pub use nat::{Nat, NatId, NatKind};
pub use stun_server::{StunServer, StunServerStats};
pub use turn_server::{TurnServer, TurnServerConfig, TurnStats};

/// A datagram delivered to a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub at: Instant,
    /// The source as the host sees it (after any NAT translation on either side).
    pub from: SocketAddr,
    /// The host-local socket address it arrives on.
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

/// Counters over the network's whole life.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetStats {
    /// Datagrams handed to [`Network::send`] by hosts.
    pub sent: u64,
    /// Datagrams delivered to hosts (duplicates count twice).
    pub delivered: u64,
    /// Datagrams delivered to servers (STUN, TURN listening address, TURN relays).
    pub delivered_to_servers: u64,
    pub dropped_loss: u64,
    pub dropped_nat_filter: u64,
    pub dropped_no_route: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Copies held back for reordering.
    pub held_back: u64,
    pub stun_servers: HashMap<SocketAddr, StunServerStats>,
    pub turn_servers: HashMap<SocketAddr, TurnStats>,
}

impl NetStats {
    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_nat_filter + self.dropped_no_route
    }
}

#[derive(Clone, Debug)]
struct Host {
    behind: Option<NatId>,
    link: LinkConditions,
}

enum Server {
    Stun(StunServer),
    Turn(Box<TurnServer>),
}

/// Where a datagram in flight is when its `at` comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// On the internet, to be routed by its destination.
    Internet,
    /// Arriving at a NAT from its LAN, to be mapped.
    NatLan(NatId),
    /// Arriving at a host.
    Host,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    stage: Stage,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

// Earliest `at` first, then send order: a min-heap through BinaryHeap's max-heap.
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for InFlight {}

/// The simulated network.
pub struct Network {
    now: Instant,
    rng: ChaCha8Rng,
    seq: u64,
    queue: BinaryHeap<InFlight>,
    hosts: HashMap<IpAddr, Host>,
    nats: Vec<Nat>,
    nat_by_public_ip: HashMap<IpAddr, NatId>,
    servers: Vec<Server>,
    server_by_addr: HashMap<SocketAddr, usize>,
    server_by_relay_ip: HashMap<IpAddr, usize>,
    stats: NetStats,
    outbox: Vec<Delivery>,
}

impl Network {
    pub fn new(seed: u64, start: Instant) -> Self {
        Self {
            now: start,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seq: 0,
            queue: BinaryHeap::new(),
            hosts: HashMap::new(),
            nats: Vec::new(),
            nat_by_public_ip: HashMap::new(),
            servers: Vec::new(),
            server_by_addr: HashMap::new(),
            server_by_relay_ip: HashMap::new(),
            stats: NetStats::default(),
            outbox: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// A NAT with a public (wan) IP. Its wan link is ideal and its mappings never expire unless
    /// changed with [`Network::set_nat_wan_link`] / [`Network::set_nat_mapping_timeout`].
    pub fn add_nat(&mut self, kind: NatKind, public_ip: IpAddr) -> NatId {
        let id = NatId(self.nats.len());
        self.nats.push(Nat::new(kind, public_ip));
        self.nat_by_public_ip.insert(public_ip, id);
        id
    }

    /// Conditions for datagrams a NAT forwards to the internet.
    pub fn set_nat_wan_link(&mut self, nat: NatId, link: LinkConditions) {
        if let Some(n) = self.nats.get_mut(nat.0) {
            n.wan_link = link;
        }
    }

    /// RFC 4787 §4.3: idle mappings (no outbound traffic for `timeout`) are removed.
    pub fn set_nat_mapping_timeout(&mut self, nat: NatId, timeout: Option<std::time::Duration>) {
        if let Some(n) = self.nats.get_mut(nat.0) {
            n.mapping_timeout = timeout;
        }
    }

    /// The NAT box itself, to inspect its mappings.
    pub fn nat(&self, nat: NatId) -> Option<&Nat> {
        self.nats.get(nat.0)
    }

    /// A host IP, public (`behind: None`) or behind a NAT. Its uplink gets `link` conditions.
    pub fn add_host(&mut self, ip: IpAddr, behind: Option<NatId>, link: LinkConditions) {
        self.hosts.insert(ip, Host { behind, link });
    }

    /// Change a host's uplink conditions (e.g. to make a link fail mid-test).
    pub fn set_host_link(&mut self, ip: IpAddr, link: LinkConditions) {
        if let Some(host) = self.hosts.get_mut(&ip) {
            host.link = link;
        }
    }

    /// A STUN server answering Binding requests at a public address.
    pub fn add_stun_server(&mut self, addr: SocketAddr) {
        self.servers.push(Server::Stun(StunServer::new(addr)));
        self.server_by_addr.insert(addr, self.servers.len() - 1);
    }

    /// A TURN server with the default [`TurnServerConfig`].
    pub fn add_turn_server(
        &mut self,
        addr: SocketAddr,
        relay_ip: IpAddr,
        realm: &str,
        users: &[(&str, &str)],
    ) {
        self.add_turn_server_with(addr, relay_ip, realm, users, TurnServerConfig::default());
    }

    /// A TURN server with explicit lifetimes (nonce expiry, allocation lifetimes, ...).
    pub fn add_turn_server_with(
        &mut self,
        addr: SocketAddr,
        relay_ip: IpAddr,
        realm: &str,
        users: &[(&str, &str)],
        config: TurnServerConfig,
    ) {
        let server = TurnServer::new(addr, relay_ip, realm, users, config);
        self.servers.push(Server::Turn(Box::new(server)));
        let index = self.servers.len() - 1;
        self.server_by_addr.insert(addr, index);
        self.server_by_relay_ip.insert(relay_ip, index);
    }

    /// Send a datagram from a host's local socket address at the current virtual time.
    pub fn send(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.stats.sent += 1;
        let Some(host) = self.hosts.get(&from.ip()).cloned() else {
            tracing::debug!(%from, %to, "sim: send from an unknown host, dropped");
            self.stats.dropped_no_route += 1;
            return;
        };
        let stage = match host.behind {
            Some(nat) => {
                let same_lan = self
                    .hosts
                    .get(&to.ip())
                    .is_some_and(|h| h.behind == Some(nat));
                if same_lan {
                    Stage::Host
                } else {
                    Stage::NatLan(nat)
                }
            }
            None => Stage::Internet,
        };
        let at = self.now;
        self.through_link(&host.link, at, stage, from, to, data);
    }

    /// The time of the next pending event (a datagram reaching its next hop), if any.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.peek().map(|f| f.at)
    }

    /// Advance virtual time to `now` (never backwards) and return the datagrams delivered to
    /// hosts by then, in arrival order.
    pub fn advance(&mut self, now: Instant) -> Vec<Delivery> {
        while self.queue.peek().is_some_and(|f| f.at <= now) {
            let Some(flight) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(flight.at);
            self.process(flight);
        }
        self.now = self.now.max(now);
        let at = self.now;
        for server in &mut self.servers {
            if let Server::Turn(turn) = server {
                turn.expire(at);
            }
        }
        std::mem::take(&mut self.outbox)
    }

    pub fn stats(&self) -> NetStats {
        let mut stats = self.stats.clone();
        for server in &self.servers {
            match server {
                Server::Stun(s) => {
                    stats.stun_servers.insert(s.addr(), s.stats().clone());
                }
                Server::Turn(t) => {
                    stats.turn_servers.insert(t.addr(), t.stats().clone());
                }
            }
        }
        stats
    }

    /// The TURN server listening at `addr`, to inspect or reconfigure it.
    pub fn turn_server_mut(&mut self, addr: SocketAddr) -> Option<&mut TurnServer> {
        let index = *self.server_by_addr.get(&addr)?;
        match self.servers.get_mut(index)? {
            Server::Turn(t) => Some(t),
            Server::Stun(_) => None,
        }
    }

    fn through_link(
        &mut self,
        link: &LinkConditions,
        at: Instant,
        stage: Stage,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) {
        let fate = link::sample_fate(link, &mut self.rng);
        if fate.lost {
            self.stats.dropped_loss += 1;
            return;
        }
        if fate.duplicated {
            self.stats.duplicated += 1;
        }
        if fate.held_back {
            self.stats.held_back += 1;
        }
        for delay in fate.arrivals {
            self.schedule(at + delay, stage, from, to, data.clone());
        }
    }

    fn schedule(
        &mut self,
        at: Instant,
        stage: Stage,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) {
        self.seq += 1;
        self.queue.push(InFlight {
            at,
            seq: self.seq,
            stage,
            from,
            to,
            data,
        });
    }

    fn process(&mut self, flight: InFlight) {
        match flight.stage {
            Stage::Host => self.deliver_to_host(flight.at, flight.from, flight.to, flight.data),
            Stage::NatLan(nat) => self.nat_outbound(nat, flight),
            Stage::Internet => self.route(flight.at, flight.from, flight.to, flight.data),
        }
    }

    fn deliver_to_host(&mut self, at: Instant, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if !self.hosts.contains_key(&to.ip()) {
            self.stats.dropped_no_route += 1;
            return;
        }
        self.stats.delivered += 1;
        self.outbox.push(Delivery { at, from, to, data });
    }

    fn nat_outbound(&mut self, id: NatId, flight: InFlight) {
        let Some(nat) = self.nats.get_mut(id.0) else {
            self.stats.dropped_no_route += 1;
            return;
        };
        let Some(external) = nat.outbound(flight.from, flight.to, flight.at) else {
            tracing::debug!(from = %flight.from, "sim: NAT out of ports, dropped");
            self.stats.dropped_no_route += 1;
            return;
        };
        if flight.to.ip() == nat.public_ip {
            // RFC 4787 §6 REQ-9: hairpinning, with the sender's external address as source.
            self.nat_inbound(id, flight.at, external, flight.to, flight.data);
            return;
        }
        let wan = nat.wan_link;
        self.through_link(
            &wan,
            flight.at,
            Stage::Internet,
            external,
            flight.to,
            flight.data,
        );
    }

    fn nat_inbound(
        &mut self,
        id: NatId,
        at: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) {
        let Some(nat) = self.nats.get_mut(id.0) else {
            self.stats.dropped_no_route += 1;
            return;
        };
        match nat.inbound(from, to.port(), at) {
            Some(internal) => self.deliver_to_host(at, from, internal, data),
            None => {
                tracing::trace!(%from, %to, "sim: NAT filter dropped an inbound datagram");
                self.stats.dropped_nat_filter += 1;
            }
        }
    }

    fn route(&mut self, at: Instant, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if let Some(index) = self.server_by_addr.get(&to).copied() {
            self.deliver_to_server(index, at, from, to, data);
        } else if let Some(index) = self.server_by_relay_ip.get(&to.ip()).copied() {
            self.deliver_to_server(index, at, from, to, data);
        } else if let Some(id) = self.nat_by_public_ip.get(&to.ip()).copied() {
            self.nat_inbound(id, at, from, to, data);
        } else if self.hosts.get(&to.ip()).is_some_and(|h| h.behind.is_none()) {
            self.deliver_to_host(at, from, to, data);
        } else {
            tracing::trace!(%from, %to, "sim: no route");
            self.stats.dropped_no_route += 1;
        }
    }

    fn deliver_to_server(
        &mut self,
        index: usize,
        at: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) {
        self.stats.delivered_to_servers += 1;
        let replies = match self.servers.get_mut(index) {
            Some(Server::Stun(stun)) => stun.handle(from, to, &data),
            Some(Server::Turn(turn)) => turn.handle(at, from, to, &data),
            None => Vec::new(),
        };
        // Servers sit on the internet with ideal links: their datagrams are routed at once.
        for (src, dst, bytes) in replies {
            self.schedule(at, Stage::Internet, src, dst, bytes);
        }
    }
}
