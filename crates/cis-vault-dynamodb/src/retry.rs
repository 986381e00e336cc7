use std::time::Duration;

/// Exponential backoff with full jitter for retries the SDK does not do itself (transaction
/// cancellations caused by conflicts or throttling): attempt 0 waits up to 50 ms, doubling up
/// to 3.2 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap_ms = 50u64.saturating_mul(1u64 << attempt.min(6));
    Duration::from_millis(jitter(cap_ms))
}

/// A cheap random number in `cap/2..=cap` from the std hasher's per-process random keys; no
/// cryptographic quality needed to spread retries.
fn jitter(cap_ms: u64) -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let half = cap_ms / 2;
    half + hasher.finish() % (cap_ms - half + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..20 {
            let cap = 50 * (1u64 << attempt.min(6));
            let d = backoff(attempt).as_millis() as u64;
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d} ms");
        }
    }
}
