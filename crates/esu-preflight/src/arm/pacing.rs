//! Quota-aware pacing: esu-preflight stays inside Azure's throttling quotas instead of drawing
//! 429s and waiting them out.
//!
//! Every request has a **throttle scope** ([`ThrottleScope::of`]): the subscription in its path,
//! the Resource Graph user quota for a Resource Graph query, or else the tenant. Per scope:
//!
//! - **Concurrency**: at most `ArmClientOptions::concurrency` requests in flight (ARM throttles
//!   per subscription, so 20 subscriptions may have 20 × 16 in flight), and at most
//!   `ArmClientOptions::max_in_flight` overall.
//! - **ARM reads** (subscription and tenant scopes): a model of ARM's token bucket (250 reads,
//!   refilled at 25 per second, [`Quota::ARM_READS`]). A read takes a token before it is sent
//!   and waits for one otherwise; the bucket refills continuously. The model keeps a small
//!   reserve ([`JITTER_SLACK`] of refill) because ARM counts a request when it *arrives*, and
//!   network jitter can bunch requests that left evenly spaced. Answers carry
//!   `x-ms-ratelimit-remaining-subscription-reads` (and `…-subscription-global-reads`,
//!   `…-tenant-reads`): the model is lowered to what they say, minus the requests of that scope
//!   still in flight (which the server had not counted yet) — never raised.
//! - **Resource Graph** (one scope, the caller's user quota): at most 15 queries in any 5-second
//!   window ([`WindowQuota::RESOURCE_GRAPH`]), kept as a sliding log of send times, which stays
//!   inside both a fixed and a sliding window on the server's side. `x-ms-user-quota-remaining`
//!   and `x-ms-user-quota-resets-after` (`hh:mm:ss`) lower it further: with nothing remaining,
//!   the next query waits until the reset.
//! - **A 429 that arrives anyway** empties the scope's model until its `Retry-After` (capped
//!   like the retry policy's waits), so the other requests of that scope wait too.
//!
//! A wait for quota is bounded by the operation's deadline: a request that could only be sent
//! after it fails at once with the kind of error a throttled answer gives (HTTP 429 with the
//! wait in [`ApiError::retry_after`]), saying why.
//!
//! Counters: [`ArmClient::throttled_count`](crate::arm::ArmClient::throttled_count) (429
//! answers received) and [`ArmClient::paced_wait`](crate::arm::ArmClient::paced_wait) (time
//! requests waited for quota).

use crate::arm::{
    auth::into_core,
    error::{ApiError, ArmError, PAST_DEADLINE},
    retry::{Operation, server_retry_after},
};
use azure_core::{
    http::{
        Context, Request,
        headers::Headers,
        policies::{Policy, PolicyResult},
    },
    time::OffsetDateTime,
};
use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit},
    time::Instant,
};

/// A token-bucket quota: `capacity` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// The most tokens the bucket holds (requests that may be sent at once).
    pub capacity: u32,
    /// Tokens added back per second, continuously, up to `capacity`.
    pub per_second: f64,
}

impl Quota {
    /// ARM's read quota per subscription (and per tenant), per principal: a bucket of 250
    /// refilled at 25 per second ("Understand how Azure Resource Manager throttles requests").
    pub const ARM_READS: Quota = Quota {
        capacity: 250,
        per_second: 25.0,
    };
}

/// A windowed quota: at most `queries` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowQuota {
    /// Queries allowed per window.
    pub queries: u32,
    /// The window.
    pub window: Duration,
}

impl WindowQuota {
    /// Resource Graph's user quota: 15 queries per 5-second window ("Guidance for throttled
    /// requests in Azure Resource Graph").
    pub const RESOURCE_GRAPH: WindowQuota = WindowQuota {
        queries: 15,
        window: Duration::from_secs(5),
    };
}

