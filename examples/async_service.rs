//! One task serving a ZeroMQ ROUTER and a plain TCP listener side by side, in one
//! `tokio::select!` loop, until a shutdown signal: ctrl-c, or (so that the example ends on
//! its own) the demo clients saying they are done.
//!
//! The ROUTER answers each `[id, "", name]` with `[id, "", "Hello, name"]`; the TCP
//! listener answers each line with the number of ZeroMQ requests served so far. No thread
//! blocks and nothing polls on a timer: the ROUTER's future is woken by its doorbell, the
//! listener's by tokio's reactor.
//!
//! ```text
//! cargo run --example async_service
//! ```

use std::time::Duration;

use ferromq::Message;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let ctx = ferromq::Context::new();
    let mut router = ctx.router()?;
    router.bind("tcp://127.0.0.1:*")?;
    let zmq_endpoint = router.last_endpoint().unwrap_or_default().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let tcp_addr = listener.local_addr()?;
    println!("ROUTER on {zmq_endpoint}, plain TCP on {tcp_addr}");

    let (shutdown_tx, mut shutdown) = watch::channel(false);
    let demo = tokio::spawn(demo_clients(
        ctx.clone(),
        zmq_endpoint,
        tcp_addr,
        shutdown_tx,
    ));

    let mut served = 0u64;
    loop {
        tokio::select! {
            msg = router.recv_async() => {
                let msg = msg?;
                // [id, "", name] from a REQ.
                if msg.len() == 3 {
                    let name = String::from_utf8_lossy(&msg[2]).into_owned();
                    let reply = Message::multipart([
                        msg[0].to_vec(),
                        Vec::new(),
                        format!("Hello, {name}").into_bytes(),
                    ]);
                    router.send_async(reply).await?;
                    served += 1;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                println!("TCP client {peer}");
                let count = served;
                // Each TCP client in its own task, so a slow one holds nothing up.
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    while let Ok(Some(_line)) = lines.next_line().await {
                        let answer = format!("{count} ZeroMQ requests served\n");
                        if writer.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => {
                println!("ctrl-c: shutting down");
                break;
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    println!("demo done: shutting down");
                    break;
                }
            }
        }
    }
    demo.await??;
    println!("served {served} ZeroMQ requests");
    Ok(())
}

/// Three REQ clients and one TCP client, then the shutdown signal.
async fn demo_clients(
    ctx: ferromq::Context,
    zmq_endpoint: String,
    tcp_addr: std::net::SocketAddr,
    shutdown: watch::Sender<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut tasks = Vec::new();
    for name in ["Ada", "Grace", "Edsger"] {
        let mut req = ctx.req()?;
        req.connect(&zmq_endpoint)?;
        tasks.push(tokio::spawn(async move {
            let reply = tokio::time::timeout(Duration::from_secs(10), req.request_async(name))
                .await
                .map_err(|_| ferromq::Error::TimedOut)??;
            println!("REQ {name} got {:?}", String::from_utf8_lossy(&reply[0]));
            Ok::<(), ferromq::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let mut stream = tokio::net::TcpStream::connect(tcp_addr).await?;
    stream.write_all(b"how many?\n").await?;
    let mut lines = BufReader::new(stream).lines();
    let answer = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await??;
    println!("TCP client got {answer:?}");
    let _ = shutdown.send(true);
    Ok(())
}
