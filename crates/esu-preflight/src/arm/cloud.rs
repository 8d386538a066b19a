//! Azure clouds: the ARM endpoint, the token scope and the sign-in configuration of each.

use azure_core::cloud::CloudConfiguration;
use std::{fmt, str::FromStr};
use url::Url;

/// An Azure cloud, named as `az cloud list` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// Azure public cloud (`https://management.azure.com`).
    #[default]
    AzureCloud,
    /// Azure Government (`https://management.usgovcloudapi.net`).
    AzureUSGovernment,
    /// Azure operated by 21Vianet (`https://management.chinacloudapi.cn`).
    AzureChinaCloud,
}

/// A cloud name that is not one of [`Cloud::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Azure cloud '{name}'; expected one of: AzureCloud, AzureUSGovernment, AzureChinaCloud"
)]
pub struct ParseCloudError {
    /// The name that was given.
    pub name: String,
}

impl Cloud {
    /// Every cloud, in the order of [`Cloud::NAMES`].
    pub const ALL: [Cloud; 3] = [
        Cloud::AzureCloud,
        Cloud::AzureUSGovernment,
        Cloud::AzureChinaCloud,
    ];

    /// The names accepted by [`FromStr`] (case-insensitively) and written by [`fmt::Display`].
    pub const NAMES: [&'static str; 3] = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"];

    /// The cloud's name, e.g. `AzureCloud`.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "AzureCloud",
            Cloud::AzureUSGovernment => "AzureUSGovernment",
            Cloud::AzureChinaCloud => "AzureChinaCloud",
        }
    }

    fn arm_endpoint_str(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "https://management.azure.com",
            Cloud::AzureUSGovernment => "https://management.usgovcloudapi.net",
            Cloud::AzureChinaCloud => "https://management.chinacloudapi.cn",
        }
    }

    /// The Azure Resource Manager endpoint of the cloud, e.g. `https://management.azure.com/`.
    pub fn arm_endpoint(self) -> Url {
        // Constant, valid URLs (checked by the tests): parsing cannot fail.
        Url::parse(self.arm_endpoint_str()).expect("constant ARM endpoint URLs are valid")
    }

    /// The sign-in host of the cloud, e.g. `https://login.microsoftonline.com`.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "https://login.microsoftonline.com",
            Cloud::AzureUSGovernment => "https://login.microsoftonline.us",
            Cloud::AzureChinaCloud => "https://login.chinacloudapi.cn",
        }
    }

    /// The `azure_core` cloud configuration, for credentials (`ClientOptions::cloud`).
    pub fn cloud_configuration(self) -> CloudConfiguration {
        match self {
            Cloud::AzureCloud => CloudConfiguration::AzurePublic,
            Cloud::AzureUSGovernment => CloudConfiguration::AzureGovernment,
            Cloud::AzureChinaCloud => CloudConfiguration::AzureChina,
        }
    }

    /// The token scope for this cloud's ARM endpoint, e.g. `https://management.azure.com/.default`.
    pub fn token_scope(self) -> String {
        token_scope(&self.arm_endpoint())
    }
}

/// The token scope for an ARM endpoint: `<endpoint origin>/.default`.
///
/// `https://management.azure.com/` gives `https://management.azure.com/.default`;
/// `http://127.0.0.1:8080/x` gives `http://127.0.0.1:8080/.default`.
pub fn token_scope(endpoint: &Url) -> String {
    format!("{}/.default", endpoint.origin().ascii_serialization())
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cloud {
    type Err = ParseCloudError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Cloud::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseCloudError { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for cloud in Cloud::ALL {
            assert_eq!(cloud.to_string().parse::<Cloud>(), Ok(cloud));
            assert_eq!(cloud.name().to_lowercase().parse::<Cloud>(), Ok(cloud));
            assert_eq!(cloud.name().to_uppercase().parse::<Cloud>(), Ok(cloud));
        }
        assert!("AzureGermanCloud".parse::<Cloud>().is_err());
        assert!("".parse::<Cloud>().is_err());
    }

    #[test]
    fn endpoints_and_scopes() {
        assert_eq!(
            Cloud::AzureCloud.arm_endpoint().as_str(),
            "https://management.azure.com/"
        );
        assert_eq!(
            Cloud::AzureUSGovernment.arm_endpoint().as_str(),
            "https://management.usgovcloudapi.net/"
        );
        assert_eq!(
            Cloud::AzureChinaCloud.arm_endpoint().as_str(),
            "https://management.chinacloudapi.cn/"
        );
        assert_eq!(
            Cloud::AzureCloud.token_scope(),
            "https://management.azure.com/.default"
        );
        let local = Url::parse("http://127.0.0.1:8080/arm/").unwrap();
        assert_eq!(token_scope(&local), "http://127.0.0.1:8080/.default");
        assert_eq!(
            Cloud::AzureChinaCloud.cloud_configuration(),
            CloudConfiguration::AzureChina
        );
    }
}
