//! The child-process side: one cell (library × scenario × size) per process, and the REP
//! process of a two-process round trip.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{endpoint, Measure, Step, Transport, PEER};
use crate::libs::{ferro, libzmq, omq, rzmq, zmqrs};
use crate::{Case, Lib};

/// Runs one cell in this process. A successful cell reports and exits from inside the
/// library's function; what returns here is a failure.
pub fn run(lib: Lib, case: Case, dur: Duration) -> Result<Measure, String> {
    match case {
        Case::PushPull(transport, size) => {
            let ep = endpoint(transport)?;
            match lib {
                Lib::Ferromq => ferro::push_pull(&ep, size, dur, true),
                Lib::FerromqNospin => ferro::push_pull(&ep, size, dur, false),
                Lib::FerromqAsync => ferro::push_pull_async(&ep, size, dur),
                Lib::Libzmq => libzmq::push_pull(&ep, size, dur),
                Lib::ZmqRs => zmqrs::push_pull(&ep, size, dur),
                Lib::Rzmq => rzmq::push_pull(&ep, size, dur),
                Lib::Omq => omq::push_pull(&ep, size, dur),
            }
        }
        Case::ReqRep(transport) => {
            let ep = endpoint(transport)?;
            spawn_rep(lib, &ep)?;
            match lib {
                Lib::Ferromq => ferro::req(&ep, dur, true),
                Lib::FerromqNospin => ferro::req(&ep, dur, false),
                Lib::FerromqAsync => ferro::req_async(&ep, dur),
                Lib::Libzmq => libzmq::req(&ep, dur),
                Lib::ZmqRs => zmqrs::req(&ep, dur),
                Lib::Rzmq => rzmq::req(&ep, dur),
                Lib::Omq => omq::req(&ep, dur),
            }
        }
        Case::PubSub => {
            let ep = endpoint(Transport::Tcp)?;
            match lib {
                Lib::Ferromq => ferro::pub_sub(&ep, dur, true),
                Lib::FerromqNospin => ferro::pub_sub(&ep, dur, false),
                Lib::FerromqAsync => ferro::pub_sub_async(&ep, dur),
                Lib::Libzmq => libzmq::pub_sub(&ep, dur),
                Lib::ZmqRs => zmqrs::pub_sub(&ep, dur),
                Lib::Rzmq => rzmq::pub_sub(&ep, dur),
                Lib::Omq => omq::pub_sub(&ep, dur),
            }
        }
    }
}

/// Starts the REP process of a round trip and waits until it has bound. Its CPU is
/// counted with this process's from then on. It ends when this process does: it exits
/// when its standard input, a pipe from here, reaches end of file.
fn spawn_rep(lib: Lib, ep: &str) -> Result<(), String> {
    let exe = std::env::current_exe().step("own path")?;
    let mut child = Command::new(exe)
        .args(["__rep", lib.name(), ep])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .step("spawn the REP process")?;
    let stdout = child.stdout.take().ok_or("REP process has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(line) if line.trim() == "READY" => {}
        Ok(line) => return Err(format!("REP process said {line:?} instead of READY")),
        Err(_) => return Err("REP process did not bind within 10 s".into()),
    }
    let _ = PEER.set(child.id());
    // Kept open (never waited for) so that the REP's stdin closes only when we exit.
    std::mem::forget(child);
    Ok(())
}

/// The REP process: exits when its stdin closes, else echoes until killed.
pub fn rep(lib: Lib, ep: &str) -> Result<(), String> {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    match lib {
        Lib::Ferromq => ferro::rep(ep, true),
        Lib::FerromqNospin => ferro::rep(ep, false),
        Lib::FerromqAsync => ferro::rep_async(ep),
        Lib::Libzmq => libzmq::rep(ep),
        Lib::ZmqRs => zmqrs::rep(ep),
        Lib::Rzmq => rzmq::rep(ep),
        Lib::Omq => omq::rep(ep),
    }
}
