//! The state one stream's parts share: the queue of unacked calls, offsets, flags, and the
//! channels that wake waiters. One mutex, held only for O(1) bookkeeping, never across an await,
//! a send or a callback.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{watch, Notify};

use crate::auth::Auth;
use crate::callbacks::Callbacks;
use crate::flight::FlightWire;
use crate::options::{StreamConfigurationOptions, TableProperties};
use crate::table_schema::FromTable;
use crate::transport::Transport;
use crate::wire::{self, EncodedCall};
use crate::ZerobusError;

#[derive(Default)]
pub(super) struct Counters {
    pub records_sent: AtomicU64,
    pub records_resent: AtomicU64,
    pub recoveries: AtomicU64,
    pub token_fetches: AtomicU64,
}

/// Ack watermark and terminal failure, watched by `flush` / `wait_for_offset`.
#[derive(Clone, Debug)]
pub(super) struct Progress {
    pub acked: i64,
    pub failed: Option<ZerobusError>,
}

pub(super) struct State {
    /// Unacked calls; `queue[0]` has logical offset `first_offset`.
    pub queue: VecDeque<EncodedCall>,
    pub first_offset: i64,
    pub next_offset: i64,
    pub inflight_bytes: usize,
    pub inflight_records: u64,
    /// Index in `queue` of the next call to send on the current connection.
    pub cursor: usize,
    /// Highest logical offset ever handed to a transport (to count resends).
    pub max_sent: i64,
    /// Bumped on every (re)connect; a request stream of an older generation ends.
    pub generation: u64,
    /// Logical offset that the current connection numbers 0.
    pub wire_base: i64,
    /// The current connection answered `create_stream`; records may flow.
    pub ready: bool,
    /// A `CloseStreamSignal` arrived: send nothing new on this connection.
    pub paused: bool,
    /// `close()` began: no new ingests.
    pub closing: bool,
    /// Everything is acked and `close()` wants END_STREAM sent.
    pub finishing: bool,
    pub failed: Option<ZerobusError>,
    pub sender: Option<Waker>,
    /// FIFO admission: calls that found no room take tickets and are admitted in ticket order,
    /// and a new call may not overtake them. `serving` is the ticket whose turn it is.
    pub next_ticket: u64,
    pub serving: u64,
    /// Tickets whose waiters gave up (their future was dropped); skipped when their turn comes.
    pub abandoned: BTreeSet<u64>,
    /// The waker of each waiting call, by ticket. Only the call whose turn it is can be admitted,
    /// so room or a passed turn wakes that one call, not every waiter (which made admission
    /// quadratic in the number of waiting calls).
    pub waiting: HashMap<u64, Waker>,
    /// Tickets below this were taken before `close()` began: those calls may still be queued.
    pub close_ticket: u64,
    /// When the server was last heard from, or when records started waiting after a silence.
    pub last_heard: Instant,
    /// Arrow streams: parts of `queue[cursor]` already sent on this connection.
    pub part: usize,
    /// Arrow streams: the next `offset_id` (physical batches sent on this connection).
    pub conn_parts: i64,
    /// Arrow streams: rows sent and rows acked (`ack_up_to_records`) on this connection.
    pub conn_rows_sent: u64,
    pub conn_rows_acked: u64,
    /// Arrow streams: rows of `queue[0]` already acked; a reconnect resends from the next one.
    pub front_rows_acked: u64,
}

impl State {
    fn new() -> State {
        State {
            queue: VecDeque::new(),
            first_offset: 0,
            next_offset: 0,
            inflight_bytes: 0,
            inflight_records: 0,
            cursor: 0,
            max_sent: -1,
            generation: 0,
            wire_base: 0,
            ready: false,
            paused: false,
            closing: false,
            finishing: false,
            failed: None,
            sender: None,
            next_ticket: 0,
            serving: 0,
            abandoned: BTreeSet::new(),
            waiting: HashMap::new(),
            close_ticket: 0,
            last_heard: Instant::now(),
            part: 0,
            conn_parts: 0,
            conn_rows_sent: 0,
            conn_rows_acked: 0,
            front_rows_acked: 0,
        }
    }

    /// The waker of the call whose turn it is, if it waits.
    pub fn take_turn_waker(&mut self) -> Option<Waker> {
        self.waiting.remove(&self.serving)
    }

    /// Every waiting call's waker (the stream failed or closed: they all have their answer).
    pub fn take_all_waiting(&mut self) -> Vec<Waker> {
        self.waiting.drain().map(|(_, w)| w).collect()
    }

    pub fn take_sender(&mut self) -> Option<Waker> {
        self.sender.take()
    }

    /// Ends the current connection's request stream (it sees a new generation) and returns the
    /// waker to call once the lock is released.
    pub fn retire_connection(&mut self) -> Option<Waker> {
        self.generation += 1;
        self.take_sender()
    }
}

/// Everything the parts of one stream share.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(super) progress: watch::Sender<Progress>,
    /// Woken when room appears in the in-flight bounds or a turn passes.
    pub(super) space: Notify,
    pub(super) opts: StreamConfigurationOptions,
    pub(super) table: TableProperties,
    /// Set when the stream was opened from its table's schema: JSON records are encoded by it.
    pub(super) from_table: Option<Arc<FromTable>>,
    pub(super) create_message: Bytes,
    pub(super) auth: Auth,
    pub(super) transport: Arc<Transport>,
    pub(super) callbacks: Option<Callbacks>,
    pub(super) counters: Counters,
    /// Where encoded calls are written; its own lock so encoding never holds up the sender.
    pub(super) slabs: Mutex<wire::Slabs>,
    /// The server's id for the current connection.
    pub(super) stream_id: Mutex<String>,
    /// Set on an Arrow stream: calls go out as Flight `DoPut` record batches.
    pub(super) flight: Option<FlightWire>,
}

impl Shared {
    pub(super) fn new(
        transport: Arc<Transport>,
        table: TableProperties,
        from_table: Option<Arc<FromTable>>,
        auth: Auth,
        opts: StreamConfigurationOptions,
        create_message: Bytes,
        flight: Option<FlightWire>,
    ) -> Shared {
        // The options keep the callback too, so `recreate` can hand it to the new stream.
        let callbacks = opts.ack_callback.clone().map(Callbacks::spawn);
        let (progress, _) = watch::channel(Progress { acked: -1, failed: None });
        Shared {
            state: Mutex::new(State::new()),
            progress,
            space: Notify::new(),
            opts,
            table,
            from_table,
            create_message,
            auth,
            transport,
            callbacks,
            counters: Counters::default(),
            slabs: Mutex::new(wire::Slabs::new()),
            stream_id: Mutex::new(String::new()),
            flight,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that matters
        // more than losing the stream, so poisoning is ignored rather than propagated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Shared {
    /// The parts of every unacked Arrow call, in offset order, and the rows of the first already
    /// acked (cheap clones: the encoded bytes are shared).
    pub(crate) fn unacked_flight_calls(&self) -> (Vec<Box<[crate::flight::FlightPart]>>, u64) {
        let st = self.lock();
        (st.queue.iter().filter_map(|c| c.flight.clone()).collect(), st.front_rows_acked)
    }
}
