//! The checks: one unit each, stable IDs, documentation with the code.
//!
//! Every check implements [`Check`]: it declares itself once in a static [`CheckInfo`] (ID,
//! kebab-case name, default severity, documentation under fixed headings) and, when run over one
//! subscription's facts through a [`CheckCtx`], pushes [`Finding`]s — passes included, so a
//! report shows what was verified. A check whose facts are unavailable reports `inconclusive`
//! with the reason, never `pass`.
//!
//! Check logic never formats the generic parts of a finding: it builds a small typed diagnostic
//! of its own, turns it into a [`Diagnostic`] (message, remediation, evidence) in one place, and
//! [`CheckCtx::finding`] fills in the rest (ID, name, severity after overrides, subscription,
//! help link).
//!
//! IDs are stable forever: never renumber or reuse one.
//!
//! ```
//! use esu_preflight::checks::{self, Config};
//! use esu_preflight::snapshot::{Scope, Snapshot};
//!
//! let snapshot = Snapshot::new(Scope::default());
//! let findings = checks::evaluate(&snapshot, &Config::default(), time::OffsetDateTime::UNIX_EPOCH);
//! assert!(findings.is_empty());
//! assert_eq!(checks::find("esu101").unwrap().name, "provider-not-registered");
//! ```

mod providers;
mod subscription;

pub use providers::{
    ProviderNotRegistered, ProviderRegistrationNotPermitted, registration_not_permitted_remediation,
};
pub(crate) use providers::{Registration, register_action};
pub use subscription::{SubscriptionNotUsable, unusable_reason};

use crate::finding::{Finding, Severity, Status};
use crate::snapshot::{Snapshot, SubscriptionSnapshot, Unavailable, UnavailableKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The resource providers ESU needs registered on every subscription in scope.
///
/// From Microsoft's "Troubleshoot delivery of Extended Security Updates for Windows Server 2012",
/// section *Resource providers* (`shared/seeds/000_df28d133544c64fd.txt`): HybridCompute (Arc
/// servers, licences), GuestConfiguration (guest configuration policies), Compute (Update
/// Management, ESU patches), Security, OperationalInsights (Azure Monitor / Log Analytics), Sql
/// (ESU for SQL Server) and Storage. The namespaces are spelled as ARM spells them; compare
/// case-insensitively.
pub const REQUIRED_PROVIDERS: [&str; 7] = [
    "Microsoft.HybridCompute",
    "Microsoft.GuestConfiguration",
    "Microsoft.Compute",
    "Microsoft.Security",
    "Microsoft.OperationalInsights",
    "Microsoft.Sql",
    "Microsoft.Storage",
];

/// A check's documentation, under the fixed headings `esu-preflight explain ID` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDocs {
    /// What the check looks at and when it fails.
    pub what_it_checks: &'static str,
    /// What goes wrong in the ESU flow when it fails.
    pub why_it_matters: &'static str,
    /// The fix: commands, portal paths, roles.
    pub how_to_fix: &'static str,
    /// An example of a failing finding's message.
    pub example_finding: &'static str,
}

/// The declaration of a check: its stable identity and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInfo {
    /// The stable ID, `ESU` and three digits, e.g. `ESU101`.
    pub id: &'static str,
    /// The kebab-case name, named after what it detects, e.g. `provider-not-registered`.
    pub name: &'static str,
    /// The severity of its failures unless the configuration overrides it.
    pub default_severity: Severity,
    /// One line: what it detects.
    pub summary: &'static str,
    /// Where to read more (a learn.microsoft.com page).
    pub help_uri: &'static str,
    /// The documentation.
    pub docs: CheckDocs,
}

impl CheckInfo {
    /// The check's documentation as `esu-preflight explain ID` prints it.
    ///
    /// ```
    /// let docs = esu_preflight::checks::find("ESU101").unwrap().render_docs();
    /// assert!(docs.starts_with("ESU101 provider-not-registered (default severity: error)\n\n"));
    /// assert!(docs.contains("\n## How to fix\n"));
    /// ```
    pub fn render_docs(&self) -> String {
        let CheckDocs {
            what_it_checks,
            why_it_matters,
            how_to_fix,
            example_finding,
        } = self.docs;
        let mut text = format!(
            "{} {} (default severity: {})\n\n{}\n",
            self.id, self.name, self.default_severity, self.summary
        );
        for (heading, body) in [
            ("What it checks", what_it_checks),
            ("Why it matters", why_it_matters),
            ("How to fix", how_to_fix),
            ("Example finding", example_finding),
        ] {
            // Writing to a String cannot fail.
            let _ = write!(text, "\n## {heading}\n{}\n", body.trim_end());
        }
        text
    }
}

/// One check.
///
/// Implementations are stateless unit structs registered in [`all`].
pub trait Check: Send + Sync {
    /// The check's declaration.
    fn info(&self) -> &'static CheckInfo;

    /// Runs the check over one subscription's facts, pushing its findings to `out`.
    ///
    /// Must not panic on any snapshot: unavailable or odd facts become `inconclusive` findings.
    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>);
}

