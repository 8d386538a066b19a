//! The checks: one unit each, stable IDs, documentation with the code.
