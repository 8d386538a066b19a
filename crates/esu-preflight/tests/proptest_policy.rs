//! Property tests for the policy evaluator.
//!
//! 1. Arbitrary JSON as rules, parameters, resources, assignments and exemptions: the evaluator
//!    never panics (whatever it is fed, it answers).
//! 2. What it cannot decide comes out undecidable, never as allowed. The property: take a rule
//!    tree of decidable conditions with "holes"; fill each hole with a condition the evaluator
//!    cannot decide (an unknown operator, function or alias, a missing parameter, a `count`).
//!    Filling the holes with every combination of true and false conditions instead gives the
//!    answers the unknown conditions *could* have produced. If they all agree, the verdict
//!    with the unknowns must be that answer or undecidable; if they disagree, it must be
//!    undecidable. With a single hole the answer must be exact (Kleene logic is exact for a
//!    variable that occurs once), so the evaluator cannot over-report undecidable either.
//! 3. The real Not allowed resource types built-in, under arbitrary lists, effects and
//!    enforcement modes, denies a planned license exactly when it should.
//! 4. The policy checks (ESU301–ESU305) over arbitrary assignments, definitions, exemptions and
//!    service answers never panic, and an ESU301 pass that left something undetermined always
//!    comes with an ESU304 finding.
//! 5. The decision cache answers every resource as `decide` does (it merges only resources the
//!    decision cannot tell apart).

use esu_preflight::policy::{
    AssignmentContext, Parameters, Resource, Verdict, decide, evaluate_rule, resolve_effect,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use time::macros::datetime;

/// Keys a policy condition may have, plus a few it may not.
const KEYS: &[&str] = &[
    "allOf",
    "anyOf",
    "not",
    "field",
    "value",
    "count",
    "equals",
    "notEquals",
    "in",
    "notIn",
    "like",
    "notLike",
    "contains",
    "notContains",
    "containsKey",
    "notContainsKey",
    "match",
    "notMatch",
    "exists",
    "greater",
    "lessOrEquals",
    "where",
    "if",
    "then",
    "effect",
    "properties",
    "parameters",
    "policyRule",
    "sortOf",
];

/// Strings that exercise the expression parser and the field lookup.
const STRINGS: &[&str] = &[
    "type",
    "name",
    "fullName",
    "id",
    "location",
    "kind",
    "tags",
    "tags['a']",
    "tags[a]",
    "tags.",
    "tags[",
    "Microsoft.HybridCompute/licenses/x",
    "Microsoft.Other/things/y",
    "[parameters('p')]",
    "[field('type')]",
    "[concat('a', parameters('p'))]",
    "[toLower(1)]",
    "[if(true(), 'a', 'b')]",
    "[split('a/b', '/')[5]]",
    "[",
    "]",
    "[]",
    "[[x]",
    "[x]",
    "[parameters('p').q]",
    "[length(parameters('p'))]",
    "[substring('ab', -1, 9)]",
    "*",
    "#?.",
    "Deny",
    "deny",
    "Disabled",
    "[utcNow()]",
    "[int('9999999999999999999999')]",
    "",
];

fn leaf_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        "[\\[\\]()',.a-z0-9 *#?]{0,24}".prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
    ]
}

/// Arbitrary JSON, biased towards the shapes policies have.
fn any_json() -> impl Strategy<Value = Value> {
    leaf_json().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-zA-Z]{1,6}",
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn any_resource() -> impl Strategy<Value = Resource> {
    (
        prop::sample::select(vec![
            "Microsoft.HybridCompute/licenses",
            "Microsoft.HybridCompute/machines/licenseProfiles",
            "Microsoft.HybridCompute/machines",
            "",
            "weird",
        ]),
        ".{0,8}",
        prop::option::of("[a-z]{0,8}"),
        prop::collection::btree_map("[a-zA-Z ]{0,6}", ".{0,6}", 0..3),
        prop::collection::btree_map(
            prop::sample::select(STRINGS).prop_map(str::to_lowercase),
            any_json(),
            0..3,
        ),
    )
        .prop_map(|(type_, name, location, tags, fields)| Resource {
            type_: type_.to_owned(),
            full_name: name.clone(),
            id: format!("/subscriptions/s/resourceGroups/rg/providers/{type_}/{name}"),
            name,
            location,
            kind: None,
            tags,
            fields,
            unknown: Default::default(),
            not_indexed: false,
        })
}

