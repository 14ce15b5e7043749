//! Field paths into a spec's serialized form, at any depth: `desired_capacity`,
//! `replication_specs[].region_configs[].electable_specs.instance_size`.
//!
//! A path is a dot-separated list of object keys; `[]` after a key means
//! "every element of this array". Kinds name fields by path in
//! [`crate::Resource::EXTERNALLY_OWNED`], [`crate::Resource::WRITE_ONLY`],
//! [`crate::Resource::SERVER_DEFAULTED`] and
//! [`crate::Resource::FORCES_REPLACEMENT`]; the engine checks every path
//! against the specs it sees, so a misspelt one is reported instead of being
//! silently ignored.

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Each,
}

/// A parsed field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    steps: Vec<Step>,
    text: String,
}

impl FieldPath {
    /// Parses `a.b[].c`. Empty segments are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for segment in text.split('.') {
            let (key, arrays) = match segment.find("[]") {
                Some(i) => (&segment[..i], &segment[i..]),
                None => (segment, ""),
            };
            if key.is_empty() || key.contains(['[', ']']) || !arrays.replace("[]", "").is_empty() {
                return Err(format!(
                    "{text:?} is not a field path (expected e.g. `a.b[].c`)"
                ));
            }
            steps.push(Step::Key(key.to_string()));
            for _ in 0..arrays.len() / 2 {
                steps.push(Step::Each);
            }
        }
        Ok(Self {
            steps,
            text: text.to_string(),
        })
    }

    /// The top-level field this path starts with.
    pub fn top(&self) -> &str {
        match &self.steps[0] {
            Step::Key(k) => k,
            Step::Each => "",
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `value` (a serialized spec) has every key this path names,
    /// as far as its contents allow telling: a key under a null, an empty
    /// array or a value that is absent cannot be checked and counts as
    /// present; a key missing from an object that exists does not.
    pub fn fits(&self, value: &Value) -> bool {
        fits(&self.steps, value)
    }

    /// Copies what `from` holds at this path into `to`, wherever both have
    /// the enclosing structure (arrays are matched element by element).
    /// Where `from` lacks the field, `to`'s value is removed, so that both
    /// sides agree.
    pub fn copy(&self, from: &Value, to: &mut Value) {
        copy(&self.steps, Some(from), to);
    }

    /// Copies what `from` holds at this path into `to` only where `to` has
    /// nothing there (absent or null).
    pub fn fill(&self, from: &Value, to: &mut Value) {
        fill(&self.steps, from, to);
    }

    /// Calls `f` with each place this path reaches in `value` (absent
    /// places are skipped).
    pub fn each<'a>(&self, value: &'a Value, f: &mut dyn FnMut(&'a Value)) {
        each(&self.steps, value, f);
    }

    /// Removes the field at this path from `value`, wherever it is.
    pub fn remove(&self, value: &mut Value) {
        remove(&self.steps, value);
    }
}

fn fits(steps: &[Step], v: &Value) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return true;
    };
    match (first, v) {
        (Step::Key(k), Value::Object(o)) => match o.get(k) {
            Some(inner) => fits(rest, inner),
            None => false,
        },
        (Step::Each, Value::Array(a)) => a.iter().all(|x| fits(rest, x)),
        (_, Value::Null) => true,
        // A key into a scalar, or `[]` on a non-array.
        _ => false,
    }
}

fn copy(steps: &[Step], from: Option<&Value>, to: &mut Value) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    match first {
        Step::Key(k) => {
            let Value::Object(o) = to else { return };
            let src = from.and_then(|f| f.get(k));
            if rest.is_empty() {
                match src {
                    Some(s) => {
                        o.insert(k.clone(), s.clone());
                    }
                    None => {
                        o.remove(k);
                    }
                }
            } else if let Some(inner) = o.get_mut(k) {
                copy(rest, src, inner);
            }
        }
        Step::Each => {
            let Value::Array(a) = to else { return };
            for (i, item) in a.iter_mut().enumerate() {
                let src = from.and_then(|f| f.get(i));
                copy(rest, src, item);
            }
        }
    }
}

