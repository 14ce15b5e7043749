//! IAM policy documents as typed values: what a role trusts and what its
//! inline policies allow, written in Rust and sent as the JSON IAM reads.
//!
//! ```
//! use madplan_aws::iam::{PolicyDocument, Statement};
//!
//! let logs = PolicyDocument::new([Statement::allow([
//!     "logs:CreateLogStream",
//!     "logs:PutLogEvents",
//! ])
//! .on(["arn:aws:logs:*:*:log-group:/aws/ec2/madplan-production:*"])]);
//! assert_eq!(
//!     logs.to_json()["Statement"][0]["Action"],
//!     serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"])
//! );
//! ```

use std::collections::{BTreeMap, BTreeSet};

use madplan_core::{Input, IntoInput};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The only policy language version IAM documents use today.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Effect {
    /// Allows what the statement names.
    Allow,
    /// Denies it, whatever else allows it.
    Deny,
}

/// A policy document: a list of statements, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// The statements.
    pub statements: Vec<Statement>,
}

/// One statement of a policy document. Sets are kept sorted, so that two
/// documents that mean the same compare equal whatever order IAM gives
/// them back in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// An optional statement id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Option<Effect>,
    /// Who (trust policies only): principal type (`Service`, `AWS`,
    /// `Federated`) to identifiers; `*` alone is `{"AWS": ["*"]}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub principals: BTreeMap<String, BTreeSet<String>>,
    /// The actions, e.g. `s3:GetObject` (or `sts:AssumeRole`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub actions: BTreeSet<String>,
    /// Every action but these.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub not_actions: BTreeSet<String>,
    /// The resources (ARNs, `*`), each possibly another resource's output
    /// (a log group's ARN). Trust policies have none.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub resources: BTreeSet<Input<String>>,
    /// Every resource but these.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub not_resources: BTreeSet<String>,
    /// Conditions: operator (`StringEquals`) to key (`aws:SourceAccount`)
    /// to values, each possibly another resource's output (the external id
    /// a Datadog integration hands out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, BTreeMap<String, BTreeSet<Input<String>>>>,
}

