//! The agent as the SDP crate's losing-pair rules need to see it (RFC 8839 §4.4.2).

use std::net::SocketAddr;

use ice::agent::PairState as AgentPairState;
use ice::IceAgent;
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
        if let Some((l, r)) = self.0.selected_pair(component) {
            if l.address == local && r.address == remote {
                return PairState::Valid;
            }
        }
        let mut state = PairState::Failed;
        for (l, r, s, _) in self.0.pairs() {
            if l.component != component || l.address != local || r.address != remote {
                continue;
            }
            match s {
                AgentPairState::Succeeded => return PairState::Valid,
                AgentPairState::InProgress | AgentPairState::Waiting | AgentPairState::Frozen => {
                    state = PairState::InProgress
                }
                AgentPairState::Failed => {}
            }
        }
        state
    }
}