fn fill(steps: &[Step], from: &Value, to: &mut Value) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    match first {
        Step::Key(k) => {
            let (Value::Object(o), Some(src)) = (to, from.get(k)) else {
                return;
            };
            if rest.is_empty() {
                if o.get(k).is_none_or(Value::is_null) {
                    o.insert(k.clone(), src.clone());
                }
            } else if let Some(inner) = o.get_mut(k) {
                fill(rest, src, inner);
            }
        }
        Step::Each => {
            let (Value::Array(a), Value::Array(src)) = (to, from) else {
                return;
            };
            for (item, s) in a.iter_mut().zip(src) {
                fill(rest, s, item);
            }
        }
    }
}

fn each<'a>(steps: &[Step], v: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    let Some((first, rest)) = steps.split_first() else {
        f(v);
        return;
    };
    match (first, v) {
        (Step::Key(k), Value::Object(o)) => {
            if let Some(inner) = o.get(k) {
                each(rest, inner, f);
            }
        }
        (Step::Each, Value::Array(a)) => a.iter().for_each(|x| each(rest, x, f)),
        _ => {}
    }
}

fn remove(steps: &[Step], v: &mut Value) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    match (first, v) {
        (Step::Key(k), Value::Object(o)) => {
            if rest.is_empty() {
                o.remove(k);
            } else if let Some(inner) = o.get_mut(k) {
                remove(rest, inner);
            }
        }
        (Step::Each, Value::Array(a)) => a.iter_mut().for_each(|x| remove(rest, x)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    fn cluster(sizes: &[&str]) -> Value {
        json!({
            "name": "main",
            "replication_specs": [{
                "region_configs": sizes.iter().map(|s| json!({"electable_specs": {"instance_size": s, "node_count": 3}})).collect::<Vec<_>>()
            }]
        })
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(p("a.b[].c").top(), "a");
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a[x]").is_err());
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("[]").is_err());
    }

    #[test]
    fn nested_copy_reaches_every_array_element() {
        let path = p("replication_specs[].region_configs[].electable_specs.instance_size");
        let live = cluster(&["M40", "M50"]);
        let mut desired = cluster(&["M30", "M30"]);
        path.copy(&live, &mut desired);
        assert_eq!(desired, live);
        // Other fields are untouched.
        let mut other = cluster(&["M30", "M30"]);
        other["name"] = json!("other");
        path.copy(&live, &mut other);
        assert_eq!(other["name"], "other");
        assert_eq!(
            other["replication_specs"][0]["region_configs"][1]["electable_specs"]["instance_size"],
            "M50"
        );
    }

    #[test]
    fn fits_catches_a_misspelt_field() {
        let v = cluster(&["M30"]);
        assert!(p("replication_specs[].region_configs[].electable_specs.instance_size").fits(&v));
        assert!(!p("replication_specs[].region_configs[].electable_specs.instanse_size").fits(&v));
        assert!(!p("desried_capacity").fits(&json!({"desired_capacity": 3})));
        // An empty list cannot tell, so it does not complain.
        assert!(p("items[].x").fits(&json!({"items": []})));
        assert!(p("a.b").fits(&json!({"a": null})));
    }

    #[test]
    fn fill_only_where_empty_and_remove_everywhere() {
        let mut live = json!({"user_data": null, "n": 1});
        p("user_data").fill(&json!({"user_data": "abc"}), &mut live);
        assert_eq!(live["user_data"], "abc");
        p("n").fill(&json!({"n": 2}), &mut live);
        assert_eq!(live["n"], 1);
        let mut v = cluster(&["M30", "M40"]);
        p("replication_specs[].region_configs[].electable_specs.instance_size").remove(&mut v);
        assert_eq!(
            v["replication_specs"][0]["region_configs"][1]["electable_specs"],
            json!({"node_count": 3})
        );
    }
}
