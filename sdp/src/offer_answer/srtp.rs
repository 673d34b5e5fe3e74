//! SDES-SRTP in offer/answer (RFC 4568 §7, RFC 3711 §12): the policy that says whether a
//! stream must, may or must not be SRTP, what our `m=` line offers or answers, and what was
//! agreed (our crypto line and the peer's, per stream).
//!
//! The keys come from the caller ([`SdesKey`] in [`super::LocalStream`]): this crate has no
//! random source, and the same keys are reused for every re-offer of the call, so an
//! updated offer after ICE nomination or a hold does not rekey the SRTP contexts.

use std::fmt;

use thiserror::Error;

use crate::error::SdpError;
use crate::model::{MediaDescription, SessionDescription};
use crate::security::{
    answer_crypto, choose_offered_crypto, match_answer_crypto, read_security, CryptoAnswerError,
    CryptoAttr, CryptoSuite, KeyParams, StreamSecurity, TransportProfile,
};

/// Whether our streams use SRTP, and how it is keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    /// Plain RTP only: an offer that requires SRTP cannot be satisfied.
    #[default]
    Off,
    /// SRTP keyed by SDES `a=crypto` (RFC 4568), required: we offer `RTP/SAVP`, and accept
    /// only offers carrying an acceptable crypto line.
    Sdes,
    /// Best effort, as pjsua's optional mode: we offer `RTP/AVP` with `a=crypto` (so a peer
    /// without SRTP still answers), and answer SRTP whenever the offer carries usable crypto.
    Optional,
    /// DTLS-SRTP (RFC 5763/5764), required: we offer `UDP/TLS/RTP/SAVP` with
    /// `a=fingerprint`, `a=setup` and `a=tls-id`, and accept only such offers (see
    /// [`super::LocalDtls`]).
    Dtls,
}

impl SrtpPolicy {
    /// The policy's name, as the command line and configuration spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Sdes => "sdes",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Dtls => "dtls",
        }
    }

    /// Reads `off`, `sdes`, `optional` or `dtls`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SrtpPolicy::Off,
            SrtpPolicy::Sdes,
            SrtpPolicy::Optional,
            SrtpPolicy::Dtls,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }

    /// The call must not send clear RTP.
    pub fn requires_srtp(self) -> bool {
        matches!(self, SrtpPolicy::Sdes | SrtpPolicy::Dtls)
    }
}

impl fmt::Display for SrtpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Our SDES master key and salt for one suite (RFC 4568 §6.1). `Debug` never prints the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesKey {
    /// The crypto-suite the key is for.
    pub suite: CryptoSuite,
    /// The inline key (master key followed by master salt).
    pub key: KeyParams,
}

impl SdesKey {
    /// A key for `suite` from its master key followed by its master salt.
    pub fn new(suite: CryptoSuite, key_salt: Vec<u8>) -> Self {
        SdesKey {
            suite,
            key: KeyParams::inline(key_salt),
        }
    }
}

/// What SDES agreed on for one stream: both crypto lines, which give the suite and each
/// direction's key (ours protects what we send, theirs unprotects what we receive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSrtp {
    /// Our crypto line (from our offer, or our answer).
    pub local: CryptoAttr,
    /// The peer's crypto line.
    pub remote: CryptoAttr,
}

impl NegotiatedSrtp {
    /// The agreed suite (the same on both lines, RFC 4568 §7.1.2).
    pub fn suite(&self) -> &CryptoSuite {
        &self.local.suite
    }
}

