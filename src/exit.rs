//! Exit codes: scripts tell failure kinds apart by them (DESIGN.md, "Program surface").

/// Everything went well.
pub const OK: u8 = 0;
/// Generic failure: a diagnostic failed (timeout, error response, bad input).
pub const FAILURE: u8 = 1;
/// Bad command line or configuration, or a command that does not exist yet.
pub const USAGE: u8 = 2;
/// REGISTER failed (error response, wrong credentials, timeout).
pub const REGISTRATION: u8 = 3;
/// The call failed: an error response to the INVITE, a timeout, or a broken dialog.
pub const CALL: u8 = 4;
/// ICE failed: no candidate pair worked, so no media could flow (RFC 8445 §8.1.2).
pub const ICE: u8 = 5;
/// A name did not resolve: NXDOMAIN, no SRV and no address, or no answer from the DNS.
pub const NAME: u8 = 6;
/// Stopped by Ctrl-C (SIGINT) before the work was done: 128 + SIGINT, as shells report it
/// (`icephone run` in load mode; the report is still printed).
pub const INTERRUPTED: u8 = 130;
