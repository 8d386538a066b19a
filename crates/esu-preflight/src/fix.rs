//! Fixes: the few changes esu-preflight can make itself, each planned from a snapshot first.
//!
//! Nothing here runs unless the caller asks: the CLI plans and shows the plan, and only with
//! `--yes` calls [`register_providers`].

use crate::arm::{ArmClient, ArmError, catalog};
use crate::checks::{REQUIRED_PROVIDERS, Registration, register_action, unusable_reason};
use crate::models::{Provider, RegistrationState};
use crate::permissions::is_allowed;
use crate::snapshot::{Snapshot, Unavailable};
use serde::Serialize;
use std::time::Duration;

/// What registering the required providers of one subscription involves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderFixPlan {
    /// The subscription.
    pub subscription_id: String,
    /// Set when the subscription is not usable (what ESU001 reports: not found, not visible or
    /// not `Enabled`): nothing is planned or sent for it.
    pub unusable: Option<String>,
    /// Providers to send `register` for: not registered, or already `Registering` (registering
    /// is idempotent in ARM, and sending it again is what `az provider register` does, rather
    /// than waiting on a registration that may never finish), and the caller may register them.
    pub register: Vec<String>,
    /// Providers already `Registering`; those the caller may register are in `register` too.
    pub registering: Vec<String>,
    /// Providers that need registering but the caller lacks `{namespace}/register/action` for
    /// (what ESU102 reports): these are refused.
    pub not_permitted: Vec<String>,
    /// Set when the plan cannot be made: the providers could not be read.
    pub unavailable: Option<Unavailable>,
}

impl ProviderFixPlan {
    /// Whether there is nothing to register, wait for or refuse.
    pub fn is_noop(&self) -> bool {
        self.unusable.is_none()
            && self.register.is_empty()
            && self.registering.is_empty()
            && self.not_permitted.is_empty()
            && self.unavailable.is_none()
    }

    /// The providers to wait for after registering: those in `register` and those already
    /// `Registering`, each once, in [`REQUIRED_PROVIDERS`] order.
    pub fn to_wait_for(&self) -> Vec<String> {
        REQUIRED_PROVIDERS
            .iter()
            .filter(|ns| {
                self.register
                    .iter()
                    .chain(&self.registering)
                    .any(|p| p == *ns)
            })
            .map(|ns| (*ns).to_owned())
            .collect()
    }

    /// The `az` command that shows a provider's registration state, to check it later.
    pub fn az_show_command(&self, namespace: &str) -> String {
        format!(
            "az provider show --namespace {namespace} --subscription {} --query registrationState",
            self.subscription_id
        )
    }

    /// The `az` commands equivalent to this plan's registrations.
    pub fn az_commands(&self) -> Vec<String> {
        self.register
            .iter()
            .map(|ns| {
                format!(
                    "az provider register --namespace {ns} --subscription {}",
                    self.subscription_id
                )
            })
            .collect()
    }
}

/// Plans provider registration for every subscription of `snapshot`.
///
/// A subscription ESU001 finds unusable gets no plan, only [`ProviderFixPlan::unusable`].
/// When the caller's permissions could not be read, registration is attempted (ARM itself will
/// refuse it if the caller may not); only a definite "not permitted" refuses a provider. A
/// provider already `Registering` that the caller may not register is only waited for.
pub fn plan_provider_registration(snapshot: &Snapshot) -> Vec<ProviderFixPlan> {
    snapshot
        .subscriptions
        .iter()
        .map(|sub| {
            let mut plan = ProviderFixPlan {
                subscription_id: sub.subscription_id.clone(),
                unusable: None,
                register: Vec::new(),
                registering: Vec::new(),
                not_permitted: Vec::new(),
                unavailable: None,
            };
            if let Some(reason) = unusable_reason(sub) {
                plan.unusable = Some(reason);
                return plan;
            }
            let providers = match sub.providers.as_result() {
                Ok(providers) => providers,
                Err(reason) => {
                    plan.unavailable = Some(reason.clone());
                    return plan;
                }
            };
            // The same classification and permission test as ESU101 and ESU102, so the fix
            // and the report never disagree.
            for namespace in REQUIRED_PROVIDERS {
                let registration = Registration::of(providers, namespace);
                let registering = matches!(registration, Registration::Registering(_));
                if !registering && !registration.needs_registering() {
                    continue;
                }
                let permitted = sub
                    .permissions
                    .value()
                    .is_none_or(|perms| is_allowed(perms, &register_action(namespace)));
                if registering {
                    plan.registering.push(namespace.to_owned());
                }
                if permitted {
                    plan.register.push(namespace.to_owned());
                } else if !registering {
                    plan.not_permitted.push(namespace.to_owned());
                }
            }
            plan
        })
        .collect()
}

