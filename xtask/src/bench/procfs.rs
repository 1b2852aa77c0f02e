//! Reading a process's memory and CPU time from /proc, and sampling them during a run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often memory is sampled during a run.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A `kB` field of /proc/PID/status, e.g. `VmRSS` (resident now) or `VmHWM` (peak resident).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// User plus system CPU time of the whole process (all threads) so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time of the whole machine so far, from the `cpu` line of /proc/stat, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct MachineTicks {
    /// User and system mode (user + nice + system) of every process. Interrupt time is left
    /// out: loopback networking is accounted there, which is the bench's own traffic.
    pub busy: u64,
    /// Time the hypervisor gave this machine's CPUs to others while it wanted to run.
    pub steal: u64,
}

pub fn machine_ticks() -> Option<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal ...
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    Some(MachineTicks {
        busy: f.get(..3)?.iter().sum(),
        steal: *f.get(7)?,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every usual Linux).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What a sampler saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Samples {
    /// Largest VmRSS of the server seen, KiB.
    pub peak_rss_kib: u64,
    /// The load generator's CPU ticks at the last sample before it exited.
    pub load_cpu_ticks: Option<u64>,
}

/// Samples the server's VmRSS and the load generator's CPU time every [`SAMPLE_EVERY`] until
/// stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Samples>>,
    handle: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(server_pid: u32, load_pid: Option<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Samples::default()));
        let handle = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || loop {
                let rss = status_kib(server_pid, "VmRSS");
                let load = load_pid.and_then(cpu_ticks);
                {
                    let mut s = samples.lock().unwrap();
                    if let Some(rss) = rss {
                        s.peak_rss_kib = s.peak_rss_kib.max(rss);
                    }
                    if load.is_some() {
                        s.load_cpu_ticks = load;
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(SAMPLE_EVERY);
            })
        };
        Sampler {
            stop,
            samples,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        *self.samples.lock().unwrap()
    }
}
