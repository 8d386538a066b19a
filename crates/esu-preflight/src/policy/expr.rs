//! Template expressions inside policy strings: `"[concat(parameters('prefix'), '*')]"`.
//!
//! A string whose first character is `[` and last is `]` is an expression; `[[` at the start
//! escapes it (the value is the string without its first `[`). Anything else is a literal.
//!
//! The grammar is the small part of the ARM template language that policy rules use:
//! string literals in single quotes (`''` is a quote), integers, function calls, and after any
//! of them `.property` and `[index]`. A function this module does not implement, or a call it
//! cannot evaluate (wrong argument types, a missing parameter, a field the resource does not
//! model), is [`Undecided`] naming the expression — never a guessed value.

use super::{Parameters, Resource, Undecided, lookup_ci};
use serde_json::{Map, Value};

/// How deep expressions may nest before the evaluator gives up (undecided, never a stack
/// overflow on hostile input); Azure's own limit for nested functions is 64.
const MAX_DEPTH: usize = 64;

/// What an expression may read: the resolved parameters and, inside a policy rule, the resource.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) parameters: &'a Parameters,
    pub(crate) resource: Option<&'a Resource>,
}

/// Evaluates every string in `value` that is an expression (recursively through arrays and
/// objects); other values are returned unchanged.
pub(crate) fn eval_value(value: &Value, scope: Scope<'_>) -> Result<Value, Undecided> {
    eval_value_at(value, scope, 0)
}

