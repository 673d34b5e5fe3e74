//! Accepting TCP connections with back-off: when accept fails (EMFILE/ENFILE at the
//! descriptor limit, ENOBUFS), the listener stays readable, so retrying at once spins a
//! core and starves everything else. Instead wait, 10 ms doubling to 1 s, while the
//! pending connections wait in the listen backlog; a success resets the delay.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const FIRST_DELAY: Duration = Duration::from_millis(10);
const MAX_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct Acceptor {
    /// No accept before this.
    paused_until: Option<Instant>,
    delay: Duration,
    /// Failures since the last success (logged once per back-off step).
    failures: u64,
}

impl Acceptor {
    /// The next accepted connection; errors pause accepting and are logged.
    pub async fn accept(&mut self, listener: Option<&TcpListener>) -> (TcpStream, SocketAddr) {
        let Some(listener) = listener else {
            return std::future::pending().await;
        };
        loop {
            if let Some(until) = self.paused_until {
                tokio::time::sleep_until(until).await;
                self.paused_until = None;
            }
            match listener.accept().await {
                Ok(accepted) => {
                    if self.failures > 0 {
                        tracing::info!(failures = self.failures, "TCP accept works again");
                    }
                    self.failures = 0;
                    self.delay = Duration::ZERO;
                    return accepted;
                }
                Err(e) => {
                    self.failures += 1;
                    self.delay = (self.delay * 2).clamp(FIRST_DELAY, MAX_DELAY);
                    if self.failures.is_power_of_two() {
                        tracing::warn!(error = %e, failures = self.failures, retry_in = ?self.delay, "TCP accept failed; backing off");
                    }
                    self.paused_until = Some(Instant::now() + self.delay);
                }
            }
        }
    }
}
