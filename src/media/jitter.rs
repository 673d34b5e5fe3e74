//! Adaptive jitter buffer for the playback side (issue 18), sans-IO: it is fed packets with
//! their arrival time and polled once per 20 ms playout tick with the tick's time; it reads
//! no clock, so tests run it in virtual time.
//!
//! How it decides:
//! - Order comes from the RTP sequence number (extended over wrap-around, RFC 3550 A.1):
//!   packets are reordered, a duplicate is dropped, a packet whose turn has passed is "late".
//! - Timing comes from the RTP timestamp: each packet's transit is its arrival time minus its
//!   timestamp (in µs). The earliest transit over the last `window` packets is the fastest the
//!   network delivers; the 95th percentile minus that minimum is how long we must wait to
//!   catch all but 5 % of packets. That spread, clamped to `[min_delay, max_delay]`, is the
//!   target delay. (The RFC 3550 A.8 interarrival jitter is computed too, for statistics.)
//! - The current delay is how long after its earliest possible arrival the frame due now is
//!   played. Below the target, the buffer inserts one concealed frame (`Playout::Stretch`)
//!   instead of playing, adding 20 ms; a whole frame or more above it, it skips one frame (at
//!   most every `SHRINK_EVERY` ticks), so the delay comes back down once the network is calm.
//!   The one-frame dead band between the two keeps it from see-sawing.
//! - A frame whose packet is not there on its tick while a later one is, is reported as
//!   `Playout::Lost`, with the next packet's payload if that one is here already (Opus FEC),
//!   and counted as concealed. With nothing buffered at all the tick is `Playout::Empty`: the
//!   stream may have paused (DTX) or ended, or the packet is late; the schedule then waits
//!   for it rather than writing it off.

use crate::media::codec::{AudioDecoder, CodecError};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Ticks between two skipped frames when shrinking: one 20 ms cut per 100 ms is barely
/// audible and still brings a 200 ms delay down within a second.
const SHRINK_EVERY: u32 = 5;
/// How many played sequence numbers are remembered to tell duplicates from late packets.
const PLAYED_MEMORY: usize = 128;

/// Settings of a jitter buffer.
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (8000 for G.711 and G.722, 48000 for Opus).
    pub clock_rate: u32,
    /// Playout tick and packet duration.
    pub frame: Duration,
    /// Smallest target delay.
    pub min_delay: Duration,
    /// Largest target delay: beyond it, late packets are lost rather than waited for.
    pub max_delay: Duration,
    /// Packets over which the transit spread is measured (100 = 2 s of 20 ms packets).
    pub window: usize,
}

impl JitterConfig {
    /// Defaults for 20 ms packets at `clock_rate`: 20–400 ms delay, a 2 s window.
    pub fn new(clock_rate: u32) -> JitterConfig {
        JitterConfig {
            clock_rate,
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(400),
            window: 100,
        }
    }
}

/// What became of a packet given to `push`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Buffered for playout.
    Accepted,
    /// Already buffered or played: dropped.
    Duplicate,
    /// Its turn has passed (it was concealed or skipped): dropped.
    Late,
}

/// What to play on one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Not started yet (nothing received, or still filling to the target delay): play
    /// silence. Not counted as concealment.
    Waiting,
    /// Decode this packet.
    Frame {
        /// Its RTP sequence number.
        seq: u16,
        /// Its RTP timestamp.
        timestamp: u32,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// The packet due now is missing: conceal one frame. `next` is the following packet's
    /// payload if it is already here, for codecs that recover from it (Opus FEC).
    Lost {
        /// The following packet's payload, if buffered.
        next: Option<Vec<u8>>,
    },
    /// The delay is growing: conceal one frame (codec PLC) without consuming a packet.
    Stretch,
    /// Nothing is buffered (pause, DTX, end of stream, or a late packet): conceal one frame
    /// (or play comfort noise); the packet due stays due.
    Empty,
}

/// Counters and the current state of a jitter buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets given to `push`, all of them.
    pub received: u64,
    /// Packets dropped because their turn had passed.
    pub late: u64,
    /// Packets dropped as duplicates.
    pub duplicate: u64,
    /// Frames concealed for packets that never came in time: `Lost` ticks, and `Empty`
    /// ticks that turned out to stand for lost packets (a later packet came next).
    pub concealed: u64,
    /// Ticks reported `Empty` (nothing buffered).
    pub underruns: u64,
    /// Frames inserted to grow the delay (`Stretch`).
    pub inserted: u64,
    /// Frames skipped to shrink the delay (buffered or not).
    pub discarded: u64,
    /// Frames handed out for decoding.
    pub played: u64,
    /// How long after its earliest possible arrival the last frame was played.
    pub delay: Duration,
    /// The delay the buffer is steering towards.
    pub target: Duration,
    /// RFC 3550 A.8 interarrival jitter.
    pub jitter: Duration,
}

