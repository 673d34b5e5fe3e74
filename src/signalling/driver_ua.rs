//! The `sip-stack` driver ([`crate::sip_driver::SipDriver`] around `sip::endpoint::Endpoint`)
//! behind the calls' channel interface: commands become endpoint calls, endpoint events
//! become [`UaEvent`]s. Each call has a slot: its own event channel and the dialog it
//! owns. A plain UA ([`spawn`]) has one slot, the main handle's; a multi-call UA
//! ([`spawn_multi`]) hands every accepted incoming INVITE out as a new per-call handle.

use std::collections::HashMap;
use std::net::SocketAddr;

use sip::endpoint::{
    Body, DialogId, EndpointConfig, IncomingId, NextHop, SipEvent, TerminationReason, TransportKind,
};
use tokio::sync::mpsc;

use super::UaConfig;
use super::{OfferMethod, UaCommand, UaEvent, UaHandle};
use crate::sip_driver::{SipDriver, SipDriverConfig};

const SDP: &str = "application/sdp";

/// Binds the driver's UDP socket and starts the translating task: one call at a time, on
/// the returned handle.
pub async fn spawn(config: UaConfig) -> std::io::Result<UaHandle> {
    start(config, None).await
}

/// As [`spawn`], for up to `max_calls` calls at once: the main handle gets registration
/// events only (and drives REGISTER), each accepted incoming call arrives on the receiver
/// as its own handle. Dropping the receiver makes further INVITEs get 486.
pub async fn spawn_multi(
    config: UaConfig,
) -> std::io::Result<(UaHandle, mpsc::UnboundedReceiver<UaHandle>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    Ok((start(config, Some(tx)).await?, rx))
}

async fn start(
    config: UaConfig,
    incoming: Option<mpsc::UnboundedSender<UaHandle>>,
) -> std::io::Result<UaHandle> {
    let mut endpoint = EndpointConfig::new(config.aor.clone());
    endpoint.credentials = config.credentials.clone();
    // Without a configured proxy, the registrar is the AOR's host (RFC 3261 §10.2: the
    // Request-URI names the domain) when it is an address we can reach directly.
    let registrar = config.proxy.or_else(|| {
        let uri: sip::message::Uri = config.aor.parse().ok()?;
        let sip_uri = uri.as_sip()?;
        let port = sip_uri.port.unwrap_or(5060);
        sip_uri
            .host
            .ip()
            .map(|ip| SocketAddr::new(ip, port))
            .filter(|_| config.register)
    });
    let transport = if config.tcp {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    };
    endpoint.default_transport = transport;
    endpoint.outbound_proxy = registrar.map(|addr| NextHop { transport, addr });
    endpoint.register_expires = config.register_expires;
    endpoint.timers.t1 = config.t1;
    // `--no-update`: leave UPDATE out of Allow so the peer re-INVITEs (RFC 3311 §5.1).
    endpoint.allow_update = config.allow_update;
    endpoint.max_redirects = if config.follow_redirects {
        sip::endpoint::DEFAULT_MAX_REDIRECTS
    } else {
        0
    };
    let mut driver_config = SipDriverConfig::new(endpoint);
    driver_config.capture = config.capture.clone();
    driver_config.netns = config.netns.clone();
    let bind = if config.tcp && config.bind.port() == 0 {
        port_free_for_both(config.netns.as_deref(), config.bind.ip()).await?
    } else {
        config.bind
    };
    driver_config.udp_bind = Some(bind);
    if config.tcp {
        // One port for UDP and TCP, so the Contact/Via port reaches either.
        driver_config.tcp_bind = Some(bind);
    }
    let driver = SipDriver::bind(driver_config).await?;
    let local = driver
        .udp_local()
        .ok_or_else(|| std::io::Error::other("the SIP driver bound no UDP socket"))?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (slot_tx, slot_rx) = mpsc::unbounded_channel();
    let mut slots = HashMap::new();
    slots.insert(MAIN, Slot::new(ev_tx));
    let bridge = Bridge {
        driver,
        local,
        slots,
        next_slot: MAIN + 1,
        incoming,
        slot_commands: slot_tx,
        max_calls: config.max_calls,
    };
    tokio::spawn(bridge.run(cmd_rx, slot_rx));
    Ok(UaHandle {
        local,
        commands: cmd_tx,
        events: ev_rx,
    })
}

