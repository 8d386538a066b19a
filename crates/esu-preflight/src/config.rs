//! The configuration file, `esu-preflight.toml`, and suppressions.
//!
//! Two layers:
//!
//! - [`Config`] is what the checks read ([`checks::evaluate`](crate::checks::evaluate)):
//!   per-check severity overrides and [`Suppression`]s. It is also `checks::Config`.
//! - [`ConfigFile`] is the whole file as a user writes it: `Config`'s parts plus the run's
//!   defaults (scope, `fail_on`, license plans), which the command line overrides.
//!
//! ```toml
//! fail_on = "warning"                  # info | warning | error (default error)
//! license_plans = ["plans/esu.toml"]   # relative to this file
//!
//! [scope]
//! subscriptions = ["00000000-0000-0000-0000-000000000000"]
//! management_groups = []
//! resource_groups = ["rg-esu"]
//! program = "ws2012"                   # ws2012 | ws2016 | ws2008 | all
//!
//! [severity]
//! ESU601 = "info"
//!
//! [[suppress]]
//! check = "ESU504"
//! resource = "*/resourceGroups/rg-lab/*"   # optional: a glob on the ARM id, case-insensitive
//! reason = "lab machines run on Azure Local; tracked in TICKET-123"
//! expires = 2027-01-31                     # optional: stops applying on that day (UTC)
//! ```
//!
//! # Suppressions
//!
//! A suppression names a check (`check`: an ID such as `ESU504`, or a glob such as `ESU5*` or
//! `*`) and optionally the resources (`resource`: a glob on the ARM id, matched against the
//! whole id and case-insensitively; `*` matches any run of characters, `/` included, `?` one
//! character). It needs a `reason`, and may have an `expires` date.
//!
//! A suppressed finding keeps its status and stays in the report, marked with
//! `suppressed: {reason, expires}`; it never fails the run ([`Gate`](crate::Gate)), and the
//! summary counts it as `suppressed` instead of by its status. Only `fail` and `inconclusive`
//! findings are suppressed, and an `inconclusive` one only by a suppression that names its check
//! ID exactly (not by a glob): a finding whose facts could not be read is not known to be the
//! accepted problem, so silencing it takes a deliberate, specific entry.
//!
//! A suppression stops applying on its `expires` day (UTC, as of the evaluation time, never
//! the wall clock inside the library). [`suppression_outcomes`] says, for each one, whether it
//! applied, has expired or matched nothing: the report lists those
//! ([`Report::suppressions`](crate::Report::suppressions)), so stale entries get noticed.

use crate::finding::{Finding, Severity, Status};
use crate::plan::{line_column, segments, toml_locate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file `esu-preflight check` reads from the working directory when no `--config` is given.
pub const DEFAULT_FILE_NAME: &str = "esu-preflight.toml";

/// Configuration of the checks: severity overrides and suppressions (the `[severity]` and
/// `[[suppress]]` parts of [`ConfigFile`]), e.g.
///
/// ```toml
/// [severity]
/// ESU101 = "warning"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Per-check severity overrides, by check ID (matched case-insensitively), e.g.
    /// `ESU101 = "warning"`. An override replaces the default severity *and* any per-finding
    /// severity a check would choose (such as ESU101's warning for a provider still registering).
    pub severity: BTreeMap<String, Severity>,
    /// Accepted findings (see the [module docs](self)).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppress: Vec<Suppression>,
}

impl Config {
    /// The severity override for the check `id`, if any.
    pub fn severity_override(&self, id: &str) -> Option<Severity> {
        self.severity
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(id))
            .map(|(_, severity)| *severity)
    }

    /// The severity a finding of check `info` gets: a configured override, else the finding's
    /// own severity, else the check's default.
    pub fn severity_for(
        &self,
        info: &crate::checks::CheckInfo,
        per_finding: Option<Severity>,
    ) -> Severity {
        self.severity_override(info.id)
            .or(per_finding)
            .unwrap_or(info.default_severity)
    }
}

/// An accepted finding: which check, optionally which resources, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// A check ID (`ESU504`) or a glob over check IDs (`ESU5*`, `*`), case-insensitive.
    pub check: String,
    /// A glob on the finding's ARM id, matched against the whole id, case-insensitively (`*`
    /// matches any run of characters, `/` included; `?` one character). `None`: every resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Why the finding is accepted (required, not empty).
    pub reason: String,
    /// The day it stops applying (UTC); `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "expiry_date")]
    pub expires: Option<time::Date>,
}

impl Suppression {
    /// Whether `check` names one check ID exactly (no glob): only such a suppression may
    /// silence an `inconclusive` finding.
    pub fn names_check_exactly(&self) -> bool {
        !self.check.contains(['*', '?'])
    }

