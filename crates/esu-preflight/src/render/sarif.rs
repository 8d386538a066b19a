//! SARIF 2.1.0, as GitHub code scanning accepts it.

use super::Emitter;
use crate::checks::{self, CheckInfo};
use crate::finding::{Evidence, Finding, Severity, Status};
use crate::report::{Report, ReportInputs};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;

/// The `$schema` of the SARIF files written: the OASIS SARIF 2.1.0 JSON schema.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The rule of the single result of a run that could not do its job.
pub const RUN_FAILED_RULE: &str = "run-failed";

/// The key of the fingerprint in `partialFingerprints`.
const FINGERPRINT_KEY: &str = "esuPreflight/v1";

/// SARIF 2.1.0, as GitHub code scanning accepts it.
///
/// Built from small typed serde structs (as cargo-deny does), not `json!` blobs; only the
/// members esu-preflight fills exist. What code scanning needs and how it is met:
///
/// - **Rules** come from the check registry ([`checks::all`]): ID, name, summary, the check's
///   documentation as help text and Markdown, its `helpUri`, and the default level.
/// - **Results** are the failing and inconclusive findings only: a passing finding as a result
///   would open an alert in code scanning. An inconclusive result says so at the start of its
///   message and in `properties.status`.
/// - **Level** follows the finding's severity: error → `error`, warning → `warning`, info →
///   `note`.
/// - **Locations**: every result has a `physicalLocation`. Cloud findings have no source file,
///   so it is the first file the run read, in this order: the license plan, the configuration
///   file, the snapshot ([`ReportInputs`]); a run that read none points at the resource itself,
///   as the relative path of its ARM id (`subscriptions/…/providers/Microsoft.Sql`, which needs
///   not exist in the repository: code scanning lists the alert under that path, without a code
///   snippet). The region is always line 1. The ARM id is in `logicalLocations` too
///   (`fullyQualifiedName`, kind `resource`).
/// - **Fingerprints**: `partialFingerprints["esuPreflight/v1"]` is a hash of the check ID, the
///   resource's ARM id (case-insensitively, as ARM compares them) and a discriminator, so an
///   alert keeps its identity from run to run while messages change. A check may conclude
///   more than once about one ARM id (ESU303 judges a provider's machines and its extensions
///   separately), so the discriminator is what tells those findings apart, stably: the resource
///   types the finding is about, from its evidence (`resourceType`, else the sorted `type`s of
///   `resources[]`, else `type`). Only a finding with none of these falls
///   back to its position among the findings of the same check and resource (`1`, `2`, …; the
///   only finding of its check and resource is always `1`). Two results that would still share
///   a fingerprint get their position added, so fingerprints are unique within a run: every
///   result points at line 1 of the same file, and code scanning tells alerts apart by them.
/// - **Suppressed findings** ([`Finding::suppressed`]) are results with SARIF's
///   `suppressions: [{"kind": "external", "justification": REASON}]` (§3.27.23; the expiry, if
///   any, in the suppression's `properties.expires`): code scanning shows them as dismissed
///   rather than open, and other viewers as suppressed.
/// - **A run that could not do its job** ([`Report::error`]) writes `executionSuccessful: false`
///   with the error as a tool execution notification, and one result of the rule
///   [`RUN_FAILED_RULE`] carrying the error: an upload of zero results would close every open
///   alert and show a stale green.
///
/// The output is deterministic (no timestamps) and safe to print on a terminal (the JSON
/// escapes of [`JsonEmitter`](super::JsonEmitter)).
#[derive(Debug, Clone, Copy, Default)]
pub struct SarifEmitter;

impl Emitter for SarifEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        super::json::write_terminal_safe(&log(report), out)
    }
}

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    invocations: Vec<Invocation>,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: String,
    version: String,
    semantic_version: String,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    name: String,
    short_description: Message,
    full_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<MultiformatMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
struct MultiformatMessage {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    tags: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Message,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    properties: ResultProperties,
}

/// SARIF's `suppression` object (§3.34).
#[derive(Serialize)]
struct Suppression {
    kind: &'static str,
    justification: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<SuppressionProperties>,
}

