//! Issue 7 item 1: gather reads the access and policy facts (role, deny and policy assignments,
//! exemptions, the definitions they name, the service's policy pre-check of the plan) at the
//! subscription and at each resource group that matters, each distinct URL once.

use esu_preflight::gather::{self, EXEMPTIONS_API_MISSING, GatherOptions};
use esu_preflight::plan::{LicensePlan, PlannedLicense};
use esu_preflight::snapshot::{Fact, Scope, Snapshot, SubscriptionSnapshot, UnavailableKind};
use esu_preflight_tests::{
    ArmMock, CALLER_OID, CALLER_TOKEN, SUB, TENANT, TOKEN, arm_error, caller_client, client,
    license_json, machine_json, permissions_owner, policies, roles, sub_scope,
};
use serde_json::{Value, json};

const MACHINE: &str = "srv-r2";

fn machine_id(sub: &str) -> String {
    format!(
        "/subscriptions/{sub}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{MACHINE}"
    )
}

/// One license in `rg-esu`, linked to the machine in `rg-arc`.
fn plan() -> LicensePlan {
    LicensePlan {
        licenses: vec![PlannedLicense {
            name: "esu-r2-dc".into(),
            subscription: None,
            resource_group: "rg-esu".into(),
            location: "eastus".into(),
            target: "Windows Server 2012 R2".into(),
            edition: "Datacenter".into(),
            license_type: "pCore".into(),
            processors: 16,
            state: "Activated".into(),
            machines: vec![machine_id(SUB)],
        }],
        mak_keys: Vec::new(),
    }
}

/// The subscription, its providers, one eligible machine (so the link's location is known).
async fn estate(mock: &ArmMock) {
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[]).await;
    let machine = machine_json(
        SUB,
        MACHINE,
        "Windows Server 2012 R2 Datacenter",
        "6.3.9600.20778",
        "1.40.02664.1629",
        8,
    );
    mock.hybrid_compute(SUB, Vec::new(), vec![machine]).await;
    // The service's dry run accepts the license.
    mock.mount(mock.validate_license_accepts(SUB)).await;
}

async fn gather_with(client: esu_preflight::arm::ArmClient, plan: LicensePlan) -> Snapshot {
    let options = GatherOptions {
        plan,
        ..GatherOptions::default()
    };
    gather::gather_with(&client, &Scope::subscriptions([SUB]), &options)
        .await
        .expect("gather succeeds")
}

fn value<T>(fact: &Option<Fact<T>>) -> &T {
    match fact {
        Some(Fact::Available { value }) => value,
        other => panic!("not read: {:?}", other.as_ref().map(|f| f.unavailable())),
    }
}

fn group<'a>(
    sub: &'a SubscriptionSnapshot,
    name: &str,
) -> &'a esu_preflight::snapshot::ResourceGroupSnapshot {
    sub.resource_groups
        .iter()
        .find(|g| g.name.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("no resource group {name}"))
}

