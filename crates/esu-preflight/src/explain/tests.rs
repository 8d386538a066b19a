use super::*;

fn explained(text: &str) -> Explanation {
    explain_error(text).unwrap_or_else(|| panic!("no match for {text:?}"))
}

fn id_of(text: &str) -> &'static str {
    explained(text).error.id
}

#[test]
fn imds_errors_in_every_spelling() {
    for text in [
        "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029)",
        "ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12002)",
        "Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029)",
        "esu: trying to check imds again",
        "Windows Update failed: 0x80072EFD",
        "Installation failure: error 0x80072ee2",
        "hr=-2147012867",
        "HRESULT_FROM_WIN32(12002)",
        "ERROR_INTERNET_CANNOT_CONNECT",
    ] {
        assert_eq!(id_of(text), "imds-12002-12029", "{text}");
    }
}

#[test]
fn imds_fix_has_every_step_of_the_seed() {
    let text =
        explained("ESU: Trying to Check IMDS Again LastError=HRESULT_FROM_WIN32(12029)").render(80);
    for needle in [
        "latest version of the Azure Connected Machine agent",
        "up to 15 days",
        "\n    Remove-Item \"$env:ProgramData\\AzureConnectedMachineAgent\\Certs\\license.json\" -Force\n",
        "TCP 80 and 443",
        "\n    http://www.microsoft.com/pkiops/certs\n",
        "\n    https://www.microsoft.com/pkiops/certs\n",
        "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 03 - xsign.crt\"\n",
        "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 04 - xsign.crt\"\n",
        "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 07 - xsign.crt\"\n",
        "\n    certutil -addstore CA \"Microsoft Azure RSA TLS Issuing CA 08 - xsign.crt\"\n",
        "Microsoft%20Azure%20RSA%20TLS%20Issuing%20CA%2008%20-%20xsign.crt\n",
        "Source: Troubleshoot delivery of Extended Security Updates for Windows",
        "\n    https://learn.microsoft.com/azure/azure-arc/servers/troubleshoot-extended-security-updates\n",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    // Prose wraps to the width; commands never do.
    for line in text.lines() {
        let command = line.starts_with("    ");
        assert!(command || line.chars().count() <= 80, "too wide: {line:?}");
    }
}

#[test]
fn not_eligible_in_every_spelling() {
    for text in [
        "ESU: not eligible HRESULT_FROM_WIN32(1633)",
        "not eligible HRESULT_FROM_WIN32(1633)",
        "esu: NOT ELIGIBLE",
        "0x80070661",
        "hresult_from_win32(1633)",
    ] {
        assert_eq!(id_of(text), "not-eligible-1633", "{text}");
    }
    let text = explained("ESU: not eligible HRESULT_FROM_WIN32(1633)").render(80);
    assert!(text.contains(
        "\n    Remove-Item \"$env:ProgramData\\AzureConnectedMachineAgent\\Certs\\license.json\" -Force\n    Restart-Service himds\n"
    ), "{text}");
}

#[test]
fn codes_inside_other_numbers_are_not_codes() {
    assert!(explain_error("subscription 12029abc-0000-0000-0000-000000000000").is_none());
    assert!(explain_error("build 1163300").is_none());
    assert!(explain_error("subscription 00000000-1633-0000-0000-000000000000").is_none());
    assert!(explain_error("everything is fine").is_none());
    assert!(explain_error("").is_none());
}

#[test]
fn windows_esu_namespace() {
    let found = explained(
        "The resource type could not be found in the namespace 'Microsoft.WindowsESU' for api version '2019-09-16-preview'",
    );
    assert_eq!(found.error.id, "windowsesu-not-found");
    let text = found.render(100);
    for needle in [
        "approved",
        "join the preview",
        "Customer name",
        "Azure subscription ID",
        "Agreement number (for ESU)",
        "Number of ESU servers",
        "register the key",
        "Source: How to get Extended Security Updates (ESU) for Windows Server\n",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    // The request comes before the registration.
    assert!(text.find("Customer name") < text.find("register the key"));
}

#[test]
fn request_disallowed_by_policy_names_assignment_and_definition_from_arm_json() {
    let error = r#"{"error":{"code":"RequestDisallowedByPolicy","target":"esu-ws2012r2-dc",
      "message":"Resource 'esu-ws2012r2-dc' was disallowed by policy. Reasons: 'Not allowed'.",
      "additionalInfo":[{"type":"PolicyViolation","info":{
        "policyDefinitionDisplayName":"Not allowed resource types",
        "policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
        "policyDefinitionName":"6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
        "policyDefinitionEffect":"deny",
        "policyAssignmentId":"/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Authorization/policyAssignments/deny-hybrid",
        "policyAssignmentName":"deny-hybrid",
        "policyAssignmentDisplayName":"No hybrid resources",
        "policyAssignmentScope":"/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05",
        "policyExemptionIds":[]}}]}}"#;
    let found = explained(error);
    assert_eq!(found.error.id, "request-disallowed-by-policy");
    assert_eq!(found.details.len(), 2, "{:?}", found.details);
    assert_eq!(
        found.details[0],
        "the request for esu-ws2012r2-dc was rejected"
    );
    assert_eq!(
        found.details[1],
        "blocked by policy assignment \"No hybrid resources\" \
         (/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Authorization/policyAssignments/deny-hybrid), \
         assigned at /subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05; policy definition \
         \"Not allowed resource types\" \
         (/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749); effect deny"
    );
    assert!(found.steps.contains(&Step::Command(
        "az policy exemption create --name esu-preflight-exemption --policy-assignment \
         /subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Authorization/policyAssignments/deny-hybrid \
         --exemption-category Waiver --scope RESOURCE_GROUP_ID --description \"ESU licenses and license links\""
            .into()
    )));
}

