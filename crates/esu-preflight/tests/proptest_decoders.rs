//! Property tests: arbitrary and near-valid JSON fed to every ARM model decoder and to the
//! snapshot loader. Never a panic; always a value, or an error that says where (line and column,
//! or the field).
//!
//! Written against the public API only (`Snapshot::from_json`, `Snapshot::load`,
//! `Snapshot::new`, `to_json_pretty`, the models), with the bundled example snapshot as the valid
//! starting point, so it keeps working as the snapshot format grows.
//!
//! Case counts are bounded so the whole file runs in a few seconds on a loaded 2-core runner;
//! `PROPTEST_CASES=N` raises them for a longer local run.

use esu_preflight::models::{
    Permission, Provider, RegistrationState, Subscription, SubscriptionState,
};
use esu_preflight::snapshot::{Scope, Snapshot, SnapshotError};
use proptest::prelude::*;
use proptest::sample::select;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// The file name the loader is told; every error must name it.
const FILE: &str = "near-valid-snap.json";

/// Field names the decoders know, so that generated objects often hit real fields.
const FIELDS: &[&str] = &[
    "snapshot_version",
    "generator",
    "arm_endpoint",
    "scope",
    "subscriptions",
    "subscription_id",
    "subscription",
    "providers",
    "permissions",
    "status",
    "value",
    "reason",
    "kind",
    "http_status",
    "code",
    "message",
    "action",
    "id",
    "subscriptionId",
    "tenantId",
    "displayName",
    "state",
    "namespace",
    "registrationState",
    "registrationPolicy",
    "actions",
    "notActions",
    "dataActions",
    "notDataActions",
    "nextLink",
];

/// Strings the decoders give meaning to (enum values, in several casings).
const WORDS: &[&str] = &[
    "available",
    "unavailable",
    "forbidden",
    "not_found",
    "http_error",
    "malformed_response",
    "pagination_refused",
    "transport",
    "Enabled",
    "enabled",
    "Disabled",
    "PastDue",
    "Registered",
    "registered",
    "NotRegistered",
    "Registering",
    "Unregistered",
    "*",
    "*/read",
    "",
];

