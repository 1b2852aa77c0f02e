//! `cargo xtask bench`: the release server under load from wrk, against an actix-web control.
//!
//! 1. Builds `polyhome` and the control server (`xtask/src/bin/control.rs`) in release mode.
//! 2. Writes the load's inputs: the key/actor paths of 10,000 actors (shuffled) and one trust
//!    body per request (a fresh Ed25519 ID-CSR for an unused actor/session ID pair each).
//! 3. Runs the control, pinned to core 0, under wrk pinned to core 1.
//! 4. Starts polyhome on a fresh SQLite database, pinned to core 0, with a light argon2id
//!    profile; reads its resident memory once idle; checks one generated ID-CSR with openssl
//!    and against the server; registers the actors over HTTP and gives each an ID-Cert.
//! 5. Runs each scenario under the control's exact wrk settings, sampling the server's
//!    resident memory every 100 ms, and fails on any non-2xx answer or socket error.
//! 6. Prints the table (also written to `target/xtask-bench/latest.md`) and whether each target
//!    is met. Missed targets are reported as MISSED but do not fail the command; errors do.
//!
//! See docs/benchmarks.md.

mod csr;
mod http;
mod process;
mod procfs;
mod report;
mod setup;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rand::seq::SliceRandom;

use crate::{cargo, run as run_cmd, workspace_root};
use process::{Pinned, WorkDir};
use report::{mib, report_text, Memory, Row};
use setup::{check_id_csr, seed, trust_bodies_text};

/// The domain of the bench server.
const DOMAIN: &str = "bench.test";
/// Every bench actor's password.
const PASSWORD: &str = "bench password";
const SERVER_CORE: u32 = 0;
const LOAD_CORE: u32 = 1;
/// Session ID of the ID-Cert every seeded actor gets.
const SEED_SESSION: &str = "seed";
/// Client threads (each one keep-alive connection) that seed the actors.
const SEED_CONNECTIONS: usize = 8;
/// Trust bodies generated per second of trust run unless `--trust-bodies` says otherwise: above
/// any rate the trust route reaches on this machine, so that none is reused.
const TRUST_BODIES_PER_SEC: usize = 8_000;
const TRUST_BODIES_MIN: usize = 30_000;
const WARMUP_SECS: u64 = 1;
/// Other processes' CPU use (share of a core) during a run above which it is run again, and
/// flagged if it stays so.
const BUSY_MACHINE: f64 = 0.10;
/// The machine's CPU use (share of a core) below which a run may start.
const QUIET_MACHINE: f64 = 0.15;

const KEY_SERVER_MIN_RATIO: f64 = 0.8;
const KEY_ACTOR_MIN_RATIO: f64 = 0.6;
const TRUST_MIN_RPS: f64 = 1_000.0;
const IDLE_RSS_MAX_MIB: f64 = 20.0;
const PEAK_RSS_MAX_MIB: f64 = 64.0;

const USAGE: &str = "\
usage: cargo xtask bench [OPTIONS]

  --duration SECS      length of each measured run (default 10)
  --connections N      wrk connections, the same for every run (default 64)
  --only NAME          run only this scenario (repeatable): key/server, key/actor, trust;
                       the control always runs
  --actors N           actors to seed for key/actor and trust (default 10000)
  --trust-bodies N     trust bodies to generate (default max(30000, 8000 x duration))
  --pool-size N        the server's database_pool_size (default 2)
  --retries N          runs again (at most N times) a run during which other processes took
                       more than 10% of a core (default 2)
  --max-wait SECS      before each run, wait at most this long for the machine to be quiet
                       (default 300)
  --criterion          afterwards, also run the polyhome-certs criterion benchmark
  --keep               keep the temporary directory (config, database, wrk scripts, logs)
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    KeyServer,
    KeyActor,
    Trust,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::KeyServer, Scenario::KeyActor, Scenario::Trust];

    fn short(self) -> &'static str {
        match self {
            Scenario::KeyServer => "key/server",
            Scenario::KeyActor => "key/actor",
            Scenario::Trust => "trust",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.short() == s || sc.short().replace('/', "-") == s)
    }
}