#[derive(Serialize)]
struct SuppressionProperties {
    expires: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties {
    status: &'static str,
    severity: &'static str,
    check: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    resource_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    subscription_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    program: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    remediation: String,
    #[serde(skip_serializing_if = "Evidence::is_null")]
    evidence: Evidence,
}

fn log(report: &Report) -> Log {
    let mut rules: Vec<Rule> = checks::all().iter().map(|c| rule(c.info())).collect();
    let mut index: BTreeMap<String, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| (rule.id.clone(), i))
        .collect();
    let mut occurrences: BTreeMap<(String, String, Option<String>), usize> = BTreeMap::new();
    let mut results = Vec::new();
    for finding in &report.findings {
        if !matches!(finding.status, Status::Fail | Status::Inconclusive) {
            continue;
        }
        let rule_index = *index
            .entry(finding.check_id.to_string())
            .or_insert_with(|| {
                // A report from another version may name a check this one does not know.
                rules.push(unknown_rule(finding));
                rules.len() - 1
            });
        let check = finding.check_id.to_string();
        let resource = finding.resource_id.to_lowercase();
        let discriminator = discriminator(finding);
        let occurrence = occurrences
            .entry((check.to_string(), resource.clone(), discriminator.clone()))
            .or_default();
        *occurrence += 1;
        let occurrence = occurrence.to_string();
        let print = match &discriminator {
            None => fingerprint(&[&check, &resource, &occurrence]),
            Some(types) if occurrence == "1" => {
                fingerprint(&[&check, &resource, &format!("type:{types}")])
            }
            Some(types) => fingerprint(&[&check, &resource, &format!("type:{types}"), &occurrence]),
        };
        results.push(result(finding, rule_index, print, &report.inputs));
    }
    let mut notifications = Vec::new();
    if let Some(error) = &report.error {
        notifications.push(Notification {
            level: "error",
            message: Message {
                text: error.clone(),
            },
        });
        rules.push(run_failed_rule());
        results.push(run_failed_result(report, error, rules.len() - 1));
    }
    Log {
        schema: SARIF_SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: report.tool.name.clone(),
                    version: report.tool.version.clone(),
                    semantic_version: report.tool.version.clone(),
                    information_uri: env!("CARGO_PKG_REPOSITORY"),
                    rules,
                },
            },
            invocations: vec![Invocation {
                execution_successful: report.error.is_none(),
                exit_code: report.summary.exit_code,
                tool_execution_notifications: notifications,
            }],
            results,
        }],
    }
}

/// The SARIF level of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule(info: &CheckInfo) -> Rule {
    let docs = info.render_docs();
    let (title, body) = docs.split_once('\n').unwrap_or((&docs, ""));
    Rule {
        id: info.id.to_owned(),
        name: info.name.to_owned(),
        short_description: Message {
            text: info.summary.to_owned(),
        },
        full_description: Message {
            text: info.docs.what_it_checks.trim().to_owned(),
        },
        help: Some(MultiformatMessage {
            markdown: format!(
                "**{title}**\n{body}\nMore: [{uri}]({uri})\n",
                uri = info.help_uri
            ),
            text: docs.clone(),
        }),
        help_uri: Some(info.help_uri.to_owned()),
        default_configuration: Configuration {
            level: level(info.default_severity),
        },
        properties: RuleProperties {
            tags: vec!["azure", "azure-arc", "esu", family(info.id)],
        },
    }
}

/// The check family of an ID, as a tag: `ESU101` → `providers`.
fn family(id: &str) -> &'static str {
    match id.as_bytes().get(3) {
        Some(b'0') => "scope",
        Some(b'1') => "providers",
        Some(b'2') => "access",
        Some(b'3') => "policy",
        Some(b'4') => "licenses",
        Some(b'5') => "machines",
        Some(b'6') => "patches",
        Some(b'7') => "mak",
        _ => "other",
    }
}

fn unknown_rule(finding: &Finding) -> Rule {
    Rule {
        id: finding.check_id.to_string(),
        name: finding.check.to_string(),
        short_description: Message {
            text: finding.check.to_string(),
        },
        full_description: Message {
            text: finding.check.to_string(),
        },
        help: None,
        help_uri: (!finding.help_uri.is_empty()).then(|| finding.help_uri.to_string()),
        default_configuration: Configuration {
            level: level(finding.severity),
        },
        properties: RuleProperties {
            tags: vec!["azure", "azure-arc", "esu", family(&finding.check_id)],
        },
    }
}

