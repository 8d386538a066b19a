//! Azure Policy evaluation for the resources an ESU plan would create (ESU301–ESU304).
//!
//! Deny policies are only visible when the PUT fails (`RequestDisallowedByPolicy`); this module
//! answers before anything is created, from the policy payloads themselves. It is pure: it
//! reads the raw ARM payloads (`serde_json::Value`, so a new property never breaks parsing) and
//! a modelled [`Resource`], and does no I/O.
//!
//! - [`evaluate_rule`] evaluates a definition's `policyRule.if` against a resource in a
//!   three-valued logic: [`Verdict::Matches`], [`Verdict::DoesNotMatch`], or
//!   [`Verdict::Undecidable`] naming the expression it could not decide (an unknown operator,
//!   function or alias, a field the resource does not model, a parameter without a value).
//!   Undecidable propagates like Kleene logic: `anyOf` with one true member is true, `allOf`
//!   with one false member is false, whatever the others are.
//! - [`resolve_parameters`] and [`resolve_effect`] work out what an assignment does to a
//!   resource: the effect (literal in any case, `[parameters('effect')]` through the
//!   assignment, the initiative and the defaults, then `overrides`) and whether it applies at
//!   all (`enforcementMode`, `notScopes`, exemptions, `resourceSelectors`).
//! - [`decide`] puts both together: [`Decision::Denies`], [`Decision::Allows`] with the reason,
//!   or [`Decision::Undecidable`] — never a silent pass.
//! - [`builtin`] recognises the built-in definitions that can block the ESU flow by id.
//!
//! ```
//! use esu_preflight::policy::{Resource, Verdict, evaluate_rule, Parameters};
//! use serde_json::json;
//!
//! let license = Resource::planned_license("sub-id", "rg-esu", "ws2012-lic", "westeurope", []);
//! let rule = json!({"if": {"field": "type", "in": "[parameters('blocked')]"},
//!                   "then": {"effect": "deny"}});
//! let parameters = Parameters::from([(
//!     "blocked".to_owned(),
//!     json!(["microsoft.hybridcompute/licenses"]),
//! )]);
//! assert_eq!(evaluate_rule(&rule, &parameters, &license), Verdict::Matches);
//!
//! let unknown = json!({"if": {"field": "type", "sortOf": "licenses"}});
//! assert!(matches!(
//!     evaluate_rule(&unknown, &parameters, &license),
//!     Verdict::Undecidable { .. }
//! ));
//! ```

mod effect;
mod eval;
mod expr;
mod memo;
#[cfg(test)]
mod tests;

pub use effect::{
    Allowed, AssignmentContext, Decision, EffectResolution, Exclusion, SetMember, decide,
    effect_source, is_set_definition_id, resolve_effect, resolve_parameters, set_members,
};
pub use eval::evaluate_rule;
pub use memo::DecisionCache;

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Resolved parameter values of one definition, by parameter name (looked up ignoring case).
pub type Parameters = BTreeMap<String, Value>;

/// The outcome of a policy rule's `if` against one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The condition is true: the effect applies to the resource.
    Matches,
    /// The condition is false: the policy does not touch the resource.
    DoesNotMatch,
    /// The evaluator cannot decide; ESU304 reports it.
    Undecidable {
        /// The expression that could not be decided, as written in the rule.
        expression: String,
        /// Why, in a few words.
        why: String,
    },
}

impl From<Undecided> for Verdict {
    fn from(u: Undecided) -> Self {
        Verdict::Undecidable {
            expression: u.expression,
            why: u.why,
        }
    }
}

/// Something the evaluator cannot decide: the expression as written, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decide {expression}: {why}")]
pub struct Undecided {
    /// The expression, condition or payload field, as written.
    pub expression: String,
    /// Why it cannot be decided.
    pub why: String,
}

impl Undecided {
    /// An undecided `expression`, because `why`.
    pub fn new(expression: impl Into<String>, why: impl Into<String>) -> Self {
        Undecided {
            expression: expression.into(),
            why: why.into(),
        }
    }
}

