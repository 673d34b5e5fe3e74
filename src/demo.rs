//! `icephone demo`: two phones in one process on loopback, with ICE and real SIP between
//! them. The caller has two host bases, 127.0.0.2 (signalled as the default because it was
//! added first and so has the higher local preference) and 127.0.0.1; inbound traffic on
//! 127.0.0.2 is dropped, standing for a firewalled interface, so ICE selects 127.0.0.1 and
//! the caller must send an updated offer (RFC 8839 §4.3.4). The caller plays a tone, the
//! callee records it, and the recording is checked with a Goertzel filter.

use std::net::IpAddr;
use std::time::Duration;

use crate::call::{run_callee, run_caller, CallOptions, CallOutcome};
use crate::events::Emitter;
use crate::exit;
use crate::media::goertzel::tone_ratio;
use crate::media::source::Source;
use crate::pcap::Capture;
use crate::signalling::{spawn as spawn_ua, UaConfig};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub tone_hz: f64,
    pub seconds: Duration,
    pub emitter: Emitter,
    pub capture: Option<Capture>,
    pub record: Option<std::path::PathBuf>,
    /// The callee's UA does not allow UPDATE (to show the re-INVITE path).
    pub callee_without_update: bool,
    /// With a TURN server the caller's default is its relayed candidate (no firewalled
    /// second address needed): ICE selects the host pair and the default still differs.
    pub turn: Option<crate::config::TurnSettings>,
}

#[derive(Debug, Clone)]
pub struct DemoReport {
    pub caller: CallOutcome,
    pub callee: CallOutcome,
    /// Fraction of the callee's recorded energy at the tone frequency.
    pub tone_ratio: f64,
    pub exit: u8,
}

const CALLER_DEFAULT_IP: [u8; 4] = [127, 0, 0, 2];
const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

pub async fn run(opts: DemoOptions) -> anyhow::Result<DemoReport> {
    let lo = IpAddr::from(LOOPBACK);
    let firewalled = IpAddr::from(CALLER_DEFAULT_IP);
    let t1 = Duration::from_millis(500);
    let callee_ua = spawn_ua(UaConfig {
        t1,
        capture: opts.capture.clone(),
        allow_update: !opts.callee_without_update,
        ..UaConfig::new((lo, 0).into(), "sip:callee@127.0.0.1")
    })
    .await?;
    let callee_addr = callee_ua.local;
    let caller_ua = spawn_ua(UaConfig {
        t1,
        capture: opts.capture.clone(),
        ..UaConfig::new((lo, 0).into(), "sip:caller@127.0.0.1")
    })
    .await?;

    let mut callee = CallOptions::new("callee", vec![lo], opts.emitter.clone());
    callee.allow_loopback = true;
    callee.record = opts.record.clone();
    callee.keep_audio = true;
    callee.answer_after = Duration::from_millis(200);
    callee.capture = opts.capture.clone();
    let mut caller = CallOptions::new("caller", vec![firewalled, lo], opts.emitter.clone());
    caller.allow_loopback = true;
    caller.blocked_ips = vec![firewalled];
    if let Some(turn) = &opts.turn {
        caller.host_ips = vec![lo];
        caller.blocked_ips.clear();
        caller.turn = Some(turn.clone());
    }
    caller.source = Source::tone(opts.tone_hz);
    caller.duration = Some(opts.seconds);
    caller.capture = opts.capture.clone();

    let callee_task = tokio::spawn(run_callee(callee, callee_ua));
    let target = format!("sip:callee@{callee_addr}");
    let caller_outcome = run_caller(caller, caller_ua, &target).await?;
    let callee_outcome = tokio::time::timeout(Duration::from_secs(10), callee_task)
        .await
        .map_err(|_| anyhow::anyhow!("the callee did not finish"))???;
    let ratio = tone_ratio(&callee_outcome.recorded, opts.tone_hz, 8000.0);
    let exit = if caller_outcome.exit != exit::OK {
        caller_outcome.exit
    } else if callee_outcome.exit != exit::OK {
        callee_outcome.exit
    } else if caller_outcome.selected.is_none() {
        exit::ICE
    } else if callee_outcome.media.rtp_received == 0 || ratio < 0.5 {
        exit::CALL
    } else {
        exit::OK
    };
    Ok(DemoReport {
        caller: caller_outcome,
        callee: callee_outcome,
        tone_ratio: ratio,
        exit,
    })
}

/// The demo's closing summary, for people.
pub fn summary(r: &DemoReport, tone_hz: f64) -> String {
    let mut s = String::new();
    let pair = |o: &CallOutcome| {
        o.selected
            .as_ref()
            .map(|(l, rm)| {
                format!(
                    "{} {} <-> {} {} ({})",
                    l.kind,
                    l.address,
                    rm.kind,
                    rm.address,
                    l.transport.as_str().to_ascii_lowercase()
                )
            })
            .unwrap_or_else(|| "none".into())
    };
    s += "icephone demo: two phones on loopback, real SIP over UDP, ICE-gated RTP\n";
    s += &format!("  selected pair (caller): {}\n", pair(&r.caller));
    s += &format!("  selected pair (callee): {}\n", pair(&r.callee));
    s += &format!(
        "  signalled default (caller): {}\n",
        r.caller
            .signalled_default
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into())
    );
    s += &format!(
        "  updated offer: {}\n",
        match (&r.caller.updated_offer_sent, &r.callee.updated_offer_received) {
            (Some(m), Some(_)) => format!(
                "sent by the caller as {m} (selected local candidate differs from the default) and answered by the callee"
            ),
            (Some(m), None) => format!("sent as {m}, not seen by the callee"),
            (None, _) => "not needed (the selected candidate is the default)".into(),
        }
    );
    s += &format!(
        "  setup: caller {} ms, callee {} ms; ICE: caller {} ms, callee {} ms (from remote candidates to selection)\n",
        opt_ms(r.caller.setup_ms),
        opt_ms(r.callee.setup_ms),
        opt_ms(r.caller.ice_ms),
        opt_ms(r.callee.ice_ms)
    );
    for (name, o) in [("caller", &r.caller), ("callee", &r.callee)] {
        s += &format!(
            "  RTP {name}: codec {} sent {} received {} lost {} jitter {:.2} ms; frames held before selection {}; media sent before selection {}\n",
            o.media.codec,
            o.media.rtp_sent,
            o.media.rtp_received,
            o.media.lost,
            o.media.jitter_ms,
            o.media.frames_held_before_selection,
            o.media_sent_before_selection
        );
        s += &format!(
            "  RTCP {name}: sent {} received {}; RTT {}; peer reports {} lost\n",
            o.media.rtcp_sent,
            o.media.rtcp_received,
            o.media
                .rtt_ms
                .map_or_else(|| "unknown".to_string(), |ms| format!("{ms:.1} ms")),
            o.media
                .remote_lost
                .map_or_else(|| "unknown".to_string(), |n| n.to_string()),
        );
    }
    s += &format!(
        "  callee's recording: {:.0}% of its energy at {tone_hz} Hz (Goertzel)\n",
        r.tone_ratio * 100.0
    );
    s += &format!(
        "  result: {}\n",
        if r.exit == exit::OK { "ok" } else { "FAILED" }
    );
    s
}

fn opt_ms(v: Option<u64>) -> String {
    v.map(|m| m.to_string()).unwrap_or_else(|| "-".into())
}
