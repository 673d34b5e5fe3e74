//! The lab's servers, proved with independent tools before icephone relies on them:
//! Kamailio (registrar + proxy with nathelper and digest auth) with sipp behind NAT A, coturn
//! (STUN, TURN with long-term credentials, RFC 5780) with coturn's own clients, the NATs with
//! `turnutils_natdiscovery`, and the wire seen by tshark on the public segment.
//!
//! NAT A is symmetric here, so its mappings get random ports: the registrar and the STUN
//! server can only report them right by reading the packets' real source. The mapping they
//! report is compared with the NAT's own conntrack table.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

use std::thread;
use std::time::Duration;

use lab::wire::{malformed_count, nat_mapping, received_of, sip_ladder, SipRow};
use lab::{
    tshark_fields, wait_until, Capture, Lab, LabConfig, NatKind, A1, A2, B1, KAMAILIO, NAT_A_WAN,
    NAT_B_WAN, TURN,
};

fn servers_lab() -> Lab {
    Lab::up(&LabConfig {
        nat_a: NatKind::Symmetric,
        nat_b: NatKind::PortRestricted,
        servers: true,
        ..LabConfig::default()
    })
}

fn scenario(name: &str) -> String {
    lab::lab_dir().join("sipp").join(name).display().to_string()
}

fn has_row(rows: &[SipRow], pred: impl Fn(&SipRow) -> bool) -> bool {
    rows.iter().any(pred)
}

#[test]
fn sipp_registers_behind_nat_a_over_udp_and_tcp_and_is_reached_through_its_binding() {
    let lab = servers_lab();
    let cap = Capture::start(&lab, "register");

    // alice over UDP from a1 stays registered for 4 s and answers OPTIONS (-aa) meanwhile.
    let mut alice = lab.spawn(
        "a1",
        &[
            "sipp",
            "-sf",
            &scenario("register.xml"),
            "-s",
            "alice",
            "-au",
            "alice",
            "-ap",
            "alicepw",
            "-m",
            "1",
            "-t",
            "u1",
            "-i",
            A1,
            "-p",
            "5060",
            "-nostdin",
            "-aa",
            "-d",
            "4000",
            "-timeout",
            "15s",
            KAMAILIO,
        ],
        "sipp-alice",
        Duration::from_secs(20),
    );
    // bob over TCP from a2.
    lab.run_ok(
        "a2",
        &[
            "sipp",
            "-sf",
            &scenario("register.xml"),
            "-s",
            "bob",
            "-au",
            "bob",
            "-ap",
            "bobpw",
            "-m",
            "1",
            "-t",
            "t1",
            "-i",
            A2,
            "-p",
            "5070",
            "-nostdin",
            "-timeout",
            "10s",
            KAMAILIO,
        ],
        Duration::from_secs(15),
    );
    assert!(
        wait_until(Duration::from_secs(5), || received_of(
            &lab.kamcmd(&["ul.dump"]),
            "alice"
        )
        .is_some()),
        "alice never showed up in the registrar"
    );

    // From LAN B, an OPTIONS to alice goes through the proxy and must reach alice's sipp
    // through the mapping her REGISTER made in the symmetric NAT (the only way in).
    lab.run_ok(
        "b1",
        &[
            "sipp",
            "-sf",
            &scenario("options.xml"),
            "-s",
            "alice",
            "-au",
            "sipp",
            "-ap",
            "sipppw",
            "-m",
            "1",
            "-t",
            "u1",
            "-i",
            B1,
            "-p",
            "5060",
            "-nostdin",
            "-timeout",
            "10s",
            KAMAILIO,
        ],
        Duration::from_secs(15),
    );
    let alice_done = wait_until(Duration::from_secs(15), || {
        matches!(alice.try_wait(), Ok(Some(_)))
    });
    assert!(alice_done, "alice's sipp did not finish");
    let alice_status = alice.wait().expect("reap alice's sipp");
    assert!(
        alice_status.success(),
        "alice's sipp failed: {alice_status}"
    );

    // The registrar learned exactly the NAT's mappings.
    let dump = lab.kamcmd(&["ul.dump"]);
    let udp_map = nat_mapping(&lab, "nata", "udp", (A1, Some(5060)), (KAMAILIO, 5060));
    assert_eq!(udp_map.len(), 1, "one UDP mapping for alice: {udp_map:?}");
    let (ip, alice_port) = &udp_map[0];
    assert_eq!(ip, NAT_A_WAN);
    assert_eq!(
        received_of(&dump, "alice").as_deref(),
        Some(format!("sip:{NAT_A_WAN}:{alice_port}").as_str()),
        "alice's Received is NAT A's mapping; ul.dump:\n{dump}"
    );
    let tcp_map = nat_mapping(&lab, "nata", "tcp", (A2, Some(5070)), (KAMAILIO, 5060));
    assert_eq!(tcp_map.len(), 1, "one TCP mapping for bob: {tcp_map:?}");
    let (ip, bob_port) = &tcp_map[0];
    assert_eq!(ip, NAT_A_WAN);
    assert_eq!(
        received_of(&dump, "bob").as_deref(),
        Some(format!("sip:{NAT_A_WAN}:{bob_port};transport=tcp").as_str()),
        "bob's Received is NAT A's TCP mapping; ul.dump:\n{dump}"
    );

    // tshark, on the public segment, as the wire oracle.
    let pcap = cap.stop();
    let rows = sip_ladder(&pcap);
    for transport in ["udp", "tcp"] {
        let from_nat_a = |r: &SipRow| r.src == NAT_A_WAN && r.dst == KAMAILIO;
        let to_nat_a = |r: &SipRow| r.src == KAMAILIO && r.dst == NAT_A_WAN;
        assert!(
            has_row(&rows, |r| from_nat_a(r)
                && r.transport == transport
                && r.method == "REGISTER"),
            "REGISTER over {transport} seen: {rows:#?}"
        );
        assert!(
            has_row(&rows, |r| to_nat_a(r)
                && r.transport == transport
                && r.status == "401"
                && r.cseq == "REGISTER"),
            "401 challenge over {transport} seen: {rows:#?}"
        );
        assert!(
            has_row(&rows, |r| to_nat_a(r)
                && r.transport == transport
                && r.status == "200"
                && r.cseq == "REGISTER"),
            "200 for REGISTER over {transport} seen: {rows:#?}"
        );
    }
    assert!(
        has_row(&rows, |r| r.src == KAMAILIO
            && r.dst == NAT_B_WAN
            && r.status == "407"),
        "the OPTIONS was challenged with 407: {rows:#?}"
    );
    assert!(
        has_row(&rows, |r| r.src == KAMAILIO
            && r.dst == NAT_A_WAN
            && r.method == "OPTIONS"
            && r.dport == alice_port.to_string()),
        "the OPTIONS was relayed to alice's mapping {NAT_A_WAN}:{alice_port}: {rows:#?}"
    );
    assert!(
        has_row(&rows, |r| r.src == KAMAILIO
            && r.dst == NAT_B_WAN
            && r.status == "200"
            && r.cseq == "OPTIONS"),
        "alice's 200 for the OPTIONS came back to LAN B: {rows:#?}"
    );
    assert_eq!(malformed_count(&pcap), 0, "tshark found malformed packets");
}

