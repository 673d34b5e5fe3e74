//! The command line. Each subcommand lists only the flags it uses, grouped under headings
//! (account, network, limits, ICE, media, output), with examples at the end of its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cli_values::{
    dtmf_digits, non_negative_seconds, positive_rate, positive_seconds, tone_hz,
};

#[derive(Debug, Parser)]
#[command(
    name = "icephone",
    version,
    about = "SIP softphone whose media only flows over network paths that ICE has proved",
    long_about = None,
    after_help = "Examples:\n  icephone demo\n  icephone call sip:bob@192.0.2.20:5060 --tone 440 --duration 10"
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
    /// Interactive softphone: a console (and control socket) to call, answer, hold, transfer
    Phone(PhoneArgs),
    /// Register with a SIP registrar
    Register(RegisterArgs),
    /// Run scripted call-flow scenarios (format: scenarios/README.md)
    Run(RunArgs),
    /// Send a STUN Binding request and print the mapped address
    Stun(StunArgs),
    /// SDP diagnostics
    #[command(subcommand)]
    Sdp(SdpCommand),
    /// Show the effective settings (defaults, then the config file, then flags)
    Config(ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, …) on stdout
    #[command(
        after_help = "Examples:\n  icephone completions bash > /etc/bash_completion.d/icephone\n  icephone completions zsh > ~/.zfunc/_icephone"
    )]
    Completions(CompletionsArgs),
    /// List the sound devices (capture and playback) with their default configuration
    #[command(
        after_help = "Examples:\n  icephone devices\n  icephone call sip:bob@192.0.2.20 --audio-device default"
    )]
    Devices,
    /// Print the man page (roff) on stdout
    #[command(after_help = "Examples:\n  icephone man > icephone.1 && man ./icephone.1")]
    Man,
}

