"""Turn forum state into the JSON shapes Discourse sends.

Boundary rule: plain Python over `data` objects; no Flask. Callers hold `ForumData.lock`.

Field lists follow the response schemas in Discourse's published OpenAPI document (see
docs/forum-standin.md). Where live Discourse sends a field only sometimes (a suspended
user's `suspended_till`, say) the stand-in does the same.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from .store import AUTO_GROUP_IDS, Category, ForumData, Group, Post, Topic, User, utcnow

LETTER_COLOURS = ["e9a23b", "8c91ba", "5f9b4a", "b77248", "46a9a0", "a87137", "7993a1", "d6c46f"]


def timestamp(moment: datetime | None) -> str | None:
    """Format a time as Discourse does: ISO 8601 in UTC with milliseconds and a Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _age(moment: datetime | None) -> float | None:
    return None if moment is None else (utcnow() - moment).total_seconds()


def avatar_template(user: User) -> str:
    """A letter avatar template like Discourse's, stable for each username."""
    colour = LETTER_COLOURS[int(hashlib.sha256(user.username.encode()).hexdigest(), 16) % len(LETTER_COLOURS)]
    return f"/letter_avatar_proxy/v4/letter/{user.username[0].lower()}/{colour}/{{size}}.png"


def basic_user(user: User) -> dict:
    """The small user object embedded in other answers."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar_template(user),
    }


# === groups ===


def _group_size(data: ForumData, name: str, group: Group | None) -> int:
    if group is None:
        return data.auto_group_size(name)
    return len(group.members)


def basic_group(data: ForumData, name: str, group: Group | None) -> dict:
    """BasicGroupSerializer: the group fields embedded in user answers and group lists."""
    automatic = group is None
    return {
        "id": AUTO_GROUP_IDS[name] if automatic else group.id,
        "automatic": automatic,
        "name": name,
        "display_name": name if automatic else (group.full_name or name),
        "user_count": _group_size(data, name, group),
        "mentionable_level": 0,
        "messageable_level": 0,
        "visibility_level": 1 if automatic else group.visibility_level,
        "primary_group": False,
        "title": None if automatic else group.title,
        "grant_trust_level": None,
        "incoming_email": None,
        "has_messages": False,
        "flair_url": None,
        "flair_bg_color": None,
        "flair_color": None,
        "bio_raw": None if automatic else group.bio,
        "bio_cooked": None if automatic or not group.bio else f"<p>{group.bio}</p>",
        "bio_excerpt": None if automatic else group.bio,
        "public_admission": False,
        "public_exit": False,
        "allow_membership_requests": False,
        "full_name": None if automatic else group.full_name,
        "default_notification_level": 3,
        "membership_request_template": None,
        "members_visibility_level": 0,
        "can_see_members": True,
        "can_admin_group": True,
        "publish_read_state": False,
    }


def user_groups(data: ForumData, user: User) -> list[tuple[str, Group | None]]:
    """The user's groups as (name, custom group or None for automatic), ordered by group id."""
    pairs = [(name, None) for name in data.auto_group_names(user)]
    pairs += [(g.name, g) for g in data.groups.values() if user.id in g.members]
    return sorted(pairs, key=lambda pair: AUTO_GROUP_IDS[pair[0]] if pair[1] is None else pair[1].id)


def group_list_entry(data: ForumData, name: str, group: Group | None, viewer: User) -> dict:
    """One entry of /groups.json."""
    ids = data.auto_group_user_ids(name) if group is None else list(group.members)
    owner = group is not None and viewer.id in group.members and group.members[viewer.id].owner
    return basic_group(data, name, group) | {
        "is_group_user": viewer.id in ids,
        "is_group_owner": owner,
        "can_edit_group": viewer.admin,
    }


def group_detail(data: ForumData, name: str, group: Group | None, viewer: User) -> dict:
    """The `group` object of /groups/{name}.json."""
    entry = group_list_entry(data, name, group, viewer)
    entry.pop("is_group_owner")
    entry.pop("display_name")
    return entry | {
        "is_group_owner_display": entry["can_edit_group"],
        "mentionable": True,
        "messageable": True,
        "automatic_membership_email_domains": None,
        "smtp_updated_at": None,
        "smtp_updated_by": None,
        "smtp_enabled": False,
        "smtp_server": None,
        "smtp_port": None,
        "smtp_ssl_mode": None,
        "email_username": None,
        "email_from_alias": None,
        "email_password": None,
        "message_count": 0,
        "allow_unknown_sender_topic_replies": False,
        "associated_group_ids": [],
        "watching_category_ids": [],
        "tracking_category_ids": [],
        "watching_first_post_category_ids": [],
        "regular_category_ids": [],
        "muted_category_ids": [],
        "watching_tags": [],
        "watching_first_post_tags": [],
        "tracking_tags": [],
        "regular_tags": [],
        "muted_tags": [],
    }


