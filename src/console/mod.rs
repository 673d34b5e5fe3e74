//! `icephone phone`: a softphone a person talks through. It stays registered, takes
//! commands from a line editor ([`editor`]) and from a control socket ([`control`]), runs
//! several calls at once on one SIP user agent per account and carries out blind transfers
//! (RFC 3515) both ways ([`transfer`]). [`phone::Phone`] owns the calls; the front ends send
//! it [`Request`]s and print its replies.

pub mod accounts;
pub mod calls;
pub mod command;
pub mod control;
pub mod editor;
pub mod output;
pub mod phone;
mod phone_commands;
mod phone_events;
mod transfer;

use tokio::sync::oneshot;

pub use command::Command;

/// What a command did: the call it is about (if any) and words for the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub call: Option<u32>,
    pub text: String,
}

/// A command from a front end, and where its reply goes.
#[derive(Debug)]
pub struct Request {
    pub command: Command,
    pub reply: oneshot::Sender<Result<Reply, String>>,
}
