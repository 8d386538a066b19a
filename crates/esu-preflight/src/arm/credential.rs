//! Credentials: which identity signs in to ARM, and the `auto` chain.
//!
//! `azure_identity` 1.x has no environment credential and no `DefaultAzureCredential`; this
//! module builds its own chain from the variables it reads through an [`EnvSource`] (the
//! process environment by default, a map in tests).

use crate::arm::cloud::Cloud;
use crate::arm::cloud::endpoint_warning;
use azure_core::{
    credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions},
    error::ErrorKind,
    http::{
        ClientOptions, Context, Request, Transport,
        policies::{Policy, PolicyResult},
    },
    time::{Duration as CoreDuration, OffsetDateTime},
};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential,
    AzureDeveloperCliCredentialOptions, AzurePipelinesCredential, AzurePipelinesCredentialOptions,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    Executor, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use std::{
    collections::BTreeMap,
    fmt,
    path::PathBuf,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use url::Url;

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
#[non_exhaustive]
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

/// What became of one source of the `auto` chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// None of its inputs are set: not tried.
    NotConfigured,
    /// Some of its inputs are set, others are missing: not tried.
    Incomplete,
    /// An input it needs is set but empty: not tried.
    Empty,
    /// Tried, and it failed.
    Failed,
    /// Tried, and it gave no token within its time bound (see [`CredentialTimeouts`]).
    TimedOut,
}

/// One credential source of the `auto` chain, and why it was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialAttempt {
    /// The source, e.g. `azure-cli`.
    pub source: String,
    /// Skipped (and why) or tried and failed.
    pub outcome: AttemptOutcome,
    /// Why it did not work, e.g. `not configured: AZURE_CLIENT_SECRET not set`.
    pub message: String,
    /// What would make this source work, when there is something specific to say (never a
    /// repetition of what is already configured).
    pub hint: Option<String>,
}

