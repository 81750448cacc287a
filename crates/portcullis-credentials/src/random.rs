//! The one place that talks to the operating system's CSPRNG.

/// Fills `buf` from the operating system's CSPRNG (`getrandom`).
///
/// # Panics
///
/// Panics if the operating system cannot provide randomness. There is no safe fallback for
/// secret generation, and on every supported platform this only happens when the OS itself is
/// broken, so failing loudly is preferred to handing out a predictable secret.
pub(crate) fn fill(buf: &mut [u8]) {
    if let Err(err) = getrandom::fill(buf) {
        panic!("operating system random number generator failed: {err}");
    }
}

/// Returns `N` random bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// See [`fill`].
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    fill(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        let a: [u8; 32] = bytes();
        let b: [u8; 32] = bytes();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
