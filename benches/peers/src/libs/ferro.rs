//! ferromq, through its blocking calls (sender and receiver on threads of their own) and
//! through its async face (`send_async`/`recv_async`, tasks on the 2-worker runtime).
//! One I/O thread per context. The blocking cells take `spin`: false is the
//! `ferromq-nospin` column, contexts built with `Context::builder().spin(false)`.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::common::{
    check_len, exit_with, pub_payload, ready, runtime, warm_up_count, Measure, Step, SubState,
    ACK_TIMEOUT, HWM, SUBSCRIBERS, WARM_UP_ROUND_TRIPS,
};
use crate::{publish, timed};

fn first_byte(msg: &ferromq::Message) -> Option<u8> {
    msg.first().and_then(|frame| frame.first().copied())
}

/// A PULL bound at `endpoint` and a PUSH connected to it, both with the bench's mark.
fn push_pull_pair(
    ctx: &ferromq::Context,
    endpoint: &str,
) -> Result<(ferromq::Push, ferromq::Pull), String> {
    let mut pull = ctx.pull().step("pull socket")?;
    pull.set_recv_hwm(HWM as usize);
    pull.bind(endpoint).step("bind")?;
    let mut push = ctx.push().step("push socket")?;
    push.set_send_hwm(HWM as usize);
    push.connect(endpoint).step("connect")?;
    Ok((push, pull))
}

/// A context with one I/O thread, its waits spinning first if `spin`.
fn context(spin: bool) -> ferromq::Context {
    ferromq::Context::builder().spin(spin).build()
}

/// Blocking PUSH → PULL.
pub fn push_pull(
    endpoint: &str,
    size: usize,
    dur: Duration,
    spin: bool,
) -> Result<Measure, String> {
    let ctx = context(spin);
    let (mut push, mut pull) = push_pull_pair(&ctx, endpoint)?;
    let payload = vec![0u8; size];
    thread::spawn(move || while push.send(&payload[..]).is_ok() {});
    let m = timed!(
        warm_up_count(size),
        64,
        dur,
        pull.recv()
            .step("recv")
            .and_then(|m| check_len(m.byte_len(), size))
    );
    exit_with(m)
}

/// Async PUSH → PULL, each side a task of the 2-worker runtime.
pub fn push_pull_async(endpoint: &str, size: usize, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ctx = ferromq::Context::new();
    let (mut push, mut pull) = push_pull_pair(&ctx, endpoint)?;
    let payload = vec![0u8; size];
    rt.spawn(async move { while push.send_async(&payload[..]).await.is_ok() {} });
    let receiver = rt.spawn(async move {
        let m = timed!(
            warm_up_count(size),
            64,
            dur,
            pull.recv_async()
                .await
                .step("recv")
                .and_then(|m| check_len(m.byte_len(), size))
        );
        exit_with(m);
    });
    let _ = rt.block_on(receiver);
    Err("receiver task ended".into())
}

/// The REP of the two-process round trip: echoes every request.
pub fn rep(endpoint: &str, spin: bool) -> Result<(), String> {
    let ctx = context(spin);
    let mut rep = ctx.rep().step("rep socket")?;
    rep.bind(endpoint).step("bind")?;
    ready();
    loop {
        let request = rep.recv().step("recv")?;
        let body = request.body().clone();
        request.reply(body).step("reply")?;
    }
}

/// The async REP: a task of the 2-worker runtime.
pub fn rep_async(endpoint: &str) -> Result<(), String> {
    let rt = runtime()?;
    let ctx = ferromq::Context::new();
    let mut rep = ctx.rep().step("rep socket")?;
    rep.bind(endpoint).step("bind")?;
    ready();
    let server = rt.spawn(async move {
        loop {
            let request = rep.recv_async().await.step("recv")?;
            let body = request.body().clone();
            request.reply_async(body).await.step("reply")?;
        }
    });
    rt.block_on(server).step("rep task")?
}

