//! The report: findings with a summary and the exit code they imply.
//!
//! The JSON form of [`Report`] is a public contract (`schema_version` changes only with a
//! documented migration).

use crate::config::SuppressionOutcome;
use crate::finding::{Finding, Severity, Status};
use crate::snapshot::Scope;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The JSON report's format version.
pub const SCHEMA_VERSION: u32 = 1;

/// The name and version of the tool that made a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Always `esu-preflight`.
    pub name: String,
    /// The library's version.
    pub version: String,
}

impl Default for ToolInfo {
    fn default() -> Self {
        Self {
            name: "esu-preflight".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Counts of findings by status, and the exit code.
///
/// `#[non_exhaustive]`: the JSON `summary` gains fields over time (as `failed_by_severity` did),
/// so embedders read it (from [`Report::new`] or JSON) rather than build it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Summary {
    /// Findings that passed.
    pub pass: usize,
    /// Findings that failed (at any severity).
    pub fail: usize,
    /// Findings whose facts could not be read.
    pub inconclusive: usize,
    /// Findings that did not apply.
    pub skipped: usize,
    /// `0` or `1`; see [`Gate::exit_code`]. `2` when the run failed ([`Report::failed`]).
    pub exit_code: u8,
    /// The failing findings (`fail`) counted by severity; they add up to [`fail`](Self::fail).
    /// In JSON: `"failed_by_severity": {"error": 1, "warning": 2, "info": 0}`, every key always
    /// present. Added after schema version 1 shipped: a report without it reads as all zeros.
    #[serde(default)]
    pub failed_by_severity: SeverityCounts,
    /// Findings a configured suppression accepts ([`Finding::suppressed`]), whatever their
    /// status. They are counted here *instead of* under their status, so `pass + fail +
    /// inconclusive + skipped + suppressed` is the number of findings and `fail` and
    /// `inconclusive` count only what still needs attention. Added after schema version 1
    /// shipped: a report without it reads as 0.
    #[serde(default)]
    pub suppressed: usize,
}

impl fmt::Display for Summary {
    /// The one-line summary people read: `7 passed, 3 failed (1 error, 2 warnings),
    /// 0 inconclusive, 0 skipped`. The breakdown by severity names only the severities that
    /// failed and is left out when nothing did.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.pass, self.fail)?;
        let by_severity: Vec<String> = [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .filter_map(|severity| {
                let count = self.failed_by_severity.get(severity);
                let plural = if count == 1 || severity == Severity::Info {
                    ""
                } else {
                    "s"
                };
                (count > 0).then(|| format!("{count} {severity}{plural}"))
            })
            .collect();
        if !by_severity.is_empty() {
            write!(f, " ({})", by_severity.join(", "))?;
        }
        write!(
            f,
            ", {} inconclusive, {} skipped",
            self.inconclusive, self.skipped
        )?;
        if self.suppressed > 0 {
            write!(f, ", {} suppressed", self.suppressed)?;
        }
        Ok(())
    }
}

/// A count per [`Severity`], e.g. of failing findings ([`Summary::failed_by_severity`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// Findings of severity `error`.
    pub error: usize,
    /// Findings of severity `warning`.
    pub warning: usize,
    /// Findings of severity `info`.
    pub info: usize,
}

impl SeverityCounts {
    /// The count for one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }

    /// Adds one to `severity`'s count.
    pub fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.error += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
    }

    /// The sum of all counts.
    pub fn total(&self) -> usize {
        self.error + self.warning + self.info
    }
}

/// What makes a run fail: the `--fail-on` and `--allow-inconclusive` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    /// Failing findings at or above this severity make the exit code 1.
    pub fail_on: Severity,
    /// Whether inconclusive findings are tolerated. When `false`, any inconclusive finding,
    /// whatever its severity, makes the exit code 1.
    pub allow_inconclusive: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            fail_on: Severity::Error,
            allow_inconclusive: false,
        }
    }
}

