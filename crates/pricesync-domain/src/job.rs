//! The states of a sync job and of one provider's run within it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A state name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?}; known: {known}")]
pub struct ParseStateError {
    what: &'static str,
    found: String,
    known: &'static str,
}

/// The state of a sync job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    InProgress,
    /// Every provider succeeded.
    Completed,
    /// Some providers succeeded, some did not.
    PartiallyFailed,
    /// No provider succeeded, or a systemic error stopped the job.
    Failed,
    /// An admin cancelled it.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::InProgress,
        JobState::Completed,
        JobState::PartiallyFailed,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::InProgress => "in_progress",
            JobState::Completed => "completed",
            JobState::PartiallyFailed => "partially_failed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job is finished for good.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::InProgress)
    }

    /// The final state of a job from its providers' outcomes: `completed`
    /// only when every provider succeeded, `failed` when none did (or there
    /// were none), `partially_failed` otherwise.
    pub fn from_outcomes(outcomes: &[ProviderRunStatus]) -> JobState {
        let succeeded = outcomes
            .iter()
            .filter(|s| **s == ProviderRunStatus::Succeeded)
            .count();
        if succeeded == 0 {
            JobState::Failed
        } else if succeeded == outcomes.len() {
            JobState::Completed
        } else {
            JobState::PartiallyFailed
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = ParseStateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| ParseStateError {
                what: "job state",
                found: text.to_owned(),
                known: "queued, in_progress, completed, partially_failed, failed, cancelled",
            })
    }
}

/// The outcome of one provider within a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProviderRunStatus {
    /// Fetched, validated and written (or diffed, in a dry run).
    Succeeded,
    /// Fetching or writing failed.
    Failed,
    /// Not attempted (for instance, a missing API key).
    Skipped,
    /// Stopped by a cancel or a lost lease before it wrote anything.
    Cancelled,
}

impl ProviderRunStatus {
    /// Every status.
    pub const ALL: [ProviderRunStatus; 4] = [
        ProviderRunStatus::Succeeded,
        ProviderRunStatus::Failed,
        ProviderRunStatus::Skipped,
        ProviderRunStatus::Cancelled,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderRunStatus::Succeeded => "succeeded",
            ProviderRunStatus::Failed => "failed",
            ProviderRunStatus::Skipped => "skipped",
            ProviderRunStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for ProviderRunStatus {
    type Err = ParseStateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProviderRunStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| ParseStateError {
                what: "provider run status",
                found: text.to_owned(),
                known: "succeeded, failed, skipped, cancelled",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderRunStatus::{Failed, Skipped, Succeeded};

    #[test]
    fn final_state_is_honest() {
        assert_eq!(
            JobState::from_outcomes(&[Succeeded, Succeeded]),
            JobState::Completed
        );
        assert_eq!(
            JobState::from_outcomes(&[Succeeded, Failed]),
            JobState::PartiallyFailed
        );
        assert_eq!(
            JobState::from_outcomes(&[Succeeded, Skipped]),
            JobState::PartiallyFailed
        );
        assert_eq!(JobState::from_outcomes(&[Failed, Failed]), JobState::Failed);
        assert_eq!(JobState::from_outcomes(&[]), JobState::Failed);
    }

    #[test]
    fn only_queued_and_running_jobs_are_unfinished() {
        let unfinished: Vec<JobState> = JobState::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect();
        assert_eq!(unfinished, [JobState::Queued, JobState::InProgress]);
    }

    #[test]
    fn names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        for status in ProviderRunStatus::ALL {
            assert_eq!(status.as_str().parse::<ProviderRunStatus>(), Ok(status));
        }
        assert!("running".parse::<JobState>().is_err());
    }
}
