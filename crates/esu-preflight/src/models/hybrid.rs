//! Microsoft.HybridCompute: ESU licenses and Arc-enabled machines, only the fields the checks
//! read.
//!
//! Every field is optional and every enumeration an open string: real payloads send `null` for
//! unknown values (2026-09-01 examples), add states the spec doesn't list (`Expired`), encode
//! numbers as strings (`detectedProperties`) and change types between api-versions
//! (`esuKeys[].licenseStatus`, `esuProfile.assignedLicense`). A value of an unexpected type is
//! read as absent, so one odd field never fails a whole list.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// An ESU license (`Microsoft.HybridCompute/licenses`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    /// The ARM id.
    #[serde(default, deserialize_with = "string_or_default")]
    pub id: String,
    /// The name.
    #[serde(default, deserialize_with = "string_or_default")]
    pub name: String,
    /// The region.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub location: Option<String>,
    /// Tags (string values only; `null` is none).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "tags"
    )]
    pub tags: BTreeMap<String, String>,
    /// `properties`.
    #[serde(default, deserialize_with = "lenient_struct_default")]
    pub properties: LicenseProperties,
}

/// `properties` of a [`License`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseProperties {
    /// `ESU` for the licenses this tool checks.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub license_type: Option<String>,
    /// The directory the license belongs to.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub tenant_id: Option<String>,
    /// What the license is.
    #[serde(default, deserialize_with = "lenient_struct_default")]
    pub license_details: LicenseDetails,
}

/// `properties.licenseDetails` of a [`License`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseDetails {
    /// `Activated` or `Deactivated`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub state: Option<String>,
    /// The OS licensed: `Windows Server 2012`, `Windows Server 2012 R2`, `Windows Server 2016`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub target: Option<String>,
    /// `Standard` or `Datacenter`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub edition: Option<String>,
    /// `pCore` or `vCore`.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub license_type: Option<String>,
    /// Cores on the license (a number, or a number in a string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count"
    )]
    pub processors: Option<u32>,
    /// Read-only: 2-core packs assigned.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count"
    )]
    pub assigned_licenses: Option<u32>,
    /// The id machines name in `esuProfile.assignedLicenseImmutableId`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub immutable_id: Option<String>,
    /// Volume Licensing transition entries (`[{programYear, invoiceId}]`); kept as sent.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_default"
    )]
    pub volume_license_details: Vec<serde_json::Value>,
}

impl License {
    /// The license details.
    pub fn details(&self) -> &LicenseDetails {
        &self.properties.license_details
    }
}

/// An Azure Arc-enabled server (`Microsoft.HybridCompute/machines`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The ARM id.
    #[serde(default, deserialize_with = "string_or_default")]
    pub id: String,
    /// The name.
    #[serde(default, deserialize_with = "string_or_default")]
    pub name: String,
    /// The region.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub location: Option<String>,
    /// `AVS`, `HCI`, `SCVMM`, `VMware`, `AWS`, `GCP`, `EPS`, or none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub kind: Option<String>,
    /// Tags (string values only).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "tags"
    )]
    pub tags: BTreeMap<String, String>,
    /// `properties`.
    #[serde(default, deserialize_with = "lenient_struct_default")]
    pub properties: MachineProperties,
}

