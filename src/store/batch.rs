//! Group commit: concurrent writes of one kind gathered into one transaction.
//!
//! Callers [`Batcher::submit`] a job and wait for its own result. A fixed set of workers takes
//! jobs off one queue: a worker waits for the first job, then takes whatever else is already
//! waiting, up to the batch size, and hands the batch to the store's write function, which
//! writes it in one transaction (one commit, one fsync) and returns one result per job, in order.
//! There is no timer: the window closes at once when nothing else is waiting, so a lone request
//! is written the moment it arrives; batches form only while every worker is busy committing,
//! that is, exactly when waiting for a commit is what the requests would do anyway.
//!
//! A job is answered only after the commit that holds it (the write function returns after its
//! commit). A caller that stops waiting (its request was dropped) does not cancel its job: the
//! batch is written and its answer is discarded, like a response nobody reads.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{StoreError, StoreResult};

/// Most jobs one transaction takes.
pub const MAX_BATCH: usize = 64;

/// How a batch is written: one result per job, in the jobs' order.
pub type WriteBatch<J, R> = Arc<dyn Fn(Vec<J>) -> Pin<Box<dyn Future<Output = Vec<R>> + Send>> + Send + Sync>;

type Queue<J, R> = mpsc::UnboundedReceiver<(J, oneshot::Sender<R>)>;

/// A queue of jobs and the workers that write them in batches.
pub struct Batcher<J, R> {
    queue: mpsc::UnboundedSender<(J, oneshot::Sender<R>)>,
}

impl<J, R> Clone for Batcher<J, R> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

impl<J, R> fmt::Debug for Batcher<J, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher").field("closed", &self.queue.is_closed()).finish()
    }
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts `workers` workers (at least one) on the current Tokio runtime. They stop when the
    /// last clone of the batcher is dropped, after writing what was queued.
    pub fn spawn(workers: usize, max_batch: usize, write: WriteBatch<J, R>) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 1..workers.max(1) {
            tokio::spawn(work(jobs.clone(), max_batch.max(1), write.clone()));
        }
        tokio::spawn(work(jobs, max_batch.max(1), write));
        Self { queue }
    }
}

impl<J, R> Batcher<J, R> {
    /// Queues `job` and waits for its result, which exists once the job's batch has committed
    /// (or failed). `None` only when the workers are gone (their runtime shut down).
    pub async fn submit(&self, job: J) -> Option<R> {
        let (answer, result) = oneshot::channel();
        self.queue.send((job, answer)).ok()?;
        result.await.ok()
    }
}

async fn work<J, R>(jobs: Arc<Mutex<Queue<J, R>>>, max_batch: usize, write: WriteBatch<J, R>) {
    loop {
        let mut batch = Vec::new();
        {
            // One worker at a time gathers; the others are writing or waiting their turn.
            let mut queue = jobs.lock().await;
            let Some(first) = queue.recv().await else { return };
            batch.push(first);
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let (jobs_of_batch, answers): (Vec<J>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
        let results = write(jobs_of_batch).await;
        debug_assert_eq!(results.len(), answers.len(), "one result per job");
        for (answer, result) in answers.into_iter().zip(results) {
            // The caller may have stopped waiting: its job is written all the same.
            let _ = answer.send(result);
        }
    }
}

/// The error each job of a batch that failed as a whole gets: what the first failure was
/// (unavailable stays unavailable, so every waiter answers 503), as text, since database
/// errors cannot be cloned.
pub fn batch_failed(err: &StoreError) -> StoreError {
    let lost = sqlx::Error::Protocol(format!("group commit failed: {err}"));
    if err.is_unavailable() { StoreError::Unavailable(lost) } else { StoreError::Database(lost) }
}

/// `n` results for a batch that failed as a whole with `err`.
pub fn all_failed<T>(err: &StoreError, n: usize) -> Vec<StoreResult<T>> {
    (0..n).map(|_| Err(batch_failed(err))).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn recorder(sizes: Arc<std::sync::Mutex<Vec<usize>>>, delay_ms: u64) -> WriteBatch<u32, u32> {
        Arc::new(move |jobs: Vec<u32>| {
            let sizes = sizes.clone();
            Box::pin(async move {
                sizes.lock().unwrap().push(jobs.len());
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                jobs.into_iter().map(|j| j * 10).collect()
            })
        })
    }

    #[tokio::test]
    async fn a_lone_job_is_written_alone_and_at_once() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let batcher = Batcher::spawn(1, MAX_BATCH, recorder(sizes.clone(), 0));
        let started = std::time::Instant::now();
        assert_eq!(batcher.submit(7).await, Some(70));
        assert!(started.elapsed() < std::time::Duration::from_millis(50), "no window timer");
        assert_eq!(batcher.submit(8).await, Some(80));
        assert_eq!(*sizes.lock().unwrap(), vec![1, 1]);
    }

    #[tokio::test]
    async fn jobs_waiting_while_a_batch_commits_share_the_next_one() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let batcher = Batcher::spawn(1, 8, recorder(sizes.clone(), 30));
        let answers: Vec<_> = (0..20u32)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { (i, b.submit(i).await) })
            })
            .collect();
        for answer in answers {
            let (i, result) = answer.await.unwrap();
            assert_eq!(result, Some(i * 10), "each job gets its own result");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 20, "{sizes:?}");
        assert!(sizes.iter().all(|n| *n <= 8), "batch size bounded: {sizes:?}");
        assert!(sizes.len() < 20, "some jobs were written together: {sizes:?}");
    }

    #[tokio::test]
    async fn workers_write_batches_side_by_side() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (running.clone(), peak.clone());
        let write: WriteBatch<u32, u32> = Arc::new(move |jobs: Vec<u32>| {
            let (r, p) = (r.clone(), p.clone());
            Box::pin(async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                jobs
            })
        });
        let batcher = Batcher::spawn(3, 1, write);
        let answers: Vec<_> = (0..9u32)
            .map(|i| {
                tokio::spawn({
                    let b = batcher.clone();
                    async move { b.submit(i).await }
                })
            })
            .collect();
        for answer in answers {
            assert!(answer.await.unwrap().is_some());
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_failed_batch_fails_every_job_alike() {
        let results: Vec<StoreResult<()>> = all_failed(&StoreError::Unavailable(sqlx::Error::PoolClosed), 3);
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(|r| r.as_ref().is_err_and(StoreError::is_unavailable)));
        let results: Vec<StoreResult<()>> = all_failed(&StoreError::Corrupt("x".into()), 2);
        assert!(results.iter().all(|r| matches!(r, Err(StoreError::Database(_)))));
    }
}
