//! The WAFv2 web ACL (scope `REGIONAL`, for a load balancer) and its rules
//! as typed values.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_wafv2::types::{
    AllowAction, AwsManagedRulesBotControlRuleSet, BlockAction, CountAction, FallbackBehavior,
    ForwardedIpConfig, InspectionLevel, ManagedRuleGroupConfig, ManagedRuleGroupStatement,
    NoneAction, OverrideAction, RateBasedStatement, RateBasedStatementAggregateKeyType, Rule,
    RuleAction as ApiRuleAction, RuleActionOverride, Scope, Statement, Tag, VisibilityConfig,
};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::WebAclArn;
use crate::Aws;
use crate::network::gone_is_done;
use crate::support::{
    READS_AT_ONCE, all_tags, aws_error, build_error, claim, has_code, tag_changes, user_tags,
};

/// The lowest rate limit WAF accepts.
pub const MIN_RATE_LIMIT: u64 = 10;
/// The highest rate limit WAF accepts.
pub const MAX_RATE_LIMIT: u64 = 2_000_000_000;

/// The window a rate-based rule counts requests over: the four values WAF
/// accepts (`EvaluationWindowSec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// 60 seconds.
    OneMinute,
    /// 120 seconds.
    TwoMinutes,
    /// 300 seconds (WAF's default; the seed's "per 5 minutes").
    FiveMinutes,
    /// 600 seconds.
    TenMinutes,
}

impl Window {
    /// The window in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Window::OneMinute => 60,
            Window::TwoMinutes => 120,
            Window::FiveMinutes => 300,
            Window::TenMinutes => 600,
        }
    }

    fn from_seconds(s: i64) -> Option<Window> {
        [
            Window::OneMinute,
            Window::TwoMinutes,
            Window::FiveMinutes,
            Window::TenMinutes,
        ]
        .into_iter()
        .find(|w| w.seconds() == s)
    }
}

/// What a WAF fallback does when the forwarded address header is missing
/// or not an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The request counts as matching.
    Match,
    /// The request does not match.
    NoMatch,
}

/// Whom a rate limit counts requests of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKey {
    /// The client address the load balancer sees (the seed: "per IP").
    Ip,
    /// The address in a forwarding header (behind a CDN that sets it).
    ForwardedIp {
        /// The header, e.g. `X-Forwarded-For`.
        header: String,
        /// What a request without a usable header does.
        fallback: Fallback,
    },
}

/// A rate limit: at most `limit` requests per `window` per `key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u64,
    /// The window.
    pub window: Window,
    /// Whose requests are counted together.
    pub key: AggregateKey,
}

impl RateLimit {
    /// `limit` requests per client IP, over five minutes unless
    /// [`RateLimit::per`] says otherwise.
    pub fn per_ip(limit: u64) -> Self {
        Self {
            limit,
            window: Window::FiveMinutes,
            key: AggregateKey::Ip,
        }
    }

    /// The same limit over `window`.
    #[must_use]
    pub fn per(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// The statement WAF takes.
    pub fn to_api(&self) -> Result<RateBasedStatement, ProviderError> {
        let mut b = RateBasedStatement::builder()
            .limit(self.limit as i64)
            .evaluation_window_sec(self.window.seconds());
        b = match &self.key {
            AggregateKey::Ip => b.aggregate_key_type(RateBasedStatementAggregateKeyType::Ip),
            AggregateKey::ForwardedIp { header, fallback } => b
                .aggregate_key_type(RateBasedStatementAggregateKeyType::ForwardedIp)
                .forwarded_ip_config(
                    ForwardedIpConfig::builder()
                        .header_name(header)
                        .fallback_behavior(match fallback {
                            Fallback::Match => FallbackBehavior::Match,
                            Fallback::NoMatch => FallbackBehavior::NoMatch,
                        })
                        .build()
                        .map_err(build_error)?,
                ),
        };
        b.build().map_err(build_error)
    }

    fn from_api(s: &RateBasedStatement) -> Option<Self> {
        let key = match s.aggregate_key_type() {
            RateBasedStatementAggregateKeyType::Ip => AggregateKey::Ip,
            RateBasedStatementAggregateKeyType::ForwardedIp => {
                let c = s.forwarded_ip_config()?;
                AggregateKey::ForwardedIp {
                    header: c.header_name().to_string(),
                    fallback: match c.fallback_behavior() {
                        FallbackBehavior::Match => Fallback::Match,
                        _ => Fallback::NoMatch,
                    },
                }
            }
            _ => return None,
        };
        Some(Self {
            limit: s.limit().max(0) as u64,
            // WAF's default when the window is not given.
            window: Window::from_seconds(s.evaluation_window_sec()).unwrap_or(Window::FiveMinutes),
            key,
        })
    }
}

/// What a rule does with a request it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Refuse it (403).
    Block,
    /// Only count it (to try a rule out).
    Count,
    /// Let it through.
    Allow,
}

