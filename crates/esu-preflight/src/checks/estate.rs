//! The estate: every ESU license and Arc machine of the snapshot, indexed once per evaluation,
//! with the links between them — across subscriptions (a license in one subscription may be
//! linked to machines in others of the same tenant).

use crate::models::{Item, License, Machine};
use crate::plan::{LicensePlan, PlannedLicense};
use crate::programs::{self, OsClass};
use crate::snapshot::Snapshot;
use std::cell::OnceCell;
use std::ops::Range;

/// The estate's maps by (lower-case) id.
type IdMap<V> = crate::FastMap<String, V>;

/// A license and where it lives.
#[derive(Debug, Clone, Copy)]
pub struct LicenseRef<'a> {
    /// Its index in the estate.
    pub index: usize,
    /// The subscription that holds it.
    pub subscription_id: &'a str,
    /// The license.
    pub license: &'a License,
}

/// A machine and where it lives.
#[derive(Debug, Clone, Copy)]
pub struct MachineRef<'a> {
    /// Its index in the estate.
    pub index: usize,
    /// The subscription that holds it.
    pub subscription_id: &'a str,
    /// The machine.
    pub machine: &'a Machine,
}

/// What a machine's ESU profile says it is linked to.
#[derive(Debug, Clone, Copy)]
pub enum Link<'a> {
    /// No license is linked.
    None,
    /// Linked to this license, read in the snapshot.
    Linked(LicenseRef<'a>),
    /// Linked to a license the snapshot does not hold (another subscription, not in scope):
    /// its ARM id or immutable id, as the machine reports it.
    Elsewhere(&'a str),
}

/// The items of a list fact that were read (none when the list was not).
fn read_items<T>(fact: &Option<crate::snapshot::Fact<Vec<Item<T>>>>) -> impl Iterator<Item = &T> {
    fact.as_ref()
        .and_then(|f| f.value())
        .into_iter()
        .flatten()
        .filter_map(Item::read)
}

/// How many items a list fact holds (none when it was not read).
fn count<T>(fact: &Option<crate::snapshot::Fact<Vec<Item<T>>>>) -> usize {
    fact.as_ref().and_then(|f| f.value()).map_or(0, Vec::len)
}

/// Every license and machine of a snapshot, and how they are linked.
#[derive(Debug)]
pub struct Estate<'a> {
    licenses: Vec<LicenseRef<'a>>,
    machines: Vec<MachineRef<'a>>,
    links: Vec<Link<'a>>,
    linked: Vec<Vec<usize>>,
    by_machine_id: IdMap<usize>,
    by_license_id: IdMap<usize>,
    planned_links: IdMap<Vec<&'a PlannedLicense>>,
    /// `--resource-group`: the groups the run is narrowed to (lower-case); empty: all.
    resource_groups: Vec<String>,
    /// What the policy assignments do to each planned or hypothetical resource, worked out once
    /// per run and shared by ESU301–ESU305 (each reads the same evaluations).
    pub(crate) policy_evaluations: super::policy_checks::EvaluationMemo<'a>,
    /// Per subscription id (lower-case): where its licenses and machines are in `licenses` and
    /// `machines` (one range per subscription entry of the snapshot with that id, in order).
    by_subscription: IdMap<Holdings>,
    /// Each machine's OS class ([`Estate::os`]), worked out when first asked for.
    os: Vec<OnceCell<OsClass>>,
    /// The machines each subscription's machine checks report on, and what is known about
    /// each, worked out once per run and shared by ESU501–ESU506 and ESU202.
    pub(crate) machine_subjects: super::machines::SubjectMemo<'a>,
    /// What machine data the snapshot lacks, in words (the license checks' "links may be
    /// missing"), worked out once per run.
    pub(crate) missing_machine_data: OnceCell<Vec<String>>,
    /// The buffers ESU502–ESU506's findings wait in while the machine checks run together
    /// (empty between subscriptions; kept for their memory).
    pub(crate) together_buffers: std::cell::RefCell<Vec<Vec<crate::finding::Finding>>>,
}

/// Where one subscription's licenses and machines are in the estate.
#[derive(Debug, Default)]
struct Holdings {
    licenses: Vec<Range<usize>>,
    machines: Vec<Range<usize>>,
}

