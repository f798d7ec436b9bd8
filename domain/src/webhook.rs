//! The Webhook aggregate: a workspace's subscription of an HTTP endpoint to
//! its events, managed by the workspace's owners and admins. What it sends
//! (`matches`) is decided here too, so the dispatcher and the API agree.

use uuid::Uuid;

use crate::decision::{Ctx, Decision, NewId, Origin, replay_or_conflict};
use crate::error::{DomainError, Violations};
use crate::events::*;
use crate::store::RecordedEvent;
use crate::text::parse_uuid;
use crate::workspace::Workspace;

/// The longest URL a webhook may have.
pub const MAX_URL: usize = 2048;
/// The most event types, and boards, one webhook may name.
pub const MAX_TYPES: usize = 64;
pub const MAX_BOARDS: usize = 100;

/// A webhook as its stream folds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    /// `None`: every board and the workspace's own events.
    pub board_ids: Option<Vec<Uuid>>,
    pub active: bool,
    pub disabled_reason: Option<String>,
    /// The stream version whose event set the current secret.
    pub secret_version: u64,
    pub deleted: bool,
    pub version: u64,
    pub position: i64,
    pub origin: Origin,
}

impl Webhook {
    /// Whether the webhook sends `e` (whatever its state: see `active`).
    pub fn matches(&self, event_type: &str, workspace_id: Option<Uuid>, board_id: Option<Uuid>) -> bool {
        if workspace_id != Some(self.workspace_id) || event_type.starts_with("Webhook") {
            return false;
        }
        let type_ok = self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type);
        let board_ok = match (&self.board_ids, board_id) {
            (None, _) => true,
            (Some(boards), Some(b)) => boards.contains(&b),
            (Some(_), None) => false,
        };
        type_ok && board_ok
    }
}

/// A webhook's settings as a request gives them, checked by `decide`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `Some(None)`: every board again (a `PATCH` with `boardIds: null`).
    pub board_ids: Option<Option<Vec<String>>>,
    pub active: Option<bool>,
    /// Why the edge, which resolved the URL's host, refuses where it leads
    /// (not part of the command: a retry is the same command).
    #[serde(skip)]
    pub url_refused: Option<String>,
}

/// Commands on a webhook. `Disable` is the dispatcher's, never a request's.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum WebhookCommand {
    Create {
        id: NewId,
        workspace_id: Uuid,
        settings: WebhookSettings,
    },
    Update(WebhookSettings),
    RotateSecret,
    Delete,
    Disable {
        reason: String,
    },
    /// Sends the matching events of a range again (nothing is appended).
    Replay {
        from: i64,
        to: Option<i64>,
    },
}

/// Folds one recorded event into the state.
pub fn evolve(state: Option<Webhook>, e: &RecordedEvent) -> Option<Webhook> {
    if let DomainEvent::WebhookCreated(c) = &e.event {
        return Some(Webhook {
            id: c.webhook_id,
            workspace_id: c.workspace_id,
            url: c.url.clone(),
            event_types: c.event_types.clone(),
            board_ids: c.board_ids.clone(),
            active: true,
            disabled_reason: None,
            secret_version: e.stream_version,
            deleted: false,
            version: e.stream_version,
            position: e.position,
            origin: Origin::of(e),
        });
    }
    let mut hook = state?;
    match &e.event {
        DomainEvent::WebhookUpdated(u) => {
            if u.active && !hook.active {
                hook.disabled_reason = None;
            }
            (hook.url, hook.event_types, hook.board_ids, hook.active) =
                (u.url.clone(), u.event_types.clone(), u.board_ids.clone(), u.active);
        }
        DomainEvent::WebhookSecretRotated(_) => hook.secret_version = e.stream_version,
        DomainEvent::WebhookDeleted(_) => (hook.deleted, hook.active) = (true, false),
        DomainEvent::WebhookDisabled(d) => (hook.active, hook.disabled_reason) = (false, Some(d.reason.clone())),
        _ => {}
    }
    hook.version = e.stream_version;
    hook.position = e.position;
    Some(hook)
}