/// What ARM answered to one provider's `register`.
#[derive(Debug)]
pub struct RegistrationOutcome {
    /// The provider namespace.
    pub namespace: String,
    /// The provider as ARM answered (usually `Registering`), or why the request failed.
    pub result: Result<Provider, ArmError>,
}

/// Sends `POST /subscriptions/{id}/providers/{namespace}/register` for each provider in
/// `plan.register`, concurrently, and returns one outcome per provider in `plan.register`
/// order: one that fails does not stop the others.
///
/// All registrations share one deadline: the client's (see [`ArmClient::with_deadline`]), or
/// else `client.timeout()` from now.
pub async fn register_providers(
    client: &ArmClient,
    plan: &ProviderFixPlan,
) -> Vec<RegistrationOutcome> {
    let client = client.for_operation();
    let client = &client;
    futures::future::join_all(plan.register.iter().map(|ns| {
        let request = catalog::register_provider(&plan.subscription_id, ns);
        async move {
            let result = client.fetch(&request).await;
            RegistrationOutcome {
                namespace: ns.clone(),
                result,
            }
        }
    }))
    .await
}

/// How long and how often [`wait_for_registration`] polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Time between polls of one provider.
    pub poll_interval: Duration,
    /// Give up after this long. No poll outlasts it: one still unanswered then counts as not
    /// registered.
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(600),
        }
    }
}

/// One provider's state, as seen by a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationProgress {
    /// The subscription.
    pub subscription_id: String,
    /// The provider namespace.
    pub namespace: String,
    /// Its state at this poll.
    pub state: RegistrationState,
}

