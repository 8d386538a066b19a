//! ESU501–ESU506: is each Arc machine ready to enroll in its ESU program.
//!
//! Which machines: those the license plan links, those linked to a license, and — when nothing is
//! planned — every machine whose OS belongs to an ESU program (the candidates). Without a plan, a
//! machine outside every program (Windows Server 2019, 2008 R2, Linux…) gets one `skipped` finding
//! per check, with the reason; with a plan, machines neither planned nor linked are not reported.
//! A machine belongs to the program of its OS (else of its linked or planned license's target),
//! and every number a check uses (minimum agent, dates, free environments) comes from that
//! [`Program`]. `--program` leaves out machines of other programs without a finding.
//!
//! A machine whose payload could not be decoded is inconclusive on every check, named; the others
//! still run. A field a check needs that the machine does not report makes that check
//! inconclusive on it, never a pass.

use super::estate::{Link, MachineRef};
use super::{Check, CheckCtx, CheckDocs, CheckInfo, Diagnostic, Need};
use crate::finding::{EvidenceBuilder, Finding, Severity, Status};
use crate::models::{Item, Machine};
use crate::plan::PlannedLicense;
use crate::programs::{self, AgentVersion, FreeEnvironments, OsClass, Program};
use crate::times::parse_rfc3339;
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use time::{Date, OffsetDateTime, UtcOffset};

/// The facts every machine check needs.
static NEEDS: [Need; 1] = [Need::Machines];

/// The REST api-version the remediations use for license profiles.
use crate::arm::catalog::api_version::HYBRID_COMPUTE as API_VERSION;

/// ESU501: a machine to be enrolled is not `Connected`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineNotConnected;

/// ESU502: the Connected Machine agent is older than the program's minimum.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentTooOld;

/// ESU503: a machine planned for, or linked to, an ESU license runs an OS its program does not
/// cover.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsNotEligible;

/// ESU504: a machine runs as an Azure VM, on Azure Local or on Azure VMware Solution.
#[derive(Debug, Clone, Copy, Default)]
pub struct EsuFreeEnvironment;

/// ESU505: an eligible machine has no license linked, or its license is not activated.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineNotLinked;

/// ESU506: the service's own `esuEligibility` says `Ineligible` or `Unknown`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceReportsIneligible;

static INFO_501: CheckInfo = CheckInfo {
    id: "ESU501",
    name: "machine-not-connected",
    default_severity: Severity::Error,
    summary: "An Arc machine to be enrolled in ESU is not Connected.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates",
    docs: CheckDocs {
        what_it_checks: "The machine's `status` as Azure Arc reports it. `Connected` passes; \
`Disconnected`, `Error` and `Expired` fail, saying since when (`lastStatusChange`) \
and how long ago. A machine that reports no status, or a status ARM does not document, is \
inconclusive. Machines checked: those the \
license plan links, those linked to a license, and, when nothing is planned, every machine whose \
OS belongs to an ESU program (the candidates); machines outside every program are `skipped` with \
the reason (not reported when a plan exists). A machine whose payload could not be read is \
`inconclusive`, named. A machine the plan links that the subscription does not hold fails: it is \
not an Arc-enabled machine (a wrong id, or a server not onboarded yet).",
        why_it_matters: "ESU keys and patches are delivered only to Connected machines (\"Azure \
Arc-enabled server is Connected\" in Microsoft's ESU troubleshooting guide). An agent that stays \
disconnected for 45 days expires and must be onboarded again, losing its link.",
        how_to_fix: "On the machine run `azcmagent show` and `azcmagent check` to see the state and \
test connectivity to the Arc endpoints (proxy, firewall, private link); restart the agent services \
(himds, GCArcService, ExtensionService). An `Expired` machine must be onboarded again: \
`azcmagent disconnect --force-local-only`, delete the stale Arc resource, `azcmagent connect`, then \
link its ESU license again.",
        example_finding: "fail  ESU501  srv-01  machine srv-01 is Disconnected since \
2026-11-20 08:00 UTC (9 days ago): ESU is delivered only to Connected machines",
    },
};

static INFO_502: CheckInfo = CheckInfo {
    id: "ESU502",
    name: "agent-too-old",
    default_severity: Severity::Error,
    summary: "The Connected Machine agent is older than the minimum of the machine's ESU program.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/manage-agent",
    docs: CheckDocs {
        what_it_checks: "The machine's `agentVersion` against the minimum of its ESU program, \
compared as numbers (1.9 < 1.34), not as text: 1.34 for Windows Server 2012 / 2012 R2, 1.62 for \
Windows Server 2016 (the program table). The finding names the minimum. A machine that reports no \
agent version, or one that cannot be read, is inconclusive; so is a machine whose program is \
unknown because it reports no OS. Same machines as ESU501.",
        why_it_matters: "Older agents cannot receive ESU keys: Microsoft's troubleshooting guide \
requires agent 1.34 or later for Windows Server 2012 ESU and 1.62 or later for Windows Server 2016 \
ESU. Linking works, but patches do not arrive.",
        how_to_fix: "Upgrade the Connected Machine agent: download and run the latest \
AzureConnectedMachineAgent.msi (https://aka.ms/AzureConnectedMachineAgent), or update it through \
Microsoft Update or Azure Update Manager; check with `azcmagent version`.",
        example_finding: "fail  ESU502  srv-16  agent 1.61.0 on machine srv-16 is older than 1.62, \
the minimum for Windows Server 2016 ESU",
    },
};

static INFO_503: CheckInfo = CheckInfo {
    id: "ESU503",
    name: "os-not-eligible",
    default_severity: Severity::Error,
    summary: "A machine planned for, or linked to, an ESU license runs an OS no ESU program covers.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/prepare-extended-security-updates",
    docs: CheckDocs {
        what_it_checks: "The machine's `osSku` (or `osName`) and `osVersion` against the program \
table: Windows Server 2012 (6.2.9200) and 2012 R2 (6.3.9600) for the 2012 program, Windows Server \
2016 (10.0.14393) for the 2016 program, in the Standard or Datacenter edition. An eligible OS \
passes. A machine planned or linked that runs another OS (an upgraded machine keeps its link) \
fails as an error; a candidate in an edition no program covers (Storage, Essentials) fails as \
`info`. Machines outside every program that are neither planned nor linked are `skipped` with the \
reason. A machine that reports no OS is inconclusive.",
        why_it_matters: "ESU through Arc covers only those releases and editions (\"Windows Server \
2012 Storage isn't supported\"). A license linked to an upgraded or ineligible machine bills \
cores that deliver nothing, and the machine gets no ESU.",
        how_to_fix: "Unlink the machine: `az rest --method put --url \
\"{machineId}/licenseProfiles/default?api-version=2026-09-01\" --body \
'{\"location\": \"REGION\", \"properties\": {\"esuProfile\": {\"assignedLicense\": \"\"}}}'` (or \
in the portal: Azure Arc > Windows Server ESUs > Eligible resources), and take it out of the plan. \
For an edition no program covers, plan an upgrade or a move to Azure.",
        example_finding: "fail  ESU503  srv-19  machine srv-19 runs Windows Server 2019 Datacenter \
(10.0.17763.1), which no ESU program covers, but it is linked to license esu-dc",
    },
};

static INFO_504: CheckInfo = CheckInfo {
    id: "ESU504",
    name: "esu-free-environment",
    default_severity: Severity::Warning,
    summary: "A machine runs as an Azure VM, on Azure Local / Azure Stack HCI or on Azure VMware \
Solution, where ESU may be free.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/prepare-extended-security-updates",
    docs: CheckDocs {
        what_it_checks: "Any of these signals: `kind` AVS (Azure VMware Solution) or HCI (Azure \
Local / Azure Stack HCI), a `parentClusterResourceId` (an Azure Local cluster), \
`cloudMetadata.provider` or `detectedProperties.cloudprovider` Azure (an Azure VM), a detected \
model or manufacturer naming Azure Stack HCI / Azure Local. A model of \"Virtual Machine\" alone is \
Hyper-V anywhere and is not a signal. For Windows Server 2012 / 2012 R2, where these environments \
get ESU free: not linked passes (it gets ESU free), linked to a license (or planned on one) fails \
as a warning (paying for what is free). For Windows Server 2016, Microsoft's pages don't say ESU \
is free there: an `info` finding citing the sources, never a failure. No signal passes; a machine \
that reports no cloud provider at all is inconclusive. Machines not eligible (ESU503) are skipped.",
        why_it_matters: "Windows Server 2012 sources: \"Azure VMware Solution (AVS) machines and \
virtual machines on Azure Local are eligible for free ESUs and shouldn't enroll in ESUs enabled \
through Azure Arc\" (Prepare to deliver Extended Security Updates, \
https://learn.microsoft.com/azure/azure-arc/servers/prepare-extended-security-updates); \"If you \
create ESU licenses for Windows through Azure Arc, you're charged for the ESUs\" (Azure VMware \
Solution, https://learn.microsoft.com/azure/azure-vmware/extended-security-updates-windows-sql-server); \
Azure Local delivers ESU through Azure VM verification \
(https://learn.microsoft.com/azure/azure-local/manage/azure-benefits-esu); \"Extended Security \
Updates are also free of charge in other Azure products such as Azure Dedicated Host, Azure \
VMware Solution, Azure Nutanix Solution, and Azure Stack (Hub, Edge, and HCI)\" (Windows Server \
ESU overview). Windows Server 2016: the 2016 pivot of \"License Extended Security Updates\" names \
no free environment besides machines migrated to Azure \
(https://learn.microsoft.com/azure/azure-arc/servers/license-extended-security-updates).",
        how_to_fix: "Don't link such machines to a paid Arc ESU license: unlink them (see ESU503) \
and take their cores off the license. Azure VMs receive ESU automatically; on Azure VMware Solution \
request free ESU through a support request; on Azure Local enable Azure VM verification. For \
Windows Server 2016, confirm with Microsoft or your licensing partner before relying on free ESU.",
        example_finding: "fail  ESU504  avs-01  machine avs-01 runs on Azure VMware Solution (kind \
AVS), where Windows Server 2012 / 2012 R2 ESU is free, but it is linked to license esu-dc: its \
cores are paid for nothing",
    },
};

