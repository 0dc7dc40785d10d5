//! Loopback tests of the tcp and ipc transports. Every wait goes through [`Harness::retry`],
//! which polls with a timeout and gives up after [`TIMEOUT`].

use std::fs;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, SockRef, Socket, Type};

use super::*;

/// The longest any test waits for one thing to happen.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Makes unique ipc paths and abstract names within this process.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh socket path in the temp directory.
fn temp_sock() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ferromq-{}-{n}.sock", std::process::id()))
}

/// A fresh abstract name.
fn abstract_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("ferromq-test-{}-{n}", std::process::id())
}

fn ep(s: &str) -> Endpoint {
    Endpoint::parse(s).unwrap()
}

fn ipc_ep(path: &std::path::Path) -> Endpoint {
    Endpoint::Ipc(IpcEndpoint::Path(path.to_path_buf()))
}

/// The port of a `tcp://host:port` last-endpoint string.
fn port_of(last_endpoint: &str) -> u16 {
    let (_, port) = last_endpoint.rsplit_once(':').unwrap();
    port.parse().unwrap()
}

/// Whether this host can use IPv6 on loopback.
fn have_ipv6() -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            println!("note: skipping, no IPv6 on this host ({e})");
            false
        }
    }
}

/// A mio poll that every source under test is registered with, to wait with a timeout.
struct Harness {
    poll: Poll,
    events: Events,
    next_token: usize,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            poll: Poll::new().unwrap(),
            events: Events::with_capacity(64),
            next_token: 0,
        }
    }

    /// Registers a source for both directions.
    fn add(&mut self, source: &mut impl Source) {
        self.next_token += 1;
        self.poll
            .registry()
            .register(
                source,
                Token(self.next_token),
                Interest::READABLE | Interest::WRITABLE,
            )
            .unwrap();
    }

    /// Calls `f` until it does not return `WouldBlock`, polling in between; gives up with
    /// `TimedOut` after [`TIMEOUT`]. Each poll is capped at 50 ms, so a missed edge costs a
    /// little time, never a hang.
    fn retry<T>(&mut self, mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "test timed out"));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            self.poll.poll(&mut self.events, Some(wait))?;
        }
    }

    /// Waits until a connecting stream is connected; returns the failure otherwise.
    fn finish(&mut self, stream: &Stream) -> io::Result<()> {
        self.retry(|| match stream.finish_connect() {
            Ok(true) => Ok(()),
            Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        })
    }

    /// Accepts one connection, registers it, and waits for `client` to be connected.
    fn accept(&mut self, listener: &Listener, client: &Stream) -> (Stream, ConnAddrs) {
        let (mut server, addrs) = self.retry(|| listener.accept()).unwrap();
        self.add(&mut server);
        self.finish(client).unwrap();
        (server, addrs)
    }

    /// Writes all of `data`, half of it through `write_vectored`.
    fn send_all(&mut self, stream: &mut Stream, data: &[u8]) {
        let (head, tail) = data.split_at(data.len() / 2);
        let mut written = 0;
        while written < head.len() {
            let slices = [IoSlice::new(&head[written..]), IoSlice::new(&[])];
            written += self.retry(|| stream.write_vectored(&slices)).unwrap();
        }
        let mut written = 0;
        while written < tail.len() {
            written += self.retry(|| stream.write(&tail[written..])).unwrap();
        }
        stream.flush().unwrap();
    }

    /// Reads exactly `n` bytes.
    fn recv_exact(&mut self, stream: &mut Stream, n: usize) -> Vec<u8> {
        let mut data = vec![0; n];
        let mut got = 0;
        while got < n {
            let read = self.retry(|| stream.read(&mut data[got..])).unwrap();
            assert_ne!(read, 0, "unexpected end of stream after {got} of {n} bytes");
            got += read;
        }
        data
    }

    /// Waits for end-of-file.
    fn recv_eof(&mut self, stream: &mut Stream) {
        let mut byte = [0u8; 1];
        let read = self.retry(|| stream.read(&mut byte)).unwrap();
        assert_eq!(read, 0, "expected end of stream");
    }

    /// Sends bytes each way (more than one socket buffer from client to server), then checks
    /// that `shutdown_write` is seen as end-of-file.
    fn exchange(&mut self, client: &mut Stream, server: &mut Stream) {
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        // Send and receive interleaved, so neither side's buffer needs to hold everything.
        let mut sent = 0;
        let mut received = Vec::with_capacity(big.len());
        let deadline = Instant::now() + TIMEOUT;
        while received.len() < big.len() {
            assert!(Instant::now() < deadline, "big transfer timed out");
            if sent < big.len() {
                match client.write(&big[sent..]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("write failed: {e}"),
                }
            }
            let mut buf = [0u8; 65536];
            match server.read(&mut buf) {
                Ok(0) => panic!("unexpected end of stream"),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.poll
                        .poll(&mut self.events, Some(Duration::from_millis(50)))
                        .unwrap();
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
        assert!(received == big, "client to server bytes differ");

        self.send_all(server, b"reply from the server");
        assert_eq!(self.recv_exact(client, 21), b"reply from the server");
        self.send_all(client, b"ping");
        assert_eq!(self.recv_exact(server, 4), b"ping");

        client.shutdown_write().unwrap();
        self.recv_eof(server);
        // The other direction still works after a half close.
        self.send_all(server, b"after");
        assert_eq!(self.recv_exact(client, 5), b"after");
    }
}

fn tcp_listener(listener: &Listener) -> &mio::net::TcpListener {
    match listener {
        Listener::Tcp(l) => l,
        Listener::Ipc(_) => panic!("not a tcp listener"),
    }
}

fn nodelay(stream: &Stream) -> bool {
    match stream {
        Stream::Tcp(s) => SockRef::from(s).nodelay().unwrap(),
        Stream::Ipc(_) => panic!("not a tcp stream"),
    }
}

/// (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) as the kernel reports them.
fn keepalive(stream: &Stream) -> (bool, Duration, Duration, u32) {
    match stream {
        Stream::Tcp(s) => {
            let s = SockRef::from(s);
            (
                s.keepalive().unwrap(),
                s.keepalive_time().unwrap(),
                s.keepalive_interval().unwrap(),
                s.keepalive_retries().unwrap(),
            )
        }
        Stream::Ipc(_) => panic!("not a tcp stream"),
    }
}

fn bind_default(s: &str) -> Result<(Listener, String)> {
    bind(&ep(s), &Options::default())
}

#[test]
fn tcp_bind_port_zero_reports_real_port() {
    let (listener, last) = bind_default("tcp://127.0.0.1:0").unwrap();
    let local = tcp_listener(&listener).local_addr().unwrap();
    assert_ne!(local.port(), 0);
    assert_eq!(last, format!("tcp://127.0.0.1:{}", local.port()));
    // The last endpoint is itself a valid endpoint.
    assert_eq!(ep(&last).to_string(), last);
}

#[test]
fn tcp_bind_wildcard_reports_any_address() {
    let (listener, last) = bind_default("tcp://*:*").unwrap();
    let port = tcp_listener(&listener).local_addr().unwrap().port();
    assert_ne!(port, 0);
    assert_eq!(last, format!("tcp://0.0.0.0:{port}"));
}

#[test]
fn tcp_bind_host_name() {
    let (_listener, last) = bind_default("tcp://localhost:0").unwrap();
    assert!(last.starts_with("tcp://127.0.0.1:"), "{last}");
    assert_ne!(port_of(&last), 0);
}

#[test]
fn tcp_wildcard_with_ipv6_only_binds_ipv6_any() {
    if !have_ipv6() {
        return;
    }
    let options = Options {
        ipv6_only: true,
        ..Options::default()
    };
    let (listener, last) = bind(&ep("tcp://*:*"), &options).unwrap();
    assert!(last.starts_with("tcp://[::]:"), "{last}");
    assert!(SockRef::from(tcp_listener(&listener)).only_v6().unwrap());
}

#[test]
fn tcp_second_bind_is_address_in_use() {
    let (_listener, last) = bind_default("tcp://127.0.0.1:0").unwrap();
    match bind_default(&last) {
        Err(Error::AddressInUse(text)) => assert_eq!(text, last),
        other => panic!("expected AddressInUse, got {other:?}"),
    }
}

#[test]
fn tcp_rebind_at_once_despite_time_wait() {
    let mut h = Harness::new();
    let (mut listener, last) = bind_default("tcp://127.0.0.1:0").unwrap();
    h.add(&mut listener);
    let port = port_of(&last);
    let mut client = connect_tcp(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        None,
        &Options::default(),
    )
    .unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);
    h.send_all(&mut client, b"x");
    assert_eq!(h.recv_exact(&mut server, 1), b"x");

    // The server closes first, so its side of the connection ends in TIME_WAIT.
    drop(server);
    h.recv_eof(&mut client);
    drop(client);
    drop(listener);

    // Make sure the test means something: a socket without SO_REUSEADDR cannot bind the port
    // while the TIME_WAIT entry exists. Wait (bounded) for the kernel to reach that state.
    let addr: socket2::SockAddr = SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut in_time_wait = false;
    while Instant::now() < deadline {
        let plain = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        if let Err(e) = plain.bind(&addr) {
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
            in_time_wait = true;
            break;
        }
        drop(plain);
        std::thread::sleep(Duration::from_millis(20));
    }
    if !in_time_wait {
        println!("note: no TIME_WAIT entry observed; the rebind below proves less");
    }

    let (_again, last_again) = bind_default(&last).unwrap();
    assert_eq!(last_again, last);
}

