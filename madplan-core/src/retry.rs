//! Retrying calls: one policy type and one loop for the engine and every
//! provider client, on `backon`'s exponential backoff with jitter.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// How failed calls are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// The first pause.
    pub min_delay: Duration,
    /// The longest pause the backoff grows to.
    pub max_delay: Duration,
    /// The longest wait a server may ask for (`Retry-After`, a rate-limit
    /// reset); a longer one fails the call at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// A failed attempt: the error, whether the call may be made again, and how
/// long the server asked to wait first.
#[derive(Debug)]
pub struct Attempt<E> {
    /// The error.
    pub error: E,
    /// Whether another attempt may be made.
    pub retry: bool,
    /// The wait the server asked for, if it did.
    pub wait: Option<Duration>,
}

impl<E> Attempt<E> {
    /// An error that another attempt will not fix.
    pub fn fatal(error: E) -> Self {
        Self {
            error,
            retry: false,
            wait: None,
        }
    }

    /// An error worth another attempt, after `wait` if the server said.
    pub fn again(error: E, wait: Option<Duration>) -> Self {
        Self {
            error,
            retry: true,
            wait,
        }
    }
}

/// The last failed attempt of a call, and how many attempts were made.
#[derive(Debug)]
pub struct Failed<E> {
    /// The last attempt.
    pub last: Attempt<E>,
    /// How many attempts were made in all.
    pub attempts: usize,
}

/// Runs `attempt` until it succeeds, fails for good, asks for a longer wait
/// than the policy allows, or the retries run out. Waits the server's
/// requested time when given, else the backoff's. Each retry is logged with
/// `call` as its label and reported to `on_retry`.
pub async fn with_retries<T, E, Fut>(
    policy: &RetryPolicy,
    call: &str,
    mut attempt: impl FnMut() -> Fut,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, Failed<E>>
where
    E: Display,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_retries)
        .with_jitter();
    let max_wait = policy.max_retry_after;
    let mut attempts = 0usize;
    let result = (|| {
        attempts += 1;
        attempt()
    })
    .retry(backoff)
    .sleep(tokio::time::sleep)
    .when(|a: &Attempt<E>| a.retry && a.wait.is_none_or(|w| w <= max_wait))
    .adjust(|a: &Attempt<E>, planned| planned.map(|d| a.wait.unwrap_or(d)))
    .notify(|a: &Attempt<E>, wait| {
        tracing::warn!(call, error = %a.error, ?wait, "retrying a call");
        on_retry(&a.error, wait);
    })
    .await;
    result.map_err(|last| Failed { last, attempts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn retries_until_success_and_stops_on_fatal_errors() {
        let mut n = 0;
        let r: Result<u32, Failed<String>> = with_retries(
            &quick(),
            "test",
            || {
                n += 1;
                let k = n;
                async move {
                    if k < 3 {
                        Err(Attempt::again("busy".to_string(), None))
                    } else {
                        Ok(k)
                    }
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(r.unwrap(), 3);

        let f = with_retries::<(), _, _>(
            &quick(),
            "test",
            || async { Err(Attempt::fatal("no".to_string())) },
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert_eq!(f.attempts, 1);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_long_waits_are_refused() {
        let mut seen = 0;
        let f = with_retries::<(), _, _>(
            &quick(),
            "test",
            || async { Err(Attempt::again("busy".to_string(), None)) },
            |_, _| seen += 1,
        )
        .await
        .unwrap_err();
        assert_eq!((f.attempts, seen), (4, 3));
        let f = with_retries::<(), _, _>(
            &quick(),
            "test",
            || async {
                Err(Attempt::again(
                    "later".to_string(),
                    Some(Duration::from_secs(600)),
                ))
            },
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert_eq!(f.attempts, 1);
    }
}