/// Configuration of the checks: what `check --config FILE` reads (TOML), e.g.
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
}

impl Config {
    /// The severity override for the check `id`, if any.
    pub fn severity_override(&self, id: &str) -> Option<Severity> {
        self.severity
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(id))
            .map(|(_, severity)| *severity)
    }
}

/// What every check gets: the facts of one subscription, the whole snapshot, the configuration
/// and the evaluation time.
///
/// `now` is passed in, never read from the clock, so evaluation is pure and reproducible.
#[derive(Debug, Clone, Copy)]
pub struct CheckCtx<'a> {
    /// The whole snapshot, for checks that look across subscriptions.
    pub snapshot: &'a Snapshot,
    /// The subscription being checked.
    pub subscription: &'a SubscriptionSnapshot,
    /// The checks' configuration.
    pub config: &'a Config,
    /// The evaluation time (for age and expiry comparisons).
    pub now: time::OffsetDateTime,
}

/// The check-specific part of a finding, built by a check's own typed diagnostics.
///
/// [`CheckCtx::finding`] turns it into a [`Finding`].
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The outcome.
    pub status: Status,
    /// A per-finding severity that replaces the check's default (e.g. a warning for a provider
    /// still registering). A configured override still wins over it.
    pub severity: Option<Severity>,
    /// The ARM id of the resource the finding is about.
    pub resource_id: String,
    /// What was found, with the values: lower-case first letter, no trailing period.
    pub message: String,
    /// What to do: commands, portal paths. Empty on passes.
    pub remediation: String,
    /// The facts behind the conclusion, as a small JSON object.
    pub evidence: serde_json::Value,
}

impl Diagnostic {
    /// A diagnostic with the given status, no per-finding severity, and empty remediation and
    /// evidence.
    pub fn new(status: Status, resource_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            severity: None,
            resource_id: resource_id.into(),
            message: message.into(),
            remediation: String::new(),
            evidence: serde_json::Value::Null,
        }
    }

    /// Sets the remediation.
    pub fn remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = remediation.into();
        self
    }

    /// Sets the evidence.
    pub fn evidence(mut self, evidence: serde_json::Value) -> Self {
        self.evidence = evidence;
        self
    }

    /// Sets a per-finding severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// Adds `key: value` to the evidence object (making the evidence an object if it is not one).
    pub fn with_evidence(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if !self.evidence.is_object() {
            self.evidence = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(object) = self.evidence.as_object_mut() {
            object.insert(key.to_owned(), value.into());
        }
        self
    }

    /// An `inconclusive` diagnostic: `what` (e.g. "the provider list") could not be read, for
    /// `reason`. The message names the ARM code, HTTP status and, for a 401/403, the missing
    /// action and scope; the evidence is the reason itself.
    pub fn inconclusive(resource_id: impl Into<String>, what: &str, reason: &Unavailable) -> Self {
        Self::new(
            Status::Inconclusive,
            resource_id,
            format!("could not read {what}: {}", describe_unavailable(reason)),
        )
        .remediation(unavailable_remediation(reason))
        .evidence(serde_json::json!({ "unavailable": unavailable_evidence(reason) }))
    }
}

impl<'a> CheckCtx<'a> {
    /// The subscription GUID being checked.
    pub fn subscription_id(&self) -> &'a str {
        &self.subscription.subscription_id
    }

    /// The ARM id of the subscription being checked: `/subscriptions/{id}`.
    pub fn subscription_resource_id(&self) -> String {
        format!("/subscriptions/{}", self.subscription.subscription_id)
    }

    /// The severity a finding of check `info` gets: a configured override, else the
    /// diagnostic's own severity, else the check's default.
    pub fn severity(&self, info: &CheckInfo, per_finding: Option<Severity>) -> Severity {
        self.config
            .severity_override(info.id)
            .or(per_finding)
            .unwrap_or(info.default_severity)
    }

    /// Turns a check's diagnostic into a finding: fills in the check's ID, name and help link,
    /// the subscription and the severity (see [`CheckCtx::severity`]).
    pub fn finding(&self, info: &CheckInfo, diagnostic: Diagnostic) -> Finding {
        Finding {
            check_id: info.id.to_owned(),
            check: info.name.to_owned(),
            status: diagnostic.status,
            severity: self.severity(info, diagnostic.severity),
            resource_id: diagnostic.resource_id,
            subscription_id: self.subscription.subscription_id.clone(),
            message: diagnostic.message,
            remediation: diagnostic.remediation,
            evidence: diagnostic.evidence,
            help_uri: info.help_uri.to_owned(),
        }
    }
}