/// Output options shared by the softphone commands.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// One JSON object per event on stdout (NDJSON; schema in the README)
    #[arg(long)]
    pub json: bool,
    /// Write every SIP, STUN and RTP packet sent or received to this pcap file
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// What a call sends and what it does with what it receives.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Media")]
pub struct MediaArgs {
    /// Send this WAV file (16-bit PCM mono, 8 or 16 kHz)
    #[arg(long, value_name = "FILE", conflicts_with = "tone")]
    pub play: Option<PathBuf>,
    /// Send a sine tone of this frequency in Hz (above 0, below 4000)
    #[arg(long, value_name = "HZ", value_parser = tone_hz)]
    pub tone: Option<f64>,
    /// Write the received audio to this WAV file (8 kHz, 16-bit mono)
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Send back what arrives
    #[arg(long)]
    pub echo: bool,
    /// Send these DTMF digits (RFC 4733: 0-9, *, #, A-D) once media flows, e.g. 123#
    #[arg(long, value_name = "DIGITS", value_parser = dtmf_digits)]
    pub dtmf: Option<String>,
    /// Talk through this sound device: capture and playback (a name from `icephone
    /// devices`, or "default")
    #[arg(long, value_name = "NAME", conflicts_with_all = ["play", "tone", "echo"])]
    pub audio_device: Option<String>,
    /// Capture from this device (overrides --audio-device for the microphone)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["play", "tone", "echo"])]
    pub capture_device: Option<String>,
    /// Play received audio on this device (overrides --audio-device for the speaker)
    #[arg(long, value_name = "NAME")]
    pub playback_device: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone demo\n  icephone demo --json --seconds 1 --pcap demo.pcap"
)]
pub struct DemoArgs {
    /// Tone frequency the caller plays, in Hz
    #[arg(long, default_value_t = 440.0, value_parser = tone_hz, help_heading = "Media")]
    pub tone: f64,
    /// Seconds of media before the caller hangs up
    #[arg(long, default_value_t = 3.0, value_parser = positive_seconds, help_heading = "Media")]
    pub seconds: f64,
    /// Also write the callee's recording to this WAV file
    #[arg(long, value_name = "FILE", help_heading = "Media")]
    pub record: Option<PathBuf>,
    /// The callee does not list UPDATE in Allow, so the updated offer is a re-INVITE
    #[arg(long, help_heading = "Network")]
    pub no_update: bool,
    /// A TURN server on loopback (HOST:PORT): the caller's default becomes its relayed
    /// candidate instead of the firewalled 127.0.0.2
    #[arg(long, help_heading = "ICE")]
    pub turn: Option<std::net::SocketAddr>,
    /// User name for the TURN server's long-term credentials (RFC 8489 §9.2)
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        help_heading = "ICE"
    )]
    pub turn_user: String,
    /// Password for the TURN server's long-term credentials
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        help_heading = "ICE"
    )]
    pub turn_password: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone call sip:bob@192.0.2.20:5060 --play hello.wav --duration 10\n  icephone call sip:bob@example.com --proxy 192.0.2.10 --config alice.toml --json --pcap call.pcap"
)]
pub struct CallArgs {
    /// Who to call, e.g. sip:bob@192.0.2.20:5060
    pub uri: String,
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub ice: crate::config::IceArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    /// Hang up after this many seconds of media
    #[arg(long, value_name = "SECS", value_parser = positive_seconds, help_heading = "Call")]
    pub duration: Option<f64>,
    /// Put the call on hold (re-INVITE a=sendonly) after this many seconds of media
    #[arg(long, value_name = "SECS", value_parser = non_negative_seconds, help_heading = "Call")]
    pub hold_after: Option<f64>,
    /// Resume this many seconds after holding
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = positive_seconds, help_heading = "Call")]
    pub hold_for: f64,
    /// Report a 3xx redirect as the call's failure instead of calling its Contact
    #[arg(long, help_heading = "Call")]
    pub no_follow_redirects: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone phone --aor sip:alice@192.0.2.10 --password secret --register\n  icephone phone --accounts accounts.toml --control tcp:127.0.0.1:5555\n  icephone phone --bind 127.0.0.1:5070 --control unix:/tmp/icephone.sock --json\nConsole commands: call URI, answer, reject, hangup, hold, resume, mute, unmute, dtmf 12#,\n  restart-ice, pairs, stats, transfer URI, switch N, calls, account N, accounts, help, quit"
)]
pub struct PhoneArgs {
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub ice: crate::config::IceArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    /// TOML file of accounts ([[account]] with name, aor, password, proxy…): each one is
    /// registered on its own SIP port; `call URI from NAME` picks one
    #[arg(long, value_name = "FILE", help_heading = "Account")]
    pub accounts: Option<PathBuf>,
    /// Register the account of the flags (accounts from --accounts say `register` each)
    #[arg(long, help_heading = "Account")]
    pub register: bool,
    /// Control socket: unix:PATH or tcp:127.0.0.1:PORT (loopback only: no authentication);
    /// one JSON command per line in, responses and NDJSON events out
    #[arg(long, value_name = "ADDR", value_parser = crate::console::control::ControlAddr::from_str_arg, help_heading = "Call")]
    pub control: Option<crate::console::control::ControlAddr>,
    /// Calls at once per account; further INVITEs get 486 Busy Here
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = "Call")]
    pub max_calls: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone answer --bind 192.0.2.20:5060 --answer-after 2 --record in.wav --dtmf 42\n  icephone answer --config bob.toml --register --max-calls 4 --json"
)]
pub struct AnswerArgs {
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub ice: crate::config::IceArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    /// Seconds of ringing before answering
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = non_negative_seconds, help_heading = "Call")]
    pub answer_after: f64,
    /// Hang up each call after this many seconds of media (as pjsua's --duration)
    #[arg(long, value_name = "SECS", value_parser = positive_seconds, help_heading = "Call")]
    pub duration: Option<f64>,
    /// Answer when Enter is pressed on standard input (instead of --answer-after)
    #[arg(long, help_heading = "Call")]
    pub manual: bool,
    /// Send 180 only once ICE has a valid pair (RFC 8839 §7.1)
    #[arg(long, help_heading = "Call")]
    pub alert_after_ice: bool,
    /// Calls at once (at least 1); further INVITEs get 486 Busy Here
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = "Call")]
    pub max_calls: usize,
    /// Register the AOR before waiting for calls
    #[arg(long, help_heading = "Call")]
    pub register: bool,
    /// Exit after this many calls (at least 1); without it, answer until Ctrl-C
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Call")]
    pub calls: Option<u64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone run scenarios/basic-call.toml --junit report.xml\n  icephone run scenarios/basic-call.toml --calls 100 --rate 20 --concurrency 10\n  icephone run scenarios/load-small.toml --calls 300 --rate 10 --rate-increase 10 --rate-interval 2 --rate-max 50 --stats stats.csv\n\nIn load mode Ctrl-C stops starting calls, hangs up the active ones, prints the report and exits 130; a second Ctrl-C exits at once."
)]
pub struct RunArgs {
    /// Scenario files (TOML)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Events and step results as NDJSON on stdout
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Write a JUnit XML report to this file
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub junit: Option<PathBuf>,
    /// Log every SIP message, one file per run and agent: DIR/SCENARIO-RUN-AGENT.log (like sipp -trace_msg)
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub trace_msg: Option<PathBuf>,
    /// Load mode: run each scenario this many times, at least 1 (like sipp -m)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Load")]
    pub calls: Option<u64>,
    /// Load mode: new calls per second, above 0 (like sipp -r)
    #[arg(long, default_value_t = 10.0, value_parser = positive_rate, help_heading = "Load")]
    pub rate: f64,
    /// Load mode: calls at once at most, at least 1 (like sipp -l)
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = "Load")]
    pub concurrency: usize,
    /// Load mode: every run binds its own SIP user agents (a socket per agent and call)
    /// instead of all runs sharing one per agent, as sipp does (the default, when nothing in
    /// the scenario differs per run: see scenarios/README.md)
    #[arg(long, help_heading = "Load")]
    pub ua_per_run: bool,
    /// Load mode: raise the rate by this many calls/s every --rate-interval (like sipp -rate_increase)
    #[arg(long, value_name = "R", value_parser = positive_rate, help_heading = "Load")]
    pub rate_increase: Option<f64>,
    /// Load mode: seconds between two rate increases (like sipp -rate_interval)
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = positive_seconds, help_heading = "Load")]
    pub rate_interval: f64,
    /// Load mode: the rate never goes above this, at least --rate (like sipp -rate_max)
    #[arg(long, value_name = "M", value_parser = positive_rate, help_heading = "Load")]
    pub rate_max: Option<f64>,
    /// Load mode: write statistics as CSV rows to this file (every --stats-every, and at the end)
    #[arg(long, value_name = "FILE", help_heading = "Load")]
    pub stats: Option<PathBuf>,
    /// Load mode: seconds between two rows of --stats
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = positive_seconds, help_heading = "Load")]
    pub stats_every: f64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ICEPHONE_PASSWORD=secret icephone register --aor sip:alice@192.0.2.10 --json\n  icephone register --config alice.toml --once --unregister"
)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    /// Register once and exit, instead of staying registered until Ctrl-C
    #[arg(long, help_heading = "Account")]
    pub once: bool,
    /// With --once: remove the binding (Expires: 0) after registering
    #[arg(long, requires = "once", help_heading = "Account")]
    pub unregister: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone config --print --config alice.toml\n  icephone config --print --config alice.toml --proxy 192.0.2.10 --t1-ms 250"
)]
pub struct ConfigArgs {
    /// Print each setting with where it came from: default, file or flag
    #[arg(long, required = true)]
    pub print: bool,
    #[command(flatten)]
    pub account: crate::config::AccountArgs,
    #[command(flatten)]
    pub ice: crate::config::IceArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  icephone stun 127.0.0.1:3478\n  icephone stun stun.example.net --timeout 2 --json"
)]
pub struct StunArgs {
    /// STUN server as HOST:PORT (a name without a port: `_stun._udp` SRV, else port 3478)
    pub server: String,
    /// Give up after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = positive_seconds)]
    pub timeout: f64,
    /// Print one JSON object on stdout instead of text
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Local address to bind (default: an ephemeral port on the unspecified address)
    #[arg(long, help_heading = "Network")]
    pub bind: Option<std::net::SocketAddr>,
    /// DNS server IP:PORT for a STUN server given by name (default: /etc/resolv.conf);
    /// a name without a port is looked up by `_stun._udp` SRV first
    #[arg(long, value_name = "IP:PORT", help_heading = "Network")]
    pub dns: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum SdpCommand {
    /// Parse an SDP and print a summary: media, codecs, default address, ICE data
    #[command(
        after_help = "Examples:\n  icephone sdp check offer.sdp\n  printf 'v=0\\n...' | icephone sdp check - --json"
    )]
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
