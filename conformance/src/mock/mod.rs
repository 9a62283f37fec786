//! The mock Zerobus Ingest server: a real tonic gRPC server and a real HTTP/1.1 OAuth token
//! endpoint, both on loopback, validating what the real service validates and misbehaving on
//! purpose when a [`FaultScript`] says so. It records what it received so the conformance runner
//! and tests can check it.
//!
//! Tables may be declared with their columns ([`MockServerConfig::table_schemas`]): the token
//! endpoint's server then also answers Unity Catalog's `GET /api/2.1/unity-catalog/tables/{name}`
//! for them, and a PROTO stream on one is refused unless its descriptor fits the columns (causes
//! FIELD_NOT_IN_TABLE, MISSING_REQUIRED_COLUMN, TYPE_INCOMPATIBLE, in the message and in a
//! `google.rpc.ErrorInfo`), and its records must carry every NOT NULL column.
//!
//! The gRPC listener also serves Arrow Flight `DoPut` (PROTOCOL.md §9) with the same token,
//! table and fault handling: the first `FlightData` is the schema (checked against the table's
//! Arrow schema when its columns are declared; causes as §9 names them, in an `ErrorInfo`), the
//! ready signal `{"ack_up_to_offset": -1, "ack_up_to_records": 0}` answers it, and each record
//! batch (`{"offset_id": N}`) is stored ([`MockServer::arrow_batches`]), counted in
//! [`MockServer::table_stats`] and acked with the cumulative rows. Fault message counts are
//! record batches there.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use zerobus_conformance::mock::{MockServer, MockServerConfig};
//! let server = MockServer::start(MockServerConfig::default()).await?;
//! println!("grpc {} token endpoint {}", server.grpc_url(), server.workspace_url());
//! // ... point a client at it ...
//! let received = server.records("main.default.events");
//! # let _ = received;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod connect_proxy;
mod dev_token;
mod faults;
mod flight;
mod grpc;
mod ledger;
mod protocheck;
mod store;
mod tablecheck;
mod tls;
mod token;
mod uc;

#[cfg(test)]
mod tests;

pub use dev_token::DEV_TOKEN_KEY;
pub use faults::{FaultScript, GrpcCode, RateLimit, StreamAction, StreamFault, TokenFaults};
pub use ledger::LedgerReport;
pub use store::{CallSink, CallStore, Durable, StoreError, StreamInput};
/// The table schema crate the mock declares tables with ([`MockServerConfig::table_schemas`]).
pub use zerobus_schema;

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::JoinHandle;

/// Largest record payload one ingest call may carry: 10 MiB − 64 KiB.
pub const MAX_CALL_PAYLOAD_BYTES: usize = 10 * 1024 * 1024 - 64 * 1024;

/// tonic's decoding limit: 10 MiB + 64 KiB, room for the largest legal call plus framing.
pub const MAX_DECODING_MESSAGE_BYTES: usize = 10 * 1024 * 1024 + 64 * 1024;

/// Path of the OAuth token endpoint under the workspace URL.
pub const TOKEN_PATH: &str = "/oidc/v1/token";

/// Path under the workspace URL of Unity Catalog's table API; a table's schema is at this
/// prefix followed by its full name ([`zerobus_schema::table_path`]).
pub const UC_TABLES_PATH: &str = "/api/2.1/unity-catalog/tables/";