#[test]
fn request_disallowed_by_policy_from_az_policy_identifiers() {
    let error = r#"(RequestDisallowedByPolicy) Resource 'esu-1' was disallowed by policy. Policy identifiers: '[{"policyAssignment":{"name":"Allowed locations","id":"/providers/Microsoft.Management/managementGroups/contoso/providers/Microsoft.Authorization/policyAssignments/allowed-loc"},"policyDefinition":{"name":"Allowed locations","id":"/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c","version":"1.0.0"}}]'.
Code: RequestDisallowedByPolicy"#;
    let found = explained(error);
    let line = &found.details[1];
    assert!(line.contains("\"Allowed locations\" (/providers/Microsoft.Management/managementGroups/contoso/providers/Microsoft.Authorization/policyAssignments/allowed-loc)"), "{line}");
    assert!(
        line.contains("assigned at /providers/Microsoft.Management/managementGroups/contoso"),
        "{line}"
    );
    assert!(
        line.contains("policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c"),
        "{line}"
    );

    // The same inside a JSON message string (escaped quotes).
    let escaped =
        serde_json::json!({"error": {"code": "RequestDisallowedByPolicy", "message": error}})
            .to_string();
    let found = explained(&escaped);
    assert!(
        found.details.iter().any(|d| d.contains("allowed-loc")),
        "{:?}",
        found.details
    );
}

#[test]
fn request_disallowed_by_policy_without_details_says_what_to_paste() {
    let found = explained("Code: RequestDisallowedByPolicy");
    assert!(found.details.is_empty());
    assert!(found.render(80).contains("does not say which policy"));
    // Plain ids in the text are still found.
    let found = explained(
        "disallowed by policy: /subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a1 \
         /providers/Microsoft.Authorization/policyDefinitions/d1.",
    );
    assert!(
        found.details[0].contains("policyAssignments/a1"),
        "{:?}",
        found.details
    );
    assert!(
        found.details[0].contains("policyDefinitions/d1;")
            || found.details[0].ends_with("policyDefinitions/d1"),
        "{:?}",
        found.details
    );
}

#[test]
fn authorization_failed_names_action_scope_and_role() {
    let found = explained(
        "(AuthorizationFailed) The client 'alice@contoso.com' with object id \
         '11111111-2222-3333-4444-555555555555' does not have authorization to perform action \
         'Microsoft.HybridCompute/licenses/write' over scope \
         '/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/resourceGroups/rg-esu/providers/Microsoft.HybridCompute/licenses/esu-1' \
         or the scope is invalid. If access was recently granted, please refresh your credentials.",
    );
    assert_eq!(found.error.id, "authorization-failed");
    assert!(
        found
            .details
            .contains(&"the action refused: Microsoft.HybridCompute/licenses/write".to_owned())
    );
    let text = found.render(300);
    assert!(
        text.contains(
            "Azure Connected Machine Resource Administrator (also granted by Contributor, Owner)"
        ),
        "{text}"
    );
    assert!(text.contains(
        "\n    az role assignment create --assignee 11111111-2222-3333-4444-555555555555 --role \"Azure Connected Machine Resource Administrator\" --scope /subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/resourceGroups/rg-esu\n"
    ), "the license to create does not exist yet: the role goes on its resource group: {text}");

    let register = explained(
        "does not have authorization to perform action 'Microsoft.Sql/register/action' over scope '/subscriptions/x'",
    );
    assert!(
        register.render(200).contains(
            "grants Microsoft.Sql/register/action is Contributor (also granted by Owner)"
        )
    );
    let read = explained(
        "AuthorizationFailed ... perform action 'Microsoft.Authorization/policyAssignments/read' over scope '/subscriptions/x'",
    );
    assert!(read.render(200).contains("is Reader"));
    let write = explained(
        "AuthorizationFailed ... perform action 'Microsoft.Authorization/policyExemptions/write' over scope '/subscriptions/x'",
    );
    assert!(
        write
            .render(200)
            .contains("is User Access Administrator (also granted by Owner)")
    );
    let bare = explained("AuthorizationFailed");
    assert!(
        bare.render(200)
            .contains("--role \"ROLE_NAME\" --scope SCOPE")
    );
}

