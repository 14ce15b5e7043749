//! The Datadog client against the fake, every request checked against the
//! official OpenAPI document. The monitors, SLOs and synthetic tests are
//! the deployment guide's.

use madplan_core::rest::HttpError;
use std::time::{Duration, Instant};

use madplan_datadog::client::dashboards::{
    Aggregator, Dashboard, Definition, DisplayType, LayoutType, SeriesRequest, ValueRequest,
    WidgetDefinition,
};
use madplan_datadog::client::monitors::{
    Aggregation, Comparator, Handle, Message, MetricQuery, Monitor, Thresholds,
};
use madplan_datadog::client::slos::{Slo, SloKind, SloQuery, SloThreshold, Timeframe};
use madplan_datadog::client::synthetics::{
    ApiTest, Check, HttpAssertion, HttpMethod, SslAssertion,
};
use madplan_datadog::fake::FakeDatadog;
use madplan_datadog::{Client, ClientConfig, Error, RetryPolicy, Site};
use secrecy::SecretString;

const API_KEY: &str = "dd-api-key-0123456789abcdef0123456789ab";
const APP_KEY: &str = "dd-app-key-0123456789abcdef0123456789abcdef0123";

async fn fake() -> FakeDatadog {
    FakeDatadog::start(API_KEY, APP_KEY).await
}

fn client_with(fake: &FakeDatadog, api: &str, app: &str) -> Client {
    Client::new(
        ClientConfig::new(SecretString::from(api), SecretString::from(app), Site::Us1)
            .with_base_url(fake.base_url())
            .with_retry(RetryPolicy {
                max_retries: 3,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                max_retry_after: Duration::from_secs(5),
            }),
    )
    .unwrap()
}

fn client(fake: &FakeDatadog) -> Client {
    client_with(fake, API_KEY, APP_KEY)
}

fn no_violations(fake: &FakeDatadog) {
    let v = fake.violations();
    assert!(v.is_empty(), "requests broke the spec: {v:#?}");
}

fn cpu_monitor() -> Monitor {
    Monitor::query_alert(
        "[production] CPU above 80% on the API fleet",
        &MetricQuery {
            aggregation: Aggregation::Avg,
            window_minutes: 5,
            expression: "avg:aws.ec2.cpuutilization{env:production,service:madplan-api}".into(),
            comparator: Comparator::Above,
        },
        Thresholds {
            critical: 80.0,
            warning: Some(70.0),
            critical_recovery: Some(75.0),
            warning_recovery: None,
        },
        &Message::new("CPU is high on the API fleet.")
            .notify(Handle::Slack("madplan-alerts".into())),
    )
    .unwrap()
    .tags(["team:madplan", "env:production"])
    .priority(3)
    .unwrap()
}

#[tokio::test]
async fn validate_checks_the_api_key() {
    let fake = fake().await;
    assert!(client(&fake).validate().await.unwrap());
    // The application key is not needed to validate.
    assert!(
        client_with(&fake, API_KEY, "another-app-key")
            .validate()
            .await
            .unwrap()
    );
    let err = client_with(&fake, "wrong-api-key", APP_KEY)
        .validate()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("Forbidden"), "{err}");
    no_violations(&fake);
}

#[tokio::test]
async fn monitor_life_cycle_and_search_by_tag() {
    let fake = fake().await;
    let dd = client(&fake);
    let m = cpu_monitor();
    assert_eq!(
        m.query,
        "avg(last_5m):avg:aws.ec2.cpuutilization{env:production,service:madplan-api} > 80"
    );
    assert!(
        m.message.ends_with("@slack-madplan-alerts"),
        "{}",
        m.message
    );
    let created = dd.create_monitor(&m).await.unwrap();
    let id = created.id.unwrap();
    let read = dd.monitor(id).await.unwrap();
    assert_eq!(read.options.thresholds, m.options.thresholds);
    assert_eq!(read.priority, Some(3));

    let mut changed = read.clone();
    changed.options.thresholds.warning = Some(65.0);
    changed.options.renotify_interval = Some(60);
    let updated = dd.update_monitor(id, &changed).await.unwrap();
    assert_eq!(updated.options.thresholds.warning, Some(65.0));

    // 120 more, so that search needs two pages of 100.
    for i in 0..120 {
        let mut other = cpu_monitor();
        other.name = format!("[production] monitor {i}");
        if i % 2 == 1 {
            other.tags = vec!["team:other".into()];
        }
        dd.create_monitor(&other).await.unwrap();
    }
    let ours = dd.monitors_tagged("team:madplan").await.unwrap();
    assert_eq!(ours.len(), 61);
    let searches = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("/monitor/search"))
        .count();
    assert_eq!(searches, 1, "61 results fit one page");
    let theirs = dd.monitors_tagged("team:other").await.unwrap();
    assert_eq!(theirs.len(), 60);

    dd.delete_monitor(id).await.unwrap();
    let gone = dd.monitor(id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert!(gone.to_string().contains("Monitor not found"));
    no_violations(&fake);
}

