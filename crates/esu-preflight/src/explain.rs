//! Explanations of the error messages engineers meet while enabling ESU, with cause and fix.
//!
//! `esu-preflight explain "<error text>"` prints the matching entry. The cause and the steps
//! come from Microsoft's pages (the seeds this project is built from), each entry naming its
//! source; the ARM errors (`RequestDisallowedByPolicy`, `AuthorizationFailed`,
//! `MissingSubscriptionRegistration`) are read for their details — the policy assignment and
//! definition that blocked a request, the action and scope that were refused, the namespace
//! to register — so the fix names the real thing.
//!
//! Recognition is forgiving: any case, with or without the `ESU:` prefix, and the other
//! spellings of the same Windows error (`0x80072EFD` is 12029, `0x80072EE2` is 12002,
//! `0x80070661` is 1633, as HRESULTs in hex or as signed decimals).
//!
//! ```
//! use esu_preflight::explain::explain_error;
//!
//! let found = explain_error("esu: trying to check imds again lasterror=0x80072efd").unwrap();
//! assert_eq!(found.error.id, "imds-12002-12029");
//! let text = found.render(100);
//! assert!(text.contains(
//!     "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 03 - xsign.crt\"\n"
//! ));
//! assert!(explain_error("everything is fine").is_none());
//! ```

use crate::permissions::action_matches;
use crate::render::{strip_controls, wrap, wrap_with_commands};
use std::fmt::Write as _;

/// Where an explanation's steps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The page's title.
    pub title: &'static str,
    /// Its address.
    pub uri: &'static str,
}

/// Microsoft's "Troubleshoot delivery of Extended Security Updates for Windows Server 2012"
/// (seed `000_df28d133544c64fd.txt`, ms.date 07/03/2024).
pub const TROUBLESHOOT_WS2012: Source = Source {
    title: "Troubleshoot delivery of Extended Security Updates for Windows Server 2012",
    uri: "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates",
};

/// Microsoft's "How to get Extended Security Updates (ESU) for Windows Server 2008, 2008 R2,
/// 2012, and 2012 R2" (seed `002_071efc5fe5f2a84c.txt`, ms.date 05/16/2022).
pub const GET_ESU_MAK: Source = Source {
    title: "How to get Extended Security Updates (ESU) for Windows Server",
    uri: "https://learn.microsoft.com/windows-server/get-started/extended-security-updates-deploy",
};

const POLICY_TROUBLESHOOT: Source = Source {
    title: "Troubleshoot errors with using Azure Policy",
    uri: "https://learn.microsoft.com/azure/governance/policy/troubleshoot/general",
};

const RBAC_TROUBLESHOOT: Source = Source {
    title: "Troubleshoot Azure RBAC",
    uri: "https://learn.microsoft.com/azure/role-based-access-control/troubleshooting",
};

const REGISTER_TROUBLESHOOT: Source = Source {
    title: "Resolve errors for resource provider registration",
    uri: "https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-register-resource-provider",
};

/// An error `explain` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownError {
    /// A stable short name, e.g. `imds-12002-12029`.
    pub id: &'static str,
    /// The error as people see it.
    pub title: &'static str,
    /// Ways it is written that `explain` recognises, for `explain --list`.
    pub spellings: &'static [&'static str],
    /// Where the cause and fix come from.
    pub source: Source,
}

/// The errors `explain` knows, in the order `explain --list` shows them.
pub const KNOWN_ERRORS: &[KnownError] = &[
    KnownError {
        id: "imds-12002-12029",
        title: "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029) or (12002)",
        spellings: &[
            "HRESULT_FROM_WIN32(12029)",
            "HRESULT_FROM_WIN32(12002)",
            "0x80072EFD",
            "0x80072EE2",
            "ERROR_INTERNET_CANNOT_CONNECT",
            "ERROR_INTERNET_TIMEOUT",
        ],
        source: TROUBLESHOOT_WS2012,
    },
    KnownError {
        id: "not-eligible-1633",
        title: "ESU: not eligible HRESULT_FROM_WIN32(1633)",
        spellings: &[
            "HRESULT_FROM_WIN32(1633)",
            "0x80070661",
            "ESU: not eligible",
        ],
        source: TROUBLESHOOT_WS2012,
    },
    KnownError {
        id: "windowsesu-not-found",
        title: "The resource type could not be found in the namespace 'Microsoft.WindowsESU'",
        spellings: &["InvalidResourceType … 'Microsoft.WindowsESU'"],
        source: GET_ESU_MAK,
    },
    KnownError {
        id: "request-disallowed-by-policy",
        title: "RequestDisallowedByPolicy",
        spellings: &["RequestDisallowedByPolicy", "was disallowed by policy"],
        source: POLICY_TROUBLESHOOT,
    },
    KnownError {
        id: "authorization-failed",
        title: "AuthorizationFailed",
        spellings: &[
            "AuthorizationFailed",
            "does not have authorization to perform action",
        ],
        source: RBAC_TROUBLESHOOT,
    },
    KnownError {
        id: "missing-subscription-registration",
        title: "MissingSubscriptionRegistration",
        spellings: &[
            "MissingSubscriptionRegistration",
            "The subscription is not registered to use namespace",
        ],
        source: REGISTER_TROUBLESHOOT,
    },
];