/// Decides a webhook command. `ws` is the webhook's workspace (for a create,
/// the one in the path); `hook` the webhook, when its stream exists.
pub fn decide(ws: Option<&Workspace>, hook: Option<&Webhook>, ctx: &Ctx<'_>, cmd: &WebhookCommand) -> Result<Decision, DomainError> {
    if let WebhookCommand::Create { id, settings, .. } = cmd {
        let ws = ws.ok_or(DomainError::NotFound("workspace"))?;
        may_manage(ws, ctx.actor, "workspace")?;
        return create(ws, hook, ctx, &id.text(), settings);
    }
    let hook = hook.filter(|h| !h.deleted).ok_or(DomainError::NotFound("webhook"))?;
    if let WebhookCommand::Disable { reason } = cmd {
        return Ok(disable(hook, reason));
    }
    let ws = ws.ok_or(DomainError::NotFound("webhook"))?;
    may_manage(ws, ctx.actor, "webhook")?;
    ctx.check_if_match(hook.version)?;
    match cmd {
        WebhookCommand::Update(settings) => update(hook, settings),
        WebhookCommand::RotateSecret => {
            Ok(Decision::Append(DomainEvent::WebhookSecretRotated(WebhookSecretRotated { webhook_id: hook.id })))
        }
        WebhookCommand::Delete => Ok(Decision::Append(DomainEvent::WebhookDeleted(WebhookDeleted { webhook_id: hook.id }))),
        WebhookCommand::Replay { from, to } => replay(*from, *to),
        WebhookCommand::Create { .. } | WebhookCommand::Disable { .. } => Ok(Decision::Unchanged),
    }
}

/// `404` for a non-member (they learn nothing), `403` for a member who is
/// not an owner or admin.
fn may_manage(ws: &Workspace, actor: Uuid, what: &'static str) -> Result<(), DomainError> {
    let role = ws.role_of(actor).ok_or(DomainError::NotFound(what))?;
    if role.is_manager() { Ok(()) } else { Err(DomainError::forbidden("only workspace owners and admins may manage webhooks")) }
}

fn create(ws: &Workspace, existing: Option<&Webhook>, ctx: &Ctx<'_>, id: &str, s: &WebhookSettings) -> Result<Decision, DomainError> {
    if let Some(existing) = existing {
        return replay_or_conflict(&existing.origin, ctx, "webhook");
    }
    let mut v = Violations::default();
    let webhook_id = parse_uuid(&mut v, "id", id);
    let url = s.url.as_deref().map(|u| check_url(&mut v, u, s.url_refused.as_deref()));
    if url.is_none() {
        v.push("url", "is required");
    }
    let event_types = check_types(&mut v, s.event_types.as_deref().unwrap_or_default());
    let board_ids = s.board_ids.clone().flatten().map(|b| check_boards(&mut v, &b));
    if s.active.is_some() {
        v.push("active", "a new webhook is active; set it with PATCH");
    }
    v.finish()?;
    let (Some(webhook_id), Some(url)) = (webhook_id, url) else { return Ok(Decision::Unchanged) };
    let created = WebhookCreated { webhook_id, workspace_id: ws.id, url, event_types, board_ids };
    Ok(Decision::Append(DomainEvent::WebhookCreated(created)))
}

fn update(hook: &Webhook, s: &WebhookSettings) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    let url = s.url.as_deref().map_or_else(|| hook.url.clone(), |u| check_url(&mut v, u, s.url_refused.as_deref()));
    let event_types = s.event_types.as_deref().map_or_else(|| hook.event_types.clone(), |t| check_types(&mut v, t));
    let board_ids = match &s.board_ids {
        None => hook.board_ids.clone(),
        Some(None) => None,
        Some(Some(b)) => Some(check_boards(&mut v, b)),
    };
    v.finish()?;
    let active = s.active.unwrap_or(hook.active);
    let now = (&url, &event_types, &board_ids, active);
    if now == (&hook.url, &hook.event_types, &hook.board_ids, hook.active) {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::WebhookUpdated(WebhookUpdated { webhook_id: hook.id, url, event_types, board_ids, active })))
}

