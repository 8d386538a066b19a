//! Issue 7's "done when", end to end: the real binary, `check --license-plan … --format json`,
//! against the in-process ARM mock with the caller's token (a JWT naming the caller).
//!
//! The checks ESU201–ESU203 and ESU301–ESU304 come from the access and policy branches; until
//! they are merged these tests are ignored (`cargo test -- --ignored` runs them).

use esu_preflight_tests::{ArmMock, CALLER_TOKEN, SUB, machine_json};
use serde_json::Value;
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_esu-preflight");

/// One ESU license in `rg-esu` (Standard, 16 vCores), linked to `srv-r2` in `rg-arc`.
fn plan(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("plan.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[license]]
name = "esu-r2-dc"
resource_group = "rg-esu"
location = "eastus"
target = "Windows Server 2012 R2"
edition = "Standard"
type = "vCore"
processors = 16
machines = ["/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-r2"]
"#
        ),
    )
    .unwrap();
    path
}

/// An enabled subscription, every provider registered, the machine to link, and the service's
/// dry run accepting the license.
async fn subscription() -> ArmMock {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[]).await;
    let machine = machine_json(
        SUB,
        "srv-r2",
        "Windows Server 2012 R2 Standard",
        "6.3.9600.20778",
        "1.40.02664.1629",
        16,
    );
    mock.hybrid_compute(SUB, Vec::new(), vec![machine]).await;
    mock.mount(mock.validate_license_accepts(SUB)).await;
    mock
}

/// `check --license-plan PLAN --format json` against `mock`: the exit code and the report.
async fn check(mock: &ArmMock) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let uri = mock.uri();
    let output: Output = tokio::process::Command::new(BIN)
        .args([
            "check",
            "--license-plan",
            plan.to_str().unwrap(),
            "--format",
            "json",
            "--subscription",
            SUB,
            "--arm-endpoint",
            &uri,
            "--credential",
            "access-token",
        ])
        .env_clear()
        .env("ESU_PREFLIGHT_ACCESS_TOKEN", CALLER_TOKEN)
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), report)
}

fn findings<'a>(report: &'a Value, check_id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check_id"] == check_id)
        .collect()
}

fn statuses(report: &Value, check_id: &str) -> Vec<String> {
    findings(report, check_id)
        .iter()
        .map(|f| f["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_enforced_not_allowed_types_assignment_fails_esu301_and_the_do_not_enforce_one_does_not()
{
    let mock = subscription().await;
    mock.caller_contributor(SUB).await;
    let (enforced, not_enforced) = mock.policy_blocked(SUB).await;
    let (code, report) = check(&mock).await;
    assert_eq!(code, Some(1), "{report:#}");
    let failing: Vec<&Value> = findings(&report, "ESU301")
        .into_iter()
        .filter(|f| f["status"] == "fail")
        .collect();
    assert!(!failing.is_empty(), "{report:#}");
    let text = serde_json::to_string(&failing).unwrap();
    assert!(
        text.contains(&enforced),
        "ESU301 names the enforced assignment: {text}"
    );
    assert!(
        !text.contains(&not_enforced),
        "not the DoNotEnforce one: {text}"
    );
}

#[tokio::test]
async fn a_reader_gets_esu201_and_esu202() {
    let mock = subscription().await;
    mock.caller_reader(SUB).await;
    let (code, report) = check(&mock).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert!(
        statuses(&report, "ESU201").contains(&"fail".to_owned()),
        "{report:#}"
    );
    assert!(
        statuses(&report, "ESU202").contains(&"fail".to_owned()),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_contributor_passes_the_access_checks() {
    let mock = subscription().await;
    mock.caller_contributor(SUB).await;
    let (_, report) = check(&mock).await;
    for id in ["ESU201", "ESU202", "ESU203"] {
        let statuses = statuses(&report, id);
        assert!(!statuses.is_empty(), "{id} ran: {report:#}");
        assert!(statuses.iter().all(|s| s == "pass"), "{id}: {statuses:?}");
    }
}

#[tokio::test]
async fn a_healthy_subscription_passes_the_whole_pre_flight_with_exit_0() {
    let mock = subscription().await;
    mock.caller_contributor(SUB).await;
    let (code, report) = check(&mock).await;
    let alarms: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !matches!(f["status"].as_str(), Some("pass" | "skipped")))
        .collect();
    assert!(alarms.is_empty(), "no false alarm: {alarms:#?}");
    assert_eq!(code, Some(0), "{report:#}");
    for id in ["ESU101", "ESU201", "ESU202", "ESU301", "ESU302"] {
        assert!(!statuses(&report, id).is_empty(), "{id} ran");
    }
}
