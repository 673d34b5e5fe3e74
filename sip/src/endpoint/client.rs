//! Client transactions as the endpoint runs them: matching responses (RFC 3261 §17.1.3),
//! executing transaction actions, and handing results to the request's purpose.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::AuthError;
use crate::message::{HeaderName, Method, Request, Response};
use crate::transaction::{
    Action, ClientTransactionKey, InviteClient, InviteClientState, NonInviteClient,
    NonInviteClientState,
};

use super::hop::{Arrival, Hop};
use super::types::{
    DialogId, EndpointError, ReferId, RequestId, SipEvent, TerminationReason, TransportFailure,
};
use super::Endpoint;

/// A request still unanswered this long is reported at its next retransmission, then at most
/// every [`PROGRESS_EVERY`], so a user sees progress instead of silence until Timer B/F.
const PROGRESS_FIRST: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Challenge rounds answered per request before giving up (issue 14: a server naming a
/// new realm in every 401 once drew 255 REGISTERs in 10 s).
pub(crate) const MAX_AUTH_ROUNDS: u32 = 4;

/// A request we sent, as its response handler needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent<'a> {
    /// The request as sent (with its Via).
    pub request: &'a Request,
    pub hop: Hop,
    /// Challenges this request already answered.
    pub auth_rounds: u32,
}

/// Why a 401/407 was not answered with credentials.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetryRefused {
    #[error("no credentials configured")]
    NoCredentials,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("the request's CSeq cannot be incremented")]
    CSeq,
    #[error("the retry could not be sent: {0}")]
    Send(EndpointError),
}

#[derive(Debug)]
pub(crate) enum ClientTxn {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

/// Why we sent a request: where its response goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Register,
    Invite(DialogId),
    Reinvite(DialogId),
    Update(DialogId),
    Bye(DialogId),
    Cancel(DialogId),
    Options(RequestId),
    /// RFC 3515: our REFER in the dialog.
    Refer(DialogId, ReferId),
    /// RFC 3515 §2.4.5: our NOTIFY for the peer's REFER.
    Notify(DialogId, ReferId),
    /// BYE ending the extra dialog of a forked 2xx: nothing to report.
    ForkBye,
}

#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub txn: ClientTxn,
    /// The request as sent (with its Via), for ACK, CANCEL and authenticated retries.
    pub request: Request,
    pub hop: Hop,
    pub purpose: Purpose,
    /// When the request was first sent.
    pub started: Instant,
    /// When "no answer yet" was last reported.
    pub reported: Option<Instant>,
    /// Set when the transport failed toward the hop, for the TU's reason.
    pub failure: Option<TransportFailure>,
    /// How many 401/407 challenges the request already answered (0 for a first try).
    pub auth_rounds: u32,
}

impl ClientEntry {
    pub fn new(txn: ClientTxn, request: Request, hop: Hop, purpose: Purpose, now: Instant) -> Self {
        ClientEntry {
            txn,
            request,
            hop,
            purpose,
            started: now,
            reported: None,
            failure: None,
            auth_rounds: 0,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.txn {
            ClientTxn::Invite(t) => t.poll_timeout(),
            ClientTxn::NonInvite(t) => t.poll_timeout(),
        }
    }

    /// No response at all yet (INVITE Calling, non-INVITE Trying).
    fn unanswered(&self) -> bool {
        match &self.txn {
            ClientTxn::Invite(t) => t.state() == InviteClientState::Calling,
            ClientTxn::NonInvite(t) => t.state() == NonInviteClientState::Trying,
        }
    }

    /// Whether a retransmission at `now` should say that no answer came yet.
    fn progress_due(&self, now: Instant) -> bool {
        match self.reported {
            None => now.saturating_duration_since(self.started) >= PROGRESS_FIRST,
            Some(at) => now.saturating_duration_since(at) >= PROGRESS_EVERY,
        }
    }

    /// Still waiting for a final response: a transport error is this transaction's.
    fn awaiting_final(&self) -> bool {
        match &self.txn {
            ClientTxn::Invite(t) => matches!(
                t.state(),
                InviteClientState::Calling | InviteClientState::Proceeding
            ),
            ClientTxn::NonInvite(t) => matches!(
                t.state(),
                NonInviteClientState::Trying | NonInviteClientState::Proceeding
            ),
        }
    }
}

impl Endpoint {
    /// A response arrived (already parsed and validated as a UAC response).
    pub(crate) fn handle_response(&mut self, now: Instant, response: Response, arrival: Arrival) {
        let Ok(via) = response.headers.top_via() else {
            return;
        };
        let (Some(branch), Ok(cseq)) = (via.branch(), response.headers.cseq()) else {
            tracing::debug!("response without branch or CSeq dropped");
            return;
        };
        // RFC 3261 §17.1.3: branch of the top Via and the CSeq method.
        let key = ClientTransactionKey::new(branch, cseq.method.as_str());
        let Some(entry) = self.clients.get_mut(&key) else {
            self.stray_response(&response);
            return;
        };
        let result = match &mut entry.txn {
            ClientTxn::Invite(t) => t.on_response(now, response.status),
            ClientTxn::NonInvite(t) => t.on_response(now, response.status),
        };
        match result {
            Ok(actions) => self.run_client_actions(now, &key, actions, Some((&response, arrival))),
            Err(e) => tracing::debug!(error = %e, "response refused by transaction"),
        }
    }

