//! The Datadog side of the stack through the real engine, against the fake
//! Datadog (every request and answer checked against the official spec):
//! apply, a clean plan, drift made behind the engine's back reported field
//! by field and repaired, foreign objects never touched, destroy leaving
//! nothing of madplan's, and the cost of a no-op plan.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madplan_core::plan::Action;
use madplan_core::{
    Engine, Environment, Error, Found, Input, Kinds, LocalStateStore, Observed, OpCx, Provider,
    ProviderError, Ref, RefreshCx, Resource, RetryPolicy,
};
use madplan_datadog::client::Client;
use madplan_datadog::fake::{Collection, FakeDatadog};
use madplan_datadog::resources::{
    AwsIntegration, BoolOp, Measure, Monitor, Notify, Query, Routes, Severity, SlackChannel,
    SlackHandle, Slo, Target, Targets, Thresholds, external_id,
};
use madplan_datadog::stack::{Monitoring, MonitoringSettings, add_monitoring};
use madplan_datadog::{ClientConfig, Datadog, Site};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const API_KEY: &str = "dd-api-key-0123456789abcdef0123456789ab";
const APP_KEY: &str = "dd-app-key-0123456789abcdef0123456789abcdef0123";
const PD_KEY: &str = "pd-integration-key-never-stored";

async fn fake() -> FakeDatadog {
    let f = FakeDatadog::start(API_KEY, APP_KEY).await;
    f.add_slack_account("madplan");
    f
}

fn client(fake: &FakeDatadog) -> Client {
    Client::new(
        ClientConfig::new(
            SecretString::from(API_KEY),
            SecretString::from(APP_KEY),
            Site::Us1,
        )
        .with_base_url(fake.base_url())
        .with_retry(RetryPolicy {
            max_retries: 8,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        }),
    )
    .unwrap()
}

fn environment(fake: &FakeDatadog, name: &str) -> Environment {
    Environment::new(name).with_provider(Datadog::new(client(fake)))
}

fn settings(env: &mut Environment, key_version: &str) -> MonitoringSettings {
    let key = env.secret("pagerduty-key", key_version, SecretString::from(PD_KEY));
    let mut s = MonitoringSettings::new("production", "madplan.com", key);
    s.aws = Some((
        Input::Value("123456789012".into()),
        "DatadogIntegrationRole".into(),
    ));
    s
}

fn stack(fake: &FakeDatadog) -> (Environment, Monitoring) {
    let mut env = environment(fake, "production");
    let s = settings(&mut env, "v1");
    let m = add_monitoring(&mut env, &s);
    (env, m)
}

fn engine(env: Environment, dir: &tempfile::TempDir) -> Engine<LocalStateStore> {
    Engine::new(env, LocalStateStore::new(dir.path().join("state.json")))
}

async fn apply(env: Environment, dir: &tempfile::TempDir) -> madplan_core::Plan {
    let e = engine(env, dir);
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap();
    plan
}

fn no_violations(fake: &FakeDatadog) {
    let v = fake.violations();
    assert!(v.is_empty(), "the spec was broken: {v:#?}");
}

