//! gather: read every fact the checks need from Azure Resource Manager into a [`Snapshot`].
//!
//! This is the only code that talks to Azure. All reads are planned here:
//!
//! 1. the scope is resolved: `--management-group` becomes the subscriptions below it;
//! 2. round 1, the independent reads, per subscription (the subscription, its providers, the
//!    caller's permissions, and each resource group in scope), every subscription in its own task
//!    so decoding uses every core;
//! 3. later rounds follow references found in round 1 (definitions named by assignments, set
//!    members), read once for the whole tenant.
//!
//! Every read goes through one URL-keyed table, so no URL is fetched twice in a run, across all
//! subscriptions; the [`ArmClient`] bounds how many requests are in flight. A fact that cannot be
//! read is recorded as [`Fact::Unavailable`] with the reason; only failures that stop the whole
//! run (no credential, endpoint unreachable, deadline passed, a management group that cannot be
//! listed) are returned as errors.

use crate::arm::catalog::{self, ArmList, ArmRequest};
use crate::arm::{ArmClient, ArmError};
use crate::models::Permission;
use crate::plan::{LicensePlan, PlannedLicense};
use crate::programs::PROGRAMS;
use crate::snapshot::{
    Fact, LicenseValidation, ResourceGroupSnapshot, Scope, ScopeAuthorization, Snapshot,
    SubscriptionSnapshot, ValidationOutcome,
};
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// The api-versions gather uses: those of the [request catalogue](crate::arm::catalog).
pub use crate::arm::catalog::api_version;

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
}

/// A progress callback; it must be cheap (it is called from the gathering tasks).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options of [`gather_with`].
#[derive(Clone, Default)]
pub struct GatherOptions {
    /// Called when the scope is resolved and each time a subscription is done.
    pub on_progress: Option<ProgressFn>,
    /// What is to be provisioned: its resource groups are read (do they exist?) and each
    /// planned license is put to the service's own dry run (`validateLicense`) when the caller
    /// may.
    pub plan: LicensePlan,
    /// Read only each subscription's own facts (the subscription, providers, permissions, the
    /// resource groups in scope), not its licenses, machines and patch-policy states: what
    /// `fix providers` needs.
    pub subscription_facts_only: bool,
}

