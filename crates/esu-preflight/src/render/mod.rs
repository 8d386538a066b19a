//! Emitters: one per output format, each writing a report to any `io::Write`.
//!
//! Every format implements [`Emitter`]; [`render`] picks one by [`Format`]. Output is
//! deterministic (findings are already sorted in the [`Report`]; no timestamps) and never
//! coloured unless [`RenderOptions::color`] says so — deciding that (a terminal, no `NO_COLOR`)
//! is the caller's job, not the library's.
//!
//! ```
//! use esu_preflight::render::{self, Format, RenderOptions};
//! use esu_preflight::report::{Gate, Report};
//! use esu_preflight::snapshot::Scope;
//!
//! let report = Report::new(Scope::default(), Vec::new(), Gate::default());
//! let mut out = Vec::new();
//! render::render(&report, "table".parse().unwrap(), &RenderOptions::default(), &mut out).unwrap();
//! assert!(String::from_utf8(out).unwrap().ends_with("0 passed, 0 failed, 0 inconclusive, 0 skipped\n"));
//! ```

mod json;
mod table;

pub use json::JsonEmitter;
pub use table::TableEmitter;

use crate::report::Report;
use std::fmt;
use std::io;
use std::str::FromStr;

/// An output format.
///
/// `#[non_exhaustive]`: more are coming (sarif, junit, markdown, github, csv), and adding one
/// must not break an embedder's `match`. List them with [`Format::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A table for people at a terminal, with the fixes after it (the default).
    #[default]
    Table,
    /// The JSON report: the public, versioned contract for other tools.
    Json,
}

impl Format {
    /// Every format, in the order `--help` lists them. (A slice, not an array, so that adding a
    /// format does not change its type.)
    pub const ALL: &'static [Format] = &[Format::Table, Format::Json];

    /// The name used on the command line and in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
        }
    }

    /// The names of every format, e.g. for a CLI's possible values.
    pub fn all_names() -> &'static [&'static str] {
        &["table", "json"]
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a format name that is not one of [`Format::all_names`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: expected one of {names}", names = Format::all_names().join(", "))]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Parses a format name, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|format| format.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// How to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Whether to colour the output with ANSI escapes. `false` guarantees there are none.
    pub color: bool,
    /// The width the table output must fit in, in columns (default 80; values below 40 are
    /// treated as 40).
    pub width: u16,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            color: false,
            width: 80,
        }
    }
}

/// Writes a report in one format.
pub trait Emitter {
    /// Writes `report` to `out`.
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()>;
}

/// Writes `report` to `out` as `format`.
pub fn render(
    report: &Report,
    format: Format,
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    match format {
        Format::Table => TableEmitter::new(options.clone()).emit(report, out),
        Format::Json => JsonEmitter.emit(report, out),
    }
}

/// Wraps `text` into lines of at most `width` characters, each starting with `indent`, breaking
/// at spaces and splitting words longer than a line.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let room = width.saturating_sub(indent.chars().count()).max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let needed = if len == 0 {
                word.len()
            } else {
                len + 1 + word.len()
            };
            if needed <= room {
                if len > 0 {
                    line.push(' ');
                }
                line.extend(word.iter());
                len = needed;
                break;
            }
            if len > 0 {
                lines.push(format!("{indent}{line}"));
                line.clear();
                len = 0;
                continue;
            }
            // A word longer than a whole line: cut it.
            let rest = word.split_off(room);
            lines.push(format!("{indent}{}", word.iter().collect::<String>()));
            word = rest;
        }
    }
    if len > 0 {
        lines.push(format!("{indent}{line}"));
    } else if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Wraps every line of `text` to `width` characters (see [`wrap`]), keeping empty lines: for
/// prose such as [`CheckInfo::render_docs`](crate::checks::CheckInfo::render_docs) on a terminal.
pub fn wrap_paragraphs(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width.max(1));
    for line in text.lines() {
        for wrapped in wrap(line, width, "") {
            out.push_str(&wrapped);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_wrap_and_keep_blank_lines() {
        let text = "## Heading\none two three four\n\nfive";
        assert_eq!(
            wrap_paragraphs(text, 9),
            "##\nHeading\none two\nthree\nfour\n\nfive\n"
        );
        let docs = crate::checks::find("ESU101").unwrap().render_docs();
        assert!(
            wrap_paragraphs(&docs, 80)
                .lines()
                .all(|l| l.chars().count() <= 80)
        );
    }

    #[test]
    fn format_names_round_trip() {
        for &format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        assert_eq!(
            Format::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            Format::all_names()
        );
        assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown format \"xml\": expected one of table, json"
        );
    }
}
