//! Reports for emitter tests, made by evaluating fixture snapshots.

use crate::checks::testkit::{self, Fixture};
use crate::checks::{self, Config};
use crate::finding::{Finding, Severity, Status};
use crate::report::{Gate, Report};
use crate::snapshot::{Scope, Snapshot};

/// A fixed tool version, so a version bump is not a snapshot diff.
pub(crate) const TEST_VERSION: &str = "0.0.0-test";

/// A report with every status: one subscription with failures (including a warning), one whose
/// providers could not be read (inconclusive), one that does not exist (skipped).
pub(crate) fn report() -> Report {
    report_with(&Config::default(), Gate::default())
}

/// [`report`]'s subscriptions, evaluated under `config` and gated by `gate`.
pub(crate) fn report_with(config: &Config, gate: Gate) -> Report {
    let broken = Fixture::healthy()
        .provider_state("Microsoft.Sql", "NotRegistered")
        .provider_state("Microsoft.Compute", "Registering")
        .permissions(testkit::role(
            "AzureConnectedMachineResourceAdministrator.json",
        ))
        .subscription_snapshot();
    let unreadable_id = "11111111-1111-1111-1111-111111111111";
    let unreadable = Fixture::healthy()
        .with_subscription_id(unreadable_id)
        .providers_unavailable(testkit::forbidden_at(
            "Microsoft.Resources/subscriptions/providers/read",
            unreadable_id,
        ))
        .subscription_snapshot();
    let missing_id = "22222222-2222-2222-2222-222222222222";
    let missing = Fixture::healthy()
        .with_subscription_id(missing_id)
        .subscription_unavailable(testkit::not_found_at(missing_id))
        .subscription_snapshot();

    let subscriptions = vec![broken, unreadable, missing];
    let mut snapshot = Snapshot::new(Scope::subscriptions(
        subscriptions.iter().map(|s| s.subscription_id.clone()),
    ));
    snapshot.subscriptions = subscriptions;
    let findings = checks::evaluate(&checks::EvalInput::new(
        &snapshot,
        config,
        time::OffsetDateTime::UNIX_EPOCH,
    ));
    with_test_version(Report::new(snapshot.scope.clone(), findings, gate))
}

/// A report of one subscription whose texts are far wider than any terminal.
pub(crate) fn long_report() -> Report {
    let long_word = "x".repeat(150);
    let finding = |status: Status, severity: Severity, resource_id: String| Finding {
        program: None,
        suppressed: None,
        check_id: "ESU101".into(),
        check: "provider-not-registered".into(),
        status,
        severity,
        resource_id: resource_id.into(),
        subscription_id: testkit::SUB.into(),
        message: format!(
            "a very long message that goes on and on {} with an unbreakable {long_word} in it",
            "and on ".repeat(20)
        ),
        remediation: format!(
            "a remediation just as long: {} then `az provider register --namespace {long_word}`",
            "do this and that ".repeat(15)
        ),
        evidence: serde_json::json!({}).into(),
        help_uri: "https://learn.microsoft.com/".into(),
    };
    let sub = format!("/subscriptions/{}", testkit::SUB);
    let findings = vec![
        finding(
            Status::Fail,
            Severity::Error,
            format!("{sub}/providers/Microsoft.{long_word}"),
        ),
        finding(
            Status::Inconclusive,
            Severity::Warning,
            format!(
                "{sub}/resourceGroups/rg-{long_word}/providers/Microsoft.HybridCompute/machines/m-{long_word}/licenseProfiles/default"
            ),
        ),
        finding(Status::Pass, Severity::Info, format!("{sub}/{long_word}")),
        finding(Status::Skipped, Severity::Error, long_word.clone()),
    ];
    with_test_version(Report::new(
        Scope::subscriptions([testkit::SUB]),
        findings,
        Gate::default(),
    ))
}

fn with_test_version(mut report: Report) -> Report {
    report.tool.version = TEST_VERSION.to_owned();
    report
}

/// Text an attacker could put in an Azure display name: line breaks followed by GitHub Actions
/// workflow commands, and Azure Pipelines logging commands, which runners obey anywhere in a
/// line.
pub(crate) const HOSTILE_NAME: &str =
    "Prod\r\n::add-mask::x\n  ::error::inj\r\n##[error]fake ##vso[task.setvariable variable=A]b";

/// [`long_report`] with [`HOSTILE_NAME`] in messages, remediations (inside a command too) and
/// resource ids, as a subscription display name or a policy's name would bring it.
pub(crate) fn hostile_report() -> Report {
    let mut report = long_report();
    for finding in &mut report.findings {
        finding.message = format!("subscription \"{HOSTILE_NAME}\" ::error::msg is not ready");
        finding.remediation = format!(
            "ask the owner of \"{HOSTILE_NAME}\": `az account set --subscription \"{HOSTILE_NAME}\"`, then run again"
        );
        finding.resource_id = format!("{}/{HOSTILE_NAME}", finding.resource_id).into();
    }
    report
}

/// Whether a line of output is one a CI runner would obey as a command: GitHub Actions trims
/// the line and reads `::`; Azure Pipelines reads `##vso[` and `##[` anywhere.
pub(crate) fn is_runner_command(line: &str) -> bool {
    line.trim_start().starts_with("::")
        || line.contains("##[")
        || line.to_ascii_lowercase().contains("##vso[")
}

/// [`report`] with suppressions: ESU101's failure on Microsoft.Sql (until 2027-01-01) and its
/// inconclusive findings in the unreadable subscription (for good).
pub(crate) fn suppressed_report() -> Report {
    let config = Config {
        suppress: vec![
            crate::config::Suppression {
                check: "ESU101".into(),
                resource: Some("*/providers/Microsoft.Sql".into()),
                reason: "SQL is registered by the platform team | ticket #42".into(),
                expires: Some(time::macros::date!(2027 - 01 - 01)),
            },
            crate::config::Suppression {
                check: "ESU101".into(),
                resource: Some("/subscriptions/11111111-*".into()),
                reason: "sandbox subscription".into(),
                expires: None,
            },
        ],
        ..Config::default()
    };
    let report = report_with(&config, Gate::default());
    assert!(report.summary.suppressed >= 2, "{:?}", report.summary);
    report
}
