//! ESU301–ESU305: Deny policies against what the ESU flow creates, decided before anything is
//! created.
//!
//! Each check looks at *targets*: a resource the ESU flow would create, modelled as a
//! [`policy::Resource`], with the policy assignments and exemptions that apply where it would be
//! created. The license plan names them (its licenses, the license profiles linking its
//! machines); without a plan they are hypothetical — a license as it would be created in a
//! resource group that holds ESU licenses (else the subscription), at the locations of the
//! licenses or candidate machines there, and a license profile on each candidate machine. What
//! only a plan could tell (a license's name, its tags, a location nothing suggests) is unknown:
//! a rule that depends on it is undecidable (ESU304, "a license plan decides it"), never a pass.
//!
//! Every enforced assignment is decided with [`policy::decide`]; a `Denies` is a failure of
//! ESU301 (licenses), ESU302 (license profiles) or ESU303 (the resource types of the required
//! providers), one finding per (resource, assignment); `Undecidable` is ESU304. The service's
//! own `checkPolicyRestrictions` answer, when the snapshot has one, goes into the evidence and
//! ESU305 warns when it disagrees with the local evaluation.

use super::estate::{Link, MachineRef};
use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, Subject};
use crate::FastMap;
use crate::finding::{Finding, Severity, Status};
use crate::plan::PlannedLicense;
use crate::policy::{self, Allowed, AssignmentContext, Decision, Exclusion, Resource, Undecided};
use crate::programs::{self, OsClass};
use crate::snapshot::{Fact, Unavailable};
use serde::Serialize;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// ESU301: an enforced Deny policy would reject the planned `Microsoft.HybridCompute/licenses`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyPolicyBlocksLicense;

/// ESU302: an enforced Deny policy would reject a `Microsoft.HybridCompute/machines/licenseProfiles`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyPolicyBlocksLicenseLink;

/// ESU303: an enforced Deny policy rejects resource types of a required provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyPolicyBlocksProviderResources;

/// ESU304: a Deny-capable policy applies but whether it rejects the resource cannot be decided.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyPolicyUndetermined;

/// ESU305: the service's `checkPolicyRestrictions` answer disagrees with the local evaluation.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyEvaluationDisagrees;

/// The resource types of the required providers that ESU303 evaluates, and why each matters.
///
/// - `Microsoft.HybridCompute/machines`: onboarding a server to Azure Arc creates it; without an
///   Arc machine there is nothing to license.
/// - `Microsoft.HybridCompute/machines/extensions`: the extensions Arc machines get for patching
///   and guest configuration (Azure Update Manager, `AzurePolicyforWindows`).
/// - `Microsoft.GuestConfiguration/guestConfigurationAssignments`: the ESU patch-status policy
///   ("Extended Security Updates should be installed…", ESU601) reports through one.
///
/// Licenses and license profiles have checks of their own (ESU301, ESU302).
pub const PROVIDER_RESOURCE_TYPES: [&str; 3] = [
    "Microsoft.HybridCompute/machines",
    "Microsoft.HybridCompute/machines/extensions",
    "Microsoft.GuestConfiguration/guestConfigurationAssignments",
];

const POLICY_URI: &str =
    "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates";
const RESTRICTIONS_URI: &str =
    "https://learn.microsoft.com/rest/api/policy/policy-restrictions/check-at-resource-group-scope";

/// Why a field of a hypothetical resource is unknown: the words ESU304's message carries.
const PLAN_DECIDES: &str = "not known without a license plan (a license plan decides it)";

const HOW_TO_FIX_DENY: &str = "Either request a policy exemption for the scope (`az policy \
exemption create --name NAME --policy-assignment ASSIGNMENT_ID --exemption-category Waiver --scope \
RESOURCE_GROUP_ID`, plus `--policy-definition-reference-ids REF` for an initiative member), or ask \
the policy owner to allow what the finding names: remove the type from Not allowed resource types \
(listOfResourceTypesNotAllowed), add it to Allowed resource types (listOfResourceTypesAllowed), add \
the location to Allowed locations (listOfAllowedLocations), set the ESU deny policy's effect to \
Disabled, or exclude the resource group with notScopes. Exemptions need \
Microsoft.Authorization/policyExemptions/write (Resource Policy Contributor or Owner).";

static BLOCKS_LICENSE: CheckInfo = CheckInfo {
    id: "ESU301",
    name: "deny-policy-blocks-license",
    default_severity: Severity::Error,
    summary: "An enforced policy assignment with a Deny effect would reject the planned ESU license (type, location, name or tags).",
    help_uri: POLICY_URI,
    docs: CheckDocs {
        what_it_checks: "Evaluates every policy assignment that applies where a license would be \
created (policyAssignments?$filter=atScope() of the license's resource group, inherited \
management-group and subscription assignments included; the subscription's when the group was not \
read) against the license resource: type Microsoft.HybridCompute/licenses, its name, location and \
tags. The definition (or each member of an initiative) is evaluated with the effect resolved from \
the literal, the assignment's parameters, the initiative's parameters and defaults, and overrides. \
An assignment that is DoNotEnforce, whose notScopes cover the group, that an unexpired exemption \
covers, whose resourceSelectors leave the license out, or whose effect is not Deny never fails. \
The licenses are the plan's; without a plan, a license as it would be created in each resource \
group holding ESU licenses (else the subscription), at the locations of the licenses or candidate \
machines there. One failing finding per (license, assignment); assignments that could not be read \
make it inconclusive; what cannot be decided is ESU304.",
        why_it_matters: "A Deny policy only shows up as RequestDisallowedByPolicy when the license \
is created: in the portal's ESU flow, in `az connectedmachine license create`, in a pipeline. \
Microsoft's ESU troubleshooting guide names Deny policies as a reason licenses cannot be \
provisioned; the built-in \"[Preview]: Deny Extended Security Updates (ESUs) license creation or \
modification\" (4c660f31-…) exists for exactly that, and Not allowed resource types (6c112d4e-…), \
Allowed resource types (a08ec900-…) and Allowed locations (e56962a6-…) block it too.",
        how_to_fix: HOW_TO_FIX_DENY,
        example_finding: "fail  ESU301  licenses/esu-ws2012-dc  policy assignment 'Block ESU' \
(block-esu) denies planned license esu-ws2012-dc: Not allowed resource types (built-in 6c112d4e-…) \
matches, effect Deny from the default value of the definition's parameter 'effect'",
    },
};

static BLOCKS_LINK: CheckInfo = CheckInfo {
    id: "ESU302",
    name: "deny-policy-blocks-license-link",
    default_severity: Severity::Error,
    summary: "An enforced policy assignment with a Deny effect would reject the license profile that links a machine to its license.",
    help_uri: POLICY_URI,
    docs: CheckDocs {
        what_it_checks: "The same evaluation as ESU301 for the license profile a link creates \
(PUT {machine}/licenseProfiles/default, type Microsoft.HybridCompute/machines/licenseProfiles, \
the machine's location, esuProfile.assignedLicense = the license), against the policy assignments \
of the machine's resource group. The machines are the plan's; without a plan, the candidate \
machines (Windows Server 2012 / 2012 R2 / 2016 ESU-eligible machines with no license linked). One \
failing finding per (machine, assignment).",
        why_it_matters: "Linking a license is a PUT of a license profile on the machine. An \
Allowed resource types list without Microsoft.HybridCompute/machines/licenseProfiles, or a Not \
allowed list with it, lets the license be created and then blocks every link: the machine never \
receives ESU.",
        how_to_fix: HOW_TO_FIX_DENY,
        example_finding: "fail  ESU302  machines/srv-01/licenseProfiles/default  policy assignment \
'Allowed types' (allowed-types) denies the license profile of machine srv-01: Allowed resource \
types (built-in a08ec900-…) matches, effect Deny from the assignment's value of parameter 'effect'",
    },
};

static BLOCKS_PROVIDER: CheckInfo = CheckInfo {
    id: "ESU303",
    name: "deny-policy-blocks-provider-resources",
    default_severity: Severity::Error,
    summary: "An enforced Deny policy rejects resource types the ESU flow needs from the required providers (Arc machines, their extensions, guest configuration assignments).",
    help_uri: POLICY_URI,
    docs: CheckDocs {
        what_it_checks: "Evaluates the policy assignments that apply at the subscription \
(policyAssignments?$filter=atScope()) against the resource types ESU needs besides licenses: \
Microsoft.HybridCompute/machines (onboarding a server to Arc), \
Microsoft.HybridCompute/machines/extensions (patching and guest configuration extensions) and \
Microsoft.GuestConfiguration/guestConfigurationAssignments (the ESU patch-status policy reports \
through one), at the locations of the Arc machines in scope. A new resource's name is not known: \
a rule on it is ESU304. With no machine in scope the location is not known either, and a \
location-only rule is ESU304. One finding per type; one failure per (type, assignment).",
        why_it_matters: "Provider registration is not evaluated by policy, but every resource the \
registered provider serves is: a Deny on Arc machines stops onboarding, one on extensions or guest \
configuration assignments stops ESU patch delivery and reporting.",
        how_to_fix: HOW_TO_FIX_DENY,
        example_finding: "fail  ESU303  Microsoft.HybridCompute  policy assignment 'Allowed \
types' (allowed-types) denies Microsoft.HybridCompute/machines in eastus: Allowed resource types \
(built-in a08ec900-…) matches, effect Deny",
    },
};

static UNDETERMINED: CheckInfo = CheckInfo {
    id: "ESU304",
    name: "deny-policy-undetermined",
    default_severity: Severity::Warning,
    summary: "A policy assignment that could deny applies, but whether it rejects the ESU resource cannot be decided.",
    help_uri: POLICY_URI,
    docs: CheckDocs {
        what_it_checks: "Reports every (assignment, definition) of the ESU301–ESU303 evaluation \
whose answer could be Deny but cannot be decided: an operator, template function or alias the \
evaluator does not know, a parameter with no value, a malformed definition or initiative, an \
effect that cannot be resolved, a management-group scope whose place is unknown, or a value only a \
license plan knows (a license's name, tags or location without a plan). The finding names the \
assignment, the definition and the expression. One finding per (assignment, definition, \
expression), listing the resources. A single pass when everything was decided; skipped when no \
policy assignment could be read (ESU301–ESU303 report why).",
        why_it_matters: "A policy the tool cannot decide may still deny the license at creation \
time. Reporting it is the difference between \"no Deny policy\" and \"no Deny policy that we \
understood\".",
        how_to_fix: "Read the definition and the expression the finding names, and verify with the \
policy owner whether it denies the resource; or ask the service itself: `az policy state \
trigger-scan --resource-group RG` for existing resources, or POST \
/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.PolicyInsights/checkPolicyRestrictions \
with the planned resource (esu-preflight does this with --license-plan when permitted). Without a \
plan, run again with --license-plan FILE: the plan decides names, tags and locations.",
        example_finding: "fail  ESU304  licenses/esu-ws2012-dc  whether policy assignment \
'Naming' (naming) denies planned license esu-ws2012-dc cannot be decided: cannot decide \
{\"field\":\"name\",\"sortOf\":\"esu-*\"}: 'sortOf' is not an operator the evaluator supports",
    },
};

static DISAGREES: CheckInfo = CheckInfo {
    id: "ESU305",
    name: "policy-evaluation-disagrees",
    default_severity: Severity::Warning,
    summary: "The service's own policy pre-check of a planned resource disagrees with esu-preflight's evaluation.",
    help_uri: RESTRICTIONS_URI,
    docs: CheckDocs {
        what_it_checks: "For each planned license and license profile the service was asked about \
(POST …/Microsoft.PolicyInsights/checkPolicyRestrictions, read-only), compares its answer — a \
NonCompliant policy evaluation with effect Deny, or a Deny field restriction on a value the \
resource has — with the local evaluation of ESU301/ESU302. Agreement passes; disagreement fails, \
as an error when the service says Deny and the local evaluation found none (the creation would \
fail), else as a warning. Skipped when the service could not be asked or the local evaluation \
could not decide (ESU304).",
        why_it_matters: "The service evaluates with its own definitions, aliases and exemptions; the \
local evaluation names the exact assignment and condition. When they disagree, one of them is \
missing something: a policy the snapshot could not see, an alias the evaluator models wrongly, or \
an exemption the service knows about.",
        how_to_fix: "Read the service's answer in the evidence (policyAssignmentId, reason) next to \
the local evaluation; when the service says Deny, treat the resource as blocked and proceed as \
for ESU301 (exemption or policy owner). Report a disagreement where the service allows and \
esu-preflight denies, with the definition, as a bug.",
        example_finding: "fail  ESU305  licenses/esu-ws2012-dc  the service's policy pre-check \
denies planned license esu-ws2012-dc (assignment …/policyAssignments/tagging) but the local \
evaluation found no Deny",
    },
};

