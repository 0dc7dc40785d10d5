//! The I/O thread's timers: at most one pending timer per owner and kind, and every
//! timer of an owner cancelled when the owner goes.
//!
//! A connection has five kinds of timer (handshake, linger, heartbeat, heartbeat timeout,
//! TTL), a connecter one (reconnect) and a listener one (accept retry). Arming a kind
//! that is already pending moves it, so a peer that sends PING after PING, or a flood of
//! connections opened and closed, leaves the number of pending timers bounded by the
//! number of live owners times the kinds each has.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// What a timer belongs to: a connection or listener (by slab key), or a connecter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Owner {
    Entry(usize),
    Connecter(usize),
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// Attempt the connecter again.
    Reconnect,
    /// End the connection if its handshake is still unfinished.
    Handshake,
    /// End the lingering connection.
    Linger,
    /// Send a PING and arm the next one.
    Heartbeat,
    /// End the connection if nothing came since its PING.
    HeartbeatTimeout,
    /// End the connection if nothing came within the TTL the peer announced.
    Ttl,
    /// Try the listener again after `accept` failed for lack of resources.
    Accept,
    /// Stop waiting for the connecter's host-name lookup, if it is late.
    Resolve,
    /// End the tcp connect if it is still under way (`ZMQ_CONNECT_TIMEOUT`).
    ConnectTimeout,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Reconnect,
        Kind::Handshake,
        Kind::Linger,
        Kind::Heartbeat,
        Kind::HeartbeatTimeout,
        Kind::Ttl,
        Kind::Accept,
        Kind::Resolve,
        Kind::ConnectTimeout,
    ];
}

/// A timer that fired: its owner, kind, and the uid of the connection or connecter it
/// was armed for (a slab key can be reused by a later owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fired {
    pub(super) owner: Owner,
    pub(super) kind: Kind,
    pub(super) uid: u64,
}

/// Pending timers in deadline order, each findable by its owner and kind.
#[derive(Debug, Default)]
pub(super) struct Timers {
    /// (deadline, sequence) -> the timer; the sequence keeps equal deadlines apart.
    queue: BTreeMap<(Instant, u64), Fired>,
    /// (owner, kind) -> its key in `queue`.
    armed: HashMap<(Owner, Kind), (Instant, u64)>,
    seq: u64,
}

impl Timers {
    /// Arms the owner's timer of this kind for `at`, replacing one already pending.
    pub(super) fn arm(&mut self, owner: Owner, kind: Kind, uid: u64, at: Instant) {
        self.cancel(owner, kind);
        self.seq = self.seq.wrapping_add(1);
        let key = (at, self.seq);
        self.queue.insert(key, Fired { owner, kind, uid });
        self.armed.insert((owner, kind), key);
    }

    /// Cancels the owner's timer of this kind, if pending.
    pub(super) fn cancel(&mut self, owner: Owner, kind: Kind) {
        if let Some(key) = self.armed.remove(&(owner, kind)) {
            self.queue.remove(&key);
        }
    }

    /// Cancels every timer of the owner (it is going away).
    pub(super) fn cancel_owner(&mut self, owner: Owner) {
        for kind in Kind::ALL {
            self.cancel(owner, kind);
        }
    }

    /// When the earliest pending timer is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Takes the earliest timer due at or before `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Fired> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let fired = entry.remove();
        self.armed.remove(&(fired.owner, fired.kind));
        Some(fired)
    }

    /// How many timers are pending.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        debug_assert_eq!(self.queue.len(), self.armed.len());
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn arming_again_moves_the_timer_and_cancel_owner_clears_all() {
        let now = Instant::now();
        let mut t = Timers::default();
        let conn = Owner::Entry(3);
        for i in 0..10_000u64 {
            t.arm(conn, Kind::Ttl, 7, now + Duration::from_millis(i));
        }
        t.arm(conn, Kind::Heartbeat, 7, now);
        t.arm(Owner::Connecter(3), Kind::Reconnect, 9, now);
        assert_eq!(t.len(), 3);
        t.cancel_owner(conn);
        assert_eq!(t.len(), 1);
        let fired = t.pop_due(now).unwrap();
        assert_eq!(fired.owner, Owner::Connecter(3));
        assert_eq!(fired.uid, 9);
        assert_eq!(t.len(), 0);
        assert!(t.next_deadline().is_none());
    }

    #[test]
    fn timers_fire_in_deadline_order_and_not_early() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.arm(
            Owner::Entry(1),
            Kind::Linger,
            1,
            now + Duration::from_secs(2),
        );
        t.arm(
            Owner::Entry(2),
            Kind::Linger,
            2,
            now + Duration::from_secs(1),
        );
        t.arm(
            Owner::Entry(3),
            Kind::Linger,
            3,
            now + Duration::from_secs(1),
        );
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(1)));
        assert!(t.pop_due(now).is_none());
        let later = now + Duration::from_secs(1);
        assert_eq!(t.pop_due(later).unwrap().uid, 2);
        assert_eq!(t.pop_due(later).unwrap().uid, 3);
        assert!(t.pop_due(later).is_none());
        assert_eq!(t.pop_due(now + Duration::from_secs(3)).unwrap().uid, 1);
    }
}