/// Why a stream could not be agreed with the SRTP policy (the offer cannot be satisfied, or
/// the answer breaks what we required).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SrtpRefusal {
    /// The offer asks for SRTP and ours is off (RFC 3711 §12: RTP/SAVP means SRTP).
    #[error("the offer requires SRTP ({profile}) and SRTP is off here")]
    SrtpOfferedButOff {
        /// The offered `m=` profile.
        profile: String,
    },
    /// SRTP is required here and the offer carries no `a=crypto` (plain RTP/AVP).
    #[error("SRTP (SDES) is required here and the offer has no a=crypto ({profile})")]
    NoCryptoOffered {
        /// The offered `m=` profile.
        profile: String,
    },
    /// None of the offered crypto lines is one we can use (RFC 4568 §7.1.2).
    #[error("no offered crypto-suite is supported (offered: {offered}; supported: {supported})")]
    NoSupportedSuite {
        /// The offered suites, comma-separated.
        offered: String,
        /// Ours, comma-separated.
        supported: String,
    },
    /// An SRTP profile we do not run (one we do not know).
    #[error("the offered profile {profile} is not supported (RTP/SAVP and RTP/AVP are)")]
    ProfileNotSupported {
        /// The offered `m=` profile.
        profile: String,
    },
    /// Our policy needs SDES keys and the local stream has none (a bug of the caller).
    #[error("SRTP policy {0} needs local SDES keys and the stream has none")]
    NoLocalKeys(SrtpPolicy),
    /// The offer asks for DTLS-SRTP and our policy is SDES keying.
    #[error("the offer requires DTLS-SRTP (UDP/TLS/RTP/SAVP) and --srtp is {0}")]
    DtlsNotEnabled(SrtpPolicy),
    /// DTLS-SRTP is required here and the offer is not a DTLS stream.
    #[error("DTLS-SRTP is required here (--srtp dtls) and the offer is {profile}")]
    DtlsRequired {
        /// The offered `m=` profile.
        profile: String,
    },
    /// A DTLS stream without `a=fingerprint` (RFC 5763 §5 requires one).
    #[error("DTLS-SRTP without a=fingerprint (RFC 5763 §5 requires one)")]
    NoFingerprint,
    /// No DTLS role follows from the `a=setup` values (RFC 4145 §4, RFC 5763 §5).
    #[error("DTLS role: {0}")]
    Setup(crate::security::SetupError),
    /// Our policy is DTLS and the local stream has no certificate (a bug of the caller).
    #[error("SRTP policy dtls needs our DTLS fingerprint and the stream has none")]
    NoLocalDtls,
    /// The answer changed the offer's transport profile (RFC 3264 §6).
    #[error("the answer's profile {answered} differs from the offer's {offered}")]
    AnswerProfile {
        /// Our offered profile.
        offered: String,
        /// The answer's.
        answered: String,
    },
    /// We required SRTP and the answer has no `a=crypto`.
    #[error("SRTP was required and the answer has no a=crypto")]
    AnswerWithoutCrypto,
    /// The answer's crypto does not fit our offer (RFC 4568 §7.1.3).
    #[error("the answer's a=crypto does not fit the offer: {0}")]
    AnswerCrypto(#[from] CryptoAnswerError),
}

/// Our `m=` profile and crypto lines for an offer: one `a=crypto` per key, tags 1..n in our
/// order of preference (RFC 4568 §5.1: several lines, the answerer picks one).
pub(crate) fn offer_crypto(
    policy: SrtpPolicy,
    keys: &[SdesKey],
) -> Result<(TransportProfile, Vec<CryptoAttr>), SrtpRefusal> {
    let lines = || {
        keys.iter()
            .zip(1u32..)
            .map(|(k, tag)| CryptoAttr {
                tag,
                suite: k.suite.clone(),
                keys: vec![k.key.clone()],
                session_params: Vec::new(),
                line: 0,
            })
            .collect::<Vec<_>>()
    };
    if matches!(policy, SrtpPolicy::Sdes | SrtpPolicy::Optional) && keys.is_empty() {
        return Err(SrtpRefusal::NoLocalKeys(policy));
    }
    match policy {
        SrtpPolicy::Off => Ok((TransportProfile::RtpAvp, Vec::new())),
        // RFC 4568 §5.1 / RFC 3711 §12: required SRTP is signalled by RTP/SAVP.
        SrtpPolicy::Sdes => Ok((TransportProfile::RtpSavp, lines())),
        // Best effort: RTP/AVP with a=crypto, as pjsua's "optional" and baresip's "srtp"
        // (not "srtp-mand") do; a peer without SRTP ignores the unknown attribute.
        SrtpPolicy::Optional => Ok((TransportProfile::RtpAvp, lines())),
        // RFC 5764 §8: keys from DTLS on the media path; the lines are `dtls::offer_dtls`'s.
        SrtpPolicy::Dtls => Ok((TransportProfile::UdpTlsRtpSavp, Vec::new())),
    }
}

fn suite_list<'a>(suites: impl Iterator<Item = &'a CryptoSuite>) -> String {
    suites.map(CryptoSuite::name).collect::<Vec<_>>().join(", ")
}

