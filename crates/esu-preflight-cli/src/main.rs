//! `esu-preflight`: the command line over the `esu_preflight` library.
//!
//! Owns the terminal, `anyhow` and the exit codes: 0 nothing blocking, 1 failing or inconclusive
//! findings, 2 the tool could not do its job. Errors are printed once, here at the top.

mod args;

use anyhow::{Context, Result, anyhow, bail};
use args::{
    CheckArgs, Cli, Command, ConnectionArgs, ExplainArgs, ExplicitFlags, FixCommand,
    FixProvidersArgs, FormatTarget, ListFormat, ProgramFilter, ScopeArgs,
};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use esu_preflight::arm::{ArmClient, ArmClientOptions, ArmError, CredentialOptions};
use esu_preflight::checks;
use esu_preflight::config::{self as config_file, ConfigFile, SuppressionStatus};
use esu_preflight::fix::{self, ProviderFixPlan, WaitOptions};
use esu_preflight::gather::{GatherError, GatherOptions, Inventory, Progress};
use esu_preflight::plan::LicensePlan;
use esu_preflight::render::{self, Format, RenderOptions};
use esu_preflight::report::ReportInputs;
use esu_preflight::snapshot::{InventoryNote, Scope, Snapshot};
use esu_preflight::{Gate, Report};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// mimalloc instead of the system allocator: evaluating and rendering a large estate makes
/// millions of small strings and maps, which glibc's malloc serves several times slower
/// (BENCHMARKS.md, "Evaluating a 100,000-machine snapshot"). The library sets no allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set by `--quiet`: no progress output.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Set when log lines go to standard error (`-v`, RUST_LOG): a spinner would garble them.
static LOGGING: AtomicBool = AtomicBool::new(false);

/// The environment variable through which a shell asks the binary for completions (the
/// PowerShell and Elvish scripts of `completions` do).
const COMPLETE_VAR: &str = "ESU_PREFLIGHT_COMPLETE";

fn main() -> ExitCode {
    // A completion request from the shell: answer it and exit. (Without the variable this
    // returns at once.)
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
    // Usage errors (unknown flag, bad value) exit 2 from clap itself, with its message.
    let matches = Cli::command().try_get_matches().unwrap_or_else(|error| {
        if error.use_stderr() {
            write_usage_error_report(&error);
        }
        error.exit()
    });
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    QUIET.store(cli.quiet, Ordering::Relaxed);
    init_tracing(cli.verbose);
    match run(cli, &matches) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", safe(&format!("{error:#}")));
            ExitCode::from(2)
        }
    }
}

/// A usage error in `check … --output-file FILE` (or `--format FORMAT=PATH`) still replaces
/// each file with a report saying the run failed, as every other exit 2 does. The flags could
/// not be parsed, so the files and formats are looked up in the raw arguments (an unreadable
/// `--format` gives a table).
fn write_usage_error_report(error: &clap::Error) {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str)
        != Some("check")
    {
        return;
    }
    let values_of = |flag: &str| -> Vec<String> {
        let prefix = format!("{flag}=");
        args.iter()
            .enumerate()
            .filter_map(|(i, arg)| {
                if arg == flag {
                    args.get(i + 1).cloned()
                } else {
                    arg.strip_prefix(&prefix).map(str::to_owned)
                }
            })
            .collect()
    };
    let targets: Vec<FormatTarget> = values_of("--format")
        .iter()
        .filter_map(|value| FormatTarget::parse(value).ok())
        .collect();
    let output_file = values_of("--output-file").pop();
    let Ok(outputs) = outputs(&targets, output_file.as_deref().map(Path::new)) else {
        return;
    };
    let rendered = error.to_string();
    let message = rendered.lines().next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let report = Report::failed(Scope::default(), format!("invalid command line: {message}"));
    for (format, path) in outputs {
        let Some(path) = path else { continue };
        let written = write_output(Some(&path), |out, _| {
            render::render(&report, format, &RenderOptions::default(), out)
        });
        if let Err(write_error) = written {
            eprintln!(
                "warning: the report file {} could not be replaced either: {write_error:#}",
                path.display()
            );
        }
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<u8> {
    match cli.command {
        Command::Check(mut args) => {
            let sub = subcommand_matches(matches, &["check"]);
            resolve_check_flags(&mut args, sub)?;
            runtime()?.block_on(check(args))
        }
        Command::Snapshot(mut args) => {
            let sub = subcommand_matches(matches, &["snapshot"]);
            args.scope.subscriptions_from_env = from_env(sub);
            args.explicit = explicit_flags(sub);
            runtime()?.block_on(snapshot(args))
        }
        Command::Fix(FixCommand::Providers(mut args)) => {
            args.scope.subscriptions_from_env =
                from_env(subcommand_matches(matches, &["fix", "providers"]));
            runtime()?.block_on(fix_providers(args))
        }
        Command::Explain(args) => explain(&args),
        Command::ListChecks(args) => list_checks(args.format),
        Command::Completions { shell } => {
            std::io::stdout().write_all(&completion_script(shell)?)?;
            Ok(0)
        }
    }
}

/// The completion script for `shell`. Every shell completes the subcommands, the flags and the
/// values of the flags that take fixed values (`--credential`, `--format`, `--cloud`,
/// `--fail-on`): bash, zsh and fish by a static script; PowerShell and Elvish, whose static
/// scripts cannot offer values, by a script that asks `esu-preflight` itself (through
/// [`COMPLETE_VAR`]).
fn completion_script(shell: clap_complete::Shell) -> Result<Vec<u8>> {
    use clap_complete::Shell;
    let mut script = Vec::new();
    match shell {
        Shell::PowerShell | Shell::Elvish => {
            let name = if shell == Shell::PowerShell {
                "powershell"
            } else {
                "elvish"
            };
            let shells = clap_complete::env::Shells::builtins();
            let completer = shells
                .completer(name)
                .with_context(|| format!("no dynamic completion for {name}"))?;
            completer.write_registration(
                COMPLETE_VAR,
                "esu-preflight",
                "esu-preflight",
                "esu-preflight",
                &mut script,
            )?;
        }
        _ => {
            clap_complete::generate(shell, &mut Cli::command(), "esu-preflight", &mut script);
            if shell == Shell::Bash {
                script = fix_bash_completion(&String::from_utf8_lossy(&script)).into_bytes();
            }
        }
    }
    Ok(script)
}

/// Works around clap-rs/clap#6421: for a binary name with a hyphen, clap_complete's bash script
/// names its per-subcommand `case` arms `esu__subcmd__preflight__subcmd__check` while the loop
/// that walks the command line arrives at `esu__preflight__subcmd__check`, so no subcommand's
/// options ever complete. Renames the arms to what the loop produces (a no-op once clap is fixed).
fn fix_bash_completion(script: &str) -> String {
    script.replace("esu__subcmd__preflight__", "esu__preflight__")
}

/// The matches of a subcommand path (`["fix", "providers"]`).
fn subcommand_matches<'a>(matches: &'a ArgMatches, path: &[&str]) -> &'a ArgMatches {
    path.iter().fold(matches, |m, name| {
        m.subcommand_matches(name)
            .expect("the subcommand that was parsed")
    })
}

