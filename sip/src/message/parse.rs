//! Reading a message: start line, header block (unfolding, compact names, list
//! splitting) and body. Framing (how many body bytes) is decided by the caller:
//! [`parse_datagram`] here, [`super::framing::StreamDecoder`] for streams.

use super::error::ParseError;
use super::header_name::HeaderName;
use super::headers::Headers;
use super::method::Method;
use super::model::{Message, Request, Response, Version};
use super::text::{is_token, split_top_level, trim_lws};
use super::uri::Uri;

/// The start line and headers of a message, before its body is attached.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub start: StartLine,
    pub headers: Headers,
}

#[derive(Debug, Clone)]
pub(crate) enum StartLine {
    Request {
        method: Method,
        uri: Uri,
        version: Version,
    },
    Response {
        version: Version,
        status: u16,
        reason: String,
    },
}

impl Head {
    pub fn into_message(self, body: Vec<u8>) -> Message {
        match self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => Message::Request(Request {
                method,
                uri,
                version,
                headers: self.headers,
                body,
            }),
            StartLine::Response {
                version,
                status,
                reason,
            } => Message::Response(Response {
                status,
                reason,
                version,
                headers: self.headers,
                body,
            }),
        }
    }
}

/// Position just after the empty line that ends the header block (`CRLFCRLF`, or a bare
/// `LFLF` from lenient peers), searching from `from`.
pub(crate) fn find_head_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        if b == b'\n' {
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                (Some(b'\n'), _) => return Some(i + 2),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Splits the header block into logical lines: CRLF (or LF) ends a line, and a line that
/// starts with SP/HTAB continues the previous one (RFC 3261 §7.3.1 folding).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                // RFC 3261 §7.3.1: folded LWS is equivalent to a single SP.
                last.push(' ');
                last.push_str(trim_lws(raw));
                continue;
            }
        }
        lines.push(raw.to_owned());
    }
    lines
}

/// Parses the bytes of a head (start line + headers, with or without the final empty line).
pub(crate) fn parse_head(bytes: &[u8]) -> Result<Head, ParseError> {
    // Header text is UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8); invalid bytes from old peers
    // (e.g. Latin-1 display names) are replaced rather than failing the whole message.
    let text = String::from_utf8_lossy(bytes);
    let mut lines = logical_lines(&text).into_iter();
    let start_line = lines.next().ok_or(ParseError::Empty)?;
    if start_line.is_empty() {
        return Err(ParseError::Empty);
    }
    let start = parse_start_line(&start_line)?;
    let headers = parse_header_lines(lines)?;
    Ok(Head { start, headers })
}

fn parse_header_lines(lines: impl Iterator<Item = String>) -> Result<Headers, ParseError> {
    let mut headers = Headers::new();
    for (index, line) in lines.enumerate() {
        if line.is_empty() {
            break;
        }
        let line_no = index + 2;
        let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine {
            line: line_no,
            reason: "no colon",
        })?;
        // RFC 3261 §25.1 HCOLON = *( SP / HTAB ) ":" SWS
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::HeaderLine {
                line: line_no,
                reason: "header name is not a token",
            });
        }
        let name = HeaderName::new(name);
        let value = trim_lws(value);
        if name.is_list() && !value.is_empty() {
            match split_top_level(value, b',') {
                // Empty elements are kept so the typed parser rejects them (RFC 4475 §3.1.2.1).
                Ok(parts) => {
                    for part in parts {
                        headers.push(name.clone(), trim_lws(part));
                    }
                }
                // An unbalanced quote: keep the whole value; its typed parse will fail.
                Err(_) => headers.push(name, value),
            }
        } else {
            headers.push(name, value);
        }
    }
    Ok(headers)
}

fn parse_version(s: &str) -> Result<Version, ParseError> {
    let bad = || ParseError::Version(s.to_owned());
    let rest = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| s.get(4..))
        .ok_or_else(bad)?;
    let (major, minor) = rest.split_once('.').ok_or_else(bad)?;
    Ok(Version {
        major: super::text::parse_u32_digits(major).ok_or_else(bad)?,
        minor: super::text::parse_u32_digits(minor).ok_or_else(bad)?,
    })
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // RFC 3261 §7.2 Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = line
            .split_once(' ')
            .ok_or(ParseError::StartLine("status line has no status code"))?;
        let version = parse_version(version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StatusCode(code.to_owned()));
        }
        let status: u16 = code
            .parse()
            .map_err(|_| ParseError::StatusCode(code.to_owned()))?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::StatusCode(code.to_owned()));
        }
        return Ok(StartLine::Response {
            version,
            status,
            reason: reason.to_owned(),
        });
    }
    // RFC 3261 §7.1 Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly one
    // SP each (RFC 4475 §3.1.2.8-10: extra or trailing SP is malformed).
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine(
            "request line must be `METHOD SP Request-URI SP SIP-Version` with single spaces",
        ));
    };
    if method.is_empty() || uri.is_empty() || version.is_empty() {
        return Err(ParseError::StartLine("empty element in request line"));
    }
    Ok(StartLine::Request {
        method: method.parse()?,
        uri: uri.parse()?,
        version: parse_version(version)?,
    })
}

