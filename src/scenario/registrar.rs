//! A tiny registrar and stateless proxy on loopback for scenarios (`[registrar]`): REGISTER
//! stores user → contact, other requests are forwarded to the registered contact of the
//! Request-URI's user (or to the Request-URI's own address when it is not ours), responses
//! go back along the Via chain. No authentication, no Record-Route, UDP only: enough to run
//! a call "through a registrar" in one process; the lab's Kamailio is the real one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The running registrar; dropping it stops it.
pub struct Registrar {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(bind: SocketAddr) -> std::io::Result<Registrar> {
    let socket = UdpSocket::bind(bind).await?;
    let addr = socket.local_addr()?;
    let task = tokio::spawn(async move {
        let mut proxy = Proxy {
            addr,
            bindings: HashMap::new(),
        };
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Some(datagram) = buf.get(..n) else {
                continue;
            };
            for (bytes, to) in proxy.handle(datagram, from) {
                if let Err(e) = socket.send_to(&bytes, to).await {
                    tracing::debug!("registrar: cannot send to {to}: {e}");
                }
            }
        }
    });
    Ok(Registrar { addr, task })
}

struct Proxy {
    addr: SocketAddr,
    bindings: HashMap<String, SocketAddr>,
}

/// A message split into start line, headers (name as written, value) and body.
struct Parsed<'a> {
    start: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

fn parse(data: &[u8]) -> Option<Parsed<'_>> {
    let split = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(data.get(..split)?).ok()?;
    let body = data.get(split + 4..)?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    Some(Parsed {
        start,
        headers,
        body,
    })
}

/// RFC 3261 §7.3.3: compact header forms.
fn canonical(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "v" => "via".into(),
        "m" => "contact".into(),
        "t" => "to".into(),
        "f" => "from".into(),
        "i" => "call-id".into(),
        "l" => "content-length".into(),
        other => other.into(),
    }
}

impl<'a> Parsed<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| canonical(n) == name)
            .map(|(_, v)| *v)
    }

    /// Every Via value, top first (comma-separated values split, RFC 3261 §7.3.1).
    fn vias(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| canonical(n) == "via")
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .collect()
    }

    /// Re-serialised with these Vias in place of the old ones.
    fn rebuild(&self, start: &str, vias: &[String]) -> Vec<u8> {
        let mut out = format!("{start}\r\n");
        for v in vias {
            out += &format!("Via: {v}\r\n");
        }
        for (n, v) in &self.headers {
            if canonical(n) != "via" {
                out += &format!("{n}: {v}\r\n");
            }
        }
        out += "\r\n";
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(self.body);
        bytes
    }
}

/// `sip:user@host:port;params` or `<...>` → (user, host:port as an address when numeric).
fn uri_parts(uri: &str) -> (Option<String>, Option<SocketAddr>) {
    let inner = match (uri.find('<'), uri.find('>')) {
        (Some(a), Some(b)) if a < b => &uri[a + 1..b],
        _ => uri,
    };
    let rest = inner
        .trim()
        .trim_start_matches("sips:")
        .trim_start_matches("sip:");
    let rest = rest.split([';', '?', '>']).next().unwrap_or("");
    let (user, hostport) = match rest.split_once('@') {
        Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_string()), h),
        None => (None, rest),
    };
    let addr = hostport.parse::<SocketAddr>().ok().or_else(|| {
        hostport
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 5060))
    });
    (user, addr)
}

fn param<'v>(via: &'v str, name: &str) -> Option<&'v str> {
    via.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k.trim().eq_ignore_ascii_case(name)).then_some(v.trim())
    })
}

/// Where a response goes according to a Via (RFC 3261 §18.2.2, RFC 3581 §4).
fn via_destination(via: &str) -> Option<SocketAddr> {
    let sent_by = via.split(';').next()?.split_whitespace().nth(1)?;
    let mut addr = sent_by.parse::<SocketAddr>().ok().or_else(|| {
        sent_by
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 5060))
    })?;
    if let Some(ip) = param(via, "received").and_then(|r| r.parse().ok()) {
        addr.set_ip(ip);
    }
    if let Some(port) = param(via, "rport").and_then(|r| r.parse().ok()) {
        addr.set_port(port);
    }
    Some(addr)
}

