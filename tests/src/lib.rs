//! An in-process Azure Resource Manager mock for esu-preflight's tests and benchmarks.
//!
//! [`ArmMock`] runs a `wiremock` server on loopback and serves ARM payloads built from the real
//! example payloads under `tests/fixtures/arm/` (sources in `SOURCES.md` there). Every route
//! requires `Authorization: Bearer` [`TOKEN`]; a request without it gets ARM's 401 envelope, so a
//! test that forgot to authenticate cannot pass by accident.
//!
//! The mock is strict, so that its tests can fail:
//! - an authenticated request no route matches is answered **599** (a status ARM never sends, and
//!   one the client does not retry) with a `NoMockMatched` envelope naming the method and URL, so
//!   it can never pass for a "not found"; it is also recorded, and [`ArmMock::verify`] (or
//!   dropping the mock) fails the test naming it;
//! - the routes mounted by the helpers ([`ArmMock::subscription`], [`ArmMock::providers`], …)
//!   expect to be fetched exactly once per run (no URL fetched twice); a test that runs the
//!   tool more than once against one mock says so with [`ArmMock::expect_runs`]. The counts are
//!   checked by [`ArmMock::verify`] and again when the mock is dropped.
//!
//! Nothing here reaches the internet: the server binds 127.0.0.1.

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate, Times};

pub use wiremock;

pub mod everything;
pub mod fleet;
pub mod graph;
pub mod quota;
pub use fleet::{FleetMock, FleetSpec};
pub use quota::{QuotaSettings, Quotas};

/// The bearer token every mock route expects (pass it with `--credential access-token`).
pub const TOKEN: &str = "esu-preflight-test-token-4c1b2e";

/// A bearer token that is a JWT naming the caller ([`CALLER_OID`], tenant [`TENANT`],
/// `engineer@contoso.com`, audience ARM, expiring in 2100; unsigned): the mock accepts it like
/// [`TOKEN`]. With it, gather reads the caller's role assignments with `assignedTo('{oid}')`;
/// with the opaque [`TOKEN`] it knows no caller and reads them with `atScope()` only.
pub const CALLER_TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyIsImlzcyI6Imh0dHBzOi8vc3RzLndpbmRvd3MubmV0LzMxYzc1NDIzLTMyZDYtNDMyMi04OGI3LWM0NzhiZGRlNDg1OC8iLCJleHAiOjQxMDI0NDQ4MDAsIm9pZCI6IjVhM2IxZTdjLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwYmVlZiIsInRpZCI6IjMxYzc1NDIzLTMyZDYtNDMyMi04OGI3LWM0NzhiZGRlNDg1OCIsInVwbiI6ImVuZ2luZWVyQGNvbnRvc28uY29tIn0.c2lnbmF0dXJl";

/// The object id [`CALLER_TOKEN`] names (and the 403 envelopes quote).
pub const CALLER_OID: &str = "5a3b1e7c-0000-4000-8000-00000000beef";

/// The tenant of [`CALLER_TOKEN`] and of the mock's licenses.
pub const TENANT: &str = "31c75423-32d6-4322-88b7-c478bdde4858";

/// A subscription id used across tests.
pub const SUB: &str = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";

/// api-versions the gatherer sends (from the request catalogue); the mock's routes match on them.
pub use esu_preflight::arm::catalog::api_version::{
    HYBRID_COMPUTE as HYBRID_COMPUTE_API, PERMISSIONS as PERMISSIONS_API, POLICY as POLICY_API,
    POLICY_EXEMPTIONS as POLICY_EXEMPTIONS_API, POLICY_INSIGHTS as POLICY_INSIGHTS_API,
    PROVIDERS as PROVIDERS_API, RBAC as RBAC_API, RESOURCE_GRAPH as RESOURCE_GRAPH_API,
    SUBSCRIPTION as SUBSCRIPTION_API,
};

/// The seven providers Azure Arc ESU needs (troubleshooting guide, "Resource providers").
pub use esu_preflight::checks::REQUIRED_PROVIDERS as REQUIRED;

/// Providers a real subscription also lists; registered everywhere, irrelevant to ESU.
const OTHER_PROVIDERS: [&str; 6] = [
    "Microsoft.Resources",
    "Microsoft.Network",
    "Microsoft.KeyVault",
    "Microsoft.Insights",
    "Microsoft.ResourceHealth",
    "Microsoft.WindowsESU",
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

/// ARM's 404 envelope for a subscription that does not exist (or that the directory does not
/// know).
pub fn subscription_not_found(sub: &str) -> Value {
    arm_error(
        "SubscriptionNotFound",
        &format!("The subscription '{sub}' could not be found."),
    )
}

/// ARM's 404 envelope for a resource group that does not exist.
pub fn resource_group_not_found(rg: &str) -> Value {
    arm_error(
        "ResourceGroupNotFound",
        &format!("Resource group '{rg}' could not be found."),
    )
}

/// Matches a request whose path is `path`, or lies below it when `below` is set, ignoring case
/// (ARM paths are case-insensitive: `resourcegroups` and `resourceGroups` are the same).
struct PathIgnoringCase {
    path: String,
    below: bool,
}

impl wiremock::Match for PathIgnoringCase {
    fn matches(&self, request: &Request) -> bool {
        let actual = request.url.path().to_ascii_lowercase();
        if self.below {
            actual
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.starts_with('/'))
        } else {
            actual == self.path
        }
    }
}

fn path_ignoring_case(path: &str, below: bool) -> PathIgnoringCase {
    PathIgnoringCase {
        path: path.to_ascii_lowercase(),
        below,
    }
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
    client_with(mock, TOKEN, test_options())
}

/// Like [`client`], authenticating with [`CALLER_TOKEN`] (a JWT naming [`CALLER_OID`]).
pub fn caller_client(mock: &ArmMock) -> ArmClient {
    client_with(mock, CALLER_TOKEN, test_options())
}

/// The options of [`client`]: the defaults with a 60 s overall deadline.
fn test_options() -> ArmClientOptions {
    ArmClientOptions {
        timeout: Duration::from_secs(60),
        ..ArmClientOptions::default()
    }
}

/// An [`ArmClient`] for `mock` with `options` (their endpoint replaced by the mock's),
/// authenticating with `token`.
pub fn client_with(mock: &ArmMock, token: &str, options: ArmClientOptions) -> ArmClient {
    let endpoint = url::Url::parse(&mock.uri()).expect("the mock's URI is a URL");
    ArmClient::new(
        Arc::new(StaticTokenCredential::new(token)),
        ArmClientOptions {
            endpoint: Some(endpoint),
            ..options
        },
    )
    .expect("a loopback endpoint is accepted")
}

