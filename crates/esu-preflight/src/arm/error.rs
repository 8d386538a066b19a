//! Errors of the ARM layer, and the ARM error envelope.

use crate::arm::credential::CredentialError;
use crate::fact::{Unavailable, UnavailableKind};
use serde::Deserialize;
use std::{fmt, time::Duration};

/// A `Result` whose error defaults to [`ArmError`].
pub type Result<T, E = ArmError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Azure Resource Manager.
///
/// [`ArmError::is_fatal`] tells run-ending errors (nothing else will work either) from errors of
/// one request (that fact is unavailable, the others may still be read).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ArmError {
    /// ARM answered with a non-2xx status (after retries). Boxed to keep `Result`s small.
    #[error(transparent)]
    Api(#[from] Box<ApiError>),

    /// The endpoint could not be reached: connection refused, DNS, TLS, timeouts (after retries).
    #[error("could not reach {endpoint}: {message}")]
    Transport {
        /// The endpoint (scheme, host and port), e.g. `https://management.azure.com`.
        endpoint: String,
        /// What went wrong, with its causes.
        message: String,
    },

    /// No credential could produce a token.
    #[error(transparent)]
    Authentication(#[from] CredentialError),

    /// ARM answered 2xx, but the body is not the JSON that was expected.
    #[error("{request}: HTTP {status} with a malformed body: {message}")]
    Decode {
        /// The request, e.g. `GET /subscriptions/…/providers` (path only).
        request: String,
        /// The HTTP status of the answer.
        status: u16,
        /// What was wrong with the body.
        message: String,
    },

    /// A `nextLink` pointed to another scheme, host or port than the ARM endpoint; it was not
    /// followed (no request, and so no token, was sent there).
    #[error("refused to follow next link {link}: it is not on the ARM endpoint {endpoint}")]
    ForeignNextLink {
        /// The next link.
        link: String,
        /// The configured ARM endpoint.
        endpoint: String,
    },

    /// A `nextLink` that had already been followed came back: pagination was stopped.
    #[error("pagination loop: next link {link} was already followed")]
    PaginationLoop {
        /// The repeated link.
        link: String,
    },

    /// A Resource Graph answer said its results were truncated but gave no `$skipToken` to
    /// read the rest: the list is incomplete (never returned as a silent partial).
    #[error("{request}: the results are incomplete: {message}")]
    IncompleteResults {
        /// The request, e.g. `POST /providers/Microsoft.ResourceGraph/resources`.
        request: String,
        /// What was wrong.
        message: String,
    },

    /// A list had more pages than allowed.
    #[error("pagination stopped after {max} pages")]
    TooManyPages {
        /// The page limit.
        max: usize,
    },

    /// The overall deadline passed (of the operation: see
    /// [`ArmClient::with_deadline`](crate::arm::ArmClient::with_deadline)).
    ///
    /// Display names the last failure seen, e.g. "the overall deadline of 10 s passed (last:
    /// HTTP 429 SubscriptionRequestsThrottled, asked to retry after 120 s)".
    #[error("the overall deadline of {} s passed{}", timeout.as_secs_f64(), last.as_deref().map(|l| format!(" (last: {l})")).unwrap_or_default())]
    Deadline {
        /// The time the operation was given.
        timeout: Duration,
        /// The last failure seen before the deadline passed (a refused connection, an error
        /// answer and the wait it asked for…), if any.
        last: Option<String>,
    },

    /// An endpoint was refused for security reasons, e.g. plain http to a non-loopback host.
    #[error("refused endpoint {url}: {reason}")]
    InsecureEndpoint {
        /// The URL that was refused.
        url: String,
        /// Why.
        reason: String,
    },

    /// A request path the caller gave was not usable.
    #[error("invalid request path '{path}': {reason}")]
    InvalidPath {
        /// The path that was given.
        path: String,
        /// Why it was refused.
        reason: String,
    },

    /// A request that would change Azure, refused by a read-only client (see
    /// [`ArmClientOptions::allow_writes`](crate::arm::ArmClientOptions::allow_writes)); nothing
    /// was sent.
    #[error("refused {request}: this client is read-only (only `fix … --yes` changes Azure)")]
    WriteRefused {
        /// The refused request, e.g. `POST /subscriptions/…/providers/Microsoft.Sql/register`.
        request: String,
    },
}

impl From<ApiError> for ArmError {
    fn from(error: ApiError) -> Self {
        ArmError::Api(Box::new(error))
    }
}

impl ArmError {
    /// The error answer, when ARM answered with a non-2xx status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ArmError::Api(api) => Some(api),
            _ => None,
        }
    }

    /// Whether the error ends the run (exit code 2): the endpoint is unreachable, no credential
    /// works, a write was attempted on a read-only client, ARM rejects the token itself (401, e.g. `ExpiredAuthenticationToken`,
    /// `InvalidAuthenticationToken`), the deadline passed or the endpoint is refused.
    ///
    /// Errors of a single request (an error answer, a malformed body, pagination) are not
    /// fatal; nor is 401 `InvalidAuthenticationTokenTenant`, which is about one subscription
    /// (it belongs to another tenant than the token) rather than the token.
    pub fn is_fatal(&self) -> bool {
        match self {
            ArmError::Transport { .. }
            | ArmError::Authentication(_)
            | ArmError::Deadline { .. }
            | ArmError::InsecureEndpoint { .. }
            | ArmError::WriteRefused { .. } => true,
            ArmError::Api(api) => {
                api.status == 401
                    && !api
                        .code
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case("InvalidAuthenticationTokenTenant"))
            }
            ArmError::Decode { .. }
            | ArmError::ForeignNextLink { .. }
            | ArmError::PaginationLoop { .. }
            | ArmError::TooManyPages { .. }
            | ArmError::IncompleteResults { .. }
            | ArmError::InvalidPath { .. } => false,
        }
    }

    /// The HTTP status of the answer the error came from, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ArmError::Api(api) => Some(api.status),
            ArmError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Describes the error as the reason a snapshot fact is unavailable.
    pub fn to_unavailable(&self) -> Unavailable {
        let mut unavailable = Unavailable {
            kind: UnavailableKind::Other,
            http_status: self.http_status(),
            code: None,
            message: self.to_string(),
            action: None,
            scope: None,
            retry_after_secs: None,
        };
        match self {
            ArmError::Api(api) => {
                unavailable.code.clone_from(&api.code);
                unavailable.retry_after_secs = api.retry_after.map(ceil_secs);
                unavailable.kind = match api.status {
                    404 => UnavailableKind::NotFound,
                    401 | 403 => UnavailableKind::Forbidden,
                    _ => UnavailableKind::HttpError,
                };
                if let Some((action, scope)) = api.missing_permission() {
                    unavailable.action = Some(action);
                    unavailable.scope = Some(scope);
                }
            }
            ArmError::Decode { .. } => unavailable.kind = UnavailableKind::MalformedResponse,
            ArmError::ForeignNextLink { .. }
            | ArmError::PaginationLoop { .. }
            | ArmError::TooManyPages { .. }
            | ArmError::IncompleteResults { .. } => {
                unavailable.kind = UnavailableKind::PaginationRefused;
            }
            ArmError::Transport { .. } | ArmError::Deadline { .. } => {
                unavailable.kind = UnavailableKind::Transport;
            }
            ArmError::Authentication(_)
            | ArmError::InsecureEndpoint { .. }
            | ArmError::InvalidPath { .. }
            | ArmError::WriteRefused { .. } => {}
        }
        unavailable
    }
}

