//! What the fake Atlas does with each request.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    Answer, ClusterRec, FakeConfig, RestoreOutcome, RestoreRec, World, bad_fields, empty, error,
    now_secs, ok,
};

const PROJECT_MEDIA: &str = "application/vnd.atlas.2023-01-01+json";

fn not_found() -> Answer {
    error(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        "No such resource.",
    )
}

fn not_allowed() -> Answer {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
    )
}

/// `secs` since the epoch as RFC 3339 (UTC).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn page(items: Vec<Value>, query: &[(String, String)]) -> Value {
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per = get("itemsPerPage").unwrap_or(100).max(1);
    let num = get("pageNum").unwrap_or(1).max(1);
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip((num - 1) * per).take(per).collect();
    json!({"results": results, "totalCount": total})
}

/// Moves a cluster along in time; `false` once it is gone.
fn settle(rec: &mut ClusterRec, transition: Duration) -> bool {
    if rec.since.elapsed() >= transition {
        match rec.state {
            "CREATING" | "UPDATING" => rec.state = "IDLE",
            "DELETING" => return false,
            _ => {}
        }
    }
    rec.body["stateName"] = json!(rec.state);
    if rec.state == "IDLE" && !rec.connection.is_null() && rec.body["connectionStrings"].is_null() {
        rec.body["connectionStrings"] = rec.connection.clone();
    }
    true
}

/// The clusters of `group` still alive, settled.
fn live_clusters(w: &mut World, group: &str, transition: Duration) -> Vec<String> {
    let keys: Vec<_> = w
        .clusters
        .keys()
        .filter(|(g, _)| g == group)
        .cloned()
        .collect();
    let mut names = Vec::new();
    for k in keys {
        let alive = w
            .clusters
            .get_mut(&k)
            .is_some_and(|r| settle(r, transition));
        if alive {
            names.push(k.1.clone());
        } else {
            w.clusters.remove(&k);
            w.schedules.remove(&k);
        }
    }
    names
}

/// Atlas's default disk for a tier, in GB.
fn default_disk(size: &str) -> f64 {
    match size {
        "M10" => 10.0,
        "M20" => 20.0,
        "M30" => 40.0,
        "M40" => 80.0,
        "M50" => 160.0,
        "M60" => 320.0,
        _ => 40.0,
    }
}

/// Fills each region config's configured specs with default disks and
/// sets the effective specs to them (what the cluster runs after a write).
fn apply_specs(specs: &mut Value, old_effective: Option<&Value>) {
    for (i, spec) in specs.as_array_mut().into_iter().flatten().enumerate() {
        for (j, r) in spec["regionConfigs"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (conf, eff) in [
                ("electableSpecs", "effectiveElectableSpecs"),
                ("readOnlySpecs", "effectiveReadOnlySpecs"),
                ("analyticsSpecs", "effectiveAnalyticsSpecs"),
            ] {
                if !r[conf].is_object() {
                    continue;
                }
                let old_disk = old_effective
                    .and_then(|o| o[i]["regionConfigs"][j][eff]["diskSizeGB"].as_f64());
                if r[conf]["diskSizeGB"].is_null() {
                    let size = r[conf]["instanceSize"].as_str().unwrap_or("M30");
                    r[conf]["diskSizeGB"] = json!(old_disk.unwrap_or_else(|| default_disk(size)));
                }
                r[eff] = r[conf].clone();
            }
        }
    }
}

pub(crate) fn default_schedule(w: &mut World, name: &str) -> Value {
    let policy = w.id();
    let items: Vec<Value> = [
        ("hourly", 6, "days", 2),
        ("daily", 1, "days", 7),
        ("weekly", 6, "weeks", 4),
        ("monthly", 40, "months", 12),
    ]
    .into_iter()
    .map(|(f, i, u, v)| {
        json!({"id": w.id(), "frequencyType": f, "frequencyInterval": i, "retentionUnit": u, "retentionValue": v})
    })
    .collect();
    json!({
        "clusterName": name,
        "policies": [{"id": policy, "policyItems": items}],
        "restoreWindowDays": 2,
        "referenceHourOfDay": 3,
        "referenceMinuteOfHour": 0,
        "copyPolicyItemsEnabled": false,
        "copySettings": []
    })
}