impl Statement {
    /// A statement allowing `actions` (give the resources with
    /// [`Statement::on`]).
    pub fn allow<S: Into<String>>(actions: impl IntoIterator<Item = S>) -> Self {
        Self {
            effect: Some(Effect::Allow),
            actions: actions.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// A statement denying `actions`.
    pub fn deny<S: Into<String>>(actions: impl IntoIterator<Item = S>) -> Self {
        Self {
            effect: Some(Effect::Deny),
            actions: actions.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// On these resources.
    #[must_use]
    pub fn on<S: IntoInput<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources
            .extend(resources.into_iter().map(IntoInput::into_input));
        self
    }

    /// With this statement id.
    #[must_use]
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// For this principal (`Service`, `AWS` or `Federated`).
    #[must_use]
    pub fn principal(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.principals
            .entry(kind.into())
            .or_default()
            .insert(id.into());
        self
    }

    /// Only when `operator(key, values)` holds.
    #[must_use]
    pub fn when<S: IntoInput<String>>(
        mut self,
        operator: impl Into<String>,
        key: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.conditions
            .entry(operator.into())
            .or_default()
            .entry(key.into())
            .or_default()
            .extend(values.into_iter().map(IntoInput::into_input));
        self
    }
}

/// A list written as IAM writes it: one string alone, else an array.
fn one_or_many(set: &BTreeSet<String>) -> Value {
    if set.len() == 1 {
        json!(set.iter().next())
    } else {
        json!(set)
    }
}

/// Values read back from IAM, as inputs.
fn inputs(set: BTreeSet<String>) -> BTreeSet<Input<String>> {
    set.into_iter().map(Input::Value).collect()
}

/// The values of inputs the engine resolved before the document is sent (an
/// unresolved one, which the engine never hands a provider, is written as
/// the reference it stands for).
fn known(set: &BTreeSet<Input<String>>) -> BTreeSet<String> {
    set.iter()
        .map(|i| match i {
            Input::Value(v) => v.clone(),
            Input::Output(r) => format!("${{{r}}}"),
        })
        .collect()
}

impl PolicyDocument {
    /// A document of these statements.
    pub fn new(statements: impl IntoIterator<Item = Statement>) -> Self {
        Self {
            statements: statements.into_iter().collect(),
        }
    }

    /// The trust policy letting an AWS service assume a role, e.g.
    /// `ec2.amazonaws.com` for instances, `vpc-flow-logs.amazonaws.com` for
    /// flow logs.
    pub fn trust_service(service: impl Into<String>) -> Self {
        Self::new([Statement::allow(["sts:AssumeRole"]).principal("Service", service)])
    }

    /// The services this trust policy lets assume the role.
    pub fn trusted_services(&self) -> BTreeSet<&str> {
        self.statements
            .iter()
            .filter(|s| s.effect == Some(Effect::Allow))
            .filter_map(|s| s.principals.get("Service"))
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The JSON document IAM takes.
    pub fn to_json(&self) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut o = serde_json::Map::new();
                if let Some(sid) = &s.sid {
                    o.insert("Sid".into(), json!(sid));
                }
                if let Some(e) = s.effect {
                    o.insert("Effect".into(), json!(e));
                }
                if !s.principals.is_empty() {
                    let p: serde_json::Map<String, Value> = s
                        .principals
                        .iter()
                        .map(|(k, v)| (k.clone(), one_or_many(v)))
                        .collect();
                    o.insert("Principal".into(), Value::Object(p));
                }
                let resources = known(&s.resources);
                for (key, set) in [
                    ("Action", &s.actions),
                    ("NotAction", &s.not_actions),
                    ("Resource", &resources),
                    ("NotResource", &s.not_resources),
                ] {
                    if !set.is_empty() {
                        o.insert(key.into(), one_or_many(set));
                    }
                }
                if !s.conditions.is_empty() {
                    let c: serde_json::Map<String, Value> = s
                        .conditions
                        .iter()
                        .map(|(op, keys)| {
                            let keys: serde_json::Map<String, Value> = keys
                                .iter()
                                .map(|(k, v)| (k.clone(), one_or_many(&known(v))))
                                .collect();
                            (op.clone(), Value::Object(keys))
                        })
                        .collect();
                    o.insert("Condition".into(), Value::Object(c));
                }
                Value::Object(o)
            })
            .collect();
        json!({"Version": POLICY_VERSION, "Statement": statements})
    }

    /// The JSON text IAM takes.
    pub fn to_json_string(&self) -> String {
        self.to_json().to_string()
    }

    /// Reads a document as IAM returns it: JSON, percent-encoded in some
    /// answers (`GetAccountAuthorizationDetails`, `GetRolePolicy`), with
    /// single values where the writer gave arrays and the other way round.
    pub fn parse(text: &str) -> Result<Self, String> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => serde_json::from_str(&percent_decode(text))
                .map_err(|e| format!("not a JSON policy document: {e}"))?,
        };
        Self::from_json(&v)
    }

    /// Reads a JSON document.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let statements = match v.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err("the document has no Statement".into()),
        };
        let strings = |v: Option<&Value>| -> Result<BTreeSet<String>, String> {
            match v {
                None => Ok(BTreeSet::new()),
                Some(Value::String(s)) => Ok([s.clone()].into()),
                Some(Value::Array(a)) => a.iter().map(scalar).collect(),
                Some(other) => Ok([scalar(other)?].into()),
            }
        };
        let mut out = Vec::new();
        for s in statements {
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Some(Effect::Allow),
                Some("Deny") => Some(Effect::Deny),
                None => None,
                Some(other) => return Err(format!("unknown Effect {other:?}")),
            };
            let principals = match s.get("Principal") {
                None => BTreeMap::new(),
                Some(Value::String(star)) => [("AWS".to_string(), [star.clone()].into())].into(),
                Some(Value::Object(o)) => o
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), strings(Some(v))?)))
                    .collect::<Result<_, String>>()?,
                Some(other) => return Err(format!("unreadable Principal {other}")),
            };
            let conditions = match s.get("Condition") {
                None => BTreeMap::new(),
                Some(Value::Object(ops)) => ops
                    .iter()
                    .map(|(op, keys)| {
                        let keys = keys
                            .as_object()
                            .ok_or_else(|| format!("unreadable Condition {op}"))?
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), inputs(strings(Some(v))?))))
                            .collect::<Result<_, String>>()?;
                        Ok((op.clone(), keys))
                    })
                    .collect::<Result<_, String>>()?,
                Some(other) => return Err(format!("unreadable Condition {other}")),
            };
            out.push(Statement {
                sid: s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                effect,
                principals,
                actions: strings(s.get("Action"))?,
                not_actions: strings(s.get("NotAction"))?,
                resources: inputs(strings(s.get("Resource"))?),
                not_resources: strings(s.get("NotResource"))?,
                conditions,
            });
        }
        Ok(Self { statements: out })
    }

    /// Why IAM would refuse this document, if it would.
    pub fn problem(&self, trust: bool) -> Option<String> {
        if self.statements.is_empty() {
            return Some("the document has no statement".into());
        }
        for (i, s) in self.statements.iter().enumerate() {
            let n = i + 1;
            if s.effect.is_none() {
                return Some(format!("statement {n} has no effect (allow or deny)"));
            }
            if s.actions.is_empty() == s.not_actions.is_empty() {
                return Some(format!(
                    "statement {n} needs actions or not_actions (exactly one of them)"
                ));
            }
            if let Some(bad) = s
                .actions
                .iter()
                .chain(&s.not_actions)
                .find(|a| *a != "*" && !a.contains(':'))
            {
                return Some(format!(
                    "statement {n}: {bad:?} is not an action (expected service:Action)"
                ));
            }
            if trust {
                if s.principals.is_empty() {
                    return Some(format!("trust statement {n} names no principal"));
                }
            } else {
                if !s.principals.is_empty() {
                    return Some(format!(
                        "statement {n} names a principal, which only trust policies do"
                    ));
                }
                if s.resources.is_empty() == s.not_resources.is_empty() {
                    return Some(format!(
                        "statement {n} needs resources or not_resources (exactly one of them)"
                    ));
                }
            }
        }
        None
    }
}

fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("unreadable value {other}")),
    }
}

/// Decodes `%XX` escapes (and `+` as a space, which IAM's form encoding
/// uses).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_of_a_service_is_what_iam_expects() {
        let d = PolicyDocument::trust_service("ec2.amazonaws.com");
        assert_eq!(
            d.to_json(),
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole"
            }]})
        );
        assert_eq!(d.problem(true), None);
        assert!(
            d.problem(false).is_some(),
            "a principal outside a trust policy"
        );
        assert_eq!(
            d.trusted_services().into_iter().collect::<Vec<_>>(),
            ["ec2.amazonaws.com"]
        );
    }

    #[test]
    fn reads_back_what_iam_returns_whatever_its_shape() {
        let d = PolicyDocument::new([Statement::allow(["s3:GetObject", "s3:ListBucket"])
            .on(["arn:aws:s3:::b", "arn:aws:s3:::b/*"])
            .when("StringEquals", "aws:SourceAccount", ["123456789012"])
            .sid("Read")]);
        // As written.
        assert_eq!(PolicyDocument::parse(&d.to_json_string()).unwrap(), d);
        // Percent-encoded, as GetAccountAuthorizationDetails returns it.
        let encoded: String = d
            .to_json_string()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        assert_eq!(PolicyDocument::parse(&encoded).unwrap(), d);
        // A single statement object, single strings, a lone "*" principal.
        let odd = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole"],"Condition":{"Bool":{"aws:SecureTransport":true}}}}"#;
        let parsed = PolicyDocument::parse(odd).unwrap();
        assert_eq!(
            parsed.statements[0].principals["AWS"],
            ["*".to_string()].into()
        );
        assert_eq!(
            parsed.statements[0].conditions["Bool"]["aws:SecureTransport"],
            [Input::Value("true".to_string())].into()
        );
        assert!(PolicyDocument::parse("{}").is_err());
    }

    #[test]
    fn refuses_what_iam_would() {
        let no_resource = PolicyDocument::new([Statement::allow(["s3:GetObject"])]);
        assert!(no_resource.problem(false).unwrap().contains("resources"));
        let bad_action = PolicyDocument::new([Statement::allow(["GetObject"]).on(["*"])]);
        assert!(bad_action.problem(false).unwrap().contains("not an action"));
        assert!(PolicyDocument::new([]).problem(false).is_some());
        let ok = PolicyDocument::new([Statement::deny(["*"]).on(["*"])]);
        assert_eq!(ok.problem(false), None);
    }

    #[test]
    fn percent_decoding_leaves_stray_percent_signs() {
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
    }
}
