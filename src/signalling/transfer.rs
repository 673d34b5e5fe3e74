//! Blind transfer (RFC 3515) as the phone sees it: commands about a call's dialog (send a
//! REFER, accept one, report progress in NOTIFYs) and what comes back, tagged with the call
//! (its slot). Kept apart from [`super::UaCommand`]/[`super::UaEvent`]: calls never see
//! transfers, the phone console drives them (`src/console/transfer.rs`).

use super::driver_ua::SlotId;

/// What the phone asks about the dialog of call `slot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferCommand {
    /// RFC 3515 §2.4.1: REFER with `Refer-To: <target>` in the call's confirmed dialog.
    Refer { target: String },
    /// RFC 3515 §2.4.2: 202 Accepted to the peer's REFER `id`.
    Accept { id: u64 },
    /// RFC 3515 §2.4.2: a refusal (e.g. 603 Decline) of the peer's REFER `id`.
    Reject { id: u64, status: u16 },
    /// RFC 3515 §2.4.5: a NOTIFY with `SIP/2.0 <status>` as message/sipfrag; `terminated`
    /// for the last one.
    Notify {
        id: u64,
        status: u16,
        terminated: bool,
    },
}

/// What happened to a transfer, tagged with the call whose dialog it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// The final response to our REFER (202: the transferee will try; else it refused,
    /// 408 for no response).
    ReferAnswered { slot: SlotId, status: u16 },
    /// A NOTIFY of our REFER's subscription (RFC 3515 §2.4.5): the sipfrag status line.
    Progress {
        slot: SlotId,
        status: u16,
        reason: String,
        terminated: bool,
    },
    /// A NOTIFY we could not read (refused with 400).
    BadNotify { slot: SlotId, detail: String },
    /// The peer asks us to call `refer_to` (we are the transferee).
    Incoming {
        slot: SlotId,
        id: u64,
        refer_to: String,
        referred_by: Option<String>,
    },
    /// A NOTIFY we sent was refused or timed out.
    NotifyFailed { slot: SlotId, status: u16 },
    /// A command could not be carried out (no dialog, dialog not confirmed, bad URI…).
    Refused { slot: SlotId, reason: String },
}
