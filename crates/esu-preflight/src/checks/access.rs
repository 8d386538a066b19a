//! ESU201 license-write-not-permitted, ESU202 license-link-not-permitted and ESU203
//! deny-assignment-blocks: may the signed-in identity create ESU licenses and link them to
//! machines where the plan (or the estate) needs it.
//!
//! # Where
//!
//! - Licenses (ESU201): the resource groups of the plan's licenses in this subscription; without
//!   a plan, the groups that hold ESU licenses, else the groups the run is narrowed to
//!   (`--resource-group`), else the subscription. One finding per scope.
//! - Links (ESU202): the resource groups of the machines to link — the plan's machines; without
//!   a plan, the machines ESU505 asks to link (eligible, no license linked, not where ESU is
//!   free). One finding per resource group, naming its machines: the right to write a license
//!   profile is granted per scope, and a fleet of hundreds of machines in one group is one
//!   answer, not hundreds.
//! - Deny assignments (ESU203): every scope of ESU201 and ESU202, for the action that matters
//!   there. One finding per (scope, deny assignment) that blocks or may block; one pass per
//!   scope otherwise.
//!
//! # How
//!
//! The verdict comes from the caller's effective permissions at the scope
//! (`Microsoft.Authorization/permissions`: group memberships and inherited assignments
//! included) with Azure's semantics ([`crate::permissions::is_allowed`]). Permissions read on
//! the subscription are inherited by its groups: a grant there settles a group whose own
//! permissions were not read, and a group that does not exist yet gets exactly the
//! subscription's. The caller's role assignments, joined with the role definitions, only make
//! the evidence (which assignment grants the action): unreadable, they weaken the evidence, never
//! the verdict. A fact that could not be read, or that the snapshot was taken without, is
//! `inconclusive` with the reason — never `pass`.

use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, NOT_IN_SNAPSHOT, Need, Subject};
use crate::finding::{Finding, Severity, Status};
use crate::models::Permission;
use crate::permissions::is_allowed;
use crate::plan::PlannedLicense;
use crate::programs;
use crate::snapshot::{Fact, ScopeAuthorization, Unavailable, UnavailableKind};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// ESU201: the caller lacks `Microsoft.HybridCompute/licenses/write` where a license is to be
/// created.
#[derive(Debug, Clone, Copy, Default)]
pub struct LicenseWriteNotPermitted;

/// ESU202: the caller lacks `Microsoft.HybridCompute/machines/licenseProfiles/write` on a
/// machine to be linked.
#[derive(Debug, Clone, Copy, Default)]
pub struct LicenseLinkNotPermitted;

/// ESU203: a deny assignment covers license creation or linking for the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAssignmentBlocks;

/// The action that creates (and updates) an ESU license.
pub const LICENSE_WRITE: &str = "Microsoft.HybridCompute/licenses/write";
/// The action that links a machine to an ESU license (its license profile).
pub const LICENSE_PROFILE_WRITE: &str = "Microsoft.HybridCompute/machines/licenseProfiles/write";
/// Reading licenses (noted in ESU201's evidence, never failed on).
const LICENSE_READ: &str = "Microsoft.HybridCompute/licenses/read";
/// The service's dry run of a license (noted in ESU201's evidence, never failed on).
const VALIDATE_LICENSE: &str = "Microsoft.HybridCompute/validateLicense/action";

/// The principal id of "everyone" in a deny assignment (type `SystemDefined`).
pub const EVERYONE: &str = "00000000-0000-0000-0000-000000000000";

/// The REST api-version of `Microsoft.Authorization` the remediations use.
const AUTHORIZATION_API: &str = "2022-04-01";

/// The built-in roles that grant both actions, as the remediations name them: Contributor, and
/// the narrower Azure Connected Machine Resource Administrator.
const GRANTING_ROLES: [(&str, &str); 2] = [
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
    (
        "Azure Connected Machine Resource Administrator",
        "cd570a14-e51a-42ad-bac8-bafd67325302",
    ),
];

/// Built-in roles by GUID, to name an assignment whose role definition was not read.
const BUILTIN_ROLES: [(&str, &str); 10] = [
    ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"),
    ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"),
    ("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader"),
    (
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "User Access Administrator",
    ),
    (
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        "Role Based Access Control Administrator",
    ),
    (
        "cd570a14-e51a-42ad-bac8-bafd67325302",
        "Azure Connected Machine Resource Administrator",
    ),
    (
        "f5819b54-e033-4d82-ac66-4fec3cbf3f4c",
        "Azure Connected Machine Resource Manager",
    ),
    (
        "b64e21ea-ac4e-4cdf-9dc9-5b892992bee7",
        "Azure Connected Machine Onboarding",
    ),
    (
        "a92dfd61-77f9-4aec-a531-19858b406c87",
        "Azure Arc ScVmm Administrator role",
    ),
    (
        "ddc140ed-e463-4246-9145-7c664192013f",
        "Azure Arc VMware Administrator role",
    ),
];

const RBAC_URI: &str = "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates#license-provisioning-issues";
const DENY_URI: &str =
    "https://learn.microsoft.com/azure/role-based-access-control/deny-assignments";

static WRITE_INFO: CheckInfo = CheckInfo {
    id: "ESU201",
    name: "license-write-not-permitted",
    default_severity: Severity::Error,
    summary: "The signed-in identity may not create ESU licenses where they are to be created.",
    help_uri: RBAC_URI,
    docs: CheckDocs {
        what_it_checks: "Evaluates the signed-in identity's effective permissions (GET \
{scope}/providers/Microsoft.Authorization/permissions: group memberships and inherited role \
assignments included) for Microsoft.HybridCompute/licenses/write, with Azure's rules (some \
permission entry grants it in actions and the same entry does not exclude it in notActions; \
wildcards; case-insensitive). Where: each resource group the license plan creates licenses in; \
without a plan, each resource group that holds ESU licenses, else the groups of --resource-group, \
else the subscription. One finding per scope. A grant read on the subscription settles its groups \
(it is inherited); a group that does not exist yet is judged on the subscription's permissions. \
The evidence names the role assignments that grant the action (the caller's assignments at the \
scope, inherited ones included, joined with their role definitions), and notes whether the \
identity may also read licenses (licenses/read) and ask the service's dry run \
(validateLicense/action) — neither fails the check. Permissions that could not be read make it \
inconclusive with the missing action and scope.",
        why_it_matters: "Creating an ESU license is a write on Microsoft.HybridCompute/licenses in \
its resource group. Microsoft's troubleshooting guide asks for Contributor or higher on the scope \
of ESU provisioning; without it the portal's ESU flow and `az connectedmachine license create` \
fail with AuthorizationFailed after the engineer has filled everything in. `az role assignment \
list` does not show rights that come through a group or a management group; the effective \
permissions do.",
        how_to_fix: "Have an Owner or User Access Administrator grant the identity Contributor, or \
the narrower Azure Connected Machine Resource Administrator (it can create licenses and link them \
but cannot register resource providers, see ESU102), on the resource group: `az role assignment \
create --assignee OBJECT_ID --role \"Azure Connected Machine Resource Administrator\" --scope \
/subscriptions/SUB/resourceGroups/RG`. The finding prints the command with the identity's object \
id and the scope. Or provision the licenses as an identity that has the right.",
        example_finding: "fail  ESU201  rg-esu  the signed-in identity may not create ESU \
licenses in resource group rg-esu (planned license esu-ws2012-dc): it lacks \
Microsoft.HybridCompute/licenses/write there",
    },
};

static LINK_INFO: CheckInfo = CheckInfo {
    id: "ESU202",
    name: "license-link-not-permitted",
    default_severity: Severity::Error,
    summary: "The signed-in identity may not link machines to an ESU license (write their license profile).",
    help_uri: RBAC_URI,
    docs: CheckDocs {
        what_it_checks: "Evaluates the signed-in identity's effective permissions on the resource \
group of each machine to be linked for Microsoft.HybridCompute/machines/licenseProfiles/write \
(Azure's rules, as ESU201). Which machines: those the license plan links; without a plan, those \
ESU505 asks to link (an eligible Windows Server edition of an ESU program, no license linked, not \
in an environment where the program's ESU is free). One finding per resource group, naming its \
machines (the right is granted per scope; a large fleet stays readable). The evidence names the \
role assignments that grant the action, or the roles that would. With nothing to link the check \
reports nothing.",
        why_it_matters: "Linking a machine to an ESU license writes the machine's license profile \
(PUT …/machines/NAME/licenseProfiles/default). Without the right, the license exists and is \
billed but the machine never receives its ESU key: the portal's link step, or a script, fails with \
AuthorizationFailed.",
        how_to_fix: "Have an Owner or User Access Administrator grant the identity Contributor or \
Azure Connected Machine Resource Administrator on the machines' resource group: `az role \
assignment create --assignee OBJECT_ID --role \"Azure Connected Machine Resource Administrator\" \
--scope /subscriptions/SUB/resourceGroups/RG` (Azure Connected Machine Resource Manager also has \
licenseProfiles/write but cannot create licenses). Or link the machines as an identity that has \
it.",
        example_finding: "fail  ESU202  rg-arc  the signed-in identity may not link 2 machines \
(srv-01, srv-02) to an ESU license: it lacks \
Microsoft.HybridCompute/machines/licenseProfiles/write on resource group rg-arc",
    },
};

static DENY_INFO: CheckInfo = CheckInfo {
    id: "ESU203",
    name: "deny-assignment-blocks",
    default_severity: Severity::Error,
    summary: "A deny assignment blocks creating ESU licenses or linking machines for the signed-in identity.",
    help_uri: DENY_URI,
    docs: CheckDocs {
        what_it_checks: "Reads the deny assignments that apply at each scope of ESU201 and ESU202 \
(GET {scope}/providers/Microsoft.Authorization/denyAssignments?$filter=atScope()) and fails for \
each one that covers the action needed there (licenses/write where licenses are created, \
machines/licenseProfiles/write where machines are linked; actions and notActions per entry, as \
for roles) for the signed-in identity: its principals name the identity's object id, or Everyone \
(00000000-0000-0000-0000-000000000000), and its excluded principals do not. An assignment at a \
parent scope with doNotApplyToChildScopes does not apply. A principal or excluded principal that \
is a group (the identity may be a member; esu-preflight does not ask Microsoft Graph), or an \
identity whose object id is not known, makes that assignment inconclusive, named. One finding per \
(scope, deny assignment) that blocks or may block; otherwise one pass per scope.",
        why_it_matters: "A deny assignment wins over every role: even an Owner cannot do what it \
denies. They are created by managed applications and by deployment stacks with deny settings, \
never by hand, so they are easy to miss; the ESU flow then fails with DenyAssignmentAuthorizationFailed.",
        how_to_fix: "A deny assignment cannot be removed directly. Find what created it (`az rest \
--method get --url \"DENY_ASSIGNMENT_ID?api-version=2022-04-01\"`): \
for a deployment stack, have its owner add the identity to the stack's excluded principals or \
excluded actions (`az stack group|sub|mg create … --deny-settings-excluded-principals \
OBJECT_ID`); for a managed application, work in a resource group outside its managed group. Or \
create the licenses and links in a scope it does not cover.",
        example_finding: "fail  ESU203  rg-esu  deny assignment stack-deny blocks \
Microsoft.HybridCompute/licenses/write on resource group rg-esu for everyone (assigned at \
/subscriptions/00000000-…/resourceGroups/rg-esu)",
    },
};

// ---------------------------------------------------------------------------------------------
// Where: the scopes each check looks at.

/// A scope inside the subscription being checked: a resource group, or the subscription itself.
#[derive(Debug, Clone)]
struct Place {
    /// The resource group's name (as the plan or the ids spell it); `None`: the subscription.
    rg: Option<String>,
    /// Its ARM id.
    id: String,
}

