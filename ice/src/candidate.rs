//! Candidates and credentials: the values ICE exchanges through signalling.
//!
//! These types are what any signalling protocol (SDP in SIP, a test harness, …) carries
//! between two agents. They say nothing about SDP syntax; the `sdp` crate maps them.

use std::fmt;
use std::net::SocketAddr;

use rand::Rng;

/// Candidate type (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandidateKind {
    /// An address of a local interface; the caller binds a socket to it (RFC 8445 §5.1.1.1).
    Host,
    /// The address a NAT mapped a host candidate to, learned from a STUN server's
    /// XOR-MAPPED-ADDRESS (or the mapped address of a TURN allocation) (RFC 8445 §5.1.1.2).
    ServerReflexive,
    /// Learned during connectivity checks: the XOR-MAPPED-ADDRESS of a response (local) or the
    /// source of a request (remote) that matches no known candidate (RFC 8445 §7.2.5.3.1,
    /// §7.3.1.3). Never signalled by the agent that learned it.
    PeerReflexive,
    /// An address on a TURN server that relays to the client (RFC 8445 §5.1.1.2, RFC 8656).
    Relayed,
}

impl CandidateKind {
    /// Recommended type preference (RFC 8445 §5.1.2.2): host 126, prflx 110, srflx 100, relay 0.
    pub fn type_preference(self) -> u32 {
        match self {
            CandidateKind::Host => 126,
            CandidateKind::PeerReflexive => 110,
            CandidateKind::ServerReflexive => 100,
            CandidateKind::Relayed => 0,
        }
    }

    /// The token used in `a=candidate … typ <token>` (RFC 8839 §5.1).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::PeerReflexive => "prflx",
            CandidateKind::Relayed => "relay",
        }
    }

    /// Parses the `typ` token of `a=candidate` (RFC 8839 §5.1), ignoring ASCII case. `None`
    /// for any token other than `host`, `srflx`, `prflx` and `relay`.
    pub fn from_token(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "host" => Some(CandidateKind::Host),
            "srflx" => Some(CandidateKind::ServerReflexive),
            "prflx" => Some(CandidateKind::PeerReflexive),
            "relay" => Some(CandidateKind::Relayed),
            _ => None,
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transport protocol of a candidate (the `transport` field of `a=candidate`, RFC 8839 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (RFC 8445). The only transport the agent forms pairs with.
    Udp,
    /// TCP (RFC 6544). Parsed, kept and signalled back, but the agent never pairs it.
    Tcp,
}

impl Transport {
    /// The token written in `a=candidate`: `UDP` or `TCP` (RFC 8839 §5.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Parses the `transport` token of `a=candidate`, ignoring ASCII case (RFC 8839 §5.1:
    /// the token is case-insensitive). `None` for anything but UDP and TCP.
    pub fn from_token(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Some(Transport::Udp),
            "TCP" => Some(Transport::Tcp),
            _ => None,
        }
    }
}

/// `tcptype` of a TCP candidate (RFC 6544 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpType {
    /// `active`: opens outgoing connections, accepts none.
    Active,
    /// `passive`: accepts incoming connections, opens none.
    Passive,
    /// `so`: both sides attempt a TCP simultaneous open.
    SimultaneousOpen,
}

impl TcpType {
    /// The token written after `tcptype` in `a=candidate`: `active`, `passive` or `so`.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }

    /// Parses a `tcptype` token (RFC 6544 §4.5), case-sensitively as the grammar spells it;
    /// `None` for any other token.
    pub fn from_token(s: &str) -> Option<Self> {
        match s {
            "active" => Some(TcpType::Active),
            "passive" => Some(TcpType::Passive),
            "so" => Some(TcpType::SimultaneousOpen),
            _ => None,
        }
    }
}

/// One ICE candidate as signalled to the peer (RFC 8445 §5.1, RFC 8839 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// 1..32 ice-chars (RFC 8445 §5.1.1.3).
    pub foundation: String,
    /// Component ID, 1..=256 (RFC 8445 §5.1.2.1): 1 = RTP, 2 = RTCP.
    pub component: u16,
    /// Transport protocol; the agent pairs only [`Transport::Udp`] candidates.
    pub transport: Transport,
    /// Candidate priority (RFC 8445 §5.1.2): higher is preferred; see [`candidate_priority`].
    pub priority: u32,
    /// The transport address checks and media are sent to (the `connection-address` and
    /// `port` of `a=candidate`).
    pub address: SocketAddr,
    /// Candidate type: host, srflx, prflx or relay.
    pub kind: CandidateKind,
    /// raddr/rport: the base (srflx, prflx) or the mapped address (relay). Absent for host.
    pub related: Option<SocketAddr>,
    /// `tcptype` of a TCP candidate (RFC 6544 §4.5); `None` for UDP.
    pub tcp_type: Option<TcpType>,
    /// Extension attributes we do not interpret, kept in order (RFC 8839 §5.1).
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    /// A host candidate with the recommended priority.
    pub fn host(
        foundation: impl Into<String>,
        component: u16,
        address: SocketAddr,
        local_pref: u16,
    ) -> Self {
        Candidate {
            foundation: foundation.into(),
            component,
            transport: Transport::Udp,
            priority: candidate_priority(CandidateKind::Host, local_pref, component),
            address,
            kind: CandidateKind::Host,
            related: None,
            tcp_type: None,
            extensions: Vec::new(),
        }
    }
}

