//! Zone settings through the engine against the fake: the deployment
//! guide's TLS and HSTS, drift repaired, and a destroy that gives back what
//! was there before madplan (where nobody changed it since).

mod support;

use madplan_cloudflare::resources::{ZonePlan, ZoneSettings};
use madplan_core::Environment;
use serde_json::{Value, json};
use support::*;

fn tls(fake: &madplan_cloudflare::fake::FakeCloudflare) -> Environment {
    let (mut env, zone) = env(fake, ZonePlan::business());
    env.add("tls", ZoneSettings::production(&zone));
    env
}

fn settings(fake: &madplan_cloudflare::fake::FakeCloudflare, z: &str) -> Vec<(String, Value)> {
    [
        "ssl",
        "min_tls_version",
        "always_use_https",
        "tls_1_3",
        "security_header",
        "automatic_https_rewrites",
        "brotli",
    ]
    .into_iter()
    .map(|id| (id.to_string(), fake.setting(z, id)))
    .collect()
}

const HSTS_OFF: &str = r#"{"strict_transport_security": {"enabled": false, "max_age": 0, "include_subdomains": false, "preload": false, "nosniff": false}}"#;

#[tokio::test]
async fn tls_and_hsts_apply_drift_is_repaired_and_destroy_gives_back_what_was_there() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    let before = settings(&fake, &z);

    let start = fake.requests().len();
    apply(tls(&fake), &dir).await;
    let writes: Vec<String> = requests_since(&fake, start)
        .into_iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect();
    assert_eq!(writes.len(), 5, "TLS 1.3 was on already: {writes:?}");
    assert_eq!(fake.setting(&z, "ssl"), "strict");
    assert_eq!(fake.setting(&z, "min_tls_version"), "1.2");
    assert_eq!(fake.setting(&z, "always_use_https"), "on");
    assert_eq!(fake.setting(&z, "tls_1_3"), "on");
    assert_eq!(fake.setting(&z, "automatic_https_rewrites"), "on");
    assert_eq!(
        fake.setting(&z, "security_header"),
        json!({"strict_transport_security": {"enabled": true, "max_age": 31536000,
               "include_subdomains": true, "preload": false, "nosniff": true}})
    );
    // What was there before is in state, for the destroy.
    let outputs = &state(&dir)["resources"]["cloudflare.zone_settings.tls"]["outputs"];
    assert_eq!(outputs["prior"]["ssl"], "flexible");
    assert_eq!(outputs["prior"]["min_tls_version"], "1.0");
    assert_clean(tls(&fake), &dir).await;

    // Drift by hand: HSTS turned off, minimum TLS lowered to 1.0.
    fake.set_setting(
        &z,
        "security_header",
        serde_json::from_str(HSTS_OFF).unwrap(),
    );
    fake.set_setting(&z, "min_tls_version", json!("1.0"));
    let plan = engine(tls(&fake), &dir).plan().await.unwrap();
    let c = update(&plan, "cloudflare.zone_settings.tls");
    let fields: Vec<(&str, Option<Value>, Option<Value>)> = c
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.before.clone(), f.after.clone()))
        .collect();
    assert_eq!(
        fields,
        [
            (
                "hsts",
                Some(
                    json!({"enabled": false, "max_age": 0, "include_subdomains": false, "preload": false, "nosniff": false})
                ),
                Some(
                    json!({"enabled": true, "max_age": 31536000, "include_subdomains": true, "preload": false, "nosniff": true})
                )
            ),
            ("min_tls_version", Some(json!("1.0")), Some(json!("1.2"))),
        ],
        "{}",
        plan.render()
    );
    let start = fake.requests().len();
    apply(tls(&fake), &dir).await;
    let mut writes: Vec<String> = requests_since(&fake, start)
        .into_iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect();
    // (Sent at once: their order of arrival is not fixed.)
    writes.sort();
    assert_eq!(
        writes,
        [
            format!("PATCH /zones/{z}/settings/min_tls_version"),
            format!("PATCH /zones/{z}/settings/security_header")
        ],
        "only what drifted is written"
    );
    assert_eq!(fake.setting(&z, "min_tls_version"), "1.2");
    assert_eq!(
        fake.setting(&z, "security_header")["strict_transport_security"]["enabled"],
        true
    );
    assert_clean(tls(&fake), &dir).await;

    // Someone chooses Full (not strict) by hand, then the environment goes.
    fake.set_setting(&z, "ssl", json!("full"));
    destroy(tls(&fake), &dir).await;
    let after = settings(&fake, &z);
    let expected: Vec<(String, Value)> = before
        .iter()
        .map(|(id, v)| {
            let v = if id == "ssl" {
                json!("full")
            } else {
                v.clone()
            };
            (id.clone(), v)
        })
        .collect();
    assert_eq!(
        after, expected,
        "everything madplan set is given back, but the SSL mode someone chose since"
    );
    no_violations(&fake);
}

