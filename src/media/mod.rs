//! Media: RTP (RFC 3550) in 20 ms frames, RTCP reports, RFC 4733 DTMF, WAV files, tone
//! sources and the Goertzel detector the tests use; SRTP and DTLS-SRTP (`srtp`); the codecs
//! (`codec`: G.711, G.722, Opus) that calls use through `codec_path` (resampling between the
//! 8 kHz sources/recordings and the codec's rate, concealment of lost packets), and the
//! adaptive jitter buffer (`jitter`, between a call and a sound
//! device's playback); sound devices (`device`).

pub mod clock;
pub mod codec;
pub mod codec_path;
pub mod device;
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod level;
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