/// Which check a target belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    License,
    Link,
    Provider,
}

/// Why a list of assignments or exemptions is missing.
#[derive(Debug, Clone, Copy)]
enum Missing<'a> {
    /// The snapshot was taken without it.
    NotInSnapshot,
    /// It could not be read.
    Unavailable(&'a Unavailable),
}

/// The policy facts that apply where a target would be created.
#[derive(Debug, Clone)]
struct ScopeFacts<'a> {
    /// Where they were read (`/subscriptions/s` or `…/resourceGroups/rg`).
    scope: String,
    assignments: Result<&'a [Value], Missing<'a>>,
    exemptions: Result<&'a [Value], Missing<'a>>,
}

/// A resource the ESU flow would create, and where.
#[derive(Debug, Clone)]
struct Target<'a> {
    family: Family,
    resource: Resource,
    /// The finding's resource id.
    finding_id: String,
    /// The resource in words: "planned license esu-1".
    label: String,
    /// The scope an exemption would be created at.
    exemption_scope: String,
    facts: ScopeFacts<'a>,
}

fn missing<'a>(fact: Option<&'a Fact<Vec<Value>>>) -> Result<&'a [Value], Missing<'a>> {
    match fact {
        None => Err(Missing::NotInSnapshot),
        Some(Fact::Available { value }) => Ok(value.as_slice()),
        Some(Fact::Unavailable { reason }) => Err(Missing::Unavailable(reason)),
    }
}

/// The policy facts of resource group `rg` in the subscription being checked, else (the group
/// was not read, or does not exist yet) the subscription's: its `atScope()` list has the
/// management-group and subscription assignments, not the group's own.
fn scope_facts<'a>(ctx: &CheckCtx<'a>, rg: Option<&str>) -> ScopeFacts<'a> {
    let sub = ctx.subscription;
    let sub_scope = ctx.subscription_resource_id();
    // A group that does not exist yet (ESU002) gets what the subscription has.
    let group = rg
        .and_then(|rg| sub.resource_group(rg))
        .filter(|g| g.authorization.policy_assignments.is_some())
        .filter(|g| !matches!(g.group, Fact::Available { value: None }));
    let sub_exemptions = missing(sub.authorization.policy_exemptions.as_ref());
    match group {
        Some(g) => ScopeFacts {
            scope: format!("{sub_scope}/resourceGroups/{}", g.name),
            assignments: missing(g.authorization.policy_assignments.as_ref()),
            exemptions: match &g.authorization.policy_exemptions {
                Some(fact) => missing(Some(fact)),
                None => sub_exemptions,
            },
        },
        None => ScopeFacts {
            scope: sub_scope,
            assignments: missing(sub.authorization.policy_assignments.as_ref()),
            exemptions: sub_exemptions,
        },
    }
}

/// The resource group named in an ARM id.
fn resource_group_of(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    while let Some(segment) = segments.next() {
        if segment.eq_ignore_ascii_case("resourceGroups") {
            return segments.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// The subscription named in an ARM id.
fn subscription_of(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    while let Some(segment) = segments.next() {
        if segment.eq_ignore_ascii_case("subscriptions") {
            return segments.next();
        }
    }
    None
}

/// The first subscription in scope: a planned license's subscription when it names none.
fn default_subscription<'a>(ctx: &CheckCtx<'a>) -> &'a str {
    ctx.snapshot
        .scope
        .subscriptions
        .first()
        .map_or("", String::as_str)
}

/// Whether a planned license is within the `--program` filter.
fn in_program(ctx: &CheckCtx<'_>, license: &PlannedLicense) -> bool {
    ctx.program
        .is_none_or(|p| programs::by_target(&license.target).is_some_and(|lp| lp.id == p.id))
}

/// A hypothetical resource's name (or resource group) in its id: `*` is no valid name, so no
/// `notScopes` entry or exemption can name it by accident (the name itself is unknown).
const NEW: &str = "*";

/// The license targets of the subscription being checked.
fn license_targets<'a>(ctx: &CheckCtx<'a>) -> Vec<Target<'a>> {
    let sub = ctx.subscription_id();
    let default = default_subscription(ctx);
    if !ctx.plan.is_empty() {
        return ctx
            .plan
            .licenses
            .iter()
            .filter(|l| l.subscription_or(default).eq_ignore_ascii_case(sub) && in_program(ctx, l))
            .map(|l| {
                let resource =
                    Resource::planned_license(sub, &l.resource_group, &l.name, &l.location, []);
                let rg_id = format!("/subscriptions/{sub}/resourceGroups/{}", l.resource_group);
                Target {
                    family: Family::License,
                    finding_id: l.resource_id(default),
                    label: format!("planned license {}", l.name),
                    exemption_scope: rg_id,
                    facts: scope_facts(ctx, Some(&l.resource_group)),
                    resource,
                }
            })
            .collect();
    }
    // Without a plan: the groups holding ESU licenses, at those licenses' locations; else the
    // subscription, at the candidate machines' locations.
    let mut groups: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for l in ctx.estate.licenses_in(sub) {
        let Some(rg) = resource_group_of(&l.license.id) else {
            continue;
        };
        let entry = groups
            .entry(rg.to_ascii_lowercase())
            .or_insert_with(|| (rg.to_owned(), Vec::new()));
        if let Some(location) = l.license.location.as_deref() {
            push_location(&mut entry.1, location);
        }
    }
    let hypothetical = |rg: Option<&str>, location: Option<&str>| {
        let (id_rg, finding_id, where_) = match rg {
            Some(rg) => (
                rg.to_owned(),
                format!("/subscriptions/{sub}/resourceGroups/{rg}"),
                format!("resource group {rg}"),
            ),
            None => (
                NEW.to_owned(),
                format!("/subscriptions/{sub}"),
                format!("subscription {sub}"),
            ),
        };
        let mut resource =
            Resource::planned_license(sub, &id_rg, NEW, location.unwrap_or_default(), [])
                .with_unknown("name", PLAN_DECIDES)
                .with_unknown("fullName", PLAN_DECIDES)
                .with_unknown("id", PLAN_DECIDES)
                .with_unknown("tags", PLAN_DECIDES);
        if location.is_none() {
            resource = resource.with_unknown("location", PLAN_DECIDES);
        }
        Target {
            family: Family::License,
            label: match location {
                Some(location) => format!("a new ESU license in {where_} ({location})"),
                None => format!("a new ESU license in {where_}"),
            },
            exemption_scope: finding_id.clone(),
            finding_id,
            facts: scope_facts(ctx, rg),
            resource,
        }
    };
    let mut targets = Vec::new();
    if groups.is_empty() {
        let mut locations = Vec::new();
        for m in candidates(ctx) {
            if let Some(location) = m.machine.location.as_deref() {
                push_location(&mut locations, location);
            }
        }
        if locations.is_empty() {
            targets.push(hypothetical(None, None));
        }
        for location in &locations {
            targets.push(hypothetical(None, Some(location)));
        }
    }
    for (rg, locations) in groups.values() {
        if locations.is_empty() {
            targets.push(hypothetical(Some(rg), None));
        }
        for location in locations {
            targets.push(hypothetical(Some(rg), Some(location)));
        }
    }
    targets
}

fn push_location(locations: &mut Vec<String>, location: &str) {
    let location = location.trim();
    if !location.is_empty() && !locations.iter().any(|l| l.eq_ignore_ascii_case(location)) {
        locations.push(location.to_owned());
    }
}

/// The candidate machines of the subscription: ESU-eligible by OS, no license linked, not where
/// ESU is free (an Azure VM, Azure Local, AVS: ESU504), within the `--program` filter and
/// `--resource-group`.
fn candidates<'a>(ctx: &CheckCtx<'a>) -> Vec<MachineRef<'a>> {
    ctx.estate
        .machines_in(ctx.subscription_id())
        .filter(|m| {
            // The estate's memo: the machine checks classify the same OS.
            let OsClass::Eligible { program, .. } = ctx.estate.os(*m) else {
                return false;
            };
            let assigned = m
                .machine
                .esu_profile()
                .and_then(|e| e.license_assignment_state.as_deref())
                .is_some_and(|s| s.eq_ignore_ascii_case("Assigned"));
            matches!(ctx.estate.link(*m), Link::None)
                && !assigned
                && !super::machines::runs_where_esu_is_free(m.machine)
                && ctx.program.is_none_or(|only| only.id == program.id)
        })
        .collect()
}

/// The license-profile targets of the subscription being checked (the machines live here).
fn link_targets<'a>(ctx: &CheckCtx<'a>) -> Vec<Target<'a>> {
    let sub = ctx.subscription_id();
    let default = default_subscription(ctx);
    let profile = |machine_id: &str, location: Option<&str>, license_id: Option<&str>, label| {
        let machine_id = machine_id.trim_end_matches('/');
        let mut resource = Resource::license_profile(
            machine_id,
            location.unwrap_or_default(),
            license_id.unwrap_or_default(),
        );
        if location.is_none() {
            resource = resource.with_unknown(
                "location",
                "the machine is not in the snapshot, so its location is not known",
            );
        }
        if license_id.is_none() {
            resource = resource.with_unknown(
                "Microsoft.HybridCompute/machines/licenseProfiles/esuProfile.assignedLicense",
                PLAN_DECIDES,
            );
        }
        let rg = resource_group_of(machine_id);
        Target {
            family: Family::Link,
            finding_id: resource.id.clone(),
            label,
            exemption_scope: rg.map_or_else(
                || format!("/subscriptions/{sub}"),
                |rg| format!("/subscriptions/{sub}/resourceGroups/{rg}"),
            ),
            facts: scope_facts(ctx, rg),
            resource,
        }
    };
    let machine_name = |id: &str| {
        id.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    if ctx.plan.is_empty() {
        return candidates(ctx)
            .into_iter()
            .map(|m| {
                let name = machine_name(&m.machine.id);
                profile(
                    &m.machine.id,
                    m.machine.location.as_deref(),
                    None,
                    format!("the license profile a link would create on machine {name}"),
                )
            })
            .collect();
    }
    let mut targets: Vec<Target<'a>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for license in ctx.plan.licenses.iter().filter(|l| in_program(ctx, l)) {
        let license_id = license.resource_id(default);
        for machine_id in &license.machines {
            if !subscription_of(machine_id).is_some_and(|s| s.eq_ignore_ascii_case(sub)) {
                continue;
            }
            let id = format!(
                "{}/licenseProfiles/default",
                machine_id.trim_end_matches('/')
            );
            if !seen.insert(id.to_ascii_lowercase()) {
                continue;
            }
            let location = ctx
                .estate
                .machine(machine_id)
                .and_then(|m| m.machine.location.as_deref());
            targets.push(profile(
                machine_id,
                location,
                Some(&license_id),
                format!(
                    "the license profile of machine {} (planned license {})",
                    machine_name(machine_id),
                    license.name
                ),
            ));
        }
    }
    targets
}

/// The provider-resource targets: each type at each location of the machines in scope.
fn provider_targets<'a>(ctx: &CheckCtx<'a>) -> Vec<Target<'a>> {
    let sub = ctx.subscription_id();
    let mut examples: Vec<(String, String)> = Vec::new();
    for m in ctx.estate.machines_in(sub) {
        if let Some(location) = m.machine.location.as_deref()
            && !location.trim().is_empty()
            && !examples
                .iter()
                .any(|(l, _)| l.eq_ignore_ascii_case(location.trim()))
        {
            examples.push((location.trim().to_owned(), m.machine.id.clone()));
        }
    }
    let mut targets = Vec::new();
    for type_ in PROVIDER_RESOURCE_TYPES {
        let namespace = type_.split('/').next().unwrap_or_default();
        let finding_id = format!("/subscriptions/{sub}/providers/{namespace}");
        let make = |location: Option<&str>, machine_id: Option<&str>| {
            let base = machine_id.map_or_else(
                || format!("/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines/{NEW}"),
                |id| {
                    let rg = resource_group_of(id).unwrap_or(NEW);
                    format!(
                        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{NEW}"
                    )
                },
            );
            let id = match type_ {
                "Microsoft.HybridCompute/machines/extensions" => format!("{base}/extensions/{NEW}"),
                "Microsoft.GuestConfiguration/guestConfigurationAssignments" => format!(
                    "{base}/providers/Microsoft.GuestConfiguration/guestConfigurationAssignments/{NEW}"
                ),
                _ => base,
            };
            let mut resource = Resource::planned(type_, &id, location)
                .with_unknown(
                    "name",
                    "the name of a resource not created yet is not known",
                )
                .with_unknown(
                    "fullName",
                    "the name of a resource not created yet is not known",
                )
                .with_unknown("id", "the name of a resource not created yet is not known")
                .with_unknown(
                    "tags",
                    "the tags of a resource not created yet are not known",
                );
            if location.is_none() {
                resource = resource.with_unknown(
                    "location",
                    "no Arc machine in scope tells where machines are onboarded",
                );
            }
            // A guest configuration assignment is an extension resource without tags: `Indexed`
            // definitions (Allowed resource types, Allowed locations) never evaluate it.
            resource.not_indexed =
                type_ == "Microsoft.GuestConfiguration/guestConfigurationAssignments";
            Target {
                family: Family::Provider,
                finding_id: finding_id.clone(),
                label: {
                    // A type too long for a table cell is named by its last segment and its
                    // namespace (the finding's resource), so the table keeps its width.
                    let named = match type_.rsplit_once('/') {
                        Some((_, last)) if type_.len() > 48 => format!("{last} ({namespace})"),
                        _ => (*type_).to_owned(),
                    };
                    match location {
                        Some(location) => format!("{named} in {location}"),
                        None => named,
                    }
                },
                exemption_scope: format!("/subscriptions/{sub}"),
                // The subscription's assignments: where machines are onboarded is not known in
                // advance; the machine's group only places the resource for notScopes.
                facts: scope_facts(ctx, None),
                resource,
            }
        };
        if examples.is_empty() {
            targets.push(make(None, None));
        }
        for (location, machine_id) in &examples {
            targets.push(make(Some(location), Some(machine_id)));
        }
    }
    targets
}

