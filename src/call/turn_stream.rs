//! The TCP and TLS connections to a TURN server (RFC 8656 §3.1): one per host base, since each
//! allocation is bound to its own 5-tuple. The ICE agent says what to send (transmits marked
//! `Tcp`/`Tls`); a task per connection connects (and does the TLS handshake, verifying the
//! server's certificate against the name in `--turn`), writes those messages, and cuts what
//! it reads into messages with `ice::turn::StreamDeframer` for the agent. A connection that
//! cannot be made or breaks is reported with its reason; nothing ever falls back to another
//! transport.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ice::agent::TurnTransport;
use ice::turn::StreamDeframer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::net::Inbound;
use crate::tls::TlsSettings;

/// A TCP connect that takes longer has failed (the agent reports a silent server sooner).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the last messages (the deallocation, RFC 8656 §8) get to leave when the call ends.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Read size; messages longer than this are joined by the deframer.
const READ_CHUNK: usize = 16 * 1024;

/// Where and how TURN streams connect.
#[derive(Debug, Clone)]
pub struct TurnStreamConfig {
    /// The name the server's certificate must carry (the host of `--turn`).
    pub host: String,
    pub tls: TlsSettings,
    /// Network namespace the connections are made in.
    pub netns: Option<String>,
}

/// The open connections of one call, by (host base, server).
pub struct TurnStreams {
    config: TurnStreamConfig,
    connections: HashMap<(SocketAddr, SocketAddr), mpsc::UnboundedSender<Vec<u8>>>,
    inbound: mpsc::UnboundedSender<Inbound>,
}

impl TurnStreams {
    pub fn new(config: TurnStreamConfig, inbound: mpsc::UnboundedSender<Inbound>) -> TurnStreams {
        TurnStreams {
            config,
            connections: HashMap::new(),
            inbound,
        }
    }

    /// Sends one message on the connection of (`local`, `server`), opening it first if needed.
    /// A connection that failed stays failed (its failure was reported): the agent no longer
    /// sends on it, and what it still sends is dropped.
    pub fn send(
        &mut self,
        local: SocketAddr,
        server: SocketAddr,
        transport: TurnTransport,
        data: Vec<u8>,
    ) {
        let sender = self.connections.entry((local, server)).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let config = self.config.clone();
            let inbound = self.inbound.clone();
            tokio::spawn(async move {
                let result = connection(&config, local, server, transport, rx, &inbound).await;
                if let Err(reason) = result {
                    tracing::info!(%server, %transport, "TURN connection failed: {reason}");
                    let _ = inbound.send(Inbound::TurnStreamFailed {
                        local,
                        server,
                        reason,
                    });
                }
            });
            tx
        });
        if sender.send(data).is_err() {
            tracing::debug!(%server, "TURN connection gone; message dropped");
        }
    }
}

/// One connection from connect to close. `Ok` when the call closed it; `Err` says why it
/// failed, in words for the user.
async fn connection(
    config: &TurnStreamConfig,
    local: SocketAddr,
    server: SocketAddr,
    transport: TurnTransport,
    outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: &mpsc::UnboundedSender<Inbound>,
) -> Result<(), String> {
    let tcp = crate::netns::connect_tcp(config.netns.as_deref(), server, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("cannot connect over TCP: {e}"))?;
    // Messages are small and latency matters (media rides on this connection).
    let _ = tcp.set_nodelay(true);
    match transport {
        TurnTransport::Tls => {
            let client = crate::tls::client_config(&config.tls)
                .map_err(|e| format!("TLS configuration: {e}"))?;
            let name = crate::tls::server_name(&config.host).map_err(|e| e.to_string())?;
            // The certificate must verify for `host`: a failure ends here, with the reason,
            // and the relayed candidates are missing; there is no retry in clear.
            let tls = tokio_rustls::TlsConnector::from(client)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake with {} failed: {e}", config.host))?;
            pump(tls, local, server, outgoing, inbound).await
        }
        TurnTransport::Tcp => pump(tcp, local, server, outgoing, inbound).await,
        TurnTransport::Udp => Err("TURN over UDP has no connection".into()),
    }
}

/// Writes what the agent sends and hands it every whole message read, until the call drops
/// its sender (then the write side is shut down) or the connection fails.
async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    local: SocketAddr,
    server: SocketAddr,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: &mpsc::UnboundedSender<Inbound>,
) -> Result<(), String> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut deframer = StreamDeframer::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            message = outgoing.recv() => match message {
                Some(bytes) => writer
                    .write_all(&bytes)
                    .await
                    .map_err(|e| format!("connection to the TURN server broke: {e}"))?,
                None => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer.shutdown()).await;
                    return Ok(());
                }
            },
            read = reader.read(&mut buf) => {
                let n = read.map_err(|e| format!("connection to the TURN server broke: {e}"))?;
                if n == 0 {
                    return Err("the TURN server closed the connection".into());
                }
                deframer.push(buf.get(..n).unwrap_or_default());
                while let Some(data) = deframer
                    .next_message()
                    .map_err(|e| format!("the TURN server sent something that is not TURN: {e}"))?
                {
                    if inbound.send(Inbound::TurnMessage { local, server, data }).is_err() {
                        return Ok(()); // the call is over
                    }
                }
            }
        }
    }
}
