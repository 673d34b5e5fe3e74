//! The icephone program as a library, so that integration tests can drive its pieces
//! (SIP transport driver, calls, media) directly. `main.rs` is a thin wrapper.

pub mod cli;
pub mod cmd;
pub mod exit;
pub mod logging;
pub mod sip_driver;
