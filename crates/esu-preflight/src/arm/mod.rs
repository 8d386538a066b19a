//! Thin, typed access to Azure Resource Manager over the `azure_core` pipeline.
//!
//! - [`ArmClient`]: GET / POST / paged lists with bounded concurrency, an overall deadline,
//!   capped retries and typed errors ([`ArmError`]).
//! - [`credential()`]: the credential chain (`--credential`), see [`CredentialKind`].
//! - [`Cloud`]: the ARM endpoint and sign-in configuration of each Azure cloud.
//!
//! Bearer tokens are sent only to the configured ARM endpoint, over https — or plain http to
//! a loopback host (emulators, tests). They never appear in any `Debug`, `Display` or error.

mod auth;
pub mod client;
pub mod cloud;
pub mod credential;
pub mod error;
mod retry;
#[cfg(test)]
mod test_support;

pub use client::{ArmClient, ArmClientOptions};
pub use cloud::{Cloud, ParseCloudError, endpoint_warning, token_scope};
pub use credential::{
    ACCESS_TOKEN_VAR, AttemptOutcome, ChainCredential, CredentialAttempt, CredentialError,
    CredentialKind, CredentialOptions, CredentialSelection, CredentialTimeouts, EnvSource,
    StaticTokenCredential, credential, credential_warnings, token_audience_warning,
};
pub use error::{ApiError, ApiErrorDetail, ArmError, Result};
