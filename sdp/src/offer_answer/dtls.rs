//! DTLS-SRTP in offer/answer (RFC 5763 §5, RFC 8842 §5): our `UDP/TLS/RTP/SAVP` stream with
//! `a=fingerprint`, `a=setup` and `a=tls-id`, the DTLS role each side takes, and whether an
//! offer/answer keeps the DTLS association or starts a new one.
//!
//! The certificate and the handshake belong to the caller (this crate has no DTLS): it
//! passes our fingerprint and tls-id in [`LocalDtls`] and gets the peer's fingerprints, its
//! tls-id and our role back in [`NegotiatedDtls`].

use crate::security::{
    answer_setup, check_roles, offerer_role, role_of, DtlsRole, Fingerprint, Setup, StreamSecurity,
    TlsId, TransportProfile,
};

use super::srtp::{SrtpPolicy, SrtpRefusal};

/// Our side of DTLS-SRTP for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDtls {
    /// The fingerprint of our certificate (RFC 8122), written as `a=fingerprint`.
    pub fingerprint: Fingerprint,
    /// Our `a=tls-id` (RFC 8842 §5): the same while the association lasts.
    pub tls_id: TlsId,
    /// The association already set up, if any: our role in it and the peer's tls-id then.
    /// A re-offer keeps the role (RFC 8842 §5.5); an offer carrying the same peer tls-id is
    /// answered with the same role, so the association goes on (RFC 8842 §5.3).
    pub association: Option<(DtlsRole, Option<TlsId>)>,
    /// Our preferred role for a new association (`--dtls-setup`): `None` offers `actpass`
    /// and answers an `actpass` offer `active` (RFC 5763 §5); a role is offered as its
    /// `a=setup` (RFC 8842 §5.2 allows it) and taken when answering an `actpass` offer.
    pub preferred: Option<DtlsRole>,
}

/// What an offer/answer agreed on for DTLS-SRTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedDtls {
    /// Our role: the client sends the ClientHello (`a=setup:active`).
    pub role: DtlsRole,
    /// The peer's `a=fingerprint` values: its certificate must match one (RFC 5763 §5).
    pub remote_fingerprints: Vec<Fingerprint>,
    /// The peer's `a=tls-id`, if it sent one (RFC 8842 §5; older peers do not).
    pub remote_tls_id: Option<TlsId>,
}

fn setup_of(role: DtlsRole) -> Setup {
    match role {
        DtlsRole::Client => Setup::Active,
        DtlsRole::Server => Setup::Passive,
    }
}

/// RFC 5763 §5: a first offer says `actpass`; RFC 8842 §5.5: a re-offer within a running
/// association says the role it holds, so the answer cannot swap the roles under it.
pub(crate) fn offer_setup(local: &LocalDtls) -> Setup {
    let held = local.association.as_ref().map(|(role, _)| *role);
    held.or(local.preferred).map_or(Setup::ActPass, setup_of)
}

/// Our DTLS lines for an offer or answer: fingerprint, setup and tls-id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DtlsLines {
    pub fingerprint: Fingerprint,
    pub setup: Setup,
    pub tls_id: TlsId,
}

/// The DTLS lines of our offer under `policy` (`None` unless it is `dtls`).
pub(crate) fn offer_dtls(
    policy: SrtpPolicy,
    local: Option<&LocalDtls>,
) -> Result<Option<DtlsLines>, SrtpRefusal> {
    if policy != SrtpPolicy::Dtls {
        return Ok(None);
    }
    let local = local.ok_or(SrtpRefusal::NoLocalDtls)?;
    Ok(Some(DtlsLines {
        fingerprint: local.fingerprint.clone(),
        setup: offer_setup(local),
        tls_id: local.tls_id.clone(),
    }))
}

