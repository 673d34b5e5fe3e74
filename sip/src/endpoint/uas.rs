//! The UAS core (RFC 3261 §8.2, §9.2, §12.2.2, §14.2, §15; RFC 3311 §5.2): CANCEL, ACK for
//! 2xx, in-dialog requests, new INVITEs, OPTIONS, and [`Endpoint::respond`].

use std::time::Instant;

use bytes::Bytes;

use crate::message::{HeaderName, Method, Request, Response};
use crate::timers::glare::pending_offer_retry_after;
use crate::transaction::{ServerTransactionKey, TwoXxRetransmitter};

use super::dialog::{body_of, Dialog, DialogState, Role, TwoXx};
use super::hop::{Arrival, Hop};
use super::server::{reason_phrase, ServerKind};
use super::types::{
    Body, DialogId, EndpointError, IncomingId, SipEvent, TerminationReason, TransportKind,
};
use super::Endpoint;

impl Endpoint {
    /// RFC 3261 §9.2: CANCEL matching a pending INVITE → 200 to the CANCEL, 487 to the
    /// INVITE; no match → 481.
    pub(crate) fn on_cancel(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        reply: Hop,
        branch: &str,
        sent_by: &str,
    ) {
        let target = ServerTransactionKey::cancel_target(branch, sent_by);
        let pending = self
            .servers
            .get(&target)
            .filter(|e| !e.answered)
            .map(|e| (e.dialog, e.request.clone()));
        let Some((dialog, invite)) = pending else {
            let tag = self.random_token(12);
            let response =
                Response::for_request(&request, 481, reason_phrase(481)).with_to_tag(&tag);
            self.respond_new(now, key, request, reply, None, ServerKind::Other, response);
            return;
        };
        let local_tag = dialog
            .and_then(|d| self.dialogs.get(&d))
            .map(|d| d.local_tag.clone())
            .unwrap_or_else(|| self.random_token(12));
        let ok = Response::for_request(&request, 200, "OK").with_to_tag(&local_tag);
        self.respond_new(now, key, request, reply, dialog, ServerKind::Other, ok);
        let terminated =
            Response::for_request(&invite, 487, reason_phrase(487)).with_to_tag(&local_tag);
        self.send_server_response(now, &target, terminated);
        if let Some(dialog) = dialog {
            self.emit(SipEvent::CancelReceived { dialog });
            self.end_dialog(dialog, TerminationReason::Cancelled);
        }
    }

    /// The dialog a request belongs to (RFC 3261 §12.2.2): Call-ID, To tag = ours,
    /// From tag = theirs.
    pub(crate) fn dialog_for_request(&self, request: &Request) -> Option<DialogId> {
        let call_id = request.headers.call_id().ok()?;
        let to = request.headers.to_addr().ok()?;
        let from = request.headers.from_addr().ok()?;
        let (local, remote) = (to.tag()?, from.tag());
        self.dialogs_of(call_id, local)
            .find(|d| d.remote_tag.as_deref() == remote || d.remote_tag.is_none())
            .map(|d| d.id)
    }

    /// The ACK for our 2xx (RFC 3261 §13.3.1.4): stop retransmitting, pass the body up.
    pub(crate) fn on_dialog_ack(&mut self, now: Instant, request: &Request) {
        let Some(id) = self.dialog_for_request(request) else {
            tracing::debug!("ACK for no dialog dropped");
            return;
        };
        let cseq = request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        let matches = d.two_xx.as_ref().is_some_and(|t| t.cseq == cseq);
        if !matches {
            return; // a retransmitted ACK
        }
        if let Some(mut two_xx) = d.two_xx.take() {
            two_xx.retransmitter.on_ack();
            if two_xx.offer_in_2xx {
                d.local_offer_pending = false;
            }
        }
        let bye_now = d.bye_after_ack;
        self.emit(SipEvent::AckReceived {
            dialog: id,
            body: body_of(&request.headers, &request.body),
        });
        if bye_now {
            if let Err(e) = self.bye(now, id) {
                tracing::info!(error = %e, "deferred BYE not sent");
            }
        }
    }

