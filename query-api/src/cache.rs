//! A bounded cache of board reads (`GET /v1/boards/{id}`), evicted by the
//! projector's invalidations.
//!
//! Never stale: invalidations are applied before the reader's view of the
//! checkpoint moves, and a read loaded before an invalidation of its board
//! (or workspace) is not cached afterwards (`put` compares positions).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use sunday_read_models::Invalidation;
use uuid::Uuid;

use crate::respond::Rendered;

/// A cached board answer and who may read it.
pub(crate) struct CachedBoard {
    pub(crate) workspace_id: Uuid,
    pub(crate) readers: HashSet<Uuid>,
    pub(crate) answer: Rendered,
}

struct Inner {
    /// Keyed by board and whether items are included.
    entries: LruCache<(Uuid, bool), Arc<CachedBoard>>,
    /// Position of the last invalidation of each board or workspace.
    invalidated: LruCache<Uuid, i64>,
    /// Highest position among invalidations forgotten by `invalidated`.
    floor: i64,
}

/// How many locks loads of missing boards are spread over.
const LOAD_STRIPES: usize = 64;

/// The board cache of one query-API instance.
pub(crate) struct BoardCache {
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// One load per board at a time: when a hot board is missing (first read,
    /// or just invalidated), the readers that miss together wait for one load
    /// instead of all querying the database.
    loads: [tokio::sync::Mutex<()>; LOAD_STRIPES],
}

impl BoardCache {
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        let remembered = NonZeroUsize::new(capacity.max(1) * 16).unwrap_or(NonZeroUsize::MIN);
        let inner = Inner { entries: LruCache::new(cap), invalidated: LruCache::new(remembered), floor: 0 };
        let loads = std::array::from_fn(|_| tokio::sync::Mutex::new(()));
        Self { inner: Mutex::new(inner), hits: AtomicU64::new(0), misses: AtomicU64::new(0), loads }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, board: Uuid, items: bool) -> Option<Arc<CachedBoard>> {
        let found = self.lock().entries.get(&(board, items)).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Looks again after waiting for a load turn (not counted: the first
    /// lookup of the request was).
    pub(crate) fn recheck(&self, board: Uuid, items: bool) -> Option<Arc<CachedBoard>> {
        self.lock().entries.get(&(board, items)).cloned()
    }

    /// Waits for the right to load `board` (see `loads`); look in the cache
    /// again once it is granted.
    pub(crate) async fn load_turn(&self, board: Uuid) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = (board.as_u128() % LOAD_STRIPES as u128) as usize;
        self.loads[stripe].lock().await
    }

    /// Lookups that found an answer, and lookups that did not.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Caches a board read loaded when the checkpoint was `loaded_at`, unless
    /// the board or its workspace was invalidated since.
    pub(crate) fn put(&self, board: Uuid, items: bool, entry: CachedBoard, loaded_at: i64) {
        let mut inner = self.lock();
        let since = |inner: &mut Inner, id: Uuid| inner.invalidated.get(&id).copied().unwrap_or(inner.floor);
        if since(&mut inner, board) > loaded_at || since(&mut inner, entry.workspace_id) > loaded_at {
            return;
        }
        inner.entries.put((board, items), Arc::new(entry));
    }

    /// Applies one committed batch's changes.
    pub(crate) fn invalidate(&self, inv: &Invalidation) {
        let mut inner = self.lock();
        if !inv.users.is_empty() {
            // A name changed: it shows in members lists of unknown boards.
            inner.entries.clear();
            inner.floor = inner.floor.max(inv.position);
        }
        for id in inv.boards.iter().chain(inv.workspaces.iter()) {
            // `push` hands back the entry it evicted to make room: remember
            // its position as the floor, so nothing older than it is cached.
            if let Some((evicted, old)) = inner.invalidated.push(*id, inv.position)
                && evicted != *id
            {
                inner.floor = inner.floor.max(old);
            }
        }
        for board in &inv.boards {
            inner.entries.pop(&(*board, false));
            inner.entries.pop(&(*board, true));
        }
        if inv.workspaces.is_empty() {
            return;
        }
        // Membership of a workspace changed (rare): its boards' readers may have.
        let stale: Vec<(Uuid, bool)> =
            inner.entries.iter().filter(|(_, e)| inv.workspaces.contains(&e.workspace_id)).map(|(k, _)| *k).collect();
        for key in stale {
            inner.entries.pop(&key);
        }
    }

    /// Forgets everything (after missed invalidations).
    pub(crate) fn clear(&self, position: i64) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.floor = inner.floor.max(position);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    fn entry(ws: Uuid) -> CachedBoard {
        CachedBoard { workspace_id: ws, readers: HashSet::new(), answer: Rendered::new(json!({}), None) }
    }

    fn inv(position: i64, boards: &[Uuid], workspaces: &[Uuid]) -> Invalidation {
        Invalidation {
            position,
            previous: 0,
            boards: boards.iter().copied().collect::<BTreeSet<_>>(),
            workspaces: workspaces.iter().copied().collect(),
            users: BTreeSet::new(),
        }
    }

    #[test]
    fn a_read_loaded_before_an_invalidation_is_not_cached_after_it() {
        let (board, ws) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let cache = BoardCache::new(8);
        cache.invalidate(&inv(20, &[board], &[]));
        cache.put(board, false, entry(ws), 10);
        assert!(cache.get(board, false).is_none());
        cache.put(board, false, entry(ws), 20);
        assert!(cache.get(board, false).is_some());
    }

    #[test]
    fn board_and_workspace_changes_evict() {
        let (board, other, ws) = (Uuid::from_u128(1), Uuid::from_u128(3), Uuid::from_u128(2));
        let cache = BoardCache::new(8);
        cache.put(board, true, entry(ws), 0);
        cache.put(other, false, entry(ws), 0);
        cache.invalidate(&inv(5, &[board], &[]));
        assert!(cache.get(board, true).is_none());
        assert!(cache.get(other, false).is_some());
        cache.invalidate(&inv(6, &[], &[ws]));
        assert!(cache.get(other, false).is_none());
    }

    #[test]
    fn forgotten_invalidations_raise_the_floor() {
        let cache = BoardCache::new(1);
        for i in 0..40u128 {
            cache.invalidate(&inv(i64::try_from(i).unwrap_or(0) + 100, &[Uuid::from_u128(i + 10)], &[]));
        }
        // Board 10's invalidation (position 100) was forgotten; a read older than it must not be cached.
        cache.put(Uuid::from_u128(10), false, entry(Uuid::nil()), 50);
        assert!(cache.get(Uuid::from_u128(10), false).is_none());
    }
}
