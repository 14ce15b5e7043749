//! Tags: how madplan marks what it creates, and finds it again.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use madplan_core::{Claim, OpCx, ProviderError, RefreshCx, Resource, TAG_ENVIRONMENT};

use crate::error::sdk_error;

/// The tag specification for a create call: the user's tags plus madplan's
/// (environment, address and the state's lineage).
pub(crate) fn spec(
    rt: ResourceType,
    cx: &OpCx,
    user: &BTreeMap<String, String>,
) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(rt);
    for (k, v) in cx.tags() {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    for (k, v) in user {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

/// The filter that selects this environment's resources.
pub(crate) fn env_filter(environment: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_ENVIRONMENT}"))
        .values(environment)
        .build()
}

/// A filter on one field.
pub(crate) fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

/// Whether `tags` are those madplan gave the resource of `cx` (environment,
/// address and lineage): the object is the one this create made, e.g. by
/// an attempt whose answer was lost.
pub(crate) fn made_by(cx: &OpCx, tags: &[Tag]) -> bool {
    cx.tags().iter().all(|(k, v)| {
        tags.iter()
            .any(|t| t.key() == Some(*k) && t.value() == Some(v.as_str()))
    })
}

/// The user's tags (madplan's own left out).
pub(crate) fn user(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with("madplan:"))
        .collect()
}

/// Whether a live resource is this environment's, and why: the tracked one
/// `is_it` recognises, or one whose madplan tags name this environment and
/// an address of the kind (the engine then sorts it by its lineage tag).
pub(crate) fn claim<R: Resource>(
    cx: &RefreshCx<R>,
    tags: &[Tag],
    is_it: impl Fn(&R::Outputs) -> bool,
) -> Option<Claim> {
    cx.claim(is_it, |key| {
        tags.iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_string)
    })
}

/// Brings the user tags of `id` from `before` to `after`.
pub(crate) async fn sync(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let stale: Vec<Tag> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    let changed: Vec<Tag> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    // The two touch different keys: they go at once.
    let delete = async {
        if !stale.is_empty() {
            ec2.delete_tags()
                .resources(id)
                .set_tags(Some(stale))
                .send()
                .await
                .map_err(sdk_error)?;
        }
        Ok::<_, ProviderError>(())
    };
    let create = async {
        if !changed.is_empty() {
            ec2.create_tags()
                .resources(id)
                .set_tags(Some(changed))
                .send()
                .await
                .map_err(sdk_error)?;
        }
        Ok(())
    };
    futures_util::future::try_join(delete, create).await?;
    Ok(())
}

/// madplan's tags and the user's, as key-value pairs, for the services
/// whose tags are plain pairs (IAM, Auto Scaling, ELB, ACM, CloudWatch).
pub(crate) fn pairs(cx: &OpCx, user: &BTreeMap<String, String>) -> Vec<(String, String)> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(user.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// The user's tags among key-value pairs (madplan's own left out).
pub(crate) fn user_pairs<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter(|(k, _)| !k.starts_with("madplan:"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// [`claim`] for services whose tags are key-value pairs.
pub(crate) fn claim_pairs<'a, R: Resource>(
    cx: &RefreshCx<R>,
    tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    is_it: impl Fn(&R::Outputs) -> bool,
) -> Option<Claim> {
    cx.claim(is_it, |key| {
        tags.clone()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    })
}

/// What changes between two sets of user tags: the keys to remove and the
/// pairs to set.
pub(crate) fn changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<(String, String)>) {
    let stale = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let changed = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (stale, changed)
}