/// An ephemeral port free for both UDP and TCP on `ip` (released again before the driver
/// binds it; another process taking it in between makes the bind fail, never a wrong call).
/// Probed in the UA's network namespace, where the driver will bind.
async fn port_free_for_both(
    netns: Option<&str>,
    ip: std::net::IpAddr,
) -> std::io::Result<SocketAddr> {
    use crate::netns::{bind_tcp_listener, bind_udp};
    for _ in 0..20 {
        let tcp = bind_tcp_listener(netns, SocketAddr::new(ip, 0)).await?;
        let addr = tcp.local_addr()?;
        if bind_udp(netns, addr).await.is_ok() {
            return Ok(addr);
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

/// Which call a command or event belongs to.
type SlotId = u64;
/// The slot of the handle [`spawn`] returns: the one call of a plain UA, and registration.
const MAIN: SlotId = 0;

/// One call's share of the user agent.
struct Slot {
    events: mpsc::UnboundedSender<UaEvent>,
    dialog: Option<DialogId>,
    /// The initial INVITE we have to answer.
    incoming_call: Option<IncomingId>,
    /// The in-dialog offer we have to answer.
    incoming_offer: Option<IncomingId>,
    /// Our INVITE has no final response yet.
    our_invite_pending: bool,
}

impl Slot {
    fn new(events: mpsc::UnboundedSender<UaEvent>) -> Slot {
        Slot {
            events,
            dialog: None,
            incoming_call: None,
            incoming_offer: None,
            our_invite_pending: false,
        }
    }

    fn emit(&self, event: UaEvent) {
        let _ = self.events.send(event);
    }
}

struct Bridge {
    driver: SipDriver,
    local: SocketAddr,
    slots: HashMap<SlotId, Slot>,
    next_slot: SlotId,
    /// Multi-call UA: where new calls' handles go.
    incoming: Option<mpsc::UnboundedSender<UaHandle>>,
    /// Per-call handles' commands (None: that handle was dropped).
    slot_commands: mpsc::UnboundedSender<(SlotId, Option<UaCommand>)>,
    max_calls: usize,
}

fn sdp_of(body: Option<Body>) -> Option<String> {
    body.map(|b| String::from_utf8_lossy(&b.bytes).into_owned())
}

impl Bridge {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<UaCommand>,
        mut slot_commands: mpsc::UnboundedReceiver<(SlotId, Option<UaCommand>)>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(c) => self.on_command(MAIN, c).await,
                    None => break,
                },
                Some((slot, command)) = slot_commands.recv() => match command {
                    Some(c) => self.on_command(slot, c).await,
                    None => {
                        self.slots.remove(&slot);
                    }
                },
                event = self.driver.next_event() => match event {
                    Some(e) => self.on_event(e).await,
                    None => break,
                },
            }
        }
        self.driver
            .shutdown(std::time::Duration::from_secs(1))
            .await;
    }

    fn emit(&self, slot: SlotId, event: UaEvent) {
        if let Some(s) = self.slots.get(&slot) {
            s.emit(event);
        }
    }

    /// The slot owning `dialog`; the main slot when none does (a plain UA reports every
    /// dialog event to its one call, as it always has).
    fn slot_of(&self, dialog: DialogId) -> SlotId {
        self.slots
            .iter()
            .find(|(_, s)| s.dialog == Some(dialog))
            .map(|(id, _)| *id)
            .unwrap_or(MAIN)
    }

    fn slot_mut(&mut self, slot: SlotId) -> Option<&mut Slot> {
        self.slots.get_mut(&slot)
    }

    fn busy_calls(&self) -> usize {
        self.slots.values().filter(|s| s.dialog.is_some()).count()
    }

    async fn on_command(&mut self, slot: SlotId, command: UaCommand) {
        let Some(state) = self.slots.get(&slot) else {
            return;
        };
        let dialog = state.dialog;
        let incoming_call = state.incoming_call;
        let result: Result<(), String> = match command {
            UaCommand::Invite { target, sdp } => {
                let r = self
                    .driver
                    .command(move |ep, now| ep.invite(now, &target, Some(Body::new(SDP, sdp))))
                    .await;
                match r {
                    Ok(Ok(d)) => {
                        if let Some(s) = self.slot_mut(slot) {
                            s.dialog = Some(d);
                            s.our_invite_pending = true;
                        }
                        Ok(())
                    }
                    Ok(Err(e)) => {
                        self.emit(
                            slot,
                            UaEvent::Failed {
                                status: 400,
                                reason: e.to_string(),
                            },
                        );
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            UaCommand::Respond { status, sdp, .. } => match incoming_call {
                Some(incoming) => {
                    if status >= 200 {
                        if let Some(s) = self.slot_mut(slot) {
                            s.incoming_call = None;
                        }
                    }
                    self.respond(incoming, status, sdp).await
                }
                None => Err("no incoming INVITE to answer".into()),
            },
            UaCommand::AnswerOffer { status, sdp, .. } => {
                match self.slot_mut(slot).and_then(|s| s.incoming_offer.take()) {
                    Some(incoming) => self.respond(incoming, status, sdp).await,
                    None => Err("no incoming offer to answer".into()),
                }
            }
            UaCommand::Offer { method, sdp } => match dialog {
                Some(d) => flatten(
                    self.driver
                        .command(move |ep, now| {
                            let body = Some(Body::new(SDP, sdp));
                            match method {
                                OfferMethod::Update => ep.update(now, d, body),
                                OfferMethod::Invite => ep.reinvite(now, d, body),
                            }
                        })
                        .await,
                ),
                None => Err("no dialog for the offer".into()),
            },
            UaCommand::Cancel => match dialog {
                Some(d) => flatten(self.driver.command(move |ep, now| ep.cancel(now, d)).await),
                None => Ok(()),
            },
            UaCommand::Bye => match dialog {
                Some(d) => flatten(self.driver.command(move |ep, now| ep.bye(now, d)).await),
                None => {
                    self.emit(slot, UaEvent::HangupDone);
                    Ok(())
                }
            },
            UaCommand::Register { expires } => {
                let r = flatten(
                    self.driver
                        .command(move |ep, now| {
                            if expires == 0 {
                                ep.unregister(now)
                            } else {
                                ep.register(now)
                            }
                        })
                        .await,
                );
                if let Err(reason) = &r {
                    self.emit(
                        MAIN,
                        UaEvent::RegisterFailed {
                            status: 400,
                            reason: reason.clone(),
                        },
                    );
                }
                r
            }
        };
        if let Err(e) = result {
            tracing::warn!("SIP command refused: {e}");
        }
    }

    async fn respond(
        &self,
        incoming: IncomingId,
        status: u16,
        sdp: Option<String>,
    ) -> Result<(), String> {
        flatten(
            self.driver
                .command(move |ep, now| {
                    ep.respond(now, incoming, status, sdp.map(|s| Body::new(SDP, s)))
                })
                .await,
        )
    }

    /// The slot a new incoming call goes to, or None when we are busy (RFC 3261 §21.4.24:
    /// 486 beyond `max_calls`).
    fn slot_for_incoming(&mut self) -> Option<SlotId> {
        let Some(incoming) = &self.incoming else {
            // A plain UA: its one slot, when free.
            let free = self.slots.get(&MAIN).is_some_and(|s| s.dialog.is_none());
            return (free && self.max_calls > 0).then_some(MAIN);
        };
        if self.busy_calls() >= self.max_calls {
            return None;
        }
        let id = self.next_slot;
        self.next_slot += 1;
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
        let handle = UaHandle {
            local: self.local,
            commands: cmd_tx,
            events: ev_rx,
        };
        if incoming.send(handle).is_err() {
            // Nobody takes calls any more.
            return None;
        }
        // Tag the call's commands with its slot; tell the bridge when the call lets go.
        let to_bridge = self.slot_commands.clone();
        tokio::spawn(async move {
            while let Some(c) = cmd_rx.recv().await {
                if to_bridge.send((id, Some(c))).is_err() {
                    return;
                }
            }
            let _ = to_bridge.send((id, None));
        });
        self.slots.insert(id, Slot::new(ev_tx));
        Some(id)
    }

    async fn on_event(&mut self, event: SipEvent) {
        match event {
            SipEvent::IncomingCall {
                incoming,
                dialog,
                from,
                body,
                peer_allows_update,
                ..
            } => {
                let Some(slot) = self.slot_for_incoming() else {
                    // RFC 3261 §21.4.24: busy beyond --max-calls.
                    let _ = self.respond(incoming, 486, None).await;
                    return;
                };
                if let Some(s) = self.slot_mut(slot) {
                    s.dialog = Some(dialog);
                    s.incoming_call = Some(incoming);
                    s.emit(UaEvent::Incoming {
                        from,
                        sdp: sdp_of(body).unwrap_or_default(),
                        peer_allows_update,
                    });
                }
            }
            SipEvent::CallProgress { status, dialog, .. } => {
                self.emit(self.slot_of(dialog), UaEvent::Provisional { status })
            }
            SipEvent::CallRedirected {
                status,
                from,
                to,
                dialog,
            } => self.emit(
                self.slot_of(dialog),
                UaEvent::Redirected { status, from, to },
            ),
            SipEvent::CallAnswered {
                body,
                peer_allows_update,
                dialog,
                ..
            } => {
                let slot = self.slot_of(dialog);
                if let Some(s) = self.slot_mut(slot) {
                    s.our_invite_pending = false;
                    s.emit(UaEvent::Answered {
                        sdp: sdp_of(body).unwrap_or_default(),
                        peer_allows_update,
                    });
                }
            }
            SipEvent::AckReceived { dialog, .. } => self.emit(self.slot_of(dialog), UaEvent::Acked),
            SipEvent::IncomingReinvite {
                incoming,
                body,
                dialog,
            } => self.offer_received(dialog, incoming, OfferMethod::Invite, body),
            SipEvent::IncomingUpdate {
                incoming,
                body,
                dialog,
            } => self.offer_received(dialog, incoming, OfferMethod::Update, body),
            SipEvent::ReinviteResponse {
                status,
                body,
                dialog,
            } => self.emit(
                self.slot_of(dialog),
                UaEvent::OfferAnswered {
                    method: OfferMethod::Invite,
                    status,
                    sdp: sdp_of(body),
                },
            ),
            SipEvent::UpdateResponse {
                status,
                body,
                dialog,
            } => self.emit(
                self.slot_of(dialog),
                UaEvent::OfferAnswered {
                    method: OfferMethod::Update,
                    status,
                    sdp: sdp_of(body),
                },
            ),
            SipEvent::CancelReceived { dialog } => {
                let slot = self.slot_of(dialog);
                if let Some(s) = self.slot_mut(slot) {
                    s.dialog = None;
                    s.emit(UaEvent::RemoteHangup { cancelled: true });
                }
            }
            SipEvent::ByeReceived { dialog } => self.emit(
                self.slot_of(dialog),
                UaEvent::RemoteHangup { cancelled: false },
            ),
            SipEvent::DialogTerminated { reason, dialog } => self.dialog_terminated(dialog, reason),
            SipEvent::Registered {
                expires,
                public_address,
                ..
            } => self.emit(
                MAIN,
                UaEvent::Registered {
                    expires,
                    public_address: public_address.map(|a: SocketAddr| a),
                },
            ),
            SipEvent::Unregistered => self.emit(
                MAIN,
                UaEvent::Registered {
                    expires: 0,
                    public_address: None,
                },
            ),
            SipEvent::RegistrationFailed { reason } => self.emit(
                MAIN,
                UaEvent::RegisterFailed {
                    status: match &reason {
                        sip::endpoint::RegistrationFailure::Status { status, .. } => *status,
                        sip::endpoint::RegistrationFailure::Timeout => 408,
                        _ => 401,
                    },
                    reason: format!("{reason:?}"),
                },
            ),
            other => tracing::debug!("SIP event not used by calls: {other:?}"),
        }
    }

    fn offer_received(
        &mut self,
        dialog: DialogId,
        incoming: IncomingId,
        method: OfferMethod,
        body: Option<Body>,
    ) {
        let slot = self.slot_of(dialog);
        if let Some(s) = self.slot_mut(slot) {
            s.incoming_offer = Some(incoming);
            s.emit(UaEvent::OfferReceived {
                method,
                sdp: sdp_of(body).unwrap_or_default(),
            });
        }
    }

    fn dialog_terminated(&mut self, dialog: DialogId, reason: TerminationReason) {
        // Only a dialog a call owns (a 486'd INVITE's dialog, say, belongs to none).
        let Some(s) = self.slots.values_mut().find(|s| s.dialog == Some(dialog)) else {
            return;
        };
        s.dialog = None;
        let pending = std::mem::take(&mut s.our_invite_pending);
        match reason {
            TerminationReason::LocalBye | TerminationReason::Shutdown => {
                s.emit(UaEvent::HangupDone)
            }
            TerminationReason::Rejected { status, reason } if pending => {
                s.emit(UaEvent::Failed { status, reason })
            }
            TerminationReason::Cancelled if pending => s.emit(UaEvent::Failed {
                status: 487,
                reason: "Request Terminated (cancelled)".into(),
            }),
            TerminationReason::Timeout if pending => s.emit(UaEvent::Failed {
                status: 408,
                reason: "Request Timeout (no response)".into(),
            }),
            // RemoteBye and CancelReceived were reported already.
            TerminationReason::RemoteBye | TerminationReason::Cancelled => {}
            TerminationReason::NoAck => s.emit(UaEvent::DialogEnded {
                reason: "no ACK for our 200 within 64*T1 (RFC 3261 §13.3.1.4): BYE sent".into(),
            }),
            TerminationReason::DialogGone { status } => s.emit(UaEvent::DialogEnded {
                reason: format!(
                    "the dialog is gone: in-dialog request got {status} (RFC 3261 §12.2.1.2)"
                ),
            }),
            _ => s.emit(UaEvent::RemoteHangup { cancelled: false }),
        }
    }
}

fn flatten<E: std::fmt::Display>(
    r: Result<Result<(), E>, crate::sip_driver::DriverStopped>,
) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
