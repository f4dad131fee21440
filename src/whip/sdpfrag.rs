//! The SDP pieces WHIP and WHEP exchange beside whole descriptions: trickled candidates in an
//! `application/trickle-ice-sdpfrag` body (RFC 8840), and the server's candidates written into
//! its answer (WHIP has no way to trickle them to the client).

/// What a PATCH body carries.
#[derive(Debug, Default, PartialEq)]
pub struct Fragment {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    /// Candidates (`candidate:...`) with the index of their m-section and its mid.
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, PartialEq)]
pub struct Candidate {
    pub candidate: String,
    pub mline_index: u32,
    pub mid: Option<String>,
}

/// Parses a trickle-ice-sdpfrag body; `None` for one that is not (a line that is not SDP, or a
/// candidate before any m-section).
pub fn parse(body: &str) -> Option<Fragment> {
    let mut fragment = Fragment::default();
    let mut section: Option<(u32, Option<String>)> = None;
    let mut sections = 0u32;
    for line in body.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        let (kind, value) = line.split_once('=')?;
        if kind.len() != 1 {
            return None;
        }
        match (kind, value) {
            ("m", _) => {
                section = Some((sections, None));
                sections += 1;
            }
            ("a", attribute) => {
                if let Some(ufrag) = attribute.strip_prefix("ice-ufrag:") {
                    fragment.ufrag = Some(ufrag.trim().to_owned());
                } else if let Some(pwd) = attribute.strip_prefix("ice-pwd:") {
                    fragment.pwd = Some(pwd.trim().to_owned());
                } else if let Some(mid) = attribute.strip_prefix("mid:") {
                    let (_, section_mid) = section.as_mut()?;
                    *section_mid = Some(mid.trim().to_owned());
                } else if attribute.starts_with("candidate:") {
                    let (index, mid) = section.as_ref()?;
                    fragment.candidates.push(Candidate {
                        candidate: attribute.to_owned(),
                        mline_index: *index,
                        mid: mid.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    // A mid given after its candidates still names them.
    for c in fragment.candidates.iter_mut().filter(|c| c.mid.is_none()) {
        c.mid = mid_of_section(body, c.mline_index);
    }
    Some(fragment)
}

fn mid_of_section(body: &str, index: u32) -> Option<String> {
    body.split("\nm=")
        .nth(index as usize + 1)?
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:").map(str::to_owned))
}

/// The `a=ice-ufrag` of a whole description (its first).
pub fn ufrag_of(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:").map(str::to_owned))
}

/// `sdp` with `candidates` (`candidate:...` and the m-section index of each) written into
/// their m-sections, each section that got some closed by `a=end-of-candidates`.
pub fn with_candidates(sdp: &str, candidates: &[(String, u32)]) -> String {
    let mut out = String::with_capacity(sdp.len() + candidates.len() * 100);
    let mut section: Option<u32> = None;
    let close = |out: &mut String, section: Option<u32>| {
        let Some(index) = section else { return };
        let mut any = false;
        for (candidate, _) in candidates.iter().filter(|(_, i)| *i == index) {
            out.push_str("a=");
            out.push_str(candidate);
            out.push_str("\r\n");
            any = true;
        }
        if any {
            out.push_str("a=end-of-candidates\r\n");
        }
    };
    for line in sdp.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            close(&mut out, section);
            section = Some(section.map_or(0, |i| i + 1));
        }
        if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    close(&mut out, section);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickle_fragment_gives_its_credentials_and_candidates() {
        let body = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
                    m=audio 9 RTP/AVP 0\r\na=mid:0\r\n\
                    a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host\r\n\
                    a=end-of-candidates\r\n";
        let f = parse(body).unwrap();
        assert_eq!(f.ufrag.as_deref(), Some("EsAw"));
        assert_eq!(f.pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert_eq!(
            f.candidates,
            vec![Candidate {
                candidate: "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host".into(),
                mline_index: 0,
                mid: Some("0".into()),
            }]
        );
    }

    #[test]
    fn garbage_is_not_a_fragment() {
        assert!(parse("hello world").is_none());
        assert!(parse("a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n").is_none());
        assert_eq!(parse("").unwrap(), Fragment::default());
    }

    #[test]
    fn candidates_go_into_their_sections() {
        let sdp = "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n";
        let out = with_candidates(
            sdp,
            &[("candidate:1 1 UDP 1 127.0.0.1 5000 typ host".into(), 0)],
        );
        assert_eq!(
            out,
            "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
             a=candidate:1 1 UDP 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n"
        );
        assert_eq!(ufrag_of("a=ice-ufrag:x1\r\n").as_deref(), Some("x1"));
    }
}
