//! Comparing secrets without telling how close a guess came. Its own module, below both the
//! control API and the page at `/` that take the control token, so neither imports the other.

/// Compares two secrets in constant time, lengths included: both are hashed first, so the time
/// taken tells nothing about how much of a guess was right, nor how long the token is.
pub(crate) fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    aws_lc_rs::constant_time::verify_slices_are_equal(
        digest(&SHA256, presented).as_ref(),
        digest(&SHA256, expected).as_ref(),
    )
    .is_ok()
}
