//! Aggregate state for deciding commands, cached so that a hot board is not
//! re-read from the log on every command.
//!
//! A cached board or workspace is re-read only when it may be stale: when
//! another process appended since it was last read (the store's foreign-write
//! mark moved), after a conflict, or while other processes cannot be heard.
//! This process's own appends are applied to the cache as they succeed. A
//! decision is never trusted blindly: every append is guarded by the versions
//! of the board and workspace streams it read, so a stale cache costs a retry,
//! never a wrong decision.
//!
//! A board is folded up to a *stable* position (every event below it is final)
//! plus the events above it that were already applied, so a re-read asks only
//! for what came after the stable position and skips what it already has.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use sunday_domain::board::{self, Board};
use sunday_domain::profile::{self, Profile};
use sunday_domain::store::{EventStore, Position, RecordedEvent, StoreError, StreamId};
use sunday_domain::workspace::{self, Workspace};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// Tells whether other processes wrote to the log.
pub trait ForeignWrites: Send + Sync {
    /// A value that changes whenever another process appended; `None` when
    /// that cannot be known (then caches re-read every time).
    fn mark(&self) -> Option<Position>;
}

impl ForeignWrites for sunday_eventstore::LogNotifier {
    fn mark(&self) -> Option<Position> {
        self.foreign_mark()
    }
}

/// When a cached aggregate was last read from the log.
#[derive(Clone, Copy, Debug, Default)]
struct Freshness {
    /// The foreign-write mark at the last read; `None` = never read, or stale.
    seen: Option<Position>,
}

impl Freshness {
    fn is_current(self, mark: Option<Position>) -> bool {
        mark.is_some() && self.seen == mark
    }
}

/// A board folded from the log, and how far.
#[derive(Default)]
pub struct BoardView {
    pub board: Option<Board>,
    /// Every event of the board at or below this position has been applied.
    stable: Position,
    /// Events above `stable` that were applied already.
    applied_above: BTreeSet<Position>,
    freshness: Freshness,
}

impl BoardView {
    async fn refresh(&mut self, store: &dyn EventStore, board_id: Uuid, mark: Option<Position>) -> Result<(), StoreError> {
        let page = store.read_board(board_id, self.stable).await?;
        for e in &page.events {
            if !self.applied_above.contains(&e.position) {
                self.board = board::evolve(self.board.take(), e);
                self.applied_above.insert(e.position);
            }
        }
        self.stable = self.stable.max(page.horizon - 1);
        self.applied_above = self.applied_above.split_off(&(self.stable + 1));
        self.freshness.seen = mark;
        Ok(())
    }

    /// Applies an event this process just appended.
    fn apply_own(&mut self, e: &RecordedEvent) {
        if e.position <= self.stable || !self.applied_above.insert(e.position) {
            return;
        }
        self.board = board::evolve(self.board.take(), e);
    }
}

#[derive(Clone)]
struct CachedWorkspace {
    ws: Workspace,
    freshness: Freshness,
}

type Shared<T> = Mutex<LruCache<Uuid, T>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The command side's view of the log.
pub struct Aggregates {
    store: Arc<dyn EventStore>,
    foreign: Arc<dyn ForeignWrites>,
    workspaces: Shared<CachedWorkspace>,
    boards: Shared<Arc<tokio::sync::Mutex<BoardView>>>,
    item_boards: Shared<Uuid>,
}

fn lru<T>(capacity: usize) -> Shared<T> {
    Mutex::new(LruCache::new(NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN)))
}

impl Aggregates {
    /// Caches at most `boards` boards and ten times as many workspaces and a
    /// hundred times as many item ids.
    pub fn new(store: Arc<dyn EventStore>, foreign: Arc<dyn ForeignWrites>, boards: usize) -> Self {
        Self { store, foreign, workspaces: lru(boards * 10), boards: lru(boards), item_boards: lru(boards * 100) }
    }

    /// The current state of a workspace, `None` if it does not exist. `reread`
    /// goes to the log even when the cache looks current.
    pub async fn workspace(&self, id: Uuid, reread: bool) -> Result<Option<Workspace>, StoreError> {
        let mark = self.foreign.mark();
        let cached = lock(&self.workspaces).get(&id).cloned();
        if let Some(c) = cached.as_ref().filter(|c| !reread && c.freshness.is_current(mark)) {
            return Ok(Some(c.ws.clone()));
        }
        let cached = cached.map(|c| c.ws);
        let after = cached.as_ref().map_or(0, |w| w.version);
        let events = self.store.read_stream(&StreamId::workspace(id), after).await?;
        let current = events.iter().fold(cached, workspace::evolve);
        if let Some(ws) = &current {
            let mut cache = lock(&self.workspaces);
            if cache.peek(&id).is_none_or(|c| c.ws.version <= ws.version) {
                cache.put(id, CachedWorkspace { ws: ws.clone(), freshness: Freshness { seen: mark } });
            }
        }
        Ok(current)
    }

