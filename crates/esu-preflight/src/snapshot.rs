//! The snapshot: every fact the checks need, read from Azure once.
//!
//! A [`Snapshot`] is plain serde data. [`crate::gather`] builds one from ARM; `esu-preflight
//! snapshot` writes it to a file; `check --snapshot FILE` evaluates it offline. Other tools may
//! build one themselves. It never holds a token or any other secret.
//!
//! Every fact is a [`Fact`]: either the value that was read, or the reason it could not be read.
//! A check whose fact is unavailable reports `inconclusive` with that reason, never `pass`.
//!
//! # Where facts live (version 2)
//!
//! Facts are keyed by where they live in Azure, so a fact shared by many subscriptions is stored
//! once and a check can look across subscriptions:
//!
//! - per subscription ([`SubscriptionSnapshot`]): the subscription itself, its resource
//!   providers, the caller's permissions on it;
//! - per resource group ([`ResourceGroupSnapshot`], inside its subscription): whether it exists,
//!   the caller's permissions on it;
//! - access and policy at each of those scopes ([`ScopeAuthorization`]): the caller's role
//!   assignments, deny assignments, policy assignments and exemptions that apply there;
//! - tenant-wide ([`TenantSnapshot`]): definitions shared across subscriptions (policy, policy
//!   set and role definitions), in maps keyed by their lower-case ARM id.
//!
//! Later versions of esu-preflight add facts (licenses, machines, policy assignments) as new
//! fields with defaults: a file without them still loads.
//!
//! # Migration from version 1
//!
//! Version 1 held only the per-subscription facts (`subscription`, `providers`, `permissions`),
//! exactly as version 2 does. A version-1 file loads unchanged: the fields version 2 added
//! (`scope.resource_groups`, `scope.management_groups`, `subscriptions[].resource_groups`,
//! `tenant`) are empty, `snapshot_version` reads as 2 once loaded, and the report is the same as
//! before. A tool that writes snapshots itself only needs to write `"snapshot_version": 2`; it
//! may leave the new fields out.

pub use crate::fact::{Fact, Unavailable, UnavailableKind};
use crate::models::{
    Item, License, Machine, MultipleActivationKey, Permission, PolicyState, Provider,
    ResourceGroup, Subscription,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The snapshot format this version writes, and the newest it reads.
pub const SNAPSHOT_VERSION: u32 = 2;

/// The oldest snapshot format this version reads (see the [migration](self#migration-from-version-1)).
pub const OLDEST_SNAPSHOT_VERSION: u32 = 1;

/// Everything read from Azure for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version; see [`SNAPSHOT_VERSION`].
    pub snapshot_version: u32,
    /// The tool (and version) that wrote the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// The ARM endpoint the facts were read from, e.g. `https://management.azure.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm_endpoint: Option<String>,
    /// What was asked for.
    pub scope: Scope,
    /// The facts, one entry per subscription in scope, in the order of `scope.subscriptions`.
    pub subscriptions: Vec<SubscriptionSnapshot>,
    /// Facts shared by the whole tenant, stored once.
    #[serde(default, skip_serializing_if = "TenantSnapshot::is_empty")]
    pub tenant: TenantSnapshot,
    /// Who the facts were read as: whose role and deny assignments apply. `None` when not known
    /// (an older snapshot, or a token that names no object id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
    /// How the Arc machines and ESU licenses were read (ARM lists or Resource Graph) and why.
    /// `None` in older snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryNote>,
}

/// How a snapshot's machines and licenses were read, and why that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryNote {
    /// The source used (for every subscription, unless `reason` says otherwise).
    pub source: InventorySource,
    /// Why, in one line: the estimate that chose it, the flag that asked for it, or why
    /// Resource Graph was left for ARM lists.
    pub reason: String,
}

/// Where machines and licenses were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InventorySource {
    /// Per-subscription ARM lists (`GET …/Microsoft.HybridCompute/machines`, `…/licenses`).
    ArmLists,
    /// Azure Resource Graph queries over batches of subscriptions.
    ResourceGraph,
}

impl InventorySource {
    /// In words, e.g. `ARM lists`.
    pub fn describe(self) -> &'static str {
        match self {
            InventorySource::ArmLists => "ARM lists",
            InventorySource::ResourceGraph => "Resource Graph",
        }
    }
}

