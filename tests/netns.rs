//! Real network failures: two Linux network namespaces joined by a veth pair, one peer
//! process in each (this test binary run again under `ip netns exec`, with
//! `FERROMQ_NETNS_CHILD` naming its role). The link is cut mid-stream and restored, or the
//! far namespace is deleted with its process, so that no FIN, RST or ICMP ever reaches the
//! near side: only heartbeats can tell it the peer is gone.
//!
//! A cut is `ip link set down` on both ends of the veth: each side loses its route to the
//! other, established connections see silence (no error: the kernel just cannot transmit,
//! which we checked by hand), and new connects fail with ENETUNREACH until the link is up.
//!
//! Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip`; where namespaces
//! cannot be made each test prints why and passes without running. Namespaces are named
//! `fmq-<pid>-<n>` and deleted by a guard when the test ends, however it ends (those of a
//! run that was SIGKILLed are swept by the next run); children are SIGKILLed by their
//! guards, exit when their stdin closes, and after [`CHILD_MAX`] whatever happens. Every
//! wait is bounded.

mod util;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ferromq::{Context, Error, Message};

const ROLE_ENV: &str = "FERROMQ_NETNS_CHILD";
/// Longest any single wait may take.
const LIMIT: Duration = Duration::from_secs(10);
/// A child exits on its own after this long, should every other guard fail.
const CHILD_MAX: Duration = Duration::from_secs(60);

/// Heartbeat settings of every socket here: a PING every interval, the connection dropped
/// when nothing at all came back within the timeout.
const HB_IVL: Duration = Duration::from_millis(200);
const HB_TIMEOUT: Duration = Duration::from_millis(600);
const HB_TTL: Duration = Duration::from_millis(2000);
/// Latest a dead peer can be noticed after the link went: the next PING goes out within
/// an interval, its timeout fires `HB_TIMEOUT` later.
const DETECT: Duration = Duration::from_millis(200 + 600);
/// Allowance for a loaded machine (timer wake-ups, the monitor line reaching us).
const SLACK: Duration = Duration::from_millis(1500);

/// The addresses of the two ends (each namespace sees only its own pair, so every test
/// can use the same ones).
const ADDR_A: &str = "10.77.0.1";
const ADDR_B: &str = "10.77.0.2";

/// Kernel buffers (`SO_SNDBUF`, `SO_RCVBUF`) of the pipeline scenario, so that what a
/// dead connection takes with it is small and known (as in tests/faults.rs).
const KERNEL_BUFFER: usize = 16 * 1024;
/// Bytes per pipeline message: the sequence number, then padding.
const SIZE: usize = 1024;
/// What a ferromq connection may hold read from the kernel but not yet decoded.
const READ_BUFFER: usize = 256 * 1024;

fn heartbeats(socket: &mut impl Heartbeat) {
    socket.hb(HB_IVL, HB_TIMEOUT, HB_TTL);
}

/// The heartbeat setters of the socket types used here.
trait Heartbeat {
    fn hb(&mut self, ivl: Duration, timeout: Duration, ttl: Duration);
}

macro_rules! heartbeat {
    ($($ty:ty),*) => {$(
        impl Heartbeat for $ty {
            fn hb(&mut self, ivl: Duration, timeout: Duration, ttl: Duration) {
                self.set_heartbeat_interval(Some(ivl));
                self.set_heartbeat_timeout(Some(timeout));
                self.set_heartbeat_ttl(Some(ttl));
            }
        }
    )*};
}
heartbeat!(
    ferromq::Push,
    ferromq::Pull,
    ferromq::Req,
    ferromq::Rep,
    ferromq::Dealer,
    ferromq::Router
);

// ---------------------------------------------------------------------------------------
// The child side.

