//! The 20-byte STUN header (RFC 8489 §5): message type (method + class), length, magic
//! cookie and transaction ID.

/// RFC 8489 §5: the fixed value at bytes 4..8 of every STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Size of the STUN header in bytes (RFC 8489 §5).
pub const HEADER_LEN: usize = 20;

/// The 96-bit transaction ID that pairs a response with its request (RFC 8489 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// RFC 8489 §5: the ID is chosen uniformly at random from the 96-bit space; pass a
    /// cryptographically strong RNG (e.g. `rand::rng()`).
    pub fn random<R: rand::Rng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; 12];
        rng.fill_bytes(&mut id);
        TransactionId(id)
    }
}

/// The message class (RFC 8489 §5): two bits C1 C0 spread inside the message type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Class {
    /// A request (0b00): expects a success or error response with its transaction ID.
    Request,
    /// An indication (0b01): no response (e.g. keepalives, TURN Send/Data).
    Indication,
    /// A success response (0b10).
    Success,
    /// An error response (0b11), carrying ERROR-CODE.
    Error,
}

impl Class {
    /// RFC 8489 §5: request 0b00, indication 0b01, success response 0b10, error response 0b11.
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }

    fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::Success,
            _ => Class::Error,
        }
    }

    /// True for success and error responses.
    pub fn is_response(self) -> bool {
        matches!(self, Class::Success | Class::Error)
    }
}

/// The STUN method: the 12-bit operation a message belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Method {
    /// RFC 8489 §18.2: 0x001.
    Binding,
    /// RFC 8656 §17: 0x003.
    Allocate,
    /// RFC 8656 §17: 0x004.
    Refresh,
    /// RFC 8656 §17: 0x006 (indication only).
    Send,
    /// RFC 8656 §17: 0x007 (indication only).
    Data,
    /// RFC 8656 §17: 0x008.
    CreatePermission,
    /// RFC 8656 §17: 0x009.
    ChannelBind,
    /// Any other method number. Only the low 12 bits are encoded; a number that belongs to a
    /// named method above decodes as that method.
    Other(u16),
}

impl Method {
    /// The 12-bit method number.
    pub fn number(self) -> u16 {
        match self {
            Method::Binding => 0x001,
            Method::Allocate => 0x003,
            Method::Refresh => 0x004,
            Method::Send => 0x006,
            Method::Data => 0x007,
            Method::CreatePermission => 0x008,
            Method::ChannelBind => 0x009,
            Method::Other(n) => n & 0x0FFF,
        }
    }

    /// The method with this number; only the low 12 bits count, and an unnamed number
    /// becomes [`Method::Other`].
    pub fn from_number(n: u16) -> Self {
        match n & 0x0FFF {
            0x001 => Method::Binding,
            0x003 => Method::Allocate,
            0x004 => Method::Refresh,
            0x006 => Method::Send,
            0x007 => Method::Data,
            0x008 => Method::CreatePermission,
            0x009 => Method::ChannelBind,
            other => Method::Other(other),
        }
    }
}

/// RFC 8489 §5: the 14-bit message type interleaves the method bits M11..M0 with the class
/// bits C1 C0 as `M11-M7 C1 M6-M4 C0 M3-M0`.
pub fn message_type(method: Method, class: Class) -> u16 {
    let m = method.number();
    let c = class.bits();
    ((m & 0x0F80) << 2) | ((m & 0x0070) << 1) | (m & 0x000F) | ((c & 0b10) << 7) | ((c & 0b01) << 4)
}

/// Inverse of [`message_type`]; the two leading bits must already be known to be zero.
pub fn split_message_type(typ: u16) -> (Method, Class) {
    let method = ((typ >> 2) & 0x0F80) | ((typ >> 1) & 0x0070) | (typ & 0x000F);
    let class = ((typ >> 7) & 0b10) | ((typ >> 4) & 0b01);
    (Method::from_number(method), Class::from_bits(class))
}

/// Cheap demultiplexing test (RFC 7983 §7, RFC 8489 §5): at least a header's worth of bytes,
/// the first two bits zero and the magic cookie in place. It does not validate the rest.
pub fn is_stun(bytes: &[u8]) -> bool {
    match (bytes.first(), bytes.get(4..8)) {
        (Some(first), Some(cookie)) if bytes.len() >= HEADER_LEN => {
            first & 0xC0 == 0 && cookie == MAGIC_COOKIE.to_be_bytes()
        }
        _ => false,
    }
}

/// A fresh ID from the thread-local cryptographically secure RNG, for callers without their
/// own RNG plumbing.
pub fn random_transaction_id() -> TransactionId {
    TransactionId::random(&mut rand::rng())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_request_and_success_types_match_rfc_values() {
        // RFC 8489 §5/§6: Binding request 0x0001, success 0x0101, error 0x0111, indication 0x0011.
        assert_eq!(message_type(Method::Binding, Class::Request), 0x0001);
        assert_eq!(message_type(Method::Binding, Class::Success), 0x0101);
        assert_eq!(message_type(Method::Binding, Class::Error), 0x0111);
        assert_eq!(message_type(Method::Binding, Class::Indication), 0x0011);
        // RFC 8656: Allocate request 0x0003, Send indication 0x0016, Data indication 0x0017.
        assert_eq!(message_type(Method::Allocate, Class::Request), 0x0003);
        assert_eq!(message_type(Method::Send, Class::Indication), 0x0016);
        assert_eq!(message_type(Method::Data, Class::Indication), 0x0017);
    }

    #[test]
    fn every_method_and_class_round_trips_through_the_type_field() {
        let classes = [
            Class::Request,
            Class::Indication,
            Class::Success,
            Class::Error,
        ];
        for m in 0..=0x0FFFu16 {
            for class in classes {
                let typ = message_type(Method::from_number(m), class);
                assert_eq!(typ & 0xC000, 0, "leading bits must stay zero");
                let (method, back) = split_message_type(typ);
                assert_eq!(method.number(), m);
                assert_eq!(back, class);
            }
        }
    }

    #[test]
    fn is_stun_checks_length_leading_bits_and_cookie() {
        let mut header = [0u8; 20];
        header[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert!(is_stun(&header));
        assert!(!is_stun(&header[..19]));
        let mut rtp = header;
        rtp[0] = 0x80;
        assert!(!is_stun(&rtp));
        let mut wrong_cookie = header;
        wrong_cookie[7] ^= 1;
        assert!(!is_stun(&wrong_cookie));
        assert!(!is_stun(&[]));
    }

    #[test]
    fn random_ids_differ() {
        let a = random_transaction_id();
        let b = random_transaction_id();
        assert_ne!(a, b);
    }
}
