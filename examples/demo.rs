//! A whole parallel pipeline in one process: a ventilator PUSHes tasks over tcp to four
//! workers, which PUSH results to a sink. Prints how the tasks were spread and how fast
//! messages moved. `cargo run --release --example demo`

use std::thread;
use std::time::{Duration, Instant};

use ferromq::{Context, Error};

const WORKERS: usize = 4;
const TASKS: usize = 100_000;

fn main() -> Result<(), Error> {
    let ctx = Context::new();

    let mut ventilator = ctx.push()?;
    ventilator.bind("tcp://127.0.0.1:*")?;
    let tasks_at = ventilator.last_endpoint().unwrap_or_default().to_owned();

    let mut sink = ctx.pull()?;
    sink.bind("ipc://@ferromq-demo-sink")?;
    sink.set_recv_timeout(Some(Duration::from_secs(10)));

    println!("ventilator: PUSH bound to {tasks_at}");
    println!("sink:       PULL bound to ipc://@ferromq-demo-sink");

    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let ctx = ctx.clone();
            let tasks_at = tasks_at.clone();
            thread::spawn(move || -> Result<usize, Error> {
                let mut tasks = ctx.pull()?;
                tasks.connect(&tasks_at)?;
                tasks.set_recv_timeout(Some(Duration::from_millis(500)));
                let mut results = ctx.push()?;
                results.connect("ipc://@ferromq-demo-sink")?;
                let mut done = 0;
                loop {
                    match tasks.recv() {
                        Ok(task) => {
                            // The "work": echo the task number back with our id.
                            results.send([id.to_string().into_bytes(), task[0].to_vec()])?;
                            done += 1;
                        }
                        Err(Error::TimedOut) => return Ok(done),
                        Err(e) => return Err(e),
                    }
                }
            })
        })
        .collect();

    // Wait until every worker is connected, so the tasks are spread over all of them.
    while ventilator.peer_count() < WORKERS {
        thread::sleep(Duration::from_millis(5));
    }

    let start = Instant::now();
    let producer = thread::spawn(move || -> Result<(), Error> {
        for n in 0..TASKS as u64 {
            ventilator.send(n.to_be_bytes().to_vec())?;
        }
        Ok(())
    });
    let mut per_worker = [0usize; WORKERS];
    for _ in 0..TASKS {
        let result = sink.recv()?;
        let id: usize = String::from_utf8_lossy(&result[0]).parse().unwrap_or(0);
        per_worker[id.min(WORKERS - 1)] += 1;
    }
    let elapsed = start.elapsed();
    producer.join().map_err(|_| Error::Closed)??;

    println!("{TASKS} tasks through {WORKERS} workers and back in {elapsed:.2?}");
    println!(
        "  {:.0} tasks/s ({} messages each way)",
        TASKS as f64 / elapsed.as_secs_f64(),
        TASKS
    );
    println!("  (PUSH takes peers in turn, skipping any whose queue is full, so a worker");
    println!("   that keeps up takes more than one that falls behind)");
    for (id, n) in per_worker.iter().enumerate() {
        println!(
            "  worker {id}: {n} tasks (round-robin share {:.1}%)",
            *n as f64 * 100.0 / TASKS as f64
        );
    }
    for w in workers {
        w.join().map_err(|_| Error::Closed)??;
    }
    Ok(())
}
