//! End-to-end: the real binary writing several formats in one run (issue 9, item 1): the table
//! to standard output and SARIF, JUnit, Markdown, GitHub commands and CSV to files; and every
//! file replaced with a report of the failure on exit 2.

use esu_preflight_tests::{ArmMock, SUB, TOKEN, permissions_owner};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_esu-preflight");

/// Runs the binary in `dir` with a clean environment plus `env`.
async fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).env_clear().current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The SARIF 2.1.0 schema validator (the published schema, with its one bad regex corrected:
/// see `tests/fixtures/sarif/SOURCES.md`).
fn assert_valid_sarif(log: &Value) {
    let text = std::fs::read_to_string(repo_file("tests/fixtures/sarif/sarif-schema-2.1.0.json"))
        .unwrap()
        .replace(
            "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
            "^[a-zA-Z]{2}$|^[a-zA-Z]{2}-[a-zA-Z]{2}$",
        );
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF: {errors:#?}");
}

/// `(tests, failures, errors, skipped)` from the root of a JUnit file, checked against the
/// elements.
fn junit_counts(xml: &str) -> (usize, usize, usize, usize) {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let root = doc.root_element();
    let count = |name: &str| doc.descendants().filter(|n| n.has_tag_name(name)).count();
    let attr = |name: &str| root.attribute(name).unwrap().parse::<usize>().unwrap();
    let counts = (
        attr("tests"),
        attr("failures"),
        attr("errors"),
        attr("skipped"),
    );
    assert_eq!(
        counts,
        (
            count("testcase"),
            count("failure"),
            count("error"),
            count("skipped")
        )
    );
    counts
}

#[tokio::test]
async fn table_to_stdout_and_sarif_and_junit_to_files_at_once() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(SUB, permissions_owner()).await;
    let dir = tempfile::tempdir().unwrap();
    let uri = mock.uri();
    let output = run_in(
        dir.path(),
        &[
            "check",
            "--subscription",
            SUB,
            "--arm-endpoint",
            &uri,
            "--credential",
            "access-token",
            "--format",
            "table",
            "--format",
            "sarif=results.sarif",
            "--format",
            "junit=junit.xml",
            "--format",
            "markdown=summary.md",
            "--format",
            "github=annotations.txt",
            "--format",
            "csv=findings.csv",
        ],
        &[("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    // The table on standard output, ending in the summary.
    let table = String::from_utf8(output.stdout.clone()).unwrap();
    let summary = table.lines().last().unwrap();
    assert!(
        summary.contains(" passed, ") && summary.contains("1 error"),
        "{table}"
    );
    assert!(table.contains("Microsoft.Sql"), "{table}");
    assert!(
        stderr(&output).contains("results.sarif, junit.xml"),
        "{}",
        stderr(&output)
    );

    // SARIF: valid, the ESU101 error on Microsoft.Sql, the ARM id in logicalLocations.
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.sarif")).unwrap())
            .unwrap();
    assert_valid_sarif(&sarif);
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let sql = format!("/subscriptions/{SUB}/providers/Microsoft.Sql");
    let results = run["results"].as_array().unwrap();
    let esu101 = results
        .iter()
        .find(|r| r["ruleId"] == "ESU101")
        .expect("an ESU101 result");
    assert_eq!(esu101["level"], "error");
    assert_eq!(
        esu101["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        sql.as_str()
    );
    assert!(
        results.iter().all(|r| r["properties"]["status"] != "pass"),
        "passes are not results"
    );

    // JUnit: one test case per finding, the failure among them.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let (tests, failures, _, _) = junit_counts(&junit);
    assert!(tests > failures && failures >= 1, "{junit}");
    assert!(junit.contains(&format!("name=\"{sql}\" classname=\"ESU101\"")));

    // The other formats were written too, each about the same failure.
    let markdown = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        markdown.starts_with("## esu-preflight: failed\n"),
        "{markdown}"
    );
    let annotations = std::fs::read_to_string(dir.path().join("annotations.txt")).unwrap();
    assert!(annotations.contains("::error title=ESU101 provider-not-registered::"));
    let csv = std::fs::read_to_string(dir.path().join("findings.csv")).unwrap();
    assert!(csv.starts_with("check_id,check,status,severity,"));
    assert!(csv.contains(&format!("ESU101,provider-not-registered,fail,error,{sql},")));
}

#[tokio::test]
async fn every_file_says_the_run_failed_on_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // Stale green files from an earlier run.
    std::fs::write(dir.path().join("results.sarif"), "{}").unwrap();
    std::fs::write(dir.path().join("junit.xml"), "<testsuites/>").unwrap();
    std::fs::write(dir.path().join("report.json"), "{}").unwrap();
    let output = run_in(
        dir.path(),
        &[
            "check",
            "--snapshot",
            "missing.json",
            "--format",
            "json",
            "--output-file",
            "report.json",
            "--format",
            "sarif=results.sarif",
            "--format",
            "junit=junit.xml",
            "--format",
            "markdown=summary.md",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    assert!(output.stdout.is_empty());

    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.sarif")).unwrap())
            .unwrap();
    assert_valid_sarif(&sarif);
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notification = invocation["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(notification.contains("missing.json"), "{notification}");

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert_eq!(junit_counts(&junit), (1, 1, 0, 0));
    assert!(junit.contains("missing.json"));

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["summary"]["exit_code"], 2);
    assert!(json["error"].as_str().unwrap().contains("missing.json"));
    assert!(
        json.get("inputs").is_none(),
        "not a member of the JSON report"
    );

    let markdown = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(markdown.starts_with("## esu-preflight: could not run\n"));
}

#[tokio::test]
async fn a_usage_error_still_replaces_the_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("results.sarif"), "{}").unwrap();
    let output = run_in(
        dir.path(),
        &[
            "check",
            "--format=sarif=results.sarif",
            "--no-such-flag",
            "--format",
            "junit=junit.xml",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.sarif")).unwrap())
            .unwrap();
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("invalid command line"), "{junit}");
}

#[tokio::test]
async fn contradicting_outputs_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = repo_file("examples/snapshots/contoso-esu.json");
    let snapshot = snapshot.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["--format", "json", "--format", "markdown"],
            "only one format can go to standard output",
        ),
        (
            vec!["--format", "sarif=a.out", "--format", "junit=a.out"],
            "a.out is named twice",
        ),
        (
            vec![
                "--format",
                "json",
                "--output-file",
                "a.out",
                "--format",
                "csv=a.out",
            ],
            "a.out is named twice",
        ),
    ] {
        let mut all = vec!["check", "--snapshot", snapshot];
        all.extend(args);
        let output = run_in(dir.path(), &all, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{all:?}");
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
        assert!(output.stdout.is_empty());
    }
    assert!(!dir.path().join("a.out").exists());
}

#[tokio::test]
async fn sarif_points_at_the_license_plan_offline() {
    let root = repo_file("");
    let output = run_in(
        &root,
        &[
            "check",
            "--snapshot",
            "examples/snapshots/contoso-esu.json",
            "--license-plan",
            "./examples/plans/ws2012.toml",
            "--format",
            "sarif",
        ],
        &[],
    )
    .await;
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "stderr: {}",
        stderr(&output)
    );
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_valid_sarif(&sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for result in results {
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "examples/plans/ws2012.toml"
        );
    }
}

/// The `--format` values of a CI example, with their directories dropped (`junit="$(reports)/x"`
/// → `junit=x`).
fn example_formats(text: &str) -> Vec<String> {
    let mut formats = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--format"
            && let Some(value) = words.next()
        {
            let value = value.replace('"', "");
            let value = match value.split_once('=') {
                Some((format, path)) => {
                    format!("{format}={}", path.rsplit('/').next().unwrap_or(path))
                }
                None => value,
            };
            formats.push(value);
        }
    }
    formats
}

