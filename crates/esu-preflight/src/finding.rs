//! Findings: what a check concluded about one resource.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The outcome of a check on one resource.
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): these four outcomes are the report's
/// contract and decide the exit code, so a fifth would be a breaking change that every embedder
/// must handle on purpose. A wildcard arm would instead let it pass silently as whatever the
/// arm does (often "fine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The problem was found.
    Fail,
    /// The facts needed could not be read; the reason is in the message and evidence.
    Inconclusive,
    /// Verified: the problem is not there.
    Pass,
    /// The check does not apply to this resource; the reason is in the message.
    Skipped,
}

impl Status {
    /// The lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Inconclusive => "inconclusive",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How much a failing finding matters. Ordered: `Info < Warning < Error`.
///
/// Deliberately exhaustive, like [`Status`]: it is the `--fail-on` scale and the keys of
/// [`SeverityCounts`](crate::report::SeverityCounts); a new level would change what gates a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; never blocks on its own unless `--fail-on info`.
    Info,
    /// Likely to cause trouble.
    Warning,
    /// Will make provisioning, linking or patch delivery fail.
    Error,
}

impl Severity {
    /// The lower-case name used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error for a severity name that is not `info`, `warning` or `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected info, warning or error")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Self::Info),
            "warning" | "warn" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            _ => Err(UnknownSeverity(s.to_owned())),
        }
    }
}

/// What a check concluded about one resource. Passing checks are findings too, so a report
/// shows what was verified.
///
/// Built to be cheap in the hundreds of thousands (a fleet of 100,000 machines makes some
/// 700,000): the check's own texts (`check_id`, `check`, `help_uri`, `program`) are borrowed
/// from its static declaration ([`Cow::Borrowed`]; a finding read back from a report owns
/// them), the subscription id and the resource id are shared, and the evidence is kept as
/// compact JSON text ([`Evidence`]). The JSON report is the contract, not this layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The stable check ID, e.g. `ESU101`.
    pub check_id: Cow<'static, str>,
    /// The check's kebab-case name, e.g. `provider-not-registered`.
    pub check: Cow<'static, str>,
    /// The outcome.
    pub status: Status,
    /// How much it matters when it fails (also set on passes, for reference).
    pub severity: Severity,
    /// The ARM id of the resource it is about (shared by the findings about the resource
    /// where the check can: a machine's six machine checks).
    pub resource_id: Arc<str>,
    /// The subscription the resource is in (one allocation shared by the subscription's
    /// findings).
    pub subscription_id: Arc<str>,
    /// What was found, with the values.
    pub message: String,
    /// What to do about it: a command or a portal path. Empty on passes.
    pub remediation: String,
    /// The facts behind the conclusion.
    pub evidence: Evidence,
    /// Where to read more.
    pub help_uri: Cow<'static, str>,
    /// The ESU program the resource belongs to (`ws2012`, `ws2016`), for license and machine
    /// findings; absent for subscription-wide ones. An added field of the JSON report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<Cow<'static, str>>,
    /// Set when a configured suppression accepts this finding (see [`crate::config`]): it keeps
    /// its status and stays in the report, but never fails the run. An added field of the JSON
    /// report, absent when not suppressed. Boxed: few findings are suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Box<crate::config::Suppressed>>,
}

impl Finding {
    /// The order findings are reported in: by subscription, check, resource, then status.
    pub fn sort_key(&self) -> (&str, &str, &str, Status) {
        (
            &self.subscription_id,
            &self.check_id,
            &self.resource_id,
            self.status,
        )
    }
}

/// The facts behind a finding: a JSON value (an object, or `null` when there are none), kept as
/// its compact JSON text.
///
/// A `serde_json::Value` object per finding (a B-tree node of owned keys and values) was most
/// of a large run's memory; the text is made once, when the finding is, by serde_json from the
/// check's `Value` — object keys in `Value`'s (sorted) order — and is only ever that. Serialized,
/// it is the JSON value it spells, through the serializer like any other value (a pretty
/// printer indents it; the JSON report is the same as with a `Value`). Read it with
/// [`Evidence::get`] or [`Evidence::value`].
///
/// ```
/// use esu_preflight::finding::Evidence;
/// use serde_json::json;
///
/// let evidence = Evidence::from(json!({ "state": "Registered", "listed": true }));
/// assert_eq!(evidence.as_str(), r#"{"listed":true,"state":"Registered"}"#);
/// assert_eq!(evidence.get("state"), Some(json!("Registered")));
/// assert_eq!(evidence.get("missing"), None);
/// assert_eq!(evidence, json!({ "listed": true, "state": "Registered" }));
/// assert!(Evidence::default().is_null());
/// assert_eq!(
///     serde_json::to_string_pretty(&evidence).unwrap(),
///     "{\n  \"listed\": true,\n  \"state\": \"Registered\"\n}"
/// );
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Evidence(
    /// The compact JSON text; empty for `null` (so no evidence allocates nothing).
    Box<str>,
);