fn by_tag(fake: &FakeDatadog, c: Collection, tag: &str) -> Vec<Value> {
    fake.objects(c)
        .into_iter()
        .filter(|o| {
            o["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == tag))
        })
        .collect()
}

fn tagged_address(o: &Value) -> String {
    o["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|t| t.as_str()?.strip_prefix("madplan-address:"))
        .unwrap_or_default()
        .to_string()
}

fn find(fake: &FakeDatadog, c: Collection, address: &str) -> Value {
    fake.objects(c)
        .into_iter()
        .find(|o| tagged_address(o) == address)
        .unwrap_or_else(|| panic!("no {c:?} tagged {address}"))
}

fn changed_fields(plan: &madplan_core::Plan, address: &str) -> Vec<String> {
    let c = plan
        .change(address)
        .unwrap_or_else(|| panic!("{address} is not in the plan"));
    c.fields.iter().map(|f| f.field.clone()).collect()
}

#[tokio::test]
async fn the_stack_applies_then_plans_clean() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut env, m) = stack(&fake);
    env.export::<String>("datadog_external_id", external_id(m.aws.as_ref().unwrap()));
    let plan = apply(env, &dir).await;
    assert_eq!(
        plan.summary().create,
        2 + 12 + 2 + 2 + 1 + 1,
        "{}",
        plan.render()
    );

    // Every line of the alerting rules has its monitor (12), plus the two
    // monitors Datadog made for the synthetic tests.
    let ours = by_tag(&fake, Collection::Monitors, "madplan:production");
    assert_eq!(ours.len(), 14);
    assert_eq!(
        by_tag(&fake, Collection::Slos, "madplan:production").len(),
        2
    );
    assert_eq!(
        by_tag(&fake, Collection::Tests, "madplan:production").len(),
        2
    );
    assert_eq!(fake.objects(Collection::Dashboards).len(), 1);
    assert_eq!(fake.pagerduty_services(), ["madplan-production"]);
    assert_eq!(fake.slack_channels("madplan").len(), 1);
    assert_eq!(fake.objects(Collection::AwsAccounts).len(), 1);

    // Routing: a critical monitor pages and tells Slack; a warning never
    // pages; both only name declared channels.
    let down = find(&fake, Collection::Monitors, "datadog.monitor.app-down");
    let message = down["message"].as_str().unwrap();
    assert!(message.contains(
        "{{#is_alert}}@pagerduty-madplan-production @slack-madplan-madplan-alerts{{/is_alert}}"
    ));
    assert_eq!(
        down["query"],
        "sum(last_5m):(sum:aws.applicationelb.httpcode_target_5xx{environment:production}.as_count() + sum:aws.applicationelb.httpcode_elb_5xx{environment:production}.as_count()) / (sum:aws.applicationelb.request_count{environment:production}.as_count()) * 100 > 1"
    );
    let cpu = find(&fake, Collection::Monitors, "datadog.monitor.cpu");
    assert!(!cpu["message"].as_str().unwrap().contains("pagerduty"));
    // Left to Datadog's default, which is not drift.
    assert_eq!(cpu["options"]["include_tags"], true);
    let health = find(&fake, Collection::Tests, "datadog.synthetic_test.health");
    assert_eq!(
        health["config"]["request"]["url"],
        "https://madplan.com/api/health"
    );
    assert_eq!(health["options"]["tick_every"], 60);
    assert_eq!(health["locations"].as_array().unwrap().len(), 3);
    assert!(health["message"].as_str().unwrap().contains("@pagerduty-"));
    let cert = find(
        &fake,
        Collection::Tests,
        "datadog.synthetic_test.certificate",
    );
    assert_eq!(cert["config"]["assertions"][0]["operator"], "isInMoreThan");
    assert_eq!(cert["config"]["assertions"][0]["target"], 30);
    let latency = find(&fake, Collection::Slos, "datadog.slo.latency");
    assert_eq!(latency["type"], "time_slice");
    assert_eq!(latency["sli_specification"]["time_slice"]["threshold"], 0.2);
    let timeframes: Vec<&str> = latency["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["timeframe"].as_str().unwrap())
        .collect();
    assert_eq!(timeframes, ["7d", "30d", "90d"]);
    let dash = &fake.objects(Collection::Dashboards)[0];
    assert_eq!(dash["widgets"].as_array().unwrap().len(), 9);
    let slo_ids: Vec<&Value> = dash["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["definition"]["type"] == "slo")
        .map(|w| &w["definition"]["slo_id"])
        .collect();
    assert_eq!(
        slo_ids,
        [
            &latency["id"],
            &find(&fake, Collection::Slos, "datadog.slo.errors")["id"]
        ]
    );

    // The external id Datadog made is an output, for the AWS role.
    let e = engine(stack(&fake).0, &dir);
    let outputs = {
        let mut env = stack(&fake).0;
        env.export::<String>("datadog_external_id", external_id(&m.aws.clone().unwrap()));
        engine(env, &dir).outputs().await.unwrap()
    };
    let external =
        fake.objects(Collection::AwsAccounts)[0]["attributes"]["auth_config"]["external_id"]
            .clone();
    assert_eq!(outputs["datadog_external_id"], Some(external));

    let before = fake.requests().len();
    let plan = e.plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    // A no-op plan of the whole Datadog side: one list per kind, one read
    // of the dashboard and of the PagerDuty service.
    let mut asked: Vec<String> = fake.requests()[before..].to_vec();
    asked.sort();
    assert_eq!(asked.len(), 8, "{asked:#?}");
    // The PagerDuty key is in neither state nor plan.
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!state.contains(PD_KEY) && !plan.to_json().contains(PD_KEY));
    no_violations(&fake);
}

#[tokio::test]
async fn drift_behind_the_engines_back_is_reported_field_by_field_and_repaired() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    apply(stack(&fake).0, &dir).await;
    let dd = client(&fake);

    // A threshold changed by hand (the query's number with it, as the UI does).
    let cpu_id = find(&fake, Collection::Monitors, "datadog.monitor.cpu")["id"]
        .as_i64()
        .unwrap();
    let mut cpu = dd.monitor(cpu_id).await.unwrap();
    cpu.options.thresholds.as_mut().unwrap().critical = Some(95.0);
    cpu.query = cpu.query.replace("> 80", "> 95");
    // And an option madplan does not model, set in the UI.
    cpu.options
        .extra
        .insert("escalation_message".into(), json!("still hot"));
    dd.update_monitor(cpu_id, &cpu).await.unwrap();

    // The page removed from a critical monitor's alert.
    let down_id = find(&fake, Collection::Monitors, "datadog.monitor.app-down")["id"]
        .as_i64()
        .unwrap();
    let mut down = dd.monitor(down_id).await.unwrap();
    down.message = down.message.replacen(
        "{{#is_alert}}@pagerduty-madplan-production ",
        "{{#is_alert}}",
        1,
    );
    dd.update_monitor(down_id, &down).await.unwrap();

    // The health check paused; a retry strategy set on it in the UI.
    let health_id = find(&fake, Collection::Tests, "datadog.synthetic_test.health")["public_id"]
        .as_str()
        .unwrap()
        .to_string();
    dd.set_test_paused(&health_id, true).await.unwrap();
    fake.edit(Collection::Tests, &health_id, |t| {
        t["options"]["retry"] = json!({"count": 2, "interval": 500.0});
    });

    // A widget edited, another one's legend moved in the UI.
    let dash_id = fake.objects(Collection::Dashboards)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut d = dd.dashboard(&dash_id).await.unwrap();
    let w0_id = d.widgets[0].id;
    let mut raw = serde_json::to_value(&d).unwrap();
    raw["widgets"][0]["definition"]["title"] = json!("Requests (edited)");
    raw["widgets"][1]["definition"]["legend_layout"] = json!("horizontal");
    raw["widgets"][1]["layout"] = json!({"x": 0, "y": 4, "width": 6, "height": 3});
    d = serde_json::from_value(raw).unwrap();
    dd.update_dashboard(&dash_id, &d).await.unwrap();

    let e = engine(stack(&fake).0, &dir);
    let plan = e.plan().await.unwrap();
    let updates: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Update)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(
        updates,
        [
            "datadog.monitor.app-down",
            "datadog.monitor.cpu",
            "datadog.synthetic_test.health",
            "datadog.dashboard.service"
        ],
        "{}",
        plan.render()
    );
    assert_eq!(plan.summary().update, 4, "{}", plan.render());
    assert_eq!(changed_fields(&plan, "datadog.monitor.cpu"), ["thresholds"]);
    let t = &plan.change("datadog.monitor.cpu").unwrap().fields[0];
    assert_eq!(t.before.as_ref().unwrap()["critical"], 95.0);
    assert_eq!(t.after.as_ref().unwrap()["critical"], 80.0);
    assert_eq!(
        changed_fields(&plan, "datadog.monitor.app-down"),
        ["notify"]
    );
    assert_eq!(
        changed_fields(&plan, "datadog.synthetic_test.health"),
        ["paused"]
    );
    assert_eq!(
        changed_fields(&plan, "datadog.dashboard.service"),
        ["widgets"]
    );
    assert!(
        plan.render().contains("Requests (edited)"),
        "{}",
        plan.render()
    );

    e.apply(&plan).await.unwrap();
    let cpu = find(&fake, Collection::Monitors, "datadog.monitor.cpu");
    assert_eq!(cpu["options"]["thresholds"]["critical"], 80.0);
    assert!(cpu["query"].as_str().unwrap().ends_with("> 80"));
    assert_eq!(cpu["options"]["escalation_message"], "still hot");
    let down = find(&fake, Collection::Monitors, "datadog.monitor.app-down");
    assert!(down["message"].as_str().unwrap().contains(
        "{{#is_alert}}@pagerduty-madplan-production @slack-madplan-madplan-alerts{{/is_alert}}"
    ));
    let health = find(&fake, Collection::Tests, "datadog.synthetic_test.health");
    assert_eq!(health["status"], "live");
    assert_eq!(
        health["options"]["retry"],
        json!({"count": 2, "interval": 500.0})
    );
    let dash = &fake.objects(Collection::Dashboards)[0];
    assert_eq!(
        dash["widgets"][0]["definition"]["title"],
        "Requests per second"
    );
    assert_eq!(dash["widgets"][0]["id"], json!(w0_id));
    assert_eq!(
        dash["widgets"][1]["definition"]["legend_layout"],
        "horizontal"
    );
    assert_eq!(
        dash["widgets"][1]["layout"],
        json!({"x": 0, "y": 4, "width": 6, "height": 3})
    );
    let plan = e.plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    no_violations(&fake);
}

