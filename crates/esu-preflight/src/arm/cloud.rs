//! Azure clouds: the ARM endpoint, the token scope and the sign-in configuration of each.

use azure_core::cloud::CloudConfiguration;
use std::{fmt, str::FromStr};
use url::Url;

/// An Azure cloud, named as `az cloud list` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

    /// The `aud` claims of a token this cloud's ARM accepts: its ARM endpoint and its classic
    /// management audience (`activeDirectoryResourceId`), with and without the trailing slash,
    /// and the application id of the Azure Service Management API.
    ///
    /// ```
    /// use esu_preflight::arm::Cloud;
    /// assert!(Cloud::AzureCloud.arm_audiences().contains(&"https://management.core.windows.net/"));
    /// ```
    pub fn arm_audiences(self) -> &'static [&'static str] {
        match self {
            Cloud::AzureCloud => &[
                "https://management.azure.com",
                "https://management.azure.com/",
                "https://management.core.windows.net",
                "https://management.core.windows.net/",
                AZURE_SERVICE_MANAGEMENT_APP_ID,
            ],
            Cloud::AzureUSGovernment => &[
                "https://management.usgovcloudapi.net",
                "https://management.usgovcloudapi.net/",
                "https://management.core.usgovcloudapi.net",
                "https://management.core.usgovcloudapi.net/",
                AZURE_SERVICE_MANAGEMENT_APP_ID,
            ],
            Cloud::AzureChinaCloud => &[
                "https://management.chinacloudapi.cn",
                "https://management.chinacloudapi.cn/",
                "https://management.core.chinacloudapi.cn",
                "https://management.core.chinacloudapi.cn/",
                AZURE_SERVICE_MANAGEMENT_APP_ID,
            ],
        }
    }
}

/// The application id of "Windows Azure Service Management API" (ARM), a valid `aud` too.
const AZURE_SERVICE_MANAGEMENT_APP_ID: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";

/// Whether the URL's host is a loopback address (`127.0.0.0/8`, `::1`) or `localhost`.
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// A warning when `endpoint` is neither `cloud`'s ARM endpoint nor a loopback host: the bearer
/// token of the cloud is about to be sent there. `None` when there is nothing to say.
///
/// The text has no `warning:` prefix; the caller decides how to show it.
///
/// ```
/// use esu_preflight::arm::{Cloud, endpoint_warning};
/// let odd = url::Url::parse("https://example.net").unwrap();
/// let text = endpoint_warning(Cloud::AzureCloud, &odd).unwrap();
/// assert!(text.contains("https://example.net") && text.contains("https://management.azure.com"));
/// assert_eq!(endpoint_warning(Cloud::AzureCloud, &Cloud::AzureCloud.arm_endpoint()), None);
/// let local = url::Url::parse("http://127.0.0.1:8080").unwrap();
/// assert_eq!(endpoint_warning(Cloud::AzureCloud, &local), None);
/// ```
pub fn endpoint_warning(cloud: Cloud, endpoint: &Url) -> Option<String> {
    let expected = cloud.arm_endpoint();
    if endpoint.origin() == expected.origin() || is_loopback_host(endpoint) {
        return None;
    }
    Some(format!(
        "sending your token to {} (not {}'s ARM endpoint {})",
        endpoint.origin().ascii_serialization(),
        cloud,
        expected.origin().ascii_serialization(),
    ))
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

    #[test]
    fn audiences_include_the_arm_endpoint_of_each_cloud() {
        for cloud in Cloud::ALL {
            let endpoint = cloud.arm_endpoint();
            let origin = endpoint.origin().ascii_serialization();
            assert!(cloud.arm_audiences().contains(&origin.as_str()), "{cloud}");
            assert!(
                cloud.arm_audiences().contains(&endpoint.as_str()),
                "{cloud}"
            );
        }
        assert!(
            !Cloud::AzureUSGovernment
                .arm_audiences()
                .contains(&"https://management.azure.com")
        );
    }

    #[test]
    fn endpoint_warning_names_a_foreign_endpoint_only() {
        let url = |s: &str| Url::parse(s).unwrap();
        let text = endpoint_warning(Cloud::AzureCloud, &url("https://example.net/arm/")).unwrap();
        assert_eq!(
            text,
            "sending your token to https://example.net (not AzureCloud's ARM endpoint \
             https://management.azure.com)"
        );
        // Another cloud's ARM is foreign too.
        let gov = Cloud::AzureUSGovernment.arm_endpoint();
        assert!(endpoint_warning(Cloud::AzureCloud, &gov).is_some());
        assert!(endpoint_warning(Cloud::AzureUSGovernment, &gov).is_none());
        // Same host, other port or scheme: foreign.
        let port = url("https://management.azure.com:8443");
        assert!(endpoint_warning(Cloud::AzureCloud, &port).is_some());
        for local in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "https://[::1]:9000/",
            "http://localhost:1234",
            "https://LOCALHOST.",
            "https://management.azure.com/",
            "https://MANAGEMENT.azure.com",
        ] {
            assert_eq!(
                endpoint_warning(Cloud::AzureCloud, &url(local)),
                None,
                "{local}"
            );
        }
        // A name that merely starts with "localhost" is not loopback.
        assert!(
            endpoint_warning(Cloud::AzureCloud, &url("https://localhost.example.com")).is_some()
        );
    }
}
