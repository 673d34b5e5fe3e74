//! Account and network settings: a TOML file (`--config`) holds what the flags hold, and a
//! flag given on the command line wins over the file. The password may also come from the
//! environment variable `ICEPHONE_PASSWORD` (flag > environment > file).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::media::codec::CodecKind;
use crate::tls::TlsSettings;
use ice::agent::TurnTransport;
pub use sip::endpoint::TransportKind;

/// Environment variable holding the SIP password.
pub const PASSWORD_ENV: &str = "ICEPHONE_PASSWORD";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: `{value}` is not valid ({why})")]
    Invalid {
        field: &'static str,
        value: String,
        why: String,
    },
    /// A name in the settings did not resolve (exit code [`crate::exit::NAME`]).
    #[error("{field} `{value}`: {source}")]
    Dns {
        field: &'static str,
        value: String,
        source: crate::dns::DnsError,
    },
}

pub use crate::config_args::{AccountArgs, IceArgs};

/// The file's shape: same names as the flags, with underscores.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub aor: Option<String>,
    pub password: Option<String>,
    pub auth_user: Option<String>,
    pub proxy: Option<String>,
    pub dns: Option<String>,
    pub transport: Option<String>,
    pub bind: Option<String>,
    pub media_ip: Option<String>,
    pub stun: Option<String>,
    pub turn: Option<String>,
    pub turn_user: Option<String>,
    pub turn_password: Option<String>,
    pub turn_transport: Option<String>,
    pub no_ice: Option<bool>,
    pub nomination: Option<String>,
    pub codecs: Option<Vec<String>>,
    pub rtcp_mux: Option<bool>,
    pub rtcp_mux_only: Option<bool>,
    /// `--opus-fec`, `--opus-dtx`.
    pub opus_fec: Option<bool>,
    pub opus_dtx: Option<bool>,
    /// `off`, `sdes`, `optional` or `dtls`, as `--srtp`.
    pub srtp: Option<String>,
    /// `active`, `passive` or `actpass`, as `--dtls-setup`.
    pub dtls_setup: Option<String>,
    pub t1_ms: Option<u64>,
    pub expires: Option<u32>,
    pub keepalive: Option<u64>,
    pub outbound: Option<bool>,
    pub contact_rewrite: Option<bool>,
    /// SIP over TLS: extra trust anchors, optional client certificate and key (PEM files).
    pub tls_ca: Option<std::path::PathBuf>,
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// `[limits]`: resource bounds (see [`crate::limits_config`]).
    pub limits: Option<crate::limits_config::LimitsFile>,
}

/// `keepalive` when neither flag nor file sets it: like pjsua's --ka-interval (15 s) and
/// Linux's 30 s UDP binding lifetime for a flow seen one way, 25 s stays under the shortest
/// common NAT timeouts with one datagram to spare.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(25);

/// RFC 3261 §19.1.2: the default SIP port, bound when no `bind` is given and it is free.
pub const DEFAULT_SIP_PORT: u16 = 5060;

/// One name the program resolved: which setting it was, and the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `proxy`, `registrar`, `target`, `stun` or `turn`.
    pub role: &'static str,
    pub resolution: crate::dns::Resolution,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnSettings {
    /// The resolved server, its transport (RFC 8656 §3.1; the relayed candidates are UDP
    /// either way) and long-term credentials: what the ICE agent allocates with.
    pub server: ice::agent::TurnServer,
    /// The host as `--turn` names it (no brackets): over TLS the server's certificate must
    /// carry this name or IP address.
    pub host: String,
    /// Trust anchors (system roots + `--tls-ca`) and client identity for TURN over TLS.
    pub tls: TlsSettings,
}

impl TurnSettings {
    /// A TURN server over UDP (tests and the demo, which name it by address).
    pub fn udp(addr: SocketAddr, user: &str, password: &str) -> TurnSettings {
        TurnSettings {
            server: ice::agent::TurnServer {
                addr,
                username: user.into(),
                password: password.into(),
                transport: TurnTransport::Udp,
            },
            host: addr.ip().to_string(),
            tls: TlsSettings::default(),
        }
    }
}

