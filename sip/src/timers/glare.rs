//! Glare back-off (RFC 3261 §14.1, RFC 3311 §5.2).

use std::time::Duration;

use rand::Rng;

/// RFC 3261 §14.1: after a 491 Request Pending, wait a random time before retrying the
/// re-INVITE (or UPDATE, RFC 3311 §5.2): 2.1-4 s if we own the Call-ID (we sent the
/// dialog-creating request), 0-2 s otherwise, in units of 10 ms.
pub fn glare_retry_delay<R: Rng + ?Sized>(owns_call_id: bool, rng: &mut R) -> Duration {
    let tens_of_ms = if owns_call_id {
        rng.random_range(210..=400u64)
    } else {
        rng.random_range(0..=200u64)
    };
    Duration::from_millis(tens_of_ms * 10)
}

/// RFC 3311 §5.2: a UAS that receives an offer in an UPDATE while it has not yet answered
/// a previous offer returns 500 with a Retry-After randomly chosen between 0 and 10 s.
pub fn pending_offer_retry_after<R: Rng + ?Sized>(rng: &mut R) -> u32 {
    rng.random_range(0..=10u32)
}
