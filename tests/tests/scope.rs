//! Scope: `--management-group` resolved through the descendants API, `--resource-group` facts,
//! the order of subscriptions, and every URL read once.

use esu_preflight::checks::{self, Config, EvalInput};
use esu_preflight::gather::{self, GatherError};
use esu_preflight::snapshot::{Fact, Scope};
use esu_preflight::{Finding, Status};
use esu_preflight_tests::{
    ArmMock, PERMISSIONS_API, SUB, arm_error, authorization_failed, client, fixture_body,
    permissions_owner,
};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::query_param;

const MG: &str = "mg-contoso-esu";
const MG_API: &str = esu_preflight::gather::api_version::MANAGEMENT_GROUPS;
const RG_API: &str = esu_preflight::gather::api_version::RESOURCE_GROUPS;
const OTHER: &str = "20000000-0004-0000-0000-000000000000";
const HIDDEN: &str = "20000000-0005-0000-0000-000000000000";

/// The real descendants example, with one more subscription below a child group.
fn descendants() -> serde_json::Value {
    let mut body = fixture_body("managementgroups/GetDescendants.json");
    let mut hidden = body["value"][1].clone();
    hidden["id"] = json!(format!("/subscriptions/{HIDDEN}"));
    hidden["name"] = json!(HIDDEN);
    body["value"].as_array_mut().unwrap().push(hidden);
    // The explicit subscription is below the group too: it must not be read twice.
    let mut again = body["value"][1].clone();
    again["id"] = json!(format!("/subscriptions/{SUB}"));
    again["name"] = json!(SUB);
    body["value"].as_array_mut().unwrap().push(again);
    body
}

async fn mount_descendants(mock: &ArmMock, status: u16, body: serde_json::Value) {
    mock.mount(
        mock.route(
            "GET",
            &format!("/providers/Microsoft.Management/managementGroups/{MG}/descendants"),
        )
        .and(query_param("api-version", MG_API))
        .respond_with(mock.json(status, body))
        .expect(1),
    )
    .await;
}

fn evaluate(snapshot: &esu_preflight::Snapshot) -> Vec<Finding> {
    checks::evaluate(&EvalInput::new(
        snapshot,
        &Config::default(),
        time::OffsetDateTime::UNIX_EPOCH,
    ))
}

#[tokio::test]
async fn management_group_adds_its_subscriptions_after_the_explicit_ones() {
    let mock = ArmMock::start().await;
    mount_descendants(&mock, 200, descendants()).await;
    mock.healthy(SUB).await;
    mock.healthy(OTHER).await;
    // A subscription below the group that the caller may not read.
    let denied = authorization_failed(
        "Microsoft.Resources/subscriptions/read",
        &format!("/subscriptions/{HIDDEN}"),
    );
    for path in [
        format!("/subscriptions/{HIDDEN}"),
        format!("/subscriptions/{HIDDEN}/providers"),
        format!("/subscriptions/{HIDDEN}/providers/Microsoft.Authorization/permissions"),
    ] {
        mock.mount(
            mock.route("GET", &path)
                .respond_with(mock.json(403, denied.clone())),
        )
        .await;
    }
    let scope = Scope {
        subscriptions: vec![SUB.to_owned()],
        management_groups: vec![MG.to_owned()],
        ..Scope::default()
    };
    let snapshot = gather::gather(&client(&mock), &scope).await.unwrap();
    assert_eq!(snapshot.scope.subscriptions, [SUB, OTHER, HIDDEN]);
    assert_eq!(snapshot.scope.management_groups, [MG]);
    let ids: Vec<&str> = snapshot
        .subscriptions
        .iter()
        .map(|s| s.subscription_id.as_str())
        .collect();
    assert_eq!(ids, [SUB, OTHER, HIDDEN]);

    let findings = evaluate(&snapshot);
    let esu001 = |sub: &str| {
        findings
            .iter()
            .find(|f| f.check_id == "ESU001" && &*f.subscription_id == sub)
            .unwrap()
            .status
    };
    assert_eq!(esu001(SUB), Status::Pass);
    assert_eq!(esu001(OTHER), Status::Pass);
    assert_eq!(esu001(HIDDEN), Status::Fail);

    // No URL was fetched twice, though SUB was named twice.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for request in mock.received().await {
        // Resource Graph queries share one URL: told apart by their body.
        let body = String::from_utf8_lossy(&request.body).into_owned();
        *counts.entry(format!("{} {body}", request.url)).or_default() += 1;
    }
    assert!(counts.values().all(|&n| n == 1), "{counts:#?}");
    // The descendants, eleven facts per subscription, and two Resource Graph queries for all:
    // the management-group chains and the inventory's count (sent with the descendants).
    assert_eq!(counts.len(), 1 + 3 * 11 + 2, "{counts:#?}");
    mock.server().verify().await;
}

