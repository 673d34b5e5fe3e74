//! DTLS-SRTP (RFC 5763, RFC 5764) as a sans-IO endpoint: OpenSSL's DTLS over in-memory
//! datagram queues. The caller feeds received DTLS datagrams and the time, and polls for
//! datagrams to send, the next timeout, and the [`DtlsEvent::Connected`] result carrying the
//! exported SRTP keys. No socket, no thread.
//!
//! - The certificate is self-signed and made once per run ([`DtlsCertificate::generate`]);
//!   its SHA-256 fingerprint goes into our `a=fingerprint` (RFC 8122).
//! - The peer's certificate is accepted only if its hash matches one of the fingerprints from
//!   its SDP (RFC 5763 §5; checked inside the handshake, so a wrong peer never gets keys);
//!   a mismatch is [`DtlsError::FingerprintMismatch`] naming both.
//! - The role comes from `a=setup` (see [`sdp::security::answer_setup`],
//!   [`sdp::security::offerer_role`]): the `active` side is the DTLS client.
//! - Keys: RFC 5764 §4.2, `EXTRACTOR-dtls_srtp`, client write key/salt protect what the
//!   client sends.
//!
//! Timers: OpenSSL keeps the DTLS retransmission timer (RFC 6347 §4.2.4.1: 1 s, doubling) on
//! its own clock, the real monotonic one. [`DtlsEndpoint::poll_timeout`] reports that
//! deadline on the caller's clock (taken at the last call), and
//! [`DtlsEndpoint::handle_timeout`] asks OpenSSL to retransmit, which it does once its real
//! timer has run out. A real-time driver therefore gets RFC retransmissions; a virtual-time
//! test without loss never needs them.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foreign_types::ForeignTypeRef;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    ErrorCode, HandshakeError, MidHandshakeSslStream, Ssl, SslContext, SslMethod, SslOptions,
    SslRef, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::{X509NameBuilder, X509Ref, X509};
use sdp::security::{DtlsRole, Fingerprint};

use super::context::{SrtpContext, SrtpError, SrtpKey, SrtpSuite};

/// RFC 5764 §4.2: the exporter label for SRTP keys.
const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";
/// Our DTLS record size limit: below the 1280-octet IPv6 minimum MTU with room for TURN.
const DTLS_MTU: u32 = 1200;
/// The certificate's validity; it is regenerated every run anyway.
const CERT_DAYS: u32 = 30;

/// Why DTLS-SRTP failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtlsError {
    /// The peer's certificate does not match any fingerprint from its SDP (RFC 5763 §5).
    #[error(
        "peer certificate fingerprint {actual} matches none of the SDP's a=fingerprint {expected}"
    )]
    FingerprintMismatch {
        /// The SDP's fingerprint(s), `; `-separated.
        expected: String,
        /// The certificate's fingerprint, with the first expected hash function.
        actual: String,
    },
    /// The SDP gave no fingerprint: RFC 5763 §5 requires one.
    #[error("no a=fingerprint for the peer (RFC 5763 §5 requires one)")]
    NoFingerprint,
    /// A fingerprint hash function OpenSSL does not know.
    #[error("unsupported fingerprint hash function {0}")]
    UnsupportedHash(String),
    /// The handshake finished without a DTLS-SRTP profile (RFC 5764 §4.1: use_srtp missing).
    #[error("DTLS handshake negotiated no SRTP protection profile")]
    NoSrtpProfile,
    /// A profile we did not offer (cannot happen with OpenSSL, checked anyway).
    #[error("DTLS-SRTP profile {0} is not supported")]
    UnsupportedProfile(String),
    /// The handshake failed (alert, bad message, verify failure other than the fingerprint).
    #[error("DTLS handshake failed: {0}")]
    Handshake(String),
    /// The peer closed the association (close_notify).
    #[error("DTLS association closed by the peer")]
    Closed,
    /// Setting up OpenSSL or the certificate failed.
    #[error("DTLS set-up: {0}")]
    Setup(String),
    /// The exported keys were refused by the SRTP layer.
    #[error(transparent)]
    Srtp(#[from] SrtpError),
}

