//! The one retry policy for every call ZoneCast makes to AWS (S3 PUT and GET, CloudFront
//! invalidations), on top of the SDK's own retries (which cover a single request's transient
//! failures within seconds; an S3 brownout lasts longer).
//!
//! Exponential backoff with "equal jitter" (a random delay between half and all of the step),
//! so two AZs and many streams do not retry in lockstep against a throttling bucket. Errors say
//! whether retrying can help ([`Retryable`]): throttling, 5xx and transport failures can; a
//! 403 or 400 cannot, so it is tried only `refused_attempts` times, slowly (credentials being
//! rotated). Each call site picks a named policy below, so the trade-offs are in one place.
//!
//! The decision ([`RetryPolicy::after_failure`]) is a pure function; [`retry`] is the thin
//! async loop around it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Whether another attempt of the same request can succeed.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

/// How many attempts a retryable error gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempts {
    /// Until it succeeds: for media, which must never be lost (the spool holds the backlog).
    Unlimited,
    /// At most this many attempts in all: for calls someone waits for.
    AtMost(u32),
}

/// One retry policy; use the named constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts in all while errors are retryable.
    pub attempts: Attempts,
    /// Attempts in all once an error says retrying cannot help.
    pub refused_attempts: u32,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryVerdict {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop and return the error.
    GiveUp,
}

impl RetryPolicy {
    /// Segment and index PUTs: never give up on the store coming back (nothing is lost, the
    /// spool holds what memory cannot); give up on a refusal after three slow tries.
    pub const UPLOAD: Self = Self {
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        attempts: Attempts::Unlimited,
        refused_attempts: 3,
    };

    /// The indexes a new publish learns its numbering from (its own and its peer's). The
    /// encoder waits for the answer, so the budget is short (about 2 s); a wrong "there is no
    /// index" would start a fresh numbering, so a blip is worth retrying.
    pub const PUBLISH_INDEX_READ: Self = Self {
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        attempts: Attempts::AtMost(5),
        refused_attempts: 1,
    };

    /// The playlist function's index reads: a viewer waits, and an error answer is covered
    /// by the CDN's stale copy, so one quick retry only.
    pub const PLAYLIST_INDEX_READ: Self = Self {
        first_backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(200),
        attempts: Attempts::AtMost(3),
        refused_attempts: 1,
    };

    /// CloudFront invalidations after a restarted stream: in the background, nobody waits,
    /// CloudFront throttles `CreateInvalidation` hard, so slow and bounded (about a minute).
    pub const INVALIDATION: Self = Self {
        first_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(20),
        attempts: Attempts::AtMost(6),
        refused_attempts: 2,
    };

    /// The pure decision after attempt number `attempt` (1-based) failed, `refused` of them
    /// (this one included) with a non-retryable error.
    pub fn after_failure(&self, attempt: u32, refused: u32, retryable: bool) -> RetryVerdict {
        if !retryable && refused >= self.refused_attempts {
            return RetryVerdict::GiveUp;
        }
        if let Attempts::AtMost(n) = self.attempts
            && attempt >= n
        {
            return RetryVerdict::GiveUp;
        }
        RetryVerdict::RetryAfter(self.backoff(attempt, retryable))
    }

    /// The delay after attempt `attempt` (1-based) failed: doubling from `first_backoff`
    /// up to `max_backoff` (straight to `max_backoff` when retrying cannot help), jittered.
    pub fn backoff(&self, attempt: u32, retryable: bool) -> Duration {
        let step = if retryable {
            let doublings = attempt.saturating_sub(1).min(16);
            self.first_backoff
                .saturating_mul(1 << doublings)
                .min(self.max_backoff)
        } else {
            self.max_backoff
        };
        let half = step / 2;
        half + half.mul_f64(jitter())
    }
}

/// One failed attempt, as [`retry`] reports it before waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt {
    /// 1-based.
    pub number: u32,
    /// `None`: this was the last attempt; the error is returned.
    pub wait: Option<Duration>,
}

/// Runs `op` until it succeeds or `policy` gives up; `on_failure` sees every failure (for a
/// log line and a metric) before the wait.
#[cfg(feature = "s3")]
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut op: F,
    mut on_failure: impl FnMut(&E, FailedAttempt),
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0u32;
    let mut refused = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        match op().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                let retryable = err.is_retryable();
                if !retryable {
                    refused = refused.saturating_add(1);
                }
                match policy.after_failure(attempt, refused, retryable) {
                    RetryVerdict::GiveUp => {
                        on_failure(
                            &err,
                            FailedAttempt {
                                number: attempt,
                                wait: None,
                            },
                        );
                        return Err(err);
                    }
                    RetryVerdict::RetryAfter(wait) => {
                        on_failure(
                            &err,
                            FailedAttempt {
                                number: attempt,
                                wait: Some(wait),
                            },
                        );
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }
}

