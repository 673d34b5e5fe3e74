//! The ICE attributes of RFC 8839 §5 read into typed values, with session-level versus
//! media-level precedence applied, and written back.

use std::collections::HashMap;
use std::net::SocketAddr;

use ice::candidate::is_ice_string;
use ice::{Candidate, CandidateKind, Credentials};
use serde::Serialize;

use crate::candidate_attr::{
    parse_candidate, parse_remote_candidates, CandidateRead, RemoteCandidate,
};
use crate::error::SdpError;
use crate::model::{Address, Attribute, HasAttributes, MediaDescription, SessionDescription};
use crate::parse::is_domain_name;

/// RFC 8839 §5.4: a ufrag has at least 4 ice-chars (24 bits of randomness).
pub const UFRAG_MIN: usize = 4;
/// RFC 8839 §5.4: a received ufrag of up to 256 ice-chars must be accepted.
pub const UFRAG_MAX_RECEIVED: usize = 256;
/// RFC 8839 §5.4: a sent ufrag has at most 32 ice-chars (it goes into STUN USERNAME).
pub const UFRAG_MAX_SENT: usize = 32;
/// RFC 8839 §5.4: a pwd has at least 22 ice-chars (128 bits of randomness).
pub const PWD_MIN: usize = 22;
/// RFC 8839 §5.4: a pwd has at most 256 ice-chars.
pub const PWD_MAX: usize = 256;
/// RFC 8839 §5.5: ice-pacing defaults to 50 ms.
pub const DEFAULT_PACING_MS: u32 = 50;

/// Something in a received SDP that was ignored rather than refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// 1-based line the warning is about (the `m=` line for a per-stream problem).
    pub line: usize,
    /// What was ignored and why, for humans.
    pub message: String,
}

/// `a=ice-options` tags (RFC 8839 §5.6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IceOptions {
    /// The option tags in order, e.g. `ice2`, `trickle`.
    pub tags: Vec<String>,
}

impl IceOptions {
    /// RFC 8839 §4.2.1.5: without `ice2` the peer follows RFC 5245.
    pub fn ice2(&self) -> bool {
        self.tags.iter().any(|t| t == "ice2")
    }

    /// RFC 8838 §4: trickle support.
    pub fn trickle(&self) -> bool {
        self.tags.iter().any(|t| t == "trickle")
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpAttr {
    /// Where RTCP is received.
    pub port: u16,
    /// The RTCP address when given; else the stream's connection address applies.
    pub address: Option<Address>,
}

/// The session-level ICE attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionIce {
    /// RFC 8839 §5.3: `a=ice-lite` is a session-level attribute.
    pub lite: bool,
    /// Session-level `a=ice-options` (RFC 8839 §5.6); empty without one.
    pub options: IceOptions,
    /// `a=ice-pacing` in milliseconds (RFC 8839 §5.5); see [`effective_pacing_ms`].
    pub pacing_ms: Option<u32>,
    /// Session-level `a=ice-ufrag`, the default for streams without their own.
    pub ufrag: Option<String>,
    /// Session-level `a=ice-pwd`, the default for streams without their own.
    pub pwd: Option<String>,
}

/// The ICE data of one media stream, session-level values already folded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamIce {
    /// RFC 8839 §5.4: media-level ufrag/pwd win over session-level ones.
    /// `None` when the stream has neither ufrag nor pwd, or only one of them (a
    /// [`Warning`] then says so).
    pub credentials: Option<Credentials>,
    /// The usable `a=candidate` lines in order; ignored ones became [`Warning`]s.
    pub candidates: Vec<Candidate>,
    /// `a=remote-candidates` (RFC 8839 §5.2): the controlling agent's selected remote
    /// candidates, sent in its updated offer.
    pub remote_candidates: Option<Vec<RemoteCandidate>>,
    /// RFC 8839 §5.6: media-level options, else the session's.
    pub options: IceOptions,
    /// `a=ice-mismatch` (RFC 8839 §5.3): the answerer found that the offer's default
    /// destination (`c=`/`m=`) matched none of its candidates, e.g. because an ALG
    /// rewrote it; ICE is not used for the stream.
    pub mismatch: bool,
    /// `a=end-of-candidates` (RFC 8840): the peer will trickle no more candidates.
    pub end_of_candidates: bool,
    /// `a=rtcp` (RFC 3605); see [`StreamIce::default_rtcp`].
    pub rtcp: Option<RtcpAttr>,
    /// `a=rtcp-mux` (RFC 5761): RTP and RTCP share one port, one ICE component.
    pub rtcp_mux: bool,
}

