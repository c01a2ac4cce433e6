//! Starting the servers under test as child processes on 127.0.0.1, optionally pinned to CPUs with
//! `taskset`: the real `makeroom` binary (alone, or several instances on Redis), the Socket.IO peer
//! (`node peer/server.js`), the floor relay (`floor-relay`), Redis and HAProxy. Every child is
//! killed when its handle is dropped; the chaos scenario also kills (SIGKILL) and restarts Redis and
//! Makeroom instances on purpose.

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
    /// Listen on this port (to restart an instance where its proxy expects it); 0 or `None`: any.
    pub port: Option<u16>,
    /// Cluster mode: the Redis every instance shares (`--redis`).
    pub redis_url: Option<String>,
    /// `--no-demo`: on a shared Redis only the first instance may create the demo event.
    pub no_demo: bool,
}

impl MakeroomOptions {
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        MakeroomOptions {
            bin: bin.into(),
            cpus: None,
            extra_args: Vec::new(),
            port: None,
            redis_url: None,
            no_demo: false,
        }
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
        let bind = format!("127.0.0.1:{}", options.port.unwrap_or(0));
        command.arg("serve").args(["--bind", &bind, "--data"]).arg(data.path());
        if let Some(url) = &options.redis_url {
            command.args(["--redis", url]);
        }
        if options.no_demo {
            command.arg("--no-demo");
        }
        command
            // Load runs measure throughput, not the per-connection abuse limit.
            .args(["--requests-per-second", "100000", "--request-burst", "100000"])
            .args(["--participant-requests-per-second", "100000", "--participant-request-burst", "100000"])
            // Thousands of simulated phones join from one address, far faster than a venue does.
            .args(["--api-requests-per-second", "100000", "--api-request-burst", "100000"])
            .args(["--event-joins-per-second", "100000", "--event-join-burst", "100000"])
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
        // With `--no-demo` on an empty store there is no event, so no links to print.
        if port == 0 || (!options.no_demo && (join_code.is_empty() || organiser_refresh.is_empty())) {
            bail!("makeroom did not print its port, join code and organiser link");
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Makeroom { child, port, join_code, organiser_refresh, _data: data })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGKILL, as a crash would, and waits for the process to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
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
        let port = listening_port(&mut child, "peer listening on ")
            .await
            .context("the Socket.IO peer did not print its port (did `npm install` run in peer/?)")?;
        Ok(Peer { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

/// The floor relay (`floor-relay`, built beside `makeroom-load`): stores nothing, frames each
/// message once; what the stack allows.
pub struct FloorRelay {
    child: Child,
    pub port: u16,
}

impl FloorRelay {
    pub async fn start(bin: &Path, cpus: Option<&str>) -> Result<Self> {
        if !bin.exists() {
            bail!("no floor relay at {} (build it with `cargo build --release -p makeroom-load`)", bin.display());
        }
        let mut command = pinned(bin, cpus);
        command.args(["--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let port = listening_port(&mut child, "floor relay listening on 127.0.0.1:").await?;
        Ok(FloorRelay { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

/// Reads a child's stdout until a line `PREFIX PORT`; the rest of its output is read and dropped
/// so the child never blocks on a full pipe.
async fn listening_port(child: &mut Child, prefix: &str) -> Result<u16> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut port = 0u16;
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.trim().strip_prefix(prefix) {
                port = rest.trim().parse().unwrap_or(0);
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(START_TIMEOUT, read).await.context("it did not start in time")??;
    if port == 0 {
        bail!("it did not print `{prefix}PORT`");
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(port)
}

/// A private `redis-server` on a free port (never the machine's shared 6379). By default it keeps
/// nothing on disk (the Socket.IO adapter needs only pub/sub); [`Redis::start_durable`] keeps an
/// append-only file fsynced on every write, the setting under which Makeroom's guarantee holds.
pub struct Redis {
    child: Child,
    pub port: u16,
    cpus: Option<String>,
    /// The folder of the append-only file, for a durable Redis.
    dir: Option<tempfile::TempDir>,
}

impl Redis {
    pub async fn start(cpus: Option<&str>) -> Result<Self> {
        let port = free_port()?;
        let child = Self::spawn(cpus, port, None).await?;
        Ok(Redis { child, port, cpus: cpus.map(str::to_string), dir: None })
    }

    /// `appendonly yes`, `appendfsync always`, in a fresh temporary folder.
    pub async fn start_durable(cpus: Option<&str>) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("makeroom-load-redis-").tempdir()?;
        let port = free_port()?;
        let child = Self::spawn(cpus, port, Some(dir.path())).await?;
        Ok(Redis { child, port, cpus: cpus.map(str::to_string), dir: Some(dir) })
    }

    async fn spawn(cpus: Option<&str>, port: u16, dir: Option<&Path>) -> Result<Child> {
        let bin = which("redis-server").context("redis-server is not installed")?;
        let mut command = pinned(&bin, cpus);
        command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "yes"]);
        match dir {
            Some(dir) => {
                command.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"]).arg(dir);
            }
            None => {
                command.args(["--appendonly", "no"]);
            }
        }
        command.stdout(Stdio::null()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut child = command.spawn().context("starting redis-server")?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("redis-server exited ({status}) before listening on {port}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("redis-server did not listen on {port} in time");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(child)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts Redis again on the same port with the same data (after [`Redis::kill`]).
    pub async fn restart(&mut self) -> Result<()> {
        let dir = self.dir.as_ref().map(|d| d.path().to_path_buf());
        self.child = Self::spawn(self.cpus.as_deref(), self.port, dir.as_deref()).await?;
        Ok(())
    }
}

/// HAProxy in front of Makeroom instances, configured from `deploy/haproxy.cfg` (the same template
/// `scripts/cluster` uses) with local ports: health checks on `/readyz`, `leastconn`.
pub struct Haproxy {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// The deployment's HAProxy configuration, built in so the generator tests what is deployed.
const HAPROXY_TEMPLATE: &str = include_str!("../../deploy/haproxy.cfg");

/// `deploy/haproxy.cfg` listening on `127.0.0.1:port` with `instances` as its servers.
pub fn haproxy_config(port: u16, instances: &[u16]) -> String {
    let mut config: String = HAPROXY_TEMPLATE
        .lines()
        .filter(|line| !line.trim_start().starts_with("server makeroom-"))
        .map(|line| line.replace("bind *:8080", &format!("bind 127.0.0.1:{port}")) + "\n")
        .collect();
    for (i, instance) in instances.iter().enumerate() {
        config.push_str(&format!("    server instance-{i} 127.0.0.1:{instance}\n"));
    }
    config
}

impl Haproxy {
    pub async fn start(cpus: Option<&str>, instances: &[u16]) -> Result<Self> {
        let bin = which("haproxy")
            .or_else(|| Some(PathBuf::from("/usr/sbin/haproxy")).filter(|p| p.is_file()))
            .context("haproxy is not installed (apt-get install haproxy)")?;
        let dir = tempfile::Builder::new().prefix("makeroom-load-haproxy-").tempdir()?;
        let port = free_port()?;
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, haproxy_config(port, instances))?;
        let log = std::fs::File::create(dir.path().join("haproxy.log"))?;
        let mut command = pinned(&bin, cpus);
        command.arg("-f").arg(&path).arg("-db").stdout(Stdio::null()).stderr(log).kill_on_drop(true);
        let mut child = command.spawn().context("starting haproxy")?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            let failed = match child.try_wait() {
                Ok(Some(status)) => Some(format!("haproxy exited ({status})")),
                _ if tokio::time::Instant::now() > deadline => Some("haproxy did not listen in time".into()),
                _ => None,
            };
            if let Some(failed) = failed {
                let log = std::fs::read_to_string(dir.path().join("haproxy.log")).unwrap_or_default();
                bail!("{failed}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Haproxy { child, port, _dir: dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|path| path.is_file())
}
