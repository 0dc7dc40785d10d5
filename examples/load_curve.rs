//! Load growth curve: one ferromq socket bound on loopback tcp with up to 10,000 peers, its
//! resident memory measured as the peers arrive. Not a test; a documented run (see
//! BENCHMARKS.md, "Load growth to 10,000 tcp peers").
//!
//! The parent process binds one PULL (mode `pull`) or one PUB (mode `pub`) and spawns itself
//! (`std::env::current_exe()`) as a child that opens the peers: plain TCP streams that do the
//! ZMTP 3.1 NULL handshake byte for byte (greeting, READY as PUSH or SUB) — the cheapest real
//! ZMTP connection, so that the child's own costs stay out of the parent's figures. Two
//! processes are needed because one cannot hold both ends of 10,000 connections under the
//! file-descriptor limit.
//!
//! At each step the child adds peers until the total reaches the next figure of `STEPS`,
//! then:
//!
//! - `pull`: each new peer sends `MESSAGES` two-frame messages (peer number, sequence); the
//!   parent receives until it has every one, checking per-peer order;
//! - `pub`: each new peer sends SUBSCRIBE `load.`; the parent waits until every peer has
//!   subscribed, publishes `MESSAGES` messages on `load.topic` and one on `other.topic`,
//!   and the child reads the `load.` ones from every peer (none of `other.topic` may come).
//!
//! Once everything is delivered and the peers are idle, the parent reads its VmRSS and
//! thread count from `/proc/self/status` and prints a row.
//!
//! ```sh
//! cargo run --release --example load_curve -- pull
//! cargo run --release --example load_curve -- pub
//! cargo run --release --example load_curve -- pull 1000,2000   # other steps
//! ```

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const STEPS: [usize; 4] = [1_000, 2_000, 5_000, 10_000];
/// Messages each new PUSH peer sends, and messages published to all SUBs at each step.
const MESSAGES: u32 = 3;
/// Listen backlog of the bound socket (ferromq's default is 100, as libzmq's).
const BACKLOG: i32 = 1024;
/// The child connects this many peers before it reads their handshakes.
const BATCH: usize = 256;
/// Longest wait for any one thing (a handshake, a message, a step).
const WAIT: Duration = Duration::from_secs(120);
/// Pause before a measurement, so the I/O thread has settled.
const SETTLE: Duration = Duration::from_millis(500);

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [mode @ ("pull" | "pub")] => parent(mode, &STEPS),
        [mode @ ("pull" | "pub"), steps] => parse_steps(steps).and_then(|s| parent(mode, &s)),
        ["child", mode @ ("pull" | "pub"), addr, steps] => {
            parse_steps(steps).and_then(|s| child(mode, addr, &s))
        }
        _ => Err("usage: load_curve pull|pub [N1,N2,...]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load_curve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_steps(s: &str) -> Res<Vec<usize>> {
    let steps: Vec<usize> = s
        .split(',')
        .map(|n| n.trim().replace('_', "").parse())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("steps {s:?}: {e}"))?;
    if steps.is_empty() || steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("steps {s:?} must be increasing").into());
    }
    Ok(steps)
}

// ---- parent: the measured side ---------------------------------------------------------------

/// What `/proc/self/status` says about this process.
struct Status {
    rss_kib: u64,
    threads: u64,
}

fn status() -> Res<Status> {
    let text = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> Res<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/self/status").into())
    };
    Ok(Status {
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
    })
}

/// The bound socket under test.
enum Server {
    Pull(ferromq::Pull),
    Pub(ferromq::Pub),
}

impl Server {
    fn peers(&mut self) -> usize {
        match self {
            Server::Pull(s) => s.peer_count(),
            Server::Pub(s) => s.peer_count(),
        }
    }
}

