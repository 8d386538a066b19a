//! The checks: one unit each, stable IDs, documentation with the code.
//!
//! Every check implements [`Check`]: it declares itself once in a static [`CheckInfo`] (ID,
//! kebab-case name, default severity, documentation under fixed headings) and the facts it cannot
//! run without ([`Check::needs`]); when run over one subscription's facts through a [`CheckCtx`]
//! (which also sees the whole snapshot, the license plan, the configuration and the time), it
//! pushes [`Finding`]s — passes included, so a report shows what was verified.
//!
//! [`evaluate`] applies the rules every check shares, so no check repeats them: a subscription
//! ESU001 finds unusable gets one `skipped` finding per other check; a needed fact that could not
//! be read gets `inconclusive` findings with the reason (never `pass`); a subscription in scope
//! with no facts at all is an inconclusive ESU001.
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
//! let snapshot = Snapshot::new(Scope::subscriptions(["00000000-0000-0000-0000-000000000000"]));
//! let config = Config::default();
//! let input = checks::EvalInput::new(&snapshot, &config, time::OffsetDateTime::UNIX_EPOCH);
//! // A subscription in scope with no facts in the snapshot is never silence.
//! let findings = checks::evaluate(&input);
//! assert_eq!(findings[0].check_id, "ESU001");
//! assert_eq!(findings[0].status, esu_preflight::Status::Inconclusive);
//! assert_eq!(checks::find("esu101").unwrap().name, "provider-not-registered");
//! ```

/// Concatenates string slices (`&str`, `String`, `&String`) into a `String` of exactly their
/// length: the messages of the checks that run on every machine, where `format!`'s machinery
/// was a tenth of a large estate's evaluation.
macro_rules! cat {
    ($($part:expr),+ $(,)?) => {{
        let parts: &[&str] = &[$(::core::convert::AsRef::<str>::as_ref(&$part)),+];
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        for part in parts {
            text.push_str(part);
        }
        text
    }};
}

mod access;
mod docs;
pub mod estate;
mod licenses;
mod machines;
mod mak;
mod patches;
mod plan_checks;
mod policy_checks;
mod providers;
mod subscription;

pub use access::{
    DenyAssignmentBlocks, EVERYONE, LICENSE_PROFILE_WRITE, LICENSE_WRITE, LicenseLinkNotPermitted,
    LicenseWriteNotPermitted,
};
pub use docs::docs_markdown;
pub use licenses::{
    LicenseBelowCoreMinimum, LicenseCoresInsufficient, LicenseEditionOrTypeMismatch,
    LicenseNameTaken, LicenseNotActivated, LicenseOverCoreLimit, LicenseTargetMismatch,
    LicenseVolumeLicensingNotAllowed, ResourceGroupLicenseLimit,
};
pub use machines::{
    AgentTooOld, EsuFreeEnvironment, MachineNotConnected, MachineNotLinked, OsNotEligible,
    ServiceReportsIneligible,
};
pub use mak::{MakKeyProblem, WindowsEsuNamespaceUnavailable};
pub use patches::EsuUpdatesNotInstalled;
pub use plan_checks::{LicenseRejectedByService, ResourceGroupMissing};
pub use policy_checks::{
    DenyPolicyBlocksLicense, DenyPolicyBlocksLicenseLink, DenyPolicyBlocksProviderResources,
    DenyPolicyUndetermined, PROVIDER_RESOURCE_TYPES, PolicyEvaluationDisagrees,
};
pub use providers::{
    ProviderNotRegistered, ProviderRegistrationNotPermitted, registration_not_permitted_remediation,
};
pub(crate) use providers::{Registration, register_action};
pub use subscription::{SubscriptionNotUsable, unusable_reason};

use crate::finding::{EvidenceBuilder, Finding, Severity, Status};
use crate::plan::LicensePlan;
use crate::snapshot::{Snapshot, SubscriptionSnapshot, Unavailable, UnavailableKind};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

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

/// A fact a check cannot run without ([`Check::needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Need {
    /// The subscription itself (`GET /subscriptions/{id}`).
    Subscription,
    /// The subscription's resource providers.
    Providers,
    /// The signed-in identity's effective permissions on the subscription.
    Permissions,
    /// The subscription's ESU licenses (`Microsoft.HybridCompute/licenses`).
    Licenses,
    /// The subscription's Arc-enabled machines (`Microsoft.HybridCompute/machines`).
    Machines,
}

