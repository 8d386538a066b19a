//! A simulated ARM on loopback, to try the real binary by hand:
//!
//! ```text
//! cargo run -p esu-preflight-tests --example arm_mock -- sql-missing
//! # in another terminal, with the two lines it prints exported:
//! esu-preflight check --subscription 291bba3f-e0a5-47bc-a099-3bdcb2a50a05 --credential access-token
//! ```
//!
//! Scenarios: `healthy`, `sql-missing`, `reader` (Sql missing, caller a Reader),
//! `providers-forbidden`, `throttled` (providers answer 429 with `Retry-After: 120`),
//! `registering` (HybridCompute registering), `estate` (ESU licenses and Arc machines, each with
//! its own problem). It serves until killed (or for the seconds given
//! as a second argument). Every request is answered as often as it comes.

use esu_preflight_tests::{
    ArmMock, PROVIDERS_API, SUB, TOKEN, arm_error, permissions_owner, permissions_reader,
    providers_json,
};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::query_param;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "healthy".to_owned());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3600);
    // Any number of runs: this server is for people, not for counted tests.
    let mock = ArmMock::start().await.expect_runs(u64::MAX);
    mock.subscription(SUB, "Enabled").await;
    let permissions = if scenario == "reader" {
        permissions_reader()
    } else {
        permissions_owner()
    };
    mock.permissions(SUB, permissions).await;
    match scenario.as_str() {
        "healthy" => mock.providers(SUB, &[]).await,
        "estate" => {
            mock.providers(SUB, &[]).await;
            let (licenses, machines) = esu_preflight_tests::troubled_estate(SUB);
            mock.hybrid_compute(SUB, licenses, machines).await;
        }
        "sql-missing" | "reader" => {
            mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
                .await
        }
        "registering" => {
            mock.providers(SUB, &[("Microsoft.HybridCompute", "Registering")])
                .await
        }
        "providers-forbidden" => mock.providers_forbidden(SUB).await,
        "throttled" => {
            mock.mount(
                mock.route("GET", &format!("/subscriptions/{SUB}/providers"))
                    .and(query_param("api-version", PROVIDERS_API))
                    .respond_with(
                        mock.json(
                            429,
                            arm_error(
                                "SubscriptionRequestsThrottled",
                                &format!(
                                    "Number of 'read' requests for subscription '{SUB}' actor \
                                     '5a3b1e7c-0000-4000-8000-00000000beef' exceeded. Please try \
                                     again after '120' seconds after the first request."
                                ),
                            ),
                        )
                        .insert_header("Retry-After", "120"),
                    ),
            )
            .await
        }
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(2);
        }
    }
    // `fix providers --yes` registers: answer with the provider Registering.
    for namespace in esu_preflight_tests::REQUIRED {
        mock.mount(
            mock.route(
                "POST",
                &format!("/subscriptions/{SUB}/providers/{namespace}/register"),
            )
            .respond_with(mock.json(
                200,
                json!(providers_json(SUB, &[(namespace, "Registering")])
                    .into_iter()
                    .find(|p| p["namespace"] == namespace)),
            )),
        )
        .await;
    }
    println!("export ESU_PREFLIGHT_ARM_ENDPOINT={}", mock.uri());
    println!("export ESU_PREFLIGHT_ACCESS_TOKEN={TOKEN}");
    println!("# subscription: {SUB}; scenario: {scenario}");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Leave without the drop-time verification meant for tests.
    std::process::exit(0);
}
