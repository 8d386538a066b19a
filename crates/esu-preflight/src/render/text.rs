//! Text for people: wrapping that never breaks what a user pastes, and stripping what a terminal
//! would obey.

use std::borrow::Cow;

/// Wraps `text` into lines of at most `width` characters, each starting with `indent`, breaking
/// only at spaces.
///
/// Paste-safe: a word is never split, so a resource ID (`/subscriptions/…`), an action
/// (`Microsoft.Sql/register/action`), a URL or a GUID always stands whole on one line. A span in
/// backticks (`` `az provider register --namespace Microsoft.Sql` ``) is one unit, spaces and
/// all, together with any punctuation touching it. A unit that does not fit on the current line
/// starts the next one; a unit longer than a whole line stands alone on its line and overflows
/// the width rather than break. Runs of whitespace outside backticks are one space.
///
/// ```
/// use esu_preflight::render::wrap;
///
/// let text = "register it: `az provider register --namespace Microsoft.Sql`, then run it again";
/// assert_eq!(
///     wrap(text, 40, "  "),
///     [
///         "  register it:",
///         "  `az provider register --namespace Microsoft.Sql`,",
///         "  then run it again",
///     ]
/// );
/// ```
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let room = width.saturating_sub(indent.chars().count()).max(1);
    let mut lines = Vec::new();
    // The line so far, indent included; `len` counts the characters after the indent.
    let mut line = String::from(indent);
    let mut len = 0;
    for unit in units(text) {
        let unit_len = unit.chars().count();
        if len > 0 && len + 1 + unit_len > room {
            lines.push(std::mem::replace(&mut line, String::from(indent)));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        line.push_str(&unit);
        len += unit_len;
    }
    if len > 0 {
        lines.push(line);
    } else if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Splits `text` into the units [`wrap`] never breaks: words, with backticked spans (and the
/// characters touching them) kept whole. An unpaired backtick is an ordinary character.
fn units(text: &str) -> Vec<std::borrow::Cow<'_, str>> {
    // Without a pair of backticks, the units are the words (most texts: no copy).
    if text.bytes().filter(|&b| b == b'`').nth(1).is_none() {
        return text
            .split_whitespace()
            .map(std::borrow::Cow::Borrowed)
            .collect();
    }
    let chars: Vec<char> = text.chars().collect();
    // Where each backtick's partner is, pairing them left to right.
    let ticks: Vec<usize> = (0..chars.len()).filter(|&i| chars[i] == '`').collect();
    let mut closes = vec![None; chars.len()];
    for pair in ticks.chunks_exact(2) {
        closes[pair[0]] = Some(pair[1]);
    }
    let mut units = Vec::new();
    let mut unit = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(close) = closes[i] {
            for &c in &chars[i..=close] {
                if c.is_whitespace() {
                    // One space for any run: a newline inside a command is not a line break.
                    if !unit.ends_with(' ') {
                        unit.push(' ');
                    }
                } else {
                    unit.push(c);
                }
            }
            i = close + 1;
            continue;
        }
        if c.is_whitespace() {
            if !unit.is_empty() {
                units.push(std::borrow::Cow::Owned(std::mem::take(&mut unit)));
            }
        } else {
            unit.push(c);
        }
        i += 1;
    }
    if !unit.is_empty() {
        units.push(std::borrow::Cow::Owned(unit));
    }
    units
}

/// Wraps every line of `text` to `width` characters (see [`wrap_with_commands`]), keeping empty
/// lines: for prose such as [`CheckInfo::render_docs`](crate::checks::CheckInfo::render_docs) on
/// a terminal. Control characters are stripped from each line (see [`strip_controls`]).
pub fn wrap_paragraphs(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width.max(1));
    for line in text.lines() {
        for wrapped in wrap_with_commands(&strip_controls(line), width, "") {
            out.push_str(&wrapped);
            out.push('\n');
        }
    }
    out
}

/// The extra indent of a command that stands on its own line.
const COMMAND_INDENT: &str = "    ";

