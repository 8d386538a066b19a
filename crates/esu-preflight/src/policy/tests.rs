//! Fixture tests: the real built-in definitions (current and v1.0.0 literal-effect versions) and
//! the REST spec examples in `tests/fixtures/arm/policy*/`, against the resources an ESU plan
//! creates.

use super::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const SUB: &str = "ae640e6b-ba3e-4256-9d62-2993eecfa6f2";
const RG: &str = "TestResourceGroup";
const NOW: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);

fn fixture(path: &str) -> Value {
    let full = format!(
        "{}/../../tests/fixtures/arm/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The body of a REST spec example's 200 (or 201) response.
fn example(path: &str) -> Value {
    let responses = &fixture(path)["responses"];
    responses
        .get("200")
        .or_else(|| responses.get("201"))
        .unwrap()["body"]
        .clone()
}

fn builtin_def(file: &str) -> Value {
    fixture(&format!("policy-builtin/{file}"))
}

fn license(name: &str, location: &str) -> Resource {
    Resource::planned_license(
        SUB,
        RG,
        name,
        location,
        [("ESU Usage", "WS2012 MULTIPURPOSE")],
    )
}

fn profile() -> Resource {
    Resource::license_profile(
        &format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.HybridCompute/machines/srv-01"
        ),
        "westeurope",
        &license("ws2012-lic", "westeurope").id,
    )
}

fn machine() -> Resource {
    Resource {
        type_: "Microsoft.HybridCompute/machines".into(),
        name: "srv-01".into(),
        full_name: "srv-01".into(),
        id: format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.HybridCompute/machines/srv-01"
        ),
        location: Some("westeurope".into()),
        ..Resource::default()
    }
}

/// An assignment of `definition` at the subscription, with `parameters` (`{name: value}`).
fn assign(definition: &Value, parameters: Value) -> Value {
    let parameters: serde_json::Map<String, Value> = parameters
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "value": v })))
        .collect();
    json!({
        "id": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/esu-block"),
        "name": "esu-block",
        "properties": {
            "policyDefinitionId": definition["id"],
            "parameters": parameters,
            "scope": format!("/subscriptions/{SUB}"),
            "notScopes": [],
            "enforcementMode": "Default"
        }
    })
}

fn ctx<'a>(assignment: &'a Value, definition: &'a Value) -> AssignmentContext<'a> {
    AssignmentContext {
        assignment,
        definition,
        set_definition: None,
        reference_id: None,
        exemptions: &[],
        now: NOW,
        management_groups: None,
    }
}

fn denies(effect: &str) -> Decision {
    Decision::Denies {
        effect: effect.into(),
    }
}

fn allows(reason: Allowed) -> Decision {
    Decision::Allows { reason }
}

#[test]
fn builtins_are_recognised_by_id_with_their_names() {
    for (file, expected) in [
        ("GuestConfiguration_ArcESU_Deny.json", DENY_ESU_LICENSE),
        ("InvalidResourceTypes_Deny.json", NOT_ALLOWED_RESOURCE_TYPES),
        ("AllowedResourceTypes_Deny.json", ALLOWED_RESOURCE_TYPES),
        ("AllowedLocations_Deny.json", ALLOWED_LOCATIONS),
        (
            "ResourceGroupAllowedLocations_Deny.json",
            ALLOWED_LOCATIONS_RESOURCE_GROUPS,
        ),
        (
            "v1.0.0/InvalidResourceTypes_Deny.json",
            NOT_ALLOWED_RESOURCE_TYPES,
        ),
    ] {
        let def = builtin_def(file);
        let found = builtin(def["id"].as_str().unwrap());
        assert_eq!(found, Some(expected), "{file}");
        assert_eq!(def["properties"]["displayName"], expected.name, "{file}");
    }
    let custom = example("policy/getPolicyDefinition.json");
    assert_eq!(builtin(custom["id"].as_str().unwrap()), None);
}

