//! End-to-end: the real `esu-preflight` binary against the in-process ARM mock.
//!
//! The child process gets a clean environment (no Azure variables from the developer's shell)
//! and authenticates with `--credential access-token`.

use esu_preflight_tests::wiremock::matchers::{method, path_regex};
use esu_preflight_tests::wiremock::{Mock, ResponseTemplate};
use esu_preflight_tests::{
    ArmMock, PROVIDERS_API, SUB, TOKEN, has_token, permissions_owner, permissions_reader,
    provider_json,
};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_esu-preflight");

/// Runs the binary with a clean environment plus `env`.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("the binary runs")
}

/// Runs `esu-preflight <args> --subscription SUB` against `mock` with the test token.
async fn run_against(mock: &ArmMock, args: &[&str]) -> Output {
    run_against_with_token(mock, args, TOKEN).await
}

/// Runs `esu-preflight <args> --subscription SUB` against `mock`, presenting `token`.
async fn run_against_with_token(mock: &ArmMock, args: &[&str], token: &str) -> Output {
    let uri = mock.uri();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--subscription",
        SUB,
        "--arm-endpoint",
        &uri,
        "--credential",
        "access-token",
    ]);
    run(&all, &[("ESU_PREFLIGHT_ACCESS_TOKEN", token)]).await
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The first failing finding of `check_id` in a JSON report.
fn failing<'a>(report: &'a Value, check_id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check_id"] == check_id && f["status"] == "fail")
        .unwrap_or_else(|| panic!("no failing {check_id} finding in {report:#}"))
}

async fn sql_unregistered() -> ArmMock {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(SUB, permissions_owner()).await;
    mock
}

