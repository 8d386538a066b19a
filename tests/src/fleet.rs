//! A generated fleet served by the ARM mock: many subscriptions under one management group, each
//! with thousands of Arc machines and hundreds of ESU licenses in the real 2026-09-01 payload
//! shapes, machine lists paged by `nextLink` (pages of 1,000 by default, as ARM pages them).
//!
//! Every answer is serialised once, when the mock starts, and served as bytes: the mock costs
//! the same for the tool and for the bare fetcher the benchmarks compare it with. Each request is
//! answered as often as it comes (no expectations: a benchmark runs many times). Everything the
//! fleet does not serve itself falls to [`ArmMock`]'s defaults (no access or policy
//! assignments, every resource group exists with the caller holding `*`, no patch states, no
//! MAK keys, Azure Policy restricting nothing).
//!
//! The machines: Windows Server 2012, 2012 R2 and 2016 in turn, spread over
//! `resource_groups` groups `rg-arc-{k}`; nine in ten linked to a license of their own program
//! (one of the subscription's `licenses_per_subscription` in `rg-esu`); every 97th
//! disconnected, every 50th on an old agent.

use crate::graph::{GraphEstate, GraphServed};
use crate::quota::{QuotaSettings, Quotas};
use crate::{
    ArmMock, Authorized, arm_error, license_json, link, machine_json, permissions_owner,
    providers_json, subscription_json,
};
use esu_preflight::arm::catalog::api_version;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// What a [`FleetMock`] generates.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Subscriptions below the management group.
    pub subscriptions: usize,
    /// Arc machines in each subscription.
    pub machines_per_subscription: usize,
    /// ESU licenses in each subscription (one page).
    pub licenses_per_subscription: usize,
    /// Machines per page of the machine list.
    pub page_size: usize,
    /// Resource groups the machines of a subscription are spread over.
    pub resource_groups: usize,
    /// The management group above every subscription.
    pub management_group: String,
    /// Entries per page of the management group's descendants.
    pub descendants_page_size: usize,
    /// Subscriptions (by index) listed below the management group that the caller may not read:
    /// ARM answers 403 `AuthorizationFailed` for everything in them.
    pub unreadable: Vec<usize>,
}

impl FleetSpec {
    /// Issue 8's fleet: 20 subscriptions × 5,000 machines and 250 licenses, pages of 1,000,
    /// machines in 10 resource groups, below management group `mg-esu-fleet`.
    pub fn issue8() -> Self {
        FleetSpec {
            subscriptions: 20,
            machines_per_subscription: 5_000,
            licenses_per_subscription: 250,
            page_size: 1_000,
            resource_groups: 10,
            management_group: "mg-esu-fleet".to_owned(),
            descendants_page_size: 100,
            unreadable: Vec::new(),
        }
    }

    /// The id of subscription `index` (`0000000{index}-0000-4000-8000-00000000f1ee`).
    pub fn subscription_id(index: usize) -> String {
        format!("{index:08x}-0000-4000-8000-00000000f1ee")
    }

    /// Every subscription id, in order.
    pub fn subscription_ids(&self) -> Vec<String> {
        (0..self.subscriptions).map(Self::subscription_id).collect()
    }

    /// Pages of one subscription's machine list.
    pub fn pages(&self) -> usize {
        self.machines_per_subscription
            .div_ceil(self.page_size.max(1))
            .max(1)
    }

    /// The licenses of `sub`.
    pub fn licenses(&self, sub: &str) -> Vec<Value> {
        (0..self.licenses_per_subscription)
            .map(|i| {
                let (target, edition, kind, cores) = match i % 3 {
                    0 => ("Windows Server 2012", "Standard", "vCore", 160),
                    1 => ("Windows Server 2012 R2", "Datacenter", "pCore", 320),
                    _ => ("Windows Server 2016", "Standard", "vCore", 160),
                };
                license_json(sub, &format!("esu-{i:03}"), target, edition, kind, cores)
            })
            .collect()
    }

