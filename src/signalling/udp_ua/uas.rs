//! Requests from the peer (RFC 3261 §8.2, §12.2.2, §9.2, §15.1.2) and our responses.

use super::*;

impl Ua {
    pub(super) fn response_for(
        &self,
        request: &Request,
        status: u16,
        reason: &str,
        sdp: Option<&str>,
    ) -> Response {
        let tag = self
            .dialog
            .as_ref()
            .and_then(|d| d.local.tag().map(str::to_string))
            .unwrap_or_else(|| random_token(10));
        let mut r = Response::for_request(request, status, reason);
        if status != 100 {
            r = r.with_to_tag(&tag);
        }
        if (101..300).contains(&status) && matches!(request.method, Method::Invite | Method::Update)
        {
            r = r
                .with_header("Contact", self.contact().to_string())
                .with_header("Allow", self.allow());
        }
        if let Some(sdp) = sdp {
            r = r.with_body("application/sdp", sdp.as_bytes().to_vec());
        }
        r
    }

    pub(super) async fn on_datagram(&mut self, data: &[u8], from: SocketAddr) {
        if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return; // RFC 5626 keepalive
        }
        if let Some(c) = &self.config.capture {
            c.record(from, self.local, data);
        }
        match parse_datagram(data) {
            Ok(Message::Request(mut request)) => {
                // RFC 3581 §4: note where the request really came from.
                let _ = sip::message::fill_received_rport(&mut request, from);
                self.on_request(request, from).await;
            }
            Ok(Message::Response(response)) => self.on_response(response).await,
            Err(e) => tracing::debug!(%from, "unparseable SIP datagram dropped: {e}"),
        }
    }

    pub(super) async fn reply(&self, request: &Request, status: u16, reason: &str, to: SocketAddr) {
        let r = self.response_for(request, status, reason, None);
        self.send_bytes(&r.to_bytes(), to).await;
    }

    pub(super) async fn on_request(&mut self, request: Request, from: SocketAddr) {
        let call_id = request.headers.call_id().unwrap_or_default().to_string();
        let in_dialog = self.dialog.as_ref().is_some_and(|d| d.call_id == call_id);
        let branch = request
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        match request.method {
            Method::Invite if !in_dialog => {
                if self.dialog.is_some() || self.config.max_calls == 0 {
                    // RFC 3261 §21.4.24: busy beyond --max-calls.
                    self.reply(&request, 486, "Busy Here", from).await;
                    return;
                }
                let remote = request.headers.from_addr().ok();
                let Some(remote) = remote else {
                    self.reply(&request, 400, "Bad From", from).await;
                    return;
                };
                let mut local = request
                    .headers
                    .to_addr()
                    .unwrap_or_else(|_| self.aor.clone());
                local.params.set("tag", Some(&random_token(10)));
                let contact = request
                    .headers
                    .contacts()
                    .ok()
                    .and_then(|c| first_contact(&c));
                let (remote_target, remote_addr) = match contact {
                    Some(uri) => {
                        let addr = uri_address(&uri).unwrap_or(from);
                        (uri, addr)
                    }
                    None => (remote.uri.clone(), from),
                };
                let peer_allows_update = allows_update(&request.headers);
                let sdp = sdp_body(&request.body).unwrap_or_default();
                self.dialog = Some(Dialog {
                    call_id,
                    local,
                    remote: remote.clone(),
                    remote_target,
                    remote_addr,
                    local_cseq: 0,
                    confirmed: false,
                    peer_allows_update,
                    invite: None,
                    pending_invite: Some((request.clone(), from)),
                    pending_offer: None,
                    last_invite_response: None,
                    unacked_2xx: None,
                    last_ack: None,
                });
                // RFC 3261 §17.2.1: 100 Trying at once.
                self.reply(&request, 100, "Trying", from).await;
                self.emit(UaEvent::Incoming {
                    from: remote.to_string(),
                    sdp,
                    peer_allows_update,
                });
            }
            Method::Update if !self.config.allow_update => {
                self.reply(&request, 501, "Not Implemented", from).await;
            }
            Method::Invite | Method::Update => {
                let Some(d) = &mut self.dialog else { return };
                // A retransmission of an INVITE we answered: resend the answer.
                if let Some((b, bytes, to)) = &d.last_invite_response {
                    if *b == branch {
                        let (bytes, to) = (bytes.clone(), *to);
                        self.send_bytes(&bytes, to).await;
                        return;
                    }
                }
                if d.pending_invite.as_ref().is_some_and(|(r, _)| {
                    r.headers
                        .top_via()
                        .ok()
                        .and_then(|v| v.branch().map(str::to_string))
                        == Some(branch.clone())
                }) {
                    return; // initial INVITE retransmitted before our final response
                }
                if d.pending_offer.is_some() {
                    // RFC 3311 §5.2: an offer while one is pending gets 491.
                    self.reply(&request, 491, "Request Pending", from).await;
                    return;
                }
                if request.method == Method::Invite {
                    // RFC 3261 §12.2.2: a re-INVITE may refresh the remote target.
                    if let Some(uri) = request
                        .headers
                        .contacts()
                        .ok()
                        .and_then(|c| first_contact(&c))
                    {
                        if let Some(addr) = uri_address(&uri) {
                            d.remote_addr = addr;
                        }
                        d.remote_target = uri;
                    }
                    let r = Response::for_request(&request, 100, "Trying");
                    let bytes = r.to_bytes();
                    d.pending_offer = Some((request.clone(), from));
                    self.send_bytes(&bytes, from).await;
                } else {
                    d.pending_offer = Some((request.clone(), from));
                }
                let method = if request.method == Method::Invite {
                    OfferMethod::Invite
                } else {
                    OfferMethod::Update
                };
                self.emit(UaEvent::OfferReceived {
                    method,
                    sdp: sdp_body(&request.body).unwrap_or_default(),
                });
            }
            Method::Ack => {
                if let Some(d) = &mut self.dialog {
                    if d.call_id == call_id && d.unacked_2xx.take().is_some() {
                        self.emit(UaEvent::Acked);
                    }
                }
            }
            Method::Bye => {
                if in_dialog {
                    self.reply(&request, 200, "OK", from).await;
                    self.dialog = None;
                    self.emit(UaEvent::RemoteHangup { cancelled: false });
                } else {
                    // RFC 3261 §15.1.2: BYE for no dialog → 481.
                    self.reply(&request, 481, "Call/Transaction Does Not Exist", from)
                        .await;
                }
            }
            Method::Cancel => {
                let pending = self
                    .dialog
                    .as_ref()
                    .and_then(|d| d.pending_invite.clone())
                    .filter(|(r, _)| {
                        r.headers
                            .top_via()
                            .ok()
                            .and_then(|v| v.branch().map(str::to_string))
                            == Some(branch.clone())
                    });
                match pending {
                    Some((invite, invite_from)) => {
                        // RFC 3261 §9.2: 200 to the CANCEL, 487 to the INVITE.
                        self.reply(&request, 200, "OK", from).await;
                        let r = self.response_for(&invite, 487, "Request Terminated", None);
                        self.send_bytes(&r.to_bytes(), invite_from).await;
                        self.dialog = None;
                        self.emit(UaEvent::RemoteHangup { cancelled: true });
                    }
                    None => {
                        self.reply(&request, 481, "Call/Transaction Does Not Exist", from)
                            .await
                    }
                }
            }
            Method::Options => {
                let r = self
                    .response_for(&request, 200, "OK", None)
                    .with_header("Allow", self.allow());
                self.send_bytes(&r.to_bytes(), from).await;
            }
            _ => self.reply(&request, 501, "Not Implemented", from).await,
        }
    }
}
