//! A circuit breaker: after `threshold` consecutive failures, calls are refused for
//! `cooldown`; then a single call is let through to probe, and its outcome closes the circuit
//! or opens it for another cooldown.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every caller of one provider.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    /// A `std` mutex: no `.await` happens under it.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Consecutive failures.
    failures: u32,
    /// Until when calls are refused.
    open_until: Option<Instant>,
    /// A probe is in flight after the cooldown: others are still refused.
    probing: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, state: Mutex::new(State::default()) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether a call may go to the provider now; after the cooldown, one probe may.
    pub fn allow(&self) -> bool {
        self.with(|state| match state.open_until {
            None => true,
            Some(until) if Instant::now() < until || state.probing => false,
            Some(_) => {
                state.probing = true;
                true
            }
        })
    }

    /// Whether calls are being refused right now (without taking the probe).
    pub fn is_open(&self) -> bool {
        self.with(|state| state.open_until.is_some_and(|until| Instant::now() < until || state.probing))
    }

    /// A call ended without an outcome (its caller went away): if it was the probe, the next
    /// call probes instead.
    pub fn abandon(&self) {
        self.with(|state| state.probing = false);
    }

    /// Records how a call that reached the provider ended.
    pub fn record(&self, success: bool) {
        self.with(|state| {
            state.probing = false;
            if success {
                *state = State::default();
                return;
            }
            state.failures += 1;
            if state.failures >= self.threshold {
                tracing::warn!(failures = state.failures, "circuit open: the provider is failing");
                state.open_until = Some(Instant::now() + self.cooldown);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_repeated_failures_and_probes_once_after_the_cooldown() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            breaker.record(false);
        }
        assert!(breaker.allow());
        breaker.record(false);
        assert!(!breaker.allow());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(breaker.allow(), "a probe after the cooldown");
        assert!(!breaker.allow(), "only one");
        breaker.record(false);
        assert!(!breaker.allow(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(breaker.allow());
        breaker.record(true);
        assert!(breaker.allow() && breaker.allow(), "a good probe closes it");
    }
}
