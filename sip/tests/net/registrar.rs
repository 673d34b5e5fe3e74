//! A minimal registrar for the virtual network: MD5 digest with qop=auth, 423, outbound
//! (`Require: outbound`, Flow-Timer), CRLF pongs, and requests injected on the flow.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use sip::auth::{compute_response, Algorithm, DigestInput, Qop};
use sip::endpoint::{ConnId, Transmit, TransportKind};
use sip::message::{
    fill_received_rport, parse_datagram, HeaderName, Message, Method, Request, Response,
    StreamDecoder, StreamEvent,
};

pub struct Registrar {
    pub addr: SocketAddr,
    pub realm: String,
    pub user: String,
    pub password: String,
    pub nonce: String,
    pub min_expires: Option<u32>,
    /// 401 (WWW-Authenticate) or 407 (Proxy-Authenticate, as a registering proxy would).
    pub challenge_status: u16,
    pub outbound: bool,
    pub flow_timer: Option<u32>,
    pub answer_pings: bool,
    /// The algorithm the registrar challenges with and verifies.
    pub algorithm: Algorithm,
    /// Challenges say `stale=true`.
    pub stale: bool,
    /// A hostile registrar: every challenge names a new realm (`realm-1`, `realm-2`, …).
    pub new_realm_each_challenge: bool,
    pub challenges_sent: u32,
    pub outbox: VecDeque<Transmit>,
    /// Every REGISTER received, with how it came.
    pub registers: Vec<(Request, TransportKind, SocketAddr)>,
    /// Everything else received.
    pub other: Vec<Message>,
    pub last_flow: Option<(TransportKind, SocketAddr, Option<ConnId>)>,
    pub pings: usize,
    decoders: HashMap<ConnId, StreamDecoder>,
}

/// `name=value` pairs of a Digest credentials value.
pub fn digest_params(value: &str) -> HashMap<String, String> {
    let rest = value.trim().strip_prefix("Digest").unwrap_or(value);
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

impl Registrar {
    pub fn new(addr: SocketAddr) -> Registrar {
        Registrar {
            addr,
            realm: "test.invalid".into(),
            user: "alice".into(),
            password: "secret".into(),
            nonce: "nonce-1".into(),
            min_expires: None,
            challenge_status: 401,
            outbound: false,
            flow_timer: None,
            answer_pings: true,
            algorithm: Algorithm::Md5,
            stale: false,
            new_realm_each_challenge: false,
            challenges_sent: 0,
            outbox: VecDeque::new(),
            registers: Vec::new(),
            other: Vec::new(),
            last_flow: None,
            pings: 0,
            decoders: HashMap::new(),
        }
    }

    pub fn pop(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    fn send(
        &mut self,
        transport: TransportKind,
        dest: SocketAddr,
        conn: Option<ConnId>,
        bytes: Vec<u8>,
    ) {
        self.outbox.push_back(Transmit {
            transport,
            local: Some(self.addr),
            dest,
            conn,
            bytes,
        });
    }

    /// Sends `bytes` to the UA over the flow its last REGISTER used.
    pub fn send_on_flow(&mut self, bytes: Vec<u8>) {
        let (transport, dest, conn) = self.last_flow.expect("a registration flow");
        self.send(transport, dest, conn, bytes);
    }

    pub fn on_bytes(
        &mut self,
        transport: TransportKind,
        source: SocketAddr,
        conn: Option<ConnId>,
        bytes: &[u8],
    ) {
        let messages = match (transport, conn) {
            (TransportKind::Tcp | TransportKind::Tls, Some(c)) => {
                let mut decoder = self.decoders.remove(&c).unwrap_or_default();
                decoder.push(bytes);
                let mut out = Vec::new();
                while let Ok(Some(ev)) = decoder.next_event() {
                    match ev {
                        StreamEvent::Message(m) => out.push(m),
                        StreamEvent::KeepalivePing => {
                            self.pings += 1;
                            if self.answer_pings {
                                self.send(transport, source, conn, b"\r\n".to_vec());
                            }
                        }
                        // Pongs and any later kind of event: nothing for a registrar to do.
                        _ => {}
                    }
                }
                self.decoders.insert(c, decoder);
                out
            }
            _ => parse_datagram(bytes).into_iter().collect(),
        };
        for message in messages {
            match message {
                Message::Request(mut r) if r.method == Method::Register => {
                    fill_received_rport(&mut r, source).expect("Via");
                    self.last_flow = Some((transport, source, conn));
                    self.registers.push((r.clone(), transport, source));
                    let response = self.answer(&r);
                    self.send(transport, source, conn, response.to_bytes());
                }
                other => self.other.push(other),
            }
        }
    }

    fn authorized(&self, request: &Request) -> bool {
        let header = if self.challenge_status == 407 {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        if self.new_realm_each_challenge {
            // Whatever the credentials, the next challenge names a realm not yet answered.
            return false;
        }
        let Some(value) = request.headers.get(header) else {
            return false;
        };
        let p = digest_params(value);
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        let nc = u32::from_str_radix(get("nc"), 16).unwrap_or(0);
        let expected = compute_response(&DigestInput {
            algorithm: self.algorithm,
            username: &self.user,
            realm: &self.realm,
            password: &self.password,
            nonce: &self.nonce,
            cnonce: get("cnonce"),
            nc,
            qop: Some(Qop::Auth),
            method: "REGISTER",
            uri: get("uri"),
            body: &[],
        });
        get("username") == self.user && get("nonce") == self.nonce && get("response") == expected
    }

    fn answer(&mut self, request: &Request) -> Response {
        let tag = "reg-tag";
        if !self.authorized(request) {
            self.challenges_sent += 1;
            if self.new_realm_each_challenge {
                self.realm = format!("realm-{}", self.challenges_sent);
            }
            let stale = if self.stale { ", stale=true" } else { "" };
            let (reason, header) = if self.challenge_status == 407 {
                (
                    "Proxy Authentication Required",
                    HeaderName::ProxyAuthenticate,
                )
            } else {
                ("Unauthorized", HeaderName::WwwAuthenticate)
            };
            return Response::for_request(request, self.challenge_status, reason)
                .with_to_tag(tag)
                .with_header(
                    header,
                    format!(
                        "Digest realm=\"{}\", nonce=\"{}\", qop=\"auth\", algorithm={}{stale}",
                        self.realm,
                        self.nonce,
                        self.algorithm.token()
                    ),
                );
        }
        let expires = request.headers.expires().ok().flatten().unwrap_or(3600);
        if let Some(min) = self.min_expires {
            if expires > 0 && expires < min {
                return Response::for_request(request, 423, "Interval Too Brief")
                    .with_to_tag(tag)
                    .with_header(HeaderName::MinExpires, min.to_string());
            }
        }
        let mut response = Response::for_request(request, 200, "OK").with_to_tag(tag);
        for contact in request.headers.get_all(HeaderName::Contact) {
            if !contact.contains("expires=0") {
                response
                    .headers
                    .push(HeaderName::Contact, format!("{contact};expires={expires}"));
            }
        }
        response
            .headers
            .push(HeaderName::Expires, expires.to_string());
        let asks_outbound = request
            .headers
            .supported()
            .map(|s| s.iter().any(|t| t == "outbound"))
            .unwrap_or(false);
        if self.outbound && asks_outbound {
            response.headers.push(HeaderName::Require, "outbound");
            if let Some(ft) = self.flow_timer {
                response.headers.push(HeaderName::FlowTimer, ft.to_string());
            }
        }
        response
    }
}
