#!/usr/bin/env python3
"""The natural alternative to esu-preflight: a sequential script on the official Azure SDK for
Python that makes the reads `esu-preflight check --subscription SUB --license-plan PLAN` makes,
one call after the other, following paging, decoding every answer into the SDK's models.

A benchmark only (issue 8): `scripts/bench-python-sdk` runs it against the `arm_mock` example's
`everything` scenario and compares it with esu-preflight. It evaluates nothing: it only reads
(what esu-preflight then checks is extra work on our side).

    sequential_check.py --endpoint URL --token TOKEN --subscription SUB --plan PLAN.json

The endpoint and token default to ESU_PREFLIGHT_ARM_ENDPOINT and ESU_PREFLIGHT_ACCESS_TOKEN (what
the mock prints). A plain-http endpoint (the loopback mock) is allowed per call with azure-core's
`enforce_https=False` option, which only lifts the bearer policy's TLS requirement; an https
endpoint keeps it. Prints one JSON object: the requests sent (retries included), the wall time
of the reads (clients made, imports excluded), and what was read (counts), so the data can be
compared with the mock's.

The reads, in esu-preflight's order (gather.rs), where the SDK has them:
  the subscription; its providers; the caller's permissions; ESU licenses; Arc machines; the
  ESU patch policy's states; the management groups above (Resource Graph); Windows Server 2008
  MAK keys; at the subscription and each resource group of the plan (the licenses' groups and
  the planned machines' groups): the group, the caller's permissions there, the caller's role
  assignments, deny assignments, policy assignments, policy exemptions; then each role
  definition of the caller's assignments, each policy (set) definition the assignments name,
  the service's dry runs of the plan (validateLicense once per distinct license body,
  checkPolicyRestrictions for each planned license and each planned license profile); then
  each initiative's member definitions. Two reads have no SDK operation (the caller's
  permissions at a subscription, MAK keys: no Python package serves Microsoft.WindowsESU); they
  go through the hybrid compute client's `send_request`, the same pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse

from azure.core.credentials import AccessToken
from azure.core.rest import HttpRequest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.hybridcompute import HybridComputeManagementClient
from azure.mgmt.hybridcompute import models as hc_models
from azure.mgmt.policyinsights import PolicyInsightsClient
from azure.mgmt.policyinsights import models as pi_models
from azure.mgmt.resource import PolicyClient, ResourceManagementClient, SubscriptionClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph import models as rg_models

# The api-versions esu-preflight sends (crates/esu-preflight/src/arm/catalog.rs), so both read
# the same URLs. PolicyClient's default profile is 2023-04-01, exemptions 2022-07-01-preview.
SUBSCRIPTION_API = "2022-12-01"
RESOURCES_API = "2021-04-01"
RBAC_API = "2022-04-01"
HYBRID_COMPUTE_API = "2026-09-01"
POLICY_INSIGHTS_API = "2024-10-01"
RESOURCE_GRAPH_API = "2024-04-01"
WINDOWS_ESU_API = "2019-09-16-preview"
# "[Preview]: Extended Security Updates should be installed on Windows Server 2012 Arc machines"
ESU_PATCH_POLICY = "14b4e776-9fab-44b0-b53f-38d2458ea8be"
CHAIN_QUERY = (
    "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' | project id, "
    "subscriptionId, managementGroupAncestorsChain = properties.managementGroupAncestorsChain"
)
LICENSES = "Microsoft.HybridCompute/licenses"
LICENSE_PROFILES = "Microsoft.HybridCompute/machines/licenseProfiles"


class StaticToken:
    """A TokenCredential that hands out one access token (what `--credential access-token`
    does for esu-preflight)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


