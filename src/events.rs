//! What happened, for people and for scripts: with `--json`, one JSON object per line on
//! stdout (NDJSON, schema in the README); always a short human line on stderr.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::media::stats::MediaSummary;

/// A candidate as reported in events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    pub protocol: String,
    pub component: u16,
    pub priority: u32,
}

impl From<&ice::Candidate> for CandidateInfo {
    fn from(c: &ice::Candidate) -> Self {
        CandidateInfo {
            kind: c.kind.as_str().to_string(),
            address: c.address.to_string(),
            protocol: c.transport.as_str().to_ascii_lowercase(),
            component: c.component,
            priority: c.priority,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairFailureInfo {
    pub local: CandidateInfo,
    pub remote: CandidateInfo,
    pub reason: String,
}

/// Every event the program emits. `agent` names which phone of the process it is about
/// ("caller"/"callee" in the demo and tests, "phone" otherwise).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A name resolved (RFC 3263 for SIP, SRV for STUN/TURN): the targets in the order
    /// they are tried (the first is used) and the DNS records behind them.
    Resolved {
        agent: String,
        role: String,
        name: String,
        targets: Vec<String>,
        records: Vec<String>,
    },
    Registered {
        agent: String,
        aor: String,
        expires: u32,
        /// Our address as the registrar saw it (Via received/rport, RFC 3581).
        public_address: Option<String>,
    },
    Candidates {
        agent: String,
        candidates: Vec<CandidateInfo>,
        /// The candidate put in c=/m= (RFC 8839 §4.2.1.2).
        default: Option<String>,
    },
    Ice {
        agent: String,
        /// checking | selected | completed | failed | not_used | disconnected
        state: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        component: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        local: Option<CandidateInfo>,
        #[serde(skip_serializing_if = "Option::is_none")]
        remote: Option<CandidateInfo>,
        /// Milliseconds from knowing the remote candidates to this state.
        #[serde(skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A DTLS-SRTP association (RFC 5764) of a component connected or failed.
    Dtls {
        agent: String,
        /// connected | failed | closed
        state: String,
        component: u16,
        /// client | server (from a=setup, RFC 5763 §5)
        role: String,
        /// The SRTP protection profile the handshake chose (connected).
        #[serde(skip_serializing_if = "Option::is_none")]
        suite: Option<String>,
        /// The peer certificate's fingerprint, which matched its SDP (connected).
        #[serde(skip_serializing_if = "Option::is_none")]
        peer_fingerprint: Option<String>,
        /// Why it failed (failed).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An `a=remote-candidates` entry of the peer's updated offer that our answer did not use
    /// (RFC 8839 §4.4.2, §5.2: one entry per component, naming our selected pair's local).
    RemoteCandidateIgnored {
        agent: String,
        component: u16,
        /// The address the peer listed, `IP:port`.
        address: String,
        reason: String,
    },
    UpdatedOffer {
        agent: String,
        /// UPDATE | INVITE | none
        method: String,
        /// sent | received | skipped
        direction: String,
        reason: String,
    },
    Call {
        agent: String,
        /// incoming | ringing | redirected | established | hold | resumed | ended | failed
        state: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        setup_ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// For `failed`: who produced `status`. `remote` when the peer sent it; `local` when
        /// nobody did (RFC 3261 §8.1.3.1: no response, or a transport error such as an ICMP
        /// port unreachable, counts as a 408) and `reason` says what happened.
        #[serde(skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
    },
    Dtmf {
        agent: String,
        digit: String,
        /// sent | received
        direction: String,
    },
    Media {
        agent: String,
        /// Boxed: the summary is by far the largest event, and every `Output` would carry
        /// its size otherwise.
        #[serde(flatten)]
        stats: Box<MediaSummary>,
    },
    IceFailed {
        agent: String,
        pairs: Vec<PairFailureInfo>,
    },
    /// A STUN or TURN server gave no candidate (or a TURN allocation was lost): the call goes
    /// on without it, and this says why.
    ServerFailed {
        agent: String,
        /// `stun` | `turn`
        kind: String,
        /// `IP:port` of the server.
        server: String,
        /// How the server was reached: `udp` | `tcp` | `tls`.
        transport: String,
        reason: String,
    },
}

impl Event {
    /// One human-readable line for stderr.
    pub fn human(&self) -> String {
        match self {
            Event::Resolved {
                role,
                name,
                targets,
                ..
            } => format!(
                "{role} {name} resolved to {}",
                if targets.is_empty() {
                    "nothing".to_string()
                } else {
                    targets.join(", ")
                }
            ),
            Event::Registered {
                aor,
                expires,
                public_address,
                ..
            } => format!(
                "registered {aor} for {expires} s (public address {})",
                public_address.as_deref().unwrap_or("unknown")
            ),
            Event::Candidates {
                candidates,
                default,
                ..
            } => format!(
                "gathered {} candidate(s): {}; default {}",
                candidates.len(),
                candidates
                    .iter()
                    .map(|c| format!("{} {}", c.kind, c.address))
                    .collect::<Vec<_>>()
                    .join(", "),
                default.as_deref().unwrap_or("-")
            ),
            Event::Ice {
                state,
                local,
                remote,
                ms,
                reason,
                ..
            } => {
                let mut s = format!("ICE {state}");
                if let (Some(l), Some(r)) = (local, remote) {
                    s += &format!(
                        ": {} {} <-> {} {} ({})",
                        l.kind, l.address, r.kind, r.address, l.protocol
                    );
                }
                if let Some(ms) = ms {
                    s += &format!(" after {ms} ms");
                }
                if let Some(r) = reason {
                    s += &format!(" ({r})");
                }
                s
            }
            Event::RemoteCandidateIgnored {
                component,
                address,
                reason,
                ..
            } => format!(
                "the peer's a=remote-candidates entry {address} (component {component}) ignored: {reason}"
            ),
            Event::UpdatedOffer {
                method,
                direction,
                reason,
                ..
            } => format!("updated offer {direction} ({method}): {reason}"),
            Event::Call {
                state,
                setup_ms,
                status,
                reason,
                origin,
                ..
            } => {
                let mut s = format!("call {state}");
                if let Some(ms) = setup_ms {
                    s += &format!(" in {ms} ms");
                }
                // A local failure's status was sent by nobody: the reason alone tells it.
                match status {
                    Some(st) if origin.as_deref() != Some("local") => s += &format!(" [{st}]"),
                    _ => {}
                }
                if let Some(r) = reason {
                    s += &format!(": {r}");
                }
                s
            }
            Event::Dtmf {
                digit, direction, ..
            } => format!("DTMF {digit} {direction}"),
            Event::Dtls {
                state,
                component,
                role,
                suite,
                reason,
                ..
            } => {
                let mut s = format!("DTLS-SRTP {state} on component {component} as {role}");
                if let Some(suite) = suite {
                    s += &format!(", {suite}");
                }
                if let Some(r) = reason {
                    s += &format!(": {r}");
                }
                s
            }
            Event::Media { stats, .. } => format!(
                "media {}: sent {} received {} (audio; DTMF packets sent {} received {}) lost {} jitter {:.2} ms; {} frame(s) held before ICE selection; {} packet(s) from unknown sources dropped; RTCP sent {} received {}, RTT {}, peer lost {}; {}",
                stats.codec,
                stats.rtp_sent,
                stats.rtp_received,
                stats.dtmf_packets_sent,
                stats.dtmf_packets_received,
                stats.lost,
                stats.jitter_ms,
                stats.frames_held_before_selection,
                stats.rtp_dropped_unknown_source,
                stats.rtcp_sent,
                stats.rtcp_received,
                stats
                    .rtt_ms
                    .map_or_else(|| "unknown".to_string(), |ms| format!("{ms:.1} ms")),
                match (stats.remote_lost, stats.remote_fraction_lost) {
                    (Some(lost), Some(fraction)) => {
                        format!("{lost} ({:.1}% last interval)", fraction * 100.0)
                    }
                    _ => "unknown".to_string(),
                },
                match &stats.srtp_suite {
                    Some(suite) => format!(
                        "SRTP {suite} ({}), {} dropped failing authentication, {} replays",
                        stats.keying, stats.srtp_auth_failures, stats.srtp_replays
                    ),
                    None => "clear RTP".to_string(),
                }
            ),
            Event::ServerFailed {
                kind,
                server,
                transport,
                reason,
                ..
            } => {
                let lost = if kind == "turn" {
                    "no relayed candidate"
                } else {
                    "no server-reflexive candidate"
                };
                format!(
                    "{} server {server} ({transport}) failed: {reason}; {lost} from it",
                    kind.to_ascii_uppercase()
                )
            }
            Event::IceFailed { pairs, .. } => format!(
                "ICE failed: {}",
                if pairs.is_empty() {
                    "no candidate pair could be formed".to_string()
                } else {
                    pairs
                        .iter()
                        .map(|p| {
                            format!("{} -> {}: {}", p.local.address, p.remote.address, p.reason)
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            ),
        }
    }

    pub fn agent(&self) -> &str {
        match self {
            Event::Resolved { agent, .. }
            | Event::Registered { agent, .. }
            | Event::Candidates { agent, .. }
            | Event::Ice { agent, .. }
            | Event::RemoteCandidateIgnored { agent, .. }
            | Event::UpdatedOffer { agent, .. }
            | Event::Call { agent, .. }
            | Event::Dtmf { agent, .. }
            | Event::Dtls { agent, .. }
            | Event::Media { agent, .. }
            | Event::IceFailed { agent, .. }
            | Event::ServerFailed { agent, .. } => agent,
        }
    }
}

/// Where events go. Cloned into every task of a phone; a process-wide lock keeps lines whole.
#[derive(Clone)]
pub struct Emitter {
    json: bool,
    quiet: bool,
    log: Arc<Mutex<Vec<Event>>>,
    /// `answer --max-calls N` (N > 1): which of the process's calls this emitter's events are
    /// about, written as the `call` field (1, 2, … in order of arrival).
    call: Option<u32>,
    /// In-process listeners (the scenario runner waits on a call's events).
    subscribers: Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Event>>>>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("json", &self.json)
            .field("call", &self.call)
            .finish()
    }
}

impl Emitter {
    /// `json`: NDJSON on stdout. `quiet`: no human lines on stderr (tests).
    pub fn new(json: bool, quiet: bool) -> Emitter {
        Emitter {
            json,
            quiet,
            log: Arc::new(Mutex::new(Vec::new())),
            call: None,
            subscribers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Every event emitted from now on is also sent here.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.push(tx);
        }
        rx
    }

    /// The same output, with every event tagged as about call number `call` of the process
    /// (concurrent calls of `answer --max-calls N`).
    pub fn for_call(&self, call: u32) -> Emitter {
        Emitter {
            call: Some(call),
            ..self.clone()
        }
    }

    /// The NDJSON line for `event`: its fields, plus `call` when this emitter has one.
    /// Every event serialises as a non-empty object, so `call` goes in before its closing
    /// brace, keeping the other fields in their order.
    fn json_line(&self, event: &Event) -> Option<String> {
        let line = serde_json::to_string(event).ok()?;
        Some(match (self.call, line.strip_suffix('}')) {
            (Some(call), Some(open)) => format!("{open},\"call\":{call}}}"),
            _ => line,
        })
    }

    pub fn emit(&self, event: Event) {
        if self.json {
            if let Some(line) = self.json_line(&event) {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
        if !self.quiet {
            match self.call {
                Some(call) => eprintln!("[{} call {call}] {}", event.agent(), event.human()),
                None => eprintln!("[{}] {}", event.agent(), event.human()),
            }
        }
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain(|s| s.send(event.clone()).is_ok());
        }
        if let Ok(mut log) = self.log.lock() {
            log.push(event);
        }
    }

    /// Every event emitted so far (tests and the demo's summary read it).
    pub fn events(&self) -> Vec<Event> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_schema_of_each_event() {
        let cand = CandidateInfo {
            kind: "host".into(),
            address: "127.0.0.1:4000".into(),
            protocol: "udp".into(),
            component: 1,
            priority: 2130706431,
        };
        let ice = Event::Ice {
            agent: "caller".into(),
            state: "selected".into(),
            component: Some(1),
            local: Some(cand.clone()),
            remote: Some(cand.clone()),
            ms: Some(12),
            reason: None,
        };
        let v: serde_json::Value = serde_json::to_value(&ice).unwrap();
        assert_eq!(v["event"], "ice");
        assert_eq!(v["state"], "selected");
        assert_eq!(v["local"]["type"], "host");
        assert_eq!(v["remote"]["protocol"], "udp");
        assert_eq!(v["ms"], 12);
        assert!(v.get("reason").is_none());

        let media = Event::Media {
            agent: "callee".into(),
            stats: Box::new(MediaSummary {
                codec: "PCMU".into(),
                rtp_sent: 3,
                ..MediaSummary::default()
            }),
        };
        let v = serde_json::to_value(&media).unwrap();
        assert_eq!(v["event"], "media");
        assert_eq!(v["rtp_sent"], 3);
        assert_eq!(v["codec"], "PCMU");
        for key in [
            "rtp_received",
            "dtmf_packets_sent",
            "dtmf_packets_received",
            "lost",
            "jitter_ms",
            "frames_held_before_selection",
            "rtp_dropped_unknown_source",
            "keying",
            "srtp_auth_failures",
            "srtp_replays",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        // Clear RTP has no suite: null, not absent.
        assert_eq!(v.get("srtp_suite"), Some(&serde_json::Value::Null));
        // RTCP figures not known yet are null, not absent.
        for key in [
            "rtt_ms",
            "rtt_min_ms",
            "rtt_last_ms",
            "remote_fraction_lost",
            "remote_lost",
            "remote_jitter_ms",
        ] {
            assert_eq!(v.get(key), Some(&serde_json::Value::Null), "{key}");
        }
        assert!(media.human().contains("RTT unknown, peer lost unknown"));
        let known = Event::Media {
            agent: "callee".into(),
            stats: Box::new(MediaSummary {
                rtt_ms: Some(1.5),
                remote_fraction_lost: Some(0.25),
                remote_lost: Some(7),
                ..MediaSummary::default()
            }),
        };
        let v = serde_json::to_value(&known).unwrap();
        assert_eq!(v["rtt_ms"], 1.5);
        assert_eq!(v["remote_fraction_lost"], 0.25);
        assert_eq!(v["remote_lost"], 7);
        assert!(
            known
                .human()
                .contains("RTT 1.5 ms, peer lost 7 (25.0% last interval)"),
            "{}",
            known.human()
        );

        let failed = Event::IceFailed {
            agent: "phone".into(),
            pairs: vec![PairFailureInfo {
                local: cand.clone(),
                remote: cand,
                reason: "no response (timeout)".into(),
            }],
        };
        let v = serde_json::to_value(&failed).unwrap();
        assert_eq!(v["event"], "ice_failed");
        assert_eq!(v["pairs"][0]["reason"], "no response (timeout)");

        let upd = Event::UpdatedOffer {
            agent: "caller".into(),
            method: "UPDATE".into(),
            direction: "sent".into(),
            reason: "r".into(),
        };
        assert_eq!(
            serde_json::to_value(&upd).unwrap()["event"],
            "updated_offer"
        );
        let call = Event::Call {
            agent: "caller".into(),
            state: "established".into(),
            setup_ms: Some(5),
            status: Some(200),
            reason: None,
            origin: None,
        };
        let v = serde_json::to_value(&call).unwrap();
        assert_eq!(v["event"], "call");
        assert_eq!(v["setup_ms"], 5);
        let reg = Event::Registered {
            agent: "phone".into(),
            aor: "sip:a@b".into(),
            expires: 60,
            public_address: None,
        };
        let v = serde_json::to_value(&reg).unwrap();
        assert_eq!(v["event"], "registered");
        assert!(v["public_address"].is_null());
    }

    #[test]
    fn emitter_keeps_a_log() {
        let e = Emitter::new(false, true);
        e.emit(Event::Dtmf {
            agent: "a".into(),
            digit: "1".into(),
            direction: "sent".into(),
        });
        assert_eq!(e.events().len(), 1);
        assert!(e.events()[0].human().contains("DTMF 1 sent"));
    }

    #[test]
    fn a_call_emitter_tags_its_json_lines_with_the_call_number() {
        let event = Event::Call {
            agent: "phone".into(),
            state: "established".into(),
            setup_ms: Some(12),
            status: None,
            reason: None,
            origin: None,
        };
        let plain = Emitter::new(true, true);
        let line = plain.json_line(&event).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("call").is_none(), "{line}");
        let tagged = plain.for_call(2).json_line(&event).unwrap();
        let v: serde_json::Value = serde_json::from_str(&tagged).unwrap();
        assert_eq!(v["call"], 2, "{tagged}");
        assert_eq!(v["event"], "call");
        assert_eq!(v["state"], "established");
        assert_eq!(v["setup_ms"], 12);
        assert!(tagged.starts_with("{\"event\":\"call\""), "{tagged}");
    }
}
