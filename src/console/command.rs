//! The phone's commands, as typed on the console (`call sip:bob@…`) or sent on the control
//! socket as JSON (`{"command":"call","uri":"sip:bob@…"}`): one parser for both, so the two
//! take exactly the same commands. Bad input is an error message, never a panic.

/// One command of `icephone phone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Place a call; `from` names the account (accounts file) to call from.
    Call {
        uri: String,
        from: Option<String>,
    },
    /// Answer the newest ringing call.
    Answer,
    /// Reject the newest ringing call (486 Busy Here).
    Reject,
    HangUp,
    Hold,
    Resume,
    /// Send silence instead of our audio (true) or our audio again (false).
    Mute(bool),
    Dtmf(String),
    RestartIce,
    Pairs,
    /// The level meter of the selected call: our audio and the peer's, in dBFS.
    Level,
    Stats,
    /// Blind transfer of the selected call to this URI (RFC 3515 REFER).
    Transfer(String),
    /// Commands go to call N from now on.
    Switch(u32),
    Calls,
    /// Outgoing calls use account N (1-based, as `accounts` lists them) from now on.
    Account(u32),
    Accounts,
    Help,
    Quit,
}

/// Every command name, for Tab completion and `help`.
pub const NAMES: &[&str] = &[
    "call",
    "answer",
    "reject",
    "hangup",
    "hold",
    "resume",
    "mute",
    "unmute",
    "dtmf",
    "restart-ice",
    "pairs",
    "level",
    "stats",
    "transfer",
    "switch",
    "calls",
    "account",
    "accounts",
    "help",
    "quit",
];

/// `help`'s text: one line per command.
pub const HELP: &str = "\
call URI [from NAME]  place a call (from the named account of --accounts)
answer                answer the newest ringing call
reject                reject the newest ringing call (486 Busy Here)
hangup                hang up the selected call (CANCEL while ringing, BYE after)
hold | resume         re-INVITE a=sendonly / a=sendrecv
mute | unmute         send silence instead of our audio / our audio again
dtmf DIGITS           RFC 4733 digits, e.g. dtmf 123#
restart-ice           ICE restart (RFC 8445 §9)
pairs                 the ICE states and pairs seen for the selected call
level                 level meter of the selected call: our audio and the peer's (dBFS)
stats                 state, selected path and timings of the selected call
transfer URI          blind transfer (REFER, RFC 3515) of the selected call
switch N              commands go to call N
calls                 list the calls
account N | accounts  call from account N / list the accounts
help                  this list
quit                  hang up every call, unregister and exit";

/// Parses one console line. Empty lines are `Ok(None)`.
pub fn parse_line(line: &str) -> Result<Option<Command>, String> {
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let args: Vec<&str> = words.collect();
    let none = |c: Command| -> Result<Option<Command>, String> {
        if args.is_empty() {
            Ok(Some(c))
        } else {
            Err(format!("`{name}` takes no arguments"))
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "call" | "dial" => match args.as_slice() {
            [uri] => Ok(Some(Command::Call {
                uri: sip_uri(uri)?,
                from: None,
            })),
            [uri, "from", account] => Ok(Some(Command::Call {
                uri: sip_uri(uri)?,
                from: Some((*account).to_owned()),
            })),
            _ => Err("usage: call URI [from ACCOUNT]".into()),
        },
        "answer" | "a" => none(Command::Answer),
        "reject" => none(Command::Reject),
        "hangup" | "bye" | "h" => none(Command::HangUp),
        "hold" => none(Command::Hold),
        "resume" | "unhold" => none(Command::Resume),
        "mute" => none(Command::Mute(true)),
        "unmute" => none(Command::Mute(false)),
        "dtmf" => match args.as_slice() {
            [digits] => {
                crate::cli_values::dtmf_digits(digits).map_err(|e| format!("dtmf: {e}"))?;
                Ok(Some(Command::Dtmf((*digits).to_owned())))
            }
            _ => Err("usage: dtmf DIGITS (0-9, *, #, A-D), e.g. dtmf 123#".into()),
        },
        "restart-ice" => none(Command::RestartIce),
        "pairs" => none(Command::Pairs),
        "level" | "meter" => none(Command::Level),
        "stats" => none(Command::Stats),
        "transfer" | "xfer" => match args.as_slice() {
            [uri] => Ok(Some(Command::Transfer(sip_uri(uri)?))),
            _ => Err("usage: transfer URI".into()),
        },
        "switch" => match args.as_slice() {
            [n] => Ok(Some(Command::Switch(number(n, "switch")?))),
            _ => Err("usage: switch N (a call number from `calls`)".into()),
        },
        "calls" | "list" => none(Command::Calls),
        "account" => match args.as_slice() {
            [n] => Ok(Some(Command::Account(number(n, "account")?))),
            _ => Err("usage: account N (a number from `accounts`)".into()),
        },
        "accounts" => none(Command::Accounts),
        "help" | "?" => none(Command::Help),
        "quit" | "exit" | "q" => none(Command::Quit),
        other => Err(format!("unknown command `{other}` (try `help`)")),
    }
}

/// Parses one control-socket line: a JSON object with `command` and the argument under
/// the name the command uses (`uri`, `digits`, `call`, `account`, `from`).
pub fn parse_json(line: &str) -> Result<Option<Command>, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("a command is a JSON object, e.g. {\"command\":\"hangup\"}")?;
    let name = object
        .get("command")
        .and_then(|c| c.as_str())
        .ok_or("no \"command\" string in the object")?;
    if name.split_whitespace().count() != 1 {
        return Err(format!("bad command name {name:?}"));
    }
    let mut text = name.to_owned();
    for key in ["uri", "digits", "call", "account"] {
        match object.get(key) {
            Some(serde_json::Value::String(s)) => {
                text.push(' ');
                text.push_str(&word(s, key)?);
            }
            Some(serde_json::Value::Number(n)) => {
                text.push(' ');
                text.push_str(&n.to_string());
            }
            Some(other) => return Err(format!("\"{key}\": {other} is not a string or number")),
            None => {}
        }
    }
    if let Some(from) = object.get("from") {
        let from = from.as_str().ok_or("\"from\" is not a string")?;
        text.push_str(" from ");
        text.push_str(&word(from, "from")?);
    }
    parse_line(&text)
}

