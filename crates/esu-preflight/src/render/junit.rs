//! JUnit XML, for the test-result views of Azure DevOps (`PublishTestResults@2`, format

use super::Emitter;
use super::text::strip_controls;
use crate::finding::{Finding, Status};
use crate::report::Report;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::io;

/// JUnit XML, for the test-result views of Azure DevOps (`PublishTestResults@2`, format
/// `JUnit`), GitLab (`artifacts:reports:junit`) and Jenkins.
///
/// The mapping:
///
/// - one `<testsuite>` per check (`ESU101 provider-not-registered`), in ID order;
/// - one `<testcase>` per check × resource: `classname` is the check ID, `name` the resource's
///   ARM id. Passing findings are test cases too, so the view shows what was verified;
/// - `fail` → `<failure>` whose `type` is the severity (a warning fails its test case though it
///   does not fail the run: the exit code is the gate, see `--fail-on`);
/// - `inconclusive` → `<error>` (type `inconclusive`): in JUnit an error is a test that could
///   not run to a verdict, which is what an unread fact means; every consumer counts it as not
///   passed, as the exit code does;
/// - `skipped` → `<skipped>` with the reason;
/// - a finding a configured suppression accepts ([`Finding::suppressed`]) → `<skipped
///   message="suppressed: REASON" type="suppressed">`, whatever its status, with the expiry and
///   the finding in the element's text: it does not fail the run, so it fails no test;
/// - the message attribute is the finding's message on one line; the element's text holds the
///   message, the resource, the fix, the evidence and the help link.
///
/// There is always at least one test case, because some consumers reject a file without any:
/// a run without findings has one passing case `esu-preflight` / `no findings`, and a run that
/// could not do its job ([`Report::error`]) has one failing case carrying the error.
///
/// Text from Azure goes through [`XmlString`](quick_junit::XmlString) (which drops ANSI escapes
/// and the controls XML cannot carry) after [`strip_controls`]: other controls and direction
/// overrides are removed, its own line breaks become spaces and CI runner commands are defused,
/// so a file printed in a CI log cannot forge a command (the element text's line breaks are the
/// emitter's own, between fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct JunitEmitter;

impl Emitter for JunitEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        let mut junit = quick_junit::Report::new(report.tool.name.as_str());
        let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
        // A check may conclude more than once about one resource: the second case is named
        // `… (2)`, so no consumer merges the two.
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for finding in &report.findings {
            let occurrence = seen
                .entry((&finding.check_id, &finding.resource_id))
                .or_default();
            *occurrence += 1;
            suites
                .entry(&finding.check_id)
                .or_insert_with(|| {
                    TestSuite::new(clean(&format!("{} {}", finding.check_id, finding.check)))
                })
                .add_test_case(test_case(finding, *occurrence));
        }
        if let Some(error) = &report.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(clean(&format!("esu-preflight could not run: {error}")))
                .set_type("run-failed")
                .set_description(clean(error));
            let mut case = TestCase::new("run", status);
            case.set_classname("esu-preflight");
            let mut suite = TestSuite::new("esu-preflight");
            suite.add_test_case(case);
            junit.add_test_suite(suite);
        } else if suites.is_empty() {
            let mut case = TestCase::new("no findings", TestCaseStatus::success());
            case.set_classname("esu-preflight");
            let mut suite = TestSuite::new("esu-preflight");
            suite.add_test_case(case);
            junit.add_test_suite(suite);
        }
        junit.add_test_suites(suites.into_values());
        junit.serialize(&mut *out).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }
}

fn test_case(finding: &Finding, occurrence: usize) -> TestCase {
    let status = match (&finding.suppressed, finding.status) {
        (Some(suppressed), _) => {
            let mut status = TestCaseStatus::skipped();
            let mut description = description(finding);
            description.push_str(&format!("\nstatus: {}", finding.status));
            if let Some(expires) = &suppressed.expires {
                description.push_str(&format!("\nsuppressed until: {}", clean(expires)));
            }
            status
                .set_message(clean(&format!("suppressed: {}", suppressed.reason)))
                .set_type("suppressed")
                .set_description(description);
            status
        }
        (None, Status::Pass) => TestCaseStatus::success(),
        (None, Status::Fail) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(clean(&finding.message))
                .set_type(finding.severity.as_str())
                .set_description(description(finding));
            status
        }
        (None, Status::Inconclusive) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(clean(&format!("inconclusive: {}", finding.message)))
                .set_type("inconclusive")
                .set_description(description(finding));
            status
        }
        (None, Status::Skipped) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(clean(&finding.message));
            status
        }
    };
    let mut name = clean(&finding.resource_id);
    if occurrence > 1 {
        name.push_str(&format!(" ({occurrence})"));
    }
    let mut case = TestCase::new(name, status);
    case.set_classname(clean(&finding.check_id));
    case
}

/// The element text of a failure or error: what, where, the fix, the facts, where to read more.
fn description(finding: &Finding) -> String {
    let mut text = format!(
        "{}\nresource: {}\nseverity: {}",
        clean(&finding.message),
        clean(&finding.resource_id),
        finding.severity
    );
    if !finding.remediation.is_empty() {
        text.push_str("\nfix: ");
        text.push_str(&clean(&finding.remediation));
    }
    if !finding.evidence.is_null() {
        text.push_str("\nevidence: ");
        text.push_str(&clean(&finding.evidence.to_string()));
    }
    if !finding.help_uri.is_empty() {
        text.push_str("\nhelp: ");
        text.push_str(&clean(&finding.help_uri));
    }
    text
}

