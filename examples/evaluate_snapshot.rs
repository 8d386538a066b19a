//! Embedding esu-preflight: evaluate a saved snapshot and act on the findings yourself.
//!
//! ```sh
//! cargo run -p esu-preflight-tests --example evaluate_snapshot -- examples/snapshots/contoso-esu.json
//! ```

use esu_preflight::checks::{self, Config};
use esu_preflight::{Gate, Report, Snapshot, Status};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path: PathBuf = std::env::args_os().nth(1).map_or_else(
        || "examples/snapshots/contoso-esu.json".into(),
        PathBuf::from,
    );
    let snapshot = match Snapshot::load(&path) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let config = Config::default();
    let findings = checks::evaluate(&checks::EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::now_utc(),
    ));
    let report = Report::new(snapshot.scope.clone(), findings, Gate::default());
    for finding in report.findings.iter().filter(|f| f.status != Status::Pass) {
        println!(
            "{} {:<12} {}\n    fix: {}",
            finding.check_id, finding.status, finding.message, finding.remediation
        );
    }
    println!(
        "{} passed, {} failed, {} inconclusive",
        report.summary.pass, report.summary.fail, report.summary.inconclusive
    );
    ExitCode::from(report.summary.exit_code)
}