#[derive(Debug)]
struct Packet {
    seq: u16,
    timestamp: u32,
    /// Extended timestamp.
    ext_ts: u64,
    payload: Vec<u8>,
}

/// The adaptive jitter buffer. See the module documentation.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    /// Time zero for arrival times (the first packet's arrival).
    origin: Option<Instant>,
    buffer: BTreeMap<u64, Packet>,
    /// Extended sequence number due on the next tick; `None` before playout starts.
    next_seq: Option<u64>,
    /// Highest extended sequence number and timestamp seen, to extend the next ones.
    last_seq: Option<u64>,
    last_ts: Option<u64>,
    /// The first packet's extended timestamp: time zero for timestamps.
    ts_origin: Option<u64>,
    /// The last played (or first) packet's extended sequence number and timestamp: the
    /// timestamp of a missing sequence number is extrapolated from it. Moved on each played
    /// packet, so a timestamp jump (after DTX) is followed.
    anchor: Option<(u64, u64)>,
    played: VecDeque<u64>,
    /// Transit times (µs) of the last `window` packets.
    transits: VecDeque<i64>,
    last_transit: Option<i64>,
    /// RFC 3550 A.8 jitter, in µs (a float, since the estimator moves by 1/16 steps).
    jitter_us: f64,
    ticks_since_shrink: u32,
    /// Consecutive `Empty` ticks.
    waited: u64,
    stats: JitterStats,
}

