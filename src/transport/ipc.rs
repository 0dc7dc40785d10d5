//! The ipc transport: Unix-domain stream sockets on a path or a Linux abstract name.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixListener as StdUnixListener};
use std::path::{Path, PathBuf};

use mio::event::Source;
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use super::{bind_error, ConnAddrs};
use crate::endpoint::IpcEndpoint;
use crate::error::{Error, Result};
use crate::options::Options;

/// A listening Unix-domain socket; removes its socket file when dropped.
#[derive(Debug)]
pub(crate) struct IpcListener {
    /// The socket.
    inner: UnixListener,
    /// The address accepted connections report: the path as given, or `@name`.
    address: String,
    /// The socket file, kept only so that dropping the listener removes it; `None` for an
    /// abstract name.
    _file: Option<SocketFile>,
}

/// The socket file of a path listener. Dropping it removes the file, but only if it is still
/// the one this listener created: when another listener has taken the path over (as libzmq
/// allows), its file is left alone.
#[derive(Debug)]
struct SocketFile {
    /// The path, made absolute at bind time so a later change of working directory does not
    /// matter.
    path: PathBuf,
    /// Device of the file we created.
    dev: u64,
    /// Inode of the file we created.
    ino: u64,
    /// The private directory made for an `ipc://*` bind, removed after the file.
    dir: Option<PathBuf>,
}

