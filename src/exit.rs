//! Exit codes: scripts tell failure kinds apart by them (DESIGN.md, "Program surface").

/// Generic failure: a diagnostic failed (timeout, error response, bad input).
pub const FAILURE: u8 = 1;
/// Bad command line, or a command that does not exist yet.
pub const USAGE: u8 = 2;
