//! The SIP message layer: model, parser, serializer, framing and UAS/UAC validation.
//!
//! The project's own code rather than `rsip` (see `sip/ASSUMPTIONS.md`, "Why not rsip").
//! Bytes in: [`parse_datagram`] for UDP, [`StreamDecoder`] for TCP/TLS. Bytes out:
//! [`Request::to_bytes`] / [`Response::to_bytes`] (Content-Length recomputed). Header
//! values are stored as text, one list element per entry, and read through the typed
//! accessors on [`Headers`] (`top_via`, `from_addr`, `cseq`, `contacts`, ...).
//!
//! A UAS receiving a datagram:
//!
//! ```
//! use sip::message::{parse_datagram, validate_request, fill_received_rport, Message, Response, UasPolicy};
//!
//! let bytes = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! v: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK1\r\n\
//! f: <sip:alice@example.com>;tag=a\r\nt: <sip:bob@example.com>\r\n\
//! i: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
//! let Ok(Message::Request(mut request)) = parse_datagram(bytes) else { panic!() };
//! fill_received_rport(&mut request, "203.0.113.7:40000".parse().unwrap()).unwrap();
//! let response = match validate_request(&request, &UasPolicy::default()) {
//!     Ok(()) => Response::for_request(&request, 200, "OK").with_to_tag("b"),
//!     Err(rejection) => rejection.to_response(&request),
//! };
//! let wire = response.to_bytes();
//! assert!(wire.starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;rport=40000;"));
//! ```

mod builder;
mod error;
mod framing;
mod header_name;
mod headers;
mod host;
mod method;
mod model;
mod name_addr;
mod params;
mod parse;
mod rport;
mod serialize;
mod text;
mod typed;
mod uri;
mod validate;
mod via;

pub use builder::RequestBuilder;
pub use error::ParseError;
pub use framing::{StreamDecoder, StreamEvent, DEFAULT_MAX_MESSAGE_SIZE};
pub use header_name::HeaderName;
pub use headers::{Header, Headers};
pub use host::Host;
pub use method::Method;
pub use model::{Message, Request, Response, Version};
pub use name_addr::NameAddr;
pub use params::{Param, Params};
pub use parse::{parse_datagram, salvage_headers};
pub use rport::{fill_received_rport, learned_public_address, response_destination};
pub use typed::{CSeq, Contacts, MediaType, RetryAfter};
pub use uri::{SipUri, Uri};
pub use validate::{
    error_response_for_unparsable, validate_request, validate_response, Rejection, ResponseDiscard,
    UasPolicy,
};
pub use via::{Transport, Via, BRANCH_MAGIC_COOKIE};
