use super::*;
use crate::checks::testkit::{Fixture, SUB, TODAY, forbidden};
use crate::checks::{self, EvalInput};
use crate::report::{Gate, Report};

fn parse(text: &str) -> Result<ConfigFile, String> {
    ConfigFile::from_toml_str(text, Path::new("esu-preflight.toml")).map_err(|e| e.to_string())
}

fn day(text: &str) -> time::Date {
    parse_date(text).unwrap()
}

/// ESU101 fails on Microsoft.Sql; everything else passes.
fn sql_unregistered() -> Fixture {
    Fixture::healthy().provider_state("Microsoft.Sql", "NotRegistered")
}

fn evaluate(fixture: &Fixture, config: &Config, now: time::OffsetDateTime) -> Report {
    let (snapshot, _) = fixture.build();
    let findings = checks::evaluate(&EvalInput::new(&snapshot, config, now));
    let outcomes = suppression_outcomes(&config.suppress, &findings, now);
    Report::new(snapshot.scope.clone(), findings, Gate::default()).with_suppressions(outcomes)
}

fn suppression(check: &str, resource: Option<&str>, expires: Option<&str>) -> Suppression {
    Suppression {
        check: check.to_owned(),
        resource: resource.map(str::to_owned),
        reason: "SQL Server ESU is not in use here (TICKET-1)".to_owned(),
        expires: expires.map(day),
    }
}

#[test]
fn a_full_file_reads() {
    let file = parse(
        r#"
fail_on = "warning"
allow_inconclusive = false
license_plans = ["plans/esu.toml"]

[scope]
subscriptions = ["291bba3f-e0a5-47bc-a099-3bdcb2a50a05"]
resource_groups = ["rg-esu"]
management_groups = ["mg-contoso"]
program = "ws2012"

[severity]
esu601 = "info"

[[suppress]]
check = "ESU504"
resource = "*/resourceGroups/rg-lab/*"
reason = "lab machines run on Azure Local (TICKET-123)"
expires = 2027-01-31

[[suppress]]
check = "ESU5*"
reason = "string dates work too"
expires = "2027-02-01"
"#,
    )
    .unwrap();
    assert_eq!(file.fail_on, Some(Severity::Warning));
    assert_eq!(file.scope.program.as_deref(), Some("ws2012"));
    assert_eq!(file.scope.subscriptions, [SUB]);
    assert_eq!(file.license_plans, [PathBuf::from("plans/esu.toml")]);
    assert_eq!(file.suppress[0].expires, Some(day("2027-01-31")));
    assert_eq!(file.suppress[1].expires, Some(day("2027-02-01")));
    let config = file.checks_config();
    assert_eq!(config.severity_override("ESU601"), Some(Severity::Info));
    assert_eq!(config.suppress.len(), 2);
}

#[test]
fn unknown_keys_name_file_line_and_the_valid_keys() {
    let err = parse("fail_on = \"error\"\n\n[severty]\nESU101 = \"warning\"\n").unwrap_err();
    assert_eq!(
        err,
        "esu-preflight.toml:3:2: unknown key \"severty\"; valid keys: scope, fail_on, \
         allow_inconclusive, license_plans, severity, suppress"
    );
    let err = parse(
        "[[suppress]]\ncheck = \"ESU101\"\nreason = \"r\"\n\n[[suppress]]\ncheck = \"ESU101\"\n\
         reasn = \"typo\"\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        "esu-preflight.toml:7:1: suppress[1]: unknown key \"reasn\"; valid keys: check, \
         resource, reason, expires"
    );
    let err = parse("[scope]\nsubscription = []\n").unwrap_err();
    assert!(
        err.starts_with("esu-preflight.toml:2:1: scope: unknown key \"subscription\"; valid keys: subscriptions,"),
        "{err}"
    );
}

#[test]
fn bad_dates_are_refused_with_their_line() {
    let err = parse("[[suppress]]\ncheck = \"ESU101\"\nreason = \"r\"\nexpires = \"31/12/2026\"\n")
        .unwrap_err();
    assert_eq!(
        err,
        "esu-preflight.toml:4:11: suppress[0].expires: expected a date such as 2027-01-31 \
         (year-month-day), found \"31/12/2026\""
    );
    let err = parse("[[suppress]]\ncheck = \"ESU101\"\nreason = \"r\"\nexpires = \"2026-02-30\"\n")
        .unwrap_err();
    assert!(
        err.contains(":4:11: suppress[0].expires: expected a date"),
        "{err}"
    );
    // A date and time is not a day.
    let err =
        parse("[[suppress]]\ncheck = \"ESU101\"\nreason = \"r\"\nexpires = 2026-12-31T10:00:00Z\n")
            .unwrap_err();
    assert!(
        err.contains(":4:11: suppress[0].expires: expected a date"),
        "{err}"
    );
}