struct Options {
    duration: u64,
    connections: u32,
    only: Vec<Scenario>,
    actors: usize,
    trust_bodies: Option<usize>,
    pool_size: u32,
    criterion: bool,
    keep: bool,
    retries: u32,
    max_wait: u64,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        duration: 10,
        connections: 64,
        only: Vec::new(),
        actors: 10_000,
        trust_bodies: None,
        pool_size: 2,
        criterion: false,
        keep: false,
        retries: 2,
        max_wait: 300,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .with_context(|| format!("{name} needs a value\n\n{USAGE}"))
                .cloned()
        };
        match arg.as_str() {
            "--duration" => o.duration = value(arg)?.parse().context("--duration")?,
            "--connections" => o.connections = value(arg)?.parse().context("--connections")?,
            "--actors" => o.actors = value(arg)?.parse().context("--actors")?,
            "--trust-bodies" => {
                o.trust_bodies = Some(value(arg)?.parse().context("--trust-bodies")?)
            }
            "--pool-size" => o.pool_size = value(arg)?.parse().context("--pool-size")?,
            "--only" => {
                let name = value(arg)?;
                let scenario = Scenario::parse(&name)
                    .with_context(|| format!("unknown scenario {name:?}\n\n{USAGE}"))?;
                o.only.push(scenario);
            }
            "--retries" => o.retries = value(arg)?.parse().context("--retries")?,
            "--max-wait" => o.max_wait = value(arg)?.parse().context("--max-wait")?,
            "--criterion" => o.criterion = true,
            "--keep" => o.keep = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    ensure!(o.duration >= 1, "--duration must be at least 1");
    ensure!(o.connections >= 1, "--connections must be at least 1");
    ensure!(o.actors >= 1, "--actors must be at least 1");
    Ok(o)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = parse_args(args)?;
    let scenarios: Vec<Scenario> = Scenario::ALL
        .into_iter()
        .filter(|s| opts.only.is_empty() || opts.only.contains(s))
        .collect();
    let needs_actors = scenarios
        .iter()
        .any(|s| matches!(s, Scenario::KeyActor | Scenario::Trust));

    check_machine()?;
    ensure_wrk()?;
    run_cmd(cargo().args(["build", "--release", "-p", "polyhome"]))?;
    run_cmd(cargo().args(["build", "--release", "-p", "xtask", "--bin", "control"]))?;
    let release = target_dir()?.join("release");
    let (polyhome_bin, control_bin) = (release.join("polyhome"), release.join("control"));

    let dir = WorkDir::new(opts.keep)?;
    let load = wrk::Load {
        core: LOAD_CORE,
        threads: 1,
        connections: opts.connections,
        duration_secs: opts.duration,
        timeout_secs: 10,
    };
    let scripts = Scripts::write(dir.path())?;

    // Inputs, all made before anything is measured.
    let actors: Vec<String> = (0..opts.actors).map(|i| format!("actor{i:05}")).collect();
    let paths_file = dir.path().join("actor-paths.txt");
    if scenarios.contains(&Scenario::KeyActor) {
        let mut paths: Vec<String> = actors
            .iter()
            .map(|a| format!("/p2core/key/actor/{a}@{DOMAIN}"))
            .collect();
        paths.shuffle(&mut rand::thread_rng());
        std::fs::write(&paths_file, paths.join("\n") + "\n")?;
    }
    let bodies_file = dir.path().join("trust-bodies.txt");
    let trust_bodies = opts
        .trust_bodies
        .unwrap_or(TRUST_BODIES_MIN.max(TRUST_BODIES_PER_SEC * opts.duration as usize));
    if scenarios.contains(&Scenario::Trust) {
        let started = Instant::now();
        let bodies = trust_bodies_text(&actors, trust_bodies)?;
        std::fs::write(&bodies_file, bodies)?;
        eprintln!(
            "bench: {trust_bodies} trust bodies (one new ID-CSR each) generated in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut bench = Bench {
        load: load.clone(),
        retries: opts.retries,
        max_wait: Duration::from_secs(opts.max_wait),
        scripts: &scripts,
        bodies_file: &bodies_file,
        bodies_total: trust_bodies,
        bodies_used: 0,
    };

    // The control runs throughout (idle while polyhome is measured): once on its own first,
    // then right before each scenario, under the same load.
    let control = Pinned::start(
        &control_bin,
        &[],
        SERVER_CORE,
        dir.path().join("control.log"),
    )?;
    let control_url = format!("http://{}/control", control.addr);
    let control_pid = control.pid();
    eprintln!("bench: control listening on {}", control.addr);
    let name = "control: GET /control (actix-web, 1 KiB)";
    let measured = bench.measure(name, &control_url, Input::None, control_pid, None)?;
    let (report, usage) = measured.run;
    check_report("control", &report, &mut errors);
    rows.push(Row {
        name: name.into(),
        control_rps: report.requests_per_sec,
        report,
        usage,
        tries: measured.tries,
    });

    // polyhome.
    let config = dir.path().join("polyhome.toml");
    std::fs::write(
        &config,
        bench_config(&dir.path().join("data"), opts.pool_size),
    )?;
    let mut server = Pinned::start(
        &polyhome_bin,
        &["serve".as_ref(), "--config".as_ref(), config.as_os_str()],
        SERVER_CORE,
        dir.path().join("polyhome.log"),
    )?;
    let pid = server.pid();
    let base = format!("http://{}", server.addr);
    eprintln!("bench: polyhome (pid {pid}) listening on {base}, pinned to core {SERVER_CORE}");
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = procfs::status_kib(pid, "VmRSS").context("reading the server's VmRSS")?;
    let idle_hwm = procfs::status_kib(pid, "VmHWM").unwrap_or(0);
    eprintln!(
        "bench: idle after start: VmRSS {} (VmHWM {})",
        mib(idle_rss),
        mib(idle_hwm)
    );

    check_id_csr(server.addr, dir.path())?;
    if needs_actors {
        seed(server.addr, &actors)?;
    }

    for &scenario in &scenarios {
        let (url, input, name) = match scenario {
            Scenario::KeyServer => (
                format!("{base}/p2core/key/server"),
                Input::None,
                "GET /p2core/key/server".to_owned(),
            ),
            Scenario::KeyActor => (
                format!("{base}/p2core/key/actor/{}@{DOMAIN}", actors[0]),
                Input::Paths(&paths_file),
                format!("GET /p2core/key/actor/{{fid}} ({} actors)", actors.len()),
            ),
            Scenario::Trust => (
                format!("{base}/p2core/session/trust"),
                Input::TrustBodies,
                "POST /p2core/session/trust".to_owned(),
            ),
        };
        let measured = bench.measure(&name, &url, input, pid, Some((&control_url, control_pid)))?;
        let (control_report, _) = measured.control.context("the control ran before")?;
        check_report("control", &control_report, &mut errors);
        let (report, usage) = measured.run;
        check_report(scenario.short(), &report, &mut errors);
        rows.push(Row {
            name,
            control_rps: control_report.requests_per_sec,
            report,
            usage,
            tries: measured.tries,
        });
        server.check_alive()?;
    }

    let end_hwm = procfs::status_kib(pid, "VmHWM").context("reading the server's VmHWM")?;
    let end_rss = procfs::status_kib(pid, "VmRSS").unwrap_or(0);
    server.stop()?;
    control.stop()?;

    let memory = Memory {
        idle_rss,
        end_rss,
        end_hwm,
    };
    let text = report_text(&opts, &load, &rows, &memory, &scenarios);
    println!("\n{text}");
    let out_dir = target_dir()?.join("xtask-bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("latest.md"), &text)?;
    eprintln!("bench: written to {}", out_dir.join("latest.md").display());

    if opts.criterion {
        run_cmd(cargo().args([
            "bench",
            "-p",
            "polyhome-certs",
            "--bench",
            "issue",
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            "3",
        ]))?;
    }

    if !errors.is_empty() {
        bail!(
            "the bench had errors, so its numbers are not valid:\n  {}",
            errors.join("\n  ")
        );
    }
    Ok(())
}

/// Records why a run's numbers cannot be trusted: any answer but 2xx, any socket error.
fn check_report(name: &str, report: &wrk::Report, errors: &mut Vec<String>) {
    if report.non_2xx > 0 {
        errors.push(format!(
            "{name}: {} of {} answers were not 2xx/3xx",
            report.non_2xx, report.requests
        ));
    }
    if report.socket_errors > 0 {
        errors.push(format!(
            "{name}: socket errors: {}",
            report.socket_errors_text.as_deref().unwrap_or("?")
        ));
    }
    if report.non_2xx > 0 || report.socket_errors > 0 {
        eprintln!("bench: ERROR in {name}; wrk said:\n{}", report.raw);
    }
    if report.requests == 0 {
        errors.push(format!("{name}: no request completed"));
    }
}

/// A scenario's measured run, and the control's run right before it.
struct Measured {
    run: (wrk::Report, wrk::Usage),
    control: Option<(wrk::Report, wrk::Usage)>,
    tries: u32,
}

/// What a run sends besides a fixed GET.
#[derive(Clone, Copy)]
enum Input<'a> {
    None,
    /// GET the paths in this file in turn.
    Paths(&'a Path),
    /// POST the next unused trust bodies.
    TrustBodies,
}

/// Runs wrk the same way for every scenario: after the machine is quiet, with a short warm-up,
/// and again when other processes took CPU time during the measured run.
struct Bench<'a> {
    load: wrk::Load,
    retries: u32,
    max_wait: Duration,
    scripts: &'a Scripts,
    bodies_file: &'a Path,
    bodies_total: usize,
    /// Trust bodies asked for by earlier runs, which are not sent again.
    bodies_used: usize,
}

impl Bench<'_> {
    /// Measures `url` (after a warm-up) and, when `control` (its URL and process) is given,
    /// the control right before it, so that the two are compared over the same minute. Both
    /// are run again, at most `retries` times, when others took more than [`BUSY_MACHINE`] of
    /// a core during either.
    fn measure(
        &mut self,
        name: &str,
        url: &str,
        input: Input<'_>,
        pid: u32,
        control: Option<(&str, u32)>,
    ) -> anyhow::Result<Measured> {
        let mut tries = 0;
        loop {
            tries += 1;
            wait_for_quiet(self.max_wait);
            let control_run = match control {
                Some((control_url, control_pid)) => {
                    Some(self.warm_and_run("control", control_url, Input::None, control_pid)?)
                }
                None => None,
            };
            let run = self.warm_and_run(name, url, input, pid)?;
            let disturbance = control_run
                .iter()
                .chain([&run])
                .map(|(_, usage)| usage.disturbance())
                .fold(0.0, f64::max);
            let measured = Measured {
                run: run.clone(),
                control: control_run,
                tries,
            };
            if disturbance <= BUSY_MACHINE || tries > self.retries {
                return Ok(measured);
            }
            if let Input::TrustBodies = input {
                let left = self.bodies_total.saturating_sub(self.bodies_used);
                if left < run.0.requests as usize * 3 / 2 {
                    eprintln!(
                        "bench: {name}: the machine was busy, but too few unused trust bodies are \
                         left to run it again"
                    );
                    return Ok(measured);
                }
            }
            eprintln!(
                "bench: {name}: others took {:.0}% of a core during the run; running it again",
                disturbance * 100.0
            );
        }
    }

    /// A warm-up whose numbers are thrown away, then the measured run.
    fn warm_and_run(
        &mut self,
        name: &str,
        url: &str,
        input: Input<'_>,
        pid: u32,
    ) -> anyhow::Result<(wrk::Report, wrk::Usage)> {
        let warm_up = wrk::Load {
            duration_secs: WARMUP_SECS,
            ..self.load.clone()
        };
        let (report, _) = self.run_wrk(&warm_up, url, input, pid)?;
        if report.non_2xx > 0 || report.socket_errors > 0 {
            bail!("{name}: the warm-up had errors:\n{}", report.raw);
        }
        eprintln!("bench: {name}: {} s under wrk", self.load.duration_secs);
        let load = self.load.clone();
        self.run_wrk(&load, url, input, pid)
    }

    fn run_wrk(
        &mut self,
        load: &wrk::Load,
        url: &str,
        input: Input<'_>,
        pid: u32,
    ) -> anyhow::Result<(wrk::Report, wrk::Usage)> {
        let script = match input {
            Input::None => None,
            Input::Paths(file) => Some(wrk::Script {
                file: &self.scripts.paths,
                args: vec![file.display().to_string()],
            }),
            Input::TrustBodies => {
                let left = self.bodies_total.saturating_sub(self.bodies_used);
                ensure!(
                    left >= 1_000 * load.threads as usize,
                    "only {left} unused trust bodies are left; run with a larger --trust-bodies"
                );
                Some(wrk::Script {
                    file: &self.scripts.bodies,
                    args: vec![
                        "/p2core/session/trust".into(),
                        self.bodies_file.display().to_string(),
                        load.threads.to_string(),
                        self.bodies_used.to_string(),
                    ],
                })
            }
        };
        let (report, usage) = wrk::run(load, url, script.as_ref(), pid)?;
        if let Input::TrustBodies = input {
            let asked = report
                .script_lines
                .iter()
                .find_map(|l| {
                    l.strip_prefix("xtask: bodies asked ")?
                        .split_whitespace()
                        .next()?
                        .parse::<usize>()
                        .ok()
                })
                .context("the trust script did not say how many bodies it used")?;
            eprintln!(
                "bench: trust: {asked} bodies asked for, {} of {} now used",
                self.bodies_used + asked,
                self.bodies_total
            );
            self.bodies_used += asked;
            ensure!(
                self.bodies_used <= self.bodies_total,
                "wrk ran out of unused trust bodies (the server was faster than expected) and sent some \
                 twice; run with a larger --trust-bodies"
            );
        }
        Ok((report, usage))
    }
}

