//! One call's media, sans-IO: what to send each 20 ms and what to do with what arrives. The
//! caller decides *whether* a packet may leave (ICE gating) and *where* it goes.

use super::wav_writer::WavWriter;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::codec::CodecSpec;
use super::codec_path::{ReceivePath, SendPath};
use super::device::PlaybackSink;
use super::dtmf::{DtmfReceiver, DtmfSender};
use super::round_trip::{round_trip, LastSenderReport, NtpClock, RoundTripStats};
use super::rtcp::{random_cname, Report, ReportBlock, SenderInfo, PT_RR, PT_SR};
use super::rtcp_interval::{
    update_avg_rtcp_size, IntervalInputs, G711_RTCP_BANDWIDTH, INITIAL_AVG_RTCP_SIZE,
};
use super::rtp::{is_rtcp, RtpPacket};
use super::source::{Source, FRAME_SAMPLES};
use super::stats::{MediaSummary, ReceiveStats};

/// Echo backlog bound: one second of 8 kHz audio.
const ECHO_MAX_SAMPLES: usize = 8000;

/// The codecs of the stream, from offer/answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCodecs {
    /// The codec we send: the negotiated payload type, and for Opus the peer's `fmtp`
    /// wishes (RFC 7587 §7). Its RTP clock times our packets and SRs.
    pub send: CodecSpec,
    /// Every audio format the peer may send (RFC 3264 §6.1: any of the negotiated ones);
    /// empty means just `send`.
    pub receive: Vec<CodecSpec>,
    /// Payload type of telephone-event (RFC 4733) we send, if the peer accepted it.
    pub dtmf_payload_type: Option<u8>,
    /// The RTP clock of that telephone-event format (8000, or 48000 next to Opus).
    pub dtmf_clock_rate: u32,
    /// Every telephone-event payload type the peer may send (8000 and 48000 Hz ones).
    pub dtmf_receive_payload_types: Vec<u8>,
}

impl SessionCodecs {
    /// `send` both ways, with telephone-event/8000 on `dtmf_payload_type`.
    pub fn single(send: CodecSpec, dtmf_payload_type: Option<u8>) -> SessionCodecs {
        SessionCodecs {
            receive: vec![send.clone()],
            send,
            dtmf_payload_type,
            dtmf_clock_rate: 8000,
            dtmf_receive_payload_types: dtmf_payload_type.into_iter().collect(),
        }
    }

    fn receive_list(&self) -> Vec<CodecSpec> {
        if self.receive.is_empty() {
            vec![self.send.clone()]
        } else {
            self.receive.clone()
        }
    }
}

/// What the media session was set up with.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The negotiated codecs.
    pub codecs: SessionCodecs,
    pub source: Source,
    /// Digits to send once media flows.
    pub dtmf: Option<String>,
    /// Send back what arrives instead of the source.
    pub echo: bool,
    /// Keep the decoded received audio in memory (`CallOutcome::recorded`, the demo's
    /// tone check). `--record FILE` streams to a [`WavWriter`] instead.
    pub record: bool,
    /// Measure the level of every frame sent and received (the console's meter): off for
    /// calls nobody watches, so they do not pay for it per packet.
    pub meter: bool,
}

/// What arrived in a datagram, for the caller's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Audio,
    Dtmf(char),
    Rtcp,
    Other,
}

/// The encoder for `spec`, or `None` (with a warning) when it cannot start: then nothing is
/// sent rather than a codec the peer did not agree to.
fn start_sending(spec: &CodecSpec) -> Option<SendPath> {
    SendPath::new(spec)
        .map_err(|e| tracing::warn!("cannot send {}: {e}; no audio goes out", spec.kind))
        .ok()
}

/// The level (dBFS, `media::level`) of the last audio frame sent and received; `None`
/// before the first.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Levels {
    pub sent_dbfs: Option<f32>,
    pub received_dbfs: Option<f32>,
}

