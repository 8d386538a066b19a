//! ESU701 windows-esu-namespace-unavailable and ESU702 mak-key-problem: the Windows Server 2008 /
//! 2008 R2 path, where ESU comes through a Multiple Activation Key (MAK) created in the Azure
//! portal (`Microsoft.WindowsESU/multipleActivationKeys`), not through Azure Arc.
//!
//! Both checks run where the subscription holds Windows Server 2008 / 2008 R2 Arc machines, MAK
//! keys, or keys the plan asks for (`[[mak_key]]`), and whenever `--program ws2008` asks for
//! them; elsewhere each is one `skipped` finding that says why.

use super::estate::resource_group_of;
use super::{
    Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, Family, MakSelection, Need, Subject,
};
use crate::fact::{Fact, Unavailable};
use crate::finding::{Finding, Severity, Status};
use crate::models::{Item, MultipleActivationKey, RegistrationState};
use crate::plan::{PlannedMakKey, canonical_mak_os_type};
use crate::times::parse_rfc3339;
use serde_json::json;

/// ESU701: `Microsoft.WindowsESU` is unregistered, or its `multipleActivationKeys` resource type
/// is not available to the subscription (not approved yet).
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowsEsuNamespaceUnavailable;

/// ESU702: a MAK key failed provisioning, is not eligible, has expired, or the keys cover fewer
/// servers than planned.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakKeyProblem;

const NAMESPACE: &str = "Microsoft.WindowsESU";
const DEPLOY_URI: &str =
    "https://learn.microsoft.com/windows-server/get-started/extended-security-updates-deploy";

/// What the seed (extended-security-updates-deploy.md) says about Azure VMs, for messages.
const AZURE_VMS: &str = "Windows Server 2008 / 2008 R2 on Azure VMs gets ESU free, without a key; \
Azure Classic VMs (Microsoft.ClassicCompute), Azure Dedicated Host, Azure VMware Solution, Azure \
Nutanix Solution and Azure Stack need extra configuration: contact Microsoft Support";

/// The fact both checks read, in words ("could not read …").
const KEYS: &str = "the subscription's MAK keys";

/// Why the MAK keys are missing from a snapshot taken by an older esu-preflight.
static MAK_KEYS_NOT_IN_SNAPSHOT: std::sync::LazyLock<Unavailable> =
    std::sync::LazyLock::new(|| super::not_in_snapshot("the Windows Server 2008 MAK keys"));

/// How many days before expiry a key is worth a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

static NAMESPACE_INFO: CheckInfo = CheckInfo {
    id: "ESU701",
    name: "windows-esu-namespace-unavailable",
    default_severity: Severity::Error,
    summary: "Windows Server 2008 ESU: Microsoft.WindowsESU is not registered, or the subscription \
is not approved for Multiple Activation Keys.",
    help_uri: DEPLOY_URI,
    docs: CheckDocs {
        what_it_checks: "Where the subscription holds Windows Server 2008 / 2008 R2 Arc machines, \
MAK keys or keys the plan asks for ([[mak_key]]), or when --program ws2008 asks: reads the \
registration state of the Microsoft.WindowsESU resource provider (GET /subscriptions/{id}/providers) \
and lists the subscription's keys (GET \
/subscriptions/{id}/providers/Microsoft.WindowsESU/multipleActivationKeys, api-version \
2019-09-16-preview). Registered with a readable key list passes; a provider that is not registered \
fails (Registering: warning); an answer \"The resource type could not be found in the namespace \
'Microsoft.WindowsESU'\" fails: the subscription is not approved yet. Elsewhere the check is \
skipped, saying why.",
        why_it_matters: "Windows Server 2008 / 2008 R2 servers outside Azure get ESU through a \
Multiple Activation Key created in the Azure portal (Extended Security Updates > Register). \
Microsoft must first approve the subscription: until then, creating a key fails with \"The \
resource type could not be found in the namespace 'Microsoft.WindowsESU'\". Windows Server \
2008 / 2008 R2 on Azure VMs gets ESU free, without a key; Azure Classic VMs need extra \
configuration (contact Microsoft Support).",
        how_to_fix: "Register the provider: `az provider register --namespace \
Microsoft.WindowsESU --subscription ID` (needs Microsoft.WindowsESU/register/action: Contributor \
or Owner). If the subscription is not approved: in the Azure portal, search for Extended Security \
Updates, select Register, Get started, Get key; on the page \"Register to get a Multiple \
Activation Key\" select join the preview and send the e-mail with the customer name, the Azure \
subscription ID, the agreement number (for ESU) and the number of ESU servers. Once Microsoft \
approves it, register the key (key name, agreement number, number of computers, operating \
system).",
        example_finding: "fail  ESU701  /subscriptions/…  the subscription is not approved for \
Windows Server 2008 ESU keys: ARM answers \"The resource type could not be found in the namespace \
'Microsoft.WindowsESU'\"",
    },
};

