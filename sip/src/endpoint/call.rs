//! Calls as UAC and in-dialog requests: INVITE, CANCEL, ACK for 2xx, BYE, re-INVITE,
//! UPDATE, OPTIONS, and the responses to them.

use std::time::{Duration, Instant};

use crate::message::{HeaderName, Method, NameAddr, Request, Response, Uri};
use crate::timers::glare::glare_retry_delay;
use crate::transaction::{Action, ClientTransactionKey};

use super::client::Purpose;
use super::dialog::{body_of, put_body, Dialog, DialogState, PendingRetry, Role};
use super::hop::Hop;
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
        let uri: Uri =
            target
                .parse()
                .map_err(|e: crate::message::ParseError| EndpointError::BadTarget {
                    uri: target.to_owned(),
                    detail: e.to_string(),
                })?;
        let hop = self.hop_for_uri(&uri)?;
        let call_id = self.random_token(24);
        let local_tag = self.random_token(12);
        let from = self.local_name_addr(Some(&local_tag))?;
        let to = NameAddr::new(uri.clone());
        let mut request = self.base_request(Method::Invite, uri.clone(), &from, &to, &call_id, 1);
        request.headers.push(
            HeaderName::Contact,
            self.contact(hop.transport)?.to_string(),
        );
        Self::add_capabilities(&mut request.headers);
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
        };
        self.dialogs.insert(id, dialog);
        Ok(id)
    }

    /// Cancels our pending INVITE (RFC 3261 §9.1). The CANCEL goes out once a
    /// provisional response arrived (a CANCEL SHOULD NOT be sent before).
    pub fn cancel(&mut self, now: Instant, dialog: DialogId) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
        if d.role != Role::Uac || d.state == DialogState::Confirmed {
            return Err(EndpointError::InvalidState {
                operation: "cancel",
                detail: "only an unanswered outgoing INVITE can be cancelled".into(),
            });
        }
        d.cancel_requested = true;
        if d.got_provisional {
            self.send_cancel(now, dialog);
        }
        Ok(())
    }

    fn send_cancel(&mut self, now: Instant, dialog: DialogId) {
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
                let d = self.dialog_mut(dialog)?;
                if d.bye_sent {
                    return Ok(());
                }
                d.bye_sent = true;
                d.two_xx = None;
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
        if d.reinvite_out.is_some() || d.reinvite_in.is_some() || d.local_offer_pending {
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
        if d.update_out.is_some() {
            return Err(EndpointError::InvalidState {
                operation: "update",
                detail: "an UPDATE is already in progress".into(),
            });
        }
        let has_offer = body.is_some();
        let key = self.send_in_dialog(now, dialog, Method::Update, body.as_ref())?;
        let d = self.dialog_mut(dialog)?;
        d.update_out = Some(key);
        d.local_offer_pending = has_offer;
        Ok(())
    }

    /// The ACK for a 2xx that carried the offer (our INVITE had no body), with the answer.
    pub fn ack_with_body(
        &mut self,
        _now: Instant,
        dialog: DialogId,
        body: Body,
    ) -> Result<(), EndpointError> {
        let d = self.dialog_mut(dialog)?;
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
        let uri: Uri =
            target
                .parse()
                .map_err(|e: crate::message::ParseError| EndpointError::BadTarget {
                    uri: target.to_owned(),
                    detail: e.to_string(),
                })?;
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

    /// Builds and sends an in-dialog request with the next CSeq (RFC 3261 §12.2.1.1).
    pub(crate) fn send_in_dialog(
        &mut self,
        now: Instant,
        dialog: DialogId,
        method: Method,
        body: Option<&Body>,
    ) -> Result<ClientTransactionKey, EndpointError> {
        let contact = {
            let d = self.dialog_mut(dialog)?;
            let transport = d.hop.transport;
            self.contact(transport)?
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
                Self::add_capabilities(&mut request.headers);
            }
            put_body(&mut request, body);
            (request, d.next_hop(|t, a| self.hop_to(t, a)))
        };
        let purpose = match method {
            Method::Invite => Purpose::Reinvite(dialog),
            Method::Update => Purpose::Update(dialog),
            _ => Purpose::Bye(dialog),
        };
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.local_cseq = d.local_cseq.saturating_add(1);
        }
        self.send_request(now, request, hop, purpose)
    }

    /// The ACK for a 2xx (RFC 3261 §13.2.2.4): a new transaction-less request with a new
    /// branch and the INVITE's CSeq number, kept for 2xx retransmissions (RFC 6026).
    fn send_2xx_ack(&mut self, dialog: DialogId, body: Option<&Body>) -> Result<(), EndpointError> {
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

    /// ACK for a 2xx to a re-INVITE, with that re-INVITE's CSeq.
    fn send_reinvite_ack(&mut self, dialog: DialogId, cseq: u32) -> Result<(), EndpointError> {
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
        let sent = self.send_stateless(ack, hop)?;
        self.dialog_mut(dialog)?.last_ack = Some(sent);
        Ok(())
    }

    pub(crate) fn on_invite_response(
        &mut self,
        now: Instant,
        dialog: DialogId,
        request: &Request,
        hop: Hop,
        response: &Response,
    ) {
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
                        tracing::info!("2xx from a second fork ignored (single-dialog UAC)");
                    }
                    return;
                }
                d.remote_tag = to_tag;
                d.state = DialogState::Confirmed;
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
            401 | 407 => {
                let retried = self.retry_with_credentials(
                    now,
                    request,
                    hop,
                    response,
                    Purpose::Invite(dialog),
                );
                match retried {
                    Some((key, cseq)) => {
                        let sent = self.clients.get(&key).map(|e| e.request.clone());
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.invite_key = Some(key);
                            d.invite = sent;
                            d.local_cseq = cseq;
                            d.got_provisional = false;
                            d.cancel_sent = false;
                        }
                    }
                    None => self.end_dialog(
                        dialog,
                        TerminationReason::Rejected {
                            status,
                            reason: response.reason.clone(),
                        },
                    ),
                }
            }
            _ => {
                let reason = if status == 487 && d.cancel_requested {
                    TerminationReason::Cancelled
                } else {
                    TerminationReason::Rejected {
                        status,
                        reason: response.reason.clone(),
                    }
                };
                self.end_dialog(dialog, reason);
            }
        }
    }

    pub(crate) fn on_reinvite_response(
        &mut self,
        now: Instant,
        dialog: DialogId,
        request: &Request,
        hop: Hop,
        response: &Response,
    ) {
        if response.is_provisional() {
            return;
        }
        let status = response.status;
        let cseq = request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        match status {
            200..=299 => {
                if let Some(d) = self.dialogs.get_mut(&dialog) {
                    d.refresh_target(&response.headers);
                    d.reinvite_out = None;
                    d.local_offer_pending = false;
                }
                if let Err(e) = self.send_reinvite_ack(dialog, cseq) {
                    tracing::info!(error = %e, "ACK for re-INVITE not sent");
                }
                self.emit(SipEvent::ReinviteResponse {
                    dialog,
                    status,
                    body: body_of(&response.headers, &response.body),
                });
            }
            401 | 407 => {
                match self.retry_with_credentials(
                    now,
                    request,
                    hop,
                    response,
                    Purpose::Reinvite(dialog),
                ) {
                    Some((key, cseq)) => {
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.reinvite_out = Some(key);
                            d.local_cseq = d.local_cseq.max(cseq);
                        }
                    }
                    None => self.finish_reinvite(dialog, status, response),
                }
            }
            491 => self.schedule_retry(now, dialog, Method::Invite, request, None),
            408 | 481 => self.end_dialog(dialog, TerminationReason::DialogGone { status }),
            _ => self.finish_reinvite(dialog, status, response),
        }
    }

    fn finish_reinvite(&mut self, dialog: DialogId, status: u16, response: &Response) {
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
        request: &Request,
        hop: Hop,
        response: &Response,
    ) {
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
                match self.retry_with_credentials(
                    now,
                    request,
                    hop,
                    response,
                    Purpose::Update(dialog),
                ) {
                    Some((key, cseq)) => {
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.update_out = Some(key);
                            d.local_cseq = d.local_cseq.max(cseq);
                        }
                    }
                    None => self.finish_update(dialog, status, response),
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
            408 | 481 => self.end_dialog(dialog, TerminationReason::DialogGone { status }),
            _ => self.finish_update(dialog, status, response),
        }
    }

    fn finish_update(&mut self, dialog: DialogId, status: u16, response: &Response) {
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

    /// RFC 3261 §14.1 (and RFC 3311 §5.2 for UPDATE): after 491 wait 2.1-4 s when we own
    /// the Call-ID (we sent the dialog-creating INVITE), else 0-2 s, then try again.
    fn schedule_retry(
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
                let result = match retry.method {
                    Method::Invite => self.reinvite(now, dialog, retry.body),
                    _ => self.update(now, dialog, retry.body),
                };
                if let Err(e) = result {
                    tracing::info!(error = %e, "glare retry not sent");
                }
            }
        }
    }
}
