//! Facts: a value read from Azure, or why it could not be read.
//!
//! [`Fact`] is the unit of the [snapshot](crate::snapshot); [`Unavailable`] is also what the ARM
//! layer turns a failed read into ([`crate::arm::ArmError::to_unavailable`]), so it lives here,
//! below both.

use serde::{Deserialize, Serialize};

/// A fact read from Azure, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
