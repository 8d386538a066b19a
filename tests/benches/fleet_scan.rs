//! Benchmark: reading a fleet (issue 8) — 20 subscriptions × 5,000 Arc machines and 250 ESU
//! licenses each, below one management group, machine lists in pages of 1,000, 50 ms injected
//! into every answer of the in-process mock ([`FleetMock`]), default client settings.
//!
//! 1. **The floor against gather**, alternately in each run: a bare fetcher pulling the same
//!    pages (the management group's descendants, then every subscription at once, each its
//!    license page and machine pages in sequence), reading each body to the end and dropping it
//!    — no parsing, no other reads; and `gather_with` over `--management-group mg-esu-fleet`,
//!    exactly what `check` and `snapshot` run (every other fact of every subscription
//!    included), checked to hold every machine and license.
//! 2. **The same fleet through Resource Graph** (`Inventory::ResourceGraph`): the findings must
//!    be identical to those through ARM lists.
//! 3. **Under Azure's quotas** emulated by the mock (ARM's read bucket of 250 per subscription
//!    refilled at 25/s; Resource Graph's 15 queries per 5 s), each run on a fresh mock (full
//!    buckets): no 429, and the time against runs on fresh mocks without quotas, alternately.
//! 4. **Resource Graph under its quota**: the time against what the quota forces.
//! 5. **The release binary** as a child process against the same mock, `snapshot` and `check
//!    --format json` over the management group, under `/usr/bin/time` for its peak RSS (the
//!    mock's own memory is not the tool's).
//!
//! Run: `cargo bench -p esu-preflight-tests --bench fleet_scan` (results in BENCHMARKS.md).
//! `ESU_FLEET_SUBSCRIPTIONS=N` shrinks the fleet, `ESU_BENCH_RUNS=N` sets the runs (default 5),
//! `ESU_FLEET_GROUPS=N` spreads each subscription's machines over N resource groups (default
//! 10), `ESU_BENCH_CONCURRENCY=N` sets the requests in flight per subscription (default 16),
//! `ESU_FLEET_PROFILE=N` only gathers N times, each after the floor (for `perf record`). Each
//! measurement of floor and gather also prints the CPU time the process (client and mock) used.

/// The allocator the CLI uses: the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use esu_preflight::arm::{ArmClient, ArmClientOptions};
use esu_preflight::checks::{self, Config, EvalInput};
use esu_preflight::gather::{GatherOptions, Inventory};
use esu_preflight::snapshot::Scope;
use esu_preflight_tests::{CALLER_TOKEN, FleetMock, FleetSpec, QuotaSettings, client_with};
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(50);

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
}

/// The CPU time this process (client and mock alike) has used so far, user and system, from
/// `/proc/self/stat` (Linux; clock ticks of 10 ms); `None` where it cannot be read.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name in parentheses: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |at: usize| fields.get(at)?.parse::<u64>().ok();
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// CPU time used between two readings of [`process_cpu`], in milliseconds ("?" unknown).
fn cpu_between(before: Option<Duration>, after: Option<Duration>) -> String {
    match (before, after) {
        (Some(before), Some(after)) => format!("{:.0}", ms(after.saturating_sub(before))),
        _ => "?".to_owned(),
    }
}

