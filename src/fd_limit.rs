//! The open-file limit, raised at start from its soft to its hard value.
//!
//! The collector keeps one socket per broker node and the endpoint one per scrape connection, so
//! a cluster of a few hundred masters and slaves needs more than the soft limit of 1,024 that
//! systemd and most shells still give services by default (their hard limit is usually far
//! higher). Past the soft limit every new connection fails with EMFILE, which would show as
//! brokers down. Go programs, Prometheus and its exporters among them, raise the soft limit the
//! same way at start.

/// Soft limits beyond this are not asked for: nothing here needs more, and some libraries size
/// tables by the limit.
const CEILING: u64 = 1 << 20;

/// What the limit was and is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: u64,
    pub now: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (at most [`CEILING`]). `Err` with the OS
/// error when the limit cannot be read or set; the process then runs with what it has.
#[cfg(unix)]
pub fn raise() -> std::io::Result<Raised> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur as u64;
    let hard = lim.rlim_max as u64;
    let want = hard.min(CEILING).max(before);
    if want > before {
        let new = libc::rlimit { rlim_cur: want as libc::rlim_t, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(Raised { before, now: want, hard })
}

#[cfg(not(unix))]
pub fn raise() -> std::io::Result<Raised> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no RLIMIT_NOFILE here"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_ends_at_the_hard_limit_or_the_ceiling() {
        let r = raise().unwrap();
        assert!(r.now >= r.before);
        assert_eq!(r.now, r.hard.min(CEILING).max(r.before));
        // Idempotent: a second call finds the raised value.
        let again = raise().unwrap();
        assert_eq!((again.before, again.now), (r.now, r.now));
    }
}
