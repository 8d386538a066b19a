//! Azure's throttling quotas, emulated by the mock ([`ArmMock::emulate_quotas`]) exactly as
//! Microsoft documents them:
//!
//! - ARM ("Understand how Azure Resource Manager throttles requests"): a token bucket of reads
//!   per subscription and per principal (a request whose path names no subscription counts
//!   against the tenant's bucket), 250 tokens refilled at 25 per second; a read takes a token
//!   when it arrives, and without one ARM answers 429 `SubscriptionRequestsThrottled` with
//!   `Retry-After` (whole seconds until a token is back). Writes are not limited here.
//! - Resource Graph ("Guidance for throttled requests in Azure Resource Graph"): 15 queries per
//!   user in every 5-second window, the window starting with its first query; beyond that,
//!   429 `RateLimiting` with `x-ms-user-quota-remaining: 0` and `x-ms-user-quota-resets-after`.
//!
//! The principal is the token's `oid` claim, or the token itself when it names none. Routes of
//! a test can stamp the remaining-quota headers on their own answers with [`Quotas::stamp`]
//! (or [`Quotas::arm_headers`], [`Quotas::graph_headers`]).
//!
//! The bucket is checked in the route's matcher (wiremock runs the matchers of one request
//! under one lock, in priority order), so a request is counted once, when it arrives.

use crate::{ArmMock, Authorized, arm_error, changes_azure};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// The quotas to emulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaSettings {
    /// ARM reads per subscription (and per tenant) and principal: (bucket size, refill per
    /// second). Azure: (250, 25).
    pub arm_reads: (u32, f64),
    /// Resource Graph queries per user: (queries, window). Azure: (15, 5 s).
    pub graph: (u32, Duration),
}

impl Default for QuotaSettings {
    /// Azure's documented quotas.
    fn default() -> Self {
        QuotaSettings {
            arm_reads: (250, 25.0),
            graph: (15, Duration::from_secs(5)),
        }
    }
}

/// Where a request is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scope {
    Subscription(String),
    Tenant,
    Graph,
}

impl Scope {
    fn of(request: &Request) -> Scope {
        let path = request
            .url
            .path()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if request.method.as_str() == "POST"
            && path == "/providers/microsoft.resourcegraph/resources"
        {
            return Scope::Graph;
        }
        let mut segments = path.split('/').skip(1);
        match (segments.next(), segments.next()) {
            (Some("subscriptions"), Some(id)) if !id.is_empty() => {
                Scope::Subscription(id.to_owned())
            }
            _ => Scope::Tenant,
        }
    }
}

/// The principal a request is counted for.
fn actor(request: &Request) -> String {
    let token = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    esu_preflight::arm::credential::token_caller(token)
        .map_or_else(|| token.to_owned(), |caller| caller.object_id)
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    used: u32,
    resets: Instant,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<(String, Scope), Bucket>,
    windows: HashMap<String, Window>,
}

/// Why the last request was refused (matcher → responder, under wiremock's lock).
#[derive(Debug, Clone)]
enum Refusal {
    Arm {
        scope: Scope,
        actor: String,
        retry_after_secs: u64,
    },
    Graph {
        resets_after: Duration,
    },
}

/// The emulated quotas' state, shared by the mock's quota route and the test.
#[derive(Debug)]
pub struct Quotas {
    settings: QuotaSettings,
    state: Mutex<State>,
    throttled: AtomicU64,
    refusal: Mutex<Option<Refusal>>,
}

impl Quotas {
    /// Fresh quotas: every bucket full, every window unused.
    pub fn new(settings: QuotaSettings) -> Arc<Quotas> {
        Arc::new(Quotas {
            settings,
            state: Mutex::new(State::default()),
            throttled: AtomicU64::new(0),
            refusal: Mutex::new(None),
        })
    }

    /// The settings.
    pub fn settings(&self) -> QuotaSettings {
        self.settings
    }

