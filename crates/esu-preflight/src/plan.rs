//! The license plan: what the engineer intends to provision (`--license-plan FILE`).
//!
//! It mirrors the ARM license body (see DESIGN's "License plan"). [`evaluate`](crate::evaluate)
//! takes one in its [`EvalInput`](crate::checks::EvalInput); an empty plan means "check what
//! exists".
//!
//! # The file
//!
//! TOML (one `[[license]]` table per license) or JSON (`{"license": [{…}, …]}`, the same
//! fields); `licenses` is accepted as well as `license` in both. [`LicensePlan::load`] picks
//! the format by extension: `.json` is JSON, anything else TOML.
//!
//! ```toml
//! [[license]]
//! name = "esu-ws2016-dc"
//! subscription = "00000000-0000-0000-0000-000000000000"   # optional: the first in scope
//! resource_group = "rg-esu"
//! location = "eastus"
//! target = "Windows Server 2016"      # or "Windows Server 2012 R2", "Windows Server 2012"
//! edition = "Datacenter"              # or "Standard"
//! type = "pCore"                      # or "vCore"
//! processors = 16
//! state = "Activated"                 # optional, the default; or "Deactivated"
//! machines = ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-01"]
//! ```
//!
//! Reading validates every field (see [`LicensePlan::from_toml_str`]) and canonicalizes the
//! spelling of `target`, `edition`, `type`, `state` and `subscription`. Whether the license is
//! big enough or the combination valid is for the license checks, not the reader: a plan that
//! reads is a plan the checks can judge.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::programs::{self, PROGRAMS};

/// The licenses to provision, and the machines to link to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePlan {
    /// The planned licenses (`[[license]]` in TOML).
    #[serde(default, rename = "license", alias = "licenses")]
    pub licenses: Vec<PlannedLicense>,
    /// The Windows Server 2008 / 2008 R2 servers to cover with Multiple Activation Keys
    /// (`[[mak_key]]` in TOML): what ESU702 compares the subscription's keys with.
    #[serde(
        default,
        rename = "mak_key",
        alias = "mak_keys",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mak_keys: Vec<PlannedMakKey>,
}

/// Windows Server 2008 / 2008 R2 servers planned to receive ESU through a Multiple Activation
/// Key (`Microsoft.WindowsESU/multipleActivationKeys`).
///
/// ```toml
/// [[mak_key]]
/// os_type = "WindowsServer2008R2"   # or "WindowsServer2008"
/// servers = 120                     # how many servers the key(s) must cover
/// name = "Agreement01"              # optional: only this key counts
/// resource_group = "rg-esu"         # optional: only keys in this resource group count
/// subscription = "00000000-0000-0000-0000-000000000000"  # optional: the first in scope
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedMakKey {
    /// The operating system the keys must be for: `WindowsServer2008` or `WindowsServer2008R2`
    /// (`Windows Server 2008 R2` is accepted too).
    pub os_type: String,
    /// How many servers the keys must cover together (`installedServerNumber`).
    pub servers: u32,
    /// Only the key of this name counts; `None`: every key of `os_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only keys in this resource group count; `None`: the whole subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The subscription (GUID); `None`: the first subscription in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
}

impl PlannedMakKey {
    /// The subscription the keys are planned in: its own, else `default` (the first in scope).
    pub fn subscription_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.subscription.as_deref().unwrap_or(default)
    }
}

impl LicensePlan {
    /// An empty plan.
    pub const fn new() -> Self {
        Self {
            licenses: Vec::new(),
            mak_keys: Vec::new(),
        }
    }

