//! The command line as the user typed it (raw flags); resolving them is `main.rs`'s job.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use esu_preflight::arm::{Cloud, CredentialKind};
use esu_preflight::gather::Inventory;
use esu_preflight::render::Format;
use esu_preflight::{Severity, programs};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::str::FromStr;

/// Pre-flight checks for Azure Arc Extended Security Updates (Windows Server 2012 / 2012 R2 and
/// 2016).
///
/// Reads the real state of your Azure subscriptions through Azure Resource Manager and reports
/// everything that would make ESU license provisioning, linking or patch delivery fail, each
/// with the fix. Read-only unless you pass --yes to a `fix` command.
///
/// Exit codes: 0 nothing blocking; 1 failing or inconclusive findings; 2 the tool could not
/// do its job (bad input, authentication, ARM unreachable).
#[derive(Debug, Parser)]
#[command(name = "esu-preflight", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Show each request to Azure on standard error (method, path, status, time, retries and
    /// waits) and which credential source was used; never a token. Repeat for more detail.
    /// RUST_LOG, when set, takes precedence.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// No progress output (spinners, waiting messages); errors and warnings still appear.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check subscriptions (or a saved snapshot) and report problems with their fixes.
    Check(CheckArgs),
    /// Read the Azure state the checks need and save it to a file, without evaluating it.
    Snapshot(SnapshotArgs),
    /// Fix what can be fixed from here (dry run unless --yes).
    #[command(subcommand)]
    Fix(FixCommand),
    /// Print a check's documentation (`explain ESU101`) or the cause and fix of an error
    /// message (`explain "HRESULT_FROM_WIN32(12029)"`).
    Explain(ExplainArgs),
    /// List every check with its ID, name and default severity.
    ListChecks(ListChecksArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The `fix` subcommands.
#[derive(Debug, Subcommand)]
pub enum FixCommand {
    /// Register the resource providers Azure Arc ESU needs (ESU101).
    Providers(FixProvidersArgs),
}

/// Which subscriptions to read.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Scope")]
pub struct ScopeArgs {
    /// A subscription id (GUID); repeat for several. Default: the configuration file's, else
    /// $AZURE_SUBSCRIPTION_ID (comma-separated).
    //
    // The values are checked when they are used (see `main.rs`), not here: `check --snapshot`
    // ignores AZURE_SUBSCRIPTION_ID, so a bad value there must not stop it.
    #[arg(
        long = "subscription",
        value_name = "ID",
        env = "AZURE_SUBSCRIPTION_ID",
        value_delimiter = ','
    )]
    pub subscriptions: Vec<String>,

    /// Narrow the checks to this resource group, in each subscription; repeat for several.
    #[arg(long = "resource-group", value_name = "NAME", value_parser = parse_resource_group)]
    pub resource_groups: Vec<String>,

    /// Check every subscription below this management group (all depths); repeat for several.
    #[arg(long = "management-group", value_name = "ID", value_parser = parse_management_group)]
    pub management_groups: Vec<String>,
    /// Whether `subscriptions` came from AZURE_SUBSCRIPTION_ID (set after parsing, for error
    /// messages that name where a bad value came from).
    #[arg(skip)]
    pub subscriptions_from_env: bool,
}

/// How to reach and authenticate to Azure Resource Manager.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// The Azure cloud.
    #[arg(long, value_name = "CLOUD", default_value = "AzureCloud",
          value_parser = Choice::new(&Cloud::ALL, Cloud::name))]
    pub cloud: Cloud,

    /// ARM endpoint URL overriding the cloud's (https; plain http only to loopback hosts, for
    /// local emulators).
    #[arg(long, value_name = "URL", env = "ESU_PREFLIGHT_ARM_ENDPOINT")]
    pub arm_endpoint: Option<String>,

    /// Where the token comes from (access-token reads $ESU_PREFLIGHT_ACCESS_TOKEN).
    #[arg(long, value_name = "SOURCE", default_value = "auto",
          value_parser = Choice::new(&CredentialKind::ALL, CredentialKind::name))]
    pub credential: CredentialKind,

    /// Requests in flight at once per subscription (ARM throttles each subscription on its
    /// own; requests outside any subscription count as one more).
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Requests in flight at once overall, across subscriptions.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub max_in_flight: u16,

    /// Give up after this many seconds overall (for `fix`, waiting included).
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

