//! A context built with `spin(false)`: its sockets work as ever over tcp and inproc, and
//! a waiting spin-off socket uses no CPU. The tests of this file hold one lock, so the
//! CPU check sees only its own threads of this process.

mod util;

use std::sync::Mutex;
use std::time::Duration;

use ferromq::Context;

const WAIT: Duration = Duration::from_secs(10);

/// Held by every test here, so none runs beside the CPU check.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn spin_off() -> Context {
    let ctx = Context::builder().spin(false).build();
    assert!(!ctx.spin());
    ctx
}

/// Round trips between a REQ and a REP of `ctx` bound at `endpoint` (a tcp one may end in
/// `:*`), each call with a timeout.
fn round_trips(ctx: &Context, endpoint: &str, count: u32) {
    let mut rep = ctx.rep().unwrap();
    rep.bind(endpoint).unwrap();
    let mut req = ctx.req().unwrap();
    req.connect(rep.last_endpoint().unwrap()).unwrap();
    for i in 0..count {
        let waiting = req.send(i.to_be_bytes().to_vec()).unwrap();
        let request = rep.recv_timeout(WAIT).unwrap();
        assert_eq!(&request.body()[0][..], &i.to_be_bytes()[..]);
        request.reply(format!("re {i}")).unwrap();
        assert_eq!(
            waiting.recv_timeout(WAIT).unwrap(),
            format!("re {i}").as_str()
        );
    }
}

/// PUSH to PULL of `ctx` at `endpoint`: `count` messages in order, sends with a timeout.
fn pipeline(ctx: &Context, endpoint: &str, count: u32) {
    let mut pull = ctx.pull().unwrap();
    pull.bind(endpoint).unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(WAIT));
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..count {
            push.send(i.to_be_bytes().to_vec()).unwrap();
        }
        push
    });
    for i in 0..count {
        let msg = pull.recv_timeout(WAIT).unwrap();
        assert_eq!(&msg[0][..], &i.to_be_bytes()[..]);
    }
    let _push = sender.join().unwrap();
}

#[test]
fn a_spin_off_pair_works_over_tcp() {
    let _serial = serial();
    let ctx = spin_off();
    round_trips(&ctx, "tcp://127.0.0.1:*", 200);
    pipeline(&ctx, "tcp://127.0.0.1:*", 5000);
}

#[test]
fn a_spin_off_pair_works_over_inproc() {
    let _serial = serial();
    let ctx = spin_off();
    round_trips(&ctx, &format!("inproc://{}", util::unique("rr")), 200);
    pipeline(&ctx, &format!("inproc://{}", util::unique("pp")), 5000);
}

#[test]
fn the_builder_keeps_the_default_spin_and_the_io_thread_count() {
    let _serial = serial();
    assert!(Context::new().spin());
    assert!(Context::with_io_threads(3).spin());
    let ctx = Context::builder().io_threads(3).spin(false).build();
    assert_eq!((ctx.io_threads(), ctx.spin()), (3, false));
    assert_eq!(Context::builder().io_threads(0).build().io_threads(), 1);
}

#[test]
fn an_idle_spin_off_socket_uses_no_cpu() {
    let _serial = serial();
    util::assert_quiet_after_traffic_uses_no_cpu(&spin_off());
}

/// The async face of a spin-off context: its futures return `Pending` at once (the unit
/// tests of `wake` check that no spin runs), and still see every ring.
#[test]
fn a_spin_off_pair_works_in_async() {
    use util::aio::{bounded, Runtime};
    let _serial = serial();
    for rt in [Runtime::TokioMultiThread, Runtime::Smol] {
        for endpoint in [
            "tcp://127.0.0.1:*".to_owned(),
            format!("inproc://{}", util::unique("ap")),
        ] {
            rt.block_on(async move {
                let ctx = spin_off();
                let mut pull = ctx.pull().unwrap();
                pull.bind(&endpoint).unwrap();
                let mut push = ctx.push().unwrap();
                push.connect(pull.last_endpoint().unwrap()).unwrap();
                for i in 0..2000u32 {
                    bounded(push.send_async(i.to_be_bytes().to_vec()))
                        .await
                        .unwrap();
                    if i % 7 == 6 {
                        for j in i - 6..=i {
                            let msg = bounded(pull.recv_async()).await.unwrap();
                            assert_eq!(&msg[0][..], &j.to_be_bytes()[..]);
                        }
                    }
                }
                let mut rep = ctx.rep().unwrap();
                rep.bind("tcp://127.0.0.1:*").unwrap();
                let mut req = ctx.req().unwrap();
                req.connect(rep.last_endpoint().unwrap()).unwrap();
                for i in 0..100u32 {
                    let pending = bounded(req.send_async(i.to_be_bytes().to_vec()))
                        .await
                        .unwrap();
                    let request = bounded(rep.recv_async()).await.unwrap();
                    assert_eq!(&request.body()[0][..], &i.to_be_bytes()[..]);
                    bounded(request.reply_async("re")).await.unwrap();
                    assert_eq!(bounded(pending.recv_async()).await.unwrap(), "re");
                }
            });
        }
    }
}