    /// RFC 6026 §7.2 / RFC 3261 §13.2.2.4: a 2xx retransmission after the INVITE
    /// transaction ended still gets our ACK again.
    pub(crate) fn stray_response(&mut self, response: &Response) {
        let is_invite_2xx = response.is_success()
            && response
                .headers
                .cseq()
                .is_ok_and(|c| c.method == Method::Invite);
        if !is_invite_2xx {
            tracing::debug!(status = response.status, "stray response dropped");
            return;
        }
        let Some(id) = self.dialog_for_response(response) else {
            return;
        };
        if let Some((hop, bytes)) = self.dialogs.get(&id).and_then(|d| d.last_ack.clone()) {
            self.send_on(&hop, bytes);
        }
    }

    /// The dialog of a response to a request we sent: Call-ID and our From tag.
    pub(crate) fn dialog_for_response(&self, response: &Response) -> Option<DialogId> {
        let call_id = response.headers.call_id().ok()?;
        let from = response.headers.from_addr().ok()?;
        let tag = from.tag()?;
        self.dialogs_of(call_id, tag).next().map(|d| d.id)
    }

    /// Executes transaction actions in order.
    pub(crate) fn run_client_actions(
        &mut self,
        now: Instant,
        key: &ClientTransactionKey,
        actions: Vec<Action>,
        response: Option<(&Response, Arrival)>,
    ) {
        // RFC 3261 §17.1.1.3: the ACK for a non-2xx goes on the wire before anything the TU
        // does with the response (an authenticated retry, a new call), as peers expect it
        // first.
        let mut actions = actions;
        if let Some(at) = actions.iter().position(|a| *a == Action::SendAckForNon2xx) {
            let ack = actions.remove(at);
            actions.insert(0, ack);
        }
        // What the TU needs survives the transaction: on TCP the ACK above ends it at once.
        let Some((purpose, request, hop, failure, auth_rounds)) = self.clients.get(key).map(|e| {
            (
                e.purpose,
                e.request.clone(),
                e.hop,
                e.failure.clone(),
                e.auth_rounds,
            )
        }) else {
            return;
        };
        for action in actions {
            match action {
                Action::Transmit(bytes) => self.send_on(&hop, bytes.to_vec()),
                Action::PassToTu => {
                    if let Some((response, arrival)) = response {
                        let sent = Sent {
                            request: &request,
                            hop,
                            auth_rounds,
                        };
                        self.on_client_response(now, purpose, sent, response, arrival);
                    }
                }
                Action::SendAckForNon2xx => {
                    let Some(entry) = self.clients.get_mut(key) else {
                        continue;
                    };
                    if let (Some((response, _)), ClientTxn::Invite(t)) = (response, &mut entry.txn)
                    {
                        // RFC 3261 §17.1.1.3: same branch, To from the response; the
                        // builder copies the INVITE's credentials (§22.1).
                        let ack = request.ack_for_non_2xx(response);
                        match t.send_ack(Bytes::from(ack.to_bytes())) {
                            Ok(more) => self.run_client_actions(now, key, more, None),
                            Err(e) => tracing::debug!(error = %e, "ACK refused"),
                        }
                    }
                }
                Action::Timeout(kind) => {
                    tracing::debug!(?kind, "client transaction timed out");
                    self.on_client_failure(now, purpose, None);
                }
                Action::TransportError => {
                    self.on_client_failure(now, purpose, failure.clone());
                }
                Action::Terminated => {
                    self.clients.remove(key);
                }
                Action::Send100Trying => {}
            }
        }
    }