#[tokio::test]
async fn gather_fills_every_access_and_policy_fact_each_url_once() {
    let mock = ArmMock::start().await;
    estate(&mock).await;
    mock.caller_contributor(SUB).await;
    mock.deny_esu_writes(SUB).await;
    let (enforced, not_enforced) = mock.policy_blocked(SUB).await;
    let snapshot = gather_with(caller_client(&mock), plan()).await;
    mock.verify().await;
    mock.assert_no_url_requested_twice().await;

    // The caller, from the token; never the token.
    let caller = snapshot
        .caller
        .as_ref()
        .expect("the token names the caller");
    assert_eq!(caller.object_id, CALLER_OID);
    assert_eq!(caller.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(caller.display_name.as_deref(), Some("engineer@contoso.com"));
    let text = snapshot.to_json_pretty();
    assert!(
        !text.contains(CALLER_TOKEN) && !text.contains("eyJ"),
        "the token leaked"
    );

    let sub = &snapshot.subscriptions[0];
    let auth = &sub.authorization;
    assert_eq!(value(&auth.role_assignments).len(), 1);
    assert_eq!(value(&auth.deny_assignments).len(), 1);
    let assignments: Vec<&str> = value(&auth.policy_assignments)
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(assignments, [enforced.as_str(), not_enforced.as_str()]);
    assert!(value(&auth.policy_exemptions).is_empty());

    // The plan's license group and its machine's group, each with its own facts.
    let names: Vec<&str> = sub
        .resource_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["rg-esu", "rg-arc"]);
    for name in names {
        let rg = group(sub, name);
        assert!(rg.group.value().is_some_and(Option::is_some), "{name}");
        assert!(rg.permissions.value().is_some(), "{name}");
        assert_eq!(value(&rg.authorization.role_assignments).len(), 1, "{name}");
        assert_eq!(
            value(&rg.authorization.policy_assignments).len(),
            2,
            "{name}"
        );
    }

    // Each definition once, keyed by its lower-case id as the assignment names it.
    let role_id =
        esu_preflight_tests::role_definition_id(SUB, roles::CONTRIBUTOR).to_ascii_lowercase();
    let role = snapshot.tenant.role_definitions[&role_id].value().unwrap();
    assert_eq!(role["properties"]["roleName"], "Contributor");
    let mut policy_ids: Vec<&String> = snapshot.tenant.policy_definitions.keys().collect();
    policy_ids.sort();
    let mut expected = [
        policies::DENY_ESU_LICENSE.to_ascii_lowercase(),
        policies::NOT_ALLOWED_TYPES.to_ascii_lowercase(),
    ];
    expected.sort();
    assert_eq!(policy_ids, expected.iter().collect::<Vec<_>>());

    // The service's pre-check of the license and of the license profile, answered.
    let checks: Vec<(&str, &str)> = sub
        .policy_restrictions
        .iter()
        .map(|c| (c.resource_type.as_str(), c.resource_id.as_str()))
        .collect();
    let license_id = plan().licenses[0].resource_id(SUB);
    let profile_id = format!("{}/licenseProfiles/default", machine_id(SUB));
    assert_eq!(
        checks,
        [
            ("Microsoft.HybridCompute/licenses", license_id.as_str()),
            (
                "Microsoft.HybridCompute/machines/licenseProfiles",
                profile_id.as_str()
            ),
        ]
    );
    // The license is denied by the Not allowed resource types assignment; the license profile
    // is a type it does not list.
    let [license, profile] = sub.policy_restrictions.as_slice() else {
        panic!("two pre-checks")
    };
    let answer = license.answer.value().expect("answered");
    assert_eq!(
        answer["contentEvaluationResult"]["policyEvaluations"][0]["policyInfo"]["policyAssignmentId"],
        enforced
    );
    let answer = profile.answer.value().expect("answered");
    assert_eq!(
        answer["contentEvaluationResult"]["policyEvaluations"],
        serde_json::json!([])
    );

    // The requests: role and policy assignments and exemptions listed once for the
    // subscription and its groups (everything at, above and below it; role assignments
    // filtered to the caller), deny assignments at each scope; the pre-checks at the groups
    // with what would be created.
    let received = mock.received().await;
    let lists = |tail: &str| -> Vec<(String, String)> {
        received
            .iter()
            .filter(|r| r.url.path().ends_with(tail))
            .map(|r| {
                let filter = r.url.query_pairs().find(|(k, _)| k == "$filter");
                (
                    r.url.path().trim_end_matches(tail).to_owned(),
                    filter.map(|(_, v)| v.into_owned()).unwrap_or_default(),
                )
            })
            .collect()
    };
    let sub_only = |filter: &str| vec![(sub_scope(SUB), filter.to_owned())];
    assert_eq!(
        lists("/providers/Microsoft.Authorization/roleAssignments"),
        sub_only(&format!("assignedTo('{CALLER_OID}')"))
    );
    assert_eq!(
        lists("/providers/Microsoft.Authorization/policyAssignments"),
        sub_only("")
    );
    assert_eq!(
        lists("/providers/Microsoft.Authorization/policyExemptions"),
        sub_only("")
    );
    let mut denies = lists("/providers/Microsoft.Authorization/denyAssignments");
    denies.sort();
    let at = |scope: String| (scope, "atScope()".to_owned());
    assert_eq!(
        denies,
        [
            at(sub_scope(SUB)),
            at(format!("{}/resourceGroups/rg-arc", sub_scope(SUB))),
            at(format!("{}/resourceGroups/rg-esu", sub_scope(SUB))),
        ]
    );
    let prechecks: Vec<(String, Value)> = received
        .iter()
        .filter(|r| r.url.path().ends_with("/checkPolicyRestrictions"))
        .map(|r| {
            (
                r.url.path().to_owned(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    assert_eq!(prechecks.len(), 2);
    // Sent at once: in no particular order.
    let mut prechecks = prechecks;
    prechecks.sort_by_key(|(path, _)| !path.contains("/rg-esu/"));
    let (path, body) = &prechecks[0];
    assert!(
        path.ends_with(
            "/resourceGroups/rg-esu/providers/Microsoft.PolicyInsights/checkPolicyRestrictions"
        ),
        "{path}"
    );
    let content = &body["resourceDetails"]["resourceContent"];
    assert_eq!(content["type"], "Microsoft.HybridCompute/licenses");
    assert_eq!(content["name"], "esu-r2-dc");
    assert_eq!(content["location"], "eastus");
    assert_eq!(content["properties"]["licenseDetails"]["processors"], 16);
    let (path, body) = &prechecks[1];
    assert!(path.contains("/resourceGroups/rg-arc/"), "{path}");
    let content = &body["resourceDetails"]["resourceContent"];
    assert_eq!(
        content["type"],
        "Microsoft.HybridCompute/machines/licenseProfiles"
    );
    assert_eq!(content["location"], "eastus", "the machine's location");
    assert_eq!(
        content["properties"]["esuProfile"]["assignedLicense"],
        license_id
    );
    for request in &received {
        assert!(
            !esu_preflight_tests::changes_azure(request),
            "{}",
            request.url
        );
    }
}

#[tokio::test]
async fn an_opaque_token_names_no_caller_and_reads_every_role_assignment() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let snapshot = gather_with(client(&mock), LicensePlan::new()).await;
    assert_eq!(snapshot.caller, None);
    let queries: Vec<String> = mock
        .received()
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/roleAssignments"))
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    // No object id to filter on: the subscription's whole list (kept: those that apply).
    assert_eq!(queries.len(), 1);
    assert!(!queries[0].contains("filter"), "{queries:?}");
    assert!(!snapshot.to_json_pretty().contains(TOKEN));
    // Nothing is assigned: the lists are read and empty; Resource Graph named no group.
    let sub = &snapshot.subscriptions[0];
    assert!(value(&sub.authorization.role_assignments).is_empty());
    assert_eq!(sub.management_groups, None);
    assert!(snapshot.tenant.is_empty());
}

#[tokio::test]
async fn a_forbidden_policy_assignment_list_names_the_action_and_scope() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    mock.policy_assignments_forbidden(SUB).await;
    let snapshot = gather_with(caller_client(&mock), LicensePlan::new()).await;
    let fact = snapshot.subscriptions[0]
        .authorization
        .policy_assignments
        .as_ref()
        .unwrap();
    let reason = fact.unavailable().expect("unavailable");
    assert_eq!(reason.kind, UnavailableKind::Forbidden);
    assert_eq!(
        reason.action.as_deref(),
        Some("Microsoft.Authorization/policyAssignments/read")
    );
    assert_eq!(reason.scope.as_deref(), Some(sub_scope(SUB).as_str()));
    // The other facts are still read.
    assert!(
        snapshot.subscriptions[0]
            .authorization
            .deny_assignments
            .as_ref()
            .unwrap()
            .value()
            .is_some()
    );
    let names: Vec<String> = snapshot.subscriptions[0]
        .unavailable()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["policy assignments"]);
}

#[tokio::test]
async fn a_malformed_definition_is_unavailable_and_the_rest_is_read() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let scope = sub_scope(SUB);
    let custom = format!("{scope}/providers/Microsoft.Authorization/policyDefinitions/broken");
    mock.policy_assignments(
        SUB,
        vec![
            esu_preflight_tests::policy_assignment_json(
                &scope,
                "broken",
                &custom,
                json!({}),
                "Default",
            ),
            esu_preflight_tests::policy_assignment_json(
                &scope,
                "esu-deny",
                policies::DENY_ESU_LICENSE,
                json!({}),
                "Default",
            ),
            // An id that is no policy definition id is not requested at all.
            esu_preflight_tests::policy_assignment_json(
                &scope,
                "odd",
                "/subscriptions/x?y",
                json!({}),
                "Default",
            ),
        ],
    )
    .await;
    mock.definition_answer(&custom, 200, "{\"properties\": {\"policyRule\": ")
        .await;
    mock.definition(
        policies::DENY_ESU_LICENSE,
        esu_preflight_tests::builtin_policy_json("GuestConfiguration_ArcESU_Deny.json"),
    )
    .await;
    let snapshot = gather_with(caller_client(&mock), LicensePlan::new()).await;
    mock.verify().await;
    let definitions = &snapshot.tenant.policy_definitions;
    let broken = definitions[&custom.to_ascii_lowercase()]
        .unavailable()
        .expect("unavailable");
    assert_eq!(broken.kind, UnavailableKind::MalformedResponse);
    assert!(
        definitions[&policies::DENY_ESU_LICENSE.to_ascii_lowercase()]
            .value()
            .is_some()
    );
    let odd = definitions["/subscriptions/x?y"]
        .unavailable()
        .expect("not requested");
    assert_eq!(odd.code.as_deref(), Some("InvalidDefinitionId"));
}

