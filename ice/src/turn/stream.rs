//! Cutting the byte stream to a TURN server over TCP or TLS into whole messages.
//!
//! Over a stream, message boundaries come from the messages themselves: a STUN message is its
//! 20-byte header plus the header's length (RFC 8489 §6.2.2), a ChannelData message its 4-byte
//! header plus the length rounded up to a multiple of 4 (RFC 8656 §12.5). A read may hold
//! several messages or part of one; the deframer keeps the rest for the next read.
//!
//! Anything else at a message boundary means the stream is out of step: nothing after it can
//! be trusted, so the deframer fails for good and the caller closes the connection.

use crate::stun::{HEADER_LEN, MAGIC_COOKIE};

/// RFC 8656 §12.4: the ChannelData header is a channel number and a length, 2 bytes each.
const CHANNEL_HEADER_LEN: usize = 4;

/// Why the stream cannot be cut into messages any more.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamFramingError {
    /// RFC 7983 / RFC 8656 §12.5: only STUN (0b00) and ChannelData (0b01) travel to a TURN
    /// client; anything else is garbage.
    #[error("byte {byte:#04x} at a message boundary starts neither STUN nor ChannelData")]
    UnknownMessage {
        /// The first byte found at the boundary.
        byte: u8,
    },
    /// RFC 8489 §5: a STUN header without the magic cookie.
    #[error("STUN header without the magic cookie 0x2112A442")]
    BadCookie,
    /// RFC 8489 §5: the length of a STUN message is a multiple of 4.
    #[error("STUN length {length} is not a multiple of 4")]
    BadLength {
        /// The length field of the header.
        length: usize,
    },
    /// RFC 8656 §12: channel numbers are 0x4000-0x4FFF; 0x5000-0x7FFF are reserved.
    #[error("ChannelData channel number {channel:#06x} outside 0x4000-0x4FFF")]
    BadChannel {
        /// The channel number read.
        channel: u16,
    },
}

/// Fed the bytes read from the stream, yields whole STUN and ChannelData messages.
///
/// It never holds more than one incomplete message (at most 65 555 bytes) plus the bytes of
/// the last `push` not yet taken: drain it with [`StreamDeframer::next_message`] after each
/// push.
#[derive(Debug, Default)]
pub struct StreamDeframer {
    buffer: Vec<u8>,
    /// Start of the bytes not yet handed out.
    start: usize,
    failed: Option<StreamFramingError>,
}

impl StreamDeframer {
    /// A deframer for a new connection (empty buffer).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes as read from the stream, in order.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        // Drop what was handed out before growing, so the buffer stays one message long.
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message (a ChannelData message with its padding), `Ok(None)` when more
    /// bytes are needed, or the error that ended the stream (again on every later call).
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, StreamFramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let rest = self.buffer.get(self.start..).unwrap_or_default();
        let length = match message_length(rest) {
            Ok(Some(length)) => length,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::debug!(error = %e, "TURN stream out of step");
                self.failed = Some(e.clone());
                self.buffer.clear();
                self.start = 0;
                return Err(e);
            }
        };
        let Some(message) = rest.get(..length) else {
            return Ok(None);
        };
        let message = message.to_vec();
        self.start += length;
        Ok(Some(message))
    }

    /// Bytes received but not yet part of a whole message.
    pub fn pending(&self) -> usize {
        self.buffer.len().saturating_sub(self.start)
    }
}

