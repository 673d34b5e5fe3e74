//! `icephone answer`: wait for calls and answer them (after `--answer-after`).

mod concurrent;

use std::process::ExitCode;

use crate::call::{run_callee_keeping_ua, STOPPED_WAITING};
use crate::cli::AnswerArgs;
use crate::events::{Emitter, Event};
use crate::exit;
use crate::phone;
use crate::signalling::{UaCommand, UaEvent};

pub fn run(args: AnswerArgs) -> anyhow::Result<ExitCode> {
    let mut settings = match super::load_settings(&args.account, &args.ice) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if let Err(code) = super::complete_routes(&mut settings, args.register, None) {
        return Ok(code);
    }
    let ip = phone::local_ip(&settings, settings.proxy);
    let emitter = Emitter::new(args.output.json, false);
    super::report_resolutions(&emitter, &settings);
    let capture = phone::capture(&args.output)?;
    let mut opts = phone::call_options(
        "phone",
        &settings,
        &args.media,
        ip,
        emitter.clone(),
        capture.clone(),
    )?;
    opts.alert_after_ice = args.alert_after_ice;
    opts.answer_after = phone::seconds(args.answer_after, "--answer-after")?;
    opts.duration = args
        .duration
        .map(|d| phone::seconds(d, "--duration"))
        .transpose()?;
    if args.register {
        opts.registered_aor = Some(settings.aor.clone().unwrap_or_default());
    }
    if args.manual {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        opts.answer_on_command = Some(notify.clone());
        // A plain thread: stdin reads block, and the runtime must not wait for them.
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                notify.notify_one();
                line.clear();
            }
        });
        eprintln!("icephone: press Enter to answer a ringing call");
    }
    let code = super::runtime()?.block_on(async {
        let mut last = exit::OK;
        // `--max-calls N` above 1: every accepted call arrives on its own handle.
        let (mut ua, mut incoming) = if args.max_calls > 1 {
            let (ua, incoming) = phone::user_agent_multi(
                &settings,
                ip,
                capture.clone(),
                args.max_calls,
                args.register,
            )
            .await?;
            (ua, Some(incoming))
        } else {
            let ua = phone::user_agent(
                &settings,
                ip,
                capture.clone(),
                args.max_calls,
                args.register,
                true,
            )
            .await?;
            (ua, None)
        };
        eprintln!("icephone: waiting for calls on sip {}", ua.local);
        if args.register {
            ua.send(UaCommand::Register {
                expires: settings.expires,
            })
            .await;
            match ua.next().await {
                Some(UaEvent::Registered {
                    expires,
                    public_address,
                }) => emitter.emit(Event::Registered {
                    agent: "phone".into(),
                    aor: settings.aor.clone().unwrap_or_default(),
                    expires,
                    public_address: public_address.map(|a| a.to_string()),
                }),
                other => {
                    eprintln!("icephone: registration failed: {other:?}");
                    return Ok::<u8, anyhow::Error>(exit::REGISTRATION);
                }
            }
        }
        // `--calls N`: stop after N calls; without it, answer until Ctrl-C (as pjsua and
        // baresip do), registered the whole time.
        let limit = args
            .calls
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        if let Some(incoming) = incoming.take() {
            last = concurrent::answer_calls(&opts, &mut ua, incoming, limit).await;
        } else {
            // One user agent for every call, so the port stays ours between calls.
            let mut answered = 0usize;
            while answered < limit {
                let (outcome, next) = run_callee_keeping_ua(opts.clone(), ua).await?;
                ua = next;
                if outcome.reason == STOPPED_WAITING {
                    break;
                }
                answered += 1;
                last = outcome.exit;
                if outcome.reason.contains("Ctrl-C") {
                    break;
                }
            }
        }
        if args.register {
            // Bounded by Timer F, and by a few seconds: exiting must not hang on a registrar
            // that went away. A failed removal is said; the calls' exit code stands.
            let wait = (settings.t1 * 64).min(std::time::Duration::from_secs(4));
            let aor = settings.aor.clone().unwrap_or_default();
            let report = super::register::reporter(&emitter, &aor);
            super::register::unregister(&mut ua, wait, &report).await;
        }
        // The last call's final response (a 488 to an offer we cannot take) may still be on
        // its way to the socket: let the UA finish before the runtime goes.
        ua.close(std::time::Duration::from_secs(2)).await;
        Ok(last)
    })?;
    Ok(ExitCode::from(code))
}