/// How the mock server starts. Its `Debug` output leaves the client secret out.
#[derive(Clone)]
pub struct MockServerConfig {
    /// Tables that exist (`catalog.schema.table`).
    pub tables: Vec<String>,
    /// Tables whose columns are declared (they exist too, whether or not `tables` names them).
    /// The workspace URL serves their Unity Catalog schema
    /// (`GET /api/2.1/unity-catalog/tables/{full_name}`), and a PROTO stream on one must bring a
    /// descriptor that fits its columns; its records are then checked against them.
    pub table_schemas: Vec<zerobus_schema::TableSchema>,
    /// OAuth client id the token endpoint accepts.
    pub client_id: String,
    /// OAuth client secret the token endpoint accepts.
    pub client_secret: String,
    /// Bearer tokens always accepted, for any table (for headers-provider tests).
    pub static_tokens: Vec<String>,
    /// `expires_in` of issued tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// Key issued tokens are signed with. Tokens are checked by signature, not looked up, so a
    /// server restarted with the same key accepts the tokens of the one before.
    pub token_key: String,
    /// gRPC listen address; port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// Token endpoint listen address; port 0 picks a free port.
    pub token_addr: SocketAddr,
    /// Keep record payloads; `false` keeps only counts and bytes per table (long demos,
    /// benchmarks).
    pub keep_payloads: bool,
    /// Send one ack per ingest message instead of one per burst of messages already read (acks
    /// are cumulative, so both are correct; this one is harder on a client whose cost per ack
    /// grows with its queue).
    pub ack_every_message: bool,
    /// Also serve gRPC over TLS on a second port, with a CA and certificate made at start
    /// ([`MockServer::tls_url`], [`MockServer::ca_pem`]).
    pub tls: bool,
    /// Also run an HTTP CONNECT proxy that counts its tunnels ([`MockServer::proxy_url`]).
    pub connect_proxy: bool,
    /// Count every generated record received by (seed, seq) ([`MockServer::ledger`]), with or
    /// without payloads.
    pub ledger: bool,
    /// Keep accepted calls durably (`zerobus serve --data-dir`): each call is appended to the
    /// store, and its ack waits until the store has it durable. `None`: acks go out as soon as a
    /// call is accepted.
    pub store: Option<Arc<dyn CallStore>>,
}

impl std::fmt::Debug for MockServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServerConfig")
            .field("tables", &self.tables)
            .field(
                "table_schemas",
                &self.table_schemas.iter().map(zerobus_schema::TableSchema::full_name).collect::<Vec<_>>(),
            )
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("static_tokens", &self.static_tokens)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("token_key", &"<development key>")
            .field("grpc_addr", &self.grpc_addr)
            .field("token_addr", &self.token_addr)
            .field("keep_payloads", &self.keep_payloads)
            .field("ack_every_message", &self.ack_every_message)
            .field("tls", &self.tls)
            .field("connect_proxy", &self.connect_proxy)
            .field("ledger", &self.ledger)
            .field("store", &self.store.is_some())
            .finish()
    }
}

/// Tables a default server knows.
pub const DEFAULT_TABLES: [&str; 4] = [
    "main.default.events",
    "main.default.json_table",
    "main.default.proto_table",
    "main.default.conformance",
];

/// Client id a default server accepts.
pub const DEFAULT_CLIENT_ID: &str = "zerobus-dev-client";
/// Client secret a default server accepts.
pub const DEFAULT_CLIENT_SECRET: &str = "zerobus-dev-secret";
/// Static bearer token a default server accepts.
pub const DEFAULT_STATIC_TOKEN: &str = "zerobus-dev-static-token";

impl Default for MockServerConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        MockServerConfig {
            tables: DEFAULT_TABLES.iter().map(|t| t.to_string()).collect(),
            table_schemas: Vec::new(),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            static_tokens: vec![DEFAULT_STATIC_TOKEN.into()],
            token_lifetime_secs: 3600,
            token_key: DEV_TOKEN_KEY.into(),
            grpc_addr: loopback,
            token_addr: loopback,
            keep_payloads: true,
            ack_every_message: false,
            tls: false,
            connect_proxy: false,
            ledger: false,
            store: None,
        }
    }
}

/// Which kind of record arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A JSON record (`json_record` / `json_batch`).
    Json,
    /// A protobuf record (`proto_encoded_record` / `proto_encoded_batch`).
    Proto,
}

/// One record as the server stored it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedRecord {
    /// Index of the connection it arrived on ([`ConnectionLog::index`]).
    pub connection: u32,
    /// Offset of its ingest call on that connection.
    pub wire_offset: i64,
    /// Position inside its call (0 for a single record).
    pub index_in_batch: u32,
    /// Records in its call (1 for a single record).
    pub batch_len: u32,
    /// `true` when it arrived in `ingest_record_batch`, `false` for `ingest_record`.
    pub batched: bool,
    /// Its stream's record type.
    pub kind: RecordKind,
    /// The record bytes (JSON text or proto encoding).
    pub payload: Bytes,
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// Still running.
    Open,
    /// The client sent END_STREAM; the server then finished its acks and ended with OK.
    ClientHalfClosed,
    /// The client reset the call or the connection went away.
    ClientGone,
    /// The server ended the call with this status (code, message); code 0 is a clean end.
    ServerStatus(i32, String),
}

