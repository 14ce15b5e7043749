//! The cluster through the engine against the fake Atlas: apply, a clean
//! plan, drift repaired, the auto-scaler's tier never reported nor sent
//! back, a killed wait continued, termination protection, and foreign
//! clusters left exactly as they were.

mod support;

use std::sync::Arc;
use std::time::Duration;

use madplan_atlas::client::clusters::{CloudProvider, InstanceSize};
use madplan_atlas::resources::{
    Cluster, Compute, ConnectionString, Region, Storage, cluster::ClusterOutputs,
};
use madplan_core::plan::Action;
use madplan_core::{Environment, Error, Ref, StateStore};
use serde_json::{Value, json};
use support::*;

fn cluster(group: &str) -> Cluster {
    Cluster::new(
        group,
        "prod",
        Compute::auto_scaled(InstanceSize::M30, InstanceSize::M60).scale_down_to(InstanceSize::M30),
    )
    .storage(Storage::auto_scaled_from(40.0))
    .region(Region::electable(CloudProvider::Aws, "US_EAST_1", 7, 3))
    .region(Region::read_only(CloudProvider::Aws, "US_WEST_2", 1))
    .tag("team", "platform")
}

fn env_with(w: &World, name: &str, c: Cluster) -> (Environment, Ref<Cluster>) {
    let mut env = w.env(name);
    let r = env.add("main", c);
    env.export::<ConnectionString>("mongodb_uri", &r);
    (env, r)
}

/// Waits (bounded) until the fake's cluster is IDLE.
async fn settle(w: &World, group: &str, name: &str) {
    w.client
        .wait_for_cluster(
            group,
            name,
            false,
            Duration::from_millis(10),
            Duration::from_secs(5),
            |_| {},
        )
        .await
        .unwrap();
}