    /// Whether it has expired at `now`: from the start of its `expires` day (UTC).
    pub fn is_expired(&self, now: time::OffsetDateTime) -> bool {
        self.expires
            .is_some_and(|day| now.to_offset(time::UtcOffset::UTC).date() >= day)
    }

    /// Whether it covers `finding` (ignoring expiry): the check and resource match, and the
    /// finding is `fail`, or `inconclusive` with the check named exactly.
    pub fn covers(&self, finding: &Finding) -> bool {
        let status_ok = match finding.status {
            Status::Fail => true,
            Status::Inconclusive => self.names_check_exactly(),
            Status::Pass | Status::Skipped => false,
        };
        status_ok
            && glob_matches(&self.check, &finding.check_id)
            && self
                .resource
                .as_deref()
                .is_none_or(|pattern| glob_matches(pattern, &finding.resource_id))
    }

    /// The marker a finding it suppresses carries.
    pub fn marker(&self) -> Suppressed {
        Suppressed {
            reason: self.reason.clone(),
            expires: self.expires.map(format_date),
        }
    }
}

/// The mark of a suppressed finding ([`Finding::suppressed`]): the suppression's reason and
/// expiry date (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    /// Why the finding is accepted.
    pub reason: String,
    /// The day the suppression stops applying, `YYYY-MM-DD`; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Marks the `fail` and `inconclusive` findings a suppression covers (the first one that does,
/// in the file's order), leaving expired suppressions out. Findings already marked are kept.
///
/// [`checks::evaluate`](crate::checks::evaluate) calls it with the configuration's
/// suppressions and the evaluation time.
pub fn apply_suppressions(
    findings: &mut [Finding],
    suppressions: &[Suppression],
    now: time::OffsetDateTime,
) {
    let active: Vec<&Suppression> = suppressions.iter().filter(|s| !s.is_expired(now)).collect();
    if active.is_empty() {
        return;
    }
    for finding in findings.iter_mut().filter(|f| f.suppressed.is_none()) {
        if let Some(suppression) = active.iter().find(|s| s.covers(finding)) {
            finding.suppressed = Some(Box::new(suppression.marker()));
        }
    }
}

/// What became of a suppression in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionStatus {
    /// It suppressed at least one finding.
    Applied,
    /// Its `expires` day has come: it suppressed nothing.
    Expired,
    /// It is in force but covered no failing or inconclusive finding (the problem may be
    /// fixed: remove it).
    Unmatched,
}

impl SuppressionStatus {
    /// The lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Expired => "expired",
            Self::Unmatched => "unmatched",
        }
    }
}

