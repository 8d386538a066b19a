//! CSV for spreadsheets: a header row, then one row per finding with every column of the

use super::Emitter;
use super::text::strip_controls;
use crate::report::Report;
use std::io;

/// CSV for spreadsheets: a header row, then one row per finding with every column of the
/// report.
///
/// Columns: `check_id`, `check`, `status`, `severity`, `resource_id`, `subscription_id`,
/// `program`, `message`, `remediation`, `evidence` (compact JSON), `help_uri`, `suppressed` (the
/// reason of the configured suppression that accepts the finding, [`Finding::suppressed`];
/// empty otherwise; added last so the other columns keep their places). RFC 4180 quoting; lines
/// end in `\n`.
///
/// [`Finding::suppressed`]: crate::finding::Finding::suppressed
///
/// Two things differ from the JSON report, both for spreadsheets:
/// - a cell that starts with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`, so a spreadsheet
///   never runs text from Azure as a formula ("CSV injection"); no column written by
///   esu-preflight itself starts that way;
/// - a run that could not do its job ([`Report::error`]) has one row with status `error`, check
///   `run-failed` and the error as its message, so the sheet never looks like a clean run.
///
/// Every cell goes through [`strip_controls`](super::strip_controls): controls and direction
/// overrides are removed, a line break in text from Azure becomes a space, and CI runner
/// commands (`::error::`, `##vso[`) are defused, so the file is safe to print in a CI log.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvEmitter;

/// The header row.
const COLUMNS: [&str; 12] = [
    "check_id",
    "check",
    "status",
    "severity",
    "resource_id",
    "subscription_id",
    "program",
    "message",
    "remediation",
    "evidence",
    "help_uri",
    "suppressed",
];

impl Emitter for CsvEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(&mut *out);
        writer.write_record(COLUMNS).map_err(io::Error::other)?;
        if let Some(error) = &report.error {
            let mut row = [""; COLUMNS.len()];
            row[1] = "run-failed";
            row[2] = "error";
            row[3] = "error";
            let message = cell(&format!("esu-preflight could not run: {error}"));
            row[7] = &message;
            writer.write_record(row).map_err(io::Error::other)?;
        }
        for f in &report.findings {
            let evidence = if f.evidence.is_null() {
                String::new()
            } else {
                f.evidence.to_string()
            };
            writer
                .write_record([
                    cell(&f.check_id),
                    cell(&f.check),
                    f.status.as_str().to_owned(),
                    f.severity.as_str().to_owned(),
                    cell(&f.resource_id),
                    cell(&f.subscription_id),
                    cell(f.program.as_deref().unwrap_or_default()),
                    cell(&f.message),
                    cell(&f.remediation),
                    cell(&evidence),
                    cell(&f.help_uri),
                    cell(f.suppressed.as_ref().map_or("", |s| s.reason.as_str())),
                ])
                .map_err(io::Error::other)?;
        }
        writer.flush()
    }
}

/// A cell: controls removed, runner commands defused, a formula start neutralised.
fn cell(text: &str) -> String {
    let text = strip_controls(text);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testdata;
    use crate::snapshot::Scope;

    fn csv_text(report: &Report) -> String {
        let mut out = Vec::new();
        CsvEmitter.emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn rows(text: &str) -> Vec<Vec<String>> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn csv_report() {
        insta::assert_snapshot!(csv_text(&testdata::report()));
    }

    #[test]
    fn one_row_per_finding_with_every_column() {
        let report = testdata::report();
        let text = csv_text(&report);
        assert!(text.starts_with("check_id,check,status,severity,resource_id,subscription_id,"));
        let rows = rows(&text);
        assert_eq!(rows.len(), report.findings.len());
        for (row, finding) in rows.iter().zip(&report.findings) {
            assert_eq!(row.len(), COLUMNS.len());
            assert_eq!(row[0], finding.check_id);
            assert_eq!(row[2], finding.status.as_str());
            assert_eq!(row[7], finding.message);
            let evidence: serde_json::Value = serde_json::from_str(&row[9]).unwrap();
            assert_eq!(evidence, finding.evidence.value());
            assert!(!row[9].contains('\n'), "compact JSON");
        }
    }

    #[test]
    fn line_breaks_stay_in_their_field_and_formulas_are_neutralised() {
        let mut report = testdata::long_report();
        report.findings[0].message = "one\r\ntwo, \"three\"\u{1b}[2J".into();
        report.findings[1].message = "=HYPERLINK(\"http://x\")".into();
        let rows = rows(&csv_text(&report));
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][7], "one two, \"three\"[2J");
        assert_eq!(rows[1][7], "'=HYPERLINK(\"http://x\")");
    }

    #[test]
    fn suppressed_findings_have_their_reason_in_the_last_column() {
        let report = testdata::suppressed_report();
        let text = csv_text(&report);
        assert!(text.starts_with(
            "check_id,check,status,severity,resource_id,subscription_id,program,message,\
             remediation,evidence,help_uri,suppressed\n"
        ));
        let rows = rows(&text);
        for (row, finding) in rows.iter().zip(&report.findings) {
            assert_eq!(row.len(), COLUMNS.len());
            match &finding.suppressed {
                Some(s) => assert_eq!(row[11], s.reason),
                None => assert_eq!(row[11], ""),
            }
        }
        assert_eq!(
            rows.iter().filter(|r| !r[11].is_empty()).count(),
            report.summary.suppressed
        );
    }

    #[test]
    fn azure_text_cannot_forge_runner_commands() {
        let text = csv_text(&testdata::hostile_report());
        for line in text.lines() {
            assert!(!testdata::is_runner_command(line), "{line:?}");
        }
        assert_eq!(rows(&text).len(), 4);
    }

    #[test]
    fn a_failed_run_has_a_row_saying_so() {
        let text = csv_text(&Report::failed(Scope::default(), "cannot reach ARM"));
        let rows = rows(&text);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][2], "error");
        assert_eq!(rows[0][7], "esu-preflight could not run: cannot reach ARM");
    }
}