fn any_parameters() -> impl Strategy<Value = Parameters> {
    prop::collection::btree_map(
        prop_oneof![
            Just("p".to_owned()),
            Just("effect".to_owned()),
            "[a-z]{1,4}"
        ],
        any_json(),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluating_arbitrary_rules_never_panics(
        rule in any_json(),
        parameters in any_parameters(),
        resource in any_resource(),
    ) {
        let _ = evaluate_rule(&rule, &parameters, &resource);
        let _ = evaluate_rule(&json!({"if": rule}), &parameters, &resource);
    }

    #[test]
    fn resolving_arbitrary_assignments_never_panics(
        assignment in any_json(),
        definition in any_json(),
        set in prop::option::of(any_json()),
        reference in prop::option::of(prop::sample::select(vec!["a", "A", "ref"])),
        exemptions in prop::collection::vec(any_json(), 0..3),
        groups in prop::option::of(prop::collection::vec("[a-zA-Z/]{0,12}", 0..3)),
        resource in any_resource(),
    ) {
        let ctx = AssignmentContext {
            assignment: &assignment,
            definition: &definition,
            set_definition: set.as_ref(),
            reference_id: reference,
            exemptions: &exemptions,
            now: datetime!(2026-11-29 12:00 UTC),
            management_groups: groups.as_deref(),
        };
        let _ = resolve_effect(&ctx, &resource);
        let _ = decide(&ctx, &resource);
    }

    #[test]
    fn the_policy_checks_never_panic_and_never_hide_what_they_could_not_decide(
        assignments in prop::collection::vec(any_json(), 0..4),
        definition in any_json(),
        set in any_json(),
        exemptions in prop::collection::vec(any_json(), 0..2),
        answer in any_json(),
        location in prop::sample::select(vec!["eastus", "westeurope", "East US", ""]),
    ) {
        use esu_preflight::snapshot::{Fact, PolicyRestrictionCheck, Scope, Snapshot, SubscriptionSnapshot, Unavailable, UnavailableKind};
        const SUB: &str = "00000000-0000-0000-0000-0000000000aa";
        let reason = Unavailable {
            kind: UnavailableKind::HttpError,
            http_status: Some(503),
            code: None,
            message: "unavailable".into(),
            action: None,
            scope: None,
            retry_after_secs: None,
        };
        let mut sub = SubscriptionSnapshot::unavailable_for(SUB, reason);
        // Every assignment points at one of two definitions the tenant holds, whatever else it is.
        let definition_id = "/providers/Microsoft.Authorization/policyDefinitions/d";
        let set_id = "/providers/Microsoft.Authorization/policySetDefinitions/s";
        let assignments: Vec<Value> = assignments
            .into_iter()
            .enumerate()
            .map(|(i, mut a)| {
                if let Some(map) = a.as_object_mut() {
                    let id = if i % 2 == 0 { definition_id } else { set_id };
                    map.insert("properties".into(), json!({"policyDefinitionId": id}));
                }
                a
            })
            .collect();
        sub.authorization.policy_assignments = Some(Fact::Available { value: assignments });
        sub.authorization.policy_exemptions = Some(Fact::Available { value: exemptions });
        let license_id = format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/licenses/l"
        );
        sub.policy_restrictions = vec![PolicyRestrictionCheck {
            resource_id: license_id,
            resource_type: "Microsoft.HybridCompute/licenses".into(),
            answer: Fact::Available { value: answer },
        }];
        let mut snapshot = Snapshot::new(Scope::subscriptions([SUB]));
        snapshot.subscriptions.push(sub);
        snapshot.tenant.policy_definitions.insert(definition_id.to_ascii_lowercase(), Fact::Available { value: definition });
        snapshot.tenant.policy_set_definitions.insert(set_id.to_ascii_lowercase(), Fact::Available { value: set });
        let plan = esu_preflight::plan::LicensePlan::from_json_str(
            &json!({"license": [{
                "name": "l", "subscription": SUB, "resource_group": "rg", "location": location,
                "target": "Windows Server 2012 R2", "edition": "Datacenter", "type": "pCore",
                "processors": 16,
                "machines": [format!("/subscriptions/{SUB}/resourceGroups/arc/providers/Microsoft.HybridCompute/machines/m")]
            }]}).to_string(),
            std::path::Path::new("plan.json"),
        );
        prop_assume!(plan.is_ok());
        let plan = plan.unwrap();
        let config = esu_preflight::checks::Config::default();
        let input = esu_preflight::checks::EvalInput::new(&snapshot, &config, datetime!(2026-11-29 12:00 UTC))
            .with_plan(&plan);
        let findings = esu_preflight::checks::evaluate(&input);
        let esu304 = findings.iter().any(|f| f.check_id == "ESU304" && f.status == esu_preflight::Status::Fail);
        for f in findings.iter().filter(|f| f.check_id.starts_with("ESU30")) {
            prop_assert!(!f.message.is_empty() && !f.message.contains('\n'), "{:?}", f);
            let undetermined = f.evidence.get("undetermined").as_ref().and_then(Value::as_u64).unwrap_or(0);
            if f.status == esu_preflight::Status::Pass && undetermined > 0 {
                prop_assert!(esu304, "a pass with {} undetermined and no ESU304: {:?}", undetermined, f);
            }
        }
    }

    #[test]
    fn expressions_never_panic(
        body in "[a-zA-Z(),'\\[\\]. 0-9-]{0,40}",
        parameters in any_parameters(),
        resource in any_resource(),
    ) {
        let rule = json!({"value": format!("[{body}]"), "equals": "x"});
        let _ = evaluate_rule(&rule, &parameters, &resource);
    }

    #[test]
    fn what_cannot_be_decided_is_never_allowed(
        tree in tree(),
        unknowns in prop::collection::vec(prop::sample::select(UNKNOWN_KINDS), 8),
    ) {
        let resource = license();
        let parameters = known_parameters();
        let holes = tree.holes();
        prop_assume!(holes <= 6);
        let with_unknowns = evaluate_rule(
            &tree.render(&mut |i| unknown_condition(unknowns[i % unknowns.len()])),
            &parameters,
            &resource,
        );
        // Every answer the unknown conditions could have produced.
        let mut possible = Vec::new();
        for bits in 0u32..(1 << holes) {
            let filled = tree.render(&mut |i| known_condition(bits & (1 << i) != 0));
            let verdict = evaluate_rule(&filled, &parameters, &resource);
            prop_assert!(
                !matches!(verdict, Verdict::Undecidable { .. }),
                "a tree of known conditions must be decidable: {filled}"
            );
            if !possible.contains(&verdict) {
                possible.push(verdict);
            }
        }
        match possible.as_slice() {
            [only] if holes <= 1 => prop_assert_eq!(&with_unknowns, only),
            [only] => prop_assert!(
                &with_unknowns == only || matches!(with_unknowns, Verdict::Undecidable { .. }),
                "{:?} with unknowns, {:?} whatever they are", with_unknowns, only
            ),
            _ => prop_assert!(
                matches!(with_unknowns, Verdict::Undecidable { .. }),
                "the unknowns decide between {:?}, yet the verdict is {:?}", possible, with_unknowns
            ),
        }
    }
}

