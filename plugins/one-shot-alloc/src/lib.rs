//! A global allocator for guests that muster instantiates afresh for every person (Rust guests,
//! see `plugins/README.md`, "Instances"): such an instance is thrown away after one call, so
//! freeing memory inside it is wasted work.
//!
//! Allocations are carved in order from a static arena and never reused; `realloc` of the latest
//! allocation grows it in place (how a `Vec` or `String` being built grows). Past the arena, and
//! for anything freed that did not come from it, the standard allocator takes over, so an
//! instance that an admin configures to serve many people keeps working; it only stops saving.
//!
//! Why by hand: the guest's default allocator (dlmalloc) spent half of the `license-by-group`
//! call (lowering a person costs one allocation per string, and dropping it one free each), and
//! the bump allocators on crates.io either never fall back (an instance serving many people
//! would run out of memory) or grow memory page by page, which the host pays for with an
//! `mprotect` on every fresh instance. The arena lives in `.bss`: it costs nothing until touched.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: one_shot_alloc::OneShot = one_shot_alloc::OneShot;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Enough for a person with hundreds of attributes and groups, and what a rule builds from it.
const ARENA_BYTES: usize = 256 << 10;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: a byte of the arena has one owner at a time: `USED` moves back only when the latest
// allocation shrinks in place, giving back its own tail; the atomics keep it sound even where a
// guest has threads.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));
/// Bytes of the arena handed out so far.
static USED: AtomicUsize = AtomicUsize::new(0);

/// The allocator; see the crate documentation.
pub struct OneShot;

fn start() -> usize {
    ARENA.0.get() as usize
}

fn in_arena(ptr: *mut u8) -> bool {
    (start()..start() + ARENA_BYTES).contains(&(ptr as usize))
}

/// Hands out `size` bytes aligned to `align` from the arena, if they fit.
fn carve(size: usize, align: usize) -> Option<*mut u8> {
    let mut used = USED.load(Relaxed);
    loop {
        let at = (start() + used).checked_next_multiple_of(align)?;
        let end = at.checked_add(size)?;
        if end > start() + ARENA_BYTES {
            return None;
        }
        match USED.compare_exchange_weak(used, end - start(), Relaxed, Relaxed) {
            Ok(_) => return Some(at as *mut u8),
            Err(now) => used = now,
        }
    }
}

// SAFETY: every pointer returned is either fresh arena memory of the requested size and
// alignment, never handed out twice, or comes from `System` and goes back to it.
unsafe impl GlobalAlloc for OneShot {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match carve(layout.size(), layout.align()) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout is passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !in_arena(ptr) {
            // SAFETY: not from the arena, so from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !in_arena(ptr) {
            // SAFETY: not from the arena, so from `System` with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // The latest allocation grows or shrinks in place.
        let end = ptr as usize + layout.size();
        let used = start() + USED.load(Relaxed);
        if end == used
            && ptr as usize + new_size <= start() + ARENA_BYTES
            && USED
                .compare_exchange(
                    used - start(),
                    ptr as usize + new_size - start(),
                    Relaxed,
                    Relaxed,
                )
                .is_ok()
        {
            return ptr;
        }
        // SAFETY: `GlobalAlloc::realloc` guarantees the new layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carves_in_order_grows_the_latest_in_place_and_falls_back_past_the_arena() {
        let a = OneShot;
        unsafe {
            let l8 = Layout::from_size_align(8, 8).unwrap();
            let x = a.alloc(l8);
            let y = a.alloc(l8);
            assert!(in_arena(x) && in_arena(y));
            assert_eq!(y as usize, x as usize + 8, "carved in order");
            assert_eq!(y as usize % 8, 0);
            // The latest allocation grows in place; an earlier one moves, keeping its bytes.
            *y = 7;
            assert_eq!(a.realloc(y, l8, 64), y);
            *x = 9;
            let moved = a.realloc(x, l8, 16);
            assert_ne!(moved, x);
            assert_eq!(*moved, 9);
            // Alignment is kept.
            let big = a.alloc(Layout::from_size_align(3, 64).unwrap());
            assert_eq!(big as usize % 64, 0);
            // Past the arena, the system allocator answers, and takes its memory back.
            let huge = Layout::from_size_align(ARENA_BYTES, 8).unwrap();
            let h = a.alloc(huge);
            assert!(!h.is_null() && !in_arena(h));
            a.dealloc(h, huge);
        }
    }
}