#[test]
fn tcp_dual_stack_listener_accepts_ipv4() {
    if !have_ipv6() {
        return;
    }
    let mut h = Harness::new();
    let (mut listener, last) = match bind_default("tcp://[::]:0") {
        Ok(bound) => bound,
        Err(e) => {
            println!("note: skipping, cannot bind [::] ({e})");
            return;
        }
    };
    assert!(last.starts_with("tcp://[::]:"), "{last}");
    assert!(!SockRef::from(tcp_listener(&listener)).only_v6().unwrap());
    h.add(&mut listener);
    let mut client = connect_tcp(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&last))),
        None,
        &Options::default(),
    )
    .unwrap();
    h.add(&mut client);
    let (mut server, addrs) = h.accept(&listener, &client);
    // The IPv4 peer shows up as an IPv4-mapped IPv6 address, as in libzmq.
    assert_eq!(addrs.peer_address.as_deref(), Some("::ffff:127.0.0.1"));
    h.exchange(&mut client, &mut server);
}

#[test]
fn tcp_ipv6_only_is_honoured() {
    if !have_ipv6() {
        return;
    }
    let mut h = Harness::new();
    let options = Options {
        ipv6_only: true,
        ..Options::default()
    };
    let (mut listener, last) = bind(&ep("tcp://[::]:0"), &options).unwrap();
    assert!(SockRef::from(tcp_listener(&listener)).only_v6().unwrap());
    h.add(&mut listener);
    let port = port_of(&last);

    // IPv6 still gets through.
    let mut client6 = connect_tcp(
        format!("[::1]:{port}").parse().unwrap(),
        None,
        &Options::default(),
    )
    .unwrap();
    h.add(&mut client6);
    let (_server, addrs) = h.accept(&listener, &client6);
    assert_eq!(addrs.peer_address.as_deref(), Some("::1"));

    // IPv4 does not.
    let refused = connect_tcp(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        None,
        &Options::default(),
    )
    .and_then(|mut c| {
        h.add(&mut c);
        h.finish(&c)
    });
    match refused {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(()) => panic!("an IPv6-only listener accepted an IPv4 connection"),
    }
}

