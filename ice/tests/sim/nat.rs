//! NAT boxes with the RFC 4787 mapping and filtering behaviours.
//!
//! | kind | mapping (RFC 4787 §4.1) | filtering (RFC 4787 §5) |
//! |---|---|---|
//! | `FullCone` | endpoint-independent | endpoint-independent |
//! | `AddressRestricted` | endpoint-independent | address-dependent |
//! | `PortRestricted` | endpoint-independent | address-and-port-dependent |
//! | `Symmetric` | address-and-port-dependent | address-and-port-dependent |
//!
//! Mapping timeouts are off by default (mappings live forever); `mapping_timeout` turns them on.
//! Only outbound traffic refreshes a mapping (RFC 4787 §4.3 REQ-6 allows inbound refresh too;
//! outbound-only is the stricter, common case). Hairpinning (RFC 4787 §6 REQ-9) is supported:
//! a datagram from inside to the NAT's own public address is mapped as usual, then goes through
//! the inbound filter of the target mapping with the sender's *external* address as source.
//! External ports are handed out sequentially from [`FIRST_EXTERNAL_PORT`] (no port
//! preservation, so the tests never depend on it).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::link::LinkConditions;

/// First external port a NAT hands out.
pub const FIRST_EXTERNAL_PORT: u16 = 40_000;

/// RFC 4787 NAT behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    FullCone,
    AddressRestricted,
    PortRestricted,
    Symmetric,
}

impl NatKind {
    pub const ALL: [NatKind; 4] = [
        NatKind::FullCone,
        NatKind::AddressRestricted,
        NatKind::PortRestricted,
        NatKind::Symmetric,
    ];

    /// RFC 4787 §4.1: endpoint-independent mapping reuses one external port for every remote.
    pub fn endpoint_independent_mapping(self) -> bool {
        !matches!(self, NatKind::Symmetric)
    }
}

/// Handle of a NAT in a [`super::Network`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatId(pub usize);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum MappingKey {
    /// Endpoint-independent: one mapping per internal address.
    Independent(SocketAddr),
    /// Address-and-port-dependent: one mapping per (internal, remote) pair.
    Dependent(SocketAddr, SocketAddr),
}

#[derive(Clone, Debug)]
struct Mapping {
    key: MappingKey,
    internal: SocketAddr,
    /// Remote addresses this mapping has sent to: the filter state.
    contacted: HashSet<SocketAddr>,
    last_outbound: Instant,
}

/// One NAT box.
#[derive(Clone, Debug)]
pub struct Nat {
    pub kind: NatKind,
    pub public_ip: IpAddr,
    /// Conditions for datagrams the NAT forwards to the internet.
    pub wan_link: LinkConditions,
    /// `None`: mappings never expire.
    pub mapping_timeout: Option<Duration>,
    by_port: HashMap<u16, Mapping>,
    by_key: HashMap<MappingKey, u16>,
    next_port: u16,
}

impl Nat {
    pub fn new(kind: NatKind, public_ip: IpAddr) -> Self {
        Self {
            kind,
            public_ip,
            wan_link: LinkConditions::ideal(),
            mapping_timeout: None,
            by_port: HashMap::new(),
            by_key: HashMap::new(),
            next_port: FIRST_EXTERNAL_PORT,
        }
    }

    /// Translate an outbound datagram's source. `None` when the NAT has no free port.
    pub fn outbound(
        &mut self,
        internal: SocketAddr,
        remote: SocketAddr,
        now: Instant,
    ) -> Option<SocketAddr> {
        self.expire(now);
        let key = if self.kind.endpoint_independent_mapping() {
            MappingKey::Independent(internal)
        } else {
            MappingKey::Dependent(internal, remote)
        };
        let port = match self.by_key.get(&key) {
            Some(port) => *port,
            None => {
                let port = self.free_port()?;
                self.by_key.insert(key.clone(), port);
                self.by_port.insert(
                    port,
                    Mapping {
                        key,
                        internal,
                        contacted: HashSet::new(),
                        last_outbound: now,
                    },
                );
                port
            }
        };
        let mapping = self.by_port.get_mut(&port)?;
        mapping.contacted.insert(remote);
        mapping.last_outbound = now;
        Some(SocketAddr::new(self.public_ip, port))
    }

    /// Filter an inbound datagram from `remote` to `external_port`: the internal destination when
    /// it passes, `None` when no mapping exists or the filter drops it.
    pub fn inbound(
        &mut self,
        remote: SocketAddr,
        external_port: u16,
        now: Instant,
    ) -> Option<SocketAddr> {
        self.expire(now);
        let mapping = self.by_port.get(&external_port)?;
        let allowed = match self.kind {
            // RFC 4787 §5: endpoint-independent filtering.
            NatKind::FullCone => true,
            // RFC 4787 §5: address-dependent filtering.
            NatKind::AddressRestricted => mapping.contacted.iter().any(|a| a.ip() == remote.ip()),
            // RFC 4787 §5: address-and-port-dependent filtering.
            NatKind::PortRestricted | NatKind::Symmetric => mapping.contacted.contains(&remote),
        };
        allowed.then_some(mapping.internal)
    }

    /// How many mappings are alive.
    pub fn mapping_count(&self) -> usize {
        self.by_port.len()
    }

    fn expire(&mut self, now: Instant) {
        let Some(timeout) = self.mapping_timeout else {
            return;
        };
        let expired: Vec<u16> = self
            .by_port
            .iter()
            .filter(|(_, m)| m.last_outbound + timeout <= now)
            .map(|(port, _)| *port)
            .collect();
        for port in expired {
            if let Some(mapping) = self.by_port.remove(&port) {
                self.by_key.remove(&mapping.key);
            }
        }
    }

    fn free_port(&mut self) -> Option<u16> {
        let range = u32::from(u16::MAX - FIRST_EXTERNAL_PORT) + 1;
        for _ in 0..range {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                FIRST_EXTERNAL_PORT
            } else {
                port + 1
            };
            if !self.by_port.contains_key(&port) {
                return Some(port);
            }
        }
        None
    }
}