#[test]
fn not_allowed_resource_types_denies_a_license_and_not_a_machine() {
    for file in [
        "InvalidResourceTypes_Deny.json",
        "v1.0.0/InvalidResourceTypes_Deny.json",
    ] {
        let def = builtin_def(file);
        // No effect parameter: v2.0.0 takes the definition's default (Deny), v1.0.0 its literal.
        let a = assign(
            &def,
            json!({"listOfResourceTypesNotAllowed": ["microsoft.hybridcompute/licenses"]}),
        );
        assert_eq!(
            decide(&ctx(&a, &def), &license("lic", "westeurope")),
            denies("Deny"),
            "{file}"
        );
        assert_eq!(
            decide(&ctx(&a, &def), &machine()),
            allows(Allowed::RuleDoesNotMatch),
            "{file}"
        );
        assert_eq!(
            decide(&ctx(&a, &def), &profile()),
            allows(Allowed::RuleDoesNotMatch),
            "{file}"
        );
    }
}

#[test]
fn allowed_resource_types_without_license_profiles_denies_the_link() {
    for (file, effect) in [
        ("AllowedResourceTypes_Deny.json", "Deny"),
        ("v1.0.0/AllowedResourceTypes_Deny.json", "deny"),
    ] {
        let def = builtin_def(file);
        let a = assign(
            &def,
            json!({"listOfResourceTypesAllowed": [
                "Microsoft.HybridCompute/licenses", "Microsoft.HybridCompute/machines"
            ]}),
        );
        assert_eq!(decide(&ctx(&a, &def), &profile()), denies(effect), "{file}");
        assert_eq!(
            decide(&ctx(&a, &def), &license("lic", "westeurope")),
            allows(Allowed::RuleDoesNotMatch),
            "{file}"
        );
    }
}

#[test]
fn allowed_locations_denies_a_license_elsewhere() {
    for (file, effect) in [
        ("AllowedLocations_Deny.json", "Deny"),
        ("v1.0.0/AllowedLocations_Deny.json", "deny"),
    ] {
        let def = builtin_def(file);
        let a = assign(
            &def,
            json!({"listOfAllowedLocations": ["westeurope", "northeurope"]}),
        );
        assert_eq!(
            decide(&ctx(&a, &def), &license("lic", "eastus")),
            denies(effect),
            "{file}"
        );
        assert_eq!(
            decide(&ctx(&a, &def), &license("lic", "WestEurope")),
            allows(Allowed::RuleDoesNotMatch),
            "{file}"
        );
        // The license profile takes the machine's location.
        assert_eq!(
            decide(&ctx(&a, &def), &profile()),
            allows(Allowed::RuleDoesNotMatch),
            "{file}"
        );
    }
    // The resource-group twin only looks at resource groups.
    let def = builtin_def("ResourceGroupAllowedLocations_Deny.json");
    let a = assign(&def, json!({"listOfAllowedLocations": ["westeurope"]}));
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "eastus")),
        allows(Allowed::RuleDoesNotMatch)
    );
}

#[test]
fn allowed_locations_without_the_list_is_undecidable_naming_the_parameter() {
    let def = builtin_def("AllowedLocations_Deny.json");
    let a = assign(&def, json!({}));
    let Decision::Undecidable(u) = decide(&ctx(&a, &def), &license("lic", "eastus")) else {
        panic!("expected undecidable");
    };
    assert!(u.why.contains("listOfAllowedLocations"), "{u:?}");
}

#[test]
fn the_esu_deny_builtin_denies_licenses_unless_disabled() {
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    let a = assign(&def, json!({}));
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "westeurope")),
        denies("Deny")
    );
    assert_eq!(
        decide(&ctx(&a, &def), &profile()),
        allows(Allowed::RuleDoesNotMatch)
    );
    let disabled = assign(&def, json!({"effect": "Disabled"}));
    assert_eq!(
        decide(&ctx(&disabled, &def), &license("lic", "westeurope")),
        allows(Allowed::Effect("Disabled".into()))
    );
    let resolution = resolve_effect(&ctx(&a, &def), &license("lic", "westeurope"));
    assert_eq!(resolution.is_deny(), Some(true));
    assert!(resolution.enforced());
}

#[test]
fn do_not_enforce_is_not_enforced() {
    // The real DoNotEnforce assignment of the custom naming definition (literal "deny").
    let a = example("policy/createPolicyAssignmentWithoutEnforcement.json");
    let def = example("policy/getPolicyDefinition.json");
    let badly_named = license("ws2012-lic", "westeurope");
    assert_eq!(
        decide(&ctx(&a, &def), &badly_named),
        allows(Allowed::Excluded(Exclusion::DoNotEnforce))
    );
    let mut enforced = a.clone();
    enforced["properties"]["enforcementMode"] = json!("Default");
    assert_eq!(decide(&ctx(&enforced, &def), &badly_named), denies("deny"));
    assert_eq!(
        decide(
            &ctx(&enforced, &def),
            &license("depta-esu-lc", "westeurope")
        ),
        allows(Allowed::RuleDoesNotMatch)
    );
}

