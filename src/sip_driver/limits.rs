//! What a remote party may make the driver hold: TCP connections, their write queues and
//! timeouts, the UDP receive buffer, and (passed on to the endpoint) server transactions.
//! Every figure has a default sized for a softphone; each can be set by a flag or TOML key.

use std::time::Duration;

use sip::endpoint::ServerLimits;

/// Bounds on the resources the SIP driver gives to peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections peers opened to our listener, at once (ours to a proxy do not count).
    pub tcp_max_connections: usize,
    /// Of those, from one IP address.
    pub tcp_max_connections_per_ip: usize,
    /// A peer's connection with nothing received for this long, and no transaction or
    /// dialog using it, is closed.
    pub tcp_idle_timeout: Duration,
    /// A message whose first byte arrived this long ago but which is still incomplete
    /// (slowloris) closes its connection.
    pub tcp_header_timeout: Duration,
    /// A write that has not completed in this long closes the connection (a peer that does
    /// not read), as Kamailio's `tcp_send_timeout`.
    pub tcp_send_timeout: Duration,
    /// Bytes waiting to be written on one connection; one more closes it.
    pub tcp_max_write_queue: usize,
    /// SO_RCVBUF asked for the UDP socket (the kernel may give less); 0 leaves the system
    /// default.
    pub udp_receive_buffer: usize,
    /// Server transactions in total and per source (the endpoint's caps).
    pub server: ServerLimits,
}

pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 512;
pub const DEFAULT_TCP_MAX_CONNECTIONS_PER_IP: usize = 128;
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_TCP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_TCP_SEND_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_TCP_MAX_WRITE_QUEUE: usize = 256 * 1024;
pub const DEFAULT_UDP_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            tcp_max_connections_per_ip: DEFAULT_TCP_MAX_CONNECTIONS_PER_IP,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_header_timeout: DEFAULT_TCP_HEADER_TIMEOUT,
            tcp_send_timeout: DEFAULT_TCP_SEND_TIMEOUT,
            tcp_max_write_queue: DEFAULT_TCP_MAX_WRITE_QUEUE,
            udp_receive_buffer: DEFAULT_UDP_RECEIVE_BUFFER,
            server: ServerLimits::default(),
        }
    }
}

impl Limits {
    /// How often the connection timeouts are checked: a quarter of the shortest, between
    /// 10 ms and 1 s.
    pub(crate) fn sweep_period(&self) -> Duration {
        let shortest = self.tcp_idle_timeout.min(self.tcp_header_timeout);
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}
