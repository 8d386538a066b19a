//! ESU601 esu-updates-not-installed: are ESU patches arriving on the machines linked to a license?

use super::estate::{Link, MachineRef};
use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, Need, Subject};
use crate::finding::{Finding, Severity, Status};
use crate::models::PolicyState;
use crate::programs::{OsClass, Program};
use serde_json::json;

/// ESU601: a machine linked to an ESU license is non-compliant with its program's built-in "ESU
/// updates should be installed" policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct EsuUpdatesNotInstalled;

static INFO: CheckInfo = CheckInfo {
    id: "ESU601",
    name: "esu-updates-not-installed",
    default_severity: Severity::Warning,
    summary: "A machine linked to an ESU license does not have its ESU updates installed, per the built-in policy.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates#esu-patch-issues",
    docs: CheckDocs {
        what_it_checks: "Reads the latest compliance states of the program's built-in policy (for \
Windows Server 2012 / 2012 R2: \"Extended Security Updates should be installed on Windows Server \
2012 Arc machines\", 14b4e776-9fab-44b0-b53f-38d2458ea8be) in each subscription, through Policy \
Insights. For each machine linked to a license: Compliant passes, NonCompliant fails (warning), no \
state yet is inconclusive. When the subscription has no state for the policy at all, one info \
finding says it is not assigned (or not evaluated yet) and how to assign it. Windows Server 2016 has \
no such built-in policy yet: its machines are skipped, pointing to Azure Update Manager.",
        why_it_matters: "A linked, activated license only makes ESU patches available: the \
machine must still install them. The policy reports the guest's own view (the PendingESUUpdates \
guest configuration), which catches machines that are licensed but not patched.",
        how_to_fix: "Assign the policy where it is missing: `az policy assignment create --name \
esu-updates-installed --policy 14b4e776-9fab-44b0-b53f-38d2458ea8be --scope /subscriptions/ID` \
(it needs Microsoft.GuestConfiguration registered). For a non-compliant machine, install the \
pending ESU updates (Azure Update Manager or Windows Update), check the ESU key is active on the \
machine, and see the ESU patch troubleshooting guide.",
        example_finding: "fail  ESU601  machines/srv-01  machine srv-01 is NonCompliant with \
\"Extended Security Updates should be installed on Windows Server 2012 Arc machines\"",
    },
};

impl Check for EsuUpdatesNotInstalled {
    fn info(&self) -> &'static CheckInfo {
        &INFO
    }

    /// The linked machines come from the machine list.
    fn needs(&self) -> &'static [Need] {
        &[Need::Machines]
    }

    fn subjects(&self, ctx: &CheckCtx<'_>) -> Vec<Subject> {
        linked_machines(ctx)
            .map(|(machine, _)| Subject::new(machine.machine.id.clone()))
            .collect()
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        let sub = ctx.subscription_id();
        // Per program: the policy's states in this subscription, read once.
        let mut announced: Vec<&str> = Vec::new();
        for (machine, program) in linked_machines(ctx) {
            let name = &machine.machine.name;
            let id = machine.machine.id.clone();
            let Some(policy) = program.patch_policy else {
                let diagnostic = Diagnostic::new(
                    Status::Skipped,
                    id,
                    format!(
                        "no built-in Azure Policy reports ESU updates on {} machines yet; follow \
                         {name}'s updates in Azure Update Manager",
                        program.name
                    ),
                )
                .evidence(json!({ "program": program.id }))
                .program(program);
                out.push(ctx.finding(&INFO, diagnostic));
                continue;
            };
            let states = ctx
                .subscription
                .patch_states
                .get(&policy.definition.to_ascii_lowercase());
            let states = match states.map(|f| f.as_result()) {
                None => {
                    let diagnostic = Diagnostic::new(
                        Status::Inconclusive,
                        id,
                        format!(
                            "the snapshot holds no compliance states of \"{}\" (taken by an older \
                             esu-preflight)",
                            policy.display_name
                        ),
                    )
                    .remediation("take the snapshot again, or check live".to_owned())
                    .evidence(json!({ "policyDefinition": policy.definition }))
                    .program(program);
                    out.push(ctx.finding(&INFO, diagnostic));
                    continue;
                }
                Some(Err(reason)) => {
                    let diagnostic = Diagnostic::inconclusive(
                        id,
                        &format!("the compliance states of \"{}\"", policy.display_name),
                        reason,
                    )
                    .program(program);
                    out.push(ctx.finding(&INFO, diagnostic));
                    continue;
                }
                Some(Ok(states)) => states,
            };
            if states.is_empty() {
                if !announced.contains(&policy.definition) {
                    announced.push(policy.definition);
                    let diagnostic = Diagnostic::new(
                        Status::Fail,
                        ctx.subscription_resource_id(),
                        format!(
                            "\"{}\" reports nothing in this subscription: it is not assigned, or \
                             has not evaluated the linked machines yet",
                            policy.display_name
                        ),
                    )
                    .severity(Severity::Info)
                    .remediation(format!(
                        "assign it to see which linked machines are missing ESU updates: `az \
                         policy assignment create --name esu-updates-installed --policy {} \
                         --scope /subscriptions/{sub}`; a new assignment reports within a day, \
                         or at once after `az policy state trigger-scan --subscription {sub}`",
                        policy.definition
                    ))
                    .evidence(json!({ "policyDefinition": policy.definition }))
                    .program(program);
                    out.push(ctx.finding(&INFO, diagnostic));
                }
                continue;
            }
            out.push(ctx.finding(&INFO, machine_state(ctx, machine, program, states)));
        }
    }
}

