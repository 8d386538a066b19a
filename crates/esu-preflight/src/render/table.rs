//! The table for people at a terminal.
//!
//! Per subscription: a heading, a table `STATUS | CHECK | RESOURCE / MESSAGE` (the message under
//! the resource, indented) of its subscription-wide findings, then one table per ESU program
//! under the program's name (`Windows Server 2012 / 2012 R2`, `Windows Server 2016`, in the
//! program table's order, by [`Finding::program`]), then a "How to fix" list with the remediation of every failing or
//! inconclusive finding and what it applies to (resources below a resource group by full ID:
//! the table shortens them). Rows with the same check, status, severity and message are one row
//! listing every resource they apply to: seven providers unreadable for one cause are one row
//! with the cause once (the JSON keeps one finding per resource). Last, one summary line (never
//! wrapped, so a script reading the last line gets all of it):
//! `7 passed, 3 failed (1 error, 2 warnings), 0 inconclusive, 0 skipped`.
//!
//! Paste-safe: the emitter wraps every cell itself with [`wrap`] to fit
//! [`RenderOptions::width`] (comfy-table's own wrapping, which cuts words anywhere, is off), so a
//! command, resource ID, action or URL is never broken across lines; one longer than the room
//! overflows the width instead. Text from findings passes through [`strip_controls`]. Nothing is
//! coloured unless [`RenderOptions::color`].

use super::{Emitter, RenderOptions, strip_controls, wrap, wrap_with_commands};
use crate::config::SuppressionStatus;
use crate::finding::{Finding, Severity, Status};
use crate::report::Report;
use comfy_table::{
    Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Table, Width, presets,
};
use std::collections::HashMap;
use std::io;

/// The narrowest width the table is laid out for.
const MIN_WIDTH: u16 = 40;

/// How far a row's message is indented under its resources.
const MESSAGE_INDENT: &str = "  ";

/// Columns comfy-table adds to a three-column table with this preset: one of padding each side
/// of every cell, and a (blank) separator between columns.
const TABLE_OVERHEAD: usize = 3 * 2 + 2;

/// Writes a [`Report`] as a human-readable table.
#[derive(Debug, Clone, Default)]
pub struct TableEmitter {
    options: RenderOptions,
}

/// The header of every table.
const HEADER: [&str; 3] = ["STATUS", "CHECK", "RESOURCE\n  MESSAGE"];

/// The cells of one table, each row with its first finding (for the status colour), and the
/// room left for the last column.
struct Grid<'f> {
    cells: Vec<(&'f Finding, [String; 3])>,
    room: usize,
}

/// One row of the table: findings of one check with the same status, severity and message, and
/// the (short) resources they are about. `skipped` findings with the same message are one row
/// across checks too (a machine outside every program is skipped by six checks for one reason).
struct Row<'a> {
    first: &'a Finding,
    checks: Vec<&'a str>,
    resources: Vec<String>,
}

