//! The `if` of a policy rule, in three-valued logic.
//!
//! Semantics follow the Azure Policy definition structure docs: string comparisons ignore case
//! (except `match`/`notMatch`); `like` has `*` wildcards; `match` has `#` (digit), `?` (letter),
//! `.` (any character); `contains` is a substring test on strings and membership on arrays;
//! `exists` compares presence; a field that does not exist on the resource is `equals` nothing,
//! `in` nothing, and every negative operator is true of it. Each negative operator is the
//! negation of its positive twin.

use super::expr::{Scope, compare, eval_str, eval_value};
use super::{Parameters, Resource, Undecided, Verdict, lookup_ci};
use serde_json::Value;

/// How deep conditions may nest (`allOf` in `not` in `anyOf` …) before the evaluator gives up.
const MAX_DEPTH: usize = 64;

/// Evaluates a policy rule's condition against `resource`.
///
/// `rule` is the definition's `policyRule` (its `if` is evaluated; `then` is ignored — see
/// [`resolve_effect`](super::resolve_effect)) or a bare condition. `parameters` are the
/// definition's resolved parameter values ([`resolve_parameters`](super::resolve_parameters)).
///
/// Never panics, whatever the JSON: what it cannot decide is [`Verdict::Undecidable`] naming
/// the condition or expression.
pub fn evaluate_rule(rule: &Value, parameters: &Parameters, resource: &Resource) -> Verdict {
    let condition = rule.get("if").unwrap_or(rule);
    let scope = Scope {
        parameters,
        resource: Some(resource),
    };
    match condition_at(condition, scope, 0) {
        Ok(true) => Verdict::Matches,
        Ok(false) => Verdict::DoesNotMatch,
        Err(u) => u.into(),
    }
}

/// Logical keys of a condition.
const LOGICAL: [&str; 3] = ["allOf", "anyOf", "not"];

fn condition_at(cond: &Value, scope: Scope<'_>, depth: usize) -> Result<bool, Undecided> {
    let shown = || short(cond);
    if depth > MAX_DEPTH {
        return Err(Undecided::new(shown(), "the condition nests too deeply"));
    }
    let Value::Object(map) = cond else {
        return Err(Undecided::new(shown(), "a condition must be an object"));
    };
    let key = |name: &str| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    for logical in LOGICAL {
        if let Some((_, inner)) = key(logical) {
            if map.len() != 1 {
                return Err(Undecided::new(
                    shown(),
                    format!("'{logical}' must be the only key of its condition"),
                ));
            }
            return match logical {
                "not" => condition_at(inner, scope, depth + 1).map(|b| !b),
                _ => {
                    let Value::Array(members) = inner else {
                        return Err(Undecided::new(
                            shown(),
                            format!("'{logical}' needs an array"),
                        ));
                    };
                    combine(logical == "anyOf", members, scope, depth)
                }
            };
        }
    }
    leaf(map, scope, &shown)
}

/// `allOf` (`any == false`) or `anyOf` (`any == true`) in Kleene logic: a decisive member
/// decides, whatever the undecided ones; otherwise the first undecided member is the answer.
fn combine(
    any: bool,
    members: &[Value],
    scope: Scope<'_>,
    depth: usize,
) -> Result<bool, Undecided> {
    let mut undecided = None;
    for member in members {
        match condition_at(member, scope, depth + 1) {
            Ok(b) if b == any => return Ok(any),
            Ok(_) => {}
            Err(u) => undecided = undecided.or(Some(u)),
        }
    }
    match undecided {
        Some(u) => Err(u),
        None => Ok(!any),
    }
}

/// The operators the evaluator knows (lower-case); the `not…` ones negate their twin.
const OPERATORS: [&str; 19] = [
    "equals",
    "notequals",
    "in",
    "notin",
    "like",
    "notlike",
    "contains",
    "notcontains",
    "containskey",
    "notcontainskey",
    "match",
    "notmatch",
    "matchinsensitively",
    "notmatchinsensitively",
    "exists",
    "greater",
    "greaterorequals",
    "less",
    "lessorequals",
];

fn leaf(
    map: &serde_json::Map<String, Value>,
    scope: Scope<'_>,
    shown: &dyn Fn() -> String,
) -> Result<bool, Undecided> {
    let mut subject = None;
    let mut operator = None;
    for (k, v) in map {
        let lower = k.to_ascii_lowercase();
        match lower.as_str() {
            "field" | "value" | "count" if subject.is_none() => subject = Some((lower, v)),
            _ if OPERATORS.contains(&lower.as_str()) && operator.is_none() => {
                operator = Some((lower, v));
            }
            _ => {
                return Err(Undecided::new(
                    shown(),
                    format!("'{k}' is not an operator the evaluator supports"),
                ));
            }
        }
    }
    let (Some((kind, subject)), Some((op, operand))) = (subject, operator) else {
        return Err(Undecided::new(
            shown(),
            "a condition needs one of field/value/count and one operator",
        ));
    };
    let mut is_location = false;
    let mut each_member = false;
    let actual: Option<Value> = match kind.as_str() {
        "field" => {
            let Value::String(name) = subject else {
                return Err(Undecided::new(shown(), "'field' must be a string"));
            };
            let name = match eval_str(name, scope)? {
                Value::String(n) => n,
                other => return Err(Undecided::new(name.as_str(), format!("field name {other}"))),
            };
            is_location = name.trim().eq_ignore_ascii_case("location");
            each_member = name.contains("[*]");
            scope
                .resource
                .ok_or_else(|| Undecided::new(shown(), "no resource"))?
                .field(&name)?
        }
        "value" => {
            let v = eval_value(subject, scope)?;
            (!v.is_null()).then_some(v)
        }
        _ => {
            return Err(Undecided::new(
                shown(),
                "'count' conditions are not supported by the evaluator",
            ));
        }
    };
    let mut operand = eval_value(operand, scope)?;
    let mut actual = actual;
    if is_location {
        // Azure normalises locations: `East US 2` is `eastus2`.
        actual = actual.map(normalise_location);
        operand = normalise_location(operand);
    }
    let (negated, positive) = match op.strip_prefix("not") {
        Some(rest) => (true, rest),
        None => (false, op.as_str()),
    };
    let test = |value: Option<&Value>| apply(positive, value, &operand).map(|b| b != negated);
    let result = match actual {
        // A `[*]` alias: the condition holds for every member (logical and; true when empty).
        Some(Value::Array(members)) if each_member => members
            .iter()
            .map(|m| test(Some(m)))
            .try_fold(true, |all, b| b.map(|b| all && b)),
        other => test(other.as_ref()),
    };
    result.map_err(|why| Undecided::new(shown(), why))
}

