//! Management groups at scale (issue 8, item 5): hundreds of subscriptions below one management
//! group, listed over several pages; those the caller may not read are ESU001 findings, every
//! other one is read and checked.

use esu_preflight::checks::{self, Config, EvalInput};
use esu_preflight::finding::Status;
use esu_preflight::gather::GatherOptions;
use esu_preflight::snapshot::{Fact, Scope};
use esu_preflight_tests::{FleetMock, FleetSpec, caller_client};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_management_group_of_300_subscriptions_is_read_whole_and_unreadable_ones_fail_esu001() {
    let spec = FleetSpec {
        subscriptions: 300,
        machines_per_subscription: 3,
        licenses_per_subscription: 3,
        page_size: 2,
        resource_groups: 1,
        descendants_page_size: 100,
        unreadable: vec![7, 150, 299],
        ..FleetSpec::issue8()
    };
    let fleet = FleetMock::start(spec.clone(), Duration::ZERO).await;
    let client = caller_client(fleet.mock());
    let scope = Scope {
        management_groups: vec![spec.management_group.clone()],
        ..Scope::default()
    };
    let snapshot = esu_preflight::gather::gather_with(&client, &scope, &GatherOptions::default())
        .await
        .expect("gather");

    // Every subscription below the group (three pages of descendants) is in the snapshot.
    assert_eq!(snapshot.scope.subscriptions.len(), 300);
    assert_eq!(snapshot.subscriptions.len(), 300);
    let mut machines = 0;
    for (index, sub) in snapshot.subscriptions.iter().enumerate() {
        assert_eq!(sub.subscription_id, FleetSpec::subscription_id(index));
        match (&sub.machines, spec.unreadable.contains(&index)) {
            (Some(Fact::Available { value }), false) => machines += value.len(),
            (Some(Fact::Unavailable { reason }), true) => {
                assert_eq!(reason.http_status, Some(403), "{reason:?}");
            }
            (other, unreadable) => {
                panic!("subscription {index} (unreadable: {unreadable}): machines {other:?}")
            }
        }
    }
    assert_eq!(
        machines,
        297 * 3,
        "every machine of every readable subscription"
    );

    let config = Config::default();
    let findings = checks::evaluate(&EvalInput::new(
        &snapshot,
        &config,
        time::macros::datetime!(2026-11-29 12:00 UTC),
    ));
    let esu001: Vec<_> = findings.iter().filter(|f| f.check_id == "ESU001").collect();
    assert_eq!(esu001.len(), 300, "one ESU001 finding per subscription");
    for finding in esu001 {
        let index = (0..300)
            .find(|i| *finding.subscription_id == *FleetSpec::subscription_id(*i))
            .expect("a subscription of the fleet");
        if spec.unreadable.contains(&index) {
            assert_eq!(finding.status, Status::Fail, "{finding:?}");
            assert!(
                finding.message.contains("403") || finding.message.contains("not allowed"),
                "{}",
                finding.message
            );
        } else {
            assert_eq!(finding.status, Status::Pass, "{finding:?}");
        }
    }
    // The readable subscriptions were checked: their machines have findings.
    let machine_findings = findings
        .iter()
        .filter(|f| f.check_id == "ESU501")
        .filter(|f| f.resource_id.contains("/machines/"))
        .count();
    assert_eq!(machine_findings, 297 * 3);
}
