//! The call's outbox: handlers queue what goes out (the agent's transmits, plain RTP/RTCP
//! without ICE) instead of awaiting a socket, and the loop drains it after each input.

use std::collections::VecDeque;
use std::net::SocketAddr;

use ice::agent::TurnTransport;

/// Datagrams (and TURN stream messages) waiting to be sent, in order.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    queue: VecDeque<ice::Transmit>,
    /// RTP/RTCP datagrams queued so far (RFC 7983 first byte), counted when queued so the
    /// RFC 8445 §12.1 gate check does not depend on when the outbox is drained.
    pub(super) media_queued: u64,
}

impl Outbox {
    /// Queues a transmit of the ICE agent (or a plain datagram), counting media.
    pub(super) fn push(&mut self, t: ice::Transmit) {
        // What a socket would count: a datagram whose first byte says RTP/RTCP; a message
        // on a TURN stream is framed for the server, never media on the wire.
        if !t.transport.is_stream()
            && matches!(
                ice::agent::classify(&t.data),
                ice::agent::PacketKind::Rtp | ice::agent::PacketKind::Rtcp
            )
        {
            self.media_queued += 1;
        }
        self.queue.push_back(t);
    }

    /// Without ICE: a datagram from our base `from` to `to`.
    pub(super) fn push_plain(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.push(ice::Transmit {
            from,
            to,
            data,
            transport: TurnTransport::Udp,
        });
    }

    pub(super) fn pop(&mut self) -> Option<ice::Transmit> {
        self.queue.pop_front()
    }
}

/// The first media socket of `component` among `bases` ((component, address), bind order).
pub(super) fn first_base(bases: &[(u16, SocketAddr)], component: u16) -> Option<SocketAddr> {
    bases.iter().find(|(c, _)| *c == component).map(|(_, a)| *a)
}
