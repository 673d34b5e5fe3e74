//! DTLS-SRTP of one call (RFC 5763, RFC 5764, RFC 8842): one DTLS association per
//! component over the pair ICE selected, the certificate of the run, and whether an
//! offer/answer keeps the association (the peer's tls-id unchanged) or starts a new one.
//!
//! The handshake runs in [`DtlsEndpoint`] (sans-IO); this module says which component's
//! endpoint gets a datagram, holds back what may not go out before the component has a
//! selected pair (RFC 8445 §12.1: nothing but checks before that), and reports each
//! component's keys or failure.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use sdp::offer_answer::{LocalDtls, NegotiatedDtls};
use sdp::security::{DtlsRole, TlsId};

use crate::media::srtp::{DtlsCertificate, DtlsEndpoint, DtlsError, DtlsEvent, DtlsSrtpKeys};

/// The certificate of this run (issue 17: one per run, its fingerprint in every SDP we
/// write). Made on first use; the error is kept so every call reports the same one.
fn run_certificate() -> Result<Arc<DtlsCertificate>, String> {
    static CERT: OnceLock<Result<Arc<DtlsCertificate>, String>> = OnceLock::new();
    CERT.get_or_init(|| {
        DtlsCertificate::generate()
            .map(Arc::new)
            .map_err(|e| format!("cannot make the DTLS certificate: {e}"))
    })
    .clone()
}

/// A random tls-id: RFC 8842 §5 wants at least 120 bits of randomness.
fn fresh_tls_id() -> TlsId {
    TlsId::from_random(&rand::random::<[u8; 18]>())
}

/// What a component's association came to.
#[derive(Debug)]
pub(super) enum DtlsOutcome {
    /// The handshake completed and the peer's certificate matched its fingerprint.
    Connected {
        component: u16,
        keys: Box<DtlsSrtpKeys>,
    },
    /// The association failed (a wrong fingerprint, an alert) before it connected, or with
    /// an error after.
    Failed { component: u16, error: DtlsError },
    /// The peer closed a connected association (close_notify): it is hanging up, and its
    /// BYE may come a moment later; the keys stay valid for what is still in flight.
    Closed { component: u16 },
}

#[derive(Debug)]
struct ComponentDtls {
    component: u16,
    endpoint: DtlsEndpoint,
    /// Its failure was reported (once; a connection is reported by the endpoint once).
    failure_reported: bool,
    /// The handshake completed (a close after it is the peer hanging up, not a failure).
    connected: bool,
}

/// The DTLS side of a call requiring DTLS-SRTP.
#[derive(Debug)]
pub(super) struct CallDtls {
    cert: Arc<DtlsCertificate>,
    /// Ours, for the whole call: we never ask for a new association ourselves.
    tls_id: TlsId,
    /// Our preferred role for a new association (`--dtls-setup`).
    preferred: Option<DtlsRole>,
    /// What the last offer/answer agreed on (role, peer fingerprints and tls-id).
    agreed: Option<NegotiatedDtls>,
    /// One association per component the agreement covers (1, and 2 without rtcp-mux).
    components: Vec<ComponentDtls>,
    /// Events the endpoints reported, waiting for the call to take them.
    outcomes: Vec<DtlsOutcome>,
}

impl CallDtls {
    /// The DTLS state of a new call, with the run's certificate and a fresh tls-id.
    ///
    /// # Errors
    ///
    /// OpenSSL could not make the certificate.
    pub(super) fn new(preferred: Option<DtlsRole>) -> Result<CallDtls, String> {
        Ok(CallDtls {
            cert: run_certificate()?,
            tls_id: fresh_tls_id(),
            preferred,
            agreed: None,
            components: Vec::new(),
            outcomes: Vec::new(),
        })
    }

    /// What our SDP says: fingerprint, tls-id, and the association under way if any.
    pub(super) fn local(&self) -> LocalDtls {
        LocalDtls {
            fingerprint: self.cert.fingerprint().clone(),
            tls_id: self.tls_id.clone(),
            association: self
                .agreed
                .as_ref()
                .filter(|_| !self.components.is_empty())
                .map(|a| (a.role, a.remote_tls_id.clone())),
            preferred: self.preferred,
        }
    }

    /// Applies an offer/answer's agreement for `components`. The same role, fingerprints
    /// and peer tls-id keep the associations (RFC 8842 §5.3: an ICE restart or a hold does
    /// not rekey; a peer without tls-id, which predates RFC 8842, keeps its association
    /// across re-offers as well); anything else starts new ones. Returns whether it started
    /// new ones.
    ///
    /// # Errors
    ///
    /// OpenSSL refused the set-up of an association.
    pub(super) fn apply(
        &mut self,
        agreed: &NegotiatedDtls,
        components: &[u16],
        now: Instant,
    ) -> Result<bool, String> {
        let same = self.agreed.as_ref() == Some(agreed)
            && components
                .iter()
                .all(|c| self.components.iter().any(|d| d.component == *c));
        if same {
            // rtcp-mux agreed later: the RTCP component's association is not needed.
            self.components
                .retain(|d| components.contains(&d.component));
            return Ok(false);
        }
        self.components.clear();
        self.outcomes.clear();
        for &component in components {
            let endpoint = DtlsEndpoint::new(
                &self.cert,
                agreed.role,
                agreed.remote_fingerprints.clone(),
                now,
            )
            .map_err(|e| format!("DTLS set-up for component {component}: {e}"))?;
            self.components.push(ComponentDtls {
                component,
                endpoint,
                failure_reported: false,
                connected: false,
            });
        }
        tracing::debug!(
            role = ?agreed.role,
            ?components,
            "new DTLS association(s) (RFC 5763 §5)"
        );
        self.agreed = Some(agreed.clone());
        Ok(true)
    }

