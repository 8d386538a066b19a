//! Our retry policy: retries throttling, server errors and connection failures, honours the
//! server's retry hints up to a cap, and never sleeps past the overall deadline.
//!
//! It is a per-call policy (the pipeline's own retry is `RetryOptions::none()`), so it wraps
//! the per-try policies (authentication, counting) and the transport. Inside the policy chain
//! a non-2xx answer is an `Ok` response — `azure_core`'s status check only runs at the end, in
//! `Pipeline::send` (and we skip it there, to read the error body ourselves) — so the status is
//! inspected here.

use crate::arm::error::ArmError;
use azure_core::{
    error::ErrorKind,
    http::{
        AsyncRawResponse, Context, Request, StatusCode,
        headers::{HeaderName, Headers},
        policies::{Policy, PolicyResult},
    },
    time::OffsetDateTime,
};
use std::{
    hash::{BuildHasher, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");

/// One operation: its deadline and the last failure it saw, shared by every request of the
/// operation (all pages of a list; with [`ArmClient::with_deadline`](crate::arm::ArmClient::with_deadline),
/// every request through that client). Travels to the retry policy in the request's `Context`.
#[derive(Debug)]
pub(crate) struct Operation {
    /// Every request, retries and waits included, ends by this instant.
    pub deadline: Instant,
    /// The time the operation was given (for messages).
    pub budget: Duration,
    last: Mutex<Option<String>>,
    waiting_for: Mutex<Option<String>>,
}

impl Operation {
    /// An operation ending at `deadline`, `budget` after it started.
    pub(crate) fn new(deadline: Instant, budget: Duration) -> Arc<Self> {
        Arc::new(Operation {
            deadline,
            budget,
            last: Mutex::new(None),
            waiting_for: Mutex::new(None),
        })
    }

    /// The last failure seen (e.g. `HTTP 429 SubscriptionRequestsThrottled, asked to retry
    /// after 120 s`).
    pub(crate) fn last(&self) -> Option<String> {
        self.last.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Records a failure.
    pub(crate) fn set_last(&self, cause: String) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(cause);
        }
    }

    /// Records the request an answer is awaited for (`GET /path`).
    pub(crate) fn set_waiting_for(&self, request: String) {
        if let Ok(mut waiting) = self.waiting_for.lock() {
            *waiting = Some(request);
        }
    }

    /// The error for this operation's deadline having passed: it names the last failure, or
    /// else the last request still awaiting an answer.
    pub(crate) fn deadline_error(&self) -> ArmError {
        let waiting = || {
            self.waiting_for
                .lock()
                .ok()
                .and_then(|w| w.clone())
                .map(|request| format!("no answer yet to {request}"))
        };
        ArmError::Deadline {
            timeout: self.budget,
            last: self.last().or_else(waiting),
        }
    }
}

/// Why the retry policy gave up on one request, when it was the deadline: the wait the server
/// asked for (`Retry-After`), which would have passed it. Travels in the request's `Context`.
#[derive(Debug, Default)]
pub(crate) struct GiveUp {
    deadline_wait: Mutex<Option<Duration>>,
}

impl GiveUp {
    /// The wait asked for that would have passed the deadline, if that is why the policy gave
    /// up.
    pub(crate) fn deadline_wait(&self) -> Option<Duration> {
        self.deadline_wait.lock().ok().and_then(|w| *w)
    }

    fn set(&self, wait: Duration) {
        if let Ok(mut w) = self.deadline_wait.lock() {
            *w = Some(wait);
        }
    }
}

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
    /// The deadline of a request sent without an [`Operation`] in its context, counted from
    /// the request's start.
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

/// A duration for people: `2 s`, `1.5 s`, `250 ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        let secs = (d.as_secs_f64() * 10.0).round() / 10.0;
        format!("{secs} s")
    }
}

/// Describes an error answer: `HTTP 429 SubscriptionRequestsThrottled, asked to retry after
/// 120 s`.
pub(crate) fn describe_answer(status: u16, body: &[u8], retry_after: Option<Duration>) -> String {
    let code = crate::arm::error::ApiError::from_response(status, body, "").code;
    let mut text = format!("HTTP {status}");
    if let Some(code) = code {
        text.push(' ');
        text.push_str(&code);
    }
    if let Some(wait) = retry_after {
        text.push_str(&format!(", asked to retry after {}", human_duration(wait)));
    }
    text
}

