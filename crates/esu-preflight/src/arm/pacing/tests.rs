//! The pacing arithmetic on tokio's paused clock: the bucket, the window, the headers, the
//! scopes.

use super::*;
use azure_core::http::headers::{HeaderName, HeaderValue};

fn headers(pairs: &[(&str, &str)]) -> Headers {
    let mut h = Headers::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from((*k).to_owned()),
            HeaderValue::from((*v).to_owned()),
        );
    }
    h
}

fn sub(id: &str) -> ThrottleScope {
    ThrottleScope::Subscription(id.to_owned())
}

const SMALL: Quota = Quota {
    capacity: 20,
    per_second: 20.0,
};

fn pacer(arm: Option<Quota>, graph: Option<WindowQuota>) -> Pacer {
    Pacer::new(PacingSettings {
        per_scope: 16,
        max_in_flight: 256,
        arm_reads: arm,
        graph_queries: graph,
        max_retry_wait: Duration::from_secs(60),
    })
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[test]
fn scopes() {
    let id = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";
    for path in [
        format!("/subscriptions/{id}"),
        format!("/subscriptions/{id}/"),
        format!("/SUBSCRIPTIONS/{}/providers", id.to_ascii_uppercase()),
        format!("/subscriptions/{id}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines"),
    ] {
        assert_eq!(ThrottleScope::of(false, &path), sub(id), "{path}");
        assert_eq!(ThrottleScope::of(true, &path), sub(id), "{path}");
    }
    for path in [
        "/subscriptions",
        "/subscriptions/",
        "/",
        "",
        "/tenants",
        "/providers/Microsoft.Management/managementGroups/mg/descendants",
        "/providers/Microsoft.Authorization/policyDefinitions/x",
        "/providers/Microsoft.ResourceGraph/resources",
    ] {
        assert_eq!(
            ThrottleScope::of(false, path),
            ThrottleScope::Tenant,
            "{path}"
        );
    }
    for path in [
        "/providers/Microsoft.ResourceGraph/resources",
        "/providers/microsoft.resourcegraph/RESOURCES/",
    ] {
        assert_eq!(ThrottleScope::of(true, path), ThrottleScope::ResourceGraph);
    }
    assert_eq!(
        ThrottleScope::of(true, "/providers/Microsoft.ResourceGraph/resourcesHistory"),
        ThrottleScope::Tenant
    );
    assert_eq!(sub("abc").to_string(), "subscription abc");
}

#[test]
fn quota_headers_are_read_case_insensitively_and_bad_values_ignored() {
    let h = headers(&[
        ("X-MS-RateLimit-Remaining-Subscription-Reads", "249"),
        ("x-ms-ratelimit-remaining-subscription-global-reads", "3000"),
        ("X-Ms-Ratelimit-Remaining-Tenant-Reads", "12"),
        ("x-ms-user-quota-remaining", " 7 "),
        ("X-MS-User-Quota-Resets-After", "00:00:03"),
    ]);
    assert_eq!(
        QuotaHeaders::parse(&h),
        QuotaHeaders {
            subscription_reads: Some(249),
            tenant_reads: Some(12),
            graph_remaining: Some(7),
            graph_resets_after: Some(Duration::from_secs(3)),
        }
    );
    // The global figure counts when it is the lower one.
    let h = headers(&[
        ("x-ms-ratelimit-remaining-subscription-reads", "249"),
        ("x-ms-ratelimit-remaining-subscription-global-reads", "4"),
    ]);
    assert_eq!(QuotaHeaders::parse(&h).subscription_reads, Some(4));
    let h = headers(&[("x-ms-ratelimit-remaining-subscription-global-reads", "40")]);
    assert_eq!(QuotaHeaders::parse(&h).subscription_reads, Some(40));
    for bad in [
        "",
        "-1",
        "abc",
        "1e3",
        "2.5",
        "+-3",
        "99999999999999999999999",
        "\u{1b}[31m",
    ] {
        let h = headers(&[
            ("x-ms-ratelimit-remaining-subscription-reads", bad),
            ("x-ms-ratelimit-remaining-tenant-reads", bad),
            ("x-ms-user-quota-remaining", bad),
            ("x-ms-user-quota-resets-after", bad),
        ]);
        assert_eq!(QuotaHeaders::parse(&h), QuotaHeaders::default(), "{bad:?}");
    }
    assert_eq!(
        QuotaHeaders::parse(&Headers::new()),
        QuotaHeaders::default()
    );
}

#[test]
fn hh_mm_ss() {
    let secs = Duration::from_secs;
    assert_eq!(parse_hh_mm_ss("00:00:03"), Some(secs(3)));
    assert_eq!(parse_hh_mm_ss(" 00:00:05 "), Some(secs(5)));
    assert_eq!(parse_hh_mm_ss("00:01:00"), Some(secs(60)));
    assert_eq!(parse_hh_mm_ss("01:00:01"), Some(secs(3601)));
    assert_eq!(parse_hh_mm_ss("1.02:00:00"), Some(secs(26 * 3600)));
    assert_eq!(
        parse_hh_mm_ss("00:00:04.5"),
        Some(Duration::from_millis(4500))
    );
    assert_eq!(parse_hh_mm_ss("00:00:00"), Some(Duration::ZERO));
    for bad in [
        "",
        "3",
        "00:03",
        "00:00:00:00",
        "aa:bb:cc",
        "-0:00:01",
        "+1:00:00",
        "00:60:00",
        "00:00:60",
        "00:00:4.",
        "00:00:.5",
        "00:00:1e1",
        "00:00:nan",
        "x.00:00:01",
        "99999999999999999999:00:00",
        "18446744073709551615.00:00:00",
        "00:00:05.-1",
    ] {
        assert_eq!(parse_hh_mm_ss(bad), None, "{bad:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_bucket_spends_its_capacity_then_paces_at_the_refill_rate() {
    let start = Instant::now();
    let mut bucket = Bucket::new(SMALL, start);
    // 20 tokens, 4 of them (200 ms of refill) kept for jitter: 16 go at once.
    for _ in 0..16 {
        assert_eq!(bucket.take(start).0, start);
    }
    let (ready, _) = bucket.take(start);
    assert_eq!(ready, start + Duration::from_millis(50));
    let (ready, _) = bucket.take(start);
    assert_eq!(ready, start + Duration::from_millis(100));
    // 1 s later it has refilled to its capacity (2 + 20, capped at 20).
    let later = start + Duration::from_secs(1);
    assert!((bucket.level(later) - 20.0).abs() < 1e-9);
    let mut full = Bucket::new(SMALL, start);
    full.take(start);
    assert!(
        (full.level(start + Duration::from_secs(10)) - 20.0).abs() < 1e-9,
        "capped"
    );
    // A token given back is there again; one of a voided reservation is not.
    let mut b = Bucket::new(SMALL, start);
    let (_, epoch) = b.take(start);
    b.give_back(epoch);
    assert!((b.level(start) - 20.0).abs() < 1e-9);
    let (_, epoch) = b.take(start);
    b.lower_to(5.0, start);
    assert!(!b.holds(epoch));
    b.give_back(epoch);
    assert!((b.level(start) - 5.0).abs() < 1e-9);
}

#[tokio::test(start_paused = true)]
async fn a_lower_header_lowers_the_model_and_a_higher_one_is_ignored() {
    let start = Instant::now();
    let mut b = Bucket::new(SMALL, start);
    b.lower_to(100.0, start);
    assert!((b.level(start) - 20.0).abs() < 1e-9, "never raised");
    let epoch = b.take(start).1;
    b.lower_to(18.5, start);
    assert!(
        b.holds(epoch),
        "less than a token lower: reservations stand"
    );
    b.lower_to(0.0, start);
    assert!(!b.holds(epoch));
    // Empty, with 4 tokens in reserve: the next read goes after 5 tokens have refilled.
    assert_eq!(b.take(start).0, start + Duration::from_millis(250));
    // Below zero (requests in flight the server had not counted): it is a debt.
    let mut b = Bucket::new(SMALL, start);
    b.lower_to(-3.0, start);
    assert_eq!(b.take(start).0, start + Duration::from_millis(400));
}

#[tokio::test(start_paused = true)]
async fn a_429_empties_the_bucket_until_retry_after() {
    let start = Instant::now();
    let mut b = Bucket::new(SMALL, start);
    let epoch = b.take(start).1;
    b.block_until(start + Duration::from_secs(2), start);
    assert!(!b.holds(epoch));
    // Nothing before the 2 s; then one read (Retry-After is when a token is back), and the
    // next at the refill rate.
    assert_eq!(
        b.take(start + Duration::from_secs(1)).0,
        start + Duration::from_secs(2)
    );
    assert_eq!(
        b.take(start + Duration::from_secs(1)).0,
        start + Duration::from_millis(2050)
    );
    // Without Retry-After the bucket is just empty: a token and the reserve must refill.
    let mut b = Bucket::new(SMALL, start);
    b.block_until(start, start);
    assert_eq!(b.take(start).0, start + Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn the_window_allows_its_queries_then_waits_for_the_oldest_to_leave() {
    let q = WindowQuota {
        queries: 5,
        window: Duration::from_secs(1),
    };
    let start = Instant::now();
    let mut w = Window::new(q);
    for i in 0..5u64 {
        assert_eq!(w.remaining(start), 5 - i);
        assert_eq!(w.take(start), Ok(()));
    }
    let span = q.window + JITTER_SLACK;
    assert_eq!(w.take(start), Err(start + span));
    let t = start + span;
    assert_eq!(w.remaining(t), 5);
    assert_eq!(w.take(t), Ok(()));
    // The server says 0 remaining for 3 s: nothing until then, though the log allows 4.
    w.lower_to(0, 0, Some(Duration::from_secs(3)), t);
    assert_eq!(w.remaining(t), 0);
    assert_eq!(w.take(t), Err(t + Duration::from_secs(3)));
    let after = t + Duration::from_secs(3);
    assert_eq!(w.take(after), Ok(()));
    // A header is never a raise; requests in flight are taken off what it says.
    let mut w = Window::new(q);
    w.lower_to(50, 0, Some(Duration::from_secs(1)), start);
    assert_eq!(w.remaining(start), 5);
    w.lower_to(3, 1, Some(Duration::from_secs(1)), start);
    assert_eq!(w.remaining(start), 2);
    // A 429 with its wait.
    let mut w = Window::new(q);
    w.block_until(start + Duration::from_secs(7), start);
    assert_eq!(w.take(start), Err(start + Duration::from_secs(7)));
}

#[tokio::test(start_paused = true)]
async fn sixty_reads_of_one_subscription_take_what_the_bucket_forces() {
    let pacer = pacer(Some(SMALL), None);
    let start = Instant::now();
    let s = sub("a");
    for _ in 0..60 {
        pacer.take(&s, far(), "GET /x").await.unwrap();
    }
    // 16 at once, the other 44 at 20/s.
    assert_eq!(start.elapsed(), Duration::from_millis(2200));
    assert!(pacer.paced_wait() >= Duration::from_millis(2200));
    // Another subscription (and the tenant) still has a full bucket.
    let before = Instant::now();
    for _ in 0..16 {
        pacer.take(&sub("b"), far(), "GET /y").await.unwrap();
        pacer
            .take(&ThrottleScope::Tenant, far(), "GET /z")
            .await
            .unwrap();
    }
    assert_eq!(before.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn concurrent_reads_queue_in_order_without_bursting() {
    let pacer = Arc::new(pacer(Some(SMALL), None));
    let start = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.take(&sub("a"), far(), "GET /x").await.unwrap();
                Instant::now()
            })
        })
        .collect();
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await.unwrap() - start);
    }
    sent.sort();
    assert_eq!(sent[15], Duration::ZERO);
    assert_eq!(sent[39], Duration::from_millis(1200));
    // Never more than the bucket allows in any stretch: 20 + 20/s × length.
    for (i, a) in sent.iter().enumerate() {
        for (j, b) in sent.iter().enumerate().skip(i) {
            let allowed = 20.0 + 20.0 * (*b - *a).as_secs_f64();
            assert!(((j - i + 1) as f64) <= allowed + 1e-9, "{i}..{j}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_fails_at_once_like_a_throttled_answer() {
    let pacer = pacer(Some(SMALL), None);
    let s = sub("a");
    for _ in 0..16 {
        pacer.take(&s, far(), "GET /x").await.unwrap();
    }
    let start = Instant::now();
    let err = pacer
        .take(
            &s,
            start + Duration::from_millis(40),
            "GET /subscriptions/a/x",
        )
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "no wait");
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 429);
    assert_eq!(api.retry_after, Some(Duration::from_millis(50)));
    assert!(!err.is_fatal());
    assert_eq!(
        err.to_string(),
        "GET /subscriptions/a/x: HTTP 429: not sent: the read quota of subscription a allows \
         it only in 50 ms, which would pass the deadline"
    );
    // The token was given back: the next read with time to wait goes at 50 ms.
    pacer.take(&s, far(), "GET /x").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn a_429_makes_the_whole_scope_wait_for_retry_after() {
    let pacer = Arc::new(pacer(Some(SMALL), None));
    let s = sub("a");
    let start = Instant::now();
    pacer.take(&s, far(), "GET /x").await.unwrap();
    pacer.observe(&s, true, 429, &Headers::new(), Some(Duration::from_secs(3)));
    assert_eq!(pacer.throttled_count(), 1);
    pacer.take(&s, far(), "GET /x").await.unwrap();
    // Held until the Retry-After.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    // Retry-After is capped like the retry policy's waits.
    let t = Instant::now();
    pacer.observe(
        &sub("b"),
        true,
        429,
        &Headers::new(),
        Some(Duration::from_secs(3600)),
    );
    pacer.take(&sub("b"), far(), "GET /x").await.unwrap();
    assert_eq!(t.elapsed(), Duration::from_secs(60));
    // Other subscriptions were never held up.
    let t = Instant::now();
    pacer.take(&sub("c"), far(), "GET /x").await.unwrap();
    assert_eq!(t.elapsed(), Duration::ZERO);
    // A 429 on a write does not touch the read bucket.
    pacer.observe(
        &sub("c"),
        false,
        429,
        &Headers::new(),
        Some(Duration::from_secs(9)),
    );
    pacer.take(&sub("c"), far(), "GET /x").await.unwrap();
    assert_eq!(t.elapsed(), Duration::ZERO);
    assert_eq!(pacer.throttled_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_read_waits_again_when_a_429_voids_its_turn() {
    let pacer = Arc::new(pacer(Some(SMALL), None));
    let s = sub("a");
    for _ in 0..16 {
        pacer.take(&s, far(), "GET /x").await.unwrap();
    }
    let start = Instant::now();
    let waiting = {
        let pacer = pacer.clone();
        let s = s.clone();
        tokio::spawn(async move { pacer.take(&s, far(), "GET /x").await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    pacer.observe(&s, true, 429, &Headers::new(), Some(Duration::from_secs(1)));
    waiting.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(1010));
}

#[tokio::test(start_paused = true)]
async fn remaining_read_headers_lower_the_model_minus_requests_in_flight() {
    let pacer = pacer(Some(SMALL), None);
    let s = sub("a");
    let start = Instant::now();
    pacer.take(&s, far(), "GET /x").await.unwrap();
    let other = pacer.start(&s);
    let other2 = pacer.start(&s);
    // The server says 3 are left; two requests are still on the wire: 1 left.
    let h = headers(&[("x-ms-ratelimit-remaining-subscription-reads", "3")]);
    pacer.observe(&s, true, 200, &h, None);
    drop((other, other2));
    // 1 left, 4 in reserve: this read waits for 4 tokens (200 ms).
    pacer.take(&s, far(), "GET /x").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    // A tenant figure on a subscription's answer lowers the tenant's bucket.
    let h = headers(&[("x-ms-ratelimit-remaining-tenant-reads", "0")]);
    pacer.observe(&s, true, 200, &h, None);
    let t = Instant::now();
    pacer
        .take(&ThrottleScope::Tenant, far(), "GET /y")
        .await
        .unwrap();
    assert_eq!(t.elapsed(), Duration::from_millis(250));
    // Garbage changes nothing.
    let h = headers(&[("x-ms-ratelimit-remaining-subscription-reads", "-5")]);
    pacer.observe(&sub("b"), true, 200, &h, None);
    let t = Instant::now();
    pacer.take(&sub("b"), far(), "GET /y").await.unwrap();
    assert_eq!(t.elapsed(), Duration::ZERO);
    assert_eq!(pacer.throttled_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn resource_graph_queries_keep_to_the_window_and_its_headers() {
    let q = WindowQuota {
        queries: 5,
        window: Duration::from_secs(1),
    };
    let pacer = pacer(Some(SMALL), Some(q));
    let g = ThrottleScope::ResourceGraph;
    let start = Instant::now();
    for _ in 0..20 {
        pacer.take(&g, far(), "POST /g").await.unwrap();
    }
    // Windows of 1.2 s (the slack): the 20th query opens the fourth.
    assert_eq!(start.elapsed(), Duration::from_millis(3600));
    // Resource Graph queries do not spend ARM reads.
    let t = Instant::now();
    for _ in 0..16 {
        pacer
            .take(&ThrottleScope::Tenant, far(), "GET /t")
            .await
            .unwrap();
    }
    assert_eq!(t.elapsed(), Duration::ZERO);
    // "0 remaining, resets after 00:00:02": the next query waits 2 s.
    let t = Instant::now();
    let h = headers(&[
        ("x-ms-user-quota-remaining", "0"),
        ("x-ms-user-quota-resets-after", "00:00:02"),
    ]);
    pacer.observe(&g, true, 200, &h, None);
    pacer.take(&g, far(), "POST /g").await.unwrap();
    assert_eq!(t.elapsed(), Duration::from_secs(2));
    // A 429 without Retry-After waits for the reset it names.
    let t = Instant::now();
    pacer.observe(&g, true, 429, &h, None);
    let err = pacer
        .take(
            &g,
            t + Duration::from_secs(1),
            "POST /providers/Microsoft.ResourceGraph/resources",
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "HTTP 429: not sent: the Resource Graph query quota allows it only in 2 s, \
             which would pass the deadline"
        ),
        "{err}"
    );
    pacer.take(&g, far(), "POST /g").await.unwrap();
    assert_eq!(t.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn pacing_off_never_waits() {
    let pacer = pacer(None, None);
    let start = Instant::now();
    for _ in 0..1000 {
        pacer.take(&sub("a"), far(), "GET /x").await.unwrap();
        pacer
            .take(&ThrottleScope::ResourceGraph, far(), "POST /g")
            .await
            .unwrap();
    }
    pacer.observe(
        &sub("a"),
        true,
        429,
        &Headers::new(),
        Some(Duration::from_secs(5)),
    );
    pacer.take(&sub("a"), far(), "GET /x").await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(pacer.paced_wait(), Duration::ZERO);
    assert_eq!(pacer.throttled_count(), 1, "429s are still counted");
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_per_scope_with_an_overall_cap() {
    let pacer = Arc::new(Pacer::new(PacingSettings {
        per_scope: 2,
        max_in_flight: 3,
        arm_reads: None,
        graph_queries: None,
        max_retry_wait: Duration::from_secs(60),
    }));
    let a1 = pacer.admit(&sub("a"), true, far(), "r").await.unwrap();
    let _a2 = pacer.admit(&sub("a"), true, far(), "r").await.unwrap();
    // A third of subscription a waits; subscription b does not.
    let third = {
        let pacer = pacer.clone();
        tokio::spawn(async move {
            let _p = pacer.admit(&sub("a"), true, far(), "r").await.unwrap();
            Instant::now()
        })
    };
    let _b1 = pacer.admit(&sub("b"), true, far(), "r").await.unwrap();
    // Now 3 in flight overall: b's second waits for the overall cap.
    let b2 = tokio::time::timeout(
        Duration::from_secs(1),
        pacer.admit(&sub("b"), true, far(), "r"),
    )
    .await;
    assert!(b2.is_err(), "the overall cap holds");
    let released = Instant::now();
    drop(a1);
    assert_eq!(third.await.unwrap(), released);
}