/// The in-process ARM mock.
pub struct ArmMock {
    server: MockServer,
    delay: Duration,
    runs: u64,
    unmatched: Arc<Mutex<Vec<String>>>,
}

/// The status the mock answers an authenticated request no route matched: ARM never sends it,
/// and the client does not retry it.
pub const NO_MOCK_MATCHED_STATUS: u16 = 599;

/// Answers requests that no route matched: 401 without the token (what ARM answers), else
/// [`NO_MOCK_MATCHED_STATUS`] with a `NoMockMatched` envelope, recording the request.
struct Fallback {
    unmatched: Arc<Mutex<Vec<String>>>,
}

impl Respond for Fallback {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !has_token(request) {
            return ResponseTemplate::new(401).set_body_json(arm_error(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ));
        }
        let described = format!("{} {}", request.method, request.url);
        self.unmatched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(described.clone());
        ResponseTemplate::new(NO_MOCK_MATCHED_STATUS).set_body_json(arm_error(
            "NoMockMatched",
            &format!("no mock route for {described}"),
        ))
    }
}

/// Answers `GET /subscriptions/{sub}/resourceGroups/{rg}` with that group (shape of
/// `CreateResourceGroup.json`), in eastus.
struct ExistingGroup {
    delay: Duration,
}

impl Respond for ExistingGroup {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().trim_end_matches('/').to_owned();
        let name = id.rsplit('/').next().unwrap_or_default().to_owned();
        let mut body = fixture_body("resources/CreateResourceGroup.json");
        body["id"] = json!(id);
        body["name"] = json!(name);
        ResponseTemplate::new(200)
            .set_delay(self.delay)
            .set_body_json(body)
    }
}

/// Whether a request would change Azure: anything but a GET and the POSTs that only read
/// (policy-state queries, `validateLicense`, Resource Graph, `checkPolicyRestrictions`).
pub fn changes_azure(request: &Request) -> bool {
    let path = request.url.path().to_ascii_lowercase();
    let read_only_post = [
        "/queryresults",
        "/summarize",
        "/validatelicense",
        "/checkpolicyrestrictions",
        "/providers/microsoft.resourcegraph/resources",
    ]
    .iter()
    .any(|suffix| path.ends_with(suffix));
    match request.method.as_str() {
        "GET" | "HEAD" => false,
        "POST" => !read_only_post,
        _ => true,
    }
}

/// Whether the request carries one of the expected bearer tokens ([`TOKEN`], [`CALLER_TOKEN`]).
pub fn has_token(request: &Request) -> bool {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.strip_prefix("Bearer ")
                .is_some_and(|t| t == TOKEN || t == CALLER_TOKEN)
        })
}

/// Matches a request that carries one of the expected bearer tokens (see [`has_token`]).
pub struct Authorized;

impl wiremock::Match for Authorized {
    fn matches(&self, request: &Request) -> bool {
        has_token(request)
    }
}

impl Drop for ArmMock {
    fn drop(&mut self) {
        // The server's own drop then checks the routes' expected counts.
        if std::thread::panicking() {
            return;
        }
        let unmatched = self.unmatched();
        assert!(
            unmatched.is_empty(),
            "the ARM mock received requests no route matched:\n{}",
            unmatched.join("\n")
        );
    }
}

