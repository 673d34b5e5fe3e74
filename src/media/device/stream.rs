//! Opening a capture and a playback device by name. cpal's streams are not `Send` on every
//! platform, so they are built and kept on a thread of their own; the handles returned
//! (`DeviceSource`, `PlaybackSink`) keep that thread, and so the streams, alive, and the last
//! one dropped closes the devices.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::capture::DeviceSource;
use super::convert::{self, Framer};
use super::handoff::{frame_queue, FrameTx};
use super::list::{self, DeviceInfo};
use super::playback::{self, PlaybackSink, Player};
use super::{DeviceError, DEFAULT};

/// Frames the capture queue holds (100 ms) before the callback drops new ones.
const CAPTURE_QUEUE_FRAMES: usize = 5;
/// How long opening may take before it is reported as failed.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The devices opened.
#[derive(Debug, Clone, Default)]
pub struct Devices {
    /// The microphone, as a call source (`Source::Device`).
    pub source: Option<DeviceSource>,
    /// The speaker, for the call's received audio.
    pub sink: Option<PlaybackSink>,
}

/// Dropped with the last handle: the device thread then closes the streams and ends, and
/// the under- and overruns of the session are logged.
struct Keep {
    _stop: std::sync::Mutex<mpsc::Sender<()>>,
    capture: Option<Arc<super::handoff::Counters>>,
    /// A clone made before the handles hold this `Keep` (no cycle).
    playback: Option<PlaybackSink>,
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Some(c) = &self.capture {
            let (over, under) = c.snapshot();
            tracing::info!("capture device: {over} frame(s) dropped (overrun), {under} missing (underrun, silence sent)");
        }
        if let Some(p) = &self.playback {
            let (over, under) = p.counters();
            tracing::info!("playback device: {over} frame(s) dropped (overrun or delay cut), {under} concealed (underrun)");
        }
    }
}

fn backend(what: &str, e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Backend(format!("{what}: {e}"))
}