#[test]
fn tcp_exchange_addresses_and_nodelay() {
    let mut h = Harness::new();
    let (mut listener, last) = bind_default("tcp://127.0.0.1:*").unwrap();
    h.add(&mut listener);
    let listen_addr = tcp_listener(&listener).local_addr().unwrap();
    let mut client = connect_tcp(listen_addr, None, &Options::default()).unwrap();
    h.add(&mut client);
    let (mut server, accepted) = h.accept(&listener, &client);

    assert!(nodelay(&client), "TCP_NODELAY off on the connecting side");
    assert!(nodelay(&server), "TCP_NODELAY off on the accepted side");

    let client_addrs = client.addrs();
    let client_local: SocketAddr = client_addrs
        .local_address
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        accepted,
        ConnAddrs {
            peer_address: Some("127.0.0.1".to_owned()),
            peer_socket_addr: Some(client_local),
            local_address: Some(format!("127.0.0.1:{}", port_of(&last))),
        }
    );
    assert_eq!(server.addrs(), accepted);
    assert_eq!(client_addrs.peer_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(client_addrs.peer_socket_addr, Some(listen_addr));

    h.exchange(&mut client, &mut server);
}

#[test]
fn tcp_keepalive_options_reach_accepted_and_connected_streams() {
    let mut h = Harness::new();
    let (mut listener, _) = bind_default("tcp://127.0.0.1:*").unwrap();
    h.add(&mut listener);
    let listen_addr = tcp_listener(&listener).local_addr().unwrap();
    let mut client = connect_tcp(listen_addr, None, &Options::default()).unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);

    // Nothing set: the OS defaults stay (Linux: off, 2 h idle, 75 s interval, 9 probes).
    let defaults = keepalive(&client);
    client.apply_options(&Options::default()).unwrap();
    server.apply_options(&Options::default()).unwrap();
    assert_eq!(keepalive(&client), defaults);
    assert_eq!(keepalive(&server), defaults);
    assert!(!defaults.0, "SO_KEEPALIVE is off by default");

    let options = Options {
        tcp_keepalive: Some(true),
        tcp_keepalive_idle: Some(Duration::from_secs(30)),
        tcp_keepalive_interval: Some(Duration::from_secs(7)),
        tcp_keepalive_count: Some(4),
        ..Options::default()
    };
    for stream in [&client, &server] {
        stream.apply_options(&options).unwrap();
        assert_eq!(
            keepalive(stream),
            (true, Duration::from_secs(30), Duration::from_secs(7), 4)
        );
    }

    // Only switched on: the timings keep the OS defaults.
    let on = Options {
        tcp_keepalive: Some(true),
        ..Options::default()
    };
    server
        .apply_options(&Options {
            tcp_keepalive: Some(false),
            ..Options::default()
        })
        .unwrap();
    assert!(!keepalive(&server).0);
    let (mut fresh_client, mut fresh_server) = {
        let mut c = connect_tcp(listen_addr, None, &Options::default()).unwrap();
        h.add(&mut c);
        let (s, _) = h.accept(&listener, &c);
        (c, s)
    };
    fresh_client.apply_options(&on).unwrap();
    fresh_server.apply_options(&on).unwrap();
    for stream in [&fresh_client, &fresh_server] {
        let (enabled, idle, interval, count) = keepalive(stream);
        assert!(enabled);
        assert_eq!(
            (idle, interval, count),
            (defaults.1, defaults.2, defaults.3)
        );
    }
    h.exchange(&mut client, &mut server);
    h.exchange(&mut fresh_client, &mut fresh_server);
}

