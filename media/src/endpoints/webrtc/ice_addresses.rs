//! Which local addresses ICE gathers host candidates on (KMS's `networkInterfaces`).
//! libnice uses every non-loopback interface unless addresses are added explicitly; webrtcbin
//! 1.22 exposes no property for it, so the addresses go to its NiceAgent through libnice's API.

use std::ffi::{c_char, c_int, c_void, CString};
use std::net::IpAddr;

use gst::glib;
use gst::prelude::*;

#[repr(C)]
struct NiceAddress {
    _opaque: [u8; 0],
}

#[link(name = "nice")]
extern "C" {
    fn nice_address_new() -> *mut NiceAddress;
    fn nice_address_free(addr: *mut NiceAddress);
    fn nice_address_set_from_string(addr: *mut NiceAddress, s: *const c_char) -> c_int;
    fn nice_agent_add_local_address(agent: *mut c_void, addr: *const NiceAddress) -> c_int;
}

/// Addresses of the named interfaces (comma-separated, e.g. `"eth0,lo"`); IPv6 link-local
/// addresses are left out (they need a scope). Errors name an interface that has none.
pub fn interface_addresses(names: &str) -> Result<Vec<IpAddr>, String> {
    let wanted: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err("no interface named".into());
    }
    let found = all_addresses()?;
    let mut out = Vec::new();
    for name in wanted {
        let before = out.len();
        out.extend(found.iter().filter(|(n, _)| n == name).map(|(_, a)| *a));
        if out.len() == before {
            return Err(format!("network interface '{name}' has no address"));
        }
    }
    Ok(out)
}

/// Every interface's addresses as `(interface, address)`, IPv6 link-local ones left out.
pub fn all_addresses() -> Result<Vec<(String, IpAddr)>, String> {
    let mut found: Vec<(String, IpAddr)> = Vec::new();
    // SAFETY: getifaddrs fills a list we only read and then free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return Err(format!("getifaddrs: {}", std::io::Error::last_os_error()));
        }
        let mut cur = list;
        while !cur.is_null() {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() {
                let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                    .to_string_lossy()
                    .into_owned();
                match (*ifa.ifa_addr).sa_family as c_int {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        found.push((
                            name,
                            IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                        if ip.segments()[0] & 0xffc0 != 0xfe80 {
                            found.push((name, IpAddr::V6(ip)));
                        }
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    Ok(found)
}

/// Makes `webrtcbin` gather host candidates only on `addresses` (before negotiation).
pub fn restrict_gathering(webrtcbin: &gst::Element, addresses: &[IpAddr]) -> Result<(), String> {
    let ice = webrtcbin
        .property::<Option<glib::Object>>("ice-agent")
        .ok_or("webrtcbin has no ICE agent")?;
    if ice.find_property("agent").is_none() {
        return Err("this webrtcbin's ICE agent is not libnice".into());
    }
    let agent = ice.property::<glib::Object>("agent");
    for addr in addresses {
        let text = CString::new(addr.to_string()).expect("an IP address has no NUL");
        // SAFETY: the address is allocated, filled and freed here; the agent is a live NiceAgent
        // (checked above through its owner) kept alive by `agent` for the call.
        unsafe {
            let nice = nice_address_new();
            let ok = nice_address_set_from_string(nice, text.as_ptr()) != 0
                && nice_agent_add_local_address(agent.as_ptr() as *mut c_void, nice) != 0;
            nice_address_free(nice);
            if !ok {
                return Err(format!("libnice refused local address {addr}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_addresses_and_unknown_interfaces_are_named() {
        let lo = interface_addresses("lo").unwrap();
        assert!(lo.contains(&IpAddr::from([127, 0, 0, 1])), "{lo:?}");
        let e = interface_addresses("lo,nosuch0").unwrap_err();
        assert!(e.contains("nosuch0"), "{e}");
    }

    #[test]
    fn webrtcbin_accepts_the_restriction() {
        gst::init().unwrap();
        let w = gst::ElementFactory::make("webrtcbin").build().unwrap();
        restrict_gathering(&w, &[IpAddr::from([127, 0, 0, 1])]).unwrap();
    }
}