#[tokio::test]
async fn search_pages_through_every_result() {
    let fake = fake().await;
    let dd = client(&fake);
    for i in 0..230 {
        let mut m = cpu_monitor();
        m.name = format!("m{i}");
        dd.create_monitor(&m).await.unwrap();
    }
    assert_eq!(
        dd.monitors_tagged("env:production").await.unwrap().len(),
        230
    );
    let searches = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("/monitor/search"))
        .count();
    assert_eq!(searches, 3);
    no_violations(&fake);
}

#[test]
fn inconsistent_monitors_cannot_be_built() {
    let q = MetricQuery {
        aggregation: Aggregation::Avg,
        window_minutes: 5,
        expression: "avg:system.cpu.user{*}".into(),
        comparator: Comparator::Above,
    };
    let msg = Message::new("x");
    let t = |critical, warning| Thresholds {
        critical,
        warning: Some(warning),
        ..Thresholds::default()
    };
    assert!(Monitor::query_alert("ok", &q, t(80.0, 70.0), &msg).is_ok());
    assert!(Monitor::query_alert("warning above critical", &q, t(80.0, 90.0), &msg).is_err());
    let below = MetricQuery {
        comparator: Comparator::Below,
        ..q.clone()
    };
    // Cache hit rate below 90%: a warning at 92 comes first.
    assert!(Monitor::query_alert("hit rate", &below, t(90.0, 92.0), &msg).is_ok());
    assert!(Monitor::query_alert("hit rate", &below, t(90.0, 85.0), &msg).is_err());
    let long = MetricQuery {
        window_minutes: 5000,
        ..q.clone()
    };
    assert!(Monitor::query_alert("window", &long, t(80.0, 70.0), &msg).is_err());
    let hourly = MetricQuery {
        window_minutes: 60,
        ..q.clone()
    };
    assert!(
        Monitor::query_alert("hourly", &hourly, t(80.0, 70.0), &msg)
            .unwrap()
            .query
            .starts_with("avg(last_1h):")
    );
    assert!(cpu_monitor().priority(7).is_err());
    let spaced = Message::new("x").notify(Handle::Slack("two words".into()));
    assert!(Monitor::query_alert("handle", &q, t(80.0, 70.0), &spaced).is_err());
}

#[tokio::test]
async fn dashboard_life_cycle() {
    let fake = fake().await;
    let dd = client(&fake);
    let d = Dashboard {
        id: None,
        title: "MadPlan production".into(),
        description: Some("API, database and edge".into()),
        layout_type: LayoutType::Ordered,
        widgets: vec![
            WidgetDefinition::Timeseries {
                title: Some("API p95 latency".into()),
                requests: vec![SeriesRequest {
                    q: "p95:trace.http.request{service:madplan-api}".into(),
                    display_type: Some(DisplayType::Line),
                }],
            }
            .into(),
            WidgetDefinition::QueryValue {
                title: Some("Error rate".into()),
                requests: vec![ValueRequest {
                    q: "sum:trace.http.request.errors{service:madplan-api}.as_count()".into(),
                    aggregator: Some(Aggregator::Sum),
                }],
                precision: Some(2),
            }
            .into(),
            WidgetDefinition::Note {
                content: "Targets: p95 < 200 ms, errors < 0.1%".into(),
            }
            .into(),
        ],
    };
    let created = dd.create_dashboard(&d).await.unwrap();
    let id = created.id.clone().unwrap();
    let read = dd.dashboard(&id).await.unwrap();
    assert_eq!(read.widgets.len(), 3);
    assert_eq!(read.widgets[2].definition, d.widgets[2].definition);
    assert!(matches!(read.widgets[0].definition, Definition::Known(_)));
    let mut changed = read.clone();
    changed.title = "MadPlan production (v2)".into();
    changed.widgets.pop();
    let updated = dd.update_dashboard(&id, &changed).await.unwrap();
    assert_eq!(updated.widgets.len(), 2);
    // A widget madplan does not model, added in the UI, is read and kept.
    let mut with_foreign = updated.clone();
    with_foreign
        .widgets
        .push(madplan_datadog::client::dashboards::Widget {
            id: None,
            definition: Definition::Other(serde_json::json!({
                "type": "free_text", "text": "added by hand", "color": "#4d4d4d"
            })),
        });
    dd.update_dashboard(&id, &with_foreign).await.unwrap();
    let back = dd.dashboard(&id).await.unwrap();
    assert_eq!(back.widgets.len(), 3);
    assert!(
        matches!(&back.widgets[2].definition, Definition::Other(v) if v["type"] == "free_text")
    );
    dd.delete_dashboard(&id).await.unwrap();
    assert!(dd.dashboard(&id).await.unwrap_err().is_not_found());
    no_violations(&fake);
}