    /// Adds everything `other` plans (its licenses and its MAK keys) to this plan: what several
    /// plan files (`--license-plan`, the configuration's `license_plans`) make together.
    ///
    /// ```
    /// use esu_preflight::plan::LicensePlan;
    /// use std::path::Path;
    ///
    /// let mut plan = LicensePlan::new();
    /// let mak = "[[mak_key]]\nos_type = \"WindowsServer2008R2\"\nservers = 120\n";
    /// plan.merge(LicensePlan::from_toml_str(mak, Path::new("ws2008.toml")).unwrap());
    /// assert_eq!(plan.mak_keys.len(), 1);
    /// assert!(!plan.is_empty());
    /// ```
    pub fn merge(&mut self, other: LicensePlan) {
        self.licenses.extend(other.licenses);
        self.mak_keys.extend(other.mak_keys);
    }

    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.licenses.is_empty() && self.mak_keys.is_empty()
    }

    /// Reads a plan file: JSON when its name ends in `.json` (any case), TOML otherwise.
    ///
    /// See [`LicensePlan::from_toml_str`] for what is validated.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, PlanFormat::of_path(path), path)
    }

    /// Parses a plan in `format`; `path` is used in error messages only.
    pub fn parse(text: &str, format: PlanFormat, path: &Path) -> Result<Self, PlanError> {
        match format {
            PlanFormat::Toml => Self::from_toml_str(text, path),
            PlanFormat::Json => Self::from_json_str(text, path),
        }
    }

    /// Parses and validates a TOML plan; `path` is used in error messages only.
    ///
    /// Errors ([`PlanError::Invalid`]) name the file, line, column and field (`license[1].processors`)
    /// and what is expected, in words: a syntax error, an unknown or missing field, a wrong
    /// type, `processors` below 1, a `target` no ESU program has, an `edition`, `type` or `state`
    /// that is none of the program's, a `subscription` that is not a GUID, a name or resource
    /// group ARM would refuse, a machine id that is not an Arc machine's, a license planned
    /// twice in the same resource group, or a plan with no license at all.
    ///
    /// ```
    /// use esu_preflight::plan::LicensePlan;
    /// use std::path::Path;
    ///
    /// let text = r#"
    /// [[license]]
    /// name = "esu-ws2016"
    /// resource_group = "rg-esu"
    /// location = "eastus"
    /// target = "windows server 2016"
    /// edition = "datacenter"
    /// type = "pcore"
    /// processors = 0
    /// "#;
    /// let err = LicensePlan::from_toml_str(text, Path::new("plan.toml")).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "plan.toml:9:14: license[0].processors: expected a whole number of cores, 1 or more, found 0"
    /// );
    /// let plan = LicensePlan::from_toml_str(&text.replace("= 0", "= 16"), Path::new("plan.toml"))
    ///     .unwrap();
    /// assert_eq!(plan.licenses[0].target, "Windows Server 2016");
    /// assert_eq!(plan.licenses[0].edition, "Datacenter");
    /// assert_eq!(plan.licenses[0].license_type, "pCore");
    /// ```
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, PlanError> {
        let doc = Doc::Toml(text);
        let deserializer = toml::Deserializer::parse(text).map_err(|e| {
            let at = e.span().map_or(0, |span| span.start);
            doc.error(
                path,
                None,
                at,
                format!("not valid TOML: {}", e.message().trim().replace('`', "\"")),
            )
        })?;
        let plan: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = field_of(e.path());
            let at = match e.inner().span() {
                Some(span) => span.start,
                None => doc.locate(field.as_deref().unwrap_or("")),
            };
            let message = crate::serde_text::humanize(e.inner().message());
            doc.error(
                path,
                field.clone(),
                at,
                word_message(field.as_deref(), message),
            )
        })?;
        doc.validated(plan, path)
    }

    /// Parses and validates a JSON plan (`{"license": [{…}]}`); `path` is used in error
    /// messages only. Validated as [`LicensePlan::from_toml_str`].
    ///
    /// ```
    /// use esu_preflight::plan::LicensePlan;
    /// use std::path::Path;
    ///
    /// let err = LicensePlan::from_json_str(
    ///     r#"{"license": [{"name": "l", "resource_group": "rg", "location": "eastus",
    ///        "target": "Windows Server 2019", "edition": "Standard", "type": "vCore",
    ///        "processors": 8}]}"#,
    ///     Path::new("plan.json"),
    /// )
    /// .unwrap_err();
    /// assert!(err.to_string().starts_with("plan.json:2:18: license[0].target: expected one of"));
    /// ```
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, PlanError> {
        let doc = Doc::Json(text);
        let start = text.len() - text.trim_start().len();
        if text[start..].starts_with('[') {
            return Err(doc.error(
                path,
                None,
                start,
                "expected an object, {\"license\": [{…}, …]}, found a list".to_owned(),
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let parsed: Result<Self, _> = serde_path_to_error::deserialize(&mut deserializer);
        let plan = parsed
            .map_err(|e| (field_of(e.path()), e.into_inner()))
            .and_then(|plan| deserializer.end().map(|()| plan).map_err(|e| (None, e)))
            .map_err(|(field, e)| {
                let message = crate::serde_text::humanize(&e.to_string());
                if e.is_syntax() || e.is_eof() || field.is_none() {
                    let field = field.filter(|_| e.is_data());
                    let message = if e.is_data() {
                        message
                    } else {
                        format!("not valid JSON: {message}")
                    };
                    return PlanError::Invalid {
                        path: path.to_owned(),
                        line: e.line().max(1),
                        column: e.column().max(1),
                        field,
                        message,
                    };
                }
                // serde_json points after the value; point at its start, as for TOML.
                let at = doc.locate(field.as_deref().unwrap_or(""));
                let message = word_message(field.as_deref(), message);
                doc.error(path, field, at, message)
            })?;
        doc.validated(plan, path)
    }

    /// Gives every license without a `subscription` this one (the CLI passes the first
    /// `--subscription`, or the snapshot's first).
    pub fn default_subscription(&mut self, subscription_id: &str) {
        for license in &mut self.licenses {
            if license.subscription.is_none() {
                license.subscription = Some(subscription_id.to_ascii_lowercase());
            }
        }
        for key in &mut self.mak_keys {
            if key.subscription.is_none() {
                key.subscription = Some(subscription_id.to_ascii_lowercase());
            }
        }
    }
}

/// The syntax of a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanFormat {
    /// TOML (`[[license]]` tables).
    Toml,
    /// JSON (`{"license": [...]}`).
    Json,
}

impl PlanFormat {
    /// JSON when the file name ends in `.json` (any case), TOML otherwise.
    pub fn of_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Toml,
        }
    }
}

