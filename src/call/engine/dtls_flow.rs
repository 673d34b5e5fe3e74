//! The call and its DTLS-SRTP associations (RFC 5764 over ICE, RFC 8842): DTLS datagrams in
//! from the media path, the handshake's datagrams out on each component's selected pair
//! (none before it: RFC 8445 §12.1), and what the handshakes came to.

use super::srtp::DtlsNews;
use super::*;
use sdp::security::DtlsRole;

fn role_name(role: Option<DtlsRole>) -> String {
    match role {
        Some(DtlsRole::Client) => "client",
        Some(DtlsRole::Server) => "server",
        None => "none",
    }
    .into()
}

impl CallCore {
    /// A DTLS datagram that came on `component` from the remote of a valid pair.
    pub(super) fn on_dtls_datagram(&mut self, component: u16, data: &[u8], now: Instant) {
        match self.srtp.dtls_mut() {
            Some(dtls) => dtls.handle_datagram(component, data, now),
            None => tracing::debug!("DTLS datagram dropped: DTLS-SRTP is not in use"),
        }
    }

    /// Sends what the associations have for components with a selected pair, and reports
    /// connected or failed associations (a failure ends the call: no media without keys).
    pub(super) fn drive_dtls(&mut self, now: Instant) {
        if self.srtp.dtls_mut().is_none() {
            return;
        }
        // Components are 1 and 2 at most; no list is built on this per-input path.
        for component in [1, 2] {
            if !self
                .srtp
                .dtls_mut()
                .is_some_and(|d| d.has_component(component))
            {
                continue;
            }
            let Some(agent) = self.agent.as_mut() else {
                break;
            };
            if agent.selected_pair(component).is_none() {
                continue;
            }
            while let Some(datagram) = self
                .srtp
                .dtls_mut()
                .and_then(|d| d.poll_transmit(component))
            {
                match agent.send_data(now, component, &datagram) {
                    Ok(t) => self.outbox.push_transmit(t),
                    Err(e) => tracing::debug!("DTLS datagram not sent: {e}"),
                }
            }
        }
        while let Some(news) = self.srtp.poll_dtls() {
            let role = role_name(self.srtp.dtls_mut().and_then(|d| d.role()));
            match news {
                DtlsNews::Connected {
                    component,
                    suite,
                    peer_fingerprint,
                } => {
                    tracing::info!(
                        component,
                        %suite,
                        role,
                        "DTLS-SRTP connected; peer certificate {peer_fingerprint}"
                    );
                    self.emit(Event::Dtls {
                        agent: self.label(),
                        state: "connected".into(),
                        component,
                        role: role.clone(),
                        suite: Some(suite.dtls_profile_name().into()),
                        peer_fingerprint: Some(peer_fingerprint),
                        reason: None,
                    });
                }
                DtlsNews::Closed { component } => {
                    tracing::info!(component, "the peer closed its DTLS association");
                    self.emit(Event::Dtls {
                        agent: self.label(),
                        state: "closed".into(),
                        component,
                        role: role.clone(),
                        suite: None,
                        peer_fingerprint: None,
                        reason: None,
                    });
                }
                DtlsNews::Failed { component, reason } => {
                    self.emit(Event::Dtls {
                        agent: self.label(),
                        state: "failed".into(),
                        component,
                        role: role.clone(),
                        suite: None,
                        peer_fingerprint: None,
                        reason: Some(reason.clone()),
                    });
                    let why = format!("DTLS-SRTP failed on component {component}: {reason}");
                    tracing::warn!("{why}");
                    if self.media_phase() {
                        self.fail_call(exit::CALL, &why, now);
                    } else {
                        self.outcome.reason = why;
                    }
                }
            }
        }
    }
}
