//! `icephone demo`: see `crate::demo`.

use std::process::ExitCode;

use crate::cli::DemoArgs;
use crate::demo::{run as run_demo, summary, DemoOptions};
use crate::events::Emitter;
use crate::phone;

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let seconds = phone::seconds(args.seconds, "--seconds")?;
    let emitter = Emitter::new(args.output.json, false);
    let capture = phone::capture(&args.output)?;
    if args.turn.is_some_and(|t| !t.ip().is_loopback()) {
        eprintln!(
            "icephone: the demo only talks to loopback; --turn must be a 127.x or ::1 address"
        );
        return Ok(ExitCode::from(crate::exit::USAGE));
    }
    if let Some(path) = &args.record {
        crate::phone::check_recording_path(path)?;
    }
    let report = super::runtime()?.block_on(run_demo(DemoOptions {
        tone_hz: args.tone,
        seconds,
        emitter,
        capture,
        record: args.record.clone(),
        callee_without_update: args.no_update,
        turn: args.turn.map(|server| {
            crate::config::TurnSettings::udp(server, &args.turn_user, &args.turn_password)
        }),
    }))?;
    let text = summary(&report, args.tone);
    if args.output.json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    Ok(ExitCode::from(report.exit))
}
