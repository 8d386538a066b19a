//! `esu-preflight`: the command line over the `esu_preflight` library.
//!
//! Owns the terminal, `anyhow` and the exit codes: 0 nothing blocking, 1 failing or inconclusive
//! findings, 2 the tool could not do its job. Errors are printed once, here at the top.

mod args;

use anyhow::{Context, Result, bail};
use args::{CheckArgs, Cli, Command, ConnectionArgs, FixCommand, FixProvidersArgs, ScopeArgs};
use clap::{CommandFactory, Parser};
use esu_preflight::arm::{ArmClient, ArmClientOptions, ArmError, CredentialOptions};
use esu_preflight::checks::{self, Config};
use esu_preflight::fix::{self, ProviderFixPlan, WaitOptions};
use esu_preflight::gather::{GatherError, GatherOptions, Progress};
use esu_preflight::render::{self, Format, RenderOptions};
use esu_preflight::snapshot::{Scope, Snapshot};
use esu_preflight::{Gate, Report};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check(args) => runtime()?.block_on(check(args)),
        Command::Snapshot(args) => runtime()?.block_on(snapshot(args)),
        Command::Fix(FixCommand::Providers(args)) => runtime()?.block_on(fix_providers(args)),
        Command::Explain(args) => explain(&args.topic.join(" ")),
        Command::ListChecks(args) => list_checks(args.format),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "esu-preflight",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `check`: gather (or load) a snapshot, evaluate it, render the report.
async fn check(args: CheckArgs) -> Result<u8> {
    let config = match &args.config {
        Some(path) => load_config(path)?,
        None => Config::default(),
    };
    let snapshot = match &args.snapshot {
        Some(path) => Snapshot::load(path)?,
        None => read_azure(&args.scope, &args.connection).await?,
    };
    let input = checks::EvalInput::new(&snapshot, &config, time::OffsetDateTime::now_utc());
    let findings = checks::evaluate(&input);
    let gate = Gate {
        fail_on: args.output.fail_on.into(),
        allow_inconclusive: args.output.allow_inconclusive,
    };
    let report = Report::new(snapshot.scope.clone(), findings, gate);
    let format = args.output.format;
    write_output(args.output.output_file.as_deref(), |out, is_terminal| {
        let options = RenderOptions {
            color: format == Format::Table && is_terminal && colour_allowed(),
            ..RenderOptions::default()
        };
        render::render(&report, format, &options, out)
    })?;
    if let Some(path) = &args.output.output_file {
        let s = &report.summary;
        eprintln!(
            "esu-preflight: {} passed, {} failed, {} inconclusive, {} skipped; report written to {}",
            s.pass,
            s.fail,
            s.inconclusive,
            s.skipped,
            path.display()
        );
    }
    Ok(report.summary.exit_code)
}

/// Reads `--config FILE`: TOML, unknown keys and unknown check IDs refused.
fn load_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let config: Config = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: invalid config: {e}", path.display()))?;
    for id in config.severity.keys() {
        if checks::find(id).is_none_or(|info| !info.id.eq_ignore_ascii_case(id)) {
            bail!(
                "{}: [severity] names {id:?}, which is not a check ID; `esu-preflight \
                 list-checks` lists them",
                path.display()
            );
        }
    }
    Ok(config)
}

/// `snapshot`: gather and save.
async fn snapshot(args: args::SnapshotArgs) -> Result<u8> {
    let snapshot = read_azure(&args.scope, &args.connection).await?;
    let to_stdout = args.output_file.as_os_str() == "-";
    let target = (!to_stdout).then_some(args.output_file.as_path());
    write_output(target, |out, _| {
        out.write_all(snapshot.to_json_pretty().as_bytes())
    })?;
    if !to_stdout {
        eprintln!(
            "wrote a snapshot of {} subscription(s) to {}",
            snapshot.subscriptions.len(),
            args.output_file.display()
        );
    }
    for sub in &snapshot.subscriptions {
        for (fact, reason) in sub.unavailable() {
            eprintln!(
                "note: {}: {fact} could not be read ({}); the checks that need it will be \
                 inconclusive",
                sub.subscription_id,
                checks::describe_unavailable(reason)
            );
        }
    }
    Ok(0)
}

