//! The ESU programs, as data.
//!
//! Microsoft runs one Arc ESU program per Windows Server release that leaves support: Windows
//! Server 2012 / 2012 R2 ([`WS2012`]) and Windows Server 2016 ([`WS2016`]). Each has its own
//! eligible OS versions, license targets, minimum agent, dates and rules. Every license and
//! machine check reads its numbers from the [`Program`] of the license or machine, so a third
//! program is a new entry in [`PROGRAMS`], not new code.
//!
//! The rules and their sources: `shared/reference/esu-licensing.md` (P12, P16) and Microsoft's
//! "Troubleshoot / License / Prepare to deliver Extended Security Updates" articles.
//!
//! ```
//! use esu_preflight::programs::{self, OsClass};
//!
//! let ws2016 = programs::by_target("windows server 2016").unwrap();
//! assert_eq!(ws2016.min_agent.to_string(), "1.62");
//! match programs::classify_os(Some("Windows Server 2016 Datacenter"), Some("10.0.14393.7428")) {
//!     OsClass::Eligible { program, .. } => assert_eq!(program.id, "ws2016"),
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::fmt;
use time::Date;
use time::macros::date;

/// One ESU program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Program {
    /// The stable id used in reports and `--program`: `ws2012`, `ws2016`.
    pub id: &'static str,
    /// The name people use, e.g. `Windows Server 2012 / 2012 R2`.
    pub name: &'static str,
    /// The OS releases the program covers.
    pub releases: &'static [Release],
    /// The editions eligible for ESU (others, e.g. Storage, are not).
    pub editions: &'static [&'static str],
    /// The minimum Connected Machine agent version.
    pub min_agent: AgentVersion,
    /// The least a pCore license may hold per physical server (and in total).
    pub min_pcores_per_server: u32,
    /// The least a vCore license may hold per VM (and in total).
    pub min_vcores_per_vm: u32,
    /// How many VMs a Standard pCore license may cover per `min_pcores_per_server` cores
    /// (Datacenter pCore: any number).
    pub standard_pcore_vms: u32,
    /// The valid (edition, type) combinations of a license.
    pub license_combinations: &'static [(&'static str, &'static str)],
    /// The most cores one license may hold.
    pub max_cores_per_license: u32,
    /// The most licenses one resource group may hold.
    pub max_licenses_per_resource_group: u32,
    /// The day extended support ended (ends).
    pub end_of_support: Date,
    /// The first day ESU licenses are billed.
    pub billing_start: Date,
    /// The day licenses provisioned later are back-billed to, when the program says so.
    pub back_billed_to: Option<Date>,
    /// Whether SPLA may stand in for Software Assurance.
    pub spla_allowed: bool,
    /// Whether a license may carry Volume Licensing details (`volumeLicenseDetails`).
    pub volume_licensing_transition: bool,
    /// What Microsoft's pages say about Azure VMs, Azure Local and AVS.
    pub free_environments: FreeEnvironments,
    /// The built-in policy that reports ESU patches on the program's machines, if any.
    pub patch_policy: Option<PatchPolicy>,
    /// The tag that lets non-production machines link beyond a license's cores, if the program
    /// has one (esu-licensing.md §6: WS2012 only).
    pub usage_tag: Option<UsageTag>,
}

/// The "ESU Usage" tag: machines tagged with an exempt value, linked to a license tagged with
/// the same value (or the multipurpose one), don't count against the license's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageTag {
    /// The tag name (ARM tag names compare case-insensitively).
    pub name: &'static str,
    /// The values that mark an exempt machine (and a license serving only that kind).
    pub exempt_values: &'static [&'static str],
    /// The license value that serves every exempt kind.
    pub multipurpose: &'static str,
}

/// One OS release a program covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Release {
    /// The name, e.g. `Windows Server 2012 R2`; also its license `target`.
    pub name: &'static str,
    /// The `osVersion` prefix the agent reports, e.g. `6.3.9600`.
    pub version_prefix: &'static str,
}

/// How ESU is delivered on Azure VMs, Azure Local (Azure Stack HCI) and Azure VMware Solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FreeEnvironments {
    /// Free there; such machines should not enroll through Arc.
    Free,
    /// Microsoft's pages for this program do not say; the finding cites the sources.
    Unstated {
        /// Where to read what is known.
        sources: &'static str,
    },
}

/// A built-in Azure Policy definition that reports ESU patch status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchPolicy {
    /// The definition's GUID.
    pub definition: &'static str,
    /// Its display name.
    pub display_name: &'static str,
}

