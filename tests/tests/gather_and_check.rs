//! gather → evaluate against the in-process ARM mock: the scenarios a real subscription shows.

use esu_preflight::checks::{self, Config};
use esu_preflight::models::RegistrationState;
use esu_preflight::snapshot::{Scope, Snapshot, UnavailableKind};
use esu_preflight::{Finding, Severity, Status};
use esu_preflight_tests::wiremock::matchers::{method, path};
use esu_preflight_tests::wiremock::{Mock, ResponseTemplate};
use esu_preflight_tests::{
    ArmMock, PROVIDERS_API, REQUIRED, SUB, arm_error, client, has_token, permissions_reader,
    provider_json, providers_json,
};
use serde_json::json;
use std::time::{Duration, Instant};

fn scope() -> Scope {
    Scope::subscriptions([SUB])
}

/// Gathers from `mock`, then checks that every route got its expected number of requests and
/// that no request went unmatched.
async fn gather(mock: &ArmMock) -> Snapshot {
    let snapshot = esu_preflight::gather::gather(&client(mock), &scope())
        .await
        .expect("gather succeeds");
    mock.verify().await;
    snapshot
}

fn evaluate(snapshot: &Snapshot) -> Vec<Finding> {
    checks::evaluate(&checks::EvalInput::new(
        snapshot,
        &Config::default(),
        time::OffsetDateTime::UNIX_EPOCH,
    ))
}

fn esu101(findings: &[Finding], namespace: &str) -> Finding {
    let id = format!("/subscriptions/{SUB}/providers/{namespace}");
    findings
        .iter()
        .find(|f| f.check_id == "ESU101" && *f.resource_id == *id)
        .unwrap_or_else(|| panic!("no ESU101 finding for {namespace}: {findings:#?}"))
        .clone()
}

#[tokio::test]
async fn healthy_subscription_passes_everything() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let findings = evaluate(&gather(&mock).await);
    assert!(!findings.is_empty());
    // Everything passes; only the Windows Server 2008 MAK checks are skipped (no 2008 here).
    let not_passing: Vec<_> = findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .filter(|f| !(f.status == Status::Skipped && f.check_id.starts_with("ESU70")))
        .collect();
    assert!(not_passing.is_empty(), "{not_passing:#?}");
    for ns in REQUIRED {
        assert_eq!(esu101(&findings, ns).status, Status::Pass);
    }
    assert!(findings.iter().any(|f| f.check_id == "ESU001"));
    assert!(findings.iter().any(|f| f.check_id == "ESU102"));
}

#[tokio::test]
async fn unregistered_providers_fail_and_registering_warns() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(
        SUB,
        &[
            ("Microsoft.Sql", "NotRegistered"),
            ("Microsoft.Security", "Unregistered"),
            ("Microsoft.HybridCompute", "Registering"),
        ],
    )
    .await;
    mock.permissions(SUB, esu_preflight_tests::permissions_owner())
        .await;
    let findings = evaluate(&gather(&mock).await);

    let sql = esu101(&findings, "Microsoft.Sql");
    assert_eq!((sql.status, sql.severity), (Status::Fail, Severity::Error));
    assert!(
        sql.remediation
            .contains("az provider register --namespace Microsoft.Sql")
    );
    let security = esu101(&findings, "Microsoft.Security");
    assert_eq!(security.status, Status::Fail);
    assert!(
        security.message.contains("Unregistered"),
        "{}",
        security.message
    );
    let hybrid = esu101(&findings, "Microsoft.HybridCompute");
    assert_eq!(
        (hybrid.status, hybrid.severity),
        (Status::Fail, Severity::Warning)
    );
    assert_eq!(esu101(&findings, "Microsoft.Compute").status, Status::Pass);
    // An Owner may register them: ESU102 passes for both.
    let esu102: Vec<_> = findings.iter().filter(|f| f.check_id == "ESU102").collect();
    assert!(
        esu102.iter().all(|f| f.status == Status::Pass),
        "{esu102:#?}"
    );
}