impl CredentialAttempt {
    fn new(source: &str, outcome: AttemptOutcome, message: impl Into<String>) -> Self {
        CredentialAttempt {
            source: source.to_owned(),
            outcome,
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The attempt for a source that failed with `error`.
    fn from_error(source: &str, error: CredentialError) -> Self {
        let outcome = match &error {
            CredentialError::TimedOut { .. } => AttemptOutcome::TimedOut,
            _ => AttemptOutcome::Failed,
        };
        let message = match &error {
            CredentialError::Failed { message, .. } => message.clone(),
            CredentialError::TimedOut {
                after, last_error, ..
            } => timed_out_message(*after, last_error.as_deref()),
            other => other.to_string(),
        };
        let hint = failure_hint(source, outcome, &message);
        CredentialAttempt::new(source, outcome, message).with_hint(hint)
    }
}

const INSTALL_AZ: &str =
    "install the Azure CLI (https://aka.ms/installazurecli), then run `az login`";
const GET_TOKEN: &str = "put an ARM bearer token in it (e.g. the output of \
`az account get-access-token --query accessToken -o tsv`)";

/// What to do about a source that was tried and failed; `None` when nothing specific helps.
fn failure_hint(source: &str, outcome: AttemptOutcome, message: &str) -> Option<String> {
    let not_installed = message.contains("not found on PATH")
        || message.contains("wasn't found on PATH")
        || message.contains("command not found");
    let hint = match (source, outcome) {
        ("azure-cli", AttemptOutcome::TimedOut) => {
            "run `az account get-access-token` yourself to see why it hangs, or `az login` again"
        }
        ("azure-cli", _) if not_installed => INSTALL_AZ,
        ("azure-cli", _) => "run `az login`",
        // azd is the last resort: say nothing when it is not even installed.
        ("azure-developer-cli", _) if not_installed => return None,
        ("azure-developer-cli", _) => "run `azd auth login`",
        ("environment", _) => {
            "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET: the service \
             principal's sign-in failed (an expired secret, a wrong tenant or client id)"
        }
        ("workload-identity", _) => {
            "check AZURE_FEDERATED_TOKEN_FILE and the federated credential of AZURE_CLIENT_ID \
             in AZURE_TENANT_ID"
        }
        ("azure-pipelines", _) => {
            "check the service connection (AZURESUBSCRIPTION_*) and that SYSTEM_ACCESSTOKEN \
             is mapped into the step"
        }
        ("managed-identity", _) => {
            "check that this machine has a managed identity assigned and that its endpoint \
             answers; or choose another --credential"
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

fn timed_out_message(after: Duration, last_error: Option<&str>) -> String {
    match last_error {
        Some(last) => format!("no token within {} (last error: {last})", seconds(after)),
        None => format!("no token within {}", seconds(after)),
    }
}

/// `3 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn format_attempts(attempts: &[CredentialAttempt]) -> String {
    let mut text = String::new();
    for a in attempts {
        let message = a.message.trim().replace('\n', "\n      ");
        text.push_str(&format!("\n  - {}: {}", a.source, message));
    }
    text
}

/// How to sign in, after the list of sources tried: the specific fixes of the sources the user
/// configured, then the usual ways to sign in that were not configured at all.
fn chain_hint(attempts: &[CredentialAttempt]) -> String {
    let mut fixes: Vec<String> = Vec::new();
    for a in attempts {
        if let Some(h) = &a.hint
            && !fixes.contains(h)
        {
            fixes.push(h.clone());
        }
    }
    let not_configured = |source: &str| {
        attempts
            .iter()
            .any(|a| a.source == source && a.outcome == AttemptOutcome::NotConfigured)
    };
    if not_configured("environment") && not_configured("workload-identity") {
        fixes.push(
            "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal"
                .to_owned(),
        );
    }
    if not_configured("access-token") {
        fixes.push(format!("set {ACCESS_TOKEN_VAR} to an ARM bearer token"));
    }
    format!("To sign in: {}.", fixes.join("; or "))
}

/// Why an explicit `--credential` lacks its inputs, and what to set.
fn missing_message(kind: CredentialKind, variables: &[String], empty: &[String]) -> String {
    let unset: Vec<&str> = variables
        .iter()
        .filter(|v| !empty.contains(v))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    if !unset.is_empty() {
        parts.push(format!("{} not set", unset.join(", ")));
    }
    if !empty.is_empty() {
        parts.push(format!("{} set but empty", empty.join(", ")));
    }
    let what = if kind == CredentialKind::AccessToken && !empty.is_empty() {
        format!("{ACCESS_TOKEN_VAR} is empty: {GET_TOKEN}")
    } else if kind == CredentialKind::AccessToken {
        format!("set {ACCESS_TOKEN_VAR}: {GET_TOKEN}")
    } else if empty.is_empty() {
        format!("set {}", variables.join(", "))
    } else {
        format!("set {} (empty values do not count)", variables.join(", "))
    };
    format!(
        "credential '{kind}' cannot sign in: {}. To fix: {what}; or choose another \
         --credential (`auto` tries them all).",
        parts.join("; ")
    )
}

/// An error message of `azure_identity` without what the source name already says and
/// without its troubleshooting link.
fn short_message(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .filter(|l| !l.trim_start().starts_with("To troubleshoot, visit"))
        .collect();
    let text = lines.join("\n");
    let text = text.trim();
    match text.split_once("Credential authentication failed. ") {
        Some((prefix, rest)) if !prefix.contains(' ') && !rest.trim().is_empty() => {
            rest.trim().to_owned()
        }
        _ => text.to_owned(),
    }
}

/// No credential could produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The chosen credential's inputs are missing (not set, or set but empty).
    #[error("{}", missing_message(*kind, variables, empty))]
    MissingVariables {
        /// The credential.
        kind: CredentialKind,
        /// The missing variables: not set, or set but empty.
        variables: Vec<String>,
        /// Those of `variables` that are set but empty.
        empty: Vec<String>,
    },

    /// A credential could not be created or could not produce a token.
    #[error("credential '{source_name}' failed: {message}{}", failure_hint(source_name, AttemptOutcome::Failed, message).map(|h| format!("\nTo fix: {h}.")).unwrap_or_default())]
    Failed {
        /// The credential source, e.g. `azure-cli`.
        source_name: String,
        /// Why (from the credential; never a secret).
        message: String,
    },

    /// A credential gave no token within its time bound (see [`CredentialTimeouts`]).
    #[error("credential '{source_name}' failed: {}{}", timed_out_message(*after, last_error.as_deref()), failure_hint(source_name, AttemptOutcome::TimedOut, "").map(|h| format!("\nTo fix: {h}.")).unwrap_or_default())]
    TimedOut {
        /// The credential source, e.g. `managed-identity`.
        source_name: String,
        /// The bound that was reached.
        after: Duration,
        /// The last error seen before it, if any (e.g. a refused connection).
        last_error: Option<String>,
    },

    /// Every source of the `auto` chain failed or was skipped.
    #[error(
        "no credential worked; tried:{}\n{}",
        format_attempts(attempts),
        chain_hint(attempts)
    )]
    NoCredential {
        /// Every source of the chain, in order, with why it was skipped or failed.
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
            message: short_message(&error_chain(&error)),
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

    /// Whether the variable is set but empty (or blank).
    fn is_empty(&self, name: &str) -> bool {
        let value = match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Map(map) => map.get(name).cloned(),
        };
        value.is_some_and(|v| v.trim().is_empty())
    }

    /// The variables of `names` that are not set or empty.
    fn missing(&self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .filter(|n| !self.is_set(n))
            .map(|n| (*n).to_owned())
            .collect()
    }

    /// `A not set`, `A, B not set; C set but empty`.
    fn describe_missing(&self, names: &[&str]) -> String {
        let (empty, unset): (Vec<&str>, Vec<&str>) = names
            .iter()
            .filter(|n| !self.is_set(n))
            .partition(|n| self.is_empty(n));
        let mut parts = Vec::new();
        if !unset.is_empty() {
            parts.push(format!("{} not set", unset.join(", ")));
        }
        if !empty.is_empty() {
            parts.push(format!("{} set but empty", empty.join(", ")));
        }
        parts.join("; ")
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

/// How long each credential may take to produce a token; every attempt is bounded.
///
/// | source | bound (default) |
/// |---|---|
/// | `azure-cli`, `azure-developer-cli` | [`developer_cli`](Self::developer_cli): 30 s |
/// | `environment`, `workload-identity`, `azure-pipelines` | [`service_principal`](Self::service_principal): 30 s, each HTTP request [`http_try`](Self::http_try): 10 s |
/// | `managed-identity` chosen with `--credential` | [`managed_identity`](Self::managed_identity): 20 s, each request a quarter of it |
/// | `managed-identity` under `auto` | [`managed_identity_probe`](Self::managed_identity_probe): 3 s, no retry of an unreachable endpoint |
///
/// A source that failed is not asked again for [`failure_memory`](Self::failure_memory)
/// (30 s): the calls meanwhile get the same error at once, so a run whose requests all need a
/// token fails once, not once per request.
///
/// Under `auto`, managed identity is only probed, as the default chains of the other Azure
/// SDKs do: an endpoint that refuses, hangs or fails TLS moves the chain on to the next source
/// within the probe bound, with the reason in the list of sources tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialTimeouts {
    /// `az account get-access-token` / `azd auth token`.
    pub developer_cli: Duration,
    /// A sign-in with a service principal, a federated token or a pipeline service connection.
    pub service_principal: Duration,
    /// Each HTTP request of those sign-ins.
    pub http_try: Duration,
    /// Managed identity chosen explicitly (`--credential managed-identity`), retries included.
    pub managed_identity: Duration,
    /// Managed identity probed by the `auto` chain.
    pub managed_identity_probe: Duration,
    /// How long a failure is remembered: calls within it fail at once with the same error
    /// instead of waiting for the credential again (every request of a run asks for a token).
    pub failure_memory: Duration,
}

impl Default for CredentialTimeouts {
    fn default() -> Self {
        CredentialTimeouts {
            developer_cli: Duration::from_secs(30),
            service_principal: Duration::from_secs(30),
            http_try: Duration::from_secs(10),
            managed_identity: Duration::from_secs(20),
            managed_identity_probe: Duration::from_secs(3),
            failure_memory: Duration::from_secs(30),
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
    /// The time bound of each credential.
    pub timeouts: CredentialTimeouts,
}

impl fmt::Debug for CredentialOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialOptions")
            .field("cloud", &self.cloud)
            .field("env", &self.env)
            .field("executor", &self.executor.is_some())
            .field("transport", &self.transport.is_some())
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl CredentialOptions {
    fn client_options(&self, observer: &Arc<TryObserver>) -> ClientOptions {
        ClientOptions {
            cloud: Some(Arc::new(self.cloud.cloud_configuration())),
            transport: self.transport.clone(),
            per_try_policies: vec![observer.clone() as Arc<dyn Policy>],
            ..ClientOptions::default()
        }
    }
}

/// Builds the credential of the given kind.
///
/// Explicit kinds whose inputs are missing fail with [`CredentialError::MissingVariables`];
/// `auto` returns a chain that fails, on first use, with [`CredentialError::NoCredential`]
/// listing every source with why it was skipped or failed. Every attempt is bounded in time
/// (see [`CredentialTimeouts`]); a credential that takes longer fails with
/// [`CredentialError::TimedOut`].
///
/// Which source was used is logged as a `tracing` event at DEBUG level (`credential: using
/// …`), and can be read from a [`ChainCredential`] built directly.
///
/// Note: `azure-pipelines` and `managed-identity` are built by `azure_identity`, which reads
/// `SYSTEM_OIDCREQUESTURI` and the managed identity variables from the process environment
/// itself; [`CredentialOptions::env`] only decides whether they are tried.
pub fn credential(
    kind: CredentialKind,
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let built = match kind {
        CredentialKind::Auto => return Ok(Arc::new(ChainCredential::new(options))),
        CredentialKind::Environment => environment(options),
        CredentialKind::WorkloadIdentity => workload_identity(options),
        CredentialKind::AzurePipelines => azure_pipelines(options),
        CredentialKind::ManagedIdentity => managed_identity(options, false),
        CredentialKind::AzureCli => Ok(azure_cli(options)),
        CredentialKind::AccessToken => access_token(options),
    }?;
    tracing::debug!(
        source = kind.name(),
        "credential: using {kind} (chosen with --credential {kind})"
    );
    Ok(built)
}

/// Warnings about where the token goes and what it is for, to show before using `kind` with
/// `endpoint` (the ARM endpoint in use): [`endpoint_warning`] and, when the token comes from
/// [`ACCESS_TOKEN_VAR`], [`token_audience_warning`]. Texts have no `warning:` prefix.
///
/// ```
/// use esu_preflight::arm::{credential_warnings, Cloud, CredentialKind, CredentialOptions};
/// let options = CredentialOptions::default();
/// let warnings = credential_warnings(CredentialKind::Auto, &options, &Cloud::AzureCloud.arm_endpoint());
/// assert!(warnings.is_empty());
/// ```
pub fn credential_warnings(
    kind: CredentialKind,
    options: &CredentialOptions,
    endpoint: &Url,
) -> Vec<String> {
    let mut warnings: Vec<String> = endpoint_warning(options.cloud, endpoint)
        .into_iter()
        .collect();
    if matches!(kind, CredentialKind::Auto | CredentialKind::AccessToken)
        && let Some(token) = options.env.var(ACCESS_TOKEN_VAR)
        && let Some(w) = token_audience_warning(&token, options.cloud)
    {
        warnings.push(w);
    }
    warnings
}

/// A warning when `token` is a JWT whose `aud` claim is not one of `cloud`'s ARM audiences
/// ([`Cloud::arm_audiences`]): ARM will reject it. `None` for a fitting JWT and for a token
/// that is not a JWT (nothing can be said). The token itself is never part of the text.
///
/// ```
/// use esu_preflight::arm::{token_audience_warning, Cloud};
/// assert_eq!(token_audience_warning("opaque-token", Cloud::AzureCloud), None);
/// ```
pub fn token_audience_warning(token: &str, cloud: Cloud) -> Option<String> {
    let claims = jwt_claims(token.trim())?;
    let audiences: Vec<String> = match claims.get("aud")? {
        serde_json::Value::String(aud) => vec![aud.clone()],
        serde_json::Value::Array(values) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let accepted = cloud.arm_audiences();
    if audiences.iter().any(|a| accepted.contains(&a.as_str())) {
        return None;
    }
    let found = if audiences.is_empty() {
        "no readable audience".to_owned()
    } else {
        format!("audience {}", printable(&audiences.join(", ")))
    };
    Some(format!(
        "the token in {ACCESS_TOKEN_VAR} is for {found}, not {cloud}'s ARM ({}); ARM will \
         reject it: get one with `az account get-access-token --resource {}`",
        accepted[0], accepted[0]
    ))
}

/// `text` without control characters, at most 200 characters long (it comes from a token).
fn printable(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > 200 {
        format!("{}…", clean.chars().take(200).collect::<String>())
    } else {
        clean
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
        let empty = missing
            .iter()
            .filter(|v| options.env.is_empty(v))
            .cloned()
            .collect();
        Err(CredentialError::MissingVariables {
            kind,
            variables: missing,
            empty,
        })
    }
}

fn named(
    name: &'static str,
    built: azure_core::Result<Arc<dyn TokenCredential>>,
    timeout: Duration,
    observer: Option<Arc<TryObserver>>,
    failure_memory: Duration,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    match built {
        Ok(inner) => Ok(Arc::new(Named {
            name,
            inner,
            timeout,
            observer,
            memory: FailureMemory::new(failure_memory),
        })),
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
    let observer = TryObserver::new(options.timeouts.http_try, false);
    let built = ClientSecretCredential::new(
        &var(options, AZURE_TENANT_ID),
        var(options, AZURE_CLIENT_ID),
        Secret::new(var(options, AZURE_CLIENT_SECRET)),
        Some(ClientSecretCredentialOptions {
            client_options: options.client_options(&observer),
        }),
    )
    .map(|c| c as Arc<dyn TokenCredential>);
    named(
        kind.name(),
        built,
        options.timeouts.service_principal,
        Some(observer),
        options.timeouts.failure_memory,
    )
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
    let observer = TryObserver::new(options.timeouts.http_try, false);
    let built = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: options.client_options(&observer),
        },
        client_id: Some(var(options, AZURE_CLIENT_ID)),
        tenant_id: Some(var(options, AZURE_TENANT_ID)),
        token_file_path: Some(PathBuf::from(var(options, AZURE_FEDERATED_TOKEN_FILE))),
    }))
    .map(|c| c as Arc<dyn TokenCredential>);
    named(
        kind.name(),
        built,
        options.timeouts.service_principal,
        Some(observer),
        options.timeouts.failure_memory,
    )
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
    let observer = TryObserver::new(options.timeouts.http_try, false);
    let built = AzurePipelinesCredential::new(
        var(options, PIPELINES_TENANT_ID),
        var(options, PIPELINES_CLIENT_ID),
        &var(options, PIPELINES_SERVICE_CONNECTION_ID),
        Secret::new(var(options, SYSTEM_ACCESSTOKEN)),
        Some(AzurePipelinesCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: options.client_options(&observer),
            },
        }),
    )
    .map(|c| c as Arc<dyn TokenCredential>);
    named(
        kind.name(),
        built,
        options.timeouts.service_principal,
        Some(observer),
        options.timeouts.failure_memory,
    )
}

