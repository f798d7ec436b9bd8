//! A bounded cache of board reads (`GET /v1/boards/{id}`), evicted by the
//! projector's invalidations, and beside it the listings cache (which it
//! holds to the same invalidations).
//!
//! Never stale: invalidations are applied before the reader's view of the
//! checkpoint moves, and a read loaded before an invalidation of its board
//! (or workspace, or of everything) is not cached afterwards (`put` compares
//! positions), nor served afterwards (listings are compared when read).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use sunday_read_models::Invalidation;
use uuid::Uuid;

use crate::listings::{CachedList, ListKey, Listings};
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
    /// Highest position that invalidated everything (a profile change, or
    /// invalidations missed): nothing loaded before it holds.
    reset: i64,
}

impl Inner {
    /// Whether nothing that a read of `board` in `workspace` shows was
    /// invalidated after `loaded_at`.
    fn unchanged_since(&mut self, board: Uuid, workspace: Uuid, loaded_at: i64) -> bool {
        let floor = self.floor;
        let mut since = |id: Uuid| self.invalidated.get(&id).copied().unwrap_or(floor);
        self.reset <= loaded_at && since(board) <= loaded_at && since(workspace) <= loaded_at
    }
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
    /// Item and file listings (locked before `inner` when both are).
    lists: Listings,
    /// Spreads listing keys over `loads`.
    stripes: std::hash::RandomState,
}

impl BoardCache {
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        let remembered = NonZeroUsize::new(capacity.max(1) * 16).unwrap_or(NonZeroUsize::MIN);
        let inner = Inner { entries: LruCache::new(cap), invalidated: LruCache::new(remembered), floor: 0, reset: 0 };
        let loads = std::array::from_fn(|_| tokio::sync::Mutex::new(()));
        let (hits, misses) = (AtomicU64::new(0), AtomicU64::new(0));
        Self { inner: Mutex::new(inner), hits, misses, loads, lists: Listings::new(), stripes: std::hash::RandomState::new() }
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
        if inner.unchanged_since(board, entry.workspace_id, loaded_at) {
            inner.entries.put((board, items), Arc::new(entry));
        }
    }

    /// The listing under `key` for a reader at `position`: if nothing it
    /// shows changed since it was loaded, or it was loaded at `position` or
    /// later (see `listings`).
    pub(crate) fn list(&self, key: &ListKey, position: i64) -> Option<Arc<CachedList>> {
        let found = self.relist(key, position);
        self.lists.count(found.is_some());
        found
    }

    /// Looks again after waiting for a load turn (not counted).
    pub(crate) fn relist(&self, key: &ListKey, position: i64) -> Option<Arc<CachedList>> {
        self.lists.get(key, position, |e| self.lock().unchanged_since(e.board_id, e.workspace_id, e.loaded_at))
    }

    /// Waits for the right to load the listing under `key` (one load per
    /// listing at a time, as for boards); look again once it is granted.
    pub(crate) async fn list_turn(&self, key: &ListKey) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher;
        let stripe = usize::try_from(self.stripes.hash_one(key) % LOAD_STRIPES as u64).unwrap_or(0);
        self.loads[stripe].lock().await
    }

    /// Caches a listing loaded when the checkpoint was `entry.loaded_at`
    /// (even if its board changed during the load: it still answers the
    /// readers who waited for it).
    pub(crate) fn put_list(&self, key: ListKey, entry: CachedList) {
        self.lists.put(key, entry);
    }

    /// Listing lookups that found a fresh answer, and lookups that did not.
    pub(crate) fn list_counts(&self) -> (u64, u64) {
        self.lists.counts()
    }

    /// Listings held and the bytes they take.
    pub(crate) fn list_size(&self) -> (usize, usize) {
        self.lists.size()
    }

    /// Applies one committed batch's changes.
    pub(crate) fn invalidate(&self, inv: &Invalidation) {
        if !inv.users.is_empty() {
            // A name changed: it shows in members and assignee lists of unknown boards.
            self.clear(inv.position);
        }
        let mut inner = self.lock();
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
        inner.reset = inner.reset.max(position);
        drop(inner);
        self.lists.clear();
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

    fn listing(board: Uuid, ws: Uuid, loaded_at: i64) -> CachedList {
        CachedList { board_id: board, workspace_id: ws, readers: Arc::default(), answer: Rendered::new(json!([]), None), loaded_at }
    }

    #[test]
    fn a_read_loaded_before_a_profile_change_is_neither_cached_nor_served() {
        let (board, ws) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let cache = BoardCache::new(8);
        cache.invalidate(&inv(5, &[board], &[]));
        cache.lists.put((board, "a".into()), listing(board, ws, 10));
        let mut renamed = inv(20, &[], &[]);
        renamed.users.insert(Uuid::from_u128(9));
        cache.invalidate(&renamed);
        cache.put(board, false, entry(ws), 10);
        assert!(cache.get(board, false).is_none());
        cache.lists.put((board, "a".into()), listing(board, ws, 10));
        assert!(cache.list(&(board, "a".into()), 20).is_none());
    }

    #[test]
    fn a_listing_is_served_until_its_board_or_workspace_changes() {
        let (board, other, ws) = (Uuid::from_u128(1), Uuid::from_u128(3), Uuid::from_u128(2));
        let cache = BoardCache::new(8);
        cache.put_list((board, "a".into()), listing(board, ws, 10));
        cache.put_list((other, "a".into()), listing(other, Uuid::nil(), 10));
        assert!(cache.list(&(board, "a".into()), 10).is_some());
        cache.invalidate(&inv(15, &[board], &[]));
        assert!(cache.list(&(board, "a".into()), 15).is_none());
        cache.put_list((board, "a".into()), listing(board, ws, 12));
        assert!(cache.list(&(board, "a".into()), 12).is_some(), "loaded before the change, but not before the reader's view");
        assert!(cache.list(&(board, "a".into()), 15).is_none(), "loaded before the change");
        cache.put_list((board, "a".into()), listing(board, ws, 15));
        assert!(cache.list(&(board, "a".into()), 15).is_some());
        cache.invalidate(&inv(16, &[], &[ws]));
        assert!(cache.list(&(board, "a".into()), 16).is_none());
        assert!(cache.list(&(other, "a".into()), 16).is_some());
    }
}
