//! A sans-IO TURN client (RFC 8656) over UDP, TCP or TLS (RFC 8656 §3.1): one allocation on
//! one server, driven by the caller's messages and clock. Over TCP/TLS the caller owns the
//! connection, cuts what it reads into messages with [`StreamDeframer`] and reports a
//! connection that failed with [`TurnClient::transport_failed`]; the relay is UDP either way.
//!
//! [`TurnClient::new`] starts the Allocate exchange at once: the first request is sent without
//! credentials, the server's 401 gives REALM and NONCE, and the request is repeated with the
//! long-term credential (RFC 8489 §9.2). After that every request carries USERNAME, REALM,
//! NONCE and MESSAGE-INTEGRITY; a 438 Stale Nonce is answered by repeating the request with the
//! new nonce. The allocation, its permissions and its channel bindings are refreshed by
//! [`TurnClient::handle_timeout`] before they expire; [`TurnClient::close`] deletes the
//! allocation with a Refresh of LIFETIME 0.
//!
//! Like the rest of the crate the client owns no socket and reads no clock: feed it with
//! [`TurnClient::handle_packet`] / [`TurnClient::handle_timeout`], drain it with
//! [`TurnClient::poll_transmit`] / [`TurnClient::poll_event`], and wake it at
//! [`TurnClient::poll_timeout`].

mod client;
mod request;
mod stream;
mod timing;
mod transport;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use client::{TurnClient, TurnClientOptions};
pub use stream::{StreamDeframer, StreamFramingError};
pub use timing::{
    refresh_delay, CHANNEL_LIFETIME, MAX_STALE_NONCE_RETRIES, PERMISSION_LIFETIME, REFRESH_MARGIN,
    REQUESTED_LIFETIME,
};
pub use transport::TurnTransport;

/// Long-term credentials for the TURN server (RFC 8489 §9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnCredentials {
    /// Sent in USERNAME as given (no SASLprep).
    pub username: String,
    /// Never sent: the key is MD5(username ":" realm ":" password) with the realm the server
    /// names in its 401 (RFC 8489 §9.2.2).
    pub password: String,
}

/// What happened to the allocation, its permissions or its channels.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnEvent {
    /// The server allocated `relayed`; `mapped` is our address as the server saw it (srflx).
    Allocated {
        /// XOR-RELAYED-ADDRESS: the address peers send to (a relayed candidate).
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS: the client's address as the server saw it; the local address
        /// when the server did not send one.
        mapped: SocketAddr,
        /// LIFETIME granted by the server (the 600 s asked for when it sent none); the client
        /// refreshes before it runs out.
        lifetime: Duration,
    },
    /// The allocation failed, could not be refreshed, or could not be deleted. `reason` starts
    /// with the STUN error code when the server gave one ("401 wrong credentials: ...",
    /// "486 Allocation Quota Reached"), else says what happened ("timeout").
    AllocationFailed {
        /// What went wrong, for logs and users; starts with the STUN error code if any.
        reason: String,
    },
    /// A permission for this peer IP is installed (sent once, not on refreshes).
    PermissionCreated(IpAddr),
    /// CreatePermission for `peer` failed (error response, timeout, or asked for when there
    /// was no allocation); the permission is forgotten and data to that IP is refused.
    PermissionFailed {
        /// The peer IP the permission was for.
        peer: IpAddr,
        /// What went wrong, as in `AllocationFailed`.
        reason: String,
    },
    /// A channel is bound to this peer (sent once, not on refreshes).
    ChannelBound {
        /// The peer transport address the channel leads to.
        peer: SocketAddr,
        /// The channel number, 0x4000-0x4FFF (RFC 8656 §12).
        channel: u16,
    },
    /// The server confirmed the deletion of the allocation.
    Deallocated,
}

/// Data a peer sent to our relayed address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnReceived {
    /// Who sent it: the XOR-PEER-ADDRESS of a Data indication, or the peer a channel is
    /// bound to.
    pub peer: SocketAddr,
    /// The application data, TURN framing removed.
    pub data: Vec<u8>,
}

/// Why data cannot be sent through the relay.
#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnError {
    /// There is no allocation to send through: not allocated yet, failed, or closed.
    #[error("no TURN allocation: not allocated yet, failed or closed")]
    NotAllocated,
    /// No channel is bound to the peer and no permission for its IP is installed yet
    /// (RFC 8656 §9); the server would drop the data.
    #[error("no TURN permission for peer {0} (RFC 8656 §9): call create_permission first")]
    NoPermission(IpAddr),
}