/// Why a license plan could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The file could not be read.
    #[error("cannot read the license plan {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error (its cause, not repeated in this message: the CLI prints the chain).
        #[source]
        source: std::io::Error,
    },
    /// The file does not parse, or a field is wrong.
    #[error("{}:{line}:{column}: {}{message}", .path.display(), field_prefix(.field))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// The column (from 1, in characters).
        column: usize,
        /// The field, e.g. `license[1].processors`, when the error is about one.
        field: Option<String>,
        /// What is wrong and what is expected, in words.
        message: String,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

/// serde_path_to_error's path (`license[1].processors`), `None` for the document itself.
fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    let field = path.to_string();
    (field != ".").then_some(field)
}

/// Words a serde message for the plan's fields (`processors` is a count of cores).
fn word_message(field: Option<&str>, message: String) -> String {
    if matches!(field, Some("license" | "licenses")) && message.ends_with("found an object") {
        return format!(
            "{message} (one [[license]] table per license in TOML, with two brackets; \
             \"license\": [{{…}}] in JSON)"
        );
    }
    let is_processors = field.is_some_and(|f| f.ends_with(".processors"));
    match message.strip_prefix("expected a whole number (0 or more)") {
        Some(rest) if is_processors => format!("expected a whole number of cores, 1 or more{rest}"),
        _ => message,
    }
}

/// The source text, to find where a field is.
enum Doc<'a> {
    Toml(&'a str),
    Json(&'a str),
}

impl Doc<'_> {
    fn text(&self) -> &str {
        match self {
            Doc::Toml(text) | Doc::Json(text) => text,
        }
    }

    fn error(&self, path: &Path, field: Option<String>, at: usize, message: String) -> PlanError {
        let (line, column) = line_column(self.text(), at);
        PlanError::Invalid {
            path: path.to_owned(),
            line,
            column,
            field,
            message,
        }
    }

    /// The byte offset of `field` (`license[1].processors`), or of the nearest enclosing value
    /// that exists (a missing field: its table).
    fn locate(&self, field: &str) -> usize {
        let segments = segments(field);
        match self {
            Doc::Toml(text) => toml_locate(text, &segments),
            Doc::Json(text) => json_locate(text, &segments),
        }
    }

    /// Validates and canonicalizes a parsed plan, naming the line of a bad field.
    fn validated(&self, mut plan: LicensePlan, path: &Path) -> Result<LicensePlan, PlanError> {
        if plan.licenses.is_empty() && plan.mak_keys.is_empty() {
            return Err(self.error(
                path,
                None,
                0,
                "the plan names no license: expected at least one [[license]] table (TOML) or a \
                 \"license\" list (JSON) (or, for Windows Server 2008, a [[mak_key]] table)"
                    .to_owned(),
            ));
        }
        for (index, key) in plan.mak_keys.iter_mut().enumerate() {
            if let Err((field, message)) = validate_mak_key(key) {
                let field = format!("mak_key[{index}].{field}");
                let at = self.locate(&field);
                return Err(self.error(path, Some(field), at, message));
            }
        }
        let mut seen: Vec<(String, String, String, usize)> = Vec::new();
        for (index, license) in plan.licenses.iter_mut().enumerate() {
            if let Err((field, message)) = validate(license) {
                let field = format!("license[{index}].{field}");
                let at = self.locate(&field);
                return Err(self.error(path, Some(field), at, message));
            }
            let key = (
                license.subscription.clone().unwrap_or_default(),
                license.resource_group.to_ascii_lowercase(),
                license.name.to_ascii_lowercase(),
            );
            if let Some(first) = seen
                .iter()
                .find(|(s, rg, n, _)| (s, rg, n) == (&key.0, &key.1, &key.2))
            {
                let field = format!("license[{index}].name");
                let at = self.locate(&field);
                let (first_line, _) = line_column(self.text(), first.3);
                return Err(self.error(
                    path,
                    Some(field),
                    at,
                    format!(
                        "license {:?} is planned twice in resource group {:?} (first at line \
                         {first_line}): expected one license per name and resource group",
                        license.name, license.resource_group
                    ),
                ));
            }
            let at = self.locate(&format!("license[{index}].name"));
            seen.push((key.0, key.1, key.2, at));
        }
        Ok(plan)
    }
}