impl Evidence {
    /// No evidence: `null`.
    pub fn null() -> Self {
        Self::default()
    }

    /// The evidence of `value`.
    pub fn new(value: &Value) -> Self {
        if value.is_null() {
            return Self::null();
        }
        thread_local! {
            /// A buffer to write the text into before it gets an allocation of its exact size.
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with(|buffer| {
            let Ok(mut buffer) = buffer.try_borrow_mut() else {
                return Self::owned(value.to_string());
            };
            buffer.clear();
            // Writing a `Value` to a `Vec` cannot fail (its keys are strings).
            if serde_json::to_writer(&mut *buffer, value).is_err() {
                return Self::null();
            }
            match std::str::from_utf8(&buffer) {
                Ok(text) => Self(text.into()),
                Err(_) => Self::null(),
            }
        })
    }

    fn owned(text: String) -> Self {
        if text == "null" {
            Self::null()
        } else {
            Self(text.into_boxed_str())
        }
    }

    /// Whether there is no evidence (`null`).
    pub fn is_null(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the evidence is a JSON object (as every check's is).
    pub fn is_object(&self) -> bool {
        self.0.starts_with('{')
    }

    /// The compact JSON text (`null` when there is no evidence).
    pub fn as_str(&self) -> &str {
        if self.is_null() { "null" } else { &self.0 }
    }

    /// The evidence as a `Value` (parsed again: for reading, not for hot paths).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }

    /// The member `key` of the evidence object, if it is an object that has it.
    pub fn get(&self, key: &str) -> Option<Value> {
        let mut members = raw::Members::of(&self.0)?;
        members.find_map(|member| {
            let (name, value) = member.ok()?;
            (raw::unescape(name).ok()? == key)
                .then(|| serde_json::from_str(value).ok())
                .flatten()
        })
    }
}

impl From<Value> for Evidence {
    fn from(value: Value) -> Self {
        Self::new(&value)
    }
}

impl From<&Value> for Evidence {
    fn from(value: &Value) -> Self {
        Self::new(value)
    }
}

impl PartialEq<Value> for Evidence {
    fn eq(&self, other: &Value) -> bool {
        self.value() == *other
    }
}

impl fmt::Display for Evidence {
    /// The compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Evidence").field(&self.as_str()).finish()
    }
}

impl Serialize for Evidence {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        raw::Raw::new(self.as_str()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Evidence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

/// Evidence while a check builds it: the members of a JSON object, each written as compact JSON
/// text when it is added, made into an [`Evidence`] once ([`EvidenceBuilder::build`]).
///
/// It behaves as the `serde_json::Value` it replaces did: `null` until something is set;
/// [`set`](Self::set) replaces the whole value; [`insert`](Self::insert) adds a member or
/// replaces one with the same key (making the evidence an object if it is not one). The
/// members come out sorted by key, as `Value`'s map sorts them, so the text is the one
/// serde_json writes for the same `Value` — without a map node and owned key and value per
/// member (a large run makes hundreds of thousands of findings).
///
/// ```
/// use esu_preflight::finding::EvidenceBuilder;
/// use serde_json::json;
///
/// let mut evidence = EvidenceBuilder::default();
/// assert!(evidence.is_null());
/// evidence.insert("state", "Registered");
/// evidence.insert("listed", true);
/// evidence.insert("state", None::<&str>);
/// assert_eq!(evidence.build().as_str(), r#"{"listed":true,"state":null}"#);
/// assert_eq!(evidence.to_value(), json!({ "listed": true, "state": null }));
///
/// // Equal when they build the same evidence, in whatever order it was added.
/// let other = EvidenceBuilder::from(json!({ "state": null, "listed": true }));
/// assert_eq!(evidence, other);
/// ```
#[derive(Debug, Clone, Default)]
pub struct EvidenceBuilder {
    /// The whole value's text, or the members one after the other: each its raw key, then its
    /// compact text `"key":value`.
    text: Vec<u8>,
    /// The members: where the raw key and the member's text are in `text`, sorted by key (the
    /// order of the compact text, as `serde_json::Value` orders an object's keys).
    members: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// What `text` holds.
    kind: Built,
}

/// What an [`EvidenceBuilder`] holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Built {
    /// `null`.
    #[default]
    Null,
    /// An object: the members.
    Object,
    /// Another value (an array, a string, a number…): its text.
    Whole,
}

impl EvidenceBuilder {
    /// Whether the evidence is `null` (nothing set).
    pub fn is_null(&self) -> bool {
        self.kind == Built::Null
    }

    /// Replaces the evidence with `value`.
    pub fn set(&mut self, value: &Value) {
        self.text.clear();
        self.members.clear();
        match value {
            Value::Null => self.kind = Built::Null,
            Value::Object(map) => {
                self.kind = Built::Object;
                for (key, member) in map {
                    self.insert(key, member);
                }
            }
            other => {
                self.kind = Built::Whole;
                Self::write(&mut self.text, other);
            }
        }
    }

    /// Adds the member `key: value`, replacing one with the same key; the evidence becomes an
    /// object if it is not one. A value serde_json cannot write (a map with keys that are not
    /// strings) is written as `null`.
    pub fn insert(&mut self, key: &str, value: impl Serialize) {
        if self.kind != Built::Object {
            self.text.clear();
            self.members.clear();
            self.kind = Built::Object;
        }
        if self.members.capacity() == 0 {
            // Room for a typical finding's evidence at once, rather than growing to it.
            self.text.reserve(256);
            self.members.reserve(8);
        }
        let text = &self.text;
        let place = self
            .members
            .binary_search_by(|(k, _)| text[k.clone()].cmp(key.as_bytes()));
        let start = self.text.len();
        self.text.extend_from_slice(key.as_bytes());
        let key_range = start..self.text.len();
        let start = self.text.len();
        // The key as a JSON string: `write` takes the plain path when it needs no escape.
        Self::write(&mut self.text, &key);
        self.text.push(b':');
        Self::write(&mut self.text, &value);
        let member = (key_range, start..self.text.len());
        match place {
            // The earlier member's text stays in `text`, unused.
            Ok(at) => self.members[at] = member,
            Err(at) => self.members.insert(at, member),
        }
    }

    /// A copy, with room for a few more members (a plain clone would have none).
    pub(crate) fn with_room(&self) -> Self {
        let mut text = Vec::with_capacity(self.text.len() + 128);
        text.extend_from_slice(&self.text);
        let mut members = Vec::with_capacity(self.members.len() + 4);
        members.extend_from_slice(&self.members);
        Self {
            text,
            members,
            kind: self.kind,
        }
    }

    /// Writes `value` as compact JSON at the end of `text` (`null` if it cannot be written).
    fn write(text: &mut Vec<u8>, value: &impl Serialize) {
        let start = text.len();
        // Most evidence values are strings that need no escape: written as they are.
        if value.serialize(plain::Plain(text)).is_ok() {
            return;
        }
        text.truncate(start);
        if serde_json::to_writer(&mut *text, value).is_err() {
            text.truncate(start);
            text.extend_from_slice(b"null");
        }
    }

    /// The evidence as a `Value` (for reading, not for hot paths).
    pub fn to_value(&self) -> Value {
        self.build().value()
    }

    /// The evidence, as compact JSON text.
    pub fn build(&self) -> Evidence {
        match self.kind {
            Built::Null => Evidence::null(),
            Built::Whole => Evidence::owned(String::from_utf8_lossy(&self.text).into_owned()),
            Built::Object => {
                thread_local! {
                    /// A buffer to write the text into before it gets an allocation of its
                    /// exact size.
                    static BUFFER: std::cell::RefCell<Vec<u8>> =
                        const { std::cell::RefCell::new(Vec::new()) };
                }
                BUFFER.with(|buffer| match buffer.try_borrow_mut() {
                    Ok(mut buffer) => self.write_object(&mut buffer),
                    Err(_) => self.write_object(&mut Vec::new()),
                })
            }
        }
    }

    /// [`build`](Self::build) of an object, through `buffer`.
    fn write_object(&self, buffer: &mut Vec<u8>) -> Evidence {
        buffer.clear();
        buffer.push(b'{');
        for (at, (_, member)) in self.members.iter().enumerate() {
            if at > 0 {
                buffer.push(b',');
            }
            buffer.extend_from_slice(&self.text[member.clone()]);
        }
        buffer.push(b'}');
        match std::str::from_utf8(buffer) {
            Ok(text) => Evidence(text.into()),
            Err(_) => Evidence::null(),
        }
    }
}

impl PartialEq for EvidenceBuilder {
    /// Whether the two build the same evidence (whatever order the members were added in).
    fn eq(&self, other: &Self) -> bool {
        self.build() == other.build()
    }
}

impl From<Value> for EvidenceBuilder {
    fn from(value: Value) -> Self {
        let mut builder = Self::default();
        builder.set(&value);
        builder
    }
}

/// Serializing evidence text as the value it spells, without building a `Value`.
///
/// The text is always compact and valid (serde_json wrote it); a malformed one is reported as a
/// serialization error, never a panic.
mod raw {
    use serde::ser::{Error as _, SerializeMap, SerializeSeq};
    use serde::{Serialize, Serializer};
    use std::borrow::Cow;
    use std::cell::Cell;

    /// A JSON value of compact text, from `at` on: serialized, it moves `at` past itself.
    pub(super) struct Raw<'a> {
        text: &'a str,
        at: Cell<usize>,
    }

    const MALFORMED: &str = "malformed evidence text";

    /// Where the value starting at `start` ends (the index after it).
    fn end_of(text: &[u8], start: usize) -> Result<usize, &'static str> {
        match text.get(start) {
            Some(b'"') => {
                let mut at = start + 1;
                loop {
                    match text.get(at) {
                        Some(b'\\') => at += 2,
                        Some(b'"') => return Ok(at + 1),
                        Some(_) => at += 1,
                        None => return Err(MALFORMED),
                    }
                }
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                let mut at = start;
                loop {
                    match text.get(at) {
                        Some(b'"') => {
                            at = end_of(text, at)?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(at + 1);
                            }
                        }
                        Some(_) => {}
                        None => return Err(MALFORMED),
                    }
                    at += 1;
                }
            }
            Some(_) => Ok(text[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))
                .map_or(text.len(), |n| start + n)),
            None => Err(MALFORMED),
        }
    }

    /// The members of an object's text, as (key text with its quotes, value text).
    pub(super) struct Members<'a> {
        text: &'a str,
        at: usize,
        done: bool,
    }

    impl<'a> Members<'a> {
        /// The members of `text`, when it is an object.
        pub(super) fn of(text: &'a str) -> Option<Self> {
            text.starts_with('{').then_some(Self {
                text,
                at: 1,
                done: text.as_bytes().get(1) == Some(&b'}'),
            })
        }

        fn step(&mut self) -> Result<(&'a str, &'a str), &'static str> {
            let bytes = self.text.as_bytes();
            let key_end = end_of(bytes, self.at)?;
            if bytes.get(self.at) != Some(&b'"') || bytes.get(key_end) != Some(&b':') {
                return Err(MALFORMED);
            }
            let value_end = end_of(bytes, key_end + 1)?;
            let member = (
                self.text.get(self.at..key_end).ok_or(MALFORMED)?,
                self.text.get(key_end + 1..value_end).ok_or(MALFORMED)?,
            );
            match bytes.get(value_end) {
                Some(b',') => self.at = value_end + 1,
                Some(b'}') => self.done = true,
                _ => return Err(MALFORMED),
            }
            Ok(member)
        }
    }

    impl<'a> Iterator for Members<'a> {
        type Item = Result<(&'a str, &'a str), &'static str>;

        fn next(&mut self) -> Option<Self::Item> {
            if self.done {
                return None;
            }
            let member = self.step();
            if member.is_err() {
                self.done = true;
            }
            Some(member)
        }
    }

    /// A string's text (with its quotes) unescaped: borrowed unless it has escapes.
    pub(super) fn unescape(text: &str) -> Result<Cow<'_, str>, &'static str> {
        let inner = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or(MALFORMED)?;
        if inner.contains('\\') {
            serde_json::from_str::<String>(text)
                .map(Cow::Owned)
                .map_err(|_| MALFORMED)
        } else {
            Ok(Cow::Borrowed(inner))
        }
    }

    impl<'a> Raw<'a> {
        /// The value that starts at the beginning of `text`.
        pub(super) fn new(text: &'a str) -> Self {
            Self {
                text,
                at: Cell::new(0),
            }
        }

        fn at(text: &'a str, at: usize) -> Self {
            Self {
                text,
                at: Cell::new(at),
            }
        }
    }

    /// The string that starts at `at` (a quote), unescaped, and the index after it.
    fn string_at(text: &str, at: usize) -> Result<(Cow<'_, str>, usize), &'static str> {
        let end = end_of(text.as_bytes(), at)?;
        if text.as_bytes().get(at) != Some(&b'"') {
            return Err(MALFORMED);
        }
        Ok((unescape(text.get(at..end).ok_or(MALFORMED)?)?, end))
    }

    /// Steps `at` past what follows a member or an element: a `,` (`Some(true)`: another one
    /// comes) or the closing `close` (`Some(false)`); `None` when it is neither.
    fn past_separator(bytes: &[u8], at: &mut usize, close: u8) -> Option<bool> {
        let more = match bytes.get(*at) {
            Some(b',') => true,
            Some(&b) if b == close => false,
            _ => return None,
        };
        *at += 1;
        Some(more)
    }

    impl Serialize for Raw<'_> {
        /// As `serde_json::Value` serializes the value the text spells, reading the text once
        /// (each value moves `at` past itself). Maps and sequences are given a length only when
        /// empty (serde_json writes the same either way).
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let text = self.text;
            let bytes = text.as_bytes();
            let start = self.at.get();
            let malformed = || S::Error::custom(MALFORMED);
            match bytes.get(start) {
                Some(b'{') => {
                    let mut at = start + 1;
                    let empty = bytes.get(at) == Some(&b'}');
                    let mut map = serializer.serialize_map(empty.then_some(0))?;
                    if empty {
                        at += 1;
                    } else {
                        loop {
                            let (key, next) = string_at(text, at).map_err(S::Error::custom)?;
                            if bytes.get(next) != Some(&b':') {
                                return Err(malformed());
                            }
                            let value = Raw::at(text, next + 1);
                            map.serialize_entry(&key, &value)?;
                            at = value.at.get();
                            if !past_separator(bytes, &mut at, b'}').ok_or_else(malformed)? {
                                break;
                            }
                        }
                    }
                    self.at.set(at);
                    map.end()
                }
                Some(b'[') => {
                    let mut at = start + 1;
                    let empty = bytes.get(at) == Some(&b']');
                    let mut seq = serializer.serialize_seq(empty.then_some(0))?;
                    if empty {
                        at += 1;
                    } else {
                        loop {
                            let element = Raw::at(text, at);
                            seq.serialize_element(&element)?;
                            at = element.at.get();
                            if !past_separator(bytes, &mut at, b']').ok_or_else(malformed)? {
                                break;
                            }
                        }
                    }
                    self.at.set(at);
                    seq.end()
                }
                Some(b'"') => {
                    let (value, end) = string_at(text, start).map_err(S::Error::custom)?;
                    self.at.set(end);
                    serializer.serialize_str(&value)
                }
                Some(_) => {
                    let end = end_of(bytes, start).map_err(S::Error::custom)?;
                    self.at.set(end);
                    match &text[start..end] {
                        "null" => serializer.serialize_unit(),
                        "true" => serializer.serialize_bool(true),
                        "false" => serializer.serialize_bool(false),
                        number => serde_json::from_str::<serde_json::Number>(number)
                            .map_err(|_| malformed())?
                            .serialize(serializer),
                    }
                }
                None => Err(malformed()),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::Evidence;
        use serde_json::json;

        /// Every kind of value serializes as the `Value` it was made from, compact and pretty,
        /// escapes and all.
        #[test]
        fn evidence_serializes_as_its_value() {
            let values = [
                json!(null),
                json!({}),
                json!([]),
                json!({ "a": [], "b": {}, "c": [{}], "d": [[1, 2], {"x": null}] }),
                json!({
                    "quote\"d": "a \"b\" \\ c\n\u{1b}[31m \u{9b} é ✓",
                    "n": [0, -1, 18446744073709551615u64, -9223372036854775808i64, 1.5, 2.0, 1e300, -0.0],
                    "t": true, "f": false, "z": null,
                    "nested": { "list": ["a,b", "}", "]", "{\"", "\\"], "o": { "k": "v" } },
                }),
                json!("just a string, with \"quotes\""),
                json!(42),
                json!([1, "two", [3]]),
            ];
            for value in values {
                let evidence = Evidence::from(&value);
                assert_eq!(evidence.as_str(), value.to_string());
                assert_eq!(serde_json::to_string(&evidence).unwrap(), value.to_string());
                assert_eq!(
                    serde_json::to_string_pretty(&evidence).unwrap(),
                    serde_json::to_string_pretty(&value).unwrap()
                );
                assert_eq!(evidence.value(), value);
                assert_eq!(evidence, value);
                let back: Evidence =
                    serde_json::from_str(&serde_json::to_string_pretty(&value).unwrap()).unwrap();
                assert_eq!(back, evidence);
                if let Some(object) = value.as_object() {
                    for (key, member) in object {
                        assert_eq!(evidence.get(key).as_ref(), Some(member), "{key}");
                    }
                    assert_eq!(evidence.get("absent"), None);
                } else {
                    assert_eq!(evidence.get("a"), None);
                }
            }
        }

        /// A malformed text (never made by `Evidence` itself) is an error, not a panic.
        #[test]
        fn malformed_text_is_an_error() {
            for text in [
                "{",
                "{\"a\"",
                "{\"a\":",
                "{\"a\":1",
                "[1,",
                "\"abc",
                "{\"a\":1]",
                "nul",
                "{1:2}",
                "[",
                "x",
            ] {
                let evidence = Evidence(text.into());
                assert!(serde_json::to_string(&evidence).is_err(), "{text}");
                let _ = evidence.get("a");
                let _ = evidence.value();
            }
        }
    }
}