/// Like [`wrap`], for text that holds commands: a backticked span with a space in it (a command
/// line, `` `az provider register --namespace Microsoft.Sql` ``) stands alone on its own line,
/// indented four more columns, **without** its backticks and the punctuation touching them —
/// so a triple click copies exactly the command, which a shell would otherwise run backticks
/// of. A parenthesis the command opened and the text after it goes on (`` (`az login`: see
/// ESU201) ``) is reopened after the command line (`(see ESU201)`), so no `(` or `)` is left
/// dangling. The prose around it wraps as usual; a backticked single word stays in the prose,
/// without its backticks.
///
/// ```
/// use esu_preflight::render::wrap_with_commands;
///
/// let text = "register it: `az provider register --namespace Microsoft.Sql`, or use `--yes`";
/// assert_eq!(
///     wrap_with_commands(text, 80, "  "),
///     [
///         "  register it:",
///         "      az provider register --namespace Microsoft.Sql",
///         "  or use --yes",
///     ]
/// );
/// ```
pub fn wrap_with_commands(text: &str, width: usize, indent: &str) -> Vec<String> {
    let command_indent = format!("{indent}{COMMAND_INDENT}");
    let mut lines = Vec::new();
    let mut prose = String::new();
    let mut rest = text;
    let flush = |prose: &mut String, lines: &mut Vec<String>| {
        let text = prose.trim();
        if !text.is_empty() {
            lines.extend(wrap(text, width, indent));
        }
        prose.clear();
    };
    while let Some(open) = rest.find('`') {
        let Some(close) = rest[open + 1..].find('`').map(|i| open + 1 + i) else {
            break;
        };
        let span = &rest[open + 1..close];
        let before = &rest[..open];
        if span.trim().contains(char::is_whitespace) {
            let before = before.trim_end();
            let opened = before.ends_with('(');
            prose.push_str(before.trim_end_matches('('));
            flush(&mut prose, &mut lines);
            let command: Vec<&str> = span.split_whitespace().collect();
            lines.push(format!("{command_indent}{}", command.join(" ")));
            let after = &rest[close + 1..];
            let inside = after.trim_start_matches([',', ';', ':']).trim_start();
            rest = if !opened || inside.starts_with(')') || inside.is_empty() {
                after.trim_start_matches([',', ';', '.', ')', ':'])
            } else {
                // The parenthesis goes on after the command (`` (`a b`: see X) ``): the prose
                // reopens it, so it stays balanced: `(see X)`.
                prose.push('(');
                inside
            };
        } else {
            prose.push_str(before);
            prose.push_str(span);
            rest = &rest[close + 1..];
        }
    }
    prose.push_str(rest);
    flush(&mut prose, &mut lines);
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Makes text from outside (Azure, a snapshot file) safe to print on a terminal or in a CI
/// log: removes every control character a terminal would act on and defuses the commands a CI
/// runner would obey ([`defuse_commands`]), keeping the visible text.
///
/// - Line breaks, tabs and other whitespace controls (CR, LF, VT, FF, NEL, U+2028, U+2029)
///   become a space (CR LF one space): a carriage return could overwrite what was printed
///   before it, and a line break could forge a line of the report, or a CI runner command.
///   Text from Azure never brings its own line breaks; split text into lines first where
///   lines of your own matter.
/// - Every other C0 or C1 control and DEL is removed: ESC (so `ESC [31m` is left as the harmless
///   text `[31m`), BEL, and the 8-bit CSI U+009B, which some terminals obey as ESC `[`.
/// - Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the
///   invisible direction marks (U+200E, U+200F, U+061C) are removed: they reorder what is shown
///   (an ID or a command could read differently from what it is, the "Trojan Source" trick).
///
/// Returns the text unchanged (borrowed) when there is nothing to strip.
///
/// ```
/// use esu_preflight::render::strip_controls;
///
/// assert_eq!(strip_controls("\u{1b}[31mred\u{7}\r\nline"), "[31mred line");
/// assert_eq!(strip_controls("name\r\n::add-mask::x"), "name :\u{200b}:add-mask::x");
/// assert_eq!(strip_controls("plain"), "plain");
/// ```
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    let stripped = if text.chars().any(needs_stripping) {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if !needs_stripping(c) {
                out.push(c);
            } else if c == '\r' && chars.peek() == Some(&'\n') {
                // CR LF is one line break: one space.
            } else if c.is_whitespace() {
                out.push(' ');
            }
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    };
    match defused(&stripped) {
        Some(defused) => Cow::Owned(defused),
        None => stripped,
    }
}

