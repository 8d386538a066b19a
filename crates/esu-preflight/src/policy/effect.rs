//! What an assignment does to a resource: its parameters, its effect, and whether it applies.
//!
//! The payloads stay raw `serde_json::Value`s as ARM returns them (the resource envelope
//! `{id, name, properties}` or just its `properties`): every property read here is optional, a
//! new one never breaks anything, and a missing or malformed one that the answer depends on is
//! [`Undecided`], never a default that would hide a Deny.

use super::expr::{Scope, eval_str, eval_value};
use super::memo::{Facet, note};
use super::{Parameters, Resource, Undecided, Verdict, evaluate_rule, lookup_ci};
use crate::times::parse_rfc3339;
use serde_json::Value;
use time::OffsetDateTime;

/// One policy definition as assigned: directly, or as a member of an initiative.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentContext<'a> {
    /// The policy assignment (`Microsoft.Authorization/policyAssignments`).
    pub assignment: &'a Value,
    /// The policy definition evaluated (for an initiative, the member's definition).
    pub definition: &'a Value,
    /// The initiative (`policySetDefinitions`) when the assignment assigns one.
    pub set_definition: Option<&'a Value>,
    /// The member's `policyDefinitionReferenceId` in `set_definition`.
    pub reference_id: Option<&'a str>,
    /// The policy exemptions that may apply (any; those for other assignments are ignored).
    pub exemptions: &'a [Value],
    /// The time exemptions' `expiresOn` is compared with.
    pub now: OffsetDateTime,
    /// The management groups above the resource's subscription (names or ids), or `None` when
    /// not known: a `notScopes` entry or an exemption at a management group then cannot be
    /// placed, and is undecidable rather than assumed to cover the resource or not.
    pub management_groups: Option<&'a [String]>,
}

/// Why an assignment does not enforce its effect on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// `enforcementMode: DoNotEnforce`: evaluated for compliance, never denies.
    DoNotEnforce,
    /// One of the assignment's `notScopes` covers the resource.
    NotScope {
        /// The excluded scope.
        scope: String,
    },
    /// A policy exemption covers the resource.
    Exempt {
        /// The exemption's id.
        exemption_id: String,
        /// `Waiver` or `Mitigated`.
        category: String,
    },
    /// The assignment's `resourceSelectors` do not select the resource.
    NotSelected,
}

/// The effect of an assignment on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectResolution {
    /// The effect after parameters and `overrides`, as written (`Deny`, `deny`, `Audit`…), or
    /// why it cannot be known.
    pub effect: Result<String, Undecided>,
    /// Why the assignment does not enforce on the resource, if it does not.
    pub exclusion: Option<Exclusion>,
    /// Whether the assignment applies cannot be decided (an unknown selector kind, a malformed
    /// `notScopes`); `None` when it can.
    pub applicability: Option<Undecided>,
}

impl EffectResolution {
    /// Whether the effect is enforced on the resource: known to apply and not excluded.
    pub fn enforced(&self) -> bool {
        self.exclusion.is_none() && self.applicability.is_none()
    }

    /// Whether the effect is `deny` (any case); `None` when the effect is unknown.
    pub fn is_deny(&self) -> Option<bool> {
        self.effect
            .as_ref()
            .ok()
            .map(|e| e.eq_ignore_ascii_case("deny"))
    }
}

/// The verdict of one assignment on one planned resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The PUT would be denied.
    Denies {
        /// The effect as written (`Deny`, `deny`…).
        effect: String,
    },
    /// The assignment would not deny the resource.
    Allows {
        /// Why not.
        reason: Allowed,
    },
    /// The evaluator cannot tell (ESU304).
    Undecidable(Undecided),
}

/// Why an assignment allows a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// The assignment does not enforce on the resource.
    Excluded(Exclusion),
    /// The effect is not `Deny` (`Audit`, `Disabled`, …).
    Effect(String),
    /// The rule's condition is false for the resource.
    RuleDoesNotMatch,
    /// The definition's `mode` is a resource provider mode (`Microsoft.KeyVault.Data`, …): it
    /// evaluates data-plane objects, never an ARM PUT; or it is `Indexed` and the resource's
    /// type has no tags or location ([`Resource::not_indexed`]).
    Mode(String),
}

