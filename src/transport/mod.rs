//! Byte streams and listeners for the tcp and ipc transports, over mio.
//!
//! # Contract
//!
//! The engine relies on exactly this, for both transports:
//!
//! - [`bind`] returns a listener that is already non-blocking and listening, ready to register
//!   with a `mio::Poll`, plus the endpoint string actually bound (the "last endpoint": a real
//!   port instead of `*` or `0`, `0.0.0.0` or `[::]` for a wildcard host).
//! - [`Listener::accept`] hands out non-blocking streams with `TCP_NODELAY` set (tcp) and their
//!   [`ConnAddrs`]; `WouldBlock` means "no pending connection", wait for the next readable event.
//! - [`connect_tcp`] and [`connect_ipc`] start a non-blocking connect. When the stream becomes
//!   writable, [`Stream::finish_connect`] tells whether it connected, is still connecting, or
//!   failed.
//! - Streams are plain non-blocking byte pipes: `Read`, `Write` (with `write_vectored`
//!   forwarded), [`Stream::shutdown_write`]. They know nothing of ZMTP.
//! - An ipc listener on a path removes its socket file when dropped, unless another listener
//!   has taken the path over since.
//!
//! inproc endpoints are not served here; the context connects inproc pipes directly.

mod ipc;
mod tcp;

use std::io::{self, BufWriter, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};

use std::os::fd::{AsRawFd, RawFd};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::endpoint::{Endpoint, IpcEndpoint};
use crate::error::{Error, Result};
use crate::options::Options;

pub(crate) use ipc::IpcListener;

/// A listening socket of either transport.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A tcp listener.
    Tcp(mio::net::TcpListener),
    /// An ipc listener (path or abstract name).
    Ipc(IpcListener),
}

/// Room [`Stream::read_behind`] leaves in its buffer beyond what it may read: `io::copy`
/// into a `BufWriter` stops reading once less than 8 KiB is spare.
const READ_SLACK: usize = 8 * 1024;

/// The writer behind [`Stream::read_behind`]'s buffer, which must never be written to.
struct Refuse;