#[test]
fn a_suppression_needs_a_reason() {
    let err = parse("\n[[suppress]]\ncheck = \"ESU101\"\n").unwrap_err();
    assert!(
        err.starts_with("esu-preflight.toml:2:1: suppress[0]: missing field \"reason\""),
        "{err}"
    );
    let err = parse("[[suppress]]\ncheck = \"ESU101\"\nreason = \"  \"\n").unwrap_err();
    assert_eq!(
        err,
        "esu-preflight.toml:3:10: suppress[0].reason: the reason is empty: say why the finding \
         is accepted (and where it is tracked)"
    );
}

#[test]
fn unknown_check_ids_and_bad_scope_values_are_refused() {
    let err = parse("[severity]\nESU999 = \"info\"\n").unwrap_err();
    assert!(
        err.starts_with("esu-preflight.toml:2:10: severity.ESU999: \"ESU999\" is not a check ID"),
        "{err}"
    );
    let err = parse("[severity]\nESU101 = \"fatal\"\n").unwrap_err();
    assert!(
        err.starts_with("esu-preflight.toml:2:10: severity.ESU101: unknown value \"fatal\""),
        "{err}"
    );
    let err = parse("[[suppress]]\ncheck = \"ESU9*\"\nreason = \"r\"\n").unwrap_err();
    assert!(
        err.starts_with("esu-preflight.toml:2:9: suppress[0].check: \"ESU9*\" matches no check ID"),
        "{err}"
    );
    let err = parse("[scope]\nsubscriptions = [\"not-a-guid\"]\n").unwrap_err();
    assert!(
        err.starts_with("esu-preflight.toml:2:18: scope.subscriptions[0]: \"not-a-guid\" is not a subscription id"),
        "{err}"
    );
    assert!(parse("[scope]\nprogram = \"WS2008\"\n").is_ok());
    let err = parse("[scope]\nprogram = \"ws2003\"\n").unwrap_err();
    assert!(
        err.contains(
            ":2:11: scope.program: unknown program \"ws2003\": expected ws2012, ws2016, ws2008, all"
        ),
        "{err}"
    );
    let err = parse("fail_on = [").unwrap_err();
    assert!(err.starts_with("esu-preflight.toml:1:"), "{err}");
    assert!(err.contains("not valid TOML"), "{err}");
}

#[test]
fn license_plans_are_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ci")).unwrap();
    let path = dir.path().join("ci").join("esu-preflight.toml");
    std::fs::write(
        &path,
        "license_plans = [\"plans/a.toml\", \"/abs/b.toml\"]\n",
    )
    .unwrap();
    let file = ConfigFile::load(&path).unwrap();
    assert_eq!(
        file.license_plans,
        [
            dir.path().join("ci").join("plans/a.toml"),
            PathBuf::from("/abs/b.toml")
        ]
    );
    let missing = ConfigFile::load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
}

#[test]
fn a_suppressed_failure_stays_visible_and_does_not_fail_the_run() {
    let fixture = sql_unregistered();
    let unsuppressed = evaluate(&fixture, &Config::default(), TODAY);
    let blocking: Vec<_> = unsuppressed
        .findings
        .iter()
        .filter(|f| Gate::default().blocks(f))
        .map(|f| {
            format!(
                "{} {} {} {}",
                f.check_id, f.status, f.resource_id, f.message
            )
        })
        .collect();
    assert_eq!(blocking.len(), 1, "{blocking:#?}");
    let fails = unsuppressed.summary.fail;

    let config = Config {
        suppress: vec![suppression(
            "esu101",
            Some("*/PROVIDERS/microsoft.sql"),
            Some("2026-12-31"),
        )],
        ..Config::default()
    };
    let report = evaluate(&fixture, &config, TODAY);
    let sql = report
        .findings
        .iter()
        .find(|f| f.check_id == "ESU101" && f.resource_id.ends_with("Microsoft.Sql"))
        .unwrap();
    assert_eq!(sql.status, Status::Fail, "the status is unchanged");
    assert_eq!(
        sql.suppressed,
        Some(Box::new(Suppressed {
            reason: "SQL Server ESU is not in use here (TICKET-1)".into(),
            expires: Some("2026-12-31".into()),
        }))
    );
    assert_eq!(report.summary.suppressed, 1);
    assert_eq!(report.summary.fail, fails - 1);
    assert_eq!(report.summary.exit_code, 0);
    assert_eq!(report.suppressions[0].status, SuppressionStatus::Applied);
    assert_eq!(report.suppressions[0].findings, 1);
    // Only that provider: the other ESU101 findings (passes) are untouched.
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.suppressed.is_some())
            .count(),
        1
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["summary"]["suppressed"], 1);
    assert_eq!(json["suppressions"][0]["status"], "applied");
    let marked: Vec<_> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("suppressed").is_some())
        .collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0]["status"], "fail");
    assert_eq!(marked[0]["suppressed"]["expires"], "2026-12-31");
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn an_expired_suppression_stops_applying_and_is_reported() {
    let fixture = sql_unregistered();
    let config = Config {
        suppress: vec![suppression("ESU101", None, Some("2026-11-30"))],
        ..Config::default()
    };
    // The day before it expires: applied.
    let report = evaluate(&fixture, &config, TODAY);
    assert_eq!(report.summary.exit_code, 0);
    assert_eq!(report.suppressions[0].status, SuppressionStatus::Applied);
    // On its expiry day (the injected clock, not the wall clock): no longer.
    let later = TODAY + time::Duration::days(1);
    let report = evaluate(&fixture, &config, later);
    assert_eq!(report.summary.exit_code, 1);
    assert_eq!(report.summary.suppressed, 0);
    assert!(report.findings.iter().all(|f| f.suppressed.is_none()));
    let outcome = &report.suppressions[0];
    assert_eq!(outcome.status, SuppressionStatus::Expired);
    assert_eq!(outcome.findings, 1, "what it would have covered");
    assert!(
        outcome
            .describe()
            .starts_with("suppression of ESU101 expired on 2026-11-30; 1 finding"),
        "{}",
        outcome.describe()
    );
}