/// `fix providers`: plan from a fresh snapshot, show the plan, and with `--yes` register.
async fn fix_providers(args: FixProvidersArgs) -> Result<u8> {
    // Waiting for registration is part of the job the user asked for: the overall deadline
    // covers the reads and registrations (--timeout) plus the wait (--wait-timeout).
    let extra = if args.wait {
        args.wait_timeout
    } else {
        Duration::ZERO
    };
    // Only --yes gives a client that may change Azure.
    let client = arm_client(&args.connection, extra, args.yes)?;
    let scope = scope(&args.scope)?;
    let snapshot = gather_with_progress(&client, &scope).await?;
    let plans = fix::plan_provider_registration(&snapshot);
    let mut stdout = std::io::stdout().lock();
    let mut incomplete = false;
    for plan in &plans {
        incomplete |= print_plan(&mut stdout, plan, args.yes)?;
    }
    if !args.yes {
        if plans.iter().any(|p| !p.register.is_empty()) {
            writeln!(
                stdout,
                "\nDry run: nothing was changed. Re-run with --yes to register."
            )?;
        }
        return Ok(u8::from(incomplete));
    }
    for plan in plans.iter().filter(|p| !p.register.is_empty()) {
        let providers = fix::register_providers(&client, plan)
            .await
            .with_context(|| format!("registering providers on {}", plan.subscription_id))?;
        for provider in providers {
            writeln!(
                stdout,
                "{}: registration requested ({})",
                provider.namespace, provider.registration_state
            )?;
        }
    }
    if args.wait {
        let options = WaitOptions {
            poll_interval: args.poll_interval,
            timeout: args.wait_timeout,
        };
        for plan in &plans {
            let waiting: Vec<String> = plan
                .register
                .iter()
                .chain(&plan.registering)
                .cloned()
                .collect();
            if waiting.is_empty() {
                continue;
            }
            // Report each provider's state when it changes, not at every poll.
            let last_seen = std::sync::Mutex::new(std::collections::HashMap::new());
            let progress = |p: &fix::RegistrationProgress| {
                let mut last_seen = last_seen.lock().unwrap_or_else(|e| e.into_inner());
                if last_seen.insert(p.namespace.clone(), p.state.clone()) != Some(p.state.clone()) {
                    eprintln!("waiting: {} is {}", p.namespace, p.state);
                }
            };
            let left = fix::wait_for_registration(
                &client,
                &plan.subscription_id,
                &waiting,
                options,
                &progress,
            )
            .await
            .with_context(|| format!("waiting for providers on {}", plan.subscription_id))?;
            if left.is_empty() {
                writeln!(
                    stdout,
                    "{}: all required providers are registered",
                    plan.subscription_id
                )?;
            } else {
                incomplete = true;
                writeln!(
                    stdout,
                    "{}: still not registered after {}s: {}",
                    plan.subscription_id,
                    options.timeout.as_secs(),
                    left.join(", ")
                )?;
            }
        }
    }
    Ok(u8::from(incomplete))
}

/// Prints one subscription's plan; returns whether something will be left undone.
fn print_plan(out: &mut impl Write, plan: &ProviderFixPlan, yes: bool) -> Result<bool> {
    let sub = &plan.subscription_id;
    if let Some(reason) = &plan.unavailable {
        writeln!(
            out,
            "{sub}: cannot read the resource providers: {}",
            reason.message
        )?;
        return Ok(true);
    }
    if plan.is_noop() {
        writeln!(
            out,
            "{sub}: all required providers are registered; nothing to do"
        )?;
        return Ok(false);
    }
    let verb = if yes { "registering" } else { "would register" };
    if !plan.register.is_empty() {
        writeln!(out, "{sub}: {verb}: {}", plan.register.join(", "))?;
        if !yes {
            writeln!(out, "  equivalent commands:")?;
            for command in plan.az_commands() {
                writeln!(out, "    {command}")?;
            }
        }
    }
    if !plan.registering.is_empty() {
        writeln!(
            out,
            "{sub}: already registering: {}",
            plan.registering.join(", ")
        )?;
    }
    for namespace in &plan.not_permitted {
        writeln!(
            out,
            "{sub}: refusing {namespace}: the signed-in identity lacks \
             {namespace}/register/action on /subscriptions/{sub} (ESU102); {}",
            checks::registration_not_permitted_remediation(namespace, sub)
        )?;
    }
    Ok(!plan.not_permitted.is_empty())
}

/// `explain`: a check's docs, or a known error's cause and fix.
fn explain(topic: &str) -> Result<u8> {
    let text = if let Some(info) = checks::find(topic.trim()) {
        info.render_docs()
    } else if let Some(entry) = esu_preflight::explain::explain_error(topic) {
        entry.render()
    } else {
        bail!(
            "no check ID or known error matches {topic:?}; `esu-preflight list-checks` lists the \
             check IDs"
        );
    };
    std::io::stdout().write_all(render::wrap_paragraphs(&text, 80).as_bytes())?;
    Ok(0)
}