/// The signed-in identity, as its token names it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The Entra object id (`oid` claim) of the user, service principal or managed identity.
    pub object_id: String,
    /// The tenant (`tid` claim), when the token names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// A readable name (`upn`, `unique_name` or `appid` claim), for messages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The scope of a run: what the user asked to check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Subscription ids (GUIDs), lower-case, in the order given (the license plan's default
    /// subscription is the first). With `management_groups`, the subscriptions found below them.
    pub subscriptions: Vec<String>,
    /// Resource group names (`--resource-group`) the run is narrowed to, within each subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<String>,
    /// Management group ids (`--management-group`) whose subscriptions are checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub management_groups: Vec<String>,
}

impl Scope {
    /// A scope of these subscriptions.
    ///
    /// ```
    /// let scope = esu_preflight::snapshot::Scope::subscriptions(["00000000-0000-0000-0000-000000000000"]);
    /// assert_eq!(scope.subscriptions.len(), 1);
    /// ```
    pub fn subscriptions<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            subscriptions: ids.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Whether nothing at all is in scope.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty() && self.management_groups.is_empty()
    }
}

/// The facts about one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    /// The subscription GUID, lower-case.
    pub subscription_id: String,
    /// `GET /subscriptions/{id}`.
    pub subscription: Fact<Subscription>,
    /// `GET /subscriptions/{id}/providers` (all pages).
    pub providers: Fact<Vec<Provider>>,
    /// The caller's effective permissions at subscription scope
    /// (`GET /subscriptions/{id}/providers/Microsoft.Authorization/permissions`, all pages).
    pub permissions: Fact<Vec<Permission>>,
    /// The resource groups in scope (`--resource-group`, and the license plan's), in the order
    /// they were asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<ResourceGroupSnapshot>,
    /// The ESU licenses (`Microsoft.HybridCompute/licenses`, all pages), each decoded on its own.
    /// `None`: not read (a snapshot from before licenses were gathered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licenses: Option<Fact<Vec<Item<License>>>>,
    /// The Arc-enabled machines (`Microsoft.HybridCompute/machines`, all pages), each decoded on
    /// its own. `None`: not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machines: Option<Fact<Vec<Item<Machine>>>>,
    /// The compliance states of each program's built-in ESU patch policy in the subscription, by
    /// the policy definition's GUID (lower-case); a definition absent from the map was not read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub patch_states: BTreeMap<String, Fact<Vec<PolicyState>>>,
    /// The service's own dry run (`validateLicense`) of each license planned in the subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub license_validations: Vec<LicenseValidation>,
    /// The access and policy facts at subscription scope (role, deny and policy assignments,
    /// exemptions); each `None` until read.
    #[serde(default, skip_serializing_if = "ScopeAuthorization::is_empty")]
    pub authorization: ScopeAuthorization,
    /// The management groups above the subscription, nearest first (names), when known: where
    /// an inherited assignment's `notScopes` or an exemption at a management group applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_groups: Option<Vec<String>>,
    /// The service's own policy pre-check (`checkPolicyRestrictions`) of each resource the plan
    /// would create in the subscription (licenses, license profiles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_restrictions: Vec<PolicyRestrictionCheck>,
    /// The Windows Server 2008 / 2008 R2 ESU Multiple Activation Keys
    /// (`Microsoft.WindowsESU/multipleActivationKeys`, all pages), each decoded on its own, without
    /// the product key. `None`: not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mak_keys: Option<Fact<Vec<Item<MultipleActivationKey>>>>,
}