impl Gate {
    /// Whether this finding, alone, makes the run fail.
    ///
    /// A `fail` does when its severity is at or above `fail_on`. An `inconclusive` does
    /// whatever its severity, unless inconclusive findings are allowed: a check that could not
    /// run never passes silently, even one lowered to `warning` or `info` by the configuration
    /// (its severity says how much a *failure* would matter, and nobody knows yet whether it
    /// failed). `pass` and `skipped` never do, nor a finding a configured suppression accepts
    /// ([`Finding::suppressed`]; it stays in the report, marked).
    pub fn blocks(&self, finding: &Finding) -> bool {
        if finding.suppressed.is_some() {
            return false;
        }
        match finding.status {
            Status::Fail => finding.severity >= self.fail_on,
            Status::Inconclusive => !self.allow_inconclusive,
            Status::Pass | Status::Skipped => false,
        }
    }

    /// `1` when any finding [blocks](Self::blocks), else `0`. (Exit code `2`, "could not do its
    /// job", is the caller's: it never comes from findings.)
    pub fn exit_code(&self, findings: &[Finding]) -> u8 {
        u8::from(findings.iter().any(|f| self.blocks(f)))
    }
}

/// A complete report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// See [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool that made it.
    pub tool: ToolInfo,
    /// What was checked.
    pub scope: Scope,
    /// Counts and the exit code.
    pub summary: Summary,
    /// Sorted findings.
    pub findings: Vec<Finding>,
    /// Set when the run failed (exit code 2) and the findings are missing: why. Absent from
    /// the JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The configured suppressions and what became of each (applied, expired, unmatched; see
    /// [`crate::config`]). Absent from the JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressions: Vec<SuppressionOutcome>,
    /// The files the run read (license plan, configuration, snapshot), as the user named them:
    /// the SARIF emitter points its results at them (see [`ReportInputs`]). Not part of the
    /// JSON report: the same facts give the same JSON whether read live or from a snapshot
    /// file, wherever that file lies.
    #[serde(skip)]
    pub inputs: ReportInputs,
}

/// The files a run read, as the user named them on the command line (relative paths stay
/// relative, so a report made in a CI checkout names the repository's files).
///
/// ```
/// use esu_preflight::report::ReportInputs;
///
/// let inputs = ReportInputs { license_plan: Some("plan.toml".into()), ..ReportInputs::default() };
/// assert_eq!(inputs.files().collect::<Vec<_>>(), ["plan.toml"]);
/// assert!(ReportInputs::default().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportInputs {
    /// The license plan (`--license-plan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_plan: Option<String>,
    /// The configuration file (`--config`, or the one found in the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The snapshot evaluated offline (`check --snapshot`); never standard input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

impl ReportInputs {
    /// Whether no file was read.
    pub fn is_empty(&self) -> bool {
        self.files().next().is_none()
    }

    /// The files, in this order: license plan, configuration, snapshot.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        [&self.license_plan, &self.config, &self.snapshot]
            .into_iter()
            .filter_map(|file| file.as_deref())
    }
}

impl Report {
    /// Builds a report: sorts the findings and computes the summary under `gate`.
    pub fn new(scope: Scope, mut findings: Vec<Finding>, gate: Gate) -> Self {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut summary = Summary {
            exit_code: gate.exit_code(&findings),
            ..Summary::default()
        };
        for finding in &findings {
            if finding.suppressed.is_some() {
                summary.suppressed += 1;
                continue;
            }
            match finding.status {
                Status::Pass => summary.pass += 1,
                Status::Fail => {
                    summary.fail += 1;
                    summary.failed_by_severity.add(finding.severity);
                }
                Status::Inconclusive => summary.inconclusive += 1,
                Status::Skipped => summary.skipped += 1,
            }
        }
        Self {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo::default(),
            scope,
            summary,
            findings,
            error: None,
            suppressions: Vec::new(),
            inputs: ReportInputs::default(),
        }
    }