impl Place {
    fn new(subscription_id: &str, rg: Option<&str>) -> Self {
        let id = match rg {
            Some(rg) => format!("/subscriptions/{subscription_id}/resourceGroups/{rg}"),
            None => format!("/subscriptions/{subscription_id}"),
        };
        Self {
            rg: rg.map(str::to_owned),
            id,
        }
    }

    /// `resource group X` or `subscription Y`.
    fn describe(&self, ctx: &CheckCtx<'_>) -> String {
        match &self.rg {
            Some(rg) => format!("resource group {rg}"),
            None => format!("subscription {}", ctx.subscription_id()),
        }
    }
}

/// Why ESU201 looks at a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LicenseOrigin {
    /// The plan creates licenses there.
    Plan,
    /// Licenses exist there (no plan).
    Licenses,
    /// The run is narrowed to it (`--resource-group`; no plan, no license).
    ScopeGroup,
    /// Nothing says where licenses go (no plan, no license): the subscription stands in.
    Subscription,
}

/// A scope where licenses are (to be) created.
#[derive(Debug, Clone)]
struct LicenseScope<'a> {
    place: Place,
    origin: LicenseOrigin,
    /// The plan's licenses created there.
    planned: Vec<&'a PlannedLicense>,
    /// The names of the licenses that exist there (no plan).
    existing: Vec<String>,
}

impl LicenseScope<'_> {
    /// `(planned license a, b)`, `(licenses a, b)` or empty.
    fn why(&self) -> String {
        if !self.planned.is_empty() {
            let names: Vec<&str> = self.planned.iter().map(|l| l.name.as_str()).collect();
            format!(
                " (planned license{} {})",
                plural(names.len()),
                list(&names, 5)
            )
        } else if !self.existing.is_empty() {
            let names: Vec<&str> = self.existing.iter().map(String::as_str).collect();
            format!(
                " (which holds license{} {})",
                plural(names.len()),
                list(&names, 5)
            )
        } else {
            String::new()
        }
    }
}

/// The subscription the plan's licenses default to: the first in scope.
fn default_subscription<'a>(ctx: &CheckCtx<'a>) -> &'a str {
    ctx.snapshot
        .scope
        .subscriptions
        .first()
        .map_or("", String::as_str)
}

/// The plan's licenses of the run's program (all without `--program`).
fn planned<'a>(ctx: &CheckCtx<'a>) -> impl Iterator<Item = &'a PlannedLicense> + 'a {
    let program = ctx.program;
    ctx.plan.licenses.iter().filter(move |license| {
        program.is_none_or(|p| programs::by_target(&license.target).is_some_and(|lp| lp.id == p.id))
    })
}

/// The plan's licenses created in the subscription being checked.
fn planned_here<'a>(ctx: &CheckCtx<'a>) -> impl Iterator<Item = &'a PlannedLicense> + 'a {
    let default = default_subscription(ctx);
    let here = ctx.subscription_id();
    planned(ctx).filter(move |l| l.subscription_or(default).eq_ignore_ascii_case(here))
}

/// `(subscription, resource group)` of an ARM id below a resource group, if it is one.
fn split_id(id: &str) -> Option<(&str, &str)> {
    let mut segments = id.trim().trim_start_matches('/').split('/');
    let (Some(s), Some(sub), Some(g), Some(rg)) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    (s.eq_ignore_ascii_case("subscriptions")
        && g.eq_ignore_ascii_case("resourceGroups")
        && !sub.is_empty()
        && !rg.is_empty())
    .then_some((sub, rg))
}

/// The last segment of an ARM id (a machine's or a license's name).
fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// Adds `item` to the group of `rg` (case-insensitive), keeping first-seen order and spelling.
fn group_into<T>(groups: &mut Vec<(Option<String>, Vec<T>)>, rg: Option<&str>, item: T) {
    let found = groups.iter_mut().find(|(g, _)| match (g.as_deref(), rg) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    });
    match found {
        Some((_, items)) => items.push(item),
        None => groups.push((rg.map(str::to_owned), vec![item])),
    }
}

/// Where ESU201 looks in the subscription being checked (see the module docs).
fn license_scopes<'a>(ctx: &CheckCtx<'a>) -> Vec<LicenseScope<'a>> {
    let sub = ctx.subscription_id();
    if !ctx.plan.is_empty() {
        let mut groups: Vec<(Option<String>, Vec<&PlannedLicense>)> = Vec::new();
        for license in planned_here(ctx) {
            group_into(&mut groups, Some(&license.resource_group), license);
        }
        return groups
            .into_iter()
            .map(|(rg, planned)| LicenseScope {
                place: Place::new(sub, rg.as_deref()),
                origin: LicenseOrigin::Plan,
                planned,
                existing: Vec::new(),
            })
            .collect();
    }
    let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for license in ctx.estate.licenses_in(sub) {
        let rg = split_id(&license.license.id).map(|(_, rg)| rg);
        let name = if license.license.name.is_empty() {
            last_segment(&license.license.id).to_owned()
        } else {
            license.license.name.clone()
        };
        group_into(&mut groups, rg, name);
    }
    if !groups.is_empty() {
        return groups
            .into_iter()
            .map(|(rg, existing)| LicenseScope {
                place: Place::new(sub, rg.as_deref()),
                origin: if rg.is_some() {
                    LicenseOrigin::Licenses
                } else {
                    LicenseOrigin::Subscription
                },
                planned: Vec::new(),
                existing,
            })
            .collect();
    }
    let scope_groups = &ctx.snapshot.scope.resource_groups;
    if !scope_groups.is_empty() {
        return scope_groups
            .iter()
            .map(|rg| LicenseScope {
                place: Place::new(sub, Some(rg)),
                origin: LicenseOrigin::ScopeGroup,
                planned: Vec::new(),
                existing: Vec::new(),
            })
            .collect();
    }
    vec![LicenseScope {
        place: Place::new(sub, None),
        origin: LicenseOrigin::Subscription,
        planned: Vec::new(),
        existing: Vec::new(),
    }]
}

/// A resource group whose machines are to be linked.
#[derive(Debug, Clone)]
struct MachineGroup {
    /// The group, in the subscription being checked; for `Elsewhere`/`Unparsed`, its id as named.
    place: Place,
    /// The machines' ARM ids, as the plan or ARM spells them.
    machines: Vec<String>,
    /// The planned licenses that link them (empty without a plan).
    planned: Vec<String>,
    /// Where the group is.
    whereabouts: Whereabouts,
}

/// Whether the facts of a machine group's subscription are in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Whereabouts {
    /// In the subscription being checked.
    Here,
    /// In another subscription the snapshot holds no facts for (its id).
    Elsewhere(String),
    /// The plan names machines by ids that are not Arc machine ids.
    Unparsed,
}

/// The machine groups ESU202 looks at in the subscription being checked, or why they are not
/// known (no plan and the machine list unreadable).
enum MachineScopes<'a> {
    Groups(Vec<MachineGroup>),
    Unknown(&'a Unavailable),
}

fn machine_scopes<'a>(ctx: &CheckCtx<'a>) -> MachineScopes<'a> {
    let sub = ctx.subscription_id();
    let mut groups: Vec<MachineGroup> = Vec::new();
    // The machines already in each group (its index, the id in lower case): a group of a large
    // estate holds thousands.
    let mut seen: std::collections::HashSet<(usize, String)> = std::collections::HashSet::new();
    let mut add = |place: Place, whereabouts: Whereabouts, machine: &str, license: Option<&str>| {
        let found = groups.iter().position(|g| {
            g.whereabouts == whereabouts && g.place.id.eq_ignore_ascii_case(&place.id)
        });
        let index = found.unwrap_or_else(|| {
            groups.push(MachineGroup {
                place,
                machines: Vec::new(),
                planned: Vec::new(),
                whereabouts,
            });
            groups.len() - 1
        });
        let group = &mut groups[index];
        if seen.insert((index, machine.to_ascii_lowercase())) {
            group.machines.push(machine.to_owned());
        }
        if let Some(license) = license
            && !group.planned.iter().any(|l| l == license)
        {
            group.planned.push(license.to_owned());
        }
    };
    if !ctx.plan.is_empty() {
        let default = default_subscription(ctx);
        for license in planned(ctx) {
            let license_here = license.subscription_or(default).eq_ignore_ascii_case(sub);
            for machine in &license.machines {
                match split_id(machine) {
                    Some((msub, rg)) if msub.eq_ignore_ascii_case(sub) => add(
                        Place::new(sub, Some(rg)),
                        Whereabouts::Here,
                        machine,
                        Some(&license.name),
                    ),
                    Some((msub, rg))
                        if license_here && ctx.snapshot.subscription(msub).is_none() =>
                    {
                        add(
                            Place::new(msub, Some(rg)),
                            Whereabouts::Elsewhere(msub.to_owned()),
                            machine,
                            Some(&license.name),
                        );
                    }
                    Some(_) => {}
                    None if license_here => add(
                        Place::new(sub, None),
                        Whereabouts::Unparsed,
                        machine,
                        Some(&license.name),
                    ),
                    None => {}
                }
            }
        }
        return MachineScopes::Groups(groups);
    }
    if let Some(reason) = Need::Machines.unavailable(ctx.subscription) {
        return MachineScopes::Unknown(reason);
    }
    for machine in super::machines::link_candidates(ctx) {
        let rg = split_id(&machine.id).map(|(_, rg)| rg);
        let whereabouts = if rg.is_some() {
            Whereabouts::Here
        } else {
            Whereabouts::Unparsed
        };
        add(Place::new(sub, rg), whereabouts, &machine.id, None);
    }
    MachineScopes::Groups(groups)
}

impl MachineGroup {
    /// `2 machines (srv-01, srv-02)` or `machine srv-01`.
    fn describe_machines(&self) -> String {
        let names: Vec<&str> = self.machines.iter().map(|m| last_segment(m)).collect();
        if names.len() == 1 {
            format!("machine {}", names[0])
        } else {
            format!("{} machines ({})", names.len(), list(&names, 5))
        }
    }

    fn evidence(&self) -> Value {
        let mut evidence = json!({
            "resourceGroup": self.place.rg,
            "machines": self.machines,
        });
        if !self.planned.is_empty() {
            evidence["plannedLicenses"] = json!(self.planned);
        }
        evidence
    }
}

// ---------------------------------------------------------------------------------------------
// What: the caller's rights at a scope.

/// The caller's permissions that settle an action at a scope, or why they are not known.
enum Rights<'a> {
    /// Read at `at` (the scope itself, or the subscription above it, whose grants it inherits).
    Known {
        permissions: &'a [Permission],
        /// Where they were read.
        at: String,
        /// Why the subscription's permissions stand in for the group's, when they do.
        inherited: Option<&'static str>,
    },
    /// Not known: why.
    Unknown(Cow<'a, Unavailable>),
}

impl Rights<'_> {
    fn allows(&self, action: &str) -> Option<bool> {
        match self {
            Self::Known { permissions, .. } => Some(is_allowed(permissions, action)),
            Self::Unknown(_) => None,
        }
    }
}

/// The reason a fact is missing from a snapshot taken without it.
fn not_in_snapshot(ctx: &CheckCtx<'_>, what: String) -> Unavailable {
    let plan = if ctx.plan.is_empty() {
        ""
    } else {
        ", or without this license plan"
    };
    Unavailable {
        kind: UnavailableKind::Other,
        http_status: None,
        code: Some(NOT_IN_SNAPSHOT.to_owned()),
        message: format!(
            "the snapshot was taken without {what} (by an older esu-preflight{plan}); take it \
             again"
        ),
        action: None,
        scope: None,
        retry_after_secs: None,
    }
}

/// How to get a fact the snapshot of subscription `sub` was taken without.
fn snapshot_again(ctx: &CheckCtx<'_>, sub: &str) -> String {
    let plan = if ctx.plan.is_empty() {
        ""
    } else {
        " --license-plan PLAN"
    };
    format!(
        "take the snapshot again with this version (`esu-preflight snapshot --subscription \
         {sub}{plan} --output-file FILE`), or check live"
    )
}

