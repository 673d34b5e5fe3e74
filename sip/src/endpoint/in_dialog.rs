//! In-dialog requests we send (RFC 3261 §12.2.1, §14; RFC 3311): re-INVITE, UPDATE, BYE,
//! their responses, 491 glare and 500 Retry-After retries, and the dialog timers.

use std::time::{Duration, Instant};

use crate::message::{HeaderName, Method, Request, Response};
use crate::timers::glare::glare_retry_delay;
use crate::transaction::{Action, ClientTransactionKey};

use super::client::{Purpose, Sent};
use super::dialog::{body_of, put_body, DialogState, PendingRetry, Role};
use super::types::{Body, DialogId, EndpointError, SipEvent, TerminationReason};
use super::Endpoint;

impl Endpoint {
    /// Sends a re-INVITE with a new offer (or none). RFC 3261 §14.1: not while another
    /// INVITE transaction is in progress in either direction.
    pub fn reinvite(
        &mut self,
        now: Instant,
        dialog: DialogId,
        body: Option<Body>,
    ) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
        if d.state != DialogState::Confirmed {
            return Err(EndpointError::InvalidState {
                operation: "reinvite",
                detail: "dialog not confirmed".into(),
            });
        }
        if d.reinvite_out.is_some()
            || d.reinvite_in.is_some()
            || d.local_offer_pending
            || d.retry.is_some()
        {
            return Err(EndpointError::InvalidState {
                operation: "reinvite",
                detail: "an INVITE transaction or offer is already in progress".into(),
            });
        }
        let has_offer = body.is_some();
        let key = self.send_in_dialog(now, dialog, Method::Invite, body.as_ref())?;
        let d = self.dialog_mut(dialog)?;
        d.reinvite_out = Some(key);
        d.local_offer_pending = has_offer;
        Ok(())
    }

    /// Sends an UPDATE (RFC 3311) with an offer or none (target/session refresh).
    /// RFC 3311 §5.1: never with an offer while another offer/answer is unfinished.
    pub fn update(
        &mut self,
        now: Instant,
        dialog: DialogId,
        body: Option<Body>,
    ) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
        if d.remote_tag.is_none() {
            return Err(EndpointError::InvalidState {
                operation: "update",
                detail: "no dialog yet".into(),
            });
        }
        if body.is_some() && (d.local_offer_pending || d.remote_offer_pending) {
            return Err(EndpointError::InvalidState {
                operation: "update",
                detail: "an offer/answer exchange is unfinished (RFC 3311 §5.1)".into(),
            });
        }
        if d.update_out.is_some() || d.retry.is_some() {
            return Err(EndpointError::InvalidState {
                operation: "update",
                detail: "an UPDATE (or a retry after 491/500) is already in progress".into(),
            });
        }
        let has_offer = body.is_some();
        let key = self.send_in_dialog(now, dialog, Method::Update, body.as_ref())?;
        let d = self.dialog_mut(dialog)?;
        d.update_out = Some(key);
        d.local_offer_pending = has_offer;
        Ok(())
    }

    /// Builds and sends an in-dialog request with the next CSeq (RFC 3261 §12.2.1.1).
    pub(crate) fn send_in_dialog(
        &mut self,
        now: Instant,
        dialog: DialogId,
        method: Method,
        body: Option<&Body>,
    ) -> Result<ClientTransactionKey, EndpointError> {
        let purpose = match method {
            Method::Invite => Purpose::Reinvite(dialog),
            Method::Update => Purpose::Update(dialog),
            _ => Purpose::Bye(dialog),
        };
        self.send_in_dialog_with(now, dialog, method, body, &[], purpose)
    }

    /// As [`Endpoint::send_in_dialog`], with `extra` headers and the response going to
    /// `purpose`.
    pub(crate) fn send_in_dialog_with(
        &mut self,
        now: Instant,
        dialog: DialogId,
        method: Method,
        body: Option<&Body>,
        extra: &[(HeaderName, String)],
        purpose: Purpose,
    ) -> Result<ClientTransactionKey, EndpointError> {
        let contact = {
            let d = self.dialog_mut(dialog)?;
            let (transport, secure) = (d.hop.transport, d.secure);
            self.contact(transport, secure)?
        };
        let user_agent = self.config.user_agent.clone();
        let (request, hop) = {
            let d = self
                .dialogs
                .get(&dialog)
                .ok_or(EndpointError::UnknownDialog(dialog))?;
            let cseq = d
                .local_cseq
                .checked_add(1)
                .ok_or(EndpointError::InvalidState {
                    operation: "send_in_dialog",
                    detail: "CSeq exhausted".into(),
                })?;
            let mut request = d.request(method.clone(), cseq);
            request.headers.push(HeaderName::UserAgent, user_agent);
            if matches!(method, Method::Invite | Method::Update) {
                // RFC 3261 §12.2.1.1 / RFC 3311 §5.1: target refresh requests carry Contact.
                request
                    .headers
                    .push(HeaderName::Contact, contact.to_string());
                self.add_capabilities(&mut request.headers);
            } else if matches!(method, Method::Refer | Method::Notify) {
                // RFC 3515 §2.4.1 / RFC 6665 §8.2: REFER and NOTIFY carry a Contact.
                request
                    .headers
                    .push(HeaderName::Contact, contact.to_string());
            }
            for (name, value) in extra {
                request.headers.push(name.clone(), value.clone());
            }
            put_body(&mut request, body);
            (request, d.next_hop(|t, a| self.hop_to(t, a)))
        };
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.local_cseq = d.local_cseq.saturating_add(1);
        }
        self.send_request(now, request, hop, purpose)
    }

    /// ACK for a 2xx to a re-INVITE, with that re-INVITE's CSeq.
    pub(crate) fn send_reinvite_ack(
        &mut self,
        dialog: DialogId,
        cseq: u32,
        body: Option<&Body>,
    ) -> Result<(), EndpointError> {
        let (ack, hop) = {
            let d = self
                .dialogs
                .get(&dialog)
                .ok_or(EndpointError::UnknownDialog(dialog))?;
            (
                d.request(Method::Ack, cseq),
                d.next_hop(|t, a| self.hop_to(t, a)),
            )
        };
        let mut ack = ack;
        put_body(&mut ack, body);
        let sent = self.send_stateless(ack, hop)?;
        let d = self.dialog_mut(dialog)?;
        d.last_ack = Some(sent);
        d.acked_reinvite = Some(cseq);
        d.reinvite_ack_pending = None;
        Ok(())
    }

    pub(crate) fn on_reinvite_response(
        &mut self,
        now: Instant,
        dialog: DialogId,
        sent: Sent<'_>,
        response: &Response,
    ) {
        let request = sent.request;
        if response.is_provisional() {
            return;
        }
        let status = response.status;
        let cseq = request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        match status {
            200..=299 => {
                let Some(d) = self.dialogs.get_mut(&dialog) else {
                    return;
                };
                if d.reinvite_ack_pending == Some(cseq) {
                    // The TU has not given the answer for the ACK yet.
                    return;
                }
                if d.acked_reinvite == Some(cseq) {
                    // RFC 6026 §7.2: a retransmitted 2xx gets the same ACK again.
                    if let Some((hop, bytes)) = d.last_ack.clone() {
                        self.send_on(&hop, bytes);
                    }
                    return;
                }
                d.refresh_target(&response.headers);
                d.reinvite_out = None;
                d.local_offer_pending = false;
                if request.body.is_empty() {
                    // RFC 3264 §5 / RFC 3261 §14.1: an offerless re-INVITE gets the offer in
                    // the 2xx; the answer goes in the ACK, which waits for ack_with_body.
                    d.reinvite_ack_pending = Some(cseq);
                } else {
                    d.acked_reinvite = Some(cseq);
                    if let Err(e) = self.send_reinvite_ack(dialog, cseq, None) {
                        tracing::info!(error = %e, "ACK for re-INVITE not sent");
                    }
                }
                self.emit(SipEvent::ReinviteResponse {
                    dialog,
                    status,
                    body: body_of(&response.headers, &response.body),
                });
            }
            401 | 407 => {
                match self.retry_with_credentials(now, sent, response, Purpose::Reinvite(dialog)) {
                    Ok((key, cseq)) => {
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.reinvite_out = Some(key);
                            d.local_cseq = d.local_cseq.max(cseq);
                        }
                    }
                    Err(_) => self.finish_reinvite(dialog, status, response),
                }
            }
            491 => self.schedule_retry(now, dialog, Method::Invite, request, None),
            // RFC 5057 §5.1: 481, the dialog is gone. A 408 only fails this offer
            // (ASSUMPTIONS.md): it falls through to the other failures.
            481 => self.end_dialog(dialog, TerminationReason::DialogGone { status }),
            _ => self.finish_reinvite(dialog, status, response),
        }
    }

    pub(crate) fn finish_reinvite(&mut self, dialog: DialogId, status: u16, response: &Response) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.reinvite_out = None;
            d.local_offer_pending = false;
        }
        self.emit(SipEvent::ReinviteResponse {
            dialog,
            status,
            body: body_of(&response.headers, &response.body),
        });
    }

    pub(crate) fn on_update_response(
        &mut self,
        now: Instant,
        dialog: DialogId,
        sent: Sent<'_>,
        response: &Response,
    ) {
        let request = sent.request;
        if response.is_provisional() {
            return;
        }
        let status = response.status;
        match status {
            200..=299 => {
                if let Some(d) = self.dialogs.get_mut(&dialog) {
                    // RFC 3311 §5.1: a 2xx to UPDATE refreshes the remote target.
                    d.refresh_target(&response.headers);
                }
                self.finish_update(dialog, status, response);
            }
            401 | 407 => {
                match self.retry_with_credentials(now, sent, response, Purpose::Update(dialog)) {
                    Ok((key, cseq)) => {
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.update_out = Some(key);
                            d.local_cseq = d.local_cseq.max(cseq);
                        }
                    }
                    Err(_) => self.finish_update(dialog, status, response),
                }
            }
            491 => self.schedule_retry(now, dialog, Method::Update, request, None),
            // RFC 3311 §5.2: 500 with Retry-After while the peer finishes another offer.
            500 => match response.headers.retry_after().ok().flatten() {
                Some(ra) if ra.seconds <= 10 => {
                    let after = Duration::from_secs(u64::from(ra.seconds));
                    self.schedule_retry(now, dialog, Method::Update, request, Some(after))
                }
                _ => self.finish_update(dialog, status, response),
            },
            // RFC 5057 §5.1: 481, the dialog is gone; a 408 only fails this offer.
            481 => self.end_dialog(dialog, TerminationReason::DialogGone { status }),
            _ => self.finish_update(dialog, status, response),
        }
    }

    pub(crate) fn finish_update(&mut self, dialog: DialogId, status: u16, response: &Response) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.update_out = None;
            d.local_offer_pending = false;
        }
        self.emit(SipEvent::UpdateResponse {
            dialog,
            status,
            body: body_of(&response.headers, &response.body),
        });
    }

    /// Our re-INVITE or UPDATE got no response (Timer B/F, a transport error): reported as
    /// its `status` (408, RFC 3261 §8.1.3.1) with no body; the dialog stays.
    pub(crate) fn offer_failed(&mut self, dialog: DialogId, method: Method, status: u16) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        d.local_offer_pending = false;
        let event = if method == Method::Invite {
            d.reinvite_out = None;
            SipEvent::ReinviteResponse {
                dialog,
                status,
                body: None,
            }
        } else {
            d.update_out = None;
            SipEvent::UpdateResponse {
                dialog,
                status,
                body: None,
            }
        };
        self.emit(event);
    }

    /// RFC 3261 §14.1 (and RFC 3311 §5.2 for UPDATE): after 491 wait 2.1-4 s when we own
    /// the Call-ID (we sent the dialog-creating INVITE), else 0-2 s, then try again.
    pub(crate) fn schedule_retry(
        &mut self,
        now: Instant,
        dialog: DialogId,
        method: Method,
        request: &Request,
        after: Option<Duration>,
    ) {
        let Some(role) = self.dialogs.get(&dialog).map(|d| d.role) else {
            return;
        };
        let after = after.unwrap_or_else(|| glare_retry_delay(role == Role::Uac, &mut self.rng));
        let body = body_of(&request.headers, &request.body);
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.reinvite_out = None;
            d.update_out = None;
            d.local_offer_pending = false;
            d.retry = Some(PendingRetry {
                at: now + after,
                method,
                body,
            });
        }
        self.emit(SipEvent::GlareRetry { dialog, after });
    }

    /// Dialog timers: the UAS 2xx retransmission and glare retries.
    pub(crate) fn dialog_timeout(&mut self, now: Instant, dialog: DialogId) {
        self.dialog_keepalive(now, dialog);
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        let mut no_ack = false;
        let mut resend = Vec::new();
        if let Some(two_xx) = &mut d.two_xx {
            let hop = two_xx.hop;
            for action in two_xx.retransmitter.handle_timeout(now) {
                match action {
                    // RFC 3261 §13.3.1.4: retransmit the 2xx, T1 doubling to T2.
                    Action::Transmit(bytes) => resend.push((hop, bytes.to_vec())),
                    Action::Timeout(_) => no_ack = true,
                    _ => {}
                }
            }
        }
        self.retransmissions += resend.len() as u64;
        for (hop, bytes) in resend {
            self.send_on(&hop, bytes);
        }
        if no_ack {
            // RFC 3261 §13.3.1.4: no ACK within 64·T1 → end the session with a BYE.
            if let Some(d) = self.dialogs.get_mut(&dialog) {
                d.two_xx = None;
                d.bye_sent = true;
            }
            let _ = self.send_in_dialog(now, dialog, Method::Bye, None);
            self.end_dialog(dialog, TerminationReason::NoAck);
            return;
        }
        let due = self
            .dialogs
            .get(&dialog)
            .and_then(|d| d.retry.as_ref())
            .is_some_and(|r| r.at <= now);
        if due {
            let retry = self.dialogs.get_mut(&dialog).and_then(|d| d.retry.take());
            if let Some(retry) = retry {
                let is_invite = retry.method == Method::Invite;
                let result = if is_invite {
                    self.reinvite(now, dialog, retry.body)
                } else {
                    self.update(now, dialog, retry.body)
                };
                if let Err(e) = result {
                    // The peer's own offer is still unanswered: our offer cannot go now.
                    // Report the 491 so the TU can offer again later.
                    tracing::info!(error = %e, "glare retry not sent");
                    let event = if is_invite {
                        SipEvent::ReinviteResponse {
                            dialog,
                            status: 491,
                            body: None,
                        }
                    } else {
                        SipEvent::UpdateResponse {
                            dialog,
                            status: 491,
                            body: None,
                        }
                    };
                    self.emit(event);
                }
            }
        }
    }
}
