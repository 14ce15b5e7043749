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
use madplan_datadog::client::{Extra, Timeouts};
use madplan_datadog::fake::{Collection, FakeDatadog};
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
            critical: Some(80.0),
            warning: Some(70.0),
            critical_recovery: Some(75.0),
            ..Thresholds::default()
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
    // Left to Datadog's default unless set.
    assert_eq!(m.options.include_tags, None);
    assert_eq!(read.options.include_tags, Some(true));

    let mut changed = read.clone();
    changed.options.thresholds.as_mut().unwrap().warning = Some(65.0);
    changed.options.renotify_interval = Some(60);
    let updated = dd.update_monitor(id, &changed).await.unwrap();
    assert_eq!(
        updated.options.thresholds.as_ref().unwrap().warning,
        Some(65.0)
    );

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
        critical: Some(critical),
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
    let mut d = Dashboard::new(
        "MadPlan production",
        LayoutType::Ordered,
        vec![
            WidgetDefinition::Timeseries {
                title: Some("API p95 latency".into()),
                requests: vec![SeriesRequest {
                    q: Some("p95:trace.http.request{service:madplan-api}".into()),
                    display_type: Some(DisplayType::Line),
                    ..SeriesRequest::default()
                }],
                yaxis: None,
                markers: vec![],
                extra: Extra::new(),
            }
            .into(),
            WidgetDefinition::QueryValue {
                title: Some("Error rate".into()),
                requests: vec![ValueRequest {
                    q: Some("sum:trace.http.request.errors{service:madplan-api}.as_count()".into()),
                    aggregator: Some(Aggregator::Sum),
                    ..ValueRequest::default()
                }],
                precision: Some(2),
                custom_unit: None,
                extra: Extra::new(),
            }
            .into(),
            WidgetDefinition::Note {
                content: "Targets: p95 < 200 ms, errors < 0.1%".into(),
                extra: Extra::new(),
            }
            .into(),
        ],
    );
    d.description = Some("API, database and edge".into());
    let created = dd.create_dashboard(&d).await.unwrap();
    let id = created.id.clone().unwrap();
    let read = dd.dashboard(&id).await.unwrap();
    assert_eq!(read.widgets.len(), 3);
    // Each widget has its own id.
    let mut ids: Vec<i64> = read.widgets.iter().map(|w| w.id.unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
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
            layout: None,
            extra: Extra::new(),
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
        extra: Extra::new(),
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
        extra: Extra::new(),
        name: "API uptime".into(),
        description: None,
        tags: vec![],
        kind: SloKind::Monitor {
            monitor_ids: vec![monitor],
            groups: vec![],
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
    let mut health = ApiTest::new(
        "MadPlan /api/health",
        Check::Http {
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
        ["aws:us-east-1", "aws:eu-west-1"],
        60,
    );
    health.message = "The API health check fails. @pagerduty-madplan".into();
    health.tags = vec!["team:madplan".into()];
    health.options.min_failure_duration = Some(120);
    health.options.min_location_failed = Some(1);
    let created = dd.create_api_test(&health).await.unwrap();
    let id = created.public_id.clone().unwrap();
    assert!(created.monitor_id.is_some());
    let read = dd.api_test(&id).await.unwrap();
    assert_eq!(read.check, health.check);
    assert_eq!(read.options.tick_every, 60);

    let mut certificate = health.clone();
    certificate.name = "madplan.com certificate".into();
    certificate.check = Check::Ssl {
        host: "madplan.com".into(),
        port: 443,
        assertions: vec![SslAssertion::CertificateExpiresInMoreThanDays(30)],
    };
    certificate.options.tick_every = 86_400;
    let ssl = dd.create_api_test(&certificate).await.unwrap();
    let ssl_id = ssl.public_id.clone().unwrap();
    assert_eq!(dd.api_test(&ssl_id).await.unwrap().check, certificate.check);

    let mut paused = read.clone();
    paused.paused = true;
    assert!(dd.update_api_test(&id, &paused).await.unwrap().paused);
    dd.set_test_paused(&id, false).await.unwrap();
    assert!(!dd.api_test(&id).await.unwrap().paused);
    // Both tests are listed, with their Datadog-made monitors alongside.
    assert_eq!(dd.api_tests().await.unwrap().len(), 2);
    dd.delete_api_test(&id).await.unwrap();
    assert!(dd.delete_api_test(&id).await.unwrap_err().is_not_found());
    assert!(dd.api_test(&id).await.unwrap_err().is_not_found());

    let mut bad = health.clone();
    bad.options.tick_every = 5;
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
    // A reset beyond the policy is not waited for: one attempt, failed at
    // once (the leftover 429s of the case above are cleared first, so this
    // 429 is the one answered).
    fake.clear_failures();
    fake.fail_next(1, 429, 600);
    let before = fake.requests().len();
    let started = Instant::now();
    match dd.validate().await {
        Err(Error::RateLimited {
            attempts, reset, ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(reset, Some(Duration::from_secs(600)));
        }
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.requests().len() - before, 1);
    // Nor is that limit asked again before it resets: refused unsent.
    assert!(matches!(
        dd.validate().await,
        Err(Error::RateLimited { attempts: 0, .. })
    ));
    assert_eq!(fake.requests().len() - before, 1);

    // 5xx: retried for a GET, not for a POST (a client that was not told
    // to wait).
    let dd = client(&fake);
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

fn patient_client(fake: &FakeDatadog) -> Client {
    Client::new(
        ClientConfig::new(
            SecretString::from(API_KEY),
            SecretString::from(APP_KEY),
            Site::Us1,
        )
        .with_base_url(fake.base_url())
        .with_retry(RetryPolicy {
            max_retries: 10,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        }),
    )
    .unwrap()
}

#[tokio::test]
async fn search_paging_follows_the_clients_own_counter_when_the_page_echo_does_not_move() {
    let fake = fake().await;
    let dd = client(&fake);
    for i in 0..230 {
        let mut m = cpu_monitor();
        m.name = format!("m{i}");
        dd.create_monitor(&m).await.unwrap();
    }
    // As a mock built from the spec's examples answers: `page: 0` always.
    fake.freeze_search_page();
    let found = tokio::time::timeout(
        Duration::from_secs(20),
        dd.monitors_tagged("env:production"),
    )
    .await
    .expect("paging ended")
    .unwrap();
    assert_eq!(found.len(), 230);
    let mut ids: Vec<i64> = found.iter().map(|m| m.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 230, "every page read once");
    let searches = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("/monitor/search"))
        .count();
    assert_eq!(searches, 3);
    no_violations(&fake);
}

#[tokio::test]
async fn full_monitors_are_listed_by_tag_page_by_page() {
    let fake = fake().await;
    let dd = client(&fake);
    for i in 0..150 {
        let mut m = cpu_monitor();
        m.name = format!("m{i}");
        if i % 3 == 0 {
            m.tags.push("madplan:staging".into());
        }
        dd.create_monitor(&m).await.unwrap();
    }
    let before = fake.requests().len();
    let staging = dd
        .monitors_with_tags("madplan:staging,env:production")
        .await
        .unwrap();
    assert_eq!(staging.len(), 50);
    assert!(
        staging
            .iter()
            .all(|m| m.options.thresholds.as_ref().unwrap().critical == Some(80.0))
    );
    assert_eq!(fake.requests().len() - before, 1);
    let all = dd.monitors_with_tags("env:production").await.unwrap();
    assert_eq!(all.len(), 150);
    assert_eq!(fake.requests().len() - before, 1 + 2);
    no_violations(&fake);
}

#[tokio::test]
async fn a_sequential_burst_waits_for_the_reset_instead_of_collecting_429s() {
    let fake = fake().await;
    let dd = client(&fake);
    fake.rate_limit(3, Duration::from_secs(1));
    let started = Instant::now();
    for _ in 0..7 {
        dd.validate().await.unwrap();
    }
    // Three per period: the 4th and 7th waited for a reset announced by
    // the headers, and nothing was refused.
    assert_eq!(fake.throttled(), 0, "the client sent past a spent limit");
    assert!(started.elapsed() >= Duration::from_millis(1900));
    no_violations(&fake);
}

#[tokio::test]
async fn a_concurrent_burst_is_spread_over_the_periods_and_all_of_it_succeeds() {
    let fake = fake().await;
    let dd = patient_client(&fake);
    fake.rate_limit(3, Duration::from_secs(1));
    let started = Instant::now();
    let calls = (0..10).map(|i| {
        let dd = dd.clone();
        async move {
            let mut m = cpu_monitor();
            m.name = format!("burst {i}");
            dd.create_monitor(&m).await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Ten creates at three per second need four periods.
    assert!(started.elapsed() >= Duration::from_millis(2900));
    assert_eq!(fake.objects(Collection::Monitors).len(), 10);
    no_violations(&fake);
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_done_when_repeated() {
    let fake = fake().await;
    let dd = client(&fake);
    let id = dd.create_monitor(&cpu_monitor()).await.unwrap().id.unwrap();
    // The first attempt deletes it but its answer is lost (502); the
    // retry finds nothing: done.
    fake.lose_next_answers(1);
    dd.delete_monitor(id).await.unwrap();
    let deletes = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("DELETE /api/v1/monitor/"))
        .count();
    assert_eq!(deletes, 2);
    assert!(fake.objects(Collection::Monitors).is_empty());
    // A first attempt answered 404 is an error: nothing of that id existed.
    assert!(dd.delete_monitor(id).await.unwrap_err().is_not_found());

    // The same for a synthetic test, whose delete is a POST.
    let t = dd
        .create_api_test(&ApiTest::new(
            "t",
            Check::Ssl {
                host: "madplan.com".into(),
                port: 443,
                assertions: vec![SslAssertion::CertificateExpiresInMoreThanDays(30)],
            },
            ["aws:us-east-1"],
            3600,
        ))
        .await
        .unwrap();
    fake.lose_next_answers(1);
    dd.delete_api_test(t.public_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(fake.objects(Collection::Tests).is_empty());
    no_violations(&fake);
}

#[tokio::test]
async fn unknown_fields_set_elsewhere_survive_an_update() {
    let fake = fake().await;
    let dd = client(&fake);
    let id = dd.create_monitor(&cpu_monitor()).await.unwrap().id.unwrap();
    // Set in the UI: an option madplan does not model, and restricted roles.
    assert!(fake.edit(Collection::Monitors, &id.to_string(), |m| {
        m["options"]["escalation_message"] = serde_json::json!("still burning");
        m["restricted_roles"] = serde_json::json!(["a1b2"]);
    }));
    let mut m = dd.monitor(id).await.unwrap();
    m.options.thresholds.as_mut().unwrap().warning = None;
    m.priority = None;
    dd.update_monitor(id, &m).await.unwrap();
    let raw = fake
        .objects(Collection::Monitors)
        .into_iter()
        .find(|x| x["id"] == id)
        .unwrap();
    assert_eq!(raw["options"]["escalation_message"], "still burning");
    assert_eq!(raw["restricted_roles"], serde_json::json!(["a1b2"]));
    // Unset fields are cleared on an API that merges.
    assert!(raw["options"]["thresholds"]["warning"].is_null(), "{raw}");
    assert!(raw["priority"].is_null(), "{raw}");
    no_violations(&fake);
}

#[tokio::test]
async fn the_fakes_answers_are_checked_against_the_spec() {
    let fake = fake().await;
    let dd = client(&fake);
    let id = dd.create_monitor(&cpu_monitor()).await.unwrap().id.unwrap();
    no_violations(&fake);
    // A stored monitor the spec does not allow makes the answer a
    // violation, whatever the client makes of it.
    fake.edit(Collection::Monitors, &id.to_string(), |m| {
        m["priority"] = serde_json::json!("urgent");
    });
    let _ = dd.monitor(id).await;
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].starts_with("the fake's answer: GetMonitor: answer 200 /priority"),
        "{v:?}"
    );
}

#[tokio::test]
async fn pagerduty_services_and_slack_channels() {
    use madplan_datadog::client::integrations::{SlackChannel, SlackDisplay};
    let fake = fake().await;
    let dd = client(&fake);
    let key = SecretString::from("pd-integration-key-0123");
    let s = dd
        .create_pagerduty_service("madplan-production", &key)
        .await
        .unwrap();
    assert_eq!(s.service_name, "madplan-production");
    assert_eq!(
        dd.pagerduty_service("madplan-production")
            .await
            .unwrap()
            .service_name,
        "madplan-production"
    );
    dd.update_pagerduty_service("madplan-production", &key)
        .await
        .unwrap();
    dd.delete_pagerduty_service("madplan-production")
        .await
        .unwrap();
    assert!(
        dd.pagerduty_service("madplan-production")
            .await
            .unwrap_err()
            .is_not_found()
    );

    fake.add_slack_account("madplan");
    let channel = SlackChannel {
        name: "#madplan-alerts".into(),
        display: SlackDisplay::default(),
    };
    dd.create_slack_channel("madplan", &channel).await.unwrap();
    assert_eq!(
        dd.slack_channels("madplan").await.unwrap(),
        vec![channel.clone()]
    );
    let quiet = SlackChannel {
        display: SlackDisplay {
            snapshot: false,
            ..SlackDisplay::default()
        },
        ..channel.clone()
    };
    assert_eq!(
        dd.update_slack_channel("madplan", &quiet).await.unwrap(),
        quiet
    );
    dd.delete_slack_channel("madplan", "#madplan-alerts")
        .await
        .unwrap();
    assert!(dd.slack_channels("madplan").await.unwrap().is_empty());
    assert!(
        dd.slack_channels("nobody")
            .await
            .unwrap_err()
            .is_not_found()
    );
    no_violations(&fake);
}

#[tokio::test]
async fn aws_accounts_through_the_v2_api() {
    use madplan_datadog::client::aws::{AwsAccount, AwsAuth};
    let fake = fake().await;
    let dd = client(&fake);
    let mut account = AwsAccount::with_role("123456789012", "DatadogIntegrationRole");
    account.regions = Some(vec!["us-east-1".into()]);
    let created = dd.create_aws_account(&account).await.unwrap();
    let id = created.id.clone().unwrap();
    let external = created.external_id().unwrap().to_string();
    assert_eq!(external.len(), 32);
    let listed = dd.aws_accounts().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].external_id(), Some(external.as_str()));
    // Server defaults (metrics configuration) come back and are kept.
    assert!(listed[0].extra.contains_key("metrics_config"));
    let mut changed = listed[0].clone();
    changed.regions = None;
    changed.auth = AwsAuth::Role {
        role_name: "DatadogRole2".into(),
        external_id: None,
    };
    let updated = dd.update_aws_account(&id, &changed).await.unwrap();
    assert_eq!(updated.regions, None);
    assert_eq!(updated.external_id(), Some(external.as_str()));
    assert_eq!(
        dd.aws_account(&id).await.unwrap().extra["metrics_config"]["enabled"],
        true
    );
    // The same AWS account twice is a conflict.
    assert_eq!(
        dd.create_aws_account(&account).await.unwrap_err().status(),
        Some(409)
    );
    dd.delete_aws_account(&id).await.unwrap();
    assert!(dd.aws_account(&id).await.unwrap_err().is_not_found());
    no_violations(&fake);
}

#[tokio::test]
async fn a_server_that_never_answers_is_given_up_on_after_the_total_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and then says nothing.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
            if open.len() > 10 {
                break;
            }
        }
    });
    let dd = Client::new(
        ClientConfig::new(
            SecretString::from(API_KEY),
            SecretString::from(APP_KEY),
            Site::Us1,
        )
        .with_base_url(format!("http://{addr}"))
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_millis(300),
        })
        .with_retry(RetryPolicy {
            max_retries: 1,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(1),
        }),
    )
    .unwrap();
    let started = Instant::now();
    let err = dd.validate().await.unwrap_err();
    assert!(
        matches!(err, Error::Http(HttpError::Transport { .. })),
        "{err}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "{took:?}"
    );
    held.abort();
}