/// The caller's permissions that settle `action` at `place` (see the module docs).
fn rights<'a>(ctx: &CheckCtx<'a>, place: &Place, action: &str) -> Rights<'a> {
    let subscription = ctx.subscription.permissions.as_result();
    let sub_id = ctx.subscription_resource_id();
    let Some(rg) = place.rg.as_deref() else {
        return match subscription {
            Ok(permissions) => Rights::Known {
                permissions,
                at: sub_id,
                inherited: None,
            },
            Err(reason) => Rights::Unknown(Cow::Borrowed(reason)),
        };
    };
    let group = ctx.subscription.resource_group(rg);
    if let Some(Ok(permissions)) = group.map(|g| g.permissions.as_result()) {
        return Rights::Known {
            permissions,
            at: place.id.clone(),
            inherited: None,
        };
    }
    let absent = group.is_some_and(|g| matches!(g.group.value(), Some(None)));
    match subscription {
        Ok(permissions) if is_allowed(permissions, action) => Rights::Known {
            permissions,
            at: sub_id,
            inherited: Some("granted on the subscription, inherited by the resource group"),
        },
        Ok(permissions) if absent => Rights::Known {
            permissions,
            at: sub_id,
            inherited: Some(
                "the resource group does not exist yet: it will have the subscription's \
                 permissions",
            ),
        },
        _ => match group.map(|g| g.permissions.as_result()) {
            Some(Err(reason)) => Rights::Unknown(Cow::Borrowed(reason)),
            _ => Rights::Unknown(Cow::Owned(not_in_snapshot(
                ctx,
                format!("the signed-in identity's permissions on resource group {rg}"),
            ))),
        },
    }
}

/// Where the access facts of a place come from.
#[derive(Clone, Copy)]
enum AuthSource<'a> {
    /// Read at the place itself (the subscription, or a group that exists).
    Own(&'a ScopeAuthorization),
    /// The group does not exist yet: the subscription's are all it will inherit.
    Absent,
    /// The group is not in the snapshot: the subscription's miss the group's own.
    Missing,
}

fn authorization_at<'a>(ctx: &CheckCtx<'a>, place: &Place) -> AuthSource<'a> {
    let subscription = &ctx.subscription.authorization;
    let Some(rg) = place.rg.as_deref() else {
        return AuthSource::Own(subscription);
    };
    match ctx.subscription.resource_group(rg) {
        Some(g) if matches!(g.group.value(), Some(None)) => AuthSource::Absent,
        Some(g) => AuthSource::Own(&g.authorization),
        None => AuthSource::Missing,
    }
}

/// The evidence about role assignments: which of the caller's assignments that apply at
/// `place` grant `action` (inherited ones included), and what could not be resolved.
fn role_evidence(ctx: &CheckCtx<'_>, place: &Place, action: &str) -> Map<String, Value> {
    let mut evidence = Map::new();
    let sub = || {
        (
            ctx.subscription.authorization.role_assignments.as_ref(),
            ctx.subscription_resource_id(),
        )
    };
    let (fact, read_at) = match authorization_at(ctx, place) {
        AuthSource::Own(own) if own.role_assignments.is_some() || place.rg.is_none() => {
            (own.role_assignments.as_ref(), place.id.clone())
        }
        // The subscription's list misses assignments on the group itself, but its grants apply.
        AuthSource::Own(_) | AuthSource::Absent | AuthSource::Missing => sub(),
    };
    evidence.insert("roleAssignmentsReadAt".into(), json!(read_at));
    let items = match fact {
        None => {
            evidence.insert(
                "roleAssignments".into(),
                json!("not in the snapshot (taken without role assignments): the granting assignment is not named"),
            );
            return evidence;
        }
        Some(Fact::Unavailable { reason }) => {
            evidence.insert(
                "roleAssignments".into(),
                json!(format!(
                    "could not be read ({}): the granting assignment is not named; the verdict \
                     comes from the effective permissions",
                    super::describe_unavailable(reason)
                )),
            );
            return evidence;
        }
        Some(Fact::Available { value }) => value,
    };
    let status = if ctx.snapshot.caller.is_some() {
        "read"
    } else {
        // Read without `assignedTo('{objectId}')`: other principals' assignments are listed too.
        "read, but the signed-in identity's object id is not known: these may be other \
         principals' assignments"
    };
    evidence.insert("roleAssignments".into(), json!(status));
    let mut granted = Vec::new();
    let mut unresolved = Vec::new();
    for item in items {
        let assignment = RoleAssignment::of(item);
        match resolve_role(ctx, &assignment) {
            Ok(role) if is_allowed(&role.permissions, action) => {
                granted.push(assignment.evidence(Some(&role.name)));
            }
            Ok(_) => {}
            Err(why) => {
                let mut entry = assignment.evidence(builtin_name(&assignment.role_guid()));
                entry["unresolved"] = json!(why);
                unresolved.push(entry);
            }
        }
    }
    evidence.insert("grantedBy".into(), Value::Array(granted));
    if !unresolved.is_empty() {
        evidence.insert("unresolvedAssignments".into(), Value::Array(unresolved));
    }
    evidence
}

/// What ESU201/ESU202 evidence needs of a role assignment item, read leniently.
struct RoleAssignment<'a> {
    id: Option<&'a str>,
    role_definition_id: Option<&'a str>,
    scope: Option<&'a str>,
    principal_id: Option<&'a str>,
    principal_type: Option<&'a str>,
    /// An ABAC condition (`properties.condition`): the grant may be narrower than the role.
    condition: Option<&'a str>,
}

impl<'a> RoleAssignment<'a> {
    fn of(item: &'a Value) -> Self {
        let p = &item["properties"];
        Self {
            id: item["id"].as_str(),
            role_definition_id: p["roleDefinitionId"].as_str(),
            scope: p["scope"].as_str(),
            principal_id: p["principalId"].as_str(),
            principal_type: p["principalType"].as_str(),
            condition: p["condition"].as_str().filter(|c| !c.trim().is_empty()),
        }
    }

    /// The role definition's GUID (its id's last segment), lower-case; empty when not named.
    fn role_guid(&self) -> String {
        self.role_definition_id
            .map(|id| last_segment(id).to_ascii_lowercase())
            .unwrap_or_default()
    }

    fn evidence(&self, role: Option<&str>) -> Value {
        let mut entry = json!({
            "role": role,
            "roleDefinitionId": self.role_definition_id,
            "assignmentId": self.id,
            "scope": self.scope,
            "principalId": self.principal_id,
            "principalType": self.principal_type,
        });
        if let Some(condition) = self.condition {
            entry["condition"] = json!(condition);
        }
        entry
    }
}

/// A role definition's name and permissions.
struct RoleDefinition {
    name: String,
    permissions: Vec<Permission>,
}

/// The definition of `assignment`'s role from the tenant's role definitions (matched on the
/// trailing GUID: ARM returns `roleDefinitionId` subscription-qualified), or why not.
fn resolve_role(
    ctx: &CheckCtx<'_>,
    assignment: &RoleAssignment<'_>,
) -> Result<RoleDefinition, String> {
    let guid = assignment.role_guid();
    if guid.is_empty() {
        return Err("the assignment names no roleDefinitionId (malformed)".to_owned());
    }
    let fact = ctx
        .snapshot
        .tenant
        .role_definitions
        .iter()
        .find(|(id, _)| last_segment(id).eq_ignore_ascii_case(&guid))
        .map(|(_, fact)| fact)
        .ok_or_else(|| format!("role definition {guid} is not in the snapshot"))?;
    let value = fact.as_result().map_err(|reason| {
        format!(
            "role definition {guid} could not be read: {}",
            super::describe_unavailable(reason)
        )
    })?;
    let properties = &value["properties"];
    let permissions: Vec<Permission> = serde_json::from_value(properties["permissions"].clone())
        .map_err(|e| format!("role definition {guid} is malformed: permissions: {e}"))?;
    let name = properties["roleName"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| builtin_name(&guid).map(str::to_owned))
        .unwrap_or_else(|| guid.clone());
    Ok(RoleDefinition { name, permissions })
}

fn builtin_name(guid: &str) -> Option<&'static str> {
    BUILTIN_ROLES
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(guid))
        .map(|(_, name)| *name)
}

/// The roles that would grant both actions, as evidence.
fn roles_that_grant() -> Value {
    GRANTING_ROLES
        .iter()
        .map(|(name, guid)| {
            json!({
                "role": name,
                "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
            })
        })
        .collect()
}

/// The `--assignee` of a remediation: the caller's object id, else a placeholder.
fn assignee(ctx: &CheckCtx<'_>) -> (String, &'static str) {
    match ctx.snapshot.caller.as_ref().map(|c| c.object_id.trim()) {
        Some(id) if !id.is_empty() => (id.to_owned(), ""),
        _ => (
            "OBJECT_ID".to_owned(),
            " (OBJECT_ID: the signed-in identity's object id, e.g. `az ad signed-in-user show \
             --query id --output tsv`)",
        ),
    }
}

/// What to do when the caller lacks `what` (creating licenses, linking machines) at `scope`.
fn grant_remediation(ctx: &CheckCtx<'_>, scope: &str, what: &str) -> String {
    let (assignee, note) = assignee(ctx);
    format!(
        "have an Owner or User Access Administrator of {scope} grant the signed-in identity \
         Contributor, or Azure Connected Machine Resource Administrator (it can {what} but cannot \
         register resource providers, see ESU102): `az role assignment create --assignee \
         {assignee} --role \"Azure Connected Machine Resource Administrator\" --scope {scope}`\
         {note}; or do it as an identity that has the right"
    )
}

/// Evidence of where the rights were read.
fn rights_evidence(rights: &Rights<'_>, action: &str) -> Map<String, Value> {
    let mut evidence = Map::new();
    evidence.insert("action".into(), json!(action));
    if let Rights::Known { at, inherited, .. } = rights {
        evidence.insert("permissionsReadAt".into(), json!(at));
        if let Some(why) = inherited {
            evidence.insert("inherited".into(), json!(why));
        }
    }
    evidence
}

// ---------------------------------------------------------------------------------------------
// ESU201

impl Check for LicenseWriteNotPermitted {
    fn info(&self) -> &'static CheckInfo {
        &WRITE_INFO
    }

    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        license_scopes(ctx)
            .into_iter()
            .map(|s| Subject::new(s.place.id))
            .collect()
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        for scope in license_scopes(ctx) {
            out.push(ctx.finding(&WRITE_INFO, write_diagnostic(ctx, &scope)));
        }
    }
}

