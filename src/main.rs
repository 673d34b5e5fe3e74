//! icephone: a command-line SIP softphone whose media only flows over paths ICE has proved.

use std::process::ExitCode;

use clap::Parser;
use icephone::{cli, cmd, exit, logging};

/// mimalloc rather than glibc's malloc: load mode allocates small messages on two threads at
/// once, and glibc's arena lock and free-list consolidation took about a quarter of its CPU
/// time in a profile of 2,000 plain calls (scenarios/bench.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.verbose);
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // Context-rich errors at the binary's edge: every cause on its own line.
            eprintln!("icephone: error: {err:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
