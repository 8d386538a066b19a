//! gather: read every fact the checks need from Azure Resource Manager into a [`Snapshot`].
//!
//! This is the only code that talks to Azure. Every fact is an async chain that awaits only
//! what it depends on, and every read goes through one URL-keyed table, so no URL is fetched
//! twice in a run (across all subscriptions) and each chain starts as soon as its inputs are
//! in. The [`ArmClient`] bounds how many requests are in flight (per subscription, and overall)
//! and paces them to Azure's quotas. The chains, by depth:
//!
//! 0. the caller (from the token, no request) and the scope: `--management-group` becomes the
//!    subscriptions below it; with [`Inventory::Auto`] and more than one subscription (or a
//!    management group), at the same time, one Resource Graph query counting each
//!    subscription's machines and licenses, to choose how to read them ([`estimate`]);
//! 1. per subscription, at once: the subscription, its providers, the caller's permissions, its
//!    ESU licenses and Arc machines (through ARM lists, or Resource Graph queries over batches
//!    of subscriptions: [`Inventory`]), patch-policy states, the management groups above it (one
//!    Resource Graph query for all subscriptions), and at the subscription and at each resource
//!    group that matters (see below) the group itself, the caller's permissions there and its
//!    deny assignments (`atScope()`), and what applies there of the subscription's role
//!    assignments (`assignedTo('{oid}')`, or all when the token names no object id), policy
//!    assignments and policy exemptions — each of the three one list per subscription, of
//!    everything at, above and below it, kept for each scope when made at it or above (what its
//!    `atScope()` list has); a caller who may not read one gets each scope's own list instead;
//! 2. what round 1 names: each role definition of the caller's role assignments, each policy
//!    (set) definition the policy assignments reference — read once for the whole tenant into
//!    [`TenantSnapshot`]; the service's dry runs of the plan
//!    (`validateLicense`, `checkPolicyRestrictions` for each planned license and license
//!    profile), when the caller may ask for them; without a plan, the resource groups holding
//!    ESU licenses and candidate machines and their access facts — each group as soon as a
//!    page of the lists names it, while the rest of a long machine list is still arriving;
//! 3. the member definitions of each initiative (and, without a plan, the definitions the
//!    round-2 resource groups' assignments reference).
//!
//! The resource groups that matter: `--resource-group` ones; the plan's license groups; the
//! groups of the plan's machines (in the machine's own subscription's entry, when that
//! subscription is in scope); without a plan, the groups holding ESU licenses in scope and the
//! groups of Windows Server 2012/2012 R2/2016 Arc machines without a linked license.
//!
//! A fact that cannot be read is recorded as [`Fact::Unavailable`] with the reason (a 403 names
//! the missing action and the scope); only failures that stop the whole run (no credential,
//! endpoint unreachable, deadline passed, a management group that cannot be listed) are
//! returned as errors.

use crate::arm::catalog::{self, ArmList, ArmRequest};
use crate::arm::{ArmClient, ArmError};
use crate::models::{Item, License, Machine};
use crate::plan::{LicensePlan, PlannedLicense};
use crate::programs::{OsClass, PROGRAMS};
use crate::snapshot::{
    Caller, Fact, LicenseValidation, PolicyRestrictionCheck, ResourceGroupSnapshot, Scope,
    ScopeAuthorization, Snapshot, SubscriptionSnapshot, TenantSnapshot, Unavailable,
    UnavailableKind, ValidationOutcome,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

mod inventory;

pub use inventory::{Estimate, EstimateInput, Inventory, InventoryCounts, estimate};

/// The api-versions gather uses: those of the [request catalogue](crate::arm::catalog).
pub use crate::arm::catalog::api_version;

/// The `code` of the [`Unavailable`] recorded for policy exemptions when ARM does not serve
/// their (preview) API here: a 404, or a 400 `NoRegisteredProviderFound` /
/// `InvalidResourceType` / `InvalidApiVersionParameter`. No exemption is known then; a check
/// may treat that as "none" only where it cannot turn a fail into a pass (an exemption only ever
/// lifts a deny).
pub const EXEMPTIONS_API_MISSING: &str = "PolicyExemptionsApiMissing";

/// The action `checkPolicyRestrictions` needs (read by every role with `*/read`).
pub const CHECK_POLICY_RESTRICTIONS_ACTION: &str =
    "Microsoft.PolicyInsights/checkPolicyRestrictions/read";

/// The `code` of the [`Unavailable`] recorded for a planned license profile whose machine's
/// location is not known (the machine was not read, or has no location).
pub const MACHINE_LOCATION_UNKNOWN: &str = "MachineLocationUnknown";
/// How far a [`gather`] has come, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Subscriptions in scope (known once the scope is resolved).
    pub subscriptions: usize,
    /// Subscriptions whose facts are all read.
    pub subscriptions_done: usize,
    /// HTTP requests sent so far, retries included.
    pub requests: u64,
    /// Arc machines read so far (counted page by page).
    pub machines: u64,
}

/// A progress callback; it must be cheap (it is called from the gathering tasks).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options of [`gather_with`].
#[derive(Clone, Default)]
pub struct GatherOptions {
    /// Called when the scope is resolved, after each page of machines, and each time a
    /// subscription is done.
    pub on_progress: Option<ProgressFn>,
    /// What is to be provisioned: its resource groups are read (do they exist?) and each
    /// planned license is put to the service's own dry run (`validateLicense`) when the caller
    /// may.
    pub plan: LicensePlan,
    /// Read only each subscription's own facts (the subscription, providers, permissions, the
    /// resource groups in scope), not its licenses, machines, patch-policy states, access and
    /// policy facts and dry runs: what `fix providers` needs.
    pub subscription_facts_only: bool,
    /// How machines and licenses are read: ARM lists, Resource Graph, or (default) whichever
    /// is estimated sooner. The snapshot's `inventory` says which and why.
    pub inventory: Inventory,
}

impl std::fmt::Debug for GatherOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatherOptions")
            .field("on_progress", &self.on_progress.is_some())
            .field("planned_licenses", &self.plan.licenses.len())
            .field("subscription_facts_only", &self.subscription_facts_only)
            .field("inventory", &self.inventory)
            .finish()
    }
}

/// Why [`gather`] could not do its job.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GatherError {
    /// A run-ending ARM error (see [`ArmError::is_fatal`]).
    #[error(transparent)]
    Arm(#[from] ArmError),
    /// A management group in scope could not be listed: it does not exist, or the caller may
    /// not read it.
    #[error("management group {id}: {reason}")]
    ManagementGroup {
        /// The management group id.
        id: String,
        /// What went wrong, in words.
        reason: String,
        /// The ARM error.
        #[source]
        source: ArmError,
    },
    /// The scope names nothing to check (no subscription, and no subscription below the
    /// management groups).
    #[error("nothing to check: {0}")]
    EmptyScope(String),
}

