//! The mock itself: strict enough that a test relying on a route it never mounted, or on a
//! count it never checked, fails.

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use esu_preflight::snapshot::{Scope, UnavailableKind};
use esu_preflight_tests::{ArmMock, NO_MOCK_MATCHED_STATUS, SUB, client};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// Runs `future` on its own task and returns its panic message, or `None` if it completed.
async fn panic_message(future: impl Future<Output = ()> + Send + 'static) -> Option<String> {
    let error = tokio::spawn(future).await.err()?;
    let payload = error.into_panic();
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    )
}

fn scope() -> Scope {
    Scope::subscriptions([SUB])
}

#[tokio::test]
async fn an_unmatched_request_is_never_a_not_found() {
    let mock = ArmMock::start().await;
    // No route mounted: with the old 404 fallback this read as "subscription not found".
    let snapshot = esu_preflight::gather::gather(&client(&mock), &scope())
        .await
        .expect("gather");
    let facts = &snapshot.subscriptions[0];
    for (name, reason) in facts.unavailable() {
        assert_ne!(reason.kind, UnavailableKind::NotFound, "{name}: {reason:?}");
        assert_eq!(reason.http_status, Some(NO_MOCK_MATCHED_STATUS), "{name}");
        assert_eq!(reason.code.as_deref(), Some("NoMockMatched"), "{name}");
    }
    assert_eq!(facts.unavailable().count(), 3);
    // Each unmatched read is recorded once (599 is not retried), naming method and path.
    let unmatched = mock.unmatched();
    assert_eq!(unmatched.len(), 3, "{unmatched:#?}");
    assert!(
        unmatched.iter().all(|r| r.starts_with("GET http://")),
        "{unmatched:#?}"
    );
    assert!(
        unmatched
            .iter()
            .any(|r| r.contains(&format!("/subscriptions/{SUB}?api-version="))),
        "{unmatched:#?}"
    );
    // …and the test fails: explicitly, and when the mock is dropped.
    let message = panic_message(async move { mock.verify().await })
        .await
        .expect("verify fails");
    assert!(message.contains("no route matched"), "{message}");
    assert!(
        message.contains(&format!("/subscriptions/{SUB}")),
        "{message}"
    );

    let mock = ArmMock::start().await;
    let _: Result<Value, _> = client(&mock).get("/subscriptions/x", "1").await;
    let message = panic_message(async move { drop(mock) })
        .await
        .expect("dropping fails");
    assert!(message.contains("GET http://"), "{message}");
}

#[tokio::test]
async fn a_helper_route_not_fetched_or_fetched_twice_fails() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let client = client(&mock);
    let _: Value = client
        .get(
            &format!("/subscriptions/{SUB}"),
            esu_preflight_tests::SUBSCRIPTION_API,
        )
        .await
        .expect("the subscription route answers");
    // providers and permissions were never read.
    let message = panic_message(async move { mock.verify().await })
        .await
        .expect("verify fails");
    assert!(message.contains("Verifications failed"), "{message}");
    assert!(message.contains("permissions"), "{message}");

    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let client = esu_preflight_tests::client(&mock);
    for _ in 0..2 {
        esu_preflight::gather::gather(&client, &scope())
            .await
            .expect("gather");
    }
    let message = panic_message(async move { mock.verify().await })
        .await
        .expect("a second run is one read too many");
    assert!(message.contains("Verifications failed"), "{message}");

    // Declared, two runs are fine.
    let mock = ArmMock::start().await.expect_runs(2);
    mock.healthy(SUB).await;
    let client = esu_preflight_tests::client(&mock);
    for _ in 0..2 {
        esu_preflight::gather::gather(&client, &scope())
            .await
            .expect("gather");
    }
    mock.verify().await;
}

#[tokio::test]
async fn a_request_without_the_token_gets_arm_s_401_and_is_not_unmatched() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let endpoint = url::Url::parse(&mock.uri()).unwrap();
    let stranger = ArmClient::new(
        Arc::new(StaticTokenCredential::new("not-the-mock-token")),
        ArmClientOptions {
            endpoint: Some(endpoint),
            ..ArmClientOptions::default()
        },
    )
    .unwrap();
    let error = stranger
        .get::<Value>(
            &format!("/subscriptions/{SUB}"),
            esu_preflight_tests::SUBSCRIPTION_API,
        )
        .await
        .unwrap_err();
    let api = error.api().expect("an ARM error");
    assert_eq!(api.status, 401);
    assert_eq!(api.code.as_deref(), Some("AuthenticationFailed"));
    assert!(mock.unmatched().is_empty());
    // The routes were not read by anyone with the token: the counts are not met.
    assert!(
        panic_message(async move { mock.verify().await })
            .await
            .is_some()
    );
}

#[tokio::test]
async fn missing_subscription_and_resource_group_answer_arm_s_404s() {
    let mock = ArmMock::start().await;
    let other = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
    mock.subscription_missing(other).await;
    mock.resource_group_missing(SUB, "rg-Prod").await;
    let client = client(&mock);
    for (path, code) in [
        (format!("/subscriptions/{other}"), "SubscriptionNotFound"),
        (
            format!("/subscriptions/{other}/providers"),
            "SubscriptionNotFound",
        ),
        (
            format!("/subscriptions/{SUB}/resourceGroups/rg-prod"),
            "ResourceGroupNotFound",
        ),
        (
            format!(
                "/subscriptions/{SUB}/resourcegroups/rg-Prod/providers/Microsoft.Authorization/permissions"
            ),
            "ResourceGroupNotFound",
        ),
    ] {
        let error = client.get::<Value>(&path, "2022-12-01").await.unwrap_err();
        let api = error.api().unwrap_or_else(|| panic!("{path}: {error}"));
        assert_eq!(
            (api.status, api.code.as_deref()),
            (404, Some(code)),
            "{path}"
        );
    }
    // HEAD on a missing group: 404, empty body, as ARM answers it.
    let address = mock.uri().trim_start_matches("http://").to_owned();
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "HEAD /subscriptions/{SUB}/resourcegroups/rg-prod?api-version=2022-12-01 HTTP/1.1\r\n\
             Host: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            esu_preflight_tests::TOKEN
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-ms-failure-cause: gateway"),
        "{response}"
    );
    // A sibling of the group is not below it: unmatched, so 599 (a resource in it: the group
    // itself gets the mock's default "exists" answer).
    let error = client
        .get::<Value>(
            &format!(
                "/subscriptions/{SUB}/resourcegroups/rg-prod-2/providers/Contoso.Widgets/widgets"
            ),
            "2022-12-01",
        )
        .await
        .unwrap_err();
    assert_eq!(error.api().map(|a| a.status), Some(NO_MOCK_MATCHED_STATUS));
    // Once; twice only if a loaded machine broke the connection and the client sent it again.
    let unmatched = mock.unmatched();
    assert!(
        (1..=2).contains(&unmatched.len()) && unmatched.iter().all(|u| u.contains("rg-prod-2")),
        "{unmatched:?}"
    );
    // The subscription route was read once, as expected; the unmatched sibling fails verify.
    assert!(
        panic_message(async move { mock.verify().await })
            .await
            .is_some_and(|m| m.contains("rg-prod-2"))
    );
}