/// ESU601's conclusion for one linked machine, from the policy's states.
fn machine_state(
    ctx: &CheckCtx<'_>,
    machine: MachineRef<'_>,
    program: &'static Program,
    states: &[PolicyState],
) -> Diagnostic {
    let policy = program
        .patch_policy
        .expect("called for programs with a policy");
    let name = &machine.machine.name;
    let id = &machine.machine.id;
    let state = states
        .iter()
        .filter(|s| s.resource_id.eq_ignore_ascii_case(id))
        .max_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let evidence = json!({
        "policyDefinition": policy.definition,
        "complianceState": state.and_then(PolicyState::state),
        "evaluated": state.and_then(|s| s.timestamp.clone()),
        "policyAssignment": state.and_then(|s| s.policy_assignment_id.clone()),
    });
    let diagnostic = match state.and_then(PolicyState::state) {
        Some(s) if s.eq_ignore_ascii_case("Compliant") => Diagnostic::new(
            Status::Pass,
            id.clone(),
            format!(
                "machine {name} is Compliant with \"{}\"",
                policy.display_name
            ),
        ),
        Some(s) if s.eq_ignore_ascii_case("NonCompliant") => Diagnostic::new(
            Status::Fail,
            id.clone(),
            format!(
                "machine {name} is NonCompliant with \"{}\": ESU updates are pending",
                policy.display_name
            ),
        )
        .remediation(format!(
            "install the pending ESU updates on {name} (Azure Update Manager or Windows Update), \
             check its ESU key is active (`az connectedmachine show --name {name} --resource-group \
             RG --query licenseProfile.esuProfile`), then `az policy state trigger-scan \
             --subscription {}`",
            ctx.subscription_id()
        )),
        other => Diagnostic::new(
            Status::Inconclusive,
            id.clone(),
            format!(
                "\"{}\" has {} for machine {name}",
                policy.display_name,
                match other {
                    Some(s) => format!("the state {s:?}"),
                    None => "not evaluated it yet".to_owned(),
                }
            ),
        )
        .remediation(format!(
            "start an evaluation: `az policy state trigger-scan --subscription {}`, then run \
             esu-preflight again",
            ctx.subscription_id()
        )),
    };
    diagnostic.evidence(evidence).program(program)
}

