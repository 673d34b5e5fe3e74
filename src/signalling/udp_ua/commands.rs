//! What the call asks the user agent to do: start a call, answer, offer, cancel, hang up,
//! register.

use super::*;

impl Ua {
    pub(super) async fn on_command(&mut self, command: UaCommand) {
        match command {
            UaCommand::Invite { target, sdp } => {
                let Ok(uri) = target.parse::<Uri>() else {
                    self.emit(UaEvent::Failed {
                        status: 400,
                        reason: format!("`{target}` is not a SIP URI"),
                    });
                    return;
                };
                let Some(dest) = self.default_dest(&uri) else {
                    self.emit(UaEvent::Failed {
                        status: 404,
                        reason: format!("cannot resolve the host of {target}"),
                    });
                    return;
                };
                let mut local = self.aor.clone();
                local.params.set("tag", Some(&random_token(10)));
                let remote = NameAddr::new(uri.clone());
                let call_id = format!("{}@{}", random_token(20), self.local.ip());
                let (request, branch) = self.build_request(
                    Method::Invite,
                    uri.clone(),
                    Ids {
                        from: &local,
                        to: &remote,
                        call_id: &call_id,
                        cseq: 1,
                    },
                    Some(&sdp),
                );
                self.dialog = Some(Dialog {
                    call_id,
                    local,
                    remote,
                    remote_target: uri,
                    remote_addr: dest,
                    local_cseq: 1,
                    confirmed: false,
                    peer_allows_update: false,
                    invite: Some(request.clone()),
                    pending_invite: None,
                    pending_offer: None,
                    last_invite_response: None,
                    unacked_2xx: None,
                    last_ack: None,
                });
                self.start_txn(request, branch, dest, TxnPurpose::InitialInvite)
                    .await;
            }
            UaCommand::Respond {
                status,
                reason,
                sdp,
            } => {
                let Some(d) = &self.dialog else { return };
                let Some((invite, from)) = d.pending_invite.clone() else {
                    return;
                };
                let response = self.response_for(&invite, status, &reason, sdp.as_deref());
                let bytes = response.to_bytes();
                self.send_bytes(&bytes, from).await;
                let branch = invite
                    .headers
                    .top_via()
                    .ok()
                    .and_then(|v| v.branch().map(str::to_string))
                    .unwrap_or_default();
                let now = Instant::now();
                let t1 = self.config.t1;
                if let Some(d) = &mut self.dialog {
                    if status >= 200 {
                        d.pending_invite = None;
                        d.last_invite_response = Some((branch, bytes.clone(), from));
                    }
                    if (200..300).contains(&status) {
                        d.confirmed = true;
                        d.unacked_2xx = Some((bytes, from, now + t1, t1, now + t1 * 64));
                    }
                }
                if status >= 300 {
                    self.dialog = None;
                }
            }
            UaCommand::Offer { method, sdp } => {
                let Some(d) = &mut self.dialog else { return };
                d.local_cseq += 1;
                let (cseq, from, to, call_id, target, dest) = (
                    d.local_cseq,
                    d.local.clone(),
                    d.remote.clone(),
                    d.call_id.clone(),
                    d.remote_target.clone(),
                    self.config.proxy.unwrap_or(d.remote_addr),
                );
                let m = match method {
                    OfferMethod::Update => Method::Update,
                    OfferMethod::Invite => Method::Invite,
                };
                let (request, branch) = self.build_request(
                    m,
                    target,
                    Ids {
                        from: &from,
                        to: &to,
                        call_id: &call_id,
                        cseq,
                    },
                    Some(&sdp),
                );
                self.start_txn(request, branch, dest, TxnPurpose::InDialog(method))
                    .await;
            }
            UaCommand::AnswerOffer {
                status,
                reason,
                sdp,
            } => {
                let Some(d) = &mut self.dialog else { return };
                let Some((request, from)) = d.pending_offer.take() else {
                    return;
                };
                let response = self.response_for(&request, status, &reason, sdp.as_deref());
                let bytes = response.to_bytes();
                if request.method == Method::Invite {
                    let now = Instant::now();
                    let t1 = self.config.t1;
                    let branch = request
                        .headers
                        .top_via()
                        .ok()
                        .and_then(|v| v.branch().map(str::to_string))
                        .unwrap_or_default();
                    if let Some(d) = &mut self.dialog {
                        d.last_invite_response = Some((branch, bytes.clone(), from));
                        if (200..300).contains(&status) {
                            d.unacked_2xx =
                                Some((bytes.clone(), from, now + t1, t1, now + t1 * 64));
                        }
                    }
                }
                self.send_bytes(&bytes, from).await;
            }
            UaCommand::Cancel => {
                let Some(d) = &self.dialog else { return };
                if d.confirmed {
                    return;
                }
                let Some(invite) = d.invite.clone() else {
                    return;
                };
                let dest = d.remote_addr;
                // RFC 3261 §9.1: CANCEL only after a provisional response; we send it anyway
                // when asked and let the transaction rules sort it out.
                let cancel = invite.cancel();
                let branch = invite
                    .headers
                    .top_via()
                    .ok()
                    .and_then(|v| v.branch().map(str::to_string))
                    .unwrap_or_default();
                self.start_txn(cancel, format!("{branch}-cancel"), dest, TxnPurpose::Cancel)
                    .await;
            }
            UaCommand::Bye => {
                let Some(d) = &mut self.dialog else {
                    self.emit(UaEvent::HangupDone);
                    return;
                };
                d.local_cseq += 1;
                let (cseq, from, to, call_id, target, dest) = (
                    d.local_cseq,
                    d.local.clone(),
                    d.remote.clone(),
                    d.call_id.clone(),
                    d.remote_target.clone(),
                    self.config.proxy.unwrap_or(d.remote_addr),
                );
                let (request, branch) = self.build_request(
                    Method::Bye,
                    target,
                    Ids {
                        from: &from,
                        to: &to,
                        call_id: &call_id,
                        cseq,
                    },
                    None,
                );
                self.start_txn(request, branch, dest, TxnPurpose::Bye).await;
            }
            UaCommand::Register { expires } => self.send_register(expires).await,
        }
    }