pub(crate) fn audit_of<'a>(w: &'a mut World, group: &str) -> &'a mut Value {
    w.audit.entry(group.to_string()).or_insert_with(|| {
        json!({"enabled": false, "auditAuthorizationSuccess": false, "auditFilter": "{}", "configurationType": "NONE"})
    })
}

fn settings_of<'a>(w: &'a mut World, group: &str) -> &'a mut Value {
    w.settings.entry(group.to_string()).or_insert_with(|| {
        json!({
            "isCollectDatabaseSpecificsStatisticsEnabled": true,
            "isDataExplorerEnabled": true,
            "isExtendedStorageSizesEnabled": false,
            "isPerformanceAdvisorEnabled": true,
            "isRealtimePerformancePanelEnabled": true,
            "isSchemaAdvisorEnabled": true
        })
    })
}

fn redact(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(k) = v["apiKey"].as_str() {
        let tail: String = k
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        v["apiKey"] = json!(format!("{}{tail}", "*".repeat(k.len().saturating_sub(4))));
    }
    v
}

fn group_json(w: &World, g: &Value) -> Value {
    let mut g = g.clone();
    let id = g["id"].as_str().unwrap_or_default().to_string();
    g["clusterCount"] = json!(w.clusters.keys().filter(|(x, _)| *x == id).count());
    g
}

pub(crate) fn route(
    config: &FakeConfig,
    w: &mut World,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: Value,
    media: &str,
) -> Answer {
    let m = method.as_str();
    let Some(rest) = path.strip_prefix(&["api", "atlas", "v2"]) else {
        return not_found();
    };
    match rest {
        ["groups"] => match m {
            "GET" => {
                let items: Vec<Value> = w.groups.iter().map(|g| group_json(w, g)).collect();
                ok(StatusCode::OK, page(items, query), media)
            }
            "POST" => {
                if w.groups
                    .iter()
                    .any(|g| g["name"] == body["name"] && g["orgId"] == body["orgId"])
                {
                    return error(
                        StatusCode::CONFLICT,
                        "GROUP_ALREADY_EXISTS",
                        "A group with this name already exists.",
                    );
                }
                let id = w.id();
                let mut g = json!({"id": id, "name": body["name"], "orgId": body["orgId"], "created": rfc3339(now_secs()), "tags": body["tags"].as_array().cloned().unwrap_or_default()});
                if let Some(a) = body["withDefaultAlertsSettings"].as_bool() {
                    g["withDefaultAlertsSettings"] = json!(a);
                }
                w.groups.push(g.clone());
                let answer = group_json(w, &g);
                ok(StatusCode::OK, answer, media)
            }
            _ => not_allowed(),
        },
        ["groups", "byName", name] => match w.groups.iter().find(|g| g["name"] == *name) {
            Some(g) => ok(StatusCode::OK, group_json(w, g), media),
            None => error(
                StatusCode::NOT_FOUND,
                "GROUP_NAME_NOT_FOUND",
                &format!("No group with name {name} exists."),
            ),
        },
        ["orgs", org, "groups"] if m == "GET" => {
            let prefix = query
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.to_lowercase())
                .unwrap_or_default();
            let items: Vec<Value> = w
                .groups
                .iter()
                .filter(|g| g["orgId"] == *org)
                .filter(|g| {
                    g["name"]
                        .as_str()
                        .is_some_and(|n| n.to_lowercase().starts_with(&prefix))
                })
                .map(|g| group_json(w, g))
                .collect();
            ok(StatusCode::OK, page(items, query), media)
        }
        ["groups", group, ..] if !w.groups.iter().any(|g| g["id"] == *group) => error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("Cannot find resource group {group}."),
        ),
        ["groups", group] => project(config, w, m, group, body, media),
        ["groups", group, "settings"] => match m {
            "GET" => ok(StatusCode::OK, settings_of(w, group).clone(), media),
            "PATCH" => {
                let s = settings_of(w, group);
                for (k, v) in body.as_object().into_iter().flatten() {
                    s[k] = v.clone();
                }
                ok(StatusCode::OK, s.clone(), media)
            }
            _ => not_allowed(),
        },
        ["groups", group, "auditLog"] => match m {
            "GET" => ok(StatusCode::OK, audit_of(w, group).clone(), media),
            "PATCH" => {
                if let Some(f) = body["auditFilter"].as_str()
                    && !serde_json::from_str::<Value>(f).is_ok_and(|v| v.is_object())
                {
                    return bad_fields(
                        "INVALID_AUDIT_FILTER",
                        "The audit filter is not a JSON document.",
                        &[("auditFilter", "must be a JSON document")],
                    );
                }
                let a = audit_of(w, group);
                for (k, v) in body.as_object().into_iter().flatten() {
                    a[k] = v.clone();
                }
                a["configurationType"] = json!(if a["auditFilter"] == "{}" {
                    "NONE"
                } else {
                    "FILTER_JSON"
                });
                ok(StatusCode::OK, a.clone(), media)
            }
            _ => not_allowed(),
        },
        ["groups", group, "integrations"] if m == "GET" => {
            let items: Vec<Value> = w
                .integrations
                .iter()
                .filter(|((g, _), _)| g == group)
                .map(|(_, v)| redact(v))
                .collect();
            ok(StatusCode::OK, page(items, query), media)
        }
        ["groups", group, "integrations", kind] => {
            integration(w, m, group, kind, body, query, media)
        }
        ["groups", group, "clusters"] => clusters(config, w, m, group, body, query, media),
        ["groups", group, "clusters", name, rest @ ..] => {
            cluster(config, w, m, group, name, rest, body, media)
        }
        ["groups", group, "accessList", rest @ ..] => access(w, m, group, rest, body, query, media),
        ["groups", group, "databaseUsers", rest @ ..] => {
            users(w, m, group, rest, body, query, media)
        }
        _ => not_found(),
    }
}