    pub(crate) fn on_in_dialog_request(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        reply: Hop,
    ) {
        let Some(id) = self.dialog_for_request(&request) else {
            // RFC 3261 §12.2.2: a request with a To tag that matches no dialog → 481.
            let response = Response::for_request(&request, 481, reason_phrase(481));
            self.respond_new(now, key, request, reply, None, ServerKind::Other, response);
            return;
        };
        let cseq = request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        // RFC 3261 §12.2.2: a CSeq lower than the last one → 500.
        if d.remote_cseq.is_some_and(|last| cseq <= last) {
            let response = Response::for_request(&request, 500, reason_phrase(500));
            self.respond_in_dialog(now, (key, request, reply), id, response);
            return;
        }
        d.remote_cseq = Some(cseq);
        let has_body = !request.body.is_empty();
        match request.method {
            Method::Invite => {
                // RFC 3261 §14.2: our own re-INVITE pending → 491; theirs unanswered → 500
                // with Retry-After.
                let status = if d.reinvite_out.is_some() || d.local_offer_pending {
                    Some(491)
                } else if d.reinvite_in.is_some() || d.remote_offer_pending {
                    Some(500)
                } else {
                    None
                };
                if let Some(status) = status {
                    self.reject_pending(now, key, request, reply, id, status);
                    return;
                }
                d.refresh_target(&request.headers);
                d.remote_offer_pending = has_body;
                let incoming = IncomingId(self.next_id());
                if let Some(d) = self.dialogs.get_mut(&id) {
                    d.reinvite_in = Some(incoming);
                }
                self.hand_to_application(
                    now,
                    (key, request, reply),
                    (id, incoming),
                    ServerKind::Reinvite,
                    |incoming, dialog, body| SipEvent::IncomingReinvite {
                        incoming,
                        dialog,
                        body,
                    },
                );
            }
            Method::Update => {
                // RFC 3311 §5.2: an offer while ours is unanswered → 491; while theirs is
                // unanswered → 500 with Retry-After 0-10 s.
                if has_body && d.local_offer_pending {
                    self.reject_pending(now, key, request, reply, id, 491);
                    return;
                }
                if has_body && d.remote_offer_pending {
                    self.reject_pending(now, key, request, reply, id, 500);
                    return;
                }
                // RFC 3311 §5.2: the Contact of an UPDATE is a target refresh.
                d.refresh_target(&request.headers);
                if !has_body {
                    let local_tag = d.local_tag.clone();
                    let (transport, secure) = (d.hop.transport, d.secure);
                    let mut response =
                        Response::for_request(&request, 200, "OK").with_to_tag(&local_tag);
                    if let Ok(contact) = self.contact(transport, secure) {
                        response
                            .headers
                            .push(HeaderName::Contact, contact.to_string());
                    }
                    self.add_capabilities(&mut response.headers);
                    self.respond_new(
                        now,
                        key,
                        request,
                        reply,
                        Some(id),
                        ServerKind::Update,
                        response,
                    );
                    return;
                }
                d.remote_offer_pending = true;
                let incoming = IncomingId(self.next_id());
                self.hand_to_application(
                    now,
                    (key, request, reply),
                    (id, incoming),
                    ServerKind::Update,
                    |incoming, dialog, body| SipEvent::IncomingUpdate {
                        incoming,
                        dialog,
                        body,
                    },
                );
            }
            Method::Bye => {
                let local_tag = d.local_tag.clone();
                let pending_invite = d.invite_server.clone();
                let response = Response::for_request(&request, 200, "OK").with_to_tag(&local_tag);
                self.respond_in_dialog(now, (key, request, reply), id, response);
                // RFC 3261 §15.1.2: a BYE in an early dialog ends the INVITE with 487.
                if let Some(invite_key) = pending_invite {
                    let unanswered = self
                        .servers
                        .get(&invite_key)
                        .filter(|e| !e.answered)
                        .map(|e| e.request.clone());
                    if let Some(invite) = unanswered {
                        let r = Response::for_request(&invite, 487, reason_phrase(487))
                            .with_to_tag(&local_tag);
                        self.send_server_response(now, &invite_key, r);
                    }
                }
                self.emit(SipEvent::ByeReceived { dialog: id });
                self.end_dialog(id, TerminationReason::RemoteBye);
            }
            Method::Options => {
                let local_tag = d.local_tag.clone();
                let response = self.options_response(&request, &local_tag);
                self.respond_in_dialog(now, (key, request, reply), id, response);
            }
            // RFC 3515: blind transfer within the call (refer.rs).
            Method::Refer => self.on_refer(now, (key, request, reply), id),
            Method::Notify => self.on_notify(now, (key, request, reply), id),
            _ => {
                let local_tag = d.local_tag.clone();
                let response = Response::for_request(&request, 405, reason_phrase(405))
                    .with_to_tag(&local_tag);
                self.respond_in_dialog(now, (key, request, reply), id, response);
            }
        }
    }