/// A number in [0, 1), different on every call; not for cryptography.
fn jitter() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 over a counter mixed with the clock.
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [(&str, RetryPolicy); 4] = [
        ("upload", RetryPolicy::UPLOAD),
        ("publish index read", RetryPolicy::PUBLISH_INDEX_READ),
        ("playlist index read", RetryPolicy::PLAYLIST_INDEX_READ),
        ("invalidation", RetryPolicy::INVALIDATION),
    ];

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for (what, p) in ALL {
            for attempt in 1..40 {
                let d = p.backoff(attempt, true);
                assert!(d <= p.max_backoff, "{what}: {d:?}");
                assert!(d >= p.first_backoff / 2, "{what}: {d:?}");
            }
            let a: Vec<_> = (0..8).map(|_| p.backoff(10, true)).collect();
            assert!(a.windows(2).any(|w| w[0] != w[1]), "{what}: no jitter");
            assert!(p.backoff(1, false) >= p.max_backoff / 2, "{what}");
        }
    }

    #[test]
    fn backoff_doubles_until_the_cap() {
        let p = RetryPolicy::UPLOAD;
        // Equal jitter: each step lies in [step/2, step].
        let in_step = |attempt, step: Duration| {
            let d = p.backoff(attempt, true);
            d >= step / 2 && d <= step
        };
        assert!(in_step(1, Duration::from_millis(100)));
        assert!(in_step(2, Duration::from_millis(200)));
        assert!(in_step(4, Duration::from_millis(800)));
        assert!(in_step(10, Duration::from_secs(5)));
    }

    /// The verdict table: (policy, attempt, refused so far, retryable) → gives up?
    #[test]
    fn verdicts() {
        use RetryPolicy as P;
        let cases: &[(&str, P, u32, u32, bool, bool)] = &[
            (
                "uploads retry a throttling store forever",
                P::UPLOAD,
                1_000,
                0,
                true,
                false,
            ),
            (
                "uploads try a refusal three times",
                P::UPLOAD,
                2,
                2,
                false,
                false,
            ),
            ("... and then give up", P::UPLOAD, 3, 3, false, true),
            (
                "publish reads have five attempts",
                P::PUBLISH_INDEX_READ,
                4,
                0,
                true,
                false,
            ),
            ("... and no sixth", P::PUBLISH_INDEX_READ, 5, 0, true, true),
            (
                "a refused publish read is not retried",
                P::PUBLISH_INDEX_READ,
                1,
                1,
                false,
                true,
            ),
            (
                "playlist reads retry twice",
                P::PLAYLIST_INDEX_READ,
                2,
                0,
                true,
                false,
            ),
            (
                "... not three times",
                P::PLAYLIST_INDEX_READ,
                3,
                0,
                true,
                true,
            ),
            (
                "invalidations try a refusal twice",
                P::INVALIDATION,
                1,
                1,
                false,
                false,
            ),
            ("... and then give up", P::INVALIDATION, 2, 2, false, true),
            (
                "invalidations have six attempts",
                P::INVALIDATION,
                6,
                0,
                true,
                true,
            ),
        ];
        for &(what, policy, attempt, refused, retryable, gives_up) in cases {
            let verdict = policy.after_failure(attempt, refused, retryable);
            assert_eq!(
                verdict == RetryVerdict::GiveUp,
                gives_up,
                "{what}: {verdict:?}"
            );
        }
    }

    /// The named budgets stay what their docs promise: a publish waits about 2 s at most, a
    /// viewer a few hundred ms.
    #[test]
    fn bounded_budgets_are_short() {
        let worst = |p: RetryPolicy| {
            let Attempts::AtMost(n) = p.attempts else {
                return Duration::MAX;
            };
            (1..n)
                .map(|a| {
                    let step = p.first_backoff.saturating_mul(1 << (a - 1));
                    step.min(p.max_backoff)
                })
                .sum::<Duration>()
        };
        assert!(worst(RetryPolicy::PUBLISH_INDEX_READ) <= Duration::from_millis(2_500));
        assert!(worst(RetryPolicy::PLAYLIST_INDEX_READ) <= Duration::from_millis(300));
        assert!(worst(RetryPolicy::INVALIDATION) <= Duration::from_secs(90));
        assert_eq!(worst(RetryPolicy::UPLOAD), Duration::MAX);
    }

    #[cfg(feature = "s3")]
    #[tokio::test]
    async fn retry_runs_until_success_or_the_verdict() {
        #[derive(Debug, PartialEq)]
        struct E(bool);
        impl Retryable for E {
            fn is_retryable(&self) -> bool {
                self.0
            }
        }
        // Two transient failures, then success.
        let mut calls = 0;
        let mut seen = Vec::new();
        let out = retry(
            &RetryPolicy::PUBLISH_INDEX_READ,
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err(E(true)) } else { Ok(n) } }
            },
            |_, a| seen.push(a),
        )
        .await;
        assert_eq!(out, Ok(3));
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|a| a.wait.is_some()));
        // A refusal: one attempt, reported as the last.
        let mut seen = Vec::new();
        let out: Result<(), E> = retry(
            &RetryPolicy::PUBLISH_INDEX_READ,
            || async { Err(E(false)) },
            |_, a| seen.push(a),
        )
        .await;
        assert_eq!(out, Err(E(false)));
        assert_eq!(
            seen,
            vec![FailedAttempt {
                number: 1,
                wait: None
            }]
        );
    }
}
