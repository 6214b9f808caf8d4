//! Concurrent triggers of the same providers share one decision.
//!
//! A burst of triggers (an admin double-clicking, a retry storm, the 1000
//! concurrent requests of the load test) would otherwise cost a database
//! round trip or two each, and the last request waits for all the others.
//! Here the requests for one provider set gather in a *flight*: its first
//! request (the leader) waits until the previous flight of that set has
//! decided, closes its own flight to newcomers, decides once — queue a job
//! or find the job in the way — and every request of the flight gets the
//! answer: the leader its own outcome, the others `Busy` with the job the
//! leader found or queued.
//!
//! This is correct because every request of a flight arrived before its
//! decision started, so the decision is at least as fresh as a query of
//! their own would be; and when the leader queued a job, the others were
//! concurrent with it, so refusing them is what the store would do anyway.
//! The store's insert stays the authority across processes. When the
//! leader fails or its request goes away, the others decide on their own.
//!
//! A refusal is also reused for a short while (`reuse_for`, the engine's
//! `busy_answer_ttl`): a job in the way stays in the way until it ends, and
//! when it ends in this process the answers are forgotten at once
//! ([`Flights::forget`]). Only a job ended by another process (a replica, the
//! CLI) can leave a refusal standing, for at most that while; a refusal is a
//! 429 with `Retry-After`, never a second job.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::engine::TriggerOutcome;

/// The sorted, deduplicated provider names of a trigger.
pub(crate) type FlightKey = Vec<String>;

/// The flights of the triggers.
pub(crate) type TriggerFlights = Flights<TriggerOutcome>;

/// The flights of every provider set asked for so far (bounded by the
/// subsets of the configured providers); `T` is the decision.
pub(crate) struct Flights<T> {
    sets: Mutex<HashMap<FlightKey, Arc<SetFlights<T>>>>,
    /// How long an answer for the others is reused.
    reuse_for: Duration,
    /// Moves on every [`Flights::forget`], so that a decision that started
    /// before it does not store an answer after it.
    generation: AtomicU64,
}

struct SetFlights<T> {
    /// Held by the leader that is deciding; the next flight gathers
    /// meanwhile.
    deciding: tokio::sync::Mutex<()>,
    /// The flight still taking requests, if any.
    open: Mutex<Option<Arc<Flight<T>>>>,
    /// The last answer for the others, and when its decision ended.
    recent: Mutex<Option<(Instant, T)>>,
}

impl<T> Default for SetFlights<T> {
    fn default() -> Self {
        Self {
            deciding: tokio::sync::Mutex::new(()),
            open: Mutex::new(None),
            recent: Mutex::new(None),
        }
    }
}

impl<T: Clone> SetFlights<T> {
    /// The last answer, if it is younger than `reuse_for`.
    fn recent(&self, reuse_for: Duration) -> Option<T> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        match recent.as_ref() {
            Some((at, answer)) if at.elapsed() < reuse_for => Some(answer.clone()),
            _ => None,
        }
    }
}

/// Requests that will share one decision.
struct Flight<T> {
    answer: watch::Receiver<Option<T>>,
    /// How many requests it holds, the leader included.
    members: AtomicUsize,
}

enum Role<T> {
    Leader(watch::Sender<Option<T>>, Arc<Flight<T>>),
    Follower(watch::Receiver<Option<T>>),
}

impl<T: Clone> Flights<T> {
    /// Flights whose answers are reused for `reuse_for` (zero: never).
    pub(crate) fn new(reuse_for: Duration) -> Self {
        Self {
            sets: Mutex::new(HashMap::new()),
            reuse_for,
            generation: AtomicU64::new(0),
        }
    }