/// `esu-preflight check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Evaluate a snapshot file written by `esu-preflight snapshot` instead of reading Azure
    /// (`-` reads standard input). Refuses the scope and connection flags, and ignores
    /// AZURE_SUBSCRIPTION_ID and ESU_PREFLIGHT_ARM_ENDPOINT.
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub snapshot: Option<PathBuf>,

    /// How Arc machines and ESU licenses are read: auto (whichever is estimated sooner under
    /// Azure's quotas; a count query decides for more than one subscription), arm
    /// (per-subscription ARM lists) or graph (Azure Resource Graph, falling back to ARM lists
    /// where it refuses).
    #[arg(long, value_name = "HOW", default_value = "auto", help_heading = "Input",
          conflicts_with = "snapshot",
          value_parser = Choice::new(&Inventory::ALL, Inventory::name))]
    pub inventory: Inventory,

    /// The ESU licenses you intend to provision, and the machines to link to them (TOML, or
    /// JSON when the name ends in .json; see the README). Checked against the subscriptions,
    /// or offline against --snapshot. A license without `subscription` goes to the first
    /// --subscription (with --snapshot: the snapshot's first).
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub license_plan: Option<PathBuf>,

    /// Evaluate as of this time instead of now: RFC 3339 (2027-01-12T00:00:00Z) or a date
    /// (2027-01-12, midnight UTC). It moves the days left before the end of support, how long
    /// machines have been disconnected and which suppressions have expired, e.g. to see today's
    /// facts on the day support ends, or a snapshot's report as it read when it was taken.
    #[arg(long, value_name = "TIME", value_parser = parse_as_of, help_heading = "Input")]
    pub as_of: Option<time::OffsetDateTime>,

    #[command(flatten)]
    pub program: ProgramArgs,

    /// Configuration file (TOML): scope defaults, fail_on, severity overrides, license plans
    /// and suppressions (see the README). Default: ./esu-preflight.toml when it exists.
    /// Command-line flags override it.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Input",
        conflicts_with = "no_config"
    )]
    pub config: Option<PathBuf>,

    /// Do not read ./esu-preflight.toml.
    #[arg(long, help_heading = "Input")]
    pub no_config: bool,

    /// Which settings were given on the command line (set after parsing): those override the
    /// configuration file.
    #[arg(skip)]
    pub explicit: ExplicitFlags,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The `check` settings given on the command line, which override the configuration file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplicitFlags {
    /// `--subscription`.
    pub subscriptions: bool,
    /// `--resource-group`.
    pub resource_groups: bool,
    /// `--management-group`.
    pub management_groups: bool,
    /// `--program`.
    pub program: bool,
    /// `--fail-on`.
    pub fail_on: bool,
    /// `--allow-inconclusive`.
    pub allow_inconclusive: bool,
    /// `--license-plan`.
    pub license_plan: bool,
}

/// Which ESU program a run covers. Not a scope flag for `--snapshot`'s refusal: it narrows
/// what is evaluated, not what is read, so it works offline too.
#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// Only this ESU program's licenses and machines: ws2012 (Windows Server 2012 / 2012 R2),
    /// ws2016 (Windows Server 2016), ws2008 (Windows Server 2008 / 2008 R2 Multiple Activation
    /// Keys: only ESU001 and ESU701–ESU702), or all (the 2008 checks where the scope holds 2008
    /// machines or keys).
    #[arg(long = "program", value_name = "PROGRAM", default_value = "all", help_heading = "Scope",
          ignore_case = true, value_parser = program_parser())]
    pub program: ProgramFilter,
}

