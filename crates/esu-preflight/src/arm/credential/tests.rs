//! Offline tests of the credentials: fake `az`/`azd` through the `Executor` hook, a loopback
//! token endpoint through a redirecting transport, and variables from a map (the process
//! environment is never touched).

use super::*;
use crate::arm::test_support::{FakeExecutor, RedirectClient};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const SCOPE: &str = "https://management.azure.com/.default";

const ALL_SOURCES: [&str; 7] = [
    "access-token",
    "environment",
    "workload-identity",
    "azure-pipelines",
    "managed-identity",
    "azure-cli",
    "azure-developer-cli",
];

fn options(pairs: &[(&str, &str)], executor: Option<Arc<FakeExecutor>>) -> CredentialOptions {
    CredentialOptions {
        cloud: Cloud::AzureCloud,
        env: EnvSource::from_pairs(pairs.iter().copied()),
        executor: executor.map(|e| e as Arc<dyn Executor>),
        transport: None,
        timeouts: CredentialTimeouts::default(),
    }
}

fn az_output(token: &str) -> String {
    // The shape of `az account get-access-token -o json` (Azure CLI >= 2.54).
    format!(
        r#"{{"accessToken":"{token}","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"subscription":"11111111-1111-1111-1111-111111111111","tenant":"22222222-2222-2222-2222-222222222222","tokenType":"Bearer"}}"#
    )
}

