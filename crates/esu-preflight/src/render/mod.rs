//! Emitters: one per output format, each writing a report to any `io::Write`.
//!
//! Formats: a table for people ([`TableEmitter`]), the JSON report ([`JsonEmitter`]), and for CI
//! SARIF 2.1.0 ([`SarifEmitter`]), JUnit XML ([`JunitEmitter`]), Markdown ([`MarkdownEmitter`]),
//! GitHub Actions workflow commands ([`GithubEmitter`]) and CSV ([`CsvEmitter`]).
//!
//! Every format implements [`Emitter`]; [`render`] picks one by [`Format`]. Output is
//! deterministic (findings are already sorted in the [`Report`]; no timestamps) and never
//! coloured unless [`RenderOptions::color`] says so — deciding that (a terminal, no `NO_COLOR`)
//! is the caller's job, not the library's.
//!
//! Human-readable emitters print text that comes from Azure or a snapshot file (display names,
//! error messages) only through [`strip_controls`], so it cannot drive the terminal, and wrap it
//! with [`wrap`], which never breaks a command, an ID, an action or a URL across lines.
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

mod csv;
mod github;
mod json;
mod junit;
mod markdown;
mod sarif;
mod table;
mod text;

pub use self::csv::CsvEmitter;
pub use github::{GithubEmitter, escape_data, escape_property};
pub use json::JsonEmitter;
pub use junit::JunitEmitter;
pub use markdown::MarkdownEmitter;
pub use sarif::{RUN_FAILED_RULE, SARIF_SCHEMA, SarifEmitter};
pub use table::TableEmitter;
pub use text::{defuse_commands, strip_controls, wrap, wrap_paragraphs, wrap_with_commands};

use crate::report::Report;
use std::fmt;
use std::io;
use std::str::FromStr;

/// An output format.
///
/// `#[non_exhaustive]`: more may come, and adding one must not break an embedder's `match`.
/// List them with [`Format::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A table for people at a terminal, with the fixes after it (the default).
    #[default]
    Table,
    /// The JSON report: the public, versioned contract for other tools.
    Json,
    /// SARIF 2.1.0 for GitHub code scanning and other SARIF viewers ([`SarifEmitter`]).
    Sarif,
    /// JUnit XML for test-result views (Azure DevOps, GitLab, Jenkins) ([`JunitEmitter`]).
    Junit,
    /// GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY` and PR comments
    /// ([`MarkdownEmitter`]).
    Markdown,
    /// GitHub Actions workflow commands (`::error …`), shown as annotations ([`GithubEmitter`]).
    Github,
    /// CSV for spreadsheets: one row per finding ([`CsvEmitter`]).
    Csv,
}

impl Format {
    /// Every format, in the order `--help` lists them. (Its length grows with new formats: use
    /// it as a slice or with `map`, never as `[Format; 2]`.)
    pub const ALL: [Format; 7] = [
        Format::Table,
        Format::Json,
        Format::Sarif,
        Format::Junit,
        Format::Markdown,
        Format::Github,
        Format::Csv,
    ];

    /// The name used on the command line and in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Sarif => "sarif",
            Self::Junit => "junit",
            Self::Markdown => "markdown",
            Self::Github => "github",
            Self::Csv => "csv",
        }
    }

    /// The names of every format, e.g. for a CLI's possible values.
    pub fn all_names() -> &'static [&'static str] {
        &[
            "table", "json", "sarif", "junit", "markdown", "github", "csv",
        ]
    }

    /// The usual file extension of the format (without the dot), e.g. `sarif`, `xml`, `md`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Table | Self::Github => "txt",
            Self::Json => "json",
            Self::Sarif => "sarif",
            Self::Junit => "xml",
            Self::Markdown => "md",
            Self::Csv => "csv",
        }
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
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// How to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Whether to colour the output with ANSI escapes. `false` guarantees there are none.
    pub color: bool,
    /// The terminal's width in columns: the caller passes it, 80 when the output is not a
    /// terminal (the default). Prose wraps to it (values below 40 are treated as 40); a command,
    /// resource ID, action or URL longer than a line stands whole on its own line and overflows
    /// rather than break, so it can be pasted (see [`wrap`]).
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
///
/// Every format writes a report of a failed run ([`Report::error`]) too, saying so, so a file
/// a CI step uploads never passes for a green result: JSON keeps the `error` member, SARIF says
/// `executionSuccessful: false`, JUnit has one failing test case, and the others lead with it.
pub fn render(
    report: &Report,
    format: Format,
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    match format {
        Format::Table => TableEmitter::new(options.clone()).emit(report, out),
        Format::Json => JsonEmitter.emit(report, out),
        Format::Sarif => SarifEmitter.emit(report, out),
        Format::Junit => JunitEmitter.emit(report, out),
        Format::Markdown => MarkdownEmitter.emit(report, out),
        Format::Github => GithubEmitter.emit(report, out),
        Format::Csv => CsvEmitter.emit(report, out),
    }
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        assert_eq!(
            Format::ALL.map(Format::as_str).as_slice(),
            Format::all_names()
        );
        assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown format \"xml\": expected one of table, json, sarif, junit, markdown, \
             github, csv"
        );
    }
}
