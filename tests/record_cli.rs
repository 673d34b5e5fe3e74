//! `--record FILE` (issue 14 item 7): an uncreatable path fails before any call (exit 1,
//! naming the path); a normal recording is a valid WAV as long as the media received.

use std::process::Command;

use icephone::media::goertzel::tone_ratio;
use icephone::media::wav;

fn demo(record: &std::path::Path, seconds: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["demo", "--json", "--seconds", seconds, "--record"])
        .arg(record)
        .output()
        .expect("icephone runs")
}

fn events(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn an_uncreatable_recording_path_fails_before_the_call() {
    let path = std::path::Path::new("/nonexistent-dir/x.wav");
    let out = demo(path, "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("/nonexistent-dir/x.wav"), "{stderr}");
    let evs = events(&out);
    assert!(
        !evs.iter()
            .any(|e| e["event"] == "call" || e["event"] == "candidates"),
        "no call was started: {evs:?}"
    );
}

#[test]
fn a_recording_is_a_valid_wav_as_long_as_the_media_received() {
    let dir = std::env::temp_dir().join(format!("icephone-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("callee.wav");
    let out = demo(&path, "2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    let received = events(&out)
        .iter()
        .find(|e| e["event"] == "media" && e["agent"] == "callee")
        .and_then(|e| e["rtp_received"].as_u64())
        .expect("callee media event");
    let bytes = std::fs::read(&path).unwrap();
    // The header sizes were fixed up: RIFF size = file - 8, data size = file - 44.
    let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!(le32(4), bytes.len() - 8);
    assert_eq!(le32(40), bytes.len() - 44);
    let samples = wav::parse(&bytes).unwrap().samples;
    // Every received 20 ms G.711 packet is 160 samples in the file.
    assert_eq!(samples.len() as u64, received * 160, "{received} packets");
    assert!(
        samples.len() >= 8000,
        "at least a second: {}",
        samples.len()
    );
    // The caller's default 440 Hz tone is what was recorded.
    let ratio = tone_ratio(&samples, 440.0, 8000.0);
    assert!(ratio > 0.5, "440 Hz ratio {ratio}");
    std::fs::remove_dir_all(&dir).unwrap();
}