    /// Answers an in-dialog request the endpoint settles itself (no application decision)
    /// with `response`, in a fresh server transaction.
    pub(crate) fn respond_in_dialog(
        &mut self,
        now: Instant,
        (key, request, reply): (ServerTransactionKey, Request, Hop),
        dialog: DialogId,
        response: Response,
    ) {
        self.respond_new(
            now,
            key,
            request,
            reply,
            Some(dialog),
            ServerKind::Other,
            response,
        );
    }

    /// Opens the server transaction for an in-dialog request whose answer the application
    /// chooses (a re-INVITE or an UPDATE with an offer), files it under `incoming` and tells
    /// the application with the event `event` builds.
    fn hand_to_application(
        &mut self,
        now: Instant,
        (key, request, reply): (ServerTransactionKey, Request, Hop),
        (dialog, incoming): (DialogId, IncomingId),
        kind: ServerKind,
        event: impl FnOnce(IncomingId, DialogId, Option<Body>) -> SipEvent,
    ) {
        let body = body_of(&request.headers, &request.body);
        self.new_server(now, key.clone(), request, reply, Some(dialog), kind);
        self.incoming.insert(incoming, key);
        self.emit(event(incoming, dialog, body));
    }

    /// 491 or 500 + Retry-After for a request that collides with an offer in progress.
    pub(crate) fn reject_pending(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        reply: Hop,
        dialog: DialogId,
        status: u16,
    ) {
        let local_tag = self
            .dialogs
            .get(&dialog)
            .map(|d| d.local_tag.clone())
            .unwrap_or_default();
        let mut response =
            Response::for_request(&request, status, reason_phrase(status)).with_to_tag(&local_tag);
        if status == 500 {
            let seconds = pending_offer_retry_after(&mut self.rng);
            response
                .headers
                .push(HeaderName::RetryAfter, seconds.to_string());
        }
        self.respond_in_dialog(now, (key, request, reply), dialog, response);
    }

    /// RFC 3261 §11.2: OPTIONS answered with Allow, Accept and Supported.
    pub(crate) fn options_response(&self, request: &Request, tag: &str) -> Response {
        let mut response = Response::for_request(request, 200, "OK").with_to_tag(tag);
        self.add_capabilities(&mut response.headers);
        response.headers.push(HeaderName::Accept, "application/sdp");
        response
    }

