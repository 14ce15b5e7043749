//! DNS records through the engine against the fake: apply, a clean plan,
//! drift reported field by field and repaired, destroy, and records of
//! others never touched.

mod support;

use std::net::Ipv4Addr;

use madplan_cloudflare::client::dns::{SrvData, Ttl};
use madplan_cloudflare::resources::{DnsRecord, ZonePlan};
use madplan_core::plan::Action;
use madplan_core::{Environment, Error};
use serde_json::{Value, json};
use support::*;

fn edge(fake: &madplan_cloudflare::fake::FakeCloudflare, elb: &Elb) -> Environment {
    let (mut env, zone) = env(fake, ZonePlan::business());
    env.add_provider(elb.clone());
    let alb = env.add(
        "api",
        Alb {
            name: "madplan-api".into(),
        },
    );
    env.add(
        "api",
        DnsRecord::cname(&zone, "api.madplan.com", Alb::dns_name(&alb))
            .proxied(true)
            .note("the API's load balancer"),
    );
    env.add(
        "www",
        DnsRecord::cname(&zone, "www.madplan.com", "cname.vercel-dns.com"),
    );
    env.add(
        "apex",
        DnsRecord::a(&zone, "madplan.com", Ipv4Addr::new(76, 76, 21, 21)),
    );
    env.add(
        "caa-letsencrypt",
        DnsRecord::caa_issue(&zone, "madplan.com", "letsencrypt.org"),
    );
    env.add(
        "caa-amazon",
        DnsRecord::caa_issue(&zone, "madplan.com", "amazon.com"),
    );
    // As ACM gives them: with the final dots.
    env.add(
        "acm-api",
        DnsRecord::certificate_validation(
            &zone,
            "_3f2a9c.api.madplan.com.",
            "_9c1b7e.xkcdqzvmtp.acm-validations.aws.",
        ),
    );
    env.add(
        "spf",
        DnsRecord::txt(&zone, "madplan.com", "v=spf1 -all").ttl(Ttl::seconds(3600).unwrap()),
    );
    env.add(
        "mx",
        DnsRecord::mx(&zone, "madplan.com", "mx.madplan.com", 10),
    );
    env.add(
        "sip",
        DnsRecord::srv(
            &zone,
            "_sip._tcp.madplan.com",
            SrvData {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.madplan.com".into(),
            },
        ),
    );
    env
}

/// Records of others: a CNAME with a field this version does not know, a
/// record whose comment mentions madplan without being its marker, and an
/// NS delegation.
fn foreign_records(fake: &madplan_cloudflare::fake::FakeCloudflare, zone: &str) -> Vec<Value> {
    fake.add_record(
        zone,
        json!({"type": "CNAME", "name": "blog.madplan.com", "content": "madplan.ghost.io",
               "proxied": true, "proxiable": true, "comment": "web team",
               "settings": {"flatten_cname": false}}),
    );
    fake.add_record(
        zone,
        json!({"type": "TXT", "name": "_dmarc.madplan.com", "content": "v=DMARC1; p=reject",
               "comment": "not madplan: owned by the mail team"}),
    );
    fake.add_record(
        zone,
        json!({"type": "NS", "name": "labs.madplan.com", "content": "ns1.elsewhere.net"}),
    );
    fake.records(zone)
}

fn record<'a>(records: &'a [Value], name: &str, kind: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["name"] == name && r["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} {name} in {records:#?}"))
}

