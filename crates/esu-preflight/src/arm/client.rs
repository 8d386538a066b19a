//! [`ArmClient`]: GET / POST / paged lists against Azure Resource Manager, over the
//! `azure_core` pipeline with our own retry and authentication policies.

use crate::arm::{
    auth::{BearerAuthPolicy, CountingPolicy, is_loopback, same_origin, validate_endpoint},
    catalog::{ArmList, ArmRequest, HttpMethod, Paging},
    cloud::{Cloud, token_scope},
    credential::error_chain,
    error::{ApiError, ArmError, Result},
    pacing::{
        Admission, Pacer, PacingPolicy, PacingSettings, Quota, ThrottleScope, Ticket, WindowQuota,
    },
    retry::{GiveUp, Operation, RetryPolicy, RetrySettings, is_connection_refused},
    stream::{BodySink, PageSplitter, StreamPolicy},
};
use azure_core::{
    credentials::TokenCredential,
    http::{
        ClientOptions, Context, Method, Pipeline, PipelineSendOptions, PipelineStreamOptions,
        Request, RetryOptions, Transport,
        headers::{ACCEPT, CONTENT_TYPE},
        policies::Policy,
    },
};
use serde::{Deserialize, de::DeserializeOwned};
use std::{
    collections::HashSet,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;
use url::Url;

/// Options of an [`ArmClient`].
#[derive(Clone)]
pub struct ArmClientOptions {
    /// The cloud (its ARM endpoint, unless `endpoint` is set).
    pub cloud: Cloud,
    /// An ARM endpoint overriding the cloud's: https, or plain http to a loopback host.
    pub endpoint: Option<Url>,
    /// Requests in flight at most per throttle scope: per subscription, for the tenant, for
    /// Resource Graph (default 16). ARM throttles per subscription, so 20 subscriptions may
    /// have 20 × 16 requests in flight (see `max_in_flight`).
    pub concurrency: usize,
    /// Requests in flight at most overall (default 256).
    pub max_in_flight: usize,
    /// ARM's read quota per subscription and for the tenant, which reads are paced to (default
    /// [`Quota::ARM_READS`], 250 refilled at 25/s); `None` turns this pacing off. See
    /// [`crate::arm::pacing`].
    pub arm_reads: Option<Quota>,
    /// Resource Graph's user quota, which queries are paced to (default
    /// [`WindowQuota::RESOURCE_GRAPH`], 15 per 5 s); `None` turns this pacing off.
    pub graph_queries: Option<WindowQuota>,
    /// The deadline of one call, counted from its start (default 300 s); an operation of many
    /// calls shares one deadline with [`ArmClient::with_deadline`].
    pub timeout: Duration,
    /// Retries of one request after the first attempt (default 5).
    pub max_retries: u32,
    /// The cap on one wait between retries, including `Retry-After` (default 60 s).
    pub max_retry_wait: Duration,
    /// The most pages one list may have (default 1000).
    pub max_pages: usize,
    /// The HTTP transport (default: a reqwest client with `azure_core`'s timeouts that never
    /// uses a proxy for a loopback endpoint).
    pub transport: Option<Transport>,
    /// Whether requests that change Azure may be sent (default `false`). A read-only client
    /// sends GETs and only the POSTs that read: Resource Graph queries, policy-state queries
    /// and summaries, `checkPolicyRestrictions` and `validateLicense`; any other POST fails
    /// with [`ArmError::WriteRefused`] before anything is sent.
    pub allow_writes: bool,
}

impl Default for ArmClientOptions {
    fn default() -> Self {
        ArmClientOptions {
            cloud: Cloud::AzureCloud,
            endpoint: None,
            concurrency: 16,
            max_in_flight: 256,
            arm_reads: Some(Quota::ARM_READS),
            graph_queries: Some(WindowQuota::RESOURCE_GRAPH),
            timeout: Duration::from_secs(300),
            max_retries: 5,
            max_retry_wait: Duration::from_secs(60),
            max_pages: 1000,
            transport: None,
            allow_writes: false,
        }
    }
}

impl fmt::Debug for ArmClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmClientOptions")
            .field("cloud", &self.cloud)
            .field("endpoint", &self.endpoint.as_ref().map(Url::as_str))
            .field("concurrency", &self.concurrency)
            .field("max_in_flight", &self.max_in_flight)
            .field("arm_reads", &self.arm_reads)
            .field("graph_queries", &self.graph_queries)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("max_pages", &self.max_pages)
            .field("transport", &self.transport.is_some())
            .field("allow_writes", &self.allow_writes)
            .finish()
    }
}