    pub(crate) fn on_out_of_dialog_request(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        reply: Hop,
        arrival: Arrival,
    ) {
        match request.method {
            Method::Invite => self.on_new_invite(now, key, request, reply, arrival),
            Method::Options => {
                let tag = self.random_token(12);
                let response = self.options_response(&request, &tag);
                self.respond_new(now, key, request, reply, None, ServerKind::Other, response);
            }
            _ => {
                // BYE/UPDATE without a To tag belong to no dialog (RFC 3261 §12.2.2), nor
                // does a NOTIFY (RFC 6665 §4.1.3: no such subscription → 481). A REFER
                // outside a call is not supported: 400 (ASSUMPTIONS.md).
                let tag = self.random_token(12);
                let status = match request.method {
                    Method::Bye | Method::Update | Method::Notify => 481,
                    Method::Refer => 400,
                    _ => 405,
                };
                let mut response = Response::for_request(&request, status, reason_phrase(status))
                    .with_to_tag(&tag);
                if status == 405 {
                    self.add_capabilities(&mut response.headers);
                }
                self.respond_new(now, key, request, reply, None, ServerKind::Other, response);
            }
        }
    }

    /// A dialog-creating INVITE (RFC 3261 §12.1.1 as UAS).
    pub(crate) fn on_new_invite(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        reply: Hop,
        arrival: Arrival,
    ) {
        let (Ok(from), Ok(to), Ok(call_id), Ok(cseq)) = (
            request.headers.from_addr(),
            request.headers.to_addr(),
            request.headers.call_id(),
            request.headers.cseq(),
        ) else {
            return;
        };
        let id = DialogId(self.next_id());
        let incoming = IncomingId(self.next_id());
        let local_tag = self.random_token(12);
        let remote_target = match request.headers.contacts() {
            Ok(crate::message::Contacts::List(list)) => list.first().map(|c| c.uri.clone()),
            _ => None,
        }
        .unwrap_or_else(|| from.uri.clone());
        let peer_allows_update = Dialog::allow_lists_update(&request.headers);
        let body = body_of(&request.headers, &request.body);
        // RFC 3261 §12.1.1: secure when the request came over TLS with a sips: Request-URI
        // (or top Record-Route).
        let sips = |uri: &crate::message::Uri| uri.as_sip().is_some_and(|u| u.secure);
        let top_record_route = request
            .headers
            .record_routes()
            .ok()
            .and_then(|r| r.into_iter().next());
        let secure = arrival.transport == TransportKind::Tls
            && (sips(&request.uri) || top_record_route.is_some_and(|r| sips(&r.uri)));
        let dialog = Dialog {
            id,
            role: Role::Uas,
            state: DialogState::Calling,
            call_id: call_id.to_owned(),
            local_tag,
            remote_tag: from.tag().map(str::to_owned),
            local_uri: Dialog::without_tag(&to),
            remote_uri: Dialog::without_tag(&from),
            local_cseq: 0,
            remote_cseq: Some(cseq.seq),
            remote_target,
            // RFC 3261 §12.1.1: the UAS route set is Record-Route in order.
            route_set: request.headers.record_routes().unwrap_or_default(),
            hop: arrival.hop(),
            secure,
            peer_allows_update,
            invite: None,
            invite_key: None,
            got_provisional: false,
            cancel_requested: false,
            cancel_sent: false,
            ack_needs_body: false,
            last_ack: None,
            invite_server: Some(key.clone()),
            invite_incoming: Some(incoming),
            two_xx: None,
            local_offer_pending: false,
            remote_offer_pending: body.is_some(),
            reinvite_out: None,
            update_out: None,
            reinvite_in: None,
            retry: None,
            bye_sent: false,
            bye_after_ack: false,
            acked_reinvite: None,
            reinvite_ack_pending: None,
            targets: None,
            failover: std::collections::VecDeque::new(),
            keepalive_at: self.config.keepalive.map(|k| now + k),
            refers_out: Vec::new(),
            refers_in: Vec::new(),
        };
        self.add_dialog(dialog);
        let from_text = request
            .headers
            .get(HeaderName::From)
            .unwrap_or_default()
            .to_owned();
        let to_text = request
            .headers
            .get(HeaderName::To)
            .unwrap_or_default()
            .to_owned();
        let request_uri = request.uri.to_string();
        self.new_server(
            now,
            key.clone(),
            request,
            reply,
            Some(id),
            ServerKind::InitialInvite,
        );
        self.incoming.insert(incoming, key);
        self.emit(SipEvent::IncomingCall {
            incoming,
            dialog: id,
            from: from_text,
            to: to_text,
            request_uri,
            body,
            peer_allows_update,
        });
    }

