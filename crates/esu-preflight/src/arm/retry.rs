//! Our retry policy: retries throttling, server errors and connection failures, honours the
//! server's retry hints up to a cap, and never sleeps past the overall deadline.
//!
//! It is a per-call policy (the pipeline's own retry is `RetryOptions::none()`), so it wraps
//! the per-try policies (authentication, counting) and the transport. Inside the policy chain
//! a non-2xx answer is an `Ok` response — `azure_core`'s status check only runs at the end, in
//! `Pipeline::send` (and we skip it there, to read the error body ourselves) — so the status is
//! inspected here.

use crate::arm::{auth::into_core, error::ArmError};
use azure_core::{
    error::ErrorKind,
    http::{
        Context, Request, StatusCode,
        headers::{HeaderName, Headers},
        policies::{Policy, PolicyResult},
    },
    time::OffsetDateTime,
};
use std::{
    hash::{BuildHasher, Hasher},
    sync::Arc,
    time::Duration,
};
use tokio::time::Instant;

const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");

/// Retry settings.
#[derive(Debug, Clone)]
pub(crate) struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The cap on one wait, including server-requested ones.
    pub max_retry_wait: Duration,
    /// The first backoff delay (doubled per retry, with jitter).
    pub base_delay: Duration,
    /// The cap on a backoff delay.
    pub max_delay: Duration,
    /// The overall deadline.
    pub deadline: Instant,
    /// The overall timeout (for the [`ArmError::Deadline`] message).
    pub timeout: Duration,
}

/// Whether an answer with this status is retried.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(u16::from(status), 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait the server asked for: `x-ms-retry-after-ms`, `retry-after-ms` (milliseconds) or
/// `Retry-After` (seconds or an HTTP date).
pub(crate) fn server_retry_after(headers: &Headers, now: OffsetDateTime) -> Option<Duration> {
    for name in [X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS] {
        if let Some(ms) = headers
            .get_optional_str(&name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
        {
            return Some(Duration::from_secs_f64((ms / 1000.0).min(1e9)));
        }
    }
    let value = headers.get_optional_str(&RETRY_AFTER)?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = azure_core::time::parse_rfc7231(value).ok()?;
    let wait = at - now;
    Some(if wait.is_negative() {
        Duration::ZERO
    } else {
        wait.unsigned_abs()
    })
}

/// A random number in [0, 1).
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

impl RetrySettings {
    /// The backoff before retry number `retry` (1-based): exponential, capped, with jitter
    /// (between half and all of the exponential value).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        exp.mul_f64(0.5 + 0.5 * random_unit())
    }

    /// The wait before retry number `retry`, given the server's hint.
    pub(crate) fn wait(&self, retry: u32, server: Option<Duration>) -> Duration {
        server
            .unwrap_or_else(|| self.backoff(retry))
            .min(self.max_retry_wait)
    }
}

/// The retry policy.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    settings: RetrySettings,
}

impl RetryPolicy {
    pub(crate) fn new(settings: RetrySettings) -> Self {
        RetryPolicy { settings }
    }
}

#[async_trait::async_trait]
impl Policy for RetryPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let mut retry = 0u32;
        loop {
            if retry > 0 {
                request.body_mut().reset().await?;
            }
            let result = next[0].send(ctx, request, &next[1..]).await;
            let server_wait = match &result {
                Ok(response) if is_retryable_status(response.status()) => {
                    server_retry_after(response.headers(), OffsetDateTime::now_utc())
                }
                Ok(_) => return result,
                Err(e) if matches!(e.kind(), ErrorKind::Io | ErrorKind::Connection) => None,
                Err(_) => return result,
            };
            if retry >= self.settings.max_retries {
                return result;
            }
            retry += 1;
            let wait = self.settings.wait(retry, server_wait);
            if Instant::now() + wait >= self.settings.deadline {
                return Err(into_core(ArmError::Deadline {
                    timeout: self.settings.timeout,
                }));
            }
            drop(result);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::headers::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn settings() -> RetrySettings {
        RetrySettings {
            max_retries: 5,
            max_retry_wait: Duration::from_secs(60),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            deadline: Instant::now() + Duration::from_secs(300),
            timeout: Duration::from_secs(300),
        }
    }

    #[test]
    fn parses_retry_hints() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            server_retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            server_retry_after(&headers(&[("retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            server_retry_after(
                &headers(&[("x-ms-retry-after-ms", "100"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            server_retry_after(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(
            server_retry_after(&headers(&[("retry-after", "-3")]), now),
            None
        );
        assert_eq!(server_retry_after(&headers(&[]), now), None);
        let past = headers(&[("retry-after", "Fri, 01 Jan 2021 00:00:00 GMT")]);
        assert_eq!(server_retry_after(&past, now), Some(Duration::ZERO));
        let base = azure_core::time::parse_rfc7231("Fri, 01 Jan 2021 00:00:00 GMT").unwrap();
        let future = headers(&[("retry-after", "Fri, 01 Jan 2021 00:00:30 GMT")]);
        assert_eq!(
            server_retry_after(&future, base),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn waits_are_capped_and_jittered() {
        let s = settings();
        assert_eq!(
            s.wait(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
        for retry in 1..=20 {
            let b = s.backoff(retry);
            let exp = Duration::from_millis(500)
                .saturating_mul(2u32.saturating_pow(retry - 1))
                .min(Duration::from_secs(30));
            assert!(b >= exp / 2 && b <= exp, "{retry}: {b:?}");
        }
        assert!(is_retryable_status(StatusCode::TooManyRequests));
        assert!(is_retryable_status(StatusCode::RequestTimeout));
        assert!(!is_retryable_status(StatusCode::NotFound));
        assert!(!is_retryable_status(StatusCode::NotImplemented));
    }
}
