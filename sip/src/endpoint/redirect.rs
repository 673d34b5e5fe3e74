//! Following 3xx responses to our INVITE (RFC 3261 §8.1.3.4): the target set built from
//! the Contacts, its loop guard and limit, and the new INVITE to the next target.
//!
//! The call keeps its [`DialogId`]: the TU sees one call that moved, announced by
//! [`SipEvent::CallRedirected`], then answered or terminated as usual.

use std::collections::VecDeque;
use std::time::Instant;

use crate::message::{CSeq, Contacts, HeaderName, NameAddr, Request, Response, Uri};

use super::client::Purpose;
use super::dialog::DialogState;
use super::types::{DialogId, SipEvent, TerminationReason, TransportFailure};
use super::Endpoint;

/// Redirected INVITEs a call may send by default: bounds a redirect chain and a 3xx
/// listing many contacts alike.
pub const DEFAULT_MAX_REDIRECTS: u8 = 5;

/// The redirect state of one outgoing call.
#[derive(Debug, Default)]
pub(crate) struct TargetSet {
    /// Targets still to try, best first.
    pending: VecDeque<Uri>,
    /// Keys of every URI placed in the set, the original target included (RFC 3261
    /// §8.1.3.4: a URI enters the target set only once, which stops redirect loops).
    seen: Vec<String>,
    /// INVITEs sent to redirect targets so far.
    followed: u8,
    /// The call started at a sips: URI (RFC 3261 §8.1.3.4: no silent downgrade).
    original_secure: bool,
}

/// A Contact of a 3xx that we can send an INVITE to, or why not.
#[derive(Debug, PartialEq, Eq)]
enum ContactUse {
    Target(Uri),
    Skipped(String),
}

/// The identity of a target for the loop guard: scheme, user, host (case-insensitive),
/// port with its default and transport — the parts RFC 3261 §19.1.4 compares that decide
/// where a request lands.
fn target_key(uri: &Uri) -> String {
    match uri.as_sip() {
        Some(sip) => {
            let default_port = if sip.secure { 5061 } else { 5060 };
            format!(
                "{}:{}@{}:{};{}",
                uri.scheme().to_ascii_lowercase(),
                sip.user.as_deref().unwrap_or(""),
                sip.host.to_string().to_ascii_lowercase(),
                sip.port.unwrap_or(default_port),
                sip.transport().unwrap_or_else(|| "udp".into())
            )
        }
        None => uri.to_string().to_ascii_lowercase(),
    }
}

/// RFC 3261 §20.10: `q` is a qvalue (0 to 1, three decimals at most); as thousandths so
/// that ordering needs no floats. Missing or malformed means 1 (the highest), as for a
/// Contact without `q`.
fn q_thousandths(contact: &NameAddr) -> u16 {
    let Some(q) = contact.params.get("q") else {
        return 1000;
    };
    let (whole, fraction) = q.split_once('.').unwrap_or((q, ""));
    let digits_ok = fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit());
    let fraction_value = format!("{fraction:0<3}").parse::<u16>().unwrap_or(0);
    match (whole, digits_ok) {
        ("0", true) => fraction_value,
        ("1", true) if fraction_value == 0 => 1000,
        _ => {
            tracing::debug!(q, "malformed q-value in a 3xx Contact, taken as 1");
            1000
        }
    }
}

/// What to do with one Contact of a 3xx, given the scheme of the request it answers.
fn contact_use(contact: &NameAddr, original_secure: bool) -> ContactUse {
    let Some(sip) = contact.uri.as_sip() else {
        return ContactUse::Skipped(format!("{} is not a sip:/sips: URI", contact.uri));
    };
    // RFC 3261 §8.1.3.4: recursing from a SIPS URI to a non-SIPS one needs the user's
    // consent; we have no one to ask, so we never downgrade.
    if original_secure && !sip.secure {
        return ContactUse::Skipped(format!(
            "{} would downgrade the sips: call to sip:",
            contact.uri
        ));
    }
    // RFC 3261 §8.1.3.4 / §19.1.1: copy the whole URI except method-param and headers.
    let mut target = sip.clone();
    target.params.remove("method");
    target.headers.clear();
    ContactUse::Target(Uri::Sip(target))
}

