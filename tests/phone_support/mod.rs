//! Helpers for the `icephone phone` tests: processes whose output goes to files and that
//! are ended (by their own PID) when the test is done, a control-socket client that reads
//! events until one matches (always with a deadline), and free loopback ports.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_icephone");

/// A port free for UDP and TCP on 127.0.0.1 (SIP and the control socket).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP in 50 tries");
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icephone-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A process started by the test, its stdout and stderr in `dir/NAME.out` / `.err`. Ended
/// by its PID when dropped, if it has not exited.
pub struct Proc {
    pub child: Child,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Proc {
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Proc {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = Command::new(BIN)
            .args(args)
            .env("XDG_STATE_HOME", dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Proc { child, out, err }
    }

    /// Waits (at most `limit`) for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The NDJSON events on stdout so far (`--json`); lines that are not JSON are skipped.
    pub fn events(&self) -> Vec<Value> {
        self.stdout()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (at most `limit`) for an event on stdout that `pred` accepts.
    pub fn wait_event(&self, limit: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.events().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A control-socket client: JSON lines out, responses and events in.
pub struct Control {
    reader: BufReader<Box<dyn std::io::Read + Send>>,
    writer: Box<dyn Write + Send>,
    /// Every line read so far.
    pub seen: Vec<Value>,
}

impl Control {
    /// Connects to `tcp:…` or `unix:…`, retrying for up to 10 s while the phone starts.
    pub fn connect(addr: &str) -> Control {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let streams: std::io::Result<(Box<dyn std::io::Read + Send>, Box<dyn Write + Send>)> =
                if let Some(a) = addr.strip_prefix("tcp:") {
                    std::net::TcpStream::connect(a).and_then(|s| {
                        s.set_read_timeout(Some(Duration::from_millis(200)))?;
                        Ok((Box::new(s.try_clone()?) as _, Box::new(s) as _))
                    })
                } else {
                    let path = addr.strip_prefix("unix:").expect("tcp: or unix:");
                    std::os::unix::net::UnixStream::connect(path).and_then(|s| {
                        s.set_read_timeout(Some(Duration::from_millis(200)))?;
                        Ok((Box::new(s.try_clone()?) as _, Box::new(s) as _))
                    })
                };
            match streams {
                Ok((r, w)) => {
                    return Control {
                        reader: BufReader::new(r),
                        writer: w,
                        seen: Vec::new(),
                    }
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot connect to {addr}: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    pub fn send(&mut self, command: Value) {
        writeln!(self.writer, "{command}").unwrap();
        self.writer.flush().unwrap();
    }

    /// Reads lines until one that `pred` accepts (at most `limit`); it is returned.
    pub fn until(&mut self, limit: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("the control socket closed while waiting for {what}"),
                Ok(_) => {
                    let v: Value = serde_json::from_str(line.trim())
                        .unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("control socket: {e}"),
            }
        }
        panic!("no {what} within {limit:?}; seen: {:#?}", self.seen);
    }

    /// Sends `command` and returns its response line (events before it are kept in `seen`).
    pub fn command(&mut self, command: Value) -> Value {
        self.send(command.clone());
        self.until(
            Duration::from_secs(10),
            &format!("response to {command}"),
            |v| v.get("response").is_some(),
        )
    }

    /// As [`Control::until`], but an event already read counts too (for events whose
    /// order against each other is not fixed).
    pub fn seen_or_until(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        self.until(limit, what, pred)
    }

    /// Whether an event `pred` accepts was already read.
    pub fn saw(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.seen.iter().any(pred)
    }
}

/// `event` is a `call` event of call `n` in `state`.
pub fn call_state(v: &Value, n: u64, state: &str) -> bool {
    v["event"] == "call" && v["call"] == n && v["state"] == state
}

/// `event` is an ICE `selected` event of call `n`.
pub fn ice_selected(v: &Value, n: u64) -> bool {
    v["event"] == "ice" && v["call"] == n && v["state"] == "selected"
}