/// `--program`: one Arc ESU program of the table, the 2008 MAK program, or every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramFilter {
    /// Every program (`all`).
    All,
    /// One Arc program of the table (`ws2012`, `ws2016`).
    Arc(&'static programs::Program),
    /// The Windows Server 2008 / 2008 R2 MAK program (`ws2008`).
    Mak,
}

/// The `--program` value of the Windows Server 2008 / 2008 R2 MAK program.
const MAK_PROGRAM: &str = "ws2008";

impl ProgramFilter {
    /// The filter a `--program` (or configuration file `program`) value names, any case;
    /// `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("all") {
            Some(Self::All)
        } else if name.eq_ignore_ascii_case(MAK_PROGRAM) {
            Some(Self::Mak)
        } else {
            programs::by_id(name).map(Self::Arc)
        }
    }
}

/// `--program`'s values: each program's id from the program table, `ws2008`, then `all`.
fn program_parser() -> impl TypedValueParser<Value = ProgramFilter> {
    let names = programs::PROGRAMS
        .iter()
        .map(|program| PossibleValue::new(program.id).help(program.name))
        .chain([
            PossibleValue::new(MAK_PROGRAM)
                .help("Windows Server 2008 / 2008 R2 (Multiple Activation Keys)"),
            PossibleValue::new("all").help("every program"),
        ]);
    PossibleValuesParser::new(names)
        .map(|name: String| ProgramFilter::from_name(&name).unwrap_or(ProgramFilter::All))
}

/// How a report is written and judged.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Report format; repeat it to write several at once. A bare FORMAT goes to standard output
    /// (or to --output-file); FORMAT=PATH writes that format to the file PATH. At most one bare
    /// FORMAT; without one, the table goes to standard output. Example: `--format table
    /// --format sarif=esu.sarif --format junit=esu-junit.xml`. Every file is replaced even when
    /// the run fails (exit 2), with a report saying why.
    #[arg(long, value_name = "FORMAT[=PATH]", action = ArgAction::Append,
          value_parser = FormatTargetParser)]
    pub format: Vec<FormatTarget>,

    /// Write the report in the bare --format (default table) to this file instead of standard
    /// output. It is replaced even when the run fails (exit 2): then it holds a report saying
    /// why.
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,

    /// Exit 1 when a finding fails at or above this severity.
    #[arg(long, value_name = "LEVEL", default_value = "error")]
    pub fail_on: SeverityArg,

    /// Do not exit 1 for inconclusive findings (facts that could not be read).
    #[arg(long)]
    pub allow_inconclusive: bool,
}

/// One `--format` value: a format, and the file it goes to (`sarif=esu.sarif`) or none (a bare
/// `sarif`, for standard output or `--output-file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatTarget {
    /// The format.
    pub format: Format,
    /// The file, for `FORMAT=PATH`.
    pub path: Option<PathBuf>,
}

impl FormatTarget {
    /// Parses `FORMAT` or `FORMAT=PATH`; the error names the possible formats.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (name, path) = match value.split_once('=') {
            Some((name, path)) => (name, Some(path)),
            None => (value, None),
        };
        let format = name.parse::<Format>().map_err(|e| e.to_string())?;
        match path {
            Some("") => Err(format!(
                "{value:?}: no file after '='; write {name}=PATH, or {name} alone for standard \
                 output"
            )),
            Some(path) => Ok(Self {
                format,
                path: Some(PathBuf::from(path)),
            }),
            None => Ok(Self { format, path: None }),
        }
    }
}

/// `--format`'s parser: `FORMAT` or `FORMAT=PATH`, the formats declared for `--help` and
/// completions.
#[derive(Clone)]
pub struct FormatTargetParser;

