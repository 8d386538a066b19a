//! Property tests: ARM error answers of any shape become an [`ApiError`] and an unavailable fact
//! with the status and the reason; the missing permission of an `AuthorizationFailed` message is
//! read back exactly, however deep in `details` it sits.

use esu_preflight::UnavailableKind;
use esu_preflight::arm::{ApiError, ArmError};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "error",
    "code",
    "message",
    "target",
    "details",
    "additionalInfo",
    "type",
    "info",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[a-zA-Z' ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((select(KEYS).prop_map(str::to_owned), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A body as ARM might send it: an envelope with arbitrary members, a bare error, any JSON, or
/// any bytes (a proxy's HTML page, a truncated answer).
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    let member = || prop::option::of(arb_json());
    prop_oneof![
        (member(), member(), member(), member()).prop_map(|(code, message, details, info)| {
            let mut error = Map::new();
            for (key, value) in [
                ("code", code),
                ("message", message),
                ("details", details),
                ("additionalInfo", info),
            ] {
                if let Some(value) = value {
                    error.insert(key.to_owned(), value);
                }
            }
            serde_json::to_vec(&json!({ "error": error })).unwrap()
        }),
        arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..700),
        "[ -~]{0,800}".prop_map(String::into_bytes),
    ]
}

const REQUEST: &str = "GET /subscriptions/s/providers";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_error_answer_becomes_an_unavailable_fact_with_its_status(
        status in 300u16..600,
        body in arb_body(),
    ) {
        let api = ApiError::from_response(status, &body, REQUEST);
        prop_assert_eq!(api.status, status);
        prop_assert_eq!(&api.request, REQUEST);
        if serde_json::from_slice::<Value>(&body).is_err() {
            // Not JSON: kept as the message, shortened.
            prop_assert!(api.code.is_none());
            prop_assert!(api.message.chars().count() <= 501, "{}", api.message.len());
        }
        let _ = api.missing_permission();
        let code = api.code.clone();
        let error = ArmError::from(api);
        let text = error.to_string();
        prop_assert!(text.contains(REQUEST) || text.contains(&status.to_string()), "{text}");
        let reason = error.to_unavailable();
        prop_assert_eq!(reason.http_status, Some(status));
        prop_assert_eq!(reason.code, code);
        prop_assert!(!reason.message.is_empty());
        let expected = match status {
            404 => UnavailableKind::NotFound,
            401 | 403 => UnavailableKind::Forbidden,
            _ => UnavailableKind::HttpError,
        };
        prop_assert_eq!(reason.kind, expected);
    }

    #[test]
    fn the_missing_permission_is_read_back_exactly(
        client in "[^']{0,20}",
        action in "[^']{1,40}",
        scope in "[^']{0,60}",
        depth in 0usize..4,
        outer_code in prop::option::of("[A-Za-z]{1,20}"),
    ) {
        let message = format!(
            "The client '{client}' with object id '00000000-0000-0000-0000-000000000001' does not \
             have authorization to perform action '{action}' over scope '{scope}' or the scope is \
             invalid. If access was recently granted, please refresh your credentials."
        );
        // AuthorizationFailed itself, or nested `depth` levels down in `details`.
        let mut error = json!({ "code": "AuthorizationFailed", "message": message });
        for level in 0..depth {
            error = json!({
                "code": outer_code.clone().unwrap_or_else(|| format!("Linked{level}")),
                "message": "outer",
                "details": [{ "code": "Other", "message": "no permission here" }, error],
            });
        }
        let body = serde_json::to_vec(&json!({ "error": error })).unwrap();
        let api = ApiError::from_response(403, &body, REQUEST);
        prop_assert_eq!(api.missing_permission(), Some((action.clone(), scope.clone())));
        let reason = ArmError::from(api).to_unavailable();
        prop_assert_eq!(reason.kind, UnavailableKind::Forbidden);
        prop_assert_eq!(reason.action, Some(action));
        prop_assert_eq!(reason.scope, Some(scope));
    }
}
