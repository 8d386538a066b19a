//! The table for people at a terminal.
//!
//! Per subscription: a heading, a table `STATUS | CHECK | RESOURCE | MESSAGE`, then a "How to
//! fix" list with the remediation of every failing or inconclusive finding. Last, one summary
//! line: `7 passed, 2 failed, 0 inconclusive, 0 skipped`. Everything is wrapped to fit
//! [`RenderOptions::width`] columns; nothing is coloured unless [`RenderOptions::color`].

use super::{Emitter, RenderOptions, wrap};
use crate::finding::{Finding, Severity, Status};
use crate::report::Report;
use comfy_table::{
    Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Table, Width, presets,
};
use std::io;

/// The narrowest width the table is laid out for.
const MIN_WIDTH: u16 = 40;

/// Writes a [`Report`] as a human-readable table.
#[derive(Debug, Clone, Default)]
pub struct TableEmitter {
    options: RenderOptions,
}

impl TableEmitter {
    /// An emitter with these options.
    pub fn new(options: RenderOptions) -> Self {
        Self { options }
    }

    fn width(&self) -> usize {
        usize::from(self.options.width.max(MIN_WIDTH))
    }

    fn table(&self, findings: &[&Finding]) -> Table {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(self.options.width.max(MIN_WIDTH))
            .force_no_tty();
        if self.options.color {
            table.enforce_styling();
        }
        table.set_header(["STATUS", "CHECK", "RESOURCE", "MESSAGE"]);
        for finding in findings {
            table.add_row(vec![
                self.status_cell(finding),
                Cell::new(&finding.check_id),
                Cell::new(break_at_separators(
                    &short_resource(&finding.resource_id),
                    self.resource_width(),
                )),
                Cell::new(&finding.message),
            ]);
        }
        // STATUS and CHECK never need wrapping; RESOURCE gets at most a third of the width
        // (its text is already broken to fit, at `.` and `/` where possible).
        let resource_max = u16::try_from(self.resource_width() + 2).unwrap_or(u16::MAX);
        for (index, constraint) in [
            (0, ColumnConstraint::ContentWidth),
            (1, ColumnConstraint::ContentWidth),
            (
                2,
                ColumnConstraint::UpperBoundary(Width::Fixed(resource_max)),
            ),
        ] {
            if let Some(column) = table.column_mut(index) {
                column.set_constraint(constraint);
            }
        }
        table
    }

    /// The widest the RESOURCE column's text may be.
    fn resource_width(&self) -> usize {
        self.width() / 3 - 2
    }

    fn status_cell(&self, finding: &Finding) -> Cell {
        let cell = Cell::new(status_label(finding, "\n")).set_alignment(CellAlignment::Left);
        if !self.options.color {
            return cell;
        }
        match (finding.status, finding.severity) {
            (Status::Fail, Severity::Error) => cell.fg(Color::Red),
            (Status::Fail, _) | (Status::Inconclusive, _) => cell.fg(Color::Yellow),
            (Status::Pass, _) => cell.fg(Color::Green),
            (Status::Skipped, _) => cell,
        }
    }

    /// The "How to fix" lines for one subscription's findings: each distinct remediation once,
    /// with the resources it applies to.
    fn how_to_fix(&self, findings: &[&Finding]) -> Vec<String> {
        let mut items: Vec<(&Finding, Vec<String>)> = Vec::new();
        for finding in findings {
            if !matches!(finding.status, Status::Fail | Status::Inconclusive)
                || finding.remediation.trim().is_empty()
            {
                continue;
            }
            let resource = short_resource(&finding.resource_id);
            match items.iter_mut().find(|(first, _)| {
                first.check_id == finding.check_id && first.remediation == finding.remediation
            }) {
                Some((_, resources)) => resources.push(resource),
                None => items.push((finding, vec![resource])),
            }
        }
        let width = self.width();
        let mut lines = Vec::new();
        if items.is_empty() {
            return lines;
        }
        lines.push(String::new());
        lines.push(self.bold("How to fix"));
        for (finding, resources) in items {
            lines.push(String::new());
            let title = format!(
                "{} {} ({}): {}",
                finding.check_id,
                finding.check,
                status_label(finding, ", "),
                resources.join(", ")
            );
            lines.extend(wrap(&title, width, ""));
            for paragraph in finding.remediation.lines() {
                lines.extend(wrap(paragraph, width, "  "));
            }
        }
        lines
    }