impl<'a> Estate<'a> {
    /// Indexes `snapshot` (and the machines `plan` would link).
    pub fn new(snapshot: &'a Snapshot, plan: &'a LicensePlan) -> Self {
        let mut licenses = Vec::with_capacity(
            snapshot
                .subscriptions
                .iter()
                .map(|s| count(&s.licenses))
                .sum(),
        );
        let mut machines = Vec::with_capacity(
            snapshot
                .subscriptions
                .iter()
                .map(|s| count(&s.machines))
                .sum(),
        );
        let mut by_subscription: IdMap<Holdings> = IdMap::default();
        for sub in &snapshot.subscriptions {
            let (first_license, first_machine) = (licenses.len(), machines.len());
            for license in read_items(&sub.licenses) {
                licenses.push(LicenseRef {
                    index: licenses.len(),
                    subscription_id: &sub.subscription_id,
                    license,
                });
            }
            for machine in read_items(&sub.machines) {
                machines.push(MachineRef {
                    index: machines.len(),
                    subscription_id: &sub.subscription_id,
                    machine,
                });
            }
            let holdings = by_subscription
                .entry(sub.subscription_id.to_ascii_lowercase())
                .or_default();
            holdings.licenses.push(first_license..licenses.len());
            holdings.machines.push(first_machine..machines.len());
        }
        let mut by_license_id = IdMap::default();
        let mut by_immutable_id = IdMap::default();
        for license in &licenses {
            by_license_id.insert(license.license.id.to_ascii_lowercase(), license.index);
            if let Some(immutable) = license.license.details().immutable_id.as_deref() {
                by_immutable_id.insert(immutable.to_ascii_lowercase(), license.index);
            }
        }
        let mut linked = vec![Vec::new(); licenses.len()];
        let links: Vec<Link<'a>> = machines
            .iter()
            .map(|m| {
                let Some(esu) = m.machine.esu_profile() else {
                    return Link::None;
                };
                let by_immutable = esu
                    .assigned_license_immutable_id
                    .as_deref()
                    .filter(|id| !id.trim().is_empty());
                let by_id = esu.assigned_license.as_deref();
                let found = by_immutable
                    .and_then(|id| by_immutable_id.get(&id.to_ascii_lowercase()))
                    .or_else(|| by_id.and_then(|id| by_license_id.get(&id.to_ascii_lowercase())));
                match (found, by_immutable.or(by_id)) {
                    (Some(&index), _) => {
                        linked[index].push(m.index);
                        Link::Linked(licenses[index])
                    }
                    (None, Some(id)) => Link::Elsewhere(id),
                    (None, None) => Link::None,
                }
            })
            .collect();
        let by_machine_id = machines
            .iter()
            .map(|m| (m.machine.id.to_ascii_lowercase(), m.index))
            .collect();
        let mut planned_links: IdMap<Vec<&'a PlannedLicense>> = IdMap::default();
        for license in &plan.licenses {
            for machine in &license.machines {
                planned_links
                    .entry(machine.to_ascii_lowercase())
                    .or_default()
                    .push(license);
            }
        }
        Self {
            os: std::iter::repeat_with(OnceCell::new)
                .take(machines.len())
                .collect(),
            licenses,
            machines,
            links,
            linked,
            by_machine_id,
            by_license_id,
            planned_links,
            resource_groups: snapshot
                .scope
                .resource_groups
                .iter()
                .map(|g| g.to_ascii_lowercase())
                .collect(),
            policy_evaluations: Default::default(),
            by_subscription,
            machine_subjects: Default::default(),
            missing_machine_data: OnceCell::new(),
            together_buffers: Default::default(),
        }
    }

    /// Every license read, in snapshot order.
    pub fn licenses(&self) -> &[LicenseRef<'a>] {
        &self.licenses
    }

    /// Every machine read, in snapshot order.
    pub fn machines(&self) -> &[MachineRef<'a>] {
        &self.machines
    }

