//! The web tier of the deployment guide on top of the two-tier network: an
//! instance role, a launch template, an auto-scaling group in the private
//! subnets with the guide's scaling rules, and an internet-facing
//! Application Load Balancer redirecting HTTP to HTTPS and forwarding HTTPS
//! to the group, with an ACM certificate validated through DNS.
//!
//! The numbers of the guide live in [`WebTierSpec::production`], not in the
//! kinds: 2 to 10 instances, 3 to start with, health checks of
//! `/api/health` every 30 seconds, the six scaling rules.

use std::collections::BTreeMap;

use madplan_core::{Environment, Ref};
use typed_builder::TypedBuilder;

use super::{
    AutoScalingGroup, Certificate, HealthCheck, HealthCheckType, InstanceType, LatestAmi,
    LaunchTemplate, Listener, LoadBalancer, Metric, Scale, ScalingRule, TargetGroup,
    TargetGroupArnSuffix, TemplateVersion, UserData, minutes, pct, per_minute,
};
use crate::iam::{InstanceProfile, PolicyArn, PolicyDocument, Role, Statement};
use crate::network::blueprint::TwoTier;
use crate::web::AmiId;
use madplan_core::IntoInput;

/// Where the instances' image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// The newest image a public SSM parameter names, read at plan time.
    Latest(LatestAmi),
    /// A fixed AMI id.
    Fixed(String),
}

/// Which template version the group launches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Follow {
    /// `$Latest`: a template change reaches new instances without touching
    /// the group.
    #[default]
    Latest,
    /// The template's newest version number, updated in the group by the
    /// same apply (visible in the plan).
    Pinned,
}

/// The sizes of the auto-scaling group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The fewest instances.
    pub min: i32,
    /// How many to start with (the autoscaler's afterwards).
    pub desired: i32,
    /// The most instances.
    pub max: i32,
}

/// What the web tier looks like.
#[derive(Clone, Debug, TypedBuilder)]
pub struct WebTierSpec {
    /// The prefix of the AWS names (load balancer, target group, group,
    /// role...), e.g. the environment's name. Load balancer and target
    /// group names take 32 characters at most, suffix included.
    #[builder(setter(into))]
    pub prefix: String,
    /// The API's public name, e.g. `api.madplan.com`: the certificate's
    /// domain, and the name the HTTPS listener is reached by.
    #[builder(setter(into))]
    pub domain: String,
    /// Other names of the certificate.
    #[builder(default)]
    pub alternative_names: Vec<String>,
    /// The instances' image.
    #[builder(default = Image::Latest(LatestAmi::amazon_linux_2023()))]
    pub image: Image,
    /// The instance type.
    #[builder(setter(into))]
    pub instance_type: InstanceType,
    /// The group's sizes.
    pub capacity: Capacity,
    /// The application's port (the network's `app_port`).
    #[builder(default = 3000)]
    pub app_port: i32,
    /// The path of the health check.
    #[builder(default = "/api/health".into(), setter(into))]
    pub health_check_path: String,
    /// Seconds between health checks.
    #[builder(default = 30)]
    pub health_check_interval_seconds: i32,
    /// Seconds a deregistering instance keeps its requests in flight.
    #[builder(default = 30)]
    pub deregistration_delay_seconds: i32,
    /// Seconds after launch before health checks count.
    #[builder(default = 300)]
    pub health_check_grace_seconds: i32,
    /// Whether the load balancer refuses deletion.
    #[builder(default = false)]
    pub deletion_protection: bool,
    /// Idle connection timeout of the load balancer.
    #[builder(default = 60)]
    pub idle_timeout_seconds: i32,
    /// What the instances run at first boot.
    #[builder(default, setter(strip_option, into))]
    pub user_data: Option<UserData>,
    /// Which template version the group follows.
    #[builder(default)]
    pub follow: Follow,
    /// Whether the deployment guide's six scaling rules are added.
    #[builder(default = true)]
    pub seed_scaling: bool,
    /// Tags of the instances and their volumes, propagated by the group too.
    #[builder(default)]
    pub instance_tags: BTreeMap<String, String>,
}

impl WebTierSpec {
    /// The deployment guide's production web tier: 2 to 10 instances, 3 to
    /// start with; `/api/health` every 30 seconds; the six scaling rules;
    /// deletion protection on the load balancer.
    pub fn production(prefix: &str, domain: &str) -> Self {
        WebTierSpec::builder()
            .prefix(prefix)
            .domain(domain)
            .instance_type("t3.medium")
            .capacity(Capacity {
                min: 2,
                desired: 3,
                max: 10,
            })
            .deletion_protection(true)
            .instance_tags(BTreeMap::from([
                ("Environment".to_string(), prefix.to_string()),
                ("Project".to_string(), "madplan".to_string()),
            ]))
            .build()
    }
}

/// Handles to everything [`web_tier`] added.
#[derive(Clone, Debug)]
pub struct WebTier {
    /// The image lookup, when the image is the latest one.
    pub ami: Option<Ref<LatestAmi>>,
    /// The instances' role.
    pub role: Ref<Role>,
    /// Its instance profile.
    pub instance_profile: Ref<InstanceProfile>,
    /// The launch template.
    pub launch_template: Ref<LaunchTemplate>,
    /// The auto-scaling group.
    pub group: Ref<AutoScalingGroup>,
    /// The scaling rules.
    pub scaling_rules: Vec<Ref<ScalingRule>>,
    /// The target group.
    pub target_group: Ref<TargetGroup>,
    /// The load balancer.
    pub load_balancer: Ref<LoadBalancer>,
    /// Port 80, redirecting to HTTPS.
    pub http: Ref<Listener>,
    /// Port 443.
    pub https: Ref<Listener>,
    /// The certificate.
    pub certificate: Ref<Certificate>,
}

