//! Credentials: which identity signs in to ARM, and the `auto` chain.
//!
//! `azure_identity` 1.x has no environment credential and no `DefaultAzureCredential`; this
//! module builds its own chain from the variables it reads through an [`EnvSource`] (the
//! process environment by default, a map in tests).

use crate::arm::cloud::Cloud;
use azure_core::{
    credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions},
    error::ErrorKind,
    http::{ClientOptions, Transport},
    time::{Duration as CoreDuration, OffsetDateTime},
};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential,
    AzureDeveloperCliCredentialOptions, AzurePipelinesCredential, AzurePipelinesCredentialOptions,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    Executor, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use std::{collections::BTreeMap, fmt, path::PathBuf, str::FromStr, sync::Arc};

/// The variable holding a pre-acquired ARM bearer token (`--credential access-token`).
pub const ACCESS_TOKEN_VAR: &str = "ESU_PREFLIGHT_ACCESS_TOKEN";

const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
const PIPELINES_TENANT_ID: &str = "AZURESUBSCRIPTION_TENANT_ID";
const PIPELINES_CLIENT_ID: &str = "AZURESUBSCRIPTION_CLIENT_ID";
const PIPELINES_SERVICE_CONNECTION_ID: &str = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID";
const SYSTEM_ACCESSTOKEN: &str = "SYSTEM_ACCESSTOKEN";
const SYSTEM_OIDCREQUESTURI: &str = "SYSTEM_OIDCREQUESTURI";
const MANAGED_IDENTITY_ENDPOINTS: [&str; 3] =
    ["IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"];

/// How long a pre-acquired token is assumed valid when its expiry cannot be read.
const ACCESS_TOKEN_ASSUMED_VALIDITY: CoreDuration = CoreDuration::hours(1);

/// Which credential signs in (`--credential`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// Try, in order: access token, environment, workload identity, Azure Pipelines, managed
    /// identity, Azure CLI, Azure Developer CLI — each only when its inputs are present.
    #[default]
    Auto,
    /// A service principal with a client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`.
    Environment,
    /// Workload identity federation: `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`,
    /// `AZURE_TENANT_ID` (AKS, GitHub Actions OIDC written to a file).
    WorkloadIdentity,
    /// An Azure Pipelines service connection (AzureCLI@2-style variables).
    AzurePipelines,
    /// The managed identity of the Azure resource the tool runs on.
    ManagedIdentity,
    /// The Azure CLI's signed-in account (`az login`).
    AzureCli,
    /// A pre-acquired bearer token from `ESU_PREFLIGHT_ACCESS_TOKEN`.
    AccessToken,
}

impl CredentialKind {
    /// Every kind, in the order of [`CredentialKind::NAMES`].
    pub const ALL: [CredentialKind; 7] = [
        CredentialKind::Auto,
        CredentialKind::Environment,
        CredentialKind::WorkloadIdentity,
        CredentialKind::AzurePipelines,
        CredentialKind::ManagedIdentity,
        CredentialKind::AzureCli,
        CredentialKind::AccessToken,
    ];

    /// The kebab-case names accepted by [`FromStr`] and written by [`fmt::Display`].
    pub const NAMES: [&'static str; 7] = [
        "auto",
        "environment",
        "workload-identity",
        "azure-pipelines",
        "managed-identity",
        "azure-cli",
        "access-token",
    ];

    /// The kebab-case name, e.g. `azure-cli`.
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::Auto => "auto",
            CredentialKind::Environment => "environment",
            CredentialKind::WorkloadIdentity => "workload-identity",
            CredentialKind::AzurePipelines => "azure-pipelines",
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::AzureCli => "azure-cli",
            CredentialKind::AccessToken => "access-token",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CredentialKind {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        CredentialKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CredentialError::UnknownKind { name: s.to_owned() })
    }
}

/// One credential source tried by the `auto` chain, and how it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialAttempt {
    /// The source, e.g. `azure-cli`.
    pub source: String,
    /// Why it did not work.
    pub message: String,
}

/// How to sign in, appended to "no credential" errors.
const SIGN_IN_HINT: &str = "To sign in: run `az login`; or set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
AZURE_CLIENT_SECRET for a service principal; or use --credential access-token with \
ESU_PREFLIGHT_ACCESS_TOKEN holding an ARM bearer token.";

fn format_attempts(attempts: &[CredentialAttempt]) -> String {
    let mut text = String::new();
    for a in attempts {
        let message = a.message.trim().replace('\n', "\n      ");
        text.push_str(&format!("\n  - {}: {}", a.source, message));
    }
    text
}

