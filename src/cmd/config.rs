//! `icephone config --print`: the effective settings and where each came from.

use std::process::ExitCode;

use crate::cli::ConfigArgs;
use crate::config::{read_file, FileConfig, PASSWORD_ENV};
use crate::exit;

pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    // The same checks as the commands that use these settings: a bad value is exit 2.
    let settings = match super::load_settings(&args.account, &args.ice) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    drop(settings);
    let file = match &args.account.config {
        Some(path) => match read_file(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("icephone: {e}");
                return Ok(ExitCode::from(exit::USAGE));
            }
        },
        None => FileConfig::default(),
    };
    let env_password = std::env::var(PASSWORD_ENV).ok();
    for line in crate::config_print::lines(
        &args.account,
        &args.ice,
        &file,
        args.account.config.as_deref(),
        env_password.as_deref(),
    ) {
        println!("{line}");
    }
    Ok(ExitCode::from(exit::OK))
}
