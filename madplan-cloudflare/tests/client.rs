//! The Cloudflare client against the fake, every request and every answer
//! checked against the official OpenAPI document (with the allowances the
//! fake names).

use madplan_core::rest::HttpError;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use madplan_cloudflare::client::bots::{BotManagement, SbfmAction};
use madplan_cloudflare::client::certificates::{
    CertificateAuthority, PackOrder, PackStatus, ValidationMethod,
};
use madplan_cloudflare::client::dns::{
    CaaTag, Record, RecordContent, RecordFilter, RecordType, SrvData, Ttl,
};
use madplan_cloudflare::client::rulesets::{Phase, RateLimit, Rule, RuleAction};
use madplan_cloudflare::client::settings::{
    AlwaysUseHttps, AutomaticHttpsRewrites, Hsts, MinTlsVersion, OnOff, SecurityHeader,
    SecurityHeaderValue, Setting, Ssl, SslMode, Tls13, Tls13Setting, TlsVersion,
};
use madplan_cloudflare::fake::{Allowance, FakeCloudflare, FakeZone};
use madplan_cloudflare::{Budget, Client, ClientConfig, Error, RetryPolicy};
use secrecy::SecretString;
use serde_json::{Map, json};

const TOKEN: &str = "cf-test-token-0123456789abcdef";
const ZONE: &str = "madplan.com";

async fn fake() -> FakeCloudflare {
    FakeCloudflare::start(TOKEN, &[ZONE, "madplan.dev"], &Allowance::ALL).await
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
    assert!(v.is_empty(), "requests or answers broke the spec: {v:#?}");
}

