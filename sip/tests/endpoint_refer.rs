//! Blind transfer by REFER (RFC 3515) on the virtual network: Alice (node 0) calls Bob
//! (node 1) and refers him to Carol (node 2); Bob accepts, calls Carol and reports with
//! NOTIFYs (message/sipfrag) that Alice answers 200. Rejection, malformed REFERs and
//! NOTIFYs, TCP, and a lost NOTIFY (virtual time).

mod net;

use std::time::Duration;

use net::{ua_config, Net};
use sip::endpoint::{
    Body, DialogId, EndpointError, HeaderEdits, ReferId, SipEvent, TerminationReason, TransportKind,
};
use sip::message::{HeaderName, Method};

const ALICE: u16 = 5070;
const BOB: u16 = 5080;
const CAROL: u16 = 5090;

fn sdp(tag: &str) -> Body {
    Body::new(
        "application/sdp",
        format!("v=0\r\no=- {tag}\r\n").into_bytes(),
    )
}

fn uri(user: &str, port: u16, transport: TransportKind) -> String {
    match transport {
        TransportKind::Udp => format!("sip:{user}@127.0.0.1:{port}"),
        TransportKind::Tcp => format!("sip:{user}@127.0.0.1:{port};transport=tcp"),
        TransportKind::Tls => format!("sip:{user}@127.0.0.1:{port};transport=tls"),
    }
}

/// Alice, Bob and Carol on 127.0.0.1, all preferring `transport`.
fn trio(transport: TransportKind) -> Net {
    let mut net = Net::new();
    for (i, (user, port)) in [("alice", ALICE), ("bob", BOB), ("carol", CAROL)]
        .into_iter()
        .enumerate()
    {
        let mut c = ua_config(&format!("sip:{user}@127.0.0.1"), port);
        c.default_transport = transport;
        net.add_ua(c, i as u64 + 1);
    }
    net
}

/// `caller` calls `callee` (at `port`) and `callee` answers; returns both dialog ids.
fn call(net: &mut Net, caller: usize, callee: usize, target: &str) -> (DialogId, DialogId) {
    let now = net.now;
    let a = net.ua(caller).invite(now, target, Some(sdp("o"))).unwrap();
    net.deliver();
    let (incoming, b) = net.events[callee]
        .iter()
        .find_map(|e| match e {
            SipEvent::IncomingCall {
                incoming, dialog, ..
            } => Some((*incoming, *dialog)),
            _ => None,
        })
        .expect("the callee sees the INVITE");
    let now = net.now;
    net.ua(callee)
        .respond(now, incoming, 200, Some(sdp("a")))
        .unwrap();
    net.deliver();
    assert!(
        net.events[caller]
            .iter()
            .any(|e| matches!(e, SipEvent::CallAnswered { dialog, .. } if *dialog == a)),
        "answered: {:?}",
        net.events[caller]
    );
    assert!(net.events[callee]
        .iter()
        .any(|e| matches!(e, SipEvent::AckReceived { dialog, .. } if *dialog == b)));
    net.take_events(caller);
    net.take_events(callee);
    (a, b)
}

fn incoming_refer(events: &[SipEvent]) -> Option<(DialogId, ReferId, String, Option<String>)> {
    events.iter().find_map(|e| match e {
        SipEvent::IncomingRefer {
            dialog,
            id,
            refer_to,
            referred_by,
        } => Some((*dialog, *id, refer_to.clone(), referred_by.clone())),
        _ => None,
    })
}

/// (status, terminated) of every TransferProgress of `id`, in order.
fn progress(events: &[SipEvent], id: ReferId) -> Vec<(u16, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            SipEvent::TransferProgress {
                id: i,
                status,
                terminated,
                ..
            } if *i == id => Some((*status, *terminated)),
            _ => None,
        })
        .collect()
}

fn refer_response(events: &[SipEvent], id: ReferId) -> Option<u16> {
    events.iter().find_map(|e| match e {
        SipEvent::ReferResponse { id: i, status, .. } if *i == id => Some(*status),
        _ => None,
    })
}