/// `properties` of a [`Machine`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineProperties {
    /// `Connected`, `Disconnected`, `Error`, `Expired`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub status: Option<String>,
    /// When `status` last changed (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub last_status_change: Option<String>,
    /// The Connected Machine agent's version, e.g. `1.34.02440.1130`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub agent_version: Option<String>,
    /// `windows` or `linux`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub os_type: Option<String>,
    /// The OS name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub os_name: Option<String>,
    /// e.g. `Windows Server 2012 R2 Datacenter`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub os_sku: Option<String>,
    /// e.g. `6.3.9600.20778`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub os_version: Option<String>,
    /// e.g. `Standard`, `Datacenter`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub os_edition: Option<String>,
    /// The Azure Stack HCI / Azure Local cluster the machine runs on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub parent_cluster_resource_id: Option<String>,
    /// `cloudMetadata`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_struct"
    )]
    pub cloud_metadata: Option<CloudMetadata>,
    /// What the agent detected (every value a string in ARM).
    #[serde(default, deserialize_with = "lenient_struct_default")]
    pub detected_properties: DetectedProperties,
    /// Licensing, ESU enrollment and Software Assurance.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_struct"
    )]
    pub license_profile: Option<MachineLicenseProfile>,
}

/// `cloudMetadata` of a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudMetadata {
    /// `N/A`, `AWS`, `GCP`, `Azure`, …
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub provider: Option<String>,
}

/// `detectedProperties` of a machine: ARM sends every value as a string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectedProperties {
    /// `cloudprovider`: `N/A`, `Azure`, `AWS`, …
    #[serde(
        rename = "cloudprovider",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub cloud_provider: Option<String>,
    /// The hardware manufacturer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub manufacturer: Option<String>,
    /// The model, e.g. `Virtual Machine`, `VMware Virtual Platform`, `PowerEdge R740`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub model: Option<String>,
    /// Physical cores (as the agent sees them).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count"
    )]
    pub core_count: Option<u32>,
    /// Logical cores.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count"
    )]
    pub logical_core_count: Option<u32>,
}

/// `licenseProfile` of a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineLicenseProfile {
    /// ESU enrollment.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_struct"
    )]
    pub esu_profile: Option<EsuProfile>,
    /// The Software Assurance attestation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_struct"
    )]
    pub software_assurance: Option<SoftwareAssurance>,
}

/// `licenseProfile.softwareAssurance` of a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareAssurance {
    /// Whether the customer attested Software Assurance for this machine.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub software_assurance_customer: Option<bool>,
}

/// `licenseProfile.esuProfile` of a machine (or `properties.esuProfile` of a license profile).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EsuProfile {
    /// `Assigned` or `NotAssigned`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub license_assignment_state: Option<String>,
    /// The service's own verdict: `Eligible`, `Ineligible`, `Unknown`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub esu_eligibility: Option<String>,
    /// `Active` or `Inactive`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub esu_key_state: Option<String>,
    /// `Standard` or `Datacenter`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub server_type: Option<String>,
    /// The ESU keys delivered to the machine.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_default"
    )]
    pub esu_keys: Vec<EsuKey>,
    /// The linked license's `immutableId`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub assigned_license_immutable_id: Option<String>,
    /// The linked license's ARM id: a string on the license profile, the `id` of the full
    /// license object with `$expand=instanceView`, absent on a plain machine read.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "assigned_license"
    )]
    pub assigned_license: Option<String>,
}

/// One entry of `esuProfile.esuKeys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EsuKey {
    /// The SKU.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub sku: Option<String>,
    /// The key's status: a string in early versions, an integer since 2024-07-10; kept as text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub license_status: Option<String>,
}

impl Machine {
    /// The ESU profile, if the machine reports one.
    pub fn esu_profile(&self) -> Option<&EsuProfile> {
        self.properties
            .license_profile
            .as_ref()
            .and_then(|p| p.esu_profile.as_ref())
    }
}

/// A value of type `T`, or `None` when absent, `null` or of another type.
///
/// The value's JSON text is captured as it is and decoded on its own (no `serde_json::Value`
/// tree is built): a fleet's machine lists are decoded at the speed of the JSON parser.
pub(super) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
    Ok(serde_json::from_str(raw.get()).ok())
}

/// A string, or `None` when absent, `null` or of another type (which is skipped unread).
pub(super) fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_any(Lenient(LenientString))
}

