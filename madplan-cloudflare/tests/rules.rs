//! Rules in phase entrypoints through the engine against the fake: each
//! kind applies, plans clean, has its drift repaired and is destroyed,
//! while the rules of others in the same phase are written back exactly,
//! fields the models do not know included.

mod support;

use std::time::Duration;

use madplan_cloudflare::fake::FakeCloudflare;
use madplan_cloudflare::resources::{
    CacheRule, CacheRules, Characteristic, FirewallAction, FirewallRule, FirewallRules, ManagedWaf,
    OwaspCore, Period, RateLimitRule, RateLimits, WafAction, ZonePlan, ZoneRef,
};
use madplan_core::Environment;
use serde_json::{Value, json};
use support::*;

/// The environment with one resource built from the zone.
fn with<R: madplan_core::Resource>(
    fake: &FakeCloudflare,
    name: &str,
    build: impl Fn(&ZoneRef) -> R,
) -> Environment {
    let (mut env, zone) = env(fake, ZonePlan::business());
    env.add(name, build(&zone));
    env
}

/// Apply, a clean plan, a drift by hand reported on `rules` and repaired,
/// destroy; the foreign rule stays exactly as it was throughout.
async fn lifecycle<R: madplan_core::Resource>(
    phase: &str,
    foreign: Value,
    name: &str,
    field: &str,
    build: impl Fn(&ZoneRef) -> R + Copy,
    (key, drift): (&str, impl FnOnce(&mut Value)),
) -> (Vec<Value>, Value, Value) {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    fake.add_foreign_rule(&z, phase, foreign);
    let theirs = fake.rules(&z, phase)[0].clone();

    apply(with(&fake, name, build), &dir).await;
    let rules = fake.rules(&z, phase);
    assert_eq!(rules[0], theirs, "the foreign rule first, exactly");
    let owner = format!("madplan:production/{name}/");
    assert!(
        rules[1..]
            .iter()
            .all(|r| r["ref"].as_str().unwrap().starts_with(&owner)),
        "{rules:#?}"
    );
    let at = rules
        .iter()
        .position(|r| r["ref"].as_str().unwrap().ends_with(&format!("/{key}")))
        .expect("the rule to drift");
    let applied = rules[at].clone();
    assert_clean(with(&fake, name, build), &dir).await;

    let ours = applied["ref"].as_str().unwrap().to_string();
    fake.edit_rule(&z, phase, &ours, drift);
    let drifted = fake.rules(&z, phase)[at].clone();
    let plan = engine(with(&fake, name, build), &dir).plan().await.unwrap();
    let kind = R::KIND;
    let c = update(&plan, &format!("{kind}.{name}"));
    let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, [field], "{}", plan.render());
    let (before, after) = (
        c.fields[0].before.clone().unwrap(),
        c.fields[0].after.clone().unwrap(),
    );
    apply(with(&fake, name, build), &dir).await;
    let rules = fake.rules(&z, phase);
    assert_eq!(rules[0], theirs);
    assert_eq!(rules[at]["id"], applied["id"], "repaired in place");
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("version");
        v.as_object_mut().unwrap().remove("last_updated");
        v
    };
    assert_eq!(
        strip(&rules[at]),
        strip(&applied),
        "back to what was applied"
    );
    assert_ne!(strip(&drifted), strip(&applied));
    assert_clean(with(&fake, name, build), &dir).await;

    destroy(with(&fake, name, build), &dir).await;
    assert_eq!(
        fake.rules(&z, phase),
        vec![theirs],
        "only the foreign rule is left, exactly"
    );
    no_violations(&fake);
    (rules, before, after)
}

fn api_limit(zone: &ZoneRef) -> RateLimits {
    RateLimits::new(zone).rule(RateLimitRule::per_ip(
        "api",
        "starts_with(http.request.uri.path, \"/api\")",
        2000,
        Period::FiveMinutes,
    ))
}

