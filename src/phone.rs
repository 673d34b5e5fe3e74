//! Turning resolved settings and flags into a SIP user agent and call options: the glue the
//! `call`, `answer` and `register` commands share.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;

use crate::call::CallOptions;
use crate::cli::{MediaArgs, OutputArgs};
use crate::config::{Settings, TransportKind};
use crate::events::Emitter;
use crate::media::source::Source;
use crate::media::wav;
use crate::pcap::Capture;
use crate::signalling::{UaConfig, UaHandle};

/// The IP media and SIP use: configured, else the bind address, else the source address the
/// routing table picks toward `toward` (a UDP connect sends nothing).
pub fn local_ip(settings: &Settings, toward: Option<SocketAddr>) -> IpAddr {
    if let Some(ip) = settings.media_ip {
        return ip;
    }
    if !settings.bind.ip().is_unspecified() {
        return settings.bind.ip();
    }
    let probe = toward.unwrap_or(SocketAddr::from(([192, 0, 2, 1], 9)));
    crate::netns::probe_source(probe).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

pub fn capture(output: &OutputArgs) -> anyhow::Result<Option<Capture>> {
    output
        .pcap
        .as_ref()
        .map(|p| Capture::create(p).with_context(|| format!("cannot create {}", p.display())))
        .transpose()
}

pub fn source(media: &MediaArgs) -> anyhow::Result<Source> {
    Ok(match (&media.play, media.tone) {
        (Some(path), _) => Source::samples(
            wav::read(path)
                // An io error says it all; `WavError::Io`'s own words would repeat it.
                .map_err(|e| match e {
                    wav::WavError::Io(io) => anyhow::Error::new(io),
                    other => anyhow::Error::new(other),
                })
                .with_context(|| format!("--play {}", path.display()))?
                .samples,
        ),
        (None, Some(hz)) => Source::tone(hz),
        (None, None) => Source::Silence,
    })
}

/// `--audio-device`, `--capture-device`, `--playback-device`: the sound devices to open
/// (none without these flags). An unknown name fails with the list of devices.
pub fn open_devices(media: &MediaArgs) -> anyhow::Result<crate::media::device::Devices> {
    let capture = media
        .capture_device
        .as_ref()
        .or(media.audio_device.as_ref());
    let playback = media
        .playback_device
        .as_ref()
        .or(media.audio_device.as_ref());
    if capture.is_none() && playback.is_none() {
        return Ok(Default::default());
    }
    Ok(crate::media::device::open(
        capture.map(String::as_str),
        playback.map(String::as_str),
    )?)
}

/// Starts the SIP user agent for these settings. `follow_redirects`: a 3xx to our INVITE
/// sends it on to the Contact (RFC 3261 §8.1.3.4) instead of failing the call.
pub async fn user_agent(
    settings: &Settings,
    ip: IpAddr,
    capture: Option<Capture>,
    max_calls: usize,
    register: bool,
    follow_redirects: bool,
) -> anyhow::Result<UaHandle> {
    let config = ua_config(settings, ip, capture, max_calls, register, follow_redirects)?;
    let bind = config.bind;
    crate::signalling::spawn(config)
        .await
        .with_context(|| format!("cannot bind SIP to {bind}"))
}

/// Server transactions one call can leave behind at once (see [`user_agent_multi`]).
const TRANSACTIONS_PER_CALL: usize = 4;

/// As [`user_agent`], taking up to `max_calls` incoming calls at once: each arrives on the
/// receiver as its own handle (see [`crate::signalling::spawn_multi`]).
pub async fn user_agent_multi(
    settings: &Settings,
    ip: IpAddr,
    capture: Option<Capture>,
    max_calls: usize,
    register: bool,
) -> anyhow::Result<(UaHandle, tokio::sync::mpsc::Receiver<UaHandle>)> {
    let config = multi_call_config(settings, ip, capture, max_calls, register)?;
    let bind = config.bind;
    crate::signalling::spawn_multi(config)
        .await
        .with_context(|| format!("cannot bind SIP to {bind}"))
}

/// As [`user_agent_multi`], for `icephone phone`: incoming REFERs come to the phone as
/// transfer events instead of being declined (see [`crate::signalling::spawn_phone`]).
pub async fn user_agent_phone(
    settings: &Settings,
    ip: IpAddr,
    capture: Option<Capture>,
    max_calls: usize,
    register: bool,
) -> anyhow::Result<(
    UaHandle,
    tokio::sync::mpsc::Receiver<UaHandle>,
    tokio::sync::mpsc::UnboundedReceiver<crate::signalling::transfer::TransferEvent>,
)> {
    let config = multi_call_config(settings, ip, capture, max_calls, register)?;
    let bind = config.bind;
    crate::signalling::spawn_phone(config)
        .await
        .with_context(|| format!("cannot bind SIP to {bind}"))
}

/// The configuration of a UA taking up to `max_calls` calls at once. Each call leaves up to
/// four server transactions for 32 s (INVITE in Accepted, BYE, a re-INVITE or UPDATE, a
/// CANCEL: RFC 6026 §8.7, RFC 3261 §17.2.2), often all from one source (a proxy, or sipp):
/// caps below that would answer 503 to calls `--max-calls` admits. The caps stay, raised to
/// what the admitted calls need.
fn multi_call_config(
    settings: &Settings,
    ip: IpAddr,
    capture: Option<Capture>,
    max_calls: usize,
    register: bool,
) -> anyhow::Result<UaConfig> {
    let mut config = ua_config(settings, ip, capture, max_calls, register, true)?;
    let needed = max_calls.saturating_mul(TRANSACTIONS_PER_CALL);
    let server = &mut config.limits.server;
    server.max_per_source = server.max_per_source.max(needed);
    server.max_transactions = server.max_transactions.max(needed);
    Ok(config)
}

fn ua_config(
    settings: &Settings,
    ip: IpAddr,
    capture: Option<Capture>,
    max_calls: usize,
    register: bool,
    follow_redirects: bool,
) -> anyhow::Result<UaConfig> {
    let aor = settings.aor.clone().unwrap_or_else(|| default_aor(ip));
    let credentials = settings.password.clone().map(|password| {
        let username = settings.auth_user.clone().unwrap_or_else(|| {
            aor.trim_start_matches("sips:")
                .trim_start_matches("sip:")
                .split('@')
                .next()
                .unwrap_or("icephone")
                .to_string()
        });
        sip::auth::Credentials { username, password }
    });
    // `--bind 0.0.0.0:PORT` (and the default) listens on every address; Via and Contact then
    // name `ip`, the address of the route toward the registrar or proxy.
    let wildcard = settings.bind.ip().is_unspecified();
    let bind = if wildcard {
        settings.bind
    } else {
        SocketAddr::new(ip, settings.bind.port())
    };
    let instance_id = (settings.outbound && register)
        .then(persisted_instance_id)
        .flatten();
    Ok(UaConfig {
        keepalive: settings.keepalive,
        instance_id,
        contact_rewrite: settings.contact_rewrite,
        advertise: wildcard.then_some(ip),
        port_fallback: settings.bind_default,
        bind,
        aor,
        proxy: settings.proxy,
        proxy_alternates: settings.proxy_alternates.clone(),
        resolved_hosts: settings.resolved_hosts.clone(),
        credentials,
        t1: settings.t1,
        max_calls,
        capture,
        allow_update: true,
        register,
        register_expires: settings.expires,
        transport: settings.transport,
        tls: Some(sip_tls(settings)?),
        netns: None,
        follow_redirects,
        limits: settings.limits,
    })
}

/// TLS for SIP: always available for sips: and `;transport=tls` targets. With `--transport
/// tls` or a TLS file given, the client configuration is built now, so a bad file stops the
/// program before anything is sent; otherwise on the first TLS connection (its failure then
/// fails that request, with the reason). RFC 5922 §7.3: each resolved target's certificate is
/// checked against the SIP domain the lookup started from (the URI's or `--proxy`'s host),
/// not the NAPTR/SRV target, which a spoofed DNS answer could name; an IP-literal target
/// against its IP.
pub fn sip_tls(settings: &Settings) -> anyhow::Result<crate::sip_driver::SipTls> {
    let mut tls = crate::sip_driver::SipTls {
        settings: settings.tls.clone(),
        ..Default::default()
    };
    let wanted = settings.transport == TransportKind::Tls
        || settings.tls != crate::tls::TlsSettings::default();
    if wanted {
        let config = crate::tls::client_config(&settings.tls).context("SIP over TLS")?;
        tls.config = Some(config);
    }
    for resolved in &settings.resolutions {
        for target in &resolved.resolution.targets {
            tls.names
                .insert(target.addr, resolved.resolution.name.clone());
        }
    }
    Ok(tls)
}

/// Call options from settings and the media flags.
pub fn call_options(
    label: &str,
    settings: &Settings,
    media: &MediaArgs,
    ip: IpAddr,
    emitter: Emitter,
    capture: Option<Capture>,
) -> anyhow::Result<CallOptions> {
    let mut o = CallOptions::new(label, vec![ip], emitter);
    o.ice = settings.ice;
    // RFC 8445 §5.1.1.1 excludes loopback candidates; a loopback-only setup has nothing else.
    o.allow_loopback = ip.is_loopback();
    o.stun = settings.stun;
    o.turn = settings.turn.clone();
    o.aggressive_nomination = settings.aggressive_nomination;
    o.rtcp_mux = settings.rtcp_mux;
    o.opus = settings.opus;
    o.rtcp_mux_only = settings.rtcp_mux_only;
    o.srtp = settings.srtp;
    o.dtls_setup = settings.dtls_setup;
    o.codecs = settings.codecs.clone();
    o.source = source(media)?;
    let devices = open_devices(media)?;
    if let Some(mic) = devices.source {
        o.source = Source::Device(mic);
    }
    o.playback = devices.sink;
    o.dtmf = media.dtmf.clone();
    if let Some(d) = &o.dtmf {
        crate::media::dtmf::DtmfSender::new(d).context("--dtmf")?;
    }
    o.echo = media.echo;
    if let Some(path) = &media.record {
        check_recording_path(path)?;
    }
    o.record = media.record.clone();
    o.capture = capture;
    o.handle_ctrl_c = true;
    o.gather_timeout = Duration::from_secs(5);
    Ok(o)
}

/// `--record FILE`: create the file now, before any call, so a path that cannot be written
/// fails the command (exit 1, naming the path) instead of losing the recording at hang-up.
/// It is left as a valid empty WAV; the call streams into it once media starts.
pub fn check_recording_path(path: &std::path::Path) -> anyhow::Result<()> {
    crate::media::wav_writer::WavWriter::create(path, 8000)
        .and_then(|w| w.finish())
        // The io error is the whole story; `WavError`'s own wording would repeat it.
        .map_err(|e| match e {
            crate::media::wav::WavError::Io(io) => anyhow::Error::new(io),
            other => anyhow::Error::new(other),
        })
        .with_context(|| format!("--record {}: cannot create the recording", path.display()))?;
    Ok(())
}

pub fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("{what}: {s} is not a duration"))
}

