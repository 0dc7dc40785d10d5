//! omq-tokio 0.33, its sockets' drivers on the tokio runtime of two workers
//! (`Socket::new` on the current runtime), every side a task; high-water marks 1000.

use std::time::Duration;

use omq_tokio::{Message, Options, Socket, SocketType};

use crate::common::{
    ack_async, check_len, drain, exit_with, pub_payload, ready, runtime, warm_up_count, Measure,
    Step, SubState, HWM, SUBSCRIBERS, WARM_UP_ROUND_TRIPS,
};
use crate::{publish, timed};

fn options() -> Options {
    Options::default().send_hwm(HWM as u32).recv_hwm(HWM as u32)
}

fn first_byte(msg: &Message) -> Option<u8> {
    msg.get(0).and_then(|frame| frame.first().copied())
}

pub fn push_pull(endpoint: &str, size: usize, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let pull = Socket::new(SocketType::Pull, options());
        pull.bind(ep.as_str()).await.step("bind")?;
        let push = Socket::new(SocketType::Push, options());
        push.connect(ep.as_str()).await.step("connect")?;
        let payload = vec![0u8; size];
        tokio::spawn(
            async move { while push.send(Message::from_slice(&payload)).await.is_ok() {} },
        );
        let receiver = tokio::spawn(async move {
            let m = timed!(
                warm_up_count(size),
                64,
                dur,
                pull.recv()
                    .await
                    .step("recv")
                    .and_then(|m| check_len(m.byte_len(), size))
            );
            exit_with(m);
        });
        let _ = receiver.await;
        Err("receiver task ended".into())
    })
}

pub fn rep(endpoint: &str) -> Result<(), String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let rep = Socket::new(SocketType::Rep, options());
        rep.bind(ep.as_str()).await.step("bind")?;
        ready();
        let server = tokio::spawn(async move {
            loop {
                let request = rep.recv().await.step("recv")?;
                rep.send(request).await.step("send")?;
            }
        });
        server.await.step("rep task")?
    })
}

pub fn req(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let req = Socket::new(SocketType::Req, options());
        req.connect(ep.as_str()).await.step("connect")?;
        let client = tokio::spawn(async move {
            let payload = [0u8; 16];
            let m = timed!(WARM_UP_ROUND_TRIPS, 16, dur, {
                match req.send(Message::from_slice(&payload)).await {
                    Ok(()) => req
                        .recv()
                        .await
                        .step("recv")
                        .and_then(|m| check_len(m.byte_len(), 16)),
                    Err(e) => Err(format!("send: {e}")),
                }
            });
            exit_with(m);
        });
        let _ = client.await;
        Err("client task ended".into())
    })
}

pub fn pub_sub(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let publisher = Socket::new(SocketType::Pub, options());
        publisher.bind(ep.as_str()).await.step("bind")?;
        let (warmed_tx, mut warmed) = tokio::sync::mpsc::unbounded_channel();
        let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..SUBSCRIBERS {
            let sub = Socket::new(SocketType::Sub, options());
            sub.connect(ep.as_str()).await.step("connect")?;
            sub.subscribe("").await.step("subscribe")?;
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
                    .send(Message::from_slice(&pub_payload(b)))
                    .await
                    .step("send"),
                ack_async(&mut acks).await,
                drain(&mut warmed),
                tokio::time::sleep(Duration::from_millis(1)).await
            );
            exit_with(m);
        });
        let _ = publisher_task.await;
        Err("publisher task ended".into())
    })
}