impl ArmMock {
    /// Starts an empty mock.
    pub async fn start() -> Self {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// Starts a mock that waits `delay` before every answer (injected latency).
    pub async fn start_with_delay(delay: Duration) -> Self {
        // A server of its own, not one from wiremock's pool: a pooled server recycled from a
        // test that just ended (tests of one binary run in parallel) now and then dropped the
        // first requests of the next test on it, which the client then retried (3 runs in 40
        // of tests/scope.rs under load; none in 140 with servers of their own).
        let server = MockServer::builder().start().await;
        let unmatched = Arc::new(Mutex::new(Vec::new()));
        Mock::given(wiremock::matchers::any())
            .respond_with(Fallback {
                unmatched: Arc::clone(&unmatched),
            })
            .with_priority(u8::MAX)
            .named("fallback")
            .mount(&server)
            .await;
        // Empty answers for what a test does not care about, unless it mounts its own routes
        // (any route of the default priority wins over these): a subscription with no ESU
        // licenses and no Arc machines, no compliance data for the ESU patch policies, and no
        // Windows Server 2008 MAK keys.
        // No role, deny or policy assignments and no exemptions at any subscription or resource
        // group, no management groups known (Resource Graph lists nothing), and nothing Azure
        // Policy would restrict.
        let empty = json!({ "value": [] });
        let graph_empty = json!({
            "totalRecords": 0, "count": 0, "data": [], "resultTruncated": "false",
        });
        let unrestricted = json!({
            "fieldRestrictions": [],
            "contentEvaluationResult": { "policyEvaluations": [] },
        });
        for (verb, route, name, body) in [
            (
                "GET",
                r"(?i)^/subscriptions/[^/]+/providers/Microsoft\.HybridCompute/(licenses|machines)$",
                "no licenses or machines",
                &empty,
            ),
            (
                "POST",
                r"(?i)^/subscriptions/[^/]+/providers/Microsoft\.Authorization/policyDefinitions/[^/]+/providers/Microsoft\.PolicyInsights/policyStates/latest/queryResults$",
                "no ESU patch policy states",
                &empty,
            ),
            (
                "GET",
                r"(?i)^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/providers/Microsoft\.Authorization/(roleAssignments|denyAssignments|policyAssignments|policyExemptions)$",
                "no role, deny or policy assignments, no exemptions",
                &empty,
            ),
            (
                "POST",
                r"(?i)^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/providers/Microsoft\.PolicyInsights/checkPolicyRestrictions$",
                "Azure Policy restricts nothing",
                &unrestricted,
            ),
            (
                "GET",
                r"(?i)^/subscriptions/[^/]+/providers/Microsoft\.WindowsESU/multipleActivationKeys$",
                "no Windows Server 2008 MAK keys",
                &empty,
            ),
        ] {
            Mock::given(method(verb))
                .and(wiremock::matchers::path_regex(route))
                .and(Authorized)
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_delay(delay)
                        .set_body_json(body.clone()),
                )
                .with_priority(u8::MAX - 1)
                .named(name)
                .mount(&server)
                .await;
        }
        // Resource Graph: the management-group chain query lists nothing; any other query (the
        // inventory's, unless a test mounts [`ArmMock::graph`]) is refused with a 400, so a run
        // reads machines and licenses through the ARM lists the test mounted, never through an
        // empty Resource Graph that contradicts them.
        let graph = r"(?i)^/providers/Microsoft\.ResourceGraph/resources$";
        Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex(graph))
            .and(wiremock::matchers::body_string_contains(
                "managementGroupAncestorsChain",
            ))
            .and(Authorized)
            .respond_with(
                ResponseTemplate::new(200)
                    .set_delay(delay)
                    .set_body_json(graph_empty),
            )
            .with_priority(u8::MAX - 1)
            .named("Resource Graph lists nothing")
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex(graph))
            .and(Authorized)
            .respond_with(
                ResponseTemplate::new(400)
                    .set_delay(delay)
                    .set_body_json(arm_error(
                        "BadRequest",
                        "this mock serves no Resource Graph inventory (ArmMock::graph)",
                    )),
            )
            .with_priority(u8::MAX - 1)
            .named("Resource Graph serves no inventory")
            .mount(&server)
            .await;
        // Any resource group a test does not mount exists (in eastus), and the caller holds
        // `*` there: what gather reads for the groups of licenses and machines.
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(
                r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+$",
            ))
            .and(Authorized)
            .respond_with(ExistingGroup { delay })
            .with_priority(u8::MAX - 1)
            .named("every resource group exists")
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(
                r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Authorization/permissions$",
            ))
            .and(Authorized)
            .respond_with(
                ResponseTemplate::new(200)
                    .set_delay(delay)
                    .set_body_json(permissions_owner()),
            )
            .with_priority(u8::MAX - 1)
            .named("the caller holds * in every resource group")
            .mount(&server)
            .await;
        Self {
            server,
            delay,
            runs: 1,
            unmatched,
        }
    }

    /// The routes mounted from now on by the helpers expect `runs` requests each instead of one:
    /// for a test that runs the tool `runs` times against this mock.
    #[must_use]
    pub fn expect_runs(mut self, runs: u64) -> Self {
        self.runs = runs;
        self
    }

    /// How many requests each helper route expects (see [`ArmMock::expect_runs`]).
    pub fn expected_per_route(&self) -> Times {
        Times::from(self.runs)
    }

    /// The authenticated requests no route matched, as `METHOD URL`, in order.
    pub fn unmatched(&self) -> Vec<String> {
        self.unmatched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Fails (panics) unless every route got its expected number of requests and no
    /// authenticated request went unmatched. Also run when the mock is dropped; calling it
    /// explicitly reports the failure at the end of the test rather than during unwinding.
    pub async fn verify(&self) {
        let unmatched = self.unmatched();
        assert!(
            unmatched.is_empty(),
            "the ARM mock received requests no route matched:\n{}",
            unmatched.join("\n")
        );
        self.server.verify().await;
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
            .and(Authorized)
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
                .respond_with(self.json(200, subscription_json(sub, state)))
                .named(format!("GET /subscriptions/{sub}"))
                .expect(self.expected_per_route()),
        )
        .await;
    }

    /// `GET /subscriptions/{sub}/providers` answers one page with the given states.
    pub async fn providers(&self, sub: &str, states: &[(&str, &str)]) {
        self.mount(
            self.route("GET", &format!("/subscriptions/{sub}/providers"))
                .and(query_param("api-version", PROVIDERS_API))
                .respond_with(self.json(200, json!({ "value": providers_json(sub, states) })))
                .named(format!("GET /subscriptions/{sub}/providers"))
                .expect(self.expected_per_route()),
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
            self.mount(
                builder
                    .respond_with(self.json(200, body))
                    .named(format!("GET {route} page {}", index + 1))
                    .expect(self.expected_per_route()),
            )
            .await;
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
            .respond_with(self.json(200, body))
            .named(format!("GET /subscriptions/{sub}/permissions"))
            .expect(self.expected_per_route()),
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
                .respond_with(self.json(status, body))
                .named(format!("GET /subscriptions/{sub}/providers ({status})"))
                .expect(self.expected_per_route()),
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

    /// The subscription does not exist: `GET /subscriptions/{sub}` answers ARM's 404
    /// `SubscriptionNotFound` (once per run), and so does every read below it (providers,
    /// permissions, resource groups…, any number of times), as ARM does.
    pub async fn subscription_missing(&self, sub: &str) {
        let route = format!("/subscriptions/{sub}");
        self.mount(
            Mock::given(path_ignoring_case(&route, false))
                .and(Authorized)
                .respond_with(self.json(404, subscription_not_found(sub)))
                .named(format!("GET {route} (SubscriptionNotFound)"))
                .expect(self.expected_per_route()),
        )
        .await;
        self.mount(
            Mock::given(path_ignoring_case(&route, true))
                .and(Authorized)
                .respond_with(self.json(404, subscription_not_found(sub)))
                .named(format!("below {route} (SubscriptionNotFound)")),
        )
        .await;
    }

    /// The resource group does not exist: `GET /subscriptions/{sub}/resourcegroups/{rg}`
    /// answers ARM's 404 `ResourceGroupNotFound`, `HEAD` on it a 404 with an empty body (and
    /// `x-ms-failure-cause: gateway`), and every read below it the 404 envelope; any number of
    /// times (how gather reads a resource group is its business).
    pub async fn resource_group_missing(&self, sub: &str, rg: &str) {
        let route = format!("/subscriptions/{sub}/resourcegroups/{rg}");
        self.mount(
            Mock::given(method("HEAD"))
                .and(path_ignoring_case(&route, false))
                .and(Authorized)
                .respond_with(
                    self.template(404)
                        .insert_header("x-ms-failure-cause", "gateway"),
                )
                .named(format!("HEAD {route} (404)")),
        )
        .await;
        for below in [false, true] {
            self.mount(
                Mock::given(method("GET"))
                    .and(path_ignoring_case(&route, below))
                    .and(Authorized)
                    .respond_with(self.json(404, resource_group_not_found(rg)))
                    .named(format!("GET {route} (ResourceGroupNotFound)")),
            )
            .await;
        }
    }

    /// Every request the mock received, in order.
    pub async fn received(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// How many times each `METHOD URL` (and body, for a request with one: Resource Graph
    /// queries share one URL) was requested (retries included), sorted by URL.
    pub async fn requests_per_url(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for request in self.received().await {
            let mut key = format!("{} {}", request.method, request.url);
            if !request.body.is_empty() {
                key.push(' ');
                key.push_str(&String::from_utf8_lossy(&request.body));
            }
            *counts.entry(key).or_default() += 1;
        }
        counts
    }

    /// Fails (panics) if any URL was requested more than once, naming those URLs. For a test
    /// with no retries: a retried request is the same URL again.
    pub async fn assert_no_url_requested_twice(&self) {
        let repeated: Vec<String> = self
            .requests_per_url()
            .await
            .into_iter()
            .filter(|(_, count)| *count > 1)
            .map(|(url, count)| format!("{count}× {url}"))
            .collect();
        assert!(
            repeated.is_empty(),
            "URLs requested more than once:\n{}",
            repeated.join("\n")
        );
    }
}

/// An ESU license in `sub` (shape of the real `License_Get.json`, 2026-09-01), in `rg-esu`, with
/// immutable id `imm-{name}`.
pub fn license_json(
    sub: &str,
    name: &str,
    target: &str,
    edition: &str,
    kind: &str,
    processors: u32,
) -> Value {
    let mut license = fixture_body("hybridcompute/2026-09-01/License_Get.json");
    license["id"] = json!(format!(
        "/subscriptions/{sub}/resourceGroups/rg-esu/providers/Microsoft.HybridCompute/licenses/{name}"
    ));
    license["name"] = json!(name);
    license["location"] = json!("eastus");
    license["properties"]["tenantId"] = json!("31c75423-32d6-4322-88b7-c478bdde4858");
    license["properties"]["licenseDetails"] = json!({
        "state": "Activated",
        "target": target,
        "edition": edition,
        "type": kind,
        "processors": processors,
        "assignedLicenses": processors / 2,
        "immutableId": format!("imm-{name}"),
    });
    license
}

/// An Arc machine in `sub` (shape of the real `Machines_ListBySubscription.json`, 2026-09-01):
/// Connected, the given OS and agent, `cores` cores as a Hyper-V VM on premises, ESU eligible,
/// no license linked.
pub fn machine_json(
    sub: &str,
    name: &str,
    os_sku: &str,
    os_version: &str,
    agent: &str,
    cores: u32,
) -> Value {
    let list = fixture_body("hybridcompute/2026-09-01/Machines_ListBySubscription.json");
    let mut machine = list["value"][0].clone();
    machine["id"] = json!(format!(
        "/subscriptions/{sub}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{name}"
    ));
    machine["name"] = json!(name);
    machine["location"] = json!("eastus");
    machine["kind"] = Value::Null;
    let p = &mut machine["properties"];
    p["status"] = json!("Connected");
    p["lastStatusChange"] = json!("2026-11-29T08:00:00Z");
    p["agentVersion"] = json!(agent);
    p["osType"] = json!("windows");
    p["osName"] = json!(os_sku);
    p["osSku"] = json!(os_sku);
    p["osVersion"] = json!(os_version);
    p["osEdition"] = json!(if os_sku.contains("Datacenter") {
        "Datacenter"
    } else {
        "Standard"
    });
    p["detectedProperties"] = json!({
        "cloudprovider": "N/A",
        "manufacturer": "Microsoft Corporation",
        "model": "Virtual Machine",
        "coreCount": cores.to_string(),
        "logicalCoreCount": cores.to_string(),
    });
    p["licenseProfile"]["esuProfile"] = json!({
        "licenseAssignmentState": "NotAssigned",
        "esuEligibility": "Eligible",
        "serverType": if os_sku.contains("Datacenter") { "Datacenter" } else { "Standard" },
        "esuKeyState": "Inactive",
        "esuKeys": [],
    });
    machine
}

/// Links `machine` to `license` as a machine list reports it.
pub fn link(machine: &mut Value, license: &Value) {
    let esu = &mut machine["properties"]["licenseProfile"]["esuProfile"];
    esu["licenseAssignmentState"] = json!("Assigned");
    esu["esuKeyState"] = json!("Active");
    esu["assignedLicenseImmutableId"] =
        license["properties"]["licenseDetails"]["immutableId"].clone();
}

/// The estate of issue 6's "done when": licenses and machines that each fail one check (or
/// must not fail), in `sub`. Returns `(licenses, machines)`.
pub fn troubled_estate(sub: &str) -> (Vec<Value>, Vec<Value>) {
    const R2: (&str, &str) = ("Windows Server 2012 R2 Datacenter", "6.3.9600.20778");
    const WS16: (&str, &str) = ("Windows Server 2016 Datacenter", "10.0.14393.7428");
    let mut off = license_json(
        sub,
        "esu-off",
        "Windows Server 2012 R2",
        "Standard",
        "vCore",
        8,
    );
    off["properties"]["licenseDetails"]["state"] = json!("Deactivated");
    let w12 = license_json(
        sub,
        "esu-2012",
        "Windows Server 2012",
        "Standard",
        "vCore",
        8,
    );
    let licenses = vec![
        off,
        license_json(
            sub,
            "esu-p8",
            "Windows Server 2012 R2",
            "Datacenter",
            "pCore",
            8,
        ),
        license_json(
            sub,
            "esu-v4",
            "Windows Server 2012 R2",
            "Standard",
            "vCore",
            4,
        ),
        w12.clone(),
        license_json(
            sub,
            "esu-2016-p12",
            "Windows Server 2016",
            "Datacenter",
            "pCore",
            12,
        ),
    ];
    let machine = |name: &str, (sku, version): (&str, &str), agent: &str| {
        machine_json(sub, name, sku, version, agent, 8)
    };
    let mut r2 = machine("srv-r2", R2, "1.34.02440.1130");
    link(&mut r2, &w12);
    let mut disconnected = machine("srv-disc", R2, "1.34.02440.1130");
    disconnected["properties"]["status"] = json!("Disconnected");
    disconnected["properties"]["lastStatusChange"] = json!("2026-11-01T08:00:00Z");
    let mut azure = machine("srv-azure", R2, "1.40.02664.1629");
    azure["properties"]["detectedProperties"]["cloudprovider"] = json!("Azure");
    azure["properties"]["cloudMetadata"] = json!({ "provider": "Azure" });
    let mut hci = machine("srv-hci", R2, "1.40.02664.1629");
    hci["kind"] = json!("HCI");
    hci["properties"]["parentClusterResourceId"] = json!(format!(
        "/subscriptions/{sub}/resourceGroups/rg-hci/providers/Microsoft.AzureStackHCI/clusters/hci-01"
    ));
    let mut avs = machine("srv-avs", R2, "1.40.02664.1629");
    avs["kind"] = json!("AVS");
    let mut ws2019 = machine(
        "srv-2019",
        ("Windows Server 2019 Datacenter", "10.0.17763.6414"),
        "1.40.02664.1629",
    );
    ws2019["properties"]["licenseProfile"]["esuProfile"]["esuEligibility"] = json!("Ineligible");
    let machines = vec![
        r2,
        disconnected,
        machine("srv-old", R2, "1.33.02399.1041"),
        azure,
        hci,
        avs,
        ws2019,
        machine("srv-2016", WS16, "1.61.03050.1722"),
    ];
    (licenses, machines)
}

impl ArmMock {
    /// `GET /subscriptions/{sub}/providers/Microsoft.HybridCompute/licenses` and `…/machines`
    /// answer these lists (one page each).
    pub async fn hybrid_compute(&self, sub: &str, licenses: Vec<Value>, machines: Vec<Value>) {
        for (kind, items) in [("licenses", licenses), ("machines", machines)] {
            let route = format!("/subscriptions/{sub}/providers/Microsoft.HybridCompute/{kind}");
            self.mount(
                self.route("GET", &route)
                    .and(query_param("api-version", HYBRID_COMPUTE_API))
                    .respond_with(self.json(200, json!({ "value": items })))
                    .named(format!("GET {route}"))
                    .expect(self.expected_per_route()),
            )
            .await;
        }
    }

    /// `POST /subscriptions/{sub}/providers/Microsoft.HybridCompute/validateLicense`: the
    /// service's dry run accepts any license (shape of `License_ValidateLicense.json`). Not
    /// mounted, so a caller can add `.expect(n)`.
    pub fn validate_license_accepts(&self, sub: &str) -> Mock {
        self.route(
            "POST",
            &format!("/subscriptions/{sub}/providers/Microsoft.HybridCompute/validateLicense"),
        )
        .respond_with(self.json(
            200,
            fixture_body("hybridcompute/License_ValidateLicense.json"),
        ))
    }

    /// `GET /subscriptions/{sub}/providers/Microsoft.WindowsESU/multipleActivationKeys` answers
    /// `status` with these keys (200) or this body (an error).
    pub async fn mak_keys(&self, sub: &str, status: u16, body: Value) {
        let route =
            format!("/subscriptions/{sub}/providers/Microsoft.WindowsESU/multipleActivationKeys");
        self.mount(
            self.route("GET", &route)
                .and(query_param("api-version", "2019-09-16-preview"))
                .respond_with(self.json(status, body))
                .named(format!("GET {route} ({status})"))
                .expect(self.expected_per_route()),
        )
        .await;
    }
}

// ---- Access and policy (issue 7) -------------------------------------------------------------

/// Built-in role definition GUIDs the scenarios use.
pub mod roles {
    /// Owner.
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    /// Contributor.
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    /// Reader.
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    /// Azure Connected Machine Resource Administrator.
    pub const CONNECTED_MACHINE_ADMIN: &str = "cd570a14-e51a-42ad-bac8-bafd67325302";
}

/// Built-in policy definition ids the scenarios use.
pub mod policies {
    /// Not allowed resource types (v2.0.0, effect from the `effect` parameter, default Deny).
    pub const NOT_ALLOWED_TYPES: &str =
        "/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749";
    /// \[Preview\] Deny ESU license creation or modification (effect parameter, default Deny).
    pub const DENY_ESU_LICENSE: &str =
        "/providers/Microsoft.Authorization/policyDefinitions/4c660f31-eafb-408d-a2b3-6ed2260bd26c";
}

/// `/subscriptions/{sub}`.
pub fn sub_scope(sub: &str) -> String {
    format!("/subscriptions/{sub}")
}

/// The management group id `/providers/Microsoft.Management/managementGroups/{name}`.
pub fn management_group_scope(name: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{name}")
}

/// The subscription-qualified id of a built-in role, as ARM names it in role assignments.
pub fn role_definition_id(sub: &str, role_guid: &str) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}")
}

