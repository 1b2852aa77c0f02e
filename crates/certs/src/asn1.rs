//! ASN.1 pieces shared by CSR reading and certificate writing: object identifiers, directory
//! strings, key usage bits, basic constraints and X.509 times.

use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{
    AnyRef, BitString, GeneralizedTime, Ia5StringRef, PrintableStringRef, SetOfVec, UtcTime,
    Utf8StringRef,
};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};
use x509_cert::time::Time;

/// id-Ed25519, RFC 8410.
pub(crate) const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// commonName, X.520.
pub(crate) const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// domainComponent, RFC 4519.
pub(crate) const DOMAIN_COMPONENT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25");
/// uid (userId), RFC 4519: the federation ID.
pub(crate) const USER_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
/// uniqueIdentifier, RFC 1274: the session ID.
pub(crate) const UNIQUE_IDENTIFIER: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.44");
/// PKCS #9 extensionRequest.
pub(crate) const EXTENSION_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// id-ce-keyUsage.
pub(crate) const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// id-ce-basicConstraints.
pub(crate) const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

/// `"name (dotted.oid)"` when the OID database knows the name, else the dotted form.
pub(crate) fn describe_oid(oid: &ObjectIdentifier) -> String {
    match const_oid::db::DB.by_oid(oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

/// The text of an attribute value written as UTF8String, PrintableString or IA5String, the
/// three string types ID-CSR writers use. Other types (and invalid contents) give `None`.
pub(crate) fn directory_string(value: &der::Any) -> Option<&str> {
    match value.tag() {
        Tag::Utf8String => value
            .decode_as::<Utf8StringRef<'_>>()
            .ok()
            .map(|s| s.as_str()),
        Tag::PrintableString => value
            .decode_as::<PrintableStringRef<'_>>()
            .ok()
            .map(|s| s.as_str()),
        Tag::Ia5String => value
            .decode_as::<Ia5StringRef<'_>>()
            .ok()
            .map(|s| s.as_str()),
        _ => None,
    }
}

/// Checks a value of one of ASN.1's character string types: not empty (X.520's
/// DirectoryString is SIZE (1..MAX)), and only characters its type allows. Values of other
/// types pass. The error completes "subject attribute X is …".
pub(crate) fn check_string_value(value: &der::Any) -> Result<(), String> {
    let bytes = value.value();
    let (name, valid) = match value.tag() {
        Tag::Utf8String => ("a UTF8String", std::str::from_utf8(bytes).is_ok()),
        Tag::PrintableString => (
            "a PrintableString",
            bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)),
        ),
        Tag::Ia5String => ("an IA5String", bytes.is_ascii()),
        Tag::VisibleString => (
            "a VisibleString",
            bytes.iter().all(|&b| (0x20..=0x7e).contains(&b)),
        ),
        Tag::NumericString => (
            "a NumericString",
            bytes.iter().all(|&b| b.is_ascii_digit() || b == b' '),
        ),
        Tag::BmpString => (
            "a BMPString",
            bytes.len().is_multiple_of(2)
                && char::decode_utf16(
                    bytes
                        .chunks_exact(2)
                        .map(|pair| u16::from_be_bytes([pair[0], pair[1]])),
                )
                .all(|c| c.is_ok()),
        ),
        // T.61 has no invalid octet sequences worth telling apart here.
        Tag::TeletexString => ("a TeletexString", true),
        _ => return Ok(()),
    };
    if bytes.is_empty() {
        return Err(format!(
            "{name} of no characters; values are at least one character"
        ));
    }
    if !valid {
        return Err(format!(
            "{name} holding characters that type does not allow"
        ));
    }
    Ok(())
}

