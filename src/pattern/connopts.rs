//! The connection options every socket type takes (libzmq's `ZMQ_CONNECT_TIMEOUT`,
//! `ZMQ_RECONNECT_STOP`, `ZMQ_TCP_MAXRT`, `ZMQ_TOS`, `ZMQ_BINDTODEVICE`, `ZMQ_METADATA`),
//! with their getters, generated into each socket by [`socket_common!`].
//!
//! [`socket_common!`]: crate::pattern::socket_common

/// Longest interface name `SO_BINDTODEVICE` takes: Linux's `IFNAMSIZ` (16) less the NUL.
pub(crate) const MAX_DEVICE_NAME_LEN: usize = 15;

/// Checks an interface name for [`bind_to_device`](crate::Dealer::set_bind_to_device).
pub(crate) fn check_device(name: &str) -> crate::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_DEVICE_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if valid {
        Ok(())
    } else {
        Err(crate::Error::InvalidOption(format!(
            "`{name}` is not an interface name (1 to {MAX_DEVICE_NAME_LEN} bytes, no `/` or spaces)"
        )))
    }
}

/// Generates the connection options of [`connopts`](self) for one socket type.
macro_rules! connection_options {
    ($ty:ident) => {
        impl $ty {
            /// Sets how long a tcp connect may take before it is given up and retried
            /// (libzmq's `ZMQ_CONNECT_TIMEOUT`; default `None`, the OS's own limit, about
            /// two minutes on Linux). The retry follows the reconnect interval as after a
            /// refused connect. Applies to later connects; any value up to
            /// `Duration::MAX` is accepted (zero is `None`, as libzmq's 0).
            pub fn set_connect_timeout(&mut self, timeout: Option<std::time::Duration>) {
                self.core.options.connect_timeout = timeout.filter(|t| !t.is_zero());
            }

            /// The connect timeout in force; see [`Self::set_connect_timeout`].
            pub fn connect_timeout(&self) -> Option<std::time::Duration> {
                self.core.options.connect_timeout
            }

            /// Sets when a connect stops retrying (libzmq's `ZMQ_RECONNECT_STOP`; default
            /// [`ReconnectStop::NEVER`](crate::ReconnectStop::NEVER)): after a refused
            /// connect, a failed handshake, or, once `disconnect` was called, a refused
            /// connect of another endpoint. A connect that stops reports
            /// [`MonitorEvent::ReconnectStopped`](crate::MonitorEvent::ReconnectStopped);
            /// `disconnect` of its endpoint is then not needed (and harmless). Applies to
            /// later connects.
            pub fn set_reconnect_stop(&mut self, stop: $crate::ReconnectStop) {
                self.core.options.reconnect_stop = stop;
            }

            /// The reconnect-stop flags in force; see [`Self::set_reconnect_stop`].
            pub fn reconnect_stop(&self) -> $crate::ReconnectStop {
                self.core.options.reconnect_stop
            }

            /// Sets how long sent data may stay unacknowledged before the kernel drops a
            /// tcp connection (libzmq's `ZMQ_TCP_MAXRT`: `TCP_USER_TIMEOUT` on Linux, in
            /// milliseconds; default `None`, the OS default, which retransmits for about
            /// 15 minutes). Ignored where the OS has no such option. Applies to later
            /// connections; zero is `None`, as libzmq's 0.
            pub fn set_tcp_maxrt(&mut self, timeout: Option<std::time::Duration>) {
                self.core.options.tcp_maxrt = timeout.filter(|t| !t.is_zero());
            }

            /// The tcp retransmit timeout in force; see [`Self::set_tcp_maxrt`].
            pub fn tcp_maxrt(&self) -> Option<std::time::Duration> {
                self.core.options.tcp_maxrt
            }

            /// Sets the IP type-of-service byte (DSCP and ECN) of later tcp connections and
            /// listeners (libzmq's `ZMQ_TOS`: `IP_TOS`, and `IPV6_TCLASS` for IPv6;
            /// default `None`, the OS default, 0). Set before the connect, so the SYN
            /// carries it too.
            pub fn set_tos(&mut self, tos: Option<u8>) {
                self.core.options.tos = tos.map(u32::from);
            }

            /// The type of service in force; see [`Self::set_tos`].
            pub fn tos(&self) -> Option<u8> {
                self.core.options.tos.and_then(|t| u8::try_from(t).ok())
            }

            /// Binds later tcp connections and listeners to a network interface by name
            /// (libzmq's `ZMQ_BINDTODEVICE`: `SO_BINDTODEVICE`, Linux only, which needs
            /// `CAP_NET_RAW`; default `None`). Unlike libzmq, which ignores a failure, a
            /// bind fails with the OS error and a connect retries (with
            /// [`MonitorEvent::ConnectRetried`](crate::MonitorEvent::ConnectRetried)), so
            /// traffic never leaves by another interface.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidOption`](crate::Error::InvalidOption) for a name that cannot
            /// be an interface (empty, over 15 bytes, with `/` or spaces).
            pub fn set_bind_to_device(&mut self, device: Option<&str>) -> $crate::Result<()> {
                if let Some(name) = device {
                    $crate::pattern::connopts::check_device(name)?;
                }
                self.core.options.bind_to_device = device.map(str::to_owned);
                Ok(())
            }

            /// The interface later tcp sockets are bound to; see
            /// [`Self::set_bind_to_device`].
            pub fn bind_to_device(&self) -> Option<&str> {
                self.core.options.bind_to_device.as_deref()
            }

            /// Adds an application property, `"X-name:value"`, to the metadata this socket
            /// sends in its handshake (libzmq's `ZMQ_METADATA`): the peer reads it from
            /// each message's [`Metadata`](crate::Metadata) (libzmq: `zmq_msg_gets`).
            /// Calling it again with a name already set replaces that property, where
            /// libzmq would send both. Applies to later connections, tcp and ipc (inproc
            /// has no handshake, in libzmq too). What a peer accepts is bounded there
            /// ([`Self::set_max_metadata_size`], [`Self::set_max_properties`]).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidOption`](crate::Error::InvalidOption) unless the name starts
            /// with `X-` (any case), has more after it and is at most 255 bytes, with `:`
            /// between name and value.
            pub fn add_metadata(&mut self, property: &str) -> $crate::Result<()> {
                let (name, value) = $crate::options::parse_metadata(property)?;
                let metadata = &mut self.core.options.metadata;
                metadata.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                metadata.push((name, value));
                Ok(())
            }

            /// Removes every property [`Self::add_metadata`] added.
            pub fn clear_metadata(&mut self) {
                self.core.options.metadata.clear();
            }

            /// The application properties this socket sends, as `(name, value)`, in the
            /// order added; see [`Self::add_metadata`].
            pub fn metadata(&self) -> Vec<(String, bytes::Bytes)> {
                self.core.options.metadata.clone()
            }
        }
    };
}

pub(crate) use connection_options;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_checked_as_linux_takes_them() {
        assert!(check_device("lo").is_ok());
        assert!(check_device("veth-optc-0").is_ok());
        for bad in ["", "a/b", "a b", "sixteen-bytes-xx"] {
            assert!(check_device(bad).is_err(), "{bad}");
        }
    }
}