/// The operating systems a Windows Server ESU Multiple Activation Key is for, as ARM spells them.
pub const MAK_OS_TYPES: [&str; 2] = ["WindowsServer2008", "WindowsServer2008R2"];

/// The MAK operating system `name` names, as ARM spells it ([`MAK_OS_TYPES`]), ignoring case
/// and spaces (`Windows Server 2008 R2` is `WindowsServer2008R2`); `None` for any other.
pub fn canonical_mak_os_type(name: &str) -> Option<&'static str> {
    let squeezed: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    MAK_OS_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(&squeezed))
        .copied()
}

/// Checks one planned MAK key's fields and canonicalizes `os_type`; the error names the field.
fn validate_mak_key(key: &mut PlannedMakKey) -> Result<(), (String, String)> {
    let bad = |field: &str, message: String| Err((field.to_owned(), message));
    match canonical_mak_os_type(&key.os_type) {
        Some(canonical) => key.os_type = canonical.to_owned(),
        None => {
            return bad(
                "os_type",
                format!(
                    "expected WindowsServer2008 or WindowsServer2008R2, found {:?}",
                    key.os_type
                ),
            );
        }
    }
    if !(1..=5000).contains(&key.servers) {
        return bad(
            "servers",
            format!(
                "expected a number of servers from 1 to 5000 (one key covers at most 5000), \
                 found {}",
                key.servers
            ),
        );
    }
    if let Some(name) = &key.name
        && !is_arm_name(name)
    {
        return bad(
            "name",
            format!("expected a key name of letters, digits, '-', '_' or '.', found {name:?}"),
        );
    }
    if let Some(group) = &key.resource_group
        && !is_resource_group(group)
    {
        return bad(
            "resource_group",
            format!("expected a resource group name, found {group:?}"),
        );
    }
    if let Some(subscription) = &mut key.subscription {
        if !is_guid(subscription) {
            return bad(
                "subscription",
                format!(
                    "expected a subscription id, a GUID such as \
                     00000000-0000-0000-0000-000000000000, found {subscription:?}"
                ),
            );
        }
        *subscription = subscription.to_ascii_lowercase();
    }
    Ok(())
}

/// Checks one license's fields and canonicalizes their spelling; the error names the field
/// (relative to the license) and what is expected.
fn validate(license: &mut PlannedLicense) -> Result<(), (String, String)> {
    let bad = |field: &str, message: String| Err((field.to_owned(), message));
    if !is_arm_name(&license.name) {
        return bad(
            "name",
            format!(
                "expected a license name of letters, digits, '-', '_' or '.', found {:?}",
                license.name
            ),
        );
    }
    if let Some(subscription) = &mut license.subscription {
        if !is_guid(subscription) {
            return bad(
                "subscription",
                format!(
                    "expected a subscription id, a GUID such as \
                     00000000-0000-0000-0000-000000000000, found {subscription:?}"
                ),
            );
        }
        *subscription = subscription.to_ascii_lowercase();
    }
    if !is_resource_group(&license.resource_group) {
        return bad(
            "resource_group",
            format!(
                "expected a resource group name: 1 to 90 letters, digits, '-', '_', '.', '(' or \
                 ')', not ending in '.', found {:?}",
                license.resource_group
            ),
        );
    }
    let location = license.location.trim();
    if location.is_empty()
        || !location
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ')
    {
        return bad(
            "location",
            format!(
                "expected an Azure region such as \"eastus\", found {:?}",
                license.location
            ),
        );
    }
    let Some((program, release)) = programs::release_by_target(&license.target) else {
        let targets: Vec<String> = PROGRAMS
            .iter()
            .flat_map(|p| p.releases.iter().map(|r| format!("{:?}", r.name)))
            .collect();
        return bad(
            "target",
            format!(
                "expected one of {}, found {:?}",
                targets.join(", "),
                license.target
            ),
        );
    };
    license.target = release.name.to_owned();
    match canonical(program.editions.iter().copied(), &license.edition) {
        Some(edition) => license.edition = edition.to_owned(),
        None => {
            return bad(
                "edition",
                format!(
                    "expected one of {} for {}, found {:?}",
                    quoted(program.editions.iter().copied()),
                    release.name,
                    license.edition
                ),
            );
        }
    }
    let mut types: Vec<&str> = program
        .license_combinations
        .iter()
        .map(|(_, license_type)| *license_type)
        .collect();
    types.sort_unstable();
    types.dedup();
    match canonical(types.iter().copied(), &license.license_type) {
        Some(license_type) => license.license_type = license_type.to_owned(),
        None => {
            return bad(
                "type",
                format!(
                    "expected one of {}, found {:?}",
                    quoted(types.iter().copied()),
                    license.license_type
                ),
            );
        }
    }
    if license.processors == 0 {
        return bad(
            "processors",
            "expected a whole number of cores, 1 or more, found 0".to_owned(),
        );
    }
    const STATES: [&str; 2] = ["Activated", "Deactivated"];
    match canonical(STATES.into_iter(), &license.state) {
        Some(state) => license.state = state.to_owned(),
        None => {
            return bad(
                "state",
                format!(
                    "expected one of {}, found {:?}",
                    quoted(STATES.into_iter()),
                    license.state
                ),
            );
        }
    }
    for (index, machine) in license.machines.iter().enumerate() {
        if !is_machine_id(machine) {
            return bad(
                &format!("machines[{index}]"),
                format!(
                    "expected an Arc machine id, /subscriptions/{{guid}}/resourceGroups/{{group}}/\
                     providers/Microsoft.HybridCompute/machines/{{name}}, found {machine:?}"
                ),
            );
        }
        if license.machines[..index]
            .iter()
            .any(|earlier| earlier.eq_ignore_ascii_case(machine))
        {
            return bad(
                &format!("machines[{index}]"),
                format!("machine {machine:?} is listed twice: expected each machine once"),
            );
        }
    }
    Ok(())
}

