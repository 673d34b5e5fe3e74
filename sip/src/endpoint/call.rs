//! Calls as UAC and in-dialog requests: INVITE, CANCEL, ACK for 2xx, BYE, re-INVITE,
//! UPDATE, OPTIONS, and the responses to them.

use std::time::Instant;

use crate::message::{HeaderName, Method, NameAddr, Response};

use super::client::{Purpose, Sent};
use super::dialog::{body_of, put_body, Dialog, DialogState, Role};
use super::outgoing::parse_target;
use super::types::{Body, DialogId, EndpointError, RequestId, SipEvent, TerminationReason};
use super::Endpoint;

impl Endpoint {
    /// Starts a call to `target` (a SIP URI). `body: None` sends an INVITE without an
    /// offer: the offer then arrives in the 2xx and the TU answers with
    /// [`Endpoint::ack_with_body`].
    pub fn invite(
        &mut self,
        now: Instant,
        target: &str,
        body: Option<Body>,
    ) -> Result<DialogId, EndpointError> {
        let uri = parse_target(target)?;
        let mut hops: std::collections::VecDeque<_> = self.hops_for_uri(&uri)?.into();
        let hop = hops
            .pop_front()
            .ok_or_else(|| EndpointError::NoRoute(uri.to_string()))?;
        let call_id = self.random_token(24);
        let local_tag = self.random_token(12);
        let from = self.local_name_addr(Some(&local_tag))?;
        let to = NameAddr::new(uri.clone());
        let mut request = self.base_request(Method::Invite, uri.clone(), &from, &to, &call_id, 1);
        // RFC 3261 §8.1.1.8: a sips: Request-URI makes the Contact sips: too.
        let secure = uri.as_sip().is_some_and(|u| u.secure);
        request.headers.push(
            HeaderName::Contact,
            self.contact(hop.transport, secure)?.to_string(),
        );
        self.add_capabilities(&mut request.headers);
        put_body(&mut request, body.as_ref());
        let id = DialogId(self.next_id());
        let key = self.send_request(now, request, hop, Purpose::Invite(id))?;
        let (sent, used_hop) = match self.clients.get(&key) {
            Some(entry) => (entry.request.clone(), entry.hop),
            None => {
                return Err(EndpointError::InvalidState {
                    operation: "invite",
                    detail: "transaction ended at once".into(),
                })
            }
        };
        let dialog = Dialog {
            id,
            role: Role::Uac,
            state: DialogState::Calling,
            call_id,
            local_tag,
            remote_tag: None,
            local_uri: Dialog::without_tag(&from),
            remote_uri: to,
            local_cseq: 1,
            remote_cseq: None,
            remote_target: uri,
            route_set: Vec::new(),
            hop: used_hop,
            secure,
            peer_allows_update: false,
            invite: Some(sent),
            invite_key: Some(key),
            got_provisional: false,
            cancel_requested: false,
            cancel_sent: false,
            ack_needs_body: body.is_none(),
            last_ack: None,
            invite_server: None,
            invite_incoming: None,
            two_xx: None,
            local_offer_pending: body.is_some(),
            remote_offer_pending: false,
            reinvite_out: None,
            update_out: None,
            reinvite_in: None,
            retry: None,
            bye_sent: false,
            bye_after_ack: false,
            acked_reinvite: None,
            reinvite_ack_pending: None,
            targets: None,
            failover: hops,
            keepalive_at: self.config.keepalive.map(|k| now + k),
            refers_out: Vec::new(),
            refers_in: Vec::new(),
        };
        self.add_dialog(dialog);
        Ok(id)
    }

