//! The one schema of both backends. Column types from
//! [`crate::sql_types`] are native on PostgreSQL and text on SQLite.

#![allow(missing_docs)]

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    models (id) {
        id -> DbUuid,
        provider -> Text,
        provider_model_id -> Text,
        display_name -> Nullable<Text>,
        pricing_kind -> Text,
        status -> Text,
        source -> Text,
        context_length -> Nullable<BigInt>,
        first_seen_at -> DbTimestamp,
        updated_at -> DbTimestamp,
        removed_at -> Nullable<DbTimestamp>,
        last_sync_id -> Nullable<DbUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbDecimal, DbTimestamp, DbUuid};

    model_prices (model_id, meter, min_prompt_tokens, utc_window) {
        model_id -> DbUuid,
        meter -> Text,
        min_prompt_tokens -> BigInt,
        utc_window -> Text,
        usd_per_unit -> DbDecimal,
        updated_at -> DbTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbDecimal, DbTimestamp, DbUuid};

    model_pricing_history (id) {
        id -> BigInt,
        model_id -> DbUuid,
        meter -> Text,
        min_prompt_tokens -> BigInt,
        utc_window -> Text,
        change -> Text,
        old_usd_per_unit -> Nullable<DbDecimal>,
        new_usd_per_unit -> Nullable<DbDecimal>,
        sync_id -> Nullable<DbUuid>,
        changed_at -> DbTimestamp,
        approved_by -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    model_status_history (id) {
        id -> BigInt,
        model_id -> DbUuid,
        change -> Text,
        pricing_kind -> Text,
        sync_id -> Nullable<DbUuid>,
        changed_at -> DbTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbTimestamp;

    pricing_catalogue_version (id) {
        id -> Integer,
        version -> BigInt,
        changed_at -> DbTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    pricing_sync_jobs (id) {
        id -> DbUuid,
        state -> Text,
        providers -> Text,
        dry_run -> Bool,
        triggered_by -> Text,
        attempt -> Integer,
        max_attempts -> Integer,
        worker -> Nullable<Text>,
        cancel_requested -> Bool,
        created_at -> DbTimestamp,
        started_at -> Nullable<DbTimestamp>,
        heartbeat_at -> Nullable<DbTimestamp>,
        finished_at -> Nullable<DbTimestamp>,
        providers_total -> Integer,
        providers_done -> Integer,
        models_processed -> BigInt,
        error -> Nullable<Text>,
        schedule_name -> Nullable<Text>,
        schedule_slot -> Nullable<DbTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    pricing_sync_active_providers (provider) {
        provider -> Text,
        job_id -> DbUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    pricing_sync_log (id) {
        id -> DbUuid,
        job_id -> DbUuid,
        provider -> Text,
        status -> Text,
        models_fetched -> Integer,
        models_added -> Integer,
        models_updated -> Integer,
        models_unchanged -> Integer,
        models_skipped -> Integer,
        models_removed -> Integer,
        errors -> Integer,
        removals_suppressed -> Bool,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
        started_at -> DbTimestamp,
        finished_at -> DbTimestamp,
        changes_held -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    pricing_sync_skipped (job_id, provider, seq) {
        job_id -> DbUuid,
        provider -> Text,
        seq -> Integer,
        provider_model_id -> Text,
        reason -> Text,
        detail -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbDecimal, DbUuid};

    pricing_sync_planned_changes (job_id, provider, seq) {
        job_id -> DbUuid,
        provider -> Text,
        seq -> Integer,
        provider_model_id -> Text,
        model_change -> Text,
        meter -> Nullable<Text>,
        min_prompt_tokens -> Nullable<BigInt>,
        utc_window -> Nullable<Text>,
        component_change -> Nullable<Text>,
        old_usd_per_unit -> Nullable<DbDecimal>,
        new_usd_per_unit -> Nullable<DbDecimal>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbDecimal, DbTimestamp, DbUuid};

    held_price_changes (id) {
        id -> DbUuid,
        model_id -> DbUuid,
        meter -> Text,
        min_prompt_tokens -> BigInt,
        utc_window -> Text,
        old_usd_per_unit -> DbDecimal,
        new_usd_per_unit -> DbDecimal,
        status -> Text,
        sync_id -> Nullable<DbUuid>,
        held_at -> DbTimestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<DbTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbTimestamp;

    pricing_sync_lock (key) {
        key -> Text,
        owner -> Text,
        holder -> Text,
        fence -> BigInt,
        acquired_at -> DbTimestamp,
        renewed_at -> DbTimestamp,
        expires_at -> DbTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    pricing_sync_schedules (name) {
        name -> Text,
        providers -> Text,
        interval_seconds -> BigInt,
        enabled -> Bool,
        next_run_at -> DbTimestamp,
        last_slot_at -> Nullable<DbTimestamp>,
        last_job_id -> Nullable<DbUuid>,
        consecutive_failures -> Integer,
        version -> BigInt,
        updated_at -> DbTimestamp,
        cron_expression -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    webhook_endpoints (id) {
        id -> DbUuid,
        url -> Text,
        secret -> Text,
        events -> Text,
        description -> Text,
        enabled -> Bool,
        created_by -> Text,
        created_at -> DbTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbTimestamp, DbUuid};

    webhook_deliveries (id) {
        id -> DbUuid,
        endpoint_id -> DbUuid,
        event_id -> DbUuid,
        event_type -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> DbTimestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<DbTimestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> DbTimestamp,
        finished_at -> Nullable<DbTimestamp>,
    }
}

diesel::joinable!(model_prices -> models (model_id));
diesel::joinable!(model_pricing_history -> models (model_id));
diesel::joinable!(model_status_history -> models (model_id));
diesel::joinable!(pricing_sync_log -> pricing_sync_jobs (job_id));
diesel::joinable!(pricing_sync_active_providers -> pricing_sync_jobs (job_id));
diesel::joinable!(pricing_sync_skipped -> pricing_sync_jobs (job_id));
diesel::joinable!(pricing_sync_planned_changes -> pricing_sync_jobs (job_id));
diesel::joinable!(held_price_changes -> models (model_id));

diesel::allow_tables_to_appear_in_same_query!(
    models,
    model_prices,
    model_pricing_history,
    model_status_history,
    pricing_catalogue_version,
    pricing_sync_jobs,
    pricing_sync_active_providers,
    pricing_sync_log,
    pricing_sync_lock,
    pricing_sync_schedules,
    pricing_sync_skipped,
    pricing_sync_planned_changes,
    held_price_changes,
    webhook_endpoints,
    webhook_deliveries,
);
