//! An in-process Azure Resource Manager mock for esu-preflight's tests and benchmarks.
//!
//! [`ArmMock`] runs a `wiremock` server on loopback and serves ARM payloads built from the real
//! example payloads under `tests/fixtures/arm/` (sources in `SOURCES.md` there). Every route
//! requires `Authorization: Bearer` [`TOKEN`]; a request without it gets ARM's 401 envelope, so a
//! test that forgot to authenticate cannot pass by accident. Unmatched authenticated requests get
//! a 404 `NoMockMatched` error envelope.
//!
//! Nothing here reaches the internet: the server binds 127.0.0.1.

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

pub use wiremock;

/// The bearer token every mock route expects (pass it with `--credential access-token`).
pub const TOKEN: &str = "esu-preflight-test-token-4c1b2e";

/// A subscription id used across tests.
pub const SUB: &str = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";

/// api-versions the gatherer sends (from the request catalogue); the mock's routes match on them.
pub use esu_preflight::arm::catalog::api_version::{
    PERMISSIONS as PERMISSIONS_API, PROVIDERS as PROVIDERS_API, SUBSCRIPTION as SUBSCRIPTION_API,
};

/// The seven providers Azure Arc ESU needs (troubleshooting guide, "Resource providers").
pub use esu_preflight::checks::REQUIRED_PROVIDERS as REQUIRED;

/// Providers a real subscription also lists; registered everywhere, irrelevant to ESU.
const OTHER_PROVIDERS: [&str; 5] = [
    "Microsoft.Resources",
    "Microsoft.Network",
    "Microsoft.KeyVault",
    "Microsoft.Insights",
    "Microsoft.ResourceHealth",
];

/// The directory holding the ARM fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/arm")
}

/// The `responses.200.body` of a fixture file, e.g. `resources/GetSubscription.json`.
pub fn fixture_body(relative: &str) -> Value {
    let file = fixtures_dir().join(relative);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", file.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", file.display()));
    doc["responses"]["200"]["body"].clone()
}

/// A subscription body (shape of `GetSubscription.json`) with the given id and state.
pub fn subscription_json(sub: &str, state: &str) -> Value {
    let mut body = fixture_body("resources/GetSubscription.json");
    body["id"] = json!(format!("/subscriptions/{sub}"));
    body["subscriptionId"] = json!(sub);
    body["displayName"] = json!("Contoso ESU Production");
    body["state"] = json!(state);
    body
}

/// A provider body (shape of `GetProvider.json`) for `namespace` in `state`.
pub fn provider_json(sub: &str, namespace: &str, state: &str) -> Value {
    let mut body = fixture_body("resources/GetProvider.json");
    body["id"] = json!(format!("/subscriptions/{sub}/providers/{namespace}"));
    body["namespace"] = json!(namespace);
    body["registrationState"] = json!(state);
    body
}

/// All providers of a subscription: the seven required ones in the given states (those not
/// named are `Registered`) plus a few unrelated ones, as ARM lists them.
pub fn providers_json(sub: &str, states: &[(&str, &str)]) -> Vec<Value> {
    REQUIRED
        .iter()
        .chain(OTHER_PROVIDERS.iter())
        .map(|ns| {
            let state = states
                .iter()
                .find(|(name, _)| name == ns)
                .map_or("Registered", |(_, state)| state);
            provider_json(sub, ns, state)
        })
        .collect()
}

/// Effective permissions of an Owner (`*`), in the shape of `GetPermissions.json`.
pub fn permissions_owner() -> Value {
    let mut body = fixture_body("authorization/GetPermissions.json");
    body["value"][0]["actions"] = json!(["*"]);
    body.as_object_mut().unwrap().remove("nextLink");
    body
}

/// Effective permissions of a Reader (`*/read`): may not register providers.
pub fn permissions_reader() -> Value {
    let mut body = permissions_owner();
    body["value"][0]["actions"] = json!(["*/read"]);
    body
}