#[tokio::test]
async fn the_rate_limit_of_the_guide_and_a_foreign_complexity_based_rule() {
    let (rules, before, after) = lifecycle(
        "http_ratelimit",
        json!({
            "ref": "team-graphql", "action": "managed_challenge", "enabled": true,
            "description": "GraphQL cost", "expression": "http.request.uri.path eq \"/graphql\"",
            "ratelimit": {
                "characteristics": ["cf.colo.id", "ip.src"], "period": 60,
                "score_per_period": 400, "score_response_header_name": "x-cost",
                "counting_expression": "http.response.code ne 200", "requests_to_origin": true,
                "mitigation_timeout": 600, "throttle_burst": 7
            },
            "logging": {"enabled": true}
        }),
        "limits",
        "rules",
        api_limit,
        ("api", |r: &mut Value| {
            r["ratelimit"]["requests_per_period"] = json!(5000)
        }),
    )
    .await;
    let ours = &rules[1];
    assert_eq!(ours["action"], "block");
    assert_eq!(
        ours["ratelimit"],
        json!({"characteristics": ["cf.colo.id", "ip.src"], "period": 300,
               "requests_per_period": 2000, "mitigation_timeout": 300})
    );
    assert_eq!(before[0]["requests_per_period"], 5000);
    assert_eq!(after[0]["requests_per_period"], 2000);
}

#[tokio::test]
async fn custom_firewall_rules() {
    lifecycle(
        "http_request_firewall_custom",
        json!({"ref": "sec-team-geo", "action": "block", "expression": "ip.src.country eq \"T1\"",
               "description": "Tor exits", "enabled": true, "logging": {"enabled": false}}),
        "firewall",
        "rules",
        |zone| {
            FirewallRules::new(zone)
                .rule(
                    FirewallRule::new(
                        "admin",
                        FirewallAction::Block,
                        "starts_with(http.request.uri.path, \"/admin\") and not ip.src in {10.0.0.0/8}",
                    )
                    .description("the admin pages stay inside"),
                )
                .rule(FirewallRule::new(
                    "login",
                    FirewallAction::ManagedChallenge,
                    "http.request.uri.path eq \"/api/login\" and cf.threat_score gt 10",
                ))
        },
        ("login", |r: &mut Value| r["action"] = json!("log")),
    )
    .await;
}

#[tokio::test]
async fn the_managed_waf_with_owasp() {
    let (rules, before, after) = lifecycle(
        "http_request_firewall_managed",
        json!({"ref": "exposed-credentials", "action": "execute", "expression": "true",
               "enabled": true,
               "action_parameters": {"id": "c2e184081120413c86c3ab7e14069605", "overrides": {"action": "log"}}}),
        "waf",
        "owasp",
        ManagedWaf::for_plan,
        ("owasp", |r: &mut Value| {
            r["action_parameters"]["overrides"]["rules"][0]["score_threshold"] = json!(60)
        }),
    )
    .await;
    assert_eq!(before["sensitivity"], 60);
    assert_eq!(after["sensitivity"], 40);
    let ids: Vec<&Value> = rules[1..]
        .iter()
        .map(|r| &r["action_parameters"]["id"])
        .collect();
    assert_eq!(
        ids,
        [
            &json!("efb7b8c949ac4650a09736fc376e9aee"),
            &json!("4814384a9e5d4991b9815dcfc25d2f1f")
        ]
    );
    assert_eq!(
        rules[2]["action_parameters"]["overrides"],
        json!({"rules": [{"id": "6179ae15870a4bb7b2d480d4843b323c", "action": "block", "score_threshold": 40}],
               "categories": [{"category": "paranoia-level-2", "enabled": false},
                              {"category": "paranoia-level-3", "enabled": false},
                              {"category": "paranoia-level-4", "enabled": false}]})
    );
}

#[tokio::test]
async fn cache_rules_for_the_frontend_s_static_assets() {
    let (rules, ..) = lifecycle(
        "http_request_cache_settings",
        json!({"ref": "web-bypass-admin", "action": "set_cache_settings",
               "expression": "starts_with(http.request.uri.path, \"/admin\")",
               "action_parameters": {"cache": false, "cache_reserve": {"eligible": false}},
               "enabled": true}),
        "cache",
        "rules",
        |zone| {
            CacheRules::new(zone).rule(CacheRule::static_assets(
                "assets",
                &["js", "css", "png", "svg", "woff2"],
                86400,
            ))
        },
        ("assets", |r: &mut Value| {
            r["action_parameters"]["edge_ttl"]["default"] = json!(60)
        }),
    )
    .await;
    assert_eq!(
        rules[1]["action_parameters"],
        json!({"cache": true, "edge_ttl": {"mode": "override_origin", "default": 86400}})
    );
}

