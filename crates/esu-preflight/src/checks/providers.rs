//! ESU101 provider-not-registered and ESU102 provider-registration-not-permitted.

use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, Need, REQUIRED_PROVIDERS, Subject};
use crate::finding::{Finding, Severity, Status};
use crate::models::{Provider, RegistrationState};
use crate::permissions::is_allowed;
use serde_json::json;

/// ESU101: a required resource provider is not `Registered` on the subscription.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderNotRegistered;

/// ESU102: a required provider needs registering and the caller may not register it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderRegistrationNotPermitted;

const TROUBLESHOOT_URI: &str = "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates#resource-providers";
const REGISTRATION_URI: &str = "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-providers-and-types";

static NOT_REGISTERED: CheckInfo = CheckInfo {
    id: "ESU101",
    name: "provider-not-registered",
    default_severity: Severity::Error,
    summary: "A resource provider ESU needs is not Registered on the subscription.",
    help_uri: TROUBLESHOOT_URI,
    docs: CheckDocs {
        what_it_checks: "Reads the subscription's resource providers (GET \
/subscriptions/{id}/providers) and reports one finding per provider ESU needs: \
Microsoft.HybridCompute, Microsoft.GuestConfiguration, Microsoft.Compute, Microsoft.Security, \
Microsoft.OperationalInsights, Microsoft.Sql and Microsoft.Storage. Registered passes; \
Registering fails as a warning (registration is under way); NotRegistered, Unregistered, \
Unregistering, any other state, or a namespace missing from the list fails.",
        why_it_matters: "Microsoft's ESU troubleshooting guide lists these providers as \
prerequisites: without Microsoft.HybridCompute there are no Arc machines or ESU licenses, \
Microsoft.GuestConfiguration and Microsoft.Compute carry the policies and Update Management that \
deliver and report ESU patches, and the others back security, monitoring, SQL Server ESU and \
storage. Creating a resource of an unregistered provider fails with \
MissingSubscriptionRegistration.",
        how_to_fix: "Register each missing provider: `az provider register --namespace \
NAMESPACE --subscription ID`, or all of them at once with `esu-preflight fix providers \
--subscription ID --yes`. Registration takes a few minutes; follow it with `az provider show \
--namespace NAMESPACE --subscription ID --query registrationState`. Registering needs \
NAMESPACE/register/action on the subscription (Contributor or Owner; see ESU102). Portal: \
Subscriptions > (the subscription) > Settings > Resource providers.",
        example_finding: "fail  ESU101  Microsoft.HybridCompute  provider \
Microsoft.HybridCompute is not registered (registrationState NotRegistered)",
    },
};

static NOT_PERMITTED: CheckInfo = CheckInfo {
    id: "ESU102",
    name: "provider-registration-not-permitted",
    default_severity: Severity::Error,
    summary: "A required provider needs registering and the signed-in identity may not register it.",
    help_uri: REGISTRATION_URI,
    docs: CheckDocs {
        what_it_checks: "For each provider ESU needs that is neither Registered nor Registering \
(see ESU101), evaluates the signed-in identity's effective permissions on the subscription (GET \
/subscriptions/{id}/providers/Microsoft.Authorization/permissions) for \
NAMESPACE/register/action: some permission entry must grant it without the same entry excluding \
it in notActions. When nothing needs registering it reports a single pass.",
        why_it_matters: "Registering a provider is a subscription-scope action. Owner and \
Contributor have it through `*`; narrower roles such as Azure Connected Machine Resource \
Administrator can create ESU licenses but cannot register providers, so `az provider register` \
and the portal's ESU flow fail with AuthorizationFailed.",
        how_to_fix: "Ask for Contributor or Owner on the subscription (or a custom role with \
NAMESPACE/register/action), or have someone who has it run `az provider register --namespace \
NAMESPACE --subscription ID` for each missing provider.",
        example_finding: "fail  ESU102  Microsoft.Sql  the signed-in identity may not register \
provider Microsoft.Sql: it lacks Microsoft.Sql/register/action on /subscriptions/00000000-…",
    },
};

