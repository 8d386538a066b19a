//! Decisions remembered by what they read of the resource.
//!
//! A run decides every assignment for every planned resource: 50 assignments × 200 license
//! profiles that differ only in their machine, which most rules never read. [`decide`] is a
//! deterministic function of its [`AssignmentContext`] and of the parts of the resource it
//! reads (its *facets*: a field as a rule names it, the id, the type, the location, whether it
//! is indexed). [`DecisionCache`] records which facets a decision read; a later resource whose
//! facets are all equal to those would take the same path through [`decide`], read the same
//! facets and get the same decision, so it gets the remembered one. A resource that differs in
//! anything the decision read is decided anew: merging is never by guess, only of resources
//! the decision cannot tell apart.
//!
//! Every read of the resource inside the evaluator goes through [`note`]: [`Resource::field`]
//! (conditions and the `field()` function), and the direct reads of the id (`notScopes`,
//! exemption scopes, `resourceGroup()`), the type and location (`resourceSelectors`,
//! `overrides`) and [`Resource::not_indexed`] (the definition's mode).

use super::{AssignmentContext, Decision, Resource, decide};
use std::cell::RefCell;

/// A part of a resource a decision read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Facet {
    /// [`Resource::field`] with this name, as asked.
    Field(String),
    /// [`Resource::id`].
    Id,
    /// [`Resource::type_`].
    Type,
    /// [`Resource::location`].
    Location,
    /// [`Resource::not_indexed`].
    NotIndexed,
}

thread_local! {
    /// The facets read by the decision being recorded on this thread, if one is.
    static READS: RefCell<Option<Vec<Facet>>> = const { RefCell::new(None) };
}

/// Records that the decision under way (if one is being recorded) read `facet`.
pub(crate) fn note(facet: Facet) {
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut()
            && !reads.contains(&facet)
        {
            reads.push(facet);
        }
    });
}

/// [`note`] of [`Facet::Field`]`(name)`, without copying the name unless a decision is being
/// recorded (a remembered decision's lookup reads fields too, unrecorded, many times over).
pub(crate) fn note_field(name: &str) {
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut()
            && !reads
                .iter()
                .any(|facet| matches!(facet, Facet::Field(known) if known == name))
        {
            reads.push(Facet::Field(name.to_owned()));
        }
    });
}

/// Ends the recording when dropped, whatever happens in between, and hands what it read to
/// the recording around it (if any), which read it too.
struct Recording {
    outer: Option<Option<Vec<Facet>>>,
}

impl Recording {
    fn start() -> Self {
        Recording {
            outer: Some(READS.with(|reads| reads.borrow_mut().replace(Vec::new()))),
        }
    }

    fn finish(mut self) -> Vec<Facet> {
        self.end()
    }

    fn end(&mut self) -> Vec<Facet> {
        let Some(outer) = self.outer.take() else {
            return Vec::new();
        };
        let mine = READS
            .with(|reads| std::mem::replace(&mut *reads.borrow_mut(), outer))
            .unwrap_or_default();
        for facet in &mine {
            note(facet.clone());
        }
        mine
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.end();
    }
}

/// The value of one facet of `resource`, as a string that differs whenever the value does.
fn project(facet: &Facet, resource: &Resource) -> String {
    // A leading letter tells the variants apart; what follows is the value whole.
    let text = |tag: char, s: &str| {
        let mut out = String::with_capacity(s.len() + 1);
        out.push(tag);
        out.push_str(s);
        out
    };
    match facet {
        Facet::Field(name) => match resource.field(name) {
            Ok(None) => "n".to_owned(),
            Ok(Some(serde_json::Value::String(s))) => text('s', &s),
            Ok(Some(value)) => text('v', &value.to_string()),
            Err(u) => format!("e{:?}", (u.expression, u.why)),
        },
        Facet::Id => text('i', &resource.id),
        Facet::Type => text('t', &resource.type_),
        Facet::Location => match &resource.location {
            Some(location) => text('l', location),
            None => "n".to_owned(),
        },
        Facet::NotIndexed => resource.not_indexed.to_string(),
    }
}

/// The facets one path through [`decide`] read, and the decisions by their values.
type Shape = (Vec<Facet>, crate::FastMap<Vec<String>, Decision>);

/// How many different sets of facets one cache keeps (a rule reads different facets only on
/// different paths through it: a few), and how many decisions per set.
const MAX_SHAPES: usize = 16;
const MAX_DECISIONS: usize = 4096;

/// The decisions of **one** assignment context (one assignment, definition, initiative member,
/// exemptions, time and management groups) for many resources: [`decide`] once per group of
/// resources that the decision cannot tell apart.
///
/// ```
/// use esu_preflight::policy::{AssignmentContext, DecisionCache, Resource, decide};
/// use serde_json::json;
///
/// let definition = json!({"properties": {"mode": "All", "policyRule": {
///     "if": {"field": "location", "notIn": ["eastus"]}, "then": {"effect": "deny"}}}});
/// let assignment = json!({"id": "a", "properties": {"policyDefinitionId": "d"}});
/// let ctx = AssignmentContext {
///     assignment: &assignment,
///     definition: &definition,
///     set_definition: None,
///     reference_id: None,
///     exemptions: &[],
///     now: time::OffsetDateTime::UNIX_EPOCH,
///     management_groups: None,
/// };
/// let mut cache = DecisionCache::default();
/// for machine in ["srv-1", "srv-2"] {
///     let id = format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{machine}");
///     let profile = Resource::license_profile(&id, "westeurope", "license-id");
///     assert_eq!(cache.decide(&ctx, &profile), decide(&ctx, &profile));
/// }
/// assert_eq!(cache.decided(), 1); // the rule reads only the location
/// ```
#[derive(Debug, Default)]
pub struct DecisionCache {
    shapes: Vec<Shape>,
    decided: usize,
}

impl DecisionCache {
    /// [`decide`]`(ctx, resource)`, remembered. Every call on one cache must pass the same
    /// `ctx` (the same payloads, exemptions, time and management groups).
    pub fn decide(&mut self, ctx: &AssignmentContext<'_>, resource: &Resource) -> Decision {
        for (facets, decisions) in &self.shapes {
            let key: Vec<String> = facets.iter().map(|f| project(f, resource)).collect();
            if let Some(known) = decisions.get(&key) {
                return known.clone();
            }
        }
        let recording = Recording::start();
        let decision = decide(ctx, resource);
        let facets = recording.finish();
        self.decided += 1;
        let key: Vec<String> = facets.iter().map(|f| project(f, resource)).collect();
        let room = self.shapes.len() < MAX_SHAPES;
        match self.shapes.iter_mut().find(|(known, _)| *known == facets) {
            Some((_, decisions)) if decisions.len() < MAX_DECISIONS => {
                decisions.insert(key, decision.clone());
            }
            Some(_) => {}
            None if room => {
                let mut decisions = crate::FastMap::default();
                decisions.insert(key, decision.clone());
                self.shapes.push((facets, decisions));
            }
            None => {}
        }
        decision
    }

    /// How many times [`decide`] actually ran (the rest were remembered).
    pub fn decided(&self) -> usize {
        self.decided
    }
}
