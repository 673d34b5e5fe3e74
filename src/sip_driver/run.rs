//! The driver loop: input → endpoint → transmits/events, sleeping until the next timeout.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use sip::endpoint::{ConnId, Endpoint, SipEvent, Transmit, TransportKind};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::accept::Acceptor;
use super::conn_table::ConnTable;
use super::icmp;
use super::limits::Limits;
use super::stun::{ProbeResult, StunProbe};
use super::tcp::{self, ConnEvent, ConnHandle, Opener};
use super::tls_conn::{self, SipTls};
use super::Job;
use crate::pcap::Capture;

/// Datagrams read in one go before the transmits they caused are sent: draining the socket
/// in batches keeps up with bursts (one wake-up per batch, not per datagram).
const UDP_BATCH: usize = 256;

pub(crate) struct Loop {
    endpoint: Endpoint,
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    jobs: mpsc::Receiver<Job>,
    events: mpsc::Sender<SipEvent>,
    /// Events that found the channel full, sent first when it has room again; while any
    /// wait, no socket is read (backpressure instead of an unbounded queue).
    backlog: VecDeque<SipEvent>,
    conn_tx: mpsc::Sender<ConnEvent>,
    conn_rx: mpsc::Receiver<ConnEvent>,
    writers: HashMap<ConnId, ConnHandle>,
    /// Open connections, for the caps and timeouts.
    table: ConnTable,
    acceptor: Acceptor,
    limits: Limits,
    /// Outbound connections by transport and destination, including ones still connecting
    /// (a TCP connection never carries TLS, nor the reverse).
    by_dest: HashMap<(TransportKind, SocketAddr), ConnId>,
    /// SIP over TLS: the client configuration and the names to verify; `None` = no TLS.
    tls: Option<SipTls>,
    next_conn: u64,
    probes: Vec<StunProbe>,
    /// The tokio clock and the std clock the endpoint uses, tied at start.
    epoch: (Instant, std::time::Instant),
    /// The pcap tap: UDP in and out here, TCP in the connection tasks.
    capture: Option<Capture>,
    /// Outbound TCP connections are made in this network namespace (`None` = ours).
    netns: Option<String>,
}

impl Loop {
    pub fn new(
        endpoint: Endpoint,
        udp: Option<UdpSocket>,
        tcp: Option<TcpListener>,
        jobs: mpsc::Receiver<Job>,
        events: mpsc::Sender<SipEvent>,
        capture: Option<Capture>,
        limits: Limits,
    ) -> Loop {
        let (conn_tx, conn_rx) = mpsc::channel(tcp::EVENT_QUEUE);
        Loop {
            endpoint,
            udp,
            tcp,
            jobs,
            events,
            backlog: VecDeque::new(),
            conn_tx,
            conn_rx,
            writers: HashMap::new(),
            table: ConnTable::default(),
            acceptor: Acceptor::default(),
            limits,
            by_dest: HashMap::new(),
            tls: None,
            next_conn: 1,
            probes: Vec::new(),
            epoch: (Instant::now(), std::time::Instant::now()),
            netns: None,
            capture,
        }
    }

    fn now(&self) -> std::time::Instant {
        self.epoch.1 + Instant::now().saturating_duration_since(self.epoch.0)
    }

    fn to_tokio(&self, at: std::time::Instant) -> Instant {
        self.epoch.0 + at.saturating_duration_since(self.epoch.1)
    }