fn write_diagnostic(ctx: &CheckCtx<'_>, scope: &LicenseScope<'_>) -> Diagnostic {
    let place = &scope.place;
    let rights = rights(ctx, place, LICENSE_WRITE);
    let mut evidence = rights_evidence(&rights, LICENSE_WRITE);
    evidence.insert("scope".into(), json!(place.id));
    if !scope.planned.is_empty() {
        let names: Vec<&str> = scope.planned.iter().map(|l| l.name.as_str()).collect();
        evidence.insert("plannedLicenses".into(), json!(names));
    }
    if !scope.existing.is_empty() {
        evidence.insert("licenses".into(), json!(scope.existing));
    }
    if scope.origin == LicenseOrigin::Subscription && place.rg.is_none() {
        evidence.insert(
            "where".into(),
            json!("no license plan and no license: the resource group licenses go to is not known, so the subscription is checked (give --license-plan to check the plan's groups)"),
        );
    }
    if scope.origin == LicenseOrigin::ScopeGroup {
        evidence.insert("where".into(), json!("--resource-group"));
    }
    let Some(allowed) = rights.allows(LICENSE_WRITE) else {
        let Rights::Unknown(reason) = &rights else {
            unreachable!("allows is None only for Unknown")
        };
        let mut d = Diagnostic::inconclusive(
            place.id.clone(),
            &format!(
                "the signed-in identity's permissions on {} (to evaluate {LICENSE_WRITE})",
                place.describe(ctx)
            ),
            reason,
        );
        if reason.code.as_deref() == Some(NOT_IN_SNAPSHOT) {
            d = d.remediation(snapshot_again(ctx, ctx.subscription_id()));
        }
        for (key, value) in evidence {
            d = d.with_evidence(&key, value);
        }
        return d;
    };
    evidence.insert("allowed".into(), json!(allowed));
    if let Some(read) = rights.allows(LICENSE_READ) {
        evidence.insert("mayReadLicenses".into(), json!(read));
    }
    if let Some(validate) = rights.allows(VALIDATE_LICENSE) {
        evidence.insert("mayValidateLicenses".into(), json!(validate));
    }
    evidence.extend(role_evidence(ctx, place, LICENSE_WRITE));
    let where_ = place.describe(ctx);
    let why = scope.why();
    let d = if allowed {
        Diagnostic::new(
            Status::Pass,
            place.id.clone(),
            format!(
                "the signed-in identity may create ESU licenses in {where_}{why}: it has \
                 {LICENSE_WRITE} there"
            ),
        )
    } else {
        evidence.insert("rolesThatGrant".into(), roles_that_grant());
        Diagnostic::new(
            Status::Fail,
            place.id.clone(),
            format!(
                "the signed-in identity may not create ESU licenses in {where_}{why}: it lacks \
                 {LICENSE_WRITE} there"
            ),
        )
        .remediation(grant_remediation(
            ctx,
            &place.id,
            "create ESU licenses and link them to machines",
        ))
    };
    d.evidence(Value::Object(evidence))
}

// ---------------------------------------------------------------------------------------------
// ESU202

impl Check for LicenseLinkNotPermitted {
    fn info(&self) -> &'static CheckInfo {
        &LINK_INFO
    }

    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        match machine_scopes(ctx) {
            MachineScopes::Groups(groups) => groups
                .into_iter()
                .map(|g| Subject::new(g.place.id))
                .collect(),
            MachineScopes::Unknown(_) => vec![Subject::new(ctx.subscription_resource_id())],
        }
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        match machine_scopes(ctx) {
            MachineScopes::Unknown(reason) => out.push(ctx.finding(
                &LINK_INFO,
                Diagnostic::inconclusive(
                    ctx.subscription_resource_id(),
                    "the subscription's Arc-enabled machines (to find the machines to link)",
                    reason,
                ),
            )),
            MachineScopes::Groups(groups) => {
                for group in groups {
                    out.push(ctx.finding(&LINK_INFO, link_diagnostic(ctx, &group)));
                }
            }
        }
    }
}

fn link_diagnostic(ctx: &CheckCtx<'_>, group: &MachineGroup) -> Diagnostic {
    let place = &group.place;
    let machines = group.describe_machines();
    match &group.whereabouts {
        Whereabouts::Here => {}
        Whereabouts::Elsewhere(sub) => {
            return Diagnostic::new(
                Status::Inconclusive,
                place.id.clone(),
                format!(
                    "whether the signed-in identity may link {machines} is not known: the \
                     snapshot holds no facts for their subscription {sub}"
                ),
            )
            .remediation(format!(
                "include the machines' subscription in the run (`--subscription {sub}`), then run \
                 esu-preflight again"
            ))
            .evidence(group.evidence());
        }
        Whereabouts::Unparsed => {
            return Diagnostic::new(
                Status::Inconclusive,
                place.id.clone(),
                format!(
                    "whether the signed-in identity may link {machines} is not known: their ids \
                     name no subscription and resource group"
                ),
            )
            .remediation(
                "name each machine by its full ARM id, \
                 /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.HybridCompute/machines/NAME",
            )
            .evidence(group.evidence());
        }
    }
    let rights = rights(ctx, place, LICENSE_PROFILE_WRITE);
    let mut evidence = rights_evidence(&rights, LICENSE_PROFILE_WRITE);
    if let Value::Object(base) = group.evidence() {
        evidence.extend(base);
    }
    let rg = place.rg.as_deref().unwrap_or_default();
    let Some(allowed) = rights.allows(LICENSE_PROFILE_WRITE) else {
        let Rights::Unknown(reason) = &rights else {
            unreachable!("allows is None only for Unknown")
        };
        let mut d = Diagnostic::inconclusive(
            place.id.clone(),
            &format!(
                "the signed-in identity's permissions on resource group {rg} (to evaluate \
                 {LICENSE_PROFILE_WRITE} for {machines})"
            ),
            reason,
        );
        if reason.code.as_deref() == Some(NOT_IN_SNAPSHOT) {
            d = d.remediation(snapshot_again(ctx, ctx.subscription_id()));
        }
        for (key, value) in evidence {
            d = d.with_evidence(&key, value);
        }
        return d;
    };
    evidence.insert("allowed".into(), json!(allowed));
    evidence.extend(role_evidence(ctx, place, LICENSE_PROFILE_WRITE));
    let d = if allowed {
        Diagnostic::new(
            Status::Pass,
            place.id.clone(),
            format!(
                "the signed-in identity may link {machines} to an ESU license \
                 ({LICENSE_PROFILE_WRITE} on resource group {rg})"
            ),
        )
    } else {
        evidence.insert("rolesThatGrant".into(), roles_that_grant());
        Diagnostic::new(
            Status::Fail,
            place.id.clone(),
            format!(
                "the signed-in identity may not link {machines} to an ESU license: it lacks \
                 {LICENSE_PROFILE_WRITE} on resource group {rg}"
            ),
        )
        .remediation(grant_remediation(
            ctx,
            &place.id,
            "link machines to ESU licenses and create licenses",
        ))
    };
    d.evidence(Value::Object(evidence))
}

// ---------------------------------------------------------------------------------------------
// ESU203

/// A scope ESU203 looks at: the actions needed there and the resources they would be done on.
struct DenyScope {
    place: Place,
    /// The actions needed at the scope.
    actions: Vec<&'static str>,
    /// The ARM ids written below it (planned licenses, machines), for deny assignments listed
    /// below the scope.
    targets: Vec<String>,
    /// Not settleable from this subscription's facts: why.
    unknown: Option<Unknown>,
}

/// Why ESU203 cannot look at a scope.
enum Unknown {
    /// A fact could not be read.
    Reason(Unavailable),
    /// The scope is in another subscription the snapshot holds no facts for.
    Elsewhere(String),
}

fn deny_scopes(ctx: &CheckCtx<'_>) -> Vec<DenyScope> {
    let mut scopes: Vec<DenyScope> = Vec::new();
    let default = default_subscription(ctx);
    let mut add =
        |place: Place, action: &'static str, targets: Vec<String>, unknown: Option<Unknown>| {
            match scopes
                .iter_mut()
                .find(|s| s.place.id.eq_ignore_ascii_case(&place.id))
            {
                Some(scope) => {
                    if !scope.actions.contains(&action) {
                        scope.actions.push(action);
                    }
                    scope.targets.extend(targets);
                    if scope.unknown.is_none() {
                        scope.unknown = unknown;
                    }
                }
                None => scopes.push(DenyScope {
                    place,
                    actions: vec![action],
                    targets,
                    unknown,
                }),
            }
        };
    for scope in license_scopes(ctx) {
        let targets = scope
            .planned
            .iter()
            .map(|l| l.resource_id(default))
            .collect();
        add(scope.place, LICENSE_WRITE, targets, None);
    }
    match machine_scopes(ctx) {
        MachineScopes::Groups(groups) => {
            for group in groups {
                let unknown = match &group.whereabouts {
                    Whereabouts::Here => None,
                    Whereabouts::Elsewhere(sub) => Some(Unknown::Elsewhere(sub.clone())),
                    // ESU202 names these; there is no scope to look at.
                    Whereabouts::Unparsed => continue,
                };
                add(group.place, LICENSE_PROFILE_WRITE, group.machines, unknown);
            }
        }
        MachineScopes::Unknown(reason) => {
            add(
                Place::new(ctx.subscription_id(), None),
                LICENSE_PROFILE_WRITE,
                Vec::new(),
                Some(Unknown::Reason(reason.clone())),
            );
        }
    }
    scopes
}

impl Check for DenyAssignmentBlocks {
    fn info(&self) -> &'static CheckInfo {
        &DENY_INFO
    }

    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        deny_scopes(ctx)
            .into_iter()
            .map(|s| Subject::new(s.place.id))
            .collect()
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        for scope in deny_scopes(ctx) {
            for d in deny_diagnostics(ctx, &scope) {
                out.push(ctx.finding(&DENY_INFO, d));
            }
        }
    }
}

/// The deny assignments that apply at `place`, or why they are not known.
fn deny_list<'a>(ctx: &CheckCtx<'a>, place: &Place) -> Result<&'a [Value], Cow<'a, Unavailable>> {
    let (fact, what) = match authorization_at(ctx, place) {
        AuthSource::Own(own) => (own.deny_assignments.as_ref(), place.describe(ctx)),
        // A group that does not exist yet has only the subscription's (inherited) ones.
        AuthSource::Absent => (
            ctx.subscription.authorization.deny_assignments.as_ref(),
            format!("subscription {}", ctx.subscription_id()),
        ),
        AuthSource::Missing => (None, place.describe(ctx)),
    };
    match fact {
        Some(fact) => fact.as_result().map(Vec::as_slice).map_err(Cow::Borrowed),
        None => Err(Cow::Owned(not_in_snapshot(
            ctx,
            format!("the deny assignments on {what}"),
        ))),
    }
}

fn deny_diagnostics(ctx: &CheckCtx<'_>, scope: &DenyScope) -> Vec<Diagnostic> {
    let place = &scope.place;
    let where_ = place.describe(ctx);
    let actions = scope.actions.join(" and ");
    let base = json!({ "scope": place.id, "actions": scope.actions });
    let inconclusive = |reason: &Unavailable| {
        let mut d = Diagnostic::inconclusive(
            place.id.clone(),
            &format!("the deny assignments that apply at {where_} (to evaluate {actions})"),
            reason,
        );
        if reason.code.as_deref() == Some(NOT_IN_SNAPSHOT) {
            d = d.remediation(snapshot_again(ctx, ctx.subscription_id()));
        }
        d.with_evidence("scope", place.id.as_str())
            .with_evidence("actions", scope.actions.clone())
    };
    match &scope.unknown {
        Some(Unknown::Reason(reason)) => return vec![inconclusive(reason)],
        Some(Unknown::Elsewhere(sub)) => {
            return vec![
                Diagnostic::new(
                    Status::Inconclusive,
                    place.id.clone(),
                    format!(
                        "whether a deny assignment blocks {actions} on {where_} of subscription \
                         {sub} is not known: the snapshot holds no facts for that subscription"
                    ),
                )
                .remediation(format!(
                    "include the machines' subscription in the run (`--subscription {sub}`), then \
                     run esu-preflight again"
                ))
                .evidence(base),
            ];
        }
        None => {}
    }
    let list = match deny_list(ctx, place) {
        Ok(list) => list,
        Err(reason) => return vec![inconclusive(&reason)],
    };
    let caller = ctx
        .snapshot
        .caller
        .as_ref()
        .map(|c| c.object_id.trim())
        .filter(|id| !id.is_empty());
    let mut out = Vec::new();
    let mut considered = Vec::new();
    for (index, item) in list.iter().enumerate() {
        let label = deny_label(item, index);
        let verdict = match DenyAssignment::parse(item) {
            Ok(deny) => deny.judge(place, scope, caller),
            Err(why) => Verdict::MayApply(format!("it is malformed ({why})")),
        };
        let mut evidence = base.clone();
        evidence["denyAssignment"] = json!({
            "name": label,
            "id": item["id"],
            "scope": item["properties"]["scope"],
            "doNotApplyToChildScopes": item["properties"]["doNotApplyToChildScopes"],
            "isSystemProtected": item["properties"]["isSystemProtected"],
            "principals": item["properties"]["principals"],
            "excludePrincipals": item["properties"]["excludePrincipals"],
        });
        match verdict {
            Verdict::Applies { actions, whom } => {
                let assigned_at = item["properties"]["scope"]
                    .as_str()
                    .unwrap_or("an unnamed scope");
                evidence["blockedActions"] = json!(actions);
                out.push(
                    Diagnostic::new(
                        Status::Fail,
                        place.id.clone(),
                        format!(
                            "deny assignment {label} blocks {} on {where_} for {whom} (assigned \
                             at {assigned_at})",
                            actions.join(" and ")
                        ),
                    )
                    .remediation(deny_remediation(ctx, item, &label))
                    .evidence(evidence),
                );
            }
            Verdict::MayApply(why) => {
                out.push(
                    Diagnostic::new(
                        Status::Inconclusive,
                        place.id.clone(),
                        format!("deny assignment {label} may block {actions} on {where_}: {why}"),
                    )
                    .remediation(format!(
                        "{}; if the signed-in identity is among its principals (or not among its \
                         excluded principals), {}",
                        may_apply_remediation(item),
                        deny_remediation(ctx, item, &label)
                    ))
                    .evidence(evidence),
                );
            }
            Verdict::DoesNotApply(why) => {
                considered.push(json!({ "name": label, "id": item["id"], "why": why }));
            }
        }
    }
    if out.is_empty() {
        let count = considered.len();
        let mut evidence = base;
        evidence["denyAssignments"] = Value::Array(considered);
        out.push(
            Diagnostic::new(
                Status::Pass,
                place.id.clone(),
                format!(
                    "no deny assignment blocks {actions} on {where_} for the signed-in identity \
                     ({count} deny assignment{} considered)",
                    plural(count)
                ),
            )
            .evidence(evidence),
        );
    }
    out
}