/// RFC 8445 §5.1.2.1: priority = 2^24·typepref + 2^8·localpref + (256 − componentID).
pub fn candidate_priority(kind: CandidateKind, local_pref: u16, component: u16) -> u32 {
    let component = component.clamp(1, 256) as u32;
    (kind.type_preference() << 24) + ((local_pref as u32) << 8) + (256 - component)
}

/// RFC 8445 §6.1.2.3: pair priority = 2^32·MIN(G,D) + 2·MAX(G,D) + (G>D ? 1 : 0),
/// where G is the controlling agent's candidate priority and D the controlled agent's.
pub fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (controlling as u64, controlled as u64);
    (1u64 << 32) * g.min(d) + 2 * g.max(d) + u64::from(g > d)
}

/// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8445 §5.3, RFC 8839 §5.1).
pub fn is_ice_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

/// Whether every character of `s` is an ice-char (see [`is_ice_char`]). An empty string
/// passes: callers check the length rules (ufrag 4..=256, pwd 22..=256 chars, RFC 8839 §5.4)
/// themselves.
pub fn is_ice_string(s: &str) -> bool {
    s.chars().all(is_ice_char)
}

/// Short-term credentials of one ICE session (RFC 8445 §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Username fragment (`a=ice-ufrag`, RFC 8839 §5.4): at least 4 ice-chars and 24 bits
    /// of randomness. Checks carry `USERNAME = <peer's ufrag>:<own ufrag>` (RFC 8445 §7.2.2).
    pub ufrag: String,
    /// Password (`a=ice-pwd`, RFC 8839 §5.4): at least 22 ice-chars and 128 bits of
    /// randomness; the short-term MESSAGE-INTEGRITY key of checks sent to this agent.
    pub pwd: String,
}

const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Credentials {
    /// RFC 8445 §5.3: ufrag ≥ 24 random bits, pwd ≥ 128 random bits, from the given RNG.
    /// 8 ice-chars = 48 bits of ufrag, 24 ice-chars = 144 bits of password. Pass a CSPRNG
    /// (`rand::rngs::StdRng::from_os_rng()`), or a seeded one in tests.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Credentials {
            ufrag: random_ice_string(rng, 8),
            pwd: random_ice_string(rng, 24),
        }
    }
}

/// A string of `len` ice-chars, 6 bits of entropy each.
pub fn random_ice_string<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    (0..len)
        .map(|_| ICE_CHARS[rng.random_range(0..ICE_CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn priority_formula_matches_rfc_example_values() {
        // host, localpref 65535, component 1: 126<<24 | 65535<<8 | 255
        assert_eq!(
            candidate_priority(CandidateKind::Host, 65535, 1),
            2130706431
        );
        assert_eq!(
            candidate_priority(CandidateKind::ServerReflexive, 65535, 1),
            1694498815
        );
        assert_eq!(
            candidate_priority(CandidateKind::Relayed, 65535, 2),
            16777214
        );
    }

    #[test]
    fn pair_priority_is_asymmetric_in_the_tie_bit() {
        let a = pair_priority(100, 50);
        let b = pair_priority(50, 100);
        assert_eq!(a, (1u64 << 32) * 50 + 200 + 1);
        assert_eq!(b, (1u64 << 32) * 50 + 200);
    }

    #[test]
    fn random_credentials_are_ice_chars_of_the_right_length_and_vary() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let a = Credentials::random(&mut rng);
        let b = Credentials::random(&mut rng);
        assert!(a.ufrag.len() * 6 >= 24 && a.pwd.len() * 6 >= 128);
        assert!(is_ice_string(&a.ufrag) && is_ice_string(&a.pwd));
        assert_ne!(a, b);
        // Same seed, same credentials: tests can be deterministic.
        let mut again = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        assert_eq!(Credentials::random(&mut again), a);
    }
}