fn canonical<'a>(mut choices: impl Iterator<Item = &'a str>, value: &str) -> Option<&'a str> {
    choices.find(|choice| choice.eq_ignore_ascii_case(value.trim()))
}

fn quoted<'a>(choices: impl Iterator<Item = &'a str>) -> String {
    choices
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A resource name as ARM allows it for licenses: letters, digits, `-`, `_`, `.`.
fn is_arm_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 260
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// 1–90 letters, digits, `-`, `_`, `.`, `(`, `)`, not ending in `.`.
fn is_resource_group(name: &str) -> bool {
    (1..=90).contains(&name.chars().count())
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

fn is_guid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// `/subscriptions/{guid}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}`,
/// case-insensitively.
fn is_machine_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    let [
        "",
        subscriptions,
        subscription,
        resource_groups,
        group,
        providers,
        namespace,
        machines,
        name,
    ] = parts.as_slice()
    else {
        return false;
    };
    subscriptions.eq_ignore_ascii_case("subscriptions")
        && is_guid(subscription)
        && resource_groups.eq_ignore_ascii_case("resourceGroups")
        && is_resource_group(group)
        && providers.eq_ignore_ascii_case("providers")
        && namespace.eq_ignore_ascii_case("Microsoft.HybridCompute")
        && machines.eq_ignore_ascii_case("machines")
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A step in a field path.
#[derive(Debug, PartialEq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// `license[1].machines[0]` → `license`, 1, `machines`, 0.
pub(crate) fn segments(field: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            out.push(Segment::Key(key.to_owned()));
        }
        for index in pieces {
            if let Ok(index) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(index));
            }
        }
    }
    out
}

/// The 1-based line and column (in characters) of byte offset `at`.
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Where `segments` is in a TOML document (the deepest part of it that exists).
pub(crate) fn toml_locate(text: &str, segments: &[Segment]) -> usize {
    use toml::de::{DeArray, DeTable, DeValue};
    let Ok(root) = DeTable::parse(text) else {
        return 0;
    };
    let mut at = root.span().start;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut array: Option<&DeArray<'_>> = None;
    for (depth, segment) in segments.iter().enumerate() {
        let value = match (segment, table, array) {
            (Segment::Key(key), Some(t), _) => t.get(key.as_str()).or_else(|| {
                (depth == 0 && key == "license")
                    .then(|| t.get("licenses"))
                    .flatten()
            }),
            (Segment::Index(i), _, Some(a)) => a.get(*i),
            _ => None,
        };
        let Some(value) = value else { break };
        at = value.span().start;
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a)),
            _ => (None, None),
        };
    }
    at
}

/// One planned ESU license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedLicense {
    /// The license resource's name.
    pub name: String,
    /// The subscription (GUID); `None`: the first subscription in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The resource group it is created in.
    pub resource_group: String,
    /// The region, e.g. `eastus`.
    pub location: String,
    /// The license target, e.g. `Windows Server 2012 R2` (an open string).
    pub target: String,
    /// `Standard` or `Datacenter` (an open string).
    pub edition: String,
    /// `pCore` or `vCore` (an open string).
    #[serde(rename = "type")]
    pub license_type: String,
    /// The number of cores.
    pub processors: u32,
    /// `Activated` or `Deactivated`.
    #[serde(default = "activated")]
    pub state: String,
    /// The ARM ids of the machines to link.
    #[serde(default)]
    pub machines: Vec<String>,
}