#[tokio::test]
async fn a_missing_exemptions_api_is_tolerated_and_said() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    mock.policy_exemptions_answer(
        SUB,
        404,
        arm_error(
            "InvalidResourceType",
            "The resource type 'policyExemptions' could not be found in the namespace 'Microsoft.Authorization' for api version '2022-07-01-preview'.",
        ),
    )
    .await;
    let snapshot = gather_with(caller_client(&mock), LicensePlan::new()).await;
    let reason = snapshot.subscriptions[0]
        .authorization
        .policy_exemptions
        .as_ref()
        .unwrap()
        .unavailable()
        .expect("recorded as unavailable");
    assert_eq!(reason.code.as_deref(), Some(EXEMPTIONS_API_MISSING));
    assert!(
        reason.message.contains("no exemption is known"),
        "{}",
        reason.message
    );
    // Everything else is read.
    assert!(
        snapshot.subscriptions[0]
            .authorization
            .policy_assignments
            .as_ref()
            .unwrap()
            .value()
            .is_some()
    );
}

#[tokio::test]
async fn an_initiative_and_its_members_are_read_once() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let set_id = mock.policy_initiative(SUB, "Deny").await;
    let snapshot = gather_with(caller_client(&mock), LicensePlan::new()).await;
    mock.verify().await;
    mock.assert_no_url_requested_twice().await;
    let set = snapshot.tenant.policy_set_definitions[&set_id.to_ascii_lowercase()]
        .value()
        .expect("the initiative");
    assert_eq!(
        set["properties"]["policyDefinitions"][0]["policyDefinitionReferenceId"],
        "denyEsuLicense"
    );
    assert!(
        snapshot.tenant.policy_definitions[&policies::DENY_ESU_LICENSE.to_ascii_lowercase()]
            .value()
            .is_some()
    );
}

