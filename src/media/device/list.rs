//! The capture and playback devices there are, for `icephone devices` and for the error
//! that names them when a `--audio-device` is not found.

use std::fmt;

use cpal::traits::{DeviceTrait, HostTrait};

use super::DeviceError;

/// One device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    /// Its default stream configuration, e.g. "2 ch, 48000 Hz, f32", or why none.
    pub default_config: String,
    /// The system's default device of its kind.
    pub is_default: bool,
}

/// Every device of both kinds.
#[derive(Debug, Clone, Default)]
pub struct DeviceList {
    pub host: String,
    pub capture: Vec<DeviceInfo>,
    pub playback: Vec<DeviceInfo>,
}

fn describe(config: Result<cpal::SupportedStreamConfig, cpal::DefaultStreamConfigError>) -> String {
    match config {
        Ok(c) => format!(
            "{} ch, {} Hz, {}",
            c.channels(),
            c.sample_rate().0,
            c.sample_format()
        ),
        Err(e) => format!("no default config: {e}"),
    }
}

fn backend(e: impl fmt::Display) -> DeviceError {
    DeviceError::Backend(format!("cannot list sound devices: {e}"))
}

/// The devices of the default host (ALSA on Linux).
pub fn list() -> Result<DeviceList, DeviceError> {
    let host = cpal::default_host();
    let default_in = host.default_input_device().and_then(|d| d.name().ok());
    let default_out = host.default_output_device().and_then(|d| d.name().ok());
    let capture = host
        .input_devices()
        .map_err(backend)?
        .filter_map(|d| {
            let name = d.name().ok()?;
            Some(DeviceInfo {
                is_default: Some(&name) == default_in.as_ref(),
                default_config: describe(d.default_input_config()),
                name,
            })
        })
        .collect();
    let playback = host
        .output_devices()
        .map_err(backend)?
        .filter_map(|d| {
            let name = d.name().ok()?;
            Some(DeviceInfo {
                is_default: Some(&name) == default_out.as_ref(),
                default_config: describe(d.default_output_config()),
                name,
            })
        })
        .collect();
    Ok(DeviceList {
        host: host.id().name().to_string(),
        capture,
        playback,
    })
}

/// Names, comma-separated, for an error message.
pub fn names(devices: &[DeviceInfo]) -> String {
    if devices.is_empty() {
        return "none".into();
    }
    devices
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, devices: &[DeviceInfo]) -> fmt::Result {
    writeln!(f, "{title}:")?;
    if devices.is_empty() {
        writeln!(f, "  (none)")?;
    }
    for d in devices {
        let mark = if d.is_default { "*" } else { " " };
        writeln!(f, "{mark} {}  [{}]", d.name, d.default_config)?;
    }
    Ok(())
}

impl fmt::Display for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "host: {}  (* = default)", self.host)?;
        section(f, "capture", &self.capture)?;
        section(f, "playback", &self.playback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_marks_the_default_and_names_join() {
        let d = |name: &str, is_default| DeviceInfo {
            name: name.into(),
            default_config: "1 ch, 48000 Hz, i16".into(),
            is_default,
        };
        let list = DeviceList {
            host: "ALSA".into(),
            capture: vec![d("default", true), d("pulse", false)],
            playback: vec![],
        };
        let text = list.to_string();
        assert!(text.contains("* default  [1 ch, 48000 Hz, i16]"), "{text}");
        assert!(text.contains("  pulse  ["), "{text}");
        assert!(text.contains("playback:\n  (none)"), "{text}");
        assert_eq!(names(&list.capture), "default, pulse");
        assert_eq!(names(&[]), "none");
    }
}
