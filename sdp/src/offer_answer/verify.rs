//! RFC 8839 §4.2.5: verifying that the peer's ICE data is consistent with its default
//! destination, and reading that destination (RFC 8839 §3).

use std::net::SocketAddr;

use serde::Serialize;

use crate::ice_attrs::StreamIce;
use crate::model::{Address, MediaDescription, SessionDescription};

/// The outcome of RFC 8839 §4.2.5 for one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
#[non_exhaustive]
pub enum IceSupport {
    /// No ufrag/pwd: the peer does not do ICE on this stream.
    NoIce,
    /// The default destination is among the candidates, or is one of the values that
    /// RFC 8839 §4.2.5 says are not failures (0.0.0.0 or :: with port 9, an FQDN).
    Supported,
    /// The default destination of `component` is none of the candidates.
    DefaultNotACandidate {
        /// 1 = RTP, 2 = RTCP.
        component: u16,
        /// The default destination that matched no candidate.
        default: SocketAddr,
    },
}

/// The peer's RTP default destination: `c=` (media, else session) and the `m=` port.
/// `None` when the address is a domain name or there is no `c=` at all.
pub fn remote_default(sd: &SessionDescription, m: &MediaDescription) -> Option<SocketAddr> {
    let c = m.effective_connection(sd)?;
    c.address.ip().map(|ip| SocketAddr::new(ip, m.port))
}

/// RFC 8839 §4.2.5 for one stream.
pub fn verify_ice_support(
    sd: &SessionDescription,
    m: &MediaDescription,
    ice: &StreamIce,
) -> IceSupport {
    if ice.credentials.is_none() {
        return IceSupport::NoIce;
    }
    let Some(conn) = m.effective_connection(sd) else {
        return IceSupport::Supported; // nothing to compare against
    };
    let Address::Ip(ip) = conn.address else {
        return IceSupport::Supported; // RFC 8839 §4.2.5: an FQDN default is not a failure
    };
    // RFC 8839 §4.2.5: 0.0.0.0/:: port 9 (no default yet, trickle) is not a failure.
    if ip.is_unspecified() && m.port == 9 {
        return IceSupport::Supported;
    }
    let rtp = SocketAddr::new(ip, m.port);
    let matches = |comp: u16, addr: SocketAddr| {
        ice.candidates
            .iter()
            .any(|c| c.component == comp && c.address == addr)
    };
    if !matches(1, rtp) {
        return IceSupport::DefaultNotACandidate {
            component: 1,
            default: rtp,
        };
    }
    let has_rtcp_candidates = ice.candidates.iter().any(|c| c.component == 2);
    if has_rtcp_candidates && !ice.rtcp_mux {
        let rtcp = ice.default_rtcp(rtp);
        if !matches(2, rtcp) {
            return IceSupport::DefaultNotACandidate {
                component: 2,
                default: rtcp,
            };
        }
    }
    IceSupport::Supported
}