/// Managed identity; `probe` (the `auto` chain) gives up at the first unreachable endpoint
/// and within [`CredentialTimeouts::managed_identity_probe`].
fn managed_identity(
    options: &CredentialOptions,
    probe: bool,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let t = options.timeouts;
    let (bound, per_try) = if probe {
        // Each request ends a little before the bound, so its error is the one reported.
        (t.managed_identity_probe, t.managed_identity_probe * 2 / 3)
    } else {
        (t.managed_identity, t.managed_identity / 4)
    };
    let observer = TryObserver::new(per_try, probe);
    let built = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        client_options: options.client_options(&observer),
        ..ManagedIdentityCredentialOptions::default()
    }))
    .map(|c| c as Arc<dyn TokenCredential>);
    named(
        CredentialKind::ManagedIdentity.name(),
        built,
        bound,
        Some(observer),
        options.timeouts.failure_memory,
    )
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
        timeout: options.timeouts.developer_cli,
        observer: None,
        memory: FailureMemory::new(options.timeouts.failure_memory),
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
        timeout: options.timeouts.developer_cli,
        observer: None,
        memory: FailureMemory::new(options.timeouts.failure_memory),
    })
}

fn access_token(options: &CredentialOptions) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    require(CredentialKind::AccessToken, options, &[ACCESS_TOKEN_VAR])?;
    Ok(Arc::new(StaticTokenCredential::new(var(
        options,
        ACCESS_TOKEN_VAR,
    ))))
}

