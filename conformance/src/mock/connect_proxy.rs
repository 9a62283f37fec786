//! A small HTTP CONNECT proxy on loopback, counting the tunnels it opens, so tests prove that a
//! client takes its proxy from `https_proxy` (and bypasses it for `no_proxy` hosts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Tunnels opened so far.
#[derive(Default)]
pub(crate) struct ProxyStats {
    pub tunnels: AtomicU64,
}

pub(crate) async fn serve(listener: TcpListener, stats: Arc<ProxyStats>) {
    super::accept_loop(listener, "mock CONNECT proxy", move |tcp| {
        let stats = stats.clone();
        async move {
            let _ = tunnel(tcp, &stats).await;
        }
    })
    .await
}

async fn tunnel(mut client: TcpStream, stats: &ProxyStats) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return client.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n").await;
        }
        head.push(client.read_u8().await?);
    }
    let line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let mut parts = line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n").await;
    };
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        return client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
    };
    stats.tunnels.fetch_add(1, Ordering::Relaxed);
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await.map(drop)
}
