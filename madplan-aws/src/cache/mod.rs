//! Cache.
pub(crate) fn register(_kinds: &mut madplan_core::Kinds) {}