/// Whether the subscription ids came from AZURE_SUBSCRIPTION_ID rather than --subscription.
fn from_env(matches: &ArgMatches) -> bool {
    matches.value_source("subscriptions") == Some(ValueSource::EnvVariable)
}

/// Which of the settings a configuration file also sets were given on the command line.
fn explicit_flags(matches: &ArgMatches) -> ExplicitFlags {
    let given = |id: &str| {
        matches.try_get_raw(id).is_ok_and(|v| v.is_some())
            && matches.value_source(id) == Some(ValueSource::CommandLine)
    };
    ExplicitFlags {
        subscriptions: given("subscriptions"),
        resource_groups: given("resource_groups"),
        management_groups: given("management_groups"),
        program: given("program"),
        fail_on: given("fail_on"),
        allow_inconclusive: given("allow_inconclusive"),
        license_plan: given("license_plan"),
    }
}

/// `check --snapshot` reads no Azure: a scope or connection flag given with it contradicts it
/// and is refused (exit 2, naming both); their environment variables are ignored.
fn resolve_check_flags(args: &mut CheckArgs, matches: &ArgMatches) -> Result<()> {
    args.scope.subscriptions_from_env = from_env(matches);
    args.explicit = explicit_flags(matches);
    let Some(snapshot) = &args.snapshot else {
        return Ok(());
    };
    let command = Cli::command();
    let check = command
        .find_subcommand("check")
        .expect("check is a subcommand");
    // The flags of the `ScopeArgs` and `ConnectionArgs` groups (clap names a flattened
    // struct's group after it), so flags added there later are covered too.
    let explicit: Vec<String> = check
        .get_groups()
        .filter(|group| ["ScopeArgs", "ConnectionArgs"].contains(&group.get_id().as_str()))
        .flat_map(|group| group.get_args())
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|id| check.get_arguments().find(|arg| arg.get_id() == id))
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect();
    if !explicit.is_empty() {
        bail!(
            "--snapshot {} cannot be combined with {}: a snapshot is evaluated offline, for the \
             scope it was taken with; drop {} or drop --snapshot",
            snapshot.display(),
            explicit.join(", "),
            if explicit.len() == 1 { "it" } else { "them" }
        );
    }
    args.scope.subscriptions.clear();
    args.connection.arm_endpoint = None;
    Ok(())
}