impl GatherError {
    /// The ARM error behind this one, if any.
    pub fn arm(&self) -> Option<&ArmError> {
        match self {
            Self::Arm(error) | Self::ManagementGroup { source: error, .. } => Some(error),
            Self::EmptyScope(_) => None,
        }
    }
}

/// Reads the facts for every subscription in `scope`.
///
/// Equivalent to [`gather_with`] with default options.
///
/// # Errors
///
/// See [`gather_with`].
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use esu_preflight::arm::{ArmClient, ArmClientOptions, CredentialKind, CredentialOptions};
/// use esu_preflight::snapshot::Scope;
///
/// let credential = esu_preflight::arm::credential(CredentialKind::Auto, &CredentialOptions::default())?;
/// let client = ArmClient::new(credential, ArmClientOptions::default())?;
/// let scope = Scope::subscriptions(["00000000-0000-0000-0000-000000000000"]);
/// let snapshot = esu_preflight::gather::gather(&client, &scope).await?;
/// # let _ = snapshot; Ok(()) }
/// ```
pub async fn gather(client: &ArmClient, scope: &Scope) -> Result<Snapshot, GatherError> {
    gather_with(client, scope, &GatherOptions::default()).await
}

/// Reads the facts for every subscription in `scope`, reporting progress.
///
/// Management groups in scope are resolved to the subscriptions below them (added after the
/// subscriptions given, without duplicates). The returned snapshot lists subscriptions in the
/// order of its `scope.subscriptions`.
///
/// # Errors
///
/// Only run-ending errors: a [fatal](ArmError::is_fatal) ARM error (authentication failure, an
/// unreachable endpoint, the overall deadline), a management group that cannot be listed, or a
/// scope with nothing to check. Everything else becomes an unavailable fact.
pub async fn gather_with(
    client: &ArmClient,
    scope: &Scope,
    options: &GatherOptions,
) -> Result<Snapshot, GatherError> {
    // The deadline belongs to this gather (unless the caller set one): a client kept for hours
    // keeps working, and every read of this run ends by `client.timeout()` from now.
    let client = client.for_operation();
    let client = &client;
    let reads = Arc::new(Reads::new(client.clone()));
    // The caller comes from the token the first request needs anyway: no request of its own.
    // The inventory's count query (when the choice needs it) goes out at the same time.
    let read_estate = !options.subscription_facts_only;
    let count = async {
        if read_estate && inventory::wants_count(options.inventory, scope) {
            Some(inventory::count(client, scope).await)
        } else {
            None
        }
    };
    let (scope, caller, counted) =
        futures::join!(resolve_scope(&reads, scope), client.caller(), count);
    let scope = scope?;
    if let Some(Err(error)) = &counted
        && error.is_fatal()
    {
        return Err(error.clone().into());
    }
    let inventory = if read_estate {
        inventory::Plan::choose(
            options.inventory,
            &scope.subscriptions,
            counted,
            client.concurrency(),
            client.max_in_flight(),
        )
    } else {
        inventory::Plan::none()
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) if error.is_fatal() => return Err(error.into()),
        Err(_) => None,
    };
    let total = scope.subscriptions.len();
    let progress = Arc::new(Tracker {
        on_progress: options.on_progress.clone(),
        client: client.clone(),
        subscriptions: total,
        done: std::sync::atomic::AtomicUsize::new(0),
        machines: std::sync::atomic::AtomicU64::new(0),
    });
    progress.emit();
    let run = Arc::new(Run {
        reads,
        tenant: Tenant::default(),
        caller: caller.clone(),
        default_subscription: scope.subscriptions.first().cloned().unwrap_or_default(),
        subscriptions: scope.subscriptions.clone(),
        scope_groups: scope.resource_groups.clone(),
        plan: options.plan.clone(),
        read_estate,
        inventory,
        progress: Arc::clone(&progress),
    });
    let tasks: Vec<_> = scope
        .subscriptions
        .iter()
        .map(|id| {
            let run = Arc::clone(&run);
            let id = id.clone();
            let progress = Arc::clone(&run.progress);
            tokio::spawn(async move {
                let result = gather_subscription(&run, &id).await;
                progress
                    .done
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                progress.emit();
                result
            })
        })
        .collect();
    let mut subscriptions = Vec::with_capacity(tasks.len());
    for joined in futures::future::join_all(tasks).await {
        match joined {
            Ok(result) => subscriptions.push(result?),
            // A gathering task never panics; if one did, the bug should surface, not be hidden.
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    let mut snapshot = Snapshot::new(scope);
    snapshot.arm_endpoint = Some(client.endpoint().as_str().trim_end_matches('/').to_owned());
    snapshot.subscriptions = subscriptions;
    snapshot.tenant = run.tenant.take();
    snapshot.caller = caller;
    if read_estate {
        snapshot.inventory = Some(run.inventory.note());
    }
    Ok(snapshot)
}

/// The scope with its management groups resolved to the subscriptions below them.
async fn resolve_scope(reads: &Reads, scope: &Scope) -> Result<Scope, GatherError> {
    let mut resolved = scope.clone();
    resolved.subscriptions.clear();
    let mut add = |id: &str| {
        let id = id.to_ascii_lowercase();
        if !resolved.subscriptions.contains(&id) {
            resolved.subscriptions.push(id);
        }
    };
    for id in &scope.subscriptions {
        add(id);
    }
    let listings = futures::future::join_all(scope.management_groups.iter().map(|group| {
        let list = catalog::management_group_descendants(group);
        async move { (group, reads.list(list).await) }
    }))
    .await;
    for (group, listed) in listings {
        let descendants = listed.map_err(|source| {
            if source.is_fatal() {
                return GatherError::Arm(source);
            }
            let reason = match source.http_status() {
                Some(404) => "not found: check the id (`az account management-group list \
                              --output table`)"
                    .to_owned(),
                // The ARM error is the source: printed after the reason, never twice.
                Some(401 | 403) => "the signed-in identity may not list it; it needs Reader (or \
                                    Microsoft.Management/managementGroups/descendants/read) on \
                                    the group"
                    .to_owned(),
                _ => "its subscriptions could not be listed".to_owned(),
            };
            GatherError::ManagementGroup {
                id: group.clone(),
                reason,
                source,
            }
        })?;
        for descendant in descendants.iter() {
            if let Some(id) = descendant.subscription_id() {
                add(id);
            }
        }
    }
    if resolved.subscriptions.is_empty() {
        return Err(GatherError::EmptyScope(
            if scope.management_groups.is_empty() {
                "no subscription in scope".to_owned()
            } else {
                format!(
                    "no subscription below management group(s) {}",
                    scope.management_groups.join(", ")
                )
            },
        ));
    }
    Ok(resolved)
}

/// What every subscription's chains share in one run.
struct Run {
    reads: Arc<Reads>,
    tenant: Tenant,
    caller: Option<Caller>,
    default_subscription: String,
    subscriptions: Vec<String>,
    scope_groups: Vec<String>,
    plan: LicensePlan,
    /// Licenses, machines, patch states, access and policy facts, dry runs: all but the
    /// subscription's own facts (`fix providers` needs only those).
    read_estate: bool,
    /// How machines and licenses are read.
    inventory: inventory::Plan,
    /// How far the run has come.
    progress: Arc<Tracker>,
}

/// How far a run has come, told to [`GatherOptions::on_progress`].
struct Tracker {
    on_progress: Option<ProgressFn>,
    client: ArmClient,
    subscriptions: usize,
    done: std::sync::atomic::AtomicUsize,
    machines: std::sync::atomic::AtomicU64,
}

impl Tracker {
    fn emit(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(on_progress) = &self.on_progress {
            on_progress(Progress {
                subscriptions: self.subscriptions,
                subscriptions_done: self.done.load(Relaxed),
                requests: self.client.request_count(),
                machines: self.machines.load(Relaxed),
            });
        }
    }

    fn machines_read(&self, count: usize) {
        self.machines.fetch_add(
            u64::try_from(count).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.emit();
    }
}

impl Run {
    /// The licenses planned in subscription `sub`.
    fn planned_in<'a>(&'a self, sub: &'a str) -> impl Iterator<Item = &'a PlannedLicense> + 'a {
        self.plan.licenses.iter().filter(move |l| {
            l.subscription_or(&self.default_subscription)
                .eq_ignore_ascii_case(sub)
        })
    }

    /// The planned links whose machine is in subscription `sub`: (license, machine id).
    fn planned_links_in<'a>(&'a self, sub: &'a str) -> Vec<(&'a PlannedLicense, &'a str)> {
        self.plan
            .licenses
            .iter()
            .flat_map(|l| l.machines.iter().map(move |m| (l, m.as_str())))
            .filter(|(_, machine)| {
                id_parts(machine).is_some_and(|(s, _)| s.eq_ignore_ascii_case(sub))
            })
            .collect()
    }

    /// The resource groups of `sub` known to matter before anything is read: `--resource-group`
    /// ones, the plan's license groups, the groups of the plan's machines.
    fn known_groups(&self, sub: &str) -> Vec<String> {
        let mut groups = Vec::new();
        for rg in &self.scope_groups {
            push_group(&mut groups, rg);
        }
        for license in self.planned_in(sub) {
            push_group(&mut groups, &license.resource_group);
        }
        for (_, machine) in self.planned_links_in(sub) {
            if let Some((_, rg)) = id_parts(machine) {
                push_group(&mut groups, rg);
            }
        }
        groups
    }

    /// The resource group of `id` when it is within `--resource-group`: one whose facts are
    /// read for the licenses and candidate machines in it.
    fn later_group<'a>(&self, id: &'a str) -> Option<&'a str> {
        id_parts(id)
            .map(|(_, rg)| rg)
            .filter(|rg| self.group_in_scope(rg))
    }

    /// Whether resource group `rg` is within `--resource-group` (always, without it).
    fn group_in_scope(&self, rg: &str) -> bool {
        self.scope_groups.is_empty() || self.scope_groups.iter().any(|g| g.eq_ignore_ascii_case(rg))
    }
}

