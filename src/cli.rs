//! The command line. Every command the program will have is listed; the ones not built yet
//! say so when run and exit with the usage code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "icephone",
    version,
    about = "SIP softphone whose media only flows over network paths that ICE has proved",
    long_about = None
)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A complete call between two in-process agents on loopback, with ICE [not built yet]
    Demo(Unbuilt),
    /// Place a call to a SIP URI [not built yet]
    Call(Unbuilt),
    /// Wait for and answer incoming calls [not built yet]
    Answer(Unbuilt),
    /// Register with a SIP registrar [not built yet]
    Register(Unbuilt),
    /// Run scripted call-flow scenarios [not built yet]
    Run(Unbuilt),
    /// Send a STUN Binding request and print the mapped address
    Stun(StunArgs),
    /// SDP diagnostics
    #[command(subcommand)]
    Sdp(SdpCommand),
}

/// Arguments of a command that is not built yet: anything is accepted so that the command
/// can say "not built yet" instead of a confusing argument error.
#[derive(Debug, Args)]
pub struct Unbuilt {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StunArgs {
    /// STUN server as HOST:PORT (port 3478 when omitted)
    pub server: String,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Print one JSON object on stdout instead of text
    #[arg(long)]
    pub json: bool,
    /// Local address to bind (default: an ephemeral port on the unspecified address)
    #[arg(long)]
    pub bind: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum SdpCommand {
    /// Parse an SDP and print a summary: media, codecs, default address, ICE data
    Check(SdpCheckArgs),
}

#[derive(Debug, Args)]
pub struct SdpCheckArgs {
    /// SDP file, or - for standard input
    pub file: PathBuf,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}
