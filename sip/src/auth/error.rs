//! Typed errors for challenge parsing and the digest client.

use thiserror::Error;

/// Why a `WWW-Authenticate` / `Proxy-Authenticate` value could not be used.
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The value is empty or only whitespace.
    #[error("empty challenge")]
    Empty,
    /// The scheme is not `Digest` (e.g. `Basic`, which SIP forbids, RFC 3261 §22.1).
    #[error("unsupported authentication scheme {0:?}")]
    UnsupportedScheme(String),
    /// A character that fits nowhere in the auth-param grammar (RFC 7235 §2.1).
    #[error("unexpected character {found:?} at byte {position}")]
    UnexpectedChar {
        /// Byte offset in the value.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// A parameter name without `=`.
    #[error("parameter {0:?} has no '='")]
    ExpectedEquals(String),
    /// A parameter with `=` but no value.
    #[error("parameter {0:?} has no value")]
    MissingValue(String),
    /// A quoted string that never ends.
    #[error("parameter {0:?} has an unterminated quoted string")]
    UnterminatedQuotedString(String),
    /// The same parameter twice (RFC 7616 §3.3: each parameter appears at most once).
    #[error("parameter {0:?} appears more than once")]
    DuplicateParameter(String),
    /// A mandatory parameter is absent (RFC 7616 §3.3: realm and nonce).
    #[error("missing mandatory parameter {0}")]
    MissingParameter(&'static str),
    /// An algorithm this client cannot compute.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// A qop list with no value this client knows.
    #[error("no supported qop in {0:?}")]
    UnsupportedQop(String),
}

/// Why the digest client cannot (or must not) answer a challenge.
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Only 401 and 407 carry challenges (RFC 3261 §22.2, §22.3).
    #[error("status {0} is not a 401 or 407 challenge")]
    NotAChallengeStatus(u16),
    /// The response carried no challenge header at all.
    #[error("the response carries no challenge")]
    NoChallenge,
    /// No challenge could be used; the error of the first one.
    #[error("no usable challenge: {0}")]
    NoUsableChallenge(ChallengeError),
    /// A fresh (non-stale) challenge for a realm we just answered: the credentials are
    /// wrong. The caller must stop instead of retrying.
    #[error("credentials rejected for realm {realm:?}")]
    WrongCredentials {
        /// The realm that rejected us.
        realm: String,
    },
    /// The server keeps answering `stale=true`; retrying more would loop.
    #[error("too many stale nonces in a row for realm {realm:?}")]
    TooManyStaleNonces {
        /// The realm.
        realm: String,
    },
    /// A challenge for a realm we already answered with a stronger algorithm offers only
    /// weaker ones (e.g. a `stale=true` MD5 challenge after SHA-256): answering it would
    /// let an attacker downgrade the protection (RFC 8760 §2.4, RFC 7616 §5.8).
    #[error(
        "refusing {offered} for realm {realm:?}: {used} was already used there (algorithm downgrade)"
    )]
    AlgorithmDowngrade {
        /// The realm.
        realm: String,
        /// The strongest algorithm already used for the realm.
        used: &'static str,
        /// The strongest algorithm the new challenge offers.
        offered: &'static str,
    },
    /// One request was challenged too many times (e.g. a server naming a new realm in
    /// every 401); retrying more would loop.
    #[error("gave up after {rounds} challenge rounds for one request (realms {realms})")]
    TooManyChallengeRounds {
        /// Challenges answered for the request.
        rounds: u32,
        /// The realms the last challenge named, comma-separated.
        realms: String,
    },
    /// The nonce count (8 hex digits) would wrap; a new challenge is needed.
    #[error("nonce count exhausted for realm {realm:?}")]
    NonceCountExhausted {
        /// The realm.
        realm: String,
    },
}
