//! Incoming messages: framing, server transactions (RFC 3261 §17.2.3 matching), the UAS
//! core (RFC 3261 §8.2, §12.2.2, §14.2, §15, RFC 3311 §5.2) and [`Endpoint::respond`].

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;

use crate::message::{
    error_response_for_unparsable, fill_received_rport, parse_datagram, response_destination,
    validate_request, validate_response, HeaderName, Message, Method, Request, Response,
    StreamEvent, UasPolicy, Version,
};
use crate::transaction::{Action, InviteServer, NonInviteServer, ServerTransactionKey};

use super::hop::{Arrival, Hop};
use super::limits::Overload;
use super::types::{ConnId, DialogId, TransportKind};
use super::{Endpoint, ALLOWED_METHODS, SUPPORTED_TAGS};

#[derive(Debug)]
pub(crate) enum ServerTxn {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

/// What a server transaction's request is to the UAS core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerKind {
    InitialInvite,
    Reinvite,
    Update,
    Other,
}

#[derive(Debug)]
pub(crate) struct ServerEntry {
    pub txn: ServerTxn,
    /// The request with received/rport filled (responses copy its Via).
    pub request: Request,
    /// Where responses go (RFC 3581 §4, RFC 3261 §18.2.2).
    pub hop: Hop,
    pub dialog: Option<DialogId>,
    pub kind: ServerKind,
    pub answered: bool,
    /// The IP the request came from, counted against the per-source cap.
    pub source: IpAddr,
}

impl ServerEntry {
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.txn {
            ServerTxn::Invite(t) => t.poll_timeout(),
            ServerTxn::NonInvite(t) => t.poll_timeout(),
        }
    }
}

/// The standard reason phrase for the statuses the endpoint sends.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

fn uas_policy() -> UasPolicy {
    UasPolicy {
        allowed_methods: ALLOWED_METHODS.to_vec(),
        supported_extensions: SUPPORTED_TAGS.iter().map(|s| s.to_string()).collect(),
        accepted_content_types: vec![
            "application/sdp".into(),
            "text/plain".into(),
            "application/octet-stream".into(),
            // RFC 3515 §2.4.5: NOTIFYs for REFER.
            super::refer::SIPFRAG.into(),
        ],
        registrar: false,
    }
}

