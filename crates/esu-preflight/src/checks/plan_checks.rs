//! ESU002 resource-group-missing and ESU407 license-rejected-by-service: what the license plan
//! needs from Azure before anything is created.

use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, Subject};
use crate::finding::{Finding, Severity, Status};
use crate::plan::PlannedLicense;
use crate::programs;
use crate::snapshot::ValidationOutcome;
use serde_json::json;

/// ESU002: a planned license's resource group does not exist.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceGroupMissing;

/// ESU407: the service's own `validateLicense` dry run rejects a planned license.
#[derive(Debug, Clone, Copy, Default)]
pub struct LicenseRejectedByService;

static RG_MISSING: CheckInfo = CheckInfo {
    id: "ESU002",
    name: "resource-group-missing",
    default_severity: Severity::Error,
    summary: "A resource group the license plan creates a license in, or the run is narrowed to (--resource-group), does not exist.",
    help_uri: "https://learn.microsoft.com/azure/azure-resource-manager/management/manage-resource-groups-cli",
    docs: CheckDocs {
        what_it_checks: "For each license of the license plan (--license-plan), reads its resource \
group in its subscription (GET /subscriptions/{id}/resourceGroups/{name}). Found passes; ARM's 404 \
ResourceGroupNotFound fails; a group that could not be read is inconclusive. The groups of \
--resource-group are checked the same way: a run narrowed to a group that does not exist checks \
nothing, and says so. Without a plan or --resource-group the check has nothing to look at and \
reports nothing.",
        why_it_matters: "An ESU license is a resource in a resource group: creating it in a group \
that does not exist fails with ResourceGroupNotFound, in the portal and in `az connectedmachine \
license create` alike.",
        how_to_fix: "Create the group first: `az group create --name NAME --location LOCATION \
--subscription ID`, or change resource_group in the plan to an existing one (`az group list \
--subscription ID --output table`).",
        example_finding: "fail  ESU002  rg-esu  resource group rg-esu does not exist in \
subscription 00000000-0000-0000-0000-000000000000 (planned license esu-ws2016-dc)",
    },
};

static REJECTED: CheckInfo = CheckInfo {
    id: "ESU407",
    name: "license-rejected-by-service",
    default_severity: Severity::Error,
    summary: "The service's own validateLicense dry run rejects a planned license.",
    help_uri: "https://learn.microsoft.com/rest/api/hybridcompute/licenses/validate-license",
    docs: CheckDocs {
        what_it_checks: "Sends each planned license to the service's dry run (POST \
/subscriptions/{id}/providers/Microsoft.HybridCompute/validateLicense, read-only: nothing is \
created) when the signed-in identity may (Microsoft.HybridCompute/validateLicense/action). Accepted \
passes; an error answer fails with the service's code and message; without the permission the check \
is skipped and says so; a dry run that could not be made is inconclusive.",
        why_it_matters: "The service knows rules no local check can: targets and editions it \
accepts at its api-version, regional availability, limits on the subscription. Its answer now is the \
answer the real creation would get later.",
        how_to_fix: "Read the service's message in the finding, fix the license in the plan \
(target, edition, type, processors, location), and run the check again.",
        example_finding: "fail  ESU407  licenses/esu-ws2016-dc  the service rejects planned license \
esu-ws2016-dc: InvalidParameter: …",
    },
};

impl Check for ResourceGroupMissing {
    fn info(&self) -> &'static CheckInfo {
        &RG_MISSING
    }

    /// The groups of `--resource-group` and of the planned licenses (none: nothing to report).
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        let sub = ctx.subscription_id();
        scope_groups(ctx)
            .map(|rg| format!("/subscriptions/{sub}/resourceGroups/{rg}"))
            .chain(
                planned_here(ctx)
                    .map(|l| format!("/subscriptions/{sub}/resourceGroups/{}", l.resource_group)),
            )
            .map(Subject::new)
            .collect()
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        for rg in scope_groups(ctx) {
            out.push(ctx.finding(&RG_MISSING, scope_group_diagnostic(ctx, rg)));
        }
        for license in planned_here(ctx) {
            out.push(ctx.finding(&RG_MISSING, resource_group_diagnostic(ctx, license)));
        }
    }
}

/// The resource groups the run is narrowed to (`--resource-group`).
fn scope_groups<'a>(ctx: &'a CheckCtx<'_>) -> impl Iterator<Item = &'a str> + 'a {
    ctx.snapshot
        .scope
        .resource_groups
        .iter()
        .map(String::as_str)
}