#[test]
fn tcp_exchange_over_ipv6() {
    if !have_ipv6() {
        return;
    }
    let mut h = Harness::new();
    let (mut listener, last) = bind_default("tcp://[::1]:0").unwrap();
    assert!(last.starts_with("tcp://[::1]:"), "{last}");
    h.add(&mut listener);
    let Endpoint::Tcp(tcp) = ep(&last) else {
        panic!("{last}")
    };
    let addr = tcp.connect_addrs().unwrap()[0];
    let mut client = connect_tcp(addr, None, &Options::default()).unwrap();
    h.add(&mut client);
    let (mut server, accepted) = h.accept(&listener, &client);
    assert_eq!(accepted.peer_address.as_deref(), Some("::1"));
    assert_eq!(
        accepted.local_address,
        Some(format!("[::1]:{}", port_of(&last)))
    );
    h.exchange(&mut client, &mut server);
}

#[test]
fn tcp_refused_connect_is_an_error() {
    let mut h = Harness::new();
    // Take a port that nobody listens on any more.
    let (listener, _) = bind_default("tcp://127.0.0.1:0").unwrap();
    let addr = tcp_listener(&listener).local_addr().unwrap();
    drop(listener);

    let result = connect_tcp(addr, None, &Options::default()).and_then(|mut client| {
        h.add(&mut client);
        h.finish(&client)
    });
    match result {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(()) => panic!("connected to a closed port"),
    }
}