/// `list-checks`.
fn list_checks(format: Format) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let list: Vec<_> = checks::all()
            .iter()
            .map(|c| {
                let info = c.info();
                serde_json::json!({
                    "id": info.id,
                    "name": info.name,
                    "default_severity": info.default_severity,
                    "summary": info.summary,
                    "help_uri": info.help_uri,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        for check in checks::all() {
            let info = check.info();
            writeln!(
                out,
                "{:<7} {:<38} {:<8} {}",
                info.id, info.name, info.default_severity, info.summary
            )?;
        }
    }
    Ok(0)
}

/// Reads the snapshot from Azure for the given scope.
async fn read_azure(scope_args: &ScopeArgs, connection: &ConnectionArgs) -> Result<Snapshot> {
    let scope = scope(scope_args)?;
    let client = arm_client(connection, Duration::ZERO, false)?;
    gather_with_progress(&client, &scope).await
}

async fn gather_with_progress(client: &ArmClient, scope: &Scope) -> Result<Snapshot> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner()
            .with_message(format!("reading from {}", client.endpoint()));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let mut options = GatherOptions::default();
    if let Some(bar) = &bar {
        let bar = bar.clone();
        let endpoint = client.endpoint().to_string();
        options.on_progress = Some(std::sync::Arc::new(move |p: Progress| {
            bar.set_message(format!(
                "reading from {endpoint}: {}/{} subscriptions done, {} requests",
                p.subscriptions_done, p.subscriptions, p.requests
            ));
        }));
    }
    let result = esu_preflight::gather::gather_with(client, scope, &options).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result.map_err(|error| match error {
        GatherError::Arm(ArmError::Deadline { .. }) => {
            anyhow::anyhow!("{error}; raise it with --timeout SECONDS")
        }
        GatherError::Arm(ArmError::Api(ref api)) if api.status == 401 => anyhow::anyhow!(
            "{error}\nARM rejected the token: sign in again (`az login`) or refresh the token \
             of the credential in use (--credential)"
        ),
        other => other.into(),
    })
}

/// The scope the flags name: subscriptions in the order given (the first is the license plan's
/// default), duplicates dropped.
fn scope(args: &ScopeArgs) -> Result<Scope> {
    let scope = Scope {
        subscriptions: dedup(&args.subscriptions),
        resource_groups: dedup(&args.resource_groups),
        management_groups: dedup(&args.management_groups),
    };
    if scope.is_empty() {
        bail!(
            "nothing to check: pass --subscription ID (repeatable; or set AZURE_SUBSCRIPTION_ID) \
             or --management-group ID"
        );
    }
    Ok(scope)
}

/// `items` without repeats (case-insensitive), in their first order.
fn dedup(items: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .filter(|item| seen.insert(item.to_ascii_lowercase()))
        .cloned()
        .collect()
}

/// A client for the connection flags; `extra_time` is added to the `--timeout` deadline, and
/// `allow_writes` is true only for `fix … --yes`.
fn arm_client(
    args: &ConnectionArgs,
    extra_time: Duration,
    allow_writes: bool,
) -> Result<ArmClient> {
    let endpoint = args
        .arm_endpoint
        .as_deref()
        .map(|text| {
            url::Url::parse(text).with_context(|| format!("--arm-endpoint {text:?} is not a URL"))
        })
        .transpose()?;
    let credential = esu_preflight::arm::credential(
        args.credential,
        &CredentialOptions {
            cloud: args.cloud,
            ..CredentialOptions::default()
        },
    )?;
    let options = ArmClientOptions {
        cloud: args.cloud,
        endpoint,
        concurrency: usize::from(args.concurrency),
        timeout: Duration::from_secs(args.timeout) + extra_time,
        allow_writes,
        ..ArmClientOptions::default()
    };
    Ok(ArmClient::new(credential, options)?)
}

/// Whether colour may be used at all (the NO_COLOR convention: set and non-empty disables it).
fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Runs `write` against the output file, or standard output when there is none; the second
/// argument says whether the target is a terminal.
fn write_output(
    file: Option<&Path>,
    write: impl FnOnce(&mut dyn Write, bool) -> std::io::Result<()>,
) -> Result<()> {
    match file {
        Some(path) => {
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            );
            write(&mut out, false).with_context(|| format!("cannot write {}", path.display()))?;
            out.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let is_terminal = stdout.is_terminal();
            let mut out = stdout.lock();
            match write(&mut out, is_terminal).and_then(|()| out.flush()) {
                Ok(()) => {}
                // A closed pipe (`| head`) is not an error worth a stack of text.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e).context("cannot write to standard output"),
            }
        }
    }
    Ok(())
}
