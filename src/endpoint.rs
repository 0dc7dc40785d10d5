//! Endpoints: `tcp://host:port`, `ipc://path`, `ipc://@name` and `inproc://name`, parsed once
//! into a typed value.
//!
//! The accepted forms follow libzmq (see `ZMTP-NOTES.md` §7.1):
//!
//! | form | meaning |
//! |---|---|
//! | `tcp://127.0.0.1:5555`, `tcp://host.example:5555` | IPv4 literal or host name, port 1–65535 |
//! | `tcp://[::1]:5555` | IPv6 literal in brackets |
//! | `tcp://[fe80::1%eth0]:5555`, `tcp://[fe80::1%2]:5555` | IPv6 literal with a zone (RFC 4007): an interface name or index, used as the scope id |
//! | `tcp://*:5555`, `tcp://*:*`, `tcp://127.0.0.1:0` | bind only: every interface, and/or an ephemeral port |
//! | `tcp://eth0:5555` | bind: the (first IPv4, or with IPv6-only first IPv6) address of the interface `eth0`; a name that is no interface is resolved as a host name |
//! | `tcp://192.168.1.17:5555;10.0.0.1:5556`, `tcp://eth0:*;host:5556` | connect only: from the source address (or interface) before `;`, port `*` or 0 for any, to the host after it |
//! | `ipc:///tmp/feed.sock`, `ipc://relative.sock` | a Unix-domain socket file, at most 107 bytes |
//! | `ipc://*` | bind only: a fresh socket file in a new private directory under the temporary directory, reported by `last_endpoint` and removed with its directory on unbind or close |
//! | `ipc://@name` | a Linux abstract-namespace socket (no file) |
//! | `inproc://name` | in-process, 1–256 characters |
//!
//! Parsing never touches the network or the file system; host names (and interface names in
//! zones) are resolved only when an endpoint is bound, and at every connect attempt.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest ipc address, in bytes, after `ipc://`: a Unix socket's `sun_path` holds 108 bytes
/// including the terminating NUL. For abstract names the `@` counts, as in libzmq.
pub(crate) const MAX_IPC_PATH_LEN: usize = 107;

/// Longest inproc name, in characters.
pub(crate) const MAX_INPROC_NAME_LEN: usize = 256;

/// Longest host name accepted in a tcp endpoint (the DNS limit).
const MAX_HOST_NAME_LEN: usize = 253;

/// Transports libzmq knows but ferromq does not implement; named in the error message.
const UNSUPPORTED_TRANSPORTS: &[&str] =
    &["pgm", "epgm", "norm", "tipc", "vmci", "udp", "ws", "wss"];

/// Where a socket binds or connects: a parsed endpoint string.
///
/// Parse with [`Endpoint::parse`] or [`str::parse`]; [`Display`](fmt::Display) writes the
/// canonical form back, and parsing that text again gives an equal `Endpoint`.
///
/// # Examples
///
/// ```
/// use ferromq::Endpoint;
///
/// let ep: Endpoint = "tcp://[::1]:5555".parse().unwrap();
/// assert!(matches!(ep, Endpoint::Tcp(_)));
/// assert_eq!(ep.to_string(), "tcp://[::1]:5555");
///
/// let ep = Endpoint::parse("inproc://workers").unwrap();
/// assert_eq!(ep, Endpoint::Inproc("workers".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `tcp://host:port`.
    Tcp(TcpEndpoint),
    /// `ipc://path` or `ipc://@name`.
    Ipc(IpcEndpoint),
    /// `inproc://name`: the name, without the `inproc://` prefix.
    Inproc(String),
}

/// The host and port of a `tcp://` endpoint.
///
/// The host is `*` (every interface, bind only), an IP literal, or a host name. A host name
/// is resolved when the endpoint is bound, and again at every connect attempt (off the
/// caller's thread). An IPv6 literal may carry a zone, `[fe80::1%eth0]` or `[fe80::1%2]`,
/// which becomes the scope id of the address bound or connected to. The port is a number,
/// or `*` (an ephemeral port, bind only).
///
/// # Examples
///
/// ```
/// use ferromq::Endpoint;
///
/// let Endpoint::Tcp(tcp) = Endpoint::parse("tcp://*:*").unwrap() else { unreachable!() };
/// assert_eq!(tcp.to_string(), "tcp://*:*");
///
/// // A zone is kept, as written.
/// let ep = Endpoint::parse("tcp://[fe80::1%eth0]:5555").unwrap();
/// assert_eq!(ep.to_string(), "tcp://[fe80::1%eth0]:5555");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpEndpoint {
    /// The interface to bind or the host to connect to.
    host: Host,
    /// The port; `None` for `*`.
    port: Option<u16>,
    /// The local address a connect binds first (`tcp://source;host:port`); its host is an
    /// IP literal, `*`, or an interface name (never looked up in the DNS).
    source: Option<Box<TcpEndpoint>>,
}

/// The host part of a tcp endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Host {
    /// `*`: every interface.
    Any,
    /// A numeric IPv4 or IPv6 address.
    Ip(IpAddr),
    /// An IPv6 address with a zone: `[fe80::1%eth0]`.
    ScopedV6(Ipv6Addr, Zone),
    /// A host name, resolved when used.
    Name(String),
}

/// The zone of a scoped IPv6 address (RFC 4007 §11): the interface a link-local address
/// belongs to. It becomes the `sin6_scope_id` of the socket address, as in libzmq
/// (`ip_resolver.cpp`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Zone {
    /// A numeric interface index, `%2`; never 0.
    Index(u32),
    /// An interface name, `%eth0`, looked up (`if_nametoindex`) each time the endpoint is
    /// used, so a recreated interface is found under its new index.
    Name(String),
}