static KEY_INFO: CheckInfo = CheckInfo {
    id: "ESU702",
    name: "mak-key-problem",
    default_severity: Severity::Error,
    summary: "Windows Server 2008 ESU: a MAK key failed provisioning, is not eligible, has \
expired, or the keys cover fewer servers than planned.",
    help_uri: DEPLOY_URI,
    docs: CheckDocs {
        what_it_checks: "Where ESU701 runs: each Multiple Activation Key of the subscription \
(Microsoft.WindowsESU/multipleActivationKeys; the product key itself is never read) by its \
provisioningState (Succeeded passes; Failed or Canceled fails; Accepted or Provisioning is a \
warning), isEligible (false fails), expirationDate (past fails; within 30 days is a warning) and \
osType (WindowsServer2008 or WindowsServer2008R2; a Windows 7 key is skipped). For each [[mak_key]] \
of the license plan, the usable keys of that osType (and name or resource group, when given) must \
cover the planned servers together (installedServerNumber).",
        why_it_matters: "A key that failed provisioning or was not attested eligible delivers \
nothing; an expired key stops the servers' ESU updates; a key whose number of computers is below \
the servers it is applied to fails activation on the servers beyond it. Windows Server 2008 / \
2008 R2 on Azure VMs needs no key (ESU is free there); Azure Classic VMs need extra configuration.",
        how_to_fix: "Re-create a failed or canceled key in the Azure portal (Extended Security \
Updates > Register > Get key) with the eligibility box checked; create an additional key for \
servers beyond a key's number of computers; for an expired key, check the agreement and register \
a new key for the current ESU year. Keys are also shown in the Volume Licensing Service Center \
(Licenses > Relationship Summary > Licensing ID > Product Keys).",
        example_finding: "fail  ESU702  multipleActivationKeys/server08-key-2019  MAK key \
server08-key-2019 (WindowsServer2008) expired on 2020-11-21",
    },
};

/// Whether a subscription is on the 2008 MAK path, and why.
fn applies(ctx: &CheckCtx<'_>) -> Result<&'static str, String> {
    if ctx.mak == MakSelection::Only {
        return Ok("--program ws2008 asks for it");
    }
    if !planned_keys(ctx).is_empty() {
        return Ok("the license plan asks for MAK keys here");
    }
    if let Some(Fact::Available { value }) = &ctx.subscription.mak_keys
        && !value.is_empty()
    {
        return Ok("the subscription holds MAK keys");
    }
    if ctx.estate.machines_in(ctx.subscription_id()).any(|m| {
        mak_os_type(
            m.machine.properties.os_sku.as_deref(),
            m.machine.properties.os_version.as_deref(),
        )
        .is_some()
    }) {
        return Ok("the subscription holds Windows Server 2008 / 2008 R2 Arc machines");
    }
    let unread = match &ctx.subscription.mak_keys {
        Some(Fact::Unavailable { reason }) if namespace_unavailable(reason).is_none() => {
            format!(" (its MAK keys could not be listed: {})", reason.message)
        }
        _ => String::new(),
    };
    Err(format!(
        "no Windows Server 2008 / 2008 R2 machines, MAK keys or planned keys here{unread}; \
         `--program ws2008` checks anyway"
    ))
}

/// The plan's keys for this subscription (a key without a subscription is for the first in
/// scope, as the plan's licenses are).
fn planned_keys<'a>(ctx: &CheckCtx<'a>) -> Vec<&'a PlannedMakKey> {
    let default = ctx
        .snapshot
        .scope
        .subscriptions
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    ctx.plan
        .mak_keys
        .iter()
        .filter(|k| {
            k.subscription_or(default)
                .eq_ignore_ascii_case(ctx.subscription_id())
        })
        .collect()
}

/// The MAK `osType` of a machine's OS, when it is Windows Server 2008 (6.0) or 2008 R2 (6.1).
pub(crate) fn mak_os_type(sku: Option<&str>, version: Option<&str>) -> Option<&'static str> {
    let sku = sku?.to_ascii_lowercase();
    if !sku.contains("server") {
        return None;
    }
    let version = version.unwrap_or_default().trim();
    let release = |prefix: &str| {
        version.starts_with(prefix)
            && matches!(version.as_bytes().get(prefix.len()), None | Some(b'.'))
    };
    if release("6.1") || (version.is_empty() && sku.contains("2008 r2")) {
        Some("WindowsServer2008R2")
    } else if release("6.0") || (version.is_empty() && sku.contains("2008")) {
        Some("WindowsServer2008")
    } else {
        None
    }
}

/// Whether ARM's answer to the key list says the resource type is not available to the
/// subscription (not approved for the program, or the provider unregistered).
fn namespace_unavailable(reason: &Unavailable) -> Option<&'static str> {
    let message = reason.message.to_ascii_lowercase();
    let code = reason.code.as_deref().unwrap_or_default();
    if message.contains("could not be found in the namespace")
        || code.eq_ignore_ascii_case("InvalidResourceType")
    {
        Some("not-approved")
    } else if code.eq_ignore_ascii_case("MissingSubscriptionRegistration") {
        Some("not-registered")
    } else {
        None
    }
}

