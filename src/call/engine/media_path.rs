//! The media path of a call: what arrives on the sockets, and the 20 ms send slot with the
//! ICE gate per component (RFC 8445 §12.1).

use super::*;

impl Call {
    // ----- media -------------------------------------------------------------------------

    pub(super) async fn on_datagram(&mut self, local: SocketAddr, from: SocketAddr, data: Vec<u8>) {
        let now = Instant::now();
        let media_bytes = match self.agent.as_mut() {
            Some(agent) => match agent.handle_packet(now, local, from, &data) {
                Handled::Media { data, .. } => Some(data),
                _ => None,
            },
            None => {
                // Symmetric RTP (RFC 4961): latch onto where the peer's media comes from.
                if matches!(data.first(), Some(128..=191)) {
                    if crate::media::rtp::is_rtcp(&data) {
                        self.plain_rtcp_destination = Some(from);
                    } else if self.plain_destination != Some(from) {
                        tracing::debug!(%from, "latching media destination");
                        self.plain_destination = Some(from);
                    }
                    Some(data)
                } else {
                    None
                }
            }
        };
        let Some(bytes) = media_bytes else { return };
        self.note_rtp_received(now, &bytes);
        let label = self.label();
        if let Some(media) = self.media.as_mut() {
            if let Received::Dtmf(d) = media.on_datagram(now, &bytes) {
                self.opts.emitter.emit(Event::Dtmf {
                    agent: label,
                    digit: d.to_string(),
                    direction: "received".into(),
                });
            }
        }
    }

    /// One 20 ms media slot: send a frame if the gate is open.
    pub(super) async fn media_tick(&mut self, now: Instant) {
        if !self.media_phase() {
            return;
        }
        let sent_before = self.media.as_ref().map_or(0, |m| m.summary.rtp_sent);
        self.media_slot(now).await;
        let sent_after = self.media.as_ref().map_or(0, |m| m.summary.rtp_sent);
        if sent_after > sent_before && self.media_started_at.is_none() {
            self.media_started_at = Some(now);
        }
    }

    pub(super) async fn media_slot(&mut self, now: Instant) {
        let Some(media) = self.media.as_mut() else {
            return;
        };
        match self.agent.as_mut() {
            Some(agent) => {
                // RFC 8445 §12.1: selected pairs are per component. RTP (component 1) waits
                // for component 1's pair only, not for RTCP's: the agent refuses send_data
                // until then, and we do not even build the packet.
                if agent.selected_pair(1).is_none() {
                    media.hold_frame();
                    return;
                }
                let rtcp_component = if self.rtcp_mux { 1 } else { 2 };
                // RFC 8445 §12.1: RTCP without mux waits for component 2's own pair; its
                // report stays due (not built, not counted) until then.
                let rtcp_ready = agent.selected_pair(rtcp_component).is_some();
                let sent_before = media.summary.dtmf_sent.len();
                if let Some(packet) = media.next_packet() {
                    match agent.send_data(now, 1, &packet) {
                        Ok(t) => {
                            let dtmf_now = media.summary.dtmf_sent.len() > sent_before;
                            let digit = media.summary.dtmf_sent.chars().last();
                            self.sockets.send(t.from, t.to, &t.data).await;
                            if dtmf_now {
                                if let Some(d) = digit {
                                    self.emit(Event::Dtmf {
                                        agent: self.label(),
                                        digit: d.to_string(),
                                        direction: "sent".into(),
                                    });
                                }
                            }
                        }
                        Err(e) => tracing::debug!("media not sent: {e}"),
                    }
                }
                if let Some(media) = self.media.as_mut().filter(|_| rtcp_ready) {
                    if let Some(report) = media.poll_rtcp(now) {
                        if let Some(agent) = self.agent.as_mut() {
                            if let Ok(t) = agent.send_data(now, rtcp_component, &report) {
                                self.sockets.send(t.from, t.to, &t.data).await;
                            }
                        }
                    }
                }
            }
            None => {
                let Some(dest) = self.plain_destination else {
                    media.hold_frame();
                    return;
                };
                let Some(from) = self.sockets.first_base(1) else {
                    return;
                };
                if let Some(packet) = media.next_packet() {
                    self.sockets.send(from, dest, &packet).await;
                }
                if let Some(report) = media.poll_rtcp(now) {
                    let (rtcp_from, rtcp_to) = if self.rtcp_mux {
                        (Some(from), Some(dest))
                    } else {
                        (self.sockets.first_base(2), self.plain_rtcp_destination)
                    };
                    if let (Some(f), Some(t)) = (rtcp_from, rtcp_to) {
                        self.sockets.send(f, t, &report).await;
                    }
                }
            }
        }
    }
}
