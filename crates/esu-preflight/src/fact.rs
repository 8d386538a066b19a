//! Facts: a value read from Azure, or why it could not be read.
//!
//! [`Fact`] is the unit of the [snapshot](crate::snapshot); [`Unavailable`] is also what the ARM
//! layer turns a failed read into ([`crate::arm::ArmError::to_unavailable`]), so it lives here,
//! below both.

use serde::{Deserialize, Serialize};

/// A fact read from Azure, or why it could not be read.
///
/// In JSON: `{"status": "available", "value": …}` or `{"status": "unavailable", "reason": …}`.
/// Read without buffering the value when `status` comes first (as written): a snapshot's lists
/// of thousands of machines are decoded in one pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Fact<T> {
    /// The fact was read.
    Available {
        /// What was read.
        value: T,
    },
    /// The fact could not be read.
    Unavailable {
        /// Why.
        reason: Unavailable,
    },
}

impl<T> Fact<T> {
    /// The value, when it was read.
    pub fn value(&self) -> Option<&T> {
        match self {
            Self::Available { value } => Some(value),
            Self::Unavailable { .. } => None,
        }
    }

    /// The reason, when it was not read.
    pub fn unavailable(&self) -> Option<&Unavailable> {
        match self {
            Self::Available { .. } => None,
            Self::Unavailable { reason } => Some(reason),
        }
    }

    /// The value, or the reason it is missing.
    pub fn as_result(&self) -> Result<&T, &Unavailable> {
        match self {
            Self::Available { value } => Ok(value),
            Self::Unavailable { reason } => Err(reason),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Fact<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FactVisitor(std::marker::PhantomData))
    }
}

/// The variants' names, as written in `status`.
const FACT_VARIANTS: &[&str] = &["available", "unavailable"];

struct FactVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for FactVisitor<T> {
    type Value = Fact<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // What serde's derive says for such an enum: `serde_text` turns it into words.
        f.write_str("internally tagged enum")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Fact<T>, M::Error> {
        use serde::de::Error;
        #[derive(Clone, Copy, PartialEq)]
        enum Status {
            Available,
            Unavailable,
        }
        let mut status = None;
        let mut value: Option<T> = None;
        let mut reason: Option<Unavailable> = None;
        // A value or reason met before `status`, kept as JSON until the status is known.
        let mut early_value: Option<serde_json::Value> = None;
        let mut early_reason: Option<serde_json::Value> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "status" => {
                    let text = map.next_value::<std::borrow::Cow<'de, str>>()?;
                    status = Some(match text.as_ref() {
                        "available" => Status::Available,
                        "unavailable" => Status::Unavailable,
                        other => return Err(M::Error::unknown_variant(other, FACT_VARIANTS)),
                    });
                }
                "value" => match status {
                    Some(Status::Available) => value = Some(map.next_value()?),
                    Some(Status::Unavailable) => {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                    None => early_value = Some(map.next_value()?),
                },
                "reason" => match status {
                    Some(Status::Unavailable) => reason = Some(map.next_value()?),
                    Some(Status::Available) => {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                    None => early_reason = Some(map.next_value()?),
                },
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let Some(status) = status else {
            return Err(M::Error::missing_field("status"));
        };
        match (status, early_value, early_reason) {
            (Status::Available, Some(json), _) => {
                value = Some(T::deserialize(json).map_err(M::Error::custom)?);
            }
            (Status::Unavailable, _, Some(json)) => {
                reason = Some(Unavailable::deserialize(json).map_err(M::Error::custom)?);
            }
            _ => {}
        }
        match status {
            Status::Available => value
                .map(|value| Fact::Available { value })
                .ok_or_else(|| M::Error::missing_field("value")),
            Status::Unavailable => reason
                .map(|reason| Fact::Unavailable { reason })
                .ok_or_else(|| M::Error::missing_field("reason")),
        }
    }
}

impl<T> From<Result<T, Unavailable>> for Fact<T> {
    fn from(result: Result<T, Unavailable>) -> Self {
        match result {
            Ok(value) => Self::Available { value },
            Err(reason) => Self::Unavailable { reason },
        }
    }
}

/// Why a fact could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailable {
    /// What kind of failure it was.
    pub kind: UnavailableKind,
    /// The HTTP status of the last answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The ARM error code, e.g. `AuthorizationFailed`, `SubscriptionNotFound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A human-readable explanation.
    pub message: String,
    /// The action the caller was missing (from an `AuthorizationFailed` message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The scope the action was missing on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The wait the server asked for (`Retry-After`, in whole seconds, rounded up) when it
    /// throttled the read and waiting would have passed the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// The kinds of [`Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnavailableKind {
    /// ARM answered 404.
    NotFound,
    /// ARM answered 401 or 403: the caller may not read it.
    Forbidden,
    /// ARM answered with another error status (after retries).
    HttpError,
    /// ARM answered 2xx with a body that is not the expected JSON.
    MalformedResponse,
    /// Pagination was stopped: a next link to another host, a loop, or too many pages.
    PaginationRefused,
    /// The request could not be completed (connection, timeout).
    Transport,
    /// Anything else, including kinds written by a newer version.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Fact<Vec<u32>>, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn facts_read_in_either_key_order() {
        let available = Fact::Available { value: vec![1, 2] };
        assert_eq!(
            read(r#"{"status":"available","value":[1,2]}"#),
            Ok(available.clone())
        );
        assert_eq!(
            read(r#"{"value":[1,2],"status":"available"}"#),
            Ok(available.clone())
        );
        assert_eq!(
            read(r#"{"status":"available","extra":{"x":[1]},"reason":null,"value":[1,2]}"#),
            Ok(available)
        );
        let reason = r#"{"kind":"forbidden","message":"no"}"#;
        for text in [
            format!(r#"{{"status":"unavailable","reason":{reason}}}"#),
            format!(r#"{{"reason":{reason},"value":"ignored","status":"unavailable"}}"#),
        ] {
            let fact = read(&text).unwrap();
            assert_eq!(fact.unavailable().map(|r| r.message.as_str()), Some("no"));
        }
        // Through a serde_json::Value too (the buffered path of other containers).
        let value = serde_json::json!({ "value": [3], "status": "available" });
        assert_eq!(
            serde_json::from_value::<Fact<Vec<u32>>>(value).unwrap(),
            Fact::Available { value: vec![3] }
        );
    }

    #[test]
    fn bad_facts_say_what_is_wrong() {
        assert!(
            read(r#"{"value":[1]}"#)
                .unwrap_err()
                .contains("missing field `status`")
        );
        assert!(
            read(r#"{"status":"available"}"#)
                .unwrap_err()
                .contains("missing field `value`")
        );
        assert!(
            read(r#"{"status":"unavailable"}"#)
                .unwrap_err()
                .contains("missing field `reason`")
        );
        assert!(
            read(r#"{"status":"maybe","value":[1]}"#)
                .unwrap_err()
                .contains("unknown variant `maybe`")
        );
        assert!(
            read(r#"{"status":"available","value":"x"}"#)
                .unwrap_err()
                .contains("invalid type")
        );
        assert!(read("[]").unwrap_err().contains("internally tagged enum"));
    }
}