/// A rule tree with numbered holes.
#[derive(Debug, Clone)]
enum Tree {
    /// A decidable condition from [`DECIDABLE`].
    Known(usize),
    Hole,
    AllOf(Vec<Tree>),
    AnyOf(Vec<Tree>),
    Not(Box<Tree>),
}

impl Tree {
    fn holes(&self) -> usize {
        match self {
            Tree::Known(_) => 0,
            Tree::Hole => 1,
            Tree::AllOf(items) | Tree::AnyOf(items) => items.iter().map(Tree::holes).sum(),
            Tree::Not(inner) => inner.holes(),
        }
    }

    fn render(&self, fill: &mut dyn FnMut(usize) -> Value) -> Value {
        let mut next = 0;
        self.render_from(&mut next, fill)
    }

    fn render_from(&self, next: &mut usize, fill: &mut dyn FnMut(usize) -> Value) -> Value {
        match self {
            Tree::Known(i) => DECIDABLE[*i % DECIDABLE.len()].clone(),
            Tree::Hole => {
                let v = fill(*next);
                *next += 1;
                v
            }
            Tree::AllOf(items) => {
                json!({"allOf": items.iter().map(|t| t.render_from(next, fill)).collect::<Vec<_>>()})
            }
            Tree::AnyOf(items) => {
                json!({"anyOf": items.iter().map(|t| t.render_from(next, fill)).collect::<Vec<_>>()})
            }
            Tree::Not(inner) => json!({"not": inner.render_from(next, fill)}),
        }
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        3 => (0usize..64).prop_map(Tree::Known),
        1 => Just(Tree::Hole),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::AllOf),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::AnyOf),
            inner.prop_map(|t| Tree::Not(Box::new(t))),
        ]
    })
}

