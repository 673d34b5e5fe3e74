//! Via branch parameters (RFC 3261 §8.1.1.7).

use rand::Rng;

/// RFC 3261 §8.1.1.7: every branch created by an RFC 3261 element starts with this cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Random characters after the cookie: 24 base-62 characters ≈ 142 bits, so two
/// branches never collide in practice (RFC 3261 §8.1.1.7: unique across space and time).
const RANDOM_LEN: usize = 24;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new branch: `z9hG4bK` followed by random token characters from `rng`.
pub fn generate_branch<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut branch = String::with_capacity(MAGIC_COOKIE.len() + RANDOM_LEN);
    branch.push_str(MAGIC_COOKIE);
    for _ in 0..RANDOM_LEN {
        let index = rng.random_range(0..ALPHABET.len());
        // `index` is in range by construction; `get` keeps the code panic-free anyway.
        if let Some(&c) = ALPHABET.get(index) {
            branch.push(char::from(c));
        }
    }
    branch
}

/// True when `branch` carries the RFC 3261 magic cookie (case-sensitive, §8.1.1.7), so
/// §17.2.3 matching by branch applies instead of the RFC 2543 rules.
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.starts_with(MAGIC_COOKIE)
}
