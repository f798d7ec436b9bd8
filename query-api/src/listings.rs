//! A bounded cache of listings (a board's items for one set of filters and
//! page, file metadata of a board or an item), kept beside the board cache
//! and held to the same discipline: an answer is served only while neither
//! its board nor its workspace has been invalidated since it was loaded.
//!
//! Listings are not evicted one by one when a board changes (there may be
//! many per board); each is checked against the board cache's invalidation
//! positions when it is looked up, and dropped there if it is stale. A
//! listing loaded at a checkpoint at least as new as a reader's position also
//! answers that reader even if its board changed since: the reader's view
//! is older than the load, as if the change had come after its read. This is
//! what lets readers missing one busy listing together wait for one load.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use uuid::Uuid;

use crate::respond::Rendered;

/// The longest listing key cached: longer ones (huge filters) are answered
/// uncached rather than filling the cache.
pub(crate) const MAX_KEY: usize = 512;
/// At most this many listings per instance.
const ENTRIES: usize = 4096;
/// At most this many bytes of listings (bodies, keys and reader sets) per instance.
const BYTES: usize = 64 << 20;
/// No single listing may take more than this share of the byte budget.
const LARGEST: usize = BYTES / 16;

/// What a listing is of (an item or a board's id) and its canonical filters.
pub(crate) type ListKey = (Uuid, Box<str>);

/// A cached listing: its board, who may read it and when it was loaded.
pub(crate) struct CachedList {
    pub(crate) board_id: Uuid,
    pub(crate) workspace_id: Uuid,
    pub(crate) readers: Arc<HashSet<Uuid>>,
    pub(crate) answer: Rendered,
    pub(crate) loaded_at: i64,
}

/// What a listing takes in memory, near enough: its body, its key and its
/// readers (a `HashSet<Uuid>` holds about 2 words per slot beside the id).
fn weight(key: &ListKey, entry: &CachedList) -> usize {
    entry.answer.body.len() + key.1.len() + entry.readers.capacity() * (std::mem::size_of::<Uuid>() + 16)
}

struct Entries {
    lru: LruCache<ListKey, Arc<CachedList>>,
    bytes: usize,
}

/// The listings of one query-API instance.
pub(crate) struct Listings {
    entries: std::sync::Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Listings {
    pub(crate) fn new() -> Self {
        let cap = NonZeroUsize::new(ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: std::sync::Mutex::new(Entries { lru: LruCache::new(cap), bytes: 0 }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The listing under `key` if `fresh` says it still holds for a reader
    /// at `position`; one stale for it is dropped (readers come in position
    /// order, near enough, so older ones rarely still need it).
    pub(crate) fn get(&self, key: &ListKey, position: i64, fresh: impl Fn(&CachedList) -> bool) -> Option<Arc<CachedList>> {
        let mut entries = self.lock();
        let found = entries.lru.get(key).cloned();
        match found {
            Some(entry) if entry.loaded_at >= position || fresh(&entry) => Some(entry),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Counts one lookup of a request.
    pub(crate) fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps a listing (unless its key or body is too large, or a newer load
    /// of it is held), evicting the least recently used ones beyond the byte
    /// budget.
    pub(crate) fn put(&self, key: ListKey, entry: CachedList) {
        let size = weight(&key, &entry);
        if key.1.len() > MAX_KEY || size > LARGEST {
            return;
        }
        let mut entries = self.lock();
        if entries.lru.peek(&key).is_some_and(|held| held.loaded_at > entry.loaded_at) {
            return;
        }
        entries.remove(&key);
        if let Some((old_key, old)) = entries.lru.push(key, Arc::new(entry)) {
            entries.bytes -= weight(&old_key, &old);
        }
        entries.bytes += size;
        while entries.bytes > BYTES {
            let Some((old_key, old)) = entries.lru.pop_lru() else { break };
            entries.bytes -= weight(&old_key, &old);
        }
    }

    /// Lookups that found a fresh listing, and lookups that did not.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Listings held and the bytes they take (see `weight`).
    pub(crate) fn size(&self) -> (usize, usize) {
        let entries = self.lock();
        (entries.lru.len(), entries.bytes)
    }

    pub(crate) fn clear(&self) {
        let mut entries = self.lock();
        entries.lru.clear();
        entries.bytes = 0;
    }
}

impl Entries {
    fn remove(&mut self, key: &ListKey) {
        if let Some(old) = self.lru.pop(key) {
            self.bytes -= weight(key, &old);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(body_len: usize) -> CachedList {
        let answer = Rendered::new(json!("x".repeat(body_len)), Some(None));
        CachedList { board_id: Uuid::nil(), workspace_id: Uuid::nil(), readers: Arc::default(), answer, loaded_at: 0 }
    }

    fn key(n: u128) -> ListKey {
        (Uuid::from_u128(n), "items".into())
    }

    #[test]
    fn the_byte_budget_evicts_the_least_recently_used() {
        let lists = Listings::new();
        let each = LARGEST - 100;
        for n in 0..20 {
            lists.put(key(n), entry(each));
        }
        let (held, bytes) = lists.size();
        assert!(bytes <= BYTES, "{bytes} bytes held");
        assert!((15..20).contains(&held), "{held} held");
        assert!(lists.get(&key(0), 1, |_| true).is_none());
        assert!(lists.get(&key(19), 1, |_| true).is_some());
    }

    #[test]
    fn reader_sets_count_toward_the_budget() {
        let lists = Listings::new();
        let readers: HashSet<Uuid> = (0..10_000u128).map(Uuid::from_u128).collect();
        let crowded = CachedList { readers: Arc::new(readers), ..entry(10) };
        let expected = weight(&key(1), &crowded);
        assert!(expected > 10_000 * 16, "{expected}");
        lists.put(key(1), crowded);
        assert_eq!(lists.size(), (1, expected));
        lists.clear();
        let huge: HashSet<Uuid> = (0..200_000u128).map(Uuid::from_u128).collect();
        lists.put(key(2), CachedList { readers: Arc::new(huge), ..entry(10) });
        assert_eq!(lists.size(), (0, 0), "a reader set past the largest answer is not kept");
    }

    #[test]
    fn oversized_answers_and_keys_are_not_kept() {
        let lists = Listings::new();
        lists.put(key(1), entry(LARGEST));
        lists.put((Uuid::nil(), "k".repeat(MAX_KEY + 1).into()), entry(10));
        assert_eq!(lists.size(), (0, 0));
    }

    #[test]
    fn a_stale_listing_answers_only_readers_older_than_its_load() {
        let lists = Listings::new();
        lists.put(key(1), CachedList { loaded_at: 10, ..entry(10) });
        assert!(lists.get(&key(1), 10, |_| false).is_some(), "a reader at the load's position");
        assert!(lists.get(&key(1), 11, |_| false).is_none(), "a newer reader");
        assert_eq!(lists.size(), (0, 0), "and it was dropped");
    }

    #[test]
    fn an_older_load_does_not_replace_a_newer_one() {
        let lists = Listings::new();
        lists.put(key(1), CachedList { loaded_at: 20, ..entry(10) });
        lists.put(key(1), CachedList { loaded_at: 10, ..entry(10) });
        assert!(lists.get(&key(1), 15, |_| false).is_some());
    }
}