/// What the server saw on one `EphemeralStream` call.
#[derive(Clone, Debug)]
pub struct ConnectionLog {
    /// 1-based, in arrival order since the last `set_faults`/`reset`.
    pub index: u32,
    /// `table_name` of `create_stream`.
    pub table: Option<String>,
    /// The `x-databricks-zerobus-table-name` header.
    pub table_header: Option<String>,
    /// The `authorization` header as received.
    pub authorization: Option<String>,
    /// The `user-agent` header.
    pub user_agent: Option<String>,
    /// All request metadata, in received order.
    pub headers: Vec<(String, String)>,
    /// `record_type` of `create_stream`.
    pub record_type: Option<i32>,
    /// Stream id the server assigned.
    pub stream_id: Option<String>,
    /// Ingest messages received (not counting `create_stream`).
    pub messages: u64,
    /// Records received.
    pub records: u64,
    /// Last wire offset acked.
    pub acked_up_to: Option<i64>,
    /// How the call ended.
    pub end: ConnectionEnd,
}

/// One request to the token endpoint. Never holds the client secret.
#[derive(Clone, Debug)]
pub struct TokenRequestLog {
    /// Client id from HTTP Basic auth (or the `client_id` form field).
    pub basic_client_id: Option<String>,
    /// Whether the presented secret matched the configured one.
    pub basic_secret_matched: bool,
    /// Decoded form fields without `client_secret`; `subject_token` is redacted.
    pub form: Vec<(String, String)>,
    /// `authorization_details`, parsed.
    pub authorization_details: Option<serde_json::Value>,
    /// HTTP status answered.
    pub status: u16,
    /// The token issued, if any.
    pub issued_token: Option<String>,
}

impl TokenRequestLog {
    /// Value of form field `name`.
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One request for a table's schema (`GET /api/2.1/unity-catalog/tables/{full_name}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaRequestLog {
    /// The table's full name as requested (percent-decoded).
    pub table: String,
    /// HTTP status answered.
    pub status: u16,
    /// `error_code` of the error answered (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
    /// `TABLE_DOES_NOT_EXIST`, …); `None` for 200.
    pub error_code: Option<String>,
}

/// Totals received for a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Records received (duplicates counted).
    pub records: u64,
    /// Record payload bytes received.
    pub bytes: u64,
}

/// Handle to a running mock server. Clones share the server; it stops on [`MockServer::shutdown`]
/// or when the last clone is dropped.
#[derive(Clone)]
pub struct MockServer {
    inner: Arc<Running>,
}

struct Running {
    shared: Arc<Shared>,
    grpc_addr: SocketAddr,
    token_addr: SocketAddr,
    tls: Option<(SocketAddr, String)>,
    proxy: Option<(SocketAddr, Arc<connect_proxy::ProxyStats>)>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

impl MockServer {
    /// Binds the listeners and starts serving on the current tokio runtime.
    pub async fn start(config: MockServerConfig) -> std::io::Result<MockServer> {
        let grpc_listener = tokio::net::TcpListener::bind(config.grpc_addr).await?;
        let token_listener = tokio::net::TcpListener::bind(config.token_addr).await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let token_addr = token_listener.local_addr()?;
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let (want_tls, want_proxy) = (config.tls, config.connect_proxy);
        let shared = Arc::new(Shared::new(config));
        let mut tasks = vec![
            tokio::spawn(grpc::serve(grpc_listener, shared.clone(), None)),
            tokio::spawn(token::serve(token_listener, shared.clone())),
        ];
        let mut tls = None;
        if want_tls {
            let identity = tls::make()?;
            let listener = tokio::net::TcpListener::bind(loopback).await?;
            tls = Some((listener.local_addr()?, identity.ca_pem));
            tasks.push(tokio::spawn(grpc::serve(listener, shared.clone(), Some(identity.acceptor))));
        }
        let mut proxy = None;
        if want_proxy {
            let listener = tokio::net::TcpListener::bind(loopback).await?;
            let stats = Arc::new(connect_proxy::ProxyStats::default());
            proxy = Some((listener.local_addr()?, stats.clone()));
            tasks.push(tokio::spawn(connect_proxy::serve(listener, stats)));
        }
        Ok(MockServer {
            inner: Arc::new(Running { shared, grpc_addr, token_addr, tls, proxy, tasks: Mutex::new(tasks) }),
        })
    }