/// A JSON argument must be one word (it becomes one console argument).
fn word(s: &str, key: &str) -> Result<String, String> {
    if s.is_empty() || s.split_whitespace().count() != 1 {
        return Err(format!("\"{key}\": {s:?} must be one word"));
    }
    Ok(s.to_owned())
}

fn number(s: &str, what: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{what}: `{s}` is not a number from 1 up")),
    }
}

/// A SIP URI (RFC 3261 §19.1): a bare `user@host` gets `sip:` as pjsua and baresip do.
fn sip_uri(s: &str) -> Result<String, String> {
    let uri = if s.starts_with("sip:") || s.starts_with("sips:") {
        s.to_owned()
    } else if s.contains(':') && !s.contains('@') {
        return Err(format!("`{s}` is not a SIP URI (sip:user@host)"));
    } else {
        format!("sip:{s}")
    };
    uri.parse::<sip::message::Uri>()
        .map_err(|e| format!("`{s}` is not a SIP URI: {e}"))?;
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_become_commands() {
        assert_eq!(parse_line("   "), Ok(None));
        assert_eq!(
            parse_line("call sip:bob@127.0.0.1:5062"),
            Ok(Some(Command::Call {
                uri: "sip:bob@127.0.0.1:5062".into(),
                from: None
            }))
        );
        assert_eq!(
            parse_line("call bob@example.com from work"),
            Ok(Some(Command::Call {
                uri: "sip:bob@example.com".into(),
                from: Some("work".into())
            }))
        );
        assert_eq!(
            parse_line("dtmf 12#"),
            Ok(Some(Command::Dtmf("12#".into())))
        );
        assert_eq!(parse_line("SWITCH 2"), Ok(Some(Command::Switch(2))));
        assert_eq!(parse_line("unmute"), Ok(Some(Command::Mute(false))));
        assert_eq!(
            parse_line("transfer sip:carol@127.0.0.1:5070"),
            Ok(Some(Command::Transfer("sip:carol@127.0.0.1:5070".into())))
        );
        assert_eq!(parse_line("restart-ice"), Ok(Some(Command::RestartIce)));
        for name in NAMES {
            // Every completed name is a command (with or without its argument).
            let r = parse_line(name);
            assert!(
                !matches!(&r, Err(e) if e.starts_with("unknown")),
                "{name}: {r:?}"
            );
        }
    }

    #[test]
    fn bad_lines_are_clear_errors() {
        let err = |l: &str| parse_line(l).unwrap_err();
        assert_eq!(
            err("frobnicate"),
            "unknown command `frobnicate` (try `help`)"
        );
        assert!(err("call").starts_with("usage: call URI"));
        assert!(err("call a b c d").starts_with("usage: call URI"));
        assert!(
            err("call http://x").contains("not a SIP URI"),
            "{}",
            err("call http://x")
        );
        assert!(err("dtmf 12x").contains("dtmf:"));
        assert!(err("dtmf").starts_with("usage: dtmf"));
        assert_eq!(err("switch 0"), "switch: `0` is not a number from 1 up");
        assert!(err("switch -1").contains("not a number"));
        assert!(err("switch 99999999999").contains("not a number"));
        assert_eq!(err("hangup now"), "`hangup` takes no arguments");
        assert!(err("transfer").starts_with("usage: transfer"));
        // Odd bytes never panic.
        for l in [
            "\u{0}",
            "call \u{7f}@",
            "dtmf \u{1F600}",
            "call sip:",
            "switch ١",
        ] {
            let _ = parse_line(l);
        }
    }

    #[test]
    fn json_commands_are_the_console_commands() {
        assert_eq!(
            parse_json(r#"{"command":"call","uri":"sip:bob@127.0.0.1:5062"}"#),
            Ok(Some(Command::Call {
                uri: "sip:bob@127.0.0.1:5062".into(),
                from: None
            }))
        );
        assert_eq!(
            parse_json(r#"{"command":"dtmf","digits":"12#"}"#),
            Ok(Some(Command::Dtmf("12#".into())))
        );
        assert_eq!(
            parse_json(r#"{"command":"switch","call":2}"#),
            Ok(Some(Command::Switch(2)))
        );
        assert_eq!(
            parse_json(r#"{"command":"hangup"}"#),
            Ok(Some(Command::HangUp))
        );
        let err = |l: &str| parse_json(l).unwrap_err();
        assert!(err("hangup").starts_with("not JSON"));
        assert!(err("[1]").starts_with("a command is a JSON object"));
        assert_eq!(err(r#"{"cmd":"x"}"#), "no \"command\" string in the object");
        assert!(err(r#"{"command":"call","uri":"a b"}"#).contains("one word"));
        assert!(err(r#"{"command":"call hangup"}"#).starts_with("bad command name"));
        assert!(err(r#"{"command":"switch","call":true}"#).contains("not a string or number"));
        assert!(err(r#"{"command":"nope"}"#).starts_with("unknown command"));
    }
}