/// A resource as a policy rule sees it: the fields every resource has, plus the aliases this
/// resource models.
///
/// `fields` holds aliases by their lower-case name (`microsoft.hybridcompute/licenses/licensetype`);
/// a `Value::Null` there means "modelled and absent". An alias that is neither here nor a
/// built-in field is **undecidable** when it is one of the resource's own type
/// (`Microsoft.HybridCompute/licenses/…`) or a short alias of its namespace
/// (`Microsoft.HybridCompute/imageOffer`): the evaluator cannot know its value. An alias of
/// another type (`Microsoft.Storage/storageAccounts/sku.name`,
/// `Microsoft.HybridCompute/machines/…` on a license) is **absent**, as Azure evaluates it —
/// which is why built-ins guard such conditions with a `type` test.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    /// The full resource type, `Microsoft.HybridCompute/licenses`.
    pub type_: String,
    /// The last name segment (`default` for a license profile).
    pub name: String,
    /// The name with the parent names, `machine-1/default` (the `fullName` field).
    pub full_name: String,
    /// The ARM id the resource would have.
    pub id: String,
    /// The location, or `None` for a resource without one.
    pub location: Option<String>,
    /// The `kind`, or `None`.
    pub kind: Option<String>,
    /// Tags by name (looked up ignoring case, as Azure does).
    pub tags: BTreeMap<String, String>,
    /// Modelled aliases by lower-case name.
    pub fields: BTreeMap<String, Value>,
    /// Fields whose value cannot be known yet, by lower-case name, with why (`name` of a
    /// license no plan names yet: "a license plan decides it"). A condition on one of them is
    /// undecidable; `tags` here makes every tag unknown.
    pub unknown: BTreeMap<String, String>,
    /// The type supports no tags or no location (an extension resource such as
    /// `Microsoft.GuestConfiguration/guestConfigurationAssignments`): a definition of `mode:
    /// Indexed` never evaluates it.
    pub not_indexed: bool,
}

/// `Microsoft.HybridCompute/licenses`.
pub const LICENSE_TYPE: &str = "Microsoft.HybridCompute/licenses";
/// `Microsoft.HybridCompute/machines/licenseProfiles`.
pub const LICENSE_PROFILE_TYPE: &str = "Microsoft.HybridCompute/machines/licenseProfiles";

