//! Settings for offline tests: every provider pointed at a loopback port
//! that only counts connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use madplan::stack::{Settings, Values, Versioned};
use secrecy::SecretString;

/// A loopback port that accepts and drops connections, counting them: where
/// every provider of these tests points.
pub async fn tripwire() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, hits)
}

fn secret(v: &str) -> Versioned {
    Versioned {
        value: SecretString::from(v.to_string()),
        version: "1".into(),
    }
}

/// Settings whose every provider points at `url`.
pub async fn settings(url: &str) -> Settings {
    let atlas = madplan::atlas::Client::new(
        madplan::atlas::Credentials::ServiceAccount {
            client_id: "mdb_sa_id_offline".into(),
            client_secret: SecretString::from("offline".to_string()),
        },
        url,
    )
    .unwrap();
    let cloudflare = madplan::cloudflare::Client::new(
        madplan::cloudflare::ClientConfig::builder()
            .token(SecretString::from("offline-token".to_string()))
            .base_url(url.to_string())
            .build(),
    )
    .unwrap();
    let datadog = madplan::datadog::Client::new(
        madplan::datadog::ClientConfig::new(
            SecretString::from("0123456789abcdef0123456789abcdef".to_string()),
            SecretString::from("0123456789abcdef0123456789abcdef01234567".to_string()),
            madplan::datadog::Site::Us1,
        )
        .with_base_url(url),
    )
    .unwrap();
    Settings {
        aws: super::aws_at(url).await,
        atlas: madplan::atlas::Atlas::new(atlas),
        cloudflare: madplan::cloudflare::Cloudflare::new(cloudflare),
        datadog: madplan::datadog::Datadog::new(datadog),
        values: Values {
            region: "us-east-1".into(),
            aws_account_id: "123456789012".into(),
            atlas_org: "5f00000000000000000000aa".into(),
            zone: "madplan.com".into(),
            datadog_site: "datadoghq.com".into(),
            datadog_api_key: secret("0123456789abcdef0123456789abcdef"),
            alert_email: "alerts@madplan.com".into(),
            pagerduty_key: secret("offline-pagerduty-key"),
            db_password: secret("offline-db-password"),
            redis_token: secret("offline-redis-token-0000"),
        },
    }
}

/// The stack of `config` (as `madplan::stack::environment` builds it, the
/// guide's policies included) on providers pointed at `url`, with its
/// handles, for a test to add resources to it.
pub async fn stack_at(
    url: &str,
    config: &madplan::stack::StackConfig,
) -> (madplan::core::Environment, madplan::stack::Stack) {
    let settings = settings(url).await;
    let mut env = madplan::core::Environment::new(&config.name);
    env.add_provider(settings.aws);
    env.add_provider(settings.atlas);
    env.add_provider(settings.cloudflare);
    env.add_provider(settings.datadog);
    let stack = madplan::stack::madplan(&mut env, config, &settings.values);
    madplan::stack::add_policies(&mut env, config);
    (env, stack)
}
