//! A call's event backlog is counted while it holds events, and no longer once the call
//! let go, so the bridge stops looking for backlogs.

use tokio::sync::mpsc;

use super::{Backlogged, Slot};
use crate::signalling::UaEvent;

#[tokio::test]
async fn a_backlog_is_uncounted_when_the_call_lets_go_while_it_drains() {
    let backlogged = Backlogged::default();
    let (tx, mut rx) = mpsc::channel(1);
    let mut slot = Slot::new(tx.clone(), &backlogged);
    slot.emit(UaEvent::Acked);
    slot.emit(UaEvent::Acked);
    slot.emit(UaEvent::Acked);
    assert!(backlogged.any(), "two events wait behind a full channel");
    assert!(rx.recv().await.is_some());
    let permit = tx.reserve_owned().await.unwrap();
    drop(rx);
    // The first waiting event takes the permit; the last meets the closed channel.
    slot.drain_backlog(permit);
    assert!(slot.backlog.is_empty());
    assert!(!backlogged.any(), "nothing waits any more");
}

#[tokio::test]
async fn a_drained_backlog_is_uncounted() {
    let backlogged = Backlogged::default();
    let (tx, mut rx) = mpsc::channel(1);
    let mut slot = Slot::new(tx.clone(), &backlogged);
    slot.emit(UaEvent::Acked);
    slot.emit(UaEvent::Acked);
    assert!(backlogged.any());
    assert!(rx.recv().await.is_some());
    slot.drain_backlog(tx.reserve_owned().await.unwrap());
    assert!(!backlogged.any());
    assert!(rx.recv().await.is_some(), "the waiting event arrived");
}
