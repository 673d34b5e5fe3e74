//! `icephone register`: REGISTER the AOR (with digest authentication) and stay registered —
//! refreshing before expiry, keeping the flow alive, printing each refresh — until Ctrl-C,
//! which removes the binding. `--once` registers and exits (for scripts).

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::RegisterArgs;
use crate::events::{Emitter, Event};
use crate::exit;
use crate::phone;
use crate::signalling::{UaCommand, UaEvent, UaHandle};

pub fn run(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let mut settings = match super::load_settings(&args.account, &crate::config::IceArgs::default())
    {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if let Err(code) = super::complete_routes(&mut settings, true, None) {
        return Ok(code);
    }
    let Some(aor) = settings.aor.clone() else {
        eprintln!("icephone: register needs --aor (or aor in the config file)");
        return Ok(ExitCode::from(exit::USAGE));
    };
    let ip = phone::local_ip(&settings, settings.proxy);
    let emitter = Emitter::new(args.output.json, false);
    super::report_resolutions(&emitter, &settings);
    let capture = phone::capture(&args.output)?;
    let code = super::runtime()?.block_on(async {
        let mut ua = phone::user_agent(&settings, ip, capture, 0, true, true).await?;
        // Timer F (64·T1) bounds a transaction; this bounds the wait on top of it.
        let wait = settings.t1 * 64 + Duration::from_secs(1);
        let report = reporter(&emitter, &aor);
        ua.send(UaCommand::Register {
            expires: settings.expires,
        })
        .await;
        if let Err(code) = first_registration(&mut ua, wait, &report).await {
            return Ok::<u8, anyhow::Error>(code);
        }
        if args.once {
            if args.unregister {
                return Ok(unregister(&mut ua, wait, &report).await);
            }
            return Ok(exit::OK);
        }
        eprintln!("icephone: registered; refreshing before expiry until Ctrl-C");
        stay_registered(&mut ua, &report).await;
        Ok(unregister(&mut ua, wait, &report).await)
    })?;
    Ok(ExitCode::from(code))
}

/// A `registered` event for our AOR with this expiry and learned public address.
pub(super) fn reporter<'a>(
    emitter: &'a Emitter,
    aor: &'a str,
) -> impl Fn(u32, Option<std::net::SocketAddr>) + 'a {
    move |expires, public_address| {
        emitter.emit(Event::Registered {
            agent: "phone".into(),
            aor: aor.to_string(),
            expires,
            public_address: public_address.map(|a| a.to_string()),
        })
    }
}

/// The first REGISTER's outcome (several `Registered` may follow while a learned Contact is
/// registered again; the first success is what counts here).
async fn first_registration(
    ua: &mut UaHandle,
    wait: Duration,
    report: &impl Fn(u32, Option<std::net::SocketAddr>),
) -> Result<(), u8> {
    match tokio::time::timeout(wait, ua.next()).await {
        Ok(Some(UaEvent::Registered {
            expires,
            public_address,
        })) => {
            report(expires, public_address);
            Ok(())
        }
        Ok(Some(UaEvent::RegisterFailed {
            status,
            reason,
            local,
        })) => {
            let why = crate::signalling::failure_text(status, &reason, local);
            eprintln!("icephone: registration failed: {why}");
            Err(exit::REGISTRATION)
        }
        other => {
            eprintln!("icephone: registration failed: {other:?}");
            Err(exit::REGISTRATION)
        }
    }
}

/// Until Ctrl-C: every refresh (and re-registration with a learned Contact) is reported;
/// a failed refresh is said and the endpoint's own retry (RFC 5626 §4.5 back-off, or the
/// next refresh) goes on.
async fn stay_registered(ua: &mut UaHandle, report: &impl Fn(u32, Option<std::net::SocketAddr>)) {
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!("icephone: Ctrl-C: removing the binding");
                return;
            }
            event = ua.next() => match event {
                Some(UaEvent::Registered { expires, public_address }) => {
                    eprintln!("icephone: registration refreshed for {expires} s");
                    report(expires, public_address);
                }
                Some(UaEvent::RegisterFailed { status, reason, local }) => {
                    let why = crate::signalling::failure_text(status, &reason, local);
                    eprintln!("icephone: registration refresh failed: {why}");
                }
                Some(_) => {}
                None => return,
            }
        }
    }
}

/// RFC 3261 §10.2.2: Expires 0 removes our binding (whatever the transport); bounded by
/// `wait`. Returns the exit code the removal deserves.
pub(super) async fn unregister(
    ua: &mut UaHandle,
    wait: Duration,
    report: &impl Fn(u32, Option<std::net::SocketAddr>),
) -> u8 {
    ua.send(UaCommand::Register { expires: 0 }).await;
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, ua.next()).await {
        match event {
            UaEvent::Registered {
                expires: 0,
                public_address,
            } => {
                report(0, public_address);
                return exit::OK;
            }
            UaEvent::RegisterFailed {
                status,
                reason,
                local,
            } => {
                let why = crate::signalling::failure_text(status, &reason, local);
                eprintln!("icephone: un-REGISTER failed: {why}");
                return exit::REGISTRATION;
            }
            _ => {}
        }
    }
    eprintln!("icephone: un-REGISTER got no answer");
    exit::REGISTRATION
}
