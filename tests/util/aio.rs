//! Async test helpers: run a future on each runtime ferromq's async face is tested on,
//! and bound every await so that a lost wake-up fails a test instead of hanging it.

use std::future::Future;
use std::time::Duration;

/// The runtimes the async face must work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    TokioCurrentThread,
    TokioMultiThread,
    Smol,
    AsyncStd,
}

impl Runtime {
    pub const ALL: [Runtime; 4] = [
        Runtime::TokioCurrentThread,
        Runtime::TokioMultiThread,
        Runtime::Smol,
        Runtime::AsyncStd,
    ];

    /// Runs `f` to completion on this runtime. On the multi-thread runtimes it runs as a
    /// spawned task, so it may move between worker threads (the futures must be `Send`).
    pub fn block_on<F>(self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Runtime::TokioCurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f),
            Runtime::TokioMultiThread => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move { tokio::spawn(f).await.unwrap() })
            }
            Runtime::Smol => {
                let ex = smol::Executor::new();
                smol::block_on(ex.run(ex.spawn(f)))
            }
            Runtime::AsyncStd => async_std::task::block_on(async_std::task::spawn(f)),
        }
    }
}

/// How long any one await in a test may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `f`, panicking if it takes longer than [`LIMIT`]. The timer is async-io's,
/// which works under any executor, so the same bound applies on every runtime.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    within(LIMIT, f)
        .await
        .expect("an await took longer than the test's limit")
}

/// Awaits `f` for at most `limit`; `None` when it did not finish in time (and `f` was
/// dropped unfinished).
pub async fn within<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    use futures::future::{select, Either};
    let timer = smol::Timer::after(limit);
    futures::pin_mut!(f);
    match select(f, timer).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

/// Polls `f` once with a no-op waker: `Some` if it completed, `None` if it is pending.
pub fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}
