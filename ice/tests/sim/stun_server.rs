//! A STUN server (RFC 8489) answering Binding requests, inside the simulated network.

use std::net::SocketAddr;

use ice::stun::{Attribute, Class, Message, Method};

/// Name sent in SOFTWARE (RFC 8489 §14.14).
pub const STUN_SOFTWARE: &str = "icephone-sim STUN";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StunServerStats {
    pub binding_requests: u64,
    pub success_responses: u64,
    pub error_responses: u64,
    /// Datagrams that were not valid STUN, or STUN but not a request (indications are dropped).
    pub ignored: u64,
}

pub struct StunServer {
    addr: SocketAddr,
    stats: StunServerStats,
}

impl StunServer {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stats: StunServerStats::default(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &StunServerStats {
        &self.stats
    }

    /// Handle one datagram; the replies as (source, destination, bytes).
    pub fn handle(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let request = match Message::decode(data) {
            Ok(m) if m.class == Class::Request => m,
            // RFC 8489 §6.3: anything else (bad STUN, indications, responses) gets no answer.
            _ => {
                self.stats.ignored += 1;
                return Vec::new();
            }
        };
        let response = self.answer(from, &request);
        vec![(to, from, response.encode(None, true))]
    }

    fn answer(&mut self, from: SocketAddr, request: &Message) -> Message {
        let id = request.transaction_id;
        // RFC 8489 §6.3.1.1: unknown comprehension-required attributes → 420.
        if !request.unknown_comprehension_required.is_empty() {
            self.stats.error_responses += 1;
            return Message::new(Class::Error, request.method, id)
                .with(Attribute::ErrorCode {
                    code: 420,
                    reason: "Unknown Attribute".into(),
                })
                .with(Attribute::UnknownAttributes(
                    request.unknown_comprehension_required.clone(),
                ))
                .with(Attribute::Software(STUN_SOFTWARE.into()));
        }
        if request.method != Method::Binding {
            self.stats.error_responses += 1;
            return Message::new(Class::Error, request.method, id)
                .with(Attribute::ErrorCode {
                    code: 400,
                    reason: "Bad Request: only Binding is served here".into(),
                })
                .with(Attribute::Software(STUN_SOFTWARE.into()));
        }
        self.stats.binding_requests += 1;
        self.stats.success_responses += 1;
        // RFC 8489 §7.3.1: the success response carries XOR-MAPPED-ADDRESS = the source seen;
        // §14.14 SOFTWARE [S]; FINGERPRINT is added by encode() (§14.7).
        Message::new(Class::Success, Method::Binding, id)
            .with(Attribute::XorMappedAddress(from))
            .with(Attribute::Software(STUN_SOFTWARE.into()))
    }
}
