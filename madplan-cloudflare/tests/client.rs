//! The Cloudflare client against the fake, every request checked against
//! the official OpenAPI document (with the two allowances named below).

use madplan_core::rest::HttpError;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use madplan_cloudflare::client::dns::{DnsRecord, RecordFilter, RecordType, Ttl};
use madplan_cloudflare::client::rulesets::{Phase, RateLimit, Rule, RuleAction};
use madplan_cloudflare::client::settings::{
    AlwaysUseHttps, Hsts, MinTlsVersion, OnOff, SecurityHeader, SecurityHeaderValue, Setting, Ssl,
    SslMode, Tls13, Tls13Setting, TlsVersion,
};
use madplan_cloudflare::fake::{Allowance, FakeCloudflare};
use madplan_cloudflare::{Budget, Client, ClientConfig, Error, RetryPolicy};
use secrecy::SecretString;
use serde_json::json;

const TOKEN: &str = "cf-test-token-0123456789abcdef";
const ZONE: &str = "madplan.com";

/// The 2023 spec's documented bugs, allowed for by name (see each
/// variant's documentation).
const ALLOWANCES: [Allowance; 3] = [
    Allowance::RulesetReadOnlyFieldsRequired,
    Allowance::RuleRequestLacksActions,
    Allowance::DnsRecordRequiresResponseFields,
];