/// Network jitter the models allow for: ARM counts a request when it arrives, so requests that
/// left evenly spaced may arrive bunched. The bucket keeps this much refill in reserve; the
/// window is this much longer than the server's.
pub const JITTER_SLACK: Duration = Duration::from_millis(200);

/// Where ARM counts a request against a quota.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleScope {
    /// A subscription-level request (`/subscriptions/{id}/…`): the subscription id, lower-case.
    Subscription(String),
    /// A Resource Graph query (`POST /providers/Microsoft.ResourceGraph/resources`): the
    /// caller's Resource Graph user quota.
    ResourceGraph,
    /// Anything else: the tenant.
    Tenant,
}

impl ThrottleScope {
    /// The scope of a request: `post` for a POST, `path` the URL's path (no query).
    ///
    /// ```
    /// use esu_preflight::arm::ThrottleScope;
    /// assert_eq!(
    ///     ThrottleScope::of(false, "/subscriptions/ABC/providers"),
    ///     ThrottleScope::Subscription("abc".into())
    /// );
    /// assert_eq!(
    ///     ThrottleScope::of(true, "/providers/Microsoft.ResourceGraph/resources"),
    ///     ThrottleScope::ResourceGraph
    /// );
    /// assert_eq!(ThrottleScope::of(false, "/subscriptions"), ThrottleScope::Tenant);
    /// ```
    pub fn of(post: bool, path: &str) -> ThrottleScope {
        let trimmed = path.trim_end_matches('/');
        if post
            && trimmed
                .to_ascii_lowercase()
                .eq("/providers/microsoft.resourcegraph/resources")
        {
            return ThrottleScope::ResourceGraph;
        }
        let mut segments = trimmed.strip_prefix('/').unwrap_or(trimmed).split('/');
        match (segments.next(), segments.next()) {
            (Some(first), Some(id))
                if first.eq_ignore_ascii_case("subscriptions") && !id.is_empty() =>
            {
                ThrottleScope::Subscription(id.to_ascii_lowercase())
            }
            _ => ThrottleScope::Tenant,
        }
    }
}

impl fmt::Display for ThrottleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThrottleScope::Subscription(id) => write!(f, "subscription {id}"),
            ThrottleScope::ResourceGraph => f.write_str("the Resource Graph user quota"),
            ThrottleScope::Tenant => f.write_str("the tenant"),
        }
    }
}

/// `x-ms-ratelimit-remaining-subscription-reads`.
const SUBSCRIPTION_READS: &str = "x-ms-ratelimit-remaining-subscription-reads";
/// `x-ms-ratelimit-remaining-subscription-global-reads` (newer; seen 2024-25).
const SUBSCRIPTION_GLOBAL_READS: &str = "x-ms-ratelimit-remaining-subscription-global-reads";
/// `x-ms-ratelimit-remaining-tenant-reads`.
const TENANT_READS: &str = "x-ms-ratelimit-remaining-tenant-reads";
/// `x-ms-user-quota-remaining` (Resource Graph).
const USER_QUOTA_REMAINING: &str = "x-ms-user-quota-remaining";
/// `x-ms-user-quota-resets-after` (Resource Graph, `hh:mm:ss`).
const USER_QUOTA_RESETS_AFTER: &str = "x-ms-user-quota-resets-after";

/// A header's value, its name compared case-insensitively.
fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str().trim())
}

/// A remaining-count header: a non-negative integer; anything else is ignored.
pub(crate) fn parse_count(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok()
}

