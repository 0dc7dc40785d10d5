//! zmq.rs (crate `zeromq` 0.7) on the tokio runtime of two workers, every side a task. It
//! has no high-water-mark setting (its queues are bounded by its own channels), and no
//! inproc transport.

use std::time::Duration;

use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

use crate::common::{
    ack_async, check_len, drain, exit_with, pub_payload, ready, runtime, warm_up_count, Measure,
    Step, SubState, SUBSCRIBERS, WARM_UP_ROUND_TRIPS,
};
use crate::{publish, timed};

fn first_byte(msg: &ZmqMessage) -> Option<u8> {
    msg.get(0).and_then(|frame| frame.first().copied())
}

pub fn push_pull(endpoint: &str, size: usize, dur: Duration) -> Result<Measure, String> {
    let rt = runtime()?;
    let ep = endpoint.to_owned();
    rt.block_on(async move {
        let mut pull = zeromq::PullSocket::new();
        pull.bind(&ep).await.step("bind")?;
        let mut push = zeromq::PushSocket::new();
        push.connect(&ep).await.step("connect")?;
        let payload = vec![0u8; size];
        tokio::spawn(async move {
            while push.send(ZmqMessage::from(payload.to_vec())).await.is_ok() {}
        });
        let receiver = tokio::spawn(async move {
            let m = timed!(
                warm_up_count(size),
                64,
                dur,
                pull.recv()
                    .await
                    .step("recv")
                    .and_then(|m| check_len(m.get(0).map_or(0, |f| f.len()), size))
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
        let mut rep = zeromq::RepSocket::new();
        rep.bind(&ep).await.step("bind")?;
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
        let mut req = zeromq::ReqSocket::new();
        req.connect(&ep).await.step("connect")?;
        let client = tokio::spawn(async move {
            let payload = [0u8; 16];
            let m = timed!(WARM_UP_ROUND_TRIPS, 16, dur, {
                match req.send(ZmqMessage::from(payload.to_vec())).await {
                    Ok(()) => req
                        .recv()
                        .await
                        .step("recv")
                        .and_then(|m| check_len(m.get(0).map_or(0, |f| f.len()), 16)),
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
        let mut publisher = zeromq::PubSocket::new();
        publisher.bind(&ep).await.step("bind")?;
        let (warmed_tx, mut warmed) = tokio::sync::mpsc::unbounded_channel();
        let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..SUBSCRIBERS {
            let mut sub = zeromq::SubSocket::new();
            sub.connect(&ep).await.step("connect")?;
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
                    .send(ZmqMessage::from(pub_payload(b).to_vec()))
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