/// The zero-width space [`defuse_commands`] inserts: invisible, not whitespace (a runner's
/// trimming keeps it), and it breaks the character sequence a runner looks for.
const ZERO_WIDTH_SPACE: char = '\u{200b}';

/// Defuses the commands CI runners read from a job's log, by inserting a zero-width space
/// (U+200B) that does not change what is shown:
///
/// - `##[` and `##vso[` (any case) anywhere in a line: Azure Pipelines logging commands
///   (`##vso[task.setvariable …]`, `##[error]`) and GitHub's old form, which runners obey
///   wherever they occur in a line, become `##\u{200b}[` and `##\u{200b}vso[`;
/// - `::` at the start of a word (not after a letter, digit or `:`): GitHub Actions workflow
///   commands (`::add-mask::`, `::error::`, `::stop-commands::`), which the runner obeys at the
///   start of a line *after trimming its spaces*, becomes `:\u{200b}:`. Any word may start a
///   line once text is wrapped or laid out in a table, so every word start is defused.
///
/// [`strip_controls`] applies it; the table, Markdown, JUnit and CSV outputs pass all text from
/// findings through one or the other. SARIF, JSON and the `github` format (which escapes line
/// breaks itself) keep the text exact.
///
/// ```
/// use esu_preflight::render::defuse_commands;
///
/// assert_eq!(defuse_commands("##vso[task.setvariable x]1"), "##\u{200b}vso[task.setvariable x]1");
/// assert_eq!(defuse_commands("a ##[error]fake"), "a ##\u{200b}[error]fake");
/// assert_eq!(defuse_commands("  ::error::inj"), "  :\u{200b}:error::inj");
/// assert_eq!(defuse_commands("std::io and ## [x]"), "std::io and ## [x]");
/// ```
pub fn defuse_commands(text: &str) -> Cow<'_, str> {
    match defused(text) {
        Some(defused) => Cow::Owned(defused),
        None => Cow::Borrowed(text),
    }
}

/// `text` defused (see [`defuse_commands`]), or `None` when there is nothing to defuse.
fn defused(text: &str) -> Option<String> {
    if !text.contains("##") && !text.contains("::") {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut changed = false;
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let rest = &chars[i + 1..];
        let defuse = match c {
            '#' => {
                previous == Some('#')
                    && (rest.first() == Some(&'[')
                        || rest.len() >= 4
                            && rest[..4]
                                .iter()
                                .zip("vso[".chars())
                                .all(|(a, b)| a.eq_ignore_ascii_case(&b)))
            }
            ':' => {
                rest.first() == Some(&':')
                    && previous.is_none_or(|p| !(p.is_alphanumeric() || p == ':'))
            }
            _ => false,
        };
        if defuse {
            out.push(ZERO_WIDTH_SPACE);
            changed = true;
        }
    }
    changed.then_some(out)
}

/// [`strip_controls`] for formats that keep line breaks in their own way (escaped, quoted or
/// turned into `<br>`): removes every character [`strip_controls`] would, except `\n`, `\r`
/// and `\t`, which are kept for the emitter to deal with.
pub(super) fn strip_controls_keep_lines(text: &str) -> Cow<'_, str> {
    let unwanted = |c: char| needs_stripping(c) && !matches!(c, '\n' | '\r' | '\t');
    if !text.chars().any(unwanted) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|&c| !unwanted(c)).collect())
}

/// Whether [`strip_controls`] replaces or removes `c`. (A plain space is not a control.)
fn needs_stripping(c: char) -> bool {
    c.is_control() || affects_display(c)
}

/// Whether `c`, not a control character, still changes how the text around it is shown: line
/// and paragraph separators, bidi embeddings, overrides, isolates and direction marks.
pub(super) fn affects_display(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{200e}' | '\u{200f}' | '\u{061c}' // direction marks
    )
}

