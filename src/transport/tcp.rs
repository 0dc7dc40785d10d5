//! The tcp transport: listeners built with socket2, streams from mio.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use super::{bind_error, ConnAddrs};
use crate::endpoint::TcpEndpoint;
use crate::error::Result;
use crate::options::Options;

/// Binds and listens; returns the listener and `tcp://ip:port` actually bound
/// (`tcp://[ip%zone]:port` for a scoped IPv6 address).
pub(super) fn bind(endpoint: &TcpEndpoint, options: &Options) -> Result<(TcpListener, String)> {
    let addr = endpoint.bind_addr(options.ipv6_only)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    before_connect_or_bind(&socket, options)?;
    if addr.is_ipv6() {
        socket.set_only_v6(options.ipv6_only)?;
    }
    socket
        .bind(&addr.into())
        .map_err(|e| bind_error(e, &endpoint.to_string()))?;
    // Set before listening, so accepted connections start with them (the window scale of
    // a tcp connection is fixed by its handshake).
    if let Some(n) = options.send_buffer {
        socket.set_send_buffer_size(n)?;
    }
    if let Some(n) = options.recv_buffer {
        socket.set_recv_buffer_size(n)?;
    }
    socket.listen(options.backlog)?;
    socket.set_nonblocking(true)?;
    let listener = std::net::TcpListener::from(socket);
    let bound = listener.local_addr()?;
    // A zone stays as it was written (an interface name, or a number), so the string can be
    // connected to or unbound as it is; libzmq's `getnameinfo` keeps it as well.
    let text = match (bound, endpoint.zone()) {
        (SocketAddr::V6(v6), Some(zone)) => format!("[{}%{zone}]:{}", v6.ip(), v6.port()),
        _ => addr_text(bound),
    };
    Ok((TcpListener::from_std(listener), format!("tcp://{text}")))
}

/// Accepts one connection and turns Nagle off on it.
pub(super) fn accept(listener: &TcpListener) -> io::Result<(TcpStream, ConnAddrs)> {
    let (stream, peer) = listener.accept()?;
    stream.set_nodelay(true)?;
    let addrs = ConnAddrs {
        peer_address: Some(peer.ip().to_string()),
        peer_socket_addr: Some(peer),
        local_address: stream.local_addr().ok().map(addr_text),
    };
    Ok((stream, addrs))
}

/// Starts a non-blocking connect with Nagle off, from `source` if given.
pub(super) fn connect(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    options: &Options,
) -> io::Result<std::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    before_connect_or_bind(&socket, options)?;
    if let Some(source) = source {
        // A fixed source port can be reused at once by the next attempt, as in libzmq.
        socket.set_reuse_address(true)?;
        socket.bind(&source.into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// What must be set on a tcp socket before it connects or binds: the device it is bound
/// to (`SO_BINDTODEVICE`, Linux, needs `CAP_NET_RAW`) and the type of service, so that the
/// SYN already carries it. Unlike the stream options, a device that cannot be bound is an
/// error: traffic must not leave by another interface.
fn before_connect_or_bind(socket: &Socket, options: &Options) -> io::Result<()> {
    if let Some(device) = &options.bind_to_device {
        bind_device(socket, device)?;
    }
    let _ = apply_tos(&SockRef::from(socket), options);
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
fn bind_device(socket: &Socket, device: &str) -> io::Result<()> {
    socket.bind_device(Some(device.as_bytes()))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
fn bind_device(_socket: &Socket, _device: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_BINDTODEVICE exists on Linux only",
    ))
}

/// Sets `TCP_USER_TIMEOUT` (libzmq's `ZMQ_TCP_MAXRT` on Linux) when set.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
pub(super) fn apply_maxrt(sock: &SockRef<'_>, options: &Options) -> io::Result<()> {
    match options.tcp_maxrt {
        Some(t) => sock.set_tcp_user_timeout(Some(t)),
        None => Ok(()),
    }
}

/// `TCP_USER_TIMEOUT` exists on Linux only; elsewhere the OS default stays.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
pub(super) fn apply_maxrt(_sock: &SockRef<'_>, _options: &Options) -> io::Result<()> {
    Ok(())
}

/// Sets the type-of-service byte when set: `IP_TOS`, and `IPV6_TCLASS` on an IPv6 socket
/// (libzmq sets both the same way).
pub(super) fn apply_tos(sock: &SockRef<'_>, options: &Options) -> io::Result<()> {
    let Some(tos) = options.tos else {
        return Ok(());
    };
    let v6 = sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .is_some_and(|a| a.is_ipv6());
    if v6 {
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        sock.set_tclass_v6(tos)?;
        Ok(())
    } else {
        sock.set_tos(tos)
    }
}

/// Sets `SO_KEEPALIVE` and, when keepalive is on, the probe timings that are set.
pub(super) fn apply_keepalive(stream: &std::net::TcpStream, options: &Options) -> io::Result<()> {
    let Some(on) = options.tcp_keepalive else {
        return Ok(());
    };
    let sock = SockRef::from(stream);
    sock.set_keepalive(on)?;
    if !on {
        return Ok(());
    }
    let mut params = TcpKeepalive::new();
    let mut any = false;
    if let Some(idle) = options.tcp_keepalive_idle {
        params = params.with_time(idle);
        any = true;
    }
    if let Some(interval) = options.tcp_keepalive_interval {
        params = params.with_interval(interval);
        any = true;
    }
    if let Some(count) = options.tcp_keepalive_count {
        params = params.with_retries(count);
        any = true;
    }
    if any {
        sock.set_tcp_keepalive(&params)?;
    }
    Ok(())
}

/// The addresses of a tcp stream.
pub(super) fn addrs(stream: &std::net::TcpStream) -> ConnAddrs {
    let peer = stream.peer_addr().ok();
    ConnAddrs {
        peer_address: peer.map(|p| p.ip().to_string()),
        peer_socket_addr: peer,
        local_address: stream.local_addr().ok().map(addr_text),
    }
}

/// `ip:port`, with an IPv6 address in brackets and without its scope id.
fn addr_text(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}
