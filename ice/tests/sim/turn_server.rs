//! A TURN server (RFC 8656) inside the simulated network: long-term credentials
//! (RFC 8489 §9.2) with realm and expiring nonces, Allocate, Refresh, CreatePermission,
//! ChannelBind, Send/Data indications and ChannelData, permissions enforced on both directions.
//!
//! Clients reach it over UDP, or over a stream the test emulates (`serve_over_stream`: each
//! message arrives whole, ChannelData to the client is padded, RFC 8656 §12.5).
//!
//! Simplifications (test support, documented here): one listening address; UDP relays only; no
//! EVEN-PORT / RESERVATION-TOKEN / DONT-FRAGMENT; a channel number is free again as soon as its
//! binding expires (RFC 8656 §12 asks for a further 5 minutes); no quotas (486) or capacity
//! limits (508).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ice::stun::{
    decode_channel_data, encode_channel_data, verify_integrity, Attribute, Class, IntegrityKey,
    Message, Method, TransactionId,
};

/// First relay port handed out.
pub const FIRST_RELAY_PORT: u16 = 50_000;

#[derive(Clone, Debug)]
pub struct TurnServerConfig {
    /// RFC 8656 §7.2: 600 s default allocation lifetime.
    pub default_lifetime: Duration,
    /// RFC 8656 §7.2: the server's cap on requested lifetimes (3600 s is the usual maximum).
    pub max_lifetime: Duration,
    /// How long a nonce stays valid; `None`: forever. After it, requests get 438 Stale Nonce.
    pub nonce_lifetime: Option<Duration>,
    /// RFC 8656 §9: 300 s.
    pub permission_lifetime: Duration,
    /// RFC 8656 §12: 600 s.
    pub channel_lifetime: Duration,
    pub software: String,
    /// Answer every authenticated Allocate with this error code (e.g. 403 Forbidden).
    pub refuse_allocate: Option<u16>,
}