pub struct MediaSession {
    config: MediaConfig,
    /// Source frames to the codec; `None` when the codec could not start (nothing is sent).
    send: Option<SendPath>,
    /// The peer's packets back to 8 kHz audio, with concealment of losses.
    receive: ReceivePath,
    /// The previous slot's frame was not sent (Opus DTX): the next one carries the marker
    /// bit (RFC 3551 §4.1).
    after_silence: bool,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    dtmf_sender: Option<DtmfSender>,
    dtmf_event_timestamp: u32,
    dtmf_receiver: DtmfReceiver,
    /// Received 8 kHz samples waiting to be echoed.
    echo_queue: VecDeque<i16>,
    recorded: Vec<i16>,
    /// `--record FILE`: received audio streamed to disk as it arrives.
    recorder: Option<WavWriter>,
    /// A sound device playing the received audio (`media::device::playback`).
    playback: Option<PlaybackSink>,
    stats: ReceiveStats,
    remote_ssrc: Option<u32>,
    start: Instant,
    next_rtcp: Instant,
    /// Draws the SSRC and sequence/timestamp origins and the RTCP interval randomisation.
    rng: StdRng,
    /// RFC 7022 §4.2 CNAME for our SDES: a random per-session identifier.
    cname: String,
    /// NTP time for our SRs and for the arrival of the peer's report blocks.
    ntp: NtpClock,
    /// The level of the last audio frame we sent and received, for the console's meter.
    levels: Levels,
    /// The peer's last SR, echoed in our report blocks (LSR/DLSR).
    peer_sr: LastSenderReport,
    /// Round trips from the peer's report blocks about our SSRC.
    round_trips: RoundTripStats,
    /// RFC 3550 §6.3.3 average RTCP packet size (octets with UDP/IP headers).
    avg_rtcp_size: f64,
    pub summary: MediaSummary,
    octets_sent: u32,
    /// Every RTP packet sent, audio and RFC 4733 (the SR's packet count, RFC 3550 §6.4.1).
    packets_sent: u64,
    /// `packets_sent` when the previous report and the one before it were built.
    rtp_sent_at_reports: [u64; 2],
    /// Sending allowed by the negotiated direction (hold sets it false).
    pub sending: bool,
}

impl MediaSession {
    pub fn new(config: MediaConfig, now: Instant) -> MediaSession {
        MediaSession::with_clock(
            config,
            now,
            NtpClock::from_system_time(now),
            StdRng::from_rng(&mut rand::rng()),
        )
    }

    /// A session whose NTP clock and randomness the caller chooses (tests: a fixed seed and
    /// virtual time give the same SSRC, report times and report contents every run).
    pub fn with_clock(
        config: MediaConfig,
        now: Instant,
        ntp: NtpClock,
        mut rng: StdRng,
    ) -> MediaSession {
        let dtmf_sender = config
            .dtmf
            .as_deref()
            .and_then(|d| DtmfSender::with_clock(d, config.codecs.dtmf_clock_rate).ok())
            .filter(|_| config.codecs.dtmf_payload_type.is_some());
        let summary = MediaSummary {
            codec: config.codecs.send.kind.encoding_name().to_string(),
            ..MediaSummary::default()
        };
        let send = start_sending(&config.codecs.send);
        let receive = ReceivePath::new(config.codecs.receive_list());
        let ssrc = rng.random();
        let sequence = rng.random();
        let timestamp = rng.random();
        let cname = random_cname(&mut rng);
        let mut session = MediaSession {
            config,
            send,
            receive,
            after_silence: false,
            // RFC 3550 §5.1: random SSRC, sequence and timestamp origins.
            ssrc,
            sequence,
            timestamp,
            dtmf_sender,
            dtmf_event_timestamp: 0,
            dtmf_receiver: DtmfReceiver::default(),
            echo_queue: VecDeque::new(),
            recorded: Vec::new(),
            recorder: None,
            playback: None,
            stats: ReceiveStats::default(),
            remote_ssrc: None,
            start: now,
            next_rtcp: now,
            rng,
            cname,
            ntp,
            levels: Levels::default(),
            peer_sr: LastSenderReport::default(),
            round_trips: RoundTripStats::default(),
            avg_rtcp_size: INITIAL_AVG_RTCP_SIZE,
            summary,
            octets_sent: 0,
            packets_sent: 0,
            rtp_sent_at_reports: [0; 2],
            sending: true,
        };
        session.next_rtcp = now + session.rtcp_interval();
        session
    }

