//! Running wrk pinned to the load core and reading its report.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use super::procfs::{self, Sampler};

/// The load every scenario and the control get alike.
#[derive(Debug, Clone)]
pub struct Load {
    /// CPU the load generator is pinned to.
    pub core: u32,
    pub threads: u32,
    pub connections: u32,
    pub duration_secs: u64,
    /// wrk's per-request timeout; a request slower than this counts as a socket error.
    pub timeout_secs: u64,
}

/// A script and its arguments (what goes after `--`).
pub struct Script<'a> {
    pub file: &'a Path,
    pub args: Vec<String>,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers with a status other than 2xx or 3xx.
    pub non_2xx: u64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
    pub socket_errors_text: Option<String>,
    /// `xtask: …` lines printed by the script's `done`.
    pub script_lines: Vec<String>,
    pub raw: String,
}

/// What happened on the server and the load generator during a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub server_peak_rss_kib: u64,
    /// Server CPU time over wall time, 1.0 = one core busy.
    pub server_cpu: f64,
    /// Load generator CPU time over wall time.
    pub load_cpu: Option<f64>,
    /// User and system CPU time of everything else on the machine over wall time: other
    /// processes competing with the bench (0.0 on a quiet machine).
    pub other_cpu: Option<f64>,
    /// CPU time the hypervisor gave to other machines, over wall time (0.0 when none).
    pub steal_cpu: Option<f64>,
}

impl Usage {
    /// Share of a core that others took: other processes and the hypervisor's steal time.
    pub fn disturbance(&self) -> f64 {
        self.other_cpu.unwrap_or(0.0) + self.steal_cpu.unwrap_or(0.0)
    }
}

/// Runs wrk against `url` with `load`, sampling the server `server_pid` meanwhile.
pub fn run(
    load: &Load,
    url: &str,
    script: Option<&Script<'_>>,
    server_pid: u32,
) -> anyhow::Result<(Report, Usage)> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(load.core.to_string())
        .arg("wrk")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration_secs))
        .arg(format!("--timeout={}s", load.timeout_secs))
        .arg("--latency");
    if let Some(script) = script {
        cmd.arg("-s").arg(script.file);
    }
    cmd.arg(url);
    if let Some(script) = script {
        cmd.arg("--").args(&script.args);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let ticks = procfs::ticks_per_second();
    let server_cpu_before =
        procfs::cpu_ticks(server_pid).context("reading the server's CPU time")?;
    let machine_before = procfs::machine_ticks();
    let started = std::time::Instant::now();
    let child = cmd.spawn().context("starting wrk under taskset")?;
    let sampler = Sampler::start(server_pid, Some(child.id()));
    let output = child.wait_with_output().context("waiting for wrk")?;
    let wall = started.elapsed().as_secs_f64();
    let samples = sampler.finish();
    let server_cpu_after =
        procfs::cpu_ticks(server_pid).context("reading the server's CPU time")?;
    let machine_after = procfs::machine_ticks();

    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed ({}) for {url}:\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report = parse(&stdout).with_context(|| format!("reading wrk's report:\n{stdout}"))?;
    let server_ticks = server_cpu_after - server_cpu_before;
    let other_cpu = match (machine_before, machine_after, samples.load_cpu_ticks) {
        (Some(before), Some(after), Some(load)) => Some(
            (after.busy - before.busy).saturating_sub(server_ticks + load) as f64 / ticks / wall,
        ),
        _ => None,
    };
    let steal_cpu = match (machine_before, machine_after) {
        (Some(before), Some(after)) => Some((after.steal - before.steal) as f64 / ticks / wall),
        _ => None,
    };
    let usage = Usage {
        server_peak_rss_kib: samples.peak_rss_kib,
        server_cpu: server_ticks as f64 / ticks / wall,
        load_cpu: samples.load_cpu_ticks.map(|t| t as f64 / ticks / wall),
        other_cpu,
        steal_cpu,
    };
    Ok((report, usage))
}

/// Reads wrk 4's `--latency` report.
pub fn parse(out: &str) -> anyhow::Result<Report> {
    let mut report = Report {
        raw: out.to_owned(),
        ..Report::default()
    };
    let (mut rps, mut p50, mut p99, mut total) = (None, None, None, None);
    for line in out.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            rps = Some(rest.trim().parse::<f64>().context("Requests/sec")?);
        } else if words.len() == 2 && words[0] == "50%" {
            p50 = Some(duration_ms(words[1])?);
        } else if words.len() == 2 && words[0] == "99%" {
            p99 = Some(duration_ms(words[1])?);
        } else if words.len() >= 3 && words[1] == "requests" && words[2] == "in" {
            total = Some(words[0].parse::<u64>().context("request count")?);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.non_2xx = rest.trim().parse().context("non-2xx count")?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            report.socket_errors = rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            report.socket_errors_text = Some(rest.trim().to_owned());
        } else if line.starts_with("xtask:") {
            report.script_lines.push(line.to_owned());
        }
    }
    report.requests_per_sec = rps.context("no Requests/sec line")?;
    report.p50_ms = p50.context("no 50% latency line (was --latency given?)")?;
    report.p99_ms = p99.context("no 99% latency line (was --latency given?)")?;
    report.requests = total.context("no 'N requests in' line")?;
    Ok(report)
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn duration_ms(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in duration {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("bad duration {text:?}"))?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => bail!("unknown unit in duration {text:?}"),
    };
    Ok(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:4000/control
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   841.52us  120.11us   4.55ms   90.00%
    Req/Sec    76.20k     2.10k   80.11k    70.00%
  Latency Distribution
     50%  812.00us
     75%  850.00us
     90%    0.95ms
     99%    1.23ms
  758123 requests in 10.00s, 850.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  75800.12
Transfer/sec:     85.01MB
xtask: bodies asked 10 of 20
";

    #[test]
    fn reads_a_report() {
        let r = parse(SAMPLE).unwrap();
        assert_eq!(r.requests, 758123);
        assert!((r.requests_per_sec - 75800.12).abs() < 1e-6);
        assert!((r.p50_ms - 0.812).abs() < 1e-9);
        assert!((r.p99_ms - 1.23).abs() < 1e-9);
        assert_eq!(r.non_2xx, 5);
        assert_eq!(r.socket_errors, 3);
        assert_eq!(r.script_lines, ["xtask: bodies asked 10 of 20"]);
    }

    #[test]
    fn reads_durations() {
        assert!((duration_ms("2.00s").unwrap() - 2000.0).abs() < 1e-9);
        assert!(duration_ms("12").is_err());
    }
}