fn run_failed_rule() -> Rule {
    let text = "esu-preflight could not do its job (exit code 2): bad arguments or \
                configuration, authentication failure, or Azure Resource Manager unreachable. \
                Nothing was checked; the previous results are not confirmed.";
    Rule {
        id: RUN_FAILED_RULE.to_owned(),
        name: RUN_FAILED_RULE.to_owned(),
        short_description: Message {
            text: "esu-preflight could not run".to_owned(),
        },
        full_description: Message {
            text: text.to_owned(),
        },
        help: Some(MultiformatMessage {
            text: format!("{text} The result's message says why."),
            markdown: format!("{text} The result's message says why."),
        }),
        help_uri: None,
        default_configuration: Configuration { level: "error" },
        properties: RuleProperties {
            tags: vec!["azure", "azure-arc", "esu"],
        },
    }
}

/// What tells apart findings of one check about one ARM id, stably from run to run: the
/// resource types the finding is about, from its evidence — `resourceType` (a string), else the
/// `type`s of `resources[]` (sorted, without repeats, joined by `,`), else `type` (a string) —
/// lower-cased. `None` when the evidence has none of them.
fn discriminator(finding: &Finding) -> Option<String> {
    let evidence = &finding.evidence;
    let text = |value: &serde_json::Value| value.as_str().map(str::to_lowercase);
    if let Some(found) = evidence.get("resourceType").as_ref().and_then(text) {
        return Some(found);
    }
    if let Some(serde_json::Value::Array(resources)) = evidence.get("resources") {
        let mut types: Vec<String> = resources.iter().filter_map(|r| text(&r["type"])).collect();
        types.sort();
        types.dedup();
        if !types.is_empty() {
            return Some(types.join(","));
        }
    }
    evidence.get("type").as_ref().and_then(text)
}

fn result(
    finding: &Finding,
    rule_index: usize,
    fingerprint: String,
    inputs: &ReportInputs,
) -> SarifResult {
    let inconclusive = finding.status == Status::Inconclusive;
    let mut text = if inconclusive {
        format!(
            "inconclusive (the facts could not be read): {}",
            finding.message
        )
    } else {
        finding.message.clone()
    };
    if !finding.resource_id.is_empty() {
        text.push_str("\nresource: ");
        text.push_str(&finding.resource_id);
    }
    if !finding.remediation.is_empty() {
        text.push_str("\nfix: ");
        text.push_str(&finding.remediation);
    }
    let uri = inputs
        .files()
        .next()
        .map(file_uri)
        .unwrap_or_else(|| arm_uri(&finding.resource_id));
    let logical = (!finding.resource_id.is_empty())
        .then(|| LogicalLocation {
            name: finding
                .resource_id
                .rsplit('/')
                .find(|part| !part.is_empty())
                .unwrap_or(&finding.resource_id)
                .to_owned(),
            fully_qualified_name: finding.resource_id.to_string(),
            kind: "resource",
        })
        .into_iter()
        .collect();
    SarifResult {
        rule_id: finding.check_id.to_string(),
        rule_index,
        level: level(finding.severity),
        message: Message { text },
        locations: vec![Location {
            physical_location: physical(uri),
            logical_locations: logical,
        }],
        partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint)]),
        suppressions: finding
            .suppressed
            .iter()
            .map(|s| Suppression {
                kind: "external",
                justification: s.reason.clone(),
                properties: s
                    .expires
                    .clone()
                    .map(|expires| SuppressionProperties { expires }),
            })
            .collect(),
        properties: ResultProperties {
            status: finding.status.as_str(),
            severity: finding.severity.as_str(),
            check: finding.check.to_string(),
            resource_id: finding.resource_id.to_string(),
            subscription_id: finding.subscription_id.to_string(),
            program: finding.program.as_deref().map(str::to_owned),
            remediation: finding.remediation.clone(),
            evidence: finding.evidence.clone(),
        },
    }
}

fn run_failed_result(report: &Report, error: &str, rule_index: usize) -> SarifResult {
    let uri = report
        .inputs
        .files()
        .next()
        .map(file_uri)
        .unwrap_or_else(|| {
            report
                .scope
                .subscriptions
                .first()
                .map(|sub| arm_uri(&format!("/subscriptions/{sub}")))
                .unwrap_or_else(|| "esu-preflight".to_owned())
        });
    SarifResult {
        rule_id: RUN_FAILED_RULE.to_owned(),
        rule_index,
        level: "error",
        message: Message {
            text: format!("esu-preflight could not run: {error}"),
        },
        locations: vec![Location {
            physical_location: physical(uri),
            logical_locations: Vec::new(),
        }],
        partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint(&[RUN_FAILED_RULE]))]),
        suppressions: Vec::new(),
        properties: ResultProperties {
            status: "error",
            severity: "error",
            check: RUN_FAILED_RULE.to_owned(),
            resource_id: String::new(),
            subscription_id: String::new(),
            program: None,
            remediation: String::new(),
            evidence: Evidence::null(),
        },
    }
}