/// One member of an initiative: what [`AssignmentContext::reference_id`] and the definition to
/// read come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMember {
    /// `policyDefinitionReferenceId`.
    pub reference_id: String,
    /// `policyDefinitionId`: the definition to read for this member.
    pub definition_id: String,
}

/// The members of an initiative (`policySetDefinitions` payload), in order; a member without a
/// reference id or definition id is left out.
pub fn set_members(set_definition: &Value) -> Vec<SetMember> {
    array(props(set_definition), "policyDefinitions")
        .filter_map(|m| {
            Some(SetMember {
                reference_id: text(m, "policyDefinitionReferenceId")?.to_owned(),
                definition_id: text(m, "policyDefinitionId")?.to_owned(),
            })
        })
        .collect()
}

/// Whether a policy definition id names an initiative (`…/policySetDefinitions/…`) rather than a
/// single definition, as an assignment's `policyDefinitionId` may.
pub fn is_set_definition_id(id: &str) -> bool {
    id.to_ascii_lowercase()
        .contains("/providers/microsoft.authorization/policysetdefinitions/")
}

/// A payload's `properties`, or the payload itself when it is already the properties.
fn props(v: &Value) -> &Value {
    v.get("properties").unwrap_or(v)
}

/// `{name: {value}}` parameter values of an assignment or initiative member.
fn values(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    props(v)
        .get("parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| Some((k, p.get("value")?)))
}

/// `{name: {defaultValue}}` parameter defaults of a definition or initiative.
fn defaults(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    props(v)
        .get("parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| Some((k, p.get("defaultValue")?)))
}

/// Given values over defaults, names ignoring case.
fn layered<'v>(
    defaults: impl Iterator<Item = (&'v String, &'v Value)>,
    given: impl Iterator<Item = (&'v String, &'v Value)>,
) -> Parameters {
    let mut out = Parameters::new();
    for (k, v) in defaults.chain(given) {
        out.retain(|existing, _| !existing.eq_ignore_ascii_case(k));
        out.insert(k.clone(), v.clone());
    }
    out
}

/// The definition's parameter values under this assignment.
///
/// Directly assigned: the assignment's `parameters.<name>.value`, else the definition's
/// `defaultValue`. As an initiative member: the member's `parameters.<name>.value` — which may
/// be an expression over the set's parameters (`[parameters('x')]`), themselves the
/// assignment's value, else the set's default — else the definition's default. A parameter
/// with no value at all, or whose member value cannot be resolved, is left out (using it is
/// undecidable). A reference id the initiative does not have is undecidable.
pub fn resolve_parameters(ctx: &AssignmentContext<'_>) -> Result<Parameters, Undecided> {
    let assigned = || values(ctx.assignment);
    let Some(set) = ctx.set_definition else {
        return Ok(layered(defaults(ctx.definition), assigned()));
    };
    let set_parameters = layered(defaults(set), assigned());
    let reference = ctx.reference_id.unwrap_or_default();
    let member = props(set)
        .get("policyDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("policyDefinitionReferenceId")
                .and_then(Value::as_str)
                .is_some_and(|r| r.eq_ignore_ascii_case(reference))
        })
        .ok_or_else(|| {
            Undecided::new(
                format!("policyDefinitionReferenceId '{reference}'"),
                "the initiative has no member with this reference id",
            )
        })?;
    let scope = Scope {
        parameters: &set_parameters,
        resource: None,
    };
    let mut member_values = Vec::new();
    let mut unresolved = Vec::new();
    for (name, value) in values(member) {
        match eval_value(value, scope) {
            Ok(v) => member_values.push((name, v)),
            Err(_) => unresolved.push(name),
        }
    }
    let mut parameters = layered(
        defaults(ctx.definition),
        member_values.iter().map(|(k, v)| (*k, v)),
    );
    // A member value that cannot be resolved has no value: not the definition's default,
    // which the initiative meant to replace.
    parameters.retain(|k, _| !unresolved.iter().any(|u| u.eq_ignore_ascii_case(k)));
    Ok(parameters)
}

