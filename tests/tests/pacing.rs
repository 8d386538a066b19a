//! Quota-aware pacing against the mock with Azure's quotas emulated (shrunk so the tests are
//! quick): no 429 drawn, no slower than the quotas force, subscriptions independent, a 429
//! that still comes retried within the deadline, and the remaining-quota headers obeyed.
//!
//! Each pacing test has a control beside it that draws 429s with pacing off, so the emulated
//! quotas are known to bite.

use esu_preflight::arm::{ArmClient, ArmClientOptions, Quota, StaticTokenCredential, WindowQuota};
use esu_preflight_tests::wiremock::matchers::{method, path, path_regex};
use esu_preflight_tests::wiremock::{Mock, Request, ResponseTemplate};
use esu_preflight_tests::{
    ArmMock, Authorized, QuotaSettings, Quotas, RESOURCE_GRAPH_API, SUB, TOKEN, arm_error,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const V: &str = "2022-12-01";
const SUB_B: &str = "7d2f6c1e-5b4a-4c3d-9e8f-0a1b2c3d4e5f";
const GRAPH: &str = "/providers/Microsoft.ResourceGraph/resources";

/// A bucket of 20 refilled at 20/s (ARM: 250 at 25/s), Resource Graph 5 per second (ARM: 15
/// per 5 s).
const SMALL: QuotaSettings = QuotaSettings {
    arm_reads: (20, 20.0),
    graph: (5, Duration::from_secs(1)),
};

fn client(
    mock: &ArmMock,
    arm_reads: Option<Quota>,
    graph_queries: Option<WindowQuota>,
    timeout: Duration,
) -> ArmClient {
    ArmClient::new(
        Arc::new(StaticTokenCredential::new(TOKEN)),
        ArmClientOptions {
            endpoint: Some(url::Url::parse(&mock.uri()).expect("a URL")),
            timeout,
            arm_reads,
            graph_queries,
            ..ArmClientOptions::default()
        },
    )
    .expect("a loopback endpoint")
}

/// The client's models sized like the emulated [`SMALL`] quotas.
fn small_client(mock: &ArmMock) -> ArmClient {
    client(
        mock,
        Some(Quota {
            capacity: 20,
            per_second: 20.0,
        }),
        Some(WindowQuota {
            queries: 5,
            window: Duration::from_secs(1),
        }),
        Duration::from_secs(60),
    )
}

/// `GET /subscriptions/{sub}/things/{n}` answers `{"n": n}`, with the remaining-quota headers.
async fn things(mock: &ArmMock, quotas: Option<Arc<Quotas>>) {
    mock.mount(
        Mock::given(method("GET"))
            .and(path_regex(r"^/subscriptions/[^/]+/things/\d+$"))
            .and(Authorized)
            .respond_with(move |request: &Request| {
                let n: u64 = request
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_default();
                let answer = ResponseTemplate::new(200).set_body_json(json!({ "n": n }));
                match &quotas {
                    Some(q) => q.stamp(answer, request),
                    None => answer,
                }
            }),
    )
    .await;
}

/// `n` reads of `sub`, all at once; the values read.
async fn read(client: &ArmClient, sub: &str, n: u64) -> Vec<u64> {
    let calls = (0..n).map(|i| {
        let client = client.clone();
        let path = format!("/subscriptions/{sub}/things/{i}");
        async move { client.get::<Value>(&path, V).await }
    });
    futures_join(calls)
        .await
        .into_iter()
        .map(|r| r.expect("read")["n"].as_u64().expect("n"))
        .collect()
}

async fn futures_join<F: std::future::Future + Send + 'static>(
    calls: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_reads_of_one_subscription_draw_no_429_and_take_what_the_bucket_forces() {
    let mock = ArmMock::start().await;
    let quotas = mock.emulate_quotas(SMALL).await;
    things(&mock, None).await;
    let client = small_client(&mock);
    let started = Instant::now();
    let values = read(&client, SUB, 60).await;
    let elapsed = started.elapsed();
    assert_eq!(values, (0..60).collect::<Vec<_>>());
    assert_eq!(quotas.throttled(), 0, "no 429 drawn");
    assert_eq!(client.throttled_count(), 0);
    // The bucket forces (60 - 20) / 20 = 2 s; the model keeps 200 ms of refill in reserve.
    assert!(elapsed >= Duration::from_millis(1950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert!(
        client.paced_wait() >= Duration::from_secs(2),
        "{:?}",
        client.paced_wait()
    );
    assert_eq!(client.request_count(), 60, "nothing sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_pacing_the_same_reads_draw_429s() {
    let mock = ArmMock::start().await;
    let quotas = mock.emulate_quotas(SMALL).await;
    things(&mock, None).await;
    let client = client(&mock, None, None, Duration::from_secs(60));
    let calls = (0..60).map(|i| {
        let client = client.clone();
        async move {
            client
                .get::<Value>(&format!("/subscriptions/{SUB}/things/{i}"), V)
                .await
        }
    });
    let _ = futures_join(calls).await;
    assert!(quotas.throttled() > 0, "the emulated quota bites");
    assert_eq!(client.throttled_count(), quotas.throttled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscriptions_do_not_slow_each_other() {
    let mock = ArmMock::start().await;
    let quotas = mock.emulate_quotas(SMALL).await;
    things(&mock, None).await;
    let client = small_client(&mock);
    let started = Instant::now();
    let (a, b) = tokio::join!(read(&client, SUB, 40), read(&client, SUB_B, 40));
    let elapsed = started.elapsed();
    assert_eq!((a.len(), b.len()), (40, 40));
    assert_eq!(quotas.throttled(), 0);
    // Each bucket forces (40 - 20) / 20 = 1 s; one shared bucket would force 3 s.
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_graph_queries_keep_to_the_user_quota() {
    let mock = ArmMock::start().await;
    let quotas = mock.emulate_quotas(SMALL).await;
    answer_graph_queries(&mock).await;
    let client = small_client(&mock);
    let body = json!({ "query": "Resources | project id", "subscriptions": [SUB] });
    let started = Instant::now();
    let calls = (0..20).map(|_| {
        let client = client.clone();
        let body = body.clone();
        async move {
            client
                .post::<Value>(GRAPH, RESOURCE_GRAPH_API, Some(&body))
                .await
        }
    });
    for answer in futures_join(calls).await {
        assert_eq!(answer.expect("a query")["data"], json!([]));
    }
    let elapsed = started.elapsed();
    assert_eq!(quotas.throttled(), 0, "no 429 drawn");
    assert_eq!(client.throttled_count(), 0);
    // 5 queries per second: the 20th is in the fourth window.
    assert!(elapsed >= Duration::from_secs(3), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");

    // Control: without pacing the same queries are refused.
    let unpaced = client_without_pacing(&mock);
    let calls = (0..20).map(|_| {
        let client = unpaced.clone();
        let body = body.clone();
        async move {
            client
                .post::<Value>(GRAPH, RESOURCE_GRAPH_API, Some(&body))
                .await
        }
    });
    let _ = futures_join(calls).await;
    assert!(quotas.throttled() > 0, "the emulated quota bites");
}

fn client_without_pacing(mock: &ArmMock) -> ArmClient {
    client(mock, None, None, Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_refuses_with_azure_s_envelopes_and_headers() {
    let mock = ArmMock::start().await;
    let quotas = mock
        .emulate_quotas(QuotaSettings {
            arm_reads: (2, 0.5),
            graph: (1, Duration::from_secs(30)),
        })
        .await;
    things(&mock, Some(quotas.clone())).await;
    answer_graph_queries(&mock).await;
    let get = raw_http(&mock);
    let http = |target: &str, verb: &str| {
        let task = get(target, verb);
        async move { task.await.expect("the request") }
    };
    let thing = format!("/subscriptions/{SUB}/things/1?api-version={V}");
    let first = http(&thing, "GET").await;
    assert_eq!(first.0, 200);
    assert_eq!(
        first
            .1
            .get("x-ms-ratelimit-remaining-subscription-reads")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(quotas.remaining_reads(SUB), 1);
    assert_eq!(http(&thing, "GET").await.0, 200);
    let refused = http(&thing, "GET").await;
    assert_eq!(refused.0, 429);
    assert_eq!(refused.1.get("retry-after").map(String::as_str), Some("2"));
    let envelope: Value = serde_json::from_str(&refused.2).expect("JSON");
    assert_eq!(envelope["error"]["code"], "SubscriptionRequestsThrottled");
    let message = envelope["error"]["message"].as_str().expect("a message");
    assert!(
        message.starts_with(&format!(
            "Number of 'read' requests for subscription '{SUB}' actor '{TOKEN}' exceeded. \
             Please try again after '2' seconds"
        )),
        "{message}"
    );
    // Another subscription has its own bucket.
    assert_eq!(
        http(
            &format!("/subscriptions/{SUB_B}/things/1?api-version={V}"),
            "GET"
        )
        .await
        .0,
        200
    );
    // Resource Graph: one query per 30 s here.
    let graph = format!("{GRAPH}?api-version={RESOURCE_GRAPH_API}");
    assert_eq!(http(&graph, "POST").await.0, 200);
    let refused = http(&graph, "POST").await;
    assert_eq!(refused.0, 429);
    assert_eq!(
        refused
            .1
            .get("x-ms-user-quota-remaining")
            .map(String::as_str),
        Some("0")
    );
    let resets = refused
        .1
        .get("x-ms-user-quota-resets-after")
        .cloned()
        .unwrap_or_default();
    assert!(resets == "00:00:30" || resets == "00:00:29", "{resets}");
    let envelope: Value = serde_json::from_str(&refused.2).expect("JSON");
    assert_eq!(envelope["error"]["code"], "RateLimiting");
    let stamped = quotas.graph_headers();
    assert_eq!(stamped[0], ("x-ms-user-quota-remaining", "0".to_owned()));
    assert_eq!(quotas.throttled(), 2);
}

/// A status, the headers (lower-case names) and the body of an answer.
type Raw = (u16, std::collections::HashMap<String, String>, String);

/// A bare HTTP/1.1 client (std's TCP) so the test sees the mock's answers as sent.
fn raw_http(mock: &ArmMock) -> impl Fn(&str, &str) -> tokio::task::JoinHandle<Raw> {
    let address = mock.uri().trim_start_matches("http://").to_owned();
    move |target: &str, verb: &str| {
        let request = format!(
            "{verb} {target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(&address).expect("connect");
            stream.write_all(request.as_bytes()).expect("write");
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).expect("read");
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let mut lines = head.lines();
            let status = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            (status, headers, body.to_owned())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_that_never_ends_gives_up_at_the_deadline_naming_it() {
    let mock = ArmMock::start().await;
    mock.mount(
        mock.route("GET", &format!("/subscriptions/{SUB}/x"))
            .respond_with(
                mock.json(
                    429,
                    arm_error(
                        "SubscriptionRequestsThrottled",
                        "Number of 'read' requests for subscription exceeded.",
                    ),
                )
                .insert_header("Retry-After", "1"),
            )
            .with_priority(1),
    )
    .await;
    let client = client(
        &mock,
        Some(Quota::ARM_READS),
        Some(WindowQuota::RESOURCE_GRAPH),
        Duration::from_millis(2500),
    );
    let started = Instant::now();
    let err = client
        .get::<Value>(&format!("/subscriptions/{SUB}/x"), V)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    // Sent at 0, 1 and 2 s; a third wait of 1 s would pass the 2.5 s deadline.
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert_eq!(client.throttled_count(), 3);
    let api = err
        .api()
        .unwrap_or_else(|| panic!("an API error, not {err}"));
    assert_eq!(api.status, 429);
    assert_eq!(api.retry_after, Some(Duration::from_secs(1)));
    let text = err.to_string();
    assert!(
        text.contains("HTTP 429 SubscriptionRequestsThrottled")
            && text.ends_with("(Retry-After 1 s would pass the deadline)"),
        "{text}"
    );
    assert!(!err.is_fatal(), "one fact, not the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remaining_reads_header_of_zero_makes_the_next_read_wait() {
    let mock = ArmMock::start().await;
    for (sub, remaining) in [(SUB, "0"), (SUB_B, "200")] {
        mock.mount(
            mock.route("GET", &format!("/subscriptions/{sub}/first"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!(1))
                        .insert_header("X-MS-RateLimit-Remaining-Subscription-Reads", remaining),
                ),
        )
        .await;
        mock.mount(
            Mock::given(method("GET"))
                .and(path(format!("/subscriptions/{sub}/next")))
                .and(Authorized)
                .respond_with(ResponseTemplate::new(200).set_body_json(json!(2))),
        )
        .await;
    }
    let client = client(&mock, Some(Quota::ARM_READS), None, Duration::from_secs(60));
    for (sub, at_least, below) in [
        // Nothing left: the next read waits for a token and the 200 ms reserve (6 at 25/s).
        (SUB, Duration::from_millis(230), Duration::from_secs(2)),
        // Plenty left: no wait (a header never raises the model, nor lowers it here).
        (SUB_B, Duration::ZERO, Duration::from_millis(200)),
    ] {
        assert_eq!(
            client
                .get::<u32>(&format!("/subscriptions/{sub}/first"), V)
                .await
                .unwrap(),
            1
        );
        let started = Instant::now();
        assert_eq!(
            client
                .get::<u32>(&format!("/subscriptions/{sub}/next"), V)
                .await
                .unwrap(),
            2
        );
        let elapsed = started.elapsed();
        assert!(elapsed >= at_least && elapsed < below, "{sub}: {elapsed:?}");
    }
    assert_eq!(client.throttled_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamped_headers_track_the_emulated_bucket() {
    let mock = ArmMock::start().await;
    let quotas = mock.emulate_quotas(SMALL).await;
    things(&mock, Some(quotas.clone())).await;
    let client = small_client(&mock);
    let values = read(&client, SUB, 45).await;
    assert_eq!(values.len(), 45);
    assert_eq!(quotas.throttled(), 0);
    assert!(quotas.remaining_reads(SUB) < 20);
    assert_eq!(quotas.remaining_reads(SUB_B), 20, "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_settings_draw_no_429_from_azure_s_default_quotas() {
    let mock = ArmMock::start().await;
    let quotas = mock.emulate_quotas(QuotaSettings::default()).await;
    things(&mock, Some(quotas.clone())).await;
    // The client as the CLI builds it: every pacing option at its default.
    let client = ArmClient::new(
        Arc::new(StaticTokenCredential::new(TOKEN)),
        ArmClientOptions {
            endpoint: Some(url::Url::parse(&mock.uri()).expect("a URL")),
            ..ArmClientOptions::default()
        },
    )
    .expect("a loopback endpoint");
    let started = Instant::now();
    let values = read(&client, SUB, 300).await;
    let elapsed = started.elapsed();
    assert_eq!(values.len(), 300);
    assert_eq!(quotas.throttled(), 0, "no 429 drawn");
    assert_eq!(client.throttled_count(), 0);
    // 250 at once, the other 50 at 25/s: the quota forces 2 s.
    assert!(elapsed >= Duration::from_millis(1950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

/// Every Resource Graph query is answered with an empty page (the mock's default answers only
/// the management-group-chain query).
async fn answer_graph_queries(mock: &ArmMock) {
    mock.mount(mock.route("POST", GRAPH).respond_with(mock.json(
        200,
        json!({ "totalRecords": 0, "count": 0, "data": [], "resultTruncated": "false" }),
    )))
    .await;
}