fn physical(uri: String) -> PhysicalLocation {
    PhysicalLocation {
        artifact_location: ArtifactLocation { uri },
        region: Region { start_line: 1 },
    }
}

/// A file path as a URI reference: relative paths stay relative (code scanning resolves them
/// against the repository root), with `\` as `/` and without a leading `./`; absolute paths
/// become `file:` URIs.
fn file_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let bytes = path.as_bytes();
    let windows_drive =
        bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'/';
    if path.starts_with('/') {
        format!("file://{}", percent_encode(path))
    } else if windows_drive {
        format!("file:///{}:{}", &path[..1], percent_encode(&path[2..]))
    } else if path.is_empty() {
        "esu-preflight".to_owned()
    } else {
        percent_encode(path)
    }
}

/// A resource's ARM id as a relative path (`subscriptions/…/providers/Microsoft.Sql`).
fn arm_uri(resource_id: &str) -> String {
    let path = resource_id.trim_start_matches('/');
    if path.is_empty() {
        "esu-preflight".to_owned()
    } else {
        percent_encode(path)
    }
}

/// Percent-encodes every byte but the unreserved characters and `/`.
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A stable hash of `parts` (two FNV-1a 64-bit hashes with different offsets, as 32 hex
/// digits): the same parts give the same fingerprint on every platform and in every version.
fn fingerprint(parts: &[&str]) -> String {
    let mut hashes = [0xcbf2_9ce4_8422_2325_u64, 0x6c62_272e_07bb_0142_u64];
    for hash in &mut hashes {
        for part in parts {
            for &byte in part.as_bytes().iter().chain(&[0]) {
                *hash ^= u64::from(byte);
                *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    format!("{:016x}{:016x}", hashes[0], hashes[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testdata;
    use crate::report::Gate;
    use crate::snapshot::Scope;
    use serde_json::Value;

    fn sarif(report: &Report) -> String {
        let mut out = Vec::new();
        SarifEmitter.emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn value(report: &Report) -> Value {
        serde_json::from_str(&sarif(report)).unwrap()
    }

    fn validator() -> jsonschema::Validator {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/sarif/sarif-schema-2.1.0.json"
        );
        // The published schema's `run.language` pattern has a stray `]` that a strict regex
        // check (the meta-schema's `format: regex`) refuses; it constrains a member this
        // emitter never writes, so it is corrected here rather than format checks turned off.
        let text = std::fs::read_to_string(path).unwrap().replace(
            "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
            "^[a-zA-Z]{2}$|^[a-zA-Z]{2}-[a-zA-Z]{2}$",
        );
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    }

    fn assert_valid(value: &Value) {
        let validator = validator();
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "invalid SARIF: {errors:#?}");
    }

    /// The SARIF text with the registry's rules cut out (every new check or reworded doc would
    /// change it; [`only_failing_and_inconclusive_findings_become_results`] checks them) except
    /// those the results use.
    fn sarif_for_snapshot(report: &Report) -> String {
        let mut log = value(report);
        let results = log["runs"][0]["results"].clone();
        let rules = &mut log["runs"][0]["tool"]["driver"]["rules"];
        let used: Vec<Value> = rules
            .as_array()
            .unwrap()
            .iter()
            .filter(|rule| {
                results
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["ruleId"] == rule["id"])
            })
            .cloned()
            .collect();
        *rules = Value::Array(used);
        // The rule indexes point into the full list: shown as the rule ids they name.
        for result in log["runs"][0]["results"].as_array_mut().unwrap() {
            result["ruleIndex"] = Value::from("[index]");
        }
        serde_json::to_string_pretty(&log).unwrap()
    }

    #[test]
    fn sarif_report() {
        let mut report = testdata::report();
        report.inputs.license_plan = Some("./plans/esu plan.toml".into());
        insta::assert_snapshot!(sarif_for_snapshot(&report));
    }

    #[test]
    fn sarif_is_valid_against_the_2_1_0_schema() {
        let mut with_inputs = testdata::report();
        with_inputs.inputs.snapshot = Some("C:\\snapshots\\estate.json".into());
        for report in [
            testdata::report(),
            testdata::long_report(),
            with_inputs,
            Report::failed(Scope::subscriptions(["s"]), "ARM unreachable"),
            Report::new(Scope::default(), Vec::new(), Gate::default()),
        ] {
            assert_valid(&value(&report));
        }
        // The validator is not vacuous: a tool without a driver, or a result without a
        // message, is refused.
        let validator = validator();
        let mut broken = value(&testdata::report());
        broken["runs"][0]["results"][0]
            .as_object_mut()
            .unwrap()
            .remove("message");
        assert!(!validator.is_valid(&broken));
        assert!(
            !validator.is_valid(&serde_json::json!({"version": "2.1.0", "runs": [{"tool": {}}]}))
        );
    }

    #[test]
    fn only_failing_and_inconclusive_findings_become_results() {
        let report = testdata::report();
        let log = value(&report);
        let results = log["runs"][0]["results"].as_array().unwrap();
        let expected = report
            .findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Inconclusive))
            .count();
        assert!(expected > 0);
        assert_eq!(results.len(), expected);
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), checks::all().len());
        for rule in rules {
            assert!(rule["helpUri"].as_str().unwrap().starts_with("https://"));
            assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
            assert!(!rule["help"]["markdown"].as_str().unwrap().is_empty());
        }
        for result in results {
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            let location = &result["locations"][0];
            // No input file: the ARM id as a relative path.
            let uri = location["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            assert!(uri.starts_with("subscriptions/"), "{uri}");
            assert_eq!(location["physicalLocation"]["region"]["startLine"], 1);
            let arm_id = location["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap();
            assert!(arm_id.starts_with("/subscriptions/"), "{arm_id}");
            let status = result["properties"]["status"].as_str().unwrap();
            let text = result["message"]["text"].as_str().unwrap();
            assert_eq!(status == "inconclusive", text.starts_with("inconclusive"));
            assert!(
                ["error", "warning", "note"].contains(&result["level"].as_str().unwrap()),
                "{result}"
            );
        }
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], true);
        assert_eq!(invocation["exitCode"], 1);
    }

    #[test]
    fn severity_sets_the_level() {
        let report = testdata::long_report();
        let log = value(&report);
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["level"], "warning");
        assert_eq!(level(Severity::Info), "note");
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let first = value(&testdata::report());
        let mut changed = testdata::report();
        for finding in &mut changed.findings {
            finding.message.push_str(" (reworded)");
        }
        let second = value(&changed);
        let prints = |log: &Value| -> Vec<String> {
            log["runs"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["partialFingerprints"][FINGERPRINT_KEY]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        assert_eq!(prints(&first), prints(&second));
        let mut unique = prints(&first);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), prints(&first).len());
        // Pinned: a change here re-opens every alert in code scanning.
        assert_eq!(
            fingerprint(&["ESU101", "/subscriptions/s/providers/microsoft.sql", "1"]),
            "7d85993bc01ed42ca37254a5386b4e8f"
        );
    }

    fn prints(log: &Value) -> Vec<String> {
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"][FINGERPRINT_KEY]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn suppressed_findings_carry_sarif_suppressions() {
        let report = testdata::suppressed_report();
        let log = value(&report);
        assert_valid(&log);
        let results = log["runs"][0]["results"].as_array().unwrap();
        let suppressed: Vec<&Value> = results
            .iter()
            .filter(|r| r.get("suppressions").is_some())
            .collect();
        assert_eq!(suppressed.len(), report.summary.suppressed);
        assert_eq!(
            results.len() - suppressed.len(),
            report.summary.fail + report.summary.inconclusive
        );
        let sql = suppressed
            .iter()
            .find(|r| {
                r["properties"]["resourceId"]
                    == "/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Sql"
            })
            .expect("the suppressed failure");
        assert_eq!(
            sql["suppressions"],
            serde_json::json!([{
                "kind": "external",
                "justification": "SQL is registered by the platform team | ticket #42",
                "properties": {"expires": "2027-01-01"}
            }])
        );
        let sandbox = suppressed
            .iter()
            .find(|r| {
                r["properties"]["subscriptionId"] == "11111111-1111-1111-1111-111111111111"
                    && r["properties"]["status"] == "inconclusive"
                    && r["suppressions"][0]["justification"] == "sandbox subscription"
            })
            .expect("a suppressed inconclusive finding");
        assert!(sandbox["suppressions"][0].get("properties").is_none());
    }

    /// Two findings of one check on one ARM id told apart by the resource types in their
    /// evidence (as ESU303 judges a provider's machines and extensions).
    fn two_on_one_id(types: &[&str]) -> Report {
        let mut report = testdata::long_report();
        let template = report.findings[0].clone();
        report.findings = types
            .iter()
            .map(|t| {
                let mut f = template.clone();
                f.check_id = "ESU303".into();
                f.resource_id = "/subscriptions/s/providers/Microsoft.HybridCompute".into();
                f.evidence = serde_json::json!({
                    "resources": [{"type": format!("Microsoft.HybridCompute/{t}"), "id": "x"}]
                })
                .into();
                f
            })
            .collect();
        report
    }

    #[test]
    fn fingerprints_follow_the_resource_type_not_the_position() {
        let both = prints(&value(&two_on_one_id(&["machines", "machines/extensions"])));
        let swapped = prints(&value(&two_on_one_id(&["machines/extensions", "machines"])));
        let machines = prints(&value(&two_on_one_id(&["machines"])));
        let extensions = prints(&value(&two_on_one_id(&["machines/extensions"])));
        assert_eq!(both, [machines[0].clone(), extensions[0].clone()]);
        assert_eq!(swapped, [extensions[0].clone(), machines[0].clone()]);
        assert_ne!(machines, extensions);
        // Same type twice: still distinct, by position.
        let twice = prints(&value(&two_on_one_id(&["machines", "machines"])));
        assert_eq!(twice[0], machines[0]);
        assert_ne!(twice[0], twice[1]);
    }

    #[test]
    fn fingerprints_are_unique_within_every_report() {
        let mut repeated = testdata::long_report();
        let resource = repeated.findings[0].resource_id.clone();
        repeated.findings[1].resource_id = resource;
        for report in [
            testdata::report(),
            testdata::suppressed_report(),
            testdata::hostile_report(),
            repeated,
            two_on_one_id(&["machines", "machines/extensions", "machines"]),
        ] {
            let all = prints(&value(&report));
            let mut unique = all.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), all.len(), "{all:?}");
        }
    }

    #[test]
    fn input_files_become_the_physical_location() {
        assert_eq!(file_uri("./plans/esu plan.toml"), "plans/esu%20plan.toml");
        assert_eq!(file_uri("plan.toml"), "plan.toml");
        assert_eq!(file_uri("/work/plan.toml"), "file:///work/plan.toml");
        assert_eq!(file_uri("C:\\esu\\plan.toml"), "file:///C:/esu/plan.toml");
        assert_eq!(
            arm_uri("/subscriptions/s/resourceGroups/rg (1)/x"),
            "subscriptions/s/resourceGroups/rg%20%281%29/x"
        );
        let mut report = testdata::report();
        report.inputs.config = Some("esu-preflight.toml".into());
        report.inputs.snapshot = Some("snap.json".into());
        let log = value(&report);
        for result in log["runs"][0]["results"].as_array().unwrap() {
            assert_eq!(
                result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                "esu-preflight.toml"
            );
        }
    }

    #[test]
    fn a_failed_run_says_so() {
        let mut report = Report::failed(Scope::subscriptions(["s"]), "ARM unreachable:\r\nline 2");
        report.tool.version = testdata::TEST_VERSION.to_owned();
        let log = value(&report);
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        assert_eq!(invocation["exitCode"], 2);
        assert_eq!(
            invocation["toolExecutionNotifications"][0]["message"]["text"],
            "ARM unreachable:\r\nline 2"
        );
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["ruleId"], RUN_FAILED_RULE);
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "subscriptions/s"
        );
        insta::assert_snapshot!(sarif_for_snapshot(&report));
    }

    #[test]
    fn control_characters_stay_inside_their_strings() {
        let mut report = testdata::long_report();
        report.findings[0].message = "line one\r\nline two\u{1b}[2J\u{9b}\u{202e}".into();
        let text = sarif(&report);
        for c in text.chars() {
            assert!(
                c == '\n' || !crate::render::text::tests_support::dangerous(c),
                "{c:?} written raw"
            );
        }
        let log: Value = serde_json::from_str(&text).unwrap();
        assert!(
            log["runs"][0]["results"][0]["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with("line one\r\nline two\u{1b}[2J\u{9b}\u{202e}")
        );
    }
}