/// The deployment guide's scaling rules, by name suffix: scale out on CPU
/// above 70 % or memory above 80 % for 5 minutes, or more than 1000
/// requests a minute per instance; scale in on CPU below 20 % or memory
/// below 40 % for 10 minutes, or fewer than 100 requests a minute per
/// instance.
pub fn seed_rules(
    target_group: impl IntoInput<TargetGroupArnSuffix>,
) -> Vec<(&'static str, Scale)> {
    let tg = target_group.into_input();
    vec![
        (
            "cpu-out",
            Scale::out()
                .when(Metric::cpu().above(pct(70)).for_(minutes(5)))
                .by(1),
        ),
        (
            "memory-out",
            Scale::out()
                .when(Metric::memory().above(pct(80)).for_(minutes(5)))
                .by(1),
        ),
        (
            "requests-out",
            Scale::out()
                .when(Metric::requests_per_target(tg.clone()).above(per_minute(1000)))
                .by(1),
        ),
        (
            "cpu-in",
            Scale::in_()
                .when(Metric::cpu().below(pct(20)).for_(minutes(10)))
                .by(1),
        ),
        (
            "memory-in",
            Scale::in_()
                .when(Metric::memory().below(pct(40)).for_(minutes(10)))
                .by(1),
        ),
        (
            "requests-in",
            Scale::in_()
                .when(Metric::requests_per_target(tg).below(per_minute(100)))
                .by(1),
        ),
    ]
}

/// Adds the web tier to `env` on the network `net`.
pub fn web_tier(env: &mut Environment, net: &TwoTier, spec: &WebTierSpec) -> WebTier {
    let p = &spec.prefix;
    let role = env.add(
        "app",
        Role::builder()
            .name(format!("{p}-app"))
            .trust(PolicyDocument::trust_service("ec2.amazonaws.com"))
            .managed_policies([
                PolicyArn::cloudwatch_agent_server(),
                PolicyArn::ssm_managed_instance_core(),
            ])
            .inline_policies(BTreeMap::from([(
                "read-config".to_string(),
                PolicyDocument::new([Statement::allow([
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "ssm:GetParametersByPath",
                ])
                .on([format!("arn:aws:ssm:*:*:parameter/madplan/{p}/*")])]),
            )]))
            .build(),
    );
    let instance_profile = env.add(
        "app",
        InstanceProfile::builder()
            .name(format!("{p}-app"))
            .role(&role)
            .build(),
    );
    let (ami, image) = match &spec.image {
        Image::Latest(query) => {
            let ami = env.read("app", query.clone());
            let image: madplan_core::Input<AmiId> = (&ami).into_input();
            (Some(ami), image)
        }
        Image::Fixed(id) => (None, madplan_core::Input::Value(AmiId(id.clone()))),
    };
    let mut template = LaunchTemplate::builder()
        .name(format!("{p}-web"))
        .image(image)
        .instance_type(spec.instance_type.clone())
        .security_groups([&net.app_group])
        .instance_profile(&instance_profile)
        .instance_tags(spec.instance_tags.clone())
        .build();
    template.user_data = spec.user_data.clone();
    let launch_template = env.add("web", template);
    let target_group = env.add(
        "api",
        TargetGroup::builder()
            .name(format!("{p}-api"))
            .vpc(&net.vpc)
            .port(spec.app_port)
            .health_check(
                HealthCheck::builder()
                    .path(spec.health_check_path.clone())
                    .interval_seconds(spec.health_check_interval_seconds)
                    .build(),
            )
            .deregistration_delay_seconds(spec.deregistration_delay_seconds)
            .build(),
    );
    let group = env.add(
        "web",
        AutoScalingGroup::builder()
            .name(format!("{p}-web"))
            .launch_template(&launch_template)
            .version(match spec.follow {
                Follow::Latest => TemplateVersion::Latest,
                Follow::Pinned => TemplateVersion::pinned_to(&launch_template),
            })
            .min_size(spec.capacity.min)
            .max_size(spec.capacity.max)
            .desired_capacity(spec.capacity.desired)
            .subnets(net.private.iter())
            .target_groups([&target_group])
            .health_check(HealthCheckType::Elb)
            .health_check_grace_seconds(spec.health_check_grace_seconds)
            .tags(spec.instance_tags.clone())
            .build(),
    );
    let scaling_rules = if spec.seed_scaling {
        seed_rules(&target_group)
            .into_iter()
            .map(|(name, rule)| {
                env.add(
                    name,
                    ScalingRule::builder()
                        .name(format!("{p}-web-{name}"))
                        .group(&group)
                        .rule(rule)
                        .build(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let certificate = env.add(
        "api",
        Certificate::builder()
            .domain(spec.domain.clone())
            .alternative_names(spec.alternative_names.clone())
            .build(),
    );
    let load_balancer = env.add(
        "web",
        LoadBalancer::builder()
            .name(format!("{p}-web"))
            .subnets(net.public.iter())
            .security_groups([&net.lb_group])
            .deletion_protection(spec.deletion_protection)
            .idle_timeout_seconds(spec.idle_timeout_seconds)
            .build(),
    );
    let http = env.add("http", Listener::redirect_http_to_https(&load_balancer));
    let https = env.add(
        "https",
        Listener::https(
            &load_balancer,
            &certificate,
            &target_group,
            [spec.domain.clone()],
        ),
    );
    WebTier {
        ami,
        role,
        instance_profile,
        launch_template,
        group,
        scaling_rules,
        target_group,
        load_balancer,
        http,
        https,
        certificate,
    }
}
