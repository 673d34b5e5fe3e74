//! PCMU and PCMA through the `Codec` interface, on top of `media::g711`.

use super::{AudioDecoder, AudioEncoder, CodecError, RepeatFade};
use crate::media::g711::G711;

/// Samples in a 20 ms G.711 frame (8 kHz).
const FRAME: usize = 160;

/// G.711 encoder: stateless, one byte per sample.
pub(super) struct Encoder(pub(super) G711);

impl AudioEncoder for Encoder {
    fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, CodecError> {
        super::check_frame(frame, FRAME)?;
        Ok(self.0.encode(frame))
    }
}

/// G.711 decoder with repeat-and-fade concealment: G.711 has no PLC of its own.
pub(super) struct Decoder {
    law: G711,
    plc: RepeatFade,
}

impl Decoder {
    pub(super) fn new(law: G711) -> Decoder {
        Decoder {
            law,
            plc: RepeatFade::default(),
        }
    }
}

impl AudioDecoder for Decoder {
    fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, CodecError> {
        let samples = self.law.decode(payload);
        self.plc.good(&samples);
        Ok(samples)
    }

    fn conceal(&mut self, _next: Option<&[u8]>) -> Result<Vec<i16>, CodecError> {
        // G.711 carries no redundancy: the next packet does not help.
        Ok(self.plc.conceal(FRAME))
    }
}