/// Installs the tracing subscriber on standard error: `-v` shows the library's DEBUG events
/// (each request), `-vv` TRACE; RUST_LOG, when set, decides instead. Without either, nothing is
/// installed and the library's events go nowhere.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match (from_env, verbose) {
        (Some(directives), _) => EnvFilter::try_new(&directives).unwrap_or_else(|error| {
            eprintln!("warning: RUST_LOG={directives:?} is not understood ({error}); ignored");
            EnvFilter::new("off")
        }),
        (None, 0) => return,
        (None, 1) => EnvFilter::new("esu_preflight=debug"),
        (None, _) => EnvFilter::new("esu_preflight=trace"),
    };
    let stderr = std::io::stderr();
    let ansi = stderr.is_terminal() && colour_allowed();
    // A subscriber may already be set (never in this binary); then keep that one.
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .try_init();
    LOGGING.store(installed.is_ok(), Ordering::Relaxed);
}

/// Whether progress (spinners, waiting messages) may be shown.
fn progress_allowed() -> bool {
    !QUIET.load(Ordering::Relaxed)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `check`: gather (or load) a snapshot, evaluate it, render the report in every format
/// asked for. A run that fails still replaces every output file, with a report saying why
/// (exit 2).
async fn check(args: CheckArgs) -> Result<u8> {
    // Contradicting --format values stop the run before anything is read.
    let outputs = outputs(&args.output.format, args.output.output_file.as_deref())?;
    let files: Vec<String> = outputs
        .iter()
        .filter_map(|(_, path)| path.as_ref().map(|p| p.display().to_string()))
        .collect();
    // Found once: the run and, should it fail, the report saying so name the same file.
    let config_file = config_path(args.config.as_deref(), args.no_config);
    let report = match check_report(&args, config_file.as_deref()).await {
        Ok(report) => report,
        Err(error) => {
            if files.is_empty() {
                return Err(error);
            }
            let scope = match &args.snapshot {
                Some(_) => Scope::default(),
                None => scope(&args.scope).unwrap_or_default(),
            };
            let mut failed = Report::failed(scope, format!("{error:#}"));
            failed.inputs = inputs(&args, config_file.as_deref(), args.license_plan.as_slice());
            if let Err(write_error) = write_reports(&failed, &outputs, false) {
                return Err(anyhow!(
                    "{error:#}\n(and a report file could not be replaced: {write_error:#})"
                ));
            }
            if progress_allowed() {
                eprintln!(
                    "esu-preflight: the run failed; a report saying so was written to {}",
                    files.join(", ")
                );
            }
            return Err(error);
        }
    };
    write_reports(&report, &outputs, true)?;
    if !files.is_empty() && progress_allowed() {
        eprintln!(
            "esu-preflight: {}; report written to {}",
            report.summary,
            files.join(", ")
        );
    }
    Ok(report.summary.exit_code)
}

/// Where each format goes: the `FORMAT=PATH` values to their files, the bare format (at most
/// one; the table when there is none) to `--output-file` or standard output (`None`).
fn outputs(
    targets: &[FormatTarget],
    output_file: Option<&Path>,
) -> Result<Vec<(Format, Option<PathBuf>)>> {
    let bare: Vec<Format> = targets
        .iter()
        .filter(|t| t.path.is_none())
        .map(|t| t.format)
        .collect();
    if bare.len() > 1 {
        bail!(
            "--format {} and --format {}: only one format can go to {}; write the others to \
             files with --format FORMAT=PATH",
            bare[0],
            bare[1],
            output_file.map_or_else(
                || "standard output".to_owned(),
                |p| format!("--output-file {}", p.display())
            )
        );
    }
    let mut outputs: Vec<(Format, Option<PathBuf>)> = targets
        .iter()
        .filter_map(|t| t.path.clone().map(|path| (t.format, Some(path))))
        .collect();
    outputs.push((
        bare.first().copied().unwrap_or(Format::Table),
        output_file.map(Path::to_path_buf),
    ));
    let mut seen = std::collections::HashSet::new();
    for path in outputs.iter().filter_map(|(_, path)| path.as_ref()) {
        if !seen.insert(path) {
            bail!(
                "{} is named twice as an output file (--format FORMAT=PATH, --output-file): \
                 give each format its own file",
                path.display()
            );
        }
    }
    Ok(outputs)
}

/// The files a `check` run reads, for the report ([`Report::inputs`]).
fn inputs(args: &CheckArgs, config: Option<&Path>, license_plans: &[PathBuf]) -> ReportInputs {
    let name = |path: Option<&Path>| {
        path.filter(|p| p.as_os_str() != "-")
            .map(|p| p.display().to_string())
    };
    ReportInputs {
        license_plan: name(license_plans.first().map(PathBuf::as_path)),
        config: name(config),
        snapshot: name(args.snapshot.as_deref()),
    }
}

/// The report of a `check` run, or why there is none.
async fn check_report(args: &CheckArgs, config_file: Option<&Path>) -> Result<Report> {
    // A bad configuration or plan stops the run before anything is read from Azure.
    let file = match config_file {
        Some(path) => Some(ConfigFile::load(path)?),
        None => None,
    };
    let config = file
        .as_ref()
        .map(ConfigFile::checks_config)
        .unwrap_or_default();
    let settings = Settings::resolve(args, file.as_ref());
    let mut plan = LicensePlan::new();
    for path in &settings.license_plans {
        plan.merge(LicensePlan::load(path)?);
    }
    let snapshot = match &args.snapshot {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the snapshot from standard input (--snapshot -)")?;
            Snapshot::from_json(&text, Path::new("<standard input>"))?
        }
        Some(path) => Snapshot::load(path)?,
        None => read_azure(&settings.scope, &args.connection, args.inventory, &mut plan).await?,
    };
    // A planned license without a subscription goes to the first in scope (the first
    // --subscription, or the snapshot's first).
    let first = snapshot
        .scope
        .subscriptions
        .first()
        .or_else(|| snapshot.subscriptions.first().map(|s| &s.subscription_id));
    if let Some(first) = first {
        plan.default_subscription(first);
    }
    // A planned license in a subscription the snapshot has no facts for makes that
    // subscription's ESU001 inconclusive (evaluate sees the plan's subscriptions too).
    let now = args.as_of.unwrap_or_else(time::OffsetDateTime::now_utc);
    let mut input = checks::EvalInput::new(&snapshot, &config, now).with_plan(&plan);
    input = match settings.program {
        ProgramFilter::All => input,
        ProgramFilter::Arc(program) => input.with_program(program),
        ProgramFilter::Mak => input.with_mak_only(),
    };
    let findings = checks::evaluate(&input);
    let outcomes = config_file::suppression_outcomes(&config.suppress, &findings, now);
    // The table lists them itself; otherwise the ones worth a look go to standard error.
    let table_on_stdout = args.output.output_file.is_none()
        && args
            .output
            .format
            .iter()
            .filter(|t| t.path.is_none())
            .all(|t| t.format == Format::Table);
    if !table_on_stdout {
        for outcome in outcomes
            .iter()
            .filter(|o| o.status != SuppressionStatus::Applied)
        {
            eprintln!("warning: {}", safe(&outcome.describe()));
        }
    }
    let gate = Gate {
        fail_on: settings.fail_on,
        allow_inconclusive: settings.allow_inconclusive,
    };
    let mut report =
        Report::new(snapshot.scope.clone(), findings, gate).with_suppressions(outcomes);
    report.inputs = inputs(args, config_file, &settings.license_plans);
    Ok(report)
}

