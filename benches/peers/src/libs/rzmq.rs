//! rzmq 0.5 on the tokio runtime of two workers, every side a task; high-water marks set
//! to 1000 (its default is 256).

use std::time::Duration;

use rzmq::socket::options::{RCVHWM, SNDHWM, SUBSCRIBE};
use rzmq::{Msg, SocketType};

use crate::common::{
    ack_async, check_len, drain, exit_with, pub_payload, ready, runtime, warm_up_count, Measure,
    Step, SubState, HWM, SUBSCRIBERS, WARM_UP_ROUND_TRIPS,
};
use crate::{publish, timed};

fn first_byte(msg: &Msg) -> Option<u8> {
    msg.data().and_then(|data| data.first().copied())
}

pub fn push_pull(endpoint: &str, size: usize, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        // One context for both sockets, so inproc works.
        let ctx = rzmq::Context::new().step("context")?;
        let pull = ctx.socket(SocketType::Pull).step("pull socket")?;
        pull.set_option(RCVHWM, HWM).await.step("rcvhwm")?;
        pull.bind(&ep).await.step("bind")?;
        let push = ctx.socket(SocketType::Push).step("push socket")?;
        push.set_option(SNDHWM, HWM).await.step("sndhwm")?;
        push.connect(&ep).await.step("connect")?;
        let payload = vec![0u8; size];
        tokio::spawn(
            async move { while push.send(Msg::from_vec(payload.to_vec())).await.is_ok() {} },
        );
        let receiver = tokio::spawn(async move {
            let m = timed!(
                warm_up_count(size),
                64,
                dur,
                pull.recv()
                    .await
                    .step("recv")
                    .and_then(|m| check_len(m.size(), size))
            );
            exit_with(m);
        });
        let _ = receiver.await;
        drop(ctx);
        Err("receiver task ended".into())
    })
}

pub fn rep(endpoint: &str) -> Result<(), String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let ctx = rzmq::Context::new().step("context")?;
        let rep = ctx.socket(SocketType::Rep).step("rep socket")?;
        rep.bind(&ep).await.step("bind")?;
        ready();
        let server = tokio::spawn(async move {
            loop {
                let request = rep.recv().await.step("recv")?;
                rep.send(request).await.step("send")?;
            }
        });
        let outcome = server.await.step("rep task")?;
        drop(ctx);
        outcome
    })
}

pub fn req(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let ctx = rzmq::Context::new().step("context")?;
        let req = ctx.socket(SocketType::Req).step("req socket")?;
        req.connect(&ep).await.step("connect")?;
        let client = tokio::spawn(async move {
            let payload = [0u8; 16];
            let m = timed!(WARM_UP_ROUND_TRIPS, 16, dur, {
                match req.send(Msg::from_vec(payload.to_vec())).await {
                    Ok(()) => req
                        .recv()
                        .await
                        .step("recv")
                        .and_then(|m| check_len(m.size(), 16)),
                    Err(e) => Err(format!("send: {e}")),
                }
            });
            exit_with(m);
        });
        let _ = client.await;
        drop(ctx);
        Err("client task ended".into())
    })
}

pub fn pub_sub(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let ctx = rzmq::Context::new().step("context")?;
        let publisher = ctx.socket(SocketType::Pub).step("pub socket")?;
        publisher.set_option(SNDHWM, HWM).await.step("sndhwm")?;
        publisher.bind(&ep).await.step("bind")?;
        // The subscribers' context is separate, as if they were in other processes.
        let sub_ctx = rzmq::Context::new().step("context")?;
        let (warmed_tx, mut warmed) = tokio::sync::mpsc::unbounded_channel();
        let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..SUBSCRIBERS {
            let sub = sub_ctx.socket(SocketType::Sub).step("sub socket")?;
            sub.set_option(RCVHWM, HWM).await.step("rcvhwm")?;
            sub.set_option(SUBSCRIBE, &b""[..])
                .await
                .step("subscribe")?;
            sub.connect(&ep).await.step("connect")?;
            let mut state = SubState::new(&warmed_tx, &acks_tx);
            tokio::spawn(async move {
                while let Ok(msg) = sub.recv().await {
                    state.on_message(first_byte(&msg));
                }
            });
        }
        let publisher_task = tokio::spawn(async move {
            let m = publish!(
                dur,
                |b| publisher
                    .send(Msg::from_vec(pub_payload(b).to_vec()))
                    .await
                    .step("send"),
                ack_async(&mut acks).await,
                drain(&mut warmed),
                tokio::time::sleep(Duration::from_millis(1)).await
            );
            exit_with(m);
        });
        let _ = publisher_task.await;
        drop((ctx, sub_ctx));
        Err("publisher task ended".into())
    })
}