/// One definition (or initiative member) of an assignment that denies a target.
#[derive(Debug, Clone)]
struct MemberHit<'a> {
    definition_id: String,
    definition: &'a Value,
    reference_id: Option<String>,
    effect: String,
    effect_source: String,
}

/// An assignment that denies a target.
#[derive(Debug, Clone)]
struct Hit<'a> {
    assignment: &'a Value,
    members: Vec<MemberHit<'a>>,
}

/// An (assignment, definition) whose answer cannot be decided for a target.
#[derive(Debug, Clone)]
struct Open<'a> {
    assignment: &'a Value,
    definition_id: String,
    definition: Option<&'a Value>,
    reference_id: Option<String>,
    undecided: Undecided,
}

/// A definition the snapshot does not hold, or that could not be read.
#[derive(Debug, Clone)]
struct Unread<'a> {
    assignment: &'a Value,
    definition_id: String,
    reason: Missing<'a>,
}

/// What one run works out once and ESU301–ESU305 share: the evaluations by target (see
/// [`evaluate`]), each assignment's members, and each (assignment, member)'s decisions by what
/// they read of the resource ([`policy::DecisionCache`]).
#[derive(Debug, Default)]
pub(crate) struct EvaluationMemo<'a> {
    evaluations: RefCell<FastMap<String, Rc<Evaluation<'a>>>>,
    members: RefCell<FastMap<*const Value, Rc<Members<'a>>>>,
    decisions: RefCell<FastMap<DecisionKey, policy::DecisionCache>>,
    /// The targets by (subscription, family, program).
    targets: RefCell<FastMap<TargetsKey, Rc<Vec<Target<'a>>>>>,
    /// The service's answers (their index) by lower-case resource id, per list of answers.
    restrictions: RefCell<HashMap<String, Rc<HashMap<String, usize>>>>,
}

/// The targets of one family: (the subscription's address, the family, the `--program`).
type TargetsKey = (usize, Family, Option<&'static str>);

/// One assignment context: the assignment and which of its members (so the definition and
/// reference id, read once per run by [`members_of`]), the exemptions and the management
/// groups (by address: the payloads live as long as the run; the time is the run's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    assignment: *const Value,
    /// The member's place in [`Members::members`].
    member: usize,
    exemptions: (*const Value, usize),
    management_groups: Option<(*const String, usize)>,
}

/// What an assignment assigns, read from the tenant's definitions once per run.
#[derive(Debug)]
struct Members<'a> {
    /// `policyDefinitionId`, or `None` when the assignment names none.
    definition_id: Option<&'a str>,
    /// The initiative, when it assigns one (and it was read).
    set_definition: Option<&'a Value>,
    /// The initiative lists no policy definitions (malformed).
    malformed_set: bool,
    /// The definitions to decide: (definition id, definition, reference id).
    members: Vec<(String, Result<&'a Value, Missing<'a>>, Option<String>)>,
}

/// What the assignments at a target's scope do to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evaluation<'a> {
    denies: Vec<Hit<'a>>,
    open: Vec<Open<'a>>,
    unread: Vec<Unread<'a>>,
    /// Assignments that would deny, or might, but are not enforced on the target (evidence).
    not_enforced: Vec<Value>,
    evaluated: usize,
}

impl Evaluation<'_> {
    /// The local answer: `Some(true)` denied, `Some(false)` allowed, `None` not known.
    fn denied(&self) -> Option<bool> {
        if !self.denies.is_empty() {
            Some(true)
        } else if self.open.is_empty() && self.unread.is_empty() {
            Some(false)
        } else {
            None
        }
    }
}

/// A string property of a payload's `properties` (or of the payload itself).
fn prop<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    let props = v.get("properties").unwrap_or(v);
    props
        .as_object()
        .and_then(|m| crate::policy::lookup_ci(m, key))
        .or_else(|| v.as_object().and_then(|m| crate::policy::lookup_ci(m, key)))
        .and_then(Value::as_str)
}

/// A definition by id from the tenant's facts.
fn lookup<'a>(map: &'a BTreeMap<String, Fact<Value>>, id: &str) -> Result<&'a Value, Missing<'a>> {
    match map.get(&id.trim().to_ascii_lowercase()) {
        None => Err(Missing::NotInSnapshot),
        Some(Fact::Available { value }) => Ok(value),
        Some(Fact::Unavailable { reason }) => Err(Missing::Unavailable(reason)),
    }
}

/// Evaluates every assignment at the target's scope against it.
fn evaluate<'a>(
    ctx: &CheckCtx<'a>,
    target: &Target<'a>,
    assignments: &'a [Value],
) -> std::rc::Rc<Evaluation<'a>> {
    // ESU301–ESU305 each ask about the same targets: answer once per run. The same target is
    // built the same way by each check, so its label, resource and the facts it is judged on
    // name it.
    let exemptions: &'a [Value] = target.facts.exemptions.unwrap_or(&[]);
    let key = format!(
        "{}\u{0}{}\u{0}{}\u{0}{:?}\u{0}{:p}\u{0}{:p}",
        ctx.subscription_id(),
        target.label,
        target.resource.id,
        target.resource.location,
        assignments.as_ptr(),
        exemptions.as_ptr(),
    );
    let memo = &ctx.estate.policy_evaluations;
    if let Some(known) = memo.evaluations.borrow().get(&key) {
        return Rc::clone(known);
    }
    let evaluation = Rc::new(evaluate_uncached(ctx, target, assignments, exemptions));
    memo.evaluations
        .borrow_mut()
        .insert(key, Rc::clone(&evaluation));
    evaluation
}

/// What `assignment` assigns: its definition, or its initiative's members (once per run).
fn members_of<'a>(ctx: &CheckCtx<'a>, assignment: &'a Value) -> Rc<Members<'a>> {
    let memo = &ctx.estate.policy_evaluations;
    let address: *const Value = assignment;
    if let Some(known) = memo.members.borrow().get(&address) {
        return Rc::clone(known);
    }
    let tenant = &ctx.snapshot.tenant;
    let definition_id = prop(assignment, "policyDefinitionId");
    let mut out = Members {
        definition_id,
        set_definition: None,
        malformed_set: false,
        members: Vec::new(),
    };
    if let Some(definition_id) = definition_id {
        if policy::is_set_definition_id(definition_id) {
            match lookup(&tenant.policy_set_definitions, definition_id) {
                Ok(set) => {
                    out.set_definition = Some(set);
                    out.malformed_set = !set
                        .get("properties")
                        .unwrap_or(set)
                        .get("policyDefinitions")
                        .is_some_and(Value::is_array);
                    for member in policy::set_members(set) {
                        let definition = lookup(&tenant.policy_definitions, &member.definition_id);
                        out.members.push((
                            member.definition_id,
                            definition,
                            Some(member.reference_id),
                        ));
                    }
                }
                Err(reason) => out
                    .members
                    .push((definition_id.to_owned(), Err(reason), None)),
            }
        } else {
            out.members.push((
                definition_id.to_owned(),
                lookup(&tenant.policy_definitions, definition_id),
                None,
            ));
        }
    }
    let out = Rc::new(out);
    memo.members.borrow_mut().insert(address, Rc::clone(&out));
    out
}

/// [`policy::decide`], remembered per assignment context by what the decision read of the
/// resource: license profiles that differ only by machine are decided once when no rule,
/// scope or selector reads what tells them apart.
fn decide(
    ctx: &CheckCtx<'_>,
    assignment: &AssignmentContext<'_>,
    member: usize,
    resource: &Resource,
) -> Decision {
    let key = DecisionKey {
        assignment: assignment.assignment,
        member,
        exemptions: (assignment.exemptions.as_ptr(), assignment.exemptions.len()),
        management_groups: assignment.management_groups.map(|g| (g.as_ptr(), g.len())),
    };
    ctx.estate
        .policy_evaluations
        .decisions
        .borrow_mut()
        .entry(key)
        .or_default()
        .decide(assignment, resource)
}

/// [`evaluate`], without the memo.
fn evaluate_uncached<'a>(
    ctx: &CheckCtx<'a>,
    target: &Target<'a>,
    assignments: &'a [Value],
    exemptions: &'a [Value],
) -> Evaluation<'a> {
    let management_groups = ctx.subscription.management_groups.as_deref();
    let context = |assignment, definition, set_definition, reference_id| AssignmentContext {
        assignment,
        definition,
        set_definition,
        reference_id,
        exemptions,
        now: ctx.now,
        management_groups,
    };
    static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!({}));
    let mut out = Evaluation::default();
    for assignment in assignments {
        out.evaluated += 1;
        let prepared = members_of(ctx, assignment);
        let Some(definition_id) = prepared.definition_id else {
            out.open.push(Open {
                assignment,
                definition_id: String::new(),
                definition: None,
                reference_id: None,
                undecided: Undecided::new(
                    "policyDefinitionId",
                    "the assignment names no policy definition",
                ),
            });
            continue;
        };
        let set_definition = prepared.set_definition;
        if let Some(set) = set_definition
            && prepared.malformed_set
        {
            out.open.push(Open {
                assignment,
                definition_id: definition_id.to_owned(),
                definition: Some(set),
                reference_id: None,
                undecided: Undecided::new(
                    "properties.policyDefinitions",
                    "the initiative lists no policy definitions (malformed)",
                ),
            });
        }
        let mut hit = Hit {
            assignment,
            members: Vec::new(),
        };
        let mut excluded: Option<Exclusion> = None;
        for (member, (member_id, definition, reference_id)) in prepared.members.iter().enumerate() {
            let (member_id, definition, reference_id) =
                (member_id.clone(), *definition, reference_id.clone());
            let definition = match definition {
                Ok(definition) => definition,
                Err(reason) => {
                    // Not needed when the assignment does not enforce here at all.
                    let stub = context(assignment, &EMPTY, set_definition, None);
                    if let Decision::Allows {
                        reason: Allowed::Excluded(e),
                    } = policy::decide(&stub, &target.resource)
                    {
                        excluded = Some(e);
                    } else {
                        out.unread.push(Unread {
                            assignment,
                            definition_id: member_id,
                            reason,
                        });
                    }
                    continue;
                }
            };
            let decision;
            let source;
            {
                let ctx_a = AssignmentContext {
                    reference_id: reference_id.as_deref(),
                    ..context(assignment, definition, set_definition, None)
                };
                decision = decide(ctx, &ctx_a, member, &target.resource);
                source = matches!(decision, Decision::Denies { .. })
                    .then(|| policy::effect_source(&ctx_a, &target.resource));
            }
            match decision {
                Decision::Denies { effect } => hit.members.push(MemberHit {
                    effect_source: source.unwrap_or_default(),
                    definition_id: member_id,
                    definition,
                    reference_id,
                    effect,
                }),
                Decision::Allows {
                    reason: Allowed::Excluded(e),
                } => excluded = Some(e),
                Decision::Allows { .. } => {}
                Decision::Undecidable(undecided) => out.open.push(Open {
                    assignment,
                    definition_id: member_id,
                    definition: Some(definition),
                    reference_id,
                    undecided,
                }),
            }
        }
        if !hit.members.is_empty() {
            out.denies.push(hit);
        } else if let Some(e) = excluded {
            out.not_enforced.push(json!({
                "assignment": assignment_evidence(assignment),
                "why": describe_exclusion(&e),
            }));
        }
    }
    out
}

