//! Benchmark: `check` on one subscription against the in-process ARM mock with 50 ms of latency
//! injected into every response.
//!
//! Reports the wall time of gather → evaluate → render against the critical path (the longest
//! chain of requests that depend on each other, × 50 ms), the requests per run, the most
//! times any one request (method, URL and body) was sent in a run (must be 1), and the median
//! of each phase (gather with its client; evaluate and render).
//!
//! Scenarios: the providers in one page and over three pages (nothing else to read), and one
//! subscription with everything (issue 7): 7 required providers, 50 policy assignments (one of
//! them an initiative of three members), the caller's role assignment, 200 Arc machines, 20
//! ESU licenses, and a plan of 20 licenses linking 10 machines each — at the default 16
//! requests in flight, and at 64. With more requests than can be in flight at once, the run
//! cannot beat `ceil(requests / in flight) × 50 ms` either: that bound is reported too.
//!
//! Run: `cargo bench -p esu-preflight-tests` (results are recorded in BENCHMARKS.md).
//!
//! `ESU_BENCH_PROFILE=N` measures only what follows gather in the "everything" scenario: it
//! gathers once without injected latency, then evaluates and renders the table N times and
//! prints the median of each step (a loop to put under `perf record`). With
//! `ESU_BENCH_DUMP=DIR` it also writes the snapshot, the JSON report and the table of that
//! scenario to `DIR` (evaluated at a fixed time, so two builds' outputs can be diffed).

