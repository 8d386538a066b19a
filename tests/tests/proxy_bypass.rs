//! Plain http to a loopback ARM endpoint never goes through `HTTP_PROXY` / `ALL_PROXY`.
//!
//! The proxy variables must be in the process environment when the HTTP client is built, and
//! setting them in-process races with other tests (and needs `unsafe`). So this binary holds a
//! single test that runs itself again as a child process with the variables set; the child
//! sends one request, the parent checks where it arrived.

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use esu_preflight_tests::TOKEN;
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

const CHILD: &str = "ESU_PREFLIGHT_PROXY_TEST_ENDPOINT";

/// In the child: one request to the endpoint given by the parent.
async fn child(endpoint: &str) {
    let client = ArmClient::new(
        Arc::new(StaticTokenCredential::new(TOKEN)),
        ArmClientOptions {
            endpoint: Some(url::Url::parse(endpoint).unwrap()),
            max_retries: 0,
            ..ArmClientOptions::default()
        },
    )
    .unwrap();
    let answer: Value = client.get("/probe", "2022-12-01").await.unwrap();
    assert_eq!(answer["via"], "endpoint", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_requests_bypass_the_proxy() {
    if let Ok(endpoint) = std::env::var(CHILD) {
        child(&endpoint).await;
        return;
    }
    let endpoint = MockServer::builder().start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"via": "endpoint"})))
        .mount(&endpoint)
        .await;
    // A "proxy" that answers anything (a proxied plain-http request arrives here).
    let proxy = MockServer::builder().start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"via": "proxy"})))
        .mount(&proxy)
        .await;
    let exe = std::env::current_exe().unwrap();
    let mut command = std::process::Command::new(exe);
    command
        .args([
            "--exact",
            "loopback_requests_bypass_the_proxy",
            "--nocapture",
        ])
        .env(CHILD, endpoint.uri())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        command.env(var, proxy.uri());
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(proxy.received_requests().await.unwrap().is_empty());
    assert_eq!(endpoint.received_requests().await.unwrap().len(), 1);
}
