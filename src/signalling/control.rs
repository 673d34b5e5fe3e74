//! Message control for test tools (the scenario runner): header and SDP edits on the next
//! message of a kind a user agent sends, a tap of every SIP message it sends and receives,
//! and hand-written messages sent from its SIP socket. A [`MessageControl`] (the tool's
//! end) and a [`ControlLink`] (the user agent's end, given to [`super::spawn_controlled`])
//! come in pairs from [`message_control`]. SDP is edited here, as text: the `sip` crate
//! never looks inside a body.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sip::endpoint::{HeaderEdits, TransportKind};
use tokio::sync::{mpsc, oneshot};

/// The messages a call sends that edits can be aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outgoing {
    /// The initial INVITE (its SDP offer).
    Invite,
    /// An offer inside the dialog: re-INVITE (hold, resume) or UPDATE.
    Offer,
    /// The final response to the initial INVITE (its SDP answer when 2xx).
    Answer,
    /// The BYE.
    Bye,
}

/// Edits of one message: its header fields, and its SDP body when it has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageEdits {
    pub headers: HeaderEdits,
    pub sdp: SdpEdits,
}

/// Line edits of an SDP body (RFC 8866 text, one `x=...` per line).
#[derive(Debug, Clone, Default)]
pub struct SdpEdits {
    /// Lines added at the end of the first media section; a line written `session:x=...`
    /// goes to the session part instead (before the first `m=`).
    pub add: Vec<String>,
    /// Lines matching any of these are removed.
    pub remove: Vec<regex::Regex>,
    /// `a=candidate` lines of these types (`host`, `srflx`, `prflx`, `relay`) are removed
    /// (RFC 8839 §5.1: `typ` names the type).
    pub remove_candidates: Vec<String>,
}

impl PartialEq for SdpEdits {
    fn eq(&self, other: &Self) -> bool {
        let patterns = |e: &SdpEdits| -> Vec<String> {
            e.remove.iter().map(|r| r.as_str().to_owned()).collect()
        };
        self.add == other.add
            && self.remove_candidates == other.remove_candidates
            && patterns(self) == patterns(other)
    }
}

impl SdpEdits {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && self.remove_candidates.is_empty()
    }

    fn candidate_type(line: &str) -> Option<&str> {
        let rest = line.strip_prefix("a=candidate:")?;
        let mut words = rest.split_whitespace();
        words.find(|w| *w == "typ")?;
        words.next()
    }

    /// The edited SDP, with the line endings of the original (CRLF, RFC 8866 §5).
    pub fn apply(&self, sdp: &str) -> String {
        if self.is_empty() {
            return sdp.to_owned();
        }
        let eol = if sdp.contains("\r\n") || !sdp.contains('\n') {
            "\r\n"
        } else {
            "\n"
        };
        let mut lines: Vec<String> = sdp
            .lines()
            .filter(|line| !line.is_empty())
            .filter(|line| !self.remove.iter().any(|r| r.is_match(line)))
            .filter(|line| {
                Self::candidate_type(line)
                    .is_none_or(|t| !self.remove_candidates.iter().any(|w| w == t))
            })
            .map(str::to_owned)
            .collect();
        let (session, media): (Vec<&String>, Vec<&String>) =
            self.add.iter().partition(|l| l.starts_with("session:"));
        let first_m = lines.iter().position(|l| l.starts_with("m="));
        let end_of_first_media = first_m
            .and_then(|m| {
                lines
                    .iter()
                    .skip(m + 1)
                    .position(|l| l.starts_with("m="))
                    .map(|p| p + m + 1)
            })
            .unwrap_or(lines.len());
        for (i, line) in media.into_iter().enumerate() {
            lines.insert(end_of_first_media + i, line.clone());
        }
        let session_at = first_m.unwrap_or(lines.len());
        for (i, line) in session.into_iter().enumerate() {
            let text = line.trim_start_matches("session:").to_owned();
            lines.insert(session_at + i, text);
        }
        let mut out = lines.join(eol);
        out.push_str(eol);
        out
    }
}

/// One SIP message the user agent sent or received (the `sip` endpoint's tap).
#[derive(Debug, Clone)]
pub struct Traced {
    /// When the bridge saw it.
    pub at: SystemTime,
    pub outgoing: bool,
    pub transport: TransportKind,
    pub local: Option<SocketAddr>,
    pub remote: SocketAddr,
    pub bytes: Vec<u8>,
}

