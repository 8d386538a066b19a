//! [`ArmClient`]: GET / POST / paged lists against Azure Resource Manager, over the
//! `azure_core` pipeline with our own retry and authentication policies.

use crate::arm::{
    auth::{BearerAuthPolicy, CountingPolicy, same_origin, validate_endpoint},
    cloud::{Cloud, token_scope},
    credential::error_chain,
    error::{ApiError, ArmError, Result},
    retry::{RetryPolicy, RetrySettings},
};
use azure_core::{
    credentials::TokenCredential,
    http::{
        ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, RetryOptions,
        Transport,
        headers::{ACCEPT, CONTENT_TYPE},
        policies::Policy,
    },
};
use serde::{Deserialize, de::DeserializeOwned};
use std::{
    collections::HashSet,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{sync::Semaphore, time::Instant};
use url::Url;

/// Options of an [`ArmClient`].
#[derive(Clone)]
pub struct ArmClientOptions {
    /// The cloud (its ARM endpoint, unless `endpoint` is set).
    pub cloud: Cloud,
    /// An ARM endpoint overriding the cloud's: https, or plain http to a loopback host.
    pub endpoint: Option<Url>,
    /// Requests in flight at most (default 16).
    pub concurrency: usize,
    /// The overall deadline, counted from the client's creation (default 300 s).
    pub timeout: Duration,
    /// Retries of one request after the first attempt (default 5).
    pub max_retries: u32,
    /// The cap on one wait between retries, including `Retry-After` (default 60 s).
    pub max_retry_wait: Duration,
    /// The most pages one list may have (default 1000).
    pub max_pages: usize,
    /// The HTTP transport (default: azure_core's reqwest client).
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

struct Inner {
    pipeline: Pipeline,
    endpoint: Url,
    semaphore: Semaphore,
    deadline: Instant,
    timeout: Duration,
    max_pages: usize,
    allow_writes: bool,
    requests: Arc<AtomicU64>,
}

/// A client of Azure Resource Manager. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("timeout", &self.inner.timeout)
            .field("max_pages", &self.inner.max_pages)
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

/// One page of an ARM list.
#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "nextLink", default)]
    next_link: Option<String>,
}

impl ArmClient {
    /// A client for the options' endpoint (or cloud), authenticating with `credential`.
    ///
    /// Fails with [`ArmError::InsecureEndpoint`] for an endpoint that is not https (plain http
    /// is allowed to loopback hosts only).
    pub fn new(credential: Arc<dyn TokenCredential>, options: ArmClientOptions) -> Result<Self> {
        let endpoint = options
            .endpoint
            .clone()
            .unwrap_or_else(|| options.cloud.arm_endpoint());
        validate_endpoint(&endpoint)?;
        let deadline = Instant::now() + options.timeout;
        let requests = Arc::new(AtomicU64::new(0));
        let retry: Arc<dyn Policy> = Arc::new(RetryPolicy::new(RetrySettings {
            max_retries: options.max_retries,
            max_retry_wait: options.max_retry_wait,
            base_delay: BASE_RETRY_DELAY,
            max_delay: MAX_BACKOFF,
            deadline,
            timeout: options.timeout,
        }));
        let auth: Arc<dyn Policy> = Arc::new(BearerAuthPolicy::new(
            credential,
            endpoint.clone(),
            token_scope(&endpoint),
        ));
        let counting: Arc<dyn Policy> = Arc::new(CountingPolicy(requests.clone()));
        let pipeline = Pipeline::new(
            Some("esu-preflight"),
            Some(env!("CARGO_PKG_VERSION")),
            ClientOptions {
                retry: RetryOptions::none(),
                transport: options.transport.clone(),
                ..ClientOptions::default()
            },
            vec![retry],
            vec![auth, counting],
            None,
        );
        Ok(ArmClient {
            inner: Arc::new(Inner {
                pipeline,
                endpoint,
                semaphore: Semaphore::new(options.concurrency.max(1)),
                deadline,
                timeout: options.timeout,
                max_pages: options.max_pages,
                allow_writes: options.allow_writes,
                requests,
            }),
        })
    }

    /// The ARM endpoint requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// HTTP attempts sent so far, retries included.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// `GET path?api-version=…`, the body decoded as `T`.
    ///
    /// `path` starts with `/` and may carry a query (`?$filter=…`); `api-version` is added
    /// unless already present.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, api_version: &str) -> Result<T> {
        self.with_deadline(async {
            let url = self.url(path, api_version)?;
            let (request, status, body) = self.send(Method::Get, url, None).await?;
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
        match self.get(path, api_version).await {
            Ok(value) => Ok(Some(value)),
            Err(ArmError::Api(api)) if api.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET` a list (`{"value": […], "nextLink": …}`), following `nextLink` to the end.
    ///
    /// A next link to another scheme, host or port is refused ([`ArmError::ForeignNextLink`],
    /// nothing is sent there), a link seen twice is a loop ([`ArmError::PaginationLoop`]) and
    /// more than `max_pages` pages is [`ArmError::TooManyPages`].
    pub async fn list<T: DeserializeOwned>(&self, path: &str, api_version: &str) -> Result<Vec<T>> {
        self.with_deadline(async {
            let mut url = self.url(path, api_version)?;
            let mut seen = HashSet::new();
            let mut items = Vec::new();
            let mut pages = 0usize;
            loop {
                if pages >= self.inner.max_pages {
                    return Err(ArmError::TooManyPages {
                        max: self.inner.max_pages,
                    });
                }
                seen.insert(url.as_str().to_owned());
                let (request, status, body) = self.send(Method::Get, url, None).await?;
                pages += 1;
                let page: Page<T> = decode(&request, status, &body)?;
                items.extend(page.value);
                let Some(link) = page.next_link.filter(|l| !l.trim().is_empty()) else {
                    return Ok(items);
                };
                url = self.next_url(&link, api_version)?;
                if seen.contains(url.as_str()) {
                    return Err(ArmError::PaginationLoop { link });
                }
            }
        })
        .await
    }

    /// `POST path?api-version=…` with an optional JSON body (none: `Content-Length: 0`), the
    /// answer decoded as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        self.with_deadline(async {
            let url = self.url(path, api_version)?;
            if !self.inner.allow_writes && !is_read_only_post(url.path()) {
                return Err(ArmError::WriteRefused {
                    request: format!("POST {}", url.path()),
                });
            }
            let (request, status, response) = self.send(Method::Post, url, body).await?;
            decode(&request, status, &response)
        })
        .await
    }

    /// Runs `work`, failing with [`ArmError::Deadline`] once the overall deadline passes.
    async fn with_deadline<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let deadline = ArmError::Deadline {
            timeout: self.inner.timeout,
        };
        if Instant::now() >= self.inner.deadline {
            return Err(deadline);
        }
        match tokio::time::timeout_at(self.inner.deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(deadline),
        }
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
        let base = self.inner.endpoint.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}{path}"))
            .map_err(|e| invalid(&format!("not a valid URL path: {e}")))?;
        if !same_origin(&url, &self.inner.endpoint) {
            return Err(invalid("it leaves the ARM endpoint"));
        }
        add_api_version(&mut url, api_version);
        Ok(url)
    }

    /// A `nextLink` as a URL, refused unless it is on the endpoint.
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

    /// Sends one logical request (retries included) under a concurrency permit; a non-2xx
    /// answer is [`ArmError::Api`]. Returns the request label, the status and the body.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<(String, u16, Vec<u8>)> {
        let label = format!("{} {}", method_name(method), url.path());
        let transport_error = |message: String| ArmError::Transport {
            endpoint: self.inner.endpoint.origin().ascii_serialization(),
            message,
        };
        let _permit = self
            .inner
            .semaphore
            .acquire()
            .await
            .map_err(|e| transport_error(e.to_string()))?;
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
        let response = self
            .inner
            .pipeline
            .send(
                &Context::new(),
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..PipelineSendOptions::default()
                }),
            )
            .await
            .map_err(|e| match e.into_downcast::<ArmError>() {
                Ok(arm) => arm,
                Err(e) => transport_error(error_chain(&e)),
            })?;
        let status = u16::from(response.status());
        let bytes = response.into_body().to_vec();
        if !(200..300).contains(&status) {
            return Err(ApiError::from_response(status, &bytes, label).into());
        }
        Ok((label, status, bytes))
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
