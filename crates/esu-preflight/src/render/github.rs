//! GitHub Actions workflow commands: each failing or inconclusive finding becomes an

use super::Emitter;
use super::text::strip_controls_keep_lines;
use crate::finding::{Severity, Status};
use crate::report::Report;
use std::io;

/// GitHub Actions workflow commands: each failing or inconclusive finding becomes an
/// annotation on the workflow run.
///
/// ```text
/// ::error title=ESU101 provider-not-registered::Microsoft.Sql is NotRegistered …%0Aresource: …%0Afix: …
/// ```
///
/// The command follows the severity: error → `::error`, warning → `::warning`, info →
/// `::notice`; an inconclusive finding's title ends in `(inconclusive)`. A finding a configured
/// suppression accepts ([`Finding::suppressed`](crate::finding::Finding::suppressed)) gets no
/// annotation: the summary's `N suppressed` counts it. When the run read a
/// file (license plan, configuration, snapshot: [`ReportInputs`](crate::report::ReportInputs)),
/// each annotation names the first as its `file`, as the SARIF locations do. The last line is a
/// `::notice` with the summary. A run that could not do its job ([`Report::error`]) writes one
/// `::error` with the error. GitHub shows at most 10 annotations of each kind per step on the
/// run's page; all of them stay in the log.
///
/// Each command is one line whatever the text holds: the message is escaped with
/// [`escape_data`] (`%`, CR, LF) and the title with [`escape_property`] (also `:` and `,`);
/// other controls and direction overrides are removed first, so text from Azure can neither end
/// the command early nor start a command of its own (`::stop-commands::`, `::add-mask::`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubEmitter;

impl Emitter for GithubEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        if let Some(error) = &report.error {
            return writeln!(
                out,
                "::error title={}::{}",
                escape_property("esu-preflight could not run"),
                escape_data(error)
            );
        }
        // Annotations attach to the first input file, as SARIF locations do (a plan changed in
        // a pull request then shows them in its diff); a live run without files has none.
        let file = report
            .inputs
            .files()
            .next()
            .map(|path| {
                let path = path.replace('\\', "/");
                let path = path.trim_start_matches("./");
                format!("file={},", escape_property(path))
            })
            .unwrap_or_default();
        for finding in &report.findings {
            if finding.suppressed.is_some() {
                // Accepted by the configuration: no annotation; the summary counts them.
                continue;
            }
            let inconclusive = match finding.status {
                Status::Fail => false,
                Status::Inconclusive => true,
                Status::Pass | Status::Skipped => continue,
            };
            let command = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut title = format!("{} {}", finding.check_id, finding.check);
            let mut message = finding.message.clone();
            if inconclusive {
                title.push_str(" (inconclusive)");
                message.insert_str(0, "inconclusive: ");
            }
            if !finding.resource_id.is_empty() {
                message.push_str("\nresource: ");
                message.push_str(&finding.resource_id);
            }
            if !finding.remediation.is_empty() {
                message.push_str("\nfix: ");
                message.push_str(&finding.remediation);
            }
            writeln!(
                out,
                "::{command} {file}title={}::{}",
                escape_property(&title),
                escape_data(&message)
            )?;
        }
        writeln!(
            out,
            "::notice title=esu-preflight::{}",
            escape_data(&format!(
                "{} (exit code {})",
                report.summary, report.summary.exit_code
            ))
        )
    }
}

/// Escapes the message of a workflow command: `%` → `%25`, CR → `%0D`, LF → `%0A`. Other
/// controls and direction overrides are removed (a log viewer would act on them).
///
/// ```
/// use esu_preflight::render::escape_data;
///
/// assert_eq!(escape_data("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext: a,b");
/// ```
pub fn escape_data(text: &str) -> String {
    escape(text, false)
}

