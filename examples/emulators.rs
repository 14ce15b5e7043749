//! Serves the Atlas, Cloudflare and Datadog fakes on loopback ports, seeded
//! for the MadPlan stack (an organization, the `madplan.com` zone on the
//! Business plan with Advanced Certificate Manager, a connected Slack
//! account, demo keys), and writes the variables that point the providers
//! at them to the file given as its argument (or prints them):
//!
//! ```sh
//! cargo run --example emulators -- /tmp/emulators.env &
//! . /tmp/emulators.env     # MONGODB_ATLAS_BASE_URL, CLOUDFLARE_BASE_URL, DD_HOST, keys...
//! ```
//!
//! It runs until it is stopped (SIGTERM or Ctrl-C). Every request the fakes
//! receive, and every answer they give, is checked against the providers'
//! official OpenAPI documents; violations are printed to standard error as
//! they happen, so a demo run also shows the clients speak the real APIs.

use std::collections::BTreeSet;
use std::time::Duration;

use madplan_atlas::fake::{FakeAtlas, FakeConfig};
use madplan_cloudflare::fake::{FakeCloudflare, FakeZone};
use madplan_datadog::fake::FakeDatadog;

/// The Atlas organization the stack's project lives in.
const ORG: &str = "5f00000000000000000000aa";
/// Demo credentials: only these fakes accept them.
const CF_TOKEN: &str = "demo-cloudflare-token-0000000000000000";
const DD_API_KEY: &str = "dead0000000000000000000000000000";
const DD_APP_KEY: &str = "dead000000000000000000000000000000000000";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let out = std::env::args().nth(1);
    let atlas_config = FakeConfig {
        transition: Duration::from_millis(500),
        ..FakeConfig::default()
    };
    let atlas = FakeAtlas::start(atlas_config.clone()).await;
    let cloudflare = FakeCloudflare::start_with(
        CF_TOKEN,
        &[FakeZone::new("madplan.com", "business").with_advanced_certificates()],
        &madplan_cloudflare::fake::Allowance::ALL,
    )
    .await;
    let datadog = FakeDatadog::start(DD_API_KEY, DD_APP_KEY).await;
    datadog.add_slack_account("madplan");

    let vars = [
        ("MONGODB_ATLAS_BASE_URL", atlas.base_url()),
        (
            "MONGODB_ATLAS_CLIENT_ID",
            atlas_config.service_account.0.clone(),
        ),
        (
            "MONGODB_ATLAS_CLIENT_SECRET",
            atlas_config.service_account.1.clone(),
        ),
        ("MONGODB_ATLAS_ORG_ID", ORG.to_string()),
        ("CLOUDFLARE_BASE_URL", cloudflare.base_url()),
        ("CLOUDFLARE_API_TOKEN", CF_TOKEN.to_string()),
        ("CLOUDFLARE_ZONE", "madplan.com".to_string()),
        ("DD_HOST", datadog.base_url()),
        ("DD_API_KEY", DD_API_KEY.to_string()),
        ("DD_APP_KEY", DD_APP_KEY.to_string()),
        ("DD_SITE", "datadoghq.com".to_string()),
    ];
    let text: String = vars
        .iter()
        .map(|(k, v)| format!("export {k}={v}\n"))
        .collect();
    match out {
        Some(path) => {
            // Written whole, then renamed: a reader never sees half a file.
            let tmp = format!("{path}.tmp");
            std::fs::write(&tmp, &text)?;
            std::fs::rename(&tmp, &path)?;
        }
        None => print!("{text}"),
    }
    eprintln!(
        "fakes serving: Atlas {}, Cloudflare {}, Datadog {}",
        atlas.base_url(),
        cloudflare.base_url(),
        datadog.base_url()
    );

    let mut reported = BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let all = atlas
            .violations()
            .into_iter()
            .map(|v| format!("atlas: {v}"))
            .chain(
                cloudflare
                    .violations()
                    .into_iter()
                    .map(|v| format!("cloudflare: {v}")),
            )
            .chain(
                datadog
                    .violations()
                    .into_iter()
                    .map(|v| format!("datadog: {v}")),
            );
        for v in all {
            if reported.insert(v.clone()) {
                eprintln!("spec violation: {v}");
            }
        }
    }
    Ok(())
}
