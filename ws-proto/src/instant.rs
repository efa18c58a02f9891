//! The core's notion of time.
//!
//! `ws-proto` never reads a clock: every handler that depends on time takes an [`Instant`] argument.
//! An `Instant` is a [`Duration`] since an epoch the driver picks (for instance the moment the
//! driver started, `std::time::Instant::now() - epoch`), so it works without `std`, converts
//! losslessly from `std::time::Instant`, and lets tests and fuzzers use a virtual clock.

use core::ops::Add;
use core::time::Duration;

/// A point in time, as the duration since an epoch chosen by the driver.
///
/// All instants given to one connection must share the same epoch. Arithmetic saturates instead
/// of overflowing, so no input can make the core panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(Duration::ZERO);
    /// The latest representable instant; used where a deadline would overflow.
    pub const MAX: Instant = Instant(Duration::MAX);

    /// The instant `since_epoch` after the epoch.
    pub const fn from_duration(since_epoch: Duration) -> Self {
        Instant(since_epoch)
    }

    /// The instant `millis` milliseconds after the epoch (handy for tests and fuzzers).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(Duration::from_millis(millis))
    }

    /// The time elapsed since the epoch.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// `self + d`, or [`Instant::MAX`] if that does not fit.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.checked_add(d).unwrap_or(Duration::MAX))
    }

    /// How long after `earlier` this instant is, or zero if it is not after it.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating: never panics.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl From<Duration> for Instant {
    fn from(since_epoch: Duration) -> Self {
        Instant(since_epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addition_saturates_instead_of_panicking() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(
            Instant::from_millis(1) + Duration::from_millis(2),
            Instant::from_millis(3)
        );
    }

    #[test]
    fn duration_since_is_zero_when_not_later() {
        let a = Instant::from_millis(5);
        let b = Instant::from_millis(9);
        assert_eq!(b.saturating_duration_since(a), Duration::from_millis(4));
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    }
}
