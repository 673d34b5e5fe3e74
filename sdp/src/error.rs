//! Typed errors: every one names the line (1-based) and the field or attribute at fault.

use thiserror::Error;

/// Why an SDP could not be read. `line` is 1-based, counting every line of the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    #[error("line {line}: not of the form <type>=<value>")]
    NotATypeValueLine { line: usize },
    /// RFC 8866 §5: a parser must ignore a description with a type letter it does not know;
    /// we refuse it with a named error rather than half-read it.
    #[error("line {line}: unknown line type `{letter}=`")]
    UnknownLineType { line: usize, letter: char },
    #[error("line {line}: `{letter}=` is not allowed in a media section")]
    NotAllowedInMedia { line: usize, letter: char },
    #[error("line {line}: second `{letter}=` line in the same section")]
    DuplicateLine { line: usize, letter: char },
    #[error("missing `{letter}=` line in the session section")]
    MissingLine { letter: char },
    #[error("line 1: an SDP must start with `v=` (found {found:?})")]
    MissingVersion { found: String },
    #[error("line {line}: unsupported SDP version `{value}` (only 0)")]
    UnsupportedVersion { line: usize, value: String },
    #[error("line {line}: invalid `{field}` field: {value:?}")]
    InvalidField {
        line: usize,
        field: &'static str,
        value: String,
    },
    #[error("line {line}: invalid a={attribute}: {reason}")]
    InvalidAttribute {
        line: usize,
        attribute: String,
        reason: String,
    },
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