/// Polls `GET /subscriptions/{id}/providers/{namespace}` for each provider until all are
/// `Registered` or `options.timeout` passes (a poll in flight then is abandoned, and so is one
/// the client's own deadline stops). `on_progress` sees every poll's answer.
///
/// Returns the providers that were still not registered when it gave up (empty on success).
///
/// # Errors
///
/// An ARM error while polling, other than a deadline.
pub async fn wait_for_registration(
    client: &ArmClient,
    subscription_id: &str,
    namespaces: &[String],
    options: WaitOptions,
    on_progress: &(dyn Fn(&RegistrationProgress) + Send + Sync),
) -> Result<Vec<String>, ArmError> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut pending: Vec<String> = namespaces.to_vec();
    loop {
        let round = futures::future::try_join_all(pending.iter().map(|ns| {
            let request = catalog::provider(subscription_id, ns);
            async move {
                client
                    .fetch(&request)
                    .await
                    .map(|p| (ns.clone(), p.registration_state))
            }
        }));
        let polls = match tokio::time::timeout_at(deadline, round).await {
            Ok(Ok(polls)) => polls,
            Ok(Err(ArmError::Deadline { .. })) | Err(_) => return Ok(pending),
            Ok(Err(error)) => return Err(error),
        };
        pending.clear();
        for (namespace, state) in polls {
            on_progress(&RegistrationProgress {
                subscription_id: subscription_id.to_owned(),
                namespace: namespace.clone(),
                state: state.clone(),
            });
            if !state.is_registered() {
                pending.push(namespace);
            }
        }
        if pending.is_empty() || tokio::time::Instant::now() + options.poll_interval > deadline {
            return Ok(pending);
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{Fixture, forbidden, role, server_error};

    fn plan(fixture: Fixture) -> ProviderFixPlan {
        let (snapshot, _) = fixture.build();
        let mut plans = plan_provider_registration(&snapshot);
        assert_eq!(plans.len(), 1);
        plans.remove(0)
    }

    #[test]
    fn healthy_subscription_needs_nothing() {
        let plan = plan(Fixture::healthy());
        assert!(plan.is_noop(), "{plan:?}");
        assert!(plan.az_commands().is_empty());
    }

    #[test]
    fn unregistered_missing_and_registering_providers() {
        let plan = plan(
            Fixture::healthy()
                .provider_state("Microsoft.Sql", "NotRegistered")
                .provider_state("Microsoft.Security", "Unregistered")
                .without_provider("Microsoft.Storage")
                .provider_state("Microsoft.HybridCompute", "Registering"),
        );
        // Registering is sent again, as `az provider register` does.
        assert_eq!(
            plan.register,
            [
                "Microsoft.HybridCompute",
                "Microsoft.Security",
                "Microsoft.Sql",
                "Microsoft.Storage"
            ]
        );
        assert_eq!(plan.registering, ["Microsoft.HybridCompute"]);
        assert_eq!(plan.to_wait_for(), plan.register);
        assert!(plan.not_permitted.is_empty());
        assert_eq!(
            plan.az_commands()[2],
            format!(
                "az provider register --namespace Microsoft.Sql --subscription {}",
                plan.subscription_id
            )
        );
    }

    #[test]
    fn providers_the_caller_may_not_register_are_refused() {
        let plan = plan(
            Fixture::healthy()
                .provider_state("Microsoft.Sql", "NotRegistered")
                .permissions(role("AzureConnectedMachineResourceAdministrator.json")),
        );
        assert!(plan.register.is_empty());
        assert_eq!(plan.not_permitted, ["Microsoft.Sql"]);
    }

    #[test]
    fn registering_providers_the_caller_may_not_register_are_only_waited_for() {
        let plan = plan(
            Fixture::healthy()
                .provider_state("Microsoft.Sql", "Registering")
                .permissions(role("AzureConnectedMachineResourceAdministrator.json")),
        );
        assert!(plan.register.is_empty() && plan.not_permitted.is_empty());
        assert_eq!(plan.registering, ["Microsoft.Sql"]);
        assert_eq!(plan.to_wait_for(), ["Microsoft.Sql"]);
    }

    #[test]
    fn unusable_subscriptions_get_no_plan() {
        let plan = plan(
            Fixture::healthy()
                .subscription_state("Disabled")
                .provider_state("Microsoft.Sql", "NotRegistered"),
        );
        assert!(plan.unusable.is_some(), "{plan:?}");
        assert!(plan.register.is_empty() && plan.to_wait_for().is_empty());
        assert!(!plan.is_noop());
    }

    #[test]
    fn unreadable_permissions_do_not_refuse() {
        // ARM itself refuses a registration the caller may not make; only a definite "no"
        // from the permissions refuses it here.
        let plan = plan(
            Fixture::healthy()
                .provider_state("Microsoft.Sql", "NotRegistered")
                .permissions_unavailable(forbidden("Microsoft.Authorization/permissions/read")),
        );
        assert_eq!(plan.register, ["Microsoft.Sql"]);
    }

    #[test]
    fn unreadable_providers_make_no_plan() {
        let plan = plan(Fixture::healthy().providers_unavailable(server_error()));
        assert!(plan.register.is_empty() && plan.registering.is_empty());
        assert!(plan.unavailable.is_some());
        assert!(!plan.is_noop());
    }
}
