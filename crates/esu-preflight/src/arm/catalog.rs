//! The request catalogue: every ARM request esu-preflight makes, with its method, path,
//! api-version, model and paging, in one place. Gather, fix and the test mock build their
//! requests here; no path or api-version is written by hand anywhere else.
//!
//! - [`ArmRequest<T>`]: one request whose answer is decoded as `T`
//!   ([`ArmClient::fetch`](crate::arm::ArmClient::fetch),
//!   [`ArmClient::fetch_opt`](crate::arm::ArmClient::fetch_opt)).
//! - [`ArmList<T>`]: a paged list of `T` items, with one of the three kinds of [`Paging`] ARM
//!   uses ([`ArmClient::fetch_all`](crate::arm::ArmClient::fetch_all)).
//!
//! Path segments taken from input (subscription ids, resource group names, namespaces…) are
//! percent-encoded, so a `/`, `?` or `#` in them cannot change the request. Arguments documented
//! as *scopes* or *ids* are ARM resource ids (they start with `/`) and are used as given.
//!
//! Endpoints whose models do not exist yet use [`serde_json::Value`].
//!
//! ```
//! use esu_preflight::arm::catalog;
//!
//! let providers = catalog::providers("00000000-0000-0000-0000-000000000000");
//! assert_eq!(providers.path(), "/subscriptions/00000000-0000-0000-0000-000000000000/providers");
//! assert_eq!(providers.api_version(), catalog::api_version::PROVIDERS);
//! assert_eq!(providers.paging(), catalog::Paging::NextLink);
//! ```

use crate::models::{
    Item, License, Machine, ManagementGroupDescendant, MultipleActivationKey, Permission,
    PolicyState, Provider, ResourceGroup, Subscription,
};
use serde_json::{Value, json};
use std::{fmt, marker::PhantomData};

/// The api-versions used, one per ARM area (see `arm-api.md`, "api-versions chosen").
pub mod api_version {
    /// `GET /subscriptions/{id}` (Microsoft.Resources).
    pub const SUBSCRIPTION: &str = "2022-12-01";
    /// Resource providers: list, get, register (Microsoft.Resources).
    pub const PROVIDERS: &str = "2021-04-01";
    /// Resource groups (Microsoft.Resources).
    pub const RESOURCE_GROUPS: &str = "2021-04-01";
    /// RBAC: permissions, role assignments, deny assignments (Microsoft.Authorization).
    pub const PERMISSIONS: &str = "2022-04-01";
    /// RBAC role and deny assignments (Microsoft.Authorization), same as [`PERMISSIONS`].
    pub const RBAC: &str = "2022-04-01";
    /// Azure Policy assignments, definitions and set definitions (Microsoft.Authorization).
    pub const POLICY: &str = "2023-04-01";
    /// Policy exemptions (preview only; no stable version exists).
    pub const POLICY_EXEMPTIONS: &str = "2022-07-01-preview";
    /// Microsoft.HybridCompute licences, machines, `validateLicense`: the newest stable
    /// version, whose licence and machine models carry the Software Assurance attestation
    /// (`licenseProfile.softwareAssurance`) the Windows Server 2016 ESU programme needs
    /// (unverified whether it accepts licence target "Windows Server 2016": the spec examples
    /// only show 2012 targets).
    pub const HYBRID_COMPUTE: &str = "2026-09-01";
    /// Microsoft.WindowsESU (2008 / 2008 R2 Multiple Activation Keys): the only version there is.
    pub const WINDOWS_ESU: &str = "2019-09-16-preview";
    /// Azure Resource Graph queries.
    pub const RESOURCE_GRAPH: &str = "2024-04-01";
    /// Policy Insights: policy states, `checkPolicyRestrictions`.
    pub const POLICY_INSIGHTS: &str = "2024-10-01";
    /// Management groups and their descendants (Microsoft.Management).
    pub const MANAGEMENT_GROUPS: &str = "2023-04-01";
}

/// An HTTP method of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpMethod {
    /// GET: reads.
    Get,
    /// POST: queries that read (Resource Graph, Policy Insights, validations) and actions
    /// (provider registration, refused by a read-only client).
    Post,
}

