//! The command line.

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
    /// A complete call between two in-process agents on loopback, with ICE
    Demo(DemoArgs),
    /// Place a call to a SIP URI
    Call(CallArgs),
    /// Wait for and answer incoming calls
    Answer(AnswerArgs),
    /// Register with a SIP registrar
    Register(RegisterArgs),
    /// Run scripted call-flow scenarios (format: scenarios/README.md)
    Run(RunArgs),
    /// Send a STUN Binding request and print the mapped address
    Stun(StunArgs),
    /// SDP diagnostics
    #[command(subcommand)]
    Sdp(SdpCommand),
}

/// Output options shared by the softphone commands.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// One JSON object per event on stdout (NDJSON; schema in the README)
    #[arg(long)]
    pub json: bool,
    /// Write every SIP, STUN and RTP packet sent or received to this pcap file
    #[arg(long)]
    pub pcap: Option<PathBuf>,
}

/// What a call sends and what it does with what it receives.
#[derive(Debug, Clone, Default, Args)]
pub struct MediaArgs {
    /// Send this WAV file (16-bit PCM mono, 8 or 16 kHz)
    #[arg(long, conflicts_with = "tone")]
    pub play: Option<PathBuf>,
    /// Send a sine tone of this frequency in Hz
    #[arg(long)]
    pub tone: Option<f64>,
    /// Write the received audio to this WAV file (8 kHz, 16-bit mono)
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Send back what arrives
    #[arg(long)]
    pub echo: bool,
    /// Send these DTMF digits (RFC 4733) once media flows, e.g. 123#
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Callee: send 180 only once ICE has a valid pair (RFC 8839 §7.1)
    #[arg(long)]
    pub alert_after_ice: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Tone frequency the caller plays, in Hz
    #[arg(long, default_value_t = 440.0)]
    pub tone: f64,
    /// Seconds of media before the caller hangs up
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Also write the callee's recording to this WAV file
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The callee does not list UPDATE in Allow, so the updated offer is a re-INVITE
    #[arg(long)]
    pub no_update: bool,
    /// A TURN server on loopback (HOST:PORT): the caller's default becomes its relayed
    /// candidate instead of the firewalled 127.0.0.2
    #[arg(long)]
    pub turn: Option<std::net::SocketAddr>,
    #[arg(long, default_value = "")]
    pub turn_user: String,
    #[arg(long, default_value = "")]
    pub turn_password: String,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Who to call, e.g. sip:bob@192.0.2.20:5060
    pub uri: String,
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Hang up after this many seconds of media
    #[arg(long)]
    pub duration: Option<f64>,
    /// Put the call on hold (re-INVITE a=sendonly) after this many seconds of media
    #[arg(long)]
    pub hold_after: Option<f64>,
    /// Resume this many seconds after holding
    #[arg(long, default_value_t = 2.0)]
    pub hold_for: f64,
    /// Report a 3xx redirect as the call's failure instead of calling its Contact
    #[arg(long)]
    pub no_follow_redirects: bool,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Seconds of ringing before answering
    #[arg(long, default_value_t = 0.0)]
    pub answer_after: f64,
    /// Hang up each call after this many seconds of media (as pjsua's --duration)
    #[arg(long)]
    pub duration: Option<f64>,
    /// Answer when Enter is pressed on standard input (instead of --answer-after)
    #[arg(long)]
    pub manual: bool,
    /// Calls at once; further INVITEs get 486 Busy Here
    #[arg(long, default_value_t = 1)]
    pub max_calls: usize,
    /// Register the AOR before waiting for calls
    #[arg(long)]
    pub register: bool,
    /// Exit after this many calls (at least 1); without it, answer until Ctrl-C
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub calls: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files (TOML)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Events and step results as NDJSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Write a JUnit XML report to this file
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Load mode: run each scenario this many times (like sipp -m)
    #[arg(long)]
    pub calls: Option<u64>,
    /// Load mode: new calls per second (like sipp -r)
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Load mode: calls at once at most (like sipp -l)
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Register once and exit, instead of staying registered until Ctrl-C
    #[arg(long)]
    pub once: bool,
    /// With --once: remove the binding (Expires: 0) after registering
    #[arg(long, requires = "once")]
    pub unregister: bool,
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
