//! Applies through injected faults: the network of the production stack,
//! with a fault-injecting proxy (`madplan_core::faults`) between the AWS SDK
//! and moto failing a fifth of the requests. Applies may fail (cleanly) and
//! are repeated; in the end the network exists exactly once, a plan through
//! the same faults is clean, and a destroy leaves nothing.

mod common;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use madplan::aws::Aws;
use madplan::core::faults::{Fault, FaultProxy, Faults};

async fn aws_at(url: &str) -> Aws {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    Aws::from_conf(&conf)
}

/// Repeats `op` until it succeeds, at most `limit` times; how many it took.
async fn until_ok<T, F, Fut>(limit: usize, mut op: F) -> (T, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, madplan::Error>>,
{
    for attempt in 1..=limit {
        match op().await {
            Ok(v) => return (v, attempt),
            Err(e) => eprintln!("attempt {attempt} failed: {e}"),
        }
    }
    panic!("did not succeed in {limit} attempts");
}

async fn converges_through(kinds: &[Fault], seed: u64) {
    let moto = common::moto_url();
    // The requests of the same apply without faults, for comparison.
    let clean = FaultProxy::start(&moto, Faults::none()).await.unwrap();
    let aws = aws_at(clean.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let base = common::unique("clean");
    let base_state = dir.path().join("clean.json");
    common::apply(common::network(&base, &aws, 2).0, &base_state)
        .await
        .unwrap();
    let fault_free = clean.counts().requests;
    common::destroy(common::network(&base, &aws, 2).0, &base_state)
        .await
        .unwrap();

    let proxy = FaultProxy::start(&moto, Faults::ec2(0.2, kinds, seed))
        .await
        .unwrap();
    let aws = aws_at(proxy.url()).await;
    let name = common::unique("faults");
    let state = dir.path().join("faults.json");
    let (_, applies) = until_ok(10, || {
        common::apply(common::network(&name, &aws, 2).0, &state)
    })
    .await;
    let applied = proxy.counts();
    let (plan, plans) = until_ok(10, || {
        common::plan(common::network(&name, &aws, 2).0, &state)
    })
    .await;
    assert!(!plan.has_changes(), "{}", plan.render());
    // Exactly the declared objects, straight from moto: no duplicate, no
    // orphan.
    let ec2 = common::ec2().await;
    let tagged = common::leftovers(&ec2, &name).await;
    let expected = [
        ("internet_gateway", 1),
        ("network_acl", 1),
        ("route_table", 2),
        ("security_group", 2),
        ("subnet", 4),
        ("vpc", 1),
    ];
    for (kind, n) in expected {
        assert_eq!(tagged[kind], n, "{kind}: {tagged:?}");
    }
    let (_, destroys) = until_ok(10, || {
        common::destroy(common::network(&name, &aws, 2).0, &state)
    })
    .await;
    let left = common::leftovers(&ec2, &name).await;
    assert!(left.values().all(|&n| n == 0), "{left:?}");
    eprintln!(
        "{kinds:?} on 20 % of requests: {applies} apply(s), {plans} plan(s), {destroys} destroy(s); \
         the applies sent {} requests ({} reached moto, faults {:?}) where a fault-free apply \
         sends {fault_free}",
        applied.requests, applied.forwarded, applied.faults
    );
}

#[tokio::test]
async fn the_network_converges_through_throttling_errors_and_lost_requests() {
    converges_through(
        &[Fault::Throttled, Fault::ServerError, Fault::DropBefore],
        7,
    )
    .await;
}

#[tokio::test]
async fn the_network_converges_when_answers_are_lost_after_the_work_is_done() {
    converges_through(&[Fault::DropAfter], 11).await;
}