#[tokio::test]
async fn records_apply_plan_clean_drift_is_repaired_and_destroy_leaves_others_exactly() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let elb = Elb::default();
    let z = fake.zone_id(ZONE);
    let theirs = foreign_records(&fake, &z);

    let first = apply(edge(&fake, &elb), &dir).await;
    assert_eq!(first.summary().create, 10, "{}", first.render());
    let records = fake.records(&z);
    assert_eq!(records.len(), 12);
    let api = record(&records, "api.madplan.com", "CNAME");
    assert_eq!(
        api["content"],
        "madplan-api-1234567890.us-east-1.elb.amazonaws.com"
    );
    assert_eq!(api["proxied"], true);
    let comment = api["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("the API's load balancer madplan:production/api/"),
        "{comment}"
    );
    let acm = record(&records, "_3f2a9c.api.madplan.com", "CNAME");
    assert_eq!(acm["content"], "_9c1b7e.xkcdqzvmtp.acm-validations.aws");
    assert_eq!(acm["proxied"], false);
    let caa = record(&records, "madplan.com", "CAA");
    assert_eq!(caa["data"]["tag"], "issue");
    assert_eq!(
        record(&records, "_sip._tcp.madplan.com", "SRV")["data"]["port"],
        5060
    );
    assert_clean(edge(&fake, &elb), &dir).await;

    // Drift made behind madplan's back: the API's record now points
    // elsewhere and is no longer proxied; www was deleted.
    let api_id = api["id"].as_str().unwrap().to_string();
    fake.edit_record(&z, &api_id, |r| {
        r["content"] = json!("evil.example.net");
        r["proxied"] = json!(false);
    });
    let www_id = record(&records, "www.madplan.com", "CNAME")["id"]
        .as_str()
        .unwrap()
        .to_string();
    madplan_cloudflare::Client::delete_dns_record(&client(&fake), &z, &www_id)
        .await
        .unwrap();
    let plan = engine(edge(&fake, &elb), &dir).plan().await.unwrap();
    let c = update(&plan, "cloudflare.dns_record.api");
    let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["data", "proxied"], "{}", plan.render());
    assert_eq!(
        c.fields[0].before,
        Some(json!({"type": "CNAME", "value": "evil.example.net"}))
    );
    assert_eq!(
        c.fields[0].after,
        Some(
            json!({"type": "CNAME", "value": "madplan-api-1234567890.us-east-1.elb.amazonaws.com"})
        )
    );
    assert_eq!(
        (c.fields[1].before.clone(), c.fields[1].after.clone()),
        (Some(json!(false)), Some(json!(true)))
    );
    let www = plan.change("cloudflare.dns_record.www").unwrap();
    assert_eq!(www.action, Action::Create);
    assert_eq!(
        plan.summary().update + plan.summary().create,
        2,
        "{}",
        plan.render()
    );
    apply(edge(&fake, &elb), &dir).await;
    let records = fake.records(&z);
    let api = record(&records, "api.madplan.com", "CNAME");
    assert_eq!(api["id"], json!(api_id), "repaired in place");
    assert_eq!(
        api["content"],
        "madplan-api-1234567890.us-east-1.elb.amazonaws.com"
    );
    assert_eq!(api["proxied"], true);
    assert_clean(edge(&fake, &elb), &dir).await;

    // Others' records went through every apply untouched.
    for r in &theirs {
        let now = fake.records(&z);
        let same = now
            .iter()
            .find(|x| x["id"] == r["id"])
            .expect("still there");
        assert_eq!(same, r, "every field, unknown ones included");
    }

    destroy(edge(&fake, &elb), &dir).await;
    assert_eq!(
        fake.records(&z),
        theirs,
        "only others' records are left, exactly"
    );
    assert!(elb.made.lock().unwrap().is_empty());
    no_violations(&fake);
}

fn pair(fake: &madplan_cloudflare::fake::FakeCloudflare, environment: &str) -> Environment {
    let mut env = Environment::new(environment).with_provider(provider(fake));
    let zone = madplan_cloudflare::ZoneRef::read(
        &mut env,
        "madplan",
        madplan_cloudflare::Zone::named(ZONE, ZonePlan::business()),
    );
    env.add(
        "www",
        DnsRecord::cname(
            &zone,
            format!("www-{environment}.madplan.com"),
            "cname.vercel-dns.com",
        ),
    );
    env.add(
        "txt",
        DnsRecord::txt(&zone, format!("{environment}.madplan.com"), "hello"),
    );
    env
}

