//! The accounts file (`--accounts FILE`): several identities for `icephone phone`, each
//! registered on its own user agent. TOML, one `[[account]]` table each:
//!
//! ```toml
//! [[account]]
//! name = "work"                 # for `call URI from work`
//! aor = "sip:alice@192.0.2.10"
//! password = "secret"           # digest (RFC 3261 §22)
//! auth_user = "alice"           # optional, the AOR's user otherwise
//! proxy = "192.0.2.10:5060"     # optional, as --proxy
//! transport = "udp"             # optional, as --transport
//! bind = "0.0.0.0:5062"         # optional; each account needs its own port
//! expires = 600                 # optional, as --expires
//! register = true               # optional, default true
//! ```
//!
//! Every other setting (ICE, media, limits) comes from the flags and `--config`, shared by
//! all accounts; an account's keys win over the same flags.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::config::AccountArgs;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub name: String,
    pub aor: String,
    pub password: Option<String>,
    pub auth_user: Option<String>,
    pub proxy: Option<String>,
    pub transport: Option<String>,
    pub bind: Option<SocketAddr>,
    pub expires: Option<u32>,
    #[serde(default = "yes")]
    pub register: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    account: Vec<AccountEntry>,
}

/// Reads and checks the accounts file: at least one account, names unique and non-empty,
/// AORs that are SIP URIs.
pub fn read(path: &Path) -> Result<Vec<AccountEntry>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--accounts {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("--accounts {}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Vec<AccountEntry>, String> {
    let file: AccountsFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    if file.account.is_empty() {
        return Err("no [[account]]".into());
    }
    for (i, a) in file.account.iter().enumerate() {
        if a.name.trim().is_empty() || a.name.contains(char::is_whitespace) {
            return Err(format!(
                "account {}: name {:?} must be one word",
                i + 1,
                a.name
            ));
        }
        if file.account[..i].iter().any(|b| b.name == a.name) {
            return Err(format!("account name `{}` is used twice", a.name));
        }
        a.aor
            .parse::<sip::message::Uri>()
            .map_err(|e| format!("account `{}`: aor {:?}: {e}", a.name, a.aor))?;
    }
    Ok(file.account)
}

/// The account flags for `entry`: the shared flags with the account's own keys on top.
/// Accounts after the first bind an ephemeral port on the same address unless they name
/// one (two user agents cannot share a port).
pub fn account_args(base: &AccountArgs, entry: &AccountEntry, index: usize) -> AccountArgs {
    let mut args = base.clone();
    args.aor = Some(entry.aor.clone());
    args.password = entry.password.clone().or(args.password);
    args.auth_user = entry.auth_user.clone();
    args.proxy = entry.proxy.clone().or(args.proxy);
    args.transport = entry.transport.clone().or(args.transport);
    args.expires = entry.expires.or(args.expires);
    args.bind = match (entry.bind, base.bind) {
        (Some(bind), _) => Some(bind),
        (None, Some(bind)) if index > 0 => Some(SocketAddr::new(bind.ip(), 0)),
        (None, Some(bind)) => Some(bind),
        (None, None) if index > 0 => Some(SocketAddr::from(([0, 0, 0, 0], 0))),
        (None, None) => None,
    };
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
[[account]]
name = "home"
aor = "sip:alice@127.0.0.1"
password = "one"

[[account]]
name = "work"
aor = "sip:alice@127.0.0.2"
proxy = "127.0.0.2:5070"
register = false
"#;

    #[test]
    fn accounts_are_read_and_take_over_the_flags() {
        let accounts = parse(TWO).unwrap();
        assert_eq!(accounts.len(), 2);
        assert!(accounts[0].register && !accounts[1].register);
        let base = AccountArgs {
            bind: Some("127.0.0.1:5060".parse().unwrap()),
            proxy: Some("127.0.0.9:5060".into()),
            ..AccountArgs::default()
        };
        let first = account_args(&base, &accounts[0], 0);
        assert_eq!(first.aor.as_deref(), Some("sip:alice@127.0.0.1"));
        assert_eq!(first.bind, base.bind);
        assert_eq!(first.proxy.as_deref(), Some("127.0.0.9:5060"));
        let second = account_args(&base, &accounts[1], 1);
        assert_eq!(second.proxy.as_deref(), Some("127.0.0.2:5070"));
        assert_eq!(second.bind, Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn bad_accounts_files_say_what_is_wrong() {
        assert!(parse("").unwrap_err().contains("account"));
        assert_eq!(parse("account = []").unwrap_err(), "no [[account]]");
        let dup = "[[account]]\nname='a'\naor='sip:a@h'\n[[account]]\nname='a'\naor='sip:b@h'\n";
        assert_eq!(parse(dup).unwrap_err(), "account name `a` is used twice");
        let bad_aor = "[[account]]\nname='a'\naor='alice'\n";
        assert!(parse(bad_aor).unwrap_err().contains("aor"));
        let unknown = "[[account]]\nname='a'\naor='sip:a@h'\ncolour='red'\n";
        assert!(parse(unknown).unwrap_err().contains("colour"));
        let spaced = "[[account]]\nname='a b'\naor='sip:a@h'\n";
        assert!(parse(spaced).unwrap_err().contains("one word"));
    }
}