    /// RFC 3550 §6.3.1: the randomised interval to the next report, from what we know of
    /// the session now (§6.2: the first one, before any report was sent, shorter).
    fn rtcp_interval(&mut self) -> Duration {
        let peer_heard = self.remote_ssrc.is_some() || self.summary.rtcp_received > 0;
        let we_sent = self.is_active_sender();
        let peer_sends = self.stats.received_since_last_report() > 0;
        let inputs = IntervalInputs {
            members: 1 + u32::from(peer_heard),
            senders: u32::from(we_sent) + u32::from(peer_sends),
            rtcp_bandwidth: G711_RTCP_BANDWIDTH,
            we_sent,
            avg_rtcp_size: self.avg_rtcp_size,
            initial: self.summary.rtcp_sent == 0,
        };
        inputs.randomised(&mut self.rng)
    }

    /// Queues DTMF digits to send (after any still being sent). False when the peer did not
    /// negotiate telephone-event (RFC 4733 §7.1.1) or the digits are not valid.
    pub fn send_dtmf(&mut self, digits: &str) -> bool {
        if self.config.codecs.dtmf_payload_type.is_none() {
            return false;
        }
        match DtmfSender::with_clock(digits, self.config.codecs.dtmf_clock_rate) {
            Ok(sender) => {
                self.dtmf_sender = Some(sender);
                true
            }
            Err(_) => false,
        }
    }

    /// New codecs from a later offer/answer: a changed send codec gets a fresh encoder (the
    /// RTP timestamps go on counting in the new codec's clock); the receiver decodes the new
    /// list from the next packet.
    pub fn set_codecs(&mut self, codecs: SessionCodecs) {
        if codecs.send != self.config.codecs.send {
            self.send = start_sending(&codecs.send);
            self.summary.codec = codecs.send.kind.encoding_name().to_string();
        }
        self.receive.set_formats(codecs.receive_list());
        self.config.codecs = codecs;
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

    /// A 20 ms slot that came too late to send (`clock::MediaClock`): the RTP timestamp and
    /// the source advance as if it had been sent, the sequence number does not (RFC 3550
    /// §5.1: the timestamp follows the sampling clock, the sequence counts packets sent).
    pub fn skip_frame(&mut self) {
        self.timestamp = self.timestamp.wrapping_add(self.timestamp_step());
        if self.config.echo {
            self.next_echo_frame();
        } else {
            self.config.source.next_frame();
        }
    }

    /// RTP timestamp units per 20 ms: the codec's clock, not its sample rate (160 for
    /// G.722, RFC 3551 §4.5.2; 960 for Opus, RFC 7587 §4.1).
    fn timestamp_step(&self) -> u32 {
        self.config.codecs.send.kind.timestamp_step()
    }

    /// RTP clock units per millisecond of the codec we send.
    fn send_clock_per_ms(&self) -> f64 {
        f64::from(self.config.codecs.send.kind.clock_rate()) / 1000.0
    }

    /// 160 samples of received audio to echo (silence while none are queued).
    fn next_echo_frame(&mut self) -> Vec<i16> {
        if self.echo_queue.len() < FRAME_SAMPLES {
            return vec![0; FRAME_SAMPLES];
        }
        self.echo_queue.drain(..FRAME_SAMPLES).collect()
    }

    /// The level of the last audio frame sent and received (the console's meter).
    pub fn levels(&self) -> Levels {
        self.levels
    }

    /// The RTP packet for this 20 ms slot (the gate is open). None when on hold, and for an
    /// Opus DTX frame (nothing to send in silence, RFC 7587 §3.1.3).
    pub fn next_packet(&mut self) -> Option<Vec<u8>> {
        let ts = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(self.timestamp_step());
        if !self.sending {
            return None;
        }
        let packet = match (
            self.dtmf_sender.as_mut().and_then(|s| s.next_slot()),
            self.config.codecs.dtmf_payload_type,
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
                self.summary.dtmf_packets_sent += 1;
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
                    self.next_echo_frame()
                } else {
                    self.config.source.next_frame().to_vec()
                };
                if self.config.meter {
                    self.levels.sent_dbfs = Some(super::level::dbfs(&frame));
                }
                let send = self.send.as_mut()?;
                let payload = match send.encode(&frame) {
                    Ok(p) if !p.is_empty() => p,
                    Ok(_) => {
                        self.after_silence = true;
                        return None;
                    }
                    Err(e) => {
                        tracing::debug!("frame not encoded: {e}");
                        return None;
                    }
                };
                self.summary.rtp_sent += 1;
                // RFC 3551 §4.1: the marker bit on the first packet, and on the first after
                // a silence the sender did not send.
                let marker = self.packets_sent == 0 || self.after_silence;
                self.after_silence = false;
                RtpPacket {
                    marker,
                    payload_type: send.spec().payload_type,
                    sequence: self.sequence,
                    timestamp: ts,
                    ssrc: self.ssrc,
                    payload,
                }
            }
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.packets_sent += 1;
        self.octets_sent = self.octets_sent.wrapping_add(packet.payload.len() as u32);
        Some(packet.encode())
    }

