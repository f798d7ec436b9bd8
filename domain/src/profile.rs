//! The UserProfile aggregate: the caller's display name and avatar.

use uuid::Uuid;

use crate::decision::{Ctx, Decision};
use crate::error::{DomainError, Violations};
use crate::events::{DomainEvent, UserProfileUpdated};
use crate::store::RecordedEvent;
use crate::text::check_len;

/// A user's profile as its stream folds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub user_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar: Option<String>,
    pub version: u64,
    pub position: i64,
}

/// `PUT /v1/me`: the fields to set; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpdateProfile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar: Option<String>,
}

/// Folds one recorded event into the profile.
pub fn evolve(state: Option<Profile>, e: &RecordedEvent) -> Option<Profile> {
    let DomainEvent::UserProfileUpdated(u) = &e.event else { return state };
    let mut p = state.unwrap_or_else(|| Profile { user_id: u.user_id, ..Profile::default() });
    if u.first_name.is_some() {
        p.first_name.clone_from(&u.first_name);
    }
    if u.last_name.is_some() {
        p.last_name.clone_from(&u.last_name);
    }
    if u.avatar.is_some() {
        p.avatar.clone_from(&u.avatar);
    }
    p.version = e.stream_version;
    p.position = e.position;
    Some(p)
}

/// Decides a profile update for the caller.
pub fn decide(state: Option<&Profile>, ctx: &Ctx<'_>, cmd: &UpdateProfile) -> Result<Decision, DomainError> {
    ctx.check_if_match(state.map_or(0, |p| p.version))?;
    let mut v = Violations::default();
    if let Some(f) = &cmd.first_name {
        check_len(&mut v, "firstName", f, 0, 100);
    }
    if let Some(l) = &cmd.last_name {
        check_len(&mut v, "lastName", l, 0, 100);
    }
    if let Some(a) = &cmd.avatar {
        check_avatar(&mut v, a);
    }
    v.finish()?;
    let current = state.cloned().unwrap_or_default();
    let changed = |new: &Option<String>, old: &Option<String>| new.clone().filter(|n| old.as_ref() != Some(n));
    let event = UserProfileUpdated {
        user_id: ctx.actor,
        first_name: changed(&cmd.first_name, &current.first_name),
        last_name: changed(&cmd.last_name, &current.last_name),
        avatar: changed(&cmd.avatar, &current.avatar),
    };
    if event.first_name.is_none() && event.last_name.is_none() && event.avatar.is_none() {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::UserProfileUpdated(event)))
}

fn check_avatar(v: &mut Violations, avatar: &str) {
    let is_url = avatar.starts_with("https://") || avatar.starts_with("http://");
    if avatar.is_empty() {
        return;
    }
    if !is_url || avatar.chars().count() > 2048 || avatar.contains(char::is_whitespace) {
        v.push("avatar", "must be an http(s) URL of at most 2048 characters, or empty");
    }
}