    /// The machines of `sub`, in list order, linked to `licenses` (those of [`FleetSpec::licenses`]).
    pub fn machines(&self, sub: &str, licenses: &[Value]) -> Vec<Value> {
        let templates = [
            ("Windows Server 2012 Standard", "6.2.9200.24975"),
            ("Windows Server 2012 R2 Datacenter", "6.3.9600.21620"),
            ("Windows Server 2016 Standard", "10.0.14393.7428"),
        ]
        .map(|(sku, version)| machine_json(sub, "template", sku, version, "1.62.03012.2069", 8));
        let groups = self.resource_groups.max(1);
        let per_program = (licenses.len() / 3).max(1);
        (0..self.machines_per_subscription)
            .map(|i| {
                let mut machine = templates[i % 3].clone();
                let name = format!("srv-{i:05}");
                let group = (i / 7) % groups;
                machine["id"] = json!(format!(
                    "/subscriptions/{sub}/resourceGroups/rg-arc-{group}/providers/Microsoft.HybridCompute/machines/{name}"
                ));
                machine["properties"]["displayName"] = json!(name);
                machine["name"] = json!(name);
                if i % 50 == 0 {
                    machine["properties"]["agentVersion"] = json!("1.30.02255.1088");
                }
                if i % 97 == 0 {
                    machine["properties"]["status"] = json!("Disconnected");
                    machine["properties"]["lastStatusChange"] = json!("2026-11-01T08:00:00Z");
                }
                if i % 10 != 0 {
                    let index = (i % 3) + 3 * ((i / 3) % per_program);
                    if let Some(license) = licenses.get(index) {
                        link(&mut machine, license);
                    }
                }
                machine
            })
            .collect()
    }
}

/// Requests the fleet's own routes answered (the defaults of [`ArmMock`] are not counted).
#[derive(Debug, Default)]
pub struct FleetCounters {
    /// Machine list pages served.
    pub machine_pages: AtomicU64,
    /// Every answer of the fleet's routes.
    pub answers: AtomicU64,
}

/// The ARM mock serving a generated fleet (see the [module docs](self)).
pub struct FleetMock {
    mock: ArmMock,
    spec: FleetSpec,
    counters: Arc<FleetCounters>,
    quotas: Option<Arc<Quotas>>,
    graph: Arc<GraphServed>,
}

/// The answers of the fleet's routes, by lower-case path and page (`$skiptoken`, 0 for none).
struct FleetAnswers {
    bodies: HashMap<(String, usize), Arc<Vec<u8>>>,
    delay: Duration,
    counters: Arc<FleetCounters>,
    quotas: Option<Arc<Quotas>>,
}

impl Respond for FleetAnswers {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request
            .url
            .path()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let page = request
            .url
            .query_pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case("$skiptoken"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0usize);
        self.counters.answers.fetch_add(1, Ordering::Relaxed);
        match self.bodies.get(&(path, page)) {
            Some(body) => {
                if request.url.path().ends_with("/machines") {
                    self.counters.machine_pages.fetch_add(1, Ordering::Relaxed);
                }
                let answer = ResponseTemplate::new(200)
                    .set_delay(self.delay)
                    .set_body_raw(body.as_ref().clone(), "application/json");
                match &self.quotas {
                    Some(quotas) => quotas.stamp(answer, request),
                    None => answer,
                }
            }
            None => ResponseTemplate::new(404)
                .set_delay(self.delay)
                .set_body_json(arm_error(
                    "ResourceNotFound",
                    &format!("the fleet mock has no {}", request.url),
                )),
        }
    }
}

impl FleetMock {
    /// Starts the mock with `delay` before every answer and serves `spec`'s fleet.
    pub async fn start(spec: FleetSpec, delay: Duration) -> Self {
        Self::start_with(spec, delay, None).await
    }

