//! The calls' view of SIP: commands in, events out, over channels. Calls never see SIP
//! messages, only offers, answers and dialog happenings; [`driver_ua`] puts the `sip`
//! crate's endpoint and its driver (`src/sip_driver/`) behind them. [`spawn`] starts it.

pub mod control;
pub mod driver_ua;
pub mod transfer;

use std::net::SocketAddr;
use std::time::Duration;

use crate::pcap::Capture;

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
    Provisional { status: u16 },
    /// Our INVITE was redirected (RFC 3261 §8.1.3.4): a new INVITE with the same offer went
    /// to `to`. `status` is the 3xx, or the failure of the previous redirect target.
    Redirected {
        status: u16,
        from: String,
        to: String,
    },
    /// Our INVITE was answered with a 2xx; the ACK has been sent.
    Answered {
        sdp: String,
        peer_allows_update: bool,
    },
    /// Our INVITE failed (final non-2xx, timeout as 408, or credentials refused).
    /// `local`: no peer sent `status`; we made it up (RFC 3261 §8.1.3.1: a timeout or a
    /// transport error counts as a 408), and `reason` says what happened.
    Failed {
        status: u16,
        reason: String,
        local: bool,
    },
    /// The ACK for our 2xx arrived.
    Acked,
    /// An offer inside the dialog (UPDATE or re-INVITE).
    OfferReceived { method: OfferMethod, sdp: String },
    /// The final response to our in-dialog offer; 408 when it timed out (RFC 3261 §8.1.3.1).
    OfferAnswered {
        method: OfferMethod,
        status: u16,
        sdp: Option<String>,
    },
    /// The peer hung up (BYE) or cancelled before we answered.
    RemoteHangup { cancelled: bool },
    /// Our BYE was answered (or timed out).
    HangupDone,
    /// The dialog ended for a reason other than a BYE: e.g. our 2xx was never ACKed
    /// (RFC 3261 §13.3.1.4, BYE sent after 64·T1) or an in-dialog request got 481 (the
    /// dialog is gone: no BYE). A 408 or timeout of our offer is an [`UaEvent::OfferAnswered`]
    /// with status 408 instead, and the call goes on.
    DialogEnded { reason: String },
    Registered {
        expires: u32,
        public_address: Option<SocketAddr>,
    },
    /// REGISTER failed; `local` as for [`UaEvent::Failed`].
    RegisterFailed {
        status: u16,
        reason: String,
        local: bool,
    },
}

/// A failure as people read it: the peer's `status reason`, or only our words when the
/// failure was local (its status was not sent by anyone).
pub fn failure_text(status: u16, reason: &str, local: bool) -> String {
    if local {
        reason.to_owned()
    } else {
        format!("{status} {reason}")
    }
}