/// An error answer from ARM: the status and the parsed error envelope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The ARM error code, e.g. `AuthorizationFailed`.
    pub code: Option<String>,
    /// The error message (or the start of a non-JSON body, or the status reason).
    pub message: String,
    /// The error target, e.g. a resource name or provider namespace.
    pub target: Option<String>,
    /// Nested details.
    pub details: Vec<ApiErrorDetail>,
    /// The `additionalInfo` entries, as sent (e.g. `PolicyViolation` with the policy ids).
    pub additional_info: Vec<serde_json::Value>,
    /// The request, e.g. `GET /subscriptions/…/providers` — the path only, never a token.
    pub request: String,
    /// The wait the server asked for (`Retry-After`, `retry-after-ms`, `x-ms-retry-after-ms`)
    /// on a throttling or unavailable answer (429, 503) that was not retried because the wait
    /// would have passed the deadline; or, on a request that was not sent because the quota
    /// esu-preflight paces to would allow it only after the deadline (HTTP 429 too, see
    /// [`crate::arm::pacing`]), that wait.
    pub retry_after: Option<Duration>,
}

/// How a wait that was not waited for ends its description.
pub(crate) const PAST_DEADLINE: &str = "would pass the deadline";

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One entry of an ARM error's `details` (recursive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrorDetail {
    /// The error code.
    pub code: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// The target.
    pub target: Option<String>,
    /// Nested details.
    pub details: Vec<ApiErrorDetail>,
}