/// Access and policy facts that apply at one scope (a subscription or a resource group).
///
/// The payloads are kept as ARM sent them (`serde_json::Value`): a new or malformed property
/// never breaks reading the rest; the checks that read one say so when it is malformed.
/// `None`: not read (an older snapshot, or gather was not asked for it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeAuthorization {
    /// The caller's role assignments that apply at this scope, inherited ones included: what
    /// `roleAssignments?$filter=atScope() and assignedTo('{objectId}')` lists (gather reads the
    /// subscription's list once and keeps, for each scope, those made at it or above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_assignments: Option<Fact<Vec<serde_json::Value>>>,
    /// The deny assignments that apply at this scope (`denyAssignments?$filter=atScope()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_assignments: Option<Fact<Vec<serde_json::Value>>>,
    /// The policy assignments that apply at this scope, management-group ones included: what
    /// `policyAssignments?$filter=atScope()` lists (read as the role assignments are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_assignments: Option<Fact<Vec<serde_json::Value>>>,
    /// The policy exemptions that apply at this scope: what `policyExemptions?$filter=atScope()`
    /// lists (a preview API; read as the role assignments are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_exemptions: Option<Fact<Vec<serde_json::Value>>>,
}

impl ScopeAuthorization {
    /// Whether nothing was read at this scope.
    pub fn is_empty(&self) -> bool {
        self.role_assignments.is_none()
            && self.deny_assignments.is_none()
            && self.policy_assignments.is_none()
            && self.policy_exemptions.is_none()
    }

    /// The facts that could not be read, by name, for [`SubscriptionSnapshot::unavailable`].
    fn unavailable<'a>(&'a self, at: &str) -> Vec<(String, Option<&'a Unavailable>)> {
        [
            ("role assignments", &self.role_assignments),
            ("deny assignments", &self.deny_assignments),
            ("policy assignments", &self.policy_assignments),
            ("policy exemptions", &self.policy_exemptions),
        ]
        .into_iter()
        .map(|(name, fact)| {
            (
                format!("{name}{at}"),
                fact.as_ref().and_then(Fact::unavailable),
            )
        })
        .collect()
    }
}

/// The service's policy pre-check of one planned resource
/// (`POST …/Microsoft.PolicyInsights/checkPolicyRestrictions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRestrictionCheck {
    /// The ARM id the planned resource will have (a license, or a machine's license profile).
    pub resource_id: String,
    /// Its type, e.g. `Microsoft.HybridCompute/licenses`.
    pub resource_type: String,
    /// The answer (`fieldRestrictions`, `contentEvaluationResult`) as ARM sent it, or why there
    /// is none. A caller without `Microsoft.PolicyInsights/checkPolicyRestrictions/read` is
    /// unavailable with kind `forbidden`.
    pub answer: Fact<serde_json::Value>,
}

/// What the service said of a planned license (`POST …/Microsoft.HybridCompute/validateLicense`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseValidation {
    /// The ARM id the planned license will have.
    pub license_id: String,
    /// The answer.
    pub outcome: ValidationOutcome,
}

/// The service's answer to a `validateLicense` dry run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValidationOutcome {
    /// The service would create the license.
    Accepted,
    /// The service would refuse it: the ARM error it gave.
    Rejected {
        /// The HTTP status.
        http_status: u16,
        /// The ARM error code, e.g. `InvalidParameter`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// The service's message.
        message: String,
    },
    /// The signed-in identity lacks the action, so the dry run was not asked for.
    NotPermitted {
        /// The missing action, `Microsoft.HybridCompute/validateLicense/action`.
        action: String,
    },
    /// The dry run could not be done (permissions unreadable, throttled, unreachable…).
    Unavailable {
        /// Why.
        reason: Unavailable,
    },
}

impl SubscriptionSnapshot {
    /// A subscription whose every fact is unavailable for `reason`.
    pub fn unavailable_for(subscription_id: impl Into<String>, reason: Unavailable) -> Self {
        Self {
            subscription_id: subscription_id.into(),
            subscription: Fact::Unavailable {
                reason: reason.clone(),
            },
            providers: Fact::Unavailable {
                reason: reason.clone(),
            },
            permissions: Fact::Unavailable { reason },
            resource_groups: Vec::new(),
            licenses: None,
            machines: None,
            patch_states: BTreeMap::new(),
            license_validations: Vec::new(),
            authorization: ScopeAuthorization::default(),
            management_groups: None,
            policy_restrictions: Vec::new(),
            mak_keys: None,
        }
    }

