//! Explanations of the error messages engineers meet while enabling ESU, with cause and fix.
//!
//! `esu-preflight explain "<error text>"` prints the matching entry. The entries come from
//! Microsoft's ESU troubleshooting guides and the ARM error reference.

/// The cause and fix of a known error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorExplanation {
    /// A short name for the error.
    pub title: &'static str,
    /// What it means.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
    /// Where to read more.
    pub help_uri: &'static str,
    /// Lower-case fragments; the entry matches text containing any of them.
    patterns: &'static [&'static str],
}

impl ErrorExplanation {
    /// The explanation as text, as `explain` prints it.
    pub fn render(&self) -> String {
        format!(
            "{}\n\n## Cause\n{}\n\n## How to fix\n{}\n\nMore: {}\n",
            self.title, self.cause, self.fix, self.help_uri
        )
    }
}

const TROUBLESHOOT: &str =
    "https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates";

/// The known errors.
pub const KNOWN_ERRORS: &[ErrorExplanation] = &[
    ErrorExplanation {
        title: "ESU: Trying to Check IMDS Again (HRESULT_FROM_WIN32 12002 / 12029)",
        cause: "The Windows Server 2012 machine cannot validate the ESU license because it does \
                not trust the intermediate certificate authorities that signed it, or cannot reach \
                the PKI URL to fetch them. Agents older than the current release need these \
                intermediate CA certificates.",
        fix: "Upgrade the Azure Connected Machine agent to the latest version (then delete \
              %ProgramData%\\AzureConnectedMachineAgent\\certs\\license.json to refresh the \
              license). Or allow the machine to reach http://www.microsoft.com/pkiops/certs and \
              https://www.microsoft.com/pkiops/certs (TCP 80 and 443), or install the \
              'Microsoft Azure RSA TLS Issuing CA 03/04/07/08' certificates into the \
              Intermediate Certificate Authorities store with `certutil -addstore CA CERT_FILE`; \
              then retry Windows Update (a reboot may be needed).",
        help_uri: TROUBLESHOOT,
        patterns: &["12002", "12029", "check imds again"],
    },
    ErrorExplanation {
        title: "ESU: not eligible (HRESULT_FROM_WIN32 1633)",
        cause: "The machine holds a stale ESU license file that says it is not eligible.",
        fix: "On the machine, in an elevated PowerShell: \
              `Remove-Item \"$env:ProgramData\\AzureConnectedMachineAgent\\Certs\\license.json\" -Force` \
              then `Restart-Service himds`, and retry the update.",
        help_uri: TROUBLESHOOT,
        patterns: &["(1633)", "hresult_from_win32(1633", "esu: not eligible"],
    },
    ErrorExplanation {
        title: "The resource type could not be found in the namespace 'Microsoft.WindowsESU'",
        cause: "Windows Server 2008 / 2008 R2 Multiple Activation Keys (Microsoft.WindowsESU) are \
                only available to subscriptions Microsoft has approved, and the provider must be \
                registered on the subscription.",
        fix: "Register the provider (`az provider register --namespace Microsoft.WindowsESU \
              --subscription SUBSCRIPTION_ID`); if it persists, the subscription is not enabled for MAK \
              keys: open a support request to have it approved.",
        help_uri: "https://learn.microsoft.com/windows-server/get-started/extended-security-updates-deploy",
        patterns: &["namespace 'microsoft.windowsesu'", "microsoft.windowsesu"],
    },
    ErrorExplanation {
        title: "RequestDisallowedByPolicy",
        cause: "An Azure Policy assignment with a Deny effect rejected the request (for ESU: \
                often 'Not allowed resource types', 'Allowed resource types', 'Allowed \
                locations' or '[Preview] Deny ESU license creation or modification').",
        fix: "Read the policy assignment id in the error's 'Policy identifiers'; ask its owner for \
              an exemption for Microsoft.HybridCompute/licenses and \
              Microsoft.HybridCompute/machines/licenseProfiles at your resource group, or add \
              those types / your region to the assignment's allowed list. \
              `esu-preflight check` reports such policies before you provision.",
        help_uri: "https://learn.microsoft.com/azure/governance/policy/troubleshoot/general",
        patterns: &["requestdisallowedbypolicy", "disallowed by policy"],
    },
    ErrorExplanation {
        title: "AuthorizationFailed",
        cause: "The signed-in identity lacks the action named in the message over the scope named \
                in the message.",
        fix: "Ask for a role that grants that action at that scope: Contributor (or Azure \
              Connected Machine Resource Administrator for licenses and license links) on the \
              resource group; registering providers needs Contributor or Owner on the \
              subscription. If access was granted recently, sign in again (`az login`).",
        help_uri: "https://learn.microsoft.com/azure/role-based-access-control/troubleshooting",
        patterns: &[
            "authorizationfailed",
            "does not have authorization to perform action",
        ],
    },
    ErrorExplanation {
        title: "MissingSubscriptionRegistration",
        cause: "The subscription is not registered to use the resource provider named in the \
                message.",
        fix: "`az provider register --namespace NAMESPACE --subscription SUBSCRIPTION_ID` (needs \
              Contributor or Owner), or `esu-preflight fix providers --subscription SUBSCRIPTION_ID --yes \
              --wait`. Registration can take several minutes.",
        help_uri: "https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-register-resource-provider",
        patterns: &[
            "missingsubscriptionregistration",
            "not registered to use namespace",
        ],
    },
];

/// The explanation for an error message, if it is a known one. Matching is case-insensitive
/// and looks for characteristic fragments anywhere in the text.
pub fn explain_error(text: &str) -> Option<&'static ErrorExplanation> {
    let text = text.to_ascii_lowercase();
    KNOWN_ERRORS
        .iter()
        .find(|entry| entry.patterns.iter().any(|p| text.contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_errors_are_recognised() {
        let cases = [
            (
                "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029)",
                "12002 / 12029",
            ),
            (
                "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12002)",
                "IMDS",
            ),
            ("ESU: not eligible HRESULT_FROM_WIN32(1633)", "1633"),
            (
                "The resource type could not be found in the namespace 'Microsoft.WindowsESU' for api version '2019-09-16-preview'",
                "WindowsESU",
            ),
            (
                "Code: RequestDisallowedByPolicy",
                "RequestDisallowedByPolicy",
            ),
            (
                "(AuthorizationFailed) The client 'x' with object id 'y' does not have authorization to perform action 'a'",
                "AuthorizationFailed",
            ),
            (
                "The subscription is not registered to use namespace 'Microsoft.HybridCompute'",
                "MissingSubscriptionRegistration",
            ),
        ];
        for (text, title) in cases {
            let found = explain_error(text).unwrap_or_else(|| panic!("no match for {text}"));
            assert!(
                found.title.contains(title),
                "{text} matched {}",
                found.title
            );
        }
    }

    /// `<id>` in a command is a shell redirection: pasted as printed, it fails. Placeholders
    /// are upper-case words, as in the check remediations (`LICENSE_ID`).
    #[test]
    fn no_placeholder_is_a_shell_redirection() {
        for entry in KNOWN_ERRORS {
            let text = entry.render();
            assert!(
                !text.contains('<') && !text.contains('>'),
                "{}: {text}",
                entry.title
            );
        }
    }

    #[test]
    fn unknown_text_has_no_explanation() {
        assert!(explain_error("everything is fine").is_none());
    }
}
