//! Sockets created inside a named network namespace (`ip netns`, `/var/run/netns/NAME`).
//!
//! A network namespace belongs to a thread, and a socket keeps the namespace it was created
//! in. So each socket is made on a short-lived dedicated thread that enters the namespace
//! (`setns`) and hands the std socket back; tokio then drives it like any other. The thread
//! is never a runtime or blocking-pool thread, so no other work runs in the namespace by
//! accident. `None` means the process's own namespace: the plain tokio calls, unchanged.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Where `ip netns add NAME` puts the namespace's handle.
const NETNS_DIR: &str = "/var/run/netns";

/// Runs `work` on a fresh thread that has entered namespace `ns`, and waits for it without
/// blocking the runtime.
async fn in_netns<T, F>(ns: &str, work: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = ns.to_string();
    std::thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || {
            let _ = tx.send(enter(&name).and_then(|()| work()));
        })?;
    rx.await
        .map_err(|_| io::Error::other(format!("network namespace `{ns}`: worker thread died")))?
}

/// Moves the calling thread into namespace `ns`.
fn enter(ns: &str) -> io::Result<()> {
    let fail = |e: io::Error| {
        let hint = if e.kind() == io::ErrorKind::PermissionDenied {
            " (entering a network namespace needs root or CAP_SYS_ADMIN)"
        } else {
            ""
        };
        io::Error::new(
            e.kind(),
            format!("cannot enter network namespace `{ns}`: {e}{hint}"),
        )
    };
    if ns.is_empty() || ns.contains('/') || ns == "." || ns == ".." {
        return Err(fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a namespace name",
        )));
    }
    let file = std::fs::File::open(format!("{NETNS_DIR}/{ns}")).map_err(fail)?;
    // SAFETY: setns only reads the fd, which `file` keeps open for the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    Ok(())
}

/// A UDP socket bound to `addr`, inside `ns` when given.
pub async fn bind_udp(ns: Option<&str>, addr: SocketAddr) -> io::Result<UdpSocket> {
    let Some(ns) = ns else {
        return UdpSocket::bind(addr).await;
    };
    let socket = in_netns(ns, move || {
        let s = std::net::UdpSocket::bind(addr)?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .await?;
    UdpSocket::from_std(socket)
}

/// A TCP listener bound to `addr`, inside `ns` when given.
pub async fn bind_tcp_listener(ns: Option<&str>, addr: SocketAddr) -> io::Result<TcpListener> {
    let Some(ns) = ns else {
        return TcpListener::bind(addr).await;
    };
    let listener = in_netns(ns, move || {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .await?;
    TcpListener::from_std(listener)
}

/// A TCP connection to `dest` made from inside `ns` when given, within `limit`.
pub async fn connect_tcp(
    ns: Option<&str>,
    dest: SocketAddr,
    limit: Duration,
) -> io::Result<TcpStream> {
    let Some(ns) = ns else {
        return tokio::time::timeout(limit, TcpStream::connect(dest))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TCP connect timed out"))?;
    };
    let stream = in_netns(ns, move || {
        let s = std::net::TcpStream::connect_timeout(&dest, limit)?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .await?;
    TcpStream::from_std(stream)
}

/// The source address the routing table picks toward `toward` (a UDP connect sends
/// nothing), looked up inside `ns` when given.
pub async fn route_source(ns: Option<&str>, toward: SocketAddr) -> io::Result<IpAddr> {
    match ns {
        None => probe_source(toward),
        Some(ns) => in_netns(ns, move || probe_source(toward)).await,
    }
}

/// The routing-table choice of a local IP toward `toward`, in the calling thread's namespace.
pub fn probe_source(toward: SocketAddr) -> io::Result<IpAddr> {
    let any = if toward.is_ipv4() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from([0u16; 8])
    };
    let s = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    s.connect(toward)?;
    Ok(s.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_namespace_is_named_in_the_error() {
        let err = bind_udp(Some("icephone-no-such-ns"), ([127, 0, 0, 1], 0).into())
            .await
            .expect_err("no such namespace");
        assert!(
            err.to_string()
                .contains("cannot enter network namespace `icephone-no-such-ns`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_path_is_not_a_namespace_name() {
        let err = bind_tcp_listener(Some("../etc"), ([127, 0, 0, 1], 0).into())
            .await
            .expect_err("a path");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn without_a_namespace_sockets_bind_as_before() {
        let udp = bind_udp(None, ([127, 0, 0, 1], 0).into()).await.unwrap();
        let listener = bind_tcp_listener(None, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let dest = listener.local_addr().unwrap();
        let stream = connect_tcp(None, dest, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), dest);
        assert!(udp.local_addr().unwrap().ip().is_loopback());
    }
}