fn known(id: &str) -> &'static KnownError {
    KNOWN_ERRORS
        .iter()
        .find(|e| e.id == id)
        .expect("a known error id")
}

/// One step of a fix: prose, or a command that stands on its own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Prose, wrapped to the width.
    Text(String),
    /// A command, printed whole on its own line (indented four columns), never wrapped.
    Command(String),
}

/// The explanation of one pasted error: what it is, why it happens, what the text said, and
/// the steps to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The error recognised.
    pub error: &'static KnownError,
    /// What it means.
    pub cause: String,
    /// What the pasted text named (policy assignment, action, scope, namespace…), one line each.
    pub details: Vec<String>,
    /// What to do, in order.
    pub steps: Vec<Step>,
}

impl Explanation {
    /// The explanation as `explain` prints it: prose wrapped to `width`, commands whole on
    /// their own lines, control characters stripped from everything taken from the pasted text.
    pub fn render(&self, width: usize) -> String {
        let mut out = String::new();
        let para = |out: &mut String, text: &str, indent: &str| {
            for line in wrap_with_commands(&strip_controls(text), width, indent) {
                out.push_str(&line);
                out.push('\n');
            }
        };
        para(&mut out, self.error.title, "");
        out.push_str("\n## Cause\n");
        para(&mut out, &self.cause, "");
        if !self.details.is_empty() {
            out.push_str("\n## In the error\n");
            for detail in &self.details {
                para(&mut out, &format!("- {detail}"), "  ");
            }
        }
        out.push_str("\n## How to fix\n");
        for step in &self.steps {
            match step {
                Step::Text(text) => para(&mut out, text, ""),
                Step::Command(command) => {
                    let _ = writeln!(out, "    {}", strip_controls(command));
                }
            }
        }
        out.push('\n');
        para(
            &mut out,
            &format!("Source: {}", self.error.source.title),
            "",
        );
        let _ = writeln!(out, "    {}", self.error.source.uri);
        out
    }
}

/// `explain --list`: the errors `explain` knows and how each may be written.
pub fn render_list(width: usize) -> String {
    let mut out = String::new();
    let mut para = |text: &str, indent: &str| {
        for line in wrap(text, width, indent) {
            let _ = writeln!(out, "{line}");
        }
    };
    para(
        "The error messages explain recognises (paste the text in quotes; any case, with or \
         without the \"ESU:\" prefix):",
        "",
    );
    for error in KNOWN_ERRORS {
        para("", "");
        para(&format!("- {}", error.title), "  ");
        para(
            &format!("also written: {}", error.spellings.join(", ")),
            "    ",
        );
        para(&format!("source: {}", error.source.title), "    ");
    }
    para("", "");
    para(
        "A check ID instead (explain ESU101) prints that check's documentation; list-checks \
         lists the checks.",
        "",
    );
    out
}

/// The explanation of an error message, if it is a known one.
///
/// Matching is case-insensitive and looks for the error's characteristic parts anywhere in the
/// text; Windows error codes are recognised as whole numbers only (so `12029` inside a GUID is
/// not one), in decimal, as `0x8007….` HRESULTs, or as their signed decimal form.
pub fn explain_error(text: &str) -> Option<Explanation> {
    let lower = text.to_lowercase();
    let has = |needle: &str| lower.contains(needle);
    if has("requestdisallowedbypolicy") || has("disallowed by policy") {
        return Some(request_disallowed_by_policy(text));
    }
    if has("authorizationfailed") || has("does not have authorization to perform action") {
        return Some(authorization_failed(text));
    }
    if has("missingsubscriptionregistration")
        || has("not registered to use namespace")
        || has("must be registered to use namespace")
    {
        return Some(missing_registration(text));
    }
    if has("microsoft.windowsesu")
        && (has("could not be found") || has("invalidresourcetype") || has("not found"))
    {
        return Some(windows_esu_not_found());
    }
    let code = windows_code(&lower);
    if matches!(code, Some(12002 | 12029))
        || has("check imds again")
        || has("error_internet_cannot_connect")
        || has("error_internet_timeout")
    {
        return Some(imds());
    }
    if code == Some(1633) || has("esu: not eligible") || has("esu not eligible") {
        return Some(not_eligible());
    }
    None
}

