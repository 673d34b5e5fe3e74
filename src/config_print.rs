//! `icephone config --print`: every config file key with its effective value and where it
//! came from (default, the file, a flag, the environment), one `key = value  # source` line
//! each. The password is never printed, only its source.

use std::path::Path;

use crate::config::{AccountArgs, FileConfig, IceArgs, PASSWORD_ENV};
use crate::limits_config::LimitArgs;
use crate::sip_driver::Limits;

/// One printed setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key: String,
    /// TOML-formatted value, or `(unset)`.
    pub value: String,
    /// `default`, `flag`, `file PATH` or `environment NAME`.
    pub source: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}  # {}", self.key, self.value, self.source)
    }
}

const UNSET: &str = "(unset)";

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Flag over file over default, formatted.
struct Picker<'a> {
    file_source: String,
    lines: Vec<Line>,
    _path: Option<&'a Path>,
}

impl Picker<'_> {
    fn add(&mut self, key: &str, flag: Option<String>, file: Option<String>, default: String) {
        let (value, source) = match (flag, file) {
            (Some(v), _) => (v, "flag".to_string()),
            (None, Some(v)) => (v, self.file_source.clone()),
            (None, None) => (default, "default".to_string()),
        };
        self.lines.push(Line {
            key: key.to_string(),
            value,
            source,
        });
    }
}

fn s(v: &Option<String>) -> Option<String> {
    v.as_deref().map(quote)
}

fn n<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|x| x.to_string())
}

/// A bool flag that can only switch something on (`--no-ice`): given means true.
fn switch(on: bool) -> Option<String> {
    on.then(|| "true".to_string())
}

/// The settings of `flags` over `file` (read from `path`) over the defaults.
pub fn lines(
    flags: &AccountArgs,
    ice: &IceArgs,
    file: &FileConfig,
    path: Option<&Path>,
    env_password: Option<&str>,
) -> Vec<Line> {
    let mut p = Picker {
        file_source: path.map_or_else(String::new, |p| format!("file {}", p.display())),
        lines: Vec::new(),
        _path: path,
    };
    p.add("aor", s(&flags.aor), s(&file.aor), UNSET.into());
    let hidden = |v: &Option<String>| v.as_ref().map(|_| "\"***\"".to_string());
    match (&flags.password, env_password) {
        (None, Some(_)) => p.lines.push(Line {
            key: "password".into(),
            value: "\"***\"".into(),
            source: format!("environment {PASSWORD_ENV}"),
        }),
        _ => p.add(
            "password",
            hidden(&flags.password),
            hidden(&file.password),
            UNSET.into(),
        ),
    }
    p.add(
        "auth_user",
        s(&flags.auth_user),
        s(&file.auth_user),
        UNSET.into(),
    );
    p.add("proxy", s(&flags.proxy), s(&file.proxy), UNSET.into());
    p.add(
        "dns",
        s(&flags.dns.map(|d| d.to_string())),
        s(&file.dns),
        UNSET.into(),
    );
    p.add(
        "transport",
        s(&flags.transport),
        s(&file.transport),
        quote("udp"),
    );
    let path = |v: &Option<std::path::PathBuf>| v.as_ref().map(|p| quote(&p.display().to_string()));
    p.add(
        "tls_ca",
        path(&flags.tls_ca),
        path(&file.tls_ca),
        UNSET.into(),
    );
    p.add(
        "tls_cert",
        path(&flags.tls_cert),
        path(&file.tls_cert),
        UNSET.into(),
    );
    p.add(
        "tls_key",
        path(&flags.tls_key),
        path(&file.tls_key),
        UNSET.into(),
    );
    p.add(
        "bind",
        flags.bind.map(|b| quote(&b.to_string())),
        s(&file.bind),
        quote("0.0.0.0:5060"),
    );
    p.add(
        "media_ip",
        ice.media_ip.map(|ip| quote(&ip.to_string())),
        s(&file.media_ip),
        UNSET.into(),
    );
    p.add("stun", s(&ice.stun), s(&file.stun), UNSET.into());
    p.add("turn", s(&ice.turn), s(&file.turn), UNSET.into());
    p.add(
        "turn_user",
        s(&ice.turn_user),
        s(&file.turn_user),
        UNSET.into(),
    );
    p.add(
        "turn_password",
        hidden(&ice.turn_password),
        hidden(&file.turn_password),
        UNSET.into(),
    );
    p.add(
        "turn_transport",
        s(&ice.turn_transport),
        s(&file.turn_transport),
        quote("udp"),
    );
    p.add("no_ice", switch(ice.no_ice), n(file.no_ice), "false".into());
    p.add(
        "nomination",
        s(&ice.nomination),
        s(&file.nomination),
        quote("regular"),
    );
    p.add(
        "codecs",
        ice.codecs.as_ref().map(|c| {
            list(
                &c.split(',')
                    .map(|x| x.trim().to_string())
                    .collect::<Vec<_>>(),
            )
        }),
        file.codecs.as_deref().map(list),
        list(&["pcmu".into(), "pcma".into()]),
    );
    p.add("rtcp_mux", n(ice.rtcp_mux), n(file.rtcp_mux), "true".into());
    p.add("opus_fec", n(ice.opus_fec), n(file.opus_fec), "true".into());
    p.add(
        "opus_dtx",
        n(ice.opus_dtx),
        n(file.opus_dtx),
        "false".into(),
    );
    p.add(
        "rtcp_mux_only",
        switch(ice.rtcp_mux_only),
        n(file.rtcp_mux_only),
        "false".into(),
    );
    p.add("srtp", s(&ice.srtp), s(&file.srtp), quote("off"));
    p.add(
        "dtls_setup",
        s(&ice.dtls_setup),
        s(&file.dtls_setup),
        quote("actpass"),
    );
    p.add("t1_ms", n(flags.t1_ms), n(file.t1_ms), "500".into());
    p.add("expires", n(flags.expires), n(file.expires), "3600".into());
    p.add(
        "keepalive",
        n(flags.keepalive),
        n(file.keepalive),
        crate::config::DEFAULT_KEEPALIVE.as_secs().to_string(),
    );
    p.add(
        "outbound",
        n(flags.outbound),
        n(file.outbound),
        "true".into(),
    );
    p.add(
        "contact_rewrite",
        n(flags.contact_rewrite),
        n(file.contact_rewrite),
        "true".into(),
    );
    limits(
        &mut p,
        &flags.limits,
        &file.limits.clone().unwrap_or_default(),
    );
    p.lines
}

