//! Issue 7's "everything" subscription: the estate the `check_latency` benchmark's
//! "everything" scenarios read, and the `arm_mock` example's `everything` scenario serves (what
//! `scripts/bench-python-sdk` measures the official Python SDK against).
//!
//! One enabled subscription ([`SUB`]) with every provider registered, the caller a Contributor,
//! 50 policy assignments (49 custom definitions and one initiative of three built-in members),
//! 200 Arc machines, 20 ESU licenses; and a plan of 20 new licenses linking 10 machines each
//! (whose dry runs `validateLicense` and `checkPolicyRestrictions` the mock answers).

use crate::{
    ArmMock, SUB, builtin_policy_json, license_json, machine_json, policies,
    policy_assignment_json, policy_set_json, sub_scope,
};
use esu_preflight::plan::{LicensePlan, PlannedLicense};
use serde_json::json;

/// How many policy assignments the subscription holds (49 of definitions, one of the initiative).
pub const POLICY_ASSIGNMENTS: usize = 50;
/// How many Arc machines the subscription holds.
pub const MACHINES: usize = 200;
/// How many ESU licenses the subscription holds (and the plan adds).
pub const LICENSES: usize = 20;
/// How many machines each planned license links.
pub const MACHINES_PER_PLANNED_LICENSE: usize = 10;

/// Mounts the whole subscription on `mock`: [`SUB`] enabled, its providers (all registered), and
/// everything [`mount_estate`] mounts. Returns the plan.
pub async fn mount(mock: &ArmMock) -> LicensePlan {
    mock.subscription(SUB, "Enabled").await;
    mock.providers(SUB, &[]).await;
    mount_estate(mock).await
}

/// Mounts what the subscription holds besides itself and its providers: the caller's
/// Contributor role, the policy assignments and their definitions, the machines and licenses,
/// and the answer of `validateLicense`. Returns the plan.
pub async fn mount_estate(mock: &ArmMock) -> LicensePlan {
    let scope = sub_scope(SUB);
    mock.caller_contributor(SUB).await;
    let mut assignments = Vec::new();
    let definition = builtin_policy_json("AllowedLocations_Deny.json");
    for i in 0..POLICY_ASSIGNMENTS - 1 {
        let id = format!("{scope}/providers/Microsoft.Authorization/policyDefinitions/custom-{i}");
        let mut body = definition.clone();
        body["id"] = json!(id);
        body["name"] = json!(format!("custom-{i}"));
        mock.definition(&id, body).await;
        assignments.push(policy_assignment_json(
            &scope,
            &format!("assignment-{i}"),
            &id,
            json!({ "listOfAllowedLocations": { "value": ["eastus", "westeurope"] } }),
            "Default",
        ));
    }
    let set_id =
        format!("{scope}/providers/Microsoft.Authorization/policySetDefinitions/esu-guard-rails");
    let members = [
        (
            "denyEsu",
            policies::DENY_ESU_LICENSE,
            "GuestConfiguration_ArcESU_Deny.json",
        ),
        (
            "notAllowed",
            policies::NOT_ALLOWED_TYPES,
            "InvalidResourceTypes_Deny.json",
        ),
        (
            "allowedTypes",
            "/providers/Microsoft.Authorization/policyDefinitions/a08ec900-254a-4555-9bf5-e42af04b5c5c",
            "AllowedResourceTypes_Deny.json",
        ),
    ];
    for (_, id, file) in members {
        mock.definition(id, builtin_policy_json(file)).await;
    }
    let member_list: Vec<_> = members
        .iter()
        .map(|(reference, id, _)| {
            (
                *reference,
                *id,
                json!({ "effect": { "value": "[parameters('esuEffect')]" } }),
            )
        })
        .collect();
    mock.definition(
        &set_id,
        policy_set_json(
            &set_id,
            json!({ "esuEffect": { "type": "String", "defaultValue": "Disabled" } }),
            &member_list,
        ),
    )
    .await;
    assignments.push(policy_assignment_json(
        &scope,
        "esu-guard-rails",
        &set_id,
        json!({ "esuEffect": { "value": "Audit" } }),
        "Default",
    ));
    mock.policy_assignments(SUB, assignments).await;

    let machines: Vec<_> = (0..MACHINES)
        .map(|i| {
            machine_json(
                SUB,
                &format!("srv-{i:03}"),
                "Windows Server 2012 R2 Standard",
                "6.3.9600.20778",
                "1.40.02664.1629",
                8,
            )
        })
        .collect();
    let licenses: Vec<_> = (0..LICENSES)
        .map(|i| {
            license_json(
                SUB,
                &format!("esu-{i:02}"),
                "Windows Server 2012 R2",
                "Standard",
                "vCore",
                8,
            )
        })
        .collect();
    let machine_ids: Vec<String> = machines
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    mock.hybrid_compute(SUB, licenses, machines).await;
    mock.mount(mock.validate_license_accepts(SUB)).await;
    LicensePlan {
        licenses: (0..LICENSES)
            .map(|i| PlannedLicense {
                name: format!("esu-new-{i:02}"),
                subscription: None,
                resource_group: "rg-esu".into(),
                location: "eastus".into(),
                target: "Windows Server 2012 R2".into(),
                edition: "Standard".into(),
                license_type: "vCore".into(),
                processors: 8,
                state: "Activated".into(),
                machines: machine_ids
                    [i * MACHINES_PER_PLANNED_LICENSE..(i + 1) * MACHINES_PER_PLANNED_LICENSE]
                    .to_vec(),
            })
            .collect(),
        mak_keys: Vec::new(),
    }
}
