//! A TCP fault proxy: real sockets between a client and the mock server, breaking the connection
//! the way networks and restarts do. Seeded, so a run's schedule of faults can be repeated.
//!
//! - **Resets**: each connection is cut with a TCP RST (both sides) after a random lifetime, or
//!   right after it forwarded a chunk from the server (an ack) with a set chance.
//! - **Delays**: each forwarded chunk waits up to a set time.
//! - **Outages**: [`FaultProxy::down_for`] cuts every connection and closes the listening port,
//!   so new connections are refused, then listens on the same port again.
//!
//! ```no_run
//! # async fn demo(upstream: std::net::SocketAddr) -> std::io::Result<()> {
//! use zerobus_conformance::fault_proxy::{FaultPlan, FaultProxy};
//! let proxy = FaultProxy::start(upstream, FaultPlan { seed: 7, reset_after_ms: Some((50, 400)), ..Default::default() }).await?;
//! // point the client at proxy.url() ...
//! proxy.down_for(std::time::Duration::from_secs(3)).await;
//! println!("{:?}", proxy.stats());
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// What the proxy does wrong. The default forwards faithfully.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Seeds the random schedule (lifetimes, reset chances, delays).
    pub seed: u64,
    /// Reset each connection after a lifetime drawn from `min..=max` ms; `None`: never.
    pub reset_after_ms: Option<(u64, u64)>,
    /// Chance (0..=1) of a reset right after forwarding a chunk from the server to the client.
    pub reset_after_ack_chance: f64,
    /// Delay each forwarded chunk by up to this many ms.
    pub max_delay_ms: u64,
    /// Let a connection carry at least this many chunks from the server before a reset may cut
    /// it (the create answer and a first ack), so every connection makes progress.
    pub min_server_chunks: u32,
}

/// What the proxy did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections the proxy cut with a reset (by schedule or by an outage).
    pub resets: u64,
    /// Outages begun.
    pub outages: u64,
}

struct Inner {
    upstream: SocketAddr,
    addr: SocketAddr,
    plan: Mutex<FaultPlan>,
    connections: AtomicU64,
    resets: AtomicU64,
    outages: AtomicU64,
    down: AtomicBool,
    /// Bumped to cut every live connection.
    cut: watch::Sender<u64>,
}

/// A running proxy; it stops when the last handle is dropped.
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
    accept: Arc<AbortOnDrop>,
}

struct AbortOnDrop(Mutex<Option<tokio::task::JoinHandle<()>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` under `plan`.
    pub async fn start(upstream: SocketAddr, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let (cut, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            upstream,
            addr,
            plan: Mutex::new(plan),
            connections: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            down: AtomicBool::new(false),
            cut,
        });
        let task = tokio::spawn(accept_loop(inner.clone(), listener));
        Ok(FaultProxy { inner, accept: Arc::new(AbortOnDrop(Mutex::new(Some(task)))) })
    }

    /// `http://127.0.0.1:<port>`: the endpoint clients use instead of the server's.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Replaces the plan for connections accepted from now on.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.inner.plan.lock().unwrap_or_else(|e| e.into_inner()) = plan;
    }

    /// Cuts every live connection with a reset.
    pub fn reset_all(&self) {
        self.inner.cut.send_modify(|g| *g += 1);
    }

    /// Starts an outage: every live connection is reset and the port refuses connections for
    /// `duration`, then listens again. Returns once the port refuses; [`is_down`](Self::is_down)
    /// tells when it is back.
    pub async fn down_for(&self, duration: Duration) {
        self.inner.outages.fetch_add(1, Ordering::Relaxed);
        self.inner.down.store(true, Ordering::Release);
        let old = self.accept.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = old {
            h.abort();
            // Once the aborted task is gone its listener is closed: the port refuses from here on.
            let _ = h.await;
        }
        self.reset_all();
        let inner = self.inner.clone();
        let slot = self.accept.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            // The same port again; retry briefly in case the old socket is still closing.
            for _ in 0..100 {
                match listen(inner.addr) {
                    Ok(listener) => {
                        let task = tokio::spawn(accept_loop(inner.clone(), listener));
                        *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
                        inner.down.store(false, Ordering::Release);
                        return;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            tracing::error!("fault proxy could not listen on {} again", inner.addr);
        });
    }

    /// Whether an outage is going on.
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Acquire)
    }

    /// Counters so far.
    pub fn stats(&self) -> FaultStats {
        FaultStats {
            connections: self.inner.connections.load(Ordering::Relaxed),
            resets: self.inner.resets.load(Ordering::Relaxed),
            outages: self.inner.outages.load(Ordering::Relaxed),
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let n = inner.connections.fetch_add(1, Ordering::Relaxed);
        let plan = inner.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let rng = Rng::new(plan.seed ^ (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        tokio::spawn(forward(inner.clone(), client, plan, rng));
    }
}

/// A small xorshift generator: the schedule only needs to be spread and repeatable.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next() % (hi - lo + 1)
        }
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
}

