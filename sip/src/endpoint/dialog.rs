//! Dialog state (RFC 3261 §12) and in-dialog request construction.

use std::time::Instant;

use crate::message::{HeaderName, Method, NameAddr, Request, Uri};
use crate::transaction::{ClientTransactionKey, ServerTransactionKey, TwoXxRetransmitter};

use super::hop::{uri_target, Hop};
use super::types::{Body, DialogId, IncomingId, ReferId};

/// Which side created the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Uac,
    Uas,
}

/// Dialog life cycle. `Calling`: our INVITE has no tagged response yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialogState {
    Calling,
    Early,
    Confirmed,
}

/// An in-dialog request waiting to be retried (glare, RFC 3261 §14.1; RFC 3311 §5.2
/// Retry-After).
#[derive(Debug, Clone)]
pub(crate) struct PendingRetry {
    pub at: Instant,
    pub method: Method,
    pub body: Option<Body>,
}

/// The UAS core's 2xx retransmission (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub(crate) struct TwoXx {
    pub retransmitter: TwoXxRetransmitter,
    pub hop: Hop,
    /// CSeq of the INVITE the 2xx answers; the ACK carries the same number.
    pub cseq: u32,
    /// The 2xx carried an offer (INVITE without body), so the ACK carries the answer.
    pub offer_in_2xx: bool,
}

/// A REFER we sent and its implicit subscription (RFC 3515 §2.4.4), until a NOTIFY says
/// terminated or the REFER fails.
#[derive(Debug, Clone)]
pub(crate) struct OutRefer {
    pub id: ReferId,
    /// CSeq of the REFER: NOTIFYs name it in `Event: refer;id=` (RFC 3515 §2.4.6).
    pub cseq: u32,
}

/// A REFER the peer sent: answered by the TU, then reported on by NOTIFYs.
#[derive(Debug, Clone)]
pub(crate) struct InRefer {
    pub id: ReferId,
    /// CSeq of the REFER, for `Event: refer;id=` (RFC 3515 §2.4.6).
    pub cseq: u32,
    /// The REFER's server transaction, until the TU answers it.
    pub server: Option<ServerTransactionKey>,
    /// Answered 2xx: NOTIFYs may go.
    pub accepted: bool,
}

#[derive(Debug)]
pub(crate) struct Dialog {
    pub id: DialogId,
    pub role: Role,
    pub state: DialogState,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Local and remote URIs with their display names, tags stripped.
    pub local_uri: NameAddr,
    pub remote_uri: NameAddr,
    pub local_cseq: u32,
    pub remote_cseq: Option<u32>,
    pub remote_target: Uri,
    /// RFC 3261 §12.1: Record-Route in the order requests must follow.
    pub route_set: Vec<NameAddr>,
    /// The transport association the dialog was formed over.
    pub hop: Hop,
    /// RFC 3261 §12.1.1 / §12.1.2: the dialog was formed by a sips: request over TLS; our
    /// Contact is sips: and its requests go over TLS on every hop we control (§26.2.2).
    pub secure: bool,
    pub peer_allows_update: bool,
    /// UAC: the initial INVITE as sent (for CANCEL and the 2xx ACK) and its transaction.
    pub invite: Option<Request>,
    pub invite_key: Option<ClientTransactionKey>,
    pub got_provisional: bool,
    pub cancel_requested: bool,
    pub cancel_sent: bool,
    /// UAC: the INVITE carried no body, so the ACK must carry the answer from the TU.
    pub ack_needs_body: bool,
    /// UAC: the last ACK for a 2xx, re-sent when the 2xx is retransmitted (RFC 6026).
    pub last_ack: Option<(Hop, Vec<u8>)>,
    /// UAS: the INVITE server transaction of the initial INVITE.
    pub invite_server: Option<ServerTransactionKey>,
    pub invite_incoming: Option<IncomingId>,
    pub two_xx: Option<TwoXx>,
    /// RFC 3311 §5.1 / RFC 3261 §14: offers in progress.
    pub local_offer_pending: bool,
    pub remote_offer_pending: bool,
    /// Our re-INVITE or UPDATE client transaction in flight.
    pub reinvite_out: Option<ClientTransactionKey>,
    pub update_out: Option<ClientTransactionKey>,
    /// The peer's re-INVITE not yet answered by the TU.
    pub reinvite_in: Option<IncomingId>,
    pub retry: Option<PendingRetry>,
    pub bye_sent: bool,
    /// The TU asked for BYE while our 2xx awaited its ACK.
    pub bye_after_ack: bool,
    /// CSeq of the last re-INVITE whose 2xx we ACKed: a retransmitted 2xx only gets the
    /// ACK again (RFC 3261 §13.2.2.4), not a second event.
    pub acked_reinvite: Option<u32>,
    /// CSeq of our offerless re-INVITE whose 2xx (with the offer) awaits the TU's answer
    /// for the ACK.
    pub reinvite_ack_pending: Option<u32>,
    /// UAC: the targets learned from 3xx responses (RFC 3261 §8.1.3.4), once redirected.
    pub targets: Option<super::redirect::TargetSet>,
    /// UAC: further hops for the INVITE's target (RFC 3263 §4.3), tried on timeout,
    /// transport error or 503 before giving up.
    pub failover: std::collections::VecDeque<Hop>,
    /// When the next CRLFCRLF keepalive goes to the dialog's next hop (`keepalive` config).
    pub keepalive_at: Option<Instant>,
    /// RFC 3515: REFERs we sent whose subscription is still open.
    pub refers_out: Vec<OutRefer>,
    /// RFC 3515: REFERs the peer sent, until rejected or their final NOTIFY.
    pub refers_in: Vec<InRefer>,
}

