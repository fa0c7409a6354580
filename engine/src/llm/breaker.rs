//! A circuit breaker: after `threshold` consecutive failures, calls are refused for
//! `cooldown`, then one call is let through to probe; success closes it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every caller of one provider.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    /// Consecutive failures, and until when the circuit is open. A `std` mutex: no `.await`
    /// happens under it.
    state: Mutex<(u32, Option<Instant>)>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, state: Mutex::new((0, None)) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut (u32, Option<Instant>)) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether a call may go to the provider now (after the cooldown, a probe may).
    pub fn allow(&self) -> bool {
        self.with(|(_, open_until)| open_until.is_none_or(|until| Instant::now() >= until))
    }

    /// Whether calls are being refused right now.
    pub fn is_open(&self) -> bool {
        !self.allow()
    }

    /// Records how a call ended.
    pub fn record(&self, success: bool) {
        self.with(|(failures, open_until)| {
            if success {
                *failures = 0;
                *open_until = None;
            } else {
                *failures += 1;
                if *failures >= self.threshold {
                    tracing::warn!(failures = *failures, "circuit open: the provider is failing");
                    *open_until = Some(Instant::now() + self.cooldown);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_repeated_failures_and_probes_after_the_cooldown() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            breaker.record(false);
        }
        assert!(breaker.allow());
        breaker.record(false);
        assert!(!breaker.allow());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(breaker.allow(), "a probe after the cooldown");
        breaker.record(false);
        assert!(!breaker.allow(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(10)).await;
        breaker.record(true);
        assert!(breaker.allow());
    }
}
