//! RFC 3263 §4 as pure functions: which lookups a SIP URI needs, and how NAPTR and SRV
//! answers are filtered and ordered. No IO here; `super::Resolver` runs the lookups.

use std::net::IpAddr;

/// A SIP service a target offers: the NAPTR service field and the SRV prefix
/// (RFC 3263 §4.1 table; RFC 3261 §26.2 for sips).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `SIP+D2U`, `_sip._udp`.
    SipUdp,
    /// `SIP+D2T`, `_sip._tcp`.
    SipTcp,
    /// `SIPS+D2T`, `_sips._tcp`: TLS over TCP.
    SipsTcp,
}

impl Service {
    pub fn naptr_service(self) -> &'static str {
        match self {
            Service::SipUdp => "SIP+D2U",
            Service::SipTcp => "SIP+D2T",
            Service::SipsTcp => "SIPS+D2T",
        }
    }

    pub fn srv_prefix(self) -> &'static str {
        match self {
            Service::SipUdp => "_sip._udp",
            Service::SipTcp => "_sip._tcp",
            Service::SipsTcp => "_sips._tcp",
        }
    }

    /// RFC 3261 §19.1.2 / §26.2: 5060, and 5061 for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            Service::SipsTcp => 5061,
            _ => 5060,
        }
    }

    pub fn is_secure(self) -> bool {
        self == Service::SipsTcp
    }

    /// The lowercase URI `transport` parameter value.
    pub fn transport_param(self) -> &'static str {
        match self {
            Service::SipUdp => "udp",
            Service::SipTcp => "tcp",
            Service::SipsTcp => "tls",
        }
    }

    fn from_naptr_service(field: &str) -> Option<Service> {
        [Service::SipUdp, Service::SipTcp, Service::SipsTcp]
            .into_iter()
            .find(|s| s.naptr_service().eq_ignore_ascii_case(field))
    }
}

/// What the URI says about where it goes (the parts RFC 3263 §4 looks at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTarget {
    /// The host: a domain name or an IP literal (brackets removed).
    pub host: String,
    pub port: Option<u16>,
    /// The `transport` parameter, lowercase.
    pub transport: Option<String>,
    /// A sips: URI: only TLS may be used (RFC 3263 §4.1, RFC 3261 §26.2).
    pub secure: bool,
}

/// Why a URI cannot be resolved at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{uri}: transport={transport} is not supported (udp, tcp and tls are)")]
    UnsupportedTransport { uri: String, transport: String },
    #[error("{uri}: a sips: URI cannot use transport={transport} (RFC 3261 §26.2: TLS only)")]
    InsecureTransportForSips { uri: String, transport: String },
}

/// The lookups RFC 3263 §4 prescribes for one URI, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// §4.1/§4.2: an IP literal needs no DNS.
    Literal {
        ip: IpAddr,
        port: u16,
        service: Service,
    },
    /// §4.2: a port in the URI: A/AAAA only, with the URI's (or the default) transport.
    Address {
        host: String,
        port: u16,
        service: Service,
    },
    /// §4.1: a transport parameter without a port: SRV for that transport, then A/AAAA.
    Srv { host: String, service: Service },
    /// §4.1: neither: NAPTR, else SRV for each supported service, else A/AAAA.
    Naptr {
        host: String,
        services: Vec<Service>,
    },
}

