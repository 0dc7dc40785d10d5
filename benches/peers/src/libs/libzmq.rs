//! libzmq 4.3 through the `zmq` crate: one I/O thread per context (its default), sender
//! and receiver on threads of their own.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::common::{
    check_len, exit_with, pub_payload, ready, warm_up_count, Measure, Step, SubState, ACK_TIMEOUT,
    HWM, SUBSCRIBERS, WARM_UP_ROUND_TRIPS,
};
use crate::{publish, timed};

/// PUSH → PULL; both sockets in one context so inproc works.
pub fn push_pull(endpoint: &str, size: usize, dur: Duration) -> Result<Measure, String> {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).step("pull socket")?;
    pull.set_rcvhwm(HWM).step("rcvhwm")?;
    pull.bind(endpoint).step("bind")?;
    let push = ctx.socket(zmq::PUSH).step("push socket")?;
    push.set_sndhwm(HWM).step("sndhwm")?;
    push.connect(endpoint).step("connect")?;
    let payload = vec![0u8; size];
    // `send(&[u8])` copies the payload into a new zmq_msg_t each time.
    thread::spawn(move || while push.send(&payload[..], 0).is_ok() {});
    let mut msg = zmq::Message::new();
    let m = timed!(
        warm_up_count(size),
        64,
        dur,
        pull.recv(&mut msg, 0)
            .step("recv")
            .and_then(|()| check_len(msg.len(), size))
    );
    exit_with(m)
}

/// The REP of the two-process round trip.
pub fn rep(endpoint: &str) -> Result<(), String> {
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP).step("rep socket")?;
    rep.bind(endpoint).step("bind")?;
    ready();
    let mut msg = zmq::Message::new();
    loop {
        rep.recv(&mut msg, 0).step("recv")?;
        rep.send(&msg[..], 0).step("send")?;
    }
}

/// The REQ of the round trip.
pub fn req(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let ctx = zmq::Context::new();
    let req = ctx.socket(zmq::REQ).step("req socket")?;
    req.connect(endpoint).step("connect")?;
    let payload = [0u8; 16];
    let mut msg = zmq::Message::new();
    let m = timed!(WARM_UP_ROUND_TRIPS, 16, dur, {
        req.send(&payload[..], 0)
            .step("send")
            .and_then(|()| req.recv(&mut msg, 0).step("recv"))
            .and_then(|()| check_len(msg.len(), 16))
    });
    exit_with(m)
}

/// PUB to ten SUBs, one thread per SUB.
pub fn pub_sub(endpoint: &str, dur: Duration) -> Result<Measure, String> {
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB).step("pub socket")?;
    publisher.set_sndhwm(HWM).step("sndhwm")?;
    publisher.bind(endpoint).step("bind")?;
    let sub_ctx = zmq::Context::new();
    let (warmed_tx, warmed) = mpsc::channel();
    let (acks_tx, acks) = mpsc::channel();
    for _ in 0..SUBSCRIBERS {
        let sub = sub_ctx.socket(zmq::SUB).step("sub socket")?;
        sub.set_rcvhwm(HWM).step("rcvhwm")?;
        sub.connect(endpoint).step("connect")?;
        sub.set_subscribe(b"").step("subscribe")?;
        let mut state = SubState::new(&warmed_tx, &acks_tx);
        thread::spawn(move || {
            let mut msg = zmq::Message::new();
            while sub.recv(&mut msg, 0).is_ok() {
                state.on_message(msg.first().copied());
            }
        });
    }
    let m = publish!(
        dur,
        |b| publisher.send(&pub_payload(b)[..], 0).step("send"),
        acks.recv_timeout(ACK_TIMEOUT).step("acknowledgement"),
        warmed.try_iter().count(),
        thread::sleep(Duration::from_millis(1))
    );
    exit_with(m)
}
