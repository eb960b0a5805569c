//! Small helpers: locks that survive a poisoned mutex, random ids, hex, RFC 3339 dates.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the data when another thread panicked while holding the lock: the
/// emulator's state stays usable, and no request handler panics because of another one.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `N` random bytes from the operating system; falls back to `fastrand` for ids if the OS
/// source fails (it never does on the platforms the emulator runs on).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::getrandom(&mut out).is_err() {
        out.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    out
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// `prefix` followed by 24 random hex digits (96 bits): `job_3f…`, `file_9a…`.
pub(crate) fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex(&random_bytes::<12>()))
}

/// Formats seconds since the Unix epoch as RFC 3339 in UTC, `2024-12-15T12:10:00Z`.
pub(crate) fn rfc3339(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_734_264_600), "2024-12-15T12:10:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn ids() {
        let a = random_id("job_");
        let b = random_id("job_");
        assert_eq!(a.len(), 4 + 24);
        assert_ne!(a, b);
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    }
}