/// What the assignment does to `resource`: the effect, and whether it applies.
///
/// The effect is the definition's `then.effect` (a literal in any case, or an expression over
/// the resolved parameters), replaced by the first matching `overrides` entry of kind
/// `policyEffect`. The assignment is excluded by `enforcementMode: DoNotEnforce`, a `notScopes`
/// entry that is the resource's id or one of its ancestors (ARM ids, ignoring case; a
/// management group through [`AssignmentContext::management_groups`]), an
/// exemption for this assignment (and, in an initiative, this member) whose scope covers the
/// resource and that has not expired at `ctx.now`, or `resourceSelectors` that select
/// nothing the resource is.
pub fn resolve_effect(ctx: &AssignmentContext<'_>, resource: &Resource) -> EffectResolution {
    resolve_effect_with(ctx, resource, &resolve_parameters(ctx))
}

/// [`resolve_effect`] with the assignment's parameters already resolved.
fn resolve_effect_with(
    ctx: &AssignmentContext<'_>,
    resource: &Resource,
    parameters: &Result<Parameters, Undecided>,
) -> EffectResolution {
    let assignment = props(ctx.assignment);
    let mut applicability = None;
    let exclusion = excluded(ctx, resource).unwrap_or_else(|u| {
        applicability = Some(u);
        None
    });
    EffectResolution {
        effect: effect(ctx, assignment, resource, parameters),
        exclusion,
        applicability,
    }
}

fn effect(
    ctx: &AssignmentContext<'_>,
    assignment: &Value,
    resource: &Resource,
    parameters: &Result<Parameters, Undecided>,
) -> Result<String, Undecided> {
    for o in array(assignment, "overrides") {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !kind.eq_ignore_ascii_case("policyEffect") {
            continue;
        }
        let selectors = o.get("selectors").and_then(Value::as_array);
        let all = match selectors {
            Some(list) => selectors_match(list, resource, ctx.reference_id)?,
            None => true,
        };
        if all {
            return match o.get("value") {
                Some(Value::String(v)) => Ok(v.clone()),
                other => Err(Undecided::new(
                    format!("overrides value {}", other.unwrap_or(&Value::Null)),
                    "an override's effect must be a string",
                )),
            };
        }
    }
    let parameters = parameters.as_ref().map_err(Clone::clone)?;
    let written = props(ctx.definition)
        .get("policyRule")
        .and_then(|r| r.get("then"))
        .and_then(|t| lookup_then(t, "effect"))
        .ok_or_else(|| Undecided::new("policyRule.then.effect", "the definition has no effect"))?;
    let Value::String(text) = written else {
        return Err(Undecided::new(
            written.to_string(),
            "the effect is not a string",
        ));
    };
    let scope = Scope {
        parameters,
        resource: Some(resource),
    };
    match eval_str(text, scope)? {
        Value::String(e) => Ok(e),
        other => Err(Undecided::new(
            text.as_str(),
            format!("the effect is {other}"),
        )),
    }
}

fn lookup_then<'v>(then: &'v Value, key: &str) -> Option<&'v Value> {
    then.as_object().and_then(|m| lookup_ci(m, key))
}

