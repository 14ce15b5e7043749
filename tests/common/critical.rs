//! An apply measured against its critical path: each operation's duration
//! (the engine's `Started`/`Finished` events) and its own HTTP requests (the
//! spans the clients open per attempt: the AWS SDK's `try_attempt`, the
//! REST clients' `atlas`, `cloudflare` and `datadog`, attributed to the
//! engine's `resource` span they run under), then the longest path through
//! the plan's dependency graph weighted by those durations.
//!
//! Operations are told apart by their address: made for applies from
//! nothing, where each address has one operation (a replacement's create
//! and delete would be merged).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use madplan::core::{Engine, Event, EventSink, Plan, StateStore};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The spans the clients open around one HTTP attempt.
const CALL_SPANS: [&str; 4] = ["try_attempt", "atlas", "cloudflare", "datadog"];

/// One HTTP attempt.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation it was made for (`None`: outside any operation, e.g.
    /// a refresh).
    pub op: Option<String>,
    /// When it was opened.
    pub start: Instant,
    /// When it was closed (`None`: still open).
    pub end: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by `clear`, so that a call opened before it and closed after
    /// is not taken for another.
    generation: u64,
    calls: Vec<Call>,
    finished: HashMap<String, Duration>,
}

/// Records operations (as an [`EventSink`]) and requests (as a tracing
/// [`Layer`]).
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

/// The address of an engine `resource` span.
struct OpName(String);
/// A call span's generation and index in the recorder.
struct CallIx(u64, usize);

struct AddressField(Option<String>);

impl tracing::field::Visit for AddressField {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "address" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let name = attrs.metadata().name();
        if name == "resource" {
            let mut address = AddressField(None);
            attrs.record(&mut address);
            if let Some(a) = address.0 {
                span.extensions_mut().insert(OpName(a));
            }
        } else if CALL_SPANS.contains(&name) {
            let op = span
                .scope()
                .skip(1)
                .find_map(|s| s.extensions().get::<OpName>().map(|o| o.0.clone()));
            let mut inner = self.inner.lock().unwrap();
            inner.calls.push(Call {
                op,
                start: Instant::now(),
                end: None,
            });
            let ix = CallIx(inner.generation, inner.calls.len() - 1);
            drop(inner);
            span.extensions_mut().insert(ix);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(CallIx(generation, ix)) = span.extensions().get::<CallIx>() {
            let mut inner = self.inner.lock().unwrap();
            if inner.generation == *generation {
                inner.calls[*ix].end = Some(Instant::now());
            }
        }
    }
}

impl EventSink for Recorder {
    fn event(&self, event: &Event) {
        if let Event::Finished {
            address, elapsed, ..
        } = event
        {
            self.inner
                .lock()
                .unwrap()
                .finished
                .insert(address.to_string(), *elapsed);
        }
    }
}

impl Recorder {
    /// Plans with `engine` and measures its apply of that plan, each
    /// request taking at least `latency`: prints the figures under the
    /// title `what`, and asserts they are whole ([`Figures::assert_whole`])
    /// against `requests`, the count of requests sent so far (at the
    /// proxies).
    pub async fn measure<S: StateStore>(
        &self,
        engine: Engine<S>,
        latency: Duration,
        what: &str,
        requests: impl Fn() -> usize,
    ) -> Figures {
        let _guard = self.install();
        let engine = engine.with_events(Arc::new(self.clone()));
        let plan = engine.plan().await.unwrap();
        self.clear();
        let before = requests();
        let started = Instant::now();
        engine.apply(&plan).await.unwrap();
        let figures = self.figures(&plan, started.elapsed(), latency);
        eprintln!("{}", figures.render(what));
        figures.assert_whole(&plan, requests() - before);
        figures
    }

    /// Installs the recorder as this thread's subscriber (the tests run on
    /// a current-thread runtime, so every task of the apply is seen).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.clone().with_filter(
            tracing_subscriber::filter::filter_fn(|m| {
                m.is_span() && (m.name() == "resource" || CALL_SPANS.contains(&m.name()))
            }),
        ));
        tracing::subscriber::set_default(subscriber)
    }

    /// Forgets what was recorded so far.
    fn clear(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.generation += 1;
        inner.calls.clear();
        inner.finished.clear();
    }

    /// The figures of an apply of `plan` that took `wall`, each request
    /// taking at least `latency`.
    fn figures(&self, plan: &Plan, wall: Duration, latency: Duration) -> Figures {
        let inner = self.inner.lock().unwrap();
        let mut ops: BTreeMap<String, OpFigure> = BTreeMap::new();
        for c in &plan.changes {
            let address = c.address.to_string();
            let Some(&duration) = inner.finished.get(&address) else {
                continue;
            };
            let own: Vec<(Instant, Instant)> = inner
                .calls
                .iter()
                .filter(|call| call.op.as_deref() == Some(address.as_str()))
                .map(|call| (call.start, call.end.unwrap_or(call.start)))
                .collect();
            ops.insert(
                address,
                OpFigure {
                    duration,
                    calls: own.len(),
                    chain: chain(own),
                },
            );
        }
        // Longest path, each operation weighing its own duration.
        let deps: HashMap<String, Vec<String>> = plan
            .changes
            .iter()
            .map(|c| {
                (
                    c.address.to_string(),
                    c.depends_on.iter().map(ToString::to_string).collect(),
                )
            })
            .collect();
        let mut memo: HashMap<String, (Duration, Vec<String>)> = HashMap::new();
        let mut best = (Duration::ZERO, Vec::new());
        for a in ops.keys() {
            let p = longest(a, &ops, &deps, &mut memo);
            if p.0 > best.0 {
                best = p;
            }
        }
        Figures {
            wall,
            latency,
            critical: best.0,
            path: best.1,
            requests_in_ops: inner.calls.iter().filter(|c| c.op.is_some()).count(),
            requests_outside: inner.calls.iter().filter(|c| c.op.is_none()).count(),
            ops,
        }
    }
}

