//! The rest of the edge through the engine against the fake: bot
//! protection, the edge certificate, the zone's declared plan, and what a
//! refresh of the whole Cloudflare side costs.

mod support;

use std::net::Ipv4Addr;

use madplan_cloudflare::fake::FakeCloudflare;
use madplan_cloudflare::resources::{
    BotProtection, CacheRule, CacheRules, DnsRecord, EdgeCertificate, FirewallAction, FirewallRule,
    FirewallRules, ManagedWaf, Period, RateLimitRule, RateLimits, Zone, ZonePlan, ZoneRef,
    ZoneSettings,
};
use madplan_core::Environment;
use madplan_core::plan::Action;
use serde_json::json;
use support::*;

fn bots(fake: &FakeCloudflare) -> Environment {
    let (mut env, zone) = env(fake, ZonePlan::pro());
    env.add("bots", BotProtection::for_plan(&zone));
    env
}

#[tokio::test]
async fn bot_protection_for_the_plan_drift_repaired_and_given_back() {
    let fake = fake("pro").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    let before = fake.bots(&z);
    apply(bots(&fake), &dir).await;
    let now = fake.bots(&z);
    assert_eq!(now["sbfm_definitely_automated"], "block");
    assert_eq!(now["sbfm_verified_bots"], "allow");
    assert_eq!(now["enable_js"], true);
    assert!(
        now.get("sbfm_likely_automated").is_none(),
        "a Business feature"
    );
    assert_clean(bots(&fake), &dir).await;

    fake.edit_bots(&z, |b| b["sbfm_definitely_automated"] = json!("allow"));
    let plan = engine(bots(&fake), &dir).plan().await.unwrap();
    let c = update(&plan, "cloudflare.bot_protection.bots");
    assert_eq!(c.fields.len(), 1, "{}", plan.render());
    assert_eq!(c.fields[0].field, "definitely_automated");
    assert_eq!(
        (c.fields[0].before.clone(), c.fields[0].after.clone()),
        (Some(json!("allow")), Some(json!("block")))
    );
    apply(bots(&fake), &dir).await;
    assert_eq!(fake.bots(&z)["sbfm_definitely_automated"], "block");
    assert_clean(bots(&fake), &dir).await;

    destroy(bots(&fake), &dir).await;
    assert_eq!(fake.bots(&z), before, "what madplan set is given back");
    no_violations(&fake);
}

fn certificate(fake: &FakeCloudflare) -> Environment {
    let (mut env, zone) = env(
        fake,
        ZonePlan::business().with_advanced_certificate_manager(),
    );
    env.add("edge", EdgeCertificate::lets_encrypt(&zone, ZONE));
    env
}

#[tokio::test]
async fn a_lets_encrypt_edge_certificate_is_ordered_and_waited_for() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    apply(certificate(&fake), &dir).await;
    let packs = fake.certificate_packs(&z);
    assert_eq!(packs.len(), 1);
    assert_eq!(packs[0]["certificate_authority"], "lets_encrypt");
    assert_eq!(packs[0]["status"], "active", "apply waited for it");
    assert_eq!(packs[0]["hosts"], json!(["madplan.com", "*.madplan.com"]));
    let polls = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains("/ssl/certificate_packs/"))
        .count();
    assert!(polls >= 3, "{polls} polls");
    assert_clean(certificate(&fake), &dir).await;

    // Deleted by hand: ordered again.
    let id = packs[0]["id"].as_str().unwrap().to_string();
    madplan_cloudflare::Client::delete_certificate_pack(&client(&fake), &z, &id)
        .await
        .unwrap();
    let plan = engine(certificate(&fake), &dir).plan().await.unwrap();
    assert_eq!(
        plan.change("cloudflare.edge_certificate.edge")
            .unwrap()
            .action,
        Action::Create,
        "{}",
        plan.render()
    );
    apply(certificate(&fake), &dir).await;
    assert_eq!(fake.certificate_packs(&z).len(), 1);

    destroy(certificate(&fake), &dir).await;
    assert!(fake.certificate_packs(&z).is_empty());
    no_violations(&fake);
}

#[tokio::test]
async fn choosing_the_certificate_authority_needs_advanced_certificate_manager() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut env, zone) = env(&fake, ZonePlan::business());
    env.add("edge", EdgeCertificate::lets_encrypt(&zone, ZONE));
    let mut wrong = EdgeCertificate::lets_encrypt(&zone, ZONE);
    wrong.hosts.push("api.madplan.com".into());
    env.add("wrong", wrong);
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    assert!(
        err.contains(
            "cloudflare.edge_certificate.edge: authority: choosing the certificate authority \
             needs Advanced Certificate Manager"
        ),
        "{err}"
    );
    assert!(
        err.contains("Universal SSL certificates' authority is Cloudflare's choice"),
        "{err}"
    );
    assert!(
        err.contains("cloudflare.edge_certificate.wrong: hosts: a Let's Encrypt order covers exactly the zone and its wildcard"),
        "{err}"
    );
    // Bot protection the plan does not have, on a Free zone.
    let (mut env, zone) = support::env(&fake, ZonePlan::free());
    let mut sbfm = BotProtection::for_plan(&ZoneRef::id("x", ZonePlan::pro()));
    sbfm.zone = zone.clone();
    env.add("bots", sbfm);
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    assert!(
        err.contains("cloudflare.bot_protection.bots: definitely_automated: Super Bot Fight Mode is not offered on the Free plan"),
        "{err}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_zone_on_another_plan_than_declared_fails_the_read() {
    let fake = fake("pro").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut env, zone) = env(&fake, ZonePlan::business());
    env.add(
        "limits",
        RateLimits::new(&zone).rule(RateLimitRule::per_ip(
            "api",
            "true",
            2000,
            Period::FiveMinutes,
        )),
    );
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    assert!(
        err.contains(
            "the zone madplan.com is on the Pro plan, but the environment declares Business"
        ),
        "{err}"
    );
    assert!(
        !fake.requests().iter().any(|r| !r.starts_with("GET")),
        "nothing was written"
    );
}

