//! [`SrtpContext`]: SRTP/SRTCP protection for one media stream, both directions, on
//! `rtc-srtp` (see the module doc of [`crate::media::srtp`] for the choice).

use std::fmt;

use rtc_shared::error::Error as LibError;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;
use sdp::security::{CryptoAttr, CryptoSuite};

/// RFC 3711 §3.3.2: the replay window must hold at least 64 packets; libsrtp uses 128, so do
/// we (audio reordering beyond that is loss anyway).
pub const REPLAY_WINDOW: usize = 128;

/// The SRTP protection suites we implement (issue 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// AES-128 counter mode, HMAC-SHA1 80-bit tag (RFC 3711; SDES `AES_CM_128_HMAC_SHA1_80`,
    /// DTLS-SRTP `SRTP_AES128_CM_HMAC_SHA1_80`).
    AesCm128HmacSha1_80,
    /// The same with a 32-bit RTP tag (SRTCP keeps 80 bits, RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
    /// AES-128 GCM, 16-octet tag (RFC 7714; `AEAD_AES_128_GCM` / `SRTP_AEAD_AES_128_GCM`).
    AeadAes128Gcm,
}

impl SrtpSuite {
    /// Our SDES offer's order (tags 1..3): `AES_CM_128_HMAC_SHA1_80` first, as baresip,
    /// pjsua and Asterisk offer it, so a peer that only looks at tag 1 (baresip 1.0.0
    /// answers tag 1 whatever it names) runs the suite it says.
    pub const SDES_OFFER_ORDER: [SrtpSuite; 3] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// Every suite, in our order of preference for DTLS-SRTP profiles (GCM first: one pass,
    /// no separate HMAC).
    pub const ALL: [SrtpSuite; 3] = [
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// The suite of an SDES crypto-suite name, `None` for one we do not implement.
    pub fn from_sdes(suite: &CryptoSuite) -> Option<Self> {
        match suite {
            CryptoSuite::AesCm128HmacSha1_80 => Some(SrtpSuite::AesCm128HmacSha1_80),
            CryptoSuite::AesCm128HmacSha1_32 => Some(SrtpSuite::AesCm128HmacSha1_32),
            CryptoSuite::AeadAes128Gcm => Some(SrtpSuite::AeadAes128Gcm),
            CryptoSuite::Other(_) => None,
        }
    }

    /// The SDES crypto-suite (RFC 4568 §6.2, RFC 7714 §14.2).
    pub fn sdes(self) -> CryptoSuite {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => CryptoSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => CryptoSuite::AesCm128HmacSha1_32,
            SrtpSuite::AeadAes128Gcm => CryptoSuite::AeadAes128Gcm,
        }
    }

    /// The SDES suites, for [`sdp::security::choose_offered_crypto`].
    pub fn all_sdes() -> Vec<CryptoSuite> {
        Self::ALL.iter().map(|s| s.sdes()).collect()
    }

    /// The OpenSSL name of the DTLS-SRTP protection profile (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub fn dtls_profile_name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "SRTP_AES128_CM_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "SRTP_AES128_CM_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
        }
    }

    /// The suite of a DTLS-SRTP profile name as OpenSSL reports it.
    pub fn from_dtls_profile_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.dtls_profile_name() == name)
    }

    /// Master key length in octets (16 for all three).
    pub fn key_len(self) -> usize {
        16
    }

    /// Master salt length in octets (14 for AES-CM, 12 for GCM, RFC 7714 §12).
    pub fn salt_len(self) -> usize {
        match self {
            SrtpSuite::AeadAes128Gcm => 12,
            _ => 14,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            SrtpSuite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        }
    }
}

impl fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdes().name())
    }
}

/// A master key and salt for one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    /// The suite the key is for.
    pub suite: SrtpSuite,
    /// The master key (`suite.key_len()` octets).
    pub master_key: Vec<u8>,
    /// The master salt (`suite.salt_len()` octets).
    pub master_salt: Vec<u8>,
}

impl fmt::Debug for SrtpKey {
    /// Never prints the key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SrtpKey({}, <secret>)", self.suite)
    }
}

impl SrtpKey {
    /// A key from master key and salt, lengths checked against the suite.
    ///
    /// # Errors
    ///
    /// [`SrtpError::BadKey`] when a length is wrong.
    pub fn new(suite: SrtpSuite, master_key: &[u8], master_salt: &[u8]) -> Result<Self, SrtpError> {
        if master_key.len() != suite.key_len() || master_salt.len() != suite.salt_len() {
            return Err(SrtpError::BadKey(format!(
                "{suite} needs a {}-octet key and a {}-octet salt, got {} and {}",
                suite.key_len(),
                suite.salt_len(),
                master_key.len(),
                master_salt.len()
            )));
        }
        Ok(SrtpKey {
            suite,
            master_key: master_key.to_vec(),
            master_salt: master_salt.to_vec(),
        })
    }

