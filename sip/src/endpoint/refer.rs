//! Blind transfer by REFER (RFC 3515) within a call. As transferor: [`Endpoint::refer`],
//! its response, and the NOTIFYs of the implicit subscription (message/sipfrag bodies,
//! RFC 3420). As transferee: the incoming REFER, [`Endpoint::accept_refer`] /
//! [`Endpoint::reject_refer`], and [`Endpoint::notify_transfer`].

use std::time::Instant;

use crate::message::{HeaderName, Method, NameAddr, Request, Response};
use crate::transaction::ServerTransactionKey;

use super::client::{Purpose, Sent};
use super::dialog::{DialogState, InRefer, OutRefer};
use super::hop::Hop;
use super::outgoing::parse_target;
use super::server::{reason_phrase, ServerKind};
use super::types::{Body, DialogId, EndpointError, ReferId, SipEvent, TerminationReason};
use super::Endpoint;

/// The body type of NOTIFYs for REFER (RFC 3515 §2.4.5, RFC 3420).
pub(crate) const SIPFRAG: &str = "message/sipfrag";

/// The `expires` we give in `Subscription-State: active` (RFC 6665 §8.2.3; the notifier
/// chooses the duration of the implicit subscription).
const SUBSCRIPTION_EXPIRES: u32 = 60;

impl Endpoint {
    /// Blind transfer (RFC 3515): sends REFER in the confirmed `dialog`, asking the peer to
    /// call `target` (a SIP URI) itself. The final response comes as
    /// [`SipEvent::ReferResponse`]; the NOTIFYs of the implicit subscription (RFC 3515
    /// §2.4.4) as [`SipEvent::TransferProgress`]. The dialog is untouched: the TU ends the
    /// call (BYE) when it sees the transfer succeed, or keeps it when it fails.
    pub fn refer(
        &mut self,
        now: Instant,
        dialog: DialogId,
        target: &str,
    ) -> Result<ReferId, EndpointError> {
        self.send_refer(now, dialog, target, None)
    }

    /// As [`Endpoint::refer`], with a Referred-By header (RFC 3892; RFC 3515 §2.4.2
    /// makes it optional) naming who asks for the transfer, e.g. `<sip:alice@example.com>`.
    pub fn refer_with_referred_by(
        &mut self,
        now: Instant,
        dialog: DialogId,
        target: &str,
        referred_by: &str,
    ) -> Result<ReferId, EndpointError> {
        self.send_refer(now, dialog, target, Some(referred_by))
    }

    fn send_refer(
        &mut self,
        now: Instant,
        dialog: DialogId,
        target: &str,
        referred_by: Option<&str>,
    ) -> Result<ReferId, EndpointError> {
        let uri = parse_target(target)?;
        let d = self.dialog_mut(dialog)?;
        if d.state != DialogState::Confirmed || d.bye_sent {
            return Err(EndpointError::InvalidState {
                operation: "refer",
                detail: "the dialog is not confirmed (or is ending)".into(),
            });
        }
        // send_in_dialog_with uses the next CSeq: the NOTIFYs name it (RFC 3515 §2.4.6).
        let cseq = d.local_cseq.saturating_add(1);
        // RFC 3515 §2.1: exactly one Refer-To, in name-addr form so URI parameters and
        // headers stay with the URI.
        let mut extra = vec![(HeaderName::ReferTo, NameAddr::new(uri).to_string())];
        if let Some(by) = referred_by {
            extra.push((HeaderName::ReferredBy, by.to_owned()));
        }
        let id = ReferId(self.next_id());
        // Filed before sending: a NOTIFY may overtake the 202 (RFC 3515 §2.4.4).
        self.dialog_mut(dialog)?
            .refers_out
            .push(OutRefer { id, cseq });
        let sent = self.send_in_dialog_with(
            now,
            dialog,
            Method::Refer,
            None,
            &extra,
            Purpose::Refer(dialog, id),
        );
        if let Err(e) = sent {
            if let Some(d) = self.dialogs.get_mut(&dialog) {
                d.refers_out.retain(|r| r.id != id);
            }
            return Err(e);
        }
        Ok(id)
    }

    pub(crate) fn on_refer_response(
        &mut self,
        now: Instant,
        dialog: DialogId,
        id: ReferId,
        sent: Sent<'_>,
        response: &Response,
    ) {
        if response.is_provisional() {
            return;
        }
        let status = response.status;
        match status {
            200..=299 => {
                if self.dialogs.contains_key(&dialog) {
                    self.emit(SipEvent::ReferResponse { dialog, id, status });
                }
            }
            401 | 407 => {
                match self.retry_with_credentials(now, sent, response, Purpose::Refer(dialog, id)) {
                    Ok((_, cseq)) => {
                        if let Some(d) = self.dialogs.get_mut(&dialog) {
                            d.local_cseq = d.local_cseq.max(cseq);
                            if let Some(r) = d.refers_out.iter_mut().find(|r| r.id == id) {
                                r.cseq = cseq;
                            }
                        }
                    }
                    Err(_) => self.refer_failed(dialog, id, status),
                }
            }
            // RFC 5057 §5.1: 481, the dialog is gone.
            481 => {
                self.refer_failed(dialog, id, status);
                self.end_dialog(dialog, TerminationReason::DialogGone { status });
            }
            _ => self.refer_failed(dialog, id, status),
        }
    }

