//! Microsoft.WindowsESU: the Multiple Activation Keys (MAK) of the Windows Server 2008 / 2008 R2
//! ESU program, only the fields the checks read.
//!
//! The key itself (`properties.multipleActivationKey`) is a product key: it is never read, so it
//! never reaches a snapshot file, a report or a log.

use super::hybrid::{count, lenient, lenient_default, string_or_default};
use serde::{Deserialize, Serialize};

/// A Multiple Activation Key resource (`Microsoft.WindowsESU/multipleActivationKeys`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipleActivationKey {
    /// The ARM id.
    #[serde(default, deserialize_with = "string_or_default")]
    pub id: String,
    /// The name (the portal's "key name", e.g. `Agreement01`).
    #[serde(default, deserialize_with = "string_or_default")]
    pub name: String,
    /// The region.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub location: Option<String>,
    /// `properties`.
    #[serde(default, deserialize_with = "lenient_default")]
    pub properties: MultipleActivationKeyProperties,
}

/// `properties` of a [`MultipleActivationKey`] (without the key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultipleActivationKeyProperties {
    /// When the key stops working (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub expiration_date: Option<String>,
    /// `WindowsServer2008`, `WindowsServer2008R2` or `Windows7` (an open string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub os_type: Option<String>,
    /// `SupplementalServicing` or `PremiumAssurance`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub support_type: Option<String>,
    /// How many servers the key covers (1–5,000); a number or a string of digits.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count"
    )]
    pub installed_server_number: Option<u32>,
    /// The Volume Licensing agreement number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub agreement_number: Option<String>,
    /// The attestation that the servers are eligible.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub is_eligible: Option<bool>,
    /// `Succeeded`, `Failed`, `Canceled`, `Accepted`, `Provisioning`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub provisioning_state: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Item;

    #[test]
    fn the_product_key_is_never_kept() {
        let payload = serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.WindowsESU/multipleActivationKeys/k",
            "name": "k",
            "location": "East US",
            "properties": {
                "multipleActivationKey": "aaaaa-bbbbb-ccccc-ddddd-eeeee",
                "expirationDate": "2020-11-21T21:12:26+00:00",
                "osType": "WindowsServer2008",
                "installedServerNumber": "100",
                "isEligible": true,
                "provisioningState": "Succeeded"
            }
        });
        let key: MultipleActivationKey = serde_json::from_value(payload).unwrap();
        assert_eq!(key.properties.installed_server_number, Some(100));
        assert_eq!(key.properties.is_eligible, Some(true));
        let written = serde_json::to_string(&key).unwrap();
        assert!(!written.contains("aaaaa"), "{written}");
    }

    #[test]
    fn odd_fields_are_absent_not_errors() {
        let item: Item<MultipleActivationKey> = serde_json::from_value(serde_json::json!({
            "id": "/k", "properties": {"installedServerNumber": "many", "isEligible": "yes",
                                       "expirationDate": null}
        }))
        .unwrap();
        let Item::Read(key) = item else {
            panic!("read")
        };
        assert_eq!(key.properties.installed_server_number, None);
        assert_eq!(key.properties.is_eligible, None);
    }
}