def group_member(user: User, added_at: datetime) -> dict:
    """One entry of `members` or `owners` in /groups/{name}/members.json."""
    return basic_user(user) | {
        "title": user.title,
        "last_posted_at": timestamp(user.last_posted_at),
        "last_seen_at": timestamp(user.last_seen_at),
        "added_at": timestamp(added_at),
        "timezone": user.timezone,
    }


# === users ===


def _counts(data: ForumData, user: User) -> tuple[int, int, int]:
    topics = [t for t in data.topics.values() if t.user_id == user.id and not t.private]
    private = [t for t in data.topics.values() if t.private and user.id in t.allowed_user_ids]
    posts = [p for p in data.posts.values() if p.user_id == user.id and not data.topics[p.topic_id].private]
    return len(posts), len(topics), len(private)


def _featured_topic(data: ForumData, user: User) -> dict:
    # Discourse sends null when a member has featured nothing, but the published schema
    # requires an object; the stand-in features the member's latest topic, else the welcome topic.
    own = [t for t in data.topics.values() if t.user_id == user.id and not t.private]
    topic = own[-1] if own else data.topics.get(data.welcome_topic_id or 0)
    if topic is None:
        topic = next((t for t in data.topics.values() if not t.private), None)
    if topic is None:
        return {"id": 0, "title": "", "fancy_title": "", "slug": "", "posts_count": 0}
    return {
        "id": topic.id,
        "title": topic.title,
        "fancy_title": topic.title,
        "slug": topic.slug,
        "posts_count": len(topic.post_ids),
    }


def _user_option(user: User) -> dict:
    return {
        "user_id": user.id,
        "mailing_list_mode": False,
        "mailing_list_mode_frequency": 1,
        "email_digests": True,
        "email_level": 1,
        "email_messages_level": 0,
        "external_links_in_new_tab": False,
        "bookmark_auto_delete_preference": 3,
        "color_scheme_id": None,
        "dark_scheme_id": None,
        "dynamic_favicon": False,
        "enable_quoting": True,
        "enable_smart_lists": True,
        "enable_markdown_monospace_font": False,
        "digest_after_minutes": 10080,
        "automatically_unpin_topics": True,
        "auto_track_topics_after_msecs": 240000,
        "notification_level_when_replying": 2,
        "new_topic_duration_minutes": 2880,
        "email_previous_replies": 2,
        "email_in_reply_to": False,
        "like_notification_frequency": 1,
        "notify_on_linked_posts": True,
        "push_notification_level": "all",
        "enable_upcoming_change_available_notifications": False,
        "include_tl0_in_digests": False,
        "theme_ids": [],
        "theme_key_seq": 0,
        "allow_private_messages": True,
        "enable_allowed_pm_users": False,
        "homepage_id": None,
        "hide_profile_and_presence": False,
        "hide_profile": False,
        "hide_presence": False,
        "text_size": "normal",
        "text_size_seq": 0,
        "title_count_mode": "notifications",
        "timezone": user.timezone,
        "skip_new_user_tips": False,
        "default_calendar": "none_selected",
        "oldest_search_log_date": None,
        "sidebar_link_to_filtered_list": False,
        "sidebar_show_count_of_new_items": False,
        "watched_precedence_over_muted": False,
        "seen_popups": None,
        "topics_unread_when_closed": True,
        "composition_mode": 1,
        "interface_color_mode": 1,
        "automatically_translate": False,
        "understood_languages": ["en"],
        "show_original_content": False,
        "send_shortcut": "enter",
    }


