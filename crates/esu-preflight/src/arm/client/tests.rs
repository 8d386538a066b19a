//! `ArmClient` against wiremock servers on 127.0.0.1: real HTTP through the real pipeline.

use super::*;
use crate::arm::test_support::CountingCredential;
use azure_core::http::{AsyncRawResponse, HttpClient, new_http_client};
use serde_json::{Value, json};
use std::sync::atomic::AtomicUsize;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

const TOKEN: &str = "test-token-abc123";
const V: &str = "2022-12-01";

fn opts(server: &MockServer) -> ArmClientOptions {
    ArmClientOptions {
        endpoint: Some(Url::parse(&server.uri()).unwrap()),
        ..ArmClientOptions::default()
    }
}

fn client(server: &MockServer, tweak: impl FnOnce(&mut ArmClientOptions)) -> ArmClient {
    let mut o = opts(server);
    tweak(&mut o);
    ArmClient::new(CountingCredential::new(TOKEN), o).unwrap()
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

#[tokio::test]
async fn get_sends_bearer_token_and_api_version_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/subscriptions/s1"))
        .and(query_param("api-version", V))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "/subscriptions/s1"})))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let v: Value = c.get("/subscriptions/s1", V).await.unwrap();
    assert_eq!(v["id"], "/subscriptions/s1");
    let v: Value = c
        .get(&format!("/subscriptions/s1?api-version={V}"), V)
        .await
        .unwrap();
    assert_eq!(v["id"], "/subscriptions/s1");
    let _: Value = c
        .get("/subscriptions/s1?$filter=name eq 'x y'", V)
        .await
        .unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        let versions = r
            .url
            .query_pairs()
            .filter(|(k, _)| k == "api-version")
            .count();
        assert_eq!(versions, 1, "{}", r.url);
        let ua = r.headers.get("user-agent").unwrap().to_str().unwrap();
        assert!(ua.contains("esu-preflight"), "{ua}");
    }
    let filter: Vec<_> = reqs[2]
        .url
        .query_pairs()
        .filter(|(k, _)| k == "$filter")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(filter, ["name eq 'x y'"]);
    assert_eq!(c.request_count(), 3);
    assert!(!format!("{c:?}").contains(TOKEN));
}

#[tokio::test]
async fn get_opt_maps_404_to_none_and_get_to_api_error() {
    let server = MockServer::start().await;
    Mock::given(path("/subscriptions/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {"code": "SubscriptionNotFound", "message": "The subscription 'missing' could not be found."}
        })))
        // wiremock answers an unmatched request 404 too: make sure this route is what answered.
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/subscriptions/there"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let none: Option<Value> = c.get_opt("/subscriptions/missing", V).await.unwrap();
    assert_eq!(none, None);
    let some: Option<Value> = c.get_opt("/subscriptions/there", V).await.unwrap();
    assert_eq!(some.unwrap()["id"], "x");
    let err = c
        .get::<Value>("/subscriptions/missing", V)
        .await
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 404);
    assert_eq!(api.code.as_deref(), Some("SubscriptionNotFound"));
    assert_eq!(api.request, "GET /subscriptions/missing");
    assert!(!err.is_fatal());
    assert!(!err.to_string().contains(TOKEN));
    server.verify().await;
}

#[tokio::test]
async fn endpoint_validation() {
    let cred = CountingCredential::new(TOKEN);
    let with = |url: &str| ArmClientOptions {
        endpoint: Some(Url::parse(url).unwrap()),
        ..ArmClientOptions::default()
    };
    let err = ArmClient::new(cred.clone(), with("http://management.azure.com")).unwrap_err();
    assert!(
        matches!(&err, ArmError::InsecureEndpoint { reason, .. } if reason.contains("loopback")),
        "{err}"
    );
    assert!(ArmClient::new(cred.clone(), with("http://10.1.2.3:8080")).is_err());
    for ok in [
        "https://management.azure.com",
        "http://127.0.0.1:1234",
        "http://localhost:1234",
        "http://[::1]:1234",
    ] {
        let c = ArmClient::new(cred.clone(), with(ok)).unwrap();
        assert_eq!(c.endpoint(), &Url::parse(ok).unwrap());
    }
    let c = ArmClient::new(
        cred.clone(),
        ArmClientOptions {
            cloud: Cloud::AzureUSGovernment,
            ..ArmClientOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        c.endpoint().as_str(),
        "https://management.usgovcloudapi.net/"
    );
    let c = ArmClient::new(cred.clone(), with("http://127.0.0.1:1234")).unwrap();
    let err = c.get::<Value>("subscriptions", V).await.unwrap_err();
    assert!(matches!(err, ArmError::InvalidPath { .. }), "{err}");
    // Input that would climb out of its scope is refused, whether encoded or not.
    for bad in [
        "/subscriptions/../providers",
        "/subscriptions/%2E%2e/providers",
        "/subscriptions/./x",
        "/subscriptions//providers",
    ] {
        let err = c.get::<Value>(bad, V).await.unwrap_err();
        assert!(matches!(err, ArmError::InvalidPath { .. }), "{bad}: {err}");
    }
    let err = c
        .fetch_all(&crate::arm::catalog::providers(".."))
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::InvalidPath { .. }), "{err}");
}

