//! Which sources the agent vouches for (`IceAgent::is_valid_source`): the remotes of valid
//! pairs on their local bases, selected or not, and nobody else.

mod harness;
mod sim;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use harness::{Duo, Side};
use ice::agent::{IceAgent, IceConfig, PairState};
use sim::{LinkConditions, Network};

fn sa(d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, d)), port)
}

fn agent(controlling: bool, seed: u64, t0: Instant) -> IceAgent {
    IceAgent::new(
        IceConfig {
            controlling,
            seed: Some(seed),
            // Regular nomination waits for the best pair while lower ones become valid.
            nomination_wait: Duration::from_secs(2),
            ..IceConfig::default()
        },
        t0,
    )
}

/// Two hosts with two addresses each, every path open: several pairs become valid, one is
/// selected. The controlling side's best address is slow, so pairs over its other address
/// are valid first and stay valid (the controlled side keeps them, RFC 8445 §8.1.2 as
/// ASSUMPTIONS.md says) when the best one is selected.
fn completed_duo() -> Duo {
    let t0 = Instant::now();
    let mut net = Network::new(7, t0);
    let link = LinkConditions::with_delay(Duration::from_millis(20));
    net.add_host(
        sa(1, 0).ip(),
        None,
        LinkConditions::with_delay(Duration::from_millis(300)),
    );
    for d in [2, 11, 12] {
        net.add_host(sa(d, 0).ip(), None, link);
    }
    let mut a = Side::new(agent(true, 1, t0));
    let mut b = Side::new(agent(false, 2, t0));
    a.add_host(1, sa(1, 5000));
    a.add_host(1, sa(2, 5000));
    b.add_host(1, sa(11, 6000));
    b.add_host(1, sa(12, 6000));
    let mut duo = Duo::new(net, a, b);
    assert!(duo.run_until(Duration::from_secs(10), |d| d.both_completed()));
    // Let the checks still in flight at selection finish.
    duo.run_until(Duration::from_secs(3), |_| false);
    duo
}

#[test]
fn the_selected_pair_and_other_valid_pairs_are_accepted_strangers_are_not() {
    let duo = completed_duo();
    let b = &duo.b.agent;
    let (local, remote) = b.selected_pair(1).unwrap();
    assert!(b.is_valid_source(1, local.address, remote.address));
    // A valid pair that is not the selected one: a peer whose (aggressive) nomination settled
    // on it keeps being heard.
    let others: Vec<(SocketAddr, SocketAddr)> = b
        .pairs()
        .into_iter()
        .filter(|(l, r, state, _)| {
            *state == PairState::Succeeded
                && (l.address, r.address) != (local.address, remote.address)
        })
        .map(|(l, r, _, _)| (l.address, r.address))
        .collect();
    assert!(!others.is_empty(), "{:?}", b.pairs());
    for (l, r) in &others {
        assert!(b.is_valid_source(1, *l, *r), "{l} <- {r}");
    }
    // A stranger, on the selected base or elsewhere, is not.
    let stranger = sa(66, 4444);
    for base in [sa(11, 6000), sa(12, 6000)] {
        assert!(!b.is_valid_source(1, base, stranger));
    }
    // The peer's address from the right port but another one, or on another component.
    let wrong_port = SocketAddr::new(remote.address.ip(), remote.address.port() + 1);
    assert!(!b.is_valid_source(1, local.address, wrong_port));
    assert!(!b.is_valid_source(2, local.address, remote.address));
    // The controlling side removed the other pairs at selection (RFC 8445 §8.1.2); the
    // selected one still vouches, strangers still do not.
    let a = &duo.a.agent;
    let (la, ra) = a.selected_pair(1).unwrap();
    assert!(a.is_valid_source(1, la.address, ra.address));
    assert!(!a.is_valid_source(1, la.address, stranger));
}

#[test]
fn before_any_check_no_source_is_valid() {
    let t0 = Instant::now();
    let mut a = agent(true, 1, t0);
    a.add_local_host_for(1, sa(1, 5000)).unwrap();
    let b = {
        let mut b = agent(false, 2, t0);
        b.add_local_host_for(1, sa(11, 6000)).unwrap();
        b
    };
    a.set_remote_credentials(b.local_credentials().clone());
    for c in b.local_candidates() {
        a.add_remote_candidate(c);
    }
    // Signalled, but not proved: media from it is not accepted yet.
    assert!(!a.is_valid_source(1, sa(1, 5000), sa(11, 6000)));
}