#[test]
fn inproc_is_not_for_this_module() {
    match bind_default("inproc://x") {
        Err(Error::InvalidEndpoint { endpoint, .. }) => assert_eq!(endpoint, "inproc://x"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ipc_path_exchange_addresses_and_cleanup() {
    let mut h = Harness::new();
    let path = temp_sock();
    let endpoint = ipc_ep(&path);
    let (mut listener, last) = bind(&endpoint, &Options::default()).unwrap();
    assert_eq!(last, format!("ipc://{}", path.display()));
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
    h.add(&mut listener);

    let Endpoint::Ipc(ipc) = &endpoint else {
        unreachable!()
    };
    let mut client = connect_ipc(ipc).unwrap();
    h.add(&mut client);
    let (mut server, accepted) = h.accept(&listener, &client);

    let text = path.display().to_string();
    let expected = ConnAddrs {
        peer_address: Some(text.clone()),
        peer_socket_addr: None,
        local_address: Some(text),
    };
    assert_eq!(accepted, expected);
    assert_eq!(server.addrs(), expected);
    assert_eq!(client.addrs(), expected);

    h.exchange(&mut client, &mut server);

    drop(listener);
    assert!(!path.exists(), "socket file left behind after drop");
}

#[test]
fn ipc_abstract_exchange_and_addresses() {
    let mut h = Harness::new();
    let name = abstract_name();
    let endpoint = ep(&format!("ipc://@{name}"));
    let (mut listener, last) = bind(&endpoint, &Options::default()).unwrap();
    assert_eq!(last, format!("ipc://@{name}"));
    h.add(&mut listener);

    let Endpoint::Ipc(ipc) = &endpoint else {
        unreachable!()
    };
    let mut client = connect_ipc(ipc).unwrap();
    h.add(&mut client);
    let (mut server, accepted) = h.accept(&listener, &client);
    let at_name = format!("@{name}");
    assert_eq!(accepted.peer_address.as_deref(), Some(at_name.as_str()));
    assert_eq!(
        client.addrs().peer_address.as_deref(),
        Some(at_name.as_str())
    );
    assert_eq!(
        server.addrs().local_address.as_deref(),
        Some(at_name.as_str())
    );

    h.exchange(&mut client, &mut server);
}

#[test]
fn ipc_abstract_second_bind_is_address_in_use() {
    let endpoint = ep(&format!("ipc://@{}", abstract_name()));
    let (_listener, last) = bind(&endpoint, &Options::default()).unwrap();
    match bind(&endpoint, &Options::default()) {
        Err(Error::AddressInUse(text)) => assert_eq!(text, last),
        other => panic!("expected AddressInUse, got {other:?}"),
    }
}

#[test]
fn ipc_abstract_name_has_no_trailing_nul() {
    // The kernel lists abstract sockets in /proc/net/unix with every NUL shown as `@`: ours
    // must appear as `@name`, not `@name@` (which is what a trailing NUL would give, and
    // would not match libzmq's address).
    let name = abstract_name();
    let (_listener, _) = bind(&ep(&format!("ipc://@{name}")), &Options::default()).unwrap();
    let Ok(table) = fs::read_to_string("/proc/net/unix") else {
        println!("note: skipping, /proc/net/unix is not readable");
        return;
    };
    let paths: Vec<&str> = table
        .lines()
        .filter_map(|line| line.split_whitespace().nth(7))
        .collect();
    if paths.iter().any(|p| p.contains(&name)) {
        assert!(paths.contains(&format!("@{name}").as_str()), "{paths:?}");
    } else {
        println!("note: skipping, this kernel does not list abstract sockets");
    }
}

#[test]
fn ipc_permissions_are_applied() {
    for mode in [0o600, 0o660, 0o777] {
        let path = temp_sock();
        let options = Options {
            ipc_permissions: Some(mode),
            ..Options::default()
        };
        let (_listener, _) = bind(&ipc_ep(&path), &options).unwrap();
        let actual = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(actual, mode, "mode {mode:o}");
    }
}

#[test]
fn ipc_stale_socket_file_is_replaced() {
    let mut h = Harness::new();
    let path = temp_sock();
    // A listener that went away without removing its file (std never removes it).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());

    let (mut listener, _) = bind(&ipc_ep(&path), &Options::default()).unwrap();
    h.add(&mut listener);
    let mut client = connect_ipc(&IpcEndpoint::Path(path.clone())).unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);
    h.send_all(&mut client, b"fresh");
    assert_eq!(h.recv_exact(&mut server, 5), b"fresh");
}

#[test]
fn ipc_regular_file_or_directory_is_never_deleted() {
    let path = temp_sock();
    fs::write(&path, b"precious").unwrap();
    match bind(&ipc_ep(&path), &Options::default()) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), b"precious");
    fs::remove_file(&path).unwrap();

    let dir = temp_sock();
    fs::create_dir(&dir).unwrap();
    assert!(bind(&ipc_ep(&dir), &Options::default()).is_err());
    assert!(dir.is_dir());
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn ipc_drop_leaves_a_taken_over_path_alone() {
    let mut h = Harness::new();
    let path = temp_sock();
    let (first, _) = bind(&ipc_ep(&path), &Options::default()).unwrap();
    // A second bind takes the path over, as in libzmq.
    let (mut second, _) = bind(&ipc_ep(&path), &Options::default()).unwrap();
    drop(first);
    assert!(
        path.exists(),
        "dropping the first listener removed the second's file"
    );

    h.add(&mut second);
    let mut client = connect_ipc(&IpcEndpoint::Path(path.clone())).unwrap();
    h.add(&mut client);
    let _ = h.accept(&second, &client);

    drop(second);
    assert!(!path.exists());
}

#[test]
fn ipc_connect_to_missing_path_fails() {
    let path = temp_sock();
    let result = connect_ipc(&IpcEndpoint::Path(path)).and_then(|client| {
        let mut h = Harness::new();
        h.finish(&client)
    });
    assert!(result.is_err());
}

fn buffer_sizes(stream: &Stream) -> (usize, usize) {
    let s = match stream {
        Stream::Tcp(s) => SockRef::from(s),
        Stream::Ipc(s) => SockRef::from(s),
    };
    (s.send_buffer_size().unwrap(), s.recv_buffer_size().unwrap())
}

#[test]
fn buffer_sizes_reach_tcp_listeners_and_tcp_and_ipc_streams() {
    let options = Options {
        send_buffer: Some(16 * 1024),
        recv_buffer: Some(24 * 1024),
        ..Options::default()
    };
    // Linux doubles what is asked (for its bookkeeping) and reports the doubled value.
    let expected = (2 * 16 * 1024, 2 * 24 * 1024);
    let mut h = Harness::new();

    // tcp: the listener has them before listening, so the accepted stream starts with them.
    let (mut listener, _) = bind(&Endpoint::parse("tcp://127.0.0.1:*").unwrap(), &options).unwrap();
    h.add(&mut listener);
    let addr = tcp_listener(&listener).local_addr().unwrap();
    let mut client = connect_tcp(addr, None, &Options::default()).unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);
    assert_eq!(buffer_sizes(&server), expected);
    client.apply_options(&options).unwrap();
    assert_eq!(buffer_sizes(&client), expected);
    h.exchange(&mut client, &mut server);

    // ipc: set on each stream.
    let path = temp_sock();
    let endpoint = ipc_ep(&path);
    let (mut listener, _) = bind(&endpoint, &Options::default()).unwrap();
    h.add(&mut listener);
    let Endpoint::Ipc(ipc) = &endpoint else {
        unreachable!()
    };
    let mut client = connect_ipc(ipc).unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);
    for stream in [&client, &server] {
        stream.apply_options(&options).unwrap();
        assert_eq!(buffer_sizes(stream), expected);
    }
    h.exchange(&mut client, &mut server);
}