/// Adds `rg` to `groups` unless it is there (ignoring case).
fn push_group(groups: &mut Vec<String>, rg: &str) {
    if !rg.is_empty() && !groups.iter().any(|g| g.eq_ignore_ascii_case(rg)) {
        groups.push(rg.to_owned());
    }
}

/// The subscription and resource group an ARM id names (`/subscriptions/{s}/resourceGroups/{rg}/…`).
fn id_parts(id: &str) -> Option<(&str, &str)> {
    let mut segments = id.split('/').filter(|s| !s.is_empty());
    if !segments.next()?.eq_ignore_ascii_case("subscriptions") {
        return None;
    }
    let sub = segments.next()?;
    if !segments.next()?.eq_ignore_ascii_case("resourceGroups") {
        return None;
    }
    Some((sub, segments.next()?))
}

/// One subscription: every fact of it, each chain starting as soon as what it needs is read.
async fn gather_subscription(run: &Run, sub: &str) -> Result<SubscriptionSnapshot, ArmError> {
    let reads = &*run.reads;
    let subscription = catalog::subscription(sub);
    let sub_scope = subscription.path().to_owned();
    let permissions = catalog::permissions(&sub_scope);
    let known = run.known_groups(sub);
    let groups = futures::future::join_all(
        known
            .iter()
            .map(|name| gather_resource_group(run, sub, name)),
    );
    let patch_policies: Vec<&str> = PROGRAMS
        .iter()
        .filter_map(|p| p.patch_policy.map(|policy| policy.definition))
        .collect();
    // The resource groups of licenses and candidate machines, named page by page as the lists
    // arrive, so that their reads start while the rest of a long machine list is still coming.
    let (found, discovered) = tokio::sync::mpsc::unbounded_channel::<String>();
    // The licenses, machines and patch-policy states, unless only the subscription's own facts
    // are wanted. (The block owns the senders: the channel closes when the lists are read.)
    let policies = &patch_policies;
    let estate = async move {
        if !run.read_estate {
            return None;
        }
        let patch_states = futures::future::join_all(
            policies
                .iter()
                .map(|definition| reads.list(catalog::policy_definition_states(sub, definition))),
        );
        let discover = run.plan.licenses.is_empty();
        let license_groups = found.clone();
        let mut on_licenses = move |page: &[Item<License>]| {
            if discover {
                announce_groups(run, &license_groups, license_ids(page));
            }
        };
        let mut announced = Vec::new();
        let mut on_machines = move |page: &[Item<Machine>]| {
            run.progress.machines_read(page.len());
            if discover {
                let before = announced.len();
                add_candidate_groups(run, &mut announced, page);
                for rg in &announced[before..] {
                    // The receiver is gone only when nobody wants the groups.
                    let _ = found.send(rg.clone());
                }
            }
        };
        Some(futures::join!(
            inventory::licenses_pages(run, sub, &mut on_licenses),
            inventory::machines_pages(run, sub, &mut on_machines),
            patch_states,
            reads.list(catalog::multiple_activation_keys(sub)),
        ))
    };
    let authorization = async {
        if run.read_estate {
            authorization(run, sub, &sub_scope).await
        } else {
            Ok(ScopeAuthorization::default())
        }
    };
    let later_groups = later_groups(run, sub, &known, discovered);
    let validations = futures::future::join_all(
        run.planned_in(sub)
            .map(|license| validate(run, sub, license)),
    );
    let (
        subscription,
        providers,
        permissions,
        groups,
        estate,
        authorization,
        later_groups,
        validations,
        restrictions,
        management_groups,
    ) = futures::join!(
        reads.get(subscription),
        reads.list(catalog::providers(sub)),
        reads.list(permissions),
        groups,
        estate,
        authorization,
        later_groups,
        validations,
        policy_restrictions(run, sub),
        management_groups(run, sub),
    );
    // Nobody else reads this subscription's lists: out of the table, so that each becomes its
    // fact without a copy (a fleet's machines are held once, not twice).
    reads.release(&catalog::licenses(sub).key());
    reads.release(&catalog::machines(sub).key());
    let (licenses, machines, patch_states, mak_keys) = match estate {
        Some((licenses, machines, states, mak_keys)) => (
            Some(fact(licenses)?),
            Some(fact(machines)?),
            patch_policies
                .iter()
                .map(|definition| definition.to_ascii_lowercase())
                .zip(states)
                .map(|(definition, states)| Ok((definition, fact(states)?)))
                .collect::<Result<_, ArmError>>()?,
            Some(fact(mak_keys)?),
        ),
        None => (None, None, BTreeMap::new(), None),
    };
    let mut resource_groups: Vec<ResourceGroupSnapshot> =
        groups.into_iter().collect::<Result<_, _>>()?;
    resource_groups.extend(later_groups?);
    Ok(SubscriptionSnapshot {
        subscription_id: sub.to_owned(),
        subscription: fact(subscription)?,
        providers: fact(providers)?,
        permissions: fact(permissions)?,
        resource_groups,
        licenses,
        machines,
        patch_states,
        license_validations: validations.into_iter().collect::<Result<_, _>>()?,
        authorization: authorization?,
        management_groups: management_groups?,
        policy_restrictions: restrictions?,
        mak_keys,
    })
}

