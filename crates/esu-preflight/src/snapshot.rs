//! The snapshot: every fact the checks need, read from Azure once.
//!
//! A [`Snapshot`] is plain serde data. [`crate::gather`] builds one from ARM; `esu-preflight
//! snapshot` writes it to a file; `check --snapshot FILE` evaluates it offline. Other tools may
//! build one themselves. It never holds a token or any other secret.
//!
//! Every fact is a [`Fact`]: either the value that was read, or the reason it could not be read.
//! A check whose fact is unavailable reports `inconclusive` with that reason, never `pass`.

pub use crate::fact::{Fact, Unavailable, UnavailableKind};
use crate::models::{Permission, Provider, Subscription};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The snapshot format this version writes, and the newest it reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Everything read from Azure for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version; see [`SNAPSHOT_VERSION`].
    pub snapshot_version: u32,
    /// The tool (and version) that wrote the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// The ARM endpoint the facts were read from, e.g. `https://management.azure.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm_endpoint: Option<String>,
    /// What was asked for.
    pub scope: Scope,
    /// The facts, one entry per subscription in scope, in the order of `scope.subscriptions`.
    pub subscriptions: Vec<SubscriptionSnapshot>,
}

/// The scope of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Subscription ids (GUIDs), lower-case.
    pub subscriptions: Vec<String>,
}

/// The facts about one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    /// The subscription GUID, lower-case.
    pub subscription_id: String,
    /// `GET /subscriptions/{id}`.
    pub subscription: Fact<Subscription>,
    /// `GET /subscriptions/{id}/providers` (all pages).
    pub providers: Fact<Vec<Provider>>,
    /// The caller's effective permissions at subscription scope
    /// (`GET /subscriptions/{id}/providers/Microsoft.Authorization/permissions`, all pages).
    pub permissions: Fact<Vec<Permission>>,
}

impl SubscriptionSnapshot {
    /// The facts that could not be read, by name (`subscription`, `providers`, `permissions`).
    pub fn unavailable(&self) -> impl Iterator<Item = (&'static str, &Unavailable)> {
        [
            ("subscription", self.subscription.unavailable()),
            ("providers", self.providers.unavailable()),
            ("permissions", self.permissions.unavailable()),
        ]
        .into_iter()
        .filter_map(|(name, reason)| reason.map(|reason| (name, reason)))
    }
}

/// Why a snapshot file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read snapshot file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON, or not a snapshot.
    #[error("{}:{line}:{column}: not a valid snapshot", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The snapshot was written by a newer esu-preflight.
    #[error(
        "{}: snapshot_version {found} is newer than this esu-preflight supports ({supported}); upgrade esu-preflight",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
}

impl Snapshot {
    /// An empty snapshot for `scope`, to be filled in.
    pub fn new(scope: Scope) -> Self {
        Self {
            snapshot_version: SNAPSHOT_VERSION,
            generator: Some(concat!("esu-preflight ", env!("CARGO_PKG_VERSION")).to_owned()),
            arm_endpoint: None,
            scope,
            subscriptions: Vec::new(),
        }
    }

    /// Reads a snapshot file written by `esu-preflight snapshot` (or by another tool).
    ///
    /// The version is checked before the structure, so a snapshot from a newer version is
    /// reported as such rather than as a confusing parse error.
    pub fn load(path: &Path) -> Result<Self, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parses a snapshot from JSON text; `path` is used in error messages only.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SnapshotError> {
        let parse_error = |source: serde_json::Error| SnapshotError::Parse {
            path: path.to_owned(),
            line: source.line(),
            // serde_json says column 0 for an error at a line break; the column is 1-based.
            column: source.column().max(1),
            source,
        };
        #[derive(Deserialize)]
        struct VersionOnly {
            snapshot_version: u64,
        }
        let version: VersionOnly = serde_json::from_str(text).map_err(parse_error)?;
        if version.snapshot_version > u64::from(SNAPSHOT_VERSION) {
            return Err(SnapshotError::UnsupportedVersion {
                path: path.to_owned(),
                found: version.snapshot_version,
                supported: SNAPSHOT_VERSION,
            });
        }
        serde_json::from_str(text).map_err(parse_error)
    }

    /// The snapshot as pretty-printed JSON, ending with a newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("a snapshot is plain data and always serializes");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("snap.json")
    }

    #[test]
    fn newer_version_is_refused_before_structure() {
        let err =
            Snapshot::from_json(r#"{"snapshot_version": 99, "other": true}"#, path()).unwrap_err();
        assert!(matches!(
            err,
            SnapshotError::UnsupportedVersion { found: 99, .. }
        ));
        assert!(err.to_string().contains("upgrade"));
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let err =
            Snapshot::from_json("{\n  \"snapshot_version\": 1,\n  oops\n}", path()).unwrap_err();
        match err {
            SnapshotError::Parse { line, column, .. } => {
                assert_eq!((line, column), (3, 3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_error_at_a_line_break_has_column_1() {
        // A control character (the line break) inside a string.
        let err = Snapshot::from_json("\"\n", path()).unwrap_err();
        assert!(err.to_string().starts_with("snap.json:2:1:"), "{err}");
    }

    #[test]
    fn facts_round_trip() {
        let fact: Fact<Vec<Permission>> = Fact::Unavailable {
            reason: Unavailable {
                kind: UnavailableKind::Forbidden,
                http_status: Some(403),
                code: Some("AuthorizationFailed".into()),
                message: "no".into(),
                action: Some("Microsoft.Authorization/permissions/read".into()),
                scope: Some("/subscriptions/x".into()),
            },
        };
        let json = serde_json::to_value(&fact).unwrap();
        assert_eq!(json["status"], "unavailable");
        assert_eq!(json["reason"]["kind"], "forbidden");
        let back: Fact<Vec<Permission>> = serde_json::from_value(json).unwrap();
        assert_eq!(back, fact);
    }

    #[test]
    fn unavailable_facts_are_listed_by_name() {
        let reason = Unavailable {
            kind: UnavailableKind::HttpError,
            http_status: Some(500),
            code: None,
            message: "boom".into(),
            action: None,
            scope: None,
        };
        let sub = SubscriptionSnapshot {
            subscription_id: "s".into(),
            subscription: Fact::Unavailable {
                reason: reason.clone(),
            },
            providers: Fact::Available { value: Vec::new() },
            permissions: Fact::Unavailable {
                reason: reason.clone(),
            },
        };
        let names: Vec<_> = sub.unavailable().map(|(name, _)| name).collect();
        assert_eq!(names, ["subscription", "permissions"]);
    }

    #[test]
    fn unknown_unavailable_kind_is_other() {
        let reason: Unavailable =
            serde_json::from_str(r#"{"kind":"quota_exhausted","message":"m"}"#).unwrap();
        assert_eq!(reason.kind, UnavailableKind::Other);
    }
}
