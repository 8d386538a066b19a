//! ESU001 subscription-not-usable.

use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, is_access_denied, is_not_found};
use crate::finding::{Finding, Severity, Status};
use crate::models::{Subscription, SubscriptionState};
use crate::snapshot::{SubscriptionSnapshot, Unavailable};
use serde_json::json;

/// ESU001: the subscription is not found, not visible, or not `Enabled`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubscriptionNotUsable;

static INFO: CheckInfo = CheckInfo {
    id: "ESU001",
    name: "subscription-not-usable",
    default_severity: Severity::Error,
    summary: "The subscription is not found, not visible to the signed-in identity, or not Enabled.",
    help_uri: "https://learn.microsoft.com/azure/cost-management-billing/manage/subscription-states",
    docs: CheckDocs {
        what_it_checks: "Reads the subscription (GET /subscriptions/{id}) and its `state`. Enabled \
passes; Warned fails as a warning; PastDue, Disabled, Deleted and any state not known yet fail. A \
subscription ARM reports as not found (404 SubscriptionNotFound) or refuses to show (401/403) \
fails too. When the subscription cannot be read for another reason the result is inconclusive.",
        why_it_matters: "ESU licenses are ARM resources in a subscription: it must exist, be \
visible to whoever provisions them, and accept writes. A wrong subscription ID or tenant is the \
most common cause of every later step failing; a Disabled or PastDue subscription rejects the \
license and license-profile writes. When the subscription is not found, not visible, Disabled or \
Deleted, the provider checks (ESU101, ESU102) are skipped for it instead of adding noise.",
        how_to_fix: "List what the signed-in identity can see with `az account list --all --output \
table`. If the subscription is missing, sign in to the tenant that owns it (`az login --tenant \
TENANT_ID`) and select it (`az account set --subscription ID`), or ask its owner for at least \
Reader on it. If it is not Enabled, open the portal at Subscriptions > (the subscription) > \
Overview to see why (billing, spending limit, cancellation) and resolve it, or use another, \
Enabled subscription.",
        example_finding: "fail  ESU001  subscription  subscription \
00000000-0000-0000-0000-000000000000 was not found (SubscriptionNotFound, HTTP 404)",
    },
};

impl Check for SubscriptionNotUsable {
    fn info(&self) -> &'static CheckInfo {
        &INFO
    }

    /// ESU001 is the check that says a subscription is unusable.
    fn runs_on_unusable_subscriptions(&self) -> bool {
        true
    }

    /// Every program needs a usable subscription.
    fn family(&self) -> super::Family {
        super::Family::Any
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let usability = Usability::of(ctx.subscription);
        out.push(ctx.finding(&INFO, usability.diagnostic(ctx)));
    }
}

