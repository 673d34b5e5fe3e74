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
    let report = super::runtime()?.block_on(run_demo(DemoOptions {
        tone_hz: args.tone,
        seconds,
        emitter,
        capture,
        record: args.record.clone(),
        callee_without_update: args.no_update,
        engine: args.sip_engine,
    }))?;
    let text = summary(&report, args.tone);
    if args.output.json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    Ok(ExitCode::from(report.exit))
}
