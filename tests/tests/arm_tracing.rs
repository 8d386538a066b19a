//! The ARM client emits one DEBUG event per HTTP attempt, never a token or query value.
//!
//! A single test in its own binary: tracing caches callsite interest process-wide, and other
//! tests running in parallel threads would race with the scoped subscriber installed here.

use esu_preflight::arm::{ArmClient, ArmClientOptions, StaticTokenCredential};
use esu_preflight_tests::TOKEN;
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

/// Records every tracing event as one line: `target LEVEL field=value …`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl tracing::field::Visit for Line<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} {}", event.metadata().target(), event.metadata().level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn one_debug_event_per_attempt_without_secrets() {
    let recorder = Recorder::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(recorder.clone()));
    let server = MockServer::builder().start().await;
    Mock::given(path("/x"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"error": {
                    "code": "SubscriptionRequestsThrottled",
                    "message": "slow down"
                }})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&server)
        .await;
    let client = ArmClient::new(
        Arc::new(StaticTokenCredential::new(TOKEN)),
        ArmClientOptions {
            endpoint: Some(url::Url::parse(&server.uri()).unwrap()),
            ..ArmClientOptions::default()
        },
    )
    .unwrap();
    let _: Value = client
        .get("/x?$filter=secret-filter-value", "2022-12-01")
        .await
        .unwrap();
    let lines: Vec<String> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("esu_preflight::arm"))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for part in [
        "DEBUG",
        "method=GET",
        "path=/x",
        "api_version=2022-12-01",
        "status=429",
        "attempt=1",
        "retry=1",
        "wait_ms=1000",
        "cause=HTTP 429 SubscriptionRequestsThrottled, asked to retry after 1 s",
        "elapsed_ms=",
    ] {
        assert!(lines[0].contains(part), "{part} missing in {}", lines[0]);
    }
    assert!(lines[1].contains("status=200"), "{}", lines[1]);
    assert!(lines[1].contains("attempt=2"), "{}", lines[1]);
    let all = recorder.0.lock().unwrap().join("\n");
    assert!(!all.contains(TOKEN), "{all}");
    assert!(!all.contains("Bearer"), "{all}");
    assert!(!all.contains("secret-filter-value"), "{all}");
}