/// Every `instanceSize` under `replicationSpecs` of a request body.
fn instance_sizes(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in body["replicationSpecs"].as_array().into_iter().flatten() {
        for r in s["regionConfigs"].as_array().into_iter().flatten() {
            for k in ["electableSpecs", "readOnlySpecs", "analyticsSpecs"] {
                if let Some(size) = r[k]["instanceSize"].as_str() {
                    out.push(size.to_string());
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn a_cluster_is_applied_planned_clean_and_its_drift_repaired() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    let (env, _) = env_with(&w, "staging", cluster(&group));
    w.apply(env).await.unwrap();

    // The SRV connection string, without credentials, is an output.
    let (env, _) = env_with(&w, "staging", cluster(&group));
    let e = w.engine(env);
    let outputs = e.outputs().await.unwrap();
    let uri = outputs["mongodb_uri"]
        .as_ref()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(uri.starts_with("mongodb+srv://prod."), "{uri}");
    assert!(!uri.contains('@'), "{uri}");
    // Created with madplan's markers, the user's tags and auto-scaling.
    let live = w.fake.cluster_json(&group, "prod").unwrap();
    let tags = live["tags"].as_array().unwrap();
    for key in [
        "madplan:environment",
        "madplan:address",
        "madplan:lineage",
        "team",
    ] {
        assert!(
            tags.iter().any(|t| t["key"] == key),
            "{key} missing: {tags:?}"
        );
    }
    assert_eq!(live["pitEnabled"], true);
    assert_eq!(
        live["advancedConfiguration"]["minimumEnabledTlsProtocol"],
        "TLS1_2"
    );
    clean(&e.plan().await.unwrap());

    // Auto-scaling turned off behind madplan's back.
    let mut c = w.client.cluster(&group, "prod").await.unwrap();
    for r in &mut c.replication_specs[0].region_configs {
        let a = r.auto_scaling.as_mut().unwrap();
        a.compute.enabled = false;
        a.compute.scale_down_enabled = false;
        a.compute.min_instance_size = None;
        a.compute.max_instance_size = None;
    }
    w.client.update_cluster(&group, "prod", &c).await.unwrap();
    settle(&w, &group, "prod").await;
    let (env, _) = env_with(&w, "staging", cluster(&group));
    let plan = w.plan(env).await;
    assert_eq!(fields(&plan, "atlas.cluster.main"), ["compute"]);
    let change = plan.change("atlas.cluster.main").unwrap();
    assert_eq!(change.action, Action::Update);
    let before = change.fields[0].before.as_ref().unwrap();
    assert_eq!(before["auto_scaling"], Value::Null, "{before}");
    assert_eq!(before["instance_size"], "M30", "{before}");

    let (env, _) = env_with(&w, "staging", cluster(&group));
    w.apply(env).await.unwrap();
    let patch = w.fake.bodies("PATCH", "/clusters/prod").pop().unwrap();
    let scaling = &patch["replicationSpecs"][0]["regionConfigs"][0]["autoScaling"]["compute"];
    assert_eq!(scaling["enabled"], true, "{patch}");
    assert_eq!(scaling["maxInstanceSize"], "M60", "{patch}");
    let (env, _) = env_with(&w, "staging", cluster(&group));
    clean(&w.plan(env).await);
    w.no_violations();
}

#[tokio::test]
async fn the_autoscalers_tier_is_never_drift_and_never_sent_back() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    let (env, _) = env_with(&w, "staging", cluster(&group));
    w.apply(env).await.unwrap();

    // Atlas scales the cluster up to M40.
    w.fake.autoscale(&group, "prod", "M40");
    let (env, _) = env_with(&w, "staging", cluster(&group));
    clean(&w.plan(env).await);
    settle(&w, &group, "prod").await;
    let (env, _) = env_with(&w, "staging", cluster(&group));
    clean(&w.plan(env).await);

    // A change elsewhere in the replication spec: one more read replica.
    let mut more = cluster(&group);
    more.regions[1].read_only_nodes = 2;
    let (env, _) = env_with(&w, "staging", more.clone());
    let plan = w.plan(env).await;
    assert_eq!(fields(&plan, "atlas.cluster.main"), ["regions"]);
    let patches_before = w.fake.bodies("PATCH", "/clusters/prod").len();
    let (env, _) = env_with(&w, "staging", more.clone());
    w.apply(env).await.unwrap();
    let patches = w.fake.bodies("PATCH", "/clusters/prod");
    assert_eq!(patches.len(), patches_before + 1);
    let body = patches.last().unwrap();
    let sizes = instance_sizes(body);
    assert_eq!(sizes, ["M40", "M40"], "the effective tier is sent: {body}");
    assert!(
        !sizes.contains(&"M30".to_string()),
        "M30 was sent back: {body}"
    );
    let live = w.fake.cluster_json(&group, "prod").unwrap();
    assert_eq!(
        live["replicationSpecs"][0]["regionConfigs"][0]["effectiveElectableSpecs"]["instanceSize"],
        "M40"
    );

    // A change outside the replication spec does not send it at all.
    let tagged = more.clone().tag("cost-center", "42");
    let (env, _) = env_with(&w, "staging", tagged.clone());
    w.apply(env).await.unwrap();
    let body = w.fake.bodies("PATCH", "/clusters/prod").pop().unwrap();
    assert!(body.get("replicationSpecs").is_none(), "{body}");
    assert!(
        body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "madplan:lineage")
    );
    let (env, _) = env_with(&w, "staging", tagged);
    clean(&w.plan(env).await);
    w.no_violations();
}

#[tokio::test]
async fn a_killed_wait_is_continued_by_the_next_apply() {
    let w = world_with(Duration::from_millis(700)).await;
    let group = w.project("madplan-staging").await;
    let (env, _) = env_with(&w, "staging", cluster(&group));
    let e = w.engine(env);
    let plan = e.plan().await.unwrap();
    // The process dies while the cluster is CREATING.
    let killed = tokio::time::timeout(Duration::from_millis(250), e.apply(&plan)).await;
    assert!(killed.is_err(), "the apply was still waiting");
    drop(e);
    let held = w.store().lock_holder().await.unwrap().unwrap();
    w.store().force_unlock(held.id).await.unwrap();
    let state = w.store().load().await.unwrap().unwrap();
    let entry = &state.resources[&"atlas.cluster.main".parse().unwrap()];
    assert!(entry.pending, "the cluster is recorded before the wait");
    let recorded: ClusterOutputs = serde_json::from_value(entry.outputs.clone()).unwrap();
    assert!(recorded.connection_string.is_none());

    let progress = Progress::default();
    let (env, _) = env_with(&w, "staging", cluster(&group));
    let e = w.engine(env).with_events(Arc::new(progress.clone()));
    let plan = e.plan().await.unwrap();
    let c = plan.change("atlas.cluster.main").unwrap();
    assert_eq!((c.action, c.resume), (Action::Update, true));
    e.apply(&plan).await.unwrap();
    assert_eq!(
        w.fake.bodies("POST", "/clusters").len(),
        1,
        "no second create"
    );
    let seen = progress.0.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|m| m == "waiting for the cluster to be IDLE: CREATING"),
        "{seen:?}"
    );
    let state = w.store().load().await.unwrap().unwrap();
    let entry = &state.resources[&"atlas.cluster.main".parse().unwrap()];
    assert!(!entry.pending);
    assert!(
        entry.outputs["connection_string"]
            .as_str()
            .unwrap()
            .starts_with("mongodb+srv://")
    );
    w.no_violations();
}

