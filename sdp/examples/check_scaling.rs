//! How `icephone sdp check`'s work (parse + summarize) scales with the number of `m=` lines.
//! Prints the time for 4k and 16k lines and the ratio: linear work gives about 4.
//!
//! ```text
//! cargo run --release -p sdp --example check_scaling
//! ```

use std::fmt::Write;
use std::time::{Duration, Instant};

/// An SDP with `streams` audio streams, session-level ICE credentials and one host
/// candidate per stream (the shape that made `sdp check` superlinear).
pub fn big_sdp(streams: usize) -> String {
    let mut s = String::from(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n",
    );
    for i in 0..streams {
        let port = 10_000 + (i % 50_000) as u16;
        let _ = write!(
            s,
            "m=audio {port} RTP/AVP 0\r\na=candidate:1 1 UDP 2130706431 192.0.2.1 {port} typ host\r\n"
        );
    }
    s
}

fn time_check(text: &str) -> Duration {
    // Best of 3, so a busy machine shows less noise.
    (0..3)
        .map(|_| {
            let t = Instant::now();
            let sd = sdp::parse(text).expect("valid SDP");
            let summary = sdp::summary::summarize(&sd).expect("summary");
            std::hint::black_box(summary);
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let small = big_sdp(4096);
    let large = big_sdp(16384);
    let t_small = time_check(&small);
    let t_large = time_check(&large);
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-9);
    println!(
        "sdp check  4096 m= lines: {:>8.1} ms",
        t_small.as_secs_f64() * 1e3
    );
    println!(
        "sdp check 16384 m= lines: {:>8.1} ms",
        t_large.as_secs_f64() * 1e3
    );
    println!("ratio 16k/4k: {ratio:.2} (linear ≈ 4, quadratic ≈ 16)");
}