    /// Answers an incoming INVITE, re-INVITE or UPDATE. 1xx may repeat; the first final
    /// response ends the request. A 2xx to an INVITE is retransmitted until the ACK
    /// arrives (RFC 3261 §13.3.1.4).
    pub fn respond(
        &mut self,
        now: Instant,
        incoming: IncomingId,
        status: u16,
        body: Option<Body>,
    ) -> Result<(), EndpointError> {
        if !(101..=699).contains(&status) {
            return Err(EndpointError::InvalidStatus(status));
        }
        let key = self
            .incoming
            .get(&incoming)
            .cloned()
            .ok_or(EndpointError::UnknownIncoming(incoming))?;
        let (request, dialog, kind, hop) = match self.servers.get(&key) {
            Some(e) if !e.answered => (e.request.clone(), e.dialog, e.kind, e.hop),
            _ => {
                self.incoming.remove(&incoming);
                return Err(EndpointError::UnknownIncoming(incoming));
            }
        };
        let dialog = dialog.ok_or(EndpointError::UnknownIncoming(incoming))?;
        let d = self
            .dialogs
            .get(&dialog)
            .ok_or(EndpointError::UnknownDialog(dialog))?;
        let mut response = Response::for_request(&request, status, reason_phrase(status))
            .with_to_tag(&d.local_tag);
        let (transport, secure) = (d.hop.transport, d.secure);
        let creates = status < 300
            && matches!(
                kind,
                ServerKind::InitialInvite | ServerKind::Reinvite | ServerKind::Update
            );
        if creates {
            response.headers.push(
                HeaderName::Contact,
                self.contact(transport, secure)?.to_string(),
            );
            self.add_capabilities(&mut response.headers);
            if kind == ServerKind::InitialInvite {
                // RFC 3261 §12.1.1: copy Record-Route into dialog-creating responses.
                response = response.with_record_routes_from(&request);
            }
        }
        put_body_response(&mut response, body.as_ref());
        self.apply_response_edits(&mut response.headers);
        if let Some(edits) = self.next_response_edits.take() {
            edits.apply(&mut response.headers);
        }
        let is_final = status >= 200;
        let offer_in_2xx = request.body.is_empty() && kind != ServerKind::Update;
        let wire = Bytes::from(response.to_bytes());
        self.send_edited_response(now, &key, response);
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return Ok(());
        };
        match (kind, status) {
            (ServerKind::InitialInvite, 101..=199) => d.state = DialogState::Early,
            (ServerKind::InitialInvite | ServerKind::Reinvite, 200..=299) => {
                d.state = DialogState::Confirmed;
                d.remote_offer_pending = false;
                d.reinvite_in = None;
                if offer_in_2xx {
                    d.local_offer_pending = true;
                }
                d.two_xx = Some(TwoXx {
                    retransmitter: TwoXxRetransmitter::new(now, wire, self.config.timers),
                    hop,
                    cseq: request.headers.cseq().map(|c| c.seq).unwrap_or(0),
                    offer_in_2xx,
                });
            }
            (ServerKind::InitialInvite, _) => {
                self.incoming.remove(&incoming);
                self.end_dialog(
                    dialog,
                    TerminationReason::Rejected {
                        status,
                        reason: reason_phrase(status).to_owned(),
                    },
                );
                return Ok(());
            }
            (ServerKind::Reinvite, _) => {
                d.reinvite_in = None;
                d.remote_offer_pending = false;
            }
            (ServerKind::Update, 200..=699) => d.remote_offer_pending = false,
            _ => {}
        }
        if is_final {
            self.incoming.remove(&incoming);
        }
        Ok(())
    }
}

fn put_body_response(response: &mut Response, body: Option<&Body>) {
    if let Some(body) = body {
        response
            .headers
            .set(HeaderName::ContentType, body.content_type.clone());
        response.body = body.bytes.clone();
    }
}