    fn bold(&self, text: &str) -> String {
        if self.options.color {
            format!("\u{1b}[1m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }
}

impl Emitter for TableEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        let width = self.width();
        if let Some(error) = &report.error {
            return wrap(&format!("run failed: {error}"), width, "")
                .iter()
                .try_for_each(|line| writeln!(out, "{line}"));
        }
        // Findings are sorted by subscription, so groups are contiguous.
        let mut groups: Vec<(&str, Vec<&Finding>)> = Vec::new();
        for finding in &report.findings {
            match groups.last_mut() {
                Some((id, group)) if *id == finding.subscription_id => group.push(finding),
                _ => groups.push((&finding.subscription_id, vec![finding])),
            }
        }
        if groups.is_empty() {
            writeln!(out, "no findings")?;
        }
        for (index, (subscription, findings)) in groups.iter().enumerate() {
            if index > 0 {
                writeln!(out)?;
            }
            for line in wrap(&format!("Subscription {subscription}"), width, "") {
                writeln!(out, "{}", self.bold(&line))?;
            }
            for line in self.table(findings).lines() {
                writeln!(out, "{}", line.trim_end())?;
            }
            for line in self.how_to_fix(findings) {
                writeln!(out, "{line}")?;
            }
        }
        let s = &report.summary;
        let summary = format!(
            "{} passed, {} failed, {} inconclusive, {} skipped",
            s.pass, s.fail, s.inconclusive, s.skipped
        );
        writeln!(out)?;
        for line in wrap(&summary, width, "") {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// The status as shown: `fail` for an error; for a failure of lower severity the status and
/// the severity, joined by `separator` (`fail\n(warning)` in the table, `fail, warning` in
/// "How to fix").
fn status_label(finding: &Finding, separator: &str) -> String {
    if finding.status == Status::Fail && finding.severity != Severity::Error {
        if separator == "\n" {
            format!("{}\n({})", finding.status, finding.severity)
        } else {
            format!("{}{separator}{}", finding.status, finding.severity)
        }
    } else {
        finding.status.to_string()
    }
}

/// Breaks `text` into lines of at most `width` characters, preferably after a `.` or `/`
/// (`Microsoft.` / `GuestConfiguration`), else anywhere.
fn break_at_separators(text: &str, width: usize) -> String {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for piece in text.split_inclusive(['.', '/']) {
        if !line.is_empty() && line.chars().count() + piece.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        line.push_str(piece);
        while line.chars().count() > width {
            let rest: String = line.chars().skip(width).collect();
            line = line.chars().take(width).collect();
            lines.push(std::mem::replace(&mut line, rest));
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

/// A short name for a resource id, for the RESOURCE column: `subscription` for the subscription
/// itself, the namespace for a provider (`Microsoft.Sql`), the resource group name, or the part
/// after the provider namespace (`machines/srv-01/licenseProfiles/default`). Anything that is not
/// a subscription-based ARM id is shown as is.
fn short_resource(resource_id: &str) -> String {
    let segments: Vec<&str> = resource_id.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [first, _] if first.eq_ignore_ascii_case("subscriptions") => "subscription".to_owned(),
        [first, _, providers, namespace]
            if first.eq_ignore_ascii_case("subscriptions")
                && providers.eq_ignore_ascii_case("providers") =>
        {
            (*namespace).to_owned()
        }
        [first, _, groups, group]
            if first.eq_ignore_ascii_case("subscriptions")
                && groups.eq_ignore_ascii_case("resourceGroups") =>
        {
            (*group).to_owned()
        }
        [first, ..] if first.eq_ignore_ascii_case("subscriptions") => {
            match segments
                .iter()
                .rposition(|s| s.eq_ignore_ascii_case("providers"))
            {
                Some(at) if segments.len() > at + 2 => segments[at + 2..].join("/"),
                _ => resource_id.to_owned(),
            }
        }
        _ => resource_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testdata;

    fn render(report: &Report, options: RenderOptions) -> String {
        let mut out = Vec::new();
        TableEmitter::new(options).emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn assert_fits(text: &str, width: usize) {
        for line in text.lines() {
            assert!(
                line.chars().count() <= width,
                "{} chars > {width}: {line:?}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn table_report() {
        let text = render(&testdata::report(), RenderOptions::default());
        assert_fits(&text, 80);
        insta::assert_snapshot!(text);
    }

    #[test]
    fn table_ends_with_the_summary() {
        let report = testdata::report();
        let text = render(&report, RenderOptions::default());
        let s = &report.summary;
        assert_eq!(
            text.lines().last().unwrap(),
            format!(
                "{} passed, {} failed, {} inconclusive, {} skipped",
                s.pass, s.fail, s.inconclusive, s.skipped
            )
        );
    }

    #[test]
    fn long_texts_are_wrapped_to_the_width() {
        for width in [80, 60, 40, 20, 120] {
            let text = render(
                &testdata::long_report(),
                RenderOptions {
                    color: false,
                    width,
                },
            );
            assert_fits(&text, usize::from(width.max(MIN_WIDTH)));
            assert!(text.contains("How to fix"));
        }
    }

    #[test]
    fn no_ansi_escapes_without_color() {
        for report in [testdata::report(), testdata::long_report()] {
            let text = render(&report, RenderOptions::default());
            assert!(!text.contains('\u{1b}'), "{text}");
        }
    }

    #[test]
    fn color_marks_statuses() {
        let options = RenderOptions {
            color: true,
            ..RenderOptions::default()
        };
        let text = render(&testdata::report(), options);
        assert!(text.contains('\u{1b}'));
        // Escapes do not count towards the width.
        let plain = strip_ansi(&text);
        assert_fits(&plain, 80);
        assert_eq!(plain, render(&testdata::report(), RenderOptions::default()));
    }

    #[test]
    fn empty_report() {
        let report = Report::new(Default::default(), Vec::new(), Default::default());
        assert_eq!(
            render(&report, RenderOptions::default()),
            "no findings\n\n0 passed, 0 failed, 0 inconclusive, 0 skipped\n"
        );
    }

    #[test]
    fn short_resource_names() {
        let sub = "/subscriptions/0000";
        assert_eq!(short_resource(sub), "subscription");
        assert_eq!(
            short_resource(&format!("{sub}/providers/Microsoft.Sql")),
            "Microsoft.Sql"
        );
        assert_eq!(short_resource(&format!("{sub}/resourceGroups/rg")), "rg");
        assert_eq!(
            short_resource(&format!(
                "{sub}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/srv-01/licenseProfiles/default"
            )),
            "machines/srv-01/licenseProfiles/default"
        );
        assert_eq!(short_resource("elsewhere"), "elsewhere");
        assert_eq!(short_resource(""), "");
    }

    #[test]
    fn resources_break_at_separators() {
        assert_eq!(
            break_at_separators("Microsoft.GuestConfiguration", 24),
            "Microsoft.\nGuestConfiguration"
        );
        assert_eq!(break_at_separators("Microsoft.Sql", 24), "Microsoft.Sql");
        assert_eq!(
            break_at_separators("machines/srv-01/licenseProfiles/default", 20),
            "machines/srv-01/\nlicenseProfiles/\ndefault"
        );
        assert_eq!(break_at_separators("abcdefgh", 3), "abc\ndef\ngh");
        assert_eq!(break_at_separators("", 3), "");
    }

    #[test]
    fn wrap_breaks_words_and_long_words() {
        assert_eq!(wrap("a bb ccc", 4, ""), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3, ""), ["abc", "def", "gh"]);
        assert_eq!(wrap("ab cd", 4, "  "), ["  ab", "  cd"]);
        assert_eq!(wrap("", 10, "  "), [""]);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ params final-byte
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