/// A deny assignment's name for messages: `denyAssignmentName`, else its name, else its id,
/// else its position in the list.
fn deny_label(item: &Value, index: usize) -> String {
    [
        &item["properties"]["denyAssignmentName"],
        &item["name"],
        &item["id"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().map(str::trim).filter(|s| !s.is_empty()))
    .map_or_else(|| format!("#{}", index + 1), str::to_owned)
}

fn deny_remediation(ctx: &CheckCtx<'_>, item: &Value, label: &str) -> String {
    let (assignee, _) = assignee(ctx);
    let id = item["id"].as_str().unwrap_or("DENY_ASSIGNMENT_ID");
    format!(
        "deny assignment {label} cannot be removed directly: find what created it (`az rest \
         --method get --url \"{id}?api-version={AUTHORIZATION_API}\"`; \
         usually a deployment stack with deny settings or a managed application); for a stack, \
         have its owner exclude the identity (`--deny-settings-excluded-principals {assignee}`) \
         or the action (`--deny-settings-excluded-actions`), for a managed application work \
         outside its managed resource group; or create the licenses and links in a scope it \
         does not cover"
    )
}

fn may_apply_remediation(item: &Value) -> String {
    let groups: Vec<&str> = item["properties"]["principals"]
        .as_array()
        .into_iter()
        .chain(item["properties"]["excludePrincipals"].as_array())
        .flatten()
        .filter(|p| is_group_like(p["type"].as_str()))
        .filter_map(|p| p["id"].as_str())
        .collect();
    if groups.is_empty() {
        "check whether it applies to the signed-in identity (`az rest --method get --url \
         \"DENY_ASSIGNMENT_ID?api-version=2022-04-01\"`)"
            .to_owned()
    } else {
        format!(
            "check whether the signed-in identity is a member of group {} (`az ad group \
             member check --group GROUP_ID --member-id OBJECT_ID`)",
            groups.join(", ")
        )
    }
}

/// Whether a principal type may contain the caller (a group, or a type not known to be a
/// single identity).
fn is_group_like(kind: Option<&str>) -> bool {
    !matches!(
        kind.map(str::to_ascii_lowercase).as_deref(),
        Some("user" | "serviceprincipal" | "device" | "systemdefined" | "msi")
    )
}

/// What ESU203 makes of one deny assignment.
enum Verdict {
    /// It blocks these actions for the caller (`whom`: "everyone", "the signed-in identity").
    Applies {
        actions: Vec<&'static str>,
        whom: &'static str,
    },
    /// It may, depending on what the snapshot cannot tell: why.
    MayApply(String),
    /// It does not: why (evidence only).
    DoesNotApply(String),
}

/// A principal of a deny assignment.
struct Principal<'a> {
    id: &'a str,
    kind: Option<&'a str>,
}

/// The parts of a deny assignment ESU203 reads.
struct DenyAssignment<'a> {
    scope: Option<&'a str>,
    do_not_apply_to_child_scopes: bool,
    permissions: Vec<Permission>,
    principals: Vec<Principal<'a>>,
    excluded: Vec<Principal<'a>>,
}

impl<'a> DenyAssignment<'a> {
    fn parse(item: &'a Value) -> Result<Self, String> {
        let p = item
            .get("properties")
            .filter(|p| p.is_object())
            .ok_or("no properties")?;
        let permissions: Vec<Permission> = match p.get("permissions") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| format!("permissions: {e}"))?
            }
        };
        let do_not_apply_to_child_scopes = match p.get("doNotApplyToChildScopes") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("doNotApplyToChildScopes is {other}")),
        };
        let principals = |key: &str| -> Result<Vec<Principal<'a>>, String> {
            match p.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        let id = v["id"]
                            .as_str()
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .ok_or_else(|| format!("a principal of {key} has no id"))?;
                        Ok(Principal {
                            id,
                            kind: v["type"].as_str(),
                        })
                    })
                    .collect(),
                Some(_) => Err(format!("{key} is not a list")),
            }
        };
        let scope = match p.get("scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => return Err(format!("scope is {other}")),
        };
        Ok(Self {
            scope,
            do_not_apply_to_child_scopes,
            permissions,
            principals: principals("principals")?,
            excluded: principals("excludePrincipals")?,
        })
    }

    fn judge(&self, place: &Place, scope: &DenyScope, caller: Option<&str>) -> Verdict {
        let covered: Vec<&'static str> = scope
            .actions
            .iter()
            .copied()
            .filter(|a| is_allowed(&self.permissions, a))
            .collect();
        if covered.is_empty() {
            return Verdict::DoesNotApply(format!(
                "its permissions do not cover {}",
                scope.actions.join(" or ")
            ));
        }
        // Where it is assigned: at or above the scope (its children inherit it unless
        // doNotApplyToChildScopes), or below it (it covers only what lies under it).
        let above = |at: &str| is_within(&place.id, at) || is_management_group(at);
        let below = |at: &str| is_within(at, &place.id);
        match self.scope {
            Some(at)
                if above(at) && self.do_not_apply_to_child_scopes && !same_scope(at, &place.id) =>
            {
                return Verdict::DoesNotApply(format!(
                    "assigned at {at} with doNotApplyToChildScopes"
                ));
            }
            Some(at) if above(at) => {}
            Some(at) if below(at) && !scope.targets.iter().any(|t| is_within(t, at)) => {
                return Verdict::DoesNotApply(format!(
                    "assigned at {at}, which holds nothing to be written"
                ));
            }
            Some(at) if below(at) => {}
            Some(at) => {
                return Verdict::DoesNotApply(format!("assigned at {at}, another scope"));
            }
            // Listed for the scope (atScope()): at or above it, but where is not said.
            None if self.do_not_apply_to_child_scopes => {
                return Verdict::MayApply(
                    "it names no scope and does not apply to child scopes, so whether it is \
                     assigned at this very scope is not known"
                        .to_owned(),
                );
            }
            None => {}
        }
        let excluded_directly =
            caller.is_some_and(|c| self.excluded.iter().any(|p| p.id.eq_ignore_ascii_case(c)));
        if excluded_directly {
            return Verdict::DoesNotApply("it excludes the signed-in identity".to_owned());
        }
        let everyone = self
            .principals
            .iter()
            .any(|p| p.id.eq_ignore_ascii_case(EVERYONE));
        let named =
            caller.is_some_and(|c| self.principals.iter().any(|p| p.id.eq_ignore_ascii_case(c)));
        if everyone || named {
            let whom = if named {
                "the signed-in identity"
            } else {
                "everyone"
            };
            let excluded_groups: Vec<&str> = self
                .excluded
                .iter()
                .filter(|p| is_group_like(p.kind))
                .map(|p| p.id)
                .collect();
            if !excluded_groups.is_empty() {
                return Verdict::MayApply(format!(
                    "it applies to {whom} but excludes group {}, and whether the signed-in \
                     identity is a member is not known (esu-preflight does not read Microsoft Graph)",
                    excluded_groups.join(", ")
                ));
            }
            if caller.is_none() && !self.excluded.is_empty() {
                return Verdict::MayApply(
                    "it applies to everyone but excludes some principals, and the signed-in \
                     identity's object id is not known"
                        .to_owned(),
                );
            }
            return Verdict::Applies {
                actions: covered,
                whom,
            };
        }
        if caller.is_none() && !self.principals.is_empty() {
            return Verdict::MayApply(
                "the signed-in identity's object id is not known, so whether it is among the \
                 principals is not known"
                    .to_owned(),
            );
        }
        let groups: Vec<&str> = self
            .principals
            .iter()
            .filter(|p| is_group_like(p.kind))
            .map(|p| p.id)
            .collect();
        if !groups.is_empty() {
            return Verdict::MayApply(format!(
                "it applies to group {}, and whether the signed-in identity is a member is not \
                 known (esu-preflight does not read Microsoft Graph)",
                groups.join(", ")
            ));
        }
        Verdict::DoesNotApply("its principals do not include the signed-in identity".to_owned())
    }
}

/// Whether `scope` is a management group's: above every subscription below it (the list was
/// read for the scope, so a management group in it is one of the scope's ancestors).
fn is_management_group(scope: &str) -> bool {
    normalise(scope).starts_with("/providers/microsoft.management/managementgroups/")
}

