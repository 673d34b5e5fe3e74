//! The `sip` crate's local failures in words: no peer sent their status, so the reason must
//! say what happened (RFC 3261 §8.1.3.1: a timeout or a transport error counts as a 408).

use sip::endpoint::{RegistrationFailure, TransportFailure, TransportKind};

use crate::sip_driver::ICMP_PORT_UNREACHABLE;

/// The status the TU treats a timeout or a transport error as (RFC 3261 §8.1.3.1).
pub(super) const LOCAL_TIMEOUT: u16 = 408;

/// RFC 3261 §18.4: a transport failure toward the peer, e.g. "nothing is listening at
/// 127.0.0.1:5099 (ICMP port unreachable)".
pub(super) fn transport(failure: &TransportFailure) -> String {
    if failure.transport == TransportKind::Udp && failure.detail == ICMP_PORT_UNREACHABLE {
        format!(
            "nothing is listening at {} ({ICMP_PORT_UNREACHABLE})",
            failure.dest
        )
    } else if failure.transport == TransportKind::Tls && failure.detail.starts_with("TLS to ") {
        // The driver's words already name the address, the verified name and the reason,
        // e.g. "TLS to 203.0.113.10:5061 (pbx.test): certificate not valid: UnknownIssuer".
        failure.detail.clone()
    } else {
        format!(
            "cannot reach {} over {}: {}",
            failure.dest,
            failure.transport.as_str(),
            failure.detail
        )
    }
}

/// A failed REGISTER as `(status, reason, local)`.
pub(super) fn registration(reason: &RegistrationFailure) -> (u16, String, bool) {
    match reason {
        RegistrationFailure::Status { status, reason } => (*status, reason.clone(), false),
        RegistrationFailure::Timeout => (
            LOCAL_TIMEOUT,
            "no response from the registrar within 64*T1 (Timer F)".into(),
            true,
        ),
        RegistrationFailure::Transport(failure) => (LOCAL_TIMEOUT, transport(failure), true),
        // The detail already reads "401 Unauthorized: <why the challenge was not answered>".
        RegistrationFailure::Auth(detail) => (401, detail.clone(), true),
        RegistrationFailure::IntervalTooBrief => (
            423,
            "Interval Too Brief, without a Min-Expires above the interval asked for".into(),
            false,
        ),
        // RegistrationFailure is #[non_exhaustive]: a reason added to the sip crate later is
        // reported in its own words, as a local failure (no status of the registrar's).
        other => (
            LOCAL_TIMEOUT,
            format!("the registration failed: {other:?}"),
            true,
        ),
    }
}
