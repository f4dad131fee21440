//! ICE candidates checked against RFC 8839's grammar (section 5.1) before webrtcbin sees them:
//! its own parser accepts most junk silently.
//!
//! `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
//! [raddr <address>] [rport <port>] *(<extension name> <extension value>)`

use std::net::IpAddr;

/// Why a candidate line is not a candidate.
pub fn check(candidate: &str) -> Result<(), String> {
    let line = candidate.trim().trim_start_matches("a=");
    let body = line
        .strip_prefix("candidate:")
        .ok_or("it does not start with 'candidate:'")?;
    let fields: Vec<&str> = body.split(' ').collect();
    if fields.iter().any(|f| f.is_empty()) {
        return Err("fields must be separated by single spaces".into());
    }
    let [foundation, component, transport, priority, address, port, typ, kind, rest @ ..] =
        fields.as_slice()
    else {
        return Err("it has fewer than 8 fields".into());
    };
    let ice_char = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    if foundation.len() > 32 || !foundation.chars().all(ice_char) {
        return Err(format!("bad foundation {foundation:?}"));
    }
    if !(1..=3).contains(&component.len())
        || !component.bytes().all(|b| b.is_ascii_digit())
        || !(1..=256).contains(&component.parse::<u32>().unwrap_or(0))
    {
        return Err(format!("bad component id {component:?}"));
    }
    if !is_token(transport) {
        return Err(format!("bad transport {transport:?}"));
    }
    if priority.len() > 10
        || !priority.bytes().all(|b| b.is_ascii_digit())
        || priority.parse::<u32>().is_err()
    {
        return Err(format!("bad priority {priority:?}"));
    }
    check_address(address)?;
    check_port(port)?;
    if *typ != "typ" {
        return Err(format!("expected 'typ', found {typ:?}"));
    }
    if !is_token(kind) {
        return Err(format!("bad candidate type {kind:?}"));
    }
    let mut rest = rest;
    if let ["raddr", related, tail @ ..] = rest {
        check_address(related)?;
        rest = tail;
    }
    if let ["rport", related, tail @ ..] = rest {
        check_port(related)?;
        rest = tail;
    }
    if rest.len() % 2 != 0 {
        return Err("an extension attribute has no value".into());
    }
    for pair in rest.chunks(2) {
        if !is_token(pair[0]) || !pair[1].bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("bad extension attribute {:?}", pair.join(" ")));
        }
    }
    Ok(())
}

/// RFC 4566 token characters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'{'
                        | b'|'
                        | b'}'
                        | b'~'
                )
        })
}

/// An IPv4 or IPv6 address, or a host name (browsers hide addresses behind mDNS names).
fn check_address(address: &str) -> Result<(), String> {
    if address.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = address.strip_suffix('.').unwrap_or(address);
    let numeric = name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if name.len() <= 253 && !numeric && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("bad address {address:?}"))
    }
}

fn check_port(port: &str) -> Result<(), String> {
    if (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
    {
        Ok(())
    } else {
        Err(format!("bad port {port:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn browsers_candidates_pass() {
        for ok in [
            "candidate:842163049 1 udp 1677729535 203.0.113.7 51000 typ srflx raddr 10.0.0.2 rport 51000 generation 0 ufrag EsAw network-cost 999",
            "candidate:1 1 UDP 2122252543 4d0e1c3a-5b9e-4f25-9a86-6b5b1f6c0f41.local 56143 typ host generation 0 ufrag x network-id 1",
            "a=candidate:3 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active",
            "candidate:4 2 udp 41885439 2001:db8::1 3478 typ relay raddr 0.0.0.0 rport 0",
            "candidate:a+b/c 1 udp 1 127.0.0.1 1 typ host",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn junk_is_refused() {
        for bad in [
            "candidate:x y z w v u t s",
            "candidate:1 1 udp 1 127.0.0.1 1 typ",
            "candidate:1 0 udp 1 127.0.0.1 1 typ host",
            "candidate:1 1 udp 99999999999 127.0.0.1 1 typ host",
            "candidate:1 1 udp 1 127.0.0.1 70000 typ host",
            "candidate:1 1 udp 1 127.0.0.1 1 type host",
            "candidate:1 1 udp 1 300.1.1.1 1 typ host",
            "candidate:1 1 udp 1 -bad-.local 1 typ host",
            "candidate:1 1 udp 1 127.0.0.1 1 typ host generation",
            "candidate:1  1 udp 1 127.0.0.1 1 typ host",
            "candidate:1 1 u\"dp 1 127.0.0.1 1 typ host",
            "candidate:f\u{e9} 1 udp 1 127.0.0.1 1 typ host",
            "candidate:0123456789012345678901234567890123 1 udp 1 127.0.0.1 1 typ host",
            "cand:1 1 udp 1 127.0.0.1 1 typ host",
            "candidate:1 1 udp 1 127.0.0.1 1 typ host raddr nope! rport 1",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