#[test]
fn a_suppression_that_matched_nothing_is_reported() {
    let config = Config {
        suppress: vec![
            suppression("ESU101", Some("*/providers/Microsoft.Sql"), None),
            // Passes are never suppressed: a healthy subscription leaves this unmatched.
            suppression("ESU001", None, None),
        ],
        ..Config::default()
    };
    let report = evaluate(&Fixture::healthy(), &config, TODAY);
    assert_eq!(report.summary.suppressed, 0);
    assert!(
        report
            .suppressions
            .iter()
            .all(|o| o.status == SuppressionStatus::Unmatched && o.findings == 0)
    );
    assert!(
        report.suppressions[0]
            .describe()
            .contains("matched no failing")
    );
}

#[test]
fn inconclusive_findings_are_suppressed_only_by_an_explicit_check_id() {
    let fixture = Fixture::healthy().providers_unavailable(forbidden(
        "Microsoft.Resources/subscriptions/providers/read",
    ));
    let glob = Config {
        suppress: vec![suppression("ESU10*", None, None)],
        ..Config::default()
    };
    let report = evaluate(&fixture, &glob, TODAY);
    assert!(report.summary.inconclusive > 0);
    assert_eq!(report.summary.suppressed, 0);
    assert_eq!(report.summary.exit_code, 1);
    assert_eq!(report.suppressions[0].status, SuppressionStatus::Unmatched);

    let exact = Config {
        suppress: vec![
            suppression("ESU101", None, None),
            suppression("ESU102", None, None),
        ],
        ..Config::default()
    };
    let report = evaluate(&fixture, &exact, TODAY);
    assert!(report.summary.suppressed > 0);
    assert!(
        report
            .findings
            .iter()
            .filter(|f| f.suppressed.is_some())
            .all(|f| f.status == Status::Inconclusive)
    );
}

#[test]
fn the_first_suppression_in_force_claims_a_finding() {
    let fixture = sql_unregistered();
    let config = Config {
        suppress: vec![
            suppression("ESU101", None, None),
            suppression("ESU1*", None, None),
        ],
        ..Config::default()
    };
    let report = evaluate(&fixture, &config, TODAY);
    assert_eq!(report.suppressions[0].status, SuppressionStatus::Applied);
    assert_eq!(report.suppressions[1].status, SuppressionStatus::Unmatched);
}

#[test]
fn globs() {
    assert!(glob_matches("*", ""));
    assert!(glob_matches("*", "anything/at/all"));
    assert!(glob_matches("a*b*c", "aXXbYYc"));
    assert!(!glob_matches("a*b*c", "aXXbYY"));
    assert!(glob_matches("ESU10?", "esu101"));
    assert!(!glob_matches("ESU10?", "esu1011"));
    assert!(glob_matches(
        "*/rg-lab/*",
        "/subscriptions/s/resourceGroups/RG-LAB/x"
    ));
    // Long hostile patterns stay fast.
    let text = "a".repeat(2000);
    assert!(!glob_matches(&format!("{}b", "*a".repeat(50)), &text));
}

#[test]
fn the_table_marks_suppressed_findings_and_lists_the_suppressions() {
    let config = Config {
        suppress: vec![
            suppression("ESU101", Some("*/providers/Microsoft.Sql"), None),
            suppression("ESU001", None, Some("2026-01-01")),
        ],
        ..Config::default()
    };
    let report = evaluate(&sql_unregistered(), &config, TODAY);
    let options = crate::render::RenderOptions {
        color: false,
        width: 120,
    };
    let mut out = Vec::new();
    crate::render::render(&report, crate::render::Format::Table, &options, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("(suppressed)"), "{text}");
    assert!(
        text.contains("note: suppression of ESU101 (resource */providers/Microsoft.Sql) applied to 1 finding: SQL Server ESU"),
        "{text}"
    );
    assert!(
        text.contains("warning: suppression of ESU001 expired on 2026-01-01; 0 findings"),
        "{text}"
    );
    // A suppressed finding's fix is not among the things to do.
    assert!(!text.contains("Microsoft.Sql --subscription"), "{text}");
    assert!(text.trim_end().ends_with("1 suppressed"), "{text}");
}