/// The most calls of `calls` that ran one after another (none overlapping
/// the next): the round trips the operation could not avoid as written.
fn chain(mut calls: Vec<(Instant, Instant)>) -> usize {
    calls.sort_by_key(|c| c.1);
    let mut count = 0;
    let mut last: Option<Instant> = None;
    for (start, end) in calls {
        if last.is_none_or(|l| start >= l) {
            count += 1;
            last = Some(end);
        }
    }
    count
}

fn longest(
    a: &str,
    ops: &BTreeMap<String, OpFigure>,
    deps: &HashMap<String, Vec<String>>,
    memo: &mut HashMap<String, (Duration, Vec<String>)>,
) -> (Duration, Vec<String>) {
    if let Some(p) = memo.get(a) {
        return p.clone();
    }
    let mut before = (Duration::ZERO, Vec::new());
    for d in deps.get(a).into_iter().flatten() {
        let p = longest(d, ops, deps, memo);
        if p.0 > before.0 {
            before = p;
        }
    }
    let (mut total, mut path) = before;
    if let Some(op) = ops.get(a) {
        total += op.duration;
        path.push(a.to_string());
    }
    memo.insert(a.to_string(), (total, path.clone()));
    (total, path)
}

/// One operation of the apply.
#[derive(Debug, Clone)]
pub struct OpFigure {
    /// From its start (its provider's budget acquired) to its end.
    pub duration: Duration,
    /// Its own HTTP attempts.
    pub calls: usize,
    /// How many of them ran one after another.
    pub chain: usize,
}

impl std::fmt::Display for OpFigure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ms, {} requests, {} in a row",
            self.duration.as_millis(),
            self.calls,
            self.chain
        )
    }
}

/// An apply against its critical path.
#[derive(Debug)]
pub struct Figures {
    /// The apply's wall time.
    pub wall: Duration,
    /// The latency added to each request.
    pub latency: Duration,
    /// The longest path through the dependency graph, each operation
    /// weighing its own duration.
    pub critical: Duration,
    /// The operations on it, first to last.
    pub path: Vec<String>,
    /// Requests made inside operations.
    pub requests_in_ops: usize,
    /// Requests made outside any operation (an apply makes none).
    pub requests_outside: usize,
    /// Every operation.
    pub ops: BTreeMap<String, OpFigure>,
}

impl Figures {
    /// The round trips the critical path's operations make one after
    /// another, in time at the injected latency.
    pub fn critical_round_trips(&self) -> usize {
        self.path.iter().map(|a| self.ops[a].chain).sum()
    }

    /// Asserts that the measurement of the apply of `plan`, which sent
    /// `sent` requests, is whole: every operation ended, every request was
    /// seen and made within an operation, and each operation made one.
    fn assert_whole(&self, plan: &Plan, sent: usize) {
        let operations = plan
            .changes
            .iter()
            .filter(|c| c.action != madplan::core::plan::Action::Read)
            .count();
        assert_eq!(self.ops.len(), operations, "an operation without its end");
        assert_eq!(
            self.requests_in_ops + self.requests_outside,
            sent,
            "requests the recorder did not see"
        );
        assert_eq!(self.requests_outside, 0, "requests of no operation");
        for (a, op) in &self.ops {
            assert!(op.calls >= 1, "{a}: no request attributed to it");
        }
    }

    /// A table for the test's output.
    fn render(&self, what: &str) -> String {
        use std::fmt::Write;
        let ms = |d: Duration| d.as_millis();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{what}: apply {} ms against a critical path of {} ms ({:.2}x); {} operations, \
             {} requests in them and {} outside; the path's operations make {} round trips \
             one after another ({} ms at {} ms each); the rest is waits and the emulators' own time",
            ms(self.wall),
            ms(self.critical),
            self.wall.as_secs_f64() / self.critical.as_secs_f64().max(1e-9),
            self.ops.len(),
            self.requests_in_ops,
            self.requests_outside,
            self.critical_round_trips(),
            ms(self.latency) * self.critical_round_trips() as u128,
            ms(self.latency),
        );
        let _ = writeln!(
            out,
            "  critical path (duration, requests, one after another):"
        );
        for a in &self.path {
            let _ = writeln!(out, "    {a}: {}", self.ops[a]);
        }
        let mut serial: Vec<_> = self.ops.iter().filter(|(_, op)| op.chain >= 3).collect();
        serial.sort_by_key(|(_, op)| std::cmp::Reverse(op.chain));
        let _ = writeln!(out, "  operations with 3 requests or more in a row:");
        for (a, op) in serial {
            let _ = writeln!(out, "    {a}: {op}");
        }
        out
    }
}
