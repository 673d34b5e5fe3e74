//! `icephone phone`'s console in a pseudo-terminal (tmux), on loopback: phone A is typed at
//! (Tab completion, `call`, `hold`, `resume`, `dtmf`, `transfer`, `quit`); phone B is a
//! second `icephone phone` driven through its control socket (it answers, and is the
//! transferee); C is `icephone answer`, the transfer target. A calls B with ICE, holds and
//! resumes, sends DTMF that B receives, then transfers B to C: A sees the REFER accepted and
//! the NOTIFYs, B calls C with ICE, and A's call ends.

mod phone_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use phone_support::{call_state, free_port, ice_selected, scratch, Control, Proc, BIN};

const T: Duration = Duration::from_secs(15);

/// A tmux server of our own (its own socket, `-L`), with one session running phone A.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is missing: install the Debian package tmux (test.sh does)")
    }

    /// Starts `command` in a 200x100 terminal.
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("icephone-test-{}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "a",
            "-x",
            "200",
            "-y",
            "100",
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    /// Types `text` literally, then Enter.
    fn line(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", "a", "-l", text])
            .status
            .success());
        assert!(self
            .run(&["send-keys", "-t", "a", "Enter"])
            .status
            .success());
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "a"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// The terminal's text, scrollback included.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-S", "-5000", "-t", "a"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (at most `limit`) until the terminal shows `text`.
    fn wait_for(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.screen().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the console never showed {text:?} within {limit:?}:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only our own server (its socket): the shell in it and phone A end with it.
        let _ = self.run(&["kill-server"]);
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn a_person_calls_holds_sends_dtmf_and_transfers_at_the_console() {
    let dir = scratch("phone-console");
    let (a_port, b_port, c_port) = (free_port(), free_port(), free_port());
    let c_bind = format!("127.0.0.1:{c_port}");
    let c = Proc::start(
        &dir,
        "c",
        &[
            "answer",
            "--json",
            "--bind",
            &c_bind,
            "--aor",
            "sip:carol@127.0.0.1",
        ],
    );
    let b_sock = dir.join("b.sock");
    let b_control = format!("unix:{}", b_sock.display());
    let b_bind = format!("127.0.0.1:{b_port}");
    let mut b = Proc::start(
        &dir,
        "b",
        &[
            "phone",
            "--bind",
            &b_bind,
            "--aor",
            "sip:bob@127.0.0.1",
            "--control",
            &b_control,
        ],
    );
    let mut b_ctl = Control::connect(&b_control);

    // Phone A in a terminal; its stderr (the per-event lines) to a file, so the screen
    // holds the console's own lines. The shell stays after A exits to show its exit code.
    let a_cmd = format!(
        "XDG_STATE_HOME={dir} {bin} phone --bind 127.0.0.1:{a_port} --aor sip:alice@127.0.0.1 --tone 440 2>{err}; echo \"phone exited $?\"; sleep 60",
        dir = shell_quote(&dir),
        bin = shell_quote(Path::new(BIN)),
        err = shell_quote(&dir.join("a.err")),
    );
    let a = Tmux::start(&a_cmd);
    a.wait_for("icephone> ", T);

    // Tab completes a command name: `hel` + Tab runs `help`.
    a.keys(&["-l", "hel"]);
    a.wait_for("icephone> hel", T);
    a.keys(&["Tab"]);
    a.wait_for("icephone> help", T);
    a.keys(&["Enter"]);
    a.wait_for("blind transfer (REFER, RFC 3515)", T);
    a.line("frobnicate");
    a.wait_for("error: unknown command `frobnicate` (try `help`)", T);

    a.line(&format!("call sip:bob@127.0.0.1:{b_port}"));
    b_ctl.until(T, "B's incoming call", |v| call_state(v, 1, "incoming"));
    assert_eq!(
        b_ctl.command(json!({"command": "answer"}))["response"],
        "ok"
    );
    a.wait_for("call 1: established 200", T);
    a.wait_for("call 1: media path host 127.0.0.1:", T);
    b_ctl.until(T, "ICE selected at B", |v| ice_selected(v, 1));

    // The check list from the call's ICE agent, with the succeeded pair.
    a.line("pairs");
    a.wait_for("check list (", T);
    a.wait_for("  Succeeded host 127.0.0.1:", T);
    // The level meter: A plays a tone, so its own side fills cells (silence shows none).
    a.line("level");
    a.wait_for("call 1: ours [#####", T);
    a.line("mute");
    a.wait_for("call 1: muted", T);
    a.line("unmute");
    a.wait_for("call 1: unmuted", T);
    a.line("stats");
    a.wait_for("DTMF sent", T);

    a.line("hold");
    a.wait_for("call 1: hold (re-INVITE a=sendonly)", T);
    b_ctl.until(T, "B on hold", |v| call_state(v, 1, "hold"));
    a.line("resume");
    a.wait_for("call 1: resumed (re-INVITE a=sendrecv)", T);
    b_ctl.until(T, "B resumed", |v| call_state(v, 1, "resumed"));

    a.line("dtmf 12#");
    for digit in ["1", "2", "#"] {
        b_ctl.until(T, &format!("DTMF {digit} at B"), |v| {
            v["event"] == "dtmf" && v["direction"] == "received" && v["digit"] == digit
        });
    }

    // Blind transfer: REFER (202), NOTIFY 100 … 200, then A hangs up.
    a.line(&format!("transfer sip:carol@127.0.0.1:{c_port}"));
    a.wait_for("call 1: transfer accepted 202", T);
    a.wait_for("call 1: transfer progress 100: Trying", T);
    a.wait_for("call 1: transfer succeeded 200", T);
    a.wait_for("call 1: over", T);
    // The call's last events (its media summary, `ended`) are shown before it is forgotten.
    let screen = a.screen();
    let over = screen.find("call 1: over").unwrap();
    let media = screen
        .find("call 1: media PCMU")
        .expect("media summary on the console");
    let ended = screen.find("call 1: ended").expect("ended on the console");
    assert!(media < over && ended < over, "{screen}");
    let requested = b_ctl.seen_or_until(T, "B's transfer request", |v| {
        v["event"] == "transfer" && v["state"] == "requested"
    });
    assert_eq!(requested["call"], 1, "{requested}");
    b_ctl.seen_or_until(T, "B's call 2 to C established", |v| {
        call_state(v, 2, "established")
    });
    b_ctl.seen_or_until(T, "ICE selected on B's call 2", |v| ice_selected(v, 2));
    b_ctl.seen_or_until(T, "B's old call ended by A", |v| call_state(v, 1, "ended"));
    assert!(
        b_ctl.saw(|v| v["event"] == "transfer" && v["state"] == "notified" && v["status"] == 200),
        "B sent the final NOTIFY (200): {:#?}",
        b_ctl.seen
    );
    c.wait_event(T, "C's call established", |v| {
        v["event"] == "call" && v["state"] == "established"
    });
    c.wait_event(T, "ICE selected at C", |v| {
        v["event"] == "ice" && v["state"] == "selected"
    });

    // B hangs up on C; A quits.
    let r = b_ctl.command(json!({"command": "hangup"}));
    assert_eq!(r["call"], 2, "{r}");
    c.wait_event(T, "C's call ended", |v| {
        v["event"] == "call" && v["state"] == "ended"
    });
    a.line("calls");
    a.wait_for("no calls", T);
    if std::env::var_os("PHONE_SCREEN").is_some() {
        eprintln!("{}", a.screen());
    }
    a.line("quit");
    a.wait_for("phone exited 0", T);
    assert_eq!(b_ctl.command(json!({"command": "quit"}))["response"], "ok");
    assert_eq!(
        b.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        b.stderr()
    );
    // The history was kept where XDG_STATE_HOME says.
    let history = std::fs::read_to_string(dir.join("icephone/phone_history")).unwrap();
    assert!(history.contains("dtmf 12#"), "{history}");
}