#[tokio::test]
async fn reader_cannot_register() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(SUB, permissions_reader()).await;
    let findings = evaluate(&gather(&mock).await);
    let esu102 = findings
        .iter()
        .find(|f| f.check_id == "ESU102" && f.status == Status::Fail)
        .expect("ESU102 fails for a reader");
    assert!(esu102.resource_id.ends_with("Microsoft.Sql"), "{esu102:#?}");
}

#[tokio::test]
async fn forbidden_providers_are_inconclusive_naming_action_and_scope() {
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    mock.providers_forbidden(SUB).await;
    let scope = format!("/subscriptions/{SUB}");
    let snapshot = gather(&mock).await;
    let reason = snapshot.subscriptions[0]
        .providers
        .unavailable()
        .expect("unavailable");
    assert_eq!(reason.kind, UnavailableKind::Forbidden);
    assert_eq!(reason.http_status, Some(403));
    assert_eq!(
        reason.action.as_deref(),
        Some("Microsoft.Resources/subscriptions/providers/read")
    );
    assert_eq!(reason.scope.as_deref(), Some(scope.as_str()));

    let findings = evaluate(&snapshot);
    for ns in REQUIRED {
        let f = esu101(&findings, ns);
        assert_eq!(f.status, Status::Inconclusive, "{f:#?}");
        assert!(
            f.message
                .contains("Microsoft.Resources/subscriptions/providers/read"),
            "{}",
            f.message
        );
    }
}

#[tokio::test]
async fn subscription_not_found_fails_esu001() {
    let mock = ArmMock::start().await;
    let sub_path = format!("/subscriptions/{SUB}");
    mock.subscription_missing(SUB).await;
    let snapshot = gather(&mock).await;
    let reason = snapshot.subscriptions[0]
        .subscription
        .unavailable()
        .unwrap();
    assert_eq!(reason.kind, UnavailableKind::NotFound);
    assert_eq!(reason.code.as_deref(), Some("SubscriptionNotFound"));
    let findings = evaluate(&snapshot);
    let esu001 = findings.iter().find(|f| f.check_id == "ESU001").unwrap();
    assert_eq!(esu001.status, Status::Fail);
    assert_eq!(*esu001.resource_id, sub_path);
    assert!(esu001.message.contains("not found"), "{}", esu001.message);
    // The other checks step aside rather than report noise.
    for f in findings.iter().filter(|f| f.check_id != "ESU001") {
        assert_eq!(f.status, Status::Skipped, "{f:#?}");
    }
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let mock = ArmMock::start().await;
    mock.mount(
        mock.route("GET", &format!("/subscriptions/{SUB}"))
            .respond_with(
                mock.json(429, arm_error("SubscriptionRequestsThrottled", "slow down"))
                    .insert_header("Retry-After", "1"),
            )
            .up_to_n_times(2)
            .expect(2)
            .with_priority(1),
    )
    .await;
    mock.healthy(SUB).await;
    let started = Instant::now();
    let snapshot = gather(&mock).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    assert!(snapshot.subscriptions[0].subscription.value().is_some());
    let subscription_gets = mock
        .received()
        .await
        .iter()
        .filter(|r| r.url.path() == format!("/subscriptions/{SUB}"))
        .count();
    assert_eq!(subscription_gets, 3);
}

#[tokio::test]
async fn server_error_is_retried() {
    let mock = ArmMock::start().await;
    mock.mount(
        mock.route("GET", &format!("/subscriptions/{SUB}/providers"))
            .respond_with(mock.json(503, arm_error("ServiceUnavailable", "try again")))
            .up_to_n_times(1)
            .expect(1)
            .with_priority(1),
    )
    .await;
    mock.healthy(SUB).await;
    let findings = evaluate(&gather(&mock).await);
    assert_eq!(esu101(&findings, "Microsoft.Sql").status, Status::Pass);
}

