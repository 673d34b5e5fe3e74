//! What a transaction asks its driver to do.

use bytes::Bytes;

/// One instruction from a transaction (or from [`super::TwoXxRetransmitter`]) to the layer
/// that owns the transport and the TU. Actions are returned in the order they must run.
///
/// New actions may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Hand these bytes to the transport, addressed like the original message.
    Transmit(Bytes),
    /// Pass the message that was just fed in (response, or ACK for a 2xx) up to the TU.
    PassToTu,
    /// RFC 3261 §17.1.1.3: the non-2xx final response just received must be acknowledged
    /// in this transaction (same branch). The layer above builds the ACK and hands it in
    /// with [`super::InviteClient::send_ack`]; the transaction transmits it and resends it
    /// for each retransmission of the final response.
    SendAckForNon2xx,
    /// RFC 3261 §17.2.1: the TU has not responded within 200 ms; build a 100 (Trying) and
    /// hand it in with [`super::InviteServer::send_response`].
    Send100Trying,
    /// A transaction timer expired without the awaited message. For Timers B and F the TU
    /// treats it as a 408 (RFC 3261 §8.1.3.1); Timer H means the ACK never came; for the
    /// 2xx retransmitter the TU should end the session with a BYE (RFC 3261 §13.3.1.4).
    Timeout(TimeoutKind),
    /// RFC 3261 §17.1.4 / §17.2.4: the transport reported a failure; inform the TU.
    TransportError,
    /// The transaction reached the Terminated state and can be dropped.
    Terminated,
}

/// Which timer produced an [`Action::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// INVITE client: no response within 64·T1.
    TimerB,
    /// Non-INVITE client: no final response within 64·T1.
    TimerF,
    /// INVITE server: no ACK for the non-2xx final response within 64·T1.
    TimerH,
    /// UAS core: no ACK for the 2xx within 64·T1 (RFC 3261 §13.3.1.4).
    NoAckFor2xx,
}
