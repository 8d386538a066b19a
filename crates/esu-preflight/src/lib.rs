//! # esu-preflight
//!
//! Pre-flight checks for Azure Arc Extended Security Updates (ESU) for Windows Server 2012 /
//! 2012 R2: reads the real state of Azure subscriptions through Azure Resource Manager and
//! reports everything that would make license provisioning, license linking or patch delivery
//! fail, each with the exact fix.
//!
//! The pipeline is **gather → snapshot → evaluate → render**:
//!
//! - [`gather`] is the only code that talks to Azure (through [`arm::ArmClient`]); it fills a
//! - [`Snapshot`]: plain serde data, every fact available or unavailable-with-reason;
//! - [`evaluate`] runs the [checks] over a snapshot, purely, into [`Finding`]s;
//! - [`render`] writes a [`Report`] as a table or JSON to any `io::Write`.
//!
//! [`policy`] evaluates Azure Policy rules and effects against the resources a plan would
//! create, purely, for the policy checks.
//!
//! The library never prints.
#![forbid(unsafe_code)]

pub mod arm;
pub mod checks;
pub mod config;
pub mod explain;
pub mod fact;
pub mod finding;
pub mod fix;
pub mod gather;
pub mod models;
pub mod permissions;
pub mod plan;
pub mod policy;
pub mod programs;
pub mod render;
pub mod report;
mod serde_text;
pub mod snapshot;
mod times;

/// The hash map of the evaluation's memos and indexes (by machine and license id, by policy
/// facet): foldhash, not SipHash. A large estate hashes its 100,000 machine ids several times
/// over, and these maps are no attack surface worth SipHash's cost (the keys come from the
/// user's own snapshot).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use times::parse_rfc3339 as parse_time;

pub use checks::evaluate;
pub use finding::{Evidence, EvidenceBuilder, Finding, Severity, Status};
pub use report::{Gate, Report};
pub use snapshot::{Fact, Snapshot, Unavailable, UnavailableKind};

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