impl TypedValueParser for FormatTargetParser {
    type Value = FormatTarget;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<FormatTarget, clap::Error> {
        let Some(text) = value.to_str() else {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                "--format: the value is not UTF-8\n",
            )
            .with_cmd(cmd));
        };
        match FormatTarget::parse(text) {
            Ok(target) => Ok(target),
            Err(_)
                if text
                    .split_once('=')
                    .is_none_or(|(_, path)| !path.is_empty()) =>
            {
                // An unknown format: clap words the error and lists the possible values.
                let name = text.split_once('=').map_or(text, |(name, _)| name);
                Choice::new(&Format::ALL, Format::as_str)
                    .parse_ref(cmd, arg, OsStr::new(name))
                    .map(|format| FormatTarget { format, path: None })
            }
            Err(message) => Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("--format {message}\n"),
            )
            .with_cmd(cmd)),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(Format::ALL.into_iter().map(|format| {
            PossibleValue::new(format.as_str()).help(match format {
                Format::Table => "a table for people (the default)",
                Format::Json => "the JSON report (schema_version 1)",
                Format::Sarif => "SARIF 2.1.0 for GitHub code scanning",
                Format::Junit => "JUnit XML for Azure DevOps, GitLab, Jenkins",
                Format::Markdown => "Markdown for $GITHUB_STEP_SUMMARY and PR comments",
                Format::Github => "GitHub Actions annotations (::error …)",
                Format::Csv => "CSV for spreadsheets",
                _ => "",
            })
        })))
    }
}

/// `--fail-on` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    /// Fail on anything, including info.
    Info,
    /// Fail on warnings and errors.
    Warning,
    /// Fail on errors only.
    Error,
}

impl From<SeverityArg> for Severity {
    fn from(value: SeverityArg) -> Self {
        match value {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Error => Severity::Error,
        }
    }
}

/// `esu-preflight snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// How Arc machines and ESU licenses are read: auto (whichever is estimated sooner under
    /// Azure's quotas; a count query decides for more than one subscription), arm
    /// (per-subscription ARM lists) or graph (Azure Resource Graph, falling back to ARM lists
    /// where it refuses).
    #[arg(long, value_name = "HOW", default_value = "auto",
          value_parser = Choice::new(&Inventory::ALL, Inventory::name))]
    pub inventory: Inventory,

    /// Where to write the snapshot (`-` for standard output). Written whole or not at all: a
    /// failed run removes an older file of that name rather than leave it stale.
    #[arg(long, value_name = "FILE")]
    pub output_file: PathBuf,

    /// The ESU licenses you intend to provision (as for `check`): the snapshot then also holds
    /// their resource groups and the service's dry run of each, so `check --snapshot FILE
    /// --license-plan PLAN` evaluates them offline.
    #[arg(long, value_name = "FILE")]
    pub license_plan: Option<PathBuf>,

    /// Configuration file (TOML), as for `check`: its scope and license plans are the defaults.
    /// Default: ./esu-preflight.toml when it exists.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,

    /// Do not read ./esu-preflight.toml.
    #[arg(long)]
    pub no_config: bool,

    /// Which settings were given on the command line (set after parsing).
    #[arg(skip)]
    pub explicit: ExplicitFlags,
}

/// `esu-preflight fix providers`.
#[derive(Debug, Args)]
pub struct FixProvidersArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Really register the providers. Without it, only shows what would be done (and exits
    /// 1 when something would change).
    #[arg(long)]
    pub yes: bool,

    /// After registering, wait until every required provider is Registered, within
    /// --timeout (what is still registering then is listed, with how to check it later).
    #[arg(long)]
    pub wait: bool,

    /// Seconds between polls while waiting (at least 1).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_poll_interval)]
    pub poll_interval: std::time::Duration,

    /// Stop waiting after this many seconds. It never extends --timeout, the deadline of the
    /// whole command.
    #[arg(long, value_name = "SECONDS", default_value = "600", value_parser = parse_seconds)]
    pub wait_timeout: std::time::Duration,
}

/// `esu-preflight explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check ID (ESU101), or an error message as pasted, e.g. "ESU: Trying to Check IMDS
    /// Again LastError=HRESULT_FROM_WIN32(12029)" (quote it; any case, with or without "ESU:").
    #[arg(value_name = "ID_OR_ERROR_TEXT", required_unless_present = "list", num_args = 1..)]
    pub topic: Vec<String>,

    /// List the error messages explain recognises, and their other spellings.
    #[arg(long, conflicts_with = "topic")]
    pub list: bool,
}