impl fmt::Display for SuppressionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A suppression and what became of it ([`Report::suppressions`](crate::Report::suppressions)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionOutcome {
    /// The suppression's check ID or glob.
    pub check: String,
    /// Its resource glob, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Its reason.
    pub reason: String,
    /// Its expiry day, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Applied, expired or unmatched.
    pub status: SuppressionStatus,
    /// The findings it suppressed; for an expired one, those it would have suppressed.
    pub findings: usize,
}

impl SuppressionOutcome {
    /// One line for a person: what it is and what became of it, e.g. `suppression of ESU504
    /// (resource */rg-lab/*) expired on 2026-10-01; 2 findings are no longer suppressed`.
    pub fn describe(&self) -> String {
        let what = match &self.resource {
            Some(resource) => format!("suppression of {} (resource {resource})", self.check),
            None => format!("suppression of {}", self.check),
        };
        let plural = |n: usize| if n == 1 { "finding" } else { "findings" };
        match self.status {
            SuppressionStatus::Applied => format!(
                "{what} applied to {} {}: {}",
                self.findings,
                plural(self.findings),
                self.reason.trim()
            ),
            SuppressionStatus::Expired => format!(
                "{what} expired on {}; {} {} it covered now count again: fix them, or renew it \
                 with a new expires date and reason",
                self.expires.as_deref().unwrap_or("?"),
                self.findings,
                plural(self.findings)
            ),
            SuppressionStatus::Unmatched => format!(
                "{what} matched no failing or inconclusive finding: remove it if the problem is \
                 fixed, or correct its check or resource pattern"
            ),
        }
    }
}

/// What became of each suppression, in the file's order, given the findings
/// [`apply_suppressions`] marked.
pub fn suppression_outcomes(
    suppressions: &[Suppression],
    findings: &[Finding],
    now: time::OffsetDateTime,
) -> Vec<SuppressionOutcome> {
    let mut claimed = vec![false; findings.len()];
    suppressions
        .iter()
        .map(|suppression| {
            let expired = suppression.is_expired(now);
            let mut count = 0;
            for (index, finding) in findings.iter().enumerate() {
                let covered = if expired {
                    suppression.covers(finding)
                } else {
                    // The same rule as `apply_suppressions`: the first suppression in force
                    // that covers a finding claims it.
                    !claimed[index] && finding.suppressed.is_some() && suppression.covers(finding)
                };
                if covered {
                    count += 1;
                    if !expired {
                        claimed[index] = true;
                    }
                }
            }
            let status = match (expired, count) {
                (true, _) => SuppressionStatus::Expired,
                (false, 0) => SuppressionStatus::Unmatched,
                (false, _) => SuppressionStatus::Applied,
            };
            SuppressionOutcome {
                check: suppression.check.clone(),
                resource: suppression.resource.clone(),
                reason: suppression.reason.clone(),
                expires: suppression.expires.map(format_date),
                status,
                findings: count,
            }
        })
        .collect()
}

/// Whether `pattern` matches the whole of `text`, case-insensitively: `*` any run of
/// characters (`/` included), `?` one character, anything else itself.
///
/// ```
/// use esu_preflight::config::glob_matches;
///
/// let id = "/subscriptions/s/resourceGroups/RG-Lab/providers/Microsoft.HybridCompute/machines/m1";
/// assert!(glob_matches("*/resourcegroups/rg-lab/*", id));
/// assert!(glob_matches("*/machines/m?", id));
/// assert!(!glob_matches("*/machines/m", id));
/// assert!(glob_matches("esu5*", "ESU504"));
/// ```
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Iterative matching with one backtrack point for the last `*` (linear in practice).
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// `YYYY-MM-DD`.
fn format_date(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// `YYYY-MM-DD` → a date.
fn parse_date(text: &str) -> Option<time::Date> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() != 10
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !text
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
    {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month = time::Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// `expires`: a TOML date (`2027-01-31`) or a string (`"2027-01-31"`).
mod expiry_date {
    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(
        date: &Option<time::Date>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&super::format_date(*date)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<time::Date>, D::Error> {
        deserializer.deserialize_any(DateVisitor).map(Some)
    }

    struct DateVisitor;

    impl<'de> Visitor<'de> for DateVisitor {
        type Value = time::Date;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a date such as 2027-01-31")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<time::Date, E> {
            super::parse_date(text).ok_or_else(|| {
                E::custom(format!(
                    "expected a date such as 2027-01-31 (year-month-day), found {text:?}"
                ))
            })
        }

        /// A TOML date arrives as a one-entry map holding its text.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<time::Date, A::Error> {
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(de::Error::custom("expected a date such as 2027-01-31"));
            };
            self.visit_str(&text)
        }
    }
}

/// Scope defaults of the file's `[scope]` table; the command line's scope flags override them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopeDefaults {
    /// Subscription ids (GUIDs).
    pub subscriptions: Vec<String>,
    /// Management group ids.
    pub management_groups: Vec<String>,
    /// Resource group names.
    pub resource_groups: Vec<String>,
    /// An ESU program id (`ws2012`, `ws2016`, `ws2008`) or `all`.
    pub program: Option<String>,
}

/// The whole configuration file, `esu-preflight.toml` (see the [module docs](self)).
///
/// Load it with [`ConfigFile::load`] or [`ConfigFile::from_toml_str`]: unknown keys, unknown
/// check IDs, bad dates and missing reasons are errors naming the file, line and column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// Scope defaults.
    pub scope: ScopeDefaults,
    /// The default of `--fail-on`.
    pub fail_on: Option<Severity>,
    /// The default of `--allow-inconclusive`.
    pub allow_inconclusive: Option<bool>,
    /// License plans, relative to the file (resolved by [`ConfigFile::load`]); `--license-plan`
    /// replaces them.
    pub license_plans: Vec<PathBuf>,
    /// Per-check severity overrides.
    pub severity: BTreeMap<String, Severity>,
    /// Suppressions.
    pub suppress: Vec<Suppression>,
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not parse, or a key or value is wrong.
    #[error("{}:{line}:{column}: {}{message}", .path.display(), field_prefix(.field))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// The column (from 1, in characters).
        column: usize,
        /// The key, e.g. `suppress[1].expires`, when the error is about one.
        field: Option<String>,
        /// What is wrong and what is expected.
        message: String,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