/// The ARM error envelope.
pub fn arm_error(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

/// The 403 `AuthorizationFailed` envelope for `action` over `scope`.
pub fn authorization_failed(action: &str, scope: &str) -> Value {
    arm_error(
        "AuthorizationFailed",
        &format!(
            "The client 'engineer@contoso.com' with object id '5a3b1e7c-0000-4000-8000-00000000beef' \
             does not have authorization to perform action '{action}' over scope '{scope}' or the \
             scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    )
}

/// An [`ArmClient`] for `mock`, authenticating with [`TOKEN`], with the default retry and
/// pagination settings and a 60 s overall deadline.
pub fn client(mock: &ArmMock) -> ArmClient {
    let endpoint = url::Url::parse(&mock.uri()).expect("the mock's URI is a URL");
    ArmClient::new(
        Arc::new(StaticTokenCredential::new(TOKEN)),
        ArmClientOptions {
            endpoint: Some(endpoint),
            timeout: Duration::from_secs(60),
            ..ArmClientOptions::default()
        },
    )
    .expect("a loopback endpoint is accepted")
}

/// The in-process ARM mock.
pub struct ArmMock {
    server: MockServer,
    delay: Duration,
}

/// Answers requests that no route matched: 401 without the token, else a 404 envelope.
struct Fallback;

impl Respond for Fallback {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !has_token(request) {
            return ResponseTemplate::new(401).set_body_json(arm_error(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ));
        }
        ResponseTemplate::new(404).set_body_json(arm_error(
            "NoMockMatched",
            &format!("no mock route for {} {}", request.method, request.url),
        ))
    }
}

/// Whether the request carries the expected bearer token.
pub fn has_token(request: &Request) -> bool {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

impl ArmMock {
    /// Starts an empty mock.
    pub async fn start() -> Self {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// Starts a mock that waits `delay` before every answer (injected latency).
    pub async fn start_with_delay(delay: Duration) -> Self {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Fallback)
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        Self { server, delay }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The underlying wiremock server, for custom routes.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// A response template with the mock's delay applied.
    pub fn template(&self, status: u16) -> ResponseTemplate {
        ResponseTemplate::new(status).set_delay(self.delay)
    }

    /// A route for `verb` on `route_path` (exact path) that requires the token; add matchers
    /// with `.and(…)` and finish with `.respond_with(mock.json(…))`.
    pub fn route(&self, verb: &str, route_path: &str) -> MockBuilder {
        Mock::given(method(verb))
            .and(path(route_path))
            .and(wiremock::matchers::bearer_token(TOKEN))
    }

    /// A JSON answer with the mock's delay applied.
    pub fn json(&self, status: u16, body: Value) -> ResponseTemplate {
        self.template(status).set_body_json(body)
    }

    /// Mounts a mock.
    pub async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }

    /// `GET /subscriptions/{sub}` answers the subscription in `state`.
    pub async fn subscription(&self, sub: &str, state: &str) {
        self.mount(
            self.route("GET", &format!("/subscriptions/{sub}"))
                .and(query_param("api-version", SUBSCRIPTION_API))
                .respond_with(self.json(200, subscription_json(sub, state))),
        )
        .await;
    }

    /// `GET /subscriptions/{sub}/providers` answers one page with the given states.
    pub async fn providers(&self, sub: &str, states: &[(&str, &str)]) {
        self.mount(
            self.route("GET", &format!("/subscriptions/{sub}/providers"))
                .and(query_param("api-version", PROVIDERS_API))
                .respond_with(self.json(200, json!({ "value": providers_json(sub, states) }))),
        )
        .await;
    }

    /// `GET /subscriptions/{sub}/providers` answers `pages` pages linked by absolute `nextLink`s
    /// carrying `$skiptoken=<page number>`.
    pub async fn providers_paged(&self, sub: &str, pages: Vec<Vec<Value>>) {
        let route = format!("/subscriptions/{sub}/providers");
        let count = pages.len();
        for (index, page) in pages.into_iter().enumerate() {
            let mut body = json!({ "value": page });
            if index + 1 < count {
                body["nextLink"] = json!(format!(
                    "{}{route}?api-version={PROVIDERS_API}&%24skiptoken={}",
                    self.uri(),
                    index + 1
                ));
            }
            let builder = self
                .route("GET", &route)
                .and(query_param("api-version", PROVIDERS_API));
            let builder = if index == 0 {
                builder.and(query_param_is_missing("$skiptoken"))
            } else {
                builder.and(query_param("$skiptoken", index.to_string()))
            };
            self.mount(builder.respond_with(self.json(200, body))).await;
        }
    }

    /// The caller's effective permissions at subscription scope.
    pub async fn permissions(&self, sub: &str, body: Value) {
        self.mount(
            self.route(
                "GET",
                &format!("/subscriptions/{sub}/providers/Microsoft.Authorization/permissions"),
            )
            .and(query_param("api-version", PERMISSIONS_API))
            .respond_with(self.json(200, body)),
        )
        .await;
    }

    /// An enabled subscription whose caller is an Owner; the providers route is left to the test.
    pub async fn enabled_with_owner(&self, sub: &str) {
        self.subscription(sub, "Enabled").await;
        self.permissions(sub, permissions_owner()).await;
    }

    /// A healthy subscription: enabled, every provider registered, the caller an Owner.
    pub async fn healthy(&self, sub: &str) {
        self.enabled_with_owner(sub).await;
        self.providers(sub, &[]).await;
    }

    /// `GET /subscriptions/{sub}/providers` answers `status` with `body` (any api-version).
    pub async fn providers_answer(&self, sub: &str, status: u16, body: Value) {
        self.mount(
            self.route("GET", &format!("/subscriptions/{sub}/providers"))
                .respond_with(self.json(status, body)),
        )
        .await;
    }

    /// `GET /subscriptions/{sub}/providers` answers 403 `AuthorizationFailed` for
    /// `Microsoft.Resources/subscriptions/providers/read`.
    pub async fn providers_forbidden(&self, sub: &str) {
        self.providers_answer(
            sub,
            403,
            authorization_failed(
                "Microsoft.Resources/subscriptions/providers/read",
                &format!("/subscriptions/{sub}"),
            ),
        )
        .await;
    }

    /// Every request the mock received, in order.
    pub async fn received(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}