impl Endpoint {
    /// A UDP datagram arrived on our socket `local` from `from`. STUN (first byte 0 or 1,
    /// RFC 7983) and CRLF keepalives are ignored here; the driver handles STUN.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') || bytes.first().is_some_and(|b| *b < 2)
        {
            return;
        }
        let arrival = Arrival {
            transport: TransportKind::Udp,
            local,
            remote: from,
            conn: None,
        };
        if self.config.trace_messages {
            self.trace(false, TransportKind::Udp, Some(local), from, bytes.to_vec());
        }
        match parse_datagram(bytes) {
            Ok(message) => self.handle_message(now, message, arrival),
            Err(err) => {
                tracing::debug!(error = %err, %from, "unparsable datagram");
                if let Some(mut response) = error_response_for_unparsable(bytes, &err) {
                    self.apply_response_edits(&mut response.headers);
                    self.send_on(&arrival.hop(), response.to_bytes());
                }
            }
        }
    }

    /// Bytes arrived on TCP or TLS (decrypted) connection `conn` (any segmentation).
    pub fn handle_stream(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            tracing::debug!(?conn, "bytes on unknown connection");
            return;
        };
        c.decoder.push(bytes);
        let arrival = Arrival {
            transport: c.transport,
            local: c.local,
            remote: c.remote,
            conn: Some(conn),
        };
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.decoder.next_event() {
                Ok(Some(StreamEvent::Message(message))) => {
                    if self.config.trace_messages {
                        // After framing: the message as parsed, in its wire form.
                        let (transport, local, remote) =
                            (arrival.transport, arrival.local, arrival.remote);
                        self.trace(false, transport, Some(local), remote, message.to_bytes());
                    }
                    self.handle_message(now, message, arrival)
                }
                Ok(Some(StreamEvent::KeepalivePing)) => {
                    // RFC 5626 §4.4.1: answer a CRLFCRLF ping with a CRLF pong.
                    self.send_on(&arrival.hop(), b"\r\n".to_vec());
                }
                Ok(Some(StreamEvent::KeepalivePong)) => self.on_pong(conn),
                Ok(None) => return,
                Err(err) => {
                    // RFC 4475 §3.1.2.3: a stream cannot resynchronise; close it.
                    tracing::info!(error = %err, ?conn, "closing connection after framing error");
                    self.conns.remove(&conn);
                    self.closes.push_back(conn);
                    self.flow_connection_closed(now, conn);
                    return;
                }
            }
        }
    }

    /// A connection the driver must close (framing error).
    pub fn poll_close(&mut self) -> Option<ConnId> {
        self.closes.pop_front()
    }

    pub(crate) fn handle_message(&mut self, now: Instant, message: Message, arrival: Arrival) {
        match message {
            Message::Request(mut request) => {
                if request.version != Version::SIP_2_0 {
                    self.reject_version(&request, arrival);
                    return;
                }
                // RFC 3581 §4 / RFC 3261 §18.2.1: record where the request came from.
                if let Err(e) = fill_received_rport(&mut request, arrival.remote) {
                    tracing::debug!(error = %e, "request without usable Via dropped");
                    return;
                }
                self.handle_request(now, request, arrival);
            }
            Message::Response(response) => match validate_response(&response) {
                Ok(()) => self.handle_response(now, response, arrival),
                Err(e) => tracing::debug!(error = %e, "response discarded"),
            },
        }
    }

    /// RFC 4475 §3.1.2.16 / RFC 3261 §21.5.6: a request of another SIP version gets 505,
    /// sent statelessly to where it came from (its Via may not even parse, as in
    /// `SIP/7.0/UDP`, so neither a transaction key nor §18.2.2 routing applies).
    fn reject_version(&mut self, request: &Request, arrival: Arrival) {
        let Err(rejection) = validate_request(request, &uas_policy()) else {
            return;
        };
        tracing::debug!(version = %request.version, remote = %arrival.remote, "request of unsupported version answered 505");
        let tag = self.random_token(12);
        let mut response = rejection.to_response(request).with_to_tag(&tag);
        self.apply_response_edits(&mut response.headers);
        self.send_on(&arrival.hop(), response.to_bytes());
    }

    /// RFC 3581 §4: to the source IP and port when rport was present; TCP and TLS: the
    /// same connection (RFC 3261 §18.2.2).
    pub(crate) fn reply_hop(request: &Request, arrival: Arrival) -> Hop {
        match arrival.transport {
            TransportKind::Tcp | TransportKind::Tls => arrival.hop(),
            TransportKind::Udp => {
                let dest = request
                    .headers
                    .top_via()
                    .ok()
                    .and_then(|v| response_destination(&v))
                    .unwrap_or(arrival.remote);
                Hop {
                    transport: TransportKind::Udp,
                    dest,
                    conn: None,
                    local: Some(arrival.local),
                }
            }
        }
    }

    pub(crate) fn handle_request(&mut self, now: Instant, request: Request, arrival: Arrival) {
        let Ok(via) = request.headers.top_via() else {
            return;
        };
        // RFC 3261 §17.2.3 / RFC 4475 §3.2.1: without an RFC 3261 branch (none, RFC 2543
        // style, or only the magic cookie) the transaction is identified RFC 2543 style.
        let branch = ServerTransactionKey::transaction_id(
            via.branch().unwrap_or_default(),
            &request.uri.to_string(),
            request
                .headers
                .from_addr()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned))
                .as_deref()
                .unwrap_or_default(),
            request.headers.call_id().unwrap_or_default(),
            request.headers.cseq().map(|c| c.seq).unwrap_or_default(),
        );
        let sent_by = match via.port {
            Some(port) => format!("{}:{}", via.host, port),
            None => via.host.to_string(),
        };
        let key = ServerTransactionKey::for_request(&branch, &sent_by, request.method.as_str());
        if let Some(entry) = self.servers.get_mut(&key) {
            // RFC 3261 §17.2.3: a retransmission or the ACK of a non-2xx.
            let actions = match (&mut entry.txn, &request.method) {
                (ServerTxn::Invite(t), Method::Ack) => t.on_ack(now),
                (ServerTxn::Invite(t), _) => t.on_request_retransmission(now),
                (ServerTxn::NonInvite(t), _) => t.on_request_retransmission(now),
            };
            let pass_up = actions.contains(&Action::PassToTu);
            self.run_server_actions(&key, actions);
            if pass_up {
                self.on_dialog_ack(now, &request);
            }
            return;
        }
        if request.method == Method::Ack {
            // RFC 3261 §13.3.1.4 / §17.2.3: an ACK for a 2xx has its own branch.
            self.on_dialog_ack(now, &request);
            return;
        }
        let reply = Self::reply_hop(&request, arrival);
        let source = arrival.remote.ip();
        let limits = self.config.server_limits;
        if let Some(overload) = self
            .server_sources
            .check(&limits, self.servers.len(), source)
        {
            self.reject_overload(&request, &reply, overload, source);
            return;
        }
        self.request_source = Some(source);
        if let Err(rejection) = validate_request(&request, &uas_policy()) {
            tracing::debug!(status = rejection.status, detail = %rejection.detail, "request rejected");
            let tag = self.random_token(12);
            let response = rejection.to_response(&request).with_to_tag(&tag);
            self.respond_new(now, key, request, reply, None, ServerKind::Other, response);
            return;
        }
        if request.method == Method::Cancel {
            self.on_cancel(now, key, request, reply, &branch, &sent_by);
            return;
        }
        let to_tag = request
            .headers
            .to_addr()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        match to_tag {
            Some(_) => self.on_in_dialog_request(now, key, request, reply),
            None => self.on_out_of_dialog_request(now, key, request, reply, arrival),
        }
    }

    /// RFC 3261 §21.5.4: over a transaction cap, a 503 with Retry-After, sent statelessly
    /// so the request leaves no state behind.
    fn reject_overload(
        &mut self,
        request: &Request,
        reply: &Hop,
        overload: Overload,
        source: IpAddr,
    ) {
        self.overload_rejections = self.overload_rejections.wrapping_add(1);
        // One line per power of two, so a flood does not flood the log too.
        if self.overload_rejections.is_power_of_two() {
            tracing::info!(?overload, %source, rejected = self.overload_rejections, "server transaction cap reached; answering 503");
        }
        let tag = self.random_token(12);
        let mut response =
            Response::for_request(request, 503, reason_phrase(503)).with_to_tag(&tag);
        response.headers.push(
            HeaderName::RetryAfter,
            self.config.server_limits.retry_after.to_string(),
        );
        self.apply_response_edits(&mut response.headers);
        self.send_on(reply, response.to_bytes());
    }

    /// Creates a server transaction for `request` and sends `response` in it at once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond_new(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        hop: Hop,
        dialog: Option<DialogId>,
        kind: ServerKind,
        response: Response,
    ) {
        self.new_server(now, key.clone(), request, hop, dialog, kind);
        self.send_server_response(now, &key, response);
    }

    pub(crate) fn new_server(
        &mut self,
        now: Instant,
        key: ServerTransactionKey,
        request: Request,
        hop: Hop,
        dialog: Option<DialogId>,
        kind: ServerKind,
    ) {
        let txn = if request.method == Method::Invite {
            ServerTxn::Invite(InviteServer::new(
                now,
                hop.reliability(),
                self.config.timers,
            ))
        } else {
            ServerTxn::NonInvite(NonInviteServer::new(hop.reliability(), self.config.timers))
        };
        let source = self.request_source.unwrap_or(hop.dest.ip());
        let entry = ServerEntry {
            txn,
            request,
            hop,
            dialog,
            kind,
            answered: false,
            source,
        };
        self.server_sources.add(source);
        if let Some(old) = self.servers.insert(key, entry) {
            self.server_sources.remove(old.source);
        }
    }

    pub(crate) fn send_server_response(
        &mut self,
        now: Instant,
        key: &ServerTransactionKey,
        mut response: Response,
    ) {
        self.apply_response_edits(&mut response.headers);
        self.send_edited_response(now, key, response);
    }

    /// As [`Endpoint::send_server_response`], for a response whose edits are applied.
    pub(crate) fn send_edited_response(
        &mut self,
        now: Instant,
        key: &ServerTransactionKey,
        response: Response,
    ) {
        let Some(entry) = self.servers.get_mut(key) else {
            return;
        };
        if response.is_final() {
            entry.answered = true;
        }
        let bytes = Bytes::from(response.to_bytes());
        let result = match &mut entry.txn {
            ServerTxn::Invite(t) => t.send_response(now, response.status, bytes),
            ServerTxn::NonInvite(t) => t.send_response(now, response.status, bytes),
        };
        match result {
            Ok(actions) => self.run_server_actions(key, actions),
            Err(e) => tracing::debug!(error = %e, "response refused by transaction"),
        }
    }

    pub(crate) fn run_server_actions(&mut self, key: &ServerTransactionKey, actions: Vec<Action>) {
        for action in actions {
            let Some(entry) = self.servers.get(key) else {
                return;
            };
            match action {
                Action::Transmit(bytes) => {
                    let hop = entry.hop;
                    self.send_on(&hop, bytes.to_vec());
                }
                // Only Timer-driven (server_timeout builds the 100 with the real `now`).
                Action::Send100Trying => {}
                Action::Timeout(kind) => {
                    tracing::debug!(?kind, "server transaction timed out");
                }
                Action::Terminated => self.remove_server(key),
                Action::PassToTu | Action::TransportError | Action::SendAckForNon2xx => {}
            }
        }
    }

    pub(crate) fn remove_server(&mut self, key: &ServerTransactionKey) {
        if let Some(entry) = self.servers.remove(key) {
            self.server_sources.remove(entry.source);
        }
        // After a flood, give the table's memory back.
        if self.servers.capacity() > 64 && self.servers.len() < self.servers.capacity() / 8 {
            self.servers.shrink_to_fit();
        }
    }

    pub(crate) fn server_timeout(&mut self, now: Instant, key: ServerTransactionKey) {
        let Some(entry) = self.servers.get_mut(&key) else {
            return;
        };
        let actions = match &mut entry.txn {
            ServerTxn::Invite(t) => t.handle_timeout(now),
            ServerTxn::NonInvite(t) => t.handle_timeout(now),
        };
        // Timer G: the final response sent again (the 100 below is a first sending).
        self.retransmissions += actions
            .iter()
            .filter(|a| matches!(a, Action::Transmit(_)))
            .count() as u64;
        // 100 Trying is the only response built here; it needs the real `now`.
        let mut rest = Vec::new();
        for action in actions {
            if action == Action::Send100Trying {
                if let Some(entry) = self.servers.get_mut(&key) {
                    let mut trying = Response::for_request(&entry.request, 100, "Trying");
                    if !self.config.response_edits.is_empty() {
                        self.config.response_edits.apply(&mut trying.headers);
                    }
                    if let ServerTxn::Invite(t) = &mut entry.txn {
                        if let Ok(more) = t.send_response(now, 100, Bytes::from(trying.to_bytes()))
                        {
                            rest.extend(more);
                        }
                    }
                }
            } else {
                rest.push(action);
            }
        }
        self.run_server_actions(&key, rest);
    }
}
