//! Typed errors: every one names the line (1-based) and the field or attribute at fault.

use thiserror::Error;

/// Why an SDP could not be read. `line` is 1-based, counting every line of the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpError {
    /// A line does not start with a lower-case type letter and `=` (RFC 8866 §5).
    #[error("line {line}: not of the form <type>=<value>")]
    NotATypeValueLine {
        /// 1-based line number.
        line: usize,
    },
    /// RFC 8866 §5: a parser must ignore a description with a type letter it does not know;
    /// we refuse it with a named error rather than half-read it.
    #[error("line {line}: unknown line type `{letter}=`")]
    UnknownLineType {
        /// 1-based line number.
        line: usize,
        /// The unknown type letter.
        letter: char,
    },
    /// A session-level line type (`v o s u e p t r z`) inside an `m=` section (RFC 8866 §5).
    #[error("line {line}: `{letter}=` is not allowed in a media section")]
    NotAllowedInMedia {
        /// 1-based line number.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// A line that may appear once per section (`v=`, `o=`, `s=`, `c=`) appears twice.
    #[error("line {line}: second `{letter}=` line in the same section")]
    DuplicateLine {
        /// 1-based line number of the second occurrence.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// A mandatory session line (`o=`, `s=` or `t=`, RFC 8866 §5) is absent.
    #[error("missing `{letter}=` line in the session section")]
    MissingLine {
        /// The missing type letter.
        letter: char,
    },
    /// The first line is not `v=` (RFC 8866 §5.1).
    #[error("line 1: an SDP must start with `v=` (found {found:?})")]
    MissingVersion {
        /// The start of the first line (at most 40 characters).
        found: String,
    },
    /// `v=` is not `0`, the only version RFC 8866 §5.1 defines.
    #[error("line {line}: unsupported SDP version `{value}` (only 0)")]
    UnsupportedVersion {
        /// 1-based line number.
        line: usize,
        /// The value after `v=`.
        value: String,
    },
    /// A field of `o=`, `c=` or `m=` is malformed (wrong number of fields, a non-numeric
    /// port or version, an address of the wrong family…).
    #[error("line {line}: invalid `{field}` field: {value:?}")]
    InvalidField {
        /// 1-based line number.
        line: usize,
        /// Which field, e.g. `"o= sess-version"` or `"m= port"`.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// An attribute this crate interprets (`a=candidate`, `a=rtpmap`, `a=ice-ufrag`…) has
    /// a value its grammar does not allow, or conflicts with another line.
    #[error("line {line}: invalid a={attribute}: {reason}")]
    InvalidAttribute {
        /// 1-based line number.
        line: usize,
        /// The attribute name.
        attribute: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input has no non-blank line.
    #[error("the input is empty")]
    Empty,
}

impl SdpError {
    /// The line the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            SdpError::NotATypeValueLine { line }
            | SdpError::UnknownLineType { line, .. }
            | SdpError::NotAllowedInMedia { line, .. }
            | SdpError::DuplicateLine { line, .. }
            | SdpError::UnsupportedVersion { line, .. }
            | SdpError::InvalidField { line, .. }
            | SdpError::InvalidAttribute { line, .. } => Some(*line),
            SdpError::MissingVersion { .. } => Some(1),
            SdpError::MissingLine { .. } | SdpError::Empty => None,
        }
    }

    pub(crate) fn attr(line: usize, attribute: &str, reason: impl Into<String>) -> Self {
        SdpError::InvalidAttribute {
            line,
            attribute: attribute.to_string(),
            reason: reason.into(),
        }
    }
}