/// Extends a wrapping counter of `bits` bits to 64 bits, picking the value closest to the
/// previous one (RFC 3550 A.1 does this for sequence numbers).
fn extend(last: Option<u64>, value: u64, bits: u32) -> u64 {
    let span = 1u64 << bits;
    let Some(last) = last else {
        // Start well above zero so that going back over a wrap never underflows.
        return value + (span << 8);
    };
    let candidate = (last & !(span - 1)) | value;
    [candidate.wrapping_sub(span), candidate, candidate + span]
        .into_iter()
        .min_by_key(|c| c.abs_diff(last))
        .expect("three candidates")
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> JitterBuffer {
        let stats = JitterStats {
            target: config.min_delay,
            ..JitterStats::default()
        };
        JitterBuffer {
            config,
            origin: None,
            buffer: BTreeMap::new(),
            next_seq: None,
            last_seq: None,
            last_ts: None,
            ts_origin: None,
            anchor: None,
            played: VecDeque::new(),
            transits: VecDeque::new(),
            last_transit: None,
            jitter_us: 0.0,
            ticks_since_shrink: 0,
            waited: 0,
            stats,
        }
    }

    /// The counters and current delay.
    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// Packets waiting to be played.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether no packet is waiting.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn micros_since_origin(&self, t: Instant) -> i64 {
        let origin = self.origin.expect("set by the first push");
        match t.checked_duration_since(origin) {
            Some(d) => d.as_micros() as i64,
            None => -(origin.duration_since(t).as_micros() as i64),
        }
    }

    fn ts_micros(&self, ext_ts: u64) -> i64 {
        let origin = self.ts_origin.expect("set by the first push");
        (ext_ts as i64 - origin as i64) * 1_000_000 / i64::from(self.config.clock_rate)
    }

    /// RTP timestamp increment per frame.
    fn step(&self) -> u64 {
        self.config.frame.as_micros() as u64 * u64::from(self.config.clock_rate) / 1_000_000
    }

    /// The extended timestamp of a sequence number: the packet's own if it is buffered,
    /// else extrapolated from the anchor.
    fn ts_of(&self, ext_seq: u64) -> u64 {
        if let Some(p) = self.buffer.get(&ext_seq) {
            return p.ext_ts;
        }
        let (seq, ts) = self.anchor.expect("set by the first push");
        (ts as i64 + (ext_seq as i64 - seq as i64) * self.step() as i64) as u64
    }

    /// A packet arrived at `arrival`.
    pub fn push(&mut self, arrival: Instant, seq: u16, timestamp: u32, payload: Vec<u8>) -> Pushed {
        self.stats.received += 1;
        self.origin.get_or_insert(arrival);
        let ext_seq = extend(self.last_seq, u64::from(seq), 16);
        let ext_ts = extend(self.last_ts, u64::from(timestamp), 32);
        if self.last_seq.is_none_or(|l| ext_seq > l) {
            self.last_seq = Some(ext_seq);
            self.last_ts = Some(ext_ts);
        }
        self.ts_origin.get_or_insert(ext_ts);
        self.anchor.get_or_insert((ext_seq, ext_ts));

        if self.buffer.contains_key(&ext_seq) || self.played.contains(&ext_seq) {
            self.stats.duplicate += 1;
            return Pushed::Duplicate;
        }

        // Late packets still tell how late the network runs: measure before dropping.
        let transit = self.micros_since_origin(arrival) - self.ts_micros(ext_ts);
        self.measure(transit);

        if self.next_seq.is_some_and(|next| ext_seq < next) {
            self.stats.late += 1;
            return Pushed::Late;
        }
        self.buffer.insert(
            ext_seq,
            Packet {
                seq,
                timestamp,
                ext_ts,
                payload,
            },
        );
        Pushed::Accepted
    }

    fn measure(&mut self, transit: i64) {
        // RFC 3550 A.8: J += (|D| - J) / 16, D the change in transit.
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit = Some(transit);
        self.stats.jitter = Duration::from_micros(self.jitter_us as u64);

        self.transits.push_back(transit);
        while self.transits.len() > self.config.window {
            self.transits.pop_front();
        }
        let mut sorted: Vec<i64> = self.transits.iter().copied().collect();
        sorted.sort_unstable();
        let p95 = sorted[(sorted.len() - 1) * 95 / 100];
        let spread = Duration::from_micros((p95 - sorted[0]) as u64);
        self.stats.target = spread.clamp(self.config.min_delay, self.config.max_delay);
    }

    /// How long after its earliest possible arrival the frame `ext_seq` is played at `now`.
    fn delay_of(&self, now: Instant, ext_seq: u64) -> Duration {
        let min_transit = self.transits.iter().copied().min().unwrap_or(0);
        let earliest = min_transit + self.ts_micros(self.ts_of(ext_seq));
        Duration::from_micros((self.micros_since_origin(now) - earliest).max(0) as u64)
    }

    /// One playout tick at `now` (call every `frame`): what to play.
    pub fn poll(&mut self, now: Instant) -> Playout {
        let mut next = match self.next_seq {
            Some(next) => next,
            None => {
                // Start once the first packet has waited the target delay.
                let Some((&first, _)) = self.buffer.first_key_value() else {
                    return Playout::Waiting;
                };
                if self.delay_of(now, first) < self.stats.target {
                    return Playout::Waiting;
                }
                first
            }
        };
        let Some((&first, _)) = self.buffer.first_key_value() else {
            // Nothing buffered at all: the stream paused (DTX, hold), ended, or its next
            // packet is late. Conceal, but keep the schedule: a late packet then still plays
            // when it comes, and the delay grows by the wait (shrinking later if the target
            // is lower).
            self.next_seq = Some(next);
            self.stats.underruns += 1;
            self.waited += 1;
            self.stats.delay = self.delay_of(now, next);
            return Playout::Empty;
        };
        if self.waited > 0 && first > next {
            // We waited on an empty buffer, and what came is later than the packet due: the
            // missing ones were lost, not late, and the empty ticks already concealed as
            // many of them. Skip those, so a burst loss does not add to the delay.
            let skip = self.waited.min(first - next);
            self.stats.concealed += skip;
            next += skip;
        }
        self.waited = 0;
        // The sender jumped far ahead (restart, new sequence): resynchronise instead of
        // concealing every frame in between.
        let far = 2 * self.config.max_delay.as_micros() / self.config.frame.as_micros();
        if first > next + far as u64 {
            next = first;
        }

        self.ticks_since_shrink = self.ticks_since_shrink.saturating_add(1);
        let delay = self.delay_of(now, next);
        self.stats.delay = delay;
        let target = self.stats.target;
        if delay < target {
            // Grow: play a concealed frame, keep the packet for the next tick.
            self.next_seq = Some(next);
            self.stats.inserted += 1;
            return Playout::Stretch;
        }
        if delay >= target + self.config.frame
            && self.ticks_since_shrink >= SHRINK_EVERY
            && self.buffer.contains_key(&(next + 1))
        {
            // Shrink: skip the frame due now (buffered or missing), play the one after.
            self.buffer.remove(&next);
            self.stats.discarded += 1;
            self.ticks_since_shrink = 0;
            next += 1;
            self.stats.delay = self.delay_of(now, next);
        }

        self.next_seq = Some(next + 1);
        match self.buffer.remove(&next) {
            Some(p) => {
                self.played.push_back(next);
                if self.played.len() > PLAYED_MEMORY {
                    self.played.pop_front();
                }
                self.anchor = Some((next, p.ext_ts));
                self.stats.played += 1;
                Playout::Frame {
                    seq: p.seq,
                    timestamp: p.timestamp,
                    payload: p.payload,
                }
            }
            None => {
                // A later packet is here, this one is not: it is lost (or will be late).
                self.stats.concealed += 1;
                Playout::Lost {
                    next: self.buffer.get(&(next + 1)).map(|p| p.payload.clone()),
                }
            }
        }
    }
}