static INFO_505: CheckInfo = CheckInfo {
    id: "ESU505",
    name: "machine-not-linked",
    default_severity: Severity::Error,
    summary: "An eligible machine has no ESU license linked, or its license is not activated.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/deliver-extended-security-updates",
    docs: CheckDocs {
        what_it_checks: "The machine's `licenseProfile.esuProfile` link, resolved to the license \
across subscriptions. Linked to an `Activated` license passes; linked to a `Deactivated` one fails; \
linked to a license the snapshot does not hold (another subscription not in scope) is \
inconclusive, naming it; so is a machine that reports a license `Assigned` without naming it. \
Not linked: passes when the plan links it to an activated license (fails when the plan creates \
that license Deactivated), passes when it runs where its \
program's ESU is free (Windows Server 2012 in Azure, Azure Local, AVS; see ESU504), is `info` for \
a Windows Server 2016 machine there; otherwise it fails, by the program's dates (injected clock): \
before the end of support a warning with the days left, the billing start and the back-billing \
date (Windows Server 2016: ends 2027-01-12, billed from 2027-01-13, later licenses back-billed to \
2027-01-12), from the end of support on an error. Machines not eligible (ESU503) are skipped.",
        why_it_matters: "Only a machine linked to an activated license receives ESU keys and \
patches (\"After you link a server to an activated ESU license, the server can receive Windows \
Server ESUs\"). A machine left unlinked past its end of support gets no security updates; a \
license provisioned late is back-billed anyway.",
        how_to_fix: "Link the machine to an activated license of its program: in the portal, \
Azure Arc > Windows Server ESUs > Eligible resources, or `az rest --method put --url \
\"{machineId}/licenseProfiles/default?api-version=2026-09-01\" --body \
'{\"location\": \"REGION\", \"properties\": {\"esuProfile\": {\"assignedLicense\": \
\"LICENSE_ID\"}}}'`. Activate a Deactivated license (billing starts on activation): `az rest \
--method patch --url \"{licenseId}?api-version=2026-09-01\" --body \
'{\"properties\": {\"licenseDetails\": {\"state\": \"Activated\"}}}'`.",
        example_finding: "fail  ESU505  srv-16  machine srv-16 has no ESU license linked: 44 days \
are left before Windows Server 2016 leaves support on 2027-01-12; billing starts 2027-01-13 \
(licenses provisioned later are back-billed to 2027-01-12)",
    },
};

static INFO_506: CheckInfo = CheckInfo {
    id: "ESU506",
    name: "service-reports-ineligible",
    default_severity: Severity::Warning,
    summary: "The ESU service's own esuEligibility for the machine is Ineligible or Unknown.",
    help_uri: "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates",
    docs: CheckDocs {
        what_it_checks: "`licenseProfile.esuProfile.esuEligibility`, computed by the service. \
`Eligible` passes; `Ineligible` and `Unknown` fail as warnings (the service's reasons are not \
published, so it never fails as an error); a machine that does not report it is inconclusive. Same \
machines as ESU501.",
        why_it_matters: "The service decides whether ESU keys are delivered. When it disagrees with \
what esu-preflight sees (OS, edition, agent), linking may be refused or keys may not arrive. \
`Unknown` usually means the agent has not reported what the service needs yet.",
        how_to_fix: "Make sure the machine is Connected with a current agent (ESU501, ESU502) and \
runs an eligible OS (ESU503); run `azcmagent show` on it; wait for the next status report (up to an \
hour) and check again. If it stays Ineligible, open a support request with Azure Arc.",
        example_finding: "fail  ESU506  srv-01  the ESU service reports machine srv-01 as \
Ineligible",
    },
};

/// A machine a machine check reports on.
#[derive(Debug)]
pub(crate) enum Subject<'a> {
    /// Read, and in scope.
    InScope(Scoped<'a>),
    /// Read, outside every ESU program, neither planned nor linked, nothing planned.
    Outside { machine: &'a Machine, os: &'a str },
    /// Its payload could not be decoded.
    Invalid { id: &'a str, error: &'a str },
}

/// The machine checks' subjects of each subscription, worked out once per run (the estate
/// holds it): keyed by the subscription's and the plan's addresses and the `--program` filter.
pub(crate) type SubjectMemo<'a> =
    RefCell<HashMap<(usize, usize, Option<&'static str>), Rc<[Subject<'a>]>>>;

/// A machine in scope and what is known about it.
#[derive(Debug)]
pub(crate) struct Scoped<'a> {
    machine: &'a Machine,
    /// Its ARM id, shared by the findings of the six checks.
    id: Arc<str>,
    os: &'a OsClass,
    link: Link<'a>,
    planned: &'a [&'a PlannedLicense],
    /// The program of its OS, else of its linked or planned license.
    program: Option<&'static Program>,
    /// Not linked to a license it names, yet its `licenseAssignmentState` is `Assigned` (seen in
    /// real payloads): linked, to a license not known.
    assigned_unnamed: bool,
    /// Its [`free_signals`], worked out when first asked for (three checks ask).
    signals: std::cell::OnceCell<Vec<Signal>>,
}

impl Scoped<'_> {
    /// Every sign that it runs where ESU is free ([`free_signals`]).
    fn free_signals(&self) -> &[Signal] {
        self.signals.get_or_init(|| free_signals(self.machine))
    }

    fn name(&self) -> &str {
        label(self.machine)
    }

    /// The name (or id) of the license it is linked to.
    fn license_name(&self) -> Option<&str> {
        match self.link {
            Link::None => None,
            Link::Linked(l) => Some(if l.license.name.is_empty() {
                l.license.id.as_str()
            } else {
                l.license.name.as_str()
            }),
            Link::Elsewhere(id) => Some(id),
        }
    }

    /// The names of the planned licenses that link it.
    fn planned_names(&self) -> String {
        self.planned
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A diagnostic about this machine, with its program and base evidence.
    fn diagnostic(&self, status: Status, message: String) -> Diagnostic {
        let mut d = Diagnostic::new(status, Arc::clone(&self.id), message);
        d.evidence = SHARED_BASE.with_borrow(|shared| match shared {
            // The six machine checks run together share the machine's base evidence.
            Some((machine, base)) if std::ptr::eq(*machine, self.machine) => base.with_room(),
            _ => self.base_evidence(),
        });
        if let Some(program) = self.program {
            d = d.program(program);
        }
        d
    }

    /// The evidence every finding about this machine starts from: its name, OS, linked and
    /// planned licenses.
    fn base_evidence(&self) -> EvidenceBuilder {
        let p = &self.machine.properties;
        let mut evidence = EvidenceBuilder::default();
        evidence.insert("machine", self.name());
        evidence.insert("osSku", p.os_sku.as_deref().or(p.os_name.as_deref()));
        evidence.insert("osVersion", &p.os_version);
        if let Some(license) = self.license_name() {
            evidence.insert("linkedLicense", license);
        }
        if !self.planned.is_empty() {
            evidence.insert("plannedLicenses", self.planned_names());
        }
        evidence
    }

    /// How to unlink it, take its cores off the license and it out of the plan.
    fn unlink_remediation(&self) -> String {
        format!(
            "unlink it: `az rest --method put --url \"{}/\
             licenseProfiles/default?api-version={API_VERSION}\" --body '{{\"location\": \"{}\", \
             \"properties\": {{\"esuProfile\": {{\"assignedLicense\": \"\"}}}}}}'` (or in the \
             portal: Azure Arc > Windows Server ESUs > Eligible resources), take its cores off the \
             license and it out of the plan",
            self.machine.id,
            self.machine.location.as_deref().unwrap_or("REGION")
        )
    }

    /// Whether it is linked to a license or planned on one ([`Scoped::enrolment`] is `Some`).
    fn enrolled(&self) -> bool {
        self.license_name().is_some() || self.assigned_unnamed || !self.planned.is_empty()
    }

    /// How it is (to be) linked, in words: `it is linked to license X`, `the plan links it to Y`.
    fn enrolment(&self) -> Option<String> {
        if let Some(license) = self.license_name() {
            Some(format!("it is linked to license {license}"))
        } else if self.assigned_unnamed {
            Some("it reports an ESU license assigned (licenseAssignmentState Assigned)".to_owned())
        } else if !self.planned.is_empty() {
            Some(format!("the plan links it to {}", self.planned_names()))
        } else {
            None
        }
    }

    /// An OS no program covers, or an edition its program does not, on a machine neither
    /// linked nor planned: the checks other than ESU503 have nothing to say about it.
    fn never_enrolls(&self) -> bool {
        !self.enrolled()
            && matches!(
                self.os,
                OsClass::IneligibleEdition { .. } | OsClass::Outside { .. }
            )
    }

    /// `skipped`: the machine is not eligible, so the check does not apply (ESU503 says why).
    fn skipped_not_eligible(&self) -> Diagnostic {
        self.diagnostic(
            Status::Skipped,
            format!(
                "machine {} is not eligible for ESU (see ESU503): {}",
                self.name(),
                describe_os(self.os)
            ),
        )
        .with_evidence("blockedBy", "ESU503")
    }
}

/// The machine's name, else its id.
fn label(machine: &Machine) -> &str {
    if machine.name.is_empty() {
        &machine.id
    } else {
        &machine.name
    }
}

/// The OS in words.
fn describe_os(os: &OsClass) -> String {
    match os {
        OsClass::Eligible {
            release, edition, ..
        } => match edition {
            Some(edition) => format!("{} {edition}", release.name),
            None => release.name.to_owned(),
        },
        OsClass::IneligibleEdition { sku, .. } => sku.clone(),
        OsClass::Outside { os } => format!("{os}, which no ESU program covers"),
        OsClass::Unknown => "its OS is not reported".to_owned(),
    }
}

/// The machines of the subscription the machine checks report on, in snapshot order: worked
/// out on the first call of a run, then shared.
fn subjects<'a>(ctx: &CheckCtx<'a>) -> Rc<[Subject<'a>]> {
    let key = (
        std::ptr::from_ref(ctx.subscription).addr(),
        std::ptr::from_ref(ctx.plan).addr(),
        ctx.program.map(|p| p.id),
    );
    if let Some(subjects) = ctx.estate.machine_subjects.borrow().get(&key) {
        return Rc::clone(subjects);
    }
    let subjects: Rc<[Subject<'a>]> = work_out_subjects(ctx).into();
    ctx.estate
        .machine_subjects
        .borrow_mut()
        .insert(key, Rc::clone(&subjects));
    subjects
}

/// [`subjects`], worked out.
fn work_out_subjects<'a>(ctx: &CheckCtx<'a>) -> Vec<Subject<'a>> {
    let Some(items) = ctx.subscription.machines.as_ref().and_then(|f| f.value()) else {
        return Vec::new();
    };
    // The estate's entries for this subscription's items (the very same values, in the same
    // order; those outside `--resource-group` left out).
    let mut refs = ctx.estate.machines_in(ctx.subscription_id()).peekable();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Invalid { id, error } if ctx.estate.in_scope(id) => {
                out.push(Subject::Invalid { id, error });
            }
            Item::Invalid { .. } => {}
            Item::Read(machine) => {
                let Some(m) = refs.next_if(|m| std::ptr::eq(m.machine, machine)) else {
                    continue;
                };
                if let Some(subject) = subject(ctx, m) {
                    out.push(subject);
                }
            }
        }
    }
    out
}

