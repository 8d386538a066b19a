//! The inventory through Resource Graph at the library level: the count query over a management
//! group, auto's fallback on a truncated answer, and Resource Graph's silence not trusted where
//! the caller may not read.

use esu_preflight::gather::{self, GatherOptions, Inventory};
use esu_preflight::snapshot::{Fact, InventorySource, Scope};
use esu_preflight_tests::graph::{GraphEstate, GraphQuery};
use esu_preflight_tests::{ArmMock, SUB, authorization_failed, client, license_json, machine_json};
use serde_json::{Value, json};
use wiremock::matchers::query_param;

const MG: &str = "mg-fleet";

/// A client allowing 16 requests in flight overall: then the 20 lists of 10 small
/// subscriptions cost the ARM way a round more than the 2 queries (16 per subscription and 256
/// overall, the defaults, make it a tie, and a tie is ARM lists).
fn tight_client(mock: &ArmMock) -> esu_preflight::arm::ArmClient {
    esu_preflight_tests::client_with(
        mock,
        esu_preflight_tests::TOKEN,
        esu_preflight::arm::ArmClientOptions {
            max_in_flight: 16,
            ..esu_preflight::arm::ArmClientOptions::default()
        },
    )
}

fn subs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("30000000-0000-4000-8000-{i:012}"))
        .collect()
}

fn machine(sub: &str) -> Value {
    machine_json(
        sub,
        "srv",
        "Windows Server 2012 R2 Standard",
        "6.3.9600.20778",
        "1.40.02664.1629",
        8,
    )
}

fn license(sub: &str) -> Value {
    license_json(sub, "esu", "Windows Server 2012 R2", "Standard", "vCore", 8)
}

/// `MG` holds `subs`; each is healthy and holds one machine and one license in `estate`.
async fn fleet(mock: &ArmMock, subs: &[String], estate: &mut GraphEstate) {
    let value: Vec<Value> = subs
        .iter()
        .map(|sub| {
            json!({
                "id": format!("/subscriptions/{sub}"),
                "type": "Microsoft.Management/managementGroups/subscriptions",
                "name": sub,
                "properties": {
                    "displayName": sub,
                    "parent": { "id": format!("/providers/Microsoft.Management/managementGroups/{MG}") },
                },
            })
        })
        .collect();
    mock.mount(
        mock.route(
            "GET",
            &format!("/providers/Microsoft.Management/managementGroups/{MG}/descendants"),
        )
        .and(query_param(
            "api-version",
            gather::api_version::MANAGEMENT_GROUPS,
        ))
        .respond_with(mock.json(200, json!({ "value": value })))
        .expect(1),
    )
    .await;
    for sub in subs {
        mock.healthy(sub).await;
        estate.subscription(sub, &[license(sub)], &[machine(sub)]);
    }
    let ids: Vec<&str> = subs.iter().map(String::as_str).collect();
    estate.management_group(MG, &ids);
}

fn scope() -> Scope {
    Scope {
        management_groups: vec![MG.to_owned()],
        ..Scope::default()
    }
}

fn machines(snapshot: &esu_preflight::Snapshot) -> Vec<usize> {
    snapshot
        .subscriptions
        .iter()
        .map(|s| match &s.machines {
            Some(Fact::Available { value }) => value.len(),
            other => panic!("{}: {other:?}", s.subscription_id),
        })
        .collect()
}

#[tokio::test]
async fn auto_counts_over_the_management_group_and_reads_through_resource_graph() {
    let mock = ArmMock::start().await;
    let subs = subs(10);
    let mut estate = GraphEstate::new();
    fleet(&mock, &subs, &mut estate).await;
    let served = mock.graph(estate).await;
    let snapshot = gather::gather_with(&tight_client(&mock), &scope(), &GatherOptions::default())
        .await
        .unwrap();
    let note = snapshot.inventory.clone().unwrap();
    assert_eq!(note.source, InventorySource::ResourceGraph, "{note:?}");
    assert!(
        note.reason
            .starts_with("10 machines and 10 licenses in 10 subscriptions")
    );
    assert_eq!(machines(&snapshot), vec![1; 10]);
    assert_eq!(served.count_queries(), 1);
    assert_eq!((served.machine_pages(), served.license_pages()), (1, 1));
    let count = mock
        .received()
        .await
        .into_iter()
        .find(|r| String::from_utf8_lossy(&r.body).contains("summarize"))
        .unwrap();
    let body: Value = serde_json::from_slice(&count.body).unwrap();
    assert_eq!(body["managementGroups"], json!([MG]), "{body}");
    mock.assert_no_url_requested_twice().await;
}