/// POST actions that only read (ARM models some queries as POSTs), by the path's last segments.
const READ_ONLY_POSTS: [&str; 5] = [
    "/providers/microsoft.resourcegraph/resources",
    "/queryresults",
    "/summarize",
    "/checkpolicyrestrictions",
    "/validatelicense",
];

/// Whether a POST to `path` only reads.
fn is_read_only_post(path: &str) -> bool {
    let path = path.trim_end_matches('/').to_ascii_lowercase();
    READ_ONLY_POSTS.iter().any(|suffix| path.ends_with(suffix))
}

/// The first backoff delay between retries.
const BASE_RETRY_DELAY: Duration = Duration::from_millis(500);
/// The cap on a backoff delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The connect timeout of the default HTTP client (as `azure_core`'s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// The read timeout of the default HTTP client (as `azure_core`'s).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

struct Inner {
    pipeline: Pipeline,
    endpoint: Url,
    pacer: Arc<Pacer>,
    timeout: Duration,
    max_pages: usize,
    allow_writes: bool,
    requests: Arc<AtomicU64>,
    auth: Arc<BearerAuthPolicy>,
}

/// A client of Azure Resource Manager. Cheap to clone (shared state behind an `Arc`).
///
/// Every call is bounded by a deadline: by default `options.timeout` counted from that call's
/// start; for an operation made of many calls (a whole gather), one shared deadline set with
/// [`ArmClient::with_deadline`].
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
    operation: Option<Arc<Operation>>,
}

impl fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("timeout", &self.inner.timeout)
            .field(
                "operation_budget",
                &self.operation.as_ref().map(|op| op.budget),
            )
            .field("max_pages", &self.inner.max_pages)
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

/// One page of a Resource Graph answer (`objectArray` format).
#[derive(Deserialize)]
struct GraphPage<T> {
    data: Vec<T>,
    #[serde(rename = "$skipToken", default)]
    skip_token: Option<String>,
    /// `"true"` / `"false"` (a string, though some answers send a boolean).
    #[serde(rename = "resultTruncated", default)]
    result_truncated: Option<serde_json::Value>,
}

fn is_true(value: Option<&serde_json::Value>) -> bool {
    match value {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A duration rounded to the nearest millisecond (so a deadline set "now + 10 s" reads 10 s).
fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from((d.as_micros() + 500) / 1000).unwrap_or(u64::MAX))
}

/// The HTTP client used when no transport is given: `azure_core`'s settings (20 s connect and
/// 60 s read timeouts, no redirects), and no proxy for a loopback endpoint — `HTTP_PROXY` /
/// `ALL_PROXY` must never see plain-http traffic (and its token) meant for a local emulator.
///
/// One client of each kind (loopback or not) is built per process and shared (a clone shares
/// the connection pool): building one loads the system's certificates, which costs more than a
/// request to a local emulator.
pub(crate) fn default_http_client(endpoint: &Url) -> Result<reqwest::Client> {
    static SHARED: std::sync::Mutex<[Option<reqwest::Client>; 2]> =
        std::sync::Mutex::new([None, None]);
    let kind = usize::from(is_loopback(endpoint));
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(client) = &shared[kind] {
        return Ok(client.clone());
    }
    let client = build_http_client(endpoint)?;
    shared[kind] = Some(client.clone());
    Ok(client)
}

/// Builds the client [`default_http_client`] shares.
fn build_http_client(endpoint: &Url) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if is_loopback(endpoint) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| ArmError::Transport {
        endpoint: endpoint.origin().ascii_serialization(),
        message: format!("the HTTP client could not be built: {}", error_chain(&e)),
    })
}

