//! A built-in ZAP handler (ZeroMQ RFC 27), started in one call, and CURVE certificate
//! files.
//!
//! A server socket that uses PLAIN or CURVE (or NULL with a ZAP domain) asks the handler
//! bound at [`ZAP_ENDPOINT`] in its [`Context`] whether to admit each peer. The
//! [`Authenticator`] is such a handler, as pyzmq's `ThreadAuthenticator` and CZMQ's
//! `zauth`: it binds a ROUTER there and answers requests on a thread of its own by the
//! rules you give it — allow or deny by peer address, PLAIN users from a map, CURVE
//! client keys from a list or a directory of certificates, or any CURVE client that knows
//! the server key.
//!
//! You can also bind your own handler on a [`Rep`](crate::Rep) or
//! [`Router`](crate::Router) at [`ZAP_ENDPOINT`] instead; nothing in ferromq prefers the
//! built-in one. Only one handler can be bound per context.

mod certs;
mod zap;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::keys::CurvePublicKey;
use crate::pattern::routing::Router;
use crate::poll::{PollItem, Poller, Waker};

pub use certs::{
    create_certificates, load_certificate, load_certificates, MAX_CERTIFICATE_FILES,
    MAX_CERTIFICATE_FILE_SIZE,
};

use zap::{Address, Policy};

// Defined beside the engine's ZAP client, which uses them, and re-exported here.
pub use crate::engine::{MAX_PENDING_ZAP_REQUESTS, ZAP_ENDPOINT};

/// The domain whose PLAIN users or CURVE keys apply to every domain that has none of its
/// own, including the empty domain of a server that set no ZAP domain (pyzmq's `"*"`).
pub const ANY_DOMAIN: &str = zap::ANY_DOMAIN;

/// How long dropping (or [`Authenticator::stop`]) waits for the handler thread to end.
/// The thread only ever waits in a poll its stop wakes, so it ends at once unless a log
/// callback of yours is slow; past this it is left to end on its own.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// A log callback for [`Authenticator::set_log`]: gets one line per request (never a
/// password) and per event.
pub type LogCallback = Box<dyn FnMut(&str) + Send>;

/// Locks, going on with the data if a panicking log callback poisoned the lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    policy: Mutex<Policy>,
    log: Mutex<Option<LogCallback>>,
    stop: AtomicBool,
}

impl Shared {
    fn log(&self, line: &str) {
        if let Some(log) = lock(&self.log).as_mut() {
            log(line);
        }
    }
}

