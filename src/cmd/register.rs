//! `icephone register`: REGISTER the AOR (with digest authentication) and report the binding.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::RegisterArgs;
use crate::events::{Emitter, Event};
use crate::exit;
use crate::phone;
use crate::signalling::{UaCommand, UaEvent};

pub fn run(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let settings = match super::load_settings(&args.account) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let Some(aor) = settings.aor.clone() else {
        eprintln!("icephone: register needs --aor (or aor in the config file)");
        return Ok(ExitCode::from(exit::USAGE));
    };
    let ip = phone::local_ip(&settings, settings.proxy);
    let emitter = Emitter::new(args.output.json, false);
    let capture = phone::capture(&args.output)?;
    let code = super::runtime()?.block_on(async {
        let mut ua = phone::user_agent(&settings, ip, capture, 0, true, true).await?;
        let mut result = exit::OK;
        let rounds: &[u32] = if args.unregister {
            &[settings.expires, 0]
        } else {
            &[settings.expires]
        };
        for expires in rounds {
            ua.send(UaCommand::Register { expires: *expires });
            // Timer F (64·T1) bounds the transaction; this bounds the wait on top of it.
            let wait = settings.t1 * 64 + Duration::from_secs(1);
            match tokio::time::timeout(wait, ua.next()).await {
                Ok(Some(UaEvent::Registered {
                    expires,
                    public_address,
                })) => emitter.emit(Event::Registered {
                    agent: "phone".into(),
                    aor: aor.clone(),
                    expires,
                    public_address: public_address.map(|a| a.to_string()),
                }),
                Ok(Some(UaEvent::RegisterFailed {
                    status,
                    reason,
                    local,
                })) => {
                    let why = crate::signalling::failure_text(status, &reason, local);
                    eprintln!("icephone: registration failed: {why}");
                    result = exit::REGISTRATION;
                    break;
                }
                other => {
                    eprintln!("icephone: registration failed: {other:?}");
                    result = exit::REGISTRATION;
                    break;
                }
            }
        }
        Ok::<u8, anyhow::Error>(result)
    })?;
    Ok(ExitCode::from(code))
}