/// The configuration file of a `check` run: `--config FILE`, else `./esu-preflight.toml` when
/// it exists (unless `--no-config`).
fn config_path(config: Option<&Path>, no_config: bool) -> Option<std::path::PathBuf> {
    if let Some(path) = config {
        return Some(path.to_owned());
    }
    let default = Path::new(config_file::DEFAULT_FILE_NAME);
    (!no_config && default.is_file()).then(|| {
        if progress_allowed() {
            eprintln!(
                "esu-preflight: reading the configuration in ./{} (--no-config to ignore it)",
                config_file::DEFAULT_FILE_NAME
            );
        }
        default.to_owned()
    })
}

/// `scope` with the configuration file's scope defaults where the command line gave none.
fn scope_with_defaults(scope: &ScopeArgs, explicit: ExplicitFlags, file: &ConfigFile) -> ScopeArgs {
    let mut scope = scope.clone();
    let defaults = &file.scope;
    if !explicit.subscriptions && !defaults.subscriptions.is_empty() {
        scope.subscriptions = defaults.subscriptions.clone();
        scope.subscriptions_from_env = false;
    }
    if !explicit.resource_groups && !defaults.resource_groups.is_empty() {
        scope.resource_groups = defaults.resource_groups.clone();
    }
    if !explicit.management_groups && !defaults.management_groups.is_empty() {
        scope.management_groups = defaults.management_groups.clone();
    }
    scope
}

/// A `check` run's settings: the command line's, else the configuration file's, else the
/// defaults. (Subscriptions: --subscription, else the file's, else AZURE_SUBSCRIPTION_ID.)
struct Settings {
    scope: ScopeArgs,
    program: ProgramFilter,
    fail_on: esu_preflight::Severity,
    allow_inconclusive: bool,
    license_plans: Vec<std::path::PathBuf>,
}

impl Settings {
    fn resolve(args: &CheckArgs, file: Option<&ConfigFile>) -> Self {
        let explicit = args.explicit;
        let mut scope = args.scope.clone();
        let mut program = args.program.program;
        let mut fail_on = args.output.fail_on.into();
        let mut allow_inconclusive = args.output.allow_inconclusive;
        let mut license_plans: Vec<std::path::PathBuf> =
            args.license_plan.iter().cloned().collect();
        if let Some(file) = file {
            // A snapshot is evaluated for the scope it was taken with: the file's scope
            // defaults are for live runs.
            if args.snapshot.is_none() {
                scope = scope_with_defaults(&args.scope, explicit, file);
            }
            if !explicit.program
                && let Some(name) = &file.scope.program
            {
                program = ProgramFilter::from_name(name).unwrap_or(ProgramFilter::All);
            }
            if !explicit.fail_on
                && let Some(level) = file.fail_on
            {
                fail_on = level;
            }
            if !explicit.allow_inconclusive
                && let Some(allow) = file.allow_inconclusive
            {
                allow_inconclusive = allow;
            }
            if !explicit.license_plan {
                license_plans = file.license_plans.clone();
            }
        }
        Self {
            scope,
            program,
            fail_on,
            allow_inconclusive,
            license_plans,
        }
    }
}