/// Escapes a property (`title=…`) of a workflow command: as [`escape_data`], and also `:` →
/// `%3A` and `,` → `%2C`.
///
/// ```
/// use esu_preflight::render::escape_property;
///
/// assert_eq!(escape_property("ESU101: a,b\n"), "ESU101%3A a%2Cb%0A");
/// ```
pub fn escape_property(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, property: bool) -> String {
    let text = strip_controls_keep_lines(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
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
    use proptest::prelude::*;

    fn github(report: &Report) -> String {
        let mut out = Vec::new();
        GithubEmitter.emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The inverse of the runner's unescaping (`%0D`, `%0A`, `%3A`, `%2C`, then `%25`, as
    /// actions/runner's `ActionCommand` does).
    fn unescape(text: &str) -> String {
        text.replace("%0D", "\r")
            .replace("%0A", "\n")
            .replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%25", "%")
    }

    #[test]
    fn github_report() {
        insta::assert_snapshot!(github(&testdata::report()));
    }

    #[test]
    fn escaping_table() {
        for (text, data, property) in [
            ("plain", "plain", "plain"),
            ("50%", "50%25", "50%25"),
            ("%0A", "%250A", "%250A"),
            ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
            ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
            ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
            ("\u{1b}[31mred\u{7}\u{9b}\u{202e}", "[31mred", "[31mred"),
            ("tab\there", "tab\there", "tab\there"),
        ] {
            assert_eq!(escape_data(text), data, "data {text:?}");
            assert_eq!(escape_property(text), property, "property {text:?}");
        }
    }

    proptest! {
        #[test]
        fn escaping_round_trips_and_stays_on_one_line(text in "[ -~\r\n%:,\u{e9}]{0,40}") {
            let data = escape_data(&text);
            let property = escape_property(&text);
            prop_assert!(!data.contains(['\r', '\n']));
            prop_assert!(!property.contains(['\r', '\n', ':', ',']));
            prop_assert_eq!(unescape(&data), text.clone());
            prop_assert_eq!(unescape(&property), text);
        }
    }

    #[test]
    fn one_command_per_finding_whatever_the_text() {
        let mut report = testdata::long_report();
        report.findings[0].message = "evil\n::stop-commands::x\r\n::add-mask::y".into();
        report.findings[0].check = "a,b:c".into();
        let text = github(&report);
        let lines: Vec<&str> = text.lines().collect();
        // A fail, an inconclusive, the summary.
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines.iter().all(|l| l.starts_with("::")));
        assert!(lines[0].starts_with("::error title=ESU101 a%2Cb%3Ac::evil%0A::stop-commands::x"));
        assert!(lines[1].starts_with(
            "::warning title=ESU101 provider-not-registered (inconclusive)::inconclusive: "
        ));
        assert!(lines[2].starts_with("::notice title=esu-preflight::"));
    }

    #[test]
    fn suppressed_findings_are_not_annotated() {
        let report = testdata::suppressed_report();
        let text = github(&report);
        let annotations = text
            .lines()
            .filter(|l| l.starts_with("::error") || l.starts_with("::warning"))
            .count();
        assert_eq!(
            annotations,
            report.summary.fail + report.summary.inconclusive
        );
        assert!(
            !text.contains("11111111-1111-1111-1111-111111111111/providers"),
            "{text}"
        );
        let notices: Vec<&str> = text.lines().filter(|l| l.starts_with("::notice")).collect();
        assert_eq!(notices.len(), 1, "{text}");
        assert!(
            notices[0].contains(&format!(
                ", {} suppressed (exit code 1)",
                report.summary.suppressed
            )),
            "{text}"
        );
    }

    #[test]
    fn annotations_name_the_input_file() {
        let mut report = testdata::long_report();
        report.inputs.license_plan = Some("./plans/a,b.toml".into());
        let text = github(&report);
        assert!(
            text.starts_with("::error file=plans/a%2Cb.toml,title=ESU101 "),
            "{text}"
        );
    }

    #[test]
    fn a_failed_run_says_so() {
        let text = github(&Report::failed(Scope::default(), "ARM said: no\r\n100%"));
        assert_eq!(
            text,
            "::error title=esu-preflight could not run::ARM said: no%0D%0A100%25\n"
        );
    }
}
