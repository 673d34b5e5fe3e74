//! STUN codec throughput: (a) encoding an ICE connectivity check (Binding request with
//! USERNAME, PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY and FINGERPRINT), (b) decoding it
//! and verifying MESSAGE-INTEGRITY. Prints messages per second; run with `cargo bench -p ice`.
//! The iteration count is fixed and small so that the debug build (compiled by clippy) stays
//! quick if anyone runs it.

use std::hint::black_box;
use std::time::Instant;

use ice::stun::{verify_integrity, Attribute, Class, IntegrityKey, Message, Method, TransactionId};

const ITERATIONS: u32 = 200_000;

fn connectivity_check() -> Message {
    Message::new(Class::Request, Method::Binding, TransactionId([0x5A; 12]))
        .with(Attribute::Username("bRx7:Qp2w".into()))
        .with(Attribute::Priority(0x6E00_01FF))
        .with(Attribute::IceControlling(0x932F_F9B1_5126_3B36))
}

fn per_second(iterations: u32, start: Instant) -> f64 {
    f64::from(iterations) / start.elapsed().as_secs_f64()
}

fn main() {
    let key = IntegrityKey::short_term("VOkJxbRl1RmTxUk/WvJxBt");
    let request = connectivity_check();

    let start = Instant::now();
    for _ in 0..ITERATIONS {
        black_box(black_box(&request).encode(Some(black_box(&key)), true));
    }
    let encode_rate = per_second(ITERATIONS, start);

    let bytes = request.encode(Some(&key), true);
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        let decoded = Message::decode(black_box(&bytes)).expect("bench message decodes");
        verify_integrity(black_box(&bytes), &key).expect("bench message verifies");
        black_box(decoded);
    }
    let decode_rate = per_second(ITERATIONS, start);

    println!(
        "stun_codec: {} bytes per message, {ITERATIONS} iterations each",
        bytes.len()
    );
    println!("encode (MI + FINGERPRINT):        {encode_rate:>12.0} messages/s");
    println!("decode + verify MESSAGE-INTEGRITY: {decode_rate:>12.0} messages/s");
}
