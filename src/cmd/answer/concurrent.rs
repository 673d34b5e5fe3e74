//! `answer --max-calls N` (N > 1): several calls at once, one callee engine task each (its
//! own media sockets and ICE agent), on one SIP user agent.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::call::{run_callee, CallOptions};
use crate::exit;
use crate::signalling::{UaEvent, UaHandle};

/// Answers `total` calls, as many at a time as the user agent lets in, and returns the worst
/// (highest) exit code among them (0 only when every call went well). `ua` is the main
/// handle: it carries registration refreshes while calls run. Ctrl-C hangs up the running
/// calls (each engine sees it) and takes no more.
pub(super) async fn answer_calls(
    opts: &CallOptions,
    ua: &mut UaHandle,
    incoming: mpsc::Receiver<UaHandle>,
    total: usize,
) -> u8 {
    let mut incoming = Some(incoming);
    let mut accepted = 0usize;
    let mut finished = 0usize;
    let mut worst = exit::OK;
    let mut calls = JoinSet::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_seen = false;
    let mut ua_open = true;
    while finished < accepted || incoming.is_some() {
        tokio::select! {
            handle = next_call(&mut incoming) => match handle {
                Some(handle) => {
                    accepted += 1;
                    let mut call_opts = opts.clone();
                    // NDJSON: concurrent calls are told apart by their `call` number.
                    call_opts.emitter = opts.emitter.for_call(accepted as u32);
                    call_opts.record = opts.record.as_deref().map(|p| numbered(p, accepted));
                    calls.spawn(run_callee(call_opts, handle));
                    if accepted >= total {
                        // Enough calls: dropping the receiver makes the UA send 486 to
                        // any further INVITE (RFC 3261 §21.4.24).
                        incoming = None;
                    }
                }
                None => incoming = None,
            },
            Some(done) = calls.join_next() => {
                finished += 1;
                let code = match done {
                    Ok(Ok(outcome)) => outcome.exit,
                    Ok(Err(e)) => {
                        eprintln!("icephone: call failed: {e:#}");
                        exit::CALL
                    }
                    Err(e) => {
                        eprintln!("icephone: call task failed: {e}");
                        exit::FAILURE
                    }
                };
                worst = worst.max(code);
            }
            event = ua.next(), if ua_open => match event {
                Some(e @ (UaEvent::Registered { .. } | UaEvent::RegisterFailed { .. })) => {
                    opts.report_registration(&e)
                }
                Some(other) => tracing::debug!("not about a call: {other:?}"),
                None => {
                    eprintln!("icephone: SIP user agent stopped");
                    ua_open = false;
                    incoming = None;
                }
            },
            r = &mut ctrl_c, if !ctrl_c_seen => {
                // Each running call hangs up on its own Ctrl-C; take no new ones.
                ctrl_c_seen = true;
                if r.is_ok() {
                    incoming = None;
                }
            }
        }
    }
    if !ua_open && accepted < total {
        // The user agent went away before every call was taken (Ctrl-C is the user's
        // choice, not a failure).
        worst = worst.max(exit::CALL);
    }
    worst
}

async fn next_call(incoming: &mut Option<mpsc::Receiver<UaHandle>>) -> Option<UaHandle> {
    match incoming {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// `--record FILE.wav` for call `n`: `FILE-n.wav`, so concurrent calls do not overwrite each
/// other's recording.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_records_to_its_own_numbered_file() {
        assert_eq!(
            numbered(Path::new("/tmp/rec/answer.wav"), 2),
            PathBuf::from("/tmp/rec/answer-2.wav")
        );
        assert_eq!(numbered(Path::new("out"), 1), PathBuf::from("out-1"));
    }
}