fn setup_err(e: impl std::fmt::Display) -> DtlsError {
    DtlsError::Setup(e.to_string())
}

/// Our DTLS certificate: a fresh ECDSA P-256 key and a self-signed certificate, one per run.
pub struct DtlsCertificate {
    key: PKey<Private>,
    cert: X509,
    fingerprint: Fingerprint,
}

impl std::fmt::Debug for DtlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DtlsCertificate({})", self.fingerprint)
    }
}

impl DtlsCertificate {
    /// Makes a key pair and a self-signed certificate (CN `icephone`, random serial, valid
    /// from a day ago, against clock skew, for 30 days).
    ///
    /// # Errors
    ///
    /// [`DtlsError::Setup`] if OpenSSL fails.
    pub fn generate() -> Result<Self, DtlsError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(setup_err)?;
        let key =
            PKey::from_ec_key(EcKey::generate(&group).map_err(setup_err)?).map_err(setup_err)?;
        let mut name = X509NameBuilder::new().map_err(setup_err)?;
        name.append_entry_by_nid(Nid::COMMONNAME, "icephone")
            .map_err(setup_err)?;
        let name = name.build();
        let mut b = X509::builder().map_err(setup_err)?;
        b.set_version(2).map_err(setup_err)?;
        let mut serial = BigNum::new().map_err(setup_err)?;
        serial
            .rand(63, MsbOption::MAYBE_ZERO, false)
            .map_err(setup_err)?;
        let serial = serial.to_asn1_integer().map_err(setup_err)?;
        b.set_serial_number(&serial).map_err(setup_err)?;
        b.set_subject_name(&name).map_err(setup_err)?;
        b.set_issuer_name(&name).map_err(setup_err)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(setup_err)?
            .as_secs() as i64;
        let not_before = Asn1Time::from_unix(now - 86_400).map_err(setup_err)?;
        let not_after = Asn1Time::days_from_now(CERT_DAYS).map_err(setup_err)?;
        b.set_not_before(&not_before).map_err(setup_err)?;
        b.set_not_after(&not_after).map_err(setup_err)?;
        b.set_pubkey(&key).map_err(setup_err)?;
        b.sign(&key, MessageDigest::sha256()).map_err(setup_err)?;
        let cert = b.build();
        let fingerprint = fingerprint_of(&cert, "sha-256")?;
        Ok(DtlsCertificate {
            key,
            cert,
            fingerprint,
        })
    }

    /// The certificate's SHA-256 fingerprint, for our `a=fingerprint`.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// The hash of `cert` with the named hash function (`sha-256`, `sha-1`… RFC 8122 §5 names).
fn fingerprint_of(cert: &X509Ref, hash: &str) -> Result<Fingerprint, DtlsError> {
    let md = MessageDigest::from_name(&hash.replace('-', ""))
        .ok_or_else(|| DtlsError::UnsupportedHash(hash.to_string()))?;
    let digest = cert.digest(md).map_err(setup_err)?;
    Ok(Fingerprint::new(hash, digest.to_vec()))
}

/// Is this datagram DTLS? RFC 7983 §7 (RFC 5764 §5.1.2): first octet 20..=63; RTP/RTCP is
/// 128..=191 and STUN 0..=3, all on one port with ICE.
pub fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// The result of a completed DTLS-SRTP handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsSrtpKeys {
    /// The negotiated protection profile.
    pub suite: SrtpSuite,
    /// Our write key: protects what we send.
    pub local: SrtpKey,
    /// The peer's write key: unprotects what we receive.
    pub remote: SrtpKey,
    /// The peer certificate's fingerprint (it matched the SDP).
    pub peer_fingerprint: Fingerprint,
}

impl DtlsSrtpKeys {
    /// The SRTP context for the stream.
    ///
    /// # Errors
    ///
    /// [`SrtpError`] if the library refuses the keys.
    pub fn context(&self) -> Result<SrtpContext, SrtpError> {
        SrtpContext::new(&self.local, &self.remote)
    }
}