#[test]
fn not_scopes_covering_the_resource_group_exclude_it() {
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    let mut a = assign(&def, json!({}));
    a["properties"]["notScopes"] = json!([format!(
        "/subscriptions/{SUB}/resourcegroups/TESTRESOURCEGROUP"
    )]);
    let Decision::Allows {
        reason: Allowed::Excluded(Exclusion::NotScope { scope }),
    } = decide(&ctx(&a, &def), &license("lic", "westeurope"))
    else {
        panic!("expected a notScopes exclusion");
    };
    assert!(scope.ends_with("TESTRESOURCEGROUP"));
    // A sibling whose name merely starts the same is not covered.
    a["properties"]["notScopes"] =
        json!([format!("/subscriptions/{SUB}/resourceGroups/TestResource")]);
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "westeurope")),
        denies("Deny")
    );
}

#[test]
fn exemptions_exclude_until_they_expire() {
    let exemptions = example("policy/listPolicyExemptionsForResourceGroup.json")["value"]
        .as_array()
        .unwrap()
        .clone();
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    // The Mitigated exemption TestVNetRG is for the DevOrg LimitPorts assignment, at the RG.
    let mut a = assign(&def, json!({}));
    a["id"] = json!(
        "/providers/Microsoft.Management/managementGroups/DevOrg/providers/Microsoft.Authorization/policyAssignments/LimitPorts"
    );
    let mut c = ctx(&a, &def);
    c.exemptions = &exemptions;
    assert_eq!(
        decide(&c, &license("lic", "westeurope")),
        allows(Allowed::Excluded(Exclusion::Exempt {
            exemption_id: exemptions[1]["id"].as_str().unwrap().into(),
            category: "Mitigated".into(),
        }))
    );
    // A license in another resource group is outside the exemption's scope.
    let elsewhere = Resource::planned_license(SUB, "other-rg", "lic", "westeurope", []);
    assert_eq!(decide(&c, &elsewhere), denies("Deny"));

    let mut expired = exemptions.clone();
    expired[1]["properties"]["expiresOn"] = json!("2026-11-01T00:00:00Z");
    c.exemptions = &expired;
    assert_eq!(decide(&c, &license("lic", "westeurope")), denies("Deny"));
    let mut later = exemptions.clone();
    later[1]["properties"]["expiresOn"] = json!("2027-01-01T00:00:00.000+01:00");
    c.exemptions = &later;
    assert!(matches!(
        decide(&c, &license("lic", "westeurope")),
        Decision::Allows { .. }
    ));
    let mut unreadable = exemptions.clone();
    unreadable[1]["properties"]["expiresOn"] = json!("next tuesday");
    c.exemptions = &unreadable;
    assert_eq!(decide(&c, &license("lic", "westeurope")), denies("Deny"));
}

#[test]
fn an_exemption_narrowed_to_one_member_covers_only_that_member() {
    let exemptions = example("policy/listPolicyExemptionsForResourceGroup.json")["value"]
        .as_array()
        .unwrap()
        .clone();
    let set = example("policy/getPolicySetDefinition.json");
    let naming = example("policy/getPolicyDefinition.json");
    let skus = example("policy/getBuiltinPolicyDefinition.json");
    let mut a = example("policy/getPolicyAssignmentWithOverrides.json");
    a["id"] = json!(
        "/providers/Microsoft.Management/managementGroups/DevOrg/providers/Microsoft.Authorization/policyAssignments/CostManagement"
    );
    let base = AssignmentContext {
        set_definition: Some(&set),
        exemptions: &exemptions,
        ..ctx(&a, &skus)
    };
    let lic = license("lic", "westeurope");
    let limit_skus = AssignmentContext {
        reference_id: Some("Limit_Skus"),
        ..base
    };
    assert!(matches!(
        resolve_effect(&limit_skus, &lic).exclusion,
        Some(Exclusion::Exempt { .. })
    ));
    let resource_naming = AssignmentContext {
        definition: &naming,
        reference_id: Some("Resource_Naming"),
        ..base
    };
    assert_eq!(resolve_effect(&resource_naming, &lic).exclusion, None);
    assert_eq!(decide(&resource_naming, &lic), denies("deny"));
}

