//! Benchmark: evaluating a 100,000-machine snapshot on one core.
//!
//! Builds a snapshot of 20 subscriptions × 5,000 Arc machines (Windows Server 2012, 2012 R2 and
//! 2016; most linked to one of 250 licenses per subscription, some unlinked, some disconnected or
//! with an old agent) from the real 2026-09-01 payload shapes, writes it to a file, then measures
//! on the current thread: loading the file (`Snapshot::load`), `checks::evaluate`, and rendering
//! the JSON report. Budget: evaluate under 1 s.
//!
//! Run: `cargo bench -p esu-preflight-tests --bench evaluate_fleet` (results in BENCHMARKS.md).
//! On one core, as the budget is stated: build it with `--no-run`, then run the executable it
//! names under `taskset -c 0` (Linux), e.g.
//! `taskset -c 0 target/release/deps/evaluate_fleet-HASH`. Each step is reported as wall time
//! and as the time this thread spent on a CPU, the steadier number on a shared machine.
//!
//! The benchmark uses the CLI's global allocator (mimalloc), so it measures what
//! `esu-preflight check --snapshot` runs; the library sets none.
//!
//! Environment: `ESU_FLEET_SUBSCRIPTIONS=N` makes the fleet smaller (N × 5,000 machines);
//! `ESU_FLEET_PROFILE=N` only evaluates, N times (for `perf record`);
//! `ESU_FLEET_REPORT=DIR` only writes the JSON reports of the fleet and of the bundled example
//! snapshot (alone and with each example plan) to DIR, to diff before and after a change to
//! evaluation: they must stay byte for byte the same.

use esu_preflight::checks::{self, Config, EvalInput};
use esu_preflight::models::{Item, License, Machine};
use esu_preflight::render::{self, Format, RenderOptions};
use esu_preflight::snapshot::{Fact, Scope, Snapshot};
use esu_preflight::{Gate, Report};
use esu_preflight_tests::{FleetSpec, link, machine_json};
use std::time::{Duration, Instant};

/// The CLI's allocator, so the benchmark measures what `esu-preflight check --snapshot` runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        // The fleet mock's licenses (2012, 2012 R2 and 2016 in turn).
        let licenses = FleetSpec {
            licenses_per_subscription: LICENSES_PER_SUBSCRIPTION,
            ..FleetSpec::issue8()
        }
        .licenses(sub);
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

