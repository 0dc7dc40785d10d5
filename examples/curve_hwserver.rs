//! Encrypted Hello World server: the guide's `hwserver` over CURVE, admitting one client.
//!
//! ```sh
//! cargo run --example curve_keygen -- certs server
//! cargo run --example curve_keygen -- certs client
//! cargo run --example curve_hwserver -- certs/server.key_secret certs/client.key
//! cargo run --example curve_hwclient -- certs/client.key_secret certs/server.key
//! ```
//!
//! Arguments: the server's secret key and the one client public key to let in, each a
//! certificate file (as `curve_keygen` writes them) or 40 characters of Z85; then
//! optionally the endpoint to bind (default `tcp://*:5555`) and how many requests to
//! answer before exiting (default: for ever). The built-in authenticator refuses every
//! other client (ZAP status 400), and everything on the wire is encrypted. Works with a
//! libzmq or pyzmq CURVE client given the same keys.

use ferromq::auth::{load_certificate, ANY_DOMAIN};
use ferromq::{Authenticator, Context, CurvePublicKey, CurveSecretKey, Error};

/// A secret key from a certificate file or Z85 text.
fn secret_key(arg: &str) -> Result<CurveSecretKey, Error> {
    if let Ok(key) = CurveSecretKey::from_z85(arg) {
        return Ok(key);
    }
    load_certificate(arg)?
        .1
        .ok_or_else(|| Error::InvalidKey(format!("{arg} holds no secret key")))
}

/// A public key from a certificate file or Z85 text.
fn public_key(arg: &str) -> Result<CurvePublicKey, Error> {
    match CurvePublicKey::from_z85(arg) {
        Ok(key) => Ok(key),
        Err(_) => Ok(load_certificate(arg)?.0),
    }
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [secret, client, rest @ ..] = args.as_slice() else {
        eprintln!("usage: curve_hwserver SERVER_SECRET CLIENT_PUBLIC [ENDPOINT [COUNT]]");
        std::process::exit(2);
    };
    let endpoint = rest.first().map_or("tcp://*:5555", String::as_str);
    let count: Option<u64> = rest.get(1).and_then(|c| c.parse().ok());

    let ctx = Context::new();
    // The handler every CURVE server socket of this context asks about its clients.
    let auth = Authenticator::start(&ctx)?;
    auth.configure_curve(ANY_DOMAIN, [public_key(client)?]);

    let mut responder = ctx.rep()?;
    responder.set_curve_server(&secret_key(secret)?);
    responder.bind(endpoint)?;
    println!(
        "listening on {}",
        responder.last_endpoint().unwrap_or(endpoint)
    );

    let mut answered = 0u64;
    while count.is_none_or(|c| answered < c) {
        let request = responder.recv()?;
        let user = request
            .body()
            .metadata()
            .and_then(|m| m.get("User-Id"))
            .map(<[u8]>::to_vec);
        println!(
            "Received {} (from user {})",
            String::from_utf8_lossy(&request.body()[0]),
            String::from_utf8_lossy(user.as_deref().unwrap_or(b"?"))
        );
        request.reply("World")?;
        answered += 1;
    }
    auth.stop()
}