/// `text` on one line, without the controls and direction overrides a viewer could act on and
/// with CI runner commands defused ([`strip_controls`]; an XML parser turns a raw line break in
/// an attribute into a space anyway: this makes the file say what a viewer shows).
fn clean(text: &str) -> String {
    strip_controls(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testdata;
    use crate::report::Gate;
    use crate::snapshot::Scope;

    fn junit(report: &Report) -> String {
        let mut out = Vec::new();
        JunitEmitter.emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Counts of `(testcase, failure, error, skipped)` elements, checked against the
    /// `tests`/`failures`/`errors`/`skipped` attributes on the way.
    fn counts(xml: &str) -> (usize, usize, usize, usize) {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let count = |name: &str| doc.descendants().filter(|n| n.has_tag_name(name)).count();
        let counted = (
            count("testcase"),
            count("failure"),
            count("error"),
            count("skipped"),
        );
        let attr = |name: &str| root.attribute(name).unwrap().parse::<usize>().unwrap();
        assert_eq!(
            (attr("tests"), attr("failures"), attr("errors")),
            (counted.0, counted.1, counted.2)
        );
        for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
            assert!(case.attribute("classname").is_some());
            assert!(case.attribute("name").is_some());
        }
        counted
    }

    #[test]
    fn junit_report() {
        insta::assert_snapshot!(junit(&testdata::report()));
    }

    #[test]
    fn one_testcase_per_finding_with_the_check_as_classname() {
        let report = testdata::report();
        let xml = junit(&report);
        let (cases, failures, errors, skipped) = counts(&xml);
        assert_eq!(cases, report.findings.len());
        assert_eq!(failures, report.summary.fail);
        assert_eq!(errors, report.summary.inconclusive);
        assert_eq!(skipped, report.summary.skipped);
        assert!(report.summary.pass > 0, "passes are test cases too");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let classnames: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("classname"))
            .collect();
        for finding in &report.findings {
            assert!(classnames.contains(&&*finding.check_id));
        }
    }

    #[test]
    fn there_is_always_a_testcase() {
        let empty = Report::new(Scope::default(), Vec::new(), Gate::default());
        assert_eq!(counts(&junit(&empty)), (1, 0, 0, 0));
        let failed = Report::failed(Scope::default(), "cannot reach ARM");
        let xml = junit(&failed);
        assert_eq!(counts(&xml), (1, 1, 0, 0));
        assert!(xml.contains("esu-preflight could not run: cannot reach ARM"));
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn a_repeated_check_and_resource_get_distinct_names() {
        let mut report = testdata::long_report();
        let resource = report.findings[0].resource_id.clone();
        report.findings[1].resource_id = resource.clone();
        let xml = junit(&report);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let names: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        assert!(names.contains(&&*resource));
        assert!(
            names.contains(&format!("{resource} (2)").as_str()),
            "{names:?}"
        );
    }

    #[test]
    fn suppressed_findings_are_skipped_with_the_reason() {
        let report = testdata::suppressed_report();
        let xml = junit(&report);
        let (cases, failures, errors, skipped) = counts(&xml);
        assert_eq!(cases, report.findings.len());
        assert_eq!(failures, report.summary.fail);
        assert_eq!(errors, report.summary.inconclusive);
        assert_eq!(skipped, report.summary.skipped + report.summary.suppressed);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suppressed: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("skipped") && n.attribute("type") == Some("suppressed"))
            .collect();
        assert_eq!(suppressed.len(), report.summary.suppressed);
        let sql = suppressed
            .iter()
            .find(|n| {
                n.parent().unwrap().attribute("name").unwrap().starts_with(
                    "/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Sql",
                )
            })
            .expect("the Microsoft.Sql failure");
        assert_eq!(
            sql.attribute("message"),
            Some("suppressed: SQL is registered by the platform team | ticket #42")
        );
        let text = sql.text().unwrap();
        assert!(
            text.contains("status: fail\nsuppressed until: 2027-01-01"),
            "{text}"
        );
    }

    #[test]
    fn azure_text_cannot_forge_runner_commands() {
        let xml = junit(&testdata::hostile_report());
        for line in xml.lines() {
            assert!(!testdata::is_runner_command(line), "{line:?}");
        }
        assert!(roxmltree::Document::parse(&xml).is_ok());
    }

    #[test]
    fn control_characters_stay_inside_the_attribute() {
        let mut report = testdata::long_report();
        report.findings[0].message = "one\r\ntwo\" />\u{1b}[31m<x>&\u{7f}\u{9b}\u{202e}".into();
        report.findings[0].resource_id = "/subscriptions/s/a\nb".into();
        let xml = junit(&report);
        for c in xml.chars() {
            assert!(
                c == '\n' || !crate::render::text::tests_support::dangerous(c),
                "{c:?} written raw"
            );
        }
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.attribute("message"), Some("one two\" />[31m<x>&"));
        assert_eq!(counts(&xml), (4, 1, 1, 1));
    }
}
