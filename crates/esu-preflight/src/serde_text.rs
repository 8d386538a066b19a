//! Serde error messages in a user's words, shared by the snapshot and license plan readers.

/// A serde error message (serde_json's or toml's) in a user's words: no position (the error
/// carries it), no Rust type names, "expected X, found Y".
pub(crate) fn humanize(text: &str) -> String {
    let text = text.trim().to_owned();
    let text = match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let expected = |what: &str| -> String {
        let what = what.trim();
        if what.starts_with("internally tagged enum") {
            "a fact: {\"status\": \"available\", \"value\": …} or {\"status\": \"unavailable\", \"reason\": …}".to_owned()
        } else if what.starts_with("struct ") || what == "a map" {
            "an object".to_owned()
        } else if what == "a sequence" {
            "a list".to_owned()
        } else if matches!(what, "u8" | "u16" | "u32" | "u64" | "usize") {
            "a whole number (0 or more)".to_owned()
        } else {
            what.to_owned()
        }
    };
    let found = |what: &str| -> String {
        let what = what.trim();
        match what.split_once(' ') {
            Some(("integer" | "floating", rest)) => format!(
                "the number {}",
                rest.trim_matches('`')
                    .trim_start_matches("point ")
                    .trim_matches('`')
            ),
            Some(("string", rest)) => format!("the string {}", rest.replace('`', "\"")),
            Some(("boolean", rest)) => rest.trim_matches('`').to_owned(),
            _ if what == "sequence" => "a list".to_owned(),
            _ if what == "map" => "an object".to_owned(),
            _ if what == "null" || what == "unit value" => "null".to_owned(),
            _ => what.to_owned(),
        }
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, want)) = text
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(", expected "))
        {
            return format!("expected {}, found {}", expected(want), found(got));
        }
    }
    if let Some(rest) = text.strip_prefix("missing field ") {
        let hint = if rest == "`status`" {
            format!(" (expected {})", expected("internally tagged enum"))
        } else {
            String::new()
        };
        return format!("missing field {}{hint}", rest.replace('`', "\""));
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        return format!("unknown value {}", rest.replace('`', "\""));
    }
    text.replace('`', "\"")
}