/// The length of the message at the start of `bytes`, once its header is there.
fn message_length(bytes: &[u8]) -> Result<Option<usize>, StreamFramingError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    match first >> 6 {
        // RFC 8489 §6.2.2: over TCP the length field gives the message's end.
        0b00 => {
            let Some(header) = bytes.get(..HEADER_LEN) else {
                return Ok(None);
            };
            if header.get(4..8) != Some(&MAGIC_COOKIE.to_be_bytes()[..]) {
                return Err(StreamFramingError::BadCookie);
            }
            let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
            if !length.is_multiple_of(4) {
                return Err(StreamFramingError::BadLength { length });
            }
            Ok(Some(HEADER_LEN + length))
        }
        // RFC 8656 §12.5: over TCP and TLS, ChannelData is padded to a multiple of 4 bytes,
        // and the padding is not counted in the length field.
        0b01 => {
            let Some(header) = bytes.get(..CHANNEL_HEADER_LEN) else {
                return Ok(None);
            };
            let channel = u16::from_be_bytes([header[0], header[1]]);
            if !crate::stun::CHANNEL_NUMBERS.contains(&channel) {
                return Err(StreamFramingError::BadChannel { channel });
            }
            let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
            Ok(Some(CHANNEL_HEADER_LEN + length.next_multiple_of(4)))
        }
        _ => Err(StreamFramingError::UnknownMessage { byte: first }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{encode_channel_data, Attribute, Class, Message, Method, TransactionId};

    fn stun(n: u8) -> Vec<u8> {
        Message::new(Class::Success, Method::Allocate, TransactionId([n; 12]))
            .with(Attribute::Lifetime(600))
            .encode(None, true)
    }

    fn drain(d: &mut StreamDeframer) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| d.next_message().expect("well framed")).collect()
    }

    #[test]
    fn concatenated_messages_come_out_one_by_one() {
        let a = stun(1);
        let b = encode_channel_data(0x4001, b"hello", true);
        let c = stun(2);
        let mut d = StreamDeframer::new();
        d.push(&[a.clone(), b.clone(), c.clone()].concat());
        assert_eq!(drain(&mut d), vec![a, b, c]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn messages_split_anywhere_are_joined() {
        let a = stun(3);
        let b = encode_channel_data(0x4FFF, b"odd", true);
        let stream = [a.clone(), b.clone()].concat();
        for cut in 0..=stream.len() {
            let mut d = StreamDeframer::new();
            let (x, y) = stream.split_at(cut);
            d.push(x);
            let mut got = drain(&mut d);
            d.push(y);
            got.extend(drain(&mut d));
            assert_eq!(got, vec![a.clone(), b.clone()], "cut at {cut}");
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let a = encode_channel_data(0x4000, b"", true);
        let b = stun(4);
        let stream = [a.clone(), b.clone()].concat();
        let mut d = StreamDeframer::new();
        let mut got = Vec::new();
        for byte in &stream {
            d.push(std::slice::from_ref(byte));
            got.extend(drain(&mut d));
        }
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn channel_data_padding_is_consumed_with_its_message() {
        let padded = encode_channel_data(0x4002, b"12345", true);
        assert_eq!(padded.len(), 12);
        let mut d = StreamDeframer::new();
        d.push(&padded);
        d.push(&stun(5));
        assert_eq!(drain(&mut d), vec![padded, stun(5)]);
    }

    #[test]
    fn garbage_fails_for_good_without_hanging() {
        let cases: [(&[u8], StreamFramingError); 4] = [
            (
                b"\x80\x00 an RTP packet",
                StreamFramingError::UnknownMessage { byte: 0x80 },
            ),
            (
                &[0xFF; 3],
                StreamFramingError::UnknownMessage { byte: 0xFF },
            ),
            (
                &[0x50, 0x00, 0x00, 0x04, 1, 2, 3, 4],
                StreamFramingError::BadChannel { channel: 0x5000 },
            ),
            (&[0u8; 20], StreamFramingError::BadCookie),
        ];
        for (garbage, expected) in cases {
            let mut d = StreamDeframer::new();
            d.push(&stun(6));
            d.push(garbage);
            assert_eq!(d.next_message(), Ok(Some(stun(6))));
            assert_eq!(d.next_message(), Err(expected.clone()));
            // Stays failed; more bytes change nothing and nothing is buffered.
            d.push(&stun(7));
            assert_eq!(d.next_message(), Err(expected));
            assert_eq!(d.pending(), 0);
        }
        // Text that happens to start like ChannelData ('G' = 0x47: channel 0x4745) waits for
        // its claimed length (at most 65 535 + 3 bytes), like any partial message.
        let mut d = StreamDeframer::new();
        d.push(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(d.next_message(), Ok(None));
        let mut odd = stun(8);
        odd[3] = 2;
        let mut d = StreamDeframer::new();
        d.push(&odd);
        assert_eq!(
            d.next_message(),
            Err(StreamFramingError::BadLength { length: 2 })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_always_make_progress() {
        // A cheap deterministic generator: every call either yields, waits or fails.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut d = StreamDeframer::new();
            let mut bytes = Vec::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                bytes.push((x & 0xFF) as u8);
            }
            d.push(&bytes);
            let mut steps = 0;
            while let Ok(Some(_)) = d.next_message() {
                steps += 1;
                assert!(steps <= bytes.len(), "no progress");
            }
        }
    }
}
