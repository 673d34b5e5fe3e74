//! Configuration of an [`IceAgent`](super::IceAgent).

use std::net::SocketAddr;
use std::time::Duration;

use crate::candidate::Credentials;
use crate::stun::RetransmitConfig;
use crate::turn::TurnTransport;

/// How the controlling agent nominates (RFC 8445 §8.1.1; RFC 5245 §8.1.1.2 for aggressive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NominationMode {
    /// Check first, then repeat the check of the chosen valid pair with USE-CANDIDATE.
    #[default]
    Regular,
    /// Every check carries USE-CANDIDATE; the first pair that succeeds is selected.
    /// RFC 8445 deprecated it; kept for peers and tests that want 1 RTT.
    Aggressive,
}

/// A TURN server and the long-term credentials to allocate on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's transport address (resolved: an IP and a port, conventionally 3478 for
    /// UDP/TCP and 5349 for TLS). Allocations are made only from host bases of the same
    /// address family.
    pub addr: SocketAddr,
    /// Long-term credential username (RFC 8489 §9.2), sent in USERNAME as given.
    pub username: String,
    /// Long-term credential password; only its key MD5(username:realm:password) goes on
    /// the wire (RFC 8489 §9.2.2).
    pub password: String,
    /// How the server is reached (RFC 8656 §3.1). Over TCP/TLS the caller opens one connection
    /// per host base (each allocation has its own 5-tuple); the relayed candidate is UDP either
    /// way (REQUESTED-TRANSPORT UDP, RFC 8656 §7.1).
    pub transport: TurnTransport,
}