impl HttpMethod {
    /// The method's name, e.g. `GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a list continues on its next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Paging {
    /// `{"value": […], "nextLink": "<absolute URL>"}`: GET the link (most of ARM).
    NextLink,
    /// `{"value": […], "@odata.nextLink": "<absolute URL>"}`: POST the link again with the same
    /// body (Policy Insights).
    ODataNextLink,
    /// `{"data": […], "$skipToken": "…", "resultTruncated": "true"|"false"}`: POST the same
    /// request again with `options.$skipToken` in the body (Resource Graph).
    SkipToken,
}

/// What a request consists of.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    method: HttpMethod,
    path: String,
    query: Vec<(String, String)>,
    api_version: &'static str,
    body: Option<Value>,
}

impl Spec {
    fn get(path: String, api_version: &'static str) -> Self {
        Spec {
            method: HttpMethod::Get,
            path,
            query: Vec::new(),
            api_version,
            body: None,
        }
    }

    fn post(path: String, api_version: &'static str, body: Option<Value>) -> Self {
        Spec {
            method: HttpMethod::Post,
            body,
            ..Spec::get(path, api_version)
        }
    }

    fn with_query(mut self, key: &str, value: &str) -> Self {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }
}

macro_rules! accessors {
    () => {
        /// The HTTP method.
        pub fn method(&self) -> HttpMethod {
            self.spec.method
        }

        /// The path (no query, no api-version), e.g. `/subscriptions/{id}/providers`.
        pub fn path(&self) -> &str {
            &self.spec.path
        }

        /// Query parameters besides `api-version` (e.g. `$filter`), unencoded.
        pub fn query(&self) -> &[(String, String)] {
            &self.spec.query
        }

        /// The api-version.
        pub fn api_version(&self) -> &'static str {
            self.spec.api_version
        }

        /// The JSON body, if any (none: sent with `Content-Length: 0`).
        pub fn body(&self) -> Option<&Value> {
            self.spec.body.as_ref()
        }

        /// What makes this request the same as another: method, path (ARM paths are
        /// case-insensitive), query, api-version and body. Two requests with one key read the
        /// same thing, so a run need send only one of them.
        pub fn key(&self) -> String {
            let mut key = format!(
                "{} {}?api-version={}",
                self.spec.method.as_str(),
                self.spec.path.to_ascii_lowercase(),
                self.spec.api_version
            );
            for (name, value) in &self.spec.query {
                key.push_str(&format!("&{name}={value}"));
            }
            if let Some(body) = &self.spec.body {
                key.push_str(&format!(" {body}"));
            }
            key
        }

        /// The same request with query parameter `key` set to `value` (replacing it).
        #[must_use]
        pub fn with_query(mut self, key: &str, value: &str) -> Self {
            self.spec = self.spec.with_query(key, value);
            self
        }
    };
}

/// One ARM request whose answer is decoded as `T`.
pub struct ArmRequest<T> {
    spec: Spec,
    _model: PhantomData<fn() -> T>,
}

impl<T> ArmRequest<T> {
    fn new(spec: Spec) -> Self {
        ArmRequest {
            spec,
            _model: PhantomData,
        }
    }

    accessors!();
}

impl<T> Clone for ArmRequest<T> {
    fn clone(&self) -> Self {
        ArmRequest::new(self.spec.clone())
    }
}

impl<T> fmt::Debug for ArmRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmRequest")
            .field("method", &self.spec.method)
            .field("path", &self.spec.path)
            .field("query", &self.spec.query)
            .field("api_version", &self.spec.api_version)
            .field("model", &std::any::type_name::<T>())
            .finish()
    }
}

/// A paged ARM list of `T` items.
pub struct ArmList<T> {
    spec: Spec,
    paging: Paging,
    expected_items: usize,
    _model: PhantomData<fn() -> T>,
}

/// The most items an [`ArmList::expecting`] hint reserves room for.
const MAX_EXPECTED_ITEMS: usize = 200_000;

impl<T> ArmList<T> {
    fn new(spec: Spec, paging: Paging) -> Self {
        ArmList {
            spec,
            paging,
            expected_items: 0,
            _model: PhantomData,
        }
    }

    accessors!();

    /// How the list continues on its next page.
    pub fn paging(&self) -> Paging {
        self.paging
    }