fn page(values: Value, next: Option<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"value": values, "nextLink": next}))
}

#[tokio::test]
async fn list_follows_three_pages() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path("/items"))
        .and(query_param("$skiptoken", "2"))
        .respond_with(page(
            json!([3, 4]),
            Some(format!("{base}/items?api-version={V}&$skiptoken=3")),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(query_param("$skiptoken", "3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": [5], "nextLink": null})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(page(
            json!([1, 2]),
            Some(format!("{base}/items?api-version={V}&$skiptoken=2")),
        ))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let items: Vec<u32> = c.list("/items", V).await.unwrap();
    assert_eq!(items, [1, 2, 3, 4, 5]);
    assert_eq!(c.request_count(), 3);
    for r in requests(&server).await {
        assert!(r.headers.contains_key("authorization"));
    }
}

#[tokio::test]
async fn list_refuses_a_next_link_to_another_server() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(page(json!([]), None))
        .mount(&other)
        .await;
    let foreign = format!("{}/items?api-version={V}&page=2", other.uri());
    Mock::given(path("/items"))
        .respond_with(page(json!([1]), Some(foreign.clone())))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let err = c.list::<u32>("/items", V).await.unwrap_err();
    match &err {
        ArmError::ForeignNextLink { link, endpoint } => {
            assert_eq!(link, &foreign);
            assert_eq!(endpoint, &server.uri());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_unavailable().kind,
        crate::fact::UnavailableKind::PaginationRefused
    );
    assert!(requests(&other).await.is_empty());
    assert_eq!(c.request_count(), 1);
}

#[tokio::test]
async fn list_detects_a_loop_and_caps_pages() {
    let server = MockServer::start().await;
    let base = server.uri();
    // /a -> /b -> /a
    Mock::given(path("/a"))
        .respond_with(page(json!([1]), Some(format!("{base}/b?api-version={V}"))))
        .mount(&server)
        .await;
    Mock::given(path("/b"))
        .respond_with(page(json!([2]), Some(format!("{base}/a?api-version={V}"))))
        .mount(&server)
        .await;
    // /n/{k} -> /n/{k+1}, forever
    Mock::given(wiremock::matchers::path_regex("^/n/\\d+$"))
        .respond_with(move |req: &wiremock::Request| {
            let k: u32 = req.url.path()[3..].parse().unwrap();
            page(json!([k]), Some(format!("{base}/n/{}", k + 1)))
        })
        .mount(&server)
        .await;
    let c = client(&server, |o| o.max_pages = 3);
    let err = c.list::<u32>("/a", V).await.unwrap_err();
    assert!(
        matches!(&err, ArmError::PaginationLoop { link } if link.contains("/a?")),
        "{err}"
    );
    assert_eq!(c.request_count(), 2);

    let err = c.list::<u32>("/n/0", V).await.unwrap_err();
    assert!(matches!(err, ArmError::TooManyPages { max: 3 }), "{err}");
    assert_eq!(c.request_count(), 5);
}

/// `/x` answers `failure` `times` times, then 200 with `body`.
async fn fail_then_succeed(
    server: &MockServer,
    failure: ResponseTemplate,
    times: u64,
    body: serde_json::Value,
) {
    Mock::given(path("/x"))
        .respond_with(failure)
        .up_to_n_times(times)
        .mount(server)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn retries_429_honouring_retry_after() {
    let server = MockServer::start().await;
    fail_then_succeed(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        2,
        json!({"ok": true}),
    )
    .await;
    let c = client(&server, |_| {});
    let start = std::time::Instant::now();
    let v: Value = c.get("/x", V).await.unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(requests(&server).await.len(), 3);
    assert_eq!(c.request_count(), 3);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    // Each retry is authorised again, with the same client request id.
    let reqs = requests(&server).await;
    let ids: HashSet<_> = reqs
        .iter()
        .map(|r| r.headers.get("x-ms-client-request-id").cloned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(reqs.iter().all(|r| r.headers.contains_key("authorization")));
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let server = MockServer::start().await;
    fail_then_succeed(&server, ResponseTemplate::new(503), 1, json!(1)).await;
    let c = client(&server, |_| {});
    let v: u32 = c.get("/x", V).await.unwrap();
    assert_eq!(v, 1);
    assert_eq!(c.request_count(), 2);
}

#[tokio::test]
async fn retry_after_is_capped() {
    let server = MockServer::start().await;
    fail_then_succeed(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "3600"),
        1,
        json!(1),
    )
    .await;
    let c = client(&server, |o| o.max_retry_wait = Duration::from_secs(1));
    let start = std::time::Instant::now();
    let v: u32 = tokio::time::timeout(Duration::from_secs(10), c.get("/x", V))
        .await
        .expect("the wait was not capped")
        .unwrap();
    assert_eq!(v, 1);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn deadline_passes() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    Mock::given(path("/throttled"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .mount(&server)
        .await;
    // A wait that would cross the deadline is not slept: the throttled answer is the result,
    // a non-fatal error carrying the wait asked for (that fact is unavailable, not the run).
    let c = client(&server, |o| o.timeout = Duration::from_secs(3));
    let start = std::time::Instant::now();
    let err = c.get::<Value>("/throttled", V).await.unwrap_err();
    let api = err
        .api()
        .unwrap_or_else(|| panic!("an API error, not {err}"));
    assert_eq!(api.status, 429);
    assert_eq!(api.retry_after, Some(Duration::from_secs(30)));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(!err.is_fatal());
    assert_eq!(err.to_unavailable().retry_after_secs, Some(30));
    assert_eq!(c.request_count(), 1, "not retried");

    let c = client(&server, |o| o.timeout = Duration::from_millis(500));
    let start = std::time::Instant::now();
    let err = c.get::<Value>("/slow", V).await.unwrap_err();
    assert!(
        matches!(err, ArmError::Deadline { timeout, .. } if timeout == Duration::from_millis(500)),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    // An operation's deadline: once passed, every call through it fails at once.
    let op = c.with_deadline(Instant::now() + Duration::from_millis(300));
    assert!(op.deadline().is_some());
    let err = op.get::<Value>("/slow", V).await.unwrap_err();
    assert!(
        matches!(err, ArmError::Deadline { timeout, .. } if timeout == Duration::from_millis(300)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the overall deadline of 0.3 s passed (last: no answer yet to GET /slow)"
    );
    let before = c.request_count();
    let err = op.list::<Value>("/slow", V).await.unwrap_err();
    assert!(matches!(err, ArmError::Deadline { .. }));
    assert_eq!(
        op.request_count(),
        before,
        "nothing sent after the deadline"
    );
}

#[tokio::test]
async fn a_client_outlives_its_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(1)))
        .mount(&server)
        .await;
    let c = client(&server, |o| o.timeout = Duration::from_millis(200));
    assert_eq!(c.timeout(), Duration::from_millis(200));
    assert_eq!(c.deadline(), None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Long after `timeout` from creation, each call still has its own `timeout`.
    assert_eq!(c.get::<u32>("/x", V).await.unwrap(), 1);
    let op = c.with_deadline(Instant::now() + c.timeout());
    assert_eq!(op.get::<u32>("/x", V).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.get::<u32>("/x", V).await.unwrap(), 1);
    assert!(matches!(
        op.get::<u32>("/x", V).await,
        Err(ArmError::Deadline { .. })
    ));
}

#[tokio::test]
async fn the_deadline_names_the_last_failure() {
    let server = MockServer::start().await;
    Mock::given(path("/flaky"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after-ms", "100")
                .set_body_json(json!({"error": {
                    "code": "SubscriptionRequestsThrottled",
                    "message": "Number of 'read' requests exceeded."
                }})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/flaky"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let op = c.with_deadline(Instant::now() + Duration::from_millis(1500));
    let err = op.get::<Value>("/flaky", V).await.unwrap_err();
    assert!(
        matches!(&err, ArmError::Deadline { last: Some(last), .. }
            if last == "HTTP 429 SubscriptionRequestsThrottled, asked to retry after 100 ms"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the overall deadline of 1.5 s passed (last: HTTP 429 SubscriptionRequestsThrottled, \
         asked to retry after 100 ms)"
    );
    assert!(err.is_fatal());
    assert_eq!(c.request_count(), 2);
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": {"code": "InternalServerError", "message": "boom"}
        })))
        .mount(&server)
        .await;
    let c = client(&server, |o| o.max_retries = 2);
    let err = c.get::<Value>("/x", V).await.unwrap_err();
    let api = err.api().expect("API error");
    assert_eq!(api.status, 500);
    assert_eq!(api.code.as_deref(), Some("InternalServerError"));
    assert_eq!(requests(&server).await.len(), 3);
    assert_eq!(c.request_count(), 3);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
        .mount(&server)
        .await;
    Mock::given(path("/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let err = c.get::<Value>("/x", V).await.unwrap_err();
    assert!(
        matches!(&err, ArmError::Decode { request, status: 200, .. } if request == "GET /x"),
        "{err}"
    );
    assert!(!err.is_fatal());
    let err = c.list::<Value>("/list", V).await.unwrap_err();
    assert!(matches!(err, ArmError::Decode { .. }), "{err}");
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let endpoint = format!("http://127.0.0.1:{port}");
    let c = ArmClient::new(
        CountingCredential::new(TOKEN),
        ArmClientOptions {
            endpoint: Some(Url::parse(&endpoint).unwrap()),
            max_retries: 1,
            ..ArmClientOptions::default()
        },
    )
    .unwrap();
    let err = c.get::<Value>("/x", V).await.unwrap_err();
    match &err {
        ArmError::Transport { endpoint: e, .. } => assert_eq!(e, &endpoint),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("could not reach {endpoint}: connection refused")
    );
    assert!(err.is_fatal());
    assert_eq!(c.request_count(), 2, "retried once");
}

/// Wraps the real HTTP client and measures requests in flight.
#[derive(Debug)]
struct InFlight {
    inner: Arc<dyn HttpClient>,
    now: AtomicUsize,
    max: AtomicUsize,
}

#[async_trait::async_trait]
impl HttpClient for InFlight {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        let result = self.inner.execute_request(request).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!(1))
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&server)
        .await;
    let in_flight = Arc::new(InFlight {
        inner: new_http_client(None),
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let c = client(&server, |o| {
        o.concurrency = 2;
        o.transport = Some(Transport::new(in_flight.clone()));
    });
    let start = std::time::Instant::now();
    let calls = (0..6).map(|_| c.get::<u32>("/x", V));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(in_flight.max.load(Ordering::SeqCst), 2);
    assert!(start.elapsed() >= Duration::from_millis(850));
}

#[tokio::test]
async fn a_lists_next_page_keeps_its_slot_ahead_of_queued_requests() {
    // One request in flight per subscription: a GET asked for while the list's first page is
    // on its way waits for the whole list, not in between its pages (a long list's pages go
    // back to back, as on the critical path of a fleet's machine list).
    let server = MockServer::start().await;
    let base = server.uri();
    let slow = |body: Value| {
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(Duration::from_millis(150))
    };
    let list = "/subscriptions/s1/providers/Microsoft.HybridCompute/machines";
    Mock::given(path(list))
        .and(query_param("$skiptoken", "2"))
        .respond_with(slow(json!({"value": [3], "nextLink": null})))
        .mount(&server)
        .await;
    Mock::given(path(list))
        .respond_with(slow(json!({
            "value": [1, 2],
            "nextLink": format!("{base}{list}?api-version={V}&$skiptoken=2"),
        })))
        .mount(&server)
        .await;
    Mock::given(path("/subscriptions/s1/resourceGroups/rg"))
        .respond_with(slow(json!(7)))
        .mount(&server)
        .await;
    let c = client(&server, |o| o.concurrency = 1);
    let listing = c.list::<u32>(list, V);
    let other = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.get::<u32>("/subscriptions/s1/resourceGroups/rg", V).await
    };
    let (items, got) = futures::join!(listing, other);
    assert_eq!(items.unwrap(), [1, 2, 3]);
    assert_eq!(got.unwrap(), 7);
    let order: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| {
            let skip = r.url.query_pairs().find(|(k, _)| k == "$skiptoken");
            format!(
                "{}{}",
                r.url.path(),
                skip.map(|(_, v)| format!(" page {v}")).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            list.to_owned(),
            format!("{list} page 2"),
            "/subscriptions/s1/resourceGroups/rg".to_owned(),
        ]
    );
}

#[tokio::test]
async fn token_is_cached_fetched_once_and_cleared_on_401() {
    let server = MockServer::start().await;
    Mock::given(path("/unauth"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(1)))
        .mount(&server)
        .await;
    let cred = Arc::new(CountingCredential {
        delay: Duration::from_millis(100),
        ..Arc::into_inner(CountingCredential::new(TOKEN)).unwrap()
    });
    let c = ArmClient::new(cred.clone(), opts(&server)).unwrap();
    let calls = (0..8).map(|_| c.get::<u32>("/x", V));
    assert!(
        futures::future::join_all(calls)
            .await
            .iter()
            .all(|r| r.is_ok())
    );
    for _ in 0..3 {
        c.get::<u32>("/x", V).await.unwrap();
    }
    assert_eq!(cred.calls(), 1, "one token for 11 requests");

    let err = c.get::<u32>("/unauth", V).await.unwrap_err();
    assert_eq!(err.api().map(|a| a.status), Some(401));
    assert_eq!(
        err.to_unavailable().kind,
        crate::fact::UnavailableKind::Forbidden
    );
    c.get::<u32>("/x", V).await.unwrap();
    assert_eq!(cred.calls(), 2, "the 401 cleared the cache");
}

#[tokio::test]
async fn credential_failure_is_fatal_and_sends_nothing() {
    let server = MockServer::start().await;
    let cred = Arc::new(CountingCredential {
        fail: true,
        ..Arc::into_inner(CountingCredential::new(TOKEN)).unwrap()
    });
    let c = ArmClient::new(cred.clone(), opts(&server)).unwrap();
    let err = c.get::<Value>("/x", V).await.unwrap_err();
    assert!(matches!(err, ArmError::Authentication(_)), "{err}");
    assert!(err.is_fatal());
    assert!(err.to_string().contains("fake credential failure"), "{err}");
    assert_eq!(cred.calls(), 1, "not retried");
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn post_with_and_without_body() {
    let server = MockServer::start().await;
    const GRAPH: &str = "/providers/Microsoft.ResourceGraph/resources";
    Mock::given(method("POST"))
        .and(path(GRAPH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"done": true})))
        .mount(&server)
        .await;
    let c = client(&server, |_| {});
    let v: Value = c.post(GRAPH, V, None).await.unwrap();
    assert_eq!(v["done"], true);
    let body = json!({"query": "Resources | take 1"});
    let _: Value = c.post(GRAPH, V, Some(&body)).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs[0].headers.get("content-length").unwrap(), "0");
    assert!(reqs[0].body.is_empty());
    assert_eq!(
        serde_json::from_slice::<Value>(&reqs[1].body).unwrap(),
        body
    );
    assert_eq!(
        reqs[1].headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn auth_policy_never_sends_the_token_elsewhere() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&other)
        .await;
    let endpoint = Url::parse(&server.uri()).unwrap();
    let cred = CountingCredential::new(TOKEN);
    let auth: Arc<dyn Policy> = Arc::new(BearerAuthPolicy::new(
        cred.clone(),
        endpoint.clone(),
        token_scope(&endpoint),
    ));
    let pipeline = Pipeline::new(
        None,
        None,
        ClientOptions {
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        },
        Vec::new(),
        vec![auth],
        None,
    );
    let mut request = Request::new(
        Url::parse(&format!("{}/steal", other.uri())).unwrap(),
        Method::Get,
    );
    let err = pipeline
        .send(&Context::new(), &mut request, None)
        .await
        .unwrap_err();
    let err = err.into_downcast::<ArmError>().unwrap();
    assert!(matches!(err, ArmError::InsecureEndpoint { .. }), "{err}");
    assert!(requests(&other).await.is_empty());
    assert_eq!(cred.calls(), 0);
    assert!(
        request
            .headers()
            .get_optional_str(&azure_core::http::headers::AUTHORIZATION)
            .is_none()
    );
}

#[tokio::test]
async fn a_read_only_client_refuses_writes_and_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"namespace": "Microsoft.Sql"})),
        )
        .mount(&server)
        .await;
    let register = "/subscriptions/s/providers/Microsoft.Sql/register";

    let read_only = client(&server, |_| {});
    let err = read_only
        .post::<Value>(register, V, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ArmError::WriteRefused { request } if request.ends_with("/register")),
        "{err}"
    );
    assert!(err.is_fatal());
    assert!(requests(&server).await.is_empty());
    // The POSTs that only read are allowed.
    for read in [
        "/providers/Microsoft.ResourceGraph/resources",
        "/subscriptions/s/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults",
        "/subscriptions/s/providers/Microsoft.PolicyInsights/policyStates/latest/summarize",
        "/subscriptions/s/providers/Microsoft.PolicyInsights/checkPolicyRestrictions",
        "/subscriptions/s/providers/Microsoft.HybridCompute/validateLicense",
    ] {
        read_only.post::<Value>(read, V, None).await.unwrap();
    }

    let writer = client(&server, |o| o.allow_writes = true);
    writer.post::<Value>(register, V, None).await.unwrap();
    assert_eq!(requests(&server).await.len(), 6);
}

