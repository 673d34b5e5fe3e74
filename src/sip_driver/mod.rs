//! The tokio driver for the sans-IO [`sip::endpoint::Endpoint`]: one UDP socket that both
//! sends and receives (RFC 3581 symmetric), a TCP listener plus outbound connections, outbound
//! TLS connections (rustls; no TLS listener), each framed by the endpoint's `StreamDecoder`,
//! and the UDP STUN keepalive (RFC 5626 §4.4.2) sent with the `ice` crate's codec.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use icephone::sip_driver::{SipDriver, SipDriverConfig};
//! use sip::endpoint::{EndpointConfig, SipEvent};
//!
//! let mut config = SipDriverConfig::new(EndpointConfig::new("sip:alice@example.com"));
//! config.udp_bind = Some("127.0.0.1:0".parse().unwrap());
//! let mut driver = SipDriver::bind(config).await?;
//! let call = driver
//!     .command(|ep, now| ep.invite(now, "sip:bob@127.0.0.1:5060", None))
//!     .await
//!     .expect("driver running");
//! while let Some(event) = driver.next_event().await {
//!     if let SipEvent::DialogTerminated { .. } = event { break; }
//! }
//! driver.shutdown(std::time::Duration::from_secs(2)).await;
//! # let _ = call; Ok(()) }
//! ```

mod accept;
mod conn_table;
pub(crate) mod icmp;
mod limits;
mod run;
mod state_file;
mod stun;
mod tcp;
mod tls_conn;
mod udp_buffer;

#[cfg(test)]
mod backpressure_tests;

use std::net::SocketAddr;
use std::time::Duration;

use sip::endpoint::{Endpoint, EndpointConfig, SipEvent};
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// SIP retransmissions (Timers A, E, G, the UAS 2xx) of every endpoint this process has
/// driven: what the scenario runner's load statistics report.
static RETRANSMISSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Total SIP retransmissions of every endpoint of this process so far.
pub fn retransmissions() -> u64 {
    RETRANSMISSIONS.load(std::sync::atomic::Ordering::Relaxed)
}

