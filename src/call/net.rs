//! The media sockets of one call: one UDP socket per (host address, component), shared by
//! STUN and RTP/RTCP (RFC 7983 demultiplexing happens in the ICE agent), and the TCP/TLS
//! connections to a TURN server reached over a stream (`turn_stream`). A reader task per
//! socket and connection feeds one channel so the call loop waits on a single receiver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ice::agent::TurnTransport;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::turn_stream::{TurnStreamConfig, TurnStreams};
use crate::config::TurnSettings;
use crate::pcap::Capture;
use crate::sip_driver::icmp;

/// A datagram that arrived on `local` from `from`.
#[derive(Debug)]
pub struct Datagram {
    pub local: SocketAddr,
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

/// What the sockets and connections of a call have for the ICE agent.
#[derive(Debug)]
pub enum Inbound {
    Datagram(Datagram),
    /// One whole message from the TURN server `server` on the connection of host base `local`.
    TurnMessage {
        local: SocketAddr,
        server: SocketAddr,
        data: Vec<u8>,
    },
    /// That connection could not be made, or failed; `reason` in words.
    TurnStreamFailed {
        local: SocketAddr,
        server: SocketAddr,
        reason: String,
    },
    /// An ICMP error came back for a datagram from `local` to the TURN server `dest` (UDP).
    Unreachable {
        local: SocketAddr,
        dest: SocketAddr,
        detail: String,
    },
}

pub struct MediaSockets {
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// (component, local address) in binding order.
    pub bases: Vec<(u16, SocketAddr)>,
    incoming: mpsc::UnboundedReceiver<Inbound>,
    /// The connections to a TURN server over TCP/TLS, when `--turn-transport` says so.
    turn_streams: Option<TurnStreams>,
    /// The UDP TURN server whose ICMP errors are reported (IP_RECVERR is on), and where.
    icmp_watch: Vec<SocketAddr>,
    inbound: mpsc::UnboundedSender<Inbound>,
    capture: Option<Capture>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for MediaSockets {
    fn drop(&mut self) {
        // The reader tasks hold the sockets; stop them so the ports are released.
        for r in &self.readers {
            r.abort();
        }
    }
}

impl MediaSockets {
    /// Binds one socket per IP and component on an ephemeral port. Inbound datagrams on
    /// the `blocked` IPs are dropped: the demo uses this to stand for a firewalled interface.
    /// With a TURN server over UDP, ICMP errors about it are reported (nothing listens there:
    /// said at once rather than after the Allocate's retransmissions); over TCP/TLS its
    /// connections are made on the agent's first message.
    pub async fn bind(
        ips: &[IpAddr],
        components: u16,
        blocked: &[IpAddr],
        capture: Option<Capture>,
        netns: Option<&str>,
        turn: Option<&TurnSettings>,
    ) -> std::io::Result<MediaSockets> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Only the TURN server's ICMP errors: a check's ICMP error (a NAT without a mapping
        // yet answers with one) must not fail a pair that the peer's check will open.
        let icmp_watch: Vec<SocketAddr> = turn
            .filter(|t| t.server.transport == TurnTransport::Udp)
            .map(|t| t.server.addr)
            .into_iter()
            .collect();
        let turn_streams = turn.filter(|t| t.server.transport.is_stream()).map(|t| {
            TurnStreams::new(
                TurnStreamConfig {
                    host: t.host.clone(),
                    tls: t.tls.clone(),
                    netns: netns.map(str::to_owned),
                },
                tx.clone(),
            )
        });
        let mut sockets = HashMap::new();
        let mut bases = Vec::new();
        let mut readers = Vec::new();
        for ip in ips {
            for component in 1..=components {
                let socket =
                    Arc::new(crate::netns::bind_udp(netns, SocketAddr::new(*ip, 0)).await?);
                let local = socket.local_addr()?;
                bases.push((component, local));
                sockets.insert(local, socket.clone());
                let tx = tx.clone();
                let drop_all = blocked.contains(ip);
                let capture = capture.clone();
                let watch = icmp_watch.clone();
                if !watch.is_empty() {
                    icmp::enable(&socket);
                }
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 65535];
                    loop {
                        let (n, from) = match socket.recv_from(&mut buf).await {
                            Ok(got) => got,
                            // With IP_RECVERR an ICMP error fails the read; its details wait
                            // in the error queue. Any other error ends the reader, as before.
                            Err(_) if !watch.is_empty() => {
                                let errors = icmp::drain(&socket);
                                if errors.is_empty() {
                                    break;
                                }
                                for e in errors.into_iter().filter(|e| watch.contains(&e.dest)) {
                                    let _ = tx.send(Inbound::Unreachable {
                                        local,
                                        dest: e.dest,
                                        detail: e.detail,
                                    });
                                }
                                continue;
                            }
                            Err(_) => break,
                        };
                        if drop_all {
                            continue;
                        }
                        let data = buf.get(..n).unwrap_or_default().to_vec();
                        if let Some(c) = &capture {
                            c.record(from, local, &data);
                        }
                        if tx
                            .send(Inbound::Datagram(Datagram { local, from, data }))
                            .is_err()
                        {
                            break;
                        }
                    }
                }));
            }
        }
        Ok(MediaSockets {
            sockets,
            bases,
            incoming: rx,
            turn_streams,
            icmp_watch,
            inbound: tx,
            capture,
            readers,
        })
    }

    pub async fn recv(&mut self) -> Option<Inbound> {
        self.incoming.recv().await
    }

    /// Sends what the ICE agent asked for: a datagram, or a message on a TURN connection.
    pub async fn transmit(&mut self, t: ice::Transmit) {
        if !t.transport.is_stream() {
            return self.send(t.from, t.to, &t.data).await;
        }
        match self.turn_streams.as_mut() {
            Some(streams) => streams.send(t.from, t.to, t.transport, t.data),
            // Cannot happen: only a TURN server configured over a stream asks for one.
            None => tracing::warn!(to = %t.to, "no TURN connection configured; message dropped"),
        }
    }

    /// Sends from the socket bound to `from`; a socket error is logged, never fatal (UDP).
    pub async fn send(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let Some(socket) = self.sockets.get(&from) else {
            tracing::warn!(%from, "no socket bound to this base; datagram dropped");
            return;
        };
        if let Some(c) = &self.capture {
            c.record(from, to, data);
        }
        if let Err(e) = socket.send_to(data, to).await {
            tracing::debug!(%from, %to, "media send failed: {e}");
            // With IP_RECVERR a pending ICMP error can surface on a send instead of a read:
            // read its queue here, or it would fill the socket's receive buffer.
            if !self.icmp_watch.is_empty() {
                for e in icmp::drain(socket) {
                    if self.icmp_watch.contains(&e.dest) {
                        let _ = self.inbound.send(Inbound::Unreachable {
                            local: from,
                            dest: e.dest,
                            detail: e.detail,
                        });
                    }
                }
            }
        }
    }

    /// The first base of `component`.
    pub fn first_base(&self, component: u16) -> Option<SocketAddr> {
        self.bases
            .iter()
            .find(|(c, _)| *c == component)
            .map(|(_, a)| *a)
    }

    /// Stop the reader tasks (they end when the channel closes).
    pub fn close(&mut self) {
        self.incoming.close();
    }
}