/// A role assignment of `role_definition_id` to `principal` at `scope` (shape of
/// `RoleAssignments_ListForScope.json`).
pub fn role_assignment_json(
    scope: &str,
    name: &str,
    role_definition_id: &str,
    principal: &str,
) -> Value {
    let list = fixture_body("authorization/RoleAssignments_ListForScope.json");
    let mut item = list["value"][0].clone();
    item["id"] = json!(format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    ));
    item["name"] = json!(name);
    item["properties"]["roleDefinitionId"] = json!(role_definition_id);
    item["properties"]["principalId"] = json!(principal);
    item["properties"]["scope"] = json!(scope);
    item
}

/// A built-in role as `GET {roleDefinitionId}` answers it (shape of `GetRoleDefinitionById.json`),
/// from the role's documented JSON in `authorization/builtin-roles/{file}`, under `id`.
pub fn builtin_role_json(file: &str, id: &str) -> Value {
    let path = fixtures_dir()
        .join("authorization/builtin-roles")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("a built-in role is JSON");
    role_json(
        id,
        doc["roleName"].as_str().unwrap_or_default(),
        doc["permissions"].clone(),
    )
}

/// The Reader role (`*/read`; its documented JSON is not among the fixtures, so written here in
/// the same shape), under `id`.
pub fn reader_role_json(id: &str) -> Value {
    role_json(
        id,
        "Reader",
        json!([{ "actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": [] }]),
    )
}

