//! The phone's calls: number, direction, state, selected ICE path and the channel each
//! call's engine takes commands on. Which call commands go to (`switch N`) and which ringing
//! call `answer` takes (the newest) are decided here.

use std::collections::BTreeMap;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::call::control::CallCommand;
use crate::events::{CandidateInfo, Event};

/// A REFER we received for this call, being carried out by call `new_call` (RFC 3515 §2.4.2:
/// we are the transferee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transferee {
    /// The call whose dialog the REFER came in (the NOTIFYs go there).
    pub old_call: u32,
    pub old_slot: u64,
    pub refer_id: u64,
    /// The last sipfrag status sent, so each is sent once.
    pub last_status: u16,
}

#[derive(Debug)]
pub struct PhoneCall {
    pub number: u32,
    /// Index of the account (user agent) the call runs on.
    pub account: usize,
    pub incoming: bool,
    /// The peer: who called us, or whom we call.
    pub peer: String,
    /// The last `call` event state: incoming, ringing, established, hold, ended, failed…
    pub state: String,
    /// The UA slot of the call (what transfer events are tagged with).
    pub slot: u64,
    pub commands: mpsc::UnboundedSender<CallCommand>,
    pub started: Instant,
    pub established: Option<Instant>,
    /// The selected pair of component 1, as `ice` selected events name it.
    pub selected: Option<(CandidateInfo, CandidateInfo)>,
    /// The ICE events of the call, oldest first (at most [`ICE_HISTORY`]).
    pub ice: Vec<Event>,
    pub muted: bool,
    pub dtmf_sent: String,
    pub dtmf_received: String,
    /// Our REFER for this call is waiting for its outcome since then (we are the transferor).
    pub transfer_since: Option<Instant>,
    /// This call carries out a transfer asked for in another call.
    pub transferee: Option<Transferee>,
    /// The engine has finished: how (and when), while its last events may still come.
    pub finished: Option<(String, Instant)>,
    /// Every event of the call has been delivered.
    pub events_done: bool,
}

/// ICE events kept per call for `pairs`.
pub const ICE_HISTORY: usize = 32;

impl PhoneCall {
    /// A call just placed or taken: nothing established, selected or sent yet.
    pub fn new(
        number: u32,
        account: usize,
        incoming: bool,
        peer: String,
        slot: u64,
        commands: mpsc::UnboundedSender<CallCommand>,
    ) -> PhoneCall {
        PhoneCall {
            number,
            account,
            incoming,
            peer,
            state: if incoming { "incoming" } else { "calling" }.into(),
            slot,
            commands,
            started: Instant::now(),
            established: None,
            selected: None,
            ice: Vec::new(),
            muted: false,
            dtmf_sent: String::new(),
            dtmf_received: String::new(),
            transfer_since: None,
            transferee: None,
            finished: None,
            events_done: false,
        }
    }

    /// Still ringing and ours to answer.
    pub fn is_ringing(&self) -> bool {
        self.incoming && matches!(self.state.as_str(), "incoming" | "ringing")
    }

    /// One line of `calls`.
    pub fn summary(&self, selected: bool) -> String {
        let mark = if selected { "*" } else { " " };
        let dir = if self.incoming { "from" } else { "to" };
        let mut line = format!(
            "{mark}{} {:<11} {dir} {}",
            self.number, self.state, self.peer
        );
        if let Some(path) = self.path() {
            line.push_str(&format!("  [{path}]"));
        }
        if self.muted {
            line.push_str("  (muted)");
        }
        line
    }

    /// The selected path in words: both candidates' types and addresses, and whether the
    /// media goes direct or through a TURN relay (RFC 8656).
    pub fn path(&self) -> Option<String> {
        let (local, remote) = self.selected.as_ref()?;
        Some(path_words(local, remote))
    }
}

/// `host 127.0.0.1:4000 -> srflx 192.0.2.1:5000 (direct)`.
pub fn path_words(local: &CandidateInfo, remote: &CandidateInfo) -> String {
    let via = if local.kind == "relay" || remote.kind == "relay" {
        "through TURN"
    } else {
        "direct"
    };
    format!(
        "{} {} -> {} {} ({via})",
        local.kind, local.address, remote.kind, remote.address
    )
}

/// The calls, by number, and the one commands go to.
#[derive(Debug, Default)]
pub struct Calls {
    pub calls: BTreeMap<u32, PhoneCall>,
    pub current: Option<u32>,
    next: u32,
}