    /// The list, expected to hold about `items` items (e.g. as counted by Resource Graph):
    /// room for them is made once, before the first page, instead of growing the list page by
    /// page (each growth copies it; a fleet's machine lists are megabytes). Only a hint (capped
    /// at 200,000): the list read is the same, whatever it holds. Not part of the request's
    /// [`key`](ArmList::key).
    ///
    /// ```
    /// let list = esu_preflight::arm::catalog::machines("00000000-0000-0000-0000-000000000000")
    ///     .expecting(5_000);
    /// assert_eq!(list.expected_items(), 5_000);
    /// ```
    #[must_use]
    pub fn expecting(mut self, items: u64) -> Self {
        self.expected_items = usize::try_from(items)
            .unwrap_or(MAX_EXPECTED_ITEMS)
            .min(MAX_EXPECTED_ITEMS);
        self
    }

    /// The items the list is expected to hold ([`ArmList::expecting`]; 0: unknown).
    pub fn expected_items(&self) -> usize {
        self.expected_items
    }
}

impl<T> Clone for ArmList<T> {
    fn clone(&self) -> Self {
        ArmList {
            expected_items: self.expected_items,
            ..ArmList::new(self.spec.clone(), self.paging)
        }
    }
}

impl<T> fmt::Debug for ArmList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmList")
            .field("method", &self.spec.method)
            .field("path", &self.spec.path)
            .field("query", &self.spec.query)
            .field("api_version", &self.spec.api_version)
            .field("paging", &self.paging)
            .field("item", &std::any::type_name::<T>())
            .finish()
    }
}

/// A path segment from input, percent-encoded: everything but unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) and `( )` is escaped, so `/`, `?`, `#`, `%` cannot change the path.
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'(' | b')' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A scope or resource id as given, without a trailing `/`.
fn scope_path(scope: &str) -> String {
    scope.trim_end_matches('/').to_owned()
}

fn sub_path(subscription_id: &str) -> String {
    format!("/subscriptions/{}", segment(subscription_id))
}

fn rg_path(subscription_id: &str, resource_group: &str) -> String {
    format!(
        "{}/resourceGroups/{}",
        sub_path(subscription_id),
        segment(resource_group)
    )
}

const AT_SCOPE: &str = "atScope()";

// ---- Microsoft.Resources ----------------------------------------------------------------

/// `GET /subscriptions/{id}`: the subscription (404 `SubscriptionNotFound`, or 403).
pub fn subscription(subscription_id: &str) -> ArmRequest<Subscription> {
    ArmRequest::new(Spec::get(
        sub_path(subscription_id),
        api_version::SUBSCRIPTION,
    ))
}