/// Answerer: whether one offered stream gets DTLS-SRTP, our lines for it and what was
/// agreed. `Ok(None)`: the stream is not a DTLS one and the policy does not ask for DTLS.
pub(crate) fn answer_dtls(
    policy: SrtpPolicy,
    offered: &StreamSecurity,
    local: Option<&LocalDtls>,
) -> Result<Option<(DtlsLines, NegotiatedDtls)>, SrtpRefusal> {
    let offered_dtls = offered.profile.is_dtls();
    match (policy, offered_dtls) {
        (SrtpPolicy::Dtls, true) => {}
        (SrtpPolicy::Dtls, false) => {
            return Err(SrtpRefusal::DtlsRequired {
                profile: offered.profile.to_string(),
            })
        }
        (SrtpPolicy::Off, true) => {
            return Err(SrtpRefusal::SrtpOfferedButOff {
                profile: offered.profile.to_string(),
            })
        }
        (_, true) => return Err(SrtpRefusal::DtlsNotEnabled(policy)),
        (_, false) => return Ok(None),
    }
    // The SAVPF form too: answered in its profile, without RTCP feedback (see `session`).
    if !matches!(
        offered.profile,
        TransportProfile::UdpTlsRtpSavp | TransportProfile::UdpTlsRtpSavpf
    ) {
        return Err(SrtpRefusal::ProfileNotSupported {
            profile: offered.profile.to_string(),
        });
    }
    // RFC 5763 §5: the fingerprint is what authenticates the peer's certificate.
    if offered.fingerprints.is_empty() {
        return Err(SrtpRefusal::NoFingerprint);
    }
    let local = local.ok_or(SrtpRefusal::NoLocalDtls)?;
    // RFC 8842 §5.3: the peer's tls-id unchanged means the association goes on, with the
    // roles it has; a new one is a new association, roles from a=setup. A peer that sends
    // no tls-id (before RFC 8842, e.g. baresip) keeps its association across re-offers
    // too, so ours goes on as long as it sends none.
    let kept = local
        .association
        .as_ref()
        .filter(|(_, remote_id)| *remote_id == offered.tls_id);
    let setup = match (kept, local.preferred, offered.setup) {
        (Some((role, _)), _, _) => setup_of(*role),
        (None, Some(role), Some(Setup::ActPass)) => setup_of(role),
        _ => answer_setup(offered.setup).map_err(SrtpRefusal::Setup)?,
    };
    let role = role_of(setup).map_err(SrtpRefusal::Setup)?;
    Ok(Some((
        DtlsLines {
            fingerprint: local.fingerprint.clone(),
            setup,
            tls_id: local.tls_id.clone(),
        },
        NegotiatedDtls {
            role,
            remote_fingerprints: offered.fingerprints.clone(),
            remote_tls_id: offered.tls_id.clone(),
        },
    )))
}

/// Offerer: what the answer agreed on for a stream we offered with DTLS (`Ok(None)` when our
/// offer was not DTLS).
pub(crate) fn read_answer_dtls(
    ours: &StreamSecurity,
    theirs: &StreamSecurity,
) -> Result<Option<NegotiatedDtls>, SrtpRefusal> {
    if !ours.profile.is_dtls() {
        return Ok(None);
    }
    // RFC 3264 §6: the answer keeps the offer's profile.
    if theirs.profile != ours.profile {
        return Err(SrtpRefusal::AnswerProfile {
            offered: ours.profile.to_string(),
            answered: theirs.profile.to_string(),
        });
    }
    if theirs.fingerprints.is_empty() {
        return Err(SrtpRefusal::NoFingerprint);
    }
    let role = match ours.setup {
        Some(Setup::Active | Setup::Passive) => {
            let mine = ours.setup.unwrap_or(Setup::ActPass);
            check_roles(mine, theirs.setup.unwrap_or(Setup::Active)).map_err(SrtpRefusal::Setup)?;
            role_of(mine).map_err(SrtpRefusal::Setup)?
        }
        _ => offerer_role(theirs.setup).map_err(SrtpRefusal::Setup)?,
    };
    Ok(Some(NegotiatedDtls {
        role,
        remote_fingerprints: theirs.fingerprints.clone(),
        remote_tls_id: theirs.tls_id.clone(),
    }))
}