#[tokio::test]
async fn the_ci_examples_use_flags_that_work() {
    let snapshot = repo_file("examples/snapshots/contoso-esu.json");
    for (example, permissions) in [
        (
            "examples/ci/github-actions.yml",
            &["id-token: write", "security-events: write", "checks: write"][..],
        ),
        ("examples/ci/azure-pipelines.yml", &[][..]),
    ] {
        let text = std::fs::read_to_string(repo_file(example)).unwrap();
        assert!(text.contains("--credential azure-cli"), "{example}");
        for permission in permissions {
            assert!(text.contains(permission), "{example}: {permission}");
        }
        let formats = example_formats(&text);
        assert!(formats.len() >= 4, "{example}: {formats:?}");
        assert!(formats.iter().any(|f| f.starts_with("junit=")), "{example}");
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["check", "--snapshot", snapshot.to_str().unwrap()];
        for format in &formats {
            args.extend(["--format", format.as_str()]);
        }
        let output = run_in(dir.path(), &args, &[]).await;
        assert_eq!(
            output.status.code(),
            Some(1),
            "{example}: {}",
            stderr(&output)
        );
        for format in &formats {
            if let Some((_, file)) = format.split_once('=') {
                assert!(dir.path().join(file).is_file(), "{example}: {file}");
            }
        }
    }
}

