//! Azure Resource Graph for the ARM mock: a stateless-per-request responder that holds each
//! subscription's Arc machines and ESU licenses (as Resource Graph rows, serialised once) and
//! answers the inventory queries gather sends — machines, licenses, and the count query — over
//! the body's `subscriptions` or `managementGroups`, paged by `options.$top` with a
//! `$skipToken`, `resultTruncated` as a string (as Resource Graph sends it). The management-group
//! chain query keeps the mock's default answer (no management groups known).
//!
//! Built for large generated fleets: rows are kept as JSON text and only the requested page is
//! copied into an answer.
//!
//! ```no_run
//! # async fn demo() {
//! use esu_preflight_tests::{ArmMock, SUB, graph::GraphEstate, troubled_estate};
//! let mock = ArmMock::start().await;
//! let (licenses, machines) = troubled_estate(SUB);
//! let mut estate = GraphEstate::new();
//! estate.subscription(SUB, &licenses, &machines);
//! let served = mock.graph(estate).await;
//! // … run the tool, then:
//! assert!(served.machine_pages() >= 1);
//! # }
//! ```

use crate::{ArmMock, Authorized, RESOURCE_GRAPH_API, arm_error};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wiremock::matchers::{method, path_regex, query_param};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// The inventory queries the responder tells apart (by the query text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphQuery {
    /// `resources | where type =~ 'microsoft.hybridcompute/machines' | project …`.
    Machines,
    /// `resources | where type =~ 'microsoft.hybridcompute/licenses' | project …`.
    Licenses,
    /// `… | summarize machines = countif(…), licenses = countif(…) by subscriptionId …`.
    Counts,
}

/// How the responder misbehaves for one kind of query.
#[derive(Debug, Clone)]
enum Failure {
    /// Answers this status and body (after the mock's retries, the client's error).
    Refuse(u16, Value),
    /// The first page says `resultTruncated: "true"` and carries no `$skipToken`.
    Truncate,
}

/// One subscription's rows, each a serialised Resource Graph row.
#[derive(Debug, Default, Clone)]
struct Rows {
    machines: Vec<Box<str>>,
    licenses: Vec<Box<str>>,
}

/// What the responder holds: rows per subscription, management groups, failures.
#[derive(Debug, Default, Clone)]
pub struct GraphEstate {
    subscriptions: HashMap<String, Rows>,
    management_groups: HashMap<String, Vec<String>>,
    failures: HashMap<GraphQuery, Failure>,
    page_size: Option<usize>,
}

impl GraphEstate {
    /// An empty estate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sub`'s licenses and machines, given as ARM list items (as
    /// [`ArmMock::hybrid_compute`] serves them): each becomes the row Resource Graph sends
    /// (`type` lower-case, an absent `kind` or `location` an empty string, `subscriptionId`).
    pub fn subscription(&mut self, sub: &str, licenses: &[Value], machines: &[Value]) -> &mut Self {
        let rows = self
            .subscriptions
            .entry(sub.to_ascii_lowercase())
            .or_default();
        rows.licenses.extend(
            licenses
                .iter()
                .map(|l| graph_row(sub, l, "microsoft.hybridcompute/licenses", false)),
        );
        rows.machines.extend(
            machines
                .iter()
                .map(|m| graph_row(sub, m, "microsoft.hybridcompute/machines", true)),
        );
        self
    }

    /// Adds rows already serialised as Resource Graph sends them (for generated fleets).
    pub fn rows(
        &mut self,
        sub: &str,
        query: GraphQuery,
        rows: impl IntoIterator<Item = String>,
    ) -> &mut Self {
        let entry = self
            .subscriptions
            .entry(sub.to_ascii_lowercase())
            .or_default();
        let target = match query {
            GraphQuery::Machines => &mut entry.machines,
            GraphQuery::Licenses => &mut entry.licenses,
            GraphQuery::Counts => return self,
        };
        target.extend(rows.into_iter().map(String::into_boxed_str));
        self
    }

