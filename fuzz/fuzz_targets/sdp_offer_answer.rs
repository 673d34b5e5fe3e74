//! SDP parser, ICE attribute reader and offer/answer: no input panics.
//!
//! The input is parsed; a description that parses is written back and re-parsed, summarised,
//! read for ICE, answered as an offer (initial and updated, with the losing-pair rules) and
//! processed as the answer to an offer of ours. Mode from the last byte: bit 0 rtcp-mux,
//! bit 1 a selected pair (updated offer), bit 2 a second local stream, bit 3 ICE-less local,
//! bits 5-6 the SRTP policy (off, sdes, optional, dtls; SDES keys for every known suite).
#![no_main]

use std::net::SocketAddr;

use ice::{Candidate, Credentials};
use libfuzzer_sys::fuzz_target;
use sdp::offer_answer::{
    IceSettings, LocalIce, LocalStream, PairState, PairView, SdesKey, SdpSession, Selected,
    SrtpPolicy,
};
use sdp::security::CryptoSuite;

struct Pairs(u8);

impl PairView for Pairs {
    fn pair_state(&self, stream: usize, component: u16, _: SocketAddr, _: SocketAddr) -> PairState {
        match (usize::from(self.0) + stream + usize::from(component)) % 3 {
            0 => PairState::NotChecked,
            1 => PairState::InProgress,
            _ => PairState::Failed,
        }
    }
}

fn local_stream(mode: u8) -> LocalStream {
    let addr: SocketAddr = "192.0.2.10:4000".parse().unwrap();
    let host = Candidate::host("1", 1, addr, 65535);
    let rtcp = Candidate::host("1", 2, "192.0.2.10:4001".parse().unwrap(), 65535);
    let selected = (mode & 2 != 0).then(|| Selected {
        local: vec![host.clone()],
        remote: Vec::new(),
        controlling: mode & 16 != 0,
    });
    let ice = (mode & 8 == 0).then(|| LocalIce {
        credentials: Credentials {
            ufrag: "abcd".into(),
            pwd: "abcdefghijklmnopqrstuv".into(),
        },
        candidates: vec![host, rtcp],
        selected,
    });
    let mut stream = LocalStream::audio(addr, ice);
    stream.rtcp_mux = mode & 1 != 0;
    stream.sdes_keys = CryptoSuite::KNOWN
        .iter()
        .map(|s| {
            let len = s.key_len().unwrap_or(16) + s.salt_len().unwrap_or(14);
            SdesKey::new(s.clone(), vec![mode; len])
        })
        .collect();
    stream
}

fn policy(mode: u8) -> SrtpPolicy {
    match (mode >> 5) & 3 {
        0 => SrtpPolicy::Off,
        1 => SrtpPolicy::Sdes,
        2 => SrtpPolicy::Optional,
        _ => SrtpPolicy::Dtls,
    }
}

fuzz_target!(|data: &[u8]| {
    let mode = data.last().copied().unwrap_or(0);
    let text = String::from_utf8_lossy(data);
    let Ok(sd) = sdp::parse(&text) else {
        return;
    };
    let written = sd.to_string();
    let _ = sdp::parse(&written);
    let _ = sdp::ice_attrs::read_ice(&sd);
    let _ = sdp::summary::summarize(&sd);
    for m in &sd.media {
        let _ = sdp::offer_answer::remote_default(&sd, m);
    }

    let mut streams = vec![local_stream(mode)];
    if mode & 4 != 0 {
        streams.push(local_stream(mode ^ 1));
    }
    let settings = IceSettings::default();

    // As an offer.
    let mut session =
        SdpSession::new("192.0.2.10".parse().unwrap(), 1, settings.clone()).with_srtp(policy(mode));
    if let Ok(answer) = session.create_answer(&sd, &streams) {
        let _ = sdp::parse(&answer.sdp.to_string());
        // The same offer again (a re-offer): restart detection against the stored peer data.
        let _ = session.create_answer(&sd, &streams);
    }
    let mut session =
        SdpSession::new("192.0.2.10".parse().unwrap(), 2, settings.clone()).with_srtp(policy(mode));
    let _ = session.answer_updated_offer(&sd, &streams, &Pairs(mode));

    // As the answer to our offer.
    let mut session =
        SdpSession::new("192.0.2.10".parse().unwrap(), 3, settings).with_srtp(policy(mode));
    let count = sd.media.len().clamp(1, 4);
    let offered: Vec<LocalStream> = (0..count).map(|i| local_stream(mode ^ i as u8)).collect();
    if let Ok(offer) = session.create_offer(&offered) {
        let _ = session.process_answer(&offer, &sd);
    }
});