def user_profile(data: ForumData, user: User, viewer: User) -> dict:
    """The body of /u/{username}.json: `{"user_badges": [], "user": {...}}`."""
    post_count, topic_count, _ = _counts(data, user)
    groups = user_groups(data, user)
    schedule = {"enabled": False} | {
        f"day_{d}_{edge}_time": (480 if edge == "start" else 1020)
        for d in range(7)
        for edge in ("start", "end")
    }
    body = {
        "id": user.id,
        "username": user.username,
        "name": user.name or "",
        "avatar_template": avatar_template(user),
        "last_posted_at": timestamp(user.last_posted_at),
        "last_seen_at": timestamp(user.last_seen_at),
        "created_at": timestamp(user.created_at),
        "ignored": False,
        "muted": False,
        "can_ignore_user": False,
        "can_ignore_users": False,
        "can_mute_user": False,
        "can_mute_users": False,
        "can_send_private_messages": True,
        "can_send_private_message_to_user": user.id != viewer.id,
        "trust_level": user.trust_level,
        "moderator": user.moderator,
        "admin": user.admin,
        "title": user.title,
        "badge_count": 0,
        "custom_fields": {},
        "time_read": user.time_read,
        "recent_time_read": 0,
        "primary_group_id": None,
        "primary_group_name": None,
        "flair_group_id": None,
        "flair_name": None,
        "flair_url": None,
        "flair_bg_color": None,
        "flair_color": None,
        "featured_topic": _featured_topic(data, user),
        "staged": user.staged,
        "can_edit": viewer.admin or viewer.id == user.id,
        "can_edit_username": viewer.admin,
        "can_edit_email": viewer.admin,
        "can_edit_name": viewer.admin or viewer.id == user.id,
        "uploaded_avatar_id": None,
        "has_title_badges": False,
        "pending_count": 0,
        "pending_posts_count": 0,
        "profile_view_count": 0,
        "second_factor_enabled": False,
        "can_upload_profile_header": True,
        "can_upload_user_card_background": True,
        "post_count": post_count,
        "topic_count": topic_count,
        "can_be_deleted": viewer.admin and user.human and post_count == 0,
        "can_delete_all_posts": viewer.admin and user.human,
        "locale": user.locale,
        "muted_category_ids": [],
        "regular_category_ids": [],
        "watched_tags": [],
        "watching_first_post_tags": [],
        "tracked_tags": [],
        "muted_tags": [],
        "tracked_category_ids": [],
        "watched_category_ids": [],
        "watched_first_post_category_ids": [],
        "system_avatar_upload_id": None,
        "system_avatar_template": avatar_template(user),
        "muted_usernames": [],
        "ignored_usernames": [],
        "allowed_pm_usernames": [],
        "mailing_list_posts_per_day": 0,
        "can_change_bio": True,
        "can_change_location": True,
        "can_change_website": True,
        "can_change_tracking_preferences": True,
        "user_api_keys": None,
        "user_passkeys": [],
        "sidebar_tags": [],
        "sidebar_category_ids": [],
        "display_sidebar_tags": False,
        "can_pick_theme_with_custom_homepage": False,
        "user_auth_tokens": [],
        "user_notification_schedule": schedule,
        "use_logo_small_as_avatar": False,
        "featured_user_badge_ids": [],
        "invited_by": None,
        "groups": [basic_group(data, name, group) for name, group in groups],
        "group_users": [
            {
                "group_id": group.id,
                "user_id": user.id,
                "notification_level": 3,
                "owner": group.members[user.id].owner,
            }
            for _, group in groups
            if group is not None
        ],
        "user_option": _user_option(user),
    }
    if user.suspended:
        # UserCardSerializer adds these only for a suspended user.
        body["suspended_till"] = timestamp(user.suspended_till)
        body["suspend_reason"] = user.suspend_reason
    return {"user_badges": [], "user": body}


def admin_list_user(data: ForumData, user: User, *, show_emails: bool = False) -> dict:
    """One entry of /admin/users/list/{flag}.json (AdminUserListSerializer)."""
    post_count, topic_count, _ = _counts(data, user)
    body = {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar_template(user),
        "active": user.active,
        "admin": user.admin,
        "moderator": user.moderator,
        "last_seen_at": timestamp(user.last_seen_at),
        "last_emailed_at": None,
        "created_at": timestamp(user.created_at),
        "last_seen_age": _age(user.last_seen_at),
        "last_emailed_age": None,
        "created_at_age": _age(user.created_at),
        "trust_level": user.trust_level,
        "manual_locked_trust_level": None,
        "title": user.title,
        "time_read": user.time_read,
        "staged": user.staged,
        "days_visited": user.days_visited,
        "posts_read_count": user.posts_read_count,
        "topics_entered": topic_count,
        "post_count": post_count,
    }
    if show_emails:
        body["email"] = user.email
        body["secondary_emails"] = []
    if user.suspended:
        body["suspended_at"] = timestamp(user.suspended_at)
        body["suspended_till"] = timestamp(user.suspended_till)
    if user.silenced:
        body["silenced"] = True
        body["silenced_till"] = timestamp(user.silenced_till)
    return body


