//! One call's media, sans-IO: what to send each 20 ms and what to do with what arrives. The
//! caller decides *whether* a packet may leave (ICE gating) and *where* it goes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;

use super::dtmf::{DtmfReceiver, DtmfSender};
use super::g711::G711;
use super::rtcp::{Report, ReportBlock, SenderInfo, PT_RR, PT_SR};
use super::rtp::{is_rtcp, RtpPacket};
use super::source::{Source, FRAME_SAMPLES};
use super::stats::{MediaSummary, ReceiveStats};

/// RFC 3550 §6.2: the first report after half the minimum interval (5 s), then every 5 s.
const RTCP_FIRST: Duration = Duration::from_millis(2500);
const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// What the media session was set up with.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub codec: G711,
    /// Payload type of telephone-event (RFC 4733) if the peer accepted it.
    pub dtmf_payload_type: Option<u8>,
    pub source: Source,
    /// Digits to send once media flows.
    pub dtmf: Option<String>,
    /// Send back what arrives instead of the source.
    pub echo: bool,
    /// Keep the decoded received audio (for `--record`).
    pub record: bool,
}

/// What arrived in a datagram, for the caller's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Audio,
    Dtmf(char),
    Rtcp,
    Other,
}

pub struct MediaSession {
    config: MediaConfig,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    dtmf_sender: Option<DtmfSender>,
    dtmf_event_timestamp: u32,
    dtmf_receiver: DtmfReceiver,
    echo_queue: VecDeque<Vec<i16>>,
    recorded: Vec<i16>,
    stats: ReceiveStats,
    remote_ssrc: Option<u32>,
    start: Instant,
    next_rtcp: Instant,
    pub summary: MediaSummary,
    octets_sent: u32,
    /// Sending allowed by the negotiated direction (hold sets it false).
    pub sending: bool,
}

impl MediaSession {
    pub fn new(config: MediaConfig, now: Instant) -> MediaSession {
        let mut rng = rand::rng();
        let dtmf_sender = config
            .dtmf
            .as_deref()
            .and_then(|d| DtmfSender::new(d).ok())
            .filter(|_| config.dtmf_payload_type.is_some());
        let summary = MediaSummary {
            codec: config.codec.name().to_string(),
            ..MediaSummary::default()
        };
        MediaSession {
            config,
            // RFC 3550 §5.1: random SSRC, sequence and timestamp origins.
            ssrc: rng.random(),
            sequence: rng.random(),
            timestamp: rng.random(),
            dtmf_sender,
            dtmf_event_timestamp: 0,
            dtmf_receiver: DtmfReceiver::default(),
            echo_queue: VecDeque::new(),
            recorded: Vec::new(),
            stats: ReceiveStats::default(),
            remote_ssrc: None,
            start: now,
            next_rtcp: now + RTCP_FIRST,
            summary,
            octets_sent: 0,
            sending: true,
        }
    }

    /// Queues DTMF digits to send (after any still being sent). False when the peer did not
    /// negotiate telephone-event (RFC 4733 §7.1.1) or the digits are not valid.
    pub fn send_dtmf(&mut self, digits: &str) -> bool {
        if self.config.dtmf_payload_type.is_none() {
            return false;
        }
        match DtmfSender::new(digits) {
            Ok(sender) => {
                self.dtmf_sender = Some(sender);
                true
            }
            Err(_) => false,
        }
    }