    /// Management group `group` holds `subscriptions` (for queries over `managementGroups`).
    pub fn management_group(&mut self, group: &str, subscriptions: &[&str]) -> &mut Self {
        self.management_groups.insert(
            group.to_ascii_lowercase(),
            subscriptions
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// `query` is answered `status` with `body` (e.g. 403 `AuthorizationFailed`).
    pub fn refuse(&mut self, query: GraphQuery, status: u16, body: Value) -> &mut Self {
        self.failures.insert(query, Failure::Refuse(status, body));
        self
    }

    /// `query`'s first page says its results are truncated and gives no `$skipToken`.
    pub fn truncate(&mut self, query: GraphQuery) -> &mut Self {
        self.failures.insert(query, Failure::Truncate);
        self
    }

    /// Pages of at most `rows` rows, whatever `$top` asks (default: `$top`, at most 1,000).
    pub fn page_size(&mut self, rows: usize) -> &mut Self {
        self.page_size = Some(rows.max(1));
        self
    }
}

/// An ARM list item as a Resource Graph row of `type`, serialised.
fn graph_row(sub: &str, item: &Value, kind: &str, with_kind: bool) -> Box<str> {
    let text = |key: &str| match item.get(key) {
        Some(Value::String(s)) => json!(s),
        _ => json!(""),
    };
    let mut row = json!({
        "id": item.get("id").cloned().unwrap_or(Value::Null),
        "name": text("name"),
        "type": kind,
        "location": text("location"),
        "tags": item.get("tags").cloned().unwrap_or(Value::Null),
        "properties": item.get("properties").cloned().unwrap_or(Value::Null),
        "subscriptionId": sub.to_ascii_lowercase(),
    });
    if with_kind {
        row["kind"] = text("kind");
    }
    row.to_string().into_boxed_str()
}

/// How many pages of each query the responder served (shared with the responder).
#[derive(Debug, Default)]
pub struct GraphServed {
    machines: AtomicU64,
    licenses: AtomicU64,
    counts: AtomicU64,
    chains: AtomicU64,
}

impl GraphServed {
    /// Pages of the machine query served.
    pub fn machine_pages(&self) -> u64 {
        self.machines.load(Ordering::Relaxed)
    }

    /// Pages of the license query served.
    pub fn license_pages(&self) -> u64 {
        self.licenses.load(Ordering::Relaxed)
    }

    /// Count queries served.
    pub fn count_queries(&self) -> u64 {
        self.counts.load(Ordering::Relaxed)
    }

    /// Management-group chain queries served.
    pub fn chain_queries(&self) -> u64 {
        self.chains.load(Ordering::Relaxed)
    }

    /// Every query (page) served.
    pub fn total(&self) -> u64 {
        self.machine_pages() + self.license_pages() + self.count_queries() + self.chain_queries()
    }
}

/// The responder.
struct GraphResponder {
    estate: GraphEstate,
    served: Arc<GraphServed>,
    delay: Duration,
}

fn bad_request(message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(arm_error("BadRequest", message))
}

impl GraphResponder {
    /// The subscriptions a request body names, in its order.
    fn scope(&self, body: &Value) -> Vec<String> {
        let names = |key: &str| -> Vec<String> {
            body.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut subs = names("subscriptions");
        for group in names("managementGroups") {
            for sub in self
                .estate
                .management_groups
                .get(&group)
                .into_iter()
                .flatten()
            {
                if !subs.contains(sub) {
                    subs.push(sub.clone());
                }
            }
        }
        subs
    }

    fn answer(&self, query: GraphQuery, body: &Value) -> ResponseTemplate {
        let subs = self.scope(body);
        let options = body.get("options");
        let top = options
            .and_then(|o| o.get("$top"))
            .and_then(Value::as_u64)
            .map_or(1000, |t| usize::try_from(t).unwrap_or(1000))
            .clamp(1, 1000);
        let top = self.estate.page_size.unwrap_or(top);
        let skip = match options.and_then(|o| o.get("$skipToken")) {
            None | Some(Value::Null) => 0,
            Some(token) => match token
                .as_str()
                .and_then(|t| t.strip_prefix("skip:"))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(skip) => skip,
                None => return bad_request("the $skipToken is not one this service issued"),
            },
        };
        let count_rows: Vec<Box<str>>;
        let lists: Vec<&[Box<str>]> = match query {
            GraphQuery::Counts => {
                count_rows = subs
                    .iter()
                    .filter_map(|sub| {
                        let rows = self.estate.subscriptions.get(sub)?;
                        let (m, l) = (rows.machines.len(), rows.licenses.len());
                        (m + l > 0).then(|| {
                            json!({
                                "id": sub, "subscriptionId": sub, "machines": m, "licenses": l,
                            })
                            .to_string()
                            .into_boxed_str()
                        })
                    })
                    .collect();
                vec![&count_rows[..]]
            }
            GraphQuery::Machines | GraphQuery::Licenses => subs
                .iter()
                .filter_map(|sub| self.estate.subscriptions.get(sub))
                .map(|rows| {
                    if query == GraphQuery::Machines {
                        &rows.machines[..]
                    } else {
                        &rows.licenses[..]
                    }
                })
                .collect(),
        };
        let total: usize = lists.iter().map(|l| l.len()).sum();
        let end = (skip + top).min(total);
        let mut data = String::from("[");
        let mut offset = 0usize;
        let mut written = 0usize;
        for list in lists {
            let (from, to) = (offset, offset + list.len());
            offset = to;
            if to <= skip || from >= end {
                continue;
            }
            for row in &list[skip.max(from) - from..end.min(to) - from] {
                if written > 0 {
                    data.push(',');
                }
                data.push_str(row);
                written += 1;
            }
        }
        data.push(']');
        let more = end < total;
        let truncate = matches!(self.estate.failures.get(&query), Some(Failure::Truncate));
        let token = if more && !truncate {
            format!(r#""$skipToken":"skip:{end}","#)
        } else {
            String::new()
        };
        let text = format!(
            r#"{{"totalRecords":{total},"count":{written},"resultTruncated":"{}",{token}"facets":[],"data":{data}}}"#,
            if more { "true" } else { "false" }
        );
        ResponseTemplate::new(200)
            .set_delay(self.delay)
            .set_body_raw(text, "application/json")
    }
}

impl Respond for GraphResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return bad_request("the request body is not JSON");
        };
        let text = body
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let query = if text.contains("managementgroupancestorschain") {
            self.served.chains.fetch_add(1, Ordering::Relaxed);
            // The mock's default: no management groups known.
            return ResponseTemplate::new(200).set_delay(self.delay).set_body_json(
                json!({ "totalRecords": 0, "count": 0, "data": [], "resultTruncated": "false" }),
            );
        } else if text.contains("summarize") {
            self.served.counts.fetch_add(1, Ordering::Relaxed);
            GraphQuery::Counts
        } else if text.contains("microsoft.hybridcompute/licenses") {
            self.served.licenses.fetch_add(1, Ordering::Relaxed);
            GraphQuery::Licenses
        } else if text.contains("microsoft.hybridcompute/machines") {
            self.served.machines.fetch_add(1, Ordering::Relaxed);
            GraphQuery::Machines
        } else {
            return bad_request("the mock knows no such query");
        };
        if let Some(Failure::Refuse(status, body)) = self.estate.failures.get(&query) {
            return ResponseTemplate::new(*status)
                .set_delay(self.delay)
                .set_body_json(body.clone());
        }
        self.answer(query, &body)
    }
}