#[cfg(test)]
mod display_tests {
    use super::{Severity, Status};

    /// `list-checks` lines up its columns with `{:<8}`: the names honour width and alignment.
    #[test]
    fn severity_and_status_honour_width() {
        assert_eq!(format!("{:<8}|", Severity::Warning), "warning |");
        assert_eq!(format!("{:<8}|", Severity::Error), "error   |");
        assert_eq!(format!("{:>6}|", Severity::Info), "  info|");
        assert_eq!(format!("{:<13}|", Status::Skipped), "skipped      |");
        assert_eq!(Severity::Error.to_string(), "error");
    }
}

/// The evidence's fast path: a string (or `null`, a boolean, an `Option` of them) is written
/// without serde_json's byte-by-byte escaper when it needs no escape; anything else is left to
/// serde_json. The text is the same either way.
mod plain {
    use serde::Serialize;
    use serde::ser::{Error, Impossible};
    use std::fmt;

    /// Whether serde_json would escape something in `text`: `"`, `\` or a C0 control (it
    /// escapes nothing else). Eight bytes at a time, as one 64-bit word: a byte below 0x20,
    /// or equal to `"` or `\`, sets the high bit of its lane in `found` (exact for existence:
    /// the borrows these tricks can spread only ever follow a lane that already matched).
    pub(super) fn needs_escape(text: &str) -> bool {
        const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
        const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
        let zero_lane = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let mut words = text.as_bytes().chunks_exact(8);
        for word in &mut words {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            let x = u64::from_ne_bytes(bytes);
            let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
            let found = below_space
                | zero_lane(x ^ (ONES * u64::from(b'"')))
                | zero_lane(x ^ (ONES * 0x5c));
            if found != 0 {
                return true;
            }
        }
        words
            .remainder()
            .iter()
            .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    }

