//! Handle tables: every object the C ABI hands out lives in a table, and the pointer C holds is
//! an opaque number that names its slot (type tag, slot index and the slot's generation). The
//! library never dereferences a handle, so a freed, reused, forged or wrong-typed handle is a
//! clean `ZEROBUS_ERROR_INVALID_ARGUMENT`, not undefined behaviour:
//!
//! - a freed handle's slot no longer holds it; when the slot is reused its generation has moved
//!   on, so the old handle still fails;
//! - a call takes its own reference (`Arc`) to the object, so a `*_free` racing with that call
//!   cannot pull the object from under it: the object goes when the last call using it returns.
//!
//! Handle values have their type tag in the top byte, so they are never valid addresses on a
//! 64-bit machine (nothing, including Go's garbage collector, mistakes them for heap pointers).

use std::sync::{Arc, RwLock};

use zerobus_core::{ErrorCode, ZerobusError, ZerobusResult};

#[cfg(target_pointer_width = "64")]
mod layout {
    pub(super) const TAG_BITS: u32 = 8;
    pub(super) const INDEX_BITS: u32 = 24;
}
#[cfg(not(target_pointer_width = "64"))]
mod layout {
    pub(super) const TAG_BITS: u32 = 4;
    pub(super) const INDEX_BITS: u32 = 20;
}
use layout::{INDEX_BITS, TAG_BITS};

const GEN_BITS: u32 = usize::BITS - TAG_BITS - INDEX_BITS;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GEN_MASK: usize = (1 << GEN_BITS) - 1;
const TAG_SHIFT: u32 = usize::BITS - TAG_BITS;

/// The type tags, and the C type names for messages.
const TYPE_NAMES: [&str; 10] = [
    "",
    "zerobus_sdk",
    "zerobus_sdk_builder",
    "zerobus_stream",
    "zerobus_stream_options",
    "zerobus_json_encoder",
    "zerobus_batches",
    "zerobus_buffer",
    "zerobus_error",
    "zerobus_headers",
];

struct Slot<T> {
    generation: usize,
    value: Option<Arc<T>>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// The live objects of one C type.
pub(crate) struct Table<T> {
    tag: usize,
    slots: RwLock<Slots<T>>,
}

impl<T> Table<T> {
    /// A table for the C type `TYPE_NAMES[tag]`.
    pub const fn new(tag: usize) -> Table<T> {
        Table { tag, slots: RwLock::new(Slots { slots: Vec::new(), free: Vec::new() }) }
    }

    fn name(&self) -> &'static str {
        TYPE_NAMES[self.tag]
    }

    /// Stores `value` and returns its handle, as the C pointer type `P`.
    pub fn insert<P>(&self, value: T) -> ZerobusResult<*mut P> {
        let mut s = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let index = match s.free.pop() {
            Some(i) => i,
            None => {
                if s.slots.len() >= INDEX_MASK {
                    return Err(ZerobusError::new(
                        ErrorCode::Internal,
                        format!(
                            "too many live {} handles ({}); free the ones no longer needed",
                            self.name(),
                            INDEX_MASK
                        ),
                    ));
                }
                s.slots.push(Slot { generation: 0, value: None });
                s.slots.len() - 1
            }
        };
        let slot = &mut s.slots[index];
        slot.generation = (slot.generation + 1) & GEN_MASK;
        slot.value = Some(Arc::new(value));
        let handle = (self.tag << TAG_SHIFT) | (slot.generation << INDEX_BITS) | (index + 1);
        // The handle is a number in a pointer's clothes; it is never dereferenced.
        Ok(handle as *mut P)
    }

    /// The object behind `handle`, or an error naming `param` that says what is wrong with it.
    pub fn get<P>(&self, handle: *const P, param: &str) -> ZerobusResult<Arc<T>> {
        self.lookup(handle as usize).map_err(|why| self.bad(param, why))
    }

    /// Takes the object out of the table; `None` for NULL or a handle that is not live. The
    /// object is dropped when the caller drops the returned reference and every call still using
    /// it has returned.
    pub fn remove<P>(&self, handle: *mut P) -> Option<Arc<T>> {
        let (index, generation) = self.decode(handle as usize).ok()?;
        let mut s = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let slot = s.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let value = slot.value.take()?;
        s.free.push(index);
        Some(value)
    }

