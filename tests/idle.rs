//! Waiting costs no CPU: the I/O thread and a blocked caller both spin briefly before they
//! sleep (to catch a quick reply without a wake-up), and that spin must stop on its own.
//! One test in this file, so nothing else runs in the process while it measures.

mod util;

use ferromq::Context;

#[test]
fn an_idle_context_and_a_blocked_receive_use_no_cpu() {
    util::assert_quiet_after_traffic_uses_no_cpu(&Context::new());
}