    /// Not written here: serde_json writes it.
    #[derive(Debug)]
    pub(super) struct NotPlain;

    impl fmt::Display for NotPlain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("not a plain value")
        }
    }

    impl std::error::Error for NotPlain {}

    impl Error for NotPlain {
        fn custom<T: fmt::Display>(_: T) -> Self {
            NotPlain
        }
    }

    /// Writes a plain value at the end of the text, or fails having written nothing.
    pub(super) struct Plain<'t>(pub(super) &'t mut Vec<u8>);

    type No = Impossible<(), NotPlain>;

    /// The kinds of value left to serde_json.
    macro_rules! not_plain {
        ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
            $(fn $method(self, $(_: $arg),*) -> Result<$ok, NotPlain> {
                Err(NotPlain)
            })*
        };
    }

    impl serde::Serializer for Plain<'_> {
        type Ok = ();
        type Error = NotPlain;
        type SerializeSeq = No;
        type SerializeTuple = No;
        type SerializeTupleStruct = No;
        type SerializeTupleVariant = No;
        type SerializeMap = No;
        type SerializeStruct = No;
        type SerializeStructVariant = No;

        fn serialize_str(self, v: &str) -> Result<(), NotPlain> {
            if needs_escape(v) {
                return Err(NotPlain);
            }
            self.0.reserve(v.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(v.as_bytes());
            self.0.push(b'"');
            Ok(())
        }

        fn serialize_none(self) -> Result<(), NotPlain> {
            self.0.extend_from_slice(b"null");
            Ok(())
        }

        fn serialize_unit(self) -> Result<(), NotPlain> {
            self.serialize_none()
        }

        fn serialize_bool(self, v: bool) -> Result<(), NotPlain> {
            self.0.extend_from_slice(if v { b"true" } else { b"false" });
            Ok(())
        }

        fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), NotPlain> {
            value.serialize(self)
        }

        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), NotPlain> {
            value.serialize(self)
        }

        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), NotPlain> {
            Err(NotPlain)
        }

        not_plain! {
            serialize_i8(i8) -> ();
            serialize_i16(i16) -> ();
            serialize_i32(i32) -> ();
            serialize_i64(i64) -> ();
            serialize_u8(u8) -> ();
            serialize_u16(u16) -> ();
            serialize_u32(u32) -> ();
            serialize_u64(u64) -> ();
            serialize_f32(f32) -> ();
            serialize_f64(f64) -> ();
            serialize_char(char) -> ();
            serialize_bytes(&[u8]) -> ();
            serialize_unit_struct(&'static str) -> ();
            serialize_unit_variant(&'static str, u32, &'static str) -> ();
            serialize_seq(Option<usize>) -> No;
            serialize_tuple(usize) -> No;
            serialize_tuple_struct(&'static str, usize) -> No;
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> No;
            serialize_map(Option<usize>) -> No;
            serialize_struct(&'static str, usize) -> No;
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> No;
        }
    }
}

#[cfg(test)]
mod plain_tests {
    use super::EvidenceBuilder;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// The fast path writes what serde_json writes, for any string (quotes, backslashes,
        /// controls, any length around the sixteen-byte chunks), as a key and as a value, alone
        /// and in an `Option`.
        #[test]
        fn plain_values_are_written_as_serde_json_writes_them(
            key in "\\PC{0,40}|[\"\\\\\\x00-\\x1f a-z]{0,40}",
            text in "\\PC{0,70}|[\"\\\\\\x00-\\x1f a-z\u{7f}\u{2028}]{0,70}",
            flag: bool,
            some: bool,
        ) {
            let mut built = EvidenceBuilder::default();
            built.insert(&key, &text);
            built.insert("flag", flag);
            built.insert("maybe", some.then_some(text.as_str()));
            let mut expected = serde_json::Map::new();
            expected.insert(key.clone(), json!(text));
            expected.insert("flag".into(), json!(flag));
            expected.insert("maybe".into(), json!(some.then_some(text.as_str())));
            let expected = serde_json::to_string(&serde_json::Value::Object(expected)).unwrap();
            let evidence = built.build();
            prop_assert_eq!(evidence.as_str(), expected.as_str());
        }
    }

    /// What is not plain (numbers, arrays, structs, a string that needs an escape) is still
    /// written by serde_json.
    #[test]
    fn the_rest_is_left_to_serde_json() {
        let mut built = EvidenceBuilder::default();
        built.insert("n", 42u32);
        built.insert("list", ["a", "b\"c"]);
        built.insert("object", json!({ "x": null, "y": 1.5 }));
        built.insert("escaped", "tab\there");
        built.insert("none", Option::<&str>::None);
        assert_eq!(
            built.build().as_str(),
            r#"{"escaped":"tab\there","list":["a","b\"c"],"n":42,"none":null,"object":{"x":null,"y":1.5}}"#
        );
    }
}