/// Longest interface name: Linux's `IFNAMSIZ` (16) less the terminating NUL.
const MAX_INTERFACE_NAME_LEN: usize = 15;

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Index(index) => write!(f, "{index}"),
            Zone::Name(name) => f.write_str(name),
        }
    }
}

impl Zone {
    /// The interface index: the number itself, or the index of the named interface.
    fn index(&self) -> std::result::Result<u32, String> {
        match self {
            Zone::Index(index) => Ok(*index),
            Zone::Name(name) => interface_index(name),
        }
    }
}

/// `if_nametoindex` without `unsafe`: Linux publishes each interface's index in sysfs.
#[cfg(target_os = "linux")]
fn interface_index(name: &str) -> std::result::Result<u32, String> {
    // The name was checked when parsed: no `/`, not `.` or `..`, so the path stays in
    // /sys/class/net.
    let path = format!("/sys/class/net/{name}/ifindex");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no network interface named `{name}` ({e})"))?;
    match text.trim().parse::<u32>() {
        Ok(index) if index > 0 => Ok(index),
        _ => Err(format!("cannot read the index of interface `{name}`")),
    }
}

/// Elsewhere interface names cannot be looked up without `unsafe`; a numeric zone works.
#[cfg(not(target_os = "linux"))]
fn interface_index(name: &str) -> std::result::Result<u32, String> {
    Err(format!(
        "interface names as IPv6 zones are only supported on Linux; give the index of `{name}` (`%2`)"
    ))
}

/// The address of an `ipc://` endpoint.
///
/// # Examples
///
/// ```
/// use ferromq::{Endpoint, IpcEndpoint};
///
/// let ep = Endpoint::parse("ipc://@broker").unwrap();
/// assert_eq!(ep, Endpoint::Ipc(IpcEndpoint::Abstract("broker".to_owned())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcEndpoint {
    /// A socket file in the file system (`ipc:///tmp/x.sock`); relative paths are relative to the
    /// process's working directory.
    Path(PathBuf),
    /// A Linux abstract-namespace name (`ipc://@name`), without the `@`.
    Abstract(String),
    /// `ipc://*`, bind only: a fresh socket file in a new private directory under the
    /// temporary directory ([`std::env::temp_dir`]); the bound path is reported by
    /// `last_endpoint`, and the file and its directory are removed on unbind or close.
    Unique,
}

impl Endpoint {
    /// Parses an endpoint string such as `tcp://127.0.0.1:5555`, `ipc:///tmp/x.sock`,
    /// `ipc://@name` or `inproc://name`.
    ///
    /// Only the syntax is checked: host names are not resolved and paths are not looked at.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::Endpoint;
    ///
    /// let ep = Endpoint::parse("tcp://127.0.0.1:5555").unwrap();
    /// assert_eq!(ep.to_string(), "tcp://127.0.0.1:5555");
    ///
    /// let err = Endpoint::parse("tcp://127.0.0.1").unwrap_err();
    /// assert!(err.to_string().contains("missing port"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] naming what is wrong: an unknown or unsupported transport, a
    /// tcp address without a port, a port that is not a number or is out of range, an empty
    /// host, unbalanced brackets, an empty or too long ipc path or inproc name.
    pub fn parse(s: &str) -> Result<Endpoint> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(Error::endpoint(
                s,
                "missing `://` after the transport name (expected tcp://, ipc:// or inproc://)",
            ));
        };
        match scheme {
            "tcp" => parse_tcp(s, rest).map(Endpoint::Tcp),
            "ipc" => parse_ipc(s, rest).map(Endpoint::Ipc),
            "inproc" => parse_inproc(s, rest).map(Endpoint::Inproc),
            "" => Err(Error::endpoint(s, "missing transport name before `://`")),
            other if UNSUPPORTED_TRANSPORTS.contains(&other) => Err(Error::endpoint(
                s,
                format!("transport `{other}` is not supported (only tcp, ipc and inproc)"),
            )),
            other => Err(Error::endpoint(
                s,
                format!("unknown transport `{other}` (expected tcp, ipc or inproc)"),
            )),
        }
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    /// Same as [`Endpoint::parse`].
    fn from_str(s: &str) -> Result<Endpoint> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    /// Writes the canonical form: `tcp://host:port` (`[v6]` in brackets), `ipc://path`,
    /// `ipc://@name` or `inproc://name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(tcp) => tcp.fmt(f),
            Endpoint::Ipc(ipc) => ipc.fmt(f),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

impl fmt::Display for TcpEndpoint {
    /// Writes `tcp://host:port`, with IPv6 literals in brackets and `*` for a wildcard.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tcp://")?;
        if let Some(source) = &self.source {
            let text = source.to_string();
            write!(f, "{};", text.trim_start_matches("tcp://"))?;
        }
        match &self.host {
            Host::Any => f.write_str("*")?,
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            Host::ScopedV6(ip, zone) => write!(f, "[{ip}%{zone}]")?,
            Host::Name(name) => f.write_str(name)?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => f.write_str(":*"),
        }
    }
}

impl fmt::Display for IpcEndpoint {
    /// Writes `ipc://path` or `ipc://@name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcEndpoint::Path(path) => write!(f, "ipc://{}", path.display()),
            IpcEndpoint::Abstract(name) => write!(f, "ipc://@{name}"),
            IpcEndpoint::Unique => f.write_str("ipc://*"),
        }
    }
}

/// How a connect attempt finds the addresses of a tcp endpoint; see
/// [`TcpEndpoint::connect_lookup`].
#[derive(Debug)]
pub(crate) enum ConnectLookup<'a> {
    /// A numeric host: its address, or why the zone's interface could not be found. Getting
    /// it needs no network (a zone's interface name is read from sysfs).
    Numeric(std::result::Result<SocketAddr, String>),
    /// A host name and the port, for a resolver ([`resolve_host`]).
    Name(&'a str, u16),
}