    pub(super) async fn send_register(&mut self, expires: u32) {
        let Some(aor_uri) = self.aor.uri.as_sip().cloned() else {
            self.emit(UaEvent::RegisterFailed {
                status: 400,
                reason: "the AOR is not a sip: URI".into(),
            });
            return;
        };
        // RFC 3261 §10.2: the Request-URI is the registrar's domain (no user part).
        let mut registrar = SipUri::new(None, aor_uri.host.clone());
        registrar.port = aor_uri.port;
        let uri = Uri::Sip(registrar);
        let Some(dest) = self.default_dest(&uri) else {
            self.emit(UaEvent::RegisterFailed {
                status: 404,
                reason: "cannot resolve the registrar".into(),
            });
            return;
        };
        self.register_cseq += 1;
        let mut from = self.aor.clone();
        from.params.set("tag", Some(&random_token(10)));
        let to = self.aor.clone();
        let call_id = self.register_call_id.clone();
        let (mut request, branch) = self.build_request(
            Method::Register,
            uri.clone(),
            Ids {
                from: &from,
                to: &to,
                call_id: &call_id,
                cseq: self.register_cseq,
            },
            None,
        );
        request.headers.push("Expires", expires.to_string());
        if let Some(mut digest) = self.digest.as_ref().and_then(|d| d.lock().ok()) {
            if let Ok(headers) = digest.authorization_headers("REGISTER", &uri.to_string(), b"") {
                for h in headers {
                    request.headers.push(h.name, h.value);
                }
            }
        }
        self.start_txn(request, branch, dest, TxnPurpose::Register { expires })
            .await;
    }
}