    fn decode(&self, handle: usize) -> Result<(usize, usize), &'static str> {
        if handle == 0 {
            return Err("null");
        }
        if handle >> TAG_SHIFT != self.tag {
            return Err("wrong type");
        }
        let index = (handle & INDEX_MASK).checked_sub(1).ok_or("not a handle")?;
        Ok((index, (handle >> INDEX_BITS) & GEN_MASK))
    }

    fn lookup(&self, handle: usize) -> Result<Arc<T>, &'static str> {
        let (index, generation) = self.decode(handle)?;
        let s = self.slots.read().unwrap_or_else(|e| e.into_inner());
        match s.slots.get(index) {
            Some(slot) if slot.generation == generation => slot.value.clone().ok_or("freed"),
            Some(_) => Err("freed"),
            None => Err("not a handle"),
        }
    }

    fn bad(&self, param: &str, why: &str) -> ZerobusError {
        let name = self.name();
        let message = match why {
            "null" => format!("null pointer passed for `{param}`"),
            "wrong type" => format!(
                "`{param}` is not a {name} handle (another kind of handle, or not one from this library); pass the {name} the library returned"
            ),
            "freed" => format!(
                "`{param}` is a {name} handle that was already freed; use a live handle (free each handle once, after its last use)"
            ),
            _ => format!("`{param}` is not a {name} handle this library returned"),
        };
        ZerobusError::new(ErrorCode::InvalidArgument, message)
    }
}

/// The SDKs.
pub(crate) const SDK: usize = 1;
/// The SDK builders.
pub(crate) const SDK_BUILDER: usize = 2;
/// The streams.
pub(crate) const STREAM: usize = 3;
/// The stream options.
pub(crate) const OPTIONS: usize = 4;
/// The JSON encoders.
pub(crate) const ENCODER: usize = 5;
/// Unacked records handed out.
pub(crate) const BATCHES: usize = 6;
/// Encoded buffers handed out.
pub(crate) const BUFFER: usize = 7;
/// Errors handed out.
pub(crate) const ERROR: usize = 8;
/// Headers being filled by a headers provider.
pub(crate) const HEADERS: usize = 9;

#[cfg(test)]
mod tests {
    use super::*;

    struct Opaque;

    #[test]
    fn freed_reused_forged_and_wrong_type_handles_are_refused() {
        let table: Table<u32> = Table::new(STREAM);
        let other: Table<u32> = Table::new(SDK);
        let a: *mut Opaque = table.insert(1).unwrap();
        assert_eq!(*table.get(a, "stream").unwrap(), 1);
        assert!(table.remove(a).is_some());
        assert!(table.remove(a).is_none(), "a second free is a no-op");
        let b: *mut Opaque = table.insert(2).unwrap();
        assert_ne!(a, b, "the reused slot has a new generation");
        let e = table.get(a, "stream").unwrap_err();
        assert!(e.message().contains("already freed"), "{}", e.message());
        assert_eq!(*table.get(b, "stream").unwrap(), 2);
        let wrong: *mut Opaque = other.insert(3).unwrap();
        assert!(table.get(wrong, "stream").unwrap_err().message().contains("not a zerobus_stream handle"));
        assert!(table.get(0x1234 as *const Opaque, "stream").is_err());
        assert!(table
            .get(std::ptr::null::<Opaque>(), "stream")
            .unwrap_err()
            .message()
            .contains("null pointer"));
        // Never a plausible address.
        #[cfg(target_pointer_width = "64")]
        assert!(b as usize >= 1 << 56);
    }

    #[test]
    fn a_removed_object_lives_while_a_call_holds_it() {
        let table: Table<String> = Table::new(BUFFER);
        let h: *mut Opaque = table.insert("x".to_string()).unwrap();
        let held = table.get(h, "buffer").unwrap();
        drop(table.remove(h));
        assert_eq!(*held, "x");
    }
}