fn array<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.as_object()
        .and_then(|m| lookup_ci(m, key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.as_object().and_then(|m| lookup_ci(m, key))?.as_str()
}

/// Whether `scope` (an ARM id) is the resource or one of its ancestors, ignoring case. A
/// management group is an ancestor when it is one of `ctx.management_groups`.
fn covers(
    scope: &str,
    resource: &Resource,
    ctx: &AssignmentContext<'_>,
) -> Result<bool, Undecided> {
    const GROUPS: &str = "/providers/microsoft.management/managementgroups/";
    let lower = scope.trim_end_matches('/').to_lowercase();
    if let Some(group) = lower.strip_prefix(GROUPS) {
        let Some(known) = ctx.management_groups else {
            return Err(Undecided::new(
                scope,
                "the management groups above the subscription are not known",
            ));
        };
        let name = |g: &str| {
            g.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_lowercase()
        };
        return Ok(!group.contains('/') && known.iter().any(|g| name(g) == group));
    }
    note(Facet::Id);
    let id = resource.id.to_lowercase();
    Ok(!lower.is_empty() && (id == lower || id.starts_with(&format!("{lower}/"))))
}

fn excluded(
    ctx: &AssignmentContext<'_>,
    resource: &Resource,
) -> Result<Option<Exclusion>, Undecided> {
    let assignment = props(ctx.assignment);
    if text(assignment, "enforcementMode").is_some_and(|m| m.eq_ignore_ascii_case("DoNotEnforce")) {
        return Ok(Some(Exclusion::DoNotEnforce));
    }
    // A definitive exclusion wins over one that cannot be decided, whatever the order.
    let mut undecided = None;
    for scope in array(assignment, "notScopes") {
        let covered = match scope {
            Value::String(scope) => covers(scope, resource, ctx),
            other => Err(Undecided::new(
                other.to_string(),
                "a notScopes entry is not a string",
            )),
        };
        match covered {
            Ok(true) => {
                return Ok(Some(Exclusion::NotScope {
                    scope: scope.as_str().unwrap_or_default().to_owned(),
                }));
            }
            Ok(false) => {}
            Err(u) => undecided = undecided.or(Some(u)),
        }
    }
    let assignment_id = text(ctx.assignment, "id").unwrap_or_default();
    for exemption in ctx.exemptions {
        match exemption_covers(exemption, assignment_id, ctx, resource) {
            Ok(Some(found)) => return Ok(Some(found)),
            Ok(None) => {}
            Err(u) => undecided = undecided.or(Some(u)),
        }
    }
    let selectors: Vec<&Value> = array(assignment, "resourceSelectors").collect();
    if !selectors.is_empty() {
        match any_resource_selector(&selectors, resource) {
            Ok(false) => return Ok(Some(Exclusion::NotSelected)),
            Ok(true) => {}
            Err(u) => undecided = undecided.or(Some(u)),
        }
    }
    undecided.map_or(Ok(None), Err)
}

/// `resourceSelectors`: the resource is selected when every selector of some entry matches.
fn any_resource_selector(entries: &[&Value], resource: &Resource) -> Result<bool, Undecided> {
    let mut undecided = None;
    for entry in entries {
        let list: Vec<Value> = array(entry, "selectors").cloned().collect();
        match selectors_match(&list, resource, None) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(u) => undecided = undecided.or(Some(u)),
        }
    }
    undecided.map_or(Ok(false), Err)
}