#[test]
fn kind_names_round_trip() {
    assert_eq!(CredentialKind::ALL.len(), CredentialKind::NAMES.len());
    for (kind, name) in CredentialKind::ALL.iter().zip(CredentialKind::NAMES) {
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<CredentialKind>().unwrap(), *kind);
        assert_eq!(
            name.to_uppercase().parse::<CredentialKind>().unwrap(),
            *kind
        );
    }
    let err = "default".parse::<CredentialKind>().unwrap_err();
    assert!(err.to_string().contains("azure-cli"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_through_the_executor() {
    let exec = Arc::new(FakeExecutor::new().rule(
        "az account get-access-token",
        0,
        &az_output("cli-token"),
        "",
    ));
    let cred = credential(CredentialKind::AzureCli, &options(&[], Some(exec.clone()))).unwrap();
    let token = cred.get_token(&[SCOPE], None).await.unwrap();
    assert_eq!(token.token.secret(), "cli-token");
    assert_eq!(token.expires_on.unix_timestamp(), 4070908800);
    let commands = exec.commands();
    assert_eq!(commands.len(), 1);
    assert!(
        commands[0].contains(&format!("--scope {SCOPE}")),
        "{commands:?}"
    );
    assert!(!format!("{cred:?}").contains("cli-token"));
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_failure_names_the_source() {
    let exec = Arc::new(FakeExecutor::new().rule(
        "az account",
        1,
        "",
        "ERROR: Please run 'az login' to setup account.",
    ));
    let cred = credential(CredentialKind::AzureCli, &options(&[], Some(exec))).unwrap();
    let err = cred.get_token(&[SCOPE], None).await.unwrap_err();
    let err = CredentialError::from_core(err, "x");
    match &err {
        CredentialError::Failed {
            source_name,
            message,
        } => {
            assert_eq!(source_name, "azure-cli");
            assert!(message.contains("az login"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn environment_client_secret_against_loopback_token_endpoint() {
    let login = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/33333333-3333-3333-3333-333333333333/oauth2/v2.0/token",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": "sp-token"
        })))
        .expect(1)
        .mount(&login)
        .await;
    let (transport, redirect) = RedirectClient::transport(&login.uri());
    let mut opts = options(
        &[
            ("AZURE_TENANT_ID", "33333333-3333-3333-3333-333333333333"),
            ("AZURE_CLIENT_ID", "app-id-1"),
            ("AZURE_CLIENT_SECRET", "very-secret-value"),
        ],
        None,
    );
    opts.transport = Some(transport);
    let cred = credential(CredentialKind::Environment, &opts).unwrap();
    let debug = format!("{cred:?} {opts:?}");
    assert!(!debug.contains("very-secret-value"), "{debug}");

    let token = cred.get_token(&[SCOPE], None).await.unwrap();
    assert_eq!(token.token.secret(), "sp-token");

    // It went to the public cloud's authority (before the redirect) ...
    let urls = redirect.original_urls.lock().unwrap().clone();
    assert_eq!(
        urls,
        vec![
            "https://login.microsoftonline.com/33333333-3333-3333-3333-333333333333/oauth2/v2.0/token"
                .to_owned()
        ]
    );
    // ... with the client credentials form.
    let requests = login.received_requests().await.unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("client_id").as_deref(), Some("app-id-1"));
    assert_eq!(get("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(get("scope").as_deref(), Some(SCOPE));
    assert_eq!(get("client_secret").as_deref(), Some("very-secret-value"));
}

#[tokio::test]
async fn environment_uses_the_clouds_authority() {
    let login = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": "gov"
        })))
        .mount(&login)
        .await;
    let (transport, redirect) = RedirectClient::transport(&login.uri());
    let mut opts = options(
        &[
            ("AZURE_TENANT_ID", "t1"),
            ("AZURE_CLIENT_ID", "c1"),
            ("AZURE_CLIENT_SECRET", "s1"),
        ],
        None,
    );
    opts.cloud = Cloud::AzureUSGovernment;
    opts.transport = Some(transport);
    let cred = credential(CredentialKind::Environment, &opts).unwrap();
    cred.get_token(&["https://management.usgovcloudapi.net/.default"], None)
        .await
        .unwrap();
    let urls = redirect.original_urls.lock().unwrap().clone();
    assert!(
        urls[0].starts_with("https://login.microsoftonline.us/t1/"),
        "{urls:?}"
    );
}

#[test]
fn explicit_kinds_name_missing_variables() {
    let opts = options(&[("AZURE_CLIENT_ID", "c")], None);
    let err = credential(CredentialKind::Environment, &opts).unwrap_err();
    assert_eq!(
        err,
        CredentialError::MissingVariables {
            kind: CredentialKind::Environment,
            variables: vec!["AZURE_TENANT_ID".into(), "AZURE_CLIENT_SECRET".into()],
            empty: vec![],
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("AZURE_TENANT_ID, AZURE_CLIENT_SECRET"),
        "{text}"
    );

    let err = credential(CredentialKind::AccessToken, &opts).unwrap_err();
    assert!(err.to_string().contains(ACCESS_TOKEN_VAR));

    let err = credential(CredentialKind::WorkloadIdentity, &opts).unwrap_err();
    assert!(err.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"));

    let err = credential(CredentialKind::AzurePipelines, &opts).unwrap_err();
    let text = err.to_string();
    for v in PIPELINES_VARS {
        assert!(text.contains(v), "{v} in {text}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn auto_with_nothing_configured_lists_the_sources_tried() {
    let exec = Arc::new(
        FakeExecutor::new()
            .rule(
                "az account",
                1,
                "",
                "ERROR: Please run 'az login' to setup account.",
            )
            .rule("azd auth token", 127, "", "azd: not found"),
    );
    let opts = options(&[], Some(exec.clone()));
    let cred = credential(CredentialKind::Auto, &opts).unwrap();
    let err = cred.get_token(&[SCOPE], None).await.unwrap_err();
    let err = CredentialError::from_core(err, "auto");
    let CredentialError::NoCredential { attempts } = &err else {
        panic!("unexpected {err:?}");
    };
    let sources: Vec<&str> = attempts.iter().map(|a| a.source.as_str()).collect();
    assert_eq!(sources, ALL_SOURCES);
    for a in &attempts[..5] {
        assert_eq!(a.outcome, AttemptOutcome::NotConfigured, "{a:?}");
        assert!(a.message.starts_with("not configured: "), "{a:?}");
    }
    assert!(
        attempts[1]
            .message
            .contains("AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set"),
        "{attempts:?}"
    );
    assert!(
        attempts[4].message.contains("IDENTITY_ENDPOINT"),
        "{attempts:?}"
    );
    assert_eq!(attempts[5].outcome, AttemptOutcome::Failed);
    assert!(attempts[5].message.contains("az login"), "{attempts:?}");
    let text = err.to_string();
    assert!(text.contains("azure-cli:"), "{text}");
    assert!(text.contains("azure-developer-cli:"), "{text}");
    assert!(text.contains("run `az login`"), "{text}");
    assert!(text.contains("ESU_PREFLIGHT_ACCESS_TOKEN"), "{text}");
    assert_eq!(exec.commands().len(), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn auto_remembers_the_first_source_that_worked() {
    let exec = Arc::new(
        FakeExecutor::new()
            .rule("az account", 1, "", "not logged in")
            .rule(
                "azd auth token",
                0,
                r#"{"token":"azd-token","expiresOn":"2099-01-01T00:00:00Z"}"#,
                "",
            ),
    );
    let cred = credential(CredentialKind::Auto, &options(&[], Some(exec.clone()))).unwrap();
    assert_eq!(
        cred.get_token(&[SCOPE], None).await.unwrap().token.secret(),
        "azd-token"
    );
    assert_eq!(exec.commands().len(), 2);
    cred.get_token(&[SCOPE], None).await.unwrap();
    let commands = exec.commands();
    assert_eq!(commands.len(), 3);
    assert!(commands[2].contains("azd auth token"), "{commands:?}");
}

#[tokio::test]
async fn access_token_from_the_env_map_comes_first_in_auto() {
    let opts = options(
        &[
            (ACCESS_TOKEN_VAR, "pre-acquired-token"),
            ("AZURE_CLIENT_SECRET", "sec"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token"),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
        ],
        None,
    );
    let chain = ChainCredential::new(&opts);
    // A secret without its ids and a token file without its ids are incomplete: skipped.
    assert_eq!(
        chain.source_names(),
        [
            "access-token",
            "managed-identity",
            "azure-cli",
            "azure-developer-cli"
        ]
    );
    let debug = format!("{chain:?} {opts:?}");
    assert!(!debug.contains("pre-acquired-token"), "{debug}");
    assert!(!debug.contains("sec\""), "{debug}");
    let token = chain.get_token(&[SCOPE], None).await.unwrap();
    assert_eq!(token.token.secret(), "pre-acquired-token");

    let cred = credential(CredentialKind::AccessToken, &opts).unwrap();
    assert_eq!(
        cred.get_token(&[SCOPE], None).await.unwrap().token.secret(),
        "pre-acquired-token"
    );
    assert!(!format!("{cred:?}").contains("pre-acquired-token"));

    // Without the variable, no access-token source.
    let chain = ChainCredential::new(&options(&[], None));
    assert_eq!(chain.source_names(), ["azure-cli", "azure-developer-cli"]);
}

#[test]
fn access_token_expiry_from_jwt() {
    let payload = azure_core::base64::encode_url_safe(br#"{"aud":"x","exp":4070908800}"#);
    let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
    let cred = StaticTokenCredential::new(jwt);
    assert_eq!(cred.expires_on().unix_timestamp(), 4070908800);
    let opaque = StaticTokenCredential::new("opaque");
    let in_an_hour = OffsetDateTime::now_utc() + CoreDuration::hours(1);
    assert!((opaque.expires_on() - in_an_hour).abs() < CoreDuration::minutes(1));
}

#[test]
fn env_source_treats_empty_as_unset_and_hides_values() {
    let env = EnvSource::from_pairs([("A", "1"), ("B", ""), ("C", "  ")]);
    assert_eq!(env.var("A").as_deref(), Some("1"));
    assert_eq!(env.var("B"), None);
    assert_eq!(env.var("C"), None);
    assert_eq!(env.var("D"), None);
    let debug = format!("{env:?}");
    assert!(
        debug.contains("\"A\"") && !debug.contains("\"1\""),
        "{debug}"
    );
}

// ---- the tried list, hints, time bounds, selection, warnings ----

/// `az` not signed in, `azd` not installed.
fn no_cli() -> Arc<FakeExecutor> {
    Arc::new(
        FakeExecutor::new()
            .rule(
                "az account",
                1,
                "",
                "ERROR: Please run 'az login' to setup account.",
            )
            .rule("azd auth token", 127, "", "azd: not found"),
    )
}

/// `az` signed in.
fn az_ok() -> Arc<FakeExecutor> {
    Arc::new(FakeExecutor::new().rule(
        "az account get-access-token",
        0,
        &az_output("cli-token"),
        "",
    ))
}

async fn auto_error(opts: &CredentialOptions) -> (Vec<CredentialAttempt>, String) {
    let cred = credential(CredentialKind::Auto, opts).unwrap();
    let err = CredentialError::from_core(cred.get_token(&[SCOPE], None).await.unwrap_err(), "x");
    let text = err.to_string();
    let CredentialError::NoCredential { attempts } = err else {
        panic!("unexpected {err:?}");
    };
    (attempts, text)
}

fn attempt<'a>(attempts: &'a [CredentialAttempt], source: &str) -> &'a CredentialAttempt {
    attempts
        .iter()
        .find(|a| a.source == source)
        .unwrap_or_else(|| panic!("{source} not in {attempts:?}"))
}

#[cfg(unix)]
#[tokio::test]
async fn client_and_tenant_without_secret_or_token_file_is_incomplete() {
    let opts = options(
        &[
            ("AZURE_CLIENT_ID", "app-1"),
            ("AZURE_TENANT_ID", "tenant-1"),
        ],
        Some(no_cli()),
    );
    let (attempts, text) = auto_error(&opts).await;
    let sources: Vec<&str> = attempts.iter().map(|a| a.source.as_str()).collect();
    assert_eq!(sources, ALL_SOURCES);
    let env = attempt(&attempts, "environment");
    assert_eq!(env.outcome, AttemptOutcome::Incomplete);
    assert_eq!(
        env.message,
        "incomplete: AZURE_CLIENT_ID and AZURE_TENANT_ID are set, but neither \
         AZURE_CLIENT_SECRET nor AZURE_FEDERATED_TOKEN_FILE is set"
    );
    let wi = attempt(&attempts, "workload-identity");
    assert_eq!(wi.outcome, AttemptOutcome::NotConfigured);
    assert!(
        wi.message.contains("AZURE_FEDERATED_TOKEN_FILE not set"),
        "{wi:?}"
    );
    // The hint asks for what is missing, never for what is already there.
    assert!(
        text.contains(
            "set AZURE_CLIENT_SECRET (a service principal) or AZURE_FEDERATED_TOKEN_FILE"
        ),
        "{text}"
    );
    assert!(!text.contains("set AZURE_TENANT_ID"), "{text}");
    assert!(!text.contains("set AZURE_CLIENT_ID"), "{text}");
    assert!(text.contains("run `az login`"), "{text}");
    // azd is not installed: not worth a hint.
    assert!(!text.contains("azd auth login"), "{text}");
}

#[cfg(unix)]
#[tokio::test]
async fn an_empty_access_token_is_empty_not_unset() {
    let opts = options(
        &[(ACCESS_TOKEN_VAR, ""), ("AZURE_CLIENT_SECRET", " ")],
        Some(no_cli()),
    );
    let (attempts, text) = auto_error(&opts).await;
    let token = attempt(&attempts, "access-token");
    assert_eq!(token.outcome, AttemptOutcome::Empty);
    assert_eq!(token.message, "ESU_PREFLIGHT_ACCESS_TOKEN is set but empty");
    let env = attempt(&attempts, "environment");
    assert_eq!(env.outcome, AttemptOutcome::Empty, "{env:?}");
    assert!(
        env.message.contains("AZURE_CLIENT_SECRET set but empty"),
        "{env:?}"
    );
    assert!(
        env.message
            .contains("AZURE_TENANT_ID, AZURE_CLIENT_ID not set"),
        "{env:?}"
    );
    assert!(
        text.contains("ESU_PREFLIGHT_ACCESS_TOKEN is empty"),
        "{text}"
    );
    assert!(!text.contains("set ESU_PREFLIGHT_ACCESS_TOKEN"), "{text}");
    assert!(
        !text.contains("ESU_PREFLIGHT_ACCESS_TOKEN not set"),
        "{text}"
    );

    // Explicitly chosen: the same, as an error of the kind.
    let err = credential(CredentialKind::AccessToken, &opts).unwrap_err();
    assert_eq!(
        err,
        CredentialError::MissingVariables {
            kind: CredentialKind::AccessToken,
            variables: vec![ACCESS_TOKEN_VAR.into()],
            empty: vec![ACCESS_TOKEN_VAR.into()],
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("ESU_PREFLIGHT_ACCESS_TOKEN set but empty"),
        "{text}"
    );
    assert!(
        text.contains("ESU_PREFLIGHT_ACCESS_TOKEN is empty: put"),
        "{text}"
    );
    assert!(!text.contains("not set"), "{text}");
    assert!(!text.contains("--credential access-token"), "{text}");

    // Not set at all: then setting it is the advice.
    let text = credential(CredentialKind::AccessToken, &options(&[], None))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("ESU_PREFLIGHT_ACCESS_TOKEN not set"),
        "{text}"
    );
    assert!(text.contains("set ESU_PREFLIGHT_ACCESS_TOKEN"), "{text}");
}

#[cfg(unix)]
#[tokio::test]
async fn explicit_azure_cli_hints_at_az_login_not_at_itself() {
    let cred = credential(CredentialKind::AzureCli, &options(&[], Some(no_cli()))).unwrap();
    let err = CredentialError::from_core(cred.get_token(&[SCOPE], None).await.unwrap_err(), "x");
    let text = err.to_string();
    assert!(
        text.starts_with("credential 'azure-cli' failed: "),
        "{text}"
    );
    assert!(text.contains("To fix: run `az login`"), "{text}");
    assert!(!text.contains("--credential azure-cli"), "{text}");

    // `az` missing: install it first.
    let missing = Arc::new(FakeExecutor::new().rule("az account", 127, "", "sh: az: not found"));
    let cred = credential(CredentialKind::AzureCli, &options(&[], Some(missing))).unwrap();
    let err = CredentialError::from_core(cred.get_token(&[SCOPE], None).await.unwrap_err(), "x");
    let text = err.to_string();
    assert!(text.contains("not found on PATH"), "{text}");
    assert!(text.contains("install the Azure CLI"), "{text}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_failing_service_principal_is_not_told_to_set_its_variables() {
    let login = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided."
        })))
        .mount(&login)
        .await;
    let (transport, _) = RedirectClient::transport(&login.uri());
    let mut opts = options(
        &[
            ("AZURE_TENANT_ID", "t1"),
            ("AZURE_CLIENT_ID", "c1"),
            ("AZURE_CLIENT_SECRET", "wrong-secret"),
        ],
        Some(no_cli()),
    );
    opts.transport = Some(transport);
    let (attempts, text) = auto_error(&opts).await;
    let env = attempt(&attempts, "environment");
    assert_eq!(env.outcome, AttemptOutcome::Failed);
    assert!(env.message.contains("AADSTS7000215"), "{env:?}");
    assert!(
        text.contains("check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"),
        "{text}"
    );
    assert!(!text.contains("set AZURE_TENANT_ID"), "{text}");
    assert!(!text.contains("wrong-secret"), "{text}");
}

/// A loopback listener that accepts connections and never answers.
async fn silent_listener() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

/// Nothing listens on port 1 of loopback: connections are refused at once.
const DEAD_PORT: &str = "http://127.0.0.1:1";

/// Generous for a loaded 2-core machine, far below the 82 s this used to take.
const QUICK: std::time::Duration = std::time::Duration::from_secs(20);

/// `auto` with a managed identity endpoint whose requests go to `target`, and `az` signed in.
async fn auto_past_managed_identity(target: &str) -> (ChainCredential, std::time::Duration) {
    let (transport, redirect) = RedirectClient::transport(target);
    let mut opts = options(
        &[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")],
        Some(az_ok()),
    );
    opts.transport = Some(transport);
    let chain = ChainCredential::new(&opts);
    let started = std::time::Instant::now();
    let token = chain.get_token(&[SCOPE], None).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(token.token.secret(), "cli-token");
    assert!(
        !redirect.original_urls.lock().unwrap().is_empty(),
        "managed identity not tried"
    );
    (chain, elapsed)
}

#[tokio::test]
async fn auto_probes_a_hanging_managed_identity_briefly() {
    let (chain, elapsed) = auto_past_managed_identity(&silent_listener().await).await;
    assert!(elapsed < QUICK, "{elapsed:?}");
    let selection = chain.selection().unwrap();
    assert_eq!(selection.source, "azure-cli");
    let mi = attempt(&selection.skipped, "managed-identity");
    assert!(
        matches!(
            mi.outcome,
            AttemptOutcome::Failed | AttemptOutcome::TimedOut
        ),
        "{mi:?}"
    );
    assert!(mi.message.contains("did not answer within"), "{mi:?}");
    assert!(
        mi.hint
            .as_deref()
            .unwrap()
            .contains("unset IDENTITY_ENDPOINT"),
        "{mi:?}"
    );
}

#[tokio::test]
async fn auto_moves_past_a_refusing_managed_identity_at_once() {
    let (chain, elapsed) = auto_past_managed_identity(DEAD_PORT).await;
    // Refused: no retry, no waiting for the probe bound.
    assert!(elapsed < QUICK, "{elapsed:?}");
    let selection = chain.selection().unwrap();
    let mi = attempt(&selection.skipped, "managed-identity");
    assert_eq!(mi.outcome, AttemptOutcome::Failed, "{mi:?}");
    assert!(mi.message.contains("unreachable"), "{mi:?}");
    assert!(mi.message.to_lowercase().contains("refused"), "{mi:?}");
    let text = selection.to_string();
    assert!(
        text.starts_with("using azure-cli (skipped: access-token — not configured"),
        "{text}"
    );
    assert!(text.contains("managed-identity — "), "{text}");
}

async fn explicit_managed_identity_error(target: &str) -> (CredentialError, std::time::Duration) {
    let (transport, redirect) = RedirectClient::transport(target);
    let mut opts = options(&[], None);
    opts.transport = Some(transport);
    opts.timeouts.managed_identity = std::time::Duration::from_secs(2);
    let cred = credential(CredentialKind::ManagedIdentity, &opts).unwrap();
    let started = std::time::Instant::now();
    let err = cred.get_token(&[SCOPE], None).await.unwrap_err();
    let elapsed = started.elapsed();
    let err = CredentialError::from_core(err, "x");
    // Asked again (the next request of the run): the same error, without asking the endpoint.
    let requests = redirect.original_urls.lock().unwrap().len();
    assert!(requests >= 1);
    let again = cred.get_token(&[SCOPE], None).await.unwrap_err();
    assert_eq!(CredentialError::from_core(again, "x"), err);
    assert_eq!(redirect.original_urls.lock().unwrap().len(), requests);
    (err, elapsed)
}

#[tokio::test]
async fn explicit_managed_identity_fails_within_its_bound_with_the_cause() {
    for (target, cause) in [
        (silent_listener().await, "did not answer within 0.5 s"),
        (DEAD_PORT.to_owned(), "refused"),
    ] {
        let (err, elapsed) = explicit_managed_identity_error(&target).await;
        assert!(elapsed < QUICK, "{target}: {elapsed:?}");
        let CredentialError::TimedOut {
            source_name,
            after,
            last_error,
        } = &err
        else {
            panic!("{target}: unexpected {err:?}");
        };
        assert_eq!(source_name, "managed-identity");
        assert_eq!(*after, std::time::Duration::from_secs(2));
        let last = last_error.as_deref().unwrap_or_default();
        assert!(last.to_lowercase().contains(cause), "{target}: {last}");
        let text = err.to_string();
        assert!(text.contains("no token within 2 s (last error: "), "{text}");
    }
    assert_eq!(
        CredentialTimeouts::default().managed_identity,
        std::time::Duration::from_secs(20)
    );
}

/// An executor that takes longer than any bound.
#[derive(Debug)]
struct HangingExecutor;

#[async_trait::async_trait]
impl Executor for HangingExecutor {
    async fn run(
        &self,
        _: &std::ffi::OsStr,
        _: &[&std::ffi::OsStr],
    ) -> std::io::Result<std::process::Output> {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        Err(std::io::Error::other("not reached"))
    }
}

#[tokio::test]
async fn a_hanging_az_is_bounded() {
    let mut opts = options(&[], None);
    opts.executor = Some(Arc::new(HangingExecutor));
    opts.timeouts.developer_cli = std::time::Duration::from_millis(200);
    let cred = credential(CredentialKind::AzureCli, &opts).unwrap();
    let err = CredentialError::from_core(cred.get_token(&[SCOPE], None).await.unwrap_err(), "x");
    assert!(
        matches!(&err, CredentialError::TimedOut { source_name, last_error: None, .. } if source_name == "azure-cli"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("no token within 0.2 s"), "{text}");
    assert!(text.contains("`az account get-access-token`"), "{text}");

    // Under auto, both CLIs time out and the chain reports it.
    let (attempts, _) = auto_error(&opts).await;
    assert_eq!(
        attempt(&attempts, "azure-cli").outcome,
        AttemptOutcome::TimedOut
    );
    assert_eq!(
        attempt(&attempts, "azure-developer-cli").outcome,
        AttemptOutcome::TimedOut
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_chain_records_the_source_used_and_why_the_others_were_skipped() {
    let exec = Arc::new(
        FakeExecutor::new()
            .rule("az account", 1, "", "not logged in")
            .rule(
                "azd auth token",
                0,
                r#"{"token":"azd-token","expiresOn":"2099-01-01T00:00:00Z"}"#,
                "",
            ),
    );
    let chain = ChainCredential::new(&options(&[], Some(exec)));
    assert_eq!(chain.selection(), None);
    chain.get_token(&[SCOPE], None).await.unwrap();
    let selection = chain.selection().unwrap();
    assert_eq!(selection.source, "azure-developer-cli");
    let skipped: Vec<&str> = selection
        .skipped
        .iter()
        .map(|a| a.source.as_str())
        .collect();
    assert_eq!(skipped, ALL_SOURCES[..6]);
    assert_eq!(selection.skipped[5].outcome, AttemptOutcome::Failed);
}

fn jwt(claims: serde_json::Value) -> String {
    let payload = azure_core::base64::encode_url_safe(claims.to_string().as_bytes());
    format!("eyJhbGciOiJub25lIn0.{}.c2ln", payload.trim_end_matches('='))
}

#[test]
fn token_audience_warning_names_the_audience_found_and_expected() {
    let graph =
        jwt(serde_json::json!({"aud": "https://graph.microsoft.com", "exp": 4070908800u64}));
    let text = token_audience_warning(&graph, Cloud::AzureCloud).unwrap();
    assert!(
        text.contains("audience https://graph.microsoft.com"),
        "{text}"
    );
    assert!(
        text.contains("AzureCloud's ARM (https://management.azure.com)"),
        "{text}"
    );
    assert!(!text.contains(&graph), "token leaked: {text}");

    for aud in [
        "https://management.azure.com",
        "https://management.azure.com/",
        "https://management.core.windows.net",
        "https://management.core.windows.net/",
    ] {
        let token = jwt(serde_json::json!({ "aud": aud }));
        assert_eq!(
            token_audience_warning(&token, Cloud::AzureCloud),
            None,
            "{aud}"
        );
        // The public cloud's audience is foreign to Azure Government.
        assert!(
            token_audience_warning(&token, Cloud::AzureUSGovernment).is_some(),
            "{aud}"
        );
    }
    let gov = jwt(serde_json::json!({"aud": "https://management.core.usgovcloudapi.net/"}));
    assert_eq!(token_audience_warning(&gov, Cloud::AzureUSGovernment), None);
    let list = jwt(serde_json::json!({"aud": ["api://x", "https://management.azure.com/"]}));
    assert_eq!(token_audience_warning(&list, Cloud::AzureCloud), None);
    let none = jwt(serde_json::json!({"sub": "x"}));
    assert_eq!(token_audience_warning(&none, Cloud::AzureCloud), None);
    let hostile = jwt(serde_json::json!({"aud": "evil\u{1b}[2Jaud"}));
    let text = token_audience_warning(&hostile, Cloud::AzureCloud).unwrap();
    assert!(
        text.contains("evil[2Jaud") && !text.contains('\u{1b}'),
        "{text}"
    );

    // Not a JWT: nothing to say.
    for opaque in ["opaque", "a.b.c", "", "x.eyJhdWQiOjF9"] {
        assert_eq!(
            token_audience_warning(opaque, Cloud::AzureCloud),
            None,
            "{opaque}"
        );
    }
}

#[test]
fn credential_warnings_cover_the_endpoint_and_the_static_token() {
    let graph = jwt(serde_json::json!({"aud": "https://graph.microsoft.com"}));
    let opts = options(&[(ACCESS_TOKEN_VAR, graph.as_str())], None);
    let arm = Cloud::AzureCloud.arm_endpoint();
    let odd = Url::parse("https://example.net").unwrap();
    let local = Url::parse("http://127.0.0.1:8080").unwrap();
    assert_eq!(
        credential_warnings(CredentialKind::AccessToken, &opts, &arm).len(),
        1
    );
    assert_eq!(
        credential_warnings(CredentialKind::Auto, &opts, &local).len(),
        1
    );
    // The token is not used by other kinds.
    assert!(credential_warnings(CredentialKind::AzureCli, &opts, &arm).is_empty());
    let both = credential_warnings(CredentialKind::Auto, &opts, &odd);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both[0].starts_with("sending your token to https://example.net"),
        "{both:?}"
    );
    assert!(both.iter().all(|w| !w.contains(&graph)));
    assert!(credential_warnings(CredentialKind::Auto, &options(&[], None), &arm).is_empty());
}

#[test]
fn seconds_are_written_short() {
    assert_eq!(seconds(std::time::Duration::from_secs(3)), "3 s");
    assert_eq!(seconds(std::time::Duration::from_millis(500)), "0.5 s");
    assert_eq!(seconds(std::time::Duration::from_millis(2000)), "2 s");
}

/// A loopback listener that answers any connection with plain text and closes it: a TLS
/// handshake with it fails.
async fn plain_text_listener() -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"HTTP/1.1 400 Not TLS\r\n\r\n").await;
        }
    });
    format!("https://{addr}")
}

#[tokio::test]
async fn auto_moves_past_a_managed_identity_failing_tls() {
    let (chain, elapsed) = auto_past_managed_identity(&plain_text_listener().await).await;
    assert!(elapsed < QUICK, "{elapsed:?}");
    let selection = chain.selection().unwrap();
    assert_eq!(selection.source, "azure-cli");
    let mi = attempt(&selection.skipped, "managed-identity");
    assert_eq!(mi.outcome, AttemptOutcome::Failed, "{mi:?}");
    assert!(mi.message.contains("unreachable"), "{mi:?}");
}

/// Collects the messages of the `tracing` events emitted while it is the default subscriber.
#[derive(Default, Clone)]
struct EventLog(Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for EventLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }
        let mut text = String::new();
        event.record(&mut Message(&mut text));
        if *event.metadata().level() == tracing::Level::DEBUG {
            self.0.lock().unwrap().push(text);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(unix)]
#[tokio::test(flavor = "current_thread")]
async fn the_source_used_is_logged_at_debug() {
    let log = EventLog::default();
    let _guard = tracing::subscriber::set_default(log.clone());
    let chain = ChainCredential::new(&options(
        &[
            ("AZURE_CLIENT_ID", "app-1"),
            ("AZURE_TENANT_ID", "tenant-1"),
        ],
        Some(az_ok()),
    ));
    let token = chain.get_token(&[SCOPE], None).await.unwrap();
    let events = log.0.lock().unwrap().clone();
    let line = events
        .iter()
        .find(|e| e.starts_with("credential: "))
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        line.starts_with("credential: using azure-cli (skipped: access-token — not configured"),
        "{line}"
    );
    assert!(
        line.contains("environment — incomplete: AZURE_CLIENT_ID and AZURE_TENANT_ID are set"),
        "{line}"
    );
    assert!(!line.contains(token.token.secret()), "{line}");

    let log = EventLog::default();
    let _guard = tracing::subscriber::set_default(log.clone());
    credential(
        CredentialKind::AccessToken,
        &options(&[(ACCESS_TOKEN_VAR, "secret-token")], None),
    )
    .unwrap();
    let events = log.0.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e == "credential: using access-token (chosen with --credential access-token)"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| !e.contains("secret-token")),
        "{events:?}"
    );
}

