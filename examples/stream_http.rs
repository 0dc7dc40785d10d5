//! The HTTP server of libzmq's `zmq_socket` documentation, on a STREAM socket: it answers
//! every request with "Hello, World!" and closes the connection, as HTTP/1.0 does.
//!
//! Run it, then `curl http://127.0.0.1:8080/` (or pass another endpoint as argument).

use ferromq::{Context, Frame};

fn main() -> Result<(), ferromq::Error> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:8080".into());
    let ctx = Context::new();
    let mut server = ctx.stream()?;
    server.bind(&endpoint)?;
    println!("serving on {}", server.last_endpoint().unwrap_or(&endpoint));
    loop {
        let msg = server.recv()?;
        let (id, data) = (msg[0].clone(), &msg[1]);
        if data.is_empty() {
            // A connection made or lost (STREAM_NOTIFY).
            continue;
        }
        // A real server would collect the request up to its blank line; this one, like
        // the documentation's, answers the first bytes it gets.
        let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nHello, World!";
        if let Err(e) = server.send([id.clone(), response.into()]) {
            eprintln!("{}", e.error());
            continue;
        }
        // An empty data frame closes the connection, after the response is written.
        let _ = server.send([id, Frame::new()]);
    }
}