#[test]
fn initiative_members_take_parameters_from_the_set_and_overrides() {
    // The real CostManagement initiative passes prefix/suffix literals to the naming member;
    // the real assignment overrides Limit_Skus and Limit_Locations to Audit, not Resource_Naming.
    let set = example("policy/getPolicySetDefinition.json");
    let naming = example("policy/getPolicyDefinition.json");
    let skus = example("policy/getBuiltinPolicyDefinition.json");
    let a = example("policy/getPolicyAssignmentWithOverrides.json");
    let member = |definition, reference| AssignmentContext {
        set_definition: Some(&set),
        reference_id: Some(reference),
        ..ctx(&a, definition)
    };
    let params = resolve_parameters(&member(&naming, "Resource_Naming")).unwrap();
    assert_eq!(params["prefix"], "DeptA");
    assert_eq!(
        decide(
            &member(&naming, "Resource_Naming"),
            &license("lic", "westeurope")
        ),
        denies("deny")
    );
    assert_eq!(
        decide(
            &member(&naming, "Resource_Naming"),
            &license("DeptA-esu-LC", "westeurope")
        ),
        allows(Allowed::RuleDoesNotMatch)
    );
    assert_eq!(
        decide(&member(&skus, "Limit_Skus"), &license("lic", "westeurope")),
        allows(Allowed::Effect("Audit".into()))
    );
    // A reference id the set does not have is undecidable, not a pass.
    assert!(matches!(
        decide(&member(&naming, "Nope"), &license("lic", "westeurope")),
        Decision::Undecidable(_)
    ));
}

/// An initiative over the ESU-deny built-in whose effect is a set parameter.
fn esu_initiative() -> Value {
    json!({
        "id": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policySetDefinitions/esu-guard"),
        "properties": {
            "parameters": {"esuEffect": {"type": "String", "defaultValue": "Audit"}},
            "policyDefinitions": [{
                "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/4c660f31-eafb-408d-a2b3-6ed2260bd26c",
                "policyDefinitionReferenceId": "DenyEsu",
                "parameters": {"effect": {"value": "[parameters('esuEffect')]"}}
            }]
        }
    })
}

#[test]
fn an_initiative_effect_comes_through_a_set_parameter() {
    let set = esu_initiative();
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    let lic = license("lic", "westeurope");
    let with = |a: &Value| {
        decide(
            &AssignmentContext {
                set_definition: Some(&set),
                reference_id: Some("denyesu"),
                ..ctx(a, &def)
            },
            &lic,
        )
    };
    assert_eq!(
        with(&assign(&set, json!({"esuEffect": "Deny"}))),
        denies("Deny")
    );
    // No assignment value: the set's default (Audit), not the definition's (Deny).
    assert_eq!(
        with(&assign(&set, json!({}))),
        allows(Allowed::Effect("Audit".into()))
    );
    // A set parameter with no value anywhere: undecidable, not the definition's default.
    let mut no_default = set.clone();
    no_default["properties"]["parameters"]["esuEffect"]
        .as_object_mut()
        .unwrap()
        .remove("defaultValue");
    let a = assign(&no_default, json!({}));
    let verdict = decide(
        &AssignmentContext {
            set_definition: Some(&no_default),
            reference_id: Some("DenyEsu"),
            ..ctx(&a, &def)
        },
        &lic,
    );
    let Decision::Undecidable(u) = verdict else {
        panic!("expected undecidable, got {verdict:?}");
    };
    assert!(u.why.contains("'effect'"), "{u:?}");
}

#[test]
fn an_override_to_disabled_wins_for_the_selected_members_only() {
    let set = esu_initiative();
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    let lic = license("lic", "westeurope");
    let mut a = assign(&set, json!({"esuEffect": "Deny"}));
    let decide_with = |a: &Value| {
        decide(
            &AssignmentContext {
                set_definition: Some(&set),
                reference_id: Some("DenyEsu"),
                ..ctx(a, &def)
            },
            &lic,
        )
    };
    a["properties"]["overrides"] = json!([{"kind": "policyEffect", "value": "Disabled",
        "selectors": [{"kind": "policyDefinitionReferenceId", "in": ["DENYESU"]}]}]);
    assert_eq!(decide_with(&a), allows(Allowed::Effect("Disabled".into())));
    a["properties"]["overrides"] = json!([{"kind": "policyEffect", "value": "Disabled",
        "selectors": [{"kind": "policyDefinitionReferenceId", "notIn": ["DenyEsu"]}]}]);
    assert_eq!(decide_with(&a), denies("Deny"));
}