/// Everything resolved: what the program runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub aor: Option<String>,
    pub password: Option<String>,
    pub auth_user: Option<String>,
    pub proxy: Option<SocketAddr>,
    pub transport: TransportKind,
    /// `--tls-ca`, `--tls-cert`, `--tls-key`.
    pub tls: crate::tls::TlsSettings,
    /// Where SIP listens; an unspecified IP (0.0.0.0, ::) listens on every address.
    pub bind: SocketAddr,
    /// No `bind` was given: port 5060 is a wish, an ephemeral port when it is taken.
    pub bind_default: bool,
    pub media_ip: Option<std::net::IpAddr>,
    pub stun: Option<SocketAddr>,
    pub turn: Option<TurnSettings>,
    /// `transport` was given (flag or file): names are resolved for it (SRV), not by NAPTR.
    pub transport_given: bool,
    /// `--dns`: the DNS server for every name; `None` = the system's resolv.conf.
    pub dns: Option<SocketAddr>,
    /// RFC 3263 §4.3: the proxy name's further targets, tried after `proxy` fails.
    pub proxy_alternates: Vec<SocketAddr>,
    /// Names resolved so far and what they gave (reported as `resolved` events).
    pub resolutions: Vec<Resolved>,
    /// Domains of request targets resolved by RFC 3263 (sent there when no proxy is set).
    pub resolved_hosts: Vec<(String, Vec<(TransportKind, SocketAddr)>)>,
    pub ice: bool,
    pub aggressive_nomination: bool,
    pub codecs: Vec<CodecKind>,
    pub rtcp_mux: bool,
    /// What our Opus fmtp asks for (`--opus-fec`, `--opus-dtx`).
    pub opus: sdp::audio::OpusWants,
    /// Offer mux without component 2 (a mux-only agent, RFC 8445 §5.1.1.1).
    pub rtcp_mux_only: bool,
    /// SRTP for the media (`--srtp`, `srtp`).
    pub srtp: sdp::offer_answer::SrtpPolicy,
    /// DTLS-SRTP role preference (`--dtls-setup`, `dtls_setup`).
    pub dtls_setup: Option<sdp::security::DtlsRole>,
    pub t1: Duration,
    pub expires: u32,
    /// CRLFCRLF keepalive interval; `None` = off (`keepalive = 0`).
    pub keepalive: Option<Duration>,
    /// RFC 5626 outbound on registrations.
    pub outbound: bool,
    /// Contact learning from received/rport (re-REGISTER once per change).
    pub contact_rewrite: bool,
    /// What peers may make us hold (connections, queues, transactions).
    pub limits: crate::sip_driver::Limits,
}

pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: match unknown_key(e.message()) {
            Some(key) => format!(
                "`{key}` is not a config file key: the file takes the account, network, ICE \
                 and codec settings and a [limits] table (README, \"Configuration file\"); \
                 give per-run flags such as --duration on the command line"
            ),
            None => e.to_string(),
        },
    })
}

/// The key serde refused as an unknown field, if that is the error.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The TURN server of `--turn` (a `turn:`/`turns:` URI or `HOST[:PORT]`) reached over the
/// transport the URI names or `--turn-transport` gives (UDP when neither does). The two must
/// agree: a `turns:` server is never reached in clear because of a flag.
pub fn turn_settings(
    value: &str,
    flag: Option<TurnTransport>,
    user: String,
    password: String,
    tls: TlsSettings,
    names: &crate::names::Names,
    resolutions: &mut Vec<Resolved>,
) -> Result<TurnSettings, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid {
        field: "turn",
        value: value.into(),
        why,
    };
    let target = crate::turn_uri::parse(value).map_err(invalid)?;
    let transport = match (target.transport, flag) {
        (Some(uri), Some(flag)) if uri != flag => {
            return Err(invalid(format!(
                "the URI says {uri} but turn_transport says {flag}"
            )))
        }
        (uri, flag) => uri.or(flag).unwrap_or(TurnTransport::Udp),
    };
    // RFC 8656 §4 (RFC 5928): a name without a port is looked up by SRV for the transport.
    let srv_prefix = match transport {
        TurnTransport::Udp => "_turn._udp",
        TurnTransport::Tcp => "_turn._tcp",
        TurnTransport::Tls => "_turns._tcp",
    };
    let host_port = match target.port {
        Some(_) => target.host_port(transport),
        None if target.host.contains(':') => format!("[{}]", target.host),
        None => target.host.clone(),
    };
    let server = names.server(
        &host_port,
        "turn",
        srv_prefix,
        crate::turn_uri::default_port(transport),
        resolutions,
    )?;
    Ok(TurnSettings {
        server: ice::agent::TurnServer {
            addr: server,
            username: user,
            password,
            transport,
        },
        host: target.host,
        tls,
    })
}