    /// The licenses held by subscription `id` that the run reports on (within
    /// `--resource-group`). Links still resolve to every license read.
    pub fn licenses_in<'s>(&'s self, id: &'s str) -> impl Iterator<Item = LicenseRef<'a>> + 's {
        self.holdings(id)
            .licenses
            .iter()
            .flat_map(|range| &self.licenses[range.clone()])
            .copied()
            .filter(|l| self.in_scope(&l.license.id))
    }

    /// The machines held by subscription `id` that the run reports on (within
    /// `--resource-group`).
    pub fn machines_in<'s>(&'s self, id: &'s str) -> impl Iterator<Item = MachineRef<'a>> + 's {
        self.holdings(id)
            .machines
            .iter()
            .flat_map(|range| &self.machines[range.clone()])
            .copied()
            .filter(|m| self.in_scope(&m.machine.id))
    }

    /// Where subscription `id`'s licenses and machines are (case-insensitive).
    fn holdings(&self, id: &str) -> &Holdings {
        static NONE: Holdings = Holdings {
            licenses: Vec::new(),
            machines: Vec::new(),
        };
        self.by_subscription
            .get(&id.to_ascii_lowercase())
            .unwrap_or(&NONE)
    }

    /// What `machine`'s OS means for ESU ([`programs::classify_os`] of its `osSku`, else
    /// `osName`, and `osVersion`), worked out once per run.
    pub fn os(&self, machine: MachineRef<'_>) -> &OsClass {
        self.os[machine.index].get_or_init(|| {
            let p = &self.machines[machine.index].machine.properties;
            programs::classify_os(
                p.os_sku.as_deref().or(p.os_name.as_deref()),
                p.os_version.as_deref(),
            )
        })
    }

    /// Whether the resource with this ARM id is in the run's resource groups (always, without
    /// `--resource-group`; an id that names no resource group is kept, never silently dropped).
    pub fn in_scope(&self, resource_id: &str) -> bool {
        if self.resource_groups.is_empty() {
            return true;
        }
        let mut segments = resource_id.split('/');
        while let Some(segment) = segments.next() {
            if segment.eq_ignore_ascii_case("resourceGroups") {
                return segments
                    .next()
                    .is_some_and(|g| self.resource_groups.contains(&g.to_ascii_lowercase()));
            }
        }
        true
    }

    /// What `machine` is linked to.
    pub fn link(&self, machine: MachineRef<'_>) -> Link<'a> {
        self.links[machine.index]
    }

    /// The machines linked to `license`, wherever they are.
    pub fn linked_machines(
        &self,
        license: LicenseRef<'_>,
    ) -> impl Iterator<Item = MachineRef<'a>> + '_ {
        self.linked[license.index]
            .iter()
            .map(|&index| self.machines[index])
    }

    /// The machine with this ARM id (case-insensitive), if the snapshot holds it.
    pub fn machine(&self, id: &str) -> Option<MachineRef<'a>> {
        self.by_machine_id
            .get(&id.to_ascii_lowercase())
            .map(|&index| self.machines[index])
    }

    /// The license with this ARM id (case-insensitive), if the snapshot holds it.
    pub fn license(&self, id: &str) -> Option<LicenseRef<'a>> {
        self.by_license_id
            .get(&id.to_ascii_lowercase())
            .map(|&index| self.licenses[index])
    }

    /// The planned licenses that would link the machine with this ARM id.
    pub fn planned_for(&self, machine_id: &str) -> &[&'a PlannedLicense] {
        if self.planned_links.is_empty() {
            // No plan: no lower-case copy of every machine's id to look up.
            return &[];
        }
        self.planned_links
            .get(&machine_id.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Fact, Scope, SubscriptionSnapshot};
    use serde_json::json;

    fn sub(
        id: &str,
        licenses: serde_json::Value,
        machines: serde_json::Value,
    ) -> SubscriptionSnapshot {
        let mut s =
            SubscriptionSnapshot::unavailable_for(id, crate::checks::testkit::server_error());
        s.licenses = Some(Fact::Available {
            value: serde_json::from_value(licenses).unwrap(),
        });
        s.machines = Some(Fact::Available {
            value: serde_json::from_value(machines).unwrap(),
        });
        s
    }

    #[test]
    fn resource_groups_in_scope_narrow_what_is_reported_not_the_links() {
        let lic =
            "/subscriptions/a/resourceGroups/rg-esu/providers/Microsoft.HybridCompute/licenses/l1";
        let mut snapshot = Snapshot::new(Scope {
            subscriptions: vec!["a".into()],
            resource_groups: vec!["RG-ARC".into()],
            ..Scope::default()
        });
        snapshot.subscriptions.push(sub(
            "a",
            json!([{ "id": lic, "properties": { "licenseDetails": { "immutableId": "i" } } }]),
            json!([
                { "id": "/subscriptions/a/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/in", "properties": { "licenseProfile": { "esuProfile": { "assignedLicenseImmutableId": "i" } } } },
                { "id": "/subscriptions/a/resourceGroups/rg-other/providers/Microsoft.HybridCompute/machines/out" }
            ]),
        ));
        let plan = LicensePlan::new();
        let estate = Estate::new(&snapshot, &plan);
        let names: Vec<&str> = estate
            .machines_in("a")
            .map(|m| m.machine.id.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["in"]);
        assert_eq!(
            estate.licenses_in("a").count(),
            0,
            "rg-esu is outside the scope"
        );
        // The machine in scope still resolves its link to the license outside it.
        let machine = estate.machines_in("a").next().unwrap();
        assert!(matches!(estate.link(machine), Link::Linked(_)));
        assert!(estate.in_scope("/subscriptions/a"));
    }

    #[test]
    fn links_are_resolved_across_subscriptions_by_immutable_id_or_id() {
        let lic =
            "/subscriptions/a/resourceGroups/rg/providers/Microsoft.HybridCompute/licenses/l1";
        let mut snapshot = Snapshot::new(Scope::subscriptions(["a", "b"]));
        snapshot.subscriptions.push(sub(
            "a",
            json!([{ "id": lic, "properties": { "licenseDetails": { "immutableId": "IMM-1" } } }]),
            json!([]),
        ));
        snapshot.subscriptions.push(sub(
            "b",
            json!([]),
            json!([
                { "id": "/subscriptions/b/m1", "properties": { "licenseProfile": { "esuProfile": { "assignedLicenseImmutableId": "imm-1" } } } },
                { "id": "/subscriptions/b/m2", "properties": { "licenseProfile": { "esuProfile": { "assignedLicense": lic.to_uppercase() } } } },
                { "id": "/subscriptions/b/m3", "properties": { "licenseProfile": { "esuProfile": { "assignedLicenseImmutableId": "other" } } } },
                { "id": "/subscriptions/b/m4" }
            ]),
        ));
        let plan = LicensePlan::new();
        let estate = Estate::new(&snapshot, &plan);
        let license = estate.licenses()[0];
        let linked: Vec<&str> = estate
            .linked_machines(license)
            .map(|m| m.machine.id.as_str())
            .collect();
        assert_eq!(linked, ["/subscriptions/b/m1", "/subscriptions/b/m2"]);
        let machines: Vec<MachineRef<'_>> = estate.machines_in("B").collect();
        assert!(matches!(estate.link(machines[2]), Link::Elsewhere("other")));
        assert!(matches!(estate.link(machines[3]), Link::None));
        assert_eq!(estate.machine("/SUBSCRIPTIONS/b/m4").unwrap().index, 3);
        assert_eq!(estate.licenses_in("a").count(), 1);
    }
}