/// The settings are sent at once, but TLS 1.3 is on before the oldest
/// version accepted rises to it, and the oldest version is lowered before
/// TLS 1.3 goes off when the destroy gives the old values back: the zone
/// never asks for TLS 1.3 without it.
#[tokio::test]
async fn tls_1_3_is_on_before_the_minimum_rises_to_it_and_off_after_it_falls() {
    use madplan_cloudflare::client::settings::{Tls13, TlsVersion};
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let z = fake.zone_id(ZONE);
    fake.set_setting(&z, "tls_1_3", json!("off"));
    let strict = || {
        let (mut env, zone) = env(&fake, ZonePlan::business());
        env.add(
            "tls",
            ZoneSettings {
                tls_1_3: Some(Tls13::On),
                ..ZoneSettings::on(&zone).min_tls_version(TlsVersion::V1_3)
            },
        );
        env
    };
    let tls_writes = |start: usize| -> Vec<String> {
        requests_since(&fake, start)
            .into_iter()
            .filter(|r| r.contains("/settings/tls_1_3") || r.contains("/settings/min_tls_version"))
            .filter(|r| r.starts_with("PATCH"))
            .collect()
    };
    let start = fake.requests().len();
    apply(strict(), &dir).await;
    assert_eq!(
        tls_writes(start),
        [
            format!("PATCH /zones/{z}/settings/tls_1_3"),
            format!("PATCH /zones/{z}/settings/min_tls_version"),
        ]
    );
    let start = fake.requests().len();
    destroy(strict(), &dir).await;
    assert_eq!(
        tls_writes(start),
        [
            format!("PATCH /zones/{z}/settings/min_tls_version"),
            format!("PATCH /zones/{z}/settings/tls_1_3"),
        ]
    );
    assert_eq!(fake.setting(&z, "tls_1_3"), "off");
    assert_eq!(fake.setting(&z, "min_tls_version"), "1.0");
    no_violations(&fake);
}

#[tokio::test]
async fn settings_that_contradict_each_other_are_validation_errors() {
    let fake = fake("business").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut env, zone) = env(&fake, ZonePlan::business());
    let mut s = ZoneSettings::production(&zone)
        .ssl(madplan_cloudflare::client::settings::SslMode::Off)
        .min_tls_version(madplan_cloudflare::client::settings::TlsVersion::V1_3);
    s.tls_1_3 = Some(madplan_cloudflare::client::settings::Tls13::Off);
    if let Some(h) = &mut s.hsts {
        h.preload = true;
        h.max_age = 600;
    }
    env.add("tls", s);
    env.add("again", ZoneSettings::production(&zone));
    let err = engine(env, &dir).plan().await.unwrap_err().to_string();
    for expected in [
        "cloudflare.zone_settings.tls: hsts: HSTS preload needs",
        "cloudflare.zone_settings.tls: hsts: HSTS tells browsers to use only HTTPS, but SSL is off",
        "cloudflare.zone_settings.tls: always_use_https: always using HTTPS needs SSL on",
        "cloudflare.zone_settings.tls: tls_1_3: the minimum TLS version is 1.3 but TLS 1.3 is off",
        "cloudflare.zone_settings.again: zone: cloudflare.zone_settings.tls already manages this zone's settings",
    ] {
        assert!(err.contains(expected), "{expected} in {err}");
    }
    assert!(fake.requests().is_empty());
}