#[tokio::test]
async fn what_others_made_is_never_touched_and_destroy_leaves_nothing_of_madplans() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let dd = client(&fake);
    // Someone else's: a monitor with the same name as one of madplan's but
    // none of its tags, an SLO, a Slack channel in the same account, a
    // dashboard with the same title.
    let mut theirs = madplan_datadog::client::monitors::Monitor::query_alert(
        "[production] CPU usage above 80%",
        &madplan_datadog::client::monitors::MetricQuery {
            aggregation: madplan_datadog::client::monitors::Aggregation::Avg,
            window_minutes: 5,
            expression: "avg:system.cpu.user{*}".into(),
            comparator: madplan_datadog::client::monitors::Comparator::Above,
        },
        madplan_datadog::client::monitors::Thresholds {
            critical: Some(80.0),
            ..Default::default()
        },
        &madplan_datadog::client::monitors::Message::new("theirs"),
    )
    .unwrap()
    .tags(["team:other", "env:production"]);
    theirs.options.renotify_interval = Some(15);
    let their_id = dd.create_monitor(&theirs).await.unwrap().id.unwrap();
    fake.edit(Collection::Monitors, &their_id.to_string(), |m| {
        m["options"]["something_new"] = json!({"kept": true});
    });
    dd.create_slack_channel(
        "madplan",
        &madplan_datadog::client::integrations::SlackChannel {
            name: "#general".into(),
            display: Default::default(),
        },
    )
    .await
    .unwrap();
    let mut their_dash = madplan_datadog::client::dashboards::Dashboard::new(
        "[production] MadPlan API",
        madplan_datadog::client::dashboards::LayoutType::Ordered,
        vec![],
    );
    their_dash.description = Some("made by hand".into());
    dd.create_dashboard(&their_dash).await.unwrap();
    let before_monitors = fake.objects(Collection::Monitors);
    let before_dashboards = fake.objects(Collection::Dashboards);

    apply(stack(&fake).0, &dir).await;
    let theirs_now = fake
        .objects(Collection::Monitors)
        .into_iter()
        .find(|m| m["id"] == their_id)
        .unwrap();
    assert_eq!(theirs_now, before_monitors[0], "unknown fields included");
    let plan = engine(stack(&fake).0, &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    let e = engine(stack(&fake).0, &dir);
    let plan = e.plan_destroy().await.unwrap();
    assert_eq!(plan.summary().delete, 20, "{}", plan.render());
    e.apply(&plan).await.unwrap();

    // Nothing of madplan's is left...
    assert!(by_tag(&fake, Collection::Monitors, "madplan:production").is_empty());
    assert!(fake.objects(Collection::Slos).is_empty());
    assert!(fake.objects(Collection::Tests).is_empty());
    assert!(fake.pagerduty_services().is_empty());
    assert!(fake.objects(Collection::AwsAccounts).is_empty());
    // ...and what others made is exactly as it was, field by field.
    assert_eq!(fake.objects(Collection::Monitors), before_monitors);
    assert_eq!(fake.objects(Collection::Dashboards), before_dashboards);
    assert_eq!(
        fake.slack_channels("madplan"),
        [
            json!({"name": "#general", "display": {"message": true, "notified": true, "snapshot": true, "tags": true, "mute_buttons": false}})
        ]
    );
    no_violations(&fake);
}

