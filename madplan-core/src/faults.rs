//! A fault-injecting HTTP proxy on loopback (feature `test-util`), for the
//! reliability suites: put it in front of moto or a fake, point a client at
//! it, and a configurable share of requests is answered with a fault
//! instead of (or after) reaching the upstream:
//!
//! - [`Fault::Throttled`] and [`Fault::ServerError`]: an error answer the
//!   caller gives ([`Faults::answers`]), never forwarded;
//! - [`Fault::DropBefore`]: the connection is closed without forwarding;
//! - [`Fault::DropAfter`]: the request is forwarded and processed, then the
//!   connection is closed without the answer (the case that makes a retried
//!   create a duplicate);
//!
//! and every request can be delayed ([`Faults::latency`]). Which requests
//! fail is drawn from a seeded generator, so a run can be repeated. The
//! proxy speaks HTTP/1.1 with `Content-Length` bodies (what the AWS SDK and
//! reqwest send).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// A throttling answer (429, or EC2's 503 `RequestLimitExceeded`).
    Throttled,
    /// A server error (500).
    ServerError,
    /// The connection closed before the request reached the upstream.
    DropBefore,
    /// The connection closed after the upstream processed the request.
    DropAfter,
}

/// A canned answer: status, headers and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Headers (`Content-Length` is added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// An answer with a body of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// With one more header (e.g. `Retry-After`).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// EC2's throttling answer: 503 `RequestLimitExceeded`.
    pub fn ec2_throttled() -> Self {
        Self::new(
            503,
            "text/xml",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit \
             exceeded.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>",
        )
    }

    /// EC2's internal error: 500 `InternalError`.
    pub fn ec2_internal() -> Self {
        Self::new(
            500,
            "text/xml",
            "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has \
             occurred.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>",
        )
    }
}

/// What the proxy does to the requests it sees.
#[derive(Clone, Debug)]
pub struct Faults {
    /// The share of requests that get a fault, 0.0 to 1.0.
    pub share: f64,
    /// The faults drawn from, with equal chances.
    pub kinds: Vec<Fault>,
    /// Added to every request before anything else.
    pub latency: Duration,
    /// The answers of [`Fault::Throttled`] and [`Fault::ServerError`].
    pub answers: BTreeMap<Fault, Answer>,
    /// The generator's seed.
    pub seed: u64,
    /// At most this many faults in all, then none (`None`: no limit): with
    /// `share` 1.0, exactly the first N requests fail.
    pub max_faults: Option<usize>,
    /// When not empty, only requests whose path or body contains one of
    /// these texts can get a fault (`"Action=CreateVpc"`, `"/monitor"`).
    pub only: Vec<String>,
}

impl Faults {
    /// No fault, no latency: a plain proxy that counts.
    pub fn none() -> Self {
        Self {
            share: 0.0,
            kinds: Vec::new(),
            latency: Duration::ZERO,
            answers: BTreeMap::new(),
            seed: 1,
            max_faults: None,
            only: Vec::new(),
        }
    }

    /// `share` of the requests fail with one of `kinds`; throttling and
    /// server errors answer as EC2 does.
    pub fn ec2(share: f64, kinds: &[Fault], seed: u64) -> Self {
        Self {
            share,
            kinds: kinds.to_vec(),
            latency: Duration::ZERO,
            answers: BTreeMap::from([
                (Fault::Throttled, Answer::ec2_throttled()),
                (Fault::ServerError, Answer::ec2_internal()),
            ]),
            seed,
            max_faults: None,
            only: Vec::new(),
        }
    }
}

/// What the proxy saw.
#[derive(Debug, Default)]
pub struct Counts {
    /// Requests received.
    pub requests: usize,
    /// Requests that reached the upstream.
    pub forwarded: usize,
    /// Faults injected, by kind.
    pub faults: BTreeMap<Fault, usize>,
    /// When each request arrived, in order (to check a client's request
    /// budget over any window).
    pub arrivals: Vec<std::time::Instant>,
}

struct Shared {
    upstream: String,
    faults: Mutex<Faults>,
    rng: Mutex<u64>,
    counts: Mutex<Counts>,
    client: reqwest::Client,
    connections: AtomicUsize,
}