impl SocketFile {
    /// Records the socket file just created at `path`.
    fn new(path: &Path) -> io::Result<SocketFile> {
        let meta = fs::symlink_metadata(path)?;
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()?.join(path)
        };
        Ok(SocketFile {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
            dir: None,
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino);
        if ours {
            // Nothing useful to do if this fails: the next bind replaces a stale socket file.
            let _ = fs::remove_file(&self.path);
        }
        if let Some(dir) = &self.dir {
            // Only if empty: anything else put there is not ours to remove.
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Most directory names tried for one `ipc://*` bind before giving up.
const UNIQUE_TRIES: usize = 16;

/// Makes a new private directory (mode 0700) under the temporary directory for an
/// `ipc://*` bind, as libzmq's `mkdtemp`; returns it and the socket path inside.
fn unique_dir() -> Result<(PathBuf, PathBuf)> {
    use std::hash::{BuildHasher, Hasher};
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..UNIQUE_TRIES {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(crate::mailbox::next_id());
        let dir = base.join(format!("ferromq-{:016x}", h.finish()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let path = dir.join("socket");
                return Ok((dir, path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists))
        .into())
}

/// Binds a path or abstract name; returns the listener and the endpoint text.
pub(super) fn bind(endpoint: &IpcEndpoint, options: &Options) -> Result<(IpcListener, String)> {
    let mut text = endpoint.to_string();
    let listener = match endpoint {
        IpcEndpoint::Path(path) => bind_path(path, &text, options)?,
        IpcEndpoint::Unique => {
            let (dir, path) = unique_dir()?;
            text = format!("ipc://{}", path.display());
            if text.len() > "ipc://".len() + crate::endpoint::MAX_IPC_PATH_LEN {
                let _ = fs::remove_dir(&dir);
                return Err(Error::endpoint(
                    "ipc://*",
                    "the temporary directory's path is too long for a Unix socket address",
                ));
            }
            match bind_path(&path, &text, options) {
                Ok(mut listener) => {
                    if let Some(file) = &mut listener._file {
                        file.dir = Some(dir);
                    }
                    listener
                }
                Err(e) => {
                    let _ = fs::remove_dir(&dir);
                    return Err(e);
                }
            }
        }
        IpcEndpoint::Abstract(name) => {
            let std = StdUnixListener::bind_addr(&abstract_addr(name)?)
                .map_err(|e| bind_error(e, &text))?;
            std.set_nonblocking(true)?;
            IpcListener {
                inner: UnixListener::from_std(std),
                address: format!("@{name}"),
                _file: None,
            }
        }
    };
    Ok((listener, text))
}

/// Binds a socket file, replacing a stale one, and applies the permissions option.
fn bind_path(path: &Path, text: &str, options: &Options) -> Result<IpcListener> {
    remove_stale_socket(path)?;
    let std = StdUnixListener::bind(path).map_err(|e| bind_error(e, text))?;
    let file = match SocketFile::new(path) {
        Ok(file) => file,
        Err(e) => {
            let _ = fs::remove_file(path);
            return Err(e.into());
        }
    };
    // From here on, an early return drops `file`, which removes the socket file.
    std.set_nonblocking(true)?;
    if let Some(mode) = options.ipc_permissions {
        fs::set_permissions(&file.path, fs::Permissions::from_mode(mode & 0o7777))?;
    }
    Ok(IpcListener {
        inner: UnixListener::from_std(std),
        address: path.display().to_string(),
        _file: Some(file),
    })
}

/// Removes a socket file left at `path` by a listener that is gone (or that we take over, as
/// libzmq does). Any other kind of file is left alone and reported as an error.
fn remove_stale_socket(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        },
        Ok(_) => Err(Error::Io(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl IpcListener {
    /// Accepts one pending connection.
    pub(super) fn accept(&self) -> io::Result<(UnixStream, ConnAddrs)> {
        let (stream, _unnamed_peer) = self.inner.accept()?;
        let addrs = ConnAddrs {
            peer_address: Some(self.address.clone()),
            peer_socket_addr: None,
            local_address: Some(self.address.clone()),
        };
        Ok((stream, addrs))
    }
}

impl Source for IpcListener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.inner.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.inner.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.inner.deregister(registry)
    }
}

/// Starts a non-blocking connect to a path or abstract name.
pub(super) fn connect(endpoint: &IpcEndpoint) -> io::Result<UnixStream> {
    match endpoint {
        IpcEndpoint::Path(path) => UnixStream::connect(path),
        IpcEndpoint::Abstract(name) => UnixStream::connect_addr(&abstract_addr(name)?),
        IpcEndpoint::Unique => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ipc://* is for bind only",
        )),
    }
}

/// The addresses of an ipc stream: both are the socket's path (or `@name`), taken from our end
/// when it is named (accepted streams) or else from the peer's (connected streams).
pub(super) fn addrs(stream: &std::os::unix::net::UnixStream) -> ConnAddrs {
    let name = stream
        .local_addr()
        .ok()
        .and_then(|addr| addr_text(&addr))
        .or_else(|| stream.peer_addr().ok().and_then(|addr| addr_text(&addr)));
    ConnAddrs {
        peer_address: name.clone(),
        peer_socket_addr: None,
        local_address: name,
    }
}

/// The path of a named address, or `@name` for an abstract one; `None` when unnamed.
fn addr_text(addr: &SocketAddr) -> Option<String> {
    if let Some(path) = addr.as_pathname() {
        return Some(path.display().to_string());
    }
    abstract_name_text(addr)
}

/// `@name` for an abstract address.
#[cfg(target_os = "linux")]
fn abstract_name_text(addr: &SocketAddr) -> Option<String> {
    use std::os::linux::net::SocketAddrExt;
    addr.as_abstract_name()
        .map(|name| format!("@{}", String::from_utf8_lossy(name)))
}

/// Abstract addresses exist only on Linux.
#[cfg(not(target_os = "linux"))]
fn abstract_name_text(_addr: &SocketAddr) -> Option<String> {
    None
}

/// The address of an abstract name: a leading NUL then the name, with no trailing NUL, the
/// length libzmq uses, so both name the same socket.
#[cfg(target_os = "linux")]
fn abstract_addr(name: &str) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

/// Abstract addresses exist only on Linux.
#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &str) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract ipc names (ipc://@name) exist only on Linux",
    ))
}