/// Flags over environment over file over defaults.
pub fn merge(
    flags: &AccountArgs,
    ice: &IceArgs,
    file: &FileConfig,
    env_password: Option<String>,
) -> Result<Settings, ConfigError> {
    let pick = |f: &Option<String>, c: &Option<String>| f.clone().or_else(|| c.clone());
    let transport = match pick(&flags.transport, &file.transport)
        .unwrap_or_else(|| "udp".into())
        .to_ascii_lowercase()
        .as_str()
    {
        "udp" => TransportKind::Udp,
        "tcp" => TransportKind::Tcp,
        "tls" => TransportKind::Tls,
        other => {
            return Err(ConfigError::Invalid {
                field: "transport",
                value: other.into(),
                why: "udp, tcp or tls".into(),
            })
        }
    };
    let bind = match (&flags.bind, &file.bind) {
        (Some(b), _) => *b,
        (None, Some(b)) => b.parse().map_err(|_| ConfigError::Invalid {
            field: "bind",
            value: b.clone(),
            why: "expected IP:PORT".into(),
        })?,
        // Like pjsua and baresip: every address, port 5060 when it is free (`bind_default`).
        (None, None) => SocketAddr::from(([0, 0, 0, 0], DEFAULT_SIP_PORT)),
    };
    let bind_default = flags.bind.is_none() && file.bind.is_none();
    let media_ip = match (ice.media_ip, &file.media_ip) {
        (Some(ip), _) => Some(ip),
        (None, Some(s)) => Some(s.parse().map_err(|_| ConfigError::Invalid {
            field: "media_ip",
            value: s.clone(),
            why: "expected an IP address".into(),
        })?),
        (None, None) => None,
    };
    let dns = match (flags.dns, &file.dns) {
        (Some(d), _) => Some(d),
        (None, Some(d)) => Some(d.parse().map_err(|_| ConfigError::Invalid {
            field: "dns",
            value: d.clone(),
            why: "expected IP:PORT".into(),
        })?),
        (None, None) => None,
    };
    let names = crate::names::Names {
        dns,
        family: crate::dns::Family::of(&bind),
    };
    let mut resolutions = Vec::new();
    let (proxy, proxy_alternates, transport) = match pick(&flags.proxy, &file.proxy) {
        None => (None, Vec::new(), transport),
        Some(p) => {
            let given = pick(&flags.transport, &file.transport).map(|_| transport);
            let (targets, resolution) = names.proxy(&p, given, "proxy")?;
            let mut addrs = targets.iter().map(|(_, a)| *a);
            let first = addrs.next();
            let chosen = targets.first().map_or(transport, |(t, _)| *t);
            resolutions.extend(resolution);
            (first, addrs.collect(), chosen)
        }
    };
    let stun = pick(&ice.stun, &file.stun)
        .map(|s| names.server(&s, "stun", "_stun._udp", 3478, &mut resolutions))
        .transpose()?;
    let turn_transport = pick(&ice.turn_transport, &file.turn_transport)
        .map(|t| {
            crate::turn_uri::parse_transport(&t).map_err(|why| ConfigError::Invalid {
                field: "turn_transport",
                value: t.clone(),
                why,
            })
        })
        .transpose()?;
    let tls = crate::tls::TlsSettings {
        ca_file: flags.tls_ca.clone().or_else(|| file.tls_ca.clone()),
        cert_file: flags.tls_cert.clone().or_else(|| file.tls_cert.clone()),
        key_file: flags.tls_key.clone().or_else(|| file.tls_key.clone()),
    };
    let turn = match pick(&ice.turn, &file.turn) {
        None => None,
        Some(t) => Some(turn_settings(
            &t,
            turn_transport,
            pick(&ice.turn_user, &file.turn_user).unwrap_or_default(),
            pick(&ice.turn_password, &file.turn_password).unwrap_or_default(),
            // One TLS configuration for SIP and TURN (`--tls-ca`, `--tls-cert`, `--tls-key`).
            tls.clone(),
            &names,
            &mut resolutions,
        )?),
    };
    let nomination = pick(&ice.nomination, &file.nomination).unwrap_or_else(|| "regular".into());
    let aggressive_nomination = match nomination.to_ascii_lowercase().as_str() {
        "regular" => false,
        "aggressive" => true,
        other => {
            return Err(ConfigError::Invalid {
                field: "nomination",
                value: other.into(),
                why: "regular or aggressive".into(),
            })
        }
    };
    let codecs = match (&ice.codecs, &file.codecs) {
        (Some(list), _) => crate::cli_values::parse_codecs(list.split(',')),
        (None, Some(list)) => crate::cli_values::parse_codecs(list.iter().map(String::as_str)),
        (None, None) => Ok(CodecKind::DEFAULT_CALL.to_vec()),
    }
    .map_err(|why| ConfigError::Invalid {
        field: "codecs",
        value: ice
            .codecs
            .clone()
            .unwrap_or_else(|| file.codecs.clone().unwrap_or_default().join(",")),
        why,
    })?;
    let srtp = match pick(&ice.srtp, &file.srtp) {
        Some(name) => crate::cli_values::parse_srtp(&name).map_err(|why| ConfigError::Invalid {
            field: "srtp",
            value: name.clone(),
            why,
        })?,
        None => sdp::offer_answer::SrtpPolicy::Off,
    };
    let dtls_setup = match pick(&ice.dtls_setup, &file.dtls_setup) {
        Some(name) => {
            crate::cli_values::parse_dtls_setup(&name).map_err(|why| ConfigError::Invalid {
                field: "dtls_setup",
                value: name.clone(),
                why,
            })?
        }
        None => None,
    };
    if file.t1_ms == Some(0) {
        return Err(ConfigError::Invalid {
            field: "t1_ms",
            value: "0".into(),
            why: "at least 1 ms".into(),
        });
    }
    Ok(Settings {
        aor: pick(&flags.aor, &file.aor),
        password: flags
            .password
            .clone()
            .or(env_password)
            .or_else(|| file.password.clone()),
        auth_user: pick(&flags.auth_user, &file.auth_user),
        proxy,
        proxy_alternates,
        transport_given: pick(&flags.transport, &file.transport).is_some(),
        dns,
        resolutions,
        resolved_hosts: Vec::new(),
        transport,
        tls,
        bind,
        bind_default,
        media_ip,
        stun,
        turn,
        ice: !(ice.no_ice || file.no_ice.unwrap_or(false)),
        aggressive_nomination,
        codecs,
        rtcp_mux: ice.rtcp_mux.or(file.rtcp_mux).unwrap_or(true),
        opus: sdp::audio::OpusWants {
            inband_fec: ice.opus_fec.or(file.opus_fec).unwrap_or(true),
            dtx: ice.opus_dtx.or(file.opus_dtx).unwrap_or(false),
        },
        rtcp_mux_only: ice.rtcp_mux_only || file.rtcp_mux_only.unwrap_or(false),
        srtp,
        dtls_setup,
        t1: Duration::from_millis(flags.t1_ms.or(file.t1_ms).unwrap_or(500)),
        expires: flags.expires.or(file.expires).unwrap_or(3600),
        keepalive: match flags.keepalive.or(file.keepalive) {
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
            None => Some(DEFAULT_KEEPALIVE),
        },
        outbound: flags.outbound.or(file.outbound).unwrap_or(true),
        contact_rewrite: flags
            .contact_rewrite
            .or(file.contact_rewrite)
            .unwrap_or(true),
        limits: crate::limits_config::merge(
            &flags.limits,
            &file.limits.clone().unwrap_or_default(),
        )?,
    })
}