/// The most of a non-JSON body kept in a message.
const MAX_BODY_IN_MESSAGE: usize = 500;

#[derive(Deserialize)]
struct Envelope {
    error: Option<RawError>,
    #[serde(flatten)]
    bare: RawError,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawError {
    #[serde(deserialize_with = "lenient_string")]
    code: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    message: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    target: Option<String>,
    #[serde(deserialize_with = "lenient_details")]
    details: Vec<RawError>,
    #[serde(deserialize_with = "lenient_values")]
    additional_info: Vec<serde_json::Value>,
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

fn lenient_values<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(values) => values,
        _ => Vec::new(),
    })
}

fn lenient_details<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RawError>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(values) => values
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

impl From<RawError> for ApiErrorDetail {
    fn from(raw: RawError) -> Self {
        ApiErrorDetail {
            code: raw.code,
            message: raw.message,
            target: raw.target,
            details: raw.details.into_iter().map(Into::into).collect(),
        }
    }
}

impl ApiError {
    /// Parses an error answer: the envelope `{"error":{…}}`, a bare `{"code","message"}`, or
    /// any other body (kept, shortened, as the message).
    pub fn from_response(status: u16, body: &[u8], request: impl Into<String>) -> Self {
        let request = request.into();
        let parsed = serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error.unwrap_or(e.bare))
            .filter(|raw| raw.code.is_some() || raw.message.is_some());
        match parsed {
            Some(raw) => ApiError {
                status,
                message: raw
                    .message
                    .unwrap_or_else(|| status_reason(status).to_owned()),
                code: raw.code,
                target: raw.target,
                details: raw.details.into_iter().map(Into::into).collect(),
                additional_info: raw.additional_info,
                request,
                retry_after: None,
            },
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let message = if text.is_empty() {
                    status_reason(status).to_owned()
                } else if text.chars().count() > MAX_BODY_IN_MESSAGE {
                    let short: String = text.chars().take(MAX_BODY_IN_MESSAGE).collect();
                    format!("{short}…")
                } else {
                    text.to_owned()
                };
                ApiError {
                    status,
                    code: None,
                    message,
                    target: None,
                    details: Vec::new(),
                    additional_info: Vec::new(),
                    request,
                    retry_after: None,
                }
            }
        }
    }

    /// For an `AuthorizationFailed` answer, the missing action and the scope it is missing on,
    /// parsed from the message ("… does not have authorization to perform action '`<action>`'
    /// over scope '`<scope>`' …"). Nested details are searched too.
    pub fn missing_permission(&self) -> Option<(String, String)> {
        parse_missing_permission(&self.message).or_else(|| {
            fn walk(details: &[ApiErrorDetail]) -> Option<(String, String)> {
                details.iter().find_map(|d| {
                    d.message
                        .as_deref()
                        .and_then(parse_missing_permission)
                        .or_else(|| walk(&d.details))
                })
            }
            walk(&self.details)
        })
    }
}

fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find('\'')?;
    Some(&rest[..end])
}