    /// The 429 answers sent so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::SeqCst)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn capacity(&self) -> f64 {
        f64::from(self.settings.arm_reads.0)
    }

    fn rate(&self) -> f64 {
        self.settings.arm_reads.1.max(1e-9)
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let added = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate();
        Bucket {
            level: (bucket.level + added).min(self.capacity()),
            at: now.max(bucket.at),
        }
    }

    /// Counts `request` if the quotas allow it; otherwise why not.
    fn admit(&self, request: &Request) -> Result<(), Refusal> {
        if changes_azure(request) {
            return Ok(());
        }
        let now = Instant::now();
        let actor = actor(request);
        let scope = Scope::of(request);
        let mut state = self.state();
        if scope == Scope::Graph {
            let (queries, window) = self.settings.graph;
            let w = state.windows.entry(actor).or_insert(Window {
                used: 0,
                resets: now,
            });
            if now >= w.resets {
                *w = Window {
                    used: 0,
                    resets: now + window,
                };
            }
            if w.used >= queries {
                return Err(Refusal::Graph {
                    resets_after: w.resets - now,
                });
            }
            w.used += 1;
            return Ok(());
        }
        let full = Bucket {
            level: self.capacity(),
            at: now,
        };
        let key = (actor.clone(), scope.clone());
        let bucket = self.refilled(*state.buckets.get(&key).unwrap_or(&full), now);
        if bucket.level >= 1.0 {
            state.buckets.insert(
                key,
                Bucket {
                    level: bucket.level - 1.0,
                    ..bucket
                },
            );
            return Ok(());
        }
        state.buckets.insert(key, bucket);
        let wait = (1.0 - bucket.level) / self.rate();
        Err(Refusal::Arm {
            scope,
            actor,
            retry_after_secs: wait.ceil().max(1.0) as u64,
        })
    }

    /// The reads left in `sub`'s bucket (the most spent principal's; the capacity while none
    /// has read), what `x-ms-ratelimit-remaining-subscription-reads` says.
    pub fn remaining_reads(&self, sub: &str) -> u64 {
        self.remaining_of(&Scope::Subscription(sub.to_ascii_lowercase()))
    }

    /// The reads left in the tenant's bucket (as [`Quotas::remaining_reads`]).
    pub fn remaining_tenant_reads(&self) -> u64 {
        self.remaining_of(&Scope::Tenant)
    }

    fn remaining_of(&self, scope: &Scope) -> u64 {
        let now = Instant::now();
        let state = self.state();
        let least = state
            .buckets
            .iter()
            .filter(|((_, s), _)| s == scope)
            .map(|(_, b)| self.refilled(*b, now).level)
            .fold(self.capacity(), f64::min);
        least.floor().max(0.0) as u64
    }

    /// `x-ms-ratelimit-remaining-subscription-reads` for an answer about `sub`.
    pub fn arm_headers(&self, sub: &str) -> Vec<(&'static str, String)> {
        vec![(
            "x-ms-ratelimit-remaining-subscription-reads",
            self.remaining_reads(sub).to_string(),
        )]
    }

    /// `x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` (`hh:mm:ss`, rounded up)
    /// for a Resource Graph answer (the most spent user's window).
    pub fn graph_headers(&self) -> Vec<(&'static str, String)> {
        let now = Instant::now();
        let (queries, window) = self.settings.graph;
        let state = self.state();
        let (remaining, resets_after) = state
            .windows
            .values()
            .filter(|w| w.resets > now)
            .map(|w| (queries.saturating_sub(w.used), w.resets - now))
            .min_by_key(|(remaining, _)| *remaining)
            .unwrap_or((queries, window));
        graph_header_values(remaining, resets_after)
    }

    /// `template` with the remaining-quota headers of `request`'s scope: what ARM and Resource
    /// Graph put on every answer. For routes of a test that answer with quota headers.
    pub fn stamp(&self, template: ResponseTemplate, request: &Request) -> ResponseTemplate {
        let headers = match Scope::of(request) {
            Scope::Graph => self.graph_headers(),
            Scope::Subscription(sub) => self.arm_headers(&sub),
            Scope::Tenant => vec![(
                "x-ms-ratelimit-remaining-tenant-reads",
                self.remaining_tenant_reads().to_string(),
            )],
        };
        headers.into_iter().fold(template, |t, (name, value)| {
            t.insert_header(name, value.as_str())
        })
    }
}