impl Proxy {
    fn handle(&mut self, data: &[u8], from: SocketAddr) -> Vec<(Vec<u8>, SocketAddr)> {
        let Some(msg) = parse(data) else {
            return Vec::new();
        };
        if msg.start.starts_with("SIP/2.0") {
            return self.response(&msg);
        }
        let mut parts = msg.start.split_whitespace();
        let (Some(method), Some(uri)) = (parts.next(), parts.next()) else {
            return Vec::new();
        };
        let mut vias = msg.vias();
        let Some(top) = vias.first_mut() else {
            return Vec::new();
        };
        // RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from.
        let mut stamped: String = top
            .split(';')
            .filter(|p| {
                let k = p.split('=').next().unwrap_or("").trim();
                !k.eq_ignore_ascii_case("rport") && !k.eq_ignore_ascii_case("received")
            })
            .collect::<Vec<_>>()
            .join(";");
        stamped += &format!(";received={};rport={}", from.ip(), from.port());
        let branch = param(top, "branch").unwrap_or("").to_string();
        *top = stamped;
        if method == "REGISTER" {
            return vec![(self.register(&msg, &vias), from)];
        }
        let (user, uri_addr) = uri_parts(uri);
        let target = match uri_addr.filter(|a| *a != self.addr) {
            Some(a) => Some(a),
            None => user.and_then(|u| self.bindings.get(&u).copied()),
        };
        let Some(target) = target else {
            if method == "ACK" {
                return Vec::new();
            }
            return vec![(reply(&msg, &vias, 404, "Not Found", ""), from)];
        };
        // RFC 3261 §16.11: a stateless proxy derives its branch from the incoming one, so a
        // CANCEL or an ACK for a non-2xx gets the same branch as its INVITE downstream.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        branch.hash(&mut h);
        let ours = format!(
            "SIP/2.0/UDP {};branch=z9hG4bK-sp{:016x}",
            self.addr,
            h.finish()
        );
        vias.insert(0, ours);
        vec![(msg.rebuild(msg.start, &vias), target)]
    }

    fn register(&mut self, msg: &Parsed<'_>, vias: &[String]) -> Vec<u8> {
        let user = msg.get("to").and_then(|t| uri_parts(t).0);
        let contact = msg.get("contact");
        let expires = contact
            .and_then(|c| param(c, "expires"))
            .or_else(|| msg.get("expires"))
            .and_then(|e| e.parse::<u32>().ok())
            .unwrap_or(3600);
        let (Some(user), Some(contact)) = (user, contact) else {
            return reply(msg, vias, 400, "Bad Request (To or Contact)", "");
        };
        let source = vias.first().and_then(|v| via_destination(v));
        match uri_parts(contact).1.or(source) {
            Some(addr) if expires > 0 => {
                self.bindings.insert(user, addr);
            }
            _ => {
                self.bindings.remove(&user);
            }
        }
        let contact_uri = contact.split(';').next().unwrap_or(contact);
        let extra = if expires > 0 {
            format!("Contact: {contact_uri};expires={expires}\r\nExpires: {expires}\r\n")
        } else {
            "Expires: 0\r\n".into()
        };
        reply(msg, vias, 200, "OK", &extra)
    }

    fn response(&self, msg: &Parsed<'_>) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut vias = msg.vias();
        if vias.is_empty() {
            return Vec::new();
        }
        // RFC 3261 §16.7 step 3: remove our Via; the next one says where the response goes.
        let top = vias.remove(0);
        if !top.contains(&self.addr.to_string()) {
            return Vec::new();
        }
        match vias.first().and_then(|v| via_destination(v)) {
            Some(to) => vec![(msg.rebuild(msg.start, &vias), to)],
            None => Vec::new(),
        }
    }
}

