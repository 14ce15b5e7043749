//! Invalid WAF, logging, alarm and cache configurations are all reported at
//! once, naming the resource and field, before any AWS call.

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use madplan_aws::Aws;
use madplan_aws::cache::{CacheSubnetGroup, RedisVersion, ReplicationGroup};
use madplan_aws::network::{Peer, PortRange, Rule, SecurityGroup, Subnet, Vpc};
use madplan_aws::observability::alarm::seed;
use madplan_aws::observability::{LogGroup, Retention};
use madplan_aws::waf::{
    AwsManagedGroup, Logging, ManagedRules, RateLimit, RuleAction, RuleKind, Visibility, WafRule,
    WebAcl, Window, seed_rules,
};
use madplan_core::{Engine, Environment, Error, IntoInput, LocalStateStore};
use secrecy::SecretString;

async fn offline_aws() -> Aws {
    // Nothing listens on port 9 (discard): any call would fail loudly.
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    Aws::from_conf(&conf)
}

fn rate(priority: u32, limit: u64) -> WafRule {
    WafRule::new(
        &format!("rate-{priority}-{limit}"),
        priority,
        RuleKind::RateLimit {
            limit: RateLimit::per_ip(limit).per(Window::FiveMinutes),
            action: RuleAction::Block,
        },
    )
}

fn managed(name: &str, priority: u32, group: AwsManagedGroup) -> WafRule {
    WafRule::new(name, priority, RuleKind::Managed(ManagedRules::aws(group)))
}

#[tokio::test]
async fn every_problem_is_reported_together_without_api_calls() {
    let aws = offline_aws().await;
    let mut env = Environment::new("bad").with_provider(aws.clone());

    // WAF: a duplicate priority, one out of order, a rate limit below 10.
    env.add(
        "acl",
        WebAcl::builder()
            .name("bad")
            .rules(vec![
                rate(10, 2000),
                managed("sqli", 10, AwsManagedGroup::Sqli),
                managed("common", 5, AwsManagedGroup::Common),
                rate(40, 9),
            ])
            .visibility(Visibility::on("bad"))
            .build(),
    );
    let good_acl = env.add(
        "good",
        WebAcl::builder()
            .name("good")
            .rules(seed_rules("good"))
            .visibility(Visibility::on("good"))
            .build(),
    );
    // WAF logging to a log group whose name WAF refuses.
    let app_logs = env.add(
        "app",
        LogGroup::builder()
            .name("/aws/ec2/madplan-bad")
            .retention(Retention::Days30)
            .build(),
    );
    env.add(
        "to-app-logs",
        Logging::builder()
            .web_acl(&good_acl)
            .destination(&app_logs)
            .build(),
    );
    env.add(
        "to-an-arn",
        Logging::builder()
            .web_acl(&good_acl)
            .destination("arn:aws:logs:us-east-1:1:log-group:waf")
            .build(),
    );
    // An alarm period that is not a multiple of 60.
    let mut alarm = seed::response_time_p95(
        "p95",
        "app/web/1",
        "arn:aws:sns:us-east-1:1:alerts".into_input(),
    );
    alarm.period = 90;
    env.add("p95", alarm);

    // Redis: a node type written wrong, a group open to the world and to a
    // second group, a token without encryption in transit, a subnet group
    // with a public subnet all in one zone.
    let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
    let public = env.add(
        "public",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.1.0/24")
            .zone("us-east-1a")
            .public(true)
            .build(),
    );
    let private = env.add(
        "private",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.2.0/24")
            .zone("us-east-1a")
            .build(),
    );
    let app = env.add(
        "app",
        SecurityGroup::builder().name("app").vpc(&vpc).build(),
    );
    let lb = env.add("lb", SecurityGroup::builder().name("lb").vpc(&vpc).build());
    let redis_sg = env.add(
        "redis",
        SecurityGroup::builder()
            .name("redis")
            .vpc(&vpc)
            .ingress([
                Rule::tcp(PortRange::port(6379), Peer::group(&app)),
                Rule::tcp(PortRange::port(6379), Peer::group(&lb)),
                Rule::tcp(PortRange::port(6379), Peer::cidr("0.0.0.0/0")),
            ])
            .build(),
    );
    let subnets = env.add(
        "cache",
        CacheSubnetGroup::builder()
            .name("cache")
            .subnets([(&public).into_input(), (&private).into_input()])
            .build(),
    );
    let token = env.secret("redis", "1", SecretString::from("0123456789abcdef-token"));
    env.add(
        "main",
        ReplicationGroup::builder()
            .id("cache")
            .node_type("cache.t4g.huge")
            .engine_version(RedisVersion::V7_1)
            .zones(["us-east-1a", "us-east-1b"])
            .subnet_group(&subnets)
            .security_groups([(&redis_sg).into_input()])
            .transit_encryption(false)
            .auth_token(token)
            .build(),
    );

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(env, LocalStateStore::new(dir.path().join("s.json")));
    let err = engine.plan().await.unwrap_err();
    let text = err.to_string();
    let Error::Invalid(problems) = &err else {
        panic!("expected validation errors: {text}")
    };
    for expected in [
        "aws.waf_web_acl.acl: rules[1]: \"sqli\" has the priority 10 of \"rate-10-2000\"",
        "aws.waf_web_acl.acl: rules[2]: \"common\" (priority 5) comes after \"sqli\" (priority 10)",
        "aws.waf_web_acl.acl: rules[3]: a rate limit of 9 is outside what WAF accepts (10 to 2000000000)",
        "aws.waf_logging.to-app-logs: destination: WAF only logs to a log group whose name starts with \"aws-waf-logs-\"; aws.log_group.app is named \"/aws/ec2/madplan-bad\"",
        "aws.waf_logging.to-an-arn: destination: WAF only logs to a log group whose name starts with \"aws-waf-logs-\"",
        "aws.cloudwatch_alarm.p95: period: a period of 90 s is not a multiple of 60",
        "aws.elasticache_replication_group.main: node_type: \"cache.t4g.huge\": \"huge\" is not a size of the t4g family",
        "aws.elasticache_replication_group.main: security_groups: aws.security_group.redis lets the block 0.0.0.0/0 in",
        "aws.elasticache_replication_group.main: security_groups: aws.security_group.redis lets 2 groups in",
        "aws.elasticache_replication_group.main: auth_token: an AUTH token needs encryption in transit",
        "aws.elasticache_subnet_group.cache: subnets: aws.subnet.public is public",
        "aws.elasticache_subnet_group.cache: subnets: every subnet is in us-east-1a: failover needs two zones",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(problems.0.len(), 12, "{text}");
    assert_eq!(
        aws.total_calls(),
        0,
        "validation made API calls: {:?}",
        aws.calls()
    );
}

#[test]
fn closed_types_refuse_what_the_api_refuses() {
    // A retention or a window the API does not accept cannot be written
    // in code (the enums are closed); values read at run time are checked.
    let e = Retention::from_days(31).unwrap_err();
    assert!(e.contains("does not accept a retention of 31 days"), "{e}");
    assert!(serde_json::from_value::<Window>(serde_json::json!("three_minutes")).is_err());
    assert!(serde_json::from_value::<RedisVersion>(serde_json::json!("7.3")).is_err());
}
