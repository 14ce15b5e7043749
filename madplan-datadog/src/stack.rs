//! The Datadog side of the MadPlan production stack, from the deployment
//! guide: its notification channels, a monitor for every line of its
//! alerting rules, its SLOs, the health and certificate checks, the
//! service's dashboard and the AWS integration.
//!
//! | guide | resource |
//! |---|---|
//! | Critical: application down (5xx > 1 %) | monitor `app-down`: ALB 5xx over requests, % |
//! | Critical: database connection failures | monitor `db-connection`: the `mongodb.can_connect` service check (raw query) |
//! | Critical: unhealthy targets > 50 % | monitor `unhealthy-targets`: unhealthy over all targets, % |
//! | Critical: error rate > 1 % for 5 minutes | monitor `error-rate`: APM errors over hits, %, 5 minutes |
//! | Critical: SSL certificate expiry < 30 days | synthetic test `certificate` (its monitor, routed critical) |
//! | Warning: P95 > 500 ms | monitor `p95-latency`: APM p95 |
//! | Warning: memory > 80 % | monitor `memory`: usable memory under 20 % |
//! | Warning: CPU > 80 % | monitor `cpu` |
//! | Warning: disk > 85 % | monitor `disk` |
//! | Warning: cache hit rate < 90 % | monitor `cache-hit-rate`: Redis hits over lookups, % |
//! | Info: deployment completed, auto-scaling events, backup completed | event monitors `deployments`, `scaling`, `backups` |
//! | Targets: P95 < 200 ms, error rate < 0.1 % | SLOs `latency` (time slices), `errors` (good over total events) |
//! | Health checks: `/api/health` | synthetic test `health`, every minute from several locations |

use std::collections::BTreeMap;

use madplan_core::{Environment, Input, IntoInput, Ref, Secret};

use crate::client::dashboards::{Aggregator, TimeWindow, ViewMode};
use crate::client::monitors::{Aggregation, Comparator, MonitorType};
use crate::client::slos::SliceComparator;
use crate::client::synthetics::{Check, HttpAssertion, HttpMethod, SslAssertion};
use crate::resources::{
    AwsIntegration, Dashboard, Marker, Measure, Monitor, Options, PagerDutyService, Percentile,
    Query, Routes, Series, Severity, Show, SlackChannel, Slo, SyntheticTest, Target, Targets,
    Thresholds, YAxis,
};

/// What the Datadog side needs to know of the rest of the stack.
#[derive(Clone, Debug)]
pub struct MonitoringSettings {
    /// The environment, as the services tag their telemetry (`env:`).
    pub env: String,
    /// The API's APM service name.
    pub service: String,
    /// The public domain (`https://DOMAIN/api/health`).
    pub api_domain: String,
    /// Where the synthetic tests run from.
    pub locations: Vec<String>,
    /// The tag scope of the AWS metrics of this stack (ALB, EC2, ASG), e.g.
    /// `environment:production`.
    pub aws_scope: String,
    /// The tag scope of the Redis metrics.
    pub redis_scope: String,
    /// The PagerDuty service critical monitors page.
    pub pagerduty_service: String,
    /// Its integration key.
    pub pagerduty_key: Secret,
    /// The Slack account connected to Datadog.
    pub slack_account: String,
    /// The channel every alert goes to.
    pub slack_channel: String,
    /// The events searches of the info monitors.
    pub deployment_events: String,
    /// Auto-scaling events.
    pub scaling_events: String,
    /// Backup events.
    pub backup_events: String,
    /// The SLO targets for P95 latency, in percent of good 5-minute slices.
    pub latency_target: Target,
    /// The SLO targets for errors, in percent of good requests.
    pub errors_target: Target,
    /// The AWS account Datadog reads, and the role it assumes (a literal
    /// name: the role needs the integration's external id).
    pub aws: Option<(Input<String>, String)>,
}

impl MonitoringSettings {
    /// The deployment guide's settings for `env` on `api_domain`.
    pub fn new(env: &str, api_domain: &str, pagerduty_key: Secret) -> Self {
        Self {
            env: env.to_string(),
            service: "madplan-api".into(),
            api_domain: api_domain.to_string(),
            locations: vec![
                "aws:us-east-1".into(),
                "aws:us-west-2".into(),
                "aws:eu-west-1".into(),
            ],
            aws_scope: format!("environment:{env}"),
            redis_scope: format!("env:{env}"),
            pagerduty_service: format!("madplan-{env}"),
            pagerduty_key,
            slack_account: "madplan".into(),
            slack_channel: "#madplan-alerts".into(),
            deployment_events: format!("source:github env:{env} deployment"),
            scaling_events: format!("source:amazon_auto_scaling env:{env}"),
            backup_events: format!("source:mongodb_atlas env:{env} backup"),
            latency_target: Target::new(99.5).warning(99.8),
            errors_target: Target::new(99.9).warning(99.95),
            aws: None,
        }
    }
}