/// The child process, killed if the parent returns early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn parent(mode: &str, steps: &[usize]) -> Res<()> {
    let ctx = ferromq::Context::new();
    let mut server = if mode == "pull" {
        let mut s = ctx.pull()?;
        s.set_backlog(BACKLOG);
        s.bind("tcp://127.0.0.1:*")?;
        Server::Pull(s)
    } else {
        let mut s = ctx.publisher()?;
        s.set_backlog(BACKLOG);
        s.bind("tcp://127.0.0.1:*")?;
        Server::Pub(s)
    };
    let endpoint = match &server {
        Server::Pull(s) => s.last_endpoint(),
        Server::Pub(s) => s.last_endpoint(),
    }
    .ok_or("no endpoint after bind")?
    .trim_start_matches("tcp://")
    .to_owned();
    std::thread::sleep(SETTLE);
    let base = status()?;
    println!(
        "mode {mode}: one ferromq {} bound on tcp://{endpoint}, {} I/O thread(s); \
         baseline VmRSS {} KiB, {} threads",
        if mode == "pull" { "PULL" } else { "PUB" },
        ctx.io_threads(),
        base.rss_kib,
        base.threads
    );
    println!(
        "| peers N | connect, this step (child handshakes / all attached) | cumulative connect time \
         | VmRSS KiB | delta RSS KiB | KiB per connection | messages sent | messages received | threads |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| 0 | – | – | {} | 0 | – | 0 | 0 | {} |",
        base.rss_kib, base.threads
    );

    let steps_arg: Vec<String> = steps.iter().map(usize::to_string).collect();
    let child = Command::new(std::env::current_exe()?)
        .args(["child", mode, &endpoint, &steps_arg.join(",")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the child: {e}"))?;
    let mut child = ChildGuard(child);
    let mut to_child = child.0.stdin.take().ok_or("child stdin")?;
    let mut from_child = BufReader::new(child.0.stdout.take().ok_or("child stdout")?);

    // Per-peer next sequence number (PULL), and the running totals.
    let mut next_seq: Vec<u32> = Vec::new();
    let mut sent: u64 = 0;
    let mut received: u64 = 0;
    let mut cumulative = Duration::ZERO;
    for &n in steps {
        let started = Instant::now();
        tell(&mut to_child, "next")?;
        // "connected <total> <handshake ms> <messages sent so far>"
        let line = hear(&mut from_child)?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (total, child_ms, child_sent) = match fields[..] {
            ["connected", total, ms, child_sent] => (
                total.parse::<usize>()?,
                ms.parse::<u64>()?,
                child_sent.parse::<u64>()?,
            ),
            _ => return Err(format!("unexpected line from the child: {line:?}").into()),
        };
        if total != n {
            return Err(format!("child connected {total} peers, expected {n}").into());
        }
        wait_until(|| server.peers() >= n, || format!("{n} peers attached"))?;
        let attached = started.elapsed();
        cumulative += attached;

        match &mut server {
            Server::Pull(pull) => {
                sent = child_sent;
                next_seq.resize(n, 0);
                let deadline = Instant::now() + WAIT;
                while received < sent {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let m = pull
                        .recv_timeout(left)
                        .map_err(|e| format!("{received} of {sent} messages received: {e}"))?;
                    let peer = frame_u32(&m, 0)? as usize;
                    let seq = frame_u32(&m, 1)?;
                    let expected = next_seq
                        .get_mut(peer)
                        .ok_or_else(|| format!("message from unknown peer {peer}"))?;
                    if seq != *expected {
                        return Err(
                            format!("peer {peer}: message {seq}, expected {expected}").into()
                        );
                    }
                    *expected += 1;
                    received += 1;
                }
                if let Ok(m) = pull.try_recv() {
                    return Err(format!("an extra message: {m:?}").into());
                }
            }
            Server::Pub(publisher) => {
                publisher
                    .wait_for_subscribers(n, WAIT)
                    .map_err(|e| format!("waiting for {n} subscribers: {e}"))?;
                for i in 0..MESSAGES {
                    let queued = publisher
                        .send(["load.topic".as_bytes().to_vec(), i.to_be_bytes().to_vec()])
                        .map_err(|e| format!("publish: {}", e.error()))?;
                    sent += queued as u64;
                }
                let queued = publisher
                    .send("other.topic")
                    .map_err(|e| format!("publish: {}", e.error()))?;
                if queued != 0 {
                    return Err(format!("other.topic went to {queued} peers").into());
                }
                tell(&mut to_child, &format!("read {MESSAGES}"))?;
                let line = hear(&mut from_child)?;
                received = match line.split_whitespace().collect::<Vec<_>>()[..] {
                    ["received", total] => total.parse()?,
                    _ => return Err(format!("unexpected line from the child: {line:?}").into()),
                };
                if publisher.dropped() != 0 {
                    return Err(format!("{} messages dropped", publisher.dropped()).into());
                }
            }
        }
        if received != sent {
            return Err(format!("{sent} messages sent, {received} received").into());
        }
        std::thread::sleep(SETTLE);
        let now = status()?;
        let delta = now.rss_kib.saturating_sub(base.rss_kib);
        println!(
            "| {n} | {:.2} s / {:.2} s | {:.2} s | {} | {delta} | {:.1} | {sent} | {received} | {} |",
            child_ms as f64 / 1000.0,
            attached.as_secs_f64(),
            cumulative.as_secs_f64(),
            now.rss_kib,
            delta as f64 / n as f64,
            now.threads
        );
        if now.threads != base.threads {
            println!(
                "note: thread count changed from {} to {}",
                base.threads, now.threads
            );
        }
    }
    tell(&mut to_child, "quit")?;
    drop(to_child);
    let code = child.0.wait()?;
    if !code.success() {
        return Err(format!("child exited with {code}").into());
    }
    Ok(())
}

fn frame_u32(m: &ferromq::Message, i: usize) -> Res<u32> {
    let frame = m
        .frames()
        .get(i)
        .ok_or_else(|| format!("message without frame {i}"))?;
    let bytes: [u8; 4] = frame[..]
        .try_into()
        .map_err(|_| format!("frame {i} is {} bytes, expected 4", frame.len()))?;
    Ok(u32::from_be_bytes(bytes))
}

fn wait_until(mut done: impl FnMut() -> bool, what: impl Fn() -> String) -> Res<()> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {}", what()).into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn tell(to: &mut ChildStdin, line: &str) -> Res<()> {
    writeln!(to, "{line}").map_err(|e| format!("write to the child: {e}"))?;
    Ok(to.flush()?)
}