impl StreamIce {
    /// Did the peer signal ICE for this stream at all (RFC 8839 §4.3.2)?
    pub fn has_ice(&self) -> bool {
        self.credentials.is_some() || !self.candidates.is_empty()
    }
}

/// Every ICE attribute of a description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceView {
    /// The session-level attributes.
    pub session: SessionIce,
    /// One per `m=` line, in order.
    pub streams: Vec<StreamIce>,
    /// What was ignored rather than refused, in the order found.
    pub warnings: Vec<Warning>,
}

/// Reads every ICE attribute of `sd`. Invalid values are errors naming their line; things
/// RFC 8839 says to ignore become [`Warning`]s (and a `tracing` warning).
///
/// # Errors
///
/// [`SdpError::InvalidAttribute`] for a ufrag or pwd of the wrong length or with a non
/// ice-char, two different ufrags (or pwds) at one level, an `a=ice-options` without a
/// tag, a non-numeric `a=ice-pacing`, a malformed `a=remote-candidates` or `a=rtcp`, or an
/// ICE attribute that needs a value and has none. A malformed `a=candidate` is only a
/// warning.
pub fn read_ice(sd: &SessionDescription) -> Result<IceView, SdpError> {
    let mut warnings = Vec::new();
    let session = read_session(sd, &mut warnings)?;
    let streams = sd
        .media
        .iter()
        .map(|m| read_stream(&session, m, &mut warnings))
        .collect::<Result<Vec<_>, _>>()?;
    // RFC 8839 §5.4: identical ufrags imply identical passwords. One pass with a map (a
    // pairwise comparison made `sdp check` quadratic in the number of m= lines).
    let mut first_pwd: HashMap<&str, &str> = HashMap::new();
    for (stream, m) in streams.iter().zip(&sd.media) {
        let Some(c) = &stream.credentials else {
            continue;
        };
        let pwd = *first_pwd.entry(c.ufrag.as_str()).or_insert(c.pwd.as_str());
        if pwd != c.pwd {
            warn(
                &mut warnings,
                m.line,
                format!("ufrag {} used with two passwords", c.ufrag),
            );
        }
    }
    Ok(IceView {
        session,
        streams,
        warnings,
    })
}

fn warn(warnings: &mut Vec<Warning>, line: usize, message: String) {
    tracing::warn!(line, "{message}");
    warnings.push(Warning { line, message });
}

fn value(a: &Attribute) -> Result<&str, SdpError> {
    a.value
        .as_deref()
        .ok_or_else(|| SdpError::attr(a.line, &a.name, "missing value"))
}

fn read_session(
    sd: &SessionDescription,
    warnings: &mut Vec<Warning>,
) -> Result<SessionIce, SdpError> {
    let mut s = SessionIce {
        lite: sd.has_attribute("ice-lite"),
        ..SessionIce::default()
    };
    let mut seen = CredentialLines::default();
    for a in sd.attributes() {
        match a.name.as_str() {
            "ice-ufrag" => s.ufrag = Some(seen.ufrag(a, check_ufrag(a)?)?),
            "ice-pwd" => s.pwd = Some(seen.pwd(a, check_pwd(a)?)?),
            "ice-options" => s.options = parse_options(a)?,
            // RFC 8839 §5.5: ice-pacing is session level.
            "ice-pacing" => {
                let v = value(a)?;
                s.pacing_ms = Some(v.trim().parse().map_err(|_| {
                    SdpError::attr(a.line, "ice-pacing", format!("{v:?} is not a number"))
                })?);
            }
            "candidate" | "remote-candidates" | "ice-mismatch" => warn(
                warnings,
                a.line,
                format!(
                    "a={} at session level is ignored (media level only)",
                    a.name
                ),
            ),
            _ => {}
        }
    }
    Ok(s)
}

