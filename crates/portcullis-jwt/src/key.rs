//! A verification key, checked and decoded once at load so that verifying only runs the signature primitive.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use ring::{agreement, hmac, rand};

use crate::algorithm::{Algorithm, KeyFamily};

/// Smallest RSA modulus accepted (RFC 7518 §3.3, RFC 8725 §3.5).
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus ring verifies with the `2048_8192` parameters.
const RSA_MAX_BITS: usize = 8192;

/// One verification key: its material, its `kid`, and the one algorithm it is bound to when its JWK said so.
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) kid: Option<Box<str>>,
    /// A JWK's `alg`: when set, only this algorithm may be used with the key (RFC 8725 §3.1).
    pub(crate) alg: Option<Algorithm>,
    pub(crate) material: KeyMaterial,
}

/// Decoded key material. Public keys are stored in exactly the form ring's verifiers take.
pub(crate) enum KeyMaterial {
    /// Big-endian modulus and exponent without leading zeros.
    Rsa {
        n: Box<[u8]>,
        e: Box<[u8]>,
    },
    /// Uncompressed SEC1 point, 65 bytes.
    EcP256(Box<[u8]>),
    /// Uncompressed SEC1 point, 97 bytes.
    EcP384(Box<[u8]>),
    Ed25519([u8; 32]),
    Hmac(Box<HmacKeys>),
}

/// One shared secret, prepared for each HMAC hash (ring precomputes the padded key blocks).
pub(crate) struct HmacKeys {
    sha256: hmac::Key,
    sha384: hmac::Key,
    sha512: hmac::Key,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa { n, .. } => write!(f, "Rsa({} bits)", rsa_bits(n)),
            Self::EcP256(_) => f.write_str("EcP256"),
            Self::EcP384(_) => f.write_str("EcP384"),
            Self::Ed25519(_) => f.write_str("Ed25519"),
            Self::Hmac(_) => f.write_str("Hmac(<secret>)"),
        }
    }
}

impl Key {
    /// Whether this key may verify `alg`: right key type, and the JWK's own `alg` (if any) agrees.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.material.family() == alg.family() && self.alg.is_none_or(|a| a == alg)
    }

    /// Verifies `signature` over `message` with `alg`; false on any mismatch, including a key of another type.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        use Algorithm as A;
        match (&self.material, alg) {
            (KeyMaterial::Rsa { n, e }, _) => {
                let params: &signature::RsaParameters = match alg {
                    A::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    A::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    A::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    A::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    A::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    A::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n: &n[..], e: &e[..] }.verify(params, message, signature).is_ok()
            }
            (KeyMaterial::EcP256(point), A::ES256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point[..])
                    .verify(message, signature)
                    .is_ok()
            }
            (KeyMaterial::EcP384(point), A::ES384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &point[..])
                    .verify(message, signature)
                    .is_ok()
            }
            (KeyMaterial::Ed25519(point), A::EdDSA) => {
                UnparsedPublicKey::new(&signature::ED25519, &point[..]).verify(message, signature).is_ok()
            }
            (KeyMaterial::Hmac(keys), A::HS256) => hmac::verify(&keys.sha256, message, signature).is_ok(),
            (KeyMaterial::Hmac(keys), A::HS384) => hmac::verify(&keys.sha384, message, signature).is_ok(),
            (KeyMaterial::Hmac(keys), A::HS512) => hmac::verify(&keys.sha512, message, signature).is_ok(),
            _ => false,
        }
    }
}

impl KeyMaterial {
    pub(crate) fn family(&self) -> KeyFamily {
        match self {
            Self::Rsa { .. } => KeyFamily::Rsa,
            Self::EcP256(_) => KeyFamily::EcP256,
            Self::EcP384(_) => KeyFamily::EcP384,
            Self::Ed25519(_) => KeyFamily::Ed25519,
            Self::Hmac(_) => KeyFamily::Hmac,
        }
    }