    pub(crate) fn client_timeout(&mut self, now: Instant, key: ClientTransactionKey) {
        let Some(entry) = self.clients.get_mut(&key) else {
            return;
        };
        let actions = match &mut entry.txn {
            ClientTxn::Invite(t) => t.handle_timeout(now),
            ClientTxn::NonInvite(t) => t.handle_timeout(now),
        };
        let resent = actions
            .iter()
            .filter(|a| matches!(a, Action::Transmit(_)))
            .count();
        self.retransmissions += resent as u64;
        let retransmits = resent > 0;
        if retransmits && entry.unanswered() && entry.progress_due(now) {
            entry.reported = Some(now);
            let waited = now.saturating_duration_since(entry.started);
            tracing::warn!(
                "{} sent to {} ({}), no answer yet after {:.1} s, retransmitting",
                entry.request.method,
                entry.hop.dest,
                entry.hop.transport.as_str(),
                waited.as_secs_f64()
            );
        }
        self.run_client_actions(now, &key, actions, None);
    }

    /// RFC 3261 §17.1.4 / §18.4: the transport toward `failure.dest` failed (TCP connect
    /// failed or connection closed, ICMP error on UDP); client transactions sent there over
    /// that transport and still waiting for a final response fail now instead of at Timer
    /// B/F. Only client transactions: responses we send are retransmitted by the peer's
    /// request retransmissions, and dialogs end through their own requests.
    pub(crate) fn fail_transactions_to(&mut self, now: Instant, failure: &TransportFailure) {
        let keys: Vec<ClientTransactionKey> = self
            .clients
            .iter()
            .filter(|(_, e)| {
                e.hop.dest == failure.dest
                    && e.hop.transport == failure.transport
                    && e.awaiting_final()
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.clients.get_mut(&key) {
                tracing::debug!(method = %entry.request.method, %failure, "transport error fails the transaction");
                entry.failure = Some(failure.clone());
                let actions = match &mut entry.txn {
                    ClientTxn::Invite(t) => t.on_transport_error(),
                    ClientTxn::NonInvite(t) => t.on_transport_error(),
                };
                self.run_client_actions(now, &key, actions, None);
            }
        }
    }

    /// Timer B/F (`failure: None`) or a transport error: the TU sees a 408 (RFC 3261
    /// §8.1.3.1), with the transport failure when there was one.
    pub(crate) fn on_client_failure(
        &mut self,
        now: Instant,
        purpose: Purpose,
        failure: Option<TransportFailure>,
    ) {
        match purpose {
            Purpose::Register => self.on_register_failure(now, failure),
            // RFC 3261 §8.1.3.4: a redirect target that does not answer is a failure too.
            Purpose::Invite(d) => self.invite_timed_out(now, d, failure),
            // RFC 3261 §8.1.3.1: a timeout or transport error is a 408 to the TU. It ends the
            // offer, not the dialog (ASSUMPTIONS.md: only 481 does); the TU decides about the
            // call.
            Purpose::Reinvite(d) => self.offer_failed(d, Method::Invite, 408),
            Purpose::Update(d) => self.offer_failed(d, Method::Update, 408),
            Purpose::Bye(d) => self.end_dialog(d, TerminationReason::LocalBye),
            Purpose::Cancel(_) | Purpose::ForkBye => {}
            // RFC 3261 §8.1.3.1: a timeout or transport error is a 408 for the TU.
            Purpose::Refer(d, id) => self.refer_failed(d, id, 408),
            Purpose::Notify(d, id) => self.notify_failed(d, id, 408),
            Purpose::Options(request) => self.emit(SipEvent::OptionsResponse {
                request,
                status: 408,
                allow: Vec::new(),
                supported: Vec::new(),
            }),
        }
    }

    pub(crate) fn on_client_response(
        &mut self,
        now: Instant,
        purpose: Purpose,
        sent: Sent<'_>,
        response: &Response,
        arrival: Arrival,
    ) {
        match purpose {
            Purpose::Register => self.on_register_response(now, sent, response, arrival),
            Purpose::Invite(d) => self.on_invite_response(now, d, sent, response),
            Purpose::Reinvite(d) => self.on_reinvite_response(now, d, sent, response),
            Purpose::Update(d) => self.on_update_response(now, d, sent, response),
            Purpose::Bye(d) => {
                if response.is_final() {
                    self.end_dialog(d, TerminationReason::LocalBye);
                }
            }
            Purpose::Cancel(_) | Purpose::ForkBye => {}
            Purpose::Refer(d, id) => self.on_refer_response(now, d, id, sent, response),
            Purpose::Notify(d, id) => self.on_notify_response(d, id, response),
            Purpose::Options(id) => {
                if response.is_final() {
                    let allow = response
                        .headers
                        .allow()
                        .map(|m| m.iter().map(|m| m.to_string()).collect())
                        .unwrap_or_default();
                    let supported = response.headers.supported().unwrap_or_default();
                    self.emit(SipEvent::OptionsResponse {
                        request: id,
                        status: response.status,
                        allow,
                        supported,
                    });
                }
            }
        }
    }

    /// RFC 3261 §22.2 / §22.3: answer a 401/407 by resending the request with credentials
    /// and CSeq + 1. Returns the new transaction's key and CSeq, or why we cannot (no
    /// credentials, wrong credentials, a downgrade, too many rounds).
    pub(crate) fn retry_with_credentials(
        &mut self,
        now: Instant,
        sent: Sent<'_>,
        response: &Response,
        purpose: Purpose,
    ) -> Result<(ClientTransactionKey, u32), RetryRefused> {
        let Sent {
            request,
            hop,
            auth_rounds,
        } = sent;
        let digest = self.digest.as_mut().ok_or(RetryRefused::NoCredentials)?;
        let kind_header = if response.status == 401 {
            HeaderName::WwwAuthenticate
        } else {
            HeaderName::ProxyAuthenticate
        };
        let values: Vec<&str> = response.headers.get_all(kind_header).collect();
        // A request is answered for at most MAX_AUTH_ROUNDS challenges: with one realm per
        // proxy and registrar plus a stale nonce that is plenty, and a server that names a
        // new realm in every 401 cannot make us loop.
        if auth_rounds >= MAX_AUTH_ROUNDS {
            let realms = values
                .iter()
                .flat_map(|v| crate::auth::parse_challenges(v))
                .filter_map(Result::ok)
                .map(|c| c.realm)
                .collect::<Vec<_>>()
                .join(", ");
            digest.forget_unproven();
            let e = AuthError::TooManyChallengeRounds {
                rounds: auth_rounds,
                realms,
            };
            tracing::warn!(error = %e, method = %request.method, "not answering digest challenge");
            return Err(RetryRefused::Auth(e));
        }
        if let Err(e) = digest.on_challenge(response.status, &values) {
            tracing::warn!(error = %e, method = %request.method, "cannot answer digest challenge");
            return Err(RetryRefused::Auth(e));
        }
        let mut retry = request.clone();
        retry.headers.remove(HeaderName::Via);
        retry.headers.remove(HeaderName::Authorization);
        retry.headers.remove(HeaderName::ProxyAuthorization);
        // RFC 3261 §22.1 (RFC-CHECKLIST 10.12): the retry MUST increment CSeq.
        let cseq = request
            .headers
            .cseq()
            .ok()
            .and_then(|c| c.seq.checked_add(1))
            .ok_or(RetryRefused::CSeq)?;
        let method = retry.method.clone();
        retry.headers.set(
            HeaderName::CSeq,
            crate::message::CSeq {
                seq: cseq,
                method: method.clone(),
            }
            .to_string(),
        );
        let uri = retry.uri.to_string();
        let headers = digest
            .authorization_headers(method.as_str(), &uri, &retry.body)
            .map_err(|e| {
                tracing::info!(error = %e, "cannot compute digest response");
                RetryRefused::Auth(e)
            })?;
        for h in headers {
            retry.headers.push(h.name, h.value);
        }
        match self.send_request(now, retry, hop, purpose) {
            Ok(key) => {
                if let Some(entry) = self.clients.get_mut(&key) {
                    entry.auth_rounds = auth_rounds.saturating_add(1);
                }
                Ok((key, cseq))
            }
            Err(e) => {
                tracing::info!(error = %e, "authenticated retry failed");
                Err(RetryRefused::Send(e))
            }
        }
    }

    /// Removes a dialog and tells the TU.
    pub(crate) fn end_dialog(&mut self, dialog: DialogId, reason: TerminationReason) {
        if let Some(d) = self.take_dialog(dialog) {
            if let Some(incoming) = d.invite_incoming {
                self.incoming.remove(&incoming);
            }
            // A REFER the TU never answered: its server transaction (which has no timer
            // while unanswered) goes with the dialog; a retransmission now gets 481.
            for key in d.refers_in.into_iter().filter_map(|r| r.server) {
                if self.servers.get(&key).is_some_and(|e| !e.answered) {
                    self.remove_server(&key);
                }
            }
            self.emit(SipEvent::DialogTerminated { dialog, reason });
        }
    }

    /// Looks a dialog up for a command.
    pub(crate) fn dialog_mut(
        &mut self,
        dialog: DialogId,
    ) -> Result<&mut super::dialog::Dialog, EndpointError> {
        self.dialogs
            .get_mut(&dialog)
            .ok_or(EndpointError::UnknownDialog(dialog))
    }
}