impl ArmClient {
    /// A client for the options' endpoint (or cloud), authenticating with `credential`.
    ///
    /// Fails with [`ArmError::InsecureEndpoint`] for an endpoint that is not https (plain http
    /// is allowed to loopback hosts only), and with [`ArmError::Transport`] when the default
    /// HTTP client cannot be built.
    pub fn new(credential: Arc<dyn TokenCredential>, options: ArmClientOptions) -> Result<Self> {
        let endpoint = options
            .endpoint
            .clone()
            .unwrap_or_else(|| options.cloud.arm_endpoint());
        validate_endpoint(&endpoint)?;
        let transport = match options.transport.clone() {
            Some(transport) => transport,
            None => Transport::new(Arc::new(default_http_client(&endpoint)?)),
        };
        let requests = Arc::new(AtomicU64::new(0));
        let pacer = Arc::new(Pacer::new(PacingSettings {
            per_scope: options.concurrency,
            max_in_flight: options.max_in_flight,
            arm_reads: options.arm_reads,
            graph_queries: options.graph_queries,
            max_retry_wait: options.max_retry_wait,
        }));
        let pacing: Arc<dyn Policy> = Arc::new(PacingPolicy(pacer.clone()));
        let retry: Arc<dyn Policy> = Arc::new(RetryPolicy::new(RetrySettings {
            max_retries: options.max_retries,
            max_retry_wait: options.max_retry_wait,
            base_delay: BASE_RETRY_DELAY,
            max_delay: MAX_BACKOFF,
            timeout: options.timeout,
        }));
        let bearer = Arc::new(BearerAuthPolicy::new(
            credential,
            endpoint.clone(),
            token_scope(&endpoint),
        ));
        let auth: Arc<dyn Policy> = bearer.clone();
        let counting: Arc<dyn Policy> = Arc::new(CountingPolicy(requests.clone()));
        // Last: a list page is decoded as its body arrives (see `arm::stream`).
        let stream: Arc<dyn Policy> = Arc::new(StreamPolicy);
        let pipeline = Pipeline::new(
            Some("esu-preflight"),
            Some(env!("CARGO_PKG_VERSION")),
            ClientOptions {
                retry: RetryOptions::none(),
                transport: Some(transport),
                ..ClientOptions::default()
            },
            vec![retry],
            vec![pacing, auth, counting, stream],
            None,
        );
        Ok(ArmClient {
            inner: Arc::new(Inner {
                pipeline,
                endpoint,
                pacer,
                timeout: options.timeout,
                max_pages: options.max_pages,
                allow_writes: options.allow_writes,
                requests,
                auth: bearer,
            }),
            operation: None,
        })
    }

    /// A client for one operation: every request through it (retries and waits included) ends
    /// by `deadline`, after which every call fails with [`ArmError::Deadline`] at once. Cheap:
    /// the pipeline, token cache, concurrency limit and request counter are shared. Replaces a
    /// deadline the client already had.
    ///
    /// ```
    /// # fn demo(client: &esu_preflight::arm::ArmClient) {
    /// let run = client.with_deadline(tokio::time::Instant::now() + client.timeout());
    /// # let _ = run; }
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> ArmClient {
        let budget = round_ms(deadline.saturating_duration_since(Instant::now()));
        ArmClient {
            inner: self.inner.clone(),
            operation: Some(Operation::new(deadline, budget)),
        }
    }

    /// This client for one operation: its own deadline if it has one, else `timeout()` from
    /// now (what [`crate::gather::gather`] and the fixes start with).
    pub fn for_operation(&self) -> ArmClient {
        match self.deadline() {
            Some(_) => self.clone(),
            None => self.with_deadline(Instant::now() + self.timeout()),
        }
    }

    /// The timeout of the options (`ArmClientOptions::timeout`): what bounds each call of a
    /// client without an explicit deadline, and what an operation is usually given.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The operation's deadline, when set with [`ArmClient::with_deadline`].
    pub fn deadline(&self) -> Option<Instant> {
        self.operation.as_ref().map(|op| op.deadline)
    }

    /// The ARM endpoint requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// HTTP attempts sent so far, retries included (shared by every clone).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Requests in flight at most per throttle scope (a subscription, the tenant, Resource
    /// Graph): `ArmClientOptions::concurrency`.
    pub fn concurrency(&self) -> usize {
        self.inner.pacer.settings().per_scope.max(1)
    }

    /// Requests in flight at most overall: `ArmClientOptions::max_in_flight`.
    pub fn max_in_flight(&self) -> usize {
        self.inner.pacer.settings().max_in_flight.max(1)
    }

