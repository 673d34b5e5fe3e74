//! SIP message parser (UDP datagrams) and stream framing (TCP): no input panics.
//! Also runs what the endpoint does with a parsed message: validation, rport, re-serialising,
//! and the salvage path that answers unparsable requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::message::{
    error_response_for_unparsable, fill_received_rport, learned_public_address, parse_datagram,
    response_destination, salvage_headers, validate_request, validate_response, Message,
    StreamDecoder, UasPolicy,
};

fuzz_target!(|data: &[u8]| {
    // Datagram.
    match parse_datagram(data) {
        Ok(message) => exercise(message),
        Err(error) => {
            let _ = error_response_for_unparsable(data, &error).map(|r| r.to_bytes());
        }
    }
    let _ = salvage_headers(data);

    // Stream: the same bytes in chunks whose sizes come from the input itself, with a small
    // maximum message size so the size limit is hit too.
    for max in [sip::message::DEFAULT_MAX_MESSAGE_SIZE, 256] {
        let mut decoder = StreamDecoder::new(max);
        let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
        for chunk in data.chunks(step) {
            decoder.push(chunk);
            for _ in 0..64 {
                match decoder.next_event() {
                    Ok(Some(sip::message::StreamEvent::Message(m))) => exercise(m),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = decoder.buffered();
        }
    }
});

fn exercise(message: Message) {
    match message {
        Message::Request(mut request) => {
            let _ = validate_request(&request, &UasPolicy::default())
                .map_err(|rejection| rejection.to_response(&request).to_bytes());
            let _ = fill_received_rport(&mut request, "203.0.113.7:40000".parse().unwrap());
            if let Ok(via) = request.headers.top_via() {
                let _ = response_destination(&via);
            }
            let h = &request.headers;
            let _ = (h.vias(), h.from_addr(), h.to_addr(), h.call_id(), h.cseq());
            let _ = (
                h.max_forwards(),
                h.content_length(),
                h.content_type(),
                h.accept(),
            );
            let _ = (h.expires(), h.min_expires(), h.retry_after(), h.contacts());
            let _ = (h.routes(), h.record_routes(), h.allow(), h.supported());
            let _ = (h.require(), h.proxy_require());
            let _ = h.www_authenticate().count() + h.proxy_authenticate().count();
            let _ = sip::message::Response::for_request(&request, 200, "OK").to_bytes();
            let bytes = request.to_bytes();
            let _ = parse_datagram(&bytes);
        }
        Message::Response(response) => {
            let _ = validate_response(&response);
            let _ = learned_public_address(&response);
            for challenge in response
                .headers
                .www_authenticate()
                .chain(response.headers.proxy_authenticate())
            {
                let _ = sip::auth::parse_challenges(challenge);
            }
            let bytes = response.to_bytes();
            let _ = parse_datagram(&bytes);
        }
    }
}
