//! Local files named by clients: `file://` URIs and plain paths, confined to the server's media
//! root. Reading (an overlay image) and writing (a recording) resolve symlinks and `..` before
//! the check, and a file outside the root is reported exactly like a missing one, so a client
//! cannot probe the server's disk.

use std::path::{Component, Path, PathBuf};

/// Why a local file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalFileError {
    /// The URI looks like a file URI but cannot be parsed.
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Missing, or outside the media root: one wording for both.
    #[error("{}: no such file or directory in the server's media root", .0.display())]
    NotInRoot(PathBuf),
    /// Exists (inside the root) but cannot be inspected.
    #[error("cannot access {}: {source}", path.display())]
    Inaccessible {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Returns the scheme of `uri` (lower-cased) if it starts with `scheme://`.
pub fn scheme_of(uri: &str) -> Option<String> {
    let (scheme, _) = uri.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// The path a `file://` URI or a plain path names; `None` for any other scheme.
/// Accepts `file:///abs/path` and `file://localhost/abs/path`, percent-escapes decoded.
pub fn file_uri_path(uri: &str) -> Option<Result<PathBuf, LocalFileError>> {
    let invalid = |reason: &str| LocalFileError::InvalidUri {
        uri: uri.into(),
        reason: reason.into(),
    };
    match scheme_of(uri).as_deref() {
        None => Some(Ok(PathBuf::from(uri))),
        Some("file") => {
            let rest = &uri["file://".len()..];
            let path = if let Some(p) = rest.strip_prefix("localhost/") {
                format!("/{p}")
            } else if rest.starts_with('/') {
                rest.to_string()
            } else {
                return Some(Err(invalid("file URIs must be absolute (file:///path)")));
            };
            Some(
                percent_decode(&path)
                    .map(PathBuf::from)
                    .ok_or_else(|| invalid("bad percent-escape")),
            )
        }
        Some(_) => None,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An existing file to read: `path` resolved and, when a root is set, inside it (relative paths
/// are taken from the root).
pub fn existing_file(path: &Path, root: Option<&Path>) -> Result<PathBuf, LocalFileError> {
    let joined = root.map_or_else(|| path.to_path_buf(), |r| r.join(path));
    let real = joined.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LocalFileError::NotInRoot(path.to_path_buf()),
        _ => LocalFileError::Inaccessible {
            path: joined.clone(),
            source: e,
        },
    })?;
    match root {
        Some(root) if !real.starts_with(root) => Err(LocalFileError::NotInRoot(path.to_path_buf())),
        _ => Ok(real),
    }
}

/// A file to create or overwrite: its directory must exist (inside the root, when one is set),
/// and an existing file of that name (a symlink included) must resolve inside the root too.
pub fn new_file(path: &Path, root: Option<&Path>) -> Result<PathBuf, LocalFileError> {
    let not_in_root = || LocalFileError::NotInRoot(path.to_path_buf());
    let joined = root.map_or_else(|| path.to_path_buf(), |r| r.join(path));
    let name = match joined.components().next_back() {
        Some(Component::Normal(name)) => name.to_owned(),
        _ => return Err(not_in_root()),
    };
    if joined.symlink_metadata().is_ok() {
        return existing_file(path, root);
    }
    let dir = joined.parent().ok_or_else(not_in_root)?;
    let dir = existing_file(dir, None).map_err(|_| not_in_root())?;
    match root {
        Some(root) if !dir.starts_with(root) => Err(not_in_root()),
        _ => Ok(dir.join(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_and_plain_paths_name_paths() {
        let path = |uri: &str| file_uri_path(uri).map(|r| r.unwrap());
        assert_eq!(path("file:///tmp/a%20b.webm"), Some("/tmp/a b.webm".into()));
        assert_eq!(path("file://localhost/tmp/x"), Some("/tmp/x".into()));
        assert_eq!(path("/tmp/x"), Some("/tmp/x".into()));
        assert_eq!(path("http://host/x"), None);
        assert!(file_uri_path("file://host/x").unwrap().is_err());
        assert!(file_uri_path("file:///bad%zz").unwrap().is_err());
    }

    #[test]
    fn new_files_stay_in_the_root() {
        let root = std::env::temp_dir().join(format!("rheo-local-file-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let root = root.canonicalize().unwrap();
        let escape = root.join("escape.webm");
        let _ = std::fs::remove_file(&escape);
        std::os::unix::fs::symlink("/etc/passwd", &escape).unwrap();
        let r = Some(root.as_path());
        assert_eq!(
            new_file(&root.join("sub/a.webm"), r).unwrap(),
            root.join("sub/a.webm")
        );
        assert_eq!(
            new_file(Path::new("b.webm"), r).unwrap(),
            root.join("b.webm")
        );
        for bad in [
            root.join("missing/a.webm"),
            root.join("../a.webm"),
            root.join("sub/.."),
            escape.clone(),
            PathBuf::from("/etc/rheo.webm"),
        ] {
            let e = new_file(&bad, r).unwrap_err();
            assert!(matches!(e, LocalFileError::NotInRoot(_)), "{bad:?}: {e}");
            assert!(
                e.to_string().contains("no such file or directory in"),
                "{e}"
            );
        }
        // Without a root only the directory has to exist.
        assert!(new_file(Path::new("/nonexistent-dir/a.webm"), None).is_err());
        assert!(new_file(&root.join("sub/c.webm"), None).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