impl Check for ProviderNotRegistered {
    fn info(&self) -> &'static CheckInfo {
        &NOT_REGISTERED
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Providers]
    }

    /// One finding per required provider, also when the list could not be read.
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        REQUIRED_PROVIDERS
            .into_iter()
            .map(|namespace| {
                Subject::new(provider_resource_id(ctx, namespace)).with("namespace", namespace)
            })
            .collect()
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let Some(providers) = ctx.subscription.providers.value() else {
            return; // `needs` makes evaluate report this inconclusive instead.
        };
        for namespace in REQUIRED_PROVIDERS {
            let registration = Registration::of(providers, namespace);
            let diagnostic = registration.diagnostic(ctx, namespace);
            out.push(ctx.finding(&NOT_REGISTERED, diagnostic));
        }
    }
}

impl Check for ProviderRegistrationNotPermitted {
    fn info(&self) -> &'static CheckInfo {
        &NOT_PERMITTED
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Providers]
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let Some(providers) = ctx.subscription.providers.value() else {
            return; // `needs` makes evaluate report this inconclusive instead.
        };
        let registrations: Vec<(&'static str, Registration<'_>)> = REQUIRED_PROVIDERS
            .into_iter()
            .map(|namespace| (namespace, Registration::of(providers, namespace)))
            .collect();
        let mut reported = false;
        for (namespace, registration) in &registrations {
            if let Registration::Unknown(_) = registration {
                let diagnostic = Diagnostic::new(
                    Status::Inconclusive,
                    provider_resource_id(ctx, namespace),
                    format!(
                        "cannot tell whether provider {namespace} needs registering: the \
                         provider list gives no registrationState for it"
                    ),
                )
                .remediation(unknown_state_remediation(namespace, ctx.subscription_id()))
                .evidence(registration.evidence(namespace));
                out.push(ctx.finding(&NOT_PERMITTED, diagnostic));
                reported = true;
                continue;
            }
            if !registration.needs_registering() {
                continue;
            }
            let permission = match ctx.subscription.permissions.as_result() {
                Ok(permissions) => RegisterPermission::Evaluated(is_allowed(
                    permissions,
                    &register_action(namespace),
                )),
                Err(reason) => RegisterPermission::Unknown(reason),
            };
            let diagnostic = permission.diagnostic(ctx, namespace, registration);
            out.push(ctx.finding(&NOT_PERMITTED, diagnostic));
            reported = true;
        }
        if !reported {
            let registering: Vec<&str> = registrations
                .iter()
                .filter(|(_, r)| matches!(r, Registration::Registering(_)))
                .map(|(namespace, _)| *namespace)
                .collect();
            let message = if registering.is_empty() {
                "all required providers are registered; no registration needed".to_owned()
            } else {
                format!(
                    "no required provider needs registering: {} already registering, the \
                     others registered",
                    registering.join(", ")
                )
            };
            let diagnostic = Diagnostic::new(Status::Pass, ctx.subscription_resource_id(), message)
                .evidence(json!({
                    "requiredProviders": REQUIRED_PROVIDERS,
                    "registering": registering,
                }));
            out.push(ctx.finding(&NOT_PERMITTED, diagnostic));
        }
    }
}

