//! The endpoint's public vocabulary: handles, bodies, transmits, events, errors.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use crate::auth::AuthError;
use crate::message::ParseError;

/// A TCP or TLS connection, numbered by the driver that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A call (one INVITE dialog, early or confirmed), ours or the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId(pub u64);

/// An incoming request the TU must answer with [`super::Endpoint::respond`]
/// (INVITE, re-INVITE, UPDATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncomingId(pub u64);

/// An out-of-dialog request we sent (OPTIONS), to pair the response with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// An RFC 5626 flow: the registration's transport association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// The transports the endpoint speaks. TLS is a stream like TCP (framing, connection reuse,
/// CRLF keepalives); the driver does the handshake and verifies the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
    Tls,
}

impl TransportKind {
    /// The Via / URI transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// A connection-oriented stream (TCP, TLS): framed by Content-Length, answered on the
    /// connection the request came on (RFC 3261 §18.2.2), kept alive with CRLF (RFC 5626
    /// §3.5.1).
    pub fn is_stream(self) -> bool {
        matches!(self, TransportKind::Tcp | TransportKind::Tls)
    }

    /// RFC 3261 §19.1.2: 5061 for TLS, 5060 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            TransportKind::Tls => 5061,
            TransportKind::Udp | TransportKind::Tcp => 5060,
        }
    }
}

/// An opaque message body (the crate never looks inside it) and its Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Body {
    pub fn new(content_type: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Body {
        Body {
            content_type: content_type.into(),
            bytes: bytes.into(),
        }
    }
}

/// Bytes the driver must put on the wire.
///
/// - `Udp`: send `bytes` from the UDP socket bound at `local` to `dest`.
/// - `Tcp` with `conn: Some(c)`: write on connection `c` (it exists).
/// - `Tcp` with `conn: None`: write on an open connection to `dest` if the driver has
///   one, else connect to `dest`, report [`super::Endpoint::connection_opened`], then write.
/// - `Tls`: as `Tcp`, over TLS connections only; a new one is connected and its handshake
///   (with the server certificate verified) completed before
///   [`super::Endpoint::stream_opened`] and the write. A failed handshake is reported with
///   [`super::Endpoint::transport_error`] and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: TransportKind,
    pub local: Option<SocketAddr>,
    pub dest: SocketAddr,
    pub conn: Option<ConnId>,
    pub bytes: Vec<u8>,
}

/// A transport failure toward a destination, as the driver reported it with
/// [`super::Endpoint::transport_error`] (RFC 3261 §18.4: e.g. ICMP port unreachable on UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    pub transport: TransportKind,
    pub dest: SocketAddr,
    /// What the driver saw, in words (e.g. `ICMP port unreachable`).
    pub detail: String,
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} toward {} failed: {}",
            self.transport.as_str(),
            self.dest,
            self.detail
        )
    }
}

/// Why a dialog ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminationReason {
    /// The peer sent BYE.
    RemoteBye,
    /// Our BYE completed (or timed out; the dialog is gone either way).
    LocalBye,
    /// The INVITE was cancelled (by us or by the peer's CANCEL).
    Cancelled,
    /// The INVITE got a final non-2xx response (or we sent one).
    Rejected { status: u16, reason: String },
    /// No response within Timer B / F.
    Timeout,
    /// The transport reported a failure toward the INVITE's destination (RFC 3261 §8.1.3.1,
    /// §18.4): an ICMP error on UDP, a failed or closed TCP connection. Treated as a 408,
    /// generated locally.
    TransportError(TransportFailure),
    /// We sent a 2xx and the ACK never came (RFC 3261 §13.3.1.4); a BYE was sent.
    NoAck,
    /// An in-dialog request got 481 (RFC 5057 §5.1): the dialog is gone. A 408 or a
    /// timeout of a re-INVITE/UPDATE is reported as its response instead (ASSUMPTIONS.md).
    DialogGone { status: u16 },
    /// Endpoint shutdown.
    Shutdown,
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationFailure {
    /// A final non-2xx that we could not recover from.
    Status { status: u16, reason: String },
    /// Digest credentials rejected or unusable.
    Auth(String),
    /// No response within Timer F.
    Timeout,
    /// The transport reported a failure toward the registrar (RFC 3261 §8.1.3.1, §18.4).
    Transport(TransportFailure),
    /// 423 without a usable Min-Expires.
    IntervalTooBrief,
}

/// Why an RFC 5626 flow failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowFailure {
    /// No CRLF pong within 10 s (RFC 5626 §4.4.1).
    PongTimeout,
    /// The STUN keepalive got no answer (RFC 5626 §4.4.2).
    StunTimeout,
    /// The STUN keepalive saw a different mapped address (NAT rebinding).
    MappingChanged { was: SocketAddr, now: SocketAddr },
    /// The TCP or TLS connection closed.
    ConnectionClosed,
}