/// `default` cases; `PROPTEST_CASES` in the environment overrides it (proptest applies it).
fn cases(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(default)
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(WORDS).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9 ._/*-]{0,16}",
        1 => any::<String>(),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(FIELDS).prop_map(str::to_owned),
        1 => arb_string(),
    ]
}

/// Any JSON value, biased towards the names and words the decoders know.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..4).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// The bundled example snapshot, as JSON.
static EXAMPLE: LazyLock<Value> = LazyLock::new(|| {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/snapshots/contoso-esu.json");
    let text = std::fs::read_to_string(&file).expect("the example snapshot is readable");
    serde_json::from_str(&text).expect("the example snapshot is JSON")
});

/// One step from the root of a JSON document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path of every value in `value` except the root.
fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        let children: Vec<(Step, &Value)> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Step::Index(i), v))
                .collect(),
            _ => Vec::new(),
        };
        for (step, child) in children {
            prefix.push(step);
            out.push(prefix.clone());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn at<'v>(value: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(value, |value, step| match step {
        Step::Key(key) => &mut value[key.as_str()],
        Step::Index(index) => &mut value[*index],
    })
}

static EXAMPLE_PATHS: LazyLock<Vec<Vec<Step>>> = LazyLock::new(|| paths(&EXAMPLE));

/// Paths ending in an object member, i.e. keys that can be deleted.
static EXAMPLE_KEYS: LazyLock<Vec<Vec<Step>>> = LazyLock::new(|| {
    EXAMPLE_PATHS
        .iter()
        .filter(|p| matches!(p.last(), Some(Step::Key(_))))
        .cloned()
        .collect()
});

const MARKER: &str = "__esu_preflight_proptest_marker__";

/// The example with the value at `path` replaced by `replacement`, pretty-printed, and the
/// 1-based line the replacement is on (it is written compactly, on that one line).
fn replaced(path: &[Step], replacement: &Value) -> (String, usize) {
    let mut doc = EXAMPLE.clone();
    *at(&mut doc, path) = Value::String(MARKER.to_owned());
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let quoted = format!("\"{MARKER}\"");
    let offset = text.find(&quoted).expect("the marker is in the text");
    let line = text[..offset].matches('\n').count() + 1;
    let compact = serde_json::to_string(replacement).unwrap();
    (text.replacen(&quoted, &compact, 1), line)
}

/// The error and its sources, as one text.
fn chain(error: &SnapshotError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The loader's error says where: the file, and a line and column (or names the version).
/// Returns the line for a parse error.
fn assert_locates(error: &SnapshotError, text: &str) -> Option<usize> {
    let message = chain(error);
    assert!(message.contains(FILE), "the file is not named: {message}");
    match error {
        SnapshotError::Parse { line, column, .. } => {
            assert!(
                *line >= 1 && *column >= 1,
                "no position: {message}\n--- input ---\n{text}"
            );
            assert!(
                message.contains(&format!(":{line}:{column}")),
                "the position is not in the message: {message}"
            );
            Some(*line)
        }
        SnapshotError::UnsupportedVersion { found, .. } => {
            assert!(message.contains(&found.to_string()), "{message}");
            None
        }
        #[allow(unreachable_patterns)]
        _ => {
            assert!(
                FIELDS.iter().any(|field| message.contains(field)),
                "names neither a position nor a field: {message}"
            );
            None
        }
    }
}

/// A snapshot that loaded writes itself back in a form that loads to the same snapshot, and
/// writing is stable.
fn assert_round_trips(snapshot: &Snapshot) {
    let written = snapshot.to_json_pretty();
    let again = Snapshot::from_json(&written, Path::new(FILE)).unwrap_or_else(|e| {
        panic!(
            "a loaded snapshot does not reload: {}\n{written}",
            chain(&e)
        )
    });
    assert_eq!(&again, snapshot, "{written}");
    assert_eq!(again.to_json_pretty(), written);
}

#[test]
fn the_example_and_a_new_snapshot_load_and_round_trip() {
    let text = serde_json::to_string_pretty(&*EXAMPLE).unwrap();
    let example = Snapshot::from_json(&text, Path::new(FILE)).unwrap();
    assert_round_trips(&example);
    // An empty scope is "nothing to check"; a scope of one subscription with no facts loads.
    assert!(
        Snapshot::from_json(
            &Snapshot::new(Scope::default()).to_json_pretty(),
            Path::new(FILE)
        )
        .is_err()
    );
    assert_round_trips(&Snapshot::new(Scope::subscriptions([
        "00000000-0000-0000-0000-000000000000",
    ])));
    // The generators below do reach the interesting parts of the example.
    assert!(EXAMPLE_PATHS.len() > 50, "{}", EXAMPLE_PATHS.len());
    let keys: Vec<_> = EXAMPLE_KEYS
        .iter()
        .filter_map(|p| match p.last() {
            Some(Step::Key(k)) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    for key in ["snapshot_version", "status", "registrationState", "state"] {
        assert!(keys.contains(&key), "{key} not in the example");
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn the_loader_never_panics_on_any_text(text in prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,0-9a-z_ \n]{0,64}",
    ]) {
        match Snapshot::from_json(&text, Path::new(FILE)) {
            Ok(snapshot) => assert_round_trips(&snapshot),
            Err(error) => { assert_locates(&error, &text); }
        }
    }

    #[test]
    fn the_loader_never_panics_on_any_json(value in arb_json()) {
        let text = serde_json::to_string_pretty(&value).unwrap();
        match Snapshot::from_json(&text, Path::new(FILE)) {
            Ok(snapshot) => assert_round_trips(&snapshot),
            Err(error) => { assert_locates(&error, &text); }
        }
    }

    /// The example with one value replaced: where real bugs hide.
    #[test]
    fn a_near_valid_snapshot_loads_or_says_where(
        path in select(EXAMPLE_PATHS.clone()),
        replacement in arb_json(),
    ) {
        let (text, mutated_line) = replaced(&path, &replacement);
        match Snapshot::from_json(&text, Path::new(FILE)) {
            Ok(snapshot) => assert_round_trips(&snapshot),
            Err(error) => {
                if let Some(line) = assert_locates(&error, &text) {
                    // The text is valid up to the replaced value: an error cannot be found
                    // before it.
                    prop_assert!(
                        line >= mutated_line,
                        "error at line {line}, before the replaced value (line {mutated_line}): {}\n{text}",
                        chain(&error)
                    );
                }
            }
        }
    }

    /// The example with one member removed: it was optional, or the error names it.
    #[test]
    fn a_snapshot_missing_a_member_loads_or_names_it(path in select(EXAMPLE_KEYS.clone())) {
        let mut doc = EXAMPLE.clone();
        let (parent, last) = path.split_at(path.len() - 1);
        let Step::Key(key) = &last[0] else { unreachable!("keys only") };
        at(&mut doc, parent).as_object_mut().unwrap().remove(key);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        match Snapshot::from_json(&text, Path::new(FILE)) {
            Ok(snapshot) => assert_round_trips(&snapshot),
            Err(error) => {
                let message = chain(&error);
                assert_locates(&error, &text);
                prop_assert!(
                    message.contains(&format!("`{key}`")) || message.contains(&format!("'{key}'"))
                        || message.contains(&format!("\"{key}\"")),
                    "removing {key} at {path:?} gives an error that does not name it: {message}"
                );
            }
        }
    }
}

/// Whether `message` names `key` as a field: quoted, back-quoted, or as a segment of a path.
fn names_field(message: &str, key: &str) -> bool {
    [
        format!("`{key}`"),
        format!("'{key}'"),
        format!("\"{key}\""),
        format!(".{key}"),
        format!("/{key}"),
        // The first segment of a path, as the loader writes it: `…: scope.subscriptions: …`.
        format!(": {key}:"),
        format!(": {key}."),
        format!(": {key}["),
        format!(": {key} "),
    ]
    .iter()
    .any(|form| message.contains(form.as_str()))
}

proptest! {
    #![proptest_config(cases(256))]

    /// Issue 5 A10: the loader's message names the field, not only serde's type names.
    #[test]
    fn a_near_valid_snapshot_error_names_a_field_on_the_path(
        path in select(EXAMPLE_PATHS.clone()),
        replacement in arb_json(),
    ) {
        let (text, _) = replaced(&path, &replacement);
        if let Err(error) = Snapshot::from_json(&text, Path::new(FILE)) {
            let message = chain(&error);
            let on_path: Vec<&str> = path
                .iter()
                .filter_map(|step| match step {
                    Step::Key(key) => Some(key.as_str()),
                    Step::Index(_) => None,
                })
                .collect();
            prop_assert!(
                on_path.iter().any(|key| names_field(&message, key))
                    || FIELDS.iter().any(|key| names_field(&message, key)),
                "replacing {path:?} with {replacement}: {message}"
            );
        }
    }
}

proptest! {
    #![proptest_config(cases(32))]

    /// Any bytes in a file: loaded, or an error naming the file (and where, for a parse error).
    #[test]
    fn loading_any_file_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let dir = tempfile::tempdir().unwrap();
        let file: PathBuf = dir.path().join(FILE);
        std::fs::write(&file, &bytes).unwrap();
        match Snapshot::load(&file) {
            Ok(snapshot) => assert_round_trips(&snapshot),
            Err(error) => { assert_locates(&error, &String::from_utf8_lossy(&bytes)); }
        }
    }
}

/// Decodes `value` as `T` from text (as the ARM client does with a body). A decoding error of a
/// text always carries its position.
fn decode_text<T: DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    let text = serde_json::to_string(value).unwrap();
    let result = serde_json::from_str::<T>(&text);
    if let Err(error) = &result {
        assert!(
            error.line() >= 1 && error.to_string().contains(" at line "),
            "{error}"
        );
    }
    result
}

fn valid_provider() -> Value {
    json!({
        "id": "/subscriptions/s/providers/Microsoft.HybridCompute",
        "namespace": "Microsoft.HybridCompute",
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
    })
}

fn valid_subscription() -> Value {
    json!({
        "id": "/subscriptions/s",
        "subscriptionId": "s",
        "tenantId": "t",
        "displayName": "Contoso",
        "state": "Enabled",
    })
}

fn valid_permission() -> Value {
    json!({ "actions": ["*"], "notActions": ["Microsoft.Authorization/*/write"] })
}

