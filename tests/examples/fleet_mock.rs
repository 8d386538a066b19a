//! A generated fleet on loopback (issue 8), to run the real binary over a management group:
//!
//! ```text
//! cargo run --release -p esu-preflight-tests --example fleet_mock -- 20 5000 50
//! # in another terminal, with the two lines it prints exported:
//! esu-preflight check --management-group mg-esu-fleet --credential access-token
//! ```
//!
//! Arguments: subscriptions (default 20), machines per subscription (default 5,000), latency in
//! ms per answer (default 50), and `quotas` to emulate ARM's and Resource Graph's quotas. The
//! machines and licenses are served by ARM lists and by Resource Graph alike (`--inventory
//! arm|graph`). It serves until killed.

use esu_preflight_tests::{CALLER_TOKEN, FleetMock, FleetSpec, QuotaSettings};
use std::time::Duration;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let spec = FleetSpec {
        subscriptions: number(0, 20),
        machines_per_subscription: number(1, 5_000),
        ..FleetSpec::issue8()
    };
    let latency = Duration::from_millis(number(2, 50) as u64);
    let quotas = args
        .iter()
        .any(|a| a == "quotas")
        .then(QuotaSettings::default);
    let fleet = FleetMock::start_with(spec.clone(), latency, quotas).await;
    println!("export ESU_PREFLIGHT_ARM_ENDPOINT={}", fleet.mock().uri());
    println!("export ESU_PREFLIGHT_ACCESS_TOKEN={CALLER_TOKEN}");
    println!(
        "# management group: {}; {} subscriptions × {} machines; {} ms per answer{}",
        spec.management_group,
        spec.subscriptions,
        spec.machines_per_subscription,
        latency.as_millis(),
        if fleet.quotas().is_some() {
            "; Azure's quotas emulated"
        } else {
            ""
        }
    );
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
