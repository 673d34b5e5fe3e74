//! SRTP of one call (RFC 3711): keyed by SDES (RFC 4568, both keys in the SDP) or by
//! DTLS-SRTP (RFC 5764, keys from a handshake per component, `dtls.rs`); the context in use,
//! and the gate that keeps a call requiring SRTP from ever sending clear RTP.

use std::time::Instant;

use sdp::offer_answer::{LocalDtls, NegotiatedDtls, NegotiatedSrtp, SdesKey, SrtpPolicy};
use sdp::security::DtlsRole;

use super::dtls::{CallDtls, DtlsOutcome};
use crate::media::srtp::{SrtpContext, SrtpKey, SrtpStats, SrtpSuite};
use crate::media::stats::MediaSummary;

/// The SRTP state of a call.
#[derive(Debug)]
pub(super) struct CallSrtp {
    policy: SrtpPolicy,
    /// Our SDES keys, one per suite in our preference order, made once per call: every
    /// re-offer (updated offer after nomination, hold) carries the same lines, so it does
    /// not rekey.
    keys: Vec<SrtpKey>,
    /// DTLS-SRTP (the `dtls` policy): certificate, associations, their outcomes.
    dtls: Option<CallDtls>,
    /// The contexts in use; `None`: clear RTP (or nothing, when SRTP is required).
    active: Option<ActiveSrtp>,
    /// DTLS without rtcp-mux: component 2's context when it connected before component 1.
    early_rtcp: Option<SrtpContext>,
    /// Counters of contexts a rekey replaced, so the call's totals survive it.
    retired: SrtpStats,
    /// The agreed keys could not be used: nothing is sent or accepted (never clear RTP).
    broken: bool,
}

/// Where the keys in use came from.
#[derive(Debug)]
enum Keying {
    /// Both crypto lines of the offer/answer.
    Sdes(NegotiatedSrtp),
    /// A DTLS handshake on the media path.
    Dtls,
}

/// The SRTP contexts of the stream.
#[derive(Debug)]
struct ActiveSrtp {
    keying: Keying,
    suite: SrtpSuite,
    /// RTP's context (and RTCP's, unless `rtcp` says otherwise).
    rtp: SrtpContext,
    rtcp: RtcpContext,
}

/// Which context protects RTCP.
#[derive(Debug)]
enum RtcpContext {
    /// The RTP context (SDES, or DTLS with rtcp-mux).
    SameAsRtp,
    /// DTLS without rtcp-mux: component 2's own association (RFC 5764 §4.1).
    Own(Box<SrtpContext>),
    /// DTLS without rtcp-mux, component 2 not connected yet: no RTCP in or out.
    Pending,
}

/// What the `media` event says about SRTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SrtpReport {
    /// `"sdes"`, `"dtls"` or `"none"`.
    pub keying: &'static str,
    /// The suite in use, `None` for clear RTP.
    pub suite: Option<String>,
    /// Totals over the call.
    pub stats: SrtpStats,
}

/// A DTLS association's news, for the call to report.
#[derive(Debug)]
pub(super) enum DtlsNews {
    /// `component` connected with `suite`; SRTP runs on it from now.
    Connected {
        component: u16,
        suite: SrtpSuite,
        peer_fingerprint: String,
    },
    /// `component`'s association failed: the call cannot have media.
    Failed { component: u16, reason: String },
    /// The peer closed `component`'s connected association; SRTP goes on with its keys.
    Closed { component: u16 },
}

impl CallSrtp {
    /// The state for `policy`: fresh random keys for `suites` (in our order of preference)
    /// when it offers SDES, the run's certificate and a tls-id for DTLS.
    ///
    /// # Errors
    ///
    /// SDES without any suite, no random source for the keys, or no DTLS certificate.
    pub(super) fn new(
        policy: SrtpPolicy,
        suites: &[SrtpSuite],
        dtls_setup: Option<DtlsRole>,
    ) -> anyhow::Result<CallSrtp> {
        let keys = match policy {
            SrtpPolicy::Off | SrtpPolicy::Dtls => Vec::new(),
            SrtpPolicy::Sdes | SrtpPolicy::Optional if suites.is_empty() => {
                anyhow::bail!("--srtp {policy}: no SRTP suite to offer")
            }
            SrtpPolicy::Sdes | SrtpPolicy::Optional => suites
                .iter()
                .map(|s| SrtpKey::random(*s))
                .collect::<Result<_, _>>()?,
        };
        let dtls = match policy {
            SrtpPolicy::Dtls => Some(CallDtls::new(dtls_setup).map_err(anyhow::Error::msg)?),
            _ => None,
        };
        Ok(CallSrtp {
            policy,
            keys,
            dtls,
            active: None,
            early_rtcp: None,
            retired: SrtpStats::default(),
            broken: false,
        })
    }

    /// Our keys as the SDP session writes them (empty unless SDES).
    pub(super) fn sdes_keys(&self) -> Vec<SdesKey> {
        self.keys
            .iter()
            .map(|k| SdesKey::new(k.suite.sdes(), k.key_salt()))
            .collect()
    }

