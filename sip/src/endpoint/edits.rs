//! Header edits on messages we send, for test tools (the scenario runner's `headers = {…}`):
//! the TU asks for them; the endpoint applies them just before a message is encoded. Only
//! header fields are touched, never a body.

use std::fmt;

use crate::message::{HeaderName, Headers, Method};

use super::Endpoint;

/// Header fields to remove, replace and add, applied in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Every field of these names is removed.
    pub remove: Vec<HeaderName>,
    /// Every field of the name is replaced by this value (at the first one's place, or at
    /// the end when there was none); a name given twice keeps both values.
    pub replace: Vec<(HeaderName, String)>,
    /// Appended at the end of the header fields.
    pub add: Vec<(HeaderName, String)>,
}

/// A header line of an edit that is not `Name: value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeaderLine {
    /// The line as given.
    pub line: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for BadHeaderLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad header line `{}`: {}", self.line, self.why)
    }
}

impl std::error::Error for BadHeaderLine {}

/// RFC 3261 §25.1 `token` characters (header field names are tokens).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

impl HeaderEdits {
    /// No edit at all.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.replace.is_empty() && self.add.is_empty()
    }

    /// Parses `Name: value` (RFC 3261 §7.3: a token, a colon, the value on one line).
    pub fn parse_line(line: &str) -> Result<(HeaderName, String), BadHeaderLine> {
        let bad = |why| BadHeaderLine {
            line: line.to_owned(),
            why,
        };
        let (name, value) = line.split_once(':').ok_or_else(|| bad("no colon"))?;
        let name = name.trim();
        if !is_token(name) {
            return Err(bad("the name is not a token"));
        }
        if value.contains(['\r', '\n']) {
            return Err(bad("the value spans lines"));
        }
        Ok((HeaderName::new(name), value.trim().to_owned()))
    }

    /// Parses a header name to remove.
    pub fn parse_name(name: &str) -> Result<HeaderName, BadHeaderLine> {
        let trimmed = name.trim();
        if is_token(trimmed) {
            Ok(HeaderName::new(trimmed))
        } else {
            Err(BadHeaderLine {
                line: name.to_owned(),
                why: "not a header name",
            })
        }
    }

    /// Applies the edits to `headers`.
    pub fn apply(&self, headers: &mut Headers) {
        for name in &self.remove {
            headers.remove(name.clone());
        }
        let mut replaced: Vec<&HeaderName> = Vec::new();
        for (name, value) in &self.replace {
            if replaced.contains(&name) {
                headers.push(name.clone(), value.clone());
            } else {
                headers.set(name.clone(), value.clone());
                replaced.push(name);
            }
        }
        for (name, value) in &self.add {
            headers.push(name.clone(), value.clone());
        }
    }
}

impl Endpoint {
    /// Edits for the next request of `method` we originate (the INVITE of
    /// [`Endpoint::invite`], the BYE of [`Endpoint::bye`], …); used once. Call it just before
    /// the command and [`Endpoint::clear_next_edits`] right after, so a command that sends
    /// nothing leaves no edit behind for a later message.
    pub fn edit_next_request(&mut self, method: Method, edits: HeaderEdits) {
        self.next_request_edits = Some((method, edits));
    }

    /// Edits for the next response [`Endpoint::respond`] sends; used once, besides
    /// [`super::EndpointConfig::response_edits`].
    pub fn edit_next_response(&mut self, edits: HeaderEdits) {
        self.next_response_edits = Some(edits);
    }

    /// Drops edits not used by the command they were meant for.
    pub fn clear_next_edits(&mut self) {
        self.next_request_edits = None;
        self.next_response_edits = None;
    }

    /// Applies and uses up the one-shot edits for a request of `method`.
    pub(crate) fn apply_request_edits(&mut self, method: &Method, headers: &mut Headers) {
        if self
            .next_request_edits
            .as_ref()
            .is_some_and(|(m, _)| m == method)
        {
            if let Some((_, edits)) = self.next_request_edits.take() {
                edits.apply(headers);
            }
        }
    }