#[tokio::test]
async fn termination_protection_refuses_destroy_until_it_is_turned_off_and_foreign_clusters_stay() {
    let w = world().await;
    let group = w.project("madplan-production").await;
    // Someone else's clusters: one with fields madplan does not know, one
    // tagged by another state of the same environment.
    w.fake.put_cluster_json(
        &group,
        json!({
            "name": "analytics", "clusterType": "REPLICASET", "stateName": "IDLE",
            "someFutureField": {"nested": [1, 2, 3]},
            "replicationSpecs": [{"regionConfigs": [{
                "providerName": "AWS", "regionName": "EU_WEST_1", "priority": 7,
                "electableSpecs": {"instanceSize": "R40", "nodeCount": 3}
            }]}]
        }),
    );
    w.fake.put_cluster_json(
        &group,
        json!({
            "name": "other-state", "stateName": "IDLE", "terminationProtectionEnabled": false,
            "tags": [
                {"key": "madplan:environment", "value": "production"},
                {"key": "madplan:address", "value": "atlas.cluster.main"},
                {"key": "madplan:lineage", "value": "00000000-0000-0000-0000-000000000000"}
            ],
            "replicationSpecs": [{"regionConfigs": [{
                "providerName": "AWS", "regionName": "US_EAST_1", "priority": 7,
                "electableSpecs": {"instanceSize": "M10", "nodeCount": 3}
            }]}]
        }),
    );
    let protected = || {
        let (mut env, r) = env_with(
            &w,
            "production",
            cluster(&group).termination_protection(true),
        );
        env.protect(&r);
        env
    };
    w.apply(protected()).await.unwrap();
    let plan = w.plan(protected()).await;
    clean(&plan);
    assert_eq!(
        plan.foreign.len(),
        1,
        "the other state's cluster is seen, not touched"
    );
    let foreign_before: Vec<Value> = ["analytics", "other-state"]
        .iter()
        .map(|n| w.fake.cluster_json(&group, n).unwrap())
        .collect();

    // The engine refuses to delete a protected resource unless allowed.
    let err = w.destroy(protected(), false).await.unwrap_err();
    assert!(matches!(err, Error::Protected { .. }), "{err}");
    // Allowed, Atlas's termination protection still refuses, clearly and
    // before any DELETE is sent.
    let err = w.destroy(protected(), true).await.unwrap_err().to_string();
    assert!(err.contains("termination protection on"), "{err}");
    assert!(err.contains("set termination_protection to false"), "{err}");
    assert!(w.fake.bodies("DELETE", "/clusters/prod").is_empty());
    assert!(w.fake.cluster_json(&group, "prod").is_some());

    // Production's validation wants it on in code, so the operator turns
    // it off in Atlas to retire the cluster; then destroy goes through.
    let mut c = w.client.cluster(&group, "prod").await.unwrap();
    c.termination_protection_enabled = false;
    w.client.update_cluster(&group, "prod", &c).await.unwrap();
    settle(&w, &group, "prod").await;
    w.destroy(protected(), true).await.unwrap();
    assert!(
        w.fake.cluster_json(&group, "prod").is_none(),
        "the cluster is gone"
    );
    let foreign_after: Vec<Value> = ["analytics", "other-state"]
        .iter()
        .map(|n| w.fake.cluster_json(&group, n).unwrap())
        .collect();
    assert_eq!(
        foreign_after, foreign_before,
        "foreign clusters untouched, every field"
    );
    assert!(w.fake.bodies("PATCH", "/clusters/analytics").is_empty());
    assert!(w.fake.bodies("PATCH", "/clusters/other-state").is_empty());
    w.no_violations();
}

#[tokio::test]
async fn outside_production_termination_protection_is_turned_off_in_code_then_destroyed() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    let (env, _) = env_with(&w, "staging", cluster(&group).termination_protection(true));
    w.apply(env).await.unwrap();
    let (env, _) = env_with(&w, "staging", cluster(&group).termination_protection(true));
    let err = w.destroy(env, false).await.unwrap_err().to_string();
    assert!(err.contains("termination protection on"), "{err}");
    let (env, _) = env_with(&w, "staging", cluster(&group));
    let plan = w.plan(env).await;
    assert_eq!(
        fields(&plan, "atlas.cluster.main"),
        ["termination_protection"]
    );
    let (env, _) = env_with(&w, "staging", cluster(&group));
    w.apply(env).await.unwrap();
    let body = w.fake.bodies("PATCH", "/clusters/prod").pop().unwrap();
    assert_eq!(body, json!({"terminationProtectionEnabled": false}));
    let (env, _) = env_with(&w, "staging", cluster(&group));
    w.destroy(env, false).await.unwrap();
    assert!(w.fake.cluster_json(&group, "prod").is_none());
    w.no_violations();
}