fn client(fleet: &FleetMock) -> ArmClient {
    client_with(
        fleet.mock(),
        CALLER_TOKEN,
        ArmClientOptions {
            concurrency: env_number("ESU_BENCH_CONCURRENCY").unwrap_or(16),
            ..ArmClientOptions::default()
        },
    )
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs the release binary with `args` against the mock under `/usr/bin/time`; returns the
/// wall time and peak RSS in MiB, or why not.
fn child_run(
    binary: &std::path::Path,
    endpoint: &str,
    args: &[&str],
) -> Result<(f64, f64), String> {
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", "ESU_BENCH_TIME %e %M"])
        .arg(binary)
        .args(args)
        .args([
            "--arm-endpoint",
            endpoint,
            "--credential",
            "access-token",
            "--quiet",
        ])
        .env("ESU_PREFLIGHT_ACCESS_TOKEN", CALLER_TOKEN)
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .output()
        .map_err(|e| format!("/usr/bin/time could not run: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("ESU_BENCH_TIME "))
        .ok_or_else(|| format!("no timing line; stderr:\n{stderr}"))?;
    let mut parts = line.split_whitespace();
    let seconds: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    let kib: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    if !matches!(output.status.code(), Some(0 | 1)) {
        return Err(format!(
            "exit {:?}; stderr:\n{stderr}",
            output.status.code()
        ));
    }
    Ok((seconds, kib / 1024.0))
}

/// Builds the release binary (the bench's own profile may differ) and returns its path.
fn release_binary() -> Result<std::path::PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "esu-preflight-cli"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo could not run: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p esu-preflight-cli failed".to_owned());
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    Ok(target.join("release").join("esu-preflight"))
}

/// One gather over the management group: wall time, requests, 429s, the snapshot.
fn gather(
    runtime: &tokio::runtime::Runtime,
    fleet: &FleetMock,
    inventory: Inventory,
) -> (Duration, u64, u64, esu_preflight::Snapshot) {
    let client = client(fleet);
    let scope = Scope {
        management_groups: vec![fleet.spec().management_group.clone()],
        ..Scope::default()
    };
    let options = GatherOptions {
        inventory,
        ..GatherOptions::default()
    };
    let started = Instant::now();
    let snapshot = runtime
        .block_on(esu_preflight::gather::gather_with(
            &client, &scope, &options,
        ))
        .expect("gather");
    let elapsed = started.elapsed();
    let spec = fleet.spec();
    let count = |machines: bool| -> usize {
        snapshot
            .subscriptions
            .iter()
            .map(|s| {
                let fact = if machines {
                    s.machines.as_ref().map(|f| f.value().map(Vec::len))
                } else {
                    s.licenses.as_ref().map(|f| f.value().map(Vec::len))
                };
                fact.flatten().unwrap_or(0)
            })
            .sum()
    };
    assert_eq!(
        count(true),
        spec.subscriptions * spec.machines_per_subscription,
        "every machine read"
    );
    assert_eq!(
        count(false),
        spec.subscriptions * spec.licenses_per_subscription,
        "every license read"
    );
    (
        elapsed,
        client.request_count(),
        client.throttled_count(),
        snapshot,
    )
}

/// The findings of a snapshot as JSON (what `check --format json` reports), for comparing two
/// ways of reading the same fleet.
fn findings_json(snapshot: &esu_preflight::Snapshot) -> String {
    let config = Config::default();
    let now = time::macros::datetime!(2026-11-29 12:00 UTC);
    let findings = checks::evaluate(&EvalInput::new(snapshot, &config, now));
    serde_json::to_string(&findings).expect("findings serialise")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut spec = FleetSpec::issue8();
    if let Some(n) = env_number("ESU_FLEET_SUBSCRIPTIONS") {
        spec.subscriptions = n;
    }
    if let Some(n) = env_number("ESU_FLEET_GROUPS") {
        spec.resource_groups = n;
    }
    let runs = env_number("ESU_BENCH_RUNS").unwrap_or(5);
    println!(
        "fleet: {} subscriptions × {} machines ({} in all), {} licenses each, pages of {}, {} ms per answer",
        spec.subscriptions,
        spec.machines_per_subscription,
        spec.subscriptions * spec.machines_per_subscription,
        spec.licenses_per_subscription,
        spec.page_size,
        LATENCY.as_millis()
    );
    let started = Instant::now();
    let fleet = runtime.block_on(FleetMock::start(spec.clone(), LATENCY));
    println!("mock ready in {:.1} s", started.elapsed().as_secs_f64());

    if let Some(n) = env_number("ESU_FLEET_PROFILE") {
        // Only gathers, for `perf record`.
        for _ in 0..n {
            let cpu_before = process_cpu();
            let started = Instant::now();
            let floor = runtime.block_on(fleet.bare_fetch(CALLER_TOKEN));
            let floor_time = started.elapsed();
            let cpu_between_runs = process_cpu();
            let (gathered, requests, _, _) = gather(&runtime, &fleet, Inventory::Auto);
            let cpu_after = process_cpu();
            println!(
                "floor {:.1} ms (CPU {} ms, {floor} bytes), gather: {:.1} ms (CPU {} ms), {requests} requests",
                ms(floor_time),
                cpu_between(cpu_before, cpu_between_runs),
                ms(gathered),
                cpu_between(cpu_between_runs, cpu_after),
            );
        }
        return;
    }

    // 1. The floor and gather (default settings: the estimate picks ARM lists here), alternately.
    let mut floors = Vec::new();
    let mut gathers = Vec::new();
    let (mut floor_cpu, mut gather_cpu) = (Vec::new(), Vec::new());
    let (mut requests, mut bytes) = (0, 0);
    let mut arm_snapshot = None;
    for run in 0..=runs {
        let cpu_before = process_cpu();
        let started = Instant::now();
        bytes = runtime.block_on(fleet.bare_fetch(CALLER_TOKEN));
        let floor = started.elapsed();
        let cpu_between_runs = process_cpu();
        let (gathered, sent, throttled, snapshot) = gather(&runtime, &fleet, Inventory::Auto);
        let cpu_after = process_cpu();
        assert_eq!(throttled, 0);
        requests = sent;
        // One warm-up of each (connections, page cache), not counted.
        if run > 0 {
            floors.push(floor);
            gathers.push(gathered);
            floor_cpu.push(cpu_between(cpu_before, cpu_between_runs));
            gather_cpu.push(cpu_between(cpu_between_runs, cpu_after));
        }
        arm_snapshot = Some(snapshot);
    }
    let arm_snapshot = arm_snapshot.expect("at least one run");
    let floor = median(&mut floors);
    let gathered = median(&mut gathers);
    println!(
        "floor (bare fetcher, {:.0} MiB of pages): median {:.1} ms; the process's CPU per run (client and mock, ms): {}",
        bytes as f64 / 1_048_576.0,
        ms(floor),
        floor_cpu.join(", ")
    );
    println!(
        "gather over the management group ({requests} requests per run; {:?}): median {:.1} ms = {:.2}× the floor; the process's CPU per run (ms): {}",
        arm_snapshot.inventory.as_ref().map(|n| n.source),
        ms(gathered),
        gathered.as_secs_f64() / floor.as_secs_f64(),
        gather_cpu.join(", ")
    );

    // 2. The same fleet read through Resource Graph: the same findings.
    let (graph_time, graph_requests, _, graph_snapshot) =
        gather(&runtime, &fleet, Inventory::ResourceGraph);
    let same = findings_json(&arm_snapshot) == findings_json(&graph_snapshot);
    println!(
        "through Resource Graph (the mock emulates no quota, the client still paces itself to 15 queries per 5 s; {graph_requests} requests): {:.1} ms; findings identical to ARM lists: {same}",
        ms(graph_time)
    );
    assert!(
        same,
        "Resource Graph and ARM lists must give the same findings"
    );
    drop((arm_snapshot, graph_snapshot));
    drop(fleet);

    // 3. Under Azure's quotas (ARM: 250 reads per subscription, +25/s; Resource Graph: 15
    //    queries per 5 s): each run starts with full buckets (a fresh mock), and is compared
    //    with a run on a fresh mock without quotas, alternately (a fresh mock's first gather
    //    is not the warmed-up runs of part 1).
    let mut quota_gathers = Vec::new();
    let mut fresh_gathers = Vec::new();
    let mut throttled_total = 0;
    for run in 0..=runs.min(3) {
        for quotas in [Some(QuotaSettings::default()), None] {
            let fleet = runtime.block_on(FleetMock::start_with(spec.clone(), LATENCY, quotas));
            let (gathered, _, throttled, _) = gather(&runtime, &fleet, Inventory::Auto);
            throttled_total += throttled;
            match fleet.quotas() {
                Some(quotas) => {
                    throttled_total += quotas.throttled();
                    if run > 0 {
                        quota_gathers.push(gathered);
                    }
                }
                None if run > 0 => fresh_gathers.push(gathered),
                None => {}
            }
        }
    }
    let quota_gather = median(&mut quota_gathers);
    let fresh_gather = median(&mut fresh_gathers);
    println!(
        "under the quotas, ARM lists: median {:.1} ms = {:.2}× the same on fresh mocks without quotas ({:.1} ms, alternately); 429s: {throttled_total}",
        ms(quota_gather),
        quota_gather.as_secs_f64() / fresh_gather.as_secs_f64(),
        ms(fresh_gather),
    );

    // 4. Through Resource Graph under its quota: what the quota forces is
    //    (queries − 15) / 15 windows of 5 s after the first query.
    let fleet = runtime.block_on(FleetMock::start_with(
        spec.clone(),
        LATENCY,
        Some(QuotaSettings::default()),
    ));
    let (graph_time, _, throttled, _) = gather(&runtime, &fleet, Inventory::ResourceGraph);
    let quotas = fleet.quotas().expect("emulated");
    let queries = fleet.graph_served().total();
    let windows = queries.saturating_sub(1) / 15;
    let forced = Duration::from_secs(5 * windows) + LATENCY;
    println!(
        "under the quotas, Resource Graph ({queries} queries): {:.2} s; the quota forces {:.2} s: {:.2}×; 429s: {}",
        graph_time.as_secs_f64(),
        forced.as_secs_f64(),
        graph_time.as_secs_f64() / forced.as_secs_f64(),
        throttled + quotas.throttled()
    );
    drop(fleet);

    let fleet = runtime.block_on(FleetMock::start(spec.clone(), LATENCY));
    match release_binary() {
        Err(why) => println!("child runs skipped: {why}"),
        Ok(binary) => {
            let endpoint = fleet.mock().uri();
            let dir = std::env::temp_dir().join(format!("esu-fleet-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            let snapshot_file = dir.join("fleet.json");
            let report_file = dir.join("report.json");
            let mg = spec.management_group.as_str();
            let runs: [(&str, Vec<&str>); 2] = [
                (
                    "snapshot --management-group",
                    vec![
                        "snapshot",
                        "--management-group",
                        mg,
                        "--output-file",
                        snapshot_file.to_str().expect("UTF-8 path"),
                    ],
                ),
                (
                    "check --management-group --format json",
                    vec![
                        "check",
                        "--management-group",
                        mg,
                        "--format",
                        "json",
                        "--output-file",
                        report_file.to_str().expect("UTF-8 path"),
                    ],
                ),
            ];
            for (name, args) in runs {
                // The mock serves from its own threads: the child runs from here.
                let result = child_run(&binary, &endpoint, &args);
                match result {
                    Ok((seconds, mib)) => println!(
                        "release binary, {name}: {:.2} s, peak RSS {mib:.0} MiB",
                        seconds
                    ),
                    Err(why) => println!("release binary, {name}: failed: {why}"),
                }
            }
            let size = std::fs::metadata(&snapshot_file)
                .map(|m| m.len())
                .unwrap_or(0);
            println!("snapshot file: {:.0} MiB", size as f64 / 1_048_576.0);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
