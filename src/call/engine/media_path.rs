//! The media path of a call: what arrives on the sockets, and the 20 ms send slot with the
//! ICE gate per component (RFC 8445 §12.1).

use super::*;

impl CallCore {
    // ----- media -------------------------------------------------------------------------

    /// What the sockets and TURN connections brought: datagrams and TURN messages go to the
    /// agent (media to the session), failures of the path to the TURN server too.
    pub(super) fn on_inbound(&mut self, inbound: Inbound, now: Instant) {
        match inbound {
            Inbound::Datagram(d) => self.on_datagram(d.local, d.from, d.data, false, now),
            Inbound::TurnMessage {
                local,
                server,
                data,
            } => self.on_datagram(local, server, data, true, now),
            Inbound::TurnStreamFailed {
                local,
                server,
                reason,
            } => {
                if let Some(agent) = self.agent.as_mut() {
                    agent.turn_stream_failed(now, local, server, &reason);
                }
            }
            Inbound::Unreachable {
                local,
                dest,
                detail,
            } => {
                tracing::debug!(%local, %dest, "{detail} from the TURN server");
                if let Some(agent) = self.agent.as_mut() {
                    agent.handle_unreachable(now, local, dest);
                }
            }
        }
    }

    /// `turn_stream`: a message from the TURN connection of base `local` to server `from`.
    fn on_datagram(
        &mut self,
        local: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
        turn_stream: bool,
        now: Instant,
    ) {
        // (bytes, still SRTP): the ICE path unprotects after the source check below.
        let media_bytes = match self.agent.as_mut() {
            Some(agent) => match if turn_stream {
                agent.handle_turn_stream(now, local, from, &data)
            } else {
                agent.handle_packet(now, local, from, &data)
            } {
                Handled::Media {
                    component,
                    local,
                    from,
                    data,
                } => {
                    // Hardening beyond RFC 8445 §12.2 (ice/ASSUMPTIONS.md): media only from
                    // the remote of a valid pair of its component, on that pair's base.
                    if !agent.is_valid_source(component, local, from) {
                        self.drop_unknown_source(from, "not the remote of a valid pair");
                        None
                    } else if crate::media::srtp::is_dtls(&data) {
                        // RFC 7983: DTLS shares the component with RTP and STUN.
                        self.on_dtls_datagram(component, &data, now);
                        None
                    } else {
                        Some((data, true))
                    }
                }
                _ => None,
            },
            // RFC 7983: without ICE only RTP and RTCP are ours.
            None if matches!(
                ice::agent::classify(&data),
                ice::agent::PacketKind::Rtp | ice::agent::PacketKind::Rtcp
            ) =>
            {
                // Authenticate before latching: a forged packet must not pick where our
                // media goes (RFC 3711 §3.3 before RFC 4961 latching).
                match self.srtp.unprotect(data) {
                    Some(clear) if self.accept_plain(now, from, &clear) => Some((clear, false)),
                    Some(_) => {
                        self.drop_unknown_source(from, "not the latched source");
                        None
                    }
                    None => None,
                }
            }
            None => None,
        };
        let bytes = match media_bytes {
            Some((srtp, true)) => self.srtp.unprotect(srtp),
            Some((clear, false)) => Some(clear),
            None => None,
        };
        let Some(bytes) = bytes else { return };
        self.note_rtp_received(now, &bytes);
        let label = self.label();
        if let Some(media) = self.media.as_mut() {
            if let Received::Dtmf(d) = media.on_datagram(now, &bytes) {
                self.outbox.push(Output::Event(Event::Dtmf {
                    agent: label,
                    digit: d.to_string(),
                    direction: "received".into(),
                }));
            }
        }
    }

    /// One 20 ms media slot: send a frame if the gate is open.
    pub(super) fn media_tick(&mut self, now: Instant) {
        if !self.media_phase() {
            return;
        }
        let sent_before = self
            .media
            .as_ref()
            .map_or(0, |m| m.summary.rtp_sent + m.summary.dtmf_packets_sent);
        self.media_slot(now);
        let sent_after = self
            .media
            .as_ref()
            .map_or(0, |m| m.summary.rtp_sent + m.summary.dtmf_packets_sent);
        if sent_after > sent_before && self.media_started_at.is_none() {
            self.media_started_at = Some(now);
        }
    }