/// Waits until the machine has been quiet for a second (other processes using less than
/// [`QUIET_MACHINE`] of a core), at most `max_wait`; goes on with a warning after that.
fn wait_for_quiet(max_wait: Duration) {
    let ticks = procfs::ticks_per_second();
    let deadline = Instant::now() + max_wait;
    let mut said = false;
    loop {
        let Some(before) = procfs::machine_ticks() else {
            return;
        };
        std::thread::sleep(Duration::from_secs(1));
        let Some(after) = procfs::machine_ticks() else {
            return;
        };
        let busy = ((after.busy - before.busy) + (after.steal - before.steal)) as f64 / ticks;
        if busy < QUIET_MACHINE {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "bench: the machine is still busy ({:.0}% of a core); measuring anyway",
                busy * 100.0
            );
            return;
        }
        if !said {
            eprintln!(
                "bench: the machine is busy ({:.0}% of a core); waiting for it to be quiet",
                busy * 100.0
            );
            said = true;
        }
    }
}

fn bench_config(data_dir: &Path, pool_size: u32) -> String {
    // `log`: warnings only, except the startup line ("listening on …", target `polyhome`) that
    // tells the port. Longer targets win, so the request log (`polyhome::http`) and the
    // libraries' per-request lines stay off.
    format!(
        "# Written by `cargo xtask bench`.\n\
         domain = \"{DOMAIN}\"\n\
         listen = \"127.0.0.1:0\"\n\
         data_dir = \"{}\"\n\
         database_url = \"\"\n\
         database_pool_size = {pool_size}\n\
         body_limit_bytes = 65536\n\
         workers = 0\n\
         log = \"warn,polyhome=info,polyhome::http=warn,polyhome_api=warn,polyhome_store=warn,polyhome_certs=warn\"\n\
         \n\
         # A light argon2id profile, for the bench only: the default (19 MiB, 2 passes) is meant to\n\
         # cost milliseconds per password.\n\
         [password_hashing]\n\
         memory_kib = 64\n\
         iterations = 1\n\
         parallelism = 1\n",
        data_dir.display()
    )
}

