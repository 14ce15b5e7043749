//! Invalid web-tier configurations are all reported at once, naming the
//! resource and field, before any AWS call; and the blueprint as shipped is
//! valid under the production baseline.

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use madplan_aws::Aws;
use madplan_aws::baseline::{Baseline, TlsVersion};
use madplan_aws::iam::{PolicyArn, PolicyDocument, Role, Statement};
use madplan_aws::network::blueprint::{NatGateways, TwoTierSpec, two_tier};
use madplan_aws::network::{ElasticIp, NatGateway, Vpc};
use madplan_aws::web::blueprint::{WebTierSpec, web_tier};
use madplan_aws::web::{
    AutoScalingGroup, Certificate, HealthCheck, HttpTokens, LaunchTemplate, Listener, LoadBalancer,
    MetadataOptions, Metric, RootVolume, Scale, ScalingRule, TargetGroup, TlsPolicy, minutes, pct,
    seconds,
};
use madplan_core::{Engine, Environment, Error, LocalStateStore};

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

fn net_spec(nat: NatGateways) -> TwoTierSpec {
    TwoTierSpec::builder()
        .cidr("10.0.0.0/16")
        .zones(vec![
            (
                "us-east-1a".into(),
                "10.0.0.0/24".into(),
                "10.0.100.0/24".into(),
            ),
            (
                "us-east-1b".into(),
                "10.0.1.0/24".into(),
                "10.0.101.0/24".into(),
            ),
        ])
        .nat(nat)
        .build()
}

async fn problems_of(env: Environment, aws: &Aws) -> (String, usize) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(env, LocalStateStore::new(dir.path().join("s.json")));
    let err = engine.plan().await.unwrap_err();
    let text = err.to_string();
    let Error::Invalid(problems) = &err else {
        panic!("expected validation errors: {text}")
    };
    assert_eq!(
        aws.total_calls(),
        0,
        "validation made API calls: {:?}",
        aws.calls()
    );
    (text, problems.0.len())
}