/// Not a test of its own: the entry point of a child process. Without the role variable
/// (an ordinary test run) it does nothing.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    thread::spawn(|| {
        // The parent holds our stdin open; when it is gone, so are we.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    thread::spawn(|| {
        thread::sleep(CHILD_MAX);
        std::process::exit(3);
    });
    // End libtest's `test child ... ` line so that every line we print starts with its tag.
    say("");
    let args: Vec<&str> = role.split(' ').collect();
    let ctx = Context::new();
    match args[..] {
        ["pull-bind", addr] => {
            let mut pull = ctx.pull().unwrap();
            heartbeats(&mut pull);
            pull.set_recv_hwm(100);
            pull.set_send_buffer_size(Some(KERNEL_BUFFER));
            pull.set_recv_buffer_size(Some(KERNEL_BUFFER));
            report_events("pull", pull.monitor());
            pull.bind(&format!("tcp://{addr}")).unwrap();
            say("READY");
            loop {
                match pull.recv_timeout(LIMIT) {
                    Ok(m) => say(&format!("MSG {}", seq_of(&m))),
                    Err(Error::TimedOut) => {}
                    Err(e) => panic!("pull: {e}"),
                }
            }
        }
        ["push-connect", addr, n] => {
            let n: u32 = n.parse().unwrap();
            let mut push = ctx.push().unwrap();
            heartbeats(&mut push);
            push.set_reconnect_interval(Some(Duration::from_millis(100)));
            push.set_send_buffer_size(Some(KERNEL_BUFFER));
            push.set_recv_buffer_size(Some(KERNEL_BUFFER));
            push.set_linger(LIMIT);
            report_events("push", push.monitor());
            push.connect(&format!("tcp://{addr}")).unwrap();
            for seq in 0..n {
                // Longer than the cut: a send blocked at the high-water mark while the
                // link is down completes once the PUSH has reconnected.
                push.send_timeout(numbered(seq), 2 * LIMIT).unwrap();
                // About 20,000 messages a second, so the stream is still going when the
                // parent cuts the link.
                if seq % 20 == 19 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            say(&format!("DONE {n}"));
            // Kept open: held messages move on with the socket, and the last ones need a
            // live socket to be flushed.
            loop {
                let _ = push.peer_count();
                thread::sleep(Duration::from_millis(10));
            }
        }
        ["far", near_router, far_rep] => {
            // The side that vanishes: a REP that never answers a "stall" request, and a
            // DEALER sending to the near side's ROUTER all along.
            let mut rep = ctx.rep().unwrap();
            heartbeats(&mut rep);
            rep.bind(&format!("tcp://{far_rep}")).unwrap();
            let mut dealer = ctx.dealer().unwrap();
            heartbeats(&mut dealer);
            dealer.connect(&format!("tcp://{near_router}")).unwrap();
            say("READY");
            thread::spawn(move || loop {
                let Ok(mut request) = rep.recv_timeout(LIMIT) else {
                    continue;
                };
                let body = request.take_body();
                if body[0].starts_with(b"stall") {
                    say("STALLED");
                    continue;
                }
                request.reply(body).unwrap();
            });
            for i in 0u64.. {
                dealer.send_timeout(format!("{i}"), LIMIT).unwrap();
                let echo = dealer.recv_timeout(LIMIT).unwrap();
                say(&format!("ECHO {}", String::from_utf8_lossy(&echo[0])));
                thread::sleep(Duration::from_millis(10));
            }
        }
        ["near", near_router, far_rep] => {
            // The side that must notice: a ROUTER echoing the far DEALER, and a REQ waiting
            // for a reply the far REP will never send.
            let mut router = ctx.router().unwrap();
            heartbeats(&mut router);
            report_events("router", router.monitor());
            router.bind(&format!("tcp://{near_router}")).unwrap();
            thread::spawn(move || loop {
                if let Ok(m) = router.recv_timeout(LIMIT) {
                    let _ = router.send(m);
                }
            });
            let mut req = ctx.req().unwrap();
            heartbeats(&mut req);
            req.set_reconnect_interval(Some(Duration::from_millis(100)));
            report_events("req", req.monitor());
            req.connect(&format!("tcp://{far_rep}")).unwrap();
            for i in 0..5 {
                let body = format!("request {i}");
                let reply = req.send(body.clone()).unwrap().recv_timeout(LIMIT).unwrap();
                assert_eq!(reply, body.as_str());
            }
            say("REQ-OK");
            let pending = req.send("stall").unwrap();
            let since = Instant::now();
            // Far longer than the heartbeat timeout: the answer must come from the
            // heartbeat noticing the dead peer, not from this timeout.
            let result = pending.recv_timeout(3 * LIMIT);
            say(&format!(
                "REQ-RESULT {:?} after {} ms",
                result.map(|_| ()),
                since.elapsed().as_millis()
            ));
            thread::sleep(CHILD_MAX);
        }
        _ => panic!("unknown child role `{role}`"),
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Prints every monitor event as `EV <tag> <event>`.
fn report_events(tag: &'static str, monitor: ferromq::Monitor) {
    thread::spawn(move || {
        for e in monitor.iter() {
            say(&format!("EV {tag} {e:?}"));
        }
    });
}

fn numbered(seq: u32) -> Message {
    let mut body = vec![0u8; SIZE];
    body[..4].copy_from_slice(&seq.to_be_bytes());
    Message::from(body)
}

fn seq_of(m: &Message) -> u32 {
    let f = &m[0];
    u32::from_be_bytes([f[0], f[1], f[2], f[3]])
}

// ---------------------------------------------------------------------------------------
// The parent side: namespaces and processes.

/// Runs `ip` with `args`; Err(its stderr) when it could not run or failed.
fn ip(args: &[&str]) -> Result<String, String> {
    match Command::new("ip").args(args).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "`ip {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run `ip`: {e}")),
    }
}