    /// The report with what became of the configured suppressions
    /// ([`config::suppression_outcomes`](crate::config::suppression_outcomes)).
    pub fn with_suppressions(mut self, outcomes: Vec<SuppressionOutcome>) -> Self {
        self.suppressions = outcomes;
        self
    }

    /// The report of a run that could not do its job: no findings, `summary.exit_code` 2 and
    /// `error` saying why, so a report file never looks like a pass (or a stale result).
    ///
    /// ```
    /// use esu_preflight::Report;
    /// use esu_preflight::snapshot::Scope;
    ///
    /// let report = Report::failed(Scope::default(), "ARM unreachable");
    /// assert_eq!(report.summary.exit_code, 2);
    /// assert_eq!(report.error.as_deref(), Some("ARM unreachable"));
    /// ```
    pub fn failed(scope: Scope, error: impl Into<String>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo::default(),
            scope,
            summary: Summary {
                exit_code: 2,
                ..Summary::default()
            },
            findings: Vec::new(),
            error: Some(error.into()),
            suppressions: Vec::new(),
            inputs: ReportInputs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: Status, severity: Severity) -> Finding {
        Finding {
            check_id: "ESU101".into(),
            check: "provider-not-registered".into(),
            status,
            severity,
            resource_id: "/subscriptions/s/providers/Microsoft.Sql".into(),
            subscription_id: "s".into(),
            message: String::new(),
            remediation: String::new(),
            evidence: crate::finding::Evidence::null(),
            help_uri: "".into(),
            program: None,
            suppressed: None,
        }
    }

    #[test]
    fn exit_codes() {
        let gate = Gate::default();
        assert_eq!(gate.exit_code(&[]), 0);
        assert_eq!(gate.exit_code(&[finding(Status::Pass, Severity::Error)]), 0);
        assert_eq!(gate.exit_code(&[finding(Status::Fail, Severity::Error)]), 1);
        assert_eq!(
            gate.exit_code(&[finding(Status::Fail, Severity::Warning)]),
            0
        );
        assert_eq!(
            gate.exit_code(&[finding(Status::Inconclusive, Severity::Error)]),
            1
        );
        assert_eq!(
            gate.exit_code(&[finding(Status::Skipped, Severity::Error)]),
            0
        );

        // Inconclusive blocks whatever its severity: a check lowered to a warning whose facts
        // could not be read is not a pass.
        for severity in [Severity::Info, Severity::Warning, Severity::Error] {
            assert_eq!(
                gate.exit_code(&[finding(Status::Inconclusive, severity)]),
                1,
                "{severity}"
            );
        }

        let lenient = Gate {
            allow_inconclusive: true,
            ..gate
        };
        assert_eq!(
            lenient.exit_code(&[finding(Status::Inconclusive, Severity::Error)]),
            0
        );
        let strict = Gate {
            fail_on: Severity::Warning,
            ..gate
        };
        assert_eq!(
            strict.exit_code(&[finding(Status::Fail, Severity::Warning)]),
            1
        );
        assert_eq!(
            strict.exit_code(&[finding(Status::Fail, Severity::Info)]),
            0
        );
        assert_eq!(
            strict.exit_code(&[finding(Status::Inconclusive, Severity::Info)]),
            1
        );
        let lenient_strict = Gate {
            allow_inconclusive: true,
            fail_on: Severity::Info,
        };
        assert_eq!(
            lenient_strict.exit_code(&[finding(Status::Inconclusive, Severity::Error)]),
            0
        );
        assert_eq!(
            lenient_strict.exit_code(&[finding(Status::Fail, Severity::Info)]),
            1
        );
    }

    #[test]
    fn unreadable_providers_block_even_when_lowered_to_info() {
        // Issue 5's "done when": a run whose providers can't be read exits 1 even with ESU101
        // lowered by the configuration. (The fixture's other failures are lowered too, so the
        // inconclusive findings are all that can block.)
        let mut config = crate::checks::Config::default();
        for check in crate::checks::all() {
            config
                .severity
                .insert(check.info().id.to_owned(), Severity::Info);
        }
        let report = crate::render::testdata::report_with(&config, Gate::default());
        assert!(report.summary.inconclusive > 0);
        assert!(report.findings.iter().all(|f| f.severity == Severity::Info));
        assert_eq!(report.summary.exit_code, 1);
        let lenient = Gate {
            allow_inconclusive: true,
            ..Gate::default()
        };
        let report = crate::render::testdata::report_with(&config, lenient);
        assert_eq!(report.summary.exit_code, 0);
    }