/// The Windows error code in the text: 12002, 12029 or 1633, however written.
fn windows_code(lower: &str) -> Option<u32> {
    const SPELLINGS: &[(&str, u32)] = &[
        ("0x80072efd", 12029),
        ("80072efd", 12029),
        ("-2147012867", 12029),
        ("0x00002efd", 12029),
        ("0x2efd", 12029),
        ("0x80072ee2", 12002),
        ("80072ee2", 12002),
        ("-2147012894", 12002),
        ("0x00002ee2", 12002),
        ("0x2ee2", 12002),
        ("0x80070661", 1633),
        ("80070661", 1633),
        ("-2147023263", 1633),
        ("0x00000661", 1633),
        ("0x661", 1633),
        ("12029", 12029),
        ("12002", 12002),
        ("1633", 1633),
    ];
    SPELLINGS
        .iter()
        .find(|(spelling, _)| contains_token(lower, spelling))
        .map(|(_, code)| *code)
}

/// Whether `needle` occurs in `haystack` with no letter or digit touching it on either side
/// — nor a `-`, for a number: `1633` in the GUID segment `-1633-` is not an error code.
fn contains_token(haystack: &str, needle: &str) -> bool {
    let bytes = haystack.as_bytes();
    let numeric = needle.starts_with(|c: char| c.is_ascii_digit());
    let separates = |b: u8| !(b.is_ascii_alphanumeric() || numeric && b == b'-');
    let mut from = 0;
    while let Some(found) = haystack[from..].find(needle) {
        let start = from + found;
        let end = start + needle.len();
        let before_ok = start == 0 || separates(bytes[start - 1]);
        let after_ok = end >= bytes.len() || separates(bytes[end]);
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while !haystack.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

fn say(text: &str) -> Step {
    Step::Text(text.to_owned())
}

fn run(command: &str) -> Step {
    Step::Command(command.to_owned())
}

/// 12002 / 12029, from the seed's "Error: Trying to check IMDS again (HRESULT 12002 or 12029)".
fn imds() -> Explanation {
    let mut steps = vec![
        say(
            "First, the agent: with the latest version of the Azure Connected Machine agent \
             (see its release notes, https://learn.microsoft.com/azure/azure-arc/servers/agent-release-notes) \
             the intermediate CA certificates and access to the PKI URL are not needed. But a \
             license assigned before the agent was upgraded can take up to 15 days to be \
             replaced, and until then the intermediate certificates are still required. After \
             upgrading, delete the license file to force a refresh (elevated PowerShell on the \
             machine):",
        ),
        run(
            "Remove-Item \"$env:ProgramData\\AzureConnectedMachineAgent\\Certs\\license.json\" -Force",
        ),
        say(
            "Otherwise, option 1: allow access to the PKI URL. Configure the network firewall \
             and/or proxy to allow the Windows Server 2012 (R2) machines to reach both of these, \
             on TCP 80 and 443, so they fetch missing intermediate CA certificates themselves:",
        ),
        run("http://www.microsoft.com/pkiops/certs"),
        run("https://www.microsoft.com/pkiops/certs"),
        say(
            "Then try installing the Windows updates again; a reboot may be needed for the \
             certificates to install and the license to validate.",
        ),
        say(
            "Option 2: install the four intermediate CA certificates by hand. On a computer \
             with internet access, download:",
        ),
    ];
    for ca in ["03", "04", "07", "08"] {
        steps.push(run(&format!(
            "https://www.microsoft.com/pkiops/certs/Microsoft%20Azure%20RSA%20TLS%20Issuing%20CA%20{ca}%20-%20xsign.crt"
        )));
    }
    steps.push(say(
        "Copy them to each Windows Server 2012 (R2) machine and, in an elevated command prompt \
         or PowerShell in the directory holding them, add them to the local computer's \
         \"Intermediate Certificate Authorities\" store (the commands are idempotent):",
    ));
    for ca in ["03", "04", "07", "08"] {
        steps.push(run(&format!(
            "certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA {ca} - xsign.crt\""
        )));
    }
    steps.push(say(
        "Then try installing the Windows updates again; a reboot may be needed for the \
         validation to see the imported certificates.",
    ));
    Explanation {
        error: known("imds-12002-12029"),
        cause: "Installing an ESU update on Windows Server 2012 / 2012 R2 checks the machine's \
                ESU license; the machine cannot validate it because it does not trust the \
                intermediate certificate authorities that signed it and cannot fetch them from \
                the PKI URL (12029 ERROR_INTERNET_CANNOT_CONNECT, 12002 ERROR_INTERNET_TIMEOUT)."
            .to_owned(),
        details: Vec::new(),
        steps,
    }
}

/// 1633, from the seed's "Error: Not eligible (HRESULT 1633)".
fn not_eligible() -> Explanation {
    Explanation {
        error: known("not-eligible-1633"),
        cause: "The machine holds an ESU license file that says it is not eligible; it is \
                stale when the machine has since been linked to an activated license."
            .to_owned(),
        details: Vec::new(),
        steps: vec![
            say("On the machine, in an elevated PowerShell:"),
            run(
                "Remove-Item \"$env:ProgramData\\AzureConnectedMachineAgent\\Certs\\license.json\" -Force",
            ),
            run("Restart-Service himds"),
            say(
                "Then retry the update. If it persists, check that the machine is linked to an \
                 activated license: run `esu-preflight check` and read ESU505 and ESU402.",
            ),
        ],
    }
}

/// The WindowsESU namespace message, from the seed's step 5 (request access to the preview).
fn windows_esu_not_found() -> Explanation {
    Explanation {
        error: known("windowsesu-not-found"),
        cause: "Multiple Activation Keys for Windows Server 2008 / 2008 R2 ESU \
                (Microsoft.WindowsESU/multipleActivationKeys) are only available to \
                subscriptions Microsoft has approved: this is the answer while the subscription \
                is not approved (or the request was refused)."
            .to_owned(),
        details: Vec::new(),
        steps: vec![
            say(
                "1. Request access first. In the Azure portal, search for Extended Security \
                 Updates, then under Register for Extended Service Updates select Get started \
                 and Get key. On the page Register to get a Multiple Activation Key, select \
                 join the preview: an email to the Microsoft team opens. Include:",
            ),
            say("   - Customer name"),
            say("   - Azure subscription ID"),
            say("   - Agreement number (for ESU)"),
            say("   - Number of ESU servers"),
            say(
                "   and send it. The team reviews it and adds the subscription to the approved \
                 list.",
            ),
            say(
                "2. Once approved, register the key: under Azure details pick the subscription \
                 you joined the preview with (check the portal's global subscription filter), a \
                 resource group and location; under Registration details enter the key name, \
                 agreement number, number of computers and operating system; select Review + \
                 register, confirm the key is only used within your organization, then Create.",
            ),
            say(
                "The resource provider must be registered on that subscription too (ESU701 \
                 checks both):",
            ),
            run(
                "az provider register --namespace Microsoft.WindowsESU --subscription SUBSCRIPTION_ID",
            ),
            say(
                "Azure VMs need no key: ESU reaches them free. Azure Classic VMs need extra \
                 configuration (contact Microsoft Support).",
            ),
        ],
    }
}

/// The policy details an ARM `RequestDisallowedByPolicy` error carries, as far as the pasted
/// text has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PolicyViolation {
    assignment_id: Option<String>,
    assignment_name: Option<String>,
    assignment_display_name: Option<String>,
    assignment_scope: Option<String>,
    definition_id: Option<String>,
    definition_name: Option<String>,
    definition_display_name: Option<String>,
    set_definition_id: Option<String>,
    set_definition_display_name: Option<String>,
    reference_id: Option<String>,
    effect: Option<String>,
}

fn request_disallowed_by_policy(text: &str) -> Explanation {
    let violations = policy_violations(text);
    let mut details = Vec::new();
    let mut steps = Vec::new();
    let target = quoted_after(text, "Resource '");
    if let Some(target) = &target {
        details.push(format!("the request for {target} was rejected"));
    }
    for v in &violations {
        let assignment = describe(
            v.assignment_display_name
                .as_deref()
                .or(v.assignment_name.as_deref()),
            v.assignment_id.as_deref(),
        );
        let definition = describe(
            v.definition_display_name
                .as_deref()
                .or(v.definition_name.as_deref()),
            v.definition_id.as_deref(),
        );
        let mut line = format!("blocked by policy assignment {assignment}");
        if let Some(scope) = v
            .assignment_scope
            .clone()
            .or_else(|| v.assignment_id.as_deref().and_then(assignment_scope))
        {
            let _ = write!(line, ", assigned at {scope}");
        }
        let _ = write!(line, "; policy definition {definition}");
        if v.set_definition_id.is_some() || v.set_definition_display_name.is_some() {
            let _ = write!(
                line,
                ", in initiative {}",
                describe(
                    v.set_definition_display_name.as_deref(),
                    v.set_definition_id.as_deref()
                )
            );
            if let Some(reference) = &v.reference_id {
                let _ = write!(line, " (reference {reference})");
            }
        }
        if let Some(effect) = &v.effect {
            let _ = write!(line, "; effect {effect}");
        }
        details.push(line);
    }
    if violations.is_empty() {
        steps.push(say(
            "The pasted text does not say which policy: paste the whole error (with az: the \
             \"Policy identifiers\" part; from the portal or an ARM response: the error's \
             additionalInfo PolicyViolation) to have it named here, or see the activity log \
             entry of the failed request.",
        ));
    }
    steps.push(say(
        "Ask the owner of the assignment for an exemption for the ESU resources at your \
         resource group (Microsoft.HybridCompute/licenses and \
         Microsoft.HybridCompute/machines/licenseProfiles), or to allow those types or your \
         region in the assignment's parameters. An exemption, for someone allowed to create one:",
    ));
    let exemptions: Vec<String> = violations
        .iter()
        .filter_map(|v| v.assignment_id.as_deref().map(|id| (id, v)))
        .map(|(id, v)| {
            let mut command = format!(
                "az policy exemption create --name esu-preflight-exemption \
                 --policy-assignment {id} --exemption-category Waiver --scope RESOURCE_GROUP_ID \
                 --description \"ESU licenses and license links\""
            );
            if let Some(reference) = &v.reference_id {
                let _ = write!(command, " --policy-definition-reference-ids {reference}");
            }
            command
        })
        .collect();
    if exemptions.is_empty() {
        steps.push(run(
            "az policy exemption create --name esu-preflight-exemption --policy-assignment ASSIGNMENT_ID --exemption-category Waiver --scope RESOURCE_GROUP_ID",
        ));
    } else {
        let mut seen = Vec::new();
        for command in exemptions {
            if !seen.contains(&command) {
                steps.push(run(&command));
                seen.push(command);
            }
        }
    }
    steps.push(say(
        "Before provisioning again, `esu-preflight check --license-plan PLAN` reports the \
         Deny policies that would reject the planned licenses and links (ESU301–ESU304).",
    ));
    Explanation {
        error: known("request-disallowed-by-policy"),
        cause: "An Azure Policy assignment with a Deny effect rejected the request. For ESU \
                these are often \"Not allowed resource types\", \"Allowed resource types\", \
                \"Allowed locations\", required tags, or \"[Preview] Deny ESU license creation \
                or modification\"."
            .to_owned(),
        details,
        steps,
    }
}

/// `name (id)`, or whichever is known.
fn describe(name: Option<&str>, id: Option<&str>) -> String {
    match (name, id) {
        (Some(name), Some(id)) if !name.eq_ignore_ascii_case(id) => format!("\"{name}\" ({id})"),
        (_, Some(id)) => id.to_owned(),
        (Some(name), None) => format!("\"{name}\""),
        (None, None) => "(not named in the text)".to_owned(),
    }
}

/// The scope of a policy assignment id: what comes before
/// `/providers/Microsoft.Authorization/policyAssignments/`.
fn assignment_scope(id: &str) -> Option<String> {
    let at = id
        .to_ascii_lowercase()
        .find("/providers/microsoft.authorization/policyassignments/")?;
    let scope = &id[..at];
    Some(if scope.is_empty() { "/" } else { scope }.to_owned())
}

/// Every policy violation the pasted text describes: ARM's `additionalInfo` `PolicyViolation`
/// objects, az's "Policy identifiers" list, or else the policy ids in the text.
fn policy_violations(text: &str) -> Vec<PolicyViolation> {
    let mut found = Vec::new();
    for candidate in json_candidates(text) {
        walk(&candidate, &mut found, 0);
        if !found.is_empty() {
            break;
        }
    }
    if found.is_empty() {
        // Plain text: the ARM ids of assignments and definitions.
        let assignments = arm_ids(
            text,
            "/providers/microsoft.authorization/policyassignments/",
        );
        let definitions = arm_ids(
            text,
            "/providers/microsoft.authorization/policydefinitions/",
        );
        let sets = arm_ids(
            text,
            "/providers/microsoft.authorization/policysetdefinitions/",
        );
        let count = assignments.len().max(definitions.len()).max(1);
        if !(assignments.is_empty() && definitions.is_empty()) {
            for i in 0..count {
                found.push(PolicyViolation {
                    assignment_id: assignments.get(i).cloned(),
                    definition_id: definitions.get(i).cloned(),
                    set_definition_id: sets.get(i).cloned(),
                    ..PolicyViolation::default()
                });
            }
        }
    }
    let mut unique: Vec<PolicyViolation> = Vec::new();
    for v in found {
        if !unique.contains(&v) {
            unique.push(v);
        }
    }
    unique
}

/// JSON documents that may be in the text: the whole of it, from its first `{` to its last
/// `}`, the "Policy identifiers" list, each also with `\"` unescaped (a message pasted from
/// inside JSON).
fn json_candidates(text: &str) -> Vec<serde_json::Value> {
    let mut texts: Vec<String> = vec![text.trim().to_owned()];
    if let (Some(start), Some(end)) = (text.find('{'), text.rfind('}'))
        && start < end
    {
        texts.push(text[start..=end].to_owned());
    }
    let lower = text.to_ascii_lowercase();
    if let Some(at) = lower.find("policy identifiers:") {
        let rest = &text[at + "policy identifiers:".len()..];
        if let (Some(start), Some(end)) = (rest.find('['), rest.rfind(']'))
            && start < end
        {
            texts.push(rest[start..=end].to_owned());
        }
    }
    let unescaped: Vec<String> = texts.iter().map(|t| t.replace("\\\"", "\"")).collect();
    texts
        .into_iter()
        .chain(unescaped)
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect()
}

/// Collects violations from a JSON value: objects with `policyAssignmentId` (ARM's
/// `PolicyViolation` info) and objects with a `policyAssignment` object (az's identifiers).
/// Strings holding JSON (an error message inside an error) are read too.
fn walk(value: &serde_json::Value, out: &mut Vec<PolicyViolation>, depth: usize) {
    use serde_json::Value;
    if depth > 32 {
        return;
    }
    let text = |object: &serde_json::Map<String, Value>, key: &str| -> Option<String> {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    match value {
        Value::Object(object) => {
            let has = |key: &str| object.keys().any(|k| k.eq_ignore_ascii_case(key));
            if has("policyAssignmentId") || has("policyDefinitionId") {
                out.push(PolicyViolation {
                    assignment_id: text(object, "policyAssignmentId"),
                    assignment_name: text(object, "policyAssignmentName"),
                    assignment_display_name: text(object, "policyAssignmentDisplayName"),
                    assignment_scope: text(object, "policyAssignmentScope"),
                    definition_id: text(object, "policyDefinitionId"),
                    definition_name: text(object, "policyDefinitionName"),
                    definition_display_name: text(object, "policyDefinitionDisplayName"),
                    set_definition_id: text(object, "policySetDefinitionId"),
                    set_definition_display_name: text(object, "policySetDefinitionDisplayName"),
                    reference_id: text(object, "policyDefinitionReferenceId"),
                    effect: text(object, "policyDefinitionEffect"),
                });
                return;
            }
            let part = |key: &str| {
                object
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .and_then(|(_, v)| v.as_object())
            };
            if let Some(assignment) = part("policyAssignment") {
                let definition = part("policyDefinition");
                let set = part("policySetDefinition");
                out.push(PolicyViolation {
                    assignment_id: text(assignment, "id"),
                    assignment_name: text(assignment, "name"),
                    definition_id: definition.and_then(|d| text(d, "id")),
                    definition_name: definition.and_then(|d| text(d, "name")),
                    set_definition_id: set.and_then(|s| text(s, "id")),
                    set_definition_display_name: set.and_then(|s| text(s, "name")),
                    reference_id: definition.and_then(|d| text(d, "referenceId")),
                    ..PolicyViolation::default()
                });
                return;
            }
            for value in object.values() {
                walk(value, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, out, depth + 1);
            }
        }
        Value::String(inner) if inner.contains("olicy") => {
            let before = out.len();
            for candidate in json_candidates(inner) {
                walk(&candidate, out, depth + 1);
                if out.len() > before {
                    break;
                }
            }
        }
        _ => {}
    }
}

/// The ARM ids in `text` that contain `marker` (lower-case), each up to the end of its name.
fn arm_ids(text: &str, marker: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut ids: Vec<String> = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find(marker) {
        let at = from + found;
        // Back to the start of the id: the last character that cannot be in one.
        let start = lower[..at]
            .rfind(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '(' | '[' | ','))
            .map_or(0, |i| i + 1);
        let name_start = at + marker.len();
        let end = lower[name_start..]
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .map_or(lower.len(), |i| name_start + i);
        let id = text[start..end].trim_end_matches('.').to_owned();
        if end > name_start && !ids.contains(&id) {
            ids.push(id);
        }
        from = end.max(at + 1);
    }
    ids
}

/// The text between `prefix` (case-insensitive) and the next `'`.
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(&prefix.to_ascii_lowercase())? + prefix.len();
    let rest = text.get(at..)?;
    let end = rest.find('\'')?;
    let value = rest[..end].trim();
    (!value.is_empty() && value.len() <= 2000).then(|| value.to_owned())
}

