//! Framing SIP on stream transports (TCP/TLS): Content-Length delimits messages
//! (RFC 3261 §18.3), with a size cap and RFC 5626 §4.4.1 CRLF keepalives.

use super::error::ParseError;
use super::model::Message;
use super::parse::{find_head_end, parse_head, Head};

/// Default cap on one message (head + body) on a stream, in bytes (64 KiB, the largest a
/// UDP datagram can be; RFC 3261 sets no limit on streams).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// What a stream yields.
///
/// New kinds of event may be added: match with a wildcard arm.
// Messages are the common case; boxing them to shrink the rare keepalive variants would
// cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A complete message, its body exactly Content-Length bytes (RFC 3261 §18.3).
    Message(Message),
    /// RFC 5626 §4.4.1: the peer sent a CRLFCRLF ping; answer with a CRLF pong.
    KeepalivePing,
    /// RFC 5626 §4.4.1: a CRLF pong answering our ping.
    KeepalivePong,
}

/// Incremental decoder: feed any byte chunks with [`StreamDecoder::push`], then call
/// [`StreamDecoder::next_event`] until it returns `Ok(None)`. After an error the stream
/// cannot be resynchronised: the caller closes the connection (RFC 4475 §3.1.2.3).
#[derive(Debug)]
pub struct StreamDecoder {
    buffer: Vec<u8>,
    /// Bytes of `buffer` already returned as events; dropped on the next push, so many
    /// messages in one read cost one move, not one each.
    start: usize,
    max_message_size: usize,
    /// Where to resume searching for the end of the head.
    scanned: usize,
    /// A parsed head waiting for its body: (head, head length, body length).
    pending: Option<(Head, usize, usize)>,
    failed: Option<ParseError>,
    /// The last event was a pong made of a CRLF that arrived alone; if another CRLF
    /// follows at once, the two were a ping split across reads.
    lone_crlf_pong: bool,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl StreamDecoder {
    /// A decoder that fails with [`ParseError::TooLarge`] when one message (head + body)
    /// would exceed `max_message_size` bytes, so a peer cannot make it buffer without end.
    pub fn new(max_message_size: usize) -> StreamDecoder {
        StreamDecoder {
            buffer: Vec::new(),
            start: 0,
            max_message_size,
            scanned: 0,
            pending: None,
            failed: None,
            lone_crlf_pong: false,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buffer.drain(..self.start.min(self.buffer.len()));
            self.start = 0;
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// Bytes held but not yet returned as an event.
    pub fn buffered(&self) -> usize {
        self.unread().len()
    }

    fn unread(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or(&[])
    }

    fn fail(&mut self, err: ParseError) -> Result<Option<StreamEvent>, ParseError> {
        tracing::debug!(error = %err, buffered = self.buffered(), "SIP stream framing failed; close the connection");
        self.buffer = Vec::new();
        self.start = 0;
        self.pending = None;
        self.failed = Some(err.clone());
        Err(err)
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, ParseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.pending.is_none() {
            // RFC 5626 §4.4.1 keepalives between messages: CRLFCRLF is a ping, a lone CRLF
            // a pong (RFC 3261 §7.5: CRLFs before a start line carry no message).
            let lone_crlf_before = std::mem::take(&mut self.lone_crlf_pong);
            if self.unread().starts_with(b"\r\n\r\n") {
                self.consume(4);
                return Ok(Some(StreamEvent::KeepalivePing));
            }
            if self.unread().starts_with(b"\r\n") {
                if lone_crlf_before {
                    // The second half of a ping whose first CRLF was already reported as a
                    // pong: report the ping too, so a server still answers it.
                    self.consume(2);
                    return Ok(Some(StreamEvent::KeepalivePing));
                }
                match self.unread().get(2) {
                    // Could be the start of a ping split across reads: wait.
                    Some(b'\r') if self.unread().len() < 4 => {
                        return Ok(None);
                    }
                    next => {
                        self.lone_crlf_pong = next.is_none();
                        self.consume(2);
                        return Ok(Some(StreamEvent::KeepalivePong));
                    }
                }
            }
            if self.unread().is_empty() {
                // Nothing new arrived: keep remembering the lone CRLF.
                self.lone_crlf_pong = lone_crlf_before;
                return Ok(None);
            }
            let Some(head_end) = find_head_end(self.unread(), self.scanned) else {
                if self.unread().len() > self.max_message_size {
                    return self.fail(ParseError::TooLarge {
                        limit: self.max_message_size,
                    });
                }
                // Resume a little before the end: the terminator may straddle chunks.
                self.scanned = self.unread().len().saturating_sub(3);
                return Ok(None);
            };
            let head = match parse_head(self.unread().get(..head_end).unwrap_or(&[])) {
                Ok(h) => h,
                Err(e) => return self.fail(e),
            };
            // RFC 3261 §18.3: Content-Length is mandatory on stream transports.
            let body_len = match head.headers.content_length() {
                Ok(Some(n)) => n,
                Ok(None) => return self.fail(ParseError::MissingContentLength),
                Err(e) => return self.fail(e),
            };
            let fits = match head_end.checked_add(body_len) {
                Some(total) => total <= self.max_message_size,
                None => false,
            };
            if !fits {
                return self.fail(ParseError::TooLarge {
                    limit: self.max_message_size,
                });
            }
            self.pending = Some((head, head_end, body_len));
        }
        let Some((_, head_len, body_len)) = &self.pending else {
            return Ok(None);
        };
        let total = head_len + body_len;
        if self.unread().len() < total {
            return Ok(None);
        }
        let body = self.unread().get(*head_len..total).unwrap_or(&[]).to_vec();
        let Some((head, _, _)) = self.pending.take() else {
            return Ok(None);
        };
        self.consume(total);
        Ok(Some(StreamEvent::Message(head.into_message(body))))
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buffer.len());
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        self.scanned = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:b@example.com SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";

    fn drain(d: &mut StreamDecoder) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        while let Some(e) = d.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn several_messages_and_keepalives_in_one_read() {
        let mut d = StreamDecoder::default();
        let mut input = b"\r\n\r\n".to_vec();
        input.extend_from_slice(MSG);
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(MSG);
        d.push(&input);
        let events = drain(&mut d);
        assert_eq!(events.len(), 4);
        assert_eq!(events[0], StreamEvent::KeepalivePing);
        assert!(matches!(&events[1], StreamEvent::Message(m) if m.body() == b"hello"));
        assert_eq!(events[2], StreamEvent::KeepalivePong);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn byte_at_a_time() {
        let mut d = StreamDecoder::default();
        let mut events = Vec::new();
        for b in MSG.iter().chain(MSG) {
            d.push(&[*b]);
            events.extend(drain(&mut d));
        }
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn split_ping_is_still_reported_as_ping() {
        let mut d = StreamDecoder::default();
        d.push(b"\r\n");
        assert_eq!(d.next_event(), Ok(Some(StreamEvent::KeepalivePong)));
        assert_eq!(d.next_event(), Ok(None));
        d.push(b"\r\n");
        assert_eq!(d.next_event(), Ok(Some(StreamEvent::KeepalivePing)));
        // Three bytes could still become a ping: wait for the fourth.
        d.push(b"\r\n\r");
        assert_eq!(d.next_event(), Ok(None));
        d.push(b"\n");
        assert_eq!(d.next_event(), Ok(Some(StreamEvent::KeepalivePing)));
        // A pong followed by a message is a pong.
        d.push(b"\r\n");
        d.push(MSG);
        assert_eq!(d.next_event(), Ok(Some(StreamEvent::KeepalivePong)));
        assert!(matches!(d.next_event(), Ok(Some(StreamEvent::Message(_)))));
    }

    #[test]
    fn missing_content_length_and_size_cap() {
        let mut d = StreamDecoder::default();
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n");
        assert_eq!(d.next_event(), Err(ParseError::MissingContentLength));
        assert_eq!(d.next_event(), Err(ParseError::MissingContentLength));

        let mut small = StreamDecoder::new(100);
        small.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        assert_eq!(small.next_event(), Err(ParseError::TooLarge { limit: 100 }));

        // The cap counts one message, not everything buffered.
        let mut many = StreamDecoder::new(MSG.len());
        many.push(&MSG.repeat(20));
        assert_eq!(drain(&mut many).len(), 20);

        let mut endless = StreamDecoder::new(100);
        endless.push(&[b'A'; 101]);
        assert_eq!(
            endless.next_event(),
            Err(ParseError::TooLarge { limit: 100 })
        );
    }
}