/// `GET /subscriptions/{id}/providers`: every resource provider and its registration state.
pub fn providers(subscription_id: &str) -> ArmList<Provider> {
    ArmList::new(
        Spec::get(
            format!("{}/providers", sub_path(subscription_id)),
            api_version::PROVIDERS,
        ),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/providers/{namespace}`: one resource provider.
pub fn provider(subscription_id: &str, namespace: &str) -> ArmRequest<Provider> {
    ArmRequest::new(Spec::get(
        format!(
            "{}/providers/{}",
            sub_path(subscription_id),
            segment(namespace)
        ),
        api_version::PROVIDERS,
    ))
}

/// `POST /subscriptions/{id}/providers/{namespace}/register` (empty body): registers a
/// provider; ARM answers the provider, usually `Registering`. Changes Azure: a read-only client
/// refuses it.
pub fn register_provider(subscription_id: &str, namespace: &str) -> ArmRequest<Provider> {
    ArmRequest::new(Spec::post(
        format!(
            "{}/providers/{}/register",
            sub_path(subscription_id),
            segment(namespace)
        ),
        api_version::PROVIDERS,
        None,
    ))
}

/// `GET /subscriptions/{id}/resourceGroups/{name}`: a resource group (use
/// [`fetch_opt`](crate::arm::ArmClient::fetch_opt): 404 `ResourceGroupNotFound` = absent).
/// Model: [`ResourceGroup`].
pub fn resource_group(subscription_id: &str, resource_group: &str) -> ArmRequest<ResourceGroup> {
    ArmRequest::new(Spec::get(
        rg_path(subscription_id, resource_group),
        api_version::RESOURCE_GROUPS,
    ))
}

// ---- Microsoft.Management ---------------------------------------------------------------

/// `GET /providers/Microsoft.Management/managementGroups/{id}`: the group itself (403 or 404
/// when the caller cannot see it). Model: raw (`properties.displayName`, `properties.details`).
pub fn management_group(group_id: &str) -> ArmRequest<Value> {
    ArmRequest::new(Spec::get(
        format!(
            "/providers/Microsoft.Management/managementGroups/{}",
            segment(group_id)
        ),
        api_version::MANAGEMENT_GROUPS,
    ))
}

/// `GET /providers/Microsoft.Management/managementGroups/{id}/descendants`: every group and
/// subscription below the group, all depths. Items ([`ManagementGroupDescendant`]): `type`
/// `Microsoft.Management/managementGroups` or `…/managementGroups/subscriptions`, `name`,
/// `properties.displayName`, `properties.parent.id`.
pub fn management_group_descendants(group_id: &str) -> ArmList<ManagementGroupDescendant> {
    ArmList::new(
        Spec::get(
            format!(
                "/providers/Microsoft.Management/managementGroups/{}/descendants",
                segment(group_id)
            ),
            api_version::MANAGEMENT_GROUPS,
        ),
        Paging::NextLink,
    )
}

// ---- Microsoft.Authorization: RBAC -------------------------------------------------------

/// `GET {scope}/providers/Microsoft.Authorization/permissions`: the caller's effective
/// permissions at `scope` (a subscription, resource group or resource id).
pub fn permissions(scope: &str) -> ArmList<Permission> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/permissions",
                scope_path(scope)
            ),
            api_version::PERMISSIONS,
        ),
        Paging::NextLink,
    )
}

/// `GET {scope}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()`: role
/// assignments at and above `scope`. Narrow it with `.with_query("$filter", "atScope() and
/// assignedTo('{objectId}')")`. Items raw (`properties.roleDefinitionId`, `principalId`…).
pub fn role_assignments(scope: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/roleAssignments",
                scope_path(scope)
            ),
            api_version::RBAC,
        )
        .with_query("$filter", AT_SCOPE),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/providers/Microsoft.Authorization/roleAssignments`, without
/// `atScope()`: the role assignments at, above **and below** the subscription (its resource
/// groups' and resources' too), in one list for all of them; narrow it with
/// [`ArmList::with_query`] (`$filter` = `assignedTo('{objectId}')`). Items raw.
pub fn role_assignments_within(subscription_id: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/roleAssignments",
                sub_path(subscription_id)
            ),
            api_version::RBAC,
        ),
        Paging::NextLink,
    )
}

/// `GET {scope}/providers/Microsoft.Authorization/denyAssignments?$filter=atScope()`: deny
/// assignments at and above `scope`. Items raw (`properties.permissions`, `principals`…).
pub fn deny_assignments(scope: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/denyAssignments",
                scope_path(scope)
            ),
            api_version::RBAC,
        )
        .with_query("$filter", AT_SCOPE),
        Paging::NextLink,
    )
}

/// `GET {roleDefinitionId}`: a role definition by its full id, as a role assignment names it
/// (`/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}`, or the
/// tenant-level `/providers/…` form). Model raw (`properties.roleName`, `permissions`…).
pub fn role_definition(role_definition_id: &str) -> ArmRequest<Value> {
    ArmRequest::new(Spec::get(scope_path(role_definition_id), api_version::RBAC))
}

// ---- Microsoft.Authorization: Azure Policy -----------------------------------------------

/// `GET {scope}/providers/Microsoft.Authorization/policyAssignments?$filter=atScope()`: the
/// policy assignments that apply to `scope` (a subscription or resource group id), inherited
/// ones included. Items raw.
pub fn policy_assignments(scope: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/policyAssignments",
                scope_path(scope)
            ),
            api_version::POLICY,
        )
        .with_query("$filter", AT_SCOPE),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/providers/Microsoft.Authorization/policyAssignments`, unfiltered:
/// the policy assignments at, above **and below** the subscription ("as well as any applied to
/// objects contained within the subscription", the API's reference says), in one list for the
/// subscription and all its resource groups. Items raw.
pub fn policy_assignments_within(subscription_id: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/policyAssignments",
                sub_path(subscription_id)
            ),
            api_version::POLICY,
        ),
        Paging::NextLink,
    )
}

