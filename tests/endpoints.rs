//! tcp endpoints end to end: IPv6 zone ids reach the kernel, and host names are resolved
//! at every connect attempt, off the caller's thread. Every wait is bounded.

mod util;

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use ferromq::{Context, MonitorEvent};
use util::{expect_event as expect, free_port};

const LIMIT: Duration = Duration::from_secs(10);

/// The first usable link-local IPv6 address of this machine, with its interface's index and
/// name, from `/proc/net/if_inet6`; `None` where there is none (the tests that need one are
/// skipped then).
fn link_local() -> Option<(Ipv6Addr, u32, String)> {
    let table = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    table.lines().find_map(|line| {
        // address, interface index, prefix length, scope, flags, name; all hex but the name.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [addr, index, _, scope, flags, name] = fields[..] else {
            return None;
        };
        let scope = u32::from_str_radix(scope, 16).ok()?;
        let flags = u32::from_str_radix(flags, 16).ok()?;
        // 0x20 is link scope; 0x40 is IFA_F_TENTATIVE (not usable until DAD is done).
        if scope != 0x20 || flags & 0x40 != 0 || addr.len() != 32 {
            return None;
        }
        let bits = u128::from_str_radix(addr, 16).ok()?;
        let index = u32::from_str_radix(index, 16).ok()?;
        Some((Ipv6Addr::from(bits), index, name.to_owned()))
    })
}

#[test]
fn a_link_local_address_with_its_zone_binds_and_connects() {
    let Some((ip, index, name)) = link_local() else {
        eprintln!("skipped: this machine has no link-local IPv6 address");
        return;
    };
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(LIMIT));
    // Binding a link-local address needs the zone: without it the kernel says EINVAL.
    pull.bind(&format!("tcp://[{ip}%{name}]:*")).unwrap();
    let bound = pull.last_endpoint().unwrap().to_owned();
    let prefix = format!("tcp://[{ip}%{name}]:");
    assert!(bound.starts_with(&prefix), "{bound}");
    let port = &bound[prefix.len()..];

    // Connect with the numeric form of the same zone.
    let target = format!("tcp://[{ip}%{index}]:{port}");
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(LIMIT));
    let mon = push.monitor();
    push.connect(&target).unwrap();
    push.send("over the link").unwrap();
    assert_eq!(pull.recv().unwrap(), "over the link");
    let MonitorEvent::Connected { peer_address, .. } = expect(&mon, "connected", |e| {
        matches!(e, MonitorEvent::Connected { .. })
    }) else {
        unreachable!()
    };
    match peer_address {
        Some(SocketAddr::V6(peer)) => {
            assert_eq!(*peer.ip(), ip);
            assert_eq!(peer.scope_id(), index, "the connection is scoped to {name}");
        }
        other => panic!("peer address {other:?}"),
    }
    // The endpoint as bound is what unbind takes.
    pull.unbind(&bound).unwrap();
}

#[test]
fn libzmq_and_ferromq_connect_across_a_zoned_link_local_address() {
    let Some((ip, index, name)) = link_local() else {
        eprintln!("skipped: this machine has no link-local IPv6 address");
        return;
    };
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(LIMIT));
    pull.bind(&format!("tcp://[{ip}%{name}]:*")).unwrap();
    let bound = pull.last_endpoint().unwrap().to_owned();
    // The vendored libzmq is built without HAVE_IF_NAMETOINDEX, so it takes numeric zones
    // only (an interface name gives EINVAL at each attempt); give it the index.
    let port = bound.rsplit(':').next().unwrap();
    let numeric = format!("tcp://[{ip}%{index}]:{port}");

    let zctx = zmq::Context::new();
    let push = zctx.socket(zmq::PUSH).unwrap();
    push.set_ipv6(true).unwrap();
    push.set_linger(0).unwrap();
    push.set_sndtimeo(LIMIT.as_millis() as i32).unwrap();
    push.connect(&numeric).unwrap();
    push.send("from libzmq", 0).unwrap();
    assert_eq!(pull.recv().unwrap(), "from libzmq");

    // The other way: we connect to libzmq's last endpoint, zone as libzmq writes it.
    let zpull = zctx.socket(zmq::PULL).unwrap();
    zpull.set_ipv6(true).unwrap();
    zpull.set_linger(0).unwrap();
    zpull.set_rcvtimeo(LIMIT.as_millis() as i32).unwrap();
    zpull.bind(&numeric.replace(port, "*")).unwrap();
    let theirs = zpull.get_last_endpoint().unwrap().unwrap();
    assert!(theirs.starts_with(&format!("tcp://[{ip}%")), "{theirs}");
    let mut ours = ctx.push().unwrap();
    ours.set_send_timeout(Some(LIMIT));
    ours.connect(&theirs).unwrap();
    ours.send("to libzmq").unwrap();
    assert_eq!(zpull.recv_bytes(0).unwrap(), b"to libzmq");
}

