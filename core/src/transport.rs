//! Where the service is and how to reach it: the endpoint, TLS, the user-agent, and one new
//! HTTP/2 connection per stream connection attempt (directly or through a CONNECT proxy).

use http::Uri;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::error::error_chain;
use crate::proxy::Connector;
use crate::{ZerobusError, ZerobusResult};

/// The endpoint and the settings every connection to it uses. Shared by the streams of one SDK.
#[derive(Debug)]
pub(crate) struct Transport {
    pub endpoint: Uri,
    /// `None` for an explicit `http://` endpoint.
    pub tls: Option<ClientTlsConfig>,
    pub user_agent: String,
}

impl Transport {
    /// The endpoint as users wrote it, for messages.
    pub fn endpoint_str(&self) -> String {
        self.endpoint.to_string().trim_end_matches('/').to_owned()
    }

    /// Opens a new HTTP/2 connection to the endpoint. Each stream connection gets its own, so
    /// streams never share a flow-control window and a reconnect never reuses a dead socket.
    pub async fn connect(&self) -> ZerobusResult<Channel> {
        let mut endpoint = Endpoint::from(self.endpoint.clone())
            .user_agent(self.user_agent.clone())
            .map_err(|e| {
                ZerobusError::invalid_argument(format!(
                    "the application or SDK name is not a valid user-agent value: {e}; use printable ASCII"
                ))
            })?
            .tcp_nodelay(true)
            .initial_stream_window_size(Some(8 * 1024 * 1024))
            .initial_connection_window_size(Some(16 * 1024 * 1024))
            .http2_keep_alive_interval(std::time::Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| ZerobusError::invalid_argument(format!("TLS configuration: {e}")))?;
        }
        let connector = Connector::from_env(self.endpoint.host().unwrap_or_default())?;
        endpoint.connect_with_connector(connector).await.map_err(|e| self.connect_error(&e))
    }

    /// A failed connect, with advice when it was the TLS handshake.
    fn connect_error(&self, e: &(dyn std::error::Error + 'static)) -> ZerobusError {
        let chain = error_chain(e);
        let lower = chain.to_ascii_lowercase();
        let advice = if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
        {
            "; the TLS handshake failed: if the server uses a private CA, add it with add_ca_certificate_pem, and check that the endpoint host matches its certificate"
        } else {
            ""
        };
        ZerobusError::new(
            crate::ErrorCode::Unavailable,
            format!("cannot connect to {}: {chain}{advice}", self.endpoint_str()),
        )
    }
}