impl RuleAction {
    fn to_api(self) -> ApiRuleAction {
        let b = ApiRuleAction::builder();
        match self {
            RuleAction::Block => b.block(BlockAction::builder().build()),
            RuleAction::Count => b.count(CountAction::builder().build()),
            RuleAction::Allow => b.allow(AllowAction::builder().build()),
        }
        .build()
    }

    fn from_api(a: &ApiRuleAction) -> Option<Self> {
        if a.block().is_some() {
            Some(RuleAction::Block)
        } else if a.count().is_some() {
            Some(RuleAction::Count)
        } else if a.allow().is_some() {
            Some(RuleAction::Allow)
        } else {
            None
        }
    }
}

/// How bot control inspects requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotInspection {
    /// Self-identifying bots (the lower-cost level).
    Common,
    /// Also bots that hide, by fingerprinting and challenges.
    Targeted,
}

/// The AWS managed rule groups the seed names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsManagedGroup {
    /// `AWSManagedRulesCommonRuleSet`: common attacks, XSS among them.
    Common,
    /// `AWSManagedRulesSQLiRuleSet`: SQL injection.
    Sqli,
    /// `AWSManagedRulesKnownBadInputsRuleSet`: request patterns known to be
    /// malicious (Log4j, ...).
    KnownBadInputs,
    /// `AWSManagedRulesAmazonIpReputationList`: addresses Amazon's threat
    /// intelligence lists.
    AmazonIpReputation,
    /// `AWSManagedRulesBotControlRuleSet`, at an inspection level.
    BotControl(BotInspection),
}

impl AwsManagedGroup {
    /// The group's name in WAF.
    pub fn name(self) -> &'static str {
        match self {
            AwsManagedGroup::Common => "AWSManagedRulesCommonRuleSet",
            AwsManagedGroup::Sqli => "AWSManagedRulesSQLiRuleSet",
            AwsManagedGroup::KnownBadInputs => "AWSManagedRulesKnownBadInputsRuleSet",
            AwsManagedGroup::AmazonIpReputation => "AWSManagedRulesAmazonIpReputationList",
            AwsManagedGroup::BotControl(_) => "AWSManagedRulesBotControlRuleSet",
        }
    }
}

/// An AWS managed rule group, with rules whose action is overridden.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedRules {
    /// The group.
    pub group: AwsManagedGroup,
    /// Rules of the group whose action is replaced, by name (e.g.
    /// `SizeRestrictions_BODY` counted instead of blocked, for uploads).
    pub overrides: BTreeMap<String, RuleAction>,
    /// Whether the whole group only counts (its rules' own actions
    /// otherwise).
    pub count_only: bool,
}

impl ManagedRules {
    /// `group` with its rules' own actions.
    pub fn aws(group: AwsManagedGroup) -> Self {
        Self {
            group,
            overrides: BTreeMap::new(),
            count_only: false,
        }
    }

    /// Counts the rule `name` of the group instead of applying its action.
    #[must_use]
    pub fn count(mut self, name: &str) -> Self {
        self.overrides.insert(name.to_string(), RuleAction::Count);
        self
    }