fn describe_exclusion(e: &Exclusion) -> String {
    match e {
        Exclusion::DoNotEnforce => "enforcementMode DoNotEnforce".to_owned(),
        Exclusion::NotScope { scope } => format!("notScopes excludes {scope}"),
        Exclusion::Exempt {
            exemption_id,
            category,
        } => format!("exempted ({category}) by {exemption_id}"),
        Exclusion::NotSelected => "its resourceSelectors do not select the resource".to_owned(),
    }
}

/// An assignment as evidence: display name, name, id, scope, enforcement mode.
fn assignment_evidence(assignment: &Value) -> Value {
    json!({
        "displayName": prop(assignment, "displayName"),
        "name": assignment.get("name").and_then(Value::as_str),
        "id": assignment.get("id").and_then(Value::as_str),
        "scope": prop(assignment, "scope"),
        "enforcementMode": prop(assignment, "enforcementMode").unwrap_or("Default"),
        "policyDefinitionId": prop(assignment, "policyDefinitionId"),
    })
}

/// A definition as evidence: display name, id, the built-in it is.
fn definition_evidence(id: &str, definition: Option<&Value>) -> Value {
    let builtin = policy::builtin(id);
    json!({
        "id": id,
        "displayName": definition.and_then(|d| prop(d, "displayName")).or(builtin.map(|b| b.name)),
        "builtIn": builtin.map(|b| b.name),
        "version": definition.and_then(|d| prop(d, "version")),
    })
}

/// An assignment in words: `'Display' (name)`.
fn assignment_label(assignment: &Value) -> String {
    let name = assignment
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match prop(assignment, "displayName").filter(|d| !d.trim().is_empty()) {
        Some(display) if !name.is_empty() => format!("'{}' ({name})", one_line(display)),
        Some(display) => format!("'{}'", one_line(display)),
        None if !name.is_empty() => format!("'{name}'"),
        None => format!(
            "'{}'",
            assignment
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
        ),
    }
}

/// A definition in words: its display name, and the built-in it is.
fn definition_label(id: &str, definition: Option<&Value>) -> String {
    let builtin = policy::builtin(id);
    let guid = id.rsplit('/').next().unwrap_or(id);
    match (definition.and_then(|d| prop(d, "displayName")), builtin) {
        (_, Some(b)) => format!("{} (built-in {guid})", b.name),
        (Some(display), None) => format!("'{}' ({guid})", one_line(display)),
        (None, None) => format!("definition {guid}"),
    }
}

/// Untrusted text on one line (the renderers strip control characters; a finding's message
/// is one line by convention).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why a fact is missing, in words.
fn describe_missing(what: &str, reason: Missing<'_>) -> String {
    match reason {
        Missing::NotInSnapshot => format!("the snapshot was taken without {what}"),
        Missing::Unavailable(reason) => {
            format!(
                "could not read {what}: {}",
                super::describe_unavailable(reason)
            )
        }
    }
}

fn missing_evidence(reason: Missing<'_>) -> Value {
    match reason {
        Missing::NotInSnapshot => json!({ "code": super::NOT_IN_SNAPSHOT }),
        Missing::Unavailable(reason) => serde_json::to_value(reason).unwrap_or(Value::Null),
    }
}

/// What the service's `checkPolicyRestrictions` said of a target.
#[derive(Debug, Clone)]
enum Service<'a> {
    /// A Deny: the restrictions or evaluations that say so.
    Denies(Vec<Value>),
    /// No Deny.
    Allows,
    /// The answer has no shape this reads.
    Unreadable(String),
    /// The service was not asked, or did not answer.
    Unavailable(&'a Unavailable),
}

impl Service<'_> {
    fn evidence(&self) -> Value {
        match self {
            Service::Denies(details) => json!({ "verdict": "deny", "denials": details }),
            Service::Allows => json!({ "verdict": "allow" }),
            Service::Unreadable(why) => json!({ "verdict": "unreadable", "why": why }),
            Service::Unavailable(reason) => json!({
                "verdict": "unavailable",
                "unavailable": serde_json::to_value(reason).unwrap_or(Value::Null),
            }),
        }
    }

    /// `Some(true)`: the service denies; `Some(false)`: allows; `None`: no answer.
    fn denied(&self) -> Option<bool> {
        match self {
            Service::Denies(_) => Some(true),
            Service::Allows => Some(false),
            _ => None,
        }
    }
}

/// The service's answer for a target, when the snapshot has one.
fn service<'a>(ctx: &CheckCtx<'a>, target: &Target<'_>) -> Option<Service<'a>> {
    let checks = &ctx.subscription.policy_restrictions;
    if checks.is_empty() {
        return None;
    }
    // Indexed by lower-case resource id, once per subscription and run (the first of a kind
    // wins, as the search did).
    let memo = &ctx.estate.policy_evaluations;
    let index = {
        let mut known = memo.restrictions.borrow_mut();
        Rc::clone(
            known
                .entry(format!("{:p}\u{0}{}", checks.as_ptr(), checks.len()))
                .or_insert_with(|| {
                    let mut index = HashMap::new();
                    for (at, c) in checks.iter().enumerate() {
                        index
                            .entry(c.resource_id.to_ascii_lowercase())
                            .or_insert(at);
                    }
                    Rc::new(index)
                }),
        )
    };
    let check = &checks[*index.get(&target.resource.id.to_ascii_lowercase())?];
    Some(match &check.answer {
        Fact::Unavailable { reason } => Service::Unavailable(reason),
        Fact::Available { value } => read_service_answer(value, &target.resource),
    })
}

/// Reads a `checkPolicyRestrictions` answer: a NonCompliant evaluation with effect Deny, or a
/// field restriction with result Deny on a value the resource has (or on any value), is a Deny.
fn read_service_answer(answer: &Value, resource: &Resource) -> Service<'static> {
    let Some(object) = answer.as_object() else {
        return Service::Unreadable(format!("the answer is not an object: {}", short(answer)));
    };
    let is = |v: Option<&Value>, want: &str| {
        v.and_then(Value::as_str)
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(want))
    };
    let mut denials = Vec::new();
    let evaluations = object
        .get("contentEvaluationResult")
        .and_then(|c| c.get("policyEvaluations"));
    for evaluation in evaluations.and_then(Value::as_array).into_iter().flatten() {
        let effect = evaluation
            .get("effectDetails")
            .and_then(|e| e.get("policyEffect"));
        if is(evaluation.get("evaluationResult"), "NonCompliant") && is(effect, "Deny") {
            denials.push(json!({
                "policy": evaluation.get("policyInfo"),
                "evaluationResult": evaluation.get("evaluationResult"),
            }));
        }
    }
    let restrictions = object.get("fieldRestrictions");
    for field in restrictions.and_then(Value::as_array).into_iter().flatten() {
        let name = field
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for restriction in field
            .get("restrictions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !is(restriction.get("result"), "Deny") {
                continue;
            }
            let squash = |s: &str| s.split_whitespace().collect::<String>().to_lowercase();
            let hits = match restriction.get("values").and_then(Value::as_array) {
                None => true,
                Some(values) => match resource.field(name) {
                    Ok(Some(Value::String(actual))) => values
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|v| squash(v) == squash(&actual)),
                    _ => false,
                },
            };
            if hits {
                denials.push(json!({
                    "field": name,
                    "policy": restriction.get("policy"),
                    "reason": restriction.get("reason"),
                }));
            }
        }
    }
    let shaped =
        evaluations.is_none_or(Value::is_array) && restrictions.is_none_or(Value::is_array);
    if !shaped {
        return Service::Unreadable(
            "fieldRestrictions or contentEvaluationResult.policyEvaluations is not a list".into(),
        );
    }
    if denials.is_empty() {
        Service::Allows
    } else {
        Service::Denies(denials)
    }
}

/// A JSON value as shown in a finding: cut at 200 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// What the policy owner could change so the target is allowed, for the remediation.
fn owner_change(hit: &MemberHit<'_>, target: &Target<'_>) -> String {
    let type_ = &target.resource.type_;
    let location = target
        .resource
        .location
        .as_deref()
        .unwrap_or("the location");
    match policy::builtin(&hit.definition_id) {
        Some(b) if b == policy::NOT_ALLOWED_RESOURCE_TYPES => {
            format!("remove {type_} from its listOfResourceTypesNotAllowed parameter")
        }
        Some(b) if b == policy::ALLOWED_RESOURCE_TYPES => {
            format!("add {type_} to its listOfResourceTypesAllowed parameter")
        }
        Some(b)
            if b == policy::ALLOWED_LOCATIONS || b == policy::ALLOWED_LOCATIONS_RESOURCE_GROUPS =>
        {
            let elsewhere = if target.family == Family::License {
                ", or plan the license in a location it allows"
            } else {
                ""
            };
            format!("add {location} to its listOfAllowedLocations parameter{elsewhere}")
        }
        // The built-in's effect allows Deny or Disabled only.
        Some(b) if b == policy::DENY_ESU_LICENSE => match &hit.reference_id {
            Some(reference) => format!(
                "set the initiative parameter that feeds member {reference}'s effect (the \
                 evidence's effectSource) to Disabled, or the assignment's enforcementMode to \
                 DoNotEnforce"
            ),
            None => "set its effect parameter to Disabled, or its enforcementMode to \
                     DoNotEnforce"
                .to_owned(),
        },
        _ => format!(
            "allow {type_} in {location} (the condition in this finding's evidence matched), or \
             exclude {} with notScopes",
            target.exemption_scope
        ),
    }
}

/// A name for an exemption: letters, digits and dashes.
fn exemption_name(assignment: &Value) -> String {
    let name = assignment
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("policy");
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    format!("esu-{clean}")
}

/// The remediation of a Deny: an exemption, or the policy owner.
fn deny_remediation(hit: &Hit<'_>, target: &Target<'_>) -> String {
    let first = &hit.members[0];
    let assignment_id = hit
        .assignment
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("ASSIGNMENT_ID");
    let references: Vec<&str> = hit
        .members
        .iter()
        .filter_map(|m| m.reference_id.as_deref())
        .collect();
    let reference_flag = if references.is_empty() {
        String::new()
    } else {
        format!(
            " --policy-definition-reference-ids {}",
            references.join(" ")
        )
    };
    format!(
        "request a policy exemption (needs Microsoft.Authorization/policyExemptions/write): \
         `az policy exemption create --name {} --policy-assignment {assignment_id} \
         --exemption-category Waiver --scope {}{reference_flag}`; or ask the owner of policy \
         assignment {}, assigned at {}, to {}",
        exemption_name(hit.assignment),
        target.exemption_scope,
        assignment_label(hit.assignment),
        prop(hit.assignment, "scope").unwrap_or("unknown"),
        owner_change(first, target)
    )
}