/// `esu-preflight list-checks`.
#[derive(Debug, Args)]
pub struct ListChecksArgs {
    /// Output format.
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "table",
        ignore_case = true
    )]
    pub format: ListFormat,
}

/// `list-checks --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns that fit the terminal.
    Table,
    /// A JSON array, for scripts.
    Json,
}

/// A subscription id must be a GUID; it is normalised to lower case. Surrounding spaces are
/// ignored (`AZURE_SUBSCRIPTION_ID="A, B"`).
pub fn parse_subscription_id(value: &str) -> Result<String, String> {
    let value = value.trim();
    let bytes = value.as_bytes();
    let dashes_ok = [8, 13, 18, 23].iter().all(|&i| bytes.get(i) == Some(&b'-'));
    let hex_ok = bytes
        .iter()
        .enumerate()
        .all(|(i, b)| [8, 13, 18, 23].contains(&i) || b.is_ascii_hexdigit());
    if bytes.len() == 36 && dashes_ok && hex_ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "{value:?} is not a subscription id: expected a GUID such as \
             00000000-0000-0000-0000-000000000000 (`az account list -o table` lists yours; \
             without --subscription the value comes from AZURE_SUBSCRIPTION_ID)"
        ))
    }
}

/// A resource group name as ARM allows it: 1–90 letters, digits, `-`, `_`, `.`, `(`, `)`, not
/// ending in `.` (so it can never change the request path).
fn parse_resource_group(value: &str) -> Result<String, String> {
    let ok = (1..=90).contains(&value.chars().count())
        && !value.ends_with('.')
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a resource group name: 1 to 90 letters, digits, '-', '_', '.', '(' \
             or ')', not ending in '.' (`az group list -o table` lists them)"
        ))
    }
}

/// A management group id: 1–90 letters, digits, `-`, `_`, `.`, `(`, `)` (never a path).
/// `--as-of`: an RFC 3339 time, or a date read as midnight UTC.
fn parse_as_of(value: &str) -> Result<time::OffsetDateTime, String> {
    let dated;
    let text = if value.trim().len() == 10 {
        dated = format!("{}T00:00:00Z", value.trim());
        &dated
    } else {
        value
    };
    esu_preflight::parse_time(text).ok_or_else(|| {
        format!(
            "{value:?} is not a time: give an RFC 3339 time (2027-01-12T00:00:00Z) or a date \
             (2027-01-12)"
        )
    })
}

fn parse_management_group(value: &str) -> Result<String, String> {
    let ok = (1..=90).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if ok && value != "." && value != ".." {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a management group id: 1 to 90 letters, digits, '-', '_', '.', \
             '(' or ')' (`az account management-group list -o table` lists them)"
        ))
    }
}

/// A value parser for a fixed set of names (`--cloud`, `--credential`, `--format`): parses with
/// the type's own `FromStr` (case-insensitive), refuses anything else with clap's usual "possible
/// values" error, and declares the names so that every shell's completion offers them.
#[derive(Clone)]
pub struct Choice<T: 'static> {
    all: &'static [T],
    name: fn(T) -> &'static str,
}

impl<T: Copy> Choice<T> {
    /// The values `all`, each called `name(value)` on the command line.
    pub fn new(all: &'static [T], name: fn(T) -> &'static str) -> Self {
        Self { all, name }
    }

    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.all.iter().map(|value| (self.name)(*value))
    }
}

impl<T> TypedValueParser for Choice<T>
where
    T: Copy + PartialEq + FromStr + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        if let Some(parsed) = value
            .to_str()
            .and_then(|text| text.parse().ok())
            .filter(|parsed| self.all.contains(parsed))
        {
            return Ok(parsed);
        }
        // Not one of ours: let clap word the error, listing the possible values.
        let error = PossibleValuesParser::new(self.names())
            .parse_ref(cmd, arg, value)
            .err();
        Err(error.unwrap_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("invalid value {value:?}\n"),
            )
            .with_cmd(cmd)
        }))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.names().map(PossibleValue::new)))
    }
}

