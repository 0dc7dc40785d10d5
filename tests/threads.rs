//! The I/O model has no thread per connection: a PULL socket with 200 tcp peers runs on
//! the same threads as one with 2. (Its own test binary, so no other test's threads count.)

use std::time::Duration;

use ferromq::{Context, Push};

fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map(|n| n.trim().parse().unwrap())
        .unwrap()
}

fn connect_pushers(ctx: &Context, ep: &str, n: usize, into: &mut Vec<Push>) {
    for _ in 0..n {
        let mut p = ctx.push().unwrap();
        p.set_send_timeout(Some(Duration::from_secs(10)));
        p.connect(ep).unwrap();
        into.push(p);
    }
}

#[test]
fn thread_count_does_not_grow_with_peers() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(Duration::from_secs(10)));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.last_endpoint().unwrap().to_owned();

    let mut pushers = Vec::new();
    connect_pushers(&ctx, &ep, 2, &mut pushers);
    for p in &mut pushers {
        p.send("hi").unwrap();
    }
    for _ in 0..2 {
        pull.recv().unwrap();
    }
    let with_two = thread_count();

    connect_pushers(&ctx, &ep, 198, &mut pushers);
    for p in &mut pushers {
        p.send("hi").unwrap();
    }
    for _ in 0..200 {
        pull.recv().unwrap();
    }
    assert_eq!(pull.peer_count(), 200);
    let with_two_hundred = thread_count();
    assert_eq!(with_two, with_two_hundred, "threads grew with peers");
}