/// Two CPUs to pin to, and taskset to pin with.
fn check_machine() -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    ensure!(
        cores >= 2,
        "the bench pins the server to core {SERVER_CORE} and wrk to core {LOAD_CORE}, so it needs two \
         cores; this process may use {cores}"
    );
    ensure!(
        Command::new("taskset").arg("--version").output().is_ok(),
        "taskset is not installed (it is in util-linux: `apt-get install util-linux`)"
    );
    Ok(())
}

/// wrk is the load generator. When it is missing and this runs as root with apt-get, it is
/// installed from the distribution's packages; otherwise the error says how.
fn ensure_wrk() -> anyhow::Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !(root && apt) {
        bail!(
            "wrk, the load generator, is not installed. Install it, e.g. `sudo apt-get install wrk` \
             on Debian or Ubuntu (`dnf install wrk`, `brew install wrk` elsewhere), then run again."
        );
    }
    eprintln!("bench: wrk is missing; installing it with apt-get (running as root)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if !install().is_ok_and(|s| s.success()) {
        run_cmd(Command::new("apt-get").arg("update"))?;
        ensure!(
            install().is_ok_and(|s| s.success()),
            "`apt-get install -y wrk` failed"
        );
    }
    ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk still cannot be run after installing it"
    );
    Ok(())
}

fn target_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        });
    }
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    ensure!(out.status.success(), "cargo metadata failed");
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading cargo metadata")?;
    let dir = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// The wrk scripts, written out for wrk to read.
struct Scripts {
    bodies: PathBuf,
    paths: PathBuf,
}

impl Scripts {
    fn write(dir: &Path) -> anyhow::Result<Scripts> {
        let scripts = Scripts {
            bodies: dir.join("bodies.lua"),
            paths: dir.join("paths.lua"),
        };
        std::fs::write(&scripts.bodies, include_str!("bench/bodies.lua"))?;
        std::fs::write(&scripts.paths, include_str!("bench/paths.lua"))?;
        Ok(scripts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names() {
        assert_eq!(Scenario::parse("key/actor"), Some(Scenario::KeyActor));
        assert_eq!(Scenario::parse("key-server"), Some(Scenario::KeyServer));
        assert_eq!(Scenario::parse("trust"), Some(Scenario::Trust));
        assert_eq!(Scenario::parse("nope"), None);
    }
}