fn replay(from: i64, to: Option<i64>) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    if from < 0 {
        v.push("fromPosition", "must be a log position (0 or more)");
    }
    if to.is_some_and(|to| to < from) {
        v.push("toPosition", "must not be below fromPosition");
    }
    v.finish()?;
    Ok(Decision::Unchanged)
}

fn disable(hook: &Webhook, reason: &str) -> Decision {
    if !hook.active {
        return Decision::Unchanged;
    }
    let reason: String = reason.chars().take(500).collect();
    Decision::Append(DomainEvent::WebhookDisabled(WebhookDisabled { webhook_id: hook.id, reason }))
}

/// The URL as it will be called: `http` or `https`, a host, no credentials
/// (every admin reads the URL; the signature is what authenticates Sunday).
/// Where its host resolves is checked at the edge, which can look it up:
/// `refused` says why it may not be called.
fn check_url(v: &mut Violations, raw: &str, refused: Option<&str>) -> String {
    if raw.chars().count() > MAX_URL {
        v.push("url", format!("must have at most {MAX_URL} characters"));
        return String::new();
    }
    match url::Url::parse(raw) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => v.push("url", "must be an http or https URL"),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => v.push("url", "must name a host"),
        Ok(u) if !u.username().is_empty() || u.password().is_some() => v.push("url", "must not hold credentials"),
        Ok(u) if u.fragment().is_some() => v.push("url", "must not have a fragment"),
        Ok(_) if refused.is_some() => v.push("url", refused.unwrap_or_default()),
        Ok(u) => return u.to_string(),
        Err(e) => v.push("url", format!("is not a URL: {e}")),
    }
    String::new()
}

/// The types, each known and not a webhook's own, without repeats, in order.
fn check_types(v: &mut Violations, types: &[String]) -> Vec<String> {
    if types.len() > MAX_TYPES {
        v.push("eventTypes", format!("must name at most {MAX_TYPES} types"));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if !is_known_type(t) || t.starts_with("Webhook") {
            v.push(format!("eventTypes[{i}]"), "must be the type of an event a webhook can receive");
        } else if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out.sort();
    out
}

fn check_boards(v: &mut Violations, boards: &[String]) -> Vec<Uuid> {
    if boards.is_empty() || boards.len() > MAX_BOARDS {
        v.push("boardIds", format!("must name 1 to {MAX_BOARDS} boards (leave it out for every board)"));
        return Vec::new();
    }
    let mut out: Vec<Uuid> = boards.iter().enumerate().filter_map(|(i, b)| parse_uuid(v, &format!("boardIds[{i}]"), b)).collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(event_types: &[&str], board_ids: Option<Vec<Uuid>>) -> Webhook {
        Webhook {
            id: Uuid::from_u128(1),
            workspace_id: Uuid::from_u128(2),
            url: "https://example.com/".into(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            board_ids,
            active: true,
            disabled_reason: None,
            secret_version: 1,
            deleted: false,
            version: 1,
            position: 1,
            origin: Origin { command_hash: None, version: 1, position: 1 },
        }
    }

    #[test]
    fn a_webhook_matches_its_workspace_types_and_boards_and_never_webhook_events() {
        let (ws, board, other) = (Some(Uuid::from_u128(2)), Uuid::from_u128(3), Uuid::from_u128(4));
        let all = hook(&[], None);
        assert!(all.matches("ItemCreated", ws, Some(board)));
        assert!(all.matches("WorkspaceRenamed", ws, None), "the workspace's own events too");
        assert!(!all.matches("ItemCreated", Some(Uuid::from_u128(9)), Some(board)), "another workspace's");
        assert!(!all.matches("WebhookUpdated", ws, None));
        let some = hook(&["ItemCreated"], Some(vec![board]));
        assert!(some.matches("ItemCreated", ws, Some(board)));
        assert!(!some.matches("ItemCreated", ws, Some(other)));
        assert!(!some.matches("ItemDeleted", ws, Some(board)));
        assert!(!some.matches("ItemCreated", ws, None), "board-scoped hooks skip workspace events");
    }
}