/// What the endpoint has to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsEvent {
    /// The handshake completed and the peer's certificate matched: SRTP may start.
    Connected(Box<DtlsSrtpKeys>),
}

/// Datagram queues standing in for the socket: every `write` from OpenSSL is one datagram
/// to send, every `read` takes one received datagram whole.
#[derive(Default)]
struct DatagramIo {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
}

impl Read for DatagramIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.incoming.pop_front() {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for DatagramIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum State {
    Handshaking(MidHandshakeSslStream<DatagramIo>),
    Connected(SslStream<DatagramIo>),
    Failed(DtlsError),
    /// Only while moving between states.
    Taken,
}

/// One DTLS-SRTP association, sans-IO.
pub struct DtlsEndpoint {
    role: DtlsRole,
    state: State,
    /// Set by the verify callback when the peer certificate does not match.
    mismatch: Arc<Mutex<Option<DtlsError>>>,
    expected: Vec<Fingerprint>,
    events: VecDeque<DtlsEvent>,
    /// Datagrams taken out of the finished stream (after an error).
    pending: VecDeque<Vec<u8>>,
    timeout: Option<Instant>,
}

impl std::fmt::Debug for DtlsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Handshaking(_) => "handshaking",
            State::Connected(_) => "connected",
            State::Failed(_) => "failed",
            State::Taken => "taken",
        };
        f.debug_struct("DtlsEndpoint")
            .field("role", &self.role)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl DtlsEndpoint {
    /// Starts an association. `remote` are the peer's `a=fingerprint` values (media level,
    /// else session level; [`sdp::security::read_security`]). A client sends its first
    /// flight at once: poll [`DtlsEndpoint::poll_transmit`] after this.
    ///
    /// # Errors
    ///
    /// [`DtlsError::NoFingerprint`] without a fingerprint, [`DtlsError::UnsupportedHash`]
    /// for a hash OpenSSL does not know, [`DtlsError::Setup`] if OpenSSL fails.
    pub fn new(
        cert: &DtlsCertificate,
        role: DtlsRole,
        remote: Vec<Fingerprint>,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        if remote.is_empty() {
            return Err(DtlsError::NoFingerprint);
        }
        for fp in &remote {
            if MessageDigest::from_name(&fp.hash.replace('-', "")).is_none() {
                return Err(DtlsError::UnsupportedHash(fp.hash.clone()));
            }
        }
        let mut b = SslContext::builder(SslMethod::dtls()).map_err(setup_err)?;
        b.set_min_proto_version(Some(SslVersion::DTLS1_2))
            .map_err(setup_err)?;
        b.set_certificate(&cert.cert).map_err(setup_err)?;
        b.set_private_key(&cert.key).map_err(setup_err)?;
        b.check_private_key().map_err(setup_err)?;
        let profiles = SrtpSuite::ALL.map(SrtpSuite::dtls_profile_name).join(":");
        b.set_tlsext_use_srtp(&profiles).map_err(setup_err)?;
        // The MTU is ours, not the BIO's (there is no socket to ask).
        b.set_options(SslOptions::NO_QUERY_MTU);
        let ctx = b.build();
        let mut ssl = Ssl::new(&ctx).map_err(setup_err)?;
        ssl.set_mtu(DTLS_MTU).map_err(setup_err)?;
        let mismatch = Arc::new(Mutex::new(None));
        let (slot, expected) = (mismatch.clone(), remote.clone());
        // RFC 5763 §5: no CA; the certificate is accepted when its hash matches the SDP.
        // Chain certificates (depth > 0) are irrelevant: only the leaf is fingerprinted.
        ssl.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            move |_preverified, store| {
                if store.error_depth() > 0 {
                    return true;
                }
                let Some(cert) = store.current_cert() else {
                    return false;
                };
                match check_fingerprint(cert, &expected) {
                    Ok(()) => true,
                    Err(e) => {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        false
                    }
                }
            },
        );
        let io = DatagramIo::default();
        let started = match role {
            DtlsRole::Client => ssl.connect(io),
            DtlsRole::Server => ssl.accept(io),
        };
        let mut ep = DtlsEndpoint {
            role,
            state: State::Taken,
            mismatch,
            expected: remote,
            events: VecDeque::new(),
            pending: VecDeque::new(),
            timeout: None,
        };
        ep.after_handshake_step(started, now);
        match &ep.state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(ep),
        }
    }

    /// Our role.
    pub fn role(&self) -> DtlsRole {
        self.role
    }

    /// Whether the handshake has completed.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// The error the association failed with, if it did.
    pub fn error(&self) -> Option<&DtlsError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// A DTLS datagram from the peer (see [`is_dtls`] for telling it from RTP and STUN).
    ///
    /// # Errors
    ///
    /// The [`DtlsError`] the association failed with (then and on every later call).
    pub fn handle_datagram(&mut self, datagram: &[u8], now: Instant) -> Result<(), DtlsError> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Handshaking(mut mid) => {
                mid.get_mut().incoming.push_back(datagram.to_vec());
                let step = mid.handshake();
                self.after_handshake_step(step, now);
            }
            State::Connected(mut stream) => {
                // Retransmitted handshake messages, alerts, or application data (unused).
                stream.get_mut().incoming.push_back(datagram.to_vec());
                let mut buf = [0u8; 2048];
                loop {
                    match stream.ssl_read(&mut buf) {
                        Ok(_) => continue,
                        Err(e) if e.code() == ErrorCode::WANT_READ => break,
                        Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                            self.pending.extend(stream.get_mut().outgoing.drain(..));
                            self.state = State::Failed(DtlsError::Closed);
                            return Err(DtlsError::Closed);
                        }
                        Err(e) => {
                            tracing::debug!("DTLS: ignoring a record after the handshake: {e}");
                            break;
                        }
                    }
                }
                self.state = State::Connected(stream);
            }
            other => self.state = other,
        }
        self.result()
    }

    /// Lets OpenSSL retransmit its last flight if its timer ran out (RFC 6347 §4.2.4).
    ///
    /// # Errors
    ///
    /// The [`DtlsError`] the association failed with.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsError> {
        if let State::Handshaking(mid) = &mut self.state {
            if self.timeout.is_some_and(|t| now >= t) {
                // SAFETY: a valid SSL* owned by `mid`; DTLS_CTRL_HANDLE_TIMEOUT takes no
                // pointer argument.
                unsafe {
                    openssl_sys::SSL_ctrl(
                        mid.ssl().as_ptr(),
                        DTLS_CTRL_HANDLE_TIMEOUT,
                        0,
                        std::ptr::null_mut(),
                    );
                }
                self.timeout = dtls_timeout(mid.ssl(), now);
            }
        }
        self.result()
    }

    /// The next datagram to send to the peer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if let Some(d) = self.pending.pop_front() {
            return Some(d);
        }
        match &mut self.state {
            State::Handshaking(mid) => mid.get_mut().outgoing.pop_front(),
            State::Connected(stream) => stream.get_mut().outgoing.pop_front(),
            _ => None,
        }
    }

    /// When [`DtlsEndpoint::handle_timeout`] should be called next; `None` once connected
    /// or failed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Handshaking(_) => self.timeout,
            _ => None,
        }
    }

    /// The next event ([`DtlsEvent::Connected`] once).
    pub fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    fn result(&self) -> Result<(), DtlsError> {
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    fn after_handshake_step(
        &mut self,
        step: Result<SslStream<DatagramIo>, HandshakeError<DatagramIo>>,
        now: Instant,
    ) {
        self.state = match step {
            Ok(mut stream) => match self.connected(stream.ssl()) {
                Ok(keys) => {
                    self.events.push_back(DtlsEvent::Connected(Box::new(keys)));
                    self.timeout = None;
                    State::Connected(stream)
                }
                Err(e) => {
                    self.pending.extend(stream.get_mut().outgoing.drain(..));
                    State::Failed(e)
                }
            },
            Err(HandshakeError::WouldBlock(mid)) => {
                self.timeout = dtls_timeout(mid.ssl(), now);
                State::Handshaking(mid)
            }
            Err(HandshakeError::Failure(mut mid)) => {
                // Send our alert too, so the peer stops at once.
                self.pending.extend(mid.get_mut().outgoing.drain(..));
                let mismatch = self
                    .mismatch
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                State::Failed(
                    mismatch.unwrap_or_else(|| DtlsError::Handshake(mid.error().to_string())),
                )
            }
            Err(HandshakeError::SetupFailure(e)) => State::Failed(setup_err(e)),
        };
    }

    /// The keys of a completed handshake (RFC 5764 §4.2).
    fn connected(&self, ssl: &SslRef) -> Result<DtlsSrtpKeys, DtlsError> {
        // The verify callback ran, but check again: a session without a peer certificate
        // must never yield keys.
        let peer = ssl
            .peer_certificate()
            .ok_or_else(|| DtlsError::Handshake("no peer certificate".into()))?;
        check_fingerprint(&peer, &self.expected)?;
        let peer_fingerprint = fingerprint_of(&peer, &self.expected[0].hash)?;
        let profile = ssl
            .selected_srtp_profile()
            .ok_or(DtlsError::NoSrtpProfile)?;
        let name = profile.name();
        let suite = SrtpSuite::from_dtls_profile_name(name)
            .ok_or_else(|| DtlsError::UnsupportedProfile(name.to_string()))?;
        let (k, s) = (suite.key_len(), suite.salt_len());
        let mut material = vec![0u8; 2 * (k + s)];
        ssl.export_keying_material(&mut material, EXPORTER_LABEL, None)
            .map_err(|e| DtlsError::Handshake(format!("key export: {e}")))?;
        // client_write_key | server_write_key | client_write_salt | server_write_salt
        let client = SrtpKey::new(suite, &material[..k], &material[2 * k..2 * k + s])?;
        let server = SrtpKey::new(suite, &material[k..2 * k], &material[2 * k + s..])?;
        let (local, remote) = match self.role {
            DtlsRole::Client => (client, server),
            DtlsRole::Server => (server, client),
        };
        Ok(DtlsSrtpKeys {
            suite,
            local,
            remote,
            peer_fingerprint,
        })
    }
}