/// Writes `report` in each format to its file, then the one for standard output, if any (and
/// only when `to_stdout`: a failed run's error goes to standard error instead).
fn write_reports(
    report: &Report,
    outputs: &[(Format, Option<PathBuf>)],
    to_stdout: bool,
) -> Result<()> {
    let mut ordered: Vec<&(Format, Option<PathBuf>)> = outputs.iter().collect();
    ordered.sort_by_key(|(_, path)| path.is_none());
    let mut first_error = None;
    for (format, path) in ordered {
        if path.is_none() && !to_stdout {
            continue;
        }
        let format = *format;
        // Every file is attempted even when one cannot be written.
        let written = write_output(path.as_deref(), |out, is_terminal| {
            let options = RenderOptions {
                color: format == Format::Table && is_terminal && colour_allowed(),
                width: if is_terminal {
                    terminal_width()
                } else {
                    RenderOptions::default().width
                },
            };
            render::render(report, format, &options, out)
        });
        if let Err(error) = written {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// `snapshot`: gather and save. The file is written whole or not at all; when the run fails,
/// an older file of that name is removed rather than left to pass for this run's.
async fn snapshot(args: args::SnapshotArgs) -> Result<u8> {
    let to_stdout = args.output_file.as_os_str() == "-";
    // A bad configuration or plan stops the run before anything is read from Azure.
    let file = match config_path(args.config.as_deref(), args.no_config) {
        Some(path) => Some(ConfigFile::load(&path)?),
        None => None,
    };
    let scope = match &file {
        Some(file) => scope_with_defaults(&args.scope, args.explicit, file),
        None => args.scope.clone(),
    };
    let plans = match (&args.license_plan, &file) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(file)) => file.license_plans.clone(),
        (None, None) => Vec::new(),
    };
    let mut plan = LicensePlan::new();
    for path in &plans {
        plan.merge(LicensePlan::load(path)?);
    }
    let snapshot = match read_azure(&scope, &args.connection, args.inventory, &mut plan).await {
        Ok(snapshot) => snapshot,
        Err(error) if !to_stdout && args.output_file.is_file() => {
            let path = args.output_file.display();
            return Err(match std::fs::remove_file(&args.output_file) {
                Ok(()) => error.context(format!(
                    "no snapshot taken; removed the older {path} so it is not mistaken for one"
                )),
                Err(remove) => error.context(format!(
                    "no snapshot taken, and the older {path} could not be removed ({remove}): \
                     do not use it"
                )),
            });
        }
        Err(error) => return Err(error),
    };
    let target = (!to_stdout).then_some(args.output_file.as_path());
    // Written as it serialises (into a buffered file): no second copy of a fleet's snapshot.
    write_output(target, |out, _| snapshot.write_json_pretty(out))?;
    if !to_stdout && progress_allowed() {
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
                safe(&checks::describe_unavailable(reason))
            );
        }
    }
    Ok(0)
}