#[tokio::test]
async fn throttling_past_the_deadline_is_one_unavailable_fact() {
    let server = MockServer::start().await;
    Mock::given(path("/subscriptions/s/throttled"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "120")
                .set_body_json(json!({"error": {
                    "code": "SubscriptionRequestsThrottled",
                    "message": "Number of 'read' requests exceeded. Please try again after '120' seconds."
                }})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/fine"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(1)))
        .mount(&server)
        .await;
    let c = client(&server, |o| o.timeout = Duration::from_secs(10));
    let op = c.with_deadline(Instant::now() + c.timeout());
    let start = std::time::Instant::now();
    let (a, b, d) = futures::join!(
        op.get::<u32>("/fine", V),
        op.get::<u32>("/subscriptions/s/throttled", V),
        op.list::<u32>("/fine-list", V),
    );
    assert_eq!(a.unwrap(), 1);
    let err = b.unwrap_err();
    assert!(!err.is_fatal(), "{err}");
    let u = err.to_unavailable();
    assert_eq!(u.http_status, Some(429));
    assert_eq!(u.code.as_deref(), Some("SubscriptionRequestsThrottled"));
    assert_eq!(u.retry_after_secs, Some(120));
    assert!(
        u.message
            .contains("(Retry-After 120 s would pass the deadline)"),
        "{}",
        u.message
    );
    // Not the throttling: an ordinary 404 of an unknown route.
    assert_eq!(d.unwrap_err().http_status(), Some(404));
    assert!(start.elapsed() < Duration::from_secs(5), "no 120 s wait");
    // The operation is still usable after the throttled answer, outside the throttled scope.
    assert_eq!(op.get::<u32>("/fine", V).await.unwrap(), 1);
    // Inside it, the other reads wait for the Retry-After too (capped at 60 s): past the
    // deadline, they fail at once without being sent, the same kind of unavailable fact.
    let sent = c.request_count();
    let err = op
        .get::<u32>("/subscriptions/s/other", V)
        .await
        .unwrap_err();
    assert_eq!(c.request_count(), sent, "not sent");
    let u = err.to_unavailable();
    assert_eq!(u.http_status, Some(429));
    assert!(
        u.message
            .contains("the read quota of subscription s allows it only in"),
        "{}",
        u.message
    );
    assert!(
        u.retry_after_secs.is_some_and(|s| s > 50 && s <= 60),
        "{u:?}"
    );
    assert_eq!(c.throttled_count(), 1);
    assert!(start.elapsed() < Duration::from_secs(5), "no wait");
}