/// ESU002 for a group of `--resource-group`: the run checks nothing there if it does not exist.
fn scope_group_diagnostic(ctx: &CheckCtx<'_>, rg: &str) -> Diagnostic {
    let sub = ctx.subscription_id();
    let resource = format!("/subscriptions/{sub}/resourceGroups/{rg}");
    let evidence = json!({ "resourceGroup": rg, "scope": "--resource-group" });
    match ctx
        .subscription
        .resource_group(rg)
        .map(|g| g.group.as_result())
    {
        Some(Ok(Some(_))) => Diagnostic::new(
            Status::Pass,
            resource,
            format!("resource group {rg} (--resource-group) exists"),
        )
        .evidence(evidence),
        Some(Ok(None)) => Diagnostic::new(
            Status::Fail,
            resource,
            format!(
                "resource group {rg} (--resource-group) does not exist in subscription {sub}: \
                 nothing in it could be checked"
            ),
        )
        .remediation(format!(
            "check the name: `az group list --subscription {sub} --output table`, then run the \
             check again with the right --resource-group"
        ))
        .evidence(evidence),
        Some(Err(reason)) => {
            Diagnostic::inconclusive(resource, &format!("resource group {rg}"), reason)
        }
        None => Diagnostic::new(
            Status::Inconclusive,
            resource,
            format!("the snapshot holds no facts for resource group {rg}"),
        )
        .remediation(format!(
            "take the snapshot again: `esu-preflight snapshot --subscription {sub} \
             --resource-group {rg} --output-file FILE`"
        ))
        .evidence(evidence),
    }
}

fn resource_group_diagnostic(ctx: &CheckCtx<'_>, license: &PlannedLicense) -> Diagnostic {
    let sub = ctx.subscription_id();
    let rg = &license.resource_group;
    let resource = format!("/subscriptions/{sub}/resourceGroups/{rg}");
    let evidence = json!({ "resourceGroup": rg, "plannedLicense": license.name });
    let Some(group) = ctx.subscription.resource_group(rg) else {
        return Diagnostic::new(
            Status::Inconclusive,
            resource,
            format!(
                "the snapshot holds no facts for resource group {rg} (planned license {}): it was \
                 taken without this license plan",
                license.name
            ),
        )
        .remediation(format!(
            "take the snapshot again with the plan: `esu-preflight snapshot --subscription {sub} \
             --license-plan PLAN --output-file FILE`, or check live"
        ))
        .evidence(evidence);
    };
    match group.group.as_result() {
        Ok(Some(_)) => Diagnostic::new(
            Status::Pass,
            resource,
            format!(
                "resource group {rg} exists (planned license {})",
                license.name
            ),
        )
        .evidence(evidence),
        Ok(None) => Diagnostic::new(
            Status::Fail,
            resource,
            format!(
                "resource group {rg} does not exist in subscription {sub} (planned license {})",
                license.name
            ),
        )
        .remediation(format!(
            "create it: `az group create --name {rg} --location {} --subscription {sub}`, or \
             plan the license in an existing group (`az group list --subscription {sub} \
             --output table`)",
            license.location
        ))
        .evidence(evidence),
        Err(reason) => Diagnostic::inconclusive(resource, &format!("resource group {rg}"), reason)
            .with_evidence("plannedLicense", license.name.as_str()),
    }
}