/// A Connected Machine agent version, compared numerically (`1.9 < 1.34`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentVersion {
    /// The major version.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl AgentVersion {
    /// Reads `1.34`, `1.34.02440.1130`, ` v1.62 `; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches(['v', 'V']);
        let mut parts = text.split('.');
        let major = parts.next()?.trim().parse().ok()?;
        let minor = parts.next()?.trim().parse().ok()?;
        Some(Self { major, minor })
    }
}

impl fmt::Display for AgentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

const STANDARD_DATACENTER: &[&str] = &["Standard", "Datacenter"];
const COMBINATIONS: &[(&str, &str)] = &[
    ("Standard", "vCore"),
    ("Standard", "pCore"),
    ("Datacenter", "pCore"),
];

/// Windows Server 2012 and 2012 R2 (P12).
pub const WS2012: Program = Program {
    id: "ws2012",
    name: "Windows Server 2012 / 2012 R2",
    releases: &[
        Release {
            name: "Windows Server 2012",
            version_prefix: "6.2.9200",
        },
        Release {
            name: "Windows Server 2012 R2",
            version_prefix: "6.3.9600",
        },
    ],
    editions: STANDARD_DATACENTER,
    min_agent: AgentVersion {
        major: 1,
        minor: 34,
    },
    min_pcores_per_server: 16,
    min_vcores_per_vm: 8,
    standard_pcore_vms: 2,
    license_combinations: COMBINATIONS,
    max_cores_per_license: 10_000,
    max_licenses_per_resource_group: 800,
    end_of_support: date!(2023 - 10 - 10),
    billing_start: date!(2023 - 10 - 10),
    back_billed_to: None,
    spla_allowed: true,
    volume_licensing_transition: true,
    free_environments: FreeEnvironments::Free,
    patch_policy: Some(PatchPolicy {
        definition: "14b4e776-9fab-44b0-b53f-38d2458ea8be",
        display_name: "Extended Security Updates should be installed on Windows Server 2012 Arc \
                       machines",
    }),
    usage_tag: Some(UsageTag {
        name: "ESU Usage",
        exempt_values: &["WS2012 VISUAL STUDIO DEV TEST", "WS2012 DISASTER RECOVERY"],
        multipurpose: "WS2012 MULTIPURPOSE",
    }),
};

/// Windows Server 2016 (P16).
pub const WS2016: Program = Program {
    id: "ws2016",
    name: "Windows Server 2016",
    releases: &[Release {
        name: "Windows Server 2016",
        version_prefix: "10.0.14393",
    }],
    editions: STANDARD_DATACENTER,
    min_agent: AgentVersion {
        major: 1,
        minor: 62,
    },
    min_pcores_per_server: 16,
    min_vcores_per_vm: 8,
    standard_pcore_vms: 2,
    license_combinations: COMBINATIONS,
    max_cores_per_license: 10_000,
    max_licenses_per_resource_group: 800,
    end_of_support: date!(2027 - 01 - 12),
    billing_start: date!(2027 - 01 - 13),
    back_billed_to: Some(date!(2027 - 01 - 12)),
    spla_allowed: false,
    volume_licensing_transition: false,
    free_environments: FreeEnvironments::Unstated {
        sources: "the Windows Server 2016 pivot of \"License Extended Security Updates\" names \
                  no free environment besides machines migrated to Azure \
                  (https://learn.microsoft.com/azure/azure-arc/servers/license-extended-security-updates), \
                  while the Azure VMware Solution and Azure Local pages speak of ESU in general \
                  (https://learn.microsoft.com/azure/azure-vmware/extended-security-updates-windows-sql-server, \
                  https://learn.microsoft.com/azure/azure-local/manage/azure-benefits-esu)",
    },
    patch_policy: None,
    usage_tag: None,
};

/// Every program, oldest first.
pub const PROGRAMS: [Program; 2] = [WS2012, WS2016];

/// The program with this id (`ws2012`, `ws2016`), case-insensitively.
pub fn by_id(id: &str) -> Option<&'static Program> {
    PROGRAMS
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(id.trim()))
}

/// The program a license `target` belongs to (`Windows Server 2012 R2` → WS2012),
/// case-insensitively, and the release it names.
pub fn by_target(target: &str) -> Option<&'static Program> {
    release_by_target(target).map(|(program, _)| program)
}