/// A built-in role and what it allows, to name the least-privileged one that grants an action.
struct BuiltinRole {
    name: &'static str,
    actions: &'static [&'static str],
    not_actions: &'static [&'static str],
}

/// Built-in roles from least to most privileged (their permissions as Azure defines them; see
/// `tests/fixtures/arm/authorization/builtin-roles`).
const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "Reader",
        actions: &["*/read"],
        not_actions: &[],
    },
    BuiltinRole {
        name: "Azure Connected Machine Resource Administrator",
        actions: &[
            "Microsoft.HybridCompute/machines/read",
            "Microsoft.HybridCompute/machines/write",
            "Microsoft.HybridCompute/machines/delete",
            "Microsoft.HybridCompute/machines/UpgradeExtensions/action",
            "Microsoft.HybridCompute/machines/extensions/read",
            "Microsoft.HybridCompute/machines/extensions/write",
            "Microsoft.HybridCompute/machines/extensions/delete",
            "Microsoft.HybridCompute/privateLinkScopes/*",
            "Microsoft.HybridCompute/*/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.HybridCompute/licenses/write",
            "Microsoft.HybridCompute/licenses/delete",
            "Microsoft.HybridCompute/machines/licenseProfiles/read",
            "Microsoft.HybridCompute/machines/licenseProfiles/write",
            "Microsoft.HybridCompute/machines/licenseProfiles/delete",
            "Microsoft.HybridCompute/machines/runCommands/read",
            "Microsoft.HybridCompute/machines/runCommands/write",
            "Microsoft.HybridCompute/machines/runCommands/delete",
        ],
        not_actions: &[],
    },
    BuiltinRole {
        name: "Contributor",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
    },
    BuiltinRole {
        name: "User Access Administrator",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: &[],
    },
    BuiltinRole {
        name: "Owner",
        actions: &["*"],
        not_actions: &[],
    },
];