    #[test]
    fn summary_counts_and_sorts() {
        let mut second = finding(Status::Fail, Severity::Error);
        second.resource_id = "/subscriptions/s/providers/Microsoft.Compute".into();
        let report = Report::new(
            Scope::default(),
            vec![finding(Status::Pass, Severity::Error), second],
            Gate::default(),
        );
        assert_eq!(report.summary.pass, 1);
        assert_eq!(report.summary.fail, 1);
        assert_eq!(report.summary.exit_code, 1);
        assert_eq!(
            report.summary.failed_by_severity,
            SeverityCounts {
                error: 1,
                warning: 0,
                info: 0
            }
        );
        assert!(
            report.findings[0]
                .resource_id
                .ends_with("Microsoft.Compute")
        );
    }

    #[test]
    fn a_failed_run_says_so_and_an_ordinary_one_has_no_error_member() {
        let failed = Report::failed(Scope::default(), "cannot reach ARM");
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["error"], "cannot reach ARM");
        assert_eq!(json["summary"]["exit_code"], 2);
        assert_eq!(json["findings"], serde_json::json!([]));

        let ok = Report::new(Scope::default(), Vec::new(), Gate::default());
        let json = serde_json::to_value(&ok).unwrap();
        assert!(json.get("error").is_none(), "{json}");
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, ok);
    }

    #[test]
    fn failures_are_counted_by_severity() {
        let findings = vec![
            finding(Status::Fail, Severity::Error),
            finding(Status::Fail, Severity::Warning),
            finding(Status::Fail, Severity::Warning),
            finding(Status::Fail, Severity::Info),
            // Only failures count: not an inconclusive, a pass or a skip of any severity.
            finding(Status::Inconclusive, Severity::Error),
            finding(Status::Pass, Severity::Warning),
            finding(Status::Skipped, Severity::Info),
        ];
        let summary = Report::new(Scope::default(), findings, Gate::default()).summary;
        let counts = summary.failed_by_severity;
        assert_eq!((counts.error, counts.warning, counts.info), (1, 2, 1));
        assert_eq!(counts.total(), summary.fail);
        assert_eq!(counts.get(Severity::Warning), 2);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json["failed_by_severity"],
            serde_json::json!({"error": 1, "warning": 2, "info": 1})
        );
    }

    #[test]
    fn a_summary_without_counts_by_severity_still_reads() {
        let summary: Summary = serde_json::from_str(
            r#"{"pass": 1, "fail": 0, "inconclusive": 0, "skipped": 0, "exit_code": 0}"#,
        )
        .unwrap();
        assert_eq!(summary.pass, 1);
        assert_eq!(summary.failed_by_severity, SeverityCounts::default());
    }

    #[test]
    fn summary_line() {
        let mut summary = Summary {
            pass: 7,
            fail: 3,
            failed_by_severity: SeverityCounts {
                error: 1,
                warning: 2,
                info: 0,
            },
            ..Summary::default()
        };
        assert_eq!(
            summary.to_string(),
            "7 passed, 3 failed (1 error, 2 warnings), 0 inconclusive, 0 skipped"
        );
        summary.failed_by_severity = SeverityCounts {
            error: 0,
            warning: 1,
            info: 2,
        };
        summary.inconclusive = 4;
        assert_eq!(
            summary.to_string(),
            "7 passed, 3 failed (1 warning, 2 info), 4 inconclusive, 0 skipped"
        );
        assert_eq!(
            Summary::default().to_string(),
            "0 passed, 0 failed, 0 inconclusive, 0 skipped"
        );
    }
}