/// The program and release a license `target` names.
pub fn release_by_target(target: &str) -> Option<(&'static Program, &'static Release)> {
    PROGRAMS.iter().find_map(|program| {
        program
            .releases
            .iter()
            .find(|release| same_words(release.name, target))
            .map(|release| (program, release))
    })
}

/// What a machine's OS means for ESU.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OsClass {
    /// A release of a program, in an eligible edition.
    Eligible {
        /// The program.
        program: &'static Program,
        /// The release.
        release: &'static Release,
        /// The edition read from the SKU (`Standard`, `Datacenter`), when it says.
        edition: Option<&'static str>,
    },
    /// A release of a program, in an edition the program does not cover (e.g. Storage,
    /// Essentials).
    IneligibleEdition {
        /// The program.
        program: &'static Program,
        /// The release.
        release: &'static Release,
        /// The SKU as reported.
        sku: String,
    },
    /// Not a release any program covers (Windows Server 2019, 2008 R2, Windows 10, Linux…).
    Outside {
        /// What it is, in words.
        os: String,
    },
    /// The machine does not report enough to tell (no SKU or version).
    Unknown,
}

/// Classifies a machine by its `osSku` (or `osName`) and `osVersion`.
///
/// The version decides the release (`6.2.9200` is both Windows Server 2012 and Windows 8, so the
/// SKU must also say "Server"); the SKU decides the edition.
pub fn classify_os(sku: Option<&str>, version: Option<&str>) -> OsClass {
    let sku = sku.map(str::trim).filter(|s| !s.is_empty());
    let version = version.map(str::trim).filter(|s| !s.is_empty());
    let (Some(sku), Some(version)) = (sku, version) else {
        return match (sku, version) {
            (Some(sku), None) if !contains_ignore_ascii_case(sku, "server") => {
                OsClass::Outside { os: sku.to_owned() }
            }
            _ => OsClass::Unknown,
        };
    };
    let lower = sku.to_ascii_lowercase();
    let has = |word: &str| contains_lowercase(&lower, word);
    let release = PROGRAMS.iter().find_map(|program| {
        program
            .releases
            .iter()
            .find(|release| {
                version.starts_with(release.version_prefix)
                    && matches!(
                        version.as_bytes().get(release.version_prefix.len()),
                        None | Some(b'.')
                    )
            })
            .map(|release| (program, release))
    });
    match release {
        Some((program, release)) if has("server") => {
            if has("storage") {
                return OsClass::IneligibleEdition {
                    program,
                    release,
                    sku: sku.to_owned(),
                };
            }
            let edition = program
                .editions
                .iter()
                .copied()
                .find(|edition| has(edition));
            let other_edition = ["essentials", "foundation", "web", "hpc"]
                .iter()
                .any(|e| has(e));
            if edition.is_none() && other_edition {
                OsClass::IneligibleEdition {
                    program,
                    release,
                    sku: sku.to_owned(),
                }
            } else {
                OsClass::Eligible {
                    program,
                    release,
                    edition,
                }
            }
        }
        _ => OsClass::Outside {
            os: format!("{sku} ({version})"),
        },
    }
}

/// Whether `a` and `b` are the same words, ignoring ASCII case and how much whitespace is
/// between them (`Windows  server 2012` is `Windows Server 2012`).
fn same_words(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split_whitespace(), b.split_whitespace());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

/// Whether `lower` (in ASCII lower case) contains `word` in any ASCII case; `word` is short.
fn contains_lowercase(lower: &str, word: &str) -> bool {
    let mut buffer = [0u8; 32];
    match buffer.get_mut(..word.len()) {
        Some(bytes) => {
            bytes.copy_from_slice(word.as_bytes());
            bytes.make_ascii_lowercase();
            std::str::from_utf8(bytes).is_ok_and(|word| lower.contains(word))
        }
        None => contains_ignore_ascii_case(lower, word),
    }
}

