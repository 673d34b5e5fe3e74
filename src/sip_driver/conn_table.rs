//! Which peer connections to close: the caps in total and per IP (oldest idle first), the
//! idle timeout and the header-completion timeout. Pure bookkeeping; the loop closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use sip::endpoint::ConnId;

use super::limits::Limits;

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    OverTotalCap,
    OverIpCap,
    Idle,
    IncompleteMessage,
}

#[derive(Debug, Clone)]
struct Entry {
    ip: IpAddr,
    /// Accepted from a peer (counted and timed out for idleness); ours are neither.
    inbound: bool,
    last_read: Instant,
    /// When the bytes of a still incomplete message began to arrive.
    partial_since: Option<Instant>,
}

/// Every open connection the loop knows of.
#[derive(Debug, Default)]
pub(crate) struct ConnTable {
    entries: HashMap<ConnId, Entry>,
}

impl ConnTable {
    pub fn insert(&mut self, conn: ConnId, ip: IpAddr, inbound: bool, now: Instant) {
        self.entries.insert(
            conn,
            Entry {
                ip,
                inbound,
                last_read: now,
                partial_since: None,
            },
        );
    }

    pub fn remove(&mut self, conn: ConnId) {
        self.entries.remove(&conn);
    }

    /// Bytes arrived; `buffered` are those of an incomplete message left afterwards.
    pub fn on_read(&mut self, conn: ConnId, now: Instant, buffered: usize) {
        if let Some(e) = self.entries.get_mut(&conn) {
            e.last_read = now;
            e.partial_since = match (buffered, e.partial_since) {
                (0, _) => None,
                (_, Some(since)) => Some(since),
                (_, None) => Some(now),
            };
        }
    }

    /// The connections to close so that `new`, just accepted from `ip`, fits the caps:
    /// the least recently active of the same IP, then of all; connections a transaction or
    /// dialog uses (`in_use`) go last.
    pub fn make_room(
        &self,
        new: ConnId,
        ip: IpAddr,
        limits: &Limits,
        in_use: impl Fn(ConnId) -> bool,
    ) -> Vec<(ConnId, CloseReason)> {
        let mut inbound: Vec<(bool, Instant, ConnId, IpAddr)> = self
            .entries
            .iter()
            .filter(|(c, e)| e.inbound && **c != new)
            .map(|(c, e)| (in_use(*c), e.last_read, *c, e.ip))
            .collect();
        // Oldest idle first; ties by id, for a deterministic order.
        inbound.sort_by_key(|(busy, at, c, _)| (*busy, *at, c.0));
        let mut victims = Vec::new();
        let same_ip = inbound.iter().filter(|x| x.3 == ip).count();
        let over_ip = (same_ip + 1).saturating_sub(limits.tcp_max_connections_per_ip);
        for x in inbound.iter().filter(|x| x.3 == ip).take(over_ip) {
            victims.push((x.2, CloseReason::OverIpCap));
        }
        let left = inbound.len() - victims.len();
        let over_total = (left + 1).saturating_sub(limits.tcp_max_connections);
        let rest: Vec<ConnId> = inbound
            .iter()
            .map(|x| x.2)
            .filter(|c| !victims.iter().any(|v| v.0 == *c))
            .take(over_total)
            .collect();
        victims.extend(rest.into_iter().map(|c| (c, CloseReason::OverTotalCap)));
        victims
    }

    /// Connections past a timeout at `now`.
    pub fn expired(
        &self,
        now: Instant,
        limits: &Limits,
        in_use: impl Fn(ConnId) -> bool,
    ) -> Vec<(ConnId, CloseReason)> {
        let mut out = Vec::new();
        for (conn, e) in &self.entries {
            let late = |since: Instant, limit| now.saturating_duration_since(since) >= limit;
            if e.partial_since
                .is_some_and(|since| late(since, limits.tcp_header_timeout))
            {
                out.push((*conn, CloseReason::IncompleteMessage));
            } else if e.inbound && late(e.last_read, limits.tcp_idle_timeout) && !in_use(*conn) {
                out.push((*conn, CloseReason::Idle));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(total: usize, per_ip: usize) -> Limits {
        Limits {
            tcp_max_connections: total,
            tcp_max_connections_per_ip: per_ip,
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_header_timeout: Duration::from_secs(2),
            ..Limits::default()
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn per_ip_cap_closes_the_oldest_of_that_ip() {
        let t0 = Instant::now();
        let mut table = ConnTable::default();
        for n in 0..3u64 {
            table.insert(ConnId(n), ip(1), true, t0 + Duration::from_secs(n));
        }
        table.insert(ConnId(9), ip(2), true, t0);
        table.insert(ConnId(3), ip(1), true, t0 + Duration::from_secs(5));
        let victims = table.make_room(ConnId(3), ip(1), &limits(100, 3), |_| false);
        assert_eq!(victims, vec![(ConnId(0), CloseReason::OverIpCap)]);
    }

    #[test]
    fn total_cap_closes_the_oldest_idle_of_any_ip_sparing_busy_ones() {
        let t0 = Instant::now();
        let mut table = ConnTable::default();
        for n in 0..4u64 {
            table.insert(ConnId(n), ip(n as u8), true, t0 + Duration::from_secs(n));
        }
        // Our own connection to a proxy never counts.
        table.insert(ConnId(50), ip(1), false, t0);
        table.insert(ConnId(4), ip(9), true, t0 + Duration::from_secs(9));
        let busy = |c: ConnId| c == ConnId(0);
        let victims = table.make_room(ConnId(4), ip(9), &limits(4, 4), busy);
        assert_eq!(victims, vec![(ConnId(1), CloseReason::OverTotalCap)]);
    }

    #[test]
    fn idle_and_incomplete_messages_time_out() {
        let t0 = Instant::now();
        let mut table = ConnTable::default();
        table.insert(ConnId(1), ip(1), true, t0);
        table.insert(ConnId(2), ip(1), true, t0);
        table.insert(ConnId(3), ip(1), true, t0);
        table.insert(ConnId(4), ip(1), false, t0);
        // Slowloris: a byte a second, never complete.
        for s in 1..=3 {
            table.on_read(ConnId(2), t0 + Duration::from_secs(s), s as usize);
        }
        // Busy: a transaction uses it.
        let busy = |c: ConnId| c == ConnId(3);
        let lim = limits(10, 10);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            table.expired(at(2), &lim, busy),
            vec![] as Vec<(ConnId, CloseReason)>
        );
        assert_eq!(
            table.expired(at(3), &lim, busy),
            vec![(ConnId(2), CloseReason::IncompleteMessage)]
        );
        let mut late = table.expired(at(11), &lim, busy);
        late.sort_by_key(|x| x.0 .0);
        assert_eq!(
            late,
            vec![
                (ConnId(1), CloseReason::Idle),
                (ConnId(2), CloseReason::IncompleteMessage)
            ]
        );
        table.on_read(ConnId(2), at(11), 0);
        assert!(table
            .expired(at(12), &lim, busy)
            .iter()
            .all(|x| x.0 != ConnId(2)));
    }
}