    /// 429 answers received so far (shared by every clone): with the default pacing, none.
    pub fn throttled_count(&self) -> u64 {
        self.inner.pacer.throttled_count()
    }

    /// The total time requests have waited for quota so far (summed over requests, so it may
    /// exceed the wall time; shared by every clone). See [`crate::arm::pacing`].
    pub fn paced_wait(&self) -> Duration {
        self.inner.pacer.paced_wait()
    }

    /// Who the client signs in as: the object id, tenant and name its ARM token names
    /// ([`token_caller`](crate::arm::credential::token_caller)), or `None` for a token that
    /// names no object id (an opaque token). Gets the token the requests use (cached, so no
    /// extra sign-in); the token itself is never returned or kept.
    ///
    /// # Errors
    ///
    /// [`ArmError::Authentication`] when no token can be had, [`ArmError::Deadline`] when the
    /// operation's deadline passes first.
    pub async fn caller(&self) -> Result<Option<crate::snapshot::Caller>> {
        let op = self.operation();
        self.bounded(&op, async {
            let token = self.inner.auth.token().await?;
            Ok(crate::arm::credential::token_caller(token.token.secret()))
        })
        .await
    }

    /// Sends a catalogue request ([`crate::arm::catalog`]), the answer decoded as `T`.
    ///
    /// # Errors
    ///
    /// [`ArmError::Api`] for an error answer (after retries; a throttled answer whose wait
    /// would pass the deadline carries [`ApiError::retry_after`]), and the other [`ArmError`]s.
    pub async fn fetch<T: DeserializeOwned>(&self, request: &ArmRequest<T>) -> Result<T> {
        let op = self.operation();
        self.bounded(&op, async {
            let url = self.request_url(request.path(), request.query(), request.api_version())?;
            let (label, status, body) = self
                .send(&op, method_of(request.method()), url, request.body(), None)
                .await?;
            decode(&label, status, &body)
        })
        .await
    }

    /// Like [`ArmClient::fetch`], but a 404 answer is `Ok(None)` (e.g. a resource group that
    /// does not exist).
    pub async fn fetch_opt<T: DeserializeOwned>(
        &self,
        request: &ArmRequest<T>,
    ) -> Result<Option<T>> {
        none_on_404(self.fetch(request).await)
    }

