//! A PulseAudio daemon of the test's own, with null sinks as sound cards, for tests that put
//! audio through real sound devices (`--audio-device pulse`: cpal → ALSA → the `pulse` PCM of
//! `libasound2-plugins` → this daemon).
//!
//! How it runs (found on Debian 12, pulseaudio 16.1, as root):
//! - `pulseaudio --daemonize=no --exit-idle-time=-1 -n -F <config> --use-pid-file=no
//!   --disable-shm=yes`: `-n` skips default.pa, so nothing probes real hardware; the config
//!   loads the native protocol on a socket in the temp dir (`auth-anonymous=1`: no cookie)
//!   and one `module-null-sink` per name.
//! - As root it warns "not intended to be run as root (unless --system is specified)" and
//!   runs anyway; `--system` is not needed (and would want the `pulse` user and
//!   /var/run/pulse). HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, PULSE_RUNTIME_PATH and
//!   PULSE_STATE_PATH all point into the temp dir, so nothing of root's is read or written.
//! - Clients (pactl, paplay, parec and icephone through ALSA) get `PULSE_SERVER=unix:<socket>`
//!   and the same HOME/XDG dirs; `PULSE_SINK` / `PULSE_SOURCE` choose which null sink (or
//!   its `.monitor`) the `pulse` ALSA device plays to or records from.
//!
//! If the daemon does not come up the test panics with its log: never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon and every client process started through it; all are killed (by PID) on drop.
pub struct Pulse {
    pub dir: PathBuf,
    daemon: Child,
    children: Vec<Child>,
}

impl Pulse {
    /// Starts a daemon with a null sink per name (48 kHz mono).
    pub fn start(tag: &str, sinks: &[&str]) -> Pulse {
        let dir = std::env::temp_dir().join(format!("icephone-pulse-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("native");
        let mut config = format!(
            "load-module module-native-protocol-unix socket={} auth-anonymous=1\n",
            socket.display()
        );
        for s in sinks {
            config.push_str(&format!(
                "load-module module-null-sink sink_name={s} rate=48000 channels=1\n"
            ));
        }
        std::fs::write(dir.join("test.pa"), config).unwrap();
        let log = std::fs::File::create(dir.join("pulse.log")).unwrap();
        let mut cmd = Command::new("pulseaudio");
        cmd.args(["--daemonize=no", "--exit-idle-time=-1", "-n", "-F"])
            .arg(dir.join("test.pa"))
            .args([
                "--use-pid-file=no",
                "--disable-shm=yes",
                "--log-target=stderr",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        Self::env(&dir, &mut cmd);
        let daemon = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start pulseaudio ({e}); install pulseaudio pulseaudio-utils libasound2-plugins (test.sh does)")
        });
        let mut pulse = Pulse {
            dir,
            daemon,
            children: Vec::new(),
        };
        pulse.wait_ready();
        pulse
    }

    fn env(dir: &Path, cmd: &mut Command) {
        cmd.env("HOME", dir)
            .env("XDG_RUNTIME_DIR", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("PULSE_RUNTIME_PATH", dir.join("runtime"))
            .env("PULSE_STATE_PATH", dir.join("state"))
            .env(
                "PULSE_SERVER",
                format!("unix:{}", dir.join("native").display()),
            );
    }

    /// `cmd` set up to reach this daemon.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        Self::env(&self.dir, &mut cmd);
        cmd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pulse.log")).unwrap_or_default()
    }

    /// Until `pactl info` answers (10 s at most), else a panic with the daemon's log.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.daemon.try_wait() {
                panic!("pulseaudio exited ({status}) at start:\n{}", self.log());
            }
            let ok = self
                .command("pactl")
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("pulseaudio did not answer within 10 s:\n{}", self.log());
    }

    /// Starts a client (killed on drop) and returns its index for [`Pulse::stop`].
    pub fn spawn(&mut self, cmd: &mut Command) -> usize {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits for client `i` to exit, `limit` at most (then a panic; the drop kills it).
    pub fn wait(&mut self, i: usize, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.children[i].try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process {i} still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ends client `i`: SIGTERM by its PID (parec then writes out what it holds), SIGKILL
    /// if it is still there after 2 s; reaped either way.
    pub fn stop(&mut self, i: usize) {
        let pid = self.children[i].id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.children[i].try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
