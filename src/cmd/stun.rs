//! `icephone stun HOST:PORT [--json] [--timeout S] [--bind ADDR]`: send one STUN Binding
//! request and print the mapped address the server saw.
//!
//! The protocol work (encoding, retransmission schedule, matching the response) is ice's
//! sans-IO `ClientTransaction`; this file only owns the socket, the clock and the output.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use ice::stun::{
    Attribute, Class, ClientTransaction, Message, Method, Outcome, RetransmitConfig, TransactionId,
};
use tokio::net::UdpSocket;

use crate::cli::StunArgs;
use crate::exit;

/// RFC 8489 §18.5: the registered STUN port for UDP and TCP.
const DEFAULT_PORT: u16 = 3478;

/// RFC 8489 §14.14: SOFTWARE SHOULD be included in requests.
const SOFTWARE: &str = concat!("icephone ", env!("CARGO_PKG_VERSION"));

/// What a successful Binding transaction tells us.
struct BindingReport {
    server: SocketAddr,
    local: SocketAddr,
    mapped: SocketAddr,
    /// From the first send of the request to the arrival of the response.
    rtt: Duration,
    software: Option<String>,
}

pub fn run(args: StunArgs) -> anyhow::Result<ExitCode> {
    let timeout = match Duration::try_from_secs_f64(args.timeout) {
        Ok(timeout) if !timeout.is_zero() => timeout,
        _ => {
            eprintln!(
                "icephone: --timeout must be a positive number of seconds, got {}",
                args.timeout
            );
            return Ok(ExitCode::from(exit::USAGE));
        }
    };
    let server = resolve(&args.server, args.bind, args.dns)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = runtime.block_on(binding(server, args.bind, timeout, args.timeout))?;
    if args.json {
        let line = serde_json::json!({
            "event": "stun",
            "server": report.server.to_string(),
            "local": report.local.to_string(),
            "mapped": report.mapped.to_string(),
            "rtt_ms": (report.rtt.as_secs_f64() * 1e6).round() / 1e3,
            "software": report.software,
        });
        println!("{line}");
    } else {
        println!("server    {}", report.server);
        println!("local     {}", report.local);
        println!("mapped    {}", report.mapped);
        println!(
            "rtt       {:.3} ms (first send to response)",
            report.rtt.as_secs_f64() * 1e3
        );
        println!(
            "software  {}",
            report.software.as_deref().unwrap_or("(none)")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Turn `HOST:PORT`, `HOST`, `IP`, `[IPV6]` or `[IPV6]:PORT` into one address: an IP is used
/// as it is (port 3478 when omitted); a name is looked up by DNS (`--dns` or resolv.conf),
/// through `_stun._udp` SRV first when no port is given (RFC 8489 §8). With `--bind`, the
/// address must be of the bound family.
fn resolve(
    server: &str,
    bind: Option<SocketAddr>,
    dns: Option<SocketAddr>,
) -> anyhow::Result<SocketAddr> {
    let (host, port) =
        crate::dns::split_host_port(server).map_err(|why| anyhow!("STUN server: {why}"))?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT));
        if bind.is_some_and(|b| b.is_ipv4() != addr.is_ipv4()) {
            bail!("STUN server {server} has no address of the same family as --bind {bind:?}");
        }
        return Ok(addr);
    }
    let family = match bind {
        Some(b) if b.is_ipv6() => crate::dns::Family::V6,
        _ => crate::dns::Family::V4,
    };
    let resolution = crate::dns::blocking(dns, family, async |r| {
        r.resolve_server(&host, port, "_stun._udp", DEFAULT_PORT)
            .await
    })
    .with_context(|| format!("resolving STUN server {server:?}"))?;
    Ok(resolution.targets[0].addr)
}