    /// A datagram from the peer's media path (RTP or, with rtcp-mux, RTCP).
    pub fn on_datagram(&mut self, now: Instant, data: &[u8]) -> Received {
        if is_rtcp(data) {
            return match Report::parse(data) {
                Ok(report) => {
                    self.on_report(now, &report, data.len());
                    Received::Rtcp
                }
                Err(_) => Received::Other,
            };
        }
        let Ok(packet) = RtpPacket::parse(data) else {
            return Received::Other;
        };
        let codecs = &self.config.codecs;
        let is_event = Some(packet.payload_type) == codecs.dtmf_payload_type
            || codecs
                .dtmf_receive_payload_types
                .contains(&packet.payload_type);
        // RFC 3550 A.8: arrival in the RTP clock units of the packet's codec.
        let clock = codecs
            .receive_list()
            .iter()
            .find(|c| c.payload_type == packet.payload_type)
            .map_or(codecs.send.kind.clock_rate(), |c| c.kind.clock_rate());
        let arrival = (now.saturating_duration_since(self.start).as_micros() * u128::from(clock)
            / 1_000_000) as u32;
        // RFC 4733 §2.5.1.3: an event's packets repeat its start timestamp, so they would
        // read as jitter; only audio feeds the RFC 3550 A.8 estimate.
        let timing = (!is_event).then_some((packet.timestamp, arrival));
        self.stats.on_packet(packet.sequence, timing);
        self.remote_ssrc = Some(packet.ssrc);
        if is_event {
            self.summary.dtmf_packets_received += 1;
        }
        self.summary.rtp_received = self
            .stats
            .received
            .saturating_sub(self.summary.dtmf_packets_received);
        if is_event {
            self.receive.on_event_sequence(packet.sequence);
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
        let Some(decoded) =
            self.receive
                .on_packet(packet.payload_type, packet.sequence, &packet.payload)
        else {
            return Received::Other;
        };
        self.summary.concealed_frames += decoded.concealed;
        self.summary.fec_frames += decoded.fec;
        // 8 kHz whatever the codec (`codec_path`): recordings and echo stay narrowband.
        let samples = decoded.samples;
        if self.config.meter {
            self.levels.received_dbfs = Some(super::level::dbfs(&samples));
        }
        if self.config.record {
            self.recorded.extend_from_slice(&samples);
        }
        if let Some(recorder) = &mut self.recorder {
            if let Err(e) = recorder.write_samples(&samples) {
                tracing::warn!("recording to {} stopped: {e}", recorder.path().display());
                self.recorder = None;
            }
        }
        if let Some(sink) = &self.playback {
            let clock = self.receive.clock_rate().unwrap_or(clock);
            sink.push(now, clock, packet.sequence, packet.timestamp, &samples);
        }
        if self.config.echo {
            self.echo_queue.extend(samples);
            // Bound the queue: a peer sending faster than we send is not echoed beyond one
            // second of backlog.
            let excess = self.echo_queue.len().saturating_sub(ECHO_MAX_SAMPLES);
            self.echo_queue.drain(..excess);
        }
        Received::Audio
    }

    /// The peer's SR or RR (the first packet of its compound RTCP packet).
    fn on_report(&mut self, now: Instant, report: &Report, len: usize) {
        self.summary.rtcp_received += 1;
        self.avg_rtcp_size = update_avg_rtcp_size(self.avg_rtcp_size, len);
        if let Some(sender) = &report.sender {
            // RFC 3550 §6.4.1: remembered for the LSR/DLSR of our next report block.
            self.peer_sr.on_sender_report(sender.ntp_timestamp, now);
        }
        let arrival_ntp = self.ntp.at(now);
        for block in report.blocks.iter().filter(|b| b.ssrc == self.ssrc) {
            self.summary.remote_fraction_lost = Some(f64::from(block.fraction_lost) / 256.0);
            self.summary.remote_lost = Some(i64::from(block.cumulative_lost));
            // The peer's jitter of our stream counts in our codec's clock.
            self.summary.remote_jitter_ms =
                Some(f64::from(block.jitter) / self.send_clock_per_ms());
            // RFC 3550 §6.4.1: RTT = A − LSR − DLSR, when the peer has had one of our SRs.
            if let Some(rtt) = round_trip(arrival_ntp, block.last_sr, block.delay_since_last_sr) {
                self.round_trips.add(rtt);
                self.summary.rtt_ms = self.round_trips.mean_ms();
                self.summary.rtt_min_ms = self.round_trips.min_ms();
                self.summary.rtt_last_ms = self.round_trips.last_ms();
            }
        }
    }

    /// An RTCP report when one is due (RFC 3550 §6.4: SR if we sent, else RR), then the
    /// next one is scheduled a fresh randomised interval later (§6.3.6).
    pub fn poll_rtcp(&mut self, now: Instant) -> Option<Vec<u8>> {
        if now < self.next_rtcp {
            return None;
        }
        let report = self.report(now);
        self.next_rtcp = now + self.rtcp_interval();
        Some(report)
    }

    /// The next time `poll_rtcp` has something.
    pub fn next_rtcp_at(&self) -> Instant {
        self.next_rtcp
    }

    /// RFC 3550 §6.3.8 / §6.4: an active sender (SR, sender bandwidth share) has sent RTP
    /// since the report before the previous one; on hold we fall back to RRs.
    fn is_active_sender(&self) -> bool {
        self.packets_sent > self.rtp_sent_at_reports[1]
    }

    /// Builds our SR or RR now (RFC 3550 §6.4) and starts the next loss interval.
    pub fn report(&mut self, now: Instant) -> Vec<u8> {
        // RFC 3550 §6.4: a block only about a source heard from since the last report.
        let heard_since_last = self.stats.received_since_last_report() > 0;
        let blocks = match self.remote_ssrc.filter(|_| heard_since_last) {
            Some(ssrc) => {
                let (last_sr, delay_since_last_sr) = self.peer_sr.lsr_dlsr(now);
                // RFC 3550 §6.4.1 / A.3: the report block's fields.
                vec![ReportBlock {
                    ssrc,
                    fraction_lost: self.stats.take_fraction_lost(),
                    cumulative_lost: self.stats.cumulative_lost_24(),
                    highest_sequence: self.stats.extended_max(),
                    jitter: self.stats.jitter(),
                    last_sr,
                    delay_since_last_sr,
                }]
            }
            None => Vec::new(),
        };
        let sender = self.is_active_sender().then(|| SenderInfo {
            ntp_timestamp: self.ntp.at(now),
            rtp_timestamp: self.timestamp,
            packet_count: self.packets_sent as u32,
            octet_count: self.octets_sent,
        });
        self.summary.rtcp_sent += 1;
        self.rtp_sent_at_reports = [self.packets_sent, self.rtp_sent_at_reports[0]];
        let report = Report {
            ssrc: self.ssrc,
            sender,
            blocks,
        };
        // RFC 3550 §6.1: a compound packet: the report first, then SDES with the CNAME.
        let bytes = report.encode_compound(&self.cname);
        debug_assert!(matches!(bytes[1], PT_SR | PT_RR));
        // RFC 3550 §6.3.3: our own packets count in the average size too.
        self.avg_rtcp_size = update_avg_rtcp_size(self.avg_rtcp_size, bytes.len());
        bytes
    }

    pub fn recorded(&self) -> &[i16] {
        &self.recorded
    }

    /// Streams the received audio to `writer` from now on.
    pub fn set_recorder(&mut self, writer: WavWriter) {
        self.recorder = Some(writer);
    }

    /// Plays the received audio on a sound device from now on.
    pub fn set_playback(&mut self, sink: PlaybackSink) {
        self.playback = Some(sink);
    }

    /// The recorder, to finish it when the call ends.
    pub fn take_recorder(&mut self) -> Option<WavWriter> {
        self.recorder.take()
    }

    pub fn dtmf_done(&self) -> bool {
        self.dtmf_sender.as_ref().is_none_or(|s| s.is_done())
    }

    /// Final figures.
    pub fn finish(&mut self) -> MediaSummary {
        self.summary.rtp_received = self
            .stats
            .received
            .saturating_sub(self.summary.dtmf_packets_received);
        self.summary.lost = self.stats.lost();
        // A.8 jitter counts in the clock of the codec received (G.722: 8000, RFC 3551
        // §4.5.2; Opus: 48000).
        let clock = self
            .receive
            .clock_rate()
            .unwrap_or(self.config.codecs.send.kind.clock_rate());
        self.summary.jitter_ms = f64::from(self.stats.jitter()) / (f64::from(clock) / 1000.0);
        self.summary.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::CodecKind;

    fn config(source: Source) -> MediaConfig {
        MediaConfig {
            codecs: SessionCodecs::single(CodecSpec::new(CodecKind::Pcmu, 0), Some(101)),
            source,
            dtmf: None,
            echo: false,
            record: true,
            meter: false,
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
        let rr = a.poll_rtcp(a.next_rtcp_at()).unwrap();
        assert_eq!(rr[1], PT_RR);
        a.next_packet().unwrap();
        a.sending = false;
        assert!(a.next_packet().is_none());
        assert_eq!(a.report(t0)[1], PT_SR);
        // RFC 3550 §6.3.8: still a sender at the next report (sent since the one before the
        // previous), no longer at the one after.
        assert_eq!(a.report(t0)[1], PT_SR);
        assert_eq!(a.report(t0)[1], PT_RR);
        a.sending = true;
        a.next_packet().unwrap();
        assert_eq!(a.report(t0)[1], PT_SR);
    }

    fn seeded(cfg: MediaConfig, t0: Instant, ntp_origin: u64, seed: u64) -> MediaSession {
        MediaSession::with_clock(
            cfg,
            t0,
            NtpClock::new(t0, ntp_origin),
            StdRng::seed_from_u64(seed),
        )
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn report_block_carries_the_rfc_3550_figures_of_the_interval() {
        let t0 = Instant::now();
        let mut a = seeded(config(Source::Silence), t0, 1 << 40, 1);
        let mut b = seeded(config(Source::Silence), t0, 2 << 40, 2);
        let mut first_seq = None;
        let mut last_seq = 0u16;
        // 100 packets, every fourth one lost on the way.
        for i in 0..100u64 {
            let p = a.next_packet().unwrap();
            let seq = RtpPacket::parse(&p).unwrap().sequence;
            first_seq.get_or_insert(seq);
            last_seq = seq;
            if i % 4 != 1 {
                b.on_datagram(t0 + ms(20 * i), &p);
            }
        }
        let first_seq = first_seq.unwrap();
        let report = Report::parse(&b.report(t0 + ms(2000))).unwrap();
        assert!(report.sender.is_none(), "b sent nothing: an RR");
        let block = report.blocks[0];
        assert_eq!(block.ssrc, a.ssrc());
        // RFC 3550 A.3: 25 of 100 lost → (25 << 8) / 100.
        assert_eq!(block.fraction_lost, 64);
        assert_eq!(block.cumulative_lost, 25);
        // The extended highest sequence number, not the expected count.
        let wrapped = u32::from(last_seq < first_seq);
        assert_eq!(
            block.highest_sequence,
            (wrapped << 16) | u32::from(last_seq)
        );
        // No SR from a yet: LSR and DLSR are 0.
        assert_eq!((block.last_sr, block.delay_since_last_sr), (0, 0));
        // Nothing arrived since: the next report has no block (RFC 3550 §6.4).
        assert!(Report::parse(&b.report(t0 + ms(4000)))
            .unwrap()
            .blocks
            .is_empty());
    }

    #[test]
    fn round_trip_from_an_sr_rr_exchange_in_virtual_time() {
        let t0 = Instant::now();
        let mut a = seeded(config(Source::Silence), t0, 0xE000_0000_1234_0000, 3);
        let mut b = seeded(config(Source::Silence), t0, 0x0100_0000_0000_0000, 4);
        for i in 0..10u64 {
            let pa = a.next_packet().unwrap();
            let pb = b.next_packet().unwrap();
            b.on_datagram(t0 + ms(20 * i + 15), &pa);
            a.on_datagram(t0 + ms(20 * i + 15), &pb);
        }
        // a's SR leaves at 1 s and takes 15 ms.
        let t1 = t0 + ms(1000);
        let sr_bytes = a.report(t1);
        let sr = Report::parse(&sr_bytes).unwrap();
        let sr_ntp = sr.sender.unwrap().ntp_timestamp;
        assert_eq!(sr_ntp, 0xE000_0001_1234_0000, "1 s after a's NTP origin");
        assert_eq!(b.on_datagram(t1 + ms(15), &sr_bytes), Received::Rtcp);
        // b reports 500 ms after receiving it; that report takes 15 ms back.
        let t2 = t1 + ms(515);
        let rr_bytes = b.report(t2);
        let block = Report::parse(&rr_bytes).unwrap().blocks[0];
        assert_eq!(block.ssrc, a.ssrc());
        // RFC 3550 §6.4.1: LSR = middle 32 bits of the SR's NTP time; DLSR in 1/65536 s.
        assert_eq!(block.last_sr, 0x0001_1234);
        assert_eq!(block.delay_since_last_sr, 32_768);
        assert_eq!(a.on_datagram(t2 + ms(15), &rr_bytes), Received::Rtcp);
        let s = a.finish();
        // RTT = A − LSR − DLSR = 530 ms − 500 ms = 30 ms (16.16 resolution: ±0.02 ms).
        let rtt = s.rtt_ms.unwrap();
        assert!((rtt - 30.0).abs() < 0.05, "{rtt}");
        assert_eq!(s.rtt_min_ms, s.rtt_last_ms);
        assert_eq!(s.remote_fraction_lost, Some(0.0));
        assert_eq!(s.remote_lost, Some(0));
        assert_eq!(s.rtcp_received, 1);
        // b has not had a block about it with an LSR: no RTT.
        assert_eq!(b.finish().rtt_ms, None);
    }

    #[test]
    fn peer_reported_loss_about_our_stream_is_kept() {
        let t0 = Instant::now();
        let mut a = seeded(config(Source::Silence), t0, 1 << 40, 5);
        let peer_rr = Report {
            ssrc: 0x0BAD_CAFE,
            sender: None,
            blocks: vec![
                ReportBlock {
                    ssrc: a.ssrc() ^ 1,
                    fraction_lost: 200,
                    cumulative_lost: 999,
                    ..ReportBlock::default()
                },
                ReportBlock {
                    ssrc: a.ssrc(),
                    fraction_lost: 64,
                    cumulative_lost: -2,
                    jitter: 80,
                    ..ReportBlock::default()
                },
            ],
        };
        a.on_datagram(t0, &peer_rr.encode());
        let s = a.finish();
        // Only the block about our SSRC counts; LSR 0 gives no RTT.
        assert_eq!(s.remote_fraction_lost, Some(0.25));
        assert_eq!(s.remote_lost, Some(-2));
        assert_eq!(s.remote_jitter_ms, Some(10.0));
        assert_eq!(s.rtt_ms, None);
    }

    #[test]
    fn report_times_are_randomised_within_bounds_and_reproducible() {
        let t0 = Instant::now();
        let mut firsts = Vec::new();
        for seed in 0..300 {
            let mut a = seeded(config(Source::Silence), t0, 1 << 40, seed);
            let first = a.next_rtcp_at() - t0;
            // README deviation: the first report within 1.5 s (0.49–1.48 s).
            assert!(first >= ms(490) && first <= ms(1480), "{first:?}");
            firsts.push(first);
            assert!(a.poll_rtcp(a.next_rtcp_at() - ms(1)).is_none());
            let at = a.next_rtcp_at();
            assert!(a.poll_rtcp(at).is_some());
            // RFC 3550 §6.3.1: then 0.5–1.5 × 5 s / (e − 3/2) = 2.05–6.16 s.
            let next = a.next_rtcp_at() - at;
            assert!(next >= ms(2050) && next <= ms(6160), "{next:?}");
        }
        firsts.sort();
        assert!(
            firsts[0] < ms(600) && firsts[299] > ms(1350),
            "spread over the range"
        );
        let again = seeded(config(Source::Silence), t0, 1 << 40, 7);
        let once = seeded(config(Source::Silence), t0, 1 << 40, 7);
        assert_eq!(again.next_rtcp_at(), once.next_rtcp_at());
        assert_eq!(again.ssrc(), once.ssrc());
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
