"""Full-text search (issue #9): extensions, `immutable_unaccent(text)` and the search indexes.

PostgreSQL only: on SQLite (`make run`'s embedded default) every step below is a no-op and search
falls back to `icontains` (inbox/search.py). The indexes are expression indexes created with raw
SQL, so they are not part of the model state; their expressions must stay exactly what
`inbox/search.py` writes in its queries, or the planner stops using them.

* `unaccent` folds diacritics ("żółty" → "zolty"); it is STABLE (it reads a dictionary found by
  name), so indexes use `immutable_unaccent(text)`, a wrapper that names the dictionary with its
  schema and is declared IMMUTABLE.
* `pg_trgm` (substring and similarity over trigrams) and `btree_gin` (an `organization_id` column
  inside a GIN index, so one index scan is already scoped to the organization) — all three are
  trusted extensions (PostgreSQL 13+): the database owner may create them without superuser.

Indexes are built CONCURRENTLY (the migration is not atomic): on a live table they do not block
writes. Each is scoped by organization first.
"""

from django.contrib.postgres.operations import BtreeGinExtension, TrigramExtension, UnaccentExtension
from django.db import migrations, models

# name, table, columns (organization first).
SEARCH_INDEXES = (
    # Message text, by words: to_tsvector('simple', ...) keeps every word as written (no stemming,
    # Polish has no built-in configuration), prefix queries ('zwrot':*) cover inflection.
    (
        "msg_search_fts_idx",
        "inbox_message",
        "organization_id, to_tsvector('simple'::regconfig, immutable_unaccent(text))",
    ),
    # Message text, substrings (order numbers, codes, parts of words).
    ("msg_search_trgm_idx", "inbox_message", "organization_id, immutable_unaccent(lower(text)) gin_trgm_ops"),
    # Conversation fields: subject, order id, buyer login.
    (
        "conv_search_trgm_idx",
        "inbox_conversation",
        "organization_id, immutable_unaccent(lower(subject || ' ' || order_id || ' ' || "
        "coalesce(details ->> 'buyer_login', ''))) gin_trgm_ops",
    ),
    # Buyers: names, logins and e-mail addresses.
    (
        "contact_search_trgm_idx",
        "inbox_contact",
        "organization_id, immutable_unaccent(lower(display_name)) gin_trgm_ops",
    ),
    (
        "contactidentity_search_trgm_idx",
        "inbox_contactidentity",
        "organization_id, immutable_unaccent(lower(value)) gin_trgm_ops",
    ),
)


def _postgresql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class PostgresOnly:
    """django.contrib.postgres' CreateExtension skips other databases going forwards but not
    backwards (it would query pg_extension on SQLite)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _postgresql(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Unaccent(PostgresOnly, UnaccentExtension):
    pass


class Trigram(PostgresOnly, TrigramExtension):
    pass


class BtreeGin(PostgresOnly, BtreeGinExtension):
    pass


def search_create(apps, schema_editor):
    if not _postgresql(schema_editor):
        return
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        )
        schema = quote(cursor.fetchone()[0])
    # The dictionary and the function named with their schema: the result can no longer depend on
    # search_path, which is what makes declaring it IMMUTABLE honest.
    schema_editor.execute(
        "CREATE OR REPLACE FUNCTION immutable_unaccent(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        f"RETURN {schema}.unaccent('{schema}.unaccent'::regdictionary, $1)"
    )
    for name, table, columns in SEARCH_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin ({columns})"
        )


def search_drop(apps, schema_editor):
    if not _postgresql(schema_editor):
        return
    for name, _table, _columns in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    schema_editor.execute("DROP FUNCTION IF EXISTS immutable_unaccent(text)")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("inbox", "0003_conversationevent_reply_undone"),
    ]

    operations = [
        Unaccent(),
        Trigram(),
        BtreeGin(),
        migrations.RunPython(search_create, search_drop, elidable=False),
        # Newest messages of an organization first: the plan for a common word walks this index
        # and stops after a page of hits instead of sorting every match.
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["organization", "-source_created_at"], name="msg_org_time_idx"),
        ),
    ]
