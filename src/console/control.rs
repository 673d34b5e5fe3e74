//! The control socket (`--control unix:PATH` or `--control tcp:127.0.0.1:PORT`), as
//! baresip's ctrl_tcp: one JSON command per line in, one response line per command
//! (`{"response":"ok",…}` or `{"response":"error","reason":"…"}`), and every event as
//! NDJSON (the objects of `--json`, with their `call` number) as it happens.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use super::output::Output;
use super::{command, Request};

/// Where the control socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// A command line longer than this closes the connection (nothing legitimate is as long).
const MAX_LINE: usize = 64 * 1024;

impl ControlAddr {
    /// For clap's `value_parser`.
    pub fn from_str_arg(s: &str) -> Result<ControlAddr, String> {
        s.parse()
    }
}

impl std::str::FromStr for ControlAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path, e.g. unix:/tmp/icephone.sock".into());
            }
            return Ok(ControlAddr::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            let addr: SocketAddr = addr
                .parse()
                .map_err(|_| format!("tcp:{addr}: not IP:PORT, e.g. tcp:127.0.0.1:5555"))?;
            // Anyone who can connect can place calls: the socket has no authentication, so
            // it is only offered on loopback.
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "tcp:{addr}: only loopback addresses (127.0.0.1, ::1): the control socket has no authentication"
                ));
            }
            return Ok(ControlAddr::Tcp(addr));
        }
        Err(format!("`{s}`: expected unix:PATH or tcp:127.0.0.1:PORT"))
    }
}

/// Listens on `addr` and serves each client until it disconnects. Returns once listening
/// (the address bound, for tcp port 0).
pub async fn serve(
    addr: &ControlAddr,
    requests: mpsc::Sender<Request>,
    out: Output,
) -> std::io::Result<String> {
    match addr {
        ControlAddr::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (r, w) = stream.into_split();
                    tokio::spawn(client(r, w, requests.clone(), out.clone()));
                }
            });
            Ok(format!("tcp:{local}"))
        }
        ControlAddr::Unix(path) => {
            // A socket file left by an earlier run would make bind fail.
            if std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                let _ = std::fs::remove_file(path);
            }
            let listener = tokio::net::UnixListener::bind(path)?;
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (r, w) = stream.into_split();
                    tokio::spawn(client(r, w, requests.clone(), out.clone()));
                }
            });
            Ok(format!("unix:{}", path.display()))
        }
    }
}

/// One client: its commands in order, each answered before the next is read, with the
/// events written between them as they come.
async fn client<R, W>(read: R, mut write: W, requests: mpsc::Sender<Request>, out: Output)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut events = out.subscribe();
    let mut lines = BufReader::new(read).lines();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => line,
                _ => return,
            },
            event = events.recv() => match event {
                Ok(text) => {
                    if write_line(&mut write, &text).await.is_err() {
                        return;
                    }
                    continue;
                }
                // A slow client misses the oldest events, and is told.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let note = json!({"event": "lagged", "missed": n}).to_string();
                    if write_line(&mut write, &note).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            },
        };
        if line.len() > MAX_LINE {
            let _ = write_line(&mut write, &error("line too long")).await;
            return;
        }
        let response = match command::parse_json(&line) {
            Ok(None) => continue,
            Err(e) => error(&e),
            Ok(Some(command)) => {
                let (reply, answer) = oneshot::channel();
                if requests
                    .send(super::Request { command, reply })
                    .await
                    .is_err()
                {
                    let _ = write_line(&mut write, &error("the phone is exiting")).await;
                    return;
                }
                match answer.await {
                    Ok(Ok(r)) => {
                        let mut v = json!({"response": "ok"});
                        if let Some(call) = r.call {
                            v["call"] = json!(call);
                        }
                        if !r.text.is_empty() {
                            v["text"] = json!(r.text);
                        }
                        v.to_string()
                    }
                    Ok(Err(e)) => error(&e),
                    Err(_) => error("the phone is exiting"),
                }
            }
        };
        if write_line(&mut write, &response).await.is_err() {
            return;
        }
    }
}

fn error(reason: &str) -> String {
    json!({"response": "error", "reason": reason}).to_string()
}

async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\n").await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_addresses_are_unix_paths_or_loopback_tcp() {
        assert_eq!(
            "unix:/tmp/p.sock".parse(),
            Ok(ControlAddr::Unix("/tmp/p.sock".into()))
        );
        assert_eq!(
            "tcp:127.0.0.1:5555".parse(),
            Ok(ControlAddr::Tcp("127.0.0.1:5555".parse().unwrap()))
        );
        assert!("tcp:[::1]:5555".parse::<ControlAddr>().is_ok());
        let err = "tcp:0.0.0.0:5555".parse::<ControlAddr>().unwrap_err();
        assert!(err.contains("no authentication"), "{err}");
        assert!("tcp:localhost:1"
            .parse::<ControlAddr>()
            .unwrap_err()
            .contains("not IP:PORT"));
        assert!("unix:".parse::<ControlAddr>().is_err());
        assert!("udp:1"
            .parse::<ControlAddr>()
            .unwrap_err()
            .contains("expected"));
    }
}