/// The machines of the subscription ESU505 asks to link when nothing is planned: in an ESU
/// program by their OS (eligible edition), no license linked or reported assigned, and not in an
/// environment where their program's ESU is free (ESU202 evaluates the right to link them).
pub(crate) fn link_candidates<'a>(ctx: &CheckCtx<'a>) -> Vec<&'a Machine> {
    subjects(ctx)
        .iter()
        .filter_map(|subject| match subject {
            Subject::InScope(s)
                if matches!(s.link, Link::None)
                    && !s.assigned_unnamed
                    && s.planned.is_empty()
                    && matches!(s.os, OsClass::Eligible { .. })
                    && s.program.is_some_and(|p| {
                        !matches!(p.free_environments, FreeEnvironments::Free)
                            || s.free_signals().is_empty()
                    }) =>
            {
                Some(s.machine)
            }
            _ => None,
        })
        .collect()
}

/// What the machine checks make of one machine; `None`: not reported.
fn subject<'a>(ctx: &CheckCtx<'a>, m: MachineRef<'a>) -> Option<Subject<'a>> {
    let machine = m.machine;
    let os = ctx.estate.os(m);
    let link = ctx.estate.link(m);
    let planned = ctx.estate.planned_for(&machine.id);
    let os_program = match os {
        OsClass::Eligible { program, .. } | OsClass::IneligibleEdition { program, .. } => {
            Some(*program)
        }
        _ => None,
    };
    // The program of the OS, else of the license (looked up only when the OS names none).
    let program = os_program.or_else(|| {
        match link {
            Link::Linked(l) => l
                .license
                .details()
                .target
                .as_deref()
                .and_then(programs::by_target),
            _ => None,
        }
        .or_else(|| planned.iter().find_map(|p| programs::by_target(&p.target)))
    });
    if let Some(only) = ctx.program
        && program.map(|p| p.id) != Some(only.id)
    {
        return None;
    }
    let assigned_unnamed = matches!(link, Link::None)
        && machine
            .esu_profile()
            .and_then(|e| present(e.license_assignment_state.as_deref()))
            .is_some_and(|state| state.eq_ignore_ascii_case("Assigned"));
    let linked = !matches!(link, Link::None) || assigned_unnamed;
    let candidate = ctx.plan.is_empty() && !matches!(os, OsClass::Outside { .. });
    if linked || !planned.is_empty() || candidate {
        return Some(Subject::InScope(Scoped {
            machine,
            id: machine.id.as_str().into(),
            os,
            link,
            planned,
            program,
            assigned_unnamed,
            signals: std::cell::OnceCell::new(),
        }));
    }
    match os {
        OsClass::Outside { os } if ctx.plan.is_empty() => Some(Subject::Outside { machine, os }),
        _ => None,
    }
}

/// Runs one machine check: `check` on each machine in scope, the shared findings on the others.
fn run_each(
    ctx: &CheckCtx<'_>,
    out: &mut Vec<Finding>,
    info: &'static CheckInfo,
    check: impl Fn(&CheckCtx<'_>, &Scoped<'_>) -> Diagnostic,
) {
    for subject in subjects(ctx).iter() {
        out.push(ctx.finding(info, diagnose(ctx, subject, &check)));
    }
}

/// What each machine check concludes on one machine in scope, in the order of [`super::all`]
/// (ESU501–ESU506).
type Conclude = fn(&CheckCtx<'_>, &Scoped<'_>) -> Diagnostic;
static TOGETHER: [(&CheckInfo, Conclude); 6] = [
    (&INFO_501, connected),
    (&INFO_502, agent),
    (&INFO_503, os_eligible),
    (&INFO_504, free_environment),
    (&INFO_505, linked),
    (&INFO_506, service_eligibility),
];

thread_local! {
    /// The base evidence of the machine [`run_together`] is on, set only while its six checks
    /// run (so never stale): each of its findings starts from a copy instead of writing the
    /// machine's name, OS and licenses again.
    static SHARED_BASE: RefCell<Option<(*const Machine, EvidenceBuilder)>> =
        const { RefCell::new(None) };
}

/// [`SHARED_BASE`] set for one machine while it lives.
struct SharedBase;

impl SharedBase {
    /// Sets the base evidence of `subject` (worked out once for the machine's six findings; see
    /// `Scoped::diagnostic`), when it has one.
    fn of(subject: &Subject<'_>) -> Self {
        if let Subject::InScope(scoped) = subject {
            SHARED_BASE.set(Some((scoped.machine, scoped.base_evidence())));
        }
        SharedBase
    }
}

impl Drop for SharedBase {
    fn drop(&mut self) {
        SHARED_BASE.set(None);
    }
}

/// How many checks [`run_together`] stands for, when `checks` starts with the six machine
/// checks in order; `None` otherwise.
pub(super) fn starts_together(checks: &[&dyn Check]) -> Option<usize> {
    (checks.len() >= TOGETHER.len()
        && checks
            .iter()
            .zip(&TOGETHER)
            .all(|(check, (info, _))| std::ptr::eq(check.info(), *info)))
    .then_some(TOGETHER.len())
}

/// Runs ESU501–ESU506 on one subscription, machine by machine: the same findings, in the same
/// order, as running each check in turn ([`Check::run`]), but each machine's facts are read
/// while they are in the cache (a check at a time went through every machine six times; on a
/// large estate that was most of the time). Only for a subscription the shared rules let them
/// run on (usable, machines read): [`super::evaluate`] decides.
pub(super) fn run_together(ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
    let subjects = subjects(ctx);
    // ESU501's findings go straight out; the others wait for theirs to be done, in buffers
    // kept for the next subscription (fresh ones would be fresh memory each time).
    let mut later = ctx.estate.together_buffers.take();
    later.resize_with(TOGETHER.len() - 1, Vec::new);
    for buffer in &mut later {
        buffer.reserve(subjects.len());
    }
    out.reserve(subjects.len());
    for (index, subject) in subjects.iter().enumerate() {
        if let Some(Subject::InScope(next)) = subjects.get(index + 1) {
            touch(next.machine);
        }
        // Cleared when the machine's checks are done, even by a panic (a caller that catches
        // it and evaluates again never sees this machine's evidence).
        let _shared = SharedBase::of(subject);
        for (at, (info, check)) in TOGETHER.iter().enumerate() {
            let finding = ctx.finding(info, diagnose(ctx, subject, check));
            match at.checked_sub(1) {
                None => out.push(finding),
                Some(at) => later[at].push(finding),
            }
        }
    }
    for diagnostic in planned_but_missing(ctx) {
        out.push(ctx.finding(&INFO_501, diagnostic));
    }
    for findings in &mut later {
        out.append(findings);
    }
    ctx.estate.together_buffers.replace(later);
}

/// Reads the first byte of each text of `machine` the machine checks read, so that the memory
/// reads it takes (a machine's texts are separate allocations, rarely in the cache on a large
/// estate) are sent together, ahead of the checks, rather than one by one as each check gets to
/// its field. Nothing is done with the bytes.
fn touch(machine: &Machine) {
    let p = &machine.properties;
    let d = &p.detected_properties;
    let esu = machine.esu_profile();
    let texts = [
        Some(machine.name.as_str()),
        machine.kind.as_deref(),
        p.status.as_deref(),
        p.last_status_change.as_deref(),
        p.agent_version.as_deref(),
        p.os_name.as_deref(),
        p.os_sku.as_deref(),
        p.os_version.as_deref(),
        p.parent_cluster_resource_id.as_deref(),
        p.cloud_metadata
            .as_ref()
            .and_then(|c| c.provider.as_deref()),
        d.cloud_provider.as_deref(),
        d.model.as_deref(),
        d.manufacturer.as_deref(),
        esu.and_then(|e| e.esu_eligibility.as_deref()),
        esu.and_then(|e| e.license_assignment_state.as_deref()),
    ];
    for text in texts.into_iter().flatten() {
        std::hint::black_box(text.as_bytes().first().copied());
    }
}

/// What a machine check concludes on one subject: `check` on a machine in scope, the shared
/// findings on the others.
fn diagnose(
    ctx: &CheckCtx<'_>,
    subject: &Subject<'_>,
    check: impl Fn(&CheckCtx<'_>, &Scoped<'_>) -> Diagnostic,
) -> Diagnostic {
    match *subject {
        Subject::InScope(ref scoped) => check(ctx, scoped),
        Subject::Outside { machine, os } => Diagnostic::new(
            Status::Skipped,
            machine.id.clone(),
            format!(
                "machine {} runs {os}, outside every ESU program",
                label(machine)
            ),
        )
        .evidence(json!({ "machine": label(machine), "os": os })),
        Subject::Invalid { id, error } => {
            let resource = if id.is_empty() {
                ctx.subscription_resource_id()
            } else {
                id.to_owned()
            };
            let what = if id.is_empty() { "(no id)" } else { id };
            Diagnostic::new(
                Status::Inconclusive,
                resource,
                format!("could not read machine {what}: {error}"),
            )
            .remediation(
                "look at the machine's payload with `az resource show --ids MACHINE_ID`; if \
                     it looks right, report the error to the esu-preflight maintainers with it",
            )
            .evidence(json!({ "invalid": true, "error": error }))
        }
    }
}

macro_rules! machine_check {
    ($ty:ty, $info:expr, $body:path) => {
        impl Check for $ty {
            fn info(&self) -> &'static CheckInfo {
                &$info
            }

            fn needs(&self) -> &'static [Need] {
                &NEEDS
            }

            fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
                run_each(ctx, out, &$info, $body);
            }
        }
    };
}

machine_check!(AgentTooOld, INFO_502, agent);
machine_check!(OsNotEligible, INFO_503, os_eligible);
machine_check!(EsuFreeEnvironment, INFO_504, free_environment);
machine_check!(MachineNotLinked, INFO_505, linked);
machine_check!(ServiceReportsIneligible, INFO_506, service_eligibility);

impl Check for MachineNotConnected {
    fn info(&self) -> &'static CheckInfo {
        &INFO_501
    }

    fn needs(&self) -> &'static [Need] {
        &NEEDS
    }

    fn run(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Finding>) {
        run_each(ctx, out, &INFO_501, connected);
        for diagnostic in planned_but_missing(ctx) {
            out.push(ctx.finding(&INFO_501, diagnostic));
        }
    }
}