    /// The facts that could not be read, by name (`subscription`, `providers`, `permissions`,
    /// `resource group NAME`, `permissions on resource group NAME`, `licenses`, `machines`,
    /// `states of policy GUID`, `dry run of LICENSE_ID`, `role assignments`, `policy assignments
    /// on resource group NAME`, `policy pre-check of RESOURCE_ID`…).
    pub fn unavailable(&self) -> impl Iterator<Item = (String, &Unavailable)> {
        let mut facts: Vec<(String, Option<&Unavailable>)> = vec![
            ("subscription".to_owned(), self.subscription.unavailable()),
            ("providers".to_owned(), self.providers.unavailable()),
            ("permissions".to_owned(), self.permissions.unavailable()),
        ];
        facts.extend(self.authorization.unavailable(""));
        for rg in &self.resource_groups {
            facts.push((
                format!("resource group {}", rg.name),
                rg.group.unavailable(),
            ));
            facts.push((
                format!("permissions on resource group {}", rg.name),
                rg.permissions.unavailable(),
            ));
            facts.extend(
                rg.authorization
                    .unavailable(&format!(" on resource group {}", rg.name)),
            );
        }
        facts.push((
            "licenses".to_owned(),
            self.licenses.as_ref().and_then(Fact::unavailable),
        ));
        facts.push((
            "machines".to_owned(),
            self.machines.as_ref().and_then(Fact::unavailable),
        ));
        facts.push((
            "MAK keys".to_owned(),
            self.mak_keys.as_ref().and_then(Fact::unavailable),
        ));
        for (definition, states) in &self.patch_states {
            facts.push((
                format!("states of policy {definition}"),
                states.unavailable(),
            ));
        }
        for validation in &self.license_validations {
            if let ValidationOutcome::Unavailable { reason } = &validation.outcome {
                facts.push((
                    format!("dry run of {}", validation.license_id),
                    Some(reason),
                ));
            }
        }
        for check in &self.policy_restrictions {
            facts.push((
                format!("policy pre-check of {}", check.resource_id),
                check.answer.unavailable(),
            ));
        }
        facts
            .into_iter()
            .filter_map(|(name, reason)| reason.map(|reason| (name, reason)))
    }

    /// The resource group `name` (case-insensitive), if it is in the snapshot.
    pub fn resource_group(&self, name: &str) -> Option<&ResourceGroupSnapshot> {
        self.resource_groups
            .iter()
            .find(|rg| rg.name.eq_ignore_ascii_case(name))
    }
}

/// The facts about one resource group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceGroupSnapshot {
    /// The name, as asked for.
    pub name: String,
    /// `GET /subscriptions/{id}/resourcegroups/{name}`: the group, or `None` when ARM says it
    /// does not exist (404).
    pub group: Fact<Option<ResourceGroup>>,
    /// The caller's effective permissions on the group (inherited ones included).
    pub permissions: Fact<Vec<Permission>>,
    /// The access and policy facts at the group's scope.
    #[serde(default, skip_serializing_if = "ScopeAuthorization::is_empty")]
    pub authorization: ScopeAuthorization,
}

/// Facts shared by the whole tenant, each stored once, keyed by lower-case ARM id.
///
/// Policy and role definitions are referenced by assignments in many subscriptions; gather reads
/// each once. Their typed models arrive with the checks that read them: until then they are the
/// payload as ARM sent it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    /// Policy definitions (built-in, management group, subscription), by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy_definitions: BTreeMap<String, Fact<serde_json::Value>>,
    /// Policy set definitions (initiatives), by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy_set_definitions: BTreeMap<String, Fact<serde_json::Value>>,
    /// Role definitions, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub role_definitions: BTreeMap<String, Fact<serde_json::Value>>,
}

impl TenantSnapshot {
    /// Whether no tenant-wide fact is held.
    pub fn is_empty(&self) -> bool {
        self.policy_definitions.is_empty()
            && self.policy_set_definitions.is_empty()
            && self.role_definitions.is_empty()
    }
}

