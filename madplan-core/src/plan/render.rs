//! The plan as a person reads it, in the style of `terraform plan`.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Action, FieldChange, Plan, ResourceChange};
use crate::input::marker;
use crate::resource::Replacement;

/// The whole plan as text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let reads: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Read)
        .collect();
    if !reads.is_empty() {
        for c in &reads {
            let _ = writeln!(out, " <= {} was read", c.address);
        }
        out.push('\n');
    }
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "No changes. The {} environment matches its configuration.",
            plan.environment
        );
        render_foreign(&mut out, plan);
        return out;
    }
    let _ = writeln!(
        out,
        "madplan will perform the following actions on {}:\n",
        plan.environment
    );
    for c in plan
        .changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
    {
        render_change(&mut out, c);
    }
    for c in plan.changes.iter().filter(|c| c.action == Action::NoOp) {
        if c.adopt {
            let _ = writeln!(
                out,
                "  # {} exists (found by this state's tags) and will be recorded in state\n",
                c.address
            );
        }
    }
    let s = plan.summary();
    let _ = write!(
        out,
        "Plan: {} to add, {} to change, {} to replace, {} to destroy",
        s.create, s.update, s.replace, s.delete
    );
    if s.adopt > 0 {
        let _ = write!(out, ", {} to adopt", s.adopt);
    }
    let _ = writeln!(out, ".");
    render_foreign(&mut out, plan);
    out
}

fn render_foreign(out: &mut String, plan: &Plan) {
    if plan.foreign.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nNote: {} resource(s) carry the {} environment's tags but belong to another state; \
         madplan leaves them alone:",
        plan.foreign.len(),
        plan.environment
    );
    for f in &plan.foreign {
        let _ = writeln!(
            out,
            "  {} {} (lineage {})",
            f.address,
            show(&f.outputs),
            f.lineage.as_deref().unwrap_or("none")
        );
    }
    let _ = writeln!(
        out,
        "If they are this environment's and its state was lost, adopt them with `state recover`."
    );
}

fn symbol(c: &ResourceChange) -> &'static str {
    match (c.action, c.replacement) {
        (Action::Create, _) => "+",
        (Action::Update, _) => "~",
        (Action::Replace, Some(Replacement::CreateBeforeDestroy)) => "+/-",
        (Action::Replace, _) => "-/+",
        (Action::Delete, _) => "-",
        (Action::Read, _) => "<=",
        (Action::NoOp, _) => " ",
    }
}

pub(crate) fn render_change(out: &mut String, c: &ResourceChange) {
    let what = match c.action {
        Action::Create => "will be created".to_string(),
        Action::Update if c.resume && c.fields.is_empty() => {
            "will be waited for: its create did not finish".to_string()
        }
        Action::Update => "will be updated in place".to_string(),
        Action::Replace => {
            let forcing: Vec<&str> = c
                .fields
                .iter()
                .filter(|f| f.forces_replacement)
                .map(|f| f.field.as_str())
                .collect();
            if forcing.is_empty() {
                "must be replaced".to_string()
            } else {
                format!(
                    "must be replaced ({} forces replacement)",
                    forcing.join(", ")
                )
            }
        }
        Action::Delete if c.deposed => {
            "(an old object left by a replacement) will be destroyed".to_string()
        }
        Action::Delete => "will be destroyed".to_string(),
        Action::Read => "will be read".to_string(),
        Action::NoOp => "is unchanged".to_string(),
    };
    let _ = writeln!(out, "  # {} {what}", c.address);
    if let Some(r) = &c.reason {
        let _ = writeln!(out, "  # ({r})");
    }
    let _ = writeln!(out, "  {} {} {{", symbol(c), c.address);
    match c.action {
        Action::Create => {
            if let Some(Value::Object(o)) = &c.after {
                let width = o.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in o {
                    match v {
                        Value::Array(items) if items.iter().any(|x| x.is_object()) => {
                            let _ = writeln!(out, "      + {k:<width$} = [");
                            for x in items {
                                let _ = writeln!(out, "          {},", show(x));
                            }
                            let _ = writeln!(out, "        ]");
                        }
                        _ => {
                            let _ = writeln!(out, "      + {k:<width$} = {}", show(v));
                        }
                    }
                }
            }
            let _ = writeln!(out, "      + (outputs known after apply)");
        }
        Action::Update | Action::Replace => {
            for f in &c.fields {
                render_field(out, f);
            }
        }
        Action::Delete => {
            if let Some(Value::Object(o)) = &c.prior_outputs {
                for (k, v) in o {
                    let _ = writeln!(out, "      - {k} = {}", show(v));
                }
            }
        }
        Action::Read | Action::NoOp => {}
    }
    let _ = writeln!(out, "    }}\n");
}

fn render_field(out: &mut String, f: &FieldChange) {
    let note = if f.forces_replacement {
        " # forces replacement"
    } else {
        ""
    };
    match (&f.before, &f.after) {
        (Some(Value::Array(b)), Some(Value::Array(a))) => {
            let _ = writeln!(out, "      ~ {} = [{note}", f.field);
            for x in b.iter().filter(|x| !a.contains(x)) {
                let _ = writeln!(out, "          - {}", show(x));
            }
            for x in a.iter().filter(|x| !b.contains(x)) {
                let _ = writeln!(out, "          + {}", show(x));
            }
            let _ = writeln!(out, "        ]");
        }
        (before, after) => {
            let b = before.as_ref().map(show).unwrap_or_else(|| "null".into());
            let a = after.as_ref().map(show).unwrap_or_else(|| "null".into());
            let _ = writeln!(out, "      ~ {} = {b} -> {a}{note}", f.field);
        }
    }
}

/// A value for display: references not known yet read `(known after apply)`.
pub(crate) fn show(v: &Value) -> String {
    fn strip(v: &Value) -> Value {
        if let Some(r) = marker(v) {
            return Value::String(format!("(known after apply: {r})"));
        }
        match v {
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), strip(x))).collect())
            }
            other => other.clone(),
        }
    }
    match v {
        v if marker(v).is_some() => "(known after apply)".into(),
        other => strip(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_objects_print_one_per_line() {
        let mut c = ResourceChange::new(
            "aws.security_group.web".parse().unwrap(),
            "aws.security_group",
            Action::Create,
        );
        c.after = Some(json!({"name": "web", "ingress": [{"port": 80}, {"port": 443}]}));
        let mut out = String::new();
        render_change(&mut out, &c);
        assert!(
            out.contains(
                "+ ingress = [\n          {\"port\":80},\n          {\"port\":443},\n        ]"
            ),
            "{out}"
        );
        assert!(out.contains("+ name    = \"web\""), "{out}");
    }

    #[test]
    fn show_hides_unknown_values() {
        let v = json!({"$output": {"address": "aws.vpc.main", "output": "vpc_id"}});
        assert_eq!(show(&v), "(known after apply)");
        let nested = json!([{"target": v}]);
        assert!(show(&nested).contains("known after apply: aws.vpc.main.vpc_id"));
    }
}
