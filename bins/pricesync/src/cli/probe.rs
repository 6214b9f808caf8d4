//! `pricesync probe`: the health check of a container or a supervisor,
//! with nothing but the binary. It asks the server on
//! `PRICESYNC_BIND_ADDR` (an unspecified address such as `0.0.0.0` is
//! reached on loopback) for `GET /health`, or `GET /ready` with `--ready`,
//! and exits 0 on a 200, 1 otherwise with one line on stderr.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The address a probe on this machine reaches `bind` at.
fn probe_address(bind: SocketAddr) -> SocketAddr {
    match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, bind.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, bind.port()).into(),
        _ => bind,
    }
}

/// The status line's code of `GET path` on `address`.
async fn status_of(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    // The status line is in the first bytes; the body does not matter.
    let mut head = vec![0u8; 256];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        let n = stream.read(&mut head[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let line = String::from_utf8_lossy(&head[..read]);
    Ok(line.lines().next().unwrap_or_default().trim().to_owned())
}

/// Probes the server configured by `bind`; `ready` asks `/ready`.
pub async fn probe(bind: SocketAddr, ready: bool, timeout: Duration) -> ExitCode {
    let address = probe_address(bind);
    let path = if ready { "/ready" } else { "/health" };
    match tokio::time::timeout(timeout, status_of(address, path)).await {
        Ok(Ok(line)) if line.split(' ').nth(1) == Some("200") => ExitCode::SUCCESS,
        Ok(Ok(line)) => {
            eprintln!("GET http://{address}{path}: {line}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("GET http://{address}{path}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "GET http://{address}{path}: no answer within {} s",
                timeout.as_secs_f64()
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_bind_address_is_probed_on_loopback() {
        let probed = |bind: &str| probe_address(bind.parse().expect("address")).to_string();
        assert_eq!(probed("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probed("[::]:9000"), "[::1]:9000");
        assert_eq!(probed("10.1.2.3:8080"), "10.1.2.3:8080");
    }
}