/// Helpers for other emitters' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// Whether `c` is something [`strip_controls`](super::strip_controls) never lets through.
    pub(crate) fn dangerous(c: char) -> bool {
        super::needs_stripping(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces() {
        assert_eq!(wrap("a bb ccc", 4, ""), ["a bb", "ccc"]);
        assert_eq!(wrap("ab cd", 4, "  "), ["  ab", "  cd"]);
        assert_eq!(wrap("  a \n\t b  ", 10, ""), ["a b"]);
        assert_eq!(wrap("", 10, "  "), [""]);
    }

    #[test]
    fn long_words_overflow_instead_of_breaking() {
        let id = "/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05/providers/Microsoft.Sql";
        let text = format!("the provider {id} is not registered");
        assert_eq!(
            wrap(&text, 20, "  "),
            ["  the provider", &format!("  {id}"), "  is not registered"]
        );
        assert_eq!(wrap("abcdefgh", 3, ""), ["abcdefgh"]);
    }

    #[test]
    fn a_backticked_command_is_one_unit() {
        let command = "`az provider register --namespace Microsoft.Sql --subscription 291bba3f-e0a5-47bc-a099-3bdcb2a50a05`";
        let text = format!("register it: {command}, or register every missing provider");
        let lines = wrap(&text, 80, "  ");
        assert_eq!(
            lines,
            [
                "  register it:",
                &format!("  {command},"),
                "  or register every missing provider",
            ]
        );
        // Short enough: it shares a line, still whole.
        assert_eq!(
            wrap("run `az login --tenant T` (then again)", 30, ""),
            ["run `az login --tenant T`", "(then again)"]
        );
        // Punctuation touching it stays with it; whitespace inside is one space.
        assert_eq!(wrap("x (`a \n  b`).", 3, ""), ["x", "(`a b`)."]);
    }

    #[test]
    fn an_unpaired_backtick_is_an_ordinary_character() {
        assert_eq!(wrap("`a b` c `d e", 3, ""), ["`a b`", "c", "`d", "e"]);
    }

    /// Over many generated texts: wrapping loses and reorders nothing, never splits a unit, and
    /// only a line holding a single unit is wider than the room.
    #[test]
    fn wrap_invariants_hold_on_generated_texts() {
        const PIECES: [&str; 10] = [
            "a",
            "word",
            "Microsoft.Sql/register/action",
            "/subscriptions/291bba3f-e0a5-47bc-a099-3bdcb2a50a05",
            "`az provider register --namespace Microsoft.Sql`",
            "(`az login`),",
            "https://learn.microsoft.com/azure/azure-arc/servers/",
            " ",
            "\n",
            "  \t ",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % below as u64).unwrap()
        };
        for _ in 0..2_000 {
            let mut text = String::new();
            for _ in 0..next(25) {
                text.push_str(PIECES[next(PIECES.len())]);
                text.push(' ');
            }
            let width = 5 + next(80);
            let indent = ["", "  ", "    "][next(3)];
            let room = width - indent.len();
            let lines = wrap(&text, width, indent);
            let expected = units(&text);
            let mut got = Vec::new();
            for line in &lines {
                // The one line of an empty text is empty, without the indent.
                let body = match line.strip_prefix(indent) {
                    Some(body) => body,
                    None if line.is_empty() => line,
                    None => panic!("{line:?} lacks the indent"),
                };
                let line_units = units(body);
                if body.chars().count() > room {
                    assert_eq!(line_units.len(), 1, "{width} {line:?}");
                }
                got.extend(line_units);
            }
            assert_eq!(got, expected, "{text:?} at {width}");
            for line in &lines {
                assert_eq!(line.matches('`').count() % 2, 0, "{line:?}");
            }
        }
    }

    #[test]
    fn paragraphs_wrap_and_keep_blank_lines() {
        let text = "## Heading\none two three four\n\nfive";
        assert_eq!(
            wrap_paragraphs(text, 9),
            "##\nHeading\none two\nthree\nfour\n\nfive\n"
        );
        let docs = crate::checks::find("ESU101").unwrap().render_docs();
        for line in wrap_paragraphs(&docs, 80).lines() {
            assert!(
                line.chars().count() <= 80
                    || !line.trim().contains(' ')
                    || line.starts_with(COMMAND_INDENT),
                "{line:?}"
            );
        }
        assert_eq!(wrap_paragraphs("a\u{1b}[2Jb\r", 80), "a[2Jb\n");
    }

    #[test]
    fn a_command_in_parentheses_keeps_them_balanced() {
        assert_eq!(
            wrap_with_commands("linked (`esu-preflight check`: ESU505, ESU402).", 80, ""),
            ["linked", "    esu-preflight check", "(ESU505, ESU402)."]
        );
        assert_eq!(
            wrap_with_commands("sign in (`az login`), then retry", 80, ""),
            ["sign in", "    az login", "then retry"]
        );
        assert_eq!(
            wrap_with_commands("sign in (`az login`).", 80, ""),
            ["sign in", "    az login"]
        );
        assert_eq!(
            wrap_with_commands("run `az login`: then (see ESU201)", 80, ""),
            ["run", "    az login", "then (see ESU201)"]
        );
    }

    #[test]
    fn runner_commands_are_defused() {
        let zw = '\u{200b}';
        for (input, expected) in [
            ("::add-mask::x".to_owned(), format!(":{zw}:add-mask::x")),
            (" \t::error::inj".to_owned(), format!("  :{zw}:error::inj")),
            (
                "a\r\n::error::inj".to_owned(),
                format!("a :{zw}:error::inj"),
            ),
            ("(::x".to_owned(), format!("(:{zw}:x")),
            ("/rg/::x".to_owned(), format!("/rg/:{zw}:x")),
            (":::x".to_owned(), format!(":{zw}::x")),
            (
                "name ##[error]fake".to_owned(),
                format!("name ##{zw}[error]fake"),
            ),
            ("###[x".to_owned(), format!("###{zw}[x")),
            (
                "x##vso[task.setvariable".to_owned(),
                format!("x##{zw}vso[task.setvariable"),
            ),
            ("x##VSO[task".to_owned(), format!("x##{zw}VSO[task")),
            // Left alone: no command.
            (
                "std::io, a::b, #[cfg], ## [x], ##vs[".to_owned(),
                "std::io, a::b, #[cfg], ## [x], ##vs[".to_owned(),
            ),
        ] {
            assert_eq!(strip_controls(&input), expected, "{input:?}");
        }
        assert!(matches!(defuse_commands("a::b ## x"), Cow::Borrowed(_)));
        // Wrapped and laid out, no line starts a command, whatever word starts it.
        let hostile =
            "fix it `az x --name \"\n::add-mask::x\"` or ::error::inj ##vso[task.setvariable a]b";
        for width in [10, 20, 80] {
            for line in wrap_with_commands(&strip_controls(hostile), width, "  ") {
                assert!(!line.trim_start().starts_with("::"), "{line:?}");
                assert!(!line.to_ascii_lowercase().contains("##vso["), "{line:?}");
            }
        }
    }

    #[test]
    fn controls_are_stripped() {
        let cases = [
            ("\u{1b}[31mred\u{1b}[0m", "[31mred[0m"),
            ("bell\u{7}", "bell"),
            ("over\rwrite", "over write"),
            ("two\nlines\ttab", "two lines tab"),
            ("csi\u{9b}2J", "csi2J"),
            ("nel\u{85}x", "nel x"),
            ("del\u{7f}", "del"),
            ("sep\u{2028}x", "sep x"),
            ("evil\u{202e}txt.exe", "eviltxt.exe"),
            ("iso\u{2066}late\u{2069}", "isolate"),
            ("mark\u{200f}", "mark"),
            ("Microsoft.Sql – ok é 日本", "Microsoft.Sql – ok é 日本"),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_controls(input), expected, "{input:?}");
        }
        assert!(matches!(strip_controls("clean"), Cow::Borrowed(_)));
    }
}