    /// Our role in the current association.
    pub(super) fn role(&self) -> Option<DtlsRole> {
        self.agreed.as_ref().map(|a| a.role)
    }

    /// A DTLS datagram for `component`. Without an association for it (no agreement yet)
    /// it is dropped: the peer retransmits its flight (RFC 6347 §4.2.4).
    pub(super) fn handle_datagram(&mut self, component: u16, data: &[u8], now: Instant) {
        let Some(c) = self
            .components
            .iter_mut()
            .find(|c| c.component == component)
        else {
            tracing::debug!(component, "DTLS datagram before an association: dropped");
            return;
        };
        // An error is kept by the endpoint and reported by `poll_outcome`.
        let _ = c.endpoint.handle_datagram(data, now);
        self.collect();
    }

    /// Lets the endpoints retransmit when their timers ran out.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        for c in &mut self.components {
            if c.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                let _ = c.endpoint.handle_timeout(now);
            }
        }
        self.collect();
    }

    /// The earliest retransmission deadline.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.components
            .iter()
            .filter_map(|c| c.endpoint.poll_timeout())
            .min()
    }

    /// The next datagram `component`'s association wants sent, taken only when the caller
    /// can send it now (the component has a selected pair).
    pub(super) fn poll_transmit(&mut self, component: u16) -> Option<Vec<u8>> {
        self.components
            .iter_mut()
            .find(|c| c.component == component)
            .and_then(|c| c.endpoint.poll_transmit())
    }

    /// Whether `component` has an association.
    pub(super) fn has_component(&self, component: u16) -> bool {
        self.components.iter().any(|c| c.component == component)
    }

    /// The components with an association.
    pub(super) fn component_ids(&self) -> Vec<u16> {
        self.components.iter().map(|c| c.component).collect()
    }

    /// The next connected or failed association.
    pub(super) fn poll_outcome(&mut self) -> Option<DtlsOutcome> {
        (!self.outcomes.is_empty()).then(|| self.outcomes.remove(0))
    }

    fn collect(&mut self) {
        for c in &mut self.components {
            while let Some(DtlsEvent::Connected(keys)) = c.endpoint.poll_event() {
                c.connected = true;
                self.outcomes.push(DtlsOutcome::Connected {
                    component: c.component,
                    keys,
                });
            }
            if let Some(error) = c.endpoint.error().filter(|_| !c.failure_reported) {
                c.failure_reported = true;
                self.outcomes.push(match error {
                    DtlsError::Closed if c.connected => DtlsOutcome::Closed {
                        component: c.component,
                    },
                    _ => DtlsOutcome::Failed {
                        component: c.component,
                        error: error.clone(),
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdp::security::Fingerprint;

    fn agreed(role: DtlsRole, tls_id: Option<u8>) -> NegotiatedDtls {
        NegotiatedDtls {
            role,
            remote_fingerprints: vec![Fingerprint::new("sha-256", vec![7; 32])],
            remote_tls_id: tls_id.map(|f| TlsId::from_random(&[f; 15])),
        }
    }

    #[test]
    fn the_same_peer_tls_id_keeps_the_association_and_a_new_one_starts_another() {
        let now = Instant::now();
        let mut dtls = CallDtls::new(None).unwrap();
        assert!(dtls.local().association.is_none(), "nothing agreed yet");
        assert!(dtls
            .apply(&agreed(DtlsRole::Server, Some(1)), &[1, 2], now)
            .unwrap());
        assert_eq!(dtls.component_ids(), [1, 2]);
        let local = dtls.local();
        assert_eq!(
            local.association,
            Some((DtlsRole::Server, Some(TlsId::from_random(&[1; 15]))))
        );
        // An ICE restart or a hold: the same agreement, the association goes on.
        assert!(!dtls
            .apply(&agreed(DtlsRole::Server, Some(1)), &[1, 2], now)
            .unwrap());
        // rtcp-mux agreed since: component 2's association is dropped, 1 goes on.
        assert!(!dtls
            .apply(&agreed(DtlsRole::Server, Some(1)), &[1], now)
            .unwrap());
        assert_eq!(dtls.component_ids(), [1]);
        // RFC 8842 §5.3: a new peer tls-id is a new association.
        assert!(dtls
            .apply(&agreed(DtlsRole::Server, Some(2)), &[1], now)
            .unwrap());
        // A peer without tls-id (pre-RFC 8842): a new role or fingerprint is a new
        // association, the same ones keep it.
        assert!(dtls
            .apply(&agreed(DtlsRole::Client, None), &[1], now)
            .unwrap());
        assert!(!dtls
            .apply(&agreed(DtlsRole::Client, None), &[1], now)
            .unwrap());
        // Our tls-id stays: we never ask for a new association ourselves.
        assert_eq!(dtls.local().tls_id, local.tls_id);
        // A client sends its ClientHello as soon as it may.
        assert!(dtls.poll_transmit(1).is_some());
    }
}