#[tokio::test]
async fn records_are_found_again_by_their_marker() {
    let fake = fake("business").await;
    let z = fake.zone_id(ZONE);
    let (dir, staging) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    apply(pair(&fake, "production"), &dir).await;
    apply(pair(&fake, "staging"), &staging).await;
    let staging_records: Vec<Value> = fake
        .records(&z)
        .into_iter()
        .filter(|r| r["name"].as_str().unwrap().contains("staging"))
        .collect();
    assert_eq!(staging_records.len(), 2);

    // A create whose state write was lost (the process died right after
    // Cloudflare answered): the record carries this state's marker, so the
    // next plan adopts it instead of making a second one.
    let path = dir.path().join("state.json");
    let mut s = state(&dir);
    s["resources"]
        .as_object_mut()
        .unwrap()
        .remove("cloudflare.dns_record.txt");
    std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    let plan = engine(pair(&fake, "production"), &dir)
        .plan()
        .await
        .unwrap();
    let txt = plan.change("cloudflare.dns_record.txt").unwrap();
    assert!(txt.adopt && txt.action == Action::NoOp, "{}", plan.render());
    apply(pair(&fake, "production"), &dir).await;
    assert_clean(pair(&fake, "production"), &dir).await;

    // A lost state: the records are another state's until recovered.
    std::fs::remove_file(&path).unwrap();
    let e = engine(pair(&fake, "production"), &dir);
    let plan = e.plan().await.unwrap();
    assert_eq!(plan.foreign.len(), 2, "{}", plan.render());
    let recovery = e.recover_plan(None).await.unwrap();
    assert_eq!(recovery.adopt.len(), 2);
    assert_eq!(e.recover(&recovery).await.unwrap(), 2);
    assert_clean(pair(&fake, "production"), &dir).await;

    // Another environment's records in the same zone stay as they are.
    destroy(pair(&fake, "production"), &dir).await;
    assert_eq!(fake.records(&z), staging_records);
    no_violations(&fake);
}

#[tokio::test]
async fn records_cloudflare_would_refuse_are_validation_errors_before_any_call() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut env, zone) = env(&fake, ZonePlan::business());
    env.add(
        "acm",
        DnsRecord::certificate_validation(&zone, "_x.api.madplan.com", "_y.acm-validations.aws")
            .proxied(true),
    );
    env.add(
        "txt",
        DnsRecord::txt(&zone, "t.madplan.com", "x").proxied(true),
    );
    env.add("short", DnsRecord::txt(&zone, "madplan", "x"));
    env.add(
        "apex-a",
        DnsRecord::a(&zone, "app.madplan.com", Ipv4Addr::new(192, 0, 2, 1)),
    );
    env.add(
        "apex-cname",
        DnsRecord::cname(&zone, "app.madplan.com", "elsewhere.example.net"),
    );
    env.add(
        "chatty",
        DnsRecord::txt(&zone, "c.madplan.com", "x").note(&"a long story ".repeat(6)),
    );
    let err = engine(env, &dir).plan().await.unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    for expected in [
        "cloudflare.dns_record.acm: proxied: a certificate validation record is never proxied",
        "cloudflare.dns_record.txt: proxied: TXT records cannot be proxied",
        "cloudflare.dns_record.short: name: \"madplan\" is not a full DNS name",
        "cloudflare.dns_record.apex-cname: name: app.madplan.com is also cloudflare.dns_record.apex-a's name",
        "cloudflare.dns_record.chatty: note: the comment",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert_eq!(problems.0.len(), 5, "{text}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_made_twice() {
    let fake = fake("business").await;
    let z = fake.zone_id(ZONE);
    let dir = tempfile::tempdir().unwrap();
    let one = |fake: &madplan_cloudflare::fake::FakeCloudflare| {
        let (mut env, zone) = env(fake, ZonePlan::business());
        env.add(
            "www",
            DnsRecord::cname(&zone, "www.madplan.com", "cname.vercel-dns.com"),
        );
        env
    };
    // A first apply (the state gets its lineage) with nothing else yet.
    let (env0, _) = env(&fake, ZonePlan::business());
    apply(env0, &dir).await;
    // Cloudflare makes the record, the answer is lost (502), and a POST is
    // not sent again: the apply fails.
    let e = engine(one(&fake), &dir);
    let plan = e.plan().await.unwrap();
    fake.lose_next_answers(1);
    let err = e.apply(&plan).await.unwrap_err().to_string();
    assert!(err.contains("502"), "{err}");
    assert_eq!(fake.records(&z).len(), 1, "it was made");
    // The next plan finds it by its marker and adopts it.
    let plan = engine(one(&fake), &dir).plan().await.unwrap();
    let www = plan.change("cloudflare.dns_record.www").unwrap();
    assert!(www.adopt && www.action == Action::NoOp, "{}", plan.render());
    apply(one(&fake), &dir).await;
    assert_eq!(fake.records(&z).len(), 1, "not made twice");
    assert_clean(one(&fake), &dir).await;
    no_violations(&fake);
}