def admin_user(data: ForumData, user: User, viewer: User) -> dict:
    """The body of /admin/users/{id}.json (AdminDetailedUserSerializer)."""
    post_count, topic_count, private_count = _counts(data, user)
    body = admin_list_user(data, user)
    body.update(
        {
            "can_send_activation_email": not user.active,
            "can_activate": not user.active,
            "can_deactivate": user.active and user.human,
            "ip_address": "127.0.0.1",
            "registration_ip_address": None if not user.human else "127.0.0.1",
            "can_grant_admin": viewer.admin and not user.admin,
            "can_revoke_admin": viewer.admin and user.admin and user.id != viewer.id,
            "can_grant_moderation": viewer.admin and not user.moderator,
            "can_revoke_moderation": viewer.admin and user.moderator,
            "can_impersonate": viewer.admin and not user.admin,
            "like_count": 0,
            "like_given_count": 0,
            "topic_count": topic_count,
            "flags_given_count": 0,
            "flags_received_count": 0,
            "private_topics_count": private_count,
            "can_delete_all_posts": viewer.admin and user.human,
            "can_be_deleted": viewer.admin and user.human and post_count == 0,
            "can_be_anonymized": viewer.admin and user.human and not user.staff,
            "can_be_merged": viewer.admin and user.human,
            "full_suspend_reason": user.suspend_reason if user.suspended else None,
            "latest_export": None,
            "full_silence_reason": user.silence_reason if user.silenced else None,
            "silence_reason": user.silence_reason if user.silenced else None,
            "post_edits_count": 0,
            "primary_group_id": None,
            "badge_count": 0,
            "warnings_received_count": 0,
            "bounce_score": 0,
            "reset_bounce_score_after": None,
            "can_view_action_logs": viewer.admin,
            "can_disable_second_factor": viewer.admin,
            "can_delete_sso_record": viewer.admin,
            "api_key_count": 0,
            "similar_users_count": 0,
            # This forum is the identity provider, not a DiscourseConnect consumer, so no record.
            "single_sign_on_record": None,
            "approved_by": None,
            # Live Discourse embeds the acting staff member here; the published schema types
            # these as string-or-null, so the stand-in sends null.
            "suspended_by": None,
            "silenced_by": None,
            "penalty_counts": {"silenced": int(user.silenced), "suspended": int(user.suspended)},
            "next_penalty": timestamp(utcnow()),
            "groups": [
                basic_group(data, name, group) | {"flair_group_id": None}
                for name, group in user_groups(data, user)
            ],
            "external_ids": {},
            "include_ip": True,
        }
    )
    return body


# === categories, topics and posts ===


def category(data: ForumData, cat: Category) -> dict:
    """One entry of /categories.json."""
    topics = [t for t in data.topics.values() if t.category_id == cat.id]
    posts = sum(len(t.post_ids) for t in topics)
    return {
        "id": cat.id,
        "name": cat.name,
        "color": cat.color,
        "text_color": cat.text_color,
        "style_type": "square",
        "emoji": None,
        "icon": None,
        "slug": cat.slug,
        "topic_count": len(topics),
        "post_count": posts,
        "position": cat.position,
        "description": cat.description,
        "description_text": cat.description,
        "description_excerpt": cat.description,
        "topic_url": None,
        "read_restricted": cat.read_restricted,
        "permission": 1,
        "notification_level": 1,
        "can_edit": True,
        "topic_template": None,
        "topic_title_placeholder": None,
        "has_children": False,
        "subcategory_count": None,
        "sort_order": None,
        "sort_ascending": None,
        "show_subcategory_list": False,
        "num_featured_topics": 3,
        "default_view": None,
        "subcategory_list_style": "rows_with_featured_topics",
        "default_top_period": "all",
        "default_list_filter": "all",
        "minimum_required_tags": 0,
        "navigate_to_first_post_after_read": False,
        "topics_day": 0,
        "topics_week": 0,
        "topics_month": 0,
        "topics_year": 0,
        "topics_all_time": len(topics),
        "is_uncategorized": cat.id == 1,
        "subcategory_ids": [],
        "subcategory_list": [],
        "uploaded_logo": None,
        "uploaded_logo_dark": None,
        "uploaded_background": None,
        "uploaded_background_dark": None,
    }


