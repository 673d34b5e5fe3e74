//! The requests a TURN client sends, as data, and how each becomes a STUN message.

use std::net::{IpAddr, SocketAddr};

use crate::stun::{Attribute, Class, Message, Method, TransactionId};

/// RFC 8656 §14.7: REQUESTED-TRANSPORT value for UDP.
pub const TRANSPORT_UDP: u8 = 17;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Allocate {
        lifetime: u32,
    },
    /// `lifetime` 0 deletes the allocation (RFC 8656 §8).
    Refresh {
        lifetime: u32,
    },
    CreatePermission(IpAddr),
    ChannelBind {
        peer: SocketAddr,
        channel: u16,
    },
}

impl Request {
    /// The message without credentials (USERNAME, REALM, NONCE are added by the caller).
    pub fn message(&self, id: TransactionId) -> Message {
        match self {
            // RFC 8656 §7.1: REQUESTED-TRANSPORT is mandatory; LIFETIME is a wish.
            Request::Allocate { lifetime } => Message::new(Class::Request, Method::Allocate, id)
                .with(Attribute::RequestedTransport(TRANSPORT_UDP))
                .with(Attribute::Lifetime(*lifetime)),
            Request::Refresh { lifetime } => Message::new(Class::Request, Method::Refresh, id)
                .with(Attribute::Lifetime(*lifetime)),
            // RFC 8656 §9.1: the port of XOR-PEER-ADDRESS is ignored; only the IP matters.
            Request::CreatePermission(ip) => {
                Message::new(Class::Request, Method::CreatePermission, id)
                    .with(Attribute::XorPeerAddress(SocketAddr::new(*ip, 0)))
            }
            Request::ChannelBind { peer, channel } => {
                Message::new(Class::Request, Method::ChannelBind, id)
                    .with(Attribute::ChannelNumber(*channel))
                    .with(Attribute::XorPeerAddress(*peer))
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Request::Allocate { .. } => "Allocate",
            Request::Refresh { .. } => "Refresh",
            Request::CreatePermission(_) => "CreatePermission",
            Request::ChannelBind { .. } => "ChannelBind",
        }
    }
}
