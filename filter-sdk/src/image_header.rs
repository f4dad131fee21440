//! Image sizes read from headers, before anything is decoded: a 62 KB PNG can declare
//! 8000×8000 pixels, and the decoder would allocate all of them.

/// Width and height declared by a PNG, JPEG, BMP or WebP header; `None` for anything else or a
/// truncated header.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        jpeg(bytes)
    } else if bytes.starts_with(b"BM") {
        bmp(bytes)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        webp(bytes)
    } else {
        None
    }
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The IHDR chunk comes first.
fn png(b: &[u8]) -> Option<(u32, u32)> {
    (b.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(b, 16)?, be32(b, 20)?))
}

/// The first start-of-frame segment, walking the segments before it.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        while *b.get(at)? != 0xff {
            at += 1;
        }
        while *b.get(at)? == 0xff {
            at += 1;
        }
        let marker = *b.get(at)?;
        at += 1;
        match marker {
            0xd8 | 0x01 | 0xd0..=0xd7 => continue,
            0xd9 => return None,
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                return Some((be16(b, at + 5)?, be16(b, at + 3)?));
            }
            _ => at += be16(b, at)? as usize,
        }
    }
}

fn bmp(b: &[u8]) -> Option<(u32, u32)> {
    if le32(b, 14)? == 12 {
        return Some((le16(b, 18)?, le16(b, 20)?));
    }
    let width = le32(b, 18)? as i32;
    let height = le32(b, 22)? as i32;
    (width > 0).then_some((width as u32, height.unsigned_abs()))
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => Some((le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff)),
        b"VP8L" => {
            let bits = le32(b, 21)?;
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Mat, Scalar, Vector, CV_8UC3};
    use opencv::prelude::*;

    fn encode(ext: &str, width: i32, height: i32) -> Vec<u8> {
        let img =
            Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(90.0)).unwrap();
        let mut buf = Vector::<u8>::new();
        opencv::imgcodecs::imencode(ext, &img, &mut buf, &Vector::new()).unwrap();
        buf.to_vec()
    }

    #[test]
    fn every_accepted_format_declares_its_size() {
        for ext in [".png", ".jpg", ".bmp", ".webp"] {
            assert_eq!(dimensions(&encode(ext, 37, 21)), Some((37, 21)), "{ext}");
        }
        // Lossless WebP has its own header.
        let mut buf = Vector::<u8>::new();
        let img = Mat::new_rows_cols_with_default(9, 300, CV_8UC3, Scalar::all(1.0)).unwrap();
        let lossless = Vector::from_slice(&[opencv::imgcodecs::IMWRITE_WEBP_QUALITY, 101]);
        opencv::imgcodecs::imencode(".webp", &img, &mut buf, &lossless).unwrap();
        assert_eq!(dimensions(buf.as_slice()), Some((300, 9)));
    }

    #[test]
    fn truncated_and_unknown_headers_declare_nothing() {
        let png = encode(".png", 5, 5);
        for cut in [0, 8, 15, 23] {
            assert_eq!(dimensions(&png[..cut]), None, "{cut}");
        }
        assert_eq!(dimensions(&encode(".jpg", 5, 5)[..20]), None);
        assert_eq!(dimensions(b"GIF89a\x05\x00\x05\x00"), None);
        assert_eq!(dimensions(b"\xff\xd8\xff\xff\xff"), None);
    }
}