#[tokio::test]
async fn an_owner_from_a_management_group_and_the_groups_above() {
    let mock = ArmMock::start().await;
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[]).await;
    mock.caller_owner_from_management_group(SUB, "mg-contoso")
        .await;
    let snapshot = gather_with(caller_client(&mock), LicensePlan::new()).await;
    mock.verify().await;
    let sub = &snapshot.subscriptions[0];
    assert_eq!(
        sub.management_groups.as_deref(),
        Some(&["mg-contoso".to_owned(), TENANT.to_owned()][..])
    );
    let assignment = &value(&sub.authorization.role_assignments)[0];
    assert_eq!(
        assignment["properties"]["scope"],
        "/providers/Microsoft.Management/managementGroups/mg-contoso"
    );
}

#[tokio::test]
async fn without_a_plan_the_groups_of_licenses_and_candidate_machines_are_read() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let license = license_json(
        SUB,
        "esu-1",
        "Windows Server 2012 R2",
        "Datacenter",
        "pCore",
        16,
    );
    let candidate = machine_json(
        SUB,
        "srv-r2",
        "Windows Server 2012 R2 Datacenter",
        "6.3.9600.20778",
        "1.40.02664.1629",
        8,
    );
    let mut modern = machine_json(
        SUB,
        "srv-2019",
        "Windows Server 2019 Datacenter",
        "10.0.17763.6414",
        "1.40.02664.1629",
        8,
    );
    modern["id"] = json!(format!(
        "/subscriptions/{SUB}/resourceGroups/rg-modern/providers/Microsoft.HybridCompute/machines/srv-2019"
    ));
    mock.hybrid_compute(SUB, vec![license], vec![candidate, modern])
        .await;
    let snapshot = gather_with(caller_client(&mock), LicensePlan::new()).await;
    mock.assert_no_url_requested_twice().await;
    let sub = &snapshot.subscriptions[0];
    let names: Vec<&str> = sub
        .resource_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["rg-esu", "rg-arc"],
        "not the group of a Windows Server 2019 machine"
    );
    for rg in &sub.resource_groups {
        assert!(value(&rg.authorization.role_assignments).is_empty());
    }
    // ESU002 still looks only at the plan's groups (there are none): nothing about these.
    let findings = esu_preflight_tests_evaluate(&snapshot);
    assert!(
        !findings.iter().any(|f| f.check_id == "ESU002"),
        "{findings:#?}"
    );
}

