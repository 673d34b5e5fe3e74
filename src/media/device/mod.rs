//! Sound devices (issue 18): a microphone as a call's source and a speaker for what the peer
//! sends, through cpal (its ALSA backend on Linux; PulseAudio and PipeWire are reached
//! through their ALSA plugins, as the `pulse` or `default` device).
//!
//! - `list`: the devices and their default configuration (`icephone devices`).
//! - `stream`: opening a capture and a playback device by name; the cpal streams live on
//!   a thread of their own for as long as the call holds the handles.
//! - `convert`: device format, channels and rate to our 8 kHz mono 20 ms frames and back.
//! - `handoff`: the bounded, never-blocking queue out of the capture callback.
//! - `capture`: the call's end of the microphone, with its mute switch.
//! - `playback`: the jitter buffer between the call and the speaker's own clock, with
//!   concealment of missing frames.
//!
//! No echo cancellation: a headset keeps the speaker out of the microphone.

pub mod capture;
pub mod convert;
pub mod handoff;
pub mod list;
pub mod playback;
#[cfg(test)]
mod session_tests;
mod stream;

pub use capture::DeviceSource;
pub use playback::PlaybackSink;
pub use stream::{open, Devices};

/// The name that picks the system's default device.
pub const DEFAULT: &str = "default";

/// Why a sound device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No device of that name: the message lists the ones there are.
    #[error("no {kind} device named {name:?}; {kind} devices: {available}")]
    NotFound {
        kind: &'static str,
        name: String,
        available: String,
    },
    /// The device offers no rate the resampler takes (8, 16, 48 kHz).
    #[error(
        "{kind} device {name:?} offers none of 48000, 16000 or 8000 Hz ({offered}); \
         its PulseAudio or PipeWire device (\"pulse\" or \"default\") converts any rate"
    )]
    NoRate {
        kind: &'static str,
        name: String,
        offered: String,
    },
    /// The sound system refused (no ALSA, device busy, …).
    #[error("{0}")]
    Backend(String),
}
