//! The calls' view of SIP: commands in, events out, over channels. Calls never see SIP
//! messages, only offers, answers and dialog happenings, so the SIP engine behind the
//! channels can be swapped: [`driver_ua`] puts the `sip-stack` endpoint and its driver
//! (`src/sip_driver/`) behind them, [`udp_ua`] a small UDP user agent built on
//! `sip::message` and `sip::auth`. [`spawn`] starts either.

pub mod driver_ua;
pub mod udp_ua;

use std::net::SocketAddr;

use tokio::sync::mpsc;

/// How an in-dialog offer is carried (RFC 3311 UPDATE or a re-INVITE, RFC 3261 §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferMethod {
    Update,
    Invite,
}

impl OfferMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferMethod::Update => "UPDATE",
            OfferMethod::Invite => "INVITE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaCommand {
    /// Start a call to `target` (a SIP URI) with `sdp` as the offer.
    Invite { target: String, sdp: String },
    /// Answer the incoming INVITE: 1xx (no body), 2xx (with the answer) or an error.
    Respond {
        status: u16,
        reason: String,
        sdp: Option<String>,
    },
    /// An offer inside the dialog.
    Offer { method: OfferMethod, sdp: String },
    /// The response to an offer received inside the dialog.
    AnswerOffer {
        status: u16,
        reason: String,
        sdp: Option<String>,
    },
    /// RFC 3261 §9: give up a call that is still ringing.
    Cancel,
    /// RFC 3261 §15: hang up.
    Bye,
    /// REGISTER the AOR for `expires` seconds (0 removes the binding).
    Register { expires: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaEvent {
    /// A new INVITE (we are the callee).
    Incoming {
        from: String,
        sdp: String,
        peer_allows_update: bool,
    },
    /// A provisional response to our INVITE (180, 183…).
    Provisional {
        status: u16,
    },
    /// Our INVITE was answered with a 2xx; the ACK has been sent.
    Answered {
        sdp: String,
        peer_allows_update: bool,
    },
    /// Our INVITE failed (final non-2xx, timeout as 408, or credentials refused).
    Failed {
        status: u16,
        reason: String,
    },
    /// The ACK for our 2xx arrived.
    Acked,
    /// An offer inside the dialog (UPDATE or re-INVITE).
    OfferReceived {
        method: OfferMethod,
        sdp: String,
    },
    /// The final response to our in-dialog offer.
    OfferAnswered {
        method: OfferMethod,
        status: u16,
        sdp: Option<String>,
    },
    /// The peer hung up (BYE) or cancelled before we answered.
    RemoteHangup {
        cancelled: bool,
    },
    /// Our BYE was answered (or timed out).
    HangupDone,
    /// The dialog ended for a reason other than a BYE: e.g. our 2xx was never ACKed
    /// (RFC 3261 §13.3.1.4, BYE sent after 64·T1) or an in-dialog request got 481/408.
    DialogEnded {
        reason: String,
    },
    Registered {
        expires: u32,
        public_address: Option<SocketAddr>,
    },
    RegisterFailed {
        status: u16,
        reason: String,
    },
}

/// The call's end of the channels.
#[derive(Debug)]
pub struct UaHandle {
    /// Where SIP listens.
    pub local: SocketAddr,
    pub commands: mpsc::UnboundedSender<UaCommand>,
    pub events: mpsc::UnboundedReceiver<UaEvent>,
}

impl UaHandle {
    /// Sends a command; a UA that stopped turns it into a no-op (the call notices on `next`).
    pub fn send(&self, command: UaCommand) {
        if self.commands.send(command).is_err() {
            tracing::warn!("SIP user agent has stopped; command dropped");
        }
    }

    pub async fn next(&mut self) -> Option<UaEvent> {
        self.events.recv().await
    }
}

/// Which SIP engine carries a phone's signalling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SipEngine {
    /// The `sip-stack` endpoint and its tokio driver (`src/sip_driver/`).
    #[default]
    Driver,
    /// The small UDP user agent in [`udp_ua`] (it also writes SIP into `--pcap`, and can
    /// leave UPDATE out of Allow).
    Interim,
}

impl std::str::FromStr for SipEngine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "driver" => Ok(SipEngine::Driver),
            "interim" => Ok(SipEngine::Interim),
            other => Err(format!("`{other}`: expected driver or interim")),
        }
    }
}

/// Starts a user agent on `engine`.
pub async fn spawn(engine: SipEngine, config: udp_ua::UaConfig) -> std::io::Result<UaHandle> {
    match engine {
        SipEngine::Driver => {
            if config.capture.is_some() {
                tracing::warn!(
                    "--pcap: the SIP driver owns its socket, so SIP is not in the capture (use --sip-engine interim for SIP in the pcap)"
                );
            }
            if !config.allow_update {
                tracing::warn!("the SIP driver always allows UPDATE; allow_update=false ignored");
            }
            driver_ua::spawn(config).await
        }
        SipEngine::Interim => udp_ua::spawn(config).await,
    }
}