fn limits(p: &mut Picker<'_>, f: &LimitArgs, c: &crate::limits_config::LimitsFile) {
    let d = Limits::default();
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let rows: [(&str, Option<String>, Option<String>, String); 10] = [
        (
            "tcp_max_connections",
            n(f.tcp_max_connections),
            n(c.tcp_max_connections),
            d.tcp_max_connections.to_string(),
        ),
        (
            "tcp_max_connections_per_ip",
            n(f.tcp_max_connections_per_ip),
            n(c.tcp_max_connections_per_ip),
            d.tcp_max_connections_per_ip.to_string(),
        ),
        (
            "tcp_idle_timeout_ms",
            n(f.tcp_idle_timeout_ms),
            n(c.tcp_idle_timeout_ms),
            ms(d.tcp_idle_timeout),
        ),
        (
            "tcp_header_timeout_ms",
            n(f.tcp_header_timeout_ms),
            n(c.tcp_header_timeout_ms),
            ms(d.tcp_header_timeout),
        ),
        (
            "tcp_send_timeout_ms",
            n(f.tcp_send_timeout_ms),
            n(c.tcp_send_timeout_ms),
            ms(d.tcp_send_timeout),
        ),
        (
            "tcp_max_write_queue",
            n(f.tcp_max_write_queue),
            n(c.tcp_max_write_queue),
            d.tcp_max_write_queue.to_string(),
        ),
        (
            "udp_receive_buffer",
            n(f.udp_receive_buffer),
            n(c.udp_receive_buffer),
            d.udp_receive_buffer.to_string(),
        ),
        (
            "sip_max_transactions",
            n(f.sip_max_transactions),
            n(c.sip_max_transactions),
            d.server.max_transactions.to_string(),
        ),
        (
            "sip_max_transactions_per_source",
            n(f.sip_max_transactions_per_source),
            n(c.sip_max_transactions_per_source),
            d.server.max_per_source.to_string(),
        ),
        (
            "sip_retry_after",
            n(f.sip_retry_after),
            n(c.sip_retry_after),
            d.server.retry_after.to_string(),
        ),
    ];
    for (key, flag, file, default) in rows {
        p.add(&format!("limits.{key}"), flag, file, default);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_over_file_over_default() {
        let file: FileConfig = toml::from_str("t1_ms = 400\nproxy = \"h:5070\"").unwrap();
        let flags = AccountArgs {
            t1_ms: Some(250),
            ..AccountArgs::default()
        };
        let out = lines(
            &flags,
            &IceArgs::default(),
            &file,
            Some(Path::new("/x.toml")),
            None,
        );
        let get = |k: &str| out.iter().find(|l| l.key == k).unwrap().to_string();
        assert_eq!(get("t1_ms"), "t1_ms = 250  # flag");
        assert_eq!(get("proxy"), "proxy = \"h:5070\"  # file /x.toml");
        assert_eq!(get("keepalive"), "keepalive = 25  # default");
        assert_eq!(get("password"), "password = (unset)  # default");
        assert_eq!(get("tls_ca"), "tls_ca = (unset)  # default");
        let file: FileConfig = toml::from_str("tls_ca = \"/ca.pem\"").unwrap();
        let flags = AccountArgs {
            tls_key: Some("/k.pem".into()),
            ..AccountArgs::default()
        };
        let out = lines(
            &flags,
            &IceArgs::default(),
            &file,
            Some(Path::new("/x.toml")),
            None,
        );
        let get = |k: &str| out.iter().find(|l| l.key == k).unwrap().to_string();
        assert_eq!(get("tls_ca"), "tls_ca = \"/ca.pem\"  # file /x.toml");
        assert_eq!(get("tls_key"), "tls_key = \"/k.pem\"  # flag");
        assert_eq!(get("tls_cert"), "tls_cert = (unset)  # default");
    }
}