impl Dialog {
    pub fn poll_timeout(&self) -> Option<Instant> {
        let two_xx = self
            .two_xx
            .as_ref()
            .and_then(|t| t.retransmitter.poll_timeout());
        let retry = self.retry.as_ref().map(|r| r.at);
        [two_xx, retry, self.keepalive_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next hop for an in-dialog request (RFC 3261 §12.2.1.1): the first route when
    /// the route set is not empty (loose routing), else the remote target. When neither
    /// is an IP literal, the hop the dialog was formed over.
    pub fn next_hop(
        &self,
        endpoint_hop: impl Fn(super::TransportKind, std::net::SocketAddr) -> Hop,
    ) -> Hop {
        let next = match self.route_set.first() {
            Some(route) => &route.uri,
            // RFC 5626 §5.3: a remote target with `ob` is reachable only over the flow
            // the dialog came in on.
            None if self.remote_target.as_sip().is_some_and(|u| u.has_ob()) => return self.hop,
            None => &self.remote_target,
        };
        match uri_target(next, self.hop.transport) {
            // RFC 3261 §26.2.2: a secure dialog never leaves TLS; a target or route that would
            // is reached over the dialog's own TLS flow instead.
            Some((transport, _)) if self.secure && transport != super::TransportKind::Tls => {
                self.hop
            }
            // Same peer as the dialog's flow: keep the flow (connection reuse).
            Some((transport, dest)) if dest == self.hop.dest && transport == self.hop.transport => {
                self.hop
            }
            Some((transport, dest)) => endpoint_hop(transport, dest),
            None => self.hop,
        }
    }

    /// A request within the dialog (RFC 3261 §12.2.1.1): Request-URI = remote target,
    /// Route = route set, From/To with our/their tags. `cseq` is the caller's choice
    /// (ACK and CANCEL reuse the INVITE's).
    pub fn request(&self, method: Method, cseq: u32) -> Request {
        let mut from = self.local_uri.clone();
        from.params.set("tag", Some(&self.local_tag));
        let mut to = self.remote_uri.clone();
        if let Some(tag) = &self.remote_tag {
            to.params.set("tag", Some(tag));
        }
        let mut builder = Request::builder(method, self.remote_target.clone())
            .max_forwards(70)
            .from(&from)
            .to(&to)
            .call_id(&self.call_id)
            .cseq(cseq);
        for route in &self.route_set {
            builder = builder.route(route);
        }
        builder.build()
    }

    /// A request in the extra dialog a forked 2xx created (RFC 3261 §12.1.2): its To tag,
    /// its Contact as target and its reversed Record-Route as route set.
    pub fn fork_request(
        &self,
        method: Method,
        cseq: u32,
        to_tag: &str,
        headers: &crate::message::Headers,
    ) -> Request {
        let mut fork = Dialog::without_tag(&self.remote_uri);
        fork.params.set("tag", Some(to_tag));
        let mut request = self.request(method, cseq);
        request.headers.set(HeaderName::To, fork.to_string());
        if let Ok(crate::message::Contacts::List(list)) = headers.contacts() {
            if let Some(first) = list.first() {
                request.uri = first.uri.clone();
            }
        }
        request.headers.remove(HeaderName::Route);
        if let Ok(mut routes) = headers.record_routes() {
            routes.reverse();
            for route in routes {
                request.headers.push(HeaderName::Route, route.to_string());
            }
        }
        request
    }

    /// RFC 3261 §12.2.1.2 / §12.2.2 / RFC 3311 §5: a target refresh request or response
    /// replaces the remote target with its Contact.
    pub fn refresh_target(&mut self, headers: &crate::message::Headers) {
        if let Ok(crate::message::Contacts::List(list)) = headers.contacts() {
            if let Some(first) = list.first() {
                self.remote_target = first.uri.clone();
            }
        }
    }

    /// RFC 3261 §12.1.2: the UAC's route set is the Record-Route of the response in
    /// reverse order.
    pub fn set_uac_route_set(&mut self, headers: &crate::message::Headers) {
        if let Ok(mut routes) = headers.record_routes() {
            routes.reverse();
            self.route_set = routes;
        }
    }

    /// Whether `allow` (an Allow header's methods) lists UPDATE.
    pub fn allow_lists_update(headers: &crate::message::Headers) -> bool {
        headers
            .allow()
            .map(|m| m.contains(&Method::Update))
            .unwrap_or(false)
    }

    /// The tag-less copy of an address.
    pub fn without_tag(addr: &NameAddr) -> NameAddr {
        let mut a = addr.clone();
        a.params.remove("tag");
        a
    }
}

/// Adds a body and its Content-Type, or nothing.
pub(crate) fn put_body(request: &mut Request, body: Option<&Body>) {
    if let Some(body) = body {
        request
            .headers
            .set(HeaderName::ContentType, body.content_type.clone());
        request.body = body.bytes.clone();
    }
}

/// The body of a message as a [`Body`], `None` when empty.
pub(crate) fn body_of(headers: &crate::message::Headers, body: &[u8]) -> Option<Body> {
    if body.is_empty() {
        return None;
    }
    let content_type = headers
        .get(HeaderName::ContentType)
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Some(Body::new(content_type, body.to_vec()))
}