/// Whether our answer to one offered stream is SRTP, and with which crypto lines (ours, and
/// the offered one we accept); `Ok(None)` is clear RTP. The answer keeps the offer's profile
/// (RFC 3264 §6), so only the crypto is decided here.
pub(crate) fn answer_srtp(
    policy: SrtpPolicy,
    offered: &StreamSecurity,
    keys: &[SdesKey],
) -> Result<Option<NegotiatedSrtp>, SrtpRefusal> {
    // DTLS streams and the dtls policy are `dtls::answer_dtls`'s; this is a guard.
    if policy == SrtpPolicy::Dtls || offered.profile.is_dtls() {
        return Err(SrtpRefusal::DtlsRequired {
            profile: offered.profile.to_string(),
        });
    }
    let required_by_offer = offered.profile.is_srtp();
    if policy == SrtpPolicy::Off {
        if required_by_offer {
            return Err(SrtpRefusal::SrtpOfferedButOff {
                profile: offered.profile.to_string(),
            });
        }
        // An RTP/AVP offer with a=crypto (a best-effort peer) is answered in clear RTP:
        // the answer has no crypto line, so the peer falls back (RFC 4568 §7.1.2).
        return Ok(None);
    }
    if required_by_offer
        && !matches!(
            offered.profile,
            TransportProfile::RtpSavp | TransportProfile::RtpSavpf
        )
    {
        return Err(SrtpRefusal::ProfileNotSupported {
            profile: offered.profile.to_string(),
        });
    }
    if offered.crypto.is_empty() {
        if policy == SrtpPolicy::Sdes || required_by_offer {
            return Err(SrtpRefusal::NoCryptoOffered {
                profile: offered.profile.to_string(),
            });
        }
        return Ok(None);
    }
    let supported: Vec<CryptoSuite> = keys.iter().map(|k| k.suite.clone()).collect();
    // RFC 4568 §7.1.2: accept the first offered line we support, answer it with the same
    // tag and suite and our own key.
    let Some(chosen) = choose_offered_crypto(&offered.crypto, &supported) else {
        if policy == SrtpPolicy::Optional && !required_by_offer {
            return Ok(None);
        }
        return Err(SrtpRefusal::NoSupportedSuite {
            offered: suite_list(offered.crypto.iter().map(|c| &c.suite)),
            supported: suite_list(supported.iter()),
        });
    };
    // `supported` came from `keys`, so the key is there; never fall back to clear RTP if not.
    let key = keys
        .iter()
        .find(|k| k.suite == chosen.suite)
        .ok_or(SrtpRefusal::NoLocalKeys(policy))?;
    Ok(Some(NegotiatedSrtp {
        local: answer_crypto(chosen, key.key.key_salt.clone()),
        remote: chosen.clone(),
    }))
}

/// The security attributes of a description's streams as far as `policy` needs them. With SRTP
/// off only the profiles matter, so a malformed `a=crypto` or `a=fingerprint` we would
/// ignore anyway does not fail the call.
pub(crate) fn read_security_for(
    policy: SrtpPolicy,
    sd: &SessionDescription,
) -> Result<Vec<StreamSecurity>, SdpError> {
    if policy != SrtpPolicy::Off {
        return read_security(sd);
    }
    Ok(sd
        .media
        .iter()
        .map(|m| StreamSecurity {
            profile: m.transport_profile(),
            crypto: Vec::new(),
            fingerprints: Vec::new(),
            setup: None,
            tls_id: None,
        })
        .collect())
}

/// RFC 4568 §7.1.3 (offerer): what SRTP the answer agreed to for one stream we offered.
/// An offer without crypto ignores the answer's; an offer with crypto needs a matching line
/// in the answer unless it was best effort (RTP/AVP), where no line means clear RTP.
pub(crate) fn read_answer_srtp(
    offer: &MediaDescription,
    ours: &StreamSecurity,
    theirs: &StreamSecurity,
) -> Result<Option<NegotiatedSrtp>, SrtpRefusal> {
    if ours.crypto.is_empty() {
        return Ok(None);
    }
    if theirs.crypto.is_empty() {
        return if offer.transport_profile().is_srtp() {
            Err(SrtpRefusal::AnswerWithoutCrypto)
        } else {
            Ok(None)
        };
    }
    let (local, remote) = match_answer_crypto(&ours.crypto, &theirs.crypto)?;
    Ok(Some(NegotiatedSrtp {
        local: local.clone(),
        remote: remote.clone(),
    }))
}

#[cfg(test)]
#[path = "srtp_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "dtls_tests.rs"]
mod dtls_tests;