impl TcpEndpoint {
    /// The address to bind: `*` is `0.0.0.0` (`[::]` when `ipv6_only`), a port of `*` or `0`
    /// is `0` (the OS picks one), an IP literal is used as given (with its zone as the scope
    /// id), and a host name is resolved to its first IPv4 address (its first IPv6 address
    /// when `ipv6_only`), falling back to its first address of any family.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] when a host name cannot be resolved or a zone names no
    /// interface.
    pub(crate) fn bind_addr(&self, ipv6_only: bool) -> Result<SocketAddr> {
        if self.source.is_some() {
            return Err(self.invalid("a source address (`source;host:port`) is for connect only"));
        }
        self.local_addr(ipv6_only, true)
    }

    /// The local address of a bind, or of a connect's source (`dns` false: no lookup but
    /// interface names, as libzmq resolves a source).
    fn local_addr(&self, ipv6_only: bool, dns: bool) -> Result<SocketAddr> {
        let port = self.port.unwrap_or(0);
        let ip = match &self.host {
            Host::Any if ipv6_only => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Host::Any => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Host::Ip(ip) => *ip,
            Host::ScopedV6(ip, zone) => {
                let scope = zone.index().map_err(|e| self.invalid(e))?;
                return Ok(SocketAddr::V6(SocketAddrV6::new(*ip, port, 0, scope)));
            }
            Host::Name(name) => {
                if let Some(ip) = interface_addr(name, ipv6_only) {
                    return Ok(SocketAddr::new(ip, port));
                }
                if !dns {
                    return Err(self.invalid(format!(
                        "no network interface named `{name}` with an address (a source is an IP address or an interface, never looked up in the DNS)"
                    )));
                }
                let addrs = resolve_host(name, port).map_err(|e| self.invalid(e))?;
                let preferred = addrs.iter().find(|a| a.is_ipv6() == ipv6_only);
                match preferred.or(addrs.first()) {
                    Some(addr) => addr.ip(),
                    None => return Err(self.invalid(no_address(name))),
                }
            }
        };
        Ok(SocketAddr::new(ip, port))
    }

    /// How a connect attempt gets its addresses: at once for a numeric host, from a resolver
    /// for a host name. Nothing is looked up here; call it at every attempt, so that a name
    /// (or a zone's interface) that changed is found again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] when the host or the port is `*`, or the port is `0` (both
    /// only make sense for bind).
    pub(crate) fn connect_lookup(&self) -> Result<ConnectLookup<'_>> {
        let port = match self.port {
            None => return Err(self.invalid("'*' is only valid for bind")),
            Some(0) => return Err(self.invalid("port 0 is only valid for bind")),
            Some(port) => port,
        };
        Ok(match &self.host {
            Host::Any => return Err(self.invalid("'*' is only valid for bind")),
            Host::Ip(ip) => ConnectLookup::Numeric(Ok(SocketAddr::new(*ip, port))),
            Host::ScopedV6(ip, zone) => ConnectLookup::Numeric(
                zone.index()
                    .map(|scope| SocketAddr::V6(SocketAddrV6::new(*ip, port, 0, scope))),
            ),
            Host::Name(name) => ConnectLookup::Name(name, port),
        })
    }

    /// The addresses to try, in order, when connecting: the IP literal (with its zone as the
    /// scope id), or every address a host name resolves to, IPv4 ones first. Blocks on the
    /// system resolver for a host name; the engine resolves off its thread instead
    /// ([`TcpEndpoint::connect_lookup`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for the bind-only forms of
    /// [`TcpEndpoint::connect_lookup`], a host name that cannot be resolved, or a zone that
    /// names no interface.
    #[cfg(test)]
    pub(crate) fn connect_addrs(&self) -> Result<Vec<SocketAddr>> {
        match self.connect_lookup()? {
            ConnectLookup::Numeric(addr) => addr.map(|a| vec![a]),
            ConnectLookup::Name(name, port) => resolve_host(name, port),
        }
        .map_err(|e| self.invalid(e))
    }

    /// The local address a connect to an address of the family `ipv6` binds first: the
    /// source of `tcp://source;host:port`, `None` without one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] when the source's interface is not there (or has no
    /// address) or its zone names no interface.
    pub(crate) fn source_addr(&self, ipv6: bool) -> Result<Option<SocketAddr>> {
        match &self.source {
            None => Ok(None),
            Some(source) => source.local_addr(ipv6, false).map(Some),
        }
    }

    /// The zone of a scoped IPv6 host as written (`eth0`, `2`), for the endpoint string of a
    /// bound listener.
    pub(crate) fn zone(&self) -> Option<String> {
        match &self.host {
            Host::ScopedV6(_, zone) => Some(zone.to_string()),
            _ => None,
        }
    }

    /// An [`Error::InvalidEndpoint`] for this endpoint.
    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::endpoint(&self.to_string(), reason)
    }
}

/// Resolves a host name with the system resolver (`getaddrinfo`, which may block for
/// seconds): every address, IPv4 ones first, each family in the resolver's order.
///
/// # Errors
///
/// Why there is no address, in words naming the host.
pub(crate) fn resolve_host(name: &str, port: u16) -> std::result::Result<Vec<SocketAddr>, String> {
    let mut addrs: Vec<SocketAddr> = match (name, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => return Err(format!("cannot resolve host `{name}`: {e}")),
    };
    // Stable: keeps the resolver's order within each family.
    addrs.sort_by_key(SocketAddr::is_ipv6);
    addrs.dedup();
    if addrs.is_empty() {
        return Err(no_address(name));
    }
    Ok(addrs)
}

