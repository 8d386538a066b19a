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
//! ESU-deny member takes `Deny` from the set's parameter). `everything`: issue 7's subscription
//! of the `check_latency` benchmark (`esu_preflight_tests::everything`: 7 providers, 50 policy
//! assignments, the caller a Contributor, 200 machines, 20 licenses) with its plan of 20
//! licenses, written as JSON to the file `--plan FILE` names (what `scripts/bench-python-sdk`
//! serves). The token printed names the caller (a JWT with an object id), so role assignments
//! are read as the caller's. It serves until killed (or for the seconds given as a second
//! argument). Every request is answered as often as it comes.
//!
//! Options (after the scenario): `--latency-ms N` waits N ms before every answer (as the
//! benchmarks inject; default 0); `--plan FILE` writes the scenario's license plan to FILE (the
//! `everything` scenario only).
//!
//! `GET /_mock/requests` (no token, no latency) answers the requests received since the
//! previous call, as a JSON list of `{"method", "url", "body"}` in order, and forgets them: how
//! a script counts the requests of one run (`curl -s $ESU_PREFLIGHT_ARM_ENDPOINT/_mock/requests`).

use esu_preflight_tests::wiremock::{self, Mock, Request, Respond, ResponseTemplate};
use esu_preflight_tests::{
    ArmMock, CALLER_TOKEN, PROVIDERS_API, SUB, arm_error, machine_json, permissions_owner,
    providers_json,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::query_param;

/// The path of the request log (see the module docs).
const REQUEST_LOG: &str = "/_mock/requests";

/// The requests received since the log was last read.
type Log = Arc<Mutex<Vec<Value>>>;

/// Records every request but those reading the log; never matches (so the request goes on to
/// its route).
struct Record(Log);

impl wiremock::Match for Record {
    fn matches(&self, request: &Request) -> bool {
        if request.url.path() != REQUEST_LOG {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(json!({
                    "method": request.method.as_str(),
                    "url": request.url.as_str(),
                    "body": String::from_utf8_lossy(&request.body),
                }));
        }
        false
    }
}

/// Answers the log and empties it.
struct Drain(Log);

impl Respond for Drain {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let taken = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        ResponseTemplate::new(200).set_body_json(Value::Array(taken))
    }
}

/// The command line: `SCENARIO [SECONDS] [--latency-ms N] [--plan FILE]`.
struct Args {
    scenario: String,
    seconds: u64,
    latency: Duration,
    plan: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut positional = Vec::new();
    let mut latency = Duration::ZERO;
    let mut plan = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--latency-ms" => {
                let Some(ms) = args.next().and_then(|ms| ms.parse().ok()) else {
                    eprintln!("--latency-ms takes a number of milliseconds");
                    std::process::exit(2);
                };
                latency = Duration::from_millis(ms);
            }
            "--plan" => {
                let Some(file) = args.next() else {
                    eprintln!("--plan takes a file name");
                    std::process::exit(2);
                };
                plan = Some(PathBuf::from(file));
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    Args {
        scenario: positional.next().unwrap_or_else(|| "healthy".to_owned()),
        seconds: positional
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3600),
        latency,
        plan,
    }
}

#[tokio::main]
async fn main() {
    let Args {
        scenario,
        seconds,
        latency,
        plan,
    } = parse_args();
    // Any number of runs: this server is for people, not for counted tests.
    let mock = ArmMock::start_with_delay(latency)
        .await
        .expect_runs(u64::MAX);
    // The request log: read first (registration order breaks the tie), then the recorder,
    // ahead of every route.
    let log = Log::default();
    mock.mount(
        Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(REQUEST_LOG))
            .respond_with(Drain(Arc::clone(&log)))
            .with_priority(1)
            .named("the request log"),
    )
    .await;
    mock.mount(
        Mock::given(Record(Arc::clone(&log)))
            .respond_with(ResponseTemplate::new(500))
            .with_priority(1)
            .named("records every request"),
    )
    .await;
    if scenario == "everything" {
        let planned = esu_preflight_tests::everything::mount(&mock).await;
        if let Some(file) = &plan {
            let text = serde_json::to_string_pretty(&planned).expect("a plan serializes");
            if let Err(e) = std::fs::write(file, text) {
                eprintln!("cannot write the plan to {}: {e}", file.display());
                std::process::exit(2);
            }
        }
    } else if plan.is_some() {
        eprintln!(
            "--plan: only the everything scenario has a plan (tests/fixtures/plans/arm-mock.toml \
             is the others')"
        );
        std::process::exit(2);
    } else {
        mount_scenario(&mock, &scenario).await;
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
    println!(
        "# subscription: {SUB}; scenario: {scenario}; latency: {} ms",
        latency.as_millis()
    );
    match (scenario.as_str(), &plan) {
        ("everything", Some(file)) => println!(
            "# e.g. esu-preflight check --subscription {SUB} --credential access-token \
             --concurrency 64 --license-plan {}",
            file.display()
        ),
        ("everything", None) => println!("# its plan of 20 licenses: pass --plan FILE to write it"),
        _ => println!(
            "# e.g. esu-preflight check --subscription {SUB} --credential access-token \
             --license-plan tests/fixtures/plans/arm-mock.toml"
        ),
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Leave without the drop-time verification meant for tests.
    std::process::exit(0);
}

/// Mounts one of the scenarios other than `everything` (see the module docs).
async fn mount_scenario(mock: &ArmMock, scenario: &str) {
    mock.subscription(SUB, "Enabled").await;
    let access = [
        "reader",
        "contributor",
        "owner-mg",
        "deny-assignment",
        "policy-blocked",
        "initiative",
    ];
    if access.contains(&scenario) {
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
        mock.mount(mock.validate_license_accepts(SUB)).await;
        match scenario {
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
    match scenario {
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
}
