//! `icephone devices`: the sound devices a call can use (`--audio-device NAME`).

use std::process::ExitCode;

use crate::exit;

pub fn run() -> anyhow::Result<ExitCode> {
    match crate::media::device::list::list() {
        Ok(list) => {
            print!("{list}");
            Ok(ExitCode::from(exit::OK))
        }
        Err(e) => {
            eprintln!("icephone: {e}");
            Ok(ExitCode::from(exit::FAILURE))
        }
    }
}
