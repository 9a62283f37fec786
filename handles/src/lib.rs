//! Handle tables for the foreign boundaries (the C ABI in `ffi-c`, the Kotlin fast path in
//! `bindings-java/uniffi`): the objects handed out live in a table, and the foreign side holds a
//! number that names a slot. The number is decoded and checked, never turned into a pointer, so
//! a released, reused, forged or wrong-kind handle is refused instead of being undefined
//! behaviour:
//!
//! - a released handle's slot is empty; once the slot is reused its generation has moved on (32
//!   bits, never 0), so the old handle is still refused;
//! - the kind's tag (7 bits in the top byte, sign bit clear so a JVM `long` stays positive, and
//!   never a valid address on a 64-bit machine) tells the tables apart;
//! - a value leaves the table only through [`Table::remove`], which hands it to the caller: with
//!   `Arc` values, a call that took a reference with [`Table::get`] keeps the object alive until it
//!   returns, whatever `remove` does meanwhile.
//!
//! Each binding turns a [`Refused`] into its own error message.
#![warn(missing_docs)]

use std::sync::RwLock;

/// Bits of the slot index (plus one, so that 0 is never a handle).
pub const INDEX_BITS: u32 = 24;
/// Bits of the slot's generation.
pub const GEN_BITS: u32 = 32;
/// Where the kind's tag starts.
pub const TAG_SHIFT: u32 = INDEX_BITS + GEN_BITS;
/// Live handles of one kind at most.
pub const LIMIT: usize = (1 << INDEX_BITS) - 1;

const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

/// Why a handle does not name a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// 0.
    Null,
    /// A handle of another kind (or a number whose top byte is not this table's tag).
    WrongKind,
    /// A handle this table issued, since released.
    Released,
    /// A number no handle of this table ever was.
    Unknown,
}

/// The table holds [`LIMIT`] live handles already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// The live objects of one kind, by handle.
pub struct Table<T> {
    tag: u64,
    slots: RwLock<Slots<T>>,
}

impl<T> Table<T> {
    /// A table whose handles carry `tag` (1 to 127).
    pub const fn new(tag: u8) -> Table<T> {
        assert!(tag > 0 && tag < 0x80, "a tag is 1 to 127");
        Table { tag: tag as u64, slots: RwLock::new(Slots { slots: Vec::new(), free: Vec::new() }) }
    }

    /// Stores `value` and returns its handle; with [`LIMIT`] handles live, drops `value` (outside
    /// the table's lock: dropping it may take other locks) and fails.
    pub fn insert(&self, value: T) -> Result<u64, Full> {
        let mut s = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let index = match s.free.pop() {
            Some(i) => i,
            None if s.slots.len() >= LIMIT => {
                drop(s);
                drop(value);
                return Err(Full);
            }
            None => {
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

    /// Takes the object out of the table; the caller drops it, outside the lock.
    pub fn remove(&self, handle: u64) -> Result<T, Refused> {
        let (index, generation) = self.decode(handle)?;
        let mut s = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let taken = match s.slots.get_mut(index) {
            Some(slot) if slot.generation == generation => slot.value.take().ok_or(Refused::Released),
            Some(_) => Err(Refused::Released),
            None => Err(Refused::Unknown),
        };
        if taken.is_ok() {
            s.free.push(index);
        }
        taken
    }

    fn decode(&self, handle: u64) -> Result<(usize, u32), Refused> {
        if handle == 0 {
            return Err(Refused::Null);
        }
        if handle >> TAG_SHIFT != self.tag {
            return Err(Refused::WrongKind);
        }
        let index = (handle & INDEX_MASK).checked_sub(1).ok_or(Refused::Unknown)?;
        Ok((index as usize, ((handle >> INDEX_BITS) & GEN_MASK) as u32))
    }
}

impl<T: Clone> Table<T> {
    /// A clone of the object behind `handle` (for an `Arc`: one more reference, so a concurrent
    /// [`remove`](Self::remove) cannot pull the object from under the caller).
    pub fn get(&self, handle: u64) -> Result<T, Refused> {
        let (index, generation) = self.decode(handle)?;
        let s = self.slots.read().unwrap_or_else(|e| e.into_inner());
        match s.slots.get(index) {
            Some(slot) if slot.generation == generation => slot.value.clone().ok_or(Refused::Released),
            Some(_) => Err(Refused::Released),
            None => Err(Refused::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_reused_forged_and_wrong_kind_handles_are_refused() {
        let table: Table<u32> = Table::new(3);
        let other: Table<u32> = Table::new(4);
        let a = table.insert(1).unwrap();
        assert!((a as i64) > 0, "positive as a JVM long");
        assert!(a >= 1 << 56, "never a plausible address");
        assert_eq!(table.get(a), Ok(1));
        assert_eq!(table.remove(a), Ok(1));
        assert_eq!(table.remove(a), Err(Refused::Released));
        let b = table.insert(2).unwrap();
        assert_ne!(a, b, "the reused slot has a new generation");
        assert_eq!(table.get(a), Err(Refused::Released));
        assert_eq!(table.get(other.insert(3).unwrap()), Err(Refused::WrongKind));
        assert_eq!(table.get(0), Err(Refused::Null));
        assert_eq!(table.get(0x1234), Err(Refused::WrongKind));
        assert_eq!(table.get(3 << TAG_SHIFT), Err(Refused::Unknown));
        assert_eq!(table.get(3 << TAG_SHIFT | 1 << INDEX_BITS | 99), Err(Refused::Unknown));
        assert_eq!(table.get(b), Ok(2), "the live handle is untouched");
    }

    #[test]
    fn generation_is_never_zero() {
        let table: Table<u8> = Table::new(5);
        {
            let mut s = table.slots.write().unwrap();
            s.slots.push(Slot { generation: u32::MAX, value: None });
            s.free.push(0);
        }
        let h = table.insert(7).unwrap();
        assert_eq!((h >> INDEX_BITS) & GEN_MASK, 1);
        assert_eq!(table.remove(h), Ok(7));
    }

    #[test]
    fn a_removed_object_lives_while_a_call_holds_it() {
        let table: Table<std::sync::Arc<String>> = Table::new(7);
        let h = table.insert(std::sync::Arc::new("x".to_string())).unwrap();
        let held = table.get(h).unwrap();
        drop(table.remove(h));
        assert_eq!(*held, "x");
    }
}