    pub async fn run(mut self) {
        let mut sweep = tokio::time::interval(self.limits.sweep_period());
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.flush().await;
            let endpoint_at = self.endpoint.poll_timeout().map(|t| self.to_tokio(t));
            let probe_at = self
                .probes
                .iter()
                .filter_map(StunProbe::deadline)
                .min()
                .map(|t| self.to_tokio(t));
            let wake = [endpoint_at, probe_at].into_iter().flatten().min();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                job = self.jobs.recv() => match job {
                    Some(job) => {
                        let now = self.now();
                        job(&mut self.endpoint, now);
                    }
                    None => return,
                },
                permit = room_for((!self.backlog.is_empty()).then(|| self.events.clone())) => match permit {
                    Ok(permit) => self.drain_backlog(permit),
                    // Nobody listens any more: what waits is dropped, as a send would.
                    Err(_) => self.backlog.clear(),
                },
                () = udp_readable(self.udp.as_ref()), if self.backlog.is_empty() => {
                    self.drain_udp()
                }
                (stream, _) = self.acceptor.accept(self.tcp.as_ref()), if self.backlog.is_empty() => {
                    self.on_accept(stream)
                }
                Some(event) = self.conn_rx.recv(), if self.backlog.is_empty() => {
                    self.on_conn_event(event)
                }
                _ = sweep.tick() => self.sweep(),
                () = sleep => {
                    let now = self.now();
                    let before = self.endpoint.retransmissions();
                    self.endpoint.handle_timeout(now);
                    super::count_retransmissions(self.endpoint.retransmissions() - before);
                    self.run_probes().await;
                }
            }
        }
    }

    /// Makes outbound TCP connections inside network namespace `netns`.
    pub fn in_netns(mut self, netns: Option<String>) -> Loop {
        self.netns = netns;
        self
    }

    /// Connects to TLS destinations with these settings.
    pub fn with_tls(mut self, tls: Option<SipTls>) -> Loop {
        self.tls = tls;
        self
    }

    fn new_conn_id(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    /// Writes a UDP datagram to the capture: sent to `peer` when `outgoing`, else received
    /// from it.
    fn tap(&self, peer: SocketAddr, outgoing: bool, bytes: &[u8]) {
        // The capture first: without one, no getsockname per datagram.
        let Some(capture) = &self.capture else {
            return;
        };
        let Some(local) = self.udp.as_ref().and_then(|s| s.local_addr().ok()) else {
            return;
        };
        if outgoing {
            capture.record(local, peer, bytes);
        } else {
            capture.record(peer, local, bytes);
        }
    }

    fn on_udp_input(&mut self, buf: &[u8], n: usize, from: SocketAddr) {
        let bytes = buf.get(..n).unwrap_or_default();
        self.tap(from, false, bytes);
        self.on_datagram(from, bytes);
    }

    /// Reads what waits on the UDP socket, up to [`UDP_BATCH`] datagrams, into the thread's
    /// receive buffer (no buffer of its own per driver: see [`crate::recv_buffer`]). A
    /// failed read is an ICMP error with IP_RECVERR (ECONNREFUSED and the like, details in
    /// the error queue); the socket stays usable.
    fn drain_udp(&mut self) {
        crate::recv_buffer::with(|buf| {
            for _ in 0..UDP_BATCH {
                let Some(udp) = &self.udp else {
                    return;
                };
                match udp.try_recv_from(buf) {
                    Ok((n, from)) => self.on_udp_input(buf, n, from),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                    Err(e) => {
                        tracing::debug!(error = %e, "UDP receive error");
                        self.on_udp_errors();
                        return;
                    }
                }
            }
        })
    }

    /// A peer connected to our listener: run it, then close what the caps make room from.
    fn on_accept(&mut self, stream: tokio::net::TcpStream) {
        let conn = self.new_conn_id();
        let (handle, tasks) = tcp::pair(self.limits.tcp_send_timeout);
        let events = self.conn_tx.clone();
        let capture = self.capture.as_ref();
        let Some((local, remote)) =
            tcp::run_tcp(conn, stream, events, tasks, capture, Opener::Peer, false)
        else {
            return;
        };
        let now = self.now();
        self.writers.insert(conn, handle);
        self.table.insert(conn, remote.ip(), true, now);
        self.endpoint.connection_opened(conn, local, remote);
        let in_use = self.endpoint.connections_in_use();
        let victims = self
            .table
            .make_room(conn, remote.ip(), &self.limits, |c| in_use.contains(&c));
        for (victim, reason) in victims {
            tracing::info!(conn = ?victim, ?reason, new = %remote, "closing a TCP connection to make room");
            self.close_conn(victim);
        }
    }

    /// Closes the connections past their idle or header-completion timeout.
    fn sweep(&mut self) {
        if self.writers.is_empty() {
            return;
        }
        let now = self.now();
        let in_use = self.endpoint.connections_in_use();
        for (conn, reason) in self
            .table
            .expired(now, &self.limits, |c| in_use.contains(&c))
        {
            tracing::info!(?conn, ?reason, "closing a TCP connection after its timeout");
            self.close_conn(conn);
        }
    }

    /// Closes `conn` at once (both tasks stop; queued writes are dropped) and tells the
    /// endpoint.
    fn close_conn(&mut self, conn: ConnId) {
        if let Some(handle) = self.writers.remove(&conn) {
            handle.abort();
        }
        self.by_dest.retain(|_, c| *c != conn);
        self.table.remove(conn);
        let now = self.now();
        self.endpoint.connection_closed(now, conn);
    }

    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        // RFC 7983: STUN starts with 0 or 1; it can only be our keepalive's answer.
        if bytes.first().is_some_and(|b| *b < 2) {
            if let Some(at) = self
                .probes
                .iter_mut()
                .position(|p| p.handle_datagram(bytes))
            {
                let mut probe = self.probes.swap_remove(at);
                let mapped = match probe.poll_result() {
                    Some(ProbeResult::Answered(mapped)) => mapped,
                    _ => None,
                };
                self.endpoint.stun_keepalive_result(now, probe.flow, mapped);
            }
            return;
        }
        let Some(local) = self.udp.as_ref().and_then(|s| s.local_addr().ok()) else {
            return;
        };
        self.endpoint.handle_datagram(now, local, from, bytes);
    }

    /// The UDP socket reported an error (a receive or a send failed): read the ICMP errors
    /// queued on it and fail the transactions they are about.
    fn on_udp_errors(&mut self) {
        let Some(udp) = &self.udp else {
            return;
        };
        let errors = icmp::drain(udp);
        let now = self.now();
        for error in errors {
            tracing::info!(dest = %error.dest, detail = %error.detail, "ICMP error on the SIP socket");
            // RFC 3261 §18.4: an ICMP error is a transport error for the requests sent to
            // that destination (§8.1.3.1: the TU sees a 408, generated locally).
            self.endpoint
                .transport_error(now, TransportKind::Udp, error.dest, &error.detail);
        }
    }

    fn on_conn_event(&mut self, event: ConnEvent) {
        let now = self.now();
        match event {
            ConnEvent::Opened {
                conn,
                transport,
                local,
                remote,
            } => {
                self.table.insert(conn, remote.ip(), false, now);
                self.endpoint.stream_opened(conn, transport, local, remote);
            }
            ConnEvent::Data { conn, bytes } => {
                self.endpoint.handle_stream(now, conn, &bytes);
                let buffered = self.endpoint.stream_buffered(conn);
                self.table.on_read(conn, now, buffered);
            }
            ConnEvent::WriteFailed { conn } => self.close_conn(conn),
            ConnEvent::Closed { conn } => {
                self.table.remove(conn);
                self.writers.remove(&conn);
                self.by_dest.retain(|_, c| *c != conn);
                self.endpoint.connection_closed(now, conn);
            }
            ConnEvent::ConnectFailed {
                conn,
                transport,
                dest,
                detail,
            } => {
                self.table.remove(conn);
                self.writers.remove(&conn);
                self.by_dest.retain(|_, c| *c != conn);
                match transport {
                    TransportKind::Tls => {
                        // The reason reaches the user: e.g. the certificate did not verify.
                        self.endpoint.transport_error(now, transport, dest, &detail)
                    }
                    _ => {
                        tracing::debug!(%dest, %detail, "TCP connect failed");
                        self.endpoint.connect_failed(now, dest);
                    }
                }
            }
        }
    }

    /// Executes every transmit and forwards every event; STUN keepalives start here.
    async fn flush(&mut self) {
        while let Some(conn) = self.endpoint.poll_close() {
            // A framing error: send what is queued (the error response), then close.
            if let Some(handle) = self.writers.remove(&conn) {
                handle.close_gracefully();
            }
            self.table.remove(conn);
            self.by_dest.retain(|_, c| *c != conn);
        }
        while let Some(transmit) = self.endpoint.poll_transmit() {
            self.execute(transmit).await;
        }
        let mut started = false;
        while let Some(event) = self.endpoint.poll_event() {
            if let SipEvent::StunKeepaliveDue { flow, dest, .. } = &event {
                self.probes.retain(|p| p.flow != *flow);
                let now = self.now();
                self.probes.push(StunProbe::new(*flow, *dest, now));
                started = true;
            }
            self.forward(event);
        }
        if started {
            self.run_probes().await;
        }
    }

    /// Hands `event` to the user agent, behind any that wait for room.
    fn forward(&mut self, event: SipEvent) {
        if self.backlog.is_empty() {
            match self.events.try_send(event) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(event)) => self.backlog.push_back(event),
            }
        } else {
            self.backlog.push_back(event);
        }
    }

    /// Moves waiting events into the channel while it has room.
    fn drain_backlog(&mut self, first: mpsc::OwnedPermit<SipEvent>) {
        let Some(event) = self.backlog.pop_front() else {
            return;
        };
        first.send(event);
        while let Some(event) = self.backlog.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.backlog.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// Sends due STUN requests and reports probes that gave up.
    async fn run_probes(&mut self) {
        let now = self.now();
        let mut failed = Vec::new();
        let local = self.udp.as_ref().and_then(|s| s.local_addr().ok());
        let mut send_failed = false;
        for probe in &mut self.probes {
            probe.handle_timeout(now);
            while let Some(request) = probe.poll_transmit() {
                if let (Some(capture), Some(local)) = (&self.capture, local) {
                    capture.record(local, probe.dest, &request);
                }
                if let Some(udp) = &self.udp {
                    send_failed |= udp.send_to(&request, probe.dest).await.is_err();
                }
            }
            if probe.poll_result().is_some() {
                // Only a timeout ends a probe here; answers are taken in on_datagram.
                failed.push(probe.flow);
            }
        }
        if send_failed {
            self.on_udp_errors();
        }
        self.probes.retain(|p| !failed.contains(&p.flow));
        let clock = self.now();
        for flow in failed {
            self.endpoint.stun_keepalive_result(clock, flow, None);
        }
    }

    async fn execute(&mut self, transmit: Transmit) {
        match transmit.transport {
            TransportKind::Udp => {
                self.tap(transmit.dest, true, &transmit.bytes);
                let Some(udp) = &self.udp else {
                    return;
                };
                if let Err(e) = udp.send_to(&transmit.bytes, transmit.dest).await {
                    // A pending ICMP error can surface on a send (Linux, IP_RECVERR), about an
                    // earlier datagram to anywhere, and this one is then not sent: read the
                    // errors and send it again, once (else a flood answered to dead ports
                    // costs the legitimate responses between them).
                    tracing::debug!(error = %e, dest = %transmit.dest, "UDP send failed");
                    self.on_udp_errors();
                    if let Some(udp) = &self.udp {
                        if let Err(e) = udp.send_to(&transmit.bytes, transmit.dest).await {
                            tracing::info!(error = %e, dest = %transmit.dest, "UDP send failed");
                            self.on_udp_errors();
                        }
                    }
                }
            }
            TransportKind::Tcp | TransportKind::Tls => self.write_stream(transmit),
        }
    }

    /// Writes a TCP or TLS transmit on its connection, opening one first when there is
    /// none to the destination.
    fn write_stream(&mut self, transmit: Transmit) {
        let key = (transmit.transport, transmit.dest);
        let conn = transmit
            .conn
            .filter(|c| self.writers.contains_key(c))
            .or_else(|| self.by_dest.get(&key).copied());
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = self.new_conn_id();
                let (handle, tasks) = tcp::pair(self.limits.tcp_send_timeout);
                self.writers.insert(c, handle);
                self.by_dest.insert(key, c);
                let (netns, events, capture) = (
                    self.netns.clone(),
                    self.conn_tx.clone(),
                    self.capture.clone(),
                );
                if transmit.transport == TransportKind::Tls {
                    // Without TLS settings the connection fails with that reason, never in clear.
                    let (name, client) = match &mut self.tls {
                        Some(tls) => (tls.name_for(transmit.dest), tls.client()),
                        None => (
                            transmit.dest.ip().to_string(),
                            Err("TLS is not enabled in this driver".to_owned()),
                        ),
                    };
                    tls_conn::connect(
                        c,
                        transmit.dest,
                        name,
                        client,
                        netns,
                        events,
                        tasks,
                        capture,
                    );
                } else {
                    tcp::connect(c, transmit.dest, netns, events, tasks, capture);
                }
                c
            }
        };
        match self.writers.get(&conn) {
            Some(writer) => {
                if !writer.send(transmit.bytes, self.limits.tcp_max_write_queue) {
                    // The peer does not read what we send: its queue would grow
                    // without bound (Kamailio's tcp_conn_wq_max).
                    tracing::info!(?conn, queued = writer.queued(), dest = %transmit.dest, "write queue full; closing");
                    self.close_conn(conn);
                }
            }
            None => {
                let now = self.now();
                let detail = format!("the {} connection is gone", transmit.transport.as_str());
                self.endpoint
                    .transport_error(now, transmit.transport, transmit.dest, &detail);
            }
        }
    }
}

/// Room for one event in the channel to the user agent; never when `events` is `None`
/// (nothing waits for room).
async fn room_for(
    events: Option<mpsc::Sender<SipEvent>>,
) -> Result<mpsc::OwnedPermit<SipEvent>, mpsc::error::SendError<()>> {
    match events {
        Some(tx) => tx.reserve_owned().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the UDP socket has something to read (or an error to report); never
/// without one.
async fn udp_readable(udp: Option<&UdpSocket>) {
    match udp {
        Some(socket) => {
            if let Err(e) = socket.readable().await {
                tracing::debug!(error = %e, "UDP readiness error");
            }
        }
        None => std::future::pending().await,
    }
}
