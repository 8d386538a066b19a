//! The three kinds of ARM paging through the request catalogue, against the in-process mock:
//! `nextLink` (GET), Policy Insights `@odata.nextLink` (POST again, same body) and Resource
//! Graph `$skipToken` (the same body again with `options.$skipToken`), each with the same guards.

use esu_preflight::arm::{
    ArmClient, ArmClientOptions, ArmError, StaticTokenCredential, catalog,
    catalog::{ArmList, api_version},
};
use esu_preflight_tests::{ArmMock, SUB, TOKEN, fixtures_dir, has_token};
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::any};

fn client(mock: &ArmMock, max_pages: usize) -> ArmClient {
    ArmClient::new(
        Arc::new(StaticTokenCredential::new(TOKEN)),
        ArmClientOptions {
            endpoint: Some(url::Url::parse(&mock.uri()).unwrap()),
            max_pages,
            ..ArmClientOptions::default()
        },
    )
    .unwrap()
}

/// The `responses.200.body` of a fixture.
fn body(relative: &str) -> Value {
    esu_preflight_tests::fixture_body(relative)
}

fn request_json(request: &Request) -> Value {
    if request.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&request.body).unwrap()
    }
}

const STATES: &str =
    "policyinsights/PolicyStates_QuerySubscriptionLevelPolicyDefinitionScopeNextLink.json";

fn states_list() -> ArmList<esu_preflight::models::PolicyState> {
    catalog::policy_states(&format!("/subscriptions/{SUB}"))
        .with_query("$filter", "complianceState eq 'NonCompliant'")
}

#[tokio::test]
async fn odata_next_link_posts_again_with_the_same_body() {
    assert!(fixtures_dir().join(STATES).exists());
    let mock = ArmMock::start().await;
    let list = states_list();
    let second = format!(
        "{}{}?api-version={}&$skiptoken=WpmWfBSvPhkAK6QD",
        mock.uri(),
        list.path(),
        api_version::POLICY_INSIGHTS
    );
    let mut first = body(STATES);
    first["@odata.nextLink"] = json!(second);
    mock.mount(
        mock.route("POST", list.path())
            .and(wiremock::matchers::query_param(
                "$skiptoken",
                "WpmWfBSvPhkAK6QD",
            ))
            .respond_with(mock.json(200, body(STATES)))
            .with_priority(1),
    )
    .await;
    mock.mount(
        mock.route("POST", list.path())
            .and(wiremock::matchers::query_param(
                "api-version",
                api_version::POLICY_INSIGHTS,
            ))
            .respond_with(mock.json(200, first)),
    )
    .await;
    let c = client(&mock, 10);
    let states = c.fetch_all(&list).await.unwrap();
    assert_eq!(states.len(), 4, "two pages of two");
    assert!(states.iter().all(|s| s.compliance_state.is_some()));
    let received = mock.received().await;
    assert_eq!(received.len(), 2);
    for r in &received {
        assert_eq!(r.method.as_str(), "POST");
        assert!(has_token(r));
        assert_eq!(request_json(r), Value::Null, "the same (empty) body");
    }
    // The first request carried the filter; the second is the link as given.
    assert!(received[0].url.query().unwrap().contains("NonCompliant"));
    assert!(received[1].url.query().unwrap().contains("skiptoken"));
}

#[tokio::test]
async fn odata_next_link_guards() {
    let mock = ArmMock::start().await;
    let other = MockServer::builder().start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&other)
        .await;
    let list = states_list();
    // A link to another server: refused, nothing sent there.
    let mut page = body(STATES);
    page["@odata.nextLink"] = json!(format!("{}{}?page=2", other.uri(), list.path()));
    mock.mount(
        mock.route("POST", list.path())
            .respond_with(mock.json(200, page)),
    )
    .await;
    let err = client(&mock, 10).fetch_all(&list).await.unwrap_err();
    assert!(matches!(err, ArmError::ForeignNextLink { .. }), "{err}");
    assert!(!err.is_fatal());
    assert!(other.received_requests().await.unwrap().is_empty());

    // A link that keeps coming back: a loop, stopped when it is seen the second time.
    let mock = ArmMock::start().await;
    let mut page = body(STATES);
    page["@odata.nextLink"] = json!(format!(
        "{}{}?$filter=complianceState%20eq%20%27NonCompliant%27&api-version={}",
        mock.uri(),
        list.path(),
        api_version::POLICY_INSIGHTS
    ));
    mock.mount(
        mock.route("POST", list.path())
            .respond_with(mock.json(200, page)),
    )
    .await;
    let err = client(&mock, 10).fetch_all(&list).await.unwrap_err();
    assert!(matches!(err, ArmError::PaginationLoop { .. }), "{err}");
    assert_eq!(
        mock.received().await.len(),
        2,
        "the first page and the link, once"
    );
}

const FIRST: &str = "resourcegraph/ResourcesFirstPageQuery.json";
const NEXT: &str = "resourcegraph/ResourcesNextPageQuery.json";
const GRAPH: &str = "/providers/Microsoft.ResourceGraph/resources";