    /// `https://localhost:<port>` of the TLS gRPC listener (with [`MockServerConfig::tls`]).
    pub fn tls_url(&self) -> Option<String> {
        self.inner.tls.as_ref().map(|(addr, _)| format!("https://localhost:{}", addr.port()))
    }

    /// PEM of the CA that signed the TLS listener's certificate (with [`MockServerConfig::tls`]).
    pub fn ca_pem(&self) -> Option<&str> {
        self.inner.tls.as_ref().map(|(_, pem)| pem.as_str())
    }

    /// `http://127.0.0.1:<port>` of the CONNECT proxy (with [`MockServerConfig::connect_proxy`]).
    pub fn proxy_url(&self) -> Option<String> {
        self.inner.proxy.as_ref().map(|(addr, _)| format!("http://{addr}"))
    }

    /// Tunnels the CONNECT proxy opened since the last [`reset`](Self::reset).
    pub fn proxy_tunnels(&self) -> u64 {
        self.inner.proxy.as_ref().map_or(0, |(_, stats)| stats.tunnels.load(Ordering::Relaxed))
    }

    /// What the ledger ([`MockServerConfig::ledger`]) holds for records `0..count` of `seed` in
    /// `table`.
    pub fn ledger(&self, table: &str, seed: u64, count: u64) -> LedgerReport {
        self.inner.shared.tables.get(table).map(|t| lock(t).ledger.report(seed, count)).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>` of the gRPC server.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.inner.grpc_addr)
    }

    /// `http://127.0.0.1:<port>` of the token endpoint (the "workspace URL").
    pub fn workspace_url(&self) -> String {
        format!("http://{}", self.inner.token_addr)
    }

    /// Address the gRPC server listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.inner.grpc_addr
    }

    /// Address the token endpoint listens on.
    pub fn token_addr(&self) -> SocketAddr {
        self.inner.token_addr
    }

    /// Replaces the fault script. Connection indices restart at 1 (so the connection log starts
    /// over too), token fault counters and revocations start over. Calls already running keep
    /// the faults they started with.
    pub fn set_faults(&self, faults: FaultScript) {
        let mut state = self.inner.shared.state();
        state.new_epoch(faults);
    }

    /// Forgets every record, connection and token request, and clears the faults. Issued tokens
    /// stay valid.
    pub fn reset(&self) {
        let shared = &self.inner.shared;
        {
            let mut state = shared.state();
            state.new_epoch(FaultScript::default());
            state.connections.clear();
            state.token_requests.clear();
            state.schema_requests.clear();
        }
        for table in shared.tables.values() {
            *lock(table) = TableData::default();
        }
        if let Some((_, stats)) = &self.inner.proxy {
            stats.tunnels.store(0, Ordering::Relaxed);
        }
    }

    /// Every record received for `table`, in arrival order, duplicates included.
    pub fn records(&self, table: &str) -> Vec<ReceivedRecord> {
        let Some(store) = self.inner.shared.tables.get(table) else {
            return Vec::new();
        };
        let data = lock(store);
        let mut out = Vec::with_capacity(data.records as usize);
        for batch in &data.batches {
            let batch_len = batch.payloads.len() as u32;
            out.extend(batch.payloads.iter().enumerate().map(|(i, payload)| ReceivedRecord {
                connection: batch.connection,
                wire_offset: batch.wire_offset,
                index_in_batch: i as u32,
                batch_len,
                batched: batch.batched,
                kind: batch.kind,
                payload: payload.clone(),
            }));
        }
        out
    }