impl ConfigFile {
    /// Reads and validates `path`; license plan paths are made relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut file = Self::from_toml_str(&text, path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        for plan in &mut file.license_plans {
            if plan.is_relative() {
                *plan = base.join(&*plan);
            }
        }
        Ok(file)
    }

    /// Parses and validates a configuration; `path` is for error messages only (license plan
    /// paths are left as written).
    ///
    /// ```
    /// use esu_preflight::config::ConfigFile;
    /// use std::path::Path;
    ///
    /// let err = ConfigFile::from_toml_str("fail_on = \"error\"\nfail-on = \"warning\"\n",
    ///     Path::new("esu-preflight.toml")).unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "esu-preflight.toml:2:1: unknown key \"fail-on\"; valid keys: scope, fail_on,"),
    ///     "{err}");
    /// ```
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let error = |field: Option<String>, at: usize, message: String| {
            let (line, column) = line_column(text, at);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                field,
                message,
            }
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| {
            let at = e.span().map_or(0, |span| span.start);
            error(
                None,
                at,
                format!("not valid TOML: {}", e.message().trim().replace('`', "\"")),
            )
        })?;
        let file: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path_text = e.path().to_string();
            let mut field = (path_text != ".").then_some(path_text);
            let raw = e.inner().message().to_owned();
            let at = match e.inner().span() {
                Some(span) => span.start,
                None => toml_locate(text, &segments(field.as_deref().unwrap_or(""))),
            };
            let message = match unknown_key(&raw) {
                Some((key, valid)) => {
                    // The path names the table holding the key; the message names the key.
                    field = field.and_then(|f| {
                        let parent = f.strip_suffix(&format!(".{key}")).map(str::to_owned);
                        if f == key { None } else { parent.or(Some(f)) }
                    });
                    format!("unknown key {key:?}; valid keys: {valid}")
                }
                None => crate::serde_text::humanize(&raw),
            };
            error(field, at, message)
        })?;
        file.validate(text, path)?;
        Ok(file)
    }

    /// The checks' part: severity overrides and suppressions.
    pub fn checks_config(&self) -> Config {
        Config {
            severity: self.severity.clone(),
            suppress: self.suppress.clone(),
        }
    }

    /// Checks what serde cannot: check IDs exist, reasons are not empty, subscription ids are
    /// GUIDs, the program is known.
    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let error = |field: String, message: String| {
            let at = toml_locate(text, &segments(&field));
            let (line, column) = line_column(text, at);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                field: Some(field),
                message,
            }
        };
        let known = |id: &str| {
            crate::checks::all()
                .iter()
                .any(|c| c.info().id.eq_ignore_ascii_case(id))
        };
        for id in self.severity.keys() {
            if !known(id) {
                return Err(error(
                    format!("severity.{id}"),
                    format!(
                        "{id:?} is not a check ID (`esu-preflight list-checks` lists them, e.g. \
                         ESU101)"
                    ),
                ));
            }
        }
        for (index, suppression) in self.suppress.iter().enumerate() {
            let at = |key: &str| format!("suppress[{index}].{key}");
            let check = suppression.check.trim();
            let matches_some = crate::checks::all()
                .iter()
                .any(|c| glob_matches(check, c.info().id));
            if check.is_empty() || !matches_some {
                return Err(error(
                    at("check"),
                    format!(
                        "{check:?} matches no check ID: expected an ID such as \"ESU504\" or a \
                         glob such as \"ESU5*\" (`esu-preflight list-checks` lists them)"
                    ),
                ));
            }
            if suppression.reason.trim().is_empty() {
                return Err(error(
                    at("reason"),
                    "the reason is empty: say why the finding is accepted (and where it is \
                     tracked)"
                        .to_owned(),
                ));
            }
            if suppression
                .resource
                .as_deref()
                .is_some_and(|r| r.trim().is_empty())
            {
                return Err(error(
                    at("resource"),
                    "the resource pattern is empty: leave it out to cover every resource, or \
                     give a glob such as \"*/resourceGroups/rg-lab/*\""
                        .to_owned(),
                ));
            }
        }
        for (index, subscription) in self.scope.subscriptions.iter().enumerate() {
            if !is_guid(subscription.trim()) {
                return Err(error(
                    format!("scope.subscriptions[{index}]"),
                    format!(
                        "{subscription:?} is not a subscription id: expected a GUID such as \
                         00000000-0000-0000-0000-000000000000"
                    ),
                ));
            }
        }
        if let Some(program) = &self.scope.program
            && !program.eq_ignore_ascii_case("all")
            && !program.eq_ignore_ascii_case("ws2008")
            && crate::programs::by_id(program).is_none()
        {
            let ids: Vec<&str> = crate::programs::PROGRAMS
                .iter()
                .map(|p| p.id)
                .chain(["ws2008", "all"])
                .collect();
            return Err(error(
                "scope.program".to_owned(),
                format!("unknown program {program:?}: expected {}", ids.join(", ")),
            ));
        }
        Ok(())
    }
}

/// `unknown field `x`, expected one of `a`, `b`` → (`x`, `a, b`).
fn unknown_key(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let valid = rest
        .trim_start_matches(", ")
        .trim_start_matches("expected one of ")
        .trim_start_matches("expected ")
        .replace('`', "");
    let valid = if valid.trim().is_empty() || valid.starts_with("there are no fields") {
        "none".to_owned()
    } else {
        valid
    };
    Some((key.to_owned(), valid))
}

fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests;
