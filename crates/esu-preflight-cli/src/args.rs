//! The command line as the user typed it (raw flags); resolving them is `main.rs`'s job.

use clap::{Args, Parser, Subcommand, ValueEnum};
use esu_preflight::Severity;
use esu_preflight::arm::{Cloud, CredentialKind};
use esu_preflight::render::Format;
use std::path::PathBuf;

/// Pre-flight checks for Azure Arc Extended Security Updates (Windows Server 2012 / 2012 R2).
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
#[derive(Debug, Args)]
#[command(next_help_heading = "Scope")]
pub struct ScopeArgs {
    /// A subscription id (GUID); repeat for several. Default: $AZURE_SUBSCRIPTION_ID
    /// (comma-separated).
    #[arg(
        long = "subscription",
        value_name = "ID",
        env = "AZURE_SUBSCRIPTION_ID",
        value_delimiter = ',',
        value_parser = parse_subscription_id
    )]
    pub subscriptions: Vec<String>,

    /// Narrow the checks to this resource group, in each subscription; repeat for several.
    #[arg(long = "resource-group", value_name = "NAME", value_parser = parse_resource_group)]
    pub resource_groups: Vec<String>,

    /// Check every subscription below this management group (all depths); repeat for several.
    #[arg(long = "management-group", value_name = "ID", value_parser = parse_management_group)]
    pub management_groups: Vec<String>,
}

/// How to reach and authenticate to Azure Resource Manager.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// The Azure cloud: AzureCloud, AzureUSGovernment or AzureChinaCloud.
    #[arg(long, value_name = "CLOUD", default_value = "AzureCloud", value_parser = parse_cloud)]
    pub cloud: Cloud,

    /// ARM endpoint URL overriding the cloud's (https; plain http only to loopback hosts, for
    /// local emulators).
    #[arg(long, value_name = "URL", env = "ESU_PREFLIGHT_ARM_ENDPOINT")]
    pub arm_endpoint: Option<String>,

    /// Where the token comes from: auto, environment, workload-identity, azure-pipelines,
    /// managed-identity, azure-cli or access-token ($ESU_PREFLIGHT_ACCESS_TOKEN).
    #[arg(long, value_name = "SOURCE", default_value = "auto", value_parser = parse_credential)]
    pub credential: CredentialKind,

    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Give up after this many seconds overall.
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

    /// Evaluate a snapshot file written by `esu-preflight snapshot` instead of reading Azure.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// Configuration file (TOML), e.g. per-check severity overrides:
    /// `[severity]` then `ESU101 = "warning"`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How a report is written and judged.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = parse_format)]
    pub format: Format,

    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,

    /// Exit 1 when a finding fails at or above this severity.
    #[arg(long, value_name = "LEVEL", default_value = "error")]
    pub fail_on: SeverityArg,

    /// Do not exit 1 for inconclusive findings (facts that could not be read).
    #[arg(long)]
    pub allow_inconclusive: bool,
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

    /// Where to write the snapshot (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub output_file: PathBuf,
}

/// `esu-preflight fix providers`.
#[derive(Debug, Args)]
pub struct FixProvidersArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Really register the providers. Without it, only shows what would be done.
    #[arg(long)]
    pub yes: bool,

    /// After registering, wait until every required provider is Registered.
    #[arg(long)]
    pub wait: bool,

    /// Seconds between polls while waiting.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub poll_interval: std::time::Duration,

    /// Stop waiting after this many seconds (added to --timeout for the overall deadline).
    #[arg(long, value_name = "SECONDS", default_value = "600", value_parser = parse_seconds)]
    pub wait_timeout: std::time::Duration,
}

/// `esu-preflight explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check ID (ESU101) or an error message.
    #[arg(value_name = "ID_OR_ERROR_TEXT", required = true, num_args = 1..)]
    pub topic: Vec<String>,
}

/// `esu-preflight list-checks`.
#[derive(Debug, Args)]
pub struct ListChecksArgs {
    /// `table` or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = parse_format)]
    pub format: Format,
}

/// A subscription id must be a GUID; it is normalised to lower case.
fn parse_subscription_id(value: &str) -> Result<String, String> {
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

fn parse_cloud(value: &str) -> Result<Cloud, String> {
    value.parse().map_err(|e| format!("{e}"))
}

fn parse_credential(value: &str) -> Result<CredentialKind, String> {
    value.parse().map_err(|e| format!("{e}"))
}

fn parse_format(value: &str) -> Result<Format, String> {
    value.parse().map_err(|e| format!("{e}"))
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
    fn subscription_ids_are_guids() {
        assert_eq!(
            parse_subscription_id("291BBA3F-E0A5-47BC-A099-3BDCB2A50A05").unwrap(),
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
