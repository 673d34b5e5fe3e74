//! STUN codec (RFC 8489) with the ICE (RFC 8445) and TURN (RFC 8656) attributes, TURN
//! ChannelData framing, and a sans-IO client transaction.
//!
//! - [`Message::decode`] validates framing and FINGERPRINT and never panics;
//!   [`verify_integrity`] checks MESSAGE-INTEGRITY(-SHA256) against an [`IntegrityKey`].
//! - [`Message::encode`] writes attributes in order and appends MESSAGE-INTEGRITY and
//!   FINGERPRINT itself, so callers never compute either by hand.
//! - [`ClientTransaction`] runs the RFC 8489 §6.2 retransmission schedule in the caller's time.

mod address;
mod attribute;
mod channel_data;
mod error;
mod fingerprint;
mod framing;
mod header;
mod integrity;
mod message;
mod saslprep;
mod transaction;

pub use attribute::{is_comprehension_required, types as attribute_types, Attribute};
pub use channel_data::{decode_channel_data, encode_channel_data, CHANNEL_NUMBERS};
pub use error::StunError;
pub use header::{
    is_stun, random_transaction_id, Class, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE,
};
pub use integrity::{append_message_integrity_sha256, verify_integrity, IntegrityKey};
pub use message::Message;
pub use transaction::{ClientTransaction, Outcome, RetransmitConfig};

/// The SASLprep subset applied to passwords and realms; public so callers can show what a
/// key was derived from.
pub use saslprep::prepare as prepare_password;