/// Opens `capture` and `playback` (device names as `icephone devices` lists them, or
/// "default"), either or both.
pub fn open(capture: Option<&str>, playback: Option<&str>) -> Result<Devices, DeviceError> {
    let (result_tx, result_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let capture_name = capture.map(str::to_string);
    let playback_name = playback.map(str::to_string);
    std::thread::Builder::new()
        .name("audio-device".into())
        .spawn(
            move || match start(capture_name.as_deref(), playback_name.as_deref()) {
                Ok((streams, devices)) => {
                    let _ = result_tx.send(Ok(devices));
                    // Until every handle is gone (the sender drops).
                    let _ = stop_rx.recv();
                    drop(streams);
                }
                Err(e) => {
                    let _ = result_tx.send(Err(e));
                }
            },
        )
        .map_err(|e| backend("cannot start the audio thread", e))?;
    let mut devices = result_rx
        .recv_timeout(OPEN_TIMEOUT)
        .map_err(|_| DeviceError::Backend("opening the sound devices timed out".into()))??;
    let keep: Arc<dyn Send + Sync> = Arc::new(Keep {
        _stop: std::sync::Mutex::new(stop_tx),
        capture: devices.source.as_ref().map(DeviceSource::shared_counters),
        playback: devices.sink.clone(),
    });
    if let Some(source) = &devices.source {
        source.keep(keep.clone());
    }
    if let Some(sink) = &mut devices.sink {
        sink.keep(keep);
    }
    Ok(devices)
}

fn find(
    kind: &'static str,
    name: &str,
    default: Option<cpal::Device>,
    devices: Result<impl Iterator<Item = cpal::Device>, cpal::DevicesError>,
    listed: impl FnOnce(&list::DeviceList) -> &[DeviceInfo],
) -> Result<cpal::Device, DeviceError> {
    let found = if name == DEFAULT {
        default
    } else {
        devices
            .map_err(|e| backend("cannot list sound devices", e))?
            .find(|d| d.name().is_ok_and(|n| n == name))
    };
    found.ok_or_else(|| DeviceError::NotFound {
        kind,
        name: name.to_string(),
        available: list::list()
            .map(|l| list::names(listed(&l)))
            .unwrap_or_else(|e| e.to_string()),
    })
}

/// A config at one of our rates, preferring i16 and fewer channels.
fn choose(
    kind: &'static str,
    name: &str,
    ranges: Vec<cpal::SupportedStreamConfigRange>,
) -> Result<cpal::SupportedStreamConfig, DeviceError> {
    let usable = |f: SampleFormat| {
        matches!(
            f,
            SampleFormat::I16 | SampleFormat::F32 | SampleFormat::I32 | SampleFormat::U16
        )
    };
    let mut ranges: Vec<_> = ranges
        .into_iter()
        .filter(|r| usable(r.sample_format()))
        .collect();
    ranges.sort_by_key(|r| (r.sample_format() != SampleFormat::I16, r.channels()));
    let bounds: Vec<(u32, u32)> = ranges
        .iter()
        .map(|r| (r.min_sample_rate().0, r.max_sample_rate().0))
        .collect();
    let offered = || {
        bounds
            .iter()
            .map(|(lo, hi)| format!("{lo}-{hi} Hz"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rate = convert::pick_rate(&bounds).ok_or_else(|| DeviceError::NoRate {
        kind,
        name: name.to_string(),
        offered: offered(),
    })?;
    let range = ranges
        .into_iter()
        .find(|r| r.min_sample_rate().0 <= rate && rate <= r.max_sample_rate().0)
        .expect("pick_rate found a range with this rate");
    Ok(range.with_sample_rate(cpal::SampleRate(rate)))
}

fn start(
    capture: Option<&str>,
    playback: Option<&str>,
) -> Result<(Vec<cpal::Stream>, Devices), DeviceError> {
    let host = cpal::default_host();
    let mut streams = Vec::new();
    let mut devices = Devices::default();
    if let Some(name) = capture {
        let (stream, source) = start_capture(&host, name)?;
        streams.push(stream);
        devices.source = Some(source);
    }
    if let Some(name) = playback {
        let (stream, sink) = start_playback(&host, name)?;
        streams.push(stream);
        devices.sink = Some(sink);
    }
    for s in &streams {
        s.play()
            .map_err(|e| backend("cannot start the sound device", e))?;
    }
    Ok((streams, devices))
}

fn start_capture(
    host: &cpal::Host,
    name: &str,
) -> Result<(cpal::Stream, DeviceSource), DeviceError> {
    let device = find(
        "capture",
        name,
        host.default_input_device(),
        host.input_devices(),
        |l| &l.capture,
    )?;
    let ranges = device
        .supported_input_configs()
        .map_err(|e| backend(&format!("capture device {name:?}"), e))?
        .collect();
    let config = choose("capture", name, ranges)?;
    let rate = config.sample_rate().0;
    tracing::info!(
        "capture {name:?}: {} ch, {rate} Hz, {}",
        config.channels(),
        config.sample_format()
    );
    let (tx, rx) = frame_queue(CAPTURE_QUEUE_FRAMES);
    let source = DeviceSource::new(name, rx, rate, None).map_err(|e| backend("capture", e))?;
    let stream = match config.sample_format() {
        SampleFormat::I16 => build_input::<i16>(&device, &config, tx),
        SampleFormat::F32 => build_input::<f32>(&device, &config, tx),
        SampleFormat::I32 => build_input::<i32>(&device, &config, tx),
        _ => build_input::<u16>(&device, &config, tx),
    }
    .map_err(|e| backend(&format!("cannot open capture device {name:?}"), e))?;
    Ok((stream, source))
}

fn start_playback(
    host: &cpal::Host,
    name: &str,
) -> Result<(cpal::Stream, PlaybackSink), DeviceError> {
    let device = find(
        "playback",
        name,
        host.default_output_device(),
        host.output_devices(),
        |l| &l.playback,
    )?;
    let ranges = device
        .supported_output_configs()
        .map_err(|e| backend(&format!("playback device {name:?}"), e))?
        .collect();
    let config = choose("playback", name, ranges)?;
    let rate = config.sample_rate().0;
    tracing::info!(
        "playback {name:?}: {} ch, {rate} Hz, {}",
        config.channels(),
        config.sample_format()
    );
    let (sink, player) = playback::playback(rate, None).map_err(|e| backend("playback", e))?;
    let stream = match config.sample_format() {
        SampleFormat::I16 => build_output::<i16>(&device, &config, player),
        SampleFormat::F32 => build_output::<f32>(&device, &config, player),
        SampleFormat::I32 => build_output::<i32>(&device, &config, player),
        _ => build_output::<u16>(&device, &config, player),
    }
    .map_err(|e| backend(&format!("cannot open playback device {name:?}"), e))?;
    Ok((stream, sink))
}

/// The stream settings: `config` with a period of 20 ms (clamped to what the device
/// allows). Left to itself the ALSA `pulse` device buffers seconds, which a call cannot
/// afford in either direction.
fn stream_config(config: &cpal::SupportedStreamConfig) -> cpal::StreamConfig {
    let mut c = config.config();
    let want = convert::frame_len(config.sample_rate().0) as u32;
    if let cpal::SupportedBufferSize::Range { min, max } = config.buffer_size() {
        c.buffer_size = cpal::BufferSize::Fixed(want.clamp(*min, *max));
    }
    c
}

/// The capture callback: to mono i16, cut into 20 ms frames, queued without blocking.
fn build_input<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    tx: FrameTx,
) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: SizedSample,
    i16: FromSample<T>,
{
    let channels = usize::from(config.channels());
    let mut framer = Framer::new(convert::frame_len(config.sample_rate().0));
    let mut scratch: Vec<i16> = Vec::new();
    device.build_input_stream(
        &stream_config(config),
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            scratch.clear();
            scratch.extend(data.iter().map(|s| s.to_sample::<i16>()));
            framer.push(convert::to_mono(&scratch, channels), |frame| {
                tx.push(frame);
            });
        },
        |e| tracing::warn!("capture device: {e}"),
        None,
    )
}

/// The playback callback: pulls from the jitter buffer on the device's clock.
fn build_output<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    mut player: Player,
) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: SizedSample + FromSample<i16>,
{
    let channels = usize::from(config.channels());
    device.build_output_stream(
        &stream_config(config),
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            let now = Instant::now();
            convert::fill_interleaved(data, channels, || T::from_sample(player.next_sample(now)));
        },
        |e| tracing::warn!("playback device: {e}"),
        None,
    )
}
