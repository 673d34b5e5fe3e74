//! Lifetimes and refresh margins of TURN state (RFC 8656).

use std::time::Duration;

/// LIFETIME asked for in Allocate and Refresh: the RFC 8656 §7.2 default of 600 s.
pub const REQUESTED_LIFETIME: Duration = Duration::from_secs(600);

/// RFC 8656 §8 suggests refreshing an allocation about one minute before it expires. The
/// same margin is used for permissions and channels.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// RFC 8656 §9: a permission lives 300 s (not negotiable).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);

/// RFC 8656 §12: a channel binding lives 600 s.
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// How many 438 Stale Nonce answers one request may get before it is given up (no loop).
pub const MAX_STALE_NONCE_RETRIES: u8 = 3;

/// When to refresh state that lives `lifetime`: [`REFRESH_MARGIN`] early, or at half-life when
/// the lifetime is too short for that margin.
pub fn refresh_delay(lifetime: Duration) -> Duration {
    if lifetime > REFRESH_MARGIN * 2 {
        lifetime - REFRESH_MARGIN
    } else {
        lifetime / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_a_minute_early_or_at_half_life() {
        assert_eq!(
            refresh_delay(Duration::from_secs(600)),
            Duration::from_secs(540)
        );
        assert_eq!(refresh_delay(PERMISSION_LIFETIME), Duration::from_secs(240));
        assert_eq!(
            refresh_delay(Duration::from_secs(100)),
            Duration::from_secs(50)
        );
        assert_eq!(refresh_delay(Duration::ZERO), Duration::ZERO);
    }
}