impl ArmMock {
    /// Resource Graph answers the inventory queries from `estate` (any number of times: it
    /// holds no state between requests); the returned counters say how many pages of each
    /// query it served. A route mounted with [`ArmMock::management_group_chains`] still answers
    /// the chain query.
    pub async fn graph(&self, estate: GraphEstate) -> Arc<GraphServed> {
        let served = Arc::new(GraphServed::default());
        self.mount(
            Mock::given(method("POST"))
                .and(path_regex(
                    r"(?i)^/providers/Microsoft\.ResourceGraph/resources$",
                ))
                .and(query_param("api-version", RESOURCE_GRAPH_API))
                .and(Authorized)
                .respond_with(GraphResponder {
                    estate,
                    served: Arc::clone(&served),
                    delay: self.delay,
                })
                .with_priority(6)
                .named("Resource Graph inventory"),
        )
        .await;
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_graph_shaped() {
        let row = graph_row(
            "S",
            &json!({"id": "/subscriptions/S/x", "name": "m", "kind": null, "properties": {"a": 1}}),
            "microsoft.hybridcompute/machines",
            true,
        );
        let row: Value = serde_json::from_str(&row).unwrap();
        assert_eq!(row["kind"], "");
        assert_eq!(row["location"], "");
        assert_eq!(row["subscriptionId"], "s");
        assert_eq!(row["type"], "microsoft.hybridcompute/machines");
    }
}
