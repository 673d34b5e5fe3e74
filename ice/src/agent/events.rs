//! What the agent tells its caller: datagrams to send, events, and what a received datagram was.

use std::fmt;
use std::net::SocketAddr;

use crate::candidate::{Candidate, Credentials};
use crate::turn::TurnTransport;

/// A datagram to send from the local socket bound to `from` (always a base: a host address,
/// or the host socket a TURN allocation runs on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local socket to send from: a host base (for a relayed candidate, the host socket
    /// its TURN allocation runs on, never the relayed address).
    pub from: SocketAddr,
    /// The destination: a remote candidate, a STUN server or a TURN server.
    pub to: SocketAddr,
    /// The bytes to send, already framed (STUN, ChannelData, or application data).
    pub data: Vec<u8>,
    /// `Udp` for every datagram (checks, media, STUN, TURN over UDP). `Tcp`/`Tls`: `data` is
    /// one whole message for the stream to the TURN server `to` that belongs to the host base
    /// `from` (RFC 8656 §3.1); the caller opens that connection on its first message, and
    /// feeds back what it reads with `IceAgent::handle_turn_stream` or reports its failure
    /// with `IceAgent::turn_stream_failed`.
    pub transport: TurnTransport,
}

/// Which kind of server an `IceEvent::ServerFailed` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// A STUN server asked for a server-reflexive candidate (RFC 8445 §5.1.1.2).
    Stun,
    /// A TURN server asked for a relayed candidate, over this transport.
    Turn(TurnTransport),
}

/// Candidate pair states (RFC 8445 §6.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairState {
    /// No check may be sent yet: the pair waits until a pair of its foundation succeeds or
    /// the agent unfreezes it (RFC 8445 §6.1.2.6, §6.1.4.2).
    Frozen,
    /// Unfrozen; its check is sent when the pacer (Ta) gives it a slot.
    Waiting,
    /// A check was sent and its transaction is still running.
    InProgress,
    /// A check succeeded and produced a valid pair (RFC 8445 §7.2.5.3).
    Succeeded,
    /// The check failed or the pair cannot succeed; see [`FailureReason`].
    Failed,
}

/// Why one candidate pair failed (RFC 8445 §7.2.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// No response after every retransmission (RFC 8489 §6.2.1).
    Timeout,
    /// 401 Unauthorized: the peer did not accept our credentials.
    Unauthorized,
    /// 487 Role Conflict kept coming back after we switched role (RFC 8445 §7.2.5.1).
    RoleConflict,
    /// The path could not be used at all: the caller reported ICMP/send errors, or the TURN
    /// server refused a permission or the allocation went away.
    Unreachable,
    /// The response came from another address than the request went to, or arrived on another
    /// base (RFC 8445 §7.2.5.2.1).
    NonSymmetric,
    /// Any other error response (its code).
    Error(u16),
    /// Controlled side: the pair was valid but the controlling peer never nominated a pair
    /// in time (`IceConfig::nomination_grace`, `IceConfig::nomination_timeout`).
    NotNominated,
    /// Never finished: another component of the stream had no pair left that could succeed,
    /// so the stream failed before this pair's check was done (see ASSUMPTIONS.md).
    Cancelled,
}

impl FailureReason {
    /// The STUN error code behind the reason, if there is one.
    pub fn code(self) -> Option<u16> {
        match self {
            FailureReason::Unauthorized => Some(401),
            FailureReason::RoleConflict => Some(487),
            FailureReason::Error(code) => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Timeout => f.write_str("no response (timeout)"),
            FailureReason::Unauthorized => f.write_str("401 Unauthorized"),
            FailureReason::RoleConflict => f.write_str("487 Role Conflict"),
            FailureReason::Unreachable => f.write_str("unreachable"),
            FailureReason::NonSymmetric => f.write_str("response from a non-symmetric address"),
            FailureReason::Error(code) => write!(f, "error response {code}"),
            FailureReason::NotNominated => {
                f.write_str("valid, but the controlling peer never nominated")
            }
            FailureReason::Cancelled => {
                f.write_str("not finished: another component of the stream had already failed")
            }
        }
    }
}

/// One failed pair and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairFailure {
    /// The pair's local candidate.
    pub local: Candidate,
    /// The pair's remote candidate.
    pub remote: Candidate,
    /// Why the pair failed.
    pub reason: FailureReason,
}

impl fmt::Display for PairFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} {}: {}",
            self.local.kind, self.local.address, self.remote.kind, self.remote.address, self.reason
        )
    }
}

/// Overall state of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IceState {
    /// No remote credentials yet: gathering and answering checks only.
    New,
    /// Checks running.
    Checking,
    /// Every component has a selected pair (RFC 8445 §8.1.2).
    Completed,
    /// The check list failed (RFC 8445 §8.1.2); see `IceEvent::Failed`.
    Failed,
    /// Consent was lost on a selected pair (RFC 7675 §5.1); media must stop.
    Disconnected,
    /// `close` was called.
    Closed,
}