class Counter:
    """Counts the requests sent (azure-core's `raw_request_hook` runs once per try)."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, request: object) -> None:
        self.requests += 1


def caller_oid(token: str) -> str | None:
    """The object id a JWT names (unverified, as esu-preflight reads it), or None."""
    import base64

    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    oid = claims.get("oid")
    return oid if isinstance(oid, str) else None


def group_of(resource_id: str) -> tuple[str, str] | None:
    """(subscription, resource group) of an ARM id, or None."""
    parts = resource_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    try:
        sub = parts[lower.index("subscriptions") + 1]
        rg = parts[lower.index("resourcegroups") + 1]
    except (ValueError, IndexError):
        return None
    return sub, rg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("ESU_PREFLIGHT_ARM_ENDPOINT"))
    parser.add_argument("--token", default=os.environ.get("ESU_PREFLIGHT_ACCESS_TOKEN"))
    parser.add_argument("--subscription", required=True)
    parser.add_argument("--plan", help="a license plan in esu-preflight's JSON form")
    args = parser.parse_args()
    if not args.endpoint or not args.token:
        parser.error("--endpoint and --token (or ESU_PREFLIGHT_ARM_ENDPOINT/_ACCESS_TOKEN) are needed")
    plan = []
    if args.plan:
        with open(args.plan, encoding="utf-8") as f:
            doc = json.load(f)
        plan = doc.get("license", doc.get("licenses", []))

    started = time.perf_counter()
    sub = args.subscription
    endpoint = args.endpoint.rstrip("/")
    credential = StaticToken(args.token)
    counter = Counter()
    # Lift the TLS requirement of the bearer policy only for a plain-http (loopback) endpoint.
    call = {"enforce_https": False} if endpoint.lower().startswith("http://") else {}
    common = {"base_url": endpoint, "raw_request_hook": counter}

    subscriptions = SubscriptionClient(credential, api_version=SUBSCRIPTION_API, **common)
    resources = ResourceManagementClient(credential, sub, api_version=RESOURCES_API, **common)
    authorization = AuthorizationManagementClient(credential, sub, api_version=RBAC_API, **common)
    policy = PolicyClient(credential, sub, **common)
    hybrid = HybridComputeManagementClient(credential, sub, api_version=HYBRID_COMPUTE_API, **common)
    insights = PolicyInsightsClient(credential, sub, **common)
    graph = ResourceGraphClient(credential, api_version=RESOURCE_GRAPH_API, **common)
    rbac_models = AuthorizationManagementClient.models(api_version=RBAC_API)

    def get_pages(path: str, api_version: str, decode):
        """GET an ARM list with no SDK operation, following nextLink; items decoded."""
        items = []
        url = f"{endpoint}{path}?api-version={api_version}"
        while url:
            response = hybrid.send_request(HttpRequest("GET", url), **call)
            response.raise_for_status()
            page = response.json()
            items.extend(decode(item) for item in page.get("value", []))
            url = page.get("nextLink")
        return items

    scope = f"/subscriptions/{sub}"
    oid = caller_oid(args.token)
    role_filter = f"atScope() and assignedTo('{oid}')" if oid else "atScope()"

    # Round 1: the subscription's own facts.
    subscription = subscriptions.subscriptions.get(sub, **call)
    providers = list(resources.providers.list(**call))
    permissions = get_pages(
        f"{scope}/providers/Microsoft.Authorization/permissions",
        RBAC_API,
        rbac_models.Permission.deserialize,
    )
    licenses = list(hybrid.licenses.list_by_subscription(**call))
    machines = list(hybrid.machines.list_by_subscription(**call))
    patch_states = list(
        insights.policy_states.list_query_results_for_policy_definition(
            "latest", sub, ESU_PATCH_POLICY, api_version=POLICY_INSIGHTS_API, **call
        )
    )
    chains = []
    request = rg_models.QueryRequest(
        subscriptions=[sub],
        query=CHAIN_QUERY,
        options=rg_models.QueryRequestOptions(result_format="objectArray"),
    )
    while True:
        answer = graph.resources(request, **call)
        chains.extend(answer.data or [])
        if not answer.skip_token:
            break
        request.options.skip_token = answer.skip_token
    mak_keys = get_pages(
        f"{scope}/providers/Microsoft.WindowsESU/multipleActivationKeys",
        WINDOWS_ESU_API,
        lambda item: item,
    )

    # The resource groups that matter: each planned license's group, each planned machine's
    # (in this subscription), each once, in the plan's order.
    group_names: dict[str, str] = {}
    for license in plan:
        if license.get("subscription", sub).lower() == sub.lower():
            group_names.setdefault(license["resource_group"].lower(), license["resource_group"])
        for machine in license.get("machines", []):
            owner = group_of(machine)
            if owner and owner[0].lower() == sub.lower():
                group_names.setdefault(owner[1].lower(), owner[1])

    # At the subscription, then at each group: access and policy.
    role_assignments = list(authorization.role_assignments.list_for_subscription(filter=role_filter, **call))
    deny_assignments = list(authorization.deny_assignments.list(filter="atScope()", **call))
    policy_assignments = list(policy.policy_assignments.list(filter="atScope()", **call))
    exemptions = list(policy.policy_exemptions.list(filter="atScope()", **call))
    at_groups = {}
    for rg in group_names.values():
        at_groups[rg] = {
            "group": resources.resource_groups.get(rg, **call),
            "permissions": list(authorization.permissions.list_for_resource_group(rg, **call)),
            "role_assignments": list(
                authorization.role_assignments.list_for_resource_group(rg, filter=role_filter, **call)
            ),
            "deny_assignments": list(
                authorization.deny_assignments.list_for_resource_group(rg, filter="atScope()", **call)
            ),
            "policy_assignments": list(
                policy.policy_assignments.list_for_resource_group(rg, filter="atScope()", **call)
            ),
            "exemptions": list(policy.policy_exemptions.list_for_resource_group(rg, filter="atScope()", **call)),
        }

    # Round 2: what round 1 names. Each definition once.
    role_definitions = {}
    for assignment in role_assignments + [a for g in at_groups.values() for a in g["role_assignments"]]:
        key = assignment.role_definition_id.lower()
        if key not in role_definitions:
            role_definitions[key] = authorization.role_definitions.get_by_id(assignment.role_definition_id, **call)

    definitions: dict[str, object] = {}

    def definition(definition_id: str):
        key = definition_id.lower()
        if key in definitions:
            return definitions[key]
        parts = definition_id.strip("/").split("/")
        lower = [p.lower() for p in parts]
        name = parts[-1]
        is_set = lower[-2] == "policysetdefinitions"
        operations = policy.policy_set_definitions if is_set else policy.policy_definitions
        if lower[0] == "subscriptions":
            if parts[1].lower() != sub.lower():
                raise SystemExit(f"a definition in another subscription: {definition_id}")
            found = operations.get(name, **call)
        elif "managementgroups" in lower:
            group = parts[lower.index("managementgroups") + 1]
            found = operations.get_at_management_group(name, group, **call)
        else:
            found = operations.get_built_in(name, **call)
        definitions[key] = found
        return found

    all_assignments = policy_assignments + [a for g in at_groups.values() for a in g["policy_assignments"]]
    for assignment in all_assignments:
        definition(assignment.policy_definition_id)

    # The service's dry runs of the plan: each distinct license body once (validateLicense),
    # each planned license and license profile at its group (checkPolicyRestrictions).
    validations = {}
    restrictions = {}
    location_of = {m.id.lower(): m.location for m in machines if m.id}
    for license in plan:
        details = hc_models.LicenseDetails(
            state=license.get("state", "Activated"),
            target=license["target"],
            edition=license["edition"],
            type=license["type"],
            processors=license["processors"],
        )
        body = hc_models.License(
            location=license["location"],
            properties=hc_models.LicenseProperties(license_type="ESU", license_details=details),
        )
        key = json.dumps(body.as_dict(), sort_keys=True)
        if key not in validations:
            validations[key] = hybrid.licenses.begin_validate_license(body, **call).result()
        content = {
            "location": license["location"],
            "name": license["name"],
            "type": LICENSES,
            "properties": body.as_dict()["properties"],
        }
        check(insights, call, restrictions, license["resource_group"], content)
        license_id = (
            f"/subscriptions/{license.get('subscription', sub)}/resourceGroups/"
            f"{license['resource_group']}/providers/{LICENSES}/{license['name']}"
        )
        for machine in license.get("machines", []):
            owner = group_of(machine)
            if not owner or owner[0].lower() != sub.lower():
                continue
            location = location_of.get(machine.lower())
            if location is None:
                continue
            profile = {
                "location": location,
                "name": "default",
                "type": LICENSE_PROFILES,
                "properties": {"esuProfile": {"assignedLicense": license_id}},
            }
            check(insights, call, restrictions, owner[1], profile)

    # Round 3: the initiatives' members.
    for found in list(definitions.values()):
        for member in getattr(found, "policy_definitions", None) or []:
            definition(member.policy_definition_id)

    elapsed = time.perf_counter() - started
    read = {
        "subscription_state": subscription.state,
        "providers": len(providers),
        "permissions": len(permissions),
        "licenses": len(licenses),
        "machines": len(machines),
        "patch_policy_states": len(patch_states),
        "management_group_chains": len(chains),
        "mak_keys": len(mak_keys),
        "role_assignments_at_subscription": len(role_assignments),
        "deny_assignments_at_subscription": len(deny_assignments),
        "policy_assignments_at_subscription": len(policy_assignments),
        "policy_exemptions_at_subscription": len(exemptions),
        "resource_groups": sorted(at_groups),
        "policy_assignments_at_groups": sum(len(g["policy_assignments"]) for g in at_groups.values()),
        "role_definitions": len(role_definitions),
        "policy_definitions": sum(1 for k in definitions if "/policydefinitions/" in k),
        "policy_set_definitions": sum(1 for k in definitions if "/policysetdefinitions/" in k),
        "validate_license": len(validations),
        "check_policy_restrictions": len(restrictions),
    }
    json.dump({"requests": counter.requests, "seconds": round(elapsed, 4), "read": read}, sys.stdout)
    print()
    return 0


def check(insights, call, done: dict, group: str, content: dict) -> None:
    """checkPolicyRestrictions of `content` at `group`, once per (group, content)."""
    key = (group.lower(), json.dumps(content, sort_keys=True))
    if key in done:
        return
    request = pi_models.CheckRestrictionsRequest(
        resource_details=pi_models.CheckRestrictionsResourceDetails(
            resource_content=content, api_version=HYBRID_COMPUTE_API
        )
    )
    done[key] = insights.policy_restrictions.check_at_resource_group_scope(
        group, request, api_version=POLICY_INSIGHTS_API, **call
    )


if __name__ == "__main__":
    sys.exit(main())
