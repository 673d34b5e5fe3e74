//! Branch generation (RFC 3261 §8.1.1.7) and transaction keys (§17.1.3, §17.2.3).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::SeedableRng;
use sip::transaction::{
    generate_branch, is_rfc3261_branch, ClientTransactionKey, ServerTransactionKey, MAGIC_COOKIE,
};

#[test]
fn branches_carry_the_magic_cookie_and_token_characters() {
    let mut rng = rand::rng();
    let branch = generate_branch(&mut rng);
    assert!(branch.starts_with("z9hG4bK"));
    assert!(is_rfc3261_branch(&branch));
    assert_eq!(branch.len(), MAGIC_COOKIE.len() + 24);
    assert!(branch.chars().all(|c| c.is_ascii_alphanumeric()));
}

#[test]
fn ten_thousand_branches_are_unique() {
    let mut rng = StdRng::seed_from_u64(7);
    let set: HashSet<String> = (0..10_000).map(|_| generate_branch(&mut rng)).collect();
    assert_eq!(set.len(), 10_000);
}

#[test]
fn legacy_branches_are_recognised() {
    assert!(!is_rfc3261_branch("1234abcd"));
    // The cookie is case-sensitive.
    assert!(!is_rfc3261_branch("Z9HG4BK1234"));
}

#[test]
fn ack_matches_the_invite_server_transaction() {
    let invite = ServerTransactionKey::for_request("z9hG4bK776", "pc33.example.com:5060", "INVITE");
    let ack = ServerTransactionKey::for_request("z9hG4bK776", "PC33.Example.COM:5060", "ACK");
    assert_eq!(invite, ack);
    assert_eq!(ack.method(), "INVITE");
    assert_eq!(ack.sent_by(), "pc33.example.com:5060");
}

#[test]
fn cancel_has_its_own_transaction_but_finds_the_invite() {
    let invite = ServerTransactionKey::for_request("z9hG4bK776", "192.0.2.4:5060", "INVITE");
    let cancel = ServerTransactionKey::for_request("z9hG4bK776", "192.0.2.4:5060", "CANCEL");
    assert_ne!(invite, cancel);
    assert_eq!(
        ServerTransactionKey::cancel_target("z9hG4bK776", "192.0.2.4:5060"),
        invite
    );
}

#[test]
fn server_keys_differ_by_branch_sent_by_and_method() {
    let base = ServerTransactionKey::for_request("z9hG4bKa", "192.0.2.4:5060", "BYE");
    assert_ne!(
        base,
        ServerTransactionKey::for_request("z9hG4bKA", "192.0.2.4:5060", "BYE")
    );
    assert_ne!(
        base,
        ServerTransactionKey::for_request("z9hG4bKa", "192.0.2.5:5060", "BYE")
    );
    assert_ne!(
        base,
        ServerTransactionKey::for_request("z9hG4bKa", "192.0.2.4:5060", "INFO")
    );
}

#[test]
fn client_key_separates_cancel_from_invite() {
    let invite = ClientTransactionKey::new("z9hG4bKx", "INVITE");
    let cancel = ClientTransactionKey::new("z9hG4bKx", "CANCEL");
    assert_ne!(invite, cancel);
    assert_eq!(invite, ClientTransactionKey::new("z9hG4bKx", "INVITE"));
    assert_eq!(invite.branch(), "z9hG4bKx");
    assert_eq!(cancel.method(), "CANCEL");
}
