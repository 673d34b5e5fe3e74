//! The media side of a sipp peer that does ICE: sipp carries the signalling (its SDP
//! announces `PWD` and one host candidate per socket here), and each [`IcePeerSocket`]
//! answers the connectivity checks that reach it (RFC 8445 §7.3: a Binding success with
//! XOR-MAPPED-ADDRESS, signed with the password of the SDP) and logs what arrives.
//! It never checks on its own: our controlling agent's checks make the pairs valid.
//!
//! Included with `#[path = "support/ice_peer.rs"] mod ice_peer;`.

#![allow(dead_code)] // each test crate uses a different subset of these helpers

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ice::stun::{Attribute, Class, IntegrityKey, Message, Method};
use tokio::net::UdpSocket;

/// The ICE password the sipp scenarios under tests/sipp/ announce (`a=ice-pwd`).
pub const PWD: &str = "sippIcePassword0123456789";

/// What reached a socket, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A connectivity check, and whether it was answered.
    Check {
        answered: bool,
    },
    Rtp,
    Rtcp,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub from: SocketAddr,
    pub what: Arrival,
}

/// One socket of the peer (one ICE component).
pub struct IcePeerSocket {
    pub addr: SocketAddr,
    /// When it started listening.
    pub started: Instant,
    log: Arc<Mutex<Vec<Logged>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for IcePeerSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl IcePeerSocket {
    /// Binds 127.0.0.1 on an ephemeral port; checks arriving within `deaf_for` of the first
    /// one are dropped unanswered (a component whose checks get through only later).
    pub async fn start(deaf_for: Duration) -> IcePeerSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("local address");
        let log: Arc<Mutex<Vec<Logged>>> = Arc::default();
        let task_log = log.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let key = IntegrityKey::short_term(PWD);
            let mut buf = vec![0u8; 65535];
            let mut first_check: Option<Instant> = None;
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let data = &buf[..n];
                let at = Instant::now();
                let what = match data.first() {
                    Some(0..=3) => {
                        let request = Message::decode(data).ok().filter(|m| {
                            m.class == Class::Request
                                && m.method == Method::Binding
                                && ice::stun::verify_integrity(data, &key).is_ok()
                        });
                        let Some(request) = request else { continue };
                        let answered = at >= *first_check.get_or_insert(at) + deaf_for;
                        if answered {
                            let response = Message::new(
                                Class::Success,
                                Method::Binding,
                                request.transaction_id,
                            )
                            .with(Attribute::XorMappedAddress(from));
                            let _ = socket
                                .send_to(&response.encode(Some(&key), true), from)
                                .await;
                        }
                        Arrival::Check { answered }
                    }
                    Some(128..=191) if icephone::media::rtp::is_rtcp(data) => Arrival::Rtcp,
                    Some(128..=191) => Arrival::Rtp,
                    _ => continue,
                };
                task_log.lock().unwrap().push(Logged { at, from, what });
            }
        });
        IcePeerSocket {
            addr,
            started,
            log,
            task,
        }
    }

    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    /// When `what` first arrived.
    pub fn first(&self, what: Arrival) -> Option<Instant> {
        self.log().iter().find(|l| l.what == what).map(|l| l.at)
    }

    pub fn count(&self, what: Arrival) -> usize {
        self.log().iter().filter(|l| l.what == what).count()
    }
}