#[tokio::test]
async fn two_resources_writing_one_phase_at_once_keep_each_other_s_rules() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    // Writes take 150 ms: two writers that did not wait for each other
    // would both read an empty phase and the second would drop the first's
    // rule.
    fake.delay_writes(Duration::from_millis(150));
    let build = |fake: &FakeCloudflare| {
        let (mut env, zone) = env(fake, ZonePlan::business());
        env.add("api", api_limit(&zone));
        env.add(
            "login",
            RateLimits::new(&zone).rule(RateLimitRule::per_ip(
                "login",
                "http.request.uri.path eq \"/api/login\"",
                20,
                Period::OneMinute,
            )),
        );
        env
    };
    apply(build(&fake), &dir).await;
    fake.delay_writes(Duration::ZERO);
    let refs: Vec<String> = fake
        .rules(&z, "http_ratelimit")
        .iter()
        .map(|r| r["ref"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert_clean(build(&fake), &dir).await;
    no_violations(&fake);
}

#[tokio::test]
async fn what_the_zone_s_plan_does_not_offer_is_a_validation_error_before_any_call() {
    let fake = fake("free").await;
    let dir = tempfile::tempdir().unwrap();

    // Free: the guide's 5-minute window, the managed WAF, Super Bot Fight
    // Mode and a chosen CA are all out of reach.
    let (mut env, zone) = env(&fake, ZonePlan::free());
    env.add("limits", api_limit(&zone));
    env.add(
        "waf",
        ManagedWaf {
            zone: zone.clone(),
            cloudflare_managed: Some(WafAction::RulesetDefault),
            owasp: Some(OwaspCore::default()),
            free_managed: false,
        },
    );
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    for expected in [
        "cloudflare.rate_limits.limits: rules.api.period: the Free plan counts over at most 10 s, not 300 s",
        "cloudflare.rate_limits.limits: rules.api.mitigation_timeout: a mitigation timeout of 300 s is not offered on the Free plan",
        "cloudflare.managed_waf.waf: cloudflare_managed: the Free plan runs only the Cloudflare Free Managed Ruleset",
        "cloudflare.managed_waf.waf: owasp: the Free plan runs only",
    ] {
        assert!(err.contains(expected), "{expected} in {err}");
    }

    // Pro: one minute at most, and only by IP.
    let (mut env, zone) = env_plan(&fake, ZonePlan::pro());
    let mut nat = RateLimitRule::per_ip("nat", "true", 100, Period::OneMinute);
    nat.characteristics = vec![Characteristic::IpWithNat];
    env.add("limits", api_limit(&zone).rule(nat));
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    for expected in [
        "rules.api.period: the Pro plan counts over at most 60 s, not 300 s (hint: the same rate over 60 s is about 400 requests",
        "rules.nat.characteristics: counting by cf.unique_visitor_id is not offered on the Pro plan",
    ] {
        assert!(err.contains(expected), "{expected} in {err}");
    }

    // Business: 5 minutes is fine, counting by a header needs Advanced
    // Rate Limiting.
    let (mut env, zone) = env_plan(&fake, ZonePlan::business());
    let mut by_key = RateLimitRule::per_ip("key", "true", 100, Period::OneMinute);
    by_key.characteristics = vec![Characteristic::Header("X-Api-Key".into())];
    env.add("limits", api_limit(&zone).rule(by_key));
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    assert!(
        err.contains("rules.key.characteristics: counting by http.request.headers[\"x-api-key\"] is not offered on the Business plan"),
        "{err}"
    );
    assert!(!err.contains("rules.api"), "{err}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

/// An environment whose zone is declared on `plan` (whatever the fake's).
fn env_plan(fake: &FakeCloudflare, plan: ZonePlan) -> (Environment, ZoneRef) {
    env(fake, plan)
}