async fn fake() -> FakeCloudflare {
    FakeCloudflare::start(TOKEN, &[ZONE, "madplan.dev"], &ALLOWANCES).await
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

fn client(fake: &FakeCloudflare) -> Client {
    Client::new(
        ClientConfig::builder()
            .token(SecretString::from(TOKEN))
            .base_url(fake.base_url())
            .budget(Budget {
                requests: 100_000,
                window: Duration::from_secs(1),
            })
            .retry(fast_retry())
            .build(),
    )
    .unwrap()
}

fn no_violations(fake: &FakeCloudflare) {
    let v = fake.violations();
    assert!(v.is_empty(), "requests broke the spec: {v:#?}");
}

#[tokio::test]
async fn zones_and_the_dns_record_life_cycle() {
    let fake = fake().await;
    let cf = client(&fake);
    let zone = cf.zone_by_name(ZONE).await.unwrap();
    assert_eq!(zone.id, fake.zone_id(ZONE));
    let missing = cf.zone_by_name("nope.example").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");

    let api = DnsRecord::a("api.madplan.com", Ipv4Addr::new(203, 0, 113, 10))
        .proxied(true)
        .comment("ALB")
        .tags(["env:production"]);
    let created = cf.create_dns_record(&zone.id, &api).await.unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(created.content, "203.0.113.10");
    assert!(created.proxied);
    assert_eq!(created.ttl, Ttl::Auto);

    // The same record twice: Cloudflare's 81057.
    let dup = cf.create_dns_record(&zone.id, &api).await.unwrap_err();
    assert!(dup.is_duplicate_record(), "{dup}");
    assert_eq!(dup.codes(), vec![81057]);
    assert_eq!(dup.status(), Some(400));
    // A CNAME beside it: 81053.
    let cname = cf
        .create_dns_record(
            &zone.id,
            &DnsRecord::cname("api.madplan.com", "lb.example.net"),
        )
        .await
        .unwrap_err();
    assert_eq!(cname.codes(), vec![81053]);

    let txt = DnsRecord::txt("madplan.com", "v=spf1 -all").ttl(Ttl::seconds(3600).unwrap());
    cf.create_dns_record(&zone.id, &txt).await.unwrap();
    let only_api = cf
        .dns_records(
            &zone.id,
            &RecordFilter {
                name: Some("api.madplan.com".into()),
                kind: Some(RecordType::A),
            },
        )
        .await
        .unwrap();
    assert_eq!(only_api.len(), 1);
    assert_eq!(only_api[0].tags, vec!["env:production".to_string()]);

    let moved = DnsRecord::a("api.madplan.com", Ipv4Addr::new(203, 0, 113, 20))
        .proxied(true)
        .comment("new ALB");
    let updated = cf.update_dns_record(&zone.id, &id, &moved).await.unwrap();
    assert_eq!(updated.content, "203.0.113.20");
    assert_eq!(updated.comment.as_deref(), Some("new ALB"));

    cf.delete_dns_record(&zone.id, &id).await.unwrap();
    let again = cf.delete_dns_record(&zone.id, &id).await.unwrap_err();
    assert!(again.is_not_found(), "{again}");
    let unknown_zone = cf
        .dns_records("0000000000000000000000000000dead", &RecordFilter::default())
        .await
        .unwrap_err();
    assert!(unknown_zone.is_not_found());
    assert_eq!(unknown_zone.codes(), vec![7003]);

    // What Cloudflare refuses and the 2023 schema lets through is caught
    // before sending.
    let before = fake.requests().len();
    let bad = DnsRecord::txt("x.madplan.com", "hi").proxied(true);
    assert!(matches!(
        cf.create_dns_record(&zone.id, &bad).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    assert_eq!(fake.requests().len(), before);
    no_violations(&fake);
}

#[tokio::test]
async fn lists_are_fetched_page_by_page_behind_one_call() {
    let fake = fake().await;
    let cf = client(&fake);
    let zone = fake.zone_id(ZONE);
    for i in 0..230 {
        cf.create_dns_record(&zone, &DnsRecord::txt(&format!("t{i}.madplan.com"), "x"))
            .await
            .unwrap();
    }
    let all = cf
        .dns_records(&zone, &RecordFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 230);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /zones/") && r.ends_with("/dns_records"))
        .count();
    assert_eq!(pages, 3, "100 per page");
    no_violations(&fake);
}

#[tokio::test]
async fn the_five_zone_settings_read_and_write_as_closed_types() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    assert_eq!(cf.setting::<Ssl>(&z).await.unwrap(), SslMode::Flexible);
    assert_eq!(
        cf.set_setting::<Ssl>(&z, &SslMode::Strict).await.unwrap(),
        SslMode::Strict
    );
    assert_eq!(cf.setting::<Ssl>(&z).await.unwrap(), SslMode::Strict);
    cf.set_setting::<MinTlsVersion>(&z, &TlsVersion::V1_2)
        .await
        .unwrap();
    assert_eq!(
        cf.setting::<MinTlsVersion>(&z).await.unwrap(),
        TlsVersion::V1_2
    );
    cf.set_setting::<AlwaysUseHttps>(&z, &OnOff::On)
        .await
        .unwrap();
    assert_eq!(cf.setting::<AlwaysUseHttps>(&z).await.unwrap(), OnOff::On);
    cf.set_setting::<Tls13Setting>(&z, &Tls13::On)
        .await
        .unwrap();
    assert_eq!(cf.setting::<Tls13Setting>(&z).await.unwrap(), Tls13::On);
    let hsts = SecurityHeaderValue {
        strict_transport_security: Hsts {
            enabled: true,
            max_age: 31_536_000,
            include_subdomains: true,
            preload: true,
            nosniff: true,
        },
    };
    cf.set_setting::<SecurityHeader>(&z, &hsts).await.unwrap();
    assert_eq!(cf.setting::<SecurityHeader>(&z).await.unwrap(), hsts);
    no_violations(&fake);
}

/// HSTS without its object: the spec allows the body, Cloudflare refuses
/// the value.
struct LooseHeader;
impl Setting for LooseHeader {
    const ID: &'static str = "security_header";
    type Value = serde_json::Value;
}

#[tokio::test]
async fn an_invalid_setting_value_gets_cloudflare_s_error() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    let err = cf
        .set_setting::<LooseHeader>(&z, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.codes(), vec![1007], "{err}");
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .contains("Invalid value for zone setting security_header"),
        "{err}"
    );
    no_violations(&fake);
}

/// A setting typed wrongly on purpose, to show the spec check at work.
struct LooseSsl;
impl Setting for LooseSsl {
    const ID: &'static str = "ssl";
    type Value = String;
}

#[tokio::test]
async fn a_request_that_breaks_the_spec_fails_the_call() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    let err = cf
        .set_setting::<LooseSsl>(&z, &"ultra".to_string())
        .await
        .unwrap_err();
    assert_eq!(err.codes(), vec![9999], "{err}");
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("zone-settings-change-ssl-setting"), "{v:?}");
    assert!(v[0].contains("ultra"), "{v:?}");
}