fn parse_missing_permission(message: &str) -> Option<(String, String)> {
    let action = quoted_after(message, "perform action '")?;
    let scope = quoted_after(message, "over scope '")?;
    if action.is_empty() {
        return None;
    }
    Some((action.to_owned(), scope.to_owned()))
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "HTTP error",
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: HTTP {}", self.request, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.message)?;
        // A request held back by pacing says so in its message already.
        if let Some(wait) = self.retry_after
            && !self.message.ends_with(PAST_DEADLINE)
        {
            write!(
                f,
                " (Retry-After {} {PAST_DEADLINE})",
                crate::arm::retry::human_duration(wait)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH_FAILED: &str = r#"{"error":{"code":"AuthorizationFailed","message":"The client 'alice@contoso.com' with object id '00000000-0000-0000-0000-000000000001' does not have authorization to perform action 'Microsoft.Resources/subscriptions/providers/read' over scope '/subscriptions/11111111-1111-1111-1111-111111111111' or the scope is invalid. If access was recently granted, please refresh your credentials."}}"#;

    #[test]
    fn parses_authorization_failed() {
        let e = ApiError::from_response(
            403,
            AUTH_FAILED.as_bytes(),
            "GET /subscriptions/x/providers",
        );
        assert_eq!(e.code.as_deref(), Some("AuthorizationFailed"));
        assert_eq!(
            e.missing_permission(),
            Some((
                "Microsoft.Resources/subscriptions/providers/read".to_owned(),
                "/subscriptions/11111111-1111-1111-1111-111111111111".to_owned()
            ))
        );
        let u = ArmError::from(e).to_unavailable();
        assert_eq!(u.kind, UnavailableKind::Forbidden);
        assert_eq!(u.http_status, Some(403));
        assert_eq!(u.code.as_deref(), Some("AuthorizationFailed"));
        assert_eq!(
            u.action.as_deref(),
            Some("Microsoft.Resources/subscriptions/providers/read")
        );
        assert!(u.message.contains("GET /subscriptions/x/providers"));
    }

    #[test]
    fn parses_nested_details_and_additional_info() {
        let body = r#"{"error":{"code":"MissingSubscriptionRegistration","message":"The subscription is not registered to use namespace 'Microsoft.HybridCompute'.","target":"t","details":[{"code":"MissingSubscriptionRegistration","target":"microsoft.hybridcompute","message":"m1","details":[{"code":"Inner","message":"m2"}]}],"additionalInfo":[{"type":"PolicyViolation","info":{"policyAssignmentId":"/x"}}]}}"#;
        let e = ApiError::from_response(409, body.as_bytes(), "PUT /x");
        assert_eq!(e.target.as_deref(), Some("t"));
        assert_eq!(e.details.len(), 1);
        assert_eq!(
            e.details[0].target.as_deref(),
            Some("microsoft.hybridcompute")
        );
        assert_eq!(e.details[0].details[0].code.as_deref(), Some("Inner"));
        assert_eq!(e.details[0].details[0].message.as_deref(), Some("m2"));
        assert_eq!(e.additional_info.len(), 1);
        assert_eq!(e.additional_info[0]["type"], "PolicyViolation");
        assert_eq!(e.missing_permission(), None);
        assert_eq!(
            ArmError::from(e).to_unavailable().kind,
            UnavailableKind::HttpError
        );
    }

    #[test]
    fn permission_in_nested_detail() {
        let body = r#"{"error":{"code":"LinkedAuthorizationFailed","message":"outer","details":[{"code":"AuthorizationFailed","message":"does not have authorization to perform action 'Microsoft.HybridCompute/licenses/write' over scope '/subscriptions/s/resourceGroups/rg' or the scope is invalid."}]}}"#;
        let e = ApiError::from_response(403, body.as_bytes(), "PUT /x");
        assert_eq!(
            e.missing_permission(),
            Some((
                "Microsoft.HybridCompute/licenses/write".to_owned(),
                "/subscriptions/s/resourceGroups/rg".to_owned()
            ))
        );
    }

    #[test]
    fn bare_and_non_json_bodies() {
        let e = ApiError::from_response(
            404,
            br#"{"code":"SubscriptionNotFound","message":"The subscription 'x' could not be found."}"#,
            "GET /subscriptions/x",
        );
        assert_eq!(e.code.as_deref(), Some("SubscriptionNotFound"));
        assert_eq!(e.message, "The subscription 'x' could not be found.");
        assert_eq!(
            ArmError::from(e.clone()).to_unavailable().kind,
            UnavailableKind::NotFound
        );
        assert_eq!(
            e.to_string(),
            "GET /subscriptions/x: HTTP 404 SubscriptionNotFound: The subscription 'x' could not be found."
        );

        let e = ApiError::from_response(502, b"<html>Bad gateway</html>", "GET /x");
        assert_eq!(e.code, None);
        assert_eq!(e.message, "<html>Bad gateway</html>");

        let e = ApiError::from_response(503, b"", "GET /x");
        assert_eq!(e.message, "Service Unavailable");

        let long = "x".repeat(5000);
        let e = ApiError::from_response(500, long.as_bytes(), "GET /x");
        assert!(e.message.chars().count() <= MAX_BODY_IN_MESSAGE + 1);

        // JSON, but not an error envelope.
        let e = ApiError::from_response(500, br#"{"foo":1}"#, "GET /x");
        assert_eq!(e.message, r#"{"foo":1}"#);
        let e = ApiError::from_response(500, br#"[1,2]"#, "GET /x");
        assert_eq!(e.code, None);
    }

    #[test]
    fn fatal_and_unavailable_kinds() {
        let transport = ArmError::Transport {
            endpoint: "https://management.azure.com".into(),
            message: "connection refused".into(),
        };
        assert!(transport.is_fatal());
        assert_eq!(transport.to_unavailable().kind, UnavailableKind::Transport);
        let deadline = ArmError::Deadline {
            timeout: Duration::from_secs(3),
            last: None,
        };
        assert!(deadline.is_fatal());
        assert_eq!(deadline.to_unavailable().kind, UnavailableKind::Transport);
        assert_eq!(deadline.to_string(), "the overall deadline of 3 s passed");
        let deadline = ArmError::Deadline {
            timeout: Duration::from_secs(10),
            last: Some("HTTP 429 SubscriptionRequestsThrottled, asked to retry after 120 s".into()),
        };
        assert_eq!(
            deadline.to_string(),
            "the overall deadline of 10 s passed (last: HTTP 429 \
             SubscriptionRequestsThrottled, asked to retry after 120 s)"
        );
        let mut throttled = ApiError::from_response(
            429,
            br#"{"error":{"code":"SubscriptionRequestsThrottled","message":"Too many."}}"#,
            "GET /subscriptions/s",
        );
        throttled.retry_after = Some(Duration::from_millis(119_500));
        let throttled = ArmError::from(throttled);
        assert!(!throttled.is_fatal());
        let u = throttled.to_unavailable();
        assert_eq!(u.retry_after_secs, Some(120));
        assert_eq!(u.http_status, Some(429));
        assert_eq!(u.code.as_deref(), Some("SubscriptionRequestsThrottled"));
        assert!(
            u.message
                .ends_with("(Retry-After 119.5 s would pass the deadline)"),
            "{}",
            u.message
        );
        let decode = ArmError::Decode {
            request: "GET /x".into(),
            status: 200,
            message: "eof".into(),
        };
        assert!(!decode.is_fatal());
        let u = decode.to_unavailable();
        assert_eq!(u.kind, UnavailableKind::MalformedResponse);
        assert_eq!(u.http_status, Some(200));
        for e in [
            ArmError::TooManyPages { max: 3 },
            ArmError::PaginationLoop { link: "l".into() },
            ArmError::ForeignNextLink {
                link: "l".into(),
                endpoint: "e".into(),
            },
        ] {
            assert!(!e.is_fatal());
            assert_eq!(e.to_unavailable().kind, UnavailableKind::PaginationRefused);
        }
        assert!(
            ArmError::InsecureEndpoint {
                url: "http://x".into(),
                reason: "r".into()
            }
            .is_fatal()
        );
        assert!(!ArmError::from(ApiError::from_response(500, b"", "GET /x")).is_fatal());
        assert!(!ArmError::from(ApiError::from_response(403, b"", "GET /x")).is_fatal());
    }

    #[test]
    fn a_rejected_token_is_fatal_but_a_foreign_tenant_is_not() {
        let answer = |code: &str| {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            ArmError::from(ApiError::from_response(401, body.as_bytes(), "GET /x"))
        };
        assert!(answer("ExpiredAuthenticationToken").is_fatal());
        assert!(answer("InvalidAuthenticationToken").is_fatal());
        assert!(!answer("InvalidAuthenticationTokenTenant").is_fatal());
    }
}