    /// Sends this audio from the next frame on.
    pub fn set_source(&mut self, source: Source) {
        self.config.source = source;
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The gate is closed for this 20 ms slot: nothing leaves, and the frame is counted
    /// (RFC 8445 §12.1, RFC 8839 §7.1: no media before a valid, selected pair).
    pub fn hold_frame(&mut self) {
        self.summary.frames_held_before_selection += 1;
    }

    /// The RTP packet for this 20 ms slot (the gate is open). None when on hold.
    pub fn next_packet(&mut self) -> Option<Vec<u8>> {
        let ts = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        if !self.sending {
            return None;
        }
        let packet = match (
            self.dtmf_sender.as_mut().and_then(|s| s.next_slot()),
            self.config.dtmf_payload_type,
        ) {
            (Some(ev), Some(pt)) => {
                if ev.starts_new_event {
                    self.dtmf_event_timestamp = ts;
                }
                if ev.starts_new_event {
                    if let Some(d) = super::dtmf::event_digit(ev.payload.event) {
                        self.summary.dtmf_sent.push(d);
                    }
                }
                RtpPacket {
                    marker: ev.marker,
                    payload_type: pt,
                    sequence: self.sequence,
                    timestamp: self.dtmf_event_timestamp,
                    ssrc: self.ssrc,
                    payload: ev.payload.encode().to_vec(),
                }
            }
            _ => {
                let frame: Vec<i16> = if self.config.echo {
                    self.echo_queue
                        .pop_front()
                        .unwrap_or_else(|| vec![0; FRAME_SAMPLES])
                } else {
                    self.config.source.next_frame().to_vec()
                };
                RtpPacket {
                    marker: self.summary.rtp_sent == 0,
                    payload_type: self.config.codec.payload_type(),
                    sequence: self.sequence,
                    timestamp: ts,
                    ssrc: self.ssrc,
                    payload: self.config.codec.encode(&frame),
                }
            }
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.summary.rtp_sent += 1;
        self.octets_sent = self.octets_sent.wrapping_add(packet.payload.len() as u32);
        Some(packet.encode())
    }

    /// A datagram from the peer's media path (RTP or, with rtcp-mux, RTCP).
    pub fn on_datagram(&mut self, now: Instant, data: &[u8]) -> Received {
        if is_rtcp(data) {
            if Report::parse(data).is_ok() {
                self.summary.rtcp_received += 1;
                return Received::Rtcp;
            }
            return Received::Other;
        }
        let Ok(packet) = RtpPacket::parse(data) else {
            return Received::Other;
        };
        let arrival = (now.saturating_duration_since(self.start).as_micros() / 125) as u32;
        self.stats
            .on_packet(packet.sequence, packet.timestamp, arrival);
        self.remote_ssrc = Some(packet.ssrc);
        self.summary.rtp_received = self.stats.received;
        if Some(packet.payload_type) == self.config.dtmf_payload_type {
            return match self
                .dtmf_receiver
                .on_packet(packet.timestamp, &packet.payload)
            {
                Some(d) => {
                    self.summary.dtmf_received.push(d);
                    Received::Dtmf(d)
                }
                None => Received::Other,
            };
        }
        let Some(codec) = G711::from_payload_type(packet.payload_type) else {
            return Received::Other;
        };
        let samples = codec.decode(&packet.payload);
        if self.config.record {
            self.recorded.extend_from_slice(&samples);
        }
        if self.config.echo {
            self.echo_queue.push_back(samples);
            // Bound the queue: a peer sending faster than 50 packets a second is not echoed
            // beyond one second of backlog.
            while self.echo_queue.len() > 50 {
                self.echo_queue.pop_front();
            }
        }
        Received::Audio
    }

    /// An RTCP report when one is due (RFC 3550 §6.4: SR if we sent, else RR).
    pub fn poll_rtcp(&mut self, now: Instant) -> Option<Vec<u8>> {
        if now < self.next_rtcp {
            return None;
        }
        self.next_rtcp = now + RTCP_INTERVAL;
        Some(self.report(now))
    }

    /// The next time `poll_rtcp` has something.
    pub fn next_rtcp_at(&self) -> Instant {
        self.next_rtcp
    }

    pub fn report(&mut self, now: Instant) -> Vec<u8> {
        let blocks = self
            .remote_ssrc
            .map(|ssrc| {
                vec![ReportBlock {
                    ssrc,
                    fraction_lost: 0,
                    cumulative_lost: self.stats.lost().min(0x7F_FFFF) as i32,
                    highest_sequence: self.stats.expected() as u32,
                    jitter: self.stats.jitter(),
                    last_sr: 0,
                    delay_since_last_sr: 0,
                }]
            })
            .unwrap_or_default();
        let sender = (self.summary.rtp_sent > 0).then(|| SenderInfo {
            ntp_timestamp: ntp_now(),
            rtp_timestamp: self.timestamp,
            packet_count: self.summary.rtp_sent as u32,
            octet_count: self.octets_sent,
        });
        let _ = now;
        self.summary.rtcp_sent += 1;
        let report = Report {
            ssrc: self.ssrc,
            sender,
            blocks,
        };
        debug_assert!(matches!(report.encode()[1], PT_SR | PT_RR));
        report.encode()
    }

    pub fn recorded(&self) -> &[i16] {
        &self.recorded
    }

    pub fn dtmf_done(&self) -> bool {
        self.dtmf_sender.as_ref().is_none_or(|s| s.is_done())
    }

    /// Final figures.
    pub fn finish(&mut self) -> MediaSummary {
        self.summary.rtp_received = self.stats.received;
        self.summary.lost = self.stats.lost();
        self.summary.jitter_ms = f64::from(self.stats.jitter()) / 8.0;
        self.summary.clone()
    }
}

/// RFC 3550 §4: NTP timestamp (seconds since 1900 in the upper 32 bits).
fn ntp_now() -> u64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_unix.as_secs() + 2_208_988_800;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(source: Source) -> MediaConfig {
        MediaConfig {
            codec: G711::Ulaw,
            dtmf_payload_type: Some(101),
            source,
            dtmf: None,
            echo: false,
            record: true,
        }
    }

    #[test]
    fn packets_flow_and_are_counted() {
        let t0 = Instant::now();
        let mut a = MediaSession::new(config(Source::tone(800.0)), t0);
        let mut b = MediaSession::new(config(Source::Silence), t0);
        for i in 0..50u32 {
            let p = a.next_packet().unwrap();
            assert_eq!(p.len(), 12 + 160);
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            assert_eq!(b.on_datagram(at, &p), Received::Audio);
        }
        let s = b.finish();
        assert_eq!(s.rtp_received, 50);
        assert_eq!(s.lost, 0);
        assert!(super::super::goertzel::tone_ratio(b.recorded(), 800.0, 8000.0) > 0.9);
        assert_eq!(a.finish().rtp_sent, 50);
    }

    #[test]
    fn hold_stops_packets_and_rtcp_is_sr_after_sending() {
        let t0 = Instant::now();
        let mut a = MediaSession::new(config(Source::Silence), t0);
        assert!(a.poll_rtcp(t0).is_none());
        let rr = a.poll_rtcp(t0 + RTCP_FIRST).unwrap();
        assert_eq!(rr[1], PT_RR);
        a.next_packet().unwrap();
        a.sending = false;
        assert!(a.next_packet().is_none());
        assert_eq!(a.report(t0)[1], PT_SR);
    }

    #[test]
    fn dtmf_is_sent_and_received() {
        let t0 = Instant::now();
        let mut cfg = config(Source::Silence);
        cfg.dtmf = Some("5*".into());
        let mut a = MediaSession::new(cfg, t0);
        let mut b = MediaSession::new(config(Source::Silence), t0);
        for _ in 0..40 {
            let p = a.next_packet().unwrap();
            b.on_datagram(t0, &p);
        }
        assert!(a.dtmf_done());
        assert_eq!(a.finish().dtmf_sent, "5*");
        assert_eq!(b.finish().dtmf_received, "5*");
    }
}
