//! Writing the `Authorization` / `Proxy-Authorization` header value (RFC 7616 §3.4).

use std::fmt;

use super::{Algorithm, Qop};

/// The credentials for one realm, ready to be written as a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// User name.
    pub username: String,
    /// Realm, as in the challenge.
    pub realm: String,
    /// Nonce, as in the challenge.
    pub nonce: String,
    /// digest-uri (the Request-URI).
    pub uri: String,
    /// The computed response.
    pub response: String,
    /// The algorithm used.
    pub algorithm: Algorithm,
    /// The client nonce (present with qop).
    pub cnonce: Option<String>,
    /// The challenge's opaque, echoed unchanged (RFC 7616 §3.4).
    pub opaque: Option<String>,
    /// The chosen qop; `None` in RFC 2069 mode.
    pub qop: Option<Qop>,
    /// Nonce count (present with qop).
    pub nc: Option<u32>,
}

impl Authorization {
    /// The header value, e.g. `Digest username="bob", realm="…", …`.
    pub fn to_header_value(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RFC 7616 §3.4: username, realm, nonce, uri, response, cnonce and opaque are
        // quoted strings; algorithm, qop and nc are tokens and MUST NOT be quoted.
        write!(f, "Digest username={}", quote(&self.username))?;
        write!(f, ", realm={}", quote(&self.realm))?;
        write!(f, ", nonce={}", quote(&self.nonce))?;
        write!(f, ", uri={}", quote(&self.uri))?;
        write!(f, ", response={}", quote(&self.response))?;
        write!(f, ", algorithm={}", self.algorithm.token())?;
        if let Some(cnonce) = &self.cnonce {
            write!(f, ", cnonce={}", quote(cnonce))?;
        }
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quote(opaque))?;
        }
        if let Some(qop) = self.qop {
            write!(f, ", qop={}", qop.token())?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        Ok(())
    }
}

/// A quoted-string (RFC 3261 §25.1): `"` and `\` are escaped with a backslash.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
