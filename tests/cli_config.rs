//! `icephone config --print` and what the config file accepts (issue 21 item 1), as
//! processes.

use std::process::{Command, Output};

#[path = "support/process.rs"]
mod process;

use process::assert_exit;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icephone-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn icephone(args: &[&str], env_password: Option<&str>) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("20").arg(env!("CARGO_BIN_EXE_icephone")).args(args);
    cmd.env_remove("ICEPHONE_PASSWORD");
    if let Some(p) = env_password {
        cmd.env("ICEPHONE_PASSWORD", p);
    }
    cmd.output().unwrap()
}

/// The line of `key` in the printed settings, which must exist.
fn line<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key} = ` line in:\n{printed}"))
}

#[test]
fn config_print_shows_each_setting_and_where_it_came_from() {
    let dir = scratch("print");
    let file = dir.join("phone.toml");
    std::fs::write(
        &file,
        "proxy = \"127.0.0.1:5070\"\nt1_ms = 400\npassword = \"from-file\"\n[limits]\ntcp_max_connections = 10\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = icephone(
        &["config", "--print", "--config", path, "--t1-ms", "250"],
        Some("from-env"),
    );
    assert_exit(&out, 0);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(line(&printed, "keepalive"), "keepalive = 25  # default");
    assert_eq!(
        line(&printed, "proxy"),
        format!("proxy = \"127.0.0.1:5070\"  # file {path}")
    );
    assert_eq!(line(&printed, "t1_ms"), "t1_ms = 250  # flag");
    assert_eq!(
        line(&printed, "limits.tcp_max_connections"),
        format!("limits.tcp_max_connections = 10  # file {path}")
    );
    // The password is never printed, only where it came from.
    let pw = line(&printed, "password");
    assert!(pw.ends_with("# environment ICEPHONE_PASSWORD"), "{pw}");
    assert!(
        !printed.contains("from-env") && !printed.contains("from-file"),
        "{printed}"
    );
    // Every key the file accepts is printed.
    for key in [
        "aor",
        "transport",
        "bind",
        "codecs",
        "rtcp_mux",
        "srtp",
        "outbound",
        "expires",
    ] {
        line(&printed, key);
    }
}

#[test]
fn config_print_without_a_file_shows_defaults() {
    let out = icephone(&["config", "--print"], None);
    assert_exit(&out, 0);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        line(&printed, "transport"),
        "transport = \"udp\"  # default"
    );
    assert_eq!(
        line(&printed, "codecs"),
        "codecs = [\"pcmu\", \"pcma\"]  # default"
    );
}

/// Keys the file does not take are refused with exit 2, naming the key and the README's list.
#[test]
fn a_key_the_file_does_not_take_is_named() {
    let dir = scratch("unknown");
    let file = dir.join("phone.toml");
    std::fs::write(&file, "duration = 3\n").unwrap();
    let out = icephone(
        &["config", "--print", "--config", file.to_str().unwrap()],
        None,
    );
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`duration`"), "{err}");
    assert!(err.contains("not a config file key"), "{err}");
}

/// The README's example config file is accepted as it is, and the README no longer claims
/// that every flag has a key.
#[test]
fn the_readme_example_config_is_accepted() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(!readme.contains("Every flag can be given in a TOML file"));
    let start = readme
        .find("```toml\naor = ")
        .expect("the README's config example");
    let body = &readme[start + "```toml\n".len()..];
    let example = &body[..body.find("```").unwrap()];
    let dir = scratch("readme");
    let file = dir.join("readme.toml");
    std::fs::write(&file, example).unwrap();
    let out = icephone(
        &["config", "--print", "--config", file.to_str().unwrap()],
        None,
    );
    assert_exit(&out, 0);
}
