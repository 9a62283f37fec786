//! Handle tables for the objects the fast path (`fast.rs`) hands to Kotlin as plain numbers: the
//! fast-path stream references, the calls waiting for room and the errors of failed calls.
//!
//! The table is `zerobus_handles` (shared with the C ABI); this module names the kinds and turns
//! refusals into this crate's errors. A handle names a slot: `tag << 56 | generation << 24 |
//! (index + 1)`. The library never turns a caller's number into a pointer: it decodes it, looks
//! the slot up under the table's lock and checks the generation, so a released, reused, forged or
//! wrong-kind handle is a clean `INVALID_ARGUMENT` error, never undefined behaviour:
//!
//! - a released handle's slot is empty; once the slot is reused its generation has moved on, so
//!   the old handle still fails (the generation is 32 bits and never 0);
//! - the tag (7 bits, the sign bit stays clear so Kotlin sees a positive `Long`) tells the tables
//!   apart, so a pending handle passed as an error handle fails too;
//! - a value leaves the table only by [`Table::remove`], which hands it to the caller: it is
//!   dropped outside the lock, after every [`Table::get`] clone taken before has gone.

use zerobus_core::{ErrorCode, ZerobusError, ZerobusResult};
use zerobus_handles::Refused;

#[cfg(test)]
use zerobus_handles::{INDEX_BITS, TAG_SHIFT};

/// Tag of the fast-path stream references.
pub(crate) const STREAM: u8 = 0x31;
/// Tag of the calls waiting for room.
pub(crate) const PENDING: u8 = 0x32;
/// Tag of the errors of failed calls.
pub(crate) const ERROR: u8 = 0x33;
/// Tag of the fast-path Arrow stream references.
pub(crate) const ARROW_STREAM: u8 = 0x34;
/// Tag of the waits for room `pendingAwait` started (their cancel handles).
pub(crate) const WAIT: u8 = 0x35;

/// The live objects of one kind, by handle (`zerobus_handles::Table`, with this crate's
/// messages).
pub(crate) struct Table<T> {
    what: &'static str,
    inner: zerobus_handles::Table<T>,
}

impl<T> Table<T> {
    /// A table whose handles carry `tag`; `what` names the kind in error messages.
    pub(crate) const fn new(tag: u8, what: &'static str) -> Table<T> {
        Table { what, inner: zerobus_handles::Table::new(tag) }
    }

    /// Stores `value` and returns its handle. Fails only when 16,777,215 handles of this kind are
    /// live at once (then `value` is dropped).
    pub(crate) fn insert(&self, value: T) -> ZerobusResult<u64> {
        self.inner.insert(value).map_err(|_| {
            ZerobusError::new(
                ErrorCode::Internal,
                format!(
                    "too many live {} handles ({}); this is a leak, please report it",
                    self.what,
                    zerobus_handles::LIMIT
                ),
            )
        })
    }

    /// Takes the object out of the table (the caller drops it, outside the lock).
    pub(crate) fn remove(&self, handle: u64) -> ZerobusResult<T> {
        self.inner.remove(handle).map_err(|b| self.bad(handle, b))
    }

    fn bad(&self, handle: u64, why: Refused) -> ZerobusError {
        let what = self.what;
        let message = match why {
            Refused::Null => format!("no {what} handle (0) was passed"),
            Refused::WrongKind | Refused::Unknown => {
                format!("{handle:#x} is not a {what} handle this library issued")
            }
            Refused::Released => {
                format!("the {what} handle {handle:#x} was already released; it cannot be used again")
            }
        };
        ZerobusError::new(ErrorCode::InvalidArgument, message)
    }
}

impl<T: Clone> Table<T> {
    /// A clone of the object behind `handle` (for `Arc`s: one more reference, so a concurrent
    /// [`remove`](Self::remove) cannot pull the object from under the caller).
    pub(crate) fn get(&self, handle: u64) -> ZerobusResult<T> {
        self.inner.get(handle).map_err(|b| self.bad(handle, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_reused_forged_and_wrong_kind_handles_are_refused() {
        let table: Table<u32> = Table::new(STREAM, "stream");
        let other: Table<u32> = Table::new(ERROR, "error");
        let a = table.insert(1).unwrap();
        assert!(a > 0 && (a as i64) > 0, "positive as a Kotlin Long");
        assert_eq!(table.get(a).unwrap(), 1);
        assert_eq!(table.remove(a).unwrap(), 1);
        let again = table.remove(a).unwrap_err();
        assert_eq!(again.code(), ErrorCode::InvalidArgument);
        assert!(again.message().contains("already released"), "{}", again.message());
        let b = table.insert(2).unwrap();
        assert_ne!(a, b, "the reused slot has a new generation");
        assert!(table.get(a).unwrap_err().message().contains("already released"));
        assert_eq!(table.get(b).unwrap(), 2);
        let wrong = other.insert(3).unwrap();
        assert!(table.get(wrong).unwrap_err().message().contains("not a stream handle"));
        for forged in [
            0u64,
            1,
            0x1234,
            u64::MAX,
            u64::from(STREAM) << TAG_SHIFT,
            u64::from(STREAM) << TAG_SHIFT | 1 << INDEX_BITS | 99,
        ] {
            let e = table.get(forged).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{forged:#x}");
            assert!(table.remove(forged).is_err(), "{forged:#x}");
        }
        assert_eq!(table.get(b).unwrap(), 2, "the live handle is untouched");
    }
}