/// Events, drained with `IceAgent::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IceEvent {
    /// A local candidate to signal to the peer.
    LocalCandidate(Candidate),
    /// A STUN or TURN server gave nothing, or a TURN allocation was lost (it is skipped; the
    /// other candidates are unaffected). `reason` says what happened: "timeout", the server's
    /// error ("401 wrong credentials: Unauthorized", "403 Forbidden"), or what the caller
    /// reported about the connection ("connection refused", a TLS certificate error).
    ServerFailed {
        /// The server's address, as configured.
        server: SocketAddr,
        /// STUN, or TURN over which transport.
        kind: ServerKind,
        /// What happened, for logs and users; not meant to be parsed.
        reason: String,
    },
    /// Every server answered or was given up: the local candidate set is final.
    GatheringComplete,
    /// A candidate pair moved to another state of the check list (RFC 8445 §6.1.2.6); for
    /// diagnostics: nothing needs to be done.
    PairStateChanged {
        /// The pair's local candidate.
        local: Candidate,
        /// The pair's remote candidate.
        remote: Candidate,
        /// The state it is in now.
        state: PairState,
    },
    /// A pair became valid (RFC 8445 §7.2.5.3.2). `local` may be server- or peer-reflexive.
    ValidPair {
        /// The valid pair's local candidate: the mapped address the response reported.
        local: Candidate,
        /// The valid pair's remote candidate.
        remote: Candidate,
    },
    /// The pair that carries the component's media from now on (RFC 8445 §8.1.1 nomination;
    /// a later `Selected` for the same component replaces it, e.g. after an ICE restart).
    Selected {
        /// 1 = RTP, 2 = RTCP.
        component: u16,
        /// Where media leaves from (a relayed candidate means through TURN).
        local: Candidate,
        /// Where media goes.
        remote: Candidate,
    },
    /// Every component has a selected pair.
    Completed,
    /// ICE failed; one entry per candidate pair with the reason it failed (empty when no pair
    /// could be formed at all, e.g. no common address family).
    Failed {
        /// One entry per pair, in check-list order.
        reasons: Vec<PairFailure>,
    },
    /// RFC 7675: no consent response for the timeout; media to this component must stop.
    ConsentLost {
        /// The component whose selected pair lost consent.
        component: u16,
    },
    /// Role switched after a role conflict (RFC 8445 §7.3.1.1, §7.2.5.1) or `set_role`.
    RoleChanged {
        /// The new role: true = controlling.
        controlling: bool,
    },
    /// An ICE restart took place (RFC 8445 §9); signal the new credentials to the peer.
    Restarted {
        /// The new local ufrag and password.
        credentials: Credentials,
    },
}

/// What `IceAgent::handle_packet` did with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// A STUN or TURN message for the agent; nothing for the caller to do but poll.
    Consumed,
    /// Application data (RTP, RTCP, DTLS, …) for `component`, received on the local candidate
    /// `local` (a base, or a relayed address when it came through TURN) from `from`.
    Media {
        /// 1 = RTP, 2 = RTCP: the component the receiving socket belongs to.
        component: u16,
        /// The local address it arrived on.
        local: SocketAddr,
        /// The sender (the peer, as seen by us or by the TURN server).
        from: SocketAddr,
        /// The payload, with any TURN framing removed.
        data: Vec<u8>,
    },
    /// Dropped, and why.
    Dropped(DropReason),
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The datagram came in on an address that is neither a host base of this agent nor the
    /// socket of one of its TURN clients (or, for `handle_turn_stream`, no TURN client of
    /// this agent uses that stream).
    #[error("arrived on {0}, which is not a local base of this agent")]
    UnknownLocal(SocketAddr),
    /// It looked like STUN but did not decode (RFC 8489 §6.3: silently discarded).
    #[error("malformed STUN message: {0}")]
    MalformedStun(crate::stun::StunError),
    /// A STUN response whose transaction ID matches no request of ours (a late duplicate, or
    /// not meant for us), or a gathering response from another address than the server the
    /// request went to (RFC 8489 §6.3: discarded).
    #[error("STUN response matches no outstanding transaction")]
    UnknownTransaction,
    /// A STUN request other than Binding reached the agent's check handling; ICE uses only
    /// Binding (RFC 8445 §7.1).
    #[error("STUN message is not a Binding (method {0:?})")]
    UnexpectedMethod(crate::stun::Method),
    /// A response to one of our checks or consent requests failed MESSAGE-INTEGRITY with the
    /// peer's password (RFC 8445 §7.2.5.1): treated as never received.
    #[error("MESSAGE-INTEGRITY missing or wrong on a response")]
    BadIntegrity,
    /// A Binding request was refused and answered with a 400, 401 or 420 error response
    /// (RFC 8489 §6.3.1, §9.1.3; RFC 8445 §7.3); the text says which rule it broke.
    #[error("request rejected: {0}")]
    Rejected(&'static str),
    /// Neither STUN nor media by RFC 7983's first-byte rules (see [`classify`]), or TURN
    /// ChannelData on a host socket, where only a TURN server of this agent may send it.
    ///
    /// [`classify`]: super::classify
    #[error("neither STUN nor media (RFC 7983 drops it)")]
    NotDemultiplexable,
    /// `close` was called and no TURN deallocation is still in progress.
    #[error("the agent is closed")]
    Closed,
}

/// `send_data` refused: media goes only on a selected pair (RFC 8445 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The component (the number given) has no selected pair yet, or does not exist.
    #[error("component {0} has no selected pair (RFC 8445 §12.1: no media before selection)")]
    NotSelected(u16),
    /// Consent was lost on the component's selected pair (RFC 7675 §5.1): sending must stop
    /// until a new pair is selected (after an ICE restart).
    #[error("consent lost on component {0} (RFC 7675)")]
    ConsentLost(u16),
    /// The selected pair is relayed and its TURN client refused the data (allocation gone,
    /// or no permission for the peer): see [`crate::turn::TurnError`].
    #[error("the relay of the selected pair refused the data")]
    Relay,
    /// `close` was called.
    #[error("the agent is closed")]
    Closed,
}