    /// The statement WAF takes.
    pub fn to_api(&self) -> Result<ManagedRuleGroupStatement, ProviderError> {
        let mut b = ManagedRuleGroupStatement::builder()
            .vendor_name("AWS")
            .name(self.group.name());
        for (rule, action) in &self.overrides {
            b = b.rule_action_overrides(
                RuleActionOverride::builder()
                    .name(rule)
                    .action_to_use(action.to_api())
                    .build()
                    .map_err(build_error)?,
            );
        }
        if let AwsManagedGroup::BotControl(level) = self.group {
            b = b.managed_rule_group_configs(
                ManagedRuleGroupConfig::builder()
                    .aws_managed_rules_bot_control_rule_set(
                        AwsManagedRulesBotControlRuleSet::builder()
                            .inspection_level(match level {
                                BotInspection::Common => InspectionLevel::Common,
                                BotInspection::Targeted => InspectionLevel::Targeted,
                            })
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
        }
        b.build().map_err(build_error)
    }

    fn from_api(s: &ManagedRuleGroupStatement, count_only: bool) -> Option<Self> {
        if s.vendor_name() != "AWS" {
            return None;
        }
        let level = s
            .managed_rule_group_configs()
            .iter()
            .find_map(|c| c.aws_managed_rules_bot_control_rule_set())
            .map(|b| match b.inspection_level() {
                InspectionLevel::Targeted => BotInspection::Targeted,
                _ => BotInspection::Common,
            });
        let group = match s.name() {
            "AWSManagedRulesCommonRuleSet" => AwsManagedGroup::Common,
            "AWSManagedRulesSQLiRuleSet" => AwsManagedGroup::Sqli,
            "AWSManagedRulesKnownBadInputsRuleSet" => AwsManagedGroup::KnownBadInputs,
            "AWSManagedRulesAmazonIpReputationList" => AwsManagedGroup::AmazonIpReputation,
            "AWSManagedRulesBotControlRuleSet" => {
                AwsManagedGroup::BotControl(level.unwrap_or(BotInspection::Common))
            }
            _ => return None,
        };
        Some(Self {
            group,
            overrides: s
                .rule_action_overrides()
                .iter()
                .filter_map(|o| {
                    Some((
                        o.name().to_string(),
                        RuleAction::from_api(o.action_to_use()?)?,
                    ))
                })
                .collect(),
            count_only,
        })
    }
}

/// What a rule inspects, and what it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A rate-based rule and the action on requests over the limit.
    RateLimit {
        /// The limit.
        limit: RateLimit,
        /// What happens over it.
        action: RuleAction,
    },
    /// An AWS managed rule group.
    Managed(ManagedRules),
    /// A rule madplan does not model, as WAF describes it (a rule added by
    /// hand shows as this, so it is drift; it cannot be written).
    Unmodelled(String),
}

/// CloudWatch metrics and sampled requests of a rule or of the ACL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// The CloudWatch metric name.
    pub metric_name: String,
    /// Whether metrics go to CloudWatch.
    pub cloudwatch_metrics: bool,
    /// Whether WAF keeps samples of matching requests.
    pub sampled_requests: bool,
}

impl Visibility {
    /// Metrics and samples on, under `metric_name`.
    pub fn on(metric_name: impl Into<String>) -> Self {
        Self {
            metric_name: metric_name.into(),
            cloudwatch_metrics: true,
            sampled_requests: true,
        }
    }

    fn to_api(&self) -> Result<VisibilityConfig, ProviderError> {
        VisibilityConfig::builder()
            .metric_name(&self.metric_name)
            .cloud_watch_metrics_enabled(self.cloudwatch_metrics)
            .sampled_requests_enabled(self.sampled_requests)
            .build()
            .map_err(build_error)
    }

    fn from_api(v: &VisibilityConfig) -> Self {
        Self {
            metric_name: v.metric_name().to_string(),
            cloudwatch_metrics: v.cloud_watch_metrics_enabled(),
            sampled_requests: v.sampled_requests_enabled(),
        }
    }

    fn check(&self, field: &str, problems: &mut Vec<Problem>) {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let m = &self.metric_name;
        if m.is_empty()
            || m.len() > 128
            || !m.chars().all(ok)
            || m == "All"
            || m == "Default_Action"
        {
            problems.push(problem(
                field,
                format!("{m:?} is not a WAF metric name"),
                Some("1 to 128 letters, digits, '-' and '_'; not All nor Default_Action"),
            ));
        }
    }
}

/// One rule of a web ACL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WafRule {
    /// The rule's name, unique in the ACL.
    pub name: String,
    /// Its priority: rules run from the lowest up.
    pub priority: u32,
    /// What it does.
    pub kind: RuleKind,
    /// Its metrics.
    pub visibility: Visibility,
}

impl WafRule {
    /// A rule named `name` at `priority`, with metrics under its name.
    pub fn new(name: &str, priority: u32, kind: RuleKind) -> Self {
        Self {
            name: name.to_string(),
            priority,
            kind,
            visibility: Visibility::on(name),
        }
    }

