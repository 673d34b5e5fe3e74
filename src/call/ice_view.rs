//! The agent as the SDP crate's losing-pair rules need to see it (RFC 8839 §4.4.2).

use std::net::SocketAddr;

use ice::agent::PairState as AgentPairState;
use ice::{Candidate, CandidateKind, IceAgent};
use sdp::offer_answer::{PairState, PairView};

pub struct AgentPairs<'a>(pub &'a IceAgent);

impl PairView for AgentPairs<'_> {
    fn pair_state(
        &self,
        _stream: usize,
        component: u16,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> PairState {
        // The peer names our candidate as it saw it (e.g. our srflx address), but the check
        // list holds bases: RFC 8445 §6.1.2.4 replaces a reflexive local candidate by its base.
        let base = base_of(&self.0.local_candidates(), component, local);
        let is_local = |addr: SocketAddr| addr == local || addr == base;
        if let Some((l, r)) = self.0.selected_pair(component) {
            if is_local(l.address) && r.address == remote {
                return PairState::Valid;
            }
        }
        // RFC 8839 §4.4.2: a pair no check ever ran on is no losing pair (issue 12, fault 2).
        let mut state = PairState::NotChecked;
        for (l, r, s, _) in self.0.pairs() {
            if l.component != component || !is_local(l.address) || r.address != remote {
                continue;
            }
            match s {
                AgentPairState::Succeeded => return PairState::Valid,
                AgentPairState::InProgress | AgentPairState::Waiting | AgentPairState::Frozen => {
                    state = PairState::InProgress
                }
                AgentPairState::Failed => {
                    if state == PairState::NotChecked {
                        state = PairState::Failed;
                    }
                }
            }
        }
        state
    }

    fn is_local_candidate(&self, stream: usize, component: u16, address: SocketAddr) -> bool {
        // Signalled candidates, and the valid local the peer may name before or after our
        // selection (a peer-reflexive one is never signalled).
        self.selected_local(stream, component) == Some(address)
            || self
                .0
                .local_candidates()
                .iter()
                .any(|c| c.component == component && c.address == address)
    }

    fn selected_local(&self, _stream: usize, component: u16) -> Option<SocketAddr> {
        // The selected pair's local candidate is the valid pair's (RFC 8445 §7.2.5.3.2): the
        // mapped address the peer saw, e.g. our srflx, not its host base. A controlling peer
        // may send its updated offer before our own check of its nominated pair succeeded
        // (RFC 8445 §7.3.1.5): then our best valid pair's local is the one it selected.
        self.0
            .selected_pair(component)
            .map(|(l, _)| l.address)
            .or_else(|| self.0.best_valid_local(component).map(|c| c.address))
    }
}

/// The base of our candidate `address` (RFC 8445 §5.1.1.1): a server- or peer-reflexive
/// candidate's base is its `related` address; a host or relayed candidate is its own base.
fn base_of(locals: &[Candidate], component: u16, address: SocketAddr) -> SocketAddr {
    locals
        .iter()
        .find(|c| c.component == component && c.address == address)
        .and_then(|c| match c.kind {
            CandidateKind::ServerReflexive | CandidateKind::PeerReflexive => c.related,
            _ => None,
        })
        .unwrap_or(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn reflexive(kind: CandidateKind, address: &str, base: &str) -> Candidate {
        let mut c = Candidate::host("2", 1, addr(address), 65535);
        c.kind = kind;
        c.related = Some(addr(base));
        c
    }

    #[test]
    fn srflx_address_maps_to_its_host_base() {
        let locals = vec![
            Candidate::host("1", 1, addr("192.0.2.10:4000"), 65535),
            reflexive(
                CandidateKind::ServerReflexive,
                "203.0.113.101:5000",
                "192.0.2.10:4000",
            ),
        ];
        assert_eq!(
            base_of(&locals, 1, addr("203.0.113.101:5000")),
            addr("192.0.2.10:4000")
        );
        // Another component's candidate at that address is not ours for component 2.
        assert_eq!(
            base_of(&locals, 2, addr("203.0.113.101:5000")),
            addr("203.0.113.101:5000")
        );
    }

    #[test]
    fn host_relay_and_unknown_addresses_are_their_own_base() {
        let mut relay = reflexive(
            CandidateKind::Relayed,
            "198.51.100.7:6000",
            "203.0.113.101:5000",
        );
        relay.foundation = "3".into();
        let locals = vec![
            Candidate::host("1", 1, addr("192.0.2.10:4000"), 65535),
            relay,
        ];
        for a in ["192.0.2.10:4000", "198.51.100.7:6000", "192.0.2.99:1"] {
            assert_eq!(base_of(&locals, 1, addr(a)), addr(a));
        }
    }

    /// The losing-pair lookup of an UPDATE's `a=remote-candidates` naming our srflx address:
    /// the check list pairs the host base, and that pair is still being checked.
    #[test]
    fn remote_candidates_naming_our_srflx_find_the_pair_of_its_base() {
        use ice::stun::{Attribute, Class, Message, Method};
        use ice::IceConfig;
        use std::time::{Duration, Instant};

        let t0 = Instant::now();
        let stun = addr("198.51.100.1:3478");
        let host = addr("192.0.2.10:4000");
        let srflx = addr("203.0.113.101:5000");
        let remote = addr("198.51.100.20:7000");
        let config = IceConfig {
            stun_servers: vec![stun],
            ..IceConfig::default()
        };
        let mut agent = IceAgent::new(config, t0);
        agent.add_local_host(host).unwrap();
        agent.handle_timeout(t0);
        let request = std::iter::from_fn(|| agent.poll_transmit())
            .find(|t| t.to == stun)
            .expect("a Binding request to the STUN server");
        let request = Message::decode(&request.data).unwrap();
        let response = Message::new(Class::Success, Method::Binding, request.transaction_id)
            .with(Attribute::XorMappedAddress(srflx))
            .encode(None, true);
        agent.handle_packet(t0 + Duration::from_millis(10), host, stun, &response);
        assert!(
            agent.local_candidates().iter().any(|c| c.address == srflx),
            "srflx gathered"
        );
        agent.set_remote_credentials(ice::Credentials {
            ufrag: "peer".into(),
            pwd: "peerpasswordpeerpassword".into(),
        });
        agent.add_remote_candidate(Candidate::host("9", 1, remote, 65535));
        let view = AgentPairs(&agent);
        assert_eq!(view.pair_state(0, 1, srflx, remote), PairState::InProgress);
        assert_eq!(view.pair_state(0, 1, host, remote), PairState::InProgress);
        assert_eq!(
            view.pair_state(0, 1, addr("203.0.113.102:5000"), remote),
            PairState::NotChecked
        );
        assert!(view.is_local_candidate(0, 1, srflx));
        assert!(view.is_local_candidate(0, 1, host));
        assert!(!view.is_local_candidate(0, 1, addr("203.0.113.102:5000")));
    }
}
