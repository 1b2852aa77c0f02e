//! Text forms of DER documents: PEM armour (RFC 7468) and bare base64, read leniently and
//! written as OpenSSL does.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Why text is not a PEM block with an expected label, or bare base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextError {
    /// Not PEM, not base64: what is wrong, as the end of a sentence ("it is empty").
    Encoding(String),
    /// A PEM block with another label (at most 40 printable characters of it).
    WrongLabel(String),
}

/// PEM with one of `labels`, or bare base64 (standard or URL-safe alphabet, padding optional),
/// to DER. Line breaks (LF or CRLF) and other ASCII whitespace inside the body, and whitespace
/// around the whole, are ignored.
pub(crate) fn decode_text(input: &str, labels: &[&str]) -> Result<Vec<u8>, TextError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(TextError::Encoding("it is empty".to_owned()));
    }
    let body = match text.strip_prefix("-----BEGIN ") {
        Some(rest) => {
            let (label, rest) = rest.split_once("-----").ok_or_else(|| {
                TextError::Encoding("the PEM BEGIN line is not closed with \"-----\"".to_owned())
            })?;
            if !labels.contains(&label) {
                return Err(TextError::WrongLabel(printable_prefix(label)));
            }
            let end = format!("-----END {label}-----");
            rest.strip_suffix(end.as_str()).ok_or_else(|| {
                TextError::Encoding(format!(
                    "the PEM block does not end with \"{end}\" (or has text after it)"
                ))
            })?
        }
        None => text,
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(TextError::Encoding("it contains no data".to_owned()));
    }
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    standard
        .decode(&compact)
        .or_else(|_| url_safe.decode(&compact))
        .map_err(|_| TextError::Encoding("its content is not valid base64".to_owned()))
}

/// The DER inside a PEM block labelled `label`, such as `-----BEGIN CERTIFICATE-----`.
///
/// LF or CRLF line endings, whitespace around the block and inside its body are accepted; a
/// block with another label, text that is not PEM (bare base64 included), and a body that is
/// not base64 give `None`. The DER itself is not looked at.
pub fn pem_to_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    if !pem.trim_start().starts_with("-----BEGIN ") {
        return None;
    }
    decode_text(pem, &[label]).ok()
}

/// `der` in a PEM block labelled `label`: LF line endings, 64 base64 characters a line, a
/// final line break. The same text OpenSSL and the `der` crate write.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let mut out = String::with_capacity(base64.len() + base64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // Base64 is ASCII, so every 64-byte chunk is valid UTF-8.
    for line in base64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// At most 40 printable ASCII characters of `s`, for quoting input in messages.
pub(crate) fn printable_prefix(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_encoding_is_the_der_crates() {
        for len in [1, 2, 3, 47, 48, 49, 95, 96, 97, 500] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let ours = pem_encode("CERTIFICATE", &der);
            let theirs =
                der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap();
            assert_eq!(ours, theirs, "{len} octets");
            assert_eq!(pem_to_der(&ours, "CERTIFICATE"), Some(der));
        }
    }

    #[test]
    fn pem_to_der_wants_the_label_and_armour() {
        let pem = pem_encode("CERTIFICATE", b"\x30\x03\x02\x01\x05");
        let der = Some(b"\x30\x03\x02\x01\x05".to_vec());
        assert_eq!(pem_to_der(&pem, "CERTIFICATE"), der);
        assert_eq!(
            pem_to_der(
                &format!("\r\n {} \r\n", pem.replace('\n', "\r\n")),
                "CERTIFICATE"
            ),
            der
        );
        assert_eq!(pem_to_der(&pem, "CERTIFICATE REQUEST"), None);
        assert_eq!(pem_to_der("MAMCAQU=", "CERTIFICATE"), None);
        assert_eq!(pem_to_der("", "CERTIFICATE"), None);
        assert_eq!(
            pem_to_der(&pem.replace("MAMC", "M@MC"), "CERTIFICATE"),
            None
        );
        assert_eq!(pem_to_der(&format!("{pem}trailing"), "CERTIFICATE"), None);
    }
}