/// One thing a [`TryObserver`] saw.
#[derive(Debug, Clone)]
struct Observed {
    message: String,
    /// The endpoint could not be reached (refused, hung, TLS): not an answer.
    unreachable: bool,
}

/// A per-try policy of a credential's HTTP pipeline: bounds each request, remembers the last
/// error (so a time-out can say what happened before it) and, when `fail_fast`, turns an
/// unreachable endpoint into an error the retry policy does not retry.
#[derive(Debug)]
struct TryObserver {
    per_try: Duration,
    fail_fast: bool,
    last: Mutex<Option<Observed>>,
}

impl TryObserver {
    fn new(per_try: Duration, fail_fast: bool) -> Arc<Self> {
        Arc::new(TryObserver {
            per_try,
            fail_fast,
            last: Mutex::new(None),
        })
    }

    fn record(&self, message: String, unreachable: bool) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Observed {
                message,
                unreachable,
            });
        }
    }

    fn take(&self) -> Option<Observed> {
        self.last.lock().ok().and_then(|mut l| l.take())
    }

    fn unreachable(&self, message: String, error: azure_core::Error) -> PolicyResult {
        self.record(message.clone(), true);
        if self.fail_fast {
            Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                message,
            ))
        } else {
            Err(error)
        }
    }
}