/// The condition of a definition, as evidence.
fn condition(definition: &Value) -> Value {
    definition
        .get("properties")
        .unwrap_or(definition)
        .get("policyRule")
        .and_then(|r| r.get("if"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The targets of one finding (same resource id and type), evaluated together.
struct Group<'t, 'a> {
    finding_id: &'t str,
    targets: Vec<&'t Target<'a>>,
}

fn groups<'t, 'a>(targets: &'t [Target<'a>]) -> Vec<Group<'t, 'a>> {
    // Indexed: a fleet without a plan has a target per candidate machine.
    let mut index: std::collections::HashMap<(String, &str), usize> =
        std::collections::HashMap::new();
    let mut out: Vec<Group<'t, 'a>> = Vec::new();
    for target in targets {
        let key = (
            target.finding_id.to_ascii_lowercase(),
            target.resource.type_.as_str(),
        );
        match index.get(&key) {
            Some(&at) => out[at].targets.push(target),
            None => {
                index.insert(key, out.len());
                out.push(Group {
                    finding_id: &target.finding_id,
                    targets: vec![target],
                });
            }
        }
    }
    out
}

/// The labels of targets, for a message: the first, and how many more.
fn labels(targets: &[&Target<'_>]) -> String {
    match targets {
        [] => String::new(),
        [one] => one.label.clone(),
        [first, rest @ ..] => format!("{} (and {} more)", first.label, rest.len()),
    }
}

/// The inconclusive finding for targets whose scope's assignments are missing.
fn assignments_missing(target: &Target<'_>, reason: Missing<'_>) -> Diagnostic {
    let what = format!("the policy assignments at {}", target.facts.scope);
    let evidence = json!({ "resource": target.label, "policyScope": target.facts.scope });
    match reason {
        Missing::Unavailable(reason) => {
            // A 403 that does not say what was missing: it is the read of the assignments there.
            let mut named = reason.clone();
            let forbidden = reason.kind == crate::snapshot::UnavailableKind::Forbidden
                || reason.http_status == Some(403);
            if forbidden && named.action.is_none() {
                named.action = Some("Microsoft.Authorization/policyAssignments/read".to_owned());
                named.scope = named.scope.or_else(|| Some(target.facts.scope.clone()));
            }
            let mut d = Diagnostic::inconclusive(target.finding_id.clone(), &what, &named);
            d.message = format!(
                "{} (so whether a Deny policy blocks {} is not known)",
                d.message, target.label
            );
            d.with_evidence("resource", target.label.as_str())
                .with_evidence("policyScope", target.facts.scope.as_str())
        }
        Missing::NotInSnapshot => Diagnostic::new(
            Status::Inconclusive,
            target.finding_id.clone(),
            format!(
                "the snapshot was taken without policy assignments at {}: whether a Deny policy \
                 blocks {} is not known",
                target.facts.scope, target.label
            ),
        )
        .remediation(
            "take the snapshot again with this version (`esu-preflight snapshot --output-file \
             FILE`, with --license-plan PLAN when there is one), which reads policy assignments, \
             or check live with `esu-preflight check`",
        )
        .evidence(evidence)
        .with_evidence("unavailable", json!({ "code": super::NOT_IN_SNAPSHOT })),
    }
}

/// ESU301/302/303 for one group of targets.
fn deny_diagnostics<'a>(ctx: &CheckCtx<'a>, group: &Group<'_, 'a>) -> Vec<Diagnostic> {
    let first = group.targets[0];
    for target in &group.targets {
        if let Err(reason) = target.facts.assignments {
            return vec![assignments_missing(target, reason)];
        }
    }
    let evaluations: Vec<(&Target<'_>, std::rc::Rc<Evaluation<'_>>)> = group
        .targets
        .iter()
        .map(|t| (*t, evaluate(ctx, t, t.facts.assignments.unwrap_or(&[]))))
        .collect();
    // Denials by assignment, in the order found.
    let mut by_assignment: Vec<(&Hit<'_>, Vec<&Target<'_>>)> = Vec::new();
    for (target, evaluation) in &evaluations {
        for hit in &evaluation.denies {
            let id = hit.assignment.get("id").and_then(Value::as_str);
            match by_assignment.iter_mut().find(|(h, _)| {
                std::ptr::eq(h.assignment, hit.assignment)
                    || (id.is_some() && h.assignment.get("id").and_then(Value::as_str) == id)
            }) {
                Some((_, targets)) => {
                    if !targets.iter().any(|t| std::ptr::eq(*t, *target)) {
                        targets.push(target);
                    }
                }
                None => by_assignment.push((hit, vec![target])),
            }
        }
    }
    let server: Vec<Value> = evaluations
        .iter()
        .filter_map(|(t, _)| {
            service(ctx, t).map(|s| json!({ "resource": t.label, "answer": s.evidence() }))
        })
        .collect();
    let with_server = |d: Diagnostic| {
        if server.is_empty() {
            d
        } else {
            d.with_evidence("serverCheck", server.clone())
        }
    };
    if !by_assignment.is_empty() {
        return by_assignment
            .into_iter()
            .map(|(hit, targets)| {
                let target = targets[0];
                let member = &hit.members[0];
                let in_member = member
                    .reference_id
                    .as_deref()
                    .map(|r| format!(" (initiative member {r})"))
                    .unwrap_or_default();
                let exemptions_note = match target.facts.exemptions {
                    Ok(_) => String::new(),
                    Err(reason) => format!(
                        "; no exemption can lift it that is not known: {}",
                        describe_missing("the policy exemptions", reason)
                    ),
                };
                let message = format!(
                    "policy assignment {} denies {}: {}{in_member} matches, effect {} from {}{exemptions_note}",
                    assignment_label(hit.assignment),
                    labels(&targets),
                    definition_label(&member.definition_id, Some(member.definition)),
                    one_line(&member.effect),
                    member.effect_source,
                );
                let members: Vec<Value> = hit
                    .members
                    .iter()
                    .map(|m| {
                        json!({
                            "definition": definition_evidence(&m.definition_id, Some(m.definition)),
                            "policyDefinitionReferenceId": m.reference_id,
                            "effect": m.effect,
                            "effectSource": m.effect_source,
                            "condition": condition(m.definition),
                        })
                    })
                    .collect();
                let mut d = Diagnostic::new(Status::Fail, group.finding_id, message)
                    .remediation(deny_remediation(hit, target))
                    .evidence(json!({
                        "resources": targets.iter().map(|t| resource_evidence(t)).collect::<Vec<_>>(),
                        "policyScope": target.facts.scope,
                        "assignment": assignment_evidence(hit.assignment),
                        "definition": definition_evidence(&member.definition_id, Some(member.definition)),
                        "policyDefinitionReferenceId": member.reference_id,
                        "effect": member.effect,
                        "effectSource": member.effect_source,
                        "condition": condition(member.definition),
                    }));
                if hit.members.len() > 1 {
                    d = d.with_evidence("members", members);
                }
                if let Err(reason) = target.facts.exemptions {
                    d = d.with_evidence("exemptionsUnavailable", missing_evidence(reason));
                }
                with_server(d)
            })
            .collect();
    }
    let unread: Vec<&Unread<'_>> = evaluations.iter().flat_map(|(_, e)| &e.unread).collect();
    if let Some(u) = unread.first() {
        let message = format!(
            "whether policy assignment {} denies {} is not known: {} of policy definition {}",
            assignment_label(u.assignment),
            labels(&group.targets),
            match u.reason {
                Missing::NotInSnapshot => "the snapshot was taken without the payload".to_owned(),
                Missing::Unavailable(reason) => format!(
                    "could not read the payload ({})",
                    super::describe_unavailable(reason)
                ),
            },
            u.definition_id,
        );
        let remediation = match u.reason {
            Missing::NotInSnapshot => "take the snapshot again with this version \
                (`esu-preflight snapshot --output-file FILE`), which reads the definitions behind \
                the policy assignments, or check live with `esu-preflight check`"
                .to_owned(),
            Missing::Unavailable(_) => format!(
                "grant the signed-in identity read access to policy definitions \
                 (Microsoft.Authorization/policyDefinitions/read, in Reader) and run again, or \
                 read it yourself: `az policy definition show --name {}`",
                u.definition_id.rsplit('/').next().unwrap_or_default()
            ),
        };
        let unread_evidence: Vec<Value> = unread
            .iter()
            .map(|u| {
                json!({
                    "assignment": assignment_evidence(u.assignment),
                    "definitionId": u.definition_id,
                    "unavailable": missing_evidence(u.reason),
                })
            })
            .collect();
        return vec![with_server(
            Diagnostic::new(Status::Inconclusive, group.finding_id, message)
                .remediation(remediation)
                .evidence(json!({
                    "resources": group.targets.iter().map(|t| resource_evidence(t)).collect::<Vec<_>>(),
                    "policyScope": first.facts.scope,
                    "unreadDefinitions": unread_evidence,
                })),
        )];
    }
    let evaluated: usize = evaluations
        .iter()
        .map(|(_, e)| e.evaluated)
        .max()
        .unwrap_or(0);
    let not_enforced: Vec<Value> = evaluations
        .iter()
        .flat_map(|(_, e)| e.not_enforced.iter().cloned())
        .fold(Vec::new(), |mut all, v| {
            if !all.contains(&v) {
                all.push(v);
            }
            all
        });
    let open = evaluations.iter().map(|(_, e)| e.open.len()).sum::<usize>();
    let note = if open > 0 {
        format!(" ({open} undetermined: see ESU304)")
    } else {
        String::new()
    };
    vec![with_server(
        Diagnostic::new(
            Status::Pass,
            group.finding_id,
            format!(
                "no enforced Deny policy assignment at {} rejects {}{note}",
                first.facts.scope,
                labels(&group.targets)
            ),
        )
        .with_evidence(
            "resources",
            group
                .targets
                .iter()
                .map(|t| ResourceRow::of(t))
                .collect::<Vec<_>>(),
        )
        .with_evidence("policyScope", &first.facts.scope)
        .with_evidence("assignmentsEvaluated", evaluated)
        .with_evidence("notEnforced", not_enforced)
        .with_evidence("undetermined", open),
    )]
}

fn resource_evidence(target: &Target<'_>) -> Value {
    serde_json::to_value(ResourceRow::of(target)).unwrap_or(Value::Null)
}

/// A target resource in evidence: `{"description", "id", "location", "type", "unknown"}` (the
/// members in the order a JSON object of the report sorts them), written straight into the
/// evidence where no `Value` is needed (a fleet has a row per machine).
#[derive(Serialize)]
struct ResourceRow<'t> {
    description: &'t str,
    id: &'t str,
    location: Option<&'t str>,
    #[serde(rename = "type")]
    type_: &'t str,
    unknown: Vec<&'t str>,
}

impl<'t> ResourceRow<'t> {
    fn of(target: &'t Target<'_>) -> Self {
        let r = &target.resource;
        ResourceRow {
            description: &target.label,
            id: &r.id,
            location: r
                .location
                .as_deref()
                .filter(|_| !r.unknown.contains_key("location")),
            type_: &r.type_,
            unknown: r.unknown.keys().map(String::as_str).collect(),
        }
    }
}

/// The targets of a family in the subscription being checked (built once per run: ESU301–ESU305
/// each ask).
fn targets<'a>(ctx: &CheckCtx<'a>, family: Family) -> Rc<Vec<Target<'a>>> {
    let key = (
        std::ptr::from_ref(ctx.subscription) as usize,
        family,
        ctx.program.map(|p| p.id),
    );
    let memo = &ctx.estate.policy_evaluations;
    if let Some(known) = memo.targets.borrow().get(&key) {
        return Rc::clone(known);
    }
    let built = Rc::new(match family {
        Family::License => license_targets(ctx),
        Family::Link => link_targets(ctx),
        Family::Provider => provider_targets(ctx),
    });
    memo.targets.borrow_mut().insert(key, Rc::clone(&built));
    built
}

fn subjects_of(ctx: &CheckCtx<'_>, family: Family) -> Vec<Subject> {
    let targets = targets(ctx, family);
    groups(&targets)
        .iter()
        .map(|g| Subject::new(g.finding_id))
        .collect()
}

fn run_family(
    ctx: &CheckCtx<'_>,
    family: Family,
    info: &'static CheckInfo,
    out: &mut Vec<Finding>,
) {
    let targets = targets(ctx, family);
    for group in groups(&targets) {
        for diagnostic in deny_diagnostics(ctx, &group) {
            out.push(ctx.finding(info, diagnostic));
        }
    }
}

impl Check for DenyPolicyBlocksLicense {
    fn info(&self) -> &'static CheckInfo {
        &BLOCKS_LICENSE
    }

    /// The planned licenses; without a plan, the license scopes.
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        subjects_of(ctx, Family::License)
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        run_family(ctx, Family::License, &BLOCKS_LICENSE, out);
    }
}

impl Check for DenyPolicyBlocksLicenseLink {
    fn info(&self) -> &'static CheckInfo {
        &BLOCKS_LINK
    }

    /// The license profiles of the planned links; without a plan, of the candidate machines.
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        subjects_of(ctx, Family::Link)
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        run_family(ctx, Family::Link, &BLOCKS_LINK, out);
    }
}

impl Check for DenyPolicyBlocksProviderResources {
    fn info(&self) -> &'static CheckInfo {
        &BLOCKS_PROVIDER
    }

    /// The namespaces of [`PROVIDER_RESOURCE_TYPES`].
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        subjects_of(ctx, Family::Provider)
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        run_family(ctx, Family::Provider, &BLOCKS_PROVIDER, out);
    }
}

/// One undetermined (assignment, definition, expression), with the resources it concerns.
struct OpenGroup<'t, 'a> {
    open: Open<'a>,
    family: Family,
    targets: Vec<&'t Target<'a>>,
}