    /// A fresh random key for `suite` (the OS random source through OpenSSL), for our own
    /// SDES `a=crypto` line (RFC 4568 §6.1: a new key per offer/answer).
    ///
    /// # Errors
    ///
    /// [`SrtpError::BadKey`] if the random source fails.
    pub fn random(suite: SrtpSuite) -> Result<Self, SrtpError> {
        let mut buf = vec![0u8; suite.key_len() + suite.salt_len()];
        openssl::rand::rand_bytes(&mut buf)
            .map_err(|e| SrtpError::BadKey(format!("no random bytes: {e}")))?;
        let (k, s) = buf.split_at(suite.key_len());
        Self::new(suite, k, s)
    }

    /// The key of an SDES `a=crypto` line (its first key; the line must have been chosen by
    /// [`sdp::security::choose_offered_crypto`] or matched by
    /// [`sdp::security::match_answer_crypto`]).
    ///
    /// # Errors
    ///
    /// [`SrtpError::UnsupportedSuite`] for a suite we do not implement, [`SrtpError::BadKey`]
    /// for an MKI, several keys, or a wrong length.
    pub fn from_crypto(c: &CryptoAttr) -> Result<Self, SrtpError> {
        let suite = SrtpSuite::from_sdes(&c.suite)
            .ok_or_else(|| SrtpError::UnsupportedSuite(c.suite.to_string()))?;
        match &c.keys[..] {
            [k] if k.mki.is_none() => {}
            _ => {
                return Err(SrtpError::BadKey(
                    "only one inline key without MKI is supported".into(),
                ))
            }
        }
        let (k, s) = c
            .master_key_and_salt()
            .ok_or_else(|| SrtpError::BadKey("key||salt of the wrong length".into()))?;
        Self::new(suite, k, s)
    }

    /// Master key followed by salt, as SDES `inline:` carries it.
    pub fn key_salt(&self) -> Vec<u8> {
        [self.master_key.as_slice(), self.master_salt.as_slice()].concat()
    }

    /// Our SDES `a=crypto` line with this key.
    pub fn to_crypto(&self, tag: u32) -> CryptoAttr {
        CryptoAttr::new(tag, self.suite.sdes(), self.key_salt())
    }
}

/// Why a packet could not be protected or unprotected. Every unprotect error means the
/// packet is dropped; [`SrtpContext::stats`] counts them by kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// A key of the wrong length, or several keys / an MKI (not supported).
    #[error("bad SRTP key: {0}")]
    BadKey(String),
    /// A suite we do not implement.
    #[error("unsupported SRTP suite {0}")]
    UnsupportedSuite(String),
    /// The authentication tag did not verify (RFC 3711 §3.3 step 5; RFC 7714 §9.2): forged,
    /// corrupted, or keyed with another key.
    #[error("SRTP{} authentication failed", if *.rtcp { "C" } else { "" })]
    Authentication {
        /// The packet was SRTCP.
        rtcp: bool,
    },
    /// The packet's index was already received or is behind the replay window (RFC 3711
    /// §3.3.2).
    #[error("replayed SRTP{} packet: SSRC {ssrc:#010x} index {index}", if *.rtcp { "C" } else { "" })]
    Replay {
        /// The packet was SRTCP.
        rtcp: bool,
        /// Its SSRC.
        ssrc: u32,
        /// The RTP sequence number or SRTCP index.
        index: u64,
    },
    /// Too short or not parseable as RTP/RTCP.
    #[error("malformed packet: {0}")]
    Malformed(String),
    /// Anything else the library reported (e.g. key lifetime exhausted, RFC 3711 §9.2).
    #[error("SRTP: {0}")]
    Other(String),
}

/// What an [`SrtpContext`] did, for statistics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpStats {
    /// RTP packets protected.
    pub rtp_protected: u64,
    /// SRTP packets accepted.
    pub rtp_unprotected: u64,
    /// RTCP packets protected.
    pub rtcp_protected: u64,
    /// SRTCP packets accepted.
    pub rtcp_unprotected: u64,
    /// Packets dropped because authentication failed (RTP and RTCP).
    pub auth_failures: u64,
    /// Packets dropped as replays (RTP and RTCP).
    pub replays: u64,
    /// Packets dropped as malformed.
    pub malformed: u64,
}