/// `hh:mm:ss` (seconds may have a fraction; a leading `d.` day count is accepted, as .NET's
/// `TimeSpan` writes it); anything else is ignored.
pub(crate) fn parse_hh_mm_ss(value: &str) -> Option<Duration> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let value = value.trim();
    let (days, rest) = match value.split_once('.') {
        Some((d, rest)) if digits(d) && rest.contains(':') => (d.parse::<u64>().ok()?, rest),
        _ => (0, value),
    };
    let mut parts = rest.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !digits(h) || !digits(m) {
        return None;
    }
    let (whole_s, fraction) = match s.split_once('.') {
        Some((w, f)) if digits(f) => (w, Some(f)),
        Some(_) => return None,
        None => (s, None),
    };
    if !digits(whole_s) {
        return None;
    }
    let (h, m, whole_s) = (
        h.parse::<u64>().ok()?,
        m.parse::<u64>().ok().filter(|m| *m < 60)?,
        whole_s.parse::<u64>().ok().filter(|s| *s < 60)?,
    );
    let fraction = match fraction {
        Some(f) => format!("0.{f}").parse::<f64>().ok()?,
        None => 0.0,
    };
    let whole = days
        .checked_mul(24)?
        .checked_add(h)?
        .checked_mul(3600)?
        .checked_add(m * 60 + whole_s)?;
    Some(Duration::from_secs(whole) + Duration::from_secs_f64(fraction))
}

/// The remaining-quota figures an answer carries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct QuotaHeaders {
    /// The least of `…-subscription-reads` and `…-subscription-global-reads`.
    pub subscription_reads: Option<u64>,
    /// `…-tenant-reads`.
    pub tenant_reads: Option<u64>,
    /// `x-ms-user-quota-remaining`.
    pub graph_remaining: Option<u64>,
    /// `x-ms-user-quota-resets-after`.
    pub graph_resets_after: Option<Duration>,
}

impl QuotaHeaders {
    /// Reads the figures; a malformed value is ignored.
    pub(crate) fn parse(headers: &Headers) -> QuotaHeaders {
        let count = |name| header(headers, name).and_then(parse_count);
        let subscription_reads = match (count(SUBSCRIPTION_READS), count(SUBSCRIPTION_GLOBAL_READS))
        {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        QuotaHeaders {
            subscription_reads,
            tenant_reads: count(TENANT_READS),
            graph_remaining: count(USER_QUOTA_REMAINING),
            graph_resets_after: header(headers, USER_QUOTA_RESETS_AFTER).and_then(parse_hh_mm_ss),
        }
    }
}

/// The model of one token bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    quota: Quota,
    /// Tokens at `at`; negative when requests have reserved tokens not refilled yet.
    level: f64,
    /// When `level` was true (in the future while the bucket is blocked after a 429).
    at: Instant,
    /// Bumped whenever the level is set outright (a header, a 429): reservations made before
    /// are void and are made again.
    epoch: u64,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(quota: Quota, now: Instant) -> Self {
        Bucket {
            quota,
            level: f64::from(quota.capacity),
            at: now,
            epoch: 0,
        }
    }

    fn rate(&self) -> f64 {
        if self.quota.per_second.is_finite() && self.quota.per_second > 0.0 {
            self.quota.per_second
        } else {
            // A bucket that never refills would block forever; one token an hour is "never"
            // without dividing by zero.
            1.0 / 3600.0
        }
    }

    /// The tokens kept in reserve for jitter (never so many that nothing can be sent).
    fn reserve(&self) -> f64 {
        (self.rate() * JITTER_SLACK.as_secs_f64())
            .min(f64::from(self.quota.capacity.max(1)) - 1.0)
            .max(0.0)
    }

    fn refill(&mut self, now: Instant) {
        if now > self.at {
            let added = (now - self.at).as_secs_f64() * self.rate();
            self.level = (self.level + added).min(f64::from(self.quota.capacity));
            self.at = now;
        }
    }

    /// The tokens the model holds at `now`.
    #[cfg(test)]
    pub(crate) fn level(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.level
    }

    /// Takes a token: returns when the request may be sent (`now`, or when the bucket will
    /// have refilled that far) and the epoch of the reservation.
    pub(crate) fn take(&mut self, now: Instant) -> (Instant, u64) {
        self.refill(now);
        self.level -= 1.0;
        let short = self.reserve() - self.level;
        let ready = if short <= 0.0 {
            now.max(self.at)
        } else {
            self.at.max(now) + Duration::from_secs_f64(short / self.rate())
        };
        (ready, self.epoch)
    }