/// Why a snapshot file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read snapshot file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON, or not a snapshot.
    #[error("{}:{line}:{column}: not a valid snapshot: {}{message}", path.display(), field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// Where in the document, e.g. `subscriptions[0].providers`, when known.
        field: Option<String>,
        /// What was wrong, in words (not Rust type names).
        message: String,
    },
    /// The snapshot was written by a newer esu-preflight, or names a version that never existed.
    #[error(
        "{}: snapshot_version {found} is not supported: this esu-preflight reads versions {oldest} to {supported}{}",
        path.display(),
        if *found > u64::from(*supported) { "; upgrade esu-preflight" } else { "" }
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The oldest version this build reads.
        oldest: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The snapshot names no subscription: there is nothing to check.
    #[error("{}: nothing to check: the snapshot's scope names no subscription", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl Snapshot {
    /// An empty snapshot for `scope`, to be filled in.
    pub fn new(scope: Scope) -> Self {
        Self {
            snapshot_version: SNAPSHOT_VERSION,
            generator: Some(concat!("esu-preflight ", env!("CARGO_PKG_VERSION")).to_owned()),
            arm_endpoint: None,
            scope,
            subscriptions: Vec::new(),
            tenant: TenantSnapshot::default(),
            caller: None,
            inventory: None,
        }
    }

    /// Reads a snapshot file written by `esu-preflight snapshot` (or by another tool).
    ///
    /// The version is checked before the structure, so a snapshot from a newer version is
    /// reported as such rather than as a confusing parse error. See [`Snapshot::from_json`].
    pub fn load(path: &Path) -> Result<Self, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parses a snapshot from JSON text; `path` is used in error messages only.
    ///
    /// Versions [`OLDEST_SNAPSHOT_VERSION`] to [`SNAPSHOT_VERSION`] are read (older ones are
    /// migrated, see the [module docs](self#migration-from-version-1)); a snapshot whose scope
    /// and facts name no subscription is refused ([`SnapshotError::Empty`]). Errors name the
    /// line, column and field, in words.
    ///
    /// ```
    /// use std::path::Path;
    /// let err = esu_preflight::Snapshot::from_json(
    ///     r#"{"snapshot_version": 2, "scope": {"subscriptions": "s"}, "subscriptions": []}"#,
    ///     Path::new("snap.json"),
    /// )
    /// .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "snap.json:1:54: not a valid snapshot: scope.subscriptions: expected a list, found the string \"s\""
    /// );
    /// ```
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SnapshotError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            snapshot_version: u64,
        }
        let unsupported = |found: u64| SnapshotError::UnsupportedVersion {
            path: path.to_owned(),
            found,
            oldest: OLDEST_SNAPSHOT_VERSION,
            supported: SNAPSHOT_VERSION,
        };
        let supported = u64::from(OLDEST_SNAPSHOT_VERSION)..=u64::from(SNAPSHOT_VERSION);
        // One pass when the file is a snapshot (a large one is read once); when it is not, the
        // version is looked at first, so a newer version is reported as such.
        let mut snapshot: Snapshot = match parse(text, path) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                let version: VersionOnly = parse(text, path)?;
                if !supported.contains(&version.snapshot_version) {
                    return Err(unsupported(version.snapshot_version));
                }
                return Err(error);
            }
        };
        if !supported.contains(&u64::from(snapshot.snapshot_version)) {
            return Err(unsupported(u64::from(snapshot.snapshot_version)));
        }
        // Version 1 is version 2 without the added fields, which default to empty.
        snapshot.snapshot_version = SNAPSHOT_VERSION;
        if snapshot.scope.is_empty() && snapshot.subscriptions.is_empty() {
            return Err(SnapshotError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(snapshot)
    }

    /// Writes the snapshot as pretty-printed JSON, ending with a newline, as it serialises (no
    /// second copy of a large snapshot in memory). Buffer `out` if it is a file.
    ///
    /// ```
    /// let snapshot = esu_preflight::snapshot::Snapshot::new(
    ///     esu_preflight::snapshot::Scope::subscriptions(["00000000-0000-0000-0000-000000000000"]),
    /// );
    /// let mut out = Vec::new();
    /// snapshot.write_json_pretty(&mut out)?;
    /// assert_eq!(out, snapshot.to_json_pretty().into_bytes());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// What writing to `out` fails with.
    pub fn write_json_pretty(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut out, self).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    }

    /// The snapshot as pretty-printed JSON, ending with a newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("a snapshot is plain data and always serializes");
        text.push('\n');
        text
    }

    /// The facts of subscription `id` (case-insensitive), if the snapshot has them.
    pub fn subscription(&self, id: &str) -> Option<&SubscriptionSnapshot> {
        self.subscriptions
            .iter()
            .find(|s| s.subscription_id.eq_ignore_ascii_case(id))
    }
}