    /// Drops every reusable answer: a job ended here, so a job that was in
    /// the way may be gone.
    pub(crate) fn forget(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let sets: Vec<Arc<SetFlights<T>>> = self
            .sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for set in sets {
            set.recent.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }

    /// Runs `decide` once per flight of `key`; the leader gets its outcome,
    /// the other requests of the flight `for_others` of it. When the leader
    /// fails or goes away, the others run `decide` each.
    pub(crate) async fn decide<E, F, Fut>(
        &self,
        key: FlightKey,
        decide: F,
        for_others: fn(&T) -> T,
    ) -> Result<T, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let set = {
            let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
            sets.entry(key).or_default().clone()
        };
        if let Some(answer) = set.recent(self.reuse_for) {
            return Ok(answer);
        }
        let role = {
            let mut open = set.open.lock().unwrap_or_else(|e| e.into_inner());
            match open.as_ref() {
                // A flight whose leader went away before deciding has no
                // sender left: start a new one instead of joining it.
                Some(flight) if flight.answer.has_changed().is_ok() => {
                    flight.members.fetch_add(1, Ordering::Relaxed);
                    Role::Follower(flight.answer.clone())
                }
                _ => {
                    let (sender, answer) = watch::channel(None);
                    let flight = Arc::new(Flight {
                        answer,
                        members: AtomicUsize::new(1),
                    });
                    *open = Some(flight.clone());
                    Role::Leader(sender, flight)
                }
            }
        };
        match role {
            Role::Follower(mut flight) => {
                let shared = match flight.wait_for(Option::is_some).await {
                    Ok(answer) => answer.clone(),
                    Err(_) => None,
                };
                match shared {
                    Some(outcome) => Ok(outcome),
                    // The leader failed or its request was dropped.
                    None => decide().await,
                }
            }
            Role::Leader(sender, flight) => {
                let _deciding = set.deciding.lock().await;
                // Close the flight: whoever comes now joins the next one,
                // whose decision starts after this one ends.
                set.open.lock().unwrap_or_else(|e| e.into_inner()).take();
                // The flight before may have just answered.
                if let Some(answer) = set.recent(self.reuse_for) {
                    sender.send_replace(Some(answer.clone()));
                    return Ok(answer);
                }
                let generation = self.generation.load(Ordering::SeqCst);
                let started = Instant::now();
                let outcome = decide().await;
                tracing::debug!(
                    requests = flight.members.load(Ordering::Relaxed),
                    decided_in_us = started.elapsed().as_micros() as u64,
                    ok = outcome.is_ok(),
                    "one trigger decision for concurrent requests"
                );
                if let Ok(outcome) = &outcome {
                    let answer = for_others(outcome);
                    let mut recent = set.recent.lock().unwrap_or_else(|e| e.into_inner());
                    if self.generation.load(Ordering::SeqCst) == generation {
                        *recent = Some((Instant::now(), answer.clone()));
                    }
                    drop(recent);
                    sender.send_replace(Some(answer));
                }
                outcome
            }
        }
    }
}

#[cfg(test)]
impl<T> Flights<T> {
    /// How many requests wait in the open flight of `key`.
    fn gathering(&self, key: &[&str]) -> usize {
        let key: FlightKey = key.iter().map(|k| (*k).to_owned()).collect();
        let set = self
            .sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        set.and_then(|set| {
            set.open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|f| f.members.load(Ordering::Relaxed))
        })
        .unwrap_or(0)
    }
}

