//! A map whose entries have timers, with the earliest one found without a scan.
//!
//! The endpoint keeps transactions and dialogs by key, and each has its next deadline
//! (`poll_timeout`). Finding the earliest by walking every entry made each turn of the
//! driver's loop cost as much as the number of transactions, and a load run keeps tens of
//! thousands of them absorbing retransmissions (RFC 3261 §17.2.2 Timer J, RFC 6026 §8.7
//! Timer L: 32 s each). Here every entry taken for changing is marked, and before the next
//! query the marked entries whose deadline changed are put in a min-heap; heap entries that
//! no longer match their map entry (removed, or rescheduled since) are skipped when they
//! come to the top.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// What has a next deadline.
pub(crate) trait Timed {
    fn deadline(&self) -> Option<Instant>;
}

/// A map entry, the deadline the heap has for it, and whether it waits in `marked`.
#[derive(Debug)]
struct Slot<V> {
    value: V,
    scheduled: Cell<Option<Instant>>,
    marked: Cell<bool>,
}

#[derive(Debug)]
struct Index<K> {
    /// (deadline, key), one per change of deadline; stale ones are dropped lazily.
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    /// Keys taken for changing since the last query.
    marked: Vec<K>,
}

/// A `HashMap` of [`Timed`] values with a heap of their deadlines.
#[derive(Debug)]
pub(crate) struct TimedMap<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// A `RefCell` so that the `&self` query can bring the heap up to date.
    index: RefCell<Index<K>>,
}

impl<K: Hash + Eq + Ord + Clone, V: Timed> TimedMap<K, V> {
    pub fn new() -> Self {
        TimedMap {
            entries: HashMap::new(),
            index: RefCell::new(Index {
                heap: BinaryHeap::new(),
                marked: Vec::new(),
            }),
        }
    }

    /// Puts the marked entries whose deadline changed into the heap.
    fn refresh(&self) {
        let mut guard = self.index.borrow_mut();
        let index = &mut *guard;
        for key in index.marked.drain(..) {
            if let Some(slot) = self.entries.get(&key) {
                slot.marked.set(false);
                let deadline = slot.value.deadline();
                if deadline != slot.scheduled.get() {
                    slot.scheduled.set(deadline);
                    if let Some(at) = deadline {
                        index.heap.push(Reverse((at, key)));
                    }
                }
            }
        }
    }

    /// Is the heap entry (`at`, `key`) still what the map says?
    fn current(&self, at: Instant, key: &K) -> bool {
        self.entries
            .get(key)
            .is_some_and(|s| s.value.deadline() == Some(at))
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let deadline = value.deadline();
        if let Some(at) = deadline {
            self.index.get_mut().heap.push(Reverse((at, key.clone())));
        }
        let slot = Slot {
            value,
            scheduled: Cell::new(deadline),
            marked: Cell::new(false),
        };
        self.entries.insert(key, slot).map(|s| s.value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        // Its heap entries become stale and are skipped.
        self.entries.remove(key).map(|s| s.value)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|s| &s.value)
    }

