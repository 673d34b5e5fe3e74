//! Transaction keys (RFC 3261 §17.1.3, §17.2.3) from plain strings.

/// Identifies a client transaction. RFC 3261 §17.1.3: a response matches when the top
/// Via branch equals the request's branch and the CSeq method equals the request's method
/// (so a CANCEL's response does not match the INVITE with the same branch).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientTransactionKey {
    branch: String,
    method: String,
}

impl ClientTransactionKey {
    /// Key from the branch we sent and the request method (or a response's CSeq method).
    pub fn new(branch: &str, method: &str) -> Self {
        ClientTransactionKey {
            branch: branch.to_owned(),
            method: method.to_owned(),
        }
    }

    /// The branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }
}

/// Identifies a server transaction. RFC 3261 §17.2.3: branch and sent-by of the top Via
/// plus the method, where an ACK matches the INVITE transaction it acknowledges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerTransactionKey {
    branch: String,
    sent_by: String,
    method: String,
}

impl ServerTransactionKey {
    /// Key of the server transaction that a request with this top Via `branch`, Via
    /// `sent_by` (`host[:port]`) and `method` belongs to. An ACK maps to the INVITE
    /// transaction (RFC 3261 §17.2.3); it only finds one for a non-2xx final, because the
    /// ACK for a 2xx carries a new branch (§13.2.2.4).
    pub fn for_request(branch: &str, sent_by: &str, method: &str) -> Self {
        let method = if method == "ACK" { "INVITE" } else { method };
        ServerTransactionKey {
            branch: branch.to_owned(),
            // RFC 3261 §19.1.4 / §20.42: host names compare case-insensitively.
            sent_by: sent_by.to_ascii_lowercase(),
            method: method.to_owned(),
        }
    }

    /// Key of the INVITE transaction a CANCEL with this branch and sent-by cancels
    /// (RFC 3261 §9.2: matched with the §17.2.3 rules, but the method is INVITE). The
    /// CANCEL itself gets its own transaction under [`Self::for_request`].
    pub fn cancel_target(branch: &str, sent_by: &str) -> Self {
        Self::for_request(branch, sent_by, "INVITE")
    }

    /// The branch (compared case-sensitively).
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The sent-by, lower-cased.
    pub fn sent_by(&self) -> &str {
        &self.sent_by
    }

    /// The method the transaction was created for (INVITE for an ACK).
    pub fn method(&self) -> &str {
        &self.method
    }
}