impl Check for WindowsEsuNamespaceUnavailable {
    fn info(&self) -> &'static CheckInfo {
        &NAMESPACE_INFO
    }

    fn family(&self) -> Family {
        Family::Mak
    }

    /// Where the subscription cannot be read, whether it is on the MAK path is unknown.
    fn needs(&self) -> &'static [Need] {
        &[Need::Subscription]
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let resource = ctx.subscription_resource_id();
        let why = match applies(ctx) {
            Ok(why) => why,
            Err(skip) => {
                out.push(ctx.finding(&NAMESPACE_INFO, skipped(resource, skip)));
                return;
            }
        };
        out.push(ctx.finding(&NAMESPACE_INFO, namespace(ctx, resource, why)));
    }
}

/// ESU701's conclusion for one subscription on the MAK path.
fn namespace(ctx: &CheckCtx<'_>, resource: String, why: &str) -> Diagnostic {
    let sub = ctx.subscription_id();
    let register = format!(
        "register it: `az provider register --namespace {NAMESPACE} --subscription {sub}` (needs \
         {NAMESPACE}/register/action: Contributor or Owner)"
    );
    let not_approved = "request access first: in the Azure portal, search for Extended Security \
         Updates > Register > Get started > Get key; on \"Register to get a Multiple Activation \
         Key\" select join the preview and send the e-mail with the customer name, the Azure \
         subscription ID, the agreement number and the number of ESU servers; once Microsoft \
         approves it, register the key";
    let providers = match ctx.subscription.providers.as_result() {
        Ok(providers) => providers,
        Err(reason) => {
            return Diagnostic::inconclusive(
                resource,
                "the subscription's resource providers",
                reason,
            )
            .with_evidence("applies", why);
        }
    };
    let state = providers
        .iter()
        .find(|p| p.namespace.eq_ignore_ascii_case(NAMESPACE))
        .map(|p| p.registration_state.clone());
    let keys = ctx.subscription.mak_keys.as_ref();
    let evidence = json!({
        "applies": why,
        "namespace": NAMESPACE,
        "registrationState": state.as_ref().map(|s| s.to_string()),
        "keys": match keys {
            Some(Fact::Available { value }) => json!(value.len()),
            Some(Fact::Unavailable { reason }) => json!({ "unavailable": reason }),
            None => json!(null),
        },
        "azureVms": AZURE_VMS,
    });
    match state {
        Some(RegistrationState::Registered) => {}
        Some(RegistrationState::Registering) => {
            return Diagnostic::new(
                Status::Fail,
                resource,
                format!("provider {NAMESPACE} is still registering"),
            )
            .severity(Severity::Warning)
            .remediation(format!(
                "wait a few minutes and check again: `az provider show --namespace {NAMESPACE} \
                 --subscription {sub} --query registrationState`"
            ))
            .evidence(evidence);
        }
        Some(state) if state.is_unknown() => {
            return Diagnostic::new(
                Status::Inconclusive,
                resource,
                format!("ARM did not say whether provider {NAMESPACE} is registered"),
            )
            .remediation(format!(
                "check it: `az provider show --namespace {NAMESPACE} --subscription {sub} --query \
                 registrationState`"
            ))
            .evidence(evidence);
        }
        state => {
            let shown = state.map_or_else(
                || "the subscription's provider list does not name it".to_owned(),
                |s| format!("registrationState {s}"),
            );
            return Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "provider {NAMESPACE} is not registered ({shown}): no MAK key can be created"
                ),
            )
            .remediation(format!(
                "{register}. If Microsoft has not approved the subscription for Windows Server \
                 2008 ESU yet, {not_approved}"
            ))
            .evidence(evidence);
        }
    }
    match keys {
        None => Diagnostic::inconclusive(resource, KEYS, &MAK_KEYS_NOT_IN_SNAPSHOT)
            .evidence(evidence),
        Some(Fact::Available { value }) => Diagnostic::new(
            Status::Pass,
            resource,
            format!(
                "provider {NAMESPACE} is registered and the subscription may hold MAK keys ({} found)",
                value.len()
            ),
        )
        .evidence(evidence),
        Some(Fact::Unavailable { reason }) => match namespace_unavailable(reason) {
            Some("not-approved") => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "the subscription is not approved for Windows Server 2008 ESU keys: ARM answers \
                     \"{}\"",
                    reason.message
                ),
            )
            .remediation(not_approved.to_owned())
            .evidence(evidence),
            Some(_) => Diagnostic::new(
                Status::Fail,
                resource,
                format!("provider {NAMESPACE} is not registered for the subscription: ARM answers \"{}\"", reason.message),
            )
            .remediation(register)
            .evidence(evidence),
            None => Diagnostic::inconclusive(resource, KEYS, reason)
                .with_evidence("applies", why),
        },
    }
}