#[test]
fn missing_subscription_registration_points_to_fix_providers() {
    let found = explained(
        "(MissingSubscriptionRegistration) The subscription is not registered to use namespace \
         'Microsoft.HybridCompute'. See https://aka.ms/rps-not-found for how to register \
         subscriptions. /subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/resourceGroups/rg",
    );
    assert_eq!(found.error.id, "missing-subscription-registration");
    let text = found.render(80);
    assert!(text.contains(
        "\n    esu-preflight fix providers --subscription 291bba3f-e0a5-47bc-a099-3bdcb2a50a05 --yes --wait\n"
    ), "{text}");
    assert!(text.contains(
        "\n    az provider register --namespace Microsoft.HybridCompute --subscription 291bba3f-e0a5-47bc-a099-3bdcb2a50a05\n"
    ), "{text}");
    let bare = explained("missingsubscriptionregistration");
    assert!(
        bare.render(80)
            .contains("esu-preflight fix providers --subscription SUBSCRIPTION_ID")
    );
}

#[test]
fn every_known_error_is_recognised_by_its_spellings_and_listed() {
    let list = render_list(300);
    for error in KNOWN_ERRORS {
        assert!(list.contains(error.title), "{} not listed", error.id);
    }
    for (text, id) in [
        ("RequestDisallowedByPolicy", "request-disallowed-by-policy"),
        ("AuthorizationFailed", "authorization-failed"),
        (
            "MissingSubscriptionRegistration",
            "missing-subscription-registration",
        ),
        (
            "InvalidResourceType: not found in namespace 'Microsoft.WindowsESU'",
            "windowsesu-not-found",
        ),
    ] {
        assert_eq!(id_of(text), id);
    }
}

/// `<id>` in a command is a shell redirection: pasted as printed, it fails. Placeholders are
/// upper-case words, as in the check remediations (`LICENSE_ID`).
#[test]
fn no_placeholder_is_a_shell_redirection() {
    for text in [
        "HRESULT_FROM_WIN32(12029)",
        "HRESULT_FROM_WIN32(1633)",
        "Microsoft.WindowsESU could not be found",
        "RequestDisallowedByPolicy",
        "AuthorizationFailed",
        "MissingSubscriptionRegistration",
    ] {
        let rendered = explained(text).render(80);
        assert!(
            !rendered.contains('<') && !rendered.contains('>'),
            "{rendered}"
        );
    }
}

#[test]
fn pasted_control_characters_never_reach_the_output() {
    let found = explained(
        "AuthorizationFailed perform action 'Microsoft.Sql/register/action\u{1b}[31m' over scope '/subscriptions/\u{7}x'",
    );
    let text = found.render(80);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
}

#[test]
fn hostile_text_never_panics() {
    for text in [
        "RequestDisallowedByPolicy {{{{[[[[\"\\\"",
        "disallowed by policy Policy identifiers: '[",
        "RequestDisallowedByPolicy /providers/microsoft.authorization/policyassignments/",
        "AuthorizationFailed perform action '",
        "é12029é",
        "MissingSubscriptionRegistration namespace 'Ünïcode' /subscriptions/ü",
    ] {
        let _ = explain_error(text).map(|e| e.render(40));
    }
}

/// A command taken out of parentheses onto its own line leaves no `(` or `)` behind, and no
/// sentence loses its words (`explain 0x80070661` once printed `activated license` /
/// `esu-preflight check` / `ESU505, ESU402).`).
#[test]
fn commands_in_parentheses_leave_balanced_prose() {
    for text in [
        "0x80070661",
        "HRESULT_FROM_WIN32(12029)",
        "RequestDisallowedByPolicy",
        "AuthorizationFailed",
        "MissingSubscriptionRegistration",
        "Microsoft.WindowsESU could not be found",
    ] {
        let explanation = explained(text);
        for width in [40, 80, 200] {
            let rendered = explanation.render(width);
            let prose: String = rendered
                .lines()
                .filter(|line| !line.starts_with("    "))
                .collect();
            assert_eq!(
                prose.matches('(').count(),
                prose.matches(')').count(),
                "{text} at {width}:\n{rendered}"
            );
            assert!(
                !rendered.lines().any(|l| l.trim_end().ends_with('(')),
                "{rendered}"
            );
        }
    }
    let text = explained("0x80070661").render(80);
    assert!(
        text.contains(
            "activated license: run\n    esu-preflight check\nand read ESU505 and ESU402.\n"
        ),
        "{text}"
    );
}