/// A URL without its query (which names the resource, nothing secret, but is long).
fn short_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The innermost message of an error chain: `Connection refused (os error 111)`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[async_trait::async_trait]
impl Policy for TryObserver {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let url = short_url(request.url());
        match tokio::time::timeout(self.per_try, next[0].send(ctx, request, &next[1..])).await {
            Err(_) => {
                let message = format!("{url} did not answer within {}", seconds(self.per_try));
                let error = azure_core::Error::with_message(ErrorKind::Io, message.clone());
                self.unreachable(message, error)
            }
            Ok(Err(error)) if matches!(error.kind(), ErrorKind::Io | ErrorKind::Connection) => {
                let message = format!("{url} unreachable: {}", root_cause(&error));
                self.unreachable(message, error)
            }
            Ok(Err(error)) => {
                self.record(format!("{url}: {}", error_chain(&error)), false);
                Err(error)
            }
            Ok(Ok(response)) => {
                let status = response.status();
                if !status.is_success() {
                    self.record(format!("{url} answered HTTP {}", u16::from(status)), false);
                }
                Ok(response)
            }
        }
    }
}

/// A credential that names itself in its errors and is bounded in time.
struct Named {
    name: &'static str,
    inner: Arc<dyn TokenCredential>,
    timeout: Duration,
    observer: Option<Arc<TryObserver>>,
    memory: FailureMemory,
}

