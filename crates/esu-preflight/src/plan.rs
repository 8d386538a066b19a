//! The license plan: what the engineer intends to provision (`--license-plan FILE`).
//!
//! It mirrors the ARM license body (see DESIGN's "License plan"). [`evaluate`](crate::evaluate)
//! takes one in its [`EvalInput`](crate::checks::EvalInput); an empty plan means "check what
//! exists". Reading a plan file, and the checks that read plans, come with the license checks.

use serde::{Deserialize, Serialize};

/// The licenses to provision, and the machines to link to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePlan {
    /// The planned licenses (`[[license]]` in TOML).
    #[serde(default, rename = "license")]
    pub licenses: Vec<PlannedLicense>,
}

impl LicensePlan {
    /// An empty plan.
    pub const fn new() -> Self {
        Self {
            licenses: Vec::new(),
        }
    }

    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.licenses.is_empty()
    }
}

/// One planned ESU license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedLicense {
    /// The license resource's name.
    pub name: String,
    /// The subscription (GUID); `None`: the first subscription in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The resource group it is created in.
    pub resource_group: String,
    /// The region, e.g. `eastus`.
    pub location: String,
    /// The license target, e.g. `Windows Server 2012 R2` (an open string).
    pub target: String,
    /// `Standard` or `Datacenter` (an open string).
    pub edition: String,
    /// `pCore` or `vCore` (an open string).
    #[serde(rename = "type")]
    pub license_type: String,
    /// The number of cores.
    pub processors: u32,
    /// `Activated` or `Deactivated`.
    #[serde(default = "activated")]
    pub state: String,
    /// The ARM ids of the machines to link.
    #[serde(default)]
    pub machines: Vec<String>,
}

impl PlannedLicense {
    /// The subscription the license is planned in: its own, else `default` (the first in scope).
    pub fn subscription_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.subscription.as_deref().unwrap_or(default)
    }

    /// The ARM id the license will have.
    pub fn resource_id(&self, default_subscription: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.HybridCompute/licenses/{}",
            self.subscription_or(default_subscription),
            self.resource_group,
            self.name
        )
    }

    /// The body of the license as ARM takes it (`PUT …/licenses/{name}`, `validateLicense`).
    pub fn arm_body(&self) -> serde_json::Value {
        serde_json::json!({
            "location": self.location,
            "properties": {
                "licenseType": "ESU",
                "licenseDetails": {
                    "state": self.state,
                    "target": self.target,
                    "edition": self.edition,
                    "type": self.license_type,
                    "processors": self.processors,
                }
            }
        })
    }
}

fn activated() -> String {
    "Activated".to_owned()
}
