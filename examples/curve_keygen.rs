//! CURVE key generator, as libzmq's `curve_keygen` and pyzmq's `create_certificates`.
//!
//! With no arguments it prints a fresh key pair in Z85. With a directory and a name it
//! writes the certificate pair `NAME.key` (public: give it to peers, or put it in the
//! directory a server's authenticator reads) and `NAME.key_secret` (keep it private).
//!
//! ```sh
//! cargo run --example curve_keygen
//! cargo run --example curve_keygen -- certs server
//! ```

use ferromq::auth::create_certificates;
use ferromq::CurveKeyPair;

fn main() -> Result<(), ferromq::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            let pair = CurveKeyPair::generate()?;
            println!("== CURVE PUBLIC KEY ==\n{}", pair.public());
            println!(
                "== CURVE SECRET KEY ==\n{}",
                pair.secret().to_z85().as_str()
            );
        }
        [dir, name] => {
            std::fs::create_dir_all(dir)?;
            let (public, secret) = create_certificates(dir, name)?;
            println!("wrote {} and {}", public.display(), secret.display());
        }
        _ => eprintln!("usage: curve_keygen [DIR NAME]"),
    }
    Ok(())
}
