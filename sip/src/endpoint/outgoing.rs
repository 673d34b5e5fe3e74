//! Building and sending requests: Via with rport, Contact, the MTU rule, client
//! transactions.

use std::time::Instant;

use bytes::Bytes;

use crate::message::{HeaderName, Host, Method, NameAddr, Request, SipUri, Transport, Uri, Via};
use crate::transaction::{generate_branch, ClientTransactionKey, InviteClient, NonInviteClient};

use super::client::{ClientEntry, ClientTxn, Purpose};
use super::hop::{needs_tls, Hop};
use super::types::{EndpointError, TransportKind};
use super::{Endpoint, ALLOWED_METHODS, SUPPORTED_TAGS};

/// RFC 3261 §8.1.1.6: Max-Forwards SHOULD be 70.
const MAX_FORWARDS: u8 = 70;

fn via_transport(kind: TransportKind) -> Transport {
    match kind {
        TransportKind::Udp => Transport::Udp,
        TransportKind::Tcp => Transport::Tcp,
        TransportKind::Tls => Transport::Tls,
    }
}

/// A request target given by the TU, parsed; a bad one is `EndpointError::BadTarget`.
pub(crate) fn parse_target(target: &str) -> Result<Uri, EndpointError> {
    target
        .parse()
        .map_err(|e: crate::message::ParseError| EndpointError::BadTarget {
            uri: target.to_owned(),
            detail: e.to_string(),
        })
}

impl Endpoint {
    /// The common headers of a request we originate (RFC 3261 §8.1.1): no Via yet.
    pub(crate) fn base_request(
        &self,
        method: Method,
        uri: Uri,
        from: &NameAddr,
        to: &NameAddr,
        call_id: &str,
        cseq: u32,
    ) -> Request {
        let mut request = Request::builder(method, uri)
            .max_forwards(MAX_FORWARDS)
            .from(from)
            .to(to)
            .call_id(call_id)
            .cseq(cseq)
            .build();
        request
            .headers
            .push(HeaderName::UserAgent, self.config.user_agent.clone());
        request
    }

    /// Allow and Supported, added to INVITE, UPDATE, OPTIONS answers and dialog-forming
    /// responses (RFC 3261 §20.5, RFC 3311 §5: Allow lists UPDATE).
    pub(crate) fn add_capabilities(&self, headers: &mut crate::message::Headers) {
        let allow: Vec<&str> = ALLOWED_METHODS
            .iter()
            .filter(|m| self.config.allow_update || **m != Method::Update)
            .map(Method::as_str)
            .collect();
        headers.set(HeaderName::Allow, allow.join(", "));
        headers.set(HeaderName::Supported, SUPPORTED_TAGS.join(", "));
    }

    /// Our Contact for a transport: the learned public address when configured and known,
    /// else the local socket; `;transport=tcp` on TCP, `;transport=tls` on TLS; `;ob` when
    /// outbound is on (RFC 5626 §4.3). `secure`: the request or dialog is sips:, so the
    /// Contact is a sips: URI too (RFC 3261 §8.1.1.8, §12.1.1), which already means TLS
    /// (RFC 5630 §3.1.3: no transport parameter).
    pub(crate) fn contact(
        &self,
        transport: TransportKind,
        secure: bool,
    ) -> Result<NameAddr, EndpointError> {
        let local = self
            .config
            .local_addr(transport)
            .ok_or(EndpointError::TransportUnavailable(transport))?;
        let addr = match (self.config.use_learned_contact, self.learned_contact) {
            (true, Some(learned)) => learned,
            _ => local,
        };
        let user = self.aor_uri().ok().and_then(|u| u.user.clone());
        let mut uri = SipUri::new(user.as_deref(), Host::from(addr.ip()));
        uri.port = Some(addr.port());
        match transport {
            _ if secure => uri.secure = true,
            TransportKind::Tcp => uri.params.set("transport", Some("tcp")),
            TransportKind::Tls => uri.params.set("transport", Some("tls")),
            TransportKind::Udp => {}
        }
        if self.config.instance_id.is_some() {
            uri.params.set("ob", None);
        }
        Ok(NameAddr::new(Uri::Sip(uri)))
    }

    /// Our AOR as a SIP URI.
    pub(crate) fn aor_uri(&self) -> Result<SipUri, EndpointError> {
        let uri: Uri = self.config.aor.parse()?;
        uri.as_sip()
            .cloned()
            .ok_or_else(|| EndpointError::BadTarget {
                uri: self.config.aor.clone(),
                detail: "AOR is not a sip: URI".into(),
            })
    }

    /// From for a new dialog or registration: AOR, display name, our tag.
    pub(crate) fn local_name_addr(&self, tag: Option<&str>) -> Result<NameAddr, EndpointError> {
        let mut addr = NameAddr::new(Uri::Sip(self.aor_uri()?));
        addr.display_name = self.config.display_name.clone();
        if let Some(tag) = tag {
            addr.params.set("tag", Some(tag));
        }
        Ok(addr)
    }

    /// Adds our top Via (RFC 3261 §8.1.1.7 new branch; RFC 3581 §3 empty rport) for `hop`.
    fn set_via(&self, request: &mut Request, hop: &Hop, branch: &str) -> Result<(), EndpointError> {
        let local = self
            .config
            .local_addr(hop.transport)
            .ok_or(EndpointError::TransportUnavailable(hop.transport))?;
        let mut via = Via::new(
            via_transport(hop.transport),
            Host::from(local.ip()),
            Some(local.port()),
            branch,
        );
        via.params.set("rport", None);
        request.headers.remove(HeaderName::Via);
        request.headers.push_front(HeaderName::Via, via.to_string());
        Ok(())
    }

