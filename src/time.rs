//! Saturating time arithmetic for durations that come from callers or peers.
//!
//! Every `Duration` setting accepts any value up to [`Duration::MAX`], and a huge one means
//! "as long as possible". `Instant + Duration` panics when the sum cannot be represented,
//! so deadlines are made here instead: capped at [`FAR_FUTURE`] from now, which no timer
//! of this library ever reaches in practice and every platform's `Instant` can hold.

use std::time::{Duration, Instant};

/// The furthest a deadline is ever set: about a hundred years.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + after`, capped at [`FAR_FUTURE`] from now (and lower still on a platform whose
/// clock cannot hold that: the cap halves until the sum fits). Never panics.
pub(crate) fn deadline(now: Instant, after: Duration) -> Instant {
    let mut after = after.min(FAR_FUTURE);
    loop {
        if let Some(at) = now.checked_add(after) {
            return at;
        }
        after /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(deadline(now, Duration::ZERO), now);
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(deadline(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(deadline(now, FAR_FUTURE * 2), now + FAR_FUTURE);
        let far = deadline(now, Duration::MAX);
        // A deadline made from a far deadline still does not panic.
        assert!(deadline(far, Duration::MAX) >= far);
    }
}
