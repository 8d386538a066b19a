//! Small snapshots for check tests, built from the real ARM payloads in `tests/fixtures/arm/` (at the workspace root).

use super::{Check, CheckCtx, Config, REQUIRED_PROVIDERS};
use crate::finding::Finding;
use crate::models::{Permission, Provider, Subscription};
use crate::snapshot::{
    Caller, Fact, Scope, ScopeAuthorization, Snapshot, SubscriptionSnapshot, TenantSnapshot,
    Unavailable, UnavailableKind,
};
use serde_json::{Value, json};

/// The subscription of the real `GetSubscription.json` example.
pub(crate) const SUB: &str = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";

/// A fixture file under `tests/fixtures/arm/` (at the workspace root), parsed.
pub(crate) fn fixture(path: &str) -> Value {
    let full = format!(
        "{}/../../tests/fixtures/arm/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The body of a REST spec example's 200 response.
fn example_body(path: &str) -> Value {
    fixture(path)["responses"]["200"]["body"].clone()
}

/// The permissions of a built-in role (`builtin-roles/{file}`), as the permissions API returns them.
pub(crate) fn role(file: &str) -> Vec<Permission> {
    let role = fixture(&format!("authorization/builtin-roles/{file}"));
    serde_json::from_value(role["permissions"].clone()).unwrap()
}

/// The signed-in identity of the fixtures (its Entra object id).
pub(crate) const CALLER: &str = "ce2ce14e-85d7-4629-bdbc-454d0519d987";

/// A built-in role (`builtin-roles/{file}`, the docs' flat JSON) as ARM returns a role definition
/// (`GET …/roleDefinitions/{id}`: `properties.roleName`, `properties.permissions`…).
pub(crate) fn role_definition(file: &str) -> Value {
    let role = fixture(&format!("authorization/builtin-roles/{file}"));
    json!({
        "id": role["id"],
        "name": role["name"],
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role["roleName"],
            "type": role["roleType"],
            "description": role["description"],
            "assignableScopes": role["assignableScopes"],
            "permissions": role["permissions"],
        }
    })
}

/// A role assignment of the built-in role `file` to [`CALLER`] at `scope`, in the shape of the
/// real `RoleAssignments_ListForScope.json` item (`roleDefinitionId` subscription-qualified, as
/// ARM returns it in real traffic).
pub(crate) fn role_assignment(file: &str, scope: &str) -> Value {
    let mut item =
        example_body("authorization/RoleAssignments_ListForScope.json")["value"][0].clone();
    let guid = role_definition(file)["name"].as_str().unwrap().to_owned();
    let name = format!("{}-{}", &guid[..8], scope.len());
    item["id"] = json!(format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    ));
    item["name"] = json!(name);
    let p = &mut item["properties"];
    p["roleDefinitionId"] = json!(format!(
        "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    ));
    p["principalId"] = json!(CALLER);
    p["scope"] = json!(scope);
    item
}

/// The real `GetPermissions.json` answer: one entry with no actions.
pub(crate) fn real_permissions() -> Vec<Permission> {
    serde_json::from_value(example_body("authorization/GetPermissions.json")["value"].clone())
        .unwrap()
}

/// A 404 `SubscriptionNotFound` for [`SUB`].
pub(crate) fn not_found() -> Unavailable {
    not_found_at(SUB)
}

/// A 404 `SubscriptionNotFound` for `sub`.
pub(crate) fn not_found_at(sub: &str) -> Unavailable {
    Unavailable {
        kind: UnavailableKind::NotFound,
        http_status: Some(404),
        code: Some("SubscriptionNotFound".into()),
        message: format!("The subscription '{sub}' could not be found."),
        action: None,
        scope: None,
        retry_after_secs: None,
    }
}

/// A 403 `AuthorizationFailed` for `action` on the subscription.
pub(crate) fn forbidden(action: &str) -> Unavailable {
    forbidden_at(action, SUB)
}

/// A 403 `AuthorizationFailed` for `action` on subscription `sub`.
pub(crate) fn forbidden_at(action: &str, sub: &str) -> Unavailable {
    Unavailable {
        kind: UnavailableKind::Forbidden,
        http_status: Some(403),
        code: Some("AuthorizationFailed".into()),
        message: format!(
            "The client 'user@example.com' with object id '0000' does not have authorization to \
             perform action '{action}' over scope '/subscriptions/{sub}' or the scope is invalid."
        ),
        action: Some(action.to_owned()),
        scope: Some(format!("/subscriptions/{sub}")),
        retry_after_secs: None,
    }
}

/// A 503 after retries.
pub(crate) fn server_error() -> Unavailable {
    Unavailable {
        kind: UnavailableKind::HttpError,
        http_status: Some(503),
        code: Some("ServiceUnavailable".into()),
        message: "The service is unavailable.".into(),
        action: None,
        scope: None,
        retry_after_secs: None,
    }
}

/// One subscription's facts, as raw payloads, with builders for variants.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    subscription_id: String,
    subscription: Result<Value, Unavailable>,
    providers: Result<Vec<Value>, Unavailable>,
    permissions: Result<Vec<Permission>, Unavailable>,
    /// `None`: not read (a snapshot from before licenses were gathered).
    licenses: Option<Result<Vec<Value>, Unavailable>>,
    /// `None`: not read.
    machines: Option<Result<Vec<Value>, Unavailable>>,
    /// Role and deny assignments at subscription scope.
    pub(crate) authorization: ScopeAuthorization,
    /// The signed-in identity.
    pub(crate) caller: Option<Caller>,
    /// Tenant-wide definitions (role definitions).
    pub(crate) tenant: TenantSnapshot,
    pub(crate) config: Config,
    /// The license plan [`run`] evaluates with (empty by default).
    pub(crate) plan: crate::plan::LicensePlan,
    /// The clock [`run`] evaluates with (default [`TODAY`]).
    pub(crate) now: time::OffsetDateTime,
}

/// The clock of the fixtures: a day before Windows Server 2016 leaves support.
pub(crate) const TODAY: time::OffsetDateTime = time::macros::datetime!(2026-11-29 12:00 UTC);

/// A realistic ESU license in [`SUB`] (shape of the real `License_Get.json`): Windows Server 2012
/// R2, Datacenter, pCore, 16 cores, Activated, in `rg-esu`, immutable id `imm-{name}`.
pub(crate) fn license_json(name: &str) -> Value {
    let mut license = example_body("hybridcompute/2026-09-01/License_Get.json");
    license["id"] = json!(format!(
        "/subscriptions/{SUB}/resourceGroups/rg-esu/providers/Microsoft.HybridCompute/licenses/{name}"
    ));
    license["name"] = json!(name);
    license["location"] = json!("eastus");
    let details = &mut license["properties"]["licenseDetails"];
    details["target"] = json!("Windows Server 2012 R2");
    details["edition"] = json!("Datacenter");
    details["type"] = json!("pCore");
    details["processors"] = json!(16);
    details["assignedLicenses"] = json!(8);
    details["state"] = json!("Activated");
    details["immutableId"] = json!(format!("imm-{name}"));
    license
}

/// A realistic Arc machine in [`SUB`] (shape of the real `Machines_ListBySubscription.json`): a
/// Windows Server 2012 R2 Datacenter VM with 8 cores, Connected, agent 1.34, ESU eligible, no
/// license linked.
pub(crate) fn machine_json(name: &str) -> Value {
    let list = example_body("hybridcompute/2026-09-01/Machines_ListBySubscription.json");
    let mut machine = list["value"][0].clone();
    machine["id"] = json!(format!(
        "/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{name}"
    ));
    machine["name"] = json!(name);
    machine["location"] = json!("eastus");
    machine["kind"] = Value::Null;
    let p = &mut machine["properties"];
    p["status"] = json!("Connected");
    p["lastStatusChange"] = json!("2026-11-29T08:00:00Z");
    p["agentVersion"] = json!("1.34.02440.1130");
    p["osType"] = json!("windows");
    p["osName"] = json!("Windows Server 2012 R2 Datacenter");
    p["osSku"] = json!("Windows Server 2012 R2 Datacenter");
    p["osVersion"] = json!("6.3.9600.20778");
    p["osEdition"] = json!("Datacenter");
    p["parentClusterResourceId"] = Value::Null;
    p["detectedProperties"] = json!({
        "cloudprovider": "N/A",
        "manufacturer": "Microsoft Corporation",
        "model": "Virtual Machine",
        "coreCount": "8",
        "logicalCoreCount": "8"
    });
    p["licenseProfile"]["esuProfile"] = json!({
        "licenseAssignmentState": "NotAssigned",
        "esuEligibility": "Eligible",
        "serverType": "Datacenter",
        "esuKeyState": "Inactive",
        "esuKeys": []
    });
    machine
}

/// Links `machine` to `license` the way ARM reports it on a machine list (immutable id).
pub(crate) fn link(machine: &mut Value, license: &Value) {
    let esu = &mut machine["properties"]["licenseProfile"]["esuProfile"];
    esu["licenseAssignmentState"] = json!("Assigned");
    esu["esuKeyState"] = json!("Active");
    esu["assignedLicenseImmutableId"] =
        license["properties"]["licenseDetails"]["immutableId"].clone();
}

impl Fixture {
    /// Everything fine: the real subscription (Enabled), the real provider list plus the seven
    /// required providers Registered (made from the real entries' shape), Owner permissions
    /// (an Owner role assignment of [`CALLER`] at the subscription), no deny assignment.
    pub(crate) fn healthy() -> Self {
        let mut providers: Vec<Value> =
            serde_json::from_value(example_body("resources/GetProviders.json")["value"].clone())
                .unwrap();
        let template = providers[0].clone();
        for namespace in REQUIRED_PROVIDERS {
            let mut entry = template.clone();
            entry["id"] = json!(format!("/subscriptions/{SUB}/providers/{namespace}"));
            entry["namespace"] = json!(namespace);
            entry["registrationState"] = json!("Registered");
            providers.push(entry);
        }
        Self {
            subscription_id: SUB.to_owned(),
            subscription: Ok(example_body("resources/GetSubscription.json")),
            providers: Ok(providers),
            permissions: Ok(role("Owner.json")),
            licenses: Some(Ok(Vec::new())),
            machines: Some(Ok(Vec::new())),
            authorization: ScopeAuthorization {
                role_assignments: Some(Fact::Available {
                    value: vec![role_assignment("Owner.json", &format!("/subscriptions/{SUB}"))],
                }),
                deny_assignments: Some(Fact::Available { value: Vec::new() }),
                // No policy assignment or exemption applies (read, and empty).
                policy_assignments: Some(Fact::Available { value: Vec::new() }),
                policy_exemptions: Some(Fact::Available { value: Vec::new() }),
            },
            caller: Some(Caller {
                object_id: CALLER.to_owned(),
                tenant_id: None,
                display_name: Some("user@example.com".to_owned()),
            }),
            tenant: TenantSnapshot {
                role_definitions: [(
                    "/providers/microsoft.authorization/roledefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635".to_owned(),
                    Fact::Available { value: role_definition("Owner.json") },
                )]
                .into(),
                ..TenantSnapshot::default()
            },
            config: Config::default(),
            plan: crate::plan::LicensePlan::new(),
            now: TODAY,
        }
    }

    /// Adds a license (see [`license_json`]).
    pub(crate) fn license(mut self, license: Value) -> Self {
        match &mut self.licenses {
            Some(Ok(licenses)) => licenses.push(license),
            other => *other = Some(Ok(vec![license])),
        }
        self
    }

    /// Adds a machine (see [`machine_json`]).
    pub(crate) fn machine(mut self, machine: Value) -> Self {
        match &mut self.machines {
            Some(Ok(machines)) => machines.push(machine),
            other => *other = Some(Ok(vec![machine])),
        }
        self
    }

    /// The license list could not be read.
    pub(crate) fn licenses_unavailable(mut self, reason: Unavailable) -> Self {
        self.licenses = Some(Err(reason));
        self
    }

    /// The machine list could not be read.
    pub(crate) fn machines_unavailable(mut self, reason: Unavailable) -> Self {
        self.machines = Some(Err(reason));
        self
    }

    /// Licenses and machines were not read at all (a version-1 snapshot).
    pub(crate) fn without_hybrid_compute(mut self) -> Self {
        self.licenses = None;
        self.machines = None;
        self
    }

    /// The same facts for another subscription id (payload ids rewritten).
    pub(crate) fn with_subscription_id(mut self, id: &str) -> Self {
        let rewrite = |v: &mut Value| {
            let text = serde_json::to_string(v).unwrap().replace(SUB, id);
            *v = serde_json::from_str(&text).unwrap();
        };
        if let Ok(sub) = &mut self.subscription {
            rewrite(sub);
        }
        if let Ok(providers) = &mut self.providers {
            providers.iter_mut().for_each(rewrite);
        }
        let mut authorization = serde_json::to_value(&self.authorization).unwrap();
        rewrite(&mut authorization);
        self.authorization = serde_json::from_value(authorization).unwrap();
        self.subscription_id = id.to_owned();
        self
    }

    pub(crate) fn subscription_state(mut self, state: &str) -> Self {
        let sub = self
            .subscription
            .as_mut()
            .expect("subscription_state on an unavailable subscription changes nothing");
        sub["state"] = json!(state);
        self
    }

    pub(crate) fn subscription_unavailable(mut self, reason: Unavailable) -> Self {
        self.subscription = Err(reason);
        self
    }

    /// Sets a provider's `registrationState`; an empty state removes the field.
    /// Adds a provider the fixture does not list (e.g. `Microsoft.WindowsESU`) in `state`.
    pub(crate) fn with_provider(mut self, namespace: &str, state: &str) -> Self {
        if let Ok(providers) = &mut self.providers {
            providers.push(json!({
                "id": format!("/subscriptions/{}/providers/{namespace}", self.subscription_id),
                "namespace": namespace,
                "registrationState": state,
            }));
        }
        self
    }

    pub(crate) fn provider_state(mut self, namespace: &str, state: &str) -> Self {
        for entry in self.provider_entries(namespace) {
            if state.is_empty() {
                entry.as_object_mut().unwrap().remove("registrationState");
            } else {
                entry["registrationState"] = json!(state);
            }
        }
        self
    }

    /// Sets a provider's `registrationState` to any JSON value (`null`, a number, …).
    pub(crate) fn provider_raw_state(mut self, namespace: &str, state: Value) -> Self {
        for entry in self.provider_entries(namespace) {
            entry["registrationState"] = state.clone();
        }
        self
    }

    pub(crate) fn rename_provider(mut self, namespace: &str, new: &str) -> Self {
        for entry in self.provider_entries(namespace) {
            entry["namespace"] = json!(new);
        }
        self
    }

    pub(crate) fn without_provider(mut self, namespace: &str) -> Self {
        let providers = self
            .providers
            .as_mut()
            .expect("without_provider on unavailable providers changes nothing");
        let before = providers.len();
        providers.retain(|p| p["namespace"] != namespace);
        assert_ne!(before, providers.len(), "no provider {namespace} to remove");
        self
    }

    pub(crate) fn providers_unavailable(mut self, reason: Unavailable) -> Self {
        self.providers = Err(reason);
        self
    }

    pub(crate) fn permissions(mut self, permissions: Vec<Permission>) -> Self {
        self.permissions = Ok(permissions);
        self
    }

    pub(crate) fn permissions_unavailable(mut self, reason: Unavailable) -> Self {
        self.permissions = Err(reason);
        self
    }

    /// The entries of `namespace`; a builder step that would change nothing (a typo in the
    /// namespace, providers already unavailable) fails the test instead of silently testing
    /// the healthy case.
    fn provider_entries(&mut self, namespace: &str) -> Vec<&mut Value> {
        let entries: Vec<&mut Value> = self
            .providers
            .iter_mut()
            .flatten()
            .filter(|p| p["namespace"] == namespace)
            .collect();
        assert!(
            !entries.is_empty(),
            "no provider {namespace} in the fixture"
        );
        entries
    }

    /// The subscription's facts, parsed through the library's own models.
    pub(crate) fn subscription_snapshot(&self) -> SubscriptionSnapshot {
        let subscription: Result<Subscription, Unavailable> = self
            .subscription
            .clone()
            .map(|v| serde_json::from_value(v).unwrap());
        let providers: Result<Vec<Provider>, Unavailable> = self
            .providers
            .clone()
            .map(|v| serde_json::from_value(Value::Array(v)).unwrap());
        SubscriptionSnapshot {
            subscription_id: self.subscription_id.clone(),
            subscription: Fact::from(subscription),
            providers: Fact::from(providers),
            permissions: Fact::from(self.permissions.clone()),
            resource_groups: Vec::new(),
            licenses: self.licenses.clone().map(|list| {
                Fact::from(list.map(|v| serde_json::from_value(Value::Array(v)).unwrap()))
            }),
            machines: self.machines.clone().map(|list| {
                Fact::from(list.map(|v| serde_json::from_value(Value::Array(v)).unwrap()))
            }),
            patch_states: Default::default(),
            license_validations: Vec::new(),
            authorization: self.authorization.clone(),
            management_groups: None,
            policy_restrictions: Vec::new(),
            mak_keys: None,
        }
    }

    /// A snapshot of this one subscription.
    pub(crate) fn build(&self) -> (Snapshot, Config) {
        let mut snapshot = Snapshot::new(Scope::subscriptions([self.subscription_id.clone()]));
        snapshot.subscriptions.push(self.subscription_snapshot());
        snapshot.caller = self.caller.clone();
        snapshot.tenant = self.tenant.clone();
        (snapshot, self.config.clone())
    }
}

/// Runs `checks` over every subscription of `snapshot` under the rules [`super::evaluate`]
/// applies to every check (skipped, inconclusive), with this plan, clock and `--program` filter;
/// findings sorted. Every test runner below is this one.
pub(crate) fn run_on(
    checks: &[&dyn Check],
    snapshot: &Snapshot,
    config: &Config,
    plan: &crate::plan::LicensePlan,
    now: time::OffsetDateTime,
    program: Option<&'static crate::programs::Program>,
) -> Vec<Finding> {
    let shared_ids: Vec<std::sync::Arc<str>> = snapshot
        .subscriptions
        .iter()
        .map(|s| s.subscription_id.as_str().into())
        .collect();
    let estate = super::estate::Estate::new(snapshot, plan);
    let mut out = Vec::new();
    for (subscription, shared_subscription_id) in snapshot.subscriptions.iter().zip(&shared_ids) {
        let ctx = CheckCtx {
            snapshot,
            subscription,
            plan,
            config,
            now,
            estate: &estate,
            program,
            mak: if program.is_some() {
                super::MakSelection::Excluded
            } else {
                super::MakSelection::Auto
            },
            shared_subscription_id,
        };
        for check in checks.iter().filter(|c| ctx.mak.runs(c.family())) {
            super::run_check(*check, &ctx, &mut out);
        }
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out
}

/// Runs one check over every subscription of a snapshot (empty plan, the epoch as clock).
pub(crate) fn run_check(
    check: &dyn Check,
    (snapshot, config): &(Snapshot, Config),
) -> Vec<Finding> {
    let plan = crate::plan::LicensePlan::new();
    run_on(
        &[check],
        snapshot,
        config,
        &plan,
        time::OffsetDateTime::UNIX_EPOCH,
        None,
    )
}

/// Runs one check over the fixture, with the fixture's plan and clock.
pub(crate) fn run(check: &dyn Check, fixture: &Fixture) -> Vec<Finding> {
    let (snapshot, config) = fixture.build();
    run_on(
        &[check],
        &snapshot,
        &config,
        &fixture.plan,
        fixture.now,
        None,
    )
}

/// The conventions every finding follows: a one-line message, lower-case first letter, no
/// trailing period; a remediation on fail and inconclusive, none on pass; an evidence object; a
/// resource in [`SUB`].
pub(crate) fn assert_conventions(f: &Finding) {
    let first = f.message.chars().next().expect("empty message");
    assert!(!first.is_uppercase(), "starts upper-case: {}", f.message);
    assert!(
        !f.message.ends_with('.'),
        "ends with a period: {}",
        f.message
    );
    assert!(!f.message.contains('\n'), "multi-line: {}", f.message);
    match f.status {
        crate::Status::Fail | crate::Status::Inconclusive => {
            assert!(!f.remediation.is_empty(), "no remediation: {f:#?}")
        }
        crate::Status::Pass => assert!(f.remediation.is_empty(), "{f:#?}"),
        crate::Status::Skipped => {}
    }
    assert!(f.evidence.is_object(), "evidence not an object: {f:#?}");
    assert!(
        f.resource_id.starts_with(&format!("/subscriptions/{SUB}")),
        "{f:#?}"
    );
}