/// ESU501 on the machines the plan links in this subscription that it does not hold: they are
/// not Arc-enabled machines (a wrong id, or a server not onboarded yet), so they cannot be linked.
fn planned_but_missing(ctx: &CheckCtx<'_>) -> Vec<Diagnostic> {
    let prefix = format!("/subscriptions/{}/", ctx.subscription_id()).to_ascii_lowercase();
    let invalid: Vec<String> = ctx
        .subscription
        .machines
        .as_ref()
        .and_then(|f| f.value())
        .into_iter()
        .flatten()
        .filter_map(|item| match item {
            Item::Invalid { id, .. } => Some(id.to_ascii_lowercase()),
            Item::Read(_) => None,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for license in &ctx.plan.licenses {
        let program = programs::by_target(&license.target);
        if let Some(only) = ctx.program
            && program.map(|p| p.id) != Some(only.id)
        {
            continue;
        }
        for id in &license.machines {
            let lower = id.trim().to_ascii_lowercase();
            if !lower.starts_with(&prefix)
                || ctx.estate.machine(id.trim()).is_some()
                || invalid.contains(&lower)
                || !seen.insert(lower)
            {
                continue;
            }
            let mut d = Diagnostic::new(
                Status::Fail,
                id.trim(),
                format!(
                    "machine {}, which the plan links to {}, was not found among the Arc-enabled \
                     machines of subscription {}",
                    id.trim().rsplit('/').next().unwrap_or(id.trim()),
                    license.name,
                    ctx.subscription_id()
                ),
            )
            .remediation(format!(
                "check the machine id in the plan (`az connectedmachine list --subscription {} \
                 --query \"[].id\"`), or onboard the server to Azure Arc (`azcmagent connect`) \
                 before linking it",
                ctx.subscription_id()
            ))
            .evidence(json!({ "plannedLicense": license.name, "found": false }));
            if let Some(program) = program {
                d = d.program(program);
            }
            out.push(d);
        }
    }
    out
}

/// A non-empty trimmed value.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// ESU501

fn connected(ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    if s.never_enrolls() {
        return s.skipped_not_eligible();
    }
    let p = &s.machine.properties;
    let name = s.name();
    let Some(status) = present(p.status.as_deref()) else {
        return s
            .diagnostic(
                Status::Inconclusive,
                format!("machine {name} does not report its agent status"),
            )
            .remediation(
                "run `azcmagent show` on the machine to see its state, then run esu-preflight \
                 again",
            );
    };
    if status.eq_ignore_ascii_case("Connected") {
        return s
            .diagnostic(Status::Pass, cat!("machine ", name, " is Connected"))
            .with_evidence("status", status);
    }
    // The statuses ARM documents; any other value is not evidence of a disconnection.
    if !["Disconnected", "Error", "Expired"]
        .iter()
        .any(|known| status.eq_ignore_ascii_case(known))
    {
        return s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "machine {name} reports agent status {status:?}, a value esu-preflight does \
                     not know"
                ),
            )
            .remediation(
                "run `azcmagent show` on the machine to see its state, then run esu-preflight \
                 again",
            )
            .with_evidence("status", status);
    }
    let changed = present(p.last_status_change.as_deref());
    let since = match changed.and_then(parse_rfc3339) {
        Some(at) => format!(
            " since {} ({})",
            format_utc(at),
            ago(ctx.now - at).unwrap_or_else(|| "in the future of this run's clock".to_owned())
        ),
        None => match changed {
            Some(text) => format!(" since {text:?}"),
            None => " (when it changed is not reported)".to_owned(),
        },
    };
    let remediation = if status.eq_ignore_ascii_case("Expired") {
        "the agent was disconnected so long that its identity expired: on the machine run \
         `azcmagent disconnect --force-local-only`, delete the stale Arc resource, onboard it again \
         with `azcmagent connect`, then link its ESU license again"
    } else if status.eq_ignore_ascii_case("Error") {
        "on the machine run `azcmagent show` and `azcmagent logs` to see the error, fix it, and test \
         connectivity with `azcmagent check`"
    } else {
        "on the machine run `azcmagent show` and `azcmagent check` (connectivity to the Arc \
         endpoints: proxy, firewall, private link) and restart the agent services (himds, \
         GCArcService, ExtensionService); after 45 days disconnected the agent expires and must be \
         onboarded again"
    };
    s.diagnostic(
        Status::Fail,
        format!("machine {name} is {status}{since}: ESU is delivered only to Connected machines"),
    )
    .remediation(remediation)
    .with_evidence("status", status)
    .with_evidence("lastStatusChange", changed)
}

/// How long ago, in words; `None` for a negative duration.
fn ago(elapsed: time::Duration) -> Option<String> {
    if elapsed.is_negative() {
        return None;
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    Some(if elapsed.whole_days() >= 1 {
        plural(elapsed.whole_days(), "day")
    } else if elapsed.whole_hours() >= 1 {
        plural(elapsed.whole_hours(), "hour")
    } else {
        plural(elapsed.whole_minutes(), "minute")
    })
}

/// `2026-11-20 08:00 UTC`.
fn format_utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{} {:02}:{:02} UTC",
        at.date(),
        at.time().hour(),
        at.time().minute()
    )
}

// ---------------------------------------------------------------------------------------------
// ESU502

fn agent(_ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    if s.never_enrolls() {
        return s.skipped_not_eligible();
    }
    let name = s.name();
    let Some(program) = s.program else {
        return match s.os {
            OsClass::Unknown => s
                .diagnostic(
                    Status::Inconclusive,
                    format!(
                        "machine {name} does not report its OS, so the minimum agent version of \
                         its ESU program is not known"
                    ),
                )
                .remediation(
                    "run `azcmagent show` on the machine and make sure it reports its OS, then \
                     run esu-preflight again",
                ),
            _ => s.skipped_not_eligible(),
        };
    };
    let min = program.min_agent;
    // Only a finding that is not a pass says how to upgrade.
    let upgrade = || {
        format!(
            "upgrade the Connected Machine agent to {min} or later: run the latest \
         AzureConnectedMachineAgent.msi (https://aka.ms/AzureConnectedMachineAgent) or update it \
         through Microsoft Update or Azure Update Manager, then check with `azcmagent version`"
        )
    };
    let Some(text) = present(s.machine.properties.agent_version.as_deref()) else {
        return s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "machine {name} does not report its agent version ({} ESU needs {min} or \
                     later)",
                    program.name
                ),
            )
            .remediation("run `azcmagent version` on the machine; ".to_owned() + &upgrade())
            .with_evidence("minimum", min.to_string());
    };
    let Some(version) = AgentVersion::parse(text) else {
        return s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "the agent version {text:?} of machine {name} could not be read ({} ESU \
                     needs {min} or later)",
                    program.name
                ),
            )
            .remediation("run `azcmagent version` on the machine; ".to_owned() + &upgrade())
            .with_evidence("agentVersion", text)
            .with_evidence("minimum", min.to_string());
    };
    let minimum = min.to_string();
    if version < min {
        s.diagnostic(
            Status::Fail,
            cat!(
                "agent ",
                text,
                " on machine ",
                name,
                " is older than ",
                minimum,
                ", the minimum for ",
                program.name,
                " ESU"
            ),
        )
        .remediation(upgrade())
    } else {
        s.diagnostic(
            Status::Pass,
            cat!(
                "agent ",
                text,
                " on machine ",
                name,
                " meets the minimum of ",
                program.name,
                " ESU (",
                minimum,
                ")"
            ),
        )
    }
    .with_evidence("agentVersion", text)
    .with_evidence("minimum", minimum)
}

// ---------------------------------------------------------------------------------------------
// ESU503

fn os_eligible(_ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    let name = s.name();
    let p = &s.machine.properties;
    let reported = match (
        present(p.os_sku.as_deref().or(p.os_name.as_deref())),
        present(p.os_version.as_deref()),
    ) {
        (Some(sku), Some(version)) => cat!(sku, " (", version, ")"),
        (Some(sku), None) => sku.to_owned(),
        (None, Some(version)) => version.to_owned(),
        (None, None) => String::new(),
    };
    // Only a failing finding says how the machine is enrolled and how to unlink it.
    let enrolled = || s.enrolment();
    let unlink = || s.unlink_remediation();
    match s.os {
        OsClass::Eligible { program, .. } => s.diagnostic(
            Status::Pass,
            cat!(
                "machine ",
                name,
                " runs ",
                reported,
                ", eligible for ",
                program.name,
                " ESU"
            ),
        ),
        OsClass::IneligibleEdition { program, .. } => {
            let covered = program.editions.join(" and ");
            let base = format!(
                "machine {name} runs {reported}, an edition {} ESU does not cover (only \
                 {covered})",
                program.name
            );
            match enrolled() {
                Some(enrolled) => s
                    .diagnostic(Status::Fail, format!("{base}, but {enrolled}"))
                    .remediation(unlink()),
                None => s
                    .diagnostic(
                        Status::Fail,
                        format!("{base}: it cannot get ESU through Arc"),
                    )
                    .severity(Severity::Info)
                    .remediation(
                        "plan an upgrade to a supported release or a move to Azure; don't link \
                         it to an ESU license",
                    ),
            }
        }
        OsClass::Outside { os } => s
            .diagnostic(
                Status::Fail,
                format!(
                    "machine {name} runs {os}, which no ESU program covers, but {}",
                    enrolled().unwrap_or_else(|| "it is in scope".to_owned())
                ),
            )
            .remediation(format!(
                "an upgraded machine keeps its ESU link until it is removed: {}",
                unlink()
            )),
        _ => s
            .diagnostic(
                Status::Inconclusive,
                format!("machine {name} does not report its OS SKU and version"),
            )
            .remediation(
                "make sure the agent is Connected and reporting (`azcmagent show` on the \
                 machine), then run esu-preflight again",
            ),
    }
}

// ---------------------------------------------------------------------------------------------
// ESU504

/// One sign that a machine runs where ESU may be free.
#[derive(Debug)]
struct Signal {
    /// The environment, e.g. `Azure VMware Solution`.
    environment: &'static str,
    /// What says so, e.g. `kind AVS`.
    evidence: String,
}

const AVS: &str = "Azure VMware Solution";
const AZURE_LOCAL: &str = "Azure Local (Azure Stack HCI)";
const AZURE_VM: &str = "an Azure VM";

/// Whether `machine` shows any sign of an environment where ESU is free (an Azure VM, Azure
/// Local, AVS): such a machine needs no license linked.
pub(super) fn runs_where_esu_is_free(machine: &Machine) -> bool {
    !free_signals(machine).is_empty()
}

/// Every sign that `machine` runs as an Azure VM, on Azure Local or on AVS.
fn free_signals(machine: &Machine) -> Vec<Signal> {
    let p = &machine.properties;
    let mut signals = Vec::new();
    let mut add = |environment, evidence: String| {
        signals.push(Signal {
            environment,
            evidence,
        })
    };
    if let Some(kind) = present(machine.kind.as_deref()) {
        if kind.eq_ignore_ascii_case("AVS") {
            add(AVS, format!("kind {kind}"));
        } else if ["HCI", "AzureStackHCI", "AzureLocal"]
            .iter()
            .any(|k| kind.eq_ignore_ascii_case(k))
        {
            add(AZURE_LOCAL, format!("kind {kind}"));
        }
    }
    if let Some(cluster) = present(p.parent_cluster_resource_id.as_deref()) {
        add(AZURE_LOCAL, format!("parentClusterResourceId {cluster}"));
    }
    let provider = p
        .cloud_metadata
        .as_ref()
        .and_then(|c| c.provider.as_deref());
    if let Some(provider) = present(provider)
        && provider.eq_ignore_ascii_case("Azure")
    {
        add(AZURE_VM, format!("cloudMetadata.provider {provider}"));
    }
    let detected = &p.detected_properties;
    if let Some(provider) = present(detected.cloud_provider.as_deref())
        && provider.eq_ignore_ascii_case("Azure")
    {
        add(
            AZURE_VM,
            format!("detectedProperties.cloudprovider {provider}"),
        );
    }
    for (field, value) in [
        ("model", detected.model.as_deref()),
        ("manufacturer", detected.manufacturer.as_deref()),
    ] {
        if let Some(value) = present(value) {
            let lower = value.to_ascii_lowercase();
            if lower.contains("azure stack hci") || lower.contains("azure local") {
                add(AZURE_LOCAL, format!("detected {field} {value}"));
            }
        }
    }
    signals
}

