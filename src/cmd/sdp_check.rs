//! `icephone sdp check FILE|-`.

use std::process::ExitCode;

use crate::cli::SdpCheckArgs;

pub fn run(_args: SdpCheckArgs) -> anyhow::Result<ExitCode> {
    eprintln!("icephone: `sdp check` is not built yet");
    Ok(ExitCode::from(crate::exit::USAGE))
}
