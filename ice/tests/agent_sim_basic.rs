//! Two agents over the simulated network: the basic paths.

mod harness;
mod sim;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use harness::{Duo, Side};
use ice::agent::{IceAgent, IceConfig};
use ice::CandidateKind;
use sim::{LinkConditions, Network};

fn sa(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn agent(controlling: bool, seed: u64, t0: Instant) -> IceAgent {
    IceAgent::new(
        IceConfig {
            controlling,
            seed: Some(seed),
            ..IceConfig::default()
        },
        t0,
    )
}

#[test]
fn two_public_hosts_complete_with_host_candidates_and_exchange_media() {
    let t0 = Instant::now();
    let mut net = Network::new(1, t0);
    let link = LinkConditions::with_delay(Duration::from_millis(20));
    net.add_host(sa(192, 0, 2, 1, 0).ip(), None, link);
    net.add_host(sa(192, 0, 2, 2, 0).ip(), None, link);
    let mut a = Side::new(agent(true, 1, t0));
    let mut b = Side::new(agent(false, 2, t0));
    a.add_host(1, sa(192, 0, 2, 1, 5000));
    b.add_host(1, sa(192, 0, 2, 2, 6000));
    let mut duo = Duo::new(net, a, b);
    assert!(duo.run_until(Duration::from_secs(10), |d| d.both_completed()));
    let (la, ra) = duo.a.agent.selected_pair(1).unwrap();
    let (lb, rb) = duo.b.agent.selected_pair(1).unwrap();
    assert_eq!(la.kind, CandidateKind::Host);
    assert_eq!(la.address, rb.address);
    assert_eq!(lb.address, ra.address);
    assert!(duo.exchange_media(Duration::from_secs(1)));
}

#[test]
fn dual_stack_hosts_prefer_ipv6_and_never_pair_across_families() {
    let t0 = Instant::now();
    let mut net = Network::new(2, t0);
    let link = LinkConditions::with_delay(Duration::from_millis(20));
    let a6: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
    let b6: SocketAddr = "[2001:db8::2]:6000".parse().unwrap();
    for ip in [
        sa(192, 0, 2, 1, 0).ip(),
        sa(192, 0, 2, 2, 0).ip(),
        a6.ip(),
        b6.ip(),
    ] {
        net.add_host(ip, None, link);
    }
    let mut a = Side::new(agent(true, 1, t0));
    let mut b = Side::new(agent(false, 2, t0));
    a.add_host(1, sa(192, 0, 2, 1, 5000));
    a.add_host(1, a6);
    b.add_host(1, sa(192, 0, 2, 2, 6000));
    b.add_host(1, b6);
    let mut duo = Duo::new(net, a, b);
    assert!(duo.run_until(Duration::from_secs(10), |d| d.both_completed()));
    let (la, ra) = duo.a.agent.selected_pair(1).unwrap();
    assert_eq!((la.address, ra.address), (a6, b6), "RFC 8421: IPv6 first");
    assert!(duo
        .a
        .agent
        .pairs()
        .iter()
        .all(|(l, r, _, _)| l.address.is_ipv4() == r.address.is_ipv4()));
    assert!(duo.exchange_media(Duration::from_secs(1)));
}