/// `GET {definitionId}`: a policy definition by its full id (built-in
/// `/providers/Microsoft.Authorization/policyDefinitions/{guid}`, or custom at a subscription or
/// management group). Model raw (`properties.policyRule`, `parameters`…).
pub fn policy_definition(definition_id: &str) -> ArmRequest<Value> {
    ArmRequest::new(Spec::get(scope_path(definition_id), api_version::POLICY))
}

/// `GET {setDefinitionId}`: a policy set definition (initiative) by its full id. Model raw.
pub fn policy_set_definition(set_definition_id: &str) -> ArmRequest<Value> {
    ArmRequest::new(Spec::get(
        scope_path(set_definition_id),
        api_version::POLICY,
    ))
}

/// `GET /subscriptions/{id}/providers/Microsoft.WindowsESU/multipleActivationKeys`: the
/// Windows Server 2008 / 2008 R2 ESU Multiple Activation Keys of a subscription, each item decoded
/// on its own (the product key itself is never kept). A subscription that Microsoft has not
/// approved for the program answers "The resource type could not be found in the namespace
/// 'Microsoft.WindowsESU'".
pub fn multiple_activation_keys(subscription_id: &str) -> ArmList<Item<MultipleActivationKey>> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.WindowsESU/multipleActivationKeys",
                sub_path(subscription_id)
            ),
            api_version::WINDOWS_ESU,
        ),
        Paging::NextLink,
    )
}

/// `GET {scope}/providers/Microsoft.Authorization/policyExemptions?$filter=atScope()`: the
/// policy exemptions that apply to `scope` (preview api-version). Items raw.
pub fn policy_exemptions(scope: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/policyExemptions",
                scope_path(scope)
            ),
            api_version::POLICY_EXEMPTIONS,
        )
        .with_query("$filter", AT_SCOPE),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/providers/Microsoft.Authorization/policyExemptions`, unfiltered:
/// the policy exemptions at, above **and below** the subscription, in one list for the
/// subscription and all its resource groups. Items raw.
pub fn policy_exemptions_within(subscription_id: &str) -> ArmList<Value> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.Authorization/policyExemptions",
                sub_path(subscription_id)
            ),
            api_version::POLICY_EXEMPTIONS,
        ),
        Paging::NextLink,
    )
}

// ---- Microsoft.HybridCompute -------------------------------------------------------------

/// `GET /subscriptions/{id}/providers/Microsoft.HybridCompute/licenses`: the ESU licences of a
/// subscription, each item decoded on its own ([`Item`]).
pub fn licenses(subscription_id: &str) -> ArmList<Item<License>> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.HybridCompute/licenses",
                sub_path(subscription_id)
            ),
            api_version::HYBRID_COMPUTE,
        ),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/licenses`.
