//! The local candidate set: host candidates the caller gives, server-reflexive and relayed ones
//! gathering finds, and peer-reflexive ones checks discover. Foundations, priorities and the
//! elimination of redundant candidates live here.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::candidate::{candidate_priority, Candidate, CandidateKind, Transport};

/// Index of a local candidate in [`LocalCandidates`].
pub(crate) type LocalId = usize;

/// Why a host address was refused by `IceAgent::add_local_host(_for)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// RFC 8445 §5.1.1.1: loopback addresses are not host candidates unless
    /// `IceConfig::allow_loopback` is set (tests, one-machine setups).
    #[error("{0} is a loopback address and allow_loopback is off (RFC 8445 §5.1.1.1)")]
    Loopback(SocketAddr),
    /// The address cannot receive: unspecified (0.0.0.0, ::), multicast, or port 0.
    #[error("{0} is unspecified, multicast or has port 0")]
    Unusable(SocketAddr),
    /// RFC 8445 §5.1.1.1: IPv4-compatible IPv6 (::/96) and site-local IPv6 (fec0::/10)
    /// addresses must not be candidates.
    #[error("{0} is a deprecated IPv4-compatible or site-local IPv6 address (RFC 8445 §5.1.1.1)")]
    DeprecatedIpv6(SocketAddr),
    /// RFC 8445 §5.1.1.1: an IPv4-mapped IPv6 address (::ffff:0:0/96) must not be a
    /// candidate; add the IPv4 address instead.
    #[error("{0} is an IPv4-mapped IPv6 address; give the IPv4 address (RFC 8445 §5.1.1.1)")]
    Ipv4Mapped(SocketAddr),
    /// The same socket address was already added (for any component).
    #[error("{0} is already a base")]
    Duplicate(SocketAddr),
    /// The component (first number) is 0 or above the agent's component count (second
    /// number, `IceConfig::components`).
    #[error("component {0} does not exist (this agent has {1})")]
    NoSuchComponent(u16, u16),
}

/// Where a local candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Host,
    /// From a Binding request to this STUN server (or the mapped address of a TURN Allocate).
    Reflexive {
        server: SocketAddr,
    },
    /// From the TURN client with this index.
    Relay {
        turn: usize,
    },
    /// Learned from XOR-MAPPED-ADDRESS of a check (RFC 8445 §7.2.5.3.1).
    PeerReflexive,
}

#[derive(Debug, Clone)]
pub(crate) struct LocalCandidate {
    pub cand: Candidate,
    /// The address we send from: the host address itself, the host socket for a srflx/prflx,
    /// and the relayed address itself for a relayed candidate (RFC 8445 §5.1.1.2).
    pub base: SocketAddr,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FoundationKey {
    kind: CandidateKind,
    base_ip: IpAddr,
    server_ip: Option<IpAddr>,
    transport: Transport,
}

/// What a derived (non-host) candidate is made of.
struct Derived {
    kind: CandidateKind,
    component: u16,
    address: SocketAddr,
    base: SocketAddr,
    /// The host socket the candidate ultimately sends from (for local preference/foundation).
    host_base: SocketAddr,
    server: Option<SocketAddr>,
    server_rank: usize,
    related: Option<SocketAddr>,
    origin: Origin,
    priority_override: Option<u32>,
}

/// Every local candidate of the agent, in the order they appeared.
#[derive(Debug, Default)]
pub(crate) struct LocalCandidates {
    list: Vec<LocalCandidate>,
    foundations: HashMap<FoundationKey, String>,
    /// Host bases in the order given, per component: their index is the local preference rank.
    host_bases: Vec<(u16, SocketAddr)>,
}

/// RFC 8445 §5.1.1.1: which host addresses may become candidates.
pub(crate) fn check_host_address(addr: SocketAddr, allow_loopback: bool) -> Result<(), HostError> {
    let ip = addr.ip();
    if addr.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
        return Err(HostError::Unusable(addr));
    }
    if ip.is_loopback() && !allow_loopback {
        return Err(HostError::Loopback(addr));
    }
    if let IpAddr::V6(v6) = ip {
        let seg = v6.segments();
        // ::a.b.c.d (deprecated IPv4-compatible, RFC 4291 §2.5.5.1), not ::1 or ::.
        let v4_compatible = seg[..6].iter().all(|s| *s == 0) && !v6.is_loopback();
        // fec0::/10, deprecated site-local (RFC 3879).
        let site_local = seg[0] & 0xffc0 == 0xfec0;
        if v4_compatible || site_local {
            return Err(HostError::DeprecatedIpv6(addr));
        }
        if v6.to_ipv4_mapped().is_some() {
            return Err(HostError::Ipv4Mapped(addr));
        }
    }
    Ok(())
}