/// Consent freshness (RFC 7675).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentConfig {
    /// Whether consent checks run on selected pairs. Off, a selected pair never loses
    /// consent; keepalives (RFC 8445 §11) still keep NAT bindings open.
    pub enabled: bool,
    /// RFC 7675 §5.1: a consent check every 5 s on average, randomised to 0.8–1.2 × this.
    pub interval: Duration,
    /// RFC 7675 §5.1: consent is lost after 30 s without a response.
    pub timeout: Duration,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        ConsentConfig {
            enabled: true,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

/// RFC 8445 §11: Tr MUST NOT be below 15 s.
pub const MIN_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// RFC 8445 §14.2: Ta SHOULD be 50 ms.
pub const DEFAULT_TA: Duration = Duration::from_millis(50);
/// RFC 8445 §14.3: an RTO below 500 ms is never used.
pub const MIN_RTO: Duration = Duration::from_millis(500);
/// Retransmission of connectivity checks. RFC 8445 §14.3 sets the RTO of a check (raised per
/// check to Ta × (Waiting + In-Progress), never below 500 ms) but leaves Rc and Rm to the agent;
/// the generic RFC 8489 §6.2.1 defaults (Rc 7, Rm 16: 39.5 s) suit a STUN server far away, not
/// a check whose answer is one round trip off. Sends at 0, 0.5, 1.5 and 3.5 s, failure at 5 s
/// (RTO 500 ms): a pair that has not answered in 5 s has failed, so a session without a path
/// fails in seconds, as peers' agents do (baresip/libre gives up in about 8 s). At 10 % loss
/// each way a working pair loses all four sends with p ≈ 0.0013 (see ASSUMPTIONS.md).
pub const DEFAULT_CHECK_RETRANSMIT: RetransmitConfig = RetransmitConfig {
    rto: MIN_RTO,
    max_sends: 4,
    last_wait_multiplier: 3,
};
/// Controlled side: how long to wait for the controlling peer's nomination once a component
/// has a valid pair and none of our checks is pending any more (see `IceConfig::nomination_grace`).
pub const DEFAULT_NOMINATION_GRACE: Duration = Duration::from_secs(4);

/// Everything an agent needs to start. `IceConfig::default()` is a controlling agent with one
/// component, regular nomination, no servers and random credentials.
#[derive(Debug, Clone)]
pub struct IceConfig {
    /// Initial role (RFC 8445 §6.1.1: the offerer of a full-full session is controlling).
    pub controlling: bool,
    /// 64-bit tie-breaker (RFC 8445 §7.1.3); random (from `seed` if set) when None.
    pub tie_breaker: Option<u64>,
    /// Local credentials; generated with a CSPRNG (RFC 8445 §5.3) when None.
    pub credentials: Option<Credentials>,
    /// Seed for every random choice (credentials, tie-breaker, transaction ids, consent
    /// jitter). None = seeded from the operating system (ChaCha20, a CSPRNG).
    pub seed: Option<u64>,
    /// Pacing interval Ta for new transactions (RFC 8445 §14.2).
    pub ta: Duration,
    /// Controlling side: regular (default) or aggressive nomination.
    pub nomination: NominationMode,
    /// Regular nomination: how long the controlling agent waits after the first valid pair of a
    /// component for a higher-priority pair still being checked before nominating the best one.
    pub nomination_wait: Duration,
    /// Regular nomination: how long a relayed best pair is held, after the component's first
    /// valid pair, while a higher-priority pair without a relay is still being checked (one or
    /// two check retransmissions under loss), before the relayed pair is nominated.
    pub relay_nomination_wait: Duration,
    /// Controlled side: the longest wait for the peer's nomination after the first valid pair
    /// of a component before declaring failure (`FailureReason::NotNominated`), so a
    /// controlling peer that never nominates cannot leave the call hanging, even while checks
    /// keep running (10 s, as pjnath's controlled agent waits for a nomination). Usually
    /// `nomination_grace` ends the wait sooner.
    pub nomination_timeout: Duration,
    /// Controlled side: once a component has a valid pair and no check of ours is pending
    /// (every pair answered, failed or triggered by the peer's checks), the peer has seen what
    /// we have seen; it gets this much longer to nominate before `NotNominated`.
    pub nomination_grace: Duration,
    /// STUN servers asked for server-reflexive candidates (RFC 8445 §5.1.1.2), one Binding
    /// per server and host base of the same address family.
    pub stun_servers: Vec<SocketAddr>,
    /// TURN servers to allocate relayed candidates on (RFC 8445 §5.1.1.2, RFC 8656), one
    /// allocation per server and host base of the same address family.
    pub turn_servers: Vec<TurnServer>,
    /// 1 (RTP with rtcp-mux) or 2 (RTP and RTCP).
    pub components: u16,
    /// Loopback host candidates are refused unless this is set (RFC 8445 §5.1.1.1).
    pub allow_loopback: bool,
    /// Keepalive interval Tr (RFC 8445 §11); values below 15 s are raised to 15 s.
    pub keepalive_interval: Duration,
    /// Consent freshness on selected pairs (RFC 7675).
    pub consent: ConsentConfig,
    /// RFC 8445 §6.1.2.5: limit on candidate pairs (default 100).
    pub max_pairs: usize,
    /// Trickle ICE: more remote candidates may come after checks start, so the agent does not
    /// declare failure until `end_of_remote_candidates` is called. Without trickle, the remote
    /// candidates given before the first `handle_timeout` are all there will be.
    pub trickle: bool,
    /// Retransmission of connectivity checks (RFC 8489 §6.2.1; the RTO is raised per
    /// RFC 8445 §14.3 and never below 500 ms).
    pub check_retransmit: RetransmitConfig,
    /// Retransmission of gathering requests to STUN servers and of the Allocate exchange with
    /// TURN servers (over TCP/TLS only its total counts, RFC 8489 §6.2.2). Fewer sends than
    /// the RFC 8489 default so an unreachable server is given up, and reported, in 4.5 s,
    /// within the softphone's 5 s gathering cap; 4 sends so a lossy path (10 % each way)
    /// rarely loses its srflx candidate (see ASSUMPTIONS.md).
    pub gather_retransmit: RetransmitConfig,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            controlling: true,
            tie_breaker: None,
            credentials: None,
            seed: None,
            ta: DEFAULT_TA,
            nomination: NominationMode::Regular,
            nomination_wait: Duration::from_millis(0),
            relay_nomination_wait: Duration::from_millis(1500),
            nomination_timeout: Duration::from_secs(10),
            nomination_grace: DEFAULT_NOMINATION_GRACE,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            components: 1,
            allow_loopback: false,
            keepalive_interval: MIN_KEEPALIVE_INTERVAL,
            consent: ConsentConfig::default(),
            max_pairs: 100,
            trickle: false,
            check_retransmit: DEFAULT_CHECK_RETRANSMIT,
            gather_retransmit: RetransmitConfig {
                rto: MIN_RTO,
                // Sends at 0, 0.5, 1.5 and 3.5 s, given up at 4.5 s (RFC 8489 §6.2.1 doubling).
                max_sends: 4,
                last_wait_multiplier: 2,
            },
        }
    }
}

impl IceConfig {
    /// The configuration with every out-of-range value corrected (and why, in the comments).
    pub(crate) fn sanitized(mut self) -> Self {
        // RFC 8445 §11: Tr MUST be at least 15 s.
        self.keepalive_interval = self.keepalive_interval.max(MIN_KEEPALIVE_INTERVAL);
        // RFC 8445 §14.2: agents on one host together pace at most one transaction per 5 ms.
        self.ta = self.ta.max(Duration::from_millis(5));
        // Component IDs 1 (RTP) and 2 (RTCP) are all this agent supports (RFC 8445 §5.1.2.1).
        self.components = self.components.clamp(1, 2);
        self.max_pairs = self.max_pairs.max(1);
        // RFC 8445 §14.3: RTO never below 500 ms.
        self.check_retransmit.rto = self.check_retransmit.rto.max(MIN_RTO);
        self.gather_retransmit.rto = self.gather_retransmit.rto.max(MIN_RTO);
        self
    }
}
