//! Connects that never come up, made and given up over and over (`ZMQ_IMMEDIATE=0`, the
//! default, gives each a queue at once), keep no descriptors. Alone in its binary, so
//! other tests' sockets do not move the count.

mod util;

use std::net::TcpListener;
use std::time::Duration;

use ferromq::Context;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn connect_and_disconnect_cycles_to_a_dead_endpoint_keep_no_descriptors() {
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_linger(Duration::ZERO);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    // Once first, so the I/O thread and its poller exist before the count.
    push.connect(&endpoint).unwrap();
    push.try_send("x").unwrap();
    push.disconnect(&endpoint).unwrap();
    assert!(util::eventually(Duration::from_secs(10), || push
        .peer_count()
        == 0));
    let before = open_fds();
    for _ in 0..200 {
        push.connect(&endpoint).unwrap();
        push.try_send("queued").unwrap();
        push.disconnect(&endpoint).unwrap();
    }
    // The I/O thread closes what each connect opened as it gets to the disconnects.
    assert!(
        util::eventually(Duration::from_secs(20), || open_fds() <= before + 2),
        "{} descriptors open, {before} before",
        open_fds()
    );
}
