//! How a TURN client reaches its server (RFC 8656 §3.1: UDP, TCP or TLS-over-TCP).
//!
//! Whatever the transport to the server, the allocation relays UDP (REQUESTED-TRANSPORT 17,
//! RFC 8656 §7.1) and its relayed candidate is a UDP candidate. The crate does no TLS: to it
//! TCP and TLS are the same reliable byte stream, which the caller opens, secures and feeds
//! (see [`StreamDeframer`](super::StreamDeframer)).

use std::fmt;

/// The transport between a TURN client and its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TurnTransport {
    /// Datagrams from the host socket the allocation belongs to.
    #[default]
    Udp,
    /// One TCP connection per allocation.
    Tcp,
    /// One TLS-over-TCP connection per allocation (the caller does the TLS).
    Tls,
}

impl TurnTransport {
    /// TCP and TLS are reliable byte streams: no STUN retransmissions (RFC 8489 §6.2.2),
    /// framed messages, padded ChannelData (RFC 8656 §12.5).
    pub fn is_stream(self) -> bool {
        !matches!(self, TurnTransport::Udp)
    }

    /// `udp`, `tcp` or `tls`, as in `--turn-transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls => "tls",
        }
    }
}

impl fmt::Display for TurnTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
