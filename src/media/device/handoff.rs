//! The bounded hand-off between a cpal audio thread and the media path: 20 ms frames through
//! a bounded channel (`std::sync::mpsc::sync_channel`, whose `try_` calls never block or
//! allocate a lock), with counters of what did not fit (overruns) and of what was not there
//! when wanted (underruns). The audio callback only ever uses the `try_` side.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Counters shared by both ends.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames dropped because the queue was full (or, capture, too far behind).
    pub overruns: AtomicU64,
    /// Frames wanted while none was there (silence or concealment played instead).
    pub underruns: AtomicU64,
    /// Frames now in the queue.
    queued: AtomicUsize,
}

impl Counters {
    /// (overruns, underruns) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.overruns.load(Ordering::Relaxed),
            self.underruns.load(Ordering::Relaxed),
        )
    }

    pub(super) fn underrun(&self) {
        self.underruns.fetch_add(1, Ordering::Relaxed);
    }
}

/// Producer end.
#[derive(Debug)]
pub struct FrameTx {
    tx: SyncSender<Vec<i16>>,
    counters: Arc<Counters>,
}

/// Consumer end.
#[derive(Debug)]
pub struct FrameRx {
    rx: Receiver<Vec<i16>>,
    counters: Arc<Counters>,
}

/// A queue of at most `capacity` frames.
pub fn frame_queue(capacity: usize) -> (FrameTx, FrameRx) {
    let (tx, rx) = sync_channel(capacity);
    let counters = Arc::new(Counters::default());
    (
        FrameTx {
            tx,
            counters: counters.clone(),
        },
        FrameRx { rx, counters },
    )
}

impl FrameTx {
    /// Queues `frame`, or drops it (counted as an overrun) when the queue is full. Never
    /// blocks. False when the consumer is gone.
    pub fn push(&self, frame: Vec<i16>) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.counters.overruns.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

impl FrameRx {
    /// The oldest frame, if any. Never blocks; an empty queue is not counted here (the
    /// caller decides whether it was an underrun).
    pub fn pop(&self) -> Option<Vec<i16>> {
        let frame = self.rx.try_recv().ok()?;
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        Some(frame)
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.counters.queued.load(Ordering::Relaxed)
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts_overruns() {
        let (tx, rx) = frame_queue(2);
        for i in 0..5 {
            assert!(tx.push(vec![i]));
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.pop(), Some(vec![0]));
        assert_eq!(rx.pop(), Some(vec![1]));
        assert_eq!(rx.pop(), None);
        assert_eq!(rx.counters().snapshot(), (3, 0));
        drop(rx);
        assert!(!tx.push(vec![9]), "a gone consumer is reported");
    }

    #[test]
    fn producer_thread_never_blocks_on_a_slow_consumer() {
        let (tx, rx) = frame_queue(4);
        let producer = std::thread::spawn(move || {
            for i in 0..1000 {
                tx.push(vec![i as i16]);
            }
        });
        // Finishes although nobody reads: pushes past the bound are dropped, not waited.
        producer.join().unwrap();
        assert_eq!(rx.len(), 4);
        assert_eq!(rx.counters().snapshot().0, 996);
    }
}