/// Deserializes `text`, turning an error into [`SnapshotError::Parse`] with the field's path.
fn parse<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, SnapshotError> {
    let error = |field: Option<String>, inner: &serde_json::Error| SnapshotError::Parse {
        path: path.to_owned(),
        line: inner.line(),
        column: inner.column().max(1),
        field,
        message: crate::serde_text::humanize(&inner.to_string()),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = e.path().to_string();
        error((field != ".").then_some(field), e.inner())
    })?;
    deserializer.end().map_err(|e| error(None, &e))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("snap.json")
    }

    #[test]
    fn newer_version_is_refused_before_structure() {
        let err =
            Snapshot::from_json(r#"{"snapshot_version": 99, "other": true}"#, path()).unwrap_err();
        assert!(matches!(
            err,
            SnapshotError::UnsupportedVersion { found: 99, .. }
        ));
        assert!(err.to_string().contains("upgrade"));
    }

    const MINIMAL_V1: &str = r#"{
  "snapshot_version": 1,
  "scope": { "subscriptions": ["s"] },
  "subscriptions": [
    {
      "subscription_id": "s",
      "subscription": { "status": "available", "value": { "state": "Enabled" } },
      "providers": { "status": "available", "value": [] },
      "permissions": { "status": "unavailable", "reason": { "kind": "forbidden", "message": "no" } }
    }
  ]
}"#;

    /// A file that is a snapshot in every other way is still refused for its version.
    #[test]
    fn newer_version_is_refused_even_when_the_structure_reads() {
        let newer = MINIMAL_V1.replace("\"snapshot_version\": 1", "\"snapshot_version\": 3");
        let err = Snapshot::from_json(&newer, path()).unwrap_err();
        assert!(
            matches!(err, SnapshotError::UnsupportedVersion { found: 3, .. }),
            "{err:?}"
        );
        let zero = MINIMAL_V1.replace("\"snapshot_version\": 1", "\"snapshot_version\": 0");
        let err = Snapshot::from_json(&zero, path()).unwrap_err();
        assert!(
            matches!(err, SnapshotError::UnsupportedVersion { found: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn version_1_loads_as_version_2() {
        let snapshot = Snapshot::from_json(MINIMAL_V1, path()).unwrap();
        assert_eq!(snapshot.snapshot_version, SNAPSHOT_VERSION);
        assert!(snapshot.tenant.is_empty());
        assert!(snapshot.subscriptions[0].resource_groups.is_empty());
        // Written back, it is a version-2 file that loads to the same snapshot.
        let again = Snapshot::from_json(&snapshot.to_json_pretty(), path()).unwrap();
        assert_eq!(again, snapshot);
        assert!(
            snapshot
                .to_json_pretty()
                .contains("\"snapshot_version\": 2")
        );
    }

    #[test]
    fn version_0_and_empty_snapshots_are_refused() {
        let zero = MINIMAL_V1.replace("\"snapshot_version\": 1", "\"snapshot_version\": 0");
        let err = Snapshot::from_json(&zero, path()).unwrap_err();
        assert!(matches!(
            err,
            SnapshotError::UnsupportedVersion { found: 0, .. }
        ));
        assert_eq!(
            err.to_string(),
            "snap.json: snapshot_version 0 is not supported: this esu-preflight reads versions 1 to 2"
        );
        let empty =
            r#"{"snapshot_version": 2, "scope": {"subscriptions": []}, "subscriptions": []}"#;
        let err = Snapshot::from_json(empty, path()).unwrap_err();
        assert!(matches!(err, SnapshotError::Empty { .. }));
        assert!(err.to_string().contains("nothing to check"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_field_in_words() {
        let cases = [
            (
                MINIMAL_V1.replace("\"subscription_id\": \"s\"", "\"subscription_id\": 5"),
                "subscriptions[0].subscription_id: expected a string, found the number 5",
            ),
            (
                MINIMAL_V1.replace("{ \"status\": \"available\", \"value\": [] }", "[]"),
                "subscriptions[0].providers: expected a fact: {\"status\": \"available\"",
            ),
            (
                MINIMAL_V1.replace("\"scope\": { \"subscriptions\": [\"s\"] },", ""),
                "missing field \"scope\"",
            ),
            (
                format!("{MINIMAL_V1} trailing"),
                "not a valid snapshot: trailing characters",
            ),
        ];
        for (text, expected) in cases {
            let err = Snapshot::from_json(&text, path()).unwrap_err().to_string();
            assert!(err.starts_with("snap.json:"), "{err}");
            assert!(err.contains(expected), "{err}\nexpected: {expected}");
            assert!(!err.contains("struct "), "{err}");
            assert!(!err.contains("enum "), "{err}");
        }
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let err =
            Snapshot::from_json("{\n  \"snapshot_version\": 1,\n  oops\n}", path()).unwrap_err();
        match err {
            SnapshotError::Parse { line, column, .. } => {
                assert_eq!((line, column), (3, 3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_error_at_a_line_break_has_column_1() {
        // A control character (the line break) inside a string.
        let err = Snapshot::from_json("\"\n", path()).unwrap_err();
        assert!(err.to_string().starts_with("snap.json:2:1:"), "{err}");
    }

    #[test]
    fn facts_round_trip() {
        let fact: Fact<Vec<Permission>> = Fact::Unavailable {
            reason: Unavailable {
                kind: UnavailableKind::Forbidden,
                http_status: Some(403),
                code: Some("AuthorizationFailed".into()),
                message: "no".into(),
                action: Some("Microsoft.Authorization/permissions/read".into()),
                scope: Some("/subscriptions/x".into()),
                retry_after_secs: None,
            },
        };
        let json = serde_json::to_value(&fact).unwrap();
        assert_eq!(json["status"], "unavailable");
        assert_eq!(json["reason"]["kind"], "forbidden");
        let back: Fact<Vec<Permission>> = serde_json::from_value(json).unwrap();
        assert_eq!(back, fact);
    }

    #[test]
    fn unavailable_facts_are_listed_by_name() {
        let reason = Unavailable {
            kind: UnavailableKind::HttpError,
            http_status: Some(500),
            code: None,
            message: "boom".into(),
            action: None,
            scope: None,
            retry_after_secs: None,
        };
        let sub = SubscriptionSnapshot {
            subscription_id: "s".into(),
            subscription: Fact::Unavailable {
                reason: reason.clone(),
            },
            providers: Fact::Available { value: Vec::new() },
            permissions: Fact::Unavailable {
                reason: reason.clone(),
            },
            resource_groups: vec![ResourceGroupSnapshot {
                name: "rg-esu".into(),
                group: Fact::Available { value: None },
                permissions: Fact::Unavailable {
                    reason: reason.clone(),
                },
                authorization: ScopeAuthorization {
                    policy_assignments: Some(Fact::Unavailable {
                        reason: reason.clone(),
                    }),
                    ..Default::default()
                },
            }],
            licenses: None,
            machines: Some(Fact::Unavailable {
                reason: reason.clone(),
            }),
            patch_states: BTreeMap::from([(
                "14b4e776".to_owned(),
                Fact::Unavailable {
                    reason: reason.clone(),
                },
            )]),
            license_validations: vec![
                LicenseValidation {
                    license_id: "/l1".into(),
                    outcome: ValidationOutcome::Accepted,
                },
                LicenseValidation {
                    license_id: "/l2".into(),
                    outcome: ValidationOutcome::Unavailable {
                        reason: reason.clone(),
                    },
                },
            ],
            authorization: Default::default(),
            management_groups: None,
            policy_restrictions: Vec::new(),
            mak_keys: None,
        };
        let names: Vec<_> = sub.unavailable().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                "subscription",
                "permissions",
                "permissions on resource group rg-esu",
                "policy assignments on resource group rg-esu",
                "machines",
                "states of policy 14b4e776",
                "dry run of /l2"
            ]
        );
    }

    #[test]
    fn unknown_unavailable_kind_is_other() {
        let reason: Unavailable =
            serde_json::from_str(r#"{"kind":"quota_exhausted","message":"m"}"#).unwrap();
        assert_eq!(reason.kind, UnavailableKind::Other);
    }
}
