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
//! The table itself is `zerobus_handles` (shared with the Kotlin fast path); this module maps C
//! types to tags and refusals to messages that name the parameter. Handle values have their type
//! tag in the top byte, so they are never valid addresses on a 64-bit machine (nothing, including
//! Go's garbage collector, mistakes them for heap pointers).

use std::sync::Arc;

use zerobus_core::{ErrorCode, ZerobusError, ZerobusResult};
use zerobus_handles::Refused;

// Handles are 64-bit numbers in a pointer's clothes.
#[cfg(not(target_pointer_width = "64"))]
compile_error!("libzerobus hands out 64-bit handles as pointers: it needs a 64-bit target");

/// The type tags, and the C type names for messages.
const TYPE_NAMES: [&str; 13] = [
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
    "zerobus_table_schema",
    "zerobus_arrow_stream",
    "zerobus_arrow_stream_options",
];

/// The live objects of one C type (`zerobus_handles::Table` of `Arc`s, with C messages).
pub(crate) struct Table<T> {
    tag: u8,
    inner: zerobus_handles::Table<Arc<T>>,
}

impl<T> Table<T> {
    /// A table for the C type `TYPE_NAMES[tag]`.
    pub const fn new(tag: u8) -> Table<T> {
        Table { tag, inner: zerobus_handles::Table::new(tag) }
    }

    fn name(&self) -> &'static str {
        TYPE_NAMES[self.tag as usize]
    }

    /// Stores `value` and returns its handle, as the C pointer type `P`.
    pub fn insert<P>(&self, value: T) -> ZerobusResult<*mut P> {
        let handle = self.inner.insert(Arc::new(value)).map_err(|_| {
            ZerobusError::new(
                ErrorCode::Internal,
                format!(
                    "too many live {} handles ({}); free the ones no longer needed",
                    self.name(),
                    zerobus_handles::LIMIT
                ),
            )
        })?;
        // The handle is a number in a pointer's clothes; it is never dereferenced.
        Ok(handle as usize as *mut P)
    }

    /// The object behind `handle`, or an error naming `param` that says what is wrong with it.
    pub fn get<P>(&self, handle: *const P, param: &str) -> ZerobusResult<Arc<T>> {
        self.inner.get(handle as usize as u64).map_err(|why| self.bad(param, why))
    }

    /// Takes the object out of the table; `None` for NULL or a handle that is not live. The
    /// object is dropped when the caller drops the returned reference and every call still using
    /// it has returned.
    pub fn remove<P>(&self, handle: *mut P) -> Option<Arc<T>> {
        self.inner.remove(handle as usize as u64).ok()
    }

    fn bad(&self, param: &str, why: Refused) -> ZerobusError {
        let name = self.name();
        let message = match why {
            Refused::Null => format!("null pointer passed for `{param}`"),
            Refused::WrongKind => format!(
                "`{param}` is not a {name} handle (another kind of handle, or not one from this library); pass the {name} the library returned"
            ),
            Refused::Released => format!(
                "`{param}` is a {name} handle that was already freed; use a live handle (free each handle once, after its last use)"
            ),
            Refused::Unknown => format!("`{param}` is not a {name} handle this library returned"),
        };
        ZerobusError::new(ErrorCode::InvalidArgument, message)
    }
}

/// The SDKs.
pub(crate) const SDK: u8 = 1;
/// The SDK builders.
pub(crate) const SDK_BUILDER: u8 = 2;
/// The streams.
pub(crate) const STREAM: u8 = 3;
/// The stream options.
pub(crate) const OPTIONS: u8 = 4;
/// The JSON encoders.
pub(crate) const ENCODER: u8 = 5;
/// Unacked records handed out.
pub(crate) const BATCHES: u8 = 6;
/// Encoded buffers handed out.
pub(crate) const BUFFER: u8 = 7;
/// Errors handed out.
pub(crate) const ERROR: u8 = 8;
/// Headers being filled by a headers provider.
pub(crate) const HEADERS: u8 = 9;
/// Table schemas read from Unity Catalog.
pub(crate) const TABLE_SCHEMA: u8 = 10;
/// The Arrow streams.
pub(crate) const ARROW_STREAM: u8 = 11;
/// The Arrow stream options.
pub(crate) const ARROW_OPTIONS: u8 = 12;

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
