//! The inventory: each subscription's Arc machines and ESU licenses, read either through
//! per-subscription ARM lists or through Azure Resource Graph queries over batches of
//! subscriptions, whichever the [estimate](estimate) says finishes sooner under the quotas.
//!
//! Both give the same facts: a Resource Graph row is decoded on its own into the same
//! [`Item`] an ARM list item becomes, routed to its subscription by its `subscriptionId`
//! (a row of a subscription outside the batch is ignored).
//!
//! Resource Graph leaves out what the caller may not read instead of refusing it, so a
//! subscription's rows are trusted only where the caller's permissions at the subscription (read
//! in round 1 anyway) allow reading machines (licenses); elsewhere that subscription's ARM list
//! is read, and answers for itself (a 403 names the missing action).
//!
//! A query Resource Graph refuses (400, 403, 404, 5xx after retries) or whose answer cannot be
//! read sends its batch's subscriptions to ARM lists, and the [`InventoryNote`] says why. An
//! answer that contradicts itself (`resultTruncated` with no `$skipToken`) does the same in
//! [`Inventory::Auto`]; under [`Inventory::ResourceGraph`] the batch's facts are unavailable
//! (never a partial list).

use super::{Run, readable};
use crate::arm::catalog::{self, ArmList, GraphRow};
use crate::arm::{ArmClient, ArmError};
use crate::models::{Item, License, Machine};
use crate::snapshot::{InventoryNote, InventorySource, Scope};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How machines and licenses are read ([`GatherOptions::inventory`](super::GatherOptions)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Inventory {
    /// Whichever the estimate says is sooner: with more than one subscription (or a management
    /// group) one count query is sent first, at the same time as the scope is resolved; one
    /// subscription is read through ARM lists without asking.
    #[default]
    Auto,
    /// Per-subscription ARM lists.
    ArmLists,
    /// Resource Graph queries (falling back to ARM lists where Resource Graph refuses).
    ResourceGraph,
}

impl Inventory {
    /// Every choice, in the order of their names.
    pub const ALL: [Inventory; 3] = [
        Inventory::Auto,
        Inventory::ArmLists,
        Inventory::ResourceGraph,
    ];

    /// The name on the command line: `auto`, `arm`, `graph`.
    ///
    /// ```
    /// use esu_preflight::gather::Inventory;
    /// assert_eq!(Inventory::ResourceGraph.name(), "graph");
    /// assert_eq!("arm".parse::<Inventory>(), Ok(Inventory::ArmLists));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Inventory::Auto => "auto",
            Inventory::ArmLists => "arm",
            Inventory::ResourceGraph => "graph",
        }
    }
}

impl std::str::FromStr for Inventory {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Inventory::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("{text:?} is not one of auto, arm, graph"))
    }
}

/// How many machines and licenses one subscription holds (from the count query).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryCounts {
    /// Arc machines.
    pub machines: u64,
    /// ESU licenses.
    pub licenses: u64,
}

/// What [`estimate`] weighs: the fleet, the network and the quotas.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateInput {
    /// One entry per subscription in scope.
    pub counts: Vec<InventoryCounts>,
    /// The time one request takes (the count query's round trip).
    pub latency: Duration,
    /// Items per page, of ARM lists and Resource Graph alike (1,000).
    pub page_size: u64,
    /// Requests in flight at most per subscription (and for Resource Graph).
    pub concurrency: usize,
    /// Requests in flight at most overall (256).
    pub max_in_flight: usize,
    /// ARM's read bucket per subscription (250).
    pub arm_bucket: u64,
    /// Its refill, reads per second (25).
    pub arm_refill_per_sec: u64,
    /// Other reads each subscription spends from its bucket in the same run (providers,
    /// permissions, assignments…).
    pub arm_other_reads: u64,
    /// Resource Graph queries per window per user (15).
    pub graph_quota: u64,
    /// Resource Graph's quota window (5 s).
    pub graph_window: Duration,
    /// Subscriptions one query may name (1,000).
    pub graph_batch: usize,
}