/// A built-in ZAP handler: binds [`ZAP_ENDPOINT`] in a [`Context`] and answers the
/// authentication requests of that context's server sockets on its own thread, until it
/// is dropped or stopped.
///
/// Its rules are those of pyzmq's and CZMQ's authenticators, and can be changed while it
/// runs (each request sees the rules as they were when it arrived):
///
/// - **Addresses**: a non-empty [`allow`](Self::allow) list refuses every peer address
///   not on it; the [`deny`](Self::deny) list refuses those on it. These apply to every
///   mechanism.
/// - **NULL** peers (asked about only when the server set a ZAP domain) are admitted
///   unless their address is refused.
/// - **PLAIN** peers must also give a user name and password from
///   [`configure_plain`](Self::configure_plain); the user name becomes their `User-Id`.
/// - **CURVE** peers must also have a public key from
///   [`configure_curve`](Self::configure_curve) or
///   [`configure_curve_dir`](Self::configure_curve_dir), unless
///   [`allow_any_curve`](Self::allow_any_curve) is on; the key in Z85 becomes their
///   `User-Id`.
///
/// Until you configure something, NULL peers are admitted and PLAIN and CURVE peers
/// refused. Replies follow RFC 27: status `200` with text `OK`; `400` for a refused
/// peer, with pyzmq's reasons (`Address not allowed`, `Address denied`,
/// `No passwords defined`, `Invalid domain`, `Invalid username`, `Invalid password`,
/// `Unknown domain`, `Unknown key`, `Unsupported mechanism`); `500` for a malformed
/// request (`Unsupported ZAP version`, `Malformed request`, `Malformed credentials`). A
/// request with no empty delimiter frame, or no request id, is dropped: it cannot be
/// answered. The user id is empty except on `200`, and the metadata frame is always
/// empty.
///
/// Requests are answered one at a time, in order; per server socket at most the
/// ROUTER's receive high-water mark wait their turn (1000 by default, set with
/// [`start_with_queue`](Self::start_with_queue)).
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use ferromq::{Authenticator, Context, CurveKeyPair};
///
/// let ctx = Context::new();
/// let auth = Authenticator::start(&ctx)?;
/// auth.allow("127.0.0.1");
/// auth.configure_plain("*", HashMap::from([("admin".into(), "secret".into())]));
/// let client = CurveKeyPair::generate()?;
/// auth.configure_curve("*", [*client.public()]);
///
/// // A PLAIN server in the same context asks it about every client.
/// let mut server = ctx.pull()?;
/// server.set_plain_server();
/// server.bind("tcp://127.0.0.1:*")?;
/// let mut push = ctx.push()?;
/// push.set_plain_client("admin", "secret")?;
/// push.connect(server.last_endpoint().unwrap())?;
/// push.send("hello")?;
/// let msg = server.recv_timeout(std::time::Duration::from_secs(10))?;
/// // The user name the authenticator admitted, as `zmq_msg_gets(msg, "User-Id")`.
/// assert_eq!(msg.metadata().and_then(|m| m.get("User-Id")), Some(&b"admin"[..]));
/// drop(auth); // stops the handler
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct Authenticator {
    shared: Arc<Shared>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Binds [`ZAP_ENDPOINT`] in `ctx` and starts answering requests on a new thread.
    ///
    /// Start it before the server sockets that use it bind or connect (RFC 27: "the
    /// handler SHALL start before any server").
    ///
    /// # Errors
    ///
    /// [`Error::AddressInUse`] if a handler (this one or your own) is already bound in
    /// `ctx`; [`Error::Io`] if the thread cannot be started.
    pub fn start(ctx: &Context) -> Result<Authenticator> {
        Self::start_with_queue(ctx, crate::options::DEFAULT_HWM)
    }

    /// As [`start`](Self::start), with at most `requests` requests (and as many replies)
    /// queued per server socket waiting for their turn, instead of
    /// [`DEFAULT_HWM`](crate::DEFAULT_HWM) (1000). `0` means no limit, as for any
    /// high-water mark.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn start_with_queue(ctx: &Context, requests: usize) -> Result<Authenticator> {
        let mut router = Router::new(ctx)?;
        router.set_recv_hwm(requests);
        router.set_send_hwm(requests);
        router.bind(ZAP_ENDPOINT)?;
        let shared = Arc::new(Shared {
            policy: Mutex::new(Policy::default()),
            log: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let poller = Poller::new();
        let waker = poller.waker();
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ferromq-zap".into())
            .spawn(move || {
                serve(router, poller, &thread_shared);
                let _ = done_tx.send(());
            })?;
        Ok(Authenticator {
            shared,
            waker,
            thread: Some(thread),
            done,
        })
    }

    /// Admits only peers from `address` and the other allowed ones: once the allow list
    /// is not empty, every other address is refused (`400 Address not allowed`). PLAIN
    /// and CURVE peers from an allowed address must still pass their own check.
    ///
    /// `address` is compared with the ZAP request's address frame: as an IP address when
    /// both are one (so `::1` matches `0:0::1`, and `::ffff:10.0.0.1` matches
    /// `10.0.0.1`, and `ip:port` counts as its IP), as text otherwise (an ipc peer's
    /// address, for example).
    pub fn allow(&self, address: &str) {
        lock(&self.shared.policy)
            .allowed
            .insert(Address::parse(address));
    }

    /// Refuses peers from `address` (`400 Address denied`), whatever their mechanism and
    /// credentials. A denied address stays refused even if it is also allowed.
    pub fn deny(&self, address: &str) {
        lock(&self.shared.policy)
            .denied
            .insert(Address::parse(address));
    }

    /// Empties the allow and deny lists.
    pub fn clear_addresses(&self) {
        let mut policy = lock(&self.shared.policy);
        policy.allowed.clear();
        policy.denied.clear();
    }

    /// Sets the PLAIN users (name → password) of ZAP domain `domain`, replacing any
    /// earlier ones of that domain; an empty map removes the domain. [`ANY_DOMAIN`]
    /// (`"*"`) covers every domain without users of its own, including servers with no
    /// ZAP domain.
    pub fn configure_plain(&self, domain: &str, users: HashMap<String, String>) {
        let mut policy = lock(&self.shared.policy);
        if users.is_empty() {
            policy.passwords.remove(domain);
        } else {
            policy.passwords.insert(domain.to_owned(), users);
        }
    }

    /// Sets the CURVE client keys admitted in ZAP domain `domain`, replacing any earlier
    /// ones of that domain (no keys removes the domain), and turns
    /// [`allow_any_curve`](Self::allow_any_curve) off, as pyzmq's `configure_curve`.
    /// [`ANY_DOMAIN`] covers every domain without keys of its own.
    pub fn configure_curve(&self, domain: &str, keys: impl IntoIterator<Item = CurvePublicKey>) {
        let keys: std::collections::HashSet<_> = keys.into_iter().collect();
        let mut policy = lock(&self.shared.policy);
        policy.curve_any = false;
        if keys.is_empty() {
            policy.curve_keys.remove(domain);
        } else {
            policy.curve_keys.insert(domain.to_owned(), keys);
        }
    }

    /// As [`configure_curve`](Self::configure_curve), with the public keys of every
    /// `*.key` certificate in directory `dir` (see [`load_certificates`]). The directory is
    /// read now, once: call again after adding or removing files. Returns how many keys
    /// were read.
    ///
    /// # Errors
    ///
    /// As [`load_certificates`]: the directory cannot be read, a `*.key` file is not a
    /// certificate or is larger than [`MAX_CERTIFICATE_FILE_SIZE`], or there are more than
    /// [`MAX_CERTIFICATE_FILES`]. On error the rules in force do not change.
    pub fn configure_curve_dir(&self, domain: &str, dir: impl AsRef<Path>) -> Result<usize> {
        let keys = load_certificates(dir)?;
        let count = keys.len();
        self.configure_curve(domain, keys);
        Ok(count)
    }

    /// Admits every CURVE client, in every domain, whose address is not refused: any
    /// client that knows the server's public key (pyzmq's `CURVE_ALLOW_ANY`). A later
    /// [`configure_curve`](Self::configure_curve) turns it off again.
    pub fn allow_any_curve(&self) {
        lock(&self.shared.policy).curve_any = true;
    }

    /// Sets (or with `None` removes) a callback that gets one line per request — the
    /// status, reason, domain, address, mechanism and user name or key, never a
    /// password — and a line for each request dropped. It runs on the handler's thread,
    /// between requests: keep it quick.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let auth = ferromq::Authenticator::start(&ctx)?;
    /// auth.set_log(Some(Box::new(|line: &str| eprintln!("zap: {line}"))));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_log(&self, log: Option<LogCallback>) {
        *lock(&self.shared.log) = log;
    }

    /// True while the handler thread runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the handler and unbinds [`ZAP_ENDPOINT`], waiting up to [`STOP_TIMEOUT`]
    /// for its thread; dropping does the same.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] if the thread did not end in time (it ends on its own once
    /// your log callback returns).
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
        match self.done.recv_timeout(STOP_TIMEOUT) {
            // Ended, or disconnected because the thread unwound: either way it is done.
            Ok(()) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
                Ok(())
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(Error::TimedOut),
        }
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The handler thread: wait for requests (or the stop), answer each in turn.
fn serve(mut router: Router, mut poller: Poller, shared: &Shared) {
    shared.log("started");
    while !shared.stop.load(Ordering::SeqCst) {
        {
            let mut items = [PollItem::readable(&mut router)];
            poller.poll(&mut items, None);
        }
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let msg = match router.try_recv() {
                Ok(msg) => msg,
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    shared.log(&format!("stopping: {e}"));
                    return;
                }
            };
            let answer = lock(&shared.policy).answer(msg.frames());
            shared.log(&answer.log);
            if let Some(reply) = answer.reply {
                if let Err(e) = router.try_send(reply.into_iter().collect::<crate::Message>()) {
                    shared.log(&format!("reply not sent: {}", e.error()));
                }
            }
        }
    }
    shared.log("stopped");
}
