//! Network values shared by providers: IPv4 CIDR blocks and port ranges.

use std::fmt;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// An IPv4 CIDR block as the user wrote it. It is kept as text so that a
/// malformed block is reported by validation, together with every other
/// problem, instead of failing where the environment is built.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cidr(String);

impl Cidr {
    /// The block parsed, or why it is not a valid network block.
    pub fn parse(&self) -> Result<Ipv4Net, String> {
        let net: Ipv4Net = self.0.parse().map_err(|_| {
            format!(
                "{:?} is not an IPv4 CIDR block (expected e.g. 10.0.0.0/16)",
                self.0
            )
        })?;
        if net.network() != net.addr() {
            return Err(format!(
                "{:?} has host bits set; did you mean {}?",
                self.0,
                net.trunc()
            ));
        }
        Ok(net)
    }

    /// The block as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Cidr {
    fn from(s: &str) -> Self {
        Cidr(s.to_string())
    }
}

impl From<String> for Cidr {
    fn from(s: String) -> Self {
        Cidr(s)
    }
}

impl From<Ipv4Net> for Cidr {
    fn from(n: Ipv4Net) -> Self {
        Cidr(n.to_string())
    }
}

/// Whether `inner` lies wholly inside `outer`.
pub fn contains(outer: &Ipv4Net, inner: &Ipv4Net) -> bool {
    outer.contains(inner)
}

/// Whether two blocks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(b) || b.contains(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_and_host_bits() {
        assert!(Cidr::from("10.0.0.0/16").parse().is_ok());
        assert!(Cidr::from("10.0.0.0/33").parse().is_err());
        assert!(Cidr::from("banana").parse().is_err());
        let e = Cidr::from("10.0.1.7/16").parse().unwrap_err();
        assert!(e.contains("10.0.0.0/16"), "{e}");
    }

    #[test]
    fn overlap_and_containment() {
        let vpc: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        let a: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        let b: Ipv4Net = "10.0.1.128/25".parse().unwrap();
        let c: Ipv4Net = "10.1.0.0/24".parse().unwrap();
        assert!(contains(&vpc, &a));
        assert!(!contains(&vpc, &c));
        assert!(overlaps(&a, &b));
        assert!(!overlaps(&a, &c));
    }
}
