//! The flags and the `[limits]` TOML table that bound what peers can make us hold (issue 14
//! items 1 and 2): TCP connections and their timeouts, the UDP receive buffer, server
//! transactions. A flag wins over the file; unset values keep the defaults of
//! [`crate::sip_driver::Limits`].

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::sip_driver::Limits;

/// Resource limits as flags.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// TCP connections peers may hold open to us (default 512); over it, the least
    /// recently active one is closed
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub tcp_max_connections: Option<usize>,
    /// TCP connections from one IP address (default 128)
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub tcp_max_connections_per_ip: Option<usize>,
    /// Close a peer's TCP connection that sent nothing for this long and carries no
    /// transaction or dialog, in ms (default 120000)
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub tcp_idle_timeout_ms: Option<u64>,
    /// Close a TCP connection whose message is still incomplete this long after its first
    /// byte (slowloris), in ms (default 10000)
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub tcp_header_timeout_ms: Option<u64>,
    /// Close a TCP connection whose write does not complete in this long, in ms (default
    /// 10000)
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub tcp_send_timeout_ms: Option<u64>,
    /// Bytes queued for one TCP connection before it is closed (default 262144)
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub tcp_max_write_queue: Option<usize>,
    /// SO_RCVBUF asked for the SIP UDP socket, forced past net.core.rmem_max when
    /// privileged; 0 keeps the system default (default 8388608)
    #[arg(long)]
    pub udp_receive_buffer: Option<usize>,
    /// SIP server transactions at once (default 4096); over it, 503 with Retry-After
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub sip_max_transactions: Option<usize>,
    /// SIP server transactions at once from one source IP (default 1024)
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub sip_max_transactions_per_source: Option<usize>,
    /// Retry-After seconds in the 503 sent over a transaction cap (default 5)
    #[arg(long)]
    pub sip_retry_after: Option<u32>,
}

/// The `[limits]` table of the config file: the flags' names with underscores.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsFile {
    pub tcp_max_connections: Option<usize>,
    pub tcp_max_connections_per_ip: Option<usize>,
    pub tcp_idle_timeout_ms: Option<u64>,
    pub tcp_header_timeout_ms: Option<u64>,
    pub tcp_send_timeout_ms: Option<u64>,
    pub tcp_max_write_queue: Option<usize>,
    pub udp_receive_buffer: Option<usize>,
    pub sip_max_transactions: Option<usize>,
    pub sip_max_transactions_per_source: Option<usize>,
    pub sip_retry_after: Option<u32>,
}

/// The `[limits]` keys that must be at least 1 (caps and timeouts); clap checks the flags.
fn check_file(file: &LimitsFile) -> Result<(), ConfigError> {
    let positive = [
        (
            "limits.tcp_max_connections",
            file.tcp_max_connections.map(|v| v as u64),
        ),
        (
            "limits.tcp_max_connections_per_ip",
            file.tcp_max_connections_per_ip.map(|v| v as u64),
        ),
        ("limits.tcp_idle_timeout_ms", file.tcp_idle_timeout_ms),
        ("limits.tcp_header_timeout_ms", file.tcp_header_timeout_ms),
        ("limits.tcp_send_timeout_ms", file.tcp_send_timeout_ms),
        (
            "limits.tcp_max_write_queue",
            file.tcp_max_write_queue.map(|v| v as u64),
        ),
        (
            "limits.sip_max_transactions",
            file.sip_max_transactions.map(|v| v as u64),
        ),
        (
            "limits.sip_max_transactions_per_source",
            file.sip_max_transactions_per_source.map(|v| v as u64),
        ),
    ];
    match positive.into_iter().find(|(_, v)| *v == Some(0)) {
        Some((field, _)) => Err(ConfigError::Invalid {
            field,
            value: "0".into(),
            why: "at least 1".into(),
        }),
        None => Ok(()),
    }
}

/// Flags over file over defaults. Caps and timeouts of 0 are refused (a usage error).
pub fn merge(flags: &LimitArgs, file: &LimitsFile) -> Result<Limits, ConfigError> {
    check_file(file)?;
    let d = Limits::default();
    let ms = |f: Option<u64>, c: Option<u64>, default: Duration| {
        f.or(c).map_or(default, |v| Duration::from_millis(v.max(1)))
    };
    let count =
        |f: Option<usize>, c: Option<usize>, default: usize| f.or(c).unwrap_or(default).max(1);
    Ok(Limits {
        tcp_max_connections: count(
            flags.tcp_max_connections,
            file.tcp_max_connections,
            d.tcp_max_connections,
        ),
        tcp_max_connections_per_ip: count(
            flags.tcp_max_connections_per_ip,
            file.tcp_max_connections_per_ip,
            d.tcp_max_connections_per_ip,
        ),
        tcp_idle_timeout: ms(
            flags.tcp_idle_timeout_ms,
            file.tcp_idle_timeout_ms,
            d.tcp_idle_timeout,
        ),
        tcp_header_timeout: ms(
            flags.tcp_header_timeout_ms,
            file.tcp_header_timeout_ms,
            d.tcp_header_timeout,
        ),
        tcp_send_timeout: ms(
            flags.tcp_send_timeout_ms,
            file.tcp_send_timeout_ms,
            d.tcp_send_timeout,
        ),
        tcp_max_write_queue: count(
            flags.tcp_max_write_queue,
            file.tcp_max_write_queue,
            d.tcp_max_write_queue,
        ),
        udp_receive_buffer: flags
            .udp_receive_buffer
            .or(file.udp_receive_buffer)
            .unwrap_or(d.udp_receive_buffer),
        server: sip::endpoint::ServerLimits {
            max_transactions: count(
                flags.sip_max_transactions,
                file.sip_max_transactions,
                d.server.max_transactions,
            ),
            max_per_source: count(
                flags.sip_max_transactions_per_source,
                file.sip_max_transactions_per_source,
                d.server.max_per_source,
            ),
            retry_after: flags
                .sip_retry_after
                .or(file.sip_retry_after)
                .unwrap_or(d.server.retry_after),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file: LimitsFile = toml::from_str(
            "tcp_max_connections = 10\ntcp_idle_timeout_ms = 500\nsip_retry_after = 3",
        )
        .unwrap();
        let flags = LimitArgs {
            tcp_max_connections: Some(20),
            ..LimitArgs::default()
        };
        let l = merge(&flags, &file).unwrap();
        assert_eq!(l.tcp_max_connections, 20);
        assert_eq!(l.tcp_idle_timeout, Duration::from_millis(500));
        assert_eq!(l.server.retry_after, 3);
        assert_eq!(l.tcp_header_timeout, Limits::default().tcp_header_timeout);
        assert_eq!(
            merge(&LimitArgs::default(), &LimitsFile::default()).unwrap(),
            Limits::default()
        );
        assert!(toml::from_str::<LimitsFile>("tcp_max_conns = 1").is_err());
        let zero: LimitsFile = toml::from_str("tcp_idle_timeout_ms = 0").unwrap();
        let err = merge(&LimitArgs::default(), &zero).unwrap_err();
        assert!(
            err.to_string().starts_with("limits.tcp_idle_timeout_ms"),
            "{err}"
        );
    }
}