fn project(
    config: &FakeConfig,
    w: &mut World,
    m: &str,
    group: &str,
    body: Value,
    media: &str,
) -> Answer {
    let i = w
        .groups
        .iter()
        .position(|g| g["id"] == group)
        .expect("checked");
    match m {
        "GET" => ok(StatusCode::OK, group_json(w, &w.groups[i]), media),
        "PATCH" => {
            for k in ["name", "tags", "withDefaultAlertsSettings"] {
                if !body[k].is_null() {
                    w.groups[i][k] = body[k].clone();
                }
            }
            ok(StatusCode::OK, group_json(w, &w.groups[i]), media)
        }
        "DELETE" => {
            if !live_clusters(w, group, config.transition).is_empty() {
                return error(
                    StatusCode::CONFLICT,
                    "CANNOT_CLOSE_GROUP_ACTIVE_ATLAS_CLUSTERS",
                    "The project still has clusters; delete them first.",
                );
            }
            w.groups.remove(i);
            w.access.remove(group);
            w.users.retain(|(g, _, _), _| g != group);
            w.audit.remove(group);
            w.settings.remove(group);
            w.integrations.retain(|(g, _), _| g != group);
            empty(StatusCode::NO_CONTENT, PROJECT_MEDIA)
        }
        _ => not_allowed(),
    }
}

const DATADOG_REGIONS: [&str; 7] = ["US", "US3", "US5", "EU", "AP1", "AP2", "US1_FED"];

fn integration(
    w: &mut World,
    m: &str,
    group: &str,
    kind: &str,
    body: Value,
    query: &[(String, String)],
    media: &str,
) -> Answer {
    let key = (group.to_string(), kind.to_string());
    let exists = w.integrations.contains_key(&key);
    let all = |w: &World| {
        let items: Vec<Value> = w
            .integrations
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|(_, v)| redact(v))
            .collect();
        page(items, query)
    };
    match m {
        "GET" if exists => ok(StatusCode::OK, redact(&w.integrations[&key]), media),
        "POST" | "PUT" => {
            if m == "POST" && exists {
                return error(
                    StatusCode::CONFLICT,
                    "INTEGRATION_ALREADY_CONFIGURED",
                    &format!("A {kind} integration is already configured in this project."),
                );
            }
            if m == "PUT" && !exists {
                return error(
                    StatusCode::NOT_FOUND,
                    "INTEGRATION_NOT_CONFIGURED",
                    &format!("No {kind} integration is configured in this project."),
                );
            }
            if body["type"] != kind {
                return bad_fields(
                    "INVALID_INTEGRATION_TYPE",
                    "The body's type does not match the path.",
                    &[("type", "must match the integration type of the path")],
                );
            }
            if kind == "DATADOG" {
                let key_ok = body["apiKey"]
                    .as_str()
                    .is_some_and(|k| k.len() == 32 && k.chars().all(|c| c.is_ascii_hexdigit()));
                if !key_ok {
                    return bad_fields(
                        "INVALID_DATADOG_API_KEY",
                        "Datadog refused the API key.",
                        &[(
                            "apiKey",
                            "must be a Datadog API key (32 hexadecimal characters)",
                        )],
                    );
                }
                let region = body["region"].as_str().unwrap_or("US");
                if !DATADOG_REGIONS.contains(&region) {
                    return bad_fields(
                        "INVALID_DATADOG_REGION",
                        "Unknown Datadog region.",
                        &[("region", "must be a Datadog region")],
                    );
                }
            }
            let mut v = body;
            let id = match w.integrations.get(&key) {
                Some(old) => old["id"].clone(),
                None => json!(w.id()),
            };
            v["id"] = id;
            w.integrations.insert(key, v);
            ok(StatusCode::OK, all(w), media)
        }
        "DELETE" if exists => {
            w.integrations.remove(&key);
            empty(StatusCode::NO_CONTENT, media)
        }
        "GET" | "DELETE" => error(
            StatusCode::NOT_FOUND,
            "INTEGRATION_NOT_CONFIGURED",
            &format!("No {kind} integration is configured in this project."),
        ),
        _ => not_allowed(),
    }
}