/// A distinguished name of one domainComponent RDN per label, left to right, each an IA5String
/// as RFC 4519 defines the attribute. This is what `openssl req -subj /DC=example/DC=com` writes.
pub(crate) fn domain_name<'a>(labels: impl Iterator<Item = &'a str>) -> der::Result<Name> {
    let mut rdns = Vec::new();
    for label in labels {
        let value = der::asn1::Ia5StringRef::new(label)?;
        let atv = AttributeTypeAndValue {
            oid: DOMAIN_COMPONENT,
            value: der::Any::encode_from(&value)?,
        };
        let mut set = SetOfVec::new();
        set.insert(atv)?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(x509_cert::name::RdnSequence(rdns))
}

/// Key usage bits, numbered as in RFC 5280 §4.2.1.3: bit `n` is `1 << n`.
pub(crate) mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const CONTENT_COMMITMENT: u16 = 1 << 1;
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
    pub const DECIPHER_ONLY: u16 = 1 << 8;

    pub const NAMES: [&str; 9] = [
        "digitalSignature",
        "contentCommitment",
        "keyEncipherment",
        "dataEncipherment",
        "keyAgreement",
        "keyCertSign",
        "cRLSign",
        "encipherOnly",
        "decipherOnly",
    ];

    /// `"digitalSignature, keyCertSign"`, or `"none"`.
    pub fn describe(bits: u16) -> String {
        let names: Vec<&str> = (0..9)
            .filter(|n| bits & (1 << n) != 0)
            .map(|n| NAMES[n])
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// One octet of the KeyUsage BIT STRING as RFC 5280 lays it out: bit 0 in the most significant
/// position.
fn ku_octet(octet: u8) -> u16 {
    (0..8)
        .filter(|n| octet & (0x80 >> n) != 0)
        .fold(0, |bits, n| bits | (1 << n))
}

/// Reads the contents of a KeyUsage BIT STRING (the octets after the tag and length: the
/// unused-bits count, then the bit octets).
///
/// Two writers have to be understood:
///
/// * RFC 5280 / OpenSSL: bits 0 to 7 in the first octet, most significant first; decipherOnly
///   (bit 8) as `0x80` in a second octet; DER trims trailing zero bits and counts them as unused.
/// * polyproto 0.8.0 (`KeyUsages::to_bitstring`): bits 0 to 7 in the same positions, but its
///   unused-bits count is the number of *leading* zero bits of the octet, so set bits can sit in
///   what the count calls padding (keyCertSign alone is written `05 04`: five "unused" bits, and
///   the keyCertSign bit among them). When decipherOnly is set it writes `0x80` as the *first*
///   octet and the other bits in the second, with seven unused bits.
///
/// So the unused-bits count is only checked to be 0 to 7 and every bit present is taken as set;
/// for DER input that changes nothing, as DER requires the padding bits to be zero. A second
/// octet other than `0x00`/`0x80` is read in polyproto's layout, which requires the first octet
/// to be exactly `0x80`.
pub(crate) fn decode_key_usage(content: &[u8]) -> Result<u16, &'static str> {
    let (&unused, octets) = content
        .split_first()
        .ok_or("key usage BIT STRING is empty")?;
    if unused > 7 || (unused != 0 && octets.is_empty()) {
        return Err("key usage BIT STRING has an invalid unused-bits count");
    }
    match *octets {
        [] => Ok(0),
        [first] => Ok(ku_octet(first)),
        [first, second] if second & 0x7f == 0 => {
            let decipher = if second == 0x80 { ku::DECIPHER_ONLY } else { 0 };
            Ok(ku_octet(first) | decipher)
        }
        [0x80, second] => Ok(ku_octet(second) | ku::DECIPHER_ONLY),
        _ => Err("key usage BIT STRING has bits beyond decipherOnly"),
    }
}

/// The DER KeyUsage BIT STRING for `bits` (bits 0 to 8), trailing zero bits trimmed.
pub(crate) fn encode_key_usage(bits: u16) -> der::Result<BitString> {
    let significant = 16 - bits.leading_zeros() as usize;
    let octet_count = significant.div_ceil(8);
    let mut octets = vec![0u8; octet_count];
    for n in 0..significant {
        if bits & (1 << n) != 0 {
            octets[n / 8] |= 0x80 >> (n % 8);
        }
    }
    let unused = (octet_count * 8 - significant) as u8;
    BitString::new(unused, octets)
}

/// A BasicConstraints value: `cA`, and the path length INTEGER's content octets if present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BasicConstraints<'a> {
    pub ca: bool,
    pub path_len: Option<&'a [u8]>,
}

