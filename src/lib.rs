//! The icephone program as a library, so that integration tests can drive its pieces
//! (SIP transport driver, calls, media) directly. `main.rs` is a thin wrapper.

pub mod call;
pub mod cli;
pub mod cli_values;
pub mod cmd;
pub mod config;
pub mod config_args;
pub mod config_print;
pub mod console;
pub mod demo;
pub mod dns;
pub mod events;
pub mod exit;
pub mod limits_config;
pub mod logging;
pub mod media;
pub mod names;
pub mod netns;
pub mod pcap;
pub mod phone;
pub mod recv_buffer;
pub mod scenario;
pub mod signalling;
pub mod sip_driver;
pub mod tls;
pub mod turn_uri;