/// A network namespace, deleted when dropped.
struct Ns(String);

impl Ns {
    fn add(name: String) -> Result<Ns, String> {
        ip(&["netns", "add", &name])?;
        Ok(Ns(name))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// Deletes namespaces left by runs of this file that were killed before their guards ran
/// (their pid is gone).
fn sweep_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("fmq-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Two namespaces, `a` at [`ADDR_A`] and `b` at [`ADDR_B`], joined by a veth pair.
/// Fields drop in order: `b` may already be gone.
struct Net {
    a: Ns,
    b: Option<Ns>,
    veth_a: String,
    veth_b: String,
}

impl Net {
    /// Builds the pair, or prints why it cannot and returns None (the test then passes
    /// without running).
    fn new(test: &str) -> Option<Net> {
        match Net::build() {
            Ok(net) => Some(net),
            Err(why) => {
                eprintln!("SKIPPED {test}: network namespaces cannot be made here ({why})");
                None
            }
        }
    }

    fn build() -> Result<Net, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        sweep_stale();
        let pid = std::process::id();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let a = Ns::add(format!("fmq-{pid}-{n}a"))?;
        let b = Ns::add(format!("fmq-{pid}-{n}b"))?;
        // Interface names live inside the namespaces (at most 15 characters).
        let (veth_a, veth_b) = (format!("fq{}a", n), format!("fq{}b", n));
        ip(&[
            "link", "add", &veth_a, "netns", &a.0, "type", "veth", "peer", "name", &veth_b,
            "netns", &b.0,
        ])?;
        for (ns, dev, addr) in [(&a, &veth_a, ADDR_A), (&b, &veth_b, ADDR_B)] {
            ip(&[
                "-n",
                &ns.0,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                dev,
            ])?;
            ip(&["-n", &ns.0, "link", "set", dev, "up"])?;
            ip(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        }
        let net = Net {
            a,
            b: Some(b),
            veth_a,
            veth_b,
        };
        // The link may take a moment to come up: wait until a can reach b.
        let reachable = util::eventually(LIMIT, || {
            ip(&["-n", &net.a.0, "route", "get", ADDR_B]).is_ok_and(|r| r.contains(&net.veth_a))
                && ip(&["-n", &net.a.0, "link", "show", &net.veth_a])
                    .is_ok_and(|l| l.contains("LOWER_UP"))
        });
        if !reachable {
            return Err("the veth link never came up".into());
        }
        Ok(net)
    }

    fn b(&self) -> &Ns {
        self.b.as_ref().expect("namespace b was deleted")
    }

    /// Both ends of the link down (a blackhole: no error reaches established
    /// connections), or up again.
    fn set_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.a.0, "link", "set", &self.veth_a, state]).unwrap();
        ip(&["-n", &self.b().0, "link", "set", &self.veth_b, state]).unwrap();
    }