/// Reads the contents of a BasicConstraints SEQUENCE (the octets after its tag and length):
/// `cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL`. Returns `cA`.
///
/// polyproto 0.8.0 writes `cA` even when it is FALSE, and a path length as an eight-octet,
/// zero-padded INTEGER; both are accepted. Any non-zero BOOLEAN octet counts as TRUE, so that a
/// BER-style TRUE cannot slip past the CA check.
pub(crate) fn decode_basic_constraints(content: &[u8]) -> Result<bool, &'static str> {
    read_basic_constraints(content).map(|bc| bc.ca)
}

/// [`decode_basic_constraints`] with the path length too.
pub(crate) fn read_basic_constraints(content: &[u8]) -> Result<BasicConstraints<'_>, &'static str> {
    const MALFORMED: &str = "basic constraints is not SEQUENCE { BOOLEAN, INTEGER }";
    let mut reader = SliceReader::new(content).map_err(|_| MALFORMED)?;
    let mut ca = false;
    let mut seen_boolean = false;
    let mut path_len = None;
    while !reader.is_finished() {
        let item: AnyRef<'_> = reader.decode().map_err(|_| MALFORMED)?;
        match item.tag() {
            Tag::Boolean if !seen_boolean && path_len.is_none() => {
                let [octet] = *item.value() else {
                    return Err(MALFORMED);
                };
                ca = octet != 0;
                seen_boolean = true;
            }
            Tag::Integer if path_len.is_none() && !item.value().is_empty() => {
                path_len = Some(item.value())
            }
            _ => return Err(MALFORMED),
        }
    }
    Ok(BasicConstraints { ca, path_len })
}

/// The value of INTEGER content octets as an unsigned number: `None` if negative or above
/// `u64::MAX`. Leading zero octets, which DER forbids but polyproto 0.8.0 writes, are skipped.
pub(crate) fn uint_value(content: &[u8]) -> Option<u64> {
    if content.first().is_none_or(|first| first & 0x80 != 0) {
        return None;
    }
    let start = content
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(content.len());
    let magnitude = &content[start..];
    if magnitude.len() > 8 {
        return None;
    }
    Some(
        magnitude
            .iter()
            .fold(0, |value, &b| value << 8 | u64::from(b)),
    )
}

/// The key usage bits of a keyUsage extension's value (the BIT STRING TLV inside extnValue).
pub(crate) fn key_usage_extension(extn_value: &[u8]) -> Result<u16, &'static str> {
    match AnyRef::from_der(extn_value) {
        Ok(bits) if bits.tag() == Tag::BitString => decode_key_usage(bits.value()),
        _ => Err("the keyUsage extension is not a BIT STRING"),
    }
}

/// A basicConstraints extension's value (the SEQUENCE TLV inside extnValue).
pub(crate) fn basic_constraints_extension(
    extn_value: &[u8],
) -> Result<BasicConstraints<'_>, &'static str> {
    match AnyRef::from_der(extn_value) {
        Ok(seq) if seq.tag() == Tag::Sequence => read_basic_constraints(seq.value()),
        _ => Err("the basicConstraints extension is not a SEQUENCE"),
    }
}

/// The DER of BasicConstraints with `cA` and an optional path length.
pub(crate) fn encode_basic_constraints(ca: bool, path_len: Option<u8>) -> der::Result<Vec<u8>> {
    x509_cert::ext::pkix::BasicConstraints {
        ca,
        path_len_constraint: path_len,
    }
    .to_der()
}

/// 2050-01-01T00:00:00Z: RFC 5280 §4.1.2.5 wants UTCTime before it and GeneralizedTime after.
const YEAR_2050: u64 = 2_524_608_000;

/// An X.509 time for UNIX seconds: UTCTime before 2050, GeneralizedTime from then on.
pub(crate) fn x509_time(unix: u64) -> Option<Time> {
    let duration = Duration::from_secs(unix);
    if unix < YEAR_2050 {
        UtcTime::from_unix_duration(duration)
            .ok()
            .map(Time::UtcTime)
    } else {
        GeneralizedTime::from_unix_duration(duration)
            .ok()
            .map(Time::GeneralTime)
    }
}

