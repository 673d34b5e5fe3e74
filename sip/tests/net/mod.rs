//! A virtual network for endpoint tests: endpoints and a tiny registrar exchange
//! transmits with zero latency in virtual time; tests can drop or inspect any message.
#![allow(dead_code)]

pub mod registrar;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::endpoint::{ConnId, Endpoint, EndpointConfig, SipEvent, Transmit, TransportKind};

pub use registrar::Registrar;

/// A node on the virtual network.
pub enum Node {
    Ua(Box<Endpoint>),
    Registrar(Box<Registrar>),
}

/// A message seen on the wire.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub from_node: usize,
    pub transmit: Transmit,
    pub dropped: bool,
}

impl Sent {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.transmit.bytes).into_owned()
    }
    /// First line of the message.
    pub fn start_line(&self) -> String {
        self.text().lines().next().unwrap_or_default().to_owned()
    }
}

type DropRule = Box<dyn FnMut(&Sent) -> bool>;

pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// Per node: UDP, TCP and TLS addresses.
    addrs: Vec<NodeAddrs>,
    /// (node, conn) → (peer node, peer conn).
    links: HashMap<(usize, ConnId), (usize, ConnId)>,
    /// (node, conn) → (transport, local, remote).
    conn_addrs: HashMap<(usize, ConnId), (TransportKind, SocketAddr, SocketAddr)>,
    next_conn: u64,
    next_port: u16,
    pub wire: Vec<Sent>,
    pub events: Vec<Vec<SipEvent>>,
    drop_rule: Option<DropRule>,
    /// NAT: source address rewrite for a node's UDP packets (as a NAT would map them).
    pub udp_nat: HashMap<usize, SocketAddr>,
}

/// Where a node listens, per transport (a TLS "listener" stands for a server that accepts
/// TLS; the virtual network carries the plaintext, as the driver hands it over).
#[derive(Debug, Clone, Copy)]
struct NodeAddrs {
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    tls: Option<SocketAddr>,
}

impl NodeAddrs {
    fn get(&self, transport: TransportKind) -> Option<SocketAddr> {
        match transport {
            TransportKind::Udp => self.udp,
            TransportKind::Tcp => self.tcp,
            TransportKind::Tls => self.tls,
        }
    }
}

pub fn ua_config(aor: &str, port: u16) -> EndpointConfig {
    let mut c = EndpointConfig::new(aor);
    c.udp_local = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    c.tcp_local = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    c
}

/// As [`ua_config`], with TLS too (on the same address).
pub fn ua_config_tls(aor: &str, port: u16) -> EndpointConfig {
    let mut c = ua_config(aor, port);
    c.tls_local = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    c
}

