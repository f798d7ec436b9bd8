//! The supervised tasks of one process and what each is doing now.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What a task is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Started, not yet ready (connecting, catching up).
    Starting,
    /// Doing its work.
    Running,
    /// Waiting to be elected (an elected role another process leads).
    Standby,
    /// Failed; starting again after a backoff.
    Retrying(String),
    /// Stopped with the process.
    Stopped,
}

impl State {
    /// Whether the process can serve while a task is in this state.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Running | Self::Standby | Self::Stopped)
    }
}

/// One task's state, restarts and leadership, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskReport {
    pub name: &'static str,
    pub state: State,
    pub restarts: u64,
    /// For an elected role: whether this process leads it now.
    pub leading: Option<bool>,
    /// Whether readiness depends on it (housekeeping does not).
    pub critical: bool,
}

#[derive(Clone)]
struct Entry {
    state: State,
    restarts: u64,
    leading: Option<bool>,
    critical: bool,
}

/// The tasks of one process. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tasks(Arc<Mutex<BTreeMap<&'static str, Entry>>>);

/// A task's handle on its own state.
#[derive(Clone)]
pub struct Task {
    tasks: Tasks,
    name: &'static str,
}

impl Task {
    fn set(&self, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.tasks.lock().get_mut(self.name) {
            f(e);
        }
    }

    /// Ready and doing its work.
    pub fn running(&self) {
        self.set(|e| e.state = State::Running);
    }

    /// Failing inside a loop that retries by itself (the state clears at the
    /// next `running`).
    pub fn failing(&self, why: &dyn Display) {
        let why = why.to_string();
        self.set(|e| e.state = State::Retrying(why));
    }

    /// An elected role waiting for its turn.
    pub fn standby(&self) {
        self.set(|e| {
            e.state = State::Standby;
            e.leading = Some(false);
        });
    }

    /// An elected role this process now leads.
    pub fn leading(&self) {
        self.set(|e| {
            e.state = State::Running;
            e.leading = Some(true);
        });
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Capped exponential backoff: 100 ms doubling to `max`, back to the start
/// once an attempt has run for a minute.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self { next: FIRST, max }
    }

    /// The wait before the next attempt, given how long the last one ran.
    pub fn after(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY_RUN {
            self.next = FIRST;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, Entry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A task whose loop runs (and retries) by itself; it reports through
    /// the handle. `critical`: readiness depends on it.
    pub fn register(&self, name: &'static str, critical: bool) -> Task {
        let entry = Entry { state: State::Starting, restarts: 0, leading: None, critical };
        self.lock().insert(name, entry);
        Task { tasks: self.clone(), name }
    }

    /// Runs `body` until `stop` turns true: whenever it returns (with an
    /// error, or at all before `stop`), the error is logged, the restart is
    /// counted, and it starts again after a capped exponential backoff (100 ms
    /// doubling to 2 s: a dependency back is noticed within seconds).
    pub fn supervise<F, Fut, E>(
        &self,
        name: &'static str,
        critical: bool,
        mut stop: watch::Receiver<bool>,
        mut body: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnMut(Task) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let task = self.register(name, critical);
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_secs(2));
            loop {
                let started = Instant::now();
                // A run of its own: a panic in it is a failure like another.
                let result = tokio::spawn(body(task.clone())).await;
                if *stop.borrow() {
                    task.set(|e| e.state = State::Stopped);
                    return;
                }
                let why = match result {
                    Ok(Ok(())) => "it ended".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("it panicked: {e}"),
                };
                let wait = backoff.after(started.elapsed());
                tracing::error!(task = name, error = %why, retry_in_ms = wait.as_millis() as u64, "task failed; starting it again");
                task.set(|e| {
                    e.restarts += 1;
                    e.state = State::Retrying(why);
                    if e.leading == Some(true) {
                        e.leading = Some(false);
                    }
                });
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {
                        task.set(|e| e.state = State::Stopped);
                        return;
                    }
                }
            }
        })
    }

    /// Every task's state, by name.
    pub fn report(&self) -> Vec<TaskReport> {
        self.lock()
            .iter()
            .map(|(name, e)| TaskReport { name, state: e.state.clone(), restarts: e.restarts, leading: e.leading, critical: e.critical })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_starts_over_after_a_healthy_run() {
        let mut b = Backoff::new(Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|_| b.after(Duration::ZERO).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(b.after(Duration::from_secs(61)).as_millis(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_task_is_started_again_and_counted() {
        let tasks = Tasks::new();
        let (stop_tx, stop) = watch::channel(false);
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let mut attempt = 0;
        tasks.supervise("flaky", true, stop, move |task| {
            attempt += 1;
            let (n, seen) = (attempt, seen_tx.clone());
            async move {
                let _ = seen.send(n);
                if n < 3 {
                    return Err(format!("attempt {n} failed"));
                }
                task.running();
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        for want in 1..=3 {
            assert_eq!(seen.recv().await, Some(want));
        }
        tokio::task::yield_now().await;
        let report = tasks.report();
        assert_eq!((report[0].state.clone(), report[0].restarts), (State::Running, 2));
        let _ = stop_tx.send(true);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_started_again_like_a_failing_one() {
        let tasks = Tasks::new();
        let (stop_tx, stop) = watch::channel(false);
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let mut attempt = 0;
        tasks.supervise("panicky", true, stop, move |task| {
            attempt += 1;
            let (n, seen) = (attempt, seen_tx.clone());
            async move {
                let _ = seen.send(n);
                if n == 1 {
                    panic!("attempt {n} panicked");
                }
                task.running();
                std::future::pending::<()>().await;
                Ok::<(), String>(())
            }
        });
        assert_eq!(seen.recv().await, Some(1));
        assert_eq!(seen.recv().await, Some(2), "started again after the panic");
        tokio::task::yield_now().await;
        let report = tasks.report();
        assert_eq!((report[0].state.clone(), report[0].restarts), (State::Running, 1));
        let _ = stop_tx.send(true);
    }
}
