//! RFC 8839 §4.4.2: answering an updated offer that carries `a=remote-candidates`.

use crate::candidate_attr::RemoteCandidate;
use crate::ice_attrs::read_ice;
use crate::model::SessionDescription;

use super::local::LocalStream;
use super::negotiated::{
    IgnoredBecause, IgnoredRemoteCandidate, OfferAnswerError, PairState, PairView,
    UpdatedOfferResponse,
};
use super::session::SdpSession;
use super::verify::remote_default;

/// What one component's entries come to.
enum Pick {
    /// Use this entry as the component's default.
    Use(RemoteCandidate),
    /// The pair (offer default, entry) is still being checked.
    InProgress,
    /// The pair was checked and failed: a losing pair.
    Failed,
    /// Nothing usable: the answer keeps our own default for this component.
    Nothing,
}

impl SdpSession {
    /// RFC 8839 §4.4.2: answers an updated offer, applying the losing-pair rules to the
    /// streams that carry `a=remote-candidates`.
    ///
    /// Per component, the entry that names the local candidate of our selected pair is used;
    /// other entries of that component, and entries that are none of our candidates, are left
    /// out and reported in `Answer::ignored_remote_candidates` (RFC 8839 §5.2 allows one entry
    /// per component; baresip lists our host and srflx addresses both). A restart is only
    /// asked for when a losing pair was really checked and failed.
    pub fn answer_updated_offer(
        &mut self,
        offer: &SessionDescription,
        streams: &[LocalStream],
        pairs: &dyn PairView,
    ) -> Result<UpdatedOfferResponse, OfferAnswerError> {
        let view = read_ice(offer)?;
        let mut overrides = Vec::new();
        let mut ignored = Vec::new();
        let mut any_in_progress = false;
        let mut any_failed = false;
        for (index, (m, ice)) in offer.media.iter().zip(&view.streams).enumerate() {
            let Some(list) = &ice.remote_candidates else {
                continue;
            };
            let Some(rtp) = remote_default(offer, m) else {
                continue;
            };
            let mut components: Vec<u16> = list.iter().map(|rc| rc.component).collect();
            components.sort_unstable();
            components.dedup();
            let mut chosen = Vec::new();
            for component in components {
                let remote = if component == 1 {
                    rtp
                } else {
                    ice.default_rtcp(rtp)
                };
                let entries: Vec<&RemoteCandidate> =
                    list.iter().filter(|rc| rc.component == component).collect();
                match pick(index, component, remote, &entries, pairs, &mut ignored) {
                    Pick::Use(rc) => chosen.push(rc),
                    Pick::InProgress => any_in_progress = true,
                    Pick::Failed => any_failed = true,
                    Pick::Nothing => {}
                }
            }
            if !chosen.is_empty() {
                overrides.push((index, chosen));
            }
        }
        for i in &ignored {
            tracing::warn!(
                stream = i.stream,
                component = i.component,
                address = %i.address,
                reason = %i.reason,
                "remote-candidates entry ignored"
            );
        }
        if any_in_progress {
            // RFC 8839 §4.4.2: wait for the In-Progress checks before answering.
            return Ok(UpdatedOfferResponse::Wait);
        }
        if any_failed {
            // RFC 8839 §4.4.2: every losing pair failed: answer as if there were no
            // remote-candidates, then restart ICE.
            let mut answer = self.answer(offer, streams, &[])?;
            answer.ignored_remote_candidates = ignored;
            return Ok(UpdatedOfferResponse::RestartNeeded(answer));
        }
        let mut answer = self.answer(offer, streams, &overrides)?;
        answer.ignored_remote_candidates = ignored;
        Ok(UpdatedOfferResponse::Answer(answer))
    }
}

/// RFC 8839 §4.4.2 for one component: the entry to use, or what its losing pair says.
fn pick(
    stream: usize,
    component: u16,
    remote: std::net::SocketAddr,
    entries: &[&RemoteCandidate],
    pairs: &dyn PairView,
    ignored: &mut Vec<IgnoredRemoteCandidate>,
) -> Pick {
    let mut ignore = |rc: &RemoteCandidate, reason| {
        ignored.push(IgnoredRemoteCandidate {
            stream,
            component,
            address: rc.address,
            reason,
        })
    };
    let mut ours = Vec::new();
    for rc in entries {
        if pairs.is_local_candidate(stream, component, rc.address) {
            ours.push(*rc);
        } else {
            // Not a failure: no check could ever have run on it.
            ignore(rc, IgnoredBecause::NotOurCandidate);
        }
    }
    let selected = pairs.selected_local(stream, component);
    // The entry of our selected pair; else one whose pair is valid, or still being checked.
    let state = |rc: &RemoteCandidate| pairs.pair_state(stream, component, rc.address, remote);
    let preferred = ours
        .iter()
        .position(|rc| Some(rc.address) == selected)
        .or_else(|| ours.iter().position(|rc| state(rc) == PairState::Valid))
        .or_else(|| {
            ours.iter()
                .position(|rc| state(rc) == PairState::InProgress)
        })
        .unwrap_or(0);
    let Some(&candidate) = ours.get(preferred) else {
        return Pick::Nothing;
    };
    let because = if Some(candidate.address) == selected {
        IgnoredBecause::NotTheSelectedPair
    } else {
        IgnoredBecause::ExtraEntry
    };
    for (i, rc) in ours.iter().enumerate() {
        if i != preferred {
            ignore(rc, because);
        }
    }
    // RFC 8839 §4.4.2: the pair (offer default, entry); if it is not valid it is a losing pair.
    match pairs.pair_state(stream, component, candidate.address, remote) {
        PairState::Valid => Pick::Use(*candidate),
        PairState::InProgress => Pick::InProgress,
        PairState::Failed => Pick::Failed,
        PairState::NotChecked => {
            ignore(candidate, IgnoredBecause::NeverChecked);
            Pick::Nothing
        }
    }
}
