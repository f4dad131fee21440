//! `KMS_EXTERNAL_IPV4=auto`: the server's public IPv4 address as the configured STUN server
//! sees it (one RFC 5389 Binding request), instead of KMS's DNS queries to outside resolvers.

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const MAPPED_ADDRESS: u16 = 0x0001;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// Sends before giving up, each waiting this long for the answer.
const ATTEMPTS: u32 = 3;
const WAIT: Duration = Duration::from_secs(1);

/// Asks `host:port` (a STUN server) for this host's reflexive IPv4 address.
pub fn discover_ipv4(host: &str, port: u16) -> Result<Ipv4Addr, String> {
    let server = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve STUN server {host}: {e}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("STUN server {host} has no IPv4 address"))?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(WAIT))
        .map_err(|e| e.to_string())?;
    let transaction: [u8; 12] = std::array::from_fn(|i| {
        // Unpredictable enough to match our own answer; not a security token.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        (nanos >> (i % 4 * 8)) as u8 ^ (std::process::id() >> (i % 3 * 8)) as u8 ^ i as u8
    });
    let request = binding_request(&transaction);
    let mut buf = [0u8; 1024];
    for _ in 0..ATTEMPTS {
        socket
            .send_to(&request, server)
            .map_err(|e| format!("STUN request to {server}: {e}"))?;
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if from != server {
                continue;
            }
            if let Some(address) = parse_binding_success(&buf[..n], &transaction) {
                return Ok(address);
            }
        }
    }
    Err(format!(
        "no STUN answer from {server} after {ATTEMPTS} tries"
    ))
}

fn binding_request(transaction: &[u8; 12]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(transaction);
    m
}

/// The IPv4 address in a Binding success response to `transaction`, if it is one.
fn parse_binding_success(m: &[u8], transaction: &[u8; 12]) -> Option<Ipv4Addr> {
    let header = m.get(..20)?;
    let kind = u16::from_be_bytes([header[0], header[1]]);
    let length = u16::from_be_bytes([header[2], header[3]]) as usize;
    if kind != BINDING_SUCCESS
        || header[4..8] != MAGIC_COOKIE.to_be_bytes()
        || header[8..20] != transaction[..]
    {
        return None;
    }
    let mut attributes = m.get(20..20 + length)?;
    let mut plain = None;
    while attributes.len() >= 4 {
        let kind = u16::from_be_bytes([attributes[0], attributes[1]]);
        let len = u16::from_be_bytes([attributes[2], attributes[3]]) as usize;
        let value = attributes.get(4..4 + len)?;
        // family 0x01 = IPv4: reserved, family, port (2), address (4)
        if value.len() >= 8 && value[1] == 0x01 {
            let raw = u32::from_be_bytes([value[4], value[5], value[6], value[7]]);
            match kind {
                XOR_MAPPED_ADDRESS => return Some(Ipv4Addr::from(raw ^ MAGIC_COOKIE)),
                MAPPED_ADDRESS => plain = Some(Ipv4Addr::from(raw)),
                _ => {}
            }
        }
        let padded = (4 + len).div_ceil(4) * 4;
        attributes = attributes.get(padded..).unwrap_or(&[]);
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_xor_mapped_address_of_our_transaction() {
        let tx = [7u8; 12];
        let mut m = Vec::new();
        m.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
        m.extend_from_slice(&12u16.to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&tx);
        let xored = u32::from(Ipv4Addr::new(198, 51, 100, 10)) ^ MAGIC_COOKIE;
        m.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
        m.extend_from_slice(&8u16.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0x93, 0x64]);
        m.extend_from_slice(&xored.to_be_bytes());
        assert_eq!(
            parse_binding_success(&m, &tx),
            Some(Ipv4Addr::new(198, 51, 100, 10))
        );
        assert_eq!(
            parse_binding_success(&m, &[8u8; 12]),
            None,
            "another transaction"
        );
        assert_eq!(parse_binding_success(&m[..25], &tx), None, "truncated");
        assert_eq!(binding_request(&tx).len(), 20);
    }
}