/// One resource group: whether it exists, the caller's permissions there, and (unless only
/// subscription facts are read) the access and policy facts at its scope.
async fn gather_resource_group(
    run: &Run,
    sub: &str,
    name: &str,
) -> Result<ResourceGroupSnapshot, ArmError> {
    let request = catalog::resource_group(sub, name);
    let scope = request.path().to_owned();
    let permissions = catalog::permissions(&scope);
    let authorization = async {
        if run.read_estate {
            authorization(run, sub, &scope).await
        } else {
            Ok(ScopeAuthorization::default())
        }
    };
    let (group, permissions, authorization) = futures::join!(
        run.reads.get_opt(request),
        run.reads.list(permissions),
        authorization
    );
    Ok(ResourceGroupSnapshot {
        name: name.to_owned(),
        group: fact(group)?,
        permissions: fact(permissions)?,
        authorization: authorization?,
    })
}

/// Sends the resource group of each id (within `--resource-group`) to `found`.
fn announce_groups<'a>(
    run: &Run,
    found: &tokio::sync::mpsc::UnboundedSender<String>,
    ids: impl Iterator<Item = &'a str>,
) {
    for rg in ids.filter_map(|id| run.later_group(id)) {
        // The receiver is gone only when nobody wants the groups (a plan names them).
        let _ = found.send(rg.to_owned());
    }
}

/// The ids of the readable licenses of `items`: their groups are read without a plan.
fn license_ids(items: &[Item<License>]) -> impl Iterator<Item = &str> {
    items.iter().filter_map(Item::read).map(|l| l.id.as_str())
}

/// Adds to `groups` (in list order, unless there, within `--resource-group`) the resource group
/// of each candidate machine of `items` ([`is_candidate`]): their groups are read without a
/// plan. A machine whose group is there already is not classified: a fleet's few groups are
/// named by their first machines, and its 100,000 machines are not classified twice over.
fn add_candidate_groups(run: &Run, groups: &mut Vec<String>, items: &[Item<Machine>]) {
    for machine in items.iter().filter_map(Item::read) {
        let Some(rg) = run.later_group(&machine.id) else {
            continue;
        };
        if !groups.iter().any(|g| g.eq_ignore_ascii_case(rg)) && is_candidate(machine) {
            groups.push(rg.to_owned());
        }
    }
}

/// Without a plan, the resource groups that are only known once licenses and machines are read:
/// those holding ESU licenses, and those of Windows Server 2012/2012 R2/2016 Arc machines with
/// no license linked (within `--resource-group`), besides `known`; each read like the others.
///
/// Each group's reads start as soon as a page of the lists names it (`discovered`); the groups
/// kept, and their order, are those of the whole lists (licenses first, then machines, in list
/// order), so the snapshot is the same whatever order the pages came in.
async fn later_groups(
    run: &Run,
    sub: &str,
    known: &[String],
    mut discovered: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> Result<Vec<ResourceGroupSnapshot>, ArmError> {
    if !run.read_estate || !run.plan.licenses.is_empty() {
        return Ok(Vec::new());
    }
    use futures::StreamExt;
    let mut started: Vec<String> = known.to_vec();
    let mut reading = futures::stream::FuturesUnordered::new();
    let mut read: HashMap<String, Result<ResourceGroupSnapshot, ArmError>> = HashMap::new();
    let mut open = true;
    loop {
        tokio::select! {
            name = discovered.recv(), if open => match name {
                Some(name) => {
                    if !started.iter().any(|g| g.eq_ignore_ascii_case(&name)) {
                        started.push(name.clone());
                        reading.push(async move {
                            let group = gather_resource_group(run, sub, &name).await;
                            (name, group)
                        });
                    }
                }
                None => open = false,
            },
            Some((name, group)) = reading.next(), if !reading.is_empty() => {
                read.insert(name.to_ascii_lowercase(), group);
            }
            else => break,
        }
    }
    // The lists are in now (the senders are dropped once both are read).
    let (licenses, machines) =
        futures::join!(inventory::licenses(run, sub), inventory::machines(run, sub));
    let licenses = readable(licenses)?;
    let machines = readable(machines)?;
    let mut groups: Vec<String> = known.to_vec();
    let license_ids = licenses.iter().flat_map(|l| license_ids(l));
    for rg in license_ids.filter_map(|id| run.later_group(id)) {
        push_group(&mut groups, rg);
    }
    for page in machines.iter() {
        add_candidate_groups(run, &mut groups, page);
    }
    let mut out = Vec::with_capacity(groups.len() - known.len());
    for name in &groups[known.len()..] {
        // A group no page announced (the lists were read by someone without the hook) is read
        // now.
        let group = match read.remove(&name.to_ascii_lowercase()) {
            Some(group) => group,
            None => gather_resource_group(run, sub, name).await,
        };
        out.push(group?);
    }
    Ok(out)
}

/// Whether a machine may want an ESU license: an eligible release of a program, no license
/// linked.
fn is_candidate(machine: &Machine) -> bool {
    let p = &machine.properties;
    let os = crate::programs::classify_os(
        p.os_sku.as_deref().or(p.os_name.as_deref()),
        p.os_version.as_deref(),
    );
    let linked = machine
        .esu_profile()
        .and_then(|e| e.license_assignment_state.as_deref())
        .is_some_and(|s| s.eq_ignore_ascii_case("Assigned"));
    matches!(os, OsClass::Eligible { .. }) && !linked
}

/// A read's value, `None` when it failed (not fatally).
fn readable<T>(result: Result<Arc<T>, ArmError>) -> Result<Option<Arc<T>>, ArmError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_fatal() => Err(error),
        Err(_) => Ok(None),
    }
}

