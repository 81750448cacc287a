//! Building JSON pointers (RFC 6901) while a document is walked: one step
//! is pushed before a member or element is visited and cut off after it.

/// Adds the step to member `key`: `/` and the key with `~` written `~0`
/// and `/` written `~1`.
pub(crate) fn push_key(pointer: &mut String, key: &str) {
    pointer.push('/');
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Adds the step to element `index` of an array.
pub(crate) fn push_index(pointer: &mut String, index: usize) {
    pointer.push('/');
    pointer.push_str(itoa::Buffer::new().format(index));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_escaped_as_rfc_6901_says() {
        let mut pointer = String::new();
        push_key(&mut pointer, "a/b~c");
        push_index(&mut pointer, 12);
        push_key(&mut pointer, "");
        assert_eq!(pointer, "/a~1b~0c/12/");
    }
}
