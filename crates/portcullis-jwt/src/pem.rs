//! Public keys given as PEM: `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280) or `RSA PUBLIC KEY` (PKCS #1).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::algorithm::KeyFamily;
use crate::der::{self, Der};
use crate::key::KeyMaterial;

const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

/// Parses the first PEM block of `pem` into key material.
///
/// # Errors
///
/// No PEM block, a label other than `PUBLIC KEY` / `RSA PUBLIC KEY`, bad base64 or DER, or an unsupported or
/// invalid key (RSA under 2048 bits, EC other than P-256/P-384, OKP other than Ed25519).
pub(crate) fn parse_public_key(pem: &str) -> Result<KeyMaterial, &'static str> {
    let (label, der) = first_block(pem)?;
    match label {
        "PUBLIC KEY" => parse_spki(&der),
        "RSA PUBLIC KEY" => parse_pkcs1(&der),
        "CERTIFICATE" => Err("a certificate, not a public key: give its PUBLIC KEY"),
        l if l.contains("PRIVATE") => Err("a private key: give the PUBLIC KEY only"),
        _ => Err("PEM label is neither PUBLIC KEY nor RSA PUBLIC KEY"),
    }
}

/// The label and decoded contents of the first `-----BEGIN …-----` block.
fn first_block(pem: &str) -> Result<(&str, Vec<u8>), &'static str> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let start = pem.find(BEGIN).ok_or("no PEM block")? + BEGIN.len();
    let rest = &pem[start..];
    let label_end = rest.find(DASHES).ok_or("bad PEM header")?;
    let label = &rest[..label_end];
    let body = &rest[label_end + DASHES.len()..];
    let end = format!("-----END {label}-----");
    let body_end = body.find(&end).ok_or("PEM block has no END line")?;
    let text: String = body[..body_end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(text).map_err(|_| "PEM body is not base64")?;
    Ok((label, der))
}

fn parse_spki(spki: &[u8]) -> Result<KeyMaterial, &'static str> {
    const BAD: &str = "malformed SubjectPublicKeyInfo";
    let mut outer = Der::new(spki);
    let mut info = Der::new(outer.read(der::SEQUENCE).ok_or(BAD)?);
    if !outer.is_empty() {
        return Err(BAD);
    }
    let mut alg = Der::new(info.read(der::SEQUENCE).ok_or(BAD)?);
    let bits = info.read(der::BIT_STRING).ok_or(BAD)?;
    let key = match bits.split_first() {
        Some((0, key)) if info.is_empty() => key,
        _ => return Err(BAD),
    };
    let oid = alg.read(der::OID).ok_or(BAD)?;
    match oid {
        OID_RSA => {
            if alg.peek_tag() == Some(der::NULL) {
                alg.read(der::NULL).ok_or(BAD)?;
            }
            if !alg.is_empty() {
                return Err(BAD);
            }
            parse_pkcs1(key)
        }
        OID_EC_PUBLIC_KEY => {
            let family = match alg.read(der::OID).ok_or(BAD)? {
                OID_P256 => KeyFamily::EcP256,
                OID_P384 => KeyFamily::EcP384,
                _ => return Err("EC curve is neither P-256 nor P-384"),
            };
            KeyMaterial::ec_uncompressed(family, key)
        }
        OID_ED25519 if alg.is_empty() => KeyMaterial::ed25519(key),
        _ => Err("key algorithm is not RSA, EC P-256/P-384 or Ed25519"),
    }
}

fn parse_pkcs1(der_bytes: &[u8]) -> Result<KeyMaterial, &'static str> {
    const BAD: &str = "malformed RSA public key";
    let mut outer = Der::new(der_bytes);
    let mut seq = Der::new(outer.read(der::SEQUENCE).ok_or(BAD)?);
    let n = seq.read(der::INTEGER).ok_or(BAD)?;
    let e = seq.read(der::INTEGER).ok_or(BAD)?;
    if !seq.is_empty() || !outer.is_empty() {
        return Err(BAD);
    }
    KeyMaterial::rsa(n, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    fn spki(alg: &[u8], key: &[u8]) -> Vec<u8> {
        let mut bits = vec![0u8];
        bits.extend_from_slice(key);
        tlv(0x30, &[tlv(0x30, alg), tlv(0x03, &bits)].concat())
    }

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            n if n < 0x80 => out.push(u8::try_from(n).unwrap()),
            n if n < 0x100 => out.extend_from_slice(&[0x81, u8::try_from(n).unwrap()]),
            n => out.extend_from_slice(&[0x82, u8::try_from(n >> 8).unwrap(), u8::try_from(n & 0xff).unwrap()]),
        }
        out.extend_from_slice(contents);
        out
    }

    #[test]
    fn ec_and_ed25519_spki() {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P384_SHA384_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let ec_alg = [tlv(0x06, OID_EC_PUBLIC_KEY), tlv(0x06, OID_P384)].concat();
        let key = parse_public_key(&pem("PUBLIC KEY", &spki(&ec_alg, pair.public_key().as_ref()))).unwrap();
        assert!(matches!(key, KeyMaterial::EcP384(_)));

        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = parse_public_key(&pem("PUBLIC KEY", &spki(&tlv(0x06, OID_ED25519), pair.public_key().as_ref())));
        assert!(matches!(key, Ok(KeyMaterial::Ed25519(_))));
    }

    #[test]
    fn rsa_spki_and_pkcs1() {
        let mut n = vec![0u8, 0xC0];
        n.extend_from_slice(&[0x11; 255]);
        let pkcs1 = tlv(0x30, &[tlv(0x02, &n), tlv(0x02, &[1, 0, 1])].concat());
        assert!(matches!(parse_public_key(&pem("RSA PUBLIC KEY", &pkcs1)), Ok(KeyMaterial::Rsa { .. })));
        let rsa_alg = [tlv(0x06, OID_RSA), vec![0x05, 0x00]].concat();
        assert!(matches!(parse_public_key(&pem("PUBLIC KEY", &spki(&rsa_alg, &pkcs1))), Ok(KeyMaterial::Rsa { .. })));
        let small = tlv(0x30, &[tlv(0x02, &n[..200]), tlv(0x02, &[1, 0, 1])].concat());
        assert!(parse_public_key(&pem("RSA PUBLIC KEY", &small)).is_err());
    }

    #[test]
    fn refuses_other_blocks_and_garbage() {
        assert!(parse_public_key("").is_err());
        assert!(parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA").is_err());
        assert!(parse_public_key("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----").is_err());
        assert!(parse_public_key(&pem("PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01])).is_err());
        assert!(parse_public_key(&pem("PRIVATE KEY", &[0x30, 0x00])).unwrap_err().contains("private"));
        assert!(parse_public_key(&pem("CERTIFICATE", &[0x30, 0x00])).unwrap_err().contains("certificate"));
        let unknown = spki(&tlv(0x06, &[0x2B, 0x65, 0x71]), &[0; 57]);
        assert!(parse_public_key(&pem("PUBLIC KEY", &unknown)).is_err());
    }
}
