//! What the agent tells its caller: datagrams to send, events, and what a received datagram was.

use std::fmt;
use std::net::SocketAddr;

use crate::candidate::{Candidate, Credentials};
use crate::turn::TurnTransport;

/// A datagram to send from the local socket bound to `from` (always a base: a host address,
/// or the host socket a TURN allocation runs on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub from: SocketAddr,
    pub to: SocketAddr,
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
    Frozen,
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

/// Why one candidate pair failed (RFC 8445 §7.2.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    pub local: Candidate,
    pub remote: Candidate,
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
pub enum IceEvent {
    /// A local candidate to signal to the peer.
    LocalCandidate(Candidate),
    /// A STUN or TURN server gave nothing, or a TURN allocation was lost (it is skipped; the
    /// other candidates are unaffected). `reason` says what happened: "timeout", the server's
    /// error ("401 wrong credentials: Unauthorized", "403 Forbidden"), or what the caller
    /// reported about the connection ("connection refused", a TLS certificate error).
    ServerFailed {
        server: SocketAddr,
        kind: ServerKind,
        reason: String,
    },
    /// Every server answered or was given up: the local candidate set is final.
    GatheringComplete,
    PairStateChanged {
        local: Candidate,
        remote: Candidate,
        state: PairState,
    },
    /// A pair became valid (RFC 8445 §7.2.5.3.2). `local` may be server- or peer-reflexive.
    ValidPair { local: Candidate, remote: Candidate },
    /// The pair that carries the component's media from now on.
    Selected {
        component: u16,
        local: Candidate,
        remote: Candidate,
    },
    /// Every component has a selected pair.
    Completed,
    /// ICE failed; one entry per candidate pair with the reason it failed (empty when no pair
    /// could be formed at all, e.g. no common address family).
    Failed { reasons: Vec<PairFailure> },
    /// RFC 7675: no consent response for the timeout; media to this component must stop.
    ConsentLost { component: u16 },
    /// Role switched after a role conflict (RFC 8445 §7.3.1.1, §7.2.5.1) or `set_role`.
    RoleChanged { controlling: bool },
    /// An ICE restart took place (RFC 8445 §9); signal the new credentials to the peer.
    Restarted { credentials: Credentials },
}

/// What `IceAgent::handle_packet` did with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A STUN or TURN message for the agent; nothing for the caller to do but poll.
    Consumed,
    /// Application data (RTP, RTCP, DTLS, …) for `component`, received on the local candidate
    /// `local` (a base, or a relayed address when it came through TURN) from `from`.
    Media {
        component: u16,
        local: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
    /// Dropped, and why.
    Dropped(DropReason),
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("arrived on {0}, which is not a local base of this agent")]
    UnknownLocal(SocketAddr),
    #[error("malformed STUN message: {0}")]
    MalformedStun(crate::stun::StunError),
    #[error("STUN response matches no outstanding transaction")]
    UnknownTransaction,
    #[error("STUN message is not a Binding (method {0:?})")]
    UnexpectedMethod(crate::stun::Method),
    #[error("MESSAGE-INTEGRITY missing or wrong on a response")]
    BadIntegrity,
    #[error("request rejected: {0}")]
    Rejected(&'static str),
    #[error("neither STUN nor media (RFC 7983 drops it)")]
    NotDemultiplexable,
    #[error("the agent is closed")]
    Closed,
}

/// `send_data` refused: media goes only on a selected pair (RFC 8445 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("component {0} has no selected pair (RFC 8445 §12.1: no media before selection)")]
    NotSelected(u16),
    #[error("consent lost on component {0} (RFC 7675)")]
    ConsentLost(u16),
    #[error("the relay of the selected pair refused the data")]
    Relay,
    #[error("the agent is closed")]
    Closed,
}