/// The usable Contacts of a 3xx, highest q first (ties keep the order given), and the
/// reasons for those we skip.
fn redirect_targets(response: &Response, original_secure: bool) -> (Vec<Uri>, Vec<String>) {
    let contacts = match response.headers.contacts() {
        Ok(Contacts::List(list)) => list,
        Ok(Contacts::Star) => return (Vec::new(), vec!["Contact: * names no target".into()]),
        Err(e) => return (Vec::new(), vec![format!("unparseable Contact ({e})")]),
    };
    let mut ordered: Vec<&NameAddr> = contacts.iter().collect();
    // Stable sort: equal q-values stay in the order of the response.
    ordered.sort_by_key(|c| std::cmp::Reverse(q_thousandths(c)));
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for contact in ordered {
        match contact_use(contact, original_secure) {
            ContactUse::Target(uri) => targets.push(uri),
            ContactUse::Skipped(why) => skipped.push(why),
        }
    }
    (targets, skipped)
}

fn contact_list(response: &Response) -> String {
    let contacts: Vec<&str> = response.headers.get_all(HeaderName::Contact).collect();
    if contacts.is_empty() {
        "none".into()
    } else {
        contacts.join(", ")
    }
}

impl Endpoint {
    /// A 3xx to our INVITE (the transaction has ACKed it already, RFC 3261 §17.1.1.3).
    pub(crate) fn on_invite_redirect(
        &mut self,
        now: Instant,
        dialog: DialogId,
        request: &Request,
        response: &Response,
    ) {
        let status = response.status;
        let fail = |why: String| TerminationReason::Rejected {
            status,
            reason: format!("{}: {why}", response.reason),
        };
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if d.state == DialogState::Confirmed {
            // A 2xx already made the call (another fork answered): nothing to redirect.
            tracing::debug!(status, "3xx after the call was answered ignored");
            return;
        }
        if d.cancel_requested {
            self.end_dialog(dialog, TerminationReason::Cancelled);
            return;
        }
        if self.config.max_redirects == 0 {
            let why = format!(
                "redirect not followed (following is off); Contact: {}",
                contact_list(response)
            );
            self.end_dialog(dialog, fail(why));
            return;
        }
        match status {
            // RFC 3261 §21.3.6: the Contact is a proxy to resend through. Taking a proxy
            // from whoever answers would let any UAS route our calls, so we do not.
            305 => {
                let why = format!(
                    "use of the proxy {} not supported (RFC 3261 §21.3.6)",
                    contact_list(response)
                );
                self.end_dialog(dialog, fail(why));
                return;
            }
            // RFC 3261 §21.3.7: the alternatives are in the body, for a human.
            380 => {
                self.end_dialog(
                    dialog,
                    fail("alternative service not followed (RFC 3261 §21.3.7)".into()),
                );
                return;
            }
            _ => {}
        }
        let targets = d.targets.get_or_insert_with(|| TargetSet {
            seen: vec![target_key(&request.uri)],
            original_secure: request.uri.as_sip().is_some_and(|u| u.secure),
            ..TargetSet::default()
        });
        let (found, mut skipped) = redirect_targets(response, targets.original_secure);
        // RFC 3261 §8.1.3.4: each URI only once. The newest 3xx refines the target just
        // tried, so its contacts go before the older alternatives.
        let mut fresh = Vec::new();
        for uri in found {
            let key = target_key(&uri);
            if targets.seen.contains(&key) {
                skipped.push(format!("{uri} was tried already (redirect loop)"));
            } else {
                targets.seen.push(key);
                fresh.push(uri);
            }
        }
        for uri in fresh.into_iter().rev() {
            targets.pending.push_front(uri);
        }
        for why in &skipped {
            tracing::info!(status, "3xx Contact not used: {why}");
        }
        if targets.pending.is_empty() {
            let why = if skipped.is_empty() {
                "no usable Contact".to_owned()
            } else {
                format!("no usable Contact ({})", skipped.join("; "))
            };
            self.end_dialog(dialog, fail(why));
            return;
        }
        self.try_next_target(now, dialog, status, fail);
    }