/// Check IDs as compact ranges, in order: `ESU101–ESU102, ESU401–ESU406, ESU501`.
fn check_ranges(ids: &[&str]) -> String {
    let mut sorted: Vec<String> = ids.iter().map(|id| clean(id)).collect();
    sorted.sort();
    let number = |id: &str| id.get(3..).and_then(|n| n.parse::<u32>().ok());
    let mut ranges: Vec<(String, String)> = Vec::new();
    for id in sorted {
        match ranges.last_mut() {
            Some((_, last))
                if number(last)
                    .zip(number(&id))
                    .is_some_and(|(a, b)| b == a + 1) =>
            {
                *last = id;
            }
            _ => ranges.push((id.clone(), id)),
        }
    }
    ranges
        .into_iter()
        .map(|(first, last)| {
            if first == last {
                first
            } else {
                format!("{first}–{last}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Groups findings into rows, in the order of each row's first finding.
fn rows<'a>(findings: &[&'a Finding]) -> Vec<Row<'a>> {
    let mut rows: Vec<Row<'a>> = Vec::new();
    let mut index: HashMap<(&str, Status, Option<Severity>, &str, bool), usize> = HashMap::new();
    for &finding in findings {
        let skipped = finding.status == Status::Skipped;
        let key = (
            if skipped { "" } else { &*finding.check_id },
            finding.status,
            (!skipped).then_some(finding.severity),
            finding.message.as_str(),
            finding.suppressed.is_some(),
        );
        let resource = clean(&short_resource(&finding.resource_id));
        match index.get(&key) {
            Some(&at) => {
                let row = &mut rows[at];
                if !row.checks.contains(&&*finding.check_id) {
                    row.checks.push(&finding.check_id);
                }
                if !row.resources.contains(&resource) {
                    row.resources.push(resource);
                }
            }
            None => {
                index.insert(key, rows.len());
                rows.push(Row {
                    first: finding,
                    checks: vec![&finding.check_id],
                    resources: vec![resource],
                });
            }
        }
    }
    rows
}

impl TableEmitter {
    /// An emitter with these options.
    pub fn new(options: RenderOptions) -> Self {
        Self { options }
    }

    fn width(&self) -> usize {
        usize::from(self.options.width.max(MIN_WIDTH))
    }

    /// The cells of one table (status, check, resource and message: each wrapped to fit), and
    /// the room of the last column.
    fn grid<'f>(&self, findings: &[&'f Finding]) -> Grid<'f> {
        let rows = rows(findings);
        let labels: Vec<String> = rows
            .iter()
            .map(|row| status_label(row.first, "\n"))
            .collect();
        let checks: Vec<String> = rows
            .iter()
            .map(|row| match row.checks.len() {
                1 => clean(row.checks[0]),
                n => format!("{}\n+{}", clean(row.checks[0]), n - 1),
            })
            .collect();
        let widest = |header: &str, texts: &[String]| {
            texts
                .iter()
                .flat_map(|text| text.lines())
                .chain([header])
                .map(|line| line.chars().count())
                .max()
                .unwrap_or(0)
        };
        let status_width = widest("STATUS", &labels);
        let check_width = widest("CHECK", &checks);
        // What is left for RESOURCE / MESSAGE, which the emitter wraps itself.
        let room = self
            .width()
            .saturating_sub(status_width + check_width + TABLE_OVERHEAD)
            .max(MESSAGE_INDENT.len() + 1);
        let cells = rows
            .iter()
            .zip(labels)
            .zip(checks)
            .map(|((row, label), check)| {
                let mut text = wrap(&row.resources.join(", "), room, "");
                let mut message =
                    shorten_ids(&clean(&row.first.message), &row.first.subscription_id);
                if row.checks.len() > 1 {
                    message = format!("{}: {message}", check_ranges(&row.checks));
                }
                text.extend(wrap(&message, room, MESSAGE_INDENT));
                (row.first, [label, check, text.join("\n")])
            })
            .collect();
        Grid { cells, room }
    }

    /// The table as comfy-table lays it out (with colours: [`TableEmitter::plain`] does the
    /// same without them, faster).
    fn table(&self, grid: Grid<'_>) -> Table {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Disabled)
            .force_no_tty();
        if self.options.color {
            table.enforce_styling();
        }
        table.set_header(HEADER);
        for (first, [label, check, text]) in grid.cells {
            table.add_row(vec![
                self.status_cell(first, label),
                Cell::new(check),
                Cell::new(text),
            ]);
        }
        // The last column spans the width even when its texts are short, so every table of a
        // report is as wide as the others.
        if let Some(column) = table.column_mut(2) {
            // The bound includes the cell's padding (one column each side).
            let fixed = u16::try_from(grid.room + 2).unwrap_or(u16::MAX);
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(fixed)));
        }
        table
    }

    /// The lines of the table without colours, each without trailing whitespace: exactly what
    /// [`TableEmitter::table`] lays out with comfy-table's `UTF8_HORIZONTAL_ONLY` preset, no
    /// arrangement, one column of padding each side of a cell, a blank between columns and
    /// the last column at least `room` wide — in a fraction of the time (comfy-table pads,
    /// styles and copies every line of every cell several times; a fleet's table has
    /// thousands).
    fn plain(grid: &Grid<'_>, out: &mut dyn io::Write) -> io::Result<()> {
        use unicode_width::UnicodeWidthStr;
        // As comfy-table measures: display width, capped at u16, at least 1.
        let measure = |line: &str| line.width().min(usize::from(u16::MAX));
        let header: Vec<Vec<&str>> = HEADER.iter().map(|h| h.split('\n').collect()).collect();
        let rows: Vec<Vec<Vec<&str>>> = grid
            .cells
            .iter()
            .map(|(_, cells)| cells.iter().map(|c| c.split('\n').collect()).collect())
            .collect();
        let mut widths = [1usize; 3];
        for row in std::iter::once(&header).chain(&rows) {
            for (width, lines) in widths.iter_mut().zip(row) {
                for line in lines {
                    *width = (*width).max(measure(line));
                }
            }
        }
        // The lower boundary of the last column, padding included (comfy-table's
        // `LowerBoundary(Fixed(room + 2))`).
        let fixed = usize::from(u16::try_from(grid.room + 2).unwrap_or(u16::MAX));
        if widths[2] + 2 <= fixed {
            widths[2] = fixed.saturating_sub(2).max(1);
        }
        let total: usize = widths.iter().map(|w| w + 2).sum::<usize>() + 2;
        let rule = "─".repeat(total);
        let mut line = String::with_capacity(total * 2);
        let mut emit_row = |cells: &[Vec<&str>], out: &mut dyn io::Write| -> io::Result<()> {
            let height = cells.iter().map(Vec::len).max().unwrap_or(0);
            for at in 0..height {
                line.clear();
                for (column, (lines, width)) in cells.iter().zip(widths).enumerate() {
                    if column > 0 {
                        line.push(' ');
                    }
                    match lines.get(at) {
                        Some(text) => {
                            line.push(' ');
                            line.push_str(text);
                            let pad = width.saturating_sub(measure(text)) + 1;
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                        None => line.extend(std::iter::repeat_n(' ', width + 2)),
                    }
                }
                writeln!(out, "{}", line.trim_end())?;
            }
            Ok(())
        };
        writeln!(out, "{rule}")?;
        emit_row(&header, out)?;
        writeln!(out, "{}", "═".repeat(total))?;
        for (at, row) in rows.iter().enumerate() {
            if at > 0 {
                writeln!(out, "{rule}")?;
            }
            emit_row(row, out)?;
        }
        writeln!(out, "{rule}")
    }

    /// Writes one table: [`TableEmitter::plain`], or comfy-table when there are colours.
    fn write_table(&self, findings: &[&Finding], out: &mut dyn io::Write) -> io::Result<()> {
        let grid = self.grid(findings);
        if !self.options.color {
            return Self::plain(&grid, out);
        }
        for line in self.table(grid).lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    fn status_cell(&self, finding: &Finding, label: String) -> Cell {
        let cell = Cell::new(label).set_alignment(CellAlignment::Left);
        if !self.options.color {
            return cell;
        }
        if finding.suppressed.is_some() {
            return cell.add_attribute(comfy_table::Attribute::Dim);
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
        // One item per distinct remediation: the checks that give it (each named once) and the
        // resources it applies to.
        let mut items: Vec<(Vec<&Finding>, Vec<String>)> = Vec::new();
        for finding in findings {
            if !matches!(finding.status, Status::Fail | Status::Inconclusive)
                || finding.suppressed.is_some()
                || finding.remediation.trim().is_empty()
            {
                continue;
            }
            let resource = clean(&fix_target(&finding.resource_id));
            match items
                .iter_mut()
                .find(|(checks, _)| checks[0].remediation == finding.remediation)
            {
                Some((checks, resources)) => {
                    if !checks.iter().any(|c| c.check_id == finding.check_id) {
                        checks.push(finding);
                    }
                    if !resources.contains(&resource) {
                        resources.push(resource);
                    }
                }
                None => items.push((vec![finding], vec![resource])),
            }
        }
        let width = self.width();
        let mut lines = Vec::new();
        if items.is_empty() {
            return lines;
        }
        lines.push(String::new());
        lines.push(self.bold("How to fix"));
        for (checks, resources) in items {
            lines.push(String::new());
            let names: Vec<String> = checks
                .iter()
                .map(|f| format!("{} {}", clean(&f.check_id), clean(&f.check)))
                .collect();
            let title = format!(
                "{} ({}): {}",
                names.join(", "),
                status_label(checks[0], ", "),
                resources.join(", ")
            );
            lines.extend(wrap(&title, width, ""));
            // One paragraph: a line break in a remediation can only come from Azure text in
            // it (a display name), which must not forge a line of its own (see
            // [`strip_controls`]); commands still get lines of their own.
            lines.extend(wrap_with_commands(
                &clean(&checks[0].remediation),
                width,
                "  ",
            ));
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
                Some((id, group)) if *id == &*finding.subscription_id => group.push(finding),
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
            let heading = format!("Subscription {}", clean(subscription));
            for line in wrap(&heading, width, "") {
                writeln!(out, "{}", self.bold(&line))?;
            }
            let groups = by_program(findings);
            for (program, group) in &groups {
                if let Some(program) = program {
                    writeln!(out)?;
                    for line in wrap(&program_heading(program), width, "") {
                        writeln!(out, "{}", self.bold(&line))?;
                    }
                }
                self.write_table(group, out)?;
            }
            // In the order shown: by program.
            let in_order: Vec<&Finding> = groups.into_iter().flat_map(|(_, g)| g).collect();
            for line in self.how_to_fix(&in_order) {
                writeln!(out, "{line}")?;
            }
        }
        writeln!(out)?;
        // What became of each suppression: those that expired or matched nothing are worth a
        // look, and those applied say why findings are dimmed.
        for outcome in &report.suppressions {
            let label = match outcome.status {
                SuppressionStatus::Applied => "note",
                SuppressionStatus::Expired | SuppressionStatus::Unmatched => "warning",
            };
            for line in wrap(
                &clean(&format!("{label}: {}", outcome.describe())),
                width,
                "",
            ) {
                writeln!(out, "{line}")?;
            }
        }
        // Never wrapped: a script reading the last line gets all of it.
        writeln!(out, "{}", report.summary)
    }
}

/// One subscription's findings by ESU program, each group in the findings' order: first those of
/// no program (subscription-wide: providers, permissions, policy), then each program in the
/// order of the program table, then programs the table does not know, by id.
fn by_program<'a>(findings: &[&'a Finding]) -> Vec<(Option<&'a str>, Vec<&'a Finding>)> {
    let rank = |program: Option<&str>| match program {
        None => (0, None),
        Some(id) => match crate::programs::PROGRAMS
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(id))
        {
            Some(at) => (1 + at, None),
            None => (usize::MAX, Some(id.to_owned())),
        },
    };
    let mut groups: Vec<(Option<&'a str>, Vec<&'a Finding>)> = Vec::new();
    for &finding in findings {
        let program = finding.program.as_deref();
        match groups.iter_mut().find(|(p, _)| rank(*p) == rank(program)) {
            Some((_, group)) => group.push(finding),
            None => groups.push((program, vec![finding])),
        }
    }
    groups.sort_by_key(|(program, _)| rank(*program));
    groups
}