impl Calls {
    /// The number for the next call (1, 2, …; never reused).
    pub fn next_number(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    pub fn add(&mut self, call: PhoneCall) {
        let n = call.number;
        self.calls.insert(n, call);
        if self.current.is_none() {
            self.current = Some(n);
        }
    }

    /// The call is over: forgotten; the selection moves to the newest remaining call.
    pub fn remove(&mut self, n: u32) -> Option<PhoneCall> {
        let call = self.calls.remove(&n);
        if self.current == Some(n) {
            self.current = self.calls.keys().next_back().copied();
        }
        call
    }

    /// Call `n` has ended (its last events may still come): the selection moves to the
    /// newest call still going, if any.
    pub fn retire(&mut self, n: u32) {
        if self.current != Some(n) {
            return;
        }
        if let Some(other) = self.calls.values().rev().find(|c| {
            c.number != n && c.finished.is_none() && !matches!(c.state.as_str(), "ended" | "failed")
        }) {
            self.current = Some(other.number);
        }
    }

    pub fn selected(&self) -> Result<&PhoneCall, String> {
        self.current
            .and_then(|n| self.calls.get(&n))
            .ok_or_else(|| "no call (place one with `call URI`)".to_owned())
    }

    pub fn selected_mut(&mut self) -> Result<&mut PhoneCall, String> {
        let n = self.selected()?.number;
        self.calls.get_mut(&n).ok_or_else(|| "no call".to_owned())
    }

    /// The newest call still ringing, which `answer` and `reject` take.
    pub fn newest_ringing(&self) -> Result<u32, String> {
        self.calls
            .values()
            .rev()
            .find(|c| c.is_ringing())
            .map(|c| c.number)
            .ok_or_else(|| "no call is ringing".to_owned())
    }

    pub fn switch(&mut self, n: u32) -> Result<(), String> {
        if !self.calls.contains_key(&n) {
            return Err(format!("no call {n} (see `calls`)"));
        }
        self.current = Some(n);
        Ok(())
    }

    /// The call of `account`'s user agent in `slot` (slots are per user agent).
    pub fn by_slot(&self, account: usize, slot: u64) -> Option<u32> {
        self.calls
            .values()
            .find(|c| c.account == account && c.slot == slot)
            .map(|c| c.number)
    }

    /// `calls`: one line each, the selected one marked with `*`.
    pub fn list(&self) -> String {
        if self.calls.is_empty() {
            return "no calls".into();
        }
        self.calls
            .values()
            .map(|c| c.summary(self.current == Some(c.number)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(calls: &mut Calls, incoming: bool, state: &str) -> u32 {
        let n = calls.next_number();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut call = PhoneCall::new(
            n,
            0,
            incoming,
            format!("sip:peer{n}@127.0.0.1"),
            u64::from(n) + 10,
            tx,
        );
        call.state = state.into();
        calls.add(call);
        n
    }

    #[test]
    fn answer_takes_the_newest_ringing_call_and_switch_selects() {
        let mut calls = Calls::default();
        assert_eq!(calls.newest_ringing(), Err("no call is ringing".into()));
        assert!(calls.selected().is_err());
        let first = call(&mut calls, false, "established");
        let r1 = call(&mut calls, true, "ringing");
        let r2 = call(&mut calls, true, "incoming");
        call(&mut calls, true, "established");
        assert_eq!(calls.newest_ringing(), Ok(r2));
        assert_eq!(calls.current, Some(first), "the first call stays selected");
        assert_eq!(calls.switch(9), Err("no call 9 (see `calls`)".into()));
        calls.switch(r1).unwrap();
        assert_eq!(calls.selected().unwrap().number, r1);
        assert_eq!(calls.by_slot(0, u64::from(r1) + 10), Some(r1));
        calls.switch(first).unwrap();
        calls.calls.get_mut(&first).unwrap().state = "ended".into();
        calls.retire(first);
        assert_eq!(
            calls.current,
            Some(4),
            "an ended call hands the selection on"
        );
        calls.remove(r1);
        assert_eq!(calls.current, Some(4), "the newest remaining call");
        assert!(
            calls.list().lines().any(|l| l.starts_with("*4 ")),
            "{}",
            calls.list()
        );
    }

    #[test]
    fn the_path_says_direct_or_through_turn() {
        let c = |kind: &str, a: &str| CandidateInfo {
            kind: kind.into(),
            address: a.into(),
            protocol: "udp".into(),
            component: 1,
            priority: 1,
        };
        assert_eq!(
            path_words(&c("host", "127.0.0.1:1"), &c("srflx", "192.0.2.1:2")),
            "host 127.0.0.1:1 -> srflx 192.0.2.1:2 (direct)"
        );
        assert!(
            path_words(&c("relay", "192.0.2.9:3"), &c("host", "127.0.0.1:2"))
                .ends_with("(through TURN)")
        );
    }
}
