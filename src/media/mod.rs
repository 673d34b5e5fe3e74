//! Media: RTP (RFC 3550) carrying G.711 in 20 ms frames, RTCP reports, RFC 4733 DTMF, WAV
//! files, tone sources and the Goertzel detector the tests use; SRTP and DTLS-SRTP building
//! blocks (`srtp`, not yet used by calls); issue 18's audio blocks, not yet used by calls
//! either: codecs (`codec`: G.711, G.722, Opus), resampling (`resample`) and the adaptive
//! jitter buffer (`jitter`).

pub mod clock;
pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod resample;
pub mod round_trip;
pub mod rtcp;
pub mod rtcp_interval;
pub mod rtp;
pub mod session;
pub mod source;
pub mod srtp;
pub mod stats;
pub mod wav;
pub mod wav_writer;