fn graph_header_values(remaining: u32, resets_after: Duration) -> Vec<(&'static str, String)> {
    let secs = resets_after.as_secs() + u64::from(resets_after.subsec_nanos() > 0);
    vec![
        ("x-ms-user-quota-remaining", remaining.to_string()),
        (
            "x-ms-user-quota-resets-after",
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        ),
    ]
}

/// Matches (so the route answers 429) a request the quotas refuse; counts the others.
struct QuotaSpent(Arc<Quotas>);

impl wiremock::Match for QuotaSpent {
    fn matches(&self, request: &Request) -> bool {
        match self.0.admit(request) {
            Ok(()) => false,
            Err(refusal) => {
                *self
                    .0
                    .refusal
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(refusal);
                true
            }
        }
    }
}

/// The 429 of a refused request.
struct Throttled {
    quotas: Arc<Quotas>,
    delay: Duration,
}

impl Respond for Throttled {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.quotas.throttled.fetch_add(1, Ordering::SeqCst);
        let refusal = self
            .quotas
            .refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or(Refusal::Arm {
                scope: Scope::of(request),
                actor: actor(request),
                retry_after_secs: 1,
            });
        let template = ResponseTemplate::new(429).set_delay(self.delay);
        match refusal {
            Refusal::Arm {
                scope,
                actor,
                retry_after_secs,
            } => {
                let (code, what) = match &scope {
                    Scope::Subscription(sub) => (
                        "SubscriptionRequestsThrottled",
                        format!("subscription '{sub}'"),
                    ),
                    _ => ("TooManyRequests", "tenant".to_owned()),
                };
                template
                    .insert_header("Retry-After", retry_after_secs.to_string().as_str())
                    .set_body_json(arm_error(
                        code,
                        &format!(
                            "Number of 'read' requests for {what} actor '{actor}' exceeded. \
                             Please try again after '{retry_after_secs}' seconds after the \
                             additional tokens are available. Refer to \
                             https://aka.ms/arm-throttling for additional information."
                        ),
                    ))
            }
            Refusal::Graph { resets_after } => graph_header_values(0, resets_after)
                .into_iter()
                .fold(template, |t, (name, value)| {
                    t.insert_header(name, value.as_str())
                })
                .set_body_json(json!({
                    "error": {
                        "code": "RateLimiting",
                        "message": "Client application has been throttled and should not \
                                    attempt to repeat the request until an amount of time has \
                                    elapsed. Please see https://aka.ms/resourcegraph-throttling \
                                    for help.",
                    }
                })),
        }
    }
}

impl ArmMock {
    /// Emulates Azure's throttling quotas (see [`crate::quota`]) from now on: a route of the
    /// highest priority (1) counts every authenticated request and answers 429 when the
    /// quotas are spent; the requests it lets through go on to the other routes. Mount it
    /// before any other route of priority 1. Returns the quotas' state (429s sent, what is
    /// left).
    pub async fn emulate_quotas(&self, settings: QuotaSettings) -> Arc<Quotas> {
        let quotas = Quotas::new(settings);
        Mock::given(Authorized)
            .and(QuotaSpent(quotas.clone()))
            .respond_with(Throttled {
                quotas: quotas.clone(),
                delay: self.delay,
            })
            .with_priority(1)
            .named("emulated Azure quotas")
            .mount(&self.server)
            .await;
        quotas
    }
}