fn clusters(
    config: &FakeConfig,
    w: &mut World,
    m: &str,
    group: &str,
    body: Value,
    query: &[(String, String)],
    media: &str,
) -> Answer {
    match m {
        "GET" => {
            let names = live_clusters(w, group, config.transition);
            let items: Vec<Value> = names
                .iter()
                .map(|n| w.clusters[&(group.to_string(), n.clone())].body.clone())
                .collect();
            ok(StatusCode::OK, page(items, query), media)
        }
        "POST" => {
            let name = body["name"].as_str().unwrap_or_default().to_string();
            live_clusters(w, group, config.transition);
            if w.clusters.contains_key(&(group.to_string(), name.clone())) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "DUPLICATE_CLUSTER_NAME",
                    &format!("A cluster named {name} is already present in group {group}."),
                );
            }
            if body["pitEnabled"] == true && body["backupEnabled"] != true {
                return bad_fields(
                    "INVALID_ATTRIBUTE",
                    "Point-in-time restore needs cloud backup.",
                    &[("pitEnabled", "needs backupEnabled")],
                );
            }
            let mut c = body;
            let id = w.id();
            c["id"] = json!(id);
            c["groupId"] = json!(group);
            c["stateName"] = json!("CREATING");
            c["createDate"] = json!(rfc3339(now_secs()));
            let major = c["mongoDBMajorVersion"]
                .as_str()
                .unwrap_or("8.0")
                .to_string();
            c["mongoDBMajorVersion"] = json!(major);
            c["mongoDBVersion"] = json!(format!("{major}.4"));
            let host = format!("{name}.{}.mongodb.net", &id[18..]);
            let connection = json!({
                "standard": format!("mongodb://{name}-shard-00-00.{}.mongodb.net:27017/?ssl=true", &id[18..]),
                "standardSrv": format!("mongodb+srv://{host}"),
            });
            for k in [
                "backupEnabled",
                "pitEnabled",
                "terminationProtectionEnabled",
            ] {
                if c[k].is_null() {
                    c[k] = json!(false);
                }
            }
            for spec in c["replicationSpecs"].as_array_mut().into_iter().flatten() {
                w.next += 1;
                spec["id"] = json!(format!("{:024x}", w.next));
                w.next += 1;
                spec["zoneId"] = json!(format!("{:024x}", w.next));
                if spec["zoneName"].is_null() {
                    spec["zoneName"] = json!("Zone 1");
                }
            }
            apply_specs(&mut c["replicationSpecs"], None);
            let schedule = default_schedule(w, &name);
            w.schedules
                .insert((group.to_string(), name.clone()), schedule);
            w.clusters.insert(
                (group.to_string(), name),
                ClusterRec {
                    body: c.clone(),
                    state: "CREATING",
                    since: Instant::now(),
                    created: now_secs(),
                    snapshots: Vec::new(),
                    connection,
                },
            );
            ok(StatusCode::CREATED, c, media)
        }
        _ => not_allowed(),
    }
}