/// Whether an error (or one of its causes) is a refused connection.
pub(crate) fn is_connection_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        if e.to_string()
            .to_ascii_lowercase()
            .contains("connection refused")
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Describes a transport failure plainly: `connection refused by http://127.0.0.1:1234`.
pub(crate) fn describe_transport(error: &azure_core::Error, url: &url::Url) -> String {
    let origin = url.origin().ascii_serialization();
    if is_connection_refused(error) {
        format!("connection refused by {origin}")
    } else {
        format!(
            "no answer from {origin}: {}",
            crate::arm::credential::error_chain(error)
        )
    }
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

/// The api-version of a request (safe to log; no other query value is logged).
fn api_version(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl Policy for RetryPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let operation = match ctx.value::<Arc<Operation>>() {
            Some(op) => op.clone(),
            None => Operation::new(
                Instant::now() + self.settings.timeout,
                self.settings.timeout,
            ),
        };
        let method = request.method().to_string();
        let path = request.url().path().to_owned();
        let version = api_version(request.url());
        let mut retry = 0u32;
        loop {
            if retry > 0 {
                request.body_mut().reset().await?;
            }
            let attempt = retry + 1;
            operation.set_waiting_for(format!("{method} {path}"));
            let started = Instant::now();
            let result = next[0].send(ctx, request, &next[1..]).await;
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            // The failure to retry (with the server's hint), or the final result.
            let (result, server_wait, cause) = match result {
                Ok(response) if is_retryable_status(response.status()) => {
                    let server_wait =
                        server_retry_after(response.headers(), OffsetDateTime::now_utc());
                    let (status, headers, body) = response.deconstruct();
                    let bytes = body.collect().await?;
                    let cause = describe_answer(u16::from(status), &bytes, server_wait);
                    let response = AsyncRawResponse::from_bytes(status, headers, bytes);
                    (Ok(response), server_wait, cause)
                }
                Ok(response) => {
                    tracing::debug!(
                        method = %method, path = %path, api_version = %version,
                        status = u16::from(response.status()), elapsed_ms, attempt,
                        "ARM request"
                    );
                    return Ok(response);
                }
                Err(e) if matches!(e.kind(), ErrorKind::Io | ErrorKind::Connection) => {
                    let cause = describe_transport(&e, request.url());
                    (Err(e), None, cause)
                }
                Err(e) => {
                    tracing::debug!(
                        method = %method, path = %path, api_version = %version,
                        elapsed_ms, attempt, error = %e.kind(),
                        "ARM request failed"
                    );
                    return Err(e);
                }
            };
            let status = result.as_ref().ok().map(|r| u16::from(r.status()));
            operation.set_last(cause.clone());
            let give_up = |why: &str| {
                tracing::debug!(
                    method = %method, path = %path, api_version = %version, status, elapsed_ms,
                    attempt, cause = %cause, "ARM request failed, not retried: {why}"
                );
            };
            if retry >= self.settings.max_retries {
                give_up("no retries left");
                return result;
            }
            let wait = self.settings.wait(retry + 1, server_wait);
            if Instant::now() + wait >= operation.deadline {
                // Sleeping would pass the deadline: the answer is the result (an error answer
                // is then a non-fatal fact; the wait asked for travels with it).
                match server_wait {
                    Some(asked) => {
                        if let Some(reason) = ctx.value::<Arc<GiveUp>>() {
                            reason.set(asked);
                        }
                        give_up(&format!(
                            "Retry-After {} would pass the deadline",
                            human_duration(asked)
                        ));
                    }
                    None => give_up(&format!(
                        "a backoff of {} would pass the deadline",
                        human_duration(wait)
                    )),
                }
                return result;
            }
            retry += 1;
            tracing::debug!(
                method = %method, path = %path, api_version = %version, status, elapsed_ms,
                attempt, retry, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                cause = %cause, "ARM request failed, retrying after {}", human_duration(wait)
            );
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