/// No credential could produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The chosen credential's inputs are missing.
    #[error("credential '{kind}' needs the environment variable(s) {}, which are not set. {SIGN_IN_HINT}", variables.join(", "))]
    MissingVariables {
        /// The credential.
        kind: CredentialKind,
        /// The missing variables.
        variables: Vec<String>,
    },

    /// A credential could not be created or could not produce a token.
    #[error("credential '{source_name}' failed: {message}")]
    Failed {
        /// The credential source, e.g. `azure-cli`.
        source_name: String,
        /// Why (from the credential; never a secret).
        message: String,
    },

    /// Every source of the `auto` chain failed.
    #[error(
        "no credential worked; tried:{}\n{SIGN_IN_HINT}",
        format_attempts(attempts)
    )]
    NoCredential {
        /// Every source tried, in order, with its error.
        attempts: Vec<CredentialAttempt>,
    },

    /// A credential kind name that is not one of [`CredentialKind::NAMES`].
    #[error("unknown credential kind '{name}'; expected one of: {}", CredentialKind::NAMES.join(", "))]
    UnknownKind {
        /// The name that was given.
        name: String,
    },
}

impl CredentialError {
    /// Extracts a [`CredentialError`] from an `azure_core` error returned by a credential of
    /// this module, or describes any other credential's error as [`CredentialError::Failed`].
    pub fn from_core(error: azure_core::Error, source_name: &str) -> Self {
        if let Some(e) = error.downcast_ref::<CredentialError>() {
            return e.clone();
        }
        CredentialError::Failed {
            source_name: source_name.to_owned(),
            message: error_chain(&error),
        }
    }

    fn into_core(self) -> azure_core::Error {
        azure_core::Error::new(ErrorKind::Credential, self)
    }
}

/// The message of an error and its causes, de-duplicated.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Where environment variables are read from.
#[derive(Clone, Default)]
pub enum EnvSource {
    /// The process environment.
    #[default]
    Process,
    /// A fixed map (tests, embedding applications).
    Map(Arc<BTreeMap<String, String>>),
}

impl EnvSource {
    /// An environment made of the given pairs.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        EnvSource::Map(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// The value of a variable; unset, empty and non-Unicode values are all `None`.
    pub fn var(&self, name: &str) -> Option<String> {
        let value = match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Map(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    fn is_set(&self, name: &str) -> bool {
        self.var(name).is_some()
    }

    fn missing(&self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .filter(|n| !self.is_set(n))
            .map(|n| (*n).to_owned())
            .collect()
    }
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSource::Process => f.write_str("EnvSource::Process"),
            // Names only: values may be secrets.
            EnvSource::Map(map) => f
                .debug_tuple("EnvSource::Map")
                .field(&map.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// Inputs of [`credential`].
#[derive(Clone, Default)]
pub struct CredentialOptions {
    /// The cloud to sign in to (its authority host).
    pub cloud: Cloud,
    /// Where variables are read from.
    pub env: EnvSource,
    /// Runs `az` / `azd` (default: a real process executor).
    pub executor: Option<Arc<dyn Executor>>,
    /// The HTTP transport of HTTP-based credentials (default: azure_core's client).
    pub transport: Option<Transport>,
}

impl fmt::Debug for CredentialOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialOptions")
            .field("cloud", &self.cloud)
            .field("env", &self.env)
            .field("executor", &self.executor.is_some())
            .field("transport", &self.transport.is_some())
            .finish()
    }
}

impl CredentialOptions {
    fn client_options(&self) -> ClientOptions {
        ClientOptions {
            cloud: Some(Arc::new(self.cloud.cloud_configuration())),
            transport: self.transport.clone(),
            ..ClientOptions::default()
        }
    }
}

/// Builds the credential of the given kind.
///
/// Explicit kinds whose inputs are missing fail with [`CredentialError::MissingVariables`];
/// `auto` returns a chain that fails, on first use, with [`CredentialError::NoCredential`]
/// listing every source tried.
///
/// Note: `azure-pipelines` and `managed-identity` are built by `azure_identity`, which reads
/// `SYSTEM_OIDCREQUESTURI` and the managed identity variables from the process environment
/// itself; [`CredentialOptions::env`] only decides whether they are tried.
pub fn credential(
    kind: CredentialKind,
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    match kind {
        CredentialKind::Auto => Ok(Arc::new(ChainCredential::new(options))),
        CredentialKind::Environment => environment(options),
        CredentialKind::WorkloadIdentity => workload_identity(options),
        CredentialKind::AzurePipelines => azure_pipelines(options),
        CredentialKind::ManagedIdentity => managed_identity(options),
        CredentialKind::AzureCli => Ok(azure_cli(options)),
        CredentialKind::AccessToken => access_token(options),
    }
}

fn require(
    kind: CredentialKind,
    options: &CredentialOptions,
    names: &[&str],
) -> Result<(), CredentialError> {
    let missing = options.env.missing(names);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CredentialError::MissingVariables {
            kind,
            variables: missing,
        })
    }
}