#[tokio::test]
async fn check_json_reports_unregistered_sql_and_exits_1() {
    let mock = sql_unregistered().await;
    let output = run_against(&mock, &["check", "--format", "json"]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sql = failing(&report, "ESU101");
    assert_eq!(
        sql["resource_id"],
        format!("/subscriptions/{SUB}/providers/Microsoft.Sql")
    );
    assert_eq!(report["summary"]["exit_code"], 1);
    insta::assert_json_snapshot!("check_json_sql_unregistered", report, {
        ".tool.version" => "[version]",
    });
    for request in mock.received().await {
        assert_eq!(request.method.as_str(), "GET");
        assert!(has_token(&request));
    }
}

#[tokio::test]
async fn check_table_on_a_healthy_subscription_exits_0() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let output = run_against(&mock, &["check"]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let table = stdout(&output);
    assert!(!table.contains('\u{1b}'), "no colour when not a terminal");
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    insta::assert_snapshot!("check_table_healthy", table);
}

#[tokio::test]
async fn subscription_falls_back_to_azure_subscription_id() {
    let mock = sql_unregistered().await;
    let uri = mock.uri();
    let output = run(
        &[
            "check",
            "--format",
            "json",
            "--arm-endpoint",
            &uri,
            "--credential",
            "access-token",
        ],
        &[
            ("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN),
            ("AZURE_SUBSCRIPTION_ID", SUB),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scope"]["subscriptions"][0], SUB);
}

#[tokio::test]
async fn snapshot_then_offline_check_gives_the_same_report() {
    let mock = sql_unregistered().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    let file_arg = file.to_str().unwrap();
    let output = run_against(&mock, &["snapshot", "--output-file", file_arg]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(!saved.contains(TOKEN), "the snapshot holds no token");

    let live = run_against(&mock, &["check", "--format", "json"]).await;
    let offline = run(&["check", "--snapshot", file_arg, "--format", "json"], &[]).await;
    assert_eq!(offline.status.code(), Some(1));
    assert_eq!(stdout(&live), stdout(&offline));
}

#[tokio::test]
async fn snapshot_names_the_facts_it_could_not_read() {
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    mock.providers_forbidden(SUB).await;
    let output = run_against(&mock, &["snapshot", "--output-file", "-"]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let saved: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        saved["subscriptions"][0]["providers"]["status"],
        "unavailable"
    );
    let err = stderr(&output);
    assert!(
        err.contains(&format!("note: {SUB}: providers could not be read"))
            && err.contains("Microsoft.Resources/subscriptions/providers/read"),
        "{err}"
    );
}

#[tokio::test]
async fn bundled_example_snapshot_evaluates() {
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/snapshots/contoso-esu.json");
    let output = run(&["check", "--snapshot", sample.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    insta::assert_snapshot!("check_table_example_snapshot", stdout(&output));
}

#[tokio::test]
async fn fail_on_and_allow_inconclusive_gate_the_exit_code() {
    // HybridCompute registering is a warning: exit 0 by default, 1 with --fail-on warning.
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    mock.providers(SUB, &[("Microsoft.HybridCompute", "Registering")])
        .await;
    assert_eq!(run_against(&mock, &["check"]).await.status.code(), Some(0));
    let strict = run_against(&mock, &["check", "--fail-on", "warning"]).await;
    assert_eq!(strict.status.code(), Some(1));

    // Providers unreadable: inconclusive → 1, unless allowed.
    let forbidden = ArmMock::start().await;
    forbidden.enabled_with_owner(SUB).await;
    forbidden.providers_forbidden(SUB).await;
    assert_eq!(
        run_against(&forbidden, &["check"]).await.status.code(),
        Some(1)
    );
    let lenient = run_against(&forbidden, &["check", "--allow-inconclusive"]).await;
    assert_eq!(lenient.status.code(), Some(0));
}

#[tokio::test]
async fn config_file_overrides_severities_and_refuses_typos() {
    let mock = sql_unregistered().await;
    let dir = tempfile::tempdir().unwrap();
    let lenient = dir.path().join("lenient.toml");
    std::fs::write(&lenient, "[severity]\nESU101 = \"warning\"\n").unwrap();
    let output = run_against(
        &mock,
        &[
            "check",
            "--format",
            "json",
            "--config",
            lenient.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sql = failing(&report, "ESU101");
    assert_eq!(sql["severity"], "warning");

    let unknown_id = dir.path().join("typo.toml");
    std::fs::write(&unknown_id, "[severity]\nESU991 = \"info\"\n").unwrap();
    let bad_value = dir.path().join("bad.toml");
    std::fs::write(&bad_value, "[severity]\nESU101 = \"fatal\"\n").unwrap();
    let unknown_key = dir.path().join("key.toml");
    std::fs::write(&unknown_key, "[severty]\nESU101 = \"info\"\n").unwrap();
    for (file, needle) in [
        (&unknown_id, "ESU991"),
        (&bad_value, "fatal"),
        (&unknown_key, "severty"),
    ] {
        let path = file.to_str().unwrap();
        let output = run(&["check", "--snapshot", "/dev/null", "--config", path], &[]).await;
        assert_eq!(output.status.code(), Some(2));
        let err = stderr(&output);
        assert!(err.contains(path) && err.contains(needle), "{err}");
    }
}

#[tokio::test]
async fn output_file_receives_the_report() {
    let mock = sql_unregistered().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let output = run_against(
        &mock,
        &[
            "check",
            "--format",
            "json",
            "--output-file",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output)
            .contains("8 passed, 1 failed, 0 inconclusive, 0 skipped; report written to"),
        "{}",
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(report["schema_version"], 1);
}

#[tokio::test]
async fn fix_providers_dry_run_changes_nothing() {
    let mock = sql_unregistered().await;
    let output = run_against(&mock, &["fix", "providers"]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("would register: Microsoft.Sql"), "{text}");
    assert!(
        text.contains(&format!(
            "az provider register --namespace Microsoft.Sql --subscription {SUB}"
        )),
        "{text}"
    );
    assert!(
        mock.received()
            .await
            .iter()
            .all(|r| r.method.as_str() == "GET")
    );
}

#[tokio::test]
async fn fix_providers_yes_wait_registers_and_polls_until_registered() {
    let mock = sql_unregistered().await;
    let register = format!("/subscriptions/{SUB}/providers/Microsoft.Sql/register");
    mock.mount(
        mock.route("POST", &register)
            .respond_with(mock.json(200, provider_json(SUB, "Microsoft.Sql", "Registering"))),
    )
    .await;
    let provider = format!("/subscriptions/{SUB}/providers/Microsoft.Sql");
    mock.mount(
        mock.route("GET", &provider)
            .respond_with(mock.json(200, provider_json(SUB, "Microsoft.Sql", "Registering")))
            .up_to_n_times(2)
            .with_priority(1),
    )
    .await;
    mock.mount(
        mock.route("GET", &provider)
            .respond_with(mock.json(200, provider_json(SUB, "Microsoft.Sql", "Registered")))
            .with_priority(2),
    )
    .await;

    let output = run_against(
        &mock,
        &[
            "fix",
            "providers",
            "--yes",
            "--wait",
            "--poll-interval",
            "0.05",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(stdout(&output).contains("all required providers are registered"));
    // Progress is reported when a state changes, not at every poll.
    let progress: Vec<_> = stderr(&output)
        .lines()
        .filter(|l| l.starts_with("waiting:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        progress,
        [
            "waiting: Microsoft.Sql is Registering",
            "waiting: Microsoft.Sql is Registered"
        ]
    );
    let requests = mock.received().await;
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "exactly one registration");
    assert_eq!(posts[0].url.path(), register);
    assert!(
        posts[0]
            .url
            .query()
            .unwrap()
            .contains(&format!("api-version={PROVIDERS_API}"))
    );
    let polls = requests.iter().filter(|r| r.url.path() == provider).count();
    assert_eq!(polls, 3, "Registering, Registering, Registered");
}

#[tokio::test]
async fn fix_providers_refuses_without_register_permission() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(SUB, permissions_reader()).await;
    Mock::given(method("POST"))
        .and(path_regex(".*"))
        .respond_with(ResponseTemplate::new(200))
        .mount(mock.server())
        .await;
    let output = run_against(&mock, &["fix", "providers", "--yes"]).await;
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("refusing Microsoft.Sql"), "{text}");
    assert!(text.contains("Microsoft.Sql/register/action"), "{text}");
    assert!(
        mock.received()
            .await
            .iter()
            .all(|r| r.method.as_str() == "GET")
    );
}

/// Arguments, environment, and what stderr must contain.
type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], Vec<&'a str>);

#[tokio::test]
async fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let invalid = dir.path().join("invalid.json");
    std::fs::write(&invalid, "{\n  \"snapshot_version\": 1,\n  nope\n}\n").unwrap();
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, r#"{"snapshot_version": 999}"#).unwrap();
    let missing = dir.path().join("missing.json");
    let (invalid, newer, missing) = (
        invalid.to_str().unwrap(),
        newer.to_str().unwrap(),
        missing.to_str().unwrap(),
    );
    // Nothing listens on port 1 of loopback: the connection is refused at once. (A port
    // freed by dropping a listener could be taken by another test's mock meanwhile.)
    let closed_port = "http://127.0.0.1:1";
    let invalid_at = format!("{invalid}:3:");
    let token = [("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN)];
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["check", "--subscription", "not-a-guid"],
            &[],
            vec!["--subscription", "not-a-guid"],
        ),
        (vec!["check"], &[], vec!["--subscription"]),
        (vec!["check", "--snapshot", missing], &[], vec![missing]),
        (
            vec!["check", "--snapshot", invalid],
            &[],
            vec![invalid_at.as_str()],
        ),
        (
            vec!["check", "--snapshot", newer],
            &[],
            vec!["999", "upgrade"],
        ),
        (
            vec![
                "check",
                "--subscription",
                SUB,
                "--arm-endpoint",
                "http://management.example.com",
                "--credential",
                "access-token",
            ],
            &token,
            vec!["loopback"],
        ),
        (
            vec![
                "check",
                "--subscription",
                SUB,
                "--arm-endpoint",
                closed_port,
                "--credential",
                "access-token",
                "--timeout",
                "20",
            ],
            &token,
            vec![closed_port],
        ),
        (
            vec![
                "check",
                "--subscription",
                SUB,
                "--credential",
                "environment",
            ],
            &[],
            vec!["AZURE_CLIENT_SECRET"],
        ),
        (
            vec![
                "check",
                "--subscription",
                SUB,
                "--credential",
                "access-token",
            ],
            &[],
            vec!["ESU_PREFLIGHT_ACCESS_TOKEN"],
        ),
        (
            vec!["check", "--subscription", SUB, "--format", "yaml"],
            &[],
            vec!["--format"],
        ),
        (vec!["explain", "ESU999"], &[], vec!["ESU999"]),
    ];
    for (args, env, expected) in cases {
        let output = run(&args, env).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        for needle in expected {
            assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        }
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains(TOKEN), "{args:?}: token leaked");
    }
}

#[tokio::test]
async fn a_token_arm_rejects_is_an_authentication_failure() {
    let mock = ArmMock::start().await;
    // The mock answers 401 to any token but its own, as ARM does to an expired one.
    let output = run_against_with_token(&mock, &["check"], "expired-or-foreign-token").await;
    assert_eq!(output.status.code(), Some(2), "stdout: {}", stdout(&output));
    let err = stderr(&output);
    assert!(
        err.contains("401") && err.contains("AuthenticationFailed"),
        "{err}"
    );
    assert!(
        !err.contains("expired-or-foreign-token"),
        "token leaked: {err}"
    );
}

#[tokio::test]
async fn no_credential_works_says_which_were_tried() {
    // A clean environment: no service principal, no token file, no managed identity, no `az`
    // on the PATH.
    let output = run(
        &["check", "--subscription", SUB],
        &[("PATH", "/nonexistent")],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("azure-cli"), "{err}");
    assert!(err.contains("azure-developer-cli"), "{err}");
    assert!(err.contains("az login"), "{err}");
}

#[tokio::test]
async fn explain_list_checks_completions_version() {
    let explain = run(&["explain", "ESU101"], &[]).await;
    assert_eq!(explain.status.code(), Some(0));
    let docs = stdout(&explain);
    for heading in [
        "## What it checks",
        "## Why it matters",
        "## How to fix",
        "## Example finding",
    ] {
        assert!(docs.contains(heading), "{docs}");
    }
    let error = run(
        &[
            "explain",
            "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029)",
        ],
        &[],
    )
    .await;
    assert_eq!(error.status.code(), Some(0));
    assert!(stdout(&error).contains("pkiops"));

    let list = run(&["list-checks"], &[]).await;
    assert_eq!(list.status.code(), Some(0));
    insta::assert_snapshot!("list_checks", stdout(&list));

    let completions = run(&["completions", "bash"], &[]).await;
    assert_eq!(completions.status.code(), Some(0));
    assert!(stdout(&completions).contains("esu-preflight"));

    let version = run(&["--version"], &[]).await;
    assert_eq!(
        stdout(&version).trim(),
        concat!("esu-preflight ", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_version_1_snapshot_gives_the_same_report_as_before() {
    // The bundled example as version 1 wrote it; the example itself is version 2.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/snapshots/contoso-esu-v1.json");
    let output = run(&["check", "--snapshot", v1.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    insta::assert_snapshot!("check_table_example_snapshot", stdout(&output));
}
