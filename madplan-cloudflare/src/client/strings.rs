//! Closed sets of strings in Cloudflare's answers (record types, rule
//! actions, setting values) as Rust enums that still decode a value this
//! version does not know: it is kept, raw, in the `Other` arm, so that a
//! zone holding something newer lists fine and the value is written back
//! unchanged.

/// A value of a closed set that this version does not know, as Cloudflare
/// sent it.
pub type UnknownValue = String;

/// Declares an enum of known string values plus `Other(String)`, with
/// `as_str`, `Display`, `FromStr` (never fails) and serde as the string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept as Cloudflare sent it.
            Other($crate::client::UnknownValue),
        }

        impl $name {
            /// Every value this version knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as the API spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Whether this version knows the value.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $( $text => $name::$variant, )+
                    other => $name::Other(other.to_string()),
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
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
                Ok(s.parse().unwrap_or_else(|e: std::convert::Infallible| match e {}))
            }
        }
    };
}

pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    string_enum! {
        /// A test set.
        enum Colour {
            /// Red.
            Red = "red",
            /// Dark blue.
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn unknown_values_are_kept_and_written_back() {
        let v: Vec<Colour> = serde_json::from_str(r#"["red","dark_blue","ultraviolet"]"#).unwrap();
        assert_eq!(
            v,
            [
                Colour::Red,
                Colour::DarkBlue,
                Colour::Other("ultraviolet".into())
            ]
        );
        assert!(!v[2].is_known());
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"["red","dark_blue","ultraviolet"]"#
        );
        assert_eq!(Colour::KNOWN.len(), 2);
    }
}