/// UNIX seconds of an X.509 time.
pub(crate) fn unix_time(time: Time) -> u64 {
    time.to_unix_duration().as_secs()
}

/// The DER TLVs inside a SEQUENCE given in full (tag and length included), raw.
pub(crate) fn sequence_elements(der: &[u8]) -> der::Result<Vec<&[u8]>> {
    let outer = AnyRef::from_der(der)?;
    if outer.tag() != Tag::Sequence {
        return Err(der::Tag::Sequence.value_error());
    }
    let mut reader = SliceReader::new(outer.value())?;
    let mut elements = Vec::new();
    while !reader.is_finished() {
        elements.push(reader.tlv_bytes()?);
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_usage_encoding_is_der_minimal() {
        let der = |bits| encode_key_usage(bits).unwrap().to_der().unwrap();
        assert_eq!(der(ku::DIGITAL_SIGNATURE), [0x03, 0x02, 0x07, 0x80]);
        assert_eq!(
            der(ku::DIGITAL_SIGNATURE | ku::CONTENT_COMMITMENT),
            [0x03, 0x02, 0x06, 0xc0]
        );
        assert_eq!(der(ku::CONTENT_COMMITMENT), [0x03, 0x02, 0x06, 0x40]);
        assert_eq!(
            der(ku::KEY_CERT_SIGN | ku::CRL_SIGN),
            [0x03, 0x02, 0x01, 0x06]
        );
        assert_eq!(der(ku::DECIPHER_ONLY), [0x03, 0x03, 0x07, 0x00, 0x80]);
    }

    #[test]
    fn key_usage_decoding_reads_der_and_polyproto() {
        // DER, as OpenSSL writes it.
        assert_eq!(decode_key_usage(&[0x07, 0x80]), Ok(ku::DIGITAL_SIGNATURE));
        assert_eq!(decode_key_usage(&[0x06, 0x40]), Ok(ku::CONTENT_COMMITMENT));
        assert_eq!(decode_key_usage(&[0x02, 0x04]), Ok(ku::KEY_CERT_SIGN));
        assert_eq!(
            decode_key_usage(&[0x07, 0x84, 0x80]),
            Ok(ku::DIGITAL_SIGNATURE | ku::KEY_CERT_SIGN | ku::DECIPHER_ONLY)
        );
        // polyproto 0.8.0: leading-zero count as "unused bits".
        assert_eq!(decode_key_usage(&[0x00, 0x80]), Ok(ku::DIGITAL_SIGNATURE));
        assert_eq!(decode_key_usage(&[0x01, 0x40]), Ok(ku::CONTENT_COMMITMENT));
        assert_eq!(decode_key_usage(&[0x05, 0x04]), Ok(ku::KEY_CERT_SIGN));
        assert_eq!(
            decode_key_usage(&[0x00, 0x82]),
            Ok(ku::DIGITAL_SIGNATURE | ku::CRL_SIGN)
        );
        // polyproto 0.8.0 with decipherOnly: 0x80 first, the other bits second.
        assert_eq!(
            decode_key_usage(&[0x07, 0x80, 0x04]),
            Ok(ku::KEY_CERT_SIGN | ku::DECIPHER_ONLY)
        );
        assert_eq!(decode_key_usage(&[0x00]), Ok(0));
        assert!(decode_key_usage(&[]).is_err());
        assert!(decode_key_usage(&[0x08, 0x80]).is_err());
        assert!(decode_key_usage(&[0x01]).is_err());
        assert!(decode_key_usage(&[0x07, 0x40, 0x04]).is_err());
        assert!(decode_key_usage(&[0x00, 0x80, 0x80, 0x80]).is_err());
    }

    #[test]
    fn key_usage_round_trips() {
        for bits in 0..512u16 {
            let bs = encode_key_usage(bits).unwrap();
            let mut content = vec![bs.unused_bits()];
            content.extend_from_slice(bs.raw_bytes());
            assert_eq!(decode_key_usage(&content), Ok(bits), "{bits:#x}");
        }
    }

    #[test]
    fn basic_constraints_decoding() {
        assert_eq!(decode_basic_constraints(&[]), Ok(false));
        assert_eq!(decode_basic_constraints(&[0x01, 0x01, 0x00]), Ok(false));
        assert_eq!(decode_basic_constraints(&[0x01, 0x01, 0xff]), Ok(true));
        assert_eq!(decode_basic_constraints(&[0x01, 0x01, 0x01]), Ok(true));
        assert_eq!(
            decode_basic_constraints(&[0x01, 0x01, 0xff, 0x02, 0x01, 0x00]),
            Ok(true)
        );
        // polyproto's eight-octet path length.
        let mut polyproto = vec![0x01, 0x01, 0xff, 0x02, 0x08];
        polyproto.extend_from_slice(&1u64.to_be_bytes());
        assert_eq!(decode_basic_constraints(&polyproto), Ok(true));
        for bad in [
            &[0x01, 0x01, 0xff, 0x01, 0x01, 0xff][..],
            &[0x02, 0x01, 0x00, 0x01, 0x01, 0xff],
            &[0x01, 0x02, 0xff, 0xff],
            &[0x05, 0x00],
            &[0x01, 0x01],
        ] {
            assert!(decode_basic_constraints(bad).is_err(), "{bad:02x?}");
        }
        assert_eq!(encode_basic_constraints(false, None).unwrap(), [0x30, 0x00]);
        assert_eq!(
            encode_basic_constraints(true, Some(0)).unwrap(),
            [0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]
        );
    }

    #[test]
    fn path_lengths_are_read() {
        let read = |content: &'static [u8]| read_basic_constraints(content).unwrap().path_len;
        assert_eq!(read(&[0x01, 0x01, 0xff]), None);
        assert_eq!(
            read(&[0x01, 0x01, 0xff, 0x02, 0x01, 0x00]),
            Some(&[0u8][..])
        );
        assert_eq!(read(&[0x02, 0x01, 0x03]), Some(&[3u8][..]));
        assert_eq!(uint_value(&[0x00]), Some(0));
        assert_eq!(uint_value(&[0x05]), Some(5));
        assert_eq!(uint_value(&[0x00, 0x80]), Some(128));
        assert_eq!(uint_value(&[0u8; 8]), Some(0));
        assert_eq!(uint_value(&[0, 0, 0, 0, 0, 0, 0, 0, 1]), Some(1));
        assert_eq!(uint_value(&[0xff]), None);
        assert_eq!(uint_value(&[0x80, 0x00]), None);
        assert_eq!(uint_value(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(uint_value(&[]), None);
    }

    #[test]
    fn extension_values_are_read() {
        assert_eq!(
            key_usage_extension(&[0x03, 0x02, 0x07, 0x80]),
            Ok(ku::DIGITAL_SIGNATURE)
        );
        assert!(key_usage_extension(&[0x04, 0x02, 0x07, 0x80]).is_err());
        assert!(key_usage_extension(&[0x03, 0x02, 0x07]).is_err());
        assert_eq!(
            basic_constraints_extension(&[0x30, 0x03, 0x01, 0x01, 0xff]).map(|bc| bc.ca),
            Ok(true)
        );
        assert!(basic_constraints_extension(&[0x31, 0x00]).is_err());
        assert!(basic_constraints_extension(&[0x30, 0x00, 0x00]).is_err());
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        assert!(matches!(x509_time(0), Some(Time::UtcTime(_))));
        assert!(matches!(x509_time(YEAR_2050 - 1), Some(Time::UtcTime(_))));
        assert!(matches!(x509_time(YEAR_2050), Some(Time::GeneralTime(_))));
        assert_eq!(x509_time(YEAR_2050 - 1).map(unix_time), Some(YEAR_2050 - 1));
        assert_eq!(x509_time(YEAR_2050).map(unix_time), Some(YEAR_2050));
        // 9999-12-31T23:59:59Z is the last representable second.
        assert!(x509_time(253_402_300_799).is_some());
        assert!(x509_time(253_402_300_800).is_none());
        assert!(x509_time(u64::MAX).is_none());
    }
}
