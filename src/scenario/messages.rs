//! SIP messages as the scenario runner sees them: matching received messages against
//! `expect = "request"/"response"` content keys, templating `send` messages (sipp's
//! `<send>` keywords), and the `--trace-msg` log lines.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use sip::message::HeaderName;

use super::format::MessageExpectation;
use super::vars::Vars;
use crate::signalling::control::Traced;

/// A received message split for matching (text, lossily decoded).
#[derive(Debug)]
pub struct Split<'a> {
    pub start: &'a str,
    /// Header fields as written (continuation lines joined by the caller's eye: a folded
    /// value keeps only its first line, RFC 3261 §7.3.1 folding is rare on the wire).
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a str,
}

/// Splits a message at its first empty line (RFC 3261 §7: start line, headers, CRLF, body).
pub fn split(text: &str) -> Split<'_> {
    let (head, body) = match text.find("\r\n\r\n") {
        Some(at) => (&text[..at], &text[at + 4..]),
        None => (text, ""),
    };
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or("");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    Split {
        start,
        headers,
        body,
    }
}

impl Split<'_> {
    /// Values of `name` (compact forms count: `i` is Call-ID).
    pub fn values(&self, name: &str) -> Vec<&str> {
        let wanted = HeaderName::new(name);
        self.headers
            .iter()
            .filter(|(n, _)| HeaderName::new(n) == wanted)
            .map(|(_, v)| *v)
            .collect()
    }

    /// `Some(status)` for a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.split(' ').next()?.parse().ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.start.starts_with("SIP/") {
            return None;
        }
        self.start.split(' ').next()
    }
}

/// Whether a received message is what `e` describes (its negation aside).
pub fn matches(e: &MessageExpectation, text: &str) -> bool {
    let m = split(text);
    let kind_ok = if e.request {
        // RFC 3261 §7.1: method names are case-sensitive.
        m.method()
            .is_some_and(|have| e.method.as_deref().is_none_or(|want| want == have))
    } else {
        m.status()
            .is_some_and(|have| e.status.is_none_or(|want| want == have))
    };
    if !kind_ok {
        return false;
    }
    let content_ok = match &e.header {
        Some(h) => {
            let values = m.values(h);
            !values.is_empty()
                && e.pattern
                    .iter()
                    .all(|p| values.iter().any(|v| p.0.is_match(v)))
        }
        None => e.pattern.iter().all(|p| p.0.is_match(text)),
    };
    content_ok && e.body.iter().all(|p| p.0.is_match(m.body))
}

/// The first line of a message, for failure messages.
pub fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().next().unwrap_or("").to_owned()
}

/// What a `send` template's built-in keywords stand for.
pub struct SendContext<'a> {
    pub call_id: &'a str,
    pub tag: &'a str,
    pub branch: &'a str,
    pub cseq: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The last message the agent received, for `${last.HEADER}`.
    pub last: Option<&'a [u8]>,
}

const LEN_MARK: &str = "\u{1}len\u{1}";

/// The message of a `send` step: variables substituted, LF line ends made CRLF (RFC 3261
/// §7), an empty line after the headers when the template has none, `${len}` the body's
/// length in bytes after substitution (for Content-Length, RFC 3261 §20.14).
pub fn render(template: &str, vars: &Vars, cx: &SendContext<'_>) -> Result<Vec<u8>, String> {
    let mut vars = vars.clone();
    vars.set("call_id", cx.call_id);
    vars.set("tag", cx.tag);
    vars.set("branch", cx.branch);
    vars.set("cseq", cx.cseq.to_string());
    vars.set("local_ip", cx.local.ip().to_string());
    vars.set("local_port", cx.local.port().to_string());
    vars.set("remote_ip", cx.remote.ip().to_string());
    vars.set("remote_port", cx.remote.port().to_string());
    if let Some(last) = cx.last {
        let text = String::from_utf8_lossy(last);
        let m = split(&text);
        let mut names: Vec<&str> = m.headers.iter().map(|(n, _)| *n).collect();
        names.dedup();
        for name in names {
            // Every value, in order (RFC 3261 §7.3.1: one field with commas is the same).
            let joined = m.values(name).join(", ");
            vars.set(
                &format!("last.{}", HeaderName::new(name).as_str()),
                joined.clone(),
            );
            vars.set(&format!("last.{name}"), joined);
        }
    }
    let text = vars.substitute(&template.replace("${len}", LEN_MARK))?;
    let mut text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if !text.contains("\r\n\r\n") {
        while !text.ends_with("\r\n\r\n") {
            text.push_str("\r\n");
        }
    }
    let body_len = text
        .find("\r\n\r\n")
        .map(|at| text.len() - at - 4)
        .unwrap_or(0);
    Ok(text.replace(LEN_MARK, &body_len.to_string()).into_bytes())
}

/// A fresh RFC 3261 §8.1.1.7 branch (magic cookie and random hex).
pub fn fresh_branch() -> String {
    format!("z9hG4bK{:016x}", rand::random::<u64>())
}

