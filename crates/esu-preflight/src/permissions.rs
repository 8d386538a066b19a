//! Azure RBAC action matching.
//!
//! The caller's effective permissions at a scope
//! (`GET {scope}/providers/Microsoft.Authorization/permissions`) are a list of entries, each with
//! `actions` and `notActions` patterns. Azure's rule, which this module implements:
//!
//! - an action is allowed when **some** entry has a matching `actions` pattern and that
//!   **same** entry has no matching `notActions` pattern — a `notActions` in one entry never
//!   cancels a grant from another entry;
//! - patterns are case-insensitive, and `*` matches any run of characters, including `/`
//!   (`Microsoft.HybridCompute/*/read` covers
//!   `Microsoft.HybridCompute/machines/licenseProfiles/read`).
//!
//! Deny assignments are a separate mechanism and are not evaluated here.

use crate::models::Permission;

/// Whether the RBAC action `pattern` matches `action`.
///
/// Case-insensitive. `*` matches any run of characters, including `/` and the empty run; every
/// other character must match exactly, so a pattern without `*` must equal the whole action.
///
/// ```
/// use esu_preflight::permissions::action_matches;
///
/// assert!(action_matches("*", "Microsoft.Sql/register/action"));
/// assert!(action_matches(
///     "Microsoft.HybridCompute/*/read",
///     "microsoft.hybridcompute/machines/licenseProfiles/read",
/// ));
/// assert!(!action_matches("Microsoft.HybridCompute/licenses", "Microsoft.HybridCompute/licenses/write"));
/// ```
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let action: Vec<char> = action.chars().collect();
    let same = |p: char, a: char| p == a || p.to_lowercase().eq(a.to_lowercase());

    // Iterative wildcard matching with backtracking to the last `*`: O(len(pattern) * len(action))
    // in the worst case, no recursion, no allocation beyond the two char vectors.
    let (mut p, mut a) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while a < action.len() {
        if p < pattern.len() && pattern[p] == '*' {
            last_star = Some((p, a));
            p += 1;
        } else if p < pattern.len() && same(pattern[p], action[a]) {
            p += 1;
            a += 1;
        } else if let Some((star, matched)) = last_star {
            // Let the last `*` swallow one more character and retry from there.
            p = star + 1;
            a = matched + 1;
            last_star = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Whether `permissions` (the caller's effective permission entries at one scope) allow the
/// control-plane `action`.
///
/// Allowed when some entry has a matching `actions` pattern and that same entry has no matching
/// `notActions` pattern. An empty list allows nothing.
///
/// ```
/// use esu_preflight::models::Permission;
/// use esu_preflight::permissions::is_allowed;
///
/// let contributor = Permission {
///     actions: vec!["*".into()],
///     not_actions: vec!["Microsoft.Authorization/*/Write".into()],
///     ..Permission::default()
/// };
/// assert!(is_allowed(&[contributor.clone()], "Microsoft.HybridCompute/register/action"));
/// assert!(!is_allowed(&[contributor], "Microsoft.Authorization/roleAssignments/write"));
/// ```
pub fn is_allowed(permissions: &[Permission], action: &str) -> bool {
    permissions.iter().any(|entry| entry_allows(entry, action))
}

/// Whether one permission entry allows `action` on its own.
fn entry_allows(entry: &Permission, action: &str) -> bool {
    entry.actions.iter().any(|p| action_matches(p, action))
        && !entry.not_actions.iter().any(|p| action_matches(p, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(file: &str) -> Vec<Permission> {
        let path = format!(
            "{}/../../tests/fixtures/arm/authorization/builtin-roles/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let role: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::from_value(role["permissions"].clone()).unwrap()
    }

    #[test]
    fn exact_patterns_match_whole_action_case_insensitively() {
        assert!(action_matches(
            "Microsoft.HybridCompute/licenses/write",
            "MICROSOFT.HYBRIDCOMPUTE/LICENSES/WRITE"
        ));
        assert!(!action_matches(
            "Microsoft.HybridCompute/licenses/write",
            "Microsoft.HybridCompute/licenses/writeX"
        ));
        assert!(!action_matches(
            "Microsoft.HybridCompute/licenses/write",
            "Microsoft.HybridCompute/licenses/wri"
        ));
        assert!(!action_matches("", "a"));
        assert!(action_matches("", ""));
    }

    #[test]
    fn star_spans_slashes() {
        assert!(action_matches(
            "Microsoft.HybridCompute/*/read",
            "Microsoft.HybridCompute/machines/licenseProfiles/read"
        ));
        assert!(action_matches(
            "Microsoft.HybridCompute/*/read",
            "Microsoft.HybridCompute/licenses/read"
        ));
        assert!(!action_matches(
            "Microsoft.HybridCompute/*/read",
            "Microsoft.HybridCompute/licenses/write"
        ));
        assert!(action_matches("*/read", "Microsoft.Sql/servers/read"));
        assert!(action_matches(
            "Microsoft.Sql/*",
            "Microsoft.Sql/register/action"
        ));
        assert!(!action_matches(
            "Microsoft.Sql/*",
            "Microsoft.Storage/register/action"
        ));
        assert!(action_matches("**", ""));
        assert!(action_matches("a*b*c", "aXbYbZc"));
        assert!(!action_matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn owner_and_contributor_may_register_providers() {
        for file in ["Owner.json", "Contributor.json"] {
            let perms = role(file);
            assert!(
                is_allowed(&perms, "Microsoft.Sql/register/action"),
                "{file}"
            );
            assert!(
                is_allowed(&perms, "Microsoft.HybridCompute/register/action"),
                "{file}"
            );
            assert!(
                is_allowed(&perms, "Microsoft.HybridCompute/licenses/write"),
                "{file}"
            );
        }
        // Contributor's notActions remove role assignment writes (with different casing).
        assert!(!is_allowed(
            &role("Contributor.json"),
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(is_allowed(
            &role("Owner.json"),
            "Microsoft.Authorization/roleAssignments/write"
        ));
    }

    #[test]
    fn connected_machine_resource_administrator_cannot_register() {
        let perms = role("AzureConnectedMachineResourceAdministrator.json");
        assert!(!is_allowed(
            &perms,
            "Microsoft.HybridCompute/register/action"
        ));
        assert!(is_allowed(&perms, "Microsoft.HybridCompute/licenses/write"));
        assert!(is_allowed(&perms, "Microsoft.HybridCompute/licenses/read"));
        assert!(is_allowed(
            &perms,
            "Microsoft.HybridCompute/machines/licenseProfiles/read"
        ));
        assert!(is_allowed(
            &perms,
            "Microsoft.HybridCompute/machines/licenseProfiles/write"
        ));
    }

    #[test]
    fn user_access_administrator_reads_but_cannot_write_licenses() {
        let perms = role("UserAccessAdministrator.json");
        assert!(is_allowed(&perms, "Microsoft.HybridCompute/licenses/read"));
        assert!(!is_allowed(
            &perms,
            "Microsoft.HybridCompute/licenses/write"
        ));
        assert!(!is_allowed(&perms, "Microsoft.Sql/register/action"));
    }

    #[test]
    fn not_actions_apply_to_their_own_entry_only() {
        let denied_here = Permission {
            actions: vec!["*".into()],
            not_actions: vec!["Microsoft.Sql/*".into()],
            ..Permission::default()
        };
        assert!(!is_allowed(
            std::slice::from_ref(&denied_here),
            "Microsoft.Sql/register/action"
        ));
        let granted_there = Permission {
            actions: vec!["Microsoft.Sql/register/action".into()],
            ..Permission::default()
        };
        assert!(is_allowed(
            &[denied_here, granted_there],
            "Microsoft.Sql/register/action"
        ));
    }

    #[test]
    fn empty_permissions_allow_nothing() {
        let path = format!(
            "{}/../../tests/fixtures/arm/authorization/GetPermissions.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let perms: Vec<Permission> =
            serde_json::from_value(body["responses"]["200"]["body"]["value"].clone()).unwrap();
        assert_eq!(perms.len(), 1);
        assert!(!is_allowed(&perms, "Microsoft.Sql/register/action"));
        assert!(!is_allowed(&[], "Microsoft.Sql/register/action"));
    }
}