/// A server that answers every request with the official spec's own
/// example of its operation's success answer (as a mock built from the
/// spec does): the client must decode each and every paging loop must end.
async fn examples_server() -> madplan_core::testkit::LocalServer {
    use axum::http::Uri;
    let dir = madplan_core::testkit::specs_dir();
    let mut examples: Vec<(String, Vec<String>, u16, serde_json::Value)> = Vec::new();
    for file in ["dd-trim.json", "dd-v2-trim.json"] {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for (status, answer) in op["responses"].as_object().into_iter().flatten() {
                    let Ok(code) = status.parse::<u16>() else {
                        continue;
                    };
                    if !(200..300).contains(&code) {
                        continue;
                    }
                    let example = answer
                        .pointer("/content/application~1json/examples/default/value")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null);
                    examples.push((
                        method.to_uppercase(),
                        path.trim_matches('/')
                            .split('/')
                            .map(str::to_string)
                            .collect(),
                        code,
                        example,
                    ));
                }
            }
        }
    }
    let examples = std::sync::Arc::new(examples);
    let app = axum::Router::new().fallback(move |method: axum::http::Method, uri: Uri| {
        let examples = examples.clone();
        async move {
            let path: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
            let fits = |segments: &Vec<String>| {
                segments.len() == path.len()
                    && segments
                        .iter()
                        .zip(&path)
                        .all(|(s, p)| s.starts_with('{') || s == p)
            };
            let best = examples
                .iter()
                .filter(|(m, s, _, _)| *m == method.as_str() && fits(s))
                .max_by_key(|(_, s, _, _)| s.iter().filter(|x| !x.starts_with('{')).count());
            match best {
                Some((_, _, code, v)) if !v.is_null() => (
                    axum::http::StatusCode::from_u16(*code).unwrap(),
                    axum::Json(v.clone()),
                )
                    .into_response(),
                Some((_, _, code, _)) => axum::http::StatusCode::from_u16(*code)
                    .unwrap()
                    .into_response(),
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    madplan_core::testkit::LocalServer::start(app).await
}

use axum::response::IntoResponse;

async fn within<T>(
    f: impl std::future::Future<Output = T>,
) -> Result<T, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(10), f).await
}

#[tokio::test]
async fn the_specs_own_example_answers_decode_and_paging_ends() {
    let server = examples_server().await;
    let dd = Client::new(
        ClientConfig::new(
            SecretString::from(API_KEY),
            SecretString::from(APP_KEY),
            Site::Us1,
        )
        .with_base_url(server.url()),
    )
    .unwrap();
    assert!(dd.validate().await.unwrap());
    // The search example always says `page: 0`: the client's own counter
    // ends the paging.
    let found = within(dd.monitors_tagged("env:prod"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found[0].id, 123);
    within(dd.monitors_with_tags("env:prod"))
        .await
        .unwrap()
        .unwrap();
    dd.monitor(123).await.unwrap();
    // The SLO examples: a metric SLO without its query is kept, not refused.
    let slo = dd.slo("abc-123").await.unwrap();
    assert_eq!(slo.name, "Custom Metric SLO");
    within(dd.slos_tagged("env:prod")).await.unwrap().unwrap();
    let d = dd.dashboard("abc-123-def").await.unwrap();
    assert_eq!(d.widgets.len(), 1);
    within(dd.dashboards()).await.unwrap().unwrap();
    dd.api_test("abc-def-123").await.unwrap();
    // The list's example test has no options.
    let tests = within(dd.api_tests()).await.unwrap().unwrap();
    assert_eq!(tests[0].public_id.as_deref(), Some("abc-def-123"));
    dd.pagerduty_service("test-service").await.unwrap();
    dd.slack_channels("main").await.unwrap();
    dd.set_test_paused("abc-def-123", true).await.unwrap();
    dd.delete_monitor(123).await.unwrap();
    dd.delete_slo("abc-123").await.unwrap();
    dd.delete_dashboard("abc-123-def").await.unwrap();
    dd.delete_pagerduty_service("test-service").await.unwrap();
}