/// Why a fact could not be read, in words: ARM code, HTTP status and, for 401/403, the missing
/// action and scope. Lower-case first letter, no trailing period.
///
/// ```
/// use esu_preflight::snapshot::{Unavailable, UnavailableKind};
///
/// let reason = Unavailable {
///     kind: UnavailableKind::Forbidden,
///     http_status: Some(403),
///     code: Some("AuthorizationFailed".into()),
///     message: "The client does not have authorization.".into(),
///     action: Some("Microsoft.Resources/subscriptions/providers/read".into()),
///     scope: Some("/subscriptions/0000".into()),
///     retry_after_secs: None,
/// };
/// assert_eq!(
///     esu_preflight::checks::describe_unavailable(&reason),
///     "access denied (AuthorizationFailed, HTTP 403); the signed-in identity lacks \
///      Microsoft.Resources/subscriptions/providers/read on /subscriptions/0000"
/// );
/// ```
pub fn describe_unavailable(reason: &Unavailable) -> String {
    let what = match reason.kind {
        UnavailableKind::NotFound => "not found",
        UnavailableKind::Forbidden => "access denied",
        UnavailableKind::HttpError => "ARM answered with an error",
        UnavailableKind::MalformedResponse => "ARM's answer could not be parsed",
        UnavailableKind::PaginationRefused => "paging was stopped",
        UnavailableKind::Transport => "the request did not complete",
        UnavailableKind::Other => "it could not be read",
    };
    let mut text = what.to_owned();
    let status = reason.http_status.map(|s| format!("HTTP {s}"));
    let tags: Vec<&str> = [reason.code.as_deref(), status.as_deref()]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
        .collect();
    if !tags.is_empty() {
        let _ = write!(text, " ({})", tags.join(", "));
    }
    match (reason.action.as_deref(), reason.scope.as_deref()) {
        (Some(action), Some(scope)) => {
            let _ = write!(text, "; the signed-in identity lacks {action} on {scope}");
        }
        (Some(action), None) => {
            let _ = write!(text, "; the signed-in identity lacks {action}");
        }
        _ => {
            let detail = reason.message.trim().trim_end_matches('.').trim_end();
            if tags.is_empty() && !detail.is_empty() {
                let _ = write!(text, "; {detail}");
            }
        }
    }
    text
}

/// The short technical part of a reason: ARM code, HTTP status and the missing action and
/// scope, e.g. `AuthorizationFailed, HTTP 403; missing A on S`. Empty when nothing is known.
fn reason_tags(reason: &Unavailable) -> String {
    let status = reason.http_status.map(|s| format!("HTTP {s}"));
    let mut text = [reason.code.as_deref(), status.as_deref()]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(action) = reason.action.as_deref() {
        if !text.is_empty() {
            text.push_str("; ");
        }
        let _ = write!(text, "missing {action}");
        if let Some(scope) = reason.scope.as_deref() {
            let _ = write!(text, " on {scope}");
        }
    }
    text
}

/// What to do about an unavailable fact.
fn unavailable_remediation(reason: &Unavailable) -> String {
    if is_access_denied(reason) {
        match (reason.action.as_deref(), reason.scope.as_deref()) {
            (Some(action), Some(scope)) => format!(
                "grant the signed-in identity a role with {action} on {scope} (Reader is enough \
                 for reads), or run esu-preflight as an identity that has it, then run it again"
            ),
            _ => "grant the signed-in identity read access (Reader) on the subscription, or run \
                  esu-preflight as an identity that has it, then run it again"
                .to_owned(),
        }
    } else {
        "run esu-preflight again; if it persists, check connectivity to Azure Resource Manager \
         (proxy, firewall, --arm-endpoint) and the details in this finding's evidence"
            .to_owned()
    }
}

/// Whether ARM refused the read (401/403).
fn is_access_denied(reason: &Unavailable) -> bool {
    reason.kind == UnavailableKind::Forbidden || matches!(reason.http_status, Some(401 | 403))
}

/// Whether ARM said the thing does not exist (404).
fn is_not_found(reason: &Unavailable) -> bool {
    reason.kind == UnavailableKind::NotFound || reason.http_status == Some(404)
}

/// The reason as evidence JSON.
fn unavailable_evidence(reason: &Unavailable) -> serde_json::Value {
    serde_json::to_value(reason).unwrap_or(serde_json::Value::Null)
}

static CHECKS: [&dyn Check; 3] = [
    &SubscriptionNotUsable,
    &ProviderNotRegistered,
    &ProviderRegistrationNotPermitted,
];

/// Every check, sorted by ID.
pub fn all() -> &'static [&'static dyn Check] {
    &CHECKS
}

/// The check with this ID (`ESU101`), case-insensitively; its kebab-case name
/// (`provider-not-registered`) is accepted too.
pub fn find(id: &str) -> Option<&'static CheckInfo> {
    let id = id.trim();
    all()
        .iter()
        .map(|check| check.info())
        .find(|info| info.id.eq_ignore_ascii_case(id) || info.name.eq_ignore_ascii_case(id))
}

/// Runs every check over every subscription of `snapshot`, purely.
///
/// The findings are sorted by [`Finding::sort_key`].
pub fn evaluate(snapshot: &Snapshot, config: &Config, now: time::OffsetDateTime) -> Vec<Finding> {
    let mut findings = Vec::new();
    for subscription in &snapshot.subscriptions {
        let ctx = CheckCtx {
            snapshot,
            subscription,
            config,
            now,
        };
        for check in all() {
            check.run(&ctx, &mut findings);
        }
    }
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;
