//! What "delete" means for things madplan changes but does not own (a
//! zone's settings, its bot configuration): give back the values they had
//! before madplan, where nobody changed them since.
//!
//! Why restore rather than leave: everything else madplan deletes leaves
//! nothing of madplan's behind, and a zone outlives the environments on
//! it; leaving a zone in the state an environment wanted would make
//! `destroy` change the zone for good without saying so, and a second
//! environment applied later would record madplan's own values as "what
//! was there before". Why only where nobody changed them since: a value
//! someone set after madplan is theirs now, and restoring over it would
//! undo their change; it is left, as any foreign change is.

use std::collections::BTreeMap;

use serde_json::Value;

/// Values by field, as the API spells them.
pub(crate) type Values = BTreeMap<String, Value>;

/// The values to put back on delete: each field madplan set (`applied`)
/// that still holds what madplan set (`live`), back to what it held before
/// (`prior`), when that differs.
pub(crate) fn to_restore(prior: &Values, applied: &Values, live: &Values) -> Values {
    applied
        .iter()
        .filter(|(field, value)| live.get(*field) == Some(*value))
        .filter_map(|(field, value)| {
            prior
                .get(field)
                .filter(|p| *p != value)
                .map(|p| (field.clone(), p.clone()))
        })
        .collect()
}

/// The prior values to record before changing `desired` fields: the live
/// value of each field not already recorded.
pub(crate) fn record_prior(prior: &mut Values, desired: &Values, live: &Values) {
    for field in desired.keys() {
        if let Some(v) = live.get(field) {
            prior.entry(field.clone()).or_insert_with(|| v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(pairs: &[(&str, Value)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn only_what_still_holds_madplan_s_value_goes_back() {
        let prior = values(&[
            ("ssl", json!("flexible")),
            ("min_tls_version", json!("1.0")),
            ("tls_1_3", json!("on")),
        ]);
        let applied = values(&[
            ("ssl", json!("strict")),
            ("min_tls_version", json!("1.2")),
            ("tls_1_3", json!("on")),
        ]);
        // Someone lowered min TLS to 1.1 by hand since: theirs now.
        let live = values(&[
            ("ssl", json!("strict")),
            ("min_tls_version", json!("1.1")),
            ("tls_1_3", json!("on")),
        ]);
        assert_eq!(
            to_restore(&prior, &applied, &live),
            values(&[("ssl", json!("flexible"))]),
            "tls_1_3 was already on before madplan: nothing to put back"
        );
        let mut p = values(&[("ssl", json!("flexible"))]);
        record_prior(&mut p, &applied, &live);
        assert_eq!(p["ssl"], json!("flexible"), "a recorded prior value stays");
        assert_eq!(p["min_tls_version"], json!("1.1"));
    }
}