impl Playout {
    /// The audio for this tick from `decoder`: a frame decoded, or one concealed (with the
    /// next packet for Opus FEC when there is one), or `frame_samples` of silence before
    /// playout starts. This is what the playback side does with every tick.
    pub fn render(
        &self,
        decoder: &mut dyn AudioDecoder,
        frame_samples: usize,
    ) -> Result<Vec<i16>, CodecError> {
        match self {
            Playout::Waiting => Ok(vec![0; frame_samples]),
            Playout::Frame { payload, .. } => decoder.decode(payload),
            Playout::Lost { next } => decoder.conceal(next.as_deref()),
            Playout::Stretch | Playout::Empty => decoder.conceal(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const FRAME_MS: u64 = 20;

    /// Runs a G.711-clocked stream of `count` packets through a buffer in virtual time.
    /// `network(i)` gives packet i's arrival offset after its send time, or `None` if it is
    /// lost; `first_seq`/`first_ts` start the RTP counters. Returns the playout of every
    /// tick (ticks every 20 ms, 7 ms after the sends, until 1 s after the last send) with
    /// the buffer's stats after that tick, and the push outcomes.
    fn run(
        count: u64,
        first_seq: u16,
        first_ts: u32,
        network: impl Fn(u64) -> Option<Duration>,
    ) -> (Vec<(Playout, JitterStats)>, Vec<Pushed>, JitterBuffer) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::new(8000));
        let mut arrivals: Vec<(Duration, u64)> = (0..count)
            .filter_map(|i| network(i).map(|d| (Duration::from_millis(i * FRAME_MS) + d, i)))
            .collect();
        arrivals.sort();
        let mut arrivals = arrivals.into_iter().peekable();
        let mut ticks = Vec::new();
        let mut pushed = Vec::new();
        let end = Duration::from_millis(count * FRAME_MS + 1000);
        let mut tick = Duration::from_millis(7);
        while tick < end {
            while let Some((at, i)) = arrivals.next_if(|(at, _)| *at <= tick) {
                let seq = first_seq.wrapping_add(i as u16);
                let ts = first_ts.wrapping_add(i as u32 * 160);
                pushed.push(jb.push(t0 + at, seq, ts, i.to_be_bytes().to_vec()));
            }
            let p = jb.poll(t0 + tick);
            ticks.push((p, jb.stats().clone()));
            tick += Duration::from_millis(FRAME_MS);
        }
        (ticks, pushed, jb)
    }

    /// The packet indices that were played, in playout order.
    fn played(ticks: &[(Playout, JitterStats)]) -> Vec<u64> {
        ticks
            .iter()
            .filter_map(|(p, _)| match p {
                Playout::Frame { payload, .. } => {
                    Some(u64::from_be_bytes(payload.as_slice().try_into().unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reordered_packets_play_in_order() {
        // Each even packet is overtaken by the odd one after it.
        let (ticks, pushed, jb) = run(100, 1000, 5000, |i| {
            Some(Duration::from_millis(if i % 2 == 0 { 26 } else { 5 }))
        });
        assert!(pushed.iter().all(|p| *p == Pushed::Accepted));
        assert_eq!(played(&ticks), (0..100).collect::<Vec<_>>());
        let s = jb.stats();
        assert_eq!((s.late, s.concealed, s.duplicate), (0, 0, 0));
        assert!(
            s.target >= Duration::from_millis(21),
            "target {:?}",
            s.target
        );
    }

    #[test]
    fn duplicates_are_dropped_before_and_after_playout() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::new(8000));
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(jb.push(at(0), 7, 160, vec![1]), Pushed::Accepted);
        assert_eq!(
            jb.push(at(1), 7, 160, vec![1]),
            Pushed::Duplicate,
            "still buffered"
        );
        assert_eq!(jb.push(at(20), 8, 320, vec![2]), Pushed::Accepted);
        assert_eq!(
            jb.poll(at(5)),
            Playout::Waiting,
            "filling to the 20 ms target"
        );
        assert!(matches!(jb.poll(at(25)), Playout::Frame { seq: 7, .. }));
        assert_eq!(
            jb.push(at(30), 7, 160, vec![1]),
            Pushed::Duplicate,
            "already played"
        );
        assert!(matches!(
            jb.poll(at(45)),
            Playout::Frame {
                seq: 8,
                timestamp: 320,
                ..
            }
        ));
        let s = jb.stats();
        assert_eq!((s.received, s.duplicate, s.played), (4, 2, 2));
        assert!(jb.is_empty());
    }

    #[test]
    fn a_packet_after_its_turn_is_late() {
        // Packet 50 arrives 300 ms late, long after its frame was concealed.
        let (ticks, pushed, jb) = run(100, 0, 0, |i| {
            Some(Duration::from_millis(if i == 50 { 300 } else { 10 }))
        });
        assert_eq!(pushed.iter().filter(|p| **p == Pushed::Late).count(), 1);
        let s = jb.stats();
        assert_eq!((s.late, s.concealed), (1, 1));
        let mut expected: Vec<u64> = (0..100).collect();
        expected.retain(|i| *i != 50);
        assert_eq!(played(&ticks), expected);
    }

    #[test]
    fn concealment_count_equals_the_losses_across_wraparound() {
        // Sequence numbers and timestamps both wrap during the stream.
        let lost = [10u64, 50, 51, 52, 120, 180, 181];
        let (ticks, _, jb) = run(200, 65500, u32::MAX - 3000, |i| {
            (!lost.contains(&i)).then(|| Duration::from_millis(30))
        });
        let s = jb.stats();
        assert_eq!(s.concealed, lost.len() as u64);
        assert_eq!(
            (s.late, s.discarded, s.played),
            (0, 0, 200 - lost.len() as u64)
        );
        let expected: Vec<u64> = (0..200).filter(|i| !lost.contains(i)).collect();
        assert_eq!(played(&ticks), expected);
        // Opus FEC: a single loss comes with the next packet, and so does the last of a
        // burst; the burst's first ones were ticks on an empty buffer.
        let nexts: Vec<Option<u64>> = ticks
            .iter()
            .filter_map(|(p, _)| match p {
                Playout::Lost { next } => Some(
                    next.as_ref()
                        .map(|n| u64::from_be_bytes(n.as_slice().try_into().unwrap())),
                ),
                _ => None,
            })
            .collect();
        assert_eq!(nexts, [Some(11), Some(53), Some(121), Some(182)]);
        assert_eq!(
            s.underruns,
            3 + 47,
            "50, 51, 180, and the ticks after the stream ended"
        );
        // Before the tail's empty ticks: the burst did not add to the delay.
        assert_eq!(
            ticks[195].1.delay,
            Duration::from_millis(37),
            "{:?}",
            ticks[195].1
        );
    }

    #[test]
    fn delay_grows_under_jitter_and_shrinks_when_calm() {
        // 0–3 s calm (30 ms transit), 3–8 s jitter (30–150 ms), 8–14 s calm again.
        let mut rng = rand::rngs::StdRng::seed_from_u64(18);
        let extra: Vec<u64> = (0..700).map(|_| rng.random_range(0..120)).collect();
        let (ticks, _, _) = run(700, 42, 42, |i| {
            let jitter = if (150..400).contains(&i) {
                extra[i as usize]
            } else {
                0
            };
            Some(Duration::from_millis(30 + jitter))
        });
        let at = |ms: u64| &ticks[(ms / FRAME_MS) as usize].1;
        let calm = at(2900);
        assert!(calm.delay <= Duration::from_millis(40), "calm: {calm:?}");
        assert_eq!(calm.target, Duration::from_millis(20));

        let jittery = at(7900);
        assert!(
            jittery.target >= Duration::from_millis(90),
            "jitter: {jittery:?}"
        );
        assert!(
            jittery.delay >= Duration::from_millis(90),
            "jitter: {jittery:?}"
        );
        assert!(
            jittery.jitter >= Duration::from_millis(20),
            "RFC 3550 jitter {jittery:?}"
        );
        // Once adapted, few packets miss their turn: compare the last 2 s of jitter with
        // what a fixed 20 ms buffer would have lost (most of them).
        let late_adapted = at(7900).late - at(5900).late;
        assert!(
            late_adapted <= 10,
            "{late_adapted} of 100 late after adapting"
        );

        let calm_again = at(13900);
        assert!(
            calm_again.delay <= Duration::from_millis(40),
            "calm again: {calm_again:?}"
        );
        assert!(calm_again.discarded > 0, "shrinking skips frames");
        // Nothing vanished: every packet was played, dropped as late, or skipped to shrink
        // (a skipped frame whose packet came later counts twice, hence ≥).
        let end = &ticks.last().unwrap().1;
        assert!(end.played + end.late + end.discarded >= 700, "{end:?}");
        assert!(end.played >= 600, "{end:?}");
    }

    #[test]
    fn counters_extend_over_wraparound() {
        assert_eq!(extend(Some(0x1_FFFF), 0x0001, 16), 0x2_0001);
        assert_eq!(extend(Some(0x2_0001), 0xFFFF, 16), 0x1_FFFF);
        assert_eq!(extend(Some(0x2_0100), 0x0200, 16), 0x2_0200);
        let first = extend(None, 5, 16);
        assert!(first > 0x10000, "room below the first value");
    }

    #[test]
    fn a_tone_survives_opus_over_a_jittery_lossy_network() {
        // The whole playback chain: 8 kHz tone -> 48 kHz -> Opus -> network with 0–60 ms
        // jitter and 5 % loss -> jitter buffer -> decode or conceal -> 8 kHz -> Goertzel.
        use crate::media::codec::{CodecKind, CodecSpec};
        use crate::media::goertzel::tone_ratio;
        use crate::media::resample::Resampler;
        use crate::media::source::Source;

        let spec = CodecSpec::new(CodecKind::Opus, 111);
        let mut codec = spec.build().unwrap();
        let (mut up, mut down) = (
            Resampler::new(8000, 48000).unwrap(),
            Resampler::new(48000, 8000).unwrap(),
        );
        let mut source = Source::tone(440.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t0 = Instant::now();
        let mut arrivals = Vec::new();
        for i in 0..500u64 {
            let payload = codec
                .encoder
                .encode(&up.process(&source.next_frame()))
                .unwrap();
            if rng.random_bool(0.05) {
                continue;
            }
            let at = Duration::from_millis(i * FRAME_MS + 20 + rng.random_range(0..60));
            arrivals.push((at, i, payload));
        }
        arrivals.sort();
        let mut arrivals = arrivals.into_iter().peekable();
        let mut jb = JitterBuffer::new(JitterConfig::new(spec.kind.clock_rate()));
        let mut heard = Vec::new();
        for tick in 0..550u64 {
            let now = Duration::from_millis(tick * FRAME_MS + 7);
            while let Some((at, i, payload)) = arrivals.next_if(|(at, _, _)| *at <= now) {
                let ts = (i as u32) * spec.kind.timestamp_step();
                jb.push(t0 + at, i as u16, ts, payload);
            }
            let playout = jb.poll(t0 + now);
            let frame = playout
                .render(codec.decoder.as_mut(), spec.kind.frame_samples())
                .unwrap();
            assert_eq!(frame.len(), 960);
            heard.extend(down.process(&frame));
        }
        let s = jb.stats();
        assert!(s.concealed >= 15, "the loss happened: {s:?}");
        assert!(s.played >= 450, "{s:?}");
        // 440 Hz in every 200 ms window from 1 s in to the end of the stream (10 s).
        let windows: Vec<f64> = heard[8000..80000]
            .chunks(1600)
            .filter(|w| w.len() == 1600)
            .map(|w| tone_ratio(w, 440.0, 8000.0))
            .collect();
        let worst = windows.iter().copied().fold(1.0, f64::min);
        assert!(worst > 0.5, "worst window {worst:.2}");
    }
}