/// Like [`lenient_string`], with an empty string in place of `None`.
pub(super) fn string_or_default<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    Ok(lenient_string(deserializer)?.unwrap_or_default())
}

/// An object decoded as `T` in the same pass (no copy of its text), or `None` when absent,
/// `null` or not an object (which is skipped unread). For types whose every field is itself
/// lenient, so that an object never fails to decode.
pub(super) fn lenient_struct<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(Lenient(LenientStruct(std::marker::PhantomData::<T>)))
}

/// Like [`lenient_struct`], with the type's default in place of `None`.
pub(super) fn lenient_struct_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(lenient_struct(deserializer)?.unwrap_or_default())
}

/// What a lenient visitor accepts: a string, or a map.
trait Accept<'de> {
    type Value;
    fn string(self, text: &str) -> Option<Self::Value>;
    fn owned_string(self, text: String) -> Option<Self::Value>
    where
        Self: Sized,
    {
        self.string(&text)
    }
    fn map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Option<Self::Value>, A::Error>;
    fn expecting() -> &'static str;
}

struct LenientString;

impl<'de> Accept<'de> for LenientString {
    type Value = String;
    fn string(self, text: &str) -> Option<String> {
        Some(text.to_owned())
    }
    fn owned_string(self, text: String) -> Option<String> {
        Some(text)
    }
    fn map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }
    fn expecting() -> &'static str {
        "a string"
    }
}

struct LenientStruct<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Accept<'de> for LenientStruct<T> {
    type Value = T;
    fn string(self, _: &str) -> Option<T> {
        None
    }
    fn map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        // On an error (a duplicate key) the rest of this object is read first, so that the
        // error reaches the item with the input where the item's decoder expects it.
        let mut watch = Watch::new(map, false);
        match T::deserialize(serde::de::value::MapAccessDeserializer::new(&mut watch)) {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                watch.drain()?;
                Err(error)
            }
        }
    }
    fn expecting() -> &'static str {
        "an object"
    }
}

/// The visitor of [`lenient_string`] and [`lenient_struct`]: anything not accepted is `None`.
struct Lenient<A>(A);

impl<'de, A: Accept<'de>> serde::de::Visitor<'de> for Lenient<A> {
    type Value = Option<A::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(A::expecting())
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.string(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.0.owned_string(v))
    }
    fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        self.0.map(map)
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Like [`lenient`], with the type's default in place of `None`.
pub(super) fn lenient_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    Ok(lenient(deserializer)?.unwrap_or_default())
}

/// A count sent as a number or as a string of digits; anything else is `None`.
pub(super) fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A string, or a number kept as its text.
fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// `assignedLicense`: a string id, or an object whose `id` is the license's.
fn assigned_license<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s),
        serde_json::Value::Object(object) => object
            .get("id")
            .and_then(|id| id.as_str())
            .filter(|id| !id.trim().is_empty())
            .map(str::to_owned),
        _ => None,
    })
}

/// Tags with string values; `null`, non-objects and non-string values are dropped.
pub(super) fn tags<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Object(object) => object
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// One policy state (`Microsoft.PolicyInsights/policyStates/latest/queryResults`): a resource's
/// compliance with one policy assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyState {
    /// The resource evaluated.
    #[serde(default, deserialize_with = "string_or_default")]
    pub resource_id: String,
    /// `Compliant`, `NonCompliant`, `Unknown`, `Exempt`, …
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub compliance_state: Option<String>,
    /// Older answers carry only this.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub is_compliant: Option<bool>,
    /// The assignment that evaluated it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub policy_assignment_id: Option<String>,
    /// When it was evaluated (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub timestamp: Option<String>,
}

impl PolicyState {
    /// `Compliant`, `NonCompliant` or another state, from `complianceState` or `isCompliant`.
    pub fn state(&self) -> Option<&str> {
        self.compliance_state
            .as_deref()
            .or(match self.is_compliant {
                Some(true) => Some("Compliant"),
                Some(false) => Some("NonCompliant"),
                None => None,
            })
    }
}

