//! Waiting costs no CPU: the I/O thread and a blocked caller both spin briefly before they
//! sleep (to catch a quick reply without a wake-up), and that spin must stop on its own.
//! One test in this file, so nothing else runs in the process while it measures.

mod util;

use std::time::Duration;

use ferromq::{Context, Error};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn an_idle_context_and_a_blocked_receive_use_no_cpu() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(WAIT));
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    assert!(util::eventually(WAIT, || push.peer_count() == 1));
    // Traffic first, so every spin is at its longest when the quiet starts.
    for i in 0..1000u32 {
        push.send(i.to_be_bytes().to_vec()).unwrap();
        assert_eq!(
            &pull.recv_timeout(WAIT).unwrap()[0][..],
            &i.to_be_bytes()[..]
        );
    }

    let before = util::cpu_ticks("/proc/self/stat");
    // Two threads of this process wait here: the I/O thread in its loop, and this one in
    // a receive that can only time out.
    let err = pull.recv_timeout(Duration::from_millis(600)).unwrap_err();
    assert!(matches!(err, Error::TimedOut), "{err:?}");
    let used = util::cpu_ticks("/proc/self/stat") - before;
    // A loop that kept spinning would use about 60 ticks per spinning thread here.
    assert!(used <= 10, "waiting used {used} ticks of CPU");
}
