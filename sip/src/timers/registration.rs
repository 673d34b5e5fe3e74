//! REGISTER timing (RFC 3261 §10.2).

use std::time::Duration;

use thiserror::Error;

/// How long before the binding expires we re-register, at most. 64 s leaves room for one
/// REGISTER to run into Timer F (64·T1 = 32 s) and a second attempt to complete.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(64);

/// When to refresh a binding granted for `expires`: `expires − min(expires / 2,
/// REFRESH_MARGIN)`. Long registrations refresh 64 s before expiry; short ones at half
/// time, so a 60 s binding refreshes after 30 s. `None` for expires = 0 (unregistered).
pub fn refresh_delay(expires: Duration) -> Option<Duration> {
    if expires.is_zero() {
        return None;
    }
    Some(expires - (expires / 2).min(REFRESH_MARGIN))
}

/// The expiry the registrar granted (RFC 3261 §10.2.4): the `expires` parameter of our
/// Contact in the 2xx, else the 2xx's Expires header, else what we asked for.
pub fn granted_expires(
    contact_expires: Option<u32>,
    expires_header: Option<u32>,
    requested: u32,
) -> u32 {
    contact_expires.or(expires_header).unwrap_or(requested)
}

/// A 423 that cannot be honoured (RFC 3261 §10.2.8).
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IntervalTooBriefError {
    /// RFC 3261 §20.23: a 423 MUST carry Min-Expires.
    #[error("423 without Min-Expires")]
    MissingMinExpires,
    /// Min-Expires is not above what we asked for, so retrying would loop.
    #[error("Min-Expires {min_expires} does not exceed the requested {requested}")]
    NotLarger {
        /// What we asked for.
        requested: u32,
        /// What the registrar demands.
        min_expires: u32,
    },
}

/// RFC 3261 §10.2.8: after 423 Interval Too Brief, retry with an expiration at least
/// Min-Expires. Returns the Expires value for the retry.
pub fn expires_after_interval_too_brief(
    requested: u32,
    min_expires: Option<u32>,
) -> Result<u32, IntervalTooBriefError> {
    let min_expires = min_expires.ok_or(IntervalTooBriefError::MissingMinExpires)?;
    if min_expires <= requested {
        return Err(IntervalTooBriefError::NotLarger {
            requested,
            min_expires,
        });
    }
    Ok(min_expires)
}