/// One item of a list whose items are decoded one by one: the item, or why it could not be read
/// (so one bad payload makes only that resource inconclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<T> {
    /// The item was read.
    Read(T),
    /// The item could not be read.
    Invalid {
        /// Its ARM id, when the payload has one.
        id: String,
        /// What was wrong.
        error: String,
    },
}

/// The key that marks an [`Item::Invalid`] in a snapshot file.
const INVALID_KEY: &str = "esu_preflight_invalid";

impl<T: Serialize> Serialize for Item<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Read(value) => value.serialize(serializer),
            Item::Invalid { id, error } => {
                let mut object = serde_json::Map::new();
                object.insert("id".to_owned(), id.clone().into());
                object.insert(INVALID_KEY.to_owned(), error.clone().into());
                object.serialize(serializer)
            }
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Decoded in one pass, watching the keys for the id and the invalid marker: one bad item
        // never breaks the list (what is left of it is skipped), and no copy or
        // `serde_json::Value` tree is made of the good ones.
        deserializer.deserialize_any(ItemVisitor(std::marker::PhantomData))
    }
}

struct ItemVisitor<T>(std::marker::PhantomData<T>);

/// What an item that is not an object is called in its error.
const ITEM_EXPECTED: &str = "a resource (a JSON object)";

/// The item that is not an object.
fn not_an_object<T>(unexpected: serde::de::Unexpected<'_>) -> Item<T> {
    Item::Invalid {
        id: String::new(),
        error: format!("invalid type: {unexpected}, expected {ITEM_EXPECTED}"),
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for ItemVisitor<T> {
    type Value = Item<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(ITEM_EXPECTED)
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Item<T>, M::Error> {
        let mut watch = Watch::new(map, true);
        let decoded = T::deserialize(serde::de::value::MapAccessDeserializer::new(&mut watch));
        match decoded {
            Ok(item) => Ok(match watch.invalid {
                Some(error) => Item::Invalid {
                    id: watch.id.unwrap_or_default(),
                    error,
                },
                None => Item::Read(item),
            }),
            Err(error) => {
                // Skip what is left of this item, so that the list goes on.
                watch.drain()?;
                Ok(Item::Invalid {
                    id: watch.id.unwrap_or_default(),
                    error: without_position(&error.to_string()),
                })
            }
        }
    }

    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Item<T>, S::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(not_an_object(serde::de::Unexpected::Seq))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Signed(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Unsigned(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Str(v)))
    }
    fn visit_unit<E>(self) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Unit))
    }
    fn visit_none<E>(self) -> Result<Item<T>, E> {
        Ok(not_an_object(serde::de::Unexpected::Option))
    }
}

/// Which key an item's map is at.
#[derive(Clone, Copy)]
enum Watched {
    Id,
    Invalid,
    Other,
}

/// An item's map, passed on to the item's decoder, keeping the item's `id` and the invalid
/// marker of a snapshot file on the way (when `watch`), and able to read what is left of the map
/// after the decoder failed.
struct Watch<M> {
    map: M,
    watch: bool,
    key: Watched,
    /// A key was handed out and its value not yet read.
    pending: bool,
    id: Option<String>,
    invalid: Option<String>,
}

impl<'de, M: serde::de::MapAccess<'de>> Watch<M> {
    fn new(map: M, watch: bool) -> Self {
        Watch {
            map,
            watch,
            key: Watched::Other,
            pending: false,
            id: None,
            invalid: None,
        }
    }

    /// Reads what is left of the map (after the decoder gave up on a key).
    fn drain(&mut self) -> Result<(), M::Error> {
        if std::mem::take(&mut self.pending) {
            self.map.next_value::<serde::de::IgnoredAny>()?;
        }
        while self
            .map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(())
    }
}