/// An environment of `n` monitors, a composite, `n` monitor SLOs, `n`
/// health checks and one dashboard, routed through one PagerDuty service
/// and one Slack channel.
fn sized(fake: &FakeDatadog, n: usize) -> Environment {
    let mut env = environment(fake, "scale");
    let key = env.secret("pd", "v1", SecretString::from(PD_KEY));
    let pd = env.add(
        "oncall",
        madplan_datadog::resources::PagerDutyService::new("scale-oncall", key),
    );
    let slack = env.add("alerts", SlackChannel::new("madplan", "#scale"));
    let routes = Routes::new().page(&pd).slack(&slack);
    let mut monitors = Vec::new();
    for i in 0..n {
        let m = env.add(
            &format!("m{i}"),
            Monitor::new(
                &format!("monitor {i}"),
                Query::Metric {
                    aggregation: madplan_datadog::client::monitors::Aggregation::Avg,
                    window_minutes: 5,
                    expression: format!("avg:system.load.{i}{{*}}"),
                    comparator: madplan_datadog::client::monitors::Comparator::Above,
                },
                Thresholds::critical(10.0),
                routes.notify(if i % 2 == 0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                }),
            ),
        );
        env.add(
            &format!("s{i}"),
            Slo::new(
                &format!("slo {i}"),
                Measure::Monitors {
                    monitors: vec![madplan_core::IntoInput::into_input(&m)],
                    groups: vec![],
                },
                Targets::all(Target::new(99.0)),
            ),
        );
        env.add(
            &format!("t{i}"),
            madplan_datadog::resources::SyntheticTest::new(
                &format!("test {i}"),
                madplan_datadog::client::synthetics::Check::Http {
                    method: madplan_datadog::client::synthetics::HttpMethod::Get,
                    url: format!("https://madplan.com/api/health?n={i}"),
                    assertions: vec![
                        madplan_datadog::client::synthetics::HttpAssertion::StatusCodeIs(200),
                    ],
                },
                ["aws:us-east-1"],
                60,
                routes.notify(Severity::Warning),
            ),
        );
        monitors.push(m);
    }
    env.add(
        "both",
        Monitor::new(
            "both",
            Query::Composite {
                operator: BoolOp::And,
                monitors: vec![
                    madplan_core::IntoInput::into_input(&monitors[0]),
                    madplan_core::IntoInput::into_input(&monitors[1]),
                ],
            },
            Thresholds::default(),
            routes.notify(Severity::Critical),
        ),
    );
    env.add(
        "board",
        madplan_datadog::resources::Dashboard::new(
            "scale",
            [madplan_datadog::resources::Show::Note {
                content: "x".into(),
            }],
        ),
    );
    env
}