/// A finding the configuration accepts is reported as accepted in every CI format: dismissed in
/// SARIF, skipped in JUnit, in its own Markdown section, without an annotation, with its reason
/// in CSV; and the run passes.
#[tokio::test]
async fn suppressed_findings_fail_no_ci_format() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
        .await;
    mock.permissions(SUB, permissions_owner()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("esu-preflight.toml"),
        "[[suppress]]\ncheck = \"ESU10*\"\nresource = \"*/providers/Microsoft.Sql\"\n\
         reason = \"registered by the platform team\"\nexpires = 2099-01-01\n",
    )
    .unwrap();
    let uri = mock.uri();
    let output = run_in(
        dir.path(),
        &[
            "check",
            "--subscription",
            SUB,
            "--arm-endpoint",
            &uri,
            "--credential",
            "access-token",
            "--config",
            "esu-preflight.toml",
            "--format",
            "json",
            "--format",
            "sarif=results.sarif",
            "--format",
            "junit=junit.xml",
            "--format",
            "markdown=summary.md",
            "--format",
            "github=annotations.txt",
            "--format",
            "csv=findings.csv",
        ],
        &[("ESU_PREFLIGHT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let suppressed = report["summary"]["suppressed"].as_u64().unwrap() as usize;
    assert!(suppressed >= 1, "{}", report["summary"]);
    let fail = report["summary"]["fail"].as_u64().unwrap() as usize;
    let inconclusive = report["summary"]["inconclusive"].as_u64().unwrap() as usize;
    assert_eq!(
        output.status.code(),
        Some(if fail + inconclusive == 0 { 0 } else { 1 }),
        "stderr: {}",
        stderr(&output)
    );

    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let sarif: Value = serde_json::from_str(&read("results.sarif")).unwrap();
    assert_valid_sarif(&sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let dismissed: Vec<&Value> = results
        .iter()
        .filter(|r| r["suppressions"][0]["kind"] == "external")
        .collect();
    assert_eq!(dismissed.len(), suppressed);
    assert!(
        dismissed
            .iter()
            .all(|r| r["suppressions"][0]["justification"] == "registered by the platform team")
    );

    let (_, failures, errors, skipped) = junit_counts(&read("junit.xml"));
    assert_eq!((failures, errors), (fail, inconclusive));
    assert!(skipped >= suppressed);
    assert!(read("junit.xml").contains("message=\"suppressed: registered by the platform team\""));

    let markdown = read("summary.md");
    assert!(
        markdown.contains(&format!("<summary>Suppressed ({suppressed})</summary>")),
        "{markdown}"
    );
    assert!(markdown.contains("| registered by the platform team | 2099-01-01 |"));

    let annotations = read("annotations.txt");
    assert!(
        !annotations.contains("Microsoft.Sql is not registered"),
        "{annotations}"
    );
    assert_eq!(
        annotations
            .lines()
            .filter(|l| l.starts_with("::error") || l.starts_with("::warning"))
            .count(),
        fail + inconclusive,
        "{annotations}"
    );

    let csv = read("findings.csv");
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",help_uri,suppressed")
    );
    assert_eq!(
        csv.lines()
            .filter(|l| l.ends_with(",registered by the platform team"))
            .count(),
        suppressed
    );
}
