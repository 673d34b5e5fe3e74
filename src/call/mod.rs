//! One call: a SIP dialog (through the signalling channels), one SDP session, one ICE agent
//! for the audio stream and the media it gates. `engine` holds the sans-IO `CallCore` and
//! its tokio driver; this file holds what a call is set up with and what it ends with.

pub mod control;
mod engine;
mod ice_view;
pub mod net;
mod turn_stream;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use engine::{
    run_callee, run_callee_keeping_ua, run_caller, run_caller_keeping_ua, CallCore, Input, Output,
    STOPPED_WAITING,
};

use crate::config::TurnSettings;
use crate::events::{Emitter, Event};
use crate::media::codec::CodecKind;
use crate::media::source::Source;
use crate::media::stats::MediaSummary;
use crate::pcap::Capture;

/// Everything a call needs besides its SIP user agent.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Names this phone in events ("caller", "callee", "phone").
    pub label: String,
    /// Run ICE (false = plain RFC 3264, `--no-ice`).
    pub ice: bool,
    /// Host addresses to bind media sockets on (one base per address and component).
    pub host_ips: Vec<IpAddr>,
    /// RFC 8445 §5.1.1.1 forbids loopback candidates; the demo and tests allow them.
    pub allow_loopback: bool,
    pub stun: Option<SocketAddr>,
    pub turn: Option<TurnSettings>,
    pub aggressive_nomination: bool,
    pub rtcp_mux: bool,
    /// With `rtcp_mux`: offer no RTCP component at all (a mux-only agent, RFC 8445
    /// §5.1.1.1). Off by default: the initial offer carries component 2 too, for peers that
    /// refuse mux, and drops it when the answer accepts mux (RFC 5761 §5.1.3).
    pub rtcp_mux_only: bool,
    /// SRTP for the media (`--srtp`): off, SDES required, SDES when the peer takes it, or
    /// DTLS-SRTP required.
    pub srtp: sdp::offer_answer::SrtpPolicy,
    /// DTLS-SRTP: our preferred role (`--dtls-setup`), `None` for `actpass`.
    pub dtls_setup: Option<sdp::security::DtlsRole>,
    /// What our Opus fmtp asks of the peer's encoder (`--opus-fec`, `--opus-dtx`).
    pub opus: sdp::audio::OpusWants,
    /// Measure audio levels for a meter (`icephone phone`'s `level`); off elsewhere.
    pub level_meter: bool,
    /// The SDES suites we offer (in this order) and accept; every one we implement unless
    /// narrowed (a peer that mishandles one).
    pub srtp_suites: Vec<crate::media::srtp::SrtpSuite>,
    /// Our codecs in preference order (`--codecs`): offered in this order, and the first
    /// of them the offer has is what we answer with.
    pub codecs: Vec<CodecKind>,
    pub source: Source,
    pub dtmf: Option<String>,
    pub echo: bool,
    pub record: Option<PathBuf>,
    /// A sound device that plays the received audio (`--audio-device`).
    pub playback: Option<crate::media::device::PlaybackSink>,
    /// Keep the received audio in memory for `CallOutcome::recorded` even without `record`.
    pub keep_audio: bool,
    /// Caller: hang up after this much media time (`--duration`).
    pub duration: Option<Duration>,
    /// Callee: answer this long after ringing (`--answer-after`).
    pub answer_after: Duration,
    /// Callee: answer when this is notified (the user pressed Enter) instead of after
    /// `answer_after`.
    pub answer_on_command: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// Callee: no 180 until a valid pair exists (RFC 8839 §7.1).
    pub alert_after_ice: bool,
    /// Inbound traffic on these IPs is dropped (the demo's firewalled interface).
    pub blocked_ips: Vec<IpAddr>,
    /// Network namespace (`ip netns` name) the media sockets are made in; `None` = ours.
    pub netns: Option<String>,
    /// Caller: put the call on hold (re-INVITE sendonly) this long after it is established,
    /// and resume it `hold_for` later.
    pub hold_after: Option<Duration>,
    pub hold_for: Duration,
    pub capture: Option<Capture>,
    pub emitter: Emitter,
    /// Stop waiting for STUN/TURN servers after this long (RFC 8839 §7.1 says gather before
    /// the INVITE; this bounds it).
    pub gather_timeout: Duration,
    /// Ctrl-C cancels or hangs up (the CLI); tests and the demo leave it off.
    pub handle_ctrl_c: bool,
    /// Give up on ICE (no selected pair) after this long: the call ends with an ICE failure.
    pub ice_timeout: Duration,
    /// Connectivity-check retransmissions (None = RFC 8489 §6.2.1 defaults, 39.5 s to fail).
    pub check_retransmit: Option<ice::stun::RetransmitConfig>,
    /// Consent freshness timing (None = RFC 7675 §5.1: checks every ~5 s, lost after 30 s).
    pub consent: Option<ice::agent::ConsentConfig>,
    /// Commands from outside while the call runs (the scenario runner); None = timed only.
    pub control: Option<control::CallControl>,
    /// Our AOR when the phone registered: each registration refresh the user agent reports
    /// during or between calls is emitted as a `registered` event for it.
    pub registered_aor: Option<String>,
}

