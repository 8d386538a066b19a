//! Serde models of the ARM payloads the checks read.
//!
//! Only the fields the checks use are modelled; everything else in a payload is ignored, so new
//! fields never break parsing. Enumerations are *tolerant*: a value this version does not know
//! (ARM adds them: `Unregistered`, `Expired`, …) is kept verbatim in an `Other` variant instead of
//! failing the whole response.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

mod hybrid;
mod windows_esu;

pub use hybrid::{
    CloudMetadata, DetectedProperties, EsuKey, EsuProfile, Item, License, LicenseDetails,
    LicenseProperties, Machine, MachineLicenseProfile, MachineProperties, PolicyState,
    SoftwareAssurance,
};
pub use windows_esu::{MultipleActivationKey, MultipleActivationKeyProperties};

/// Declares a string enum whose unknown values are preserved in `Other(String)`.
///
/// Matching is case-insensitive because ARM is not consistent about casing; the canonical
/// spelling is what serialization writes back.
macro_rules! tolerant_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of esu-preflight does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as ARM spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $( if value.eq_ignore_ascii_case($text) { return Self::$variant; } )+
                Self::Other(value.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::from(text.as_str()))
            }
        }
    };
}

tolerant_enum! {
    /// `state` of a subscription (`GET /subscriptions/{id}`).
    pub enum SubscriptionState {
        /// Usable.
        Enabled => "Enabled",
        /// Usable, but with a pending problem (e.g. billing).
        Warned => "Warned",
        /// Payment overdue: reads work, writes may not.
        PastDue => "PastDue",
        /// Disabled: no new resources.
        Disabled => "Disabled",
        /// Deleted.
        Deleted => "Deleted",
    }
}

tolerant_enum! {
    /// `registrationState` of a resource provider on a subscription.
    pub enum RegistrationState {
        /// Registered: the provider's resource types can be used.
        Registered => "Registered",
        /// Registration requested and in progress (can take several minutes).
        Registering => "Registering",
        /// Never registered.
        NotRegistered => "NotRegistered",
        /// Registered once, then unregistered (seen in real traffic).
        Unregistered => "Unregistered",
        /// Unregistration in progress.
        Unregistering => "Unregistering",
    }
}

/// A subscription, as `GET /subscriptions/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `/subscriptions/{id}`.
    #[serde(default)]
    pub id: String,
    /// The subscription GUID.
    #[serde(default)]
    pub subscription_id: String,
    /// The directory (tenant) the subscription belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The name shown in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Enabled`, `Warned`, `PastDue`, `Disabled`, `Deleted`, or a value not known yet.
    pub state: SubscriptionState,
}

/// A resource provider's registration on a subscription (`GET /subscriptions/{id}/providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// `/subscriptions/{id}/providers/{namespace}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The namespace, e.g. `Microsoft.HybridCompute`.
    pub namespace: String,
    /// The registration state. Absent, `null` or not a string in odd payloads: then it is
    /// [unknown](RegistrationState::is_unknown), and only this provider's checks are inconclusive.
    #[serde(
        default = "RegistrationState::unknown",
        deserialize_with = "lenient_state"
    )]
    pub registration_state: RegistrationState,
    /// `RegistrationRequired` or `RegistrationFree`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_policy: Option<String>,
}

impl RegistrationState {
    /// The state of a provider whose payload did not say (absent, `null`, not a string).
    pub fn unknown() -> Self {
        Self::Other(String::new())
    }

    /// Whether the payload did not say what the state is.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Other(text) if text.trim().is_empty())
    }

    /// Whether the provider's resource types can be used now.
    pub fn is_registered(&self) -> bool {
        *self == Self::Registered
    }
}

/// One entry of the caller's effective permissions
/// (`GET {scope}/providers/Microsoft.Authorization/permissions`).
///
/// An action is allowed when *some* entry has a matching `actions` pattern and that *same* entry
/// has no matching `notActions` pattern; see [`crate::permissions`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Allowed control-plane actions (patterns with `*`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<String>,
    /// Control-plane actions excluded from `actions` of this entry.
    #[serde(default, deserialize_with = "null_as_default")]
    pub not_actions: Vec<String>,
    /// Allowed data-plane actions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data_actions: Vec<String>,
    /// Data-plane actions excluded from `dataActions` of this entry.
    #[serde(default, deserialize_with = "null_as_default")]
    pub not_data_actions: Vec<String>,
}

