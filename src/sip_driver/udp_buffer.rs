//! Raising the SIP UDP socket's receive buffer, so a burst (the RFC 4475 set and a few
//! hundred hostile datagrams, ~300 KB at once) waits in the kernel instead of being dropped
//! with the legitimate requests behind it. As Kamailio's `probe_max_receive_buffer`: ask
//! for the target, forcing past `net.core.rmem_max` when privileged (SO_RCVBUFFORCE),
//! otherwise take the largest the system allows; the figure obtained is logged.

use tokio::net::UdpSocket;

/// What the socket ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReceiveBuffer {
    /// Bytes the kernel reports (Linux reports twice the size asked, for its overhead).
    pub bytes: usize,
    /// SO_RCVBUFFORCE was allowed (root or CAP_NET_ADMIN).
    pub forced: bool,
}

/// Asks for a receive buffer of `target` bytes (0: leave it) and logs what was obtained.
pub(crate) fn raise(socket: &UdpSocket, target: usize) -> Option<ReceiveBuffer> {
    let before = imp::get(socket)?;
    if target == 0 {
        return Some(ReceiveBuffer {
            bytes: before,
            forced: false,
        });
    }
    let forced = imp::set(socket, target, true).is_ok();
    if !forced {
        // Unprivileged: the kernel clamps to net.core.rmem_max; halve until one is taken.
        let mut ask = target;
        while ask > 64 * 1024 && imp::set(socket, ask, false).is_err() {
            ask /= 2;
        }
    }
    let bytes = imp::get(socket)?;
    tracing::info!(
        receive_buffer = bytes,
        before,
        asked = target,
        forced,
        "SIP UDP receive buffer set"
    );
    Some(ReceiveBuffer { bytes, forced })
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::fd::AsRawFd;

    use tokio::net::UdpSocket;

    pub fn set(socket: &UdpSocket, bytes: usize, force: bool) -> io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let name = if force {
            libc::SO_RCVBUFFORCE
        } else {
            libc::SO_RCVBUF
        };
        // SAFETY: the fd is an open socket; the value is a c_int living across the call and
        // its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn get(socket: &UdpSocket) -> Option<usize> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the fd is an open socket; value and len are valid for writes of their sizes.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (rc == 0).then(|| usize::try_from(value).ok()).flatten()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use tokio::net::UdpSocket;

    pub fn set(_: &UdpSocket, _: usize, _: bool) -> std::io::Result<()> {
        Err(std::io::Error::other("not supported here"))
    }

    pub fn get(_: &UdpSocket) -> Option<usize> {
        None
    }
}
