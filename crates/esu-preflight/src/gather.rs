//! gather: read every fact the checks need from Azure Resource Manager into a [`Snapshot`].
//!
//! This is the only code that talks to Azure. All reads are planned here and issued
//! concurrently (the [`ArmClient`] bounds how many are in flight); no URL is fetched twice.
//! A fact that cannot be read is recorded as [`Fact::Unavailable`] with the reason; only
//! failures that stop the whole run (no credential, endpoint unreachable, deadline passed)
//! are returned as errors.

use crate::arm::{ArmClient, ArmError};
use crate::models::{Permission, Provider, Subscription};
use crate::snapshot::{Fact, Scope, Snapshot, SubscriptionSnapshot};
use futures::future::try_join_all;

/// The api-versions gather uses, one per ARM area. Chosen for the widest support across the
/// public and sovereign clouds (see the README).
pub mod api_version {
    /// `GET /subscriptions/{id}` (Microsoft.Resources).
    pub const SUBSCRIPTION: &str = "2022-12-01";
    /// Resource providers: list, get, register (Microsoft.Resources).
    pub const PROVIDERS: &str = "2021-04-01";
    /// `Microsoft.Authorization/permissions` (RBAC).
    pub const PERMISSIONS: &str = "2022-04-01";
}

/// Reads the facts for every subscription in `scope`.
///
/// Subscriptions and the reads within each are gathered concurrently. The returned snapshot
/// lists subscriptions in the order of `scope.subscriptions`.
///
/// # Errors
///
/// Only [fatal](ArmError::is_fatal) errors: authentication failure, an unreachable endpoint,
/// the overall deadline. Everything else becomes an unavailable fact.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), esu_preflight::arm::ArmError> {
/// use esu_preflight::arm::{ArmClient, ArmClientOptions, CredentialKind, CredentialOptions};
/// use esu_preflight::snapshot::Scope;
///
/// let credential = esu_preflight::arm::credential(CredentialKind::Auto, &CredentialOptions::default())?;
/// let client = ArmClient::new(credential, ArmClientOptions::default())?;
/// let scope = Scope { subscriptions: vec!["00000000-0000-0000-0000-000000000000".into()] };
/// let snapshot = esu_preflight::gather::gather(&client, &scope).await?;
/// # let _ = snapshot; Ok(()) }
/// ```
pub async fn gather(client: &ArmClient, scope: &Scope) -> Result<Snapshot, ArmError> {
    let subscriptions = try_join_all(
        scope
            .subscriptions
            .iter()
            .map(|id| gather_subscription(client, id)),
    )
    .await?;
    let mut snapshot = Snapshot::new(scope.clone());
    snapshot.arm_endpoint = Some(client.endpoint().as_str().trim_end_matches('/').to_owned());
    snapshot.subscriptions = subscriptions;
    Ok(snapshot)
}

/// Reads the facts about one subscription, all three reads at once.
async fn gather_subscription(
    client: &ArmClient,
    subscription_id: &str,
) -> Result<SubscriptionSnapshot, ArmError> {
    let base = format!("/subscriptions/{subscription_id}");
    let providers_path = format!("{base}/providers");
    let permissions_path = format!("{base}/providers/Microsoft.Authorization/permissions");
    let (subscription, providers, permissions) = futures::join!(
        client.get::<Subscription>(&base, api_version::SUBSCRIPTION),
        client.list::<Provider>(&providers_path, api_version::PROVIDERS),
        client.list::<Permission>(&permissions_path, api_version::PERMISSIONS),
    );
    Ok(SubscriptionSnapshot {
        subscription_id: subscription_id.to_owned(),
        subscription: fact(subscription)?,
        providers: fact(providers)?,
        permissions: fact(permissions)?,
    })
}

/// Turns a read into a fact, passing fatal errors through.
fn fact<T>(result: Result<T, ArmError>) -> Result<Fact<T>, ArmError> {
    match result {
        Ok(value) => Ok(Fact::Available { value }),
        Err(error) if error.is_fatal() => Err(error),
        Err(error) => Ok(Fact::Unavailable {
            reason: error.to_unavailable(),
        }),
    }
}
