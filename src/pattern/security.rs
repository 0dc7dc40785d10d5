//! The security options every socket type takes: which mechanism it speaks (NULL, PLAIN
//! or CURVE), in which role, with which credentials, and its ZAP domain (libzmq's
//! `ZMQ_PLAIN_*`, `ZMQ_CURVE_*`, `ZMQ_ZAP_DOMAIN`, `ZMQ_ZAP_ENFORCE_DOMAIN`), generated
//! into each socket by [`socket_common!`](super::socket_common).
//!
//! Both ends of a connection must use the same mechanism, one as client and one as
//! server; a mismatch fails the handshake (a [`MonitorEvent::HandshakeFailed`] with the
//! reason), it never falls back to NULL. Options apply to connections made after they
//! are set, as in libzmq.
//!
//! [`MonitorEvent::HandshakeFailed`]: crate::MonitorEvent::HandshakeFailed

use bytes::Bytes;
use zeroize::Zeroizing;

use crate::zmtp::MechanismConfig;

/// The security mechanism of a socket and its role in it (libzmq's `ZMQ_MECHANISM`, with
/// `ZMQ_PLAIN_SERVER` / `ZMQ_CURVE_SERVER` for the role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// No security: the default.
    Null,
    /// PLAIN client: sends a user name and password, in clear.
    PlainClient,
    /// PLAIN server: checks user names and passwords through ZAP.
    PlainServer,
    /// CURVE client: authenticates the server by its public key and encrypts everything.
    CurveClient,
    /// CURVE server: holds the secret key clients must know the public half of.
    CurveServer,
}

impl Mechanism {
    /// The mechanism's name as the ZMTP greeting carries it: `NULL`, `PLAIN` or `CURVE`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::PlainClient | Mechanism::PlainServer => "PLAIN",
            Mechanism::CurveClient | Mechanism::CurveServer => "CURVE",
        }
    }
}

/// Longest PLAIN user name or password, and longest ZAP domain: 255 bytes, as in libzmq.
pub const MAX_CREDENTIAL_LEN: usize = 255;

/// Checks a PLAIN credential or ZAP domain length.
pub(crate) fn check_len(what: &str, value: &[u8]) -> crate::Result<()> {
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(crate::Error::InvalidOption(format!(
            "{what} of {} bytes (at most {MAX_CREDENTIAL_LEN})",
            value.len()
        )));
    }
    Ok(())
}

/// The PLAIN client configuration for `username` and `password`.
pub(crate) fn plain_client(username: &[u8], password: &[u8]) -> crate::Result<MechanismConfig> {
    check_len("PLAIN user name", username)?;
    check_len("PLAIN password", password)?;
    Ok(MechanismConfig::PlainClient {
        username: Bytes::copy_from_slice(username),
        password: Zeroizing::new(password.to_vec()),
    })
}

/// The public [`Mechanism`] of a configuration.
pub(crate) fn mechanism_of(config: &MechanismConfig) -> Mechanism {
    match config {
        MechanismConfig::Null => Mechanism::Null,
        MechanismConfig::PlainClient { .. } => Mechanism::PlainClient,
        MechanismConfig::PlainServer => Mechanism::PlainServer,
        MechanismConfig::CurveClient { .. } => Mechanism::CurveClient,
        MechanismConfig::CurveServer { .. } => Mechanism::CurveServer,
    }
}