fn named(
    name: &'static str,
    built: azure_core::Result<Arc<dyn TokenCredential>>,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    match built {
        Ok(inner) => Ok(Arc::new(Named { name, inner })),
        Err(e) => Err(CredentialError::from_core(e, name)),
    }
}

fn var(options: &CredentialOptions, name: &str) -> String {
    options.env.var(name).unwrap_or_default()
}

fn environment(options: &CredentialOptions) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let kind = CredentialKind::Environment;
    require(
        kind,
        options,
        &[AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET],
    )?;
    let built = ClientSecretCredential::new(
        &var(options, AZURE_TENANT_ID),
        var(options, AZURE_CLIENT_ID),
        Secret::new(var(options, AZURE_CLIENT_SECRET)),
        Some(ClientSecretCredentialOptions {
            client_options: options.client_options(),
        }),
    )
    .map(|c| c as Arc<dyn TokenCredential>);
    named(kind.name(), built)
}

fn workload_identity(
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let kind = CredentialKind::WorkloadIdentity;
    require(
        kind,
        options,
        &[AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID],
    )?;
    let built = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: options.client_options(),
        },
        client_id: Some(var(options, AZURE_CLIENT_ID)),
        tenant_id: Some(var(options, AZURE_TENANT_ID)),
        token_file_path: Some(PathBuf::from(var(options, AZURE_FEDERATED_TOKEN_FILE))),
    }))
    .map(|c| c as Arc<dyn TokenCredential>);
    named(kind.name(), built)
}

const PIPELINES_VARS: [&str; 5] = [
    PIPELINES_TENANT_ID,
    PIPELINES_CLIENT_ID,
    PIPELINES_SERVICE_CONNECTION_ID,
    SYSTEM_ACCESSTOKEN,
    SYSTEM_OIDCREQUESTURI,
];

fn azure_pipelines(
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let kind = CredentialKind::AzurePipelines;
    require(kind, options, &PIPELINES_VARS)?;
    let built = AzurePipelinesCredential::new(
        var(options, PIPELINES_TENANT_ID),
        var(options, PIPELINES_CLIENT_ID),
        &var(options, PIPELINES_SERVICE_CONNECTION_ID),
        Secret::new(var(options, SYSTEM_ACCESSTOKEN)),
        Some(AzurePipelinesCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: options.client_options(),
            },
        }),
    )
    .map(|c| c as Arc<dyn TokenCredential>);
    named(kind.name(), built)
}

fn managed_identity(
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let built = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        client_options: options.client_options(),
        ..ManagedIdentityCredentialOptions::default()
    }))
    .map(|c| c as Arc<dyn TokenCredential>);
    named(CredentialKind::ManagedIdentity.name(), built)
}

fn azure_cli(options: &CredentialOptions) -> Arc<dyn TokenCredential> {
    let inner: Arc<dyn TokenCredential> =
        match AzureCliCredential::new(Some(AzureCliCredentialOptions {
            executor: options.executor.clone(),
            ..AzureCliCredentialOptions::default()
        })) {
            Ok(c) => c,
            // Only fails for an invalid tenant or subscription, which are not set here.
            Err(e) => Arc::new(Failing(CredentialError::from_core(e, "azure-cli"))),
        };
    Arc::new(Named {
        name: "azure-cli",
        inner,
    })
}

fn azure_developer_cli(options: &CredentialOptions) -> Arc<dyn TokenCredential> {
    let inner: Arc<dyn TokenCredential> =
        match AzureDeveloperCliCredential::new(Some(AzureDeveloperCliCredentialOptions {
            executor: options.executor.clone(),
            ..AzureDeveloperCliCredentialOptions::default()
        })) {
            Ok(c) => c,
            Err(e) => Arc::new(Failing(CredentialError::from_core(
                e,
                "azure-developer-cli",
            ))),
        };
    Arc::new(Named {
        name: "azure-developer-cli",
        inner,
    })
}

fn access_token(options: &CredentialOptions) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    require(CredentialKind::AccessToken, options, &[ACCESS_TOKEN_VAR])?;
    Ok(Arc::new(StaticTokenCredential::new(var(
        options,
        ACCESS_TOKEN_VAR,
    ))))
}

/// A credential that names itself in its errors.
struct Named {
    name: &'static str,
    inner: Arc<dyn TokenCredential>,
}

impl fmt::Debug for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("source", &self.name)
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait::async_trait]
impl TokenCredential for Named {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.inner
            .get_token(scopes, options)
            .await
            .map_err(|e| CredentialError::from_core(e, self.name).into_core())
    }
}

