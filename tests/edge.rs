//! WAF, logs, flow logs, the alert topic, alarms and Redis end to end
//! against moto, through the engine: apply, an empty plan, a drift of each
//! kind made with the raw SDK (reported field by field, then repaired), the
//! refresh's requests per kind, and a destroy that leaves nothing tagged.
//!
//! The load balancer these attach to is made here with the raw SDK (the
//! web tier's kinds are another issue); its ARN and CloudWatch dimensions
//! are given as literals.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use aws_config::SdkConfig;
use madplan::aws::Aws;
use madplan::aws::edge::{EdgeSpec, RedisSpec, observability, redis};
use madplan::aws::lb::{LoadBalancerDimension, TargetGroupDimension};
use madplan::aws::observability::alarm::seed;
use madplan::aws::observability::{LogGroup, Retention};
use madplan::core::plan::Action;
use madplan::core::{ApplyOptions, Environment, Plan, TAG_ENVIRONMENT};
use secrecy::SecretString;

/// A load balancer and target group made behind madplan's back, as the web
/// tier would.
#[derive(Clone, Debug)]
struct Lb {
    lb_arn: String,
    tg_arn: String,
}

async fn make_lb(conf: &SdkConfig, name: &str) -> Lb {
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(conf);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.90.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.90.{i}.0/24"))
            .availability_zone(format!("{}{zone}", conf.region().unwrap()))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let lb = elb
        .create_load_balancer()
        .name(name)
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let tg = elb
        .create_target_group()
        .name(name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(3000)
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    Lb {
        lb_arn: lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string(),
        tg_arn: tg.target_groups()[0]
            .target_group_arn()
            .unwrap()
            .to_string(),
    }
}

/// The seed's edge and observability for environment `name`
/// (`madplan::aws::edge::observability`) in front of `lb`, with `extra`
/// more alarms and log groups.
fn edge(name: &str, aws: &Aws, lb: &Lb, extra: usize) -> Environment {
    let (mut env, net) = common::network(name, aws, 2);
    let spec = EdgeSpec::builder()
        .vpc(net.vpc.clone())
        .load_balancer(lb.lb_arn.as_str())
        .load_balancer_dimension(LoadBalancerDimension::from_arn(&lb.lb_arn).unwrap())
        .target_group_dimension(TargetGroupDimension::from_arn(&lb.tg_arn).unwrap())
        .alert_email("alerts@madplan.com")
        .build();
    let edge = observability(&mut env, &spec);
    for i in 0..extra {
        env.add(
            &format!("p95-{i}"),
            seed::response_time_p95(
                &format!("madplan-{name}-p95-{i}"),
                spec.load_balancer_dimension.clone(),
                &edge.alerts,
            ),
        );
        env.add(
            &format!("extra-{i}"),
            LogGroup::builder()
                .name(format!("/madplan/{name}/extra-{i}"))
                .retention(Retention::Days7)
                .build(),
        );
    }
    env
}

fn state_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn output_of(path: &Path, address: &str, field: &str) -> String {
    state_json(path)["resources"][address]["outputs"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{address}.{field} not in state"))
        .to_string()
}

/// The changed resources of a plan, each with its changed fields.
fn changes(plan: &Plan) -> BTreeMap<String, (Action, Vec<String>)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            (
                c.address.to_string(),
                (c.action, c.fields.iter().map(|f| f.field.clone()).collect()),
            )
        })
        .collect()
}

