//! ICMP errors on the SIP UDP socket (RFC 3261 §18.4: "ICMP errors are treated as transport
//! errors"). On Linux an unconnected UDP socket only hears of them with `IP_RECVERR` /
//! `IPV6_RECVERR` set; each error then waits in the socket's error queue, read with
//! `recvmsg(MSG_ERRQUEUE)`, whose `msg_name` is the destination of the datagram that failed.
//! Elsewhere this does nothing (the request then waits for Timer B/F, as before).

use std::net::SocketAddr;

/// The words an ICMP port unreachable is reported with: nothing listens at the destination.
pub const ICMP_PORT_UNREACHABLE: &str = "ICMP port unreachable";

/// One ICMP error: the destination our datagram went to, and what the ICMP said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IcmpError {
    pub dest: SocketAddr,
    /// In words, e.g. `ICMP port unreachable`.
    pub detail: String,
}

/// At most this many queued errors are read per call (the queue is bounded by the socket's
/// receive buffer anyway; this keeps one call short).
const MAX_PER_DRAIN: usize = 64;

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use super::{IcmpError, ICMP_PORT_UNREACHABLE, MAX_PER_DRAIN};

    fn set_int_option(fd: libc::c_int, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: `fd` is an open socket; the option value is a c_int that lives across the
        // call, and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) fn enable(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
        let fd = socket.as_raw_fd();
        if ipv6 {
            set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR)?;
            // IPv4-mapped destinations of a dual-stack socket report through IP_RECVERR.
            let _ = set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR);
            Ok(())
        } else {
            set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR)
        }
    }

    /// The address in a `sockaddr_storage` filled by the kernel (`len` bytes of it).
    fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it can hold.
                let sin: libc::sockaddr_in = unsafe {
                    std::ptr::read_unaligned((storage as *const libc::sockaddr_storage).cast())
                };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6: libc::sockaddr_in6 = unsafe {
                    std::ptr::read_unaligned((storage as *const libc::sockaddr_storage).cast())
                };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(match ip.to_ipv4_mapped() {
                    Some(v4) => SocketAddrV4::new(v4, port).into(),
                    None => {
                        SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into()
                    }
                })
            }
            _ => None,
        }
    }

    /// What an extended error from the ICMP says, or `None` when it is no transport error
    /// (not from an ICMP, or "fragmentation needed": path MTU, not a dead peer).
    fn describe(ee: &libc::sock_extended_err) -> Option<String> {
        if ee.ee_origin != libc::SO_EE_ORIGIN_ICMP && ee.ee_origin != libc::SO_EE_ORIGIN_ICMP6 {
            return None;
        }
        let what = match i32::try_from(ee.ee_errno).unwrap_or(0) {
            libc::ECONNREFUSED => return Some(ICMP_PORT_UNREACHABLE.to_owned()),
            libc::EHOSTUNREACH => "host unreachable".to_owned(),
            libc::ENETUNREACH => "network unreachable".to_owned(),
            libc::EACCES | libc::EPERM => "communication administratively prohibited".to_owned(),
            libc::EPROTO => "protocol unreachable".to_owned(),
            libc::EMSGSIZE => return None,
            _ => format!("error (type {}, code {})", ee.ee_type, ee.ee_code),
        };
        Some(format!("ICMP {what}"))
    }

    /// The `sock_extended_err` of one received error message, if its control data has one.
    fn extended_error(msg: &libc::msghdr) -> Option<libc::sock_extended_err> {
        // SAFETY: `msg` was filled by recvmsg; the CMSG macros walk its control buffer
        // within `msg_controllen`, and each header is checked to hold the struct read.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                let is_recverr = (header.cmsg_level == libc::IPPROTO_IP
                    && header.cmsg_type == libc::IP_RECVERR)
                    || (header.cmsg_level == libc::IPPROTO_IPV6
                        && header.cmsg_type == libc::IPV6_RECVERR);
                let needed = libc::CMSG_LEN(size_of::<libc::sock_extended_err>() as u32) as usize;
                if is_recverr && header.cmsg_len as usize >= needed {
                    return Some(std::ptr::read_unaligned(
                        libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>(),
                    ));
                }
                cmsg = libc::CMSG_NXTHDR(msg, cmsg);
            }
        }
        None
    }

    pub(super) fn drain(socket: &impl AsRawFd) -> Vec<IcmpError> {
        let fd = socket.as_raw_fd();
        let mut errors = Vec::new();
        for _ in 0..MAX_PER_DRAIN {
            // SAFETY: plain C structs for which all-zero bytes are valid.
            let mut name: libc::sockaddr_storage = unsafe { zeroed() };
            let mut msg: libc::msghdr = unsafe { zeroed() };
            // The payload (the start of our datagram) is not needed; a small buffer will do.
            let mut payload = [0u8; 64];
            let mut iov = libc::iovec {
                iov_base: payload.as_mut_ptr().cast(),
                iov_len: payload.len(),
            };
            // u64 for the alignment cmsghdr needs.
            let mut control = [0u64; 64];
            msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            // SAFETY: every pointer in `msg` points at a live buffer of the stated size.
            let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
            if n < 0 {
                // EAGAIN: the queue is empty (anything else: nothing more to read either).
                break;
            }
            let dest = socket_addr(&name, msg.msg_namelen);
            let detail = extended_error(&msg).as_ref().and_then(describe);
            match (dest, detail) {
                (Some(dest), Some(detail)) => errors.push(IcmpError { dest, detail }),
                (dest, detail) => {
                    tracing::debug!(?dest, ?detail, "UDP error queue entry ignored")
                }
            }
        }
        errors
    }
}

/// Asks the kernel to report ICMP errors on `socket` (Linux: `IP_RECVERR`/`IPV6_RECVERR`).
pub(crate) fn enable(socket: &tokio::net::UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        let ipv6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
        if let Err(e) = linux::enable(socket, ipv6) {
            tracing::info!(error = %e, "cannot enable ICMP error reports on the SIP socket");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Reads every ICMP error queued on `socket` (none when not enabled or not on Linux).
pub(crate) fn drain(socket: &tokio::net::UdpSocket) -> Vec<IcmpError> {
    #[cfg(target_os = "linux")]
    {
        linux::drain(socket)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        Vec::new()
    }
}
