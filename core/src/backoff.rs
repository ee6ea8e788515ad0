//! Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
//! Jitter"): after `n` failures in a row, wait `random(0, min(cap, base × 2^n))`.
//!
//! Pure: the random draw is passed in. Used by the resolver's config refreshes after failed
//! fetches and its push streams reconnecting, and by the control plane's webhook retries.

use std::time::Duration;

/// Backoff bounds: the first ceiling `base` doubles with every failure in a row, up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling after 0 failures.
    pub base: Duration,
    /// Largest ceiling (at least `base`).
    pub cap: Duration,
}

impl Backoff {
    /// Doublings counted at most: past 2^20 × base, any sensible cap has been reached.
    const MAX_DOUBLINGS: u32 = 20;

    /// The ceiling after `failures` failures in a row: `min(cap, base × 2^failures)`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << failures.min(Self::MAX_DOUBLINGS))
            .min(self.cap)
    }

    /// The wait after `failures` failures in a row, given `unit`, a uniform draw in `[0, 1)`
    /// (clamped to `[0, 1]`).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        self.ceiling(failures).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_jitters_below_the_ceiling() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        };
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(9), Duration::from_secs(300));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(300));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
        let tiny = Backoff {
            base: Duration::from_nanos(1),
            cap: Duration::MAX,
        };
        assert_eq!(tiny.ceiling(40), Duration::from_nanos(1 << 20));
    }
}