async fn no_op_plan_requests(n: usize) -> Vec<String> {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    apply(sized(&fake, n), &dir).await;
    let before = fake.requests().len();
    let plan = engine(sized(&fake, n), &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    no_violations(&fake);
    let mut lines: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|r| match r.strip_prefix("GET /api/v1/dashboard/") {
            Some(_) => "GET /api/v1/dashboard/{id}".to_string(),
            None => r.clone(),
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn a_no_op_plan_costs_the_same_for_3_and_10_of_each_kind() {
    let three = no_op_plan_requests(3).await;
    let ten = no_op_plan_requests(10).await;
    assert_eq!(three, ten);
    // One list per kind (monitors, SLOs, synthetic tests, dashboards, the
    // Slack account's channels), one read per dashboard of the environment
    // and per PagerDuty service (the API lists neither).
    assert_eq!(
        ten,
        [
            "GET /api/v1/dashboard",
            "GET /api/v1/dashboard/{id}",
            "GET /api/v1/integration/pagerduty/configuration/services/scale-oncall",
            "GET /api/v1/integration/slack/configuration/accounts/madplan/channels",
            "GET /api/v1/monitor",
            "GET /api/v1/slo",
            "GET /api/v1/synthetics/tests",
        ]
    );
}

#[tokio::test]
async fn a_monitor_cannot_route_to_an_undeclared_channel() {
    let fake = fake().await;
    let mut env = environment(&fake, "production");
    let mut other = environment(&fake, "staging");
    let elsewhere = other.add("staging", SlackChannel::new("madplan", "#staging"));
    let mine = env.add("alerts", SlackChannel::new("madplan", "#alerts"));
    let q = || Query::Metric {
        aggregation: madplan_datadog::client::monitors::Aggregation::Avg,
        window_minutes: 5,
        expression: "avg:system.load.1{*}".into(),
        comparator: madplan_datadog::client::monitors::Comparator::Above,
    };
    // A channel of another environment.
    env.add(
        "a",
        Monitor::new(
            "a",
            q(),
            Thresholds::critical(1.0),
            Routes::new().slack(&elsewhere).notify(Severity::Warning),
        ),
    );
    // A handle written as a literal (only deserialization can make one).
    let literal: SlackHandle = serde_json::from_str("\"@slack-madplan-random\"").unwrap();
    env.add(
        "b",
        Monitor::new(
            "b",
            q(),
            Thresholds::critical(1.0),
            Notify::Warning {
                slack: vec![Input::Value(literal)],
            },
        ),
    );
    // Another resource's output passed off as a handle.
    let m = env.add(
        "c",
        Monitor::new(
            "c",
            q(),
            Thresholds::critical(1.0),
            Routes::new().slack(&mine).notify(Severity::Warning),
        ),
    );
    env.add(
        "d",
        Monitor::new(
            "d",
            q(),
            Thresholds::critical(1.0),
            Notify::Warning {
                slack: vec![m.output::<SlackHandle>("id")],
            },
        ),
    );
    // A handle in the text, and a critical monitor that pages no one.
    env.add(
        "e",
        Monitor::new(
            "e",
            q(),
            Thresholds::critical(1.0),
            Routes::new().slack(&mine).notify(Severity::Critical),
        )
        .text("call @pagerduty-someone"),
    );
    let before = fake.requests().len();
    let Err(Error::Invalid(problems)) = env.validate() else {
        panic!("validation passed")
    };
    let text = problems.to_string();
    for (address, what) in [
        ("datadog.monitor.a", "which is not in this environment"),
        ("datadog.monitor.b", "literal handle"),
        ("datadog.monitor.d", "is not the handle of a Slack channel"),
        ("datadog.monitor.e", "`@`"),
        ("datadog.monitor.e", "pages no one"),
    ] {
        assert!(
            problems.0.iter().any(
                |p| p.address.as_ref().is_some_and(|a| a.to_string() == address)
                    && p.message.contains(what)
            ),
            "{address}: {what}\n{text}"
        );
    }
    assert!(
        !problems.0.iter().any(|p| p
            .address
            .as_ref()
            .is_some_and(|a| a.to_string() == "datadog.monitor.c")),
        "{text}"
    );
    assert_eq!(fake.requests().len(), before, "validation calls no API");
}

#[tokio::test]
async fn a_renamed_channel_is_made_first_and_monitors_move_to_it_in_place() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    apply(stack(&fake).0, &dir).await;
    let ids_before: Vec<Value> = by_tag(&fake, Collection::Monitors, "madplan:production")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    let renamed = || {
        let mut env = environment(&fake, "production");
        let mut s = settings(&mut env, "v1");
        s.slack_channel = "#madplan-oncall".into();
        add_monitoring(&mut env, &s);
        env
    };
    let e = engine(renamed(), &dir);
    let plan = e.plan().await.unwrap();
    let s = plan.summary();
    assert_eq!(
        (s.replace, s.delete, s.create),
        (1, 0, 0),
        "{}",
        plan.render()
    );
    assert_eq!(
        plan.change("datadog.slack_channel.alerts")
            .unwrap()
            .replacement,
        Some(madplan_core::Replacement::CreateBeforeDestroy)
    );
    // 12 monitors and 2 tests route to it: updated in place, not replaced.
    assert_eq!(s.update, 14, "{}", plan.render());
    e.apply(&plan).await.unwrap();
    let ids_after: Vec<Value> = by_tag(&fake, Collection::Monitors, "madplan:production")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids_before, ids_after,
        "the monitors kept their ids and history"
    );
    let cpu = find(&fake, Collection::Monitors, "datadog.monitor.cpu");
    assert!(
        cpu["message"]
            .as_str()
            .unwrap()
            .contains("@slack-madplan-madplan-oncall")
    );
    assert!(!cpu["message"].as_str().unwrap().contains("madplan-alerts"));
    let channels: Vec<Value> = fake
        .slack_channels("madplan")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(channels, [json!("#madplan-oncall")]);
    let plan = engine(renamed(), &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    no_violations(&fake);
}

#[tokio::test]
async fn datadogs_rate_limits_are_respected_under_the_burst_of_an_apply() {
    let fake = fake().await;
    fake.rate_limit(4, Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    apply(stack(&fake).0, &dir).await;
    // 12 monitor creates, 4 per second: at least 2 periods waited, and
    // the client held back instead of collecting 429s (at most one per
    // operation in flight, before the first answer told it the limit).
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        fake.throttled() <= 4,
        "{} requests refused",
        fake.throttled()
    );
    assert_eq!(
        by_tag(&fake, Collection::Monitors, "madplan:production").len(),
        14
    );
    let plan = engine(stack(&fake).0, &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    no_violations(&fake);
}

#[tokio::test]
async fn a_new_pagerduty_key_version_updates_the_service_without_storing_it() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    apply(stack(&fake).0, &dir).await;
    let mut env = environment(&fake, "production");
    let s = settings(&mut env, "v2");
    add_monitoring(&mut env, &s);
    let e = engine(env, &dir);
    let plan = e.plan().await.unwrap();
    assert_eq!(plan.summary().update, 1, "{}", plan.render());
    assert_eq!(
        changed_fields(&plan, "datadog.pagerduty_service.oncall"),
        ["service_key"]
    );
    let before = fake.requests().len();
    e.apply(&plan).await.unwrap();
    assert!(fake.requests()[before..].iter().any(
        |r| r == "PUT /api/v1/integration/pagerduty/configuration/services/madplan-production"
    ));
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!state.contains(PD_KEY));
    no_violations(&fake);
}

// An AWS IAM role as another provider would model it: its trust policy
// takes the Datadog integration's external id.

#[derive(Default)]
struct Iam {
    roles: Mutex<BTreeMap<String, (String, String)>>,
}

#[derive(Clone)]
struct TestAws(Arc<Iam>);

impl Provider for TestAws {
    const NAME: &'static str = "testaws";
    fn register(kinds: &mut Kinds) {
        kinds.register::<Role>();
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Role {
    name: Input<String>,
    external_id: Input<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RoleOutputs {
    name: String,
}

impl Resource for Role {
    const KIND: &'static str = "testaws.role";
    type Provider = TestAws;
    type Outputs = RoleOutputs;

    async fn refresh(p: &TestAws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let roles = p.0.roles.lock().unwrap().clone();
        Ok(roles
            .into_iter()
            .filter_map(|(name, (address, ext))| {
                let marks = |k: &str| match k {
                    madplan_core::TAG_ENVIRONMENT => Some(cx.environment.clone()),
                    madplan_core::TAG_ADDRESS => Some(address.clone()),
                    madplan_core::TAG_LINEAGE => cx.lineage.map(|l| l.to_string()),
                    _ => None,
                };
                cx.claim(|o| o.name == name, marks).map(|c| {
                    Found::new(
                        c,
                        Role {
                            name: Input::Value(name.clone()),
                            external_id: Input::Value(ext),
                        },
                        RoleOutputs { name },
                    )
                })
            })
            .collect())
    }

    async fn create(&self, p: &TestAws, cx: &OpCx) -> Result<RoleOutputs, ProviderError> {
        let name = self.name.get().unwrap().clone();
        p.0.roles.lock().unwrap().insert(
            name.clone(),
            (
                cx.address().to_string(),
                self.external_id.get().unwrap().clone(),
            ),
        );
        Ok(RoleOutputs { name })
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        p: &TestAws,
        cx: &OpCx,
    ) -> Result<RoleOutputs, ProviderError> {
        p.0.roles.lock().unwrap().insert(
            prior.outputs.name.clone(),
            (
                cx.address().to_string(),
                self.external_id.get().unwrap().clone(),
            ),
        );
        Ok(prior.outputs.clone())
    }

    async fn delete(o: &RoleOutputs, p: &TestAws, _: &OpCx) -> Result<(), ProviderError> {
        p.0.roles.lock().unwrap().remove(&o.name);
        Ok(())
    }
}

#[tokio::test]
async fn the_external_id_feeds_the_aws_role_without_a_cycle() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let iam = Arc::new(Iam::default());
    let env = || {
        let mut env = environment(&fake, "production").with_provider(TestAws(iam.clone()));
        let dd: Ref<AwsIntegration> = env.add(
            "aws",
            AwsIntegration::new("123456789012", "DatadogIntegrationRole"),
        );
        env.add(
            "datadog",
            Role {
                name: "DatadogIntegrationRole".into(),
                external_id: external_id(&dd),
            },
        );
        env
    };
    let e = engine(env(), &dir);
    let plan = e.plan().await.unwrap();
    assert!(
        plan.render().contains("known after apply"),
        "{}",
        plan.render()
    );
    e.apply(&plan).await.unwrap();
    let external =
        fake.objects(Collection::AwsAccounts)[0]["attributes"]["auth_config"]["external_id"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(
        iam.roles.lock().unwrap()["DatadogIntegrationRole"].1,
        external
    );
    let plan = engine(env(), &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // The role's own output as the role name makes a cycle, refused.
    let mut cyclic = environment(&fake, "production").with_provider(TestAws(iam.clone()));
    let dd = cyclic.reserve::<AwsIntegration>("aws");
    let role = cyclic.add(
        "datadog",
        Role {
            name: "DatadogIntegrationRole".into(),
            external_id: external_id(&dd),
        },
    );
    cyclic.define(
        &dd,
        AwsIntegration::new("123456789012", role.output::<String>("name")),
    );
    let Err(Error::Invalid(problems)) = cyclic.validate() else {
        panic!("a cycle passed validation")
    };
    assert!(
        problems.to_string().contains("reference cycle"),
        "{problems}"
    );
    no_violations(&fake);
}