/// `fix providers`: plan from a fresh snapshot, show the plan, and with `--yes` register (with
/// `--wait`, and wait), all within the `--timeout` deadline. Exit 1 when something is left
/// undone, or, in a dry run, would be changed.
async fn fix_providers(args: FixProvidersArgs) -> Result<u8> {
    // --timeout is the deadline of the whole command, waiting included: every request of the
    // client ends by it, and the wait never outlasts it (--wait-timeout can only shorten it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.connection.timeout);
    // Only --yes gives a client that may change Azure.
    let client = arm_client(&args.connection, args.yes)?.with_deadline(deadline);
    let scope = scope(&args.scope)?;
    // Registering providers needs the subscriptions' own facts only.
    let options = GatherOptions {
        subscription_facts_only: true,
        ..GatherOptions::default()
    };
    let snapshot = gather_with_progress(&client, &scope, options).await?;
    let plans = fix::plan_provider_registration(&snapshot);
    let mut stdout = std::io::stdout().lock();
    let mut incomplete = false;
    for plan in &plans {
        incomplete |= print_plan(&mut stdout, plan, args.yes)?;
    }
    if !args.yes {
        let would_change = plans.iter().any(|p| !p.register.is_empty());
        if would_change {
            writeln!(
                stdout,
                "\nDry run: nothing was changed. Re-run with --yes to register."
            )?;
        }
        return Ok(u8::from(incomplete || would_change));
    }
    // One failed registration does not stop the others: each is reported.
    let mut failed: Vec<(String, String)> = Vec::new();
    for plan in plans.iter().filter(|p| !p.register.is_empty()) {
        let sub = &plan.subscription_id;
        for outcome in fix::register_providers(&client, plan).await {
            match outcome.result {
                Ok(provider) => writeln!(
                    stdout,
                    "{sub}: {}: registration requested ({})",
                    outcome.namespace,
                    safe(provider.registration_state.as_str())
                )?,
                Err(error) => {
                    writeln!(
                        stdout,
                        "{sub}: {}: registration failed: {}",
                        outcome.namespace,
                        safe(&error.to_string())
                    )?;
                    failed.push((sub.clone(), outcome.namespace));
                }
            }
        }
    }
    incomplete |= !failed.is_empty();
    if args.wait {
        let several = plans.len() > 1;
        for plan in &plans {
            let sub = &plan.subscription_id;
            let waiting: Vec<String> = plan
                .to_wait_for()
                .into_iter()
                .filter(|ns| !failed.iter().any(|(s, n)| s == sub && n == ns))
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let options = WaitOptions {
                poll_interval: args.poll_interval,
                timeout: args.wait_timeout.min(remaining),
            };
            // Report each provider's state when it changes, not at every poll.
            let last_seen = std::sync::Mutex::new(std::collections::HashMap::new());
            let progress = |p: &fix::RegistrationProgress| {
                let mut last_seen = last_seen.lock().unwrap_or_else(|e| e.into_inner());
                let changed =
                    last_seen.insert(p.namespace.clone(), p.state.clone()) != Some(p.state.clone());
                if changed && progress_allowed() {
                    if several {
                        eprintln!(
                            "{}: {} ({})",
                            p.namespace,
                            safe(p.state.as_str()),
                            p.subscription_id
                        );
                    } else {
                        eprintln!("{}: {}", p.namespace, safe(p.state.as_str()));
                    }
                }
            };
            match fix::wait_for_registration(&client, sub, &waiting, options, &progress).await {
                Ok(left) if left.is_empty() => {
                    writeln!(stdout, "{sub}: all required providers are registered")?;
                }
                Ok(left) => {
                    incomplete = true;
                    let limit = if options.timeout < args.wait_timeout {
                        "--timeout"
                    } else {
                        "--wait-timeout"
                    };
                    writeln!(
                        stdout,
                        "{sub}: still registering when the wait ended ({limit} {}s): {}",
                        options.timeout.as_secs(),
                        left.join(", ")
                    )?;
                    writeln!(
                        stdout,
                        "  registration goes on in Azure; to check it later:"
                    )?;
                    for namespace in &left {
                        writeln!(stdout, "    {}", plan.az_show_command(namespace))?;
                    }
                }
                Err(error) => {
                    incomplete = true;
                    writeln!(
                        stdout,
                        "{sub}: cannot follow the registration: {}",
                        safe(&error.to_string())
                    )?;
                }
            }
        }
    }
    Ok(u8::from(incomplete))
}

