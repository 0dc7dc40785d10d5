//! A listener that runs out of file descriptors takes the connections left waiting in its
//! backlog once descriptors are available again, without needing a new connection to
//! arrive (its readiness is edge-triggered, so nothing else would announce them).
//!
//! This lowers the test process's descriptor limit, so it lives alone in its own test
//! binary. A helper process (this binary again, in the child role) makes the connections
//! and changes the limit with util-linux's `prlimit` (no `unsafe` here): once the limit
//! bites, this process cannot start a program itself.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ferromq::{Context, MonitorEvent};

const CLIENTS: usize = 20;
const ROLE: &str = "FERROMQ_FD_CHILD";

/// The child: reads commands from stdin, answers "done" after each.
/// `connect ADDR` opens CLIENTS connections; `nofile PID SOFT` sets PID's soft limit.
fn child() {
    let mut clients = Vec::new();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["connect", addr] => {
                for _ in 0..CLIENTS {
                    clients.push(TcpStream::connect(addr).unwrap());
                }
            }
            ["nofile", pid, soft] => {
                let status = Command::new("prlimit")
                    .args(["--pid", pid, &format!("--nofile={soft}:")])
                    .status()
                    .expect("prlimit (util-linux) must be installed");
                assert!(status.success());
            }
            _ => panic!("unknown command {line:?}"),
        }
        println!("done");
    }
}

/// The helper process; killed if the test fails.
struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn start() -> Helper {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, "1")
            .args(["--exact", "child_role", "--nocapture"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Helper {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends a command and waits for the child to carry it out.
    fn ask(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "helper died");
            if line.trim_end() == "done" {
                return;
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's descriptors as numbers, without the one used to list them.
fn descriptors() -> Vec<u32> {
    let entries: Vec<_> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries
        .iter()
        .filter(|p| std::fs::read_link(p).is_ok_and(|target| !target.ends_with("fd")))
        .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
        .collect()
}

fn soft_nofile() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().to_owned()
}

#[test]
fn child_role() {
    // Only does something when started by the test below.
    if std::env::var_os(ROLE).is_some() {
        child();
    }
}

#[test]
fn connections_waiting_while_out_of_descriptors_are_accepted_later() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    let monitor = pull.monitor();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull
        .last_endpoint()
        .unwrap()
        .trim_start_matches("tcp://")
        .to_owned();
    let mut seen = 0;
    let mut count_accepted = |until: Instant| {
        while seen < CLIENTS {
            let left = until.saturating_duration_since(Instant::now());
            match monitor.recv_timeout(left) {
                Ok(MonitorEvent::Accepted { .. }) => seen += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        seen
    };

    let mut helper = Helper::start();
    let original = soft_nofile();
    let pid = std::process::id();
    // The limit caps descriptor *numbers*: choose it so that only a few numbers below it
    // are free (descriptors above it stay open, but no new one can get a number there).
    let used = descriptors();
    let mut limit = 0u32;
    let mut free = 0;
    while free < 3 {
        if !used.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    helper.ask(&format!("nofile {pid} {limit}"));

    // The kernel completes every handshake into the backlog, but the listener can only
    // accept into the few holes before it is out of descriptors.
    helper.ask(&format!("connect {addr}"));
    let before = count_accepted(Instant::now() + Duration::from_millis(500));
    assert!(
        before < CLIENTS,
        "all {before} were accepted: the limit did not bite, the test proves nothing"
    );

    // Room again, and no new connection arrives: the waiting ones must still come in.
    helper.ask(&format!("nofile {pid} {original}"));
    let after = count_accepted(Instant::now() + Duration::from_secs(10));
    assert_eq!(
        after, CLIENTS,
        "{before} accepted while out of descriptors, then only {after}: connections were \
         left in the backlog"
    );
}