fn hear(from: &mut BufReader<ChildStdout>) -> Res<String> {
    let mut line = String::new();
    if from.read_line(&mut line)? == 0 {
        return Err("the child exited early (see its error above)".into());
    }
    Ok(line.trim().to_owned())
}

// ---- child: the peers ------------------------------------------------------------------------

fn child(mode: &str, addr: &str, steps: &[usize]) -> Res<()> {
    let socket_type: &[u8] = if mode == "pull" { b"PUSH" } else { b"SUB" };
    let mut hello = greeting().to_vec();
    hello.extend_from_slice(&ready(socket_type));
    if mode == "pub" {
        hello.extend_from_slice(&command(b"SUBSCRIBE", b"load."));
    }
    let stdin = std::io::stdin();
    let mut commands = stdin.lock().lines();
    let mut next_command = || -> Res<String> {
        match commands.next() {
            Some(line) => Ok(line?),
            None => Err("the parent went away".into()),
        }
    };
    let mut out = std::io::stdout().lock();
    let mut peers: Vec<TcpStream> = Vec::new();
    let mut sent: u64 = 0;
    let mut total_received: u64 = 0;
    for &n in steps {
        if next_command()? != "next" {
            return Err("expected `next` from the parent".into());
        }
        let started = Instant::now();
        while peers.len() < n {
            let first = peers.len();
            let batch = BATCH.min(n - first);
            for _ in 0..batch {
                let mut s = TcpStream::connect(addr)
                    .map_err(|e| format!("connect peer {}: {e}", peers.len()))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(WAIT))?;
                s.write_all(&hello)?;
                peers.push(s);
            }
            for (i, s) in peers[first..].iter_mut().enumerate() {
                read_handshake(s).map_err(|e| format!("handshake of peer {}: {e}", first + i))?;
            }
        }
        let handshakes = started.elapsed();
        if mode == "pull" {
            // The peers of this step: those that have not sent yet.
            let already = (sent / u64::from(MESSAGES)) as usize;
            for (peer, s) in peers.iter_mut().enumerate().skip(already) {
                let mut bytes = Vec::new();
                for seq in 0..MESSAGES {
                    bytes.extend_from_slice(&[0x01, 4]);
                    bytes.extend_from_slice(&(peer as u32).to_be_bytes());
                    bytes.extend_from_slice(&[0x00, 4]);
                    bytes.extend_from_slice(&seq.to_be_bytes());
                }
                s.write_all(&bytes)?;
                sent += u64::from(MESSAGES);
            }
        }
        writeln!(
            out,
            "connected {} {} {sent}",
            peers.len(),
            handshakes.as_millis()
        )?;
        out.flush()?;
        if mode == "pub" {
            let line = next_command()?;
            let k: u32 = match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["read", k] => k.parse()?,
                _ => return Err(format!("unexpected command {line:?}").into()),
            };
            let mut received: u64 = 0;
            for (peer, s) in peers.iter_mut().enumerate() {
                for i in 0..k {
                    let m = read_message(s).map_err(|e| format!("peer {peer}: {e}"))?;
                    let expected = ["load.topic".as_bytes().to_vec(), i.to_be_bytes().to_vec()];
                    if m[..] != expected[..] {
                        return Err(format!("peer {peer}: unexpected message {m:?}").into());
                    }
                    received += 1;
                }
            }
            total_received += received;
            writeln!(out, "received {total_received}")?;
            out.flush()?;
        }
    }
    let last = next_command()?;
    if last != "quit" {
        return Err(format!("unexpected command {last:?}").into());
    }
    Ok(())
}