#[tokio::test]
async fn every_web_tier_problem_is_reported_together_without_api_calls() {
    let aws = offline_aws().await;
    let mut env = Environment::new("bad").with_provider(aws.clone());
    env.require(Baseline::production());
    let net = two_tier(&mut env, &net_spec(NatGateways::None));
    let other_vpc = env.add("other", Vpc::builder().cidr("10.1.0.0/16").build());

    // A NAT gateway in a private subnet.
    let eip = env.add("eip", ElasticIp::builder().build());
    env.add(
        "nat",
        NatGateway::builder()
            .subnet(&net.private[0])
            .elastic_ip(&eip)
            .build(),
    );
    // An inline policy without resources.
    env.add(
        "role",
        Role::builder()
            .name("bad-role")
            .trust(PolicyDocument::trust_service("ec2.amazonaws.com"))
            .managed_policies([PolicyArn::new("CloudWatchAgentServerPolicy")])
            .inline_policies(BTreeMap::from([(
                "logs".to_string(),
                PolicyDocument::new([Statement::allow(["logs:PutLogEvents"])]),
            )]))
            .build(),
    );
    // IMDSv1 and an unencrypted volume where the environment demands both.
    let template = env.add(
        "t",
        LaunchTemplate::builder()
            .name("bad-template")
            .image("ami-12345678")
            .instance_type("t3.small")
            .metadata(
                MetadataOptions::builder()
                    .http_tokens(HttpTokens::Optional)
                    .build(),
            )
            .root_volume(RootVolume::builder().encrypted(false).build())
            .build(),
    );
    // A health check path without '/', a threshold out of range; the
    // target group in another VPC than the group's subnets.
    let tg = env.add(
        "tg",
        TargetGroup::builder()
            .name("bad-tg")
            .vpc(&other_vpc)
            .port(3000)
            .health_check(
                HealthCheck::builder()
                    .path("api/health")
                    .healthy_threshold(1)
                    .build(),
            )
            .build(),
    );
    // min > desired, and public subnets.
    let group = env.add(
        "g",
        AutoScalingGroup::builder()
            .name("bad-group")
            .launch_template(&template)
            .min_size(3)
            .desired_capacity(2)
            .max_size(10)
            .subnets(net.public.iter())
            .target_groups([&tg])
            .build(),
    );
    // A period CloudWatch refuses, and a span over a day.
    env.add(
        "odd-period",
        ScalingRule::builder()
            .name("bad-odd-period")
            .group(&group)
            .rule(
                Scale::out()
                    .when(
                        Metric::cpu()
                            .above(pct(70))
                            .every(seconds(90))
                            .for_(seconds(270)),
                    )
                    .by(1),
            )
            .build(),
    );
    env.add(
        "too-long",
        ScalingRule::builder()
            .name("bad-too-long")
            .group(&group)
            .rule(
                Scale::in_()
                    .when(
                        Metric::cpu()
                            .below(pct(20))
                            .every(minutes(60))
                            .for_(minutes(25 * 60)),
                    )
                    .by(1),
            )
            .build(),
    );
    // A load balancer in one (private) subnet.
    let lb = env.add(
        "lb",
        LoadBalancer::builder()
            .name("bad-lb")
            .subnets([&net.private[0]])
            .security_groups([&net.lb_group])
            .build(),
    );
    // A certificate for another name than the listener's, and a policy
    // that accepts TLS 1.0 where the floor is 1.2.
    let cert = env.add(
        "cert",
        Certificate::builder().domain("www.example.com").build(),
    );
    env.add(
        "https",
        Listener::https(&lb, &cert, &tg, ["api.example.com"])
            .with_tls_policy(TlsPolicy::Tls10To12_2016),
    );

    let (text, count) = problems_of(env, &aws).await;
    for expected in [
        "aws.nat_gateway.nat: subnet: aws.subnet.private-1a is private: a public NAT gateway must sit in a public subnet",
        "aws.iam_role.role: managed_policies: \"CloudWatchAgentServerPolicy\" is not a policy ARN",
        "aws.iam_role.role: inline_policies: logs: statement 1 needs resources or not_resources",
        "aws.launch_template.t: metadata: this environment requires IMDSv2, but the template allows IMDSv1",
        "aws.launch_template.t: root_volume: this environment requires encrypted volumes, but the root volume is not encrypted",
        "aws.target_group.tg: health_check: the path \"api/health\" must start with '/'",
        "aws.target_group.tg: health_check: a healthy threshold of 1 is outside 2-10",
        "aws.autoscaling_group.g: desired_capacity: min 3 <= desired 2 <= max 10 does not hold",
        "aws.autoscaling_group.g: subnets: aws.subnet.public-1a is public",
        "aws.autoscaling_group.g: subnets: aws.subnet.public-1b is public",
        "aws.autoscaling_group.g: target_groups: aws.target_group.tg is in another VPC than the group's subnets",
        "aws.scaling_rule.odd-period: rule: a period of 90 s: CloudWatch takes multiples of 60 s",
        "aws.scaling_rule.too-long: rule: 25 periods of 3600 s span 90000 s; CloudWatch evaluates at most one day",
        "aws.load_balancer.lb: subnets: aws.subnet.private-1a is private, but the load balancer is internet-facing",
        "aws.load_balancer.lb: subnets: 1 subnet(s): an Application Load Balancer needs subnets in two zones or more",
        "aws.listener.https: tls_policy: ELBSecurityPolicy-2016-08 accepts TLS 1.0, below this environment's floor of TLS 1.2",
        "aws.listener.https: host_names: api.example.com is not covered by aws.certificate.cert (www.example.com)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(count, 17, "{text}");
}

#[tokio::test]
async fn the_floor_is_the_environments_choice() {
    // The same TLS 1.0 listener is fine where the environment sets no
    // floor, and refused where the floor is 1.3 for a 1.2 policy.
    for (baseline, policy, refused) in [
        (None, TlsPolicy::Tls10To12_2016, false),
        (
            Some(Baseline::none().tls_floor(TlsVersion::V1_3)),
            TlsPolicy::Tls12And13,
            true,
        ),
        (
            Some(Baseline::none().tls_floor(TlsVersion::V1_3)),
            TlsPolicy::Tls13Only,
            false,
        ),
    ] {
        let aws = offline_aws().await;
        let mut env = Environment::new("floor").with_provider(aws.clone());
        if let Some(b) = baseline {
            env.require(b);
        }
        let net = two_tier(&mut env, &net_spec(NatGateways::None));
        let tg = env.add(
            "tg",
            TargetGroup::builder()
                .name("tg")
                .vpc(&net.vpc)
                .port(3000)
                .health_check(HealthCheck::builder().path("/api/health").build())
                .build(),
        );
        let lb = env.add(
            "lb",
            LoadBalancer::builder()
                .name("lb")
                .subnets(net.public.iter())
                .security_groups([&net.lb_group])
                .build(),
        );
        let cert = env.add(
            "cert",
            Certificate::builder().domain("*.example.com").build(),
        );
        env.add(
            "https",
            Listener::https(&lb, &cert, &tg, ["api.example.com"]).with_tls_policy(policy.clone()),
        );
        let result = env.validate();
        assert_eq!(result.is_err(), refused, "{policy:?}: {result:?}");
        assert_eq!(aws.total_calls(), 0);
    }
}

#[tokio::test]
async fn the_production_blueprint_is_valid_under_the_production_baseline() {
    let aws = offline_aws().await;
    let mut env = Environment::new("production").with_provider(aws.clone());
    env.require(Baseline::production());
    let net = two_tier(&mut env, &net_spec(NatGateways::PerZone));
    let web = web_tier(
        &mut env,
        &net,
        &WebTierSpec::production("production", "api.madplan.com"),
    );
    env.validate().unwrap();
    assert_eq!(web.scaling_rules.len(), 6);
    assert_eq!(aws.total_calls(), 0);
    // The guide's numbers are the production blueprint's, not the kind's.
    let spec = WebTierSpec::production("production", "api.madplan.com");
    assert_eq!(
        (spec.capacity.min, spec.capacity.desired, spec.capacity.max),
        (2, 3, 10)
    );
    assert_eq!(spec.health_check_path, "/api/health");
    assert_eq!(spec.health_check_interval_seconds, 30);
    assert!(spec.deletion_protection);
}