#[test]
fn resource_selectors_choose_what_the_assignment_sees() {
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    let mut a = assign(&def, json!({}));
    a["properties"]["resourceSelectors"] = json!([{"name": "eu only",
        "selectors": [{"kind": "resourceLocation", "in": ["westeurope"]}]}]);
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "WestEurope")),
        denies("Deny")
    );
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "eastus")),
        allows(Allowed::Excluded(Exclusion::NotSelected))
    );
    a["properties"]["resourceSelectors"] = json!([{"name": "odd",
        "selectors": [{"kind": "resourceShoeSize", "in": ["42"]}]}]);
    let Decision::Undecidable(u) = decide(&ctx(&a, &def), &license("lic", "eastus")) else {
        panic!("an unknown selector kind must be undecidable");
    };
    assert!(u.why.contains("resourceshoesize"), "{u:?}");
}

#[test]
fn undecidable_conditions_name_the_expression() {
    let lic = license("lic", "westeurope");
    let none = Parameters::new();
    let alias = "Microsoft.HybridCompute/licenses/licenseDetails.processors";
    let rule = json!({"if": {"allOf": [
        {"field": "type", "equals": "Microsoft.HybridCompute/licenses"},
        {"field": alias, "less": 16}
    ]}});
    assert_eq!(
        evaluate_rule(&rule, &none, &lic),
        Verdict::Undecidable {
            expression: alias.into(),
            why: "the field is not modelled for a Microsoft.HybridCompute/licenses resource".into()
        }
    );
    // Once the plan models it, it decides.
    let modelled = lic.clone().with_field(alias, 8);
    assert_eq!(evaluate_rule(&rule, &none, &modelled), Verdict::Matches);

    let function = json!({"if": {"value": "[utcNow()]", "greater": "2026"}});
    let Verdict::Undecidable { expression, why } = evaluate_rule(&function, &none, &lic) else {
        panic!("unknown function");
    };
    assert_eq!(expression, "[utcNow()]");
    assert!(why.contains("utcNow"));

    let operator = json!({"field": "name", "resemblesCloselyTo": "lic"});
    let Verdict::Undecidable { why, .. } = evaluate_rule(&operator, &none, &lic) else {
        panic!("unknown operator");
    };
    assert!(why.contains("resemblesCloselyTo"));

    // A short alias of the resource's own namespace may apply: undecidable alone, decided by
    // the type guard the built-ins put beside it.
    let short = json!({"field": "Microsoft.HybridCompute/imageOffer", "like": "windows*"});
    assert!(matches!(
        evaluate_rule(&short, &none, &lic),
        Verdict::Undecidable { .. }
    ));
    let guarded =
        json!({"allOf": [{"field": "type", "equals": "Microsoft.HybridCompute/machines"}, short]});
    assert_eq!(evaluate_rule(&guarded, &none, &lic), Verdict::DoesNotMatch);

    // The resource group's location is not in the resource's id.
    let group_location = json!({"value": "[resourceGroup().location]", "equals": "westeurope"});
    let Verdict::Undecidable { why, .. } = evaluate_rule(&group_location, &none, &lic) else {
        panic!("resourceGroup().location");
    };
    assert!(why.contains("'location'"), "{why}");

    let count = json!({"count": {"field": "Microsoft.HybridCompute/licenses/x[*]"}, "greater": 0});
    assert!(matches!(
        evaluate_rule(&count, &none, &lic),
        Verdict::Undecidable { .. }
    ));
}

#[test]
fn undecidable_members_do_not_hide_decisive_ones() {
    let lic = license("lic", "westeurope");
    let none = Parameters::new();
    let unknown = json!({"field": "name", "sortOf": "x"});
    let yes = json!({"field": "type", "equals": "microsoft.hybridcompute/LICENSES"});
    let no = json!({"field": "location", "equals": "eastus"});
    let eval = |rule: Value| evaluate_rule(&rule, &none, &lic);
    assert_eq!(eval(json!({"anyOf": [unknown, yes]})), Verdict::Matches);
    assert_eq!(eval(json!({"allOf": [unknown, no]})), Verdict::DoesNotMatch);
    assert!(matches!(
        eval(json!({"allOf": [unknown, yes]})),
        Verdict::Undecidable { .. }
    ));
    assert!(matches!(
        eval(json!({"anyOf": [unknown, no]})),
        Verdict::Undecidable { .. }
    ));
    assert!(matches!(
        eval(json!({"not": unknown})),
        Verdict::Undecidable { .. }
    ));
    assert_eq!(
        eval(json!({"not": {"anyOf": [unknown, yes]}})),
        Verdict::DoesNotMatch
    );
}

