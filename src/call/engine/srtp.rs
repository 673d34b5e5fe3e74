//! SDES-SRTP of one call (RFC 3711, RFC 4568): our keys, the context the last offer/answer
//! agreed on, and the gate that keeps a call requiring SRTP from ever sending clear RTP.

use sdp::offer_answer::{NegotiatedSrtp, SdesKey, SrtpPolicy};

use crate::media::srtp::{SrtpContext, SrtpKey, SrtpStats, SrtpSuite};
use crate::media::stats::MediaSummary;

/// The SRTP state of a call.
#[derive(Debug)]
pub(super) struct CallSrtp {
    policy: SrtpPolicy,
    /// Our keys, one per suite in our preference order, made once per call: every re-offer
    /// (updated offer after nomination, hold) carries the same lines, so it does not rekey.
    keys: Vec<SrtpKey>,
    /// What the last offer/answer agreed on and its context; `None`: clear RTP.
    active: Option<(NegotiatedSrtp, SrtpContext)>,
    /// Counters of contexts a rekey replaced, so the call's totals survive it.
    retired: SrtpStats,
    /// The agreed keys could not be used: nothing is sent or accepted (never clear RTP).
    broken: bool,
}

/// What the `media` event says about SRTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SrtpReport {
    /// `"sdes"` or `"none"`.
    pub keying: &'static str,
    /// The suite in use, `None` for clear RTP.
    pub suite: Option<String>,
    /// Totals over the call.
    pub stats: SrtpStats,
}

impl CallSrtp {
    /// The state for `policy`, with fresh random keys for `suites` (in our order of
    /// preference) when it offers SDES.
    ///
    /// # Errors
    ///
    /// The `dtls` policy (not implemented yet), SDES without any suite, or no random source
    /// for the keys.
    pub(super) fn new(policy: SrtpPolicy, suites: &[SrtpSuite]) -> anyhow::Result<CallSrtp> {
        let keys = match policy {
            SrtpPolicy::Off => Vec::new(),
            SrtpPolicy::Sdes | SrtpPolicy::Optional if suites.is_empty() => {
                anyhow::bail!("--srtp {policy}: no SRTP suite to offer")
            }
            SrtpPolicy::Sdes | SrtpPolicy::Optional => suites
                .iter()
                .map(|s| SrtpKey::random(*s))
                .collect::<Result<_, _>>()?,
            SrtpPolicy::Dtls => anyhow::bail!("--srtp dtls: DTLS-SRTP is not supported yet"),
        };
        Ok(CallSrtp {
            policy,
            keys,
            active: None,
            retired: SrtpStats::default(),
            broken: false,
        })
    }

    /// Our keys as the SDP session writes them (empty with SRTP off).
    pub(super) fn sdes_keys(&self) -> Vec<SdesKey> {
        self.keys
            .iter()
            .map(|k| SdesKey::new(k.suite.sdes(), k.key_salt()))
            .collect()
    }

    /// Applies what an offer/answer agreed on. The same crypto lines as before keep the
    /// context (its rollover counters and replay windows, RFC 3711 §3.3.1); new ones rekey.
    ///
    /// # Errors
    ///
    /// Why the stream cannot run: clear RTP agreed while SRTP is required (the SDP layer
    /// refuses that before, so this is a guard), or keys the SRTP layer refuses. The call
    /// then sends and accepts nothing.
    pub(super) fn apply(&mut self, agreed: Option<&NegotiatedSrtp>) -> Result<(), String> {
        let Some(agreed) = agreed else {
            if self.policy.requires_srtp() {
                self.broken = true;
                return Err(format!(
                    "SRTP is required (--srtp {}) and the offer/answer agreed on clear RTP",
                    self.policy
                ));
            }
            self.retire();
            return Ok(());
        };
        if self.active.as_ref().is_some_and(|(a, _)| a == agreed) {
            return Ok(());
        }
        let context = SrtpKey::from_crypto(&agreed.local)
            .and_then(|local| SrtpContext::new(&local, &SrtpKey::from_crypto(&agreed.remote)?));
        match context {
            Ok(c) => {
                self.retire();
                self.active = Some((agreed.clone(), c));
                self.broken = false;
                Ok(())
            }
            Err(e) => {
                self.retire();
                self.broken = true;
                Err(format!("cannot use the agreed SRTP keys: {e}"))
            }
        }
    }