    /// Our INVITE (original or redirected) failed with `reason`: RFC 3261 §8.1.3.4 moves
    /// on to the next target of the set; with none left the call ends with `reason`.
    pub(crate) fn invite_failed(
        &mut self,
        now: Instant,
        dialog: DialogId,
        status: u16,
        reason: TerminationReason,
    ) {
        let has_next = self
            .dialogs
            .get(&dialog)
            .and_then(|d| d.targets.as_ref())
            .is_some_and(|t| !t.pending.is_empty());
        if has_next {
            self.try_next_target(now, dialog, status, |_| reason);
        } else {
            self.end_dialog(dialog, reason);
        }
    }

    /// Timer B or a transport error on our INVITE: a 408 for the target set (RFC 3261
    /// §8.1.3.1), unless the user cancelled.
    pub(crate) fn invite_timed_out(
        &mut self,
        now: Instant,
        dialog: DialogId,
        failure: Option<TransportFailure>,
    ) {
        let cancelled = self
            .dialogs
            .get(&dialog)
            .is_some_and(|d| d.cancel_requested);
        let reason = match failure {
            Some(failure) => TerminationReason::TransportError(failure),
            None => TerminationReason::Timeout,
        };
        if cancelled {
            self.end_dialog(dialog, reason);
        } else if !self.invite_failover(now, dialog, 408) {
            self.invite_failed(now, dialog, 408, reason);
        }
    }

    /// Sends the INVITE to the next target (RFC 3261 §8.1.3.4): the same request with the
    /// target as Request-URI, a new transaction (new branch, RFC 3261 §8.1.1.7), the same
    /// Call-ID, From tag and body, To without tag, CSeq + 1 (so that a UAS reached twice
    /// does not take it for a merged request, RFC 3261 §8.2.2.2). Targets we cannot
    /// route to are skipped; `give_up` builds the reason when none is left or the limit
    /// is reached.
    fn try_next_target(
        &mut self,
        now: Instant,
        dialog: DialogId,
        status: u16,
        give_up: impl FnOnce(String) -> TerminationReason,
    ) {
        let mut unroutable = Vec::new();
        loop {
            let max = self.config.max_redirects;
            let Some(d) = self.dialogs.get_mut(&dialog) else {
                return;
            };
            let (Some(targets), Some(previous)) = (d.targets.as_mut(), d.invite.clone()) else {
                return;
            };
            if targets.followed >= max {
                let why = format!("not followed: {max} redirect(s) already (limit)");
                self.end_dialog(dialog, give_up(why));
                return;
            }
            let Some(target) = targets.pending.pop_front() else {
                let why = format!("no reachable Contact ({})", unroutable.join("; "));
                self.end_dialog(dialog, give_up(why));
                return;
            };
            let Some(cseq) = d.local_cseq.checked_add(1) else {
                return;
            };
            let request = redirected_invite(&previous, &target, &d.remote_uri, cseq);
            let from = previous.uri.to_string();
            let sent = self
                .hop_for_uri(&target)
                .and_then(|hop| self.send_request(now, request, hop, Purpose::Invite(dialog)));
            match sent {
                Ok(key) => {
                    self.invite_restarted(dialog, key, cseq);
                    let Some(d) = self.dialogs.get_mut(&dialog) else {
                        return;
                    };
                    if let Some(t) = d.targets.as_mut() {
                        t.followed = t.followed.saturating_add(1);
                    }
                    // A new target: whatever the previous one started is forgotten.
                    d.remote_target = target.clone();
                    d.peer_allows_update = false;
                    tracing::info!(status, %from, to = %target, "INVITE redirected");
                    self.emit(SipEvent::CallRedirected {
                        dialog,
                        status,
                        from,
                        to: target.to_string(),
                    });
                    return;
                }
                Err(e) => {
                    tracing::info!(%target, error = %e, "redirected INVITE not sent");
                    unroutable.push(format!("{target}: {e}"));
                }
            }
        }
    }
}

