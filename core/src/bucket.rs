//! Sticky canary bucketing: an install id → a bucket in `0..10_000` (the canary of
//! `docs/seed.md`, S8, made sticky per install).
//!
//! The hash is documented so other SDKs reproduce it exactly (golden vectors in
//! `test-data/buckets.json` at the repository root):
//!
//! 1. Take the UTF-8 bytes of `"sourcegate:" + install_id`.
//! 2. Hash them with MurmurHash3 x86 32-bit, seed `0` (the hash Unleash's SDKs use for their
//!    sticky rollouts, available in every language).
//! 3. `bucket = hash % 10_000`.
//!
//! An install is on the CDN in canary mode iff `bucket < percent × 100` (basis points). Because the
//! bucket never changes for an install, raising the percent only moves installs from Git to the
//! CDN, never back.

/// Number of buckets: one bucket is 0.01 % of installs (a basis point).
pub const BUCKETS: u32 = 10_000;

/// The namespace prefix hashed before the install id.
pub const PREFIX: &str = "sourcegate:";

/// A canary bucket in `0..BUCKETS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(pub u32);

impl Bucket {
    /// Whether this bucket is inside a canary of `threshold_bp` basis points (`percent × 100`).
    pub fn in_canary(self, threshold_bp: u32) -> bool {
        self.0 < threshold_bp
    }
}

/// The bucket of `install_id`, by the rule in this module's docs.
///
/// # Examples
/// ```
/// let b = sourcegate_core::bucket::bucket_of("install-0001");
/// assert!(b.0 < sourcegate_core::bucket::BUCKETS);
/// assert_eq!(b, sourcegate_core::bucket::bucket_of("install-0001"));
/// ```
pub fn bucket_of(install_id: &str) -> Bucket {
    // Stream prefix and id into one MurmurHash3 state: no concatenation, no allocation.
    let mut h = mur3::Hasher32::with_seed(0);
    std::hash::Hasher::write(&mut h, PREFIX.as_bytes());
    std::hash::Hasher::write(&mut h, install_id.as_bytes());
    Bucket(h.finish32() % BUCKETS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_murmur3_vectors() {
        // Reference values of MurmurHash3_x86_32 with seed 0 (SMHasher).
        let h = |s: &str| mur3::murmurhash3_x86_32(s.as_bytes(), 0);
        assert_eq!(h(""), 0);
        assert_eq!(h("hello"), 0x248b_fa47);
        assert_eq!(
            h("The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    #[test]
    fn streaming_equals_concatenation() {
        let whole = format!("{PREFIX}abc-123");
        let h = mur3::murmurhash3_x86_32(whole.as_bytes(), 0);
        assert_eq!(bucket_of("abc-123"), Bucket(h % BUCKETS));
    }
}
