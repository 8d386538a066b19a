//! Against real Azure: ignored by default. Run with
//! `ESU_PREFLIGHT_LIVE_SUBSCRIPTION=<id> cargo test -p esu-preflight-tests --test live -- --ignored`
//! after `az login` (or with any source `--credential auto` finds).

use esu_preflight::arm::{self, ArmClient, ArmClientOptions, CredentialKind, CredentialOptions};
use esu_preflight::checks::{self, Config, REQUIRED_PROVIDERS};
use esu_preflight::snapshot::Scope;
use esu_preflight::{Fact, Status};

#[tokio::test]
#[ignore = "needs Azure: set ESU_PREFLIGHT_LIVE_SUBSCRIPTION and sign in (az login)"]
async fn live_subscription_reads_and_evaluates() {
    let subscription = std::env::var("ESU_PREFLIGHT_LIVE_SUBSCRIPTION")
        .expect("ESU_PREFLIGHT_LIVE_SUBSCRIPTION names the subscription to read");
    let credential =
        arm::credential(CredentialKind::Auto, &CredentialOptions::default()).expect("a credential");
    let client = ArmClient::new(credential, ArmClientOptions::default()).expect("a client");
    let scope = Scope::subscriptions([subscription.to_ascii_lowercase()]);
    let snapshot = esu_preflight::gather::gather(&client, &scope)
        .await
        .expect("gather");
    let facts = &snapshot.subscriptions[0];
    assert!(
        matches!(facts.subscription, Fact::Available { .. }),
        "{:?}",
        facts.subscription
    );
    assert!(
        matches!(facts.providers, Fact::Available { .. }),
        "{:?}",
        facts.providers
    );
    let config = Config::default();
    let findings = checks::evaluate(&checks::EvalInput::new(
        &snapshot,
        &config,
        time::OffsetDateTime::now_utc(),
    ));
    let esu101 = findings.iter().filter(|f| f.check_id == "ESU101").count();
    assert_eq!(esu101, REQUIRED_PROVIDERS.len());
    assert!(
        findings
            .iter()
            .all(|f| f.status != Status::Inconclusive || f.check_id == "ESU102")
    );
}
