//! Meta-tests: conventions every check follows, and evaluation over whole snapshots.

use super::testkit::{self, Fixture, SUB};
use super::*;
use crate::snapshot::{Fact, Scope};

fn is_kebab_case(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_check_id(id: &str) -> bool {
    id.len() == 6 && id.starts_with("ESU") && id[3..].chars().all(|c| c.is_ascii_digit())
}

#[test]
fn check_ids_are_unique_sorted_and_well_formed() {
    let infos: Vec<&CheckInfo> = all().iter().map(|c| c.info()).collect();
    for info in &infos {
        assert!(is_check_id(info.id), "{} is not ESU + 3 digits", info.id);
        assert!(is_kebab_case(info.name), "{} is not kebab-case", info.name);
        assert!(
            !info.summary.trim().is_empty(),
            "{}: empty summary",
            info.id
        );
        assert!(
            info.help_uri.starts_with("https://learn.microsoft.com/"),
            "{}: help_uri {}",
            info.id,
            info.help_uri
        );
        let docs = info.docs;
        for (heading, body) in [
            ("what_it_checks", docs.what_it_checks),
            ("why_it_matters", docs.why_it_matters),
            ("how_to_fix", docs.how_to_fix),
            ("example_finding", docs.example_finding),
        ] {
            assert!(!body.trim().is_empty(), "{}: empty {heading}", info.id);
        }
    }
    for pair in infos.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "{} before {}",
            pair[0].id,
            pair[1].id
        );
    }
    let mut names: Vec<&str> = infos.iter().map(|i| i.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), infos.len(), "duplicate check names");
}

#[test]
fn check_list() {
    let list: String = all()
        .iter()
        .map(|c| {
            let i = c.info();
            format!("{} {} {}\n", i.id, i.name, i.default_severity)
        })
        .collect();
    insta::assert_snapshot!(list);
}

#[test]
fn render_docs_layout() {
    let docs = find("esu101").unwrap().render_docs();
    assert!(docs.starts_with(
        "ESU101 provider-not-registered (default severity: error)\n\nA resource provider ESU needs \
         is not Registered on the subscription.\n\n## What it checks\n"
    ));
    let headings: Vec<&str> = docs.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## What it checks",
            "## Why it matters",
            "## How to fix",
            "## Example finding"
        ]
    );
    assert!(docs.ends_with('\n') && !docs.ends_with("\n\n"));
}

#[test]
fn find_is_case_insensitive_and_knows_names() {
    assert_eq!(find("esu001").unwrap().id, "ESU001");
    assert_eq!(find(" ESU102 ").unwrap().id, "ESU102");
    assert_eq!(find("Provider-Not-Registered").unwrap().id, "ESU101");
    assert!(find("ESU999").is_none());
    assert!(find("").is_none());
}

/// Variants covering every diagnostic of every check.
fn variants() -> Vec<Fixture> {
    let mut variants = vec![
        Fixture::healthy(),
        Fixture::healthy().subscription_unavailable(testkit::not_found()),
        Fixture::healthy()
            .subscription_unavailable(testkit::forbidden("Microsoft.Resources/subscriptions/read")),
        Fixture::healthy().subscription_unavailable(testkit::server_error()),
        Fixture::healthy().providers_unavailable(testkit::forbidden(
            "Microsoft.Resources/subscriptions/providers/read",
        )),
        Fixture::healthy().providers_unavailable(testkit::server_error()),
        Fixture::healthy()
            .provider_state("Microsoft.Sql", "NotRegistered")
            .provider_state("Microsoft.Compute", "Registering")
            .provider_state("Microsoft.Storage", "")
            .without_provider("Microsoft.Security")
            .permissions(testkit::role(
                "AzureConnectedMachineResourceAdministrator.json",
            )),
        Fixture::healthy()
            .provider_state("Microsoft.Sql", "NotRegistered")
            .permissions_unavailable(testkit::forbidden(
                "Microsoft.Authorization/permissions/read",
            )),
    ];
    for state in ["Warned", "PastDue", "Disabled", "Deleted", "Suspended"] {
        variants.push(Fixture::healthy().subscription_state(state));
    }
    variants
}