impl PlannedLicense {
    /// The subscription the license is planned in: its own, else `default` (the first in scope).
    pub fn subscription_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.subscription.as_deref().unwrap_or(default)
    }

    /// The ARM id the license will have.
    pub fn resource_id(&self, default_subscription: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.HybridCompute/licenses/{}",
            self.subscription_or(default_subscription),
            self.resource_group,
            self.name
        )
    }

    /// The body of the license as ARM takes it (`PUT …/licenses/{name}`, `validateLicense`).
    pub fn arm_body(&self) -> serde_json::Value {
        serde_json::json!({
            "location": self.location,
            "properties": {
                "licenseType": "ESU",
                "licenseDetails": {
                    "state": self.state,
                    "target": self.target,
                    "edition": self.edition,
                    "type": self.license_type,
                    "processors": self.processors,
                }
            }
        })
    }
}

/// Where `segments` is in a JSON document (the deepest part of it that exists). The text has
/// already parsed, so this walker can be simple.
fn json_locate(text: &str, segments: &[Segment]) -> usize {
    struct Walker<'a, 's> {
        bytes: &'a [u8],
        pos: usize,
        path: Vec<Segment>,
        target: &'s [Segment],
        best: (usize, usize),
    }
    impl Walker<'_, '_> {
        fn skip_ws(&mut self) {
            while self
                .bytes
                .get(self.pos)
                .is_some_and(u8::is_ascii_whitespace)
            {
                self.pos += 1;
            }
        }
        fn string(&mut self) -> String {
            let start = self.pos + 1;
            self.pos = start;
            while let Some(&b) = self.bytes.get(self.pos) {
                match b {
                    b'\\' => self.pos += 2,
                    b'"' => break,
                    _ => self.pos += 1,
                }
            }
            let end = self.pos.min(self.bytes.len());
            self.pos += 1;
            String::from_utf8_lossy(&self.bytes[start.min(end)..end]).into_owned()
        }
        fn value(&mut self) {
            self.skip_ws();
            let depth = self.path.len();
            let root_alias = |s: &Segment, t: &Segment| {
                s == t
                    || matches!((s, t), (Segment::Key(a), Segment::Key(b))
                        if a == "licenses" && b == "license")
            };
            if depth > self.best.0
                && depth <= self.target.len()
                && self
                    .path
                    .iter()
                    .zip(self.target)
                    .all(|(s, t)| root_alias(s, t))
            {
                self.best = (depth, self.pos);
            }
            match self.bytes.get(self.pos) {
                Some(b'{') => {
                    self.pos += 1;
                    loop {
                        self.skip_ws();
                        match self.bytes.get(self.pos) {
                            Some(b'"') => {}
                            Some(b'}') | None => break,
                            Some(_) => {
                                self.pos += 1;
                                continue;
                            }
                        }
                        let key = self.string();
                        self.skip_ws();
                        self.pos += 1; // ':'
                        self.path.push(Segment::Key(key));
                        self.value();
                        self.path.pop();
                        self.skip_ws();
                        if self.bytes.get(self.pos) == Some(&b',') {
                            self.pos += 1;
                        }
                    }
                    self.pos += 1;
                }
                Some(b'[') => {
                    self.pos += 1;
                    let mut index = 0;
                    loop {
                        self.skip_ws();
                        if matches!(self.bytes.get(self.pos), Some(b']') | None) {
                            break;
                        }
                        self.path.push(Segment::Index(index));
                        self.value();
                        self.path.pop();
                        index += 1;
                        self.skip_ws();
                        if self.bytes.get(self.pos) == Some(&b',') {
                            self.pos += 1;
                        }
                    }
                    self.pos += 1;
                }
                Some(b'"') => {
                    self.string();
                }
                Some(_) => {
                    while self
                        .bytes
                        .get(self.pos)
                        .is_some_and(|b| !b",]}".contains(b) && !b.is_ascii_whitespace())
                    {
                        self.pos += 1;
                    }
                }
                None => {}
            }
        }
    }
    let mut walker = Walker {
        bytes: text.as_bytes(),
        pos: 0,
        path: Vec::new(),
        target: segments,
        best: (0, 0),
    };
    walker.skip_ws();
    walker.best = (0, walker.pos);
    walker.value();
    walker.best.1
}