/// Run one Binding transaction against `server`, giving up at `timeout` overall.
async fn binding(
    server: SocketAddr,
    bind: Option<SocketAddr>,
    timeout: Duration,
    timeout_secs: f64,
) -> anyhow::Result<BindingReport> {
    let bind = bind.unwrap_or_else(|| match server {
        SocketAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        SocketAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
    });
    let socket = UdpSocket::bind(bind)
        .await
        .with_context(|| format!("binding a UDP socket to {bind}"))?;
    // Connecting picks the source address (so `local` is a real one) and makes the kernel
    // report ICMP port unreachable as ConnectionRefused.
    socket
        .connect(server)
        .await
        .with_context(|| format!("setting {server} as the UDP peer"))?;
    let local = socket.local_addr().context("reading the local address")?;

    let request = Message::new(
        Class::Request,
        Method::Binding,
        TransactionId::random(&mut rand::rng()),
    )
    .with(Attribute::Software(SOFTWARE.into()));
    let start = Instant::now();
    let deadline = start + timeout;
    let mut tx = ClientTransaction::new(
        &request,
        request.encode(None, true),
        start,
        RetransmitConfig::default(),
        false,
    );
    tracing::info!(%server, %local, id = ?tx.id(), "sending STUN Binding request");

    let refused = |sends: u32| {
        anyhow!(
            "STUN server {server} is not listening: ICMP port unreachable after {sends} {}",
            plural_sends(sends)
        )
    };
    let no_response = |sends: u32| {
        anyhow!(
            "no STUN response from {server} within {timeout_secs} s ({sends} {})",
            plural_sends(sends)
        )
    };

    let mut first_send = None;
    let mut buf = [0u8; 2048];
    loop {
        while let Some(bytes) = tx.poll_transmit() {
            match socket.send(&bytes).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    return Err(refused(tx.sends()))
                }
                Err(e) => return Err(e).with_context(|| format!("sending to {server}")),
            }
            first_send.get_or_insert_with(Instant::now);
            tracing::debug!(send = tx.sends(), "STUN request sent");
        }
        match tx.poll_outcome() {
            Some(Outcome::TimedOut) => return Err(no_response(tx.sends())),
            Some(Outcome::Response(response)) => {
                let rtt = first_send.map_or(Duration::ZERO, |t| t.elapsed());
                return interpret(server, local, rtt, response);
            }
            // ice::stun::Outcome is non_exhaustive: an ending this code does not know.
            Some(other) => {
                bail!("STUN transaction with {server} ended without a response: {other:?}")
            }
            None => {}
        }
        let wake = tx.poll_timeout().map_or(deadline, |t| t.min(deadline));
        tokio::select! {
            received = socket.recv(&mut buf) => match received {
                Ok(n) => {
                    let datagram = buf.get(..n).unwrap_or_default();
                    match Message::decode(datagram) {
                        Ok(message) => {
                            if let Err(other) = tx.handle_response(message) {
                                tracing::debug!(id = ?other.transaction_id, "ignoring unrelated STUN message");
                            }
                        }
                        Err(error) => tracing::debug!(%error, "ignoring a datagram that is not valid STUN"),
                    }
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(refused(tx.sends())),
                Err(e) => return Err(e).with_context(|| format!("receiving from {server}")),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(no_response(tx.sends()));
                }
                tx.handle_timeout(now);
            }
        }
    }
}

/// Turn the server's answer into a report, or an error naming what the server said.
fn interpret(
    server: SocketAddr,
    local: SocketAddr,
    rtt: Duration,
    response: Message,
) -> anyhow::Result<BindingReport> {
    if response.class == Class::Error {
        return Err(match response.error_code() {
            Some((code, reason)) => anyhow!("STUN server {server} answered {code} {reason}"),
            None => anyhow!("STUN server {server} answered an error response without ERROR-CODE"),
        });
    }
    // RFC 8489 §6.3.3: a response with unknown comprehension-required attributes has failed.
    if !response.unknown_comprehension_required.is_empty() {
        let types: Vec<String> = response
            .unknown_comprehension_required
            .iter()
            .map(|t| format!("{t:#06x}"))
            .collect();
        bail!(
            "STUN server {server} answered with unknown comprehension-required attributes {}",
            types.join(", ")
        );
    }
    let mapped = response
        .mapped_address()
        .with_context(|| format!("STUN server {server} answered without a (XOR-)MAPPED-ADDRESS"))?;
    Ok(BindingReport {
        server,
        local,
        mapped,
        rtt,
        software: response.software().map(str::to_owned),
    })
}

fn plural_sends(n: u32) -> &'static str {
    if n == 1 {
        "send"
    } else {
        "sends"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_addresses_resolve_without_dns_and_respect_bind_family() {
        assert_eq!(
            resolve("192.0.2.1", None, None).unwrap(),
            "192.0.2.1:3478".parse().unwrap()
        );
        assert_eq!(
            resolve("[2001:db8::1]:9", None, None).unwrap(),
            "[2001:db8::1]:9".parse().unwrap()
        );
        let v6_bind = Some("[::1]:0".parse().unwrap());
        let err = resolve("192.0.2.1", v6_bind, None).unwrap_err().to_string();
        assert!(err.contains("same family"), "{err}");
    }

    #[test]
    fn error_and_incomplete_responses_become_clear_errors() {
        let server: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let local: SocketAddr = "192.0.2.2:4000".parse().unwrap();
        let id = TransactionId([1; 12]);
        let error = Message::new(Class::Error, Method::Binding, id).with(Attribute::ErrorCode {
            code: 401,
            reason: "Unauthorized".into(),
        });
        let text = interpret(server, local, Duration::ZERO, error)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(text, "STUN server 192.0.2.1:3478 answered 401 Unauthorized");

        let empty = Message::new(Class::Success, Method::Binding, id);
        let text = interpret(server, local, Duration::ZERO, empty)
            .err()
            .unwrap()
            .to_string();
        assert!(text.contains("without a (XOR-)MAPPED-ADDRESS"), "{text}");

        let mut unknown = Message::new(Class::Success, Method::Binding, id)
            .with(Attribute::XorMappedAddress(local));
        unknown.unknown_comprehension_required.push(0x0042);
        let text = interpret(server, local, Duration::ZERO, unknown)
            .err()
            .unwrap()
            .to_string();
        assert!(text.contains("0x0042"), "{text}");

        let ok = Message::new(Class::Success, Method::Binding, id)
            .with(Attribute::XorMappedAddress(
                "203.0.113.9:1234".parse().unwrap(),
            ))
            .with(Attribute::Software("srv".into()));
        let report = interpret(server, local, Duration::from_millis(3), ok).unwrap();
        assert_eq!(report.mapped, "203.0.113.9:1234".parse().unwrap());
        assert_eq!(report.software.as_deref(), Some("srv"));
    }
}
