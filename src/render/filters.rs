//! `--topic.include/exclude`, `--group.include/exclude`: which consumer series are written.
//!
//! They shape the exposition only. The snapshot keeps every row, so the drain verdict and
//! `status` still see a filtered-out group's backlog or a filtered-out topic's writes: leaving
//! a group out of the dashboards must not make a broker look safe to stop while that group
//! has messages on it (`--drain.ignore-group` is the flag for dead groups).

use regex::Regex;

/// Unanchored regexes, as given (anchor them in the pattern when wanted).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub topic_include: Option<Regex>,
    pub topic_exclude: Option<Regex>,
    pub group_include: Option<Regex>,
    pub group_exclude: Option<Regex>,
}

impl Filters {
    pub fn topic_allowed(&self, t: &str) -> bool {
        self.topic_include.as_ref().map_or(true, |r| r.is_match(t)) && !self.topic_exclude.as_ref().is_some_and(|r| r.is_match(t))
    }

    pub fn group_allowed(&self, g: &str) -> bool {
        self.group_include.as_ref().map_or(true, |r| r.is_match(g)) && !self.group_exclude.as_ref().is_some_and(|r| r.is_match(g))
    }

    /// No filter set: every row is written (the default, and the fast path).
    pub fn is_empty(&self) -> bool {
        self.topic_include.is_none() && self.topic_exclude.is_none() && self.group_include.is_none() && self.group_exclude.is_none()
    }
}