#[allow(clippy::too_many_arguments)]
fn cluster(
    config: &FakeConfig,
    w: &mut World,
    m: &str,
    group: &str,
    name: &str,
    rest: &[&str],
    body: Value,
    media: &str,
) -> Answer {
    let key = (group.to_string(), name.to_string());
    let alive = w
        .clusters
        .get_mut(&key)
        .is_some_and(|r| settle(r, config.transition));
    if !alive {
        w.clusters.remove(&key);
        w.schedules.remove(&key);
        return error(
            StatusCode::NOT_FOUND,
            "CLUSTER_NOT_FOUND",
            &format!("No cluster named {name} exists in group {group}."),
        );
    }
    match (m, rest) {
        ("GET", []) => ok(StatusCode::OK, w.clusters[&key].body.clone(), media),
        ("PATCH", []) => {
            let rec = w.clusters.get_mut(&key).expect("cluster");
            if rec.state != "IDLE" {
                return error(
                    StatusCode::CONFLICT,
                    "CLUSTER_NOT_IDLE",
                    "The cluster is busy; try again when it is IDLE.",
                );
            }
            let backup = body
                .get("backupEnabled")
                .unwrap_or(&rec.body["backupEnabled"])
                .clone();
            let pit = body
                .get("pitEnabled")
                .unwrap_or(&rec.body["pitEnabled"])
                .clone();
            if pit == true && backup != true {
                return bad_fields(
                    "INVALID_ATTRIBUTE",
                    "Point-in-time restore needs cloud backup.",
                    &[("pitEnabled", "needs backupEnabled")],
                );
            }
            for (k, v) in body.as_object().into_iter().flatten() {
                if k == "replicationSpecs" {
                    // Keep the ids Atlas assigned.
                    let old = rec.body["replicationSpecs"].clone();
                    let mut specs = v.clone();
                    for (i, s) in specs.as_array_mut().into_iter().flatten().enumerate() {
                        s["id"] = old[i]["id"].clone();
                        s["zoneId"] = old[i]["zoneId"].clone();
                        if s["zoneName"].is_null() {
                            s["zoneName"] = old[i]["zoneName"].clone();
                        }
                    }
                    apply_specs(&mut specs, Some(&old));
                    rec.body[k] = specs;
                } else {
                    rec.body[k] = v.clone();
                }
            }
            rec.state = "UPDATING";
            rec.since = Instant::now();
            rec.body["stateName"] = json!("UPDATING");
            ok(StatusCode::OK, rec.body.clone(), media)
        }
        ("DELETE", []) => {
            let rec = w.clusters.get_mut(&key).expect("cluster");
            if rec.body["terminationProtectionEnabled"] == true {
                return error(
                    StatusCode::BAD_REQUEST,
                    "CANNOT_TERMINATE_CLUSTER_WHEN_TERMINATION_PROTECTION_ENABLED",
                    "Turn termination protection off first.",
                );
            }
            rec.state = "DELETING";
            rec.since = Instant::now();
            rec.body["stateName"] = json!("DELETING");
            empty(StatusCode::ACCEPTED, media)
        }
        ("GET", ["backup", "schedule"]) => ok(StatusCode::OK, w.schedules[&key].clone(), media),
        ("DELETE", ["backup", "schedule"]) => {
            let fresh = default_schedule(w, name);
            w.schedules.insert(key, fresh.clone());
            ok(StatusCode::OK, fresh, media)
        }
        ("PATCH", ["backup", "schedule"]) => schedule_patch(w, &key, body, media),
        ("POST", ["backup", "restoreJobs"]) => restore(config, w, &key, body, media),
        ("GET", ["backup", "restoreJobs", id]) => match w.restores.get(*id) {
            Some(r) => {
                let mut job = r.job.clone();
                match r.outcome {
                    Some(RestoreOutcome::Failed) => job["failed"] = json!(true),
                    Some(RestoreOutcome::Cancelled) => job["cancelled"] = json!(true),
                    Some(RestoreOutcome::Expired) => {
                        job["expired"] = json!(true);
                        job["expiresAt"] = json!(rfc3339(now_secs()));
                    }
                    None if r.started.elapsed() >= config.transition => {
                        job["finishedAt"] = json!(rfc3339(now_secs()));
                    }
                    None => {}
                }
                ok(StatusCode::OK, job, media)
            }
            None => error(
                StatusCode::NOT_FOUND,
                "RESTORE_JOB_NOT_FOUND",
                "No such restore job.",
            ),
        },
        _ => not_found(),
    }
}

