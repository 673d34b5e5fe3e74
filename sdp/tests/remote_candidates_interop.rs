//! Updated offers whose `a=remote-candidates` break RFC 8839 §5.2's one entry per component,
//! as baresip's re-INVITEs do (issue 12, faults 1 and 2): the answer's default must be the local
//! candidate of our selected pair as the peer sees it, extra entries are reported and ignored,
//! and an entry that is none of ours, or was never checked, never asks for an ICE restart.

mod common;

use std::net::SocketAddr;

use common::{addr, gathered, ice_stream, session};
use sdp::ice_attrs::read_ice;
use sdp::offer_answer::{IgnoredBecause, PairState, PairView, UpdatedOfferResponse};
use sdp::{parse, SessionDescription};

/// Our agent as the answerer sees it: the candidates of `common::gathered()` (host
/// 198.51.100.1:500x, srflx 203.0.113.1:600x, relay 192.0.2.100:700x) and a selected pair per
/// component whose local is the srflx. As in the real agent, the check list pairs the srflx's
/// host base, so (host, default) is valid too: that is what made us pick the host.
struct Agent {
    selected: [SocketAddr; 2],
    /// The state of every pair that is not the selected one.
    others: PairState,
}

impl PairView for Agent {
    fn pair_state(&self, _: usize, component: u16, local: SocketAddr, _: SocketAddr) -> PairState {
        let base = addr(&format!("198.51.100.1:{}", 4999 + component));
        if local == self.selected[usize::from(component) - 1] || local == base {
            PairState::Valid
        } else {
            self.others
        }
    }

    fn is_local_candidate(&self, _: usize, component: u16, address: SocketAddr) -> bool {
        gathered()
            .iter()
            .any(|c| c.component == component && c.address == address)
    }

    fn selected_local(&self, _: usize, component: u16) -> Option<SocketAddr> {
        Some(self.selected[usize::from(component) - 1])
    }
}

fn srflx_selected(others: PairState) -> Agent {
    Agent {
        selected: [addr("203.0.113.1:6000"), addr("203.0.113.1:6001")],
        others,
    }
}

fn reinvite(remote_candidates: &str) -> SessionDescription {
    parse(&format!(
        "v=0\r\no=- 5 6 IN IP4 192.0.2.60\r\ns=-\r\nc=IN IP4 198.51.100.77\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\n\
         a=ice-ufrag:peer\r\na=ice-pwd:peerpasswordpasswordpw\r\n\
         a=candidate:9 1 UDP 16777215 198.51.100.77 4000 typ relay raddr 203.0.113.9 rport 1\r\n\
         a=candidate:9 2 UDP 16777214 198.51.100.77 4001 typ relay raddr 203.0.113.9 rport 2\r\n\
         a=remote-candidates:{remote_candidates}\r\n"
    ))
    .unwrap()
}

fn default_of(sd: &SessionDescription) -> SocketAddr {
    sdp::offer_answer::remote_default(sd, &sd.media[0]).expect("default")
}

#[test]
fn host_and_srflx_listed_for_both_components_answer_with_the_selected_srflx() {
    // baresip's order: our host first, then our srflx, for each component.
    let offer =
        reinvite("1 198.51.100.1 5000 1 203.0.113.1 6000 2 198.51.100.1 5001 2 203.0.113.1 6001");
    let UpdatedOfferResponse::Answer(answer) = session("198.51.100.1")
        .answer_updated_offer(
            &offer,
            &[ice_stream("us", gathered())],
            &srflx_selected(PairState::Failed),
        )
        .unwrap()
    else {
        panic!("expected an answer")
    };
    let sd = parse(&answer.sdp.to_string()).unwrap();
    // RFC 8839 §4.4.1.2.2/§4.4.2: our default is the selected pair's local as the peer sees
    // it, the srflx — not its host base, where the peer's RTP would never reach us.
    assert_eq!(default_of(&sd), addr("203.0.113.1:6000"));
    let view = read_ice(&sd).unwrap();
    let lines: Vec<SocketAddr> = view.streams[0]
        .candidates
        .iter()
        .map(|c| c.address)
        .collect();
    assert_eq!(lines, [addr("203.0.113.1:6000"), addr("203.0.113.1:6001")]);
    // The RTCP default (a=rtcp, or RTP + 1 when absent, RFC 3605) is component 2's srflx.
    assert_eq!(
        view.streams[0].default_rtcp(default_of(&sd)),
        addr("203.0.113.1:6001"),
        "{}",
        answer.sdp
    );
    let ignored: Vec<(u16, SocketAddr, IgnoredBecause)> = answer
        .ignored_remote_candidates
        .iter()
        .map(|i| (i.component, i.address, i.reason))
        .collect();
    assert_eq!(
        ignored,
        [
            (
                1,
                addr("198.51.100.1:5000"),
                IgnoredBecause::NotTheSelectedPair
            ),
            (
                2,
                addr("198.51.100.1:5001"),
                IgnoredBecause::NotTheSelectedPair
            ),
        ]
    );
}

#[test]
fn an_entry_that_is_none_of_our_candidates_is_reported_not_a_reason_to_restart() {
    // Seven entries as in the sym–sym+TURN cell; 203.0.113.250:40000 is nobody's of ours.
    let offer = reinvite(
        "1 198.51.100.1 5000 1 203.0.113.1 6000 1 192.0.2.100 7000 1 203.0.113.250 40000 \
         2 198.51.100.1 5001 2 203.0.113.1 6001 2 192.0.2.100 7001",
    );
    let response = session("198.51.100.1")
        .answer_updated_offer(
            &offer,
            &[ice_stream("us", gathered())],
            &srflx_selected(PairState::Failed),
        )
        .unwrap();
    let UpdatedOfferResponse::Answer(answer) = response else {
        panic!("no restart without a failed check: {response:?}")
    };
    assert_eq!(
        default_of(&parse(&answer.sdp.to_string()).unwrap()),
        addr("203.0.113.1:6000")
    );
    assert!(answer
        .ignored_remote_candidates
        .iter()
        .any(|i| i.address == addr("203.0.113.250:40000")
            && i.reason == IgnoredBecause::NotOurCandidate));
    assert_eq!(answer.ignored_remote_candidates.len(), 5);
}

#[test]
fn a_never_checked_entry_keeps_our_default_and_a_really_failed_one_restarts() {
    // Our relay, the only entry per component: its pair with the offer's default never ran.
    let offer = reinvite("1 192.0.2.100 7000 2 192.0.2.100 7001");
    let unselected = Agent {
        selected: [addr("192.0.2.1:1"), addr("192.0.2.1:2")],
        others: PairState::NotChecked,
    };
    let response = session("198.51.100.1")
        .answer_updated_offer(&offer, &[ice_stream("us", gathered())], &unselected)
        .unwrap();
    let UpdatedOfferResponse::Answer(answer) = response else {
        panic!("a pair never checked is no losing pair: {response:?}")
    };
    assert!(answer
        .ignored_remote_candidates
        .iter()
        .all(|i| i.reason == IgnoredBecause::NeverChecked));
    assert_eq!(answer.ignored_remote_candidates.len(), 2);
    // The same entries after checks that ran and failed: RFC 8839 §4.4.2 restart.
    let failed = Agent {
        others: PairState::Failed,
        ..unselected
    };
    assert!(matches!(
        session("198.51.100.1")
            .answer_updated_offer(&offer, &[ice_stream("us", gathered())], &failed)
            .unwrap(),
        UpdatedOfferResponse::RestartNeeded(_)
    ));
}
