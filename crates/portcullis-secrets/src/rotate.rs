//! Re-encrypting every token in a text (e.g. a YAML config) under a new key.
//!
//! Backs `portcullis secret rotate-master --config FILE`. The text is not parsed
//! as YAML: a token is the text `enc:v1:` at the start of the text or after a
//! byte that cannot be part of a token (whitespace, a quote, `,`, `[`, …),
//! extended over every following token byte (`A–Z a–z 0–9 - _ = . :`). Every
//! other byte is copied unchanged.
//!
//! Rotation is all or nothing: if any token cannot be opened with the old
//! passphrase (including a malformed one, say in a comment), the error names
//! its line and no text is returned, so a half-rotated file is never written.

use crate::envelope::{TOKEN_PREFIX, is_token_byte};
use crate::error::SecretError;
use crate::keyring::Decrypter;
use crate::master_key::MasterKey;

/// Re-encrypts every `enc:v1:` token in `text` from `old` to `new`.
///
/// Returns the new text and the number of tokens re-encrypted.
///
/// # Errors
///
/// [`SecretError::Rotate`] with the 1-based line of the first token that
/// cannot be decrypted with `old` or re-encrypted with `new`.
pub fn rotate_text(text: &str, old: &Decrypter, new: &MasterKey) -> Result<(String, usize), SecretError> {
    let bytes = text.as_bytes();
    let mut output = String::with_capacity(text.len());
    let mut copied = 0;
    let mut count = 0;
    for (start, _) in text.match_indices(TOKEN_PREFIX) {
        if start < copied || (start > 0 && is_token_byte(bytes[start - 1])) {
            continue;
        }
        let len = bytes[start..].iter().take_while(|&&byte| is_token_byte(byte)).count();
        let end = start + len;
        let token = &text[start..end];
        let line = text[..start].bytes().filter(|&byte| byte == b'\n').count() + 1;
        let failed = |source| SecretError::Rotate { line, source: Box::new(source) };
        let plaintext = old.decrypt(token).map_err(failed)?;
        let sealed = new.try_encrypt(&plaintext).map_err(failed)?;
        output.push_str(&text[copied..start]);
        output.push_str(&sealed);
        copied = end;
        count += 1;
    }
    output.push_str(&text[copied..]);
    Ok((output, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::KdfParams;
    use crate::passphrase::Passphrase;

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(text.to_owned()).unwrap()
    }

    fn old_key() -> MasterKey {
        MasterKey::derive(&pass("old passphrase here"), KdfParams::for_tests()).unwrap()
    }

    fn new_key() -> MasterKey {
        MasterKey::derive(&pass("new passphrase here"), KdfParams::for_tests()).unwrap()
    }

    #[test]
    fn rotates_tokens_and_keeps_everything_else() {
        let old = old_key();
        let (a, b, c, d) =
            (old.encrypt(b"alpha"), old.encrypt(b"bravo"), old.encrypt(b"charlie"), old.encrypt(b"delta"));
        let template = "# portcullis config\r\nupstreams:\n  - name: api # enc:v2 is not a token: xenc:v1:nope\n    \
                        key: @A@\n    token: \"@B@\"\n    other: '@C@'\nlist: [@D@, plain]\nplain: enc-not\n";
        let text = template.replace("@A@", &a).replace("@B@", &b).replace("@C@", &c).replace("@D@", &d);

        let new = new_key();
        let (rotated, count) = rotate_text(&text, &Decrypter::new(pass("old passphrase here")), &new).unwrap();
        assert_eq!(count, 4);

        let new_decrypter = Decrypter::new(pass("new passphrase here"));
        let old_decrypter = Decrypter::new(pass("old passphrase here"));
        let mut expected = template.to_owned();
        for (marker, plaintext) in [("@A@", "alpha"), ("@B@", "bravo"), ("@C@", "charlie"), ("@D@", "delta")] {
            let at = expected.find(marker).unwrap();
            let token: String = rotated[at..].bytes().take_while(|&b| is_token_byte(b)).map(char::from).collect();
            assert_eq!(new_decrypter.decrypt_str(&token).unwrap().as_str(), plaintext);
            assert!(matches!(old_decrypter.decrypt(&token), Err(SecretError::DecryptionFailed)));
            expected.replace_range(at..at + marker.len(), &token);
        }
        assert_eq!(rotated, expected);
    }

    #[test]
    fn text_without_tokens_is_unchanged() {
        let text = "listen: 0.0.0.0:8443\nsecret: plain\n";
        let (rotated, count) = rotate_text(text, &Decrypter::new(pass("old passphrase here")), &new_key()).unwrap();
        assert_eq!((rotated.as_str(), count), (text, 0));
    }

    #[test]
    fn wrong_old_passphrase_names_the_line() {
        let text = format!("a: 1\nb: 2\nkey: {}\n", old_key().encrypt(b"x"));
        let err = rotate_text(&text, &Decrypter::new(pass("not the old passphrase")), &new_key()).unwrap_err();
        assert!(matches!(err, SecretError::Rotate { line: 3, .. }), "{err}");
    }

    #[test]
    fn malformed_token_is_an_error_not_skipped() {
        let text = "key: enc:v1:garbage\n";
        let err = rotate_text(text, &Decrypter::new(pass("old passphrase here")), &new_key()).unwrap_err();
        assert!(matches!(err, SecretError::Rotate { line: 1, .. }), "{err}");
    }
}
