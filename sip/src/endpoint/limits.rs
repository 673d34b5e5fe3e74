//! Bounded server transactions: a cap in total and per source IP, so a flood of new
//! requests costs a fixed amount of memory. A request over the cap gets a stateless 503 with
//! Retry-After (RFC 3261 §21.5.4) and leaves no state behind.

use std::collections::HashMap;
use std::net::IpAddr;

/// Caps on the server transactions the endpoint keeps at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Server transactions alive at once, from every source.
    pub max_transactions: usize,
    /// Server transactions alive at once from one source IP address.
    pub max_per_source: usize,
    /// Seconds in the Retry-After of the 503 sent over a cap.
    pub retry_after: u32,
}

/// Default [`ServerLimits::max_transactions`]: a softphone rarely has more than a handful
/// open; at about 4 KB each this bounds them to ~16 MB.
pub const DEFAULT_MAX_SERVER_TRANSACTIONS: usize = 4096;
/// Default [`ServerLimits::max_per_source`].
pub const DEFAULT_MAX_SERVER_TRANSACTIONS_PER_SOURCE: usize = 1024;
/// Default [`ServerLimits::retry_after`].
pub const DEFAULT_OVERLOAD_RETRY_AFTER: u32 = 5;

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_transactions: DEFAULT_MAX_SERVER_TRANSACTIONS,
            max_per_source: DEFAULT_MAX_SERVER_TRANSACTIONS_PER_SOURCE,
            retry_after: DEFAULT_OVERLOAD_RETRY_AFTER,
        }
    }
}

/// Which cap a new request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overload {
    Total,
    Source,
}

/// Live server transactions per source address.
#[derive(Debug, Default)]
pub(crate) struct SourceCounts {
    counts: HashMap<IpAddr, usize>,
}

impl SourceCounts {
    pub fn get(&self, source: IpAddr) -> usize {
        self.counts.get(&source).copied().unwrap_or(0)
    }

    pub fn add(&mut self, source: IpAddr) {
        *self.counts.entry(source).or_insert(0) += 1;
    }

    pub fn remove(&mut self, source: IpAddr) {
        if let Some(n) = self.counts.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&source);
            }
        }
        // A flood from many sources must not leave a large empty table behind.
        if self.counts.capacity() > 64 && self.counts.len() < self.counts.capacity() / 8 {
            self.counts.shrink_to_fit();
        }
    }

    /// Whether one more transaction from `source` (with `total` alive) goes over a cap.
    pub fn check(&self, limits: &ServerLimits, total: usize, source: IpAddr) -> Option<Overload> {
        if total >= limits.max_transactions {
            Some(Overload::Total)
        } else if self.get(source) >= limits.max_per_source {
            Some(Overload::Source)
        } else {
            None
        }
    }
}
