//! Benchmark: `check` on one subscription against the in-process ARM mock with 50 ms of latency
//! injected into every response.
//!
//! Reports the wall time of gather → evaluate → render against the critical path (the longest
//! chain of requests that depend on each other, × 50 ms), the requests per run, and the most
//! times any one URL was fetched in a run (must be 1).
//!
//! Run: `cargo bench -p esu-preflight-tests` (results are recorded in BENCHMARKS.md).

use esu_preflight::checks::{self, Config};
use esu_preflight::render::{self, Format, RenderOptions};
use esu_preflight::snapshot::Scope;
use esu_preflight::{Gate, Report};
use esu_preflight_tests::{ArmMock, SUB, client, permissions_owner, providers_json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(50);
const RUNS: usize = 20;

struct Scenario {
    name: &'static str,
    provider_pages: usize,
}

struct Row {
    name: &'static str,
    critical_path: Duration,
    median: Duration,
    p90: Duration,
    requests_per_run: usize,
    max_fetches_of_one_url: usize,
}

async fn measure(scenario: &Scenario) -> Row {
    // Every route is read once per run; the mock checks that when it is dropped.
    let mock = ArmMock::start_with_delay(LATENCY)
        .await
        .expect_runs(RUNS as u64);
    mock.subscription(SUB, "Enabled").await;
    mock.permissions(SUB, permissions_owner()).await;
    let providers = providers_json(SUB, &[("Microsoft.Sql", "NotRegistered")]);
    let chunk = providers.len().div_ceil(scenario.provider_pages);
    mock.providers_paged(SUB, providers.chunks(chunk).map(<[_]>::to_vec).collect())
        .await;
    // Independent chains: subscription (1), providers (pages, in sequence), permissions (1), ESU
    // licenses (1), Arc machines (1), the ESU patch policy's states (1).
    let chain = 1.max(scenario.provider_pages);
    let critical_path = LATENCY * u32::try_from(chain).expect("small");
    let scope = Scope::subscriptions([SUB]);

    let mut times = Vec::with_capacity(RUNS);
    let mut seen = 0;
    let mut requests_per_run = 0;
    let mut max_fetches_of_one_url = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let client = client(&mock);
        let snapshot = esu_preflight::gather::gather(&client, &scope)
            .await
            .expect("gather");
        let config = Config::default();
        let findings = checks::evaluate(&checks::EvalInput::new(
            &snapshot,
            &config,
            time::OffsetDateTime::now_utc(),
        ));
        let report = Report::new(scope.clone(), findings, Gate::default());
        let mut out = Vec::new();
        render::render(&report, Format::Table, &RenderOptions::default(), &mut out)
            .expect("render");
        times.push(started.elapsed());

        let received = mock.received().await;
        let run = &received[seen..];
        seen = received.len();
        requests_per_run = requests_per_run.max(run.len());
        let mut per_url: HashMap<String, usize> = HashMap::new();
        for request in run {
            *per_url.entry(request.url.to_string()).or_default() += 1;
        }
        max_fetches_of_one_url =
            max_fetches_of_one_url.max(per_url.into_values().max().unwrap_or(0));
    }
    times.sort();
    Row {
        name: scenario.name,
        critical_path,
        median: times[RUNS / 2],
        p90: times[RUNS * 9 / 10],
        requests_per_run,
        max_fetches_of_one_url,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scenarios = [
        Scenario {
            name: "providers in one page",
            provider_pages: 1,
        },
        Scenario {
            name: "providers over three pages",
            provider_pages: 3,
        },
    ];
    println!(
        "check, one subscription, {} ms per response, {RUNS} runs each\n",
        LATENCY.as_millis()
    );
    println!(
        "| scenario | critical path | median | p90 | median / critical path | requests per run | max fetches of one URL |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut ok = true;
    for scenario in &scenarios {
        let row = runtime.block_on(measure(scenario));
        let ratio = row.median.as_secs_f64() / row.critical_path.as_secs_f64();
        ok &= ratio <= 1.3 && row.max_fetches_of_one_url == 1;
        println!(
            "| {} | {} ms | {:.1} ms | {:.1} ms | {ratio:.2}× | {} | {} |",
            row.name,
            row.critical_path.as_millis(),
            row.median.as_secs_f64() * 1e3,
            row.p90.as_secs_f64() * 1e3,
            row.requests_per_run,
            row.max_fetches_of_one_url,
        );
    }
    println!(
        "\ntarget: median within 1.3× of the critical path, no URL fetched twice: {}",
        if ok { "met" } else { "NOT MET" }
    );
}