    /// Our REFER failed (`status`, 408 for no response): the subscription never started.
    /// Nothing is reported once the dialog is gone (as for re-INVITE and UPDATE).
    pub(crate) fn refer_failed(&mut self, dialog: DialogId, id: ReferId, status: u16) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        d.refers_out.retain(|r| r.id != id);
        self.emit(SipEvent::ReferResponse { dialog, id, status });
    }

    /// A NOTIFY in `dialog` (RFC 3515 §2.4.4, RFC 6665 §4.1.3 as subscriber): for our
    /// REFER's subscription, answered 200 and reported as [`SipEvent::TransferProgress`].
    pub(crate) fn on_notify(
        &mut self,
        now: Instant,
        (key, request, reply): (ServerTransactionKey, Request, Hop),
        dialog: DialogId,
    ) {
        let Some(d) = self.dialogs.get(&dialog) else {
            return;
        };
        let local_tag = d.local_tag.clone();
        let answer = |request: &Request, status: u16| {
            Response::for_request(request, status, reason_phrase(status)).with_to_tag(&local_tag)
        };
        // RFC 6665 §8.2.1: an event package we do not know → 489 Bad Event.
        let event = request.headers.get(HeaderName::Event).unwrap_or_default();
        let mut parts = event.split(';');
        let package = parts.next().unwrap_or_default().trim();
        if !package.eq_ignore_ascii_case("refer") {
            let mut response = answer(&request, 489);
            response.headers.push(HeaderName::AllowEvents, "refer");
            self.respond_in_dialog(now, (key, request, reply), dialog, response);
            return;
        }
        // RFC 3515 §2.4.6: `id` is the CSeq of the REFER; without one, the first REFER.
        let event_id = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("id")
                .then(|| value.trim().parse::<u32>().ok())
                .flatten()
        });
        let matched = match event_id {
            Some(cseq) => d.refers_out.iter().find(|r| r.cseq == cseq),
            None => d.refers_out.first(),
        }
        .map(|r| r.id);
        let Some(id) = matched else {
            // RFC 6665 §4.1.3: no such subscription → 481.
            let response = answer(&request, 481);
            self.respond_in_dialog(now, (key, request, reply), dialog, response);
            return;
        };
        let parsed = subscription_terminated(request.headers.get(HeaderName::SubscriptionState))
            .and_then(|terminated| {
                sipfrag_status(&request).map(|(status, reason)| (status, reason, terminated))
            });
        match parsed {
            Ok((status, reason, terminated)) => {
                let response = answer(&request, 200);
                self.respond_in_dialog(now, (key, request, reply), dialog, response);
                if terminated {
                    if let Some(d) = self.dialogs.get_mut(&dialog) {
                        d.refers_out.retain(|r| r.id != id);
                    }
                }
                self.emit(SipEvent::TransferProgress {
                    dialog,
                    id,
                    status,
                    reason,
                    terminated,
                });
            }
            Err(detail) => {
                // RFC 3515 §2.4.5: the body is a message/sipfrag with a status line; a
                // NOTIFY we cannot read is a bad request.
                tracing::info!(%detail, "NOTIFY for REFER refused");
                let response = answer(&request, 400);
                self.respond_in_dialog(now, (key, request, reply), dialog, response);
                self.emit(SipEvent::BadTransferNotify { dialog, id, detail });
            }
        }
    }

    /// A REFER in `dialog` (RFC 3515 §2.4.2 as transferee): handed to the TU as
    /// [`SipEvent::IncomingRefer`], or refused 400 (§2.4.1) without exactly one usable
    /// Refer-To or outside a confirmed dialog.
    pub(crate) fn on_refer(
        &mut self,
        now: Instant,
        (key, request, reply): (ServerTransactionKey, Request, Hop),
        dialog: DialogId,
    ) {
        let Some(d) = self.dialogs.get(&dialog) else {
            return;
        };
        let local_tag = d.local_tag.clone();
        let confirmed = d.state == DialogState::Confirmed;
        let refer_to: Vec<&str> = request.headers.get_all(HeaderName::ReferTo).collect();
        // RFC 3515 §2.4.1: exactly one Refer-To, else 400.
        let target = match refer_to.as_slice() {
            [one] => one.parse::<NameAddr>().ok(),
            _ => None,
        };
        let Some(target) = target.filter(|_| confirmed) else {
            tracing::info!(count = refer_to.len(), confirmed, "REFER refused with 400");
            let response =
                Response::for_request(&request, 400, reason_phrase(400)).with_to_tag(&local_tag);
            self.respond_in_dialog(now, (key, request, reply), dialog, response);
            return;
        };
        let referred_by = request
            .headers
            .get(HeaderName::ReferredBy)
            .map(|v| v.trim().to_owned());
        let cseq = request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let id = ReferId(self.next_id());
        self.new_server(
            now,
            key.clone(),
            request,
            reply,
            Some(dialog),
            ServerKind::Other,
        );
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.refers_in.push(InRefer {
                id,
                cseq,
                server: Some(key),
                accepted: false,
            });
        }
        self.emit(SipEvent::IncomingRefer {
            dialog,
            id,
            refer_to: target.uri.to_string(),
            referred_by,
        });
    }

    /// Accepts the peer's REFER ([`SipEvent::IncomingRefer`]) with 202 Accepted
    /// (RFC 3515 §2.4.2). The implicit subscription starts: send the first NOTIFY with
    /// [`Endpoint::notify_transfer`] at once (RFC 3515 §2.4.4, typically 100), and a last
    /// one with `terminated` when the new call is answered or fails.
    pub fn accept_refer(&mut self, now: Instant, id: ReferId) -> Result<(), EndpointError> {
        self.answer_refer(now, id, 202)
    }

    /// Refuses the peer's REFER with `status` (300–699, e.g. 603 Decline); no NOTIFY
    /// follows (RFC 3515 §2.4.2).
    pub fn reject_refer(
        &mut self,
        now: Instant,
        id: ReferId,
        status: u16,
    ) -> Result<(), EndpointError> {
        if !(300..=699).contains(&status) {
            return Err(EndpointError::InvalidStatus(status));
        }
        self.answer_refer(now, id, status)
    }

    fn answer_refer(
        &mut self,
        now: Instant,
        id: ReferId,
        status: u16,
    ) -> Result<(), EndpointError> {
        let found = self.dialogs.values().find_map(|d| {
            d.refers_in
                .iter()
                .find(|r| r.id == id)
                .and_then(|r| r.server.clone())
                .map(|key| (d.id, d.local_tag.clone(), key))
        });
        let (dialog, local_tag, key) = found.ok_or(EndpointError::UnknownRefer(id))?;
        let request = self
            .servers
            .get(&key)
            .filter(|e| !e.answered)
            .map(|e| e.request.clone());
        let Some(request) = request else {
            if let Some(d) = self.dialogs.get_mut(&dialog) {
                d.refers_in.retain(|r| r.id != id);
            }
            return Err(EndpointError::UnknownRefer(id));
        };
        let response =
            Response::for_request(&request, status, reason_phrase(status)).with_to_tag(&local_tag);
        self.send_server_response(now, &key, response);
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            if (200..300).contains(&status) {
                if let Some(r) = d.refers_in.iter_mut().find(|r| r.id == id) {
                    r.server = None;
                    r.accepted = true;
                }
            } else {
                d.refers_in.retain(|r| r.id != id);
            }
        }
        Ok(())
    }

    /// Reports the progress of an accepted transfer to the transferor (RFC 3515 §2.4.5): a
    /// NOTIFY in `dialog` with `Event: refer;id=<REFER CSeq>`, a message/sipfrag body
    /// `SIP/2.0 <status> <reason>` (the status of our call to the refer target: 100, 180,
    /// 200, 486...), and `Subscription-State: active;expires=60`, or
    /// `terminated;reason=noresource` when `terminated` (the last NOTIFY: the call was
    /// answered or failed). Failures of the NOTIFY come as
    /// [`SipEvent::TransferNotifyFailed`].
    pub fn notify_transfer(
        &mut self,
        now: Instant,
        dialog: DialogId,
        id: ReferId,
        status: u16,
        terminated: bool,
    ) -> Result<(), EndpointError> {
        if !(100..=699).contains(&status) {
            return Err(EndpointError::InvalidStatus(status));
        }
        let d = self.dialog_mut(dialog)?;
        let cseq = d
            .refers_in
            .iter()
            .find(|r| r.id == id && r.accepted)
            .map(|r| r.cseq)
            .ok_or(EndpointError::UnknownRefer(id))?;
        let state = if terminated {
            // RFC 6665 §4.1.3: noresource, the subscribed resource (the new call) is done.
            "terminated;reason=noresource".to_owned()
        } else {
            format!("active;expires={SUBSCRIPTION_EXPIRES}")
        };
        let extra = [
            (HeaderName::Event, format!("refer;id={cseq}")),
            (HeaderName::SubscriptionState, state),
        ];
        // RFC 3420 §2 / RFC 3515 §2.4.5 examples: version 2.0 of the sipfrag.
        let body = Body::new(
            format!("{SIPFRAG};version=2.0"),
            format!("SIP/2.0 {status} {}\r\n", reason_phrase(status)).into_bytes(),
        );
        self.send_in_dialog_with(
            now,
            dialog,
            Method::Notify,
            Some(&body),
            &extra,
            Purpose::Notify(dialog, id),
        )?;
        if terminated {
            if let Some(d) = self.dialogs.get_mut(&dialog) {
                d.refers_in.retain(|r| r.id != id);
            }
        }
        Ok(())
    }

    pub(crate) fn on_notify_response(
        &mut self,
        dialog: DialogId,
        id: ReferId,
        response: &Response,
    ) {
        if response.is_final() && !response.is_success() {
            self.notify_failed(dialog, id, response.status);
        }
    }

    /// Our NOTIFY got `status` (408 for no response). RFC 6665 §4.2.2: after a timeout or
    /// a 481 the subscription is removed.
    /// Nothing is reported once the dialog is gone.
    pub(crate) fn notify_failed(&mut self, dialog: DialogId, id: ReferId, status: u16) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if matches!(status, 408 | 481) {
            d.refers_in.retain(|r| r.id != id);
        }
        self.emit(SipEvent::TransferNotifyFailed { dialog, id, status });
    }
}