fn esu_preflight_tests_evaluate(snapshot: &Snapshot) -> Vec<esu_preflight::Finding> {
    let config = esu_preflight::checks::Config::default();
    esu_preflight::evaluate(&esu_preflight::checks::EvalInput::new(
        snapshot,
        &config,
        time::OffsetDateTime::now_utc(),
    ))
}

#[tokio::test]
async fn a_caller_who_may_not_ask_for_the_pre_check_gets_it_named() {
    let mock = ArmMock::start().await;
    estate(&mock).await;
    // Writes ESU licenses, reads nothing else: not checkPolicyRestrictions/read.
    let mut permissions = permissions_owner();
    permissions["value"][0]["actions"] = json!(["Microsoft.HybridCompute/*"]);
    mock.permissions(SUB, permissions.clone()).await;
    for rg in ["rg-esu", "rg-arc"] {
        mock.mount(
            mock.route("GET", &format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Authorization/permissions"))
                .respond_with(mock.json(200, permissions.clone())),
        )
        .await;
    }
    let snapshot = gather_with(caller_client(&mock), plan()).await;
    let sub = &snapshot.subscriptions[0];
    assert_eq!(sub.policy_restrictions.len(), 2);
    for check in &sub.policy_restrictions {
        let reason = check.answer.unavailable().expect("not asked");
        assert_eq!(reason.kind, UnavailableKind::Forbidden);
        assert_eq!(
            reason.action.as_deref(),
            Some(gather::CHECK_POLICY_RESTRICTIONS_ACTION)
        );
        assert!(
            reason
                .scope
                .as_deref()
                .unwrap()
                .contains("/resourceGroups/"),
            "{reason:?}"
        );
    }
    assert!(
        !mock
            .received()
            .await
            .iter()
            .any(|r| r.url.path().ends_with("/checkPolicyRestrictions")),
        "asked without the permission"
    );
}

#[tokio::test]
async fn fix_providers_reads_no_access_or_policy_facts() {
    let mock = ArmMock::start().await;
    mock.healthy(SUB).await;
    let options = GatherOptions {
        subscription_facts_only: true,
        ..GatherOptions::default()
    };
    let snapshot = gather::gather_with(
        &caller_client(&mock),
        &Scope::subscriptions([SUB]),
        &options,
    )
    .await
    .unwrap();
    assert!(snapshot.subscriptions[0].authorization.is_empty());
    assert_eq!(
        mock.received().await.len(),
        3,
        "the subscription, providers, permissions"
    );
}

#[tokio::test]
async fn a_link_to_a_machine_in_another_subscription_is_checked_there() {
    const OTHER: &str = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
    let mock = ArmMock::start().await;
    estate(&mock).await;
    mock.permissions(SUB, permissions_owner()).await;
    mock.subscription(OTHER, "Enabled").await;
    mock.providers(OTHER, &[]).await;
    mock.permissions(OTHER, permissions_owner()).await;
    let mut there = machine_json(
        OTHER,
        "srv-there",
        "Windows Server 2012 R2 Standard",
        "6.3.9600.20778",
        "1.40.02664.1629",
        8,
    );
    there["location"] = json!("westeurope");
    mock.hybrid_compute(OTHER, Vec::new(), vec![there]).await;
    let mut plan = plan();
    let there_id = format!(
        "/subscriptions/{OTHER}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-there"
    );
    let unknown_id = format!(
        "/subscriptions/{OTHER}/resourceGroups/rg-gone/providers/Microsoft.HybridCompute/machines/srv-gone"
    );
    plan.licenses[0].machines = vec![there_id.clone(), unknown_id.clone()];
    let options = GatherOptions {
        plan,
        ..GatherOptions::default()
    };
    let snapshot = gather::gather_with(
        &caller_client(&mock),
        &Scope::subscriptions([SUB, OTHER]),
        &options,
    )
    .await
    .unwrap();
    mock.assert_no_url_requested_twice().await;
    let here = snapshot.subscription(SUB).unwrap();
    let names: Vec<&str> = here
        .resource_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["rg-esu"],
        "the machines' groups are the other subscription's"
    );
    assert_eq!(here.policy_restrictions.len(), 1, "the license");
    let other = snapshot.subscription(OTHER).unwrap();
    let names: Vec<&str> = other
        .resource_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["rg-arc", "rg-gone"]);
    let checks: Vec<(&str, bool)> = other
        .policy_restrictions
        .iter()
        .map(|c| (c.resource_id.as_str(), c.answer.value().is_some()))
        .collect();
    let profile = |id: &str| format!("{id}/licenseProfiles/default");
    assert_eq!(
        checks,
        [
            (profile(&there_id).as_str(), true),
            (profile(&unknown_id).as_str(), false)
        ]
    );
    let reason = other.policy_restrictions[1].answer.unavailable().unwrap();
    assert_eq!(
        reason.code.as_deref(),
        Some(gather::MACHINE_LOCATION_UNKNOWN)
    );
    let sent: Vec<Value> = mock
        .received()
        .await
        .iter()
        .filter(|r| {
            r.url.path().ends_with("/checkPolicyRestrictions") && r.url.path().contains(OTHER)
        })
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["resourceDetails"]["resourceContent"]["location"], "westeurope",
        "the machine's own location"
    );
}