/// The reason for a host name that resolved to nothing.
fn no_address(name: &str) -> String {
    format!("host `{name}` resolved to no address")
}

/// An address of the interface `name`, IPv6 first when `ipv6`, else IPv4 first, falling
/// back to the other family; `None` when there is no such interface or it has no address.
fn interface_addr(name: &str, ipv6: bool) -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| i.name == name)
        .map(|i| i.ip())
        .collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv6() == ipv6)
        .or(addrs.first())
        .copied()
}

/// Parses what follows `tcp://`: `host:port`, or `source;host:port` (libzmq takes the
/// source up to the last `;`).
fn parse_tcp(full: &str, rest: &str) -> Result<TcpEndpoint> {
    let Some((source, dest)) = rest.rsplit_once(';') else {
        return parse_tcp_address(full, rest);
    };
    let source = parse_tcp_address(full, source)?;
    if source.source.is_some() {
        return Err(Error::endpoint(full, "more than one source address"));
    }
    let mut endpoint = parse_tcp_address(full, dest)?;
    endpoint.source = Some(Box::new(source));
    Ok(endpoint)
}

/// Parses one `host:port`.
fn parse_tcp_address(full: &str, rest: &str) -> Result<TcpEndpoint> {
    let err = |reason: &str| Error::endpoint(full, reason);
    if rest.is_empty() {
        return Err(err("missing host and port (expected tcp://host:port)"));
    }
    if rest.contains(';') {
        return Err(err("more than one source address"));
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err(err("unbalanced brackets: `[` without `]`"));
        };
        if inside.contains('[') || after.contains('[') || after.contains(']') {
            return Err(err("unbalanced brackets"));
        }
        let host = parse_ipv6_literal(full, inside)?;
        if after.is_empty() {
            return Err(err("missing port (expected tcp://[address]:port)"));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(err("expected `:port` after `]`"));
        };
        (host, port)
    } else {
        if rest.contains('[') || rest.contains(']') {
            return Err(err("unbalanced brackets"));
        }
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(err("missing port (expected tcp://host:port)"));
        };
        if host.contains(':') {
            return Err(err(
                "an IPv6 address must be in brackets, as in tcp://[::1]:5555",
            ));
        }
        (parse_host(full, host)?, port)
    };
    let port = parse_port(full, port)?;
    Ok(TcpEndpoint {
        host,
        port,
        source: None,
    })
}

/// Parses the inside of `[...]`: an IPv6 address, with an optional `%zone`.
fn parse_ipv6_literal(full: &str, inside: &str) -> Result<Host> {
    if inside.is_empty() {
        return Err(Error::endpoint(full, "empty host inside `[]`"));
    }
    let (address, zone) = match inside.split_once('%') {
        Some((address, zone)) => (address, Some(parse_zone(full, zone)?)),
        None => (inside, None),
    };
    let Ok(ip) = address.parse::<Ipv6Addr>() else {
        return Err(Error::endpoint(
            full,
            format!("`[{inside}]` is not an IPv6 address"),
        ));
    };
    Ok(match zone {
        Some(zone) => Host::ScopedV6(ip, zone),
        None => Host::Ip(IpAddr::V6(ip)),
    })
}

/// Parses the zone after `%`: a decimal interface index (1 or more), or an interface name.
/// libzmq reads a zone that starts with a letter as a name and anything else with `atoi`;
/// here a zone is a number only if it is all digits, and a name is checked as Linux checks
/// one (at most 15 bytes, no `/`, `:` or white space, not `.` or `..`).
fn parse_zone(full: &str, zone: &str) -> Result<Zone> {
    let err = |reason: String| Error::endpoint(full, reason);
    if zone.is_empty() {
        return Err(err("empty IPv6 zone after `%`".into()));
    }
    if zone.bytes().all(|b| b.is_ascii_digit()) {
        return match zone.parse::<u32>() {
            Ok(0) => Err(err("IPv6 zone 0 names no interface".into())),
            Ok(index) => Ok(Zone::Index(index)),
            Err(_) => Err(err(format!("IPv6 zone `{zone}` is out of range"))),
        };
    }
    if zone.len() > MAX_INTERFACE_NAME_LEN {
        return Err(err(format!(
            "IPv6 zone `{zone}` is longer than an interface name ({MAX_INTERFACE_NAME_LEN} bytes)"
        )));
    }
    let valid = zone
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'%'));
    if !valid || zone == "." || zone == ".." {
        return Err(err(format!("IPv6 zone `{zone}` is not an interface name")));
    }
    Ok(Zone::Name(zone.to_owned()))
}

/// Parses an unbracketed host: `*`, an IPv4 literal, or a host name.
fn parse_host(full: &str, host: &str) -> Result<Host> {
    if host.is_empty() {
        return Err(Error::endpoint(full, "empty host"));
    }
    if host == "*" {
        return Ok(Host::Any);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    if host.len() > MAX_HOST_NAME_LEN {
        return Err(Error::endpoint(
            full,
            format!("host name is longer than {MAX_HOST_NAME_LEN} bytes"),
        ));
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        return Err(Error::endpoint(
            full,
            format!("`{host}` is not a valid host name or IP address"),
        ));
    }
    Ok(Host::Name(host.to_owned()))
}

/// Parses the port: `*`, or a decimal number 0–65535.
fn parse_port(full: &str, port: &str) -> Result<Option<u16>> {
    if port.is_empty() {
        return Err(Error::endpoint(full, "missing port after `:`"));
    }
    if port == "*" {
        return Ok(None);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::endpoint(
            full,
            format!("port `{port}` is not a number (expected 1-65535, or `*` or 0 for bind)"),
        ));
    }
    // All digits: the only way to fail is overflow, which is out of range as well.
    match port.parse::<u16>() {
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(Error::endpoint(
            full,
            format!("port `{port}` is out of range (expected 1-65535, or `*` or 0 for bind)"),
        )),
    }
}

