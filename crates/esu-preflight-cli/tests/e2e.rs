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
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

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
    sql_unregistered_for_runs(1).await
}

/// [`sql_unregistered`] for a test that runs the binary `runs` times against it (the mock
/// checks that every route is read exactly once per run).
async fn sql_unregistered_for_runs(runs: u64) -> ArmMock {
    let mock = ArmMock::start().await.expect_runs(runs);
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
        assert!(
            !esu_preflight_tests::changes_azure(&request),
            "{}",
            request.url
        );
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
    // `snapshot`, then a live `check`: two runs against the mock.
    let mock = sql_unregistered_for_runs(2).await;
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
    // As of the day the expected table was written: it counts the days left before 2027-01-12.
    let output = run(
        &[
            "check",
            "--snapshot",
            sample.to_str().unwrap(),
            "--as-of",
            "2026-11-29T12:00:00Z",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    insta::assert_snapshot!("check_table_example_snapshot", stdout(&output));
}

#[tokio::test]
async fn fail_on_and_allow_inconclusive_gate_the_exit_code() {
    // HybridCompute registering is a warning: exit 0 by default, 1 with --fail-on warning.
    let mock = ArmMock::start().await.expect_runs(2);
    mock.enabled_with_owner(SUB).await;
    mock.providers(SUB, &[("Microsoft.HybridCompute", "Registering")])
        .await;
    assert_eq!(run_against(&mock, &["check"]).await.status.code(), Some(0));
    let strict = run_against(&mock, &["check", "--fail-on", "warning"]).await;
    assert_eq!(strict.status.code(), Some(1));

    // Providers unreadable: inconclusive → 1, unless allowed.
    let forbidden = ArmMock::start().await.expect_runs(2);
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
        stderr(&output).contains(
            "15 passed, 1 failed (1 error), 0 inconclusive, 2 skipped; report written to"
        ),
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
    // A dry run that would change something exits 1.
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("would register: Microsoft.Sql"), "{text}");
    assert!(
        text.contains(&format!(
            "az provider register --namespace Microsoft.Sql --subscription {SUB}"
        )),
        "{text}"
    );
    let requests = mock.received().await;
    assert!(
        requests
            .iter()
            .all(|r| !esu_preflight_tests::changes_azure(r))
    );
    // Registering providers needs no licenses, machines or policy states.
    let paths: Vec<String> = requests.iter().map(|r| r.url.path().to_owned()).collect();
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("Microsoft.HybridCompute/") && !p.contains("policyStates")),
        "{paths:#?}"
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
            "1",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(stdout(&output).contains("all required providers are registered"));
    // Progress is reported when a state changes, not at every poll.
    let progress: Vec<_> = stderr(&output)
        .lines()
        .filter(|l| l.starts_with("Microsoft.Sql:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        progress,
        ["Microsoft.Sql: Registering", "Microsoft.Sql: Registered"]
    );
    let requests = mock.received().await;
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| esu_preflight_tests::changes_azure(r))
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
            .all(|r| !esu_preflight_tests::changes_azure(r))
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
        (
            vec![
                "fix",
                "providers",
                "--subscription",
                SUB,
                "--poll-interval",
                "0.5",
            ],
            &[],
            vec!["--poll-interval", "0.5"],
        ),
        (
            vec!["check", "--snapshot", missing, "--subscription", SUB],
            &[],
            vec!["--snapshot", "--subscription"],
        ),
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

/// A second subscription id, for runs over two.
const SUB2: &str = "7c1e9a52-3f0d-4b8e-9a41-0d6f2c8b5e13";

/// Runs the binary with a clean environment plus `env`, feeding `input` on standard input.
async fn run_with_stdin(args: &[&str], env: &[(&str, &str)], input: &Path) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::from(std::fs::File::open(input).unwrap()));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("the binary runs")
}

fn example_snapshot() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/snapshots/contoso-esu.json")
}

/// Any POST is answered 200, so that a test can count the POSTs that should not be there.
async fn accept_any_post(mock: &ArmMock) {
    Mock::given(method("POST"))
        .and(path_regex(".*"))
        .respond_with(ResponseTemplate::new(200))
        .mount(mock.server())
        .await;
}

fn posts(requests: &[esu_preflight_tests::wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| esu_preflight_tests::changes_azure(r))
        .map(|r| r.url.path().to_owned())
        .collect()
}

#[tokio::test]
async fn fix_providers_skips_an_unusable_subscription_without_posting() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Disabled").await;
    mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(SUB, permissions_owner()).await;
    accept_any_post(&mock).await;
    let output = run_against(&mock, &["fix", "providers", "--yes", "--wait"]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("{SUB}: skipped: ")) && text.contains("ESU001"),
        "{text}"
    );
    assert!(!text.contains("registering"), "{text}");
    assert_eq!(posts(&mock.received().await), Vec::<String>::new());
}