#[tokio::test]
async fn auto_reads_arm_lists_when_resource_graph_answers_incompletely() {
    let mock = ArmMock::start().await;
    let subs = subs(10);
    let mut estate = GraphEstate::new();
    fleet(&mock, &subs, &mut estate).await;
    estate.page_size(3).truncate(GraphQuery::Machines);
    for sub in &subs {
        let route = format!("/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines");
        mock.mount(
            mock.route("GET", &route)
                .respond_with(mock.json(200, json!({ "value": [machine(sub)] })))
                .expect(1),
        )
        .await;
    }
    mock.graph(estate).await;
    let snapshot = gather::gather_with(&tight_client(&mock), &scope(), &GatherOptions::default())
        .await
        .unwrap();
    assert_eq!(machines(&snapshot), vec![1; 10]);
    let note = snapshot.inventory.unwrap();
    assert_eq!(note.source, InventorySource::ArmLists);
    assert!(
        note.reason
            .contains("answered the machine query incompletely")
            && note.reason.ends_with("read through ARM lists instead"),
        "{}",
        note.reason
    );
}

#[tokio::test]
async fn resource_graph_is_not_trusted_where_the_caller_may_not_read_machines() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[]).await;
    // The caller may read the subscription, not its machines or licenses: Resource Graph would
    // leave them out silently, ARM says 403.
    mock.permissions(
        SUB,
        json!({ "value": [{ "actions": ["Microsoft.Resources/subscriptions/read"], "notActions": [] }] }),
    )
    .await;
    for (kind, action) in [
        ("machines", "Microsoft.HybridCompute/machines/read"),
        ("licenses", "Microsoft.HybridCompute/licenses/read"),
    ] {
        mock.mount(
            mock.route(
                "GET",
                &format!("/subscriptions/{SUB}/providers/Microsoft.HybridCompute/{kind}"),
            )
            .respond_with(mock.json(
                403,
                authorization_failed(action, &format!("/subscriptions/{SUB}")),
            ))
            .expect(1),
        )
        .await;
    }
    let mut estate = GraphEstate::new();
    estate.subscription(SUB, &[], &[]);
    mock.graph(estate).await;
    let options = GatherOptions {
        inventory: Inventory::ResourceGraph,
        ..GatherOptions::default()
    };
    let snapshot = gather::gather_with(&client(&mock), &Scope::subscriptions([SUB]), &options)
        .await
        .unwrap();
    let sub = &snapshot.subscriptions[0];
    match &sub.machines {
        Some(Fact::Unavailable { reason }) => assert_eq!(
            reason.action.as_deref(),
            Some("Microsoft.HybridCompute/machines/read")
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&sub.licenses, Some(Fact::Unavailable { .. })));
}

#[tokio::test]
async fn a_generated_fleet_pages_across_subscriptions() {
    let mock = ArmMock::start().await;
    let subs = subs(3);
    let mut estate = GraphEstate::new();
    for sub in &subs {
        mock.healthy(sub).await;
        // 1,200 machines each, serialised once as Resource Graph rows.
        let template = machine(sub);
        estate.rows(
            sub,
            GraphQuery::Machines,
            (0..1200).map(|i| {
                let mut row = template.clone();
                row["id"] = json!(format!(
                    "/subscriptions/{sub}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-{i}"
                ));
                row["name"] = json!(format!("srv-{i}"));
                row["type"] = json!("microsoft.hybridcompute/machines");
                row["kind"] = json!("");
                row["subscriptionId"] = json!(sub);
                row.to_string()
            }),
        );
    }
    let served = mock.graph(estate).await;
    let options = GatherOptions {
        inventory: Inventory::ResourceGraph,
        ..GatherOptions::default()
    };
    let scope = Scope::subscriptions(subs.iter().map(String::as_str));
    let snapshot = gather::gather_with(&client(&mock), &scope, &options)
        .await
        .unwrap();
    assert_eq!(machines(&snapshot), vec![1200; 3]);
    // 3,600 rows in pages of 1,000 ($top), across subscription boundaries.
    assert_eq!(served.machine_pages(), 4);
    assert_eq!(served.license_pages(), 1);
    let first = match &snapshot.subscriptions[1].machines {
        Some(Fact::Available { value }) => value[0].read().unwrap().clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first.name, "srv-0");
    assert_eq!(first.kind, None);
    assert!(first.id.contains(&subs[1]));
}
