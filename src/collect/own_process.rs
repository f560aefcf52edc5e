//! What sockscope's own process uses, for the exporter's standard `process_*` metrics (the
//! ones every Prometheus exporter has): CPU time, memory, descriptors and start time, read
//! from `/proc/self` through procfs. A few small reads, made once per poll; what cannot be
//! read is left out, never a panic.

use procfs::process::{LimitValue, Process};

/// The exporter process's own figures; `None` where a file could not be read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OwnProcess {
    /// User and system CPU time since the start, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, in bytes.
    pub resident_memory_bytes: Option<u64>,
    /// Virtual memory size, in bytes.
    pub virtual_memory_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft open-file limit (`RLIMIT_NOFILE`); `None` when unlimited.
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl OwnProcess {
    /// Read them now from `/proc/self`.
    pub fn read() -> OwnProcess {
        let Ok(me) = Process::myself() else {
            return OwnProcess::default();
        };
        let ticks = procfs::ticks_per_second() as f64;
        let stat = me.stat().ok();
        let start_time_seconds = stat.as_ref().and_then(|s| {
            let boot = procfs::boot_time_secs().ok()?;
            (ticks > 0.0).then(|| boot as f64 + s.starttime as f64 / ticks)
        });
        OwnProcess {
            cpu_seconds: stat
                .as_ref()
                .and_then(|s| (ticks > 0.0).then(|| (s.utime + s.stime) as f64 / ticks)),
            resident_memory_bytes: stat.as_ref().map(|s| s.rss * procfs::page_size()),
            virtual_memory_bytes: stat.as_ref().map(|s| s.vsize),
            open_fds: me.fd_count().ok().map(|n| n as u64),
            max_fds: me
                .limits()
                .ok()
                .and_then(|l| match l.max_open_files.soft_limit {
                    LimitValue::Value(n) => Some(n),
                    LimitValue::Unlimited => None,
                }),
            start_time_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_reads_this_process_figures() {
        // Its limit and its descriptor count are the whole process's: in a child, no other
        // test opens descriptors or raises the limit between the read and the check.
        crate::collect::testutil::in_child(|| {
            let read = OwnProcess::read();
            let (soft, _) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
            assert_eq!(read.max_fds, Some(soft));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let started = read.start_time_seconds.unwrap();
            assert!(
                started <= now + 1.0 && started > now - 3600.0,
                "{started} vs {now}"
            );
            let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
            // Listing the directory holds one more descriptor than counting it.
            assert!(
                read.open_fds.unwrap().abs_diff(open) <= 1,
                "{read:?} vs {open}"
            );
            assert!(
                read.resident_memory_bytes.unwrap() > 1024 * 1024,
                "{read:?}"
            );
            assert!(read.virtual_memory_bytes.unwrap() >= read.resident_memory_bytes.unwrap());
            assert!(read.cpu_seconds.unwrap() >= 0.0);
        });
    }
}
