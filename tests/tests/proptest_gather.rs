//! Property test: whatever a 200 answer from ARM holds, `gather` never panics and never fails the
//! whole run over it; each fact is read, or unavailable with the reason (a malformed response,
//! or a next link that was refused).

use esu_preflight::snapshot::Scope;
use esu_preflight_tests::{ArmMock, PERMISSIONS_API, PROVIDERS_API, SUB, SUBSCRIPTION_API, client};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use std::time::Duration;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
});

const KEYS: &[&str] = &[
    "value",
    "nextLink",
    "id",
    "subscriptionId",
    "displayName",
    "state",
    "namespace",
    "registrationState",
    "actions",
    "notActions",
    "properties",
    "policyDefinitionId",
    "roleDefinitionId",
    "policyDefinitions",
    "data",
    "managementGroupAncestorsChain",
    "name",
];

const WORDS: &[&str] = &[
    "Enabled",
    "Registered",
    "NotRegistered",
    "Microsoft.HybridCompute",
    "*",
    "",
    // Next links the client must refuse without sending anything: relative, foreign, not a URL.
    "/subscriptions/x/providers?page=2",
    "https://elsewhere.example.com/subscriptions",
    "http://[::1",
    "not a url",
    // Ids an assignment may name: gather follows them (or refuses them).
    "/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
    "/providers/Microsoft.Authorization/policySetDefinitions/esu-set",
    "/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
    "/providers/Microsoft.Authorization/policyDefinitions/../../x",
    "291bba3f-e0a5-47bc-a099-3bdcb2a50a05",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        select(WORDS).prop_map(Value::from),
        "[a-zA-Z0-9 ._/-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((select(KEYS).prop_map(str::to_owned), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A list body: `{"value": …, "nextLink": …}` with arbitrary parts, or any JSON at all.
fn arb_list_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        (
            prop::collection::vec(arb_json(), 0..4),
            prop::option::of(arb_json())
        )
            .prop_map(|(value, next_link)| {
                let mut body = json!({ "value": value });
                if let Some(link) = next_link {
                    body["nextLink"] = link;
                }
                body
            }),
        arb_json(),
    ]
}

async fn mount(mock: &ArmMock, path: &str, api_version: &str, body: &Value) {
    mock.mount(
        mock.route("GET", path)
            .and(esu_preflight_tests::wiremock::matchers::query_param(
                "api-version",
                api_version,
            ))
            .respond_with(mock.json(200, body.clone()))
            .expect(1),
    )
    .await;
}

/// Every unavailable fact in the snapshot's JSON (walked, so that this holds whatever the
/// snapshot's layout): from a 200 answer, only a malformed body or refused paging, with a reason.
fn assert_unavailable_only_as_malformed_or_refused(value: &Value, bodies: &str) {
    match value {
        Value::Object(map) => {
            if map.get("status").and_then(Value::as_str) == Some("unavailable") {
                let kind = map["reason"]["kind"].as_str().unwrap_or_default();
                assert!(
                    ["malformed_response", "pagination_refused"].contains(&kind),
                    "{value} for {bodies}"
                );
                assert!(
                    !map["reason"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty(),
                    "no reason: {value}"
                );
            }
            map.values()
                .for_each(|v| assert_unavailable_only_as_malformed_or_refused(v, bodies));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| assert_unavailable_only_as_malformed_or_refused(v, bodies)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_200_body_becomes_a_fact(
        subscription in arb_json(),
        providers in arb_list_body(),
        permissions in arb_list_body(),
    ) {
        RUNTIME.block_on(async {
            let mock = ArmMock::start().await;
            mount(&mock, &format!("/subscriptions/{SUB}"), SUBSCRIPTION_API, &subscription).await;
            mount(&mock, &format!("/subscriptions/{SUB}/providers"), PROVIDERS_API, &providers)
                .await;
            mount(
                &mock,
                &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/permissions"),
                PERMISSIONS_API,
                &permissions,
            )
            .await;
            let scope = Scope::subscriptions([SUB]);
            let snapshot = tokio::time::timeout(
                Duration::from_secs(60),
                esu_preflight::gather::gather(&client(&mock), &scope),
            )
            .await
            .expect("gather ends")
            .expect("a body is never fatal to the run");
            let written: Value = serde_json::from_str(&snapshot.to_json_pretty()).unwrap();
            let bodies = format!("{subscription} / {providers} / {permissions}");
            assert_unavailable_only_as_malformed_or_refused(&written, &bodies);
            // A list whose `value` is not an array is never read as a list.
            if !providers["value"].is_array() {
                assert!(
                    written.to_string().contains("malformed_response"),
                    "{providers}"
                );
            }
            mock.verify().await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the access and policy lists, the definitions they name and Resource Graph hold,
    /// gather ends, never fails the run over them, and records every fact (unavailable only as
    /// malformed or refused).
    #[test]
    fn any_access_and_policy_body_becomes_a_fact(
        roles in arb_list_body(),
        policies in arb_list_body(),
        definition in arb_json(),
        graph in arb_json(),
    ) {
        RUNTIME.block_on(async {
            use esu_preflight_tests::wiremock::matchers::{method, path_regex};
            use esu_preflight_tests::wiremock::Mock;
            let mock = ArmMock::start().await;
            mock.healthy(SUB).await;
            for (tail, body) in [("roleAssignments", &roles), ("policyAssignments", &policies)] {
                mock.mount(
                    Mock::given(method("GET"))
                        .and(path_regex(format!(r"(?i)/providers/Microsoft\.Authorization/{tail}$")))
                        .and(esu_preflight_tests::Authorized)
                        .respond_with(mock.json(200, body.clone())),
                )
                .await;
            }
            mock.mount(
                Mock::given(method("GET"))
                    .and(path_regex(r"(?i)/providers/Microsoft\.Authorization/(policyDefinitions|policySetDefinitions|roleDefinitions)/"))
                    .and(esu_preflight_tests::Authorized)
                    .respond_with(mock.json(200, definition.clone())),
            )
            .await;
            mock.mount(
                Mock::given(method("POST"))
                    .and(path_regex(r"(?i)^/providers/Microsoft\.ResourceGraph/resources$"))
                    .and(esu_preflight_tests::Authorized)
                    .respond_with(mock.json(200, graph.clone())),
            )
            .await;
            let scope = Scope::subscriptions([SUB]);
            let snapshot = tokio::time::timeout(
                Duration::from_secs(60),
                esu_preflight::gather::gather(&esu_preflight_tests::caller_client(&mock), &scope),
            )
            .await
            .expect("gather ends")
            .expect("a body is never fatal to the run");
            let written: Value = serde_json::from_str(&snapshot.to_json_pretty()).unwrap();
            let bodies = format!("{roles} / {policies} / {definition} / {graph}");
            assert_unavailable_only_as_malformed_or_refused(&written, &bodies);
            let sub = &snapshot.subscriptions[0];
            assert!(sub.authorization.role_assignments.is_some());
            assert!(sub.authorization.policy_assignments.is_some());
            assert!(mock.unmatched().is_empty(), "{:?}", mock.unmatched());
        });
    }
}