/// The `code` of the [`Unavailable`] a fact gets when the snapshot was taken without it (by a
/// version of esu-preflight that did not read it).
pub const NOT_IN_SNAPSHOT: &str = "NotInSnapshot";

/// Why `what` is missing from a snapshot that was taken without it.
fn not_in_snapshot(what: &str) -> Unavailable {
    Unavailable {
        kind: UnavailableKind::Other,
        http_status: None,
        code: Some(NOT_IN_SNAPSHOT.to_owned()),
        message: format!(
            "the snapshot was taken without {what} (by an older esu-preflight); take it again"
        ),
        action: None,
        scope: None,
        retry_after_secs: None,
    }
}

static LICENSES_NOT_IN_SNAPSHOT: std::sync::LazyLock<Unavailable> =
    std::sync::LazyLock::new(|| not_in_snapshot("ESU licenses"));
static MACHINES_NOT_IN_SNAPSHOT: std::sync::LazyLock<Unavailable> =
    std::sync::LazyLock::new(|| not_in_snapshot("Arc machines"));

impl Need {
    /// The fact, in words, for an inconclusive finding: "could not read {what}".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Subscription => "the subscription",
            Self::Providers => "the subscription's resource providers",
            Self::Permissions => "the signed-in identity's permissions on the subscription",
            Self::Licenses => "the subscription's ESU licenses",
            Self::Machines => "the subscription's Arc-enabled machines",
        }
    }

    /// Why the fact is missing in `subscription`, or `None` when it was read.
    pub fn unavailable(self, subscription: &SubscriptionSnapshot) -> Option<&Unavailable> {
        match self {
            Self::Subscription => subscription.subscription.unavailable(),
            Self::Providers => subscription.providers.unavailable(),
            Self::Permissions => subscription.permissions.unavailable(),
            Self::Licenses => match &subscription.licenses {
                Some(fact) => fact.unavailable(),
                None => Some(&LICENSES_NOT_IN_SNAPSHOT),
            },
            Self::Machines => match &subscription.machines {
                Some(fact) => fact.unavailable(),
                None => Some(&MACHINES_NOT_IN_SNAPSHOT),
            },
        }
    }
}

/// One check.
///
/// Implementations are stateless unit structs registered in [`all`].
pub trait Check: Send + Sync {
    /// The check's declaration.
    fn info(&self) -> &'static CheckInfo;

    /// The facts the check cannot run without. When one is unavailable, [`evaluate`] reports
    /// the check `inconclusive` on each of [`Check::subjects`] with the reason, and does not
    /// call [`Check::run`]. Facts needed only in some cases are the check's own business
    /// (read them with `as_result` and report [`Diagnostic::inconclusive`]).
    fn needs(&self) -> &'static [Need] {
        &[]
    }

    /// The resources the check reports on in this subscription, for the inconclusive findings
    /// [`evaluate`] makes on its behalf. Default: the subscription.
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        vec![Subject::new(ctx.subscription_resource_id())]
    }

    /// Whether the check runs on a subscription ESU001 finds unusable (not found, not visible,
    /// Disabled, Deleted). Default `false`: such a subscription gets one `skipped` finding.
    fn runs_on_unusable_subscriptions(&self) -> bool {
        false
    }

    /// Which ESU programs the check belongs to; [`evaluate`] runs it only when the input's
    /// [`EvalInput::mak`] selection includes them. Default: the Azure Arc programs (WS2012,
    /// WS2016).
    fn family(&self) -> Family {
        Family::Arc
    }

    /// Runs the check over one subscription's facts, pushing its findings to `out`. The facts
    /// in [`Check::needs`] are available when this is called.
    ///
    /// Must not panic on any snapshot: unavailable or odd facts become `inconclusive` findings.
    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>);
}

/// The ESU programs a check belongs to ([`Check::family`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// Every program (ESU001: the subscription itself).
    Any,
    /// The Azure Arc-enabled ESU programs: Windows Server 2012 / 2012 R2 and 2016.
    Arc,
    /// The Windows Server 2008 / 2008 R2 program, through Multiple Activation Keys.
    Mak,
}

/// Whether a run covers the Windows Server 2008 / 2008 R2 MAK program ([`EvalInput::mak`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MakSelection {
    /// `--program all`: the MAK checks run where the scope holds Windows Server 2008 / 2008 R2
    /// machines, MAK keys or planned keys; elsewhere they are skipped, saying so.
    #[default]
    Auto,
    /// `--program ws2008`: only the MAK program; the Arc checks don't run.
    Only,
    /// `--program ws2012|ws2016`: the MAK checks don't run.
    Excluded,
}

