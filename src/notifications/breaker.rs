//! When to retry a failed delivery: distribution's circuit breaker
//! (go-events `Breaker`). The first `threshold` consecutive failures are
//! retried at once; from then on each attempt waits until `backoff` has
//! passed since the last failure. A success closes the breaker again.
//! Events are never dropped by it: an event is retried until delivered.

use std::time::{Duration, Instant};

/// Consecutive failures and when the last one happened.
#[derive(Debug)]
pub struct Breaker {
    threshold: u64,
    backoff: Duration,
    recent: u64,
    last: Option<Instant>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u64, backoff: Duration) -> Breaker {
        Breaker { threshold, backoff, recent: 0, last: None }
    }

    /// How long to wait before the next attempt.
    pub fn wait(&self, now: Instant) -> Duration {
        match self.last {
            Some(last) if self.recent >= self.threshold => (last + self.backoff).saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }

    /// Records a failed attempt.
    pub fn failure(&mut self, now: Instant) {
        self.recent += 1;
        self.last = Some(now);
    }

    /// Records a delivery.
    pub fn success(&mut self) {
        self.recent = 0;
        self.last = None;
    }

    /// True when attempts now wait for the backoff.
    pub fn is_open(&self) -> bool {
        self.recent >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_at_once_until_the_threshold_then_backs_off() {
        let backoff = Duration::from_secs(1);
        let mut b = Breaker::new(2, backoff);
        let t0 = Instant::now();
        assert_eq!(b.wait(t0), Duration::ZERO);
        b.failure(t0);
        assert_eq!(b.wait(t0), Duration::ZERO);
        assert!(!b.is_open());
        b.failure(t0);
        assert!(b.is_open());
        assert_eq!(b.wait(t0), backoff);
        assert_eq!(b.wait(t0 + Duration::from_millis(400)), Duration::from_millis(600));
        assert_eq!(b.wait(t0 + backoff * 2), Duration::ZERO);
        b.success();
        assert_eq!(b.wait(t0), Duration::ZERO);
        assert!(!b.is_open());
    }
}