/// Parses one UDP datagram (RFC 3261 §18.3): a Content-Length shorter than the rest
/// truncates it (the extra octets are ignored), a longer one is an error, and without
/// Content-Length the body is the rest of the datagram.
pub fn parse_datagram(bytes: &[u8]) -> Result<Message, ParseError> {
    // RFC 3261 §7.5: CRLFs before the start line are ignored (an all-CRLF datagram is a
    // keepalive, reported as Empty).
    let first = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or(ParseError::Empty)?;
    let bytes = bytes.get(first..).unwrap_or(&[]);
    let head_end = find_head_end(bytes, 0).ok_or(ParseError::UnterminatedHeaders)?;
    let head = parse_head(bytes.get(..head_end).unwrap_or(&[]))?;
    let rest = bytes.get(head_end..).unwrap_or(&[]);
    let body = match head.headers.content_length()? {
        Some(declared) => rest
            .get(..declared)
            .ok_or(ParseError::BodyTruncated {
                declared,
                available: rest.len(),
            })?
            .to_vec(),
        None => rest.to_vec(),
    };
    Ok(head.into_message(body))
}

/// Best-effort header read of bytes that failed to parse, so a UAS can still answer
/// with an error response (RFC 3261 §8.2: the response needs Via, From, To, Call-ID,
/// CSeq). Ignores the start line; reads header lines until the first that is not one.
pub fn salvage_headers(bytes: &[u8]) -> Option<Headers> {
    let text = String::from_utf8_lossy(bytes);
    let head = match text.find("\r\n\r\n") {
        Some(end) => text.get(..end).unwrap_or(""),
        None => &text,
    };
    let lines = logical_lines(head);
    if lines
        .first()
        .is_some_and(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")))
    {
        // Never answer a response.
        return None;
    }
    let mut headers = Headers::new();
    for line in lines.into_iter().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            break;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            break;
        }
        headers.push(HeaderName::new(name), trim_lws(value));
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_compact_names_and_lists() {
        let raw = b"OPTIONS sip:a@example.com SIP/2.0\r\nv: SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/TCP h2\r\n ;branch=z9hG4bK2\r\nSubject: hello\r\n\tworld\r\nl: 0\r\n\r\n";
        let msg = parse_datagram(raw).unwrap();
        let h = msg.headers();
        assert_eq!(h.count(HeaderName::Via), 2);
        assert_eq!(
            h.get_all("via").nth(1),
            Some("SIP/2.0/TCP h2 ;branch=z9hG4bK2")
        );
        assert_eq!(h.get("subject"), Some("hello world"));
    }

    #[test]
    fn start_line_errors() {
        assert!(matches!(
            parse_start_line("INVITE  sip:a@b SIP/2.0"),
            Err(ParseError::StartLine(_))
        ));
        assert!(matches!(
            parse_start_line("INVITE sip:a@b SIP/2.0 "),
            Err(ParseError::StartLine(_))
        ));
        assert!(matches!(
            parse_start_line("SIP/2.0 4294967301 Big"),
            Err(ParseError::StatusCode(_))
        ));
        assert!(matches!(
            parse_start_line("SIP/2.0 099 Low"),
            Err(ParseError::StatusCode(_))
        ));
        assert!(matches!(
            parse_start_line("INVITE sip:a@b HTTP/1.1"),
            Err(ParseError::Version(_))
        ));
        assert!(matches!(
            parse_start_line("SIP/2.0 100 "),
            Ok(StartLine::Response { status: 100, ref reason, .. }) if reason.is_empty()
        ));
    }

    #[test]
    fn datagram_content_length_rules() {
        let base = "OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 4\r\n\r\n";
        let m = parse_datagram(format!("{base}abcdEXTRA").as_bytes()).unwrap();
        assert_eq!(m.body(), b"abcd");
        assert_eq!(
            parse_datagram(format!("{base}ab").as_bytes()),
            Err(ParseError::BodyTruncated {
                declared: 4,
                available: 2
            })
        );
        let no_cl =
            parse_datagram(b"OPTIONS sip:a@example.com SIP/2.0\r\nTo: <sip:b@x>\r\n\r\nrest")
                .unwrap();
        assert_eq!(no_cl.body(), b"rest");
        assert_eq!(
            parse_datagram(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n"),
            Err(ParseError::UnterminatedHeaders)
        );
        assert_eq!(parse_datagram(b"\r\n\r\n"), Err(ParseError::Empty));
        assert_eq!(parse_datagram(b""), Err(ParseError::Empty));
        let after_crlf = parse_datagram(format!("\r\n{base}abcd").as_bytes()).unwrap();
        assert_eq!(after_crlf.body(), b"abcd");
    }

    #[test]
    fn salvage_reads_headers_despite_bad_start_line() {
        let h = salvage_headers(b"INVITE  sip:a@b SIP/2.0\r\nCall-ID: x\r\nf: <sip:a@b>\r\n\r\n")
            .unwrap();
        assert_eq!(h.get("Call-ID"), Some("x"));
        assert_eq!(h.get("From"), Some("<sip:a@b>"));
        assert!(salvage_headers(b"SIP/2.0 999 x\r\n\r\n").is_none());
    }
}
