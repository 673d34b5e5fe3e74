//! A summary of an SDP for `icephone sdp check`: what a person debugging a call wants to
//! see first. Serializable, so the CLI can print it as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::audio::{read_direction, read_formats, read_ptime, AudioFormat, Direction};
use crate::candidate_attr::{format_candidate, format_remote_candidates};
use crate::error::SdpError;
use crate::ice_attrs::{read_ice, Warning};
use crate::model::{Connection, SessionDescription};
use crate::offer_answer::{verify_ice_support, IceSupport};

/// The whole description, as `icephone sdp check` shows it (`Display`) or prints it as JSON
/// (`Serialize`; the field names are the JSON keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The `o=` address (IP or domain name).
    pub origin_address: String,
    /// The `o=` session id, verbatim.
    pub session_id: String,
    /// The `o=` version (RFC 3264 §8: it grows when the description changes).
    pub session_version: u64,
    /// Session-level `c=`.
    pub connection: Option<String>,
    /// Session-level `a=ice-lite` (RFC 8839 §5.3).
    pub ice_lite: bool,
    /// Session-level `a=ice-options` tags (RFC 8839 §5.6).
    pub ice_options: Vec<String>,
    /// The session-level options include `ice2` (RFC 8445 agent; without it, RFC 5245).
    pub ice2: bool,
    /// The session-level options include `trickle` (RFC 8838).
    pub trickle: bool,
    /// Session-level `a=ice-pacing` in ms (RFC 8839 §5.5); `None` means the 50 ms default.
    pub ice_pacing_ms: Option<u32>,
    /// One entry per `m=` line, in order.
    pub media: Vec<MediaSummary>,
    /// What `ice_attrs::read_ice` ignored rather than refused.
    pub warnings: Vec<Warning>,
}

/// One `m=` section of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaSummary {
    /// Media type (`audio`, `video`…).
    pub media: String,
    /// The `m=` port; 0 means rejected.
    pub port: u16,
    /// Transport protocol (`RTP/AVP`…).
    pub proto: String,
    /// Direction attribute of the section, else the session's, else sendrecv.
    pub direction: Direction,
    /// Port 0 (RFC 3264 §6).
    pub rejected: bool,
    /// The formats with an `a=rtpmap` (or static 0/8), in `m=` order.
    pub codecs: Vec<AudioFormat>,
    /// `a=ptime` in ms.
    pub ptime: Option<u32>,
    /// RTP default destination, `c=` (media, else session) with the `m=` port.
    pub default_address: Option<String>,
    /// `a=rtcp-mux` present (RFC 5761).
    pub rtcp_mux: bool,
    /// ICE data of the section; `None` when it has no ICE attribute at all.
    pub ice: Option<IceSummary>,
}

/// The ICE attributes of one `m=` section of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceSummary {
    /// Effective ufrag (media level, else session level); `None` unless both ufrag and pwd
    /// are present.
    pub ufrag: Option<String>,
    /// Effective pwd, shown in full: this is a debugging tool.
    pub pwd: Option<String>,
    /// Effective `a=ice-options` tags (media level, else session level).
    pub options: Vec<String>,
    /// Count per candidate type (`host`, `srflx`, `prflx`, `relay`).
    pub candidates_by_type: BTreeMap<String, usize>,
    /// The usable candidates, each written back as an `a=candidate` value.
    pub candidates: Vec<String>,
    /// The `a=remote-candidates` value, written back.
    pub remote_candidates: Option<String>,
    /// `a=end-of-candidates` present.
    pub end_of_candidates: bool,
    /// `a=ice-mismatch` present (RFC 8839 §5.3).
    pub mismatch: bool,
    /// RFC 8839 §4.2.5 verification of the default destination.
    pub support: IceSupport,
}

fn connection_text(c: &Connection) -> String {
    c.address.to_string()
}

