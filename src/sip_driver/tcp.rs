//! TCP and TLS connections: one reader task and one writer task per connection, reporting to the
//! driver loop through one bounded channel, so events stay ordered per connection and a
//! peer that sends faster than we parse is slowed down by TCP itself instead of growing a
//! queue. Writes are counted ([`ConnHandle::queued`]) so the loop can cap them, and a write
//! that does not complete within the send timeout closes the connection. With `--pcap`,
//! both tasks feed the connection's [`TcpTap`]: writes before they go out, reads as they
//! arrive, and a FIN for either side's close. Over TLS the tasks see (and the tap records)
//! the plaintext SIP; the TLS records on the wire are rustls' business.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sip::endpoint::{ConnId, TransportKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::pcap::{Capture, TcpTap};

/// What connection tasks tell the loop.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    Opened {
        conn: ConnId,
        transport: TransportKind,
        local: SocketAddr,
        remote: SocketAddr,
    },
    Data {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    /// A connect (TCP), or a connect or handshake (TLS), failed; `detail` says how.
    ConnectFailed {
        conn: ConnId,
        transport: TransportKind,
        dest: SocketAddr,
        detail: String,
    },
    /// A write failed or did not complete within the send timeout.
    WriteFailed {
        conn: ConnId,
    },
}

/// Largest read per syscall.
const READ_CHUNK: usize = 16 * 1024;

/// Events waiting for the loop, from every connection; a full channel stops the readers.
pub(crate) const EVENT_QUEUE: usize = 64;

/// Which side opened a connection, for the capture's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    Us,
    Peer,
}

/// How the loop ends a connection's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// Stop reading; the writer sends what is queued, then shuts down.
    Reading,
    /// Stop both at once (the socket closes when they drop it).
    All,
}

/// The loop's side of a connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    writes: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes handed to the writer and not written yet.
    queued: Arc<AtomicUsize>,
    stop: watch::Sender<Stop>,
}

/// The tasks' side of a connection.
pub(crate) struct ConnTasks {
    writes: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    stop: watch::Receiver<Stop>,
    send_timeout: Duration,
}

/// A connection's two ends, before its tasks run.
pub(crate) fn pair(send_timeout: Duration) -> (ConnHandle, ConnTasks) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    (
        ConnHandle {
            writes: tx,
            queued: queued.clone(),
            stop: stop_tx,
        },
        ConnTasks {
            writes: rx,
            queued,
            stop: stop_rx,
            send_timeout,
        },
    )
}

