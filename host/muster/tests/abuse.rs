//! `muster serve` under abuse, as the binary over loopback: a client that trickles its headers
//! (slow loris) is cut off after `[server] header_read_timeout_secs`, one that trickles its body
//! is answered 503 after `request_timeout_secs`, 1,000 idle connections neither stop it
//! answering nor grow its memory beyond what `max_connections` allows, and with `admin_listen`
//! the admin API and the metrics are not on the SCIM listener.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const CONFIG: &str = r#"
state_path = "muster.db"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
header_read_timeout_secs = 2
max_connections = 256
scheduled_sync = false

[source]
kind = "file"
path = "directory.json"

[target]
base_url = "http://127.0.0.1:9/scim2"
token_env = "MUSTER_TARGET_TOKEN"
profile = "zoom"

[[mappings]]
source = "userPrincipalName"
target = "userName"
matching_precedence = 1
"#;

/// A gateway job (SCIM on the main listener) whose requests must be done within 2 s.
const GATEWAY: &str = r#"
state_path = "muster.db"

[source]
kind = "gateway"

[gateway]
token_env = "MUSTER_SCIM_TOKEN"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
request_timeout_secs = 2

[target]
base_url = "http://127.0.0.1:9/scim2"
token_env = "MUSTER_TARGET_TOKEN"
profile = "zoom"

[[mappings]]
source = "userName"
target = "userName"
matching_precedence = 1
"#;

const SCIM_TOKEN: &str = "entra";

/// How long any one step may take before the test gives up: far above what each needs.
const DEADLINE: Duration = Duration::from_secs(60);

struct Served {
    child: Child,
    main: String,
    admin: String,
    /// The rest of its log, one JSON object a line.
    logs: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Served {
    start_with(CONFIG)
}

fn start_with(config_text: &str) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("directory.json"),
        r#"{"people": [], "groups": [], "assignments": []}"#,
    )
    .expect("write the snapshot");
    let config = dir.path().join("muster.toml");
    std::fs::write(&config, config_text).expect("write the config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&config)
        .env("MUSTER_TARGET_TOKEN", "t")
        .env("MUSTER_ADMIN_TOKEN", "admin")
        .env("MUSTER_SCIM_TOKEN", SCIM_TOKEN)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn muster serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut main, mut admin) = (None, None);
    while main.is_none() || admin.is_none() {
        let line = lines
            .recv_timeout(DEADLINE)
            .expect("muster serve logs its addresses");
        let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let address = entry["fields"]["address"].as_str().map(str::to_string);
        match entry["fields"]["message"].as_str() {
            Some("listening") => main = address,
            Some("admin API and metrics listening") => admin = address,
            _ => {}
        }
    }
    Served {
        child,
        main: main.expect("main address"),
        admin: admin.expect("admin address"),
        logs: lines,
        _dir: dir,
    }
}

/// One request on a fresh connection: the status code.
fn get(address: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: muster\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {path}: {answer:?}"))
}

/// Whether the server closed `stream` (end of file or reset) before `deadline`.
fn closed_by_server(stream: &mut TcpStream, deadline: Duration) -> bool {
    stream
        .set_read_timeout(Some(deadline))
        .expect("read timeout");
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_slow_loris_is_cut_off() {
    let served = start();
    let mut stream = TcpStream::connect(&served.main).expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: muster\r\n")
        .expect("the first line");
    // One more header byte every 200 ms: never a whole header within 2 s.
    let started = Instant::now();
    let mut cut_off = false;
    while started.elapsed() < DEADLINE {
        if stream.write_all(b"X").is_err() {
            cut_off = true;
            break;
        }
        if closed_by_server(&mut stream, Duration::from_millis(200)) {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off,
        "a client trickling its headers kept the connection"
    );
    assert_eq!(
        get(&served.main, "/healthz"),
        200,
        "and muster still answers"
    );
}

#[test]
fn a_thousand_idle_connections_neither_stop_it_nor_grow_it() {
    let served = start();
    let pid = served.child.id();
    assert_eq!(get(&served.main, "/healthz"), 200);
    let before = rss_kib(pid);
    let mut idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(&served.main).expect("an idle connection"))
        .collect();
    // At most 256 of them are served at once; the rest wait in the accept queue and are served
    // as the idle ones are cut off. A real request still gets through.
    assert_eq!(
        get(&served.main, "/healthz"),
        200,
        "answered beside 1,000 idle"
    );
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "memory grew by {grown} KiB with 1,000 idle connections"
    );
    // Every idle connection is closed by the server in the end.
    let open = idle
        .iter_mut()
        .map(|s| closed_by_server(s, DEADLINE))
        .filter(|closed| !closed)
        .count();
    assert_eq!(open, 0, "idle connections still open");
    assert_eq!(get(&served.main, "/healthz"), 200);
}

#[test]
fn the_admin_api_and_metrics_have_their_own_listener() {
    let served = start();
    assert_eq!(get(&served.main, "/healthz"), 200);
    assert_eq!(
        get(&served.main, "/metrics"),
        404,
        "no metrics on the main listener"
    );
    assert_eq!(
        get(&served.main, "/admin/status"),
        404,
        "no admin API either"
    );
    assert_eq!(get(&served.admin, "/metrics"), 200);
    assert_eq!(get(&served.admin, "/healthz"), 200);
    assert_eq!(
        get(&served.admin, "/admin/status"),
        401,
        "the admin API, behind its token"
    );
}

#[test]
fn a_client_trickling_its_body_is_answered_503_within_the_request_timeout() {
    let served = start_with(GATEWAY);
    let mut stream = TcpStream::connect(&served.main).expect("connect");
    // Headers at once, then a body announced at 100 kB that comes one byte every 100 ms: it
    // would take hours, and the gateway is reading it.
    write!(
        stream,
        "POST /scim/v2/Users HTTP/1.1\r\nHost: muster\r\nAuthorization: Bearer {SCIM_TOKEN}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 100000\r\n\r\n{{"
    )
    .expect("the headers");
    let mut trickle = stream.try_clone().expect("a second handle");
    let trickling = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < DEADLINE && trickle.write_all(b" ").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // Meanwhile other clients are served, on both listeners.
    assert_eq!(get(&served.main, "/healthz"), 200);
    assert_eq!(get(&served.admin, "/healthz"), 200);

    // The answer comes (a trickle of 100 kB would take hours), then the connection closes: an
    // end of file, or a reset when trickled bytes reach the closed socket.
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let mut answer = Vec::new();
    let ended = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let closed = match &ended {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed,
        "the server neither answered nor closed the connection: {ended:?}, {answer:?}"
    );
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 503"), "{answer}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/scim+json"),
        "{head}"
    );
    let error: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(
        error["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "an RFC 7644 error body: {error}"
    );
    assert_eq!(error["status"], "503", "{error}");
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("a request id")
        .trim()
        .to_string();
    trickling.join().expect("the trickling thread");

    // The edge logged it, under the request's id.
    let until = Instant::now() + DEADLINE;
    let logged = loop {
        let line = served
            .logs
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .expect("the 503 is logged");
        if line.contains(&id) && line.contains("request failed") {
            break line;
        }
    };
    assert!(logged.contains("503"), "{logged}");
    assert_eq!(
        get(&served.main, "/healthz"),
        200,
        "and muster still answers"
    );
}
