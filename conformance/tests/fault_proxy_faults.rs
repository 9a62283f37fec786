//! The fault proxy forwards faithfully, resets on schedule, and refuses connections during an
//! outage, then listens on the same port again.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zerobus_conformance::fault_proxy::{FaultPlan, FaultProxy};

/// An echo server: what the proxy forwards comes back.
async fn echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = tcp.read(&mut buf).await {
                    if n == 0 || tcp.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn round_trip(addr: std::net::SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tcp.read_exact(&mut buf).await?;
    Ok(buf.to_vec())
}

#[tokio::test]
async fn forwards_then_refuses_during_an_outage_then_forwards_again() {
    let proxy = FaultProxy::start(echo().await, FaultPlan::default()).await.unwrap();
    assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");
    let mut live = TcpStream::connect(proxy.addr()).await.unwrap();
    live.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    live.read_exact(&mut one).await.unwrap();
    proxy.down_for(Duration::from_millis(400)).await;
    assert!(proxy.is_down());
    let err = TcpStream::connect(proxy.addr()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    // The live connection was reset, not closed politely.
    let mut buf = [0u8; 8];
    let cut = live.read(&mut buf).await;
    assert!(matches!(&cut, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset), "{cut:?}");
    while proxy.is_down() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");
    let stats = proxy.stats();
    assert_eq!(stats.outages, 1);
    assert!(stats.resets >= 1 && stats.connections >= 3, "{stats:?}");
}

#[tokio::test]
async fn resets_on_schedule() {
    let plan = FaultPlan { seed: 3, reset_after_ms: Some((30, 60)), ..Default::default() };
    let proxy = FaultProxy::start(echo().await, plan).await.unwrap();
    let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    tcp.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 2];
    tcp.read_exact(&mut buf).await.unwrap();
    let cut = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await.unwrap();
    assert!(matches!(&cut, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset), "{cut:?}");
    assert_eq!(proxy.stats().resets, 1);
}
