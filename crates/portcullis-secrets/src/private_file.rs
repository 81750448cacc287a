//! Owner-only files: atomic private writes, private directories, checked reads.
//!
//! Every stored secret goes through [`write_private`]: the bytes land in a
//! temporary file in the same directory, created with mode `0o600`, synced,
//! renamed over the target, and the directory is synced. A crash leaves either
//! the old file or the new one, never a half-written one, and at no moment can
//! group or others read the data.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::SecretError;

/// Permission bits of files written by [`write_private`].
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Permission bits of directories created by [`create_private_dir`].
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Bits that must be clear for a file or directory to count as private.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Atomically replaces `path` with `bytes`, readable and writable by the owner only.
///
/// # Errors
///
/// Any I/O error creating, writing, syncing or renaming the temporary file, or
/// syncing the directory; `InvalidInput` if `path` has no file name. The
/// temporary file is removed on failure.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"));
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut suffix = [0_u8; 8];
    getrandom::fill(&mut suffix).map_err(|err| io::Error::other(err.to_string()))?;
    let suffix: String = suffix.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{suffix}"));
    let temp = dir.join(temp_name);

    let result = write_then_rename(&temp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    File::open(dir)?.sync_all()
}

fn write_then_rename(temp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(PRIVATE_FILE_MODE).open(temp)?;
    // The umask can only remove bits; make the mode exactly 0o600 regardless.
    file.set_permissions(fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)
}

/// Creates `path` and any missing parents with mode `0o700`.
///
/// If `path` already exists, is a directory owned by the current effective
/// user, and group or others have any access, those bits are removed. A
/// directory owned by someone else is left as it is.
///
/// # Errors
///
/// Any I/O error creating the directories or changing the mode; `AlreadyExists`
/// if `path` exists but is not a directory.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(PRIVATE_DIR_MODE).create(path)?;
    let metadata = fs::metadata(path)?;
    if !metadata.is_dir() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "path exists and is not a directory"));
    }
    let mode = metadata.mode();
    let ours = metadata.uid() == rustix::process::geteuid().as_raw();
    if ours && mode & GROUP_OTHER_BITS != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777 & !GROUP_OTHER_BITS))?;
    }
    Ok(())
}

/// Reads a file that must not be readable by group or others.
///
/// # Errors
///
/// [`SecretError::Read`] if it cannot be opened or read,
/// [`SecretError::NotAFile`] if it is not a regular file,
/// [`SecretError::InsecurePermissions`] if group or others have any access
/// (the message says to `chmod 600`).
pub fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    read_private_limited(path, None)
}

/// [`read_private`] with an optional size limit ([`SecretError::FileTooLarge`]).
pub(crate) fn read_private_limited(path: &Path, limit: Option<u64>) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let read_error = |source| SecretError::Read { path: path.to_path_buf(), source };
    let too_large = |limit| SecretError::FileTooLarge { path: path.to_path_buf(), limit };
    // Refuse a FIFO or device before opening it: opening a FIFO would block.
    if !fs::metadata(path).map_err(read_error)?.is_file() {
        return Err(SecretError::NotAFile { path: PathBuf::from(path) });
    }
    let file = File::open(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(SecretError::NotAFile { path: PathBuf::from(path) });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(SecretError::InsecurePermissions { path: path.to_path_buf(), mode });
    }
    let size = metadata.len();
    if let Some(limit) = limit.filter(|&limit| size > limit) {
        return Err(too_large(limit));
    }
    // Reserve up front so the buffer does not reallocate and leave unwiped copies.
    let mut buf = Zeroizing::new(Vec::new());
    let capacity = usize::try_from(size.saturating_add(1)).map_err(|_| too_large(u64::MAX))?;
    buf.try_reserve_exact(capacity).map_err(|_| read_error(io::Error::from(io::ErrorKind::OutOfMemory)))?;
    let max = limit.map_or(u64::MAX, |limit| limit.saturating_add(1));
    file.take(max).read_to_end(&mut buf).map_err(read_error)?;
    if let Some(limit) = limit.filter(|&limit| buf.len() as u64 > limit) {
        return Err(too_large(limit));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn write_private_is_owner_only_and_replaces() {
        let dir = TempDir::new();
        let path = dir.path().join("secret.key");
        write_private(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_private(&path, b"second").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(read_private(&path).unwrap().as_slice(), b"second");
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_private_tightens_an_existing_loose_file() {
        let dir = TempDir::new();
        let path = dir.path().join("loose");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn write_private_into_missing_dir_fails_cleanly() {
        let dir = TempDir::new();
        assert!(write_private(&dir.path().join("missing/secret"), b"x").is_err());
        assert!(write_private(Path::new("/"), b"x").is_err());
    }

    #[test]
    fn read_private_refuses_readable_files() {
        let dir = TempDir::new();
        let path = dir.path().join("loose");
        fs::write(&path, b"data").unwrap();
        for loose in [0o644, 0o640, 0o604, 0o610] {
            fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
            let err = read_private(&path).unwrap_err();
            assert!(matches!(err, SecretError::InsecurePermissions { mode, .. } if mode == loose), "{err}");
        }
        assert!(matches!(read_private(dir.path()), Err(SecretError::NotAFile { .. })));
        assert!(matches!(read_private(&dir.path().join("missing")), Err(SecretError::Read { .. })));
    }

    #[test]
    fn size_limit_is_enforced() {
        let dir = TempDir::new();
        let path = dir.path().join("big");
        write_private(&path, &[b'a'; 10]).unwrap();
        assert_eq!(read_private_limited(&path, Some(10)).unwrap().len(), 10);
        assert!(matches!(read_private_limited(&path, Some(9)), Err(SecretError::FileTooLarge { limit: 9, .. })));
    }

    #[test]
    fn create_private_dir_creates_and_tightens() {
        let dir = TempDir::new();
        let nested = dir.path().join("a/b");
        create_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        fs::set_permissions(&nested, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(create_private_dir(&file).is_err());
    }
}