impl MakSelection {
    /// Whether a check of `family` runs under this selection.
    pub fn runs(self, family: Family) -> bool {
        !matches!(
            (self, family),
            (Self::Only, Family::Arc) | (Self::Excluded, Family::Mak)
        )
    }
}

/// A resource a check reports on, with evidence that names it (e.g. a provider's namespace).
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The ARM id.
    pub resource_id: String,
    /// Evidence entries naming the resource, added to the finding's evidence.
    pub evidence: serde_json::Map<String, serde_json::Value>,
}

impl Subject {
    /// A subject with no extra evidence.
    pub fn new(resource_id: impl Into<String>) -> Self {
        Self {
            resource_id: resource_id.into(),
            evidence: serde_json::Map::new(),
        }
    }

    /// Adds `key: value` to the subject's evidence.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.evidence.insert(key.to_owned(), value.into());
        self
    }
}

/// Everything [`evaluate`] reads: the snapshot, the license plan, the configuration and the
/// evaluation time.
///
/// `now` is passed in, never read from the clock, so evaluation is pure and reproducible.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    /// The facts.
    pub snapshot: &'a Snapshot,
    /// What the engineer intends to provision (empty: check what exists).
    pub plan: &'a LicensePlan,
    /// The checks' configuration.
    pub config: &'a Config,
    /// The evaluation time (for age, expiry and end-of-support comparisons).
    pub now: time::OffsetDateTime,
    /// Only this ESU program's licenses and machines (`--program`); `None`: every program.
    pub program: Option<&'static crate::programs::Program>,
    /// Whether the Windows Server 2008 / 2008 R2 MAK checks run.
    pub mak: MakSelection,
}

/// The plan of an [`EvalInput`] made without one.
static EMPTY_PLAN: LicensePlan = LicensePlan::new();

impl<'a> EvalInput<'a> {
    /// An input with an empty license plan.
    pub fn new(snapshot: &'a Snapshot, config: &'a Config, now: time::OffsetDateTime) -> Self {
        Self {
            snapshot,
            plan: &EMPTY_PLAN,
            config,
            now,
            program: None,
            mak: MakSelection::Auto,
        }
    }

    /// The same input restricted to one Arc ESU program (`--program ws2016`): the Windows
    /// Server 2008 MAK checks don't run.
    pub fn with_program(self, program: &'static crate::programs::Program) -> Self {
        Self {
            program: Some(program),
            mak: MakSelection::Excluded,
            ..self
        }
    }

    /// The same input restricted to the Windows Server 2008 / 2008 R2 MAK program
    /// (`--program ws2008`): only ESU001 and the MAK checks run.
    pub fn with_mak_only(self) -> Self {
        Self {
            program: None,
            mak: MakSelection::Only,
            ..self
        }
    }

    /// The same input with `plan`.
    pub fn with_plan(self, plan: &'a LicensePlan) -> Self {
        Self { plan, ..self }
    }
}

pub use crate::config::Config;

/// What every check gets: the facts of one subscription, and through them the whole input (the
/// snapshot, the license plan, the configuration and the evaluation time).
#[derive(Debug, Clone, Copy)]
pub struct CheckCtx<'a> {
    /// The whole snapshot, for checks that look across subscriptions.
    pub snapshot: &'a Snapshot,
    /// The subscription being checked.
    pub subscription: &'a SubscriptionSnapshot,
    /// The license plan.
    pub plan: &'a LicensePlan,
    /// The checks' configuration.
    pub config: &'a Config,
    /// The evaluation time (for age and expiry comparisons).
    pub now: time::OffsetDateTime,
    /// Every license and machine of the snapshot, with their links, indexed once.
    pub estate: &'a estate::Estate<'a>,
    /// Only this ESU program's licenses and machines; `None`: every program.
    pub program: Option<&'static crate::programs::Program>,
    /// Whether the MAK checks were asked for (`--program ws2008`) or run where they apply.
    pub mak: MakSelection,
    /// The subscription id as its findings share it ([`Finding::subscription_id`]).
    pub shared_subscription_id: &'a Arc<str>,
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
    /// The ARM id of the resource the finding is about (shared: see [`Finding::resource_id`]).
    pub resource_id: Arc<str>,
    /// What was found, with the values: lower-case first letter, no trailing period.
    pub message: String,
    /// What to do: commands, portal paths. Empty on passes.
    pub remediation: String,
    /// The facts behind the conclusion, as a small JSON object (built member by member as
    /// compact text: see [`EvidenceBuilder`]).
    pub evidence: EvidenceBuilder,
    /// The ESU program of the resource, when it belongs to one.
    pub program: Option<&'static str>,
}

