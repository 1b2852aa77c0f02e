//! The attributes of a distinguished name that polyproto gives meaning to (§7.1.1.1), read
//! the same way for ID-CSRs, actor ID-Certs and root certificates.

use polyhome_proto::{DomainName, FederationId};
use x509_cert::name::Name;

use crate::asn1;
use crate::text::printable_prefix;

/// What a session ID must be, for messages.
pub(crate) const SESSION_ID_EXPECTED: &str =
    "the subject must have exactly one uniqueIdentifier, the session ID: 1 to 32 IA5 (ASCII) \
     characters (§7.1.1.3)";

/// The polyproto attributes of a name, in DER order, each as `Some(text)` when it is a
/// UTF8String, PrintableString or IA5String and `None` otherwise. Other attributes are skipped.
pub(crate) struct NameAttributes<'a> {
    pub common_names: Vec<Option<&'a str>>,
    pub domain_components: Vec<Option<&'a str>>,
    pub user_ids: Vec<Option<&'a str>>,
    pub unique_identifiers: Vec<Option<&'a str>>,
}

impl<'a> NameAttributes<'a> {
    /// Reads every RDN, multi-valued ones attribute by attribute.
    pub(crate) fn read(name: &'a Name) -> NameAttributes<'a> {
        let mut attributes = NameAttributes {
            common_names: Vec::new(),
            domain_components: Vec::new(),
            user_ids: Vec::new(),
            unique_identifiers: Vec::new(),
        };
        for atv in name.0.iter().flat_map(|rdn| rdn.0.iter()) {
            let list = match atv.oid {
                asn1::COMMON_NAME => &mut attributes.common_names,
                asn1::DOMAIN_COMPONENT => &mut attributes.domain_components,
                asn1::USER_ID => &mut attributes.user_ids,
                asn1::UNIQUE_IDENTIFIER => &mut attributes.unique_identifiers,
                _ => continue,
            };
            list.push(asn1::directory_string(&atv.value));
        }
        attributes
    }
}

/// What a name holds of an attribute that must occur exactly once.
pub(crate) enum One<'a> {
    Text(&'a str),
    /// Once, but not as a UTF8String, PrintableString or IA5String.
    NotText,
    Missing,
    Many(usize),
}

pub(crate) fn one<'a>(values: &[Option<&'a str>]) -> One<'a> {
    match values {
        [Some(text)] => One::Text(text),
        [None] => One::NotText,
        [] => One::Missing,
        many => One::Many(many.len()),
    }
}

impl One<'_> {
    /// The end of a sentence saying what was found instead of a good value: "it has none",
    /// "it has 2", "it is not a UTF8String, …", "it has \"x\"".
    pub(crate) fn found(&self) -> String {
        match self {
            One::Text(text) => format!("it has \"{}\"", printable_prefix(text)),
            One::NotText => "it is not a UTF8String, PrintableString or IA5String".to_owned(),
            One::Missing => "it has none".to_owned(),
            One::Many(n) => format!("it has {n}"),
        }
    }
}

/// Whether a common name names `actor`: its actor name or its whole federation ID, ASCII
/// case-insensitively (§5).
pub(crate) fn common_name_matches(cn: &str, actor: &FederationId) -> bool {
    cn.eq_ignore_ascii_case(actor.actor.as_str()) || cn.eq_ignore_ascii_case(&actor.to_string())
}

/// Whether the domain components are `domain`'s labels, one each, in order, ASCII
/// case-insensitively.
pub(crate) fn components_are_domain(components: &[Option<&str>], domain: &DomainName) -> bool {
    let labels: Vec<&str> = domain.labels().collect();
    components.len() == labels.len()
        && components
            .iter()
            .zip(&labels)
            .all(|(dc, label)| dc.is_some_and(|dc| dc.eq_ignore_ascii_case(label)))
}

/// `"DC=example, DC=com"` or `"none"`, for messages.
pub(crate) fn describe_components(components: &[Option<&str>]) -> String {
    if components.is_empty() {
        return "none".to_owned();
    }
    components
        .iter()
        .map(|dc| match dc {
            Some(dc) => format!("DC={}", printable_prefix(dc)),
            None => "DC=<not a string>".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The domain the components spell, joined with '.' in DER order. Each component must be one
/// DNS label (so `DC=example.com` is not `DC=example, DC=com`); there must be at least one.
/// The error is the end of a sentence about the name's domain components.
pub(crate) fn components_domain(components: &[Option<&str>]) -> Result<DomainName, String> {
    if components.is_empty() {
        return Err("it has no domain component (DC); at least one is required".to_owned());
    }
    let mut labels = Vec::with_capacity(components.len());
    for dc in components {
        let Some(dc) = dc else {
            return Err(
                "a domain component (DC) is not a UTF8String, PrintableString or IA5String"
                    .to_owned(),
            );
        };
        let single_label = !dc.contains('.') && dc.parse::<DomainName>().is_ok();
        if !single_label {
            return Err(format!(
                "domain component \"{}\" is not one domain label (a-z, 0-9 and '-', 1 to 63 \
                 characters)",
                printable_prefix(dc)
            ));
        }
        labels.push(*dc);
    }
    labels.join(".").parse().map_err(|_| {
        format!(
            "its domain components {} do not make a domain name (at most 253 characters)",
            describe_components(components)
        )
    })
}

/// The longest subject name an ID-CSR may have, in DER octets. A federation ID is at most 318
/// characters and a domain at most 253; with CN, UID, one DC per label and a session ID, a
/// polyproto subject stays under 3 KiB even for a domain of 127 one-letter labels.
pub(crate) const MAX_SUBJECT_DER_LEN: usize = 4096;

/// Checks that a subject name is well formed, down to the attributes polyproto gives no
/// meaning to, since the ID-Cert repeats them under the server's signature: at most
/// [`MAX_SUBJECT_DER_LEN`] octets, no empty RDN, and every value of an ASN.1 string type a
/// non-empty string that its type allows. Values of other types are left alone. The error is
/// a sentence about the subject.
pub(crate) fn check_well_formed(name: &Name, der_len: usize) -> Result<(), String> {
    if der_len > MAX_SUBJECT_DER_LEN {
        return Err(format!(
            "the subject name is {der_len} octets long; at most {MAX_SUBJECT_DER_LEN} are accepted"
        ));
    }
    for (position, rdn) in name.0.iter().enumerate() {
        if rdn.0.is_empty() {
            return Err(format!(
                "RDN {} of the subject name is empty; every RDN holds at least one attribute",
                position + 1
            ));
        }
        // CN, DC, UID and uniqueIdentifier are checked in full by `validate`, each with its
        // own error code.
        let others = rdn.0.iter().filter(|atv| {
            !matches!(
                atv.oid,
                asn1::COMMON_NAME
                    | asn1::DOMAIN_COMPONENT
                    | asn1::USER_ID
                    | asn1::UNIQUE_IDENTIFIER
            )
        });
        for atv in others {
            if let Err(why) = asn1::check_string_value(&atv.value) {
                return Err(format!(
                    "subject attribute {} is {why}",
                    asn1::describe_oid(&atv.oid)
                ));
            }
        }
    }
    Ok(())
}
