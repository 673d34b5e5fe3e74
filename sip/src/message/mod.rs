//! The SIP message layer: model, parser, serializer, framing and UAS/UAC validation.
//!
//! The project's own code rather than `rsip` (see `sip/ASSUMPTIONS.md`, "Why not rsip").
//! Bytes in: [`parse_datagram`] for UDP, [`StreamDecoder`] for TCP/TLS. Bytes out:
//! [`Request::to_bytes`] / [`Response::to_bytes`] (Content-Length recomputed). Header
//! values are stored as text, one list element per entry, and read through the typed
//! accessors on [`Headers`] (`top_via`, `from_addr`, `cseq`, `contacts`, ...).

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
