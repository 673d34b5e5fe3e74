//! Name resolution for SIP (RFC 3263), STUN (RFC 8489 §8) and TURN (RFC 8656 §4), with
//! hickory-resolver. The system's resolv.conf is the default; `--dns IP:PORT` replaces it.
//! Answers are cached by hickory for their TTL, so a refresh or a second call to the same
//! domain does not query again while the records live.

pub mod rfc3263;

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::LookupIpStrategy;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rand::Rng;

use rfc3263::{order_srv, usable_naptrs, NaptrRecord, SrvRecord};
pub use rfc3263::{Plan, PlanError, Service, UriTarget};

/// One place to send SIP: the service (transport), the address, and the host it was found
/// at (the SRV target, or the URI's host). A TLS certificate is checked against the
/// resolution's `name`, the domain the lookup started from (RFC 5922 §7.3), not this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: Service,
    pub addr: SocketAddr,
    pub host: String,
}

/// The ordered targets for a name, and the records that led there (for the `resolved`
/// event and error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub name: String,
    pub targets: Vec<Target>,
    pub records: Vec<String>,
}

/// Why a name could not be turned into targets.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("DNS: cannot use the system's resolver configuration: {0}")]
    Config(String),
    #[error("DNS: {0}")]
    Plan(#[from] PlanError),
    #[error("DNS: {name} does not exist (NXDOMAIN)")]
    NoSuchName { name: String },
    #[error("DNS: {name} has no usable records (looked up: {})", tried.join(", "))]
    NoRecords { name: String, tried: Vec<String> },
    #[error("DNS: looking up {name} failed: {reason}")]
    Lookup { name: String, reason: String },
}

/// Which address family our sockets use: only those addresses are worth returning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        }
    }
}

/// The program's resolver (cheap to clone; clones share the cache).
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
    family: Family,
}