/// The last failure of a credential, remembered for a while.
#[derive(Debug)]
struct FailureMemory {
    keep: Duration,
    last: Mutex<Option<(Instant, CredentialError)>>,
}

impl FailureMemory {
    fn new(keep: Duration) -> Self {
        FailureMemory {
            keep,
            last: Mutex::new(None),
        }
    }

    fn recent(&self) -> Option<CredentialError> {
        let last = self.last.lock().ok()?;
        match &*last {
            Some((at, error)) if at.elapsed() < self.keep => Some(error.clone()),
            _ => None,
        }
    }

    fn set(&self, error: Option<&CredentialError>) {
        if let Ok(mut last) = self.last.lock() {
            *last = error.map(|e| (Instant::now(), e.clone()));
        }
    }
}

impl fmt::Debug for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("source", &self.name)
            .field("timeout", &self.timeout)
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
        if let Some(error) = self.memory.recent() {
            return Err(error.into_core());
        }
        if let Some(o) = &self.observer {
            o.take();
        }
        let result =
            tokio::time::timeout(self.timeout, self.inner.get_token(scopes, options)).await;
        let observed = self.observer.as_ref().and_then(|o| o.take());
        let error = match result {
            Ok(Ok(token)) => {
                self.memory.set(None);
                return Ok(token);
            }
            Err(_) => CredentialError::TimedOut {
                source_name: self.name.to_owned(),
                after: self.timeout,
                last_error: observed.map(|o| o.message),
            },
            // An unreachable endpoint says it best itself, without the layers of wrapping.
            Ok(Err(_)) if observed.as_ref().is_some_and(|o| o.unreachable) => {
                CredentialError::Failed {
                    source_name: self.name.to_owned(),
                    message: observed.map(|o| o.message).unwrap_or_default(),
                }
            }
            Ok(Err(e)) => CredentialError::from_core(e, self.name),
        };
        self.memory.set(Some(&error));
        Err(error.into_core())
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

/// The claims (payload) of a JWT, decoded without verifying anything.
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = azure_core::base64::decode_url_safe(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// Who a bearer token names: its `oid` (object id), `tid` (tenant) and a readable name (`upn`,
/// `unique_name`, else `appid`), decoded from the JWT payload without verifying anything.
///
/// `None` when the token is not a JWT or names no object id (an opaque token). An `oid` or `tid`
/// that is not a GUID is not trusted (the object id goes into an ARM `$filter`): `None`, or no
/// tenant. The name loses its control characters and is cut to 200 characters. The token itself
/// is never kept.
///
/// ```
/// use esu_preflight::arm::credential::token_caller;
/// assert_eq!(token_caller("opaque-token"), None);
/// ```
pub fn token_caller(token: &str) -> Option<crate::snapshot::Caller> {
    let claims = jwt_claims(token.trim())?;
    let guid = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| is_guid(v))
            .map(str::to_ascii_lowercase)
    };
    let object_id = guid("oid")?;
    let display_name = ["upn", "unique_name", "appid"]
        .iter()
        .filter_map(|name| claims.get(*name).and_then(|v| v.as_str()))
        .map(printable)
        .find(|name| !name.trim().is_empty());
    Some(crate::snapshot::Caller {
        object_id,
        tenant_id: guid("tid"),
        display_name,
    })
}

/// Whether `text` is a GUID (`8-4-4-4-12` hexadecimal digits).
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `exp` claim of a JWT, without verifying anything.
fn jwt_expiry(token: &str) -> Option<OffsetDateTime> {
    let exp = jwt_claims(token)?.get("exp")?.as_i64()?;
    OffsetDateTime::from_unix_timestamp(exp).ok()
}

/// A source of the chain: its name, and the credential or why it is skipped.
type Source = (
    &'static str,
    Result<Arc<dyn TokenCredential>, CredentialAttempt>,
);

/// The credential the `auto` chain settled on, and why the sources before it were not used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialSelection {
    /// The source in use, e.g. `azure-cli`.
    pub source: String,
    /// The sources before it, with why each was skipped or failed.
    pub skipped: Vec<CredentialAttempt>,
}

impl fmt::Display for CredentialSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "using {}", self.source)?;
        if !self.skipped.is_empty() {
            let skipped: Vec<String> = self
                .skipped
                .iter()
                .map(|a| format!("{} — {}", a.source, a.message.replace('\n', " ")))
                .collect();
            write!(f, " (skipped: {})", skipped.join("; "))?;
        }
        Ok(())
    }
}