impl Check for DenyPolicyUndetermined {
    fn info(&self) -> &'static CheckInfo {
        &UNDETERMINED
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        // Fast path (a fleet without a plan has a target per machine): when the subscription's
        // assignments were read and no scope has any, nothing can be undetermined.
        let sub = ctx.subscription;
        let any_assignment = std::iter::once(&sub.authorization)
            .chain(sub.resource_groups.iter().map(|g| &g.authorization))
            .any(|a| matches!(&a.policy_assignments, Some(Fact::Available { value }) if !value.is_empty()));
        let subscription_read = matches!(
            sub.authorization.policy_assignments,
            Some(Fact::Available { .. })
        );
        if subscription_read && !any_assignment {
            let d = Diagnostic::new(
                Status::Pass,
                ctx.subscription_resource_id(),
                "every policy assignment that applies to the ESU resources was decided",
            )
            .evidence(json!({ "assignments": 0 }));
            out.push(ctx.finding(&UNDETERMINED, d));
            return;
        }
        let families: Vec<Rc<Vec<Target<'_>>>> = [Family::License, Family::Link, Family::Provider]
            .into_iter()
            .map(|f| targets(ctx, f))
            .collect();
        let all: Vec<&Target<'_>> = families.iter().flat_map(|f| f.iter()).collect();
        let mut decided_anywhere = false;
        let mut open: Vec<OpenGroup<'_, '_>> = Vec::new();
        for &target in &all {
            let Ok(assignments) = target.facts.assignments else {
                continue;
            };
            decided_anywhere = true;
            for o in evaluate(ctx, target, assignments).open.iter().cloned() {
                let key = |x: &Open<'_>| {
                    (
                        x.assignment
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_ascii_lowercase),
                        x.definition_id.to_ascii_lowercase(),
                        x.reference_id.clone(),
                        x.undecided.clone(),
                    )
                };
                match open
                    .iter_mut()
                    .find(|g| g.family == target.family && key(&g.open) == key(&o))
                {
                    Some(g) => g.targets.push(target),
                    None => open.push(OpenGroup {
                        open: o,
                        family: target.family,
                        targets: vec![target],
                    }),
                }
            }
        }
        let subscription = ctx.subscription_resource_id();
        if !decided_anywhere {
            let d = Diagnostic::new(
                Status::Skipped,
                subscription,
                "no policy assignment could be read, so nothing was evaluated (ESU301–ESU303 say \
                 why)",
            )
            .evidence(json!({ "blockedBy": ["ESU301", "ESU302", "ESU303"] }));
            out.push(ctx.finding(&UNDETERMINED, d));
            return;
        }
        if open.is_empty() {
            let d = Diagnostic::new(
                Status::Pass,
                subscription,
                "every policy assignment that applies to the ESU resources was decided",
            )
            .evidence(json!({ "resources": all.len() }));
            out.push(ctx.finding(&UNDETERMINED, d));
            return;
        }
        for g in open {
            out.push(ctx.finding(&UNDETERMINED, undetermined_diagnostic(&g)));
        }
    }
}

fn undetermined_diagnostic(g: &OpenGroup<'_, '_>) -> Diagnostic {
    let o = &g.open;
    let target = g.targets[0];
    let definition = if o.definition_id.is_empty() {
        "no definition".to_owned()
    } else {
        definition_label(&o.definition_id, o.definition)
    };
    let member = o
        .reference_id
        .as_deref()
        .map(|r| format!(", initiative member {r}"))
        .unwrap_or_default();
    let why = one_line(&o.undecided.why);
    let expression = one_line(&o.undecided.expression);
    let message = format!(
        "whether policy assignment {} denies {} cannot be decided ({definition}{member}): cannot \
         decide {expression}: {why}",
        assignment_label(o.assignment),
        labels(&g.targets),
    );
    let plan_decides = o.undecided.why.contains(PLAN_DECIDES);
    let mut remediation = format!(
        "verify with the owner of policy assignment {} whether {} denies {}: read it with `az \
         policy definition show --name {}`; or ask the service: `az policy state trigger-scan \
         --resource-group RG` for existing resources, or POST \
         {}/providers/Microsoft.PolicyInsights/checkPolicyRestrictions with the planned resource",
        assignment_label(o.assignment),
        definition,
        target.resource.type_,
        o.definition_id.rsplit('/').next().unwrap_or("ID"),
        target.exemption_scope,
    );
    if plan_decides {
        remediation = format!(
            "run again with a license plan (`esu-preflight check --license-plan PLAN`): the plan \
             names the license, its location and tags, which decides it; or {remediation}"
        );
    }
    let family = match g.family {
        Family::License => "ESU301",
        Family::Link => "ESU302",
        Family::Provider => "ESU303",
    };
    Diagnostic::new(Status::Fail, target.finding_id.clone(), message)
        .remediation(remediation)
        .evidence(json!({
            "for": family,
            "resources": g.targets.iter().map(|t| resource_evidence(t)).collect::<Vec<_>>(),
            "policyScope": target.facts.scope,
            "assignment": assignment_evidence(o.assignment),
            "definition": definition_evidence(&o.definition_id, o.definition),
            "policyDefinitionReferenceId": o.reference_id,
            "expression": o.undecided.expression,
            "why": o.undecided.why,
            "licensePlanDecides": plan_decides,
        }))
}

impl Check for PolicyEvaluationDisagrees {
    fn info(&self) -> &'static CheckInfo {
        &DISAGREES
    }

    /// The planned resources the service was asked about.
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        if ctx.subscription.policy_restrictions.is_empty() {
            return Vec::new();
        }
        let mut subjects = Vec::new();
        for family in [Family::License, Family::Link] {
            for t in targets(ctx, family).iter() {
                if service(ctx, t).is_some() {
                    subjects.push(Subject::new(t.finding_id.clone()));
                }
            }
        }
        subjects
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        if ctx.subscription.policy_restrictions.is_empty() {
            return; // The service was not asked about anything here.
        }
        for family in [Family::License, Family::Link] {
            for target in targets(ctx, family).iter() {
                let Some(answer) = service(ctx, target) else {
                    continue;
                };
                out.push(ctx.finding(&DISAGREES, disagreement(ctx, target, &answer)));
            }
        }
    }
}