/// The subscription's permissions, and the ESU-deny built-in the tests below assign.
async fn permissions_and_deny_definition(mock: &ArmMock) {
    mock.permissions(SUB, permissions_owner()).await;
    mock.definition(
        policies::DENY_ESU_LICENSE,
        esu_preflight_tests::builtin_policy_json("GuestConfiguration_ArcESU_Deny.json"),
    )
    .await;
}

/// The subscription's one list of role assignments, of policy assignments and of exemptions
/// (everything at, above and below it) is split by scope: each scope keeps what was made at it
/// or above it — what its own `atScope()` list would have — and nothing made at another group
/// or at a resource below it.
#[tokio::test]
async fn the_subscriptions_lists_are_split_by_scope() {
    let mock = ArmMock::start().await;
    estate(&mock).await;
    permissions_and_deny_definition(&mock).await;
    let sub = sub_scope(SUB);
    let rg = |name: &str| format!("{sub}/resourceGroups/{name}");
    let machine = machine_id(SUB);
    let mg = esu_preflight_tests::management_group_scope("mg-corp");
    let scopes = [
        ("at-mg", mg.clone()),
        ("at-sub", sub.clone()),
        ("at-rg-esu", rg("rg-esu")),
        // Case and a trailing slash do not matter.
        ("at-rg-arc", format!("{}/", rg("RG-ARC"))),
        ("at-rg-other", rg("rg-other")),
        ("at-rg-es", rg("rg-es")),
        ("at-machine", machine.clone()),
    ];
    let role = esu_preflight_tests::role_definition_id(SUB, roles::CONTRIBUTOR);
    mock.definition(
        &role,
        esu_preflight_tests::builtin_role_json("Contributor.json", &role),
    )
    .await;
    mock.role_assignments(
        SUB,
        scopes
            .iter()
            .map(|(name, scope)| {
                esu_preflight_tests::role_assignment_json(scope, name, &role, CALLER_OID)
            })
            .collect(),
    )
    .await;
    mock.policy_assignments(
        SUB,
        scopes
            .iter()
            .map(|(name, scope)| {
                esu_preflight_tests::policy_assignment_json(
                    scope,
                    name,
                    policies::DENY_ESU_LICENSE,
                    json!({}),
                    "Default",
                )
            })
            .collect(),
    )
    .await;
    let exemption = |name: &str, scope: &str| {
        json!({
            "id": format!("{scope}/providers/Microsoft.Authorization/policyExemptions/{name}"),
            "name": name,
            "type": "Microsoft.Authorization/policyExemptions",
            "properties": {
                "policyAssignmentId": format!("{sub}/providers/Microsoft.Authorization/policyAssignments/at-sub"),
                "exemptionCategory": "Waiver",
            },
        })
    };
    mock.policy_exemptions(
        SUB,
        scopes
            .iter()
            .map(|(name, scope)| exemption(name, scope))
            .collect(),
    )
    .await;
    let snapshot = gather_with(caller_client(&mock), plan()).await;
    mock.assert_no_url_requested_twice().await;
    let names = |fact: &Option<Fact<Vec<Value>>>| -> Vec<String> {
        value(fact)
            .iter()
            .map(|item| item["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let subscription = &snapshot.subscriptions[0];
    let expected: [(&esu_preflight::snapshot::ScopeAuthorization, &[&str]); 3] = [
        (&subscription.authorization, &["at-mg", "at-sub"]),
        (
            &group(subscription, "rg-esu").authorization,
            &["at-mg", "at-sub", "at-rg-esu"],
        ),
        (
            &group(subscription, "rg-arc").authorization,
            &["at-mg", "at-sub", "at-rg-arc"],
        ),
    ];
    for (authorization, kept) in expected {
        assert_eq!(names(&authorization.role_assignments), kept);
        assert_eq!(names(&authorization.policy_assignments), kept);
        assert_eq!(names(&authorization.policy_exemptions), kept);
    }
}

/// A caller who may not list the whole subscription's policy assignments still gets each
/// group's: its own `atScope()` list is read instead, and the subscription's says why not.
#[tokio::test]
async fn a_forbidden_subscription_list_falls_back_to_each_groups_own() {
    let mock = ArmMock::start().await;
    estate(&mock).await;
    permissions_and_deny_definition(&mock).await;
    let sub = sub_scope(SUB);
    let at_group = esu_preflight_tests::policy_assignment_json(
        &format!("{sub}/resourceGroups/rg-esu"),
        "deny-in-rg-esu",
        policies::DENY_ESU_LICENSE,
        json!({}),
        "Default",
    );
    mock.policy_assignments(SUB, vec![at_group]).await;
    mock.mount(
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(format!(
                "{sub}/providers/Microsoft.Authorization/policyAssignments"
            )))
            .respond_with(mock.json(
                403,
                esu_preflight_tests::authorization_failed(
                    "Microsoft.Authorization/policyAssignments/read",
                    &sub,
                ),
            ))
            .with_priority(1),
    )
    .await;
    let snapshot = gather_with(caller_client(&mock), plan()).await;
    let subscription = &snapshot.subscriptions[0];
    let reason = subscription
        .authorization
        .policy_assignments
        .as_ref()
        .and_then(Fact::unavailable)
        .expect("the subscription's list is forbidden");
    assert_eq!(reason.kind, UnavailableKind::Forbidden);
    let kept: Vec<&str> = value(
        &group(subscription, "rg-esu")
            .authorization
            .policy_assignments,
    )
    .iter()
    .map(|a| a["name"].as_str().unwrap_or_default())
    .collect();
    assert_eq!(kept, ["deny-in-rg-esu"]);
    let group_lists = mock
        .received()
        .await
        .iter()
        .filter(|r| {
            r.url.path().ends_with("/policyAssignments")
                && r.url.path().contains("/resourceGroups/")
        })
        .count();
    assert_eq!(group_lists, 2, "rg-esu's and rg-arc's own lists");
}