    /// The far end of the link down: nothing from b reaches a any more.
    fn far_end_down(&self) {
        ip(&["-n", &self.b().0, "link", "set", &self.veth_b, "down"]).unwrap();
    }

    /// Deletes namespace b's name. The namespace itself (and its veth) lives on while
    /// anything holds it, such as the orphaned tcp connections of a killed process.
    fn delete_b(&mut self) {
        let b = self.b.take().expect("namespace b was deleted");
        ip(&["netns", "del", &b.0]).unwrap();
        std::mem::forget(b);
    }

    /// Deletes the veth pair from a's side and checks it is gone.
    fn delete_link(&self) {
        ip(&["-n", &self.a.0, "link", "del", &self.veth_a]).unwrap();
        assert!(
            ip(&["-n", &self.a.0, "link", "show", &self.veth_a]).is_err(),
            "the veth is still there"
        );
    }

    fn spawn_a(&self, role: &str) -> Proc {
        Proc::spawn(&self.a.0, role)
    }

    fn spawn_b(&self, role: &str) -> Proc {
        Proc::spawn(&self.b().0, role)
    }
}

/// A child process in a namespace, SIGKILLed and reaped when dropped. Every line it
/// prints is kept with the time it reached us.
struct Proc {
    child: Child,
    lines: Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl Proc {
    fn spawn(ns: &str, role: &str) -> Proc {
        let exe = std::env::current_exe().unwrap();
        // `ip netns exec` execs the program: the child's pid is the test binary's.
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Takes in whatever lines have arrived, without waiting.
    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    /// The first line at or after `from` that starts with `prefix`, waiting up to
    /// [`LIMIT`] for it.
    fn wait(&mut self, from: Instant, prefix: &str) -> (Instant, String) {
        let deadline = Instant::now() + LIMIT;
        let mut i = 0;
        loop {
            while i < self.seen.len() {
                let (at, line) = &self.seen[i];
                if *at >= from && line.starts_with(prefix) {
                    return (*at, line.clone());
                }
                i += 1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(e) => panic!(
                    "child never said `{prefix}` ({e:?}); its last lines: {:?}",
                    self.tail()
                ),
            }
        }
    }

    /// Lines starting with `prefix` seen between `from` and `to`.
    fn between(&self, from: Instant, to: Instant, prefix: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|(at, l)| *at >= from && *at <= to && l.starts_with(prefix))
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// The sequence numbers of the `MSG` lines seen so far.
    fn msgs(&self) -> Vec<u32> {
        self.seen
            .iter()
            .filter_map(|(_, l)| l.strip_prefix("MSG ")?.parse().ok())
            .collect()
    }

    /// Reads lines until `done` holds of the `MSG` numbers (or panics after [`LIMIT`]).
    fn until_msgs(&mut self, what: &str, done: impl Fn(&[u32]) -> bool) {
        let deadline = Instant::now() + LIMIT;
        // Checking the whole list is quadratic; check it after each batch of lines.
        while !done(&self.msgs()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l);
                    self.drain();
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "{what}: gave up after {} messages; last lines {:?}",
                    self.msgs().len(),
                    self.tail()
                ),
            }
        }
    }

    /// The last lines other than MSG ones, for failure messages.
    fn tail(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self
            .seen
            .iter()
            .rev()
            .map(|(_, l)| l.as_str())
            .filter(|l| !l.starts_with("MSG "))
            .take(12)
            .collect();
        t.reverse();
        t
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The reason inside an `EV <tag> Disconnected { .. }` line, checked to be a heartbeat's.
fn assert_heartbeat_reason(line: &str) {
    assert!(
        line.contains("reason: Some(\"heartbeat timed out"),
        "not dropped by a heartbeat: {line}"
    );
}

// ---------------------------------------------------------------------------------------
// The scenarios.

/// (1) PUSH in namespace a connects over the veth to PULL in namespace b and streams
/// numbered messages. The link is cut (both ends down) for longer than the heartbeat
/// timeout: both sides drop the connection by heartbeat within interval + timeout (+
/// slack), the PUSH's reconnection attempts fail while the link is down, and once it is
/// restored the PUSH reconnects and the stream completes. Every message arrives exactly
/// once except those the kernel buffers (and the PULL's undecoded bytes) held at the cut.
#[test]
fn a_cut_link_is_noticed_by_heartbeats_and_the_stream_resumes() {
    const N: u32 = 20_000;
    const CUT: Duration = Duration::from_secs(3);
    let Some(net) = Net::new("a_cut_link_is_noticed_by_heartbeats_and_the_stream_resumes") else {
        return;
    };
    let ep = format!("{ADDR_B}:5555");
    let mut pull = net.spawn_b(&format!("pull-bind {ep}"));
    let start = Instant::now();
    pull.wait(start, "READY");
    let mut push = net.spawn_a(&format!("push-connect {ep} {N}"));
    pull.until_msgs("before the cut", |m| m.len() >= N as usize / 5);

    let cut = Instant::now();
    net.set_link(false);
    let (pull_at, pull_line) = pull.wait(cut, "EV pull Disconnected");
    let (push_at, push_line) = push.wait(cut, "EV push Disconnected");
    let (pull_took, push_took) = (pull_at - cut, push_at - cut);
    assert_heartbeat_reason(&pull_line);
    assert_heartbeat_reason(&push_line);
    for (side, took) in [("PULL", pull_took), ("PUSH", push_took)] {
        assert!(
            took <= DETECT + SLACK,
            "{side} noticed the cut after {took:?}, more than {:?}",
            DETECT + SLACK
        );
    }
    pull.drain();
    let before_restore = pull.msgs().len();
    thread::sleep((cut + CUT).saturating_duration_since(Instant::now()));

    // While the link was down, the PUSH tried again and again and never got through.
    let restored = Instant::now();
    push.drain();
    let retried = push
        .between(push_at, restored, "EV push ConnectRetried")
        .len();
    let reconnected = push.between(push_at, restored, "EV push HandshakeSucceeded");
    assert!(reconnected.is_empty(), "reconnected through a cut link");
    assert!(retried >= 1, "no reconnection attempt during the cut");
    net.set_link(true);
    let (back_at, _) = push.wait(restored, "EV push HandshakeSucceeded");
    let back = back_at - restored;

    push.wait(start, "DONE");
    // One peer at a time, so the stream keeps its order: the last message comes last.
    pull.until_msgs("after the link came back", |m| m.last() == Some(&(N - 1)));

    let got = pull.msgs();
    let mut seen = HashSet::new();
    for s in &got {
        assert!(*s < N, "message {s} was never sent");
        assert!(seen.insert(*s), "message {s} arrived twice");
    }
    let missing: Vec<u32> = (0..N).filter(|s| !seen.contains(s)).collect();
    // The PUSH's send buffer and the PULL's receive buffer (each doubled by Linux), and
    // what the PULL had read but not decoded; everything else ferromq held was handed
    // back by the dropped connection and sent again.
    let bound = (2 * 2 * KERNEL_BUFFER + READ_BUFFER).div_ceil(SIZE) + 2;
    let range = match (missing.first(), missing.last()) {
        (Some(a), Some(b)) => format!(" (#{a}..=#{b})"),
        _ => String::new(),
    };
    println!(
        "(1) link cut for {CUT:?} after {before_restore} of {N} messages: PULL noticed in {pull_took:?}, \
         PUSH in {push_took:?} (heartbeat interval {HB_IVL:?}, timeout {HB_TIMEOUT:?}); \
         {retried} reconnection attempts failed meanwhile; reconnected {back:?} after the link came back; \
         received {}, lost {}{range} (bound {bound})",
        got.len(),
        missing.len(),
    );
    assert!(
        missing.len() <= bound,
        "lost {} messages{range}, more than the bound {bound}",
        missing.len()
    );
}

/// (2) The far side vanishes without a trace: its end of the link goes down, its process
/// is SIGKILLed, its namespace deleted and the veth removed, so no FIN, RST or ICMP can
/// reach the near side. The near side's ROUTER (whose DEALER peer was the far
/// process) and REQ (waiting for a reply from the far REP) both drop their connection by
/// heartbeat within interval + timeout (+ slack), and the REQ's pending receive fails
/// with `Disconnected` then, long before its own timeout.
#[test]
fn a_peer_whose_namespace_is_deleted_is_noticed_by_heartbeats() {
    let Some(mut net) = Net::new("a_peer_whose_namespace_is_deleted_is_noticed_by_heartbeats")
    else {
        return;
    };
    let (router_ep, rep_ep) = (format!("{ADDR_A}:5556"), format!("{ADDR_B}:5557"));
    let start = Instant::now();
    let mut far = net.spawn_b(&format!("far {router_ep} {rep_ep}"));
    far.wait(start, "READY");
    let mut near = net.spawn_a(&format!("near {router_ep} {rep_ep}"));
    near.wait(start, "REQ-OK");
    far.wait(start, "STALLED");
    // The DEALER's traffic flows through the near ROUTER (it retries its connect until
    // the ROUTER is bound).
    far.wait(start, "ECHO 20");

    let gone = Instant::now();
    net.far_end_down();
    far.kill();
    net.delete_b();
    // The namespace itself lives on (unnamed) while the kernel retries the FINs of the
    // killed process's connections, which hold a reference to it, so its veth would too:
    // take the link away from our side, which removes both ends.
    net.delete_link();
    let (router_at, router_line) = near.wait(gone, "EV router Disconnected");
    let (req_at, req_line) = near.wait(gone, "EV req Disconnected");
    let (result_at, result) = near.wait(gone, "REQ-RESULT");
    assert_heartbeat_reason(&router_line);
    assert_heartbeat_reason(&req_line);
    assert!(
        result.starts_with("REQ-RESULT Err(Disconnected)"),
        "the waiting request ended with {result}"
    );
    let took: Vec<Duration> = [router_at, req_at, result_at]
        .iter()
        .map(|at| *at - gone)
        .collect();
    for (what, t) in ["ROUTER", "REQ", "the REQ's receive"].iter().zip(&took) {
        assert!(
            *t <= DETECT + SLACK,
            "{what} noticed the vanished peer after {t:?}, more than {:?}",
            DETECT + SLACK
        );
    }
    println!(
        "(2) far namespace deleted with its process: ROUTER dropped its DEALER after {:?}, \
         REQ its REP after {:?}, the pending request failed with Disconnected after {:?} \
         (heartbeat interval {HB_IVL:?}, timeout {HB_TIMEOUT:?})",
        took[0], took[1], took[2]
    );
}

// ---------------------------------------------------------------------------------------
// Found while writing the tests above; it needs no namespaces.

/// Traffic from the peer should cancel a pending heartbeat timeout, as in libzmq
/// (`zmtp_engine_t::decode_and_push` cancels `heartbeat_timeout_timer_id` on every message),
/// so that the next PING arms a fresh one and a peer that goes silent is dropped within
/// interval + timeout. ferromq used to keep the answered PING's timer: until it fired no
/// later PING armed one, so detection took up to timeout + the interval tick after it +
/// timeout (about 2.1 s here instead of 1.1 s).
#[test]
fn a_peer_silent_after_answering_a_ping_is_dropped_within_interval_plus_timeout() {
    use std::net::TcpStream;
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_heartbeat_interval(Some(Duration::from_millis(100)));
    pull.set_heartbeat_timeout(Some(Duration::from_millis(1000)));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull.last_endpoint().unwrap().trim_start_matches("tcp://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready("PUSH"));
    stream.write_all(&out).unwrap();
    // Wait for the first PING (after the peer's greeting and READY), answer it, then go
    // silent: from here on the peer hears nothing from us.
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.windows(5).any(|w| w == b"\x04PING") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before any PING");
        got.extend_from_slice(&buf[..n]);
    }
    stream.write_all(b"\x04\x05\x04PONG").unwrap();
    let silent = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not dropped: {e}"),
        }
    }
    let after = silent.elapsed();
    // Interval 0.1 s + timeout 1 s, with half a second of slack; it took 2.1 s before.
    assert!(
        after < Duration::from_millis(1600),
        "dropped {after:?} after going silent"
    );
}
