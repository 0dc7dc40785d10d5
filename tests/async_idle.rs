//! An async receive that waits costs no CPU: the future is parked on the socket's doorbell,
//! not polled by a timer or a helper thread. One test in this file, so nothing else runs
//! in the process while it measures (the same check as tests/idle.rs).

mod util;

use std::time::Duration;

use ferromq::Context;
use util::aio::{bounded, within, Runtime};

#[test]
fn an_idle_async_receive_uses_no_cpu() {
    for rt in [
        Runtime::TokioCurrentThread,
        Runtime::TokioMultiThread,
        Runtime::Smol,
    ] {
        let used = rt.block_on(async {
            let ctx = Context::new();
            let mut pull = ctx.pull().unwrap();
            pull.bind("tcp://127.0.0.1:*").unwrap();
            let mut push = ctx.push().unwrap();
            push.connect(pull.last_endpoint().unwrap()).unwrap();
            // Traffic first, so every spin is at its longest when the quiet starts.
            for i in 0..1000u32 {
                bounded(push.send_async(i.to_be_bytes().to_vec()))
                    .await
                    .unwrap();
                let msg = bounded(pull.recv_async()).await.unwrap();
                assert_eq!(&msg[0][..], &i.to_be_bytes()[..]);
            }
            let before = util::cpu_ticks("/proc/self/stat");
            // The task waits on a receive that can only be ended by the timer.
            let waited = within(Duration::from_millis(600), pull.recv_async()).await;
            assert!(waited.is_none());
            util::cpu_ticks("/proc/self/stat") - before
        });
        // A future polled in a loop would use about 60 ticks here.
        assert!(used <= 10, "{rt:?}: waiting used {used} ticks of CPU");
    }
}