/// What the leader's outcome means for a concurrent request of the same
/// providers: the job the leader queued or found is in its way.
pub(crate) fn busy_for_others(outcome: &TriggerOutcome) -> TriggerOutcome {
    match outcome {
        TriggerOutcome::Queued(job) => TriggerOutcome::Busy {
            provider: job
                .providers
                .first()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            active: job.clone(),
            lease: None,
        },
        busy @ TriggerOutcome::Busy { .. } => busy.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::{FlightKey, Flights};

    fn key(names: &[&str]) -> FlightKey {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// A decision that counts its runs, answers with the run's number (or
    /// fails on the runs listed in `fail`) and waits for a permit.
    struct Decider {
        runs: AtomicUsize,
        permits: Semaphore,
        fail: Vec<usize>,
    }

    impl Decider {
        fn new(fail: Vec<usize>) -> Arc<Self> {
            Arc::new(Self {
                runs: AtomicUsize::new(0),
                permits: Semaphore::new(0),
                fail,
            })
        }

        async fn run(&self) -> Result<usize, String> {
            let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            self.permits
                .acquire()
                .await
                .map_err(|e| e.to_string())?
                .forget();
            if self.fail.contains(&run) {
                Err(format!("run {run} failed"))
            } else {
                Ok(run)
            }
        }

        fn runs(&self) -> usize {
            self.runs.load(Ordering::SeqCst)
        }
    }

    /// The answer a follower gets: the leader's run, marked.
    fn for_others(run: &usize) -> usize {
        run + 1000
    }

    fn spawn(
        flights: &Arc<Flights<usize>>,
        decider: &Arc<Decider>,
        names: &'static [&'static str],
    ) -> tokio::task::JoinHandle<Result<usize, String>> {
        let (flights, decider) = (flights.clone(), decider.clone());
        tokio::spawn(async move {
            flights
                .decide(key(names), || decider.run(), for_others)
                .await
        })
    }

    async fn until(condition: impl Fn() -> bool) {
        while !condition() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn requests_gathered_while_one_decides_share_the_next_decision() {
        let flights = Arc::new(Flights::new(Duration::ZERO));
        let decider = Decider::new(vec![]);
        let first = spawn(&flights, &decider, &["a"]);
        until(|| decider.runs() == 1).await;
        // The first decision runs and its flight is closed: these 50 gather
        // in the next flight, whose leader waits for the first decision.
        let gathered: Vec<_> = (0..50).map(|_| spawn(&flights, &decider, &["a"])).collect();
        until(|| flights.gathering(&["a"]) == 50).await;
        assert_eq!(decider.runs(), 1, "the next flight waits its turn");
        decider.permits.add_permits(2);
        assert_eq!(first.await.expect("task"), Ok(1));
        let mut answers = Vec::new();
        for task in gathered {
            answers.push(task.await.expect("task").expect("answer"));
        }
        answers.sort();
        assert_eq!(answers[0], 2, "the leader of the second flight decided");
        assert!(
            answers[1..].iter().all(|a| *a == for_others(&2)),
            "the others share its decision: {answers:?}"
        );
        assert_eq!(decider.runs(), 2, "two decisions for 51 requests");
    }

    #[tokio::test]
    async fn other_provider_sets_decide_on_their_own() {
        let flights = Arc::new(Flights::new(Duration::ZERO));
        let decider = Decider::new(vec![]);
        let a = spawn(&flights, &decider, &["a"]);
        until(|| decider.runs() == 1).await;
        let b = spawn(&flights, &decider, &["b"]);
        until(|| decider.runs() == 2).await;
        decider.permits.add_permits(2);
        let mut runs = vec![
            a.await.expect("task").expect("a"),
            b.await.expect("task").expect("b"),
        ];
        runs.sort();
        assert_eq!(runs, vec![1, 2], "each set decided, neither waited");
    }

    #[tokio::test]
    async fn when_the_leader_fails_the_others_decide_alone() {
        let flights = Arc::new(Flights::new(Duration::ZERO));
        // Run 2 (the second flight's leader) fails.
        let decider = Decider::new(vec![2]);
        let first = spawn(&flights, &decider, &["a"]);
        until(|| decider.runs() == 1).await;
        let gathered: Vec<_> = (0..3).map(|_| spawn(&flights, &decider, &["a"])).collect();
        until(|| flights.gathering(&["a"]) == 3).await;
        decider.permits.add_permits(5);
        assert_eq!(first.await.expect("task"), Ok(1));
        let mut answers = Vec::new();
        for task in gathered {
            answers.push(task.await.expect("task"));
        }
        answers.sort();
        assert_eq!(
            answers,
            vec![Ok(3), Ok(4), Err("run 2 failed".to_owned())],
            "the leader's error is its own; the others ran their own decision"
        );
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_strands_nobody() {
        let flights = Arc::new(Flights::new(Duration::ZERO));
        let decider = Decider::new(vec![]);
        let first = spawn(&flights, &decider, &["a"]);
        until(|| decider.runs() == 1).await;
        // The second flight's leader waits its turn, then its request is
        // dropped (a client disconnecting) before it decides.
        let leader = spawn(&flights, &decider, &["a"]);
        until(|| flights.gathering(&["a"]) == 1).await;
        let follower = spawn(&flights, &decider, &["a"]);
        until(|| flights.gathering(&["a"]) == 2).await;
        leader.abort();
        assert!(leader.await.expect_err("aborted").is_cancelled());
        // Newcomers do not join the dead flight: they gather in a new one.
        let newcomers: Vec<_> = (0..2).map(|_| spawn(&flights, &decider, &["a"])).collect();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            until(|| flights.gathering(&["a"]) == 2),
        )
        .await
        .expect("the newcomers gathered in a flight of their own");
        decider.permits.add_permits(3);
        assert_eq!(first.await.expect("task"), Ok(1));
        let alone = follower.await.expect("task").expect("follower");
        assert!(alone < 1000, "the stranded follower decided alone: {alone}");
        let mut answers = Vec::new();
        for task in newcomers {
            answers.push(task.await.expect("task").expect("newcomer"));
        }
        answers.sort();
        assert_eq!(
            decider.runs(),
            3,
            "first, the follower, the newcomers' leader"
        );
        assert!(
            answers[0] < 1000 && answers[1] == for_others(&answers[0]),
            "{answers:?}"
        );
    }

    const LONG: Duration = Duration::from_secs(3600);

    /// One request on its own, its decision let through.
    async fn ask(flights: &Flights<usize>, decider: &Decider) -> usize {
        decider.permits.add_permits(1);
        flights
            .decide(key(&["a"]), || decider.run(), for_others)
            .await
            .expect("answer")
    }

    #[tokio::test]
    async fn an_answer_is_reused_until_forgotten() {
        let (flights, decider) = (Flights::new(LONG), Decider::new(vec![]));
        assert_eq!(ask(&flights, &decider).await, 1);
        assert_eq!(ask(&flights, &decider).await, for_others(&1), "reused");
        assert_eq!(decider.runs(), 1);
        flights.forget();
        assert_eq!(ask(&flights, &decider).await, 2, "decided again");
    }

    #[tokio::test]
    async fn without_a_window_every_request_decides() {
        let (flights, decider) = (Flights::new(Duration::ZERO), Decider::new(vec![]));
        assert_eq!(ask(&flights, &decider).await, 1);
        assert_eq!(ask(&flights, &decider).await, 2);
    }

    #[tokio::test]
    async fn a_decision_that_began_before_a_forget_is_not_reused() {
        let flights = Arc::new(Flights::new(LONG));
        let decider = Decider::new(vec![]);
        let leader = {
            let (flights, decider) = (flights.clone(), decider.clone());
            tokio::spawn(async move {
                flights
                    .decide(key(&["a"]), || decider.run(), for_others)
                    .await
            })
        };
        until(|| decider.runs() == 1).await;
        // A job ends while the decision reads: its answer may be stale.
        flights.forget();
        decider.permits.add_permits(1);
        assert_eq!(leader.await.expect("task"), Ok(1));
        assert_eq!(ask(&flights, &decider).await, 2, "not reused");
    }
}