    pub(super) fn media_slot(&mut self, now: Instant) {
        let plain_target = self.plain_target();
        let Some(media) = self.media.as_mut() else {
            return;
        };
        match self.agent.as_mut() {
            Some(agent) => {
                // RFC 8445 §12.1: selected pairs are per component. RTP (component 1) waits
                // for component 1's pair only, not for RTCP's: the agent refuses send_data
                // until then, and we do not even build the packet.
                // A call requiring SRTP holds its frames until it has keys (a DTLS handshake
                // on the selected pair), as before the selection: never clear RTP, and no
                // frame spent without going out.
                if agent.selected_pair(1).is_none() || !self.srtp.can_send(false) {
                    media.hold_frame();
                    return;
                }
                let rtcp_component = if self.rtcp_mux { 1 } else { 2 };
                // RFC 8445 §12.1: RTCP without mux waits for component 2's own pair; its
                // report stays due (not built, not counted) until then.
                let rtcp_ready =
                    agent.selected_pair(rtcp_component).is_some() && self.srtp.can_send(true);
                let sent_before = media.summary.dtmf_sent.len();
                // A call requiring SRTP sends nothing it could not protect (never clear RTP).
                if let Some(packet) = media
                    .next_packet()
                    .and_then(|p| self.srtp.protect(p, false))
                {
                    match agent.send_data(now, 1, &packet) {
                        Ok(t) => {
                            let dtmf_now = media.summary.dtmf_sent.len() > sent_before;
                            let digit = media.summary.dtmf_sent.chars().last();
                            self.outbox.push_transmit(t);
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
                    // RFC 3711 §3.4: RTCP goes out as SRTCP.
                    if let Some(report) = media
                        .poll_rtcp(now)
                        .and_then(|r| self.srtp.protect(r, true))
                    {
                        if let Some(agent) = self.agent.as_mut() {
                            if let Ok(t) = agent.send_data(now, rtcp_component, &report) {
                                self.outbox.push_transmit(t);
                            }
                        }
                    }
                }
            }
            None => {
                let Some(dest) = plain_target else {
                    return;
                };
                let Some(from) = first_base(&self.bases, 1) else {
                    return;
                };
                if let Some(packet) = media
                    .next_packet()
                    .and_then(|p| self.srtp.protect(p, false))
                {
                    self.outbox.push_plain(from, dest, packet);
                }
                if let Some(report) = media
                    .poll_rtcp(now)
                    .and_then(|r| self.srtp.protect(r, true))
                {
                    let (rtcp_from, rtcp_to) = if self.rtcp_mux {
                        (Some(from), Some(dest))
                    } else {
                        (
                            first_base(&self.bases, 2),
                            self.plain_rtcp_latch.or(self.plain_rtcp_destination),
                        )
                    };
                    if let (Some(f), Some(t)) = (rtcp_from, rtcp_to) {
                        self.outbox.push_plain(f, t, report);
                    }
                }
            }
        }
    }

    fn drop_unknown_source(&mut self, from: SocketAddr, why: &str) {
        self.rtp_dropped_unknown_source += 1;
        if self.rtp_dropped_unknown_source == 1 {
            tracing::info!(%from, "media from an unknown source dropped: {why}");
        } else {
            tracing::trace!(%from, "media from an unknown source dropped: {why}");
        }
    }

    /// Without ICE, symmetric RTP (RFC 4961) latched once: the first RTP source and SSRC (the
    /// signalled address at any time, another one only early in the media phase, for a peer
    /// behind a NAT) is the only one accepted and sent to, until an offer/answer names a new
    /// address. RTCP is accepted from that address, or from its host with its SSRC.
    fn accept_plain(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> bool {
        if crate::media::rtp::is_rtcp(data) {
            let ssrc = data
                .get(4..8)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            let accepted = match self.plain_latch {
                Some((addr, latched)) => {
                    from == addr || (from.ip() == addr.ip() && latched.is_some() && ssrc == latched)
                }
                None => {
                    Some(from) == self.plain_rtcp_destination
                        || Some(from) == self.plain_destination
                }
            };
            if accepted && !self.rtcp_mux && self.plain_rtcp_latch.is_none() {
                self.plain_rtcp_latch = Some(from);
            }
            return accepted;
        }
        let Ok(packet) = crate::media::rtp::RtpPacket::parse(data) else {
            return false;
        };
        match self.plain_latch {
            Some((addr, Some(ssrc))) => (addr, ssrc) == (from, packet.ssrc),
            // A new offer/answer kept the address: the peer may have a new SSRC.
            Some((addr, None)) if addr == from => {
                self.plain_latch = Some((addr, Some(packet.ssrc)));
                true
            }
            Some((_, None)) => false,
            None => {
                let early = self.plain_latch_until.is_some_and(|t| now <= t);
                if Some(from) != self.plain_destination && !early {
                    return false;
                }
                tracing::debug!(%from, ssrc = packet.ssrc, "latching media destination");
                self.plain_latch = Some((from, Some(packet.ssrc)));
                true
            }
        }
    }

    /// Without ICE, where RTP goes now. RFC 5245 §18.5.1 (voice hammer): a callee sends to the
    /// address of an offer nobody authenticated only once the ACK arrived or the peer's own
    /// media came from that address; then to the latched source, else the signalled one.
    fn plain_target(&self) -> Option<SocketAddr> {
        let heard_from_signalled = self
            .plain_latch
            .is_some_and(|(addr, _)| Some(addr) == self.plain_destination);
        if self.phase != Phase::Established && !heard_from_signalled {
            return None;
        }
        self.plain_latch
            .map(|(addr, _)| addr)
            .or(self.plain_destination)
    }
}