fn blind_transfer(transport: TransportKind) {
    let mut net = trio(transport);
    let (a, b) = call(&mut net, 0, 1, &uri("bob", BOB, transport));
    let carol = uri("carol", CAROL, transport);
    let now = net.now;
    let id = net
        .ua(0)
        .refer_with_referred_by(now, a, &carol, "<sip:alice@127.0.0.1>")
        .unwrap();
    net.deliver();

    // REFER/202 on the wire, with exactly one Refer-To naming Carol.
    let refers = net.sent_matching("REFER ");
    assert_eq!(refers.len(), 1);
    let text = refers[0].text();
    assert_eq!(text.matches("\r\nRefer-To: ").count(), 1, "{text}");
    assert!(
        text.contains(&format!("\r\nRefer-To: <{carol}>\r\n")),
        "{text}"
    );
    assert!(text.contains("\r\nReferred-By: <sip:alice@127.0.0.1>\r\n"));
    assert!(text.contains("\r\nContact: "));
    assert_eq!(
        net.sent_matching("SIP/2.0 202 Accepted").len(),
        0,
        "TU decides"
    );

    let (dialog, their_id, refer_to, referred_by) =
        incoming_refer(&net.events[1]).expect("Bob sees the REFER");
    assert_eq!(dialog, b);
    assert_eq!(refer_to, carol);
    assert_eq!(referred_by.as_deref(), Some("<sip:alice@127.0.0.1>"));
    let now = net.now;
    net.ua(1).accept_refer(now, their_id).unwrap();
    net.deliver();
    assert_eq!(net.sent_matching("SIP/2.0 202 Accepted").len(), 1);
    assert_eq!(refer_response(&net.events[0], id), Some(202));
    // Answered once: a second answer is refused.
    assert_eq!(
        net.ua(1).accept_refer(now, their_id),
        Err(EndpointError::UnknownRefer(their_id))
    );

    // RFC 3515 §2.4.4: the first NOTIFY at once, 100 Trying.
    net.ua(1)
        .notify_transfer(now, b, their_id, 100, false)
        .unwrap();
    net.deliver();
    assert_eq!(progress(&net.events[0], id), vec![(100, false)]);

    // Bob calls Carol; she answers; Bob reports 200 and ends the subscription.
    let (b2, _c) = call(&mut net, 1, 2, &refer_to);
    assert!(net.ua(1).dialog_ids().contains(&b2));
    let now = net.now;
    net.ua(1)
        .notify_transfer(now, b, their_id, 200, true)
        .unwrap();
    net.deliver();
    assert_eq!(
        progress(&net.events[0], id),
        vec![(100, false), (200, true)]
    );
    let reason = net.events[0].iter().rev().find_map(|e| match e {
        SipEvent::TransferProgress { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason.as_deref(), Some("OK"));
    // The subscription is over on both sides.
    assert_eq!(
        net.ua(1).notify_transfer(now, b, their_id, 200, true),
        Err(EndpointError::UnknownRefer(their_id))
    );

    // The NOTIFYs on the wire (RFC 3515 §2.4.5) and Alice's 200s to them.
    let notifies: Vec<String> = net
        .sent_matching("NOTIFY ")
        .iter()
        .map(|s| s.text())
        .collect();
    assert_eq!(notifies.len(), 2, "{notifies:?}");
    let cseq = text
        .lines()
        .find_map(|l| l.strip_prefix("CSeq: "))
        .and_then(|v| v.split(' ').next())
        .unwrap()
        .to_owned();
    for (n, (frag, state)) in notifies.iter().zip([
        ("SIP/2.0 100 Trying\r\n", "active;expires=60"),
        ("SIP/2.0 200 OK\r\n", "terminated;reason=noresource"),
    ]) {
        assert!(
            n.contains(&format!("\r\nEvent: refer;id={cseq}\r\n")),
            "{n}"
        );
        assert!(
            n.contains(&format!("\r\nSubscription-State: {state}\r\n")),
            "{n}"
        );
        assert!(
            n.contains("\r\nContent-Type: message/sipfrag;version=2.0\r\n"),
            "{n}"
        );
        assert!(n.ends_with(&format!("\r\n\r\n{frag}")), "{n}");
    }
    let oks = net
        .wire
        .iter()
        .filter(|s| s.from_node == 0 && s.start_line() == "SIP/2.0 200 OK")
        .filter(|s| s.text().contains(" NOTIFY\r\n"))
        .count();
    assert_eq!(oks, 2);
    assert!(net
        .wire
        .iter()
        .filter(|s| s.from_node < 2)
        .all(|s| s.transmit.transport == transport));

    // The transferor hangs up the original call.
    let now = net.now;
    net.ua(0).bye(now, a).unwrap();
    net.deliver();
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated {
            dialog,
            reason: TerminationReason::RemoteBye
        } if *dialog == b
    )));
    // Nothing else happened on a loss-free network.
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.ua(0).retransmissions() + net.ua(1).retransmissions(), 0);
    assert!(
        !net.events[0].iter().chain(&net.events[1]).any(|e| matches!(
            e,
            SipEvent::BadTransferNotify { .. } | SipEvent::TransferNotifyFailed { .. }
        ))
    );
}

