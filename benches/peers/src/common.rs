//! What every library's cell shares: the measurement, CPU clocks, endpoints, the tokio
//! runtime, and the fan-out's acknowledgement protocol.

use std::fmt::Display;
use std::sync::mpsc;
use std::time::Duration;

/// One cell's result: `count` messages (or round trips) in `secs` of wall time, costing
/// `cpu` seconds of user + system time over every thread of the measured process(es).
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub count: u64,
    pub secs: f64,
    pub cpu: f64,
}

impl Measure {
    /// The line the parent process parses.
    pub fn report(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "RESULT {} {} {}", self.count, self.secs, self.cpu);
        let _ = out.flush();
    }
}

/// `?` for any library's error: names the step that failed.
pub trait Step<T> {
    fn step(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Step<T> for Result<T, E> {
    fn step(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// User + system CPU seconds of this whole process, all threads so far.
pub fn cpu_self() -> f64 {
    // SAFETY: getrusage only writes the struct it is given; a zeroed rusage is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a rusage owned by this frame.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The process on the other side of a two-process round trip, whose CPU counts too.
pub static PEER: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// CPU seconds of this process, plus its peer's (`PEER`) when it has one.
pub fn measured_cpu() -> f64 {
    let peer = PEER.get().map_or(Some(0.0), |&pid| cpu_of(pid));
    cpu_self() + peer.unwrap_or(f64::NAN)
}

/// User + system CPU seconds of another process (all its threads), from
/// `/proc/<pid>/stat`, in clock ticks of 10 ms.
pub fn cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the whole line are 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The transports of the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Ipc,
    Inproc,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }

    pub fn parse(s: &str) -> Option<Transport> {
        match s {
            "tcp" => Some(Transport::Tcp),
            "ipc" => Some(Transport::Ipc),
            "inproc" => Some(Transport::Inproc),
            _ => None,
        }
    }
}

/// A fresh endpoint for one cell. For tcp a free loopback port is found by binding port
/// 0 and letting it go (every library then binds that explicit port, so none needs
/// wildcard support); for ipc a socket path in the temporary directory, unique to
/// this process.
pub fn endpoint(transport: Transport) -> Result<String, String> {
    match transport {
        Transport::Tcp => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").step("free port")?;
            let port = listener.local_addr().step("free port")?.port();
            Ok(format!("tcp://127.0.0.1:{port}"))
        }
        Transport::Ipc => {
            let path =
                std::env::temp_dir().join(format!("ferromq-peers-{}.sock", std::process::id()));
            let _ = std::fs::remove_file(&path);
            Ok(format!("ipc://{}", path.display()))
        }
        Transport::Inproc => Ok(format!("inproc://peers-{}", std::process::id())),
    }
}

/// The runtime of the async libraries: tokio, two worker threads (the machine's cores).
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .step("tokio runtime")
}

/// High-water mark of every socket, in messages (libzmq's default).
pub const HWM: i32 = 1000;

/// Messages received before the clock starts (connections made, buffers grown).
pub fn warm_up_count(size: usize) -> u64 {
    if size >= 65536 {
        500
    } else {
        5000
    }
}

/// Round trips made before the clock starts.
pub const WARM_UP_ROUND_TRIPS: u64 = 500;

/// Runs `$body` (an expression, which may `.await`, of type `Result<_, String>`) `$warm`
/// times untimed, then again and again until `$dur` has passed, looking at the clock
/// every `$every` runs. Gives the `Measure` of the timed part, the CPU being this
/// process's over that part.
#[macro_export]
macro_rules! timed {
    ($warm:expr, $every:expr, $dur:expr, $body:expr) => {{
        let outcome: Result<$crate::common::Measure, String> = 'run: {
            for _ in 0..$warm {
                if let Err(e) = $body {
                    break 'run Err(e);
                }
            }
            let dur: std::time::Duration = $dur;
            let every: u64 = $every;
            let cpu0 = $crate::common::measured_cpu();
            let t0 = std::time::Instant::now();
            let mut count = 0u64;
            loop {
                for _ in 0..every {
                    if let Err(e) = $body {
                        break 'run Err(e);
                    }
                }
                count += every;
                if t0.elapsed() >= dur {
                    break;
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            Ok($crate::common::Measure {
                count,
                secs,
                cpu: $crate::common::measured_cpu() - cpu0,
            })
        };
        outcome
    }};
}

/// Runs the fan-out's publisher: warm-up messages until all subscribers have joined
/// (`$joined` gives how many joined since it was last asked, without waiting), untimed
/// windows, then windows until `$dur` has passed. `|$b| $send` sends one message whose
/// first byte is `$b`; `$ack` waits for one subscriber's acknowledgement (with
/// `ACK_TIMEOUT`); `$nap` sleeps a millisecond. All may `.await`, and each is a
/// `Result<_, String>` except `$joined` (a `usize`) and `$nap`.
#[macro_export]
macro_rules! publish {
    ($dur:expr, |$b:ident| $send:expr, $ack:expr, $joined:expr, $nap:expr) => {{
        use $crate::common::{DATA, END_OF_WINDOW, SUBSCRIBERS, WARM_UP, WINDOW};
        let outcome: Result<$crate::common::Measure, String> = 'run: {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut joined = 0;
            while joined < SUBSCRIBERS {
                if std::time::Instant::now() > deadline {
                    break 'run Err(format!("only {joined} of {SUBSCRIBERS} subscribers joined"));
                }
                let $b = WARM_UP;
                if let Err(e) = $send {
                    break 'run Err(e);
                }
                $nap;
                joined += $joined;
            }
            let dur: std::time::Duration = $dur;
            let mut windows = 0u64;
            let mut cpu0 = 0.0;
            let mut t0 = std::time::Instant::now();
            loop {
                if windows == $crate::common::WARM_UP_WINDOWS {
                    cpu0 = $crate::common::measured_cpu();
                    t0 = std::time::Instant::now();
                }
                for i in 0..WINDOW {
                    let $b = if i + 1 == WINDOW { END_OF_WINDOW } else { DATA };
                    if let Err(e) = $send {
                        break 'run Err(e);
                    }
                }
                for _ in 0..SUBSCRIBERS {
                    if let Err(e) = $ack {
                        break 'run Err(e);
                    }
                }
                windows += 1;
                if windows > $crate::common::WARM_UP_WINDOWS && t0.elapsed() >= dur {
                    break;
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            Ok($crate::common::Measure {
                count: (windows - $crate::common::WARM_UP_WINDOWS) * WINDOW,
                secs,
                cpu: $crate::common::measured_cpu() - cpu0,
            })
        };
        outcome
    }};
}

/// Subscribers of the fan-out.
pub const SUBSCRIBERS: usize = 10;
pub const PUB_SIZE: usize = 64;
/// Messages per window: a tenth of the high-water mark, so a subscriber's queue never
/// fills and the publisher drops nothing.
pub const WINDOW: u64 = 100;
pub const WARM_UP: u8 = b'w';
pub const DATA: u8 = b'd';
pub const END_OF_WINDOW: u8 = b'e';
/// Windows sent untimed after every subscriber has joined.
pub const WARM_UP_WINDOWS: u64 = 20;
/// How long the publisher waits for a window's acknowledgements before calling the
/// cell failed.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// A subscriber's bookkeeping: sends one note on `warmed` for its first warm-up message
/// and one on `acks` per window.
pub struct SubState<S> {
    seen_warm_up: bool,
    warmed: S,
    acks: S,
}

/// Where a subscriber's notes go (std channel for threads, tokio channel for tasks).
pub trait Note: Clone {
    fn note(&self);
}

impl Note for mpsc::Sender<()> {
    fn note(&self) {
        let _ = self.send(());
    }
}

impl Note for tokio::sync::mpsc::UnboundedSender<()> {
    fn note(&self) {
        let _ = self.send(());
    }
}

impl<S: Note> SubState<S> {
    pub fn new(warmed: &S, acks: &S) -> Self {
        SubState {
            seen_warm_up: false,
            warmed: warmed.clone(),
            acks: acks.clone(),
        }
    }

    pub fn on_message(&mut self, first: Option<u8>) {
        match first {
            Some(WARM_UP) if !self.seen_warm_up => {
                self.seen_warm_up = true;
                self.warmed.note();
            }
            Some(END_OF_WINDOW) => self.acks.note(),
            _ => {}
        }
    }
}

/// The payload of the fan-out, its first byte set to `first`.
pub fn pub_payload(first: u8) -> [u8; PUB_SIZE] {
    let mut payload = [0u8; PUB_SIZE];
    payload[0] = first;
    payload
}

/// Waits for one acknowledgement on a tokio channel, `ACK_TIMEOUT` at most.
pub async fn ack_async(acks: &mut tokio::sync::mpsc::UnboundedReceiver<()>) -> Result<(), String> {
    match tokio::time::timeout(ACK_TIMEOUT, acks.recv()).await {
        Ok(Some(())) => Ok(()),
        Ok(None) => Err("acknowledgement: every subscriber ended".into()),
        Err(_) => Err("acknowledgement: timed out (a subscriber stalled)".into()),
    }
}

/// How many notes wait on a tokio channel, taking them.
pub fn drain(notes: &mut tokio::sync::mpsc::UnboundedReceiver<()>) -> usize {
    let mut n = 0;
    while notes.try_recv().is_ok() {
        n += 1;
    }
    n
}

/// Tells the parent that this process's socket is bound.
pub fn ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY");
    let _ = out.flush();
}

/// Reports the cell's outcome and ends the process at once, so no library's socket or
/// context is dropped (a linger or a join must not hang the run).
pub fn exit_with(outcome: Result<Measure, String>) -> ! {
    match outcome {
        Ok(m) => {
            m.report();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    }
}

/// Checks that what arrived has the size sent, so a figure always counts real messages.
pub fn check_len(got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("received {got} bytes where {want} were sent"))
    }
}
