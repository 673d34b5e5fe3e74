//! Errors of the message layer: every rejection names what was wrong.

use thiserror::Error;

/// Why bytes could not be read as a SIP message, or a header value as its typed form.
///
/// [`ParseError::status`] gives the response a UAS sends for it. New kinds of error may be
/// added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No bytes, or an empty start line.
    #[error("message is empty")]
    Empty,
    /// The Request-Line or Status-Line (RFC 3261 §7.1, §7.2) does not have its three
    /// elements separated by single spaces; the text says what is wrong.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The request method is not a token (RFC 3261 §25.1). Holds the text found.
    #[error("invalid method {0:?}: not a token")]
    Method(String),
    /// The version is not of the form `SIP/<digits>.<digits>` (RFC 3261 §7.1), or a
    /// response's is not SIP/2.0 ([`super::validate_response`]); a UAS answers 505. A
    /// request's well-formed other version parses, and [`super::validate_request`]
    /// answers it 505. Holds the text found.
    #[error("invalid SIP version {0:?}")]
    Version(String),
    /// The status code is not three digits in 100–699 (RFC 3261 §7.2). Holds the text found.
    #[error("invalid status code {0:?}: must be three digits 100-699")]
    StatusCode(String),
    /// A URI (Request-URI, or in a header) does not follow RFC 3261 §19.1 / §25.1.
    #[error("invalid URI {uri:?}: {reason}")]
    Uri {
        /// The URI text as found.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header line is not `name: value` with a token name (RFC 3261 §7.3).
    #[error("malformed header line {line}: {reason}")]
    HeaderLine {
        /// Its line number in the head after unfolding (RFC 3261 §7.3.1), the start line
        /// being line 1.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The head has no empty line (CRLFCRLF) after the headers (RFC 3261 §7).
    #[error("header block is not ended by an empty line")]
    UnterminatedHeaders,
    /// Content-Length is not a decimal number of bytes (RFC 3261 §20.14). Holds the value.
    #[error("invalid Content-Length {0:?}")]
    ContentLength(String),
    /// Content-Length appears more than once with different values, so the framing is
    /// ambiguous (RFC 4475 §3.3.9); equal repeats are accepted.
    #[error("several Content-Length values disagree")]
    ConflictingContentLength,
    /// A message on a stream (TCP/TLS) lacks Content-Length, so where it ends is unknown
    /// (RFC 3261 §18.3).
    #[error("Content-Length is required on a stream transport")]
    MissingContentLength,
    /// A datagram is shorter than its Content-Length says (RFC 3261 §18.3: discard it).
    #[error("Content-Length says {declared} bytes but only {available} follow")]
    BodyTruncated {
        /// The Content-Length value, in bytes.
        declared: usize,
        /// The bytes after the head, in bytes.
        available: usize,
    },
    /// A message on a stream is larger than the decoder's limit (see
    /// [`super::DEFAULT_MAX_MESSAGE_SIZE`]); a UAS answers 513 (RFC 3261 §21.5.7).
    #[error("message exceeds the {limit} byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A header value does not follow its grammar (made by [`ParseError::header`]).
    #[error("invalid {header} value {value:?}: {reason}")]
    Header {
        /// The header (or element, e.g. `address`, `media type`) that failed.
        header: String,
        /// The value as found.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header required here is absent (e.g. Via, Call-ID, CSeq: RFC 3261 §8.1.1). Holds
    /// its name.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that may appear once (From, To, Call-ID, CSeq, Max-Forwards, Content-Type,
    /// Retry-After, ...) appears several times.
    /// Holds its name.
    #[error("{0} header appears more than once")]
    DuplicateHeader(&'static str),
}

impl ParseError {
    /// Builds a [`ParseError::Header`] for a header value that failed its grammar.
    pub fn header(header: &str, value: &str, reason: &'static str) -> Self {
        ParseError::Header {
            header: header.to_owned(),
            value: value.to_owned(),
            reason,
        }
    }

    /// The status a UAS answers when a request fails this way: 505 for a version it does
    /// not speak (RFC 3261 §21.5.6), 513 for a message over the size limit (§21.5.7), 400
    /// otherwise (§21.4.1).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Version(_) => 505,
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        }
    }
}
