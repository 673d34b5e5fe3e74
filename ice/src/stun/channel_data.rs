//! TURN ChannelData frames (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
//! application data, without any STUN header.

use super::error::StunError;
use super::framing::padded;

/// RFC 8656 §12: channel numbers 0x4000 through 0x4FFF.
pub const CHANNEL_NUMBERS: std::ops::RangeInclusive<u16> = 0x4000..=0x4FFF;

const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// Encode a ChannelData frame. `pad_to_4` adds zero padding to a multiple of 4 bytes, which
/// RFC 8656 §12.5 requires over TCP/TLS and makes optional over UDP. Data longer than 65535
/// bytes is cut (a warning is logged): the length field cannot describe more.
pub fn encode_channel_data(channel: u16, data: &[u8], pad_to_4: bool) -> Vec<u8> {
    let data = match data.get(..usize::from(u16::MAX)) {
        Some(cut) if data.len() > usize::from(u16::MAX) => {
            tracing::warn!(
                len = data.len(),
                "ChannelData payload too long, cut to 65535 bytes"
            );
            cut
        }
        _ => data,
    };
    let total = CHANNEL_DATA_HEADER_LEN
        + if pad_to_4 {
            padded(data.len())
        } else {
            data.len()
        };
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out.resize(total, 0);
    out
}

/// Decode a ChannelData frame: the channel number and the data (without padding).
///
/// RFC 8656 §12.5: the length field counts the data only; up to 3 padding bytes may follow
/// (their content is ignored). A frame shorter than its length field claims is rejected, and so
/// is one with more than padding after the data.
pub fn decode_channel_data(bytes: &[u8]) -> Result<(u16, &[u8]), StunError> {
    check_channel_data(bytes).map_err(|reason| {
        tracing::debug!(reason, "bad ChannelData frame");
        StunError::BadChannelData
    })
}

/// The checks of [`decode_channel_data`], naming what is wrong.
fn check_channel_data(bytes: &[u8]) -> Result<(u16, &[u8]), &'static str> {
    let (channel, len, rest) = match bytes {
        [c0, c1, l0, l1, rest @ ..] => (
            u16::from_be_bytes([*c0, *c1]),
            usize::from(u16::from_be_bytes([*l0, *l1])),
            rest,
        ),
        _ => return Err("shorter than the 4-byte header"),
    };
    // RFC 8656 §12: channel numbers are 0x4000-0x4FFF.
    if !CHANNEL_NUMBERS.contains(&channel) {
        return Err("channel number outside 0x4000-0x4FFF");
    }
    let data = rest
        .get(..len)
        .ok_or("length field claims more data than the frame holds")?;
    if rest.len() > padded(len) {
        return Err("more bytes after the data than padding allows");
    }
    Ok((channel, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_padding() {
        let padded_frame = encode_channel_data(0x4001, b"hello", true);
        assert_eq!(
            padded_frame,
            [0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]
        );
        assert_eq!(
            decode_channel_data(&padded_frame),
            Ok((0x4001, &b"hello"[..]))
        );
        let bare = encode_channel_data(0x4FFF, b"hello", false);
        assert_eq!(bare.len(), 9);
        assert_eq!(decode_channel_data(&bare), Ok((0x4FFF, &b"hello"[..])));
        assert_eq!(
            decode_channel_data(&encode_channel_data(0x4000, b"", true)),
            Ok((0x4000, &b""[..]))
        );
    }

    #[test]
    fn malformed_frames_get_typed_errors() {
        let reason = |bytes: &[u8]| {
            assert_eq!(decode_channel_data(bytes), Err(StunError::BadChannelData));
            check_channel_data(bytes).unwrap_err()
        };
        assert_eq!(
            reason(&[0x40, 0x00, 0x00]),
            "shorter than the 4-byte header"
        );
        assert_eq!(
            reason(&[0x50, 0x00, 0x00, 0x00]),
            "channel number outside 0x4000-0x4FFF"
        );
        assert_eq!(
            reason(&[0x3F, 0xFF, 0x00, 0x00]),
            "channel number outside 0x4000-0x4FFF"
        );
        assert_eq!(
            reason(&[0x40, 0x00, 0x00, 0x05, 1, 2, 3]),
            "length field claims more data than the frame holds"
        );
        assert_eq!(
            reason(&[0x40, 0x00, 0x00, 0x01, 1, 0, 0, 0, 0]),
            "more bytes after the data than padding allows"
        );
    }
}
