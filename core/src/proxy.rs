//! Connections to the Zerobus endpoint and the token endpoint, directly or through an HTTP
//! CONNECT proxy named by the environment, in gRPC core's order: `grpc_proxy`, `GRPC_PROXY`,
//! `https_proxy`, `HTTPS_PROXY`, `http_proxy`, `HTTP_PROXY` (the first non-empty wins), bypassed
//! for hosts in `no_grpc_proxy`, `NO_GRPC_PROXY`, `no_proxy` or `NO_PROXY`.
//!
//! The tunnel is raw TCP: tonic (or hyper-rustls for the token endpoint) puts TLS on top, so the
//! target's certificate is checked end to end.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{ZerobusError, ZerobusResult};

const PROXY_VARS: [&str; 6] =
    ["grpc_proxy", "GRPC_PROXY", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"];
const NO_PROXY_VARS: [&str; 4] = ["no_grpc_proxy", "NO_GRPC_PROXY", "no_proxy", "NO_PROXY"];

/// Where connections go: straight to the target, or through a CONNECT proxy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Connector {
    /// `host:port` of the proxy, when one applies.
    proxy: Option<String>,
}

impl Connector {
    /// Reads the proxy settings from the environment for connections to `target_host`.
    pub fn from_env(target_host: &str) -> ZerobusResult<Self> {
        let first = |names: &[&str]| {
            names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        let Some(proxy) = first(&PROXY_VARS) else {
            return Ok(Connector::default());
        };
        if let Some(list) = first(&NO_PROXY_VARS) {
            if bypasses(&list, target_host) {
                return Ok(Connector::default());
            }
        }
        let uri: Uri = proxy.trim().parse().map_err(|_| {
            ZerobusError::invalid_argument(format!("proxy URL {proxy:?} from the environment is not a URL; fix or unset https_proxy (or grpc_proxy, http_proxy)"))
        })?;
        if uri.scheme_str().is_some_and(|s| s != "http") {
            return Err(ZerobusError::invalid_argument(format!(
                "proxy URL {proxy:?}: only http:// CONNECT proxies are supported"
            )));
        }
        let host = uri.host().ok_or_else(|| {
            ZerobusError::invalid_argument(format!(
                "proxy URL {proxy:?} has no host; fix or unset https_proxy (or grpc_proxy, http_proxy)"
            ))
        })?;
        let port = uri.port_u16().unwrap_or(80);
        Ok(Connector { proxy: Some(format!("{host}:{port}")) })
    }

    /// Opens a TCP connection to `uri`'s host and port, tunnelled if a proxy applies.
    async fn connect(self, uri: Uri) -> std::io::Result<TokioIo<TcpStream>> {
        let host = uri.host().unwrap_or_default().trim_matches(|c| c == '[' || c == ']');
        let default_port = if uri.scheme_str() == Some("https") { 443 } else { 80 };
        let target = format!("{host}:{}", uri.port_u16().unwrap_or(default_port));
        let Some(proxy) = self.proxy else {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            return Ok(TokioIo::new(tcp));
        };
        let mut tcp = TcpStream::connect(&proxy).await?;
        tcp.set_nodelay(true)?;
        tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).await?;
        // Read the proxy's answer head byte by byte so no tunnelled byte is swallowed.
        let mut head = Vec::with_capacity(128);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 8192 {
                return Err(std::io::Error::other("proxy answered CONNECT with an oversized head"));
            }
            head.push(tcp.read_u8().await?);
        }
        let status_line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default());
        if status_line.split_whitespace().nth(1) != Some("200") {
            return Err(std::io::Error::other(format!(
                "proxy {proxy} refused CONNECT {target}: {}",
                status_line.trim()
            )));
        }
        Ok(TokioIo::new(tcp))
    }
}

fn bypasses(list: &str, host: &str) -> bool {
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        let entry = entry.trim_start_matches('.');
        entry == "*" || host == entry || host.ends_with(&format!(".{entry}"))
    })
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::bypasses;

    #[test]
    fn no_proxy_matches_hosts_and_domains() {
        assert!(bypasses("localhost, .example.com", "api.example.com"));
        assert!(bypasses("example.com", "example.com"));
        assert!(!bypasses("example.com", "badexample.com"));
        assert!(bypasses("*", "anything"));
        assert!(!bypasses("", "anything"));
    }
}
