//! Transaction keys (RFC 3261 §17.1.3, §17.2.3) from plain strings.

use super::branch::{is_rfc3261_branch, MAGIC_COOKIE};

/// Identifies a client transaction. RFC 3261 §17.1.3: a response matches when the top
/// Via branch equals the request's branch and the CSeq method equals the request's method
/// (so a CANCEL's response does not match the INVITE with the same branch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// The transaction id to use for a request's top Via `branch`: the branch itself when it
    /// is an RFC 3261 branch (the magic cookie plus an id, §8.1.1.7). Otherwise (no branch,
    /// an RFC 2543 branch, or only the cookie, RFC 4475 §3.2.1) RFC 3261 §17.2.3's backward
    /// compatible rule: the Request-URI, From tag, Call-ID and CSeq number identify the
    /// transaction, combined here into one string that no RFC 3261 branch can equal. The
    /// top Via's sent-by and the method complete the key in [`Self::for_request`] as
    /// usual. The To tag is left out so the ACK of a non-2xx (which carries our tag) still
    /// matches its INVITE.
    pub fn transaction_id(
        branch: &str,
        request_uri: &str,
        from_tag: &str,
        call_id: &str,
        cseq: u32,
    ) -> String {
        if is_rfc3261_branch(branch) && branch.len() > MAGIC_COOKIE.len() {
            return branch.to_owned();
        }
        // Space is not a token character, so this never collides with a real branch.
        format!("rfc2543 {request_uri} {from_tag} {call_id} {cseq}")
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
