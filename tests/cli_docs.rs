//! Shell completions and the man page (issue 21 item 7), as processes.

use std::io::Write;
use std::process::{Command, Stdio};

const SUBCOMMANDS: &[&str] = &[
    "demo", "call", "answer", "phone", "register", "run", "stun", "sdp", "config",
];

fn generate(args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_icephone"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.trim().is_empty(), "{args:?}: empty output");
    for sub in SUBCOMMANDS {
        assert!(text.contains(sub), "{args:?} does not name {sub}");
    }
    text
}

#[test]
fn completions_name_every_subcommand_and_bash_accepts_them() {
    let bash = generate(&["completions", "bash"]);
    generate(&["completions", "zsh"]);
    generate(&["completions", "fish"]);
    let mut child = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bash.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_names_every_subcommand() {
    let man = generate(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "roff expected:\n{man}"
    );
    assert!(man.contains("icephone"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
