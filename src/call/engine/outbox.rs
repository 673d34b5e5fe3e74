//! What the call core has for the outside world, in the order it happened: datagrams to send
//! (the agent's transmits, plain RTP/RTCP without ICE), commands for the SIP user agent and
//! events for the user. Handlers queue them; the driver polls them (`CallCore::poll_output`)
//! and moves them to the sockets, the user agent and the emitter.

use std::collections::VecDeque;
use std::net::SocketAddr;

use ice::agent::TurnTransport;

use crate::events::Event;
use crate::signalling::UaCommand;

/// One output of the call core.
#[derive(Debug)]
pub enum Output {
    /// A datagram (or a message on a TURN stream) to send from one of the call's bases.
    Transmit(ice::Transmit),
    /// A command for the SIP user agent (the dialog).
    Sip(UaCommand),
    /// An event for the user (`events::Emitter`).
    Event(Event),
}

/// The queue of outputs, with the media count the outcome reports.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    queue: VecDeque<Output>,
    /// RTP/RTCP datagrams queued so far (RFC 7983 first byte), counted when queued so the
    /// RFC 8445 §12.1 gate check does not depend on when the outbox is drained.
    pub(super) media_queued: u64,
}

impl Outbox {
    pub(super) fn push(&mut self, output: Output) {
        self.queue.push_back(output);
    }

    /// Queues a transmit of the ICE agent (or a plain datagram), counting media.
    pub(super) fn push_transmit(&mut self, t: ice::Transmit) {
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
        self.queue.push_back(Output::Transmit(t));
    }

    /// Without ICE: a datagram from our base `from` to `to`.
    pub(super) fn push_plain(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.push_transmit(ice::Transmit {
            from,
            to,
            data,
            transport: TurnTransport::Udp,
        });
    }

    pub(super) fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }
}

/// The first media socket of `component` among `bases` ((component, address), bind order).
pub(super) fn first_base(bases: &[(u16, SocketAddr)], component: u16) -> Option<SocketAddr> {
    bases.iter().find(|(c, _)| *c == component).map(|(_, a)| *a)
}