/// Prints one subscription's plan; returns whether something will be left undone.
fn print_plan(out: &mut impl Write, plan: &ProviderFixPlan, yes: bool) -> Result<bool> {
    let sub = &plan.subscription_id;
    if let Some(reason) = &plan.unusable {
        writeln!(
            out,
            "{sub}: skipped: {reason} (ESU001); nothing is registered there"
        )?;
        return Ok(true);
    }
    if let Some(reason) = &plan.unavailable {
        writeln!(
            out,
            "{sub}: cannot read the resource providers: {}",
            safe(&checks::describe_unavailable(reason))
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
    if !plan.registering.is_empty() {
        writeln!(
            out,
            "{sub}: already registering: {}",
            plan.registering.join(", ")
        )?;
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

/// `explain`: a check's docs, or a known error's cause and fix. Text it does not recognise
/// exits 1 with the list of what it knows; an unknown check ID is a bad argument (exit 2).
fn explain(args: &ExplainArgs) -> Result<u8> {
    let width = usize::from(terminal_width());
    let mut stdout = std::io::stdout().lock();
    if args.list {
        stdout.write_all(esu_preflight::explain::render_list(width).as_bytes())?;
        return Ok(0);
    }
    let topic = args.topic.join(" ");
    if let Some(info) = checks::find(topic.trim()) {
        stdout.write_all(render::wrap_paragraphs(&info.render_docs(), width).as_bytes())?;
        return Ok(0);
    }
    if looks_like_check_id(&topic) {
        bail!(
            "no check {}; `esu-preflight list-checks` lists the check IDs",
            safe(topic.trim())
        );
    }
    if let Some(explanation) = esu_preflight::explain::explain_error(&topic) {
        stdout.write_all(explanation.render(width).as_bytes())?;
        return Ok(0);
    }
    eprintln!(
        "esu-preflight does not recognise this error text. What it knows (also `esu-preflight \
         explain --list`):\n"
    );
    eprint!("{}", esu_preflight::explain::render_list(width));
    Ok(1)
}

/// `ESU` and digits: meant as a check ID.
fn looks_like_check_id(topic: &str) -> bool {
    let topic = topic.trim();
    topic.len() > 3
        && topic.is_char_boundary(3)
        && topic[..3].eq_ignore_ascii_case("esu")
        && topic[3..].bytes().all(|b| b.is_ascii_digit())
}

/// `list-checks`: aligned columns that fit the terminal (the summary wraps in its column), or
/// JSON for scripts. Piped, each check stays on one line, for grep.
fn list_checks(format: ListFormat) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let result = match format {
        ListFormat::Json => {
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
            serde_json::to_writer_pretty(&mut out, &list)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        ListFormat::Table => {
            let width = std::io::stdout()
                .is_terminal()
                .then(|| usize::from(terminal_width()));
            out.write_all(check_list_table(width).as_bytes())
        }
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.map(|()| 0).context("cannot write to standard output"),
    }
}

/// The `list-checks` table: ID, NAME, SEVERITY and SUMMARY columns; the summary wraps within
/// its column to `width` (never below 20 columns), or stays on one line without a width.
fn check_list_table(width: Option<usize>) -> String {
    let rows: Vec<[&str; 4]> = checks::all()
        .iter()
        .map(|c| {
            let info = c.info();
            [
                info.id,
                info.name,
                info.default_severity.as_str(),
                info.summary,
            ]
        })
        .collect();
    let header = ["ID", "NAME", "SEVERITY", "SUMMARY"];
    let column = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (id_w, name_w, sev_w) = (column(0), column(1), column(2));
    let indent = id_w + name_w + sev_w + 6;
    let summary_w = width.map(|w| w.saturating_sub(indent).max(20));
    let mut text = String::new();
    for row in std::iter::once(header).chain(rows) {
        let lines = match summary_w {
            Some(w) => render::wrap(row[3], w, ""),
            None => vec![row[3].to_owned()],
        };
        for (i, line) in lines.iter().enumerate() {
            if i == 0 {
                text.push_str(&format!(
                    "{:<id_w$}  {:<name_w$}  {:<sev_w$}  {line}\n",
                    row[0], row[1], row[2]
                ));
            } else {
                text.push_str(&format!("{:indent$}{line}\n", ""));
            }
        }
    }
    text
}

/// Reads the snapshot from Azure for the given scope.
/// Reads the snapshot from Azure for the given scope and license plan: the plan's subscriptions
/// are read too (after those given), and its licenses default to the first subscription.
async fn read_azure(
    scope_args: &ScopeArgs,
    connection: &ConnectionArgs,
    inventory: Inventory,
    plan: &mut LicensePlan,
) -> Result<Snapshot> {
    let mut scope = scope(scope_args)?;
    if let Some(first) = scope.subscriptions.first().cloned() {
        plan.default_subscription(&first);
    }
    for license in &plan.licenses {
        if let Some(sub) = &license.subscription
            && !scope
                .subscriptions
                .iter()
                .any(|s| s.eq_ignore_ascii_case(sub))
        {
            scope.subscriptions.push(sub.to_ascii_lowercase());
        }
    }
    let client = arm_client(connection, false)?;
    let options = GatherOptions {
        plan: plan.clone(),
        inventory,
        ..GatherOptions::default()
    };
    let snapshot = gather_with_progress(&client, &scope, options).await?;
    // Say how machines and licenses were read when there was a choice to make (or one was
    // asked for): more than one subscription, a management group, or --inventory.
    if progress_allowed()
        && let Some(note) = &snapshot.inventory
        && (inventory != Inventory::Auto
            || snapshot.subscriptions.len() > 1
            || !scope.management_groups.is_empty())
    {
        eprintln!("{}", inventory_line(note));
    }
    Ok(snapshot)
}

/// The one line that says how machines and licenses were read.
fn inventory_line(note: &InventoryNote) -> String {
    let reason = safe(&note.reason);
    if note.reason.contains("read through ARM lists instead") {
        format!("machines and licenses: {reason}")
    } else {
        format!(
            "machines and licenses: read through {} ({reason})",
            note.source.describe()
        )
    }
}

async fn gather_with_progress(
    client: &ArmClient,
    scope: &Scope,
    mut options: GatherOptions,
) -> Result<Snapshot> {
    let bar =
        (std::io::stderr().is_terminal() && progress_allowed() && !LOGGING.load(Ordering::Relaxed))
            .then(|| {
                let bar = indicatif::ProgressBar::new_spinner()
                    .with_message(format!("reading from {}", client.endpoint()));
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
    if let Some(bar) = &bar {
        let bar = bar.clone();
        let endpoint = client.endpoint().to_string();
        options.on_progress = Some(std::sync::Arc::new(move |p: Progress| {
            // A bar once the subscriptions are known: done of all, machines and requests so far.
            if p.subscriptions > 0 && bar.length() != Some(p.subscriptions as u64) {
                bar.set_length(p.subscriptions as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{bar:24}] {pos}/{len} subscriptions {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
            }
            bar.set_position(p.subscriptions_done as u64);
            bar.set_message(format!(
                "· {} machines · {} requests · {endpoint}",
                p.machines, p.requests
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

fn scope(args: &ScopeArgs) -> Result<Scope> {
    let source = if args.subscriptions_from_env {
        "AZURE_SUBSCRIPTION_ID"
    } else {
        "--subscription"
    };
    let mut subscriptions = Vec::with_capacity(args.subscriptions.len());
    for value in &args.subscriptions {
        // `AZURE_SUBSCRIPTION_ID="A, B,"`: spaces and an empty last item are fine there.
        if args.subscriptions_from_env && value.trim().is_empty() {
            continue;
        }
        subscriptions
            .push(args::parse_subscription_id(value).map_err(|e| anyhow!("{source}: {e}"))?);
    }
    // The order given is kept (the first is the license plan's default); repeats are dropped.
    let scope = Scope {
        subscriptions: dedup(&subscriptions),
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

/// A client for the connection flags; `allow_writes` is true only for `fix … --yes`.
fn arm_client(args: &ConnectionArgs, allow_writes: bool) -> Result<ArmClient> {
    let endpoint = args
        .arm_endpoint
        .as_deref()
        .map(|text| {
            url::Url::parse(text).with_context(|| format!("--arm-endpoint {text:?} is not a URL"))
        })
        .transpose()?;
    let credential_options = CredentialOptions {
        cloud: args.cloud,
        ..CredentialOptions::default()
    };
    let credential = esu_preflight::arm::credential(args.credential, &credential_options)?;
    tracing::debug!(
        cloud = %args.cloud,
        endpoint = endpoint.as_ref().map(url::Url::as_str).unwrap_or("(the cloud's)"),
        credential = %args.credential,
        timeout_s = args.timeout,
        allow_writes,
        "connecting to Azure Resource Manager"
    );
    let target = endpoint
        .clone()
        .unwrap_or_else(|| args.cloud.arm_endpoint());
    let options = ArmClientOptions {
        cloud: args.cloud,
        endpoint,
        concurrency: usize::from(args.concurrency),
        max_in_flight: usize::from(args.max_in_flight),
        timeout: Duration::from_secs(args.timeout),
        allow_writes,
        ..ArmClientOptions::default()
    };
    let client = ArmClient::new(credential, options)?;
    // Only once the endpoint is accepted, before any token is sent.
    for warning in
        esu_preflight::arm::credential_warnings(args.credential, &credential_options, &target)
    {
        eprintln!("warning: {warning}");
    }
    Ok(client)
}

/// The width of the terminal on standard output, in columns (80 when it cannot be told).
fn terminal_width() -> u16 {
    console::Term::stdout()
        .size_checked()
        .map_or(80, |(_, columns)| columns.clamp(40, 240))
}

/// Text that may come from Azure or a file, safe for the terminal: control characters and
/// direction overrides stripped from each line (the line breaks themselves are kept).
fn safe(text: &str) -> String {
    text.lines()
        .map(|line| render::strip_controls(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether colour may be used at all (the NO_COLOR convention: set and non-empty disables it).
fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Runs `write` against the output file, or standard output when there is none; the second
/// argument says whether the target is a terminal.
///
/// A regular file is written whole or not at all: to a temporary file beside it, then renamed
/// over it, so a failed run never leaves half a report. (A device or pipe such as
/// `/dev/stdout` is written directly.)
fn write_output(
    file: Option<&Path>,
    write: impl FnOnce(&mut dyn Write, bool) -> std::io::Result<()>,
) -> Result<()> {
    match file {
        Some(path) if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) => {
            let mut out = std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            );
            write(&mut out, false)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Some(path) => {
            let name = path
                .file_name()
                .ok_or_else(|| anyhow!("{} is not a file name", path.display()))?;
            let temp = path.with_file_name(format!(
                ".{}.{}.tmp",
                name.to_string_lossy(),
                std::process::id()
            ));
            let result = (|| -> Result<()> {
                let mut out = std::io::BufWriter::new(
                    std::fs::File::create(&temp)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                );
                write(&mut out, false)
                    .and_then(|()| out.flush())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                drop(out);
                std::fs::rename(&temp, path)
                    .with_context(|| format!("cannot replace {}", path.display()))
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            result?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_checks_columns_line_up_and_fit_the_width() {
        let table = check_list_table(Some(80));
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID      NAME"), "{table}");
        let summary_at = lines[0].find("SUMMARY").unwrap();
        for line in &lines {
            assert!(line.chars().count() <= 80, "{line:?}");
            // Every line's summary text starts in the same column.
            assert!(line.len() > summary_at, "{line:?}");
            assert_ne!(line.as_bytes()[summary_at], b' ', "{line:?}");
        }
        assert!(lines.len() > checks::all().len() + 1, "long summaries wrap");
        // Piped: one line per check, for grep.
        assert_eq!(
            check_list_table(None).lines().count(),
            checks::all().len() + 1
        );
    }

    #[test]
    fn check_ids_are_told_from_text() {
        assert!(looks_like_check_id("ESU999"));
        assert!(looks_like_check_id(" esu101 "));
        assert!(!looks_like_check_id("ESU: not eligible"));
        assert!(!looks_like_check_id("ESU"));
        assert!(!looks_like_check_id("É"));
    }
}