fn license() -> Resource {
    Resource::planned_license(
        "sub",
        "rg",
        "ws2012-lic",
        "westeurope",
        [("ESU Usage", "WS2012 MULTIPURPOSE")],
    )
    // What only a license plan would tell (the checks mark a hypothetical license's name so).
    .with_unknown("fullName", "not known without a license plan")
}

fn known_parameters() -> Parameters {
    Parameters::from([
        (
            "blocked".to_owned(),
            json!(["Microsoft.HybridCompute/licenses"]),
        ),
        ("locations".to_owned(), json!(["eastus"])),
    ])
}

/// Decidable conditions on [`license`], some true and some false.
static DECIDABLE: std::sync::LazyLock<Vec<Value>> = std::sync::LazyLock::new(|| {
    vec![
        json!({"field": "type", "in": "[parameters('blocked')]"}),
        json!({"field": "location", "notIn": "[parameters('locations')]"}),
        json!({"field": "location", "in": "[parameters('locations')]"}),
        json!({"field": "name", "like": "ws2012-*"}),
        json!({"field": "name", "match": "ws####-???"}),
        json!({"field": "tags['ESU Usage']", "exists": true}),
        json!({"field": "tags['owner']", "exists": true}),
        json!({"value": "[field('type')]", "exists": true}),
        json!({"field": "kind", "equals": "x"}),
        json!({"field": "Microsoft.Storage/storageAccounts/sku.name", "notIn": ["a"]}),
        json!({"value": "[toLower(concat('A', 'b'))]", "equals": "ab"}),
        json!({"field": "tags", "containsKey": "esu usage"}),
    ]
});

fn known_condition(truth: bool) -> Value {
    if truth {
        json!({"value": "a", "equals": "a"})
    } else {
        json!({"value": "a", "equals": "b"})
    }
}

const UNKNOWN_KINDS: &[&str] = &[
    "operator",
    "function",
    "alias",
    "parameter",
    "count",
    "shape",
    "plan",
    "plan-expression",
];