fn read_stream(
    session: &SessionIce,
    m: &MediaDescription,
    warnings: &mut Vec<Warning>,
) -> Result<StreamIce, SdpError> {
    let mut ufrag = session.ufrag.clone();
    let mut pwd = session.pwd.clone();
    let mut s = StreamIce {
        options: session.options.clone(),
        ..StreamIce::default()
    };
    let mut seen = CredentialLines::default();
    for a in m.attributes() {
        match a.name.as_str() {
            "ice-ufrag" => ufrag = Some(seen.ufrag(a, check_ufrag(a)?)?),
            "ice-pwd" => pwd = Some(seen.pwd(a, check_pwd(a)?)?),
            "ice-options" => s.options = parse_options(a)?,
            "candidate" => {
                if let Some(c) = read_candidate(a, warnings) {
                    s.candidates.push(c);
                }
            }
            "remote-candidates" => {
                s.remote_candidates = Some(parse_remote_candidates(a.line, value(a)?)?)
            }
            "ice-mismatch" => s.mismatch = true,
            "end-of-candidates" => s.end_of_candidates = true,
            "rtcp" => s.rtcp = Some(parse_rtcp(a)?),
            "rtcp-mux" => s.rtcp_mux = true,
            "ice-lite" => warn(
                warnings,
                a.line,
                "a=ice-lite at media level is ignored (RFC 8839 §5.3: session level)".into(),
            ),
            "ice-pacing" => warn(
                warnings,
                a.line,
                "a=ice-pacing at media level is ignored (RFC 8839 §5.5: session level)".into(),
            ),
            _ => {}
        }
    }
    s.credentials = match (ufrag, pwd) {
        (Some(ufrag), Some(pwd)) => Some(Credentials { ufrag, pwd }),
        (None, None) => None,
        // RFC 8839 §5.4: both are mandatory per stream; one without the other is unusable.
        (u, _) => {
            warn(
                warnings,
                m.line,
                format!(
                    "stream has a={} but no a={}; its ICE data is unusable",
                    if u.is_some() { "ice-ufrag" } else { "ice-pwd" },
                    if u.is_some() { "ice-pwd" } else { "ice-ufrag" }
                ),
            );
            None
        }
    };
    Ok(s)
}

/// One remote `a=candidate`. Like pjnath, a truncated or malformed line costs only that
/// candidate: it is ignored with a warning naming the line instead of failing the whole SDP
/// (and so the call). RFC 8839 §5.1 already ignores candidates we cannot use (FQDN,
/// unknown transport); see ASSUMPTIONS.md for why malformed ones join them.
fn read_candidate(a: &Attribute, warnings: &mut Vec<Warning>) -> Option<Candidate> {
    let read = value(a).and_then(|v| parse_candidate(a.line, v));
    let reason = match read {
        // A host candidate on port 0 cannot receive anything (RFC 8445 §5.1.1.1: a host
        // candidate is a bound transport address).
        Ok(CandidateRead::Candidate(c))
            if c.kind == CandidateKind::Host && c.address.port() == 0 =>
        {
            "host candidate with port 0".to_string()
        }
        Ok(CandidateRead::Candidate(c)) => return Some(c),
        Ok(CandidateRead::Ignored { reason }) => reason,
        Err(SdpError::InvalidAttribute { reason, .. }) => format!("malformed: {reason}"),
        Err(other) => format!("malformed: {other}"),
    };
    warn(
        warnings,
        a.line,
        format!("remote candidate ignored: {reason}"),
    );
    None
}

/// The `a=ice-ufrag` / `a=ice-pwd` lines seen at one level (session or one media section):
/// a second line with a different value is an error naming both lines, never "last wins".
#[derive(Default)]
struct CredentialLines {
    ufrag: Option<(usize, String)>,
    pwd: Option<(usize, String)>,
}

impl CredentialLines {
    fn ufrag(&mut self, a: &Attribute, value: String) -> Result<String, SdpError> {
        Self::once(&mut self.ufrag, a, value)
    }

    fn pwd(&mut self, a: &Attribute, value: String) -> Result<String, SdpError> {
        Self::once(&mut self.pwd, a, value)
    }

    /// RFC 8839 §5.4: one ufrag and one pwd per level; which of two conflicting values the
    /// peer meant cannot be guessed.
    fn once(
        slot: &mut Option<(usize, String)>,
        a: &Attribute,
        value: String,
    ) -> Result<String, SdpError> {
        match slot {
            Some((first, earlier)) if *earlier != value => Err(SdpError::attr(
                a.line,
                &a.name,
                format!("conflicts with a={} on line {first}", a.name),
            )),
            Some(_) => Ok(value),
            None => {
                *slot = Some((a.line, value.clone()));
                Ok(value)
            }
        }
    }
}

/// RFC 8839 §5.4: `ice-ufrag = 4*256ice-char`.
fn check_ufrag(a: &Attribute) -> Result<String, SdpError> {
    check_ice_string(a, UFRAG_MIN, UFRAG_MAX_RECEIVED)
}

