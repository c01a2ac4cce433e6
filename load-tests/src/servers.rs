//! Starting the servers under test as child processes on 127.0.0.1, optionally pinned to CPUs with
//! `taskset`: the real `makeroom` binary, the Socket.IO peer (`node peer/server.js`) and Redis.
//! Every child is killed when its handle is dropped.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The signing secret of the servers the generator starts (tokens are still minted over HTTP).
pub const JWT_SECRET: &str = "makeroom-load-secret-makeroom-load-secret-0123";

/// How long a server gets to print that it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a command, prefixed with `taskset -c CPUS` when CPUs are given.
fn pinned(program: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpus).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A running `makeroom serve` with its data folder and the demo event's credentials.
pub struct Makeroom {
    child: Child,
    pub port: u16,
    pub join_code: String,
    pub organiser_refresh: String,
    _data: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct MakeroomOptions {
    pub bin: PathBuf,
    pub cpus: Option<String>,
    /// Extra `serve` flags (`--workers 1`, `--outbox-capacity 4096`, ...).
    pub extra_args: Vec<String>,
}

impl MakeroomOptions {
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        MakeroomOptions { bin: bin.into(), cpus: None, extra_args: Vec::new() }
    }
}

impl Makeroom {
    pub async fn start(options: &MakeroomOptions) -> Result<Self> {
        if !options.bin.exists() {
            bail!(
                "no makeroom binary at {} (build it with `cargo build --release -p makeroom-server`)",
                options.bin.display()
            );
        }
        let data = tempfile::Builder::new().prefix("makeroom-load-").tempdir()?;
        let mut command = pinned(&options.bin, options.cpus.as_deref());
        command
            .arg("serve")
            .args(["--bind", "127.0.0.1:0", "--data"])
            .arg(data.path())
            // Load runs measure throughput, not the per-connection abuse limit.
            .args(["--requests-per-second", "100000", "--request-burst", "100000"])
            .args(["--participant-requests-per-second", "100000", "--participant-request-burst", "100000"])
            .args(&options.extra_args)
            .env("MAKEROOM_JWT_SECRET", JWT_SECRET)
            .env("MAKEROOM_LOG", std::env::var("MAKEROOM_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("starting {}", options.bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut port, mut join_code, mut organiser_refresh) = (0u16, String::new(), String::new());
        let read = async {
            while let Some(line) = lines.next_line().await? {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("Makeroom is listening on http://127.0.0.1:") {
                    port = rest.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0);
                } else if let Some(link) = line.strip_prefix("organiser:") {
                    if organiser_refresh.is_empty() {
                        organiser_refresh = link
                            .split_once("#refresh=")
                            .map(|(_, t)| t.split('&').next().unwrap_or_default().trim().to_string())
                            .unwrap_or_default();
                    }
                } else if let Some(rest) = line.strip_prefix("join code:") {
                    if join_code.is_empty() {
                        join_code = rest.split_whitespace().next().unwrap_or("").to_string();
                    }
                } else if line.starts_with("Press Ctrl-C") {
                    break;
                }
            }
            anyhow::Ok(())
        };
        tokio::time::timeout(START_TIMEOUT, read).await.context("makeroom did not start in time")??;
        if port == 0 || join_code.is_empty() || organiser_refresh.is_empty() {
            bail!("makeroom did not print its port, join code and organiser link");
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Makeroom { child, port, join_code, organiser_refresh, _data: data })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

/// One instance of the Socket.IO peer (`peer/server.js`).
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Peer {
    /// Starts `node server.js` in `dir`; with `redis_url` it uses `@socket.io/redis-adapter`.
    pub async fn start(dir: &Path, cpus: Option<&str>, redis_url: Option<&str>) -> Result<Self> {
        let node = which("node").context("node is not installed")?;
        let mut command = pinned(&node, cpus);
        command
            .arg("server.js")
            .current_dir(dir)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        let mut child = command.spawn().context("starting the Socket.IO peer")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut port = 0u16;
        let read = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.trim().strip_prefix("peer listening on ") {
                    port = rest.trim().parse().unwrap_or(0);
                    break;
                }
            }
            anyhow::Ok(())
        };
        tokio::time::timeout(START_TIMEOUT, read).await.context("the Socket.IO peer did not start in time")??;
        if port == 0 {
            bail!("the Socket.IO peer did not print its port (did `npm install` run in peer/?)");
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Peer { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

/// A private `redis-server` on a free port (never the machine's shared 6379), keeping nothing on disk.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub async fn start(cpus: Option<&str>) -> Result<Self> {
        let bin = which("redis-server").context("redis-server is not installed")?;
        let port = free_port()?;
        let mut command = pinned(&bin, cpus);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().context("starting redis-server")?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("redis-server did not listen on {port} in time");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Redis { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|path| path.is_file())
}
