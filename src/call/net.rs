//! The media sockets of one call: one UDP socket per (host address, component), shared by
//! STUN and RTP/RTCP (RFC 7983 demultiplexing happens in the ICE agent), and the TCP/TLS
//! connections to a TURN server reached over a stream (`turn_stream`). The call's driver
//! reads the UDP sockets itself when they are ready (no task and no buffer per socket: the
//! bytes land in the thread's [`crate::recv_buffer`] and are copied out at their length);
//! only the stream connections, which connect and deframe, have a task each.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

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

/// One UDP socket of the call.
struct MediaSocket {
    local: SocketAddr,
    socket: UdpSocket,
    /// Inbound datagrams are dropped (the demo's firewalled interface).
    drop_all: bool,
    /// A read failed for a reason other than an ICMP error: the socket is read no more (as
    /// a reader task that ended would).
    dead: bool,
}

pub struct MediaSockets {
    sockets: Vec<MediaSocket>,
    /// (component, local address) in binding order.
    pub bases: Vec<(u16, SocketAddr)>,
    /// The connections to a TURN server over TCP/TLS, when `--turn-transport` says so, and
    /// what their tasks read.
    turn_streams: Option<(TurnStreams, mpsc::UnboundedReceiver<Inbound>)>,
    /// The UDP TURN server whose ICMP errors are reported (IP_RECVERR is on), and where.
    icmp_watch: Vec<SocketAddr>,
    /// ICMP errors read on a send, handed out by the next [`MediaSockets::recv`].
    pending: VecDeque<Inbound>,
    capture: Option<Capture>,
    /// Where the next read starts, so a busy socket cannot starve the others.
    next_socket: usize,
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
        // Only the TURN server's ICMP errors: a check's ICMP error (a NAT without a mapping
        // yet answers with one) must not fail a pair that the peer's check will open.
        let icmp_watch: Vec<SocketAddr> = turn
            .filter(|t| t.server.transport == TurnTransport::Udp)
            .map(|t| t.server.addr)
            .into_iter()
            .collect();
        let turn_streams = turn.filter(|t| t.server.transport.is_stream()).map(|t| {
            let (tx, rx) = mpsc::unbounded_channel();
            let streams = TurnStreams::new(
                TurnStreamConfig {
                    host: t.host.clone(),
                    tls: t.tls.clone(),
                    netns: netns.map(str::to_owned),
                },
                tx,
            );
            (streams, rx)
        });
        let mut sockets = Vec::new();
        let mut bases = Vec::new();
        for ip in ips {
            for component in 1..=components {
                let socket = crate::netns::bind_udp(netns, SocketAddr::new(*ip, 0)).await?;
                let local = socket.local_addr()?;
                bases.push((component, local));
                if !icmp_watch.is_empty() {
                    icmp::enable(&socket);
                }
                sockets.push(MediaSocket {
                    local,
                    socket,
                    drop_all: blocked.contains(ip),
                    dead: false,
                });
            }
        }
        Ok(MediaSockets {
            sockets,
            bases,
            turn_streams,
            icmp_watch,
            pending: VecDeque::new(),
            capture,
            next_socket: 0,
        })
    }

    /// The next thing the sockets and connections have for the ICE agent. Never ends (a
    /// call stops reading by dropping the sockets).
    pub async fn recv(&mut self) -> Option<Inbound> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        if let Some(ready) = self.pending.pop_front() {
            return Poll::Ready(Some(ready));
        }
        if let Some((_, rx)) = self.turn_streams.as_mut() {
            if let Poll::Ready(Some(message)) = rx.poll_recv(cx) {
                return Poll::Ready(Some(message));
            }
        }
        let count = self.sockets.len();
        for k in 0..count {
            let index = (self.next_socket + k) % count;
            if let Some(got) = self.poll_socket(index, cx) {
                self.next_socket = (index + 1) % count;
                return Poll::Ready(Some(got));
            }
        }
        Poll::Pending
    }

    /// Reads socket `index` until it has a datagram for the call or would block (then the
    /// task is woken when it becomes readable).
    fn poll_socket(&mut self, index: usize, cx: &mut Context<'_>) -> Option<Inbound> {
        loop {
            let entry = self.sockets.get_mut(index)?;
            if entry.dead {
                return None;
            }
            let read = crate::recv_buffer::with(|buf| {
                let mut read_buf = tokio::io::ReadBuf::new(buf);
                match entry.socket.poll_recv_from(cx, &mut read_buf) {
                    Poll::Ready(Ok(from)) => Poll::Ready(Ok((from, read_buf.filled().to_vec()))),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            });
            let local = entry.local;
            match read {
                Poll::Pending => return None,
                Poll::Ready(Ok(_)) if entry.drop_all => continue,
                Poll::Ready(Ok((from, data))) => {
                    if let Some(c) = &self.capture {
                        c.record(from, local, &data);
                    }
                    return Some(Inbound::Datagram(Datagram { local, from, data }));
                }
                // With IP_RECVERR an ICMP error fails the read; its details wait in the
                // error queue. Any other error ends reading this socket, as before.
                Poll::Ready(Err(e)) => {
                    if self.icmp_watch.is_empty() || !self.queue_icmp_errors(index) {
                        tracing::debug!(%local, "media socket read failed: {e}; no longer read");
                        if let Some(entry) = self.sockets.get_mut(index) {
                            entry.dead = true;
                        }
                        return None;
                    }
                    return self.pending.pop_front().or_else(|| {
                        // Only errors about other destinations: keep reading.
                        cx.waker().wake_by_ref();
                        None
                    });
                }
            }
        }
    }

    /// Queues the watched ICMP errors waiting on socket `index`; false when none waited.
    fn queue_icmp_errors(&mut self, index: usize) -> bool {
        let Some(entry) = self.sockets.get(index) else {
            return false;
        };
        let local = entry.local;
        let errors = icmp::drain(&entry.socket);
        if errors.is_empty() {
            return false;
        }
        for e in errors
            .into_iter()
            .filter(|e| self.icmp_watch.contains(&e.dest))
        {
            self.pending.push_back(Inbound::Unreachable {
                local,
                dest: e.dest,
                detail: e.detail,
            });
        }
        true
    }

    /// Sends what the ICE agent asked for: a datagram, or a message on a TURN connection.
    pub async fn transmit(&mut self, t: ice::Transmit) {
        if !t.transport.is_stream() {
            return self.send(t.from, t.to, &t.data).await;
        }
        match self.turn_streams.as_mut() {
            Some((streams, _)) => streams.send(t.from, t.to, t.transport, t.data),
            // Cannot happen: only a TURN server configured over a stream asks for one.
            None => tracing::warn!(to = %t.to, "no TURN connection configured; message dropped"),
        }
    }

    /// Sends from the socket bound to `from`; a socket error is logged, never fatal (UDP).
    pub async fn send(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let Some(index) = self.sockets.iter().position(|s| s.local == from) else {
            tracing::warn!(%from, "no socket bound to this base; datagram dropped");
            return;
        };
        if let Some(c) = &self.capture {
            c.record(from, to, data);
        }
        let Some(entry) = self.sockets.get(index) else {
            return;
        };
        if let Err(e) = entry.socket.send_to(data, to).await {
            tracing::debug!(%from, %to, "media send failed: {e}");
            // With IP_RECVERR a pending ICMP error can surface on a send instead of a read:
            // read its queue here, or it would fill the socket's receive buffer.
            if !self.icmp_watch.is_empty() {
                self.queue_icmp_errors(index);
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
}
