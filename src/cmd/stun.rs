//! `icephone stun HOST:PORT`.

use std::process::ExitCode;

use crate::cli::StunArgs;

pub fn run(_args: StunArgs) -> anyhow::Result<ExitCode> {
    eprintln!("icephone: `stun` is not built yet");
    Ok(ExitCode::from(crate::exit::USAGE))
}
