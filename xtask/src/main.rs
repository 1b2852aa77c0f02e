//! Developer tasks: `cargo xtask <task>`.
//!
//! - `test`  — the whole test suite on SQLite, then the end-to-end suite again on PostgreSQL when
//!   one is reachable (skipped with a note otherwise; `POLYHOME_TEST_REQUIRE_POSTGRES=1` makes that a
//!   failure).
//! - `ci`    — what CI runs: `cargo fmt --check`, clippy with `-D warnings`, then `test`.
//! - `bench` — see `bench.rs`.

mod bench;

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|ci|bench>\n\n  test   run all tests, on SQLite and (when reachable) PostgreSQL\n  ci     fmt --check, clippy -D warnings, then test\n  bench  release-build benchmarks against a control server (see docs/benchmarks.md)");
            bail!("no task given")
        }
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    run(cargo()
        .args(["test", "--workspace"])
        .args(extra)
        .env_remove("POLYHOME_TEST_POSTGRES_URL"))?;

    let url =
        std::env::var("POLYHOME_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
    let required = std::env::var("POLYHOME_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    match postgres_reachable(&url) {
        Ok(()) => {
            eprintln!("xtask: PostgreSQL pass: end-to-end suite against {url}");
            run(cargo()
                .args(["test", "--package", "polyhome", "--test", "e2e"])
                .args(extra)
                .env("POLYHOME_TEST_POSTGRES_URL", &url))?;
        }
        Err(why) if required => bail!("PostgreSQL pass required but {why}"),
        Err(why) => eprintln!(
            "xtask: PostgreSQL pass SKIPPED: {why}. The SQLite pass above ran everything; to run the \
             PostgreSQL pass, start PostgreSQL or set POLYHOME_TEST_POSTGRES_URL."
        ),
    }
    Ok(())
}

/// Whether something listens at the URL's host and port.
fn postgres_reachable(url: &str) -> Result<(), String> {
    let rest = url
        .split("://")
        .nth(1)
        .ok_or_else(|| format!("{url} is not a URL"))?;
    let host_port = rest
        .rsplit('@')
        .next()
        .unwrap_or(rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host_port}"))?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map(drop)
        .map_err(|e| format!("no PostgreSQL server answers at {host_port} ({e})"))
}

fn ci() -> anyhow::Result<()> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    test(&[])
}