/// The reflexive address `turnutils_stunclient` printed.
fn stun_reflexive(lab: &Lab, host: &str) -> (String, u16) {
    // After the first answer stunclient goes on with RFC 5780 CHANGE-REQUEST tests, whose
    // answers a NAT with port-dependent filtering rightly drops, so it waits: bound it and
    // read the first answer.
    let out = lab.run(
        host,
        &["turnutils_stunclient", TURN],
        Duration::from_secs(3),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let addr = text
        .lines()
        .find_map(|l| l.split("UDP reflexive addr: ").nth(1))
        .unwrap_or_else(|| panic!("no reflexive address from coturn for {host}: {text}"));
    let (ip, port) = addr
        .trim()
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("bad reflexive address {addr:?}"));
    (
        ip.to_owned(),
        port.parse()
            .unwrap_or_else(|e| panic!("bad reflexive port {port:?}: {e}")),
    )
}

#[test]
fn coturn_stun_binding_shows_each_nats_mapping() {
    let lab = servers_lab();
    let cap = Capture::start(&lab, "stun");
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| stun_reflexive(&lab, "a1"));
        let b = s.spawn(|| stun_reflexive(&lab, "b1"));
        (a.join().expect("stun a1"), b.join().expect("stun b1"))
    });
    for ((ip, port), nat, lan, wan) in [(&a, "nata", A1, NAT_A_WAN), (&b, "natb", B1, NAT_B_WAN)] {
        assert_eq!(ip, wan, "reflexive address is the NAT's wan address");
        let maps = nat_mapping(&lab, nat, "udp", (lan, None), (TURN, 3478));
        assert!(
            maps.contains(&(wan.to_owned(), *port)),
            "coturn's reflexive {ip}:{port} is one of {nat}'s mappings towards it: {maps:?}"
        );
    }

    // On the wire: Binding success responses (0x0101) carry the same mapped addresses.
    let pcap = cap.stop();
    let responses = tshark_fields(
        &pcap,
        &format!("stun.type == 0x0101 && ip.src == {TURN}"),
        &["ip.dst", "stun.att.ipv4", "stun.att.port"],
    );
    for (wan, port) in [(NAT_A_WAN, a.1), (NAT_B_WAN, b.1)] {
        let seen = responses.iter().any(|r| {
            let ips: Vec<&str> = r.get(1).map(|s| s.split(',').collect()).unwrap_or_default();
            let ports: Vec<&str> = r.get(2).map(|s| s.split(',').collect()).unwrap_or_default();
            r.first().is_some_and(|d| d == wan)
                && ips
                    .iter()
                    .zip(&ports)
                    .any(|(i, p)| *i == wan && *p == port.to_string())
        });
        assert!(
            seen,
            "a Binding success response to {wan} maps {wan}:{port}: {responses:?}"
        );
    }
    assert_eq!(malformed_count(&pcap), 0, "tshark found malformed packets");
}