impl Write for Refuse {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("read buffer full"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connected (or connecting) byte stream of either transport.
///
/// The streams are the standard library's (non-blocking, registered with mio by their file
/// descriptor), not mio's wrappers: only the standard ones can read into a buffer's spare
/// capacity without zeroing it first ([`Stream::read_behind`]).
#[derive(Debug)]
pub(crate) enum Stream {
    /// A tcp connection.
    Tcp(std::net::TcpStream),
    /// A Unix-domain connection.
    Ipc(std::os::unix::net::UnixStream),
}

/// The addresses of one connection, as reported in message metadata and monitor events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConnAddrs {
    /// libzmq's `Peer-Address`: the peer's IP as text for tcp (`127.0.0.1`, `::1`), the socket
    /// path (or `@name`) for ipc.
    pub(crate) peer_address: Option<String>,
    /// The peer's full socket address (tcp only).
    pub(crate) peer_socket_addr: Option<SocketAddr>,
    /// Our end: `ip:port` for tcp (`[v6]:port` for IPv6), the socket path (or `@name`) for ipc.
    pub(crate) local_address: Option<String>,
}

/// Binds a tcp or ipc endpoint and starts listening.
///
/// Returns the non-blocking listener and the endpoint actually bound, for example
/// `tcp://127.0.0.1:49153` for `tcp://127.0.0.1:0`, `tcp://0.0.0.0:5555` for `tcp://*:5555`,
/// `ipc:///tmp/x.sock`, `ipc://@name`.
///
/// tcp sockets get `SO_REUSEADDR` (a restarted server can bind its port at once) and, for IPv6
/// addresses, `IPV6_V6ONLY` set to `options.ipv6_only`; they listen with `options.backlog`.
/// An ipc path first replaces a stale socket file left there (but never any other kind of
/// file), and gets `options.ipc_permissions` if set.
///
/// # Errors
///
/// - [`Error::InvalidEndpoint`] for an inproc endpoint, a host name that does not resolve, or
///   an IPv6 zone that names no interface.
/// - [`Error::AddressInUse`] when the port, path or abstract name is taken.
/// - [`Error::Io`] for anything else, including an ipc path that exists and is not a socket
///   (kind `AlreadyExists`).
pub(crate) fn bind(endpoint: &Endpoint, options: &Options) -> Result<(Listener, String)> {
    match endpoint {
        Endpoint::Tcp(tcp) => {
            let (listener, bound) = tcp::bind(tcp, options)?;
            Ok((Listener::Tcp(listener), bound))
        }
        Endpoint::Ipc(ipc) => {
            let (listener, bound) = ipc::bind(ipc, options)?;
            Ok((Listener::Ipc(listener), bound))
        }
        Endpoint::Inproc(_) => Err(Error::endpoint(
            &endpoint.to_string(),
            "inproc endpoints are not served by the tcp/ipc transports",
        )),
    }
}

/// Starts a non-blocking tcp connect to `addr`, with `TCP_NODELAY` on, from `source` when
/// given (the `tcp://source;host:port` form), on the device of
/// [`Options::bind_to_device`] and with the [`Options::tos`] byte, both set before the SYN.
///
/// Register the stream for writable events and call [`Stream::finish_connect`] when one comes.
///
/// # Errors
///
/// Socket creation, binding the source or the device, or an immediate connect failure.
pub(crate) fn connect_tcp(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    options: &Options,
) -> io::Result<Stream> {
    tcp::connect(addr, source, options).map(Stream::Tcp)
}

/// Starts a non-blocking Unix-domain connect to a path or abstract name.
///
/// # Errors
///
/// An immediate failure: `NotFound` or `ConnectionRefused` when nothing listens there,
/// `WouldBlock` when the listener's backlog is full (retry later), `Unsupported` for an abstract
/// name on a system other than Linux.
pub(crate) fn connect_ipc(endpoint: &IpcEndpoint) -> io::Result<Stream> {
    ipc::connect(endpoint).map(|s| Stream::Ipc(s.into()))
}

impl Listener {
    /// Accepts one pending connection.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no connection is pending; any other error from `accept` or from
    /// setting `TCP_NODELAY` on the new stream.
    pub(crate) fn accept(&self) -> io::Result<(Stream, ConnAddrs)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, addrs) = tcp::accept(listener)?;
                Ok((Stream::Tcp(stream.into()), addrs))
            }
            Listener::Ipc(listener) => {
                let (stream, addrs) = listener.accept()?;
                Ok((Stream::Ipc(stream.into()), addrs))
            }
        }
    }
}

