//! A simulated ARM on loopback, to try the real binary by hand:
//!
//! ```text
//! cargo run -p esu-preflight-tests --example arm_mock -- sql-missing
//! # in another terminal, with the two lines it prints exported:
//! esu-preflight check --subscription 291bba3f-e0a5-47bc-a099-3bdcb2a50a05 --credential access-token
//! ```
//!
//! Scenarios: `healthy`, `sql-missing`, `reader` (Sql missing, caller a Reader at the
//! subscription and so in every resource group, machine `srv-r2` as below),
//! `providers-forbidden`, `throttled` (providers answer 429 with `Retry-After: 120`),
//! `registering` (HybridCompute registering), `estate` (ESU licenses and Arc machines, each with
//! its own problem). Access and policy (issue 7; every provider registered, one WS2012 R2
//! Standard machine `srv-r2` in `rg-arc` for a plan to link): `contributor` (the caller holds
//! Contributor), `owner-mg` (Owner inherited from management group `mg-contoso`),
//! `deny-assignment` (Contributor, and a deny assignment on license and license-profile
//! writes), `policy-blocked` (Contributor; an enforced Not allowed resource types assignment
//! listing `microsoft.hybridcompute/licenses` and a `DoNotEnforce` ESU-deny assignment;
//! `checkPolicyRestrictions` names the first), `initiative` (Contributor; an initiative whose
//! ESU-deny member takes `Deny` from the set's parameter). The token printed names the caller
//! (a JWT with an object id), so role assignments are read as the caller's. It serves until
//! killed (or for the seconds given as a second argument). Every request is answered as often
//! as it comes.

use esu_preflight_tests::{
    ArmMock, CALLER_TOKEN, PROVIDERS_API, SUB, arm_error, machine_json, permissions_owner,
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
    let access = [
        "reader",
        "contributor",
        "owner-mg",
        "deny-assignment",
        "policy-blocked",
        "initiative",
    ];
    if access.contains(&scenario.as_str()) {
        // The caller's role sets the permissions (and the role assignment and definition).
        if scenario == "reader" {
            mock.providers(SUB, &[("Microsoft.Sql", "NotRegistered")])
                .await;
        } else {
            mock.providers(SUB, &[]).await;
        }
        let machine = machine_json(
            SUB,
            "srv-r2",
            "Windows Server 2012 R2 Standard",
            "6.3.9600.20778",
            "1.40.02664.1629",
            16,
        );
        mock.hybrid_compute(SUB, Vec::new(), vec![machine]).await;
        mock.mount(
            mock.route(
                "POST",
                &format!("/subscriptions/{SUB}/providers/Microsoft.HybridCompute/validateLicense"),
            )
            .respond_with(mock.json(
                200,
                esu_preflight_tests::fixture_body("hybridcompute/License_ValidateLicense.json"),
            )),
        )
        .await;
        match scenario.as_str() {
            "owner-mg" => {
                mock.caller_owner_from_management_group(SUB, "mg-contoso")
                    .await;
            }
            "reader" => mock.caller_reader(SUB).await,
            _ => mock.caller_contributor(SUB).await,
        }
    } else {
        mock.permissions(SUB, permissions_owner()).await;
    }
    match scenario.as_str() {
        "contributor" | "owner-mg" | "reader" => {}
        "deny-assignment" => mock.deny_esu_writes(SUB).await,
        "policy-blocked" => {
            mock.policy_blocked(SUB).await;
        }
        "initiative" => {
            mock.policy_initiative(SUB, "Deny").await;
        }
        "healthy" => mock.providers(SUB, &[]).await,
        "estate" => {
            mock.providers(SUB, &[]).await;
            let (licenses, machines) = esu_preflight_tests::troubled_estate(SUB);
            mock.hybrid_compute(SUB, licenses, machines).await;
        }
        "sql-missing" => {
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
    println!("export ESU_PREFLIGHT_ACCESS_TOKEN={CALLER_TOKEN}");
    println!("# subscription: {SUB}; scenario: {scenario}");
    println!(
        "# e.g. esu-preflight check --subscription {SUB} --credential access-token \
         --license-plan tests/fixtures/plans/arm-mock.toml"
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Leave without the drop-time verification meant for tests.
    std::process::exit(0);
}
