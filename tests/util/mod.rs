//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod spec;

use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A name unique within this test process, for inproc names and ipc paths.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A unique ipc endpoint under the temp directory.
pub fn ipc_endpoint(prefix: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.sock", unique(prefix)));
    format!("ipc://{}", path.display())
}