/// RFC 8839 §5.4: `ice-pwd = 22*256ice-char`.
fn check_pwd(a: &Attribute) -> Result<String, SdpError> {
    check_ice_string(a, PWD_MIN, PWD_MAX)
}

fn check_ice_string(a: &Attribute, min: usize, max: usize) -> Result<String, SdpError> {
    let v = value(a)?.trim();
    if !is_ice_string(v) {
        return Err(SdpError::attr(
            a.line,
            &a.name,
            "contains a character that is not an ice-char",
        ));
    }
    if v.len() < min || v.len() > max {
        return Err(SdpError::attr(
            a.line,
            &a.name,
            format!("{} characters, expected {min}..{max}", v.len()),
        ));
    }
    Ok(v.to_string())
}

fn parse_options(a: &Attribute) -> Result<IceOptions, SdpError> {
    let tags: Vec<String> = value(a)?
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    if tags.is_empty() {
        return Err(SdpError::attr(a.line, "ice-options", "no option tag"));
    }
    Ok(IceOptions { tags })
}

/// RFC 3605 §2.1: `rtcp-attribute = "a=rtcp:" port [nettype space addrtype space connection-address]`.
fn parse_rtcp(a: &Attribute) -> Result<RtcpAttr, SdpError> {
    let v = value(a)?;
    let err = || SdpError::attr(a.line, "rtcp", format!("{v:?}"));
    let parts: Vec<&str> = v.split_ascii_whitespace().collect();
    let port = parts.first().and_then(|p| p.parse().ok()).ok_or_else(err)?;
    let address = match parts[..] {
        [_] => None,
        [_, _, _, addr] => Some(match addr.parse() {
            Ok(ip) => Address::Ip(ip),
            Err(_) if is_domain_name(addr) => Address::Name(addr.to_string()),
            Err(_) => return Err(err()),
        }),
        _ => return Err(err()),
    };
    Ok(RtcpAttr { port, address })
}

impl StreamIce {
    /// RFC 8839 §3 / RFC 3605: where RTCP goes by default: `a=rtcp`, else RTP port + 1, or
    /// the RTP address itself under rtcp-mux.
    pub fn default_rtcp(&self, rtp: SocketAddr) -> SocketAddr {
        if self.rtcp_mux {
            return rtp;
        }
        match &self.rtcp {
            Some(r) => {
                let ip = r.address.as_ref().and_then(Address::ip).unwrap_or(rtp.ip());
                SocketAddr::new(ip, r.port)
            }
            None => SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)),
        }
    }
}

/// Checks credentials we are about to send (RFC 8839 §5.4: a sent ufrag is 4..32 ice-chars,
/// a pwd 22..256).
///
/// # Errors
///
/// A message saying which of the two breaks the rule (the password itself is not shown).
pub fn check_local_credentials(c: &Credentials) -> Result<(), String> {
    let ok = |s: &str, min, max| is_ice_string(s) && (min..=max).contains(&s.len());
    if !ok(&c.ufrag, UFRAG_MIN, UFRAG_MAX_SENT) {
        return Err(format!("local ufrag {:?} is not 4..32 ice-chars", c.ufrag));
    }
    if !ok(&c.pwd, PWD_MIN, PWD_MAX) {
        return Err("local pwd is not 22..256 ice-chars".into());
    }
    Ok(())
}

/// RFC 8839 §5.5: both agents pace at the larger of the two values (50 ms when absent).
pub fn effective_pacing_ms(local: u32, remote: Option<u32>) -> u32 {
    local.max(remote.unwrap_or(DEFAULT_PACING_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_is_the_larger_of_both_with_default_50() {
        assert_eq!(effective_pacing_ms(20, None), 50);
        assert_eq!(effective_pacing_ms(20, Some(30)), 30);
        assert_eq!(effective_pacing_ms(80, Some(30)), 80);
    }

    #[test]
    fn local_credentials_limits() {
        let ok = Credentials {
            ufrag: "u".repeat(32),
            pwd: "p".repeat(22),
        };
        assert!(check_local_credentials(&ok).is_ok());
        let long = Credentials {
            ufrag: "u".repeat(33),
            ..ok.clone()
        };
        assert!(check_local_credentials(&long).is_err());
        let short_pwd = Credentials {
            pwd: "p".repeat(21),
            ..ok
        };
        assert!(check_local_credentials(&short_pwd).is_err());
    }
}
