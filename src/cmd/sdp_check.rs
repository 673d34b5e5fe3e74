//! `icephone sdp check FILE|-`: parse an SDP and print a summary (text or `--json`).
//! Invalid input exits with `exit::FAILURE` and the error, with its line, on stderr.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::SdpCheckArgs;
use crate::exit;

pub fn run(args: SdpCheckArgs) -> anyhow::Result<ExitCode> {
    let text = read_input(&args.file)?;
    let name = args.file.display();
    let summary = match sdp::parse(&text).and_then(|sd| sdp::summary::summarize(&sd)) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("icephone: sdp check: {name}: invalid SDP: {err}");
            return Ok(ExitCode::from(exit::FAILURE));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading SDP from standard input")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}