fn disagreement<'a>(ctx: &CheckCtx<'a>, target: &Target<'a>, answer: &Service<'_>) -> Diagnostic {
    let id = target.finding_id.clone();
    let label = &target.label;
    let evidence =
        json!({ "resource": resource_evidence(target), "serverCheck": answer.evidence() });
    let service = match (answer, answer.denied()) {
        (Service::Unavailable(reason), _) => {
            return Diagnostic::new(
                Status::Skipped,
                id,
                format!(
                    "the service's policy pre-check of {label} is not available: {}",
                    super::describe_unavailable(reason)
                ),
            )
            .evidence(evidence);
        }
        (Service::Unreadable(why), _) => {
            return Diagnostic::new(
                Status::Skipped,
                id,
                format!(
                    "the service's policy pre-check of {label} could not be read: {}",
                    one_line(why)
                ),
            )
            .evidence(evidence);
        }
        (_, Some(denied)) => denied,
        (_, None) => return Diagnostic::new(Status::Skipped, id, "no answer").evidence(evidence),
    };
    let local = match target.facts.assignments {
        Ok(assignments) => evaluate(ctx, target, assignments).denied(),
        Err(_) => None,
    };
    let Some(local) = local else {
        return Diagnostic::new(
            Status::Skipped,
            id,
            format!(
                "the service's policy pre-check {} {label}; the local evaluation could not decide \
                 (ESU301, ESU302, ESU304 say why)",
                if service { "denies" } else { "allows" }
            ),
        )
        .evidence(evidence);
    };
    let words = |d: bool| if d { "denies" } else { "allows" };
    if local == service {
        return Diagnostic::new(
            Status::Pass,
            id,
            format!(
                "the service's policy pre-check agrees with the local evaluation: both {} {label}",
                if service { "deny" } else { "allow" }
            ),
        )
        .evidence(evidence);
    }
    let assignments = match answer {
        Service::Denies(details) => details
            .iter()
            .filter_map(|d| {
                d.pointer("/policy/policyAssignmentId")
                    .and_then(Value::as_str)
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let (message, remediation) =
        if service {
            (
            format!(
                "the service's policy pre-check denies {label} (assignment {}) but the local \
                 evaluation found no Deny",
                if assignments.is_empty() { "not named" } else { assignments.as_str() }
            ),
            "treat the resource as blocked: read the service's reason in this finding's evidence \
             and proceed as for ESU301 (a policy exemption with `az policy exemption create`, or \
             the policy owner); the snapshot may lack a policy assignment or exemption the service \
             sees"
                .to_owned(),
        )
        } else {
            (
                format!(
                    "the local evaluation {} {label} but the service's policy pre-check allows it",
                    words(local)
                ),
                "compare the ESU301/ESU302 finding's condition with the service's answer in this \
             finding's evidence; an exemption or a policy change the snapshot does not show may \
             explain it, else report it as an esu-preflight bug with the definition"
                    .to_owned(),
            )
        };
    let mut d = Diagnostic::new(Status::Fail, id, message)
        .remediation(remediation)
        .evidence(evidence);
    if service {
        d = d.severity(Severity::Error);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snapshot;
    use crate::checks::testkit::{self, Fixture, SUB, assert_conventions, fixture};
    use crate::snapshot::{PolicyRestrictionCheck, ResourceGroupSnapshot, ScopeAuthorization};
    use serde_json::Map;

    const RG: &str = "rg-esu";
    const ASSIGNMENT: &str = "block-esu";

    fn builtin(file: &str) -> Value {
        fixture(&format!("policy-builtin/{file}"))
    }

    fn assignment_id(name: &str) -> String {
        format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/{name}")
    }

    /// An assignment at the subscription (shape of the real `listPolicyAssignments.json`).
    fn assignment(name: &str, definition_id: &str, parameters: Value) -> Value {
        let parameters: Map<String, Value> = parameters
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), json!({ "value": v })))
            .collect();
        let mut a =
            fixture("policy/listPolicyAssignments.json")["responses"]["200"]["body"]["value"][0]
                .clone();
        a["id"] = json!(assignment_id(name));
        a["name"] = json!(name);
        let p = &mut a["properties"];
        p["displayName"] = json!(format!("Policy {name}"));
        p["policyDefinitionId"] = json!(definition_id);
        p["parameters"] = Value::Object(parameters);
        p["scope"] = json!(format!("/subscriptions/{SUB}"));
        a
    }

    fn assign(definition: &Value, parameters: Value) -> Value {
        assignment(ASSIGNMENT, definition["id"].as_str().unwrap(), parameters)
    }

    fn machine_id(name: &str) -> String {
        testkit::machine_json(name)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn planned(name: &str, location: &str, machines: &[&str]) -> PlannedLicense {
        PlannedLicense {
            name: name.into(),
            subscription: None,
            resource_group: RG.into(),
            location: location.into(),
            target: "Windows Server 2012 R2".into(),
            edition: "Datacenter".into(),
            license_type: "pCore".into(),
            processors: 16,
            state: "Activated".into(),
            machines: machines.iter().map(|m| machine_id(m)).collect(),
        }
    }

    /// A plan for license `esu-1` in `rg-esu` (eastus) linking `srv-01` (eastus, in `rg-arc`).
    fn planned_fixture() -> Fixture {
        let mut fixture = Fixture::healthy().machine(testkit::machine_json("srv-01"));
        fixture.plan.licenses = vec![planned("esu-1", "eastus", &["srv-01"])];
        fixture
    }

    /// Puts `assignments` at the subscription and `definitions` (policy and set definitions, by
    /// their `id`) in the tenant.
    fn with_policies(snapshot: &mut Snapshot, assignments: Vec<Value>, definitions: Vec<Value>) {
        snapshot.subscriptions[0].authorization.policy_assignments =
            Some(Fact::Available { value: assignments });
        for definition in definitions {
            let id = definition["id"].as_str().unwrap().to_ascii_lowercase();
            let map = if policy::is_set_definition_id(&id) {
                &mut snapshot.tenant.policy_set_definitions
            } else {
                &mut snapshot.tenant.policy_definitions
            };
            map.insert(id, Fact::Available { value: definition });
        }
    }

    fn all_checks() -> [&'static dyn Check; 5] {
        [
            &DenyPolicyBlocksLicense,
            &DenyPolicyBlocksLicenseLink,
            &DenyPolicyBlocksProviderResources,
            &DenyPolicyUndetermined,
            &PolicyEvaluationDisagrees,
        ]
    }

    fn run(fixture: &Fixture, edit: impl FnOnce(&mut Snapshot)) -> Vec<Finding> {
        let (mut snapshot, config) = fixture.build();
        edit(&mut snapshot);
        let findings = testkit::run_on(
            &all_checks(),
            &snapshot,
            &config,
            &fixture.plan,
            fixture.now,
            None,
        );
        for f in &findings {
            assert_conventions(f);
        }
        findings
    }

    fn of<'f>(findings: &'f [Finding], id: &str) -> Vec<&'f Finding> {
        findings.iter().filter(|f| f.check_id == id).collect()
    }

    fn statuses(findings: &[Finding], id: &str) -> Vec<Status> {
        of(findings, id).iter().map(|f| f.status).collect()
    }

    fn not_allowed(types: &[&str]) -> (Value, Value) {
        let definition = builtin("InvalidResourceTypes_Deny.json");
        let a = assign(
            &definition,
            json!({ "listOfResourceTypesNotAllowed": types }),
        );
        (a, definition)
    }

    #[test]
    fn esu301_not_allowed_resource_types_with_the_default_effect_fails() {
        let (a, d) = not_allowed(&["microsoft.hybridcompute/licenses"]);
        let findings = run(&planned_fixture(), |s| with_policies(s, vec![a], vec![d]));
        let f = of(&findings, "ESU301");
        assert_eq!(f.len(), 1);
        let f = f[0];
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            *f.resource_id,
            format!(
                "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.HybridCompute/licenses/esu-1"
            )
        );
        assert!(
            f.message.starts_with(
                "policy assignment 'Policy block-esu' (block-esu) denies planned license esu-1: Not \
                 allowed resource types (built-in 6c112d4e-5bc7-47ae-a041-ea2d9dccd749) matches, \
                 effect Deny from the default value of the definition's parameter 'effect'"
            ),
            "{}",
            f.message
        );
        assert!(f.remediation.contains(&format!(
            "`az policy exemption create --name esu-block-esu --policy-assignment {} \
             --exemption-category Waiver --scope /subscriptions/{SUB}/resourceGroups/{RG}`",
            assignment_id(ASSIGNMENT)
        )));
        assert!(f.remediation.contains(
            "remove Microsoft.HybridCompute/licenses from its listOfResourceTypesNotAllowed"
        ));
        assert_eq!(f.evidence.value()["assignment"]["name"], "block-esu");
        assert_eq!(
            f.evidence.value()["assignment"]["scope"],
            format!("/subscriptions/{SUB}")
        );
        assert_eq!(
            f.evidence.value()["definition"]["builtIn"],
            "Not allowed resource types"
        );
        assert_eq!(f.evidence.value()["effect"], "Deny");
        assert_eq!(f.evidence.value()["condition"]["allOf"][0]["field"], "type");
        // The link, the providers' types and ESU304 are fine.
        assert_eq!(statuses(&findings, "ESU302"), [Status::Pass]);
        assert_eq!(statuses(&findings, "ESU303"), [Status::Pass; 3]);
        assert_eq!(statuses(&findings, "ESU304"), [Status::Pass]);
        assert!(of(&findings, "ESU305").is_empty());
    }

    #[test]
    fn esu301_the_old_literal_deny_versions_fail_too() {
        let definition = builtin("v1.0.0/InvalidResourceTypes_Deny.json");
        let a = assign(
            &definition,
            json!({ "listOfResourceTypesNotAllowed": ["Microsoft.HybridCompute/licenses"] }),
        );
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![definition])
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message
                .ends_with("effect Deny from the definition's literal effect"),
            "{}",
            f.message
        );

        // v1.0.0 Allowed locations, literal `deny`: the license, the link and the machine
        // resources in eastus are denied; a guest configuration assignment has no tags, so the
        // Indexed definition never sees it.
        let definition = builtin("v1.0.0/AllowedLocations_Deny.json");
        let a = assign(
            &definition,
            json!({ "listOfAllowedLocations": ["westeurope"] }),
        );
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![definition])
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Fail]);
        assert_eq!(statuses(&findings, "ESU302"), [Status::Fail]);
        let esu303: Vec<(&str, Status)> = of(&findings, "ESU303")
            .iter()
            .map(|f| (f.resource_id.rsplit('/').next().unwrap(), f.status))
            .collect();
        assert_eq!(
            esu303,
            [
                ("Microsoft.GuestConfiguration", Status::Pass),
                ("Microsoft.HybridCompute", Status::Fail),
                ("Microsoft.HybridCompute", Status::Fail),
            ]
        );
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.evidence.value()["effect"], "deny");
        assert!(f.remediation.contains(
            "add eastus to its listOfAllowedLocations parameter, or plan the license in a location it allows"
        ));
    }

    #[test]
    fn esu302_allowed_resource_types_without_license_profiles_fails_the_link() {
        let definition = builtin("AllowedResourceTypes_Deny.json");
        let a = assign(
            &definition,
            json!({ "listOfResourceTypesAllowed": [
                "Microsoft.HybridCompute/licenses",
                "Microsoft.HybridCompute/machines",
                "Microsoft.HybridCompute/machines/extensions",
            ]}),
        );
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![definition])
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Pass]);
        let f = of(&findings, "ESU302");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Fail);
        assert_eq!(
            *f[0].resource_id,
            format!("{}/licenseProfiles/default", machine_id("srv-01"))
        );
        assert!(
            f[0].message
                .contains("the license profile of machine srv-01 (planned license esu-1)")
        );
        assert!(f[0].remediation.contains(
            "add Microsoft.HybridCompute/machines/licenseProfiles to its listOfResourceTypesAllowed"
        ));
        assert!(f[0].remediation.contains("--scope /subscriptions/"));
        assert!(f[0].remediation.contains("/resourceGroups/rg-arc`"));
        // Guest configuration assignments are not in the list, but Indexed never sees them.
        assert_eq!(statuses(&findings, "ESU303"), [Status::Pass; 3]);
    }

    #[test]
    fn allowed_locations_pass_where_they_allow_and_fail_elsewhere() {
        let definition = builtin("AllowedLocations_Deny.json");
        let allowing = assign(
            &definition,
            json!({ "listOfAllowedLocations": ["East US"] }),
        );
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![allowing], vec![definition.clone()])
        });
        assert!(
            findings.iter().all(|f| f.status == Status::Pass),
            "{findings:#?}"
        );
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.evidence.value()["assignmentsEvaluated"], 1);
        assert!(f.remediation.is_empty());

        let denying = assign(
            &definition,
            json!({ "listOfAllowedLocations": ["westeurope"] }),
        );
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![denying], vec![definition])
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Fail]);
        assert_eq!(statuses(&findings, "ESU302"), [Status::Fail]);
        assert!(of(&findings, "ESU303")[1].message.contains("in eastus"));
    }

    #[test]
    fn the_esu_deny_builtin_fails_licenses_unless_not_enforced() {
        let definition = builtin("GuestConfiguration_ArcESU_Deny.json");
        let a = assign(&definition, json!({}));
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![definition.clone()])
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message
                .contains("[Preview]: Deny Extended Security Updates")
        );
        assert!(
            f.remediation
                .contains("set its effect parameter to Disabled")
        );
        assert_eq!(statuses(&findings, "ESU302"), [Status::Pass]);

        // DoNotEnforce: a pass that lists it as not enforced.
        let mut relaxed = a;
        relaxed["properties"]["enforcementMode"] = json!("DoNotEnforce");
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![relaxed], vec![definition])
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(
            f.evidence.value()["notEnforced"][0]["why"],
            "enforcementMode DoNotEnforce"
        );
    }

    #[test]
    fn the_issue_scenario_names_the_enforced_assignment_and_not_the_relaxed_one() {
        let (blocking, not_allowed_def) = not_allowed(&["microsoft.hybridcompute/licenses"]);
        let esu_def = builtin("GuestConfiguration_ArcESU_Deny.json");
        let mut relaxed = assignment("esu-deny", esu_def["id"].as_str().unwrap(), json!({}));
        relaxed["properties"]["enforcementMode"] = json!("DoNotEnforce");
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![blocking, relaxed], vec![not_allowed_def, esu_def])
        });
        let f = of(&findings, "ESU301");
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("(block-esu)"));
        assert!(!f[0].message.contains("esu-deny"));
    }

    #[test]
    fn not_scopes_covering_the_resource_group_pass() {
        let definition = builtin("GuestConfiguration_ArcESU_Deny.json");
        let mut a = assign(&definition, json!({}));
        a["properties"]["notScopes"] =
            json!([format!("/subscriptions/{SUB}/resourceGroups/RG-ESU")]);
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![definition])
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.evidence.value()["notEnforced"][0]["why"]
                .as_str()
                .unwrap()
                .starts_with("notScopes excludes")
        );
    }

    fn exemption(expires: Option<&str>) -> Value {
        let mut e = fixture("policy/listPolicyExemptionsForResourceGroup.json")["responses"]["200"]
            ["body"]["value"][0]
            .clone();
        e["id"] = json!(format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/policyExemptions/esu-waiver"
        ));
        let p = &mut e["properties"];
        p["policyAssignmentId"] = json!(assignment_id(ASSIGNMENT));
        p["policyDefinitionReferenceIds"] = json!([]);
        if let Some(at) = expires {
            p["expiresOn"] = json!(at);
        }
        e
    }

    fn with_exemptions(s: &mut Snapshot, exemptions: Fact<Vec<Value>>) {
        s.subscriptions[0].authorization.policy_exemptions = Some(exemptions);
    }

    #[test]
    fn an_exemption_lifts_the_deny_until_it_expires() {
        let definition = builtin("GuestConfiguration_ArcESU_Deny.json");
        let a = assign(&definition, json!({}));
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![definition.clone()]);
            with_exemptions(
                s,
                Fact::Available {
                    value: vec![exemption(Some("2027-01-01T00:00:00Z"))],
                },
            );
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.evidence.value()["notEnforced"][0]["why"]
                .as_str()
                .unwrap()
                .starts_with("exempted (Waiver)")
        );

        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![definition.clone()]);
            with_exemptions(
                s,
                Fact::Available {
                    value: vec![exemption(Some("2026-01-01T00:00:00Z"))],
                },
            );
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Fail]);

        // Exemptions that could not be read: the deny stands, and the finding says why.
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![definition]);
            with_exemptions(
                s,
                Fact::Unavailable {
                    reason: testkit::server_error(),
                },
            );
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("could not read the policy exemptions"),
            "{}",
            f.message
        );
        assert_eq!(
            f.evidence.value()["exemptionsUnavailable"]["http_status"],
            503
        );
    }

    #[test]
    fn unreadable_exemptions_do_not_matter_when_nothing_denies() {
        let findings = run(&planned_fixture(), |s| {
            with_exemptions(
                s,
                Fact::Unavailable {
                    reason: testkit::server_error(),
                },
            );
        });
        assert!(
            findings.iter().all(|f| f.status == Status::Pass),
            "{findings:#?}"
        );
    }

    /// An initiative whose ESU-deny member takes its effect from the set's `esuEffect`.
    fn initiative() -> (Value, Value) {
        let mut set =
            fixture("policy/getPolicySetDefinition.json")["responses"]["200"]["body"].clone();
        set["id"] = json!(format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/policySetDefinitions/esu-guard"
        ));
        set["properties"]["parameters"] = json!({
            "esuEffect": { "type": "String", "defaultValue": "Audit" }
        });
        set["properties"]["policyDefinitions"] = json!([{
            "policyDefinitionId": builtin("GuestConfiguration_ArcESU_Deny.json")["id"],
            "policyDefinitionReferenceId": "DenyEsu",
            "parameters": { "effect": { "value": "[parameters('esuEffect')]" } }
        }]);
        let a = assign(&set, json!({ "esuEffect": "Deny" }));
        (a, set)
    }

    #[test]
    fn an_initiative_effect_through_a_set_parameter_fails_and_an_override_to_disabled_passes() {
        let (a, set) = initiative();
        let member = builtin("GuestConfiguration_ArcESU_Deny.json");
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![set.clone(), member.clone()])
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("(initiative member DenyEsu)"),
            "{}",
            f.message
        );
        assert!(
            f.message
                .contains("from the assignment's value of initiative parameter 'esuEffect'"),
            "{}",
            f.message
        );
        assert_eq!(f.evidence.value()["policyDefinitionReferenceId"], "DenyEsu");
        assert!(
            f.remediation
                .contains("--policy-definition-reference-ids DenyEsu")
        );

        let mut overridden = a;
        overridden["properties"]["overrides"] = json!([{
            "kind": "policyEffect",
            "value": "Disabled",
            "selectors": [{ "kind": "policyDefinitionReferenceId", "in": ["DenyEsu"] }]
        }]);
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![overridden], vec![set, member])
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Pass]);
    }

    #[test]
    fn esu304_names_an_undecidable_condition_and_never_passes_silently() {
        let mut custom =
            fixture("policy/getPolicyDefinition.json")["responses"]["200"]["body"].clone();
        custom["properties"]["mode"] = json!("All");
        custom["properties"]["policyRule"] = json!({
            "if": { "allOf": [
                { "field": "type", "equals": "Microsoft.HybridCompute/licenses" },
                { "field": "name", "sortOf": "esu-*" }
            ]},
            "then": { "effect": "deny" }
        });
        let a = assign(&custom, json!({}));
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![custom])
        });
        let f = of(&findings, "ESU304");
        assert_eq!(f.len(), 1);
        let f = f[0];
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
        assert!(
            f.message
                .contains("denies planned license esu-1 cannot be decided"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("'sortOf' is not an operator"),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("az policy definition show"));
        assert_eq!(f.evidence.value()["for"], "ESU301");
        let esu301 = of(&findings, "ESU301")[0];
        assert_eq!(esu301.status, Status::Pass);
        assert!(
            esu301.message.ends_with("(1 undetermined: see ESU304)"),
            "{}",
            esu301.message
        );
    }

    #[test]
    fn malformed_and_unreadable_definitions_are_named() {
        // Malformed (no policy rule): ESU304 names it.
        let broken = json!({
            "id": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/broken"),
            "properties": { "displayName": "Broken", "policyRule": 42 }
        });
        let a = assign(&broken, json!({}));
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![broken.clone()])
        });
        let f = of(&findings, "ESU304");
        assert!(!f.is_empty());
        assert!(
            f[0].message.contains("'Broken' (broken)"),
            "{}",
            f[0].message
        );

        // Could not be read: the license's finding is inconclusive and names it.
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![]);
            s.tenant.policy_definitions.insert(
                broken["id"].as_str().unwrap().to_ascii_lowercase(),
                Fact::Unavailable {
                    reason: testkit::server_error(),
                },
            );
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message.contains("policyDefinitions/broken"),
            "{}",
            f.message
        );
        assert!(f.message.contains("HTTP 503"), "{}", f.message);

        // Not in the snapshot at all.
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![])
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message
                .contains("the snapshot was taken without the payload"),
            "{}",
            f.message
        );

        // …unless the assignment is not enforced anyway.
        let mut relaxed = a;
        relaxed["properties"]["enforcementMode"] = json!("DoNotEnforce");
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![relaxed], vec![])
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Pass]);
    }

    #[test]
    fn forbidden_policy_assignments_are_inconclusive_with_the_action_and_scope() {
        let action = "Microsoft.Authorization/policyAssignments/read";
        let findings = run(&planned_fixture(), |s| {
            s.subscriptions[0].authorization.policy_assignments = Some(Fact::Unavailable {
                reason: testkit::forbidden(action),
            });
        });
        for id in ["ESU301", "ESU302", "ESU303"] {
            let f = of(&findings, id);
            assert!(!f.is_empty());
            for f in f {
                assert_eq!(f.status, Status::Inconclusive, "{f:#?}");
                assert!(
                    f.message
                        .contains(&format!("lacks {action} on /subscriptions/{SUB}")),
                    "{}",
                    f.message
                );
            }
        }
        assert_eq!(statuses(&findings, "ESU304"), [Status::Skipped]);

        // A 403 that does not name the action: the policy assignments' read, at the scope.
        let mut bare = testkit::forbidden(action);
        bare.action = None;
        bare.scope = None;
        let findings = run(&planned_fixture(), |s| {
            s.subscriptions[0].authorization.policy_assignments =
                Some(Fact::Unavailable { reason: bare });
        });
        let f = of(&findings, "ESU301")[0];
        assert!(
            f.message
                .contains(&format!("lacks {action} on /subscriptions/{SUB}")),
            "{}",
            f.message
        );
        assert!(f.remediation.contains(action));
    }

    #[test]
    fn a_snapshot_without_policy_assignments_is_inconclusive_never_pass() {
        let findings = run(&planned_fixture(), |s| {
            s.subscriptions[0].authorization = ScopeAuthorization::default();
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message
                .starts_with("the snapshot was taken without policy assignments")
        );
        assert_eq!(statuses(&findings, "ESU302"), [Status::Inconclusive]);
        assert_eq!(statuses(&findings, "ESU303"), [Status::Inconclusive; 3]);
    }

    fn group(exists: bool, assignments: Fact<Vec<Value>>) -> ResourceGroupSnapshot {
        ResourceGroupSnapshot {
            name: RG.into(),
            group: Fact::Available {
                value: exists.then(|| crate::models::ResourceGroup {
                    id: format!("/subscriptions/{SUB}/resourceGroups/{RG}"),
                    name: RG.into(),
                    location: Some("eastus".into()),
                }),
            },
            permissions: Fact::Available { value: Vec::new() },
            authorization: ScopeAuthorization {
                policy_assignments: Some(assignments),
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_resource_groups_own_assignments_are_used_when_read() {
        let (a, d) = not_allowed(&["Microsoft.HybridCompute/licenses"]);
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![], vec![d]);
            let rg = group(true, Fact::Available { value: vec![a] });
            s.subscriptions[0].resource_groups.push(rg);
        });
        let f = of(&findings, "ESU301")[0];
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.evidence.value()["policyScope"],
            format!("/subscriptions/{SUB}/resourceGroups/{RG}")
        );
        // The machine's group was not read: the subscription's (empty) list applies.
        assert_eq!(statuses(&findings, "ESU302"), [Status::Pass]);

        // A group that does not exist yet (ESU002 says so) is not inconclusive: a new group
        // gets the subscription's assignments.
        let findings = run(&planned_fixture(), |s| {
            let rg = group(
                false,
                Fact::Unavailable {
                    reason: testkit::not_found(),
                },
            );
            s.subscriptions[0].resource_groups.push(rg);
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Pass]);
        // A group that exists but whose assignments could not be read is.
        let findings = run(&planned_fixture(), |s| {
            let rg = group(
                true,
                Fact::Unavailable {
                    reason: testkit::server_error(),
                },
            );
            s.subscriptions[0].resource_groups.push(rg);
        });
        assert_eq!(statuses(&findings, "ESU301"), [Status::Inconclusive]);
    }

    fn restriction(answer: Fact<Value>) -> PolicyRestrictionCheck {
        PolicyRestrictionCheck {
            resource_id: planned("esu-1", "eastus", &[]).resource_id(SUB),
            resource_type: policy::LICENSE_TYPE.into(),
            answer,
        }
    }

    fn service_denies() -> Value {
        let mut body = fixture("policyinsights/PolicyRestrictions_CheckAtResourceGroupScope.json")
            ["responses"]["200"]["body"]
            .clone();
        // The location restrictions are about other values than eastus.
        body["fieldRestrictions"] = json!([]);
        body
    }

    #[test]
    fn esu305_warns_when_the_service_disagrees() {
        // The service says Deny, locally nothing applies.
        let findings = run(&planned_fixture(), |s| {
            s.subscriptions[0].policy_restrictions = vec![restriction(Fact::Available {
                value: service_denies(),
            })];
        });
        let f = of(&findings, "ESU305");
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].status, f[0].severity),
            (Status::Fail, Severity::Error)
        );
        assert!(
            f[0].message.contains("policyAssignments/2FF66C37"),
            "{}",
            f[0].message
        );
        let esu301 = of(&findings, "ESU301")[0];
        assert_eq!(
            esu301.evidence.value()["serverCheck"][0]["answer"]["verdict"],
            "deny"
        );

        // Both deny: agreement.
        let (a, d) = not_allowed(&["microsoft.hybridcompute/licenses"]);
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a.clone()], vec![d.clone()]);
            s.subscriptions[0].policy_restrictions = vec![restriction(Fact::Available {
                value: service_denies(),
            })];
        });
        assert_eq!(statuses(&findings, "ESU305"), [Status::Pass]);

        // Locally denied, the service allows: a warning.
        let findings = run(&planned_fixture(), |s| {
            with_policies(s, vec![a], vec![d]);
            s.subscriptions[0].policy_restrictions = vec![restriction(Fact::Available {
                value: json!({ "fieldRestrictions": [], "contentEvaluationResult": { "policyEvaluations": [] } }),
            })];
        });
        let f = of(&findings, "ESU305")[0];
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));

        // The real example's location restrictions hit a license planned in West Europe.
        let mut fixture = planned_fixture();
        fixture.plan.licenses[0].location = "westeurope".into();
        let mut body = fixture_body_restrictions_only();
        body["contentEvaluationResult"] = json!({ "policyEvaluations": [] });
        let findings = run(&fixture, |s| {
            s.subscriptions[0].policy_restrictions =
                vec![restriction(Fact::Available { value: body })];
        });
        let f = of(&findings, "ESU305")[0];
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.evidence.value()["serverCheck"]["denials"][0]["field"],
            "location"
        );

        // Not asked (forbidden): skipped, and noted in ESU301's evidence.
        let findings = run(&planned_fixture(), |s| {
            s.subscriptions[0].policy_restrictions = vec![restriction(Fact::Unavailable {
                reason: testkit::forbidden("Microsoft.PolicyInsights/checkPolicyRestrictions/read"),
            })];
        });
        assert_eq!(statuses(&findings, "ESU305"), [Status::Skipped]);
        assert_eq!(
            of(&findings, "ESU301")[0].evidence.value()["serverCheck"][0]["answer"]["verdict"],
            "unavailable"
        );
    }

    fn fixture_body_restrictions_only() -> Value {
        fixture("policyinsights/PolicyRestrictions_CheckAtResourceGroupScope.json")["responses"]["200"]
            ["body"]
            .clone()
    }

    #[test]
    fn without_a_plan_the_license_scopes_and_candidates_are_evaluated() {
        let definition = builtin("GuestConfiguration_ArcESU_Deny.json");
        let a = assign(&definition, json!({}));
        let estate = Fixture::healthy()
            .license(testkit::license_json("existing"))
            .machine(testkit::machine_json("srv-02"));
        let findings = run(&estate, |s| with_policies(s, vec![a], vec![definition]));
        let f = of(&findings, "ESU301");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Fail);
        assert_eq!(
            *f[0].resource_id,
            format!("/subscriptions/{SUB}/resourceGroups/rg-esu")
        );
        assert!(
            f[0].message
                .contains("a new ESU license in resource group rg-esu (eastus)"),
            "{}",
            f[0].message
        );
        // The candidate machine's profile.
        let f = of(&findings, "ESU302");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Pass);
        assert!(f[0].resource_id.ends_with("srv-02/licenseProfiles/default"));
        // A machine where ESU is free (here on AVS) needs no link: not a candidate.
        let mut avs = testkit::machine_json("srv-avs");
        avs["kind"] = json!("AVS");
        let findings = run(&Fixture::healthy().machine(avs), |_| {});
        assert!(of(&findings, "ESU302").is_empty(), "{findings:#?}");

        // A rule on the license's name: only a plan can decide it.
        let mut naming =
            fixture("policy/getPolicyDefinition.json")["responses"]["200"]["body"].clone();
        naming["properties"]["policyRule"] = json!({
            "if": { "allOf": [
                { "field": "type", "equals": "Microsoft.HybridCompute/licenses" },
                { "not": { "field": "name", "like": "esu-*" } }
            ]},
            "then": { "effect": "Deny" }
        });
        let a = assign(&naming, json!({}));
        let findings = run(&Fixture::healthy(), |s| {
            with_policies(s, vec![a], vec![naming])
        });
        let f = of(&findings, "ESU304");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("a license plan decides it"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].remediation
                .starts_with("run again with a license plan")
        );
        assert_eq!(*f[0].resource_id, format!("/subscriptions/{SUB}"));
    }

    #[test]
    fn esu303_without_machines_decides_type_rules_and_leaves_location_rules_open() {
        let (a, d) = not_allowed(&["Microsoft.HybridCompute/machines"]);
        let findings = run(&Fixture::healthy(), |s| with_policies(s, vec![a], vec![d]));
        let f = of(&findings, "ESU303");
        let failing: Vec<&&Finding> = f.iter().filter(|f| f.status == Status::Fail).collect();
        assert_eq!(failing.len(), 1);
        assert!(
            failing[0]
                .message
                .contains("denies Microsoft.HybridCompute/machines:"),
            "{}",
            failing[0].message
        );
        assert_eq!(
            *failing[0].resource_id,
            format!("/subscriptions/{SUB}/providers/Microsoft.HybridCompute")
        );

        let definition = builtin("AllowedLocations_Deny.json");
        let a = assign(
            &definition,
            json!({ "listOfAllowedLocations": ["westeurope"] }),
        );
        let findings = run(&Fixture::healthy(), |s| {
            with_policies(s, vec![a], vec![definition])
        });
        let open = of(&findings, "ESU304");
        assert!(!open.is_empty());
        assert!(
            open.iter()
                .any(|f| f.message.contains("no Arc machine in scope")),
            "{open:#?}"
        );
        assert!(
            of(&findings, "ESU303")
                .iter()
                .all(|f| f.status == Status::Pass)
        );
    }

    #[test]
    fn a_healthy_subscription_stays_quiet() {
        for fixture in [Fixture::healthy(), planned_fixture()] {
            let findings = run(&fixture, |_| {});
            assert!(
                findings.iter().all(|f| f.status == Status::Pass),
                "{findings:#?}"
            );
        }
    }

    #[test]
    fn an_unusable_subscription_is_skipped() {
        let fixture = planned_fixture().subscription_unavailable(testkit::not_found());
        let findings = run(&fixture, |_| {});
        assert!(!findings.is_empty());
        assert!(
            findings.iter().all(|f| f.status == Status::Skipped),
            "{findings:#?}"
        );
    }

    #[test]
    fn service_answers_are_read_defensively() {
        let license = Resource::planned_license(SUB, RG, "l", "westeurope", []);
        assert!(matches!(
            read_service_answer(&json!("nope"), &license),
            Service::Unreadable(_)
        ));
        assert!(matches!(
            read_service_answer(&json!({ "fieldRestrictions": 3 }), &license),
            Service::Unreadable(_)
        ));
        assert!(matches!(
            read_service_answer(&json!({}), &license),
            Service::Allows
        ));
        assert!(matches!(
            read_service_answer(&fixture_body_restrictions_only(), &license),
            Service::Denies(_)
        ));
    }
}
