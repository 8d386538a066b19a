//! Our bearer-token policy: sends the token only to the ARM endpoint, allows plain http only to
//! loopback hosts, caches tokens per scope (single flight) and forgets them on a 401.
//!
//! `azure_core`'s `BearerTokenAuthorizationPolicy` refuses every plain-http request, which
//! loopback emulators and mock servers need; hence this policy.

use crate::arm::credential::CredentialError;
use crate::arm::error::ArmError;
use azure_core::{
    credentials::{AccessToken, TokenCredential},
    error::ErrorKind,
    http::{
        Context, Request, StatusCode,
        headers::AUTHORIZATION,
        policies::{Policy, PolicyResult},
    },
    time::{Duration as CoreDuration, OffsetDateTime},
};
use std::{collections::HashMap, fmt, sync::Arc};
use url::{Host, Url};

/// Tokens are refreshed this long before they expire.
const REFRESH_BEFORE_EXPIRY: CoreDuration = CoreDuration::minutes(5);
/// A token is never fetched again sooner than this after it was fetched (unless it expired),
/// so that a credential handing out short-lived tokens is not asked on every request.
const MIN_REUSE: CoreDuration = CoreDuration::seconds(30);

const LOOPBACK_ONLY: &str =
    "plain http is only allowed to loopback hosts (127.0.0.0/8, ::1, localhost); use https";

/// Whether the URL's host is a loopback host: 127.0.0.0/8, ::1 or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.eq_ignore_ascii_case("localhost.")
        }
        None => false,
    }
}

/// Checks that a token may be sent to `url`: https, or http to a loopback host; a host; no
/// user name or password in the URL.
pub(crate) fn validate_endpoint(url: &Url) -> Result<(), ArmError> {
    let refuse = |reason: &str| ArmError::InsecureEndpoint {
        url: url.as_str().to_owned(),
        reason: reason.to_owned(),
    };
    if url.host().is_none() {
        return Err(refuse("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("the URL must not carry a user name or password"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(refuse(LOOPBACK_ONLY)),
        _ => Err(refuse(
            "only https (or plain http to a loopback host) is allowed",
        )),
    }
}

/// Whether two URLs have the same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// Wraps one of our errors into the `azure_core` error a policy returns.
pub(crate) fn into_core(error: ArmError) -> azure_core::Error {
    let kind = match error {
        ArmError::Authentication(_) => ErrorKind::Credential,
        _ => ErrorKind::Other,
    };
    azure_core::Error::new(kind, error)
}

struct CachedToken {
    token: AccessToken,
    refresh_at: OffsetDateTime,
}

/// The bearer-token policy (a per-try policy, so that each retry is authorised again).
pub(crate) struct BearerAuthPolicy {
    credential: Arc<dyn TokenCredential>,
    endpoint: Url,
    scope: String,
    cache: tokio::sync::Mutex<HashMap<String, CachedToken>>,
}

impl fmt::Debug for BearerAuthPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthPolicy")
            .field("endpoint", &self.endpoint.as_str())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl BearerAuthPolicy {
    /// A policy sending tokens for `scope` to `endpoint` only.
    pub(crate) fn new(credential: Arc<dyn TokenCredential>, endpoint: Url, scope: String) -> Self {
        BearerAuthPolicy {
            credential,
            endpoint,
            scope,
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A valid token for the scope, from the cache or (once, under the lock) the credential.
    pub(crate) async fn token(&self) -> Result<AccessToken, ArmError> {
        let mut cache = self.cache.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(cached) = cache.get(&self.scope)
            && now < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        match self.credential.get_token(&[&self.scope], None).await {
            Ok(token) => {
                let refresh_at = (token.expires_on - REFRESH_BEFORE_EXPIRY)
                    .max(now + MIN_REUSE)
                    .min(token.expires_on);
                cache.insert(
                    self.scope.clone(),
                    CachedToken {
                        token: token.clone(),
                        refresh_at,
                    },
                );
                Ok(token)
            }
            Err(e) => {
                // A refresh failed: keep using a token that has not expired yet.
                if let Some(cached) = cache.get(&self.scope)
                    && now < cached.token.expires_on
                {
                    return Ok(cached.token.clone());
                }
                cache.remove(&self.scope);
                Err(ArmError::Authentication(CredentialError::from_core(
                    e,
                    "credential",
                )))
            }
        }
    }
}

#[async_trait::async_trait]
impl Policy for BearerAuthPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let url = request.url().clone();
        if !same_origin(&url, &self.endpoint) {
            return Err(into_core(ArmError::InsecureEndpoint {
                url: url.as_str().to_owned(),
                reason: format!(
                    "bearer tokens are only sent to the ARM endpoint {}",
                    self.endpoint.origin().ascii_serialization()
                ),
            }));
        }
        validate_endpoint(&url).map_err(into_core)?;
        let token = self.token().await.map_err(into_core)?;
        request.insert_header(AUTHORIZATION, format!("Bearer {}", token.token.secret()));
        let response = next[0].send(ctx, request, &next[1..]).await?;
        if response.status() == StatusCode::Unauthorized {
            self.cache.lock().await.remove(&self.scope);
        }
        Ok(response)
    }
}

/// Counts the HTTP attempts that are sent (a per-try policy after [`BearerAuthPolicy`]).
#[derive(Debug)]
pub(crate) struct CountingPolicy(pub(crate) Arc<std::sync::atomic::AtomicU64>);

#[async_trait::async_trait]
impl Policy for CountingPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn loopback_rules() {
        for ok in [
            "https://management.azure.com",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:9000/",
            "http://localhost:1234",
            "http://LOCALHOST",
        ] {
            assert!(validate_endpoint(&url(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://management.azure.com",
            "http://10.0.0.1",
            "http://localhost.evil.com",
            "http://[::2]",
            "ftp://127.0.0.1",
            "https://user:pw@management.azure.com",
        ] {
            let err = validate_endpoint(&url(bad)).unwrap_err();
            assert!(matches!(err, ArmError::InsecureEndpoint { .. }), "{bad}");
            assert!(err.is_fatal());
        }
        let msg = validate_endpoint(&url("http://example.com"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("plain http is only allowed to loopback hosts"),
            "{msg}"
        );
    }

    #[test]
    fn origins() {
        let ep = url("http://127.0.0.1:8080/");
        assert!(same_origin(&ep, &url("http://127.0.0.1:8080/x?y=1")));
        assert!(!same_origin(&ep, &url("http://127.0.0.1:8081/x")));
        assert!(!same_origin(&ep, &url("https://127.0.0.1:8080/x")));
        assert!(same_origin(
            &url("https://management.azure.com"),
            &url("https://management.azure.com:443/subscriptions")
        ));
    }
}