impl Check for MakKeyProblem {
    fn info(&self) -> &'static CheckInfo {
        &KEY_INFO
    }

    fn family(&self) -> Family {
        Family::Mak
    }

    /// Where the subscription cannot be read, whether it is on the MAK path is unknown.
    fn needs(&self) -> &'static [Need] {
        &[Need::Subscription]
    }

    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        match &ctx.subscription.mak_keys {
            Some(Fact::Available { value }) if !value.is_empty() => value
                .iter()
                .map(|item| Subject::new(item_id(item)))
                .collect(),
            _ => vec![Subject::new(ctx.subscription_resource_id())],
        }
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let resource = ctx.subscription_resource_id();
        if let Err(skip) = applies(ctx) {
            out.push(ctx.finding(&KEY_INFO, skipped(resource, skip)));
            return;
        }
        let keys = match &ctx.subscription.mak_keys {
            None => {
                let diagnostic =
                    Diagnostic::inconclusive(resource, KEYS, &MAK_KEYS_NOT_IN_SNAPSHOT);
                out.push(ctx.finding(&KEY_INFO, diagnostic));
                return;
            }
            Some(Fact::Unavailable { reason }) => {
                let diagnostic = if namespace_unavailable(reason).is_some() {
                    skipped(
                        resource,
                        "the subscription can hold no MAK key until Microsoft.WindowsESU is \
                         registered and approved (ESU701)"
                            .to_owned(),
                    )
                    .with_evidence("blockedBy", "ESU701")
                } else {
                    Diagnostic::inconclusive(resource, KEYS, reason)
                };
                out.push(ctx.finding(&KEY_INFO, diagnostic));
                return;
            }
            Some(Fact::Available { value }) => value,
        };
        for item in keys {
            let diagnostic = match item {
                Item::Read(key) => key_state(ctx, key),
                Item::Invalid { id, error } => Diagnostic::new(
                    Status::Inconclusive,
                    id.clone(),
                    format!("the MAK key's payload could not be read: {error}"),
                )
                .remediation(format!(
                    "look at it: `az resource show --ids {id}`; other keys were checked"
                )),
            };
            out.push(ctx.finding(&KEY_INFO, diagnostic));
        }
        let planned = planned_keys(ctx);
        for key in &planned {
            out.push(ctx.finding(&KEY_INFO, coverage(ctx, key, keys)));
        }
        if keys.is_empty() && planned.is_empty() {
            let diagnostic = Diagnostic::new(
                Status::Pass,
                resource,
                format!(
                    "the subscription holds no MAK key, and the plan asks for none ({AZURE_VMS})"
                ),
            )
            .evidence(json!({ "keys": 0 }));
            out.push(ctx.finding(&KEY_INFO, diagnostic));
        }
    }
}

/// A `skipped` finding saying why.
fn skipped(resource: String, why: String) -> Diagnostic {
    Diagnostic::new(Status::Skipped, resource, why).evidence(json!({}))
}

fn item_id(item: &Item<MultipleActivationKey>) -> String {
    match item {
        Item::Read(key) => key.id.clone(),
        Item::Invalid { id, .. } => id.clone(),
    }
}

/// How much one issue of a key matters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// A failure (error).
    Fail,
    /// Worth a warning.
    Warn,
    /// Not known.
    Unknown,
}

/// What is wrong with one key: how much it matters, in words.
type KeyIssue = (Level, String);

/// The issues of one key, in the order they are worth reading.
fn key_issues(key: &MultipleActivationKey, now: time::OffsetDateTime) -> Vec<KeyIssue> {
    let p = &key.properties;
    let mut issues = Vec::new();
    match p.provisioning_state.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("Succeeded") => {}
        Some(s) if s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled") => {
            issues.push((Level::Fail, format!("provisioning {s}")));
        }
        Some(s) if s.eq_ignore_ascii_case("Accepted") || s.eq_ignore_ascii_case("Provisioning") => {
            issues.push((Level::Warn, format!("still provisioning ({s})")));
        }
        Some(s) => issues.push((Level::Unknown, format!("provisioningState {s:?}"))),
        None => issues.push((Level::Unknown, "no provisioningState".to_owned())),
    }
    match p.is_eligible {
        Some(true) => {}
        Some(false) => issues.push((
            Level::Fail,
            "not attested eligible (isEligible false)".to_owned(),
        )),
        None => issues.push((Level::Unknown, "no isEligible".to_owned())),
    }
    match p.expiration_date.as_deref().map(|d| (d, parse_rfc3339(d))) {
        Some((text, Some(expires))) if expires <= now => {
            issues.push((Level::Fail, format!("expired on {}", day(text))));
        }
        Some((text, Some(expires)))
            if expires - now <= time::Duration::days(EXPIRY_WARNING_DAYS) =>
        {
            issues.push((Level::Warn, format!("expires on {}", day(text))));
        }
        Some((_, Some(_))) => {}
        Some((text, None)) => issues.push((
            Level::Unknown,
            format!("expirationDate {text:?} is not a date"),
        )),
        None => issues.push((Level::Unknown, "no expirationDate".to_owned())),
    }
    issues
}

