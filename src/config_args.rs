//! The account, network and ICE flags of `call`, `answer`, `register` and `config`. Each has a
//! key of the same name (underscores) in the config file (see [`crate::config::FileConfig`]).

use std::net::SocketAddr;

use clap::Args;

use crate::cli_values::{codec_list, dtls_setup_name, srtp_name};

/// Account and network settings: every SIP command uses them.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Account")]
pub struct AccountArgs {
    /// TOML file with these settings (flags win; keys listed in the README)
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Our address of record, e.g. sip:alice@example.com
    #[arg(long)]
    pub aor: Option<String>,
    /// SIP password (also from ICEPHONE_PASSWORD)
    #[arg(long)]
    pub password: Option<String>,
    /// Authentication user name when it differs from the AOR's user part
    #[arg(long)]
    pub auth_user: Option<String>,
    /// REGISTER expiry in seconds [default: 3600]
    #[arg(long, value_name = "SECS")]
    pub expires: Option<u32>,
    /// Send every request to this proxy / registrar: HOST[:PORT] or a sip:/sips: URI,
    /// resolved by RFC 3263 (SRV for --transport, NAPTR for a URI) with failover
    #[arg(long, help_heading = "Network")]
    pub proxy: Option<String>,
    /// DNS server IP:PORT for every name (proxy, registrar, targets, STUN, TURN) instead of
    /// the system's resolv.conf
    #[arg(long, value_name = "IP:PORT", help_heading = "Network")]
    pub dns: Option<SocketAddr>,
    /// SIP transport: udp, tcp or tls (SIP over TLS, proxy port 5061 by default) [default: udp]
    #[arg(long, help_heading = "Network")]
    pub transport: Option<String>,
    /// PEM file of CA certificates trusted for SIP over TLS, besides the system's
    #[arg(long, value_name = "FILE", help_heading = "Network")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// PEM client certificate (chain) for SIP over TLS, sent when the server asks
    #[arg(long, value_name = "FILE", help_heading = "Network")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", help_heading = "Network")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Local address for SIP (IP:PORT; port 0 picks one) [default: 0.0.0.0:5060, or an
    /// ephemeral port when 5060 is taken]
    #[arg(long, help_heading = "Network")]
    pub bind: Option<SocketAddr>,
    /// SIP timer T1 in ms, at least 1 (RFC 3261 §17) [default: 500]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Network")]
    pub t1_ms: Option<u64>,
    /// Seconds between CRLFCRLF keepalives on SIP flows that RFC 5626 outbound does not keep
    /// alive (a registrar without outbound, every dialog's flow); 0 turns them off [default: 25]
    #[arg(long, value_name = "SECS", help_heading = "Network")]
    pub keepalive: Option<u64>,
    /// RFC 5626 outbound on registrations (+sip.instance, reg-id, ;ob, STUN/CRLF keepalives
    /// with failure detection): true or false [default: true]
    #[arg(long, value_name = "BOOL", help_heading = "Network")]
    pub outbound: Option<bool>,
    /// Re-REGISTER with the public address the registrar reports (received/rport) as Contact,
    /// and use it in calls: true or false [default: true]
    #[arg(long, value_name = "BOOL", help_heading = "Network")]
    pub contact_rewrite: Option<bool>,
    #[command(flatten)]
    pub limits: crate::limits_config::LimitArgs,
}

/// ICE and codec settings: only commands that carry media (`call`, `answer`) use them.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "ICE")]
pub struct IceArgs {
    /// IP address for media host candidates (default: the address SIP binds to, or the
    /// address of the default route)
    #[arg(long)]
    pub media_ip: Option<std::net::IpAddr>,
    /// STUN server HOST:PORT for server-reflexive candidates
    #[arg(long)]
    pub stun: Option<String>,
    /// TURN server for relayed candidates: HOST[:PORT], or a turn:/turns: URI (RFC 7065), e.g.
    /// turn:HOST?transport=tcp or turns:HOST (TLS, port 5349)
    #[arg(long)]
    pub turn: Option<String>,
    /// How to reach the TURN server: udp, tcp or tls (RFC 8656 §3.1); the relay is UDP either
    /// way [default: udp, or what the turn: URI says]
    #[arg(long, value_name = "udp|tcp|tls")]
    pub turn_transport: Option<String>,
    /// User name for the TURN server's long-term credentials (RFC 8489 §9.2)
    #[arg(long)]
    pub turn_user: Option<String>,
    /// Password for the TURN server's long-term credentials
    #[arg(long)]
    pub turn_password: Option<String>,
    /// Plain RFC 3264 media without ICE
    #[arg(long)]
    pub no_ice: bool,
    /// ICE nomination: regular or aggressive [default: regular]
    #[arg(long)]
    pub nomination: Option<String>,
    /// Offer RTP and RTCP on one port (RFC 5761): true or false [default: true]
    #[arg(long, value_name = "BOOL")]
    pub rtcp_mux: Option<bool>,
    /// Offer rtcp-mux without RTCP candidates (RFC 8445 §5.1.1.1 mux-only agent); by
    /// default the offer also carries component 2 for peers that do not mux (RFC 5761 §5.1.3)
    #[arg(long)]
    pub rtcp_mux_only: bool,
    /// Ask the peer's Opus encoder for in-band FEC (RFC 7587 useinbandfec): true or false
    /// [default: true]
    #[arg(long, value_name = "BOOL", help_heading = "Media")]
    pub opus_fec: Option<bool>,
    /// Ask the peer's Opus encoder for DTX, nothing sent in silence (RFC 7587 usedtx): true
    /// or false [default: false]
    #[arg(long, value_name = "BOOL", help_heading = "Media")]
    pub opus_dtx: Option<bool>,
    /// Codecs in preference order, comma separated, any of opus, g722, pcmu, pcma
    /// [default: pcmu,pcma]
    #[arg(long, value_parser = codec_list, help_heading = "Media")]
    pub codecs: Option<String>,
    /// SRTP for the media: off (clear RTP), sdes (RTP/SAVP with a=crypto, RFC 4568,
    /// required), optional (RTP/AVP with a=crypto: SRTP when the peer takes it) or dtls
    /// (UDP/TLS/RTP/SAVP, keys from a DTLS handshake over the ICE path, RFC 5764, required)
    /// [default: off]
    #[arg(long, value_name = "off|sdes|optional|dtls", value_parser = srtp_name, help_heading = "Media")]
    pub srtp: Option<String>,
    /// With --srtp dtls: our DTLS role, as a=setup says it: active (client), passive
    /// (server) or actpass (the peer chooses; answering, we are then active) [default:
    /// actpass]
    #[arg(long, value_name = "active|passive|actpass", value_parser = dtls_setup_name, help_heading = "Media")]
    pub dtls_setup: Option<String>,
}
