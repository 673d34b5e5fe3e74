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

/// A blind transfer by REFER (RFC 3515): one we sent with [`super::Endpoint::refer`], or
/// one the peer sent ([`SipEvent::IncomingRefer`]), with its implicit subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferId(pub u64);

/// An RFC 5626 flow: the registration's transport association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// The transports the endpoint speaks. TLS is a stream like TCP (framing, connection reuse,
/// CRLF keepalives); the driver does the handshake and verifies the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP (RFC 3261 §18): one message per datagram, retransmitted by the transactions
    /// (Timers A, E, G); requests over `mtu - 200` bytes move to TCP (§18.1.1).
    Udp,
    /// TCP (RFC 3261 §18): a stream framed by Content-Length; no retransmissions.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2): framed and reused like TCP; required for `sips:`
    /// targets and `;transport=tls`.
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
    /// The Content-Type header value, e.g. `application/sdp`.
    pub content_type: String,
    /// The body itself, exactly as sent or received (Content-Length is derived from it).
    pub bytes: Vec<u8>,
}

impl Body {
    /// A body of `content_type` (e.g. `application/sdp`) holding `bytes`.
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
    /// The transport to send over (see above for what each means for the driver).
    pub transport: TransportKind,
    /// The local address to send from. UDP: the socket the request being answered arrived
    /// on, else [`super::EndpointConfig::udp_local`] (symmetric signalling, RFC 3581 §4).
    /// TCP/TLS: the local end of `conn`; `None` when there is no connection yet.
    pub local: Option<SocketAddr>,
    /// The remote address: the next hop of a request, or for a response the source the
    /// request came from (RFC 3261 §18.2.2 with RFC 3581 §4 `rport`).
    pub dest: SocketAddr,
    /// For TCP and TLS, the connection to write on, if it must be that one (responses go
    /// back on the request's connection, requests on a flow's). Always `None` for UDP.
    pub conn: Option<ConnId>,
    /// One complete SIP message (or a CRLFCRLF keepalive on a stream), ready to write.
    pub bytes: Vec<u8>,
}

/// A transport failure toward a destination, as the driver reported it with
/// [`super::Endpoint::transport_error`] (RFC 3261 §18.4: e.g. ICMP port unreachable on UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// The transport that failed.
    pub transport: TransportKind,
    /// The remote address the failure was toward.
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

/// Why a dialog ended, in [`SipEvent::DialogTerminated`].
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminationReason {
    /// The peer sent BYE.
    RemoteBye,
    /// Our BYE completed (or timed out; the dialog is gone either way).
    LocalBye,
    /// The INVITE was cancelled (by us or by the peer's CANCEL).
    Cancelled,
    /// The INVITE got a final non-2xx response (or we sent one). A 3xx that was not
    /// followed (limit reached, no usable Contact) ends up here too, with why in `reason`.
    Rejected {
        /// The final status code (300–699).
        status: u16,
        /// The response's reason phrase (our own standard phrase when we rejected),
        /// possibly followed by why a redirect was not followed.
        reason: String,
    },
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
    DialogGone {
        /// The status that ended the dialog (481 Call/Transaction Does Not Exist).
        status: u16,
    },
    /// Endpoint shutdown.
    Shutdown,
}

/// Why a registration failed, in [`SipEvent::RegistrationFailed`].
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationFailure {
    /// A final non-2xx that we could not recover from (after digest retries, 423 and
    /// DNS failover were tried).
    Status {
        /// The registrar's final status code (300–699).
        status: u16,
        /// The registrar's reason phrase.
        reason: String,
    },
    /// A 401/407 could not be answered: no credentials configured, credentials rejected,
    /// an algorithm downgrade, too many challenge rounds. The text gives the status,
    /// reason phrase and why.
    Auth(String),
    /// No response within Timer F.
    Timeout,
    /// The transport reported a failure toward the registrar (RFC 3261 §8.1.3.1, §18.4).
    Transport(TransportFailure),
    /// 423 Interval Too Brief (RFC 3261 §10.2.8) without a Min-Expires, or with one not
    /// larger than the interval we asked for.
    IntervalTooBrief,
}

