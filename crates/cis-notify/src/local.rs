//! The local notifier of `cis serve`: the same delivery code, fed by the embedded vault's change
//! feed from a persisted checkpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cis_vault::{ChangeCursor, ChangeEvent, ChangeFeed, CommitSignal};
use futures::FutureExt;

use crate::Notifier;

/// The checkpoint name of the local notifier in the change feed.
pub const LOCAL_CONSUMER: &str = "webhook-notifier";

/// Events read per poll.
const BATCH: usize = 100;

/// Delivers the change feed's events in order, starting after the saved checkpoint, until
/// `shutdown` completes. Returns how many events it settled.
///
/// The checkpoint is saved after each event is settled for every RP (delivered, or kept as a
/// dead letter), so a restart neither skips an event nor repeats a settled one. An event that
/// cannot be settled (the dead-letter store failing) is retried every `poll_interval` for the
/// RPs still missing it, and holds back the events behind it.
///
/// Shutdown is checked between events and while waiting: an event being delivered is finished
/// first (bounded by the retry policy), so stopping does not cause a repeat. Only a crash
/// between a delivery and its checkpoint can repeat that one event.
pub async fn run_local_notifier<F>(
    feed: Arc<dyn ChangeFeed>,
    notifier: Arc<Notifier>,
    poll_interval: Duration,
    shutdown: F,
) -> u64
where
    F: Future<Output = ()>,
{
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut settled = 0u64;
    let mut commits = feed.commits();

    let mut cursor: Option<ChangeCursor> = loop {
        match feed.load_checkpoint(LOCAL_CONSUMER).await {
            Ok(cursor) => break cursor,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the notifier checkpoint; retrying");
                if wait(&mut shutdown, poll_interval).await {
                    return settled;
                }
            }
        }
    };

    loop {
        if (&mut shutdown).now_or_never().is_some() {
            return settled;
        }
        // Marked seen before reading, so a commit after the read wakes the wait below.
        if let Some(commits) = commits.as_mut() {
            commits.borrow_and_update();
        }
        let events = match feed.read_changes(cursor, BATCH).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change feed; retrying");
                if wait(&mut shutdown, poll_interval).await {
                    return settled;
                }
                continue;
            }
        };
        if events.is_empty() {
            if wait_for_commit(&mut shutdown, poll_interval, commits.as_mut()).await {
                return settled;
            }
            continue;
        }
        for event in events {
            if (&mut shutdown).now_or_never().is_some() {
                return settled;
            }
            if !settle(&notifier, &event, &mut shutdown, poll_interval).await {
                return settled;
            }
            if !save(feed.as_ref(), event.cursor, &mut shutdown, poll_interval).await {
                tracing::warn!(
                    user_id = %event.user_id,
                    "stopped before saving the checkpoint; this event will be delivered again"
                );
                return settled;
            }
            cursor = Some(event.cursor);
            settled += 1;
        }
    }
}

/// Delivers `event` until every RP has it or holds a dead letter. `false` on shutdown.
async fn settle<S>(
    notifier: &Notifier,
    event: &ChangeEvent,
    shutdown: &mut S,
    poll_interval: Duration,
) -> bool
where
    S: Future<Output = ()> + Unpin,
{
    let mut pending = notifier.rp_urls().to_vec();
    loop {
        let report = notifier.deliver_to(event, &pending).await;
        pending = report.unsettled_rps();
        if pending.is_empty() {
            return true;
        }
        tracing::warn!(
            user_id = %event.user_id,
            unsettled = pending.len(),
            "notification neither delivered nor dead-lettered; retrying"
        );
        if wait(shutdown, poll_interval).await {
            return false;
        }
    }
}

async fn save<S>(
    feed: &dyn ChangeFeed,
    cursor: ChangeCursor,
    shutdown: &mut S,
    poll_interval: Duration,
) -> bool
where
    S: Future<Output = ()> + Unpin,
{
    loop {
        match feed.save_checkpoint(LOCAL_CONSUMER, cursor).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot save the notifier checkpoint; retrying");
                if wait(shutdown, poll_interval).await {
                    return false;
                }
            }
        }
    }
}

/// Sleeps for `duration` or until the store signals a commit; `true` if shutdown came first.
async fn wait_for_commit<S>(
    shutdown: &mut S,
    duration: Duration,
    commits: Option<&mut CommitSignal>,
) -> bool
where
    S: Future<Output = ()> + Unpin,
{
    let commit = async {
        match commits {
            Some(commits) => {
                if commits.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = shutdown => true,
        () = tokio::time::sleep(duration) => false,
        () = commit => false,
    }
}

/// Sleeps for `duration`; `true` if shutdown came first.
async fn wait<S>(shutdown: &mut S, duration: Duration) -> bool
where
    S: Future<Output = ()> + Unpin,
{
    tokio::select! {
        () = shutdown => true,
        () = tokio::time::sleep(duration) => false,
    }
}
