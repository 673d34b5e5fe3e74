//! `icephone call URI`: INVITE with an ICE offer, media until `--duration` or Ctrl-C, BYE.

use std::process::ExitCode;

use crate::call::run_caller;
use crate::cli::CallArgs;
use crate::events::Emitter;
use crate::phone;

pub fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let mut settings = match super::load_settings(&args.account, &args.ice) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if !args.uri.starts_with("sip:") && !args.uri.starts_with("sips:") {
        eprintln!("icephone: `{}` is not a sip: URI", args.uri);
        return Ok(ExitCode::from(crate::exit::USAGE));
    }
    if let Err(code) = super::complete_routes(&mut settings, false, Some(&args.uri)) {
        return Ok(code);
    }
    let toward = settings.proxy.or_else(|| {
        let first_resolved = settings.resolved_hosts.first();
        first_resolved
            .and_then(|(_, targets)| targets.first().map(|(_, a)| *a))
            .or_else(|| target_address(&args.uri))
    });
    let ip = phone::local_ip(&settings, toward);
    let emitter = Emitter::new(args.output.json, false);
    super::report_resolutions(&emitter, &settings);
    let capture = phone::capture(&args.output)?;
    let mut opts = phone::call_options(
        "phone",
        &settings,
        &args.media,
        ip,
        emitter,
        capture.clone(),
    )?;
    opts.duration = args
        .duration
        .map(|d| phone::seconds(d, "--duration"))
        .transpose()?;
    opts.hold_after = args
        .hold_after
        .map(|d| phone::seconds(d, "--hold-after"))
        .transpose()?;
    opts.hold_for = phone::seconds(args.hold_for, "--hold-for")?;
    let outcome = super::runtime()?.block_on(async {
        let ua =
            phone::user_agent(&settings, ip, capture, 1, false, !args.no_follow_redirects).await?;
        run_caller(opts, ua, &args.uri).await
    })?;
    Ok(ExitCode::from(outcome.exit))
}

/// host:port of a sip: URI whose host is an IP literal (names go through
/// [`crate::names::complete_routes`]).
fn target_address(uri: &str) -> Option<std::net::SocketAddr> {
    let parsed: sip::message::Uri = uri.parse().ok()?;
    let sip = parsed.as_sip()?;
    let ip = sip.host.ip()?;
    Some(std::net::SocketAddr::new(ip, sip.port.unwrap_or(5060)))
}