/// Whether every selector (`{kind, in | notIn}`) matches; `reference_id` is the initiative
/// member for `policyDefinitionReferenceId` selectors.
fn selectors_match(
    selectors: &[Value],
    resource: &Resource,
    reference_id: Option<&str>,
) -> Result<bool, Undecided> {
    for selector in selectors {
        let shown = || selector.to_string();
        let kind = text(selector, "kind")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let subject: Option<String> = match kind.as_str() {
            "resourcelocation" => {
                note(Facet::Location);
                resource.location.clone()
            }
            "resourcetype" => {
                note(Facet::Type);
                Some(resource.type_.clone())
            }
            // The only documented value: subscription-level resources, which have no location.
            "resourcewithoutlocation" => {
                note(Facet::Location);
                resource
                    .location
                    .is_none()
                    .then(|| "subscriptionLevelResources".to_owned())
            }
            "policydefinitionreferenceid" => reference_id.map(str::to_owned),
            _ => {
                return Err(Undecided::new(
                    shown(),
                    format!("unknown selector kind '{kind}'"),
                ));
            }
        };
        let list = |key: &str| -> Option<Vec<String>> {
            let items = selector
                .as_object()
                .and_then(|m| lookup_ci(m, key))?
                .as_array()?;
            Some(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.to_lowercase(),
                        other => other.to_string(),
                    })
                    .collect(),
            )
        };
        let subject = subject.map(|s| s.to_lowercase());
        let hit = |values: &[String]| subject.as_ref().is_some_and(|s| values.contains(s));
        let matches = match (list("in"), list("notIn")) {
            (Some(values), None) => hit(&values),
            (None, Some(values)) => !hit(&values),
            _ => {
                return Err(Undecided::new(
                    shown(),
                    "a selector needs exactly one of in/notIn",
                ));
            }
        };
        if !matches {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The exemption, if `exemption` exempts the resource from this assignment (and member).
fn exemption_covers(
    exemption: &Value,
    assignment_id: &str,
    ctx: &AssignmentContext<'_>,
    resource: &Resource,
) -> Result<Option<Exclusion>, Undecided> {
    let p = props(exemption);
    let for_assignment = text(p, "policyAssignmentId")
        .is_some_and(|a| !assignment_id.is_empty() && a.eq_ignore_ascii_case(assignment_id));
    let id = text(exemption, "id").unwrap_or_default();
    const MARK: &str = "/providers/microsoft.authorization/policyexemptions/";
    let scope = id.to_lowercase().find(MARK).map(|at| &id[..at]);
    let category = text(p, "exemptionCategory").unwrap_or_default();
    let known_category = ["waiver", "mitigated"].contains(&category.to_ascii_lowercase().as_str());
    // An expiry we cannot read keeps the exemption out: the policy still applies (a Deny is
    // reported, never hidden).
    let live = match p.get("expiresOn") {
        None | Some(Value::Null) => true,
        Some(Value::String(at)) => parse_rfc3339(at).is_some_and(|at| at > ctx.now),
        Some(_) => false,
    };
    let references: Vec<&str> = array(p, "policyDefinitionReferenceIds")
        .filter_map(Value::as_str)
        .collect();
    let member = references.is_empty()
        || ctx
            .reference_id
            .is_some_and(|r| references.iter().any(|x| x.eq_ignore_ascii_case(r)));
    if !(for_assignment && known_category && live && member) {
        return Ok(None);
    }
    match scope {
        Some(scope) if covers(scope, resource, ctx)? => {}
        _ => return Ok(None),
    }
    let selectors: Vec<&Value> = array(p, "resourceSelectors").collect();
    if !selectors.is_empty() && !any_resource_selector(&selectors, resource)? {
        return Ok(None);
    }
    Ok(Some(Exclusion::Exempt {
        exemption_id: id.to_owned(),
        category: category.to_owned(),
    }))
}

/// One assignment's verdict on one resource: the definition's mode, the rule and the effect
/// together.
///
/// A definitive "allows" wins over anything undecided (an exclusion, a non-Deny effect, a false
/// condition); otherwise anything undecided makes the decision undecidable; otherwise the
/// resource is denied.
pub fn decide(ctx: &AssignmentContext<'_>, resource: &Resource) -> Decision {
    // `All` and `Indexed` evaluate ARM resources (licenses and license profiles have tags and a
    // location, so `Indexed` sees them too); no mode at all is `Indexed` for older payloads.
    if let Some(mode) = text(props(ctx.definition), "mode")
        && !mode.eq_ignore_ascii_case("all")
        && (!mode.eq_ignore_ascii_case("indexed") || {
            note(Facet::NotIndexed);
            resource.not_indexed
        })
    {
        return Decision::Allows {
            reason: Allowed::Mode(mode.to_owned()),
        };
    }
    let parameters = resolve_parameters(ctx);
    let resolution = resolve_effect_with(ctx, resource, &parameters);
    if let Some(exclusion) = resolution.exclusion {
        return Decision::Allows {
            reason: Allowed::Excluded(exclusion),
        };
    }
    if let Ok(effect) = &resolution.effect
        && !effect.eq_ignore_ascii_case("deny")
    {
        return Decision::Allows {
            reason: Allowed::Effect(effect.clone()),
        };
    }
    let verdict = match &parameters {
        Ok(parameters) => match props(ctx.definition).get("policyRule") {
            Some(rule @ Value::Object(_)) if rule.get("if").is_some() => {
                evaluate_rule(rule, parameters, resource)
            }
            _ => Undecided::new("policyRule.if", "the definition has no policy rule").into(),
        },
        Err(u) => u.clone().into(),
    };
    match verdict {
        Verdict::DoesNotMatch => Decision::Allows {
            reason: Allowed::RuleDoesNotMatch,
        },
        Verdict::Undecidable { expression, why } => {
            Decision::Undecidable(Undecided { expression, why })
        }
        Verdict::Matches => match (resolution.effect, resolution.applicability) {
            (Err(u), _) | (Ok(_), Some(u)) => Decision::Undecidable(u),
            (Ok(effect), None) => Decision::Denies { effect },
        },
    }
}

/// The parameter a `[parameters('name')]` expression reads, if `text` is exactly that.
fn parameter_reference(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    let head = inner.get(..10)?;
    if !head.eq_ignore_ascii_case("parameters") {
        return None;
    }
    let name = inner[10..]
        .trim()
        .strip_prefix('(')?
        .strip_suffix(')')?
        .trim()
        .strip_prefix('\'')?
        .strip_suffix('\'')?;
    (!name.contains('\'')).then_some(name)
}

/// A `{name: {…}}` parameter entry's `key` (`value` or `defaultValue`), names ignoring case.
fn parameter_entry<'v>(v: &'v Value, name: &str, key: &str) -> Option<&'v Value> {
    let parameters = props(v).get("parameters")?.as_object()?;
    lookup_ci(parameters, name)?.get(key)
}