#[tokio::test]
async fn malformed_json_makes_the_fact_unavailable() {
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    mock.mount(
        mock.route("GET", &format!("/subscriptions/{SUB}/providers"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"{"value": [ {"namespace": "Microsoft.Sql", "#,
                "application/json",
            ))
            .expect(1),
    )
    .await;
    let snapshot = gather(&mock).await;
    let reason = snapshot.subscriptions[0].providers.unavailable().unwrap();
    assert_eq!(reason.kind, UnavailableKind::MalformedResponse);
    let findings = evaluate(&snapshot);
    assert_eq!(
        esu101(&findings, "Microsoft.Sql").status,
        Status::Inconclusive
    );
}

#[tokio::test]
async fn providers_paged_over_three_pages() {
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    let all = providers_json(SUB, &[("Microsoft.Storage", "NotRegistered")]);
    let pages: Vec<Vec<_>> = all
        .chunks(all.len().div_ceil(3))
        .map(<[_]>::to_vec)
        .collect();
    assert_eq!(pages.len(), 3);
    mock.providers_paged(SUB, pages).await;
    let snapshot = gather(&mock).await;
    let providers = snapshot.subscriptions[0].providers.value().unwrap();
    assert_eq!(providers.len(), all.len());
    let storage = providers
        .iter()
        .find(|p| p.namespace == "Microsoft.Storage")
        .unwrap();
    assert_eq!(storage.registration_state, RegistrationState::NotRegistered);
    let findings = evaluate(&snapshot);
    assert_eq!(esu101(&findings, "Microsoft.Storage").status, Status::Fail);
    assert_eq!(
        esu101(&findings, "Microsoft.HybridCompute").status,
        Status::Pass
    );
}

#[tokio::test]
async fn next_link_to_another_host_is_refused_and_no_token_reaches_it() {
    let mock = ArmMock::start().await;
    let elsewhere = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    let next_link = format!(
        "{}/subscriptions/{SUB}/providers?api-version={PROVIDERS_API}&%24skiptoken=2",
        elsewhere.uri()
    );
    mock.providers_answer(
        SUB,
        200,
        json!({
            "value": [provider_json(SUB, "Microsoft.Sql", "Registered")],
            "nextLink": next_link,
        }),
    )
    .await;
    let snapshot = gather(&mock).await;
    let reason = snapshot.subscriptions[0].providers.unavailable().unwrap();
    assert_eq!(reason.kind, UnavailableKind::PaginationRefused);
    assert!(
        elsewhere.received().await.is_empty(),
        "a request reached the other host"
    );
    elsewhere.verify().await;
    let findings = evaluate(&snapshot);
    assert_eq!(
        esu101(&findings, "Microsoft.Sql").status,
        Status::Inconclusive
    );
}

#[tokio::test]
async fn next_link_loop_is_stopped() {
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    let route = format!("/subscriptions/{SUB}/providers");
    mock.mount(
        mock.route("GET", &route).respond_with(mock.json(
            200,
            json!({
                "value": [provider_json(SUB, "Microsoft.Sql", "Registered")],
                "nextLink": format!("{}{route}?api-version={PROVIDERS_API}&%24skiptoken=again", mock.uri()),
            }),
        ))
        // The first page, and the next link once.
        .expect(2),
    )
    .await;
    let snapshot = gather(&mock).await;
    let reason = snapshot.subscriptions[0].providers.unavailable().unwrap();
    assert_eq!(reason.kind, UnavailableKind::PaginationRefused);
    assert!(reason.message.contains("loop"), "{}", reason.message);
    let pages = mock
        .received()
        .await
        .iter()
        .filter(|r| r.url.path() == route)
        .count();
    assert_eq!(pages, 2, "the first page, and the next link once");
}