    /// The rule WAF takes.
    pub fn to_api(&self) -> Result<Rule, ProviderError> {
        let b = Rule::builder()
            .name(&self.name)
            .priority(self.priority as i32)
            .visibility_config(self.visibility.to_api()?);
        let b = match &self.kind {
            RuleKind::RateLimit { limit, action } => b
                .statement(
                    Statement::builder()
                        .rate_based_statement(limit.to_api()?)
                        .build(),
                )
                .action(action.to_api()),
            RuleKind::Managed(m) => b
                .statement(
                    Statement::builder()
                        .managed_rule_group_statement(m.to_api()?)
                        .build(),
                )
                .override_action(if m.count_only {
                    OverrideAction::builder()
                        .count(CountAction::builder().build())
                        .build()
                } else {
                    OverrideAction::builder()
                        .none(NoneAction::builder().build())
                        .build()
                }),
            RuleKind::Unmodelled(what) => {
                return Err(ProviderError::new(
                    "madplan",
                    madplan_core::ErrorClass::Fatal,
                    format!("the rule {} cannot be written: {what}", self.name),
                ));
            }
        };
        b.build().map_err(build_error)
    }

    fn from_api(r: &Rule) -> Self {
        let unmodelled = || RuleKind::Unmodelled(format!("{:?}", r.statement()));
        let kind = match r.statement() {
            Some(s) if s.rate_based_statement().is_some() => {
                let limit = s.rate_based_statement().and_then(RateLimit::from_api);
                let action = r.action().and_then(RuleAction::from_api);
                match (limit, action) {
                    (Some(limit), Some(action))
                        if s.rate_based_statement()
                            .and_then(|r| r.scope_down_statement())
                            .is_none() =>
                    {
                        RuleKind::RateLimit { limit, action }
                    }
                    _ => unmodelled(),
                }
            }
            Some(s) if s.managed_rule_group_statement().is_some() => {
                let count_only = r.override_action().is_some_and(|o| o.count().is_some());
                s.managed_rule_group_statement()
                    .and_then(|m| ManagedRules::from_api(m, count_only))
                    .map_or_else(unmodelled, RuleKind::Managed)
            }
            _ => unmodelled(),
        };
        Self {
            name: r.name().to_string(),
            priority: r.priority().max(0) as u32,
            kind,
            visibility: r
                .visibility_config()
                .map(Visibility::from_api)
                .unwrap_or_else(|| Visibility::on("")),
        }
    }
}

/// What happens to a request no rule decided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    /// Let it through (the seed).
    Allow,
    /// Refuse it.
    Block,
}

/// A WAFv2 web ACL for regional resources (a load balancer).
///
/// Rules are a list in priority order: validation refuses duplicate or
/// out-of-order priorities, so what is read is what runs. Updates send the
/// lock token WAF handed out with the last read; a conflict (someone
/// changed the ACL in between) reads again and retries once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct WebAcl {
    /// The ACL's name.
    #[builder(setter(into))]
    pub name: String,
    /// What it is for.
    #[builder(default, setter(into))]
    pub description: String,
    /// What unmatched requests get.
    #[builder(default = DefaultAction::Allow)]
    pub default_action: DefaultAction,
    /// The rules, lowest priority first.
    pub rules: Vec<WafRule>,
    /// The ACL's own metrics.
    pub visibility: Visibility,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a web ACL yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebAclOutputs {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: String,
    /// Its ARN, which associations and logging name.
    pub arn: WebAclArn,
}

/// The seed's rules (deployment guide, "WAF"), in their fixed order:
/// 2000 requests per 5 minutes per IP then block; SQL injection; common
/// attacks (XSS); known bad inputs; Amazon IP reputation; bot control at
/// the common inspection level. Metric names start with `prefix`.
pub fn seed_rules(prefix: &str) -> Vec<WafRule> {
    let m = |n: &str| format!("{prefix}-{n}");
    let managed = |name: &str, priority, group| {
        let mut r = WafRule::new(name, priority, RuleKind::Managed(ManagedRules::aws(group)));
        r.visibility = Visibility::on(m(name));
        r
    };
    let mut rate = WafRule::new(
        "rate-limit-per-ip",
        10,
        RuleKind::RateLimit {
            limit: RateLimit::per_ip(2000).per(Window::FiveMinutes),
            action: RuleAction::Block,
        },
    );
    rate.visibility = Visibility::on(m("rate-limit-per-ip"));
    vec![
        rate,
        managed("sqli", 20, AwsManagedGroup::Sqli),
        managed("common", 30, AwsManagedGroup::Common),
        managed("known-bad-inputs", 40, AwsManagedGroup::KnownBadInputs),
        managed("ip-reputation", 50, AwsManagedGroup::AmazonIpReputation),
        managed(
            "bot-control",
            60,
            AwsManagedGroup::BotControl(BotInspection::Common),
        ),
    ]
}

