//! The JSON report: the public contract (`schema_version`, `tool`, `scope`, `summary`,
//! `findings`).

use super::Emitter;
use crate::report::Report;
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use std::io;

/// Writes the [`Report`] as pretty-printed JSON followed by a newline.
///
/// Safe to `cat` on a terminal: besides the C0 controls JSON always escapes, DEL, the C1
/// controls (U+0080–U+009F, which some terminals obey: U+009B is CSI) and the characters that
/// [`strip_controls`](super::strip_controls) removes for their effect on display (bidi
/// overrides, isolates and marks, line and paragraph separators) are written as `\uXXXX`
/// escapes. The JSON value is the same; only its spelling differs.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEmitter;

impl Emitter for JsonEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        write_terminal_safe(report, out)
    }
}

/// Writes `value` as pretty-printed JSON, a newline after it, escaping what a terminal could
/// act on (see [`JsonEmitter`]). Shared by the emitters whose format is JSON (SARIF).
pub(super) fn write_terminal_safe(
    value: &impl Serialize,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    // serde_json writes in small pieces (a quote, a colon, an indent): buffered here, so they
    // neither go one by one through `dyn Write` nor, on a line-buffered standard output, make a
    // write per line of a large report.
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, TerminalSafe::default());
    value.serialize(&mut serializer)?;
    io::Write::write_all(&mut out, b"\n")?;
    out.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok(())
}

/// serde_json's pretty formatter, escaping what a terminal could act on (see [`JsonEmitter`]).
#[derive(Default)]
struct TerminalSafe(PrettyFormatter<'static>);

impl TerminalSafe {
    fn escapes(c: char) -> bool {
        c.is_control() || super::text::affects_display(c)
    }
}

impl Formatter for TerminalSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        // Printable ASCII, nearly every fragment, goes out as it is.
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if Self::escapes(c) {
                writer.write_all(&fragment.as_bytes()[start..at])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testdata;

    fn json(report: &Report) -> String {
        let mut out = Vec::new();
        JsonEmitter.emit(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_report() {
        let text = json(&testdata::report());
        assert!(text.ends_with("}\n"));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn json_round_trips_and_has_the_contract_fields() {
        let report = testdata::report();
        let text = json(&report);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in ["schema_version", "tool", "scope", "summary", "findings"] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        assert_eq!(value["schema_version"], 1);
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn what_a_terminal_obeys_is_escaped_and_the_value_kept() {
        let mut report = testdata::long_report();
        let evil = "a\u{1b}[31m b\u{7f} c\u{9b}2J d\u{202e}e\u{2066}f\u{2028}g\u{200f} é 日本";
        report.findings[0].message = evil.to_owned();
        report.findings[0].evidence = serde_json::json!({ format!("key{evil}"): evil }).into();
        let text = json(&report);
        for c in text.chars() {
            assert!(
                c == '\n' || !(c.is_control() || "\u{202e}\u{2066}\u{2028}\u{200f}".contains(c)),
                "{c:?} written raw"
            );
        }
        assert!(
            text.contains(r"a\u001b[31m b\u007f c\u009b2J d\u202ee\u2066f\u2028g\u200f é 日本")
        );
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}
