//! Calls that find the in-flight bounds full are queued in the order they were made, whatever
//! order their futures are awaited in; a waiter that gives up holds nobody back.

use zerobus_conformance::mock::{FaultScript, MockServer, MockServerConfig};
use zerobus_core::{
    ErrorCode, Queued, RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk, ZerobusStream,
};

/// A JSON stream that allows one unacknowledged call, on a server that acks `ack_delay_ms` late.
async fn one_call_in_flight(ack_delay_ms: u64) -> (MockServer, ZerobusStream) {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    server.set_faults(FaultScript { ack_delay_ms, ..Default::default() });
    let config = MockServerConfig::default();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let options = StreamConfigurationOptions {
        record_type: RecordType::Json,
        max_inflight_requests: 1,
        ..Default::default()
    };
    let table = TableProperties::new("main.default.events");
    let stream = sdk.create_stream(table, &config.client_id, &config.client_secret, options).await.unwrap();
    (server, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_calls_keep_call_order() {
    let (server, stream) = one_call_in_flight(300).await;

    let waiting = |q: Queued| match q {
        Queued::Waiting(p) => p,
        Queued::Offset(o) => panic!("expected to wait, got offset {o:?}"),
    };
    assert!(matches!(stream.queue_record(r#"{"n":0}"#).unwrap(), Queued::Offset(Some(0))));
    let first = waiting(stream.queue_record(r#"{"n":1}"#).unwrap());
    let second = waiting(stream.queue_record(r#"{"n":2}"#).unwrap());
    let dropped = waiting(stream.queue_record(r#"{"n":"never"}"#).unwrap());
    let third = waiting(stream.queue_record(r#"{"n":3}"#).unwrap());
    // Waiters exist, so the non-blocking form may not overtake them.
    assert_eq!(stream.try_ingest_record_offset(r#"{"n":"try"}"#).unwrap_err().code(), ErrorCode::QueueFull);
    drop(dropped);

    // Await in reverse order: offsets still follow call order.
    let third = tokio::spawn(third.wait());
    let second = tokio::spawn(second.wait());
    assert_eq!(first.wait().await.unwrap(), 1);
    assert_eq!(second.await.unwrap().unwrap(), 2);
    assert_eq!(third.await.unwrap().unwrap(), 3);
    stream.close().await.unwrap();

    let received: Vec<String> = server
        .records("main.default.events")
        .iter()
        .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
        .collect();
    assert_eq!(received, [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_close_cover_calls_still_waiting_for_room() {
    let (server, stream) = one_call_in_flight(200).await;
    let mut tasks = Vec::new();
    for n in 0..4 {
        // As a binding does: the place in line is taken now, the wait runs on its own.
        let queued = stream.queue_record(format!(r#"{{"n":{n}}}"#).as_str()).unwrap();
        tasks.push(tokio::spawn(queued.offset()));
    }
    stream.flush().await.unwrap();
    assert_eq!(stream.metrics().last_acked_offset, Some(3));

    for n in 4..6 {
        let queued = stream.queue_record(format!(r#"{{"n":{n}}}"#).as_str()).unwrap();
        tasks.push(tokio::spawn(queued.offset()));
    }
    stream.close().await.unwrap();
    let offsets: Vec<Option<i64>> = futures_join(tasks).await;
    assert_eq!(offsets, (0..6).map(Some).collect::<Vec<_>>());
    assert_eq!(server.records("main.default.events").len(), 6);
    server.shutdown().await;
}

async fn futures_join(
    tasks: Vec<tokio::task::JoinHandle<zerobus_core::ZerobusResult<Option<i64>>>>,
) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_room_fails_when_the_stream_is_dropped() {
    let (_server, stream) = one_call_in_flight(5_000).await;
    assert!(matches!(stream.queue_record(r#"{"n":0}"#).unwrap(), Queued::Offset(Some(0))));
    let waiting = match stream.queue_record(r#"{"n":1}"#).unwrap() {
        Queued::Waiting(p) => p,
        Queued::Offset(o) => panic!("expected to wait, got offset {o:?}"),
    };
    let wait = tokio::spawn(waiting.wait());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(stream);
    let result =
        tokio::time::timeout(std::time::Duration::from_secs(2), wait).await.expect("woken, not left hanging");
    assert_eq!(result.unwrap().unwrap_err().code(), ErrorCode::StreamClosed);
}

/// Room wakes the call whose turn it is, not every waiting call: with thousands waiting, each
/// waiter is polled a few times in all (waking them all on every ack made admission quadratic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiting_calls_are_each_woken_a_few_times() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    /// Counts the polls of the future it wraps.
    struct Counted<F> {
        inner: Pin<Box<F>>,
        polls: Arc<AtomicU64>,
    }
    impl<F: Future> Future for Counted<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.inner.as_mut().poll(cx)
        }
    }

    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let config = MockServerConfig::default();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let options = StreamConfigurationOptions {
        record_type: RecordType::Json,
        max_inflight_requests: 8,
        ..Default::default()
    };
    let table = TableProperties::new("main.default.events");
    let stream = sdk.create_stream(table, &config.client_id, &config.client_secret, options).await.unwrap();

    const CALLS: u64 = 5_000;
    let polls = Arc::new(AtomicU64::new(0));
    // Each call's offset, or its waiting task, in call order. Acks arrive while calls are made
    // (another worker thread), so a call may find room between two that waited.
    let mut calls = Vec::new();
    let mut waiters = 0u64;
    for n in 0..CALLS {
        match stream.queue_record(format!(r#"{{"n":{n}}}"#).as_str()).unwrap() {
            Queued::Offset(o) => calls.push(Err(o.expect("a record call has an offset"))),
            Queued::Waiting(p) => {
                waiters += 1;
                calls.push(Ok(tokio::spawn(Counted { inner: Box::pin(p.wait()), polls: polls.clone() })));
            }
        }
    }
    let mut offsets = Vec::new();
    for call in calls {
        offsets.push(match call {
            Ok(task) => task.await.unwrap().unwrap(),
            Err(offset) => offset,
        });
    }
    let in_order: Vec<i64> = (0..CALLS as i64).collect();
    assert_eq!(offsets, in_order, "calls, waiting or not, keep call order");
    assert!(waiters > CALLS / 2, "most calls waited ({waiters})");
    let polls = polls.load(Ordering::Relaxed);
    assert!(polls <= 4 * waiters, "{polls} polls for {waiters} waiting calls");
    stream.close().await.unwrap();
    assert_eq!(server.records("main.default.events").len() as u64, CALLS);
    server.shutdown().await;
}
