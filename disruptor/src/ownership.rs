//! Who holds a registry record, decided by the kernel: one open-file-description lock per record.
//!
//! Every registry record (a consumer index, a producer handle's record of its claim, the single
//! producer's slot) has a *lock byte*: the file offset of the record itself. A handle that owns
//! a record holds an exclusive `F_OFD_SETLK` lock on that byte for as long as it lives; the
//! kernel releases it when the handle lets go or when its process dies, however it dies. So
//! "is the owner alive?" is answered by `F_OFD_GETLK`, which works whatever the PID namespace,
//! `/proc` mount options (`hidepid`) or user of the owner: no PID is interpreted. The process
//! token (PID and start time) stored in each record is kept for display only.
//!
//! Taking a record is atomic: `F_OFD_SETLK` either grants the lock or fails because another
//! open file description holds it, so two processes (or two mappings in one process) can never
//! both take a record. Open-file-description locks of one description never conflict with each
//! other, so the handles of one mapping (they share its description) are arbitrated by
//! [`Locks`]'s own table of the bytes they hold; [`Locks::is_held`] consults both.
//!
//! An `fork`ed child shares its parent's open file descriptions, and so its locks: a child
//! that outlives its parent (without `exec`, which closes the segment's descriptor) keeps the
//! parent's records alive.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

/// The locks this mapping's handles hold, on the mapping's open file description.
#[derive(Debug)]
pub(crate) struct Locks {
    /// The segment's file: its open file description carries every lock of this mapping.
    file: File,
    /// The lock bytes that handles of this mapping hold (the kernel cannot tell them apart).
    held: Mutex<HashSet<u64>>,
}

/// Whether `fcntl` can take a lock: `Ok(false)` when another description holds it.
fn set_lock(file: &File, offset: u64, kind: libc::c_short) -> io::Result<bool> {
    // SAFETY: `flock` is a plain C struct, for which all-zero bytes are a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = offset as libc::off_t;
    lock.l_len = 1;
    // SAFETY: `file` is an open descriptor and `lock` a valid `flock` that outlives the call;
    // F_OFD_SETLK only reads it.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}

impl Locks {
    /// The locks of a mapping of `file`.
    pub(crate) fn new(file: File) -> Locks {
        Locks { file, held: Mutex::new(HashSet::new()) }
    }

    /// The segment's file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        // A panic while the table was locked left it consistent: every update is one call.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the lock byte `offset` for a handle of this mapping: `Ok(true)` if it was free
    /// (its previous owner let go or died), `Ok(false)` if a live handle (of this mapping or
    /// any other) holds it.
    pub(crate) fn try_lock(&self, offset: u64) -> io::Result<bool> {
        let mut held = self.held();
        if held.contains(&offset) {
            return Ok(false);
        }
        let taken = set_lock(&self.file, offset, libc::F_WRLCK as libc::c_short)?;
        if taken {
            held.insert(offset);
        }
        Ok(taken)
    }

    /// Lets go of the lock byte `offset` (taken with [`try_lock`](Self::try_lock)).
    pub(crate) fn unlock(&self, offset: u64) {
        let mut held = self.held();
        if held.remove(&offset) {
            // Unlocking a byte this description holds cannot fail but for a closed descriptor.
            let _ = set_lock(&self.file, offset, libc::F_UNLCK as libc::c_short);
        }
    }

    /// Whether a live handle, of this mapping or of any other in any process, holds the lock
    /// byte `offset`.
    pub(crate) fn is_held(&self, offset: u64) -> bool {
        if self.held().contains(&offset) {
            return true;
        }
        // SAFETY: as in `set_lock`.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = offset as libc::off_t;
        lock.l_len = 1;
        // SAFETY: `file` is open and `lock` is a valid `flock`, which F_OFD_GETLK overwrites
        // with the first conflicting lock, or sets to F_UNLCK.
        let result = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        // An error (no OFD locks: Linux before 3.15, where `open` already failed) is "held":
        // never take over a record whose owner may be alive.
        result != 0 || lock.l_type != libc::F_UNLCK as libc::c_short
    }

    /// Checks that this kernel has open-file-description locks (Linux 3.15 and later).
    pub(crate) fn check_supported(&self) -> io::Result<()> {
        // SAFETY: as in `is_held`.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_len = 1;
        // SAFETY: as in `is_held`.
        let result = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file() -> File {
        let path = std::env::temp_dir().join(format!("sd-locks-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn a_byte_is_held_by_one_handle_and_seen_from_other_descriptions() {
        let file = temp_file();
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let other =
            Locks::new(std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap());
        let locks = Locks::new(file);
        locks.check_supported().unwrap();
        assert!(!locks.is_held(7) && !other.is_held(7));
        assert!(locks.try_lock(7).unwrap());
        assert!(!locks.try_lock(7).unwrap(), "a second handle of the same mapping is refused");
        assert!(!other.try_lock(7).unwrap(), "another description is refused");
        assert!(locks.is_held(7) && other.is_held(7));
        assert!(!other.is_held(8), "one byte per record");
        locks.unlock(7);
        assert!(!locks.is_held(7) && !other.is_held(7));
        assert!(other.try_lock(7).unwrap());
        drop(other);
        assert!(!locks.is_held(7), "closing the description lets go of its locks");
    }
}