impl Plan {
    pub fn for_target(target: &UriTarget, uri: &str) -> Result<Plan, PlanError> {
        let explicit = match target.transport.as_deref() {
            None => None,
            Some("udp") if !target.secure => Some(Service::SipUdp),
            Some("tcp") if !target.secure => Some(Service::SipTcp),
            // RFC 3261 §26.2: sips: with transport=tcp means TLS over TCP.
            Some("tls") | Some("tcp") => Some(Service::SipsTcp),
            Some(other) if target.secure => {
                return Err(PlanError::InsecureTransportForSips {
                    uri: uri.into(),
                    transport: other.into(),
                })
            }
            Some(other) => {
                return Err(PlanError::UnsupportedTransport {
                    uri: uri.into(),
                    transport: other.into(),
                })
            }
        };
        // RFC 3263 §4.1: an IP literal or an explicit port: UDP for sip, TLS for sips.
        let fixed = explicit.unwrap_or(if target.secure {
            Service::SipsTcp
        } else {
            Service::SipUdp
        });
        if let Ok(ip) = target.host.parse::<IpAddr>() {
            return Ok(Plan::Literal {
                ip,
                port: target.port.unwrap_or(fixed.default_port()),
                service: fixed,
            });
        }
        if let Some(port) = target.port {
            return Ok(Plan::Address {
                host: target.host.clone(),
                port,
                service: fixed,
            });
        }
        if let Some(service) = explicit {
            return Ok(Plan::Srv {
                host: target.host.clone(),
                service,
            });
        }
        let services = if target.secure {
            vec![Service::SipsTcp]
        } else {
            // Our preference when the domain publishes no NAPTR: UDP, TCP, TLS, as every
            // SIP UA supports UDP (RFC 3263 §4.1 leaves the order to the client).
            vec![Service::SipUdp, Service::SipTcp, Service::SipsTcp]
        };
        Ok(Plan::Naptr {
            host: target.host.clone(),
            services,
        })
    }
}

/// One NAPTR record, as far as RFC 3263 uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