/// SRTP for one media stream: the local key protects what we send, the remote key
/// unprotects what we receive (SDES: each side's `a=crypto` key is for what that side sends,
/// RFC 4568 §6.1; DTLS-SRTP: client and server write keys, RFC 5764 §4.2). RTP and RTCP
/// share the master key (RFC 3711 §4.3 derives separate session keys).
pub struct SrtpContext {
    suite: SrtpSuite,
    outbound: Context,
    inbound: Context,
    stats: SrtpStats,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// A context for a stream; both keys must be of the same suite.
    ///
    /// # Errors
    ///
    /// [`SrtpError::BadKey`] when the suites differ or the library refuses a key.
    pub fn new(local: &SrtpKey, remote: &SrtpKey) -> Result<Self, SrtpError> {
        if local.suite != remote.suite {
            return Err(SrtpError::BadKey(format!(
                "local key is {}, remote key {}",
                local.suite, remote.suite
            )));
        }
        Ok(SrtpContext {
            suite: local.suite,
            outbound: make_context(local)?,
            inbound: make_context(remote)?,
            stats: SrtpStats::default(),
        })
    }

    /// The suite in use.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// The counters so far.
    pub fn stats(&self) -> SrtpStats {
        self.stats
    }

    /// RTP → SRTP (RFC 3711 §3.3).
    ///
    /// # Errors
    ///
    /// [`SrtpError::Malformed`] for a buffer that is not RTP; [`SrtpError::Other`] when the
    /// key must not be used any more.
    pub fn protect_rtp(&mut self, rtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let out = self
            .outbound
            .encrypt_rtp(rtp)
            .map_err(|e| map_error(e, false))?;
        self.stats.rtp_protected += 1;
        Ok(out.to_vec())
    }

    /// SRTP → RTP. A failure means: drop the packet (it is counted).
    ///
    /// # Errors
    ///
    /// [`SrtpError::Authentication`], [`SrtpError::Replay`] or [`SrtpError::Malformed`].
    pub fn unprotect_rtp(&mut self, srtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let r = self
            .inbound
            .decrypt_rtp(srtp)
            .map_err(|e| map_error(e, false));
        self.count(r.as_ref().map(|_| ()), false);
        Ok(r?.to_vec())
    }

    /// RTCP → SRTCP (RFC 3711 §3.4; compound packets as one unit).
    ///
    /// # Errors
    ///
    /// [`SrtpError::Malformed`] for a buffer that is not RTCP.
    pub fn protect_rtcp(&mut self, rtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let out = self
            .outbound
            .encrypt_rtcp(rtcp)
            .map_err(|e| map_error(e, true))?;
        self.stats.rtcp_protected += 1;
        Ok(out.to_vec())
    }

    /// SRTCP → RTCP. A failure means: drop the packet (it is counted).
    ///
    /// # Errors
    ///
    /// [`SrtpError::Authentication`], [`SrtpError::Replay`] or [`SrtpError::Malformed`].
    pub fn unprotect_rtcp(&mut self, srtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let r = self
            .inbound
            .decrypt_rtcp(srtcp)
            .map_err(|e| map_error(e, true));
        self.count(r.as_ref().map(|_| ()), true);
        Ok(r?.to_vec())
    }

    fn count(&mut self, r: Result<(), &SrtpError>, rtcp: bool) {
        match r {
            Ok(()) if rtcp => self.stats.rtcp_unprotected += 1,
            Ok(()) => self.stats.rtp_unprotected += 1,
            Err(SrtpError::Authentication { .. }) => self.stats.auth_failures += 1,
            Err(SrtpError::Replay { .. }) => self.stats.replays += 1,
            Err(SrtpError::Malformed(_)) => self.stats.malformed += 1,
            Err(_) => {}
        }
    }
}

fn make_context(key: &SrtpKey) -> Result<Context, SrtpError> {
    let provider =
        rtc_srtp::crypto::default_provider().map_err(|e| SrtpError::Other(e.to_string()))?;
    Context::new(
        &key.master_key,
        &key.master_salt,
        key.suite.profile(),
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
        provider.crypto(),
    )
    .map_err(|e| SrtpError::BadKey(e.to_string()))
}

fn map_error(e: LibError, rtcp: bool) -> SrtpError {
    match e {
        LibError::RtpFailedToVerifyAuthTag
        | LibError::RtcpFailedToVerifyAuthTag
        | LibError::ErrFailedToVerifyAuthTag => SrtpError::Authentication { rtcp },
        LibError::SrtpSsrcDuplicated(ssrc, seq) => SrtpError::Replay {
            rtcp,
            ssrc,
            index: seq.into(),
        },
        LibError::SrtcpSsrcDuplicated(ssrc, index) => SrtpError::Replay {
            rtcp,
            ssrc,
            index: index as u64,
        },
        LibError::ErrTooShortRtp
        | LibError::ErrTooShortRtcp
        | LibError::SrtpTooSmall(..)
        | LibError::SrtcpTooSmall(..)
        | LibError::RtcpInvalidLengthAuthTag(..)
        | LibError::ErrHeaderSizeInsufficient
        | LibError::ErrHeaderSizeInsufficientForExtension => SrtpError::Malformed(e.to_string()),
        other => SrtpError::Other(other.to_string()),
    }
}
