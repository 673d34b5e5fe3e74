//! The media sockets of one call: one UDP socket per (host address, component), shared by
//! STUN and RTP/RTCP (RFC 7983 demultiplexing happens in the ICE agent). A reader task per
//! socket feeds one channel so the call loop waits on a single receiver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::pcap::Capture;

/// A datagram that arrived on `local` from `from`.
#[derive(Debug)]
pub struct Datagram {
    pub local: SocketAddr,
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

pub struct MediaSockets {
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// (component, local address) in binding order.
    pub bases: Vec<(u16, SocketAddr)>,
    incoming: mpsc::UnboundedReceiver<Datagram>,
    capture: Option<Capture>,
    /// Counters: datagrams sent that were RTP/RTCP (first byte 128..=191, RFC 7983).
    pub media_datagrams_sent: u64,
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
    pub async fn bind(
        ips: &[IpAddr],
        components: u16,
        blocked: &[IpAddr],
        capture: Option<Capture>,
        netns: Option<&str>,
    ) -> std::io::Result<MediaSockets> {
        let (tx, rx) = mpsc::unbounded_channel();
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
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 65535];
                    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                        if drop_all {
                            continue;
                        }
                        let data = buf.get(..n).unwrap_or_default().to_vec();
                        if let Some(c) = &capture {
                            c.record(from, local, &data);
                        }
                        if tx.send(Datagram { local, from, data }).is_err() {
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
            capture,
            media_datagrams_sent: 0,
            readers,
        })
    }

    pub async fn recv(&mut self) -> Option<Datagram> {
        self.incoming.recv().await
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
        if matches!(data.first(), Some(128..=191)) {
            self.media_datagrams_sent += 1;
        }
        if let Err(e) = socket.send_to(data, to).await {
            tracing::debug!(%from, %to, "media send failed: {e}");
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
