//! An in-test SIP server on real loopback sockets (UDP and TCP), built on sip::message:
//! a registrar with an MD5 digest challenge, and a UAS for `auth401`/`auth407` users that
//! challenges INVITEs before answering them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sip::auth::{compute_response, Algorithm, DigestInput, Qop};
use sip::message::{
    fill_received_rport, parse_datagram, response_destination, HeaderName, Message, Method,
    Request, Response, StreamDecoder, StreamEvent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const REALM: &str = "loopback.invalid";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";
const NONCE: &str = "4f1b2c3d";

/// What the server saw, in order: start lines.
pub type Log = Arc<Mutex<Vec<String>>>;

/// Outbound behaviour of the test registrar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outbound {
    /// Answer `Require: outbound` and this `Flow-Timer` when the REGISTER supports it.
    pub flow_timer: Option<u32>,
}

pub struct TestServer {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub log: Log,
    /// When set, STUN Binding answers report this address instead of the real source
    /// (a NAT rebinding, as the UA sees it).
    pub stun_mapping: Arc<Mutex<Option<SocketAddr>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn params(value: &str) -> HashMap<String, String> {
    let rest = value.trim();
    let rest = rest.strip_prefix("Digest").unwrap_or(rest);
    rest.split(',')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

/// Checks the credentials in `header` for `method` (RFC 2617 MD5, qop=auth).
fn valid(request: &Request, header: HeaderName, method: &str) -> bool {
    let Some(value) = request.headers.get(header) else {
        return false;
    };
    let p = params(value);
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let expected = compute_response(&DigestInput {
        algorithm: Algorithm::Md5,
        username: USER,
        realm: REALM,
        password: PASSWORD,
        nonce: NONCE,
        cnonce: get("cnonce"),
        nc: u32::from_str_radix(get("nc"), 16).unwrap_or(0),
        qop: Some(Qop::Auth),
        method,
        uri: get("uri"),
        body: &[],
    });
    get("username") == USER && get("response") == expected
}

fn challenge(request: &Request, status: u16) -> Response {
    let (reason, header) = if status == 401 {
        ("Unauthorized", HeaderName::WwwAuthenticate)
    } else {
        (
            "Proxy Authentication Required",
            HeaderName::ProxyAuthenticate,
        )
    };
    Response::for_request(request, status, reason)
        .with_to_tag("srv")
        .with_header(
            header,
            format!("Digest realm=\"{REALM}\", nonce=\"{NONCE}\", qop=\"auth\", algorithm=MD5"),
        )
}

/// The server's answer to a request (None for ACK).
fn answer(
    request: &Request,
    local: SocketAddr,
    transport: &str,
    outbound: Outbound,
) -> Option<Response> {
    match request.method {
        Method::Ack => None,
        Method::Register => {
            if !valid(request, HeaderName::Authorization, "REGISTER") {
                return Some(challenge(request, 401));
            }
            let expires = request.headers.expires().ok().flatten().unwrap_or(3600);
            let mut r = Response::for_request(request, 200, "OK").with_to_tag("srv");
            for c in request.headers.get_all(HeaderName::Contact) {
                if !c.contains("expires=0") {
                    r.headers
                        .push(HeaderName::Contact, format!("{c};expires={expires}"));
                }
            }
            r.headers.push(HeaderName::Expires, expires.to_string());
            let supports = request
                .headers
                .supported()
                .map(|s| s.iter().any(|t| t == "outbound"))
                .unwrap_or(false);
            if let (Some(ft), true) = (outbound.flow_timer, supports) {
                r.headers.push(HeaderName::Require, "outbound");
                r.headers.push(HeaderName::FlowTimer, ft.to_string());
            }
            Some(r)
        }
        Method::Invite => {
            let user = request
                .uri
                .as_sip()
                .and_then(|u| u.user.clone())
                .unwrap_or_default();
            let (status, header) = match user.as_str() {
                "auth401" => (401, HeaderName::Authorization),
                _ => (407, HeaderName::ProxyAuthorization),
            };
            if !valid(request, header, "INVITE") {
                return Some(challenge(request, status));
            }
            let mut r = Response::for_request(request, 200, "OK")
                .with_to_tag("srv")
                .with_header(
                    HeaderName::Contact,
                    format!("<sip:{user}@{local};transport={transport}>"),
                )
                .with_body("application/sdp", b"v=0\r\ns=server\r\n".to_vec());
            r.headers.push(HeaderName::Allow, "INVITE, ACK, BYE");
            Some(r)
        }
        _ => Some(Response::for_request(request, 200, "OK").with_to_tag("srv")),
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Outbound::default()).await
    }

    pub async fn start_with(outbound: Outbound) -> TestServer {
        let stun_mapping: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let udp_stun = stun_mapping.clone();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let udp_addr = udp.local_addr().unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let log: Log = Arc::default();
        let mut tasks = Vec::new();
        let udp_log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                // RFC 5626 §4.4.2: STUN on the SIP port answers the UA's keepalive.
                if buf[0] < 2 {
                    if let Ok(req) = ice::stun::Message::decode(&buf[..n]) {
                        let mapped = udp_stun.lock().unwrap().unwrap_or(from);
                        let resp = ice::stun::Message::new(
                            ice::stun::Class::Success,
                            ice::stun::Method::Binding,
                            req.transaction_id,
                        )
                        .with(ice::stun::Attribute::XorMappedAddress(mapped));
                        udp_log.lock().unwrap().push("STUN Binding".into());
                        let _ = udp.send_to(&resp.encode(None, true), from).await;
                    }
                    continue;
                }
                let Ok(Message::Request(mut request)) = parse_datagram(&buf[..n]) else {
                    continue;
                };
                udp_log
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", request.method, request.uri));
                if fill_received_rport(&mut request, from).is_err() {
                    continue;
                }
                if let Some(response) = answer(&request, udp_addr, "udp", outbound) {
                    let dest = request
                        .headers
                        .top_via()
                        .ok()
                        .and_then(|v| response_destination(&v))
                        .unwrap_or(from);
                    let _ = udp.send_to(&response.to_bytes(), dest).await;
                }
            }
        }));
        let tcp_log = log.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok((stream, from)) = tcp.accept().await {
                let log = tcp_log.clone();
                tokio::spawn(async move {
                    let (mut rd, mut wr) = stream.into_split();
                    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
                    tokio::spawn(async move {
                        while let Some(b) = rx.recv().await {
                            if wr.write_all(&b).await.is_err() {
                                break;
                            }
                        }
                    });
                    let mut decoder = StreamDecoder::default();
                    let mut buf = vec![0u8; 16384];
                    while let Ok(n) = rd.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        decoder.push(&buf[..n]);
                        while let Ok(Some(ev)) = decoder.next_event() {
                            match ev {
                                StreamEvent::Message(Message::Request(mut request)) => {
                                    log.lock()
                                        .unwrap()
                                        .push(format!("{} {}", request.method, request.uri));
                                    if fill_received_rport(&mut request, from).is_err() {
                                        continue;
                                    }
                                    if let Some(response) =
                                        answer(&request, tcp_addr, "tcp", outbound)
                                    {
                                        let _ = tx.send(response.to_bytes());
                                    }
                                }
                                StreamEvent::KeepalivePing => {
                                    log.lock().unwrap().push("PING".into());
                                    let _ = tx.send(b"\r\n".to_vec());
                                }
                                _ => {}
                            }
                        }
                    }
                });
            }
        }));
        TestServer {
            udp: udp_addr,
            tcp: tcp_addr,
            log,
            stun_mapping,
            tasks,
        }
    }

    pub fn addr(&self, transport: sip::endpoint::TransportKind) -> SocketAddr {
        match transport {
            sip::endpoint::TransportKind::Udp => self.udp,
            sip::endpoint::TransportKind::Tcp => self.tcp,
            sip::endpoint::TransportKind::Tls => panic!("the test server has no TLS listener"),
        }
    }

    pub fn seen(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}