/// A hand-written message to send from the user agent's SIP socket.
#[derive(Debug)]
pub struct RawSend {
    pub transport: TransportKind,
    pub dest: SocketAddr,
    pub bytes: Vec<u8>,
    pub done: oneshot::Sender<Result<(), String>>,
}

type Pending = Arc<Mutex<HashMap<Outgoing, MessageEdits>>>;

/// The tool's end.
#[derive(Debug)]
pub struct MessageControl {
    pending: Pending,
    raw: mpsc::UnboundedSender<RawSend>,
    /// Every message sent and received, when the link asked for the tap (take it).
    pub traced: Option<mpsc::UnboundedReceiver<Traced>>,
}

/// The user agent's end.
#[derive(Debug)]
pub struct ControlLink {
    pub(super) pending: Pending,
    pub(super) raw: mpsc::UnboundedReceiver<RawSend>,
    pub(super) traced: mpsc::UnboundedSender<Traced>,
    /// Applied to every response the user agent sends.
    pub response_edits: HeaderEdits,
    /// Turn the endpoint's message tap on.
    pub trace: bool,
}

/// A connected pair.
pub fn message_control(response_edits: HeaderEdits, trace: bool) -> (MessageControl, ControlLink) {
    let pending = Pending::default();
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let (traced_tx, traced_rx) = mpsc::unbounded_channel();
    (
        MessageControl {
            pending: pending.clone(),
            raw: raw_tx,
            traced: Some(traced_rx),
        },
        ControlLink {
            pending,
            raw: raw_rx,
            traced: traced_tx,
            response_edits,
            trace,
        },
    )
}

impl MessageControl {
    /// Edits for the next message of this kind (replacing any not used yet).
    pub fn edit_next(&self, kind: Outgoing, edits: MessageEdits) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(kind, edits);
        }
    }

    /// Sends `bytes` as they are from the user agent's socket.
    pub async fn send_raw(
        &self,
        transport: TransportKind,
        dest: SocketAddr,
        bytes: Vec<u8>,
    ) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        self.raw
            .send(RawSend {
                transport,
                dest,
                bytes,
                done,
            })
            .map_err(|_| "the SIP user agent has stopped".to_string())?;
        result
            .await
            .map_err(|_| "the SIP user agent has stopped".to_string())?
    }
}

impl ControlLink {
    /// The edits waiting for a message of this kind, used up.
    pub(super) fn take(pending: &Pending, kind: Outgoing) -> Option<MessageEdits> {
        pending.lock().ok().and_then(|mut p| p.remove(&kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=ptime:20\r\na=candidate:1 1 UDP 2130706431 127.0.0.1 4000 typ host\r\na=candidate:2 1 UDP 1694498815 192.0.2.1 4000 typ srflx raddr 127.0.0.1 rport 4000\r\nm=video 0 RTP/AVP 96\r\n";

    #[test]
    fn sdp_lines_are_removed_added_and_candidates_dropped_by_type() {
        let edits = SdpEdits {
            add: vec!["a=x-test:1".into(), "session:a=ice-options:ice2".into()],
            remove: vec![regex::Regex::new("^a=ptime").unwrap()],
            remove_candidates: vec!["host".into()],
        };
        let out = edits.apply(OFFER);
        assert_eq!(
            out,
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-options:ice2\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=candidate:2 1 UDP 1694498815 192.0.2.1 4000 typ srflx raddr 127.0.0.1 rport 4000\r\na=x-test:1\r\nm=video 0 RTP/AVP 96\r\n"
        );
        assert_eq!(SdpEdits::default().apply(OFFER), OFFER);
        let lf = SdpEdits {
            add: vec!["a=y".into()],
            ..SdpEdits::default()
        }
        .apply("v=0\nm=audio 1 RTP/AVP 0\n");
        assert_eq!(lf, "v=0\nm=audio 1 RTP/AVP 0\na=y\n");
    }

    #[test]
    fn edits_are_used_once_per_kind() {
        let (control, link) = message_control(HeaderEdits::default(), false);
        let edits = MessageEdits {
            sdp: SdpEdits {
                add: vec!["a=z".into()],
                ..SdpEdits::default()
            },
            ..MessageEdits::default()
        };
        control.edit_next(Outgoing::Invite, edits.clone());
        assert_eq!(ControlLink::take(&link.pending, Outgoing::Bye), None);
        assert_eq!(
            ControlLink::take(&link.pending, Outgoing::Invite),
            Some(edits)
        );
        assert_eq!(ControlLink::take(&link.pending, Outgoing::Invite), None);
    }
}