/// A positive operator applied to the subject's value (`None`: the field does not exist).
fn apply(op: &str, actual: Option<&Value>, operand: &Value) -> Result<bool, String> {
    if op == "exists" {
        let want = match operand {
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => return Err(format!("'exists' needs true or false, got {other}")),
        };
        return Ok(actual.is_some() == want);
    }
    let Some(actual) = actual else {
        return match op {
            "equals" | "in" | "like" | "contains" | "containskey" | "match"
            | "matchinsensitively" => {
                if op == "in" && !operand.is_array() {
                    return Err(format!("'in' needs an array, got {operand}"));
                }
                Ok(false)
            }
            _ => Err("cannot compare a field that does not exist".into()),
        };
    };
    match op {
        "equals" => Ok(same(actual, operand)),
        "in" => match operand {
            Value::Array(items) => Ok(items.iter().any(|item| same(actual, item))),
            other => Err(format!("'in' needs an array, got {other}")),
        },
        "like" => {
            let (Value::String(a), Value::String(pattern)) = (actual, operand) else {
                return Err(format!(
                    "'like' compares strings, got {actual} and {operand}"
                ));
            };
            Ok(like(&a.to_lowercase(), &pattern.to_lowercase()))
        }
        "match" | "matchinsensitively" => {
            let (Value::String(a), Value::String(pattern)) = (actual, operand) else {
                return Err(format!(
                    "'{op}' compares strings, got {actual} and {operand}"
                ));
            };
            Ok(if op == "match" {
                pattern_match(a, pattern)
            } else {
                pattern_match(&a.to_lowercase(), &pattern.to_lowercase())
            })
        }
        "contains" => match (actual, operand) {
            (Value::String(a), Value::String(b)) => {
                Ok(a.to_lowercase().contains(&b.to_lowercase()))
            }
            (Value::Array(items), item) => Ok(items.iter().any(|i| same(i, item))),
            _ => Err(format!("'contains' cannot look for {operand} in {actual}")),
        },
        "containskey" => match (actual, operand) {
            (Value::Object(map), Value::String(key)) => Ok(lookup_ci(map, key).is_some()),
            _ => Err(format!(
                "'containsKey' cannot look for {operand} in {actual}"
            )),
        },
        "greater" | "greaterorequals" | "less" | "lessorequals" => {
            let order = compare(actual, operand)
                .ok_or_else(|| format!("'{op}' cannot compare {actual} and {operand}"))?;
            Ok(match op {
                "greater" => order.is_gt(),
                "greaterorequals" => order.is_ge(),
                "less" => order.is_lt(),
                _ => order.is_le(),
            })
        }
        _ => Err(format!("'{op}' is not an operator the evaluator supports")),
    }
}

/// A location (or the strings of an array of them) lower-cased without spaces.
fn normalise_location(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.split_whitespace().collect::<String>().to_lowercase()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise_location).collect()),
        other => other,
    }
}

/// Policy equality: strings ignoring case, numbers by value, arrays and objects member-wise; a
/// boolean or number equals its text (`"[less(…)]"` equals `"true"`, `"4"` equals `4`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        (Value::Bool(x), Value::String(y)) | (Value::String(y), Value::Bool(x)) => {
            y.trim().eq_ignore_ascii_case(&x.to_string())
        }
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            y.trim().parse::<f64>().ok() == x.as_f64()
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| lookup_ci(y, k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `*`-wildcard match of the whole string (callers lower-case both sides).
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// `match`: same length, `#` a digit, `?` a letter, `.` any character, others themselves.
fn pattern_match(text: &str, pattern: &str) -> bool {
    text.chars().count() == pattern.chars().count()
        && text.chars().zip(pattern.chars()).all(|(c, p)| match p {
            '#' => c.is_ascii_digit(),
            '?' => c.is_alphabetic(),
            '.' => true,
            _ => c == p,
        })
}

/// A condition as shown in a finding: its JSON, cut at 200 characters.
fn short(cond: &Value) -> String {
    let text = cond.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_patterns() {
        assert!(like(
            "microsoft.hybridcompute/licenses",
            "microsoft.hybridcompute/*"
        ));
        assert!(like("depta-x-lc", "depta*-lc"));
        assert!(!like("deptb-x-lc", "depta*-lc"));
        assert!(like("", "*"));
        assert!(pattern_match("ab12", "??##"));
        assert!(!pattern_match("ab1", "??##"));
        assert!(pattern_match("a-b", "a.b"));
        assert!(!pattern_match("AB12", "ab##"));
    }
}