/// Where the effect of an assignment on `resource` comes from, in words, for a finding's
/// evidence: an `overrides` entry, the definition's literal, or a parameter and who set it
/// (the assignment, the initiative member, the initiative's or the definition's default).
///
/// ```
/// use esu_preflight::policy::{AssignmentContext, Resource, effect_source};
/// use serde_json::json;
///
/// let definition = json!({"properties": {
///     "parameters": {"effect": {"type": "String", "defaultValue": "Deny"}},
///     "policyRule": {"if": {"field": "type", "equals": "x"},
///                    "then": {"effect": "[parameters('effect')]"}}}});
/// let assignment = json!({"properties": {"policyDefinitionId": "d"}});
/// let ctx = AssignmentContext {
///     assignment: &assignment,
///     definition: &definition,
///     set_definition: None,
///     reference_id: None,
///     exemptions: &[],
///     now: time::OffsetDateTime::UNIX_EPOCH,
///     management_groups: None,
/// };
/// let license = Resource::planned_license("s", "rg", "l", "eastus", []);
/// assert_eq!(
///     effect_source(&ctx, &license),
///     "the default value of the definition's parameter 'effect'"
/// );
/// ```
pub fn effect_source(ctx: &AssignmentContext<'_>, resource: &Resource) -> String {
    let assignment = props(ctx.assignment);
    for o in array(assignment, "overrides") {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !kind.eq_ignore_ascii_case("policyEffect") {
            continue;
        }
        let all = match o.get("selectors").and_then(Value::as_array) {
            Some(list) => selectors_match(list, resource, ctx.reference_id).unwrap_or(false),
            None => true,
        };
        if all {
            return "the assignment's overrides (kind policyEffect)".to_owned();
        }
    }
    let written = props(ctx.definition)
        .get("policyRule")
        .and_then(|r| r.get("then"))
        .and_then(|t| lookup_then(t, "effect"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(name) = parameter_reference(written) else {
        return if is_expression_text(written) {
            format!("the definition's effect expression {written}")
        } else {
            "the definition's literal effect".to_owned()
        };
    };
    let Some(set) = ctx.set_definition else {
        return if parameter_entry(ctx.assignment, name, "value").is_some() {
            format!("the assignment's value of parameter '{name}'")
        } else {
            format!("the default value of the definition's parameter '{name}'")
        };
    };
    let reference = ctx.reference_id.unwrap_or_default();
    let member = array(props(set), "policyDefinitions").find(|m| {
        text(m, "policyDefinitionReferenceId").is_some_and(|r| r.eq_ignore_ascii_case(reference))
    });
    match member.and_then(|m| parameter_entry(m, name, "value")) {
        Some(Value::String(v)) => match parameter_reference(v) {
            Some(set_name) if parameter_entry(ctx.assignment, set_name, "value").is_some() => {
                format!(
                    "the assignment's value of initiative parameter '{set_name}' (member \
                     {reference}, parameter '{name}')"
                )
            }
            Some(set_name) => format!(
                "the default value of initiative parameter '{set_name}' (member {reference}, \
                 parameter '{name}')"
            ),
            None => format!("the initiative's value for member {reference}, parameter '{name}'"),
        },
        Some(_) => format!("the initiative's value for member {reference}, parameter '{name}'"),
        None => format!("the default value of the definition's parameter '{name}'"),
    }
}

/// Whether `text` is a template expression (`[…]`, not `[[…`).
fn is_expression_text(text: &str) -> bool {
    text.starts_with('[') && !text.starts_with("[[") && text.ends_with(']')
}