fn check_name(field: &str, name: &str, problems: &mut Vec<Problem>) {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 128 || !name.chars().all(ok) {
        problems.push(problem(
            field,
            format!("{name:?} is not a WAF name"),
            Some("1 to 128 letters, digits, '-' and '_'"),
        ));
    }
}

impl WebAcl {
    fn api_rules(&self) -> Result<Vec<Rule>, ProviderError> {
        self.rules.iter().map(WafRule::to_api).collect()
    }

    fn api_default(&self) -> aws_sdk_wafv2::types::DefaultAction {
        let b = aws_sdk_wafv2::types::DefaultAction::builder();
        match self.default_action {
            DefaultAction::Allow => b.allow(AllowAction::builder().build()),
            DefaultAction::Block => b.block(BlockAction::builder().build()),
        }
        .build()
    }

    /// Reads the ACL's lock token, then updates it with that token; if WAF
    /// answers that the ACL changed since (`WAFOptimisticLockException`),
    /// reads again and tries once more.
    async fn put(&self, aws: &Aws, outputs: &WebAclOutputs) -> Result<(), ProviderError> {
        let rules = self.api_rules()?;
        let visibility = self.visibility.to_api()?;
        with_lock_token(
            || lock_token(aws, outputs),
            |token| {
                aws.wafv2()
                    .update_web_acl()
                    .name(&outputs.name)
                    .id(&outputs.id)
                    .scope(Scope::Regional)
                    .default_action(self.api_default())
                    .description(&self.description)
                    .set_rules(Some(rules.clone()))
                    .visibility_config(visibility.clone())
                    .lock_token(token)
                    .send()
            },
        )
        .await
    }
}