    /// An RSA public key from big-endian `n` and `e`.
    ///
    /// # Errors
    ///
    /// A modulus under 2048 or over 8192 bits, or even; an exponent that is even, below 3 or over 33 bits.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Result<Self, &'static str> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = rsa_bits(n);
        if bits < RSA_MIN_BITS {
            return Err("RSA modulus shorter than 2048 bits");
        }
        if bits > RSA_MAX_BITS {
            return Err("RSA modulus longer than 8192 bits");
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err("RSA modulus is even");
        }
        if e.len() > 5 || (e.len() == 5 && e[0] > 1) || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err("RSA exponent out of range");
        }
        Ok(Self::Rsa { n: n.into(), e: e.into() })
    }

    /// An EC public key from its affine coordinates, each exactly the field size (RFC 7518 §6.2.1.2).
    ///
    /// # Errors
    ///
    /// Wrong coordinate lengths, or a point not on the curve.
    pub(crate) fn ec(family: KeyFamily, x: &[u8], y: &[u8]) -> Result<Self, &'static str> {
        let (size, ecdh) = match family {
            KeyFamily::EcP256 => (32, &agreement::ECDH_P256),
            KeyFamily::EcP384 => (48, &agreement::ECDH_P384),
            _ => return Err("not an EC curve"),
        };
        if x.len() != size || y.len() != size {
            return Err("EC coordinate has the wrong length");
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self::ec_point(family, point, ecdh)
    }

    /// An EC public key from an uncompressed SEC1 point.
    ///
    /// # Errors
    ///
    /// A point of the wrong form or length, or not on the curve.
    pub(crate) fn ec_uncompressed(family: KeyFamily, point: &[u8]) -> Result<Self, &'static str> {
        let ecdh = match family {
            KeyFamily::EcP256 => &agreement::ECDH_P256,
            KeyFamily::EcP384 => &agreement::ECDH_P384,
            _ => return Err("not an EC curve"),
        };
        Self::ec_point(family, point.to_vec(), ecdh)
    }

    /// Checks the point once, here, by an ECDH agreement with a throwaway key: ring refuses points that are not
    /// on the curve, so a bad JWKS entry is dropped at load instead of failing every verification.
    fn ec_point(family: KeyFamily, point: Vec<u8>, ecdh: &'static agreement::Algorithm) -> Result<Self, &'static str> {
        let rng = rand::SystemRandom::new();
        let ours =
            agreement::EphemeralPrivateKey::generate(ecdh, &rng).map_err(|_| "no randomness for the EC check")?;
        agreement::agree_ephemeral(ours, &agreement::UnparsedPublicKey::new(ecdh, &point), |_| ())
            .map_err(|_| "EC point is not on the curve")?;
        Ok(match family {
            KeyFamily::EcP256 => Self::EcP256(point.into()),
            _ => Self::EcP384(point.into()),
        })
    }

    /// An Ed25519 public key.
    ///
    /// # Errors
    ///
    /// Not exactly 32 bytes.
    pub(crate) fn ed25519(x: &[u8]) -> Result<Self, &'static str> {
        x.try_into().map(Self::Ed25519).map_err(|_| "Ed25519 key is not 32 bytes")
    }

    /// An HMAC secret, prepared for HS256, HS384 and HS512. Length rules are checked by the configuration.
    pub(crate) fn hmac(secret: &[u8]) -> Self {
        Self::Hmac(Box::new(HmacKeys {
            sha256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            sha384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            sha512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        }))
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// Bit length of a big-endian integer without leading zero bytes.
fn rsa_bits(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

    #[test]
    fn rsa_size_and_exponent_rules() {
        let mut n = vec![0u8; 256];
        n[0] = 0x80;
        n[255] = 1;
        assert!(KeyMaterial::rsa(&n, &[1, 0, 1]).is_ok());
        let mut with_zeros = vec![0, 0];
        with_zeros.extend_from_slice(&n);
        assert!(KeyMaterial::rsa(&with_zeros, &[0, 1, 0, 1]).is_ok());
        let mut short = n.clone();
        short[0] = 0x7f;
        assert_eq!(KeyMaterial::rsa(&short, &[1, 0, 1]).unwrap_err(), "RSA modulus shorter than 2048 bits");
        assert!(KeyMaterial::rsa(&n[1..], &[1, 0, 1]).is_err());
        assert!(KeyMaterial::rsa(&vec![0xff; 1025], &[3]).is_err());
        let mut even = n.clone();
        even[255] = 2;
        assert!(KeyMaterial::rsa(&even, &[3]).is_err());
        for e in [&[][..], &[1], &[2], &[1, 0, 0], &[2, 0, 0, 0, 1], &[1, 0, 0, 0, 0, 1]] {
            assert!(KeyMaterial::rsa(&n, e).is_err(), "{e:?}");
        }
        assert!(KeyMaterial::rsa(&n, &[1, 0xff, 0xff, 0xff, 0xff]).is_ok());
        assert!(KeyMaterial::rsa(&[], &[3]).is_err());
    }

    #[test]
    fn ec_points_are_checked_at_load() {
        let rng = rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        assert!(KeyMaterial::ec(KeyFamily::EcP256, &point[1..33], &point[33..]).is_ok());
        let mut off_curve = point[33..].to_vec();
        off_curve[31] ^= 1;
        assert_eq!(
            KeyMaterial::ec(KeyFamily::EcP256, &point[1..33], &off_curve).unwrap_err(),
            "EC point is not on the curve"
        );
        assert!(KeyMaterial::ec(KeyFamily::EcP384, &point[1..33], &point[33..]).is_err());
        assert!(KeyMaterial::ec(KeyFamily::EcP256, &point[1..32], &point[33..]).is_err());
        assert!(KeyMaterial::ec(KeyFamily::Rsa, &point[1..33], &point[33..]).is_err());
        assert!(KeyMaterial::ec_uncompressed(KeyFamily::EcP256, point).is_ok());
        assert!(KeyMaterial::ec_uncompressed(KeyFamily::EcP256, &point[1..]).is_err());
    }

    #[test]
    fn key_type_binding() {
        let rng = rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = Key { kid: None, alg: None, material: KeyMaterial::ed25519(pair.public_key().as_ref()).unwrap() };
        let sig = pair.sign(b"m");
        assert!(key.accepts(Algorithm::EdDSA));
        assert!(!key.accepts(Algorithm::ES256));
        assert!(key.verify(Algorithm::EdDSA, b"m", sig.as_ref()));
        assert!(!key.verify(Algorithm::EdDSA, b"n", sig.as_ref()));
        assert!(!key.verify(Algorithm::HS256, b"m", sig.as_ref()));
        let bound = Key { alg: Some(Algorithm::RS256), ..key };
        assert!(!bound.accepts(Algorithm::EdDSA));
        assert!(KeyMaterial::ed25519(&[0; 31]).is_err());
    }

    #[test]
    fn hmac_keys_verify_their_own_hash_only() {
        let secret = [7u8; 64];
        let key = Key { kid: None, alg: None, material: KeyMaterial::hmac(&secret) };
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, &secret), b"m");
        assert!(key.verify(Algorithm::HS384, b"m", tag.as_ref()));
        assert!(!key.verify(Algorithm::HS256, b"m", tag.as_ref()));
        assert!(!key.verify(Algorithm::RS256, b"m", tag.as_ref()));
        assert_eq!(format!("{:?}", key.material), "Hmac(<secret>)");
    }
}
