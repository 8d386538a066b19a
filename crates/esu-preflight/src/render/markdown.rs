//! GitHub-flavoured Markdown, for `$GITHUB_STEP_SUMMARY` and pull-request comments.

use super::Emitter;
use super::text::strip_controls;
use crate::finding::{Finding, Status};
use crate::report::Report;
use std::io;

/// At most this many passing (and skipped) findings are listed: GitHub refuses a step summary
/// over 1 MiB, and a fleet's passes would fill it. Failures and inconclusive findings are
/// always listed whole.
const MAX_COLLAPSED_ROWS: usize = 200;

/// GitHub-flavoured Markdown, for `$GITHUB_STEP_SUMMARY` and pull-request comments.
///
/// A heading with the verdict and the summary line, then the failures (errors first) and the
/// inconclusive findings as tables — check, resource, message, fix — then the findings a
/// configured suppression accepts ([`Finding::suppressed`]: never among the failures, whatever
/// their status) collapsed in their own `<details>` with the reason and expiry, and the passing
/// and skipped findings collapsed likewise (the first 200 of each, so a fleet's passes cannot
/// push the summary past GitHub's 1 MiB limit). The section counts add up to the summary line's.
/// A run that could not do its job says so instead.
///
/// Every text from a finding is escaped for a table cell (see `escape`): `|`, backticks and the
/// other Markdown punctuation are backslash-escaped, `<`, `>`, `&` and `@` become entities (no
/// HTML and no @-mentions from Azure text), line breaks become spaces, controls are removed and
/// CI runner commands defused ([`strip_controls`](super::strip_controls)), so a hostile display
/// name cannot break the table, inject a link, ping anyone or, printed in a CI log, run a
/// command.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownEmitter;

impl Emitter for MarkdownEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        if let Some(error) = &report.error {
            writeln!(out, "## esu-preflight: could not run\n")?;
            writeln!(out, "> {}\n", escape(error))?;
            writeln!(
                out,
                "Nothing was checked (exit code {}); earlier results are not confirmed.",
                report.summary.exit_code
            )?;
            return Ok(());
        }
        let verdict = if report.summary.exit_code == 0 {
            "passed"
        } else {
            "failed"
        };
        writeln!(out, "## esu-preflight: {verdict}\n")?;
        writeln!(
            out,
            "{} (exit code {})",
            report.summary, report.summary.exit_code
        )?;

        let mut failures: Vec<&Finding> = with_status(report, Status::Fail).collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if !failures.is_empty() {
            writeln!(out, "\n### Failures ({})\n", failures.len())?;
            writeln!(out, "| Check | Severity | Resource | Message | Fix |")?;
            writeln!(out, "| --- | --- | --- | --- | --- |")?;
            for f in failures {
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    check(f),
                    f.severity,
                    escape(&f.resource_id),
                    escape(&f.message),
                    escape(&f.remediation)
                )?;
            }
        }
        let inconclusive: Vec<&Finding> = with_status(report, Status::Inconclusive).collect();
        if !inconclusive.is_empty() {
            writeln!(
                out,
                "\n### Inconclusive ({}): facts that could not be read\n",
                inconclusive.len()
            )?;
            writeln!(out, "| Check | Resource | Message | Fix |")?;
            writeln!(out, "| --- | --- | --- | --- |")?;
            for f in inconclusive {
                writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    check(f),
                    escape(&f.resource_id),
                    escape(&f.message),
                    escape(&f.remediation)
                )?;
            }
        }
        let suppressed: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.suppressed.is_some())
            .collect();
        if !suppressed.is_empty() {
            writeln!(
                out,
                "\n<details><summary>Suppressed ({})</summary>\n",
                suppressed.len()
            )?;
            writeln!(
                out,
                "| Check | Status | Resource | Message | Reason | Expires |"
            )?;
            writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
            for f in suppressed {
                let marker = f.suppressed.as_ref();
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    check(f),
                    f.status,
                    escape(&f.resource_id),
                    escape(&f.message),
                    escape(marker.map_or("", |s| s.reason.as_str())),
                    escape(marker.and_then(|s| s.expires.as_deref()).unwrap_or("never"))
                )?;
            }
            writeln!(out, "\n</details>")?;
        }
        for (status, title) in [(Status::Pass, "Passed"), (Status::Skipped, "Skipped")] {
            let findings: Vec<&Finding> = with_status(report, status).collect();
            if findings.is_empty() {
                continue;
            }
            writeln!(
                out,
                "\n<details><summary>{title} ({})</summary>\n",
                findings.len()
            )?;
            writeln!(out, "| Check | Resource | Message |")?;
            writeln!(out, "| --- | --- | --- |")?;
            for f in findings.iter().take(MAX_COLLAPSED_ROWS) {
                writeln!(
                    out,
                    "| {} | {} | {} |",
                    check(f),
                    escape(&f.resource_id),
                    escape(&f.message)
                )?;
            }
            if findings.len() > MAX_COLLAPSED_ROWS {
                writeln!(
                    out,
                    "\n… and {} more; every finding is in the JSON, JUnit and CSV reports.",
                    findings.len() - MAX_COLLAPSED_ROWS
                )?;
            }
            writeln!(out, "\n</details>")?;
        }
        Ok(())
    }
}

