//! Local files named by clients: `file://` URIs and plain paths, confined to the server's media
//! roots. Reading (an overlay image) and writing (a recording) resolve symlinks and `..` before
//! the check, and a file outside the roots, missing, forbidden or not a regular file is reported
//! in one wording, so a client cannot probe the server's disk.

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
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
    /// Missing, forbidden, outside the media roots or not a regular file: one wording for all.
    #[error("{}: no such file in the server's media root", .0.display())]
    NotInRoot(PathBuf),
}

/// Kernel and device trees: never media, whatever the roots say.
const SPECIAL_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

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

/// `path` as named: relative paths start at the first root.
fn joined(path: &Path, roots: Option<&[PathBuf]>) -> PathBuf {
    match roots.and_then(|r| r.first()) {
        Some(first) => first.join(path),
        None => path.to_path_buf(),
    }
}

fn inside(real: &Path, roots: Option<&[PathBuf]>) -> bool {
    let special = SPECIAL_TREES.iter().any(|t| real.starts_with(t));
    !special && roots.is_none_or(|roots| roots.iter().any(|r| real.starts_with(r)))
}

/// An existing file to read: `path` resolved and, when roots are set, inside one of them.
pub fn existing_file(path: &Path, roots: Option<&[PathBuf]>) -> Result<PathBuf, LocalFileError> {
    let not_in_root = || LocalFileError::NotInRoot(path.to_path_buf());
    let real = joined(path, roots)
        .canonicalize()
        .map_err(|_| not_in_root())?;
    if inside(&real, roots) {
        Ok(real)
    } else {
        Err(not_in_root())
    }
}

/// Opens `real` (already resolved) for reading if it is a regular file. The open does not
/// block: a FIFO would wait for a writer forever.
pub fn open_regular(real: &Path, named: &Path) -> Result<File, LocalFileError> {
    let not_in_root = || LocalFileError::NotInRoot(named.to_path_buf());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(real)
        .map_err(|_| not_in_root())?;
    let kind = file.metadata().map_err(|_| not_in_root())?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(not_in_root())
    }
}

/// A file to create or overwrite: its directory must exist (inside a root, when roots are set),
/// and an existing file of that name (a symlink included) must resolve inside a root and be a
/// regular file.
pub fn new_file(path: &Path, roots: Option<&[PathBuf]>) -> Result<PathBuf, LocalFileError> {
    let not_in_root = || LocalFileError::NotInRoot(path.to_path_buf());
    let joined = joined(path, roots);
    let name = match joined.components().next_back() {
        Some(Component::Normal(name)) => name.to_owned(),
        _ => return Err(not_in_root()),
    };
    if joined.symlink_metadata().is_ok() {
        let real = existing_file(path, roots)?;
        let kind = real.metadata().map_err(|_| not_in_root())?.file_type();
        let special = kind.is_fifo() || kind.is_socket() || kind.is_char_device();
        return if kind.is_file() && !special {
            Ok(real)
        } else {
            Err(not_in_root())
        };
    }
    let dir = joined.parent().ok_or_else(not_in_root)?;
    let dir = existing_file(dir, None).map_err(|_| not_in_root())?;
    if inside(&dir, roots) {
        Ok(dir.join(name))
    } else {
        Err(not_in_root())
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
        let roots = [root.clone()];
        let r = Some(&roots[..]);
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
            assert!(e.to_string().contains("no such file in"), "{e}");
        }
        // An existing FIFO is no recording target.
        let fifo = root.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(new_file(&fifo, r).is_err());
        // Without a root only the directory has to exist.
        assert!(new_file(Path::new("/nonexistent-dir/a.webm"), None).is_err());
        assert!(new_file(&root.join("sub/c.webm"), None).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn only_regular_files_in_a_root_are_read_and_every_refusal_reads_the_same() {
        let root = std::env::temp_dir().join(format!("rheo-read-file-{}", std::process::id()));
        std::fs::create_dir_all(root.join("dir")).unwrap();
        let root = root.canonicalize().unwrap();
        std::fs::write(root.join("ok.png"), b"x").unwrap();
        let fifo = root.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let roots = [root.clone(), PathBuf::from("/")];
        let open =
            |p: &Path| existing_file(p, Some(&roots[..])).and_then(|real| open_regular(&real, p));
        assert!(open(&root.join("ok.png")).is_ok());
        assert!(
            open(Path::new("ok.png")).is_ok(),
            "relative to the first root"
        );
        // A blocking open of the FIFO would never return: a deadlock detector, not a timing.
        let (done, finished) = std::sync::mpsc::channel();
        let named = fifo.clone();
        std::thread::spawn(move || {
            let real = existing_file(&named, None).unwrap();
            done.send(open_regular(&real, &named).is_err()).unwrap();
        });
        let refused = finished.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(refused, Ok(true), "opening a FIFO blocked or succeeded");
        for bad in [
            fifo.clone(),
            root.join("dir"),
            root.join("missing.png"),
            PathBuf::from("/proc/self/environ"),
            PathBuf::from("/dev/zero"),
            PathBuf::from("/sys/kernel/notes"),
        ] {
            let e = open(&bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{}: no such file in the server's media root", bad.display())
            );
        }
        let only_root = [root.clone()];
        let e = existing_file(Path::new("/etc/passwd"), Some(&only_root[..])).unwrap_err();
        assert!(matches!(e, LocalFileError::NotInRoot(_)));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
