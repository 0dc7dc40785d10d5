//! Several REP workers and several REQ clients in one process, over inproc (or tcp with
//! `--tcp`). Each client connects to every worker; prints how the requests were spread.
//! `cargo run --release --example reqrep_workers [-- --tcp]`

use std::collections::BTreeMap;
use std::thread;
use std::time::Instant;

use ferromq::{Context, Error};

const WORKERS: usize = 3;
const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 3000;

fn main() -> Result<(), Error> {
    let tcp = std::env::args().any(|a| a == "--tcp");
    let ctx = Context::new();

    let mut endpoints = Vec::new();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let mut rep = ctx.rep()?;
        if tcp {
            rep.bind("tcp://127.0.0.1:*")?;
        } else {
            rep.bind(&format!("inproc://worker-{w}"))?;
        }
        endpoints.push(rep.last_endpoint().unwrap_or_default().to_owned());
        workers.push(thread::spawn(move || -> Result<usize, Error> {
            let mut served = 0;
            loop {
                let request = rep.recv()?;
                if request.body() == "stop" {
                    request.reply("bye")?;
                    return Ok(served);
                }
                request.reply(format!("worker-{w}"))?;
                served += 1;
            }
        }));
    }
    println!("{WORKERS} workers on {}", endpoints.join(", "));

    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let ctx = ctx.clone();
            let endpoints = endpoints.clone();
            thread::spawn(move || -> Result<BTreeMap<String, usize>, Error> {
                let mut req = ctx.req()?;
                for ep in &endpoints {
                    req.connect(ep)?;
                }
                while req.peer_count() < endpoints.len() {
                    thread::yield_now();
                }
                let mut spread = BTreeMap::new();
                for i in 0..REQUESTS_PER_CLIENT {
                    let reply = req.request(format!("client-{c} #{i}"))?;
                    *spread
                        .entry(String::from_utf8_lossy(&reply[0]).into_owned())
                        .or_insert(0) += 1;
                }
                Ok(spread)
            })
        })
        .collect();

    for (c, client) in clients.into_iter().enumerate() {
        let spread = client.join().map_err(|_| Error::Closed)??;
        println!("client-{c}: {spread:?}");
    }
    let elapsed = start.elapsed();
    let total = CLIENTS * REQUESTS_PER_CLIENT;
    println!(
        "{total} round trips in {elapsed:.2?} ({:.0}/s)",
        total as f64 / elapsed.as_secs_f64()
    );

    let mut stopper = ctx.req()?;
    for ep in &endpoints {
        stopper.connect(ep)?;
    }
    for _ in 0..WORKERS {
        stopper.request("stop")?;
    }
    for (w, worker) in workers.into_iter().enumerate() {
        println!(
            "worker-{w} served {}",
            worker.join().map_err(|_| Error::Closed)??
        );
    }
    Ok(())
}