/// A response to `msg` built by the proxy itself.
fn reply(msg: &Parsed<'_>, vias: &[String], status: u16, reason: &str, extra: &str) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for v in vias {
        out += &format!("Via: {v}\r\n");
    }
    for name in ["from", "to", "call-id", "cseq"] {
        if let Some(v) = msg.get(name) {
            let v = if name == "to" && param(v, "tag").is_none() {
                format!("{v};tag=icephone-registrar")
            } else {
                v.to_string()
            };
            let shown = match name {
                "from" => "From",
                "to" => "To",
                "call-id" => "Call-ID",
                _ => "CSeq",
            };
            out += &format!("{shown}: {v}\r\n");
        }
    }
    out += extra;
    out += "Content-Length: 0\r\n\r\n";
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> Proxy {
        Proxy {
            addr: "127.0.0.1:5070".parse().unwrap(),
            bindings: HashMap::new(),
        }
    }

    const REGISTER: &str = "REGISTER sip:127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKr1;rport\r\nFrom: <sip:bob@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:6000>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn register_then_invite_is_forwarded_and_the_response_comes_back() {
        let mut p = proxy();
        let from_bob: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let out = p.handle(REGISTER.as_bytes(), from_bob);
        let text = String::from_utf8(out[0].0.clone()).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
        assert!(text.contains("received=127.0.0.1;rport=6000"), "{text}");
        assert!(
            text.contains("Contact: <sip:bob@127.0.0.1:6000>;expires=60"),
            "{text}"
        );
        assert_eq!(p.bindings["bob"], from_bob);

        let invite = "INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKi1;rport\r\nFrom: <sip:alice@127.0.0.1>;tag=x\r\nTo: <sip:bob@127.0.0.1:5070>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 2\r\n\r\nhi";
        let alice: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let out = p.handle(invite.as_bytes(), alice);
        assert_eq!(out[0].1, from_bob);
        let fwd = String::from_utf8(out[0].0.clone()).unwrap();
        assert!(fwd.starts_with("INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-sp"), "{fwd}");
        assert!(fwd.ends_with("\r\n\r\nhi"), "{fwd}");
        let cancel = invite.replace("INVITE sip", "CANCEL sip");
        let out_cancel = p.handle(cancel.as_bytes(), alice);
        let branch = |t: &str| {
            t.split("branch=")
                .nth(1)
                .unwrap()
                .split(['\r', ';'])
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            branch(&fwd),
            branch(&String::from_utf8(out_cancel[0].0.clone()).unwrap())
        );

        // The 180 from bob: our Via removed, sent to alice's received/rport.
        let vias: Vec<&str> = fwd.lines().filter(|l| l.starts_with("Via:")).collect();
        let ringing = format!(
            "SIP/2.0 180 Ringing\r\n{}\r\n{}\r\nFrom: <sip:alice@127.0.0.1>;tag=x\r\nTo: <sip:bob@127.0.0.1:5070>;tag=y\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
            vias[0], vias[1]
        );
        let back = p.handle(ringing.as_bytes(), from_bob);
        assert_eq!(back[0].1, alice);
        let text = String::from_utf8(back[0].0.clone()).unwrap();
        assert_eq!(text.matches("Via:").count(), 1, "{text}");
    }

    #[test]
    fn unknown_user_gets_404_and_garbage_is_ignored() {
        let mut p = proxy();
        let invite = "INVITE sip:nobody@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKi1\r\nFrom: <sip:a@127.0.0.1>;tag=x\r\nTo: <sip:nobody@127.0.0.1:5070>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let out = p.handle(invite.as_bytes(), "127.0.0.1:7000".parse().unwrap());
        let text = String::from_utf8(out[0].0.clone()).unwrap();
        assert!(text.starts_with("SIP/2.0 404 Not Found"), "{text}");
        assert!(
            text.contains("To: <sip:nobody@127.0.0.1:5070>;tag="),
            "{text}"
        );
        assert!(p
            .handle(b"\x00\x01garbage", "127.0.0.1:1".parse().unwrap())
            .is_empty());
    }

    #[test]
    fn malformed_messages_are_dropped_without_panicking() {
        let mut p = proxy();
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for bad in [
            "INVITE\r\n\r\n",
            "INVITE sip:a@127.0.0.1 SIP/2.0\r\n\r\n",
            "SIP/2.0 200 OK\r\nVia: x\r\n\r\n",
            "SIP/2.0 200 OK\r\n\r\n",
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z\r\n\r\n",
            "REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z\r\n\r\n",
            "BYE sip:${@<>;; SIP/2.0\r\nVia: ;;;\r\n\r\n",
            "\u{e9}\u{e9} sip:\u{e9}@[::1 SIP/2.0\r\nv: SIP/2.0/UDP [::1]:5;rport=x\r\n\r\n",
        ] {
            for out in p.handle(bad.as_bytes(), from) {
                let text = String::from_utf8(out.0).unwrap();
                assert!(text.starts_with("SIP/2.0 4"), "{bad:?} -> {text}");
            }
        }
        assert!(p.bindings.is_empty());
    }
}