/// The call's end of the channels.
#[derive(Debug)]
pub struct UaHandle {
    /// Where SIP listens.
    pub local: SocketAddr,
    /// Which of the UA's calls this handle speaks for (its commands are tagged with it).
    pub(crate) slot: driver_ua::SlotId,
    /// Ids for the slots this handle opens ([`UaHandle::open_call`]), shared with the UA.
    pub(crate) slot_ids: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub(crate) commands: mpsc::Sender<(driver_ua::SlotId, driver_ua::BridgeRequest)>,
    pub(crate) events: mpsc::Receiver<UaEvent>,
    /// The main handle's: closed when the UA has stopped ([`UaHandle::close`]).
    pub(crate) stopped: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl UaHandle {
    /// Sends a command, waiting while the UA's command queue is full (backpressure); a UA
    /// that stopped turns it into a no-op (the call notices on `next`).
    pub async fn send(&self, command: UaCommand) {
        let request = driver_ua::BridgeRequest::Command(command);
        if self.commands.send((self.slot, request)).await.is_err() {
            tracing::warn!("SIP user agent has stopped; command dropped");
        }
    }

    /// A further handle on the same user agent (its SIP socket and endpoint) for one more
    /// call at a time: it places calls, or with `takes_calls` it is given one incoming
    /// INVITE, the next that no earlier handle waits for. Load mode runs its calls this way
    /// on one UA per agent. `None` when the UA has stopped.
    pub async fn open_call(&self, takes_calls: bool) -> Option<UaHandle> {
        let slot = self
            .slot_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (events, rx) = mpsc::channel(driver_ua::CALL_EVENT_QUEUE);
        let (opened, done) = tokio::sync::oneshot::channel();
        let request = driver_ua::BridgeRequest::OpenSlot {
            events,
            takes_calls,
            opened,
        };
        self.commands.send((slot, request)).await.ok()?;
        done.await.ok()?;
        Some(UaHandle {
            local: self.local,
            slot,
            slot_ids: self.slot_ids.clone(),
            commands: self.commands.clone(),
            events: rx,
            stopped: None,
        })
    }

    /// Which call of the UA this handle speaks for (what [`transfer::TransferEvent`]s are
    /// tagged with).
    pub fn call_slot(&self) -> u64 {
        self.slot
    }

    /// A transfer command about the dialog of call `slot` (any handle of the UA may send
    /// it; the phone keeps the main handle while each call's engine holds its own).
    pub async fn transfer(&self, slot: u64, command: transfer::TransferCommand) {
        let request = driver_ua::BridgeRequest::Transfer(command);
        if self.commands.send((slot, request)).await.is_err() {
            tracing::warn!("SIP user agent has stopped; transfer command dropped");
        }
    }

    pub async fn next(&mut self) -> Option<UaEvent> {
        self.events.recv().await
    }

    /// Stops the user agent (the main handle: the one `spawn` returned) and waits until it
    /// has: the commands already sent are carried out and their messages go on the wire
    /// (a 488 or a BYE queued just before a command exits), bounded by `grace`. On any
    /// other handle it only lets go of that call.
    pub async fn close(mut self, grace: Duration) {
        let stopped = self.stopped.take();
        drop(self);
        if let Some(stopped) = stopped {
            let _ = tokio::time::timeout(grace, stopped).await;
        }
    }
}

/// What a phone's user agent is.
#[derive(Debug, Clone)]
pub struct UaConfig {
    pub bind: SocketAddr,
    /// Our address of record, e.g. `sip:alice@127.0.0.1`.
    pub aor: String,
    /// The outbound proxy (and registrar): every out-of-dialog request goes here when set.
    pub proxy: Option<SocketAddr>,
    /// RFC 3263 §4.3: the proxy name's further targets, tried in turn on failure.
    pub proxy_alternates: Vec<SocketAddr>,
    /// Domains of request targets and their RFC 3263 targets (used without a proxy).
    pub resolved_hosts: Vec<(String, Vec<(sip::endpoint::TransportKind, SocketAddr)>)>,
    pub credentials: Option<sip::auth::Credentials>,
    pub t1: Duration,
    /// INVITEs beyond this many simultaneous calls get 486 (RFC 3261 §21.4.24). A UA from
    /// [`spawn`] has one call slot, so anything above 1 acts as 1; [`spawn_multi`] takes up
    /// to this many incoming calls at once.
    pub max_calls: usize,
    /// `--pcap`: the SIP datagrams go here too.
    pub capture: Option<Capture>,
    /// List UPDATE in Allow (false: peers re-INVITE, as with baresip).
    pub allow_update: bool,
    /// This UA registers: without a proxy, the AOR's host is the registrar.
    pub register: bool,
    /// REGISTER expiry asked for, in seconds.
    pub register_expires: u32,
    /// The transport of the proxy/registrar and of requests whose URI names none. TCP also
    /// binds a TCP listener on the UDP port; TLS (`--transport tls`, default port 5061, RFC
    /// 3261 §19.1.2) has no listener.
    pub transport: sip::endpoint::TransportKind,
    /// TLS client settings for the TLS transport, sips: and `;transport=tls` targets; `None`:
    /// no TLS at all (such targets fail with the reason, never downgraded).
    pub tls: Option<crate::sip_driver::SipTls>,
    /// Network namespace (`ip netns` name) every socket of this UA is made in; `None` = ours.
    pub netns: Option<String>,
    /// Follow 3xx responses to our INVITE (at most `sip::endpoint::DEFAULT_MAX_REDIRECTS`
    /// new INVITEs); false reports a 3xx as the call's failure (`--no-follow-redirects`).
    pub follow_redirects: bool,
    /// CRLFCRLF keepalives on flows outbound does not cover (`--keepalive`); `None` = off.
    pub keepalive: Option<Duration>,
    /// RFC 5626 outbound on registrations, with this `+sip.instance` (`None` = off).
    pub instance_id: Option<String>,
    /// Contact learning from the registrar's received/rport (`--contact-rewrite`).
    pub contact_rewrite: bool,
    /// The address for Via and Contact when `bind` is a wildcard (0.0.0.0 / ::): the
    /// address of the route toward the registrar or proxy.
    pub advertise: Option<std::net::IpAddr>,
    /// `bind`'s port is only a wish (5060 by default): when it is taken, bind an ephemeral
    /// port instead and say so on stderr.
    pub port_fallback: bool,
    /// What peers may make the SIP driver hold.
    pub limits: crate::sip_driver::Limits,
}

impl UaConfig {
    /// A plain phone at `bind` for `aor`: no proxy, no credentials, T1 = 500 ms (RFC 3261
    /// §17), one call at a time, UPDATE allowed, UDP, no registration, no capture, our own
    /// network namespace, redirects followed. Callers change what differs with struct-update syntax.
    pub fn new(bind: SocketAddr, aor: impl Into<String>) -> Self {
        UaConfig {
            bind,
            aor: aor.into(),
            proxy: None,
            proxy_alternates: Vec::new(),
            resolved_hosts: Vec::new(),
            credentials: None,
            t1: Duration::from_millis(500),
            max_calls: 1,
            capture: None,
            allow_update: true,
            register: false,
            register_expires: 3600,
            transport: sip::endpoint::TransportKind::Udp,
            tls: None,
            netns: None,
            follow_redirects: true,
            keepalive: None,
            instance_id: None,
            contact_rewrite: false,
            advertise: None,
            port_fallback: false,
            limits: crate::sip_driver::Limits::default(),
        }
    }
}

/// Starts a user agent: the `sip` crate's endpoint on its tokio driver.
pub async fn spawn(config: UaConfig) -> std::io::Result<UaHandle> {
    driver_ua::spawn(config).await
}

/// As [`spawn`], with message control for test tools (edits, message tap, raw sends; see
/// [`control`]).
pub async fn spawn_controlled(
    config: UaConfig,
    link: control::ControlLink,
) -> std::io::Result<UaHandle> {
    driver_ua::spawn_controlled(config, link).await
}

/// Starts a user agent for several incoming calls at once (`answer --max-calls N`): the
/// returned handle carries registration; each incoming INVITE accepted while fewer than
/// `max_calls` calls are up arrives on the receiver as that call's own handle, ready for
/// [`crate::call::run_callee`]. Dropping the receiver turns further INVITEs away with 486.
pub async fn spawn_multi(
    config: UaConfig,
) -> std::io::Result<(UaHandle, mpsc::Receiver<UaHandle>)> {
    driver_ua::spawn_multi(config).await
}

/// As [`spawn_multi`], for the phone console: REFERs are handed over as
/// [`transfer::TransferEvent`]s on the third receiver (and the phone may send REFERs)
/// instead of being declined with 603.
pub async fn spawn_phone(
    config: UaConfig,
) -> std::io::Result<(
    UaHandle,
    mpsc::Receiver<UaHandle>,
    mpsc::UnboundedReceiver<transfer::TransferEvent>,
)> {
    driver_ua::spawn_phone(config).await
}