/// A ZMTP 3.1 NULL greeting as a client sends it.
fn greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[8] = 0x01;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

fn ready(socket_type: &[u8]) -> Vec<u8> {
    let mut data = vec![11];
    data.extend_from_slice(b"Socket-Type");
    data.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    data.extend_from_slice(socket_type);
    command(b"READY", &data)
}

/// A short command frame.
fn command(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut c = vec![0x04, (1 + name.len() + data.len()) as u8, name.len() as u8];
    c.extend_from_slice(name);
    c.extend_from_slice(data);
    c
}

/// Reads the server's greeting and READY.
fn read_handshake(s: &mut TcpStream) -> Res<()> {
    let mut greeting = [0u8; 64];
    s.read_exact(&mut greeting)?;
    if greeting[0] != 0xff || greeting[9] != 0x7f || greeting[10] < 3 {
        return Err("not a ZMTP 3 greeting".into());
    }
    let (flags, body) = read_frame(s)?;
    if flags & 0x04 == 0 || !body.starts_with(b"\x05READY") {
        return Err("no READY after the greeting".into());
    }
    Ok(())
}

/// One frame: flags and body.
fn read_frame(s: &mut TcpStream) -> Res<(u8, Vec<u8>)> {
    let mut flags = [0u8; 1];
    s.read_exact(&mut flags)?;
    let size = if flags[0] & 0x02 != 0 {
        let mut size = [0u8; 8];
        s.read_exact(&mut size)?;
        u64::from_be_bytes(size)
    } else {
        let mut size = [0u8; 1];
        s.read_exact(&mut size)?;
        u64::from(size[0])
    };
    if size > 1 << 20 {
        return Err(format!("frame of {size} bytes").into());
    }
    let mut body = vec![0u8; size as usize];
    s.read_exact(&mut body)?;
    Ok((flags[0], body))
}

/// One message, skipping commands (a PUB sends none here, but they would be legal).
fn read_message(s: &mut TcpStream) -> Res<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    loop {
        let (flags, body) = read_frame(s)?;
        if flags & 0x04 != 0 {
            continue;
        }
        frames.push(body);
        if flags & 0x01 == 0 {
            return Ok(frames);
        }
    }
}
