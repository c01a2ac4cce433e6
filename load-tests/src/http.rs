//! A minimal HTTP/1.1 client with keep-alive, JSON in and out: enough to join thousands of
//! participants before a run without pulling in an HTTP stack.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpClient {
    port: u16,
    stream: Option<BufReader<TcpStream>>,
}

impl HttpClient {
    pub fn new(port: u16) -> Self {
        HttpClient { port, stream: None }
    }

    /// Sends one request and returns (status, JSON body). Reconnects once if a kept-alive
    /// connection turns out to be closed.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(token) = bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head.push_str(&body);
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            match tokio::time::timeout(TIMEOUT, self.exchange(head.as_bytes())).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(err)) if reused && attempt == 0 => {
                    let _ = err;
                    self.stream = None;
                }
                Ok(Err(err)) => return Err(err),
                Err(_) => {
                    self.stream = None;
                    bail!("HTTP {method} {path} timed out");
                }
            }
        }
        bail!("HTTP {method} {path} failed twice")
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, Value)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let stream = self.stream.as_mut().context("no connection")?;
        stream.get_mut().write_all(request).await?;
        let mut status_line = String::new();
        if stream.read_line(&mut status_line).await? == 0 {
            bail!("connection closed");
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await? == 0 {
                bail!("connection closed in headers");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                match name.as_str() {
                    "content-length" => length = value.parse::<usize>().ok(),
                    "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                stream.read_line(&mut size).await?;
                let size = usize::from_str_radix(size.trim(), 16).context("bad chunk size")?;
                let mut chunk = vec![0; size + 2];
                stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            stream.read_exact(&mut body).await?;
        } else {
            stream.read_to_end(&mut body).await?;
            close = true;
        }
        if close {
            self.stream = None;
        }
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, value))
    }
}