/// The environments the signals name, in words: `Azure VMware Solution (kind AVS)`.
fn environments(signals: &[Signal]) -> String {
    let mut names: Vec<&str> = signals.iter().map(|s| s.environment).collect();
    names.dedup();
    names
        .iter()
        .map(|name| {
            let evidence: Vec<&str> = signals
                .iter()
                .filter(|s| s.environment == *name)
                .map(|s| s.evidence.as_str())
                .collect();
            let place = if *name == AZURE_VM { "as" } else { "on" };
            format!("{place} {name} ({})", evidence.join("; "))
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn free_environment(_ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    if matches!(
        s.os,
        OsClass::IneligibleEdition { .. } | OsClass::Outside { .. }
    ) {
        return s.skipped_not_eligible();
    }
    let name = s.name();
    let signals = s.free_signals();
    let evidence: Vec<&str> = signals.iter().map(|s| s.evidence.as_str()).collect();
    if signals.is_empty() {
        let p = &s.machine.properties;
        let provider = present(
            p.cloud_metadata
                .as_ref()
                .and_then(|c| c.provider.as_deref()),
        )
        .or(present(p.detected_properties.cloud_provider.as_deref()));
        return match provider {
            Some(provider) => s
                .diagnostic(
                    Status::Pass,
                    cat!(
                        "machine ",
                        name,
                        " shows no sign of running in Azure, on Azure Local or on Azure VMware \
                         Solution (cloud provider ",
                        provider,
                        ")"
                    ),
                )
                .with_evidence("cloudProvider", provider)
                .with_evidence("kind", s.machine.kind.as_deref()),
            None => s
                .diagnostic(
                    Status::Inconclusive,
                    format!(
                        "machine {name} reports no cloud provider, so whether it runs in Azure \
                         is not known"
                    ),
                )
                .remediation(
                    "make sure the agent is Connected and current (`azcmagent show` lists the \
                     cloud provider), then run esu-preflight again",
                ),
        };
    }
    let places = environments(signals);
    let Some(program) = s.program else {
        return s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "machine {name} runs {places}, but it does not report its OS, so whether its \
                     ESU is free there is not known"
                ),
            )
            .remediation(
                "make sure the agent reports the OS (`azcmagent show`), then run esu-preflight \
                 again",
            )
            .with_evidence("signals", evidence);
    };
    let paid = s.enrolment();
    match program.free_environments {
        FreeEnvironments::Free => match paid {
            Some(paid) => s
                .diagnostic(
                    Status::Fail,
                    format!(
                        "machine {name} runs {places}, where {} ESU is free, but {paid}: its \
                         cores are paid for nothing",
                        program.name
                    ),
                )
                .remediation(format!(
                    "{}; Azure VMs get ESU automatically, Azure VMware Solution through a support \
                     request, Azure Local through Azure VM verification",
                    s.unlink_remediation()
                )),
            None => s.diagnostic(
                Status::Pass,
                format!(
                    "machine {name} runs {places}, where {} ESU is free: it gets ESU without an \
                     Arc license",
                    program.name
                ),
            ),
        },
        FreeEnvironments::Unstated { sources } => s
            .diagnostic(
                Status::Fail,
                format!(
                    "machine {name} runs {places}; Microsoft's {} ESU pages don't say ESU is \
                     free there{}",
                    program.name,
                    paid.map(|p| format!(" ({p})")).unwrap_or_default()
                ),
            )
            .severity(Severity::Info)
            .remediation(format!(
                "confirm with Microsoft or your licensing partner whether {} ESU is free there \
                 before relying on it; until then treat the machine as needing a license \
                 (ESU505). Sources: {sources}",
                program.name
            ))
            .with_evidence("sources", sources),
    }
    .with_evidence("signals", evidence)
}

// ---------------------------------------------------------------------------------------------
// ESU505

/// Where a program stands on `today`: the end of support and billing, in words, and how severe
/// an unlinked machine is.
fn deadline(program: &Program, today: Date) -> (String, Severity) {
    let eos = program.end_of_support;
    let back_billed = program.back_billed_to.map(|d| d.to_string());
    if today < eos {
        let days = (eos - today).whole_days();
        let days = if days == 1 {
            "1 day is".to_owned()
        } else {
            format!("{days} days are")
        };
        let mut text = format!(
            "{days} left before {} leaves support on {eos}",
            program.name
        );
        if program.billing_start > today {
            text.push_str(&format!("; billing starts {}", program.billing_start));
            if let Some(date) = &back_billed {
                text.push_str(&format!(
                    " (licenses provisioned later are back-billed to {date})"
                ));
            }
        }
        (text, Severity::Warning)
    } else {
        let mut text = format!(
            "{} left support on {eos}; it gets no security updates without ESU",
            program.name
        );
        if let Some(date) = &back_billed {
            text.push_str(&format!(
                "; a license provisioned now is back-billed to {date}"
            ));
        }
        (text, Severity::Error)
    }
}

fn linked(ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    if matches!(
        s.os,
        OsClass::IneligibleEdition { .. } | OsClass::Outside { .. }
    ) {
        return s.skipped_not_eligible();
    }
    let name = s.name();
    match s.link {
        Link::Linked(license) => {
            let lname = s.license_name().unwrap_or_default();
            let state = present(license.license.details().state.as_deref());
            let d = match state {
                Some(state) if state.eq_ignore_ascii_case("Activated") => s.diagnostic(
                    Status::Pass,
                    cat!(
                        "machine ",
                        name,
                        " is linked to license ",
                        lname,
                        ", which is Activated"
                    ),
                ),
                Some(state) if state.eq_ignore_ascii_case("Deactivated") => s
                    .diagnostic(
                        Status::Fail,
                        format!(
                            "machine {name} is linked to license {lname}, which is Deactivated: \
                             it receives no ESU"
                        ),
                    )
                    .remediation(format!(
                        "activate the license (billing starts on activation): `az rest --method \
                         patch --url \"{}?api-version={API_VERSION}\" \
                         --body '{{\"properties\": {{\"licenseDetails\": {{\"state\": \
                         \"Activated\"}}}}}}'`, or {}",
                        license.license.id,
                        link_remediation(s)
                    )),
                Some(state) => s
                    .diagnostic(
                        Status::Inconclusive,
                        format!(
                            "machine {name} is linked to license {lname}, whose state {state:?} \
                             is not known to esu-preflight"
                        ),
                    )
                    .remediation(
                        "look at the license in the portal (Azure Arc > Licenses) and make sure \
                         it is Activated",
                    ),
                None => s
                    .diagnostic(
                        Status::Inconclusive,
                        format!(
                            "machine {name} is linked to license {lname}, which does not report \
                             its state"
                        ),
                    )
                    .remediation(
                        "look at the license in the portal (Azure Arc > Licenses) and make sure \
                         it is Activated",
                    ),
            };
            d.with_evidence("licenseId", license.license.id.as_str())
                .with_evidence("licenseState", state)
        }
        Link::Elsewhere(id) => {
            let unreadable: Vec<&str> = ctx
                .snapshot
                .subscriptions
                .iter()
                .filter(|sub| Need::Licenses.unavailable(sub).is_some())
                .map(|sub| sub.subscription_id.as_str())
                .collect();
            let (why, remediation) = if unreadable.is_empty() {
                (
                    "which is not in the snapshot (its subscription is not in this run)".to_owned(),
                    "include the subscription that holds the license in the run (`--subscription \
                     ID`), or look at it with `az resource show --ids LICENSE_ID`",
                )
            } else {
                (
                    format!(
                        "which is not among the licenses read (the licenses of subscription {} \
                         could not be read)",
                        unreadable.join(", ")
                    ),
                    "make the licenses readable (see the inconclusive findings of the license \
                     checks on that subscription), then run esu-preflight again",
                )
            };
            s.diagnostic(
                Status::Inconclusive,
                format!(
                    "machine {name} is linked to license {id}, {why}, so whether it is activated \
                     is not known"
                ),
            )
            .remediation(remediation)
            .with_evidence("unreadableLicenses", unreadable)
        }
        Link::None if s.assigned_unnamed => s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "machine {name} reports an ESU license assigned (licenseAssignmentState \
                     Assigned) but not which one, so whether it is activated is not known"
                ),
            )
            .remediation(format!(
                "look at the machine's license profile (`az rest --method get --url \
                 \"{}/licenseProfiles/default?api-version={API_VERSION}\"`) and make sure the \
                 license it names is Activated",
                s.machine.id
            ))
            .with_evidence("licenseAssignmentState", "Assigned"),
        Link::None => not_linked(ctx, s),
    }
}

/// How to link the machine to a license.
fn link_remediation(s: &Scoped<'_>) -> String {
    format!(
        "link it to an activated license of its program: in the portal, Azure Arc > Windows \
         Server ESUs > Eligible resources, or `az rest --method put --url \
         \"{}/licenseProfiles/default?api-version={API_VERSION}\" \
         --body '{{\"location\": \"{}\", \"properties\": {{\"esuProfile\": {{\"assignedLicense\": \
         \"LICENSE_ID\"}}}}}}'`",
        s.machine.id,
        s.machine.location.as_deref().unwrap_or("REGION")
    )
}

/// ESU505 on a machine with no license linked.
fn not_linked(ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    let name = s.name();
    if !s.planned.is_empty() {
        let activated: Vec<&str> = s
            .planned
            .iter()
            .filter(|p| p.state.trim().eq_ignore_ascii_case("Activated"))
            .map(|p| p.name.as_str())
            .collect();
        return if activated.is_empty() {
            s.diagnostic(
                Status::Fail,
                format!(
                    "machine {name} is not linked; the plan links it to {}, which the plan \
                     creates Deactivated: it will receive no ESU",
                    s.planned_names()
                ),
            )
            .remediation("set `state = \"Activated\"` on the planned license, or activate it later")
        } else {
            s.diagnostic(
                Status::Pass,
                format!(
                    "machine {name} is not linked yet; the plan links it to {}",
                    activated.join(", ")
                ),
            )
        };
    }
    let Some(program) = s.program else {
        return s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "machine {name} has no ESU license linked, and it does not report its OS, so \
                     whether it needs one is not known"
                ),
            )
            .remediation(
                "make sure the agent reports the OS (`azcmagent show`), then run esu-preflight \
                 again",
            );
    };
    let today = ctx.now.to_offset(UtcOffset::UTC).date();
    let (when, severity) = deadline(program, today);
    let signals = s.free_signals();
    if !signals.is_empty() {
        let places = environments(signals);
        return match program.free_environments {
            FreeEnvironments::Free => s.diagnostic(
                Status::Pass,
                format!(
                    "machine {name} has no ESU license linked, and needs none: it runs {places}, \
                     where {} ESU is free (ESU504)",
                    program.name
                ),
            ),
            _ => s
                .diagnostic(
                    Status::Fail,
                    format!(
                        "machine {name} has no ESU license linked; it runs {places}, where \
                         Microsoft's {} ESU pages don't say ESU is free (ESU504): {when}",
                        program.name
                    ),
                )
                .severity(Severity::Info)
                .remediation(format!(
                    "confirm whether ESU is free there (ESU504); if it is not, \
                     {}",
                    link_remediation(s)
                ))
                .with_evidence("endOfSupport", program.end_of_support.to_string())
                .with_evidence("billingStart", program.billing_start.to_string())
                .with_evidence("today", today.to_string()),
        };
    }
    s.diagnostic(
        Status::Fail,
        format!("machine {name} has no ESU license linked: {when}"),
    )
    .severity(severity)
    .remediation(link_remediation(s))
    .with_evidence("endOfSupport", program.end_of_support.to_string())
    .with_evidence("billingStart", program.billing_start.to_string())
    .with_evidence("today", today.to_string())
}