pub fn licenses_in_resource_group(
    subscription_id: &str,
    resource_group: &str,
) -> ArmList<Item<License>> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.HybridCompute/licenses",
                rg_path(subscription_id, resource_group)
            ),
            api_version::HYBRID_COMPUTE,
        ),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/providers/Microsoft.HybridCompute/machines`: the Arc machines of a
/// subscription. Items raw (`properties.licenseProfile`, `osSku`, `status`… any may be null).
pub fn machines(subscription_id: &str) -> ArmList<Item<Machine>> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.HybridCompute/machines",
                sub_path(subscription_id)
            ),
            api_version::HYBRID_COMPUTE,
        ),
        Paging::NextLink,
    )
}

/// `GET /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines`.
pub fn machines_in_resource_group(
    subscription_id: &str,
    resource_group: &str,
) -> ArmList<Item<Machine>> {
    ArmList::new(
        Spec::get(
            format!(
                "{}/providers/Microsoft.HybridCompute/machines",
                rg_path(subscription_id, resource_group)
            ),
            api_version::HYBRID_COMPUTE,
        ),
        Paging::NextLink,
    )
}

/// `POST /subscriptions/{id}/providers/Microsoft.HybridCompute/validateLicense` with a licence
/// body (`{location, properties{licenseType, licenseDetails{…}}}`): what would be created,
/// without creating it (read-only). Model raw.
pub fn validate_license(subscription_id: &str, license: Value) -> ArmRequest<Value> {
    ArmRequest::new(Spec::post(
        format!(
            "{}/providers/Microsoft.HybridCompute/validateLicense",
            sub_path(subscription_id)
        ),
        api_version::HYBRID_COMPUTE,
        Some(license),
    ))
}

// ---- Microsoft.ResourceGraph -------------------------------------------------------------

fn resource_graph_body(query: &str, scope_key: &str, scopes: &[String]) -> Value {
    json!({
        scope_key: scopes,
        "query": query,
        "options": { "resultFormat": "objectArray" },
    })
}

/// `POST /providers/Microsoft.ResourceGraph/resources`: a Resource Graph query over
/// `subscriptions`, results as objects (`data` rows, raw). Paged by `$skipToken`; the query
/// should project `id` for stable paging.
pub fn resource_graph(query: &str, subscriptions: &[String]) -> ArmList<Value> {
    ArmList::new(
        Spec::post(
            "/providers/Microsoft.ResourceGraph/resources".to_owned(),
            api_version::RESOURCE_GRAPH,
            Some(resource_graph_body(query, "subscriptions", subscriptions)),
        ),
        Paging::SkipToken,
    )
}

/// The Resource Graph query that lists each subscription's management groups, nearest first
/// (`properties.managementGroupAncestorsChain`, ending at the tenant root group).
pub const MANAGEMENT_GROUP_CHAINS_QUERY: &str = "resourcecontainers \
| where type =~ 'microsoft.resources/subscriptions' \
| project id, subscriptionId, managementGroupAncestorsChain = properties.managementGroupAncestorsChain";

/// [`resource_graph`] with [`MANAGEMENT_GROUP_CHAINS_QUERY`] over `subscriptions`: one row per
/// subscription the caller can see, `{id, subscriptionId, managementGroupAncestorsChain:
/// [{name, displayName}…]}`.
pub fn management_group_chains(subscriptions: &[String]) -> ArmList<Value> {
    resource_graph(MANAGEMENT_GROUP_CHAINS_QUERY, subscriptions)
}

/// Like [`resource_graph`], over management groups instead of subscriptions.
pub fn resource_graph_in_management_groups(
    query: &str,
    management_groups: &[String],
) -> ArmList<Value> {
    ArmList::new(
        Spec::post(
            "/providers/Microsoft.ResourceGraph/resources".to_owned(),
            api_version::RESOURCE_GRAPH,
            Some(resource_graph_body(
                query,
                "managementGroups",
                management_groups,
            )),
        ),
        Paging::SkipToken,
    )
}

/// The most subscriptions one Resource Graph query names (the REST API refuses more; Azure CLI
/// and PowerShell forward only the first 1,000).
pub const RESOURCE_GRAPH_MAX_SUBSCRIPTIONS: usize = 1000;

/// Rows per Resource Graph page (`options.$top`, at most 1,000).
pub const RESOURCE_GRAPH_PAGE_SIZE: usize = 1000;

/// The Resource Graph query that lists Arc machines, projecting what
/// [`Machine`] decodes (as the ARM list serves it) and the subscription to route each row.
/// The `resources` row of a machine carries `properties.licenseProfile` (its ESU state) as the
/// ARM list does; the separate `microsoft.hybridcompute/machines/licenseprofiles` rows hold what
/// the plain ARM list does not (the linked license's id), so they are not joined.
pub const GRAPH_MACHINES_QUERY: &str = "resources \
| where type =~ 'microsoft.hybridcompute/machines' \
| project id, name, type, location, kind, tags, properties, subscriptionId";

/// The Resource Graph query that lists ESU licenses, projecting what [`License`] decodes and
/// the subscription.
pub const GRAPH_LICENSES_QUERY: &str = "resources \
| where type =~ 'microsoft.hybridcompute/licenses' \
| project id, name, type, location, tags, properties, subscriptionId";

/// The Resource Graph query that counts each subscription's Arc machines and ESU licenses: one
/// row per subscription holding either, `{subscriptionId, machines, licenses}` (so at most one
/// row per subscription, within one page for 1,000 subscriptions).
pub const GRAPH_COUNTS_QUERY: &str = "resources \
| where type =~ 'microsoft.hybridcompute/machines' or type =~ 'microsoft.hybridcompute/licenses' \
| summarize machines = countif(type =~ 'microsoft.hybridcompute/machines'), \
licenses = countif(type =~ 'microsoft.hybridcompute/licenses') by subscriptionId \
| project id = subscriptionId, subscriptionId, machines, licenses";

fn paged_graph(query: &str, scope_key: &str, scopes: &[String]) -> Spec {
    let mut body = resource_graph_body(query, scope_key, scopes);
    body["options"]["$top"] = json!(RESOURCE_GRAPH_PAGE_SIZE);
    Spec::post(
        "/providers/Microsoft.ResourceGraph/resources".to_owned(),
        api_version::RESOURCE_GRAPH,
        Some(body),
    )
}

/// [`GRAPH_MACHINES_QUERY`] over `subscriptions` (at most
/// [`RESOURCE_GRAPH_MAX_SUBSCRIPTIONS`]), `$top` [`RESOURCE_GRAPH_PAGE_SIZE`], paged by
/// `$skipToken`.
pub fn graph_machines(subscriptions: &[String]) -> ArmList<GraphRow<Machine>> {
    ArmList::new(
        paged_graph(GRAPH_MACHINES_QUERY, "subscriptions", subscriptions),
        Paging::SkipToken,
    )
}

/// [`GRAPH_LICENSES_QUERY`] over `subscriptions`, like [`graph_machines`].
pub fn graph_licenses(subscriptions: &[String]) -> ArmList<GraphRow<License>> {
    ArmList::new(
        paged_graph(GRAPH_LICENSES_QUERY, "subscriptions", subscriptions),
        Paging::SkipToken,
    )
}

/// [`GRAPH_COUNTS_QUERY`] over `subscriptions`.
pub fn graph_counts(subscriptions: &[String]) -> ArmList<Value> {
    ArmList::new(
        paged_graph(GRAPH_COUNTS_QUERY, "subscriptions", subscriptions),
        Paging::SkipToken,
    )
}

/// [`GRAPH_COUNTS_QUERY`] over every subscription below `management_groups`.
pub fn graph_counts_in_management_groups(management_groups: &[String]) -> ArmList<Value> {
    ArmList::new(
        paged_graph(GRAPH_COUNTS_QUERY, "managementGroups", management_groups),
        Paging::SkipToken,
    )
}

/// One row of a Resource Graph inventory query: the subscription it belongs to (its
/// `subscriptionId` column, else the one its `id` names; lower-case) and the item, decoded on
/// its own like an ARM list item. Kusto has no null string: an empty `kind` or `location`
/// column is read as absent, as the ARM list's `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRow<T> {
    /// The subscription id, lower-case (empty when the row names none).
    pub subscription_id: String,
    /// The resource.
    pub item: Item<T>,
}

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for GraphRow<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        let mut subscription_id = String::new();
        if let Some(row) = value.as_object_mut() {
            if let Some(Value::String(sub)) = row.remove("subscriptionId") {
                subscription_id = sub.to_ascii_lowercase();
            }
            row.remove("type");
            for column in ["kind", "location"] {
                if row
                    .get(column)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.is_empty())
                {
                    row.remove(column);
                }
            }
            if subscription_id.is_empty()
                && let Some(id) = row.get("id").and_then(Value::as_str)
            {
                let mut segments = id.split('/').filter(|s| !s.is_empty());
                if segments
                    .next()
                    .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
                {
                    subscription_id = segments.next().unwrap_or_default().to_ascii_lowercase();
                }
            }
        }
        let item = Item::<T>::deserialize(value).map_err(serde::de::Error::custom)?;
        Ok(GraphRow {
            subscription_id,
            item,
        })
    }
}

