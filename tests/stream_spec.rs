//! Drives a STREAM socket through every row of the table in `patterns/stream.md`.
//!
//! Each state is built for real: a STREAM socket bound on loopback tcp, with plain
//! `std::net::TcpStream` clients as its peers. Each event is an operation on the socket or
//! on the client; the next state is then checked end to end. A row naming a state or event
//! this harness does not know fails, and so does a (state, event) pair the harness knows
//! that the table does not list.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ferromq::{Error, Frame, Message, SendError, StreamSocket};
use util::spec::{all_pairs, outcome, run_rows, table};
use util::{eventually, within};

const SHORT: Duration = Duration::from_millis(60);
const LONG: Duration = Duration::from_secs(10);

/// A send's result as the table writes it: `host-unreachable` when the whole message,
/// id included, came back.
fn send_outcome(r: Result<(), SendError>, sent: &Message) -> &'static str {
    match r {
        Err(e) if matches!(e.error(), Error::HostUnreachable) => {
            assert_eq!(&e.into_message(), sent, "handed back whole");
            "host-unreachable"
        }
        other => outcome(other),
    }
}

struct World {
    _ctx: ferromq::Context,
    sock: StreamSocket,
    addr: String,
    client: Option<TcpStream>,
    /// The id of the client's connection, once the application learnt it.
    id: Option<Frame>,
}

impl World {
    fn new(state: &str) -> World {
        let ctx = ferromq::Context::new();
        let mut sock = ctx.stream().unwrap();
        sock.set_recv_timeout(Some(LONG));
        sock.set_send_timeout(Some(LONG));
        sock.set_stream_notify(!matches!(state, "quiet" | "quiet-connected"));
        sock.bind("tcp://127.0.0.1:*").unwrap();
        let addr = sock.last_endpoint().unwrap()["tcp://".len()..].to_owned();
        let mut w = World {
            _ctx: ctx,
            sock,
            addr,
            client: None,
            id: None,
        };
        match state {
            "no-connection" | "quiet" => {}
            "connected" => assert_eq!(w.peer_connects(), "notice"),
            "has-data" => {
                assert_eq!(w.peer_connects(), "notice");
                w.peer_sends();
                // Wait until the bytes are queued, so a try-recv finds them.
                assert!(eventually(LONG, || {
                    let mut items = [ferromq::PollItem::new(
                        &mut w.sock,
                        ferromq::Interest::READABLE,
                    )];
                    ferromq::poll(&mut items, Some(SHORT)).is_readable(0)
                }));
            }
            "quiet-connected" => {
                w.connect();
                assert!(eventually(LONG, || w.sock.peer_count() == 1));
            }
            other => panic!("STREAM harness does not know state `{other}`"),
        }
        w
    }

    fn connect(&mut self) {
        let c = TcpStream::connect(&self.addr).unwrap();
        c.set_read_timeout(Some(LONG)).unwrap();
        self.client = Some(c);
    }

    /// Connects the client; the result is what the socket receives for it.
    fn peer_connects(&mut self) -> String {
        self.connect();
        if self.sock.stream_notify() {
            self.expect_notice()
        } else {
            outcome(self.sock.recv_timeout(SHORT)).replace("timed-out", "would-block")
        }
    }

    fn peer_sends(&mut self) {
        self.client.as_mut().unwrap().write_all(b"ping").unwrap();
    }

    /// Receives the notice for the client's connection, learning its id if new.
    fn expect_notice(&mut self) -> String {
        let msg = self.sock.recv().unwrap();
        assert_eq!(msg.len(), 2, "{msg:?}");
        assert!(msg[1].is_empty(), "a notice, not {msg:?}");
        match &self.id {
            Some(id) => assert_eq!(&msg[0], id, "the notice of another connection"),
            None => self.id = Some(msg[0].clone()),
        }
        "notice".into()
    }

    /// Receives the client's bytes (waiting or not), learning the id if new.
    fn expect_bytes(&mut self, wait: bool) -> String {
        let r = if wait {
            self.sock.recv()
        } else {
            self.sock.try_recv()
        };
        self.classify(r)
    }

    /// A receive's result as the table writes it: `bytes` for the client's `ping`, or the
    /// error's name. A notice here fails the test.
    fn classify(&mut self, r: ferromq::Result<Message>) -> String {
        let msg = match r {
            Ok(msg) => msg,
            Err(e) => return outcome(Err::<(), _>(e)).into(),
        };
        assert_eq!(&msg[1][..], b"ping", "{msg:?}");
        match &self.id {
            Some(id) => assert_eq!(&msg[0], id),
            None => self.id = Some(msg[0].clone()),
        }
        "bytes".into()
    }

    fn id(&self) -> Frame {
        self.id.clone().expect("the application knows the id")
    }

    /// The client reads `want` exactly (bytes may arrive in pieces).
    fn client_reads(&mut self, want: &[u8]) {
        let mut got = vec![0; want.len()];
        self.client.as_mut().unwrap().read_exact(&mut got).unwrap();
        assert_eq!(got, want);
    }

