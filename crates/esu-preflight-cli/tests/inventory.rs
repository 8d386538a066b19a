//! Machines and licenses read through Resource Graph or through ARM lists: the same findings,
//! the choice said on standard error, and the fallbacks (the real binary against the mock).

use esu_preflight_tests::graph::{GraphEstate, GraphQuery, GraphServed};
use esu_preflight_tests::{
    ArmMock, SUB, TOKEN, authorization_failed, license_json, link, machine_json, troubled_estate,
};
use serde_json::Value;
use std::process::Output;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_esu-preflight");

/// A second subscription, whose estate is healthy.
const SUB2: &str = "7c1e9a52-3f0d-4b8e-9a41-0d6f2c8b5e13";

/// A healthy estate: one WS2012 R2 machine linked to a license that covers it.
fn healthy_estate(sub: &str) -> Estate {
    let license = license_json(
        sub,
        "esu-ok",
        "Windows Server 2012 R2",
        "Standard",
        "vCore",
        8,
    );
    let mut machine = machine_json(
        sub,
        "srv-ok",
        "Windows Server 2012 R2 Standard",
        "6.3.9600.20778",
        "1.40.02664.1629",
        8,
    );
    link(&mut machine, &license);
    (vec![license], vec![machine])
}

/// A subscription's licenses and machines, as ARM lists serve them.
type Estate = (Vec<Value>, Vec<Value>);

/// The estates by subscription: troubled in [`SUB`], healthy in [`SUB2`].
fn estates() -> Vec<(&'static str, Estate)> {
    vec![(SUB, troubled_estate(SUB)), (SUB2, healthy_estate(SUB2))]
}

async fn run(mock: &ArmMock, subs: &[&str], args: &[&str]) -> Output {
    let uri = mock.uri();
    let mut all: Vec<&str> = args.to_vec();
    for sub in subs {
        all.extend(["--subscription", sub]);
    }
    all.extend(["--arm-endpoint", &uri, "--credential", "access-token"]);
    tokio::process::Command::new(BIN)
        .args(&all)
        .env_clear()
        .env("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN)
        .output()
        .await
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn findings(output: &Output) -> Value {
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(output)));
    report["findings"].clone()
}

/// A mock serving the estates through ARM lists.
async fn arm_mock() -> ArmMock {
    let mock = ArmMock::start().await;
    for (sub, (licenses, machines)) in estates() {
        mock.healthy(sub).await;
        mock.hybrid_compute(sub, licenses, machines).await;
    }
    mock
}

/// A mock serving the estates through Resource Graph (pages of `page` rows) and nothing through
/// ARM lists (the mock's default lists are empty).
async fn graph_mock(
    page: usize,
    tune: impl FnOnce(&mut GraphEstate),
) -> (ArmMock, Arc<GraphServed>) {
    let mock = ArmMock::start().await;
    let mut estate = GraphEstate::new();
    estate.page_size(page);
    for (sub, (licenses, machines)) in estates() {
        mock.healthy(sub).await;
        estate.subscription(sub, &licenses, &machines);
    }
    tune(&mut estate);
    let served = mock.graph(estate).await;
    (mock, served)
}

/// Whether `mock` was asked for an ARM list of machines or licenses.
async fn read_arm_lists(mock: &ArmMock) -> bool {
    mock.server()
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|r| {
            let path = r.url.path().to_ascii_lowercase();
            r.method.as_str() == "GET"
                && (path.ends_with("/microsoft.hybridcompute/machines")
                    || path.ends_with("/microsoft.hybridcompute/licenses"))
        })
}

#[tokio::test]
async fn resource_graph_and_arm_lists_give_the_same_findings() {
    let arm = arm_mock().await;
    let through_arm = run(
        &arm,
        &[SUB, SUB2],
        &["check", "--format", "json", "--inventory", "arm"],
    )
    .await;
    assert_eq!(
        through_arm.status.code(),
        Some(1),
        "{}",
        stderr(&through_arm)
    );
    assert!(
        stderr(&through_arm)
            .contains("machines and licenses: read through ARM lists (as --inventory arm asks)"),
        "{}",
        stderr(&through_arm)
    );

    // Pages of 3 rows: 8 + 1 machines and 5 + 1 licenses over several pages each.
    let (graph, served) = graph_mock(3, |_| {}).await;
    let through_graph = run(
        &graph,
        &[SUB, SUB2],
        &["check", "--format", "json", "--inventory", "graph"],
    )
    .await;
    assert_eq!(
        through_graph.status.code(),
        Some(1),
        "{}",
        stderr(&through_graph)
    );
    assert!(
        stderr(&through_graph).contains(
            "machines and licenses: read through Resource Graph (as --inventory graph asks)"
        ),
        "{}",
        stderr(&through_graph)
    );
    assert_eq!(served.machine_pages(), 3, "9 machines in pages of 3");
    assert_eq!(served.license_pages(), 2, "6 licenses in pages of 3");
    assert_eq!(
        served.count_queries(),
        0,
        "no count query when graph is asked for"
    );
    assert!(!read_arm_lists(&graph).await);
    let (a, g) = (findings(&through_arm), findings(&through_graph));
    assert!(a.as_array().is_some_and(|f| f.len() > 10), "{a:#}");
    assert_eq!(a, g);
}

