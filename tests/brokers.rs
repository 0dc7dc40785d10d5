//! The guide's broker examples (and its last value cache, and the STREAM HTTP server of
//! libzmq's documentation), run as real processes against
//! libzmq clients and workers (and the guide's ferromq client and worker examples against
//! a libzmq broker).
//!
//! `cargo test` builds the examples before running the tests; when they are missing (a
//! run of this file alone), they are built into a target directory of their own.

mod util;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// The path of an example binary, building it if needed.
fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/brokers-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let built = profile_dir.join("examples").join(name);
    if built.exists() {
        return built;
    }
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let target = profile_dir.join("broker-examples");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "--manifest-path",
            manifest,
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "building example {name} failed");
    target.join("debug").join("examples").join(name)
}

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Proc {
    fn start(name: &str, args: &[&str]) -> Proc {
        Proc::start_in(name, args, None)
    }

    fn start_in(name: &str, args: &[&str], dir: Option<&std::path::Path>) -> Proc {
        let mut cmd = Command::new(example(name));
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        Proc(cmd.spawn().unwrap())
    }

    /// Waits for the process to end by itself within `WAIT`; returns its stdout lines.
    fn finish(mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "example exited with {status}");
                let out = self.0.stdout.take().unwrap();
                return BufReader::new(out).lines().map(Result::unwrap).collect();
            }
            assert!(Instant::now() < deadline, "example did not finish in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads stdout until a line equal to `line` (the process says it is ready).
    fn wait_for_line(&mut self, line: &str) {
        let out = self.0.stdout.as_mut().unwrap();
        let mut reader = BufReader::new(out);
        let mut buf = String::new();
        // The examples print the line at once; a dead child ends the read with 0 bytes.
        while reader.read_line(&mut buf).unwrap() > 0 {
            if buf.trim_end() == line {
                return;
            }
            buf.clear();
        }
        panic!("the example ended before printing {line:?}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback tcp endpoint (the port is released just before the example binds it).
fn free_tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// libzmq REP workers and REQ clients through a ferromq broker at `front`/`back`; every
/// request must come back answered by some worker.
fn libzmq_clients_and_workers(front: &str, back: &str) {
    let zctx = zmq::Context::new();
    std::thread::scope(|s| {
        for w in 0..2 {
            let worker = util::zmq_socket(&zctx, zmq::REP);
            worker.set_rcvtimeo(1000).unwrap();
            worker.connect(back).unwrap();
            s.spawn(move || {
                while let Ok(request) = worker.recv_bytes(0) {
                    let mut reply = request;
                    reply.extend_from_slice(format!(" -> worker {w}").as_bytes());
                    worker.send(reply, 0).unwrap();
                }
            });
        }
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let client = util::zmq_socket(&zctx, zmq::REQ);
                client.connect(front).unwrap();
                s.spawn(move || {
                    for i in 0..20 {
                        let body = format!("client {c} #{i}");
                        client.send(body.as_bytes(), 0).unwrap();
                        let reply = client.recv_string(0).unwrap().unwrap();
                        assert!(reply.starts_with(&format!("{body} -> worker ")), "{reply}");
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    });
}

#[test]
fn rrbroker_relays_libzmq_clients_to_libzmq_workers() {
    let front = util::ipc_endpoint("rrbroker-front");
    let back = free_tcp_endpoint();
    let _broker = Proc::start("rrbroker", &[&front, &back]);
    libzmq_clients_and_workers(&front, &back);
}

#[test]
fn msgqueue_relays_libzmq_clients_to_libzmq_workers() {
    let front = free_tcp_endpoint();
    let back = util::ipc_endpoint("msgqueue-back");
    let _broker = Proc::start("msgqueue", &[&front, &back]);
    libzmq_clients_and_workers(&front, &back);
}

#[test]
fn rrclient_and_rrworker_work_through_a_libzmq_broker() {
    let front = util::ipc_endpoint("zbroker-front");
    let back = util::ipc_endpoint("zbroker-back");
    // The broker is libzmq's own proxy, in a thread that lives as long as the test
    // process (zmq_proxy has no stop without a control socket).
    let zctx = zmq::Context::new();
    let frontend = zctx.socket(zmq::ROUTER).unwrap();
    frontend.bind(&front).unwrap();
    let backend = zctx.socket(zmq::DEALER).unwrap();
    backend.bind(&back).unwrap();
    std::thread::spawn(move || {
        let _ = zmq::proxy(&frontend, &backend);
    });
    let _worker = Proc::start("rrworker", &[&back, "0"]);
    let lines = Proc::start("rrclient", &[&front, "5"]).finish();
    let expected: Vec<String> = (0..5)
        .map(|i| format!("Received reply {i} [World]"))
        .collect();
    assert_eq!(lines, expected);
}

#[test]
fn lbbroker_balances_libzmq_clients_over_libzmq_workers() {
    const CLIENTS: usize = 10;
    let front = util::ipc_endpoint("lb-front");
    let back = util::ipc_endpoint("lb-back");
    let clients_arg = CLIENTS.to_string();
    let mut broker = Proc::start("lbbroker", &["--broker-only", &front, &back, &clients_arg]);
    broker.wait_for_line("broker ready");
    let zctx = zmq::Context::new();
    let served = std::thread::scope(|s| {
        // The guide's workers: REQ, "READY" first, then [client, "", request] each time.
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let worker = util::zmq_socket(&zctx, zmq::REQ);
                worker.set_rcvtimeo(1500).unwrap();
                worker
                    .set_identity(format!("worker-{w}").as_bytes())
                    .unwrap();
                worker.connect(&back).unwrap();
                s.spawn(move || {
                    worker.send("READY", 0).unwrap();
                    let mut served = 0;
                    while let Ok(parts) = worker.recv_multipart(0) {
                        assert_eq!(parts.len(), 3, "{parts:?}");
                        assert!(parts[1].is_empty());
                        assert_eq!(parts[2], b"HELLO");
                        let reply = [parts[0].clone(), Vec::new(), b"OK".to_vec()];
                        worker.send_multipart(reply, 0).unwrap();
                        served += 1;
                    }
                    served
                })
            })
            .collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let client = util::zmq_socket(&zctx, zmq::REQ);
                client
                    .set_identity(format!("client-{c}").as_bytes())
                    .unwrap();
                client.connect(&front).unwrap();
                s.spawn(move || {
                    client.send("HELLO", 0).unwrap();
                    assert_eq!(client.recv_string(0).unwrap().unwrap(), "OK");
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<usize>>()
    });
    assert_eq!(served.iter().sum::<usize>(), CLIENTS, "{served:?}");
    // The broker relays exactly CLIENTS replies, then ends by itself.
    broker.finish();
}

#[test]
fn lbbroker_demo_runs_the_guides_clients_and_workers_to_completion() {
    let dir = std::env::temp_dir().join(util::unique("lbbroker-demo"));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = Proc::start_in("lbbroker", &[], Some(&dir)).finish();
    let clients = lines.iter().filter(|l| l.starts_with("Client ")).count();
    let work = lines.iter().filter(|l| l.starts_with("Worker ")).count();
    assert_eq!((clients, work), (10, 10), "{lines:?}");
    assert!(lines
        .iter()
        .filter(|l| l.starts_with("Client "))
        .all(|l| l.ends_with(": OK")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lvcache_answers_late_libzmq_subscribers_from_its_cache_and_ends_after_its_count() {
    let front = free_tcp_endpoint();
    let back = util::ipc_endpoint("lvcache-back");
    let mut cache = Proc::start("lvcache", &[&front, &back, "50"]);
    cache.wait_for_line("ready");
    let zctx = zmq::Context::new();
    let publisher = util::zmq_socket(&zctx, zmq::PUB);
    publisher.connect(&front).unwrap();
    // A first subscriber sees live updates: the whole path is up.
    let early = util::zmq_socket(&zctx, zmq::SUB);
    early.set_rcvtimeo(50).unwrap();
    early.set_subscribe(b"A").unwrap();
    early.set_subscribe(b"B").unwrap();
    early.connect(&back).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.send_multipart(["A", "live"], 0).unwrap();
        if early.recv_multipart(0).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "updates never reached the subscriber"
        );
    }
    // One value on B, published before anyone subscribes to B.
    publisher.send_multipart(["B", "cached"], 0).unwrap();
    let expect = vec![b"B".to_vec(), b"cached".to_vec()];
    // Once `early` has it, the cache has it: what the late ones get comes from the cache.
    loop {
        if early.recv_multipart(0).is_ok_and(|m| m == expect) {
            break;
        }
        assert!(Instant::now() < deadline, "B never came through");
    }
    // Two late subscribers to B, one after the other: each gets the cached value at once
    // (a plain XPUB would pass up only the first subscription to B).
    for _ in 0..2 {
        let late = util::zmq_socket(&zctx, zmq::SUB);
        late.set_subscribe(b"B").unwrap();
        late.connect(&back).unwrap();
        assert_eq!(late.recv_multipart(0).unwrap(), expect);
    }
    // More updates until the cache has forwarded its 50 and ends by itself.
    while cache.0.try_wait().unwrap().is_none() {
        publisher.send_multipart(["C", "more"], 0).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(Instant::now() < deadline + WAIT, "lvcache never ended");
    }
    let lines = cache.finish();
    let cached = lines
        .iter()
        .filter(|l| *l == "Sending cached topic B")
        .count();
    // `early`'s subscription to B, then the two late ones.
    assert_eq!(cached, 3, "{lines:?}");
}

#[test]
fn stream_http_answers_plain_tcp_clients_and_closes_each_connection() {
    use std::io::{Read, Write};
    let mut server = Proc::start("stream_http", &["tcp://127.0.0.1:0"]);
    let line = {
        let out = server.0.stdout.as_mut().unwrap();
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        line
    };
    let endpoint = line
        .trim_end()
        .strip_prefix("serving on tcp://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    // Two clients one after the other: the server answers each and closes its connection,
    // which is what ends each read here.
    for _ in 0..2 {
        let mut client = std::net::TcpStream::connect(&endpoint).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        client
            .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.0 200 OK\r\n"), "{response:?}");
        assert!(response.ends_with("\r\n\r\nHello, World!"), "{response:?}");
    }
}

#[test]
fn curve_hwserver_answers_its_one_client_key_and_refuses_others() {
    let dir = std::env::temp_dir().join(util::unique("curve-hw"));
    std::fs::create_dir_all(&dir).unwrap();
    let (server_pub, server_secret) = ferromq::auth::create_certificates(&dir, "server").unwrap();
    let (client_pub, client_secret) = ferromq::auth::create_certificates(&dir, "client").unwrap();
    let ep = free_tcp_endpoint();
    let (server_pub, server_secret) = (
        server_pub.to_str().unwrap(),
        server_secret.to_str().unwrap(),
    );
    let (client_pub, client_secret) = (
        client_pub.to_str().unwrap(),
        client_secret.to_str().unwrap(),
    );
    let mut server = Proc::start("curve_hwserver", &[server_secret, client_pub, &ep, "3"]);
    server.wait_for_line(&format!("listening on {ep}"));

    // A client with another key knows the server's public key but is not on the list.
    let ctx = ferromq::Context::new();
    let mut stranger = ctx.req().unwrap();
    let (server_key, _) = ferromq::auth::load_certificate(server_pub).unwrap();
    stranger.set_curve_client(&server_key, &ferromq::CurveKeyPair::generate().unwrap());
    let monitor = stranger.monitor();
    stranger.connect(&ep).unwrap();
    let refused = util::eventually(WAIT, || {
        matches!(
            monitor.try_recv(),
            Ok(ferromq::MonitorEvent::HandshakeFailedAuth {
                status_code: 400,
                ..
            })
        )
    });
    assert!(refused, "the authenticator refuses a key it does not list");
    drop(stranger);

    // The listed client, with the keys in certificate files as curve_keygen writes them.
    let client = Proc::start("curve_hwclient", &[client_secret, server_pub, &ep, "3"]);
    let lines = client.finish();
    let answers = lines
        .iter()
        .filter(|l| l.starts_with("Received World"))
        .count();
    assert_eq!(answers, 3, "{lines:?}");
    let lines = server.finish();
    let hellos = lines
        .iter()
        .filter(|l| l.starts_with("Received Hello"))
        .count();
    assert_eq!(hellos, 3, "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