#[test]
fn operators_follow_the_policy_semantics() {
    let lic = license("DeptA-lic-01", "westeurope");
    let none = Parameters::new();
    let check = |cond: Value, expected: bool| {
        let verdict = evaluate_rule(&cond, &none, &lic);
        let want = if expected {
            Verdict::Matches
        } else {
            Verdict::DoesNotMatch
        };
        assert_eq!(verdict, want, "{cond}");
    };
    check(json!({"field": "name", "like": "depta-*"}), true);
    check(json!({"field": "name", "notLike": "deptb-*"}), true);
    check(json!({"field": "name", "match": "?????-lic-##"}), true);
    check(json!({"field": "name", "match": "?????-LIC-##"}), false);
    check(
        json!({"field": "name", "matchInsensitively": "?????-LIC-##"}),
        true,
    );
    check(json!({"field": "name", "contains": "LIC"}), true);
    check(json!({"field": "name", "notContains": "xyz"}), true);
    check(json!({"field": "tags", "containsKey": "esu usage"}), true);
    check(json!({"field": "tags", "notContainsKey": "owner"}), true);
    check(
        json!({"field": "tags['ESU Usage']", "equals": "ws2012 multipurpose"}),
        true,
    );
    check(json!({"field": "tags[owner]", "exists": false}), true);
    check(json!({"field": "tags.owner", "notEquals": "x"}), true);
    check(json!({"field": "kind", "exists": "false"}), true);
    check(json!({"field": "kind", "in": ["a"]}), false);
    check(json!({"field": "fullName", "equals": "depta-lic-01"}), true);
    check(
        json!({"field": "id", "like": "/subscriptions/*/resourceGroups/testresourcegroup/*"}),
        true,
    );
    check(json!({"field": "location", "in": ["WESTEUROPE"]}), true);
    check(json!({"field": "location", "equals": "West Europe"}), true);
    check(
        json!({"field": "location", "notIn": ["West Europe", "eastus"]}),
        false,
    );
    check(
        json!({"value": "[less(length(field('tags')), 3)]", "equals": "true"}),
        true,
    );
    check(json!({"value": "4", "equals": 4}), true);
    check(
        json!({"field": "name", "like": "[concat(resourceGroup().name, '*')]"}),
        false,
    );
    check(
        json!({"value": "[resourceGroup().name]", "equals": "testresourcegroup"}),
        true,
    );
    check(
        json!({"value": "[subscription().subscriptionId]", "equals": SUB}),
        true,
    );
    check(json!({"field": "identity.type", "exists": true}), false);
    check(
        json!({"field": "tags['''ESU Usage''']", "exists": true}),
        false,
    );
    check(json!({"field": "tags['ESU Usage']", "exists": true}), true);
    check(
        json!({"value": "[length(field('name'))]", "greaterOrEquals": 12}),
        true,
    );
    check(json!({"value": "b", "greater": "A"}), true);
    check(json!({"value": "2026-01-01", "less": "2026-02-01"}), true);
    check(json!({"value": [1, 2], "contains": 2}), true);
    check(json!({"value": "[[literal]", "equals": "[[literal]"}), true);
    check(json!({"value": "[[literal]", "like": "[[lit*"}), true);
    check(
        json!({"field": "Microsoft.HybridCompute/machines/licenseProfiles/esuProfile.assignedLicense", "exists": true}),
        false,
    );
    check(
        json!({"field": "Microsoft.Storage/storageAccounts/sku.name", "exists": true}),
        false,
    );
    check(
        json!({"field": "Microsoft.HybridCompute/licenses/licenseType", "equals": "esu"}),
        true,
    );
}