/// What ESU001 concluded, before it is put into words.
enum Usability<'a> {
    /// Read, and `Enabled`.
    Enabled(&'a Subscription),
    /// Read, and `Warned`: usable, with a pending problem.
    Warned(&'a Subscription),
    /// Read, and in another state (`PastDue`, `Disabled`, `Deleted`, unknown).
    NotEnabled(&'a Subscription),
    /// ARM says it does not exist (404).
    NotFound(&'a Unavailable),
    /// ARM refuses to show it to the caller (401/403).
    NotVisible(&'a Unavailable),
    /// Could not be read for another reason.
    Unreadable(&'a Unavailable),
}

impl<'a> Usability<'a> {
    fn of(subscription: &'a SubscriptionSnapshot) -> Self {
        match subscription.subscription.as_result() {
            Ok(sub) => match sub.state {
                SubscriptionState::Enabled => Self::Enabled(sub),
                SubscriptionState::Warned => Self::Warned(sub),
                _ => Self::NotEnabled(sub),
            },
            Err(reason) if is_not_found(reason) => Self::NotFound(reason),
            Err(reason) if is_access_denied(reason) => Self::NotVisible(reason),
            Err(reason) => Self::Unreadable(reason),
        }
    }

    fn diagnostic(&self, ctx: &CheckCtx<'_>) -> Diagnostic {
        let id = ctx.subscription_id();
        let resource = ctx.subscription_resource_id();
        match self {
            Self::Enabled(sub) => Diagnostic::new(
                Status::Pass,
                resource,
                format!("subscription {} is Enabled", label(sub, id)),
            )
            .evidence(subscription_evidence(sub)),
            Self::Warned(sub) => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "subscription {} is Warned: it works for now, but a pending problem \
                     (often billing) can disable it",
                    label(sub, id)
                ),
            )
            .severity(Severity::Warning)
            .remediation(not_enabled_remediation(sub, id))
            .evidence(subscription_evidence(sub)),
            Self::NotEnabled(sub) => {
                let why = match &sub.state {
                    SubscriptionState::PastDue => {
                        "is PastDue: payment is overdue and writes such as creating ESU \
                         licenses can be refused"
                            .to_owned()
                    }
                    SubscriptionState::Disabled => {
                        "is Disabled: it accepts no new resources such as ESU licenses".to_owned()
                    }
                    SubscriptionState::Deleted => "is Deleted".to_owned(),
                    other => format!("is in state {:?}, not Enabled", other.as_str()),
                };
                Diagnostic::new(
                    Status::Fail,
                    resource,
                    format!("subscription {} {why}", label(sub, id)),
                )
                .remediation(not_enabled_remediation(sub, id))
                .evidence(subscription_evidence(sub))
            }
            Self::NotFound(reason) => Diagnostic::new(
                Status::Fail,
                resource,
                format!("subscription {id} was not found{}", tags(reason)),
            )
            .remediation(not_found_remediation(id))
            .with_evidence("unavailable", super::unavailable_evidence(reason)),
            Self::NotVisible(reason) => Diagnostic::new(
                Status::Fail,
                resource,
                format!(
                    "subscription {id} is not visible to the signed-in identity{}",
                    tags(reason)
                ),
            )
            .remediation(not_found_remediation(id))
            .with_evidence("unavailable", super::unavailable_evidence(reason)),
            Self::Unreadable(reason) => {
                Diagnostic::inconclusive(resource, "the subscription", reason)
            }
        }
    }

    /// Whether the other checks of this subscription should be skipped.
    fn blocks_other_checks(&self) -> bool {
        match self {
            Self::NotFound(_) | Self::NotVisible(_) => true,
            Self::NotEnabled(sub) => matches!(
                sub.state,
                SubscriptionState::Disabled | SubscriptionState::Deleted
            ),
            Self::Enabled(_) | Self::Warned(_) | Self::Unreadable(_) => false,
        }
    }

    /// A few words on why it is unusable, for the skipped findings of other checks.
    fn short_reason(&self) -> String {
        match self {
            Self::NotFound(_) => "not found".to_owned(),
            Self::NotVisible(_) => "not visible to the signed-in identity".to_owned(),
            Self::Enabled(sub) | Self::Warned(sub) | Self::NotEnabled(sub) => {
                format!("in state {}", sub.state)
            }
            Self::Unreadable(_) => "unreadable".to_owned(),
        }
    }
}

/// When ESU001 fails because the subscription is not found, not visible, Disabled or Deleted,
/// the diagnostic other subscription-level checks report instead of running: one `skipped`
/// finding on `/subscriptions/{id}`.
pub(super) fn skipped_because_unusable(ctx: &CheckCtx<'_>) -> Option<Diagnostic> {
    let usability = Usability::of(ctx.subscription);
    if !usability.blocks_other_checks() {
        return None;
    }
    Some(
        Diagnostic::new(
            Status::Skipped,
            ctx.subscription_resource_id(),
            format!(
                "subscription {} is not usable (ESU001): {}",
                ctx.subscription_id(),
                usability.short_reason()
            ),
        )
        .evidence(json!({ "blockedBy": INFO.id, "reason": usability.short_reason() })),
    )
}

/// Why ESU001 makes `subscription` unusable for everything else (not found, not visible,
/// Disabled or Deleted), in a few words; `None` when it is usable, or its state is unknown.
///
/// Fixes use it to skip a subscription the report would skip (the same rule as the `skipped`
/// findings of the other checks).
pub fn unusable_reason(subscription: &SubscriptionSnapshot) -> Option<String> {
    let usability = Usability::of(subscription);
    usability
        .blocks_other_checks()
        .then(|| usability.short_reason())
}

/// `'Display name' (id)`, or just the id.
fn label(sub: &Subscription, id: &str) -> String {
    match sub.display_name.as_deref() {
        Some(name) if !name.is_empty() => format!("'{name}' ({id})"),
        _ => id.to_owned(),
    }
}

/// ` (AuthorizationFailed, HTTP 403; missing A on S)`, or nothing.
fn tags(reason: &Unavailable) -> String {
    let tags = super::reason_tags(reason);
    if tags.is_empty() {
        tags
    } else {
        format!(" ({tags})")
    }
}

fn subscription_evidence(sub: &Subscription) -> serde_json::Value {
    json!({
        "subscriptionId": sub.subscription_id,
        "displayName": sub.display_name,
        "tenantId": sub.tenant_id,
        "state": sub.state.as_str(),
    })
}

fn not_found_remediation(id: &str) -> String {
    format!(
        "check the subscription ID and the tenant. List the subscriptions the signed-in identity \
         can see with `az account list --all --output table`; if {id} is not among them, sign in \
         to the tenant that owns it with `az login --tenant TENANT_ID` and select it with `az \
         account set --subscription {id}`, or ask its owner for at least Reader on it. Portal: \
         Subscriptions (switch directory if it is not listed)"
    )
}

fn not_enabled_remediation(sub: &Subscription, id: &str) -> String {
    let state = &sub.state;
    let first = if *state == SubscriptionState::Deleted {
        "a deleted subscription cannot be used".to_owned()
    } else {
        format!(
            "in the portal open Subscriptions > {} > Overview to see why it is {state} (billing, \
             spending limit, cancellation) and resolve it",
            label(sub, id)
        )
    };
    format!(
        "{first}; or use an Enabled subscription: `az account list --all --query \
         \"[?state=='Enabled']\" --output table`, then `az account set --subscription ID`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, Fixture};
    use crate::snapshot::UnavailableKind;

    fn run(fixture: Fixture) -> Vec<Finding> {
        testkit::run_check(&SubscriptionNotUsable, &fixture.build())
    }

    #[test]
    fn esu001_enabled_passes() {
        let findings = run(Fixture::healthy());
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.status, Status::Pass);
        assert_eq!(*f.resource_id, format!("/subscriptions/{}", testkit::SUB));
        assert_eq!(f.evidence.value()["state"], "Enabled");
        assert!(f.message.contains("Example Subscription"), "{}", f.message);
    }

    #[test]
    fn esu001_warned_is_a_warning() {
        let f = &run(Fixture::healthy().subscription_state("Warned"))[0];
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
        assert!(f.remediation.contains("az account set"));
    }

    #[test]
    fn esu001_not_enabled_states_fail() {
        for state in ["PastDue", "Disabled", "Deleted", "Suspended"] {
            let f = &run(Fixture::healthy().subscription_state(state))[0];
            assert_eq!(
                (f.status, f.severity),
                (Status::Fail, Severity::Error),
                "{state}"
            );
            assert!(f.message.contains(state), "{}", f.message);
            assert_eq!(f.evidence.value()["state"], state);
        }
    }

    #[test]
    fn esu001_not_found_fails() {
        let f = &run(Fixture::healthy().subscription_unavailable(testkit::not_found()))[0];
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(f.message.contains("was not found"), "{}", f.message);
        assert!(f.message.contains("SubscriptionNotFound"), "{}", f.message);
        assert!(f.remediation.contains("az account list --all"));
        assert!(f.remediation.contains("az account set --subscription"));
        assert_eq!(f.evidence.value()["unavailable"]["http_status"], 404);
    }

    #[test]
    fn esu001_forbidden_fails_naming_action_and_scope() {
        let f = &run(
            Fixture::healthy().subscription_unavailable(testkit::forbidden(
                "Microsoft.Resources/subscriptions/read",
            )),
        )[0];
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("not visible to the signed-in identity"));
        assert!(f.message.contains("Microsoft.Resources/subscriptions/read"));
        assert!(
            f.message
                .contains(&format!("/subscriptions/{}", testkit::SUB))
        );
    }

    #[test]
    fn esu001_unauthorized_without_details_fails() {
        let reason = Unavailable {
            kind: UnavailableKind::Other,
            http_status: Some(401),
            code: None,
            message: String::new(),
            action: None,
            scope: None,
            retry_after_secs: None,
        };
        let f = &run(Fixture::healthy().subscription_unavailable(reason))[0];
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.ends_with("(HTTP 401)"), "{}", f.message);
    }

    #[test]
    fn esu001_other_errors_are_inconclusive() {
        let f = &run(Fixture::healthy().subscription_unavailable(testkit::server_error()))[0];
        assert_eq!(f.status, Status::Inconclusive);
        assert!(f.message.contains("HTTP 503"), "{}", f.message);
        assert!(f.message.contains("ServiceUnavailable"), "{}", f.message);
    }

    #[test]
    fn esu001_override_changes_severity() {
        let mut fixture = Fixture::healthy().subscription_state("Warned");
        fixture
            .config
            .severity
            .insert("esu001".into(), Severity::Error);
        let f = &run(fixture)[0];
        assert_eq!(f.severity, Severity::Error);
    }
}