#[tokio::test]
async fn a_management_group_that_cannot_be_listed_ends_the_run_with_the_reason() {
    for (status, body, expected) in [
        (
            404,
            arm_error(
                "NotFound",
                "'/providers/Microsoft.Management/managementGroups/mg-contoso-esu' not found",
            ),
            "not found",
        ),
        (
            403,
            authorization_failed(
                "Microsoft.Management/managementGroups/descendants/read",
                &format!("/providers/Microsoft.Management/managementGroups/{MG}"),
            ),
            "may not list it",
        ),
        (
            400,
            arm_error("BadRequest", "something is wrong with the request"),
            "its subscriptions could not be listed",
        ),
    ] {
        let mock = ArmMock::start().await;
        mount_descendants(&mock, status, body).await;
        let scope = Scope {
            management_groups: vec![MG.to_owned()],
            ..Scope::default()
        };
        let error = gather::gather(&client(&mock), &scope).await.unwrap_err();
        assert!(
            matches!(&error, GatherError::ManagementGroup { id, .. } if id == MG),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("management group {MG}: ")),
            "{text}"
        );
        assert!(text.contains(expected), "{text}");
        // As the CLI prints it (the message, then its sources): the ARM error once.
        let mut chain = text.clone();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert_eq!(
            chain.matches(&format!("HTTP {status}")).count(),
            1,
            "{chain}"
        );
    }
}

#[tokio::test]
async fn a_management_group_with_no_subscriptions_is_nothing_to_check() {
    let mock = ArmMock::start().await;
    let mut body = fixture_body("managementgroups/GetDescendants.json");
    body["value"].as_array_mut().unwrap().remove(1);
    mount_descendants(&mock, 200, body).await;
    let scope = Scope {
        management_groups: vec![MG.to_owned()],
        ..Scope::default()
    };
    let error = gather::gather(&client(&mock), &scope).await.unwrap_err();
    assert!(matches!(error, GatherError::EmptyScope(_)), "{error:?}");
    assert!(error.to_string().contains(MG), "{error}");
}

#[tokio::test]
async fn resource_groups_in_scope_are_read_with_their_permissions() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let mut group = fixture_body("resources/CreateResourceGroup.json");
    group["id"] = json!(format!("/subscriptions/{SUB}/resourceGroups/rg-esu"));
    group["name"] = json!("rg-esu");
    mock.mount(
        mock.route(
            "GET",
            &format!("/subscriptions/{SUB}/resourceGroups/rg-esu"),
        )
        .and(query_param("api-version", RG_API))
        .respond_with(mock.json(200, group))
        .expect(1),
    )
    .await;
    mock.mount(
        mock.route(
            "GET",
            &format!("/subscriptions/{SUB}/resourceGroups/rg-gone"),
        )
        .and(query_param("api-version", RG_API))
        .respond_with(mock.json(
            404,
            arm_error(
                "ResourceGroupNotFound",
                "Resource group 'rg-gone' could not be found.",
            ),
        ))
        .expect(1),
    )
    .await;
    mock.mount(
        mock.route(
            "GET",
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg-esu/providers/Microsoft.Authorization/permissions"
            ),
        )
        .and(query_param("api-version", PERMISSIONS_API))
        .respond_with(mock.json(200, permissions_owner()))
        .expect(1),
    )
    .await;
    mock.mount(
        mock.route(
            "GET",
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg-gone/providers/Microsoft.Authorization/permissions"
            ),
        )
        .respond_with(mock.json(
            404,
            arm_error("ResourceGroupNotFound", "Resource group 'rg-gone' could not be found."),
        ))
        .expect(1),
    )
    .await;
    let scope = Scope {
        subscriptions: vec![SUB.to_owned()],
        resource_groups: vec!["rg-esu".to_owned(), "rg-gone".to_owned()],
        ..Scope::default()
    };
    let snapshot = gather::gather(&client(&mock), &scope).await.unwrap();
    let facts = &snapshot.subscriptions[0];
    let esu = facts
        .resource_group("RG-ESU")
        .expect("rg-esu in the snapshot");
    match &esu.group {
        Fact::Available { value: Some(group) } => {
            assert_eq!(group.location.as_deref(), Some("eastus"));
        }
        other => panic!("rg-esu: {other:?}"),
    }
    assert!(matches!(esu.permissions, Fact::Available { .. }));
    let gone = facts.resource_group("rg-gone").unwrap();
    assert_eq!(gone.group, Fact::Available { value: None });
    assert!(gone.permissions.unavailable().is_some());
    assert_eq!(snapshot.scope.resource_groups, ["rg-esu", "rg-gone"]);
    // The snapshot round-trips with the resource groups.
    let text = snapshot.to_json_pretty();
    let back = esu_preflight::Snapshot::from_json(&text, std::path::Path::new("s.json")).unwrap();
    assert_eq!(back, snapshot);
    mock.server().verify().await;
}