/// The allocator the CLI uses: the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use esu_preflight::checks::{self, Config};
use esu_preflight::gather::GatherOptions;
use esu_preflight::plan::LicensePlan;
use esu_preflight::render::{self, Format, RenderOptions};
use esu_preflight::snapshot::Scope;
use esu_preflight::{Gate, Report};
use esu_preflight_tests::{ArmMock, CALLER_TOKEN, SUB, everything, providers_json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(50);
/// Runs per scenario: 20, or `ESU_BENCH_RUNS` (a quick smoke run: `ESU_BENCH_RUNS=1 cargo test
/// -p esu-preflight-tests --bench check_latency`).
fn runs() -> usize {
    std::env::var("ESU_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(20)
}

struct Scenario {
    name: &'static str,
    provider_pages: usize,
    everything: bool,
    concurrency: usize,
}

struct Row {
    name: &'static str,
    critical_path: Duration,
    concurrency_bound: Duration,
    median: Duration,
    p90: Duration,
    requests_per_run: usize,
    max_fetches_of_one_request: usize,
    /// The medians of the two phases: gather (with the client), and evaluate + render.
    gather: Duration,
    after_gather: Duration,
}

fn caller_client(mock: &ArmMock, concurrency: usize) -> ArmClient {
    esu_preflight_tests::client_with(
        mock,
        CALLER_TOKEN,
        ArmClientOptions {
            timeout: Duration::from_secs(60),
            concurrency,
            ..ArmClientOptions::default()
        },
    )
}

async fn measure(scenario: &Scenario) -> Row {
    // Every counted route is read once per run; the mock checks that when it is dropped.
    let mock = ArmMock::start_with_delay(LATENCY)
        .await
        .expect_runs(runs() as u64);
    let plan = if scenario.everything {
        // Issue 7's subscription (the `everything` module of the tests crate).
        everything::mount(&mock).await
    } else {
        mock.subscription(SUB, "Enabled").await;
        mock.permissions(SUB, esu_preflight_tests::permissions_owner())
            .await;
        let providers = providers_json(SUB, &[("Microsoft.Sql", "NotRegistered")]);
        let chunk = providers.len().div_ceil(scenario.provider_pages);
        mock.providers_paged(SUB, providers.chunks(chunk).map(<[_]>::to_vec).collect())
            .await;
        LicensePlan::new()
    };
    // The longest chain of requests that depend on each other: the provider pages in sequence;
    // an assignment, then its definition (or initiative, then its members); the caller's role
    // assignments, then their definitions; the permissions (and the machines), then the
    // service's dry runs of the plan. Everything else is read at once in the first round.
    let policy_chain = if scenario.everything { 3 } else { 1 };
    let plan_chain = if plan.is_empty() { 1 } else { 2 };
    let chain = scenario.provider_pages.max(policy_chain).max(plan_chain);
    let critical_path = LATENCY * u32::try_from(chain).expect("small");
    let scope = Scope::subscriptions([SUB]);
    let options = GatherOptions {
        plan: plan.clone(),
        ..GatherOptions::default()
    };

    let runs = runs();
    let mut times = Vec::with_capacity(runs);
    let mut gathers = Vec::with_capacity(runs);
    let mut afters = Vec::with_capacity(runs);
    let mut seen = 0;
    let mut requests_per_run = 0;
    let mut max_fetches_of_one_request = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let client = caller_client(&mock, scenario.concurrency);
        let snapshot = esu_preflight::gather::gather_with(&client, &scope, &options)
            .await
            .expect("gather");
        let gathered = started.elapsed();
        let config = Config::default();
        let findings = checks::evaluate(
            &checks::EvalInput::new(&snapshot, &config, time::OffsetDateTime::now_utc())
                .with_plan(&plan),
        );
        let report = Report::new(scope.clone(), findings, Gate::default());
        let mut out = Vec::new();
        render::render(&report, Format::Table, &RenderOptions::default(), &mut out)
            .expect("render");
        let elapsed = started.elapsed();
        times.push(elapsed);
        gathers.push(gathered);
        afters.push(elapsed - gathered);

        let received = mock.received().await;
        let run = &received[seen..];
        seen = received.len();
        requests_per_run = requests_per_run.max(run.len());
        let mut per_request: HashMap<(String, String, Vec<u8>), usize> = HashMap::new();
        for request in run {
            *per_request
                .entry((
                    request.method.to_string(),
                    request.url.to_string(),
                    request.body.clone(),
                ))
                .or_default() += 1;
        }
        max_fetches_of_one_request =
            max_fetches_of_one_request.max(per_request.into_values().max().unwrap_or(0));
    }
    times.sort();
    gathers.sort();
    afters.sort();
    let waves = u32::try_from(requests_per_run.div_ceil(scenario.concurrency)).expect("small");
    Row {
        name: scenario.name,
        critical_path,
        concurrency_bound: LATENCY * waves,
        median: times[runs / 2],
        p90: times[runs * 9 / 10],
        requests_per_run,
        max_fetches_of_one_request,
        gather: gathers[runs / 2],
        after_gather: afters[runs / 2],
    }
}

/// `ESU_BENCH_PROFILE=N`: evaluate and render the "everything" scenario N times after one
/// gather without latency; the median of each step.
fn profile(runtime: &tokio::runtime::Runtime, n: usize) {
    let (snapshot, plan) = runtime.block_on(async {
        let mock = ArmMock::start().await;
        let plan = everything::mount(&mock).await;
        let client = caller_client(&mock, 128);
        let options = GatherOptions {
            plan: plan.clone(),
            ..GatherOptions::default()
        };
        let snapshot =
            esu_preflight::gather::gather_with(&client, &Scope::subscriptions([SUB]), &options)
                .await
                .expect("gather");
        (snapshot, plan)
    });
    // What a run spends before its first request: the client (TLS roots are loaded here).
    let mut clients: Vec<Duration> = (0..n.min(20))
        .map(|_| {
            runtime.block_on(async {
                let mock_uri = "http://127.0.0.1:9";
                let started = Instant::now();
                let client = ArmClient::new(
                    Arc::new(StaticTokenCredential::new(CALLER_TOKEN)),
                    ArmClientOptions {
                        endpoint: Some(url::Url::parse(mock_uri).expect("a URL")),
                        ..ArmClientOptions::default()
                    },
                );
                let elapsed = started.elapsed();
                drop(client);
                elapsed
            })
        })
        .collect();
    clients.sort();
    println!(
        "a new client: {:.2} ms (median; min {:.2})",
        clients[clients.len() / 2].as_secs_f64() * 1e3,
        clients[0].as_secs_f64() * 1e3
    );
    let config = Config::default();
    // A fixed time: the outputs of two builds can be diffed.
    let now = time::macros::datetime!(2026-11-29 12:00 UTC);
    let dump = std::env::var_os("ESU_BENCH_DUMP").map(std::path::PathBuf::from);
    let (mut evaluate, mut report_time, mut table) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..n {
        let started = Instant::now();
        let findings =
            checks::evaluate(&checks::EvalInput::new(&snapshot, &config, now).with_plan(&plan));
        let evaluated = Instant::now();
        let report = Report::new(snapshot.scope.clone(), findings, Gate::default());
        let reported = Instant::now();
        let mut out = Vec::new();
        render::render(&report, Format::Table, &RenderOptions::default(), &mut out)
            .expect("render");
        let rendered = Instant::now();
        evaluate.push(evaluated - started);
        report_time.push(reported - evaluated);
        table.push(rendered - reported);
        if run == 0
            && let Some(dir) = &dump
        {
            std::fs::create_dir_all(dir).expect("dump directory");
            let mut json = Vec::new();
            render::render(&report, Format::Json, &RenderOptions::default(), &mut json)
                .expect("render");
            std::fs::write(dir.join("report.json"), json).expect("write");
            std::fs::write(dir.join("table.txt"), &out).expect("write");
            std::fs::write(
                dir.join("snapshot.json"),
                serde_json::to_vec_pretty(&snapshot).expect("snapshot"),
            )
            .expect("write");
            println!(
                "{} findings, {} table bytes written to {}",
                report.findings.len(),
                out.len(),
                dir.display()
            );
        }
    }
    // The minimum too: on a shared machine it is the least disturbed run.
    let stats = |mut times: Vec<Duration>| {
        times.sort();
        format!(
            "{:.2} ms (min {:.2})",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3
        )
    };
    println!(
        "everything, after gather, {n} runs, medians: evaluate {}, report {}, table {}",
        stats(evaluate),
        stats(report_time),
        stats(table)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(n) = std::env::var("ESU_BENCH_PROFILE")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        profile(&runtime, n);
        return;
    }
    let scenarios = [
        Scenario {
            name: "providers in one page",
            provider_pages: 1,
            everything: false,
            concurrency: 16,
        },
        Scenario {
            name: "providers over three pages",
            provider_pages: 3,
            everything: false,
            concurrency: 16,
        },
        Scenario {
            name: "everything, 16 in flight",
            provider_pages: 1,
            everything: true,
            concurrency: 16,
        },
        Scenario {
            name: "everything, 64 in flight",
            provider_pages: 1,
            everything: true,
            concurrency: 64,
        },
        Scenario {
            name: "everything, 128 in flight",
            provider_pages: 1,
            everything: true,
            concurrency: 128,
        },
    ];
    println!(
        "check, one subscription, {} ms per response, {} runs each\n",
        LATENCY.as_millis(),
        runs()
    );
    println!(
        "| scenario | critical path | in-flight bound | median | p90 | median / critical path | median / max(bounds) | requests per run | max sends of one request | gather | evaluate + render |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for scenario in &scenarios {
        let row = runtime.block_on(measure(scenario));
        let ratio = row.median.as_secs_f64() / row.critical_path.as_secs_f64();
        let bound = row.critical_path.max(row.concurrency_bound);
        let bound_ratio = row.median.as_secs_f64() / bound.as_secs_f64();
        ok &= bound_ratio <= 1.3 && row.max_fetches_of_one_request == 1;
        println!(
            "| {} | {} ms | {} ms | {:.1} ms | {:.1} ms | {ratio:.2}× | {bound_ratio:.2}× | {} | {} | {:.1} ms | {:.1} ms |",
            row.name,
            row.critical_path.as_millis(),
            row.concurrency_bound.as_millis(),
            row.median.as_secs_f64() * 1e3,
            row.p90.as_secs_f64() * 1e3,
            row.requests_per_run,
            row.max_fetches_of_one_request,
            row.gather.as_secs_f64() * 1e3,
            row.after_gather.as_secs_f64() * 1e3,
        );
    }
    println!(
        "\ntarget: median within 1.3× of the larger of the critical path and the in-flight bound, \
         no request sent twice: {}",
        if ok { "met" } else { "NOT MET" }
    );
}