/// Reads a registration state from any JSON: a string is a state (known or not); anything else
/// (`null`, a number, an object) is [`RegistrationState::unknown`], never a parse failure of the
/// whole provider list.
fn lenient_state<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<RegistrationState, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => RegistrationState::from(text.as_str()),
        _ => RegistrationState::unknown(),
    })
}

/// A resource group (`GET /subscriptions/{id}/resourcegroups/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// `/subscriptions/{id}/resourceGroups/{name}`.
    #[serde(default)]
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The region, e.g. `eastus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// One entry of a management group's descendants
/// (`GET /providers/Microsoft.Management/managementGroups/{id}/descendants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagementGroupDescendant {
    /// `/subscriptions/{guid}` or `/providers/Microsoft.Management/managementGroups/{id}`.
    #[serde(default)]
    pub id: String,
    /// `Microsoft.Management/managementGroups/subscriptions` or
    /// `Microsoft.Management/managementGroups`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The subscription GUID or the group id.
    #[serde(default)]
    pub name: String,
}

impl ManagementGroupDescendant {
    /// The subscription GUID, when this descendant is a subscription.
    pub fn subscription_id(&self) -> Option<&str> {
        self.kind
            .eq_ignore_ascii_case("Microsoft.Management/managementGroups/subscriptions")
            .then_some(self.name.as_str())
            .filter(|name| !name.is_empty())
    }
}

/// Reads `null` as the type's default (ARM sometimes sends `null` for empty arrays).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_registration_state_is_kept() {
        let provider: Provider = serde_json::from_str(
            r#"{"namespace":"Microsoft.Sql","registrationState":"Quiescing","extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(
            provider.registration_state,
            RegistrationState::Other("Quiescing".into())
        );
        assert_eq!(
            serde_json::to_value(&provider.registration_state).unwrap(),
            "Quiescing"
        );
    }

    #[test]
    fn states_match_case_insensitively() {
        assert_eq!(
            RegistrationState::from("unregistered"),
            RegistrationState::Unregistered
        );
        assert_eq!(
            SubscriptionState::from("ENABLED"),
            SubscriptionState::Enabled
        );
    }

    #[test]
    fn missing_or_odd_registration_state_is_unknown() {
        for body in [
            r#"{"namespace":"Microsoft.Sql"}"#,
            r#"{"namespace":"Microsoft.Sql","registrationState":null}"#,
            r#"{"namespace":"Microsoft.Sql","registrationState":5}"#,
            r#"{"namespace":"Microsoft.Sql","registrationState":{"a":1}}"#,
        ] {
            let provider: Provider = serde_json::from_str(body).unwrap();
            assert!(provider.registration_state.is_unknown(), "{body}");
            assert!(!provider.registration_state.is_registered(), "{body}");
        }
        let known: Provider = serde_json::from_str(
            r#"{"namespace":"Microsoft.Sql","registrationState":"Quiescing"}"#,
        )
        .unwrap();
        assert!(!known.registration_state.is_unknown());
    }

    #[test]
    fn management_group_descendants_name_subscriptions() {
        let sub: ManagementGroupDescendant = serde_json::from_str(
            r#"{"id":"/subscriptions/728bcbe4","type":"Microsoft.Management/managementGroups/subscriptions","name":"728bcbe4"}"#,
        )
        .unwrap();
        assert_eq!(sub.subscription_id(), Some("728bcbe4"));
        let group: ManagementGroupDescendant = serde_json::from_str(
            r#"{"id":"/providers/Microsoft.Management/managementGroups/g","type":"Microsoft.Management/managementGroups","name":"g"}"#,
        )
        .unwrap();
        assert_eq!(group.subscription_id(), None);
    }

    #[test]
    fn null_permission_lists_are_empty() {
        let p: Permission = serde_json::from_str(r#"{"actions":["*"],"notActions":null}"#).unwrap();
        assert_eq!(p.actions, ["*"]);
        assert!(p.not_actions.is_empty());
    }
}