/// The REQ of the round trip, in the cell's process.
pub fn req(endpoint: &str, dur: Duration, spin: bool) -> Result<Measure, String> {
    let ctx = context(spin);
    let mut req = ctx.req().step("req socket")?;
    req.connect(endpoint).step("connect")?;
    let payload = [0u8; 16];
    let m = timed!(
        WARM_UP_ROUND_TRIPS,
        16,
        dur,
        req.request(&payload[..])
            .step("request")
            .and_then(|m| check_len(m.byte_len(), 16))
    );
    exit_with(m)
}

/// The async REQ, a task of the 2-worker runtime.
pub fn req_async(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ctx = ferromq::Context::new();
    let mut req = ctx.req().step("req socket")?;
    req.connect(endpoint).step("connect")?;
    let client = rt.spawn(async move {
        let payload = [0u8; 16];
        let m = timed!(
            WARM_UP_ROUND_TRIPS,
            16,
            dur,
            req.request_async(&payload[..])
                .await
                .step("request")
                .and_then(|m| check_len(m.byte_len(), 16))
        );
        exit_with(m);
    });
    let _ = rt.block_on(client);
    Err("client task ended".into())
}

/// PUB to ten SUBs, each SUB on a thread of its own; the publisher in this thread.
pub fn pub_sub(endpoint: &str, dur: Duration, spin: bool) -> Result<Measure, String> {
    let ctx = context(spin);
    let mut publisher = ctx.publisher().step("pub socket")?;
    publisher.set_send_hwm(HWM as usize);
    publisher.bind(endpoint).step("bind")?;
    // The subscribers' context is separate, as if they were in other processes.
    let sub_ctx = context(spin);
    let (warmed_tx, warmed) = mpsc::channel();
    let (acks_tx, acks) = mpsc::channel();
    for _ in 0..SUBSCRIBERS {
        let mut sub = sub_ctx.subscriber().step("sub socket")?;
        sub.set_recv_hwm(HWM as usize);
        sub.connect(endpoint).step("connect")?;
        sub.subscribe("");
        let mut state = SubState::new(&warmed_tx, &acks_tx);
        thread::spawn(move || {
            while let Ok(msg) = sub.recv() {
                state.on_message(first_byte(&msg));
            }
        });
    }
    let m = publish!(
        dur,
        |b| publisher.send(&pub_payload(b)[..]).map(drop).step("send"),
        acks.recv_timeout(ACK_TIMEOUT).step("acknowledgement"),
        warmed.try_iter().count(),
        thread::sleep(Duration::from_millis(1))
    );
    exit_with(m)
}

/// PUB to ten SUBs as tasks of the 2-worker runtime, the publisher a task too.
pub fn pub_sub_async(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ctx = ferromq::Context::new();
    let mut publisher = ctx.publisher().step("pub socket")?;
    publisher.set_send_hwm(HWM as usize);
    publisher.bind(endpoint).step("bind")?;
    let sub_ctx = ferromq::Context::new();
    let (warmed_tx, mut warmed) = tokio::sync::mpsc::unbounded_channel();
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..SUBSCRIBERS {
        let mut sub = sub_ctx.subscriber().step("sub socket")?;
        sub.set_recv_hwm(HWM as usize);
        sub.connect(endpoint).step("connect")?;
        sub.subscribe("");
        let mut state = SubState::new(&warmed_tx, &acks_tx);
        rt.spawn(async move {
            while let Ok(msg) = sub.recv_async().await {
                state.on_message(first_byte(&msg));
            }
        });
    }
    let publisher_task = rt.spawn(async move {
        let m = publish!(
            dur,
            |b| publisher
                .send_async(&pub_payload(b)[..])
                .await
                .map(drop)
                .step("send"),
            crate::common::ack_async(&mut acks).await,
            crate::common::drain(&mut warmed),
            tokio::time::sleep(Duration::from_millis(1)).await
        );
        exit_with(m);
    });
    let _ = rt.block_on(publisher_task);
    Err("publisher task ended".into())
}
