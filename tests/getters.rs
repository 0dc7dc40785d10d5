//! Option getters: each returns the default before any setter, and what is in force after
//! one (clamped or normalised as the setter documents).

use std::time::Duration;

use ferromq::{Context, SocketType, DEFAULT_HWM, DEFAULT_LINGER, DEFAULT_MAX_MSG_SIZE};

#[test]
fn every_common_getter_reads_back_its_default_and_its_setting() {
    let ctx = Context::new();
    let mut s = ctx.dealer().unwrap();
    assert_eq!(s.send_hwm(), DEFAULT_HWM);
    assert_eq!(s.recv_hwm(), DEFAULT_HWM);
    assert_eq!(s.get_send_timeout(), None);
    assert_eq!(s.get_recv_timeout(), None);
    assert_eq!(s.linger(), DEFAULT_LINGER);
    assert_eq!(s.reconnect_interval(), Some(Duration::from_millis(100)));
    assert_eq!(s.reconnect_interval_max(), Duration::from_secs(2));
    assert_eq!(s.max_message_size(), Some(DEFAULT_MAX_MSG_SIZE));
    assert_eq!(s.handshake_timeout(), Some(Duration::from_secs(30)));
    assert!(!s.ipv6_only());
    assert_eq!(s.ipc_permissions(), None);
    assert_eq!(s.backlog(), 100);
    assert_eq!(s.heartbeat_interval(), None);
    assert_eq!(s.heartbeat_ttl(), None);
    assert_eq!(s.heartbeat_timeout(), None);
    assert_eq!(s.tcp_keepalive(), None);
    assert_eq!(s.tcp_keepalive_idle(), None);
    assert_eq!(s.tcp_keepalive_interval(), None);
    assert_eq!(s.tcp_keepalive_count(), None);
    assert_eq!(s.send_buffer_size(), None);
    assert_eq!(s.recv_buffer_size(), None);
    assert!(s.identity().is_empty());
    assert!(!s.probe_router());

    let ms = Duration::from_millis;
    s.set_send_hwm(7);
    s.set_recv_hwm(0);
    s.set_send_timeout(Some(ms(5)));
    s.set_recv_timeout(Some(ms(6)));
    s.set_linger(Duration::ZERO);
    s.set_reconnect_interval(None);
    s.set_reconnect_interval_max(ms(9));
    s.set_max_message_size(None);
    s.set_max_metadata_size(1234);
    s.set_max_properties(3);
    s.set_handshake_timeout(None);
    s.set_ipv6_only(true);
    s.set_ipc_permissions(Some(0o600));
    s.set_backlog(12);
    s.set_heartbeat_interval(Some(Duration::ZERO));
    s.set_heartbeat_ttl(Some(ms(1500)));
    s.set_heartbeat_timeout(Some(ms(700)));
    s.set_tcp_keepalive(Some(true));
    s.set_tcp_keepalive_idle(Some(ms(2500)));
    s.set_tcp_keepalive_interval(Some(Duration::MAX));
    s.set_tcp_keepalive_count(Some(4));
    s.set_send_buffer_size(Some(65536));
    s.set_recv_buffer_size(Some(32768));
    s.set_identity("me").unwrap();
    s.set_probe_router(true);

    assert_eq!(s.send_hwm(), 7);
    assert_eq!(s.recv_hwm(), 0);
    assert_eq!(s.get_send_timeout(), Some(ms(5)));
    assert_eq!(s.get_recv_timeout(), Some(ms(6)));
    assert_eq!(s.linger(), Duration::ZERO);
    assert_eq!(s.reconnect_interval(), None);
    assert_eq!(s.reconnect_interval_max(), ms(9));
    assert_eq!(s.max_message_size(), None);
    assert_eq!(s.max_metadata_size(), 1234);
    assert_eq!(s.max_properties(), 3);
    assert_eq!(s.handshake_timeout(), None);
    assert!(s.ipv6_only());
    assert_eq!(s.ipc_permissions(), Some(0o600));
    assert_eq!(s.backlog(), 12);
    assert_eq!(s.heartbeat_interval(), None, "zero is no heartbeat");
    assert_eq!(s.heartbeat_ttl(), Some(ms(1500)));
    assert_eq!(s.heartbeat_timeout(), Some(ms(700)));
    assert_eq!(s.tcp_keepalive(), Some(true));
    assert_eq!(
        s.tcp_keepalive_idle(),
        Some(Duration::from_secs(2)),
        "whole seconds"
    );
    assert_eq!(
        s.tcp_keepalive_interval(),
        Some(Duration::from_secs(32_767)),
        "clamped to what Linux takes"
    );
    assert_eq!(s.tcp_keepalive_count(), Some(4));
    assert_eq!(s.send_buffer_size(), Some(65536));
    assert_eq!(s.recv_buffer_size(), Some(32768));
    assert_eq!(s.identity(), b"me");
    assert!(s.probe_router());
    // A refused setting leaves what was in force.
    assert!(s.set_identity("").is_err());
    assert_eq!(s.identity(), b"me");
}

