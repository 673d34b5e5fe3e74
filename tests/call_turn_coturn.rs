//! A call whose caller gathers a relayed candidate from a real coturn on 127.0.0.1: the relay
//! is signalled as the default (RFC 8839 §4.2.1.2: most likely to work), ICE selects the
//! host pair, and the caller sends the updated offer (RFC 8839 §4.3.4).

#[path = "support/coturn.rs"]
mod coturn;

use std::net::IpAddr;
use std::time::Duration;

use coturn::{Coturn, CoturnOptions};
use ice::CandidateKind;
use icephone::call::{run_callee, run_caller, CallOptions};
use icephone::config::TurnSettings;
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::signalling::{spawn as spawn_ua, UaConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_default_host_selection_and_the_updated_offer() {
    // Started and answering a Binding request before the call begins.
    let coturn = Coturn::start(&CoturnOptions::turn_alice());
    let emitter = Emitter::new(false, true);
    let lo = IpAddr::from([127, 0, 0, 1]);
    let ua = |aor: &str| UaConfig::new((lo, 0).into(), aor);
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let mut callee = CallOptions::new("callee", vec![lo], emitter.clone());
    callee.allow_loopback = true;
    let callee_task = tokio::spawn(run_callee(callee, callee_ua));
    let mut caller = CallOptions::new("caller", vec![lo], emitter.clone());
    caller.allow_loopback = true;
    caller.turn = Some(TurnSettings::udp(coturn.addr, "alice", "secret"));
    caller.duration = Some(Duration::from_millis(800));
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1")).await.unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        run_caller(caller, caller_ua, &target),
    )
    .await
    .expect("call finished")
    .unwrap();
    let callee = callee_task.await.unwrap().unwrap();
    assert_eq!(outcome.exit, exit::OK, "{}", outcome.reason);
    let events = emitter.events();
    let relay = events.iter().find_map(|e| match e {
        Event::Candidates {
            agent, candidates, ..
        } if agent == "caller" => candidates.iter().find(|c| c.kind == "relay").cloned(),
        _ => None,
    });
    let relay = relay.expect("coturn gave a relayed candidate");
    // The relay is the default…
    assert_eq!(
        outcome.signalled_default.map(|a| a.to_string()),
        Some(relay.address.clone())
    );
    // …ICE selected the host pair…
    let (local, _) = outcome.selected.clone().expect("selected");
    assert_eq!(local.kind, CandidateKind::Host);
    // …so the updated offer went out and was answered.
    assert_eq!(outcome.updated_offer_sent.as_deref(), Some("UPDATE"));
    assert_eq!(callee.updated_offer_received.as_deref(), Some("UPDATE"));
    assert!(callee.media.rtp_received > 10);
    drop(coturn);
}
