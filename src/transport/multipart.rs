//! The file part of a `multipart/form-data` body, extracted as the body streams in (an HTML
//! form's upload, as Kurento's HttpPostEndpoint accepts besides a raw body).

/// Longest part header block accepted.
const MAX_PART_HEADERS: usize = 8 * 1024;

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn form_data_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

enum Stage {
    /// Before the first delimiter (or between parts): looking for `--boundary`.
    Seeking,
    /// In a part's headers, up to the blank line.
    Headers,
    /// In the file part's content.
    File,
    /// In a part that is not the file (a text field): skipped.
    Skipping,
    /// The file part is complete; the rest is ignored.
    Done,
}

/// Streaming extractor of the first part that carries a `filename`.
pub struct FormFile {
    /// `\r\n--boundary`: what ends a part's content.
    delimiter: Vec<u8>,
    stage: Stage,
    pending: Vec<u8>,
}

impl FormFile {
    pub fn new(boundary: &str) -> Self {
        FormFile {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            stage: Stage::Seeking,
            // The body starts with the delimiter minus its line break.
            pending: b"\r\n".to_vec(),
        }
    }

    /// Takes the next bytes of the body; returns those that belong to the file.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.pending.extend_from_slice(bytes);
        let mut file = Vec::new();
        loop {
            match self.stage {
                Stage::Done => {
                    self.pending.clear();
                    return Ok(file);
                }
                Stage::Seeking | Stage::Skipping => match find(&self.pending, &self.delimiter) {
                    Some(at) => {
                        self.pending.drain(..at + self.delimiter.len());
                        self.stage = Stage::Headers;
                    }
                    None => {
                        self.keep_tail();
                        return Ok(file);
                    }
                },
                Stage::Headers => match find(&self.pending, b"\r\n\r\n") {
                    Some(at) => {
                        let headers = String::from_utf8_lossy(&self.pending[..at]).to_string();
                        self.pending.drain(..at + 4);
                        if headers.starts_with("--") {
                            return Err("the form has no file".into());
                        }
                        self.stage = if has_filename(&headers) {
                            Stage::File
                        } else {
                            Stage::Skipping
                        };
                    }
                    None if self.pending.starts_with(b"--") => {
                        return Err("the form has no file".into())
                    }
                    None if self.pending.len() > MAX_PART_HEADERS => {
                        return Err("a form part's headers are too long".into())
                    }
                    None => return Ok(file),
                },
                Stage::File => match find(&self.pending, &self.delimiter) {
                    Some(at) => {
                        file.extend_from_slice(&self.pending[..at]);
                        self.stage = Stage::Done;
                    }
                    None => {
                        // All but what could be the start of a delimiter.
                        let safe = self.pending.len().saturating_sub(self.delimiter.len() - 1);
                        file.extend(self.pending.drain(..safe));
                        return Ok(file);
                    }
                },
            }
        }
    }

    /// The body ended: fine only if the file part was complete.
    pub fn finish(&self) -> Result<(), String> {
        match self.stage {
            Stage::Done => Ok(()),
            Stage::File => Err("the form's file part is cut off".into()),
            _ => Err("the form has no file".into()),
        }
    }

    fn keep_tail(&mut self) {
        let keep = self.delimiter.len() - 1;
        if self.pending.len() > keep {
            self.pending.drain(..self.pending.len() - keep);
        }
    }
}

fn has_filename(headers: &str) -> bool {
    headers.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("content-disposition:") && lower.contains("filename")
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(file: &[u8]) -> Vec<u8> {
        let mut body =
            b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n"
                .to_vec();
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.webm\"\r\nContent-Type: video/webm\r\n\r\n");
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        body
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            form_data_boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(
            form_data_boundary("Multipart/Form-Data;charset=x;boundary=q1").as_deref(),
            Some("q1")
        );
        assert_eq!(form_data_boundary("video/webm"), None);
        assert_eq!(form_data_boundary("multipart/form-data"), None);
    }

    #[test]
    fn the_file_part_is_extracted_whatever_the_chunking() {
        // Content that looks almost like a delimiter, and every byte value.
        let mut file: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        file.extend_from_slice(b"\r\n--XyQ not the end\r\n--X");
        let body = form(&file);
        for chunk in [1, 2, 3, 7, 64, 1000, body.len()] {
            let mut form = FormFile::new("XyZ");
            let mut out = Vec::new();
            for piece in body.chunks(chunk) {
                out.extend(form.feed(piece).unwrap());
            }
            form.finish().unwrap();
            assert_eq!(out, file, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_form_without_a_complete_file_is_an_error() {
        let mut form = FormFile::new("XyZ");
        form.feed(b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nx\r\n--XyZ--\r\n")
            .unwrap_or_default();
        assert!(form.finish().is_err());
        let body = super::tests::form(b"0123456789");
        let mut cut = FormFile::new("XyZ");
        cut.feed(&body[..body.len() - 14]).unwrap();
        assert_eq!(cut.finish().unwrap_err(), "the form's file part is cut off");
    }
}
