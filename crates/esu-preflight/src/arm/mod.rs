//! Thin, typed access to Azure Resource Manager over the `azure_core` pipeline.
//!
//! - [`ArmClient`]: GET / POST / paged lists with bounded concurrency per throttle scope,
//!   pacing to Azure's quotas ([`pacing`]), a deadline per operation
//!   ([`ArmClient::with_deadline`]), capped retries, throttling reported as an error answer
//!   carrying the wait asked for, typed errors ([`ArmError`]) and a `tracing` DEBUG event per
//!   HTTP attempt (method, path, api-version, status, elapsed, retry and why; never a token or
//!   header value). A list's pages are decoded as their bodies stream in, item by item (never
//!   held whole: a fleet's machine pages are megabytes each).
//! - [`catalog`]: every request esu-preflight makes (path, api-version, method, model, paging).
//! - [`credential()`]: the credential chain (`--credential`), see [`CredentialKind`].
//! - [`Cloud`]: the ARM endpoint and sign-in configuration of each Azure cloud.
//!
//! Bearer tokens are sent only to the configured ARM endpoint, over https — or plain http to
//! a loopback host (emulators, tests). They never appear in any `Debug`, `Display` or error.

mod auth;
pub mod catalog;
pub mod client;
pub mod cloud;
pub mod credential;
pub mod error;
pub mod pacing;
mod retry;
mod stream;
#[cfg(test)]
mod test_support;

pub use catalog::{ArmList, ArmRequest, HttpMethod, Paging};
pub use client::{ArmClient, ArmClientOptions};
pub use cloud::{Cloud, ParseCloudError, endpoint_warning, token_scope};
pub use credential::{
    ACCESS_TOKEN_VAR, AttemptOutcome, ChainCredential, CredentialAttempt, CredentialError,
    CredentialKind, CredentialOptions, CredentialSelection, CredentialTimeouts, EnvSource,
    StaticTokenCredential, credential, credential_warnings, token_audience_warning,
};
pub use error::{ApiError, ApiErrorDetail, ArmError, Result};
pub use pacing::{Quota, ThrottleScope, WindowQuota};