/// RFC 3263 §4.1: the NAPTR records we can use (flag "s", a service we support and are
/// allowed), lowest order then preference first, each with the SRV name it points at.
pub fn usable_naptrs(records: &[NaptrRecord], allowed: &[Service]) -> Vec<(Service, String)> {
    let mut usable: Vec<(&NaptrRecord, Service)> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter_map(|r| Service::from_naptr_service(&r.services).map(|s| (r, s)))
        .filter(|(_, s)| allowed.contains(s))
        .collect();
    usable.sort_by_key(|(r, _)| (r.order, r.preference));
    usable
        .into_iter()
        .map(|(r, s)| (s, r.replacement.trim_end_matches('.').to_owned()))
        .collect()
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// RFC 2782 (as RFC 3263 §4.4 requires): lowest priority first; within a priority, a
/// weighted random order where `pick(total)` returns a number in `0..=total`. A target of
/// "." means the service is decidedly not available and is dropped.
pub fn order_srv(records: &[SrvRecord], mut pick: impl FnMut(u32) -> u32) -> Vec<SrvRecord> {
    let mut remaining: Vec<SrvRecord> = records
        .iter()
        .filter(|r| !r.target.trim_end_matches('.').is_empty())
        .cloned()
        .collect();
    remaining.sort_by_key(|r| r.priority);
    let mut ordered = Vec::with_capacity(remaining.len());
    while let Some(priority) = remaining.first().map(|r| r.priority) {
        let mut group: Vec<SrvRecord> = Vec::new();
        remaining.retain(|r| {
            if r.priority == priority {
                group.push(r.clone());
                false
            } else {
                true
            }
        });
        // RFC 2782: zero-weight records first in the running sum, so they keep a small
        // chance of being picked first.
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let chosen = pick(total).min(total);
            let mut running = 0u32;
            let index = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= chosen
                })
                .unwrap_or(0);
            ordered.push(group.remove(index));
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: Option<u16>, transport: Option<&str>, secure: bool) -> UriTarget {
        UriTarget {
            host: host.into(),
            port,
            transport: transport.map(str::to_owned),
            secure,
        }
    }

    #[test]
    fn literal_hosts_need_no_dns() {
        let plan = Plan::for_target(&target("203.0.113.5", None, None, false), "u").unwrap();
        assert_eq!(
            plan,
            Plan::Literal {
                ip: "203.0.113.5".parse().unwrap(),
                port: 5060,
                service: Service::SipUdp
            }
        );
        let plan = Plan::for_target(&target("2001:db8::5", None, None, true), "u").unwrap();
        assert!(matches!(
            plan,
            Plan::Literal {
                port: 5061,
                service: Service::SipsTcp,
                ..
            }
        ));
    }

    #[test]
    fn a_port_means_address_records_only() {
        let plan =
            Plan::for_target(&target("pbx.test", Some(5080), Some("tcp"), false), "u").unwrap();
        assert_eq!(
            plan,
            Plan::Address {
                host: "pbx.test".into(),
                port: 5080,
                service: Service::SipTcp
            }
        );
    }

    #[test]
    fn a_transport_without_port_means_srv_and_sips_means_tls_only() {
        let plan = Plan::for_target(&target("pbx.test", None, Some("tcp"), false), "u").unwrap();
        assert_eq!(
            plan,
            Plan::Srv {
                host: "pbx.test".into(),
                service: Service::SipTcp
            }
        );
        let plan = Plan::for_target(&target("pbx.test", None, None, true), "u").unwrap();
        assert_eq!(
            plan,
            Plan::Naptr {
                host: "pbx.test".into(),
                services: vec![Service::SipsTcp]
            }
        );
        let err =
            Plan::for_target(&target("pbx.test", None, Some("udp"), true), "sips:x").unwrap_err();
        assert!(matches!(err, PlanError::InsecureTransportForSips { .. }));
        let err =
            Plan::for_target(&target("pbx.test", None, Some("sctp"), false), "sip:x").unwrap_err();
        assert!(err.to_string().contains("sctp"), "{err}");
    }

    #[test]
    fn naptrs_are_filtered_and_ordered() {
        let rec = |order, pref, flags: &str, svc: &str, repl: &str| NaptrRecord {
            order,
            preference: pref,
            flags: flags.into(),
            services: svc.into(),
            replacement: repl.into(),
        };
        let records = vec![
            rec(20, 10, "s", "SIP+D2U", "_sip._udp.pbx.test."),
            rec(10, 20, "s", "SIP+D2T", "_sip._tcp.pbx.test."),
            rec(10, 10, "s", "SIPS+D2T", "_sips._tcp.pbx.test."),
            rec(5, 10, "s", "SIP+D2S", "_sip._sctp.pbx.test."),
            rec(1, 10, "u", "SIP+D2U", "!^.*$!sip:x@y!"),
        ];
        let all = [Service::SipUdp, Service::SipTcp, Service::SipsTcp];
        assert_eq!(
            usable_naptrs(&records, &all),
            vec![
                (Service::SipsTcp, "_sips._tcp.pbx.test".to_string()),
                (Service::SipTcp, "_sip._tcp.pbx.test".to_string()),
                (Service::SipUdp, "_sip._udp.pbx.test".to_string()),
            ]
        );
        // A sips: URI uses only SIPS+D2T (RFC 3263 §4.1).
        assert_eq!(usable_naptrs(&records, &[Service::SipsTcp]).len(), 1);
    }

    fn srv(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        }
    }

    #[test]
    fn srv_orders_by_priority_then_weight() {
        let records = vec![
            srv(20, 0, "backup.test."),
            srv(10, 10, "a.test."),
            srv(10, 90, "b.test."),
            srv(30, 0, "."),
        ];
        // pick(total) = total: the last in the running sum (b) is chosen first.
        let names: Vec<String> = order_srv(&records, |total| total)
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(names, ["b.test.", "a.test.", "backup.test."]);
        // pick = 1: the first with a running sum ≥ 1 (a).
        let names: Vec<String> = order_srv(&records, |_| 1)
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(names, ["a.test.", "b.test.", "backup.test."]);
    }

    #[test]
    fn srv_weights_shape_the_first_choice() {
        let records = vec![srv(10, 10, "a.test."), srv(10, 90, "b.test.")];
        let mut state = 12345u32;
        let mut first_b = 0;
        for _ in 0..1000 {
            let ordered = order_srv(&records, |total| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 8) % (total + 1)
            });
            first_b += usize::from(ordered[0].target == "b.test.");
        }
        assert!((800..=980).contains(&first_b), "b first {first_b} of 1000");
    }
}