/// The median wall time, and the median CPU time (each on its own).
fn median(times: &[(Duration, Option<Duration>)]) -> (Duration, Option<Duration>) {
    let mut wall: Vec<Duration> = times.iter().map(|t| t.0).collect();
    let mut cpu: Vec<Duration> = times.iter().filter_map(|t| t.1).collect();
    wall.sort();
    cpu.sort();
    (wall[wall.len() / 2], cpu.get(cpu.len() / 2).copied())
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
    // `ESU_FLEET_REPORT=DIR`: only write the JSON reports of this fleet and of the bundled
    // example snapshot to DIR (to diff them before and after a change to evaluation).
    if let Some(dir) = std::env::var_os("ESU_FLEET_REPORT") {
        let dir = std::path::PathBuf::from(dir);
        let example = Snapshot::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/snapshots/contoso-esu.json"),
        )
        .expect("the bundled example loads");
        let loaded = Snapshot::load(&file).expect("loads");
        let _ = std::fs::remove_file(&file);
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let plans: Vec<(String, esu_preflight::plan::LicensePlan)> =
            ["ws2008.toml", "ws2012.toml", "ws2016.toml", "ws2012.json"]
                .into_iter()
                .map(|name| {
                    let path = examples.join("plans").join(name);
                    let plan = esu_preflight::plan::LicensePlan::load(&path).expect("plan loads");
                    (format!("example-{name}"), plan)
                })
                .collect();
        let empty = esu_preflight::plan::LicensePlan::new();
        let runs = [
            ("fleet".to_owned(), &loaded, &empty),
            ("example".to_owned(), &example, &empty),
        ]
        .into_iter()
        .chain(
            plans
                .iter()
                .map(|(name, plan)| (name.clone(), &example, plan)),
        );
        for (name, snapshot, plan) in runs {
            let findings =
                checks::evaluate(&EvalInput::new(snapshot, &config, now).with_plan(plan));
            let report = Report::new(snapshot.scope.clone(), findings, Gate::default());
            let mut out = Vec::new();
            render::render(&report, Format::Json, &RenderOptions::default(), &mut out)
                .expect("renders");
            let path = dir.join(format!("{name}-report.json"));
            std::fs::write(&path, out).expect("writes the report");
            eprintln!("wrote {}", path.display());
        }
        return;
    }
    // `ESU_FLEET_PROFILE=N`: only evaluate, N times (for `perf record`).
    if let Some(n) = std::env::var("ESU_FLEET_PROFILE")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        for _ in 0..n {
            let (findings, (wall, cpu)) =
                timed(|| checks::evaluate(&EvalInput::new(&snapshot, &config, now)));
            eprintln!(
                "evaluate: {} findings in {wall:.2?} (on-CPU {:.2?})",
                findings.len(),
                cpu.unwrap_or_default()
            );
        }
        return;
    }
    let mut times: [Vec<(Duration, Option<Duration>)>; 4] = Default::default();
    let [load, evaluate, render_json, drop_report] = &mut times;
    let mut findings_count = 0;
    let mut report_bytes = 0;
    for _ in 0..RUNS {
        let (loaded, time) = timed(|| Snapshot::load(&file).expect("loads"));
        load.push(time);

        let (findings, time) = timed(|| checks::evaluate(&EvalInput::new(&loaded, &config, now)));
        evaluate.push(time);
        findings_count = findings.len();

        let mut out = Vec::with_capacity(64 << 20);
        let (report, time) = timed(|| {
            let report = Report::new(loaded.scope.clone(), findings, Gate::default());
            render::render(&report, Format::Json, &RenderOptions::default(), &mut out)
                .expect("renders");
            report
        });
        render_json.push(time);
        report_bytes = out.len();

        let ((), time) = timed(|| drop((report, loaded)));
        drop_report.push(time);
    }
    let _ = std::fs::remove_file(&file);
    let (evaluate_wall, _) = median(evaluate);
    println!("| step (median of {RUNS}) | wall | on-CPU (this thread) |\n|---|---|---|");
    let row = |step: String, times: &[(Duration, Option<Duration>)]| {
        let (wall, cpu) = median(times);
        let cpu = cpu.map_or_else(|| "n/a".to_owned(), |cpu| format!("{cpu:.2?}"));
        println!("| {step} | {wall:.2?} | {cpu} |");
    };
    row(
        format!("load the snapshot file ({:.0} MB)", bytes as f64 / 1e6),
        load,
    );
    row(
        format!(
            "evaluate ({} machines, {findings_count} findings; budget 1 s)",
            subscriptions() * MACHINES_PER_SUBSCRIPTION
        ),
        evaluate,
    );
    row(
        format!(
            "render the JSON report ({:.0} MB)",
            report_bytes as f64 / 1e6
        ),
        render_json,
    );
    row("drop the findings and the snapshot".to_owned(), drop_report);
    // The first run in a fresh process also pays for the pages the allocator gets from the
    // kernel (the later runs reuse them).
    row(
        "evaluate, first run of the process".to_owned(),
        &evaluate[..1],
    );
    if evaluate_wall > Duration::from_secs(1) {
        println!("\nevaluate is over its 1 s budget (wall time)");
    }
}

/// Runs `f`, returning its wall time and the time this thread spent on a CPU meanwhile (on a
/// shared machine the second is the steadier number; `None` where the OS does not say).
fn timed<T>(f: impl FnOnce() -> T) -> (T, (Duration, Option<Duration>)) {
    let cpu = thread_cpu_time();
    let start = Instant::now();
    let value = f();
    let wall = start.elapsed();
    let cpu = cpu.zip(thread_cpu_time()).map(|(a, b)| b.saturating_sub(a));
    (value, (wall, cpu))
}

/// The time this thread has spent on a CPU (Linux: `/proc/thread-self/schedstat`, in ns).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}