impl Diagnostic {
    /// A diagnostic with the given status, no per-finding severity, and empty remediation and
    /// evidence.
    pub fn new(
        status: Status,
        resource_id: impl Into<Arc<str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            severity: None,
            resource_id: resource_id.into(),
            message: message.into(),
            remediation: String::new(),
            evidence: EvidenceBuilder::default(),
            program: None,
        }
    }

    /// Sets the ESU program the resource belongs to.
    pub fn program(mut self, program: &crate::programs::Program) -> Self {
        self.program = Some(program.id);
        self
    }

    /// Sets the remediation.
    pub fn remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = remediation.into();
        self
    }

    /// Sets the evidence.
    pub fn evidence(mut self, evidence: serde_json::Value) -> Self {
        self.evidence.set(&evidence);
        self
    }

    /// Sets a per-finding severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// Adds `key: value` to the evidence object, replacing a member with the same key (making
    /// the evidence an object if it is not one). `value` is written as serde_json writes it
    /// (as its `serde_json::Value` would be).
    pub fn with_evidence(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.evidence.insert(key, value);
        self
    }

    /// An `inconclusive` diagnostic: `what` (e.g. "the provider list") could not be read, for
    /// `reason`. The message names the ARM code, HTTP status and, for a 401/403, the missing
    /// action and scope; the evidence is the reason itself.
    pub fn inconclusive(
        resource_id: impl Into<Arc<str>>,
        what: &str,
        reason: &Unavailable,
    ) -> Self {
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
        self.config.severity_for(info, per_finding)
    }

    /// Turns a check's diagnostic into a finding: fills in the check's ID, name and help link,
    /// the subscription and the severity (see [`CheckCtx::severity`]).
    pub fn finding(&self, info: &'static CheckInfo, diagnostic: Diagnostic) -> Finding {
        make_finding(info, self.config, self.shared_subscription_id, diagnostic)
    }
}