impl CallOptions {
    /// Reports a registration refresh (or its failure) the user agent saw between calls.
    pub(crate) fn report_registration(&self, event: &crate::signalling::UaEvent) {
        if let Some(e) = self.registration_event(event) {
            self.emitter.emit(e);
        }
    }

    /// The event for a registration refresh the user agent saw (a failure is logged).
    pub(crate) fn registration_event(&self, event: &crate::signalling::UaEvent) -> Option<Event> {
        use crate::signalling::UaEvent;
        let aor = self.registered_aor.as_ref()?;
        match event {
            UaEvent::Registered {
                expires,
                public_address,
            } => Some(Event::Registered {
                agent: self.label.clone(),
                aor: aor.clone(),
                expires: *expires,
                public_address: public_address.map(|a| a.to_string()),
            }),
            UaEvent::RegisterFailed {
                status,
                reason,
                local,
            } => {
                let why = crate::signalling::failure_text(*status, reason, *local);
                tracing::warn!(%aor, "registration refresh failed: {why}");
                None
            }
            _ => None,
        }
    }
    /// Sensible defaults for a phone on `ips`.
    pub fn new(label: &str, ips: Vec<IpAddr>, emitter: Emitter) -> CallOptions {
        CallOptions {
            label: label.into(),
            ice: true,
            host_ips: ips,
            allow_loopback: false,
            stun: None,
            turn: None,
            aggressive_nomination: false,
            rtcp_mux: true,
            rtcp_mux_only: false,
            srtp: sdp::offer_answer::SrtpPolicy::Off,
            dtls_setup: None,
            opus: sdp::audio::OpusWants::default(),
            level_meter: false,
            srtp_suites: crate::media::srtp::SrtpSuite::SDES_OFFER_ORDER.to_vec(),
            codecs: CodecKind::DEFAULT_CALL.to_vec(),
            source: Source::Silence,
            dtmf: None,
            echo: false,
            record: None,
            playback: None,
            keep_audio: false,
            duration: None,
            answer_after: Duration::ZERO,
            answer_on_command: None,
            alert_after_ice: false,
            blocked_ips: Vec::new(),
            netns: None,
            hold_after: None,
            hold_for: Duration::from_secs(1),
            capture: None,
            emitter,
            gather_timeout: Duration::from_secs(5),
            handle_ctrl_c: false,
            ice_timeout: Duration::from_secs(40),
            check_retransmit: None,
            consent: None,
            control: None,
            registered_aor: None,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// Exit code for the process (crate::exit).
    pub exit: u8,
    pub reason: String,
    pub media: MediaSummary,
    /// Decoded audio received (when recording).
    pub recorded: Vec<i16>,
    /// (local, remote) of the selected pair of component 1.
    pub selected: Option<(ice::Candidate, ice::Candidate)>,
    /// The default candidate we signalled for component 1.
    pub signalled_default: Option<SocketAddr>,
    /// "UPDATE"/"INVITE" sent or received, or None.
    pub updated_offer_sent: Option<String>,
    pub updated_offer_received: Option<String>,
    pub setup_ms: Option<u64>,
    pub ice_ms: Option<u64>,
    /// Whether ICE ran for the call, and if not why.
    pub ice_used: bool,
    pub ice_not_used_reason: Option<String>,
    /// RTP/RTCP datagrams that left a socket before component 1's pair was selected (must be
    /// 0 with ICE; RFC 8445 §12.1).
    pub media_sent_before_selection: u64,
    /// Datagrams that left, in total, that were RTP/RTCP (RFC 7983 first byte).
    pub media_datagrams_sent: u64,
    /// Whether the peer's last answer held us (hold/resume tests).
    pub hold_cycles: u32,
    /// ICE restarts (ours or the peer's, RFC 8445 §9) after which a pair was selected again.
    pub ice_restarts: u32,
    /// Every local ice-ufrag this call signalled, oldest first (one more per restart).
    pub local_ufrags: Vec<String>,
    /// Longest time between two RTP packets received (None before the second one).
    pub longest_rtp_gap_ms: Option<u64>,
}