/// Reads `--config` (if any), the environment, and the flags.
pub fn load(flags: &AccountArgs, ice: &IceArgs) -> Result<Settings, ConfigError> {
    let file = match &flags.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    merge(flags, ice, &file, std::env::var(PASSWORD_ENV).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
aor = "sip:alice@example.com"
password = "from-file"
proxy = "127.0.0.1:5070"
transport = "tcp"
stun = "127.0.0.1:3478"
codecs = ["pcma"]
rtcp_mux = false
nomination = "aggressive"
t1_ms = 250
"#;

    #[test]
    fn file_values_apply_when_no_flag() {
        let file: FileConfig = toml::from_str(FILE).unwrap();
        let s = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap();
        assert_eq!(s.aor.as_deref(), Some("sip:alice@example.com"));
        assert_eq!(s.password.as_deref(), Some("from-file"));
        assert_eq!(s.proxy, Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(s.transport, TransportKind::Tcp);
        assert_eq!(s.codecs, vec![CodecKind::Pcma]);
        assert!(!s.rtcp_mux);
        assert!(s.aggressive_nomination);
        assert_eq!(s.t1, Duration::from_millis(250));
        assert!(s.ice);
    }

    #[test]
    fn flags_win_over_env_over_file() {
        let file: FileConfig = toml::from_str(FILE).unwrap();
        let flags = AccountArgs {
            aor: Some("sip:bob@example.com".into()),
            transport: Some("udp".into()),
            ..AccountArgs::default()
        };
        let ice = IceArgs {
            codecs: Some("pcmu,pcma".into()),
            rtcp_mux: Some(true),
            no_ice: true,
            ..IceArgs::default()
        };
        let s = merge(&flags, &ice, &file, Some("from-env".into())).unwrap();
        assert_eq!(s.aor.as_deref(), Some("sip:bob@example.com"));
        assert_eq!(s.password.as_deref(), Some("from-env"));
        assert_eq!(s.transport, TransportKind::Udp);
        assert_eq!(s.codecs, vec![CodecKind::Pcmu, CodecKind::Pcma]);
        assert!(s.rtcp_mux);
        assert!(!s.ice);
        let flags = AccountArgs {
            password: Some("from-flag".into()),
            ..AccountArgs::default()
        };
        let s = merge(&flags, &IceArgs::default(), &file, Some("from-env".into())).unwrap();
        assert_eq!(s.password.as_deref(), Some("from-flag"));
    }

    #[test]
    fn srtp_comes_from_the_flag_or_the_file_and_an_unknown_mode_is_named() {
        use sdp::offer_answer::SrtpPolicy;
        let file: FileConfig = toml::from_str("srtp = \"sdes\"").unwrap();
        let s = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap();
        assert_eq!(s.srtp, SrtpPolicy::Sdes);
        let ice = IceArgs {
            srtp: Some("optional".into()),
            ..IceArgs::default()
        };
        let s = merge(&AccountArgs::default(), &ice, &file, None).unwrap();
        assert_eq!(s.srtp, SrtpPolicy::Optional, "the flag wins");
        let file: FileConfig = toml::from_str("srtp = \"dtls\"").unwrap();
        let s = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap();
        assert_eq!(s.srtp, SrtpPolicy::Dtls);
        let file: FileConfig = toml::from_str("srtp = \"zrtp\"").unwrap();
        let err = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap_err();
        assert!(
            err.to_string().starts_with("srtp") && err.to_string().contains("unknown SRTP mode"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let file: FileConfig = toml::from_str("transport = \"sctp\"").unwrap();
        let err = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap_err();
        assert!(err.to_string().starts_with("transport"), "{err}");
        let ice = IceArgs {
            codecs: Some("gsm".into()),
            ..IceArgs::default()
        };
        let err = merge(&AccountArgs::default(), &ice, &FileConfig::default(), None).unwrap_err();
        assert!(err.to_string().contains("gsm"), "{err}");
        assert!(toml::from_str::<FileConfig>("colour = 1").is_err());
    }

    fn turn_of(turn: &str, flag: Option<&str>) -> Result<TurnSettings, ConfigError> {
        let ice = IceArgs {
            turn: Some(turn.into()),
            turn_transport: flag.map(str::to_owned),
            turn_user: Some("alice".into()),
            ..IceArgs::default()
        };
        merge(&AccountArgs::default(), &ice, &FileConfig::default(), None)
            .map(|s| s.turn.expect("turn configured"))
    }

    #[test]
    fn turn_transport_from_the_uri_the_flag_or_udp() {
        let t = turn_of("192.0.2.7", None).unwrap();
        assert_eq!(
            (t.server.transport, t.server.addr, t.host.as_str()),
            (
                TurnTransport::Udp,
                "192.0.2.7:3478".parse().unwrap(),
                "192.0.2.7"
            )
        );
        let t = turn_of("192.0.2.7", Some("TLS")).unwrap();
        assert_eq!(
            (t.server.transport, t.server.addr.port()),
            (TurnTransport::Tls, 5349)
        );
        let t = turn_of("turn:192.0.2.7:3479?transport=tcp", None).unwrap();
        assert_eq!(
            (t.server.transport, t.server.addr.port()),
            (TurnTransport::Tcp, 3479)
        );
        let t = turn_of("turns:[::1]", Some("tls")).unwrap();
        assert_eq!(t.server.transport, TurnTransport::Tls);
        assert_eq!(t.server.addr, "[::1]:5349".parse().unwrap());
        assert_eq!(t.host, "::1");
        let file: FileConfig =
            toml::from_str("turn = \"192.0.2.7:9\"\nturn_transport = \"tcp\"").unwrap();
        let s = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap();
        assert_eq!(s.turn.map(|t| t.server.transport), Some(TurnTransport::Tcp));
    }

    #[test]
    fn turn_settings_that_disagree_are_refused() {
        // A turns: server is never reached in clear because of a flag.
        let err = turn_of("turns:192.0.2.7", Some("udp"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("turn:") && err.contains("tls"), "{err}");
        let err = turn_of("192.0.2.7", Some("dtls")).unwrap_err().to_string();
        assert!(err.starts_with("turn_transport"), "{err}");
        let err = turn_of("turns:192.0.2.7?transport=udp", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("DTLS"), "{err}");
    }

    #[test]
    fn defaults() {
        let s = merge(
            &AccountArgs::default(),
            &IceArgs::default(),
            &FileConfig::default(),
            None,
        )
        .unwrap();
        assert_eq!(s.transport, TransportKind::Udp);
        assert_eq!(
            s.srtp,
            sdp::offer_answer::SrtpPolicy::Off,
            "SRTP is off unless asked for"
        );
        assert!(s.rtcp_mux);
        assert_eq!(s.t1, Duration::from_millis(500));
        assert_eq!(s.codecs, vec![CodecKind::Pcmu, CodecKind::Pcma]);
        let names = crate::names::Names {
            dns: None,
            family: crate::dns::Family::V4,
        };
        let mut resolutions = Vec::new();
        let stun = names.server("127.0.0.1", "stun", "_stun._udp", 3478, &mut resolutions);
        assert_eq!(stun.unwrap().port(), 3478);
        assert!(resolutions.is_empty(), "an IP literal is not looked up");
        assert!(names
            .server("bad host", "stun", "_stun._udp", 3478, &mut resolutions)
            .is_err());
        assert_eq!(s.tls, crate::tls::TlsSettings::default());
    }

    #[test]
    fn tls_transport_takes_port_5061_and_the_tls_files() {
        let file: FileConfig =
            toml::from_str("transport = \"tls\"\nproxy = \"127.0.0.1\"\ntls_ca = \"/etc/ca.pem\"")
                .unwrap();
        let s = merge(&AccountArgs::default(), &IceArgs::default(), &file, None).unwrap();
        assert_eq!(s.transport, TransportKind::Tls);
        // RFC 3261 §19.1.2: 5061 for TLS.
        assert_eq!(s.proxy, Some("127.0.0.1:5061".parse().unwrap()));
        assert_eq!(s.tls.ca_file, Some("/etc/ca.pem".into()));
        let flags = AccountArgs {
            proxy: Some("127.0.0.1:5070".into()),
            tls_cert: Some("/c.pem".into()),
            ..AccountArgs::default()
        };
        let s = merge(&flags, &IceArgs::default(), &file, None).unwrap();
        assert_eq!(s.proxy, Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(s.transport, TransportKind::Tls);
        assert_eq!(s.tls.cert_file, Some("/c.pem".into()));
    }
}
