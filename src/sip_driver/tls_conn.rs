//! SIP over TLS connections: TCP connect, then the rustls handshake with the server's
//! certificate verified against the name the user gave for that destination (RFC 5922 §7.2),
//! then the same reader/writer tasks as TCP. A handshake that fails is reported with rustls'
//! reason; nothing is ever sent on a connection whose certificate did not verify.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use sip::endpoint::{ConnId, TransportKind};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

use super::tcp::{self, ConnEvent, ConnTasks, Link, Opener};
use crate::pcap::Capture;
use crate::tls::TlsSettings;

/// How long the TCP connect and the TLS handshake may take, each.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// What the driver needs for TLS: the user's settings (the client configuration is built
/// from them on first use unless given), and the name to verify each destination against.
#[derive(Clone, Default)]
pub struct SipTls {
    pub settings: TlsSettings,
    /// A prepared client configuration (built and checked up front, e.g. for
    /// `--transport tls`); `None` builds it from `settings` on the first TLS connect.
    pub config: Option<Arc<ClientConfig>>,
    /// RFC 5922 §7.2: the host name each destination was given by (the proxy as the user
    /// wrote it). Any other destination came from an IP-literal URI and is verified against
    /// that IP.
    pub names: HashMap<SocketAddr, String>,
}

impl std::fmt::Debug for SipTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipTls")
            .field("settings", &self.settings)
            .field("config", &self.config.is_some())
            .field("names", &self.names)
            .finish()
    }
}

impl SipTls {
    /// The name `dest`'s certificate must carry.
    pub fn name_for(&self, dest: SocketAddr) -> String {
        self.names
            .get(&dest)
            .cloned()
            .unwrap_or_else(|| dest.ip().to_string())
    }

    /// The client configuration, built once; the error says why TLS cannot be used.
    pub(crate) fn client(&mut self) -> Result<Arc<ClientConfig>, String> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let config = crate::tls::client_config(&self.settings)
            .map_err(|e| format!("TLS is unavailable: {e}"))?;
        self.config = Some(config.clone());
        Ok(config)
    }
}

/// Connects to `dest` over TCP and runs the TLS handshake as `name`; on success runs the
/// stream like TCP, else reports `ConnectFailed` with the reason.
#[allow(clippy::too_many_arguments)]
pub(crate) fn connect(
    conn: ConnId,
    dest: SocketAddr,
    name: String,
    client: Result<Arc<ClientConfig>, String>,
    netns: Option<String>,
    events: mpsc::Sender<ConnEvent>,
    tasks: ConnTasks,
    capture: Option<Capture>,
) {
    tokio::spawn(async move {
        let prefix = format!("TLS to {dest} ({name})");
        let result = async {
            let client = client?;
            let server_name = crate::tls::server_name(&name).map_err(|e| e.to_string())?;
            let tcp = crate::netns::connect_tcp(netns.as_deref(), dest, CONNECT_LIMIT)
                .await
                .map_err(|e| format!("connect failed: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            let handshake = TlsConnector::from(client).connect(server_name, tcp);
            let tls = tokio::time::timeout(CONNECT_LIMIT, handshake)
                .await
                .map_err(|_| format!("no TLS handshake within {} s", CONNECT_LIMIT.as_secs()))?
                .map_err(|e| handshake_failure(&e))?;
            Ok::<_, String>((local, tls))
        }
        .await;
        match result {
            Ok((local, tls)) => {
                let link = Link {
                    conn,
                    transport: TransportKind::Tls,
                    local,
                    remote: dest,
                };
                tracing::debug!(%dest, %name, "TLS connection up");
                tcp::run_stream(link, tls, events, tasks, capture.as_ref(), Opener::Us, true);
            }
            Err(why) => {
                let detail = format!("{prefix}: {why}");
                tracing::info!("{detail}");
                let _ = events
                    .send(ConnEvent::ConnectFailed {
                        conn,
                        transport: TransportKind::Tls,
                        dest,
                        detail,
                    })
                    .await;
            }
        }
    });
}

/// A failed handshake in words, with rustls' own reason (e.g. `certificate not valid:
/// UnknownIssuer`).
fn handshake_failure(error: &std::io::Error) -> String {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(reason)) => {
            format!("certificate not valid: {reason:?}")
        }
        Some(other) => format!("handshake failed: {other}"),
        None => format!("handshake failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_rustls_reason() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            handshake_failure(&io),
            "certificate not valid: UnknownIssuer"
        );
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        assert_eq!(handshake_failure(&io), "handshake failed: eof");
    }

    #[test]
    fn names_default_to_the_destination_ip() {
        let mut tls = SipTls::default();
        let proxy: SocketAddr = "203.0.113.10:5061".parse().unwrap();
        tls.names.insert(proxy, "pbx.test".into());
        assert_eq!(tls.name_for(proxy), "pbx.test");
        assert_eq!(
            tls.name_for("203.0.113.11:5061".parse().unwrap()),
            "203.0.113.11"
        );
    }
}
