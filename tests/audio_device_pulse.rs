//! Audio through real sound devices: two `icephone` processes on loopback talk through the
//! `pulse` (and `default`) ALSA device of a PulseAudio daemon the test starts
//! (`support/pulse.rs` says how).
//!
//! Each phone's microphone is the monitor of a null sink that `paplay` plays a tone into;
//! each phone's speaker is another null sink whose monitor `parec` records. The caller
//! speaks 600 Hz, the callee 1100 Hz; each recording must carry the other side's tone (and
//! not its own), for each codec.

use std::process::Stdio;
use std::time::Duration;

#[path = "support/process.rs"]
mod process;
#[path = "support/pulse.rs"]
mod pulse;

use icephone::media::goertzel::tone_ratio;
use icephone::media::wav;
use pulse::Pulse;

const CALLER_HZ: f64 = 600.0;
const CALLEE_HZ: f64 = 1100.0;
/// Recording rate asked of parec.
const RATE: usize = 8000;

fn tone_wav(path: &std::path::Path, hz: f64, seconds: usize) {
    let samples: Vec<i16> = (0..RATE * seconds)
        .map(|i| (9000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / RATE as f64).sin()) as i16)
        .collect();
    wav::write(path, &samples, RATE as u32).unwrap();
}

/// Of the 200 ms windows that carry sound, the share where `hz` holds most of the energy,
/// and how many windows carry sound.
fn tone_windows(samples: &[i16], hz: f64) -> (f64, usize) {
    let voiced: Vec<&[i16]> = samples
        .chunks_exact(RATE / 5)
        .filter(|w| {
            let energy: f64 = w.iter().map(|s| f64::from(*s).powi(2)).sum();
            (energy / w.len() as f64).sqrt() > 300.0
        })
        .collect();
    let hits = voiced
        .iter()
        .filter(|w| tone_ratio(w, hz, RATE as f64) > 0.5)
        .count();
    (hits as f64 / voiced.len().max(1) as f64, voiced.len())
}