/// RFC 6665 §8.2.3: whether `Subscription-State` says terminated (active and pending do
/// not); missing or unknown states are errors.
fn subscription_terminated(value: Option<&str>) -> Result<bool, String> {
    let value = value.ok_or_else(|| "no Subscription-State".to_owned())?;
    let state = value.split(';').next().unwrap_or_default().trim();
    if state.eq_ignore_ascii_case("terminated") {
        Ok(true)
    } else if state.eq_ignore_ascii_case("active") || state.eq_ignore_ascii_case("pending") {
        Ok(false)
    } else {
        Err(format!("unknown Subscription-State {value:?}"))
    }
}

/// RFC 3515 §2.4.5 / RFC 3420: the status code and reason phrase of the message/sipfrag
/// body's status line (`SIP/2.0 200 OK`).
fn sipfrag_status(request: &Request) -> Result<(u16, String), String> {
    let content_type = request
        .headers
        .content_type()
        .ok()
        .flatten()
        .map(|c| c.essence());
    sipfrag_line(content_type.as_deref(), &request.body)
}

/// [`sipfrag_status`] of a body whose Content-Type essence is `content_type`.
fn sipfrag_line(content_type: Option<&str>, body: &[u8]) -> Result<(u16, String), String> {
    if content_type != Some(SIPFRAG) {
        return Err(format!(
            "body type {} instead of {SIPFRAG}",
            content_type.unwrap_or("(none)")
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| "sipfrag not UTF-8".to_owned())?;
    let line = text
        .split('\n')
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    let rest = line
        .strip_prefix("SIP/2.0 ")
        .ok_or_else(|| format!("no SIP/2.0 status line in the sipfrag: {line:?}"))?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| code.len() == 3 && (100..=699).contains(s))
        .ok_or_else(|| format!("bad status code in the sipfrag: {line:?}"))?;
    Ok((status, reason.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_lines() {
        let ok = |body: &str| sipfrag_line(Some(SIPFRAG), body.as_bytes());
        assert_eq!(ok("SIP/2.0 200 OK\r\n"), Ok((200, "OK".into())));
        assert_eq!(ok("SIP/2.0 200 OK"), Ok((200, "OK".into())));
        assert_eq!(
            ok("SIP/2.0 486 Busy Here\r\nVia: x\r\n"),
            Ok((486, "Busy Here".into()))
        );
        assert_eq!(ok("SIP/2.0 100"), Ok((100, String::new())));
        for bad in [
            "",
            "SIP/2.0 2000 OK",
            "SIP/2.0 099 X",
            "SIP/1.0 200 OK",
            "INVITE sip:a SIP/2.0",
            "SIP/2.0 2x0 OK",
        ] {
            assert!(ok(bad).is_err(), "{bad:?}");
        }
        assert!(sipfrag_line(Some("text/plain"), b"SIP/2.0 200 OK").is_err());
        assert!(sipfrag_line(None, b"SIP/2.0 200 OK").is_err());
    }

    #[test]
    fn subscription_states() {
        assert_eq!(
            subscription_terminated(Some("active;expires=60")),
            Ok(false)
        );
        assert_eq!(subscription_terminated(Some("Pending")), Ok(false));
        assert_eq!(
            subscription_terminated(Some("terminated;reason=noresource")),
            Ok(true)
        );
        assert!(subscription_terminated(Some("gone")).is_err());
        assert!(subscription_terminated(None).is_err());
    }
}