    /// Every Arrow record batch received for `table` by Flight `DoPut`, in arrival order,
    /// duplicates included (empty with `keep_payloads` off; the rows are still counted in
    /// [`table_stats`](Self::table_stats)).
    pub fn arrow_batches(&self, table: &str) -> Vec<arrow_array::RecordBatch> {
        self.inner
            .shared
            .tables
            .get(table)
            .map(|store| lock(store).arrow.iter().map(|a| a.batch.clone()).collect())
            .unwrap_or_default()
    }

    /// The body compression of each stored Arrow batch of `table`, in arrival order.
    pub fn arrow_compressions(&self, table: &str) -> Vec<&'static str> {
        self.inner
            .shared
            .tables
            .get(table)
            .map(|store| lock(store).arrow.iter().map(|a| a.compression).collect())
            .unwrap_or_default()
    }

    /// [`arrow_batches`](Self::arrow_batches) with the connection (1-based) each arrived on.
    pub fn arrow_batches_by_connection(&self, table: &str) -> Vec<(u32, arrow_array::RecordBatch)> {
        self.inner
            .shared
            .tables
            .get(table)
            .map(|store| lock(store).arrow.iter().map(|a| (a.connection, a.batch.clone())).collect())
            .unwrap_or_default()
    }

    /// Records (Arrow rows included) and payload bytes (Arrow batch bodies included) received
    /// for `table`.
    pub fn table_stats(&self, table: &str) -> TableStats {
        self.inner
            .shared
            .tables
            .get(table)
            .map(|store| {
                let data = lock(store);
                TableStats { records: data.records, bytes: data.bytes }
            })
            .unwrap_or_default()
    }

    /// One entry per `EphemeralStream` call since the last `set_faults`/`reset`, in order.
    pub fn connections(&self) -> Vec<ConnectionLog> {
        let entries = self.inner.shared.state().connections.clone();
        entries.iter().map(|c| c.snapshot()).collect()
    }

    /// One entry per POST to the token endpoint since the last `reset`, in order.
    pub fn token_requests(&self) -> Vec<TokenRequestLog> {
        self.inner.shared.state().token_requests.clone()
    }

    /// One entry per request for a table's schema since the last `reset`, in order.
    pub fn schema_requests(&self) -> Vec<SchemaRequestLog> {
        self.inner.shared.state().schema_requests.clone()
    }

    /// The declared schema of `table` ([`MockServerConfig::table_schemas`]), if it has one.
    pub fn table_schema(&self, table: &str) -> Option<zerobus_schema::TableSchema> {
        self.inner.shared.schemas.get(table).map(|d| d.schema.clone())
    }

    /// Stops both servers and closes their connections. Other clones of the handle see a
    /// stopped server.
    pub async fn shutdown(self) {
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("grpc_addr", &self.inner.grpc_addr)
            .field("token_addr", &self.inner.token_addr)
            .finish_non_exhaustive()
    }
}

// ---- state shared by the gRPC service and the token endpoint ----

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge every later inspection.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Shared {
    pub config: MockServerConfig,
    pub static_tokens: HashSet<String>,
    /// Fixed at start, so the hot path locks one table, never a global map.
    pub tables: HashMap<String, Arc<Mutex<TableData>>>,
    /// Declared tables by full name.
    pub schemas: HashMap<String, DeclaredTable>,
    state: Mutex<State>,
    next_id: AtomicU64,
}

pub(crate) struct State {
    pub faults: Arc<FaultScript>,
    pub next_connection: u32,
    pub connections: Vec<Arc<ConnEntry>>,
    pub token_requests: Vec<TokenRequestLog>,
    pub schema_requests: Vec<SchemaRequestLog>,
    pub token_reject_left: u32,
    pub token_fail_left: u32,
    pub revoked: HashSet<String>,
}

impl State {
    fn new_epoch(&mut self, faults: FaultScript) {
        self.token_reject_left = faults.token.reject_next;
        self.token_fail_left = faults.token.fail_next;
        self.faults = Arc::new(faults);
        self.next_connection = 1;
        self.connections.clear();
        self.revoked.clear();
    }
}

