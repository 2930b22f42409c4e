//! A fake SMTP server (RFC 5321) on loopback that keeps what it is sent: the alerts tests
//! mail through it.
//!
//! It speaks the plain dialogue: greeting, EHLO/HELO, MAIL, RCPT, DATA (with dot-unstuffing),
//! RSET, NOOP, QUIT. It leaves out STARTTLS and TLS, AUTH, pipelining, size limits and 8BITMIME
//! conversion, so it takes only a client set to `security = "none"` without a user name; any
//! other command is answered 502.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message as the server took it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-unstuffed.
    pub data: String,
}

pub struct FakeSmtp {
    pub port: u16,
    received: Arc<Mutex<Vec<Mail>>>,
}

impl FakeSmtp {
    pub async fn start() -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = session(stream, kept).await;
                });
            }
        });
        FakeSmtp { port, received }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 fake-smtp ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-fake-smtp\r\n250 HELP\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: address(&command),
                ..Mail::default()
            };
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(address(&command));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                let text = line.strip_prefix('.').unwrap_or(&line);
                mail.data.push_str(text);
            }
            received
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(std::mem::take(&mut mail));
            b"250 OK queued\r\n"
        } else if upper == "RSET" {
            mail = Mail::default();
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// The address inside `<...>` of a MAIL or RCPT command.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_string())
        .unwrap_or_default()
}