/// The access and policy facts at `scope` (subscription `sub` or one of its resource groups),
/// and the tenant-wide definitions they name.
///
/// Role and policy assignments and policy exemptions come from one list of each per
/// subscription, of everything at, above and below it ([`applying`]): a fleet's hundreds of
/// resource groups cost no more requests than one. Deny assignments are listed at each scope
/// (`atScope()`): what their list answers without a filter is not documented.
async fn authorization(run: &Run, sub: &str, scope: &str) -> Result<ScopeAuthorization, ArmError> {
    let reads = &*run.reads;
    let roles = async {
        let (mut wide, mut narrow) = (
            catalog::role_assignments_within(sub),
            catalog::role_assignments(scope),
        );
        if let Some(caller) = &run.caller {
            let assigned = format!("assignedTo('{}')", caller.object_id);
            wide = wide.with_query("$filter", &assigned);
            narrow = narrow.with_query("$filter", &format!("atScope() and {assigned}"));
        }
        let result = applying(run, scope, wide, narrow, |_| true).await;
        if let Ok(assignments) = &result {
            let ids = referenced(assignments, "roleDefinitionId");
            try_all(ids.iter().map(|id| run.tenant.read(Kind::Role, reads, id))).await?;
        }
        fact(result)
    };
    let policies = async {
        let result = applying(
            run,
            scope,
            catalog::policy_assignments_within(sub),
            catalog::policy_assignments(scope),
            |_| true,
        )
        .await;
        if let Ok(assignments) = &result {
            let mut ids = referenced(assignments, "policyDefinitionId");
            // Initiatives first: their chain is a request longer (the members), so they ask
            // for a slot before the single definitions when more are due than may be in flight.
            ids.sort_by_key(|id| !crate::policy::is_set_definition_id(id));
            try_all(ids.iter().map(|id| policy_definition_chain(run, id))).await?;
        }
        fact(result)
    };
    let (roles, denies, policies, exemptions) = futures::join!(
        roles,
        reads.list(catalog::deny_assignments(scope)),
        policies,
        exemptions(run, sub, scope),
    );
    Ok(ScopeAuthorization {
        role_assignments: Some(roles?),
        deny_assignments: Some(fact(denies)?),
        policy_assignments: Some(policies?),
        policy_exemptions: Some(exemptions?),
    })
}

/// The items that apply at `scope` — made at it or above it, as its `atScope()` list has them
/// — out of `wide`, the subscription's list of everything at, above and below it (read once
/// for the subscription and all its groups). When `wide` cannot be read (not fatally) and
/// `fall_back` says so for its error, `narrow` (`scope`'s own `atScope()` list) is read
/// instead: a caller who may read a resource group but not the whole subscription still gets
/// the group's facts.
async fn applying(
    run: &Run,
    scope: &str,
    wide: ArmList<Value>,
    narrow: ArmList<Value>,
    fall_back: fn(&ArmError) -> bool,
) -> Result<Arc<Vec<Value>>, ArmError> {
    match run.reads.list(wide).await {
        Ok(all) => {
            let scope = scope.trim_end_matches('/').to_ascii_lowercase();
            Ok(Arc::new(
                all.iter()
                    .filter(|item| applies_at(item, &scope))
                    .cloned()
                    .collect(),
            ))
        }
        Err(error) if error.is_fatal() || !fall_back(&error) => Err(error),
        Err(_) => run.reads.list(narrow).await,
    }
}

/// Whether an authorization item (a role or policy assignment, an exemption) made at its scope
/// applies at `scope` (lower-case, no trailing `/`): it was made there or above (a management
/// group, the tenant root, the subscription, the group). An item whose scope cannot be told is
/// kept: dropping a Deny assignment by mistake would be a false pass.
fn applies_at(item: &Value, scope: &str) -> bool {
    let Some(made_at) = item_scope(item) else {
        return true;
    };
    let made_at = made_at.trim_end_matches('/');
    if !made_at.starts_with("/subscriptions/") {
        // A management group above the subscription, or the tenant root: the subscription's
        // list names only those it is below.
        return true;
    }
    scope == made_at || (scope.starts_with(made_at) && scope[made_at.len()..].starts_with('/'))
}