impl Endpoint {
    /// Our INVITE went out again as transaction `key` with `cseq` (to a redirect target or
    /// the next DNS target): the dialog follows the new transaction and forgets what the
    /// previous one had started (early dialog, route set, provisional, CANCEL).
    pub(crate) fn invite_restarted(
        &mut self,
        dialog: DialogId,
        key: crate::transaction::ClientTransactionKey,
        cseq: u32,
    ) {
        let sent = self.clients.get(&key).map(|e| (e.request.clone(), e.hop));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        d.local_cseq = cseq;
        d.invite_key = Some(key);
        if let Some((request, used_hop)) = sent {
            d.invite = Some(request);
            d.hop = used_hop;
        }
        d.state = DialogState::Calling;
        d.remote_tag = None;
        d.route_set.clear();
        d.got_provisional = false;
        d.cancel_sent = false;
    }
}

/// The INVITE for a redirect target, from the INVITE as last sent.
pub(crate) fn redirected_invite(
    previous: &Request,
    target: &Uri,
    to: &NameAddr,
    cseq: u32,
) -> Request {
    let mut request = previous.clone();
    request.uri = target.clone();
    // A new transaction gets its own Via; credentials were for the previous target.
    request.headers.remove(HeaderName::Via);
    request.headers.remove(HeaderName::Authorization);
    request.headers.remove(HeaderName::ProxyAuthorization);
    // RFC 3261 §8.1.3.4: the logical recipient (To) is unchanged, and no To tag: the
    // request is outside any dialog.
    request.headers.set(HeaderName::To, to.to_string());
    request.headers.set(
        HeaderName::CSeq,
        CSeq {
            seq: cseq,
            method: previous.method.clone(),
        }
        .to_string(),
    );
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> NameAddr {
        s.parse().unwrap()
    }

    #[test]
    fn q_values_parse_as_thousandths() {
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>")), 1000);
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>;q=0.5")), 500);
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>;q=0.123")), 123);
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>;q=1.000")), 1000);
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>;q=0")), 0);
        // Malformed values count as the default 1.
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>;q=2")), 1000);
        assert_eq!(q_thousandths(&addr("<sip:a@192.0.2.1>;q=0.5555")), 1000);
    }

    #[test]
    fn target_keys_ignore_case_and_default_port() {
        let a: Uri = "sip:bob@EXAMPLE.com".parse().unwrap();
        let b: Uri = "sip:bob@example.com:5060;transport=UDP".parse().unwrap();
        let c: Uri = "sip:bob@example.com:5070".parse().unwrap();
        assert_eq!(target_key(&a), target_key(&b));
        assert_ne!(target_key(&a), target_key(&c));
    }

    #[test]
    fn contacts_lose_method_and_headers_and_never_downgrade() {
        let c = addr("<sip:bob@192.0.2.1;method=INVITE?Subject=x>");
        assert_eq!(
            contact_use(&c, false),
            ContactUse::Target("sip:bob@192.0.2.1".parse().unwrap())
        );
        assert!(matches!(contact_use(&c, true), ContactUse::Skipped(_)));
        let tel = addr("<tel:+15551234>");
        assert!(matches!(contact_use(&tel, false), ContactUse::Skipped(_)));
    }
}