/// Everything still carrying the environment's tag, by service.
async fn leftovers(conf: &SdkConfig, env: &str) -> BTreeMap<&'static str, usize> {
    let has_env = |tags: &BTreeMap<String, String>| {
        tags.get(TAG_ENVIRONMENT).map(String::as_str) == Some(env)
    };
    let mut out = BTreeMap::new();
    let logs = aws_sdk_cloudwatchlogs::Client::new(conf);
    let mut n = 0;
    for g in logs
        .describe_log_groups()
        .send()
        .await
        .unwrap()
        .log_groups()
    {
        let arn = g.arn().unwrap().trim_end_matches(":*");
        let t = logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let tags: BTreeMap<String, String> = t
            .tags()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        n += usize::from(has_env(&tags));
    }
    out.insert("log_group", n);
    let waf = aws_sdk_wafv2::Client::new(conf);
    let mut n = 0;
    for a in waf
        .list_web_acls()
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .unwrap()
        .web_acls()
    {
        let t = waf
            .list_tags_for_resource()
            .resource_arn(a.arn().unwrap())
            .send()
            .await
            .unwrap();
        let tags: BTreeMap<String, String> = t
            .tag_info_for_resource()
            .map(|i| {
                i.tag_list()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        n += usize::from(has_env(&tags));
    }
    out.insert("web_acl", n);
    let cw = aws_sdk_cloudwatch::Client::new(conf);
    let mut n = 0;
    for a in cw.describe_alarms().send().await.unwrap().metric_alarms() {
        let t = cw
            .list_tags_for_resource()
            .resource_arn(a.alarm_arn().unwrap())
            .send()
            .await
            .unwrap();
        let tags: BTreeMap<String, String> = t
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        n += usize::from(has_env(&tags));
    }
    out.insert("alarm", n);
    let sns = aws_sdk_sns::Client::new(conf);
    let mut n = 0;
    for t in sns.list_topics().send().await.unwrap().topics() {
        let tags: BTreeMap<String, String> = sns
            .list_tags_for_resource()
            .resource_arn(t.topic_arn().unwrap())
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        n += usize::from(has_env(&tags));
    }
    out.insert("topic", n);
    let iam = aws_sdk_iam::Client::new(conf);
    let roles = iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .send()
        .await
        .unwrap();
    out.insert(
        "role",
        roles
            .role_detail_list()
            .iter()
            .filter(|r| {
                r.tags()
                    .iter()
                    .any(|t| t.key() == TAG_ENVIRONMENT && t.value() == env)
            })
            .count(),
    );
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let flow = ec2
        .describe_flow_logs()
        .filter(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{TAG_ENVIRONMENT}"))
                .values(env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.insert("flow_log", flow.flow_logs().len());
    out
}

#[tokio::test]
async fn waf_logs_flow_logs_topic_alarms_apply_plan_drift_repair_destroy() {
    let name = common::unique("edge");
    let conf = common::sdk_config().await;
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let lb = make_lb(&conf, &format!("lb-{}", &name[5..])).await;

    let report = common::apply(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    // 11 network resources, 3 log groups, the role, the flow log, the ACL,
    // its association and logging, the topic, the subscription, 3 alarms.
    assert_eq!((report.created, report.updated, report.deleted), (24, 0, 0));

    // Nothing to do right after an apply.
    let reader = common::aws().await;
    let plan = common::plan(edge(&name, &reader, &lb, 0), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    println!("no-op plan requests: {:?}", reader.calls());

    // What was sent: the seed's rules, the redacted headers, the alarms.
    let waf = aws_sdk_wafv2::Client::new(&conf);
    let acl_id = output_of(&state, "aws.waf_web_acl.main", "id");
    let got = waf
        .get_web_acl()
        .name(format!("madplan-{name}"))
        .id(&acl_id)
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .unwrap();
    let live = got.web_acl().unwrap();
    assert_eq!(live.rules().len(), 6);
    let rate = live.rules()[0].statement().unwrap().rate_based_statement();
    let rate = rate.expect("the first rule is the rate limit");
    assert_eq!((rate.limit(), rate.evaluation_window_sec()), (2000, 300));
    assert!(live.default_action().unwrap().allow().is_some());
    let acl_arn = output_of(&state, "aws.waf_web_acl.main", "arn");
    let logging = waf
        .get_logging_configuration()
        .resource_arn(&acl_arn)
        .send()
        .await
        .unwrap();
    let redacted: BTreeSet<&str> = logging
        .logging_configuration()
        .unwrap()
        .redacted_fields()
        .iter()
        .filter_map(|f| f.single_header().map(|h| h.name()))
        .collect();
    assert_eq!(redacted, ["authorization", "cookie"].into());
    let for_lb = waf
        .get_web_acl_for_resource()
        .resource_arn(&lb.lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(for_lb.web_acl().map(|a| a.arn()), Some(acl_arn.as_str()));

    // Drift behind madplan's back, one per kind.
    // A WAF rule removed by hand (with the lock token, as WAF wants).
    let mut rules = live.rules().to_vec();
    rules.retain(|r| r.name() != "known-bad-inputs");
    waf.update_web_acl()
        .name(format!("madplan-{name}"))
        .id(&acl_id)
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .default_action(live.default_action().unwrap().clone())
        .set_rules(Some(rules))
        .visibility_config(live.visibility_config().unwrap().clone())
        .lock_token(got.lock_token().unwrap())
        .send()
        .await
        .unwrap();
    // The cookie header no longer redacted.
    let mut cfg = logging.logging_configuration().unwrap().clone();
    cfg.redacted_fields
        .as_mut()
        .unwrap()
        .retain(|f| f.single_header().map(|h| h.name()) != Some("cookie"));
    waf.put_logging_configuration()
        .logging_configuration(cfg)
        .send()
        .await
        .unwrap();
    // The association removed.
    waf.disassociate_web_acl()
        .resource_arn(&lb.lb_arn)
        .send()
        .await
        .unwrap();
    // A log group kept 7 days instead of 30.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    logs.put_retention_policy()
        .log_group_name(format!("/aws/ec2/madplan-{name}"))
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    // An alarm threshold raised to 2 s.
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let p95 = cw
        .describe_alarms()
        .alarm_names(format!("madplan-{name}-p95"))
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .clone();
    cw.put_metric_alarm()
        .alarm_name(p95.alarm_name().unwrap())
        .alarm_description(p95.alarm_description().unwrap())
        .namespace(p95.namespace().unwrap())
        .metric_name(p95.metric_name().unwrap())
        .set_dimensions(Some(p95.dimensions().to_vec()))
        .extended_statistic(p95.extended_statistic().unwrap())
        .period(p95.period().unwrap())
        .evaluation_periods(p95.evaluation_periods().unwrap())
        .threshold(2.0)
        .comparison_operator(p95.comparison_operator().unwrap().clone())
        .treat_missing_data(p95.treat_missing_data().unwrap())
        .set_alarm_actions(Some(p95.alarm_actions().to_vec()))
        .set_ok_actions(Some(p95.ok_actions().to_vec()))
        .send()
        .await
        .unwrap();
    // The delivery role's policy removed.
    let iam = aws_sdk_iam::Client::new(&conf);
    iam.delete_role_policy()
        .role_name(format!("madplan-{name}-flow-logs"))
        .policy_name("deliver-flow-logs")
        .send()
        .await
        .unwrap();
    // A tag added to the topic.
    let sns = aws_sdk_sns::Client::new(&conf);
    sns.tag_resource()
        .resource_arn(output_of(&state, "aws.sns_topic.alerts", "topic_arn"))
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key("owner")
                .value("someone")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // The email subscription removed.
    sns.unsubscribe()
        .subscription_arn(output_of(
            &state,
            "aws.sns_subscription.alerts-email",
            "subscription_arn",
        ))
        .send()
        .await
        .unwrap();
    // The flow log deleted.
    let ec2 = common::ec2().await;
    ec2.delete_flow_logs()
        .flow_log_ids(output_of(&state, "aws.flow_log.main", "flow_log_id"))
        .send()
        .await
        .unwrap();

    // The plan reports exactly that, field by field.
    let plan = common::plan(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    let got = changes(&plan);
    let expected: BTreeMap<String, (Action, Vec<String>)> = [
        ("aws.waf_web_acl.main", Action::Update, vec!["rules"]),
        ("aws.waf_logging.main", Action::Update, vec!["redacted"]),
        ("aws.waf_web_acl_association.alb", Action::Create, vec![]),
        ("aws.log_group.app", Action::Update, vec!["retention"]),
        (
            "aws.cloudwatch_alarm.p95",
            Action::Update,
            vec!["threshold"],
        ),
        (
            "aws.iam_role.flow-logs",
            Action::Update,
            vec!["inline_policies"],
        ),
        ("aws.sns_topic.alerts", Action::Update, vec!["tags"]),
        ("aws.flow_log.main", Action::Create, vec![]),
        ("aws.sns_subscription.alerts-email", Action::Create, vec![]),
    ]
    .into_iter()
    .map(|(a, action, f)| {
        (
            a.to_string(),
            (action, f.into_iter().map(str::to_string).collect()),
        )
    })
    .collect();
    assert_eq!(got, expected, "{}", plan.render());
    let human = plan.render();
    assert!(human.contains("known-bad-inputs"), "{human}");
    assert!(human.contains("\"cookie\""), "{human}");

    // Apply repairs it all; then nothing is left to do.
    let before = aws.calls();
    let report = common::apply(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (3, 6), "{report:?}");
    let sent = delta(&before, &aws.calls());
    // The ACL was read for its lock token, then updated once with it.
    assert_eq!(sent.get("UpdateWebACL"), Some(&1), "{sent:?}");
    assert_eq!(sent.get("PutRetentionPolicy"), Some(&1), "{sent:?}");
    assert_eq!(sent.get("PutMetricAlarm"), Some(&1), "{sent:?}");
    let live = waf
        .get_web_acl()
        .name(format!("madplan-{name}"))
        .id(&acl_id)
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .unwrap();
    assert_eq!(live.web_acl().unwrap().rules().len(), 6);
    let plan = common::plan(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Destroy leaves nothing tagged with the environment.
    let left = leftovers(&conf, &name).await;
    assert!(left.values().all(|&n| n > 0), "{left:?}");
    let report = common::destroy(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    assert_eq!(report.deleted, 24);
    let left = leftovers(&conf, &name).await;
    assert!(left.values().all(|&n| n == 0), "left behind: {left:?}");
    assert!(
        waf.get_web_acl_for_resource()
            .resource_arn(&lb.lb_arn)
            .send()
            .await
            .unwrap()
            .web_acl()
            .is_none()
    );
    assert_eq!(state_json(&state)["resources"], serde_json::json!({}));
}

/// The requests made between two snapshots of [`Aws::calls`].
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Requests of a no-op plan, in a region of its own (moto keeps regions
/// apart, so other tests' resources are not listed): list calls are the
/// same whatever the number of resources; tag reads, which these APIs
/// only offer one resource at a time, grow with the number of resources
/// of the kind and are sent concurrently.
#[tokio::test]
async fn refresh_requests_per_kind() {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(common::moto_url())
        .region(aws_sdk_ec2::config::Region::new("eu-west-3"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let aws = Aws::from_conf(&conf);
    let name = common::unique("calls");
    let lb = make_lb(&conf, &format!("lb-{}", &name[6..])).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut per_size = Vec::new();
    for extra in [0, 3] {
        common::apply(edge(&name, &aws, &lb, extra), &state)
            .await
            .unwrap();
        let reader = Aws::from_conf(&conf);
        let plan = common::plan(edge(&name, &reader, &lb, extra), &state)
            .await
            .unwrap();
        assert!(!plan.has_changes(), "{}", plan.render());
        println!(
            "no-op plan with {extra} extra alarms and log groups: {:?}",
            reader.calls()
        );
        per_size.push(reader.calls());
    }
    let (small, big) = (&per_size[0], &per_size[1]);
    // One list call per kind, whatever the size.
    for op in [
        "DescribeLogGroups",
        "DescribeAlarms",
        "ListWebACLs",
        "ListLoggingConfigurations",
        "ListTopics",
        "ListSubscriptions",
        "GetAccountAuthorizationDetails",
        "DescribeFlowLogs",
    ] {
        assert_eq!(small.get(op), Some(&1), "{op}: {small:?}");
        assert_eq!(big.get(op), Some(&1), "{op}: {big:?}");
    }
    // Per-resource reads: one per ACL (rules and tags), per association.
    assert_eq!(small.get("GetWebACL"), Some(&1), "{small:?}");
    assert_eq!(small.get("GetWebACLForResource"), Some(&1), "{small:?}");
    // Tags: one read per log group, alarm, topic and ACL of the region.
    assert_eq!(
        small.get("ListTagsForResource"),
        Some(&(3 + 3 + 1 + 1)),
        "{small:?}"
    );
    assert_eq!(
        big.get("ListTagsForResource"),
        Some(&(6 + 6 + 1 + 1)),
        "{big:?}"
    );
    common::destroy(edge(&name, &aws, &lb, 3), &state)
        .await
        .unwrap();
}

/// Redis (`madplan::aws::edge::redis`) and a network for it, with its
/// AUTH token at `token_version`.
fn redis_env(name: &str, aws: &Aws, token_version: &str, token: &str) -> Environment {
    let (mut env, net) = common::network(name, aws, 2);
    let secret = env.secret(
        "redis-auth",
        token_version,
        SecretString::from(token.to_string()),
    );
    redis(
        &mut env,
        &RedisSpec::builder()
            .vpc(net.vpc.clone())
            .private_subnets(net.private.clone())
            .app_group(net.app_group.clone())
            .auth_token(secret)
            .build(),
    );
    env
}

const TOKEN_1: &str = "first-token-0123456789";
const TOKEN_2: &str = "second-token-987654321";

#[tokio::test]
async fn redis_apply_plan_failover_drift_token_rotation() {
    let name = common::unique("redis");
    let id = format!("madplan-{name}");
    let conf = common::sdk_config().await;
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    let report = common::apply(redis_env(&name, &aws, "1", TOKEN_1), &state)
        .await
        .unwrap();
    assert_eq!(report.created, 14);
    let s = state_json(&state);
    let outputs = &s["resources"]["aws.elasticache_replication_group.main"]["outputs"];
    assert!(
        outputs["primary_endpoint"]
            .as_str()
            .unwrap()
            .contains(&name),
        "{outputs}"
    );
    // moto answers no ReaderEndpoint (AWS does; the mapping's unit test
    // reads it).
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(!text.contains(TOKEN_1), "the token went into state");

    let ec = aws_sdk_elasticache::Client::new(&conf);
    let live = ec
        .describe_replication_groups()
        .replication_group_id(&id)
        .send()
        .await
        .unwrap();
    let g = &live.replication_groups()[0];
    assert_eq!(g.member_clusters().len(), 2);
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(g.at_rest_encryption_enabled(), Some(true));
    assert_eq!(g.auth_token_enabled(), Some(true));

    let plan = common::plan(redis_env(&name, &aws, "1", TOKEN_1), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Automatic failover turned off by hand, and a tag put on the subnet
    // group.
    ec.modify_replication_group()
        .replication_group_id(&id)
        .automatic_failover_enabled(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    ec.add_tags_to_resource()
        .resource_name(output_of(
            &state,
            "aws.elasticache_subnet_group.cache",
            "arn",
        ))
        .tags(
            aws_sdk_elasticache::types::Tag::builder()
                .key("owner")
                .value("someone")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = common::plan(redis_env(&name, &aws, "1", TOKEN_1), &state)
        .await
        .unwrap();
    let expected: BTreeMap<String, (Action, Vec<String>)> = [
        (
            "aws.elasticache_replication_group.main".to_string(),
            (Action::Update, vec!["automatic_failover".to_string()]),
        ),
        (
            "aws.elasticache_subnet_group.cache".to_string(),
            (Action::Update, vec!["tags".to_string()]),
        ),
    ]
    .into();
    assert_eq!(changes(&plan), expected, "{}", plan.render());
    common::apply(redis_env(&name, &aws, "1", TOKEN_1), &state)
        .await
        .unwrap();
    let live = ec
        .describe_replication_groups()
        .replication_group_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.replication_groups()[0].automatic_failover(),
        Some(&aws_sdk_elasticache::types::AutomaticFailoverStatus::Enabled)
    );
    let plan = common::plan(redis_env(&name, &aws, "1", TOKEN_1), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // A new value of the token with the same version is invisible (AWS
    // never returns it); a new version rotates it.
    let plan = common::plan(redis_env(&name, &aws, "1", TOKEN_2), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let plan = common::plan(redis_env(&name, &aws, "2", TOKEN_2), &state)
        .await
        .unwrap();
    let expected: BTreeMap<String, (Action, Vec<String>)> = [(
        "aws.elasticache_replication_group.main".to_string(),
        (Action::Update, vec!["auth_token".to_string()]),
    )]
    .into();
    assert_eq!(changes(&plan), expected, "{}", plan.render());
    let rendered = format!("{}{}", plan.render(), serde_json::to_string(&plan).unwrap());
    assert!(!rendered.contains(TOKEN_2) && !rendered.contains(TOKEN_1));
    let before = aws.calls();
    common::apply(redis_env(&name, &aws, "2", TOKEN_2), &state)
        .await
        .unwrap();
    let sent = delta(&before, &aws.calls());
    assert_eq!(sent.get("ModifyReplicationGroup"), Some(&1), "{sent:?}");
    let plan = common::plan(redis_env(&name, &aws, "2", TOKEN_2), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(!text.contains(TOKEN_2), "the token went into state");

    // Destroy: moto never finishes deleting a replication group (it stays
    // "deleting"), so the wait for it to be gone gives up, leaving it in
    // state for the next apply; on AWS it finishes within minutes.
    let mut options = ApplyOptions::default();
    options.wait_timeouts.insert(
        "aws.elasticache_replication_group".into(),
        Duration::from_secs(1),
    );
    let engine = common::engine(redis_env(&name, &aws, "2", TOKEN_2), &state).with_options(options);
    let plan = engine.plan_destroy().await.unwrap();
    let err = engine.apply(&plan).await.unwrap_err().to_string();
    assert!(err.contains("deleting"), "{err}");
    let live = ec
        .describe_replication_groups()
        .replication_group_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(live.replication_groups()[0].status(), Some("deleting"));
    assert!(state_json(&state)["resources"]["aws.elasticache_replication_group.main"].is_object());
}

/// After a lost state, `state recover` adopts every tagged resource; the
/// kinds AWS gives no tags (the association, the logging configuration and
/// the subscription) are planned again, and making them again is
/// idempotent: nothing is duplicated.
#[tokio::test]
async fn a_lost_state_is_recovered_and_untagged_kinds_are_made_again_without_duplicates() {
    let name = common::unique("lost");
    let conf = common::sdk_config().await;
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let lb = make_lb(&conf, &format!("lb-{}", &name[5..])).await;
    common::apply(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    let topic = output_of(&state, "aws.sns_topic.alerts", "topic_arn");
    std::fs::remove_file(&state).unwrap();

    let engine = common::engine(edge(&name, &aws, &lb, 0), &state);
    let recovery = engine.recover_plan(None).await.unwrap();
    let mut adopted: Vec<String> = recovery
        .adopt
        .iter()
        .map(|f| f.foreign.address.to_string())
        .collect();
    adopted.sort();
    assert_eq!(adopted.len(), 21, "{adopted:#?}");
    assert_eq!(engine.recover(&recovery).await.unwrap(), 21);

    let plan = common::plan(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    let expected: BTreeMap<String, (Action, Vec<String>)> = [
        "aws.sns_subscription.alerts-email",
        "aws.waf_logging.main",
        "aws.waf_web_acl_association.alb",
    ]
    .into_iter()
    .map(|a| (a.to_string(), (Action::Create, vec![])))
    .collect();
    assert_eq!(changes(&plan), expected, "{}", plan.render());
    let before = aws.calls();
    let report = common::apply(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (3, 0));
    let sent = delta(&before, &aws.calls());
    assert!(
        !sent.keys().any(|k| k.starts_with("Create")),
        "nothing tagged is made again: {sent:?}"
    );
    let sns = aws_sdk_sns::Client::new(&conf);
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert_eq!(subs.subscriptions().len(), 1, "{subs:?}");
    let plan = common::plan(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    common::destroy(edge(&name, &aws, &lb, 0), &state)
        .await
        .unwrap();
    let left = leftovers(&conf, &name).await;
    assert!(left.values().all(|&n| n == 0), "left behind: {left:?}");
}
