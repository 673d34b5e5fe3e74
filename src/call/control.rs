//! Commands a running call takes from outside (the scenario runner): answer with a status,
//! hang up, hold/resume, an UPDATE, an ICE restart, DTMF, a new media source. The call reads them in its
//! loop; without a control handle it behaves exactly as before (timed options only).

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::media::source::Source;

#[derive(Debug, Clone)]
pub enum CallCommand {
    /// Callee: answer the ringing call with this status (200 answers, others reject).
    Answer { status: u16 },
    /// CANCEL while ringing, BYE once established (RFC 3261 §9, §15).
    HangUp,
    /// re-INVITE with a=sendonly (RFC 3264 §8.4).
    Hold,
    /// re-INVITE with a=sendrecv.
    Resume,
    /// An offer in an UPDATE (RFC 3311) with the current selection.
    Update,
    /// ICE restart (RFC 8445 §9): new local credentials and every candidate in an offer
    /// (UPDATE when the peer allows it, else re-INVITE); media stays on the selected pair
    /// until the new checks select one.
    RestartIce,
    /// Send these RFC 4733 digits on the media.
    Dtmf(String),
    /// Send this audio from now on.
    Play(Source),
    /// Report the ICE check list (RFC 8445 §6.1.2): one line per candidate pair with its
    /// state, sent on this channel (empty without ICE). The phone's `pairs` command.
    ReportPairs(mpsc::UnboundedSender<Vec<String>>),
    /// Reply with the level of the last audio frame sent and received (the level meter).
    ReportLevels(mpsc::UnboundedSender<crate::media::session::Levels>),
}

/// The call's end of a command channel. Clonable so `CallOptions` stays `Clone`; the first
/// call that runs with it takes the receiver.
#[derive(Debug, Clone)]
pub struct CallControl {
    receiver: Arc<Mutex<Option<mpsc::UnboundedReceiver<CallCommand>>>>,
}

impl CallControl {
    /// A sender for the runner and the control for `CallOptions::control`.
    pub fn channel() -> (mpsc::UnboundedSender<CallCommand>, CallControl) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            tx,
            CallControl {
                receiver: Arc::new(Mutex::new(Some(rx))),
            },
        )
    }

    pub(crate) fn take(&self) -> Option<mpsc::UnboundedReceiver<CallCommand>> {
        self.receiver.lock().ok().and_then(|mut r| r.take())
    }
}