    /// The entry for changing; its deadline is looked at again before the next query.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let index = self.index.get_mut();
        let slot = self.entries.get_mut(key)?;
        if !slot.marked.replace(true) {
            index.marked.push(key.clone());
        }
        Some(&mut slot.value)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        // Stale heap entries go too: keep the heap in proportion to the map.
        let index = self.index.get_mut();
        index.heap.clear();
        index.marked.clear();
        for (k, slot) in &self.entries {
            slot.marked.set(false);
            slot.scheduled.set(slot.value.deadline());
            if let Some(at) = slot.scheduled.get() {
                index.heap.push(Reverse((at, k.clone())));
            }
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|s| &s.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, s)| (k, &s.value))
    }

    /// The earliest deadline of any entry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.refresh();
        let mut index = self.index.borrow_mut();
        while let Some(Reverse((at, key))) = index.heap.peek() {
            if self.current(*at, key) {
                return Some(*at);
            }
            index.heap.pop();
        }
        None
    }

    /// The keys of the entries whose deadline is at or before `now`, each once, earliest
    /// first. Their heap entries are taken: call [`TimedMap::reschedule`] for each once it
    /// has been handled.
    pub fn due(&mut self, now: Instant) -> Vec<K> {
        self.refresh();
        let mut keys: Vec<K> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let heap = &mut self.index.get_mut().heap;
            let Some(Reverse((at, _))) = heap.peek() else {
                break;
            };
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = heap.pop() else {
                break;
            };
            // A set, not `keys.contains`: a load's timers expire by the thousand at once.
            if self.current(at, &key) && seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        keys
    }

    /// Puts `key`'s deadline in the heap again, changed or not (its entry was taken by
    /// [`TimedMap::due`]).
    pub fn reschedule(&mut self, key: &K) {
        let index = self.index.get_mut();
        if let Some(slot) = self.entries.get(key) {
            let deadline = slot.value.deadline();
            slot.scheduled.set(deadline);
            if let Some(at) = deadline {
                index.heap.push(Reverse((at, key.clone())));
            }
        }
    }
}

impl<K: Hash + Eq + Ord + Clone, V: Timed> Default for TimedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl Timed for super::client::ClientEntry {
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
}

impl Timed for super::server::ServerEntry {
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
}

impl Timed for super::dialog::Dialog {
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug)]
    struct Timer(Option<Instant>);
    impl Timed for Timer {
        fn deadline(&self) -> Option<Instant> {
            self.0
        }
    }

    #[test]
    fn the_earliest_deadline_follows_inserts_changes_and_removals() {
        let t0 = Instant::now();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        let mut map: TimedMap<u32, Timer> = TimedMap::new();
        assert_eq!(map.next_deadline(), None);
        map.insert(1, Timer(at(300)));
        map.insert(2, Timer(at(100)));
        map.insert(3, Timer(None));
        assert_eq!(map.next_deadline(), at(100));
        // Rescheduled later: the old heap entry is stale.
        map.get_mut(&2).unwrap().0 = at(500);
        assert_eq!(map.next_deadline(), at(300));
        map.remove(&1);
        assert_eq!(map.next_deadline(), at(500));
        map.get_mut(&3).unwrap().0 = at(50);
        assert_eq!(map.next_deadline(), at(50));
        map.get_mut(&3).unwrap().0 = None;
        assert_eq!(map.next_deadline(), at(500));
    }

    #[test]
    fn due_gives_each_due_key_once_and_an_unchanged_one_comes_back_when_rescheduled() {
        let t0 = Instant::now();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        let mut map: TimedMap<u32, Timer> = TimedMap::new();
        map.insert(1, Timer(at(10)));
        map.insert(2, Timer(at(20)));
        map.insert(3, Timer(at(90)));
        // Moved and back: a stale and a current heap entry for 1.
        map.get_mut(&1).unwrap().0 = at(70);
        map.get_mut(&1).unwrap().0 = at(10);
        let due = map.due(t0 + Duration::from_millis(50));
        assert_eq!(due, vec![1, 2]);
        assert_eq!(map.next_deadline(), at(90));
        map.reschedule(&2);
        assert_eq!(map.next_deadline(), at(20));
        assert_eq!(map.due(t0 + Duration::from_millis(100)), vec![2, 3]);
    }

    #[test]
    fn removal_and_shrink_keep_the_deadlines_of_what_stays() {
        let t0 = Instant::now();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        let mut map: TimedMap<u32, Timer> = TimedMap::new();
        for k in 0..100 {
            map.insert(k, Timer(at(u64::from(k) + 1)));
        }
        for k in 0..60 {
            map.remove(&k);
        }
        map.shrink_to_fit();
        assert_eq!(map.len(), 40);
        assert_eq!(map.next_deadline(), at(61));
        assert_eq!(map.index.borrow().heap.len(), 40);
    }
}