fn role_json(id: &str, name: &str, permissions: Value) -> Value {
    let mut body = fixture_body("authorization/GetRoleDefinitionById.json");
    body["id"] = json!(id);
    body["name"] = json!(id.rsplit('/').next().unwrap_or_default());
    body["properties"]["roleName"] = json!(name);
    body["properties"]["type"] = json!("BuiltInRole");
    body["properties"]["description"] = json!(format!("{name} (built-in)"));
    body["properties"]["assignableScopes"] = json!(["/"]);
    body["properties"]["permissions"] = permissions;
    body
}

/// The caller's effective permissions (shape of `GetPermissions.json`) as a role's permissions.
pub fn permissions_of(role: &Value) -> Value {
    let mut body = permissions_owner();
    body["value"] = role["properties"]["permissions"].clone();
    body
}

/// A deny assignment at `scope` denying `actions` to everyone (shape of
/// `GetDenyAssignmentsForResourceGroup.json`).
pub fn deny_assignment_json(scope: &str, name: &str, actions: &[&str]) -> Value {
    let list = fixture_body("authorization/GetDenyAssignmentsForResourceGroup.json");
    let mut item = list["value"][0].clone();
    item["id"] = json!(format!(
        "{scope}/providers/Microsoft.Authorization/denyAssignments/{name}"
    ));
    item["name"] = json!(name);
    let p = &mut item["properties"];
    p["denyAssignmentName"] = json!(name);
    p["description"] = json!("Created by a deployment stack: no changes to ESU resources");
    p["scope"] = json!(scope);
    p["permissions"] =
        json!([{ "actions": actions, "notActions": [], "dataActions": [], "notDataActions": [] }]);
    p["principals"] =
        json!([{ "id": "00000000-0000-0000-0000-000000000000", "type": "SystemDefined" }]);
    p["excludePrincipals"] = json!([]);
    item
}