impl Check for LicenseRejectedByService {
    fn info(&self) -> &'static CheckInfo {
        &REJECTED
    }

    /// The planned licenses (none without a plan: nothing to report).
    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        let default = ctx
            .snapshot
            .scope
            .subscriptions
            .first()
            .map_or("", String::as_str);
        planned_here(ctx)
            .map(|l| Subject::new(l.resource_id(default)))
            .collect()
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let default = ctx
            .snapshot
            .scope
            .subscriptions
            .first()
            .map_or("", String::as_str);
        for license in planned_here(ctx) {
            let id = license.resource_id(default);
            let program = programs::by_target(&license.target);
            let validation = ctx
                .subscription
                .license_validations
                .iter()
                .find(|v| v.license_id.eq_ignore_ascii_case(&id));
            let name = &license.name;
            let mut diagnostic = match validation.map(|v| &v.outcome) {
                None => Diagnostic::new(
                    Status::Inconclusive,
                    id.clone(),
                    format!(
                        "the snapshot holds no dry run of planned license {name}: it was taken \
                         without this license plan"
                    ),
                )
                .remediation(format!(
                    "take the snapshot again with the plan: `esu-preflight snapshot \
                     --subscription {} --license-plan PLAN --output-file FILE`, or check live",
                    ctx.subscription_id()
                )),
                Some(ValidationOutcome::Accepted) => Diagnostic::new(
                    Status::Pass,
                    id.clone(),
                    format!("the service's dry run accepts planned license {name}"),
                ),
                Some(ValidationOutcome::Rejected {
                    http_status,
                    code,
                    message,
                }) => Diagnostic::new(
                    Status::Fail,
                    id.clone(),
                    format!(
                        "the service rejects planned license {name}: {}{} (HTTP {http_status})",
                        code.as_deref()
                            .map(|c| format!("{c}: "))
                            .unwrap_or_default(),
                        message.trim().trim_end_matches('.')
                    ),
                )
                .remediation(
                    "fix the license in the plan as the service's message says (target, edition, \
                     type, processors, location), then run the check again"
                        .to_owned(),
                )
                .evidence(json!({ "httpStatus": http_status, "code": code, "message": message })),
                Some(ValidationOutcome::NotPermitted { action }) => Diagnostic::new(
                    Status::Skipped,
                    id.clone(),
                    format!(
                        "the service's dry run of planned license {name} was not asked for: the \
                         signed-in identity lacks {action}"
                    ),
                )
                .evidence(json!({ "action": action })),
                Some(ValidationOutcome::Unavailable { reason }) => Diagnostic::inconclusive(
                    id.clone(),
                    &format!("the service's dry run of planned license {name}"),
                    reason,
                ),
            };
            if let Some(program) = program {
                diagnostic = diagnostic.program(program);
            }
            if diagnostic.evidence.is_null() {
                diagnostic = diagnostic.with_evidence("plannedLicense", name.as_str());
            }
            out.push(ctx.finding(&REJECTED, diagnostic));
        }
    }
}