async fn forward(inner: Arc<Inner>, mut client: TcpStream, plan: FaultPlan, mut rng: Rng) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(inner.upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = server.set_nodelay(true);
    let lifetime = plan.reset_after_ms.map(|(lo, hi)| Duration::from_millis(rng.range(lo, hi)));
    let delay_seed = rng.next();
    let mut cut = inner.cut.subscribe();
    cut.borrow_and_update();
    // The halves borrow the sockets, so once the forwarding ends the sockets are still here to
    // be reset.
    let reset = {
        let (mut client_rd, mut client_wr) = client.split();
        let (mut server_rd, mut server_wr) = server.split();
        let server_chunks = Arc::new(AtomicU64::new(0));
        let min_chunks = u64::from(plan.min_server_chunks);

        let up = {
            let max_delay = plan.max_delay_ms;
            async move {
                let mut rng = Rng::new(delay_seed);
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = client_rd.read(&mut buf).await?;
                    if n == 0 {
                        server_wr.shutdown().await?;
                        return Ok::<_, std::io::Error>(false);
                    }
                    if max_delay > 0 {
                        tokio::time::sleep(Duration::from_millis(rng.range(0, max_delay))).await;
                    }
                    server_wr.write_all(&buf[..n]).await?;
                }
            }
        };
        let down = {
            let chunks = server_chunks.clone();
            let (max_delay, chance) = (plan.max_delay_ms, plan.reset_after_ack_chance);
            async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = server_rd.read(&mut buf).await?;
                    if n == 0 {
                        client_wr.shutdown().await?;
                        return Ok::<_, std::io::Error>(false);
                    }
                    if max_delay > 0 {
                        tokio::time::sleep(Duration::from_millis(rng.range(0, max_delay))).await;
                    }
                    client_wr.write_all(&buf[..n]).await?;
                    let seen = chunks.fetch_add(1, Ordering::Relaxed) + 1;
                    if seen >= min_chunks && rng.chance(chance) {
                        return Ok(true); // reset right after an ack reached the client
                    }
                }
            }
        };
        let timer = async {
            match lifetime {
                Some(d) => {
                    tokio::time::sleep(d).await;
                    // Not before the connection carried its minimum from the server.
                    while server_chunks.load(Ordering::Relaxed) < min_chunks {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(up, down, timer);
        let mut up_done = false;
        let reset = loop {
            tokio::select! {
                r = &mut up, if !up_done => match r {
                    Ok(_) => up_done = true, // client half-closed; keep forwarding the server's answer
                    Err(_) => break false,
                },
                r = &mut down => break matches!(r, Ok(true)),
                _ = &mut timer => break true,
                _ = cut.changed() => break true,
            }
        };
        reset
    };
    if reset {
        inner.resets.fetch_add(1, Ordering::Relaxed);
        // SO_LINGER 0: closing sends RST, as a crashed peer or a cut network does.
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}