fn unknown_condition(kind: &str) -> Value {
    match kind {
        "operator" => json!({"field": "name", "sortOf": "lic"}),
        "function" => json!({"value": "[utcNow()]", "greater": "2026"}),
        "alias" => {
            json!({"field": "Microsoft.HybridCompute/licenses/licenseDetails.processors", "less": 16})
        }
        "parameter" => json!({"field": "location", "in": "[parameters('missing')]"}),
        "count" => {
            json!({"count": {"field": "Microsoft.HybridCompute/licenses/x[*]"}, "greater": 0})
        }
        "plan" => json!({"field": "fullName", "like": "ws*"}),
        "plan-expression" => json!({"value": "[field('fullName')]", "notEquals": "x"}),
        _ => json!({"field": "name"}),
    }
}

/// A built-in definition from `tests/fixtures/arm/policy-builtin/`.
fn builtin(file: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/arm/policy-builtin/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn assignment_of(definition: &Value, parameters: Value, mode: &str) -> Value {
    json!({
        "id": "/subscriptions/sub/providers/Microsoft.Authorization/policyAssignments/a",
        "properties": {
            "policyDefinitionId": definition["id"],
            "parameters": parameters,
            "enforcementMode": mode,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The real Not allowed resource types built-in denies a planned license exactly when its
    /// list names the license type (in any case), under the effect the assignment gives.
    #[test]
    fn not_allowed_types_denies_exactly_the_listed_type(
        listed in prop::collection::vec(
            prop::sample::select(vec![
                "Microsoft.HybridCompute/licenses",
                "microsoft.hybridcompute/LICENSES",
                "Microsoft.HybridCompute/machines",
                "Microsoft.Storage/storageAccounts",
            ]),
            0..4,
        ),
        effect in prop::option::of(prop::sample::select(vec!["Deny", "deny", "Audit", "Disabled"])),
        enforced in any::<bool>(),
    ) {
        let def = builtin("InvalidResourceTypes_Deny.json");
        let mut parameters = json!({"listOfResourceTypesNotAllowed": {"value": listed}});
        if let Some(effect) = effect {
            parameters["effect"] = json!({"value": effect});
        }
        let mode = if enforced { "Default" } else { "DoNotEnforce" };
        let a = assignment_of(&def, parameters, mode);
        let ctx = AssignmentContext {
            assignment: &a,
            definition: &def,
            set_definition: None,
            reference_id: None,
            exemptions: &[],
            now: datetime!(2026-11-29 12:00 UTC),
            management_groups: None,
        };
        let blocked = listed.iter().any(|t| t.eq_ignore_ascii_case("Microsoft.HybridCompute/licenses"));
        let deny = effect.is_none_or(|e| e.eq_ignore_ascii_case("deny"));
        let decision = decide(&ctx, &license());
        prop_assert_eq!(
            matches!(decision, esu_preflight::policy::Decision::Denies { .. }),
            blocked && deny && enforced,
            "{:?}", decision
        );
    }
}

/// A resource the cache may or may not be able to tell from others: licenses and license
/// profiles in a few groups, locations and names, some fields unknown.
fn nearby_resource() -> impl Strategy<Value = Resource> {
    (
        any::<bool>(),
        prop::sample::select(vec!["rg-a", "rg-b", "RG-A"]),
        prop::sample::select(vec!["srv-1", "srv-2", "esu-1"]),
        prop::option::of(prop::sample::select(vec!["eastus", "westeurope", "East US"])),
        prop::sample::select(vec![None, Some("name"), Some("tags"), Some("location")]),
        any::<bool>(),
    )
        .prop_map(|(license, group, name, location, unknown, not_indexed)| {
            let mut resource = if license {
                Resource::planned_license("sub", group, name, location.unwrap_or(""), [("env", name)])
            } else {
                Resource::license_profile(
                    &format!("/subscriptions/sub/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/{name}"),
                    location.unwrap_or(""),
                    "/subscriptions/sub/resourceGroups/rg-a/providers/Microsoft.HybridCompute/licenses/l",
                )
            };
            if location.is_none() {
                resource.location = None;
            }
            if let Some(field) = unknown {
                resource = resource.with_unknown(field, "not known");
            }
            resource.not_indexed = not_indexed;
            resource
        })
}

/// Definitions whose rules read different parts of a resource.
fn reading_definition() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "InvalidResourceTypes_Deny.json",
            "AllowedResourceTypes_Deny.json",
            "AllowedLocations_Deny.json",
            "GuestConfiguration_ArcESU_Deny.json",
        ])
        .prop_map(builtin),
        (
            prop::sample::select(vec![
                json!({"field": "name", "like": "srv-*"}),
                json!({"field": "tags['env']", "equals": "esu-1"}),
                json!({"value": "[resourceGroup().name]", "equals": "rg-a"}),
                json!({"field": "[concat('tag', 's.env')]", "exists": true}),
                json!({"anyOf": [{"field": "location", "equals": "eastus"}, {"field": "id", "contains": "rg-b"}]}),
                json!({"allOf": [{"field": "type", "equals": "Microsoft.HybridCompute/licenses"}, {"field": "fullName", "notEquals": "srv-2"}]}),
                json!({"field": "Microsoft.HybridCompute/licenses/licenseType", "equals": "ESU"}),
            ]),
            prop::sample::select(vec!["All", "Indexed"]),
            prop::sample::select(vec!["deny", "[if(equals(field('location'), 'eastus'), 'Deny', 'Audit')]"]),
        )
            .prop_map(|(condition, mode, effect)| json!({
                "id": "/subscriptions/sub/providers/Microsoft.Authorization/policyDefinitions/custom",
                "properties": {"mode": mode, "policyRule": {"if": condition, "then": {"effect": effect}}},
            })),
        any_json(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The decision cache answers every resource exactly as `decide` does: it only merges
    /// resources that the decision cannot tell apart (rules, `notScopes`, exemptions and
    /// selectors reading the id, name, location, type or tags).
    #[test]
    fn the_decision_cache_answers_as_decide_does(
        definition in reading_definition(),
        not_scopes in prop::collection::vec(
            prop::sample::select(vec!["/subscriptions/sub/resourceGroups/rg-b", "/subscriptions/other"]),
            0..2,
        ),
        selectors in prop::option::of(prop::sample::select(vec![
            json!([{"selectors": [{"kind": "resourceLocation", "in": ["eastus"]}]}]),
            json!([{"selectors": [{"kind": "resourceType", "notIn": ["Microsoft.HybridCompute/licenses"]}]}]),
        ])),
        exempt in any::<bool>(),
        resources in prop::collection::vec(nearby_resource(), 1..8),
    ) {
        let mut assignment = assignment_of(
            &definition,
            json!({
                "listOfResourceTypesNotAllowed": {"value": ["Microsoft.HybridCompute/licenses"]},
                "listOfResourceTypesAllowed": {"value": ["Microsoft.HybridCompute/machines"]},
                "listOfAllowedLocations": {"value": ["westeurope"]},
                "effect": {"value": "Deny"},
            }),
            "Default",
        );
        assignment["properties"]["notScopes"] = json!(not_scopes);
        if let Some(selectors) = selectors {
            assignment["properties"]["resourceSelectors"] = selectors;
        }
        let exemptions = if exempt {
            vec![json!({
                "id": "/subscriptions/sub/resourceGroups/rg-a/providers/Microsoft.Authorization/policyExemptions/e",
                "properties": {"policyAssignmentId": assignment["id"], "exemptionCategory": "Waiver"},
            })]
        } else {
            Vec::new()
        };
        let ctx = AssignmentContext {
            assignment: &assignment,
            definition: &definition,
            set_definition: None,
            reference_id: None,
            exemptions: &exemptions,
            now: datetime!(2026-11-29 12:00 UTC),
            management_groups: None,
        };
        let mut cache = esu_preflight::policy::DecisionCache::default();
        // Twice over: the second round is answered from the cache.
        for resource in resources.iter().chain(&resources) {
            prop_assert_eq!(cache.decide(&ctx, resource), decide(&ctx, resource), "{:?}", resource);
        }
        prop_assert!(cache.decided() <= resources.len());
    }
}