    /// Gives back a token taken in `epoch` and not used (its request will not be sent).
    pub(crate) fn give_back(&mut self, epoch: u64) {
        if epoch == self.epoch {
            self.level = (self.level + 1.0).min(f64::from(self.quota.capacity));
        }
    }

    /// Whether a reservation of `epoch` still holds.
    pub(crate) fn holds(&self, epoch: u64) -> bool {
        epoch == self.epoch
    }

    /// Lowers the model to `remaining` tokens at `now` (never raises it).
    pub(crate) fn lower_to(&mut self, remaining: f64, now: Instant) {
        self.refill(now);
        if remaining < self.level {
            if self.level - remaining >= 1.0 {
                // Reservations computed from the higher level would send too early.
                self.epoch += 1;
            }
            self.level = remaining;
        }
    }

    /// Empties the bucket until `until` (a 429's `Retry-After`, which ARM gives as the time
    /// until a token is back): then one request may go, and the bucket refills from there.
    pub(crate) fn block_until(&mut self, until: Instant, now: Instant) {
        self.refill(now);
        self.level = if until > now {
            self.reserve() + 1.0
        } else {
            0.0
        };
        self.at = self.at.max(until);
        self.epoch += 1;
    }
}

/// The model of the Resource Graph user quota.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    quota: WindowQuota,
    /// When the queries still inside the (slack-lengthened) window were sent.
    sent: VecDeque<Instant>,
    /// What the server last said: this many more queries until that instant.
    cap: Option<(u64, Instant)>,
}

impl Window {
    pub(crate) fn new(quota: WindowQuota) -> Self {
        Window {
            quota,
            sent: VecDeque::new(),
            cap: None,
        }
    }

    fn span(&self) -> Duration {
        self.quota.window + JITTER_SLACK
    }

    fn forget_old(&mut self, now: Instant) {
        let span = self.span();
        while self.sent.front().is_some_and(|t| *t + span <= now) {
            self.sent.pop_front();
        }
        if self.cap.is_some_and(|(_, until)| until <= now) {
            self.cap = None;
        }
    }

    /// The queries the model allows now.
    pub(crate) fn remaining(&mut self, now: Instant) -> u64 {
        self.forget_old(now);
        let by_log = u64::from(self.quota.queries.max(1)).saturating_sub(self.sent.len() as u64);
        match self.cap {
            Some((cap, _)) => by_log.min(cap),
            None => by_log,
        }
    }

    /// Takes a query if the quota allows one now; otherwise the instant to try again.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Instant> {
        if self.remaining(now) > 0 {
            self.sent.push_back(now);
            if let Some((cap, _)) = &mut self.cap {
                *cap = cap.saturating_sub(1);
            }
            return Ok(());
        }
        let mut until = now;
        if self.sent.len() >= self.quota.queries.max(1) as usize
            && let Some(first) = self.sent.front()
        {
            until = until.max(*first + self.span());
        }
        if let Some((0, reset)) = self.cap {
            until = until.max(reset);
        }
        Err(until.max(now + Duration::from_millis(1)))
    }

    /// What an answer said: `remaining` more queries (minus `in_flight` not counted yet) until
    /// `resets_after` from `now`. Lowers the model, never raises it; nothing remaining holds
    /// the next query until the later of the two resets.
    pub(crate) fn lower_to(
        &mut self,
        remaining: u64,
        in_flight: u64,
        resets_after: Option<Duration>,
        now: Instant,
    ) {
        let remaining = remaining.saturating_sub(in_flight);
        let model = self.remaining(now);
        if remaining > model || (remaining == model && remaining > 0) {
            return;
        }
        let until = now + resets_after.unwrap_or(self.quota.window);
        let until = match self.cap {
            Some((_, old)) => old.max(until),
            None => until,
        };
        self.cap = Some((remaining, until));
    }

    /// Nothing more until `until` (a 429).
    pub(crate) fn block_until(&mut self, until: Instant, now: Instant) {
        self.forget_old(now);
        let until = match self.cap {
            Some((_, old)) => old.max(until),
            None => until,
        };
        self.cap = Some((0, until));
    }
}