/// Adds `extra` members, under names the model does not know, to the object `value`.
fn with_unknown_members(mut value: Value, extra: Vec<(String, Value)>) -> Value {
    let map = value.as_object_mut().unwrap();
    for (key, member) in extra {
        map.insert(format!("x-unknown-{key}"), member);
    }
    value
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn every_model_decoder_takes_any_json(value in arb_json()) {
        // Each decoder, alone and as ARM's list payload; the outcome does not matter, a panic
        // or a positionless error would.
        let _ = decode_text::<Subscription>(&value);
        let _ = decode_text::<Provider>(&value);
        let _ = decode_text::<Permission>(&value);
        let _ = decode_text::<SubscriptionState>(&value);
        let _ = decode_text::<RegistrationState>(&value);
        let _ = decode_text::<Vec<Provider>>(&value);
        let _ = decode_text::<Vec<Permission>>(&value);
        // Whatever decodes re-encodes to something that decodes to the same value.
        if let Ok(provider) = serde_json::from_value::<Provider>(value.clone()) {
            let back: Provider = decode_text(&serde_json::to_value(&provider).unwrap()).unwrap();
            prop_assert_eq!(back, provider);
        }
        if let Ok(subscription) = serde_json::from_value::<Subscription>(value.clone()) {
            let back: Subscription =
                decode_text(&serde_json::to_value(&subscription).unwrap()).unwrap();
            prop_assert_eq!(back, subscription);
        }
        if let Ok(permission) = serde_json::from_value::<Permission>(value) {
            let back: Permission = decode_text(&serde_json::to_value(&permission).unwrap()).unwrap();
            prop_assert_eq!(back, permission);
        }
    }

    #[test]
    fn every_model_decoder_takes_any_text(text in any::<String>()) {
        let _ = serde_json::from_str::<Subscription>(&text);
        let _ = serde_json::from_str::<Provider>(&text);
        let _ = serde_json::from_str::<Permission>(&text);
        let _ = serde_json::from_str::<Vec<Provider>>(&text);
    }

    /// A valid model with one member replaced by any JSON: decoded, or an error naming that
    /// member or its position.
    #[test]
    fn a_near_valid_model_decodes_or_says_where(
        which in 0usize..3,
        key in select(FIELDS),
        replacement in arb_json(),
    ) {
        let mut value = [valid_subscription(), valid_provider(), valid_permission()][which].clone();
        value[key] = replacement;
        let result = match which {
            0 => decode_text::<Subscription>(&value).map(|_| ()),
            1 => decode_text::<Provider>(&value).map(|_| ()),
            _ => decode_text::<Permission>(&value).map(|_| ()),
        };
        if let Err(error) = result {
            let text = serde_json::to_string(&value).unwrap();
            // The replaced member is where the decoder stopped (the members before it are valid).
            let member = text.find(&format!("\"{key}\":")).expect("the member is in the text");
            prop_assert!(error.column() > member, "{error} in {text}");
        }
    }

    /// New members ARM adds never change or break a decoded model.
    #[test]
    fn unknown_members_are_ignored(
        extra in prop::collection::vec((arb_string(), arb_json()), 0..4),
    ) {
        let provider: Provider =
            decode_text(&with_unknown_members(valid_provider(), extra.clone())).unwrap();
        prop_assert_eq!(provider, serde_json::from_value::<Provider>(valid_provider()).unwrap());
        let subscription: Subscription =
            decode_text(&with_unknown_members(valid_subscription(), extra.clone())).unwrap();
        prop_assert_eq!(
            subscription,
            serde_json::from_value::<Subscription>(valid_subscription()).unwrap()
        );
        let permission: Permission =
            decode_text(&with_unknown_members(valid_permission(), extra)).unwrap();
        prop_assert_eq!(permission, serde_json::from_value::<Permission>(valid_permission()).unwrap());
    }

    /// The tolerant enums keep any string: known ones in any casing, others verbatim.
    #[test]
    fn tolerant_enums_keep_any_string(text in arb_string()) {
        let state = decode_text::<RegistrationState>(&Value::String(text.clone())).unwrap();
        prop_assert!(state.as_str().eq_ignore_ascii_case(&text), "{state:?} from {text:?}");
        prop_assert_eq!(state.to_string(), state.as_str());
        let back: RegistrationState = decode_text(&serde_json::to_value(&state).unwrap()).unwrap();
        prop_assert_eq!(&back, &state);
        prop_assert_eq!(state.is_registered(), text.eq_ignore_ascii_case("Registered"));

        let state = decode_text::<SubscriptionState>(&Value::String(text.clone())).unwrap();
        prop_assert!(state.as_str().eq_ignore_ascii_case(&text), "{state:?} from {text:?}");
        let back: SubscriptionState = decode_text(&serde_json::to_value(&state).unwrap()).unwrap();
        prop_assert_eq!(back, state);
    }
}