/// WAF's optimistic locking: reads a lock token with `read`, sends `write`
/// with it; on `WAFOptimisticLockException` (the ACL changed in between)
/// reads a fresh token and writes once more, then gives up.
pub(crate) async fn with_lock_token<R, W, T, E, RF, WF>(
    read: R,
    write: W,
) -> Result<(), ProviderError>
where
    R: Fn() -> RF,
    RF: std::future::Future<Output = Result<String, ProviderError>>,
    W: Fn(String) -> WF,
    WF: std::future::Future<
            Output = Result<
                T,
                aws_sdk_wafv2::error::SdkError<
                    E,
                    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
                >,
            >,
        >,
    E: aws_sdk_wafv2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    aws_sdk_wafv2::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>:
        aws_sdk_wafv2::operation::RequestId,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let token = read().await?;
        match write(token).await.map_err(aws_error) {
            Ok(_) => return Ok(()),
            Err(e) if attempt == 1 && has_code(&e, "WAFOptimisticLockException") => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn lock_token(aws: &Aws, outputs: &WebAclOutputs) -> Result<String, ProviderError> {
    let got = aws
        .wafv2()
        .get_web_acl()
        .name(&outputs.name)
        .id(&outputs.id)
        .scope(Scope::Regional)
        .send()
        .await
        .map_err(aws_error)?;
    got.lock_token()
        .map(str::to_string)
        .ok_or_else(|| crate::network::missing("lock token"))
}

fn from_api(acl: &aws_sdk_wafv2::types::WebAcl) -> WebAcl {
    let mut rules: Vec<WafRule> = acl.rules().iter().map(WafRule::from_api).collect();
    rules.sort_by_key(|r| r.priority);
    WebAcl {
        name: acl.name().to_string(),
        description: acl.description().unwrap_or_default().to_string(),
        default_action: if acl.default_action().is_some_and(|d| d.block().is_some()) {
            DefaultAction::Block
        } else {
            DefaultAction::Allow
        },
        rules,
        visibility: acl
            .visibility_config()
            .map(Visibility::from_api)
            .unwrap_or_else(|| Visibility::on("")),
        tags: BTreeMap::new(),
    }
}

impl Resource for WebAcl {
    const KIND: &'static str = "aws.waf_web_acl";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = WebAclOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        check_name("name", &self.name, problems);
        self.visibility.check("visibility", problems);
        let mut names = BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let field = format!("rules[{i}]");
            check_name(&field, &r.name, problems);
            if !names.insert(r.name.as_str()) {
                problems.push(problem(
                    &field,
                    format!("the rule name {:?} is used twice", r.name),
                    None,
                ));
            }
            if let Some(prev) = i.checked_sub(1).map(|j| &self.rules[j]) {
                if prev.priority == r.priority {
                    problems.push(problem(
                        &field,
                        format!(
                            "{:?} has the priority {} of {:?}",
                            r.name, r.priority, prev.name
                        ),
                        Some("give each rule its own priority"),
                    ));
                } else if prev.priority > r.priority {
                    problems.push(problem(
                        &field,
                        format!(
                            "{:?} (priority {}) comes after {:?} (priority {}): rules are listed in the order they run",
                            r.name, r.priority, prev.name, prev.priority
                        ),
                        Some("list the rules from the lowest priority up"),
                    ));
                }
            }
            r.visibility.check(&field, problems);
            match &r.kind {
                RuleKind::RateLimit { limit, .. } => {
                    if !(MIN_RATE_LIMIT..=MAX_RATE_LIMIT).contains(&limit.limit) {
                        problems.push(problem(
                            &field,
                            format!(
                                "a rate limit of {} is outside what WAF accepts ({MIN_RATE_LIMIT} to {MAX_RATE_LIMIT})",
                                limit.limit
                            ),
                            None,
                        ));
                    }
                    if let AggregateKey::ForwardedIp { header, .. } = &limit.key
                        && header.is_empty()
                    {
                        problems.push(problem(&field, "the forwarded-IP header is empty", None));
                    }
                }
                RuleKind::Managed(m) => {
                    for name in m.overrides.keys() {
                        if name.is_empty() {
                            problems.push(problem(&field, "an override names no rule", None));
                        }
                    }
                }
                RuleKind::Unmodelled(_) => problems.push(problem(
                    &field,
                    "an unmodelled rule cannot be written",
                    Some("use RuleKind::RateLimit or RuleKind::Managed"),
                )),
            }
        }
        if self.rules.len() > 100 {
            problems.push(problem("rules", "a web ACL holds at most 100 rules", None));
        }
    }

    /// One `ListWebACLs` per 100 ACLs in the region, then each ACL's rules
    /// (`GetWebACL`) and tags (`ListTagsForResource`), a bounded number at
    /// once.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut summaries = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = aws
                .wafv2()
                .list_web_acls()
                .scope(Scope::Regional)
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(aws_error)?;
            summaries.extend(page.web_acls().iter().cloned());
            match page.next_marker() {
                Some(m) if !m.is_empty() && !page.web_acls().is_empty() => {
                    marker = Some(m.to_string())
                }
                _ => break,
            }
        }
        let reads = summaries.into_iter().map(|s| async move {
            let arn = s.arn().unwrap_or_default().to_string();
            let tags = aws
                .wafv2()
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(aws_error);
            let tags: BTreeMap<String, String> = match tags {
                Ok(t) => t
                    .tag_info_for_resource()
                    .map(|i| {
                        i.tag_list()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let Some(claim) = claim(cx, &tags, |o| o.arn.as_str() == arn) else {
                return Ok(None);
            };
            let got = aws
                .wafv2()
                .get_web_acl()
                .name(s.name().unwrap_or_default())
                .id(s.id().unwrap_or_default())
                .scope(Scope::Regional)
                .send()
                .await
                .map_err(aws_error);
            let acl = match got {
                Ok(g) => g
                    .web_acl()
                    .cloned()
                    .ok_or_else(|| crate::network::missing("web ACL"))?,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut spec = from_api(&acl);
            spec.tags = user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Ok::<_, ProviderError>(Some(Found::new(
                claim,
                spec,
                WebAclOutputs {
                    name: acl.name().to_string(),
                    id: acl.id().to_string(),
                    arn: WebAclArn(arn),
                },
            )))
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<WebAclOutputs, ProviderError> {
        let tags = all_tags(cx, &self.tags)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_error))
            .collect::<Result<Vec<_>, _>>()?;
        let out = aws
            .wafv2()
            .create_web_acl()
            .name(&self.name)
            .scope(Scope::Regional)
            .default_action(self.api_default())
            .description(&self.description)
            .set_rules(Some(self.api_rules()?))
            .visibility_config(self.visibility.to_api()?)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_error)?;
        let s = out
            .summary()
            .ok_or_else(|| crate::network::missing("summary"))?;
        let outputs = WebAclOutputs {
            name: self.name.clone(),
            id: s
                .id()
                .ok_or_else(|| crate::network::missing("id"))?
                .to_string(),
            arn: WebAclArn(
                s.arn()
                    .ok_or_else(|| crate::network::missing("ARN"))?
                    .to_string(),
            ),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<WebAclOutputs, ProviderError> {
        if changed.iter().any(|c| c != "tags") {
            self.put(aws, &prior.outputs).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            let (gone, set) = tag_changes(&prior.spec.tags, &self.tags);
            let arn = prior.outputs.arn.as_str();
            if !gone.is_empty() {
                aws.wafv2()
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
            if !set.is_empty() {
                let tags = set
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_error))
                    .collect::<Result<Vec<_>, _>>()?;
                aws.wafv2()
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
        }
        Ok(prior.outputs.clone())
    }

    /// Deletes with the lock token of a fresh read (once more on a
    /// conflict).
    async fn delete(outputs: &WebAclOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = match lock_token(aws, outputs).await {
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?,
            };
            let sent = aws
                .wafv2()
                .delete_web_acl()
                .name(&outputs.name)
                .id(&outputs.id)
                .scope(Scope::Regional)
                .lock_token(token)
                .send()
                .await
                .map_err(aws_error);
            match sent {
                Err(e) if attempt == 1 && has_code(&e, "WAFOptimisticLockException") => continue,
                other => return gone_is_done(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod lock {
        use std::sync::Mutex;

        use aws_sdk_wafv2::error::SdkError;
        use aws_sdk_wafv2::operation::update_web_acl::{UpdateWebACLError, UpdateWebAclOutput};
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;

        use super::super::with_lock_token;

        type Answer = Result<UpdateWebAclOutput, SdkError<UpdateWebACLError, HttpResponse>>;

        fn refused(code: &str) -> Answer {
            Err(SdkError::service_error(
                UpdateWebACLError::generic(ErrorMetadata::builder().code(code).build()),
                HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
            ))
        }

        /// Runs `with_lock_token` against answers given in turn; returns
        /// the result, the tokens read and the tokens each write used.
        async fn run(answers: Vec<Answer>) -> (bool, usize, Vec<String>) {
            let reads = Mutex::new(0);
            let writes = Mutex::new(Vec::new());
            let answers = Mutex::new(answers.into_iter());
            let r = with_lock_token(
                || {
                    let mut n = reads.lock().unwrap();
                    *n += 1;
                    let token = format!("token-{n}");
                    async move { Ok(token) }
                },
                |token| {
                    writes.lock().unwrap().push(token);
                    let answer = answers.lock().unwrap().next().unwrap();
                    async move { answer }
                },
            )
            .await;
            let reads = *reads.lock().unwrap();
            (r.is_ok(), reads, writes.into_inner().unwrap())
        }

        #[tokio::test]
        async fn an_update_sends_the_token_it_read() {
            let (ok, reads, writes) = run(vec![Ok(UpdateWebAclOutput::builder().build())]).await;
            assert!(ok);
            assert_eq!((reads, writes), (1, vec!["token-1".to_string()]));
        }

        #[tokio::test]
        async fn a_conflict_reads_again_and_retries_once_with_the_new_token() {
            let (ok, reads, writes) = run(vec![
                refused("WAFOptimisticLockException"),
                Ok(UpdateWebAclOutput::builder().build()),
            ])
            .await;
            assert!(ok);
            assert_eq!(reads, 2);
            assert_eq!(writes, ["token-1", "token-2"]);
        }

        #[tokio::test]
        async fn a_second_conflict_fails_and_other_errors_are_not_retried() {
            let (ok, reads, _) = run(vec![
                refused("WAFOptimisticLockException"),
                refused("WAFOptimisticLockException"),
            ])
            .await;
            assert!(!ok);
            assert_eq!(reads, 2);
            let (ok, reads, _) = run(vec![refused("WAFInvalidParameterException")]).await;
            assert!(!ok);
            assert_eq!(reads, 1);
        }
    }

    #[test]
    fn the_seed_rate_limit_sends_2000_per_300_seconds_per_ip() {
        let s = RateLimit::per_ip(2000)
            .per(Window::FiveMinutes)
            .to_api()
            .unwrap();
        assert_eq!(s.limit(), 2000);
        assert_eq!(s.evaluation_window_sec(), 300);
        assert_eq!(
            s.aggregate_key_type(),
            &RateBasedStatementAggregateKeyType::Ip
        );
        assert!(s.forwarded_ip_config().is_none());
        assert_eq!(
            [
                Window::OneMinute,
                Window::TwoMinutes,
                Window::FiveMinutes,
                Window::TenMinutes
            ]
            .map(Window::seconds),
            [60, 120, 300, 600]
        );
    }

    #[test]
    fn a_forwarded_ip_key_sends_its_header() {
        let limit = RateLimit {
            limit: 100,
            window: Window::OneMinute,
            key: AggregateKey::ForwardedIp {
                header: "X-Forwarded-For".into(),
                fallback: Fallback::NoMatch,
            },
        };
        let s = limit.to_api().unwrap();
        assert_eq!(
            s.aggregate_key_type(),
            &RateBasedStatementAggregateKeyType::ForwardedIp
        );
        assert_eq!(
            s.forwarded_ip_config().unwrap().header_name(),
            "X-Forwarded-For"
        );
        assert_eq!(RateLimit::from_api(&s), Some(limit));
    }

    #[test]
    fn the_seed_rules_run_in_a_fixed_order_with_metrics_on_each() {
        let rules = seed_rules("prod");
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rate-limit-per-ip",
                "sqli",
                "common",
                "known-bad-inputs",
                "ip-reputation",
                "bot-control"
            ]
        );
        let api: Vec<Rule> = rules.iter().map(|r| r.to_api().unwrap()).collect();
        let groups: Vec<&str> = api
            .iter()
            .filter_map(|r| r.statement()?.managed_rule_group_statement())
            .map(|m| m.name())
            .collect();
        assert_eq!(
            groups,
            [
                "AWSManagedRulesSQLiRuleSet",
                "AWSManagedRulesCommonRuleSet",
                "AWSManagedRulesKnownBadInputsRuleSet",
                "AWSManagedRulesAmazonIpReputationList",
                "AWSManagedRulesBotControlRuleSet"
            ]
        );
        for r in &api {
            let v = r.visibility_config().unwrap();
            assert!(v.cloud_watch_metrics_enabled() && v.sampled_requests_enabled());
            assert!(v.metric_name().starts_with("prod-"), "{}", v.metric_name());
        }
        // The rate rule blocks; the managed groups keep their own actions.
        assert!(api[0].action().unwrap().block().is_some());
        assert!(api[1].override_action().unwrap().none().is_some());
        // Bot control carries its inspection level.
        let bot = api[5]
            .statement()
            .unwrap()
            .managed_rule_group_statement()
            .unwrap();
        assert_eq!(
            bot.managed_rule_group_configs()[0]
                .aws_managed_rules_bot_control_rule_set()
                .unwrap()
                .inspection_level(),
            &InspectionLevel::Common
        );
    }

    #[test]
    fn an_override_counts_a_named_rule_and_reads_back() {
        let m = ManagedRules::aws(AwsManagedGroup::Common).count("SizeRestrictions_BODY");
        let rule = WafRule::new("common", 1, RuleKind::Managed(m));
        let api = rule.to_api().unwrap();
        let o = &api
            .statement()
            .unwrap()
            .managed_rule_group_statement()
            .unwrap()
            .rule_action_overrides()[0];
        assert_eq!(o.name(), "SizeRestrictions_BODY");
        assert!(o.action_to_use().unwrap().count().is_some());
        assert_eq!(WafRule::from_api(&api), rule);
    }

    #[test]
    fn every_seed_rule_reads_back_as_written() {
        for r in seed_rules("x") {
            assert_eq!(WafRule::from_api(&r.to_api().unwrap()), r);
        }
    }

    #[test]
    fn a_rule_madplan_does_not_model_is_drift_that_cannot_be_written() {
        let api = Rule::builder()
            .name("by-hand")
            .priority(5)
            .statement(Statement::builder().build())
            .action(RuleAction::Block.to_api())
            .visibility_config(Visibility::on("m").to_api().unwrap())
            .build()
            .unwrap();
        let r = WafRule::from_api(&api);
        assert!(matches!(r.kind, RuleKind::Unmodelled(_)));
        assert!(r.to_api().is_err());
    }
}