/// Whether `haystack` contains `needle`, ignoring ASCII case.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    needle.is_empty()
        || haystack
            .as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_versions_compare_as_numbers() {
        let v = |s| AgentVersion::parse(s).unwrap();
        assert!(v("1.9") < v("1.34"));
        assert!(v("1.33.02399.1041") < WS2012.min_agent);
        assert!(v("1.34.02440.1130") >= WS2012.min_agent);
        assert!(v("1.61.0") < WS2016.min_agent);
        assert!(v("1.62") >= WS2016.min_agent);
        assert!(v("2.0") > v("1.62"));
        for bad in ["", "1", "one.two", "1.x", "."] {
            assert_eq!(AgentVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn targets_name_their_program() {
        assert_eq!(by_target("Windows Server 2012").unwrap().id, "ws2012");
        assert_eq!(by_target("windows  server 2012 r2").unwrap().id, "ws2012");
        assert_eq!(by_target("Windows Server 2016").unwrap().id, "ws2016");
        assert_eq!(by_target("Windows Server 2019"), None);
        assert_eq!(by_id("WS2016").unwrap().name, "Windows Server 2016");
        assert_eq!(by_target(" Windows\tServer 2012 R2 ").unwrap().id, "ws2012");
        for odd in [
            "",
            "Windows Server",
            "Windows Server 2012 R2 x",
            "WindowsServer 2012",
        ] {
            assert_eq!(by_target(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn words_and_substrings_compare_ignoring_ascii_case() {
        assert!(same_words("a  B\tc", "A b C"));
        assert!(!same_words("a b", "a b c"));
        assert!(!same_words("ab", "a b"));
        assert!(same_words("", " "));
        assert!(contains_ignore_ascii_case("Windows SERVER 2012", "server"));
        assert!(!contains_ignore_ascii_case("Windows 8", "server"));
        assert!(!contains_ignore_ascii_case("se", "server"));
        assert!(contains_ignore_ascii_case("anything", ""));
        assert!(contains_ignore_ascii_case("Überserver", "server"));
        assert!(contains_lowercase(
            "windows server 2012 datacenter",
            "Datacenter"
        ));
        assert!(!contains_lowercase("windows server 2012", "Datacenter"));
        let long = "a".repeat(40);
        assert!(contains_lowercase(
            &format!("x{long}y"),
            &long.to_uppercase()
        ));
    }

    #[test]
    fn machines_are_classified_by_version_and_sku() {
        let class = |sku, version| classify_os(Some(sku), Some(version));
        match class("Windows Server 2012 R2 Datacenter", "6.3.9600.20778") {
            OsClass::Eligible {
                program,
                release,
                edition,
            } => {
                assert_eq!(program.id, "ws2012");
                assert_eq!(release.name, "Windows Server 2012 R2");
                assert_eq!(edition, Some("Datacenter"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            class("Windows Server 2016 Standard", "10.0.14393.0"),
            OsClass::Eligible { program, .. } if program.id == "ws2016"
        ));
        assert!(matches!(
            class("Windows Storage Server 2012 R2 Standard", "6.3.9600.1"),
            OsClass::IneligibleEdition { .. }
        ));
        assert!(matches!(
            class("Windows Server 2012 R2 Essentials", "6.3.9600.1"),
            OsClass::IneligibleEdition { .. }
        ));
        for (sku, version) in [
            ("Windows Server 2019 Datacenter", "10.0.17763.1"),
            ("Windows Server 2008 R2 Enterprise", "6.1.7601"),
            ("Windows 8.1 Pro", "6.3.9600.1"),
            ("Windows 10 Enterprise 2016 LTSB", "10.0.14393.1"),
            ("Windows Server 2016 Datacenter", "10.0.143930"),
        ] {
            assert!(
                matches!(class(sku, version), OsClass::Outside { .. }),
                "{sku} {version}"
            );
        }
        assert_eq!(classify_os(None, Some("6.3.9600")), OsClass::Unknown);
        assert_eq!(
            classify_os(Some("Windows Server 2012"), None),
            OsClass::Unknown
        );
        assert!(matches!(
            classify_os(Some("Ubuntu 22.04"), None),
            OsClass::Outside { .. }
        ));
    }

    #[test]
    fn the_programs_carry_their_own_numbers() {
        assert_eq!(WS2016.end_of_support, date!(2027 - 01 - 12));
        assert_eq!(WS2016.billing_start, date!(2027 - 01 - 13));
        assert_eq!((WS2012.spla_allowed, WS2016.spla_allowed), (true, false));
        assert_eq!(
            (
                WS2012.volume_licensing_transition,
                WS2016.volume_licensing_transition
            ),
            (true, false)
        );
        assert_eq!(
            WS2012.patch_policy.unwrap().definition,
            "14b4e776-9fab-44b0-b53f-38d2458ea8be"
        );
        let ids: Vec<&str> = PROGRAMS.iter().map(|p| p.id).collect();
        assert_eq!(ids, ["ws2012", "ws2016"]);
    }
}
