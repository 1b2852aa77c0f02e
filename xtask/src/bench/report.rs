//! The table and the verdict on each target.

use std::fmt::Write as _;
use std::process::Command;

use super::{
    wrk, Options, Scenario, BUSY_MACHINE, IDLE_RSS_MAX_MIB, KEY_ACTOR_MIN_RATIO,
    KEY_SERVER_MIN_RATIO, LOAD_CORE, PEAK_RSS_MAX_MIB, SERVER_CORE, TRUST_MIN_RPS,
};

/// One line of the table.
pub(super) struct Row {
    pub(super) name: String,
    pub(super) report: wrk::Report,
    pub(super) usage: wrk::Usage,
    /// Requests per second of the control in the run right before this one (for the control's
    /// own row, its own).
    pub(super) control_rps: f64,
    /// Runs made: more than one when the machine was busy during the first.
    pub(super) tries: u32,
}

pub(super) struct Memory {
    pub(super) idle_rss: u64,
    pub(super) end_rss: u64,
    pub(super) end_hwm: u64,
}

pub(super) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(share: Option<f64>) -> String {
    share
        .map(|c| format!("{:.0}%", c * 100.0))
        .unwrap_or_else(|| "?".into())
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)
                .unwrap_or("?")
                .to_owned()
        })
        .unwrap_or_default();
    format!(
        "{date}; {cores} cores ({cpu}), Linux {}; wrk {wrk}",
        kernel.trim()
    )
}

impl Row {
    fn ratio(&self) -> f64 {
        self.report.requests_per_sec / self.control_rps
    }
}

pub(super) fn report_text(
    opts: &Options,
    load: &wrk::Load,
    rows: &[Row],
    memory: &Memory,
    scenarios: &[Scenario],
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "polyhome bench, {}", machine_line());
    let _ = writeln!(
        t,
        "server and control pinned to core {SERVER_CORE}, wrk to core {LOAD_CORE}: wrk -t{} -c{} -d{}s --latency \
         (1 s warm-up before each run; the control runs right before each scenario); SQLite, \
         database_pool_size {}, argon2id 64 KiB x 1 pass",
        load.threads, load.connections, load.duration_secs, opts.pool_size
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| scenario | requests | req/s | p50 | p99 | control req/s | vs control | server CPU | wrk CPU | others' CPU | peak RSS |"
    );
    let _ = writeln!(t, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.2} ms | {:.2} ms | {} | {:.2} | {:.0}% | {} | {:.0}% | {} |",
            row.name,
            thousands(row.report.requests as f64),
            thousands(row.report.requests_per_sec),
            row.report.p50_ms,
            row.report.p99_ms,
            thousands(row.control_rps),
            row.ratio(),
            row.usage.server_cpu * 100.0,
            percent(row.usage.load_cpu),
            row.usage.disturbance() * 100.0,
            mib(row.usage.server_peak_rss_kib),
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "control req/s: the control's run right before this one. CPU columns: share of one core \
         over the run (server: the pinned server process, all its threads; others: every other \
         process on the machine, plus time the hypervisor gave to other machines). Peak RSS: the \
         highest 100 ms sample, of the control server in its row and of polyhome in the others."
    );
    let rerun: Vec<String> = rows
        .iter()
        .filter(|r| r.tries > 1)
        .map(|r| format!("{} ({} runs, the last one shown)", r.name, r.tries))
        .collect();
    if !rerun.is_empty() {
        let _ = writeln!(
            t,
            "\nRun again because others took CPU time: {}.",
            rerun.join("; ")
        );
    }
    let busy: Vec<&str> = rows
        .iter()
        .filter(|r| r.usage.disturbance() > BUSY_MACHINE)
        .map(|r| r.name.as_str())
        .collect();
    if !busy.is_empty() {
        let _ = writeln!(
            t,
            "\nWARNING: others took more than {:.0}% of a core during: {}. Those numbers are not \
             clean; run again on a quiet machine.",
            BUSY_MACHINE * 100.0,
            busy.join("; ")
        );
    }
    let _ = writeln!(t);

    let polyhome_rows = &rows[1..];
    let sampled_peak = polyhome_rows
        .iter()
        .map(|r| r.usage.server_peak_rss_kib)
        .max()
        .unwrap_or(0);
    let peak = sampled_peak.max(memory.end_hwm);
    let _ = writeln!(t, "Targets:");
    for (scenario, row) in scenarios.iter().zip(polyhome_rows) {
        let (ok, what) = match scenario {
            Scenario::KeyServer => (
                row.ratio() >= KEY_SERVER_MIN_RATIO,
                format!(
                    "key/server >= {KEY_SERVER_MIN_RATIO} of the control: {:.2}",
                    row.ratio()
                ),
            ),
            Scenario::KeyActor => (
                row.ratio() >= KEY_ACTOR_MIN_RATIO,
                format!(
                    "key/actor >= {KEY_ACTOR_MIN_RATIO} of the control: {:.2}",
                    row.ratio()
                ),
            ),
            Scenario::Trust => (
                row.report.requests_per_sec >= TRUST_MIN_RPS,
                format!(
                    "trust >= {} per second: {}",
                    thousands(TRUST_MIN_RPS),
                    thousands(row.report.requests_per_sec)
                ),
            ),
        };
        let _ = writeln!(t, "- {}: {what}", met(ok));
    }
    let idle_ok = (memory.idle_rss as f64 / 1024.0) < IDLE_RSS_MAX_MIB;
    let _ = writeln!(
        t,
        "- {}: idle RSS 2 s after start < {IDLE_RSS_MAX_MIB} MiB: {}",
        met(idle_ok),
        mib(memory.idle_rss)
    );
    let peak_ok = (peak as f64 / 1024.0) < PEAK_RSS_MAX_MIB;
    let _ = writeln!(
        t,
        "- {}: RSS through the bench < {PEAK_RSS_MAX_MIB} MiB: peak {} (VmHWM; highest 100 ms sample {}; {} at the end)",
        met(peak_ok),
        mib(peak),
        mib(sampled_peak),
        mib(memory.end_rss)
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }
}