/// The built-in roles that grant `action`, least privileged first.
fn roles_granting(action: &str) -> Vec<&'static str> {
    BUILTIN_ROLES
        .iter()
        .filter(|role| {
            role.actions.iter().any(|p| action_matches(p, action))
                && !role.not_actions.iter().any(|p| action_matches(p, action))
        })
        .map(|role| role.name)
        .collect()
}

/// `/subscriptions/{s}/resourceGroups/{g}` of a resource id below a resource group (`None`
/// for a subscription or resource group scope itself).
fn resource_group_scope(scope: &str) -> Option<&str> {
    let lower = scope.to_ascii_lowercase();
    let at = lower.find("/resourcegroups/")? + "/resourcegroups/".len();
    let end = at + lower[at..].find('/')?;
    Some(&scope[..end])
}

fn authorization_failed(text: &str) -> Explanation {
    let action = quoted_after(text, "perform action '");
    let scope = quoted_after(text, "over scope '");
    let object_id = quoted_after(text, "with object id '");
    let mut details = Vec::new();
    if let Some(client) = quoted_after(text, "the client '") {
        details.push(format!("the identity: {client}"));
    }
    if let Some(object_id) = &object_id {
        details.push(format!("its object id: {object_id}"));
    }
    if let Some(action) = &action {
        details.push(format!("the action refused: {action}"));
    }
    if let Some(scope) = &scope {
        details.push(format!("the scope: {scope}"));
    }
    let mut steps = Vec::new();
    let role = match &action {
        Some(action) => {
            let roles = roles_granting(action);
            match roles.split_first() {
                Some((first, rest)) => {
                    let also = if rest.is_empty() {
                        String::new()
                    } else {
                        format!(" (also granted by {})", rest.join(", "))
                    };
                    steps.push(Step::Text(format!(
                        "The least-privileged built-in role that grants {action} is {first}{also}. \
                         Someone allowed to assign roles at that scope (Owner or User Access \
                         Administrator) can grant it:"
                    )));
                    (*first).to_owned()
                }
                None => {
                    steps.push(Step::Text(format!(
                        "No common built-in role grants {action}: ask an Owner which role \
                         includes it, then have it assigned:"
                    )));
                    "ROLE_NAME".to_owned()
                }
            }
        }
        None => {
            steps.push(say(
                "The pasted text does not name the action (paste the whole message: \"does not \
                 have authorization to perform action '…' over scope '…'\"). For ESU: creating \
                 licenses and linking them needs Contributor or Azure Connected Machine Resource \
                 Administrator on the resource group; registering providers needs Contributor \
                 or Owner on the subscription. Have a role assigned:",
            ));
            "ROLE_NAME".to_owned()
        }
    };
    // A write to a resource that does not exist yet (creating a license) is refused "over" the
    // resource's own id, where no role can be assigned: assign it on its resource group.
    let assign_at = match (&action, &scope) {
        (Some(action), Some(scope)) if action.to_ascii_lowercase().ends_with("/write") => {
            resource_group_scope(scope).unwrap_or(scope.as_str())
        }
        (_, Some(scope)) => scope.as_str(),
        (_, None) => "SCOPE",
    };
    steps.push(Step::Command(format!(
        "az role assignment create --assignee {} --role \"{role}\" --scope {assign_at}",
        object_id.as_deref().unwrap_or("OBJECT_ID"),
    )));
    steps.push(say(
        "If access was granted recently, sign in again so the token carries it: `az login`. \
         Then check for deny assignments at that scope (ESU203 reports them).",
    ));
    Explanation {
        error: known("authorization-failed"),
        cause: "The signed-in identity lacks the action named in the message over the scope \
                named in the message (or the scope is invalid)."
            .to_owned(),
        details,
        steps,
    }
}

