//! Demultiplexing of one component socket (RFC 7983, updating RFC 5764 §5.1.2).
//!
//! STUN, TURN ChannelData, DTLS, ZRTP and RTP/RTCP share the socket ICE proved; the first
//! byte tells them apart.

/// What a datagram received on a component socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketKind {
    /// First byte 0..=3 with the RFC 8489 magic cookie.
    Stun,
    /// ZRTP, first byte 16..=19.
    Zrtp,
    /// DTLS, first byte 20..=63.
    Dtls,
    /// TURN ChannelData, first byte 64..=79 (channel numbers 0x4000-0x4FFF).
    ChannelData,
    /// RTP, first byte 128..=191 and a payload type outside the RTCP range.
    Rtp,
    /// RTCP, first byte 128..=191 and second byte 192..=223 (RFC 5761 §4).
    Rtcp,
    /// Anything else, including empty datagrams and RFC 3489 STUN without the cookie:
    /// RFC 7983 §7 says drop it.
    Other,
}

/// Classify a datagram by its first bytes (RFC 7983 §7).
pub fn classify(data: &[u8]) -> PacketKind {
    let Some(&first) = data.first() else {
        return PacketKind::Other;
    };
    match first {
        // RFC 7983 §7: 0..3 is STUN; RFC 8489 §5 adds the magic cookie check, so classic
        // RFC 3489 STUN (no cookie) is not treated as STUN.
        0..=3 if crate::stun::is_stun(data) => PacketKind::Stun,
        16..=19 => PacketKind::Zrtp,
        20..=63 => PacketKind::Dtls,
        64..=79 => PacketKind::ChannelData,
        128..=191 => match data.get(1) {
            // RFC 5761 §4: RTCP packet types 192..=223 collide with RTP payload types
            // 64..=95 with the marker bit set, which RTP must not use when muxed.
            Some(192..=223) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Other,
        },
        _ => PacketKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun_header() -> Vec<u8> {
        let mut v = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        v.extend_from_slice(&[7u8; 12]);
        v
    }

    #[test]
    fn stun_needs_the_magic_cookie() {
        assert_eq!(classify(&stun_header()), PacketKind::Stun);
        let mut no_cookie = stun_header();
        no_cookie[4] = 0;
        assert_eq!(classify(&no_cookie), PacketKind::Other);
    }

    #[test]
    fn ranges_of_rfc_7983() {
        assert_eq!(classify(&[17, 0, 0, 0]), PacketKind::Zrtp);
        assert_eq!(classify(&[22, 254, 253]), PacketKind::Dtls);
        assert_eq!(
            classify(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]),
            PacketKind::ChannelData
        );
        assert_eq!(classify(&[0x80, 0x00, 0, 1]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0xE0, 0, 1]), PacketKind::Rtp);
        assert_eq!(classify(&[0x81, 200, 0, 6]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x80]), PacketKind::Other);
        assert_eq!(classify(&[]), PacketKind::Other);
        assert_eq!(classify(&[255, 1, 2]), PacketKind::Other);
        assert_eq!(classify(&[100, 1, 2]), PacketKind::Other);
    }
}