/// The planned licenses of the subscription being checked (within the `--program` filter).
fn planned_here<'a>(ctx: &'a CheckCtx<'_>) -> impl Iterator<Item = &'a PlannedLicense> + 'a {
    let default = ctx
        .snapshot
        .scope
        .subscriptions
        .first()
        .map_or("", String::as_str);
    ctx.plan.licenses.iter().filter(move |license| {
        license
            .subscription_or(default)
            .eq_ignore_ascii_case(ctx.subscription_id())
            && ctx.program.is_none_or(|p| {
                programs::by_target(&license.target).is_some_and(|lp| lp.id == p.id)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, Fixture, SUB};
    use crate::snapshot::{Fact, LicenseValidation, ResourceGroupSnapshot};

    fn planned(name: &str, rg: &str) -> PlannedLicense {
        PlannedLicense {
            name: name.into(),
            subscription: None,
            resource_group: rg.into(),
            location: "eastus".into(),
            target: "Windows Server 2016".into(),
            edition: "Datacenter".into(),
            license_type: "pCore".into(),
            processors: 16,
            state: "Activated".into(),
            machines: Vec::new(),
        }
    }

    fn with_groups(fixture: &Fixture, groups: Vec<ResourceGroupSnapshot>) -> Vec<Finding> {
        let (mut snapshot, config) = fixture.build();
        snapshot.subscriptions[0].resource_groups = groups;
        run(&ResourceGroupMissing, fixture, snapshot, config)
    }

    fn run(
        check: &dyn Check,
        fixture: &Fixture,
        snapshot: crate::Snapshot,
        config: crate::checks::Config,
    ) -> Vec<Finding> {
        testkit::run_on(
            &[check],
            &snapshot,
            &config,
            &fixture.plan,
            fixture.now,
            None,
        )
    }

    fn group(name: &str, exists: bool) -> ResourceGroupSnapshot {
        ResourceGroupSnapshot {
            name: name.into(),
            group: Fact::Available {
                value: exists.then(|| crate::models::ResourceGroup {
                    id: format!("/subscriptions/{SUB}/resourceGroups/{name}"),
                    name: name.into(),
                    location: Some("eastus".into()),
                }),
            },
            permissions: Fact::Available { value: Vec::new() },
            authorization: Default::default(),
        }
    }

    fn fixture_with_plan(licenses: Vec<PlannedLicense>) -> Fixture {
        let mut fixture = Fixture::healthy();
        fixture.plan.licenses = licenses;
        fixture
    }

    #[test]
    fn esu002_existing_group_passes_missing_fails_unread_is_inconclusive() {
        let fixture = fixture_with_plan(vec![
            planned("a", "rg-there"),
            planned("b", "rg-gone"),
            planned("c", "rg-unread"),
            planned("d", "rg-not-in-snapshot"),
        ]);
        let mut unread = group("rg-unread", true);
        unread.group = Fact::Unavailable {
            reason: testkit::server_error(),
        };
        let findings = with_groups(
            &fixture,
            vec![group("rg-there", true), group("RG-GONE", false), unread],
        );
        let status: Vec<(Status, &str)> = findings
            .iter()
            .map(|f| (f.status, f.resource_id.rsplit('/').next().unwrap()))
            .collect();
        assert_eq!(
            status,
            [
                (Status::Fail, "rg-gone"),
                (Status::Inconclusive, "rg-not-in-snapshot"),
                (Status::Pass, "rg-there"),
                (Status::Inconclusive, "rg-unread"),
            ]
        );
        assert!(findings[0].remediation.contains(&format!(
            "az group create --name rg-gone --location eastus --subscription {SUB}"
        )));
    }

    #[test]
    fn esu002_checks_the_resource_groups_of_the_scope_too() {
        let fixture = Fixture::healthy();
        let (mut snapshot, config) = fixture.build();
        snapshot.scope.resource_groups = vec!["rg-there".into(), "rg-nothing".into()];
        snapshot.subscriptions[0].resource_groups =
            vec![group("rg-there", true), group("rg-nothing", false)];
        let findings = testkit::run_on(
            &[&ResourceGroupMissing],
            &snapshot,
            &config,
            &fixture.plan,
            fixture.now,
            None,
        );
        let status: Vec<(Status, &str)> = findings
            .iter()
            .map(|f| (f.status, f.resource_id.rsplit('/').next().unwrap()))
            .collect();
        assert_eq!(
            status,
            [(Status::Fail, "rg-nothing"), (Status::Pass, "rg-there")]
        );
        assert!(
            findings[0]
                .message
                .contains("nothing in it could be checked")
        );
    }

    #[test]
    fn esu002_without_a_plan_reports_nothing_and_is_skipped_on_an_unusable_subscription() {
        assert!(testkit::run(&ResourceGroupMissing, &Fixture::healthy()).is_empty());
        let fixture = fixture_with_plan(vec![planned("a", "rg")])
            .subscription_unavailable(testkit::not_found());
        let findings = testkit::run(&ResourceGroupMissing, &fixture);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Skipped);
    }

    fn with_validation(outcome: Option<ValidationOutcome>) -> Finding {
        let fixture = fixture_with_plan(vec![planned("esu-16", "rg-esu")]);
        let (mut snapshot, config) = fixture.build();
        if let Some(outcome) = outcome {
            snapshot.subscriptions[0].license_validations = vec![LicenseValidation {
                license_id: planned("esu-16", "rg-esu").resource_id(SUB).to_uppercase(),
                outcome,
            }];
        }
        run(&LicenseRejectedByService, &fixture, snapshot, config).remove(0)
    }

    #[test]
    fn esu407_follows_the_service() {
        let f = with_validation(Some(ValidationOutcome::Accepted));
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.program.as_deref(), Some("ws2016"));
        let f = with_validation(Some(ValidationOutcome::Rejected {
            http_status: 400,
            code: Some("InvalidParameter".into()),
            message: "Processors must be at least 16.".into(),
        }));
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(
            f.message
                .ends_with("InvalidParameter: Processors must be at least 16 (HTTP 400)"),
            "{}",
            f.message
        );
        let f = with_validation(Some(ValidationOutcome::NotPermitted {
            action: "Microsoft.HybridCompute/validateLicense/action".into(),
        }));
        assert_eq!(f.status, Status::Skipped);
        assert!(f.message.contains("validateLicense/action"));
        let f = with_validation(Some(ValidationOutcome::Unavailable {
            reason: testkit::server_error(),
        }));
        assert_eq!(f.status, Status::Inconclusive);
        let f = with_validation(None);
        assert_eq!(f.status, Status::Inconclusive);
        assert!(f.remediation.contains("--license-plan"));
        // A whole command, as ESU002 gives, not a flag on its own.
        assert!(
            f.remediation.contains(&format!(
                "`esu-preflight snapshot --subscription {SUB} --license-plan PLAN --output-file \
                 FILE`"
            )),
            "{}",
            f.remediation
        );
    }
}