impl LocalCandidates {
    pub fn iter(&self) -> impl Iterator<Item = (LocalId, &LocalCandidate)> {
        self.list.iter().enumerate()
    }

    pub fn get(&self, id: LocalId) -> Option<&LocalCandidate> {
        self.list.get(id)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The component whose socket (or relayed address) `base` is.
    pub fn component_of_base(&self, base: SocketAddr) -> Option<u16> {
        self.list
            .iter()
            .find(|c| c.base == base && matches!(c.origin, Origin::Host | Origin::Relay { .. }))
            .map(|c| c.cand.component)
    }

    /// The candidate that represents the base itself (host or relayed) for checks.
    pub fn base_candidate(&self, base: SocketAddr) -> Option<LocalId> {
        self.list.iter().position(|c| {
            c.base == base
                && c.cand.address == base
                && matches!(c.origin, Origin::Host | Origin::Relay { .. })
        })
    }

    /// The local candidate with this transport address on this component.
    pub fn find(&self, component: u16, address: SocketAddr) -> Option<LocalId> {
        self.list
            .iter()
            .position(|c| c.cand.component == component && c.cand.address == address)
    }

    /// RFC 8445 §5.1.1.3: same foundation iff same type, base IP, server IP and transport.
    fn foundation(
        &mut self,
        kind: CandidateKind,
        base: SocketAddr,
        server: Option<SocketAddr>,
    ) -> String {
        let key = FoundationKey {
            kind,
            base_ip: base.ip(),
            server_ip: server.map(|s| s.ip()),
            transport: Transport::Udp,
        };
        self.foundations
            .entry(key)
            .or_insert_with_key(|k| {
                // Derived from the key alone, so that every agent of a call (one per stream)
                // gives the same key the same foundation: cross-stream unfreezing compares
                // foundations (RFC 8445 §6.1.2.6). 8 hex digits are ice-chars.
                let canonical = format!(
                    "{:?}|{}|{:?}|{:?}",
                    k.kind, k.base_ip, k.server_ip, k.transport
                );
                format!("{:08x}", crc32fast::hash(canonical.as_bytes()))
            })
            .clone()
    }

    /// RFC 8445 §5.1.2.1 local preference: unique per type and component (§5.1.2.2). The rank
    /// of the base among host bases, IPv6 bases first (RFC 8421 prefers IPv6), then a small
    /// per-server offset so two servers on one base never share a priority.
    fn local_preference(&self, base_host: SocketAddr, server_rank: usize) -> u16 {
        let rank = self
            .host_bases
            .iter()
            .position(|(_, b)| *b == base_host)
            .unwrap_or(self.host_bases.len());
        let family_bonus: u32 = if base_host.is_ipv6() { 1 << 15 } else { 0 };
        let pref = 32767u32
            .saturating_sub((rank as u32).saturating_mul(64))
            .saturating_sub(server_rank as u32)
            + family_bonus;
        pref.min(65535) as u16
    }

    /// Add a host candidate (RFC 8445 §5.1.1.1); the caller has bound a socket to `addr`.
    pub fn add_host(
        &mut self,
        component: u16,
        addr: SocketAddr,
        components: u16,
        allow_loopback: bool,
    ) -> Result<LocalId, HostError> {
        if component == 0 || component > components {
            return Err(HostError::NoSuchComponent(component, components));
        }
        check_host_address(addr, allow_loopback)?;
        if self.host_bases.iter().any(|(_, b)| *b == addr) {
            return Err(HostError::Duplicate(addr));
        }
        self.host_bases.push((component, addr));
        let foundation = self.foundation(CandidateKind::Host, addr, None);
        let pref = self.local_preference(addr, 0);
        let mut cand = Candidate::host(foundation, component, addr, pref);
        cand.priority = candidate_priority(CandidateKind::Host, pref, component);
        self.list.push(LocalCandidate {
            cand,
            base: addr,
            origin: Origin::Host,
        });
        Ok(self.list.len() - 1)
    }

    fn push_derived(&mut self, d: Derived) -> Option<LocalId> {
        // RFC 8445 §5.1.3: a candidate with the same transport address and base as an existing
        // one is redundant; the existing one has the higher type preference here because
        // candidates arrive host first, so the newcomer is dropped.
        // RFC 8445 §5.1.1.2: a relayed candidate identical to a host candidate is discarded.
        let relayed = d.kind == CandidateKind::Relayed;
        if self.list.iter().any(|c| {
            c.cand.component == d.component
                && c.cand.address == d.address
                && (c.base == d.base || relayed)
        }) {
            return None;
        }
        let foundation_base = if relayed { d.host_base } else { d.base };
        let foundation = self.foundation(d.kind, foundation_base, d.server);
        let pref = self.local_preference(d.host_base, d.server_rank);
        let priority = d
            .priority_override
            .unwrap_or_else(|| candidate_priority(d.kind, pref, d.component));
        self.list.push(LocalCandidate {
            cand: Candidate {
                foundation,
                component: d.component,
                transport: Transport::Udp,
                priority,
                address: d.address,
                kind: d.kind,
                related: d.related,
                tcp_type: None,
                extensions: Vec::new(),
            },
            base: d.base,
            origin: d.origin,
        });
        Some(self.list.len() - 1)
    }

    /// A server-reflexive candidate (RFC 8445 §5.1.1.2); None when redundant (no NAT).
    pub fn add_server_reflexive(
        &mut self,
        base: SocketAddr,
        mapped: SocketAddr,
        server: SocketAddr,
        server_rank: usize,
    ) -> Option<LocalId> {
        self.push_server_learned(base, mapped, base, server, server_rank, None)
    }

    /// A relayed candidate whose allocation runs on the host socket `host_base`; its base is
    /// itself (RFC 8445 §5.1.1.2). `related` is the mapped address (RFC 8839 §5.1).
    pub fn add_relayed(
        &mut self,
        host_base: SocketAddr,
        relayed: SocketAddr,
        mapped: SocketAddr,
        server: SocketAddr,
        server_rank: usize,
        turn: usize,
    ) -> Option<LocalId> {
        self.push_server_learned(host_base, relayed, mapped, server, server_rank, Some(turn))
    }

    /// A candidate a STUN or TURN server gave us for the host socket `host_base`: without
    /// `turn` a server-reflexive one whose base is that socket, with it a relayed one that is
    /// its own base (RFC 8445 §5.1.1.2).
    fn push_server_learned(
        &mut self,
        host_base: SocketAddr,
        address: SocketAddr,
        related: SocketAddr,
        server: SocketAddr,
        server_rank: usize,
        turn: Option<usize>,
    ) -> Option<LocalId> {
        let component = self.component_of_base(host_base)?;
        let (kind, base, origin) = match turn {
            None => (
                CandidateKind::ServerReflexive,
                host_base,
                Origin::Reflexive { server },
            ),
            Some(turn) => (CandidateKind::Relayed, address, Origin::Relay { turn }),
        };
        self.push_derived(Derived {
            kind,
            component,
            address,
            base,
            host_base,
            server: Some(server),
            server_rank,
            related: Some(related),
            origin,
            priority_override: None,
        })
    }

    /// A peer-reflexive local candidate learned from a check's XOR-MAPPED-ADDRESS; its
    /// priority is the PRIORITY the check carried (RFC 8445 §7.2.5.3.1).
    pub fn add_peer_reflexive(
        &mut self,
        base: SocketAddr,
        mapped: SocketAddr,
        priority: u32,
    ) -> Option<LocalId> {
        let component = self.component_of_base(base)?;
        let host_base = self
            .list
            .iter()
            .find(|c| c.base == base)
            .map(|c| match c.origin {
                Origin::Relay { .. } => c.cand.related.unwrap_or(base),
                _ => base,
            })
            .unwrap_or(base);
        self.push_derived(Derived {
            kind: CandidateKind::PeerReflexive,
            component,
            address: mapped,
            base,
            host_base,
            server: None,
            server_rank: 0,
            related: Some(base),
            origin: Origin::PeerReflexive,
            priority_override: Some(priority),
        })
    }

    /// The priority a check from `base` announces in PRIORITY: the peer-reflexive type
    /// preference with the base's local preference (RFC 8445 §7.1.1).
    pub fn prflx_priority(&self, base: SocketAddr, component: u16) -> u32 {
        let host_base = self
            .list
            .iter()
            .find(|c| c.base == base)
            .map(|c| match c.origin {
                Origin::Relay { .. } => c.cand.related.unwrap_or(base),
                _ => base,
            })
            .unwrap_or(base);
        let pref = self.local_preference(host_base, 0);
        // A relayed base keeps the relayed type's low rank among prflx candidates by using a
        // lower local preference, so a relayed path is never preferred over a direct one.
        let pref = match self.list.iter().find(|c| c.base == base).map(|c| c.origin) {
            Some(Origin::Relay { .. }) => pref / 4,
            _ => pref,
        };
        candidate_priority(CandidateKind::PeerReflexive, pref, component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_refused_unless_allowed_and_bad_ipv6_refused() {
        let mut set = LocalCandidates::default();
        assert_eq!(
            set.add_host(1, sa("127.0.0.1:5000"), 1, false),
            Err(HostError::Loopback(sa("127.0.0.1:5000")))
        );
        assert!(set.add_host(1, sa("127.0.0.1:5000"), 1, true).is_ok());
        assert!(matches!(
            set.add_host(1, sa("[::c000:201]:5000"), 1, false),
            Err(HostError::DeprecatedIpv6(_))
        ));
        assert!(matches!(
            set.add_host(1, sa("[fec0::1]:5000"), 1, false),
            Err(HostError::DeprecatedIpv6(_))
        ));
        assert!(matches!(
            set.add_host(1, sa("[::ffff:192.0.2.1]:5000"), 1, false),
            Err(HostError::Ipv4Mapped(_))
        ));
        assert!(matches!(
            set.add_host(1, sa("0.0.0.0:5000"), 1, false),
            Err(HostError::Unusable(_))
        ));
        assert!(matches!(
            set.add_host(3, sa("192.0.2.1:5000"), 2, false),
            Err(HostError::NoSuchComponent(3, 2))
        ));
        assert!(set.add_host(1, sa("[2001:db8::1]:5000"), 1, false).is_ok());
    }

    #[test]
    fn host_priorities_are_unique_and_ipv6_first() {
        let mut set = LocalCandidates::default();
        let a = set.add_host(1, sa("192.0.2.1:5000"), 2, false).unwrap();
        let b = set.add_host(1, sa("198.51.100.1:5000"), 2, false).unwrap();
        let c = set.add_host(1, sa("[2001:db8::1]:5000"), 2, false).unwrap();
        let d = set.add_host(2, sa("192.0.2.1:5001"), 2, false).unwrap();
        let p = |i| set.get(i).unwrap().cand.priority;
        assert!(p(c) > p(a) && p(a) > p(b));
        assert_ne!(p(a), p(d));
        assert_eq!(p(a) >> 24, 126);
    }

    #[test]
    fn two_stun_servers_give_two_foundations_and_redundant_srflx_is_dropped() {
        let mut set = LocalCandidates::default();
        let base = sa("192.0.2.1:5000");
        set.add_host(1, base, 1, false).unwrap();
        let s1 = set
            .add_server_reflexive(base, sa("203.0.113.5:6000"), sa("198.51.100.10:3478"), 0)
            .unwrap();
        let s2 = set
            .add_server_reflexive(base, sa("203.0.113.5:6001"), sa("198.51.100.11:3478"), 1)
            .unwrap();
        let f = |set: &LocalCandidates, i| set.get(i).unwrap().cand.foundation.clone();
        assert_ne!(f(&set, s1), f(&set, s2));
        assert_ne!(
            set.get(s1).unwrap().cand.priority,
            set.get(s2).unwrap().cand.priority
        );
        // Same mapped address and base again: redundant (RFC 8445 §5.1.3).
        assert!(set
            .add_server_reflexive(base, sa("203.0.113.5:6000"), sa("198.51.100.11:3478"), 1)
            .is_none());
        // No NAT: the mapped address is the host address itself.
        assert!(set
            .add_server_reflexive(base, base, sa("198.51.100.10:3478"), 0)
            .is_none());
        // Same server IP and base: same foundation.
        let s3 = set
            .add_server_reflexive(base, sa("203.0.113.5:6002"), sa("198.51.100.10:3479"), 2)
            .unwrap();
        assert_eq!(f(&set, s3), f(&set, s1));
    }

    #[test]
    fn relayed_identical_to_host_is_discarded_and_relay_base_is_itself() {
        let mut set = LocalCandidates::default();
        let base = sa("192.0.2.1:5000");
        set.add_host(1, base, 1, false).unwrap();
        assert!(set
            .add_relayed(base, base, base, sa("198.51.100.20:3478"), 0, 0)
            .is_none());
        let r = set
            .add_relayed(
                base,
                sa("198.51.100.20:40000"),
                sa("203.0.113.5:6000"),
                sa("198.51.100.20:3478"),
                0,
                0,
            )
            .unwrap();
        let rc = set.get(r).unwrap();
        assert_eq!(rc.base, sa("198.51.100.20:40000"));
        assert_eq!(rc.cand.kind, CandidateKind::Relayed);
        assert_eq!(rc.cand.priority >> 24, 0);
        assert_eq!(set.component_of_base(sa("198.51.100.20:40000")), Some(1));
    }

    #[test]
    fn prflx_priority_uses_the_prflx_type_preference() {
        let mut set = LocalCandidates::default();
        let base = sa("192.0.2.1:5000");
        set.add_host(1, base, 1, false).unwrap();
        assert_eq!(set.prflx_priority(base, 1) >> 24, 110);
        let p = set
            .add_peer_reflexive(base, sa("203.0.113.9:7000"), 12345)
            .unwrap();
        assert_eq!(set.get(p).unwrap().cand.priority, 12345);
        assert_eq!(set.get(p).unwrap().cand.kind, CandidateKind::PeerReflexive);
    }
}
