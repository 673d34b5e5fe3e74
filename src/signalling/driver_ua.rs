//! The `sip-stack` driver ([`crate::sip_driver::SipDriver`] around `sip::endpoint::Endpoint`)
//! behind the calls' channel interface: commands become endpoint calls, endpoint events
//! become [`UaEvent`]s. One dialog at a time, like the calls that use it.

use std::net::SocketAddr;

use sip::endpoint::{
    Body, DialogId, EndpointConfig, IncomingId, NextHop, SipEvent, TerminationReason, TransportKind,
};
use tokio::sync::mpsc;

use super::UaConfig;
use super::{OfferMethod, UaCommand, UaEvent, UaHandle};
use crate::sip_driver::{SipDriver, SipDriverConfig};

const SDP: &str = "application/sdp";

/// Binds the driver's UDP socket and starts the translating task.
pub async fn spawn(config: UaConfig) -> std::io::Result<UaHandle> {
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
    let bridge = Bridge {
        driver,
        events: ev_tx,
        dialog: None,
        incoming_call: None,
        incoming_offer: None,
        max_calls: config.max_calls,
        our_invite_pending: false,
    };
    tokio::spawn(bridge.run(cmd_rx));
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

struct Bridge {
    driver: SipDriver,
    events: mpsc::UnboundedSender<UaEvent>,
    dialog: Option<DialogId>,
    /// The initial INVITE we have to answer.
    incoming_call: Option<IncomingId>,
    /// The in-dialog offer we have to answer.
    incoming_offer: Option<IncomingId>,
    max_calls: usize,
    /// Our INVITE has no final response yet.
    our_invite_pending: bool,
}

fn sdp_of(body: Option<Body>) -> Option<String> {
    body.map(|b| String::from_utf8_lossy(&b.bytes).into_owned())
}

impl Bridge {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<UaCommand>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c).await,
                    None => break,
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

    fn emit(&self, event: UaEvent) {
        let _ = self.events.send(event);
    }

    async fn on_command(&mut self, command: UaCommand) {
        let dialog = self.dialog;
        let result: Result<(), String> = match command {
            UaCommand::Invite { target, sdp } => {
                let r = self
                    .driver
                    .command(move |ep, now| ep.invite(now, &target, Some(Body::new(SDP, sdp))))
                    .await;
                match r {
                    Ok(Ok(d)) => {
                        self.dialog = Some(d);
                        self.our_invite_pending = true;
                        Ok(())
                    }
                    Ok(Err(e)) => {
                        self.emit(UaEvent::Failed {
                            status: 400,
                            reason: e.to_string(),
                        });
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            UaCommand::Respond { status, sdp, .. } => match self.incoming_call {
                Some(incoming) => {
                    if status >= 200 {
                        self.incoming_call = None;
                    }
                    self.respond(incoming, status, sdp).await
                }
                None => Err("no incoming INVITE to answer".into()),
            },
            UaCommand::AnswerOffer { status, sdp, .. } => match self.incoming_offer.take() {
                Some(incoming) => self.respond(incoming, status, sdp).await,
                None => Err("no incoming offer to answer".into()),
            },
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
                    self.emit(UaEvent::HangupDone);
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
                    self.emit(UaEvent::RegisterFailed {
                        status: 400,
                        reason: reason.clone(),
                    });
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
                if self.dialog.is_some() || self.max_calls == 0 {
                    // RFC 3261 §21.4.24: busy beyond --max-calls.
                    let _ = self.respond(incoming, 486, None).await;
                    return;
                }
                self.dialog = Some(dialog);
                self.incoming_call = Some(incoming);
                self.emit(UaEvent::Incoming {
                    from,
                    sdp: sdp_of(body).unwrap_or_default(),
                    peer_allows_update,
                });
            }
            SipEvent::CallProgress { status, .. } => self.emit(UaEvent::Provisional { status }),
            SipEvent::CallRedirected {
                status, from, to, ..
            } => self.emit(UaEvent::Redirected { status, from, to }),
            SipEvent::CallAnswered {
                body,
                peer_allows_update,
                ..
            } => {
                self.our_invite_pending = false;
                self.emit(UaEvent::Answered {
                    sdp: sdp_of(body).unwrap_or_default(),
                    peer_allows_update,
                });
            }
            SipEvent::AckReceived { .. } => self.emit(UaEvent::Acked),
            SipEvent::IncomingReinvite { incoming, body, .. } => {
                self.incoming_offer = Some(incoming);
                self.emit(UaEvent::OfferReceived {
                    method: OfferMethod::Invite,
                    sdp: sdp_of(body).unwrap_or_default(),
                });
            }
            SipEvent::IncomingUpdate { incoming, body, .. } => {
                self.incoming_offer = Some(incoming);
                self.emit(UaEvent::OfferReceived {
                    method: OfferMethod::Update,
                    sdp: sdp_of(body).unwrap_or_default(),
                });
            }
            SipEvent::ReinviteResponse { status, body, .. } => self.emit(UaEvent::OfferAnswered {
                method: OfferMethod::Invite,
                status,
                sdp: sdp_of(body),
            }),
            SipEvent::UpdateResponse { status, body, .. } => self.emit(UaEvent::OfferAnswered {
                method: OfferMethod::Update,
                status,
                sdp: sdp_of(body),
            }),
            SipEvent::CancelReceived { .. } => {
                self.dialog = None;
                self.emit(UaEvent::RemoteHangup { cancelled: true });
            }
            SipEvent::ByeReceived { .. } => self.emit(UaEvent::RemoteHangup { cancelled: false }),
            SipEvent::DialogTerminated { reason, dialog } => {
                if self.dialog != Some(dialog) {
                    return;
                }
                self.dialog = None;
                let pending = std::mem::take(&mut self.our_invite_pending);
                match reason {
                    TerminationReason::LocalBye | TerminationReason::Shutdown => {
                        self.emit(UaEvent::HangupDone)
                    }
                    TerminationReason::Rejected { status, reason } if pending => {
                        self.emit(UaEvent::Failed { status, reason })
                    }
                    TerminationReason::Cancelled if pending => self.emit(UaEvent::Failed {
                        status: 487,
                        reason: "Request Terminated (cancelled)".into(),
                    }),
                    TerminationReason::Timeout if pending => self.emit(UaEvent::Failed {
                        status: 408,
                        reason: "Request Timeout (no response)".into(),
                    }),
                    // RemoteBye and CancelReceived were reported already.
                    TerminationReason::RemoteBye | TerminationReason::Cancelled => {}
                    TerminationReason::NoAck => self.emit(UaEvent::DialogEnded {
                        reason: "no ACK for our 200 within 64*T1 (RFC 3261 §13.3.1.4): BYE sent"
                            .into(),
                    }),
                    TerminationReason::DialogGone { status } => self.emit(UaEvent::DialogEnded {
                        reason: format!("the dialog is gone: in-dialog request got {status} (RFC 3261 §12.2.1.2)"),
                    }),
                    _ => self.emit(UaEvent::RemoteHangup { cancelled: false }),
                }
            }
            SipEvent::Registered {
                expires,
                public_address,
                ..
            } => self.emit(UaEvent::Registered {
                expires,
                public_address: public_address.map(|a: SocketAddr| a),
            }),
            SipEvent::Unregistered => self.emit(UaEvent::Registered {
                expires: 0,
                public_address: None,
            }),
            SipEvent::RegistrationFailed { reason } => self.emit(UaEvent::RegisterFailed {
                status: match &reason {
                    sip::endpoint::RegistrationFailure::Status { status, .. } => *status,
                    sip::endpoint::RegistrationFailure::Timeout => 408,
                    _ => 401,
                },
                reason: format!("{reason:?}"),
            }),
            other => tracing::debug!("SIP event not used by calls: {other:?}"),
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