impl Resource {
    /// The ESU license the plan would create: `PUT
    /// /subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.HybridCompute/licenses/{name}`.
    ///
    /// Models `licenseType` (`ESU`); add the license details the plan knows with
    /// [`Resource::with_field`].
    pub fn planned_license<'t>(
        subscription: &str,
        resource_group: &str,
        name: &str,
        location: &str,
        tags: impl IntoIterator<Item = (&'t str, &'t str)>,
    ) -> Resource {
        Resource {
            type_: LICENSE_TYPE.to_owned(),
            name: name.to_owned(),
            full_name: name.to_owned(),
            id: format!(
                "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{LICENSE_TYPE}/{name}"
            ),
            location: Some(location.to_owned()),
            kind: None,
            tags: tags
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            fields: BTreeMap::new(),
            unknown: BTreeMap::new(),
            not_indexed: false,
        }
        .with_field("Microsoft.HybridCompute/licenses/licenseType", "ESU")
        .with_field("identity.type", Value::Null)
    }

    /// The license profile linking a license to a machine: `PUT {machine_id}/licenseProfiles/default`
    /// with the machine's location and `esuProfile.assignedLicense`.
    pub fn license_profile(machine_id: &str, machine_location: &str, license_id: &str) -> Resource {
        let machine_id = machine_id.trim_end_matches('/');
        let machine = machine_id.rsplit('/').next().unwrap_or_default();
        Resource {
            type_: LICENSE_PROFILE_TYPE.to_owned(),
            name: "default".to_owned(),
            full_name: format!("{machine}/default"),
            id: format!("{machine_id}/licenseProfiles/default"),
            location: Some(machine_location.to_owned()),
            kind: None,
            tags: BTreeMap::new(),
            fields: BTreeMap::new(),
            unknown: BTreeMap::new(),
            not_indexed: false,
        }
        .with_field(
            "Microsoft.HybridCompute/machines/licenseProfiles/esuProfile.assignedLicense",
            license_id,
        )
        .with_field("identity.type", Value::Null)
    }

    /// Any other resource the plan would create or that a required provider serves (ESU303):
    /// its type, ARM id and location; the name is the id's last segment.
    ///
    /// ```
    /// use esu_preflight::policy::Resource;
    ///
    /// let mak = Resource::planned(
    ///     "Microsoft.WindowsESU/multipleActivationKeys",
    ///     "/subscriptions/s/resourceGroups/rg/providers/Microsoft.WindowsESU/multipleActivationKeys/mak1",
    ///     Some("westeurope"),
    /// );
    /// assert_eq!(mak.name, "mak1");
    /// ```
    pub fn planned(type_: &str, id: &str, location: Option<&str>) -> Resource {
        let name = id
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        Resource {
            type_: type_.to_owned(),
            name: name.to_owned(),
            full_name: name.to_owned(),
            id: id.to_owned(),
            location: location.map(str::to_owned),
            ..Resource::default()
        }
    }

    /// The same resource with `field` (`name`, `location`, `tags`, an alias…) unknown, because
    /// `why`: a condition on it is undecidable.
    ///
    /// ```
    /// use esu_preflight::policy::{Resource, Verdict, evaluate_rule, Parameters};
    /// use serde_json::json;
    ///
    /// let license = Resource::planned_license("s", "rg", "?", "eastus", [])
    ///     .with_unknown("name", "no license plan names the license yet");
    /// let rule = json!({"field": "name", "like": "esu-*"});
    /// assert!(matches!(
    ///     evaluate_rule(&rule, &Parameters::new(), &license),
    ///     Verdict::Undecidable { .. }
    /// ));
    /// ```
    pub fn with_unknown(mut self, field: &str, why: impl Into<String>) -> Resource {
        self.unknown.insert(field.trim().to_lowercase(), why.into());
        self
    }

    /// The same resource with one more modelled alias (`Value::Null` = modelled and absent).
    pub fn with_field(mut self, alias: &str, value: impl Into<Value>) -> Resource {
        self.fields.insert(alias.to_lowercase(), value.into());
        self
    }

    /// The value of `field` for this resource: `Ok(None)` when the field does not exist on it,
    /// `Err` when the evaluator cannot know.
    pub fn field(&self, field: &str) -> Result<Option<Value>, Undecided> {
        memo::note_field(field);
        let lower = field.trim().to_lowercase();
        let unknown = self.unknown.get(&lower).or_else(|| {
            tag_name(field.trim())
                .is_some()
                .then(|| self.unknown.get("tags"))
                .flatten()
        });
        if let Some(why) = unknown {
            return Err(Undecided::new(field, why.as_str()));
        }
        let text = |s: &str| Some(Value::String(s.to_owned()));
        match lower.as_str() {
            "type" => return Ok(text(&self.type_)),
            "name" => return Ok(text(&self.name)),
            "fullname" => return Ok(text(&self.full_name)),
            "id" => return Ok(text(&self.id)),
            "location" => return Ok(self.location.as_deref().and_then(text)),
            "kind" => return Ok(self.kind.as_deref().and_then(text)),
            "tags" => {
                let map: Map<String, Value> = self
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                return Ok(Some(Value::Object(map)));
            }
            _ => {}
        }
        if let Some(tag) = tag_name(field.trim()) {
            return Ok(self
                .tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&tag))
                .map(|(_, v)| Value::String(v.clone())));
        }
        if let Some(value) = self.fields.get(&lower) {
            return Ok((!value.is_null()).then(|| value.clone()));
        }
        // An alias is `{type}/{property path}`; the path has no `/`. One of another resource
        // type does not apply to this resource: Azure evaluates it as absent. A short alias
        // (`{namespace}/{property}`) of this namespace may or may not: undecidable.
        if let Some((alias_type, _)) = lower.rsplit_once('/') {
            let own_type = self.type_.to_lowercase();
            let namespace = |s: &str| s.split('/').next().unwrap_or_default().to_owned();
            let short = !alias_type.contains('/');
            if alias_type != own_type && (!short || namespace(alias_type) != namespace(&own_type)) {
                return Ok(None);
            }
        }
        Err(Undecided::new(
            field,
            format!("the field is not modelled for a {} resource", self.type_),
        ))
    }
}