/// `--poll-interval`: at least one second (ARM's own `Retry-After` on registration is longer).
fn parse_poll_interval(value: &str) -> Result<std::time::Duration, String> {
    let interval = parse_seconds(value)?;
    if interval < std::time::Duration::from_secs(1) {
        return Err(format!("{value:?} is below the minimum of 1 second"));
    }
    Ok(interval)
}

fn parse_seconds(value: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) {
        Ok(std::time::Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{value:?} must be between 0 and 86400 seconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fixed_value_flags_declare_their_values_and_parse_them() {
        let cli = Cli::command();
        let check = cli.find_subcommand("check").unwrap();
        for (flag, expected) in [
            (
                "credential",
                CredentialKind::ALL.map(CredentialKind::name).to_vec(),
            ),
            ("cloud", Cloud::ALL.map(Cloud::name).to_vec()),
            ("format", Format::ALL.map(Format::as_str).to_vec()),
            ("fail_on", vec!["info", "warning", "error"]),
            ("program", vec!["ws2012", "ws2016", "ws2008", "all"]),
        ] {
            let arg = check.get_arguments().find(|a| a.get_id() == flag).unwrap();
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_owned())
                .collect();
            assert_eq!(values, expected, "--{flag}");
        }
        let parsed = Cli::try_parse_from([
            "esu-preflight",
            "check",
            "--cloud",
            "azureusgovernment",
            "--credential",
            "Azure-CLI",
            "--format",
            "JSON",
            "--program",
            "WS2016",
        ])
        .unwrap();
        let Command::Check(args) = parsed.command else {
            panic!("not check")
        };
        assert_eq!(args.connection.cloud, Cloud::AzureUSGovernment);
        assert_eq!(args.connection.credential, CredentialKind::AzureCli);
        assert_eq!(
            args.output.format,
            [FormatTarget {
                format: Format::Json,
                path: None
            }]
        );
        assert!(matches!(args.program.program, ProgramFilter::Arc(p) if p.id == "ws2016"));
        let parsed = Cli::try_parse_from(["esu-preflight", "check"]).unwrap();
        let Command::Check(args) = parsed.command else {
            panic!("not check")
        };
        assert_eq!(args.program.program, ProgramFilter::All, "default: all");
        let parsed =
            Cli::try_parse_from(["esu-preflight", "check", "--program", "WS2008"]).unwrap();
        let Command::Check(args) = parsed.command else {
            panic!("not check")
        };
        assert_eq!(args.program.program, ProgramFilter::Mak);
        let error = Cli::try_parse_from(["esu-preflight", "check", "--credential", "kerberos"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--credential") && error.contains("azure-cli"),
            "{error}"
        );
    }

    /// Every subcommand's help, at a width.
    fn all_help(width: usize) -> Vec<(String, String, clap::Command)> {
        fn walk(
            cmd: &clap::Command,
            path: String,
            width: usize,
            out: &mut Vec<(String, String, clap::Command)>,
        ) {
            let mut cmd = cmd.clone().term_width(width);
            let help = cmd.render_long_help().to_string();
            out.push((path.clone(), help, cmd.clone()));
            for sub in cmd.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()), width, out);
            }
        }
        let mut cli = Cli::command();
        cli.build();
        let mut out = Vec::new();
        walk(&cli, "esu-preflight".into(), width, &mut out);
        out
    }

    #[test]
    fn every_help_lists_the_values_a_flag_takes() {
        for (path, help, cmd) in all_help(100) {
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                for value in arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                {
                    assert!(
                        help.contains(value.get_name()),
                        "{path} --help does not list {:?} for {}:\n{help}",
                        value.get_name(),
                        arg.get_id()
                    );
                }
            }
        }
        let check = all_help(100)
            .into_iter()
            .find(|(path, ..)| path == "esu-preflight check")
            .unwrap()
            .1;
        assert!(
            check.contains("info") && check.contains("warning"),
            "{check}"
        );
    }

    #[test]
    fn every_help_wraps_to_the_terminal() {
        for width in [60, 100] {
            for (path, help, _) in all_help(width) {
                for line in help.lines() {
                    // An unbreakable word (a URL, a long flag with its value) may stand out.
                    let breakable = line.trim().contains(' ');
                    assert!(
                        line.chars().count() <= width || !breakable,
                        "{path} --help at {width}: {line:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn explain_takes_text_or_list() {
        let parsed = Cli::try_parse_from(["esu-preflight", "explain", "--list"]).unwrap();
        let Command::Explain(args) = parsed.command else {
            panic!("not explain")
        };
        assert!(args.list && args.topic.is_empty());
        assert!(Cli::try_parse_from(["esu-preflight", "explain"]).is_err());
        let parsed =
            Cli::try_parse_from(["esu-preflight", "list-checks", "--format", "JSON"]).unwrap();
        let Command::ListChecks(args) = parsed.command else {
            panic!("not list-checks")
        };
        assert_eq!(args.format, ListFormat::Json);
        assert!(
            Cli::try_parse_from(["esu-preflight", "list-checks", "--format", "sarif"]).is_err()
        );
    }

    #[test]
    fn format_takes_several_values_with_files() {
        let parsed = Cli::try_parse_from([
            "esu-preflight",
            "check",
            "--format",
            "table",
            "--format",
            "SARIF=out/esu.sarif",
            "--format=junit=a=b.xml",
        ])
        .unwrap();
        let Command::Check(args) = parsed.command else {
            panic!("not check")
        };
        assert_eq!(
            args.output.format,
            [
                FormatTarget {
                    format: Format::Table,
                    path: None
                },
                FormatTarget {
                    format: Format::Sarif,
                    path: Some("out/esu.sarif".into())
                },
                FormatTarget {
                    format: Format::Junit,
                    path: Some("a=b.xml".into())
                },
            ]
        );
        for (bad, expected) in [
            ("xml=a.xml", "possible values"),
            ("sarif=", "no file after '='"),
            ("yaml", "possible values"),
        ] {
            let error = Cli::try_parse_from(["esu-preflight", "check", "--format", bad])
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{bad}: {error}");
        }
    }

    #[test]
    fn poll_interval_below_one_second_is_refused() {
        assert!(parse_poll_interval("0.5").is_err());
        assert!(parse_poll_interval("0").is_err());
        assert_eq!(
            parse_poll_interval("1.5").unwrap(),
            std::time::Duration::from_millis(1500)
        );
    }

    #[test]
    fn subscription_ids_are_guids() {
        assert_eq!(
            parse_subscription_id("291BBA3F-E0A5-47BC-A099-3BDCB2A50A05").unwrap(),
            "291bba3f-e0a5-47bc-a099-3bdcb2a50a05"
        );
        assert_eq!(
            parse_subscription_id(" 291bba3f-e0a5-47bc-a099-3bdcb2a50a05").unwrap(),
            "291bba3f-e0a5-47bc-a099-3bdcb2a50a05"
        );
        for bad in [
            "",
            "abc",
            "291bba3f-e0a5-47bc-a099-3bdcb2a50a0",
            "291bba3fxe0a5-47bc-a099-3bdcb2a50a05",
            "291bba3f-e0a5-47bc-a099-3bdcb2a50a0g",
        ] {
            assert!(parse_subscription_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resource_group_and_management_group_names_cannot_change_the_path() {
        assert!(parse_resource_group("rg-esu_(prod).1").is_ok());
        assert!(parse_management_group("mg-contoso").is_ok());
        for bad in ["", "a/b", "a?b", "..", "a b", "a%2Fb", &"x".repeat(91)] {
            assert!(parse_resource_group(bad).is_err(), "{bad:?} accepted");
            assert!(parse_management_group(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_resource_group("rg.").is_err());
    }
}
