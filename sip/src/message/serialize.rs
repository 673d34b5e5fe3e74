//! Writing messages: canonical header names, one value per line, and a Content-Length
//! always recomputed from the body (RFC 3261 §20.14; §18.3 requires it on streams).

use std::io::Write;

use super::header_name::HeaderName;
use super::headers::Headers;
use super::model::{Message, Request, Response};

fn write_headers_and_body(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        out.extend_from_slice(h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        // A CR or LF set by application code (e.g. a display name) would end the header
        // and inject another; write it as SP, which RFC 3261 §7.3.1 makes equivalent to
        // folding.
        out.extend(
            h.value
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }
    // Writing into a Vec cannot fail.
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
}

impl Request {
    /// Appends the wire form to `out`: canonical header names, one value per line, a
    /// Content-Length computed from the body (any in `headers` is dropped), and CR/LF in
    /// header values written as spaces so they cannot inject headers.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "{} {} {}\r\n", self.method, self.uri, self.version);
        write_headers_and_body(out, &self.headers, &self.body);
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.encode_into(&mut out);
        out
    }
}

impl Response {
    /// Appends the wire form to `out`, as [`Request::encode_into`] does; CR/LF in the
    /// reason phrase are written as spaces.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "{} {:03} ", self.version, self.status);
        // Same guard as for header values: the reason phrase cannot end the start line.
        out.extend(
            self.reason
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(out, &self.headers, &self.body);
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.encode_into(&mut out);
        out
    }
}

impl Message {
    /// Appends the wire form to `out` (see [`Request::encode_into`],
    /// [`Response::encode_into`]).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.encode_into(out),
            Message::Response(r) => r.encode_into(out),
        }
    }

    /// The wire form: canonical header names, Content-Length from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::method::Method;
    use super::*;

    #[test]
    fn content_length_is_recomputed_and_names_canonical() {
        let mut r = Request::new(Method::Message, "sip:b@example.com".parse().unwrap());
        r.headers.push("i", "abc");
        r.headers.push("l", "999");
        r.body = b"hello".to_vec();
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert_eq!(
            text,
            "MESSAGE sip:b@example.com SIP/2.0\r\nCall-ID: abc\r\nContent-Length: 5\r\n\r\nhello"
        );
        let mut injected = Request::new(Method::Options, "sip:b@example.com".parse().unwrap());
        injected
            .headers
            .push("Subject", "hi\r\nVia: SIP/2.0/UDP evil");
        let text = String::from_utf8(injected.to_bytes()).unwrap();
        assert!(text.contains("Subject: hi  Via: SIP/2.0/UDP evil\r\n"));
        assert!(!text.contains("\r\nVia:"));
        let resp = Response::new(180, "Ringing");
        assert!(resp.to_bytes().starts_with(b"SIP/2.0 180 Ringing\r\n"));
        let odd = Response::new(200, "OK\r\nX: y");
        assert!(odd
            .to_bytes()
            .starts_with(b"SIP/2.0 200 OK  X: y\r\nContent-Length: 0\r\n"));
    }
}