/// The scope (lower-case) an authorization item was made at: its `id` up to the last
/// `/providers/Microsoft.Authorization/` (empty for the tenant root), else its
/// `properties.scope`.
fn item_scope(item: &Value) -> Option<String> {
    const MARK: &str = "/providers/microsoft.authorization/";
    let from_id = item.get("id").and_then(Value::as_str).and_then(|id| {
        let id = id.to_ascii_lowercase();
        let at = id.rfind(MARK)?;
        Some(id[..at].to_owned())
    });
    from_id.or_else(|| {
        item.get("properties")
            .and_then(|p| p.get("scope"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    })
}

/// Runs every future, failing with the first (fatal) error.
async fn try_all<T>(
    futures: impl Iterator<Item = impl Future<Output = Result<T, ArmError>>>,
) -> Result<Vec<T>, ArmError> {
    futures::future::join_all(futures)
        .await
        .into_iter()
        .collect()
}

/// The distinct `properties.{field}` strings of raw ARM items (first spelling kept).
fn referenced(items: &[Value], field: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for item in items {
        if let Some(id) = item
            .get("properties")
            .and_then(|p| p.get(field))
            .and_then(Value::as_str)
            && !ids.iter().any(|known| known.eq_ignore_ascii_case(id))
        {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// A policy definition an assignment names, or an initiative and then each of its members.
async fn policy_definition_chain(run: &Run, id: &str) -> Result<(), ArmError> {
    if crate::policy::is_set_definition_id(id) {
        if let Some(set) = run.tenant.read(Kind::PolicySet, &run.reads, id).await? {
            let members = crate::policy::set_members(&set);
            let mut ids: Vec<&str> = Vec::new();
            for member in &members {
                if !ids
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(&member.definition_id))
                {
                    ids.push(&member.definition_id);
                }
            }
            try_all(
                ids.iter()
                    .map(|id| run.tenant.read(Kind::Policy, &run.reads, id)),
            )
            .await?;
        }
    } else {
        run.tenant.read(Kind::Policy, &run.reads, id).await?;
    }
    Ok(())
}

/// The policy exemptions at `scope` (subscription `sub` or one of its groups, see
/// [`applying`]); an answer saying their preview API is not served here is recorded as
/// [`EXEMPTIONS_API_MISSING`] (without asking again at `scope`: the API is missing there too).
async fn exemptions(run: &Run, sub: &str, scope: &str) -> Result<Fact<Vec<Value>>, ArmError> {
    let listed = applying(
        run,
        scope,
        catalog::policy_exemptions_within(sub),
        catalog::policy_exemptions(scope),
        |error| !exemptions_api_missing(error),
    )
    .await;
    match listed {
        Err(error) if !error.is_fatal() && exemptions_api_missing(&error) => {
            let mut reason = error.to_unavailable();
            reason.code = Some(EXEMPTIONS_API_MISSING.to_owned());
            reason.message = format!(
                "policy exemptions could not be listed at {scope}: ARM does not serve their \
                 preview API (api-version {}) here; no exemption is known ({})",
                api_version::POLICY_EXEMPTIONS,
                error
                    .api()
                    .map_or_else(String::new, |api| api.message.clone()),
            );
            Ok(Fact::Unavailable { reason })
        }
        other => fact(other),
    }
}

/// Whether an error answer says the exemptions API does not exist here (rather than that the
/// scope does not, or that the caller may not read it).
fn exemptions_api_missing(error: &ArmError) -> bool {
    let Some(api) = error.api() else {
        return false;
    };
    let code = api.code.as_deref().unwrap_or_default();
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(code));
    match api.status {
        404 => !is(&["SubscriptionNotFound", "ResourceGroupNotFound"]),
        400 => is(&[
            "NoRegisteredProviderFound",
            "InvalidResourceType",
            "InvalidApiVersionParameter",
            "InvalidResourceNamespace",
        ]),
        _ => false,
    }
}

/// The management groups above `sub`, nearest first, from Resource Graph (one query for every
/// subscription of the run); `None` when not known (unreadable, the subscription not listed, or
/// no chain), never a partial list.
async fn management_groups(run: &Run, sub: &str) -> Result<Option<Vec<String>>, ArmError> {
    if !run.read_estate {
        return Ok(None);
    }
    let rows = run
        .reads
        .list(catalog::management_group_chains(&run.subscriptions))
        .await;
    let Some(rows) = readable(rows)? else {
        return Ok(None);
    };
    let row = rows.iter().find(|row| {
        row.get("subscriptionId")
            .and_then(Value::as_str)
            .is_some_and(|id| id.eq_ignore_ascii_case(sub))
    });
    let chain = row
        .and_then(|row| row.get("managementGroupAncestorsChain"))
        .and_then(Value::as_array);
    let Some(chain) = chain else {
        return Ok(None);
    };
    let names: Option<Vec<String>> = chain
        .iter()
        .map(|group| {
            group
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .map(str::to_owned)
        })
        .collect();
    Ok(names.filter(|names| !names.is_empty()))
}

/// The action `validateLicense` needs.
const VALIDATE_ACTION: &str = "Microsoft.HybridCompute/validateLicense/action";

/// The service's own dry run of one planned license, when the caller may ask for it (or when
/// its permissions could not be read: then ARM decides).
async fn validate(
    run: &Run,
    sub: &str,
    license: &PlannedLicense,
) -> Result<LicenseValidation, ArmError> {
    let license_id = license.resource_id(&run.default_subscription);
    let permissions = run
        .reads
        .list(catalog::permissions(catalog::subscription(sub).path()))
        .await;
    if readable(permissions)?.is_some_and(|p| !crate::permissions::is_allowed(&p, VALIDATE_ACTION))
    {
        return Ok(LicenseValidation {
            license_id,
            outcome: ValidationOutcome::NotPermitted {
                action: VALIDATE_ACTION.to_owned(),
            },
        });
    }
    let request = catalog::validate_license(sub, license.arm_body());
    let outcome = match run.reads.get(request).await {
        Ok(_) => ValidationOutcome::Accepted,
        Err(error) if error.is_fatal() => return Err(error),
        Err(error) => match error.api() {
            Some(api) if matches!(api.status, 401 | 403) => ValidationOutcome::NotPermitted {
                action: api
                    .missing_permission()
                    .map_or_else(|| VALIDATE_ACTION.to_owned(), |(action, _)| action),
            },
            Some(api)
                if (400..500).contains(&api.status) && !matches!(api.status, 404 | 408 | 429) =>
            {
                ValidationOutcome::Rejected {
                    http_status: api.status,
                    code: api.code.clone(),
                    message: api.message.clone(),
                }
            }
            _ => ValidationOutcome::Unavailable {
                reason: error.to_unavailable(),
            },
        },
    };
    Ok(LicenseValidation {
        license_id,
        outcome,
    })
}

/// The service's policy pre-check (`checkPolicyRestrictions`) of what the plan would create in
/// `sub`: each planned license, and each license profile of a planned link whose machine is in
/// `sub`.
async fn policy_restrictions(
    run: &Run,
    sub: &str,
) -> Result<Vec<PolicyRestrictionCheck>, ArmError> {
    if !run.read_estate {
        return Ok(Vec::new());
    }
    let licenses = run.planned_in(sub).map(|license| {
        let content = json!({
            "type": LICENSE_TYPE,
            "name": license.name,
            "location": license.location,
            "properties": license.arm_body()["properties"],
        });
        restriction_check(
            run,
            sub,
            &license.resource_group,
            license.resource_id(&run.default_subscription),
            LICENSE_TYPE,
            Ok(content),
        )
    });
    let licenses = try_all(licenses);
    let links = run.planned_links_in(sub);
    let links = try_all(links.into_iter().map(|(license, machine_id)| async move {
        let license_id = license.resource_id(&run.default_subscription);
        let machines = readable(inventory::machines(run, sub).await)?;
        let location = machines.as_ref().and_then(|machines| {
            machines
                .iter()
                .filter_map(Item::read)
                .find(|m| m.id.eq_ignore_ascii_case(machine_id))
                .and_then(|m| m.location.clone())
        });
        let content = location
            .map(|location| {
                json!({
                    "type": LICENSE_PROFILE_TYPE,
                    "name": "default",
                    "location": location,
                    "properties": { "esuProfile": { "assignedLicense": license_id } },
                })
            })
            .ok_or_else(|| Unavailable {
                kind: UnavailableKind::Other,
                http_status: None,
                code: Some(MACHINE_LOCATION_UNKNOWN.to_owned()),
                message: format!(
                    "the location of machine {machine_id} is not known (it was not read, or \
                     has none), so its license profile could not be put to Azure Policy"
                ),
                action: None,
                scope: None,
                retry_after_secs: None,
            });
        let rg = id_parts(machine_id).map_or("", |(_, rg)| rg);
        restriction_check(
            run,
            sub,
            rg,
            format!(
                "{}/licenseProfiles/default",
                machine_id.trim_end_matches('/')
            ),
            LICENSE_PROFILE_TYPE,
            content,
        )
        .await
    }));
    let (licenses, links) = futures::join!(licenses, links);
    let mut checks = licenses?;
    checks.extend(links?);
    Ok(checks)
}

/// The type of an ESU license.
const LICENSE_TYPE: &str = "Microsoft.HybridCompute/licenses";
/// The type of a machine's license profile.
const LICENSE_PROFILE_TYPE: &str = "Microsoft.HybridCompute/machines/licenseProfiles";

/// One `checkPolicyRestrictions` at resource group `rg` of `sub` (at the subscription when the
/// group does not exist yet), when the caller may ask.
async fn restriction_check(
    run: &Run,
    sub: &str,
    rg: &str,
    resource_id: String,
    resource_type: &str,
    content: Result<Value, Unavailable>,
) -> Result<PolicyRestrictionCheck, ArmError> {
    let check = |answer| PolicyRestrictionCheck {
        resource_id: resource_id.clone(),
        resource_type: resource_type.to_owned(),
        answer,
    };
    let content = match content {
        Ok(content) => content,
        Err(reason) => return Ok(check(Fact::Unavailable { reason })),
    };
    let sub_scope = catalog::subscription(sub).path().to_owned();
    let group = catalog::resource_group(sub, rg);
    let rg_scope = group.path().to_owned();
    let (exists, rg_permissions, sub_permissions) = futures::join!(
        run.reads.get_opt(group),
        run.reads.list(catalog::permissions(&rg_scope)),
        run.reads.list(catalog::permissions(&sub_scope)),
    );
    let exists = readable(exists)?.map(|g| g.is_some());
    let (scope, permissions) = if exists == Some(false) {
        (sub_scope, readable(sub_permissions)?)
    } else {
        (rg_scope, readable(rg_permissions)?)
    };
    if permissions
        .is_some_and(|p| !crate::permissions::is_allowed(&p, CHECK_POLICY_RESTRICTIONS_ACTION))
    {
        return Ok(check(Fact::Unavailable {
            reason: Unavailable {
                kind: UnavailableKind::Forbidden,
                http_status: None,
                code: None,
                message: format!(
                    "the signed-in identity may not ask Azure Policy what it would restrict: it \
                     lacks {CHECK_POLICY_RESTRICTIONS_ACTION} on {scope}"
                ),
                action: Some(CHECK_POLICY_RESTRICTIONS_ACTION.to_owned()),
                scope: Some(scope),
                retry_after_secs: None,
            },
        }));
    }
    let body = json!({
        "resourceDetails": {
            "resourceContent": content,
            "apiVersion": api_version::HYBRID_COMPUTE,
        },
    });
    let answer = run
        .reads
        .get(catalog::check_policy_restrictions(&scope, body))
        .await;
    Ok(check(fact(answer)?))
}

/// The kinds of tenant-wide definitions.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Role,
    Policy,
    PolicySet,
}

impl Kind {
    /// The id segment every id of this kind has (lower-case).
    fn segment(self) -> &'static str {
        match self {
            Kind::Role => "/providers/microsoft.authorization/roledefinitions/",
            Kind::Policy => "/providers/microsoft.authorization/policydefinitions/",
            Kind::PolicySet => "/providers/microsoft.authorization/policysetdefinitions/",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Role => "role definition",
            Kind::Policy => "policy definition",
            Kind::PolicySet => "policy set definition",
        }
    }
}

/// The tenant-wide definitions read in a run, by lower-case id.
#[derive(Default)]
struct Tenant {
    maps: Mutex<TenantSnapshot>,
}

impl Tenant {
    /// Reads the definition `id` (once per run: the read table) and records it; its value when
    /// it was read. An id that is not one of `kind` (or could change the request) is recorded
    /// as unavailable, not read.
    async fn read(
        &self,
        kind: Kind,
        reads: &Reads,
        id: &str,
    ) -> Result<Option<Arc<Value>>, ArmError> {
        let (fact, value) = match check_definition_id(kind, id) {
            Err(reason) => (Fact::Unavailable { reason }, None),
            Ok(()) => {
                let request = match kind {
                    Kind::Role => catalog::role_definition(id),
                    Kind::Policy => catalog::policy_definition(id),
                    Kind::PolicySet => catalog::policy_set_definition(id),
                };
                match reads.get(request).await {
                    Ok(value) => (
                        Fact::Available {
                            value: Value::clone(&value),
                        },
                        Some(value),
                    ),
                    Err(error) if error.is_fatal() => return Err(error),
                    Err(error) => (
                        Fact::Unavailable {
                            reason: error.to_unavailable(),
                        },
                        None,
                    ),
                }
            }
        };
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let map = match kind {
            Kind::Role => &mut maps.role_definitions,
            Kind::Policy => &mut maps.policy_definitions,
            Kind::PolicySet => &mut maps.policy_set_definitions,
        };
        map.insert(id.to_ascii_lowercase(), fact);
        Ok(value)
    }

    /// Everything read.
    fn take(&self) -> TenantSnapshot {
        std::mem::take(&mut *self.maps.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Whether `id` is an ARM id of a definition of `kind` that can be requested as it is.
fn check_definition_id(kind: Kind, id: &str) -> Result<(), Unavailable> {
    let lower = id.to_ascii_lowercase();
    let fine = id.starts_with('/')
        && lower.contains(kind.segment())
        && !lower
            .trim_end_matches('/')
            .ends_with(kind.segment().trim_end_matches('/'))
        && !id
            .chars()
            .any(|c| c.is_control() || matches!(c, '?' | '#' | '%' | '\\'))
        && !id.split('/').any(|s| s == "." || s == "..");
    if fine {
        return Ok(());
    }
    let shown: String = id.chars().filter(|c| !c.is_control()).take(300).collect();
    Err(Unavailable {
        kind: UnavailableKind::MalformedResponse,
        http_status: None,
        code: Some("InvalidDefinitionId".to_owned()),
        message: format!("{shown:?} is not a {} id; it was not read", kind.name()),
        action: None,
        scope: None,
        retry_after_secs: None,
    })
}

/// Turns a read into a fact, passing fatal errors through.
fn fact<T: Clone>(result: Result<Arc<T>, ArmError>) -> Result<Fact<T>, ArmError> {
    match result {
        Ok(value) => Ok(Fact::Available {
            value: Arc::unwrap_or_clone(value),
        }),
        Err(error) if error.is_fatal() => Err(error),
        Err(error) => Ok(Fact::Unavailable {
            reason: error.to_unavailable(),
        }),
    }
}

/// A read's outcome, shared by everyone who asked for the same URL.
type Shared = Result<Arc<dyn Any + Send + Sync>, ArmError>;

/// The URL-keyed table of every read in a run: the first caller of a URL fetches it, every later
/// caller (in any subscription's task) gets the same answer.
struct Reads {
    client: ArmClient,
    table: Mutex<HashMap<String, Arc<OnceCell<Shared>>>>,
}

impl Reads {
    fn new(client: ArmClient) -> Self {
        Self {
            client,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`, fetching it with `fetch` only if nobody has.
    async fn read<T, F, Fut>(&self, key: String, fetch: F) -> Result<Arc<T>, ArmError>
    where
        T: Send + Sync + 'static,
        F: FnOnce(ArmClient) -> Fut,
        Fut: Future<Output = Result<T, ArmError>>,
    {
        let cell = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(table.entry(key).or_default())
        };
        let shared = cell
            .get_or_init(|| async {
                fetch(self.client.clone())
                    .await
                    .map(|value| Arc::new(value) as Arc<dyn Any + Send + Sync>)
            })
            .await;
        match shared {
            Ok(value) => Arc::clone(value)
                .downcast::<T>()
                .map_err(|_| ArmError::InvalidPath {
                    path: "(gather)".to_owned(),
                    reason: "one URL was read as two different models".to_owned(),
                }),
            Err(error) => Err(error.clone()),
        }
    }

    /// Forgets the answer for `key` (a later read sends the request again): for answers only
    /// one task reads, so that the last holder owns it.
    fn release(&self, key: &str) {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    async fn get<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        request: ArmRequest<T>,
    ) -> Result<Arc<T>, ArmError> {
        let key = request.key();
        self.read(key, |client| async move { client.fetch(&request).await })
            .await
    }

    async fn get_opt<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        request: ArmRequest<T>,
    ) -> Result<Arc<Option<T>>, ArmError> {
        let key = request.key();
        self.read(
            key,
            |client| async move { client.fetch_opt(&request).await },
        )
        .await
    }

    async fn list<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        list: ArmList<T>,
    ) -> Result<Arc<Vec<T>>, ArmError> {
        let key = list.key();
        self.read(key, |client| async move { client.fetch_all(&list).await })
            .await
    }

    /// Like [`Reads::list`], calling `on_page` with each page as it is decoded — when this call
    /// is the one that fetches the list (a list already read, or being read by another caller,
    /// calls nothing).
    async fn list_pages<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        list: ArmList<T>,
        on_page: &mut (dyn FnMut(&[T]) + Send),
    ) -> Result<Arc<Vec<T>>, ArmError> {
        let key = list.key();
        self.read(key, |client| async move {
            client.fetch_all_pages(&list, on_page).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_subscription_and_group() {
        assert_eq!(
            id_parts(
                "/subscriptions/S/resourcegroups/RG/providers/Microsoft.HybridCompute/machines/m"
            ),
            Some(("S", "RG"))
        );
        assert_eq!(id_parts("/subscriptions/S"), None);
        assert_eq!(
            id_parts("/providers/Microsoft.Management/managementGroups/x"),
            None
        );
        assert_eq!(id_parts(""), None);
    }

    #[test]
    fn only_definition_ids_of_the_kind_are_read() {
        let ok = [
            (
                Kind::Role,
                "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
            ),
            (
                Kind::Policy,
                "/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
            ),
            (
                Kind::Policy,
                "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/policyDefinitions/My Policy",
            ),
            (
                Kind::PolicySet,
                "/subscriptions/s/providers/Microsoft.Authorization/policySetDefinitions/set1",
            ),
        ];
        for (kind, id) in ok {
            assert!(check_definition_id(kind, id).is_ok(), "{id}");
        }
        let bad = [
            (
                Kind::Role,
                "/providers/Microsoft.Authorization/policyDefinitions/x",
            ),
            (
                Kind::Policy,
                "providers/Microsoft.Authorization/policyDefinitions/x",
            ),
            (
                Kind::Policy,
                "/providers/Microsoft.Authorization/policyDefinitions/x?api-version=1",
            ),
            (
                Kind::Policy,
                "/providers/Microsoft.Authorization/policyDefinitions/../../subscriptions",
            ),
            (
                Kind::Policy,
                "/providers/Microsoft.Authorization/policyDefinitions/",
            ),
            (
                Kind::PolicySet,
                "/providers/Microsoft.Authorization/policySetDefinitions/a\u{1b}b",
            ),
        ];
        for (kind, id) in bad {
            let reason = check_definition_id(kind, id).unwrap_err();
            assert_eq!(reason.code.as_deref(), Some("InvalidDefinitionId"), "{id}");
            assert!(!reason.message.contains('\u{1b}'));
        }
    }

    fn api_error(status: u16, code: &str) -> ArmError {
        ArmError::Api(Box::new(crate::arm::ApiError {
            status,
            code: Some(code.to_owned()),
            message: "m".to_owned(),
            target: None,
            details: Vec::new(),
            additional_info: Vec::new(),
            request: "GET /x".to_owned(),
            retry_after: None,
        }))
    }

    #[test]
    fn a_missing_exemptions_api_is_told_from_a_missing_scope() {
        assert!(exemptions_api_missing(&api_error(
            404,
            "InvalidResourceType"
        )));
        assert!(exemptions_api_missing(&api_error(
            400,
            "NoRegisteredProviderFound"
        )));
        assert!(exemptions_api_missing(&api_error(
            400,
            "InvalidApiVersionParameter"
        )));
        assert!(!exemptions_api_missing(&api_error(
            404,
            "ResourceGroupNotFound"
        )));
        assert!(!exemptions_api_missing(&api_error(
            404,
            "SubscriptionNotFound"
        )));
        assert!(!exemptions_api_missing(&api_error(
            403,
            "AuthorizationFailed"
        )));
        assert!(!exemptions_api_missing(&api_error(400, "BadRequest")));
    }
}