impl Resolver {
    /// The system's configuration, or `server` (`--dns IP:PORT`) alone.
    pub fn new(server: Option<SocketAddr>, family: Family) -> Result<Resolver, DnsError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                )
            }
            None => {
                TokioResolver::builder(provider).map_err(|e| DnsError::Config(e.to_string()))?
            }
        };
        let options = builder.options_mut();
        options.ip_strategy = match family {
            Family::V4 => LookupIpStrategy::Ipv4Only,
            Family::V6 => LookupIpStrategy::Ipv6Only,
        };
        // A SIP transaction waits 32 s at most; a name that takes longer is as good as dead.
        options.timeout = std::time::Duration::from_secs(2);
        options.attempts = 2;
        let inner = builder
            .build()
            .map_err(|e| DnsError::Config(e.to_string()))?;
        Ok(Resolver { inner, family })
    }

    /// RFC 3263 §4: the ordered targets for a SIP or SIPS URI.
    pub async fn resolve_uri(&self, target: &UriTarget, uri: &str) -> Result<Resolution, DnsError> {
        let mut records = Vec::new();
        let targets = match Plan::for_target(target, uri)? {
            Plan::Literal { ip, port, service } => vec![Target {
                service,
                addr: SocketAddr::new(ip, port),
                host: ip.to_string(),
            }],
            Plan::Address {
                host,
                port,
                service,
            } => self
                .addresses(&host, port, &mut records)
                .await?
                .into_iter()
                .map(|addr| Target {
                    service,
                    addr,
                    host: host.clone(),
                })
                .collect(),
            Plan::Srv { host, service } => {
                let srv_name = format!("{}.{host}", service.srv_prefix());
                match self.srv_targets(&srv_name, service, &mut records).await? {
                    found if !found.is_empty() => found,
                    // RFC 3263 §4.2: no SRV → A/AAAA at the transport's default port.
                    _ => self.fallback(&host, service, &mut records).await?,
                }
            }
            Plan::Naptr { host, services } => {
                self.naptr_targets(&host, &services, &mut records).await?
            }
        };
        if targets.is_empty() {
            return Err(DnsError::NoRecords {
                name: target.host.clone(),
                tried: records,
            });
        }
        Ok(Resolution {
            name: target.host.clone(),
            targets,
            records,
        })
    }

    /// STUN/TURN discovery (RFC 8489 §8, RFC 8656 §4): `host:port` is used as given
    /// (A/AAAA); a bare host looks up `srv_prefix.host` SRV first, then A/AAAA at
    /// `default_port`.
    pub async fn resolve_server(
        &self,
        host: &str,
        port: Option<u16>,
        srv_prefix: &str,
        default_port: u16,
    ) -> Result<Resolution, DnsError> {
        let mut records = Vec::new();
        let addrs = match (host.parse::<IpAddr>(), port) {
            (Ok(ip), port) => vec![SocketAddr::new(ip, port.unwrap_or(default_port))],
            (Err(_), Some(port)) => self.addresses(host, port, &mut records).await?,
            (Err(_), None) => {
                let srv_name = format!("{srv_prefix}.{host}");
                let srvs = self
                    .srv_targets(&srv_name, Service::SipUdp, &mut records)
                    .await?;
                if srvs.is_empty() {
                    self.addresses(host, default_port, &mut records).await?
                } else {
                    srvs.into_iter().map(|t| t.addr).collect()
                }
            }
        };
        if addrs.is_empty() {
            return Err(DnsError::NoRecords {
                name: host.into(),
                tried: records,
            });
        }
        Ok(Resolution {
            name: host.into(),
            targets: addrs
                .into_iter()
                .map(|addr| Target {
                    service: Service::SipUdp,
                    addr,
                    host: host.into(),
                })
                .collect(),
            records,
        })
    }

    /// RFC 3263 §4.1: NAPTR; without usable NAPTRs, SRV for each service we support; without
    /// any SRV, A/AAAA with the first service at its default port.
    async fn naptr_targets(
        &self,
        host: &str,
        services: &[Service],
        records: &mut Vec<String>,
    ) -> Result<Vec<Target>, DnsError> {
        let naptrs = self.naptrs(host, records).await?;
        let chosen = usable_naptrs(&naptrs, services);
        let mut targets = Vec::new();
        if chosen.is_empty() {
            for service in services {
                let srv_name = format!("{}.{host}", service.srv_prefix());
                targets.extend(self.srv_targets(&srv_name, *service, records).await?);
            }
        } else {
            for (service, srv_name) in chosen {
                targets.extend(self.srv_targets(&srv_name, service, records).await?);
            }
        }
        if targets.is_empty() {
            let service = services.first().copied().unwrap_or(Service::SipUdp);
            targets = self.fallback(host, service, records).await?;
        }
        Ok(targets)
    }

    async fn fallback(
        &self,
        host: &str,
        service: Service,
        records: &mut Vec<String>,
    ) -> Result<Vec<Target>, DnsError> {
        let addrs = match self.addresses(host, service.default_port(), records).await {
            // The caller reports every record it looked up, not only this last one.
            Err(DnsError::NoRecords { .. }) => {
                records.push(format!("A/AAAA {host}: none"));
                Vec::new()
            }
            other => other?,
        };
        Ok(addrs
            .into_iter()
            .map(|addr| Target {
                service,
                addr,
                host: host.into(),
            })
            .collect())
    }

    async fn naptrs(
        &self,
        host: &str,
        records: &mut Vec<String>,
    ) -> Result<Vec<NaptrRecord>, DnsError> {
        let Some(lookup) = self.lookup(host, RecordType::NAPTR, records).await? else {
            return Ok(Vec::new());
        };
        let found: Vec<NaptrRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::NAPTR(n) => Some(NaptrRecord {
                    order: n.order,
                    preference: n.preference,
                    flags: String::from_utf8_lossy(&n.flags).into_owned(),
                    services: String::from_utf8_lossy(&n.services).into_owned(),
                    replacement: n.replacement.to_utf8(),
                }),
                _ => None,
            })
            .collect();
        for n in &found {
            records.push(format!(
                "NAPTR {host} {} {} \"{}\" \"{}\" {}",
                n.order, n.preference, n.flags, n.services, n.replacement
            ));
        }
        Ok(found)
    }

    /// SRV records of `srv_name`, ordered (RFC 2782), each resolved to addresses.
    async fn srv_targets(
        &self,
        srv_name: &str,
        service: Service,
        records: &mut Vec<String>,
    ) -> Result<Vec<Target>, DnsError> {
        let Some(lookup) = self.lookup(srv_name, RecordType::SRV, records).await? else {
            return Ok(Vec::new());
        };
        let srvs: Vec<SrvRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(SrvRecord {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: s.target.to_utf8(),
                }),
                _ => None,
            })
            .collect();
        for s in &srvs {
            records.push(format!(
                "SRV {srv_name} {} {} {} {}",
                s.priority, s.weight, s.port, s.target
            ));
        }
        // The generator must not live across an await (it is not Send).
        let ordered = {
            let mut rng = rand::rng();
            order_srv(&srvs, |total| rng.random_range(0..=total))
        };
        let mut targets = Vec::new();
        for srv in ordered {
            let host = srv.target.trim_end_matches('.').to_owned();
            // A dead SRV target (no address) is skipped; the next one may work.
            let addrs = match self.addresses(&host, srv.port, records).await {
                Ok(addrs) => addrs,
                Err(e) => {
                    records.push(format!("{host}: {e}"));
                    continue;
                }
            };
            targets.extend(addrs.into_iter().map(|addr| Target {
                service,
                addr,
                host: host.clone(),
            }));
        }
        Ok(targets)
    }

    async fn addresses(
        &self,
        host: &str,
        port: u16,
        records: &mut Vec<String>,
    ) -> Result<Vec<SocketAddr>, DnsError> {
        let kind = match self.family {
            Family::V4 => "A",
            Family::V6 => "AAAA",
        };
        let lookup = self
            .inner
            .lookup_ip(fqdn(host))
            .await
            .map_err(|e| classify(host, &e))?;
        let addrs: Vec<SocketAddr> = lookup.iter().map(|ip| SocketAddr::new(ip, port)).collect();
        for a in &addrs {
            records.push(format!("{kind} {host} {}", a.ip()));
        }
        Ok(addrs)
    }

    /// One query; `None` when the name or the record type does not exist (the caller goes
    /// on to the next RFC 3263 step), an error when the DNS itself failed.
    async fn lookup(
        &self,
        name: &str,
        kind: RecordType,
        records: &mut Vec<String>,
    ) -> Result<Option<hickory_resolver::lookup::Lookup>, DnsError> {
        match self.inner.lookup(fqdn(name), kind).await {
            Ok(lookup) => Ok(Some(lookup)),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                records.push(format!("{kind} {name}: none"));
                Ok(None)
            }
            Err(e) => Err(DnsError::Lookup {
                name: name.into(),
                reason: e.to_string(),
            }),
        }
    }
}