/// The `auto` chain (`--credential auto`): the first source that produces a token wins and is
/// kept; every source appears, skipped or tried, in the error when none works.
///
/// Order: access token, environment (service principal), workload identity, Azure Pipelines,
/// managed identity (probed briefly), Azure CLI, Azure Developer CLI.
pub struct ChainCredential {
    sources: Vec<Source>,
    /// The managed identity variables that are set (they put it in the chain).
    managed_identity_vars: Vec<&'static str>,
    selected: tokio::sync::Mutex<Option<usize>>,
    selection: Mutex<Option<CredentialSelection>>,
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

/// Why the environment service principal is skipped, if it is.
fn environment_skip(env: &EnvSource) -> Option<CredentialAttempt> {
    const SOURCE: &str = "environment";
    let required = [AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET];
    let missing = env.missing(&required);
    if missing.is_empty() {
        return None;
    }
    let described = env.describe_missing(&required);
    let ids_set = env.is_set(AZURE_CLIENT_ID) && env.is_set(AZURE_TENANT_ID);
    let attempt = if ids_set && !env.is_set(AZURE_FEDERATED_TOKEN_FILE) {
        // The A9 case: an identity without any way to prove it.
        let secret = if env.is_empty(AZURE_CLIENT_SECRET) {
            "AZURE_CLIENT_SECRET is set but empty"
        } else {
            "neither AZURE_CLIENT_SECRET nor AZURE_FEDERATED_TOKEN_FILE is set"
        };
        CredentialAttempt::new(
            SOURCE,
            if env.is_empty(AZURE_CLIENT_SECRET) {
                AttemptOutcome::Empty
            } else {
                AttemptOutcome::Incomplete
            },
            format!("incomplete: AZURE_CLIENT_ID and AZURE_TENANT_ID are set, but {secret}"),
        )
        .with_hint(Some(
            "set AZURE_CLIENT_SECRET (a service principal) or AZURE_FEDERATED_TOKEN_FILE \
             (workload identity) for AZURE_CLIENT_ID"
                .to_owned(),
        ))
    } else if ids_set {
        // Workload identity is configured instead.
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::NotConfigured,
            format!(
                "not configured: {described} (AZURE_FEDERATED_TOKEN_FILE is: workload identity)"
            ),
        )
    } else if required.iter().any(|v| env.is_set(v)) {
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::Incomplete,
            format!("incomplete: {described}"),
        )
        .with_hint(Some(format!("set {}", missing.join(", "))))
    } else if required.iter().any(|v| env.is_empty(v)) {
        CredentialAttempt::new(SOURCE, AttemptOutcome::Empty, described)
            .with_hint(Some(format!("set {}", missing.join(", "))))
    } else {
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::NotConfigured,
            format!("not configured: {described}"),
        )
    };
    Some(attempt)
}

/// Why workload identity is skipped, if it is.
fn workload_identity_skip(env: &EnvSource) -> Option<CredentialAttempt> {
    const SOURCE: &str = "workload-identity";
    let required = [AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID];
    let missing = env.missing(&required);
    if missing.is_empty() {
        return None;
    }
    let described = env.describe_missing(&required);
    let attempt = if env.is_set(AZURE_FEDERATED_TOKEN_FILE) {
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::Incomplete,
            format!("incomplete: AZURE_FEDERATED_TOKEN_FILE is set, but {described}"),
        )
        .with_hint(Some(format!("set {}", missing.join(", "))))
    } else if env.is_empty(AZURE_FEDERATED_TOKEN_FILE) {
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::Empty,
            "AZURE_FEDERATED_TOKEN_FILE is set but empty",
        )
        .with_hint(Some(
            "AZURE_FEDERATED_TOKEN_FILE is empty: set it to the path of the federated token file"
                .to_owned(),
        ))
    } else {
        // Without a token file this source is simply not in use (AZURE_CLIENT_ID and
        // AZURE_TENANT_ID alone are reported by `environment`).
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::NotConfigured,
            format!("not configured: {described}"),
        )
    };
    Some(attempt)
}

/// Why the Azure Pipelines service connection is skipped, if it is. It is in use once any
/// `AZURESUBSCRIPTION_*` variable is set (`SYSTEM_*` ones are set in every pipeline job).
fn azure_pipelines_skip(env: &EnvSource) -> Option<CredentialAttempt> {
    const SOURCE: &str = "azure-pipelines";
    let missing = env.missing(&PIPELINES_VARS);
    if missing.is_empty() {
        return None;
    }
    let described = env.describe_missing(&PIPELINES_VARS);
    let triggers = [
        PIPELINES_TENANT_ID,
        PIPELINES_CLIENT_ID,
        PIPELINES_SERVICE_CONNECTION_ID,
    ];
    let attempt = if triggers.iter().any(|v| env.is_set(v)) {
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::Incomplete,
            format!("incomplete: {described}"),
        )
        .with_hint(Some(format!("set {}", missing.join(", "))))
    } else {
        CredentialAttempt::new(
            SOURCE,
            AttemptOutcome::NotConfigured,
            format!("not configured: {} not set", triggers.join(", ")),
        )
    };
    Some(attempt)
}

