//! SIP request methods (RFC 3261 §7.1; method names are case-sensitive).

use std::fmt;
use std::str::FromStr;

use super::error::ParseError;
use super::text::is_token;

/// A request method. Unknown methods parse as [`Method::Extension`]; a UAS answers them
/// 501 (RFC 3261 §8.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `INVITE`: starts a session, or changes it in a dialog (re-INVITE) (RFC 3261 §13, §14).
    Invite,
    /// `ACK`: confirms a final response to an INVITE (RFC 3261 §13.2.2.4, §17.1.1.3).
    Ack,
    /// `BYE`: ends a dialog (RFC 3261 §15).
    Bye,
    /// `CANCEL`: cancels a pending request, in practice an INVITE (RFC 3261 §9).
    Cancel,
    /// `REGISTER`: binds an AOR to contact addresses (RFC 3261 §10).
    Register,
    /// `OPTIONS`: asks for capabilities (RFC 3261 §11).
    Options,
    /// `UPDATE`: changes session parameters without a re-INVITE (RFC 3311).
    Update,
    /// `INFO`: application information within a dialog (RFC 6086).
    Info,
    /// `PRACK`: acknowledges a reliable provisional response (RFC 3262).
    Prack,
    /// `SUBSCRIBE`: requests event notifications (RFC 6665).
    Subscribe,
    /// `NOTIFY`: reports an event to a subscriber (RFC 6665).
    Notify,
    /// `REFER`: asks the recipient to contact a third party (RFC 3515).
    Refer,
    /// `MESSAGE`: an instant message (RFC 3428).
    Message,
    /// Any other token, kept exactly as received.
    Extension(String),
}

impl Method {
    /// The method name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Extension(name) => name,
        }
    }
}

impl FromStr for Method {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // RFC 3261 §7.1: "The method names are case-sensitive"; "invite" is an extension.
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            // RFC 3261 §25.1: extension-method = token.
            other if is_token(other) => Method::Extension(other.to_owned()),
            other => return Err(ParseError::Method(other.to_owned())),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_extension_methods() {
        assert_eq!("INVITE".parse::<Method>().unwrap(), Method::Invite);
        assert_eq!(
            "invite".parse::<Method>().unwrap(),
            Method::Extension("invite".into())
        );
        assert_eq!(
            "RE%47IST%45R".parse::<Method>().unwrap().as_str(),
            "RE%47IST%45R"
        );
        assert!("BAD METHOD".parse::<Method>().is_err());
        assert!("".parse::<Method>().is_err());
    }
}
