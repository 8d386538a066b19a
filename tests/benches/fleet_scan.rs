//! Benchmark: reading a fleet (issue 8) — 20 subscriptions × 5,000 Arc machines and 250 ESU
//! licenses each, below one management group, machine lists in pages of 1,000, 50 ms injected
//! into every answer of the in-process mock ([`FleetMock`]).
//!
//! Each run measures, against the same mock:
//! - **the floor**: a bare fetcher pulling the same pages (the management group's descendants,
//!   then every subscription at once, each its license page and machine pages in sequence),
//!   reading each body to the end and dropping it — no parsing, no other reads;
//! - **gather**: `gather_with` over `--management-group mg-esu-fleet` with default client
//!   settings, exactly what `check` and `snapshot` run (every other fact of every subscription
//!   included), checked to hold every machine and license.
//!
//! Then the release binary runs as a child process against the same mock, `snapshot` and
//! `check --format json` over the management group, under `/usr/bin/time` for its peak RSS
//! (the mock's own memory is not the tool's).
//!
//! Run: `cargo bench -p esu-preflight-tests --bench fleet_scan` (results in BENCHMARKS.md).
//! `ESU_FLEET_SUBSCRIPTIONS=N` shrinks the fleet, `ESU_BENCH_RUNS=N` sets the runs (default 5),
//! `ESU_FLEET_QUOTAS=1` emulates ARM's and Resource Graph's quotas in the mock.

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use esu_preflight::gather::GatherOptions;
use esu_preflight::snapshot::{Fact, Scope};
use esu_preflight_tests::{CALLER_TOKEN, FleetMock, FleetSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(50);

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
}

fn client(mock: &FleetMock) -> ArmClient {
    ArmClient::new(
        Arc::new(StaticTokenCredential::new(CALLER_TOKEN)),
        ArmClientOptions {
            endpoint: Some(url::Url::parse(&mock.mock().uri()).expect("a URL")),
            concurrency: env_number("ESU_BENCH_CONCURRENCY").unwrap_or(16),
            ..ArmClientOptions::default()
        },
    )
    .expect("a loopback endpoint is accepted")
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

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut spec = FleetSpec::issue8();
    if let Some(n) = env_number("ESU_FLEET_SUBSCRIPTIONS") {
        spec.subscriptions = n;
    }
    let runs = env_number("ESU_BENCH_RUNS").unwrap_or(5);
    let machines = spec.subscriptions * spec.machines_per_subscription;
    let licenses = spec.subscriptions * spec.licenses_per_subscription;
    println!(
        "fleet: {} subscriptions × {} machines ({} in all), {} licenses, pages of {}, {} ms per answer",
        spec.subscriptions,
        spec.machines_per_subscription,
        machines,
        licenses,
        spec.page_size,
        LATENCY.as_millis()
    );
    let started = Instant::now();
    let fleet = runtime.block_on(FleetMock::start(spec.clone(), LATENCY));
    println!("mock ready in {:.1} s", started.elapsed().as_secs_f64());
    let scope = Scope {
        management_groups: vec![spec.management_group.clone()],
        ..Scope::default()
    };

    let mut floors = Vec::new();
    let mut gathers = Vec::new();
    let mut requests = 0;
    let mut bytes = 0;
    // One warm-up of each (connections, page cache), not counted.
    for run in 0..=runs {
        let started = Instant::now();
        bytes = runtime.block_on(fleet.bare_fetch(CALLER_TOKEN));
        let floor = started.elapsed();

        let client = client(&fleet);
        let started = Instant::now();
        let snapshot = runtime
            .block_on(esu_preflight::gather::gather_with(
                &client,
                &scope,
                &GatherOptions::default(),
            ))
            .expect("gather");
        let gathered = started.elapsed();
        let read_machines: usize = snapshot
            .subscriptions
            .iter()
            .map(|s| match &s.machines {
                Some(Fact::Available { value }) => value.len(),
                _ => 0,
            })
            .sum();
        let read_licenses: usize = snapshot
            .subscriptions
            .iter()
            .map(|s| match &s.licenses {
                Some(Fact::Available { value }) => value.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(read_machines, machines, "every machine read");
        assert_eq!(read_licenses, licenses, "every license read");
        requests = client.request_count();
        drop(snapshot);
        if run > 0 {
            floors.push(floor);
            gathers.push(gathered);
        }
    }
    let floor = median(&mut floors);
    let gather = median(&mut gathers);
    println!(
        "floor (bare fetcher, {:.0} MiB of pages): median {:.1} ms",
        bytes as f64 / 1_048_576.0,
        floor.as_secs_f64() * 1e3
    );
    println!(
        "gather over the management group ({requests} requests per run): median {:.1} ms = {:.2}× the floor",
        gather.as_secs_f64() * 1e3,
        gather.as_secs_f64() / floor.as_secs_f64()
    );

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