// ---- Microsoft.PolicyInsights ------------------------------------------------------------

/// The latest compliance states of one policy definition (built-in or not) in a subscription:
/// [`policy_states`] at `/subscriptions/{id}/providers/Microsoft.Authorization/policyDefinitions/{guid}`.
pub fn policy_definition_states(subscription_id: &str, definition: &str) -> ArmList<PolicyState> {
    policy_states(&format!(
        "{}/providers/Microsoft.Authorization/policyDefinitions/{}",
        sub_path(subscription_id),
        segment(definition)
    ))
}

/// `POST {scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults`: the
/// latest policy states at `scope` (subscription, resource group, resource, assignment or
/// definition id). Narrow with `.with_query("$filter", …)`. Paged by `@odata.nextLink`. Items
/// [`PolicyState`] (`resourceId`, `complianceState`, `policyAssignmentId`…).
pub fn policy_states(scope: &str) -> ArmList<PolicyState> {
    ArmList::new(
        Spec::post(
            format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults",
                scope_path(scope)
            ),
            api_version::POLICY_INSIGHTS,
            None,
        ),
        Paging::ODataNextLink,
    )
}

/// `POST {scope}/providers/Microsoft.PolicyInsights/checkPolicyRestrictions`: which policies
/// would restrict creating the resource in `request` (`{resourceDetails{resourceContent,
/// apiVersion}, pendingFields[…]}`) at `scope` (a subscription or resource group id), without
/// creating it (read-only). Model raw (`fieldRestrictions`, `contentEvaluationResult`).
pub fn check_policy_restrictions(scope: &str, request: Value) -> ArmRequest<Value> {
    ArmRequest::new(Spec::post(
        format!(
            "{}/providers/Microsoft.PolicyInsights/checkPolicyRestrictions",
            scope_path(scope)
        ),
        api_version::POLICY_INSIGHTS,
        Some(request),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("rg-1_(x).y~"), "rg-1_(x).y~");
        assert_eq!(segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
        let p = provider("s/../x", "Microsoft.Sql");
        assert_eq!(
            p.path(),
            "/subscriptions/s%2F..%2Fx/providers/Microsoft.Sql"
        );
    }

    #[test]
    fn catalogue_entries() {
        let s = "0000";
        assert_eq!(subscription(s).path(), "/subscriptions/0000");
        assert_eq!(subscription(s).method(), HttpMethod::Get);
        let r = register_provider(s, "Microsoft.HybridCompute");
        assert_eq!(r.method(), HttpMethod::Post);
        assert_eq!(
            r.path(),
            "/subscriptions/0000/providers/Microsoft.HybridCompute/register"
        );
        assert!(r.body().is_none());
        assert_eq!(
            permissions("/subscriptions/0000/resourceGroups/rg/").path(),
            "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Authorization/permissions"
        );
        let pa = policy_assignments("/subscriptions/0000");
        assert_eq!(pa.query(), [("$filter".to_owned(), "atScope()".to_owned())]);
        assert_eq!(pa.api_version(), "2023-04-01");
        let ra = role_assignments("/subscriptions/0000")
            .with_query("$filter", "atScope() and assignedTo('x')");
        assert_eq!(ra.query().len(), 1);
        assert_eq!(ra.query()[0].1, "atScope() and assignedTo('x')");
        let d = management_group_descendants("mg 1");
        assert_eq!(
            d.path(),
            "/providers/Microsoft.Management/managementGroups/mg%201/descendants"
        );
        assert_eq!(d.api_version(), "2023-04-01");
        let g = resource_graph("resources | project id", &["0000".to_owned()]);
        assert_eq!(g.paging(), Paging::SkipToken);
        assert_eq!(g.body().unwrap()["subscriptions"][0], "0000");
        assert_eq!(g.body().unwrap()["options"]["resultFormat"], "objectArray");
        assert_eq!(
            policy_states("/subscriptions/0000").paging(),
            Paging::ODataNextLink
        );
        assert_eq!(licenses(s).api_version(), api_version::HYBRID_COMPUTE);
        let rd = role_definition(
            "/subscriptions/0000/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
        );
        assert_eq!(rd.api_version(), api_version::RBAC);
        assert!(
            rd.path()
                .ends_with("/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c")
        );
        let chains = management_group_chains(&["0000".to_owned()]);
        assert!(
            chains.body().unwrap()["query"]
                .as_str()
                .unwrap()
                .contains("managementGroupAncestorsChain")
        );
        assert!(format!("{:?}", providers(s)).contains("Provider"));
    }
}