    /// Like [`FleetMock::start`], emulating Azure's quotas (`quotas`) when given: answers carry
    /// the remaining-quota headers, and what exceeds a quota is answered 429.
    pub async fn start_with(
        spec: FleetSpec,
        delay: Duration,
        quotas: Option<QuotaSettings>,
    ) -> Self {
        let mock = ArmMock::start_with_delay(delay).await.expect_runs(u64::MAX);
        // First: the quota route must outrank every other route of priority 1.
        let quotas = match quotas {
            Some(settings) => Some(mock.emulate_quotas(settings).await),
            None => None,
        };
        let mut graph = GraphEstate::new();
        let ids = spec.subscription_ids();
        graph.management_group(
            &spec.management_group,
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let counters = Arc::new(FleetCounters::default());
        let uri = mock.uri();
        let mut bodies = HashMap::new();
        let mut put = |path: String, page: usize, body: &Value| {
            let bytes = serde_json::to_vec(body).expect("JSON serialises");
            bodies.insert((path.to_ascii_lowercase(), page), Arc::new(bytes));
        };
        let descendants: Vec<Value> = ids
            .iter()
            .enumerate()
            .map(|(i, sub)| {
                json!({
                    "id": format!("/subscriptions/{sub}"),
                    "type": "Microsoft.Management/managementGroups/subscriptions",
                    "name": sub,
                    "properties": {
                        "displayName": format!("ESU fleet {i}"),
                        "parent": { "id": format!(
                            "/providers/Microsoft.Management/managementGroups/{}",
                            spec.management_group
                        ) },
                    },
                })
            })
            .collect();
        let route = format!(
            "/providers/Microsoft.Management/managementGroups/{}/descendants",
            spec.management_group
        );
        let pages = descendants
            .len()
            .div_ceil(spec.descendants_page_size.max(1))
            .max(1);
        let mut chunks = descendants.chunks(spec.descendants_page_size.max(1));
        for page in 0..pages {
            let items = chunks.next().map(<[Value]>::to_vec).unwrap_or_default();
            let next = (page + 1 < pages).then(|| {
                format!(
                    "{uri}{route}?api-version={}&%24skiptoken={}",
                    api_version::MANAGEMENT_GROUPS,
                    page + 1
                )
            });
            put(
                route.clone(),
                page,
                &json!({ "value": items, "nextLink": next }),
            );
        }
        for sub in &ids {
            put(
                format!("/subscriptions/{sub}"),
                0,
                &subscription_json(sub, "Enabled"),
            );
            put(
                format!("/subscriptions/{sub}/providers"),
                0,
                &json!({ "value": providers_json(sub, &[]) }),
            );
            put(
                format!("/subscriptions/{sub}/providers/Microsoft.Authorization/permissions"),
                0,
                &permissions_owner(),
            );
            let licenses = spec.licenses(sub);
            let machines = spec.machines(sub, &licenses);
            graph.subscription(sub, &licenses, &machines);
            put(
                format!("/subscriptions/{sub}/providers/Microsoft.HybridCompute/licenses"),
                0,
                &json!({ "value": licenses }),
            );
            let route = format!("/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines");
            let pages = spec.pages();
            let mut chunks = machines.chunks(spec.page_size.max(1));
            for page in 0..pages {
                let items = chunks.next().map(<[Value]>::to_vec).unwrap_or_default();
                let mut body = json!({ "value": items });
                if page + 1 < pages {
                    body["nextLink"] = json!(format!(
                        "{uri}{route}?api-version={}&%24skiptoken={}",
                        api_version::HYBRID_COMPUTE,
                        page + 1
                    ));
                }
                put(route.clone(), page, &body);
            }
        }
        for index in &spec.unreadable {
            let sub = FleetSpec::subscription_id(*index);
            mock.mount(
                Mock::given(wiremock::matchers::path_regex(format!(
                    r"(?i)^/subscriptions/{sub}(/.*)?$"
                )))
                .and(Authorized)
                .respond_with(ResponseTemplate::new(403).set_delay(delay).set_body_json(
                    crate::authorization_failed(
                        "Microsoft.Resources/subscriptions/read",
                        &format!("/subscriptions/{sub}"),
                    ),
                ))
                .with_priority(1)
                .named(format!("{sub} is not readable")),
            )
            .await;
        }
        let paths: Vec<String> = bodies.keys().map(|(path, _)| path.clone()).collect();
        let answers = FleetAnswers {
            bodies,
            delay,
            counters: Arc::clone(&counters),
            quotas: quotas.clone(),
        };
        mock.mount(
            Mock::given(wiremock::matchers::method("GET"))
                .and(FleetPaths(paths.into_iter().collect()))
                .and(Authorized)
                .respond_with(answers)
                .named("the generated fleet"),
        )
        .await;
        let graph = mock.graph(graph).await;
        FleetMock {
            mock,
            spec,
            counters,
            quotas,
            graph,
        }
    }

    /// The emulated quotas, when the mock was started with them.
    pub fn quotas(&self) -> Option<&Arc<Quotas>> {
        self.quotas.as_ref()
    }

    /// The Resource Graph pages the mock served (the fleet's machines and licenses are there
    /// too, as Resource Graph rows).
    pub fn graph_served(&self) -> &GraphServed {
        &self.graph
    }

    /// The underlying mock (its URI, custom routes, the requests it received).
    pub fn mock(&self) -> &ArmMock {
        &self.mock
    }

    /// What the fleet holds.
    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    /// How many answers the fleet's routes gave.
    pub fn counters(&self) -> &FleetCounters {
        &self.counters
    }

    /// The pages a reader of the whole fleet pulls, as URLs: the management group's
    /// descendants, then per subscription its license list and each page of its machine list
    /// in order — what [`FleetMock::bare_fetch`] fetches.
    pub fn page_urls(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let uri = self.mock.uri();
        let route = format!(
            "{uri}/providers/Microsoft.Management/managementGroups/{}/descendants?api-version={}",
            self.spec.management_group,
            api_version::MANAGEMENT_GROUPS
        );
        let pages = self
            .spec
            .subscriptions
            .div_ceil(self.spec.descendants_page_size.max(1))
            .max(1);
        let descendants = (0..pages)
            .map(|page| {
                if page == 0 {
                    route.clone()
                } else {
                    format!("{route}&%24skiptoken={page}")
                }
            })
            .collect();
        let per_subscription = self
            .spec
            .subscription_ids()
            .iter()
            .map(|sub| {
                let mut urls = vec![format!(
                    "{uri}/subscriptions/{sub}/providers/Microsoft.HybridCompute/licenses?api-version={}",
                    api_version::HYBRID_COMPUTE
                )];
                let machines =
                    format!("{uri}/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines");
                for page in 0..self.spec.pages() {
                    urls.push(if page == 0 {
                        format!("{machines}?api-version={}", api_version::HYBRID_COMPUTE)
                    } else {
                        format!(
                            "{machines}?api-version={}&%24skiptoken={page}",
                            api_version::HYBRID_COMPUTE
                        )
                    });
                }
                urls
            })
            .collect();
        (descendants, per_subscription)
    }

    /// The floor of reading the fleet: the descendants, then every subscription at once, each
    /// pulling its license page and its machine pages one after another, bodies read to the end
    /// and dropped (no parsing). Returns the bytes received.
    ///
    /// # Panics
    ///
    /// When a page is not answered 200.
    pub async fn bare_fetch(&self, token: &str) -> u64 {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let (descendants, subscriptions) = self.page_urls();
        let get = |url: String| {
            let client = client.clone();
            async move {
                let response = client
                    .get(&url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("the mock answers");
                assert_eq!(response.status().as_u16(), 200, "{url}");
                response.bytes().await.expect("the body arrives").len() as u64
            }
        };
        let mut bytes = 0;
        for url in descendants {
            bytes += get(url).await;
        }
        let chains = subscriptions.into_iter().map(|urls| {
            let get = &get;
            async move {
                let mut bytes = 0;
                for url in urls {
                    bytes += get(url).await;
                }
                bytes
            }
        });
        bytes += futures::future::join_all(chains)
            .await
            .into_iter()
            .sum::<u64>();
        bytes
    }
}

/// Matches the fleet's paths (lower-case, no trailing slash).
struct FleetPaths(std::collections::HashSet<String>);

impl wiremock::Match for FleetPaths {
    fn matches(&self, request: &Request) -> bool {
        self.0.contains(
            &request
                .url
                .path()
                .trim_end_matches('/')
                .to_ascii_lowercase(),
        )
    }
}
