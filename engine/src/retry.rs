//! The one retry loop of Viva's HTTP providers (the LLM client, speech-to-text and
//! text-to-speech over OpenAI-compatible APIs), so their fault rules cannot drift apart:
//! connect errors, timeouts, 429 and 5xx are worth another try; 401/403 and other 4xx are not;
//! a `Retry-After` is honoured; otherwise the backoff doubles from `Retries::backoff`, with
//! jitter so many sessions do not retry in lockstep, and is never longer than 30 s.
//! Each provider keeps its own error type and says how a status maps to it ([`HttpError`]).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// The longest wait between two attempts, whatever a provider's `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// How often and how patiently to try again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retries {
    /// Retries after the first attempt.
    pub max: u32,
    /// First backoff; doubled each retry, with jitter.
    pub backoff: Duration,
}

/// What one attempt came to.
pub(crate) enum Attempt<T, E> {
    Done(T),
    /// Worth another try, after the wait the provider asked for, if any.
    Retry(E, Option<Duration>),
    /// Not worth another try.
    Fail(E),
}

/// A provider's error, as built from an HTTP answer that is not a success.
pub(crate) trait HttpError: Sized {
    fn unauthorized(code: u16) -> Self;
    fn rate_limited() -> Self;
    fn status(code: u16) -> Self;
}

/// The response if it is a success (2xx); otherwise whether the failure is worth a retry.
pub(crate) fn judge<E: HttpError>(response: reqwest::Response) -> Attempt<reqwest::Response, E> {
    match response.status().as_u16() {
        200..=299 => Attempt::Done(response),
        code @ (401 | 403) => Attempt::Fail(E::unauthorized(code)),
        429 => Attempt::Retry(E::rate_limited(), retry_after(&response)),
        code @ 500..=599 => Attempt::Retry(E::status(code), None),
        code => Attempt::Fail(E::status(code)),
    }
}

/// Runs `attempt(0)`, `attempt(1)`, ... until one is done, fails for good, or the retries are
/// spent (the last error is returned). `what` names the provider in the log line of a retry.
pub(crate) async fn retrying<T, E, F, Fut>(retries: Retries, what: &str, mut attempt: F) -> Result<T, E>
where
    E: Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let mut number = 0;
    loop {
        let (error, wait) = match attempt(number).await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Fail(error) => return Err(error),
            Attempt::Retry(error, wait) => (error, wait),
        };
        if number >= retries.max {
            return Err(error);
        }
        let backoff = wait.unwrap_or_else(|| jittered(retries.backoff * 2u32.pow(number))).min(MAX_WAIT);
        tracing::warn!(%error, attempt = number, backoff_ms = backoff.as_millis() as u64, "{what} request failed; retrying");
        tokio::time::sleep(backoff).await;
        number += 1;
    }
}

/// `Retry-After` in seconds, if the provider sent one.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// `base` plus up to 50% random jitter.
pub(crate) fn jittered(base: Duration) -> Duration {
    let random = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base * random / 2000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Failed(u32);

    impl Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "attempt {}", self.0)
        }
    }

    const RETRIES: Retries = Retries { max: 2, backoff: Duration::from_millis(100) };

    #[tokio::test(start_paused = true)]
    async fn retries_until_done_with_doubling_jittered_backoff() {
        let started = tokio::time::Instant::now();
        let mut seen = Vec::new();
        let result = retrying(RETRIES, "test", |n| {
            seen.push(n);
            async move { if n < 2 { Attempt::Retry(Failed(n), None) } else { Attempt::Done(n) } }
        })
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(seen, [0, 1, 2]);
        // 100 ms then 200 ms, each with up to 50% jitter (paused time: exact, not measured).
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300) && waited <= Duration::from_millis(450), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_the_last_error_when_retries_are_spent_and_honours_the_providers_wait() {
        let started = tokio::time::Instant::now();
        let result: Result<(), _> =
            retrying(RETRIES, "test", |n| async move { Attempt::Retry(Failed(n), Some(Duration::from_secs(7))) }).await;
        assert_eq!(result, Err(Failed(2)));
        assert_eq!(started.elapsed(), Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_failure_is_not_retried_and_waits_are_capped() {
        let mut calls = 0;
        let result: Result<(), _> = retrying(RETRIES, "test", |n| {
            calls += 1;
            async move { Attempt::Fail(Failed(n)) }
        })
        .await;
        assert_eq!((result, calls), (Err(Failed(0)), 1));

        let started = tokio::time::Instant::now();
        let _: Result<(), _> = retrying(Retries { max: 1, ..RETRIES }, "test", |n| async move {
            Attempt::Retry(Failed(n), Some(Duration::from_secs(3600)))
        })
        .await;
        assert_eq!(started.elapsed(), MAX_WAIT);
    }
}