/// The date part of an RFC 3339 timestamp.
fn day(text: &str) -> &str {
    text.get(..10).unwrap_or(text)
}

/// ESU702's conclusion for one key.
fn key_state(ctx: &CheckCtx<'_>, key: &MultipleActivationKey) -> Diagnostic {
    let p = &key.properties;
    let os = p.os_type.as_deref().unwrap_or("unknown OS");
    let label = format!("the MAK key {} ({os})", key.name);
    let evidence = json!({
        "osType": p.os_type,
        "provisioningState": p.provisioning_state,
        "isEligible": p.is_eligible,
        "expirationDate": p.expiration_date,
        "installedServerNumber": p.installed_server_number,
        "supportType": p.support_type,
        "agreementNumber": p.agreement_number,
    });
    if p.os_type
        .as_deref()
        .is_some_and(|t| canonical_mak_os_type(t).is_none())
    {
        return Diagnostic::new(
            Status::Skipped,
            key.id.clone(),
            format!("{label} is not a Windows Server key; esu-preflight checks server keys"),
        )
        .evidence(evidence);
    }
    let issues = key_issues(key, ctx.now);
    let at = |level: Level| -> Vec<&str> {
        issues
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, text)| text.as_str())
            .collect()
    };
    let (fails, warns, unknown) = (at(Level::Fail), at(Level::Warn), at(Level::Unknown));
    let show = format!("`az resource show --ids {}`", key.id);
    if !fails.is_empty() {
        let mut all = fails.clone();
        all.extend(&warns);
        return Diagnostic::new(
            Status::Fail,
            key.id.clone(),
            format!("{label} {}", all.join(", ")),
        )
        .remediation(format!(
            "in the Azure portal, Extended Security Updates > Register > Get key: register a \
                 new key for these servers (eligibility box checked) and apply it on each server; \
                 look at this one with {show}"
        ))
        .evidence(evidence);
    }
    if !unknown.is_empty() {
        return Diagnostic::new(
            Status::Inconclusive,
            key.id.clone(),
            format!("{label}: ARM's answer has {}", unknown.join(", ")),
        )
        .remediation(format!("look at the key: {show}"))
        .evidence(evidence);
    }
    if !warns.is_empty() {
        return Diagnostic::new(
            Status::Fail,
            key.id.clone(),
            format!("{label} {}", warns.join(", ")),
        )
        .severity(Severity::Warning)
        .remediation(format!(
            "follow it up: {show}; a key still provisioning is usable once Succeeded, one about \
                 to expire needs a new key for the next ESU year"
        ))
        .evidence(evidence);
    }
    Diagnostic::new(
        Status::Pass,
        key.id.clone(),
        format!(
            "{label} is provisioned, eligible and valid until {} for {} servers",
            day(p.expiration_date.as_deref().unwrap_or_default()),
            p.installed_server_number
                .map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string())
        ),
    )
    .evidence(evidence)
}

