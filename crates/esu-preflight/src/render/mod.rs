//! Emitters: one per output format, each writing a report to any `io::Write`.