    /// Reads a whole paged list ([`crate::arm::catalog`]), following its [`Paging`] to the end.
    ///
    /// The same guards for every kind of paging: a next link to another scheme, host or port is
    /// refused ([`ArmError::ForeignNextLink`]; nothing, so no token, is sent there), a link or
    /// `$skipToken` seen twice is a loop ([`ArmError::PaginationLoop`]), more than `max_pages`
    /// pages is [`ArmError::TooManyPages`], and a Resource Graph answer saying its results are
    /// truncated without a `$skipToken` to continue is [`ArmError::IncompleteResults`] — never
    /// a silent partial list.
    pub async fn fetch_all<T: DeserializeOwned + Send + 'static>(
        &self,
        list: &ArmList<T>,
    ) -> Result<Vec<T>> {
        self.fetch_all_pages(list, &mut |_: &[T]| {}).await
    }

    /// Like [`ArmClient::fetch_all`], calling `on_page` with the items of each page as soon as
    /// it is decoded (before the next page is asked for), so that work on a long list can start
    /// while the rest of it arrives. The items are also in the returned list.
    ///
    /// # Errors
    ///
    /// Those of [`ArmClient::fetch_all`]; pages already handed to `on_page` stay handed.
    pub async fn fetch_all_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        list: &ArmList<T>,
        on_page: &mut (dyn FnMut(&[T]) + Send),
    ) -> Result<Vec<T>> {
        let op = self.operation();
        self.bounded(&op, async {
            let url = self.request_url(list.path(), list.query(), list.api_version())?;
            let method = method_of(list.method());
            match list.paging() {
                Paging::SkipToken => self.skip_token_pages(&op, url, list.body(), on_page).await,
                Paging::NextLink | Paging::ODataNextLink => {
                    self.link_pages(
                        &op,
                        method,
                        url,
                        list.body(),
                        list.api_version(),
                        list.expected_items(),
                        on_page,
                    )
                    .await
                }
            }
        })
        .await
    }

    /// `GET path?api-version=…`, the body decoded as `T`.
    ///
    /// `path` starts with `/` and may carry a query (`?$filter=…`); `api-version` is added
    /// unless already present. Prefer [`ArmClient::fetch`] with a [`crate::arm::catalog`] entry.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, api_version: &str) -> Result<T> {
        let op = self.operation();
        self.bounded(&op, async {
            let url = self.url(path, api_version)?;
            let (request, status, body) = self.send(&op, Method::Get, url, None, None).await?;
            decode(&request, status, &body)
        })
        .await
    }

    /// Like [`ArmClient::get`], but a 404 answer is `Ok(None)`.
    pub async fn get_opt<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<T>> {
        none_on_404(self.get(path, api_version).await)
    }

    /// `GET` a list (`{"value": […], "nextLink": …}`), following `nextLink` to the end, with
    /// the guards of [`ArmClient::fetch_all`]. Prefer `fetch_all` with a catalogue entry.
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Vec<T>> {
        let op = self.operation();
        self.bounded(&op, async {
            let url = self.url(path, api_version)?;
            self.link_pages(
                &op,
                Method::Get,
                url,
                None,
                api_version,
                0,
                &mut |_: &[T]| {},
            )
            .await
        })
        .await
    }

    /// `POST path?api-version=…` with an optional JSON body (none: `Content-Length: 0`), the
    /// answer decoded as `T`. Prefer [`ArmClient::fetch`] with a catalogue entry.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let op = self.operation();
        self.bounded(&op, async {
            let url = self.url(path, api_version)?;
            let (request, status, response) = self.send(&op, Method::Post, url, body, None).await?;
            decode(&request, status, &response)
        })
        .await
    }

    /// The operation a call belongs to: the client's (see [`ArmClient::with_deadline`]), or a
    /// new one ending `timeout` from now.
    fn operation(&self) -> Arc<Operation> {
        self.operation.clone().unwrap_or_else(|| {
            Operation::new(Instant::now() + self.inner.timeout, self.inner.timeout)
        })
    }

    /// Runs `work`, failing with [`ArmError::Deadline`] once the operation's deadline passes.
    async fn bounded<T>(
        &self,
        op: &Arc<Operation>,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if Instant::now() >= op.deadline {
            return Err(op.deadline_error());
        }
        match tokio::time::timeout_at(op.deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(op.deadline_error()),
        }
    }

    /// Follows `nextLink` (GET) or `@odata.nextLink` (the same method and body again).
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's parts, as the callers hold them"
    )]
    async fn link_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        op: &Arc<Operation>,
        method: Method,
        mut url: Url,
        body: Option<&serde_json::Value>,
        api_version: &str,
        expected_items: usize,
        on_page: &mut (dyn FnMut(&[T]) + Send),
    ) -> Result<Vec<T>> {
        let mut seen = HashSet::new();
        // Each page is decoded as it streams in, its items added to the list's (with room
        // made at once for the items expected: growing a list of thousands copies it).
        let mut first = PageSplitter::<T>::default();
        first.items.reserve_exact(expected_items);
        let splitter = Arc::new(Mutex::new(first));
        let sink = BodySink(splitter.clone());
        let mut pages = 0usize;
        let mut slot = None;
        loop {
            if pages >= self.inner.max_pages {
                return Err(ArmError::TooManyPages {
                    max: self.inner.max_pages,
                });
            }
            seen.insert(url.as_str().to_owned());
            let (request, status, _) = self
                .send_in(op, method, url, body, Some(sink.clone()), &mut slot)
                .await?;
            pages += 1;
            let mut split = splitter.lock().unwrap_or_else(|e| e.into_inner());
            let start = split.page_start();
            let next = split.finish_page().map_err(|message| ArmError::Decode {
                request: request.clone(),
                status,
                message,
            })?;
            on_page(&split.items[start..]);
            let Some(link) = next.filter(|l| !l.trim().is_empty()) else {
                return Ok(std::mem::take(&mut split.items));
            };
            drop(split);
            url = self.next_url(&link, api_version)?;
            if seen.contains(url.as_str()) {
                return Err(ArmError::PaginationLoop { link });
            }
        }
    }

    /// Resource Graph: POSTs the same body again with `options.$skipToken` until no token
    /// comes back.
    async fn skip_token_pages<T: DeserializeOwned>(
        &self,
        op: &Arc<Operation>,
        url: Url,
        body: Option<&serde_json::Value>,
        on_page: &mut (dyn FnMut(&[T]) + Send),
    ) -> Result<Vec<T>> {
        let mut body = body.cloned().unwrap_or_else(|| serde_json::json!({}));
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        let mut pages = 0usize;
        let mut slot = None;
        loop {
            if pages >= self.inner.max_pages {
                return Err(ArmError::TooManyPages {
                    max: self.inner.max_pages,
                });
            }
            let (request, status, bytes) = self
                .send_in(op, Method::Post, url.clone(), Some(&body), None, &mut slot)
                .await?;
            pages += 1;
            let page: GraphPage<T> = decode(&request, status, &bytes)?;
            drop(bytes);
            on_page(&page.data);
            items.extend(page.data);
            let token = page.skip_token.filter(|t| !t.trim().is_empty());
            let Some(token) = token else {
                if is_true(page.result_truncated.as_ref()) {
                    return Err(ArmError::IncompleteResults {
                        request,
                        message: "the answer says resultTruncated but carries no $skipToken \
                                  to continue (does the query project `id`?)"
                            .to_owned(),
                    });
                }
                return Ok(items);
            };
            if !seen.insert(token.clone()) {
                return Err(ArmError::PaginationLoop {
                    link: format!("$skipToken {token}"),
                });
            }
            if !body.is_object() {
                body = serde_json::json!({});
            }
            let options = body
                .as_object_mut()
                .map(|o| o.entry("options").or_insert_with(|| serde_json::json!({})));
            match options {
                Some(serde_json::Value::Object(options)) => {
                    options.insert("$skipToken".to_owned(), serde_json::Value::String(token));
                }
                Some(other) => *other = serde_json::json!({ "$skipToken": token }),
                None => {}
            }
        }
    }

    /// The URL of a catalogue request: `path`, its query parameters and `api-version`.
    fn request_url(
        &self,
        path: &str,
        query: &[(String, String)],
        api_version: &str,
    ) -> Result<Url> {
        let mut url = self.url(path, api_version)?;
        if !query.is_empty() {
            let existing: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut pairs = url.query_pairs_mut();
            pairs.clear();
            for (k, v) in query.iter().chain(existing.iter()) {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// The URL of `path` on the endpoint, with `api-version`.
    fn url(&self, path: &str, api_version: &str) -> Result<Url> {
        let invalid = |reason: &str| ArmError::InvalidPath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if !path.starts_with('/') {
            return Err(invalid("it must start with '/'"));
        }
        if path.starts_with("//") {
            return Err(invalid("it must not start with '//'"));
        }
        let path_only = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path_only.split('/').skip(1).collect();
        for (i, segment) in segments.iter().enumerate() {
            let lower = segment.to_ascii_lowercase().replace("%2e", ".");
            if lower == "." || lower == ".." {
                return Err(invalid("a '.' or '..' segment would change the path"));
            }
            if segment.is_empty() && i + 1 < segments.len() {
                return Err(invalid("it has an empty segment ('//')"));
            }
        }
        let base = self.inner.endpoint.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}{path}"))
            .map_err(|e| invalid(&format!("not a valid URL path: {e}")))?;
        if !same_origin(&url, &self.inner.endpoint) {
            return Err(invalid("it leaves the ARM endpoint"));
        }
        add_api_version(&mut url, api_version);
        Ok(url)
    }

    /// A next link as a URL, refused unless it is on the endpoint.
    fn next_url(&self, link: &str, api_version: &str) -> Result<Url> {
        let foreign = || ArmError::ForeignNextLink {
            link: link.to_owned(),
            endpoint: self.inner.endpoint.origin().ascii_serialization(),
        };
        let mut url = Url::parse(link).map_err(|_| foreign())?;
        if !same_origin(&url, &self.inner.endpoint) {
            return Err(foreign());
        }
        add_api_version(&mut url, api_version);
        Ok(url)
    }

    /// Sends one logical request (retries included): admitted by the pacer (a concurrency
    /// permit of its throttle scope, quota for a read, an overall permit); a non-2xx answer is
    /// [`ArmError::Api`]. Returns the request label, the status and the body.
    async fn send(
        &self,
        op: &Arc<Operation>,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        sink: Option<BodySink>,
    ) -> Result<(String, u16, azure_core::Bytes)> {
        self.send_in(op, method, url, body, sink, &mut None).await
    }

    /// Like [`ArmClient::send`], in `slot`: the concurrency permits of a list's earlier page,
    /// kept for its next (a page in the same scope only waits for its quota, not for a permit
    /// again behind every request queued since: a long list's pages go back to back).
    async fn send_in<'s>(
        &'s self,
        op: &Arc<Operation>,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        sink: Option<BodySink>,
        slot: &mut Option<(ThrottleScope, Admission<'s>)>,
    ) -> Result<(String, u16, azure_core::Bytes)> {
        let label = format!("{} {}", method_name(method), url.path());
        let read_only_post = method == Method::Post && is_read_only_post(url.path());
        if method == Method::Post && !self.inner.allow_writes && !read_only_post {
            return Err(ArmError::WriteRefused { request: label });
        }
        let endpoint = self.inner.endpoint.origin().ascii_serialization();
        let scope = ThrottleScope::of(method == Method::Post, url.path());
        // The quotas count reads: GETs and the POSTs that only read.
        let paced = matches!(method, Method::Get | Method::Head) || read_only_post;
        match slot {
            Some((held, _)) if *held == scope => {
                if paced {
                    self.inner.pacer.take(&scope, op.deadline, &label).await?;
                }
            }
            _ => {
                // A slot of another scope is given back before one of this scope is waited for.
                *slot = None;
                let admission = self
                    .inner
                    .pacer
                    .admit(&scope, paced, op.deadline, &label)
                    .await?;
                *slot = Some((scope.clone(), admission));
            }
        }
        let mut request = Request::new(url, method);
        request.insert_header(ACCEPT, "application/json");
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| ArmError::InvalidPath {
                path: label.clone(),
                reason: format!("the request body could not be serialised: {e}"),
            })?;
            request.insert_header(CONTENT_TYPE, "application/json");
            request.set_body(bytes);
        }
        let ticket = Arc::new(Ticket::new(scope, paced, label.clone()));
        let give_up = Arc::new(GiveUp::default());
        let context = Context::new()
            .with_value(op.clone())
            .with_value(ticket)
            .with_value(give_up.clone());
        let response = match sink {
            // The body goes to the sink as it arrives (an error answer's is read whole).
            Some(sink) => {
                let context = context.with_value(sink);
                let streamed = self
                    .inner
                    .pipeline
                    .stream(
                        &context,
                        &mut request,
                        Some(PipelineStreamOptions {
                            skip_checks: true,
                            ..PipelineStreamOptions::default()
                        }),
                    )
                    .await;
                match streamed {
                    Ok(response) => response.try_into_raw_response().await,
                    Err(e) => Err(e),
                }
            }
            None => {
                self.inner
                    .pipeline
                    .send(
                        &context,
                        &mut request,
                        Some(PipelineSendOptions {
                            skip_checks: true,
                            ..PipelineSendOptions::default()
                        }),
                    )
                    .await
            }
        }
        .map_err(|e| match e.into_downcast::<ArmError>() {
            Ok(arm) => arm,
            Err(e) => ArmError::Transport {
                message: if is_connection_refused(&e) {
                    "connection refused".to_owned()
                } else {
                    error_chain(&e)
                },
                endpoint,
            },
        })?;
        let status = u16::from(response.status());
        // The body as received (no copy: a fleet's pages are megabytes each).
        let bytes = azure_core::Bytes::from(response.into_body());
        if !(200..300).contains(&status) {
            let mut api = ApiError::from_response(status, &bytes, label);
            // Set only when the retry policy gave up because the wait asked for would have
            // passed the deadline.
            api.retry_after = give_up.deadline_wait();
            return Err(api.into());
        }
        Ok((label, status, bytes))
    }
}

fn none_on_404<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ArmError::Api(api)) if api.status == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

fn method_of(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::Get,
        HttpMethod::Post => Method::Post,
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        _ => "REQUEST",
    }
}

fn add_api_version(url: &mut Url, api_version: &str) {
    let present = url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("api-version"));
    if !present {
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
    }
}

fn decode<T: DeserializeOwned>(request: &str, status: u16, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| ArmError::Decode {
        request: request.to_owned(),
        status,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
