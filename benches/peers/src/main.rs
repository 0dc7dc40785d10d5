//! ferromq beside libzmq, zmq.rs, rzmq and omq-tokio: the same scenarios, interleaved in
//! one run, each cell (library × scenario × size) in a child process of its own.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- [--quick] [--rounds N] [--only W] [--out FILE]
//! ```
//!
//! See README.md beside this crate's Cargo.toml for the scenarios and the caveats.

mod cell;
mod common;
mod libs;
mod report;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Measure, Step, Transport};

/// The libraries (and ferromq's two faces), in the tables' column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lib {
    Ferromq,
    /// ferromq's blocking calls with the spin before a wait turned off (`spin(false)`).
    FerromqNospin,
    FerromqAsync,
    Libzmq,
    ZmqRs,
    Rzmq,
    Omq,
}

/// The columns a run has unless `--libs` says otherwise.
pub const LIBS: [Lib; 6] = [
    Lib::Ferromq,
    Lib::FerromqAsync,
    Lib::Libzmq,
    Lib::ZmqRs,
    Lib::Rzmq,
    Lib::Omq,
];

/// Every column `--libs` can name: the default ones and `ferromq-nospin`.
pub const ALL_LIBS: [Lib; 7] = [
    Lib::Ferromq,
    Lib::FerromqNospin,
    Lib::FerromqAsync,
    Lib::Libzmq,
    Lib::ZmqRs,
    Lib::Rzmq,
    Lib::Omq,
];

impl Lib {
    pub fn name(self) -> &'static str {
        match self {
            Lib::Ferromq => "ferromq",
            Lib::FerromqNospin => "ferromq-nospin",
            Lib::FerromqAsync => "ferromq-async",
            Lib::Libzmq => "libzmq",
            Lib::ZmqRs => "zmq.rs",
            Lib::Rzmq => "rzmq",
            Lib::Omq => "omq-tokio",
        }
    }

    fn parse(s: &str) -> Option<Lib> {
        ALL_LIBS.into_iter().find(|lib| lib.name() == s)
    }

    /// Why this library cannot run a case at all, if it cannot.
    fn lacks(self, case: Case) -> Option<&'static str> {
        match (self, case) {
            (Lib::ZmqRs, Case::PushPull(Transport::Inproc, _)) => Some("n/a (no inproc)"),
            _ => None,
        }
    }
}

/// A scenario at one transport and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    PushPull(Transport, usize),
    ReqRep(Transport),
    PubSub,
}

impl Case {
    /// The id on the child's command line and in `--only`.
    pub fn id(self) -> String {
        match self {
            Case::PushPull(t, size) => format!("push_pull/{}/{size}", t.name()),
            Case::ReqRep(t) => format!("req_rep/{}", t.name()),
            Case::PubSub => "pub_sub/tcp".to_owned(),
        }
    }

    fn parse(id: &str) -> Option<Case> {
        let parts: Vec<&str> = id.split('/').collect();
        match parts.as_slice() {
            ["push_pull", t, size] => {
                Some(Case::PushPull(Transport::parse(t)?, size.parse().ok()?))
            }
            ["req_rep", t] => Some(Case::ReqRep(Transport::parse(t)?)),
            ["pub_sub", "tcp"] => Some(Case::PubSub),
            _ => None,
        }
    }
}

/// Every case, in the order of the tables.
pub fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for t in [Transport::Tcp, Transport::Ipc] {
        for size in [16, 256, 4096, 65536] {
            cases.push(Case::PushPull(t, size));
        }
    }
    for size in [16, 4096] {
        cases.push(Case::PushPull(Transport::Inproc, size));
    }
    cases.push(Case::ReqRep(Transport::Tcp));
    cases.push(Case::ReqRep(Transport::Ipc));
    cases.push(Case::PubSub);
    cases
}

/// What one cell of one round gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done(Measure),
    Failed(String),
    Lacks(&'static str),
}

/// Outcomes by case, library, then round.
pub type Results = HashMap<(Case, Lib), Vec<Outcome>>;

struct Options {
    rounds: usize,
    dur: Duration,
    only: Option<String>,
    libs: Vec<Lib>,
    out: Option<String>,
}