fn eval_value_at(value: &Value, scope: Scope<'_>, depth: usize) -> Result<Value, Undecided> {
    if depth > MAX_DEPTH {
        return Err(Undecided::new(
            value.to_string(),
            "the value nests too deeply to evaluate",
        ));
    }
    match value {
        Value::String(text) => eval_str(text, scope),
        Value::Array(items) => items
            .iter()
            .map(|item| eval_value_at(item, scope, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), eval_value_at(v, scope, depth + 1)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Whether `text` is a template expression (not a literal, not an escaped `[[`).
pub(crate) fn is_expression(text: &str) -> bool {
    text.starts_with('[') && !text.starts_with("[[") && text.ends_with(']') && text.len() >= 2
}

/// Evaluates one string: an expression, an escaped `[[…`, or a literal.
pub(crate) fn eval_str(text: &str, scope: Scope<'_>) -> Result<Value, Undecided> {
    if let Some(rest) = text.strip_prefix("[[") {
        return Ok(Value::String(format!("[{rest}")));
    }
    if !is_expression(text) {
        return Ok(Value::String(text.to_owned()));
    }
    let expr = parsed(text)
        .map_err(|why| Undecided::new(text, format!("cannot parse the expression: {why}")))?;
    Eval { scope, text }.eval(&expr, 0)
}

/// The most expressions [`parsed`] keeps per thread (a policy set has tens; a run, hundreds).
const PARSED_CACHE_LIMIT: usize = 4096;

thread_local! {
    /// Parsed expressions by their text: a run decides every assignment for every planned
    /// resource, and parsing the same `[parameters('effect')]` each time was most of the cost.
    /// Keyed by the whole text, so an entry can never answer for another expression.
    static PARSED: std::cell::RefCell<std::collections::HashMap<String, Result<std::rc::Rc<Expr>, String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `text` (`[…]`) parsed, from the per-thread cache when it was parsed before.
fn parsed(text: &str) -> Result<std::rc::Rc<Expr>, String> {
    if let Some(known) = PARSED.with(|cache| cache.borrow().get(text).cloned()) {
        return known;
    }
    let inner = &text[1..text.len() - 1];
    let result = Parser::new(inner).parse_all().map(std::rc::Rc::new);
    PARSED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= PARSED_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(text.to_owned(), result.clone());
    });
    result
}

/// A parsed expression.
#[derive(Debug, Clone)]
enum Expr {
    Str(String),
    Int(i64),
    Call(String, Vec<Expr>),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
}

/// A recursive-descent parser over the expression's characters (without the brackets).
struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn new(text: &str) -> Self {
        Parser {
            chars: text.chars().collect(),
            at: 0,
        }
    }

    fn parse_all(mut self) -> Result<Expr, String> {
        let expr = self.expr(0)?;
        self.skip_ws();
        if self.at < self.chars.len() {
            return Err(format!("unexpected '{}'", self.chars[self.at]));
        }
        Ok(expr)
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.chars.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}'"))
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
        {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let mut expr = self.primary(depth)?;
        loop {
            if self.eat('.') {
                let name = self.ident().ok_or("expected a property name after '.'")?;
                expr = Expr::Member(Box::new(expr), name);
            } else if self.eat('[') {
                let index = self.expr(depth + 1)?;
                self.expect(']')?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, String> {
        self.skip_ws();
        match self.chars.get(self.at).copied() {
            None => Err("unexpected end".into()),
            Some('\'') => {
                self.at += 1;
                let mut out = String::new();
                loop {
                    match self.chars.get(self.at).copied() {
                        None => return Err("unterminated string".into()),
                        Some('\'') if self.chars.get(self.at + 1) == Some(&'\'') => {
                            out.push('\'');
                            self.at += 2;
                        }
                        Some('\'') => {
                            self.at += 1;
                            return Ok(Expr::Str(out));
                        }
                        Some(c) => {
                            out.push(c);
                            self.at += 1;
                        }
                    }
                }
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.at;
                self.at += 1;
                while self.chars.get(self.at).is_some_and(char::is_ascii_digit) {
                    self.at += 1;
                }
                let digits: String = self.chars[start..self.at].iter().collect();
                digits
                    .parse()
                    .map(Expr::Int)
                    .map_err(|_| format!("bad number '{digits}'"))
            }
            Some(_) => {
                let name = self.ident().ok_or_else(|| {
                    format!("unexpected '{}'", self.chars.get(self.at).unwrap_or(&' '))
                })?;
                self.expect('(')?;
                let mut args = Vec::new();
                if !self.eat(')') {
                    loop {
                        args.push(self.expr(depth + 1)?);
                        if self.eat(')') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Ok(Expr::Call(name, args))
            }
        }
    }
}

/// Evaluation of one parsed expression; `text` is the whole expression, for messages.
struct Eval<'a> {
    scope: Scope<'a>,
    text: &'a str,
}

impl Eval<'_> {
    fn fail(&self, why: impl Into<String>) -> Undecided {
        Undecided::new(self.text, why)
    }

    fn eval(&self, expr: &Expr, depth: usize) -> Result<Value, Undecided> {
        if depth > MAX_DEPTH {
            return Err(self.fail("the expression nests too deeply"));
        }
        match expr {
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Int(n) => Ok(Value::from(*n)),
            Expr::Member(base, name) => match self.eval(base, depth + 1)? {
                Value::Object(map) => lookup_ci(&map, name)
                    .cloned()
                    .ok_or_else(|| self.fail(format!("the object has no property '{name}'"))),
                other => Err(self.fail(format!("'.{name}' on a non-object ({other})"))),
            },
            Expr::Index(base, index) => {
                let base = self.eval(base, depth + 1)?;
                let index = self.eval(index, depth + 1)?;
                match (&base, &index) {
                    (Value::Array(items), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| items.get(usize::try_from(i).ok()?))
                        .cloned()
                        .ok_or_else(|| self.fail(format!("index {n} is out of range"))),
                    (Value::Object(map), Value::String(key)) => lookup_ci(map, key)
                        .cloned()
                        .ok_or_else(|| self.fail(format!("the object has no property '{key}'"))),
                    _ => Err(self.fail(format!("cannot index {base} with {index}"))),
                }
            }
            Expr::Call(name, args) => self.call(name, args, depth),
        }
    }

    fn args(&self, args: &[Expr], depth: usize) -> Result<Vec<Value>, Undecided> {
        args.iter().map(|a| self.eval(a, depth + 1)).collect()
    }

    fn string(&self, value: &Value, function: &str) -> Result<String, Undecided> {
        match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.fail(format!("{function}() expects a string, got {other}"))),
        }
    }

    fn arity(&self, name: &str, args: &[Expr], min: usize, max: usize) -> Result<(), Undecided> {
        if args.len() < min || args.len() > max {
            return Err(self.fail(format!(
                "{name}() takes {min}..={max} arguments, got {}",
                args.len()
            )));
        }
        Ok(())
    }

    fn call(&self, name: &str, args: &[Expr], depth: usize) -> Result<Value, Undecided> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "parameters" => {
                self.arity(name, args, 1, 1)?;
                let key = self.args(args, depth)?;
                let key = self.string(&key[0], name)?;
                self.scope
                    .parameters
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.fail(format!("parameter '{key}' has no value")))
            }
            "field" => {
                self.arity(name, args, 1, 1)?;
                let key = self.args(args, depth)?;
                let key = self.string(&key[0], name)?;
                let resource = self
                    .scope
                    .resource
                    .ok_or_else(|| self.fail("field() outside a policy rule"))?;
                Ok(resource.field(&key)?.unwrap_or(Value::Null))
            }
            "resourcegroup" | "subscription" => {
                // Only what the resource's id tells: a property it does not (the group's
                // location or tags, the subscription's display name) is undecided when read.
                self.arity(name, args, 0, 0)?;
                let resource = self
                    .scope
                    .resource
                    .ok_or_else(|| self.fail(format!("{name}() outside a policy rule")))?;
                super::memo::note(super::memo::Facet::Id);
                let segment = |key: &str| {
                    let parts: Vec<&str> = resource.id.split('/').collect();
                    parts
                        .windows(2)
                        .find(|w| w[0].eq_ignore_ascii_case(key))
                        .map(|w| w[1].to_owned())
                        .filter(|v| !v.is_empty())
                };
                let sub = segment("subscriptions")
                    .ok_or_else(|| self.fail("the resource id names no subscription"))?;
                if lower == "subscription" {
                    return Ok(serde_json::json!({
                        "id": format!("/subscriptions/{sub}"),
                        "subscriptionId": sub,
                    }));
                }
                let group = segment("resourceGroups")
                    .ok_or_else(|| self.fail("the resource id names no resource group"))?;
                Ok(serde_json::json!({
                    "id": format!("/subscriptions/{sub}/resourceGroups/{group}"),
                    "name": group,
                }))
            }
            "if" => {
                self.arity(name, args, 3, 3)?;
                match self.eval(&args[0], depth + 1)? {
                    Value::Bool(true) => self.eval(&args[1], depth + 1),
                    Value::Bool(false) => self.eval(&args[2], depth + 1),
                    other => Err(self.fail(format!("if() condition is not a boolean: {other}"))),
                }
            }
            "and" | "or" => {
                self.arity(name, args, 1, usize::MAX)?;
                let want = lower == "or";
                let mut undecided = None;
                for arg in args {
                    match self.eval(arg, depth + 1) {
                        Ok(Value::Bool(b)) if b == want => return Ok(Value::Bool(want)),
                        Ok(Value::Bool(_)) => {}
                        Ok(other) => {
                            return Err(
                                self.fail(format!("{name}() expects booleans, got {other}"))
                            );
                        }
                        Err(e) => undecided = undecided.or(Some(e)),
                    }
                }
                match undecided {
                    Some(e) => Err(e),
                    None => Ok(Value::Bool(!want)),
                }
            }
            _ => {
                let values = self.args(args, depth)?;
                self.pure(name, &lower, args, &values)
            }
        }
    }

    /// Functions of their (already evaluated) arguments only.
    fn pure(
        &self,
        name: &str,
        lower: &str,
        args: &[Expr],
        v: &[Value],
    ) -> Result<Value, Undecided> {
        let s = |i: usize| self.string(&v[i], name);
        let int = |i: usize| {
            v[i].as_i64()
                .ok_or_else(|| self.fail(format!("{name}() expects an integer, got {}", v[i])))
        };
        Ok(match lower {
            "concat" => {
                self.arity(name, args, 1, usize::MAX)?;
                if v.iter().all(Value::is_array) {
                    Value::Array(
                        v.iter()
                            .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                            .collect(),
                    )
                } else {
                    let mut out = String::new();
                    for item in v {
                        match item {
                            Value::String(x) => out.push_str(x),
                            Value::Number(n) => out.push_str(&n.to_string()),
                            Value::Bool(b) => out.push_str(&b.to_string()),
                            other => {
                                return Err(self.fail(format!("concat() cannot join {other}")));
                            }
                        }
                    }
                    Value::String(out)
                }
            }
            "tolower" => {
                self.arity(name, args, 1, 1)?;
                Value::String(s(0)?.to_lowercase())
            }
            "toupper" => {
                self.arity(name, args, 1, 1)?;
                Value::String(s(0)?.to_uppercase())
            }
            "trim" => {
                self.arity(name, args, 1, 1)?;
                Value::String(s(0)?.trim().to_owned())
            }
            "string" => {
                self.arity(name, args, 1, 1)?;
                match &v[0] {
                    Value::String(x) => Value::String(x.clone()),
                    other => Value::String(other.to_string()),
                }
            }
            "int" => {
                self.arity(name, args, 1, 1)?;
                match &v[0] {
                    Value::Number(n) if n.is_i64() => v[0].clone(),
                    Value::String(x) => x
                        .trim()
                        .parse::<i64>()
                        .map(Value::from)
                        .map_err(|_| self.fail(format!("int() cannot read '{x}'")))?,
                    other => return Err(self.fail(format!("int() cannot read {other}"))),
                }
            }
            "bool" => {
                self.arity(name, args, 1, 1)?;
                match &v[0] {
                    Value::Bool(b) => Value::Bool(*b),
                    Value::String(x) if x.eq_ignore_ascii_case("true") => Value::Bool(true),
                    Value::String(x) if x.eq_ignore_ascii_case("false") => Value::Bool(false),
                    Value::Number(n) => Value::Bool(n.as_f64() != Some(0.0)),
                    other => return Err(self.fail(format!("bool() cannot read {other}"))),
                }
            }
            "true" | "false" => {
                self.arity(name, args, 0, 0)?;
                Value::Bool(lower == "true")
            }
            "not" => {
                self.arity(name, args, 1, 1)?;
                match &v[0] {
                    Value::Bool(b) => Value::Bool(!b),
                    other => return Err(self.fail(format!("not() expects a boolean, got {other}"))),
                }
            }
            "empty" => {
                self.arity(name, args, 1, 1)?;
                Value::Bool(match &v[0] {
                    Value::Null => true,
                    Value::String(x) => x.is_empty(),
                    Value::Array(x) => x.is_empty(),
                    Value::Object(x) => x.is_empty(),
                    other => return Err(self.fail(format!("empty() cannot measure {other}"))),
                })
            }
            "length" => {
                self.arity(name, args, 1, 1)?;
                Value::from(match &v[0] {
                    Value::String(x) => x.chars().count(),
                    Value::Array(x) => x.len(),
                    Value::Object(x) => x.len(),
                    other => return Err(self.fail(format!("length() cannot measure {other}"))),
                })
            }
            "equals" => {
                self.arity(name, args, 2, 2)?;
                Value::Bool(v[0] == v[1])
            }
            "contains" => {
                self.arity(name, args, 2, 2)?;
                Value::Bool(match (&v[0], &v[1]) {
                    (Value::String(hay), Value::String(needle)) => hay.contains(needle.as_str()),
                    (Value::Array(items), item) => items.contains(item),
                    (Value::Object(map), Value::String(key)) => lookup_ci(map, key).is_some(),
                    (a, b) => {
                        return Err(self.fail(format!("contains() cannot look for {b} in {a}")));
                    }
                })
            }
            "startswith" | "endswith" => {
                self.arity(name, args, 2, 2)?;
                let (a, b) = (s(0)?.to_lowercase(), s(1)?.to_lowercase());
                Value::Bool(if lower == "startswith" {
                    a.starts_with(&b)
                } else {
                    a.ends_with(&b)
                })
            }
            "indexof" | "lastindexof" => {
                self.arity(name, args, 2, 2)?;
                let (a, b) = (s(0)?.to_lowercase(), s(1)?.to_lowercase());
                let found = if lower == "indexof" {
                    a.find(&b)
                } else {
                    a.rfind(&b)
                };
                match found {
                    Some(byte) => Value::from(a[..byte].chars().count()),
                    None => Value::from(-1),
                }
            }
            "replace" => {
                self.arity(name, args, 3, 3)?;
                Value::String(s(0)?.replace(&s(1)?, &s(2)?))
            }
            "substring" => {
                self.arity(name, args, 2, 3)?;
                let text: Vec<char> = s(0)?.chars().collect();
                let start = usize::try_from(int(1)?)
                    .map_err(|_| self.fail("substring() start is negative"))?;
                let len = if v.len() == 3 {
                    usize::try_from(int(2)?)
                        .map_err(|_| self.fail("substring() length is negative"))?
                } else {
                    text.len().saturating_sub(start)
                };
                let end = start.checked_add(len).filter(|end| *end <= text.len());
                match end {
                    Some(end) => Value::String(text[start..end].iter().collect()),
                    None => return Err(self.fail("substring() is out of range")),
                }
            }
            "split" => {
                self.arity(name, args, 2, 2)?;
                let text = s(0)?;
                let delimiters: Vec<String> = match &v[1] {
                    Value::String(d) => vec![d.clone()],
                    Value::Array(ds) => ds
                        .iter()
                        .map(|d| self.string(d, name))
                        .collect::<Result<_, _>>()?,
                    other => return Err(self.fail(format!("split() delimiter {other}"))),
                };
                let delimiters: Vec<&str> = delimiters
                    .iter()
                    .map(String::as_str)
                    .filter(|d| !d.is_empty())
                    .collect();
                let mut parts = vec![text];
                for d in delimiters {
                    parts = parts
                        .iter()
                        .flat_map(|p| p.split(d).map(str::to_owned).collect::<Vec<_>>())
                        .collect();
                }
                Value::Array(parts.into_iter().map(Value::String).collect())
            }
            "first" | "last" => {
                self.arity(name, args, 1, 1)?;
                match &v[0] {
                    Value::Array(items) => {
                        let item = if lower == "first" {
                            items.first()
                        } else {
                            items.last()
                        };
                        item.cloned().unwrap_or(Value::Null)
                    }
                    Value::String(x) => {
                        let c = if lower == "first" {
                            x.chars().next()
                        } else {
                            x.chars().last()
                        };
                        Value::String(c.map(String::from).unwrap_or_default())
                    }
                    other => return Err(self.fail(format!("{name}() of {other}"))),
                }
            }
            "createarray" => Value::Array(v.to_vec()),
            "coalesce" => {
                self.arity(name, args, 1, usize::MAX)?;
                v.iter()
                    .find(|x| !x.is_null())
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            "greater" | "greaterorequals" | "less" | "lessorequals" => {
                self.arity(name, args, 2, 2)?;
                let order = compare(&v[0], &v[1]).ok_or_else(|| {
                    self.fail(format!("{name}() cannot compare {} and {}", v[0], v[1]))
                })?;
                Value::Bool(match lower {
                    "greater" => order.is_gt(),
                    "greaterorequals" => order.is_ge(),
                    "less" => order.is_lt(),
                    _ => order.is_le(),
                })
            }
            _ => {
                return Err(self.fail(format!(
                    "the function '{name}' is not supported by the evaluator"
                )));
            }
        })
    }
}