fn evaluate_fixture(fixture: &Fixture) -> Vec<Finding> {
    let (snapshot, config) = fixture.build();
    evaluate(&EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::UNIX_EPOCH,
    ))
}

#[test]
fn messages_follow_the_convention() {
    let mut statuses = std::collections::BTreeSet::new();
    for fixture in variants() {
        for f in evaluate_fixture(&fixture) {
            statuses.insert(f.status);
            testkit::assert_conventions(&f);
            assert_eq!(&*f.subscription_id, SUB);
            assert_eq!(f.help_uri, find(&f.check_id).unwrap().help_uri);
        }
    }
    assert_eq!(statuses.len(), 4, "all four statuses covered: {statuses:?}");
}

/// What a healthy fixture gets: ESU001, one ESU101 per provider, ESU102, ESU201, ESU203; ESU301
/// (the subscription as the license scope), ESU303 per provider resource type, ESU304; and
/// ESU701/ESU702 skipped (no Windows Server 2008 there).
const HEALTHY_FINDINGS: usize = 1
    + REQUIRED_PROVIDERS.len()
    + 1
    + 2
    + (1 + crate::checks::PROVIDER_RESOURCE_TYPES.len() + 1)
    + 2;

#[test]
fn healthy_snapshot_has_no_failures() {
    let findings = evaluate_fixture(&Fixture::healthy());
    assert_eq!(findings.len(), HEALTHY_FINDINGS);
    for f in &findings {
        if f.check_id.starts_with("ESU70") {
            assert_eq!(f.status, Status::Skipped, "{f:#?}");
            assert!(f.message.contains("--program ws2008"), "{f:#?}");
        } else {
            assert_eq!(f.status, Status::Pass, "{f:#?}");
        }
    }
}

#[test]
fn unavailable_facts_never_pass() {
    let reason = testkit::server_error();
    let mut fixture = Fixture::healthy()
        .subscription_unavailable(reason.clone())
        .providers_unavailable(reason.clone())
        .permissions_unavailable(reason.clone());
    fixture.authorization.role_assignments = Some(Fact::Unavailable {
        reason: reason.clone(),
    });
    fixture.authorization.deny_assignments = Some(Fact::Unavailable {
        reason: reason.clone(),
    });
    fixture.authorization.policy_assignments = Some(Fact::Unavailable { reason });
    let findings = evaluate_fixture(&fixture);
    assert!(!findings.is_empty());
    // ESU304 has nothing to decide: skipped, pointing at ESU301–ESU303.
    assert!(findings.iter().all(|f| f.status == Status::Inconclusive
        || (f.check_id == "ESU304" && f.status == Status::Skipped)));
}

#[test]
fn evaluate_sorts_and_covers_every_subscription() {
    let (mut snapshot, config) = Fixture::healthy().build();
    let mut other = snapshot.subscriptions[0].clone();
    other.subscription_id = "00000000-0000-0000-0000-000000000000".into();
    other.subscription = Fact::Unavailable {
        reason: testkit::not_found(),
    };
    snapshot.subscriptions.push(other);
    let findings = evaluate(&EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::UNIX_EPOCH,
    ));
    assert!(
        findings
            .windows(2)
            .all(|w| w[0].sort_key() <= w[1].sort_key())
    );
    let first: Vec<_> = findings
        .iter()
        .take_while(|f| f.subscription_id.starts_with("0000"))
        .map(|f| (&*f.check_id, f.status))
        .collect();
    // ESU001 fails; every other check with something to report on is skipped, none runs.
    assert_eq!(first[0], ("ESU001", Status::Fail));
    assert!(
        first[1..]
            .iter()
            .all(|(_, status)| *status == Status::Skipped),
        "{first:?}"
    );
    for id in ["ESU101", "ESU102", "ESU501", "ESU505"] {
        assert!(
            first.iter().any(|(check, _)| *check == id),
            "{id}: {first:?}"
        );
    }
}