#[tokio::test]
async fn check_sends_only_authenticated_reads() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    // A write would be answered, so the assertion below is what catches it.
    Mock::given(method("POST"))
        .and(path(format!(
            "/subscriptions/{SUB}/providers/Microsoft.Sql/register"
        )))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(mock.server())
        .await;
    evaluate(&gather(&mock).await);
    let requests = mock.received().await;
    // The subscription, its providers, permissions, ESU licenses, Arc machines and the ESU
    // patch policy's states (a POST that only reads); the caller's role assignments, deny
    // assignments, policy assignments and exemptions; the management groups above it (a
    // Resource Graph query, a POST that only reads); the Windows Server 2008 MAK keys.
    assert_eq!(requests.len(), 12, "one request per fact");
    mock.assert_no_url_requested_twice().await;
    for request in &requests {
        assert!(
            !esu_preflight_tests::changes_azure(request),
            "{} {}",
            request.method,
            request.url
        );
        assert!(
            has_token(request),
            "unauthenticated request to {}",
            request.url
        );
    }
}

#[tokio::test]
async fn redirect_to_another_host_is_not_followed() {
    let mock = ArmMock::start().await;
    let elsewhere = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    mock.mount(
        mock.route("GET", &format!("/subscriptions/{SUB}/providers"))
            .respond_with(mock.template(302).insert_header(
                "Location",
                format!("{}/subscriptions/{SUB}/providers", elsewhere.uri()).as_str(),
            ))
            .expect(1),
    )
    .await;
    let snapshot = gather(&mock).await;
    let reason = snapshot.subscriptions[0].providers.unavailable().unwrap();
    assert_eq!(reason.http_status, Some(302));
    assert!(
        elsewhere.received().await.is_empty(),
        "the redirect was followed"
    );
    elsewhere.verify().await;
}

/// Issue 5 A10: an odd `registrationState` spoils that one provider, not the whole list.
#[tokio::test]
async fn an_odd_registration_state_spoils_only_that_provider() {
    for odd in [json!(null), json!(42), json!({"state": "Registered"})] {
        let mock = ArmMock::start().await;
        mock.enabled_with_owner(SUB).await;
        let mut providers = providers_json(SUB, &[]);
        for provider in &mut providers {
            if provider["namespace"] == "Microsoft.Sql" {
                provider["registrationState"] = odd.clone();
            }
        }
        mock.providers_answer(SUB, 200, json!({ "value": providers }))
            .await;
        let findings = evaluate(&gather(&mock).await);
        assert_eq!(
            esu101(&findings, "Microsoft.Sql").status,
            Status::Inconclusive,
            "{odd}"
        );
        for ns in REQUIRED.iter().filter(|ns| **ns != "Microsoft.Sql") {
            assert_eq!(esu101(&findings, ns).status, Status::Pass, "{ns}, {odd}");
        }
    }
}

#[tokio::test]
async fn two_subscriptions_are_read_once_each_in_scope_order() {
    const OTHER: &str = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    mock.subscription(OTHER, "Enabled").await;
    mock.providers(OTHER, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(OTHER, permissions_reader()).await;
    // The second subscription first: the order given is kept.
    let scope = Scope::subscriptions([OTHER, SUB]);
    let snapshot = esu_preflight::gather::gather(&client(&mock), &scope)
        .await
        .expect("gather succeeds");
    mock.verify().await;
    mock.assert_no_url_requested_twice().await;
    // Eleven facts per subscription, and two Resource Graph queries for both: the
    // management-group chains, and the inventory's count (more than one subscription).
    assert_eq!(mock.received().await.len(), 24);
    let ids: Vec<_> = snapshot
        .subscriptions
        .iter()
        .map(|s| s.subscription_id.as_str())
        .collect();
    assert_eq!(ids, [OTHER, SUB]);
    let findings = evaluate(&snapshot);
    let sql = |sub: &str| {
        let id = format!("/subscriptions/{sub}/providers/Microsoft.Sql");
        findings
            .iter()
            .filter(|f| *f.resource_id == *id)
            .map(|f| (&*f.check_id, f.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sql(OTHER),
        [("ESU101", Status::Fail), ("ESU102", Status::Fail)]
    );
    assert_eq!(sql(SUB), [("ESU101", Status::Pass)]);
}