    /// Cancels our pending INVITE (RFC 3261 §9.1). The CANCEL goes out once a
    /// provisional response arrived (a CANCEL SHOULD NOT be sent before). When the 2xx
    /// has already arrived (the caller decided before it saw the answer), the call is
    /// ended with BYE instead, as §9.1 asks of a UAC whose INVITE completes despite its
    /// CANCEL: the peer is never left in a call nobody hangs up.
    pub fn cancel(&mut self, now: Instant, dialog: DialogId) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
        if d.role != Role::Uac {
            return Err(EndpointError::InvalidState {
                operation: "cancel",
                detail: "only an outgoing INVITE can be cancelled".into(),
            });
        }
        if d.state == DialogState::Confirmed {
            return self.bye(now, dialog);
        }
        d.cancel_requested = true;
        if d.got_provisional {
            self.send_cancel(now, dialog);
        }
        Ok(())
    }

    pub(crate) fn send_cancel(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if d.cancel_sent {
            return;
        }
        let Some(invite) = &d.invite else {
            return;
        };
        d.cancel_sent = true;
        // RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via
        // (so the same branch) as the INVITE, sent to the same hop.
        let cancel = invite.cancel();
        let hop = d.hop;
        if let Err(e) = self.start_client_with_via(now, cancel, hop, Purpose::Cancel(dialog)) {
            tracing::info!(error = %e, "CANCEL not sent");
        }
    }

    /// Ends a call: BYE when confirmed; CANCEL for our unanswered INVITE; 603 for an
    /// unanswered incoming INVITE.
    pub fn bye(&mut self, now: Instant, dialog: DialogId) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
        match (d.role, d.state) {
            (_, DialogState::Confirmed) => {
                if d.ack_needs_body && d.last_ack.is_none() {
                    // We owe an ACK for the 2xx; send it (without answer) before the BYE.
                    self.send_2xx_ack(dialog, None)?;
                }
                if let Some(cseq) = self.dialog_mut(dialog)?.reinvite_ack_pending {
                    self.send_reinvite_ack(dialog, cseq, None)?;
                }
                let d = self.dialog_mut(dialog)?;
                if d.bye_sent {
                    return Ok(());
                }
                if d.two_xx.is_some() {
                    // RFC 3261 §15: no BYE before the ACK for our 2xx arrives (or the 2xx
                    // retransmission gives up, which sends the BYE anyway).
                    d.bye_after_ack = true;
                    return Ok(());
                }
                d.bye_sent = true;
                self.send_in_dialog(now, dialog, Method::Bye, None)?;
                Ok(())
            }
            (Role::Uac, _) => self.cancel(now, dialog),
            (Role::Uas, _) => match d.invite_incoming {
                Some(incoming) => self.respond(now, incoming, 603, None),
                None => Err(EndpointError::InvalidState {
                    operation: "bye",
                    detail: "no INVITE to decline".into(),
                }),
            },
        }
    }

    /// The ACK for a 2xx that carried the offer (our INVITE or re-INVITE had no body),
    /// with the answer.
    pub fn ack_with_body(
        &mut self,
        _now: Instant,
        dialog: DialogId,
        body: Body,
    ) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
        if let Some(cseq) = d.reinvite_ack_pending {
            // The 2xx to our offerless re-INVITE carried the offer.
            return self.send_reinvite_ack(dialog, cseq, Some(&body));
        }
        if d.state != DialogState::Confirmed || !d.ack_needs_body || d.last_ack.is_some() {
            return Err(EndpointError::InvalidState {
                operation: "ack_with_body",
                detail: "no 2xx awaiting an ACK with an answer".into(),
            });
        }
        self.send_2xx_ack(dialog, Some(&body))
    }

    /// Sends OPTIONS outside any dialog (RFC 3261 §11).
    pub fn options(&mut self, now: Instant, target: &str) -> Result<RequestId, EndpointError> {
        let uri = parse_target(target)?;
        let hop = self.hop_for_uri(&uri)?;
        let call_id = self.random_token(24);
        let tag = self.random_token(12);
        let from = self.local_name_addr(Some(&tag))?;
        let to = NameAddr::new(uri.clone());
        let mut request = self.base_request(Method::Options, uri, &from, &to, &call_id, 1);
        request.headers.push(HeaderName::Accept, "application/sdp");
        let id = RequestId(self.next_id());
        self.send_request(now, request, hop, Purpose::Options(id))?;
        Ok(id)
    }

    /// The ACK for a 2xx (RFC 3261 §13.2.2.4): a new transaction-less request with a new
    /// branch and the INVITE's CSeq number, kept for 2xx retransmissions (RFC 6026).
    pub(crate) fn send_2xx_ack(
        &mut self,
        dialog: DialogId,
        body: Option<&Body>,
    ) -> Result<(), EndpointError> {
        let (mut ack, hop) = {
            let d = self
                .dialogs
                .get(&dialog)
                .ok_or(EndpointError::UnknownDialog(dialog))?;
            let cseq = d
                .invite
                .as_ref()
                .and_then(|i| i.headers.cseq().ok())
                .map(|c| c.seq)
                .unwrap_or(d.local_cseq);
            (
                d.request(Method::Ack, cseq),
                d.next_hop(|t, a| self.hop_to(t, a)),
            )
        };
        put_body(&mut ack, body);
        let sent = self.send_stateless(ack, hop)?;
        let d = self.dialog_mut(dialog)?;
        d.last_ack = Some(sent);
        d.ack_needs_body = false;
        d.local_offer_pending = false;
        Ok(())
    }

    pub(crate) fn on_invite_response(
        &mut self,
        now: Instant,
        dialog: DialogId,
        sent: Sent<'_>,
        response: &Response,
    ) {
        let request = sent.request;
        let status = response.status;
        let to_tag = response
            .headers
            .to_addr()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        match status {
            100..=199 => {
                d.got_provisional = true;
                // RFC 3261 §12.1.2: a provisional response with a To tag creates an early
                // dialog (we follow the first fork only).
                if let (Some(tag), DialogState::Calling) = (&to_tag, d.state) {
                    d.remote_tag = Some(tag.clone());
                    d.state = DialogState::Early;
                    d.refresh_target(&response.headers);
                    d.set_uac_route_set(&response.headers);
                }
                if Dialog::allow_lists_update(&response.headers) {
                    d.peer_allows_update = true;
                }
                let cancel = d.cancel_requested && !d.cancel_sent;
                if status != 100 {
                    self.emit(SipEvent::CallProgress {
                        dialog,
                        status,
                        reason: response.reason.clone(),
                        body: body_of(&response.headers, &response.body),
                    });
                }
                if cancel {
                    self.send_cancel(now, dialog);
                }
            }
            200..=299 => {
                let same_fork = d.remote_tag.is_none()
                    || d.state != DialogState::Confirmed
                    || d.remote_tag == to_tag;
                if d.state == DialogState::Confirmed {
                    // RFC 6026 §7.2 / RFC 3261 §13.2.2.4: a retransmitted 2xx gets the
                    // same ACK again.
                    if same_fork {
                        if let Some((hop, bytes)) = d.last_ack.clone() {
                            self.send_on(&hop, bytes);
                        }
                    } else {
                        self.ack_and_bye_fork(now, dialog, response);
                    }
                    return;
                }
                d.remote_tag = to_tag;
                d.state = DialogState::Confirmed;
                if let Some(digest) = self.digest.as_mut() {
                    // Our credentials (if any were asked for) worked: a later fresh
                    // challenge for the realm is answered again, not taken as a wrong
                    // password.
                    digest.on_success();
                }
                let Some(d) = self.dialogs.get_mut(&dialog) else {
                    return;
                };
                d.refresh_target(&response.headers);
                d.set_uac_route_set(&response.headers);
                d.peer_allows_update = Dialog::allow_lists_update(&response.headers);
                let needs_body = d.ack_needs_body;
                let cancelled = d.cancel_requested;
                let allows = d.peer_allows_update;
                let body = body_of(&response.headers, &response.body);
                if !needs_body || cancelled {
                    if let Err(e) = self.send_2xx_ack(dialog, None) {
                        tracing::info!(error = %e, "ACK not sent");
                    }
                }
                self.emit(SipEvent::CallAnswered {
                    dialog,
                    status,
                    body,
                    peer_allows_update: allows,
                });
                if cancelled {
                    // RFC 3261 §9.1: the INVITE completed despite our CANCEL: end with BYE.
                    let _ = self.bye(now, dialog);
                }
            }
            // RFC 3261 §8.1.3.4: recurse on the Contacts of a 3xx.
            300..=399 => self.on_invite_redirect(now, dialog, request, response),
            401 | 407 => {
                let retried =
                    self.retry_with_credentials(now, sent, response, Purpose::Invite(dialog));
                match retried {
                    Ok((key, cseq)) => {
                        let sent = self.clients.get(&key).map(|e| e.request.clone());
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.invite_key = Some(key);
                            d.invite = sent;
                            d.local_cseq = cseq;
                            d.got_provisional = false;
                            d.cancel_sent = false;
                        }
                    }
                    Err(_) => self.invite_failed(
                        now,
                        dialog,
                        status,
                        TerminationReason::Rejected {
                            status,
                            reason: response.reason.clone(),
                        },
                    ),
                }
            }
            _ => {
                if d.cancel_requested {
                    // Our CANCEL (487) or a failure after it: the user wants no more targets.
                    let reason = if status == 487 {
                        TerminationReason::Cancelled
                    } else {
                        TerminationReason::Rejected {
                            status,
                            reason: response.reason.clone(),
                        }
                    };
                    self.end_dialog(dialog, reason);
                    return;
                }
                // RFC 3263 §4.3: a 503 moves on to the next DNS target of the same URI.
                if status == 503 && self.invite_failover(now, dialog, status) {
                    return;
                }
                // RFC 3261 §8.1.3.4: a failing redirect target moves on to the next one.
                let reason = TerminationReason::Rejected {
                    status,
                    reason: response.reason.clone(),
                };
                self.invite_failed(now, dialog, status, reason);
            }
        }
    }

    /// RFC 3261 §13.2.2.4: a 2xx from a second fork is ACKed too; we keep one dialog per
    /// call, so the extra one is ended with a BYE right away (RFC 3261 §15 allows it).
    pub(crate) fn ack_and_bye_fork(&mut self, now: Instant, dialog: DialogId, response: &Response) {
        let Some(tag) = response
            .headers
            .to_addr()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
        else {
            return;
        };
        let (ack, bye, hop) = {
            let Some(d) = self.dialogs.get(&dialog) else {
                return;
            };
            let cseq = d
                .invite
                .as_ref()
                .and_then(|i| i.headers.cseq().ok())
                .map(|c| c.seq)
                .unwrap_or(d.local_cseq);
            let ack = d.fork_request(Method::Ack, cseq, &tag, &response.headers);
            let bye = d.fork_request(Method::Bye, cseq.saturating_add(1), &tag, &response.headers);
            (ack, bye, d.hop)
        };
        tracing::info!(tag = %tag, "2xx from a second fork: ACK and BYE it");
        if let Err(e) = self.send_stateless(ack, hop) {
            tracing::info!(error = %e, "ACK for forked 2xx not sent");
        }
        if let Err(e) = self.send_request(now, bye, hop, Purpose::ForkBye) {
            tracing::info!(error = %e, "BYE for forked 2xx not sent");
        }
    }
}