    fn retire(&mut self) {
        if let Some((_, c)) = self.active.take() {
            add(&mut self.retired, c.stats());
        }
    }

    /// Clear RTP may go out and come in: SRTP is not in use and not required.
    fn clear_allowed(&self) -> bool {
        !self.broken && !self.policy.requires_srtp()
    }

    /// The packet to send for RTP (`rtcp` false) or RTCP: protected when SRTP is agreed,
    /// as is when clear RTP is allowed, `None` when it must not go out.
    pub(super) fn protect(&mut self, packet: Vec<u8>, rtcp: bool) -> Option<Vec<u8>> {
        let Some((_, context)) = self.active.as_mut() else {
            return self.clear_allowed().then_some(packet);
        };
        let protected = if rtcp {
            context.protect_rtcp(&packet)
        } else {
            context.protect_rtp(&packet)
        };
        protected.map_err(|e| tracing::debug!("not sent: {e}")).ok()
    }

    /// A received RTP or RTCP datagram in clear, or `None` when it is dropped: SRTP that
    /// fails authentication or is a replay (counted in the context's stats), clear RTP when
    /// SRTP is in use or required.
    pub(super) fn unprotect(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        let Some((_, context)) = self.active.as_mut() else {
            return self.clear_allowed().then_some(data);
        };
        let clear = if crate::media::rtp::is_rtcp(&data) {
            context.unprotect_rtcp(&data)
        } else {
            context.unprotect_rtp(&data)
        };
        clear
            .map_err(|e| tracing::debug!("SRTP packet dropped: {e}"))
            .ok()
    }

    /// Writes the keying, suite and drop counters into the `media` event's summary.
    pub(super) fn fill_summary(&self, summary: &mut MediaSummary) {
        let report = self.report();
        summary.keying = report.keying.into();
        summary.srtp_suite = report.suite;
        summary.srtp_auth_failures = report.stats.auth_failures;
        summary.srtp_replays = report.stats.replays;
    }

    /// The keying and suite in use, and the totals, for the `media` event.
    pub(super) fn report(&self) -> SrtpReport {
        let mut stats = self.retired;
        if let Some((_, c)) = &self.active {
            add(&mut stats, c.stats());
        }
        SrtpReport {
            keying: if self.active.is_some() {
                "sdes"
            } else {
                "none"
            },
            suite: self
                .active
                .as_ref()
                .map(|(a, _)| a.suite().name().to_string()),
            stats,
        }
    }
}