fn count_retransmissions(n: u64) {
    if n > 0 {
        RETRANSMISSIONS.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

pub use icmp::ICMP_PORT_UNREACHABLE;
pub use limits::*;
pub use state_file::{
    default_state_path, instance_id_from_state_file, is_instance_urn, new_instance_urn,
};
pub use tls_conn::SipTls;

/// Commands queued for the driver task before `command` waits for room.
const JOB_QUEUE: usize = 256;
/// Endpoint events queued for the user agent before the driver stops reading its sockets.
const EVENT_QUEUE: usize = 1024;

/// What to bind and how the endpoint behaves. `endpoint.udp_local` / `tcp_local` are
/// filled in with the bound addresses, and `tls_local` when `tls` is set.
#[derive(Debug, Clone)]
pub struct SipDriverConfig {
    pub endpoint: EndpointConfig,
    /// UDP socket address (port 0 = any free port); `None` disables UDP.
    pub udp_bind: Option<SocketAddr>,
    /// TCP listener address (port 0 = any free port); `None` disables TCP.
    pub tcp_bind: Option<SocketAddr>,
    /// Seed for the endpoint's randomness (tags, branches, back-off); `None` = random.
    pub seed: Option<u64>,
    /// `--pcap`: every UDP datagram the driver sends or receives (SIP and its STUN
    /// keepalives) and every TCP read and write (as synthesized TCP segments) go here.
    pub capture: Option<crate::pcap::Capture>,
    /// Network namespace every socket of this driver is created in (`None` = ours).
    pub netns: Option<String>,
    /// The address Via and Contact name when a socket is bound to a wildcard address.
    pub advertise: Option<std::net::IpAddr>,
    /// What peers may make the driver hold (connections, queues, transactions).
    pub limits: Limits,
    /// SIP over TLS (client side only: outbound connections, no listener); `None` = no TLS,
    /// and sips: targets fail with `EndpointError::TlsRequired`.
    pub tls: Option<SipTls>,
}

impl SipDriverConfig {
    pub fn new(endpoint: EndpointConfig) -> SipDriverConfig {
        SipDriverConfig {
            endpoint,
            udp_bind: None,
            tcp_bind: None,
            seed: None,
            capture: None,
            netns: None,
            advertise: None,
            limits: Limits::default(),
            tls: None,
        }
    }
}

/// The driver task is gone.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("the SIP driver task has stopped")]
pub struct DriverStopped;

type Job = Box<dyn FnOnce(&mut Endpoint, std::time::Instant) + Send>;

/// Handle to the running driver task.
pub struct SipDriver {
    jobs: mpsc::Sender<Job>,
    events: mpsc::Receiver<SipEvent>,
    udp_local: Option<SocketAddr>,
    tcp_local: Option<SocketAddr>,
    task: JoinHandle<()>,
}

impl SipDriver {
    /// Binds the sockets and starts the driver task on the current tokio runtime.
    pub async fn bind(mut config: SipDriverConfig) -> std::io::Result<SipDriver> {
        let udp = match config.udp_bind {
            Some(addr) => Some(crate::netns::bind_udp(config.netns.as_deref(), addr).await?),
            None => None,
        };
        let tcp = match config.tcp_bind {
            Some(addr) => {
                Some(crate::netns::bind_tcp_listener(config.netns.as_deref(), addr).await?)
            }
            None => None,
        };
        if let Some(udp) = &udp {
            // RFC 3261 §18.4: hear of ICMP errors, so a request to a closed port fails at once.
            icmp::enable(udp);
            udp_buffer::raise(udp, config.limits.udp_receive_buffer);
        }
        // A wildcard bind (0.0.0.0, ::) hears every address; Via and Contact need one we can
        // be reached at: the advertised address, with the bound port.
        let named = |a: SocketAddr| match config.advertise {
            Some(ip) if a.ip().is_unspecified() => SocketAddr::new(ip, a.port()),
            _ => a,
        };
        let udp_local = udp
            .as_ref()
            .map(UdpSocket::local_addr)
            .transpose()?
            .map(named);
        let tcp_local = tcp
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?
            .map(named);
        config.endpoint.udp_local = udp_local;
        config.endpoint.tcp_local = tcp_local;
        // No TLS listener: Via and Contact name our host with the SIP port; peers answer and
        // send requests on the connections we open (RFC 3261 §18.2.2, RFC 5626).
        config.endpoint.tls_local = config.tls.as_ref().and(udp_local.or(tcp_local));
        config.endpoint.server_limits = config.limits.server;
        let endpoint = match config.seed {
            Some(seed) => Endpoint::with_seed(config.endpoint, seed),
            None => Endpoint::new(config.endpoint),
        };
        // Bounded both ways: a caller of `command` waits for room (backpressure on whoever
        // floods the endpoint), and the loop stops reading its sockets while its events wait
        // for room (the kernel's buffer then holds, or drops, and SIP retransmits).
        let (jobs, job_rx) = mpsc::channel(JOB_QUEUE);
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        let task = tokio::spawn(
            run::Loop::new(
                endpoint,
                udp,
                tcp,
                job_rx,
                event_tx,
                config.capture,
                config.limits,
            )
            .in_netns(config.netns)
            .with_tls(config.tls)
            .run(),
        );
        Ok(SipDriver {
            jobs,
            events,
            udp_local,
            tcp_local,
            task,
        })
    }

    /// The bound UDP address.
    pub fn udp_local(&self) -> Option<SocketAddr> {
        self.udp_local
    }

    /// The TCP listener's address.
    pub fn tcp_local(&self) -> Option<SocketAddr> {
        self.tcp_local
    }

    /// Runs `f` on the endpoint inside the driver task (with the current time) and returns
    /// its result; the transmits it queues go out right after.
    pub async fn command<R, F>(&self, f: F) -> Result<R, DriverStopped>
    where
        R: Send + 'static,
        F: FnOnce(&mut Endpoint, std::time::Instant) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |endpoint, now| {
            let _ = tx.send(f(endpoint, now));
        });
        self.jobs.send(job).await.map_err(|_| DriverStopped)?;
        rx.await.map_err(|_| DriverStopped)
    }

    /// The next endpoint event; `None` once the driver stopped.
    pub async fn next_event(&mut self) -> Option<SipEvent> {
        self.events.recv().await
    }

    /// The next event within `timeout`, `None` on timeout or when stopped.
    pub async fn next_event_timeout(&mut self, timeout: Duration) -> Option<SipEvent> {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Ends calls and un-registers ([`Endpoint::shutdown`]), lets the messages go out for
    /// up to `grace` (until an `Unregistered` event or the grace period ends), then stops.
    pub async fn shutdown(mut self, grace: Duration) {
        let registered = self
            .command(|ep, now| {
                let had =
                    ep.learned_public_address().is_some() || ep.config().outbound_proxy.is_some();
                ep.shutdown(now);
                had
            })
            .await
            .unwrap_or(false);
        let deadline = tokio::time::Instant::now() + grace;
        if registered {
            while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await
            {
                if matches!(
                    event,
                    SipEvent::Unregistered | SipEvent::RegistrationFailed { .. }
                ) {
                    break;
                }
            }
        } else {
            // Give queued BYEs a moment on the wire.
            let _ =
                tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(50)))
                    .await;
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for SipDriver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
