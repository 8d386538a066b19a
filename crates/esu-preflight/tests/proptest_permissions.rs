//! Property test: RBAC wildcard matching agrees with a plain dynamic-programming reference, on
//! patterns and actions drawn from a small alphabet (so that matches are frequent) and on
//! arbitrary text.

use esu_preflight::models::Permission;
use esu_preflight::permissions::{action_matches, is_allowed};
use proptest::prelude::*;

/// The reference: `*` matches any run (including `/` and the empty run), every other character
/// matches itself ignoring case, char by char.
fn reference(pattern: &str, action: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let action: Vec<char> = action.chars().collect();
    let same = |p: char, a: char| p == a || p.to_lowercase().eq(a.to_lowercase());
    // matches[j]: pattern[..i] matches action[..j]
    let mut matches = vec![false; action.len() + 1];
    matches[0] = true;
    for &p in &pattern {
        let mut next = vec![false; action.len() + 1];
        if p == '*' {
            let mut any = false;
            for j in 0..=action.len() {
                any |= matches[j];
                next[j] = any;
            }
        } else {
            for j in 1..=action.len() {
                next[j] = matches[j - 1] && same(p, action[j - 1]);
            }
        }
        matches = next;
    }
    matches[action.len()]
}

fn small() -> impl Strategy<Value = String> {
    "[aAbB/*.]{0,10}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wildcards_match_like_the_reference(pattern in small(), action in "[aAbB/.]{0,12}") {
        prop_assert_eq!(action_matches(&pattern, &action), reference(&pattern, &action));
    }

    #[test]
    fn any_text_matches_like_the_reference(pattern in any::<String>(), action in any::<String>()) {
        prop_assert_eq!(action_matches(&pattern, &action), reference(&pattern, &action));
        prop_assert!(action_matches(&action.replace('*', ""), &action.replace('*', "")));
        prop_assert!(action_matches("*", &action));
    }

    /// A `notActions` pattern only cancels the grant of its own entry.
    #[test]
    fn not_actions_cancel_only_their_own_entry(
        action in "[aAbB/.]{0,8}",
        entries in prop::collection::vec(
            (prop::collection::vec(small(), 0..3), prop::collection::vec(small(), 0..3)),
            0..4,
        ),
    ) {
        let permissions: Vec<Permission> = entries
            .iter()
            .map(|(actions, not_actions)| Permission {
                actions: actions.clone(),
                not_actions: not_actions.clone(),
                ..Permission::default()
            })
            .collect();
        let expected = entries.iter().any(|(actions, not_actions)| {
            actions.iter().any(|p| reference(p, &action))
                && !not_actions.iter().any(|p| reference(p, &action))
        });
        prop_assert_eq!(is_allowed(&permissions, &action), expected);
    }
}
