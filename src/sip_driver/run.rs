//! The driver loop: input → endpoint → transmits/events, sleeping until the next timeout.

use std::collections::HashMap;
use std::net::SocketAddr;

use sip::endpoint::{ConnId, Endpoint, SipEvent, Transmit, TransportKind};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::icmp;
use super::stun::StunProbe;
use super::tcp::{self, ConnEvent, Opener};
use super::Job;
use crate::pcap::Capture;

/// Largest UDP datagram we read.
const UDP_BUFFER: usize = 65_535;

pub(crate) struct Loop {
    endpoint: Endpoint,
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    jobs: mpsc::UnboundedReceiver<Job>,
    events: mpsc::UnboundedSender<SipEvent>,
    conn_tx: mpsc::UnboundedSender<ConnEvent>,
    conn_rx: mpsc::UnboundedReceiver<ConnEvent>,
    writers: HashMap<ConnId, mpsc::UnboundedSender<Vec<u8>>>,
    /// Outbound connections by destination, including ones still connecting.
    by_dest: HashMap<SocketAddr, ConnId>,
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
        jobs: mpsc::UnboundedReceiver<Job>,
        events: mpsc::UnboundedSender<SipEvent>,
        capture: Option<Capture>,
    ) -> Loop {
        let (conn_tx, conn_rx) = mpsc::unbounded_channel();
        Loop {
            endpoint,
            udp,
            tcp,
            jobs,
            events,
            conn_tx,
            conn_rx,
            writers: HashMap::new(),
            by_dest: HashMap::new(),
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
        let mut buf = vec![0u8; UDP_BUFFER];
        loop {
            self.flush().await;
            let endpoint_at = self.endpoint.poll_timeout().map(|t| self.to_tokio(t));
            let probe_at = self.probes.iter().map(StunProbe::deadline).min();
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
                received = recv_udp(self.udp.as_ref(), &mut buf) => match received {
                    UdpInput::Datagram(n, from) => {
                        let bytes = buf.get(..n).unwrap_or_default().to_vec();
                        self.tap(from, false, &bytes);
                        self.on_datagram(from, &bytes);
                    }
                    UdpInput::Error => self.on_udp_errors(),
                },
                accepted = accept(self.tcp.as_ref()) => {
                    if let Some(stream) = accepted {
                        let conn = self.new_conn_id();
                        let (tx, rx) = mpsc::unbounded_channel();
                        self.writers.insert(conn, tx);
                        tcp::run_stream(
                            conn,
                            stream,
                            self.conn_tx.clone(),
                            rx,
                            self.capture.as_ref(),
                            Opener::Peer,
                        );
                    }
                }
                Some(event) = self.conn_rx.recv() => self.on_conn_event(event),
                () = sleep => {
                    let now = self.now();
                    self.endpoint.handle_timeout(now);
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

    fn new_conn_id(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    /// Writes a UDP datagram to the capture: sent to `peer` when `outgoing`, else received
    /// from it.
    fn tap(&self, peer: SocketAddr, outgoing: bool, bytes: &[u8]) {
        let (Some(capture), Some(local)) = (
            &self.capture,
            self.udp.as_ref().and_then(|s| s.local_addr().ok()),
        ) else {
            return;
        };
        if outgoing {
            capture.record(local, peer, bytes);
        } else {
            capture.record(peer, local, bytes);
        }
    }

    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        // RFC 7983: STUN starts with 0 or 1; it can only be our keepalive's answer.
        if bytes.first().is_some_and(|b| *b < 2) {
            if let Some(at) = self.probes.iter().position(|p| p.answer(bytes).is_some()) {
                let probe = self.probes.swap_remove(at);
                let mapped = probe.answer(bytes).flatten();
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
                local,
                remote,
            } => self.endpoint.connection_opened(conn, local, remote),
            ConnEvent::Data { conn, bytes } => self.endpoint.handle_stream(now, conn, &bytes),
            ConnEvent::Closed { conn } => {
                self.writers.remove(&conn);
                self.by_dest.retain(|_, c| *c != conn);
                self.endpoint.connection_closed(now, conn);
            }
            ConnEvent::ConnectFailed { conn, dest } => {
                self.writers.remove(&conn);
                self.by_dest.retain(|_, c| *c != conn);
                self.endpoint.connect_failed(now, dest);
            }
        }
    }

    /// Executes every transmit and forwards every event; STUN keepalives start here.
    async fn flush(&mut self) {
        while let Some(conn) = self.endpoint.poll_close() {
            self.writers.remove(&conn);
            self.by_dest.retain(|_, c| *c != conn);
        }
        while let Some(transmit) = self.endpoint.poll_transmit() {
            self.execute(transmit).await;
        }
        let mut started = false;
        while let Some(event) = self.endpoint.poll_event() {
            if let SipEvent::StunKeepaliveDue { flow, dest, .. } = &event {
                self.probes.retain(|p| p.flow != *flow);
                self.probes
                    .push(StunProbe::new(*flow, *dest, Instant::now()));
                started = true;
            }
            let _ = self.events.send(event);
        }
        if started {
            self.run_probes().await;
        }
    }

    /// Sends due STUN requests and reports probes that gave up.
    async fn run_probes(&mut self) {
        let now = Instant::now();
        let mut failed = Vec::new();
        let local = self.udp.as_ref().and_then(|s| s.local_addr().ok());
        let mut send_failed = false;
        for probe in &mut self.probes {
            if probe.gave_up(now) {
                failed.push(probe.flow);
            } else if probe.sent == 0 || probe.deadline() <= now {
                let request = probe.request();
                if let (Some(capture), Some(local)) = (&self.capture, local) {
                    capture.record(local, probe.dest, &request);
                }
                if let Some(udp) = &self.udp {
                    send_failed |= udp.send_to(&request, probe.dest).await.is_err();
                }
                probe.sent += 1;
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
                    // A pending ICMP error can surface on a send (Linux, IP_RECVERR).
                    tracing::info!(error = %e, dest = %transmit.dest, "UDP send failed");
                    self.on_udp_errors();
                }
            }
            TransportKind::Tcp => {
                let conn = transmit
                    .conn
                    .filter(|c| self.writers.contains_key(c))
                    .or_else(|| self.by_dest.get(&transmit.dest).copied());
                let conn = match conn {
                    Some(c) => c,
                    None => {
                        let c = self.new_conn_id();
                        let (tx, rx) = mpsc::unbounded_channel();
                        self.writers.insert(c, tx);
                        self.by_dest.insert(transmit.dest, c);
                        tcp::connect(
                            c,
                            transmit.dest,
                            self.netns.clone(),
                            self.conn_tx.clone(),
                            rx,
                            self.capture.clone(),
                        );
                        c
                    }
                };
                match self.writers.get(&conn) {
                    Some(writer) => {
                        let _ = writer.send(transmit.bytes);
                    }
                    None => {
                        let now = self.now();
                        self.endpoint.connect_failed(now, transmit.dest);
                    }
                }
            }
        }
    }
}

/// What a read of the UDP socket gave.
enum UdpInput {
    Datagram(usize, SocketAddr),
    /// The read failed: with IP_RECVERR an ICMP error shows up as ECONNREFUSED and the like
    /// (its details wait in the error queue). The socket stays usable; the loop goes on.
    Error,
}

async fn recv_udp(udp: Option<&UdpSocket>, buf: &mut [u8]) -> UdpInput {
    match udp {
        Some(socket) => match socket.recv_from(buf).await {
            Ok((n, from)) => UdpInput::Datagram(n, from),
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive error");
                UdpInput::Error
            }
        },
        None => std::future::pending().await,
    }
}

async fn accept(listener: Option<&TcpListener>) -> Option<tokio::net::TcpStream> {
    match listener {
        Some(l) => l.accept().await.ok().map(|(s, _)| s),
        None => std::future::pending().await,
    }
}