    /// RFC 3261 §26.2.2: a request to a sips: URI, or routed through one, goes over TLS on
    /// every hop we control, and so does one whose URI says `;transport=tls` (RFC 3261
    /// §19.1.1). Any other first hop is refused, never used as a silent downgrade.
    fn check_tls(&self, request: &Request, hop: &Hop) -> Result<(), EndpointError> {
        self.require_tls(&request.uri, hop)?;
        match request
            .headers
            .routes()
            .ok()
            .and_then(|r| r.into_iter().next())
        {
            Some(route) if needs_tls(&route.uri) => self.require_tls(&route.uri, hop),
            _ => Ok(()),
        }
    }

    /// Adds the Via and encodes; RFC 3261 §18.1.1: a UDP request larger than MTU − 200
    /// bytes goes over TCP to the same address when we have TCP. Returns the hop used.
    pub(crate) fn finish_request(
        &mut self,
        request: &mut Request,
        hop: Hop,
        branch: &str,
    ) -> Result<(Hop, Vec<u8>), EndpointError> {
        self.check_tls(request, &hop)?;
        self.set_via(request, &hop, branch)?;
        // The TU's one-shot header edits (test tools); kept in the stored request, so an
        // authenticated retry carries them too.
        self.apply_request_edits(&request.method.clone(), &mut request.headers);
        let bytes = request.to_bytes();
        if hop.transport == TransportKind::Udp
            && bytes.len() > self.config.udp_size_limit()
            && self.config.tcp_local.is_some()
        {
            // RFC 3261 §18.1.1: too close to the MTU for UDP; the Contact keeps its
            // transport (the request's target is unchanged), only the hop changes.
            let tcp = Hop {
                transport: TransportKind::Tcp,
                dest: hop.dest,
                conn: self.conn_to(TransportKind::Tcp, hop.dest),
                local: None,
            };
            tracing::debug!(len = bytes.len(), dest = %hop.dest, "request exceeds MTU - 200, switching to TCP");
            self.set_via(request, &tcp, branch)?;
            return Ok((tcp, request.to_bytes()));
        }
        Ok((hop, bytes))
    }

    /// Sends `request` (built without Via) in a new client transaction.
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        hop: Hop,
        purpose: Purpose,
    ) -> Result<ClientTransactionKey, EndpointError> {
        let branch = generate_branch(&mut self.rng);
        let (hop, bytes) = self.finish_request(&mut request, hop, &branch)?;
        self.start_client(now, request, &branch, bytes, hop, purpose)
    }

    /// Sends a request whose top Via is already set (CANCEL: the INVITE's Via, RFC 3261
    /// §9.1) in a new client transaction.
    pub(crate) fn start_client_with_via(
        &mut self,
        now: Instant,
        request: Request,
        hop: Hop,
        purpose: Purpose,
    ) -> Result<ClientTransactionKey, EndpointError> {
        let via = request.headers.top_via()?;
        let branch = via.branch().unwrap_or_default().to_owned();
        let bytes = request.to_bytes();
        self.start_client(now, request, &branch, bytes, hop, purpose)
    }

    fn start_client(
        &mut self,
        now: Instant,
        request: Request,
        branch: &str,
        bytes: Vec<u8>,
        hop: Hop,
        purpose: Purpose,
    ) -> Result<ClientTransactionKey, EndpointError> {
        let key = ClientTransactionKey::new(branch, request.method.as_str());
        let bytes = Bytes::from(bytes);
        let (txn, actions) = if request.method == Method::Invite {
            let (t, a) = InviteClient::start(now, bytes, hop.reliability(), self.config.timers);
            (ClientTxn::Invite(t), a)
        } else {
            let (t, a) = NonInviteClient::start(now, bytes, hop.reliability(), self.config.timers);
            (ClientTxn::NonInvite(t), a)
        };
        tracing::debug!(method = %request.method, uri = %request.uri, dest = %hop.dest, transport = ?hop.transport, "sending request");
        let entry = ClientEntry::new(txn, request, hop, purpose, now);
        self.clients.insert(key.clone(), entry);
        self.run_client_actions(now, &key, actions, None);
        Ok(key)
    }

    /// Sends a request outside any transaction (the ACK for a 2xx, RFC 3261 §13.2.2.4,
    /// with a new branch). Returns the bytes and hop for later retransmission.
    pub(crate) fn send_stateless(
        &mut self,
        mut request: Request,
        hop: Hop,
    ) -> Result<(Hop, Vec<u8>), EndpointError> {
        let branch = generate_branch(&mut self.rng);
        let (hop, bytes) = self.finish_request(&mut request, hop, &branch)?;
        self.send_on(&hop, bytes.clone());
        Ok((hop, bytes))
    }

    /// Sends `bytes` as they are to `dest` over `transport`, outside any transaction (test
    /// tools: a hand-written message). Responses to it match no transaction; with
    /// [`super::EndpointConfig::trace_messages`] they still show as [`super::SipEvent::Traced`].
    pub fn send_raw(
        &mut self,
        transport: TransportKind,
        dest: std::net::SocketAddr,
        bytes: Vec<u8>,
    ) -> Result<(), EndpointError> {
        self.config
            .local_addr(transport)
            .ok_or(EndpointError::TransportUnavailable(transport))?;
        let hop = self.hop_to(transport, dest);
        self.send_on(&hop, bytes);
        Ok(())
    }
}