/// The settings of a [`Pacer`].
#[derive(Debug, Clone)]
pub(crate) struct PacingSettings {
    /// Requests in flight per throttle scope.
    pub per_scope: usize,
    /// Requests in flight overall.
    pub max_in_flight: usize,
    /// ARM's read bucket per subscription and for the tenant; `None`: not paced.
    pub arm_reads: Option<Quota>,
    /// Resource Graph's user quota; `None`: not paced.
    pub graph_queries: Option<WindowQuota>,
    /// The cap on a 429's `Retry-After` (as the retry policy's).
    pub max_retry_wait: Duration,
}

/// The state of one throttle scope.
struct ScopeState {
    permits: Arc<Semaphore>,
    in_flight: u64,
    bucket: Option<Bucket>,
    window: Option<Window>,
}

/// Paces the requests of one client (shared by its clones and its pipeline).
pub(crate) struct Pacer {
    settings: PacingSettings,
    global: Semaphore,
    scopes: Mutex<HashMap<ThrottleScope, ScopeState>>,
    throttled: AtomicU64,
    waited_nanos: AtomicU64,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("settings", &self.settings)
            .field("throttled", &self.throttled_count())
            .field("paced_wait", &self.paced_wait())
            .finish_non_exhaustive()
    }
}

/// The concurrency permits of one request: its scope's and the overall one.
pub(crate) struct Admission<'a> {
    _scope: OwnedSemaphorePermit,
    _global: SemaphorePermit<'a>,
}

/// A request on the wire: counted in its scope's in-flight requests until dropped.
pub(crate) struct InFlight<'a> {
    pacer: &'a Pacer,
    scope: ThrottleScope,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pacer.with_scope(&self.scope, |state| {
            state.in_flight = state.in_flight.saturating_sub(1);
        });
    }
}

/// What a wait for quota would be spent on.
enum Wait {
    Bucket { ready: Instant, epoch: u64 },
    Window { retry: Instant },
}

impl Pacer {
    pub(crate) fn new(settings: PacingSettings) -> Self {
        Pacer {
            global: Semaphore::new(settings.max_in_flight.max(1)),
            settings,
            scopes: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
            waited_nanos: AtomicU64::new(0),
        }
    }

    /// The settings it paces by.
    pub(crate) fn settings(&self) -> &PacingSettings {
        &self.settings
    }

    /// 429 answers received.
    pub(crate) fn throttled_count(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Total time requests waited for quota.
    pub(crate) fn paced_wait(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }

    fn with_scope<T>(&self, scope: &ThrottleScope, f: impl FnOnce(&mut ScopeState) -> T) -> T {
        let mut scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = scopes.get_mut(scope) {
            return f(state);
        }
        let state = scopes.entry(scope.clone()).or_insert_with(|| {
            let now = Instant::now();
            ScopeState {
                permits: Arc::new(Semaphore::new(self.settings.per_scope.max(1))),
                in_flight: 0,
                bucket: match scope {
                    ThrottleScope::ResourceGraph => None,
                    _ => self.settings.arm_reads.map(|q| Bucket::new(q, now)),
                },
                window: match scope {
                    ThrottleScope::ResourceGraph => self.settings.graph_queries.map(Window::new),
                    _ => None,
                },
            }
        });
        f(state)
    }

    /// Admits a request: a permit of its scope, quota for its first attempt (`paced`: a read,
    /// which the quotas count), then an overall permit. Fails when the quota could only allow
    /// it after `deadline`.
    pub(crate) async fn admit(
        &self,
        scope: &ThrottleScope,
        paced: bool,
        deadline: Instant,
        request: &str,
    ) -> Result<Admission<'_>, ArmError> {
        let permits = self.with_scope(scope, |s| s.permits.clone());
        let closed = |e: tokio::sync::AcquireError| ArmError::Transport {
            endpoint: String::new(),
            message: e.to_string(),
        };
        let scope_permit = permits.acquire_owned().await.map_err(closed)?;
        if paced {
            self.take(scope, deadline, request).await?;
        }
        let global = self.global.acquire().await.map_err(closed)?;
        Ok(Admission {
            _scope: scope_permit,
            _global: global,
        })
    }

