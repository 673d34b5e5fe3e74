//! One module per command.

mod answer;
mod call;
mod config;
mod demo;
mod devices;
mod docs;
mod phone;
mod register;
mod run;
mod sdp_check;
mod stun;

use std::process::ExitCode;

use crate::cli::{Cli, Command, SdpCommand};
use crate::exit;

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Stun(args) => stun::run(args),
        Command::Sdp(SdpCommand::Check(args)) => sdp_check::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Call(args) => call::run(args),
        Command::Answer(args) => answer::run(args),
        Command::Phone(args) => phone::run(args),
        Command::Register(args) => register::run(args),
        Command::Run(args) => run::run(args),
        Command::Config(args) => config::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Devices => devices::run(),
        Command::Man => docs::man(),
    }
}

/// A multi-threaded runtime for the softphone commands (only `src/` owns one), with one
/// worker per CPU the process may use (tokio's default: the available parallelism, which
/// respects cgroup and affinity limits) rather than a fixed count.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Resolves the registrar (AOR domain) or the call target's domain when no proxy is set
/// (see [`crate::names::complete_routes`]); a name that does not resolve exits with
/// [`exit::NAME`].
fn complete_routes(
    settings: &mut crate::config::Settings,
    register: bool,
    target: Option<&str>,
) -> Result<(), ExitCode> {
    crate::names::complete_routes(settings, register, target).map_err(|e| {
        eprintln!("icephone: {e}");
        match e {
            crate::config::ConfigError::Dns { .. } => ExitCode::from(exit::NAME),
            _ => ExitCode::from(exit::USAGE),
        }
    })
}

/// One `resolved` event per name the settings resolved.
fn report_resolutions(emitter: &crate::events::Emitter, settings: &crate::config::Settings) {
    for r in &settings.resolutions {
        emitter.emit(crate::events::Event::Resolved {
            agent: "phone".into(),
            role: r.role.into(),
            name: r.resolution.name.clone(),
            targets: r
                .resolution
                .targets
                .iter()
                .map(|t| format!("{} {}", t.service.transport_param(), t.addr))
                .collect(),
            records: r.resolution.records.clone(),
        });
    }
}

/// Settings errors are usage errors (exit code 2), reported on stderr.
fn load_settings(
    account: &crate::config::AccountArgs,
    ice: &crate::config::IceArgs,
) -> Result<crate::config::Settings, ExitCode> {
    let settings = crate::config::load(account, ice).map_err(|e| {
        eprintln!("icephone: {e}");
        match e {
            crate::config::ConfigError::Dns { .. } => ExitCode::from(exit::NAME),
            _ => ExitCode::from(exit::USAGE),
        }
    })?;
    Ok(settings)
}