#[test]
fn odd_snapshots_do_not_panic() {
    let mut snapshot = Snapshot::new(Scope::default());
    snapshot.subscriptions.push(SubscriptionSnapshot {
        subscription_id: String::new(),
        subscription: Fact::Available {
            value: serde_json::from_str(r#"{"state":""}"#).unwrap(),
        },
        providers: Fact::Available { value: Vec::new() },
        permissions: Fact::Available { value: Vec::new() },
        resource_groups: Vec::new(),
        licenses: None,
        machines: None,
        patch_states: Default::default(),
        license_validations: Vec::new(),
        authorization: Default::default(),
        management_groups: None,
        policy_restrictions: Vec::new(),
        mak_keys: None,
    });
    let config = Config::default();
    let findings = evaluate(&EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::UNIX_EPOCH,
    ));
    assert!(findings.iter().any(|f| f.status == Status::Fail));
}

#[test]
fn config_reads_severity_overrides() {
    let config: Config = serde_json::from_str(r#"{"severity":{"esu101":"warning"}}"#).unwrap();
    assert_eq!(config.severity_override("ESU101"), Some(Severity::Warning));
    assert_eq!(config.severity_override("ESU102"), None);
    let mut fixture = Fixture::healthy().provider_state("Microsoft.Sql", "NotRegistered");
    fixture.config = config;
    let findings = evaluate_fixture(&fixture);
    let sql = findings
        .iter()
        .find(|f| f.check_id == "ESU101" && f.resource_id.ends_with("/Microsoft.Sql"))
        .unwrap();
    assert_eq!(
        (sql.status, sql.severity),
        (Status::Fail, Severity::Warning)
    );
    assert!(serde_json::from_str::<Config>(r#"{"sevrity":{}}"#).is_err());
}

#[test]
fn a_subscription_in_scope_without_facts_is_never_silence() {
    let (mut snapshot, config) = Fixture::healthy().build();
    let missing = "00000000-0000-0000-0000-00000000abcd";
    snapshot.scope.subscriptions.push(missing.to_owned());
    let findings = evaluate(&EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::UNIX_EPOCH,
    ));
    let about_missing: Vec<(&str, Status)> = findings
        .iter()
        .filter(|f| &*f.subscription_id == missing)
        .map(|f| (&*f.check_id, f.status))
        .collect();
    assert_eq!(about_missing, [("ESU001", Status::Inconclusive)]);
    let esu001 = findings
        .iter()
        .find(|f| &*f.subscription_id == missing && f.check_id == "ESU001")
        .unwrap();
    assert!(esu001.message.contains("no facts"), "{}", esu001.message);
    assert!(
        esu001
            .remediation
            .contains("esu-preflight snapshot --subscription")
    );
    // The subscription with facts is still checked in full.
    assert_eq!(
        findings
            .iter()
            .filter(|f| &*f.subscription_id == SUB)
            .count(),
        HEALTHY_FINDINGS
    );
}

#[test]
fn facts_outside_the_scope_are_checked_too() {
    let (mut snapshot, config) = Fixture::healthy().build();
    snapshot.scope.subscriptions.clear();
    let findings = evaluate(&EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::UNIX_EPOCH,
    ));
    assert_eq!(findings.len(), HEALTHY_FINDINGS);
}

#[test]
fn unavailable_needs_make_every_subject_inconclusive_with_the_reason() {
    let fixture = Fixture::healthy().providers_unavailable(testkit::forbidden(
        "Microsoft.Resources/subscriptions/providers/read",
    ));
    let findings = evaluate_fixture(&fixture);
    let esu101: Vec<&Finding> = findings.iter().filter(|f| f.check_id == "ESU101").collect();
    assert_eq!(esu101.len(), REQUIRED_PROVIDERS.len());
    for (f, namespace) in esu101.iter().zip({
        let mut sorted = REQUIRED_PROVIDERS;
        sorted.sort_unstable();
        sorted
    }) {
        assert_eq!(f.status, Status::Inconclusive);
        assert_eq!(f.evidence.value()["namespace"], namespace);
        assert!(
            f.message
                .contains("Microsoft.Resources/subscriptions/providers/read")
        );
    }
    let esu102: Vec<&Finding> = findings.iter().filter(|f| f.check_id == "ESU102").collect();
    assert_eq!(esu102.len(), 1);
    assert_eq!(esu102[0].status, Status::Inconclusive);
}

#[test]
fn throttling_says_so_with_the_wait_asked_for() {
    let reason = Unavailable {
        kind: UnavailableKind::HttpError,
        http_status: Some(429),
        code: Some("SubscriptionRequestsThrottled".into()),
        message: "Number of 'read' requests for subscription exceeded.".into(),
        action: None,
        scope: None,
        retry_after_secs: Some(120),
    };
    assert_eq!(
        describe_unavailable(&reason),
        "ARM throttled the read (SubscriptionRequestsThrottled, HTTP 429); it asked to retry \
         after 120 s, past this run's deadline (--timeout)"
    );
    let f = &evaluate_fixture(&Fixture::healthy().providers_unavailable(reason))[1];
    assert_eq!(f.status, Status::Inconclusive);
    assert!(f.remediation.contains("wait 120 s"), "{}", f.remediation);
    assert!(f.remediation.contains("--timeout"), "{}", f.remediation);
}

#[test]
fn a_planned_subscription_without_facts_is_an_inconclusive_esu001() {
    let (snapshot, config) = Fixture::healthy().build();
    let elsewhere = "00000000-0000-0000-0000-0000000000aa";
    let plan: crate::plan::LicensePlan = serde_json::from_value(serde_json::json!({
        "license": [{
            "name": "esu-16", "subscription": elsewhere, "resource_group": "rg-esu",
            "location": "eastus", "target": "Windows Server 2016", "edition": "Datacenter",
            "type": "pCore", "processors": 16
        }]
    }))
    .unwrap();
    let input = EvalInput::new(&snapshot, &config, testkit::TODAY).with_plan(&plan);
    let findings = evaluate(&input);
    let esu001: Vec<Status> = findings
        .iter()
        .filter(|f| &*f.subscription_id == elsewhere)
        .map(|f| f.status)
        .collect();
    assert_eq!(esu001, [Status::Inconclusive]);
    // It is the plan's subscription, not one of the snapshot's scope: the finding says which.
    let f = findings
        .iter()
        .find(|f| &*f.subscription_id == elsewhere)
        .unwrap();
    assert!(
        f.message.ends_with("which the license plan names"),
        "{}",
        f.message
    );
    assert!(
        f.remediation.contains(&format!(
            "esu-preflight snapshot --subscription {elsewhere} --license-plan PLAN --output-file"
        )),
        "{}",
        f.remediation
    );
}

#[test]
fn a_check_whose_facts_are_unreadable_is_inconclusive_never_silent() {
    let reason = testkit::server_error();
    let fixture = Fixture::healthy()
        .providers_unavailable(reason.clone())
        .permissions_unavailable(reason.clone())
        .licenses_unavailable(reason.clone())
        .machines_unavailable(reason);
    // (The subscription itself is readable here: checks that need only it run as usual.)
    for check in all()
        .iter()
        .filter(|c| c.needs().iter().any(|n| *n != Need::Subscription))
    {
        let findings = testkit::run(*check, &fixture);
        assert!(!findings.is_empty(), "{} reported nothing", check.info().id);
        for f in &findings {
            assert_eq!(f.status, Status::Inconclusive, "{f:#?}");
        }
    }
}

/// The engine's sort moves positions, then findings: the same order as a stable `sort_by`,
/// findings with equal keys left in the order the checks made them.
#[test]
fn findings_sort_like_a_stable_sort() {
    let finding = |sub: &str, id: &str, resource: &str, status: Status, message: &str| {
        make_finding(
            find(id).unwrap(),
            &Config::default(),
            &std::sync::Arc::from(sub),
            Diagnostic::new(status, resource, message),
        )
    };
    let mut findings = Vec::new();
    for (i, sub) in ["b", "a", "c", "a"].into_iter().enumerate() {
        for id in ["ESU505", "ESU101", "ESU501"] {
            for resource in ["/r/2", "/r/1", "/r/2"] {
                for status in [Status::Pass, Status::Fail] {
                    let message = format!("{i} {resource} {status}");
                    findings.push(finding(sub, id, resource, status, &message));
                }
            }
        }
    }
    let mut expected = findings.clone();
    expected.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    sort_findings(&mut findings);
    assert_eq!(findings, expected);
    // Already sorted: left alone.
    sort_findings(&mut findings);
    assert_eq!(findings, expected);
    let mut empty: Vec<Finding> = Vec::new();
    sort_findings(&mut empty);
}

/// ESU501–ESU506 run together, machine by machine (`machines::run_together`, what `evaluate`
/// does), make exactly the findings of each check run on its own, in turn (`Check::run`):
/// every kind of machine subject, with and without a plan.
#[test]
fn machine_checks_together_make_what_each_makes_alone() {
    let license = testkit::license_json("esu-dc");
    let mut linked = testkit::machine_json("srv-linked");
    testkit::link(&mut linked, &license);
    let mut disconnected = testkit::machine_json("srv-down");
    disconnected["properties"]["status"] = serde_json::json!("Disconnected");
    let mut old = testkit::machine_json("srv-old");
    old["properties"]["agentVersion"] = serde_json::json!("1.2.3");
    let mut newer = testkit::machine_json("srv-2019");
    newer["properties"]["osSku"] = serde_json::json!("Windows Server 2019 Datacenter");
    newer["properties"]["osVersion"] = serde_json::json!("10.0.17763.1");
    let mut avs = testkit::machine_json("srv-avs");
    avs["kind"] = serde_json::json!("AVS");
    let mut unknown = testkit::machine_json("srv-unknown");
    unknown["properties"]["osSku"] = serde_json::Value::Null;
    unknown["properties"]["osName"] = serde_json::Value::Null;
    unknown["properties"]["osVersion"] = serde_json::Value::Null;
    let mut storage = testkit::machine_json("srv-storage");
    storage["properties"]["osSku"] = serde_json::json!("Windows Server 2012 R2 Storage Server");
    let fixture = Fixture::healthy()
        .license(license)
        .machine(linked)
        .machine(disconnected)
        .machine(old)
        .machine(newer)
        .machine(avs)
        .machine(unknown)
        .machine(storage)
        .machine(testkit::machine_json("srv-plain"))
        .machine(serde_json::json!({ "id": "/subscriptions/x/broken", "properties": [] }));
    let machine_checks: Vec<&dyn Check> = all()
        .iter()
        .copied()
        .filter(|c| c.info().id.starts_with("ESU50"))
        .collect();
    assert_eq!(machine_checks.len(), 6);
    let (snapshot, config) = fixture.build();
    let plan = crate::plan::LicensePlan::new();
    let planned: crate::plan::LicensePlan = serde_json::from_value(serde_json::json!({
        "licenses": [{
            "name": "esu-new", "subscription": SUB, "resource_group": "rg-esu",
            "location": "eastus", "target": "Windows Server 2012 R2", "edition": "Datacenter",
            "type": "pCore", "processors": 16, "state": "Activated",
            "machines": [
                format!("/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-plain"),
                format!("/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-missing"),
            ],
        }],
    }))
    .unwrap();
    // Without a plan every machine is reported; with one, the linked and planned machines
    // (and the planned machine the subscription does not hold).
    for (plan, at_least) in [(&plan, 6 * 9), (&planned, 6 * 2 + 1)] {
        let alone = testkit::run_on(
            &machine_checks,
            &snapshot,
            &config,
            plan,
            testkit::TODAY,
            None,
        );
        let together: Vec<Finding> =
            evaluate(&EvalInput::new(&snapshot, &config, testkit::TODAY).with_plan(plan))
                .into_iter()
                .filter(|f| f.check_id.starts_with("ESU50"))
                .collect();
        assert!(alone.len() >= at_least, "{}", alone.len());
        assert_eq!(together, alone);
    }
}