fn add(into: &mut SrtpStats, s: SrtpStats) {
    into.rtp_protected += s.rtp_protected;
    into.rtp_unprotected += s.rtp_unprotected;
    into.rtcp_protected += s.rtcp_protected;
    into.rtcp_unprotected += s.rtcp_unprotected;
    into.auth_failures += s.auth_failures;
    into.replays += s.replays;
    into.malformed += s.malformed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::RtpPacket;

    fn rtp(sequence: u16) -> Vec<u8> {
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp: u32::from(sequence) * 160,
            ssrc: 0x1234_5678,
            payload: vec![0x55; 160],
        }
        .encode()
    }

    /// Two sides' agreed lines, as SDES gives them: each side's key protects what it sends.
    fn agreed(a: &CallSrtp, b: &CallSrtp) -> (NegotiatedSrtp, NegotiatedSrtp) {
        let line = |s: &CallSrtp| s.keys[0].to_crypto(1);
        let (la, lb) = (line(a), line(b));
        (
            NegotiatedSrtp {
                local: la.clone(),
                remote: lb.clone(),
            },
            NegotiatedSrtp {
                local: lb,
                remote: la,
            },
        )
    }

    fn pair(suite: SrtpSuite) -> (CallSrtp, CallSrtp) {
        let mut a = CallSrtp::new(SrtpPolicy::Sdes, &[suite]).unwrap();
        let mut b = CallSrtp::new(SrtpPolicy::Sdes, &[suite]).unwrap();
        let (for_a, for_b) = agreed(&a, &b);
        a.apply(Some(&for_a)).unwrap();
        b.apply(Some(&for_b)).unwrap();
        (a, b)
    }

    #[test]
    fn a_required_policy_sends_and_accepts_nothing_clear_before_or_without_keys() {
        let mut s = CallSrtp::new(SrtpPolicy::Sdes, &SrtpSuite::ALL).unwrap();
        assert_eq!(
            s.protect(rtp(1), false),
            None,
            "no context yet: nothing goes out"
        );
        assert_eq!(s.unprotect(rtp(1)), None, "clear RTP is not accepted");
        assert!(s.apply(None).is_err(), "clear RTP agreed while required");
        assert_eq!(s.protect(rtp(2), false), None);
        let mut optional = CallSrtp::new(SrtpPolicy::Optional, &SrtpSuite::ALL).unwrap();
        assert!(optional.apply(None).is_ok());
        assert_eq!(
            optional.protect(rtp(1), false),
            Some(rtp(1)),
            "best effort: clear"
        );
    }

    #[test]
    fn protected_packets_round_trip_and_a_replay_is_dropped_and_counted() {
        for suite in SrtpSuite::ALL {
            let (mut a, mut b) = pair(suite);
            let sent = a.protect(rtp(7), false).expect("protected");
            assert_ne!(sent, rtp(7));
            assert_eq!(b.unprotect(sent.clone()), Some(rtp(7)), "{suite}");
            assert_eq!(b.unprotect(sent), None, "{suite}: the same packet again");
            let report = b.report();
            assert_eq!(report.stats.replays, 1, "{suite}");
            assert_eq!(report.keying, "sdes");
            assert_eq!(report.suite.as_deref(), Some(suite.sdes().name()));
        }
    }

    #[test]
    fn the_same_lines_again_keep_the_context_and_new_ones_rekey() {
        let (mut a, mut b) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let first = a.protect(rtp(1), false).unwrap();
        assert!(b.unprotect(first.clone()).is_some());
        // A re-offer with the same lines: the replay window survives, so a replay still is one.
        let (_, same) = agreed(&a, &b);
        b.apply(Some(&same)).unwrap();
        assert_eq!(b.unprotect(first), None);
        assert_eq!(b.report().stats.replays, 1);
        // The peer rekeys: the old key no longer authenticates, and the totals are kept.
        let mut c = CallSrtp::new(SrtpPolicy::Sdes, &[SrtpSuite::AesCm128HmacSha1_80]).unwrap();
        let (_, rekeyed) = agreed(&c, &b);
        b.apply(Some(&rekeyed)).unwrap();
        assert_eq!(b.unprotect(a.protect(rtp(2), false).unwrap()), None);
        let (for_c, _) = agreed(&c, &b);
        c.apply(Some(&for_c)).unwrap();
        assert!(b.unprotect(c.protect(rtp(3), false).unwrap()).is_some());
        let stats = b.report().stats;
        assert_eq!((stats.replays, stats.auth_failures), (1, 1));
    }

    #[test]
    fn rtcp_is_protected_as_srtcp_and_unprotected() {
        let (mut a, mut b) = pair(SrtpSuite::AeadAes128Gcm);
        // An empty receiver report (RFC 3550 §6.4.2): V=2, PT=201, length 1, SSRC.
        let rr = vec![0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78];
        let sent = a.protect(rr.clone(), true).expect("protected");
        assert!(sent.len() > rr.len(), "SRTCP index and tag");
        assert_eq!(b.unprotect(sent), Some(rr));
    }
}
