//! TCP connections: one reader task and one writer task per connection, reporting to the
//! driver loop through one channel so events stay ordered per connection. With `--pcap`,
//! both tasks feed the connection's [`TcpTap`]: writes before they go out, reads as they
//! arrive, and a FIN for either side's close.

use std::net::SocketAddr;
use std::sync::Arc;

use sip::endpoint::ConnId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::pcap::{Capture, TcpTap};

/// What connection tasks tell the loop.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    Opened {
        conn: ConnId,
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
    ConnectFailed {
        conn: ConnId,
        dest: SocketAddr,
    },
}

/// Largest read per syscall.
const READ_CHUNK: usize = 16 * 1024;

/// Which side opened a connection, for the capture's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    Us,
    Peer,
}

/// Runs a connected stream: reports `Opened`, reads until EOF (then `Closed`), writes
/// what arrives on `writes` until that channel closes; records it all in `capture`.
pub(crate) fn run_stream(
    conn: ConnId,
    stream: TcpStream,
    events: mpsc::UnboundedSender<ConnEvent>,
    mut writes: mpsc::UnboundedReceiver<Vec<u8>>,
    capture: Option<&Capture>,
    opener: Opener,
) {
    let (Ok(local), Ok(remote)) = (stream.local_addr(), stream.peer_addr()) else {
        let _ = events.send(ConnEvent::Closed { conn });
        return;
    };
    // Tapped before either task starts, so the handshake precedes every segment.
    let tap = capture.map(|c| Arc::new(TcpTap::open(c, local, remote, opener == Opener::Us)));
    let write_tap = tap.clone();
    let _ = stream.set_nodelay(true);
    let _ = events.send(ConnEvent::Opened {
        conn,
        local,
        remote,
    });
    let (mut reader, mut writer) = stream.into_split();
    let read_events = events.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf).await {
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
                    if read_events.send(ConnEvent::Data { conn, bytes }).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = read_events.send(ConnEvent::Closed { conn });
    });
    tokio::spawn(async move {
        while let Some(bytes) = writes.recv().await {
            // Recorded before the write, so the peer's answer can never be captured
            // acknowledging bytes the capture has not shown yet.
            if let Some(tap) = &write_tap {
                tap.sent(&bytes);
            }
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
        if writer.shutdown().await.is_ok() {
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
    events: mpsc::UnboundedSender<ConnEvent>,
    writes: mpsc::UnboundedReceiver<Vec<u8>>,
    capture: Option<Capture>,
) {
    tokio::spawn(async move {
        let limit = std::time::Duration::from_secs(10);
        match crate::netns::connect_tcp(netns.as_deref(), dest, limit).await {
            Ok(stream) => run_stream(conn, stream, events, writes, capture.as_ref(), Opener::Us),
            _ => {
                let _ = events.send(ConnEvent::ConnectFailed { conn, dest });
            }
        }
    });
}