/// `read_behind` over a connected pair: the head stays in front, a read stops at `max`, a
/// short read means the kernel had no more, nothing waiting is `WouldBlock`, and the
/// peer's close is `Ok(0)`; the buffer is never reallocated.
fn read_behind_on(h: &mut Harness, client: &mut Stream, server: &mut Stream) {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    h.send_all(client, &data);
    let mut received = Vec::new();
    // At most 40000 bytes a read: each read ends at `max` or where the kernel ran dry.
    while received.len() < data.len() {
        let (buf, result) = h
            .retry(|| {
                let (buf, result) = server.read_behind(b"head", 40_000, 0);
                result.map(|n| (buf, Ok::<usize, io::Error>(n)))
            })
            .unwrap();
        let n = result.unwrap();
        assert!(n > 0 && n <= 40_000, "read {n}");
        assert_eq!(buf.len(), 4 + n);
        assert_eq!(&buf[..4], b"head");
        assert!(
            buf.capacity() >= 4 + 40_000,
            "reallocated to {}",
            buf.capacity()
        );
        received.extend_from_slice(&buf[4..]);
    }
    assert!(received == data, "bytes differ");
    let (buf, result) = server.read_behind(b"", 40_000, 0);
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(buf.is_empty());
    client.shutdown_write().unwrap();
    let n = h
        .retry(|| server.read_behind(b"", 40_000, 0).1)
        .expect("end of stream");
    assert_eq!(n, 0);
}

