//! One module per command.

mod sdp_check;
mod stun;

use std::process::ExitCode;

use crate::cli::{Cli, Command, SdpCommand};
use crate::exit;

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Stun(args) => stun::run(args),
        Command::Sdp(SdpCommand::Check(args)) => sdp_check::run(args),
        Command::Demo(_) => not_built("demo"),
        Command::Call(_) => not_built("call"),
        Command::Answer(_) => not_built("answer"),
        Command::Register(_) => not_built("register"),
        Command::Run(_) => not_built("run"),
    }
}

fn not_built(name: &str) -> anyhow::Result<ExitCode> {
    eprintln!("icephone: `{name}` is not built yet; see README.md for what works today");
    Ok(ExitCode::from(exit::USAGE))
}