#[test]
fn type_specific_getters_read_back_their_settings() {
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    assert!(!router.router_mandatory() && !router.router_handover());
    assert_eq!(router.router_notify(), (false, false));
    router.set_router_mandatory(true);
    router.set_router_handover(true);
    router.set_router_notify(true, false);
    assert!(router.router_mandatory() && router.router_handover());
    assert_eq!(router.router_notify(), (true, false));

    let mut req = ctx.req().unwrap();
    assert!(!req.correlate());
    req.set_correlate(true);
    assert!(req.correlate());

    let mut xpub = ctx.xpublisher().unwrap();
    assert!(!xpub.verbose() && !xpub.verboser());
    xpub.set_verbose(true);
    assert!(xpub.verbose() && !xpub.verboser());
    xpub.set_verboser(true);
    assert!(xpub.verboser());
    assert_eq!(xpub.max_subscriptions(), Some(100_000));
    xpub.set_max_subscriptions(None);
    assert_eq!(xpub.max_subscriptions(), None);

    let mut publisher = ctx.publisher().unwrap();
    publisher.set_max_subscription_bytes(Some(10));
    assert_eq!(publisher.max_subscription_bytes(), Some(10));

    let mut stream = ctx.stream().unwrap();
    assert!(stream.stream_notify());
    stream.set_stream_notify(false);
    assert!(!stream.stream_notify());
}

#[test]
fn the_dynamic_socket_reads_back_common_and_type_specific_options() {
    let ctx = Context::new();
    let mut s = ctx.socket(SocketType::Router).unwrap();
    s.set_linger(Duration::from_millis(3));
    assert_eq!(s.linger(), Duration::from_millis(3));
    s.set_router_mandatory(true).unwrap();
    s.set_router_notify(false, true).unwrap();
    s.set_probe_router(true).unwrap();
    assert_eq!(s.router_options().unwrap(), (true, false, (false, true)));
    assert!(s.probe_router().unwrap());
    assert!(s.correlate().is_err() && s.stream_notify().is_err());

    let mut st = ctx.socket(SocketType::Stream).unwrap();
    assert!(st.stream_notify().unwrap());
    st.set_stream_notify(false).unwrap();
    assert!(!st.stream_notify().unwrap());
    assert!(st.router_options().is_err() && st.probe_router().is_err());

    let mut x = ctx.socket(SocketType::XPub).unwrap();
    x.set_verbose(true).unwrap();
    assert_eq!(x.xpub_verbosity().unwrap(), (true, false));
    let mut r = ctx.socket(SocketType::Req).unwrap();
    r.set_correlate(true).unwrap();
    assert!(r.correlate().unwrap());
}

#[test]
fn pubsub_and_queueing_getters_read_back_their_defaults_and_settings() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    assert!(!xpub.nodrop() && !xpub.manual() && !xpub.manual_last_value());
    assert!(!xpub.invert_matching() && !xpub.only_first_subscribe());
    assert_eq!(xpub.welcome_msg(), None);
    assert_eq!(xpub.topics_count(), 0);
    // libzmq's default.
    assert!(!xpub.immediate());
    xpub.set_nodrop(true);
    xpub.set_manual(true);
    xpub.set_invert_matching(true);
    xpub.set_only_first_subscribe(true);
    xpub.set_welcome_msg(Some("w".into()));
    assert!(xpub.nodrop() && xpub.manual() && !xpub.manual_last_value());
    assert!(xpub.invert_matching() && xpub.only_first_subscribe());
    assert_eq!(xpub.welcome_msg().map(|w| &w[..]), Some(&b"w"[..]));

    let mut publisher = ctx.publisher().unwrap();
    assert!(!publisher.conflate() && !publisher.nodrop() && !publisher.invert_matching());
    publisher.set_conflate(true);
    assert!(publisher.conflate());
    assert!(!publisher.only_first_subscribe());
    assert_eq!(publisher.welcome_msg(), None);
    publisher.set_only_first_subscribe(true);
    publisher.set_welcome_msg(Some("w".into()));
    assert!(publisher.only_first_subscribe());
    assert_eq!(publisher.welcome_msg().map(|w| &w[..]), Some(&b"w"[..]));

    let mut sub = ctx.subscriber().unwrap();
    assert!(!sub.conflate() && !sub.invert_matching());
    assert_eq!(sub.topics_count(), 0);
    sub.set_invert_matching(true);
    assert!(sub.invert_matching());

    let mut xsub = ctx.xsubscriber().unwrap();
    assert!(!xsub.only_first_subscribe() && !xsub.invert_matching());
    xsub.set_only_first_subscribe(true);
    assert!(xsub.only_first_subscribe());

    for kind in [SocketType::Push, SocketType::Pull, SocketType::Dealer] {
        let mut s = ctx.socket(kind).unwrap();
        assert!(!s.conflate());
        s.set_conflate(true).unwrap();
        assert!(s.conflate(), "{kind:?}");
    }
    let mut push = ctx.push().unwrap();
    push.set_conflate(true);
    assert!(push.conflate());
}
