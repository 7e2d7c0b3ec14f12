//! Thresholds for the drain verdict (`--drain.*` flags).

use std::time::Duration;

/// How strict the drain verdict is. The defaults are the safe ones: a minute of stillness, no
/// retry backlog, no group exempt.
#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// How long user-topic offsets must stay unchanged (`--drain.window`).
    pub window: Duration,
    /// Retry-topic backlog still accepted as drained (`--drain.max-retry-diff`).
    pub max_retry_diff: i64,
    /// Dead groups whose backlog does not block a drain (`--drain.ignore-group`).
    pub ignore_group: Option<regex::Regex>,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig { window: Duration::from_secs(60), max_retry_diff: 0, ignore_group: None }
    }
}

impl DrainConfig {
    /// True when `group`'s backlog must not block the verdict.
    pub fn is_ignored(&self, group: &str) -> bool {
        self.ignore_group.as_ref().is_some_and(|re| re.is_match(group))
    }

    /// The window in milliseconds, saturating (a window beyond i64 ms can never be satisfied).
    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
}