/// ESU702's conclusion for one `[[mak_key]]` of the plan: do the usable keys cover its servers?
fn coverage(
    ctx: &CheckCtx<'_>,
    planned: &PlannedMakKey,
    keys: &[Item<MultipleActivationKey>],
) -> Diagnostic {
    let sub = ctx.subscription_id();
    let matching: Vec<&MultipleActivationKey> = keys
        .iter()
        .filter_map(|item| match item {
            Item::Read(key) => Some(key),
            Item::Invalid { .. } => None,
        })
        .filter(|key| {
            key.properties
                .os_type
                .as_deref()
                .and_then(canonical_mak_os_type)
                .is_some_and(|t| Some(t) == canonical_mak_os_type(&planned.os_type))
                && planned
                    .name
                    .as_deref()
                    .is_none_or(|n| key.name.eq_ignore_ascii_case(n))
                && planned.resource_group.as_deref().is_none_or(|rg| {
                    resource_group_of(&key.id).is_some_and(|g| g.eq_ignore_ascii_case(rg))
                })
        })
        .collect();
    let usable: Vec<&&MultipleActivationKey> = matching
        .iter()
        .filter(|key| {
            key_issues(key, ctx.now)
                .iter()
                .all(|i| matches!(i, (Level::Warn, w) if w.starts_with("expires")))
        })
        .collect();
    let covered: u32 = usable
        .iter()
        .map(|k| k.properties.installed_server_number.unwrap_or(0))
        .sum();
    let unknown_count = usable
        .iter()
        .any(|k| k.properties.installed_server_number.is_none());
    let names: Vec<&str> = usable.iter().map(|k| k.name.as_str()).collect();
    let what = match &planned.name {
        Some(name) => format!("key {name} ({})", planned.os_type),
        None => format!("{} keys", planned.os_type),
    };
    let resource = match (&planned.name, usable.first()) {
        (Some(_), Some(key)) => key.id.clone(),
        _ => ctx.subscription_resource_id(),
    };
    let evidence = json!({
        "plannedServers": planned.servers,
        "osType": planned.os_type,
        "usableKeys": names,
        "coveredServers": covered,
        "matchingKeys": matching.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
    });
    let create = format!(
        "register a key in the Azure portal (Extended Security Updates > Register > Get key) in \
         subscription {sub} with operating system {} and the number of computers still \
         uncovered",
        planned.os_type
    );
    if usable.is_empty() {
        return Diagnostic::new(
            Status::Fail,
            resource,
            format!(
                "the plan needs {} covering {} servers, and the subscription has no usable one{}",
                what,
                planned.servers,
                if matching.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} found, none provisioned, eligible and valid)",
                        matching.len()
                    )
                }
            ),
        )
        .remediation(create)
        .evidence(evidence);
    }
    if unknown_count {
        return Diagnostic::new(
            Status::Inconclusive,
            resource,
            format!("a usable {what} does not say how many servers it covers"),
        )
        .remediation("look at the keys: `az resource list --resource-type Microsoft.WindowsESU/multipleActivationKeys --query \"[].{name:name, servers:properties.installedServerNumber}\"`".to_owned())
        .evidence(evidence);
    }
    if covered < planned.servers {
        return Diagnostic::new(
            Status::Fail,
            resource,
            format!(
                "the usable {what} cover {covered} servers ({}), the plan needs {}",
                names.join(", "),
                planned.servers
            ),
        )
        .remediation(format!("{create}: {} more", planned.servers - covered))
        .evidence(evidence);
    }
    Diagnostic::new(
        Status::Pass,
        resource,
        format!(
            "the usable {what} cover {covered} servers ({}), the plan needs {}",
            names.join(", "),
            planned.servers
        ),
    )
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, Fixture, assert_conventions};
    use crate::checks::{Config, EvalInput, evaluate};
    use crate::plan::LicensePlan;
    use crate::snapshot::Snapshot;
    use serde_json::Value;

    fn key_json(
        name: &str,
        os: &str,
        state: &str,
        eligible: bool,
        expires: &str,
        servers: u32,
    ) -> Value {
        let mut key = testkit::fixture("windowsesu/GetMultipleActivationKey.json")["responses"]["200"]["body"].clone();
        key["id"] = json!(format!(
            "/subscriptions/{}/resourceGroups/rg-esu/providers/Microsoft.WindowsESU/multipleActivationKeys/{name}",
            testkit::SUB
        ));
        key["name"] = json!(name);
        let p = &mut key["properties"];
        p["osType"] = json!(os);
        p["provisioningState"] = json!(state);
        p["isEligible"] = json!(eligible);
        p["expirationDate"] = json!(expires);
        p["installedServerNumber"] = json!(servers);
        key
    }

    fn healthy_key(name: &str) -> Value {
        key_json(
            name,
            "WindowsServer2008R2",
            "Succeeded",
            true,
            "2027-06-01T00:00:00+00:00",
            100,
        )
    }

    /// The fixture's snapshot with these keys (or this unavailable reason) and the provider state.
    fn snapshot(
        fixture: &Fixture,
        keys: Result<Vec<Value>, Unavailable>,
        provider: Option<&str>,
    ) -> (Snapshot, Config) {
        let mut fixture = fixture.clone();
        if let Some(state) = provider {
            fixture = fixture.with_provider(NAMESPACE, state);
        }
        let (mut snapshot, config) = fixture.build();
        snapshot.subscriptions[0].mak_keys = Some(match keys {
            Ok(keys) => Fact::Available {
                value: keys
                    .into_iter()
                    .map(|k| serde_json::from_value(k).unwrap())
                    .collect(),
            },
            Err(reason) => Fact::Unavailable { reason },
        });
        (snapshot, config)
    }

    fn run(
        fixture: &Fixture,
        keys: Result<Vec<Value>, Unavailable>,
        provider: Option<&str>,
        plan: &LicensePlan,
    ) -> Vec<Finding> {
        let (snapshot, config) = snapshot(fixture, keys, provider);
        let findings = evaluate(&EvalInput::new(&snapshot, &config, fixture.now).with_plan(plan));
        let mak: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.check_id.starts_with("ESU70"))
            .collect();
        for f in &mak {
            assert_conventions(f);
        }
        mak
    }

    fn one<'a>(findings: &'a [Finding], id: &str, resource_end: &str) -> &'a Finding {
        let matching: Vec<_> = findings
            .iter()
            .filter(|f| f.check_id == id && f.resource_id.ends_with(resource_end))
            .collect();
        assert_eq!(matching.len(), 1, "{id} {resource_end}: {findings:#?}");
        matching[0]
    }

    fn not_approved() -> Unavailable {
        Unavailable {
            kind: crate::fact::UnavailableKind::NotFound,
            http_status: Some(404),
            code: Some("InvalidResourceType".into()),
            message: "The resource type could not be found in the namespace 'Microsoft.WindowsESU' for api version '2019-09-16-preview'.".into(),
            action: None,
            scope: None,
            retry_after_secs: None,
        }
    }

    fn plan(os: &str, servers: u32) -> LicensePlan {
        LicensePlan {
            licenses: Vec::new(),
            mak_keys: vec![PlannedMakKey {
                os_type: os.into(),
                servers,
                name: None,
                resource_group: None,
                subscription: Some(testkit::SUB.into()),
            }],
        }
    }

    #[test]
    fn a_subscription_without_2008_is_skipped_saying_why() {
        let findings = run(
            &Fixture::healthy(),
            Ok(Vec::new()),
            Some("NotRegistered"),
            &LicensePlan::new(),
        );
        assert_eq!(findings.len(), 2, "{findings:#?}");
        for f in &findings {
            assert_eq!(f.status, Status::Skipped);
            assert!(f.message.contains("--program ws2008"), "{}", f.message);
        }
    }

    #[test]
    fn esu701_passes_when_registered_and_keys_list() {
        let findings = run(
            &Fixture::healthy(),
            Ok(vec![healthy_key("k1")]),
            Some("Registered"),
            &LicensePlan::new(),
        );
        let f = one(&findings, "ESU701", testkit::SUB);
        assert_eq!(f.status, Status::Pass, "{f:#?}");
        assert_eq!(one(&findings, "ESU702", "/k1").status, Status::Pass);
    }

    #[test]
    fn esu701_fails_when_not_approved_and_702_defers_to_it() {
        let findings = run(
            &Fixture::healthy(),
            Err(not_approved()),
            Some("Registered"),
            &plan("WindowsServer2008R2", 10),
        );
        let f = one(&findings, "ESU701", testkit::SUB);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("not approved"), "{}", f.message);
        assert!(
            f.remediation.contains("agreement number"),
            "{}",
            f.remediation
        );
        assert!(
            f.remediation.contains("number of ESU servers"),
            "{}",
            f.remediation
        );
        assert_eq!(
            one(&findings, "ESU702", testkit::SUB).status,
            Status::Skipped
        );
    }

    #[test]
    fn esu701_fails_when_unregistered_when_asked() {
        let (snapshot, config) =
            snapshot(&Fixture::healthy(), Ok(Vec::new()), Some("NotRegistered"));
        let findings =
            evaluate(&EvalInput::new(&snapshot, &config, testkit::TODAY).with_mak_only());
        let f = one(&findings, "ESU701", testkit::SUB);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.remediation
                .contains("az provider register --namespace Microsoft.WindowsESU")
        );
        assert_conventions(f);
        // Only the subscription and the MAK program are checked.
        assert!(
            findings
                .iter()
                .all(|f| f.check_id == "ESU001" || f.check_id.starts_with("ESU70")),
            "{findings:#?}"
        );
    }

    #[test]
    fn esu701_and_702_are_inconclusive_when_unreadable() {
        let findings = run(
            &Fixture::healthy(),
            Err(testkit::server_error()),
            Some("Registered"),
            &plan("WindowsServer2008", 5),
        );
        assert_eq!(
            one(&findings, "ESU701", testkit::SUB).status,
            Status::Inconclusive
        );
        assert_eq!(
            one(&findings, "ESU702", testkit::SUB).status,
            Status::Inconclusive
        );
        let fixture = Fixture::healthy().providers_unavailable(testkit::server_error());
        let findings = run(
            &fixture,
            Ok(vec![healthy_key("k1")]),
            None,
            &LicensePlan::new(),
        );
        assert_eq!(
            one(&findings, "ESU701", testkit::SUB).status,
            Status::Inconclusive
        );
    }

    #[test]
    fn esu702_names_an_expired_key() {
        let expired = key_json(
            "server08-key-2019",
            "WindowsServer2008",
            "Succeeded",
            true,
            "2020-11-21T21:12:26+00:00",
            100,
        );
        let findings = run(
            &Fixture::healthy(),
            Ok(vec![expired, healthy_key("k2")]),
            Some("Registered"),
            &LicensePlan::new(),
        );
        let f = one(&findings, "ESU702", "/server08-key-2019");
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message
                .contains("MAK key server08-key-2019 (WindowsServer2008) expired on 2020-11-21"),
            "{}",
            f.message
        );
        assert_eq!(one(&findings, "ESU702", "/k2").status, Status::Pass);
    }

    #[test]
    fn esu702_failed_ineligible_provisioning_and_expiring_keys() {
        let keys = vec![
            key_json(
                "failed",
                "WindowsServer2008R2",
                "Failed",
                true,
                "2027-06-01T00:00:00Z",
                10,
            ),
            key_json(
                "ineligible",
                "WindowsServer2008R2",
                "Succeeded",
                false,
                "2027-06-01T00:00:00Z",
                10,
            ),
            key_json(
                "pending",
                "WindowsServer2008R2",
                "Accepted",
                true,
                "2027-06-01T00:00:00Z",
                10,
            ),
            key_json(
                "soon",
                "WindowsServer2008R2",
                "Succeeded",
                true,
                "2026-12-10T00:00:00Z",
                10,
            ),
            key_json(
                "client",
                "Windows7",
                "Succeeded",
                true,
                "2027-06-01T00:00:00Z",
                10,
            ),
        ];
        let findings = run(
            &Fixture::healthy(),
            Ok(keys),
            Some("Registered"),
            &LicensePlan::new(),
        );
        assert_eq!(one(&findings, "ESU702", "/failed").status, Status::Fail);
        assert!(
            one(&findings, "ESU702", "/ineligible")
                .message
                .contains("isEligible false")
        );
        let pending = one(&findings, "ESU702", "/pending");
        assert_eq!(
            (pending.status, pending.severity),
            (Status::Fail, Severity::Warning)
        );
        let soon = one(&findings, "ESU702", "/soon");
        assert_eq!(
            (soon.status, soon.severity),
            (Status::Fail, Severity::Warning)
        );
        assert!(soon.message.contains("expires on 2026-12-10"));
        assert_eq!(one(&findings, "ESU702", "/client").status, Status::Skipped);
    }

    #[test]
    fn esu702_a_key_with_missing_facts_is_inconclusive() {
        let mut key = healthy_key("odd");
        key["properties"]["expirationDate"] = Value::Null;
        let findings = run(
            &Fixture::healthy(),
            Ok(vec![key]),
            Some("Registered"),
            &LicensePlan::new(),
        );
        assert_eq!(
            one(&findings, "ESU702", "/odd").status,
            Status::Inconclusive
        );
    }

    #[test]
    fn esu702_planned_servers_against_the_keys() {
        let keys = vec![healthy_key("a"), healthy_key("b")];
        let findings = run(
            &Fixture::healthy(),
            Ok(keys.clone()),
            Some("Registered"),
            &plan("Windows Server 2008 R2", 150),
        );
        let f = one(&findings, "ESU702", testkit::SUB);
        assert_eq!(f.status, Status::Pass, "{f:#?}");
        let findings = run(
            &Fixture::healthy(),
            Ok(keys),
            Some("Registered"),
            &plan("WindowsServer2008R2", 250),
        );
        let f = one(&findings, "ESU702", testkit::SUB);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("cover 200 servers"), "{}", f.message);
        assert!(f.remediation.contains("50 more"), "{}", f.remediation);
        let findings = run(
            &Fixture::healthy(),
            Ok(Vec::new()),
            Some("Registered"),
            &plan("WindowsServer2008", 5),
        );
        let f = one(&findings, "ESU702", testkit::SUB);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("no usable one"), "{}", f.message);
    }

    #[test]
    fn a_2008_arc_machine_brings_the_checks_in() {
        let mut machine = testkit::machine_json("srv-2008");
        machine["properties"]["osSku"] = json!("Windows Server 2008 R2 Enterprise");
        machine["properties"]["osVersion"] = json!("6.1.7601");
        let fixture = Fixture::healthy().machine(machine);
        let findings = run(
            &fixture,
            Ok(Vec::new()),
            Some("NotRegistered"),
            &LicensePlan::new(),
        );
        let f = one(&findings, "ESU701", testkit::SUB);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.evidence.value()["applies"]
                .as_str()
                .unwrap()
                .contains("2008")
        );
        assert_eq!(one(&findings, "ESU702", testkit::SUB).status, Status::Pass);
    }

    #[test]
    fn the_arc_programs_exclude_the_mak_checks() {
        let (snapshot, config) = snapshot(
            &Fixture::healthy(),
            Ok(vec![healthy_key("k")]),
            Some("NotRegistered"),
        );
        let ws2012 = crate::programs::by_id("ws2012").unwrap();
        let findings =
            evaluate(&EvalInput::new(&snapshot, &config, testkit::TODAY).with_program(ws2012));
        assert!(findings.iter().all(|f| !f.check_id.starts_with("ESU70")));
    }

    #[test]
    fn os_types_of_machines() {
        assert_eq!(
            mak_os_type(Some("Windows Server 2008 R2 Datacenter"), Some("6.1.7601")),
            Some("WindowsServer2008R2")
        );
        assert_eq!(
            mak_os_type(Some("Windows Server 2008 Standard"), Some("6.0.6003")),
            Some("WindowsServer2008")
        );
        assert_eq!(
            mak_os_type(Some("Windows 7 Enterprise"), Some("6.1.7601")),
            None
        );
        assert_eq!(
            mak_os_type(Some("Windows Server 2012 R2 Standard"), Some("6.3.9600")),
            None
        );
        assert_eq!(mak_os_type(None, Some("6.1")), None);
    }
}
