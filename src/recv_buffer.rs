//! One 64 KiB receive buffer per runtime thread, lent to a synchronous read-and-handle.
//!
//! A UDP read needs room for the largest datagram (a shorter buffer truncates it), but the
//! bytes are copied out or handled before the next read. Giving every socket its own 64 KiB
//! buffer cost that much memory per call (a call has one socket per component and host
//! address, and an agent one for SIP); one buffer per worker thread costs it once.

use std::cell::RefCell;

/// The largest UDP payload (IPv4: 65,535 − 8 − 20, rounded up; enough for IPv6 too).
pub const DATAGRAM_MAX: usize = 65_535;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `read` with this thread's receive buffer of [`DATAGRAM_MAX`] bytes. Never hold it
/// across an `.await` (it is the thread's, not the task's): the closure is synchronous.
/// A nested call (the buffer is already lent) gets a fresh buffer rather than failing.
pub fn with<R>(read: impl FnOnce(&mut [u8]) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < DATAGRAM_MAX {
                buf.resize(DATAGRAM_MAX, 0);
            }
            read(&mut buf)
        }
        Err(_) => read(&mut vec![0u8; DATAGRAM_MAX]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_holds_the_largest_datagram_and_is_reused() {
        let first = with(|b| {
            assert_eq!(b.len(), DATAGRAM_MAX);
            b[0] = 7;
            b.as_ptr() as usize
        });
        let (again, kept) = with(|b| (b.as_ptr() as usize, b[0]));
        assert_eq!(first, again, "one buffer per thread, not one per read");
        assert_eq!(kept, 7);
    }

    #[test]
    fn a_nested_read_gets_its_own_buffer() {
        with(|outer| {
            outer[0] = 1;
            with(|inner| {
                assert_eq!(inner.len(), DATAGRAM_MAX);
                assert_ne!(inner.as_ptr(), outer.as_ptr());
            });
        });
    }
}