// ---------------------------------------------------------------------------------------------
// ESU506

fn service_eligibility(_ctx: &CheckCtx<'_>, s: &Scoped<'_>) -> Diagnostic {
    if s.never_enrolls() {
        return s.skipped_not_eligible();
    }
    let name = s.name();
    let reported = present(
        s.machine
            .esu_profile()
            .and_then(|e| e.esu_eligibility.as_deref()),
    );
    let remediation = "make sure the machine is Connected with a current agent (ESU501, ESU502) \
                       and runs an eligible OS (ESU503); run `azcmagent show` on it and check \
                       again after its next status report (up to an hour); if it stays so, open \
                       a support request with Azure Arc";
    match reported {
        None => s
            .diagnostic(
                Status::Inconclusive,
                format!("machine {name} does not report the ESU service's eligibility"),
            )
            .remediation(
                "make sure the agent is Connected and current (`azcmagent show`), then run \
                 esu-preflight again",
            ),
        Some(value) if value.eq_ignore_ascii_case("Eligible") => s.diagnostic(
            Status::Pass,
            cat!("the ESU service reports machine ", name, " as Eligible"),
        ),
        Some(value) if value.eq_ignore_ascii_case("Ineligible") => s
            .diagnostic(
                Status::Fail,
                format!("the ESU service reports machine {name} as Ineligible"),
            )
            .remediation(remediation),
        Some(value) if value.eq_ignore_ascii_case("Unknown") => s
            .diagnostic(
                Status::Fail,
                format!(
                    "the ESU service has not decided whether machine {name} is eligible \
                     (Unknown): the agent may not have reported what it needs yet"
                ),
            )
            .remediation(remediation),
        Some(value) => s
            .diagnostic(
                Status::Inconclusive,
                format!(
                    "the ESU service reports machine {name} as {value:?}, a value esu-preflight \
                     does not know"
                ),
            )
            .remediation(remediation),
    }
    .with_evidence("esuEligibility", reported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{self, Fixture, SUB};
    use crate::plan::{LicensePlan, PlannedLicense};
    use serde_json::Value;
    use time::macros::datetime;

    const CHECKS: [&dyn Check; 6] = [
        &MachineNotConnected,
        &AgentTooOld,
        &OsNotEligible,
        &EsuFreeEnvironment,
        &MachineNotLinked,
        &ServiceReportsIneligible,
    ];

    /// The findings of every machine check.
    fn run_all(fixture: &Fixture) -> Vec<Finding> {
        CHECKS
            .iter()
            .flat_map(|check| testkit::run(*check, fixture))
            .collect()
    }

    /// The findings of every machine check, restricted to `program`.
    fn run_program(fixture: &Fixture, program: &'static Program) -> Vec<Finding> {
        let (snapshot, config) = fixture.build();
        testkit::run_on(
            &CHECKS,
            &snapshot,
            &config,
            &fixture.plan,
            fixture.now,
            Some(program),
        )
    }

    /// The one finding of check `id` on the machine named `name`.
    fn one<'f>(findings: &'f [Finding], id: &str, name: &str) -> &'f Finding {
        let found: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.check_id == id && f.resource_id.ends_with(&format!("/{name}")))
            .collect();
        assert_eq!(found.len(), 1, "{id} on {name}: {findings:#?}");
        found[0]
    }

    fn status(findings: &[Finding], id: &str, name: &str) -> (Status, Severity) {
        let f = one(findings, id, name);
        (f.status, f.severity)
    }

    /// A Windows Server 2016 Datacenter machine on agent `agent`, ESU eligible, not linked.
    fn ws2016(name: &str, agent: &str) -> Value {
        let mut m = testkit::machine_json(name);
        let p = &mut m["properties"];
        p["osSku"] = json!("Windows Server 2016 Datacenter");
        p["osName"] = json!("Windows Server 2016 Datacenter");
        p["osVersion"] = json!("10.0.14393.7428");
        p["agentVersion"] = json!(agent);
        m
    }

    /// A Windows Server 2016 Datacenter pCore license.
    fn license_2016(name: &str) -> Value {
        let mut l = testkit::license_json(name);
        l["properties"]["licenseDetails"]["target"] = json!("Windows Server 2016");
        l
    }

    fn ws2019(name: &str) -> Value {
        let mut m = testkit::machine_json(name);
        m["properties"]["osSku"] = json!("Windows Server 2019 Datacenter");
        m["properties"]["osVersion"] = json!("10.0.17763.6532");
        m["properties"]["licenseProfile"]["esuProfile"]["esuEligibility"] = json!("Ineligible");
        m
    }

    fn azure_vm(mut m: Value) -> Value {
        m["properties"]["detectedProperties"]["cloudprovider"] = json!("Azure");
        m
    }

    fn planned(name: &str, machines: &[&str], state: &str) -> PlannedLicense {
        PlannedLicense {
            name: name.to_owned(),
            subscription: None,
            resource_group: "rg-esu".to_owned(),
            location: "eastus".to_owned(),
            target: "Windows Server 2012 R2".to_owned(),
            edition: "Datacenter".to_owned(),
            license_type: "pCore".to_owned(),
            processors: 16,
            state: state.to_owned(),
            machines: machines
                .iter()
                .map(|m| {
                    format!(
                        "/subscriptions/{SUB}/resourceGroups/rg-arc/providers/\
                         Microsoft.HybridCompute/machines/{m}"
                    )
                })
                .collect(),
        }
    }

    /// Eligible machines of both programs, linked to activated licenses: nothing to report.
    fn healthy() -> Fixture {
        let l12 = testkit::license_json("esu-2012");
        let l16 = license_2016("esu-2016");
        let mut m12 = testkit::machine_json("srv-12");
        testkit::link(&mut m12, &l12);
        let mut m16 = ws2016("srv-16", "1.62.03211.2000");
        testkit::link(&mut m16, &l16);
        Fixture::healthy()
            .license(l12)
            .license(l16)
            .machine(m12)
            .machine(m16)
    }

    #[test]
    fn esu50x_healthy_fixture_passes_every_check() {
        let findings = run_all(&healthy());
        assert_eq!(findings.len(), 12, "{findings:#?}");
        for f in &findings {
            assert_eq!(f.status, Status::Pass, "{f:#?}");
            assert!(f.remediation.is_empty(), "{f:#?}");
            assert!(f.evidence.is_object(), "{f:#?}");
            assert!(!f.message.ends_with('.'), "{}", f.message);
            assert!(f.message.starts_with(char::is_lowercase), "{}", f.message);
        }
        assert_eq!(
            one(&findings, "ESU502", "srv-16").program.as_deref(),
            Some("ws2016")
        );
        assert_eq!(
            one(&findings, "ESU502", "srv-12").program.as_deref(),
            Some("ws2012")
        );
        // No machines at all: nothing to say.
        assert!(run_all(&Fixture::healthy()).is_empty());
    }

    #[test]
    fn esu501_disconnected_and_expired_fail_saying_since_when() {
        let mut down = testkit::machine_json("srv-down");
        down["properties"]["status"] = json!("Disconnected");
        down["properties"]["lastStatusChange"] = json!("2026-11-20T08:00:00.1234567Z");
        let mut expired = testkit::machine_json("srv-exp");
        expired["properties"]["status"] = json!("Expired");
        expired["properties"]["lastStatusChange"] = Value::Null;
        let mut unknown = testkit::machine_json("srv-null");
        unknown["properties"]["status"] = Value::Null;
        let fixture = Fixture::healthy()
            .machine(down)
            .machine(expired)
            .machine(unknown)
            .machine(testkit::machine_json("srv-ok"));
        let findings = testkit::run(&MachineNotConnected, &fixture);
        let f = one(&findings, "ESU501", "srv-down");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            f.message,
            "machine srv-down is Disconnected since 2026-11-20 08:00 UTC (9 days ago): ESU is \
             delivered only to Connected machines"
        );
        assert!(f.remediation.contains("azcmagent check"));
        let f = one(&findings, "ESU501", "srv-exp");
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message
                .contains("Expired (when it changed is not reported)")
        );
        assert!(f.remediation.contains("azcmagent connect"));
        assert_eq!(
            status(&findings, "ESU501", "srv-null").0,
            Status::Inconclusive
        );
        assert_eq!(status(&findings, "ESU501", "srv-ok").0, Status::Pass);
    }

    #[test]
    fn esu501_an_unknown_status_is_inconclusive_not_a_failure() {
        let mut m = testkit::machine_json("srv-odd");
        m["properties"]["status"] = json!("Upgrading");
        let mut down = testkit::machine_json("srv-down");
        down["properties"]["status"] = json!("disconnected");
        let findings = testkit::run(
            &MachineNotConnected,
            &Fixture::healthy().machine(m).machine(down),
        );
        let f = one(&findings, "ESU501", "srv-odd");
        assert_eq!(f.status, Status::Inconclusive, "{f:#?}");
        assert!(
            f.message
                .contains("\"Upgrading\", a value esu-preflight does not know"),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("azcmagent show"));
        // The documented statuses still fail, whatever their case.
        assert_eq!(status(&findings, "ESU501", "srv-down").0, Status::Fail);
    }

    #[test]
    fn esu501_error_status_and_offsets() {
        let mut m = testkit::machine_json("srv-err");
        m["properties"]["status"] = json!("Error");
        m["properties"]["lastStatusChange"] = json!("2026-11-29T13:00:00+03:00");
        let findings = testkit::run(&MachineNotConnected, &Fixture::healthy().machine(m));
        let f = one(&findings, "ESU501", "srv-err");
        assert!(
            f.message
                .contains("since 2026-11-29 10:00 UTC (2 hours ago)"),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("azcmagent logs"));
    }

    #[test]
    fn rfc3339_times_are_read_as_arm_writes_them() {
        let at = |s| parse_rfc3339(s).map(format_utc);
        assert_eq!(at("2026-11-20T08:00:00Z").unwrap(), "2026-11-20 08:00 UTC");
        assert_eq!(
            at("2026-11-20T08:00:00.5-01:30").unwrap(),
            "2026-11-20 09:30 UTC"
        );
        assert_eq!(at("2026-11-20T08:00:00").unwrap(), "2026-11-20 08:00 UTC");
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-20T08:00:00Q",
            "+026-11-20T08:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(ago(time::Duration::minutes(-1)), None);
        assert_eq!(ago(time::Duration::days(1)).unwrap(), "1 day ago");
    }

    #[test]
    fn esu502_compares_versions_with_the_programs_minimum() {
        let mut old = testkit::machine_json("srv-133");
        old["properties"]["agentVersion"] = json!("1.33.02399.1041");
        let mut nine = testkit::machine_json("srv-19");
        nine["properties"]["agentVersion"] = json!("1.9");
        let mut null = testkit::machine_json("srv-null");
        null["properties"]["agentVersion"] = Value::Null;
        let mut odd = testkit::machine_json("srv-odd");
        odd["properties"]["agentVersion"] = json!("latest");
        let fixture = Fixture::healthy()
            .machine(old)
            .machine(nine)
            .machine(null)
            .machine(odd)
            .machine(ws2016("srv-161", "1.61.0"))
            .machine(ws2016("srv-162", "1.62"))
            .machine(testkit::machine_json("srv-134"))
            .machine(ws2019("srv-2019"));
        let findings = testkit::run(&AgentTooOld, &fixture);
        let f = one(&findings, "ESU502", "srv-133");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            f.message,
            "agent 1.33.02399.1041 on machine srv-133 is older than 1.34, the minimum for \
             Windows Server 2012 / 2012 R2 ESU"
        );
        assert_eq!(f.program.as_deref(), Some("ws2012"));
        assert_eq!(status(&findings, "ESU502", "srv-19").0, Status::Fail);
        let f = one(&findings, "ESU502", "srv-161");
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("older than 1.62"), "{}", f.message);
        assert!(f.remediation.contains("1.62 or later"));
        assert_eq!(f.program.as_deref(), Some("ws2016"));
        assert_eq!(status(&findings, "ESU502", "srv-162").0, Status::Pass);
        assert_eq!(status(&findings, "ESU502", "srv-134").0, Status::Pass);
        assert_eq!(
            status(&findings, "ESU502", "srv-null").0,
            Status::Inconclusive
        );
        assert_eq!(
            status(&findings, "ESU502", "srv-odd").0,
            Status::Inconclusive
        );
        let f = one(&findings, "ESU502", "srv-2019");
        assert_eq!(f.status, Status::Skipped);
        assert!(
            f.message.contains("outside every ESU program"),
            "{}",
            f.message
        );
        assert_eq!(f.program, None);
    }

    #[test]
    fn esu503_os_eligibility() {
        let license = testkit::license_json("esu-dc");
        let mut upgraded = ws2019("srv-upgraded");
        testkit::link(&mut upgraded, &license);
        let mut storage = testkit::machine_json("srv-storage");
        storage["properties"]["osSku"] = json!("Windows Storage Server 2012 R2 Standard");
        let mut storage_linked = storage.clone();
        storage_linked["name"] = json!("srv-storage-linked");
        storage_linked["id"] = json!(format!(
            "/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/\
             machines/srv-storage-linked"
        ));
        testkit::link(&mut storage_linked, &license);
        let mut unknown = testkit::machine_json("srv-unknown");
        unknown["properties"]["osSku"] = Value::Null;
        unknown["properties"]["osName"] = Value::Null;
        let fixture = Fixture::healthy()
            .license(license)
            .machine(upgraded)
            .machine(storage)
            .machine(storage_linked)
            .machine(unknown)
            .machine(ws2019("srv-2019"))
            .machine(testkit::machine_json("srv-ok"));
        let findings = testkit::run(&OsNotEligible, &fixture);
        let f = one(&findings, "ESU503", "srv-upgraded");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(
            f.message
                .contains("which no ESU program covers, but it is linked to license esu-dc"),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("\"assignedLicense\": \"\""));
        assert_eq!(f.program.as_deref(), Some("ws2012"));
        assert_eq!(
            status(&findings, "ESU503", "srv-storage"),
            (Status::Fail, Severity::Info)
        );
        assert_eq!(
            status(&findings, "ESU503", "srv-storage-linked"),
            (Status::Fail, Severity::Error)
        );
        assert_eq!(
            status(&findings, "ESU503", "srv-unknown").0,
            Status::Inconclusive
        );
        let f = one(&findings, "ESU503", "srv-2019");
        assert_eq!(f.status, Status::Skipped);
        assert!(f.message.contains("Windows Server 2019 Datacenter"));
        assert_eq!(status(&findings, "ESU503", "srv-ok").0, Status::Pass);
    }

    #[test]
    fn esu504_free_environments_by_program() {
        let license = testkit::license_json("esu-dc");
        let mut avs = testkit::machine_json("avs-01");
        avs["kind"] = json!("avs");
        testkit::link(&mut avs, &license);
        let mut hci = testkit::machine_json("hci-01");
        hci["properties"]["parentClusterResourceId"] = json!(
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.AzureStackHCI/clusters/c1"
        );
        let mut hci_kind = testkit::machine_json("hci-02");
        hci_kind["kind"] = json!("AzureLocal");
        let mut no_cloud = testkit::machine_json("srv-nocloud");
        no_cloud["properties"]["detectedProperties"] = json!({ "model": "Virtual Machine" });
        let fixture = Fixture::healthy()
            .license(license)
            .machine(avs)
            .machine(hci)
            .machine(hci_kind)
            .machine(azure_vm(testkit::machine_json("azvm-12")))
            .machine(azure_vm(ws2016("azvm-16", "1.62")))
            .machine(no_cloud)
            .machine(testkit::machine_json("srv-hyperv"))
            .machine(ws2019("srv-2019"));
        let findings = testkit::run(&EsuFreeEnvironment, &fixture);
        let f = one(&findings, "ESU504", "avs-01");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
        assert!(
            f.message.contains("on Azure VMware Solution (kind avs)")
                && f.message.contains("linked to license esu-dc"),
            "{}",
            f.message
        );
        let f = one(&findings, "ESU504", "hci-01");
        assert_eq!(f.status, Status::Pass);
        assert!(f.message.contains("gets ESU without an Arc license"));
        assert_eq!(status(&findings, "ESU504", "hci-02").0, Status::Pass);
        let f = one(&findings, "ESU504", "azvm-12");
        assert_eq!(f.status, Status::Pass);
        assert!(f.message.contains("as an Azure VM"), "{}", f.message);
        let f = one(&findings, "ESU504", "azvm-16");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Info));
        assert!(f.message.contains("don't say ESU is free there"));
        assert!(f.remediation.contains("license-extended-security-updates"));
        assert!(f.evidence.value()["sources"].is_string());
        assert_eq!(f.program.as_deref(), Some("ws2016"));
        assert_eq!(
            status(&findings, "ESU504", "srv-nocloud").0,
            Status::Inconclusive
        );
        // "Virtual Machine" alone is Hyper-V anywhere.
        assert_eq!(status(&findings, "ESU504", "srv-hyperv").0, Status::Pass);
        assert_eq!(status(&findings, "ESU504", "srv-2019").0, Status::Skipped);
    }

    #[test]
    fn azure_hci_avs_and_2019_machines_are_not_failed() {
        let mut avs = testkit::machine_json("avs-01");
        avs["kind"] = json!("AVS");
        let mut hci = testkit::machine_json("hci-01");
        hci["kind"] = json!("HCI");
        let fixture = Fixture::healthy()
            .machine(avs)
            .machine(hci)
            .machine(azure_vm(testkit::machine_json("azvm-01")))
            .machine(ws2019("srv-2019"));
        let findings = run_all(&fixture);
        assert_eq!(findings.len(), 24);
        for f in findings {
            assert!(matches!(f.status, Status::Pass | Status::Skipped), "{f:#?}");
        }
    }

    #[test]
    fn esu505_links_and_license_states() {
        let active = testkit::license_json("esu-on");
        let mut off = testkit::license_json("esu-off");
        off["properties"]["licenseDetails"]["state"] = json!("Deactivated");
        let mut no_state = testkit::license_json("esu-nostate");
        no_state["properties"]["licenseDetails"]["state"] = Value::Null;
        let mut on = testkit::machine_json("srv-on");
        testkit::link(&mut on, &active);
        let mut dark = testkit::machine_json("srv-off");
        testkit::link(&mut dark, &off);
        let mut unsure = testkit::machine_json("srv-nostate");
        testkit::link(&mut unsure, &no_state);
        let mut elsewhere = testkit::machine_json("srv-elsewhere");
        elsewhere["properties"]["licenseProfile"]["esuProfile"]["assignedLicenseImmutableId"] =
            json!("imm-in-another-subscription");
        let mut free = azure_vm(testkit::machine_json("azvm-12"));
        free["properties"]["licenseProfile"]["esuProfile"]["esuEligibility"] = json!("Ineligible");
        let fixture = Fixture::healthy()
            .license(active)
            .license(off)
            .license(no_state)
            .machine(on)
            .machine(dark)
            .machine(unsure)
            .machine(elsewhere)
            .machine(free)
            .machine(testkit::machine_json("srv-unlinked"))
            .machine(ws2019("srv-2019"));
        let findings = testkit::run(&MachineNotLinked, &fixture);
        assert_eq!(status(&findings, "ESU505", "srv-on").0, Status::Pass);
        let f = one(&findings, "ESU505", "srv-off");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(f.message.contains("which is Deactivated"));
        assert!(f.remediation.contains("\"state\": \"Activated\""));
        assert_eq!(
            status(&findings, "ESU505", "srv-nostate").0,
            Status::Inconclusive
        );
        let f = one(&findings, "ESU505", "srv-elsewhere");
        assert_eq!(f.status, Status::Inconclusive);
        assert!(f.message.contains("imm-in-another-subscription"));
        assert_eq!(status(&findings, "ESU505", "azvm-12").0, Status::Pass);
        // Windows Server 2012 left support long ago: an unlinked machine is an error.
        let f = one(&findings, "ESU505", "srv-unlinked");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(
            f.message.contains("left support on 2023-10-10"),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("licenseProfiles/default"));
        assert_eq!(status(&findings, "ESU505", "srv-2019").0, Status::Skipped);
    }

    #[test]
    fn esu505_ws2016_dates_through_the_clock() {
        let fixture = Fixture::healthy()
            .machine(ws2016("srv-16", "1.62"))
            .machine(azure_vm(ws2016("azvm-16", "1.62")));
        let findings = testkit::run(&MachineNotLinked, &fixture);
        let f = one(&findings, "ESU505", "srv-16");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warning));
        assert_eq!(
            f.message,
            "machine srv-16 has no ESU license linked: 44 days are left before Windows Server \
             2016 leaves support on 2027-01-12; billing starts 2027-01-13 (licenses provisioned \
             later are back-billed to 2027-01-12)"
        );
        assert_eq!(f.program.as_deref(), Some("ws2016"));
        // In Azure: info, never a failure, still with the dates.
        let f = one(&findings, "ESU505", "azvm-16");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Info));
        assert!(f.message.contains("44 days are left"), "{}", f.message);

        let mut eve = fixture.clone();
        eve.now = datetime!(2027-01-11 23:59 UTC);
        let f = testkit::run(&MachineNotLinked, &eve);
        let f = one(&f, "ESU505", "srv-16");
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.message.contains("1 day is left"), "{}", f.message);

        let mut day = fixture.clone();
        day.now = datetime!(2027-01-12 00:00 UTC);
        let f = testkit::run(&MachineNotLinked, &day);
        let f = one(&f, "ESU505", "srv-16");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert_eq!(
            f.message,
            "machine srv-16 has no ESU license linked: Windows Server 2016 left support on \
             2027-01-12; it gets no security updates without ESU; a license provisioned now is \
             back-billed to 2027-01-12"
        );
    }

    #[test]
    fn esu505_planned_machines() {
        let mut fixture = Fixture::healthy()
            .machine(testkit::machine_json("srv-planned"))
            .machine(testkit::machine_json("srv-dark"))
            .machine(testkit::machine_json("srv-other"))
            .machine(ws2019("srv-2019"));
        fixture.plan = LicensePlan {
            licenses: vec![
                planned("esu-new", &["srv-planned"], "Activated"),
                planned("esu-later", &["srv-dark"], "Deactivated"),
            ],
            mak_keys: Vec::new(),
        };
        let findings = testkit::run(&MachineNotLinked, &fixture);
        let f = one(&findings, "ESU505", "srv-planned");
        assert_eq!(f.status, Status::Pass);
        assert!(f.message.contains("the plan links it to esu-new"));
        assert_eq!(status(&findings, "ESU505", "srv-dark").0, Status::Fail);
        // With a plan, machines neither planned nor linked are not reported.
        assert_eq!(findings.len(), 2, "{findings:#?}");
    }

    #[test]
    fn esu506_the_services_own_verdict() {
        let mut unknown = testkit::machine_json("srv-unknown");
        unknown["properties"]["licenseProfile"]["esuProfile"]["esuEligibility"] = json!("Unknown");
        let mut ineligible = testkit::machine_json("srv-no");
        ineligible["properties"]["licenseProfile"]["esuProfile"]["esuEligibility"] =
            json!("Ineligible");
        let mut absent = testkit::machine_json("srv-absent");
        absent["properties"]["licenseProfile"] = Value::Null;
        let fixture = Fixture::healthy()
            .machine(unknown)
            .machine(ineligible)
            .machine(absent)
            .machine(testkit::machine_json("srv-ok"))
            .machine(ws2019("srv-2019"));
        let findings = testkit::run(&ServiceReportsIneligible, &fixture);
        assert_eq!(
            status(&findings, "ESU506", "srv-no"),
            (Status::Fail, Severity::Warning)
        );
        assert_eq!(
            status(&findings, "ESU506", "srv-unknown"),
            (Status::Fail, Severity::Warning)
        );
        assert_eq!(
            status(&findings, "ESU506", "srv-absent").0,
            Status::Inconclusive
        );
        assert_eq!(status(&findings, "ESU506", "srv-ok").0, Status::Pass);
        assert_eq!(status(&findings, "ESU506", "srv-2019").0, Status::Skipped);
    }

    #[test]
    fn esu50x_unreadable_machine_list_is_inconclusive_on_the_subscription() {
        let unreadable = Fixture::healthy()
            .machines_unavailable(testkit::forbidden("Microsoft.HybridCompute/machines/read"));
        let findings = run_all(&unreadable);
        assert_eq!(findings.len(), 6);
        for f in &findings {
            assert_eq!(f.status, Status::Inconclusive);
            assert_eq!(*f.resource_id, format!("/subscriptions/{SUB}"));
            assert!(
                f.message.contains("Microsoft.HybridCompute/machines/read"),
                "{}",
                f.message
            );
        }
        let findings = run_all(&Fixture::healthy().without_hybrid_compute());
        assert_eq!(findings.len(), 6);
        for f in &findings {
            assert_eq!(f.status, Status::Inconclusive);
            assert_eq!(
                f.message,
                "could not read the subscription's Arc-enabled machines: the snapshot was taken \
                 without Arc machines (by an older esu-preflight); take it again"
            );
            assert!(f.remediation.contains("esu-preflight snapshot"));
        }
    }

    #[test]
    fn esu50x_an_unreadable_machine_is_inconclusive_and_the_others_still_run() {
        let id = format!(
            "/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/\
             machines/srv-bad"
        );
        let fixture = Fixture::healthy()
            .machine(json!({ "id": id, "esu_preflight_invalid": "invalid type: integer" }))
            .machine(testkit::machine_json("srv-ok"));
        let findings = run_all(&fixture);
        assert_eq!(findings.len(), 12);
        for check in ["ESU501", "ESU502", "ESU503", "ESU504", "ESU505", "ESU506"] {
            let f = one(&findings, check, "srv-bad");
            assert_eq!(f.status, Status::Inconclusive);
            assert_eq!(
                f.message,
                format!("could not read machine {id}: invalid type: integer")
            );
            assert!(!f.remediation.is_empty());
        }
    }

    #[test]
    fn esu50x_program_filter_leaves_other_programs_out() {
        let fixture = Fixture::healthy()
            .machine(testkit::machine_json("srv-12"))
            .machine(ws2016("srv-16", "1.61"))
            .machine(ws2019("srv-2019"));
        let findings = run_program(&fixture, &programs::WS2016);
        assert_eq!(findings.len(), 6);
        assert!(
            findings
                .iter()
                .all(|f| f.resource_id.ends_with("/srv-16")
                    && f.program.as_deref() == Some("ws2016"))
        );
        let findings = run_program(&fixture, &programs::WS2012);
        assert!(findings.iter().all(|f| f.resource_id.ends_with("/srv-12")));
    }

    #[test]
    fn esu50x_an_ineligible_edition_not_enrolled_is_only_reported_by_esu503() {
        let mut storage = testkit::machine_json("srv-storage");
        storage["properties"]["osSku"] = json!("Windows Storage Server 2012 R2 Standard");
        storage["properties"]["status"] = json!("Disconnected");
        storage["properties"]["agentVersion"] = json!("1.20");
        let findings = run_all(&Fixture::healthy().machine(storage.clone()));
        for f in &findings {
            let expected = if f.check_id == "ESU503" {
                (Status::Fail, Severity::Info)
            } else {
                (Status::Skipped, f.severity)
            };
            assert_eq!((f.status, f.severity), expected, "{f:#?}");
        }
        let license = testkit::license_json("esu-dc");
        testkit::link(&mut storage, &license);
        let findings = run_all(&Fixture::healthy().license(license).machine(storage));
        assert_eq!(status(&findings, "ESU501", "srv-storage").0, Status::Fail);
        assert_eq!(status(&findings, "ESU502", "srv-storage").0, Status::Fail);
        assert_eq!(
            status(&findings, "ESU503", "srv-storage"),
            (Status::Fail, Severity::Error)
        );
        assert_eq!(
            status(&findings, "ESU505", "srv-storage").0,
            Status::Skipped
        );
    }

    #[test]
    fn esu505_linked_license_unreadable_is_inconclusive_naming_why() {
        let license = testkit::license_json("esu-dc");
        let mut m = testkit::machine_json("srv-01");
        testkit::link(&mut m, &license);
        let fixture = Fixture::healthy()
            .licenses_unavailable(testkit::server_error())
            .machine(m);
        let findings = testkit::run(&MachineNotLinked, &fixture);
        let f = one(&findings, "ESU505", "srv-01");
        assert_eq!(f.status, Status::Inconclusive);
        assert!(
            f.message.contains("imm-esu-dc")
                && f.message.contains(&format!(
                    "the licenses of subscription {SUB} could not be read"
                )),
            "{}",
            f.message
        );
    }

    #[test]
    fn esu501_a_planned_machine_that_does_not_exist_fails() {
        let mut fixture = Fixture::healthy().machine(testkit::machine_json("srv-01"));
        fixture.plan = LicensePlan {
            licenses: vec![planned(
                "esu-new",
                &["srv-01", "srv-typo", "SRV-TYPO"],
                "Activated",
            )],
            mak_keys: Vec::new(),
        };
        let findings = testkit::run(&MachineNotConnected, &fixture);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert_eq!(status(&findings, "ESU501", "srv-01").0, Status::Pass);
        let f = one(&findings, "ESU501", "srv-typo");
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Error));
        assert!(
            f.message
                .contains("which the plan links to esu-new, was not found")
        );
        // Named like every other machine finding (the id is the finding's resource), and the
        // listing command looks in the subscription the finding is about.
        assert!(
            f.message.starts_with("machine srv-typo, which"),
            "{}",
            f.message
        );
        assert!(
            f.remediation.contains(&format!(
                "az connectedmachine list --subscription {} --query",
                f.subscription_id
            )),
            "{}",
            f.remediation
        );
        assert_eq!(f.program.as_deref(), Some("ws2012"));
    }

    #[test]
    fn esu50x_the_real_payloads_never_pass_what_they_do_not_report() {
        for path in [
            "hybridcompute/Machines_ListBySubscription.json",
            "hybridcompute/2026-09-01/Machines_ListBySubscription.json",
        ] {
            let list = testkit::fixture(path)["responses"]["200"]["body"]["value"].clone();
            let mut fixture = Fixture::healthy();
            for machine in list.as_array().unwrap() {
                fixture = fixture.machine(machine.clone());
            }
            let findings = run_all(&fixture);
            assert_eq!(findings.len(), 12, "{path}: {findings:#?}");
            for f in &findings {
                let expected = match &*f.check_id {
                    // "Virtual Machine" / cloud provider N/A: no signal; a parent cluster on a
                    // machine that reports no OS: not known.
                    "ESU504" if f.resource_id.ends_with("/myMachine2") => Status::Inconclusive,
                    "ESU504" => Status::Pass,
                    "ESU506" => Status::Fail,
                    // No status, agent or OS; "Assigned" without naming the license.
                    _ => Status::Inconclusive,
                };
                assert_eq!(f.status, expected, "{path}: {f:#?}");
            }
            assert!(
                findings
                    .iter()
                    .any(|f| f.check_id == "ESU505" && f.message.contains("licenseAssignmentState"))
            );
        }
    }

    #[test]
    fn esu50x_docs_are_complete() {
        for check in CHECKS {
            let info = check.info();
            assert!(info.id.starts_with("ESU50"));
            let docs = info.render_docs();
            assert!(docs.contains("## Example finding"), "{docs}");
            assert_eq!(check.needs(), &[Need::Machines]);
        }
        assert!(
            INFO_504
                .docs
                .why_it_matters
                .contains("https://learn.microsoft.com")
        );
    }
}
