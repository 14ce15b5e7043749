//! How close apply comes to the critical path of the dependency graph, and
//! how many refresh calls a plan makes, on a simulated provider whose every
//! call takes a fixed time. Figures are ratios and counts, so they hold on a
//! noisy, shared machine.
//!
//! A second table measures the engine alone at scale: plan from nothing,
//! apply, and a no-op plan of 100, 1,000 and 10,000 resources on the same
//! provider with no latency, with the process's peak memory after each size.
//!
//! `cargo bench -p madplan-core --bench apply`

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use madplan_core::{
    Engine, Environment, Found, Input, Kinds, LocalStateStore, Observed, OpCx, Provider,
    ProviderError, RefreshCx, Resource, TAG_ADDRESS, TAG_ENVIRONMENT, TAG_LINEAGE,
};
use serde::{Deserialize, Serialize};

const LATENCY: Duration = Duration::from_millis(20);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Sim {
    parent: Option<Input<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SimOut {
    id: String,
}

struct SimProvider {
    budget: usize,
    latency: Duration,
    live: Mutex<BTreeMap<String, Sim>>,
    refresh_calls: AtomicUsize,
}

impl SimProvider {
    async fn pause(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

impl Provider for SimProvider {
    const NAME: &'static str = "sim";
    fn concurrency(&self) -> usize {
        self.budget
    }
    fn register(kinds: &mut Kinds) {
        kinds.register::<Sim>();
    }
}

impl Resource for Sim {
    const KIND: &'static str = "sim.node";
    type Provider = SimProvider;
    type Outputs = SimOut;

    async fn refresh(
        p: &SimProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        p.refresh_calls.fetch_add(1, Ordering::SeqCst);
        p.pause().await;
        // The simulated API names each object by its address and belongs to
        // the state at hand.
        let lineage = cx.lineage.map(|l| l.to_string());
        Ok(p.live
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(a, s)| {
                let marks = |k: &str| match k {
                    TAG_ENVIRONMENT => Some(cx.environment.clone()),
                    TAG_ADDRESS => Some(a.clone()),
                    TAG_LINEAGE => lineage.clone(),
                    _ => None,
                };
                let claim = cx.claim(|o| o.id == *a, marks)?;
                Some(Found::new(claim, s.clone(), SimOut { id: a.clone() }))
            })
            .collect())
    }

    async fn create(&self, p: &SimProvider, cx: &OpCx) -> Result<SimOut, ProviderError> {
        p.pause().await;
        let id = cx.address().to_string();
        p.live.lock().unwrap().insert(id.clone(), self.clone());
        Ok(SimOut { id })
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        p: &SimProvider,
        _: &OpCx,
    ) -> Result<SimOut, ProviderError> {
        p.pause().await;
        Ok(prior.outputs.clone())
    }

    async fn delete(o: &SimOut, p: &SimProvider, _: &OpCx) -> Result<(), ProviderError> {
        p.pause().await;
        p.live.lock().unwrap().remove(&o.id);
        Ok(())
    }
}

/// A tree `depth` levels deep where every node has `fanout` children.
fn tree(depth: usize, fanout: usize, budget: usize) -> (Environment, usize) {
    let mut env = Environment::new("bench").with_provider(SimProvider {
        budget,
        latency: LATENCY,
        live: Mutex::default(),
        refresh_calls: AtomicUsize::new(0),
    });
    let root = env.add("n0", Sim { parent: None });
    let mut level = vec![root];
    let mut count = 1;
    for _ in 1..depth {
        let mut next = Vec::new();
        for p in &level {
            for _ in 0..fanout {
                next.push(env.add(
                    &format!("n{count}"),
                    Sim {
                        parent: Some(p.output("id")),
                    },
                ));
                count += 1;
            }
        }
        level = next;
    }
    (env, count)
}

/// `n` resources in a tree where each has ten children, on a provider with
/// no latency.
fn wide(n: usize) -> Environment {
    let mut env = Environment::new("scale").with_provider(SimProvider {
        budget: 64,
        latency: Duration::ZERO,
        live: Mutex::default(),
        refresh_calls: AtomicUsize::new(0),
    });
    let mut refs: Vec<madplan_core::Ref<Sim>> = Vec::with_capacity(n);
    for i in 0..n {
        let parent = (i > 0).then(|| refs[(i - 1) / 10].clone());
        let r = env.add(
            &format!("n{i}"),
            Sim {
                parent: parent.map(|p| p.output("id")),
            },
        );
        refs.push(r);
    }
    env
}

/// The process's peak resident memory so far, in MB (Linux).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn scale() {
    println!();
    println!("engine alone, no latency: milliseconds per step, peak memory of the process so far");
    println!(
        "{:>7} {:>9} {:>9} {:>9} {:>12} {:>13} {:>8}",
        "nodes", "build", "plan", "apply", "no-op plan", "state writes", "peak MB"
    );
    for n in [100, 1_000, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let env = wide(n);
        let build = started.elapsed();
        let engine = Engine::new(env, LocalStateStore::new(dir.path().join("s.json")));
        let started = Instant::now();
        let plan = engine.plan().await.unwrap();
        let planned = started.elapsed();
        let started = Instant::now();
        let report = engine.apply(&plan).await.unwrap();
        let applied = started.elapsed();
        let started = Instant::now();
        let again = engine.plan().await.unwrap();
        let replanned = started.elapsed();
        assert!(!again.has_changes());
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{n:>7} {:>9.0} {:>9.0} {:>9.0} {:>12.0} {:>13} {:>8.0}",
            ms(build),
            ms(planned),
            ms(applied),
            ms(replanned),
            report.state_writes,
            peak_mb()
        );
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--scale-only") {
        scale().await;
        return;
    }
    println!(
        "simulated call latency {} ms; wall / critical path (1.00 is ideal), and speed-up over one call at a time",
        LATENCY.as_millis()
    );
    println!(
        "{:>6} {:>6} {:>7} {:>9} {:>10} {:>11} {:>8} {:>13} {:>13}",
        "depth",
        "nodes",
        "budget",
        "wall ms",
        "wall/crit",
        "wall/bound",
        "speedup",
        "state writes",
        "refresh calls"
    );
    for (depth, fanout, budget) in [(3, 3, 8), (3, 3, 100), (4, 3, 8), (4, 3, 100), (5, 2, 4)] {
        let dir = tempfile::tempdir().unwrap();
        let (env, nodes) = tree(depth, fanout, budget);
        let engine = Engine::new(env, LocalStateStore::new(dir.path().join("s.json")));
        let plan = engine.plan().await.unwrap();
        let started = Instant::now();
        let report = engine.apply(&plan).await.unwrap();
        let wall = started.elapsed();
        let critical = LATENCY * depth as u32;
        // With a budget, each level of the tree takes ceil(width / budget)
        // rounds of calls at least.
        let rounds: usize = (0..depth)
            .map(|l| fanout.pow(l as u32).div_ceil(budget))
            .sum();
        let bound = LATENCY * rounds as u32;
        let serial = LATENCY * nodes as u32;
        let p = engine.environment().provider::<SimProvider>().unwrap();
        let before = p.refresh_calls.load(Ordering::SeqCst);
        engine.plan().await.unwrap();
        let refresh = p.refresh_calls.load(Ordering::SeqCst) - before;
        println!(
            "{depth:>6} {nodes:>6} {budget:>7} {:>9.0} {:>10.2} {:>11.2} {:>8.1} {:>13} {refresh:>13}",
            wall.as_secs_f64() * 1000.0,
            wall.as_secs_f64() / critical.as_secs_f64(),
            wall.as_secs_f64() / bound.as_secs_f64(),
            serial.as_secs_f64() / wall.as_secs_f64(),
            report.state_writes,
        );
    }
    scale().await;
}
