//! DTMF as RTP events (RFC 4733 §2.3): the sender's packet schedule and the receiver's
//! de-duplication.

use thiserror::Error;

/// RFC 4733 §3.2: event codes 0-9, * = 10, # = 11, A-D = 12-15.
pub fn event_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

pub fn event_digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some(char::from(b'0' + code)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtmfError {
    #[error("`{0}` is not a DTMF digit (0-9, *, #, A-D)")]
    BadDigit(char),
    #[error("telephone-event payload of {0} bytes, expected at least 4 (RFC 4733 §2.3)")]
    TooShort(usize),
}

/// The 4-byte event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl EventPayload {
    pub fn encode(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    pub fn parse(data: &[u8]) -> Result<EventPayload, DtmfError> {
        let b = data.get(..4).ok_or(DtmfError::TooShort(data.len()))?;
        Ok(EventPayload {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

/// One packet the sender emits in a 20 ms slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: EventPayload,
    /// RFC 4733 §2.5.1.1: the first packet of an event carries the marker bit.
    pub marker: bool,
    /// RFC 4733 §2.3.1: every packet of one event carries the event's start timestamp.
    pub starts_new_event: bool,
}

/// Digit length and inter-digit gap, in 20 ms slots.
const TONE_SLOTS: u16 = 5;
const GAP_SLOTS: u16 = 3;
/// RFC 4733 §2.5.1.4: the end packet is sent three times.
const END_REPEATS: u16 = 3;
/// Plays a digit string as RFC 4733 events, one call to `next_slot` per 20 ms.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    digits: Vec<u8>,
    index: usize,
    slot: u16,
    /// RFC 4733 §2.5.1.3: durations count in the event's RTP clock: 160 per 20 ms at 8000
    /// Hz, 960 at 48000 Hz (telephone-event/48000 next to Opus).
    samples_per_slot: u16,
}

impl DtmfSender {
    /// Digits as telephone-event/8000.
    pub fn new(digits: &str) -> Result<DtmfSender, DtmfError> {
        DtmfSender::with_clock(digits, 8000)
    }

    /// Digits as telephone-event at `clock_rate` Hz (8000 or 48000; a longer digit at 48000
    /// would still fit the 16-bit duration: 5 slots × 960).
    pub fn with_clock(digits: &str, clock_rate: u32) -> Result<DtmfSender, DtmfError> {
        let codes = digits
            .chars()
            .map(|c| event_code(c).ok_or(DtmfError::BadDigit(c)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DtmfSender {
            digits: codes,
            index: 0,
            slot: 0,
            samples_per_slot: u16::try_from(clock_rate / 50).unwrap_or(160),
        })
    }

    pub fn is_done(&self) -> bool {
        self.index >= self.digits.len()
    }

    /// What to send in this 20 ms slot: an event packet, or None (a gap: send audio).
    pub fn next_slot(&mut self) -> Option<EventPacket> {
        let event = *self.digits.get(self.index)?;
        let slot = self.slot;
        self.slot += 1;
        let total = TONE_SLOTS + END_REPEATS + GAP_SLOTS;
        if self.slot >= total {
            self.slot = 0;
            self.index += 1;
        }
        if slot < TONE_SLOTS + END_REPEATS {
            let end = slot >= TONE_SLOTS - 1;
            let duration = self.samples_per_slot * (slot.min(TONE_SLOTS - 1) + 1);
            Some(EventPacket {
                payload: EventPayload {
                    event,
                    end,
                    volume: 10,
                    duration,
                },
                marker: slot == 0,
                starts_new_event: slot == 0,
            })
        } else {
            None
        }
    }
}

/// Turns received event packets into digits, once per event (RFC 4733 §2.5.2: the end
/// packet may arrive up to three times; the RTP timestamp identifies the event).
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    last_event_timestamp: Option<u32>,
    pub digits: String,
}

impl DtmfReceiver {
    /// Returns the digit when this packet ends an event not reported yet.
    pub fn on_packet(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = EventPayload::parse(payload).ok()?;
        if !ev.end || self.last_event_timestamp == Some(rtp_timestamp) {
            return None;
        }
        self.last_event_timestamp = Some(rtp_timestamp);
        let digit = event_digit(ev.event)?;
        self.digits.push(digit);
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc4733_table() {
        assert_eq!(event_code('0'), Some(0));
        assert_eq!(event_code('9'), Some(9));
        assert_eq!(event_code('*'), Some(10));
        assert_eq!(event_code('#'), Some(11));
        assert_eq!(event_code('d'), Some(15));
        assert_eq!(event_code('x'), None);
        for c in 0..16 {
            assert_eq!(event_code(event_digit(c).unwrap()), Some(c));
        }
    }

    #[test]
    fn payload_round_trip() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(p.encode(), [11, 0x8A, 3, 32]);
        assert_eq!(EventPayload::parse(&p.encode()).unwrap(), p);
        assert_eq!(EventPayload::parse(&[1, 2]), Err(DtmfError::TooShort(2)));
    }

    #[test]
    fn sender_schedule_and_receiver_dedupe() {
        let mut tx = DtmfSender::new("1#").unwrap();
        let mut rx = DtmfReceiver::default();
        let mut ts = 0u32;
        let mut event_ts = 0u32;
        let mut markers = 0;
        let mut ends = 0;
        let mut got = Vec::new();
        for _ in 0..40 {
            if let Some(p) = tx.next_slot() {
                if p.starts_new_event {
                    event_ts = ts;
                }
                markers += usize::from(p.marker);
                ends += usize::from(p.payload.end);
                if let Some(d) = rx.on_packet(event_ts, &p.payload.encode()) {
                    got.push(d);
                }
            }
            ts += 160;
        }
        assert!(tx.is_done());
        assert_eq!(markers, 2);
        // Each digit: the final-duration packet plus three end repeats carry E.
        assert_eq!(ends, 8);
        assert_eq!(got, vec!['1', '#']);
        assert_eq!(rx.digits, "1#");
        assert_eq!(
            DtmfSender::new("12x").unwrap_err(),
            DtmfError::BadDigit('x')
        );
    }

    #[test]
    fn durations_count_in_the_event_clock() {
        // RFC 4733 §2.5.1.3: a 100 ms digit is 800 units at 8000 Hz, 4800 at 48000 Hz.
        for (clock, last) in [(8000, 800), (48000, 4800)] {
            let mut tx = DtmfSender::with_clock("5", clock).unwrap();
            let durations: Vec<u16> = (0..8)
                .filter_map(|_| tx.next_slot())
                .map(|p| p.payload.duration)
                .collect();
            let step = last / 5;
            assert_eq!(durations[..5], [step, 2 * step, 3 * step, 4 * step, last]);
            assert!(durations[5..].iter().all(|d| *d == last), "end repeats");
        }
    }
}