/// Why an RFC 5626 flow failed, in [`SipEvent::FlowFailed`].
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowFailure {
    /// No CRLF pong within 10 s (RFC 5626 §4.4.1).
    PongTimeout,
    /// The STUN keepalive got no answer (RFC 5626 §4.4.2).
    StunTimeout,
    /// The STUN keepalive saw a different mapped address (NAT rebinding).
    MappingChanged {
        /// The mapped address of the previous Binding response.
        was: SocketAddr,
        /// The mapped address the latest Binding response reported.
        now: SocketAddr,
    },
    /// The TCP or TLS connection closed.
    ConnectionClosed,
}

/// What the endpoint tells its TU (transaction user), drained with
/// [`super::Endpoint::poll_event`].
///
/// New events may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SipEvent {
    /// A new call. Answer with [`super::Endpoint::respond`] (180, 200 with body, 4xx...).
    /// `body: None` means the offer must go in our 2xx and the answer arrives in the ACK.
    IncomingCall {
        /// The INVITE to answer with [`super::Endpoint::respond`].
        incoming: IncomingId,
        /// The call's id from now on (early dialog, confirmed by our 2xx and the ACK).
        dialog: DialogId,
        /// The From header value as received (name-addr with its tag).
        from: String,
        /// The To header value as received (no tag yet).
        to: String,
        /// The Request-URI.
        request_uri: String,
        /// The offer, if the INVITE carried one.
        body: Option<Body>,
        /// The peer's Allow lists UPDATE (choose UPDATE over re-INVITE only then).
        peer_allows_update: bool,
    },
    /// A 1xx (other than 100) to our INVITE.
    CallProgress {
        /// The call.
        dialog: DialogId,
        /// The provisional status (101–199; 100 Trying is not reported).
        status: u16,
        /// The reason phrase, e.g. `Ringing`.
        reason: String,
        /// An early answer (or offer) in the 1xx, if any.
        body: Option<Body>,
    },
    /// Our INVITE was redirected (RFC 3261 §8.1.3.4): a new INVITE went to `to`. `status`
    /// is the response that moved the call on: the 3xx, or the failure (4xx–6xx, 408 for
    /// a timeout) of the previous target when the next Contact of a 3xx is tried. The
    /// call keeps its `dialog`; the new target's responses follow as usual.
    CallRedirected {
        /// The call, unchanged by the redirect.
        dialog: DialogId,
        /// The response that moved the call on (see above).
        status: u16,
        /// The Request-URI of the INVITE that was redirected or failed.
        from: String,
        /// The Request-URI of the new INVITE (a Contact of the 3xx).
        to: String,
    },
    /// RFC 3263 §4.3: a request (INVITE or REGISTER) got no answer, a transport error or a
    /// 503 (`status`: 408 for the first two) from `from`, and went again to the next DNS
    /// target `to`.
    FailedOver {
        /// Why the previous target was left: 503, or 408 for a timeout or transport error.
        status: u16,
        /// The DNS target that failed.
        from: SocketAddr,
        /// The DNS target the request went to instead.
        to: SocketAddr,
    },
    /// A 2xx to our INVITE: the dialog is confirmed. When we sent the INVITE without a
    /// body, `body` holds the offer and the TU must call
    /// [`super::Endpoint::ack_with_body`]; otherwise the ACK is already sent.
    CallAnswered {
        /// The call.
        dialog: DialogId,
        /// The 2xx status (normally 200).
        status: u16,
        /// The answer (or, after a bodiless INVITE, the offer) in the 2xx.
        body: Option<Body>,
        /// The peer's Allow lists UPDATE (choose UPDATE over re-INVITE only then).
        peer_allows_update: bool,
    },
    /// The dialog is confirmed on our side as UAS: the ACK for our 2xx arrived
    /// (with the answer when our 2xx carried the offer).
    AckReceived {
        /// The call, now confirmed.
        dialog: DialogId,
        /// The answer in the ACK, when our 2xx carried the offer.
        body: Option<Body>,
    },
    /// An in-dialog re-INVITE (RFC 3261 §14.2). Answer with `respond(incoming, 200,
    /// Some(answer))` or an error status. (One that collides with an offer in progress
    /// never gets here: the endpoint answers it 491 or 500 itself.)
    /// `body: None` means the peer wants our offer in the 2xx; its answer comes in the
    /// ACK as [`SipEvent::AckReceived`].
    IncomingReinvite {
        /// The re-INVITE to answer with [`super::Endpoint::respond`].
        incoming: IncomingId,
        /// The dialog it belongs to.
        dialog: DialogId,
        /// The offer, if any.
        body: Option<Body>,
    },
    /// An in-dialog UPDATE (RFC 3311 §5.2). Answer with `respond(incoming, 200,
    /// Some(answer))` when it carried an offer, or with an error status.
    IncomingUpdate {
        /// The UPDATE to answer with [`super::Endpoint::respond`].
        incoming: IncomingId,
        /// The dialog it belongs to.
        dialog: DialogId,
        /// The offer, if any.
        body: Option<Body>,
    },
    /// Final response to our re-INVITE (after any glare retries). When our re-INVITE had
    /// no body, a 2xx carries the offer and the TU answers with
    /// [`super::Endpoint::ack_with_body`]; otherwise the ACK is already sent.
    ReinviteResponse {
        /// The dialog.
        dialog: DialogId,
        /// The final status; a non-2xx leaves the previous session in place
        /// (RFC 3261 §14.1). A 481 is not reported here: the dialog ends with
        /// [`TerminationReason::DialogGone`].
        status: u16,
        /// The answer (or offer, see above) in the response.
        body: Option<Body>,
    },
    /// Final response to our UPDATE (after any glare / 500 Retry-After retries).
    UpdateResponse {
        /// The dialog.
        dialog: DialogId,
        /// The final status; a non-2xx leaves the previous session in place
        /// (RFC 3311 §5.1). A 481 is not reported here: the dialog ends with
        /// [`TerminationReason::DialogGone`].
        status: u16,
        /// The answer in the 2xx, if the UPDATE carried an offer.
        body: Option<Body>,
    },
    /// A 491 arrived; the request is sent again after `after` (RFC 3261 §14.1).
    GlareRetry {
        /// The dialog whose re-INVITE or UPDATE met glare.
        dialog: DialogId,
        /// The random back-off before the retry: 2.1–4 s when we own the Call-ID (sent
        /// the initial INVITE), 0–2 s otherwise.
        after: Duration,
    },
    /// The peer cancelled its INVITE (we already answered 200 to the CANCEL and 487).
    CancelReceived {
        /// The call, which [`SipEvent::DialogTerminated`] ends next.
        dialog: DialogId,
    },
    /// The peer sent BYE (answered 200); `DialogTerminated` follows.
    ByeReceived {
        /// The dialog the BYE ended.
        dialog: DialogId,
    },
    /// The final response to our REFER ([`super::Endpoint::refer`], RFC 3515 §2.4.2):
    /// 202 Accepted (or another 2xx) starts the implicit subscription, whose NOTIFYs come
    /// as [`SipEvent::TransferProgress`]; an error ends the transfer (408 for no response
    /// or a transport error). NOTIFYs may arrive before this event (RFC 3515 §2.4.4).
    /// Not reported once the dialog has ended.
    ReferResponse {
        /// The dialog the REFER was sent in.
        dialog: DialogId,
        /// The id [`super::Endpoint::refer`] returned.
        id: ReferId,
        /// The final status.
        status: u16,
    },
    /// A NOTIFY of our REFER's implicit subscription (RFC 3515 §2.4.4, §2.4.5), answered
    /// 200: how the transferee's request to the refer target is going.
    TransferProgress {
        /// The dialog the REFER was sent in.
        dialog: DialogId,
        /// The id [`super::Endpoint::refer`] returned.
        id: ReferId,
        /// The status code of the message/sipfrag status line (e.g. 100, 180, 200, 486).
        status: u16,
        /// Its reason phrase.
        reason: String,
        /// `Subscription-State: terminated`: no more NOTIFYs follow; with a 2xx `status`
        /// the transfer succeeded.
        terminated: bool,
    },
    /// A NOTIFY for our REFER that we answered 400 (RFC 3515 §2.4.5): its body is not a
    /// message/sipfrag holding a SIP status line, or it has no usable Subscription-State.
    /// The subscription stays as it was.
    BadTransferNotify {
        /// The dialog the NOTIFY came in.
        dialog: DialogId,
        /// The REFER the NOTIFY was for.
        id: ReferId,
        /// What was wrong, in words.
        detail: String,
    },
    /// The peer asks us to transfer (RFC 3515 §2.4.2): call `refer_to` ourselves. Answer
    /// with [`super::Endpoint::accept_refer`] (202) or [`super::Endpoint::reject_refer`];
    /// after accepting, report progress with [`super::Endpoint::notify_transfer`]
    /// (RFC 3515 §2.4.4: an initial NOTIFY at once, e.g. 100, and a final one with
    /// `terminated`).
    IncomingRefer {
        /// The dialog the REFER came in (stays up; the transfer is a new call).
        dialog: DialogId,
        /// The transfer, for accept/reject and the NOTIFYs.
        id: ReferId,
        /// The URI of the Refer-To header (RFC 3515 §2.1), as received (it may carry
        /// URI headers such as `?Replaces=...`).
        refer_to: String,
        /// The Referred-By header value as received (RFC 3892), if any.
        referred_by: Option<String>,
    },
    /// A NOTIFY we sent for an incoming REFER ([`super::Endpoint::notify_transfer`]) got
    /// a non-2xx final response (408 for no response or a transport error). After a 481
    /// the subscription is gone and further NOTIFYs are refused. Not reported once the
    /// dialog has ended.
    TransferNotifyFailed {
        /// The dialog the REFER came in.
        dialog: DialogId,
        /// The transfer.
        id: ReferId,
        /// The final status.
        status: u16,
    },
    /// The call is over; its id is no longer valid for commands.
    DialogTerminated {
        /// The dialog that ended.
        dialog: DialogId,
        /// Why it ended.
        reason: TerminationReason,
    },
    /// Response to [`super::Endpoint::options`].
    OptionsResponse {
        /// The id [`super::Endpoint::options`] returned.
        request: RequestId,
        /// The final status; 408 when no response came within Timer F.
        status: u16,
        /// The methods of the response's Allow header, known ones in upper case (empty if
        /// absent or malformed).
        allow: Vec<String>,
        /// The option tags of the response's Supported header (empty if absent or
        /// malformed).
        supported: Vec<String>,
    },
    /// REGISTER succeeded. `public_address` is what the registrar saw (received/rport).
    Registered {
        /// The granted lifetime in seconds: our Contact's `expires` in the 2xx, else its
        /// Expires header, else what we asked for (RFC 3261 §10.2.4). A refresh is
        /// scheduled before it runs out.
        expires: u32,
        /// Our address as the registrar saw it (Via `received`/`rport`, RFC 3581 §3),
        /// if it said.
        public_address: Option<SocketAddr>,
        /// The Contact we registered (name-addr text).
        contact: String,
        /// The registrar answered `Require: outbound` (RFC 5626 §4.2.1).
        outbound: bool,
        /// The flow the registration uses (RFC 5626 §3.2); keepalives and
        /// [`SipEvent::FlowFailed`] refer to it.
        flow: FlowId,
    },
    /// Un-REGISTER (Expires: 0) completed.
    Unregistered,
    /// A REGISTER (initial, refresh or un-REGISTER) failed; the binding is not current.
    /// With RFC 5626 outbound ([`super::EndpointConfig::instance_id`] set) a new REGISTER
    /// follows after the §4.5 back-off; without it, nothing is retried until
    /// [`super::Endpoint::register`].
    RegistrationFailed {
        /// Why it failed.
        reason: RegistrationFailure,
    },
    /// Send a STUN Binding request on this UDP flow (RFC 5626 §4.4.2) from `local` to
    /// `dest`, then report [`super::Endpoint::stun_keepalive_result`].
    StunKeepaliveDue {
        /// The flow to keep alive.
        flow: FlowId,
        /// The local UDP address of the flow (send from this socket).
        local: SocketAddr,
        /// The registrar / edge proxy address to send the Binding request to.
        dest: SocketAddr,
    },
    /// The flow failed; a re-REGISTER is scheduled after `retry_after` (RFC 5626 §4.5).
    FlowFailed {
        /// The flow that failed.
        flow: FlowId,
        /// How it failed.
        reason: FlowFailure,
        /// RFC 5626 §4.5 back-off before the re-REGISTER that recovers the flow.
        retry_after: Duration,
    },
    /// With [`super::EndpointConfig::trace_messages`]: a SIP message we queued for sending
    /// (retransmissions included; not keepalives) or received (after framing, before any
    /// check), in its wire form.
    Traced {
        /// Sent by us (else received).
        outgoing: bool,
        /// How it went.
        transport: TransportKind,
        /// Our address, when known.
        local: Option<SocketAddr>,
        /// The peer's address: where it went, or where it came from.
        remote: SocketAddr,
        /// The whole message.
        bytes: Vec<u8>,
    },
}