impl Net {
    pub fn new() -> Net {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            nodes: Vec::new(),
            addrs: Vec::new(),
            links: HashMap::new(),
            conn_addrs: HashMap::new(),
            next_conn: 1,
            next_port: 40000,
            wire: Vec::new(),
            events: Vec::new(),
            drop_rule: None,
            udp_nat: HashMap::new(),
        }
    }

    pub fn add_ua(&mut self, config: EndpointConfig, seed: u64) -> usize {
        let addrs = NodeAddrs {
            udp: config.udp_local,
            tcp: config.tcp_local,
            tls: config.tls_local,
        };
        self.nodes
            .push(Node::Ua(Box::new(Endpoint::with_seed(config, seed))));
        self.addrs.push(addrs);
        self.events.push(Vec::new());
        self.nodes.len() - 1
    }

    pub fn add_registrar(&mut self, registrar: Registrar) -> usize {
        let a = Some(registrar.addr);
        self.nodes.push(Node::Registrar(Box::new(registrar)));
        self.addrs.push(NodeAddrs {
            udp: a,
            tcp: a,
            tls: a,
        });
        self.events.push(Vec::new());
        self.nodes.len() - 1
    }

    pub fn ua(&mut self, node: usize) -> &mut Endpoint {
        match self.nodes.get_mut(node) {
            Some(Node::Ua(e)) => e,
            _ => panic!("node {node} is not a UA"),
        }
    }

    pub fn registrar(&mut self, node: usize) -> &mut Registrar {
        match self.nodes.get_mut(node) {
            Some(Node::Registrar(r)) => r,
            _ => panic!("node {node} is not a registrar"),
        }
    }

    pub fn set_drop(&mut self, rule: impl FnMut(&Sent) -> bool + 'static) {
        self.drop_rule = Some(Box::new(rule));
    }

    pub fn clear_drop(&mut self) {
        self.drop_rule = None;
    }

    fn node_for(&self, transport: TransportKind, dest: SocketAddr) -> Option<usize> {
        self.addrs
            .iter()
            .position(|a| a.get(transport) == Some(dest))
    }

    /// Delivers every queued transmit (and whatever they cause) at the current time.
    /// Bounded: panics after 10 000 messages at one instant (livelock guard).
    pub fn deliver(&mut self) {
        for _ in 0..10_000 {
            let mut any = false;
            for node in 0..self.nodes.len() {
                let transmit = match &mut self.nodes[node] {
                    Node::Ua(e) => {
                        while let Some(ev) = e.poll_event() {
                            self.events[node].push(ev);
                        }
                        while e.poll_close().is_some() {}
                        e.poll_transmit()
                    }
                    Node::Registrar(r) => r.pop(),
                };
                if let Some(t) = transmit {
                    any = true;
                    self.route(node, t);
                }
            }
            if !any {
                return;
            }
        }
        panic!("livelock: too many messages at one instant");
    }

    fn route(&mut self, from_node: usize, mut transmit: Transmit) {
        let mut sent = Sent {
            at: self.now,
            from_node,
            transmit: transmit.clone(),
            dropped: false,
        };
        if let Some(rule) = &mut self.drop_rule {
            sent.dropped = rule(&sent);
        }
        let dropped = sent.dropped;
        // For TCP or TLS without a connection, open one now (both ends learn it).
        if transmit.transport.is_stream() {
            let conn = match transmit.conn {
                Some(c) if self.links.contains_key(&(from_node, c)) => c,
                _ => match self.find_conn(from_node, transmit.transport, transmit.dest) {
                    Some(c) => c,
                    None => match self.open_stream(from_node, transmit.transport, transmit.dest) {
                        Some(c) => c,
                        None => {
                            self.wire.push(sent);
                            return;
                        }
                    },
                },
            };
            transmit.conn = Some(conn);
            sent.transmit.conn = Some(conn);
        }
        self.wire.push(sent);
        if dropped {
            return;
        }
        let now = self.now;
        match transmit.transport {
            TransportKind::Udp => {
                // Inbound through a NAT mapping goes to the node behind it.
                let behind_nat = self
                    .udp_nat
                    .iter()
                    .find(|(_, a)| **a == transmit.dest)
                    .map(|(n, _)| *n);
                let Some(to) = self
                    .node_for(TransportKind::Udp, transmit.dest)
                    .or(behind_nat)
                else {
                    return;
                };
                let local_addr = self.addrs[to].udp.unwrap_or(transmit.dest);
                let source = self
                    .udp_nat
                    .get(&from_node)
                    .copied()
                    .or(transmit.local)
                    .or(self.addrs[from_node].udp)
                    .expect("sender has a UDP address");
                let local = local_addr;
                match &mut self.nodes[to] {
                    Node::Ua(e) => e.handle_datagram(now, local, source, &transmit.bytes),
                    Node::Registrar(r) => {
                        r.on_bytes(TransportKind::Udp, source, None, &transmit.bytes)
                    }
                }
            }
            TransportKind::Tcp | TransportKind::Tls => {
                let Some(conn) = transmit.conn else { return };
                let Some(&(peer, peer_conn)) = self.links.get(&(from_node, conn)) else {
                    return;
                };
                let remote = self
                    .conn_addrs
                    .get(&(peer, peer_conn))
                    .map(|a| a.2)
                    .expect("conn addrs");
                match &mut self.nodes[peer] {
                    Node::Ua(e) => e.handle_stream(now, peer_conn, &transmit.bytes),
                    Node::Registrar(r) => {
                        r.on_bytes(transmit.transport, remote, Some(peer_conn), &transmit.bytes)
                    }
                }
            }
        }
    }

    fn find_conn(&self, node: usize, transport: TransportKind, dest: SocketAddr) -> Option<ConnId> {
        self.conn_addrs
            .iter()
            .filter(|((n, c), (t, _, remote))| {
                *n == node
                    && *t == transport
                    && *remote == dest
                    && self.links.contains_key(&(*n, *c))
            })
            .map(|((_, c), _)| *c)
            .min()
    }

    /// A TCP connection from `node` to `dest` (both ends told).
    pub fn open_conn(&mut self, node: usize, dest: SocketAddr) -> Option<ConnId> {
        self.open_stream(node, TransportKind::Tcp, dest)
    }

    /// A TCP or TLS connection from `node` to `dest` (both ends told; a TLS one as the
    /// driver reports it, after the handshake).
    pub fn open_stream(
        &mut self,
        node: usize,
        transport: TransportKind,
        dest: SocketAddr,
    ) -> Option<ConnId> {
        let peer = self.node_for(transport, dest)?;
        let a = ConnId(self.next_conn);
        let b = ConnId(self.next_conn + 1);
        self.next_conn += 2;
        let ephemeral = SocketAddr::from(([127, 0, 0, 1], self.next_port));
        self.next_port += 1;
        self.links.insert((node, a), (peer, b));
        self.links.insert((peer, b), (node, a));
        self.conn_addrs
            .insert((node, a), (transport, ephemeral, dest));
        self.conn_addrs
            .insert((peer, b), (transport, dest, ephemeral));
        if let Node::Ua(e) = &mut self.nodes[node] {
            e.stream_opened(a, transport, ephemeral, dest);
        }
        if let Node::Ua(e) = &mut self.nodes[peer] {
            e.stream_opened(b, transport, dest, ephemeral);
        }
        Some(a)
    }

    /// Closes every connection of `node` (both ends told).
    pub fn close_conns_of(&mut self, node: usize) {
        let now = self.now;
        let mine: Vec<(usize, ConnId)> = self
            .links
            .keys()
            .filter(|(n, _)| *n == node)
            .copied()
            .collect();
        for key in mine {
            if let Some(other) = self.links.remove(&key) {
                self.links.remove(&other);
                for (n, c) in [key, other] {
                    if let Node::Ua(e) = &mut self.nodes[n] {
                        e.connection_closed(now, c);
                    }
                }
            }
        }
    }

    /// The earliest timer of any endpoint.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Ua(e) => e.poll_timeout(),
                Node::Registrar(_) => None,
            })
            .min()
    }

    /// Advances virtual time to the next timer (at most to `limit`) and runs it.
    pub fn step_time(&mut self, limit: Instant) -> bool {
        let Some(at) = self.next_timeout() else {
            self.now = limit.max(self.now);
            return false;
        };
        if at > limit {
            self.now = limit.max(self.now);
            return false;
        }
        self.now = at.max(self.now);
        let now = self.now;
        for n in &mut self.nodes {
            if let Node::Ua(e) = n {
                if e.poll_timeout().is_some_and(|t| t <= now) {
                    e.handle_timeout(now);
                }
            }
        }
        self.deliver();
        true
    }

    /// Runs timers and deliveries until `duration` of virtual time has passed.
    pub fn run_for(&mut self, duration: Duration) {
        let limit = self.now + duration;
        self.deliver();
        for _ in 0..100_000 {
            if !self.step_time(limit) {
                return;
            }
        }
        panic!("too many timer steps");
    }

    /// Runs until `pred` holds for node `node`'s events (checked after each step), for at
    /// most `max` virtual time. Returns whether it held.
    pub fn run_until(
        &mut self,
        max: Duration,
        mut pred: impl FnMut(&[SipEvent]) -> bool,
        node: usize,
    ) -> bool {
        let limit = self.now + max;
        self.deliver();
        for _ in 0..100_000 {
            if pred(&self.events[node]) {
                return true;
            }
            if !self.step_time(limit) {
                return pred(&self.events[node]);
            }
        }
        false
    }

    /// Takes the events collected for `node`.
    pub fn take_events(&mut self, node: usize) -> Vec<SipEvent> {
        std::mem::take(&mut self.events[node])
    }

    /// Messages on the wire whose start line begins with `prefix`.
    pub fn sent_matching(&self, prefix: &str) -> Vec<&Sent> {
        self.wire
            .iter()
            .filter(|s| s.start_line().starts_with(prefix))
            .collect()
    }
}