/// A finding of check `info` about subscription `subscription_id`.
///
/// The check's texts are borrowed from its declaration, the subscription id is shared and the
/// evidence becomes its compact text (see [`Finding`]).
fn make_finding(
    info: &'static CheckInfo,
    config: &Config,
    subscription_id: &Arc<str>,
    diagnostic: Diagnostic,
) -> Finding {
    Finding {
        check_id: Cow::Borrowed(info.id),
        check: Cow::Borrowed(info.name),
        status: diagnostic.status,
        severity: config.severity_for(info, diagnostic.severity),
        resource_id: diagnostic.resource_id,
        subscription_id: Arc::clone(subscription_id),
        message: diagnostic.message,
        remediation: diagnostic.remediation,
        evidence: diagnostic.evidence.build(),
        help_uri: Cow::Borrowed(info.help_uri),
        program: diagnostic.program.map(Cow::Borrowed),
        suppressed: None,
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
    if reason.code.as_deref() == Some(NOT_IN_SNAPSHOT) {
        return reason.message.trim().trim_end_matches('.').to_owned();
    }
    let throttled = is_throttled(reason);
    let what = match reason.kind {
        _ if throttled => "ARM throttled the read",
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
        _ if throttled => {
            if let Some(wait) = reason.retry_after_secs {
                let _ = write!(
                    text,
                    "; it asked to retry after {wait} s, past this run's deadline (--timeout)"
                );
            }
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
    if reason.code.as_deref() == Some(NOT_IN_SNAPSHOT) {
        "take the snapshot again with this version (`esu-preflight snapshot --output-file FILE`), \
         which reads ESU licenses and Arc machines, or check live with `esu-preflight check`"
            .to_owned()
    } else if is_access_denied(reason) {
        match (reason.action.as_deref(), reason.scope.as_deref()) {
            (Some(action), Some(scope)) => format!(
                "grant the signed-in identity a role with {action} on {scope} (Reader is enough \
                 for reads), or run esu-preflight as an identity that has it, then run it again"
            ),
            _ => "grant the signed-in identity read access (Reader) on the subscription, or run \
                  esu-preflight as an identity that has it, then run it again"
                .to_owned(),
        }
    } else if is_throttled(reason) {
        let wait = reason
            .retry_after_secs
            .map_or_else(|| "a few minutes".to_owned(), |secs| format!("{secs} s"));
        format!(
            "ARM limits how many reads one identity may send: wait {wait} and run esu-preflight \
             again, or give it a --timeout longer than that so it waits by itself; lower \
             --concurrency if it happens often"
        )
    } else {
        "run esu-preflight again; if it persists, check connectivity to Azure Resource Manager \
         (proxy, firewall, --arm-endpoint) and the details in this finding's evidence"
            .to_owned()
    }
}

/// Whether ARM throttled the read (429).
fn is_throttled(reason: &Unavailable) -> bool {
    reason.http_status == Some(429)
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

static CHECKS: [&dyn Check; 31] = [
    &SubscriptionNotUsable,
    &ResourceGroupMissing,
    &ProviderNotRegistered,
    &ProviderRegistrationNotPermitted,
    &LicenseWriteNotPermitted,
    &LicenseLinkNotPermitted,
    &DenyAssignmentBlocks,
    &DenyPolicyBlocksLicense,
    &DenyPolicyBlocksLicenseLink,
    &DenyPolicyBlocksProviderResources,
    &DenyPolicyUndetermined,
    &PolicyEvaluationDisagrees,
    &LicenseBelowCoreMinimum,
    &LicenseNotActivated,
    &LicenseTargetMismatch,
    &LicenseCoresInsufficient,
    &LicenseNameTaken,
    &LicenseEditionOrTypeMismatch,
    &LicenseRejectedByService,
    &LicenseVolumeLicensingNotAllowed,
    &LicenseOverCoreLimit,
    &ResourceGroupLicenseLimit,
    &MachineNotConnected,
    &AgentTooOld,
    &OsNotEligible,
    &EsuFreeEnvironment,
    &MachineNotLinked,
    &ServiceReportsIneligible,
    &EsuUpdatesNotInstalled,
    &WindowsEsuNamespaceUnavailable,
    &MakKeyProblem,
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

/// Runs every check over the whole input, purely.
///
/// Every subscription is checked: those in `scope.subscriptions` (in that order) and any other
/// the snapshot holds facts for. The rules every check shares are applied here (see the
/// [module docs](self)). The findings are sorted by [`Finding::sort_key`].
pub fn evaluate(input: &EvalInput<'_>) -> Vec<Finding> {
    let snapshot = input.snapshot;
    // Each subscription's id as its findings share it (made before the estate: it outlives it).
    let shared_ids: Vec<Arc<str>> = snapshot
        .subscriptions
        .iter()
        .map(|s| Arc::from(s.subscription_id.as_str()))
        .collect();
    let estate = estate::Estate::new(snapshot, input.plan);
    // About what a large estate makes (six machine checks per machine, a dozen license checks
    // per license): growing a vector of a million findings would copy it again and again.
    let mut findings =
        Vec::with_capacity(estate.machines().len() * 7 + estate.licenses().len() * 12 + 64);
    let mut seen = std::collections::HashSet::new();
    let in_scope = snapshot.scope.subscriptions.iter().map(String::as_str);
    let with_facts = snapshot
        .subscriptions
        .iter()
        .map(|s| s.subscription_id.as_str());
    // A planned license's subscription is checked too: without facts it is an inconclusive
    // ESU001, never a plan silently left unchecked.
    let planned = input
        .plan
        .licenses
        .iter()
        .filter_map(|l| l.subscription.as_deref())
        .chain(
            input
                .plan
                .mak_keys
                .iter()
                .filter_map(|k| k.subscription.as_deref()),
        );
    for id in in_scope.chain(with_facts).chain(planned) {
        if !seen.insert(id.to_ascii_lowercase()) {
            continue;
        }
        // As `snapshot.subscription(id)`, by position (for its shared id).
        let at = snapshot
            .subscriptions
            .iter()
            .position(|s| s.subscription_id.eq_ignore_ascii_case(id));
        match at {
            Some(at) => {
                let subscription = &snapshot.subscriptions[at];
                let shared_subscription_id = &shared_ids[at];
                let ctx = CheckCtx {
                    snapshot,
                    subscription,
                    plan: input.plan,
                    config: input.config,
                    now: input.now,
                    estate: &estate,
                    program: input.program,
                    mak: input.mak,
                    shared_subscription_id,
                };
                let checks: Vec<&dyn Check> = all()
                    .iter()
                    .copied()
                    .filter(|c| input.mak.runs(c.family()))
                    .collect();
                run_checks(&checks, &ctx, &mut findings);
            }
            None => {
                let scoped = snapshot
                    .scope
                    .subscriptions
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(id));
                no_facts(id, scoped, input.config, &mut findings);
            }
        }
    }
    sort_findings(&mut findings);
    crate::config::apply_suppressions(&mut findings, &input.config.suppress, input.now);
    findings
}

/// Sorts findings by [`Finding::sort_key`], stably, as `sort_by` would: their positions are
/// sorted, then each finding is moved once (a finding is large, and merging moves it often).
fn sort_findings(findings: &mut [Finding]) {
    if findings.is_sorted_by(|a, b| a.sort_key() <= b.sort_key()) {
        return;
    }
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by(|&a, &b| findings[a].sort_key().cmp(&findings[b].sort_key()));
    // Apply the permutation in place, cycle by cycle: position `k` takes the finding at
    // `order[k]`; a position done is marked `usize::MAX`.
    for start in 0..order.len() {
        let mut k = start;
        while order[k] != usize::MAX {
            let from = order[k];
            order[k] = usize::MAX;
            if from == start {
                break;
            }
            findings.swap(k, from);
            k = from;
        }
    }
}

/// Runs `checks` in turn on one subscription ([`run_check`]); the six machine checks together,
/// machine by machine, where the shared rules let them run (the same findings, faster on a
/// large estate: see `machines::run_together`).
fn run_checks(checks: &[&dyn Check], ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
    let mut at = 0;
    while let Some(&check) = checks.get(at) {
        if let Some(together) = machines::starts_together(&checks[at..])
            && subscription::skipped_because_unusable(ctx).is_none()
            && Need::Machines.unavailable(ctx.subscription).is_none()
        {
            machines::run_together(ctx, out);
            at += together;
        } else {
            run_check(check, ctx, out);
            at += 1;
        }
    }
}

/// Runs one check on one subscription under the shared rules: skipped on an unusable
/// subscription, inconclusive when a needed fact is missing, else the check itself.
fn run_check(check: &dyn Check, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
    let info = check.info();
    if !check.runs_on_unusable_subscriptions()
        && let Some(skipped) = subscription::skipped_because_unusable(ctx)
    {
        // One `skipped` finding, unless the check has nothing to report on here at all.
        if !check.subjects(ctx).is_empty() {
            out.push(ctx.finding(info, skipped));
        }
        return;
    }
    let missing = check.needs().iter().find_map(|need| {
        need.unavailable(ctx.subscription)
            .map(|reason| (need, reason))
    });
    if let Some((need, reason)) = missing {
        // What the check reports on may itself come from the missing fact (the machines of an
        // unreadable machine list): then it is inconclusive on the subscription, never silent.
        let mut subjects = check.subjects(ctx);
        if subjects.is_empty() {
            subjects.push(Subject::new(ctx.subscription_resource_id()));
        }
        for subject in subjects {
            let mut diagnostic =
                Diagnostic::inconclusive(subject.resource_id, need.describe(), reason);
            for (key, value) in subject.evidence {
                diagnostic = diagnostic.with_evidence(&key, value);
            }
            out.push(ctx.finding(info, diagnostic));
        }
        return;
    }
    check.run(ctx, out);
}

/// The finding for a subscription in scope that the snapshot holds no facts for: ESU001 is
/// inconclusive (a subscription is never silently left out; it fails the run), and no other
/// check adds noise about it.
/// `scoped`: the subscription is in the snapshot's scope (otherwise only the plan names it).
fn no_facts(subscription_id: &str, scoped: bool, config: &Config, out: &mut Vec<Finding>) {
    let resource = format!("/subscriptions/{subscription_id}");
    let shared_subscription_id: Arc<str> = subscription_id.into();
    let (why, plan_flag) = if scoped {
        ("which is in its scope", "")
    } else {
        ("which the license plan names", " --license-plan PLAN")
    };
    for check in all().iter().filter(|c| c.runs_on_unusable_subscriptions()) {
        let info = check.info();
        let diagnostic = {
            Diagnostic::new(
                Status::Inconclusive,
                resource.clone(),
                format!("the snapshot holds no facts for subscription {subscription_id}, {why}"),
            )
            .remediation(format!(
                "take the snapshot again with `esu-preflight snapshot --subscription {subscription_id}\
                 {plan_flag} --output-file FILE`, or check it live with `esu-preflight check \
                 --subscription {subscription_id}{plan_flag}`"
            ))
            .evidence(serde_json::json!({ "inSnapshot": false }))
        };
        out.push(make_finding(
            info,
            config,
            &shared_subscription_id,
            diagnostic,
        ));
    }
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;