#[test]
fn blind_transfer_udp() {
    blind_transfer(TransportKind::Udp);
}

#[test]
fn blind_transfer_tcp() {
    blind_transfer(TransportKind::Tcp);
}

#[test]
fn a_rejected_refer_gets_no_notify() {
    let mut net = trio(TransportKind::Udp);
    let (a, b) = call(&mut net, 0, 1, &uri("bob", BOB, TransportKind::Udp));
    let now = net.now;
    let id = net
        .ua(0)
        .refer(now, a, &uri("carol", CAROL, TransportKind::Udp))
        .unwrap();
    net.deliver();
    let (_, their_id, _, referred_by) = incoming_refer(&net.events[1]).unwrap();
    assert_eq!(referred_by, None);
    assert!(!net.sent_matching("REFER ")[0]
        .text()
        .contains("Referred-By"));
    assert_eq!(
        net.ua(1).reject_refer(now, their_id, 202),
        Err(EndpointError::InvalidStatus(202))
    );
    net.ua(1).reject_refer(now, their_id, 603).unwrap();
    net.deliver();
    assert_eq!(net.sent_matching("SIP/2.0 603 Decline").len(), 1);
    assert_eq!(refer_response(&net.events[0], id), Some(603));
    assert_eq!(
        net.ua(1).notify_transfer(now, b, their_id, 100, false),
        Err(EndpointError::UnknownRefer(their_id))
    );
    assert_eq!(
        net.ua(1).accept_refer(now, their_id),
        Err(EndpointError::UnknownRefer(their_id))
    );
    net.run_for(Duration::from_secs(40));
    assert!(net.sent_matching("NOTIFY ").is_empty());
    // The call itself goes on.
    assert_eq!(net.ua(0).dialog_ids(), vec![a]);
    assert_eq!(net.ua(1).dialog_ids(), vec![b]);
}

/// RFC 3515 §2.4.1: a REFER without exactly one Refer-To gets 400; so does one outside a
/// dialog (not supported), and a NOTIFY outside a dialog gets 481.
#[test]
fn a_refer_without_one_refer_to_gets_400() {
    let mut net = trio(TransportKind::Udp);
    let (a, _b) = call(&mut net, 0, 1, &uri("bob", BOB, TransportKind::Udp));
    let carol = uri("carol", CAROL, TransportKind::Udp);
    let mut ids = Vec::new();
    for edits in [
        HeaderEdits {
            remove: vec![HeaderName::ReferTo],
            ..HeaderEdits::default()
        },
        HeaderEdits {
            add: vec![(HeaderName::ReferTo, "<sip:dave@127.0.0.1>".into())],
            ..HeaderEdits::default()
        },
    ] {
        net.ua(0).edit_next_request(Method::Refer, edits);
        let now = net.now;
        ids.push(net.ua(0).refer(now, a, &carol).unwrap());
        net.ua(0).clear_next_edits();
        net.deliver();
    }
    assert_eq!(net.sent_matching("SIP/2.0 400 Bad Request").len(), 2);
    for id in ids {
        assert_eq!(refer_response(&net.events[0], id), Some(400));
    }
    assert!(incoming_refer(&net.events[1]).is_none());
    let second = net.sent_matching("REFER ")[1].text();
    assert_eq!(second.matches("\r\nRefer-To: ").count(), 2, "{second}");
    assert!(net.ua(0).dialog_ids().contains(&a));

    // Outside a dialog.
    let bob = "127.0.0.1:5080".parse().unwrap();
    let peer = "127.0.0.1:5999".parse().unwrap();
    let msg = |method: &str| {
        format!(
            "{method} sip:bob@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{method}o;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=x1\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: c-{method}\r\nCSeq: 5 {method}\r\nRefer-To: <sip:carol@127.0.0.1>\r\n\
             Event: refer\r\nSubscription-State: active\r\nContent-Length: 0\r\n\r\n"
        )
    };
    net.wire.clear();
    let now = net.now;
    net.ua(1)
        .handle_datagram(now, bob, peer, msg("REFER").as_bytes());
    net.ua(1)
        .handle_datagram(now, bob, peer, msg("NOTIFY").as_bytes());
    net.deliver();
    let lines: Vec<String> = net.wire.iter().map(|s| s.start_line()).collect();
    assert_eq!(
        lines,
        vec![
            "SIP/2.0 400 Bad Request".to_owned(),
            "SIP/2.0 481 Call/Transaction Does Not Exist".to_owned()
        ]
    );
    assert!(incoming_refer(&net.events[1]).is_none());
}

