//! The systemd `sd_notify` protocol: one datagram per message to `$NOTIFY_SOCKET`
//! (a filesystem path, or an abstract name written `@name`).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// A connection to systemd's notification socket.
///
/// ```no_run
/// use keel_core::supervisor::Notifier;
/// if let Some(n) = Notifier::from_env() {
///     n.notify("READY=1\nSTATUS=registered").ok();
/// }
/// ```
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Path(PathBuf),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Abstract(Vec<u8>),
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, or `None` when it is unset, empty or
    /// unusable (not under systemd).
    pub fn from_env() -> Option<Notifier> {
        let addr = std::env::var_os("NOTIFY_SOCKET")?;
        Notifier::new(&addr.to_string_lossy()).ok()
    }

    /// A notifier for this address: a path, or `@name` for an abstract socket.
    pub fn new(addr: &str) -> io::Result<Notifier> {
        if addr.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty address"));
        }
        let target = if let Some(name) = addr.strip_prefix('@') {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                Target::Abstract(name.as_bytes().to_vec())
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            {
                let _ = name;
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "abstract sockets are Linux-only",
                ));
            }
        } else if addr.starts_with('/') {
            Target::Path(PathBuf::from(addr))
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NOTIFY_SOCKET must be an absolute path or @abstract",
            ));
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            target,
        })
    }

    /// Send one message (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`, several
    /// separated by newlines). Never blocks.
    pub fn notify(&self, msg: &str) -> io::Result<()> {
        self.socket.set_nonblocking(true)?;
        match &self.target {
            Target::Path(p) => self.socket.send_to(msg.as_bytes(), p).map(|_| ()),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Target::Abstract(name) => {
                #[cfg(target_os = "android")]
                use std::os::android::net::SocketAddrExt;
                #[cfg(target_os = "linux")]
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.socket.send_to_addr(msg.as_bytes(), &addr).map(|_| ())
            }
        }
    }
}

/// The watchdog ping interval systemd asks for: half of `$WATCHDOG_USEC`, when it is set
/// and `$WATCHDOG_PID` (if set) is this process.
pub fn watchdog_interval_from_env() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    if usec == 0 {
        return None;
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}