impl Shared {
    /// The next draw in [0, 1) of a 64-bit linear congruential generator.
    fn draw(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick(&self, request: &Request) -> Option<Fault> {
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let eligible = faults.only.is_empty()
            || faults.only.iter().any(|text| {
                request.path.contains(text.as_str())
                    || String::from_utf8_lossy(&request.body).contains(text.as_str())
            });
        if !eligible || faults.kinds.is_empty() || self.draw() >= faults.share {
            return None;
        }
        if let Some(max) = faults.max_faults {
            let so_far: usize = self
                .counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .faults
                .values()
                .sum();
            if so_far >= max {
                return None;
            }
        }
        let i = (self.draw() * faults.kinds.len() as f64) as usize;
        faults.kinds.get(i.min(faults.kinds.len() - 1)).copied()
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, faults: Faults) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seed = faults.seed;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            faults: Mutex::new(faults),
            rng: Mutex::new(seed),
            counts: Mutex::new(Counts::default()),
            client,
            connections: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, s.clone()));
            }
        });
        Ok(Self { url, shared, task })
    }

    /// The proxy's address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes the faults from now on.
    pub fn set(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// What the proxy saw so far.
    pub fn counts(&self) -> Counts {
        let c = self.shared.counts.lock().unwrap_or_else(|e| e.into_inner());
        Counts {
            requests: c.requests,
            forwarded: c.forwarded,
            faults: c.faults.clone(),
            arrivals: c.arrivals.clone(),
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

/// The most a request's head may take.
const MAX_HEAD: usize = 64 * 1024;

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Appends what the connection has next to `buf`; `None` when it closed.
async fn read_more(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = socket.read(&mut chunk).await.ok()?;
    if n == 0 {
        return None;
    }
    buf.extend_from_slice(&chunk[..n]);
    Some(())
}

/// Reads one request from the connection; `None` when it closed.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(head)) => {
                let headers: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let method = req.method?.to_string();
                let path = req.path?.to_string();
                while buf.len() < head + length {
                    read_more(socket, buf).await?;
                }
                let body = buf[head..head + length].to_vec();
                buf.drain(..head + length);
                return Some(Request {
                    method,
                    path,
                    headers,
                    body,
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                read_more(socket, buf).await?;
            }
            _ => return None,
        }
    }
}

async fn write_answer(
    socket: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status");
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.flush().await
}

/// Forwards a request; the upstream's status, headers and body.
async fn forward(
    shared: &Shared,
    r: &Request,
) -> Result<(u16, Vec<(String, String)>, Vec<u8>), reqwest::Error> {
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = shared
        .client
        .request(method, format!("{}{}", shared.upstream, r.path));
    for (k, v) in &r.headers {
        let skip = ["host", "content-length", "connection", "transfer-encoding"];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = req.body(r.body.clone()).send().await?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            !["content-length", "transfer-encoding", "connection"].contains(&k)
        })
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.bytes().await?.to_vec();
    Ok((status, headers, body))
}

async fn serve(mut socket: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut buf).await {
        let (latency, answers) = {
            let f = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
            (f.latency, f.answers.clone())
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fault = shared.pick(&request);
        {
            let mut c = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
            c.requests += 1;
            c.arrivals.push(std::time::Instant::now());
            if let Some(f) = fault {
                *c.faults.entry(f).or_default() += 1;
            }
            if matches!(fault, None | Some(Fault::DropAfter)) {
                c.forwarded += 1;
            }
        }
        match fault {
            Some(f @ (Fault::Throttled | Fault::ServerError)) => {
                let a = answers.get(&f).cloned().unwrap_or_else(|| {
                    Answer::new(
                        if f == Fault::Throttled { 429 } else { 500 },
                        "text/plain",
                        "fault",
                    )
                });
                if write_answer(&mut socket, a.status, &a.headers, a.body.as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Some(Fault::DropBefore) => return,
            Some(Fault::DropAfter) => {
                let _ = forward(&shared, &request).await;
                return;
            }
            None => match forward(&shared, &request).await {
                Ok((status, headers, body)) => {
                    if write_answer(&mut socket, status, &headers, &body)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(_) => return,
            },
        }
    }
}
