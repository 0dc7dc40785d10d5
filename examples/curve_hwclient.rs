//! Encrypted Hello World client: the guide's `hwclient` over CURVE. See
//! `curve_hwserver.rs` for how to make the keys and run the pair.
//!
//! Arguments: the client's secret key (a certificate file or 40 characters of Z85; its
//! public half follows from it) and the server's public key (a certificate file or Z85);
//! then optionally the endpoint (default `tcp://localhost:5555`) and the number of
//! requests (default 10). A server that does not hold the matching secret key never
//! answers: the handshake fails and nothing is sent in clear.

use std::time::Duration;

use ferromq::auth::load_certificate;
use ferromq::{Context, CurveKeyPair, CurvePublicKey, CurveSecretKey, Error};

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [secret, server, rest @ ..] = args.as_slice() else {
        eprintln!("usage: curve_hwclient CLIENT_SECRET SERVER_PUBLIC [ENDPOINT [COUNT]]");
        std::process::exit(2);
    };
    let secret = match CurveSecretKey::from_z85(secret) {
        Ok(key) => key,
        Err(_) => load_certificate(secret)?
            .1
            .ok_or_else(|| Error::InvalidKey(format!("{secret} holds no secret key")))?,
    };
    let server = match CurvePublicKey::from_z85(server) {
        Ok(key) => key,
        Err(_) => load_certificate(server)?.0,
    };
    let endpoint = rest.first().map_or("tcp://localhost:5555", String::as_str);
    let count: u32 = rest.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);

    let ctx = Context::new();
    let mut requester = ctx.req()?;
    requester.set_curve_client(&server, &CurveKeyPair::from_secret(secret));
    requester.connect(endpoint)?;
    for n in 0..count {
        println!("Sending Hello {n}...");
        let reply = requester
            .send("Hello")?
            .recv_timeout(Duration::from_secs(10))?;
        println!("Received {} {n}", String::from_utf8_lossy(&reply[0]));
    }
    Ok(())
}