/// Bob accepts and reports; returns (Alice's REFER id, Bob's dialog and REFER id).
fn accepted_transfer(net: &mut Net) -> (DialogId, ReferId, DialogId, ReferId) {
    let (a, b) = call(net, 0, 1, &uri("bob", BOB, TransportKind::Udp));
    let now = net.now;
    let id = net
        .ua(0)
        .refer(now, a, &uri("carol", CAROL, TransportKind::Udp))
        .unwrap();
    net.deliver();
    let (_, their_id, _, _) = incoming_refer(&net.events[1]).unwrap();
    net.ua(1).accept_refer(now, their_id).unwrap();
    net.deliver();
    assert_eq!(refer_response(&net.events[0], id), Some(202));
    (a, id, b, their_id)
}

/// A lost NOTIFY is sent again by its non-INVITE client transaction (Timer E); a lost 200
/// makes Bob send it again too, and Alice's server transaction answers the copy without
/// a second event.
#[test]
fn a_lost_notify_is_retransmitted_and_deduplicated() {
    let mut net = trio(TransportKind::Udp);
    let (_a, id, b, their_id) = accepted_transfer(&mut net);
    // The first NOTIFY is lost.
    let mut dropped = false;
    net.set_drop(move |s| {
        let first = !dropped && s.start_line().starts_with("NOTIFY ");
        dropped |= first;
        first
    });
    let now = net.now;
    net.ua(1)
        .notify_transfer(now, b, their_id, 100, false)
        .unwrap();
    net.deliver();
    assert!(progress(&net.events[0], id).is_empty());
    net.run_for(Duration::from_secs(1));
    assert_eq!(progress(&net.events[0], id), vec![(100, false)]);
    assert_eq!(net.sent_matching("NOTIFY ").len(), 2, "sent again after T1");
    assert!(net.ua(1).retransmissions() >= 1);

    // Now the 200 to the final NOTIFY is lost: Bob retransmits, Alice answers again.
    let mut dropped = false;
    net.set_drop(move |s| {
        let first = !dropped && s.from_node == 0 && s.text().contains(" NOTIFY\r\n");
        dropped |= first;
        first
    });
    let now = net.now;
    net.ua(1)
        .notify_transfer(now, b, their_id, 200, true)
        .unwrap();
    net.run_for(Duration::from_secs(40));
    assert_eq!(
        progress(&net.events[0], id),
        vec![(100, false), (200, true)],
        "the copy was absorbed by the server transaction"
    );
    assert_eq!(net.sent_matching("NOTIFY ").len(), 4);
    assert!(!net.events[1]
        .iter()
        .any(|e| matches!(e, SipEvent::TransferNotifyFailed { .. })));
}

