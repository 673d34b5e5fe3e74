//! icephone: a command-line SIP softphone whose media only flows over paths ICE has proved.

use std::process::ExitCode;

use clap::Parser;
use icephone::{cli, cmd, exit, logging};

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