/// An ARM scope, normalised for comparison: lower-case, no trailing `/`.
fn normalise(scope: &str) -> String {
    scope.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn same_scope(a: &str, b: &str) -> bool {
    normalise(a) == normalise(b)
}

/// Whether `inner` is `outer` or below it (the root scope `/` holds everything).
fn is_within(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (normalise(inner), normalise(outer));
    outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
}

// ---------------------------------------------------------------------------------------------
// Small text helpers.

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `a, b, c` or `a, b, c and 4 more`.
fn list(names: &[&str], at_most: usize) -> String {
    if names.len() <= at_most {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..at_most].join(", "),
            names.len() - at_most
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, CALLER, Fixture, SUB};
    use crate::models::ResourceGroup;
    use crate::plan::LicensePlan;
    use crate::snapshot::{ResourceGroupSnapshot, Snapshot};

    const ESU_RG: &str = "rg-esu";
    const ARC_RG: &str = "rg-arc";
    const MG: &str = "/providers/Microsoft.Management/managementGroups/mg-root";
    const CONTRIBUTOR: &str = "Contributor.json";
    const OWNER: &str = "Owner.json";
    const CMRA: &str = "AzureConnectedMachineResourceAdministrator.json";
    const CUSTOM_GUID: &str = "11111111-2222-3333-4444-555555555555";

    fn sub_id() -> String {
        format!("/subscriptions/{SUB}")
    }

    fn rg_id(rg: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{rg}")
    }

    fn machine_id(rg: &str, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.HybridCompute/machines/{name}",
            rg_id(rg)
        )
    }

    /// Reader's permissions (`*/read`, as the built-in role defines them).
    fn reader() -> Vec<Permission> {
        vec![Permission {
            actions: vec!["*/read".into()],
            ..Permission::default()
        }]
    }

    /// A custom role that may create licenses only.
    fn license_writer() -> Vec<Permission> {
        vec![Permission {
            actions: vec![
                "Microsoft.HybridCompute/licenses/write".into(),
                "Microsoft.HybridCompute/*/read".into(),
            ],
            ..Permission::default()
        }]
    }

    fn available<T>(value: T) -> Option<Fact<T>> {
        Some(Fact::Available { value })
    }

    /// A resource group that exists, with the caller's `permissions` there, no deny assignment
    /// and the subscription's role assignments (inherited) plus `own`.
    fn group(name: &str, permissions: Vec<Permission>, fixture: &Fixture) -> ResourceGroupSnapshot {
        let inherited = fixture
            .authorization
            .role_assignments
            .as_ref()
            .and_then(|f| f.value().cloned())
            .unwrap_or_default();
        ResourceGroupSnapshot {
            name: name.to_owned(),
            group: Fact::Available {
                value: Some(ResourceGroup {
                    id: rg_id(name),
                    name: name.to_owned(),
                    location: Some("eastus".into()),
                }),
            },
            permissions: Fact::Available { value: permissions },
            authorization: ScopeAuthorization {
                role_assignments: available(inherited),
                deny_assignments: available(Vec::new()),
                ..ScopeAuthorization::default()
            },
        }
    }

    /// The caller holds the built-in role `file` at `scope` (the only role assignment), with
    /// its permissions at the subscription, and its definition in the tenant.
    fn with_role(mut fixture: Fixture, file: &str, scope: &str) -> Fixture {
        fixture.authorization.role_assignments =
            available(vec![testkit::role_assignment(file, scope)]);
        let definition = testkit::role_definition(file);
        fixture.tenant.role_definitions.insert(
            definition["id"].as_str().unwrap().to_ascii_lowercase(),
            Fact::Available { value: definition },
        );
        fixture.permissions(testkit::role(file))
    }

    /// The caller holds a custom role with `permissions` at the subscription.
    fn with_custom_role(mut fixture: Fixture, permissions: Vec<Permission>) -> Fixture {
        let mut assignment = testkit::role_assignment(OWNER, &sub_id());
        assignment["properties"]["roleDefinitionId"] = json!(format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{CUSTOM_GUID}"
        ));
        fixture.authorization.role_assignments = available(vec![assignment]);
        let mut definition = testkit::fixture("authorization/GetRoleDefinitionById.json")
            ["responses"]["200"]["body"]
            .clone();
        definition["id"] = json!(format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{CUSTOM_GUID}"
        ));
        definition["properties"]["roleName"] = json!("ESU License Writer");
        definition["properties"]["permissions"] = serde_json::to_value(&permissions).unwrap();
        fixture.tenant.role_definitions.insert(
            definition["id"].as_str().unwrap().to_ascii_lowercase(),
            Fact::Available { value: definition },
        );
        fixture.permissions(permissions)
    }

    /// A deny assignment in the shape of the real `GetDenyAssignmentsForResourceGroup.json`.
    fn deny(
        name: &str,
        scope: &str,
        actions: &[&str],
        principals: Value,
        excluded: Value,
    ) -> Value {
        let mut item =
            testkit::fixture("authorization/GetDenyAssignmentsForResourceGroup.json")["responses"]
                ["200"]["body"]["value"][0]
                .clone();
        item["id"] = json!(format!(
            "{scope}/providers/Microsoft.Authorization/denyAssignments/{name}-id"
        ));
        item["name"] = json!(format!("{name}-id"));
        let p = &mut item["properties"];
        p["denyAssignmentName"] = json!(name);
        p["scope"] = json!(scope);
        p["permissions"][0]["actions"] = json!(actions);
        p["permissions"][0]["dataActions"] = json!([]);
        p["principals"] = principals;
        p["excludePrincipals"] = excluded;
        p["doNotApplyToChildScopes"] = json!(false);
        item
    }

    fn everyone() -> Value {
        json!([{ "id": EVERYONE, "type": "SystemDefined" }])
    }

    fn planned(name: &str, rg: &str, machines: &[String]) -> PlannedLicense {
        PlannedLicense {
            name: name.into(),
            subscription: None,
            resource_group: rg.into(),
            location: "eastus".into(),
            target: "Windows Server 2012 R2".into(),
            edition: "Datacenter".into(),
            license_type: "pCore".into(),
            processors: 16,
            state: "Activated".into(),
            machines: machines.to_vec(),
        }
    }

    /// A plan creating `esu-dc` in rg-esu, linking srv-01 and srv-02 of rg-arc.
    fn plan() -> LicensePlan {
        let mut plan = LicensePlan::new();
        plan.licenses.push(planned(
            "esu-dc",
            ESU_RG,
            &[machine_id(ARC_RG, "srv-01"), machine_id(ARC_RG, "srv-02")],
        ));
        plan
    }

    /// A fixture and the resource groups its snapshot holds.
    struct Case {
        fixture: Fixture,
        groups: Vec<ResourceGroupSnapshot>,
    }

    impl Case {
        /// Healthy (Owner at the subscription), with the plan and both groups read.
        fn planned() -> Self {
            Self::planned_with(Fixture::healthy())
        }

        /// `fixture` with the plan, both groups read with the subscription's permissions.
        fn planned_with(mut fixture: Fixture) -> Self {
            fixture.plan = plan();
            let perms = testkit_permissions(&fixture);
            let groups = vec![
                group(ESU_RG, perms.clone(), &fixture),
                group(ARC_RG, perms, &fixture),
            ];
            Self { fixture, groups }
        }

        fn group(&mut self, name: &str) -> &mut ResourceGroupSnapshot {
            self.groups
                .iter_mut()
                .find(|g| g.name == name)
                .expect("no such group")
        }

        fn run(&self, check: &dyn Check) -> Vec<Finding> {
            self.run_edited(check, |_| {})
        }

        fn run_edited(&self, check: &dyn Check, edit: impl FnOnce(&mut Snapshot)) -> Vec<Finding> {
            let (mut snapshot, config) = self.fixture.build();
            snapshot.subscriptions[0].resource_groups = self.groups.clone();
            edit(&mut snapshot);
            let findings = testkit::run_on(
                &[check],
                &snapshot,
                &config,
                &self.fixture.plan,
                self.fixture.now,
                None,
            );
            findings.iter().for_each(testkit::assert_conventions);
            findings
        }
    }

    /// The subscription permissions the fixture was given.
    fn testkit_permissions(fixture: &Fixture) -> Vec<Permission> {
        fixture
            .subscription_snapshot()
            .permissions
            .value()
            .cloned()
            .unwrap_or_default()
    }

    fn at<'a>(findings: &'a [Finding], resource: &str) -> &'a Finding {
        let matching: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.resource_id.eq_ignore_ascii_case(resource))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "one finding at {resource}: {findings:#?}"
        );
        matching[0]
    }

    fn statuses(findings: &[Finding]) -> Vec<Status> {
        findings.iter().map(|f| f.status).collect()
    }

    #[test]
    fn esu20x_healthy_planned_run_stays_quiet() {
        let case = Case::planned();
        for check in [
            &LicenseWriteNotPermitted as &dyn Check,
            &LicenseLinkNotPermitted,
            &DenyAssignmentBlocks,
        ] {
            let findings = case.run(check);
            assert!(!findings.is_empty());
            assert!(
                findings.iter().all(|f| f.status == Status::Pass),
                "{findings:#?}"
            );
        }
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(*f.resource_id, rg_id(ESU_RG));
        assert_eq!(
            f.message,
            "the signed-in identity may create ESU licenses in resource group rg-esu (planned \
             license esu-dc): it has Microsoft.HybridCompute/licenses/write there"
        );
        assert_eq!(f.evidence.value()["grantedBy"][0]["role"], "Owner");
        assert_eq!(f.evidence.value()["mayReadLicenses"], true);
        assert_eq!(f.evidence.value()["mayValidateLicenses"], true);
        let f = &case.run(&LicenseLinkNotPermitted)[0];
        assert_eq!(*f.resource_id, rg_id(ARC_RG));
        assert!(
            f.message.contains("2 machines (srv-01, srv-02)"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("on resource group rg-arc"),
            "{}",
            f.message
        );
        let f = case.run(&DenyAssignmentBlocks);
        assert_eq!(f.len(), 2, "one pass per scope");
    }

    #[test]
    fn esu20x_healthy_without_plan_checks_the_subscription() {
        let fixture = Fixture::healthy();
        let findings = testkit::run(&LicenseWriteNotPermitted, &fixture);
        assert_eq!(statuses(&findings), [Status::Pass]);
        assert_eq!(*findings[0].resource_id, sub_id());
        assert!(
            findings[0].evidence.value()["where"]
                .as_str()
                .unwrap()
                .contains("--license-plan")
        );
        // Nothing to link: nothing to report.
        assert!(testkit::run(&LicenseLinkNotPermitted, &fixture).is_empty());
        let findings = testkit::run(&DenyAssignmentBlocks, &fixture);
        assert_eq!(statuses(&findings), [Status::Pass]);
        findings.iter().for_each(testkit::assert_conventions);
    }

    #[test]
    fn esu201_contributor_at_the_subscription_passes_naming_the_assignment() {
        let case = Case::planned_with(with_role(Fixture::healthy(), CONTRIBUTOR, &sub_id()));
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        let granted = &f.evidence.value()["grantedBy"][0];
        assert_eq!(granted["role"], "Contributor");
        assert_eq!(granted["scope"], sub_id());
        assert_eq!(granted["principalId"], CALLER);
        assert_eq!(f.evidence.value()["permissionsReadAt"], rg_id(ESU_RG));
        assert_eq!(case.run(&LicenseLinkNotPermitted)[0].status, Status::Pass);
    }

    #[test]
    fn esu201_owner_inherited_from_a_management_group_passes() {
        let case = Case::planned_with(with_role(Fixture::healthy(), OWNER, MG));
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.evidence.value()["grantedBy"][0]["role"], "Owner");
        assert_eq!(f.evidence.value()["grantedBy"][0]["scope"], MG);
    }

    #[test]
    fn esu201_esu202_reader_fails_with_the_command_that_grants() {
        let mut fixture = Fixture::healthy().permissions(reader());
        fixture.authorization.role_assignments = available(Vec::new());
        let case = Case::planned_with(fixture);
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            f.message,
            "the signed-in identity may not create ESU licenses in resource group rg-esu \
             (planned license esu-dc): it lacks Microsoft.HybridCompute/licenses/write there"
        );
        assert!(f.remediation.contains(&format!(
            "`az role assignment create --assignee {CALLER} --role \"Azure Connected Machine \
             Resource Administrator\" --scope {}`",
            rg_id(ESU_RG)
        )));
        assert!(f.remediation.contains("Contributor"));
        assert_eq!(f.evidence.value()["allowed"], false);
        assert_eq!(f.evidence.value()["mayReadLicenses"], true);
        assert_eq!(f.evidence.value()["mayValidateLicenses"], false);
        assert_eq!(f.evidence.value()["grantedBy"], json!([]));
        assert_eq!(
            f.evidence.value()["rolesThatGrant"][1]["role"],
            "Azure Connected Machine Resource Administrator"
        );
        let f = &case.run(&LicenseLinkNotPermitted)[0];
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.message,
            "the signed-in identity may not link 2 machines (srv-01, srv-02) to an ESU license: \
             it lacks Microsoft.HybridCompute/machines/licenseProfiles/write on resource group \
             rg-arc"
        );
        assert!(
            f.remediation
                .contains(&format!("--scope {}", rg_id(ARC_RG)))
        );
    }

    #[test]
    fn esu20x_unknown_caller_gets_a_placeholder_assignee() {
        let mut case = Case::planned_with(Fixture::healthy().permissions(reader()));
        case.fixture.caller = None;
        case.group(ESU_RG).permissions = Fact::Available { value: reader() };
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert!(
            f.remediation.contains("--assignee OBJECT_ID"),
            "{}",
            f.remediation
        );
        assert!(f.remediation.contains("az ad signed-in-user show"));
        let f = &case.run(&LicenseLinkNotPermitted)[0];
        assert!(
            f.evidence.value()["roleAssignments"]
                .as_str()
                .unwrap()
                .contains("may be other principals'"),
            "{f:#?}"
        );
    }

    #[test]
    fn esu201_custom_role_with_license_write() {
        let case = Case::planned_with(with_custom_role(Fixture::healthy(), license_writer()));
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(
            f.evidence.value()["grantedBy"][0]["role"],
            "ESU License Writer"
        );
        assert_eq!(f.evidence.value()["mayValidateLicenses"], false);
        // It cannot link.
        let f = &case.run(&LicenseLinkNotPermitted)[0];
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence.value()["grantedBy"], json!([]));
    }

    #[test]
    fn esu20x_connected_machine_resource_administrator_passes_but_esu102_still_flags() {
        let fixture = with_role(Fixture::healthy(), CMRA, &rg_id(ESU_RG))
            .provider_state("Microsoft.HybridCompute", "NotRegistered");
        let case = Case::planned_with(fixture);
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(
            f.evidence.value()["grantedBy"][0]["role"],
            "Azure Connected Machine Resource Administrator"
        );
        assert_eq!(f.evidence.value()["mayReadLicenses"], true);
        assert_eq!(case.run(&LicenseLinkNotPermitted)[0].status, Status::Pass);
        let esu102 = case.run(&crate::checks::ProviderRegistrationNotPermitted);
        assert_eq!(esu102[0].status, Status::Fail);
    }

    #[test]
    fn esu201_not_actions_removing_the_write_fail() {
        let perms = vec![Permission {
            actions: vec!["*".into()],
            not_actions: vec!["Microsoft.HybridCompute/licenses/*".into()],
            ..Permission::default()
        }];
        let case = Case::planned_with(with_custom_role(Fixture::healthy(), perms));
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence.value()["grantedBy"], json!([]));
        assert_eq!(case.run(&LicenseLinkNotPermitted)[0].status, Status::Pass);
    }

    #[test]
    fn esu201_a_grant_on_the_resource_group_alone_counts() {
        let mut case = Case::planned_with(Fixture::healthy().permissions(reader()));
        case.group(ESU_RG).permissions = Fact::Available {
            value: testkit::role(CMRA),
        };
        assert_eq!(case.run(&LicenseWriteNotPermitted)[0].status, Status::Pass);
        assert_eq!(case.run(&LicenseLinkNotPermitted)[0].status, Status::Fail);
    }

    #[test]
    fn esu201_group_permissions_not_read_fall_back_to_the_subscription_only_when_that_settles_it() {
        // Contributor on the subscription: inherited by the group, whose own permissions are 403.
        let mut case = Case::planned_with(with_role(Fixture::healthy(), CONTRIBUTOR, &sub_id()));
        case.group(ESU_RG).permissions = Fact::Unavailable {
            reason: testkit::forbidden("Microsoft.Authorization/permissions/read"),
        };
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.evidence.value()["permissionsReadAt"], sub_id());
        assert!(
            f.evidence.value()["inherited"]
                .as_str()
                .unwrap()
                .contains("inherited")
        );
        // Reader on the subscription: the group could still grant it; not known.
        let mut case = Case::planned_with(Fixture::healthy().permissions(reader()));
        case.group(ESU_RG).permissions = Fact::Unavailable {
            reason: testkit::forbidden("Microsoft.Authorization/permissions/read"),
        };
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message
                .contains("Microsoft.Authorization/permissions/read"),
            "{}",
            f.message
        );
        assert!(f.message.contains(&sub_id()), "{}", f.message);
        assert!(f.message.contains("licenses/write"), "{}", f.message);
    }

    #[test]
    fn esu201_a_group_that_does_not_exist_yet_gets_the_subscriptions_rights() {
        for (perms, status) in [
            (reader(), Status::Fail),
            (testkit::role(CONTRIBUTOR), Status::Pass),
        ] {
            let mut case = Case::planned_with(Fixture::healthy().permissions(perms));
            let g = case.group(ESU_RG);
            g.group = Fact::Available { value: None };
            g.permissions = Fact::Unavailable {
                reason: testkit::not_found(),
            };
            g.authorization.deny_assignments = Some(Fact::Unavailable {
                reason: testkit::not_found(),
            });
            let f = &case.run(&LicenseWriteNotPermitted)[0];
            assert_eq!(f.status, status, "{f:#?}");
            assert!(f.evidence.value()["inherited"].is_string());
            // ESU203 reads the subscription's deny assignments for it.
            assert!(
                case.run(&DenyAssignmentBlocks)
                    .iter()
                    .all(|f| f.status == Status::Pass)
            );
        }
    }

    #[test]
    fn esu20x_snapshot_without_the_groups_is_inconclusive() {
        let mut case = Case::planned_with(Fixture::healthy().permissions(reader()));
        case.groups.clear();
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message.contains("the snapshot was taken without"),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("--license-plan PLAN"));
        let f = &case.run(&LicenseLinkNotPermitted)[0];
        assert_eq!(f.status, Status::Inconclusive);
        let f = case.run(&DenyAssignmentBlocks);
        assert!(f.iter().all(|f| f.status == Status::Inconclusive), "{f:#?}");
        // An Owner on the subscription is settled without them (grants are inherited).
        let mut case = Case::planned();
        case.groups.clear();
        assert_eq!(case.run(&LicenseWriteNotPermitted)[0].status, Status::Pass);
    }

    #[test]
    fn esu201_subscription_permissions_unreadable_is_inconclusive_naming_action_and_scope() {
        let fixture = Fixture::healthy().permissions_unavailable(testkit::forbidden(
            "Microsoft.Authorization/permissions/read",
        ));
        let findings = testkit::run(&LicenseWriteNotPermitted, &fixture);
        assert_eq!(statuses(&findings), [Status::Inconclusive]);
        let f = &findings[0];
        assert!(
            f.message.contains("AuthorizationFailed, HTTP 403"),
            "{}",
            f.message
        );
        assert!(
            f.message
                .contains("Microsoft.Authorization/permissions/read")
        );
        assert!(f.message.contains(&sub_id()));
        testkit::assert_conventions(f);
    }

    #[test]
    fn esu20x_role_assignments_unreadable_only_weaken_the_evidence() {
        let mut case = Case::planned();
        for g in &mut case.groups {
            g.authorization.role_assignments = Some(Fact::Unavailable {
                reason: testkit::forbidden("Microsoft.Authorization/roleAssignments/read"),
            });
        }
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        let evidence = f.evidence.value();
        let note = evidence["roleAssignments"].as_str().unwrap();
        assert!(note.contains("could not be read"), "{note}");
        assert!(note.contains("roleAssignments/read"), "{note}");
        // A malformed assignment or a definition not read is named, not fatal.
        let mut case = Case::planned();
        case.group(ESU_RG).authorization.role_assignments = available(vec![
            json!("not an object"),
            testkit::role_assignment(CONTRIBUTOR, &sub_id()),
        ]);
        let f = &case.run(&LicenseWriteNotPermitted)[0];
        assert_eq!(f.status, Status::Pass);
        let evidence = f.evidence.value();
        let unresolved = evidence["unresolvedAssignments"].as_array().unwrap();
        assert_eq!(unresolved.len(), 2, "{unresolved:#?}");
        assert!(
            unresolved[0]["unresolved"]
                .as_str()
                .unwrap()
                .contains("malformed")
        );
        assert_eq!(unresolved[1]["role"], "Contributor");
        assert!(
            unresolved[1]["unresolved"]
                .as_str()
                .unwrap()
                .contains("not in the snapshot")
        );
    }

    #[test]
    fn esu201_without_plan_checks_the_groups_that_hold_licenses() {
        let fixture = Fixture::healthy()
            .permissions(reader())
            .license(testkit::license_json("esu-a"))
            .license(testkit::license_json("esu-b"));
        let mut case = Case {
            groups: Vec::new(),
            fixture,
        };
        case.groups
            .push(group(ESU_RG, testkit::role(CONTRIBUTOR), &case.fixture));
        let findings = case.run(&LicenseWriteNotPermitted);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(*f.resource_id, rg_id(ESU_RG));
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.message.contains("(which holds licenses esu-a, esu-b)"),
            "{}",
            f.message
        );
    }

    #[test]
    fn esu202_without_plan_checks_the_machines_to_link() {
        let license = testkit::license_json("esu-a");
        let mut linked = testkit::machine_json("srv-linked");
        testkit::link(&mut linked, &license);
        let fixture = Fixture::healthy()
            .permissions(reader())
            .license(license)
            .machine(linked)
            .machine(testkit::machine_json("srv-01"));
        let mut case = Case {
            groups: Vec::new(),
            fixture,
        };
        case.groups.push(group(ARC_RG, reader(), &case.fixture));
        let findings = case.run(&LicenseLinkNotPermitted);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("machine srv-01 to an ESU license"),
            "{}",
            f.message
        );
        assert_eq!(
            f.evidence.value()["machines"],
            json!([machine_id(ARC_RG, "srv-01")])
        );
    }

    #[test]
    fn esu202_a_large_fleet_is_one_finding_per_group() {
        let mut fixture = Fixture::healthy();
        for i in 0..7 {
            fixture = fixture.machine(testkit::machine_json(&format!("srv-{i:02}")));
        }
        let mut case = Case {
            groups: Vec::new(),
            fixture,
        };
        case.groups
            .push(group(ARC_RG, testkit::role(OWNER), &case.fixture));
        let findings = case.run(&LicenseLinkNotPermitted);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0]
                .message
                .contains("7 machines (srv-00, srv-01, srv-02, srv-03, srv-04 and 2 more)"),
            "{}",
            findings[0].message
        );
        assert_eq!(
            findings[0].evidence.value()["machines"]
                .as_array()
                .unwrap()
                .len(),
            7
        );
    }

    #[test]
    fn esu202_machine_list_unreadable_without_plan_is_inconclusive() {
        let fixture = Fixture::healthy().machines_unavailable(testkit::server_error());
        let findings = testkit::run(&LicenseLinkNotPermitted, &fixture);
        assert_eq!(statuses(&findings), [Status::Inconclusive]);
        assert!(
            findings[0].message.contains("machines"),
            "{}",
            findings[0].message
        );
        assert!(findings[0].message.contains("HTTP 503"));
        let findings = testkit::run(
            &LicenseLinkNotPermitted,
            &Fixture::healthy().without_hybrid_compute(),
        );
        assert_eq!(statuses(&findings), [Status::Inconclusive]);
        assert!(
            findings[0]
                .message
                .contains("the snapshot was taken without")
        );
        findings.iter().for_each(testkit::assert_conventions);
    }

    #[test]
    fn esu202_planned_machines_elsewhere_or_unnamed_are_inconclusive() {
        let mut case = Case::planned();
        let other = "99999999-9999-9999-9999-999999999999";
        case.fixture.plan.licenses[0].machines = vec![
            format!(
                "/subscriptions/{other}/resourceGroups/rg-x/providers/Microsoft.HybridCompute/machines/far"
            ),
            "srv-by-name".to_owned(),
        ];
        let (mut snapshot, config) = case.fixture.build();
        snapshot.subscriptions[0].resource_groups = case.groups.clone();
        let findings = testkit::run_on(
            &[&LicenseLinkNotPermitted, &DenyAssignmentBlocks],
            &snapshot,
            &config,
            &case.fixture.plan,
            case.fixture.now,
            None,
        );
        let links: Vec<&Finding> = findings.iter().filter(|f| f.check_id == "ESU202").collect();
        assert_eq!(links.len(), 2, "{links:#?}");
        assert!(links.iter().all(|f| f.status == Status::Inconclusive));
        assert!(links.iter().any(|f| f.message.contains(other)));
        assert!(links.iter().any(|f| f.remediation.contains("full ARM id")));
        let deny: Vec<&Finding> = findings.iter().filter(|f| f.check_id == "ESU203").collect();
        assert!(
            deny.iter()
                .any(|f| f.status == Status::Inconclusive && f.message.contains(other))
        );
    }

    #[test]
    fn esu20x_skipped_on_an_unusable_subscription() {
        let case = Case::planned_with(Fixture::healthy().subscription_state("Disabled"));
        for check in [
            &LicenseWriteNotPermitted as &dyn Check,
            &LicenseLinkNotPermitted,
            &DenyAssignmentBlocks,
        ] {
            let findings = case.run(check);
            assert_eq!(
                statuses(&findings),
                [Status::Skipped],
                "{}",
                check.info().id
            );
        }
    }

    // ESU203

    fn with_deny(mut case: Case, rg: &str, item: Value) -> Case {
        case.group(rg).authorization.deny_assignments = available(vec![item]);
        case
    }

    #[test]
    fn esu203_a_deny_assignment_for_everyone_fails() {
        let case = with_deny(
            Case::planned(),
            ESU_RG,
            deny(
                "stack-deny",
                &rg_id(ESU_RG),
                &["Microsoft.HybridCompute/*/write"],
                everyone(),
                json!([]),
            ),
        );
        let findings = case.run(&DenyAssignmentBlocks);
        let f = at(&findings, &rg_id(ESU_RG));
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            f.message,
            format!(
                "deny assignment stack-deny blocks Microsoft.HybridCompute/licenses/write on \
                 resource group rg-esu for everyone (assigned at {})",
                rg_id(ESU_RG)
            )
        );
        assert!(
            f.remediation
                .contains("--deny-settings-excluded-principals")
        );
        assert!(f.remediation.contains(CALLER));
        assert_eq!(f.evidence.value()["denyAssignment"]["name"], "stack-deny");
        // The machines' group is not covered by it.
        assert_eq!(at(&findings, &rg_id(ARC_RG)).status, Status::Pass);
        // Owner or not: the permissions API does not settle deny assignments, ESU201 still passes.
        assert_eq!(case.run(&LicenseWriteNotPermitted)[0].status, Status::Pass);
    }

    #[test]
    fn esu203_inherited_from_a_management_group_or_naming_the_caller_fails() {
        let case = with_deny(
            Case::planned(),
            ARC_RG,
            deny(
                "mg-deny",
                MG,
                &["Microsoft.HybridCompute/machines/licenseProfiles/write"],
                json!([{ "id": CALLER, "type": "User" }]),
                json!([]),
            ),
        );
        let f = at(&case.run(&DenyAssignmentBlocks), &rg_id(ARC_RG)).clone();
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("for the signed-in identity"),
            "{}",
            f.message
        );
        assert!(f.message.contains("licenseProfiles/write"));
    }

    #[test]
    fn esu203_excluding_the_caller_passes() {
        let case = with_deny(
            Case::planned(),
            ESU_RG,
            deny(
                "stack-deny",
                &rg_id(ESU_RG),
                &["*"],
                everyone(),
                json!([{ "id": CALLER, "type": "User" }]),
            ),
        );
        let f = at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).clone();
        assert_eq!(f.status, Status::Pass);
        assert_eq!(
            f.message,
            "no deny assignment blocks Microsoft.HybridCompute/licenses/write on resource group \
             rg-esu for the signed-in identity (1 deny assignment considered)"
        );
        assert!(
            f.evidence.value()["denyAssignments"][0]["why"]
                .as_str()
                .unwrap()
                .contains("excludes")
        );
    }

    #[test]
    fn esu203_do_not_apply_to_child_scopes_at_a_parent_passes_at_the_scope_fails() {
        let mut item = deny("parent", &sub_id(), &["*"], everyone(), json!([]));
        item["properties"]["doNotApplyToChildScopes"] = json!(true);
        let case = with_deny(Case::planned(), ESU_RG, item.clone());
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Pass
        );
        item["properties"]["scope"] = json!(rg_id(ESU_RG));
        let case = with_deny(Case::planned(), ESU_RG, item);
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Fail
        );
    }

    #[test]
    fn esu203_a_group_principal_is_inconclusive_naming_it() {
        let case = with_deny(
            Case::planned(),
            ESU_RG,
            deny(
                "group-deny",
                &rg_id(ESU_RG),
                &["*"],
                json!([{ "id": "g-1", "type": "Group" }]),
                json!([]),
            ),
        );
        let f = at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).clone();
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message
                .starts_with("deny assignment group-deny may block"),
            "{}",
            f.message
        );
        assert!(f.message.contains("group g-1"), "{}", f.message);
        assert!(f.remediation.contains("az ad group member check"));
        // Everyone but a group excluded: the caller may be in it.
        let case = with_deny(
            Case::planned(),
            ESU_RG,
            deny(
                "d",
                &rg_id(ESU_RG),
                &["*"],
                everyone(),
                json!([{ "id": "g-2", "type": "Group" }]),
            ),
        );
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Inconclusive
        );
    }

    #[test]
    fn esu203_an_unknown_caller() {
        // Everyone, nobody excluded: applies whoever the caller is.
        let mut case = with_deny(
            Case::planned(),
            ESU_RG,
            deny("d", &rg_id(ESU_RG), &["*"], everyone(), json!([])),
        );
        case.fixture.caller = None;
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Fail
        );
        // A named user: whether it is the caller is not known.
        let mut case = with_deny(
            Case::planned(),
            ESU_RG,
            deny(
                "d",
                &rg_id(ESU_RG),
                &["*"],
                json!([{ "id": "u-1", "type": "User" }]),
                json!([]),
            ),
        );
        case.fixture.caller = None;
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Inconclusive
        );
        // With the caller known, another user's deny assignment does not apply.
        case.fixture.caller = Fixture::healthy().caller;
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Pass
        );
    }

    #[test]
    fn esu203_the_real_payload_and_malformed_items() {
        // The real example: a placeholder action and data action only; it covers nothing here.
        let real =
            testkit::fixture("authorization/GetDenyAssignmentsForResourceGroup.json")["responses"]
                ["200"]["body"]["value"][0]
                .clone();
        let case = with_deny(Case::planned(), ESU_RG, real);
        assert_eq!(
            at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).status,
            Status::Pass
        );
        let mut item = deny("odd", &rg_id(ESU_RG), &["*"], everyone(), json!([]));
        item["properties"]["principals"] = json!("everyone");
        let mut case = Case::planned();
        case.group(ESU_RG).authorization.deny_assignments = available(vec![
            item,
            json!(42),
            deny(
                "fine",
                &rg_id(ESU_RG),
                &["Microsoft.Compute/*"],
                everyone(),
                json!([]),
            ),
        ]);
        let findings = case.run(&DenyAssignmentBlocks);
        let here: Vec<&Finding> = findings
            .iter()
            .filter(|f| *f.resource_id == rg_id(ESU_RG))
            .collect();
        assert_eq!(here.len(), 2, "{here:#?}");
        assert!(here.iter().all(|f| f.status == Status::Inconclusive));
        assert!(here[0].message.contains("odd"));
        assert!(here[0].message.contains("malformed"));
        assert!(here[1].message.contains("#2"));
    }

    #[test]
    fn esu203_deny_assignments_unreadable_or_not_in_the_snapshot_are_inconclusive() {
        let mut case = Case::planned();
        case.group(ESU_RG).authorization.deny_assignments = Some(Fact::Unavailable {
            reason: testkit::forbidden("Microsoft.Authorization/denyAssignments/read"),
        });
        let f = at(&case.run(&DenyAssignmentBlocks), &rg_id(ESU_RG)).clone();
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message
                .contains("Microsoft.Authorization/denyAssignments/read"),
            "{}",
            f.message
        );
        let mut fixture = Fixture::healthy();
        fixture.authorization.deny_assignments = None;
        let findings = testkit::run(&DenyAssignmentBlocks, &fixture);
        assert_eq!(statuses(&findings), [Status::Inconclusive]);
        assert!(
            findings[0]
                .message
                .contains("the snapshot was taken without")
        );
        findings.iter().for_each(testkit::assert_conventions);
    }

    #[test]
    fn esu20x_docs_are_complete_and_explained() {
        for id in ["ESU201", "ESU202", "ESU203"] {
            let docs = crate::checks::find(id).unwrap().render_docs();
            for heading in [
                "What it checks",
                "Why it matters",
                "How to fix",
                "Example finding",
            ] {
                assert!(
                    docs.contains(&format!("\n## {heading}\n")),
                    "{id}: {heading}"
                );
            }
        }
    }

    mod untrusted {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        const KEYS: &[&str] = &[
            "id",
            "name",
            "type",
            "properties",
            "permissions",
            "actions",
            "notActions",
            "principals",
            "excludePrincipals",
            "scope",
            "doNotApplyToChildScopes",
            "denyAssignmentName",
            "roleDefinitionId",
            "principalId",
            "principalType",
            "roleName",
        ];
        const WORDS: &[&str] = &[
            "*",
            "Microsoft.HybridCompute/licenses/write",
            "Microsoft.HybridCompute/*",
            EVERYONE,
            CALLER,
            "Group",
            "User",
            "SystemDefined",
            "/",
            "/subscriptions",
            "/providers/Microsoft.Management/managementGroups/mg",
            "\u{1b}[31m",
            "",
        ];

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                select(WORDS).prop_map(Value::from),
                "[a-zA-Z0-9 ._/-]{0,12}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 32, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((select(KEYS).prop_map(str::to_owned), inner), 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        proptest! {
            /// Arbitrary deny and role assignment payloads and role definitions never panic, never
            /// change ESU201's verdict (it comes from the permissions), and never hide a deny
            /// assignment that blocks.
            #[test]
            fn odd_payloads_never_panic_nor_mask_a_block(
                denies in prop::collection::vec(arb_json(), 0..4),
                roles in prop::collection::vec(arb_json(), 0..4),
                definition in arb_json(),
            ) {
                let mut case = Case::planned();
                case.fixture.tenant.role_definitions.insert(
                    "/providers/microsoft.authorization/roledefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635".into(),
                    Fact::Available { value: definition },
                );
                let blocking = deny("block", &rg_id(ESU_RG), &["*"], everyone(), json!([]));
                let mut list = denies.clone();
                list.push(blocking);
                let g = case.group(ESU_RG);
                g.authorization.deny_assignments = available(list);
                g.authorization.role_assignments = available(roles);
                case.group(ARC_RG).authorization.deny_assignments = available(denies);
                let write = case.run(&LicenseWriteNotPermitted);
                prop_assert_eq!(statuses(&write), [Status::Pass]);
                let blocks = case.run(&DenyAssignmentBlocks);
                prop_assert!(blocks.iter().any(|f| *f.resource_id == rg_id(ESU_RG) && f.status == Status::Fail));
                prop_assert!(!blocks.iter().any(|f| *f.resource_id == rg_id(ESU_RG) && f.status == Status::Pass));
                let _ = case.run(&LicenseLinkNotPermitted);
            }
        }
    }

    #[test]
    fn scopes_compare_case_insensitively_by_segment() {
        assert!(is_within(
            "/subscriptions/A/resourceGroups/RG",
            "/subscriptions/a/"
        ));
        assert!(!is_within("/subscriptions/ab", "/subscriptions/a"));
        assert!(is_within("/subscriptions/a", "/"));
        assert_eq!(
            split_id("/subscriptions/s/resourcegroups/r/providers/x"),
            Some(("s", "r"))
        );
        assert_eq!(split_id("srv-01"), None);
        assert_eq!(list(&["a", "b"], 5), "a, b");
    }
}