#[test]
fn a_foreign_builtin_does_not_touch_esu_resources() {
    // The real storage-SKU built-in: its alias belongs to another provider, so on a license it
    // is absent (not undecidable) and the type guard decides.
    let def = example("policy/getBuiltinPolicyDefinition.json");
    let a = assign(&def, json!({"listOfAllowedSKUs": ["Standard_LRS"]}));
    for resource in [license("lic", "westeurope"), profile()] {
        assert_eq!(
            decide(&ctx(&a, &def), &resource),
            allows(Allowed::RuleDoesNotMatch)
        );
    }
}

#[test]
fn initiative_members_are_listed_for_the_caller_to_read() {
    let set = example("policy/getPolicySetDefinition.json");
    let members = set_members(&set);
    assert_eq!(
        members
            .iter()
            .map(|m| m.reference_id.as_str())
            .collect::<Vec<_>>(),
        ["Limit_Skus", "Resource_Naming"]
    );
    assert!(
        members[1]
            .definition_id
            .ends_with("/policyDefinitions/ResourceNaming")
    );
    let a = example("policy/getPolicyAssignmentWithOverrides.json");
    assert!(is_set_definition_id(
        a["properties"]["policyDefinitionId"].as_str().unwrap()
    ));
    let d = example("policy/createPolicyAssignmentWithoutEnforcement.json");
    assert!(!is_set_definition_id(
        d["properties"]["policyDefinitionId"].as_str().unwrap()
    ));
}

#[test]
fn array_aliases_hold_for_every_member() {
    let none = Parameters::new();
    let alias = "Microsoft.HybridCompute/licenses/volumeLicenseDetails[*].programYear";
    let lic = license("lic", "westeurope").with_field(alias, json!(["Year 1", "Year 2"]));
    let eval = |cond: Value| evaluate_rule(&cond, &none, &lic);
    assert_eq!(
        eval(json!({"field": alias, "like": "year *"})),
        Verdict::Matches
    );
    assert_eq!(
        eval(json!({"field": alias, "equals": "Year 1"})),
        Verdict::DoesNotMatch
    );
    assert_eq!(
        eval(json!({"field": alias, "notEquals": "Year 3"})),
        Verdict::Matches
    );
    let empty = license("lic", "westeurope").with_field(alias, json!([]));
    assert_eq!(
        evaluate_rule(&json!({"field": alias, "equals": "x"}), &none, &empty),
        Verdict::Matches
    );
}

#[test]
fn resource_provider_modes_never_see_an_arm_put() {
    let mut def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    def["properties"]["mode"] = json!("Microsoft.KeyVault.Data");
    let a = assign(&def, json!({}));
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "westeurope")),
        allows(Allowed::Mode("Microsoft.KeyVault.Data".into()))
    );
}

#[test]
fn management_group_scopes_need_the_hierarchy() {
    let def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    let mut a = assign(&def, json!({}));
    a["properties"]["notScopes"] =
        json!(["/providers/Microsoft.Management/managementGroups/Sandbox"]);
    let lic = license("lic", "westeurope");
    let Decision::Undecidable(u) = decide(&ctx(&a, &def), &lic) else {
        panic!("a management group notScope without the hierarchy is undecidable");
    };
    assert!(u.expression.ends_with("managementGroups/Sandbox"), "{u:?}");
    let above = ["/providers/Microsoft.Management/managementGroups/sandbox".to_owned()];
    let with_groups = |groups| AssignmentContext {
        management_groups: Some(groups),
        ..ctx(&a, &def)
    };
    assert!(matches!(
        decide(&with_groups(&above), &lic),
        Decision::Allows {
            reason: Allowed::Excluded(Exclusion::NotScope { .. })
        }
    ));
    assert_eq!(
        decide(&with_groups(&["Prod".to_owned()]), &lic),
        denies("Deny")
    );
    // A definitive exclusion wins over the undecidable management group.
    let mut also = a.clone();
    also["properties"]["notScopes"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("/subscriptions/{SUB}")));
    assert!(matches!(
        decide(&ctx(&also, &def), &lic),
        Decision::Allows { .. }
    ));
}

#[test]
fn a_definition_without_a_rule_is_undecidable() {
    let mut def = builtin_def("GuestConfiguration_ArcESU_Deny.json");
    def["properties"]["policyRule"] = json!({"then": {"effect": "deny"}});
    let a = assign(&def, json!({}));
    assert_eq!(
        decide(&ctx(&a, &def), &license("lic", "westeurope")),
        Decision::Undecidable(Undecided::new(
            "policyRule.if",
            "the definition has no policy rule"
        ))
    );
}