fn ours(reference: &str, expression: &str) -> Rule {
    Rule {
        id: None,
        reference: Some(reference.into()),
        action: RuleAction::SetCacheSettings,
        expression: expression.into(),
        description: Some("madplan: cache static assets".into()),
        enabled: true,
        action_parameters: Some(
            json!({"cache": true, "edge_ttl": {"mode": "override_origin", "default": 86400}}),
        ),
        ratelimit: None,
    }
}

#[tokio::test]
async fn owned_ruleset_rules_change_and_everyone_else_s_stay() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    assert!(
        cf.entrypoint(&z, Phase::HttpRequestCacheSettings)
            .await
            .unwrap()
            .is_none()
    );
    let foreign = json!({
        "ref": "web-team-bypass-admin", "action": "set_cache_settings",
        "expression": "starts_with(http.request.uri.path, \"/admin\")",
        "action_parameters": {"cache": false}, "enabled": true, "description": "web team"
    });
    fake.add_foreign_rule(&z, "http_request_cache_settings", foreign.clone());

    let first = cf
        .replace_owned_rules(
            &z,
            Phase::HttpRequestCacheSettings,
            "madplan-",
            &[ours(
                "madplan-static",
                "http.request.uri.path.extension in {\"js\" \"css\"}",
            )],
        )
        .await
        .unwrap();
    assert_eq!(first.rules.len(), 2);
    assert_eq!(
        first.rules[0].reference.as_deref(),
        Some("web-team-bypass-admin")
    );
    let foreign_id = first.rules[0].id.clone();
    let our_id = first.rules[1].id.clone();

    // Changing ours keeps the foreign rule as it was, and ours in place.
    let second = cf
        .replace_owned_rules(
            &z,
            Phase::HttpRequestCacheSettings,
            "madplan-",
            &[
                ours(
                    "madplan-static",
                    "http.request.uri.path.extension in {\"js\" \"css\" \"png\"}",
                ),
                ours(
                    "madplan-fonts",
                    "http.request.uri.path.extension eq \"woff2\"",
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(second.rules.len(), 3);
    assert_eq!(second.rules[0].id, foreign_id);
    assert_eq!(
        second.rules[0].expression,
        foreign["expression"].as_str().unwrap()
    );
    assert_eq!(
        second.rules[0].action_parameters,
        Some(json!({"cache": false}))
    );
    assert_eq!(second.rules[1].id, our_id);
    assert!(second.rules[1].expression.contains("png"));
    assert_eq!(second.rules[2].reference.as_deref(), Some("madplan-fonts"));

    // Removing ours leaves the foreign rule alone.
    let third = cf
        .replace_owned_rules(&z, Phase::HttpRequestCacheSettings, "madplan-", &[])
        .await
        .unwrap();
    assert_eq!(third.rules.len(), 1);
    assert_eq!(third.rules[0].id, foreign_id);

    // A rule of ours must say so.
    let unmarked = cf
        .replace_owned_rules(
            &z,
            Phase::HttpRequestCacheSettings,
            "madplan-",
            &[ours("other", "true")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(unmarked, Error::Http(HttpError::Invalid { .. })),
        "{unmarked}"
    );

    // Rate limiting: the WAF rule of the deployment guide, 2000 per 5 minutes per IP.
    let limit = Rule {
        id: None,
        reference: Some("madplan-api-rate".into()),
        action: RuleAction::Block,
        expression: "starts_with(http.request.uri.path, \"/api\")".into(),
        description: Some("madplan: 2000 requests per 5 minutes per IP".into()),
        enabled: true,
        action_parameters: None,
        ratelimit: Some(RateLimit {
            characteristics: vec!["ip.src".into(), "cf.colo.id".into()],
            period: 300,
            requests_per_period: 2000,
            mitigation_timeout: 600,
        }),
    };
    let rl = cf
        .replace_owned_rules(
            &z,
            Phase::HttpRatelimit,
            "madplan-",
            std::slice::from_ref(&limit),
        )
        .await
        .unwrap();
    assert_eq!(rl.rules[0].ratelimit, limit.ratelimit);
    no_violations(&fake);
}

#[tokio::test]
async fn the_client_keeps_its_own_request_budget() {
    let fake = fake().await;
    let cf = Client::new(
        ClientConfig::builder()
            .token(SecretString::from(TOKEN))
            .base_url(fake.base_url())
            // 6 per second at most: a burst of 1, then one every 200 ms.
            .budget(Budget {
                requests: 6,
                window: Duration::from_secs(1),
            })
            .build(),
    )
    .unwrap();
    let z = fake.zone_id(ZONE);
    let started = Instant::now();
    for _ in 0..6 {
        cf.setting::<Ssl>(&z).await.unwrap();
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(950), "6 calls took {took:?}");
    assert!(took < Duration::from_secs(5), "6 calls took {took:?}");
    no_violations(&fake);
}

#[tokio::test]
async fn answers_429_and_5xx_are_retried_as_told_and_bounded() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);

    // Two 429s asking for 1 s each: the call succeeds after waiting them.
    fake.fail_next(2, 429, Some(1));
    let started = Instant::now();
    cf.setting::<Ssl>(&z).await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "waited {took:?}");
    assert!(took < Duration::from_secs(4), "waited {took:?}");

    // 429 without retry-after: the backoff's own pauses.
    fake.fail_next(1, 429, None);
    cf.setting::<Ssl>(&z).await.unwrap();

    // More 429s than retries: a rate-limit error after 1 + 3 attempts.
    fake.fail_next(10, 429, Some(0));
    let before = fake.requests().len();
    let err = cf.setting::<Ssl>(&z).await.unwrap_err();
    match &err {
        Error::RateLimited { attempts, .. } => assert_eq!(*attempts, 4),
        other => panic!("expected a rate-limit error, got {other}"),
    }
    assert_eq!(fake.requests().len() - before, 4);

    // A retry-after longer than the policy allows is not waited for.
    fake.fail_next(1, 429, Some(600));
    let started = Instant::now();
    assert!(matches!(
        cf.setting::<Ssl>(&z).await,
        Err(Error::RateLimited { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(1));

    // 503 is retried for a GET...
    let _ = fake.requests();
    fake.fail_next(20, 429, None);
    // (drain the queue left by the previous case first)
    let drained = loop {
        match cf.setting::<Ssl>(&z).await {
            Ok(_) => break true,
            Err(Error::RateLimited { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(drained);
    fake.fail_next(1, 503, None);
    cf.setting::<Ssl>(&z).await.unwrap();
    // ...but not for a POST, which may have been carried out.
    fake.fail_next(1, 503, None);
    let err = cf
        .create_dns_record(&z, &DnsRecord::txt("once.madplan.com", "x"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts, 1);
    no_violations(&fake);
}

#[tokio::test]
async fn the_token_never_shows_in_debug_errors_or_logs() {
    let (_guard, logs) = madplan_core::testkit::LogCapture::start();

    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(1, 429, Some(0));
    cf.setting::<Ssl>(&z).await.unwrap();
    let wrong = Client::new(
        ClientConfig::builder()
            .token(SecretString::from("cf-wrong-token-should-not-leak"))
            .base_url(fake.base_url())
            .build(),
    )
    .unwrap();
    let err = wrong.setting::<Ssl>(&z).await.unwrap_err();
    assert_eq!(err.codes(), vec![10000]);
    assert_eq!(err.status(), Some(403));

    let seen = format!("{cf:?} {wrong:?} {err} {err:?} {}", logs.text());
    assert!(
        seen.contains("retrying a call"),
        "the logs were captured: {seen}"
    );
    assert!(!seen.contains(TOKEN), "the token leaked: {seen}");
    assert!(
        !seen.contains("cf-wrong-token-should-not-leak"),
        "the token leaked: {seen}"
    );
    no_violations(&fake);
}

#[tokio::test]
async fn from_env_needs_a_token() {
    // SAFETY-free: the variable is only read here, in this process's test.
    let err = Client::new(
        ClientConfig::builder()
            .token(SecretString::from("  "))
            .build(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Http(HttpError::Config(_))), "{err}");
}