impl std::fmt::Debug for GatherOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatherOptions")
            .field("on_progress", &self.on_progress.is_some())
            .field("planned_licenses", &self.plan.licenses.len())
            .field("subscription_facts_only", &self.subscription_facts_only)
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
    let scope = resolve_scope(&reads, scope).await?;
    let total = scope.subscriptions.len();
    let report: Arc<dyn Fn(usize) + Send + Sync> = {
        let on_progress = options.on_progress.clone();
        let client = client.clone();
        Arc::new(move |done: usize| {
            if let Some(on_progress) = &on_progress {
                on_progress(Progress {
                    subscriptions: total,
                    subscriptions_done: done,
                    requests: client.request_count(),
                });
            }
        })
    };
    report(0);
    let default_subscription = scope.subscriptions.first().cloned().unwrap_or_default();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = scope
        .subscriptions
        .iter()
        .map(|id| {
            let reads = Arc::clone(&reads);
            let id = id.clone();
            let planned: Vec<PlannedLicense> = options
                .plan
                .licenses
                .iter()
                .filter(|l| {
                    l.subscription_or(&default_subscription)
                        .eq_ignore_ascii_case(&id)
                })
                .cloned()
                .collect();
            let mut groups = scope.resource_groups.clone();
            for license in &planned {
                if !groups
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(&license.resource_group))
                {
                    groups.push(license.resource_group.clone());
                }
            }
            let default_subscription = default_subscription.clone();
            let done = Arc::clone(&done);
            let report = Arc::clone(&report);
            let read_estate = !options.subscription_facts_only;
            tokio::spawn(async move {
                let result = gather_subscription(
                    &reads,
                    &id,
                    &groups,
                    &planned,
                    &default_subscription,
                    read_estate,
                )
                .await;
                report(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
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

/// One subscription: round 1, every independent read at once; round 2, the reads that depend on
/// round 1 (the dry runs of planned licenses, which need the caller's permissions).
async fn gather_subscription(
    reads: &Reads,
    subscription_id: &str,
    resource_groups: &[String],
    planned: &[PlannedLicense],
    default_subscription: &str,
    read_estate: bool,
) -> Result<SubscriptionSnapshot, ArmError> {
    let subscription = catalog::subscription(subscription_id);
    let permissions = catalog::permissions(subscription.path());
    let groups = futures::future::join_all(
        resource_groups
            .iter()
            .map(|name| gather_resource_group(reads, subscription_id, name)),
    );
    let patch_policies: Vec<&str> = PROGRAMS
        .iter()
        .filter_map(|p| p.patch_policy.map(|policy| policy.definition))
        .collect();
    // The licenses, machines and patch-policy states, unless only the subscription's own facts
    // are wanted.
    let estate = async {
        if !read_estate {
            return None;
        }
        let patch_states = futures::future::join_all(patch_policies.iter().map(|definition| {
            reads.list(catalog::policy_definition_states(
                subscription_id,
                definition,
            ))
        }));
        Some(futures::join!(
            reads.list(catalog::licenses(subscription_id)),
            reads.list(catalog::machines(subscription_id)),
            patch_states,
            reads.list(catalog::multiple_activation_keys(subscription_id)),
        ))
    };
    let (subscription, providers, permissions, groups, estate) = futures::join!(
        reads.get(subscription),
        reads.list(catalog::providers(subscription_id)),
        reads.list(permissions),
        groups,
        estate,
    );
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
        None => (None, None, std::collections::BTreeMap::new(), None),
    };
    let permissions = fact(permissions)?;
    let license_validations = futures::future::join_all(planned.iter().map(|license| {
        validate(
            reads,
            subscription_id,
            license,
            &permissions,
            default_subscription,
        )
    }))
    .await
    .into_iter()
    .collect::<Result<_, _>>()?;
    Ok(SubscriptionSnapshot {
        subscription_id: subscription_id.to_owned(),
        subscription: fact(subscription)?,
        providers: fact(providers)?,
        permissions,
        resource_groups: groups.into_iter().collect::<Result<_, _>>()?,
        licenses,
        machines,
        patch_states,
        license_validations,
        authorization: ScopeAuthorization::default(),
        management_groups: None,
        policy_restrictions: Vec::new(),
        mak_keys,
    })
}

/// The action `validateLicense` needs.
const VALIDATE_ACTION: &str = "Microsoft.HybridCompute/validateLicense/action";

/// Round 2 for one planned license: the service's own dry run, when the caller may ask for it
/// (or when its permissions could not be read: then ARM decides).
async fn validate(
    reads: &Reads,
    subscription_id: &str,
    license: &PlannedLicense,
    permissions: &Fact<Vec<Permission>>,
    default_subscription: &str,
) -> Result<LicenseValidation, ArmError> {
    let license_id = license.resource_id(default_subscription);
    if permissions
        .value()
        .is_some_and(|p| !crate::permissions::is_allowed(p, VALIDATE_ACTION))
    {
        return Ok(LicenseValidation {
            license_id,
            outcome: ValidationOutcome::NotPermitted {
                action: VALIDATE_ACTION.to_owned(),
            },
        });
    }
    let request = catalog::validate_license(subscription_id, license.arm_body());
    let outcome = match reads.get(request).await {
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

/// Round 1 for one resource group: whether it exists, and the caller's permissions on it.
async fn gather_resource_group(
    reads: &Reads,
    subscription_id: &str,
    name: &str,
) -> Result<ResourceGroupSnapshot, ArmError> {
    let request = catalog::resource_group(subscription_id, name);
    let permissions = catalog::permissions(request.path());
    let (group, permissions) = futures::join!(reads.get_opt(request), reads.list(permissions));
    Ok(ResourceGroupSnapshot {
        name: name.to_owned(),
        group: fact(group)?,
        permissions: fact(permissions)?,
        authorization: ScopeAuthorization::default(),
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
}
