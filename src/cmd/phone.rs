//! `icephone phone`: the interactive softphone (see `src/console/`). Loads each account's
//! settings (the flags, or every `[[account]]` of `--accounts`), starts one user agent per
//! account, keeps it registered, and hands the console and the control socket to the phone.

use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::cli::PhoneArgs;
use crate::config::Settings;
use crate::console::output::Output;
use crate::console::phone::{Account, Happening, Phone};
use crate::console::{accounts, control, editor};
use crate::events::Emitter;
use crate::exit;
use crate::phone;
use crate::signalling::{UaCommand, UaEvent, UaHandle};

/// One account to start: its name, settings and whether it registers.
struct Setup {
    name: String,
    settings: Settings,
    register: bool,
}

pub fn run(args: PhoneArgs) -> anyhow::Result<ExitCode> {
    let setups = match setups(&args) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let json = args.output.json;
    let emitter = Emitter::new(json, false);
    for s in &setups {
        super::report_resolutions(&emitter, &s.settings);
    }
    let capture = phone::capture(&args.output)?;
    super::runtime()?.block_on(async move {
        let out = Output::new(json);
        let (happen_tx, happen_rx) = mpsc::channel(64);
        let mut accounts = Vec::new();
        for (i, setup) in setups.into_iter().enumerate() {
            let account =
                start_account(&args, setup, i, &emitter, &out, capture.clone(), &happen_tx).await?;
            accounts.push(account);
        }
        drop(happen_tx);
        let (requests, requests_rx) = mpsc::channel(16);
        if let Some(addr) = &args.control {
            let at = control::serve(addr, requests.clone(), out.clone())
                .await
                .map_err(|e| anyhow::anyhow!("--control: cannot listen: {e}"))?;
            out.say(&format!("control socket on {at}"));
        }
        editor::spawn(requests.clone(), args.control.is_some());
        drop(requests);
        Phone::new(accounts, out, json)
            .run(requests_rx, happen_rx)
            .await;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(ExitCode::from(exit::OK))
}

/// The accounts' settings: from `--accounts` (each over the flags), else the flags alone.
fn setups(args: &PhoneArgs) -> Result<Vec<Setup>, ExitCode> {
    let Some(path) = &args.accounts else {
        let mut settings = super::load_settings(&args.account, &args.ice)?;
        super::complete_routes(&mut settings, args.register, None)?;
        let name = settings
            .aor
            .as_deref()
            .and_then(|a| a.split(['@', ':']).nth(1))
            .unwrap_or("default")
            .to_owned();
        return Ok(vec![Setup {
            name,
            settings,
            register: args.register,
        }]);
    };
    let entries = accounts::read(path).map_err(|e| {
        eprintln!("icephone: {e}");
        ExitCode::from(exit::USAGE)
    })?;
    let mut setups = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let flags = accounts::account_args(&args.account, entry, i);
        let mut settings = super::load_settings(&flags, &args.ice)?;
        super::complete_routes(&mut settings, entry.register, None)?;
        setups.push(Setup {
            name: entry.name.clone(),
            settings,
            register: entry.register,
        });
    }
    Ok(setups)
}

/// Starts account `i`'s user agent, its registration task and the forwarding of its
/// incoming calls and transfers to the phone.
async fn start_account(
    args: &PhoneArgs,
    setup: Setup,
    i: usize,
    emitter: &Emitter,
    out: &Output,
    capture: Option<crate::pcap::Capture>,
    happenings: &mpsc::Sender<Happening>,
) -> anyhow::Result<Account> {
    let Setup {
        name,
        settings,
        register,
    } = setup;
    let ip = phone::local_ip(&settings, settings.proxy);
    let mut opts = phone::call_options(
        "phone",
        &settings,
        &args.media,
        ip,
        emitter.clone(),
        capture.clone(),
    )?;
    let aor = settings
        .aor
        .clone()
        .unwrap_or_else(|| phone::default_aor(ip));
    if register {
        opts.registered_aor = Some(aor.clone());
    }
    let (ua, mut incoming, mut transfers) =
        phone::user_agent_phone(&settings, ip, capture, args.max_calls, register).await?;
    let dialer = ua
        .open_call(false)
        .await
        .ok_or_else(|| anyhow::anyhow!("the SIP user agent stopped at once"))?;
    out.say(&format!(
        "account {} {name}: {aor} on sip {}",
        i + 1,
        ua.local
    ));
    let tx = happenings.clone();
    tokio::spawn(async move {
        while let Some(handle) = incoming.recv().await {
            if tx.send(Happening::Incoming(i, handle)).await.is_err() {
                break;
            }
        }
    });
    let tx = happenings.clone();
    tokio::spawn(async move {
        while let Some(event) = transfers.recv().await {
            if tx.send(Happening::Transfer(i, event)).await.is_err() {
                break;
            }
        }
    });
    let status = std::sync::Arc::new(std::sync::Mutex::new(
        if register {
            "registering"
        } else {
            "not registering"
        }
        .to_owned(),
    ));
    let (stop, stop_rx) = oneshot::channel();
    let wait = (settings.t1 * 64).min(Duration::from_secs(4));
    let task = tokio::spawn(keep_registered(
        ua,
        status.clone(),
        register.then_some(settings.expires),
        name.clone(),
        aor.clone(),
        emitter.clone(),
        out.clone(),
        stop_rx,
        wait,
    ));
    Ok(Account {
        name,
        aor,
        dialer,
        opts,
        status,
        stop: Some(stop),
        stopped: Some(task),
    })
}

/// Holds the account's main handle: registers (when `expires` is set), reports every
/// refresh or failure, and at `stop` removes the binding and stops the user agent.
#[allow(clippy::too_many_arguments)]
async fn keep_registered(
    mut ua: UaHandle,
    status: std::sync::Arc<std::sync::Mutex<String>>,
    expires: Option<u32>,
    name: String,
    aor: String,
    emitter: Emitter,
    out: Output,
    mut stop: oneshot::Receiver<()>,
    wait: Duration,
) {
    if let Some(expires) = expires {
        ua.send(UaCommand::Register { expires }).await;
    }
    let report = super::register::reporter(&emitter, &aor);
    loop {
        tokio::select! {
            event = ua.next() => match event {
                Some(UaEvent::Registered { expires, public_address }) => {
                    report(expires, public_address);
                    set(&status, format!("registered ({expires} s)"));
                    out.say(&format!("account {name}: registered for {expires} s"));
                    out.phone_event(serde_json::json!({
                        "event": "account", "account": name, "aor": aor,
                        "state": "registered", "expires": expires,
                    }));
                }
                Some(UaEvent::RegisterFailed { status: code, reason, local }) => {
                    let why = crate::signalling::failure_text(code, &reason, local);
                    set(&status, format!("registration failed: {why}"));
                    out.say(&format!("account {name}: registration failed: {why}"));
                    out.phone_event(serde_json::json!({
                        "event": "account", "account": name, "aor": aor,
                        "state": "failed", "reason": why,
                    }));
                }
                Some(other) => tracing::debug!("account {name}: {other:?}"),
                None => break,
            },
            _ = &mut stop => break,
        }
    }
    if expires.is_some() {
        super::register::unregister(&mut ua, wait, &report).await;
    }
    ua.close(Duration::from_secs(2)).await;
}

fn set(status: &std::sync::Mutex<String>, text: String) {
    if let Ok(mut s) = status.lock() {
        *s = text;
    }
}