def post(data: ForumData, p: Post, viewer: User, *, with_raw: bool = True) -> dict:
    """A post as /posts.json (create) and /posts/{id}.json answer it."""
    author = data.users[p.user_id]
    topic = data.topics[p.topic_id]
    body = basic_user(author) | {
        "id": p.id,
        "created_at": timestamp(p.created_at),
        "cooked": p.cooked,
        "post_number": p.post_number,
        "post_type": 1,
        "posts_count": len(topic.post_ids),
        "updated_at": timestamp(p.created_at),
        "reply_count": sum(
            1 for pid in topic.post_ids if data.posts[pid].reply_to_post_number == p.post_number
        ),
        "reply_to_post_number": p.reply_to_post_number,
        "quote_count": 0,
        "incoming_link_count": 0,
        "reads": 1,
        "readers_count": 0,
        "score": 0,
        "yours": author.id == viewer.id,
        "topic_id": topic.id,
        "topic_slug": topic.slug,
        "display_username": author.name,
        "primary_group_name": None,
        "flair_name": None,
        "flair_url": None,
        "flair_bg_color": None,
        "flair_color": None,
        "flair_group_id": None,
        "badges_granted": [],
        "version": 1,
        "can_edit": viewer.staff or author.id == viewer.id,
        "can_delete": viewer.staff,
        "can_recover": viewer.staff,
        "can_see_hidden_post": viewer.staff,
        "can_wiki": viewer.staff,
        "user_title": author.title,
        "bookmarked": False,
        "actions_summary": [],
        "moderator": author.moderator,
        "admin": author.admin,
        "staff": author.staff,
        "user_id": author.id,
        "draft_sequence": 0,
        "hidden": False,
        "trust_level": author.trust_level,
        "deleted_at": None,
        "user_deleted": False,
        "edit_reason": None,
        "can_view_edit_history": True,
        "wiki": False,
        "reviewable_id": None,
        "reviewable_score_count": 0,
        "reviewable_score_pending_count": 0,
        "post_url": f"/t/{topic.slug}/{topic.id}/{p.post_number}",
        "mentioned_users": [],
    }
    if with_raw:
        body["raw"] = p.raw
    return body


def topic(data: ForumData, t: Topic, viewer: User) -> dict:
    """The body of /t/{id}.json, with every post in the post stream."""
    posts = [data.posts[pid] for pid in t.post_ids]
    participants = {p.user_id for p in posts}
    return {
        "post_stream": {
            "posts": [post(data, p, viewer, with_raw=False) for p in posts],
            "stream": list(t.post_ids),
        },
        "timeline_lookup": [],
        "suggested_topics": [],
        "tags": [],
        "tags_descriptions": {},
        "id": t.id,
        "title": t.title,
        "fancy_title": t.title,
        "posts_count": len(posts),
        "created_at": timestamp(t.created_at),
        "views": 0,
        "reply_count": max(0, len(posts) - 1),
        "like_count": 0,
        "last_posted_at": timestamp(posts[-1].created_at) if posts else None,
        "visible": True,
        "closed": False,
        "archived": False,
        "has_summary": False,
        "archetype": t.archetype,
        "slug": t.slug,
        "category_id": t.category_id,
        "word_count": sum(len(p.raw.split()) for p in posts),
        "deleted_at": None,
        "user_id": t.user_id,
        "pinned": t.pinned,
        "pinned_globally": False,
        "allowed_users": [basic_user(data.users[i]) for i in t.allowed_user_ids] if t.private else [],
        "details": {
            "created_by": basic_user(data.users[t.user_id]),
            "last_poster": basic_user(data.users[posts[-1].user_id]) if posts else None,
            "participants": [basic_user(data.users[i]) for i in sorted(participants)],
            "can_create_post": True,
            "can_reply_as_new_topic": True,
        },
    }