/// Whether `unit` is one Atlas accepts for snapshots taken `frequency`.
fn retention_fits(frequency: &str, unit: &str) -> bool {
    match frequency {
        "hourly" => unit == "days",
        "daily" => matches!(unit, "days" | "weeks" | "months"),
        "weekly" => matches!(unit, "weeks" | "months"),
        "monthly" => matches!(unit, "months" | "years"),
        "yearly" => unit == "years",
        _ => false,
    }
}

fn interval_fits(frequency: &str, interval: u64) -> bool {
    match frequency {
        "hourly" => [1, 2, 4, 6, 8, 12].contains(&interval),
        "daily" => interval == 1,
        "weekly" => (1..=7).contains(&interval),
        "monthly" => (1..=28).contains(&interval) || interval == 40,
        "yearly" => (1..=12).contains(&interval),
        _ => false,
    }
}

fn schedule_patch(w: &mut World, key: &(String, String), body: Value, media: &str) -> Answer {
    let zones: Vec<Value> = w.clusters[key].body["replicationSpecs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["zoneId"].clone())
        .collect();
    for p in body["policies"].as_array().into_iter().flatten() {
        for item in p["policyItems"].as_array().into_iter().flatten() {
            let f = item["frequencyType"].as_str().unwrap_or_default();
            let unit = item["retentionUnit"].as_str().unwrap_or_default();
            if !interval_fits(f, item["frequencyInterval"].as_u64().unwrap_or(0)) {
                return bad_fields(
                    "INVALID_POLICY_ITEM",
                    "A policy item has a frequency interval Atlas does not offer.",
                    &[(
                        "policies.policyItems.frequencyInterval",
                        "not offered for this frequency",
                    )],
                );
            }
            if !retention_fits(f, unit) || item["retentionValue"].as_u64().unwrap_or(0) == 0 {
                return bad_fields(
                    "INVALID_POLICY_ITEM",
                    "A policy item keeps its snapshots in a unit Atlas does not offer.",
                    &[(
                        "policies.policyItems.retentionUnit",
                        "not offered for this frequency",
                    )],
                );
            }
        }
    }
    if let Some(h) = body["referenceHourOfDay"].as_u64()
        && h > 23
    {
        return bad_fields(
            "INVALID_ATTRIBUTE",
            "referenceHourOfDay is 0 to 23.",
            &[("referenceHourOfDay", "must be 0 to 23")],
        );
    }
    let copy_items = body["copyPolicyItemsEnabled"]
        .as_bool()
        .unwrap_or_else(|| w.schedules[key]["copyPolicyItemsEnabled"] == true);
    for c in body["copySettings"].as_array().into_iter().flatten() {
        if !zones.contains(&c["zoneId"]) {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_ZONE_ID",
                "A copy setting names a zone the cluster does not have.",
            );
        }
        let has_items = c["copyPolicyItems"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        let has_frequencies = c["frequencies"].as_array().is_some_and(|a| !a.is_empty());
        if has_items && !copy_items {
            return bad_fields(
                "INVALID_COPY_SETTING",
                "copyPolicyItems are allowed only with copyPolicyItemsEnabled.",
                &[(
                    "copySettings.copyPolicyItems",
                    "needs copyPolicyItemsEnabled",
                )],
            );
        }
        if has_frequencies && copy_items {
            return bad_fields(
                "INVALID_COPY_SETTING",
                "frequencies are allowed only without copyPolicyItemsEnabled.",
                &[(
                    "copySettings.frequencies",
                    "deprecated; use copyPolicyItems",
                )],
            );
        }
    }
    let mut ids = Vec::new();
    for _ in 0..64 {
        ids.push(w.id());
    }
    let mut ids = ids.into_iter();
    let schedule = w.schedules.get_mut(key).expect("schedule");
    for (k, v) in body.as_object().into_iter().flatten() {
        match k.as_str() {
            "policies" => {
                let old_id = schedule["policies"][0]["id"].clone();
                let mut policies = v.clone();
                for p in policies.as_array_mut().into_iter().flatten() {
                    if p["id"].is_null() {
                        p["id"] = old_id.clone();
                    }
                    for item in p["policyItems"].as_array_mut().into_iter().flatten() {
                        if item["id"].is_null() {
                            item["id"] = json!(ids.next());
                        }
                    }
                }
                schedule[k] = policies;
            }
            "copySettings" => {
                let mut copies = v.clone();
                for c in copies.as_array_mut().into_iter().flatten() {
                    for item in c["copyPolicyItems"].as_array_mut().into_iter().flatten() {
                        item["id"] = json!(ids.next());
                    }
                }
                schedule[k] = copies;
            }
            _ => schedule[k] = v.clone(),
        }
    }
    ok(StatusCode::OK, schedule.clone(), media)
}

fn restore(
    config: &FakeConfig,
    w: &mut World,
    key: &(String, String),
    body: Value,
    media: &str,
) -> Answer {
    let delivery = body["deliveryType"].as_str().unwrap_or_default();
    if !["automated", "download", "pointInTime"].contains(&delivery) {
        return bad_fields(
            "INVALID_DELIVERY_TYPE",
            "Unknown delivery type.",
            &[("deliveryType", "must be automated, download or pointInTime")],
        );
    }
    if delivery != "download" {
        let target = (
            body["targetGroupId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            body["targetClusterName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        live_clusters(w, &target.0, config.transition);
        if !w.clusters.contains_key(&target) {
            return bad_fields(
                "TARGET_CLUSTER_NOT_FOUND",
                "The target cluster does not exist.",
                &[("targetClusterName", "no such cluster in targetGroupId")],
            );
        }
    }
    let rec = &w.clusters[key];
    let window = w.schedules[key]["restoreWindowDays"].as_u64().unwrap_or(0);
    if delivery == "pointInTime" {
        if rec.body["pitEnabled"] != true {
            return error(
                StatusCode::BAD_REQUEST,
                "CLUSTER_PIT_NOT_ENABLED",
                "Point-in-time restore is not enabled on this cluster.",
            );
        }
        let (field, at) = match (
            body["pointInTimeUTCSeconds"].as_u64(),
            body["oplogTs"].as_u64(),
            body["oplogInc"].as_u64(),
        ) {
            (Some(t), None, None) => ("pointInTimeUTCSeconds", t),
            (None, Some(t), Some(_)) => ("oplogTs", t),
            _ => {
                return bad_fields(
                    "INVALID_POINT_IN_TIME",
                    "Give pointInTimeUTCSeconds, or oplogTs with oplogInc.",
                    &[("pointInTimeUTCSeconds", "or oplogTs and oplogInc")],
                );
            }
        };
        let now = now_secs();
        let earliest = rec.created.max(now.saturating_sub(window * 86_400));
        if at < earliest || at > now {
            return bad_fields(
                "INVALID_POINT_IN_TIME",
                &format!(
                    "The point in time must lie between {} and now (the cluster's age and its {window}-day restore window).",
                    rfc3339(earliest)
                ),
                &[(field, "outside the restore window")],
            );
        }
    } else if let Some(s) = body["snapshotId"].as_str() {
        if !rec.snapshots.iter().any(|x| x == s) {
            return bad_fields(
                "SNAPSHOT_NOT_FOUND",
                "No such snapshot of this cluster.",
                &[("snapshotId", "not a snapshot of this cluster")],
            );
        }
    } else {
        return bad_fields(
            "INVALID_ATTRIBUTE",
            "A restore needs a snapshot.",
            &[("snapshotId", "required")],
        );
    }
    let id = w.id();
    let mut job = body;
    job["id"] = json!(id);
    job["timestamp"] = json!(rfc3339(now_secs()));
    w.restores.insert(
        id,
        RestoreRec {
            job: job.clone(),
            started: Instant::now(),
            outcome: None,
        },
    );
    ok(StatusCode::OK, job, media)
}

fn entry_values(e: &Value) -> [&Value; 3] {
    [&e["cidrBlock"], &e["ipAddress"], &e["awsSecurityGroup"]]
}

fn access(
    w: &mut World,
    m: &str,
    group: &str,
    rest: &[&str],
    body: Value,
    query: &[(String, String)],
    media: &str,
) -> Answer {
    let list = w.access.entry(group.to_string()).or_default();
    match (m, rest) {
        ("GET", []) => ok(StatusCode::OK, page(list.clone(), query), media),
        ("POST", []) => {
            let entries = body.as_array().cloned().unwrap_or_default();
            for e in &entries {
                let given = entry_values(e).iter().filter(|v| !v.is_null()).count();
                if given != 1 {
                    return bad_fields(
                        "INVALID_ACCESS_LIST_ENTRY",
                        "Each entry has exactly one of cidrBlock, ipAddress and awsSecurityGroup.",
                        &[(
                            "cidrBlock",
                            "give exactly one of cidrBlock, ipAddress, awsSecurityGroup",
                        )],
                    );
                }
            }
            for e in entries {
                let mut e = e.clone();
                if let Some(ip) = e["ipAddress"].as_str() {
                    e["cidrBlock"] = json!(format!("{ip}/32"));
                }
                e["groupId"] = json!(group);
                list.retain(|x| {
                    let same = |k: &str| !e[k].is_null() && x[k] == e[k];
                    !(same("cidrBlock") || same("awsSecurityGroup"))
                });
                list.push(e);
            }
            ok(StatusCode::OK, page(list.clone(), query), media)
        }
        ("DELETE", [value]) => {
            let before = list.len();
            list.retain(|x| !entry_values(x).iter().any(|v| *v == value));
            if list.len() == before {
                return error(
                    StatusCode::NOT_FOUND,
                    "ATLAS_NETWORK_PERMISSION_ENTRY_NOT_FOUND",
                    "No such access list entry.",
                );
            }
            empty(StatusCode::NO_CONTENT, media)
        }
        _ => not_found(),
    }
}

fn users(
    w: &mut World,
    m: &str,
    group: &str,
    rest: &[&str],
    body: Value,
    query: &[(String, String)],
    media: &str,
) -> Answer {
    let public = |u: &Value| {
        let mut u = u.clone();
        if let Some(o) = u.as_object_mut() {
            o.remove("password");
        }
        u
    };
    match (m, rest) {
        ("GET", []) => {
            let items: Vec<Value> = w
                .users
                .iter()
                .filter(|((g, _, _), _)| g == group)
                .map(|(_, u)| u.clone())
                .collect();
            ok(StatusCode::OK, page(items, query), media)
        }
        ("POST", []) => {
            let db = body["databaseName"].as_str().unwrap_or("admin").to_string();
            let iam = body["awsIAMType"].as_str().unwrap_or("NONE");
            let password = body["password"].as_str();
            let fits = match db.as_str() {
                "admin" => iam == "NONE" && password.is_some(),
                "$external" => iam != "NONE" && password.is_none(),
                _ => false,
            };
            if !fits {
                return bad_fields(
                    "INVALID_DATABASE_USER",
                    "SCRAM users have a password on admin; AWS IAM users have none, on $external.",
                    &[(
                        "databaseName",
                        "admin with a password, or $external with awsIAMType",
                    )],
                );
            }
            let key = (
                group.to_string(),
                db,
                body["username"].as_str().unwrap_or_default().to_string(),
            );
            if w.users.contains_key(&key) {
                return error(
                    StatusCode::CONFLICT,
                    "USER_ALREADY_EXISTS",
                    "The specified database user already exists.",
                );
            }
            if let Some(p) = password {
                w.passwords.insert(key.clone(), p.to_string());
            }
            let u = public(&body);
            w.users.insert(key, u.clone());
            ok(StatusCode::CREATED, u, media)
        }
        (_, [db, username]) => {
            let key = (group.to_string(), db.to_string(), username.to_string());
            if !w.users.contains_key(&key) {
                return error(
                    StatusCode::NOT_FOUND,
                    "USERNAME_NOT_FOUND",
                    &format!("No user with username {username} exists."),
                );
            }
            match m {
                "GET" => ok(StatusCode::OK, w.users[&key].clone(), media),
                "PATCH" => {
                    if let Some(p) = body["password"].as_str() {
                        w.passwords.insert(key.clone(), p.to_string());
                    }
                    let u = w.users.get_mut(&key).expect("user");
                    for (k, v) in body.as_object().into_iter().flatten() {
                        if k != "password" {
                            u[k] = v.clone();
                        }
                    }
                    ok(StatusCode::OK, u.clone(), media)
                }
                "DELETE" => {
                    w.users.remove(&key);
                    w.passwords.remove(&key);
                    empty(StatusCode::NO_CONTENT, media)
                }
                _ => not_allowed(),
            }
        }
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_028_800), "2025-11-25T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
