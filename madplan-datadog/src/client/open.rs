//! Open enums (a value Datadog adds later is kept, not refused) and the
//! bag of fields a model does not name, kept through a read-modify-write.

use serde_json::{Map, Value};

/// Fields of an answer that a model does not name, kept as Datadog sent
/// them so that writing the object back does not lose what was set
/// elsewhere (in the UI, by a newer client).
pub type Extra = Map<String, Value>;

/// An enum of Datadog's string values that keeps values it does not know
/// as `Other(String)`, so that an answer with a value added after this
/// version of madplan still decodes, and writing it back sends it as it was.
macro_rules! open_enum {
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
            /// A value this version of madplan does not know, as Datadog
            /// sent it.
            Other(String),
        }

        impl $name {
            /// The value as Datadog spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_string()),
                }
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
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

/// Removes the fields named in `read_only` from `extra` (what the API
/// answers but does not take back).
pub(crate) fn writable(extra: &Extra, read_only: &[&str]) -> Extra {
    extra
        .iter()
        .filter(|(k, _)| !read_only.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    open_enum! {
        /// A test enum.
        pub enum Colour {
            /// Red.
            Red = "red",
        }
    }

    #[test]
    fn unknown_values_are_kept_and_written_back() {
        let c: Colour = serde_json::from_str("\"red\"").unwrap();
        assert_eq!(c, Colour::Red);
        let c: Colour = serde_json::from_str("\"ultraviolet\"").unwrap();
        assert_eq!(c, Colour::Other("ultraviolet".into()));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"ultraviolet\"");
    }
}
