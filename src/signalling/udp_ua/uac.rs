//! Responses to our requests: dialogs confirmed, ACKs (RFC 3261 §13.2.2.4, §17.1.1.3),
//! digest retries (RFC 3261 §22.2).

use super::*;

impl Ua {
    pub(super) async fn on_response(&mut self, response: Response) {
        let branch = response
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        let status = response.status;
        let Some(index) = self.txns.iter().position(|t| t.branch == branch) else {
            // A retransmitted 2xx to our INVITE: ACK again (RFC 3261 §13.2.2.4).
            if (200..300).contains(&status) {
                if let Some(ack) = self.dialog.as_ref().and_then(|d| d.last_ack.clone()) {
                    let dest = self
                        .dialog
                        .as_ref()
                        .map(|d| self.config.proxy.unwrap_or(d.remote_addr));
                    if let Some(dest) = dest {
                        self.send_bytes(&ack, dest).await;
                    }
                }
            }
            return;
        };
        if status < 200 {
            if let Some(t) = self.txns.get_mut(index) {
                // RFC 3261 §17.1.1.2: a provisional stops INVITE retransmissions; for
                // non-INVITE the interval becomes T2 (§17.1.2.2).
                if t.request.method == Method::Invite {
                    t.next = None;
                } else {
                    t.interval = T2;
                }
                if t.purpose == TxnPurpose::InitialInvite && status > 100 {
                    if let Some(d) = &mut self.dialog {
                        if let Ok(to) = response.headers.to_addr() {
                            d.remote = to;
                        }
                    }
                    self.emit(UaEvent::Provisional { status });
                }
            }
            return;
        }
        let txn = self.txns.remove(index);
        let is_invite = txn.request.method == Method::Invite;
        if is_invite && status >= 300 {
            // RFC 3261 §17.1.1.3: ACK a non-2xx final in the same transaction.
            let ack = txn.request.ack_for_non_2xx(&response);
            self.send_bytes(&ack.to_bytes(), txn.dest).await;
        }
        if (status == 401 || status == 407)
            && matches!(
                txn.purpose,
                TxnPurpose::InitialInvite | TxnPurpose::Register { .. }
            )
            && self.retry_with_auth(&txn, &response).await
        {
            return;
        }
        match txn.purpose {
            TxnPurpose::InitialInvite => {
                if (200..300).contains(&status) {
                    self.confirm_dialog(&response).await;
                    if let Some(mut digest) = self.digest.as_ref().and_then(|d| d.lock().ok()) {
                        digest.on_success();
                    }
                    let peer_allows_update = allows_update(&response.headers);
                    if let Some(d) = &mut self.dialog {
                        d.peer_allows_update = peer_allows_update;
                    }
                    self.emit(UaEvent::Answered {
                        sdp: sdp_body(&response.body).unwrap_or_default(),
                        peer_allows_update,
                    });
                } else {
                    let mut reason = response.reason.clone();
                    if (300..400).contains(&status) {
                        if let Some(c) = response.headers.get(HeaderName::Contact) {
                            reason = format!("{reason} (redirected to {c}; not followed)");
                        }
                    }
                    self.on_final_failure(txn.purpose, status, &reason);
                }
            }
            TxnPurpose::InDialog(method) => {
                if is_invite && (200..300).contains(&status) {
                    self.send_ack(&response).await;
                }
                self.emit(UaEvent::OfferAnswered {
                    method,
                    status,
                    sdp: sdp_body(&response.body),
                });
            }
            TxnPurpose::Bye => {
                self.dialog = None;
                self.emit(UaEvent::HangupDone);
            }
            TxnPurpose::Cancel => {}
            TxnPurpose::Register { expires } => {
                if (200..300).contains(&status) {
                    if let Some(mut digest) = self.digest.as_ref().and_then(|d| d.lock().ok()) {
                        digest.on_success();
                    }
                    let granted = response
                        .headers
                        .contacts()
                        .ok()
                        .and_then(|c| first_contact_expires(&c))
                        .or_else(|| response.headers.expires().ok().flatten())
                        .unwrap_or(expires);
                    self.emit(UaEvent::Registered {
                        expires: granted,
                        public_address: sip::message::learned_public_address(&response),
                    });
                } else {
                    self.on_final_failure(txn.purpose, status, &response.reason);
                }
            }
        }
    }

    /// RFC 3261 §22.2: answer the challenge and resend with CSeq + 1. False when the
    /// credentials are missing or were refused.
    pub(super) async fn retry_with_auth(&mut self, txn: &ClientTxn, response: &Response) -> bool {
        let mut request = txn.request.clone();
        let Some(headers) = self.answer_challenge(response, &request) else {
            return false;
        };
        request.headers.remove("Authorization");
        request.headers.remove("Proxy-Authorization");
        for h in headers {
            request.headers.push(h.name, h.value);
        }
        // RFC 3261 §22.1 (checklist §10.9): the retry increments CSeq.
        let Ok(cseq) = request.headers.cseq() else {
            return false;
        };
        let next = cseq.seq + 1;
        request
            .headers
            .set("CSeq", format!("{next} {}", cseq.method));
        if let TxnPurpose::Register { .. } = txn.purpose {
            self.register_cseq = next;
        }
        if let Some(d) = &mut self.dialog {
            if txn.purpose == TxnPurpose::InitialInvite {
                d.local_cseq = next;
            }
        }
        let branch = new_branch();
        request.headers.remove("Via");
        request
            .headers
            .push_front("Via", self.via(&branch).to_string());
        if let Some(d) = &mut self.dialog {
            if txn.purpose == TxnPurpose::InitialInvite {
                d.invite = Some(request.clone());
            }
        }
        self.start_txn(request, branch, txn.dest, txn.purpose).await;
        true
    }

    /// The authorization headers answering the challenges in `response` for `request`.
    pub(super) fn answer_challenge(
        &self,
        response: &Response,
        request: &Request,
    ) -> Option<Vec<sip::auth::AuthHeader>> {
        let mut digest = self.digest.as_ref()?.lock().ok()?;
        let values: Vec<&str> = if response.status == 401 {
            response.headers.www_authenticate().collect()
        } else {
            response.headers.proxy_authenticate().collect()
        };
        digest.on_challenge(response.status, &values).ok()?;
        digest
            .authorization_headers(
                request.method.as_str(),
                &request.uri.to_string(),
                &request.body,
            )
            .ok()
    }

    pub(super) async fn confirm_dialog(&mut self, response: &Response) {
        if let Some(d) = &mut self.dialog {
            d.confirmed = true;
            if let Ok(to) = response.headers.to_addr() {
                d.remote = to;
            }
            if let Some(uri) = response
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
        }
        self.send_ack(response).await;
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx is a new transaction to the remote target, with
    /// the INVITE's CSeq number.
    pub(super) async fn send_ack(&mut self, response: &Response) {
        let Some(d) = &self.dialog else { return };
        let seq = response
            .headers
            .cseq()
            .map(|c| c.seq)
            .unwrap_or(d.local_cseq);
        let (request, _) = self.build_request(
            Method::Ack,
            d.remote_target.clone(),
            Ids {
                from: &d.local,
                to: &d.remote,
                call_id: &d.call_id,
                cseq: seq,
            },
            None,
        );
        let dest = self.config.proxy.unwrap_or(d.remote_addr);
        let bytes = request.to_bytes();
        self.send_bytes(&bytes, dest).await;
        if let Some(d) = &mut self.dialog {
            d.last_ack = Some(bytes);
        }
    }
}
