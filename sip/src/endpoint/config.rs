//! Endpoint configuration.

use std::net::SocketAddr;

use crate::auth::Credentials;
use crate::timers::outbound::FlowRecoveryConfig;
use crate::timers::TimerConfig;

use super::edits::HeaderEdits;
use super::limits::ServerLimits;
use super::types::TransportKind;

/// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU goes over TCP.
pub const MTU_MARGIN: usize = 200;

/// A next hop as the TU configures it: the outbound proxy (the first hop of every
/// out-of-dialog request, RFC 3261 §8.1.2), one of its RFC 3263 alternates, or a DNS target
/// of a domain ([`super::Endpoint::set_resolved`]). The endpoint does no DNS: the address
/// is already resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// The transport to reach it over.
    pub transport: TransportKind,
    /// Its IP address and port (for TLS, the TCP port the TLS server listens on).
    pub addr: SocketAddr,
}

/// What the endpoint is and how it behaves.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The bound UDP socket's address (used in Via and Contact), if UDP is enabled.
    pub udp_local: Option<SocketAddr>,
    /// The TCP listener's address, if TCP is enabled.
    pub tcp_local: Option<SocketAddr>,
    /// The address Via and Contact name for TLS; `Some` enables TLS (sips: and
    /// `;transport=tls` targets, or `default_transport`). There need not be a TLS listener:
    /// peers answer and send requests on the connections we open (RFC 3261 §18.2.2,
    /// RFC 5626 flows), so this names our host for them.
    pub tls_local: Option<SocketAddr>,
    /// Our address of record, e.g. `sip:alice@example.com` (From, To of REGISTER).
    pub aor: String,
    /// Display name for From.
    pub display_name: Option<String>,
    /// Digest credentials, used for 401/407 on REGISTER and INVITE.
    pub credentials: Option<Credentials>,
    /// The registrar / outbound proxy: REGISTER goes here, and so does every out-of-dialog
    /// request, whatever its target (RFC 3261 §8.1.2); in-dialog requests follow the
    /// dialog's route set and remote target.
    pub outbound_proxy: Option<NextHop>,
    /// RFC 3263 §4.3: the outbound proxy's further DNS targets, best first. A request
    /// that times out, meets a transport error or gets 503 is sent again to the next.
    pub proxy_alternates: Vec<NextHop>,
    /// RFC 3263 targets the TU resolved for domain names, best first (see
    /// [`super::Endpoint::set_resolved`]); the endpoint itself does no DNS.
    pub resolved_hosts: Vec<(String, Vec<NextHop>)>,
    /// Transport for requests whose URI names none.
    pub default_transport: TransportKind,
    /// RFC 3261 §17 T1/T2/T4.
    pub timers: TimerConfig,
    /// Path MTU; requests larger than `mtu - 200` go over TCP (RFC 3261 §18.1.1).
    pub mtu: usize,
    /// Put the address learned from received/rport in Contact (re-registering at most once
    /// per learned change).
    pub use_learned_contact: bool,
    /// RFC 5626 `+sip.instance` value (`urn:uuid:...`); `None` disables outbound.
    pub instance_id: Option<String>,
    /// RFC 5626 §4.2 `reg-id` of our one flow.
    pub reg_id: u32,
    /// Requested registration lifetime in seconds.
    pub register_expires: u32,
    /// RFC 5626 §4.5 back-off parameters.
    pub flow_recovery: FlowRecoveryConfig,
    /// User-Agent header value.
    pub user_agent: String,
    /// List UPDATE (RFC 3311) in Allow. Off makes peers change the session by re-INVITE
    /// (a UA that does not implement UPDATE, for interop tests); incoming UPDATEs are still
    /// answered.
    pub allow_update: bool,
    /// Redirected INVITEs a call may send after 3xx responses (RFC 3261 §8.1.3.4); 0
    /// reports a 3xx as the call's failure without following it.
    pub max_redirects: u8,
    /// CRLFCRLF keepalive interval on flows RFC 5626 does not keep alive: the registration's
    /// flow when the registrar lacks outbound, and the flow of every dialog (registered or
    /// not), so NAT bindings survive long silences (as pjsua's --ka-interval). `None` = off.
    pub keepalive: Option<std::time::Duration>,
    /// Caps on server transactions, in total and per source IP; a request over a cap gets
    /// 503 with Retry-After (RFC 3261 §21.5.4).
    pub server_limits: ServerLimits,
    /// Header edits applied to every response we send (test tools).
    pub response_edits: HeaderEdits,
    /// Report every SIP message sent (retransmissions included) and received (after
    /// framing) as [`super::SipEvent::Traced`]; off by default, so a phone pays nothing.
    pub trace_messages: bool,
}

impl EndpointConfig {
    /// Defaults for an AOR: UDP, RFC timers, MTU 1500, 3600 s registrations, outbound off,
    /// up to [`super::DEFAULT_MAX_REDIRECTS`] redirects followed.
    pub fn new(aor: impl Into<String>) -> EndpointConfig {
        EndpointConfig {
            udp_local: None,
            tcp_local: None,
            tls_local: None,
            aor: aor.into(),
            display_name: None,
            credentials: None,
            outbound_proxy: None,
            proxy_alternates: Vec::new(),
            resolved_hosts: Vec::new(),
            default_transport: TransportKind::Udp,
            timers: TimerConfig::default(),
            mtu: 1500,
            use_learned_contact: false,
            instance_id: None,
            reg_id: 1,
            register_expires: 3600,
            flow_recovery: FlowRecoveryConfig::default(),
            user_agent: concat!("icephone-sip/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_update: true,
            max_redirects: super::redirect::DEFAULT_MAX_REDIRECTS,
            keepalive: None,
            server_limits: ServerLimits::default(),
            response_edits: HeaderEdits::default(),
            trace_messages: false,
        }
    }

    /// Largest request sent over UDP (RFC 3261 §18.1.1).
    pub fn udp_size_limit(&self) -> usize {
        self.mtu.saturating_sub(MTU_MARGIN)
    }

    pub(crate) fn local_addr(&self, transport: TransportKind) -> Option<SocketAddr> {
        match transport {
            TransportKind::Udp => self.udp_local,
            TransportKind::Tcp => self.tcp_local,
            TransportKind::Tls => self.tls_local,
        }
    }
}
