//! Benchmark: evaluating a 100,000-machine snapshot on one core.
//!
//! Builds a snapshot of 20 subscriptions × 5,000 Arc machines (Windows Server 2012, 2012 R2 and
//! 2016; most linked to one of 250 licenses per subscription, some unlinked, some disconnected or
//! with an old agent) from the real 2026-09-01 payload shapes, writes it to a file, then measures
//! on the current thread: loading the file (`Snapshot::load`), `checks::evaluate`, and rendering
//! the JSON report. Budget: evaluate under 1 s.
//!
//! Run: `cargo bench -p esu-preflight-tests --bench evaluate_fleet` (results in BENCHMARKS.md).

use esu_preflight::checks::{self, Config, EvalInput};
use esu_preflight::models::{Item, License, Machine};
use esu_preflight::render::{self, Format, RenderOptions};
use esu_preflight::snapshot::{Fact, Scope, Snapshot};
use esu_preflight::{Gate, Report};
use esu_preflight_tests::{license_json, link, machine_json};
use std::time::{Duration, Instant};

/// `ESU_FLEET_SUBSCRIPTIONS` overrides it (for profiling a smaller fleet).
const SUBSCRIPTIONS: usize = 20;
const MACHINES_PER_SUBSCRIPTION: usize = 5_000;
const LICENSES_PER_SUBSCRIPTION: usize = 250;
const RUNS: usize = 5;

fn subscriptions() -> usize {
    std::env::var("ESU_FLEET_SUBSCRIPTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SUBSCRIPTIONS)
}

fn subscription_id(index: usize) -> String {
    format!("{index:08x}-0000-4000-8000-000000000000")
}

/// One subscription's facts: a healthy base (the first subscription of the bundled example,
/// re-keyed), with this many licenses and machines.
fn fleet() -> Snapshot {
    let example = Snapshot::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/snapshots/contoso-esu.json"),
    )
    .expect("the bundled example loads");
    let base = example.subscriptions[0].clone();
    let ids: Vec<String> = (0..subscriptions()).map(subscription_id).collect();
    let mut snapshot = Snapshot::new(Scope::subscriptions(ids.iter().map(String::as_str)));
    for sub in &ids {
        let mut facts = base.clone();
        facts.subscription_id = sub.clone();
        facts.resource_groups.clear();
        facts.license_validations.clear();
        let licenses: Vec<serde_json::Value> = (0..LICENSES_PER_SUBSCRIPTION)
            .map(|i| {
                let (target, edition, kind, cores) = match i % 3 {
                    0 => ("Windows Server 2012", "Standard", "vCore", 160),
                    1 => ("Windows Server 2012 R2", "Datacenter", "pCore", 320),
                    _ => ("Windows Server 2016", "Standard", "vCore", 160),
                };
                license_json(sub, &format!("esu-{i:03}"), target, edition, kind, cores)
            })
            .collect();
        let machines: Vec<serde_json::Value> = (0..MACHINES_PER_SUBSCRIPTION)
            .map(|i| {
                let (sku, version) = match i % 3 {
                    0 => ("Windows Server 2012 Standard", "6.2.9200"),
                    1 => ("Windows Server 2012 R2 Datacenter", "6.3.9600"),
                    _ => ("Windows Server 2016 Standard", "10.0.14393"),
                };
                let agent = if i % 50 == 0 { "1.30.0" } else { "1.62.0" };
                let mut machine = machine_json(sub, &format!("srv-{i:05}"), sku, version, agent, 8);
                if i % 97 == 0 {
                    machine["properties"]["status"] = serde_json::json!("Disconnected");
                }
                // Nine in ten are linked, each to a license of its own program.
                if i % 10 != 0 {
                    let license =
                        &licenses[(i % 3) + 3 * ((i / 3) % (LICENSES_PER_SUBSCRIPTION / 3))];
                    link(&mut machine, license);
                }
                machine
            })
            .collect();
        let licenses: Vec<Item<License>> = decode(licenses);
        let machines: Vec<Item<Machine>> = decode(machines);
        facts.licenses = Some(Fact::Available { value: licenses });
        facts.machines = Some(Fact::Available { value: machines });
        snapshot.subscriptions.push(facts);
    }
    snapshot
}

/// Decodes list items as gather does, one by one.
fn decode<T>(items: Vec<serde_json::Value>) -> Vec<Item<T>>
where
    Item<T>: serde::de::DeserializeOwned,
{
    items
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("decodes"))
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let built = Instant::now();
    let snapshot = fleet();
    let file = std::env::temp_dir().join(format!("esu-fleet-{}.json", std::process::id()));
    std::fs::write(&file, snapshot.to_json_pretty()).expect("writes the snapshot");
    let bytes = std::fs::metadata(&file)
        .map(|m| m.len())
        .unwrap_or_default();
    eprintln!(
        "built {} machines in {:.1?}; snapshot file {:.1} MB",
        subscriptions() * MACHINES_PER_SUBSCRIPTION,
        built.elapsed(),
        bytes as f64 / 1e6
    );
    let config = Config::default();
    let now = time::macros::datetime!(2026-11-29 12:00 UTC);
    // `ESU_FLEET_PROFILE=N`: only evaluate, N times (for `perf record`).
    if let Some(n) = std::env::var("ESU_FLEET_PROFILE")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        for _ in 0..n {
            let start = Instant::now();
            let findings = checks::evaluate(&EvalInput::new(&snapshot, &config, now));
            eprintln!(
                "evaluate: {} findings in {:.0?}",
                findings.len(),
                start.elapsed()
            );
        }
        return;
    }
    let (mut load, mut evaluate, mut render_json) = (Vec::new(), Vec::new(), Vec::new());
    let mut findings_count = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let loaded = Snapshot::load(&file).expect("loads");
        load.push(start.elapsed());

        let start = Instant::now();
        let findings = checks::evaluate(&EvalInput::new(&loaded, &config, now));
        evaluate.push(start.elapsed());
        findings_count = findings.len();

        let start = Instant::now();
        let report = Report::new(loaded.scope.clone(), findings, Gate::default());
        let mut out = Vec::with_capacity(64 << 20);
        render::render(&report, Format::Json, &RenderOptions::default(), &mut out)
            .expect("renders");
        render_json.push(start.elapsed());
    }
    let _ = std::fs::remove_file(&file);
    let evaluate_median = median(evaluate);
    println!("| step | median of {RUNS} |");
    println!("|---|---|");
    println!(
        "| load the snapshot file ({:.0} MB) | {:.0?} |",
        bytes as f64 / 1e6,
        median(load)
    );
    println!(
        "| evaluate ({} machines, {} findings; budget 1 s) | {:.0?} |",
        subscriptions() * MACHINES_PER_SUBSCRIPTION,
        findings_count,
        evaluate_median
    );
    println!("| render the JSON report | {:.0?} |", median(render_json));
    if evaluate_median > Duration::from_secs(1) {
        println!("\nevaluate is over its 1 s budget");
    }
}
