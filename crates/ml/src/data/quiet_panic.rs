//! Catching a third-party decoder's panic without printing it.
//!
//! The `parquet` crate trusts lengths and offsets in a file and panics on
//! some damaged ones; [`super::parquet_source`] turns that into a diagnostic.
//! The default panic hook would still print "thread 'main' panicked at ..."
//! first, which reads to a user like a crash. Panics inside
//! [`catch_silently`] on this thread are not printed; every other panic goes
//! to the hook that was installed before.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    static SILENT_DEPTH: Cell<u32> = const { Cell::new(0) };
}
static INSTALL: Once = Once::new();

/// Runs `f`, returning its panic payload as `Err` without printing it.
pub fn catch_silently<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if SILENT_DEPTH.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    SILENT_DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    SILENT_DEPTH.with(|d| d.set(d.get() - 1));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_payload_and_other_results_pass_through() {
        assert_eq!(catch_silently(|| 7).unwrap(), 7);
        let e = catch_silently(|| -> u8 { panic!("bad offset") }).unwrap_err();
        assert_eq!(e.downcast_ref::<&str>(), Some(&"bad offset"));
        // The depth is restored: a later panic outside is not silenced.
        assert_eq!(SILENT_DEPTH.with(Cell::get), 0);
    }
}