    fn event(&mut self, event: &str) -> String {
        match event {
            "try-recv" => self.expect_bytes(false),
            "recv" => {
                let r = self.sock.recv_timeout(SHORT);
                self.classify(r)
            }
            "peer-connects" => self.peer_connects(),
            "peer-sends" if self.sock.stream_notify() => {
                self.peer_sends();
                "ok".into()
            }
            "peer-sends" => {
                self.peer_sends();
                self.expect_bytes(true)
            }
            "peer-closes" => {
                let had_data = self.sock.stream_notify() && self.client.is_some() && {
                    let mut items = [ferromq::PollItem::new(
                        &mut self.sock,
                        ferromq::Interest::READABLE,
                    )];
                    ferromq::poll(&mut items, Some(Duration::ZERO)).is_readable(0)
                };
                self.client = None;
                if !self.sock.stream_notify() {
                    assert!(eventually(LONG, || self.sock.peer_count() == 0));
                    return outcome(self.sock.recv_timeout(SHORT))
                        .replace("timed-out", "would-block");
                }
                if had_data {
                    assert_eq!(self.expect_bytes(true), "bytes");
                    assert_eq!(self.expect_notice(), "notice");
                    "bytes-then-notice".into()
                } else {
                    self.expect_notice()
                }
            }
            "send" => {
                let msg = Message::from(vec![self.id(), "pong".into()]);
                let r = send_outcome(self.sock.send(msg.clone()), &msg);
                self.client_reads(b"pong");
                r.into()
            }
            "send-close" => {
                let msg = Message::from(vec![self.id(), Frame::new()]);
                let r = send_outcome(self.sock.send(msg.clone()), &msg);
                // The client reads the end of its stream.
                let mut rest = Vec::new();
                self.client
                    .as_mut()
                    .unwrap()
                    .read_to_end(&mut rest)
                    .unwrap();
                assert!(rest.is_empty(), "{rest:?}");
                r.into()
            }
            "send-id-alone" => {
                let msg = Message::from(vec![self.id()]);
                send_outcome(self.sock.send(msg.clone()), &msg).into()
            }
            "send-unknown-id" => {
                let msg = Message::from(vec!["nobody", "pong"]);
                send_outcome(self.sock.send(msg.clone()), &msg).into()
            }
            other => panic!("STREAM harness does not know event `{other}`"),
        }
    }

    /// Whether the id the application knew still names a connection: a probe send.
    fn id_routes(&mut self) -> bool {
        let Some(id) = self.id.clone() else {
            return false;
        };
        let msg = Message::from(vec![id, "probe".into()]);
        match send_outcome(self.sock.send(msg.clone()), &msg) {
            "ok" => {
                self.client_reads(b"probe");
                true
            }
            "host-unreachable" => false,
            other => panic!("probe send: {other}"),
        }
    }

    fn check(&mut self, state: &str) {
        match state {
            "no-connection" => {
                assert!(!self.id_routes(), "the id must be unknown");
                assert!(eventually(LONG, || self.sock.peer_count() == 0));
                assert_eq!(outcome(self.sock.recv_timeout(SHORT)), "timed-out");
            }
            "connected" => {
                assert_eq!(outcome(self.sock.recv_timeout(SHORT)), "timed-out");
                assert!(self.id_routes(), "the id must name the connection");
            }
            "has-data" => assert_eq!(self.expect_bytes(true), "bytes"),
            "quiet" => {
                assert!(eventually(LONG, || self.sock.peer_count() == 0));
                assert_eq!(outcome(self.sock.recv_timeout(SHORT)), "timed-out");
            }
            "quiet-connected" => {
                assert!(eventually(LONG, || self.sock.peer_count() == 1));
                assert_eq!(outcome(self.sock.recv_timeout(SHORT)), "timed-out");
            }
            other => panic!("STREAM harness does not know state `{other}`"),
        }
    }
}

#[test]
fn stream_follows_every_row_of_its_table() {
    within(Duration::from_secs(120), || {
        let rows = table("stream.md", "STREAM transition table");
        let covered = run_rows(&rows, |row| {
            let mut w = World::new(&row["state"]);
            let got = w.event(&row["event"]);
            assert_eq!(got, row["result"], "row {row:?}");
            w.check(&row["next state"]);
        });
        let mut required = all_pairs(
            &["no-connection", "connected"],
            &["try-recv", "send-unknown-id"],
        );
        required.extend(all_pairs(&["no-connection", "quiet"], &["peer-connects"]));
        required.extend(all_pairs(
            &["connected", "has-data", "quiet-connected"],
            &["peer-closes"],
        ));
        required.extend(all_pairs(
            &["connected", "quiet-connected"],
            &["peer-sends"],
        ));
        required.extend(all_pairs(
            &["connected"],
            &["send", "send-id-alone", "send-close"],
        ));
        required.extend(all_pairs(&["has-data"], &["recv", "try-recv"]));
        let missing: Vec<_> = required.difference(&covered).collect();
        assert!(missing.is_empty(), "stream.md lacks rows for {missing:?}");
    });
}
