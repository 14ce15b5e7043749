//! Field-by-field comparison of a live spec with a desired one, under the
//! kind's field rules (owned, write-only, server-defaulted, forcing).

use serde_json::Value;

use super::FieldChange;
use crate::registry::FieldRules;

/// What comparing a live spec with a desired one gives.
#[derive(Clone, Debug)]
pub(crate) struct Compared {
    /// The fields that differ.
    pub fields: Vec<FieldChange>,
    /// The live spec as compared: write-only fields filled in from what was
    /// last applied.
    pub before: Value,
    /// The desired spec as it will be applied: fields another owner
    /// controls hold their live value, server-defaulted fields left out
    /// hold the server's.
    pub after: Value,
}

/// Compares `live` with `desired` under `rules`; `last_applied` is the spec
/// state recorded when the resource was last applied.
pub(crate) fn field_changes(
    rules: &FieldRules,
    live: &Value,
    desired: &Value,
    last_applied: Option<&Value>,
) -> Compared {
    let mut before = live.clone();
    if let Some(applied) = last_applied {
        // What the live spec holds there is a placeholder (an empty map,
        // null): the API does not return the field.
        for p in &rules.write_only {
            p.remove(&mut before);
            p.fill(applied, &mut before);
        }
    }
    let mut after = desired.clone();
    for p in &rules.externally_owned {
        p.copy(&before, &mut after);
    }
    for p in &rules.server_defaulted {
        p.fill(&before, &mut after);
    }
    let mut fields = diff(&before, &after, &[]);
    for f in &mut fields {
        f.forces_replacement = rules
            .forces_replacement
            .iter()
            .filter(|p| p.top() == f.field)
            .any(|p| {
                let (mut b, mut a) = (Vec::new(), Vec::new());
                p.each(&before, &mut |v| b.push(v));
                p.each(&after, &mut |v| a.push(v));
                b != a
            });
    }
    Compared {
        fields,
        before,
        after,
    }
}

/// The top-level fields that differ between two specs; `null` and absent
/// are the same.
pub(crate) fn diff(before: &Value, after: &Value, forces: &[&str]) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (bv, av) = (b.get(k), a.get(k));
            let same = match (bv, av) {
                (Some(x), Some(y)) => x == y,
                (None, Some(Value::Null)) | (Some(Value::Null), None) | (None, None) => true,
                _ => false,
            };
            (!same).then(|| FieldChange {
                field: k.clone(),
                before: bv.cloned(),
                after: av.cloned(),
                forces_replacement: forces.contains(&k.as_str()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::FieldPath;
    use serde_json::json;

    fn rules(
        forces: &[&str],
        owned: &[&str],
        write_only: &[&str],
        defaulted: &[&str],
    ) -> FieldRules {
        let p = |l: &[&str]| l.iter().map(|s| FieldPath::parse(s).unwrap()).collect();
        FieldRules {
            forces_replacement: p(forces),
            externally_owned: p(owned),
            write_only: p(write_only),
            server_defaulted: p(defaulted),
            ..FieldRules::default()
        }
    }

    #[test]
    fn reports_changed_added_and_removed_fields_and_ignores_owned_ones() {
        let before = json!({"cidr": "10.0.0.0/16", "dns": true, "tags": {"a": "1"}, "desired": 3});
        let after = json!({"cidr": "10.1.0.0/16", "dns": true, "tags": {"a": "2"}, "desired": 5, "extra": 1});
        let c = field_changes(
            &rules(&["cidr"], &["desired"], &[], &[]),
            &before,
            &after,
            None,
        );
        let fields: Vec<_> = c
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.forces_replacement))
            .collect();
        assert_eq!(
            fields,
            vec![("cidr", true), ("extra", false), ("tags", false)]
        );
        // What will be applied keeps the owner's value.
        assert_eq!(c.after["desired"], 3);
    }

    #[test]
    fn null_and_missing_are_the_same() {
        assert!(diff(&json!({"a": null}), &json!({}), &[]).is_empty());
    }

    #[test]
    fn nested_owned_fields_never_differ() {
        let live = json!({"specs": [{"size": "M40", "disk": 10}]});
        let desired = json!({"specs": [{"size": "M30", "disk": 10}]});
        let r = rules(&[], &["specs[].size"], &[], &[]);
        assert!(field_changes(&r, &live, &desired, None).fields.is_empty());
        let desired = json!({"specs": [{"size": "M30", "disk": 20}]});
        let c = field_changes(&r, &live, &desired, None);
        assert_eq!(c.fields.len(), 1);
        assert_eq!(
            c.after["specs"][0]["size"], "M40",
            "the owner's size is kept"
        );
    }

    #[test]
    fn write_only_fields_compare_with_what_was_applied() {
        let live = json!({"name": "x", "user_data": null});
        let r = rules(&[], &[], &["user_data"], &[]);
        let applied = json!({"name": "x", "user_data": "v1"});
        // Same as applied: no change, though the API returned nothing.
        let same = field_changes(&r, &live, &applied, Some(&applied));
        assert!(same.fields.is_empty());
        // Changed since: one change, from the applied value.
        let c = field_changes(
            &r,
            &live,
            &json!({"name": "x", "user_data": "v2"}),
            Some(&applied),
        );
        assert_eq!(c.fields[0].before, Some(json!("v1")));
        // A placeholder the kind reads back (an empty map for tags it
        // cannot list) is not the live value either.
        let tags = rules(&[], &[], &["tags"], &[]);
        let applied = json!({"name": "x", "tags": {"Environment": "production"}});
        let placeholder = json!({"name": "x", "tags": {}});
        assert!(
            field_changes(&tags, &placeholder, &applied, Some(&applied))
                .fields
                .is_empty()
        );
        // Without a rule, the missing value is drift.
        let none = rules(&[], &[], &[], &[]);
        assert_eq!(
            field_changes(&none, &live, &applied, Some(&applied))
                .fields
                .len(),
            1
        );
    }

    #[test]
    fn server_defaults_are_not_drift_unless_the_spec_sets_them() {
        let live = json!({"timeout": 60, "name": "x"});
        let r = rules(&[], &[], &[], &["timeout"]);
        assert!(
            field_changes(&r, &live, &json!({"timeout": null, "name": "x"}), None)
                .fields
                .is_empty()
        );
        assert_eq!(
            field_changes(&r, &live, &json!({"timeout": 30, "name": "x"}), None)
                .fields
                .len(),
            1
        );
    }

    #[test]
    fn a_nested_forcing_path_forces_only_when_it_changes() {
        let r = rules(&["specs[].region"], &[], &[], &[]);
        let live = json!({"specs": [{"region": "a", "n": 1}]});
        let c = field_changes(
            &r,
            &live,
            &json!({"specs": [{"region": "a", "n": 2}]}),
            None,
        );
        assert!(!c.fields[0].forces_replacement);
        let c = field_changes(
            &r,
            &live,
            &json!({"specs": [{"region": "b", "n": 1}]}),
            None,
        );
        assert!(c.fields[0].forces_replacement);
    }
}