/// A credential that always fails with the same error.
#[derive(Debug)]
struct Failing(CredentialError);

#[async_trait::async_trait]
impl TokenCredential for Failing {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Err(self.0.clone().into_core())
    }
}

/// A pre-acquired bearer token (`ESU_PREFLIGHT_ACCESS_TOKEN`).
///
/// Its expiry is read from the JWT `exp` claim when the token is a JWT, else assumed to be
/// one hour from creation.
pub struct StaticTokenCredential {
    token: Secret,
    expires_on: OffsetDateTime,
}

impl StaticTokenCredential {
    /// A credential that always answers with `token`.
    pub fn new(token: impl Into<String>) -> Self {
        let token: String = token.into();
        let token = token.trim().to_owned();
        let expires_on = jwt_expiry(&token)
            .unwrap_or_else(|| OffsetDateTime::now_utc() + ACCESS_TOKEN_ASSUMED_VALIDITY);
        StaticTokenCredential {
            token: Secret::new(token),
            expires_on,
        }
    }

    /// When the token expires (from its `exp` claim, or assumed).
    pub fn expires_on(&self) -> OffsetDateTime {
        self.expires_on
    }
}

impl fmt::Debug for StaticTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenCredential")
            .field("expires_on", &self.expires_on)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(self.token.clone(), self.expires_on))
    }
}

/// The `exp` claim of a JWT, without verifying anything.
fn jwt_expiry(token: &str) -> Option<OffsetDateTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = azure_core::base64::decode_url_safe(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    OffsetDateTime::from_unix_timestamp(exp).ok()
}

/// A source of the chain: its name, and the credential or why it could not be built.
type Source = (
    &'static str,
    Result<Arc<dyn TokenCredential>, CredentialError>,
);

/// The `auto` chain: the first source that produces a token wins and is kept.
struct ChainCredential {
    sources: Vec<Source>,
    selected: tokio::sync::Mutex<Option<usize>>,
}

impl fmt::Debug for ChainCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainCredential")
            .field(
                "sources",
                &self.sources.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ChainCredential {
    fn new(options: &CredentialOptions) -> Self {
        let env = &options.env;
        let mut sources: Vec<Source> = Vec::new();
        if env.is_set(ACCESS_TOKEN_VAR) {
            sources.push(("access-token", access_token(options)));
        }
        if env.is_set(AZURE_CLIENT_SECRET) {
            // Incomplete settings are reported (MissingVariables) rather than skipped.
            sources.push(("environment", environment(options)));
        }
        if env.is_set(AZURE_FEDERATED_TOKEN_FILE) {
            sources.push(("workload-identity", workload_identity(options)));
        }
        if env.is_set(PIPELINES_SERVICE_CONNECTION_ID) {
            sources.push(("azure-pipelines", azure_pipelines(options)));
        }
        if MANAGED_IDENTITY_ENDPOINTS.iter().any(|v| env.is_set(v)) {
            sources.push(("managed-identity", managed_identity(options)));
        }
        sources.push(("azure-cli", Ok(azure_cli(options))));
        sources.push(("azure-developer-cli", Ok(azure_developer_cli(options))));
        ChainCredential {
            sources,
            selected: tokio::sync::Mutex::new(None),
        }
    }

    /// The names of the sources the chain tries, in order.
    #[cfg(test)]
    fn source_names(&self) -> Vec<&'static str> {
        self.sources.iter().map(|(n, _)| *n).collect()
    }
}

#[async_trait::async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        // Held for the whole search, so concurrent first calls do not all run `az`.
        let mut selected = self.selected.lock().await;
        if let Some(index) = *selected
            && let Some((_, Ok(credential))) = self.sources.get(index)
        {
            return credential.get_token(scopes, options).await;
        }
        let mut attempts = Vec::new();
        for (index, (name, source)) in self.sources.iter().enumerate() {
            let result = match source {
                Ok(credential) => credential
                    .get_token(scopes, options.clone())
                    .await
                    .map_err(|e| CredentialError::from_core(e, name)),
                Err(e) => Err(e.clone()),
            };
            match result {
                Ok(token) => {
                    *selected = Some(index);
                    return Ok(token);
                }
                Err(e) => attempts.push(CredentialAttempt {
                    source: (*name).to_owned(),
                    message: match e {
                        CredentialError::Failed { message, .. } => message,
                        CredentialError::MissingVariables { variables, .. } => {
                            format!("not configured: {} not set", variables.join(", "))
                        }
                        other => other.to_string(),
                    },
                }),
            }
        }
        Err(CredentialError::NoCredential { attempts }.into_core())
    }
}

#[cfg(test)]
mod tests;