#[test]
fn token_caller_reads_oid_tid_and_a_name() {
    let oid = "5A3B1E7C-0000-4000-8000-00000000BEEF";
    let tid = "31c75423-32d6-4322-88b7-c478bdde4858";
    let user = jwt(serde_json::json!({"oid": oid, "tid": tid, "upn": "engineer@contoso.com"}));
    let caller = token_caller(&user).unwrap();
    assert_eq!(caller.object_id, oid.to_ascii_lowercase());
    assert_eq!(caller.tenant_id.as_deref(), Some(tid));
    assert_eq!(caller.display_name.as_deref(), Some("engineer@contoso.com"));
    let app = jwt(serde_json::json!({"oid": oid, "appid": "0c1f…", "tid": "not-a-guid"}));
    let caller = token_caller(&app).unwrap();
    assert_eq!(caller.display_name.as_deref(), Some("0c1f…"));
    assert_eq!(caller.tenant_id, None);
    let hostile = jwt(serde_json::json!({"oid": oid, "unique_name": "a\u{1b}[2Jb"}));
    assert_eq!(
        token_caller(&hostile).unwrap().display_name.as_deref(),
        Some("a[2Jb")
    );
    // No object id, or one that is not a GUID (it goes into a $filter): nobody.
    for claims in [
        serde_json::json!({"tid": tid}),
        serde_json::json!({"oid": "x') or true or ('"}),
        serde_json::json!({"oid": 5}),
    ] {
        assert_eq!(token_caller(&jwt(claims)), None);
    }
    for opaque in ["opaque", "a.b.c", "", "x.eyJhdWQiOjF9"] {
        assert_eq!(token_caller(opaque), None, "{opaque}");
    }
}

proptest::proptest! {
    #[test]
    fn token_caller_never_panics_and_yields_only_guids(
        token in ".{0,200}",
        oid in "[0-9a-fA-F-]{0,40}|.{0,40}",
        name in ".{0,300}",
    ) {
        let _ = token_caller(&token);
        let built = jwt(serde_json::json!({"oid": oid, "upn": name}));
        if let Some(caller) = token_caller(&built) {
            proptest::prop_assert!(is_guid(&caller.object_id));
            let shown = caller.display_name.unwrap_or_default();
            proptest::prop_assert!(!shown.chars().any(char::is_control));
        }
    }
}