/// Generates the security options of [`security`](self) for one socket type.
macro_rules! security_options {
    ($ty:ident) => {
        impl $ty {
            /// Makes this socket a CURVE server holding `secret` (libzmq's
            /// `ZMQ_CURVE_SERVER` = 1 with `ZMQ_CURVE_SECRETKEY`): its connections are
            /// encrypted and only clients that know the matching public key get through.
            /// With a ZAP handler running (for example an
            /// [`Authenticator`](crate::Authenticator)), each client's public key is
            /// checked by it too. Applies to later connections. See
            /// [`Self::set_curve_client`] for an example.
            pub fn set_curve_server(&mut self, secret: &$crate::CurveSecretKey) {
                self.core.options.mechanism = $crate::zmtp::MechanismConfig::CurveServer {
                    secret: zeroize::Zeroizing::new(*secret.as_bytes()),
                };
            }

            /// Makes this socket a CURVE client of the server whose public key is
            /// `server`, proving itself with `ours` (libzmq's `ZMQ_CURVE_SERVERKEY`,
            /// `ZMQ_CURVE_PUBLICKEY` and `ZMQ_CURVE_SECRETKEY`). A server with another key
            /// fails the handshake. Applies to later connections.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::{Context, CurveKeyPair};
            ///
            /// let ctx = Context::new();
            /// let server_keys = CurveKeyPair::generate()?;
            /// let mut server = ctx.rep()?;
            /// server.set_curve_server(server_keys.secret());
            /// server.bind("tcp://127.0.0.1:*")?;
            ///
            /// let mut client = ctx.req()?;
            /// client.set_curve_client(server_keys.public(), &CurveKeyPair::generate()?);
            /// client.connect(&server.last_endpoint().unwrap())?;
            /// let pending = client.send("secret hello")?;
            /// let request = server.recv_timeout(Duration::from_secs(10))?;
            /// assert_eq!(request.body(), "secret hello");
            /// request.reply("secret world")?;
            /// assert_eq!(pending.recv_timeout(Duration::from_secs(10))?, "secret world");
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_curve_client(
                &mut self,
                server: &$crate::CurvePublicKey,
                ours: &$crate::CurveKeyPair,
            ) {
                self.core.options.mechanism = $crate::zmtp::MechanismConfig::CurveClient {
                    server_public: *server.as_bytes(),
                    public: *ours.public().as_bytes(),
                    secret: zeroize::Zeroizing::new(*ours.secret().as_bytes()),
                };
            }

            /// Makes this socket a PLAIN server (libzmq's `ZMQ_PLAIN_SERVER` = 1): clients
            /// send a user name and password, which the ZAP handler (for example an
            /// [`Authenticator`](crate::Authenticator)) must accept. As in libzmq, with no
            /// handler running every client is refused. PLAIN sends the password in clear:
            /// use it only on a network you trust, or use CURVE. Applies to later
            /// connections.
            pub fn set_plain_server(&mut self) {
                self.core.options.mechanism = $crate::zmtp::MechanismConfig::PlainServer;
            }

            /// Makes this socket a PLAIN client with these credentials (libzmq's
            /// `ZMQ_PLAIN_USERNAME` and `ZMQ_PLAIN_PASSWORD`). The password is kept in
            /// memory wiped when dropped, but it crosses the network in clear. Applies to
            /// later connections.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidOption`](crate::Error::InvalidOption) if either is over 255
            /// bytes.
            pub fn set_plain_client(
                &mut self,
                username: impl AsRef<[u8]>,
                password: impl AsRef<[u8]>,
            ) -> $crate::Result<()> {
                self.core.options.mechanism =
                    $crate::pattern::security::plain_client(username.as_ref(), password.as_ref())?;
                Ok(())
            }

            /// Goes back to the NULL mechanism (no security), the default. Applies to
            /// later connections.
            pub fn set_null_mechanism(&mut self) {
                self.core.options.mechanism = $crate::zmtp::MechanismConfig::Null;
            }

            /// The mechanism and role in force (libzmq's `ZMQ_MECHANISM`, with
            /// `ZMQ_PLAIN_SERVER` / `ZMQ_CURVE_SERVER`).
            pub fn mechanism(&self) -> $crate::Mechanism {
                $crate::pattern::security::mechanism_of(&self.core.options.mechanism)
            }

            /// The PLAIN user name of a PLAIN client (`ZMQ_PLAIN_USERNAME`). Unlike
            /// libzmq, the password cannot be read back.
            pub fn plain_username(&self) -> Option<bytes::Bytes> {
                match &self.core.options.mechanism {
                    $crate::zmtp::MechanismConfig::PlainClient { username, .. } => {
                        Some(username.clone())
                    }
                    _ => None,
                }
            }

            /// The server key of a CURVE client (`ZMQ_CURVE_SERVERKEY`).
            pub fn curve_server_key(&self) -> Option<$crate::CurvePublicKey> {
                match &self.core.options.mechanism {
                    $crate::zmtp::MechanismConfig::CurveClient { server_public, .. } => {
                        Some($crate::CurvePublicKey::from_bytes(*server_public))
                    }
                    _ => None,
                }
            }

            /// This socket's own CURVE public key, client or server (`ZMQ_CURVE_PUBLICKEY`).
            /// Unlike libzmq, the secret key cannot be read back.
            pub fn curve_public_key(&self) -> Option<$crate::CurvePublicKey> {
                match &self.core.options.mechanism {
                    $crate::zmtp::MechanismConfig::CurveClient { public, .. } => {
                        Some($crate::CurvePublicKey::from_bytes(*public))
                    }
                    $crate::zmtp::MechanismConfig::CurveServer { secret } => {
                        Some($crate::CurveSecretKey::from_bytes(**secret).public_key())
                    }
                    _ => None,
                }
            }

            /// Sets the ZAP domain (libzmq's `ZMQ_ZAP_DOMAIN`; default empty), sent in
            /// every ZAP request so one handler can serve several policies. As in libzmq,
            /// setting one also makes a NULL socket ask the ZAP handler about its peers.
            /// Applies to later connections.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidOption`](crate::Error::InvalidOption) if it is over 255
            /// bytes.
            pub fn set_zap_domain(&mut self, domain: &str) -> $crate::Result<()> {
                $crate::pattern::security::check_len("ZAP domain", domain.as_bytes())?;
                self.core.options.zap_domain = domain.to_owned();
                Ok(())
            }

            /// The ZAP domain in force; see [`Self::set_zap_domain`].
            pub fn zap_domain(&self) -> &str {
                &self.core.options.zap_domain
            }

            /// With `true`, a CURVE server with no ZAP handler refuses every client
            /// instead of accepting each one that knows its key, and a NULL socket with a
            /// ZAP domain refuses peers when no handler is there (libzmq's
            /// `ZMQ_ZAP_ENFORCE_DOMAIN`; default `false`).
            pub fn set_zap_enforce_domain(&mut self, enforce: bool) {
                self.core.options.zap_enforce_domain = enforce;
            }

            /// Whether the ZAP domain is enforced; see [`Self::set_zap_enforce_domain`].
            pub fn zap_enforce_domain(&self) -> bool {
                self.core.options.zap_enforce_domain
            }
        }
    };
}

pub(crate) use security_options;