#[derive(Default)]
pub(crate) struct TableData {
    pub records: u64,
    pub bytes: u64,
    pub batches: Vec<StoredBatch>,
    /// Arrow record batches received by Flight `DoPut` (with payloads kept).
    pub arrow: Vec<StoredArrow>,
    pub ledger: ledger::Ledger,
}

/// One Arrow record batch as received.
pub(crate) struct StoredArrow {
    pub connection: u32,
    #[allow(dead_code)]
    pub wire_offset: i64,
    pub batch: arrow_array::RecordBatch,
    /// The body compression its message declared (`none`, `lz4_frame`, `zstd`).
    pub compression: &'static str,
}

pub(crate) struct StoredBatch {
    pub connection: u32,
    pub wire_offset: i64,
    pub batched: bool,
    pub kind: RecordKind,
    pub payloads: Vec<Bytes>,
}

/// A table with declared columns, and its Unity Catalog JSON, made once.
pub(crate) struct DeclaredTable {
    pub schema: zerobus_schema::TableSchema,
    pub uc_json: Bytes,
}

impl Shared {
    fn new(config: MockServerConfig) -> Shared {
        let mut tables: HashMap<String, Arc<Mutex<TableData>>> =
            config.tables.iter().map(|t| (t.clone(), Arc::default())).collect();
        let mut schemas = HashMap::new();
        for schema in &config.table_schemas {
            let name = schema.full_name();
            tables.entry(name.clone()).or_default();
            let uc_json = Bytes::from(schema.to_uc_json().to_string());
            schemas.insert(name, DeclaredTable { schema: schema.clone(), uc_json });
        }
        Shared {
            static_tokens: config.static_tokens.iter().cloned().collect(),
            tables,
            schemas,
            config,
            state: Mutex::new(State {
                faults: Arc::default(),
                next_connection: 1,
                connections: Vec::new(),
                token_requests: Vec::new(),
                schema_requests: Vec::new(),
                token_reject_left: 0,
                token_fail_left: 0,
                revoked: HashSet::new(),
            }),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// A string no other id or token of this process shares, and hard to guess.
    pub fn unique_id(&self, prefix: &str) -> String {
        use std::hash::BuildHasher;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        // RandomState is seeded from OS randomness; good enough for a mock's tokens.
        let r = std::collections::hash_map::RandomState::new().hash_one(n);
        format!("{prefix}{n:x}{r:016x}")
    }
}

/// Live log of one call: fixed facts plus counters the hot path bumps without locking.
pub(crate) struct ConnEntry {
    pub index: u32,
    pub table_header: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub headers: Vec<(String, String)>,
    pub messages: AtomicU64,
    pub records: AtomicU64,
    /// `i64::MIN` until the first ack.
    pub acked: AtomicI64,
    pub opened: Mutex<Opened>,
}

#[derive(Default)]
pub(crate) struct Opened {
    pub table: Option<String>,
    pub record_type: Option<i32>,
    pub stream_id: Option<String>,
    pub end: Option<ConnectionEnd>,
}

impl ConnEntry {
    fn snapshot(&self) -> ConnectionLog {
        let opened = lock(&self.opened);
        let acked = self.acked.load(Ordering::Relaxed);
        ConnectionLog {
            index: self.index,
            table: opened.table.clone(),
            table_header: self.table_header.clone(),
            authorization: self.authorization.clone(),
            user_agent: self.user_agent.clone(),
            headers: self.headers.clone(),
            record_type: opened.record_type,
            stream_id: opened.stream_id.clone(),
            messages: self.messages.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            acked_up_to: (acked != i64::MIN).then_some(acked),
            end: opened.end.clone().unwrap_or(ConnectionEnd::Open),
        }
    }

    /// Records how the call ended; the first ending wins.
    pub fn set_end(&self, end: ConnectionEnd) {
        lock(&self.opened).end.get_or_insert(end);
    }
}

/// Accepts TCP connections until the task is aborted and serves each with `serve_one`. Aborting
/// drops the `JoinSet` and with it every connection, so a stopped server leaves nothing running.
pub(crate) async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, what: &str, serve_one: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(serve_one(tcp));
                }
                Err(e) => {
                    // Out of descriptors or similar: back off rather than spin.
                    tracing::warn!("{what} accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