fn missing_registration(text: &str) -> Explanation {
    let namespace = quoted_after(text, "namespace '")
        .filter(|ns| ns.chars().all(|c| c.is_alphanumeric() || c == '.'));
    let subscription = subscription_in(text);
    let mut details = Vec::new();
    if let Some(namespace) = &namespace {
        details.push(format!("the provider namespace: {namespace}"));
    }
    if let Some(subscription) = &subscription {
        details.push(format!("the subscription: {subscription}"));
    }
    let sub = subscription.as_deref().unwrap_or("SUBSCRIPTION_ID");
    let ns = namespace.as_deref().unwrap_or("NAMESPACE");
    Explanation {
        error: known("missing-subscription-registration"),
        cause: "The subscription is not registered to use the resource provider named in the \
                message. ESU needs Microsoft.HybridCompute, Microsoft.GuestConfiguration, \
                Microsoft.Compute, Microsoft.Security, Microsoft.OperationalInsights, \
                Microsoft.Sql and Microsoft.Storage registered (ESU101)."
            .to_owned(),
        details,
        steps: vec![
            say(
                "Register every provider ESU needs at once (needs Contributor or Owner on the \
                 subscription; without --yes it only shows what it would do):",
            ),
            Step::Command(format!(
                "esu-preflight fix providers --subscription {sub} --yes --wait"
            )),
            say("Or this one provider with the Azure CLI:"),
            Step::Command(format!(
                "az provider register --namespace {ns} --subscription {sub}"
            )),
            say("Registration can take several minutes."),
        ],
    }
}

/// The first subscription GUID the text names (after `subscriptions/` or `subscription '`).
fn subscription_in(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    ["/subscriptions/", "subscription '", "subscription \""]
        .iter()
        .filter_map(|marker| {
            let at = lower.find(marker)? + marker.len();
            let candidate = lower.get(at..at + 36)?;
            is_guid(candidate).then(|| candidate.to_owned())
        })
        .next()
}

fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests;