impl EstimateInput {
    /// Azure's documented limits for `counts`, `latency` and `concurrency`.
    pub fn new(counts: Vec<InventoryCounts>, latency: Duration, concurrency: usize) -> Self {
        EstimateInput {
            counts,
            latency,
            page_size: catalog::RESOURCE_GRAPH_PAGE_SIZE as u64,
            concurrency,
            max_in_flight: 256,
            arm_bucket: 250,
            arm_refill_per_sec: 25,
            arm_other_reads: 30,
            graph_quota: 15,
            graph_window: Duration::from_secs(5),
            graph_batch: catalog::RESOURCE_GRAPH_MAX_SUBSCRIPTIONS,
        }
    }
}

/// The estimated time of each way, and the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Reading every subscription's ARM lists.
    pub arm_lists: Duration,
    /// Reading through Resource Graph.
    pub resource_graph: Duration,
    /// The sooner (ARM lists on a tie: no query quota spent).
    pub choice: InventorySource,
    /// Why, in one line.
    pub reason: String,
}

fn pages(items: u64, page_size: u64) -> u64 {
    items.div_ceil(page_size.max(1)).max(1)
}

/// Estimates how long each way takes to read the inventory and picks the sooner.
///
/// ARM lists: each subscription's two lists run side by side, pages in sequence, within the
/// subscription's `concurrency` slots; every subscription's requests (the lists and its
/// `arm_other_reads`) share `max_in_flight`; a subscription whose pages and other reads exceed
/// its read bucket waits for the refill. Resource Graph: one machine and one license query per
/// batch of subscriptions, pages in sequence; past the first window's quota every
/// `graph_quota` queries wait a window; the other reads still share `max_in_flight`.
///
/// ```
/// use esu_preflight::gather::{EstimateInput, InventoryCounts, estimate};
/// use esu_preflight::snapshot::InventorySource;
/// use std::time::Duration;
///
/// // 500 subscriptions of 10 machines: 1,000 ARM lists, or a few queries.
/// let small = vec![InventoryCounts { machines: 10, licenses: 1 }; 500];
/// let e = estimate(&EstimateInput::new(small, Duration::from_millis(50), 16));
/// assert_eq!(e.choice, InventorySource::ResourceGraph);
///
/// // 20 subscriptions of 5,000 machines: 100 pages either way, but ARM's in parallel.
/// let big = vec![InventoryCounts { machines: 5000, licenses: 20 }; 20];
/// let e = estimate(&EstimateInput::new(big, Duration::from_millis(50), 16));
/// assert_eq!(e.choice, InventorySource::ArmLists);
/// ```
pub fn estimate(input: &EstimateInput) -> Estimate {
    let lat = input.latency.as_secs_f64();
    let concurrency = input.concurrency.max(1) as f64;
    let ps = input.page_size;
    // ARM lists.
    let mut requests = 0u64;
    let mut chain = 0u64;
    let mut refill_wait = 0f64;
    for c in &input.counts {
        let (m, l) = (pages(c.machines, ps), pages(c.licenses, ps));
        requests += m + l;
        // A subscription's requests share its own slots.
        chain = chain
            .max(m.max(l))
            .max((m + l).div_ceil(concurrency as u64));
        let spent = m + l + input.arm_other_reads;
        if spent > input.arm_bucket {
            let wait = (spent - input.arm_bucket) as f64 / input.arm_refill_per_sec.max(1) as f64;
            refill_wait = refill_wait.max(wait);
        }
    }
    // Every subscription's other reads share the overall slots with the lists either way.
    let overall = input.max_in_flight.max(1) as f64;
    let others = (input.counts.len() as u64 * input.arm_other_reads) as f64;
    let arm =
        (chain as f64 * lat).max(((requests as f64 + others) / overall).ceil() * lat) + refill_wait;
    // Resource Graph.
    let mut queries = 0u64;
    let mut graph_chain = 0u64;
    for batch in input.counts.chunks(input.graph_batch.max(1)) {
        let machines: u64 = batch.iter().map(|c| c.machines).sum();
        let licenses: u64 = batch.iter().map(|c| c.licenses).sum();
        let (m, l) = (pages(machines, ps), pages(licenses, ps));
        queries += m + l;
        graph_chain = graph_chain.max(m.max(l));
    }
    let network = (graph_chain as f64 * lat)
        .max((queries as f64 / concurrency).ceil() * lat)
        .max((others / overall).ceil() * lat);
    let quota = input.graph_quota.max(1);
    let windows = queries.saturating_sub(1) / quota;
    let graph = network.max(windows as f64 * input.graph_window.as_secs_f64() + lat);
    let arm_lists = micros(arm);
    let resource_graph = micros(graph);
    let choice = if graph < arm {
        InventorySource::ResourceGraph
    } else {
        InventorySource::ArmLists
    };
    let machines: u64 = input.counts.iter().map(|c| c.machines).sum();
    let licenses: u64 = input.counts.iter().map(|c| c.licenses).sum();
    let reason = format!(
        "{machines} machines and {licenses} licenses in {} subscriptions: {queries} Resource \
         Graph queries ~{} against {requests} ARM list pages ~{}",
        input.counts.len(),
        seconds(resource_graph),
        seconds(arm_lists),
    );
    Estimate {
        arm_lists,
        resource_graph,
        choice,
        reason,
    }
}

