//! Session-wide ICE settings and the credential-change rule.

use ice::Credentials;

use crate::ice_attrs::DEFAULT_PACING_MS;

/// What to do when the peer's default destination is none of its candidates
/// (RFC 8839 §4.2.5 leaves the answerer the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultMismatchPolicy {
    /// Answer `a=ice-mismatch` and fall back to RFC 3264 for the stream.
    IceMismatch,
    /// Keep ICE and treat the default as one more remote candidate (with a warning).
    /// Default, because Asterisk puts its SIP address in `c=` (INTEROP-NOTES.md) and a
    /// mismatch answer would turn ICE off for every call with it.
    #[default]
    AcceptAsCandidate,
}

/// Our agent's session-wide ICE settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceSettings {
    /// RFC 8839 §4.2.1.4: a lite agent says `a=ice-lite`.
    pub lite: bool,
    /// RFC 8839 §5.5: Ta in ms; a full agent should send it, a lite one must not.
    pub pacing_ms: u32,
    /// What an answer does when the offer's default destination is none of its candidates.
    pub on_default_mismatch: DefaultMismatchPolicy,
}

impl Default for IceSettings {
    fn default() -> Self {
        IceSettings {
            lite: false,
            pacing_ms: DEFAULT_PACING_MS,
            on_default_mismatch: DefaultMismatchPolicy::default(),
        }
    }
}

/// How a credential pair changed between two descriptions (RFC 8839 §4.4.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialChange {
    /// Neither changed: the ICE session continues.
    Same,
    /// Both ufrag and pwd changed: an ICE restart.
    Restart,
    /// Only one changed: not a restart, and not valid either.
    Inconsistent,
}

/// Compares the credentials of two descriptions from the same peer (RFC 8839 §4.4.1.1.1).
pub fn credential_change(previous: &Credentials, new: &Credentials) -> CredentialChange {
    match (previous.ufrag != new.ufrag, previous.pwd != new.pwd) {
        (false, false) => CredentialChange::Same,
        (true, true) => CredentialChange::Restart,
        _ => CredentialChange::Inconsistent,
    }
}
