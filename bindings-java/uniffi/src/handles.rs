//! Handle tables for the objects the fast path (`fast.rs`) hands to Kotlin as plain numbers: the
//! fast-path stream references, the calls waiting for room and the errors of failed calls.
//!
//! A handle names a slot: `tag << 56 | generation << 24 | (index + 1)`. The library never turns
//! a caller's number into a pointer: it decodes it, looks the slot up under the table's lock and
//! checks the generation, so a released, reused, forged or wrong-kind handle is a clean
//! `INVALID_ARGUMENT` error, never undefined behaviour:
//!
//! - a released handle's slot is empty; once the slot is reused its generation has moved on, so
//!   the old handle still fails (the generation is 32 bits and never 0);
//! - the tag (7 bits, the sign bit stays clear so Kotlin sees a positive `Long`) tells the tables
//!   apart, so a pending handle passed as an error handle fails too;
//! - a value leaves the table only by [`Table::remove`], which hands it to the caller: it is
//!   dropped outside the lock, after every [`Table::get`] clone taken before has gone.

use std::sync::RwLock;

use zerobus_core::{ErrorCode, ZerobusError, ZerobusResult};

const INDEX_BITS: u32 = 24;
const GEN_BITS: u32 = 32;
const TAG_SHIFT: u32 = INDEX_BITS + GEN_BITS;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

/// Tag of the fast-path stream references.
pub(crate) const STREAM: u64 = 0x31;
/// Tag of the calls waiting for room.
pub(crate) const PENDING: u64 = 0x32;
/// Tag of the errors of failed calls.
pub(crate) const ERROR: u64 = 0x33;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// The live objects of one kind, by handle.
pub(crate) struct Table<T> {
    tag: u64,
    what: &'static str,
    slots: RwLock<Slots<T>>,
}

/// Why a handle does not name a live object.
enum Bad {
    Null,
    WrongKind,
    Stale,
    Forged,
}

impl<T> Table<T> {
    /// A table whose handles carry `tag`; `what` names the kind in error messages.
    pub(crate) const fn new(tag: u64, what: &'static str) -> Table<T> {
        Table { tag, what, slots: RwLock::new(Slots { slots: Vec::new(), free: Vec::new() }) }
    }

    /// Stores `value` and returns its handle. Fails only when 16,777,215 handles of this kind are
    /// live at once (then `value` is dropped).
    pub(crate) fn insert(&self, value: T) -> ZerobusResult<u64> {
        let mut s = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let index = match s.free.pop() {
            Some(i) => i,
            None => {
                if s.slots.len() as u64 >= INDEX_MASK {
                    drop(s);
                    drop(value); // outside the lock: dropping a value may take other locks
                    return Err(ZerobusError::new(
                        ErrorCode::Internal,
                        format!(
                            "too many live {} handles ({INDEX_MASK}); this is a leak, please report it",
                            self.what
                        ),
                    ));
                }
                s.slots.push(Slot { generation: 0, value: None });
                s.slots.len() - 1
            }
        };
        let slot = &mut s.slots[index];
        slot.generation = match slot.generation.wrapping_add(1) {
            0 => 1,
            g => g,
        };
        slot.value = Some(value);
        Ok(self.tag << TAG_SHIFT | u64::from(slot.generation) << INDEX_BITS | (index as u64 + 1))
    }

    /// Takes the object out of the table (the caller drops it, outside the lock).
    pub(crate) fn remove(&self, handle: u64) -> ZerobusResult<T> {
        let (index, generation) = self.decode(handle).map_err(|b| self.bad(handle, b))?;
        let taken = {
            let mut s = self.slots.write().unwrap_or_else(|e| e.into_inner());
            let taken = match s.slots.get_mut(index) {
                Some(slot) if slot.generation == generation => slot.value.take().ok_or(Bad::Stale),
                Some(_) => Err(Bad::Stale),
                None => Err(Bad::Forged),
            };
            if taken.is_ok() {
                s.free.push(index);
            }
            taken
        };
        taken.map_err(|b| self.bad(handle, b))
    }

    fn decode(&self, handle: u64) -> Result<(usize, u32), Bad> {
        if handle == 0 {
            return Err(Bad::Null);
        }
        if handle >> TAG_SHIFT != self.tag {
            return Err(Bad::WrongKind);
        }
        let index = (handle & INDEX_MASK).checked_sub(1).ok_or(Bad::Forged)?;
        Ok((index as usize, ((handle >> INDEX_BITS) & GEN_MASK) as u32))
    }

    fn bad(&self, handle: u64, why: Bad) -> ZerobusError {
        let what = self.what;
        let message = match why {
            Bad::Null => format!("no {what} handle (0) was passed"),
            Bad::WrongKind | Bad::Forged => {
                format!("{handle:#x} is not a {what} handle this library issued")
            }
            Bad::Stale => {
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
        let (index, generation) = self.decode(handle).map_err(|b| self.bad(handle, b))?;
        let s = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let found = match s.slots.get(index) {
            Some(slot) if slot.generation == generation => slot.value.clone().ok_or(Bad::Stale),
            Some(_) => Err(Bad::Stale),
            None => Err(Bad::Forged),
        };
        drop(s);
        found.map_err(|b| self.bad(handle, b))
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
        for forged in
            [0u64, 1, 0x1234, u64::MAX, STREAM << TAG_SHIFT, STREAM << TAG_SHIFT | 1 << INDEX_BITS | 99]
        {
            let e = table.get(forged).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{forged:#x}");
            assert!(table.remove(forged).is_err(), "{forged:#x}");
        }
        assert_eq!(table.get(b).unwrap(), 2, "the live handle is untouched");
    }

    #[test]
    fn generation_is_never_zero() {
        let table: Table<u8> = Table::new(PENDING, "pending call");
        {
            let mut s = table.slots.write().unwrap();
            s.slots.push(Slot { generation: u32::MAX, value: None });
            s.free.push(0);
        }
        let h = table.insert(7).unwrap();
        assert_eq!((h >> INDEX_BITS) & GEN_MASK, 1);
        assert_eq!(table.remove(h).unwrap(), 7);
    }
}