/// Parses what follows `ipc://`.
fn parse_ipc(full: &str, rest: &str) -> Result<IpcEndpoint> {
    if rest.is_empty() {
        return Err(Error::endpoint(full, "empty ipc path"));
    }
    if rest.contains('\0') {
        return Err(Error::endpoint(full, "ipc path contains a NUL byte"));
    }
    if rest.len() > MAX_IPC_PATH_LEN {
        return Err(Error::endpoint(
            full,
            format!(
                "ipc path is {} bytes, longer than the {MAX_IPC_PATH_LEN}-byte limit of a Unix socket address",
                rest.len()
            ),
        ));
    }
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() {
            return Err(Error::endpoint(full, "empty abstract ipc name after `@`"));
        }
        return Ok(IpcEndpoint::Abstract(name.to_owned()));
    }
    if rest == "*" {
        return Ok(IpcEndpoint::Unique);
    }
    Ok(IpcEndpoint::Path(PathBuf::from(rest)))
}

/// Parses what follows `inproc://`.
fn parse_inproc(full: &str, rest: &str) -> Result<String> {
    if rest.is_empty() {
        return Err(Error::endpoint(full, "empty inproc name"));
    }
    let chars = rest.chars().count();
    if chars > MAX_INPROC_NAME_LEN {
        return Err(Error::endpoint(
            full,
            format!("inproc name is {chars} characters, longer than {MAX_INPROC_NAME_LEN}"),
        ));
    }
    Ok(rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// Parses and returns the reason of the error; fails the test if parsing succeeds.
    fn reason(s: &str) -> String {
        match Endpoint::parse(s) {
            Err(Error::InvalidEndpoint { endpoint, reason }) => {
                assert_eq!(endpoint, s);
                reason
            }
            other => panic!("{s:?} should be an invalid endpoint, got {other:?}"),
        }
    }

    fn tcp(s: &str) -> TcpEndpoint {
        match Endpoint::parse(s) {
            Ok(Endpoint::Tcp(tcp)) => tcp,
            other => panic!("{s:?} should be a tcp endpoint, got {other:?}"),
        }
    }

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
    }

    #[test]
    fn tcp_good_forms() {
        let cases: &[(&str, Host, Option<u16>, &str)] = &[
            (
                "tcp://127.0.0.1:5555",
                Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                Some(5555),
                "tcp://127.0.0.1:5555",
            ),
            ("tcp://*:5555", Host::Any, Some(5555), "tcp://*:5555"),
            ("tcp://*:*", Host::Any, None, "tcp://*:*"),
            (
                "tcp://127.0.0.1:0",
                Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                Some(0),
                "tcp://127.0.0.1:0",
            ),
            (
                "tcp://127.0.0.1:65535",
                Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                Some(65535),
                "tcp://127.0.0.1:65535",
            ),
            (
                "tcp://localhost:1",
                Host::Name("localhost".into()),
                Some(1),
                "tcp://localhost:1",
            ),
            (
                "tcp://my-host.example_1.org:80",
                Host::Name("my-host.example_1.org".into()),
                Some(80),
                "tcp://my-host.example_1.org:80",
            ),
            (
                "tcp://eth0:5555",
                Host::Name("eth0".into()),
                Some(5555),
                "tcp://eth0:5555",
            ),
            (
                "tcp://[::1]:5555",
                Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                Some(5555),
                "tcp://[::1]:5555",
            ),
            (
                "tcp://[::]:*",
                Host::Ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
                None,
                "tcp://[::]:*",
            ),
            (
                "tcp://[fe80::1%eth0]:5555",
                Host::ScopedV6("fe80::1".parse().unwrap(), Zone::Name("eth0".into())),
                Some(5555),
                "tcp://[fe80::1%eth0]:5555",
            ),
            (
                "tcp://[fe80::1%2]:5555",
                Host::ScopedV6("fe80::1".parse().unwrap(), Zone::Index(2)),
                Some(5555),
                "tcp://[fe80::1%2]:5555",
            ),
            (
                "tcp://[fe80::1%002]:*",
                Host::ScopedV6("fe80::1".parse().unwrap(), Zone::Index(2)),
                None,
                "tcp://[fe80::1%2]:*",
            ),
            (
                "tcp://[::1%lo]:7",
                Host::ScopedV6(Ipv6Addr::LOCALHOST, Zone::Name("lo".into())),
                Some(7),
                "tcp://[::1%lo]:7",
            ),
            (
                "tcp://[fe80::1%4294967295]:7",
                Host::ScopedV6("fe80::1".parse().unwrap(), Zone::Index(u32::MAX)),
                Some(7),
                "tcp://[fe80::1%4294967295]:7",
            ),
            (
                "tcp://[fe80::1%br-1a2b.100]:7",
                Host::ScopedV6("fe80::1".parse().unwrap(), Zone::Name("br-1a2b.100".into())),
                Some(7),
                "tcp://[fe80::1%br-1a2b.100]:7",
            ),
            (
                "tcp://[::ffff:127.0.0.1]:7",
                Host::Ip(IpAddr::V6("::ffff:127.0.0.1".parse().unwrap())),
                Some(7),
                "tcp://[::ffff:127.0.0.1]:7",
            ),
            (
                "tcp://127.0.0.1:05555",
                Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                Some(5555),
                "tcp://127.0.0.1:5555",
            ),
        ];
        for (input, host, port, canonical) in cases {
            let ep = tcp(input);
            assert_eq!(&ep.host, host, "{input}");
            assert_eq!(&ep.port, port, "{input}");
            assert_eq!(ep.to_string(), *canonical, "{input}");
            assert_eq!(
                Endpoint::parse(canonical).unwrap(),
                Endpoint::Tcp(ep),
                "{input}"
            );
        }
    }

    #[test]
    fn tcp_bad_forms() {
        let cases: &[(&str, &str)] = &[
            ("tcp://", "missing host and port"),
            ("tcp://127.0.0.1", "missing port"),
            ("tcp://127.0.0.1:", "missing port"),
            ("tcp://localhost", "missing port"),
            ("tcp://:5555", "empty host"),
            ("tcp://127.0.0.1:abc", "not a number"),
            ("tcp://127.0.0.1:-1", "not a number"),
            ("tcp://127.0.0.1:+80", "not a number"),
            ("tcp://127.0.0.1: 80", "not a number"),
            ("tcp://127.0.0.1:**", "not a number"),
            ("tcp://127.0.0.1:65536", "out of range"),
            ("tcp://127.0.0.1:99999999999999999999999", "out of range"),
            ("tcp://[::1:5555", "unbalanced brackets"),
            ("tcp://::1]:5555", "unbalanced brackets"),
            ("tcp://[::1]]:5555", "unbalanced brackets"),
            ("tcp://[[::1]:5555", "unbalanced brackets"),
            ("tcp://[::1]", "missing port"),
            ("tcp://[::1]5555", "expected `:port`"),
            ("tcp://[]:5555", "empty host"),
            ("tcp://[localhost]:5555", "not an IPv6 address"),
            ("tcp://[127.0.0.1]:5555", "not an IPv6 address"),
            ("tcp://::1:5555", "must be in brackets"),
            ("tcp://ho st:5555", "not a valid host name"),
            ("tcp://host/x:5555", "not a valid host name"),
            ("tcp://a;b;host:5555", "more than one source"),
            ("tcp://eth0;host:5555", "missing port"),
            ("tcp://[fe80::1%]:5555", "empty IPv6 zone"),
            ("tcp://[fe80::1%0]:5555", "zone 0 names no interface"),
            ("tcp://[fe80::1%4294967296]:5555", "out of range"),
            ("tcp://[fe80::1%..]:5555", "not an interface name"),
            ("tcp://[fe80::1%.]:5555", "not an interface name"),
            ("tcp://[fe80::1%a/b]:5555", "not an interface name"),
            ("tcp://[fe80::1%a b]:5555", "not an interface name"),
            ("tcp://[fe80::1%a%b]:5555", "not an interface name"),
            (
                "tcp://[fe80::1%sixteen-letters-]:5555",
                "longer than an interface name",
            ),
            ("tcp://[127.0.0.1%2]:5555", "not an IPv6 address"),
            ("tcp://[%eth0]:5555", "not an IPv6 address"),
            ("tcp://fe80::1%eth0:5555", "must be in brackets"),
            ("tcp://host%eth0:5555", "not a valid host name"),
        ];
        for (input, expected) in cases {
            let reason = reason(input);
            assert!(
                reason.contains(expected),
                "{input}: reason {reason:?} should mention {expected:?}"
            );
        }
        let long = format!("tcp://{}:1", "a".repeat(254));
        assert!(reason(&long).contains("longer than"));
    }

    #[test]
    fn ipc_good_forms() {
        let cases: &[(&str, IpcEndpoint)] = &[
            (
                "ipc:///tmp/feed.sock",
                IpcEndpoint::Path("/tmp/feed.sock".into()),
            ),
            (
                "ipc://relative.sock",
                IpcEndpoint::Path("relative.sock".into()),
            ),
            ("ipc://./dir/x", IpcEndpoint::Path("./dir/x".into())),
            ("ipc://@broker", IpcEndpoint::Abstract("broker".into())),
            ("ipc://@a@b", IpcEndpoint::Abstract("a@b".into())),
        ];
        for (input, expected) in cases {
            let ep = Endpoint::parse(input).unwrap();
            assert_eq!(ep, Endpoint::Ipc(expected.clone()), "{input}");
            assert_eq!(ep.to_string(), *input);
        }
        // Exactly at the limit.
        let path = format!("ipc:///{}", "p".repeat(MAX_IPC_PATH_LEN - 1));
        assert!(Endpoint::parse(&path).is_ok());
        let name = format!("ipc://@{}", "n".repeat(MAX_IPC_PATH_LEN - 1));
        assert!(Endpoint::parse(&name).is_ok());
    }

    #[test]
    fn ipc_bad_forms() {
        assert!(reason("ipc://").contains("empty ipc path"));
        assert!(reason("ipc://@").contains("empty abstract"));

        assert!(reason("ipc:///tmp/a\0b").contains("NUL"));
        let path = format!("ipc:///{}", "p".repeat(MAX_IPC_PATH_LEN));
        assert!(reason(&path).contains("107-byte limit"));
        let name = format!("ipc://@{}", "n".repeat(MAX_IPC_PATH_LEN));
        assert!(reason(&name).contains("107-byte limit"));
    }

    #[test]
    fn inproc_forms() {
        let ep = Endpoint::parse("inproc://workers").unwrap();
        assert_eq!(ep, Endpoint::Inproc("workers".into()));
        assert_eq!(ep.to_string(), "inproc://workers");
        // Anything non-empty is a name, even with `:` or `/`.
        assert_eq!(
            Endpoint::parse("inproc://a:b/c").unwrap(),
            Endpoint::Inproc("a:b/c".into())
        );
        let longest = "é".repeat(MAX_INPROC_NAME_LEN);
        assert!(Endpoint::parse(&format!("inproc://{longest}")).is_ok());
        assert!(reason("inproc://").contains("empty inproc name"));
        let too_long = format!("inproc://{}", "x".repeat(MAX_INPROC_NAME_LEN + 1));
        assert!(reason(&too_long).contains("longer than 256"));
    }

    #[test]
    fn scheme_errors() {
        assert!(reason("udp://127.0.0.1:5555").contains("`udp` is not supported"));
        assert!(reason("pgm://eth0;239.192.1.1:5555").contains("`pgm` is not supported"));
        assert!(reason("http://example.com:80").contains("unknown transport `http`"));
        assert!(reason("TCP://127.0.0.1:5555").contains("unknown transport `TCP`"));
        assert!(reason("://x").contains("missing transport name"));
        assert!(reason("127.0.0.1:5555").contains("missing `://`"));
        assert!(reason("").contains("missing `://`"));
        assert!(reason("tcp:/127.0.0.1:5555").contains("missing `://`"));
    }

    #[test]
    fn a_source_address_is_the_part_before_the_last_semicolon() {
        let ep = tcp("tcp://127.0.0.2:0;127.0.0.1:5556");
        assert_eq!(ep.to_string(), "tcp://127.0.0.2:0;127.0.0.1:5556");
        assert_eq!(tcp(&ep.to_string()), ep, "the text parses back");
        assert_eq!(ep.source_addr(false).unwrap(), Some(v4(127, 0, 0, 2, 0)));
        assert_eq!(
            ep.connect_addrs().unwrap(),
            vec![v4(127, 0, 0, 1, 5556)],
            "the destination is after the `;`"
        );
        assert_eq!(
            tcp("tcp://*:*;127.0.0.1:1").source_addr(false).unwrap(),
            Some(v4(0, 0, 0, 0, 0))
        );
        assert_eq!(tcp("tcp://127.0.0.1:1").source_addr(false).unwrap(), None);
        // An interface name as the source: its address, never a DNS lookup.
        assert_eq!(
            tcp("tcp://lo:7000;127.0.0.1:1").source_addr(false).unwrap(),
            Some(v4(127, 0, 0, 1, 7000))
        );
        let err = tcp("tcp://no-such-if0:0;127.0.0.1:1")
            .source_addr(false)
            .unwrap_err();
        assert!(err.to_string().contains("no network interface"), "{err}");
        // A source is for connect only.
        let err = tcp("tcp://127.0.0.1:0;127.0.0.1:5556")
            .bind_addr(false)
            .unwrap_err();
        assert!(err.to_string().contains("connect only"), "{err}");
    }

    #[test]
    fn an_interface_name_binds_its_address() {
        assert_eq!(
            tcp("tcp://lo:5555").bind_addr(false).unwrap(),
            v4(127, 0, 0, 1, 5555)
        );
        // A name that is no interface is still a host name.
        assert_eq!(
            tcp("tcp://localhost:5555").bind_addr(false).unwrap().ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn ipc_star_is_the_unique_form() {
        let ep = Endpoint::parse("ipc://*").unwrap();
        assert_eq!(ep, Endpoint::Ipc(IpcEndpoint::Unique));
        assert_eq!(ep.to_string(), "ipc://*");
    }

    #[test]
    fn from_str_matches_parse() {
        let ep: Endpoint = "ipc://@x".parse().unwrap();
        assert_eq!(ep, Endpoint::parse("ipc://@x").unwrap());
        assert!("nope".parse::<Endpoint>().is_err());
    }

    #[test]
    fn bind_addr_forms() {
        assert_eq!(
            tcp("tcp://*:5555").bind_addr(false).unwrap(),
            v4(0, 0, 0, 0, 5555)
        );
        assert_eq!(
            tcp("tcp://*:*").bind_addr(false).unwrap(),
            v4(0, 0, 0, 0, 0)
        );
        assert_eq!(
            tcp("tcp://*:*").bind_addr(true).unwrap(),
            "[::]:0".parse().unwrap()
        );
        assert_eq!(
            tcp("tcp://127.0.0.1:0").bind_addr(false).unwrap(),
            v4(127, 0, 0, 1, 0)
        );
        assert_eq!(
            tcp("tcp://[::1]:*").bind_addr(false).unwrap(),
            "[::1]:0".parse().unwrap()
        );
        // An IPv4 literal stays IPv4 even when IPv6-only is asked for.
        assert_eq!(
            tcp("tcp://10.1.2.3:7").bind_addr(true).unwrap(),
            v4(10, 1, 2, 3, 7)
        );
        // /etc/hosts maps localhost to 127.0.0.1 on every system we run on.
        assert_eq!(
            tcp("tcp://localhost:*").bind_addr(false).unwrap(),
            v4(127, 0, 0, 1, 0)
        );
    }

    #[test]
    fn connect_addrs_forms() {
        assert_eq!(
            tcp("tcp://127.0.0.1:5555").connect_addrs().unwrap(),
            vec![v4(127, 0, 0, 1, 5555)]
        );
        assert_eq!(
            tcp("tcp://[::1]:5555").connect_addrs().unwrap(),
            vec!["[::1]:5555".parse().unwrap()]
        );
        let local = tcp("tcp://localhost:5555").connect_addrs().unwrap();
        assert_eq!(local.first(), Some(&v4(127, 0, 0, 1, 5555)));
        assert!(local.iter().all(|a| a.port() == 5555));
        let v4_done = local.iter().position(SocketAddr::is_ipv6);
        if let Some(first_v6) = v4_done {
            assert!(local[first_v6..].iter().all(SocketAddr::is_ipv6));
        }
    }

    /// The index of an interface, from sysfs (what the code under test reads too, so this
    /// checks the plumbing, not the lookup).
    #[cfg(target_os = "linux")]
    fn ifindex(name: &str) -> u32 {
        std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn a_numeric_zone_becomes_the_scope_id_of_the_address_connected_and_bound() {
        let ep = tcp("tcp://[fe80::1%7]:5555");
        let want = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 5555, 0, 7));
        assert_eq!(ep.connect_addrs().unwrap(), vec![want]);
        match ep.connect_lookup().unwrap() {
            ConnectLookup::Numeric(Ok(SocketAddr::V6(v6))) => assert_eq!(v6.scope_id(), 7),
            other => panic!("{other:?}"),
        }
        assert_eq!(ep.bind_addr(false).unwrap(), want);
        let SocketAddr::V6(any) = tcp("tcp://[fe80::1%7]:*").bind_addr(false).unwrap() else {
            panic!("not v6")
        };
        assert_eq!((any.port(), any.scope_id()), (0, 7));
        assert_eq!(ep.zone().as_deref(), Some("7"));
        assert_eq!(tcp("tcp://[fe80::1]:5555").zone(), None);
        // Without a zone the scope id stays 0, as before.
        let SocketAddr::V6(plain) = tcp("tcp://[fe80::1]:5555").connect_addrs().unwrap()[0] else {
            panic!("not v6")
        };
        assert_eq!(plain.scope_id(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_interface_name_zone_is_looked_up_at_use() {
        let lo = ifindex("lo");
        let ep = tcp("tcp://[::1%lo]:5555");
        let want = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5555, 0, lo));
        assert_eq!(ep.connect_addrs().unwrap(), vec![want]);
        assert_eq!(ep.bind_addr(false).unwrap(), want);
        assert_eq!(ep.zone().as_deref(), Some("lo"));

        // A name that is no interface parses (the interface may come later), and fails
        // where it is used, naming the interface.
        let ep = tcp("tcp://[fe80::1%nosuchif9]:5555");
        match ep.connect_lookup().unwrap() {
            ConnectLookup::Numeric(Err(reason)) => {
                assert!(reason.contains("`nosuchif9`"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        for result in [
            ep.connect_addrs().map(|_| ()),
            ep.bind_addr(false).map(|_| ()),
        ] {
            match result {
                Err(Error::InvalidEndpoint { endpoint, reason }) => {
                    assert_eq!(endpoint, "tcp://[fe80::1%nosuchif9]:5555");
                    assert!(reason.contains("no network interface named `nosuchif9`"));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_host_name_is_left_to_the_resolver() {
        match tcp("tcp://localhost:5555").connect_lookup().unwrap() {
            ConnectLookup::Name(name, port) => assert_eq!((name, port), ("localhost", 5555)),
            other => panic!("{other:?}"),
        }
        match tcp("tcp://10.0.0.1:5555").connect_lookup().unwrap() {
            ConnectLookup::Numeric(Ok(addr)) => assert_eq!(addr, v4(10, 0, 0, 1, 5555)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connect_addrs_rejects_bind_only_forms() {
        for input in ["tcp://*:5555", "tcp://127.0.0.1:*", "tcp://*:*"] {
            match tcp(input).connect_addrs() {
                Err(Error::InvalidEndpoint { endpoint, reason }) => {
                    assert_eq!(endpoint, input);
                    assert!(reason.contains("'*' is only valid for bind"), "{reason}");
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        match tcp("tcp://127.0.0.1:0").connect_addrs() {
            Err(Error::InvalidEndpoint { reason, .. }) => assert!(reason.contains("port 0")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unresolvable_host_is_named() {
        // `.invalid` is reserved (RFC 2606) and never resolves.
        let ep = tcp("tcp://no-such-host.invalid:5555");
        for result in [
            ep.connect_addrs().map(|_| ()),
            ep.bind_addr(false).map(|_| ()),
        ] {
            match result {
                Err(Error::InvalidEndpoint { endpoint, reason }) => {
                    assert_eq!(endpoint, "tcp://no-such-host.invalid:5555");
                    assert!(reason.contains("`no-such-host.invalid`"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// Checks the two properties every input must have: no panic, and a parsed endpoint's
    /// canonical text parses back to the same endpoint.
    fn check_any(s: &str) -> std::result::Result<(), TestCaseError> {
        match Endpoint::parse(s) {
            Ok(ep) => {
                let text = ep.to_string();
                prop_assert_eq!(Endpoint::parse(&text).ok(), Some(ep), "{}", text);
            }
            Err(Error::InvalidEndpoint { endpoint, reason }) => {
                prop_assert_eq!(endpoint, s);
                prop_assert!(!reason.is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected error kind {:?}", other),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_string_parses_or_errors(s in any::<String>()) {
            check_any(&s)?;
        }

        #[test]
        fn any_scheme_tail_parses_or_errors(
            scheme in prop_oneof![
                Just("tcp".to_owned()),
                Just("ipc".to_owned()),
                Just("inproc".to_owned()),
                "[a-z]{0,6}",
            ],
            tail in any::<String>(),
        ) {
            check_any(&format!("{scheme}://{tail}"))?;
        }

        #[test]
        fn tcp_like_strings_parse_or_error(tail in r"\[?[0-9a-fA-F:.%*\[\]a-z;-]{0,40}\]?(:[0-9*+-]{0,8})?") {
            check_any(&format!("tcp://{tail}"))?;
        }

        #[test]
        fn ipc_like_strings_parse_or_error(tail in r"@?[/a-z.@*\x00]{0,120}") {
            check_any(&format!("ipc://{tail}"))?;
        }
    }
}