/// Orders two numbers, or two strings ignoring case (ISO dates order as strings); other pairs
/// have no order.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str) -> Result<Value, Undecided> {
        let parameters: Parameters = [
            ("prefix".to_owned(), json!("DeptA")),
            ("list".to_owned(), json!(["a", "b"])),
            ("obj".to_owned(), json!({"Inner": {"x": 1}})),
        ]
        .into_iter()
        .collect();
        let resource = Resource::planned_license("sub", "rg", "DeptA-lic", "eastus", []);
        eval_str(
            text,
            Scope {
                parameters: &parameters,
                resource: Some(&resource),
            },
        )
    }

    #[test]
    fn literals_escapes_and_calls() {
        assert_eq!(eval("plain").unwrap(), json!("plain"));
        assert_eq!(eval("[[notanexpr]").unwrap(), json!("[notanexpr]"));
        assert_eq!(eval("[ 'it''s' ]").unwrap(), json!("it's"));
        assert_eq!(
            eval("[concat(parameters('prefix'), '*', '-LC')]").unwrap(),
            json!("DeptA*-LC")
        );
        assert_eq!(
            eval("[toLower(field('type'))]").unwrap(),
            json!("microsoft.hybridcompute/licenses")
        );
        assert_eq!(
            eval("[toUpper(field('name'))]").unwrap(),
            json!("DEPTA-LIC")
        );
        assert_eq!(
            eval("[if(empty(parameters('list')), 'x', 'y')]").unwrap(),
            json!("y")
        );
        assert_eq!(eval("[length(split('a/b/c', '/'))]").unwrap(), json!(3));
        assert_eq!(eval("[split('a/b', '/')[1]]").unwrap(), json!("b"));
        assert_eq!(eval("[parameters('obj').inner.x]").unwrap(), json!(1));
        assert_eq!(eval("[equals(toLower('A'), 'a')]").unwrap(), json!(true));
        assert_eq!(
            eval("[contains(parameters('list'), 'b')]").unwrap(),
            json!(true)
        );
        assert_eq!(eval("[and(true(), not(false()))]").unwrap(), json!(true));
        assert_eq!(eval("[substring('abcdef', 1, 2)]").unwrap(), json!("bc"));
        assert_eq!(
            eval("[concat(parameters('list'), createArray('c'))]").unwrap(),
            json!(["a", "b", "c"])
        );
    }

    #[test]
    fn what_cannot_be_evaluated_is_undecided_naming_it() {
        let e = eval("[utcNow()]").unwrap_err();
        assert_eq!(e.expression, "[utcNow()]");
        assert!(e.why.contains("'utcNow'"), "{e:?}");
        let e = eval("[parameters('missing')]").unwrap_err();
        assert!(e.why.contains("'missing'"), "{e:?}");
        assert!(eval("[concat('a']").is_err());
        assert_eq!(
            eval("[concat('a'").unwrap(),
            json!("[concat('a'"),
            "not an expression: a literal"
        );
        assert!(eval("[substring('ab', 5, 1)]").is_err());
        assert!(eval("[field('Microsoft.HybridCompute/licenses/unknownProperty')]").is_err());
        let deep = format!("[{}'x'{}]", "toLower(".repeat(200), ")".repeat(200));
        assert!(eval(&deep).is_err());
    }
}
