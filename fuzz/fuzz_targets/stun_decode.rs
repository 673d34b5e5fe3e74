//! STUN decoder, MESSAGE-INTEGRITY(-SHA256) check, FINGERPRINT and ChannelData: no input panics.
//!
//! The raw input is decoded and checked against short- and long-term keys; then the input is
//! re-signed (a correct MESSAGE-INTEGRITY and/or FINGERPRINT appended, as the last byte's bits
//! say) so the fuzzer reaches the code behind those checks; a message that decodes is
//! re-encoded with both and decoded again.
#![no_main]

use std::sync::OnceLock;

use ice::stun::{
    append_message_integrity_sha256, decode_channel_data, is_stun, verify_integrity, IntegrityKey,
    Message,
};
use icephone_fuzz::{sign_stun, stun_header};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn keys() -> &'static [IntegrityKey; 2] {
    static KEYS: OnceLock<[IntegrityKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            IntegrityKey::short_term(PASSWORD),
            IntegrityKey::long_term(
                "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}",
                "example.org",
                "TheMatrIX",
            ),
        ]
    })
}

fn check(bytes: &[u8]) {
    let _ = is_stun(bytes);
    let _ = decode_channel_data(bytes);
    if let Ok(message) = Message::decode(bytes) {
        let _ = (
            message.mapped_address(),
            message.username(),
            message.error_code(),
        );
        let _ = (
            message.realm(),
            message.nonce(),
            message.software(),
            message.priority(),
        );
        let _ = (
            message.use_candidate(),
            message.ice_controlling(),
            message.ice_controlled(),
        );
        let _ = (
            message.lifetime(),
            message.xor_peer_address(),
            message.xor_relayed_address(),
        );
        let _ = (
            message.data(),
            message.channel_number(),
            message.has_integrity(),
        );
        let _ = message.has_fingerprint();
        for key in keys() {
            let _ = verify_integrity(bytes, key);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);

    let mode = data.last().copied().unwrap_or(0);
    let mut shaped = data.to_vec();
    if mode & 1 != 0 {
        stun_header(&mut shaped);
    }
    let key = &keys()[usize::from(mode >> 1 & 1)];
    let signed = sign_stun(
        &shaped,
        (mode & 4 != 0).then(|| key.as_bytes()),
        mode & 8 != 0,
    );
    check(&signed);
    if mode & 16 != 0 {
        let mut sha256 = shaped.clone();
        sha256.resize(sha256.len().div_ceil(4) * 4, 0);
        if sha256.len() >= 20 {
            append_message_integrity_sha256(&mut sha256, key);
            check(&sha256);
        }
    }

    if let Ok(message) = Message::decode(&signed) {
        let again = message.encode(Some(key), true);
        check(&again);
        let _ = message.encode(None, false);
    }
});
