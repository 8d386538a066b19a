//! `docs/checks.md`: every check's documentation, generated from the registry.

use super::all;
use std::fmt::Write as _;

/// The Markdown reference of every check, as `docs/checks.md` holds it: a table of the checks,
/// then each check's documentation under the headings `esu-preflight explain ID` prints.
///
/// A test keeps `docs/checks.md` equal to it; `UPDATE_DOCS=1 cargo test -p esu-preflight docs`
/// regenerates the file.
///
/// ```
/// let docs = esu_preflight::checks::docs_markdown();
/// assert!(docs.starts_with("# Checks\n"));
/// assert!(docs.contains("\n## ESU101 provider-not-registered\n"));
/// ```
pub fn docs_markdown() -> String {
    let mut out = String::from(
        "# Checks\n\n\
         <!-- Generated from the check registry (`checks::all()`): do not edit by hand. \
         Regenerate with `UPDATE_DOCS=1 cargo test -p esu-preflight docs`. -->\n\n\
         Every check esu-preflight runs, with its stable ID, name and default severity. IDs are \
         never renumbered or reused. `esu-preflight explain ID` prints the same documentation, \
         `esu-preflight list-checks` the list. The severity of a check can be changed, and its \
         findings suppressed, in `esu-preflight.toml` (see the README's Configuration section).\n\n\
         | ID | Name | Default severity | Detects |\n\
         |---|---|---|---|\n",
    );
    for check in all() {
        let info = check.info();
        let _ = writeln!(
            out,
            "| [{id}](#{anchor}) | `{name}` | {severity} | {summary} |",
            id = info.id,
            anchor = format!("{}-{}", info.id, info.name).to_ascii_lowercase(),
            name = info.name,
            severity = info.default_severity,
            summary = table_cell(info.summary),
        );
    }
    for check in all() {
        let info = check.info();
        let _ = write!(
            out,
            "\n## {} {}\n\nDefault severity: **{}**. More: <{}>\n\n{}\n",
            info.id,
            info.name,
            info.default_severity,
            info.help_uri,
            info.summary.trim_end()
        );
        for (heading, body) in [
            ("What it checks", info.docs.what_it_checks),
            ("Why it matters", info.docs.why_it_matters),
            ("How to fix", info.docs.how_to_fix),
            ("Example finding", info.docs.example_finding),
        ] {
            if heading == "Example finding" {
                // As the table prints it: a block, not prose.
                let _ = write!(out, "\n### {heading}\n\n```text\n{}\n```\n", body.trim());
            } else {
                let _ = write!(out, "\n### {heading}\n\n{}\n", body.trim_end());
            }
        }
    }
    out
}

/// Text for one Markdown table cell: `|` escaped, on one line.
fn table_cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn docs_file() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/checks.md")
    }

    /// `docs/checks.md` is generated: it must match the registry.
    #[test]
    fn docs_checks_md_is_up_to_date() {
        let expected = docs_markdown();
        let path = docs_file();
        if std::env::var_os("UPDATE_DOCS").is_some_and(|v| !v.is_empty()) {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &expected).unwrap();
            return;
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/checks.md is stale (a check was added or its documentation changed): \
             regenerate it with `UPDATE_DOCS=1 cargo test -p esu-preflight docs` and commit it"
        );
    }

    #[test]
    fn docs_name_every_check_once_with_its_headings() {
        let docs = docs_markdown();
        for check in all() {
            let info = check.info();
            let heading = format!("\n## {} {}\n", info.id, info.name);
            assert_eq!(docs.matches(&heading).count(), 1, "{}", info.id);
        }
        assert_eq!(docs.matches("\n### How to fix\n").count(), all().len());
        assert_eq!(table_cell("a |\n b"), "a \\| b");
    }
}