/// `n` subscription ids.
fn many(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect()
}

#[tokio::test]
async fn auto_picks_resource_graph_for_many_small_subscriptions_and_says_so() {
    let subs = many(12);
    let mock = ArmMock::start().await;
    let mut estate = GraphEstate::new();
    for sub in &subs {
        mock.healthy(sub).await;
        let (licenses, machines) = healthy_estate(sub);
        estate.subscription(sub, &licenses, &machines);
    }
    let served = mock.graph(estate).await;
    let ids: Vec<&str> = subs.iter().map(String::as_str).collect();
    // With 16 requests in flight overall, the 24 lists cost the ARM way a round more than the
    // 2 queries (each subscription's other reads are the same either way).
    let output = run(
        &mock,
        &ids,
        &[
            "snapshot",
            "--output-file",
            "-",
            "--no-config",
            "--max-in-flight",
            "16",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("machines and licenses: read through Resource Graph (12 machines and 12 licenses in 12 subscriptions"),
        "{err}"
    );
    assert_eq!(served.count_queries(), 1);
    assert_eq!(served.machine_pages(), 1);
    assert!(!read_arm_lists(&mock).await);
    let snapshot: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(snapshot["inventory"]["source"], "resource_graph");
    for sub in snapshot["subscriptions"].as_array().unwrap() {
        assert_eq!(
            sub["machines"]["value"].as_array().map(Vec::len),
            Some(1),
            "{sub:#}"
        );
    }
}

#[tokio::test]
async fn auto_keeps_arm_lists_when_they_are_as_fast() {
    let mock = arm_mock().await;
    let served = mock.graph(GraphEstate::new()).await;
    let output = run(&mock, &[SUB, SUB2], &["check", "--format", "json"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("machines and licenses: read through ARM lists ("),
        "{}",
        stderr(&output)
    );
    assert_eq!(served.count_queries(), 1);
    assert_eq!(served.machine_pages(), 0);
}

fn graph_forbidden() -> Value {
    authorization_failed(
        "Microsoft.ResourceGraph/resources/read",
        "/providers/Microsoft.ResourceGraph",
    )
}

#[tokio::test]
async fn a_refused_query_falls_back_to_arm_lists_and_says_so() {
    let arm = arm_mock().await;
    let expected = findings(
        &run(
            &arm,
            &[SUB, SUB2],
            &["check", "--format", "json", "--inventory", "arm"],
        )
        .await,
    );
    // Resource Graph refuses; the ARM lists answer (each read once).
    let mock = arm_mock().await;
    let mut estate = GraphEstate::new();
    estate
        .refuse(GraphQuery::Machines, 403, graph_forbidden())
        .refuse(GraphQuery::Licenses, 403, graph_forbidden());
    mock.graph(estate).await;
    let output = run(
        &mock,
        &[SUB, SUB2],
        &["check", "--format", "json", "--inventory", "graph"],
    )
    .await;
    let err = stderr(&output);
    assert!(
        err.contains("machines and licenses: Resource Graph refused the")
            && err.contains("(403 AuthorizationFailed")
            && err.contains("read through ARM lists instead"),
        "{err}"
    );
    assert_eq!(err.matches("machines and licenses:").count(), 1, "{err}");
    assert_eq!(findings(&output), expected);

    // A refused count query: ARM lists, and why.
    let mock = arm_mock().await;
    let mut estate = GraphEstate::new();
    estate.refuse(GraphQuery::Counts, 403, graph_forbidden());
    mock.graph(estate).await;
    let output = run(&mock, &[SUB, SUB2], &["check", "--format", "json"]).await;
    let err = stderr(&output);
    assert!(
        err.contains("machines and licenses: Resource Graph refused the count query (403"),
        "{err}"
    );
    assert_eq!(findings(&output), expected);
}

#[tokio::test]
async fn a_truncated_answer_is_inconclusive_under_graph() {
    let (mock, _served) = graph_mock(3, |estate| {
        estate.truncate(GraphQuery::Machines);
    })
    .await;
    let output = run(
        &mock,
        &[SUB, SUB2],
        &["check", "--format", "json", "--inventory", "graph"],
    )
    .await;
    let all = findings(&output);
    let machine_checks: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check_id"] == "ESU501" || f["check_id"] == "ESU502")
        .collect();
    assert!(!machine_checks.is_empty(), "{all:#}");
    for finding in machine_checks {
        assert_eq!(finding["status"], "inconclusive", "{finding:#}");
    }
    assert!(
        !read_arm_lists(&mock).await,
        "no fallback under --inventory graph"
    );
}