    /// Waits for a token of `scope`'s quota (a read's attempt), or fails at once when one
    /// would come only after `deadline`.
    pub(crate) async fn take(
        &self,
        scope: &ThrottleScope,
        deadline: Instant,
        request: &str,
    ) -> Result<(), ArmError> {
        loop {
            let now = Instant::now();
            let wait = self.with_scope(scope, |state| {
                if let Some(bucket) = &mut state.bucket {
                    let (ready, epoch) = bucket.take(now);
                    return (ready > now).then_some(Wait::Bucket { ready, epoch });
                }
                if let Some(window) = &mut state.window {
                    return window.take(now).err().map(|retry| Wait::Window { retry });
                }
                None
            });
            let until = match &wait {
                None => return Ok(()),
                Some(Wait::Bucket { ready, .. }) => *ready,
                Some(Wait::Window { retry }) => *retry,
            };
            if until >= deadline {
                if let Some(Wait::Bucket { epoch, .. }) = wait {
                    self.with_scope(scope, |state| {
                        if let Some(bucket) = &mut state.bucket {
                            bucket.give_back(epoch);
                        }
                    });
                }
                return Err(self.past_deadline(scope, request, until - now));
            }
            let slept_from = Instant::now();
            tokio::time::sleep_until(until).await;
            self.waited_nanos.fetch_add(
                u64::try_from(slept_from.elapsed().as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            if let Some(Wait::Bucket { epoch, .. }) = wait {
                let holds = self.with_scope(scope, |state| {
                    state.bucket.as_ref().is_none_or(|b| b.holds(epoch))
                });
                if holds {
                    return Ok(());
                }
            }
        }
    }

    /// The error of a request its quota would only allow after the deadline: what a throttled
    /// answer past the deadline gives (HTTP 429 with the wait), saying it was not sent.
    fn past_deadline(&self, scope: &ThrottleScope, request: &str, wait: Duration) -> ArmError {
        let what = match scope {
            ThrottleScope::ResourceGraph => "the Resource Graph query quota".to_owned(),
            other => format!("the read quota of {other}"),
        };
        let mut api = ApiError::from_response(429, b"", request);
        api.message = format!(
            "not sent: {what} allows it only in {}, which {PAST_DEADLINE}",
            crate::arm::retry::human_duration(wait)
        );
        api.retry_after = Some(wait);
        api.into()
    }

    /// Counts a request's attempt on the wire until the guard is dropped.
    pub(crate) fn start(&self, scope: &ThrottleScope) -> InFlight<'_> {
        self.with_scope(scope, |state| state.in_flight += 1);
        InFlight {
            pacer: self,
            scope: scope.clone(),
        }
    }

    /// Learns from an answer to a request of `scope` (`paced`: a read): its remaining-quota
    /// headers, and a 429 (counted; the scope waits out `retry_after`). Call it after the
    /// request's [`InFlight`] guard is dropped.
    pub(crate) fn observe(
        &self,
        scope: &ThrottleScope,
        paced: bool,
        status: u16,
        headers: &Headers,
        retry_after: Option<Duration>,
    ) {
        let now = Instant::now();
        let figures = QuotaHeaders::parse(headers);
        let throttled = status == 429;
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        let block = retry_after.map(|wait| now + wait.min(self.settings.max_retry_wait));
        match scope {
            ThrottleScope::ResourceGraph => self.with_scope(scope, |state| {
                let in_flight = state.in_flight;
                let Some(window) = &mut state.window else {
                    return;
                };
                if let Some(remaining) = figures.graph_remaining {
                    window.lower_to(remaining, in_flight, figures.graph_resets_after, now);
                }
                if throttled {
                    let until = block
                        .or_else(|| figures.graph_resets_after.map(|d| now + d))
                        .unwrap_or(now + window.quota.window);
                    window.block_until(until, now);
                }
            }),
            ThrottleScope::Subscription(_) | ThrottleScope::Tenant => {
                let own = match scope {
                    ThrottleScope::Tenant => figures.tenant_reads,
                    _ => figures.subscription_reads,
                };
                self.with_scope(scope, |state| {
                    let in_flight = state.in_flight;
                    let Some(bucket) = &mut state.bucket else {
                        return;
                    };
                    if let Some(remaining) = own {
                        bucket.lower_to(remaining as f64 - in_flight as f64, now);
                    }
                    if throttled && paced {
                        match block {
                            Some(until) => bucket.block_until(until, now),
                            None => bucket.block_until(now, now),
                        }
                    }
                });
                if let (ThrottleScope::Subscription(_), Some(remaining)) =
                    (scope, figures.tenant_reads)
                {
                    self.with_scope(&ThrottleScope::Tenant, |state| {
                        let in_flight = state.in_flight;
                        if let Some(bucket) = &mut state.bucket {
                            bucket.lower_to(remaining as f64 - in_flight as f64, now);
                        }
                    });
                }
            }
        }
    }
}

/// What the pacing policy knows of a request (it travels in the request's `Context`).
#[derive(Debug)]
pub(crate) struct Ticket {
    scope: ThrottleScope,
    paced: bool,
    label: String,
    /// Whether the next attempt's quota is already taken ([`Pacer::admit`] takes the first's).
    prepaid: AtomicBool,
}

impl Ticket {
    /// A request of `scope` (`paced`: a read) admitted by [`Pacer::admit`], which took the
    /// quota of its first attempt; `label` names it in errors (`GET /path`).
    pub(crate) fn new(scope: ThrottleScope, paced: bool, label: String) -> Self {
        Ticket {
            scope,
            paced,
            label,
            prepaid: AtomicBool::new(true),
        }
    }
}

/// The per-try policy that paces each attempt (a retry takes quota again) and learns from
/// each answer (its quota headers, a 429).
#[derive(Debug)]
pub(crate) struct PacingPolicy(pub(crate) Arc<Pacer>);

#[async_trait::async_trait]
impl Policy for PacingPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let Some(ticket) = ctx.value::<Arc<Ticket>>() else {
            return next[0].send(ctx, request, &next[1..]).await;
        };
        let pacer = &self.0;
        if ticket.paced && !ticket.prepaid.swap(false, Ordering::SeqCst) {
            let deadline = ctx.value::<Arc<Operation>>().map_or_else(
                || Instant::now() + Duration::from_secs(86_400),
                |op| op.deadline,
            );
            pacer
                .take(&ticket.scope, deadline, &ticket.label)
                .await
                .map_err(into_core)?;
        }
        let on_the_wire = pacer.start(&ticket.scope);
        let result = next[0].send(ctx, request, &next[1..]).await;
        drop(on_the_wire);
        if let Ok(response) = &result {
            let status = u16::from(response.status());
            let retry_after = if status == 429 {
                server_retry_after(response.headers(), OffsetDateTime::now_utc())
            } else {
                None
            };
            pacer.observe(
                &ticket.scope,
                ticket.paced,
                status,
                response.headers(),
                retry_after,
            );
        }
        result
    }
}

#[cfg(test)]
mod tests;