#[test]
fn tcp_read_behind_reads_unzeroed_up_to_max() {
    let mut h = Harness::new();
    let (mut listener, _) = bind_default("tcp://127.0.0.1:*").unwrap();
    h.add(&mut listener);
    let listen_addr = tcp_listener(&listener).local_addr().unwrap();
    let mut client = connect_tcp(listen_addr, None, &Options::default()).unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);
    read_behind_on(&mut h, &mut client, &mut server);
}

#[test]
fn ipc_read_behind_reads_unzeroed_up_to_max() {
    let mut h = Harness::new();
    let path = temp_sock();
    let (mut listener, _) = bind(&ipc_ep(&path), &Options::default()).unwrap();
    h.add(&mut listener);
    let mut client = connect_ipc(&IpcEndpoint::Path(path)).unwrap();
    h.add(&mut client);
    let (mut server, _) = h.accept(&listener, &client);
    read_behind_on(&mut h, &mut client, &mut server);
}

/// `ZMQ_TOS`, `ZMQ_TCP_MAXRT` and `ZMQ_BINDTODEVICE` land on the sockets: set on the
/// connecting socket before its connect, on the listener before its bind, and
/// `apply_options` sets the first two on accepted streams.
#[test]
fn tos_maxrt_and_device_are_set_on_tcp_sockets() {
    let options = Options {
        tos: Some(0x28),
        tcp_maxrt: Some(Duration::from_millis(5_000)),
        bind_to_device: Some("lo".into()),
        ..Options::default()
    };
    let mut h = Harness::new();
    let (mut listener, last) = bind(&ep("tcp://127.0.0.1:0"), &options).unwrap();
    let Listener::Tcp(tcp) = &listener else {
        panic!("a tcp listener")
    };
    assert_eq!(
        SockRef::from(tcp).device().unwrap().as_deref(),
        Some(&b"lo"[..])
    );
    assert_eq!(SockRef::from(tcp).tos().unwrap(), 0x28);
    h.add(&mut listener);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&last)));
    let mut client = connect_tcp(addr, None, &options).unwrap();
    h.add(&mut client);
    let (server, _) = h.accept(&listener, &client);
    client.apply_options(&options).unwrap();
    server.apply_options(&options).unwrap();
    for stream in [&client, &server] {
        let Stream::Tcp(s) = stream else {
            panic!("tcp streams")
        };
        let sock = SockRef::from(s);
        assert_eq!(sock.tos().unwrap(), 0x28);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(5_000))
        );
    }
    let Stream::Tcp(c) = &client else {
        unreachable!()
    };
    assert_eq!(
        SockRef::from(c).device().unwrap().as_deref(),
        Some(&b"lo"[..])
    );
    // A connect from a source address binds it first.
    let source = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 3), 0));
    let from = connect_tcp(addr, Some(source), &Options::default()).unwrap();
    let Stream::Tcp(f) = &from else {
        unreachable!()
    };
    assert_eq!(f.local_addr().unwrap().ip(), source.ip());
}