/// The handles of what [`add_monitoring`] declared.
#[derive(Clone, Debug)]
pub struct Monitoring {
    /// The PagerDuty service.
    pub pagerduty: Ref<PagerDutyService>,
    /// The Slack channel.
    pub slack: Ref<SlackChannel>,
    /// The monitors, by name.
    pub monitors: BTreeMap<&'static str, Ref<Monitor>>,
    /// The P95 latency SLO.
    pub latency: Ref<Slo>,
    /// The error rate SLO.
    pub errors: Ref<Slo>,
    /// The `/api/health` check.
    pub health: Ref<SyntheticTest>,
    /// The certificate check.
    pub certificate: Ref<SyntheticTest>,
    /// The dashboard.
    pub dashboard: Ref<Dashboard>,
    /// The AWS integration, when settings name an account.
    pub aws: Option<Ref<AwsIntegration>>,
}

/// Adds the Datadog side of the stack to `env`.
pub fn add_monitoring(env: &mut Environment, s: &MonitoringSettings) -> Monitoring {
    let pagerduty = env.add(
        "oncall",
        PagerDutyService::new(&s.pagerduty_service, s.pagerduty_key.clone()),
    );
    let slack = env.add(
        "alerts",
        SlackChannel::new(&s.slack_account, &s.slack_channel),
    );
    let routes = Routes::new().page(&pagerduty).slack(&slack);
    let critical = routes.notify(Severity::Critical);
    let warning = routes.notify(Severity::Warning);
    let info = routes.notify(Severity::Info);
    let e = &s.env;
    let apm = format!("env:{e},service:{}", s.service);
    let aws = &s.aws_scope;
    let name = |what: &str| format!("[{e}] {what}");
    let cloudwatch = Options {
        notify_no_data: false,
        evaluation_delay: Some(900),
        renotify_interval: Some(60),
        ..Options::default()
    };
    let paging = Options {
        renotify_interval: Some(30),
        ..Options::default()
    };

    let mut monitors = BTreeMap::new();
    let mut add = |key: &'static str, m: Monitor| {
        monitors.insert(key, env.add(key, m));
    };

    // Critical (PagerDuty + Slack).
    add(
        "app-down",
        Monitor::new(
            &name("Application down: 5xx above 1% of requests"),
            Query::Ratio {
                aggregation: Aggregation::Sum,
                window_minutes: 5,
                numerator: format!(
                    "sum:aws.applicationelb.httpcode_target_5xx{{{aws}}}.as_count() + sum:aws.applicationelb.httpcode_elb_5xx{{{aws}}}.as_count()"
                ),
                denominator: format!("sum:aws.applicationelb.request_count{{{aws}}}.as_count()"),
                percent: true,
                comparator: Comparator::Above,
            },
            Thresholds::critical(1.0).warning(0.5),
            critical.clone(),
        )
        .text("More than 1% of requests to the load balancer end in a 5xx. Check the targets' health and the API logs.")
        .priority(1)
        .options(cloudwatch.clone()),
    );
    add(
        "db-connection",
        Monitor::new(
            &name("Database connection failures"),
            Query::Raw {
                monitor_type: MonitorType::ServiceCheck,
                query: format!(
                    "\"mongodb.can_connect\".over(\"env:{e}\").by(\"host\").last(3).count_by_status()"
                ),
            },
            Thresholds {
                critical: Some(2.0),
                warning: Some(1.0),
                ok: Some(1.0),
                ..Thresholds::default()
            },
            critical.clone(),
        )
        .text("The API hosts cannot connect to MongoDB Atlas. Check Atlas status and the access list.")
        .priority(1)
        .options(Options {
            notify_no_data: true,
            no_data_timeframe: Some(10),
            ..paging.clone()
        }),
    );
    add(
        "unhealthy-targets",
        Monitor::new(
            &name("More than 50% of load balancer targets unhealthy"),
            Query::Ratio {
                aggregation: Aggregation::Avg,
                window_minutes: 5,
                numerator: format!("avg:aws.applicationelb.un_healthy_host_count{{{aws}}}"),
                denominator: format!(
                    "avg:aws.applicationelb.un_healthy_host_count{{{aws}}} + avg:aws.applicationelb.healthy_host_count{{{aws}}}"
                ),
                percent: true,
                comparator: Comparator::Above,
            },
            Thresholds::critical(50.0).warning(25.0),
            critical.clone(),
        )
        .text("Half of the API instances fail the load balancer's health check.")
        .priority(1)
        .options(cloudwatch.clone()),
    );
    add(
        "error-rate",
        Monitor::new(
            &name("Error rate above 1% for 5 minutes"),
            Query::Ratio {
                aggregation: Aggregation::Sum,
                window_minutes: 5,
                numerator: format!("sum:trace.http.request.errors{{{apm}}}.as_count()"),
                denominator: format!("sum:trace.http.request.hits{{{apm}}}.as_count()"),
                percent: true,
                comparator: Comparator::Above,
            },
            Thresholds::critical(1.0).warning(0.5),
            critical.clone(),
        )
        .text("More than 1% of API requests failed over the last 5 minutes.")
        .priority(1)
        .options(Options {
            require_full_window: Some(true),
            ..paging.clone()
        }),
    );

    // Warning (Slack).
    add(
        "p95-latency",
        Monitor::new(
            &name("P95 response time above 500 ms"),
            Query::ApmLatency {
                percentile: Percentile::P95,
                operation: "http.request".into(),
                service: s.service.clone(),
                env: e.clone(),
                window_minutes: 10,
                comparator: Comparator::Above,
            },
            Thresholds::critical(0.5).warning(0.3),
            warning.clone(),
        )
        .text("The API's 95th percentile response time is above 500 ms (target 200 ms).")
        .priority(3),
    );
    add(
        "memory",
        Monitor::new(
            &name("Memory usage above 80%"),
            Query::Metric {
                aggregation: Aggregation::Avg,
                window_minutes: 5,
                expression: format!("avg:system.mem.pct_usable{{{aws}}} by {{host}}"),
                comparator: Comparator::Below,
            },
            Thresholds::critical(0.2).warning(0.3),
            warning.clone(),
        )
        .text("Less than 20% of memory is usable on an API host.")
        .priority(3),
    );
    add(
        "cpu",
        Monitor::new(
            &name("CPU usage above 80%"),
            Query::Metric {
                aggregation: Aggregation::Avg,
                window_minutes: 5,
                expression: format!("avg:aws.ec2.cpuutilization{{{aws}}} by {{host}}"),
                comparator: Comparator::Above,
            },
            Thresholds::critical(80.0).warning(70.0),
            warning.clone(),
        )
        .text("An API host's CPU is above 80%; auto-scaling should be adding capacity.")
        .priority(3)
        .options(cloudwatch.clone()),
    );
    add(
        "disk",
        Monitor::new(
            &name("Disk usage above 85%"),
            Query::Metric {
                aggregation: Aggregation::Max,
                window_minutes: 5,
                expression: format!("max:system.disk.in_use{{{aws}}} by {{host,device}}"),
                comparator: Comparator::Above,
            },
            Thresholds::critical(0.85).warning(0.75),
            warning.clone(),
        )
        .text("A disk of an API host is more than 85% full.")
        .priority(3),
    );
    let redis = &s.redis_scope;
    add(
        "cache-hit-rate",
        Monitor::new(
            &name("Redis cache hit rate below 90%"),
            Query::Ratio {
                aggregation: Aggregation::Sum,
                window_minutes: 15,
                numerator: format!("sum:redis.stats.keyspace_hits{{{redis}}}.as_count()"),
                denominator: format!(
                    "sum:redis.stats.keyspace_hits{{{redis}}}.as_count() + sum:redis.stats.keyspace_misses{{{redis}}}.as_count()"
                ),
                percent: true,
                comparator: Comparator::Below,
            },
            Thresholds::critical(90.0).warning(95.0),
            warning.clone(),
        )
        .text("Fewer than 90% of cache lookups hit.")
        .priority(4),
    );

    // Info (Slack).
    for (key, what, search) in [
        ("deployments", "Deployment completed", &s.deployment_events),
        ("scaling", "Auto-scaling event", &s.scaling_events),
        ("backups", "Backup completed", &s.backup_events),
    ] {
        add(
            key,
            Monitor::new(
                &name(what),
                Query::Events {
                    search: search.clone(),
                    window_minutes: 5,
                    comparator: Comparator::Above,
                },
                Thresholds::critical(0.0),
                info.clone(),
            )
            .text(&format!("{what}."))
            .priority(5),
        );
    }

    // SLOs.
    let latency = env.add(
        "latency",
        Slo::new(
            &name("API P95 latency under 200 ms"),
            Measure::TimeSlice {
                query: format!("p95:trace.http.request{{{apm}}}"),
                comparator: SliceComparator::Less,
                threshold: 0.2,
                interval_seconds: 300,
            },
            Targets::all(s.latency_target),
        )
        .description("Share of 5-minute slices whose P95 response time is under 200 ms."),
    );
    let errors = env.add(
        "errors",
        Slo::new(
            &name("API error rate under 0.1%"),
            Measure::Metric {
                good: format!(
                    "sum:trace.http.request.hits{{{apm}}}.as_count() - sum:trace.http.request.errors{{{apm}}}.as_count()"
                ),
                total: format!("sum:trace.http.request.hits{{{apm}}}.as_count()"),
            },
            Targets::all(s.errors_target),
        )
        .description("Share of API requests that did not fail."),
    );

    // Health checks.
    let health = env.add(
        "health",
        SyntheticTest::new(
            &name("API health check"),
            Check::Http {
                method: HttpMethod::Get,
                url: format!("https://{}/api/health", s.api_domain),
                assertions: vec![
                    HttpAssertion::StatusCodeIs(200),
                    HttpAssertion::ResponseTimeLessThan(2000),
                ],
            },
            s.locations.iter().cloned(),
            60,
            critical.clone(),
        )
        .text("/api/health fails from several locations: the API is down for users.")
        .alert_after(2.min(s.locations.len() as u32).max(1), 120),
    );
    let certificate = env.add(
        "certificate",
        SyntheticTest::new(
            &name("TLS certificate expires within 30 days"),
            Check::Ssl {
                host: s.api_domain.clone(),
                port: 443,
                assertions: vec![SslAssertion::CertificateExpiresInMoreThanDays(30)],
            },
            s.locations.iter().take(1).cloned(),
            3600,
            critical.clone(),
        )
        .text("The public certificate expires in less than 30 days and was not renewed."),
    );

    // The dashboard.
    let dashboard = env.add(
        "service",
        Dashboard::new(
            &name("MadPlan API"),
            [
                Show::Timeseries {
                    title: Some("Requests per second".into()),
                    series: vec![Series::bars(&format!(
                        "sum:trace.http.request.hits{{{apm}}}.as_rate()"
                    ))],
                    yaxis: None,
                    markers: vec![],
                },
                Show::Timeseries {
                    title: Some("P95 response time (s)".into()),
                    series: vec![Series::line(&format!("p95:trace.http.request{{{apm}}}"))],
                    yaxis: Some(YAxis {
                        min: Some("0".into()),
                        ..YAxis::default()
                    }),
                    markers: vec![Marker {
                        value: "y = 0.2".into(),
                        label: Some("target".into()),
                        display_type: Some("error dashed".into()),
                    }],
                },
                Show::QueryValue {
                    title: Some("Error rate (%)".into()),
                    query: format!(
                        "100 * sum:trace.http.request.errors{{{apm}}}.as_count() / sum:trace.http.request.hits{{{apm}}}.as_count()"
                    ),
                    aggregator: Some(Aggregator::Avg),
                    precision: Some(2),
                    unit: Some("%".into()),
                },
                Show::Timeseries {
                    title: Some("Auto-scaling group size".into()),
                    series: vec![Series::line(&format!(
                        "avg:aws.autoscaling.group_in_service_instances{{{aws}}}"
                    ))],
                    yaxis: None,
                    markers: vec![],
                },
                Show::Timeseries {
                    title: Some("Atlas connections".into()),
                    series: vec![Series::line(&format!(
                        "avg:mongodb.atlas.connections.current{{env:{e}}}"
                    ))],
                    yaxis: None,
                    markers: vec![],
                },
                Show::QueryValue {
                    title: Some("Redis hit rate (%)".into()),
                    query: format!(
                        "100 * sum:redis.stats.keyspace_hits{{{redis}}}.as_count() / (sum:redis.stats.keyspace_hits{{{redis}}}.as_count() + sum:redis.stats.keyspace_misses{{{redis}}}.as_count())"
                    ),
                    aggregator: Some(Aggregator::Avg),
                    precision: Some(1),
                    unit: Some("%".into()),
                },
                Show::Slo {
                    title: Some("P95 latency SLO".into()),
                    slo: (&latency).into_input(),
                    windows: vec![TimeWindow::Days7, TimeWindow::Days30, TimeWindow::Days90],
                    show_error_budget: true,
                    view_mode: Some(ViewMode::Overall),
                },
                Show::Slo {
                    title: Some("Error rate SLO".into()),
                    slo: (&errors).into_input(),
                    windows: vec![TimeWindow::Days7, TimeWindow::Days30, TimeWindow::Days90],
                    show_error_budget: true,
                    view_mode: Some(ViewMode::Overall),
                },
                Show::Note {
                    content: "Targets: P95 under 200 ms, errors under 0.1%. Alerts: critical pages PagerDuty and Slack; warnings and info go to Slack.".into(),
                },
            ],
        )
        .description("The MadPlan API: traffic, latency, errors, capacity, database and cache."),
    );

    let aws = s.aws.as_ref().map(|(account, role)| {
        env.add(
            "aws",
            AwsIntegration::new(account.clone(), role.as_str())
                .regions([String::from("us-east-1")]),
        )
    });

    Monitoring {
        pagerduty,
        slack,
        monitors,
        latency,
        errors,
        health,
        certificate,
        dashboard,
        aws,
    }
}