/// The tag name of a `tags['x']`, `tags[x]` or `tags.x` field.
fn tag_name(field: &str) -> Option<Cow<'_, str>> {
    let head = field.get(..4)?;
    if !head.eq_ignore_ascii_case("tags") {
        return None;
    }
    let rest = &field[4..];
    if let Some(name) = rest.strip_prefix('.') {
        return (!name.is_empty()).then_some(Cow::Borrowed(name));
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    // `tags['name']`, and `tags['''name''']` for a name with apostrophes (`''` is one).
    Some(
        match inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            Some(quoted) => Cow::Owned(quoted.replace("''", "'")),
            None => Cow::Borrowed(inner),
        },
    )
}

/// A property of a JSON object, looked up ignoring case (exact match first).
pub(crate) fn lookup_ci<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A built-in policy definition that can block the ESU flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltIn {
    /// The definition's name (a GUID): its id is `/providers/Microsoft.Authorization/policyDefinitions/{guid}`.
    pub guid: &'static str,
    /// The display name.
    pub name: &'static str,
}

/// `[Preview]: Deny Extended Security Updates (ESUs) license creation or modification.`
pub const DENY_ESU_LICENSE: BuiltIn = BuiltIn {
    guid: "4c660f31-eafb-408d-a2b3-6ed2260bd26c",
    name: "[Preview]: Deny Extended Security Updates (ESUs) license creation or modification.",
};
/// `Not allowed resource types`.
pub const NOT_ALLOWED_RESOURCE_TYPES: BuiltIn = BuiltIn {
    guid: "6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
    name: "Not allowed resource types",
};
/// `Allowed resource types`.
pub const ALLOWED_RESOURCE_TYPES: BuiltIn = BuiltIn {
    guid: "a08ec900-254a-4555-9bf5-e42af04b5c5c",
    name: "Allowed resource types",
};
/// `Allowed locations`.
pub const ALLOWED_LOCATIONS: BuiltIn = BuiltIn {
    guid: "e56962a6-4747-49cd-b67b-bf8b01975c4c",
    name: "Allowed locations",
};
/// `Allowed locations for resource groups`.
pub const ALLOWED_LOCATIONS_RESOURCE_GROUPS: BuiltIn = BuiltIn {
    guid: "e765b5de-1225-4ba3-bd56-1ac6695af988",
    name: "Allowed locations for resource groups",
};

/// Every built-in [`builtin`] recognises.
pub const BUILT_INS: [BuiltIn; 5] = [
    DENY_ESU_LICENSE,
    NOT_ALLOWED_RESOURCE_TYPES,
    ALLOWED_RESOURCE_TYPES,
    ALLOWED_LOCATIONS,
    ALLOWED_LOCATIONS_RESOURCE_GROUPS,
];

/// The built-in behind a policy definition id, if it is one of [`BUILT_INS`].
///
/// Only tenant-level ids (`/providers/Microsoft.Authorization/policyDefinitions/{guid}`, any
/// case) are built-ins: a custom definition that reuses a GUID as its name is not.
///
/// ```
/// use esu_preflight::policy::{builtin, DENY_ESU_LICENSE};
///
/// let id = "/providers/Microsoft.Authorization/policyDefinitions/4C660F31-EAFB-408D-A2B3-6ED2260BD26C";
/// assert_eq!(builtin(id), Some(DENY_ESU_LICENSE));
/// assert_eq!(builtin("/subscriptions/s/providers/Microsoft.Authorization/policyDefinitions/4c660f31-eafb-408d-a2b3-6ed2260bd26c"), None);
/// ```
pub fn builtin(definition_id: &str) -> Option<BuiltIn> {
    const PREFIX: &str = "/providers/microsoft.authorization/policydefinitions/";
    let lower = definition_id.trim().to_ascii_lowercase();
    let guid = lower.strip_prefix(PREFIX)?;
    BUILT_INS.into_iter().find(|b| b.guid == guid)
}