#[tokio::test]
async fn fix_providers_reports_each_failed_registration_and_sends_the_others() {
    let mock = ArmMock::start().await;
    mock.enabled_with_owner(SUB).await;
    mock.providers(
        SUB,
        &[
            ("Microsoft.Sql", "NotRegistered"),
            ("Microsoft.Storage", "NotRegistered"),
            ("Microsoft.HybridCompute", "Registering"),
        ],
    )
    .await;
    let register = |ns: &str| format!("/subscriptions/{SUB}/providers/{ns}/register");
    // Sql is refused (409 is not retried); the others are accepted.
    mock.mount(
        mock.route("POST", &register("Microsoft.Sql"))
            .respond_with(mock.json(
                409,
                esu_preflight_tests::arm_error("ProviderRegistrationConflict", "try again later"),
            )),
    )
    .await;
    for ns in ["Microsoft.Storage", "Microsoft.HybridCompute"] {
        mock.mount(
            mock.route("POST", &register(ns))
                .respond_with(mock.json(200, provider_json(SUB, ns, "Registering"))),
        )
        .await;
    }
    let output = run_against(&mock, &["fix", "providers", "--yes"]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("{SUB}: Microsoft.Sql: registration failed"))
            && text.contains("ProviderRegistrationConflict"),
        "{text}"
    );
    for ns in ["Microsoft.Storage", "Microsoft.HybridCompute"] {
        assert!(
            text.contains(&format!(
                "{SUB}: {ns}: registration requested (Registering)"
            )),
            "{text}"
        );
    }
    // A provider already Registering is sent `register` again, as `az provider register` does.
    let mut sent = posts(&mock.received().await);
    sent.sort();
    let mut expected = [
        register("Microsoft.HybridCompute"),
        register("Microsoft.Sql"),
        register("Microsoft.Storage"),
    ];
    expected.sort();
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn fix_providers_wait_ends_at_the_overall_timeout() {
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
            .respond_with(mock.json(200, provider_json(SUB, "Microsoft.Sql", "Registering"))),
    )
    .await;
    let started = Instant::now();
    // --wait-timeout is 600 s by default: only --timeout can end this run early.
    let output = run_against(
        &mock,
        &[
            "fix",
            "providers",
            "--yes",
            "--wait",
            "--timeout",
            "5",
            "--poll-interval",
            "1",
        ],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "{SUB}: still registering when the wait ended (--timeout"
        )) && text.contains(&format!(
            "az provider show --namespace Microsoft.Sql --subscription {SUB} --query \
             registrationState"
        )),
        "{text}"
    );
    // Generous for a loaded machine, yet far below --wait-timeout.
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    let polls = mock
        .received()
        .await
        .iter()
        .filter(|r| r.url.path() == provider)
        .count();
    assert!(polls >= 2, "it did wait: {polls} polls");
}