/// Accepts `cert` if it hashes to one of `expected`.
fn check_fingerprint(cert: &X509Ref, expected: &[Fingerprint]) -> Result<(), DtlsError> {
    for fp in expected {
        if fingerprint_of(cert, &fp.hash)? == *fp {
            return Ok(());
        }
    }
    let hash = expected.first().map_or("sha-256", |f| f.hash.as_str());
    Err(DtlsError::FingerprintMismatch {
        expected: expected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        actual: fingerprint_of(cert, hash)?.to_string(),
    })
}

/// `DTLS_CTRL_GET_TIMEOUT` / `DTLS_CTRL_HANDLE_TIMEOUT` from OpenSSL's `ssl.h` (the macros
/// `DTLSv1_get_timeout` and `DTLSv1_handle_timeout` expand to `SSL_ctrl` with these).
const DTLS_CTRL_GET_TIMEOUT: libc::c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: libc::c_int = 74;

/// OpenSSL's retransmission deadline, moved onto the caller's clock.
fn dtls_timeout(ssl: &SslRef, now: Instant) -> Option<Instant> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: a valid SSL*; DTLS_CTRL_GET_TIMEOUT writes one `struct timeval` to parg.
    let running = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            DTLS_CTRL_GET_TIMEOUT,
            0,
            (&mut tv as *mut libc::timeval).cast(),
        )
    };
    (running == 1).then(|| {
        now + Duration::from_secs(tv.tv_sec.max(0) as u64)
            + Duration::from_micros(tv.tv_usec.max(0) as u64)
    })
}