/// A policy assignment at `scope` of `definition_id` (a definition or an initiative) with
/// `parameters` (`{name: {value}}`) and `enforcement_mode` (`Default`, `DoNotEnforce`), in the
/// shape of `listPolicyAssignments.json`.
pub fn policy_assignment_json(
    scope: &str,
    name: &str,
    definition_id: &str,
    parameters: Value,
    enforcement_mode: &str,
) -> Value {
    let list = fixture_body("policy/listPolicyAssignments.json");
    let mut item = list["value"][0].clone();
    item["id"] = json!(format!(
        "{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"
    ));
    item["name"] = json!(name);
    let object = item.as_object_mut().expect("an assignment is an object");
    object.remove("identity");
    let p = &mut item["properties"];
    p["displayName"] = json!(name);
    p["description"] = json!(format!("{name} (test assignment)"));
    p["policyDefinitionId"] = json!(definition_id);
    p["parameters"] = parameters;
    p["scope"] = json!(scope);
    p["notScopes"] = json!([]);
    p["enforcementMode"] = json!(enforcement_mode);
    for key in [
        "definitionVersion",
        "latestDefinitionVersion",
        "effectiveDefinitionVersion",
    ] {
        p.as_object_mut().expect("properties").remove(key);
    }
    item
}

/// A built-in policy definition as `GET {id}` answers it, from `policy-builtin/{file}`.
pub fn builtin_policy_json(file: &str) -> Value {
    let path = fixtures_dir().join("policy-builtin").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut body: Value = serde_json::from_str(&text).expect("a built-in policy is JSON");
    body["type"] = json!("Microsoft.Authorization/policyDefinitions");
    body
}

/// An initiative `id` whose members are `(reference id, definition id, member parameters)`, with
/// set `parameters` (`{name: {type, defaultValue}}`), in the shape of `getPolicySetDefinition.json`.
pub fn policy_set_json(id: &str, parameters: Value, members: &[(&str, &str, Value)]) -> Value {
    let mut body = fixture_body("policy/getPolicySetDefinition.json");
    body["id"] = json!(id);
    body["name"] = json!(id.rsplit('/').next().unwrap_or_default());
    let p = &mut body["properties"];
    p["displayName"] = json!("ESU guard rails");
    p["description"] = json!("An initiative whose member's effect comes from the set");
    p["parameters"] = parameters;
    let object = p.as_object_mut().expect("properties");
    for key in ["policyDefinitionGroups", "version", "versions"] {
        object.remove(key);
    }
    p["policyDefinitions"] = members
        .iter()
        .map(|(reference, definition, parameters)| {
            json!({
                "policyDefinitionId": definition,
                "policyDefinitionReferenceId": reference,
                "parameters": parameters,
            })
        })
        .collect();
    body
}

/// A `checkPolicyRestrictions` answer saying assignment `assignment_id` (definition
/// `definition_id`) denies the resource (shape of `PolicyRestrictions_CheckAtResourceGroupScope.json`).
pub fn policy_restrictions_deny(assignment_id: &str, definition_id: &str) -> Value {
    let mut body = fixture_body("policyinsights/PolicyRestrictions_CheckAtResourceGroupScope.json");
    body["fieldRestrictions"] = json!([]);
    let evaluation = &mut body["contentEvaluationResult"]["policyEvaluations"][0];
    evaluation["policyInfo"] = json!({
        "policyDefinitionId": definition_id,
        "policyAssignmentId": assignment_id,
    });
    evaluation["evaluationDetails"]["evaluatedExpressions"][0]["expressionValue"] =
        json!("microsoft.hybridcompute/licenses");
    evaluation["evaluationDetails"]["evaluatedExpressions"][0]["targetValue"] =
        json!(["microsoft.hybridcompute/licenses"]);
    evaluation["evaluationDetails"]["evaluatedExpressions"][0]["operator"] = json!("in");
    body
}