#[test]
fn a_host_name_connect_made_before_the_listener_exists_connects_once_it_does() {
    let port = free_port();
    let endpoint = format!("tcp://localhost:{port}");
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_reconnect_interval(Some(Duration::from_millis(10)));
    push.set_reconnect_interval_max(Duration::from_millis(40));
    push.set_send_timeout(Some(LIMIT));
    let mon = push.monitor();
    push.connect(&endpoint).unwrap();
    // Attempts fail while nothing listens.
    for _ in 0..2 {
        expect(
            &mon,
            "connect retried",
            |e| matches!(e, MonitorEvent::ConnectRetried { endpoint: ep, .. } if *ep == endpoint),
        );
    }
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(LIMIT));
    pull.bind(&format!("tcp://127.0.0.1:{port}")).unwrap();
    push.send("late listener").unwrap();
    assert_eq!(pull.recv().unwrap(), "late listener");
}

#[test]
fn connect_to_an_unresolvable_host_succeeds_and_keeps_retrying() {
    // `.invalid` is reserved (RFC 2606) and never resolves.
    let endpoint = "tcp://no-such-host.invalid:5555";
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_reconnect_interval(Some(Duration::from_millis(10)));
    push.set_reconnect_interval_max(Duration::from_millis(40));
    let mon = push.monitor();
    // As in libzmq, connect checks the syntax only: the name is looked up by each attempt.
    push.connect(endpoint).unwrap();
    for _ in 0..3 {
        let failed = expect(&mon, "resolve failed", |e| {
            matches!(e, MonitorEvent::ResolveFailed { .. })
        });
        let MonitorEvent::ResolveFailed {
            endpoint: ep,
            error,
        } = failed
        else {
            unreachable!()
        };
        assert_eq!(ep, endpoint);
        assert!(error.contains("`no-such-host.invalid`"), "{error}");
        expect(
            &mon,
            "connect retried",
            |e| matches!(e, MonitorEvent::ConnectRetried { endpoint: ep, .. } if ep == endpoint),
        );
    }
    // The connect is in force until disconnected.
    push.disconnect(endpoint).unwrap();
}

#[test]
fn libzmq_also_accepts_an_unresolvable_host_at_connect() {
    // The behaviour the test above matches: zmq_connect returns 0, and the I/O thread
    // resolves at each attempt (socket_base.cpp defers tcp resolution to the connecter).
    let zctx = zmq::Context::new();
    let push = zctx.socket(zmq::PUSH).unwrap();
    push.set_linger(0).unwrap();
    push.connect("tcp://no-such-host.invalid:5555").unwrap();
    // A syntax error is still refused at once, by both.
    assert!(push.connect("tcp://no-such-host.invalid").is_err());
    let ctx = Context::new();
    let mut ours = ctx.push().unwrap();
    assert!(ours.connect("tcp://no-such-host.invalid").is_err());
}

#[test]
fn a_zone_that_names_no_interface_fails_each_attempt_with_a_reason() {
    // Like an unresolvable name: the interface may appear later (a VPN, a hot-plugged
    // NIC), so connect() takes it and every attempt looks it up again.
    let endpoint = "tcp://[fe80::1%nosuchif9]:5555";
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_reconnect_interval(Some(Duration::from_millis(10)));
    let mon = push.monitor();
    push.connect(endpoint).unwrap();
    for _ in 0..2 {
        let MonitorEvent::ResolveFailed {
            endpoint: ep,
            error,
        } = expect(&mon, "resolve failed", |e| {
            matches!(e, MonitorEvent::ResolveFailed { .. })
        })
        else {
            unreachable!()
        };
        assert_eq!(ep, endpoint);
        assert!(error.contains("`nosuchif9`"), "{error}");
    }
    // Binding it fails at once, as any bind to a missing address does.
    let mut pull = ctx.pull().unwrap();
    assert!(pull.bind("tcp://[fe80::1%nosuchif9]:*").is_err());
}