#[tokio::test]
async fn zones_and_the_dns_record_life_cycle() {
    let fake = fake().await;
    let cf = client(&fake);
    let zone = cf.zone_by_name(ZONE).await.unwrap();
    assert_eq!(zone.id, fake.zone_id(ZONE));
    assert_eq!(
        zone.plan.as_ref().and_then(|p| p.legacy_id.as_deref()),
        Some("business")
    );
    assert_eq!(cf.zone(&zone.id).await.unwrap().name, ZONE);
    assert_eq!(cf.zones().await.unwrap().len(), 2);
    let missing = cf.zone_by_name("nope.example").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");

    let api = Record::a("api.madplan.com", Ipv4Addr::new(203, 0, 113, 10))
        .proxied(true)
        .comment("ALB")
        .tags(["env:production"]);
    let created = cf.create_dns_record(&zone.id, &api).await.unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(
        created.content,
        RecordContent::A(Ipv4Addr::new(203, 0, 113, 10))
    );
    assert!(created.proxied);
    assert_eq!(created.ttl, Ttl::Auto);

    // The same record twice: Cloudflare's 81057.
    let dup = cf.create_dns_record(&zone.id, &api).await.unwrap_err();
    assert!(dup.is_duplicate_record(), "{dup}");
    assert_eq!(dup.codes(), vec![81057]);
    assert_eq!(dup.status(), Some(400));
    assert!(dup.ray_id().is_some(), "the answer's cf-ray is kept");
    // A CNAME beside it: 81053.
    let cname = cf
        .create_dns_record(
            &zone.id,
            &Record::cname("api.madplan.com", "lb.example.net"),
        )
        .await
        .unwrap_err();
    assert_eq!(cname.codes(), vec![81053]);

    let txt = Record::txt("madplan.com", "v=spf1 -all").ttl(Ttl::seconds(3600).unwrap());
    cf.create_dns_record(&zone.id, &txt).await.unwrap();
    let only_api = cf
        .dns_records(
            &zone.id,
            &RecordFilter {
                name: Some("api.madplan.com".into()),
                kind: Some(RecordType::A),
                ..RecordFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(only_api.len(), 1);
    assert_eq!(only_api[0].tags, vec!["env:production".to_string()]);
    let by_comment = cf
        .dns_records(
            &zone.id,
            &RecordFilter {
                comment_contains: Some("alb".into()),
                ..RecordFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_comment.len(), 1, "comment filters ignore case");

    let moved = Record::a("api.madplan.com", Ipv4Addr::new(203, 0, 113, 20))
        .proxied(true)
        .comment("new ALB");
    let updated = cf.update_dns_record(&zone.id, &id, &moved).await.unwrap();
    assert_eq!(
        updated.content,
        RecordContent::A(Ipv4Addr::new(203, 0, 113, 20))
    );
    assert_eq!(updated.comment.as_deref(), Some("new ALB"));
    assert_eq!(cf.dns_record(&zone.id, &id).await.unwrap(), updated);

    cf.delete_dns_record(&zone.id, &id).await.unwrap();
    let again = cf.delete_dns_record(&zone.id, &id).await.unwrap_err();
    assert!(
        again.is_not_found(),
        "a first-attempt 404 is not found: {again}"
    );
    let unknown_zone = cf
        .dns_records("0000000000000000000000000000dead", &RecordFilter::default())
        .await
        .unwrap_err();
    assert!(unknown_zone.is_not_found());
    assert_eq!(unknown_zone.codes(), vec![7003]);

    // What Cloudflare refuses and the 2023 schema lets through is caught
    // before sending.
    let before = fake.requests().len();
    let bad = Record::txt("x.madplan.com", "hi").proxied(true);
    assert!(matches!(
        cf.create_dns_record(&zone.id, &bad).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    assert_eq!(fake.requests().len(), before);
    no_violations(&fake);
}

#[tokio::test]
async fn records_of_every_type_round_trip_and_a_zone_with_unknown_ones_lists_fine() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    let caa = Record::caa(ZONE, 0, CaaTag::Issue, "letsencrypt.org");
    let made = cf.create_dns_record(&z, &caa).await.unwrap();
    assert_eq!(made.content, caa.content, "CAA travels as data");
    let srv = Record::new(
        "_sip._tcp.madplan.com",
        RecordContent::SRV(SrvData {
            priority: 10,
            weight: 5,
            port: 5060,
            target: "sip.madplan.com".into(),
        }),
    );
    cf.create_dns_record(&z, &srv).await.unwrap();
    cf.create_dns_record(&z, &Record::mx(ZONE, "mx.madplan.com", 10))
        .await
        .unwrap();
    // Others' records, of types this version models and one it does not.
    fake.add_record(
        &z,
        json!({"type": "HTTPS", "name": ZONE, "content": "1 . alpn=\"h3,h2\"",
               "data": {"priority": 1, "target": ".", "value": "alpn=\"h3,h2\""}}),
    );
    fake.add_record(
        &z,
        json!({"type": "NS", "name": "sub.madplan.com", "content": "ns1.elsewhere.net"}),
    );
    fake.add_record(
        &z,
        json!({"type": "OPENPGPKEY", "name": "k._openpgpkey.madplan.com", "content": "mQINBGB..."}),
    );
    let all = cf.dns_records(&z, &RecordFilter::default()).await.unwrap();
    assert_eq!(all.len(), 6);
    let kinds: Vec<RecordType> = all.iter().map(Record::kind).collect();
    for k in [
        RecordType::CAA,
        RecordType::SRV,
        RecordType::MX,
        RecordType::HTTPS,
        RecordType::NS,
        RecordType::OPENPGPKEY,
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert_eq!(
        all.iter()
            .find(|r| r.kind() == RecordType::SRV)
            .unwrap()
            .content,
        srv.content
    );
    no_violations(&fake);
}

#[tokio::test]
async fn lists_are_fetched_page_by_page_behind_one_call() {
    let fake = fake().await;
    let cf = client(&fake);
    let zone = fake.zone_id(ZONE);
    for i in 0..230 {
        fake.add_record(
            &zone,
            json!({"type": "TXT", "name": format!("t{i}.madplan.com"), "content": "x"}),
        );
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
async fn zone_settings_read_in_one_call_and_write_as_closed_types() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    assert_eq!(cf.setting::<Ssl>(&z).await.unwrap(), SslMode::Flexible);
    assert_eq!(
        cf.set_setting::<Ssl>(&z, &SslMode::Strict).await.unwrap(),
        SslMode::Strict
    );
    cf.set_setting::<MinTlsVersion>(&z, &TlsVersion::V1_2)
        .await
        .unwrap();
    cf.set_setting::<AlwaysUseHttps>(&z, &OnOff::On)
        .await
        .unwrap();
    cf.set_setting::<Tls13Setting>(&z, &Tls13::On)
        .await
        .unwrap();
    cf.set_setting::<AutomaticHttpsRewrites>(&z, &OnOff::On)
        .await
        .unwrap();
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
    let before = fake.requests().len();
    let all = cf.settings(&z).await.unwrap();
    assert_eq!(fake.requests().len() - before, 1, "one call for all");
    assert_eq!(all.get::<Ssl>().unwrap(), Some(SslMode::Strict));
    assert_eq!(all.get::<MinTlsVersion>().unwrap(), Some(TlsVersion::V1_2));
    assert_eq!(all.get::<AlwaysUseHttps>().unwrap(), Some(OnOff::On));
    assert_eq!(all.get::<Tls13Setting>().unwrap(), Some(Tls13::On));
    assert_eq!(
        all.get::<AutomaticHttpsRewrites>().unwrap(),
        Some(OnOff::On)
    );
    assert_eq!(all.get::<SecurityHeader>().unwrap(), Some(hsts));
    assert!(
        all.entry("brotli").is_some(),
        "settings madplan does not manage are listed too"
    );
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

#[tokio::test]
async fn the_fake_s_answers_are_checked_against_the_spec() {
    // Without the allowance for the DNS failure schema (which no answer can
    // fit), a perfectly ordinary 404 is reported: answers are checked.
    let allowances: Vec<Allowance> = Allowance::ALL
        .into_iter()
        .filter(|a| *a != Allowance::FailureAnswersMergedWithSuccess)
        .collect();
    let fake = FakeCloudflare::start(TOKEN, &[ZONE], &allowances).await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    let err = cf
        .dns_record(&z, "00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let v = fake.violations();
    assert!(
        v.iter().any(|v| v.contains("the fake's answer")
            && v.contains("dns-records-for-a-zone-dns-record-details")),
        "{v:#?}"
    );
}

fn ours(reference: &str, expression: &str) -> Rule {
    Rule {
        description: Some("madplan: cache static assets".into()),
        action_parameters: Some(
            json!({"cache": true, "edge_ttl": {"mode": "override_origin", "default": 86400}}),
        ),
        ..Rule::new(reference, RuleAction::SetCacheSettings, expression)
    }
}

#[tokio::test]
async fn owned_ruleset_rules_change_and_everyone_else_s_stay_exactly() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    assert!(
        cf.entrypoint(&z, Phase::HttpRequestCacheSettings)
            .await
            .unwrap()
            .is_none()
    );
    fake.add_foreign_rule(
        &z,
        "http_request_cache_settings",
        json!({
            "ref": "web-team-bypass-admin", "action": "set_cache_settings",
            "expression": "starts_with(http.request.uri.path, \"/admin\")",
            "action_parameters": {"cache": false}, "enabled": true, "description": "web team",
            "logging": {"enabled": true}, "a_field_from_next_year": {"nested": [1, 2.5, "x"]}
        }),
    );
    let foreign_before = fake.rules(&z, "http_request_cache_settings")[0].clone();

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
    let rules = first.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].reference.as_deref(), Some("web-team-bypass-admin"));
    let our_id = rules[1].id.clone();
    assert_eq!(
        fake.rules(&z, "http_request_cache_settings")[0],
        foreign_before
    );

    // Changing ours keeps the foreign rule exactly as it was, and ours in place.
    cf.replace_owned_rules(
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
    let stored = fake.rules(&z, "http_request_cache_settings");
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[0], foreign_before,
        "every field, unknown ones included"
    );
    assert_eq!(stored[1]["id"].as_str(), our_id.as_deref());
    assert!(stored[1]["expression"].as_str().unwrap().contains("png"));
    assert_eq!(stored[2]["ref"], "madplan-fonts");

    // Removing ours leaves the foreign rule alone.
    cf.replace_owned_rules(&z, Phase::HttpRequestCacheSettings, "madplan-", &[])
        .await
        .unwrap();
    assert_eq!(
        fake.rules(&z, "http_request_cache_settings"),
        vec![foreign_before]
    );

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
    no_violations(&fake);
}

#[tokio::test]
async fn foreign_rate_limit_rules_keep_fields_the_models_do_not_know() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    // Complexity-based (no requests_per_period), with a counting
    // expression, origin-only counting and a field from the future.
    fake.add_foreign_rule(
        &z,
        "http_ratelimit",
        json!({
            "ref": "team-graphql", "action": "block", "enabled": true,
            "expression": "http.request.uri.path eq \"/graphql\"",
            "logging": {"enabled": false},
            "ratelimit": {
                "characteristics": ["cf.colo.id", "ip.src"], "period": 60,
                "score_per_period": 400, "score_response_header_name": "x-cost",
                "counting_expression": "http.response.code ne 200",
                "requests_to_origin": true, "mitigation_timeout": 600,
                "throttle_burst": 7
            }
        }),
    );
    let before = fake.rules(&z, "http_ratelimit")[0].clone();
    let read = cf
        .entrypoint(&z, Phase::HttpRatelimit)
        .await
        .unwrap()
        .unwrap();
    let foreign = &read.rules()[0];
    let limit = foreign.ratelimit.as_ref().unwrap();
    assert_eq!(limit.requests_per_period, None);
    assert_eq!(limit.score_per_period, Some(400));

    // The deployment guide's limit: 2000 requests per 5 minutes per IP.
    let mine = Rule {
        description: Some("2000 requests per 5 minutes per IP".into()),
        ratelimit: Some(RateLimit {
            characteristics: vec!["cf.colo.id".into(), "ip.src".into()],
            period: 300,
            requests_per_period: Some(2000),
            mitigation_timeout: Some(600),
            counting_expression: None,
            requests_to_origin: None,
            score_per_period: None,
            score_response_header_name: None,
            extra: Map::new(),
        }),
        ..Rule::new(
            "madplan-api",
            RuleAction::Block,
            "starts_with(http.request.uri.path, \"/api\")",
        )
    };
    let rs = cf
        .replace_owned_rules(
            &z,
            Phase::HttpRatelimit,
            "madplan-",
            std::slice::from_ref(&mine),
        )
        .await
        .unwrap();
    assert_eq!(rs.rules()[1].ratelimit, mine.ratelimit);
    let after = fake.rules(&z, "http_ratelimit");
    assert_eq!(after[0], before, "written back field for field");
    assert_eq!(after[0]["ratelimit"]["throttle_burst"], 7);
    no_violations(&fake);
}

#[tokio::test]
async fn bot_protection_and_advanced_certificates() {
    let fake = FakeCloudflare::start_with(
        TOKEN,
        &[FakeZone::new(ZONE, "pro").with_advanced_certificates()],
        &Allowance::ALL,
    )
    .await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    let bots = cf.bot_management(&z).await.unwrap();
    assert_eq!(bots.sbfm_definitely_automated, Some(SbfmAction::Allow));
    assert!(bots.extra.contains_key("using_latest_model"));
    let set = cf
        .set_bot_management(
            &z,
            &BotManagement {
                sbfm_definitely_automated: Some(SbfmAction::Block),
                ..BotManagement::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(set.sbfm_definitely_automated, Some(SbfmAction::Block));
    assert_eq!(
        set.sbfm_verified_bots,
        Some(SbfmAction::Allow),
        "others unchanged"
    );

    let pack = cf
        .order_certificate_pack(
            &z,
            &PackOrder {
                kind: "advanced",
                hosts: vec![ZONE.into(), format!("*.{ZONE}")],
                validation_method: ValidationMethod::Txt,
                validity_days: 90,
                certificate_authority: CertificateAuthority::LetsEncrypt,
                cloudflare_branding: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(pack.status, PackStatus::Initializing);
    let mut status = pack.status.clone();
    for _ in 0..5 {
        status = cf.certificate_pack(&z, &pack.id).await.unwrap().status;
        if status == PackStatus::Active {
            break;
        }
    }
    assert_eq!(status, PackStatus::Active);
    let listed = cf.certificate_packs(&z).await.unwrap();
    assert_eq!(
        listed[0].certificate_authority,
        Some(CertificateAuthority::LetsEncrypt)
    );
    cf.delete_certificate_pack(&z, &pack.id).await.unwrap();
    assert!(cf.certificate_packs(&z).await.unwrap().is_empty());
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
    // A second client given the same budget waits its turn too.
    let other = Client::new(
        ClientConfig::builder()
            .token(SecretString::from(TOKEN))
            .base_url(fake.base_url())
            .shared_budget(cf.budget())
            .build(),
    )
    .unwrap();
    let started = Instant::now();
    cf.setting::<Ssl>(&z).await.unwrap();
    other.setting::<Ssl>(&z).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "two clients of one budget took {:?}",
        started.elapsed()
    );
    no_violations(&fake);
}

#[tokio::test]
async fn a_429_is_retried_after_the_wait_it_asks_for() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(2, 429, Some(1));
    let started = Instant::now();
    cf.setting::<Ssl>(&z).await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "waited {took:?}");
    assert!(took < Duration::from_secs(4), "waited {took:?}");
    assert_eq!(fake.requests().len(), 3);
    // Without retry-after, the backoff's own pauses.
    fake.fail_next(1, 429, None);
    cf.setting::<Ssl>(&z).await.unwrap();
    assert_eq!(fake.requests().len(), 5);
    no_violations(&fake);
}

#[tokio::test]
async fn retries_are_bounded() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(10, 429, Some(0));
    let err = cf.setting::<Ssl>(&z).await.unwrap_err();
    match &err {
        Error::RateLimited { attempts, .. } => assert_eq!(*attempts, 4),
        other => panic!("expected a rate-limit error, got {other}"),
    }
    assert_eq!(fake.requests().len(), 4, "1 + 3 retries");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_not_waited_for() {
    // Alone in its fake: nothing else is queued, so the one 429 with a
    // 10-minute wait is the answer the client sees.
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(1, 429, Some(600));
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), cf.setting::<Ssl>(&z))
        .await
        .expect("the client waited for a retry-after beyond its limit");
    match r {
        Err(Error::RateLimited {
            attempts,
            retry_after,
            ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(retry_after, Some(Duration::from_secs(600)));
        }
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.requests().len(), 1);
}

/// Cloudflare's answer to a user past its limit is a 429 and five minutes
/// of refusals: once the client has seen it, no request of that budget is
/// sent until the wait is over (they would be refused anyway); each fails
/// at once with what is left of the wait and what to do. A client with a
/// budget of its own is not held.
#[tokio::test]
async fn a_lockout_is_not_sent_into() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(1, 429, Some(300));
    let started = Instant::now();
    match cf.setting::<Ssl>(&z).await {
        Err(Error::RateLimited {
            attempts: 1,
            retry_after: Some(w),
            ..
        }) => assert_eq!(w, Duration::from_secs(300)),
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    // Another call of the same client, and one of a client sharing its
    // budget: neither is sent.
    let sharing = Client::new(
        ClientConfig::builder()
            .token(SecretString::from(TOKEN))
            .base_url(fake.base_url())
            .shared_budget(cf.budget())
            .retry(fast_retry())
            .build(),
    )
    .unwrap();
    for err in [
        cf.dns_records(&z, &RecordFilter::default())
            .await
            .unwrap_err(),
        sharing.setting::<Ssl>(&z).await.unwrap_err(),
    ] {
        match &err {
            Error::LockedOut { wait, path, .. } => {
                assert!(
                    *wait > Duration::from_secs(290) && *wait <= Duration::from_secs(300),
                    "{wait:?}"
                );
                assert!(path.starts_with("/zones/"), "{path}");
            }
            other => panic!("expected a lockout, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("was not sent") && text.contains("MADPLAN_CLOUDFLARE_BUDGET"),
            "{text}"
        );
        let p = err.into_provider();
        assert_eq!(p.class, madplan_core::ErrorClass::Unavailable);
    }
    assert_eq!(fake.requests().len(), 1, "only the first request was sent");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A client with its own budget is not held.
    client(&fake).setting::<Ssl>(&z).await.unwrap();
    assert_eq!(fake.requests().len(), 2);
    no_violations(&fake);
}

/// A short wait asked of one request holds the budget's other requests
/// until it is over, instead of sending them into it.
#[tokio::test]
async fn a_short_wait_holds_every_request_of_the_budget() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(1, 429, Some(2));
    let started = Instant::now();
    let first = tokio::spawn({
        let cf = cf.clone();
        let z = z.clone();
        async move { cf.setting::<Ssl>(&z).await }
    });
    // Once the 429 is in, a second call of the budget.
    for _ in 0..200 {
        if !fake.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    cf.dns_records(&z, &RecordFilter::default()).await.unwrap();
    let second = started.elapsed();
    first.await.unwrap().unwrap();
    assert!(
        second >= Duration::from_millis(1900),
        "the second call went out {second:?} after the first, inside the 2 s wait"
    );
    assert_eq!(fake.requests().len(), 3);
    no_violations(&fake);
}

#[tokio::test]
async fn a_5xx_is_retried_for_a_get_but_not_for_a_post() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.fail_next(1, 503, None);
    cf.setting::<Ssl>(&z).await.unwrap();
    assert_eq!(fake.requests().len(), 2);
    fake.fail_next(1, 503, None);
    let err = cf
        .create_dns_record(&z, &Record::txt("once.madplan.com", "x"))
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
async fn an_error_page_that_is_not_json_keeps_its_status_and_ray() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    fake.answer_page_next(403);
    let err = cf
        .dns_records(&z, &RecordFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let ray = err.ray_id().expect("cf-ray kept").to_string();
    assert!(ray.ends_with("-AMS"), "{ray}");
    let text = err.to_string();
    assert!(
        text.contains("403 | Cloudflare"),
        "the page's start is shown: {text}"
    );
    assert!(text.contains(&ray), "{text}");
    let engine = err.into_provider();
    assert_eq!(engine.request_id.as_deref(), Some(ray.as_str()));
}

#[tokio::test]
async fn a_delete_answered_404_after_a_lost_answer_is_done() {
    let fake = fake().await;
    let cf = client(&fake);
    let z = fake.zone_id(ZONE);
    let r = cf
        .create_dns_record(&z, &Record::txt("gone.madplan.com", "x"))
        .await
        .unwrap();
    let id = r.id.unwrap();
    // The first DELETE is carried out but its answer is lost (502); the
    // retry finds nothing: the record is gone, which is what was asked.
    fake.lose_next_answers(1);
    cf.delete_dns_record(&z, &id).await.unwrap();
    assert!(fake.records(&z).is_empty());
    let deletes = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("DELETE"))
        .count();
    assert_eq!(deletes, 2);
    // A GET answered 404 after a lost answer is still not found.
    fake.lose_next_answers(1);
    let err = cf.dns_record(&z, &id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
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
async fn a_post_that_outlives_the_total_timeout_fails_once_and_is_not_sent_again() {
    let fake = fake().await;
    let z = fake.zone_id(ZONE);
    let cf = Client::new(
        ClientConfig::builder()
            .token(SecretString::from(TOKEN))
            .base_url(fake.base_url())
            .retry(fast_retry())
            .timeouts(madplan_cloudflare::client::Timeouts {
                connect: Duration::from_millis(500),
                total: Duration::from_millis(300),
            })
            .build(),
    )
    .unwrap();
    fake.delay_writes(Duration::from_millis(1500));
    let started = Instant::now();
    let err = cf
        .create_dns_record(&z, &Record::txt("slow.madplan.com", "x"))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Http(HttpError::Transport { .. })),
        "{err}"
    );
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(
        posts, 1,
        "a POST that may have been carried out is not repeated"
    );
}