/// A path regex for `{tail}` at subscription `sub` and at any resource group in it: ARM's
/// `atScope()` lists at a resource group what applies there, inherited assignments included.
fn at_sub_and_groups(sub: &str, tail: &str) -> String {
    format!(
        r"(?i)^/subscriptions/{}(/resourceGroups/[^/]+)?/providers/{tail}$",
        regex_escape(sub)
    )
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = !c.is_ascii_alphanumeric() && c != '-' && c != '_';
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

impl ArmMock {
    /// The caller's role assignments that apply in subscription `sub`: answered at the
    /// subscription and at every resource group in it (inherited), to any `$filter`.
    pub async fn role_assignments(&self, sub: &str, assignments: Vec<Value>) {
        self.list_at_sub_and_groups(
            sub,
            "Microsoft.Authorization/roleAssignments",
            RBAC_API,
            assignments,
            "role assignments",
        )
        .await;
    }

    /// The deny assignments that apply in subscription `sub` (at it and its resource groups).
    pub async fn deny_assignments(&self, sub: &str, assignments: Vec<Value>) {
        self.list_at_sub_and_groups(
            sub,
            "Microsoft.Authorization/denyAssignments",
            RBAC_API,
            assignments,
            "deny assignments",
        )
        .await;
    }

    /// The policy assignments that apply in subscription `sub` (at it and its resource groups).
    pub async fn policy_assignments(&self, sub: &str, assignments: Vec<Value>) {
        self.list_at_sub_and_groups(
            sub,
            "Microsoft.Authorization/policyAssignments",
            POLICY_API,
            assignments,
            "policy assignments",
        )
        .await;
    }

    /// The policy exemptions that apply in subscription `sub` (at it and its resource groups).
    pub async fn policy_exemptions(&self, sub: &str, exemptions: Vec<Value>) {
        self.list_at_sub_and_groups(
            sub,
            "Microsoft.Authorization/policyExemptions",
            POLICY_EXEMPTIONS_API,
            exemptions,
            "policy exemptions",
        )
        .await;
    }

    /// Listing policy exemptions in subscription `sub` answers `status` with `body` (e.g. 404
    /// `InvalidResourceType`: the preview API is not served).
    pub async fn policy_exemptions_answer(&self, sub: &str, status: u16, body: Value) {
        self.mount(
            Mock::given(method("GET"))
                .and(wiremock::matchers::path_regex(at_sub_and_groups(
                    sub,
                    r"Microsoft\.Authorization/policyExemptions",
                )))
                .and(Authorized)
                .respond_with(self.json(status, body))
                .named(format!("policy exemptions in {sub} ({status})")),
        )
        .await;
    }

    /// Listing policy assignments in subscription `sub` answers 403 `AuthorizationFailed` for
    /// `Microsoft.Authorization/policyAssignments/read` over the subscription.
    pub async fn policy_assignments_forbidden(&self, sub: &str) {
        self.mount(
            Mock::given(method("GET"))
                .and(wiremock::matchers::path_regex(at_sub_and_groups(
                    sub,
                    r"Microsoft\.Authorization/policyAssignments",
                )))
                .and(Authorized)
                .respond_with(self.json(
                    403,
                    authorization_failed(
                        "Microsoft.Authorization/policyAssignments/read",
                        &sub_scope(sub),
                    ),
                ))
                .named(format!("policy assignments in {sub} (403)")),
        )
        .await;
    }

    async fn list_at_sub_and_groups(
        &self,
        sub: &str,
        tail: &str,
        api: &str,
        items: Vec<Value>,
        what: &str,
    ) {
        self.mount(
            Mock::given(method("GET"))
                .and(wiremock::matchers::path_regex(at_sub_and_groups(
                    sub,
                    &tail.replace('.', r"\."),
                )))
                .and(query_param("api-version", api))
                .and(Authorized)
                .respond_with(self.json(200, json!({ "value": items })))
                .named(format!("{what} in {sub}")),
        )
        .await;
    }

    /// `GET {id}` (a role, policy or policy set definition) answers `body`, once per run.
    pub async fn definition(&self, id: &str, body: Value) {
        self.mount(
            Mock::given(method("GET"))
                .and(path_ignoring_case(id, false))
                .and(Authorized)
                .respond_with(self.json(200, body))
                .named(format!("GET {id}"))
                .expect(self.expected_per_route()),
        )
        .await;
    }

    /// `GET {id}` answers `status` with a raw `body` (e.g. a malformed definition), once per run.
    pub async fn definition_answer(&self, id: &str, status: u16, body: &str) {
        self.mount(
            Mock::given(method("GET"))
                .and(path_ignoring_case(id, false))
                .and(Authorized)
                .respond_with(
                    self.template(status)
                        .set_body_raw(body.as_bytes().to_vec(), "application/json"),
                )
                .named(format!("GET {id} ({status})"))
                .expect(self.expected_per_route()),
        )
        .await;
    }

    /// `checkPolicyRestrictions` anywhere in subscription `sub` answers `body`.
    pub async fn policy_restrictions(&self, sub: &str, body: Value) {
        self.mount(
            Mock::given(method("POST"))
                .and(wiremock::matchers::path_regex(at_sub_and_groups(
                    sub,
                    r"Microsoft\.PolicyInsights/checkPolicyRestrictions",
                )))
                .and(query_param("api-version", POLICY_INSIGHTS_API))
                .and(Authorized)
                .respond_with(self.json(200, body))
                .named(format!("checkPolicyRestrictions in {sub}")),
        )
        .await;
    }

    /// Like [`ArmMock::policy_restrictions`], only for pre-checks of resources of `type_` (as
    /// the service would answer: a Not allowed resource types assignment restricts only its
    /// types); the other pre-checks keep the default answer (nothing restricted).
    pub async fn policy_restrictions_for_type(&self, sub: &str, type_: &str, body: Value) {
        self.mount(
            Mock::given(method("POST"))
                .and(wiremock::matchers::path_regex(at_sub_and_groups(
                    sub,
                    r"Microsoft\.PolicyInsights/checkPolicyRestrictions",
                )))
                .and(query_param("api-version", POLICY_INSIGHTS_API))
                .and(wiremock::matchers::body_partial_json(
                    json!({ "resourceDetails": { "resourceContent": { "type": type_ } } }),
                ))
                .and(Authorized)
                .respond_with(self.json(200, body))
                .named(format!("checkPolicyRestrictions of {type_} in {sub}")),
        )
        .await;
    }

    /// Resource Graph names the management groups above each `(subscription, chain)`, nearest
    /// first.
    pub async fn management_group_chains(&self, chains: &[(&str, &[&str])]) {
        let data: Vec<Value> = chains
            .iter()
            .map(|(sub, chain)| {
                json!({
                    "id": sub_scope(sub),
                    "subscriptionId": sub,
                    "managementGroupAncestorsChain": chain
                        .iter()
                        .map(|name| json!({ "name": name, "displayName": name }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        self.mount(
            self.route("POST", "/providers/Microsoft.ResourceGraph/resources")
                .and(query_param("api-version", RESOURCE_GRAPH_API))
                .and(wiremock::matchers::body_string_contains(
                    "managementGroupAncestorsChain",
                ))
                .respond_with(self.json(
                    200,
                    json!({
                        "totalRecords": data.len(), "count": data.len(),
                        "data": data, "resultTruncated": "false",
                    }),
                ))
                .named("management group chains")
                .expect(self.expected_per_route()),
        )
        .await;
    }

    /// The caller holds built-in role `role_guid` (its documented JSON in
    /// `authorization/builtin-roles/{file}`, or Reader when `file` is `None`) at `scope` (the
    /// subscription, or a management group above it): its role assignment (to
    /// [`CALLER_OID`]), the role definition, and the effective permissions it gives at the
    /// subscription.
    pub async fn caller_role(&self, sub: &str, scope: &str, role_guid: &str, file: Option<&str>) {
        let role = self
            .caller_role_assignment(sub, scope, role_guid, file)
            .await;
        self.permissions(sub, permissions_of(&role)).await;
        // Inherited: the same effective permissions in every resource group of `sub` (unless
        // the assignment is at one resource group: then the others keep the default).
        if !scope.to_ascii_lowercase().contains("/resourcegroups/") {
            self.mount(
                Mock::given(method("GET"))
                    .and(wiremock::matchers::path_regex(format!(
                        r"(?i)^/subscriptions/{sub}/resourceGroups/[^/]+/providers/Microsoft\.Authorization/permissions$"
                    )))
                    .and(Authorized)
                    .respond_with(self.json(200, permissions_of(&role)))
                    .named(format!("the caller's role in every resource group of {sub}")),
            )
            .await;
        }
    }

    /// Like [`ArmMock::caller_role`] without the effective permissions (for a test that mounts
    /// its own): the role assignment and the role definition, which is returned.
    pub async fn caller_role_assignment(
        &self,
        sub: &str,
        scope: &str,
        role_guid: &str,
        file: Option<&str>,
    ) -> Value {
        let id = role_definition_id(sub, role_guid);
        let role = match file {
            Some(file) => builtin_role_json(file, &id),
            None => reader_role_json(&id),
        };
        self.role_assignments(
            sub,
            vec![role_assignment_json(
                scope,
                "2f1c6c1e-6c4d-4f39-9a36-5f9b2b8e0e01",
                &id,
                CALLER_OID,
            )],
        )
        .await;
        self.definition(&id, role.clone()).await;
        role
    }

    /// The caller is a Contributor on subscription `sub`.
    pub async fn caller_contributor(&self, sub: &str) {
        self.caller_role(
            sub,
            &sub_scope(sub),
            roles::CONTRIBUTOR,
            Some("Contributor.json"),
        )
        .await;
    }

    /// The caller is a Reader on subscription `sub`.
    pub async fn caller_reader(&self, sub: &str) {
        self.caller_role(sub, &sub_scope(sub), roles::READER, None)
            .await;
    }

    /// The caller is an Owner inherited from management group `group` above `sub` (Resource
    /// Graph names the group too).
    pub async fn caller_owner_from_management_group(&self, sub: &str, group: &str) {
        self.caller_role(
            sub,
            &management_group_scope(group),
            roles::OWNER,
            Some("Owner.json"),
        )
        .await;
        self.management_group_chains(&[(sub, &[group, TENANT])])
            .await;
    }

    /// A deny assignment at subscription `sub` (a deployment stack's) denies writing ESU licenses
    /// and license profiles to everyone.
    pub async fn deny_esu_writes(&self, sub: &str) {
        self.deny_assignments(
            sub,
            vec![deny_assignment_json(
                &sub_scope(sub),
                "esu-stack-deny",
                &[
                    "Microsoft.HybridCompute/licenses/write",
                    "Microsoft.HybridCompute/machines/licenseProfiles/write",
                ],
            )],
        )
        .await;
    }

    /// Issue 7's "done when": at subscription `sub`, an enforced Not allowed resource types
    /// assignment listing `microsoft.hybridcompute/licenses` (effect from the parameter default)
    /// and a `DoNotEnforce` assignment of the ESU-deny built-in; `checkPolicyRestrictions`
    /// names the first. Returns the two assignment ids (enforced, not enforced).
    pub async fn policy_blocked(&self, sub: &str) -> (String, String) {
        let scope = sub_scope(sub);
        let blocked = policy_assignment_json(
            &scope,
            "deny-hybrid-licenses",
            policies::NOT_ALLOWED_TYPES,
            json!({ "listOfResourceTypesNotAllowed": { "value": ["microsoft.hybridcompute/licenses"] } }),
            "Default",
        );
        let audit = policy_assignment_json(
            &scope,
            "esu-deny-not-enforced",
            policies::DENY_ESU_LICENSE,
            json!({}),
            "DoNotEnforce",
        );
        let ids = (
            blocked["id"].as_str().unwrap_or_default().to_owned(),
            audit["id"].as_str().unwrap_or_default().to_owned(),
        );
        self.policy_assignments(sub, vec![blocked, audit]).await;
        self.definition(
            policies::NOT_ALLOWED_TYPES,
            builtin_policy_json("InvalidResourceTypes_Deny.json"),
        )
        .await;
        self.definition(
            policies::DENY_ESU_LICENSE,
            builtin_policy_json("GuestConfiguration_ArcESU_Deny.json"),
        )
        .await;
        self.policy_restrictions_for_type(
            sub,
            "Microsoft.HybridCompute/licenses",
            policy_restrictions_deny(&ids.0, policies::NOT_ALLOWED_TYPES),
        )
        .await;
        ids
    }

    /// An initiative assigned at subscription `sub` whose member (the ESU-deny built-in) takes
    /// its effect from the set's `esuEffect` parameter, which the assignment sets to `effect`.
    /// Returns the initiative's id.
    pub async fn policy_initiative(&self, sub: &str, effect: &str) -> String {
        let scope = sub_scope(sub);
        let set_id = format!(
            "{scope}/providers/Microsoft.Authorization/policySetDefinitions/esu-guard-rails"
        );
        let set = policy_set_json(
            &set_id,
            json!({ "esuEffect": { "type": "String", "defaultValue": "Disabled", "allowedValues": ["Deny", "Disabled"] } }),
            &[(
                "denyEsuLicense",
                policies::DENY_ESU_LICENSE,
                json!({ "effect": { "value": "[parameters('esuEffect')]" } }),
            )],
        );
        self.policy_assignments(
            sub,
            vec![policy_assignment_json(
                &scope,
                "esu-guard-rails",
                &set_id,
                json!({ "esuEffect": { "value": effect } }),
                "Default",
            )],
        )
        .await;
        self.definition(&set_id, set).await;
        self.definition(
            policies::DENY_ESU_LICENSE,
            builtin_policy_json("GuestConfiguration_ArcESU_Deny.json"),
        )
        .await;
        // The service denies what the member denies.
        if effect.eq_ignore_ascii_case("deny") {
            let assignment = format!(
                "{scope}/providers/Microsoft.Authorization/policyAssignments/esu-guard-rails"
            );
            let mut answer = policy_restrictions_deny(&assignment, policies::DENY_ESU_LICENSE);
            let info = &mut answer["contentEvaluationResult"]["policyEvaluations"][0]["policyInfo"];
            info["policySetDefinitionId"] = json!(set_id);
            info["policyDefinitionReferenceId"] = json!("denyEsuLicense");
            self.policy_restrictions_for_type(sub, "Microsoft.HybridCompute/licenses", answer)
                .await;
        }
        set_id
    }
}
