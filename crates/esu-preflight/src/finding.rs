//! Findings: what a check concluded about one resource.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The outcome of a check on one resource.
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): these four outcomes are the report's
/// contract and decide the exit code, so a fifth would be a breaking change that every embedder
/// must handle on purpose. A wildcard arm would instead let it pass silently as whatever the
/// arm does (often "fine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The problem was found.
    Fail,
    /// The facts needed could not be read; the reason is in the message and evidence.
    Inconclusive,
    /// Verified: the problem is not there.
    Pass,
    /// The check does not apply to this resource; the reason is in the message.
    Skipped,
}

impl Status {
    /// The lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Inconclusive => "inconclusive",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How much a failing finding matters. Ordered: `Info < Warning < Error`.
///
/// Deliberately exhaustive, like [`Status`]: it is the `--fail-on` scale and the keys of
/// [`SeverityCounts`](crate::report::SeverityCounts); a new level would change what gates a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; never blocks on its own unless `--fail-on info`.
    Info,
    /// Likely to cause trouble.
    Warning,
    /// Will make provisioning, linking or patch delivery fail.
    Error,
}

impl Severity {
    /// The lower-case name used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error for a severity name that is not `info`, `warning` or `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected info, warning or error")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Self::Info),
            "warning" | "warn" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            _ => Err(UnknownSeverity(s.to_owned())),
        }
    }
}

/// What a check concluded about one resource. Passing checks are findings too, so a report
/// shows what was verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The stable check ID, e.g. `ESU101`.
    pub check_id: String,
    /// The check's kebab-case name, e.g. `provider-not-registered`.
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// How much it matters when it fails (also set on passes, for reference).
    pub severity: Severity,
    /// The ARM id of the resource it is about.
    pub resource_id: String,
    /// The subscription the resource is in.
    pub subscription_id: String,
    /// What was found, with the values.
    pub message: String,
    /// What to do about it: a command or a portal path. Empty on passes.
    pub remediation: String,
    /// The facts behind the conclusion.
    pub evidence: serde_json::Value,
    /// Where to read more.
    pub help_uri: String,
    /// The ESU program the resource belongs to (`ws2012`, `ws2016`), for license and machine
    /// findings; absent for subscription-wide ones. An added field of the JSON report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Set when a configured suppression accepts this finding (see [`crate::config`]): it keeps
    /// its status and stays in the report, but never fails the run. An added field of the JSON
    /// report, absent when not suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<crate::config::Suppressed>,
}

impl Finding {
    /// The order findings are reported in: by subscription, check, resource, then status.
    pub fn sort_key(&self) -> (&str, &str, &str, Status) {
        (
            &self.subscription_id,
            &self.check_id,
            &self.resource_id,
            self.status,
        )
    }
}

#[cfg(test)]
mod display_tests {
    use super::{Severity, Status};

    /// `list-checks` lines up its columns with `{:<8}`: the names honour width and alignment.
    #[test]
    fn severity_and_status_honour_width() {
        assert_eq!(format!("{:<8}|", Severity::Warning), "warning |");
        assert_eq!(format!("{:<8}|", Severity::Error), "error   |");
        assert_eq!(format!("{:>6}|", Severity::Info), "  info|");
        assert_eq!(format!("{:<13}|", Status::Skipped), "skipped      |");
        assert_eq!(Severity::Error.to_string(), "error");
    }
}