/// The machines of this subscription linked to an ESU license (in the snapshot or elsewhere),
/// with their program, within the `--program` filter.
fn linked_machines<'a>(
    ctx: &'a CheckCtx<'_>,
) -> impl Iterator<Item = (MachineRef<'a>, &'static Program)> + 'a {
    ctx.estate
        .machines_in(ctx.subscription_id())
        .filter(|m| !matches!(ctx.estate.link(*m), Link::None))
        .filter_map(|m| match ctx.estate.os(m) {
            OsClass::Eligible { program, .. } | OsClass::IneligibleEdition { program, .. } => {
                Some((m, *program))
            }
            _ => None,
        })
        .filter(|(_, program)| ctx.program.is_none_or(|p| p.id == program.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, Fixture, SUB};
    use crate::snapshot::Fact;
    use serde_json::Value;

    const POLICY: &str = "14b4e776-9fab-44b0-b53f-38d2458ea8be";

    fn linked(name: &str, license: &Value) -> Value {
        let mut machine = testkit::machine_json(name);
        testkit::link(&mut machine, license);
        machine
    }

    fn state(machine: &str, compliance: &str) -> PolicyState {
        PolicyState {
            resource_id: format!(
                "/subscriptions/{SUB}/resourcegroups/rg-arc/providers/microsoft.hybridcompute/machines/{machine}"
            ),
            compliance_state: Some(compliance.into()),
            timestamp: Some("2026-11-28T10:00:00Z".into()),
            ..PolicyState::default()
        }
    }

    fn run(fixture: &Fixture, states: Option<Fact<Vec<PolicyState>>>) -> Vec<Finding> {
        let (mut snapshot, config) = fixture.build();
        if let Some(states) = states {
            snapshot.subscriptions[0]
                .patch_states
                .insert(POLICY.into(), states);
        }
        testkit::run_on(
            &[&EsuUpdatesNotInstalled],
            &snapshot,
            &config,
            &fixture.plan,
            fixture.now,
            None,
        )
    }

    fn estate_fixture() -> Fixture {
        let license = testkit::license_json("esu-dc");
        let mut ws2016 = linked("srv-16", &license);
        ws2016["properties"]["osSku"] = "Windows Server 2016 Datacenter".into();
        ws2016["properties"]["osVersion"] = "10.0.14393.7428".into();
        Fixture::healthy()
            .machine(linked("srv-ok", &license))
            .machine(linked("srv-pending", &license))
            .machine(linked("srv-new", &license))
            .machine(testkit::machine_json("srv-unlinked"))
            .machine(ws2016)
            .license(license)
    }

    #[test]
    fn esu601_follows_the_policy_per_linked_machine() {
        let states = vec![
            state("srv-ok", "Compliant"),
            state("SRV-PENDING", "NonCompliant"),
        ];
        let findings = run(&estate_fixture(), Some(Fact::Available { value: states }));
        let by_machine: Vec<(&str, Status)> = findings
            .iter()
            .map(|f| (f.resource_id.rsplit('/').next().unwrap(), f.status))
            .collect();
        assert_eq!(
            by_machine,
            [
                ("srv-16", Status::Skipped),
                ("srv-new", Status::Inconclusive),
                ("srv-ok", Status::Pass),
                ("srv-pending", Status::Fail),
            ]
        );
        let pending = &findings[3];
        assert_eq!(pending.severity, Severity::Warning);
        assert_eq!(pending.program.as_deref(), Some("ws2012"));
        assert!(findings[0].message.contains("Azure Update Manager"));
        assert_eq!(findings[0].program.as_deref(), Some("ws2016"));
    }

    #[test]
    fn esu601_unassigned_policy_is_one_info_finding() {
        let findings = run(
            &estate_fixture(),
            Some(Fact::Available { value: Vec::new() }),
        );
        let info: Vec<&Finding> = findings
            .iter()
            .filter(|f| *f.resource_id == format!("/subscriptions/{SUB}"))
            .collect();
        assert_eq!(info.len(), 1);
        assert_eq!(
            (info[0].status, info[0].severity),
            (Status::Fail, Severity::Info)
        );
        assert!(info[0].remediation.contains(&format!(
            "az policy assignment create --name esu-updates-installed --policy {POLICY} --scope /subscriptions/{SUB}"
        )));
    }

    #[test]
    fn esu601_unreadable_or_missing_states_are_inconclusive() {
        for states in [
            Some(Fact::Unavailable {
                reason: testkit::forbidden(
                    "Microsoft.PolicyInsights/policyStates/queryResults/read",
                ),
            }),
            None,
        ] {
            let findings = run(&estate_fixture(), states);
            let ws2012: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.program.as_deref() == Some("ws2012"))
                .collect();
            assert_eq!(ws2012.len(), 3);
            assert!(ws2012.iter().all(|f| f.status == Status::Inconclusive));
        }
    }

    #[test]
    fn esu601_an_unreadable_machine_list_is_inconclusive_not_silent() {
        let fixture = estate_fixture().machines_unavailable(testkit::server_error());
        let findings = testkit::run(&EsuUpdatesNotInstalled, &fixture);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].status, Status::Inconclusive);
        assert_eq!(*findings[0].resource_id, format!("/subscriptions/{SUB}"));
    }

    #[test]
    fn esu601_without_linked_machines_reports_nothing() {
        let fixture = Fixture::healthy().machine(testkit::machine_json("srv-unlinked"));
        assert!(run(&fixture, Some(Fact::Available { value: Vec::new() })).is_empty());
        let unusable = estate_fixture().subscription_unavailable(testkit::not_found());
        let findings = testkit::run(&EsuUpdatesNotInstalled, &unusable);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Skipped);
    }
}