    /// Applies the configured response edits (every response we send).
    pub(crate) fn apply_response_edits(&self, headers: &mut Headers) {
        if !self.config.response_edits.is_empty() {
            self.config.response_edits.apply(headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Headers {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP a;branch=z9hG4bK1");
        h.push(HeaderName::Allow, "INVITE");
        h.push(HeaderName::Allow, "BYE");
        h.push(HeaderName::UserAgent, "icephone");
        h.push(HeaderName::CallId, "x");
        h
    }

    #[test]
    fn remove_replace_add_in_that_order() {
        let edits = HeaderEdits {
            remove: vec![HeaderEdits::parse_name("allow").unwrap()],
            replace: vec![HeaderEdits::parse_line("User-Agent: custom").unwrap()],
            add: vec![
                HeaderEdits::parse_line("Supported: 100rel").unwrap(),
                HeaderEdits::parse_line("X-Test:1").unwrap(),
            ],
        };
        let mut h = headers();
        edits.apply(&mut h);
        assert!(!h.contains(HeaderName::Allow));
        assert_eq!(h.get(HeaderName::UserAgent), Some("custom"));
        let names: Vec<&str> = h.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["Via", "User-Agent", "Call-ID", "Supported", "X-Test"]
        );
        assert_eq!(h.get("x-test"), Some("1"));
    }

    #[test]
    fn replace_of_a_missing_header_adds_it_and_twice_keeps_both() {
        let edits = HeaderEdits {
            replace: vec![
                HeaderEdits::parse_line("X-A: 1").unwrap(),
                HeaderEdits::parse_line("X-A: 2").unwrap(),
            ],
            ..HeaderEdits::default()
        };
        let mut h = headers();
        edits.apply(&mut h);
        assert_eq!(h.get_all("X-A").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn bad_lines_are_refused() {
        let e = HeaderEdits::parse_line("no colon").unwrap_err();
        assert_eq!(e.why, "no colon");
        assert!(e.to_string().contains("`no colon`"));
        assert!(HeaderEdits::parse_line(": value").is_err());
        assert!(HeaderEdits::parse_line("Bad Name: v").is_err());
        assert!(HeaderEdits::parse_line("X: a\r\nInjected: b").is_err());
        assert!(HeaderEdits::parse_name("two words").is_err());
        assert_eq!(
            HeaderEdits::parse_line("v: SIP/2.0/UDP h").unwrap().0,
            HeaderName::Via
        );
    }
}

#[cfg(test)]
mod endpoint_tests {
    use std::time::Instant;

    use super::*;
    use crate::endpoint::{Body, EndpointConfig, SipEvent, TransportKind};

    fn endpoint(aor: &str, port: u16) -> Endpoint {
        let mut config = EndpointConfig::new(aor);
        config.udp_local = Some(format!("127.0.0.1:{port}").parse().unwrap());
        config.trace_messages = true;
        Endpoint::with_seed(config, 7)
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn one_shot_request_and_response_edits_and_the_tap() {
        let now = Instant::now();
        let mut alice = endpoint("sip:alice@127.0.0.1", 5070);
        alice.edit_next_request(
            Method::Invite,
            HeaderEdits {
                remove: vec![HeaderName::Allow],
                add: vec![HeaderEdits::parse_line("X-Test: 1").unwrap()],
                ..HeaderEdits::default()
            },
        );
        alice
            .invite(
                now,
                "sip:bob@127.0.0.1:5080",
                Some(Body::new("application/sdp", b"v=0\r\n".to_vec())),
            )
            .unwrap();
        alice.clear_next_edits();
        let invite = alice.poll_transmit().unwrap();
        let wire = text(&invite.bytes);
        assert!(wire.contains("\r\nX-Test: 1\r\n"), "{wire}");
        assert!(!wire.contains("\r\nAllow:"), "{wire}");
        let traced = std::iter::from_fn(|| alice.poll_event()).find_map(|e| match e {
            SipEvent::Traced {
                outgoing, bytes, ..
            } => Some((outgoing, bytes)),
            _ => None,
        });
        assert_eq!(traced, Some((true, invite.bytes.clone())));

        let mut config = EndpointConfig::new("sip:bob@127.0.0.1");
        config.udp_local = Some("127.0.0.1:5080".parse().unwrap());
        config.trace_messages = true;
        config.response_edits = HeaderEdits {
            add: vec![HeaderEdits::parse_line("X-Every: r").unwrap()],
            ..HeaderEdits::default()
        };
        let mut bob = Endpoint::with_seed(config, 8);
        bob.handle_datagram(
            now,
            "127.0.0.1:5080".parse().unwrap(),
            "127.0.0.1:5070".parse().unwrap(),
            &invite.bytes,
        );
        let events: Vec<SipEvent> = std::iter::from_fn(|| bob.poll_event()).collect();
        assert!(
            matches!(&events[0], SipEvent::Traced { outgoing: false, bytes, .. } if *bytes == invite.bytes)
        );
        let incoming = events
            .iter()
            .find_map(|e| match e {
                SipEvent::IncomingCall { incoming, .. } => Some(*incoming),
                _ => None,
            })
            .unwrap();
        bob.respond(now, incoming, 180, None).unwrap();
        bob.edit_next_response(HeaderEdits {
            replace: vec![HeaderEdits::parse_line("Supported: 100rel").unwrap()],
            ..HeaderEdits::default()
        });
        bob.respond(now, incoming, 200, None).unwrap();
        let ringing = text(&bob.poll_transmit().unwrap().bytes);
        let ok = text(&bob.poll_transmit().unwrap().bytes);
        assert!(ringing.contains("X-Every: r\r\n"), "{ringing}");
        assert!(!ringing.contains("100rel"), "{ringing}");
        assert!(ok.contains("X-Every: r\r\n"), "{ok}");
        assert!(ok.contains("\r\nSupported: 100rel\r\n"), "{ok}");
        assert_eq!(ok.matches("Supported:").count(), 1, "{ok}");
    }

    #[test]
    fn raw_bytes_go_out_unchanged_and_unparsable_ones_get_400() {
        let now = Instant::now();
        let mut alice = endpoint("sip:alice@127.0.0.1", 5070);
        let raw = b"INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKraw\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: raw\r\nCSeq: one INVITE\r\nContent-Length: 0\r\n\r\n".to_vec();
        let dest = "127.0.0.1:5080".parse().unwrap();
        alice
            .send_raw(TransportKind::Udp, dest, raw.clone())
            .unwrap();
        let out = alice.poll_transmit().unwrap();
        assert_eq!((out.dest, out.bytes.clone()), (dest, raw.clone()));
        assert_eq!(
            alice.send_raw(TransportKind::Tcp, dest, raw.clone()),
            Err(crate::endpoint::EndpointError::TransportUnavailable(
                TransportKind::Tcp
            ))
        );
        let mut bob = endpoint("sip:bob@127.0.0.1", 5080);
        bob.handle_datagram(now, dest, "127.0.0.1:5070".parse().unwrap(), &raw);
        let reply = text(&bob.poll_transmit().unwrap().bytes);
        assert!(reply.starts_with("SIP/2.0 400 "), "{reply}");
    }
}