/// A map key, borrowed from the input when it can be.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de, M: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for Watch<M> {
    type Error = M::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        use serde::de::IntoDeserializer;
        let Some(key) = self.map.next_key::<Key<'de>>()? else {
            return Ok(None);
        };
        let text = match &key {
            Key::Borrowed(text) => *text,
            Key::Owned(text) => text.as_str(),
        };
        self.key = match text {
            "id" if self.watch => Watched::Id,
            INVALID_KEY if self.watch => Watched::Invalid,
            _ => Watched::Other,
        };
        self.pending = true;
        match key {
            Key::Borrowed(text) => seed
                .deserialize(serde::de::value::BorrowedStrDeserializer::new(text))
                .map(Some),
            Key::Owned(text) => seed.deserialize(text.into_deserializer()).map(Some),
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, M::Error> {
        use serde::de::Error;
        self.pending = false;
        match self.key {
            Watched::Other => self.map.next_value_seed(seed),
            key => {
                let value: serde_json::Value = self.map.next_value()?;
                let text = value.as_str().map(str::to_owned);
                match key {
                    Watched::Id => self.id = text,
                    _ => self.invalid = text,
                }
                seed.deserialize(value).map_err(M::Error::custom)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A decoding error in words, without serde_json's "at line L column C" (the position within
/// one item's text means nothing to a reader).
fn without_position(text: &str) -> String {
    if let Some((head, tail)) = text.rsplit_once(" at line ")
        && let Some((line, column)) = tail.split_once(" column ")
        && !line.is_empty()
        && !column.is_empty()
        && line
            .bytes()
            .chain(column.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return head.to_owned();
    }
    text.to_owned()
}

impl<T> Item<T> {
    /// The item, when it was read.
    pub fn read(&self) -> Option<&T> {
        match self {
            Item::Read(item) => Some(item),
            Item::Invalid { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(path: &str) -> serde_json::Value {
        let full = format!(
            "{}/../../tests/fixtures/arm/hybridcompute/{path}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["responses"]["200"]["body"]
            .clone()
    }

    #[test]
    fn real_license_payloads_parse() {
        for path in ["License_Get.json", "2026-09-01/License_Get.json"] {
            let license: License = serde_json::from_value(fixture(path)).unwrap();
            let details = license.details();
            assert_eq!(
                details.target.as_deref(),
                Some("Windows Server 2012"),
                "{path}"
            );
            assert_eq!(details.processors, Some(6), "{path}");
            assert_eq!(details.license_type.as_deref(), Some("pCore"), "{path}");
            assert_eq!(details.state.as_deref(), Some("Activated"), "{path}");
        }
    }

    #[test]
    fn real_machine_payloads_parse_with_nulls_and_both_key_encodings() {
        for path in [
            "Machines_ListBySubscription.json",
            "2026-09-01/Machines_ListBySubscription.json",
        ] {
            let list = fixture(path)["value"].clone();
            let machines: Vec<Machine> = serde_json::from_value(list).unwrap();
            assert!(!machines.is_empty(), "{path}");
            let esu = machines[0].esu_profile().unwrap();
            assert_eq!(esu.esu_keys[0].license_status.as_deref(), Some("1"));
            assert_eq!(machines[0].properties.agent_version, None);
            assert_eq!(
                machines[0].properties.detected_properties.model.as_deref(),
                Some("Virtual Machine")
            );
        }
        let status: EsuKey = serde_json::from_value(json!({"licenseStatus": "Licensed"})).unwrap();
        assert_eq!(status.license_status.as_deref(), Some("Licensed"));
    }

    #[test]
    fn assigned_license_is_a_string_an_object_or_absent() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/licenses/l";
        for (body, expected) in [
            (json!({ "assignedLicense": id }), Some(id)),
            (
                json!({ "assignedLicense": { "id": id, "properties": {} } }),
                Some(id),
            ),
            (json!({}), None),
            (json!({ "assignedLicense": "" }), None),
            (json!({ "assignedLicense": 5 }), None),
        ] {
            let profile: EsuProfile = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(profile.assigned_license.as_deref(), expected, "{body}");
        }
        let expanded = fixture("Machines_Get_LicenseProfileInstanceView.json");
        let machine: Machine = serde_json::from_value(expanded).unwrap();
        assert!(
            machine
                .esu_profile()
                .unwrap()
                .assigned_license
                .as_deref()
                .unwrap()
                .ends_with("/Licenses/{licenseName}")
        );
    }

    #[test]
    fn numbers_as_strings_and_odd_types_never_fail_the_machine() {
        let machine: Machine = serde_json::from_value(json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m",
            "tags": { "ESU Usage": "WS2012 DISASTER RECOVERY", "n": 5 },
            "properties": {
                "status": 7,
                "osSku": ["odd"],
                "detectedProperties": { "coreCount": "24", "logicalCoreCount": 48 },
                "licenseProfile": null
            }
        }))
        .unwrap();
        assert_eq!(machine.properties.status, None);
        assert_eq!(machine.properties.os_sku, None);
        assert_eq!(machine.properties.detected_properties.core_count, Some(24));
        assert_eq!(
            machine.properties.detected_properties.logical_core_count,
            Some(48)
        );
        assert_eq!(machine.tags.len(), 1);
    }

    #[test]
    fn items_keep_bad_payloads_named_and_round_trip() {
        let items: Vec<Item<License>> = serde_json::from_value(json!([
            { "id": "/a", "properties": { "licenseDetails": { "processors": 16 } } },
            { "id": "/b", "name": { "not": "a string" }, "properties": 5 },
            "not even an object"
        ]))
        .unwrap();
        assert_eq!(items[0].read().unwrap().details().processors, Some(16));
        // Lenient fields make even odd shapes readable; only a non-object is invalid.
        assert!(items[1].read().is_some());
        match &items[2] {
            Item::Invalid { id, error } => {
                assert_eq!(id, "");
                assert!(!error.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let text = serde_json::to_string(&items).unwrap();
        let back: Vec<Item<License>> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, items);
    }

    #[test]
    fn a_bad_item_in_a_page_leaves_the_others_read() {
        // As ARM sends them (text, not a Value): a duplicate key, a non-object, nested junk.
        let text = r#"[
            {"id": "/m1", "name": "m1", "properties": {"status": "Connected"}},
            {"id": "/m2", "properties": {"status": "Connected", "status": "Disconnected",
              "deep": [1, {"x": [null, "y"]}]}, "name": "m2"},
            [1, 2, {"id": "/not-an-item"}],
            42,
            {"id": "/m3", "esu_preflight_invalid": "was unreadable when saved"},
            {"name": "no id", "id": {"odd": true}},
            {"id": "/m4", "name": "m4\u0020x", "tags": {"a": "b", "n": 1}}
        ]"#;
        let items: Vec<Item<Machine>> = serde_json::from_str(text).unwrap();
        assert_eq!(items.len(), 7);
        assert_eq!(items[0].read().map(|m| m.name.as_str()), Some("m1"));
        match &items[1] {
            Item::Invalid { id, error } => {
                assert_eq!(id, "/m2");
                assert!(error.contains("duplicate field"), "{error}");
                assert!(!error.contains("line"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        for item in &items[2..4] {
            match item {
                Item::Invalid { id, error } => {
                    assert_eq!(id, "");
                    assert!(error.contains("expected a resource"), "{error}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            items[4],
            Item::Invalid {
                id: "/m3".to_owned(),
                error: "was unreadable when saved".to_owned()
            }
        );
        assert_eq!(items[5].read().map(|m| m.id.as_str()), Some(""));
        let m4 = items[6].read().unwrap();
        assert_eq!(m4.name, "m4 x");
        assert_eq!(m4.tags.len(), 1);
    }
}
