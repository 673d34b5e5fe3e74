//! The digest computation itself (RFC 2617 §3.2.2, RFC 7616 §3.4).

use rand::Rng;

use super::{Algorithm, Qop};

/// Everything that goes into one `response` value.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// The algorithm from the challenge.
    pub algorithm: Algorithm,
    /// User name.
    pub username: &'a str,
    /// Realm from the challenge.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// Nonce from the challenge.
    pub nonce: &'a str,
    /// Client nonce (used with qop and with `-sess`).
    pub cnonce: &'a str,
    /// Nonce count; written as 8 hex digits.
    pub nc: u32,
    /// Chosen qop; `None` for RFC 2069 compatibility.
    pub qop: Option<Qop>,
    /// SIP method (RFC 3261 §22.4: the request method; ACK and CANCEL reuse INVITE's).
    pub method: &'a str,
    /// digest-uri: the Request-URI as sent (RFC 3261 §22.4).
    pub uri: &'a str,
    /// Message body, hashed for `auth-int` (empty when there is none).
    pub body: &'a [u8],
}

impl DigestInput<'_> {
    /// nc as the 8 lower-case hex digits of RFC 7616 §3.4.
    pub fn nc_hex(&self) -> String {
        format!("{:08x}", self.nc)
    }

    /// H(A1) (RFC 7616 §3.4.2).
    pub fn ha1(&self) -> String {
        let h = self.algorithm;
        let base =
            h.hash_hex(format!("{}:{}:{}", self.username, self.realm, self.password).as_bytes());
        if h.is_session() {
            // RFC 7616 §3.4.2: -sess: A1 = H(user:realm:pass) ":" nonce ":" cnonce.
            h.hash_hex(format!("{base}:{}:{}", self.nonce, self.cnonce).as_bytes())
        } else {
            base
        }
    }

    /// H(A2) (RFC 7616 §3.4.3).
    pub fn ha2(&self) -> String {
        let h = self.algorithm;
        match self.qop {
            // RFC 7616 §3.4.3: auth-int: A2 = method ":" uri ":" H(entity-body).
            Some(Qop::AuthInt) => {
                let body_hash = h.hash_hex(self.body);
                h.hash_hex(format!("{}:{}:{body_hash}", self.method, self.uri).as_bytes())
            }
            Some(Qop::Auth) | None => {
                h.hash_hex(format!("{}:{}", self.method, self.uri).as_bytes())
            }
        }
    }
}

/// The `response` value: with qop `H(HA1:nonce:nc:cnonce:qop:HA2)` (RFC 7616 §3.4.1),
/// without qop the RFC 2069 form `H(HA1:nonce:HA2)` (RFC 2617 §3.2.2.1).
pub fn compute_response(input: &DigestInput<'_>) -> String {
    let ha1 = input.ha1();
    let ha2 = input.ha2();
    let data = match input.qop {
        Some(qop) => format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            input.nonce,
            input.nc_hex(),
            input.cnonce,
            qop.token()
        ),
        None => format!("{ha1}:{}:{ha2}", input.nonce),
    };
    input.algorithm.hash_hex(data.as_bytes())
}

/// A fresh client nonce: 16 random bytes as 32 hex digits (RFC 7616 §3.4: an opaque
/// quoted string with enough entropy to defeat chosen-plaintext attacks).
pub fn random_cnonce<R: Rng + ?Sized>(rng: &mut R) -> String {
    let bytes: [u8; 16] = rng.random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
