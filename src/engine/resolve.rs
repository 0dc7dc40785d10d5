//! Host-name resolution for connecters, off the I/O thread.
//!
//! A tcp connect to a host name looks the name up again at every attempt, as libzmq does
//! (`tcp_connecter_t::open` resolves each time), so a name that moves to another address is
//! followed, and a `connect()` made while DNS is down starts working once it is back. libzmq
//! calls `getaddrinfo` on its I/O thread, which then stalls every other connection of that
//! thread for as long as the lookup takes; here the lookup runs on a short-lived helper
//! thread and its result comes back to the loop as [`Command::Resolved`].
//!
//! Bounds:
//! - at most one lookup per connecter is in flight ([`Pending`]): an attempt that finds one
//!   still running waits for its result instead of starting another, so the helper threads
//!   never outnumber the connecters;
//! - an attempt waits at most [`RESOLVE_TIMEOUT`] for its result, then counts as failed and
//!   backs off like a refused connect (the lookup itself cannot be cancelled; its late
//!   result serves the next attempt if one is waiting by then, and is dropped otherwise).
//!
//! Numeric hosts (and IPv6 zones, read from sysfs) need no helper: the loop connects at once.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::endpoint::{resolve_host, TcpEndpoint};

use super::{Command, IoShared};

/// How long a connect attempt waits for its host name to resolve. glibc gives up on one
/// name server after 5 s and tries twice by default, so a lookup that has not answered in
/// 10 s is most likely stuck.
pub(crate) const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A lookup function: host name and port to addresses in the order to try, or why there are
/// none.
type LookupFn = dyn Fn(&str, u16) -> Result<Vec<SocketAddr>, String> + Send + Sync;

/// Resolves host names for a connecter: the system resolver, or (in tests) any function.
#[derive(Clone)]
pub(crate) struct Resolver {
    lookup: Arc<LookupFn>,
    timeout: Duration,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// The system resolver ([`resolve_host`]), with [`RESOLVE_TIMEOUT`].
    pub(crate) fn system() -> Resolver {
        Resolver {
            lookup: Arc::new(resolve_host),
            timeout: RESOLVE_TIMEOUT,
        }
    }

    /// A resolver that calls `lookup` and waits `timeout` for it.
    #[cfg(test)]
    pub(crate) fn with(
        lookup: impl Fn(&str, u16) -> Result<Vec<SocketAddr>, String> + Send + Sync + 'static,
        timeout: Duration,
    ) -> Resolver {
        Resolver {
            lookup: Arc::new(lookup),
            timeout,
        }
    }

    /// How long an attempt waits for a lookup.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Looks `name` up on a new helper thread, which posts [`Command::Resolved`] for the
    /// connecter (`key`, `uid`) to the loop when done.
    ///
    /// # Errors
    ///
    /// The thread could not be started (the process is out of threads or memory); the
    /// attempt fails, and is retried after the back-off.
    pub(super) fn start(
        &self,
        shared: &Arc<IoShared>,
        key: usize,
        uid: u64,
        name: &str,
        port: u16,
    ) -> Result<(), String> {
        let lookup = self.lookup.clone();
        let shared = shared.clone();
        let name = name.to_owned();
        std::thread::Builder::new()
            .name("ferromq-resolve".into())
            .spawn(move || {
                let result = lookup(&name, port);
                // Gone if the I/O thread has exited; then nobody needs the answer.
                shared.send(Command::Resolved { key, uid, result });
            })
            .map(drop)
            .map_err(|e| format!("cannot start a thread to resolve the host name: {e}"))
    }
}

/// Where a tcp connecter connects: its endpoint, and how it resolves a host name there.
#[derive(Debug, Clone)]
pub(crate) struct TcpTarget {
    pub(crate) endpoint: TcpEndpoint,
    pub(crate) resolver: Resolver,
}

/// The lookup state of one connecter.
///
/// At most one lookup is in flight, and at most one deadline timer is armed: a timer that
/// goes off early (it was armed for an earlier attempt, which got its answer in time) is
/// armed again for the current deadline rather than a new one pushed per attempt, so a
/// short reconnect interval cannot fill the timer heap.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// A helper thread is looking the name up.
    in_flight: bool,
    /// An attempt is waiting for the lookup's result, until then.
    deadline: Option<Instant>,
    /// A deadline timer of this connecter is in the loop's timer heap.
    armed: bool,
}

/// What the loop does when it begins an attempt that needs a lookup.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Begin {
    /// Start a lookup (none is in flight).
    pub(super) start: bool,
    /// Arm a deadline timer for the attempt (none is armed).
    pub(super) arm: bool,
}

/// What the loop does when a deadline timer goes off.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    /// The waiting attempt's time is up: it fails.
    TimedOut,
    /// A later attempt waits: arm the timer again for its deadline.
    Rearm(Instant),
    /// Nothing waits any more.
    Idle,
}

impl Pending {
    /// An attempt needs addresses and waits for them until `deadline`.
    pub(super) fn begin(&mut self, deadline: Instant) -> Begin {
        self.deadline = Some(deadline);
        Begin {
            start: !std::mem::replace(&mut self.in_flight, true),
            arm: !std::mem::replace(&mut self.armed, true),
        }
    }

    /// Starting the lookup failed: nothing is in flight, and nothing waits (an armed timer
    /// will find nothing to do).
    pub(super) fn not_started(&mut self) {
        self.in_flight = false;
        self.deadline = None;
    }

    /// The lookup's result came. True when an attempt waits for it; false when none does
    /// (it gave up at its deadline), and the result is to be dropped.
    pub(super) fn finished(&mut self) -> bool {
        self.in_flight = false;
        self.deadline.take().is_some()
    }

    /// The deadline timer went off at `now`.
    pub(super) fn expired(&mut self, now: Instant) -> Expiry {
        match self.deadline {
            Some(deadline) if deadline <= now => {
                self.armed = false;
                self.deadline = None;
                Expiry::TimedOut
            }
            Some(deadline) => Expiry::Rearm(deadline),
            None => {
                self.armed = false;
                Expiry::Idle
            }
        }
    }
}

#[cfg(test)]
mod tests;
