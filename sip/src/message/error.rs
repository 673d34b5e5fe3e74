//! Errors of the message layer: every rejection names what was wrong.

use thiserror::Error;

/// Why bytes could not be read as a SIP message, or a header value as its typed form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("message is empty")]
    Empty,
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    #[error("invalid method {0:?}: not a token")]
    Method(String),
    #[error("invalid SIP version {0:?}")]
    Version(String),
    #[error("invalid status code {0:?}: must be three digits 100-699")]
    StatusCode(String),
    #[error("invalid URI {uri:?}: {reason}")]
    Uri { uri: String, reason: &'static str },
    #[error("malformed header line {line}: {reason}")]
    HeaderLine { line: usize, reason: &'static str },
    #[error("header block is not ended by an empty line")]
    UnterminatedHeaders,
    #[error("invalid Content-Length {0:?}")]
    ContentLength(String),
    #[error("several Content-Length values disagree")]
    ConflictingContentLength,
    #[error("Content-Length is required on a stream transport")]
    MissingContentLength,
    #[error("Content-Length says {declared} bytes but only {available} follow")]
    BodyTruncated { declared: usize, available: usize },
    #[error("message exceeds the {limit} byte limit")]
    TooLarge { limit: usize },
    #[error("invalid {header} value {value:?}: {reason}")]
    Header {
        header: String,
        value: String,
        reason: &'static str,
    },
    #[error("missing {0} header")]
    MissingHeader(&'static str),
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

    /// The status a UAS answers when a request fails this way (RFC 3261 §21.4.1 400,
    /// §21.5.6 505 for a version it does not speak).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Version(_) => 505,
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        }
    }
}