fn skip_token_of(request: &Request) -> Option<String> {
    request_json(request)["options"]["$skipToken"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn skip_token_resends_the_body_with_the_token() {
    let mock = ArmMock::start().await;
    let first = body(FIRST);
    let token = first["$skipToken"].as_str().unwrap().to_owned();
    let mut last = body(NEXT);
    last.as_object_mut().unwrap().remove("$skipToken");
    let expected = token.clone();
    mock.mount(
        mock.route("POST", GRAPH)
            .and(move |r: &Request| skip_token_of(r).as_deref() == Some(expected.as_str()))
            .respond_with(mock.json(200, last))
            .with_priority(1),
    )
    .await;
    mock.mount(
        mock.route("POST", GRAPH)
            .and(|r: &Request| skip_token_of(r).is_none())
            .respond_with(mock.json(200, first)),
    )
    .await;
    let query = "Resources | where name contains 'test' | project id, name, type, location";
    let list = catalog::resource_graph(query, &[SUB.to_owned()]);
    let rows = client(&mock, 10).fetch_all(&list).await.unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows[3]["name"],
        "second_OsDisk_dddddbcb625a457bb69fe2abf5975820"
    );
    let received = mock.received().await;
    assert_eq!(received.len(), 2);
    let (a, b) = (request_json(&received[0]), request_json(&received[1]));
    assert_eq!(a["query"], query);
    assert_eq!(b["query"], query);
    assert_eq!(b["subscriptions"], json!([SUB]));
    assert_eq!(b["options"]["resultFormat"], "objectArray");
    assert_eq!(skip_token_of(&received[1]), Some(token));
    assert!(
        received[1]
            .url
            .query()
            .unwrap()
            .contains("api-version=2024-04-01")
    );
}

#[tokio::test]
async fn truncated_results_without_a_token_are_an_error() {
    let mock = ArmMock::start().await;
    let mut page = body(FIRST);
    page.as_object_mut().unwrap().remove("$skipToken");
    page["resultTruncated"] = json!("true");
    mock.mount(mock.route("POST", GRAPH).respond_with(mock.json(200, page)))
        .await;
    let list = catalog::resource_graph("Resources | project name", &[SUB.to_owned()]);
    let err = client(&mock, 10).fetch_all(&list).await.unwrap_err();
    assert!(matches!(err, ArmError::IncompleteResults { .. }), "{err}");
    assert!(err.to_string().contains("incomplete"), "{err}");
    assert!(!err.is_fatal());

    // "false" (a string) with no token is the end.
    let mock = ArmMock::start().await;
    let mut page = body(FIRST);
    page.as_object_mut().unwrap().remove("$skipToken");
    mock.mount(mock.route("POST", GRAPH).respond_with(mock.json(200, page)))
        .await;
    assert_eq!(client(&mock, 10).fetch_all(&list).await.unwrap().len(), 3);
}

#[tokio::test]
async fn skip_token_loop_and_page_cap() {
    // The same token again: a loop.
    let mock = ArmMock::start().await;
    mock.mount(
        mock.route("POST", GRAPH)
            .respond_with(mock.json(200, body(FIRST))),
    )
    .await;
    let list = catalog::resource_graph("Resources | project id", &[SUB.to_owned()]);
    let err = client(&mock, 10).fetch_all(&list).await.unwrap_err();
    assert!(matches!(err, ArmError::PaginationLoop { .. }), "{err}");
    assert_eq!(mock.received().await.len(), 2);

    // A new token every time: stopped at the page cap.
    let mock = ArmMock::start().await;
    let n = std::sync::atomic::AtomicU32::new(0);
    mock.mount(mock.route("POST", GRAPH).respond_with(move |_: &Request| {
        let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut page = body(FIRST);
        page["$skipToken"] = json!(format!("token-{k}"));
        ResponseTemplate::new(200).set_body_json(page)
    }))
    .await;
    let err = client(&mock, 3).fetch_all(&list).await.unwrap_err();
    assert!(matches!(err, ArmError::TooManyPages { max: 3 }), "{err}");
    assert_eq!(mock.received().await.len(), 3);
}

#[tokio::test]
async fn next_link_management_group_descendants() {
    let mock = ArmMock::start().await;
    let list = catalog::management_group_descendants("20000000-0000-0000-0000-000000000000");
    let page2 = body("managementgroups/GetDescendants.json");
    let mut page1 = page2.clone();
    page1["nextLink"] = json!(format!(
        "{}{}?api-version={}&$skiptoken=2",
        mock.uri(),
        list.path(),
        api_version::MANAGEMENT_GROUPS
    ));
    mock.mount(
        mock.route("GET", list.path())
            .and(wiremock::matchers::query_param("$skiptoken", "2"))
            .respond_with(mock.json(200, page2))
            .with_priority(1),
    )
    .await;
    mock.mount(
        mock.route("GET", list.path())
            .and(wiremock::matchers::query_param(
                "api-version",
                api_version::MANAGEMENT_GROUPS,
            ))
            .respond_with(mock.json(200, page1)),
    )
    .await;
    let items = client(&mock, 10).fetch_all(&list).await.unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[1].kind,
        "Microsoft.Management/managementGroups/subscriptions"
    );
    let received = mock.received().await;
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|r| r.method.as_str() == "GET" && has_token(r))
    );
}

#[tokio::test]
async fn fetch_opt_and_typed_catalogue_requests() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let c = client(&mock, 10);
    let sub = c.fetch(&catalog::subscription(SUB)).await.unwrap();
    assert_eq!(sub.subscription_id, SUB);
    let providers = c.fetch_all(&catalog::providers(SUB)).await.unwrap();
    assert!(providers.len() >= 7);
    let perms = c
        .fetch_all(&catalog::permissions(&format!("/subscriptions/{SUB}")))
        .await
        .unwrap();
    assert_eq!(perms.len(), 1);
    // A resource group that does not exist: ARM's 404 ResourceGroupNotFound.
    mock.resource_group_missing(SUB, "absent-rg").await;
    let rg = c
        .fetch_opt(&catalog::resource_group(SUB, "absent-rg"))
        .await
        .unwrap();
    assert_eq!(rg, None);
    // A write through a read-only client is refused before anything is sent.
    let before = mock.received().await.len();
    let err = c
        .fetch(&catalog::register_provider(SUB, "Microsoft.Sql"))
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::WriteRefused { .. }), "{err}");
    assert_eq!(mock.received().await.len(), before);
}