impl Stream {
    /// Checks a connecting stream after it became writable (or reported an error).
    ///
    /// Returns `Ok(true)` once connected, `Ok(false)` while the connect is still in progress
    /// (wait for the next event).
    ///
    /// # Errors
    ///
    /// The reason the connect failed, such as `ConnectionRefused`.
    pub(crate) fn finish_connect(&self) -> io::Result<bool> {
        let (pending, peer) = match self {
            Stream::Tcp(stream) => (stream.take_error()?, stream.peer_addr().map(|_| ())),
            Stream::Ipc(stream) => (stream.take_error()?, stream.peer_addr().map(|_| ())),
        };
        if let Some(error) = pending {
            return Err(error);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotConnected | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Applies the stream options that are set: the kernel buffer sizes (`SO_SNDBUF`,
    /// `SO_RCVBUF`) on tcp and ipc streams, and on tcp the keepalive options (libzmq's
    /// `tune_tcp_keepalives`): `SO_KEEPALIVE` when [`Options::tcp_keepalive`] is set, and,
    /// only when it is `Some(true)`, the idle time, probe interval and probe count that are
    /// set (whole seconds); `TCP_USER_TIMEOUT` ([`Options::tcp_maxrt`], Linux) and the
    /// type of service ([`Options::tos`]). Whatever is unset keeps the OS default.
    ///
    /// # Errors
    ///
    /// The OS refused an option (the others are still tried).
    pub(crate) fn apply_options(&self, options: &Options) -> io::Result<()> {
        let sock = match self {
            Stream::Tcp(stream) => socket2::SockRef::from(stream),
            Stream::Ipc(stream) => socket2::SockRef::from(stream),
        };
        let send = options
            .send_buffer
            .map_or(Ok(()), |n| sock.set_send_buffer_size(n));
        let recv = options
            .recv_buffer
            .map_or(Ok(()), |n| sock.set_recv_buffer_size(n));
        let tcp = match self {
            Stream::Tcp(stream) => {
                let keepalive = tcp::apply_keepalive(stream, options);
                let maxrt = tcp::apply_maxrt(&sock, options);
                let tos = tcp::apply_tos(&sock, options);
                keepalive.and(maxrt).and(tos)
            }
            Stream::Ipc(_) => Ok(()),
        };
        send.and(recv).and(tcp)
    }

    /// The addresses of this connection; fields the OS cannot report are `None`.
    pub(crate) fn addrs(&self) -> ConnAddrs {
        match self {
            Stream::Tcp(stream) => tcp::addrs(stream),
            Stream::Ipc(stream) => ipc::addrs(stream),
        }
    }

    /// Closes our sending direction: the peer reads end-of-file once it has read everything
    /// sent before.
    ///
    /// # Errors
    ///
    /// The OS error, for example `NotConnected`.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(Shutdown::Write),
            Stream::Ipc(stream) => stream.shutdown(Shutdown::Write),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            Stream::Ipc(stream) => stream.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read_vectored(bufs),
            Stream::Ipc(stream) => stream.read_vectored(bufs),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            Stream::Ipc(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write_vectored(bufs),
            Stream::Ipc(stream) => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.flush(),
            Stream::Ipc(stream) => stream.flush(),
        }
    }
}

impl Stream {
    /// Reads up to `max` bytes into a new buffer, behind a copy of `head`, and returns the
    /// buffer with how many bytes were read. The kernel fills the buffer's memory as it is:
    /// unlike [`Read::read`], which needs a zeroed buffer, nothing is written there first.
    /// The buffer has room for at least `spare` bytes after `head` (and at least `max`), so
    /// a caller that knows more is coming can make later reads fit without a new copy.
    ///
    /// `Ok(0)` means the end of the stream. Reading goes on until `max` bytes came or the
    /// kernel has no more, so a short count means the kernel buffer was drained (or the
    /// stream ended).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing could be read; any other error from the read, unless
    /// some bytes came first (they are returned, and the error comes again on the next
    /// read).
    pub(crate) fn read_behind(
        &self,
        head: &[u8],
        max: usize,
        spare: usize,
    ) -> (Vec<u8>, io::Result<usize>) {
        // `io::copy` into a `BufWriter` has the reader fill the writer's spare buffer in
        // one call, and the standard library's streams read into it without initialising
        // it; `into_parts` then hands the buffer back unwritten. `io::copy` stops when the
        // `Take` runs out (while at least 8 KiB are spare) or the read fails; should the
        // buffer ever fill first, `Refuse` makes the copy fail and keeps the bytes.
        let room = max.max(spare).saturating_add(READ_SLACK);
        let mut buffer = BufWriter::with_capacity(head.len().saturating_add(room), Refuse);
        let head_copied = buffer.write_all(head);
        debug_assert!(head_copied.is_ok() && buffer.buffer().len() == head.len());
        let result = match self {
            Stream::Tcp(stream) => io::copy(&mut stream.take(max as u64), &mut buffer),
            Stream::Ipc(stream) => io::copy(&mut stream.take(max as u64), &mut buffer),
        };
        let buf = match buffer.into_parts().1 {
            Ok(buf) => buf,
            Err(panicked) => panicked.into_inner(),
        };
        let read = buf.len().saturating_sub(head.len());
        let result = match result {
            Err(_) if read > 0 => Ok(read),
            Err(e) => Err(e),
            Ok(_) => Ok(read),
        };
        (buf, result)
    }

    fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(stream) => stream.as_raw_fd(),
            Stream::Ipc(stream) => stream.as_raw_fd(),
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.raw_fd()).deregister(registry)
    }
}

impl Source for Listener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.register(registry, token, interests),
            Listener::Ipc(listener) => listener.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.reregister(registry, token, interests),
            Listener::Ipc(listener) => listener.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.deregister(registry),
            Listener::Ipc(listener) => listener.deregister(registry),
        }
    }
}

/// Maps `EADDRINUSE` to [`Error::AddressInUse`] naming `endpoint`, anything else to
/// [`Error::Io`].
fn bind_error(error: io::Error, endpoint: &str) -> Error {
    if error.kind() == io::ErrorKind::AddrInUse {
        Error::AddressInUse(endpoint.to_owned())
    } else {
        Error::Io(error)
    }
}

#[cfg(test)]
mod tests;