impl ChainCredential {
    /// The chain for `options`; nothing is tried before the first [`TokenCredential::get_token`].
    pub fn new(options: &CredentialOptions) -> Self {
        let env = &options.env;
        let built = |name: &'static str,
                     built: Result<Arc<dyn TokenCredential>, CredentialError>| {
            built.map_err(|e| CredentialAttempt::from_error(name, e))
        };
        let mut sources: Vec<Source> = Vec::new();

        let source = "access-token";
        sources.push((
            source,
            if env.is_set(ACCESS_TOKEN_VAR) {
                built(source, access_token(options))
            } else if env.is_empty(ACCESS_TOKEN_VAR) {
                Err(CredentialAttempt::new(
                    source,
                    AttemptOutcome::Empty,
                    format!("{ACCESS_TOKEN_VAR} is set but empty"),
                )
                .with_hint(Some(format!(
                    "{ACCESS_TOKEN_VAR} is empty: {GET_TOKEN}, or unset it"
                ))))
            } else {
                Err(CredentialAttempt::new(
                    source,
                    AttemptOutcome::NotConfigured,
                    format!("not configured: {ACCESS_TOKEN_VAR} not set"),
                ))
            },
        ));

        let source = "environment";
        sources.push((
            source,
            match environment_skip(env) {
                Some(skip) => Err(skip),
                None => built(source, environment(options)),
            },
        ));

        let source = "workload-identity";
        sources.push((
            source,
            match workload_identity_skip(env) {
                Some(skip) => Err(skip),
                None => built(source, workload_identity(options)),
            },
        ));

        let source = "azure-pipelines";
        sources.push((
            source,
            match azure_pipelines_skip(env) {
                Some(skip) => Err(skip),
                None => built(source, azure_pipelines(options)),
            },
        ));

        let source = "managed-identity";
        sources.push((
            source,
            if MANAGED_IDENTITY_ENDPOINTS.iter().any(|v| env.is_set(v)) {
                built(source, managed_identity(options, true))
            } else {
                Err(CredentialAttempt::new(
                    source,
                    AttemptOutcome::NotConfigured,
                    format!(
                        "not configured: none of {} is set (on an Azure VM, choose it with \
                         --credential managed-identity)",
                        MANAGED_IDENTITY_ENDPOINTS.join(", ")
                    ),
                ))
            },
        ));

        sources.push(("azure-cli", Ok(azure_cli(options))));
        sources.push(("azure-developer-cli", Ok(azure_developer_cli(options))));
        let managed_identity_vars = MANAGED_IDENTITY_ENDPOINTS
            .into_iter()
            .filter(|v| env.is_set(v))
            .collect();
        ChainCredential {
            sources,
            managed_identity_vars,
            selected: tokio::sync::Mutex::new(None),
            selection: Mutex::new(None),
        }
    }

    /// The source in use and why the ones before it were not used; `None` before the first
    /// token (or when no source worked).
    pub fn selection(&self) -> Option<CredentialSelection> {
        self.selection.lock().ok().and_then(|s| s.clone())
    }

    /// The names of the sources the chain would try (skipped ones excluded), in order.
    #[cfg(test)]
    fn source_names(&self) -> Vec<&'static str> {
        self.sources
            .iter()
            .filter(|(_, s)| s.is_ok())
            .map(|(n, _)| *n)
            .collect()
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
                Ok(credential) => {
                    credential
                        .get_token(scopes, options.clone())
                        .await
                        .map_err(|e| {
                            CredentialAttempt::from_error(name, CredentialError::from_core(e, name))
                        })
                }
                Err(skip) => Err(skip.clone()),
            };
            match result {
                Ok(token) => {
                    *selected = Some(index);
                    let selection = CredentialSelection {
                        source: (*name).to_owned(),
                        skipped: attempts,
                    };
                    tracing::debug!(source = *name, "credential: {selection}");
                    if let Ok(mut s) = self.selection.lock() {
                        *s = Some(selection);
                    }
                    return Ok(token);
                }
                Err(mut attempt) => {
                    if *name == "managed-identity" && source.is_ok() {
                        // Set, but not answering: most likely not on an Azure resource.
                        attempt.hint = Some(format!(
                            "if this machine has no managed identity, unset {}",
                            self.managed_identity_vars.join(", ")
                        ));
                    }
                    attempts.push(attempt)
                }
            }
        }
        Err(CredentialError::NoCredential { attempts }.into_core())
    }
}

#[cfg(test)]
mod tests;