/// RFC 3515 §2.4.5: a NOTIFY whose sipfrag has no status line is answered 400 and
/// reported; one for an unknown REFER gets 481 and one of another package 489.
#[test]
fn a_malformed_sipfrag_gets_400() {
    let mut net = trio(TransportKind::Udp);
    let (_a, id, b, their_id) = accepted_transfer(&mut net);
    let now = net.now;
    net.ua(1)
        .notify_transfer(now, b, their_id, 180, false)
        .unwrap();
    net.deliver();
    assert_eq!(progress(&net.events[0], id), vec![(180, false)]);
    let good = net.sent_matching("NOTIFY ")[0].text();
    let cseq = good
        .lines()
        .find_map(|l| l.strip_prefix("CSeq: "))
        .and_then(|v| v.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap();
    let alice = "127.0.0.1:5070".parse().unwrap();
    let bob = "127.0.0.1:5080".parse().unwrap();
    // Same length bodies, fresh branches and CSeqs.
    let variant = |n: u32, from: &str, to: &str| {
        good.replace("branch=z9hG4bK", &format!("branch=z9hG4bK{n}x"))
            .replace(
                &format!("CSeq: {cseq} NOTIFY"),
                &format!("CSeq: {} NOTIFY", cseq + n),
            )
            .replace(from, to)
    };
    let bad_frag = variant(1, "SIP/2.0 180 Ringing", "SIP/2.0 1x0 Ringing");
    let unknown_id = variant(2, "Event: refer;id=", "Event: refer;id=9");
    let other_package = variant(3, "Event: refer;", "Event: dialog;");
    net.wire.clear();
    let now = net.now;
    for m in [&bad_frag, &unknown_id, &other_package] {
        net.ua(0).handle_datagram(now, alice, bob, m.as_bytes());
    }
    net.deliver();
    let lines: Vec<String> = net.wire.iter().map(|s| s.start_line()).collect();
    assert_eq!(
        lines,
        vec![
            "SIP/2.0 400 Bad Request".to_owned(),
            "SIP/2.0 481 Call/Transaction Does Not Exist".to_owned(),
            "SIP/2.0 489 Bad Event".to_owned(),
        ]
    );
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::BadTransferNotify { id: i, detail, .. } if *i == id && detail.contains("1x0")
    )));
    assert_eq!(progress(&net.events[0], id), vec![(180, false)]);
    // The subscription still stands: the next good NOTIFY is taken.
    let busy = variant(4, "SIP/2.0 180 Ringing", "SIP/2.0 183 Ringing");
    let now = net.now;
    net.ua(0).handle_datagram(now, alice, bob, busy.as_bytes());
    net.deliver();
    assert_eq!(
        progress(&net.events[0], id),
        vec![(180, false), (183, false)]
    );
}

/// A REFER the transferee never answers times out at the transferor as 408 (Timer F) and
/// leaves the call up; when the call ends, the unanswered server transaction goes with it.
#[test]
fn an_unanswered_refer_times_out_and_goes_with_the_dialog() {
    let mut net = trio(TransportKind::Udp);
    let (a, b) = call(&mut net, 0, 1, &uri("bob", BOB, TransportKind::Udp));
    let now = net.now;
    let id = net
        .ua(0)
        .refer(now, a, &uri("carol", CAROL, TransportKind::Udp))
        .unwrap();
    net.deliver();
    let (_, their_id, _, _) = incoming_refer(&net.events[1]).unwrap();
    net.run_for(Duration::from_secs(40));
    assert_eq!(refer_response(&net.events[0], id), Some(408));
    assert_eq!(net.ua(0).dialog_ids(), vec![a]);
    assert_eq!(net.ua(1).server_transaction_count(), 1, "the REFER waits");
    // The transferee's REFER answered by nobody: the call ends and takes it along.
    let now = net.now;
    net.ua(0).bye(now, a).unwrap();
    net.run_for(Duration::from_secs(40));
    assert!(net.ua(1).dialog_ids().is_empty());
    assert_eq!(net.ua(1).server_transaction_count(), 0);
    let now = net.now;
    assert_eq!(
        net.ua(1).accept_refer(now, their_id),
        Err(EndpointError::UnknownRefer(their_id))
    );
    assert_eq!(
        net.ua(1).notify_transfer(now, b, their_id, 100, false),
        Err(EndpointError::UnknownDialog(b))
    );
}