#[cfg(test)]
mod fixture_tests {
    use crate::checks::testkit::{self, Fixture};

    /// The fixture builders make payloads the models read, linked as ARM reports links.
    #[test]
    fn fixture_licenses_and_machines_are_read_and_linked() {
        let license = testkit::license_json("esu-dc");
        let mut linked = testkit::machine_json("srv-01");
        testkit::link(&mut linked, &license);
        let fixture = Fixture::healthy()
            .license(license)
            .machine(linked)
            .machine(testkit::machine_json("srv-02"));
        let (snapshot, _) = fixture.build();
        let estate = super::Estate::new(&snapshot, &fixture.plan);
        let license = estate.licenses()[0];
        assert_eq!(license.license.details().processors, Some(16));
        let names: Vec<&str> = estate
            .linked_machines(license)
            .map(|m| m.machine.name.as_str())
            .collect();
        assert_eq!(names, ["srv-01"]);
        let srv02 = estate.machines()[1].machine;
        assert_eq!(srv02.properties.detected_properties.core_count, Some(8));
        assert_eq!(
            srv02.properties.agent_version.as_deref(),
            Some("1.34.02440.1130")
        );
        assert!(
            testkit::run(
                &crate::checks::SubscriptionNotUsable,
                &fixture
                    .clone()
                    .without_hybrid_compute()
                    .licenses_unavailable(testkit::server_error())
                    .machines_unavailable(testkit::server_error())
            )
            .len()
                == 1
        );
        assert_eq!(fixture.now, testkit::TODAY);
    }
}

/// The resource group named in an ARM id (`…/resourceGroups/{name}/…`), if any.
pub(crate) fn resource_group_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/');
    parts
        .by_ref()
        .find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
    parts.next().filter(|p| !p.is_empty())
}