/// What the endpoint tells its TU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipEvent {
    /// A new call. Answer with [`super::Endpoint::respond`] (180, 200 with body, 4xx...).
    /// `body: None` means the offer must go in our 2xx and the answer arrives in the ACK.
    IncomingCall {
        incoming: IncomingId,
        dialog: DialogId,
        from: String,
        to: String,
        request_uri: String,
        body: Option<Body>,
        /// The peer's Allow lists UPDATE (choose UPDATE over re-INVITE only then).
        peer_allows_update: bool,
    },
    /// A 1xx (other than 100) to our INVITE.
    CallProgress {
        dialog: DialogId,
        status: u16,
        reason: String,
        body: Option<Body>,
    },
    /// Our INVITE was redirected (RFC 3261 §8.1.3.4): a new INVITE went to `to`. `status`
    /// is the response that moved the call on: the 3xx, or the failure (4xx–6xx, 408 for
    /// a timeout) of the previous target when the next Contact of a 3xx is tried. The
    /// call keeps its `dialog`; the new target's responses follow as usual.
    CallRedirected {
        dialog: DialogId,
        status: u16,
        from: String,
        to: String,
    },
    /// RFC 3263 §4.3: a request (INVITE or REGISTER) got no answer, a transport error or a
    /// 503 (`status`: 408 for the first two) from `from`, and went again to the next DNS
    /// target `to`.
    FailedOver {
        status: u16,
        from: SocketAddr,
        to: SocketAddr,
    },
    /// A 2xx to our INVITE: the dialog is confirmed. When we sent the INVITE without a
    /// body, `body` holds the offer and the TU must call
    /// [`super::Endpoint::ack_with_body`]; otherwise the ACK is already sent.
    CallAnswered {
        dialog: DialogId,
        status: u16,
        body: Option<Body>,
        peer_allows_update: bool,
    },
    /// The dialog is confirmed on our side as UAS: the ACK for our 2xx arrived
    /// (with the answer when our 2xx carried the offer).
    AckReceived {
        dialog: DialogId,
        body: Option<Body>,
    },
    /// An in-dialog offer (re-INVITE) or UPDATE. Answer with `respond(incoming, 200,
    /// Some(answer))` (or an error status).
    IncomingReinvite {
        incoming: IncomingId,
        dialog: DialogId,
        body: Option<Body>,
    },
    IncomingUpdate {
        incoming: IncomingId,
        dialog: DialogId,
        body: Option<Body>,
    },
    /// Final response to our re-INVITE (after any glare retries). When our re-INVITE had
    /// no body, a 2xx carries the offer and the TU answers with
    /// [`super::Endpoint::ack_with_body`]; otherwise the ACK is already sent.
    ReinviteResponse {
        dialog: DialogId,
        status: u16,
        body: Option<Body>,
    },
    /// Final response to our UPDATE (after any glare / 500 Retry-After retries).
    UpdateResponse {
        dialog: DialogId,
        status: u16,
        body: Option<Body>,
    },
    /// A 491 arrived; the request is sent again after `after` (RFC 3261 §14.1).
    GlareRetry {
        dialog: DialogId,
        after: Duration,
    },
    /// The peer cancelled its INVITE (we already answered 200 to the CANCEL and 487).
    CancelReceived {
        dialog: DialogId,
    },
    /// The peer sent BYE (answered 200); `DialogTerminated` follows.
    ByeReceived {
        dialog: DialogId,
    },
    /// The call is over.
    DialogTerminated {
        dialog: DialogId,
        reason: TerminationReason,
    },
    /// Response to [`super::Endpoint::options`].
    OptionsResponse {
        request: RequestId,
        status: u16,
        allow: Vec<String>,
        supported: Vec<String>,
    },
    /// REGISTER succeeded. `public_address` is what the registrar saw (received/rport).
    Registered {
        expires: u32,
        public_address: Option<SocketAddr>,
        contact: String,
        /// The registrar answered `Require: outbound` (RFC 5626 §4.2.1).
        outbound: bool,
        flow: FlowId,
    },
    /// Un-REGISTER (Expires: 0) completed.
    Unregistered,
    RegistrationFailed {
        reason: RegistrationFailure,
    },
    /// Send a STUN Binding request on this UDP flow (RFC 5626 §4.4.2) from `local` to
    /// `dest`, then report [`super::Endpoint::stun_keepalive_result`].
    StunKeepaliveDue {
        flow: FlowId,
        local: SocketAddr,
        dest: SocketAddr,
    },
    /// The flow failed; a re-REGISTER is scheduled after `retry_after` (RFC 5626 §4.5).
    FlowFailed {
        flow: FlowId,
        reason: FlowFailure,
        retry_after: Duration,
    },
}

/// A command the endpoint refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("unknown dialog {0:?}")]
    UnknownDialog(DialogId),
    #[error("unknown or already answered incoming request {0:?}")]
    UnknownIncoming(IncomingId),
    #[error("bad target URI {uri:?}: {detail}")]
    BadTarget { uri: String, detail: String },
    #[error("no route to {0}: no outbound proxy and the host is not an IP address")]
    NoRoute(String),
    #[error("no local {0:?} address configured")]
    TransportUnavailable(TransportKind),
    /// RFC 3261 §26.2.2: a request to a sips: URI (or one with `;transport=tls`) goes over TLS
    /// on every hop we control; it is refused rather than sent over another transport.
    #[error("{uri} needs TLS on every hop (RFC 3261 §26.2.2), but {detail}; not sent")]
    TlsRequired { uri: String, detail: String },
    #[error("invalid status {0}")]
    InvalidStatus(u16),
    #[error("operation {operation} not allowed: {detail}")]
    InvalidState {
        operation: &'static str,
        detail: String,
    },
    #[error("no registration configured")]
    NoRegistration,
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}
