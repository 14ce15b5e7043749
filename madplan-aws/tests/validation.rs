//! Invalid network configurations are all reported at once, naming the
//! resource and field, before any AWS call.

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use madplan_aws::Aws;
use madplan_aws::network::{
    AclAction, AclEntry, NetworkAcl, Peer, PortRange, Protocol, Rule, SecurityGroup, Subnet, Vpc,
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

#[tokio::test]
async fn every_problem_is_reported_together_without_api_calls() {
    let aws = offline_aws().await;
    let mut env = Environment::new("bad").with_provider(aws.clone());
    let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
    env.add("other", Vpc::builder().cidr("10.0.0.0/33").build());
    env.add("hostbits", Vpc::builder().cidr("10.1.2.3/16").build());
    env.add(
        "outside",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.1.0.0/24")
            .zone("us-east-1a")
            .build(),
    );
    env.add(
        "a",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.1.0/24")
            .zone("us-east-1a")
            .build(),
    );
    env.add(
        "b",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.1.128/25")
            .zone("us-east-1b")
            .build(),
    );
    env.add(
        "a",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.2.0/24")
            .zone("us-east-1a")
            .build(),
    );
    let x = env.reserve::<SecurityGroup>("x");
    let y = env.reserve::<SecurityGroup>("y");
    env.define(
        &x,
        SecurityGroup::builder()
            .name("x")
            .vpc(&vpc)
            .ingress([Rule::tcp(PortRange::port(443), Peer::group(&y))])
            .build(),
    );
    env.define(
        &y,
        SecurityGroup::builder()
            .name("y")
            .vpc(&vpc)
            .ingress([
                Rule::tcp(PortRange::port(443), Peer::group(&x)),
                Rule::tcp(PortRange::range(443, 80), Peer::cidr("0.0.0.0/0")),
                Rule::tcp(PortRange::port(70000), Peer::cidr("0.0.0.0/0")),
                Rule::tcp(PortRange::port(22), Peer::Ipv6("::/200".into())),
            ])
            .build(),
    );
    env.add(
        "acl",
        NetworkAcl::builder()
            .vpc(&vpc)
            .entries([
                AclEntry::ingress(100, AclAction::Allow, Protocol::Tcp, None, "0.0.0.0/0"),
                AclEntry::ingress(40000, AclAction::Allow, Protocol::All, None, "0.0.0.0/0"),
            ])
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
        "aws.vpc.other: cidr: \"10.0.0.0/33\" is not an IPv4 CIDR block",
        "aws.vpc.hostbits: cidr: \"10.1.2.3/16\" has host bits set; did you mean 10.1.0.0/16?",
        "aws.subnet.outside: cidr: 10.1.0.0/24 is not inside aws.vpc.main's block 10.0.0.0/16",
        "aws.subnet.b: cidr: 10.0.1.128/25 overlaps aws.subnet.a's block 10.0.1.0/24 in the same VPC",
        "aws.subnet.a: this address is declared twice",
        "reference cycle: aws.security_group.x -> aws.security_group.y -> aws.security_group.x",
        "aws.security_group.y: ingress: port range 443-80 starts after it ends",
        "aws.security_group.y: ingress: port range 70000-70000 is outside 0-65535",
        "aws.network_acl.acl: entries: entry 100 needs a port range for Tcp",
        "aws.network_acl.acl: entries: rule number 40000 is outside 1-32766",
        "aws.security_group.y: ingress: \"::/200\" is not an IPv6 CIDR block",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(problems.0.len(), 11, "{text}");
    assert_eq!(
        aws.total_calls(),
        0,
        "validation made API calls: {:?}",
        aws.calls()
    );
}
