//! Load-balancing broker, as in the ZeroMQ guide's "lbbroker": clients (REQ) talk to a
//! frontend ROUTER, workers (REQ) to a backend ROUTER. A worker says "READY" when it
//! starts and gets one request at a time; the broker queues idle workers and only reads
//! from clients while some worker is idle, so every request goes to a free worker.
//!
//! `cargo run --example lbbroker` runs the guide's whole demo in one process: the broker,
//! 10 client threads and 3 worker threads over ipc, ending when every client has its
//! reply. `cargo run --example lbbroker -- --broker-only FRONTEND BACKEND CLIENTS` runs
//! just the broker, for clients and workers in other processes or languages, and exits
//! after relaying CLIENTS replies.

use std::collections::VecDeque;

use ferromq::{poll, Context, Message, PollItem, Router};

const NBR_CLIENTS: usize = 10;
const NBR_WORKERS: usize = 3;

/// Basic request-reply client using a REQ socket.
fn client_task(ctx: Context, endpoint: String, n: usize) -> Result<(), ferromq::Error> {
    let mut client = ctx.req()?;
    client.set_identity(format!("client-{n}"))?;
    client.connect(&endpoint)?;
    let reply = client.request("HELLO")?;
    println!("Client {n}: {}", String::from_utf8_lossy(&reply[0]));
    Ok(())
}

/// A worker: REQ, so it speaks first ("READY"); each request arrives as
/// [client id, "", request] and the reply goes back as [client id, "", reply].
fn worker_task(ctx: Context, endpoint: String, n: usize) -> Result<(), ferromq::Error> {
    let mut worker = ctx.socket(ferromq::SocketType::Req)?;
    worker.set_identity(format!("worker-{n}"))?;
    worker.connect(&endpoint)?;
    worker.send("READY")?;
    loop {
        let mut msg = worker.recv()?;
        let client = msg.pop_front().unwrap_or_default();
        println!("Worker {n}: {}", String::from_utf8_lossy(&msg[1]));
        worker.send(Message::multipart([client, "".into(), "OK".into()]))?;
    }
}

/// The broker: runs until `clients` replies were relayed.
fn broker(frontend: &mut Router, backend: &mut Router, mut clients: usize) -> ferromq::Result<()> {
    // Idle workers, oldest first.
    let mut workers: VecDeque<ferromq::Frame> = VecDeque::new();
    while clients > 0 {
        // Always listen to workers; listen to clients only while a worker is idle.
        let (back_ready, front_ready) = if workers.is_empty() {
            let ready = poll(&mut [PollItem::readable(backend)], None);
            (ready.is_readable(0), false)
        } else {
            let ready = poll(
                &mut [PollItem::readable(backend), PollItem::readable(frontend)],
                None,
            );
            (ready.is_readable(0), ready.is_readable(1))
        };
        if back_ready {
            // [worker id, "", "READY"] or [worker id, "", client id, "", reply]
            let mut msg = backend.recv()?;
            let Some(worker) = msg.pop_front() else {
                continue;
            };
            workers.push_back(worker);
            msg.pop_front(); // the worker's REQ delimiter
            if msg.first().is_some_and(|f| &f[..] != b"READY") {
                frontend.send(msg)?;
                clients -= 1;
            }
        }
        if front_ready {
            // [client id, "", request] -> [worker id, "", client id, "", request]
            if let Some(worker) = workers.pop_front() {
                let mut msg = frontend.recv()?;
                msg.push_front(ferromq::Frame::new());
                msg.push_front(worker);
                backend.send(msg)?;
            }
        }
    }
    Ok(())
}

fn main() -> ferromq::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ctx = Context::new();
    let mut frontend = ctx.router()?;
    let mut backend = ctx.router()?;
    // A worker must be known before anything is routed to it.
    backend.set_router_mandatory(true);

    if args.first().map(String::as_str) == Some("--broker-only") {
        let (Some(front), Some(back), Some(clients)) = (args.get(1), args.get(2), args.get(3))
        else {
            eprintln!("usage: lbbroker --broker-only FRONTEND BACKEND CLIENTS");
            std::process::exit(2);
        };
        let Ok(clients) = clients.parse() else {
            eprintln!("CLIENTS must be a number, not {clients:?}");
            std::process::exit(2);
        };
        frontend.bind(front)?;
        backend.bind(back)?;
        println!("broker ready");
        return broker(&mut frontend, &mut backend, clients);
    }

    let front = "ipc://frontend.ipc".to_owned();
    let back = "ipc://backend.ipc".to_owned();
    frontend.bind(&front)?;
    backend.bind(&back)?;
    let clients: Vec<_> = (0..NBR_CLIENTS)
        .map(|n| {
            let (ctx, front) = (ctx.clone(), front.clone());
            std::thread::spawn(move || {
                if let Err(e) = client_task(ctx, front, n) {
                    eprintln!("client {n}: {e}");
                }
            })
        })
        .collect();
    for n in 0..NBR_WORKERS {
        let (ctx, back) = (ctx.clone(), back.clone());
        // Workers serve until the process ends.
        std::thread::spawn(move || {
            if let Err(e) = worker_task(ctx, back, n) {
                eprintln!("worker {n}: {e}");
            }
        });
    }
    broker(&mut frontend, &mut backend, NBR_CLIENTS)?;
    // Every reply is on its way; let the clients print theirs before the process ends.
    for client in clients {
        let _ = client.join();
    }
    Ok(())
}
