//! The servers under test: started pinned to a core, told apart by the address they print.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A temporary directory, removed at the end unless kept.
pub(super) struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    pub(super) fn new(keep: bool) -> anyhow::Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("polyhome-bench-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir { path, keep })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A server process pinned to one core, whose output is logged to a file.
pub(super) struct Pinned {
    child: Child,
    pub(super) addr: SocketAddr,
    log: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Pinned {
    /// Starts `bin args` under `taskset -c core` and waits for it to print
    /// `listening on http://ADDR` (on either output).
    pub(super) fn start(
        bin: &Path,
        args: &[&std::ffi::OsStr],
        core: u32,
        log: PathBuf,
    ) -> anyhow::Result<Pinned> {
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(core.to_string())
            .arg(bin)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
        for pipe in [stdout, stderr] {
            let (lines, tx) = (lines.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listening_addr(&line) {
                        let _ = tx.send(addr);
                    }
                    let mut lines = lines.lock().unwrap();
                    lines.push(line);
                }
            });
        }
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = child.try_wait()? {
                        std::thread::sleep(Duration::from_millis(200));
                        bail!(
                            "{} exited ({status}) before listening:\n{}",
                            bin.display(),
                            lines.lock().unwrap().join("\n")
                        );
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    bail!(
                        "{} did not say \"listening on http://…\" within 30 s:\n{}",
                        bin.display(),
                        lines.lock().unwrap().join("\n")
                    );
                }
            }
        };
        Ok(Pinned {
            child,
            addr,
            log,
            lines,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the server exited ({status}) during the bench:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
        }
        Ok(())
    }

    /// Stops the process (it must still be running) and saves its output to the log file.
    pub(super) fn stop(mut self) -> anyhow::Result<()> {
        self.check_alive()?;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines = self.lines.lock().unwrap().join("\n");
        std::fs::write(&self.log, lines)?;
        Ok(())
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a line containing `listening on http://ADDR`.
pub(super) fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listening_address() {
        let line = "2026-01-01T00:00:00Z  INFO polyhome: polyhome listening on http://127.0.0.1:4321 for domain x";
        assert_eq!(
            listening_addr(line),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        assert_eq!(
            listening_addr("control listening on http://127.0.0.1:80"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(listening_addr("nothing"), None);
    }
}
