//! A call whose caller gathers a relayed candidate from a real coturn on 127.0.0.1: the relay
//! is signalled as the default (RFC 8839 §4.2.1.2: most likely to work), ICE selects the
//! host pair, and the caller sends the updated offer (RFC 8839 §4.3.4).

use std::fs;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ice::CandidateKind;
use icephone::call::{run_callee, run_caller, CallOptions};
use icephone::config::TurnSettings;
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::signalling::{spawn as spawn_ua, UaConfig};

const TURNSERVER: &str = "/usr/bin/turnserver";

/// coturn, killed by its own PID and cleaned up on drop.
struct Coturn {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_coturn() -> Coturn {
    assert!(
        Path::new(TURNSERVER).exists(),
        "coturn is not installed: run ./test.sh"
    );
    let dir = std::env::temp_dir().join(format!("icephone-call-coturn-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let relay_min = free_port().clamp(1024, 65_000);
    let config = format!(
        "listening-ip=127.0.0.1\nlistening-port={port}\nrelay-ip=127.0.0.1\n\
         min-port={relay_min}\nmax-port={}\nlt-cred-mech\nrealm=icephone.test\n\
         user=alice:secret\nuserdb={}\npidfile={}\nlog-file={}\nsimple-log\nno-stdout-log\n\
         no-tls\nno-dtls\nno-tcp\nno-tcp-relay\nno-cli\nno-rfc5780\nallow-loopback-peers\n",
        relay_min + 40,
        dir.join("turndb").display(),
        dir.join("turnserver.pid").display(),
        dir.join("turnserver.log").display(),
    );
    let conf = dir.join("turnserver.conf");
    fs::write(&conf, config).unwrap();
    let child = Command::new(TURNSERVER)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("coturn starts");
    Coturn {
        child,
        dir,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_default_host_selection_and_the_updated_offer() {
    let coturn = start_coturn();
    // Give coturn a moment to bind (the agent's gathering retransmits anyway).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let emitter = Emitter::new(false, true);
    let lo = IpAddr::from([127, 0, 0, 1]);
    let ua = |aor: &str| UaConfig {
        bind: (lo, 0).into(),
        aor: aor.into(),
        proxy: None,
        credentials: None,
        t1: Duration::from_millis(500),
        max_calls: 1,
        capture: None,
        allow_update: true,
        register: false,
        register_expires: 3600,
        tcp: false,
    };
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let mut callee = CallOptions::new("callee", vec![lo], emitter.clone());
    callee.allow_loopback = true;
    let callee_task = tokio::spawn(run_callee(callee, callee_ua));
    let mut caller = CallOptions::new("caller", vec![lo], emitter.clone());
    caller.allow_loopback = true;
    caller.turn = Some(TurnSettings {
        server: coturn.addr,
        user: "alice".into(),
        password: "secret".into(),
    });
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