/// One message as `--trace-msg` writes it (as sipp's `-trace_msg`): a separator with the
/// UTC time, direction, transport, remote address and size (on the wire), then the message
/// with LF line ends.
pub fn log_entry(t: &Traced) -> String {
    let (verb, way) = if t.outgoing {
        ("sent", "to")
    } else {
        ("received", "from")
    };
    format!(
        "----------------------------------------------- {}\n{} message {verb} ({} bytes) {way} {}:\n\n{}\n\n",
        utc(t.at),
        t.transport.as_str().to_ascii_uppercase(),
        t.bytes.len(),
        t.remote,
        String::from_utf8_lossy(&t.bytes)
            .trim_end_matches(['\r', '\n'])
            .replace("\r\n", "\n")
    )
}

/// `YYYY-MM-DD HH:MM:SS.ffffff UTC`.
pub fn utc(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to a civil date (proleptic Gregorian), H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::Pattern;

    const OK: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nv: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0\r\nSupported: outbound, 100rel\r\nCSeq: 1 INVITE\r\ni: abc@x\r\nContent-Type: application/sdp\r\n\r\nv=0\r\na=ice-options:ice2\r\n";

    fn expectation(request: bool) -> MessageExpectation {
        MessageExpectation {
            request,
            negate: false,
            method: None,
            status: None,
            header: None,
            pattern: Vec::new(),
            body: Vec::new(),
            timeout_ms: 1,
        }
    }

    #[test]
    fn responses_match_on_status_header_text_and_body() {
        let mut e = expectation(false);
        assert!(matches(&e, OK));
        e.status = Some(200);
        e.header = Some("Supported".into());
        assert!(matches(&e, OK));
        e.pattern = vec![Pattern::new("100rel").unwrap()];
        assert!(matches(&e, OK));
        e.pattern.push(Pattern::new("^outbound, 100rel$").unwrap());
        assert!(matches(&e, OK), "every pattern matches");
        e.pattern.push(Pattern::new("timer").unwrap());
        assert!(!matches(&e, OK), "one pattern fails");
        e.pattern.pop();
        e.header = Some("Require".into());
        assert!(!matches(&e, OK), "a header that is absent never matches");
        e.header = None;
        e.pattern = vec![Pattern::new("^a=ice-options:ice2$").unwrap()];
        assert!(matches(&e, OK), "multi-line over the whole text");
        e.body = vec![Pattern::new("^v=0$").unwrap()];
        assert!(matches(&e, OK));
        e.body = vec![Pattern::new("CSeq").unwrap()];
        assert!(!matches(&e, OK), "body only");
        e.body.clear();
        e.status = Some(180);
        assert!(!matches(&e, OK));
        assert!(!matches(&expectation(true), OK), "a response is no request");
        let mut r = expectation(true);
        r.method = Some("INVITE".into());
        assert!(matches(
            &r,
            "INVITE sip:b@x SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n"
        ));
        assert!(!matches(&r, "BYE sip:b@x SIP/2.0\r\n\r\n"));
    }

    #[test]
    fn compact_header_names_count() {
        let m = split(OK);
        assert_eq!(m.values("Call-ID"), ["abc@x"]);
        assert_eq!(m.values("via").len(), 2);
    }

    #[test]
    fn send_templates_get_keywords_crlf_and_len() {
        let mut vars = Vars::default();
        vars.set("bob.address", "127.0.0.1:5080");
        let cx = SendContext {
            call_id: "cid",
            tag: "t1",
            branch: "z9hG4bKb",
            cseq: 3,
            local: "127.0.0.1:5070".parse().unwrap(),
            remote: "127.0.0.1:5080".parse().unwrap(),
            last: Some(OK.as_bytes()),
        };
        let template = "OPTIONS sip:${bob.address} SIP/2.0\nVia: SIP/2.0/UDP ${local_ip}:${local_port};branch=${branch}\nCall-ID: ${call_id}\nCSeq: ${cseq} OPTIONS\nX-Last: ${last.Call-ID} / ${last.Via}\nContent-Length: ${len}\n\nhello\n";
        let out = String::from_utf8(render(template, &vars, &cx).unwrap()).unwrap();
        assert_eq!(
            out,
            "OPTIONS sip:127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKb\r\nCall-ID: cid\r\nCSeq: 3 OPTIONS\r\nX-Last: abc@x / SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1, SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0\r\nContent-Length: 7\r\n\r\nhello\r\n"
        );
        let bare = render("OPTIONS sip:x SIP/2.0\nContent-Length: ${len}", &vars, &cx).unwrap();
        assert_eq!(bare, b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        let err = render("X ${last.Nope}", &vars, &cx).unwrap_err();
        assert!(err.contains("last.Nope"), "{err}");
        assert!(fresh_branch().starts_with("z9hG4bK"));
        assert_ne!(fresh_branch(), fresh_branch());
    }

    #[test]
    fn log_entries_name_time_direction_transport_and_peer() {
        let t = Traced {
            at: UNIX_EPOCH + std::time::Duration::from_micros(1_796_601_600_123_456),
            outgoing: false,
            transport: sip::endpoint::TransportKind::Udp,
            local: None,
            remote: "127.0.0.1:5080".parse().unwrap(),
            bytes: b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n\r\n".to_vec(),
        };
        let entry = log_entry(&t);
        assert!(
            entry.starts_with("----------------------------------------------- 2026-12-07 00:00:00.123456 UTC\nUDP message received (31 bytes) from 127.0.0.1:5080:\n\nSIP/2.0 200 OK\nCSeq: 1 BYE\n\n"),
            "{entry}"
        );
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00.000000 UTC");
    }
}