/// The whole Cloudflare side of the production stack, with `n` DNS
/// records, custom rules and cache rules.
fn stack(fake: &FakeCloudflare, n: usize) -> Environment {
    let cf = provider(fake).only_zones([ZONE]);
    let mut env = Environment::new("production").with_provider(cf);
    let plan = ZonePlan::business().with_advanced_certificate_manager();
    let zone = ZoneRef::read(&mut env, "madplan", Zone::named(ZONE, plan));
    env.add(
        "api",
        DnsRecord::cname(
            &zone,
            "api.madplan.com",
            "madplan-api-1.us-east-1.elb.amazonaws.com",
        )
        .proxied(true),
    );
    for i in 1..n {
        env.add(
            &format!("host-{i}"),
            DnsRecord::a(
                &zone,
                format!("host{i}.madplan.com"),
                Ipv4Addr::new(192, 0, 2, i as u8),
            ),
        );
    }
    env.add("tls", ZoneSettings::production(&zone));
    let mut firewall = FirewallRules::new(&zone);
    let mut cache = CacheRules::new(&zone);
    for i in 0..n {
        firewall = firewall.rule(FirewallRule::new(
            &format!("r{i}"),
            FirewallAction::ManagedChallenge,
            &format!("http.request.uri.path eq \"/r{i}\""),
        ));
        cache = cache.rule(CacheRule::static_assets(
            &format!("c{i}"),
            &["js"],
            3600 + i as u32,
        ));
    }
    env.add("firewall", firewall);
    env.add("cache", cache);
    env.add("waf", ManagedWaf::for_plan(&zone));
    env.add(
        "limits",
        RateLimits::new(&zone).rule(RateLimitRule::per_ip(
            "api",
            "starts_with(http.request.uri.path, \"/api\")",
            2000,
            Period::FiveMinutes,
        )),
    );
    env.add("bots", BotProtection::for_plan(&zone));
    env.add("edge", EdgeCertificate::lets_encrypt(&zone, ZONE));
    env
}

/// The requests of a no-op plan of the stack with `n` of each.
async fn noop_plan_requests(n: usize) -> Vec<String> {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    apply(stack(&fake, n), &dir).await;
    let start = fake.requests().len();
    assert_clean(stack(&fake, n), &dir).await;
    no_violations(&fake);
    requests_since(&fake, start)
}

#[tokio::test]
async fn a_no_op_plan_of_the_whole_edge_makes_a_constant_number_of_requests() {
    let three = noop_plan_requests(3).await;
    let ten = noop_plan_requests(10).await;
    let shape = |rs: &[String]| -> Vec<String> {
        let mut v: Vec<String> = rs
            .iter()
            .map(|r| {
                r.split('/')
                    .map(|s| if s.len() == 32 { "{id}" } else { s })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        shape(&three),
        shape(&ten),
        "the same calls for 3 as for 10 of each"
    );
    assert_eq!(
        shape(&ten),
        [
            "GET /zones",
            "GET /zones",
            "GET /zones/{id}/bot_management",
            "GET /zones/{id}/dns_records",
            "GET /zones/{id}/rulesets/phases/http_ratelimit/entrypoint",
            "GET /zones/{id}/rulesets/phases/http_request_cache_settings/entrypoint",
            "GET /zones/{id}/rulesets/phases/http_request_firewall_custom/entrypoint",
            "GET /zones/{id}/rulesets/phases/http_request_firewall_managed/entrypoint",
            "GET /zones/{id}/settings",
            "GET /zones/{id}/ssl/certificate_packs",
        ],
        "the zone list, the zone read, one DNS list, four phases, settings, bots, certificates"
    );
    eprintln!(
        "a no-op plan of the Cloudflare side: {} requests for 3 and for 10 of each",
        ten.len()
    );
}

#[tokio::test]
async fn a_zone_found_by_its_id_as_the_deployment_guide_gives_it() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    let build = |fake: &FakeCloudflare| {
        let mut env = Environment::new("production").with_provider(provider(fake));
        let zone = ZoneRef::read(&mut env, "madplan", Zone::with_id(&z, ZonePlan::business()));
        env.add(
            "www",
            DnsRecord::cname(&zone, "www.madplan.com", "cname.vercel-dns.com"),
        );
        env
    };
    let plan = apply(build(&fake), &dir).await;
    assert_eq!(
        plan.change("cloudflare.zone.madplan")
            .unwrap()
            .prior_outputs
            .as_ref()
            .unwrap()["name"],
        ZONE
    );
    assert!(fake.requests().contains(&format!("GET /zones/{z}")));
    assert_eq!(fake.records(&z).len(), 1);
    assert_clean(build(&fake), &dir).await;
    no_violations(&fake);
}