/// Summarizes `sd`.
///
/// # Errors
///
/// The errors of [`read_ice`], and [`SdpError::InvalidAttribute`] for a malformed
/// `a=rtpmap` or `a=ptime`.
pub fn summarize(sd: &SessionDescription) -> Result<Summary, SdpError> {
    let view = read_ice(sd)?;
    let mut media = Vec::new();
    for (m, ice) in sd.media.iter().zip(&view.streams) {
        let default_address = m.effective_connection(sd).map(|c| match c.address.ip() {
            Some(ip) => std::net::SocketAddr::new(ip, m.port).to_string(),
            None => format!("{}:{}", connection_text(c), m.port),
        });
        let has_ice = ice.has_ice() || ice.mismatch || ice.remote_candidates.is_some();
        let ice_summary = has_ice.then(|| {
            let mut by_type = BTreeMap::new();
            for c in &ice.candidates {
                *by_type.entry(c.kind.as_str().to_string()).or_insert(0) += 1;
            }
            IceSummary {
                ufrag: ice.credentials.as_ref().map(|c| c.ufrag.clone()),
                pwd: ice.credentials.as_ref().map(|c| c.pwd.clone()),
                options: ice.options.tags.clone(),
                candidates_by_type: by_type,
                candidates: ice.candidates.iter().map(format_candidate).collect(),
                remote_candidates: ice
                    .remote_candidates
                    .as_deref()
                    .map(format_remote_candidates),
                end_of_candidates: ice.end_of_candidates,
                mismatch: ice.mismatch,
                support: verify_ice_support(sd, m, ice),
            }
        });
        media.push(MediaSummary {
            media: m.media.clone(),
            port: m.port,
            proto: m.proto.clone(),
            direction: read_direction(sd, m),
            rejected: m.is_rejected(),
            codecs: read_formats(m)?,
            ptime: read_ptime(m)?,
            default_address,
            rtcp_mux: ice.rtcp_mux,
            ice: ice_summary,
        });
    }
    Ok(Summary {
        origin_address: sd.origin.address.to_string(),
        session_id: sd.origin.session_id.clone(),
        session_version: sd.origin.session_version,
        connection: sd.connection.as_ref().map(connection_text),
        ice_lite: view.session.lite,
        ice2: view.session.options.ice2(),
        trickle: view.session.options.trickle(),
        ice_options: view.session.options.tags.clone(),
        ice_pacing_ms: view.session.pacing_ms,
        media,
        warnings: view.warnings,
    })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "origin: {} (session {} version {})",
            self.origin_address, self.session_id, self.session_version
        )?;
        writeln!(
            f,
            "connection: {}",
            self.connection
                .as_deref()
                .unwrap_or("(none at session level)")
        )?;
        let options = if self.ice_options.is_empty() {
            "(none)".to_string()
        } else {
            self.ice_options.join(" ")
        };
        writeln!(
            f,
            "ice-lite: {}  ice-options: {}  ice-pacing: {}",
            if self.ice_lite { "yes" } else { "no" },
            options,
            self.ice_pacing_ms
                .map_or("(default 50 ms)".to_string(), |p| format!("{p} ms"))
        )?;
        for (i, m) in self.media.iter().enumerate() {
            writeln!(
                f,
                "media {i}: {} port {} {} {}{}",
                m.media,
                m.port,
                m.proto,
                m.direction.as_str(),
                if m.rejected { " (rejected)" } else { "" }
            )?;
            let codecs: Vec<String> = m
                .codecs
                .iter()
                .map(|c| {
                    let mut s = format!("{} {}/{}", c.payload_type, c.encoding_name, c.clock_rate);
                    if let Some(p) = &c.fmtp {
                        s.push_str(&format!(" ({p})"));
                    }
                    s
                })
                .collect();
            writeln!(
                f,
                "  codecs: {}",
                if codecs.is_empty() {
                    "(none known)".into()
                } else {
                    codecs.join(", ")
                }
            )?;
            if let Some(p) = m.ptime {
                writeln!(f, "  ptime: {p} ms")?;
            }
            writeln!(
                f,
                "  default address: {}{}",
                m.default_address.as_deref().unwrap_or("(none)"),
                if m.rtcp_mux { " (rtcp-mux)" } else { "" }
            )?;
            match &m.ice {
                None => writeln!(f, "  ice: none")?,
                Some(ice) => {
                    writeln!(
                        f,
                        "  ice-ufrag: {}  ice-pwd: {}",
                        ice.ufrag.as_deref().unwrap_or("(missing)"),
                        ice.pwd.as_deref().unwrap_or("(missing)")
                    )?;
                    let counts: Vec<String> = ice
                        .candidates_by_type
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect();
                    writeln!(
                        f,
                        "  candidates: {} ({})",
                        ice.candidates.len(),
                        if counts.is_empty() {
                            "none".into()
                        } else {
                            counts.join(", ")
                        }
                    )?;
                    for c in &ice.candidates {
                        writeln!(f, "    {c}")?;
                    }
                    if let Some(rc) = &ice.remote_candidates {
                        writeln!(f, "  remote-candidates: {rc}")?;
                    }
                    if ice.mismatch {
                        writeln!(f, "  ice-mismatch")?;
                    }
                    if ice.end_of_candidates {
                        writeln!(f, "  end-of-candidates")?;
                    }
                    let support = match ice.support {
                        IceSupport::NoIce => "no ICE credentials".to_string(),
                        IceSupport::Supported => "default destination is among the candidates".to_string(),
                        IceSupport::DefaultNotACandidate { component, default } => format!("default {default} of component {component} is NOT among the candidates (RFC 8839 §4.2.5)"),
                    };
                    writeln!(f, "  ice support: {support}")?;
                }
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: line {}: {}", w.line, w.message)?;
        }
        Ok(())
    }
}