impl Default for TurnServerConfig {
    fn default() -> Self {
        Self {
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: None,
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            software: "icephone-sim TURN".into(),
            refuse_allocate: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TurnStats {
    pub allocations_active: u64,
    pub allocations_created: u64,
    /// Deleted by the client (Refresh with LIFETIME 0).
    pub allocations_freed: u64,
    /// Deleted because their lifetime ran out.
    pub allocations_expired: u64,
    pub unauthorized_responses: u64,
    pub stale_nonce_responses: u64,
    pub other_error_responses: u64,
    pub refreshes: u64,
    pub permissions_installed: u64,
    pub channels_bound: u64,
    pub relayed_to_peers: u64,
    pub relayed_to_clients: u64,
    /// Peer datagrams (or Send indications) dropped because the peer IP had no permission.
    pub dropped_no_permission: u64,
    /// Datagrams that were neither valid STUN nor valid ChannelData, or had no allocation.
    pub ignored: u64,
}

struct Allocation {
    client: SocketAddr,
    relay: SocketAddr,
    key: IntegrityKey,
    allocate_transaction: TransactionId,
    expires: Instant,
    permissions: HashMap<IpAddr, Instant>,
    /// channel → (peer, expiry)
    channels: HashMap<u16, (SocketAddr, Instant)>,
}

impl Allocation {
    fn permitted(&self, peer: IpAddr, now: Instant) -> bool {
        self.permissions.get(&peer).is_some_and(|exp| *exp > now)
    }

    fn channel_for(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        self.channels
            .iter()
            .find(|(_, (p, exp))| *p == peer && *exp > now)
            .map(|(ch, _)| *ch)
    }
}

type Outgoing = Vec<(SocketAddr, SocketAddr, Vec<u8>)>;

pub struct TurnServer {
    addr: SocketAddr,
    relay_ip: IpAddr,
    realm: String,
    users: HashMap<String, String>,
    config: TurnServerConfig,
    nonces: HashMap<String, Instant>,
    nonce_counter: u64,
    /// Keyed by the client's transport address (the 5-tuple, as the server has one address).
    allocations: HashMap<SocketAddr, Allocation>,
    client_by_relay_port: HashMap<u16, SocketAddr>,
    next_relay_port: u16,
    stats: TurnStats,
    /// Clients whose transport is a stream: ChannelData to them is padded.
    stream_clients: std::collections::HashSet<SocketAddr>,
}

/// Why a request failed authentication (RFC 8489 §9.2.4).
enum AuthFailure {
    /// 401 with REALM and NONCE.
    Unauthorized,
    /// 438 with a fresh NONCE.
    StaleNonce,
    /// 400: MESSAGE-INTEGRITY without USERNAME, REALM or NONCE.
    BadRequest,
}

impl TurnServer {
    pub fn new(
        addr: SocketAddr,
        relay_ip: IpAddr,
        realm: &str,
        users: &[(&str, &str)],
        config: TurnServerConfig,
    ) -> Self {
        Self {
            addr,
            relay_ip,
            realm: realm.to_owned(),
            users: users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect(),
            config,
            nonces: HashMap::new(),
            nonce_counter: 0,
            allocations: HashMap::new(),
            client_by_relay_port: HashMap::new(),
            next_relay_port: FIRST_RELAY_PORT,
            stats: TurnStats::default(),
            stream_clients: std::collections::HashSet::new(),
        }
    }

    /// `client` (the address of its emulated TCP/TLS connection) talks over a stream.
    pub fn serve_over_stream(&mut self, client: SocketAddr) {
        self.stream_clients.insert(client);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn relay_ip(&self) -> IpAddr {
        self.relay_ip
    }

    pub fn stats(&self) -> &TurnStats {
        &self.stats
    }

    pub fn config_mut(&mut self) -> &mut TurnServerConfig {
        &mut self.config
    }

    /// Make every nonce issued so far stale: the next authenticated request gets 438.
    pub fn invalidate_nonces(&mut self) {
        self.nonces.clear();
    }

    /// Whether `peer_ip` holds a live permission on the allocation of `client`.
    pub fn has_permission(&self, client: SocketAddr, peer_ip: IpAddr, now: Instant) -> bool {
        self.allocations
            .get(&client)
            .is_some_and(|a| a.permitted(peer_ip, now))
    }

    /// When the allocation of `client` expires.
    pub fn allocation_expiry(&self, client: SocketAddr) -> Option<Instant> {
        self.allocations.get(&client).map(|a| a.expires)
    }

    /// Remove allocations, permissions and channels whose time is up.
    pub fn expire(&mut self, now: Instant) {
        let expired: Vec<SocketAddr> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(c, _)| *c)
            .collect();
        for client in expired {
            self.remove_allocation(client);
            self.stats.allocations_expired += 1;
        }
        for alloc in self.allocations.values_mut() {
            alloc.permissions.retain(|_, exp| *exp > now);
            alloc.channels.retain(|_, (_, exp)| *exp > now);
        }
    }

    /// Handle one datagram arriving at the listening address or at a relay address.
    pub fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) -> Outgoing {
        self.expire(now);
        if to == self.addr {
            self.on_client_datagram(now, from, data)
        } else {
            self.on_peer_datagram(now, from, to, data)
        }
    }

    fn on_client_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Outgoing {
        // RFC 8656 §12.5 / RFC 7983: 0b01 in the first two bits is ChannelData.
        if data.first().is_some_and(|b| b & 0xC0 == 0x40) {
            return self.channel_data_from_client(now, from, data);
        }
        let Ok(msg) = Message::decode(data) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        match (msg.class, msg.method) {
            (Class::Indication, Method::Send) => self.send_indication(now, from, &msg),
            (Class::Request, _) => {
                let reply = self.request(now, from, data, &msg);
                vec![(self.addr, from, reply)]
            }
            _ => {
                self.stats.ignored += 1;
                Vec::new()
            }
        }
    }

    fn request(&mut self, now: Instant, from: SocketAddr, raw: &[u8], msg: &Message) -> Vec<u8> {
        let id = msg.transaction_id;
        // RFC 8489 §6.3.1.1: unknown comprehension-required attributes → 420.
        if !msg.unknown_comprehension_required.is_empty() {
            self.stats.other_error_responses += 1;
            return self
                .error(msg.method, id, 420, "Unknown Attribute")
                .with(Attribute::UnknownAttributes(
                    msg.unknown_comprehension_required.clone(),
                ))
                .encode(None, true);
        }
        let key = match self.authenticate(now, raw, msg) {
            Ok(key) => key,
            Err(failure) => return self.auth_error(now, msg, failure),
        };
        let result = match msg.method {
            Method::Allocate => self.allocate(now, from, msg, &key),
            Method::Refresh => self.refresh(now, from, msg),
            Method::CreatePermission => self.create_permission(now, from, msg),
            Method::ChannelBind => self.channel_bind(now, from, msg),
            _ => Err((400, "Bad Request: method not served")),
        };
        let response = match result {
            Ok(response) => response,
            Err((code, reason)) => {
                self.stats.other_error_responses += 1;
                self.error(msg.method, id, code, reason)
            }
        };
        // RFC 8489 §9.2.4: responses to authenticated requests carry MESSAGE-INTEGRITY.
        response.encode(Some(&key), true)
    }

    /// RFC 8489 §9.2.4: the server side of the long-term credential mechanism.
    fn authenticate(
        &mut self,
        now: Instant,
        raw: &[u8],
        msg: &Message,
    ) -> Result<IntegrityKey, AuthFailure> {
        if !msg.has_integrity() {
            return Err(AuthFailure::Unauthorized);
        }
        let (Some(username), Some(realm), Some(nonce)) = (msg.username(), msg.realm(), msg.nonce())
        else {
            return Err(AuthFailure::BadRequest);
        };
        if !self.nonce_is_fresh(nonce, now) {
            return Err(AuthFailure::StaleNonce);
        }
        let Some(password) = self.users.get(username) else {
            return Err(AuthFailure::Unauthorized);
        };
        if realm != self.realm {
            return Err(AuthFailure::Unauthorized);
        }
        let key = IntegrityKey::long_term(username, realm, password);
        verify_integrity(raw, &key).map_err(|_| AuthFailure::Unauthorized)?;
        Ok(key)
    }

    fn nonce_is_fresh(&self, nonce: &str, now: Instant) -> bool {
        match self.nonces.get(nonce) {
            None => false,
            Some(issued) => match self.config.nonce_lifetime {
                None => true,
                Some(life) => *issued + life > now,
            },
        }
    }

    fn fresh_nonce(&mut self, now: Instant) -> String {
        self.nonce_counter += 1;
        let nonce = format!("simnonce{:08x}", self.nonce_counter);
        self.nonces.insert(nonce.clone(), now);
        nonce
    }

    fn auth_error(&mut self, now: Instant, msg: &Message, failure: AuthFailure) -> Vec<u8> {
        let id = msg.transaction_id;
        let response = match failure {
            AuthFailure::BadRequest => {
                self.stats.other_error_responses += 1;
                self.error(
                    msg.method,
                    id,
                    400,
                    "Bad Request: missing USERNAME, REALM or NONCE",
                )
            }
            AuthFailure::Unauthorized => {
                self.stats.unauthorized_responses += 1;
                let nonce = self.fresh_nonce(now);
                self.error(msg.method, id, 401, "Unauthorized")
                    .with(Attribute::Realm(self.realm.clone()))
                    .with(Attribute::Nonce(nonce))
            }
            AuthFailure::StaleNonce => {
                self.stats.stale_nonce_responses += 1;
                let nonce = self.fresh_nonce(now);
                self.error(msg.method, id, 438, "Stale Nonce")
                    .with(Attribute::Realm(self.realm.clone()))
                    .with(Attribute::Nonce(nonce))
            }
        };
        response.encode(None, true)
    }

    fn error(&self, method: Method, id: TransactionId, code: u16, reason: &str) -> Message {
        Message::new(Class::Error, method, id)
            .with(Attribute::ErrorCode {
                code,
                reason: reason.to_owned(),
            })
            .with(Attribute::Software(self.config.software.clone()))
    }

    /// RFC 8656 §7.2 / §8: min(requested, max), but never below the default.
    fn granted_lifetime(&self, requested: Option<u32>) -> Duration {
        match requested {
            Some(secs) => Duration::from_secs(u64::from(secs))
                .min(self.config.max_lifetime)
                .max(self.config.default_lifetime),
            None => self.config.default_lifetime,
        }
    }

    /// RFC 8656 §7.2: receiving an Allocate request.
    fn allocate(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message,
        key: &IntegrityKey,
    ) -> Result<Message, (u16, &'static str)> {
        if let Some(code) = self.config.refuse_allocate {
            return Err((code, "Forbidden"));
        }
        if let Some(existing) = self.allocations.get(&from) {
            // A retransmitted Allocate gets the same success again; anything else is 437.
            if existing.allocate_transaction != msg.transaction_id {
                return Err((437, "Allocation Mismatch"));
            }
            let remaining = existing.expires.saturating_duration_since(now);
            return Ok(self.allocate_success(msg.transaction_id, from, existing.relay, remaining));
        }
        let transport = msg.attributes.iter().find_map(|a| match a {
            Attribute::RequestedTransport(t) => Some(*t),
            _ => None,
        });
        match transport {
            None => return Err((400, "Bad Request: no REQUESTED-TRANSPORT")),
            Some(17) => {}
            Some(_) => return Err((442, "Unsupported Transport Protocol")),
        }
        let Some(port) = self.free_relay_port() else {
            return Err((508, "Insufficient Capacity"));
        };
        let relay = SocketAddr::new(self.relay_ip, port);
        let lifetime = self.granted_lifetime(msg.lifetime());
        self.allocations.insert(
            from,
            Allocation {
                client: from,
                relay,
                key: key.clone(),
                allocate_transaction: msg.transaction_id,
                expires: now + lifetime,
                permissions: HashMap::new(),
                channels: HashMap::new(),
            },
        );
        self.client_by_relay_port.insert(port, from);
        self.stats.allocations_created += 1;
        self.stats.allocations_active += 1;
        tracing::debug!(client = %from, %relay, "sim TURN: allocated");
        Ok(self.allocate_success(msg.transaction_id, from, relay, lifetime))
    }

    fn allocate_success(
        &self,
        id: TransactionId,
        client: SocketAddr,
        relay: SocketAddr,
        lifetime: Duration,
    ) -> Message {
        let secs = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        Message::new(Class::Success, Method::Allocate, id)
            .with(Attribute::XorRelayedAddress(relay))
            .with(Attribute::Lifetime(secs))
            .with(Attribute::XorMappedAddress(client))
            .with(Attribute::Software(self.config.software.clone()))
    }

    /// RFC 8656 §8: Refresh; LIFETIME 0 deletes the allocation.
    fn refresh(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message,
    ) -> Result<Message, (u16, &'static str)> {
        if !self.allocations.contains_key(&from) {
            return Err((437, "Allocation Mismatch"));
        }
        self.stats.refreshes += 1;
        let granted = if msg.lifetime() == Some(0) {
            self.remove_allocation(from);
            self.stats.allocations_freed += 1;
            tracing::debug!(client = %from, "sim TURN: deallocated by the client");
            0
        } else {
            let lifetime = self.granted_lifetime(msg.lifetime());
            if let Some(alloc) = self.allocations.get_mut(&from) {
                alloc.expires = now + lifetime;
            }
            u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX)
        };
        Ok(
            Message::new(Class::Success, Method::Refresh, msg.transaction_id)
                .with(Attribute::Lifetime(granted))
                .with(Attribute::Software(self.config.software.clone())),
        )
    }

    /// RFC 8656 §9.2: install or refresh a permission per XOR-PEER-ADDRESS (IP only).
    fn create_permission(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message,
    ) -> Result<Message, (u16, &'static str)> {
        let peers: Vec<IpAddr> = msg
            .attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::XorPeerAddress(p) => Some(p.ip()),
                _ => None,
            })
            .collect();
        if peers.is_empty() {
            return Err((400, "Bad Request: no XOR-PEER-ADDRESS"));
        }
        let lifetime = self.config.permission_lifetime;
        let Some(alloc) = self.allocations.get_mut(&from) else {
            return Err((437, "Allocation Mismatch"));
        };
        for peer in peers {
            alloc.permissions.insert(peer, now + lifetime);
            self.stats.permissions_installed += 1;
        }
        Ok(
            Message::new(Class::Success, Method::CreatePermission, msg.transaction_id)
                .with(Attribute::Software(self.config.software.clone())),
        )
    }

    /// RFC 8656 §12.2: bind (or refresh) a channel; also refreshes the peer's permission.
    fn channel_bind(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message,
    ) -> Result<Message, (u16, &'static str)> {
        let (Some(channel), Some(peer)) = (msg.channel_number(), msg.xor_peer_address()) else {
            return Err((
                400,
                "Bad Request: CHANNEL-NUMBER and XOR-PEER-ADDRESS required",
            ));
        };
        // RFC 8656 §12: channel numbers 0x4000 through 0x4FFF.
        if !(0x4000..=0x4FFF).contains(&channel) {
            return Err((400, "Bad Request: channel number out of range"));
        }
        let channel_lifetime = self.config.channel_lifetime;
        let permission_lifetime = self.config.permission_lifetime;
        let Some(alloc) = self.allocations.get_mut(&from) else {
            return Err((437, "Allocation Mismatch"));
        };
        if let Some((bound_peer, _)) = alloc.channels.get(&channel) {
            if *bound_peer != peer {
                return Err((400, "Bad Request: channel bound to another peer"));
            }
        }
        if alloc
            .channel_for(peer, now)
            .is_some_and(|bound| bound != channel)
        {
            return Err((400, "Bad Request: peer bound to another channel"));
        }
        alloc
            .channels
            .insert(channel, (peer, now + channel_lifetime));
        alloc
            .permissions
            .insert(peer.ip(), now + permission_lifetime);
        self.stats.channels_bound += 1;
        Ok(
            Message::new(Class::Success, Method::ChannelBind, msg.transaction_id)
                .with(Attribute::Software(self.config.software.clone())),
        )
    }

    /// RFC 8656 §11.2: relay a Send indication's DATA to the peer, if permitted.
    fn send_indication(&mut self, now: Instant, from: SocketAddr, msg: &Message) -> Outgoing {
        let (Some(peer), Some(data)) = (msg.xor_peer_address(), msg.data()) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        let Some(alloc) = self.allocations.get(&from) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        if !alloc.permitted(peer.ip(), now) {
            self.stats.dropped_no_permission += 1;
            return Vec::new();
        }
        self.stats.relayed_to_peers += 1;
        vec![(alloc.relay, peer, data.to_vec())]
    }

    /// RFC 8656 §12.5: ChannelData from the client goes to the channel's peer.
    fn channel_data_from_client(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Outgoing {
        let Ok((channel, payload)) = decode_channel_data(data) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        let Some(alloc) = self.allocations.get(&from) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        let Some((peer, _)) = alloc.channels.get(&channel).filter(|(_, exp)| *exp > now) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        self.stats.relayed_to_peers += 1;
        vec![(alloc.relay, *peer, payload.to_vec())]
    }

    /// RFC 8656 §11.3 / §12.4: a peer's datagram at a relay address goes to the client as
    /// ChannelData when a channel is bound, else as a Data indication — only with a permission.
    fn on_peer_datagram(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        relay: SocketAddr,
        data: &[u8],
    ) -> Outgoing {
        let Some(alloc) = self
            .client_by_relay_port
            .get(&relay.port())
            .and_then(|client| self.allocations.get(client))
        else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        if !alloc.permitted(peer.ip(), now) {
            self.stats.dropped_no_permission += 1;
            return Vec::new();
        }
        let bytes = match alloc.channel_for(peer, now) {
            // RFC 8656 §12.5: padded over a stream, not over UDP.
            Some(channel) => {
                let pad = self.stream_clients.contains(&alloc.client);
                encode_channel_data(channel, data, pad)
            }
            None => {
                // Indications still need a transaction ID; a counter keeps them unique and the
                // simulation free of extra randomness.
                let mut id = [0u8; 12];
                id[4..].copy_from_slice(&self.stats.relayed_to_clients.to_be_bytes());
                Message::new(Class::Indication, Method::Data, TransactionId(id))
                    .with(Attribute::XorPeerAddress(peer))
                    .with(Attribute::Data(data.to_vec()))
                    .encode(None, true)
            }
        };
        let client = alloc.client;
        self.stats.relayed_to_clients += 1;
        vec![(self.addr, client, bytes)]
    }

    fn remove_allocation(&mut self, client: SocketAddr) {
        if let Some(alloc) = self.allocations.remove(&client) {
            self.client_by_relay_port.remove(&alloc.relay.port());
            self.stats.allocations_active = self.stats.allocations_active.saturating_sub(1);
        }
    }

    fn free_relay_port(&mut self) -> Option<u16> {
        let range = u32::from(u16::MAX - FIRST_RELAY_PORT) + 1;
        for _ in 0..range {
            let port = self.next_relay_port;
            self.next_relay_port = if port == u16::MAX {
                FIRST_RELAY_PORT
            } else {
                port + 1
            };
            if !self.client_by_relay_port.contains_key(&port) {
                return Some(port);
            }
        }
        None
    }
}