#[test]
fn coturn_relays_with_long_term_credentials_and_rejects_a_wrong_password() {
    let lab = servers_lab();
    let cap = Capture::start(&lab, "turn");
    // The probe host echoes anything that is not a probe command: a TURN peer.
    let relay = |pass: &str| {
        lab.run(
            "a1",
            &[
                "turnutils_uclient",
                "-u",
                "alice",
                "-w",
                pass,
                "-n",
                "3",
                "-m",
                "1",
                "-c",
                "-e",
                lab::PROBE,
                "-r",
                "4000",
                TURN,
            ],
            Duration::from_secs(15),
        )
    };
    let good = relay("alicepw");
    let good_text =
        String::from_utf8_lossy(&good.stdout).into_owned() + &String::from_utf8_lossy(&good.stderr);
    assert!(
        good.status.success() && good_text.contains("Total lost packets 0"),
        "relayed echo through coturn with alice's credentials ({}):\n{good_text}",
        good.status
    );
    let bad = relay("wrong");
    assert!(
        !bad.status.success(),
        "a wrong password must not get an allocation"
    );
    let log = std::fs::read_to_string(lab.run_dir().join("turnserver.log")).unwrap_or_default();
    assert!(
        log.contains("ALLOCATE processed, success"),
        "coturn logged a successful allocation"
    );
    assert!(
        log.contains("error 401"),
        "coturn logged 401 for the wrong password"
    );

    // On the wire: an Allocate success response (0x0103) and an Allocate error (0x0113)
    // went from coturn to NAT A.
    let pcap = cap.stop();
    let types: Vec<String> = tshark_fields(
        &pcap,
        &format!("stun && ip.src == {TURN} && ip.dst == {NAT_A_WAN}"),
        &["stun.type"],
    )
    .into_iter()
    .filter_map(|r| r.into_iter().next())
    .collect();
    assert!(
        types.iter().any(|t| t == "0x0103"),
        "Allocate success seen: {types:?}"
    );
    assert!(
        types.iter().any(|t| t == "0x0113"),
        "Allocate error seen: {types:?}"
    );
    assert_eq!(malformed_count(&pcap), 0, "tshark found malformed packets");
}

#[test]
fn natdiscovery_agrees_with_the_lab_nat_kinds() {
    let lab = servers_lab();
    let discover = |host: &'static str| {
        let out = lab.run(
            host,
            &["turnutils_natdiscovery", "-m", "-f", TURN],
            Duration::from_secs(20),
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| discover("a1"));
        let b = s.spawn(|| discover("b1"));
        (a.join().expect("a1"), b.join().expect("b1"))
    });
    // NAT A symmetric, NAT B port-restricted cone (RFC 5780 §4.3 and §4.4 tests).
    assert!(
        a.contains("NAT with Address and Port Dependent Mapping!")
            && a.contains("NAT with Address and Port Dependent Filtering!"),
        "natdiscovery behind NAT A (symmetric):\n{a}"
    );
    assert!(
        b.contains("NAT with Endpoint Independent Mapping!")
            && b.contains("NAT with Address and Port Dependent Filtering!"),
        "natdiscovery behind NAT B (port-restricted cone):\n{b}"
    );
}

#[test]
fn sipp_registers_over_udp_and_tcp_through_lossy_delayed_uplinks() {
    // The issue's impairment: 10 % loss and 50 ms delay each way on both uplinks.
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        loss_a: 0.1,
        loss_b: 0.1,
        delay_a_ms: 50,
        delay_b_ms: 50,
        servers: true,
        ..LabConfig::default()
    });
    // sipp retransmits REGISTER over UDP (retrans 500 ms, doubling); TCP recovers by itself.
    let register = |host: &str, ip: &str, user: &str, pass: &str, transport: &str| {
        lab.run_ok(
            host,
            &[
                "sipp",
                "-sf",
                &scenario("register.xml"),
                "-s",
                user,
                "-au",
                user,
                "-ap",
                pass,
                "-m",
                "1",
                "-t",
                transport,
                "-i",
                ip,
                "-p",
                "5060",
                "-nostdin",
                "-timeout",
                "20s",
                KAMAILIO,
            ],
            Duration::from_secs(25),
        )
    };
    thread::scope(|s| {
        let a = s.spawn(|| register("a1", A1, "alice", "alicepw", "u1"));
        let b = s.spawn(|| register("a2", A2, "bob", "bobpw", "t1"));
        a.join().expect("alice's registration");
        b.join().expect("bob's registration");
    });
    let dump = lab.kamcmd(&["ul.dump"]);
    for (aor, suffix) in [("alice", ""), ("bob", ";transport=tcp")] {
        let received = received_of(&dump, aor)
            .unwrap_or_else(|| panic!("{aor} is not registered; ul.dump:\n{dump}"));
        assert!(
            received.starts_with(&format!("sip:{NAT_A_WAN}:")) && received.ends_with(suffix),
            "{aor}'s Received is NAT A's public address: {received}"
        );
    }
}
