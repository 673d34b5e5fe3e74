//! Writes one `m=audio` section from a plan the offer or answer logic made.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ice::{Candidate, Credentials};

use crate::audio::{write_formats, AudioFormat, Direction};
use crate::candidate_attr::{format_candidate, format_remote_candidates, RemoteCandidate};
use crate::model::{Attribute, Connection, MediaDescription, OtherLine};
use crate::security::{CryptoAttr, TransportProfile};

/// RFC 8839 §4.3.1/§4.3.2: "no usable default yet" is written as 0.0.0.0 port 9.
pub const DISCARD_DEFAULT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9);

/// The ICE lines of one stream.
#[derive(Debug, Clone)]
pub(crate) struct IceLines {
    pub credentials: Credentials,
    pub candidates: Vec<Candidate>,
    pub remote_candidates: Option<Vec<RemoteCandidate>>,
}

#[derive(Debug, Clone)]
pub(crate) struct StreamPlan {
    pub formats: Vec<AudioFormat>,
    pub direction: Direction,
    pub ptime: Option<u32>,
    pub rtcp_mux: bool,
    /// RTP default destination, written in `c=`/`m=` (RFC 8839 §3).
    pub default_rtp: SocketAddr,
    /// RTCP default destination, written as `a=rtcp` when it is not RTP port + 1 on the
    /// same address (RFC 3605 §2.1).
    pub default_rtcp: Option<SocketAddr>,
    pub ice: Option<IceLines>,
    /// RFC 8839 §4.2.5: answer `a=ice-mismatch` (and no other ICE attribute).
    pub mismatch: bool,
    /// The `m=` profile: RTP/AVP, or RTP/SAVP for required SDES-SRTP (RFC 3711 §12).
    pub profile: TransportProfile,
    /// Our `a=crypto` lines (RFC 4568 §9.1: media level).
    pub crypto: Vec<CryptoAttr>,
    /// Our `a=fingerprint`, `a=setup` and `a=tls-id` for DTLS-SRTP (RFC 8842 §5).
    pub dtls: Option<super::dtls::DtlsLines>,
}

pub(crate) fn write_stream(plan: &StreamPlan) -> MediaDescription {
    let mut m = MediaDescription {
        media: "audio".into(),
        port: plan.default_rtp.port(),
        port_count: None,
        proto: plan.profile.as_str().into(),
        formats: Vec::new(),
        connection: Some(Connection::new(plan.default_rtp.ip())),
        other_lines: Vec::new(),
        attributes: Vec::new(),
        line: 0,
    };
    write_formats(&mut m, &plan.formats);
    if let Some(p) = plan.ptime {
        m.attributes.push(Attribute::value("ptime", p.to_string()));
    }
    // RFC 3264 §5.1: always state the direction; hold is sendonly/inactive, the address
    // stays real (RFC 8839 §4.4.1.1.1: never c=0.0.0.0 for hold).
    m.attributes.push(plan.direction.attribute());
    if plan.rtcp_mux {
        m.attributes.push(Attribute::flag("rtcp-mux"));
    }
    // RFC 5761 §5.1.3 / RFC 8839 §4.2.2: an offer may carry a=rtcp-mux AND RTCP candidates
    // with their a=rtcp, for an answerer that refuses mux; an answer that accepts mux has
    // no RTCP default (the answer path clears it).
    if let Some(rtcp) = plan.default_rtcp {
        let implied = SocketAddr::new(
            plan.default_rtp.ip(),
            plan.default_rtp.port().wrapping_add(1),
        );
        if rtcp != implied {
            // RFC 3605 §2.1: a=rtcp when RTCP is not on the next port of the RTP address.
            let family = if rtcp.is_ipv4() { "IP4" } else { "IP6" };
            m.attributes.push(Attribute::value(
                "rtcp",
                format!("{} IN {} {}", rtcp.port(), family, rtcp.ip()),
            ));
        }
    } else if plan.ice.is_some() && !plan.rtcp_mux {
        // RFC 8839 §4.2.2: no RTCP candidates and no mux → say there is no RTCP.
        m.other_lines.push(OtherLine::new('b', "RS:0"));
        m.other_lines.push(OtherLine::new('b', "RR:0"));
    }
    for c in &plan.crypto {
        m.attributes.push(c.to_attribute());
    }
    if let Some(d) = &plan.dtls {
        // RFC 8842 §5: fingerprint, setup and tls-id at media level.
        m.attributes.push(d.fingerprint.to_attribute());
        m.attributes.push(d.setup.to_attribute());
        m.attributes.push(d.tls_id.to_attribute());
    }
    if plan.mismatch {
        m.attributes.push(Attribute::flag("ice-mismatch"));
    }
    if let Some(ice) = &plan.ice {
        // RFC 8839 §5.4: ufrag and pwd for every stream; written at media level.
        m.attributes
            .push(Attribute::value("ice-ufrag", ice.credentials.ufrag.clone()));
        m.attributes
            .push(Attribute::value("ice-pwd", ice.credentials.pwd.clone()));
        for c in &ice.candidates {
            m.attributes
                .push(Attribute::value("candidate", format_candidate(c)));
        }
        if let Some(rc) = &ice.remote_candidates {
            m.attributes.push(Attribute::value(
                "remote-candidates",
                format_remote_candidates(rc),
            ));
        }
    }
    m
}

/// RFC 3264 §6: a rejected stream is answered with port 0 and the offer's format list.
pub(crate) fn rejected_copy(offered: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: offered.media.clone(),
        port: 0,
        port_count: None,
        proto: offered.proto.clone(),
        formats: offered.formats.clone(),
        connection: None,
        other_lines: Vec::new(),
        attributes: Vec::new(),
        line: 0,
    }
}