    fn board_view(&self, id: Uuid) -> Arc<tokio::sync::Mutex<BoardView>> {
        lock(&self.boards).get_or_insert(id, || Arc::new(tokio::sync::Mutex::new(BoardView::default()))).clone()
    }

    /// The board's view, locked and current. `reread` goes to the log even
    /// when the cache looks current.
    pub async fn board(&self, id: Uuid, reread: bool) -> Result<OwnedMutexGuard<BoardView>, StoreError> {
        let mut guard = self.board_view(id).lock_owned().await;
        let mark = self.foreign.mark();
        if reread || !guard.freshness.is_current(mark) {
            guard.refresh(self.store.as_ref(), id, mark).await?;
        }
        Ok(guard)
    }

    /// The board an item belongs to, `None` if the item does not exist.
    pub async fn board_of_item(&self, item: Uuid) -> Result<Option<Uuid>, StoreError> {
        if let Some(board) = lock(&self.item_boards).get(&item) {
            return Ok(Some(*board));
        }
        let events = self.store.read_stream(&StreamId::item(item), 0).await?;
        let board = events.first().and_then(|e| e.board_id);
        if let Some(b) = board {
            lock(&self.item_boards).put(item, b);
        }
        Ok(board)
    }

    /// Whether `user` may read `item` (live, on a board they may see), as of
    /// the log: the cached board and workspace, or read afresh with `reread`.
    pub async fn may_read_item(&self, user: Uuid, item: Uuid, reread: bool) -> Result<bool, StoreError> {
        let Some(board_id) = self.board_of_item(item).await? else { return Ok(false) };
        let view = self.board(board_id, reread).await?;
        let Some(board) = view.board.as_ref() else { return Ok(false) };
        if board.items.get(&item).is_none_or(|i| i.deleted) {
            return Ok(false);
        }
        let workspace_id = board.workspace_id;
        let members = board.members.get(&user).copied();
        drop(view);
        let role = self.workspace(workspace_id, reread).await?.and_then(|w| w.role_of(user));
        Ok(sunday_domain::roles::board_access(role, members) != sunday_domain::roles::Access::None)
    }

    /// A webhook, folded from its stream (a few events; commands on it are rare).
    pub async fn webhook(&self, id: Uuid) -> Result<Option<sunday_domain::webhook::Webhook>, StoreError> {
        let events = self.store.read_stream(&StreamId::webhook(id), 0).await?;
        Ok(events.iter().fold(None, sunday_domain::webhook::evolve))
    }

    /// A user's profile, folded from its stream (profiles are small).
    pub async fn profile(&self, user: Uuid) -> Result<Option<Profile>, StoreError> {
        let events = self.store.read_stream(&StreamId::user(user), 0).await?;
        Ok(events.iter().fold(None, profile::evolve))
    }

    /// Forgets what may be stale after a conflict: the next read goes to the log.
    pub async fn invalidate(&self, workspace: Option<Uuid>, board: Option<Uuid>) {
        if let Some(ws) = workspace {
            lock(&self.workspaces).pop(&ws);
        }
        if let Some(b) = board {
            let view = lock(&self.boards).peek(&b).cloned();
            if let Some(view) = view {
                view.lock().await.freshness.seen = None;
            }
        }
    }

    /// Applies an event this process appended to whatever cache holds its aggregate.
    pub async fn applied(&self, e: &RecordedEvent) {
        if let Some(board) = e.board_id {
            let view = lock(&self.boards).peek(&board).cloned();
            if let Some(view) = view {
                view.lock().await.apply_own(e);
            }
            return;
        }
        let Some(ws) = e.workspace_id else { return };
        if e.stream_id != StreamId::workspace(ws) {
            // Another stream of the workspace (a webhook's): not cached here.
            return;
        }
        let mut cache = lock(&self.workspaces);
        let Some(cached) = cache.get_mut(&ws) else { return };
        if cached.ws.version + 1 == e.stream_version
            && let Some(next) = workspace::evolve(Some(cached.ws.clone()), e)
        {
            cached.ws = next;
            return;
        }
        cache.pop(&ws);
    }
}

/// In-process locks per stream (striped), so concurrent commands on one
/// aggregate queue up instead of racing and retrying.
pub struct StreamLocks {
    stripes: Box<[tokio::sync::Mutex<()>]>,
}

impl StreamLocks {
    pub fn new(stripes: usize) -> Self {
        Self { stripes: (0..stripes.max(1)).map(|_| tokio::sync::Mutex::new(())).collect() }
    }

    pub async fn lock(&self, stream: &StreamId) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(stream.as_str());
        let index = usize::try_from(hash % self.stripes.len() as u64).unwrap_or(0);
        self.stripes[index].lock().await
    }
}