/// The findings of `status` that no suppression accepts (those have a section of their own).
fn with_status(report: &Report, status: Status) -> impl Iterator<Item = &Finding> {
    report
        .findings
        .iter()
        .filter(move |f| f.status == status && f.suppressed.is_none())
}

/// The check cell: the ID linked to its help page when it has one, then the name.
fn check(finding: &Finding) -> String {
    let id = escape(&finding.check_id);
    let name = escape(&finding.check);
    if finding.help_uri.starts_with("https://") && !finding.help_uri.contains([')', ' ', '<']) {
        format!("[{id}]({}) {name}", finding.help_uri)
    } else {
        format!("{id} {name}")
    }
}

/// `text` safe inside a Markdown table cell (see the [module docs](self)).
pub(super) fn escape(text: &str) -> String {
    let text = strip_controls(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("&#64;"),
            '\\' | '`' | '|' | '*' | '_' | '[' | ']' | '~' | '#' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testdata;
    use crate::snapshot::Scope;

    fn markdown(report: &Report) -> String {
        let mut out = Vec::new();
        MarkdownEmitter.emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn markdown_report() {
        insta::assert_snapshot!(markdown(&testdata::report()));
    }

    #[test]
    fn failures_come_first_and_passes_are_collapsed() {
        let text = markdown(&testdata::report());
        let failures = text.find("### Failures").unwrap();
        let inconclusive = text.find("### Inconclusive").unwrap();
        let passed = text.find("<details><summary>Passed").unwrap();
        assert!(failures < inconclusive && inconclusive < passed);
        assert!(text.lines().nth(2).unwrap().contains(" passed, "));
    }

    #[test]
    fn untrusted_text_cannot_break_the_table() {
        assert_eq!(
            escape("a|b `c` <script>&x @you [l](u) *e*\r\nnext\u{1b}[2J\u{202e}"),
            "a\\|b \\`c\\` &lt;script&gt;&amp;x &#64;you \\[l\\](u) \\*e\\* next\\[2J"
        );
        let mut report = testdata::long_report();
        report.findings[0].message = "x | y\n| --- |\n<b>z</b>".into();
        let text = markdown(&report);
        let row = text
            .lines()
            .find(|l| l.contains("x \\| y"))
            .expect("the row");
        assert_eq!(row.matches(" | ").count(), 4, "{row}");
        assert!(!text.contains("<b>"));
    }

    #[test]
    fn suppressed_findings_are_not_failures() {
        let report = testdata::suppressed_report();
        let text = markdown(&report);
        let sections = |title: &str| -> usize {
            let start = text
                .find(title)
                .unwrap_or_else(|| panic!("{title} in {text}"));
            let open = text[start..].find('(').unwrap() + start + 1;
            let close = text[open..].find(')').unwrap() + open;
            text[open..close].parse().unwrap()
        };
        assert_eq!(sections("### Failures"), report.summary.fail);
        assert_eq!(sections("### Inconclusive"), report.summary.inconclusive);
        assert_eq!(sections("<summary>Suppressed"), report.summary.suppressed);
        assert_eq!(sections("<summary>Passed"), report.summary.pass);
        let failures =
            &text[text.find("### Failures").unwrap()..text.find("### Inconclusive").unwrap()];
        assert!(!failures.contains("is not registered"), "{failures}");
        assert!(text.contains(
            "| fail | /subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Sql | "
        ));
        assert!(
            text.contains(
                "| SQL is registered by the platform team \\| ticket \\#42 | 2027-01-01 |"
            )
        );
        assert!(text.contains("| sandbox subscription | never |"));
        assert!(text.lines().nth(2).unwrap().ends_with(&format!(
            ", {} suppressed (exit code 1)",
            report.summary.suppressed
        )));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn azure_text_cannot_forge_runner_commands() {
        let text = markdown(&testdata::hostile_report());
        for line in text.lines() {
            assert!(!testdata::is_runner_command(line), "{line:?}");
        }
    }

    #[test]
    fn a_fleet_of_passes_is_cut_short() {
        let mut report = testdata::long_report();
        let pass = report.findings[2].clone();
        report.findings = (0..1000)
            .map(|i| {
                let mut f = pass.clone();
                f.resource_id = format!("/subscriptions/s/m{i}").into();
                f
            })
            .collect();
        let text = markdown(&report);
        assert_eq!(
            text.matches("| /subscriptions/s/m").count(),
            MAX_COLLAPSED_ROWS
        );
        assert!(text.contains("… and 800 more"));
    }

    #[test]
    fn a_failed_run_says_so() {
        let text = markdown(&Report::failed(Scope::default(), "cannot reach <ARM>"));
        assert!(text.starts_with("## esu-preflight: could not run\n"));
        insta::assert_snapshot!(text);
    }
}
