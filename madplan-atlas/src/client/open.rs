//! Enums over values Atlas may extend: every known value is a variant, and
//! anything else is kept as Atlas spelled it, so that one cluster of a kind
//! this version does not know (an R-series or NVMe tier, a Flex or tenant
//! cluster) cannot break reading a whole list.

/// Declares an enum of known string values with an `Other(String)` arm,
/// serialized as the string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of madplan does not know, as Atlas
            /// spelled it.
            Other(String),
        }

        impl $name {
            /// Every known value, in order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as Atlas spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Other(s) => s,
                }
            }

            /// The value Atlas spells `s` (`Other` when it is not known).
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )+
                    other => $name::Other(other.to_string()),
                }
            }

            /// Whether this is a value madplan knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }

            /// The position among the known values (`None` for others).
            pub fn rank(&self) -> Option<usize> {
                Self::KNOWN.iter().position(|k| k == self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

pub(crate) use open_enum;

/// Percent-encodes one path segment: everything but RFC 3986's unreserved
/// characters, so that a `/` in a user name (an IAM role ARN) or in a CIDR
/// block, a `$` in `$external`, or a space in a project name stays inside
/// its segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded path segment (`None` if it is malformed or
/// not UTF-8).
pub fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `/api/atlas/v2/` followed by `segments`, each percent-encoded.
pub fn api_path(segments: &[&str]) -> String {
    let mut p = String::from("/api/atlas/v2");
    for s in segments {
        p.push('/');
        p.push_str(&encode_segment(s));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    open_enum!(
        /// Test.
        Size { Small = "S", Large = "L" }
    );

    #[test]
    fn unknown_values_are_kept() {
        let v: Vec<Size> = serde_json::from_str(r#"["S","XL","L"]"#).unwrap();
        assert_eq!(v, [Size::Small, Size::Other("XL".into()), Size::Large]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["S","XL","L"]"#);
        assert_eq!(Size::Large.rank(), Some(1));
        assert_eq!(Size::Other("XL".into()).rank(), None);
        assert!(Size::Small.is_known() && !Size::Other("XL".into()).is_known());
    }

    #[test]
    fn segments_are_encoded_and_decoded() {
        let arn = "arn:aws:iam::123456789012:role/madplan api";
        let e = encode_segment(arn);
        assert_eq!(
            e,
            "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmadplan%20api"
        );
        assert_eq!(decode_segment(&e).unwrap(), arn);
        assert_eq!(encode_segment("$external"), "%24external");
        assert_eq!(encode_segment("10.0.0.0/16"), "10.0.0.0%2F16");
        assert_eq!(
            api_path(&["groups", "byName", "madplan prod"]),
            "/api/atlas/v2/groups/byName/madplan%20prod"
        );
        assert!(decode_segment("%zz").is_none());
    }
}