#[tokio::test]
async fn check_snapshot_refuses_connection_flags_and_ignores_their_environment() {
    let sample = example_snapshot();
    let sample = sample.to_str().unwrap();
    for (flag, value) in [
        ("--subscription", SUB),
        ("--arm-endpoint", "http://127.0.0.1:9"),
        ("--credential", "azure-cli"),
        ("--cloud", "AzureCloud"),
        ("--timeout", "10"),
    ] {
        let output = run(&["check", "--snapshot", sample, flag, value], &[]).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.starts_with("error: --snapshot") && err.contains(flag),
            "{flag}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    }

    let plain = run(&["check", "--snapshot", sample, "--format", "json"], &[]).await;
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    // The environment of a CI job set up for live runs does not get in the way.
    let with_env = run(
        &["check", "--snapshot", sample, "--format", "json"],
        &[
            ("AZURE_SUBSCRIPTION_ID", "not-a-guid"),
            (
                "ESU_PREFLIGHT_ARM_ENDPOINT",
                "http://management.example.com",
            ),
        ],
    )
    .await;
    assert_eq!(with_env.status.code(), Some(1), "{}", stderr(&with_env));
    assert_eq!(stdout(&with_env), stdout(&plain));
    // `--snapshot -` reads standard input.
    let piped = run_with_stdin(
        &["check", "--snapshot", "-", "--format", "json"],
        &[],
        Path::new(sample),
    )
    .await;
    assert_eq!(piped.status.code(), Some(1), "{}", stderr(&piped));
    assert_eq!(stdout(&piped), stdout(&plain));
}

#[tokio::test]
async fn azure_subscription_id_may_list_ids_with_spaces() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    mock.healthy(SUB2).await;
    let uri = mock.uri();
    let ids = format!("{SUB}, {SUB2}");
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
            ("AZURE_SUBSCRIPTION_ID", &ids),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["scope"]["subscriptions"],
        serde_json::json!([SUB, SUB2])
    );

    // A bad id there is named as coming from the variable.
    let output = run(
        &["check", "--credential", "access-token"],
        &[
            ("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN),
            ("AZURE_SUBSCRIPTION_ID", "nope"),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("error: AZURE_SUBSCRIPTION_ID: \"nope\""),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_failed_check_still_replaces_the_output_file() {
    // ARM rejects the token: an authentication failure, exit 2.
    let mock = ArmMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("report.json");
    let table_file = dir.path().join("report.txt");
    let stale = r#"{"schema_version":1,"summary":{"exit_code":0},"findings":[]}"#;
    std::fs::write(&json_file, stale).unwrap();
    std::fs::write(&table_file, "0 passed, 0 failed\n").unwrap();

    let wrong = "wrong-token-8d2f";
    let output = run_against_with_token(
        &mock,
        &[
            "check",
            "--format",
            "json",
            "--output-file",
            json_file.to_str().unwrap(),
        ],
        wrong,
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{err}"
    );
    let text = std::fs::read_to_string(&json_file).unwrap();
    assert!(
        !text.contains(wrong) && !text.contains(TOKEN),
        "token leaked"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["summary"]["exit_code"], 2);
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["scope"]["subscriptions"], serde_json::json!([SUB]));
    let error = report["error"].as_str().expect("an error member");
    assert!(error.contains("401"), "{error}");

    let output = run_against_with_token(
        &mock,
        &["check", "--output-file", table_file.to_str().unwrap()],
        wrong,
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let table = std::fs::read_to_string(&table_file).unwrap();
    assert!(
        table.starts_with("run failed: ") && table.contains("401"),
        "{table}"
    );

    // A usage error is an exit 2 too.
    let output = run(
        &[
            "-v",
            "check",
            "--format=json",
            "--output-file",
            json_file.to_str().unwrap(),
            "--fail-on",
            "fatal",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!(report["summary"]["exit_code"], 2);
    let error = report["error"].as_str().expect("an error member");
    assert!(
        error.contains("--fail-on") && error.contains("fatal"),
        "{error}"
    );

    // Nothing else is left in the directory (no temporary files).
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["report.json", "report.txt"]);
}

#[tokio::test]
async fn a_failed_snapshot_leaves_no_stale_file() {
    let mock = ArmMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    std::fs::write(&file, r#"{"snapshot_version": 1, "subscriptions": []}"#).unwrap();
    let output = run_against_with_token(
        &mock,
        &["snapshot", "--output-file", file.to_str().unwrap()],
        "wrong-token-8d2f",
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("removed the older"),
        "{}",
        stderr(&output)
    );
    assert!(!file.exists(), "the stale snapshot was left in place");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn verbose_shows_the_connection_on_stderr_and_never_the_token() {
    let mock = ArmMock::start().await.expect_runs(3);
    mock.healthy(SUB).await;
    let plain = run_against(&mock, &["check", "--format", "json"]).await;
    assert!(!stderr(&plain).contains("DEBUG"), "{}", stderr(&plain));
    let verbose = run_against(&mock, &["-v", "check", "--format", "json"]).await;
    assert_eq!(verbose.status.code(), Some(0), "{}", stderr(&verbose));
    assert_eq!(stdout(&verbose), stdout(&plain), "logs never go to stdout");
    let err = stderr(&verbose);
    assert!(err.contains("credential=access-token"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI when not a terminal: {err}"
    );
    assert!(!err.contains(TOKEN), "token leaked: {err}");

    // RUST_LOG decides when set, even at its most talkative.
    let uri = mock.uri();
    let traced = run(
        &[
            "check",
            "--subscription",
            SUB,
            "--arm-endpoint",
            &uri,
            "--credential",
            "access-token",
        ],
        &[("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN), ("RUST_LOG", "trace")],
    )
    .await;
    assert_eq!(traced.status.code(), Some(0), "{}", stderr(&traced));
    assert!(stderr(&traced).contains("TRACE") || stderr(&traced).contains("DEBUG"));
    assert!(!stderr(&traced).contains(TOKEN), "token leaked");

    let both = run(&["-v", "--quiet", "list-checks"], &[]).await;
    assert_eq!(both.status.code(), Some(2));
}

/// Completes `words` (the last one being completed) with the bash script the binary prints.
#[cfg(unix)]
fn bash_complete(script: &Path, lines: &[&[&str]]) -> Vec<String> {
    let mut program = format!(
        "source {}\nfn=$(complete -p esu-preflight | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\
         complete_words() {{ COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); \
         \"$fn\" esu-preflight \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         echo \"${{COMPREPLY[*]}}\"; }}\n",
        script.display()
    );
    for words in lines {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        program.push_str(&format!("complete_words {}\n", quoted.join(" ")));
    }
    let output = std::process::Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(&program)
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(str::to_owned).collect()
}

#[cfg(unix)]
#[tokio::test]
async fn bash_completion_completes_subcommand_options_and_values() {
    let generated = run(&["completions", "bash"], &[]).await;
    assert_eq!(generated.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("esu-preflight.bash");
    std::fs::write(&script, &generated.stdout).unwrap();
    let answers = bash_complete(
        &script,
        &[
            &["esu-preflight", "check", "--cre"],
            &["esu-preflight", "check", "--credential", ""],
            &["esu-preflight", "fix", "providers", "--ye"],
            &["esu-preflight", "check", "--format", ""],
            &["esu-preflight", "snapshot", "--cloud", "AzureU"],
            &["esu-preflight", "check", "--fail-on", "w"],
            &["esu-preflight", "check", "--program", ""],
        ],
    );
    assert_eq!(
        answers,
        [
            "--credential",
            "auto environment workload-identity azure-pipelines managed-identity azure-cli \
             access-token",
            "--yes",
            "table json sarif junit markdown github csv",
            "AzureUSGovernment",
            "warning",
            "ws2012 ws2016 ws2008 all",
        ]
    );
}

#[tokio::test]
async fn every_shell_offers_the_fixed_values() {
    // Static scripts carry the values.
    for shell in ["bash", "zsh", "fish"] {
        let output = run(&["completions", shell], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = stdout(&output);
        for value in [
            "workload-identity",
            "AzureUSGovernment",
            "warning",
            "json",
            "ws2016",
        ] {
            assert!(script.contains(value), "{shell} does not offer {value}");
        }
    }
    // PowerShell and Elvish scripts ask the binary, as their shell would.
    for shell in ["powershell", "elvish"] {
        let output = run(&["completions", shell], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(
            stdout(&output).contains("ESU_PREFLIGHT_COMPLETE"),
            "{shell}"
        );
    }
    let words = ["esu-preflight", "check", "--credential", ""];
    let index = (words.len() - 1).to_string();
    for shell in ["powershell", "elvish"] {
        let mut args = vec!["--"];
        args.extend(words);
        let output = run(
            &args,
            &[
                ("ESU_PREFLIGHT_COMPLETE", shell),
                ("_CLAP_COMPLETE_INDEX", &index),
                ("_CLAP_IFS", "\n"),
            ],
        )
        .await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{shell}: {}",
            stderr(&output)
        );
        let offered: Vec<String> = stdout(&output)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect();
        assert!(
            offered.iter().any(|v| v == "azure-cli") && offered.iter().any(|v| v == "auto"),
            "{shell}: {offered:?}"
        );
    }
}

#[tokio::test]
async fn a_version_1_snapshot_gives_the_same_report_as_before() {
    // A file as version 1 wrote it (the bundled example of that time), and the same facts
    // written as version 2: the reports are the same, table and JSON.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/snapshots/contoso-esu-v1.json");
    let text = std::fs::read_to_string(&v1).unwrap();
    assert!(text.contains("\"snapshot_version\": 1,"));
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("contoso-esu-v2.json");
    std::fs::write(
        &v2,
        text.replace("\"snapshot_version\": 1,", "\"snapshot_version\": 2,"),
    )
    .unwrap();
    for format in ["table", "json"] {
        let old = run(
            &[
                "check",
                "--snapshot",
                v1.to_str().unwrap(),
                "--format",
                format,
            ],
            &[],
        )
        .await;
        let new = run(
            &[
                "check",
                "--snapshot",
                v2.to_str().unwrap(),
                "--format",
                format,
            ],
            &[],
        )
        .await;
        assert_eq!(old.status.code(), Some(1), "stderr: {}", stderr(&old));
        assert_eq!(old.status.code(), new.status.code());
        assert_eq!(stdout(&old), stdout(&new), "{format}");
    }
    // What version 1 could not hold (licenses, machines) is inconclusive, never a pass.
    let json = run(
        &[
            "check",
            "--snapshot",
            v1.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let report: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let esu505: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check_id"] == "ESU505")
        .collect();
    assert!(!esu505.is_empty());
    assert!(
        esu505.iter().all(|f| f["status"] == "inconclusive"),
        "{esu505:#?}"
    );
}

/// The example snapshot's first subscription with two ESU licenses (WS2012 R2 and WS2016) and
/// three Arc machines (WS2012 R2, WS2016, WS2019), written to `dir`.
fn snapshot_with_licenses_and_machines(dir: &Path) -> std::path::PathBuf {
    let mut snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(example_snapshot()).unwrap()).unwrap();
    let sub = snapshot["subscriptions"][0]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    snapshot["scope"]["subscriptions"] = serde_json::json!([sub]);
    snapshot["subscriptions"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    let license = |name: &str, target: &str| {
        serde_json::json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/rg-esu/providers/Microsoft.HybridCompute/licenses/{name}"),
            "name": name,
            "type": "Microsoft.HybridCompute/licenses",
            "location": "eastus",
            "properties": {
                "provisioningState": "Succeeded",
                "licenseType": "ESU",
                "licenseDetails": {
                    "state": "Activated", "target": target, "edition": "Datacenter",
                    "type": "pCore", "processors": 16, "assignedLicenses": 0,
                    "immutableId": format!("imm-{name}")
                }
            }
        })
    };
    let machine = |name: &str, os: &str, version: &str| {
        serde_json::json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{name}"),
            "name": name,
            "type": "Microsoft.HybridCompute/machines",
            "location": "eastus",
            "properties": {
                "status": "Connected", "lastStatusChange": "2026-11-29T08:00:00Z",
                "agentVersion": "1.62.03110.1900", "osType": "windows",
                "osName": os, "osSku": os, "osVersion": version,
                "detectedProperties": { "coreCount": "16", "logicalCoreCount": "16" }
            }
        })
    };
    let s = &mut snapshot["subscriptions"][0];
    s["licenses"] = serde_json::json!({ "status": "available", "value": [
        license("esu-12", "Windows Server 2012 R2"),
        license("esu-16", "Windows Server 2016"),
    ]});
    s["machines"] = serde_json::json!({ "status": "available", "value": [
        machine("srv-12", "Windows Server 2012 R2 Datacenter", "6.3.9600.20778"),
        machine("srv-16", "Windows Server 2016 Datacenter", "10.0.14393.7000"),
        machine("srv-19", "Windows Server 2019 Datacenter", "10.0.17763.6000"),
    ]});
    snapshot["snapshot_version"] = serde_json::json!(2);
    let path = dir.join("estate.json");
    std::fs::write(&path, serde_json::to_string_pretty(&snapshot).unwrap()).unwrap();
    path
}

/// The `program` of every finding of a JSON report.
fn programs_of(report: &Value) -> Vec<Option<String>> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["program"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn program_restricts_an_offline_run() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot_with_licenses_and_machines(dir.path());
    let snapshot = snapshot.to_str().unwrap();
    let report = |output: &Output| -> Value {
        assert_ne!(output.status.code(), Some(2), "stderr: {}", stderr(output));
        serde_json::from_str(&stdout(output)).unwrap()
    };
    let all = report(&run(&["check", "--snapshot", snapshot, "--format", "json"], &[]).await);
    for (program, other) in [("ws2012", "ws2016"), ("WS2016", "ws2012")] {
        let only = report(
            &run(
                &[
                    "check",
                    "--snapshot",
                    snapshot,
                    "--format",
                    "json",
                    "--program",
                    program,
                ],
                &[],
            )
            .await,
        );
        let programs = programs_of(&only);
        assert!(
            !programs.iter().flatten().any(|p| p == other),
            "--program {program} reported {other} findings: {programs:?}"
        );
        // Subscription and provider findings (ESU0xx, ESU1xx) belong to no program: they stay.
        let wide = |r: &Value| {
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| {
                    let id = f["check_id"].as_str().unwrap();
                    id.starts_with("ESU0") || id.starts_with("ESU1")
                })
                .count()
        };
        assert_eq!(wide(&only), wide(&all), "--program {program}");
    }
    // Spelled out, `all` is the default.
    let explicit = report(
        &run(
            &[
                "check",
                "--snapshot",
                snapshot,
                "--format",
                "json",
                "--program",
                "all",
            ],
            &[],
        )
        .await,
    );
    assert_eq!(explicit["findings"], all["findings"]);

    let output = run(
        &["check", "--snapshot", snapshot, "--program", "ws2019"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("ws2012, ws2016, ws2008, all"), "{err}");
}

#[tokio::test]
async fn license_plan_is_evaluated_offline_in_either_format() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot_with_licenses_and_machines(dir.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans");
    let mut reports = Vec::new();
    for plan in ["ws2012.toml", "ws2012.json", "ws2016.toml"] {
        let plan = examples.join(plan);
        let output = run(
            &[
                "check",
                "--snapshot",
                snapshot.to_str().unwrap(),
                "--license-plan",
                plan.to_str().unwrap(),
                "--format",
                "json",
            ],
            &[],
        )
        .await;
        assert_ne!(
            output.status.code(),
            Some(2),
            "{}: {}",
            plan.display(),
            stderr(&output)
        );
        let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
        reports.push(report["findings"].clone());
    }
    assert_eq!(
        reports[0], reports[1],
        "the TOML and JSON plans are the same plan"
    );
}

#[tokio::test]
async fn a_bad_license_plan_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot_with_licenses_and_machines(dir.path());
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans/ws2012.toml"),
    )
    .unwrap();
    let cases = [
        (
            "zero.toml",
            good.replace("processors = 16", "processors = 0"),
            ":13:14: license[0].processors: expected a whole number of cores, 1 or more",
        ),
        (
            "typo.toml",
            good.replace("processors = 16", "procesors = 16"),
            ":13:1: license[0].procesors: unknown field \"procesors\"",
        ),
        (
            "target.toml",
            good.replace("\"Windows Server 2012 R2\"", "\"Windows Server 2019\""),
            ":10:10: license[0].target: expected one of \"Windows Server 2012\"",
        ),
        (
            "machine.toml",
            good.replace("machines/srv-01", "virtualMachines/srv-01"),
            ":16:3: license[0].machines[0]: expected an Arc machine id",
        ),
        (
            "type.json",
            r#"{"license": [{"name": "l", "resource_group": "rg", "location": "eastus",
  "target": "Windows Server 2016", "edition": "Standard", "type": "vCPU", "processors": 8}]}"#
                .to_owned(),
            ":2:67: license[0].type: expected one of \"pCore\" or \"vCore\", found \"vCPU\"",
        ),
        ("syntax.toml", "[[license]\nname = 1\n".to_owned(), ":1:"),
    ];
    for (name, text, expected) in cases {
        let plan = dir.path().join(name);
        std::fs::write(&plan, text).unwrap();
        let plan = plan.to_str().unwrap();
        let report_file = dir.path().join(format!("{name}.report.json"));
        let output = run(
            &[
                "check",
                "--snapshot",
                snapshot.to_str().unwrap(),
                "--license-plan",
                plan,
                "--format",
                "json",
                "--output-file",
                report_file.to_str().unwrap(),
            ],
            &[],
        )
        .await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{name}: {err}");
        let expected = format!("{plan}{expected}");
        assert!(err.contains(&expected), "{name}: {expected:?} not in {err}");
        assert!(!err.contains("panicked") && !err.contains("u32"), "{err}");
        // The report file says why too.
        let report = std::fs::read_to_string(&report_file).unwrap();
        assert!(report.contains(name), "{report}");
    }
    // A missing plan file is named.
    let missing = dir.path().join("missing.toml");
    let output = run(
        &[
            "check",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--license-plan",
            missing.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("missing.toml"), "{err}");
    // The cause is said once, not once by the error and again by its source.
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

/// Issue 6's "done when", with the real binary against the mock: each troubled license and
/// machine fails the check meant for it, and the machines in free environments or outside every
/// program are not failed.
#[tokio::test]
async fn licenses_and_machines_fail_exactly_where_they_should() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let (licenses, machines) = esu_preflight_tests::troubled_estate(SUB);
    mock.hybrid_compute(SUB, licenses, machines).await;
    let output = run_against(&mock, &["check", "--format", "json"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let failing = |check: &str| -> Vec<String> {
        let mut names: Vec<String> = findings
            .iter()
            .filter(|f| f["check_id"] == check && f["status"] == "fail")
            .map(|f| {
                f["resource_id"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(failing("ESU401"), ["esu-2016-p12", "esu-p8", "esu-v4"]);
    assert_eq!(failing("ESU402"), ["esu-off"]);
    assert_eq!(failing("ESU403"), ["esu-2012"]);
    assert_eq!(failing("ESU501"), ["srv-disc"]);
    assert_eq!(failing("ESU502"), ["srv-2016", "srv-old"]);
    let on = |check: &str, name: &str| {
        findings
            .iter()
            .find(|f| f["check_id"] == check && f["resource_id"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no {check} finding on {name}"))
    };
    assert!(
        on("ESU502", "/srv-2016")["message"]
            .as_str()
            .unwrap()
            .contains("1.62")
    );
    assert_eq!(on("ESU502", "/srv-2016")["program"], "ws2016");
    assert!(
        on("ESU501", "/srv-disc")["message"]
            .as_str()
            .unwrap()
            .contains("days")
    );
    // Unlinked eligible WS2016 machine: days left before 2027-01-12 (the run's real clock).
    let unlinked = on("ESU505", "/srv-2016");
    assert_eq!(unlinked["status"], "fail");
    let text = unlinked["message"].as_str().unwrap().to_owned()
        + unlinked["remediation"].as_str().unwrap();
    assert!(
        text.contains("2027-01-12") || text.contains("2027-01-13"),
        "{text}"
    );
    // Not failed: free environments, and Windows Server 2019 outside every program.
    for name in ["srv-azure", "srv-hci", "srv-avs", "srv-2019"] {
        let failed: Vec<&Value> = findings
            .iter()
            .filter(|f| {
                f["resource_id"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{name}"))
                    && f["status"] == "fail"
                    && f["severity"] != "info"
            })
            .collect();
        assert!(failed.is_empty(), "{name} failed: {failed:#?}");
    }
    assert!(findings.iter().any(
        |f| f["resource_id"].as_str().unwrap().ends_with("/srv-2019") && f["status"] == "skipped"
    ));
}

/// A subscription whose licenses and machines are all in order exits 0.
#[tokio::test]
async fn a_healthy_estate_passes_with_exit_0() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let license = esu_preflight_tests::license_json(
        SUB,
        "esu-ws2012r2-vcore",
        "Windows Server 2012 R2",
        "Standard",
        "vCore",
        16,
    );
    let mut machines = Vec::new();
    for name in ["srv-01", "srv-02"] {
        let mut machine = esu_preflight_tests::machine_json(
            SUB,
            name,
            "Windows Server 2012 R2 Standard",
            "6.3.9600.20778",
            "1.45.02801.1937",
            8,
        );
        esu_preflight_tests::link(&mut machine, &license);
        machines.push(machine);
    }
    mock.hybrid_compute(SUB, vec![license], machines).await;
    let output = run_against(&mock, &["check", "--format", "json"]).await;
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let bad: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["status"] == "fail" && f["severity"] != "info" || f["status"] == "inconclusive"
        })
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// `snapshot --license-plan` reads the plan's resource group and asks the service's dry run
/// (round 2, after the permissions): `check --snapshot … --license-plan` then judges the plan
/// offline with those facts.
#[tokio::test]
async fn a_snapshot_taken_with_a_plan_carries_its_resource_groups_and_dry_runs() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let rg_path = format!("/subscriptions/{SUB}/resourceGroups/rg-esu");
    let mut group = esu_preflight_tests::fixture_body("resources/CreateResourceGroup.json");
    group["id"] = serde_json::json!(rg_path);
    group["name"] = serde_json::json!("rg-esu");
    mock.mount(
        mock.route("GET", &rg_path)
            .respond_with(mock.json(200, group))
            .expect(1),
    )
    .await;
    mock.mount(
        mock.route(
            "GET",
            &format!("{rg_path}/providers/Microsoft.Authorization/permissions"),
        )
        .respond_with(mock.json(200, esu_preflight_tests::permissions_owner()))
        .expect(1),
    )
    .await;
    mock.mount(mock.validate_license_accepts(SUB).expect(1))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[[license]]\nname = \"esu-ws2016-std\"\nresource_group = \"rg-esu\"\nlocation = \"eastus\"\n\
         target = \"Windows Server 2016\"\nedition = \"Standard\"\ntype = \"vCore\"\nprocessors = 16\n",
    )
    .unwrap();
    let file = dir.path().join("snapshot.json");
    let output = run_against(
        &mock,
        &[
            "snapshot",
            "--license-plan",
            plan.to_str().unwrap(),
            "--output-file",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let snapshot: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let sub = &snapshot["subscriptions"][0];
    assert_eq!(sub["resource_groups"][0]["name"], "rg-esu");
    assert_eq!(
        sub["license_validations"][0]["outcome"]["result"],
        "accepted"
    );
    // The one POST sent is the dry run, which only reads.
    let posts: Vec<String> = mock
        .received()
        .await
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/validateLicense"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0].contains("\"target\":\"Windows Server 2016\""),
        "{}",
        posts[0]
    );

    let output = run(
        &[
            "check",
            "--snapshot",
            file.to_str().unwrap(),
            "--license-plan",
            plan.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for check in ["ESU002", "ESU407"] {
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check_id"] == check)
            .unwrap_or_else(|| panic!("no {check} finding"));
        assert_eq!(finding["status"], "pass", "{finding:#}");
    }
}

/// The spec's example key list, moved into the test subscription (both keys expired in 2020).
fn expired_mak_keys() -> Value {
    let mut body = esu_preflight_tests::fixture_body("windowsesu/ListMultipleActivationKeys.json");
    for key in body["value"].as_array_mut().unwrap() {
        let id = key["id"]
            .as_str()
            .unwrap()
            .replace("fd3c3665-1729-4b7b-9a38-238e83b0f98b", SUB);
        key["id"] = Value::String(id);
    }
    body
}

#[tokio::test]
async fn an_expired_mak_key_is_named_by_esu702_and_never_printed() {
    let mock = ArmMock::start().await.expect_runs(2);
    mock.healthy(SUB).await;
    mock.mak_keys(SUB, 200, expired_mak_keys()).await;
    let output = run_against(&mock, &["check", "--format", "json"]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(
        !text.contains("aaaaa-bbbbb"),
        "the product key leaked: {text}"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    let esu702: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check_id"] == "ESU702")
        .collect();
    let expired = esu702
        .iter()
        .find(|f| {
            f["resource_id"]
                .as_str()
                .unwrap()
                .ends_with("/server08-key-2019")
        })
        .expect("ESU702 names the key");
    assert_eq!(expired["status"], "fail");
    assert!(
        expired["message"]
            .as_str()
            .unwrap()
            .contains("the MAK key server08-key-2019 (WindowsServer2008) expired on 2020-11-21"),
        "{expired:#}"
    );
    let esu701 = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == "ESU701")
        .unwrap();
    assert_eq!(esu701["status"], "pass", "{esu701:#}");

    // The table shows it too, the key name whole.
    let table = stdout(&run_against(&mock, &["check"]).await);
    assert!(table.contains("server08-key-2019"), "{table}");
    assert!(!table.contains("aaaaa-bbbbb"), "{table}");
}

#[tokio::test]
async fn program_ws2008_on_a_subscription_not_approved() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    mock.mak_keys(
        SUB,
        404,
        serde_json::json!({"error": {"code": "InvalidResourceType", "message":
            "The resource type could not be found in the namespace 'Microsoft.WindowsESU' for api version '2019-09-16-preview'."}}),
    )
    .await;
    let output = run_against(&mock, &["check", "--program", "ws2008", "--format", "json"]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ESU001", "ESU701", "ESU702"], "{report:#}");
    let esu701 = &report["findings"][1];
    assert_eq!(esu701["status"], "fail");
    assert!(esu701["message"].as_str().unwrap().contains("not approved"));
    assert!(
        esu701["remediation"]
            .as_str()
            .unwrap()
            .contains("the agreement number and the number of ESU servers")
    );
    assert_eq!(report["findings"][2]["status"], "skipped");
}

/// Runs the binary in `dir` with a clean environment.
async fn run_in(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .current_dir(dir)
        .output()
        .await
        .expect("the binary runs")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

#[tokio::test]
async fn command_line_flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ci.toml");
    // Every check that fails on the example snapshot lowered to info, and the gate at info.
    std::fs::write(
        &config,
        "fail_on = \"info\"\n\n[severity]\nESU101 = \"info\"\nESU102 = \"info\"\nESU401 = \"info\"\n\
         ESU402 = \"info\"\nESU403 = \"info\"\nESU501 = \"info\"\nESU502 = \"info\"\n\
         ESU505 = \"info\"\nESU601 = \"info\"\nESU201 = \"info\"\nESU702 = \"info\"\n",
    )
    .unwrap();
    let snapshot = example_snapshot();
    let snapshot = snapshot.to_str().unwrap();
    let config = config.to_str().unwrap();
    let from_file = run(
        &[
            "check",
            "--snapshot",
            snapshot,
            "--config",
            config,
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(from_file.status.code(), Some(1), "{}", stderr(&from_file));
    let report = json_of(&from_file);
    assert_eq!(report["summary"]["failed_by_severity"]["info"], 18);
    let overridden = run(
        &[
            "check",
            "--snapshot",
            snapshot,
            "--config",
            config,
            "--format",
            "json",
            "--fail-on",
            "warning",
        ],
        &[],
    )
    .await;
    assert_eq!(overridden.status.code(), Some(0), "{}", stderr(&overridden));
}

#[tokio::test]
async fn the_config_in_the_working_directory_suppresses_and_reports_its_suppressions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("esu-preflight.toml"),
        "[[suppress]]\ncheck = \"ESU101\"\nreason = \"old entry\"\nexpires = 2020-01-01\n\n\
         [[suppress]]\ncheck = \"*\"\nreason = \"accepted for the test (TEST-1)\"\n\
         expires = 2999-12-31\n\n\
         [[suppress]]\ncheck = \"ESU001\"\nreason = \"never needed\"\n",
    )
    .unwrap();
    let snapshot = example_snapshot();
    let snapshot = snapshot.to_str().unwrap();
    let output = run_in(
        dir.path(),
        &["check", "--snapshot", snapshot, "--format", "json"],
    )
    .await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("./esu-preflight.toml"), "{err}");
    assert!(
        err.contains("warning: suppression of ESU101 expired on 2020-01-01; 3 findings"),
        "{err}"
    );
    assert!(
        err.contains("warning: suppression of ESU001 matched no failing"),
        "{err}"
    );
    let report = json_of(&output);
    assert_eq!(report["summary"]["suppressed"], 18);
    assert_eq!(report["summary"]["fail"], 0);
    let statuses: Vec<&str> = report["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["expired", "applied", "unmatched"]);
    let suppressed = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f.get("suppressed").is_some())
        .unwrap();
    assert_eq!(suppressed["status"], "fail", "the status is unchanged");
    assert_eq!(
        suppressed["suppressed"]["reason"],
        "accepted for the test (TEST-1)"
    );

    // The table marks them; --no-config ignores the file.
    let table = run_in(dir.path(), &["check", "--snapshot", snapshot]).await;
    let text = stdout(&table);
    assert!(text.contains("(suppressed)"), "{text}");
    assert!(text.contains("18 suppressed"), "{text}");
    let ignored = run_in(
        dir.path(),
        &["check", "--snapshot", snapshot, "--no-config"],
    )
    .await;
    assert_eq!(ignored.status.code(), Some(1));
}

#[tokio::test]
async fn a_config_mistake_is_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("esu-preflight.toml");
    std::fs::write(&config, "fail_on = \"error\"\n[scope]\nsubscription = []\n").unwrap();
    let snapshot = example_snapshot();
    let output = run_in(
        dir.path(),
        &["check", "--snapshot", snapshot.to_str().unwrap()],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("esu-preflight.toml:3:1: scope: unknown key \"subscription\"; valid keys: subscriptions, management_groups, resource_groups, program"),
        "{err}"
    );
}

#[tokio::test]
async fn explain_error_texts() {
    let cases: &[(&str, &[&str])] = &[
        (
            "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029)",
            &[
                "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 03 - xsign.crt\"\n",
                "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 08 - xsign.crt\"\n",
                "pkiops",
                "15 days",
            ],
        ),
        ("0x80072EE2", &["certutil -addstore CA"]),
        (
            "esu: not eligible 0x80070661",
            &["\n    Restart-Service himds\n"],
        ),
        (
            "The resource type could not be found in the namespace 'Microsoft.WindowsESU'",
            &["Agreement number"],
        ),
        (
            "Code: MissingSubscriptionRegistration namespace 'Microsoft.Sql'",
            &["\n    esu-preflight fix providers --subscription SUBSCRIPTION_ID --yes --wait\n"],
        ),
        (
            "AuthorizationFailed perform action 'Microsoft.HybridCompute/machines/licenseProfiles/write' over scope '/subscriptions/s/resourceGroups/rg'",
            &["Azure Connected Machine Resource Administrator"],
        ),
        (
            "RequestDisallowedByPolicy Policy identifiers: '[{\"policyAssignment\":{\"name\":\"Allowed locations\",\"id\":\"/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/loc\"},\"policyDefinition\":{\"name\":\"Allowed locations\",\"id\":\"/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c\"}}]'",
            &[
                "policyAssignments/loc",
                "e56962a6-4747-49cd-b67b-bf8b01975c4c",
            ],
        ),
    ];
    for (text, needles) in cases {
        let output = run(&["explain", text], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{text}: {}", stderr(&output));
        let out = stdout(&output);
        for needle in *needles {
            assert!(out.contains(needle), "{text}: {needle:?} not in\n{out}");
        }
    }
    let unknown = run(&["explain", "the printer is on fire"], &[]).await;
    assert_eq!(unknown.status.code(), Some(1));
    let err = stderr(&unknown);
    assert!(err.contains("does not recognise"), "{err}");
    assert!(err.contains("RequestDisallowedByPolicy"), "{err}");
    let list = run(&["explain", "--list"], &[]).await;
    assert_eq!(list.status.code(), Some(0));
    assert!(stdout(&list).contains("0x80072EFD"));
}

#[tokio::test]
async fn list_checks_json_is_for_scripts() {
    let output = run(&["list-checks", "--format", "json"], &[]).await;
    assert_eq!(output.status.code(), Some(0));
    let list = json_of(&output);
    let list = list.as_array().unwrap();
    assert!(list.len() >= 21);
    let esu101 = list.iter().find(|c| c["id"] == "ESU101").unwrap();
    assert_eq!(esu101["name"], "provider-not-registered");
    assert_eq!(esu101["default_severity"], "error");
    assert!(esu101["summary"].as_str().unwrap().len() > 10);
    assert!(esu101["help_uri"].as_str().unwrap().starts_with("https://"));
}

#[tokio::test]
async fn scope_comes_from_the_command_line_then_the_config_file_then_the_environment() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    mock.healthy(SUB2).await;
    let uri = mock.uri();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("esu.toml");
    std::fs::write(&config, format!("[scope]\nsubscriptions = [\"{SUB2}\"]\n")).unwrap();
    let config = config.to_str().unwrap();
    let env = [
        ("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN),
        ("AZURE_SUBSCRIPTION_ID", SUB),
    ];
    let base = [
        "check",
        "--format",
        "json",
        "--arm-endpoint",
        &uri,
        "--credential",
        "access-token",
        "--config",
        config,
    ];
    let from_file = run(&base, &env).await;
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    assert_eq!(
        json_of(&from_file)["scope"]["subscriptions"],
        serde_json::json!([SUB2]),
        "the file beats AZURE_SUBSCRIPTION_ID"
    );
    let mut args = base.to_vec();
    args.extend(["--subscription", SUB]);
    let from_flag = run(&args, &env).await;
    assert_eq!(from_flag.status.code(), Some(0), "{}", stderr(&from_flag));
    assert_eq!(
        json_of(&from_flag)["scope"]["subscriptions"],
        serde_json::json!([SUB]),
        "--subscription beats the file"
    );
}

/// The plan's `[[mak_key]]` tables reach ESU702 (a plan file holding only MAK keys is not
/// dropped): the bundled example's usable 2008 R2 key covers 100 servers, the plan asks for 120.
#[tokio::test]
async fn a_mak_plan_is_judged_against_the_keys() {
    let snapshot = example_snapshot();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans/ws2008.toml");
    for program in [None, Some("ws2008")] {
        let mut args = vec![
            "check",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--license-plan",
            plan.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend(program.iter().flat_map(|p| ["--program", *p]));
        let output = run(&args, &[]).await;
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let report = json_of(&output);
        let messages: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check_id"] == "ESU702" && f["status"] == "fail")
            .map(|f| f["message"].as_str().unwrap())
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("cover 100 servers (r2-key-2027), the plan needs 120")),
            "{program:?}: {messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("the plan needs key Agreement01")),
            "{program:?}: {messages:#?}"
        );
    }
}

#[tokio::test]
async fn as_of_moves_the_clock_and_refuses_what_is_not_a_time() {
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/snapshots/contoso-esu.json");
    let sample = sample.to_str().unwrap();
    let json = |as_of: &str| {
        vec![
            "check".to_owned(),
            "--snapshot".to_owned(),
            sample.to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
            "--as-of".to_owned(),
            as_of.to_owned(),
        ]
    };
    let message = |output: &std::process::Output| {
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["check_id"] == "ESU505"
                    && f["resource_id"].as_str().unwrap().ends_with("/srv-2016")
            })
            .map(|f| f["message"].as_str().unwrap().to_owned())
    };
    let args = json("2026-12-01");
    let before = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    let before = message(&before).expect("srv-2016 has an ESU505 finding");
    assert!(before.contains("42 days are left"), "{before}");

    let args = json("not-a-day");
    let bad = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("\"not-a-day\" is not a time"),
        "{}",
        stderr(&bad)
    );
}