fn activated() -> String {
    "Activated".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";

    fn toml_plan() -> String {
        format!(
            r#"# two licenses
[[license]]
name = "esu-ws2016-dc"
subscription = "{}"
resource_group = "rg-esu"
location = "eastus"
target = "Windows Server 2016"
edition = "Datacenter"
type = "pCore"
processors = 16
machines = [
  "/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-01",
]

[[license]]
name = "esu-ws2012r2-std"
resource_group = "rg-esu"
location = "westeurope"
target = "windows server 2012 r2"
edition = "STANDARD"
type = "vcore"
processors = 8
state = "deactivated"
"#,
            SUB.to_ascii_uppercase()
        )
    }

    fn json_plan() -> String {
        format!(
            r#"{{
  "license": [
    {{
      "name": "esu-ws2016-dc",
      "subscription": "{}",
      "resource_group": "rg-esu",
      "location": "eastus",
      "target": "Windows Server 2016",
      "edition": "Datacenter",
      "type": "pCore",
      "processors": 16,
      "machines": [
        "/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-01"
      ]
    }},
    {{
      "name": "esu-ws2012r2-std",
      "resource_group": "rg-esu",
      "location": "westeurope",
      "target": "windows server 2012 r2",
      "edition": "STANDARD",
      "type": "vcore",
      "processors": 8,
      "state": "deactivated"
    }}
  ]
}}
"#,
            SUB.to_ascii_uppercase()
        )
    }

    fn toml_err(text: &str) -> String {
        LicensePlan::from_toml_str(text, Path::new("plan.toml"))
            .unwrap_err()
            .to_string()
    }

    fn json_err(text: &str) -> String {
        LicensePlan::from_json_str(text, Path::new("plan.json"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn both_formats_read_the_same_plan_canonicalized() {
        let from_toml = LicensePlan::from_toml_str(&toml_plan(), Path::new("p.toml")).unwrap();
        let from_json = LicensePlan::from_json_str(&json_plan(), Path::new("p.json")).unwrap();
        assert_eq!(from_toml, from_json);
        let [first, second] = from_toml.licenses.as_slice() else {
            panic!("two licenses expected")
        };
        assert_eq!(first.subscription.as_deref(), Some(SUB));
        assert_eq!(first.state, "Activated");
        assert_eq!(first.machines.len(), 1);
        assert_eq!(second.subscription, None);
        assert_eq!(second.target, "Windows Server 2012 R2");
        assert_eq!(second.edition, "Standard");
        assert_eq!(second.license_type, "vCore");
        assert_eq!(second.state, "Deactivated");
    }

    #[test]
    fn licenses_is_accepted_for_license() {
        let toml = toml_plan().replace("[[license]]", "[[licenses]]");
        let json = json_plan().replace("\"license\":", "\"licenses\":");
        let a = LicensePlan::from_toml_str(&toml, Path::new("p.toml")).unwrap();
        let b = LicensePlan::from_json_str(&json, Path::new("p.json")).unwrap();
        assert_eq!(a.licenses.len(), 2);
        assert_eq!(a, b);
        // A bad field under the alias is still found.
        let err = toml_err(&toml.replace("processors = 8", "processors = 0"));
        assert!(
            err.starts_with("plan.toml:22:14: license[1].processors:"),
            "{err}"
        );
    }

    #[test]
    fn default_subscription_fills_only_the_missing_ones() {
        let mut plan = LicensePlan::from_toml_str(&toml_plan(), Path::new("p.toml")).unwrap();
        plan.default_subscription("00000000-0000-0000-0000-0000000000AA");
        assert_eq!(plan.licenses[0].subscription.as_deref(), Some(SUB));
        assert_eq!(
            plan.licenses[1].subscription.as_deref(),
            Some("00000000-0000-0000-0000-0000000000aa")
        );
    }

    #[test]
    fn toml_errors_name_line_field_and_what_is_expected() {
        let plan = toml_plan();
        let cases = [
            (
                plan.replace("processors = 8", "processors = 0"),
                "plan.toml:22:14: license[1].processors: expected a whole number of cores, 1 or more, found 0",
            ),
            (
                plan.replace("processors = 8", "processors = -4"),
                "plan.toml:22:14: license[1].processors: expected a whole number of cores, 1 or more, found the number -4",
            ),
            (
                plan.replace("processors = 8", "processors = \"8\""),
                "plan.toml:22:14: license[1].processors: expected a whole number of cores, 1 or more, found the string \"8\"",
            ),
            (
                plan.replace("processors = 8", "processors = 8.5"),
                "plan.toml:22:14: license[1].processors: expected a whole number of cores, 1 or more, found the number 8.5",
            ),
            (
                plan.replace("processors = 8", "processors = 8\ncores = 8"),
                "plan.toml:23:1: license[1].cores: unknown field \"cores\", expected one of",
            ),
            (
                plan.replace(
                    "target = \"Windows Server 2016\"",
                    "target = \"Windows Server 2019\"",
                ),
                "plan.toml:7:10: license[0].target: expected one of \"Windows Server 2012\", \"Windows Server 2012 R2\", \"Windows Server 2016\", found \"Windows Server 2019\"",
            ),
            (
                plan.replace("edition = \"Datacenter\"", "edition = \"Essentials\""),
                "plan.toml:8:11: license[0].edition: expected one of \"Standard\" or \"Datacenter\" for Windows Server 2016, found \"Essentials\"",
            ),
            (
                plan.replace("type = \"vcore\"", "type = \"core\""),
                "plan.toml:21:8: license[1].type: expected one of \"pCore\" or \"vCore\", found \"core\"",
            ),
            (
                plan.replace("state = \"deactivated\"", "state = \"Active\""),
                "plan.toml:23:9: license[1].state: expected one of \"Activated\" or \"Deactivated\", found \"Active\"",
            ),
            (
                plan.replace(
                    "providers/Microsoft.HybridCompute/machines",
                    "providers/Microsoft.Compute/virtualMachines",
                ),
                "plan.toml:12:3: license[0].machines[0]: expected an Arc machine id, /subscriptions/{guid}/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/{name}, found \"/subscriptions/",
            ),
            (
                plan.replace(&SUB.to_ascii_uppercase(), "my-subscription"),
                "plan.toml:4:16: license[0].subscription: expected a subscription id, a GUID",
            ),
            (
                plan.replace("name = \"esu-ws2016-dc\"", "name = \"esu ws2016\""),
                "plan.toml:3:8: license[0].name: expected a license name of letters, digits",
            ),
            (
                plan.replace("esu-ws2012r2-std", "ESU-WS2016-DC").replace(
                    "state = \"deactivated\"",
                    &format!("subscription = \"{SUB}\""),
                ),
                "plan.toml:16:8: license[1].name: license \"ESU-WS2016-DC\" is planned twice in resource group \"rg-esu\" (first at line 3)",
            ),
            (
                plan.replace("location = \"westeurope\"\n", ""),
                "plan.toml:15:1: license[1]: missing field \"location\"",
            ),
            (
                plan.replace("processors = 16", "processors = 16 16"),
                "plan.toml:10:14: not valid TOML:",
            ),
            (
                "[license]\nname = \"x\"\n".to_owned(),
                "plan.toml:1:1: license: expected a list, found an object (one [[license]] table per license in TOML, with two brackets",
            ),
            (
                "# nothing yet\n".to_owned(),
                "plan.toml:1:1: the plan names no license",
            ),
        ];
        for (text, expected) in cases {
            let err = toml_err(&text);
            assert!(err.starts_with(expected), "{err}\nexpected: {expected}");
            assert!(!err.contains("u32") && !err.contains("struct "), "{err}");
        }
    }

    #[test]
    fn json_errors_name_line_field_and_what_is_expected() {
        let plan = json_plan();
        let cases = [
            (
                plan.replace("\"processors\": 8", "\"processors\": 0"),
                "plan.json:23:21: license[1].processors: expected a whole number of cores, 1 or more, found 0",
            ),
            (
                plan.replace("\"processors\": 8", "\"processors\": -1"),
                "plan.json:23:21: license[1].processors: expected a whole number of cores, 1 or more, found the number -1",
            ),
            (
                plan.replace("\"processors\": 8", "\"processors\": 8, \"cores\": 8"),
                "plan.json:23:33: license[1].cores: unknown field \"cores\", expected one of",
            ),
            (
                plan.replace("\"type\": \"vcore\"", "\"type\": \"socket\""),
                "plan.json:22:15: license[1].type: expected one of \"pCore\" or \"vCore\", found \"socket\"",
            ),
            (
                plan.replace("machines/srv-01", "machines/"),
                "plan.json:13:9: license[0].machines[0]: expected an Arc machine id",
            ),
            (
                plan.replace("\"processors\": 16,", "\"processors\": 16"),
                "plan.json:12:7: not valid JSON: expected \",\" or \"}\"",
            ),
            ("{}".to_owned(), "plan.json:1:1: the plan names no license"),
            (
                "\n [{\"name\": \"x\"}]".to_owned(),
                "plan.json:2:2: expected an object, {\"license\": [{…}, …]}, found a list",
            ),
            (
                "{\"license\": {\"name\": \"x\"}}".to_owned(),
                "plan.json:1:13: license: expected a list, found an object (one [[license]] table",
            ),
        ];
        for (text, expected) in cases {
            let err = json_err(&text);
            assert!(err.starts_with(expected), "{err}\nexpected: {expected}");
        }
    }

    #[test]
    fn load_picks_the_format_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("plan.toml");
        let json_path = dir.path().join("PLAN.JSON");
        std::fs::write(&toml_path, toml_plan()).unwrap();
        std::fs::write(&json_path, json_plan()).unwrap();
        assert_eq!(
            LicensePlan::load(&toml_path).unwrap(),
            LicensePlan::load(&json_path).unwrap()
        );
        let missing = dir.path().join("missing.toml");
        let err = LicensePlan::load(&missing).unwrap_err();
        assert!(matches!(err, PlanError::Io { .. }));
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }

    #[test]
    fn machine_ids_are_checked_case_insensitively() {
        assert!(is_machine_id(&format!(
            "/SUBSCRIPTIONS/{SUB}/resourcegroups/rg/PROVIDERS/microsoft.hybridcompute/MACHINES/m1"
        )));
        for bad in [
            "",
            "srv-01",
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines"
            ),
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m",
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m/extra"
            ),
            &format!(
                "subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m"
            ),
        ] {
            assert!(!is_machine_id(bad), "{bad:?} accepted");
        }
    }
}