/// The heading of a program's findings: its name in the program table (`Windows Server 2016`),
/// or the id as given.
fn program_heading(program: &str) -> String {
    match crate::programs::by_id(program) {
        Some(known) => known.name.to_owned(),
        None => format!("ESU program {}", clean(program)),
    }
}

/// `text` without control characters, owned.
fn clean(text: &str) -> String {
    strip_controls(text).into_owned()
}

/// The status as shown: `fail` for an error; for a failure of lower severity the status and
/// the severity, joined by `separator` (`fail\n(warning)` in the table, `fail, warning` in
/// "How to fix").
fn status_label(finding: &Finding, separator: &str) -> String {
    let label = status_severity_label(finding, separator);
    if finding.suppressed.is_some() {
        if separator == "\n" {
            format!("{label}\n(suppressed)")
        } else {
            format!("{label}{separator}suppressed")
        }
    } else {
        label
    }
}

/// [`status_label`] without the suppression mark.
fn status_severity_label(finding: &Finding, separator: &str) -> String {
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

/// `message` with the ARM IDs of things in `subscription` shortened for the table, whose heading
/// already names the subscription: `/subscriptions/ID` becomes `this subscription`, a resource
/// group `resource group NAME`, anything else its [`short_resource`] name. The full IDs stay in
/// the JSON, the evidence and the remediation ("How to fix"); IDs in other subscriptions, and
/// actions such as `Microsoft.Resources/subscriptions/providers/read`, are left whole.
fn shorten_ids(message: &str, subscription: &str) -> String {
    const PREFIX: &str = "/subscriptions/";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(PREFIX) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        // Only an ID that starts a word: not the middle of an action or a URL.
        let starts_word = before
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || "('\"[".contains(c));
        let len = from
            .find(|c: char| c.is_whitespace() || "'\"()[],;".contains(c))
            .unwrap_or(from.len());
        let id = from[..len].trim_end_matches(['.', ':']);
        let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
        let ours = starts_word
            && segments
                .get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case(subscription));
        let short = match segments.as_slice() {
            _ if !ours => None,
            [_, _] => Some("this subscription".to_owned()),
            [_, _, groups, group] if groups.eq_ignore_ascii_case("resourceGroups") => {
                Some(format!("resource group {group}"))
            }
            _ => Some(short_resource(id)),
        };
        match short {
            Some(short) => {
                out.push_str(&short);
                rest = &from[id.len()..];
            }
            None => {
                out.push_str(PREFIX);
                rest = &from[PREFIX.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// How "How to fix" names a resource: by its [`short_resource`] name when that says all (the
/// subscription, a provider's namespace, a resource group), else by its full ID, which names the
/// resource group too and can be pasted into a command (`--ids`).
fn fix_target(resource_id: &str) -> String {
    let segments: Vec<&str> = resource_id.split('/').filter(|s| !s.is_empty()).collect();
    let subscription_based = segments
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"));
    if subscription_based && segments.len() > 4 {
        resource_id.to_owned()
    } else {
        short_resource(resource_id)
    }
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

    /// Every line fits, or what overflows is one unit [`wrap`] must not break (a command, an
    /// ID), alone in its cell or on its line.
    fn assert_fits_or_unbreakable(text: &str, width: usize) {
        for line in text.lines() {
            if line.chars().count() <= width {
                continue;
            }
            let last = line.split("   ").last().unwrap().trim();
            let command = ["az ", "esu-preflight "]
                .iter()
                .any(|program| line.trim_start().starts_with(program))
                && line.starts_with("      ");
            assert!(
                command
                    || !last.contains(' ')
                    || (last.starts_with('`') && last.matches('`').count() == 2),
                "{} chars > {width} and breakable: {line:?}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn table_report() {
        let text = render(&testdata::report(), RenderOptions::default());
        assert_fits_or_unbreakable(&text, 80);
        insta::assert_snapshot!(text);
    }

    /// Every table of `report` as comfy-table lays it out, with the same line endings the
    /// emitter writes.
    fn comfy_tables(report: &Report, options: RenderOptions) -> Vec<String> {
        let emitter = TableEmitter::new(options);
        let mut out = Vec::new();
        let mut groups: Vec<(&str, Vec<&Finding>)> = Vec::new();
        for finding in &report.findings {
            match groups.last_mut() {
                Some((id, group)) if *id == &*finding.subscription_id => group.push(finding),
                _ => groups.push((&finding.subscription_id, vec![finding])),
            }
        }
        for (_, findings) in groups {
            for (_, group) in by_program(&findings) {
                let mut text = String::new();
                for line in emitter.table(emitter.grid(&group)).lines() {
                    text.push_str(line.trim_end());
                    text.push('\n');
                }
                let mut plain = Vec::new();
                TableEmitter::plain(&emitter.grid(&group), &mut plain).unwrap();
                out.push((text, String::from_utf8(plain).unwrap()));
            }
        }
        out.into_iter()
            .map(|(comfy, plain)| {
                assert_eq!(plain, comfy, "the plain table differs from comfy-table's");
                comfy
            })
            .collect()
    }

    #[test]
    fn the_plain_table_is_what_comfy_table_lays_out() {
        let mut wide = testdata::report();
        // Wide characters, combining marks and a cell wider than the room.
        for (at, finding) in wide.findings.iter_mut().enumerate() {
            match at % 4 {
                0 => finding.message = format!("日本語のメッセージ {}", finding.message),
                1 => finding.message = format!("e\u{301}te\u{301} 🎉 {}", finding.message),
                2 => {
                    finding.resource_id =
                        format!("{}/{}", finding.resource_id, "y".repeat(120)).into()
                }
                _ => {}
            }
        }
        let mut empty = testdata::report();
        empty.findings.truncate(1);
        for report in [
            testdata::report(),
            testdata::long_report(),
            testdata::hostile_report(),
            testdata::suppressed_report(),
            wide,
            empty,
        ] {
            for width in [0, 40, 60, 80, 200] {
                let tables = comfy_tables(
                    &report,
                    RenderOptions {
                        color: false,
                        width,
                    },
                );
                assert!(!tables.is_empty());
            }
        }
    }

    #[test]
    fn every_table_spans_the_width() {
        let mut report = testdata::report();
        // Short messages only: the tables must still be as wide as the terminal. (From 60
        // columns on, where the longest namespace fits beside "inconclusive".)
        for finding in &mut report.findings {
            finding.message = "short".into();
        }
        for width in [60, 80, 120] {
            let text = render(
                &report,
                RenderOptions {
                    color: false,
                    width,
                },
            );
            let rules: Vec<&str> = text
                .lines()
                .filter(|line| line.starts_with(['─', '═']))
                .collect();
            assert!(!rules.is_empty());
            for rule in rules {
                assert_eq!(rule.chars().count(), usize::from(width), "{text}");
            }
        }
    }

    #[test]
    fn skipped_rows_with_one_reason_are_one_row_across_checks() {
        assert_eq!(
            check_ranges(&["ESU502", "ESU101", "ESU501", "ESU503", "ESU102", "ESU601"]),
            "ESU101–ESU102, ESU501–ESU503, ESU601"
        );
        let text = render(&testdata::report(), RenderOptions::default());
        // One row per subscription: the unusable one's (every check, ESU701–ESU702 included),
        // and the MAK checks' on each of the two others (no Windows Server 2008 there).
        let skipped_rows = text.lines().filter(|l| l.starts_with(" skipped")).count();
        assert_eq!(skipped_rows, 3, "{text}");
        assert!(
            text.contains("ESU501–ESU506,") && text.contains("ESU701–ESU702: subscription"),
            "{text}"
        );
    }

    #[test]
    fn azure_text_cannot_forge_runner_commands() {
        let report = testdata::hostile_report();
        for width in [40, 80, 200] {
            let text = render(
                &report,
                RenderOptions {
                    color: false,
                    width,
                },
            );
            for line in text.lines() {
                assert!(!testdata::is_runner_command(line), "{width}: {line:?}");
            }
            // Our own layout still holds: the command stands on its own line.
            assert!(
                text.lines()
                    .any(|l| l.starts_with("      az account set --subscription")),
                "{text}"
            );
        }
        insta::assert_snapshot!(render(&report, RenderOptions::default()));
    }

    #[test]
    fn the_summary_line_is_never_wrapped() {
        let mut report = testdata::report();
        report.summary.suppressed = 12;
        report.summary.skipped = 1234;
        let text = render(
            &report,
            RenderOptions {
                color: false,
                width: 40,
            },
        );
        let last = text.lines().last().unwrap();
        assert_eq!(last, report.summary.to_string());
        assert!(last.chars().count() > 40 && last.ends_with(", 12 suppressed"));
    }

    #[test]
    fn table_ends_with_the_summary() {
        let report = testdata::report();
        let text = render(&report, RenderOptions::default());
        // The missing subscription skips the checks with something to report on, so the skipped
        // count grows with the checklist.
        let last = text.lines().last().unwrap();
        assert_eq!(last, report.summary.to_string());
        assert!(
            last.starts_with("21 passed, 4 failed (3 errors, 1 warning), 8 inconclusive, "),
            "{last}"
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
            // The summary line is never wrapped (see the_summary_line_is_never_wrapped).
            let (body, _summary) = text.trim_end().rsplit_once('\n').unwrap();
            assert_fits_or_unbreakable(body, usize::from(width.max(MIN_WIDTH)));
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
        assert_fits_or_unbreakable(&plain, 80);
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
    fn commands_stand_whole_on_one_line() {
        let text = render(&testdata::report(), RenderOptions::default());
        let sub = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";
        for command in [
            format!("az provider register --namespace Microsoft.Sql --subscription {sub}"),
            format!("esu-preflight fix providers --subscription {sub} --yes"),
            "az account list --all --output table".to_owned(),
        ] {
            assert!(
                text.lines().any(|line| line.trim() == command),
                "{command:?} does not stand whole on its own line:\n{text}"
            );
        }
        // Every backtick on a line is paired on that line: no command is split.
        for line in text.lines() {
            assert_eq!(line.matches('`').count() % 2, 0, "{line:?}");
        }
        // IDs and actions are never cut, whatever the width.
        for width in [40, 60, 80, 100] {
            let text = render(
                &testdata::report(),
                RenderOptions {
                    color: false,
                    width,
                },
            );
            for token in [
                "Microsoft.Resources/subscriptions/providers/read",
                "/subscriptions/11111111-1111-1111-1111-111111111111",
                "Microsoft.OperationalInsights",
                "Microsoft.Sql/register/action",
            ] {
                let pieces = text.matches(token).count();
                assert!(pieces > 0, "{token} cut at width {width}:\n{text}");
            }
            for line in text.lines() {
                assert_eq!(line.matches('`').count() % 2, 0, "{width}: {line:?}");
            }
        }
    }

    #[test]
    fn identical_reasons_are_one_row() {
        let report = testdata::report();
        let text = render(&report, RenderOptions::default());
        let reason = "could not read the subscription's resource";
        // ESU101 for seven providers and ESU102: two rows, each with the reason once.
        assert_eq!(text.matches(reason).count(), 2, "{text}");
        let inconclusive_rows = text
            .lines()
            .filter(|line| line.starts_with(" inconclusive"))
            .count();
        assert_eq!(inconclusive_rows, 2, "{text}");
        // Every provider is still named, and JSON keeps one finding each.
        for namespace in [
            "Microsoft.Compute",
            "Microsoft.Storage",
            "Microsoft.Security",
        ] {
            assert!(text.contains(namespace));
        }
        assert_eq!(report.summary.inconclusive, 8);
    }

    #[test]
    fn different_messages_are_not_grouped() {
        let mut report = testdata::long_report();
        for (index, finding) in report.findings.iter_mut().enumerate() {
            finding.status = Status::Fail;
            finding.severity = Severity::Error;
            finding.message = if index == 0 {
                "one".into()
            } else {
                "same".into()
            };
        }
        let text = render(&report, RenderOptions::default());
        let rows = text.lines().filter(|l| l.starts_with(" fail")).count();
        assert_eq!(rows, 2, "{text}");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut report = testdata::long_report();
        let evil = "a\u{1b}[31mred\u{1b}[0m b\u{7}c\rd\u{9b}2Je\u{202e}fdp.exe\u{85}g";
        for finding in &mut report.findings {
            finding.message = format!("message {evil}");
            finding.remediation = format!("remediation {evil}\nsecond {evil}");
            finding.check = format!("check{evil}").into();
            finding.check_id = format!("ESU{evil}").into();
            finding.resource_id = format!("/subscriptions/s/providers/Microsoft.{evil}").into();
            finding.subscription_id = format!("sub{evil}").into();
        }
        let text = render(&report, RenderOptions::default());
        for c in text.chars() {
            assert!(
                c == '\n' || !super::super::text::tests_support::dangerous(c),
                "{c:?} in output:\n{text}"
            );
        }
        // The visible text is kept.
        for visible in [
            "a[31mred[0m",
            "d2Jefdp.exe",
            "Subscription suba[31mred[0m",
            "second a[31mred[0m bc d2Jefdp.exe g",
        ] {
            assert!(text.contains(visible), "{visible:?} not in:\n{text}");
        }
    }

    #[test]
    fn ids_in_messages_are_shortened_in_their_subscription() {
        let sub = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";
        let cases = [
            (
                format!(
                    "lacks Microsoft.Resources/subscriptions/providers/read on /subscriptions/{sub}"
                ),
                "lacks Microsoft.Resources/subscriptions/providers/read on this subscription"
                    .to_owned(),
            ),
            (
                format!("on /subscriptions/{}.", sub.to_uppercase()),
                "on this subscription.".to_owned(),
            ),
            (
                format!("group '/subscriptions/{sub}/resourceGroups/rg-arc' is missing"),
                "group 'resource group rg-arc' is missing".to_owned(),
            ),
            (
                format!(
                    "machine /subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/srv-01: down"
                ),
                "machine machines/srv-01: down".to_owned(),
            ),
            (
                format!("provider (/subscriptions/{sub}/providers/Microsoft.Sql)"),
                "provider (Microsoft.Sql)".to_owned(),
            ),
            // Another subscription, or not an ID that starts a word: whole.
            (
                "on /subscriptions/other and https://x/subscriptions/".to_owned() + sub,
                "on /subscriptions/other and https://x/subscriptions/".to_owned() + sub,
            ),
            ("no id here".to_owned(), "no id here".to_owned()),
        ];
        for (message, expected) in cases {
            assert_eq!(shorten_ids(&message, sub), expected, "{message}");
        }
    }

    #[test]
    fn how_to_fix_names_resources_below_a_group_by_full_id() {
        let sub = "/subscriptions/0000";
        let machine = format!(
            "{sub}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/srv-01"
        );
        assert_eq!(fix_target(&machine), machine);
        assert_eq!(fix_target(sub), "subscription");
        assert_eq!(
            fix_target(&format!("{sub}/providers/Microsoft.Sql")),
            "Microsoft.Sql"
        );
        assert_eq!(fix_target(&format!("{sub}/resourceGroups/rg")), "rg");

        let mut report = testdata::long_report();
        report.findings.truncate(1);
        report.findings[0].resource_id = machine.clone().into();
        report.findings[0].message = "agent too old".into();
        let text = render(&report, RenderOptions::default());
        let (table, fixes) = text.split_once("How to fix").unwrap();
        assert!(
            table.contains("machines/srv-01") && !table.contains(&machine),
            "{text}"
        );
        assert!(fixes.lines().any(|line| line == machine), "{text}");
    }

    #[test]
    fn findings_are_grouped_by_program_within_a_subscription() {
        let report = testdata::long_report();
        let template = report.findings[0].clone();
        let finding = |program: Option<&str>, check_id: &str, resource: &str, message: &str| {
            let mut f = template.clone();
            f.program = program.map(|p| p.to_owned().into());
            f.check_id = check_id.to_owned().into();
            f.check = "some-check".into();
            f.resource_id = format!(
                "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.HybridCompute/{resource}",
                testkit_sub()
            )
            .into();
            f.message = message.into();
            f.remediation = format!("fix {resource}");
            f
        };
        let findings = vec![
            finding(
                Some("ws2016"),
                "ESU502",
                "machines/srv-16",
                "agent 1.61 is below 1.62",
            ),
            finding(None, "ESU101", "x", "provider not registered"),
            finding(
                Some("ws2012"),
                "ESU502",
                "machines/srv-12",
                "agent 1.30 is below 1.34",
            ),
            finding(
                Some("ws2099"),
                "ESU501",
                "machines/srv-99",
                "from a newer table",
            ),
            finding(
                Some("ws2012"),
                "ESU401",
                "licenses/esu-12",
                "8 cores is below 16",
            ),
        ];
        let mut report = Report::new(
            report.scope.clone(),
            findings,
            crate::report::Gate::default(),
        );
        report.tool.version = testdata::TEST_VERSION.to_owned();
        let text = render(&report, RenderOptions::default());
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing in\n{text}"))
        };
        assert!(at("provider not registered") < at("Windows Server 2012 / 2012 R2"));
        assert!(at("Windows Server 2012 / 2012 R2") < at("agent 1.30"));
        assert!(at("8 cores is below 16") < at("Windows Server 2016"));
        assert!(at("agent 1.30") < at("Windows Server 2016"));
        assert!(at("Windows Server 2016") < at("agent 1.61"));
        assert!(at("agent 1.61") < at("ESU program ws2099"));
        assert!(at("ESU program ws2099") < at("from a newer table"));
        assert!(at("from a newer table") < at("How to fix"));
        insta::assert_snapshot!(text);

        // Without any program, the table is as before: no program headings.
        let plain = render(&testdata::report(), RenderOptions::default());
        assert!(!plain.contains("Windows Server 2012 / 2012 R2"), "{plain}");
    }

    fn testkit_sub() -> &'static str {
        crate::checks::testkit::SUB
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