/// Names from URIs are absolute: no search-domain expansion (RFC 3263 §4 resolves the
/// URI's host as is).
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

fn classify(host: &str, e: &NetError) -> DnsError {
    if e.is_nx_domain() {
        DnsError::NoSuchName { name: host.into() }
    } else if e.is_no_records_found() {
        DnsError::NoRecords {
            name: host.into(),
            tried: vec![format!("A/AAAA {host}")],
        }
    } else {
        DnsError::Lookup {
            name: host.into(),
            reason: e.to_string(),
        }
    }
}

/// Resolves with a resolver of its own on a one-off runtime in a thread of its own, for the
/// setup paths that are not async (settings, routes, scenario agents): it works whether or
/// not the caller runs inside a tokio runtime, and blocks the caller until done.
pub fn blocking<T: Send>(
    server: Option<SocketAddr>,
    family: Family,
    work: impl AsyncFnOnce(&Resolver) -> Result<T, DnsError> + Send,
) -> Result<T, DnsError> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| DnsError::Config(e.to_string()))?;
                runtime.block_on(async {
                    let resolver = Resolver::new(server, family)?;
                    work(&resolver).await
                })
            })
            .join()
            .unwrap_or_else(|_| Err(DnsError::Config("the resolver thread panicked".into())))
    })
}

/// `HOST`, `HOST:PORT`, `IP`, `IP:PORT`, `IPV6`, `[IPV6]` or `[IPV6]:PORT` as (host, port),
/// the port `None` when not given (a name without a port is looked up by SRV); the error
/// says what is wrong with the value.
pub fn split_host_port(value: &str) -> Result<(String, Option<u16>), String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("bad port {p:?} in {value:?}"))
    };
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in {value:?}"))?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{ip:?} in {value:?} is not an IPv6 address"))?;
        return match after {
            "" => Ok((ip.to_owned(), None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((ip.to_owned(), Some(port(p)?))),
                None => Err(format!("unexpected text after ']' in {value:?}")),
            },
        };
    }
    if value.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((value.to_owned(), None)); // a bare IPv6 address has no port
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((host, p)) => (host, Some(port(p)?)),
        None => (value, None),
    };
    if host.is_empty() {
        return Err(format!("missing host in {value:?}"));
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid {
        return Err(format!("{host:?} is not a host name or IP address"));
    }
    Ok((host.to_owned(), port))
}

/// The RFC 3263 view of a sip:/sips: URI.
pub fn uri_target(uri: &sip::message::Uri) -> Option<UriTarget> {
    let sip = uri.as_sip()?;
    let host = sip.host.to_string();
    Some(UriTarget {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: sip.port,
        transport: sip.transport().map(|t| t.to_ascii_lowercase()),
        secure: sip.secure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let ok = |v: &str, host: &str, port: Option<u16>| {
            assert_eq!(split_host_port(v), Ok((host.to_owned(), port)), "{v}");
        };
        ok("pbx.test", "pbx.test", None);
        ok("pbx.test:5080", "pbx.test", Some(5080));
        ok("192.0.2.1:3479", "192.0.2.1", Some(3479));
        ok("192.0.2.1", "192.0.2.1", None);
        ok("[2001:db8::1]:5060", "2001:db8::1", Some(5060));
        ok("[2001:db8::1]", "2001:db8::1", None);
        ok("2001:db8::1", "2001:db8::1", None);
        for bad in [
            "",
            ":3478",
            "host:port",
            "host:70000",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "bad host",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn uri_targets_keep_transport_and_security() {
        let uri: sip::message::Uri = "sips:bob@PBX.test;transport=TCP".parse().unwrap();
        let t = uri_target(&uri).unwrap();
        assert!(t.secure);
        assert_eq!(t.transport.as_deref(), Some("tcp"));
        assert_eq!(t.port, None);
    }
}
