//! DTLS-SRTP calls between two `CallCore`s in virtual time (`virtual_net`): the handshake
//! runs over the ICE-selected pair in both DTLS roles, with and without rtcp-mux, the audio
//! goes both ways while the wire carries no clear RTP, a wrong fingerprint ends the call
//! with the reason, an ICE restart keeps the association, and a peer without DTLS gets 488.

use std::time::Duration;

use sdp::offer_answer::SrtpPolicy;

use super::virtual_net::{Net, Run, World};
use super::virtual_srtp_tests::{
    assert_tones_both_ways, rtp_on_wire, tone_pair, wire_tone, CALLEE_TONE, CALLER_TONE,
    CLEAR_RTP_LEN,
};
use super::Input;
use crate::call::control::CallCommand;
use crate::events::Event;
use crate::exit;

/// The `dtls` events of one side: (state, component, role).
fn dtls_events(run: &Run, caller: bool) -> Vec<(String, u16, String)> {
    run.events(caller)
        .iter()
        .filter_map(|e| match e {
            Event::Dtls {
                state,
                component,
                role,
                ..
            } => Some((state.clone(), *component, role.clone())),
            _ => None,
        })
        .collect()
}

fn dtls_datagrams(run: &Run, from_caller: bool) -> usize {
    run.wire
        .iter()
        .filter(|(c, d)| *c == from_caller && crate::media::srtp::is_dtls(d))
        .count()
}

/// A caller offering `a=setup:active` instead of `actpass` (RFC 8842 allows either): the
/// callee answers `passive` and is the DTLS server.
fn offer_active(sdp: String) -> String {
    sdp.replace("a=setup:actpass", "a=setup:active")
}

fn dtls_call(rtcp_mux: bool, caller_is_client: bool) -> Run {
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Dtls, SrtpPolicy::Dtls, 2);
    caller.rtcp_mux = rtcp_mux;
    callee.rtcp_mux = rtcp_mux;
    let net = Net {
        edit_offer: if caller_is_client {
            offer_active
        } else {
            |sdp| sdp
        },
        ..Net::default()
    };
    World::new(caller, callee, net).finish()
}

#[test]
fn dtls_calls_in_both_roles_with_and_without_rtcp_mux_carry_both_tones_encrypted() {
    for rtcp_mux in [true, false] {
        for caller_is_client in [false, true] {
            let case = format!("rtcp-mux {rtcp_mux}, caller is client {caller_is_client}");
            let run = dtls_call(rtcp_mux, caller_is_client);
            assert_tones_both_ways(&run);
            let components: &[u16] = if rtcp_mux { &[1] } else { &[1, 2] };
            for (caller, outcome) in [(true, &run.caller), (false, &run.callee)] {
                assert_eq!(outcome.media.keying, "dtls", "{case}");
                assert!(outcome.media.srtp_suite.is_some(), "{case}");
                let client = caller == caller_is_client;
                let role = if client { "client" } else { "server" };
                let expected: Vec<(String, u16, String)> = components
                    .iter()
                    .map(|c| ("connected".to_string(), *c, role.to_string()))
                    .collect();
                let mut seen = dtls_events(&run, caller);
                seen.sort();
                assert_eq!(seen, expected, "{case}: side caller={caller}");
                assert!(dtls_datagrams(&run, caller) >= 2, "{case}: handshake");
                // Frames wait for the keys rather than being spent unsent: what the media
                // event counts went on the wire.
                assert_eq!(
                    outcome.media.rtp_sent as usize,
                    rtp_on_wire(&run, caller).len(),
                    "{case}: side caller={caller}"
                );
            }
            for (from_caller, tone) in [(true, CALLER_TONE), (false, CALLEE_TONE)] {
                let packets = rtp_on_wire(&run, from_caller);
                assert!(packets.len() >= 40, "{case}: {} packets", packets.len());
                assert!(
                    packets.iter().all(|p| p.len() > CLEAR_RTP_LEN),
                    "{case}: every RTP datagram carries an authentication tag"
                );
                let on_wire = wire_tone(&packets, tone);
                assert!(
                    on_wire < 0.05,
                    "{case}: tone in clear on the wire ({on_wire})"
                );
            }
        }
    }
}

#[test]
fn a_wrong_fingerprint_ends_the_call_with_the_reason_and_no_media() {
    let (caller, callee) = tone_pair(SrtpPolicy::Dtls, SrtpPolicy::Dtls, 2);
    let net = Net {
        // The answer names another certificate than the one the callee presents.
        edit_answer: |sdp| {
            sdp.lines()
                .map(|l| match l.strip_prefix("a=fingerprint:sha-256 ") {
                    Some(_) => format!("a=fingerprint:sha-256 {}\r\n", ["AB"; 32].join(":")),
                    None => format!("{l}\r\n"),
                })
                .collect()
        },
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    assert_eq!(run.caller.exit, exit::CALL, "{}", run.caller.reason);
    assert!(
        run.caller.reason.contains("DTLS-SRTP failed") && run.caller.reason.contains("fingerprint"),
        "{}",
        run.caller.reason
    );
    assert!(dtls_events(&run, true)
        .iter()
        .any(|(state, _, _)| state == "failed"));
    // Never clear RTP, and no SRTP either: neither side got keys.
    assert!(rtp_on_wire(&run, true).is_empty());
    assert!(rtp_on_wire(&run, false).is_empty());
    assert_eq!(run.callee.media.rtp_received, 0);
}

#[test]
fn an_ice_restart_keeps_the_dtls_association() {
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Dtls, SrtpPolicy::Dtls, 3);
    caller.rtcp_mux = true;
    callee.rtcp_mux = true;
    let mut world = World::new(caller, callee, Net::default());
    let connected = |w: &World| {
        w.events(true)
            .iter()
            .any(|e| matches!(e, Event::Dtls { state, .. } if state == "connected"))
    };
    assert!(
        world.run_until(connected, Duration::from_secs(5)),
        "connected"
    );
    world.advance(Duration::from_millis(600));
    world.input(true, Input::Command(CallCommand::RestartIce));
    let run = world.finish();
    assert_tones_both_ways(&run);
    for (caller, outcome) in [(true, &run.caller), (false, &run.callee)] {
        assert_eq!(outcome.ice_restarts, 1, "caller={caller}: restarted");
        // RFC 8842 §5.3: same tls-id, same association: one handshake, no replays.
        assert_eq!(dtls_events(&run, caller).len(), 1, "caller={caller}");
        assert_eq!(outcome.media.keying, "dtls");
        assert_eq!(outcome.media.srtp_replays, 0);
    }
}

#[test]
fn a_dtls_offer_to_an_sdes_callee_gets_488_with_the_reason() {
    let (caller, callee) = tone_pair(SrtpPolicy::Dtls, SrtpPolicy::Sdes, 2);
    let run = World::new(caller, callee, Net::default()).finish();
    assert_eq!(run.caller.exit, exit::CALL);
    assert!(
        run.caller.reason.starts_with("488"),
        "{}",
        run.caller.reason
    );
    assert!(
        run.callee.reason.contains("DTLS-SRTP") && run.callee.reason.contains("--srtp is sdes"),
        "{}",
        run.callee.reason
    );
    assert!(run.wire.is_empty(), "no media at all");
}