impl ConnHandle {
    /// Queues `bytes` unless that would put more than `max_queue` bytes in waiting; `false`
    /// means the peer does not drain and the connection must close.
    pub fn send(&self, bytes: Vec<u8>, max_queue: usize) -> bool {
        let len = bytes.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) > max_queue {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        if self.writes.send(bytes).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
        true
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Stops reading and lets the writer flush what is queued (bounded by the send
    /// timeout), then close; the handle is consumed.
    pub fn close_gracefully(self) {
        let _ = self.stop.send(Stop::Reading);
    }

    /// Stops both tasks now; the socket closes.
    pub fn abort(self) {
        let _ = self.stop.send(Stop::All);
    }
}

/// Runs a connected TCP stream (see [`run_stream`]). The addresses, or `None` (and
/// `Closed`) when the socket has none.
pub(crate) fn run_tcp(
    conn: ConnId,
    stream: TcpStream,
    events: mpsc::Sender<ConnEvent>,
    tasks: ConnTasks,
    capture: Option<&Capture>,
    opener: Opener,
    announce: bool,
) -> Option<(SocketAddr, SocketAddr)> {
    let (Ok(local), Ok(remote)) = (stream.local_addr(), stream.peer_addr()) else {
        tokio::spawn(async move {
            let _ = events.send(ConnEvent::Closed { conn }).await;
        });
        return None;
    };
    let _ = stream.set_nodelay(true);
    let link = Link {
        conn,
        transport: TransportKind::Tcp,
        local,
        remote,
    };
    run_stream(link, stream, events, tasks, capture, opener, announce);
    Some((local, remote))
}

/// Which connection a stream is, for the loop and the capture.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub conn: ConnId,
    pub transport: TransportKind,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Runs a connected stream (TCP, or TLS after its handshake): with `announce`, reports
/// `Opened` first; reads until EOF (then `Closed`), writes what arrives on the handle until
/// it is dropped or stopped; records it all in `capture`.
pub(crate) fn run_stream<S>(
    link: Link,
    stream: S,
    events: mpsc::Sender<ConnEvent>,
    tasks: ConnTasks,
    capture: Option<&Capture>,
    opener: Opener,
    announce: bool,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Link {
        conn,
        transport,
        local,
        remote,
    } = link;
    // Tapped before either task starts, so the handshake precedes every segment.
    let tap = capture.map(|c| Arc::new(TcpTap::open(c, local, remote, opener == Opener::Us)));
    let write_tap = tap.clone();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let read_events = events.clone();
    let ConnTasks {
        mut writes,
        queued,
        stop,
        send_timeout,
    } = tasks;
    let mut read_stop = stop.clone();
    let mut write_stop = stop;
    tokio::spawn(async move {
        if announce
            && read_events
                .send(ConnEvent::Opened {
                    conn,
                    transport,
                    local,
                    remote,
                })
                .await
                .is_err()
        {
            return;
        }
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let read = tokio::select! {
                read = reader.read(&mut buf) => read,
                _ = read_stop.wait_for(|s| *s != Stop::Running) => return,
            };
            match read {
                Ok(0) => {
                    if let Some(tap) = &tap {
                        tap.closed_by_peer();
                    }
                    break;
                }
                Err(_) => break,
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or_default().to_vec();
                    if let Some(tap) = &tap {
                        tap.received(&bytes);
                    }
                    // Awaited: a full queue stops this reader, and TCP slows the peer.
                    if read_events
                        .send(ConnEvent::Data { conn, bytes })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = read_events.send(ConnEvent::Closed { conn }).await;
    });
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = writes.recv() => next,
                _ = write_stop.wait_for(|s| *s == Stop::All) => return,
            };
            let Some(bytes) = next else {
                break;
            };
            // Recorded before the write, so the peer's answer can never be captured
            // acknowledging bytes the capture has not shown yet.
            if let Some(tap) = &write_tap {
                tap.sent(&bytes);
            }
            let written = tokio::select! {
                w = tokio::time::timeout(send_timeout, writer.write_all(&bytes)) => w,
                _ = write_stop.wait_for(|s| *s == Stop::All) => return,
            };
            queued.fetch_sub(bytes.len(), Ordering::Relaxed);
            if !matches!(written, Ok(Ok(()))) {
                tracing::info!(
                    ?conn,
                    transport = transport.as_str(),
                    timed_out = written.is_err(),
                    "write failed; closing"
                );
                let _ = events.send(ConnEvent::WriteFailed { conn }).await;
                return;
            }
        }
        let shutdown = tokio::time::timeout(send_timeout, writer.shutdown()).await;
        if matches!(shutdown, Ok(Ok(()))) {
            if let Some(tap) = &write_tap {
                tap.closed_by_us();
            }
        }
    });
}

/// Connects to `dest`, then runs the stream; a failed connect is reported.
pub(crate) fn connect(
    conn: ConnId,
    dest: SocketAddr,
    netns: Option<String>,
    events: mpsc::Sender<ConnEvent>,
    tasks: ConnTasks,
    capture: Option<Capture>,
) {
    tokio::spawn(async move {
        let limit = std::time::Duration::from_secs(10);
        match crate::netns::connect_tcp(netns.as_deref(), dest, limit).await {
            Ok(stream) => {
                run_tcp(
                    conn,
                    stream,
                    events,
                    tasks,
                    capture.as_ref(),
                    Opener::Us,
                    true,
                );
            }
            Err(e) => {
                let _ = events
                    .send(ConnEvent::ConnectFailed {
                        conn,
                        transport: TransportKind::Tcp,
                        dest,
                        detail: e.to_string(),
                    })
                    .await;
            }
        }
    });
}