#[tokio::test]
async fn slo_life_cycle_and_checks() {
    let fake = fake().await;
    let dd = client(&fake);
    let availability = Slo {
        id: None,
        name: "MadPlan API availability".into(),
        description: Some("errors below 0.1%".into()),
        tags: vec!["team:madplan".into()],
        kind: SloKind::Metric {
            query: SloQuery {
                numerator: "sum:trace.http.request.hits{service:madplan-api}.as_count() - sum:trace.http.request.errors{service:madplan-api}.as_count()".into(),
                denominator: "sum:trace.http.request.hits{service:madplan-api}.as_count()".into(),
            },
        },
        thresholds: vec![
            SloThreshold { timeframe: Timeframe::Days30, target: 99.9, warning: Some(99.95) },
            SloThreshold { timeframe: Timeframe::Days7, target: 99.9, warning: None },
        ],
    };
    let created = dd.create_slo(&availability).await.unwrap();
    let id = created.id.clone().unwrap();
    let read = dd.slo(&id).await.unwrap();
    assert_eq!(read.kind, availability.kind);
    assert_eq!(read.thresholds, availability.thresholds);

    let monitor = dd.create_monitor(&cpu_monitor()).await.unwrap().id.unwrap();
    let uptime = Slo {
        id: None,
        name: "API uptime".into(),
        description: None,
        tags: vec![],
        kind: SloKind::Monitor {
            monitor_ids: vec![monitor],
        },
        thresholds: vec![SloThreshold {
            timeframe: Timeframe::Days90,
            target: 99.5,
            warning: None,
        }],
    };
    let u = dd.create_slo(&uptime).await.unwrap();
    let mut stricter = u.clone();
    stricter.thresholds[0].target = 99.9;
    let updated = dd
        .update_slo(u.id.as_deref().unwrap(), &stricter)
        .await
        .unwrap();
    assert_eq!(updated.thresholds[0].target, 99.9);

    dd.delete_slo(&id).await.unwrap();
    assert!(dd.slo(&id).await.unwrap_err().is_not_found());

    // What Datadog refuses is caught before sending.
    let before = fake.requests().len();
    let mut bad = availability.clone();
    bad.thresholds[0].target = 100.0;
    assert!(matches!(
        dd.create_slo(&bad).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    let mut bad = availability.clone();
    bad.thresholds[0].warning = Some(99.0);
    assert!(matches!(
        dd.create_slo(&bad).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    let mut bad = availability.clone();
    bad.thresholds[1].timeframe = Timeframe::Days30;
    assert!(matches!(
        dd.create_slo(&bad).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    assert_eq!(fake.requests().len(), before);
    no_violations(&fake);
}

#[tokio::test]
async fn synthetic_http_and_ssl_tests() {
    let fake = fake().await;
    let dd = client(&fake);
    let health = ApiTest {
        public_id: None,
        monitor_id: None,
        name: "MadPlan /api/health".into(),
        message: "The API health check fails. @pagerduty-madplan".into(),
        tags: vec!["team:madplan".into()],
        locations: vec!["aws:us-east-1".into(), "aws:eu-west-1".into()],
        paused: false,
        check: Check::Http {
            method: HttpMethod::Get,
            url: "https://madplan.com/api/health".into(),
            assertions: vec![
                HttpAssertion::StatusCodeIs(200),
                HttpAssertion::ResponseTimeLessThan(200),
                HttpAssertion::HeaderContains {
                    header: "content-type".into(),
                    value: "application/json".into(),
                },
            ],
        },
        tick_every: 60,
        min_failure_duration: Some(120),
        min_location_failed: Some(1),
    };
    let created = dd.create_api_test(&health).await.unwrap();
    let id = created.public_id.clone().unwrap();
    assert!(created.monitor_id.is_some());
    let read = dd.api_test(&id).await.unwrap();
    assert_eq!(read.check, health.check);
    assert_eq!(read.tick_every, 60);

    let certificate = ApiTest {
        name: "madplan.com certificate".into(),
        check: Check::Ssl {
            host: "madplan.com".into(),
            port: 443,
            assertions: vec![SslAssertion::CertificateExpiresInMoreThanDays(30)],
        },
        tick_every: 86_400,
        ..health.clone()
    };
    let ssl = dd.create_api_test(&certificate).await.unwrap();
    let ssl_id = ssl.public_id.clone().unwrap();
    assert_eq!(dd.api_test(&ssl_id).await.unwrap().check, certificate.check);

    let mut paused = read.clone();
    paused.paused = true;
    assert!(dd.update_api_test(&id, &paused).await.unwrap().paused);
    dd.delete_api_test(&id).await.unwrap();
    assert!(dd.delete_api_test(&id).await.unwrap_err().is_not_found());
    assert!(dd.api_test(&id).await.unwrap_err().is_not_found());

    let bad = ApiTest {
        tick_every: 5,
        ..health.clone()
    };
    assert!(matches!(
        dd.create_api_test(&bad).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    no_violations(&fake);
}

#[tokio::test]
async fn rate_limits_are_read_and_waited_for_and_bounded() {
    let fake = fake().await;
    let dd = client(&fake);
    dd.validate().await.unwrap();
    let info = dd.last_rate_limit().unwrap();
    assert_eq!(info.limit, Some(1000));
    assert_eq!(info.period, Some(10));
    assert_eq!(info.remaining, Some(999));
    assert_eq!(info.name.as_deref(), Some("validate"));

    // Two 429s that reset in 1 s: the call waits them out.
    fake.fail_next(2, 429, 1);
    let started = Instant::now();
    dd.create_monitor(&cpu_monitor()).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // More 429s than retries.
    fake.fail_next(10, 429, 0);
    let before = fake.requests().len();
    match dd.validate().await {
        Err(Error::RateLimited { attempts, name, .. }) => {
            assert_eq!(attempts, 4);
            assert_eq!(name.as_deref(), Some("validate"));
        }
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    assert_eq!(fake.requests().len() - before, 4);
    // A reset beyond the policy is not waited for.
    fake.fail_next(1, 429, 600);
    let started = Instant::now();
    assert!(matches!(
        dd.validate().await,
        Err(Error::RateLimited { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(1));
    // Drain what is left of the queue.
    while dd.validate().await.is_err() {}

    // 5xx: retried for a GET, not for a POST.
    fake.fail_next(1, 500, 0);
    assert!(dd.validate().await.unwrap());
    fake.fail_next(1, 500, 0);
    let posts_before = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    let err = dd.create_monitor(&cpu_monitor()).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts - posts_before, 1);
    no_violations(&fake);
}

#[tokio::test]
async fn keys_never_show_in_debug_errors_or_logs() {
    let (_guard, logs) = madplan_core::testkit::LogCapture::start();
    let fake = fake().await;
    let dd = client(&fake);
    fake.fail_next(1, 429, 0);
    dd.validate().await.unwrap();
    let wrong = client_with(
        &fake,
        "dd-wrong-api-key-never-printed",
        "dd-wrong-app-key-never-printed",
    );
    let err = wrong.monitor(1).await.unwrap_err();
    let seen = format!("{dd:?} {wrong:?} {err} {err:?} {}", logs.text());
    assert!(seen.contains("retrying a call"), "logs captured: {seen}");
    for secret in [
        API_KEY,
        APP_KEY,
        "dd-wrong-api-key-never-printed",
        "dd-wrong-app-key-never-printed",
    ] {
        assert!(!seen.contains(secret), "a key leaked: {seen}");
    }
    no_violations(&fake);
}

#[tokio::test]
async fn a_request_that_breaks_the_spec_is_refused_and_recorded() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/v1/monitor", fake.base_url()))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(&serde_json::json!({"type": "bogus alert", "query": "avg(last_5m):x > 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].starts_with("CreateMonitor: body /type"), "{v:?}");
    // No credentials at all breaks the operation's security requirements.
    let resp = http
        .get(format!("{}/api/v1/monitor/1", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        fake.violations()[1].contains("security requirements"),
        "{:?}",
        fake.violations()
    );
}