    /// Our DTLS lines for the SDP (`None` unless the policy is `dtls`).
    pub(super) fn local_dtls(&self) -> Option<LocalDtls> {
        self.dtls.as_ref().map(CallDtls::local)
    }

    /// When the DTLS associations next want `handle_timeout` (retransmissions).
    pub(super) fn dtls_timeout(&self) -> Option<Instant> {
        self.dtls.as_ref().and_then(CallDtls::poll_timeout)
    }

    /// The DTLS associations, for the media path (`None` unless the policy is `dtls`).
    pub(super) fn dtls_mut(&mut self) -> Option<&mut CallDtls> {
        self.dtls.as_mut()
    }

    /// Applies what an offer/answer agreed on. SDES: the same crypto lines as before keep
    /// the context (its rollover counters and replay windows, RFC 3711 §3.3.1), new ones
    /// rekey. DTLS: the same association goes on (RFC 8842 §5.3), a new one stops SRTP until
    /// its handshake completes. `components` are the stream's ICE components (1, and 2
    /// without rtcp-mux).
    ///
    /// # Errors
    ///
    /// Why the stream cannot run: clear RTP agreed while SRTP is required (the SDP layer
    /// refuses that before, so this is a guard), or keys the SRTP layer refuses. The call
    /// then sends and accepts nothing.
    pub(super) fn apply(
        &mut self,
        sdes: Option<&NegotiatedSrtp>,
        dtls: Option<&NegotiatedDtls>,
        components: &[u16],
        now: Instant,
    ) -> Result<(), String> {
        if let Some(state) = self.dtls.as_mut() {
            let Some(agreed) = dtls else {
                self.broken = true;
                return Err(
                    "DTLS-SRTP is required (--srtp dtls) and the offer/answer agreed on none"
                        .into(),
                );
            };
            return match state.apply(agreed, components, now) {
                Ok(true) => {
                    self.retire();
                    self.early_rtcp = None;
                    self.broken = false;
                    Ok(())
                }
                Ok(false) => {
                    // rtcp-mux agreed since: RTCP goes with RTP's association.
                    if !components.contains(&2) {
                        if let Some(active) = self.active.as_mut() {
                            if let RtcpContext::Own(c) =
                                std::mem::replace(&mut active.rtcp, RtcpContext::SameAsRtp)
                            {
                                add(&mut self.retired, c.stats());
                            }
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    self.retire();
                    self.broken = true;
                    Err(e)
                }
            };
        }
        let Some(agreed) = sdes else {
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
        if matches!(&self.active, Some(ActiveSrtp { keying: Keying::Sdes(a), .. }) if a == agreed) {
            return Ok(());
        }
        let context = SrtpKey::from_crypto(&agreed.local)
            .and_then(|local| SrtpContext::new(&local, &SrtpKey::from_crypto(&agreed.remote)?));
        match context {
            Ok(c) => {
                self.retire();
                self.active = Some(ActiveSrtp {
                    keying: Keying::Sdes(agreed.clone()),
                    suite: c.suite(),
                    rtp: c,
                    rtcp: RtcpContext::SameAsRtp,
                });
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

    /// Takes the next DTLS outcome and puts its keys to use: component 1's context
    /// protects RTP (and RTCP with rtcp-mux), component 2's RTCP (RFC 5764 §4.1).
    pub(super) fn poll_dtls(&mut self) -> Option<DtlsNews> {
        let outcome = self.dtls.as_mut()?.poll_outcome()?;
        let (component, keys) = match outcome {
            DtlsOutcome::Connected { component, keys } => (component, keys),
            DtlsOutcome::Closed { component } => return Some(DtlsNews::Closed { component }),
            DtlsOutcome::Failed { component, error } => {
                self.retire();
                self.broken = true;
                return Some(DtlsNews::Failed {
                    component,
                    reason: error.to_string(),
                });
            }
        };
        let context = match keys.context() {
            Ok(c) => c,
            Err(e) => {
                self.retire();
                self.broken = true;
                return Some(DtlsNews::Failed {
                    component,
                    reason: format!("the exported keys were refused: {e}"),
                });
            }
        };
        let with_rtcp_component = self
            .dtls
            .as_ref()
            .is_some_and(|d| d.component_ids().contains(&2));
        if component == 1 {
            self.retire();
            let rtcp = match (with_rtcp_component, self.early_rtcp.take()) {
                (false, _) => RtcpContext::SameAsRtp,
                (true, Some(c)) => RtcpContext::Own(Box::new(c)),
                (true, None) => RtcpContext::Pending,
            };
            self.active = Some(ActiveSrtp {
                keying: Keying::Dtls,
                suite: keys.suite,
                rtp: context,
                rtcp,
            });
        } else {
            match self.active.as_mut() {
                Some(active) => active.rtcp = RtcpContext::Own(Box::new(context)),
                None => self.early_rtcp = Some(context),
            }
        }
        self.broken = false;
        Some(DtlsNews::Connected {
            component,
            suite: keys.suite,
            peer_fingerprint: keys.peer_fingerprint.to_string(),
        })
    }

    fn retire(&mut self) {
        if let Some(active) = self.active.take() {
            add(&mut self.retired, active.rtp.stats());
            if let RtcpContext::Own(c) = active.rtcp {
                add(&mut self.retired, c.stats());
            }
        }
    }

    /// Whether RTP (`rtcp` false) or RTCP could go out now: protected with a context that
    /// has its keys, or clear where that is allowed. The media path holds its frames while
    /// not (a DTLS handshake still running), rather than spend them unsent.
    pub(super) fn can_send(&self, rtcp: bool) -> bool {
        if self.broken {
            return false;
        }
        match &self.active {
            None => self.clear_allowed(),
            Some(active) => !rtcp || !matches!(active.rtcp, RtcpContext::Pending),
        }
    }

    /// Clear RTP may go out and come in: SRTP is not in use and not required.
    fn clear_allowed(&self) -> bool {
        !self.broken && !self.policy.requires_srtp()
    }

    /// The context for RTP or RTCP; `Err(())` when SRTP is in use and this kind has none yet.
    fn context(&mut self, rtcp: bool) -> Option<Result<&mut SrtpContext, ()>> {
        let active = self.active.as_mut()?;
        Some(match (&mut active.rtcp, rtcp) {
            (_, false) | (RtcpContext::SameAsRtp, true) => Ok(&mut active.rtp),
            (RtcpContext::Own(c), true) => Ok(c),
            (RtcpContext::Pending, true) => Err(()),
        })
    }

    /// The packet to send for RTP (`rtcp` false) or RTCP: protected when SRTP is agreed,
    /// as is when clear RTP is allowed, `None` when it must not go out.
    pub(super) fn protect(&mut self, packet: Vec<u8>, rtcp: bool) -> Option<Vec<u8>> {
        if self.broken {
            return None;
        }
        let Some(context) = self.context(rtcp) else {
            return self.clear_allowed().then_some(packet);
        };
        let context = context.ok()?;
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
        if self.broken {
            return None;
        }
        let rtcp = crate::media::rtp::is_rtcp(&data);
        let Some(context) = self.context(rtcp) else {
            return self.clear_allowed().then_some(data);
        };
        let context = context.ok()?;
        let clear = if rtcp {
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
        if let Some(active) = &self.active {
            add(&mut stats, active.rtp.stats());
            if let RtcpContext::Own(c) = &active.rtcp {
                add(&mut stats, c.stats());
            }
        }
        SrtpReport {
            keying: match self.active.as_ref().map(|a| &a.keying) {
                Some(Keying::Sdes(_)) => "sdes",
                Some(Keying::Dtls) => "dtls",
                None => "none",
            },
            suite: self
                .active
                .as_ref()
                .map(|a| a.suite.sdes().name().to_string()),
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
        let mut a = CallSrtp::new(SrtpPolicy::Sdes, &[suite], None).unwrap();
        let mut b = CallSrtp::new(SrtpPolicy::Sdes, &[suite], None).unwrap();
        let (for_a, for_b) = agreed(&a, &b);
        a.apply(Some(&for_a), None, &[1], Instant::now()).unwrap();
        b.apply(Some(&for_b), None, &[1], Instant::now()).unwrap();
        (a, b)
    }

    #[test]
    fn a_required_policy_sends_and_accepts_nothing_clear_before_or_without_keys() {
        let mut s = CallSrtp::new(SrtpPolicy::Sdes, &SrtpSuite::ALL, None).unwrap();
        assert_eq!(
            s.protect(rtp(1), false),
            None,
            "no context yet: nothing goes out"
        );
        assert_eq!(s.unprotect(rtp(1)), None, "clear RTP is not accepted");
        assert!(
            s.apply(None, None, &[1], Instant::now()).is_err(),
            "clear RTP agreed while required"
        );
        assert_eq!(s.protect(rtp(2), false), None);
        let mut optional = CallSrtp::new(SrtpPolicy::Optional, &SrtpSuite::ALL, None).unwrap();
        assert!(optional.apply(None, None, &[1], Instant::now()).is_ok());
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
        b.apply(Some(&same), None, &[1], Instant::now()).unwrap();
        assert_eq!(b.unprotect(first), None);
        assert_eq!(b.report().stats.replays, 1);
        // The peer rekeys: the old key no longer authenticates, and the totals are kept.
        let mut c =
            CallSrtp::new(SrtpPolicy::Sdes, &[SrtpSuite::AesCm128HmacSha1_80], None).unwrap();
        let (_, rekeyed) = agreed(&c, &b);
        b.apply(Some(&rekeyed), None, &[1], Instant::now()).unwrap();
        assert_eq!(b.unprotect(a.protect(rtp(2), false).unwrap()), None);
        let (for_c, _) = agreed(&c, &b);
        c.apply(Some(&for_c), None, &[1], Instant::now()).unwrap();
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
