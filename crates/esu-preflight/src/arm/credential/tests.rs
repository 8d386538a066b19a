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
