//! Retries live in one layer per failure: a throttled or unavailable EC2 is
//! retried by the SDK's standard retry (3 attempts), and the engine does not
//! run the operation again on top of that (which made up to 5 x 3 = 15
//! requests before).
//!
//! A small HTTP server on 127.0.0.1 plays EC2: it answers the `Describe*`
//! calls of a refresh with nothing, so that a plan can be made, and every
//! other request with one failure: a 503 `RequestLimitExceeded`, or a
//! condition that settles with time, which the engine retries; every
//! attempt of a create then carries the same idempotency token.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::config::{Credentials, Region};
use madplan_aws::Aws;
use madplan_aws::network::{NetworkAcl, RouteTable, Vpc};
use madplan_core::{
    ApplyOptions, Engine, Environment, Error, ErrorClass, LocalStateStore, RetryPolicy,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A failure in transit, which the SDK retries.
const THROTTLED: Failure = (
    "503 Service Unavailable",
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
     <Message>slow down</Message></Error></Errors><RequestID>x</RequestID></Response>",
);

/// A condition that settles with time, which the engine retries.
const SETTLING: Failure = (
    "400 Bad Request",
    "<Response><Errors><Error><Code>IncorrectState</Code>\
     <Message>not yet</Message></Error></Errors><RequestID>x</RequestID></Response>",
);

/// A status line and an EC2 error body.
type Failure = (&'static str, &'static str);

/// The empty answer to a refresh's list call, if `action` is one.
fn nothing_found(action: &str) -> Option<String> {
    let set = match action {
        "DescribeVpcs" => "vpcSet",
        "DescribeRouteTables" => "routeTableSet",
        "DescribeNetworkAcls" => "networkAclSet",
        _ => return None,
    };
    Some(format!(
        "<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>x</requestId><{set}/></{action}Response>"
    ))
}

/// Every request the server received: its action and its form parameters.
type Seen = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

/// How many requests of each action were received.
fn counts(seen: &Seen) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (action, _) in seen.lock().unwrap().iter() {
        *out.entry(action.clone()).or_default() += 1;
    }
    out
}

/// Starts the server, failing every request but a refresh's with `failure`;
/// returns its URL and what it sees.
async fn failing_ec2(failure: Failure) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn, counts.clone(), failure));
        }
    });
    (url, seen)
}

/// Answers the requests of one connection (the SDK keeps connections alive).
async fn serve(conn: TcpStream, seen: Seen, failure: Failure) {
    let mut conn = BufReader::new(conn);
    loop {
        let mut length = 0;
        let mut line = String::new();
        let mut started = false;
        loop {
            line.clear();
            match conn.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && started {
                break;
            }
            started = true;
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if conn.read_exact(&mut body).await.is_err() {
            return;
        }
        // The SDK sends EC2 parameters as a form; the values madplan sends
        // here need no percent-decoding to be compared.
        let params: BTreeMap<String, String> = String::from_utf8_lossy(&body)
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let action = params.get("Action").cloned().unwrap_or_default();
        let (status, text) = match nothing_found(&action) {
            Some(text) => ("200 OK", text),
            None => (failure.0, failure.1.to_string()),
        };
        seen.lock().unwrap().push((action, params));
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if conn.get_mut().write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The provider on `url`, with the SDK's standard retry (3 attempts) and a
/// tiny backoff so that the test is fast.
async fn aws_at(url: String) -> Aws {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .load()
        .await;
    Aws::from_conf(&conf)
}

#[tokio::test]
async fn a_throttled_create_is_retried_by_the_sdk_only() {
    let (url, seen) = failing_ec2(THROTTLED).await;
    let aws = aws_at(url).await;
    let mut env = Environment::new("throttled").with_provider(aws.clone());
    env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
    let dir = tempfile::tempdir().unwrap();
    // The engine's own retries stay on (4, as by default), only faster, so
    // that a failure it wrongly retried would show as more requests.
    let options = ApplyOptions {
        retry: RetryPolicy {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        ..ApplyOptions::default()
    };
    let engine =
        Engine::new(env, LocalStateStore::new(dir.path().join("state.json"))).with_options(options);

    let plan = engine.plan().await.unwrap();
    assert_eq!(plan.summary().create, 1);
    let err = engine.apply(&plan).await.unwrap_err();

    let seen = counts(&seen);
    assert_eq!(
        seen.get("CreateVpc"),
        Some(&3),
        "the SDK's 3 attempts, and no more: {seen:?}"
    );
    assert_eq!(aws.calls().get("CreateVpc"), Some(&3));
    let Error::Apply(errors) = &err else {
        panic!("expected an apply error, got {err}")
    };
    let [Error::Resource { source, .. }] = errors.as_slice() else {
        panic!("expected one resource error, got {err}")
    };
    assert_eq!(source.class, ErrorClass::Unavailable, "{err}");
    assert_eq!(source.code.as_deref(), Some("RequestLimitExceeded"));
    assert!(!source.is_retryable());
}

#[tokio::test]
async fn a_throttled_refresh_is_unavailable() {
    let (url, seen) = failing_ec2(THROTTLED).await;
    let aws = aws_at(url).await;
    let mut env = Environment::new("throttled").with_provider(aws);
    // A subnet's refresh (DescribeSubnets) is throttled.
    let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
    env.add(
        "a",
        madplan_aws::network::Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.1.0/24")
            .zone("us-east-1a")
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(env, LocalStateStore::new(dir.path().join("state.json")));
    let err = engine.plan().await.unwrap_err();
    let Error::Refresh { kind, source } = &err else {
        panic!("expected a refresh error, got {err}")
    };
    assert_eq!(kind, "aws.subnet");
    assert_eq!(source.class, ErrorClass::Unavailable, "{err}");
    assert_eq!(counts(&seen).get("DescribeSubnets"), Some(&3));
}

/// The engine's options: its 4 retries, with tiny pauses.
fn fast_retries() -> ApplyOptions {
    ApplyOptions {
        retry: RetryPolicy {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        ..ApplyOptions::default()
    }
}

#[tokio::test]
async fn every_attempt_of_a_create_carries_one_client_token() {
    let (url, seen) = failing_ec2(SETTLING).await;
    let aws = aws_at(url).await;
    let mut env = Environment::new("tokens").with_provider(aws);
    env.add(
        "main",
        RouteTable::builder().vpc("vpc-0123456789abcdef0").build(),
    );
    env.add(
        "main",
        NetworkAcl::builder().vpc("vpc-0123456789abcdef0").build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(env, LocalStateStore::new(dir.path().join("state.json")))
        .with_options(fast_retries());
    let plan = engine.plan().await.unwrap();
    engine.apply(&plan).await.unwrap_err();

    // The engine ran each create 5 times (the SDK does not retry this
    // error), always with the create's own token: had an attempt gone
    // through, EC2 would answer the next with what it made.
    let seen = seen.lock().unwrap().clone();
    let mut tokens = Vec::new();
    for action in ["CreateRouteTable", "CreateNetworkAcl"] {
        let sent: Vec<Option<&String>> = seen
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, params)| params.get("ClientToken"))
            .collect();
        assert_eq!(sent.len(), 5, "{action}: {seen:?}");
        let token = sent[0].unwrap_or_else(|| panic!("{action} has no ClientToken: {seen:?}"));
        assert_eq!(token.len(), 36, "{token}");
        assert!(sent.iter().all(|t| *t == Some(token)), "{action}: {sent:?}");
        tokens.push(token.clone());
    }
    assert_ne!(tokens[0], tokens[1], "each create has its own token");
}
