//! What the non-EC2 kinds (WAF, logs, alarms, SNS, IAM, ElastiCache) share:
//! error codes of those services, tags kept as maps, typed ARNs, and the
//! bounded concurrency of per-resource reads.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use madplan_core::{Claim, ErrorClass, OpCx, ProviderError, RefreshCx, Resource};

use crate::error::sdk_error;

/// How many per-resource reads (tags, details) a refresh sends at once, so
/// that an account with many resources is not throttled.
pub(crate) const READS_AT_ONCE: usize = 10;

/// Codes by which these services say a thing does not exist.
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "ResourceNotFound",
    "WAFNonexistentItemException",
    "NotFound",
    "NoSuchEntity",
    "ReplicationGroupNotFoundFault",
    "CacheSubnetGroupNotFoundFault",
    "InvalidFlowLogId.NotFound",
];

/// Codes by which these services say a name is taken.
const CONFLICT: &[&str] = &[
    "ResourceAlreadyExistsException",
    "EntityAlreadyExists",
    "WAFDuplicateItemException",
    "ReplicationGroupAlreadyExists",
    "ReplicationGroupAlreadyExistsFault",
    "CacheSubnetGroupAlreadyExists",
    "CacheSubnetGroupAlreadyExistsFault",
];

/// Codes of conditions that settle with time: the engine runs the whole
/// operation again (re-reading first) after a pause.
const SETTLING: &[&str] = &[
    // WAF: an entity just made is not usable everywhere yet (an ACL
    // associated seconds after its creation).
    "WAFUnavailableEntityException",
    // WAF: a logging or association change still in progress elsewhere.
    "WAFServiceLinkedRoleErrorException",
    // WAF: an ACL whose association is being removed.
    "WAFAssociatedItemException",
    // IAM: another request is changing the same entity.
    "ConcurrentModification",
    "ConcurrentModificationException",
    // ElastiCache: the group is being modified; the subnet group is still
    // used by a group being deleted.
    "InvalidReplicationGroupState",
    "InvalidReplicationGroupStateFault",
    "CacheSubnetGroupInUse",
];

/// The class of an error code of these services, when it is one of theirs.
pub(crate) fn class_of(code: &str) -> Option<ErrorClass> {
    if NOT_FOUND.contains(&code) {
        Some(ErrorClass::NotFound)
    } else if CONFLICT.contains(&code) {
        Some(ErrorClass::Conflict)
    } else if SETTLING.contains(&code) {
        Some(ErrorClass::Retryable)
    } else {
        None
    }
}

/// Converts an SDK error of any of these services: [`sdk_error`], then the
/// services' own codes (`ResourceNotFoundException`,
/// `WAFNonexistentItemException`, `NoSuchEntity`...) classified.
pub(crate) fn aws_error<E>(e: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    SdkError<E, HttpResponse>: RequestId,
{
    reclassify(sdk_error(e))
}

/// Gives an error the class its code has in these services.
pub(crate) fn reclassify(mut e: ProviderError) -> ProviderError {
    if e.class == ErrorClass::Fatal
        && let Some(class) = e.code.as_deref().and_then(class_of)
    {
        e.class = class;
    }
    e
}

/// Whether the error carries `code`.
pub(crate) fn has_code(e: &ProviderError, code: &str) -> bool {
    e.code.as_deref() == Some(code)
}

/// A claim from tags kept as a map (the APIs outside EC2 answer maps or
/// lists of pairs).
pub(crate) fn claim<R: Resource>(
    cx: &RefreshCx<R>,
    tags: &BTreeMap<String, String>,
    is_it: impl Fn(&R::Outputs) -> bool,
) -> Option<Claim> {
    cx.claim(is_it, |key| tags.get(key).cloned())
}

/// A claim for a kind that cannot carry tags: only what the state tracks.
pub(crate) fn claim_tracked<R: Resource>(
    cx: &RefreshCx<R>,
    is_it: impl Fn(&R::Outputs) -> bool,
) -> Option<Claim> {
    cx.claim(is_it, |_| None)
}

/// madplan's tags and the user's, for a create.
pub(crate) fn all_tags(cx: &OpCx, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = cx
        .tags()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The user's tags (madplan's own left out).
pub(crate) fn user_tags<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter(|(k, _)| !k.starts_with("madplan:"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A map from a `HashMap` answer.
pub(crate) fn from_hash(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// What it takes to bring user tags from `before` to `after`: the keys to
/// remove and the pairs to set.
pub(crate) fn tag_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let gone = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let set = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (gone, set)
}

/// The error for a request the SDK refuses to build (a required field
/// missing): a bug in madplan, not in the spec.
pub(crate) fn build_error(e: aws_smithy_types::error::operation::BuildError) -> ProviderError {
    ProviderError::new(
        "madplan",
        ErrorClass::Fatal,
        format!("a request could not be built: {e}"),
    )
}

/// Declares a typed ARN or name: a newtype over the string, an
/// `IntoInput` from a plain string, and one from the handle of the kind
/// that yields it.
macro_rules! typed_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The value as AWS spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl madplan_core::IntoInput<$name> for &str {
            fn into_input(self) -> madplan_core::Input<$name> {
                madplan_core::Input::Value($name(self.to_string()))
            }
        }

        impl madplan_core::IntoInput<$name> for String {
            fn into_input(self) -> madplan_core::Input<$name> {
                madplan_core::Input::Value($name(self))
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $res:ty, $output:literal) => {
        $crate::support::typed_string!($(#[$doc])* $name);

        impl madplan_core::IntoInput<$name> for &madplan_core::Ref<$res> {
            fn into_input(self) -> madplan_core::Input<$name> {
                self.output($output)
            }
        }
    };
}
pub(crate) use typed_string;

/// Reads `input`, which the engine has resolved by now.
pub(crate) fn resolved<T>(input: &madplan_core::Input<T>) -> Result<&T, ProviderError> {
    input.get().map_err(crate::network::unresolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_codes_of_these_services() {
        assert_eq!(
            class_of("ResourceNotFoundException"),
            Some(ErrorClass::NotFound)
        );
        assert_eq!(
            class_of("WAFNonexistentItemException"),
            Some(ErrorClass::NotFound)
        );
        assert_eq!(class_of("NoSuchEntity"), Some(ErrorClass::NotFound));
        assert_eq!(
            class_of("ReplicationGroupNotFoundFault"),
            Some(ErrorClass::NotFound)
        );
        assert_eq!(
            class_of("ResourceAlreadyExistsException"),
            Some(ErrorClass::Conflict)
        );
        assert_eq!(
            class_of("CacheSubnetGroupInUse"),
            Some(ErrorClass::Retryable)
        );
        assert_eq!(class_of("WAFOptimisticLockException"), None);
        let e = reclassify(
            ProviderError::new("aws", ErrorClass::Fatal, "gone").with_code("NoSuchEntity"),
        );
        assert!(e.is_not_found());
        // A class the SDK error mapping already gave is kept.
        let e = reclassify(
            ProviderError::new("aws", ErrorClass::Unavailable, "busy").with_code("NotFound"),
        );
        assert_eq!(e.class, ErrorClass::Unavailable);
    }

    #[test]
    fn tag_changes_remove_and_set() {
        let before: BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        let after: BTreeMap<String, String> =
            [("b".into(), "3".into()), ("c".into(), "4".into())].into();
        let (gone, set) = tag_changes(&before, &after);
        assert_eq!(gone, vec!["a".to_string()]);
        assert_eq!(set.len(), 2);
    }
}