fn read_raw(path: &std::path::Path) -> Vec<i16> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn call_through_devices(codec: &str) {
    let sinks = ["a_mic", "a_spk", "b_mic", "b_spk"];
    let mut pa = Pulse::start(codec, &sinks);
    let dir = pa.dir.clone();
    tone_wav(&dir.join("a.wav"), CALLER_HZ, 30);
    tone_wav(&dir.join("b.wav"), CALLEE_HZ, 30);
    // What each phone hears.
    let mut recorders = Vec::new();
    for side in ["a", "b"] {
        let out = std::fs::File::create(dir.join(format!("{side}_heard.raw"))).unwrap();
        recorders.push(
            pa.spawn(
                pa.command("parec")
                    .arg(format!("--device={side}_spk.monitor"))
                    .args(["--rate=8000", "--channels=1", "--format=s16le", "--raw"])
                    // Small fragments: parec's default holds seconds before writing.
                    .arg("--latency-msec=20")
                    .stdout(out)
                    .stderr(Stdio::null()),
            ),
        );
    }
    // What each phone says.
    for side in ["a", "b"] {
        pa.spawn(
            pa.command("paplay")
                .arg(format!("--device={side}_mic"))
                .arg(dir.join(format!("{side}.wav")))
                .stderr(Stdio::null()),
        );
    }
    // The tones first, the phones once they play.
    std::thread::sleep(Duration::from_secs(2));
    let port = process::free_udp_port();
    let answer_i = spawn_phone(
        &mut pa,
        &dir,
        "b",
        codec,
        &[
            "answer",
            "--calls",
            "1",
            "--json",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--aor",
            "sip:bob@127.0.0.1",
        ],
    );
    process::wait_listening(port);
    let call_i = spawn_phone(
        &mut pa,
        &dir,
        "a",
        codec,
        &[
            "call",
            &format!("sip:bob@127.0.0.1:{port}"),
            "--json",
            "--bind",
            "127.0.0.1:0",
            "--aor",
            "sip:alice@127.0.0.1",
            "--duration",
            "4",
        ],
    );
    let call_status = pa.wait(call_i, Duration::from_secs(30));
    let answer_status = pa.wait(answer_i, Duration::from_secs(10));
    let stderr = |side: &str| std::fs::read_to_string(dir.join(format!("{side}.err"))).unwrap();
    assert!(
        call_status.success(),
        "call failed ({call_status}):\n{}",
        stderr("a")
    );
    assert!(
        answer_status.success(),
        "answer failed ({answer_status}):\n{}",
        stderr("b")
    );
    // parec holds back up to about 2 s whatever its --latency-msec, and loses it when
    // stopped: let 3 s of trailing silence push the call's audio out first.
    std::thread::sleep(Duration::from_secs(3));
    for r in recorders {
        pa.stop(r);
    }
    for (side, own, other) in [("a", CALLER_HZ, CALLEE_HZ), ("b", CALLEE_HZ, CALLER_HZ)] {
        let heard = read_raw(&dir.join(format!("{side}_heard.raw")));
        let (share, voiced) = tone_windows(&heard, other);
        let (own_share, _) = tone_windows(&heard, own);
        let pattern: String = heard
            .chunks_exact(RATE / 5)
            .map(|w| {
                let rms =
                    (w.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
                match (rms > 300.0, tone_ratio(w, other, RATE as f64) > 0.5) {
                    (true, true) => '#',
                    (true, false) => 'x',
                    _ => '.',
                }
            })
            .collect();
        eprintln!(
            "{codec}: {side} heard {:.1} s (200 ms each; # tone, x other sound, . quiet): {pattern}",
            heard.len() as f64 / RATE as f64
        );
        let out = std::fs::read_to_string(dir.join(format!("{side}.out"))).unwrap();
        for line in out.lines().filter(|l| l.contains("\"media\"")) {
            eprintln!("{codec}: {side}: {line}");
        }
        eprintln!(
            "{codec}: {side} heard {voiced} voiced 200 ms windows, {:.0} % of them {other} Hz, {:.0} % its own {own} Hz",
            share * 100.0,
            own_share * 100.0
        );
        assert!(
            voiced >= 10,
            "{codec}: {side} heard {voiced} windows of sound (want 2 s of the peer's tone)"
        );
        // A 200 ms window across a concealed or skipped frame may miss the tone.
        assert!(
            share > 0.7,
            "{codec}: only {share:.2} of what {side} heard is the {other} Hz tone"
        );
        assert!(
            own_share < 0.1,
            "{codec}: {side} heard its own tone ({own_share:.2})"
        );
    }
}

/// `icephone <args> --audio-device D --codecs <codec>` as `side`, through the daemon. The
/// caller ("a") names the `pulse` ALSA device; the callee ("b") names `default`, which the
/// pulseaudio package's /etc/alsa/conf.d/99-pulse.conf turns into `pulse` while a daemon
/// answers.
fn spawn_phone(
    pa: &mut Pulse,
    dir: &std::path::Path,
    side: &str,
    codec: &str,
    args: &[&str],
) -> usize {
    let mut cmd = pa.command(env!("CARGO_BIN_EXE_icephone"));
    cmd.args(args)
        .arg("--audio-device")
        .arg(if side == "a" { "pulse" } else { "default" })
        .args(["--codecs", codec])
        .env("PULSE_SOURCE", format!("{side}_mic.monitor"))
        .env("PULSE_SINK", format!("{side}_spk"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{side}.out"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{side}.err"))).unwrap());
    pa.spawn(&mut cmd)
}

/// One codec after the other: three calls at once on a two-core machine (debug builds, six
/// phones) glitch for want of CPU, which says nothing about the device path.
#[test]
fn pcmu_g722_opus_both_ways_through_pulseaudio() {
    for codec in ["pcmu", "g722", "opus"] {
        call_through_devices(codec);
    }
}

/// With the daemon up, `devices` lists its ALSA device, and an unknown name fails the
/// command (exit 1, no panic) with the list of devices of that kind.
#[test]
fn devices_lists_pulse_and_an_unknown_name_is_a_clear_error() {
    let pa = Pulse::start("names", &["spk"]);
    let list = pa
        .command(env!("CARGO_BIN_EXE_icephone"))
        .arg("devices")
        .output()
        .unwrap();
    process::assert_exit(&list, 0);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("capture:") && text.contains("playback:"),
        "{text}"
    );
    assert!(text.contains("  pulse  ["), "{text}");
    let bad = pa
        .command(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", "sip:bob@127.0.0.1:9", "--bind", "127.0.0.1:0"])
        .args(["--playback-device", "no-such-card"])
        .output()
        .unwrap();
    process::assert_exit(&bad, 1);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("no playback device named \"no-such-card\"") && err.contains("pulse"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
