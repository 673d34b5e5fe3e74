//! RFC 8839 §4.4.2: answering an updated offer that carries `a=remote-candidates`.

use crate::ice_attrs::read_ice;
use crate::model::SessionDescription;

use super::local::LocalStream;
use super::negotiated::{OfferAnswerError, PairState, PairView, UpdatedOfferResponse};
use super::session::SdpSession;
use super::verify::remote_default;

impl SdpSession {
    /// RFC 8839 §4.4.2: answers an updated offer, applying the losing-pair rules to the
    /// streams that carry `a=remote-candidates`.
    pub fn answer_updated_offer(
        &mut self,
        offer: &SessionDescription,
        streams: &[LocalStream],
        pairs: &dyn PairView,
    ) -> Result<UpdatedOfferResponse, OfferAnswerError> {
        let view = read_ice(offer)?;
        let mut overrides = Vec::new();
        let mut any_in_progress = false;
        let mut any_losing = false;
        for (index, (m, ice)) in offer.media.iter().zip(&view.streams).enumerate() {
            let Some(list) = &ice.remote_candidates else {
                continue;
            };
            let Some(rtp) = remote_default(offer, m) else {
                continue;
            };
            let mut losing = false;
            for rc in list {
                let remote = if rc.component == 1 {
                    rtp
                } else {
                    ice.default_rtcp(rtp)
                };
                // RFC 8839 §4.4.2: the pair (offer default, remote-candidates entry); if it
                // is not in the valid list it is a losing pair.
                match pairs.pair_state(index, rc.component, rc.address, remote) {
                    PairState::Valid => {}
                    PairState::InProgress => {
                        losing = true;
                        any_in_progress = true;
                    }
                    PairState::Failed => losing = true,
                }
            }
            any_losing |= losing;
            if !losing {
                overrides.push((index, list.clone()));
            }
        }
        if any_in_progress {
            // RFC 8839 §4.4.2: wait for the In-Progress checks before answering.
            return Ok(UpdatedOfferResponse::Wait);
        }
        if any_losing {
            // RFC 8839 §4.4.2: all losing pairs failed: answer as if there were no
            // remote-candidates, then restart ICE.
            return Ok(UpdatedOfferResponse::RestartNeeded(self.answer(
                offer,
                streams,
                &[],
            )?));
        }
        Ok(UpdatedOfferResponse::Answer(
            self.answer(offer, streams, &overrides)?,
        ))
    }
}