/// A command the endpoint refused: the request or response it asked for was not sent.
///
/// New errors may be added: match with a wildcard arm.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// The dialog does not exist (never did, or already terminated).
    #[error("unknown dialog {0:?}")]
    UnknownDialog(DialogId),
    /// The transfer ([`ReferId`]) is unknown in that dialog, already answered (for
    /// accept/reject), not accepted or already terminated (for NOTIFYs).
    #[error("unknown or finished transfer {0:?}")]
    UnknownRefer(ReferId),
    /// The incoming request does not exist or already got its final response.
    #[error("unknown or already answered incoming request {0:?}")]
    UnknownIncoming(IncomingId),
    /// A target (or the configured AOR) is not a URI we can send to.
    #[error("bad target URI {uri:?}: {detail}")]
    BadTarget {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        detail: String,
    },
    /// No first hop for the target: no outbound proxy, no registration flow, and its host
    /// is a domain name with no targets set by [`super::Endpoint::set_resolved`] (the
    /// endpoint does no DNS), or it is not a sip:/sips: URI. Holds the URI.
    #[error("no route to {0}: no outbound proxy and the host is not an IP address")]
    NoRoute(String),
    /// The request must go over this transport, but its local address
    /// ([`super::EndpointConfig::udp_local`], `tcp_local`, `tls_local`) is not configured.
    #[error("no local {0:?} address configured")]
    TransportUnavailable(TransportKind),
    /// RFC 3261 §26.2.2: a request to a sips: URI (or one with `;transport=tls`) goes over TLS
    /// on every hop we control; it is refused rather than sent over another transport.
    #[error("{uri} needs TLS on every hop (RFC 3261 §26.2.2), but {detail}; not sent")]
    TlsRequired {
        /// The sips: (or `;transport=tls`) URI.
        uri: String,
        /// Why TLS is not possible on the hop (e.g. no `tls_local`, a UDP outbound proxy).
        detail: String,
    },
    /// [`super::Endpoint::respond`] was given a status outside 101–699 (the endpoint sends
    /// 100 Trying itself).
    #[error("invalid status {0}")]
    InvalidStatus(u16),
    /// The command does not fit the dialog's state now, e.g. CANCEL of an answered or an
    /// incoming call, a re-INVITE while another INVITE or offer is pending (RFC 3261
    /// §14.1), an UPDATE offer before the previous offer was answered (RFC 3311 §5.1), or
    /// `ack_with_body` when no 2xx waits for an ACK with an answer.
    #[error("operation {operation} not allowed: {detail}")]
    InvalidState {
        /// The refused command (`invite`, `cancel`, `bye`, `reinvite`, `update`, ...).
        operation: &'static str,
        /// Why, in words.
        detail: String,
    },
    /// [`super::Endpoint::register`] or `unregister` without
    /// [`super::EndpointConfig::outbound_proxy`] (the registrar) configured.
    #[error("no registration configured")]
    NoRegistration,
    /// The configured AOR ([`super::EndpointConfig::aor`]) could not be parsed as a URI.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Digest authentication could not produce credentials for a request.
    #[error(transparent)]
    Auth(#[from] AuthError),
}