/// A required provider's registration, as found in the provider list.
pub(crate) enum Registration<'a> {
    /// `Registered`.
    Registered(&'a Provider),
    /// `Registering`: under way.
    Registering(&'a Provider),
    /// Listed in any other state (`NotRegistered`, `Unregistered`, `Unregistering`, a state not
    /// known yet).
    NotRegistered(&'a Provider),
    /// Listed, but the payload does not say its state (absent, `null`, not a string).
    Unknown(&'a Provider),
    /// Not in the list at all.
    Missing,
}

impl<'a> Registration<'a> {
    pub(crate) fn of(providers: &'a [Provider], namespace: &str) -> Self {
        let Some(provider) = providers
            .iter()
            .find(|p| p.namespace.eq_ignore_ascii_case(namespace))
        else {
            return Self::Missing;
        };
        match provider.registration_state {
            RegistrationState::Registered => Self::Registered(provider),
            RegistrationState::Registering => Self::Registering(provider),
            ref state if state.is_unknown() => Self::Unknown(provider),
            _ => Self::NotRegistered(provider),
        }
    }

    pub(crate) fn needs_registering(&self) -> bool {
        matches!(self, Self::NotRegistered(_) | Self::Missing)
    }

    /// The state as ARM reported it; `None` when the provider is not listed.
    fn state(&self) -> Option<&'a str> {
        match self {
            Self::Registered(p)
            | Self::Registering(p)
            | Self::NotRegistered(p)
            | Self::Unknown(p) => Some(p.registration_state.as_str()),
            Self::Missing => None,
        }
    }

    fn evidence(&self, namespace: &str) -> serde_json::Value {
        let mut evidence = json!({
            "namespace": namespace,
            "registrationState": self.state(),
        });
        if let Self::Missing = self {
            evidence["listed"] = json!(false);
        }
        evidence
    }

    /// ESU101's conclusion about one provider.
    fn diagnostic(&self, ctx: &CheckCtx<'_>, namespace: &str) -> Diagnostic {
        let resource = provider_resource_id(ctx, namespace);
        let sub = ctx.subscription_id();
        let evidence = self.evidence(namespace);
        match self {
            Self::Registered(_) => Diagnostic::new(
                Status::Pass,
                resource,
                format!("provider {namespace} is registered"),
            )
            .evidence(evidence),
            Self::Registering(_) => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "provider {namespace} is Registering: registration in progress; can take up \
                     to ~10 minutes"
                ),
            )
            .severity(Severity::Warning)
            .remediation(format!(
                "wait for registration to finish and check it with `az provider show --namespace \
                 {namespace} --subscription {sub} --query registrationState`"
            ))
            .evidence(evidence),
            Self::NotRegistered(provider) => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "provider {namespace} is not registered (registrationState {})",
                    provider.registration_state
                ),
            )
            .remediation(register_remediation(ctx, namespace, sub))
            .evidence(evidence),
            Self::Unknown(_) => Diagnostic::new(
                Status::Inconclusive,
                resource,
                format!(
                    "provider {namespace} is listed without a readable registrationState \
                     (absent, null or not a string)"
                ),
            )
            .remediation(unknown_state_remediation(namespace, sub))
            .evidence(evidence),
            Self::Missing => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "provider {namespace} is not registered (not in the subscription's provider \
                     list)"
                ),
            )
            .remediation(register_remediation(ctx, namespace, sub))
            .evidence(evidence),
        }
    }
}

/// ESU102's reading of the caller's permission to register one provider.
enum RegisterPermission<'a> {
    /// The permissions were read: whether they allow `{namespace}/register/action`.
    Evaluated(bool),
    /// The permissions could not be read.
    Unknown(&'a crate::snapshot::Unavailable),
}

impl RegisterPermission<'_> {
    fn diagnostic(
        &self,
        ctx: &CheckCtx<'_>,
        namespace: &str,
        registration: &Registration<'_>,
    ) -> Diagnostic {
        let resource = provider_resource_id(ctx, namespace);
        let sub = ctx.subscription_id();
        let scope = ctx.subscription_resource_id();
        let action = register_action(namespace);
        match self {
            Self::Evaluated(true) => Diagnostic::new(
                Status::Pass,
                resource,
                format!(
                    "the signed-in identity may register provider {namespace} ({action} on \
                     {scope})"
                ),
            )
            .evidence(json!({
                "namespace": namespace,
                "registrationState": registration.state(),
                "action": action,
                "scope": scope,
                "allowed": true,
            })),
            Self::Evaluated(false) => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "the signed-in identity may not register provider {namespace}: it lacks \
                     {action} on {scope}"
                ),
            )
            .remediation(registration_not_permitted_remediation(namespace, sub))
            .evidence(json!({
                "namespace": namespace,
                "registrationState": registration.state(),
                "action": action,
                "scope": scope,
                "allowed": false,
            })),
            Self::Unknown(reason) => Diagnostic::inconclusive(
                resource,
                &format!("the signed-in identity's permissions (to evaluate {action})"),
                reason,
            )
            .with_evidence("namespace", namespace)
            .with_evidence("action", action.as_str()),
        }
    }
}

