//! The JSON report: the public contract (`schema_version`, `tool`, `scope`, `summary`,
//! `findings`).

use super::Emitter;
use crate::report::Report;
use std::io;

/// Writes the [`Report`] as pretty-printed JSON followed by a newline.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEmitter;

impl Emitter for JsonEmitter {
    fn emit(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        out.write_all(b"\n")
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
}