/// `sip:icephone@IP`, with the brackets an IPv6 host needs (RFC 3261 §25.1 `IPv6reference`).
pub fn default_aor(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("sip:icephone@{v4}"),
        IpAddr::V6(v6) => format!("sip:icephone@[{v6}]"),
    }
}

/// RFC 5626 §4.1: the `+sip.instance` URN, kept in the state file so it survives restarts.
/// Without a usable state file outbound is off for this run, and the user is told why.
fn persisted_instance_id() -> Option<String> {
    let Some(path) = crate::sip_driver::default_state_path() else {
        eprintln!(
            "icephone: warning: no state directory (XDG_STATE_HOME, HOME): RFC 5626 outbound is off"
        );
        return None;
    };
    match crate::sip_driver::instance_id_from_state_file(&path) {
        Ok(id) => Some(id),
        Err(e) => {
            eprintln!(
                "icephone: warning: {}: {e}: RFC 5626 outbound is off (--outbound false silences this)",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod aor_tests {
    use super::*;

    #[test]
    fn the_default_aor_brackets_an_ipv6_host() {
        assert_eq!(
            default_aor("127.0.0.1".parse().unwrap()),
            "sip:icephone@127.0.0.1"
        );
        let v6 = default_aor("::1".parse().unwrap());
        assert_eq!(v6, "sip:icephone@[::1]");
        assert!(v6.parse::<sip::message::Uri>().is_ok(), "{v6} parses");
    }
}