const USAGE: &str =
    "usage: ferromq-peers [--quick] [--rounds N] [--secs S] [--only W] [--libs a,b] [--out FILE]
  --quick      one round of 0.3 s cells (a smoke run, under a minute)
  --rounds N   rounds, each running every library once per case (default 3)
  --secs S     seconds each cell measures for (default 1.0)
  --only W     only the cases whose id contains W (ids: push_pull/tcp/16, req_rep/ipc, pub_sub/tcp)
  --libs a,b   only these columns, in this order (ferromq, ferromq-async, libzmq, zmq.rs, rzmq,
               omq-tokio; and ferromq-nospin, ferromq with the spin off, not run by default)
  --out FILE   also write the markdown tables to FILE";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rounds: 3,
        dur: Duration::from_secs(1),
        only: None,
        libs: LIBS.to_vec(),
        out: None,
    };
    let mut quick = false;
    let mut rounds = None;
    let mut secs = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--rounds" => rounds = Some(value()?.parse::<usize>().step("--rounds")?),
            "--secs" => secs = Some(value()?.parse::<f64>().step("--secs")?),
            "--only" => options.only = Some(value()?),
            "--libs" => {
                options.libs = value()?
                    .split(',')
                    .map(|s| Lib::parse(s).ok_or(format!("unknown library {s}")))
                    .collect::<Result<_, _>>()?
            }
            "--out" => options.out = Some(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if quick {
        options.rounds = 1;
        options.dur = Duration::from_millis(300);
    }
    if let Some(r) = rounds {
        options.rounds = r.max(1);
    }
    if let Some(s) = secs {
        if !(s > 0.0 && s < 600.0) {
            return Err("--secs must be between 0 and 600".into());
        }
        options.dur = Duration::from_secs_f64(s);
    }
    Ok(options)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("__cell") => child_cell(&args[1..]),
        Some("__rep") => child_rep(&args[1..]),
        _ => match parse_options(&args) {
            Ok(options) => orchestrate(&options),
            Err(message) => {
                eprintln!("{message}");
                std::process::exit(2);
            }
        },
    }
}

/// `__cell <lib> <case id> <seconds>`
fn child_cell(args: &[String]) {
    let parsed = (|| {
        let lib = Lib::parse(args.first()?)?;
        let case = Case::parse(args.get(1)?)?;
        let secs: f64 = args.get(2)?.parse().ok()?;
        Some((lib, case, Duration::from_secs_f64(secs)))
    })();
    let Some((lib, case, dur)) = parsed else {
        eprintln!("bad cell arguments {args:?}");
        std::process::exit(2);
    };
    common::exit_with(cell::run(lib, case, dur));
}

/// `__rep <lib> <endpoint>`
fn child_rep(args: &[String]) {
    let (Some(lib), Some(ep)) = (args.first().and_then(|s| Lib::parse(s)), args.get(1)) else {
        eprintln!("bad REP arguments {args:?}");
        std::process::exit(2);
    };
    if let Err(e) = cell::rep(lib, ep) {
        eprintln!("REP: {e}");
        std::process::exit(1);
    }
}

fn orchestrate(options: &Options) {
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|case| {
            options
                .only
                .as_ref()
                .is_none_or(|w| case.id().contains(w.as_str()))
        })
        .collect();
    if cases.is_empty() {
        eprintln!("--only matches no case");
        std::process::exit(2);
    }
    let load_before = load_average();
    let started = Instant::now();
    let mut results: Results = HashMap::new();
    for round in 0..options.rounds {
        for &case in &cases {
            // Rotate the order each round, so no library always runs first or last.
            let n = options.libs.len();
            for k in 0..n {
                let lib = options.libs[(k + round) % n];
                let outcome = match lib.lacks(case) {
                    Some(why) => Outcome::Lacks(why),
                    None => run_cell(lib, case, options.dur),
                };
                eprintln!(
                    "round {}/{} {:<18} {:<14} {}",
                    round + 1,
                    options.rounds,
                    case.id(),
                    lib.name(),
                    report::describe(case, &outcome)
                );
                results.entry((case, lib)).or_default().push(outcome);
            }
        }
    }
    let load_after = load_average();
    let header = format!(
        "{} round(s) of {:.1} s cells, {:.0} s in all; load average before {}, after {}\n",
        options.rounds,
        options.dur.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        load_before,
        load_after
    );
    let tables = report::tables(&cases, &options.libs, &results, options.rounds);
    let text = format!("{header}\n{tables}");
    println!("{text}");
    if let Some(path) = &options.out {
        let raw = report::raw(&cases, &options.libs, &results);
        if let Err(e) = std::fs::write(path, format!("{text}\n{raw}")) {
            eprintln!("could not write {path}: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs one cell in a child process, killed if it outlives its time.
fn run_cell(lib: Lib, case: Case, dur: Duration) -> Outcome {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Outcome::Failed(format!("own path: {e}")),
    };
    let spawned = Command::new(exe)
        .args([
            "__cell",
            lib.name(),
            &case.id(),
            &dur.as_secs_f64().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("spawn: {e}")),
    };
    let pid = child.id();
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let limit = dur + Duration::from_secs(20);
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Outcome::Failed(format!("wait: {e}")),
        }
    };
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("ferromq-peers-{pid}.sock")));
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        return Outcome::Failed(format!("timed out after {} s", limit.as_secs()));
    };
    if let Some(m) = out.lines().find_map(parse_result) {
        return Outcome::Done(m);
    }
    let reason = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().chars().take(120).collect::<String>())
        .unwrap_or_else(|| format!("exit status {status}"));
    Outcome::Failed(reason)
}

fn parse_result(line: &str) -> Option<Measure> {
    let mut words = line.strip_prefix("RESULT ")?.split_whitespace();
    let count = words.next()?.parse().ok()?;
    let secs = words.next()?.parse().ok()?;
    let cpu = words.next()?.parse().ok()?;
    Some(Measure { count, secs, cpu })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