/// `/subscriptions/{id}/providers/{namespace}`, with the namespace as in [`REQUIRED_PROVIDERS`].
fn provider_resource_id(ctx: &CheckCtx<'_>, namespace: &str) -> String {
    format!("{}/providers/{namespace}", ctx.subscription_resource_id())
}

/// What to do when the signed-in identity may not register `namespace` on subscription `sub`
/// (ESU102's remediation; `fix providers` prints the same when it refuses).
pub fn registration_not_permitted_remediation(namespace: &str, sub: &str) -> String {
    format!(
        "ask for Contributor or Owner on subscription {sub} (Azure Connected Machine Resource \
         Administrator is not enough: it lacks register/action), or have someone who has it run \
         `az provider register --namespace {namespace} --subscription {sub}`"
    )
}

pub(crate) fn register_action(namespace: &str) -> String {
    format!("{namespace}/register/action")
}

fn unknown_state_remediation(namespace: &str, sub: &str) -> String {
    format!(
        "read the state directly: `az provider show --namespace {namespace} --subscription {sub} \
         --query registrationState`; if it is not Registered, register it with `az provider \
         register --namespace {namespace} --subscription {sub}`"
    )
}

fn register_remediation(ctx: &CheckCtx<'_>, namespace: &str, sub: &str) -> String {
    let commands = format!(
        "`az provider register --namespace {namespace} --subscription {sub}`, or every missing \
         provider with `esu-preflight fix providers --subscription {sub} --yes`"
    );
    // When the signed-in identity may not register it (ESU102 says so), say who must.
    let may = ctx
        .subscription
        .permissions
        .value()
        .map(|p| is_allowed(p, &register_action(namespace)));
    if may == Some(false) {
        format!(
            "have someone with {namespace}/register/action on the subscription (Contributor or \
             Owner; the signed-in identity lacks it, see ESU102) register it: {commands}"
        )
    } else {
        format!("register it: {commands}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, Fixture, SUB};

    fn esu101(fixture: Fixture) -> Vec<Finding> {
        testkit::run_check(&ProviderNotRegistered, &fixture.build())
    }

    fn esu102(fixture: Fixture) -> Vec<Finding> {
        testkit::run_check(&ProviderRegistrationNotPermitted, &fixture.build())
    }

    fn for_namespace<'a>(findings: &'a [Finding], namespace: &str) -> &'a Finding {
        let id = format!("/subscriptions/{SUB}/providers/{namespace}");
        findings
            .iter()
            .find(|f| *f.resource_id == id)
            .unwrap_or_else(|| panic!("no finding for {id}: {findings:#?}"))
    }

    #[test]
    fn esu101_healthy_passes_for_all_seven() {
        let findings = esu101(Fixture::healthy());
        assert_eq!(findings.len(), 7);
        assert!(findings.iter().all(|f| f.status == Status::Pass));
        for namespace in REQUIRED_PROVIDERS {
            let f = for_namespace(&findings, namespace);
            assert_eq!(f.evidence.value()["registrationState"], "Registered");
            assert_eq!(f.remediation, "");
        }
    }

    #[test]
    fn esu101_not_registered_fails() {
        let findings = esu101(Fixture::healthy().provider_state("Microsoft.Sql", "NotRegistered"));
        let f = for_namespace(&findings, "Microsoft.Sql");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            f.message,
            "provider Microsoft.Sql is not registered (registrationState NotRegistered)"
        );
        assert!(f.remediation.contains(&format!(
            "az provider register --namespace Microsoft.Sql --subscription {SUB}"
        )));
        assert!(f.remediation.contains(&format!(
            "esu-preflight fix providers --subscription {SUB} --yes"
        )));
        assert_eq!(
            findings.iter().filter(|f| f.status == Status::Pass).count(),
            6
        );
    }

    #[test]
    fn esu101_unregistered_unregistering_and_unknown_fail() {
        for state in ["Unregistered", "Unregistering", "Quiescing"] {
            let findings = esu101(Fixture::healthy().provider_state("Microsoft.Storage", state));
            let f = for_namespace(&findings, "Microsoft.Storage");
            assert_eq!(
                (f.status, f.severity),
                (Status::Fail, Severity::Error),
                "{state}"
            );
        }
    }

    #[test]
    fn esu101_registering_is_a_warning() {
        let findings =
            esu101(Fixture::healthy().provider_state("Microsoft.HybridCompute", "Registering"));
        let f = for_namespace(&findings, "Microsoft.HybridCompute");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
        assert!(f.message.contains("~10 minutes"));
        assert!(f.remediation.contains(&format!(
            "az provider show --namespace Microsoft.HybridCompute --subscription {SUB} --query registrationState"
        )));
    }

    #[test]
    fn esu101_registering_override_wins() {
        let mut fixture =
            Fixture::healthy().provider_state("Microsoft.HybridCompute", "Registering");
        fixture
            .config
            .severity
            .insert("ESU101".into(), Severity::Error);
        let findings = esu101(fixture);
        let f = for_namespace(&findings, "Microsoft.HybridCompute");
        assert_eq!(f.severity, Severity::Error);
    }

    #[test]
    fn esu101_missing_namespace_fails() {
        let findings = esu101(Fixture::healthy().without_provider("Microsoft.Security"));
        let f = for_namespace(&findings, "Microsoft.Security");
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence.value()["listed"], false);
        assert!(f.evidence.value()["registrationState"].is_null());
    }

    #[test]
    fn esu101_namespace_matched_case_insensitively() {
        let findings = esu101(Fixture::healthy().rename_provider("Microsoft.Sql", "microsoft.sql"));
        let f = for_namespace(&findings, "Microsoft.Sql");
        assert_eq!(f.status, Status::Pass);
    }

    #[test]
    fn esu101_ignores_other_providers_of_the_real_payload() {
        // The real payload's Microsoft.TestRP2 is NotRegistered; it is not required.
        let findings = esu101(Fixture::healthy());
        assert!(!findings.iter().any(|f| f.resource_id.contains("TestRP")));
    }

    #[test]
    fn esu101_providers_unavailable_is_inconclusive() {
        let findings = esu101(Fixture::healthy().providers_unavailable(testkit::forbidden(
            "Microsoft.Resources/subscriptions/providers/read",
        )));
        assert_eq!(findings.len(), 7);
        for f in &findings {
            assert_eq!(f.status, Status::Inconclusive);
            assert!(f.message.contains("AuthorizationFailed"), "{}", f.message);
            assert!(f.message.contains("HTTP 403"), "{}", f.message);
            assert!(
                f.message
                    .contains("Microsoft.Resources/subscriptions/providers/read")
            );
            assert!(f.message.contains(&format!("/subscriptions/{SUB}")));
            assert_eq!(
                f.evidence.value()["unavailable"]["code"],
                "AuthorizationFailed"
            );
        }
    }

    #[test]
    fn esu101_skipped_when_subscription_not_found() {
        let findings = esu101(Fixture::healthy().subscription_unavailable(testkit::not_found()));
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.status, Status::Skipped);
        assert_eq!(*f.resource_id, format!("/subscriptions/{SUB}"));
        assert!(
            f.message
                .starts_with(&format!("subscription {SUB} is not usable (ESU001)"))
        );
    }

    #[test]
    fn esu101_runs_when_subscription_warned_or_past_due() {
        for state in ["Warned", "PastDue"] {
            let findings = esu101(Fixture::healthy().subscription_state(state));
            assert_eq!(findings.len(), 7, "{state}");
        }
    }

    #[test]
    fn esu101_missing_or_odd_state_is_inconclusive_for_that_provider_only() {
        let mut fixture = Fixture::healthy().provider_state("Microsoft.Storage", "");
        fixture = fixture.provider_raw_state("Microsoft.Sql", serde_json::Value::Null);
        let findings = esu101(fixture);
        for namespace in ["Microsoft.Storage", "Microsoft.Sql"] {
            let f = for_namespace(&findings, namespace);
            assert_eq!(f.status, Status::Inconclusive, "{namespace}");
            assert!(f.remediation.contains(&format!(
                "az provider show --namespace {namespace} --subscription {SUB}"
            )));
        }
        assert_eq!(
            findings.iter().filter(|f| f.status == Status::Pass).count(),
            5
        );
        let esu102 = esu102(Fixture::healthy().provider_raw_state("Microsoft.Sql", 7.into()));
        assert_eq!(esu102.len(), 1);
        assert_eq!(esu102[0].status, Status::Inconclusive);
        assert!(esu102[0].resource_id.ends_with("/Microsoft.Sql"));
    }

    #[test]
    fn esu102_nothing_to_register_passes_once() {
        let f = &esu102(Fixture::healthy())[0];
        assert_eq!(
            f.message,
            "all required providers are registered; no registration needed"
        );
        let findings = esu102(Fixture::healthy().provider_state("Microsoft.Sql", "Registering"));
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(*f.resource_id, format!("/subscriptions/{SUB}"));
        assert_eq!(
            f.message,
            "no required provider needs registering: Microsoft.Sql already registering, the \
             others registered"
        );
    }

    #[test]
    fn esu102_owner_and_contributor_may_register() {
        for role in ["Owner.json", "Contributor.json"] {
            let findings = esu102(
                Fixture::healthy()
                    .provider_state("Microsoft.Sql", "NotRegistered")
                    .without_provider("Microsoft.Storage")
                    .permissions(testkit::role(role)),
            );
            assert_eq!(findings.len(), 2, "{role}");
            assert!(findings.iter().all(|f| f.status == Status::Pass), "{role}");
            assert_eq!(
                for_namespace(&findings, "Microsoft.Sql").evidence.value()["action"],
                "Microsoft.Sql/register/action"
            );
        }
    }

    #[test]
    fn esu102_connected_machine_administrator_may_not_register() {
        let findings = esu102(
            Fixture::healthy()
                .provider_state("Microsoft.HybridCompute", "NotRegistered")
                .permissions(testkit::role(
                    "AzureConnectedMachineResourceAdministrator.json",
                )),
        );
        assert_eq!(findings.len(), 1);
        let f = for_namespace(&findings, "Microsoft.HybridCompute");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(
            f.message
                .contains("Microsoft.HybridCompute/register/action")
        );
        assert!(f.remediation.contains("Contributor or Owner"));
        assert!(
            f.remediation
                .contains("az provider register --namespace Microsoft.HybridCompute")
        );
        assert_eq!(f.evidence.value()["allowed"], false);
    }

    #[test]
    fn esu102_empty_permissions_fail() {
        let findings = esu102(
            Fixture::healthy()
                .provider_state("Microsoft.Sql", "Unregistered")
                .permissions(testkit::real_permissions()),
        );
        assert_eq!(
            for_namespace(&findings, "Microsoft.Sql").status,
            Status::Fail
        );
    }

    #[test]
    fn esu102_permissions_unavailable_is_inconclusive() {
        let findings = esu102(
            Fixture::healthy()
                .provider_state("Microsoft.Sql", "NotRegistered")
                .permissions_unavailable(testkit::forbidden(
                    "Microsoft.Authorization/permissions/read",
                )),
        );
        let f = for_namespace(&findings, "Microsoft.Sql");
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message
                .contains("Microsoft.Authorization/permissions/read")
        );
    }

    #[test]
    fn esu102_permissions_unavailable_but_nothing_to_register_passes() {
        let findings = esu102(Fixture::healthy().permissions_unavailable(testkit::server_error()));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Pass);
    }

    #[test]
    fn esu102_providers_unavailable_is_inconclusive() {
        let findings = esu102(Fixture::healthy().providers_unavailable(testkit::server_error()));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Inconclusive);
        assert!(findings[0].message.contains("HTTP 503"));
    }

    #[test]
    fn esu102_skipped_when_subscription_disabled() {
        let findings = esu102(
            Fixture::healthy()
                .subscription_state("Disabled")
                .provider_state("Microsoft.Sql", "NotRegistered"),
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Skipped);
        assert!(findings[0].message.contains("is not usable (ESU001)"));
    }
}