/// Seconds as a duration, to the microsecond.
fn micros(seconds: f64) -> Duration {
    Duration::from_micros((seconds * 1e6).round().clamp(0.0, u64::MAX as f64) as u64)
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The count query's outcome: counts by lower-case subscription id and its round trip, or why
/// it failed.
pub(super) type Counted = Result<(HashMap<String, InventoryCounts>, Duration), ArmError>;

/// Sends the count query for `scope` (before it is resolved): over its management groups when
/// it has some, else over its subscriptions (in batches).
pub(super) async fn count(client: &ArmClient, scope: &Scope) -> Counted {
    let started = tokio::time::Instant::now();
    let lists: Vec<ArmList<Value>> = if scope.management_groups.is_empty() {
        let subs: Vec<String> = scope
            .subscriptions
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        subs.chunks(catalog::RESOURCE_GRAPH_MAX_SUBSCRIPTIONS)
            .map(catalog::graph_counts)
            .collect()
    } else {
        vec![catalog::graph_counts_in_management_groups(
            &scope.management_groups,
        )]
    };
    let answers = futures::future::join_all(lists.iter().map(|list| client.fetch_all(list))).await;
    let latency = started.elapsed();
    let mut counts = HashMap::new();
    for rows in answers {
        for row in rows? {
            let Some(sub) = row.get("subscriptionId").and_then(Value::as_str) else {
                continue;
            };
            let number = |key: &str| {
                row.get(key)
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
                    .unwrap_or(0)
            };
            counts.insert(
                sub.to_ascii_lowercase(),
                InventoryCounts {
                    machines: number("machines"),
                    licenses: number("licenses"),
                },
            );
        }
    }
    Ok((counts, latency))
}

/// Whether `mode` asks for the count query for `scope`.
pub(super) fn wants_count(mode: Inventory, scope: &Scope) -> bool {
    mode == Inventory::Auto
        && (!scope.management_groups.is_empty() || scope.subscriptions.len() > 1)
}

/// One batch of subscriptions read through Resource Graph, and its queries with their keys.
struct Batch {
    subscriptions: Arc<[String]>,
    machines: Arc<Query<Machine>>,
    licenses: Arc<Query<License>>,
}

/// A Resource Graph query and its key in the read table.
struct Query<T> {
    key: String,
    list: ArmList<GraphRow<T>>,
}

impl<T> Query<T> {
    fn new(list: ArmList<GraphRow<T>>) -> Arc<Self> {
        Arc::new(Query {
            key: list.key(),
            list,
        })
    }
}

/// The run's way of reading the inventory.
pub(super) struct Plan {
    mode: Inventory,
    /// The batches read through Resource Graph (none: ARM lists for all), each with its
    /// queries (built once: a batch's body names up to 1,000 subscriptions).
    batches: Vec<Batch>,
    /// Each subscription's batch.
    batch_of: HashMap<String, usize>,
    note: InventoryNote,
    /// Why batches left Resource Graph for ARM lists (batch index, reason).
    fallbacks: Mutex<Vec<(usize, String)>>,
    /// What the count query counted, by lower-case subscription id: the lists read through
    /// ARM make room for that many items at once.
    counts: HashMap<String, InventoryCounts>,
    /// Why facts read through Resource Graph are unavailable (under `--inventory graph`).
    incomplete: Mutex<Vec<String>>,
}

impl Plan {
    /// ARM lists for everything, with no note (only the subscriptions' own facts are read).
    pub(super) fn none() -> Self {
        Plan::arm(
            Inventory::ArmLists,
            "only the subscriptions' own facts are read".to_owned(),
        )
    }

    fn arm(mode: Inventory, reason: String) -> Self {
        Plan {
            mode,
            batches: Vec::new(),
            batch_of: HashMap::new(),
            note: InventoryNote {
                source: InventorySource::ArmLists,
                reason,
            },
            fallbacks: Mutex::new(Vec::new()),
            incomplete: Mutex::new(Vec::new()),
            counts: HashMap::new(),
        }
    }

    fn graph(mode: Inventory, subscriptions: &[String], reason: String) -> Self {
        let batches: Vec<Batch> = subscriptions
            .chunks(catalog::RESOURCE_GRAPH_MAX_SUBSCRIPTIONS)
            .map(|subs| Batch {
                subscriptions: Arc::from(subs),
                machines: Query::new(catalog::graph_machines(subs)),
                licenses: Query::new(catalog::graph_licenses(subs)),
            })
            .collect();
        let batch_of = batches
            .iter()
            .enumerate()
            .flat_map(|(i, batch)| {
                batch
                    .subscriptions
                    .iter()
                    .map(move |sub| (sub.to_ascii_lowercase(), i))
            })
            .collect();
        Plan {
            mode,
            batches,
            batch_of,
            note: InventoryNote {
                source: InventorySource::ResourceGraph,
                reason,
            },
            fallbacks: Mutex::new(Vec::new()),
            incomplete: Mutex::new(Vec::new()),
            counts: HashMap::new(),
        }
    }

    /// Decides for the resolved `subscriptions`, given the count query's outcome (when sent).
    pub(super) fn choose(
        mode: Inventory,
        subscriptions: &[String],
        counted: Option<Counted>,
        concurrency: usize,
        max_in_flight: usize,
    ) -> Self {
        match mode {
            Inventory::ArmLists => Plan::arm(mode, "as --inventory arm asks".to_owned()),
            Inventory::ResourceGraph => {
                Plan::graph(mode, subscriptions, "as --inventory graph asks".to_owned())
            }
            _ => match counted {
                None => Plan::arm(
                    mode,
                    "one subscription: Resource Graph could not be sooner (the same pages \
                     under a stricter quota)"
                        .to_owned(),
                ),
                Some(Err(error)) => Plan::arm(
                    mode,
                    format!(
                        "Resource Graph {}; read through ARM lists instead",
                        refusal(&error, "count")
                    ),
                ),
                Some(Ok((counts, latency))) => {
                    let mut input = EstimateInput::new(
                        subscriptions
                            .iter()
                            .map(|s| counts.get(s).copied().unwrap_or_default())
                            .collect(),
                        latency.max(Duration::from_millis(1)),
                        concurrency,
                    );
                    input.max_in_flight = max_in_flight;
                    let estimate = estimate(&input);
                    let plan = match estimate.choice {
                        InventorySource::ResourceGraph => {
                            Plan::graph(mode, subscriptions, estimate.reason)
                        }
                        _ => Plan::arm(mode, estimate.reason),
                    };
                    Plan { counts, ..plan }
                }
            },
        }
    }

    /// What the snapshot records: the choice, or why Resource Graph was left.
    pub(super) fn note(&self) -> InventoryNote {
        let mut note = self.fallback_note();
        let incomplete = self.incomplete.lock().unwrap_or_else(|e| e.into_inner());
        for reason in incomplete.iter() {
            note.reason
                .push_str(&format!("; {reason}: those facts are unavailable"));
        }
        note
    }

    fn fallback_note(&self) -> InventoryNote {
        let fallbacks = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        if fallbacks.is_empty() {
            return self.note.clone();
        }
        let mut reasons: Vec<&str> = Vec::new();
        for (_, reason) in fallbacks.iter() {
            if !reasons.contains(&reason.as_str()) {
                reasons.push(reason);
            }
        }
        let mut batches: Vec<usize> = fallbacks.iter().map(|(i, _)| *i).collect();
        batches.sort_unstable();
        batches.dedup();
        let all = batches.len() == self.batches.len();
        let reason = if all {
            format!("{}; read through ARM lists instead", reasons.join("; "))
        } else {
            format!(
                "{}; {} of {} batches of subscriptions read through ARM lists instead",
                reasons.join("; "),
                batches.len(),
                self.batches.len()
            )
        };
        InventoryNote {
            source: if all {
                InventorySource::ArmLists
            } else {
                InventorySource::ResourceGraph
            },
            reason,
        }
    }

    fn fell_back(&self, batch: usize, reason: String) {
        let mut fallbacks = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        if !fallbacks.iter().any(|(i, r)| *i == batch && *r == reason) {
            fallbacks.push((batch, reason));
        }
    }
}

/// What went wrong with a query, in words ("refused the machine query (403 …)").
fn refusal(error: &ArmError, query: &str) -> String {
    match error {
        ArmError::Api(api) => {
            let mut message: String = api.message.chars().take(160).collect();
            if api.message.chars().count() > 160 {
                message.push('…');
            }
            format!(
                "refused the {query} query ({} {}: {message})",
                api.status,
                api.code.as_deref().unwrap_or("error"),
            )
        }
        ArmError::IncompleteResults { .. } => format!(
            "answered the {query} query incompletely (resultTruncated with no $skipToken to \
             continue)"
        ),
        other => format!("could not answer the {query} query ({other})"),
    }
}

/// A subscription's rows of one inventory query, by lower-case subscription id.
type Rows<T> = HashMap<String, Arc<Vec<Item<T>>>>;

/// The rows of `rows` whose subscription is in `batch`, grouped (every subscription of the
/// batch has an entry: no row is no resource).
fn group<T>(rows: Vec<GraphRow<T>>, batch: &[String]) -> Rows<T> {
    let mut grouped: HashMap<String, Vec<Item<T>>> = batch
        .iter()
        .map(|sub| (sub.to_ascii_lowercase(), Vec::new()))
        .collect();
    for row in rows {
        if let Some(items) = grouped.get_mut(&row.subscription_id) {
            items.push(row.item);
        }
    }
    grouped
        .into_iter()
        .map(|(sub, items)| (sub, Arc::new(items)))
        .collect()
}

/// The Arc machines of `sub`, through the run's chosen way.
pub(super) async fn machines(run: &Run, sub: &str) -> Result<Arc<Vec<Item<Machine>>>, ArmError> {
    machines_pages(run, sub, &mut |_: &[Item<Machine>]| {}).await
}

/// Like [`machines`], calling `on_page` with the machines as they arrive: each page of the ARM
/// list, or the subscription's rows of Resource Graph at once — when this call is the one that
/// reads them.
pub(super) async fn machines_pages(
    run: &Run,
    sub: &str,
    on_page: &mut (dyn FnMut(&[Item<Machine>]) + Send),
) -> Result<Arc<Vec<Item<Machine>>>, ArmError> {
    list(
        run,
        sub,
        "machine",
        "Microsoft.HybridCompute/machines/read",
        |batch| Arc::clone(&batch.machines),
        |counts| counts.machines,
        catalog::machines(sub),
        on_page,
    )
    .await
}

/// The ESU licenses of `sub`, through the run's chosen way.
pub(super) async fn licenses(run: &Run, sub: &str) -> Result<Arc<Vec<Item<License>>>, ArmError> {
    licenses_pages(run, sub, &mut |_: &[Item<License>]| {}).await
}

/// Like [`licenses`], calling `on_page` as [`machines_pages`] does.
pub(super) async fn licenses_pages(
    run: &Run,
    sub: &str,
    on_page: &mut (dyn FnMut(&[Item<License>]) + Send),
) -> Result<Arc<Vec<Item<License>>>, ArmError> {
    list(
        run,
        sub,
        "license",
        "Microsoft.HybridCompute/licenses/read",
        |batch| Arc::clone(&batch.licenses),
        |counts| counts.licenses,
        catalog::licenses(sub),
        on_page,
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "what tells machines from licenses, each a plain value"
)]
async fn list<T>(
    run: &Run,
    sub: &str,
    what: &str,
    action: &str,
    query: fn(&Batch) -> Arc<Query<T>>,
    count: fn(&InventoryCounts) -> u64,
    arm: ArmList<Item<T>>,
    on_page: &mut (dyn FnMut(&[Item<T>]) + Send),
) -> Result<Arc<Vec<Item<T>>>, ArmError>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let plan = &run.inventory;
    let key = sub.to_ascii_lowercase();
    let arm = match plan.counts.get(&key) {
        Some(counts) => arm.expecting(count(counts)),
        None => arm,
    };
    let Some(&index) = plan.batch_of.get(&key) else {
        return run.reads.list_pages(arm, on_page).await;
    };
    let batch = &plan.batches[index];
    let request = query(batch);
    let subscriptions = Arc::clone(&batch.subscriptions);
    let rows = run
        .reads
        .read(request.key.clone(), |client| async move {
            let rows = client.fetch_all(&request.list).await?;
            Ok(group(rows, &subscriptions))
        })
        .await;
    match rows {
        Ok(rows) => {
            // Resource Graph leaves out what the caller may not read: trust its silence only
            // where the caller may read at the subscription.
            let permissions = run
                .reads
                .list(catalog::permissions(catalog::subscription(sub).path()))
                .await;
            let permitted =
                readable(permissions)?.is_some_and(|p| crate::permissions::is_allowed(&p, action));
            match rows.get(&key) {
                Some(items) if permitted => {
                    on_page(items);
                    Ok(Arc::clone(items))
                }
                _ => run.reads.list_pages(arm, on_page).await,
            }
        }
        Err(error) if error.is_fatal() => Err(error),
        Err(error @ ArmError::IncompleteResults { .. })
            if plan.mode == Inventory::ResourceGraph =>
        {
            let reason = format!("Resource Graph {}", refusal(&error, what));
            let mut incomplete = plan.incomplete.lock().unwrap_or_else(|e| e.into_inner());
            if !incomplete.contains(&reason) {
                incomplete.push(reason);
            }
            Err(error)
        }
        Err(error) => {
            plan.fell_back(index, format!("Resource Graph {}", refusal(&error, what)));
            run.reads.list_pages(arm, on_page).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn many_small_subscriptions_go_to_resource_graph() {
        let counts = vec![
            InventoryCounts {
                machines: 10,
                licenses: 2
            };
            300
        ];
        let e = estimate(&EstimateInput::new(counts, ms(50), 16));
        assert_eq!(e.choice, InventorySource::ResourceGraph, "{e:?}");
        // 600 lists and 9,000 other reads over 256 slots: 38 rounds; without the lists: 36
        // (4 queries, 3 machine pages in sequence, fit in them).
        assert_eq!(e.arm_lists, ms(38 * 50));
        assert_eq!(e.resource_graph, ms(36 * 50));
        assert!(e.reason.contains("3000 machines"), "{}", e.reason);
    }

    #[test]
    fn big_subscriptions_stay_on_arm_lists() {
        let counts = vec![
            InventoryCounts {
                machines: 5000,
                licenses: 20
            };
            20
        ];
        let e = estimate(&EstimateInput::new(counts, ms(50), 16));
        assert_eq!(e.choice, InventorySource::ArmLists);
        // Each subscription's 5-page chain; its 6 pages fit in its 16 slots, and all 120 pages
        // with the 600 other reads in 3 rounds of 256.
        assert_eq!(e.arm_lists, ms(5 * 50));
        // 100 machine pages in sequence, and 101 queries: 6 quota windows waited.
        assert_eq!(e.resource_graph, ms(30_050));
    }

    #[test]
    fn a_tie_is_arm_lists() {
        let counts = vec![InventoryCounts::default(); 2];
        let e = estimate(&EstimateInput::new(counts, ms(50), 16));
        assert_eq!(e.arm_lists, e.resource_graph);
        assert_eq!(e.choice, InventorySource::ArmLists);
    }

    #[test]
    fn the_read_bucket_slows_arm_lists() {
        // One subscription of 250,000 machines: 250 + 1 pages and 30 other reads, 31 past the
        // bucket: 1.24 s of refill after 250 pages in sequence.
        let counts = vec![InventoryCounts {
            machines: 250_000,
            licenses: 0,
        }];
        let e = estimate(&EstimateInput::new(counts, ms(10), 16));
        assert_eq!(e.arm_lists, ms(250 * 10 + 1240));
    }

    #[test]
    fn the_graph_quota_counts_windows() {
        let mut input = EstimateInput::new(vec![InventoryCounts::default(); 2], ms(10), 16);
        input.graph_batch = 1;
        // 4 queries, within the quota: one round.
        assert_eq!(estimate(&input).resource_graph, ms(10));
        input.counts = vec![InventoryCounts::default(); 8];
        // 16 queries: the 16th waits one window.
        assert_eq!(estimate(&input).resource_graph, ms(5010));
    }

    #[test]
    fn inventory_names_round_trip() {
        for i in Inventory::ALL {
            assert_eq!(i.name().parse::<Inventory>(), Ok(i));
        }
        assert!("both".parse::<Inventory>().is_err());
    }

    #[test]
    fn rows_go_to_their_subscription() {
        let rows: Vec<GraphRow<Machine>> = serde_json::from_value(serde_json::json!([
            {"id": "/subscriptions/A/resourceGroups/r/providers/Microsoft.HybridCompute/machines/m1",
             "name": "m1", "type": "microsoft.hybridcompute/machines", "kind": "", "location": "eastus",
             "tags": null, "properties": {"status": "Connected"}, "subscriptionId": "A"},
            {"id": "/subscriptions/b/resourceGroups/r/providers/Microsoft.HybridCompute/machines/m2",
             "name": "m2", "properties": {}},
            {"id": "/subscriptions/c/x", "name": "elsewhere", "subscriptionId": "c"},
            {"id": "/subscriptions/a/resourceGroups/r/providers/Microsoft.HybridCompute/machines/bad",
             "subscriptionId": "a", "properties": 7},
        ]))
        .unwrap();
        let grouped = group(rows, &["a".to_owned(), "b".to_owned(), "d".to_owned()]);
        assert_eq!(grouped.len(), 3);
        let a = &grouped["a"];
        assert_eq!(a.len(), 2);
        let m1 = a[0].read().unwrap();
        assert_eq!(m1.kind, None, "an empty kind column is no kind");
        assert_eq!(m1.location.as_deref(), Some("eastus"));
        assert_eq!(grouped["b"].len(), 1, "routed by its id");
        assert!(grouped["d"].is_empty());
    }
}
