//! Loading aggregate state for deciding commands, with a bounded cache so a hot
//! board is not re-read from the log on every command.
//!
//! A cached board is folded up to a *stable* position (every event below it is
//! final) plus the events above it that were already committed when last read.
//! Each load reads only what came after the stable position, skipping events it
//! already applied, so a late committer below the newest event is never missed.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use sunday_domain::board::{self, Board};
use sunday_domain::profile::{self, Profile};
use sunday_domain::store::{EventStore, Position, StoreError, StreamId};
use sunday_domain::workspace::{self, Workspace};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// A board folded from the log, and how far.
#[derive(Default)]
pub struct BoardView {
    pub board: Option<Board>,
    /// Every event of the board at or below this position has been applied.
    stable: Position,
    /// Events above `stable` that were applied already.
    applied_above: BTreeSet<Position>,
}

impl BoardView {
    async fn refresh(&mut self, store: &dyn EventStore, board_id: Uuid) -> Result<(), StoreError> {
        let page = store.read_board(board_id, self.stable).await?;
        for e in &page.events {
            if self.applied_above.contains(&e.position) {
                continue;
            }
            self.board = board::evolve(self.board.take(), e);
            if e.position >= page.horizon {
                self.applied_above.insert(e.position);
            }
        }
        self.stable = self.stable.max(page.horizon - 1);
        self.applied_above = self.applied_above.split_off(&(self.stable + 1));
        Ok(())
    }
}

type Shared<T> = Mutex<LruCache<Uuid, T>>;

/// The command side's view of the log.
pub struct Aggregates {
    store: Arc<dyn EventStore>,
    workspaces: Shared<Workspace>,
    boards: Shared<Arc<tokio::sync::Mutex<BoardView>>>,
    item_boards: Shared<Uuid>,
}

fn lru<T>(capacity: usize) -> Shared<T> {
    Mutex::new(LruCache::new(NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN)))
}

impl Aggregates {
    /// Caches at most `boards` boards and ten times as many workspaces and item ids.
    pub fn new(store: Arc<dyn EventStore>, boards: usize) -> Self {
        Self { store, workspaces: lru(boards * 10), boards: lru(boards), item_boards: lru(boards * 100) }
    }

    /// The current state of a workspace, `None` if it does not exist.
    pub async fn workspace(&self, id: Uuid) -> Result<Option<Workspace>, StoreError> {
        let cached = self.lock_workspaces().get(&id).cloned();
        let after = cached.as_ref().map_or(0, |w| w.version);
        let events = self.store.read_stream(&StreamId::workspace(id), after).await?;
        let current = events.iter().fold(cached, workspace::evolve);
        if let Some(ws) = &current {
            let mut cache = self.lock_workspaces();
            let newer = cache.peek(&id).is_none_or(|c| c.version < ws.version);
            if newer {
                cache.put(id, ws.clone());
            }
        }
        Ok(current)
    }

    /// The board's view, locked and brought up to date with the log.
    pub async fn board(&self, id: Uuid) -> Result<OwnedMutexGuard<BoardView>, StoreError> {
        let view = {
            let mut cache = self.boards.lock().unwrap_or_else(|p| p.into_inner());
            cache.get_or_insert(id, || Arc::new(tokio::sync::Mutex::new(BoardView::default()))).clone()
        };
        let mut guard = view.lock_owned().await;
        guard.refresh(self.store.as_ref(), id).await?;
        Ok(guard)
    }

    /// The board an item belongs to, `None` if the item does not exist.
    pub async fn board_of_item(&self, item: Uuid) -> Result<Option<Uuid>, StoreError> {
        if let Some(board) = self.item_boards.lock().unwrap_or_else(|p| p.into_inner()).get(&item) {
            return Ok(Some(*board));
        }
        let events = self.store.read_stream(&StreamId::item(item), 0).await?;
        let board = events.first().and_then(|e| e.board_id);
        if let Some(b) = board {
            self.item_boards.lock().unwrap_or_else(|p| p.into_inner()).put(item, b);
        }
        Ok(board)
    }

    /// A user's profile, folded from its stream (profiles are small).
    pub async fn profile(&self, user: Uuid) -> Result<Option<Profile>, StoreError> {
        let events = self.store.read_stream(&StreamId::user(user), 0).await?;
        Ok(events.iter().fold(None, profile::evolve))
    }

    fn lock_workspaces(&self) -> std::sync::MutexGuard<'_, LruCache<Uuid, Workspace>> {
        self.workspaces.lock().unwrap_or_else(|p| p.into_inner())
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
